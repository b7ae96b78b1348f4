//! Message framing of syslog over a byte stream (TCP, TLS), after RFC 6587.
//!
//! Two framings exist in the wild and a listener cannot know in advance which a client uses, so
//! it is detected once per connection from its first bytes:
//! - octet counting (`MSG-LEN SP SYSLOG-MSG`, RFC 6587 3.4.1) when the stream starts with a
//!   run of digits (no leading zero), one space and `<` (the start of the `<PRI>` every syslog
//!   message begins with);
//! - otherwise non-transparent framing: each message ends at `\n` (a `\r` before it is removed).
//!
//! The framer is a plain state machine fed with whatever each read returned, so a message or a
//! length header may be split across reads at any byte. It is bounded: a message keeps at most
//! `max_message_bytes` and is then marked truncated.
//! - An octet-counted frame longer than that keeps its first `max_message_bytes`; the rest of the
//!   frame is read and discarded, so the next frame is still found.
//! - A newline-framed message longer than that is cut and sent at once; the rest of it up to the
//!   next `\n` is discarded. A client that goes on for [`discard_limit`] bytes more without any
//!   `\n` is not sending syslog: the caller disconnects it ([`Feed::Garbage`]).
//! - On an octet-counting connection a frame whose header is not a usable length (not digits, a
//!   leading zero, more than [`MAX_COUNT_DIGITS`] digits) means the sender and we disagree on
//!   the framing: from that byte on the connection is read by newline, which re-synchronises
//!   senders that end their messages with `\n`, and falls back on the garbage rule otherwise.
//!
//! `\r` and `\n` between octet-counted frames are skipped (some senders end each frame with a
//! newline), and a trailing `\n` or `\r\n` inside a frame is removed, as for UDP datagrams.

/// Longest accepted MSG-LEN, in digits (up to 999,999,999 bytes): beyond that the header is
/// garbage, not a length.
pub const MAX_COUNT_DIGITS: usize = 9;

/// How many bytes past a cut newline-framed message may be discarded while waiting for its
/// `\n` before the client is disconnected: 16 messages' worth, at least 1 MiB. Generous, so a
/// legitimate over-long line (a big stack trace) only loses its tail; bounded, so a client
/// streaming endless bytes without framing cannot keep a connection busy forever.
pub fn discard_limit(max_message_bytes: usize) -> u64 {
    (max_message_bytes as u64).saturating_mul(16).max(1 << 20)
}

/// The framing of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No message has started yet.
    Undecided,
    OctetCounting,
    NonTransparent,
}

/// One message out of the framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The message, without framing (length header, terminator).
    pub data: &'a [u8],
    /// Offset of the message's first byte (its header, for octet counting) in the connection.
    pub start: u64,
    /// Offset after the last byte of the message the framer consumed.
    pub end: u64,
    /// The message was cut at `max_message_bytes` (or the stream ended inside a counted frame).
    pub truncated: bool,
}

/// What the caller should do after [`Framer::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Continue,
    /// The client sent far more than a message without any framing: disconnect it.
    Garbage,
}

/// Things worth counting that happened since the last [`Framer::take_stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FramerStats {
    /// Messages cut at `max_message_bytes`.
    pub cut: u64,
    /// Octet-counting headers that were not a usable length.
    pub framing_errors: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between messages: the next byte starts a message (or its length header).
    Boundary,
    /// Reading a length header (or, while undecided, the bytes that decide the framing).
    Header,
    /// Reading an octet-counted frame: this many bytes of it are still to come.
    Body { remaining: u64 },
    /// Reading a newline-framed message.
    Line,
    /// A newline-framed message was cut; skipping to its `\n`. `skipped` bytes so far.
    SkipLine { skipped: u64 },
}

enum Header {
    NeedMore,
    Count(u64),
    NotOctet,
}

