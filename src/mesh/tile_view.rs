//! What a link's tile shows: its state in a person's words, and whether it has a picture.
//! Pure: the link reads the connection's state, its remote track, the negotiated direction and
//! the receivers' stats, and these decide.

use crate::components::model::LinkState;

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
