//! Event -> JSON document bytes, on the worker threads.
//!
//! Dotted names are re-nested: fields are ordered segment-wise (so `a`, `a.b`, `a.c` sit
//! together), and the writer opens and closes objects as the common prefix changes. A scalar
//! that collides with an object of the same name (`a` = 1 and `a.b` = 2) is written as
//! `a.value`, the convention ECS uses for such leaves, instead of producing a duplicate key
//! Elasticsearch would reject.

use std::cmp::Ordering;

use super::shape::ShapeCache;
use super::{Event, Text, Value};

/// Options of the document writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocumentOptions {
    /// Leave `message` out of the document (DESIGN.md: "unless configured off").
    pub omit_message: bool,
}

/// Segment-wise order of dotted names: `.` sorts before every other byte.
fn compare_names(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    // Names of one event share long prefixes (`source.geo.`): skip equal words first, and map
    // only the first differing byte.
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(word_at(a, i));
        let y = u64::from_le_bytes(word_at(b, i));
        if x != y {
            i += ((x ^ y).trailing_zeros() / 8) as usize;
            return key_cmp(a[i], b[i]);
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return key_cmp(a[i], b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

fn word_at(s: &[u8], i: usize) -> [u8; 8] {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    w
}

fn key_cmp(a: u8, b: u8) -> Ordering {
    let key = |c: u8| if c == b'.' { 0 } else { c };
    key(a).cmp(&key(b))
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
    let stamped = event.timestamp.is_some();
    if let Some(ts) = event.timestamp {
        out.extend_from_slice(b"\"@timestamp\":\"");
        ts.write_rfc3339(out);
        out.push(b'"');
    }
    let seed = u64::from(opts.omit_message) << 1 | u64::from(stamped);
    let cached = LAYOUTS.with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        let layout = cache.get_or_insert_with(&event.fields, &event.shape_hint, seed, || {
            Layout::build(event, opts, stamped)
        })?;
        Some(layout.write(event, out))
    });
    let wrote_fields = match cached {
        Some(wrote) => wrote,
        None => Layout::build(event, opts, stamped).write(event, out),
    };
    if !event.tags.is_empty() {
        if stamped || wrote_fields {
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

/// How the fields of an event are written: which field goes where, and the JSON between values
/// (`,"source":{"geo":{"city_name":`). It depends only on the event's shape (see
/// `event::shape`), so it is computed once per shape and thread: the sort and the re-nesting of
/// dotted names run once per shape, not once per event.
struct Layout {
    /// (field index, end of its prefix in `bytes`), in output order.
    steps: Box<[(u32, u32)]>,
    /// Prefixes back to back, then the closing braces.
    bytes: Box<[u8]>,
}

impl Layout {
    fn build(event: &Event, opts: DocumentOptions, stamped: bool) -> Layout {
        // Indices of the fields to write, in name order, keeping the last write of equal names.
        let mut order: Vec<usize> = (0..event.fields.len())
            .filter(|&i| {
                let n = &event.fields[i].0;
                n != "@timestamp" && n != "tags" && !(opts.omit_message && n == "message")
            })
            .collect();
        order.sort_by(|&a, &b| {
            compare_names(&event.fields[a].0, &event.fields[b].0).then(a.cmp(&b))
        });
        order.dedup_by(|later, earlier| {
            // dedup_by passes (current, previous kept); keep the later index of equal names.
            if event.fields[*later].0 == event.fields[*earlier].0 {
                *earlier = *later;
                true
            } else {
                false
            }
        });

        let mut bytes = Vec::with_capacity(order.len() * 16);
        let mut steps = Vec::with_capacity(order.len());
        let mut first = !stamped;
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
                bytes.push(b'}');
            }
            // Open the objects this name needs.
            for seg in &segs[common..segs.len() - 1] {
                if !first {
                    bytes.push(b',');
                }
                write_str(&mut bytes, seg);
                bytes.extend_from_slice(b":{");
                open.push(seg);
                first = true;
            }
            let leaf = segs[segs.len() - 1];
            // A leaf that is also the prefix of the next name becomes `leaf.value`.
            let collides = order.get(pos + 1).is_some_and(|&j| {
                let next: &str = &event.fields[j].0;
                next.len() > name.len()
                    && next.starts_with(name)
                    && next.as_bytes()[name.len()] == b'.'
            });
            if !first {
                bytes.push(b',');
            }
            write_str(&mut bytes, leaf);
            if collides {
                bytes.extend_from_slice(b":{\"value\":");
                // Keep the object open: the following names live inside it.
                open.push(leaf);
            } else {
                bytes.push(b':');
            }
            first = false;
            steps.push((i as u32, bytes.len() as u32));
        }
        bytes.extend(std::iter::repeat_n(b'}', open.len()));
        Layout {
            steps: steps.into(),
            bytes: bytes.into(),
        }
    }

    /// Writes the fields; true when at least one was written.
    fn write(&self, event: &Event, out: &mut Vec<u8>) -> bool {
        let mut at = 0;
        for &(i, end) in self.steps.iter() {
            let end = end as usize;
            out.extend_from_slice(&self.bytes[at..end]);
            at = end;
            write_value(event, &event.fields[i as usize].1, out);
        }
        out.extend_from_slice(&self.bytes[at..]);
        !self.steps.is_empty()
    }
}

/// Layouts kept per thread; a pipeline has a few dozen shapes.
const LAYOUT_CACHE_MAX: usize = 512;

thread_local! {
    static LAYOUTS: std::cell::RefCell<ShapeCache<Layout>> =
        std::cell::RefCell::new(ShapeCache::new(LAYOUT_CACHE_MAX));
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
        Value::Ip(std::net::IpAddr::V4(ip)) => {
            out.push(b'"');
            let mut buf = itoa::Buffer::new();
            for (k, octet) in ip.octets().into_iter().enumerate() {
                if k > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(buf.format(octet).as_bytes());
            }
            out.push(b'"');
        }
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
        Value::GeoPoint { lat, lon } => {
            out.extend_from_slice(b"{\"lat\":");
            write_value(event, &Value::Float(*lat), out);
            out.extend_from_slice(b",\"lon\":");
            write_value(event, &Value::Float(*lon), out);
            out.push(b'}');
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
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    // Most text needs no escaping: test eight bytes at a time, and jump straight to the first
    // byte that does (the lowest flagged byte of the mask is exact).
    while i + 8 <= bytes.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i..i + 8]);
        let mask = escape_mask(u64::from_le_bytes(word));
        if mask == 0 {
            i += 8;
            continue;
        }
        let j = i + (mask.trailing_zeros() / 8) as usize;
        out.extend_from_slice(&bytes[start..j]);
        write_escape(out, bytes[j]);
        i = j + 1;
        start = i;
    }
    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x20 || b == b'"' || b == b'\\' {
            out.extend_from_slice(&bytes[start..i]);
            write_escape(out, b);
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_escape(out: &mut Vec<u8>, b: u8) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        }
    }
}

