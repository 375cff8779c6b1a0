//! A tile's health at a glance, from the link's `RTCPeerConnection.getStats()`: the round trip,
//! the frames per second and size of the video received, its bitrate, and whether the link
//! goes direct or through a TURN relay.
//!
//! Pure: the link hands over the report's entries as the browser wrote them (each one parsed
//! from its JSON form into [`StatsEntry`], names as in the W3C `webrtc-stats` spec) and the
//! previous [`Sample`]; a bitrate is a difference between two reads.

use serde::Deserialize;

/// One entry of an `RTCStatsReport`, only the types and members a tile shows. Others, and
/// members a browser leaves out, are `Other` and `None`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum StatsEntry {
    #[serde(rename_all = "camelCase")]
    InboundRtp {
        kind: String,
        /// Milliseconds since the epoch, as a `DOMHighResTimeStamp`.
        timestamp: f64,
        bytes_received: Option<f64>,
        frames_per_second: Option<f64>,
        frame_width: Option<u32>,
        frame_height: Option<u32>,
        /// For the tile's watchdog (see `super::tile_view::Picture`), not shown.
        frames_decoded: Option<f64>,
    },
    #[serde(rename_all = "camelCase")]
    Transport {
        selected_candidate_pair_id: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    CandidatePair {
        id: String,
        state: Option<String>,
        nominated: Option<bool>,
        local_candidate_id: Option<String>,
        remote_candidate_id: Option<String>,
        /// Seconds.
        current_round_trip_time: Option<f64>,
    },
    #[serde(rename_all = "camelCase")]
    LocalCandidate {
        id: String,
        candidate_type: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    RemoteCandidate {
        id: String,
        candidate_type: Option<String>,
    },
    #[serde(other)]
    Other,
}

/// Which way the media goes between the two browsers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Host or server-reflexive candidates on both sides: browser to browser.
    Direct,
    /// A TURN server relays it (on either side).
    Relay,
}

impl Path {
    pub fn as_str(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Relay => "relay",
        }
    }
}

/// What a tile shows of its link; each part `None` until the browser reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TileStats {
    pub rtt_ms: Option<f64>,
    pub fps: Option<f64>,
    pub size: Option<(u32, u32)>,
    pub kbps: Option<f64>,
    pub path: Option<Path>,
}

impl TileStats {
    /// One line for the tile: "3 ms · 30 fps · 640×360 · 812 kbit/s · direct".
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if let Some(rtt) = self.rtt_ms {
            parts.push(format!("{rtt:.0} ms"));
        }
        if let Some(fps) = self.fps {
            parts.push(format!("{fps:.0} fps"));
        }
        if let Some((width, height)) = self.size {
            parts.push(format!("{width}×{height}"));
        }
        if let Some(kbps) = self.kbps {
            parts.push(format!("{kbps:.0} kbit/s"));
        }
        if let Some(path) = self.path {
            parts.push(path.as_str().to_string());
        }
        parts.join(" · ")
    }
}

/// The counters a bitrate is computed from, kept from one read to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    bytes: f64,
    at_ms: f64,
}

/// The video frames the report's inbound streams say were decoded.
pub fn frames_decoded(entries: &[StatsEntry]) -> f64 {
    entries
        .iter()
        .filter_map(|entry| match entry {
            StatsEntry::InboundRtp {
                kind,
                frames_decoded,
                ..
            } if kind == "video" => *frames_decoded,
            _ => None,
        })
        .sum()
}

