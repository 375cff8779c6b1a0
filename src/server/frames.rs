//! The server's side of WebSocket framing (RFC 6455 §5), holding memory only while a frame or
//! a fragmented message is half-received, and a write only while it is being written.
//!
//! Why not tungstenite's `WebSocket`: its state lives as long as the connection, with a read
//! buffer allocated up front and a write buffer that keeps the capacity of the largest message
//! ever sent (the `info`). That was 1.2 KiB of the 3.4 KiB every idle connection held, more
//! than the rest of a WebSocket's state together (BENCHMARKS.md, "memory per connection").
//! tungstenite still parses and formats every header (`FrameHeader`); what is written here
//! is the part that decides what to keep: assembling messages, and the rules a server
//! enforces on what a client sends.

use std::{io::Cursor, ops::ControlFlow};

use tungstenite::protocol::frame::{
    coding::{Control, Data, OpCode},
    FrameHeader,
};

/// A message or a control frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    Text(&'a str),
    /// Not part of the protocol; its bytes are not kept.
    Binary,
    /// Its payload goes back in a Pong.
    Ping(&'a [u8]),
    Pong,
    /// The client closes, with its status code if it gave one.
    Close(Option<u16>),
}

#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A frame or message over the size limit: the connection is closed with 1009.
    TooBig,
    /// Anything else RFC 6455 forbids a client: the connection is dropped.
    Protocol(&'static str),
}

/// What a connection keeps of the frames it reads between two reads.
#[derive(Debug, Default)]
pub struct FrameReader {
    /// The frame a read ended inside of, header included. Empty and unallocated between
    /// frames, which is where an idle connection is.
    partial: Vec<u8>,
    /// The payload so far of a message sent in several frames (browsers do not; other
    /// clients may).
    fragments: Option<Fragments>,
}

#[derive(Debug)]
struct Fragments {
    text: bool,
    payload: Vec<u8>,
}

/// The largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

