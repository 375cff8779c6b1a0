//! A connection's queue of frames to send, and what the server knows of its liveness.
//!
//! The switchboard fills the queue under its lock, in the order the hub decided; the
//! connection's task takes everything queued at once and writes it as one batch. It is not a
//! channel because an idle connection should cost next to nothing: a bounded tokio channel
//! allocates a block of 32 slots up front (3 KiB with our messages), while this queue holds no
//! buffer at all until something is queued.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use crate::signalling::{CloseCode, ServerMessage};

/// Messages a connection may have waiting before it counts as too slow and is dropped. A
/// newcomer in a full room receives a few hundred messages in its first second.
pub const OUTBOX_CAPACITY: usize = 1024;

/// Bytes of relayed payloads a connection may have waiting, whatever their number: without it,
/// a room's members sending their largest messages to a member that reads slowly could make
/// the server hold 1024 × 64 KiB for it. A newcomer's first second in a full room is about
/// 100 KiB (an offer and a dozen candidates from each of eleven members).
pub const OUTBOX_BYTES: usize = 1024 * 1024;

/// A WebSocket frame a connection's task is asked to write.
#[derive(Debug)]
pub enum Frame {
    /// A text frame with a protocol message.
    Text(ServerMessage),
    /// A WebSocket Ping frame: the client's answer (or anything else it sends) shows it is alive.
    Ping,
    /// The answer to a client's Ping, with its payload.
    Pong(Box<[u8]>),
    /// Send a close frame with this code and end the connection.
    Close(CloseCode),
}

impl Frame {
    /// The bytes of relayed payload this holds (see [`ServerMessage::payload_len`]).
    fn payload_bytes(&self) -> usize {
        match self {
            Frame::Text(message) => message.payload_len(),
            _ => 0,
        }
    }
}

/// Why the server gave up on a connection without a close of its own choosing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abandoned {
    /// Its queue filled up: it reads slower than its room talks.
    TooSlow,
    /// It sent nothing, not even an answer to a ping, for two ping intervals.
    Silent,
}

/// What the connection's task takes from its outbox at once, in order.
pub type Batch = VecDeque<Frame>;

/// The queue was full; the message was not queued.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

pub struct Outbox {
    state: Mutex<State>,
    /// When the connection was accepted: `last_heard_ms` counts from here.
    opened: Instant,
    last_heard_ms: AtomicU64,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Frame>,
    /// [`Frame::payload_bytes`] of everything in `queue`.
    queued_bytes: usize,
    waker: Option<Waker>,
    abandoned: Option<Abandoned>,
}

impl State {
    /// Taking the buffer, not copying out of it, leaves an idle connection with none.
    fn take(&mut self) -> Batch {
        self.queued_bytes = 0;
        std::mem::take(&mut self.queue)
    }

    fn wake_later(&mut self, context: &Context<'_>) {
        match &mut self.waker {
            Some(waker) if waker.will_wake(context.waker()) => {}
            waker => *waker = Some(context.waker().clone()),
        }
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            opened: Instant::now(),
            last_heard_ms: AtomicU64::new(0),
        }
    }
}