/// The high bit of each of the eight bytes of `w` that is a control character, a quote or a
/// backslash (SWAR: a byte-wise "less than" and two byte-wise "equals" on a whole word). Bits
/// above the lowest set one may be spurious (borrows); the lowest is exact.
#[inline]
fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    // Bytes below 0x20; bytes >= 0x80 are excluded by `!w`.
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | has_zero(w ^ (ONES * b'"' as u64)) | has_zero(w ^ (ONES * b'\\' as u64))
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
    fn a_location_is_a_geo_point_object() {
        let mut e = Event::new(String::new(), RecordOrigin::default());
        e.push(
            "source.geo.location",
            Value::GeoPoint {
                lat: 51.5128,
                lon: -0.0918,
            },
        );
        let s = to_json_string(&e, DocumentOptions::default());
        assert!(
            s.contains(r#""location":{"lat":51.5128,"lon":-0.0918}"#),
            "{s}"
        );
        let doc = parse(&s);
        assert_eq!(doc["source"]["geo"]["location"]["lat"], 51.5128);
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
        // The writer jumps to the lowest flagged byte: it must be the first byte that needs an
        // escape, and no word with such a byte may go unflagged.
        let first = |w: [u8; 8]| w.iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\');
        let lowest = |m: u64| (m != 0).then(|| (m.trailing_zeros() / 8) as usize);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let w = state.to_le_bytes();
            assert_eq!(lowest(escape_mask(state)), first(w), "{w:?}");
        }
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut w = [b'a', b'"', b'z', 0xc3, 0xa9, b'z', b'\\', b'z'];
                w[at] = b;
                assert_eq!(
                    lowest(escape_mask(u64::from_le_bytes(w))),
                    first(w),
                    "{w:?}"
                );
            }
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
    fn cached_layouts_follow_the_names_and_options() {
        // The same shape with other values, then the shape with `message` left out, then a
        // shape that differs only by a later duplicate: each document matches its own event.
        let event = |status: i64, dup: bool| {
            let mut e = Event::new("GET x".into(), RecordOrigin::default());
            e.timestamp = Some(Timestamp::from_unix(0, 0, 0).unwrap());
            e.push_span("message", 0, 5);
            e.push("http.response.status_code", Value::Int(status));
            e.push_span("http.request.method", 0, 3);
            if dup {
                e.push("http.response.status_code", Value::Int(599));
            }
            e
        };
        let full = DocumentOptions::default();
        let omit = DocumentOptions { omit_message: true };
        for _ in 0..2 {
            let a = parse(&to_json_string(&event(200, false), full));
            assert_eq!(a["http"]["response"]["status_code"], 200);
            assert_eq!(a["message"], "GET x");
            let b = parse(&to_json_string(&event(404, false), full));
            assert_eq!(b["http"]["response"]["status_code"], 404);
            let c = parse(&to_json_string(&event(404, false), omit));
            assert!(c.get("message").is_none(), "{c}");
            assert_eq!(c["http"]["request"]["method"], "GET");
            let d = parse(&to_json_string(&event(404, true), full));
            assert_eq!(d["http"]["response"]["status_code"], 599);
            let mut unstamped = event(201, false);
            unstamped.timestamp = None;
            let e = to_json_string(&unstamped, full);
            assert!(e.starts_with("{\"http\""), "{e}");
            assert_eq!(parse(&e)["http"]["response"]["status_code"], 201);
        }
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
