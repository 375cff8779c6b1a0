//! One WebSocket connection's task: it reads frames into the switchboard and writes what the
//! switchboard queued for it, until the connection ends.
//!
//! It is a state machine written by hand rather than an `async fn` because it is what every
//! open connection holds while it waits, and a server holds thousands of mostly idle ones: the
//! compiler's state machine for the same loop (a `select!`, a `timeout`, nested write futures,
//! the socket copied into each) was more than twice the size. Waiting costs the socket and a
//! few pointers: no timer (the switchboard pings every connection from one sweep, and a write
//! deadline exists only while a write is stuck) and no buffer of outbound messages (the outbox
//! hands over whole batches).

use std::{
    collections::vec_deque,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::time::{sleep, Sleep};

use super::{
    limits::{MessageBudget, Verdict},
    outbox::{Abandoned, Frame, Outbox},
    serving::Open,
    SignallingService,
};
use crate::signalling::{
    ClientMessage, CloseCode, ConnectionId, Departure, JoinQuery, ProtocolError, ServerMessage,
};

pub struct Connection {
    socket: WebSocket,
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
    /// Writing a batch, then flushing it.
    Writing(vec_deque::IntoIter<Frame>),
    /// Sending our close frame, if there is one left to send, and flushing; then `departure`.
    Closing {
        frame: Option<Message>,
        departure: Departure,
    },
    Ended(Departure),
}

impl Phase {
    /// We close the connection, telling the client why; its member may come back.
    fn closing(code: CloseCode) -> Self {
        Phase::Closing {
            frame: Some(close_frame(code)),
            departure: Departure::Lost,
        }
    }
}

impl Connection {
    /// Registers the connection with the switchboard (which queues its `welcome` and `info`,
    /// or its refusal) and returns the task that serves it.
    pub fn start(socket: WebSocket, service: Arc<SignallingService>, query: &JoinQuery) -> Self {
        let outbox = Arc::new(Outbox::default());
        let id = service.switchboard.connect(Arc::clone(&outbox), query);
        let open = service.websockets.open();
        Self {
            _open: open,
            budget: MessageBudget::new(service.rate),
            abusive: false,
            socket,
            service,
            outbox,
            id,
            phase: Phase::Open,
            deadline: None,
            reported: false,
        }
    }

    fn drive(&mut self, context: &mut Context<'_>) -> Poll<Departure> {
        loop {
            let next = match &mut self.phase {
                Phase::Open => {
                    // A write that finished clears the deadline it may have armed.
                    self.deadline = None;
                    ready!(self.poll_open(context))
                }
                Phase::Writing(batch) => match poll_write(&mut self.socket, batch, context) {
                    Poll::Ready(Ok(None)) => Phase::Open,
                    Poll::Ready(Ok(Some(code))) => Phase::closing(code),
                    Poll::Ready(Err(_)) => Phase::Ended(Departure::Lost),
                    Poll::Pending => ready!(self.poll_stuck(context)),
                },
                Phase::Closing { frame, departure } => {
                    let departure = *departure;
                    match poll_close(&mut self.socket, frame, context) {
                        Poll::Ready(()) => Phase::Ended(departure),
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
            let Poll::Ready(frame) = self.socket.poll_next_unpin(context) else {
                break;
            };
            self.outbox.heard();
            let text = match frame {
                Some(Ok(Message::Text(text))) => Ok(text),
                Some(Ok(Message::Binary(_))) => Err(ProtocolError::BadMessage(
                    "binary frames are not part of the protocol".into(),
                )),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                // tungstenite has queued its reply; flushing it is all that is left to do.
                Some(Ok(Message::Close(frame))) => {
                    return Poll::Ready(Phase::Closing {
                        frame: None,
                        departure: departure_of(frame.as_ref()),
                    })
                }
                Some(Err(error)) if is_too_big(&error) => {
                    return Poll::Ready(Phase::closing(CloseCode::TOO_BIG))
                }
                Some(Err(_)) | None => return Poll::Ready(Phase::Ended(Departure::Lost)),
            };
            // The budget first: a message over it is not even decoded.
            let refusal = match self.budget.take() {
                Verdict::Allowed => {
                    match text.and_then(|text| ClientMessage::decode(text.as_str())) {
                        Ok(message) => {
                            self.service.switchboard.message(self.id, message);
                            continue;
                        }
                        Err(error) => error,
                    }
                }
                Verdict::Dropped => ProtocolError::RateLimited,
                Verdict::Abusive => {
                    self.abusive = true;
                    ProtocolError::RateLimited
                }
            };
            self.service.switchboard.refused(&refusal);
            // A full outbox means a client that does not read: the switchboard gives up on it
            // at its next message, so one refusal less changes nothing.
            let queued = self
                .outbox
                .push(Frame::Text(ServerMessage::error(&refusal)));
            if self.abusive {
                // The close goes after the refusals already queued, so that each dropped
                // message has its answer; an outbox too full for them closes at once all the
                // same. Either way the member leaves (see `poll`).
                if queued.is_err() || self.outbox.push(Frame::Close(CloseCode::POLICY)).is_err() {
                    return Poll::Ready(Phase::closing(CloseCode::POLICY));
                }
            }
        }
        Poll::Ready(match ready!(self.outbox.poll_batch(context)) {
            Ok(batch) => Phase::Writing(batch.into_iter()),
            // A client too slow to read is told why; a silent one is not listening.
            Err(Abandoned::TooSlow) => Phase::closing(CloseCode::POLICY),
            Err(Abandoned::Silent) => Phase::Ended(Departure::Lost),
        })
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

    fn report(&mut self, departure: Departure) {
        if !self.reported {
            self.reported = true;
            self.service.switchboard.disconnect(self.id, departure);
        }
    }
}

impl Future for Connection {
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

impl Drop for Connection {
    /// A task dropped before it finished (the runtime shutting down) still frees its seat.
    fn drop(&mut self) {
        self.report(Departure::Lost);
    }
}

/// Feeds the rest of a batch to the socket and flushes it: one write for the whole batch.
/// `Ok(Some(code))` when the batch ends with a close; what came before it is flushed with the
/// close frame.
fn poll_write(
    socket: &mut WebSocket,
    batch: &mut vec_deque::IntoIter<Frame>,
    context: &mut Context<'_>,
) -> Poll<Result<Option<CloseCode>, axum::Error>> {
    loop {
        ready!(socket.poll_ready_unpin(context))?;
        let frame = match batch.next() {
            Some(Frame::Text(message)) => text(&message),
            Some(Frame::Ping) => Message::Ping(Default::default()),
            Some(Frame::Close(code)) => return Poll::Ready(Ok(Some(code))),
            None => break,
        };
        socket.start_send_unpin(frame)?;
    }
    socket.poll_flush_unpin(context).map_ok(|()| None)
}

/// Sends `frame` if it has not been sent yet, and flushes. Errors end the connection just the
/// same, so there are none to report.
fn poll_close(
    socket: &mut WebSocket,
    frame: &mut Option<Message>,
    context: &mut Context<'_>,
) -> Poll<()> {
    if frame.is_some() {
        if ready!(socket.poll_ready_unpin(context)).is_err() {
            return Poll::Ready(());
        }
        if let Some(frame) = frame.take() {
            if socket.start_send_unpin(frame).is_err() {
                return Poll::Ready(());
            }
        }
    }
    socket.poll_close_unpin(context).map(|_| ())
}

fn text(message: &ServerMessage) -> Message {
    Message::Text(message.encode().into())
}

fn close_frame(code: CloseCode) -> Message {
    let reason = match code {
        CloseCode::TOO_BIG => "message too big",
        CloseCode::SESSION_REPLACED => "session replaced",
        CloseCode::GOING_AWAY => "server restarting",
        _ => "policy violation",
    };
    Message::Close(Some(CloseFrame {
        code: code.0,
        reason: reason.into(),
    }))
}

/// A client that closes with 1000 or 1001 (or without a code) is leaving, one that closes with
/// 4002 is unloading and may be reloading; any other code, or no close frame at all, is a drop
/// it may come back from.
fn departure_of(frame: Option<&CloseFrame>) -> Departure {
    match frame {
        None => Departure::Left,
        Some(frame) if CloseCode(frame.code).is_deliberate_leave() => Departure::Left,
        Some(frame) if CloseCode(frame.code) == CloseCode::UNLOADING => Departure::Unloading,
        Some(_) => Departure::Lost,
    }
}

/// Whether a read failed because the frame was over the size limit. axum boxes tungstenite's
/// error; its type is the only way to tell this case apart.
fn is_too_big(error: &axum::Error) -> bool {
    use std::error::Error;
    matches!(
        error
            .source()
            .and_then(|source| source.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}