#[derive(Debug)]
pub struct Framer {
    max: usize,
    discard_limit: u64,
    framing: Framing,
    state: State,
    /// The message being read, when it spans reads: at most `max + 2` bytes, room for a CRLF
    /// that is removed before the length is judged.
    current: Vec<u8>,
    /// Bytes of the current message were left out of `current`.
    dropped: bool,
    /// The length header being read, or the first bytes while the framing is undecided.
    header: Vec<u8>,
    /// Offset of the current message's first byte.
    start: u64,
    /// Bytes consumed so far.
    pos: u64,
    stats: FramerStats,
}

impl Framer {
    pub fn new(max_message_bytes: usize) -> Framer {
        let max = max_message_bytes.max(1);
        Framer {
            max,
            discard_limit: discard_limit(max),
            framing: Framing::Undecided,
            state: State::Boundary,
            current: Vec::new(),
            dropped: false,
            header: Vec::with_capacity(MAX_COUNT_DIGITS + 2),
            start: 0,
            pos: 0,
            stats: FramerStats::default(),
        }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Returns and resets the counts gathered so far.
    pub fn take_stats(&mut self) -> FramerStats {
        std::mem::take(&mut self.stats)
    }

    /// Consumes `data` (the next bytes of the connection); every message it completes goes to
    /// `emit`, in order.
    pub fn feed(&mut self, mut data: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> Feed {
        while !data.is_empty() {
            match self.state {
                State::Boundary => {
                    if self.framing == Framing::NonTransparent {
                        self.start_message(State::Line);
                        continue;
                    }
                    // Separators some senders put between counted frames (and blank lines
                    // before the first message) carry nothing.
                    let skip = data
                        .iter()
                        .take_while(|b| matches!(b, b'\n' | b'\r'))
                        .count();
                    data = self.consume(data, skip);
                    if !data.is_empty() {
                        self.header.clear();
                        self.start_message(State::Header);
                    }
                }
                State::Header => {
                    let byte = data[0];
                    data = self.consume(data, 1);
                    self.header.push(byte);
                    let detecting = self.framing == Framing::Undecided;
                    match parse_header(&self.header, detecting) {
                        Header::NeedMore => {}
                        Header::Count(count) => {
                            self.framing = Framing::OctetCounting;
                            if detecting {
                                // The `<` that decided it is the message's first byte.
                                self.current.push(b'<');
                                self.state = State::Body {
                                    remaining: count - 1,
                                };
                                if count == 1 {
                                    self.end_frame(emit);
                                }
                            } else {
                                self.state = State::Body { remaining: count };
                            }
                        }
                        Header::NotOctet => {
                            if self.framing == Framing::OctetCounting {
                                self.stats.framing_errors += 1;
                            }
                            self.framing = Framing::NonTransparent;
                            self.state = State::Line;
                            // What was taken for a header is the start of a line: read it again
                            // as such. Only its last byte can be a `\n`: every earlier one was a
                            // digit or a space.
                            let header = std::mem::take(&mut self.header);
                            self.pos -= header.len() as u64;
                            let garbage = match header.split_last() {
                                Some((b'\n', before)) => {
                                    let g = self.append_line(before, emit);
                                    self.newline(emit);
                                    g
                                }
                                _ => self.append_line(&header, emit),
                            };
                            self.header = header;
                            self.header.clear();
                            if garbage == Feed::Garbage {
                                return Feed::Garbage;
                            }
                        }
                    }
                }
                State::Body { remaining } => {
                    let n = (data.len() as u64).min(remaining) as usize;
                    let (piece, rest) = data.split_at(n);
                    let remaining = remaining - n as u64;
                    if remaining == 0 && self.current.is_empty() && !self.dropped {
                        // The whole frame is in this read: no copy.
                        self.pos += n as u64;
                        self.emit_finished(piece, false, emit);
                        self.state = State::Boundary;
                    } else {
                        self.keep(piece);
                        self.pos += n as u64;
                        self.state = State::Body { remaining };
                        if remaining == 0 {
                            self.end_frame(emit);
                        }
                    }
                    data = rest;
                }
                State::Line => {
                    let newline = memchr::memchr(b'\n', data);
                    let len = newline.unwrap_or(data.len());
                    let (piece, rest) = data.split_at(len);
                    if newline.is_some() && self.current.is_empty() {
                        // The whole line is in this read: no copy.
                        self.pos += len as u64 + 1;
                        self.emit_finished(piece, false, emit);
                        self.state = State::Boundary;
                    } else {
                        if self.append_line(piece, emit) == Feed::Garbage {
                            return Feed::Garbage;
                        }
                        if newline.is_some() {
                            self.newline(emit);
                        }
                    }
                    data = rest.get(1..).unwrap_or_default();
                }
                State::SkipLine { skipped } => match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        data = self.consume(data, i + 1);
                        self.state = State::Boundary;
                    }
                    None => {
                        let skipped = skipped + data.len() as u64;
                        data = self.consume(data, data.len());
                        self.state = State::SkipLine { skipped };
                        if skipped > self.discard_limit {
                            return Feed::Garbage;
                        }
                    }
                },
            }
        }
        Feed::Continue
    }

