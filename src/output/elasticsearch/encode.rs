//! Event -> bulk item, on the worker threads: the `create` action line with the index name and
//! the document id, then the document.
//!
//! The index name template is compiled once into segments; evaluating it appends straight into
//! the output buffer (no intermediate strings). Names are made valid for Elasticsearch here, so
//! the action line never needs JSON escaping: field values are lowercased and stripped of the
//! characters Elasticsearch refuses, and literal text is checked when the template compiles.

use base64::Engine;
use std::sync::Arc;

use crate::event::json::{write_document, DocumentOptions};
use crate::event::{Event, RecordOrigin, Timestamp, Value};
use crate::output::Encoder;

/// Longest index name Elasticsearch accepts, in bytes.
const MAX_INDEX_NAME_BYTES: usize = 255;
/// Stands in for a missing or empty field value.
const MISSING: &str = "unknown";

/// Length of a document id: base64url without padding of 128 bits.
pub const ID_LEN: usize = 22;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    Field(Box<str>),
    Year,
    Month,
    Day,
    Hour,
}

/// A compiled index name template such as `logs-{event.dataset}-%Y.%m.%d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexTemplate {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the index name template is empty")]
    Empty,
    #[error("`{{` at byte {0} is not closed by `}}`")]
    Unclosed(usize),
    #[error("`}}` at byte {0} has no opening `{{`")]
    UnopenedBrace(usize),
    #[error("empty field name `{{}}` at byte {0}")]
    EmptyField(usize),
    #[error("field name `{name}` at byte {at} contains `{ch}`")]
    BadField { name: String, at: usize, ch: char },
    #[error(
        "unknown date placeholder `%{ch}` at byte {at}; expected `%Y`, `%m`, `%d`, `%H` or `%%`"
    )]
    UnknownDate { ch: char, at: usize },
    #[error("`%` at the end of the template; write `%%` for a literal `%`")]
    TrailingPercent,
    #[error("`{ch}` at byte {at} is not allowed in an index name (expected lowercase letters, digits, `-`, `_`, `.`, `+`, ...)")]
    BadLiteral { ch: char, at: usize },
    #[error("an index name cannot start with `{0}`")]
    BadStart(char),
}

/// Whether Elasticsearch refuses `c` anywhere in an index name.
#[inline]
fn forbidden(c: char) -> bool {
    matches!(
        c,
        '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#' | ':'
    ) || c.is_control()
}

