//! The event: what every stage after decode reads and writes.
//!
//! An event keeps the decoded line it came from (`raw`) and a flat list of ECS fields with dotted
//! names (`source.ip`). Parsers store most string values as spans into `raw`, so a parsed NGINX
//! line costs one allocation for the field list rather than one per field. Serialization
//! (`crate::event::json`) re-nests the dotted names into JSON objects, so Elasticsearch sees
//! `{"source":{"ip":..}}` exactly as ECS describes it.
//!
//! Field writes append; when a name is written twice the last write wins, both on lookup (which
//! scans from the end) and on serialization (which keeps the last of equal names).

pub mod json;
pub mod shape;
pub mod timestamp;

use std::borrow::Cow;
use std::net::IpAddr;

pub use timestamp::Timestamp;

/// A field name: ECS names known at compile time are borrowed, dynamic ones (JSON keys) owned.
pub type FieldName = Cow<'static, str>;

/// A string value: a byte range of the event's `raw` line, or text of its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    /// `raw[start..end]`; always on char boundaries.
    Span {
        start: u32,
        end: u32,
    },
    Owned(Box<str>),
    Static(&'static str),
    /// Text every event of a stream carries (host name, file path, Kubernetes fields): a
    /// reference count per event instead of a copy.
    Shared(std::sync::Arc<str>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    Ip(IpAddr),
    Timestamp(Timestamp),
    /// A location, written as ECS's `geo_point` object `{"lat":..,"lon":..}`: held inline, as
    /// GeoIP writes one for nearly every event and an object would be an allocation each.
    GeoPoint {
        lat: f64,
        lon: f64,
    },
    Array(Vec<Value>),
    /// A nested object that cannot be flattened into dotted names (an object inside an array),
    /// or that a parser chose to keep whole.
    Object(Vec<(FieldName, Value)>),
}

impl Value {
    pub fn owned_str(s: impl Into<Box<str>>) -> Value {
        Value::Str(Text::Owned(s.into()))
    }
}

/// Where a record came from: enough to acknowledge it and to derive a stable document id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordOrigin {
    /// Stable identity of the stream (a file's persisted key, a syslog listener, stdin).
    pub stream_key: u64,
    /// Byte offset of the record's first byte in the stream.
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The decoded original line (valid UTF-8, possibly truncated); spans point into it.
    pub raw: String,
    /// `@timestamp`; `None` until a parser or the fallback sets it.
    pub timestamp: Option<Timestamp>,
    pub fields: Vec<(FieldName, Value)>,
    pub tags: Tags,
    pub origin: RecordOrigin,
    /// Index pattern chosen by a tag rule's `index` action, instead of the output's own.
    pub route: Option<std::sync::Arc<str>>,
    /// Ranges of `raw` that hold no free text: format syntax and values the parser validated
    /// (timestamps, status codes, short numbers, `-`). The anonymizer scans only the rest of the
    /// line, piece by piece, so a user agent or referrer seen before costs a lookup instead of a
    /// scan. Empty (the default, and after a parse failure): the whole line is free text.
    /// Set through [`Event::mark_free_text`].
    pub plain: PlainSpans,
    /// The hash of the field names, kept by the first stage that needs it for the others.
    pub shape_hint: shape::ShapeHint,
}

/// An event's tags: most events get none, one or two (an access line's `client_error`, a
/// rule's tag), held without an allocation.
pub type Tags = smallvec::SmallVec<[Cow<'static, str>; 2]>;

/// See [`Event::plain`]; an access line has about six such ranges.
pub type PlainSpans = smallvec::SmallVec<[(u32, u32); 8]>;

impl Event {
    pub fn new(raw: String, origin: RecordOrigin) -> Event {
        Event {
            raw,
            timestamp: None,
            // A parsed access line has about 20 fields and GeoIP adds up to 14: room for them
            // up front costs less than growing the list three times per event.
            fields: Vec::with_capacity(FIELDS_RESERVED),
            tags: Tags::new(),
            origin,
            route: None,
            plain: PlainSpans::new(),
            shape_hint: shape::ShapeHint::default(),
        }
    }

    /// Records that a parser matched the whole of `raw` and that `free`, in line order, are the
    /// only parts of it holding free text (user names, request lines, referrers, user agents,
    /// anything it did not validate): everything between them becomes [`Event::plain`].
    /// Spans out of order, overlapping or outside the line leave the line all free text, so a
    /// parser's mistake costs speed, never a part of the line left unscanned.
    pub fn mark_free_text(&mut self, free: &[(usize, usize)]) {
        self.plain.clear();
        let len = self.raw.len();
        // Offsets are `u32`, as in `Text::Span`; a longer line keeps no map.
        if u32::try_from(len).is_err() {
            return;
        }
        let mut at = 0;
        for &(start, end) in free {
            if start < at || end < start || end > len {
                self.plain.clear();
                return;
            }
            if start > at {
                self.plain.push((at as u32, start as u32));
            }
            at = end;
        }
        if len > at {
            self.plain.push((at as u32, len as u32));
        }
    }

    /// Appends a field without looking for an earlier one of the same name (the hot-path write;
    /// the last write wins everywhere an event is read).
    #[inline]
    pub fn push(&mut self, name: impl Into<FieldName>, value: Value) {
        self.fields.push((name.into(), value));
    }

    /// Stores a span of `raw` as a string field.
    #[inline]
    pub fn push_span(&mut self, name: &'static str, start: usize, end: usize) {
        self.fields
            .push((Cow::Borrowed(name), span_value(start, end)));
    }

    /// Replaces the value of `name` if present, else appends it.
    pub fn set(&mut self, name: impl Into<FieldName>, value: Value) {
        let name = name.into();
        match self.position(&name) {
            Some(i) => self.fields[i].1 = value,
            None => self.fields.push((name, value)),
        }
    }

    /// Removes every value stored under `name`; true when something was removed.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.fields.len();
        self.fields.retain(|(n, _)| n != name);
        before != self.fields.len()
    }

    fn position(&self, name: &str) -> Option<usize> {
        // Names of one length (`url.query`, `user.name`, `source.ip`) mostly differ in their
        // last byte, which is compared before the call that compares the rest.
        let last = name.as_bytes().last();
        self.fields
            .iter()
            .rposition(|(n, _)| n.len() == name.len() && n.as_bytes().last() == last && n == name)
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).map(|i| &self.fields[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.position(name).map(move |i| &mut self.fields[i].1)
    }

    /// The text of a string value of this event.
    pub fn text<'a>(&'a self, text: &'a Text) -> &'a str {
        match text {
            Text::Span { start, end } => self.raw.get(*start as usize..*end as usize).unwrap_or(""),
            Text::Owned(s) => s,
            Text::Static(s) => s,
            Text::Shared(s) => s,
        }
    }

    /// The field as a string, when it is one.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(t) => Some(self.text(t)),
            _ => None,
        }
    }

    pub fn add_tag(&mut self, tag: impl Into<Cow<'static, str>>) {
        let tag = tag.into();
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Marks the event as not understood by its parser: fields a parser may have half-written are
    /// dropped, the original line stays in `message`, and the reason goes to `error.message`.
    pub fn mark_parse_failure(&mut self, reason: impl Into<Box<str>>) {
        self.fields.retain(|(n, _)| is_context_field(n));
        self.plain.clear();
        let len = self.raw.len();
        self.set("message", span_value(0, len));
        self.set("error.message", Value::Str(Text::Owned(reason.into())));
        self.add_tag(PARSE_FAILURE_TAG);
    }
}

