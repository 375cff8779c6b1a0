//! Keeping a link alive, and what its tile shows about it. Pure: the link reads the
//! connection's states and stats, and these decide.
//!
//! - [`IceWatch`]: ICE restart on `failed`, and after a few seconds of `disconnected`, so that
//!   a network change on either side heals without rebuilding the connection.
//! - [`Watchdog`]: looks every few seconds at a connection that never got (back) to
//!   `connected`, or whose offer was never answered, with a patience that doubles.
//! - [`Picture`]: whether the tile has a picture, believing decoded frames over a remote track
//!   that says it is muted.

use crate::components::model::LinkState;

/// How long a connection may sit in `disconnected` before we restart ICE ourselves.
pub const DISCONNECTED_GRACE_MS: u32 = 3_000;
/// How often the watchdog looks.
pub const WATCHDOG_MS: u32 = 4_000;
/// Two looks in a row without progress restart ICE or offer again, then four, eight and at
/// most sixteen (about a minute): a peer that cannot answer is not sent an offer every few
/// seconds.
pub const FIRST_PATIENCE: u32 = 2;
pub const MAX_PATIENCE: u32 = 16;
/// New frames between two watchdog looks that make a picture of a track that says it is
/// muted: a straggler or two decoded after the peer stopped sending are not one.
pub const MIN_FRAMES_PER_LOOK: f64 = 4.0;

/// `RTCPeerConnectionState`, without web-sys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    New,
    Connecting,
    Connected,
    Disconnected,
    Failed,
    Closed,
}

/// `RTCIceConnectionState`, as far as the link cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceState {
    Disconnected,
    Failed,
    /// Any other state: checking, connected, completed, new, closed.
    Other,
}

/// What the tile says for a connection state, given what it said before; `None` leaves it.
pub fn shown_state(state: ConnectionState, shown: LinkState) -> Option<LinkState> {
    Some(match state {
        ConnectionState::Connected => LinkState::Connected,
        ConnectionState::Disconnected => LinkState::Reconnecting,
        ConnectionState::Failed => LinkState::Failed,
        ConnectionState::Closed => return None,
        // `connecting` again after having been connected is a reconnection.
        ConnectionState::New | ConnectionState::Connecting => {
            if shown == LinkState::Connecting {
                LinkState::Connecting
            } else {
                LinkState::Reconnecting
            }
        }
    })
}

/// What to do about the ICE connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceStep {
    /// Restart ICE now, and forget a grace period in progress.
    RestartNow,
    /// Start the grace period: restart if still disconnected when it ends.
    WaitThenRestart,
    /// Forget a grace period in progress.
    Settled,
}

pub fn ice_step(state: IceState) -> IceStep {
    match state {
        IceState::Failed => IceStep::RestartNow,
        IceState::Disconnected => IceStep::WaitThenRestart,
        IceState::Other => IceStep::Settled,
    }
}

/// How a connection looks stuck, when it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
    /// Short of `connected`: seen when a polite side's first offer is rolled back before it
    /// gathered a single candidate. Restarting ICE gathers afresh.
    Connecting,
    /// An offer of ours is never answered: a peer that settles collisions less carefully than
    /// we do (the base `@openlab/portals` client has no notion of an answer still being
    /// applied) can take it for a collision and drop it. Rolling it back returns to `stable`,
    /// where the browser asks for negotiation again.
    Unanswered,
}

/// The watchdog's remedy for a stall that outlasted its patience.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remedy {
    RestartIce,
    OfferAgain,
}

#[derive(Debug)]
pub struct Watchdog {
    stalled_looks: u32,
    /// How many stalled looks in a row the next remedy waits for.
    patience: u32,
}

impl Default for Watchdog {
    fn default() -> Self {
        Self {
            stalled_looks: 0,
            patience: FIRST_PATIENCE,
        }
    }
}

impl Watchdog {
    /// One look. `signalling_up`: what we send now goes out now. While our own signalling is
    /// down an offer would only wait in its queue, and the time away says nothing about the
    /// peer.
    pub fn look(&mut self, stall: Option<Stall>, signalling_up: bool) -> Option<Remedy> {
        let Some(stall) = stall else {
            *self = Self::default();
            return None;
        };
        if !signalling_up {
            self.stalled_looks = 0;
            return None;
        }
        self.stalled_looks += 1;
        if self.stalled_looks < self.patience {
            return None;
        }
        self.stalled_looks = 0;
        self.patience = (self.patience * 2).min(MAX_PATIENCE);
        Some(match stall {
            Stall::Unanswered => Remedy::OfferAgain,
            Stall::Connecting => Remedy::RestartIce,
        })
    }
}

/// A read of the receivers' decoded-frame counts, numbered so that a slow read that ends after
/// a newer one began is dropped: counts are compared in the order they were taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramesRead(u32);

/// Whether the tile has a picture. The remote track's `mute`/`unmute` are the cue, but Chromium
/// can leave a remote track muted while its frames play (seen under load with eight tabs): the
/// tile believes the frames, as a person would, for as long as the negotiated direction says
/// the peer sends video.
#[derive(Debug, Default)]
pub struct Picture {
    /// Frames decoded so far, as of the last read; `None` when not counting.
    frames_seen: Option<f64>,
    /// Frames went on being decoded between the last two reads.
    decoding: bool,
    reads: u32,
}