impl IndexTemplate {
    pub fn compile(src: &str) -> Result<IndexTemplate, TemplateError> {
        if src.is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = src.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' => {
                    let start = at + 1;
                    let mut end = None;
                    for (j, d) in chars.by_ref() {
                        if d == '}' {
                            end = Some(j);
                            break;
                        }
                    }
                    let end = end.ok_or(TemplateError::Unclosed(at))?;
                    let name = &src[start..end];
                    if name.is_empty() {
                        return Err(TemplateError::EmptyField(at));
                    }
                    if let Some(ch) = name
                        .chars()
                        .find(|&ch| ch.is_whitespace() || ch == '{' || ch.is_control())
                    {
                        return Err(TemplateError::BadField {
                            name: name.to_string(),
                            at,
                            ch,
                        });
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal).into()));
                    }
                    segments.push(Segment::Field(name.into()));
                }
                '}' => return Err(TemplateError::UnopenedBrace(at)),
                '%' => {
                    let (_, d) = chars.next().ok_or(TemplateError::TrailingPercent)?;
                    let seg = match d {
                        'Y' => Segment::Year,
                        'm' => Segment::Month,
                        'd' => Segment::Day,
                        'H' => Segment::Hour,
                        '%' => {
                            literal.push('%');
                            continue;
                        }
                        ch => return Err(TemplateError::UnknownDate { ch, at }),
                    };
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal).into()));
                    }
                    segments.push(seg);
                }
                c if forbidden(c) || c.is_uppercase() => {
                    return Err(TemplateError::BadLiteral { ch: c, at })
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal.into()));
        }
        if let Some(Segment::Literal(l)) = segments.first() {
            if let Some(c) = l.chars().next().filter(|c| matches!(c, '-' | '_' | '+')) {
                return Err(TemplateError::BadStart(c));
            }
        }
        Ok(IndexTemplate { segments })
    }

    /// The index pattern covering every name of this template: the literal text up to the
    /// first placeholder followed by `*`, or the name itself when it has no placeholder.
    pub fn pattern(&self) -> String {
        let mut prefix = String::new();
        for s in &self.segments {
            match s {
                Segment::Literal(l) => prefix.push_str(l),
                _ => {
                    prefix.push('*');
                    return prefix;
                }
            }
        }
        prefix
    }

    /// Appends the index name of `event` to `out` (valid UTF-8, no JSON escaping needed).
    pub fn write_name(&self, event: &Event, out: &mut Vec<u8>) {
        let start = out.len();
        let mut civil = None;
        let mut date =
            || *civil.get_or_insert_with(|| event.timestamp.unwrap_or_else(Timestamp::now).civil());
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => out.extend_from_slice(l.as_bytes()),
                Segment::Field(name) => match field_text(event, name) {
                    Some(v) if !v.is_empty() => push_sanitized(out, v),
                    _ => out.extend_from_slice(MISSING.as_bytes()),
                },
                Segment::Year => {
                    let y = date().year;
                    if (0..=9999).contains(&y) {
                        push_digits(out, y as u32, 4);
                    } else {
                        out.extend_from_slice(
                            itoa::Buffer::new().format(y.unsigned_abs()).as_bytes(),
                        );
                    }
                }
                Segment::Month => push_digits(out, date().month, 2),
                Segment::Day => push_digits(out, date().day, 2),
                Segment::Hour => push_digits(out, date().hour, 2),
            }
        }
        finish_name(out, start);
    }

    /// The index name of `event` as a string.
    pub fn render(&self, event: &Event) -> String {
        let mut out = Vec::with_capacity(64);
        self.write_name(event, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Text of a field for an index name: strings as they are, numbers and booleans written out.
fn field_text<'a>(event: &'a Event, name: &str) -> Option<FieldText<'a>> {
    match event.get(name)? {
        Value::Str(t) => Some(FieldText::Str(event.text(t))),
        Value::Int(i) => Some(FieldText::Int(*i)),
        Value::Bool(b) => Some(FieldText::Str(if *b { "true" } else { "false" })),
        Value::Array(items) => match items.first()? {
            Value::Str(t) => Some(FieldText::Str(event.text(t))),
            _ => None,
        },
        _ => None,
    }
}

enum FieldText<'a> {
    Str(&'a str),
    Int(i64),
}

impl FieldText<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, FieldText::Str(s) if s.trim().is_empty())
    }
}

