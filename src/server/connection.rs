//! One WebSocket connection's task: it reads frames into the switchboard and writes what the
//! switchboard queued for it, until the connection ends.
//!
//! It is a state machine written by hand rather than an `async fn` because it is what every
//! open connection holds while it waits, and a server holds thousands of mostly idle ones: the
//! compiler's state machine for the same loop (a `select!`, a `timeout`, nested write futures,
//! the socket copied into each) was more than twice the size. Waiting costs the socket and a
//! few pointers: no timer (the switchboard pings every connection from one sweep, and a write
//! deadline exists only while a write is stuck), no buffer of outbound messages (the outbox
//! hands over whole batches, encoded into one buffer that lives as long as its write) and no
//! read buffer (a read goes to the stack; only a frame it cut in two is kept, see
//! [`super::frames`]).

use std::{
    collections::VecDeque,
    future::Future,
    mem::MaybeUninit,
    ops::ControlFlow,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{sleep, Sleep},
};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::{
    cluster::Placement,
    frames::{self, FrameError, FrameReader, Inbound},
    limits::{MessageBudget, Verdict},
    outbox::{Abandoned, Frame, Outbox},
    serving::Open,
    SignallingService,
};
use crate::signalling::{
    ClientMessage, CloseCode, ConnectionId, Departure, JoinQuery, ProtocolError, ServerMessage,
};

/// The most read from the socket at once: a burst of candidates and an offer or two, in one
/// system call. It is on the stack only for the duration of a read.
const READ_CHUNK_BYTES: usize = 16 * 1024;

pub struct Connection<Io> {
    io: Io,
    /// A frame or message half-received, if a read ended inside one; on the heap then only,
    /// so that the task of a connection between messages is small.
    frames: Option<Box<FrameReader>>,
    service: Arc<SignallingService>,
    outbox: Arc<Outbox>,
    id: ConnectionId,
    phase: Phase,
    /// Armed while a write waits for the client to read: a client that takes a whole ping
    /// interval to accept one is not reading.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Whether the switchboard has been told that the connection ended.
    reported: bool,
    /// Counts this WebSocket among the open connections until the task is dropped.
    _open: Open,
    /// Checked before a message is decoded or reaches the switchboard's lock.
    budget: MessageBudget,
    /// Closed for flooding: its member leaves rather than keeping its seat.
    abusive: bool,
}

enum Phase {
    /// Reading frames and waiting for something to send.
    Open,
    /// Writing a batch's frames, encoded, then going on as `then` says.
    Writing {
        bytes: Vec<u8>,
        /// A batch is at most the outbox's 1 MiB of payloads and 1024 messages.
        written: u32,
        then: Then,
    },
    /// Our close frame is written: shutting the connection down, then `Ended`.
    ShuttingDown(Departure),
    Ended(Departure),
}

/// What follows a write.
#[derive(Clone, Copy)]
enum Then {
    Read,
    /// The write ended with a close frame.
    Close(Departure),
}

impl Phase {
    /// We close the connection, telling the client why; its member may come back.
    fn closing(code: CloseCode) -> Self {
        Phase::writing(close_frame(code), Then::Close(Departure::Lost))
    }