/// Fields an event has room for before its list grows.
const FIELDS_RESERVED: usize = 40;

/// Tag of events whose parser did not understand the line.
pub const PARSE_FAILURE_TAG: &str = "_parse_failure";
/// Tag of events whose line was not valid UTF-8 and was decoded lossily.
pub const INVALID_UTF8_TAG: &str = "_invalid_utf8";
/// Tag of events whose line was longer than `max_line_bytes` and was cut.
pub const TRUNCATED_TAG: &str = "_truncated";
/// Tag of container-log lines that were not in the configured envelope (kept whole).
pub const ENVELOPE_FAILURE_TAG: &str = "_envelope_failure";
/// Tag of records a stage failed on (a logpipe bug), indexed with their line and context only.
pub const PROCESSING_FAILURE_TAG: &str = "_processing_failure";
/// Tag of events without a usable timestamp of their own, stamped with the ingest time.
pub const TIMESTAMP_FALLBACK_TAG: &str = "_timestamp_fallback";

/// Fields set by the input and the decode stage rather than by a parser; a parse failure keeps them.
fn is_context_field(name: &str) -> bool {
    name.starts_with("log.file.")
        || name.starts_with("host.")
        || name.starts_with("input.")
        || name.starts_with("container.")
        || name.starts_with("kubernetes.")
        || name == "event.dataset"
        || name == "stream"
        || name == "event.original"
        || name == "log.offset"
}

#[inline]
pub fn span_value(start: usize, end: usize) -> Value {
    Value::Str(Text::Span {
        start: start as u32,
        end: end as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_leaves_the_rest_of_the_line_plain() {
        let mut e = Event::new("0123456789".into(), RecordOrigin::default());
        e.mark_free_text(&[(0, 2), (4, 4), (5, 7)]);
        assert_eq!(e.plain.as_slice(), [(2, 4), (4, 5), (7, 10)]);
        e.mark_free_text(&[(0, 10)]);
        assert!(e.plain.is_empty());
        // Out of order, overlapping or beyond the line: the whole line stays free text.
        for bad in [
            &[(4, 6), (2, 3)][..],
            &[(2, 6), (5, 7)],
            &[(8, 11)],
            &[(3, 2)],
        ] {
            e.mark_free_text(&[(0, 1)]);
            e.mark_free_text(bad);
            assert!(e.plain.is_empty(), "{bad:?}");
        }
        e.mark_free_text(&[(0, 1)]);
        e.mark_parse_failure("no");
        assert!(e.plain.is_empty());
    }

    #[test]
    fn last_write_wins_and_set_replaces() {
        let mut e = Event::new("abc def".into(), RecordOrigin::default());
        e.push_span("a", 0, 3);
        e.push("a", Value::Int(1));
        assert_eq!(e.get("a"), Some(&Value::Int(1)));
        e.set("a", Value::Int(2));
        assert_eq!(e.fields.len(), 2);
        assert_eq!(e.get("a"), Some(&Value::Int(2)));
        e.push_span("b", 4, 7);
        assert_eq!(e.get_str("b"), Some("def"));
        assert!(e.remove("a"));
        assert!(e.get("a").is_none());
    }

    #[test]
    fn parse_failure_keeps_context_and_message() {
        let mut e = Event::new("garbage line".into(), RecordOrigin::default());
        e.push("log.file.path", Value::owned_str("/x.log"));
        e.push("event.dataset", Value::Str(Text::Static("nginx.access")));
        e.push("http.response.status_code", Value::Int(200));
        e.mark_parse_failure("expected an address");
        assert!(e.get("http.response.status_code").is_none());
        assert_eq!(e.get_str("message"), Some("garbage line"));
        assert_eq!(e.get_str("log.file.path"), Some("/x.log"));
        assert_eq!(e.get_str("event.dataset"), Some("nginx.access"));
        assert!(e.has_tag(PARSE_FAILURE_TAG));
    }
}