    /// The connection ended: what was read of an unfinished message is sent as it is (an
    /// incomplete counted frame is marked truncated: its end never came).
    pub fn finish(&mut self, emit: &mut dyn FnMut(Frame<'_>)) {
        match self.state {
            State::Boundary | State::SkipLine { .. } => {}
            State::Header => {
                let header = std::mem::take(&mut self.header);
                self.emit_finished(&header, false, emit);
                self.header = header;
                self.header.clear();
            }
            State::Body { .. } => {
                self.dropped = true;
                self.end_frame(emit);
            }
            State::Line => {
                if !self.current.is_empty() {
                    self.end_message(emit);
                }
            }
        }
        self.state = State::Boundary;
    }

    fn consume<'d>(&mut self, data: &'d [u8], n: usize) -> &'d [u8] {
        self.pos += n as u64;
        &data[n..]
    }

    fn start_message(&mut self, state: State) {
        self.start = self.pos;
        self.current.clear();
        self.dropped = false;
        self.state = state;
    }

    /// Keeps what fits of `piece` in the current message.
    fn keep(&mut self, piece: &[u8]) {
        let room = self
            .max
            .saturating_add(2)
            .saturating_sub(self.current.len());
        if piece.len() > room {
            self.dropped = true;
        }
        self.current
            .extend_from_slice(&piece[..piece.len().min(room)]);
    }

    /// Adds bytes of a newline-framed message (no `\n` among them). When the message outgrows
    /// its bound it is sent, cut, at once and the rest of the line is skipped.
    fn append_line(&mut self, piece: &[u8], emit: &mut dyn FnMut(Frame<'_>)) -> Feed {
        let room = self
            .max
            .saturating_add(2)
            .saturating_sub(self.current.len());
        let over = piece.len().saturating_sub(room) as u64;
        self.keep(piece);
        self.pos += piece.len() as u64;
        if !self.dropped {
            return Feed::Continue;
        }
        self.end_message(emit);
        self.state = State::SkipLine { skipped: over };
        if over > self.discard_limit {
            return Feed::Garbage;
        }
        Feed::Continue
    }

    /// The `\n` of a newline-framed message: it ends the message, or the skipped rest of a
    /// message already sent cut.
    fn newline(&mut self, emit: &mut dyn FnMut(Frame<'_>)) {
        self.pos += 1;
        if self.state == State::Line {
            self.end_message(emit);
        }
        self.state = State::Boundary;
    }

    /// The last byte of an octet-counted frame was consumed.
    fn end_frame(&mut self, emit: &mut dyn FnMut(Frame<'_>)) {
        self.end_message(emit);
        self.state = State::Boundary;
    }

    fn end_message(&mut self, emit: &mut dyn FnMut(Frame<'_>)) {
        let current = std::mem::take(&mut self.current);
        let dropped = self.dropped;
        self.emit_finished(&current, dropped, emit);
        self.current = current;
        self.current.clear();
        self.dropped = false;
    }

    /// Removes the terminator and applies the size bound, then hands the message out.
    fn emit_finished(&mut self, raw: &[u8], dropped: bool, emit: &mut dyn FnMut(Frame<'_>)) {
        let (data, truncated) = bound(raw, dropped, self.max);
        if truncated {
            self.stats.cut += 1;
        }
        emit(Frame {
            data,
            start: self.start,
            end: self.pos,
            truncated,
        });
    }
}

/// A message without its trailing `\n` / `\r\n` / `\r`, cut to `max`. When bytes were dropped
/// the end of `raw` is not the end of the message, so nothing is stripped.
fn bound(raw: &[u8], dropped: bool, max: usize) -> (&[u8], bool) {
    if dropped {
        return (&raw[..raw.len().min(max)], true);
    }
    let mut body = raw;
    if let [rest @ .., b'\n'] = body {
        body = rest;
    }
    if let [rest @ .., b'\r'] = body {
        body = rest;
    }
    if body.len() > max {
        (&body[..max], true)
    } else {
        (body, false)
    }
}

/// Reads a length header so far. While `detecting`, octet counting also needs the `<` after
/// the space; afterwards any `DIGITS SP` is a frame header.
fn parse_header(h: &[u8], detecting: bool) -> Header {
    let digits = h.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_COUNT_DIGITS || h.first() == Some(&b'0') {
        return Header::NotOctet;
    }
    if digits == h.len() {
        return Header::NeedMore;
    }
    if digits == 0 || h[digits] != b' ' {
        return Header::NotOctet;
    }
    let count = h[..digits]
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    if !detecting {
        return Header::Count(count);
    }
    match h.get(digits + 1) {
        None => Header::NeedMore,
        Some(b'<') => Header::Count(count),
        Some(_) => Header::NotOctet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Owned {
        data: String,
        start: u64,
        end: u64,
        truncated: bool,
    }

    fn run(framer: &mut Framer, chunks: &[&[u8]]) -> (Vec<Owned>, Feed) {
        let mut out = Vec::new();
        let mut result = Feed::Continue;
        for c in chunks {
            result = framer.feed(c, &mut |f| {
                out.push(Owned {
                    data: String::from_utf8_lossy(f.data).into_owned(),
                    start: f.start,
                    end: f.end,
                    truncated: f.truncated,
                })
            });
            if result == Feed::Garbage {
                break;
            }
        }
        (out, result)
    }

    fn texts(v: &[Owned]) -> Vec<&str> {
        v.iter().map(|o| o.data.as_str()).collect()
    }

    /// Feeds `input` split at every possible place (and byte by byte); the messages must not
    /// depend on how the reads fell.
    fn all_splits(max: usize, input: &[u8]) -> Vec<Owned> {
        // Where a cut message ends depends on when the cut was seen; everything else may not.
        let key = |v: &[Owned]| -> Vec<Owned> {
            v.iter()
                .map(|o| Owned {
                    end: if o.truncated { 0 } else { o.end },
                    ..o.clone()
                })
                .collect()
        };
        let mut whole = Framer::new(max);
        let (expected, _) = run(&mut whole, &[input]);
        for at in 0..=input.len() {
            let mut f = Framer::new(max);
            let (got, _) = run(&mut f, &[&input[..at], &input[at..]]);
            assert_eq!(key(&got), key(&expected), "split at {at}");
        }
        let mut f = Framer::new(max);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let (got, _) = run(&mut f, &bytes);
        assert_eq!(key(&got), key(&expected), "byte by byte");
        expected
    }

    #[test]
    fn newline_framing_with_crlf_and_blank_lines() {
        let input = b"<13>one\r\n<13>two\n\n<13>three\n";
        let got = all_splits(100, input);
        assert_eq!(texts(&got), vec!["<13>one", "<13>two", "", "<13>three"]);
        assert_eq!((got[0].start, got[0].end), (0, 9));
        assert_eq!((got[1].start, got[1].end), (9, 17));
        assert!(got.iter().all(|o| !o.truncated));
        let mut f = Framer::new(100);
        run(&mut f, &[input]);
        assert_eq!(f.framing(), Framing::NonTransparent);
    }

    #[test]
    fn octet_counting_split_across_reads() {
        let input = b"8 <13>abcd11 <13>hello w\n5 <1>xy";
        let got = all_splits(100, input);
        assert_eq!(texts(&got), vec!["<13>abcd", "<13>hello w", "<1>xy"]);
        assert_eq!((got[0].start, got[0].end), (0, 10));
        assert_eq!((got[1].start, got[1].end), (10, 24));
        assert_eq!(got[2].start, 25, "the newline between frames is skipped");
        let mut f = Framer::new(100);
        run(&mut f, &[input]);
        assert_eq!(f.framing(), Framing::OctetCounting);
    }

    #[test]
    fn octet_frame_may_carry_newlines_and_a_trailing_newline() {
        let got = all_splits(100, b"16 <13>line1\nline2\n6 <13>x\n");
        assert_eq!(texts(&got), vec!["<13>line1\nline2", "<13>x"]);
    }

    #[test]
    fn digits_without_pri_mean_newline_framing() {
        for input in [
            &b"123 hello\n<13>next\n"[..],
            b"12345\n",
            b"0 <13>zero length\n",
            b"05 <13>x\n",
            b"1234567890 <13>ten digits\n",
            b"12x\n",
        ] {
            let got = all_splits(100, input);
            let expected: Vec<&str> = std::str::from_utf8(input).unwrap().lines().collect();
            assert_eq!(
                texts(&got),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn bad_count_after_good_frames_falls_back_to_newlines() {
        let input = b"6 <13>a\nbogus header\n7 <13>bc\n";
        let mut f = Framer::new(100);
        let (got, result) = run(&mut f, &[input]);
        assert_eq!(result, Feed::Continue);
        assert_eq!(texts(&got), vec!["<13>a", "bogus header", "7 <13>bc"]);
        assert_eq!(f.framing(), Framing::NonTransparent);
        assert_eq!(f.take_stats().framing_errors, 1);
        assert_eq!(all_splits(100, input), got);

        // A header that ends at a newline is a message of its own.
        let mut f = Framer::new(100);
        let (got, _) = run(&mut f, &[b"6 <13>ab12\nrest\n"]);
        assert_eq!(texts(&got), vec!["<13>ab", "12", "rest"]);
    }

    #[test]
    fn long_octet_frame_keeps_its_head_and_finds_the_next_frame() {
        let mut input = b"30 <13>".to_vec();
        input.extend_from_slice(&[b'x'; 26]);
        input.extend_from_slice(b"4 <1>y");
        let got = all_splits(10, &input);
        assert_eq!(texts(&got), vec!["<13>xxxxxx", "<1>y"]);
        assert_eq!(
            got.iter().map(|o| o.truncated).collect::<Vec<_>>(),
            vec![true, false]
        );
        assert_eq!(got[0].end, 33, "the whole frame was consumed");
        let mut f = Framer::new(10);
        run(&mut f, &[&input]);
        assert_eq!(f.take_stats().cut, 1);
    }

    #[test]
    fn exact_size_with_crlf_is_not_truncated() {
        let got = all_splits(5, b"abcde\r\nabcdef\r\nnext\n");
        assert_eq!(texts(&got), vec!["abcde", "abcde", "next"]);
        assert_eq!(
            got.iter().map(|o| o.truncated).collect::<Vec<_>>(),
            vec![false, true, false]
        );
        let got = all_splits(6, b"8 <1>abc\r\n8 <1>abcd\n");
        assert_eq!(texts(&got), vec!["<1>abc", "<1>abc"]);
        assert_eq!(
            got.iter().map(|o| o.truncated).collect::<Vec<_>>(),
            vec![false, true]
        );
    }

    #[test]
    fn long_line_is_cut_sent_and_its_rest_skipped() {
        let mut input = b"<13>".to_vec();
        input.extend_from_slice(&[b'y'; 50]);
        input.extend_from_slice(b"\n<13>after\n");
        let got = all_splits(8, &input);
        assert_eq!(texts(&got), vec!["<13>yyyy", "<13>afte"]);
        assert!(got[0].truncated && got[1].truncated);

        // The cut message goes out before its line ends.
        let mut f = Framer::new(8);
        let (got, result) = run(&mut f, &[&input[..20]]);
        assert_eq!(result, Feed::Continue);
        assert_eq!(texts(&got), vec!["<13>yyyy"]);
    }

    #[test]
    fn endless_bytes_without_framing_are_garbage() {
        let max = 1024;
        let limit = discard_limit(max);
        let chunk = vec![b'z'; 64 * 1024];
        let mut f = Framer::new(max);
        let mut messages = Vec::new();
        let mut fed = 0u64;
        let mut result = Feed::Continue;
        while fed < 10 * 1024 * 1024 {
            result = f.feed(&chunk, &mut |fr| {
                messages.push((fr.data.len(), fr.truncated))
            });
            fed += chunk.len() as u64;
            if result == Feed::Garbage {
                break;
            }
        }
        assert_eq!(result, Feed::Garbage);
        assert!(
            fed <= limit + 2 * chunk.len() as u64,
            "stopped early: {fed}"
        );
        assert_eq!(messages, vec![(max, true)]);

        // In one big read as well.
        let mut f = Framer::new(max);
        let big = vec![b'z'; (limit as usize) + max + 100];
        let mut n = 0;
        assert_eq!(f.feed(&big, &mut |_| n += 1), Feed::Garbage);
        assert_eq!(n, 1);
    }

    #[test]
    fn a_long_line_within_the_discard_limit_is_not_garbage() {
        let mut input = vec![b'q'; 100_000];
        input.push(b'\n');
        input.extend_from_slice(b"ok\n");
        let mut f = Framer::new(1000);
        let (got, result) = run(&mut f, &input.chunks(4096).collect::<Vec<_>>());
        assert_eq!(result, Feed::Continue);
        assert_eq!(got.len(), 2);
        assert!(got[0].truncated && got[0].data.len() == 1000);
        assert_eq!(got[1].data, "ok");
    }

    #[test]
    fn end_of_stream_flushes_what_was_read() {
        let mut f = Framer::new(100);
        let (got, _) = run(&mut f, &[b"<13>a\n<13>no newline"]);
        assert_eq!(texts(&got), vec!["<13>a"]);
        let mut rest = Vec::new();
        f.finish(&mut |fr| {
            rest.push((String::from_utf8_lossy(fr.data).into_owned(), fr.truncated))
        });
        assert_eq!(rest, vec![("<13>no newline".to_string(), false)]);

        let mut f = Framer::new(100);
        run(&mut f, &[b"20 <13>short"]);
        let mut rest = Vec::new();
        f.finish(&mut |fr| {
            rest.push((String::from_utf8_lossy(fr.data).into_owned(), fr.truncated))
        });
        assert_eq!(
            rest,
            vec![("<13>short".to_string(), true)],
            "an unfinished frame is incomplete"
        );

        let mut f = Framer::new(100);
        run(&mut f, &[b"12"]);
        let mut rest = Vec::new();
        f.finish(&mut |fr| rest.push(String::from_utf8_lossy(fr.data).into_owned()));
        assert_eq!(rest, vec!["12"], "an undecided start is still data");
    }

    #[test]
    fn tiny_bound_with_header_fallback() {
        // A bound smaller than the bytes that were taken for a header.
        let mut f = Framer::new(2);
        let (got, _) = run(&mut f, &[b"123456 x\nab\n"]);
        assert_eq!(texts(&got), vec!["12", "ab"]);
        assert!(got[0].truncated && !got[1].truncated);
    }
}