/// What the tile shows from one report, given the sample of the previous read; also returns
/// this read's sample.
pub fn summarise(entries: &[StatsEntry], previous: Option<Sample>) -> (TileStats, Option<Sample>) {
    let mut stats = TileStats::default();
    // The video received: the inbound stream with the most bytes, should there be several
    // (a transceiver replaced after the camera was turned off and on).
    let video = entries
        .iter()
        .filter_map(|entry| match entry {
            StatsEntry::InboundRtp {
                kind,
                timestamp,
                bytes_received,
                frames_per_second,
                frame_width,
                frame_height,
                ..
            } if kind == "video" => Some((
                *timestamp,
                bytes_received.unwrap_or(0.0),
                *frames_per_second,
                frame_width.zip(*frame_height),
            )),
            _ => None,
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut sample = None;
    if let Some((at_ms, bytes, fps, size)) = video {
        stats.fps = fps;
        stats.size = size;
        stats.kbps = previous
            .filter(|previous| at_ms > previous.at_ms && bytes >= previous.bytes)
            .map(|previous| (bytes - previous.bytes) * 8.0 / (at_ms - previous.at_ms));
        sample = Some(Sample { bytes, at_ms });
    }
    if let Some(StatsEntry::CandidatePair {
        local_candidate_id,
        remote_candidate_id,
        current_round_trip_time,
        ..
    }) = selected_pair(entries)
    {
        stats.rtt_ms = current_round_trip_time.map(|seconds| seconds * 1_000.0);
        let local = candidate_type(entries, local_candidate_id.as_deref(), true);
        let remote = candidate_type(entries, remote_candidate_id.as_deref(), false);
        stats.path = match (local, remote) {
            (Some("relay"), _) | (_, Some("relay")) => Some(Path::Relay),
            (Some(_), Some(_)) => Some(Path::Direct),
            _ => None,
        };
    }
    (stats, sample)
}

/// The candidate pair in use: the one the transport names (Chromium, Safari), else the
/// nominated pair that succeeded (Firefox names none).
fn selected_pair(entries: &[StatsEntry]) -> Option<&StatsEntry> {
    let named = entries.iter().find_map(|entry| match entry {
        StatsEntry::Transport {
            selected_candidate_pair_id: Some(id),
        } => Some(id.as_str()),
        _ => None,
    });
    let is_pair = |entry: &&StatsEntry, wanted: Option<&str>| match entry {
        StatsEntry::CandidatePair {
            id,
            state,
            nominated,
            ..
        } => match wanted {
            Some(wanted) => id == wanted,
            None => state.as_deref() == Some("succeeded") && nominated == &Some(true),
        },
        _ => false,
    };
    named
        .and_then(|named| entries.iter().find(|entry| is_pair(entry, Some(named))))
        .or_else(|| entries.iter().find(|entry| is_pair(entry, None)))
}

fn candidate_type<'a>(entries: &'a [StatsEntry], id: Option<&str>, local: bool) -> Option<&'a str> {
    let id = id?;
    entries.iter().find_map(|entry| match entry {
        StatsEntry::LocalCandidate {
            id: candidate,
            candidate_type,
        } if local && candidate == id => candidate_type.as_deref(),
        StatsEntry::RemoteCandidate {
            id: candidate,
            candidate_type,
        } if !local && candidate == id => candidate_type.as_deref(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A report as Chromium writes it (members trimmed to those read, plus a few others).
    fn report(bytes: f64, at_ms: f64, relay: bool) -> Vec<StatsEntry> {
        [
            json!({"type": "codec", "id": "C1", "mimeType": "video/VP8"}),
            json!({"type": "inbound-rtp", "id": "I1", "kind": "audio", "timestamp": at_ms,
                   "bytesReceived": 99_999_999}),
            json!({"type": "inbound-rtp", "id": "I2", "kind": "video", "timestamp": at_ms,
                   "bytesReceived": bytes, "framesPerSecond": 29.7, "frameWidth": 640,
                   "frameHeight": 360, "framesDecoded": 1200}),
            json!({"type": "transport", "id": "T1", "selectedCandidatePairId": "P2"}),
            json!({"type": "candidate-pair", "id": "P1", "state": "failed",
                   "localCandidateId": "L1", "remoteCandidateId": "R1"}),
            json!({"type": "candidate-pair", "id": "P2", "state": "succeeded", "nominated": true,
                   "localCandidateId": "L2", "remoteCandidateId": "R2",
                   "currentRoundTripTime": 0.025}),
            json!({"type": "local-candidate", "id": "L2",
                   "candidateType": if relay { "relay" } else { "host" }}),
            json!({"type": "remote-candidate", "id": "R2", "candidateType": "srflx"}),
        ]
        .into_iter()
        .map(|entry| serde_json::from_value(entry).expect("an entry"))
        .collect()
    }

    #[test]
    fn a_report_gives_the_round_trip_the_video_and_the_path() {
        let (stats, sample) = summarise(&report(1_000_000.0, 10_000.0, false), None);
        assert_eq!(
            frames_decoded(&report(1_000_000.0, 10_000.0, false)),
            1_200.0,
            "the video's frames, not the audio's"
        );
        assert_eq!(stats.rtt_ms, Some(25.0));
        assert_eq!(stats.fps, Some(29.7));
        assert_eq!(stats.size, Some((640, 360)));
        assert_eq!(stats.path, Some(Path::Direct));
        assert_eq!(stats.kbps, None, "one read is no rate");
        // 125 000 bytes in 1 s is 1000 kbit/s; the audio stream's bytes are not counted.
        let (stats, _) = summarise(&report(1_125_000.0, 11_000.0, true), sample);
        assert_eq!(stats.kbps, Some(1_000.0));
        assert_eq!(stats.path, Some(Path::Relay));
        assert_eq!(
            stats.line(),
            "25 ms · 30 fps · 640×360 · 1000 kbit/s · relay"
        );
    }

    #[test]
    fn without_a_named_pair_the_nominated_one_is_used_and_nothing_known_is_nothing_shown() {
        let mut entries = report(0.0, 0.0, false);
        entries.retain(|entry| !matches!(entry, StatsEntry::Transport { .. }));
        assert_eq!(summarise(&entries, None).0.path, Some(Path::Direct));
        let (stats, sample) = summarise(&[StatsEntry::Other], None);
        assert_eq!(stats, TileStats::default());
        assert_eq!(stats.line(), "");
        assert_eq!(sample, None);
        // A counter that went back (a new receiver) gives no rate rather than a negative one.
        let (_, sample) = summarise(&report(5_000.0, 1_000.0, false), None);
        let (stats, _) = summarise(&report(1_000.0, 2_000.0, false), sample);
        assert_eq!(stats.kbps, None);
    }
}