    fn writing(bytes: Vec<u8>, then: Then) -> Self {
        Phase::Writing {
            bytes,
            written: 0,
            then,
        }
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Connection<Io> {
    /// Registers the connection with the switchboard (which queues its `welcome` and `info`,
    /// or its refusal) and returns the task that serves it. `sent_early` is what the client
    /// sent after its request and the HTTP server read with it.
    pub fn start(
        io: Io,
        sent_early: &[u8],
        service: Arc<SignallingService>,
        query: &JoinQuery,
        placement: Placement,
    ) -> Self {
        let outbox = Arc::new(Outbox::default());
        let id = service
            .switchboard
            .connect(Arc::clone(&outbox), query, placement);
        let open = service.websockets.open();
        let mut connection = Self {
            _open: open,
            budget: MessageBudget::default(),
            abusive: false,
            io,
            frames: None,
            service,
            outbox,
            id,
            phase: Phase::Open,
            deadline: None,
            reported: false,
        };
        if !sent_early.is_empty() {
            connection.phase = connection
                .take_in(&mut sent_early.to_vec())
                .unwrap_or(Phase::Open);
        }
        connection
    }

    fn drive(&mut self, context: &mut Context<'_>) -> Poll<Departure> {
        loop {
            let next = match &mut self.phase {
                Phase::Open => {
                    // A write that finished clears the deadline it may have armed.
                    self.deadline = None;
                    ready!(self.poll_open(context))
                }
                Phase::Writing {
                    bytes,
                    written,
                    then,
                } => match poll_write_all(&mut self.io, bytes, written, context) {
                    Poll::Ready(Ok(())) => match *then {
                        Then::Read => Phase::Open,
                        Then::Close(departure) => Phase::ShuttingDown(departure),
                    },
                    Poll::Ready(Err(_)) => Phase::Ended(Departure::Lost),
                    Poll::Pending => ready!(self.poll_stuck(context)),
                },
                Phase::ShuttingDown(departure) => {
                    let departure = *departure;
                    match Pin::new(&mut self.io).poll_shutdown(context) {
                        Poll::Ready(_) => Phase::Ended(departure),
                        Poll::Pending => ready!(self.poll_stuck(context)),
                    }
                }
                Phase::Ended(departure) => return Poll::Ready(*departure),
            };
            self.phase = next;
        }
    }

    /// Reads every frame there is, then takes what is queued. Ready with the next phase.
    fn poll_open(&mut self, context: &mut Context<'_>) -> Poll<Phase> {
        // tokio's cooperative budget makes the socket return Pending after a while, so a
        // flooding client cannot keep this loop, or its worker thread, to itself.
        // A client closed for abuse is not read any more: what is queued, its reason last,
        // is written and the connection closed.
        while !self.abusive {
            // On the stack for the duration of one read: what an idle connection keeps of it
            // is nothing, and of a frame cut by the read's end, that frame only.
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK_BYTES];
            let mut buf = ReadBuf::uninit(&mut chunk);
            match Pin::new(&mut self.io).poll_read(context, &mut buf) {
                Poll::Pending => break,
                Poll::Ready(Err(_)) => return Poll::Ready(Phase::Ended(Departure::Lost)),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                    return Poll::Ready(Phase::Ended(Departure::Lost))
                }
                Poll::Ready(Ok(())) => {}
            }
            self.outbox.heard();
            if let Some(next) = self.take_in(buf.filled_mut()) {
                return Poll::Ready(next);
            }
        }
        Poll::Ready(match ready!(self.outbox.poll_batch(context)) {
            Ok(batch) => encode_batch(batch),
            // A client too slow to read is told why; a silent one is not listening.
            Err(Abandoned::TooSlow) => Phase::closing(CloseCode::POLICY),
            Err(Abandoned::Silent) => Phase::Ended(Departure::Lost),
        })
    }

    /// Hands every message in `bytes` to the switchboard, and answers what calls for it.
    /// `Some` with the next phase when the connection is to end.
    fn take_in(&mut self, bytes: &mut [u8]) -> Option<Phase> {
        let mut ending = None;
        let mut frames = self
            .frames
            .take()
            .map_or_else(FrameReader::default, |frames| *frames);
        let Self {
            service,
            outbox,
            id,
            budget,
            abusive,
            ..
        } = self;
        let now = outbox.age();
        let read = frames.feed(bytes, service.max_message_bytes, &mut |inbound| {
            let text = match inbound {
                Inbound::Text(text) => Ok(text),
                Inbound::Binary => Err(ProtocolError::BadMessage(
                    "binary frames are not part of the protocol".into(),
                )),
                Inbound::Ping(payload) => {
                    // Pings count against the budget too: a flood of them would otherwise
                    // fill the outbox with pongs. One over the budget goes unanswered.
                    if budget.take(service.rate, now) == Verdict::Allowed {
                        // A full outbox means a client that does not read: it is dropped anyway.
                        let _ = outbox.push(Frame::Pong(payload.into()));
                    }
                    return ControlFlow::Continue(());
                }
                Inbound::Pong => return ControlFlow::Continue(()),
                Inbound::Close(code) => {
                    let answer = frames::close_answer(code);
                    ending = Some(Phase::writing(answer, Then::Close(departure_of(code))));
                    return ControlFlow::Break(());
                }
            };
            // The budget first: a message over it is not even decoded.
            let refusal = match budget.take(service.rate, now) {
                Verdict::Allowed => match text.and_then(ClientMessage::decode) {
                    Ok(message) => {
                        service.switchboard.message(*id, message);
                        return ControlFlow::Continue(());
                    }
                    Err(error) => error,
                },
                Verdict::Dropped => ProtocolError::RateLimited,
                Verdict::Abusive => {
                    *abusive = true;
                    ProtocolError::RateLimited
                }
            };
            service.switchboard.refused(&refusal);
            // A full outbox means a client that does not read: the switchboard gives up on it
            // at its next message, so one refusal less changes nothing.
            let queued = outbox.push(Frame::Text(ServerMessage::error(&refusal)));
            if *abusive {
                // The close goes after the refusals already queued, so that each dropped
                // message has its answer; an outbox too full for them closes at once all the
                // same. Either way the member leaves (see `poll`).
                if queued.is_err() || outbox.push(Frame::Close(CloseCode::POLICY)).is_err() {
                    ending = Some(Phase::closing(CloseCode::POLICY));
                }
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        });
        if !frames.is_idle() {
            self.frames = Some(Box::new(frames));
        }
        match read {
            Ok(_) => ending,
            Err(FrameError::TooBig) => Some(Phase::closing(CloseCode::TOO_BIG)),
            Err(FrameError::Protocol(_)) => Some(Phase::Ended(Departure::Lost)),
        }
    }

    /// Pending while a write waits for the client to read and still has time. The connection
    /// is lost when the deadline passes, or at once if the switchboard gives up on it first
    /// (its outbox filled up meanwhile): no close frame, as the client is not reading.
    fn poll_stuck(&mut self, context: &mut Context<'_>) -> Poll<Phase> {
        if self.outbox.poll_abandoned(context).is_ready() {
            return Poll::Ready(Phase::Ended(Departure::Lost));
        }
        let patience = self.service.ping_interval;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(sleep(patience)));
        ready!(deadline.as_mut().poll(context));
        Poll::Ready(Phase::Ended(Departure::Lost))
    }
}

