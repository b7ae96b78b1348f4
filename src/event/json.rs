//! Event -> JSON document bytes, on the worker threads.
//!
//! Dotted names are re-nested: fields are ordered segment-wise (so `a`, `a.b`, `a.c` sit
//! together), and the writer opens and closes objects as the common prefix changes. A scalar
//! that collides with an object of the same name (`a` = 1 and `a.b` = 2) is written as
//! `a.value`, the convention ECS uses for such leaves, instead of producing a duplicate key
//! Elasticsearch would reject.

use std::cmp::Ordering;

use super::{Event, Text, Value};

/// Options of the document writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocumentOptions {
    /// Leave `message` out of the document (DESIGN.md: "unless configured off").
    pub omit_message: bool,
}

/// Segment-wise order of dotted names: `.` sorts before every other byte.
fn compare_names(a: &str, b: &str) -> Ordering {
    let key = |c: u8| if c == b'.' { 0 } else { c };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

/// Most segments a name is split into; a deeper name keeps its remaining dots in the leaf.
const MAX_SEGMENTS: usize = 16;

/// Splits a dotted name into `segs` without allocating; returns how many segments it has.
fn split_segments<'a>(name: &'a str, segs: &mut [&'a str; MAX_SEGMENTS]) -> usize {
    let mut n = 0;
    let mut start = 0;
    for dot in memchr::memchr_iter(b'.', name.as_bytes()) {
        if n == MAX_SEGMENTS - 1 {
            break;
        }
        // `.` is ASCII, so both sides of it are character boundaries.
        segs[n] = &name[start..dot];
        n += 1;
        start = dot + 1;
    }
    segs[n] = &name[start..];
    n + 1
}

/// Appends the event as one JSON object (no newline).
pub fn write_document(event: &Event, opts: DocumentOptions, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    if let Some(ts) = event.timestamp {
        out.extend_from_slice(b"\"@timestamp\":\"");
        ts.write_rfc3339(out);
        out.push(b'"');
        first = false;
    }

    // Indices of the fields to write, in name order, keeping the last write of equal names.
    let mut order: Vec<usize> = (0..event.fields.len())
        .filter(|&i| {
            let n = &event.fields[i].0;
            n != "@timestamp" && n != "tags" && !(opts.omit_message && n == "message")
        })
        .collect();
    order.sort_by(|&a, &b| compare_names(&event.fields[a].0, &event.fields[b].0).then(a.cmp(&b)));
    order.dedup_by(|later, earlier| {
        // dedup_by passes (current, previous kept); keep the later index of equal names.
        if event.fields[*later].0 == event.fields[*earlier].0 {
            *earlier = *later;
            true
        } else {
            false
        }
    });

    // Stack of open object names (segments).
    let mut open: Vec<&str> = Vec::with_capacity(MAX_SEGMENTS);
    let mut seg_buf: [&str; MAX_SEGMENTS] = [""; MAX_SEGMENTS];
    for (pos, &i) in order.iter().enumerate() {
        let name: &str = &event.fields[i].0;
        let n = split_segments(name, &mut seg_buf);
        let segs = &seg_buf[..n];
        // Close objects not shared with this name.
        let mut common = 0;
        while common < open.len() && common + 1 < segs.len() && open[common] == segs[common] {
            common += 1;
        }
        while open.len() > common {
            open.pop();
            out.push(b'}');
        }
        // Open the objects this name needs.
        for seg in &segs[common..segs.len() - 1] {
            if !first {
                out.push(b',');
            }
            write_str(out, seg);
            out.extend_from_slice(b":{");
            open.push(seg);
            first = true;
        }
        let leaf = segs[segs.len() - 1];
        // A leaf that is also the prefix of the next name becomes `leaf.value`.
        let collides = order.get(pos + 1).is_some_and(|&j| {
            let next: &str = &event.fields[j].0;
            next.len() > name.len() && next.starts_with(name) && next.as_bytes()[name.len()] == b'.'
        });
        if !first {
            out.push(b',');
        }
        if collides {
            write_str(out, leaf);
            out.extend_from_slice(b":{\"value\":");
            write_value(event, &event.fields[i].1, out);
            // Keep the object open: the following names live inside it.
            open.push(leaf);
            first = false;
        } else {
            write_str(out, leaf);
            out.push(b':');
            write_value(event, &event.fields[i].1, out);
            first = false;
        }
    }
    for _ in 0..open.len() {
        out.push(b'}');
    }
    if !event.tags.is_empty() {
        if !first || event.timestamp.is_some() || !order.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(b"\"tags\":[");
        for (k, t) in event.tags.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            write_str(out, t);
        }
        out.push(b']');
    }
    out.push(b'}');
}

fn write_value(event: &Event, v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::Float(f) => {
            if f.is_finite() {
                out.extend_from_slice(ryu::Buffer::new().format_finite(*f).as_bytes())
            } else {
                out.extend_from_slice(b"null")
            }
        }
        Value::Str(t) => write_str(out, text(event, t)),
        Value::Ip(ip) => {
            out.push(b'"');
            use std::io::Write;
            let _ = write!(out, "{ip}");
            out.push(b'"');
        }
        Value::Timestamp(ts) => {
            out.push(b'"');
            ts.write_rfc3339(out);
            out.push(b'"');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_value(event, item, out);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (k, (name, item)) in fields.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                write_str(out, name);
                out.push(b':');
                write_value(event, item, out);
            }
            out.push(b'}');
        }
    }
}