impl Picture {
    /// `track_says`: the remote video track is live and unmuted. `peer_sends`: the negotiated
    /// direction has the peer sending video to us.
    pub fn playing(&self, track_says: bool, peer_sends: bool) -> bool {
        track_says || (self.decoding && peer_sends)
    }

    /// A watchdog look: returns a read to make when the track and the direction disagree (it
    /// costs a stats call per video receiver, made only then), and forgets the counts
    /// otherwise.
    pub fn look(&mut self, track_says: bool, peer_sends: bool) -> Option<FramesRead> {
        self.reads = self.reads.wrapping_add(1);
        if track_says || !peer_sends {
            self.frames_seen = None;
            self.decoding = false;
            return None;
        }
        Some(FramesRead(self.reads))
    }

    /// Whether no newer read began since this one: a failure of an older one is no news.
    pub fn is_current(&self, read: FramesRead) -> bool {
        read.0 == self.reads
    }

    /// The read's total of decoded frames; ignored if a newer read began since.
    pub fn frames_read(&mut self, read: FramesRead, frames: f64) {
        if !self.is_current(read) {
            return;
        }
        match self.frames_seen.replace(frames) {
            Some(before) if frames >= before => {
                self.decoding = frames - before >= MIN_FRAMES_PER_LOOK;
            }
            // The first count, or a lower one (a receiver was replaced): nothing to compare
            // with yet.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_waits_two_looks_then_doubles_its_patience_up_to_sixteen() {
        let mut watchdog = Watchdog::default();
        let mut remedies_at = Vec::new();
        for look in 1..=80 {
            if watchdog.look(Some(Stall::Connecting), true).is_some() {
                remedies_at.push(look);
            }
        }
        assert_eq!(remedies_at, [2, 6, 14, 30, 46, 62, 78]);
    }

    #[test]
    fn progress_resets_the_watchdog_and_a_signalling_outage_does_not_count() {
        let mut watchdog = Watchdog::default();
        assert_eq!(watchdog.look(Some(Stall::Unanswered), true), None);
        assert_eq!(
            watchdog.look(Some(Stall::Unanswered), true),
            Some(Remedy::OfferAgain)
        );
        assert_eq!(watchdog.look(None, true), None);
        assert_eq!(watchdog.look(Some(Stall::Connecting), true), None);
        assert_eq!(watchdog.look(Some(Stall::Connecting), false), None);
        assert_eq!(watchdog.look(Some(Stall::Connecting), true), None);
        assert_eq!(
            watchdog.look(Some(Stall::Connecting), true),
            Some(Remedy::RestartIce),
            "patience back at two after progress"
        );
    }

    #[test]
    fn ice_restarts_at_once_on_failure_and_after_a_grace_when_disconnected() {
        assert_eq!(ice_step(IceState::Failed), IceStep::RestartNow);
        assert_eq!(ice_step(IceState::Disconnected), IceStep::WaitThenRestart);
        assert_eq!(ice_step(IceState::Other), IceStep::Settled);
    }

    #[test]
    fn connecting_after_connected_is_shown_as_reconnecting() {
        use ConnectionState as C;
        assert_eq!(
            shown_state(C::Connecting, LinkState::Connecting),
            Some(LinkState::Connecting)
        );
        assert_eq!(
            shown_state(C::Connecting, LinkState::Connected),
            Some(LinkState::Reconnecting)
        );
        assert_eq!(
            shown_state(C::Disconnected, LinkState::Connected),
            Some(LinkState::Reconnecting)
        );
        assert_eq!(
            shown_state(C::Failed, LinkState::Connected),
            Some(LinkState::Failed)
        );
        assert_eq!(shown_state(C::Closed, LinkState::Connected), None);
    }

    #[test]
    fn frames_that_keep_coming_are_a_picture_whatever_the_track_says() {
        let mut picture = Picture::default();
        assert!(!picture.playing(false, true));
        let read = picture
            .look(false, true)
            .expect("the track and direction disagree");
        picture.frames_read(read, 100.0);
        assert!(
            !picture.playing(false, true),
            "one count is nothing to compare"
        );
        let read = picture.look(false, true).expect("still disagreeing");
        picture.frames_read(read, 130.0);
        assert!(picture.playing(false, true));
        assert!(
            !picture.playing(false, false),
            "not once the peer stops sending"
        );
        let read = picture.look(false, true).expect("still disagreeing");
        picture.frames_read(read, 132.0);
        assert!(
            !picture.playing(false, true),
            "two stragglers are no picture"
        );
    }

    #[test]
    fn a_stale_read_is_dropped_and_agreement_stops_the_counting() {
        let mut picture = Picture::default();
        let first = picture.look(false, true).expect("disagreeing");
        let second = picture.look(false, true).expect("disagreeing");
        assert!(!picture.is_current(first) && picture.is_current(second));
        picture.frames_read(second, 10.0);
        picture.frames_read(first, 0.0);
        let third = picture.look(false, true).expect("disagreeing");
        picture.frames_read(third, 50.0);
        assert!(
            picture.playing(false, true),
            "compared with 10, not with the stale 0"
        );
        assert_eq!(picture.look(true, true), None);
        assert!(!picture.playing(false, true), "the counts were forgotten");
    }
}