impl Outbox {
    /// Queues one thing to send and wakes the connection's task.
    pub fn push(&self, frame: Frame) -> Result<(), Full> {
        let waker = {
            let mut state = self.lock();
            let bytes = frame.payload_bytes();
            if state.queue.len() >= OUTBOX_CAPACITY || state.queued_bytes + bytes > OUTBOX_BYTES {
                return Err(Full);
            }
            state.queued_bytes += bytes;
            state.queue.push_back(frame);
            state.waker.take()
        };
        // Woken outside the lock, so the task does not wake up only to wait for it.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Tells the connection's task to stop. Returns false if it had already been told.
    pub fn abandon(&self, why: Abandoned) -> bool {
        let waker = {
            let mut state = self.lock();
            if state.abandoned.is_some() {
                return false;
            }
            state.abandoned = Some(why);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Everything queued so far, once there is something; or why the connection was abandoned.
    /// Abandonment wins over what is still queued: nothing more is worth writing.
    pub fn poll_batch(&self, context: &mut Context<'_>) -> Poll<Result<Batch, Abandoned>> {
        let mut state = self.lock();
        if let Some(why) = state.abandoned {
            return Poll::Ready(Err(why));
        }
        if !state.queue.is_empty() {
            return Poll::Ready(Ok(state.take()));
        }
        state.wake_later(context);
        Poll::Pending
    }

    /// Ready once the connection is abandoned, whatever is queued: for a task stuck writing,
    /// which has nothing to take from the queue until its write goes through.
    pub fn poll_abandoned(&self, context: &mut Context<'_>) -> Poll<Abandoned> {
        let mut state = self.lock();
        match state.abandoned {
            Some(why) => Poll::Ready(why),
            None => {
                state.wake_later(context);
                Poll::Pending
            }
        }
    }

    /// Everything queued so far, without waiting (for benchmarks and tests).
    pub fn take_queued(&self) -> Batch {
        self.lock().take()
    }

    /// How long ago the connection was accepted: its clock.
    pub fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    /// Records that a frame arrived from the client.
    pub fn heard(&self) {
        let since_open = u64::try_from(self.age().as_millis()).unwrap_or(u64::MAX);
        self.last_heard_ms.store(since_open, Ordering::Relaxed);
    }

    /// How long the client has said nothing.
    pub fn silent_for(&self) -> Duration {
        let heard = Duration::from_millis(self.last_heard_ms.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(heard)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while this lock is held (queue operations and waker swaps); if
        // something did, the queue is still whole.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;
    use crate::signalling::{
        protocol::{Relayed, SdpType, SessionDescription},
        MemberId,
    };

    async fn next_batch(outbox: &Outbox) -> Result<Batch, Abandoned> {
        poll_fn(|context| outbox.poll_batch(context)).await
    }

    fn ping_count(batch: &Batch) -> usize {
        batch
            .iter()
            .filter(|frame| matches!(frame, Frame::Ping))
            .count()
    }

    #[tokio::test]
    async fn a_batch_is_everything_queued_in_order() {
        let outbox = Outbox::default();
        outbox.push(Frame::Ping).unwrap();
        outbox.push(Frame::Close(CloseCode::NORMAL)).unwrap();
        let batch = next_batch(&outbox).await.unwrap();
        assert_eq!(ping_count(&batch), 1);
        assert!(matches!(
            batch.back(),
            Some(Frame::Close(CloseCode::NORMAL))
        ));
        assert!(outbox.take_queued().is_empty());
    }

    #[tokio::test]
    async fn the_task_wakes_when_something_is_queued() {
        let outbox = std::sync::Arc::new(Outbox::default());
        let writer = tokio::spawn({
            let outbox = std::sync::Arc::clone(&outbox);
            async move { next_batch(&outbox).await.map(|batch| ping_count(&batch)) }
        });
        tokio::task::yield_now().await;
        outbox.push(Frame::Ping).unwrap();
        assert_eq!(writer.await.unwrap(), Ok(1));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_abandoning_wins_over_what_is_queued() {
        let outbox = Outbox::default();
        for _ in 0..OUTBOX_CAPACITY {
            outbox.push(Frame::Ping).unwrap();
        }
        assert_eq!(outbox.push(Frame::Ping), Err(Full));
        assert!(outbox.abandon(Abandoned::TooSlow));
        assert!(!outbox.abandon(Abandoned::Silent), "told once");
        assert_eq!(
            next_batch(&outbox).await.map(|batch| batch.len()),
            Err(Abandoned::TooSlow)
        );
    }

    #[test]
    fn large_payloads_fill_the_queue_before_its_count_does() {
        let offer = |size: usize| {
            Frame::Text(ServerMessage::Description {
                from: MemberId::new("a"),
                description: Relayed::new(&SessionDescription {
                    kind: SdpType::Offer,
                    sdp: "x".repeat(size),
                }),
            })
        };
        let outbox = Outbox::default();
        for _ in 0..15 {
            outbox.push(offer(64 * 1024)).unwrap();
        }
        assert_eq!(outbox.push(offer(64 * 1024)), Err(Full));
        outbox.push(Frame::Ping).unwrap();
        assert_eq!(outbox.take_queued().len(), 16);
        outbox.push(offer(64 * 1024)).unwrap();
    }

    #[tokio::test]
    async fn a_task_stuck_writing_hears_that_it_was_abandoned() {
        let outbox = std::sync::Arc::new(Outbox::default());
        let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stuck = tokio::spawn({
            let (outbox, polls) = (
                std::sync::Arc::clone(&outbox),
                std::sync::Arc::clone(&polls),
            );
            async move {
                poll_fn(|context| {
                    polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    outbox.poll_abandoned(context)
                })
                .await
            }
        });
        // On this single-threaded runtime a yield runs every task that is ready first.
        while polls.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        outbox.push(Frame::Ping).unwrap();
        // Had the push woken it with a verdict, it would finish during these turns.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert!(!stuck.is_finished(), "something to send is not abandonment");
        outbox.abandon(Abandoned::TooSlow);
        assert_eq!(stuck.await.unwrap(), Abandoned::TooSlow);
    }

    #[test]
    fn silence_is_counted_from_the_last_frame() {
        let outbox = Outbox::default();
        std::thread::sleep(Duration::from_millis(30));
        assert!(outbox.silent_for() >= Duration::from_millis(30));
        outbox.heard();
        assert!(outbox.silent_for() < Duration::from_millis(30));
    }
}
