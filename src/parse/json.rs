//! `json`: one JSON object per line, as application loggers write them (zap, logrus, pino,
//! bunyan, structlog, Serilog...), to an `app.json` document (DESIGN.md, "app.json").
//!
//! The object's fields are kept under their own names, nested objects flattened to dotted names
//! (objects inside arrays stay objects). A few common top-level names are mapped to ECS:
//! `level` -> `log.level`, `msg` -> `message`, `time` -> `@timestamp`, `logger` -> `log.logger`,
//! `request_id` -> `trace.id`, `tags` -> the document's tags.
//!
//! The reader is hand-written on nom primitives, straight into the event: strings without
//! escapes become spans of the line, so values cost no allocation; only field names (dynamic
//! keys) are owned. Nesting deeper than [`MAX_DEPTH`] is kept as its JSON text rather than
//! refused or recursed into, so a hostile line cannot exhaust the stack.

use std::borrow::Cow;

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::{char, digit0, digit1, multispace0, one_of, satisfy};
use nom::combinator::{opt, recognize};
use nom::error::Error as NomError;
use nom::Parser as _;

use super::timestamp::{parse_datetime_in, parse_epoch_in, TimeZone, TimestampFormat};
use super::{ParseError, Parser, ParserOptions, ParserRegistration};
use crate::event::{span_value, Event, FieldName, Text, Timestamp, Value};

pub const REGISTRATION: ParserRegistration = ParserRegistration {
    name: "json",
    description: "one JSON object per line; nested objects flattened, common names mapped to ECS",
    build,
};

fn build(options: &ParserOptions) -> Result<Box<dyn Parser>, String> {
    super::reject_foreign("json", options, &["timestamp_field", "timestamp_format"])?;
    Ok(Box::new(JsonParser {
        zone: TimeZone::from_options(options)?,
        time_field: options.timestamp_field.as_deref().map(Box::from),
        time_format: options.timestamp_format.unwrap_or_default(),
    }))
}

/// Objects and arrays nested deeper than this are stored as their JSON text.
pub const MAX_DEPTH: usize = 64;

/// Tags taken from one line; the document's tag list is deduplicated linearly, and a line is not
/// allowed to make that quadratic.
const MAX_TAGS: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct JsonParser {
    /// Zone of time fields written without an offset.
    zone: TimeZone,
    /// The one top-level key holding the event time (`timestamp_field`); when set, the usual
    /// time names (`time`, `ts`, ...) are ordinary fields.
    time_field: Option<Box<str>>,
    /// How the time field is written (`timestamp_format`).
    time_format: TimestampFormat,
}

impl JsonParser {
    pub fn new(zone: TimeZone) -> JsonParser {
        JsonParser {
            zone,
            time_field: None,
            time_format: TimestampFormat::Auto,
        }
    }
}

impl Parser for JsonParser {
    fn dataset(&self) -> &'static str {
        "app.json"
    }

    fn parse(&self, event: &mut Event) -> Result<(), ParseError> {
        let before = event.fields.len();
        let outcome = {
            let mut reader = Reader::new(&event.raw, &mut event.fields, self.zone);
            reader.time_field = self.time_field.as_deref();
            reader.time_format = self.time_format;
            reader.document().map(|()| (reader.tags, reader.timestamp))
        };
        match outcome {
            Ok((tags, timestamp)) => {
                for t in tags {
                    event.add_tag(t);
                }
                if timestamp.is_some() {
                    event.timestamp = timestamp;
                }
                Ok(())
            }
            Err(e) => {
                // Context fields a half-read object wrote (`host.name`...) would survive
                // `mark_parse_failure`; nothing of a refused line may stay.
                event.fields.truncate(before);
                Err(e)
            }
        }
    }
}

/// Top-level names with an ECS meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Level,
    Message,
    Time,
    Logger,
    TraceId,
    Tags,
}

const ROLE_COUNT: usize = 6;

/// Matched without regard to case: .NET and Java loggers write `Level`, `Message`, `Timestamp`.
const ALIASES: &[(&str, Role)] = &[
    ("level", Role::Level),
    ("severity", Role::Level),
    ("lvl", Role::Level),
    ("msg", Role::Message),
    ("message", Role::Message),
    ("@timestamp", Role::Time),
    ("timestamp", Role::Time),
    ("time", Role::Time),
    ("ts", Role::Time),
    ("logger", Role::Logger),
    ("logger_name", Role::Logger),
    ("correlation_id", Role::TraceId),
    ("request_id", Role::TraceId),
    ("trace_id", Role::TraceId),
    ("tags", Role::Tags),
];

/// Index in [`ALIASES`] standing for a configured `timestamp_field`.
const TIME_ALIAS: usize = 5;

fn alias_of(key: &str) -> Option<(usize, Role)> {
    if key.len() > 14 {
        return None;
    }
    ALIASES
        .iter()
        .position(|(a, _)| a.eq_ignore_ascii_case(key))
        .and_then(|i| ALIASES.get(i).map(|(_, role)| (i, *role)))
}

/// Level names kept as static text once lowercased, so `INFO` costs no allocation.
const LEVELS: &[&str] = &[
    "trace",
    "debug",
    "info",
    "notice",
    "warn",
    "warning",
    "error",
    "err",
    "critical",
    "crit",
    "alert",
    "emergency",
    "emerg",
    "fatal",
    "panic",
    "verbose",
    "dbg",
];

/// pino and bunyan write levels as numbers.
fn numeric_level(n: i64) -> Option<&'static str> {
    Some(match n {
        10 => "trace",
        20 => "debug",
        30 => "info",
        40 => "warn",
        50 => "error",
        60 => "fatal",
        _ => return None,
    })
}

/// Names the serializer writes itself (`@timestamp`, `tags`): a field of the object that would
/// land on them is renamed with a leading `_`, or the document would carry the key twice.
fn is_reserved_root(first_segment: &str) -> bool {
    first_segment == "tags" || first_segment == "@timestamp"
}

/// Appends `key` as a name segment. Empty or blank segments (``, `.a`, `a..b`) would make field
/// names Elasticsearch refuses; each becomes `_`.
fn push_sanitized(out: &mut String, key: &str) {
    if key.split('.').all(|seg| !seg.trim().is_empty()) {
        out.push_str(key);
        return;
    }
    for (k, seg) in key.split('.').enumerate() {
        if k > 0 {
            out.push('.');
        }
        if seg.trim().is_empty() {
            out.push('_');
        } else {
            out.push_str(seg);
        }
    }
}

fn sanitized(key: &str) -> FieldName {
    let mut s = String::with_capacity(key.len() + 1);
    push_sanitized(&mut s, key);
    Cow::Owned(s)
}

/// Keeps the last value of each name in an object that stays whole: the document must not
/// carry a key twice (Elasticsearch rejects it), and last-wins matches the flattened fields.
fn dedup_last(entries: &mut Vec<(FieldName, Value)>) {
    if entries.len() < 2 {
        return;
    }
    let mut keep = vec![true; entries.len()];
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    for (i, (name, _)) in entries.iter().enumerate().rev() {
        if !seen.insert(name.as_ref()) {
            if let Some(k) = keep.get_mut(i) {
                *k = false;
            }
        }
    }
    let mut flags = keep.into_iter();
    entries.retain(|_| flags.next().unwrap_or(true));
}