/// Appends a field value made valid for an index name: lowercase, forbidden characters -> `_`.
fn push_sanitized(out: &mut Vec<u8>, v: FieldText<'_>) {
    let s = match v {
        FieldText::Int(i) => {
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            return;
        }
        FieldText::Str(s) => s,
    };
    for c in s.chars() {
        if c.is_ascii() {
            let b = c as u8;
            if forbidden(c) {
                out.push(b'_');
            } else {
                out.push(b.to_ascii_lowercase());
            }
        } else if c.is_control() || c.is_whitespace() {
            out.push(b'_');
        } else {
            let mut buf = [0u8; 4];
            for l in c.to_lowercase() {
                out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// Applies the rules on whole names: no leading `-`, `_`, `+`; not `.` or `..`; at most 255
/// bytes; never empty.
fn finish_name(out: &mut Vec<u8>, start: usize) {
    let lead = out[start..]
        .iter()
        .take_while(|b| matches!(b, b'-' | b'_' | b'+'))
        .count();
    if lead > 0 {
        out.drain(start..start + lead);
    }
    let name = &out[start..];
    if name.is_empty() || name == b"." || name == b".." {
        out.truncate(start);
        out.extend_from_slice(MISSING.as_bytes());
        return;
    }
    if name.len() > MAX_INDEX_NAME_BYTES {
        let mut end = start + MAX_INDEX_NAME_BYTES;
        // Back to a char boundary: continuation bytes are 0b10xxxxxx.
        while end > start && (out[end] & 0xC0) == 0x80 {
            end -= 1;
        }
        out.truncate(end);
    }
}

#[inline]
fn push_digits(out: &mut Vec<u8>, mut v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut i = buf.len();
    while v > 0 && i > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let digits = buf.len() - i;
    let from = buf.len() - digits.max(width).min(buf.len());
    out.extend_from_slice(&buf[from..]);
}

/// The document id of a record: xxh3-128 of its stream key, its offset and a hash of its
/// bytes, base64url without padding. The same record always gets the same id, so a replay
/// meets `409` instead of indexing a duplicate. The bytes are part of it so that two different
/// records can never share an id, even where two streams were given one key (files that
/// begin alike, reprocessed in different runs, share their content key): a different line at
/// the same offset is indexed, not reported as already present. Records are read the same way
/// on every run (live or reprocessed), so their bytes, and ids, repeat.
pub fn document_id(origin: RecordOrigin, record: &[u8]) -> [u8; ID_LEN] {
    let mut input = [0u8; 24];
    input[..8].copy_from_slice(&origin.stream_key.to_le_bytes());
    input[8..16].copy_from_slice(&origin.offset.to_le_bytes());
    input[16..].copy_from_slice(&xxhash_rust::xxh3::xxh3_64(record).to_le_bytes());
    let hash = xxhash_rust::xxh3::xxh3_128(&input).to_le_bytes();
    let mut out = [0u8; ID_LEN];
    // 16 bytes always encode to exactly 22 characters, so this cannot fail.
    let _ = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(hash, &mut out);
    out
}

/// The encoder of the Elasticsearch output: one bulk item (action line + document line) per
/// event.
#[derive(Debug, Clone)]
pub struct BulkEncoder {
    pub index: IndexTemplate,
    pub options: DocumentOptions,
    /// Patterns an event's `route` may name (set by a tag rule), each compiled once.
    pub routes: Vec<(Arc<str>, IndexTemplate)>,
}

impl BulkEncoder {
    pub fn new(index: IndexTemplate, options: DocumentOptions) -> BulkEncoder {
        BulkEncoder {
            index,
            options,
            routes: Vec::new(),
        }
    }

    pub fn with_routes(mut self, routes: Vec<(Arc<str>, IndexTemplate)>) -> BulkEncoder {
        self.routes = routes;
        self
    }

    fn template_for(&self, event: &Event) -> &IndexTemplate {
        if let Some(route) = &event.route {
            // Rules hand out clones of the same Arc, so the pointer test almost always hits.
            for (name, t) in &self.routes {
                if Arc::ptr_eq(name, route) || **name == **route {
                    return t;
                }
            }
        }
        &self.index
    }
}

impl Encoder for BulkEncoder {
    fn encode(&self, event: &Event, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"create\":{\"_index\":\"");
        self.template_for(event).write_name(event, out);
        out.extend_from_slice(b"\",\"_id\":\"");
        out.extend_from_slice(&document_id(event.origin, event.raw.as_bytes()));
        out.extend_from_slice(b"\"}}\n");
        write_document(event, self.options, out);
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Text;

    fn event(dataset: Option<&str>, ts_secs: i64) -> Event {
        let mut e = Event::new(
            "line".into(),
            RecordOrigin {
                stream_key: 7,
                offset: 42,
            },
        );
        if let Some(d) = dataset {
            e.push("event.dataset", Value::owned_str(d));
        }
        e.timestamp = Timestamp::from_unix(ts_secs, 0, 3);
        e
    }

    // 2024-03-05T07:08:09Z
    const T: i64 = 1_709_622_489;

    #[test]
    fn default_template_with_field_and_date() {
        let t = IndexTemplate::compile("logs-{event.dataset}-%Y.%m.%d").unwrap();
        assert_eq!(
            t.render(&event(Some("nginx.access"), T)),
            "logs-nginx.access-2024.03.05"
        );
        let t = IndexTemplate::compile("x-%Y%m%d%H-%%").unwrap();
        assert_eq!(t.render(&event(None, T)), "x-2024030507-%");
        let t = IndexTemplate::compile("plain").unwrap();
        assert_eq!(t.render(&event(None, T)), "plain");
    }

    #[test]
    fn missing_and_empty_fields_become_unknown() {
        let t = IndexTemplate::compile("logs-{event.dataset}-%Y").unwrap();
        assert_eq!(t.render(&event(None, T)), "logs-unknown-2024");
        assert_eq!(t.render(&event(Some("  "), T)), "logs-unknown-2024");
        let mut e = event(None, T);
        e.push("event.dataset", Value::Int(5));
        assert_eq!(t.render(&e), "logs-5-2024");
    }

    #[test]
    fn field_values_are_sanitized() {
        let t = IndexTemplate::compile("{event.dataset}").unwrap();
        let r = |v: &str| t.render(&event(Some(v), T));
        assert_eq!(r("My App/Web*?\"<>|,#:\\x"), "my_app_web__________x");
        assert_eq!(r("-_+Lead"), "lead");
        assert_eq!(r("ÄÖ"), "äö");
        assert_eq!(r("---"), "unknown");
        assert_eq!(r(".."), "unknown");
        assert_eq!(r(&"a".repeat(300)).len(), 255);
        let long_multibyte = r(&"é".repeat(200));
        assert!(long_multibyte.len() <= 255 && long_multibyte.chars().all(|c| c == 'é'));
        // A span field is read from the raw line.
        let mut e = event(None, T);
        e.raw = "Some.Set".into();
        e.push("event.dataset", Value::Str(Text::Span { start: 0, end: 8 }));
        assert_eq!(t.render(&e), "some.set");
    }

    #[test]
    fn compile_errors() {
        use TemplateError::*;
        let c = |s: &str| IndexTemplate::compile(s).unwrap_err();
        assert_eq!(c(""), Empty);
        assert_eq!(c("logs-{a"), Unclosed(5));
        assert_eq!(c("logs-}"), UnopenedBrace(5));
        assert_eq!(c("logs-{}"), EmptyField(5));
        assert!(matches!(c("logs-%q"), UnknownDate { ch: 'q', .. }));
        assert_eq!(c("logs-%"), TrailingPercent);
        assert!(matches!(c("Logs"), BadLiteral { ch: 'L', .. }));
        assert!(matches!(c("lo gs"), BadLiteral { ch: ' ', .. }));
        assert_eq!(c("-logs"), BadStart('-'));
        assert!(matches!(c("{a b}"), BadField { .. }));
    }

    #[test]
    fn patterns() {
        let p = |s: &str| IndexTemplate::compile(s).unwrap().pattern();
        assert_eq!(p("logs-{event.dataset}-%Y.%m.%d"), "logs-*");
        assert_eq!(p("%Y"), "*");
        assert_eq!(p("fixed"), "fixed");
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let o = |k, off| RecordOrigin {
            stream_key: k,
            offset: off,
        };
        let a = document_id(o(1, 100), b"line");
        assert_eq!(a, document_id(o(1, 100), b"line"));
        // Another record at the same place of a stream with the same key is another document.
        assert_ne!(a, document_id(o(1, 100), b"other line"));
        assert_eq!(a.len(), 22);
        assert!(a
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'));
        let mut seen = std::collections::HashSet::new();
        for k in 0..50u64 {
            for off in 0..200u64 {
                assert!(seen.insert(document_id(o(k, off * 97), b"x")));
            }
        }
        // Swapping key and offset gives another id.
        assert_ne!(document_id(o(1, 2), b"x"), document_id(o(2, 1), b"x"));
    }

    #[test]
    fn encoded_item_is_two_json_lines() {
        let enc = BulkEncoder::new(
            IndexTemplate::compile("logs-{event.dataset}-%Y.%m.%d").unwrap(),
            DocumentOptions::default(),
        );
        let mut e = event(Some("App\"X"), T);
        e.push("message", Value::Str(Text::Static("hello")));
        let mut out = Vec::new();
        enc.encode(&e, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
        assert_eq!(lines.len(), 2);
        let action: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(action["create"]["_index"], "logs-app_x-2024.03.05");
        let id = std::str::from_utf8(&document_id(e.origin, e.raw.as_bytes()))
            .unwrap()
            .to_string();
        assert_eq!(action["create"]["_id"], id.as_str());
        let doc: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(doc["message"], "hello");
        assert_eq!(doc["@timestamp"], "2024-03-05T07:08:09.000Z");
    }

    #[test]
    fn digits() {
        let mut v = Vec::new();
        push_digits(&mut v, 7, 2);
        push_digits(&mut v, 0, 2);
        push_digits(&mut v, 2024, 4);
        push_digits(&mut v, 12345, 4);
        assert_eq!(v, b"0700202412345");
    }
}
