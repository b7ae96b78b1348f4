//! Decode stage: raw bytes of a record -> an [`Event`] with valid UTF-8 text.
//!
//! Bounded, documented treatment of bad bytes (DESIGN.md "bad input"): invalid UTF-8 is replaced
//! with U+FFFD and tagged `_invalid_utf8`; a record the input cut at `max_line_bytes` is tagged
//! `_truncated`; a trailing `\r` (CRLF files) is removed; empty and whitespace-only records are
//! skipped and counted, never indexed.

use crate::event::{Event, RecordOrigin, INVALID_UTF8_TAG, TRUNCATED_TAG};

/// Outcome of decoding one record.
// Nearly every record is an event, and the value is moved once into a batch: boxing it would
// cost an allocation per line to save stack space for the rare empty one.
#[allow(clippy::large_enum_variant)]
pub enum Decoded {
    Event(Event),
    Empty,
}

pub fn decode(bytes: &[u8], origin: RecordOrigin, truncated: bool) -> Decoded {
    let mut bytes = bytes;
    if let [rest @ .., b'\r'] = bytes {
        bytes = rest;
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Decoded::Empty;
    }
    let (raw, invalid) = match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    };
    let mut event = Event::new(raw, origin);
    if invalid {
        event.add_tag(INVALID_UTF8_TAG);
    }
    if truncated {
        event.add_tag(TRUNCATED_TAG);
    }
    Decoded::Event(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(b: &[u8], t: bool) -> Option<Event> {
        match decode(b, RecordOrigin::default(), t) {
            Decoded::Event(e) => Some(e),
            Decoded::Empty => None,
        }
    }

    #[test]
    fn lossy_utf8_is_tagged() {
        let e = ev(b"abc\xff\xfedef", false).unwrap();
        assert_eq!(e.raw, "abc\u{fffd}\u{fffd}def");
        assert!(e.has_tag(INVALID_UTF8_TAG));
        assert!(!ev(b"ok", false).unwrap().has_tag(INVALID_UTF8_TAG));
    }

    #[test]
    fn crlf_empty_and_truncated() {
        assert_eq!(ev(b"line\r", false).unwrap().raw, "line");
        assert!(ev(b"", false).is_none());
        assert!(ev(b"  \t\r", false).is_none());
        assert!(ev(b"cut", true).unwrap().has_tag(TRUNCATED_TAG));
    }
}