/// `i` without its first `n` bytes (empty at its end when shorter), so that every slice handed
/// on still points into the line and positions computed from it stay right.
fn skip(i: &[u8], n: usize) -> &[u8] {
    i.split_at(n.min(i.len())).1
}

fn ws(i: &[u8]) -> &[u8] {
    multispace0::<_, NomError<&[u8]>>(i).map_or(i, |(rest, _)| rest)
}

fn hex4(b: &[u8]) -> Option<u32> {
    let b = b.get(..4)?;
    b.iter()
        .try_fold(0u32, |acc, &c| Some(acc * 16 + (c as char).to_digit(16)?))
}

type PResult<'a, T> = Result<(&'a [u8], T), ParseError>;

/// One line being read into an event's fields.
struct Reader<'a, 'f> {
    raw: &'a str,
    src: &'a [u8],
    fields: &'f mut Vec<(FieldName, Value)>,
    zone: TimeZone,
    /// Dotted name of the object being flattened; segments are pushed and truncated.
    name: String,
    /// Which alias took each role first: a second, different alias keeps its own name instead
    /// of overwriting (`{"msg":..,"message":..}` loses nothing).
    claimed: [Option<usize>; ROLE_COUNT],
    /// Where the mapped message went and under which key it came.
    message_origin: Option<(usize, Cow<'a, str>)>,
    tags: Vec<Cow<'static, str>>,
    tags_overflow: bool,
    timestamp: Option<Timestamp>,
    /// `JsonParser::time_field`.
    time_field: Option<&'a str>,
    time_format: TimestampFormat,
}

impl<'a, 'f> Reader<'a, 'f> {
    fn new(raw: &'a str, fields: &'f mut Vec<(FieldName, Value)>, zone: TimeZone) -> Self {
        Reader {
            raw,
            src: raw.as_bytes(),
            fields,
            zone,
            name: String::new(),
            claimed: [None; ROLE_COUNT],
            message_origin: None,
            tags: Vec::new(),
            tags_overflow: false,
            time_field: None,
            time_format: TimestampFormat::Auto,
            timestamp: None,
        }
    }

    fn pos(&self, at: &[u8]) -> usize {
        (at.as_ptr() as usize).saturating_sub(self.src.as_ptr() as usize)
    }

    fn fail(&self, at: &[u8], what: &str) -> ParseError {
        ParseError::new(format!("json: expected {what} at byte {}", self.pos(at)))
    }

    /// `raw[from..to]` for two positions inside the line, as a span value.
    fn span_between(&self, from: &[u8], to: &[u8]) -> Value {
        span_value(self.pos(from), self.pos(to))
    }

    fn text<'t>(&'t self, t: &'t Text) -> &'t str {
        match t {
            Text::Span { start, end } => self.raw.get(*start as usize..*end as usize).unwrap_or(""),
            Text::Owned(s) => s,
            Text::Static(s) => s,
            Text::Shared(s) => s,
        }
    }

    fn str_value(&self, s: Cow<'a, str>) -> Value {
        match s {
            Cow::Borrowed(b) => {
                let start = self.pos(b.as_bytes());
                span_value(start, start + b.len())
            }
            Cow::Owned(o) => Value::owned_str(o),
        }
    }

    fn document(&mut self) -> Result<(), ParseError> {
        let mut i = ws(self.src);
        // A byte-order mark survives on the first line of files written by some Windows tools.
        if let Some(rest) = i.strip_prefix("\u{feff}".as_bytes()) {
            i = ws(rest);
        }
        match i.first() {
            Some(b'{') => {}
            Some(&c) => {
                let found = match c {
                    b'[' => "an array",
                    b'"' => "a string",
                    b'-' | b'0'..=b'9' => "a number",
                    b't' | b'f' | b'n' => "a literal",
                    _ => "text",
                };
                return Err(ParseError::new(format!(
                    "json: expected a JSON object at byte {}, found {found}",
                    self.pos(i)
                )));
            }
            None => return Err(self.fail(i, "a JSON object")),
        }
        self.fields.reserve(16);
        let (rest, ()) = self.flatten_object(i, 0, 1)?;
        let rest = ws(rest);
        if !rest.is_empty() {
            return Err(self.fail(rest, "the end of the line after the object"));
        }
        if self
            .claimed
            .get(Role::Message as usize)
            .copied()
            .flatten()
            .is_none()
        {
            self.fields
                .push((Cow::Borrowed("message"), span_value(0, self.raw.len())));
        }
        Ok(())
    }

    /// After `{` or a member: returns the next member's key with the input at its value, or
    /// `None` after the closing `}`.
    fn next_member(&self, i: &'a [u8], first: bool) -> PResult<'a, Option<Cow<'a, str>>> {
        let mut i = ws(i);
        match i.first() {
            Some(b'}') => return Ok((skip(i, 1), None)),
            Some(b',') if !first => i = ws(skip(i, 1)),
            _ if first => {}
            _ => return Err(self.fail(i, "`,` or `}`")),
        }
        if i.first() != Some(&b'"') {
            return Err(self.fail(i, "a quoted key"));
        }
        let (i, key) = self.string(i)?;
        let i = ws(i);
        let (i, _) = char::<_, NomError<&[u8]>>(':')
            .parse(i)
            .map_err(|_| self.fail(i, "`:` after the key"))?;
        Ok((ws(i), Some(key)))
    }

    /// Reads the object at `i` (at `{`) into dotted fields under `name[..prefix_len]`.
    fn flatten_object(&mut self, i: &'a [u8], prefix_len: usize, depth: usize) -> PResult<'a, ()> {
        let mut i = skip(i, 1);
        let mut first = true;
        loop {
            let (rest, key) = self.next_member(i, first)?;
            let Some(key) = key else {
                return Ok((rest, ()));
            };
            first = false;
            let mapped = if depth == 1 { self.role_of(&key) } else { None };
            let (rest, ()) = match mapped {
                Some((alias, role)) => self.mapped(rest, key, alias, role)?,
                None => self.member(rest, &key, prefix_len, depth)?,
            };
            i = rest;
        }
    }

    /// Sets `name` to the prefix plus `key`.
    fn enter(&mut self, prefix_len: usize, key: &str) {
        self.name.truncate(prefix_len);
        if prefix_len > 0 {
            self.name.push('.');
        }
        push_sanitized(&mut self.name, key);
        if prefix_len == 0 && is_reserved_root(self.name.split('.').next().unwrap_or_default()) {
            self.name.insert(0, '_');
        }
    }

    fn push_leaf(&mut self, prefix_len: usize, key: &str, value: Value) {
        self.enter(prefix_len, key);
        self.fields.push((Cow::Owned(self.name.clone()), value));
        self.name.truncate(prefix_len);
    }

    /// A member of an object being flattened (`depth` is that object's).
    fn member(
        &mut self,
        i: &'a [u8],
        key: &str,
        prefix_len: usize,
        depth: usize,
    ) -> PResult<'a, ()> {
        if i.first() == Some(&b'{') && depth < MAX_DEPTH {
            self.enter(prefix_len, key);
            let inner = self.name.len();
            let out = self.flatten_object(i, inner, depth + 1)?;
            self.name.truncate(prefix_len);
            return Ok(out);
        }
        let (rest, value) = self.value(i, depth + 1)?;
        self.push_leaf(prefix_len, key, value);
        Ok((rest, ()))
    }

