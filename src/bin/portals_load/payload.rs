//! Realistic message bodies with a measurement stamp inside, and reading the stamp back.
//!
//! The stamp rides inside the payload (an SDP attribute line, a candidate extension) because a
//! server relays payloads and nothing else; it is found again with a substring search, so the
//! receiving side does not parse JSON on the hot path.

use std::fmt::Write;

/// Marks a stamp: `x-load=<sender>.<sequence>.<sent-nanoseconds>`.
const STAMP: &str = "x-load=";

/// What a receiver learns from a relayed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub sender: u32,
    pub sequence: u64,
    pub sent_ns: u64,
}

/// Builds frames. The SDP is escaped for JSON once; each frame only appends numbers.
pub struct Frames {
    description_head: String,
    description_tail: String,
    candidate_head: String,
    candidate_tail: String,
}

impl Frames {
    pub fn new() -> Self {
        let sdp = json_escape(&sample_sdp());
        Self {
            description_head: format!(
                r#"{{"type":"description","description":{{"type":"offer","sdp":"{sdp}a={STAMP}"#
            ),
            description_tail: r#"\r\n"},"target":""#.to_string(),
            candidate_head: format!(
                r#"{{"type":"candidate","candidate":{{"candidate":"candidate:842163049 1 udp 1677729535 192.168.1.23 54400 typ srflx raddr 10.0.0.12 rport 54400 generation 0 ufrag pLT7 network-cost 999 {STAMP}"#
            ),
            candidate_tail:
                r#"","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"pLT7"},"target":""#
                    .to_string(),
        }
    }

    /// One frame to `target`, stamped.
    pub fn frame(&self, description: bool, stamp: Stamp, target: &str) -> String {
        let (head, tail) = if description {
            (&self.description_head, &self.description_tail)
        } else {
            (&self.candidate_head, &self.candidate_tail)
        };
        let mut frame = String::with_capacity(head.len() + tail.len() + target.len() + 48);
        frame.push_str(head);
        // Writing to a String cannot fail.
        let _ = write!(
            frame,
            "{}.{}.{}",
            stamp.sender, stamp.sequence, stamp.sent_ns
        );
        frame.push_str(tail);
        frame.push_str(target);
        frame.push_str("\"}");
        frame
    }
}

/// The stamp in a relayed frame, if it has one.
pub fn read_stamp(frame: &str) -> Option<Stamp> {
    let start = frame.find(STAMP)? + STAMP.len();
    let rest = &frame[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let mut parts = rest[..end].split('.');
    let stamp = Stamp {
        sender: parts.next()?.parse().ok()?,
        sequence: parts.next()?.parse().ok()?,
        sent_ns: parts.next()?.parse().ok()?,
    };
    Some(stamp)
}

fn json_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// An offer the size and shape of what Chromium sends for one video track (about 4 KiB).
fn sample_sdp() -> String {
    let mut sdp = String::from(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=group:BUNDLE 0\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS stream\r\n\
         m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 112 113 116 117 118\r\n\
         c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:pLT7\r\n\
         a=ice-pwd:bM9Xa3s+Q5Ggk0O1fq2mXkZ2\r\na=ice-options:trickle\r\n\
         a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
         a=setup:actpass\r\na=mid:0\r\n\
         a=extmap:1 urn:ietf:params:rtp-hdrext:toffset\r\n\
         a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
         a=extmap:3 urn:3gpp:video-orientation\r\n\
         a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
         a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n\
         a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type\r\n\
         a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing\r\n\
         a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space\r\n\
         a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
         a=sendrecv\r\na=msid:stream track\r\na=rtcp-mux\r\na=rtcp-rsize\r\n",
    );
    let codecs = [
        "VP8", "rtx", "VP9", "rtx", "VP9", "rtx", "H264", "rtx", "H264", "rtx", "H264", "rtx",
        "H264", "rtx", "AV1", "rtx", "H265", "rtx", "red", "rtx", "ulpfec",
    ];
    for (index, codec) in codecs.iter().enumerate() {
        let payload = 96 + index;
        let _ = write!(sdp, "a=rtpmap:{payload} {codec}/90000\r\n");
        if *codec == "rtx" {
            let _ = write!(sdp, "a=fmtp:{payload} apt={}\r\n", payload - 1);
        } else {
            for feedback in ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"] {
                let _ = write!(sdp, "a=rtcp-fb:{payload} {feedback}\r\n");
            }
            if codec.starts_with("H26") {
                let _ = write!(
                    sdp,
                    "a=fmtp:{payload} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
                );
            }
        }
    }
    sdp.push_str("a=ssrc-group:FID 3250232152 2713478251\r\n");
    for ssrc in ["3250232152", "2713478251"] {
        let _ = write!(
            sdp,
            "a=ssrc:{ssrc} cname:Vdq2K5YCX3aQ0aZ2\r\na=ssrc:{ssrc} msid:stream track\r\n"
        );
    }
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_valid_json_of_realistic_size_and_carry_their_stamp() {
        let frames = Frames::new();
        let stamp = Stamp {
            sender: 7,
            sequence: 42,
            sent_ns: 123_456_789,
        };
        for (description, low, high) in [(true, 3_500, 5_000), (false, 150, 350)] {
            let frame = frames.frame(description, stamp, "abc");
            let value: serde_json::Value = serde_json::from_str(&frame).expect("valid JSON");
            assert_eq!(value["target"], "abc");
            assert!((low..high).contains(&frame.len()), "{} bytes", frame.len());
            assert_eq!(read_stamp(&frame), Some(stamp));
        }
    }

    #[test]
    fn a_frame_without_a_stamp_has_none() {
        assert_eq!(read_stamp(r#"{"type":"info","info":{}}"#), None);
        assert_eq!(read_stamp("x-load=1.2"), None);
    }
}