fn text<'a>(event: &'a Event, t: &'a Text) -> &'a str {
    event.text(t)
}

/// Writes `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Most text needs no escaping: skip eight clean bytes at a time.
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !needs_escape(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]);
                i += 1;
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// True when one of the eight bytes of `w` is a control character, a quote or a backslash (SWAR: a
/// byte-wise "less than" and two byte-wise "equals" on a whole word).
#[inline]
fn needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    // Bytes below 0x20; bytes >= 0x80 are excluded by `!w`.
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (control | has_zero(w ^ (ONES * b'"' as u64)) | has_zero(w ^ (ONES * b'\\' as u64))) != 0
}

/// The document as a `String` (tests, `logpipe parse`).
pub fn to_json_string(event: &Event, opts: DocumentOptions) -> String {
    let mut out = Vec::with_capacity(event.raw.len() * 2 + 64);
    write_document(event, opts, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{RecordOrigin, Timestamp};

    fn parse(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("invalid JSON {s}: {e}"))
    }

    #[test]
    fn nests_dotted_names() {
        let mut e = Event::new("1.2.3.4 GET".into(), RecordOrigin::default());
        e.timestamp = Some(Timestamp::from_unix(0, 0, 0).unwrap());
        e.push("source.ip", Value::Ip("1.2.3.4".parse().unwrap()));
        e.push_span("http.request.method", 8, 11);
        e.push("http.response.status_code", Value::Int(200));
        e.push("source.address", Value::Str(Text::Static("1.2.3.4")));
        e.push("http-x", Value::Bool(true));
        e.add_tag("t1");
        let doc = parse(&to_json_string(&e, DocumentOptions::default()));
        assert_eq!(doc["@timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(doc["source"]["ip"], "1.2.3.4");
        assert_eq!(doc["source"]["address"], "1.2.3.4");
        assert_eq!(doc["http"]["request"]["method"], "GET");
        assert_eq!(doc["http"]["response"]["status_code"], 200);
        assert_eq!(doc["http-x"], true);
        assert_eq!(doc["tags"][0], "t1");
    }

    #[test]
    fn last_write_wins_and_collisions_stay_valid() {
        let mut e = Event::new(String::new(), RecordOrigin::default());
        e.push("a", Value::Int(1));
        e.push("a.b", Value::Int(2));
        e.push("x", Value::Int(1));
        e.push("x", Value::Int(3));
        let doc = parse(&to_json_string(&e, DocumentOptions::default()));
        assert_eq!(doc["a"]["value"], 1);
        assert_eq!(doc["a"]["b"], 2);
        assert_eq!(doc["x"], 3);
    }

    #[test]
    fn escapes_control_and_quotes() {
        let mut e = Event::new(String::new(), RecordOrigin::default());
        e.push("m", Value::owned_str("a\"b\\c\n\u{1}é"));
        let s = to_json_string(&e, DocumentOptions::default());
        assert_eq!(parse(&s)["m"], "a\"b\\c\n\u{1}é");
    }

    #[test]
    fn escape_detection_matches_the_bytewise_rule() {
        let bytewise = |w: [u8; 8]| w.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let w = state.to_le_bytes();
            assert_eq!(needs_escape(state), bytewise(w), "{w:?}");
        }
        for b in 0..=255u8 {
            let w = [b'a', b'b', b, 0xc3, 0xa9, b'z', b'z', b'z'];
            assert_eq!(needs_escape(u64::from_le_bytes(w)), bytewise(w), "byte {b}");
        }
    }

    #[test]
    fn long_and_deep_names_stay_valid() {
        let mut e = Event::new(String::new(), RecordOrigin::default());
        let deep: String = (0..20)
            .map(|i| format!("s{i}"))
            .collect::<Vec<_>>()
            .join(".");
        e.push(deep.clone(), Value::Int(1));
        e.push(
            "m",
            Value::owned_str("a long text with \"quotes\" and \\ and\ttabs é ünïcode".repeat(3)),
        );
        let doc = parse(&to_json_string(&e, DocumentOptions::default()));
        assert_eq!(
            doc["m"],
            "a long text with \"quotes\" and \\ and\ttabs é ünïcode".repeat(3)
        );
        let mut v = &doc;
        for i in 0..15 {
            v = &v[format!("s{i}")];
        }
        assert_eq!(v["s15.s16.s17.s18.s19"], 1, "{doc}");
    }

    #[test]
    fn empty_event_is_an_object() {
        let e = Event::new(String::new(), RecordOrigin::default());
        assert_eq!(to_json_string(&e, DocumentOptions::default()), "{}");
        let mut e = Event::new(String::new(), RecordOrigin::default());
        e.add_tag("x");
        assert_eq!(
            parse(&to_json_string(&e, DocumentOptions::default()))["tags"][0],
            "x"
        );
    }
}