impl FrameReader {
    /// Reads the frames in `input` (what one read from the socket returned), handing each
    /// message and control frame to `on` as soon as it is whole; a frame that `input` ends
    /// inside of is kept for the next call. Payloads are unmasked in place, so that a message
    /// that arrives in one read is never copied. `Break` from `on` stops reading: the rest of
    /// `input` is dropped, as the connection is being closed.
    pub fn feed(
        &mut self,
        mut input: &mut [u8],
        max_message: usize,
        on: &mut impl FnMut(Inbound<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, FrameError> {
        loop {
            if self.partial.is_empty() {
                if input.is_empty() {
                    return Ok(ControlFlow::Continue(()));
                }
                match head(input, max_message, self.fragmented_len())? {
                    Some(head) if head.frame_len <= input.len() => {
                        let (frame, rest) = input.split_at_mut(head.frame_len);
                        input = rest;
                        let payload = &mut frame[head.header_len..];
                        if self.frame(head.header, payload, on)?.is_break() {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                    _ => {
                        self.partial.extend_from_slice(input);
                        return Ok(ControlFlow::Continue(()));
                    }
                }
            } else {
                // The header a byte at a time (it is at most 14, and split ones are rare), then
                // the rest of the frame at once.
                let fragmented = self.fragmented_len();
                let wanted = match head(&self.partial, max_message, fragmented)? {
                    Some(head) => {
                        // Once, as the header completes: the frame's whole size, no doubling.
                        self.partial
                            .reserve_exact(head.frame_len - self.partial.len());
                        head.frame_len - self.partial.len()
                    }
                    None => 1,
                };
                let taken = wanted.min(input.len());
                let (bytes, rest) = input.split_at_mut(taken);
                self.partial.extend_from_slice(bytes);
                input = rest;
                let whole = head(&self.partial, max_message, fragmented)?
                    .filter(|head| head.frame_len == self.partial.len());
                let Some(head) = whole else {
                    if input.is_empty() {
                        return Ok(ControlFlow::Continue(()));
                    }
                    continue;
                };
                let mut frame = std::mem::take(&mut self.partial);
                let payload = &mut frame[head.header_len..];
                if self.frame(head.header, payload, on)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
    }

    /// The payload so far of a message sent in several frames.
    fn fragmented_len(&self) -> usize {
        self.fragments
            .as_ref()
            .map_or(0, |fragments| fragments.payload.len())
    }

    /// Whether nothing is half-received: then there is nothing to keep.
    pub fn is_idle(&self) -> bool {
        self.partial.is_empty() && self.fragments.is_none()
    }

    /// One whole frame, whose header [`head`] has passed.
    fn frame(
        &mut self,
        header: FrameHeader,
        payload: &mut [u8],
        on: &mut impl FnMut(Inbound<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, FrameError> {
        if let Some(mask) = header.mask {
            unmask(payload, mask);
        }
        match header.opcode {
            OpCode::Control(control) => Ok(on(match control {
                Control::Ping => Inbound::Ping(payload),
                Control::Pong => Inbound::Pong,
                Control::Close => Inbound::Close(close_code(payload)?),
                Control::Reserved(_) => return Err(FrameError::Protocol("a reserved opcode")),
            })),
            OpCode::Data(Data::Continue) => {
                let Some(fragments) = &mut self.fragments else {
                    return Err(FrameError::Protocol("a continuation of no message"));
                };
                fragments.payload.extend_from_slice(payload);
                if !header.is_final {
                    return Ok(ControlFlow::Continue(()));
                }
                let Some(Fragments { text, mut payload }) = self.fragments.take() else {
                    return Ok(ControlFlow::Continue(()));
                };
                message(text, &mut payload, on)
            }
            OpCode::Data(data @ (Data::Text | Data::Binary)) => {
                if self.fragments.is_some() {
                    return Err(FrameError::Protocol("a message before the last one ended"));
                }
                let text = data == Data::Text;
                if header.is_final {
                    return message(text, payload, on);
                }
                self.fragments = Some(Fragments {
                    text,
                    payload: payload.to_vec(),
                });
                Ok(ControlFlow::Continue(()))
            }
            OpCode::Data(Data::Reserved(_)) => Err(FrameError::Protocol("a reserved opcode")),
        }
    }
}

fn message(
    text: bool,
    payload: &mut [u8],
    on: &mut impl FnMut(Inbound<'_>) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, FrameError> {
    if !text {
        return Ok(on(Inbound::Binary));
    }
    match std::str::from_utf8(payload) {
        Ok(text) => Ok(on(Inbound::Text(text))),
        Err(_) => Err(FrameError::Protocol("a text message that is not UTF-8")),
    }
}

/// A frame's header, parsed, and where its payload starts and the frame ends.
struct Head {
    header: FrameHeader,
    header_len: usize,
    frame_len: usize,
}

/// The header of the frame that `bytes` begins, once it is all there, after every check that
/// needs nothing more than the header: a frame refused for its size is not read any further.
/// `fragmented` is the payload so far of a message in several frames, which a data frame's
/// counts against the limit with.
fn head(bytes: &[u8], max_message: usize, fragmented: usize) -> Result<Option<Head>, FrameError> {
    let mut cursor = Cursor::new(bytes);
    let (header, payload_len) = match FrameHeader::parse(&mut cursor) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return Ok(None),
        Err(_) => return Err(FrameError::Protocol("a reserved opcode")),
    };
    if header.rsv1 || header.rsv2 || header.rsv3 {
        return Err(FrameError::Protocol(
            "reserved bits set, with no extension agreed",
        ));
    }
    if header.mask.is_none() {
        return Err(FrameError::Protocol("a client's frame without a mask"));
    }
    let limit = match header.opcode {
        OpCode::Control(_) if !header.is_final => {
            return Err(FrameError::Protocol("a control frame split"))
        }
        OpCode::Control(_) => MAX_CONTROL_PAYLOAD,
        OpCode::Data(_) => max_message.saturating_sub(fragmented),
    };
    match usize::try_from(payload_len) {
        Ok(len) if len <= limit => {
            // At most 14: the cursor read only the header.
            let header_len = usize::try_from(cursor.position()).unwrap_or(usize::MAX);
            Ok(Some(Head {
                header,
                header_len,
                frame_len: header_len.saturating_add(len),
            }))
        }
        _ if matches!(header.opcode, OpCode::Control(_)) => {
            Err(FrameError::Protocol("a control frame over 125 bytes"))
        }
        _ => Err(FrameError::TooBig),
    }
}

/// Eight bytes at a time: byte by byte, unmasking took a fifth of the server's time relaying
/// 4 KiB offers.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let key = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = payload.chunks_exact_mut(8);
    for word in &mut words {
        if let Ok(bytes) = <[u8; 8]>::try_from(&*word) {
            word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ key).to_ne_bytes());
        }
    }
    // The rest starts on a multiple of 8, so at the mask's first byte.
    for (byte, key) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

/// The status code of a Close frame's payload: none, or one an endpoint may send (RFC 6455
/// §7.4) and a UTF-8 reason.
fn close_code(payload: &[u8]) -> Result<Option<u16>, FrameError> {
    match payload {
        [] => Ok(None),
        [high, low, reason @ ..] if std::str::from_utf8(reason).is_ok() => {
            let code = u16::from_be_bytes([*high, *low]);
            if sendable(code) {
                Ok(Some(code))
            } else {
                Err(FrameError::Protocol("a close code no endpoint may send"))
            }
        }
        _ => Err(FrameError::Protocol("a close frame's payload is malformed")),
    }
}

/// The close codes an endpoint may put in a Close frame: 1004, 1005, 1006 and 1015 only say,
/// locally, that there was none or no close frame; the rest up to 2999 are unassigned.
fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Appends an unmasked, unfragmented frame, as a server sends them.
pub fn encode(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: None,
    };
    let len = u64::try_from(payload.len()).unwrap_or(u64::MAX);
    out.reserve(header.len(len) + payload.len());
    // Writing to a Vec cannot fail.
    let _ = header.format(len, out);
    out.extend_from_slice(payload);
}

/// The Close frame that answers a client's: its code echoed (RFC 6455 §5.5.1) when it is one an
/// endpoint may send (§7.4), none otherwise.
pub fn close_answer(code: Option<u16>) -> Vec<u8> {
    close_frame(code.filter(|code| sendable(*code)), "")
}

/// A Close frame with this code, if any, and a reason (cut to fit).
pub fn close_frame(code: Option<u16>, reason: &str) -> Vec<u8> {
    let payload = code.map_or_else(Vec::new, |code| close_payload(code, reason));
    let mut frame = Vec::new();
    encode(&mut frame, OpCode::Control(Control::Close), &payload);
    frame
}

/// A Close frame's payload: the code, and a reason of at most 123 bytes.
fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A frame as a client sends it: masked.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![first];
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&MASK);
        let mut masked = payload.to_vec();
        unmask(&mut masked, MASK);
        frame.extend_from_slice(&masked);
        frame
    }

    const TEXT: u8 = 0x81;
    const BINARY: u8 = 0x82;
    const TEXT_FIRST: u8 = 0x01;
    const CONTINUATION: u8 = 0x00;
    const CONTINUATION_LAST: u8 = 0x80;
    const CLOSE: u8 = 0x88;
    const PING: u8 = 0x89;
    const PONG: u8 = 0x8a;

    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Text(String),
        Binary,
        Ping(Vec<u8>),
        Pong,
        Close(Option<u16>),
    }

    /// Feeds `chunks` one read at a time; what came out, or the first error.
    fn read(reader: &mut FrameReader, chunks: &[&[u8]]) -> Result<Vec<Seen>, FrameError> {
        let mut seen = Vec::new();
        for chunk in chunks {
            let mut chunk = chunk.to_vec();
            let flow = reader.feed(&mut chunk, 1024, &mut |inbound| {
                seen.push(match inbound {
                    Inbound::Text(text) => Seen::Text(text.to_string()),
                    Inbound::Binary => Seen::Binary,
                    Inbound::Ping(payload) => Seen::Ping(payload.to_vec()),
                    Inbound::Pong => Seen::Pong,
                    Inbound::Close(code) => Seen::Close(code),
                });
                ControlFlow::Continue(())
            })?;
            assert_eq!(flow, ControlFlow::Continue(()));
        }
        Ok(seen)
    }

    fn text(text: &str) -> Seen {
        Seen::Text(text.to_string())
    }

    #[test]
    fn messages_in_one_read_come_out_in_order() {
        let mut bytes = client_frame(TEXT, b"{\"type\":\"ping\"}");
        bytes.extend(client_frame(PONG, b""));
        bytes.extend(client_frame(BINARY, b"\x00\x01"));
        bytes.extend(client_frame(TEXT, "é".repeat(200).as_bytes()));
        bytes.extend(client_frame(PING, b"are you there"));
        bytes.extend(client_frame(CLOSE, &close_payload(1001, "bye")));
        let mut reader = FrameReader::default();
        assert_eq!(
            read(&mut reader, &[&bytes]),
            Ok(vec![
                text("{\"type\":\"ping\"}"),
                Seen::Pong,
                Seen::Binary,
                text(&"é".repeat(200)),
                Seen::Ping(b"are you there".to_vec()),
                Seen::Close(Some(1001)),
            ])
        );
        assert_eq!(reader.partial.capacity(), 0, "nothing kept between frames");
    }

    #[test]
    fn a_frame_split_anywhere_is_put_back_together_and_then_freed() {
        // A 16-bit length and a 64-bit one, so that the header itself is split everywhere.
        for payload in ["a".repeat(300), "b".repeat(70_000)] {
            let mut bytes = client_frame(TEXT, payload.as_bytes());
            bytes.extend(client_frame(TEXT, b"next"));
            for cut in [1, 2, 3, 4, 5, 8, 9, 13, 14, 100, bytes.len() - 7] {
                let mut reader = FrameReader::default();
                let (first, second) = bytes.split_at(cut);
                let seen = {
                    let mut seen = Vec::new();
                    for chunk in [first, second] {
                        let mut chunk = chunk.to_vec();
                        let flow = reader.feed(&mut chunk, 100_000, &mut |inbound| {
                            if let Inbound::Text(text) = inbound {
                                seen.push(text.len());
                            }
                            ControlFlow::Continue(())
                        });
                        assert_eq!(flow, Ok(ControlFlow::Continue(())));
                    }
                    seen
                };
                assert_eq!(seen, vec![payload.len(), 4], "cut at {cut}");
                assert_eq!(reader.partial.capacity(), 0, "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_frame_fed_a_byte_at_a_time_comes_out_once() {
        let bytes = client_frame(TEXT, b"{\"type\":\"offer\"}");
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        let mut reader = FrameReader::default();
        assert_eq!(
            read(&mut reader, &chunks),
            Ok(vec![text("{\"type\":\"offer\"}")])
        );
    }

    #[test]
    fn however_the_reads_cut_the_bytes_the_same_messages_come_out() {
        // A small xorshift: the same cases every run, no dependency.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        for case in 0..300 {
            let mut bytes = Vec::new();
            for _ in 0..1 + next(6) {
                let payload: String = (0..next(300)).map(|i| ['a', 'é', '{'][i % 3]).collect();
                match next(5) {
                    0 => bytes.extend(client_frame(BINARY, payload.as_bytes())),
                    1 => bytes.extend(client_frame(
                        PING,
                        &payload.as_bytes()[..next(126).min(payload.len())],
                    )),
                    2 => bytes.extend(client_frame(PONG, b"")),
                    3 => {
                        let cut = next(payload.len() + 1);
                        bytes.extend(client_frame(TEXT_FIRST, &payload.as_bytes()[..cut]));
                        bytes.extend(client_frame(CONTINUATION_LAST, &payload.as_bytes()[cut..]));
                    }
                    _ => bytes.extend(client_frame(TEXT, payload.as_bytes())),
                }
            }
            let whole = read(&mut FrameReader::default(), &[&bytes]);
            let mut chunks = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let (chunk, after) = rest.split_at(1 + next(rest.len()));
                chunks.push(chunk);
                rest = after;
            }
            let mut reader = FrameReader::default();
            assert_eq!(read(&mut reader, &chunks), whole, "case {case}");
            assert!(whole.is_ok(), "case {case}: {whole:?}");
            assert_eq!(reader.partial.capacity(), 0, "case {case}");
        }
    }

    #[test]
    fn a_fragmented_message_is_assembled_around_control_frames() {
        let mut bytes = client_frame(TEXT_FIRST, b"{\"type\":");
        bytes.extend(client_frame(PING, b"1"));
        bytes.extend(client_frame(CONTINUATION, b"\"pi"));
        bytes.extend(client_frame(CONTINUATION_LAST, b"ng\"}"));
        let mut reader = FrameReader::default();
        assert_eq!(
            read(&mut reader, &[&bytes]),
            Ok(vec![Seen::Ping(b"1".to_vec()), text("{\"type\":\"ping\"}")])
        );
        assert!(reader.fragments.is_none());
    }

    #[test]
    fn a_utf8_character_split_between_fragments_is_whole_in_the_message() {
        let word = "café".as_bytes();
        let mut bytes = client_frame(TEXT_FIRST, &word[..4]);
        bytes.extend(client_frame(CONTINUATION_LAST, &word[4..]));
        assert_eq!(
            read(&mut FrameReader::default(), &[&bytes]),
            Ok(vec![text("café")])
        );
    }

    #[test]
    fn too_big_is_refused_from_the_header_alone() {
        // Only the header: the payload is never waited for.
        let frame = client_frame(TEXT, &[b'a'; 1025]);
        assert_eq!(
            read(&mut FrameReader::default(), &[&frame[..8]]),
            Err(FrameError::TooBig)
        );
        let mut fragments = client_frame(TEXT_FIRST, &[b'a'; 1000]);
        fragments.extend(client_frame(CONTINUATION_LAST, &[b'a'; 25]));
        assert_eq!(
            read(&mut FrameReader::default(), &[&fragments]),
            Err(FrameError::TooBig)
        );
        let mut limit = client_frame(TEXT_FIRST, &[b'a'; 1000]);
        limit.extend(client_frame(CONTINUATION_LAST, &[b'a'; 24]));
        assert_eq!(
            read(&mut FrameReader::default(), &[&limit]),
            Ok(vec![text(&"a".repeat(1024))])
        );
    }

    #[test]
    fn what_a_client_may_not_send_is_refused() {
        let unmasked = [TEXT, 2, b'h', b'i'];
        let reserved_bit = client_frame(0xc1, b"hi");
        let reserved_opcode = client_frame(0x83, b"hi");
        let split_ping = client_frame(0x09, b"hi");
        let long_ping = client_frame(PING, &[0; 126]);
        let orphan = client_frame(CONTINUATION_LAST, b"hi");
        let mut interleaved = client_frame(TEXT_FIRST, b"hi");
        interleaved.extend(client_frame(TEXT, b"there"));
        let not_utf8 = client_frame(TEXT, &[0xff, 0xfe]);
        let short_close = client_frame(CLOSE, &[3]);
        let unsendable_close = client_frame(CLOSE, &1005u16.to_be_bytes());
        let bad_reason = client_frame(CLOSE, &[3, 232, 0xff]);
        for bytes in [
            &unmasked[..],
            &reserved_bit,
            &reserved_opcode,
            &split_ping,
            &long_ping,
            &orphan,
            &interleaved,
            &not_utf8,
            &short_close,
            &unsendable_close,
            &bad_reason,
        ] {
            assert!(
                matches!(
                    read(&mut FrameReader::default(), &[bytes]),
                    Err(FrameError::Protocol(_))
                ),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn a_frame_that_cannot_fit_is_refused_before_it_is_read() {
        // A Ping declaring 600 bytes: refused from its header, its payload never awaited.
        let ping = client_frame(PING, &[0; 600]);
        assert!(matches!(
            read(&mut FrameReader::default(), &[&ping[..8]]),
            Err(FrameError::Protocol(_))
        ));
        // A continuation declaring more than the message has left.
        let mut fragments = client_frame(TEXT_FIRST, &[b'a'; 1000]);
        let next = client_frame(CONTINUATION_LAST, &[b'a'; 25]);
        fragments.extend_from_slice(&next[..8]);
        assert_eq!(
            read(&mut FrameReader::default(), &[&fragments]),
            Err(FrameError::TooBig)
        );
    }

    #[test]
    fn break_stops_at_that_message() {
        let mut bytes = client_frame(TEXT, b"one");
        bytes.extend(client_frame(TEXT, b"two"));
        let mut seen = 0;
        let flow = FrameReader::default()
            .feed(&mut bytes, 1024, &mut |_| {
                seen += 1;
                ControlFlow::Break(())
            })
            .unwrap();
        assert_eq!((flow, seen), (ControlFlow::Break(()), 1));
    }

    #[test]
    fn what_the_server_writes_is_what_tungstenite_reads() {
        for len in [0, 125, 126, 65_535, 65_536] {
            let payload = "x".repeat(len);
            let mut out = Vec::new();
            encode(&mut out, OpCode::Data(Data::Text), payload.as_bytes());
            let mut cursor = Cursor::new(&out);
            let (header, parsed_len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert!(header.is_final && header.mask.is_none());
            assert_eq!(header.opcode, OpCode::Data(Data::Text));
            assert_eq!(parsed_len, len as u64);
            assert_eq!(&out[cursor.position() as usize..], payload.as_bytes());
        }
    }

    #[test]
    fn unmasking_eight_bytes_at_a_time_is_unmasking_each() {
        for len in 0..40 {
            let original: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let mut masked = original.clone();
            unmask(&mut masked, MASK);
            let expected: Vec<u8> = original
                .iter()
                .zip(MASK.iter().cycle())
                .map(|(byte, key)| byte ^ key)
                .collect();
            assert_eq!(masked, expected, "{len}");
        }
    }

    #[test]
    fn a_close_is_answered_with_its_code_when_one_may_be_sent() {
        assert_eq!(close_answer(Some(4002)), [0x88, 2, 0x0f, 0xa2]);
        assert_eq!(close_answer(Some(1000)), [0x88, 2, 0x03, 0xe8]);
        // 1005 and 1006 only say, locally, that there was no code or no close frame.
        assert_eq!(close_answer(Some(1005)), [0x88, 0]);
        assert_eq!(close_answer(Some(999)), [0x88, 0]);
        assert_eq!(close_answer(None), [0x88, 0]);
    }

    #[test]
    fn a_close_reason_is_cut_to_fit_on_a_character() {
        let payload = close_payload(1008, &"é".repeat(100));
        assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        assert_eq!(&payload[..2], &1008u16.to_be_bytes());
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        assert_eq!(close_code(&payload), Ok(Some(1008)));
    }
}