impl<Io> Connection<Io> {
    fn report(&mut self, departure: Departure) {
        if !self.reported {
            self.reported = true;
            self.service.switchboard.disconnect(self.id, departure);
        }
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Future for Connection<Io> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let departure = ready!(self.drive(context));
        // However the end came (a flooder that does not read either is stuck on a write), a
        // client closed for abuse leaves.
        let departure = if self.abusive {
            Departure::Left
        } else {
            departure
        };
        self.report(departure);
        Poll::Ready(())
    }
}

impl<Io> Drop for Connection<Io> {
    /// A task dropped before it finished (the runtime shutting down) still frees its seat.
    fn drop(&mut self) {
        self.report(Departure::Lost);
    }
}

/// A batch's frames as the bytes of one write, and what follows it: a close frame ends the
/// batch, and the connection.
fn encode_batch(batch: VecDeque<Frame>) -> Phase {
    let mut bytes = Vec::new();
    for frame in batch {
        match frame {
            Frame::Text(message) => frames::encode(
                &mut bytes,
                OpCode::Data(Data::Text),
                message.encode().as_bytes(),
            ),
            Frame::Ping => frames::encode(&mut bytes, OpCode::Control(Control::Ping), &[]),
            Frame::Pong(payload) => {
                frames::encode(&mut bytes, OpCode::Control(Control::Pong), &payload);
            }
            Frame::Close(code) => {
                bytes.extend(close_frame(code));
                return Phase::writing(bytes, Then::Close(Departure::Lost));
            }
        }
    }
    Phase::writing(bytes, Then::Read)
}

/// Writes what is left of `bytes` and flushes.
fn poll_write_all(
    io: &mut (impl AsyncWrite + Unpin),
    bytes: &[u8],
    written: &mut u32,
    context: &mut Context<'_>,
) -> Poll<std::io::Result<()>> {
    loop {
        let done = usize::try_from(*written).unwrap_or(usize::MAX);
        let Some(rest) = bytes.get(done..).filter(|rest| !rest.is_empty()) else {
            break;
        };
        let n = ready!(Pin::new(&mut *io).poll_write(context, rest))?;
        match u32::try_from(n) {
            Ok(n) if n > 0 => *written = written.saturating_add(n),
            _ => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
        }
    }
    Pin::new(io).poll_flush(context)
}

/// Our close frame, with the reason a person reading the client's log would want.
fn close_frame(code: CloseCode) -> Vec<u8> {
    let reason = match code {
        CloseCode::TOO_BIG => "message too big",
        CloseCode::SESSION_REPLACED => "session replaced",
        CloseCode::GOING_AWAY => "server restarting",
        _ => "policy violation",
    };
    frames::close_frame(Some(code.0), reason)
}

/// A client that closes with 1000 or 1001 (or without a code) is leaving, one that closes with
/// 4002 is unloading and may be reloading; any other code, or no close frame at all, is a drop
/// it may come back from.
fn departure_of(code: Option<u16>) -> Departure {
    match code.map(CloseCode) {
        None => Departure::Left,
        Some(code) if code.is_deliberate_leave() => Departure::Left,
        Some(CloseCode::UNLOADING) => Departure::Unloading,
        Some(_) => Departure::Lost,
    }
}