    /// ECS role of a top-level key, honouring a configured time field.
    fn role_of(&self, key: &str) -> Option<(usize, Role)> {
        match self.time_field {
            None => alias_of(key),
            // Any alias index of a time name serves to claim the role once.
            Some(f) if f == key => Some((TIME_ALIAS, Role::Time)),
            Some(_) => alias_of(key).filter(|(_, role)| *role != Role::Time),
        }
    }

    fn claim(&mut self, role: Role, alias: usize) {
        if let Some(slot) = self.claimed.get_mut(role as usize) {
            *slot = Some(alias);
        }
    }

    /// A top-level member whose name has an ECS meaning.
    fn mapped(
        &mut self,
        i: &'a [u8],
        key: Cow<'a, str>,
        alias: usize,
        role: Role,
    ) -> PResult<'a, ()> {
        let claimed = self.claimed.get(role as usize).copied().flatten();
        if claimed.is_some_and(|a| a != alias) {
            // A literal `message` is the ECS name itself: it takes the field over, and the
            // alias that held it goes back to its own name.
            if !(role == Role::Message && key == "message") {
                return self.member(i, &key, 0, 1);
            }
            if let Some((index, own)) = self.message_origin.take() {
                self.enter(0, &own);
                let name = Cow::Owned(self.name.clone());
                self.name.clear();
                if let Some(field) = self.fields.get_mut(index) {
                    field.0 = name;
                }
            }
        }
        let first = i.first().copied();
        let scalar = matches!(first, Some(b'"' | b'-' | b'0'..=b'9'));
        match role {
            Role::Tags => self.tags_value(i),
            Role::Message => {
                let (rest, value) = match first {
                    Some(b'"') => {
                        let (rest, s) = self.string(i)?;
                        (rest, self.str_value(s))
                    }
                    Some(b'n') => {
                        // `null`: no message, the line will stand in for it.
                        let (rest, _) = self.value(i, 2)?;
                        return Ok((rest, ()));
                    }
                    // A number or structure as message: its JSON text, so the field stays text.
                    _ => {
                        let (rest, ()) = self.skip_value(i)?;
                        (rest, self.span_between(i, rest))
                    }
                };
                self.message_origin = Some((self.fields.len(), key));
                self.fields.push((Cow::Borrowed("message"), value));
                self.claim(role, alias);
                Ok((rest, ()))
            }
            _ if !scalar => self.member(i, &key, 0, 1),
            Role::Time => {
                let (rest, value) = self.value(i, 2)?;
                let format = self.time_format;
                let unit = format.epoch_unit();
                let ts = match &value {
                    Value::Str(t) => {
                        let s = self.text(t).trim();
                        match format {
                            TimestampFormat::Auto => {
                                parse_datetime_in(s, &self.zone).or_else(|| parse_epoch_in(s, None))
                            }
                            TimestampFormat::Rfc3339 => parse_datetime_in(s, &self.zone),
                            _ => parse_epoch_in(s, unit),
                        }
                    }
                    _ if format == TimestampFormat::Rfc3339 => None,
                    // Numbers from their text: exact where an f64 would round nanoseconds.
                    _ => self
                        .raw
                        .get(self.pos(i)..self.pos(rest))
                        .and_then(|text| parse_epoch_in(text, unit)),
                };
                match ts {
                    Some(ts) => {
                        self.timestamp = Some(ts);
                        self.claim(role, alias);
                    }
                    // Kept where it was, so nothing is lost; the worker stamps the ingest time.
                    None => self.push_leaf(0, &key, value),
                }
                Ok((rest, ()))
            }
            Role::Level | Role::Logger | Role::TraceId => {
                let (rest, value) = self.value(i, 2)?;
                let value = match (role, value) {
                    (Role::Level, Value::Str(t)) => self.level_value(t),
                    (_, Value::Str(t)) => Value::Str(t),
                    (Role::Level, Value::Int(n)) => match numeric_level(n) {
                        Some(name) => Value::Str(Text::Static(name)),
                        None => self.span_between(i, rest),
                    },
                    // Numbers as their text: these ECS fields are keywords.
                    _ => self.span_between(i, rest),
                };
                let target = match role {
                    Role::Level => "log.level",
                    Role::Logger => "log.logger",
                    _ => "trace.id",
                };
                self.fields.push((Cow::Borrowed(target), value));
                self.claim(role, alias);
                Ok((rest, ()))
            }
        }
    }

    fn level_value(&self, t: Text) -> Value {
        let s = self.text(&t);
        if let Some(known) = LEVELS.iter().find(|l| l.eq_ignore_ascii_case(s)) {
            return Value::Str(Text::Static(known));
        }
        if s.chars().any(char::is_uppercase) {
            Value::owned_str(s.to_lowercase())
        } else {
            Value::Str(t)
        }
    }

    fn add_tag(&mut self, tag: &str) {
        if tag.is_empty() || self.tags.iter().any(|t| t == tag) {
            return;
        }
        if self.tags.len() >= MAX_TAGS {
            self.tags_overflow = true;
            return;
        }
        self.tags.push(Cow::Owned(tag.to_owned()));
    }

    /// `tags`: strings become tags; other values their JSON text, so a tag is always a string.
    fn tags_value(&mut self, i: &'a [u8]) -> PResult<'a, ()> {
        if i.first() != Some(&b'[') {
            return self.tag_item(i);
        }
        let mut r = ws(skip(i, 1));
        let rest = match r.strip_prefix(b"]") {
            Some(rest) => rest,
            None => loop {
                let (after, ()) = self.tag_item(r)?;
                let after = ws(after);
                match after.first() {
                    Some(b',') => r = ws(skip(after, 1)),
                    Some(b']') => break skip(after, 1),
                    _ => return Err(self.fail(after, "`,` or `]` in tags")),
                }
            },
        };
        if self.tags_overflow {
            // What did not fit into tags stays readable as the list's text.
            let text = self.span_between(i, rest);
            self.fields.push((Cow::Borrowed("_tags"), text));
        }
        Ok((rest, ()))
    }

    fn tag_item(&mut self, i: &'a [u8]) -> PResult<'a, ()> {
        match i.first() {
            Some(b'"') => {
                let (rest, s) = self.string(i)?;
                self.add_tag(&s);
                Ok((rest, ()))
            }
            Some(b'n') => self.value(i, 2).map(|(rest, _)| (rest, ())),
            _ => {
                let (rest, ()) = self.skip_value(i)?;
                let text = self
                    .raw
                    .get(self.pos(i)..self.pos(rest))
                    .unwrap_or_default();
                self.add_tag(text);
                Ok((rest, ()))
            }
        }
    }

    /// Any JSON value; containers at `depth` beyond [`MAX_DEPTH`] come back as their text.
    fn value(&self, i: &'a [u8], depth: usize) -> PResult<'a, Value> {
        match i.first() {
            Some(b'"') => {
                let (rest, s) = self.string(i)?;
                Ok((rest, self.str_value(s)))
            }
            Some(b'{' | b'[') if depth > MAX_DEPTH => {
                let (rest, ()) = self.skip_value(i)?;
                Ok((rest, self.span_between(i, rest)))
            }
            Some(b'{') => self.object_value(i, depth),
            Some(b'[') => self.array(i, depth),
            Some(b'-' | b'0'..=b'9') => self.number(i),
            Some(b't' | b'f' | b'n') => alt((
                tag("true").map(|_| Value::Bool(true)),
                tag("false").map(|_| Value::Bool(false)),
                tag("null").map(|_| Value::Null),
            ))
            .parse(i)
            .map_err(|_: nom::Err<NomError<&[u8]>>| self.fail(i, "`true`, `false` or `null`")),
            _ => Err(self.fail(i, "a value")),
        }
    }

    /// An object inside an array: kept whole, as ECS cannot flatten it.
    fn object_value(&self, i: &'a [u8], depth: usize) -> PResult<'a, Value> {
        let mut entries: Vec<(FieldName, Value)> = Vec::new();
        let mut i = skip(i, 1);
        let mut first = true;
        loop {
            let (rest, key) = self.next_member(i, first)?;
            let Some(key) = key else {
                dedup_last(&mut entries);
                return Ok((rest, Value::Object(entries)));
            };
            first = false;
            let (rest, value) = self.value(rest, depth + 1)?;
            entries.push((sanitized(&key), value));
            i = rest;
        }
    }

    fn array(&self, i: &'a [u8], depth: usize) -> PResult<'a, Value> {
        let mut items = Vec::new();
        let mut i = ws(skip(i, 1));
        if let Some(rest) = i.strip_prefix(b"]") {
            return Ok((rest, Value::Array(items)));
        }
        loop {
            let (rest, item) = self.value(i, depth + 1)?;
            items.push(item);
            let rest = ws(rest);
            match rest.first() {
                Some(b',') => i = ws(skip(rest, 1)),
                Some(b']') => return Ok((skip(rest, 1), Value::Array(items))),
                _ => return Err(self.fail(rest, "`,` or `]`")),
            }
        }
    }

    /// A JSON number: `Int` when it is an integer that fits, `Float` otherwise; a float too large
    /// for `f64` keeps its text rather than becoming infinity (which JSON cannot carry).
    fn number(&self, i: &'a [u8]) -> PResult<'a, Value> {
        let nonzero = satisfy(|c: char| matches!(c, '1'..='9'));
        let mut number = recognize((
            opt(char('-')),
            alt((tag("0"), recognize((nonzero, digit0)))),
            opt((char('.'), digit1)),
            opt((one_of("eE"), opt(one_of("+-")), digit1)),
        ));
        let (rest, text) = number
            .parse(i)
            .map_err(|_: nom::Err<NomError<&[u8]>>| self.fail(i, "a number"))?;
        let text = std::str::from_utf8(text).map_err(|_| self.fail(i, "a number"))?;
        let integral = !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
        if integral {
            if let Ok(n) = text.parse::<i64>() {
                return Ok((rest, Value::Int(n)));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok((rest, Value::Float(f))),
            _ => Ok((rest, self.span_between(i, rest))),
        }
    }

    /// A JSON string at `i` (at `"`): borrowed from the line when it has no escapes.
    fn string(&self, i: &'a [u8]) -> PResult<'a, Cow<'a, str>> {
        let body = skip(i, 1);
        let start = self.pos(body);
        let mut owned: Option<String> = None;
        let mut from = 0;
        loop {
            let seg_rest = skip(body, from);
            let Some(k) = memchr::memchr2(b'"', b'\\', seg_rest) else {
                return Err(self.fail(i, "a closing `\"` for the string starting"));
            };
            let seg = seg_rest.get(..k).unwrap_or_default();
            if let Some(c) = seg.iter().position(|&c| c < 0x20) {
                let at = skip(seg_rest, c);
                return Err(self.fail(at, "no raw control character in a string"));
            }
            let seg_text = self
                .raw
                .get(start + from..start + from + k)
                .unwrap_or_default();
            let at = from + k;
            if body.get(at) == Some(&b'"') {
                let rest = skip(body, at + 1);
                return Ok(match owned {
                    None => (rest, Cow::Borrowed(seg_text)),
                    Some(mut s) => {
                        s.push_str(seg_text);
                        (rest, Cow::Owned(s))
                    }
                });
            }
            let out = owned.get_or_insert_with(|| String::with_capacity(body.len().min(256)));
            out.push_str(seg_text);
            let esc_at = skip(body, at);
            let (ch, used) = match body.get(at + 1) {
                Some(b'"') => ('"', 2),
                Some(b'\\') => ('\\', 2),
                Some(b'/') => ('/', 2),
                Some(b'b') => ('\u{8}', 2),
                Some(b'f') => ('\u{c}', 2),
                Some(b'n') => ('\n', 2),
                Some(b'r') => ('\r', 2),
                Some(b't') => ('\t', 2),
                Some(b'u') => {
                    let hi = hex4(skip(body, at + 2))
                        .ok_or_else(|| self.fail(esc_at, "four hex digits after `\\u`"))?;
                    let low = match (body.get(at + 6..at + 8), hex4(skip(body, at + 8))) {
                        (Some(b"\\u"), Some(lo))
                            if (0xD800..0xDC00).contains(&hi) && (0xDC00..0xE000).contains(&lo) =>
                        {
                            Some(lo)
                        }
                        _ => None,
                    };
                    match low {
                        Some(lo) => {
                            let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            (char::from_u32(cp).unwrap_or('\u{fffd}'), 12)
                        }
                        // A lone surrogate has no UTF-8 form; replaced as lossy decoding would.
                        None => (char::from_u32(hi).unwrap_or('\u{fffd}'), 6),
                    }
                }
                _ => {
                    return Err(self.fail(
                        esc_at,
                        "a valid escape (`\\\"`, `\\\\`, `\\n`, `\\uXXXX`...)",
                    ))
                }
            };
            out.push(ch);
            from = at + used;
        }
    }

    /// Checks the value at `i` without building it and without recursion (an explicit stack of
    /// open containers), so any depth is safe; returns the input after it.
    fn skip_value(&self, i: &'a [u8]) -> PResult<'a, ()> {
        let mut open: Vec<u8> = Vec::new();
        let mut i = ws(i);
        loop {
            // A value starts here.
            match i.first() {
                Some(b'{') => {
                    let after = ws(skip(i, 1));
                    if let Some(rest) = after.strip_prefix(b"}") {
                        i = rest;
                    } else {
                        open.push(b'}');
                        i = self.skip_key(after)?;
                        continue;
                    }
                }
                Some(b'[') => {
                    let after = ws(skip(i, 1));
                    if let Some(rest) = after.strip_prefix(b"]") {
                        i = rest;
                    } else {
                        open.push(b']');
                        i = after;
                        continue;
                    }
                }
                Some(b'"') => i = self.string(i)?.0,
                _ => i = self.value(i, 0)?.0,
            }
            // A value ended: close containers or move to the next member.
            loop {
                let Some(&close) = open.last() else {
                    return Ok((i, ()));
                };
                let after = ws(i);
                match after.first() {
                    Some(&c) if c == close => {
                        open.pop();
                        i = skip(after, 1);
                    }
                    Some(b',') => {
                        let next = ws(skip(after, 1));
                        i = if close == b'}' {
                            self.skip_key(next)?
                        } else {
                            next
                        };
                        break;
                    }
                    _ => return Err(self.fail(after, "`,` or the end of the container")),
                }
            }
        }
    }

    /// `"key" :` inside a skipped object; returns the input at the value.
    fn skip_key(&self, i: &'a [u8]) -> Result<&'a [u8], ParseError> {
        if i.first() != Some(&b'"') {
            return Err(self.fail(i, "a quoted key"));
        }
        let (rest, _) = self.string(i)?;
        let rest = ws(rest);
        match rest.strip_prefix(b":") {
            Some(r) => Ok(ws(r)),
            None => Err(self.fail(rest, "`:` after the key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::{to_json_string, DocumentOptions};
    use crate::event::{RecordOrigin, PARSE_FAILURE_TAG};
    use crate::parse::test_support::{doc, ts};
    use proptest::prelude::*;

    fn parse_with(line: &str, parser: &JsonParser) -> Event {
        let mut e = Event::new(line.to_string(), RecordOrigin::default());
        if let Err(err) = parser.parse(&mut e) {
            panic!("{line:?} should parse: {err}");
        }
        e
    }

    fn parse(line: &str) -> Event {
        parse_with(line, &JsonParser::default())
    }

    fn fail(line: &str) -> String {
        let mut e = Event::new(line.to_string(), RecordOrigin::default());
        match JsonParser::default().parse(&mut e) {
            Ok(()) => panic!("{line:?} should not parse: {:?}", e.fields),
            Err(err) => err.0.into_owned(),
        }
    }

    const APP: &str = r#"{"time":"2026-11-22T10:00:00.123+01:00","level":"INFO","logger":"api.http","msg":"request completed","request_id":"7f3a9c","http":{"method":"GET","status":200,"latency":{"ms":12.5}},"cached":false,"parent":null,"tags":["api","canary"]}"#;

    #[test]
    fn app_line_maps_common_names_and_keeps_types() {
        let e = parse(APP);
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T09:00:00.123Z"));
        assert_eq!(e.timestamp.unwrap().precision, 3);
        assert_eq!(e.get("log.level"), Some(&Value::Str(Text::Static("info"))));
        assert_eq!(e.get_str("log.logger"), Some("api.http"));
        assert_eq!(e.get_str("message"), Some("request completed"));
        assert_eq!(e.get_str("trace.id"), Some("7f3a9c"));
        assert_eq!(e.get_str("http.method"), Some("GET"));
        assert_eq!(e.get("http.status"), Some(&Value::Int(200)));
        assert_eq!(e.get("http.latency.ms"), Some(&Value::Float(12.5)));
        assert_eq!(e.get("cached"), Some(&Value::Bool(false)));
        assert_eq!(e.get("parent"), Some(&Value::Null));
        assert!(e.has_tag("api") && e.has_tag("canary"));
        for gone in ["time", "level", "logger", "msg", "request_id", "tags"] {
            assert!(e.get(gone).is_none(), "{gone} should have been mapped");
        }
        // Unescaped strings are spans of the line.
        for name in ["message", "log.logger", "trace.id", "http.method"] {
            assert!(
                matches!(e.get(name), Some(Value::Str(Text::Span { .. }))),
                "{name}"
            );
        }
    }

    #[test]
    fn document_shape() {
        let d = doc(&parse(APP));
        assert_eq!(d["@timestamp"], "2026-11-22T09:00:00.123Z");
        assert_eq!(d["log"]["level"], "info");
        assert_eq!(d["log"]["logger"], "api.http");
        assert_eq!(d["trace"]["id"], "7f3a9c");
        assert_eq!(d["http"]["status"], 200);
        assert_eq!(d["http"]["latency"]["ms"], 12.5);
        assert_eq!(d["message"], "request completed");
        assert_eq!(d["tags"], serde_json::json!(["api", "canary"]));
        assert!(d.get("msg").is_none());
    }

    #[test]
    fn arrays_keep_objects_whole() {
        let e = parse(
            r#"{"msg":"batch","items":[{"id":1,"sku":"A-1","dims":{"w":2}},{"id":2,"id":3}],"matrix":[[1,2],[3]],"empty":[],"none":{}}"#,
        );
        let Some(Value::Array(items)) = e.get("items") else {
            panic!("items: {:?}", e.get("items"));
        };
        assert_eq!(items.len(), 2);
        let Some(Value::Object(first)) = items.first() else {
            panic!("{items:?}");
        };
        assert_eq!(first.first(), Some(&(Cow::Borrowed("id"), Value::Int(1))));
        assert!(matches!(first.get(2), Some((n, Value::Object(_))) if n == "dims"));
        // Duplicate keys inside a kept object: the last one stays, once.
        assert_eq!(
            items.get(1),
            Some(&Value::Object(vec![(Cow::Borrowed("id"), Value::Int(3))]))
        );
        assert_eq!(
            e.get("matrix"),
            Some(&Value::Array(vec![
                Value::Array(vec![Value::Int(1), Value::Int(2)]),
                Value::Array(vec![Value::Int(3)]),
            ]))
        );
        assert_eq!(e.get("empty"), Some(&Value::Array(vec![])));
        assert!(e.get("none").is_none());
        let d = doc(&e);
        assert_eq!(d["items"][0]["dims"]["w"], 2);
        assert_eq!(d["items"][1]["id"], 3);
    }

    #[test]
    fn numbers() {
        let e = parse(
            r#"{"a":0,"b":-17,"c":1.0,"d":-2.5e-3,"e":9223372036854775807,"f":9223372036854775808,"g":1e400,"h":-0,"i":6.02E23}"#,
        );
        assert_eq!(e.get("a"), Some(&Value::Int(0)));
        assert_eq!(e.get("b"), Some(&Value::Int(-17)));
        assert_eq!(e.get("c"), Some(&Value::Float(1.0)));
        assert_eq!(e.get("d"), Some(&Value::Float(-0.0025)));
        assert_eq!(e.get("e"), Some(&Value::Int(i64::MAX)));
        assert_eq!(e.get("f"), Some(&Value::Float(9_223_372_036_854_775_808.0)));
        // Beyond f64: kept as its text, never as an infinity JSON cannot carry.
        assert_eq!(e.get_str("g"), Some("1e400"));
        assert_eq!(e.get("h"), Some(&Value::Int(0)));
        assert_eq!(e.get("i"), Some(&Value::Float(6.02e23)));
    }

    #[test]
    fn timestamp_forms() {
        let cases = [
            (
                r#"{"ts":"2026-11-22T10:00:00Z"}"#,
                "2026-11-22T10:00:00.000Z",
                0,
            ),
            (
                r#"{"time":"2026-11-22T10:00:00.123456789-05:00"}"#,
                "2026-11-22T15:00:00.123456789Z",
                9,
            ),
            (
                r#"{"timestamp":"2026-11-22 10:00:00.5+0200"}"#,
                "2026-11-22T08:00:00.500Z",
                1,
            ),
            (
                r#"{"@timestamp":"2026-11-22T10:00:00.000001Z"}"#,
                "2026-11-22T10:00:00.000001Z",
                6,
            ),
            (
                r#"{"Timestamp":"2026-11-22T10:00:00+00:00"}"#,
                "2026-11-22T10:00:00.000Z",
                0,
            ),
            (r#"{"ts":1700000000}"#, "2023-11-14T22:13:20.000Z", 0),
            (
                r#"{"ts":1700000000.123456}"#,
                "2023-11-14T22:13:20.123456Z",
                6,
            ),
            (r#"{"time":1700000000123}"#, "2023-11-14T22:13:20.123Z", 3),
            (
                r#"{"time":1700000000123456}"#,
                "2023-11-14T22:13:20.123456Z",
                6,
            ),
            (
                r#"{"time":1700000000123456789}"#,
                "2023-11-14T22:13:20.123456789Z",
                9,
            ),
            (r#"{"ts":"1700000000.5"}"#, "2023-11-14T22:13:20.500Z", 1),
            (
                r#"{"time":"2026-11-22 10:00:00,250"}"#,
                "2026-11-22T10:00:00.250Z",
                3,
            ),
        ];
        for (line, want, precision) in cases {
            let e = parse(line);
            assert_eq!(ts(&e).as_deref(), Some(want), "{line}");
            assert_eq!(e.timestamp.unwrap().precision, precision, "{line}");
            assert_eq!(
                e.fields.len(),
                1,
                "{line}: only message expected, got {:?}",
                e.fields
            );
        }
    }

    #[test]
    fn naive_times_use_the_configured_zone() {
        let opts = ParserOptions {
            timezone: Some("Europe/Berlin".into()),
            ..Default::default()
        };
        let parser = match build(&opts) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        let mut e = Event::new(
            r#"{"time":"2026-07-01 12:00:00"}"#.into(),
            RecordOrigin::default(),
        );
        parser.parse(&mut e).unwrap();
        assert_eq!(ts(&e).as_deref(), Some("2026-07-01T10:00:00.000Z"));
        let bad = ParserOptions {
            timezone: Some("Nowhere/Special".into()),
            ..Default::default()
        };
        assert!(build(&bad).unwrap_err().contains("Nowhere/Special"));
    }

    #[test]
    fn configured_timestamp_field_replaces_the_usual_names() {
        let opts = ParserOptions {
            timestamp_field: Some("logged_at".into()),
            ..Default::default()
        };
        let parser = build(&opts).unwrap();
        let mut e = Event::new(
            r#"{"time":"yesterday","logged_at":"2026-07-01T12:00:00.5Z"}"#.into(),
            RecordOrigin::default(),
        );
        parser.parse(&mut e).unwrap();
        assert_eq!(ts(&e).as_deref(), Some("2026-07-01T12:00:00.500Z"));
        assert_eq!(e.get_str("time"), Some("yesterday"));
        let foreign = ParserOptions {
            log_format: Some("$remote_addr".into()),
            ..Default::default()
        };
        assert!(build(&foreign).unwrap_err().contains("`log_format`"));
    }

    #[test]
    fn configured_timestamp_format_fixes_the_unit() {
        let line = r#"{"ts":1700000000}"#;
        let parse_with = |format| {
            let opts = ParserOptions {
                timestamp_format: Some(format),
                ..Default::default()
            };
            let parser = build(&opts).unwrap();
            let mut e = Event::new(line.into(), RecordOrigin::default());
            parser.parse(&mut e).unwrap();
            ts(&e)
        };
        assert_eq!(
            parse_with(TimestampFormat::Unix).as_deref(),
            Some("2023-11-14T22:13:20.000Z")
        );
        // The same number read as milliseconds is early 1970: the configuration decides.
        assert_eq!(
            parse_with(TimestampFormat::UnixMs).as_deref(),
            Some("1970-01-20T16:13:20.000Z")
        );
        assert_eq!(
            parse_with(TimestampFormat::Rfc3339),
            None,
            "a number is no RFC 3339 time"
        );
        let opts = ParserOptions {
            timestamp_format: Some(TimestampFormat::UnixMs),
            ..Default::default()
        };
        let mut e = Event::new(
            r#"{"time":"1700000000123.5"}"#.into(),
            RecordOrigin::default(),
        );
        build(&opts).unwrap().parse(&mut e).unwrap();
        assert_eq!(ts(&e).as_deref(), Some("2023-11-14T22:13:20.123500Z"));
    }

    #[test]
    fn unparsable_times_stay_as_fields() {
        let e = parse(r#"{"time":"yesterday","msg":"x"}"#);
        assert_eq!(e.timestamp, None);
        assert_eq!(e.get_str("time"), Some("yesterday"));
        let e = parse(r#"{"@timestamp":"not a time"}"#);
        assert_eq!(e.timestamp, None);
        assert_eq!(e.get_str("_@timestamp"), Some("not a time"));
        let e = parse(r#"{"ts":{"sec":1}}"#);
        assert_eq!(e.get("ts.sec"), Some(&Value::Int(1)));
        let e = parse(r#"{"time":"2026-02-30T00:00:00Z"}"#);
        assert_eq!(e.timestamp, None);
        assert_eq!(e.get_str("time"), Some("2026-02-30T00:00:00Z"));
        // The first alias that parses wins; a later one keeps its name.
        let e = parse(r#"{"time":"bad","ts":1700000000,"timestamp":"2026-11-22T10:00:00Z"}"#);
        assert_eq!(ts(&e).as_deref(), Some("2023-11-14T22:13:20.000Z"));
        assert_eq!(e.get_str("time"), Some("bad"));
        assert_eq!(e.get_str("timestamp"), Some("2026-11-22T10:00:00Z"));
    }

    #[test]
    fn message_and_alias_rules() {
        let line = r#"{"level":"warn","user":"bob"}"#;
        let e = parse(line);
        assert_eq!(e.get_str("message"), Some(line));
        assert_eq!(e.get("log.level"), Some(&Value::Str(Text::Static("warn"))));

        // Both present: `message` is the ECS name itself and wins, `msg` keeps its own name,
        // whatever the order.
        for line in [
            r#"{"msg":"short","message":"long"}"#,
            r#"{"message":"long","msg":"short"}"#,
        ] {
            let e = parse(line);
            assert_eq!(e.get_str("message"), Some("long"), "{line}");
            assert_eq!(e.get_str("msg"), Some("short"), "{line}");
        }
        let e = parse(r#"{"MSG":"a","Message":"b"}"#);
        assert_eq!(e.get_str("message"), Some("a"));
        assert_eq!(e.get_str("Message"), Some("b"));
        // The same key twice: the last one wins, as for any duplicate.
        let e = parse(r#"{"msg":"a","msg":"b"}"#);
        assert_eq!(e.get_str("message"), Some("b"));

        let e =
            parse(r#"{"message":{"text":"hi"},"level":30,"lvl":"ERROR","correlation_id":12345}"#);
        assert_eq!(e.get_str("message"), Some(r#"{"text":"hi"}"#));
        assert_eq!(e.get("log.level"), Some(&Value::Str(Text::Static("info"))));
        assert_eq!(e.get_str("lvl"), Some("ERROR"));
        assert_eq!(e.get_str("trace.id"), Some("12345"));

        let e = parse(r#"{"msg":null,"severity":"Notice-X","logger_name":"com.example.App"}"#);
        assert_eq!(
            e.get_str("message"),
            Some(r#"{"msg":null,"severity":"Notice-X","logger_name":"com.example.App"}"#)
        );
        assert_eq!(e.get_str("log.level"), Some("notice-x"));
        assert_eq!(e.get_str("log.logger"), Some("com.example.App"));

        let e = parse(r#"{"level":{"name":"info"},"trace_id":"abc","request_id":"def"}"#);
        assert_eq!(e.get_str("level.name"), Some("info"));
        assert_eq!(e.get_str("trace.id"), Some("abc"));
        assert_eq!(e.get_str("request_id"), Some("def"));
    }

    #[test]
    fn tags_in_every_shape() {
        let e = parse(r#"{"tags":["a","b","a","",null,1,true,{"k":"v"}]}"#);
        let tags: Vec<&str> = e.tags.iter().map(|t| t.as_ref()).collect();
        assert_eq!(tags, ["a", "b", "1", "true", r#"{"k":"v"}"#]);
        let e = parse(r#"{"tags":"solo","tags.extra":1}"#);
        assert!(e.has_tag("solo"));
        assert_eq!(e.get("_tags.extra"), Some(&Value::Int(1)));
        let many: Vec<String> = (0..100).map(|i| format!("\"t{i}\"")).collect();
        let line = format!(r#"{{"tags":[{}]}}"#, many.join(","));
        let e = parse(&line);
        assert_eq!(e.tags.len(), MAX_TAGS);
        assert!(e.get_str("_tags").unwrap().starts_with(r#"["t0","t1""#));
        doc(&e);
    }

    #[test]
    fn string_escapes() {
        let e = parse(
            r#"{"msg":"line1\nline2 \"q\" \\ \/ caf\u00e9 \ud83d\ude00 lone:\ud800!","plain":"été"}"#,
        );
        assert_eq!(
            e.get_str("message"),
            Some("line1\nline2 \"q\" \\ / café 😀 lone:\u{fffd}!")
        );
        assert!(matches!(e.get("message"), Some(Value::Str(Text::Owned(_)))));
        assert_eq!(e.get_str("plain"), Some("été"));
        assert!(matches!(
            e.get("plain"),
            Some(Value::Str(Text::Span { .. }))
        ));
        let e = parse(r#"{"k\u0065y":"v","a\"b":1}"#);
        assert_eq!(e.get_str("key"), Some("v"));
        assert_eq!(e.get("a\"b"), Some(&Value::Int(1)));
        doc(&e);
    }

    #[test]
    fn odd_keys_become_valid_names() {
        let e = parse(r#"{"":1,".a":2,"b.":3,"c..d":4," ":5,"x":{"":6},"a.b":{"c":7}}"#);
        // `""` and `" "` both become `_`; the later one wins.
        assert_eq!(e.get("_"), Some(&Value::Int(5)));
        assert_eq!(e.get("_.a"), Some(&Value::Int(2)));
        assert_eq!(e.get("b._"), Some(&Value::Int(3)));
        assert_eq!(e.get("c._.d"), Some(&Value::Int(4)));
        assert_eq!(e.get("x._"), Some(&Value::Int(6)));
        assert_eq!(e.get("a.b.c"), Some(&Value::Int(7)));
        assert_eq!(e.fields.iter().filter(|(n, _)| n == "_").count(), 2);
        let d = doc(&e);
        assert_eq!(d["a"]["b"]["c"], 7);
        let e = parse(r#"{"list":[{"":1,"a.":2}]}"#);
        assert_eq!(
            e.get("list"),
            Some(&Value::Array(vec![Value::Object(vec![
                (Cow::Borrowed("_"), Value::Int(1)),
                (Cow::Borrowed("a._"), Value::Int(2)),
            ])]))
        );
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let e = parse(r#"{"a":1,"a":2,"n":{"x":1},"n":{"x":"two"}}"#);
        assert_eq!(e.get("a"), Some(&Value::Int(2)));
        let d = doc(&e);
        assert_eq!(d["a"], 2);
        assert_eq!(d["n"]["x"], "two");
    }

    #[test]
    fn deep_nesting_is_kept_as_text() {
        let depth = 100;
        let line = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        let e = parse(&line);
        let (name, value) = e
            .fields
            .iter()
            .find(|(n, _)| n.starts_with("a."))
            .expect("a flattened field");
        assert_eq!(name.split('.').count(), MAX_DEPTH);
        let Value::Str(t) = value else {
            panic!("{value:?}");
        };
        let text = e.text(t);
        assert!(text.starts_with(r#"{"a":{"a":"#));
        let kept: serde_json::Value = serde_json::from_str(text).unwrap();
        assert!(kept.is_object());
        doc(&e);

        // Arrays far past any stack's depth: read iteratively, not refused.
        let n = 200_000;
        let line = format!(
            r#"{{"deep":{}{},"after":true}}"#,
            "[".repeat(n),
            "]".repeat(n)
        );
        let e = parse(&line);
        assert_eq!(e.get("after"), Some(&Value::Bool(true)));
        assert!(matches!(e.get("deep"), Some(Value::Array(_))));
        // And still checked: an unbalanced deep value fails.
        let bad = format!(r#"{{"deep":{}{}}}"#, "[".repeat(n), "]".repeat(n - 1));
        assert!(fail(&bad).starts_with("json: expected"));
    }

    #[test]
    fn lines_that_are_not_objects_fail() {
        assert_eq!(
            fail("[1,2]"),
            "json: expected a JSON object at byte 0, found an array"
        );
        assert_eq!(
            fail(r#""text""#),
            "json: expected a JSON object at byte 0, found a string"
        );
        assert_eq!(
            fail("42"),
            "json: expected a JSON object at byte 0, found a number"
        );
        assert_eq!(
            fail("  true"),
            "json: expected a JSON object at byte 2, found a literal"
        );
        assert_eq!(
            fail("plain text log"),
            "json: expected a JSON object at byte 0, found text"
        );
        assert_eq!(fail(""), "json: expected a JSON object at byte 0");
        assert_eq!(
            fail(r#"{"a":1} x"#),
            "json: expected the end of the line after the object at byte 8"
        );
        assert_eq!(
            fail(r#"{"a":1}{"b":2}"#),
            "json: expected the end of the line after the object at byte 7"
        );
        assert_eq!(fail(r#"{"a":1,}"#), "json: expected a quoted key at byte 7");
        assert_eq!(
            fail(r#"{"a" 1}"#),
            "json: expected `:` after the key at byte 5"
        );
        assert_eq!(fail(r#"{'a':1}"#), "json: expected a quoted key at byte 1");
        assert_eq!(fail(r#"{"a":01}"#), "json: expected `,` or `}` at byte 6");
        assert_eq!(fail(r#"{"a":NaN}"#), "json: expected a value at byte 5");
        assert_eq!(
            fail(r#"{"a":tru}"#),
            "json: expected `true`, `false` or `null` at byte 5"
        );
        assert_eq!(
            fail(r#"{"a":"x"#),
            "json: expected a closing `\"` for the string starting at byte 5"
        );
        assert_eq!(
            fail("{\"a\":\"x\ty\"}"),
            "json: expected no raw control character in a string at byte 7"
        );
        assert_eq!(fail(r#"{"a":"\q"}"#).split(" at byte ").nth(1), Some("6"));
        assert_eq!(fail(r#"{"a":"\u12"}"#).split(" at byte ").nth(1), Some("6"));
        assert_eq!(fail(r#"{"a":[1,]}"#), "json: expected a value at byte 8");
        assert_eq!(fail(r#"{"a":1"#), "json: expected `,` or `}` at byte 6");
        assert_eq!(fail("{"), "json: expected a quoted key at byte 1");
        assert_eq!(fail(r#"{"a":-}"#), "json: expected a number at byte 5");
        assert_eq!(fail(r#"{"a":1.}"#), "json: expected `,` or `}` at byte 6");
    }

    #[test]
    fn empty_object_bom_and_whitespace() {
        let e = parse(" {} ");
        assert_eq!(e.get_str("message"), Some(" {} "));
        let e = parse("\u{feff}{\"msg\":\"hi\"}");
        assert_eq!(e.get_str("message"), Some("hi"));
        let e = parse("{ \"a\" :\t[ 1 , { \"b\" : 2 } ] , \"c\" : { } }\r");
        assert_eq!(
            e.get("a"),
            Some(&Value::Array(vec![
                Value::Int(1),
                Value::Object(vec![(Cow::Borrowed("b"), Value::Int(2))])
            ]))
        );
    }

    fn run_like_worker(line: &str) -> Event {
        let mut e = Event::new(line.to_string(), RecordOrigin::default());
        e.push("event.dataset", Value::Str(Text::Static("app.json")));
        e.push("host.name", Value::owned_str("test-host"));
        if let Err(err) = JsonParser::default().parse(&mut e) {
            e.mark_parse_failure(err.0);
        }
        e
    }

    #[test]
    fn failures_leave_nothing_behind() {
        let line = r#"{"host":{"name":"evil"},"tags":["x"],"time":"2026-11-22T10:00:00Z","a":"#;
        let e = run_like_worker(line);
        assert!(e.has_tag(PARSE_FAILURE_TAG));
        assert!(!e.has_tag("x"));
        assert_eq!(e.timestamp, None);
        assert_eq!(e.get_str("host.name"), Some("test-host"));
        assert_eq!(e.fields.iter().filter(|(n, _)| n == "host.name").count(), 1);
        assert_eq!(e.get_str("message"), Some(line));
        assert!(e
            .get_str("error.message")
            .unwrap()
            .starts_with("json: expected a value"));
        let d = doc(&e);
        assert_eq!(d["tags"], serde_json::json!(["_parse_failure"]));
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            "\\PC{0,12}|[\"\\\\\n\t\u{1}]{0,4}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map("[a-z._ ]{0,6}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(crate::parse::test_support::proptest_config())]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let line = String::from_utf8_lossy(&bytes).into_owned();
            let e = run_like_worker(&line);
            let d = to_json_string(&e, DocumentOptions::default());
            prop_assert!(serde_json::from_str::<serde_json::Value>(&d).is_ok(), "{}", d);
            if e.has_tag(PARSE_FAILURE_TAG) {
                prop_assert_eq!(e.get_str("message"), Some(line.as_str()));
            }
        }

        #[test]
        fn json_like_text_never_panics(line in r#"[{}\[\]":,0-9a-z\\ .eE+-]{0,80}"#) {
            let e = run_like_worker(&line);
            let d = to_json_string(&e, DocumentOptions::default());
            prop_assert!(serde_json::from_str::<serde_json::Value>(&d).is_ok(), "{}", d);
            // What serde_json reads as an object, we read, and the other way round (lone
            // surrogates aside, which serde_json refuses and we replace).
            let valid = matches!(
                serde_json::from_str::<serde_json::Value>(&line),
                Ok(serde_json::Value::Object(_))
            );
            if e.has_tag(PARSE_FAILURE_TAG) {
                prop_assert_eq!(e.get_str("message"), Some(line.as_str()));
                prop_assert!(!valid, "refused valid JSON {}", line);
            } else if !line.contains("\\u") {
                prop_assert!(valid, "accepted invalid JSON {}", line);
            }
        }

        #[test]
        fn any_object_parses_into_a_valid_document(
            fields in proptest::collection::btree_map("[a-z_.@]{0,8}", json_value(), 0..8)
        ) {
            let object = serde_json::Value::Object(fields.into_iter().collect());
            let line = serde_json::to_string(&object).unwrap();
            let e = run_like_worker(&line);
            prop_assert!(!e.has_tag(PARSE_FAILURE_TAG), "{} -> {:?}", line, e.get_str("error.message"));
            let d = to_json_string(&e, DocumentOptions::default());
            prop_assert!(serde_json::from_str::<serde_json::Value>(&d).is_ok(), "{}", d);
        }

        #[test]
        fn flat_scalars_round_trip(
            fields in proptest::collection::btree_map(
                "k_[a-z0-9]{1,6}",
                prop_oneof![
                    Just(serde_json::Value::Null),
                    any::<bool>().prop_map(serde_json::Value::from),
                    any::<i64>().prop_map(serde_json::Value::from),
                    any::<f64>().prop_filter("finite", |f| f.is_finite() && f.fract() != 0.0).prop_map(serde_json::Value::from),
                    "\\PC{0,12}|[\"\\\\\n\u{1}é]{0,4}".prop_map(serde_json::Value::from),
                ],
                0..10,
            )
        ) {
            let line = serde_json::to_string(&fields).unwrap();
            let e = parse(&line);
            prop_assert_eq!(e.get_str("message"), Some(line.as_str()));
            for (k, v) in &fields {
                let got = e.get(k);
                let same = match (v, got) {
                    (serde_json::Value::Null, Some(Value::Null)) => true,
                    (serde_json::Value::Bool(a), Some(Value::Bool(b))) => a == b,
                    (serde_json::Value::Number(n), Some(Value::Int(i))) => n.as_i64() == Some(*i),
                    (serde_json::Value::Number(n), Some(Value::Float(f))) => n.as_f64() == Some(*f),
                    (serde_json::Value::String(s), Some(Value::Str(t))) => e.text(t) == s,
                    _ => false,
                };
                prop_assert!(same, "{}: {:?} vs {:?}", k, v, got);
            }
        }
    }
}
