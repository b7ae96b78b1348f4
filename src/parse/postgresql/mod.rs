//! `postgresql`: PostgreSQL server logs to `postgresql.log` documents (DESIGN.md,
//! "postgresql.log"), in each of the server's three file formats, told apart entry by entry so
//! one input can read a directory holding all of them:
//! - stderr lines behind a `log_line_prefix`, compiled from the prefix text itself
//!   ([`prefix`]); without a configured prefix the common defaults are tried in turn;
//! - `csvlog` records ([`csvlog`]), whose quoted fields may span lines;
//! - `jsonlog` objects (PostgreSQL 15+, [`jsonlog`]).
//!
//! A stderr entry is several lines: the message, whose own line breaks the server follows with
//! a tab, then `DETAIL:`, `HINT:`, `CONTEXT:`, `STATEMENT:` ... lines, each behind the prefix
//! again. [`Parser::is_continuation`] tells the input which lines belong to the entry before;
//! `parse` splits the joined entry back into its parts.
//!
//! All three formats fill one [`Record`], so a field means the same whatever format it came
//! from; then the message text is read for what it states (`duration: … ms`, the statement,
//! connection details). Values are spans of the entry wherever the text needs no unescaping.

mod csvlog;
mod jsonlog;
mod prefix;

use std::borrow::Cow;
use std::net::IpAddr;

use nom::bytes::complete::{tag, take, take_until, take_while1};
use nom::character::complete::{char, digit1};
use nom::combinator::{opt, recognize, verify};
use nom::sequence::preceded;
use nom::{IResult, Parser as _};

use self::prefix::{Captures, PartKind, Prefix};
use super::timestamp::{
    civil_to_timestamp, parse_datetime, parse_epoch_decimal, parse_offset, TimeZone,
};
use super::{ParseError, Parser, ParserOptions, ParserRegistration};
use crate::event::timestamp::CivilTime;
use crate::event::{span_value, Event, Text, Timestamp, Value};

pub const REGISTRATION: ParserRegistration = ParserRegistration {
    name: "postgresql",
    description: "PostgreSQL server log: stderr with any `log_line_prefix`, csvlog, jsonlog",
    build,
};

fn build(options: &ParserOptions) -> Result<Box<dyn Parser>, String> {
    super::reject_foreign("postgresql", options, &["prefix"])?;
    let zone = TimeZone::from_options(options)?;
    Ok(Box::new(PostgresqlParser::new(
        options.prefix.as_deref(),
        zone,
    )?))
}

/// Prefixes tried, in order, when none is configured: the server's default (`%m [%p] `, read
/// together with Debian's `%m [%p] %q%u@%d ` through `%q`), the older Debian and Ubuntu one,
/// pgBadger's recommendations, and Amazon RDS's fixed prefix. `%t` and `%m` are read alike, so
/// each line stands for both spellings.
pub const DEFAULT_PREFIXES: &[&str] = &[
    "%m [%p] %q%u@%d ",
    "%t [%p-%l] %q%u@%d ",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: [%l-1] ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    "%t:%r:%u@%d:[%p]:",
];

#[derive(Debug, Clone)]
pub struct PostgresqlParser {
    /// The configured prefix alone, or the defaults.
    prefixes: Vec<Prefix>,
    configured: bool,
    /// Zone of timestamps whose abbreviation is unknown.
    zone: TimeZone,
}

impl PostgresqlParser {
    /// A parser for `prefix` (the defaults when `None`).
    pub fn new(prefix: Option<&str>, zone: TimeZone) -> Result<PostgresqlParser, String> {
        let prefixes = match prefix {
            Some(p) => vec![Prefix::compile(p)?],
            None => DEFAULT_PREFIXES
                .iter()
                .map(|p| Prefix::compile(p))
                .collect::<Result<_, _>>()?,
        };
        Ok(PostgresqlParser {
            prefixes,
            configured: prefix.is_some(),
            zone,
        })
    }

    /// The first prefix under which `line` is a stderr line.
    fn match_stderr<'a>(&self, line: &'a [u8]) -> Option<(&Prefix, prefix::Matched<'a>)> {
        self.prefixes
            .iter()
            .find_map(|p| p.match_line(line).ok().map(|m| (p, m)))
    }

    fn stderr_error(&self, line: &[u8]) -> ParseError {
        match self.prefixes.as_slice() {
            [only] if self.configured => match only.match_line(line) {
                Err(miss) => ParseError::new(format!(
                    "postgresql: line does not match log_line_prefix `{}`: expected {} at byte {}",
                    only.text(),
                    miss.expected,
                    miss.at
                )),
                Ok(_) => ParseError::new("postgresql: unreadable entry"),
            },
            _ => ParseError::new(
                "postgresql: not a PostgreSQL log entry: expected a stderr line behind one of the \
                 common log_line_prefix settings (`%m [%p] `, `%t [%p-%l] %q%u@%d `, \
                 `%t [%p]: [%l-1] `, ...; set `prefix` for others) and a severity like `LOG:  `, \
                 a csvlog record or a jsonlog object",
            ),
        }
    }

    /// Reads a stderr entry: the first line and the lines joined to it.
    fn parse_stderr(&self, raw: &str, rec: &mut Record) -> Result<(), ParseError> {
        let entry = trim_line_ends(raw.as_bytes());
        let first_len = memchr::memchr(b'\n', entry).unwrap_or(entry.len());
        let first = trim_cr(entry.get(..first_len).unwrap_or_default());
        let (prefix, matched) = self
            .match_stderr(first)
            .ok_or_else(|| self.stderr_error(first))?;
        self.apply_captures(raw, &matched.captures, rec)?;
        let sev = matched.severity;
        let (level, error) = level_value(sev.word);
        rec.level = Some(level);
        rec.error = error;
        if let Some(code) = sev.sql_state {
            rec.sql_state.get_or_insert_with(|| bytes_value(raw, code));
        }

        let mut part = Part {
            kind: sev.kind,
            start: offset_in(raw, sev.message),
            end: first.len(),
            tabs: false,
        };
        part.end = part.end.max(part.start);
        let mut first_part = true;
        let mut pos = first_len;
        while pos < entry.len() {
            let start = pos + 1;
            let end = memchr::memchr(b'\n', entry.get(start..).unwrap_or_default())
                .map_or(entry.len(), |k| start + k);
            let line = trim_cr(entry.get(start..end).unwrap_or_default());
            let line_end = start + line.len();
            if line.first() == Some(&b'\t') {
                part.end = line_end;
                part.tabs = true;
            } else {
                match prefix.match_line(line) {
                    Ok(m) if m.severity.kind != PartKind::Main => {
                        self.finish_part(raw, part, first_part, rec);
                        first_part = false;
                        part = Part {
                            kind: m.severity.kind,
                            start: offset_in(raw, m.severity.message),
                            end: line_end,
                            tabs: false,
                        };
                    }
                    // Text without the prefix (or a second entry joined by mistake) goes with the
                    // part it follows, so nothing of the entry is dropped.
                    _ => part.end = line_end,
                }
            }
            pos = end;
        }
        self.finish_part(raw, part, first_part, rec);
        Ok(())
    }

    /// Stores one part of a stderr entry where its kind says. The first part is the message,
    /// even when the entry starts with a `DETAIL:` or `STATEMENT:` line (its main line went to
    /// an earlier file); its text is then also stored under its kind.
    fn finish_part(&self, raw: &str, part: Part, first: bool, rec: &mut Record) {
        let text = part_text(raw, &part);
        if part.kind == PartKind::Location {
            set_location(raw, &text, rec);
        }
        if first {
            analyze_message(raw, &text, rec);
            if !matches!(part.kind, PartKind::Main | PartKind::Location) {
                store_part(rec, part.kind, cow_value(raw, text.clone()));
            }
            rec.message = Some(cow_value(raw, text));
        } else if part.kind != PartKind::Location {
            store_part(rec, part.kind, cow_value(raw, text));
        }
    }

    fn apply_captures(
        &self,
        raw: &str,
        caps: &Captures<'_>,
        rec: &mut Record,
    ) -> Result<(), ParseError> {
        if let Some(t) = caps.time {
            self.set_time(raw, &t, rec)?;
        } else if let Some(epoch) = caps.epoch {
            let ts = std::str::from_utf8(epoch)
                .ok()
                .and_then(parse_epoch_decimal)
                .ok_or_else(|| ParseError::new("postgresql: epoch timestamp out of range"))?;
            rec.timestamp = Some(ts);
        }
        if let Some(t) = caps.session_start {
            rec.session_start = resolve_time(&t, &self.zone).map(|(ts, _)| ts);
        }
        rec.pid = caps.pid.and_then(int);
        rec.leader_pid = caps.leader_pid.and_then(int);
        rec.session_line = caps.line_number.and_then(int);
        rec.txid = caps.xid.and_then(int);
        rec.query_id = caps.query_id.and_then(int);
        rec.user = caps.user.and_then(|b| name_value(raw, b));
        rec.database = caps.database.and_then(|b| name_value(raw, b));
        rec.application = caps.application.and_then(|b| name_value(raw, b));
        rec.backend_type = caps.backend_type.and_then(|b| text_if_any(raw, b));
        rec.command_tag = caps.command_tag.and_then(|b| text_if_any(raw, b));
        rec.sql_state = caps.sql_state.and_then(|b| text_if_any(raw, b));
        rec.session_id = caps.session_id.and_then(|b| text_if_any(raw, b));
        rec.vxid = caps.virtual_xid.and_then(|b| text_if_any(raw, b));
        if let Some(hp) = caps.remote_host_port {
            // `host(port)`; no port for Unix sockets (`[local]`).
            let (host, port) = match (hp.iter().rposition(|c| *c == b'('), hp.last()) {
                (Some(open), Some(b')')) => (
                    hp.get(..open).unwrap_or_default(),
                    hp.get(open + 1..hp.len() - 1),
                ),
                _ => (hp, None),
            };
            set_source(raw, host, port.and_then(int), rec);
        }
        if let Some(host) = caps.remote_host {
            set_source(raw, host, None, rec);
        }
        if let Some(local) = caps.local_address.filter(|b| !b.is_empty()) {
            rec.local_ip = std::str::from_utf8(local).ok().and_then(|s| s.parse().ok());
            rec.local_address = Some(bytes_value(raw, local));
        }
        Ok(())
    }

    fn set_time(&self, raw: &str, t: &PgTime<'_>, rec: &mut Record) -> Result<(), ParseError> {
        let (ts, unknown) = resolve_time(t, &self.zone)
            .ok_or_else(|| ParseError::new("postgresql: timestamp out of range"))?;
        rec.timestamp = Some(ts);
        rec.timezone = unknown.map(|z| bytes_value(raw, z));
        Ok(())
    }
}

impl Parser for PostgresqlParser {
    fn dataset(&self) -> &'static str {
        "postgresql.log"
    }

    fn parse(&self, event: &mut Event) -> Result<(), ParseError> {
        let raw = event.raw.as_str();
        let mut rec = Record::default();
        let bytes = raw.as_bytes();
        let lead = bytes.iter().take_while(|c| c.is_ascii_whitespace()).count();
        if bytes.get(lead) == Some(&b'{') {
            jsonlog::read(raw, &self.zone, &mut rec)?;
        } else if looks_like_csvlog(bytes) {
            if let Err(csv_error) = csvlog::read(raw, &self.zone, &mut rec) {
                // A stderr prefix may begin with `%m,` too; the csv error is the likelier story.
                rec = Record::default();
                self.parse_stderr(raw, &mut rec).map_err(|_| csv_error)?;
            }
        } else {
            self.parse_stderr(raw, &mut rec)?;
        }
        emit(event, rec);
        Ok(())
    }

    fn joins_lines(&self) -> bool {
        true
    }

    /// Tab-indented lines (the server's continuation of a multi-line message), severity lines
    /// that belong to an entry (`DETAIL:`, `HINT:`, `CONTEXT:`, `STATEMENT:`, `QUERY:`,
    /// `LOCATION:`), and lines that start no entry at all (the inside of a multi-line csvlog
    /// field) continue the record before them.
    fn is_continuation(&self, line: &[u8]) -> bool {
        let line = trim_cr(line);
        match line.first() {
            None | Some(b'\t') => return true,
            Some(b'{') => return !looks_like_jsonlog(line),
            _ => {}
        }
        if looks_like_csvlog(line) {
            return false;
        }
        match self.match_stderr(line) {
            Some((_, m)) => m.severity.kind != PartKind::Main,
            None => true,
        }
    }
}

/// A byte range of the entry holding one part's text.
#[derive(Debug, Clone, Copy)]
struct Part {
    kind: PartKind,
    start: usize,
    end: usize,
    /// Holds tab-indented lines, whose tab the server added.
    tabs: bool,
}

/// The first of several parts of one kind is kept (a second `DETAIL:` is rare, and the first
/// belongs to the message).
fn store_part(rec: &mut Record, kind: PartKind, value: Value) {
    let slot = match kind {
        PartKind::Detail => &mut rec.detail,
        PartKind::Hint => &mut rec.hint,
        PartKind::Context => &mut rec.context,
        PartKind::Query => &mut rec.internal_query,
        PartKind::Statement => &mut rec.query,
        PartKind::Main | PartKind::Location => return,
    };
    set_once(slot, value);
}

/// A part's text; the tab the server writes after each line break of a message is removed, so
/// a statement reads as it was sent, and CRLF line ends (a log written on Windows) become `\n`.
fn part_text<'r>(raw: &'r str, part: &Part) -> Cow<'r, str> {
    let text = raw.get(part.start..part.end).unwrap_or_default();
    let crlf = memchr::memchr(b'\r', text.as_bytes()).is_some();
    if !part.tabs && !crlf {
        return Cow::Borrowed(text);
    }
    let mut out = if crlf {
        text.replace("\r\n", "\n")
    } else {
        text.to_string()
    };
    if part.tabs {
        out = out.replace("\n\t", "\n");
    }
    Cow::Owned(out)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Without the line breaks an input may leave at the end of an entry.
fn trim_line_ends(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rev()
        .take_while(|c| matches!(c, b'\n' | b'\r'))
        .count();
    b.get(..b.len() - n).unwrap_or_default()
}

/// `{"timestamp":` opens every jsonlog line; other text starting with `{` (a JSON literal on a
/// line of a multi-line statement) does not start an entry.
fn looks_like_jsonlog(line: &[u8]) -> bool {
    line.strip_prefix(b"{").is_some_and(|rest| {
        let n = rest.iter().take_while(|c| c.is_ascii_whitespace()).count();
        rest.get(n..)
            .is_some_and(|r| r.starts_with(b"\"timestamp\""))
    })
}

/// A csvlog record starts with its unquoted `log_time` and a comma.
fn looks_like_csvlog(line: &[u8]) -> bool {
    matches!(pg_time(line), Ok((rest, _)) if rest.first() == Some(&b','))
}

/// A timestamp as the server writes it (`%t`, `%m`, csvlog and jsonlog times), before its zone
/// is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PgTime<'a> {
    civil: CivilTime,
    precision: u8,
    /// The zone as written: an abbreviation (`CEST`) or an offset (`+02`, `-0530`).
    zone: Option<&'a [u8]>,
}

fn zone_token(input: &[u8]) -> IResult<&[u8], &[u8]> {
    verify(
        take_while1(|c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'-'),
        |z: &[u8]| {
            z.len() <= 12
                && z.first()
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'+' || *c == b'-')
        },
    )
    .parse(input)
}

/// `YYYY-MM-DD HH:MM:SS[.fff] ZONE`. The zone is optional so a timestamp written by some other
/// means still reads (in the configured zone).
pub(crate) fn pg_time(input: &[u8]) -> IResult<&[u8], PgTime<'_>> {
    let frac = match input.get(19) {
        Some(b'.') => {
            1 + input
                .get(20..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count()
        }
        _ => 0,
    };
    let (rest, text) = take(19 + frac).parse(input)?;
    let parsed = std::str::from_utf8(text)
        .ok()
        .and_then(parse_datetime)
        .filter(|p| p.offset.is_none());
    let Some(parsed) = parsed else {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Verify,
        )));
    };
    let (rest, zone) = opt(preceded(char(' '), zone_token)).parse(rest)?;
    Ok((
        rest,
        PgTime {
            civil: parsed.civil,
            precision: parsed.precision,
            zone,
        },
    ))
}

/// Zone abbreviations the server writes (from the tz database) and their offsets. Ambiguous
/// ones take their most common meaning: `IST` India, `CST` US Central, `AST` Atlantic.
const ZONES: &[(&str, i32)] = &[
    ("UTC", 0),
    ("GMT", 0),
    ("Z", 0),
    ("UCT", 0),
    ("UT", 0),
    ("CET", 3600),
    ("CEST", 7200),
    ("EET", 7200),
    ("EEST", 3 * 3600),
    ("WET", 0),
    ("WEST", 3600),
    ("BST", 3600),
    ("IST", 5 * 3600 + 1800),
    ("MSK", 3 * 3600),
    ("EST", -5 * 3600),
    ("EDT", -4 * 3600),
    ("CST", -6 * 3600),
    ("CDT", -5 * 3600),
    ("MST", -7 * 3600),
    ("MDT", -6 * 3600),
    ("PST", -8 * 3600),
    ("PDT", -7 * 3600),
    ("AKST", -9 * 3600),
    ("AKDT", -8 * 3600),
    ("HST", -10 * 3600),
    ("AST", -4 * 3600),
    ("ADT", -3 * 3600),
    ("NST", -3 * 3600 - 1800),
    ("NDT", -2 * 3600 - 1800),
    ("JST", 9 * 3600),
    ("KST", 9 * 3600),
    ("HKT", 8 * 3600),
    ("SGT", 8 * 3600),
    ("AWST", 8 * 3600),
    ("ACST", 9 * 3600 + 1800),
    ("ACDT", 10 * 3600 + 1800),
    ("AEST", 10 * 3600),
    ("AEDT", 11 * 3600),
    ("NZST", 12 * 3600),
    ("NZDT", 13 * 3600),
    ("SAST", 2 * 3600),
    ("CAT", 2 * 3600),
    ("EAT", 3 * 3600),
    ("WAT", 3600),
    ("WIB", 7 * 3600),
    ("PKT", 5 * 3600),
];

/// Seconds east of UTC of a zone as the server writes it; `None` when unknown.
fn zone_offset(zone: &[u8]) -> Option<i32> {
    if matches!(zone.first(), Some(b'+' | b'-')) {
        return parse_offset(zone);
    }
    ZONES
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(zone))
        .map(|(_, off)| *off)
}

/// The instant of a server timestamp, and the zone text when it was not understood (the time is
/// then read in `fallback`).
fn resolve_time<'a>(t: &PgTime<'a>, fallback: &TimeZone) -> Option<(Timestamp, Option<&'a [u8]>)> {
    match t.zone.map(|z| (z, zone_offset(z))) {
        Some((_, Some(off))) => Some((civil_to_timestamp(&t.civil, off, t.precision)?, None)),
        Some((z, None)) => Some((fallback.local_to_utc(&t.civil, t.precision)?, Some(z))),
        None => Some((fallback.local_to_utc(&t.civil, t.precision)?, None)),
    }
}

/// Everything an entry says, whatever its format; written out by [`emit`].
#[derive(Debug, Default)]
struct Record {
    timestamp: Option<Timestamp>,
    /// The zone abbreviation, when it is not one the table knows.
    timezone: Option<Value>,
    pid: Option<i64>,
    leader_pid: Option<i64>,
    user: Option<Value>,
    database: Option<Value>,
    application: Option<Value>,
    source_address: Option<Value>,
    source_ip: Option<IpAddr>,
    source_port: Option<i64>,
    local_address: Option<Value>,
    local_ip: Option<IpAddr>,
    backend_type: Option<Value>,
    command_tag: Option<Value>,
    sql_state: Option<Value>,
    session_id: Option<Value>,
    session_line: Option<i64>,
    session_start: Option<Timestamp>,
    vxid: Option<Value>,
    txid: Option<i64>,
    query_id: Option<i64>,
    level: Option<Value>,
    /// ERROR, FATAL or PANIC.
    error: bool,
    message: Option<Value>,
    detail: Option<Value>,
    hint: Option<Value>,
    context: Option<Value>,
    internal_query: Option<Value>,
    internal_query_pos: Option<i64>,
    query_pos: Option<i64>,
    query: Option<Value>,
    query_step: Option<&'static str>,
    query_name: Option<Value>,
    /// Nanoseconds, from `duration: … ms`.
    duration: Option<i64>,
    /// Nanoseconds, from `disconnection: session time: …`.
    session_duration: Option<i64>,
    location: Option<Value>,
    origin_function: Option<Value>,
    origin_file: Option<Value>,
    origin_line: Option<i64>,
}

fn set_once(slot: &mut Option<Value>, value: Value) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

/// ECS wants these as arrays even with one member.
fn static_list(item: &'static str) -> Value {
    Value::Array(vec![Value::Str(Text::Static(item))])
}

fn emit(event: &mut Event, rec: Record) {
    if rec.timestamp.is_some() {
        event.timestamp = rec.timestamp;
    }
    let fields = &mut event.fields;
    // A csvlog or jsonlog entry fills about 25 fields; one allocation instead of regrowing.
    fields.reserve(32);
    let mut put = |name: &'static str, value: Option<Value>| {
        if let Some(v) = value {
            fields.push((Cow::Borrowed(name), v));
        }
    };
    let str_of = |s: Option<&'static str>| s.map(|s| Value::Str(Text::Static(s)));
    put("message", rec.message);
    put("log.level", rec.level);
    put("process.pid", rec.pid.map(Value::Int));
    put("user.name", rec.user);
    put("source.address", rec.source_address);
    put("source.ip", rec.source_ip.map(Value::Ip));
    put("source.port", rec.source_port.map(Value::Int));
    put("destination.address", rec.local_address);
    put("destination.ip", rec.local_ip.map(Value::Ip));
    put("event.duration", rec.duration.map(Value::Int));
    put("log.origin.function", rec.origin_function);
    put("log.origin.file.name", rec.origin_file);
    put("log.origin.file.line", rec.origin_line.map(Value::Int));
    put("postgresql.log.database", rec.database);
    put("postgresql.log.application_name", rec.application);
    put("postgresql.log.backend_type", rec.backend_type);
    put("postgresql.log.command_tag", rec.command_tag);
    put("postgresql.log.sql_state_code", rec.sql_state);
    put("postgresql.log.session_id", rec.session_id);
    put(
        "postgresql.log.session_line_num",
        rec.session_line.map(Value::Int),
    );
    put(
        "postgresql.log.session_start_time",
        rec.session_start.map(Value::Timestamp),
    );
    put("postgresql.log.virtual_transaction_id", rec.vxid);
    put("postgresql.log.transaction_id", rec.txid.map(Value::Int));
    put("postgresql.log.query_id", rec.query_id.map(Value::Int));
    put("postgresql.log.leader_pid", rec.leader_pid.map(Value::Int));
    put("postgresql.log.query", rec.query);
    put("postgresql.log.query_step", str_of(rec.query_step));
    put("postgresql.log.query_name", rec.query_name);
    put("postgresql.log.query_pos", rec.query_pos.map(Value::Int));
    put("postgresql.log.internal_query", rec.internal_query);
    put(
        "postgresql.log.internal_query_pos",
        rec.internal_query_pos.map(Value::Int),
    );
    put("postgresql.log.detail", rec.detail);
    put("postgresql.log.hint", rec.hint);
    put("postgresql.log.context", rec.context);
    put("postgresql.log.location", rec.location);
    put(
        "postgresql.log.session_duration",
        rec.session_duration.map(Value::Int),
    );
    put("postgresql.log.timezone", rec.timezone);
    put("event.kind", str_of(Some("event")));
    put("event.category", Some(static_list("database")));
    let kind = if rec.error { "error" } else { "info" };
    put("event.type", Some(static_list(kind)));
}

/// Byte offset of `sub` in `raw`, when `sub` lies inside it.
fn offset_in(raw: &str, sub: &[u8]) -> usize {
    let start = (sub.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
    if start <= raw.len() && sub.len() <= raw.len() - start {
        start
    } else {
        raw.len()
    }
}

/// A string value for `b`: a span when `b` lies inside `raw` on character boundaries (no
/// allocation), its own copy otherwise (unescaped text lives in a separate allocation).
fn bytes_value(raw: &str, b: &[u8]) -> Value {
    let start = (b.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
    let inside = start <= raw.len() && b.len() <= raw.len() - start;
    if inside && raw.is_char_boundary(start) && raw.is_char_boundary(start + b.len()) {
        span_value(start, start + b.len())
    } else {
        Value::owned_str(String::from_utf8_lossy(b))
    }
}

fn str_value(raw: &str, s: &str) -> Value {
    bytes_value(raw, s.as_bytes())
}

fn cow_value(raw: &str, s: Cow<'_, str>) -> Value {
    match s {
        Cow::Borrowed(b) => str_value(raw, b),
        Cow::Owned(o) => Value::owned_str(o),
    }
}

fn text_if_any(raw: &str, b: &[u8]) -> Option<Value> {
    (!b.is_empty()).then(|| bytes_value(raw, b))
}

/// A user, database or application name: `[unknown]`, the server's placeholder before the
/// startup packet is read, is kept as `unknown` (DESIGN.md); empty means not written.
fn name_value(raw: &str, b: &[u8]) -> Option<Value> {
    match b {
        [] => None,
        b"[unknown]" => Some(Value::Str(Text::Static("unknown"))),
        _ => Some(bytes_value(raw, b)),
    }
}

/// An integer as the server writes it (optional `-`, digits); `None` when empty or out of range.
fn int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let v = digits.iter().try_fold(0i64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(i64::from(d - b'0'))
    })?;
    Some(if neg { -v } else { v })
}

/// Client address: `[local]` (a Unix socket) becomes `local`; `source.ip` only for IPs.
fn set_source(raw: &str, host: &[u8], port: Option<i64>, rec: &mut Record) {
    if host.is_empty() || rec.source_address.is_some() {
        return;
    }
    if host == b"[local]" {
        rec.source_address = Some(Value::Str(Text::Static("local")));
    } else {
        rec.source_ip = std::str::from_utf8(host).ok().and_then(|s| s.parse().ok());
        rec.source_address = Some(bytes_value(raw, host));
    }
    if let Some(p) = port {
        rec.source_port = Some(p);
    }
}

/// Severity words with a fixed lower-case form, so the usual ones cost no allocation.
const LEVELS: &[(&str, &str, bool)] = &[
    ("LOG", "log", false),
    ("ERROR", "error", true),
    ("WARNING", "warning", false),
    ("FATAL", "fatal", true),
    ("NOTICE", "notice", false),
    ("INFO", "info", false),
    ("DEBUG", "debug", false),
    ("PANIC", "panic", true),
    ("STATEMENT", "statement", false),
    ("DETAIL", "detail", false),
    ("HINT", "hint", false),
    ("CONTEXT", "context", false),
    ("QUERY", "query", false),
    ("LOCATION", "location", false),
    ("DEBUG1", "debug1", false),
    ("DEBUG2", "debug2", false),
    ("DEBUG3", "debug3", false),
    ("DEBUG4", "debug4", false),
    ("DEBUG5", "debug5", false),
];

/// `log.level` (lower case) and whether the severity is an error.
fn level_value(word: &[u8]) -> (Value, bool) {
    match LEVELS.iter().find(|(w, _, _)| w.as_bytes() == word) {
        Some((_, lower, error)) => (Value::Str(Text::Static(lower)), *error),
        None => (
            Value::owned_str(String::from_utf8_lossy(word).to_lowercase()),
            false,
        ),
    }
}

/// `function, file.c:123` (the server's LOCATION) into `log.origin.*`; kept whole otherwise.
fn set_location(raw: &str, text: &str, rec: &mut Record) {
    let parts = text.rsplit_once(", ").and_then(|(func, file_line)| {
        let (file, line) = file_line.rsplit_once(':')?;
        let line = int(line.as_bytes())?;
        (!func.is_empty() && !file.is_empty()).then_some((func, file, line))
    });
    match parts {
        Some((func, file, line)) => {
            rec.origin_function
                .get_or_insert_with(|| str_value(raw, func));
            rec.origin_file.get_or_insert_with(|| str_value(raw, file));
            rec.origin_line.get_or_insert(line);
        }
        None if !text.is_empty() => set_once(&mut rec.location, str_value(raw, text)),
        None => {}
    }
}

/// A decimal `whole[.frac]` in a unit of `unit` nanoseconds, to nanoseconds; digits below a
/// nanosecond are cut, not rounded. Exact, unlike going through `f64`.
fn decimal_nanos(text: &str, unit: i64) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole = int(whole.as_bytes()).filter(|w| *w >= 0)?;
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut nanos: i64 = 0;
    let mut place = unit;
    for d in frac.bytes() {
        place /= 10;
        if place == 0 {
            break;
        }
        nanos += i64::from(d - b'0') * place;
    }
    whole.checked_mul(unit)?.checked_add(nanos)
}

/// `H:MM:SS.fff` (the session time of a disconnection) to nanoseconds.
fn session_time_nanos(t: &str) -> Option<i64> {
    let mut it = t.splitn(3, ':');
    let (h, m, s) = (it.next()?, it.next()?, it.next()?);
    let hours = int(h.as_bytes()).filter(|v| *v >= 0)?;
    let minutes = int(m.as_bytes()).filter(|v| *v >= 0)?;
    let seconds = decimal_nanos(s, 1_000_000_000)?;
    hours
        .checked_mul(3600)?
        .checked_add(minutes.checked_mul(60)?)?
        .checked_mul(1_000_000_000)?
        .checked_add(seconds)
}

type StrResult<'a, O> = IResult<&'a str, O>;

/// `123.456 ms`
fn duration_ms(input: &str) -> StrResult<'_, &str> {
    let (rest, number) = recognize((digit1, opt((char('.'), digit1)))).parse(input)?;
    let (rest, _) = tag(" ms").parse(rest)?;
    Ok((rest, number))
}

/// What a message says about the statement: `statement: SQL`, or `execute|parse|bind NAME: SQL`
/// (the extended protocol's steps).
fn query_step(input: &str) -> StrResult<'_, (&'static str, Option<&str>)> {
    if let Ok((rest, _)) = tag::<_, _, nom::error::Error<&str>>("statement: ").parse(input) {
        return Ok((rest, ("statement", None)));
    }
    let (rest, step) = nom::branch::alt((
        tag("execute ").map(|_| "execute"),
        tag("parse ").map(|_| "parse"),
        tag("bind ").map(|_| "bind"),
    ))
    .parse(input)?;
    let (rest, name) = verify(take_until(": "), |n: &str| !n.contains('\n')).parse(rest)?;
    let (rest, _) = tag(": ").parse(rest)?;
    Ok((rest, (step, Some(name))))
}

fn set_query(raw: &str, step: &'static str, name: Option<&str>, sql: &str, rec: &mut Record) {
    rec.query_step = Some(step);
    // `<unnamed>` is the protocol's unnamed statement or portal: no name to keep.
    if let Some(name) = name.filter(|n| *n != "<unnamed>" && !n.is_empty()) {
        rec.query_name = Some(str_value(raw, name));
    }
    if !sql.is_empty() {
        rec.query = Some(str_value(raw, sql));
    }
}

/// `key=value` pairs of connection messages, up to the first word that is not one.
fn connection_pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(' ')
        .map_while(|w| w.split_once('='))
        .filter(|(k, _)| !k.is_empty())
}

fn apply_connection_pairs(raw: &str, text: &str, rec: &mut Record) {
    let mut host = None;
    let mut port = None;
    for (key, value) in connection_pairs(text) {
        match key {
            "user" => set_once(&mut rec.user, str_value(raw, value)),
            "database" => set_once(&mut rec.database, str_value(raw, value)),
            "application_name" => set_once(&mut rec.application, str_value(raw, value)),
            "host" => host = Some(value),
            "port" => port = Some(value),
            _ => {}
        }
    }
    if let Some(host) = host {
        set_source(
            raw,
            host.as_bytes(),
            port.and_then(|p| int(p.as_bytes())),
            rec,
        );
    }
}

/// The value between the first pair of quotes after `key "`.
fn quoted_after<'m>(text: &'m str, key: &str) -> Option<&'m str> {
    let start = text.find(key)? + key.len();
    let rest = text.get(start..)?;
    let end = rest.find('"')?;
    rest.get(..end)
}

/// Reads what the message text states. Values from the prefix or the csvlog/jsonlog columns
/// win: this only fills what they left open.
fn analyze_message(raw: &str, msg: &str, rec: &mut Record) {
    if let Ok((rest, ms)) = preceded(
        tag::<_, _, nom::error::Error<&str>>("duration: "),
        duration_ms,
    )
    .parse(msg)
    {
        rec.duration = decimal_nanos(ms, 1_000_000);
        if let Some(after) = rest.strip_prefix("  ") {
            if let Ok((sql, (step, name))) = query_step(after) {
                set_query(raw, step, name, sql, rec);
            }
        }
        return;
    }
    if let Ok((sql, (step, name))) = query_step(msg) {
        set_query(raw, step, name, sql, rec);
        return;
    }
    if let Some(rest) = msg.strip_prefix("connection received: ") {
        apply_connection_pairs(raw, rest, rec);
    } else if let Some(rest) = msg
        .strip_prefix("connection authorized: ")
        .or_else(|| msg.strip_prefix("replication connection authorized: "))
    {
        apply_connection_pairs(raw, rest, rec);
    } else if let Some(rest) = msg.strip_prefix("disconnection: session time: ") {
        let (time, pairs) = rest.split_once(' ').unwrap_or((rest, ""));
        rec.session_duration = session_time_nanos(time);
        apply_connection_pairs(raw, pairs, rec);
    } else if msg.starts_with("password authentication failed for user \"") {
        if let Some(user) = quoted_after(msg, "for user \"") {
            set_once(&mut rec.user, str_value(raw, user));
        }
    } else if msg.starts_with("no pg_hba.conf entry for ") {
        if let Some(host) = quoted_after(msg, "host \"") {
            set_source(raw, host.as_bytes(), None, rec);
        }
        if let Some(user) = quoted_after(msg, "user \"") {
            set_once(&mut rec.user, str_value(raw, user));
        }
        if let Some(db) = quoted_after(msg, "database \"") {
            set_once(&mut rec.database, str_value(raw, db));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::{to_json_string, DocumentOptions};
    use crate::event::{RecordOrigin, PARSE_FAILURE_TAG};
    use crate::parse::test_support::{int, ip, is_span, s, strs, ts};
    use proptest::prelude::*;

    fn parser() -> PostgresqlParser {
        PostgresqlParser::new(None, TimeZone::Utc).unwrap()
    }

    fn with_prefix(prefix: &str) -> PostgresqlParser {
        PostgresqlParser::new(Some(prefix), TimeZone::Utc).unwrap()
    }

    fn parse_with(p: &PostgresqlParser, entry: &str) -> Event {
        let mut e = Event::new(entry.to_string(), RecordOrigin::default());
        if let Err(err) = p.parse(&mut e) {
            panic!("{entry:?} should parse: {err}");
        }
        e
    }

    fn parse(entry: &str) -> Event {
        parse_with(&parser(), entry)
    }

    fn fail_with(p: &PostgresqlParser, entry: &str) -> String {
        let mut e = Event::new(entry.to_string(), RecordOrigin::default());
        match p.parse(&mut e) {
            Ok(()) => panic!("{entry:?} should not parse: {:?}", e.fields),
            Err(err) => err.0.into_owned(),
        }
    }

    /// Splits `text` into records the way the input does: continuation lines join the record
    /// before them with `\n`.
    fn assemble(p: &PostgresqlParser, text: &str) -> Vec<String> {
        let mut records: Vec<String> = Vec::new();
        for line in text.lines() {
            match records.last_mut() {
                Some(last) if p.is_continuation(line.as_bytes()) => {
                    last.push('\n');
                    last.push_str(line);
                }
                _ => records.push(line.to_string()),
            }
        }
        records
    }

    fn run_like_worker(p: &PostgresqlParser, entry: &str) -> Event {
        let mut e = Event::new(entry.to_string(), RecordOrigin::default());
        e.push("event.dataset", Value::Str(Text::Static("postgresql.log")));
        e.push("host.name", Value::owned_str("db-1"));
        if let Err(err) = p.parse(&mut e) {
            e.mark_parse_failure(err.0);
        }
        e
    }

    #[test]
    fn default_prefix_line() {
        let e = parse("2026-11-22 10:00:00.123 UTC [4242] LOG:  database system is ready to accept connections");
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T10:00:00.123Z"));
        assert_eq!(int(&e, "process.pid"), Some(4242));
        assert_eq!(s(&e, "log.level"), Some("log"));
        assert_eq!(
            s(&e, "message"),
            Some("database system is ready to accept connections")
        );
        assert!(is_span(&e, "message"));
        assert_eq!(strs(&e, "event.category"), ["database"]);
        assert_eq!(strs(&e, "event.type"), ["info"]);
        assert_eq!(s(&e, "event.kind"), Some("event"));
        assert!(e.get("user.name").is_none());
        assert_eq!(parser().dataset(), "postgresql.log");
    }

    #[test]
    fn debian_prefix_session_and_unknown_placeholders() {
        let e =
            parse("2026-11-22 10:00:01.500 UTC [5120] shop_app@shop LOG:  statement: SELECT 1;");
        assert_eq!(s(&e, "user.name"), Some("shop_app"));
        assert!(is_span(&e, "user.name"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("shop"));
        assert_eq!(s(&e, "postgresql.log.query"), Some("SELECT 1;"));
        assert_eq!(s(&e, "postgresql.log.query_step"), Some("statement"));
        assert!(is_span(&e, "postgresql.log.query"));

        let e = parse("2026-11-22 10:00:02.000 UTC [5121] [unknown]@[unknown] LOG:  connection received: host=203.0.113.50 port=40112");
        assert_eq!(s(&e, "user.name"), Some("unknown"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("unknown"));
        assert_eq!(s(&e, "source.address"), Some("203.0.113.50"));
        assert_eq!(ip(&e, "source.ip"), Some("203.0.113.50".parse().unwrap()));
        assert_eq!(int(&e, "source.port"), Some(40112));
    }

    #[test]
    fn other_default_prefixes() {
        let e = parse("2026-11-22 10:00:00 CET [3011-7] bob@inventory ERROR:  permission denied for table stock");
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T09:00:00.000Z"));
        assert_eq!(int(&e, "process.pid"), Some(3011));
        assert_eq!(int(&e, "postgresql.log.session_line_num"), Some(7));
        assert_eq!(s(&e, "user.name"), Some("bob"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("inventory"));
        assert_eq!(strs(&e, "event.type"), ["error"]);

        let e = parse("2026-11-22 10:00:00 CET [3011-8] LOG:  checkpoint starting: time");
        assert_eq!(int(&e, "postgresql.log.session_line_num"), Some(8));
        assert!(e.get("user.name").is_none());

        let e = parse("2026-07-01 12:00:00 CEST [812]: [3-1] LOG:  autovacuum launcher started");
        assert_eq!(ts(&e).as_deref(), Some("2026-07-01T10:00:00.000Z"));
        assert_eq!(int(&e, "postgresql.log.session_line_num"), Some(3));

        let e = parse("2026-11-22 10:00:00 EST [812]: [4-1] user=alice,db=crm,app=psql,client=192.0.2.10 NOTICE:  table \"tmp\" does not exist, skipping");
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T15:00:00.000Z"));
        assert_eq!(s(&e, "user.name"), Some("alice"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("crm"));
        assert_eq!(s(&e, "postgresql.log.application_name"), Some("psql"));
        assert_eq!(s(&e, "source.address"), Some("192.0.2.10"));
        assert_eq!(ip(&e, "source.ip"), Some("192.0.2.10".parse().unwrap()));
        assert_eq!(s(&e, "log.level"), Some("notice"));

        let e = parse("2026-11-22 10:00:00 UTC [812]: user=alice,db=crm,app=[unknown],client=[local] LOG:  duration: 0.051 ms");
        assert_eq!(s(&e, "postgresql.log.application_name"), Some("unknown"));
        assert_eq!(s(&e, "source.address"), Some("local"));
        assert!(e.get("source.ip").is_none());
        assert_eq!(int(&e, "event.duration"), Some(51_000));

        // Amazon RDS, IPv6 client included.
        let e = parse("2026-11-22 10:00:00 UTC:2001:db8::7(51234):app@orders:[9120]:LOG:  connection authorized: user=app database=orders");
        assert_eq!(s(&e, "source.address"), Some("2001:db8::7"));
        assert_eq!(int(&e, "source.port"), Some(51234));
        assert_eq!(s(&e, "user.name"), Some("app"));
        assert_eq!(int(&e, "process.pid"), Some(9120));
        let e = parse("2026-11-22 10:00:00 UTC::@:[388]:LOG:  checkpoint starting: time");
        assert_eq!(int(&e, "process.pid"), Some(388));
        assert!(e.get("user.name").is_none());
        assert!(e.get("source.address").is_none());
    }

    #[test]
    fn slow_query_with_multi_line_statement() {
        let entry = "2026-11-21 22:03:13.402 UTC [1412] LOG:  duration: 1532.418 ms  statement: SELECT o.id, o.total\n\tFROM orders o\n\t\tWHERE o.total > 100\n\tLIMIT 50;";
        let e = parse(entry);
        assert_eq!(int(&e, "event.duration"), Some(1_532_418_000));
        assert_eq!(
            s(&e, "postgresql.log.query"),
            Some("SELECT o.id, o.total\nFROM orders o\n\tWHERE o.total > 100\nLIMIT 50;")
        );
        assert_eq!(s(&e, "postgresql.log.query_step"), Some("statement"));
        assert_eq!(
            s(&e, "message"),
            Some("duration: 1532.418 ms  statement: SELECT o.id, o.total\nFROM orders o\n\tWHERE o.total > 100\nLIMIT 50;")
        );
        let e = parse("2026-11-21 22:26:09.993 UTC [1531] LOG:  duration: 7546.201 ms");
        assert_eq!(int(&e, "event.duration"), Some(7_546_201_000));
        assert!(e.get("postgresql.log.query").is_none());
        let e = parse("2026-11-21 22:26:09.993 UTC [1531] LOG:  duration: 12 ms  plan:\n\tQuery Text: SELECT 1");
        assert_eq!(int(&e, "event.duration"), Some(12_000_000));
        assert!(e.get("postgresql.log.query").is_none());
    }

    #[test]
    fn extended_protocol_steps() {
        let e = parse("2026-11-21 22:24:51.004 UTC [1412] LOG:  duration: 0.412 ms  parse S_1: SELECT id FROM shipments WHERE order_id = $1");
        assert_eq!(s(&e, "postgresql.log.query_step"), Some("parse"));
        assert_eq!(s(&e, "postgresql.log.query_name"), Some("S_1"));
        assert_eq!(
            s(&e, "postgresql.log.query"),
            Some("SELECT id FROM shipments WHERE order_id = $1")
        );
        assert_eq!(int(&e, "event.duration"), Some(412_000));
        let entry = "2026-11-21 22:24:51.318 UTC [1412] LOG:  duration: 312.884 ms  execute <unnamed>: SELECT 1\n2026-11-21 22:24:51.318 UTC [1412] DETAIL:  parameters: $1 = '90177'";
        let e = parse(entry);
        assert_eq!(s(&e, "postgresql.log.query_step"), Some("execute"));
        assert!(e.get("postgresql.log.query_name").is_none());
        assert_eq!(
            s(&e, "postgresql.log.detail"),
            Some("parameters: $1 = '90177'")
        );
        let e = parse("2026-11-21 22:24:51.318 UTC [1412] LOG:  bind S_2/C_3: SELECT 2");
        assert_eq!(s(&e, "postgresql.log.query_step"), Some("bind"));
        assert_eq!(s(&e, "postgresql.log.query_name"), Some("S_2/C_3"));
        assert!(e.get("event.duration").is_none());
        let e = parse("2026-11-21 22:24:51.318 UTC [1412] LOG:  execute S_1: SELECT 3");
        assert_eq!(s(&e, "postgresql.log.query"), Some("SELECT 3"));
    }

    #[test]
    fn deadlock_with_detail_hint_context_statement() {
        let entry = "2026-11-21 22:15:33.902 UTC [1677] ERROR:  deadlock detected\n\
2026-11-21 22:15:33.902 UTC [1677] DETAIL:  Process 1677 waits for ShareLock on transaction 8812311; blocked by process 1680.\n\
\tProcess 1680 waits for ShareLock on transaction 8812309; blocked by process 1677.\n\
2026-11-21 22:15:33.902 UTC [1677] HINT:  See server log for query details.\n\
2026-11-21 22:15:33.902 UTC [1677] CONTEXT:  while updating tuple (0,7) in relation \"accounts\"\n\
2026-11-21 22:15:33.902 UTC [1677] STATEMENT:  UPDATE accounts SET balance = balance - 50 WHERE id = 2;";
        let p = parser();
        assert_eq!(assemble(&p, entry), vec![entry.to_string()]);
        let e = parse_with(&p, entry);
        assert_eq!(s(&e, "message"), Some("deadlock detected"));
        assert_eq!(s(&e, "log.level"), Some("error"));
        assert_eq!(strs(&e, "event.type"), ["error"]);
        assert_eq!(
            s(&e, "postgresql.log.detail"),
            Some("Process 1677 waits for ShareLock on transaction 8812311; blocked by process 1680.\nProcess 1680 waits for ShareLock on transaction 8812309; blocked by process 1677.")
        );
        assert_eq!(
            s(&e, "postgresql.log.hint"),
            Some("See server log for query details.")
        );
        assert!(is_span(&e, "postgresql.log.hint"));
        assert_eq!(
            s(&e, "postgresql.log.context"),
            Some("while updating tuple (0,7) in relation \"accounts\"")
        );
        assert_eq!(
            s(&e, "postgresql.log.query"),
            Some("UPDATE accounts SET balance = balance - 50 WHERE id = 2;")
        );
        assert!(e.get("postgresql.log.query_step").is_none());
    }

    #[test]
    fn sqlstate_from_prefix_and_from_verbose_messages() {
        let p = with_prefix("%m [%p] %e %q%u@%d ");
        let entry = "2026-11-22 10:00:00.000 UTC [2355] 23505 shop_app@shop ERROR:  duplicate key value violates unique constraint \"customers_email_key\"\n\
2026-11-22 10:00:00.000 UTC [2355] 23505 shop_app@shop DETAIL:  Key (email)=(jane@example.com) already exists.\n\
2026-11-22 10:00:00.000 UTC [2355] 23505 shop_app@shop STATEMENT:  INSERT INTO customers (email) VALUES ('jane@example.com');";
        assert_eq!(assemble(&p, entry).len(), 1);
        let e = parse_with(&p, entry);
        assert_eq!(s(&e, "postgresql.log.sql_state_code"), Some("23505"));
        assert_eq!(
            s(&e, "postgresql.log.query"),
            Some("INSERT INTO customers (email) VALUES ('jane@example.com');")
        );
        assert_eq!(
            s(&e, "postgresql.log.detail"),
            Some("Key (email)=(jane@example.com) already exists.")
        );

        let e = parse_with(&p, "2026-11-22 10:00:01.000 UTC [2402] 28P01 reporting@shop FATAL:  password authentication failed for user \"reporting\"");
        assert_eq!(s(&e, "postgresql.log.sql_state_code"), Some("28P01"));
        assert_eq!(s(&e, "log.level"), Some("fatal"));
        assert_eq!(strs(&e, "event.type"), ["error"]);
        assert_eq!(s(&e, "user.name"), Some("reporting"));

        let e = parse_with(&p, "2026-11-22 10:00:02.000 UTC [2410] 53300 [unknown]@[unknown] FATAL:  sorry, too many clients already");
        assert_eq!(s(&e, "postgresql.log.sql_state_code"), Some("53300"));
        assert_eq!(s(&e, "message"), Some("sorry, too many clients already"));

        // `log_error_verbosity = verbose`: code after the severity, LOCATION line after.
        let entry = "2026-11-22 00:12:45.902 CET [2355] shop_app@shop ERROR:  23505: duplicate key value violates unique constraint \"k\"\n\
2026-11-22 00:12:45.902 CET [2355] shop_app@shop LOCATION:  _bt_check_unique, nbtinsert.c:666";
        let e = parse(entry);
        assert_eq!(s(&e, "postgresql.log.sql_state_code"), Some("23505"));
        assert_eq!(
            s(&e, "message"),
            Some("duplicate key value violates unique constraint \"k\"")
        );
        assert_eq!(s(&e, "log.origin.function"), Some("_bt_check_unique"));
        assert_eq!(s(&e, "log.origin.file.name"), Some("nbtinsert.c"));
        assert_eq!(int(&e, "log.origin.file.line"), Some(666));
        assert_eq!(ts(&e).as_deref(), Some("2026-11-21T23:12:45.902Z"));
    }

    #[test]
    fn password_and_hba_failures_name_the_client() {
        let e = parse("2026-11-21 22:07:41.553 UTC [1530] FATAL:  password authentication failed for user \"reporting\"");
        assert_eq!(s(&e, "user.name"), Some("reporting"));
        let e = parse("2026-11-21 22:47:12.660 UTC [2140] FATAL:  no pg_hba.conf entry for host \"198.51.100.7\", user \"admin\", database \"postgres\", no encryption");
        assert_eq!(s(&e, "source.address"), Some("198.51.100.7"));
        assert_eq!(ip(&e, "source.ip"), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(s(&e, "user.name"), Some("admin"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("postgres"));
    }

    #[test]
    fn connection_lines() {
        let e = parse("2026-11-21 22:03:12.881 UTC [1412] LOG:  connection authorized: user=shop_app database=shop application_name=checkout-api SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)");
        assert_eq!(s(&e, "user.name"), Some("shop_app"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("shop"));
        assert_eq!(
            s(&e, "postgresql.log.application_name"),
            Some("checkout-api")
        );
        let e = parse("2026-11-21 22:08:02.014 UTC [1531] LOG:  connection received: host=[local]");
        assert_eq!(s(&e, "source.address"), Some("local"));
        assert!(e.get("source.port").is_none());
        let e = parse("2026-11-21 22:27:40.120 UTC [1531] LOG:  disconnection: session time: 1:19:38.106 user=postgres database=postgres host=2001:db8::1 port=5544");
        assert_eq!(
            int(&e, "postgresql.log.session_duration"),
            Some(((3600 + 19 * 60 + 38) * 1_000_000_000) + 106_000_000)
        );
        assert_eq!(s(&e, "user.name"), Some("postgres"));
        assert_eq!(ip(&e, "source.ip"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(int(&e, "source.port"), Some(5544));
        assert!(e.get("event.duration").is_none());
        // The prefix's user wins over the message's.
        let e = parse("2026-11-22 10:00:00.000 UTC [77] bob@shop LOG:  connection authorized: user=other database=elsewhere");
        assert_eq!(s(&e, "user.name"), Some("bob"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("shop"));
    }

    #[test]
    fn background_messages_keep_their_lines() {
        let entry = "2026-11-21 22:11:09.660 UTC [1602] LOG:  automatic vacuum of table \"shop.public.order_items\": index scans: 1\n\tpages: 0 removed, 18342 remain\n\tsystem usage: CPU: user: 0.29 s";
        let e = parse(entry);
        assert_eq!(
            s(&e, "message"),
            Some("automatic vacuum of table \"shop.public.order_items\": index scans: 1\npages: 0 removed, 18342 remain\nsystem usage: CPU: user: 0.29 s")
        );
        let e = parse("2026-11-21 22:05:27.331 UTC [1030] LOG:  checkpoint complete: wrote 2731 buffers (16.7%); write=27.106 s, sync=0.031 s, total=27.212 s");
        assert!(s(&e, "message").unwrap().starts_with("checkpoint complete"));
        assert!(e.get("event.duration").is_none());
        let e = parse(
            "2026-11-22 10:00:00.000 UTC [7] DEBUG:  autovacuum: processing database \"shop\"",
        );
        assert_eq!(s(&e, "log.level"), Some("debug"));
        let e = parse("2026-11-22 10:00:00.000 UTC [7] PANIC:  could not write to file \"pg_wal/xlogtemp.7\": No space left on device");
        assert_eq!(strs(&e, "event.type"), ["error"]);
    }

    #[test]
    fn parallel_workers_backend_types_and_the_rest_of_the_escapes() {
        let p = with_prefix("%m [%p:%P] %b %c %v %x %i %Q %s|");
        let e = parse_with(&p, "2026-11-22 10:00:00.250 UTC [4405:4401] parallel worker 6540a1b2.1135 24/3 0 SELECT 4170331109982716288 2026-11-22 09:59:58 UTC|ERROR:  canceling statement due to user request");
        assert_eq!(int(&e, "process.pid"), Some(4405));
        assert_eq!(int(&e, "postgresql.log.leader_pid"), Some(4401));
        assert_eq!(
            s(&e, "postgresql.log.backend_type"),
            Some("parallel worker")
        );
        assert_eq!(s(&e, "postgresql.log.session_id"), Some("6540a1b2.1135"));
        assert_eq!(s(&e, "postgresql.log.virtual_transaction_id"), Some("24/3"));
        assert_eq!(int(&e, "postgresql.log.transaction_id"), Some(0));
        assert_eq!(s(&e, "postgresql.log.command_tag"), Some("SELECT"));
        assert_eq!(
            int(&e, "postgresql.log.query_id"),
            Some(4170331109982716288)
        );
        assert_eq!(
            e.get("postgresql.log.session_start_time"),
            Some(&Value::Timestamp(
                crate::parse::timestamp::parse_rfc3339("2026-11-22T09:59:58Z").unwrap()
            ))
        );
        // The leader itself: `%P` is empty.
        let e = parse_with(&p, "2026-11-22 10:00:00.250 UTC [4401:] client backend 6540a1b2.1131 3/7 0 idle in transaction 0 2026-11-22 09:59:58 UTC|LOG:  x");
        assert!(e.get("postgresql.log.leader_pid").is_none());
        assert_eq!(
            s(&e, "postgresql.log.command_tag"),
            Some("idle in transaction")
        );
        assert_eq!(s(&e, "postgresql.log.backend_type"), Some("client backend"));

        let p = with_prefix("%n %r %L ");
        let e = parse_with(&p, "1763805600.123 10.0.0.5(51234) 10.0.0.1 LOG:  x");
        assert_eq!(ts(&e).as_deref(), Some("2025-11-22T10:00:00.123Z"));
        assert_eq!(s(&e, "source.address"), Some("10.0.0.5"));
        assert_eq!(int(&e, "source.port"), Some(51234));
        assert_eq!(ip(&e, "destination.ip"), Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn zones_and_offsets() {
        let cases = [
            ("UTC", "2026-11-22T10:00:00.000Z"),
            ("GMT", "2026-11-22T10:00:00.000Z"),
            ("CET", "2026-11-22T09:00:00.000Z"),
            ("CEST", "2026-11-22T08:00:00.000Z"),
            ("EEST", "2026-11-22T07:00:00.000Z"),
            ("BST", "2026-11-22T09:00:00.000Z"),
            ("IST", "2026-11-22T04:30:00.000Z"),
            ("MSK", "2026-11-22T07:00:00.000Z"),
            ("EST", "2026-11-22T15:00:00.000Z"),
            ("PDT", "2026-11-22T17:00:00.000Z"),
            ("AKST", "2026-11-22T19:00:00.000Z"),
            ("HST", "2026-11-22T20:00:00.000Z"),
            ("JST", "2026-11-22T01:00:00.000Z"),
            ("ACST", "2026-11-22T00:30:00.000Z"),
            ("AEDT", "2026-11-21T23:00:00.000Z"),
            ("NZDT", "2026-11-21T21:00:00.000Z"),
            ("+02", "2026-11-22T08:00:00.000Z"),
            ("-0500", "2026-11-22T15:00:00.000Z"),
            ("+0530", "2026-11-22T04:30:00.000Z"),
        ];
        for (zone, expected) in cases {
            let e = parse(&format!("2026-11-22 10:00:00 {zone} [1] LOG:  x"));
            assert_eq!(ts(&e).as_deref(), Some(expected), "{zone}");
            assert!(e.get("postgresql.log.timezone").is_none(), "{zone}");
        }
        // Unknown abbreviation: the configured zone, and the abbreviation kept.
        let p = PostgresqlParser::new(None, TimeZone::parse("Europe/Berlin").unwrap()).unwrap();
        let e = parse_with(&p, "2026-11-22 10:00:00.5 XYZT [1] LOG:  x");
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T09:00:00.500Z"));
        assert_eq!(s(&e, "postgresql.log.timezone"), Some("XYZT"));
        let e = parse("2026-11-22 10:00:00 XYZT [1] LOG:  x");
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T10:00:00.000Z"));
    }

    #[test]
    fn padded_prefix_from_configuration() {
        let p = with_prefix("%m [%-6p] %-10u %10d: ");
        let line = format!(
            "2026-11-22 10:00:00.000 UTC [{:<6}] {:<10} {:>10}: LOG:  x",
            42, "bob", "shop"
        );
        let e = parse_with(&p, &line);
        assert_eq!(int(&e, "process.pid"), Some(42));
        assert_eq!(s(&e, "user.name"), Some("bob"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("shop"));
    }

    #[test]
    fn continuation_rules() {
        let p = parser();
        let cont = |l: &str| p.is_continuation(l.as_bytes());
        assert!(cont("\tFROM orders o"));
        assert!(cont(""));
        assert!(cont(
            "2026-11-22 10:00:00.000 UTC [12] DETAIL:  Key (id)=(1) already exists."
        ));
        assert!(cont(
            "2026-11-22 10:00:00.000 UTC [12] bob@shop STATEMENT:  SELECT 1"
        ));
        assert!(cont("2026-11-22 10:00:00.000 UTC [12] HINT:  x"));
        assert!(cont("2026-11-22 10:00:00.000 UTC [12] CONTEXT:  x"));
        assert!(cont("2026-11-22 10:00:00.000 UTC [12] QUERY:  x"));
        assert!(cont("2026-11-22 10:00:00.000 UTC [12] LOCATION:  x"));
        assert!(cont("FROM t WHERE a = 'b'\",,,,,"));
        assert!(cont("{\"a\": 1}"));
        assert!(!cont("2026-11-22 10:00:00.000 UTC [12] LOG:  x"));
        assert!(!cont("2026-11-22 10:00:00.000 UTC [12] ERROR:  x"));
        assert!(!cont("2026-11-22 10:00:00.000 UTC,\"bob\",\"shop\",12,"));
        assert!(!cont("{\"timestamp\":\"2026-11-22 10:00:00.000 UTC\"}"));
        assert!(!cont("{ \"timestamp\" : 1}"));
        assert!(p.joins_lines());
        // With a configured prefix, the defaults do not start entries.
        let p = with_prefix("%t [%p]: [%l-1] ");
        assert!(p.is_continuation(b"2026-11-22 10:00:00.000 UTC [12] LOG:  x"));
        assert!(!p.is_continuation(b"2026-11-22 10:00:00 UTC [12]: [3-1] LOG:  x"));
        assert!(p.is_continuation(b"2026-11-22 10:00:00 UTC [12]: [4-1] DETAIL:  x"));
    }

    #[test]
    fn entries_starting_with_a_continuation_kind_and_stray_text() {
        // A record cut off from its main line (file rotation) still reads.
        let e = parse("2026-11-22 10:00:00.000 UTC [12] STATEMENT:  SELECT 1");
        assert_eq!(s(&e, "log.level"), Some("statement"));
        assert_eq!(s(&e, "postgresql.log.query"), Some("SELECT 1"));
        assert_eq!(s(&e, "message"), Some("SELECT 1"));
        // Text without prefix joins the part before it.
        let e = parse("2026-11-22 10:00:00.000 UTC [12] LOG:  first\nsecond line\r\n");
        assert_eq!(s(&e, "message"), Some("first\nsecond line"));
        assert!(is_span(&e, "message"));
        // CRLF line ends inside an entry.
        let e = parse("2026-11-22 10:00:00.000 UTC [12] LOG:  statement: SELECT 1\r\n\tFROM t\r\n2026-11-22 10:00:00.000 UTC [12] DETAIL:  d\r\n");
        assert_eq!(s(&e, "postgresql.log.query"), Some("SELECT 1\nFROM t"));
        assert_eq!(s(&e, "postgresql.log.detail"), Some("d"));
    }

    #[test]
    fn translated_severities() {
        let e = parse(
            "2026-11-22 10:00:00.000 CET [12] FEHLER:  Relation »bestellungen« existiert nicht",
        );
        assert_eq!(s(&e, "log.level"), Some("fehler"));
        assert_eq!(
            s(&e, "message"),
            Some("Relation »bestellungen« existiert nicht")
        );
    }

    #[test]
    fn malformed_entries_fail_with_a_reason() {
        let p = parser();
        assert!(fail_with(&p, "pg_ctl: another server might be running")
            .contains("not a PostgreSQL log entry"));
        assert!(fail_with(&p, "").contains("not a PostgreSQL log entry"));
        assert!(
            fail_with(&p, "2026-11-22 10:00:00.000 UTC [12] no severity here")
                .contains("not a PostgreSQL")
        );
        assert!(
            fail_with(&p, "2026-13-22 10:00:00.000 UTC [12] LOG:  x").contains("not a PostgreSQL")
        );
        let msg = fail_with(
            &with_prefix("%m [%p] %e "),
            "2026-11-22 10:00:00.000 UTC [12] LOG:  x",
        );
        assert!(msg.starts_with("postgresql: line does not match log_line_prefix `%m [%p] %e `: expected a five-character SQLSTATE"), "{msg}");
        assert!(msg.ends_with("at byte 33"), "{msg}");
        assert!(
            fail_with(&p, "{\"timestamp\":\"2026-11-22 10:00:00.000 UTC\",")
                .contains("invalid jsonlog")
        );
        assert!(fail_with(&p, "{\"level\":\"info\"}").contains("lacks"));
        assert!(
            fail_with(&p, "2026-11-22 01:00:00.000 UTC,\"shop_app\",\"shop\",3")
                .contains("columns")
        );
    }

    #[test]
    fn build_through_the_registry() {
        let opts = ParserOptions {
            prefix: Some("%t [%p]: [%l-1] ".into()),
            timezone: Some("Europe/Berlin".into()),
            ..ParserOptions::default()
        };
        let p = crate::parse::build("postgresql", &opts).unwrap();
        assert_eq!(p.dataset(), "postgresql.log");
        assert!(p.joins_lines());
        let opts = ParserOptions {
            log_format: Some("combined".into()),
            ..ParserOptions::default()
        };
        assert!(crate::parse::build("postgresql", &opts)
            .unwrap_err()
            .contains("`log_format` is not an option of the `postgresql` parser"));
        let opts = ParserOptions {
            timezone: Some("Mars/Olympus".into()),
            ..ParserOptions::default()
        };
        assert!(crate::parse::build("postgresql", &opts).is_err());
        let opts = ParserOptions {
            prefix: Some("%m\n".into()),
            ..ParserOptions::default()
        };
        assert!(crate::parse::build("postgresql", &opts).is_err());
    }

    #[test]
    fn csvlog_pg17_with_quotes_and_newlines() {
        let entry = "2026-11-22 00:02:40.771 UTC,\"shop_app\",\"shop\",3101,\"10.0.4.21:51514\",6b0230c8.c1d,3,\"SELECT\",2026-11-22 00:01:12 UTC,12/14,0,LOG,00000,\"duration: 1204.331 ms  statement: SELECT id\nFROM orders\nWHERE note = 'say \"\"hi\"\"'\",,,,,,,,,\"checkout-api\",\"client backend\",,-3451526071224355012";
        let p = parser();
        assert_eq!(assemble(&p, entry), vec![entry.to_string()]);
        let e = parse_with(&p, entry);
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T00:02:40.771Z"));
        assert_eq!(s(&e, "user.name"), Some("shop_app"));
        assert!(is_span(&e, "user.name"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("shop"));
        assert_eq!(int(&e, "process.pid"), Some(3101));
        assert_eq!(s(&e, "source.address"), Some("10.0.4.21"));
        assert_eq!(int(&e, "source.port"), Some(51514));
        assert_eq!(s(&e, "postgresql.log.session_id"), Some("6b0230c8.c1d"));
        assert_eq!(int(&e, "postgresql.log.session_line_num"), Some(3));
        assert_eq!(s(&e, "postgresql.log.command_tag"), Some("SELECT"));
        assert!(matches!(
            e.get("postgresql.log.session_start_time"),
            Some(Value::Timestamp(_))
        ));
        assert_eq!(
            s(&e, "postgresql.log.virtual_transaction_id"),
            Some("12/14")
        );
        assert_eq!(int(&e, "postgresql.log.transaction_id"), Some(0));
        assert_eq!(s(&e, "log.level"), Some("log"));
        assert_eq!(s(&e, "postgresql.log.sql_state_code"), Some("00000"));
        assert_eq!(int(&e, "event.duration"), Some(1_204_331_000));
        assert_eq!(
            s(&e, "postgresql.log.query"),
            Some("SELECT id\nFROM orders\nWHERE note = 'say \"hi\"'")
        );
        assert_eq!(
            s(&e, "postgresql.log.application_name"),
            Some("checkout-api")
        );
        assert_eq!(s(&e, "postgresql.log.backend_type"), Some("client backend"));
        assert_eq!(
            int(&e, "postgresql.log.query_id"),
            Some(-3451526071224355012)
        );
        assert!(e.get("postgresql.log.leader_pid").is_none());
    }

    #[test]
    fn csvlog_errors_and_older_servers() {
        let entry = "2026-11-22 00:35:02.004 UTC,\"shop_app\",\"shop\",3330,\"[local]\",6b0238ce.d02,4,\"SELECT\",2026-11-22 00:34:40 UTC,21/9,0,ERROR,22P02,\"invalid input syntax for type integer: \"\"12a\"\"\",,,\"SELECT $1::integer\",8,\"PL/pgSQL function order_total(text) line 4 at assignment\",\"SELECT order_total('12a');\",15,\"pg_strtoint32_safe, numutils.c:617\",\"psql\",\"client backend\",,0";
        let e = parse(entry);
        assert_eq!(
            s(&e, "message"),
            Some("invalid input syntax for type integer: \"12a\"")
        );
        assert!(matches!(e.get("message"), Some(Value::Str(Text::Owned(_)))));
        assert_eq!(s(&e, "source.address"), Some("local"));
        assert_eq!(s(&e, "postgresql.log.sql_state_code"), Some("22P02"));
        assert_eq!(strs(&e, "event.type"), ["error"]);
        assert_eq!(
            s(&e, "postgresql.log.internal_query"),
            Some("SELECT $1::integer")
        );
        assert_eq!(int(&e, "postgresql.log.internal_query_pos"), Some(8));
        assert_eq!(
            s(&e, "postgresql.log.query"),
            Some("SELECT order_total('12a');")
        );
        assert_eq!(int(&e, "postgresql.log.query_pos"), Some(15));
        assert_eq!(s(&e, "log.origin.function"), Some("pg_strtoint32_safe"));
        assert_eq!(int(&e, "log.origin.file.line"), Some(617));

        // PostgreSQL 12: 23 columns, IPv6 client.
        let entry = "2026-11-22 00:01:00.000 UTC,\"bob\",\"crm\",77,\"2001:db8::25:45678\",6b02306c.4d,1,\"idle\",2026-11-22 00:00:50 UTC,3/1,0,LOG,00000,\"statement: SELECT 1\",,,,,,,,,\"psql\"";
        let e = parse(entry);
        assert_eq!(s(&e, "source.address"), Some("2001:db8::25"));
        assert_eq!(int(&e, "source.port"), Some(45678));
        assert_eq!(s(&e, "postgresql.log.query"), Some("SELECT 1"));
        assert_eq!(s(&e, "postgresql.log.application_name"), Some("psql"));
        assert!(e.get("postgresql.log.backend_type").is_none());
        // 8.4: 22 columns, background process without names.
        let entry = "2026-11-22 00:01:00.000 CET,,,77,,6b02306c.4d,1,,2026-11-22 00:00:50 CET,,0,LOG,00000,\"checkpoint starting: time\",,,,,,,,";
        let e = parse(entry);
        assert_eq!(ts(&e).as_deref(), Some("2026-11-21T23:01:00.000Z"));
        assert!(e.get("user.name").is_none());
        assert!(e.get("postgresql.log.application_name").is_none());
    }

    #[test]
    fn jsonlog_entries() {
        let line = r#"{"timestamp":"2026-11-22 01:03:05.220 CET","user":"shop_app","dbname":"shop","pid":4101,"remote_host":"10.0.4.21","remote_port":51514,"session_id":"6b0230c8.1005","line_num":4,"ps":"INSERT","session_start":"2026-11-22 01:01:12 CET","vxid":"12/15","txid":8816001,"error_severity":"ERROR","state_code":"23505","message":"duplicate key value violates unique constraint \"orders_pkey\"","detail":"Key (id)=(90311) already exists.","statement":"INSERT INTO orders (id) VALUES (90311);","func_name":"_bt_check_unique","file_name":"nbtinsert.c","file_line_num":666,"application_name":"checkout-api","backend_type":"client backend","query_id":6104113745082215227,"new_key_of_pg_42":true}"#;
        let e = parse(line);
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T00:03:05.220Z"));
        assert_eq!(s(&e, "user.name"), Some("shop_app"));
        assert!(is_span(&e, "user.name"));
        assert_eq!(s(&e, "postgresql.log.database"), Some("shop"));
        assert_eq!(int(&e, "process.pid"), Some(4101));
        assert_eq!(ip(&e, "source.ip"), Some("10.0.4.21".parse().unwrap()));
        assert_eq!(int(&e, "source.port"), Some(51514));
        assert_eq!(int(&e, "postgresql.log.session_line_num"), Some(4));
        assert_eq!(s(&e, "postgresql.log.command_tag"), Some("INSERT"));
        assert_eq!(int(&e, "postgresql.log.transaction_id"), Some(8816001));
        assert_eq!(s(&e, "log.level"), Some("error"));
        assert_eq!(s(&e, "postgresql.log.sql_state_code"), Some("23505"));
        assert_eq!(
            s(&e, "message"),
            Some("duplicate key value violates unique constraint \"orders_pkey\"")
        );
        assert!(matches!(e.get("message"), Some(Value::Str(Text::Owned(_)))));
        assert_eq!(
            s(&e, "postgresql.log.detail"),
            Some("Key (id)=(90311) already exists.")
        );
        assert_eq!(
            s(&e, "postgresql.log.query"),
            Some("INSERT INTO orders (id) VALUES (90311);")
        );
        assert_eq!(s(&e, "log.origin.function"), Some("_bt_check_unique"));
        assert_eq!(int(&e, "log.origin.file.line"), Some(666));
        assert_eq!(
            int(&e, "postgresql.log.query_id"),
            Some(6104113745082215227)
        );
        assert_eq!(strs(&e, "event.type"), ["error"]);

        let line = r#"{"timestamp":"2026-11-22 01:02:40.771 UTC","user":"[unknown]","pid":4101,"remote_host":"[local]","error_severity":"LOG","message":"duration: 2044.918 ms  statement: SELECT 1\nFROM t","backend_type":"parallel worker","leader_pid":4100}"#;
        let e = parse(line);
        assert_eq!(s(&e, "user.name"), Some("unknown"));
        assert_eq!(s(&e, "source.address"), Some("local"));
        assert_eq!(int(&e, "event.duration"), Some(2_044_918_000));
        assert_eq!(s(&e, "postgresql.log.query"), Some("SELECT 1\nFROM t"));
        assert_eq!(int(&e, "postgresql.log.leader_pid"), Some(4100));
        let msg = fail_with(
            &parser(),
            r#"{"timestamp":"yesterday","error_severity":"LOG"}"#,
        );
        assert!(msg.contains("jsonlog timestamp `yesterday`"), "{msg}");
        assert!(fail_with(
            &parser(),
            r#"{"timestamp":"2026-11-22 01:02:40.771 UTC","error_severity":"LOG","pid":"x"}"#
        )
        .contains("invalid jsonlog"));
    }

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/postgresql")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Parses every record of a fixture; returns the events and the indices that failed.
    fn run_fixture(name: &str) -> (Vec<Event>, Vec<usize>) {
        let p = parser();
        let mut failed = Vec::new();
        let events: Vec<Event> = assemble(&p, &fixture(name))
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let e = run_like_worker(&p, r);
                if e.has_tag(PARSE_FAILURE_TAG) {
                    failed.push(i);
                }
                let doc = to_json_string(&e, DocumentOptions::default());
                assert!(
                    serde_json::from_str::<serde_json::Value>(&doc).is_ok(),
                    "{doc}"
                );
                e
            })
            .collect();
        (events, failed)
    }

    #[test]
    fn stderr_fixture() {
        let (events, failed) = run_fixture("postgresql.log");
        assert_eq!(events.len(), 49);
        // Text before the first entry, a cut-off jsonlog line, a cut-off csvlog record.
        assert_eq!(failed, vec![0, 31, 46]);
        for (i, e) in events.iter().enumerate() {
            if !failed.contains(&i) {
                let t = ts(e).expect("timestamp");
                assert!(
                    t.as_str() >= "2026-11-21T22:00:00" && t.as_str() < "2026-11-22T02:00:00",
                    "{t}"
                );
            }
        }
        let slow = &events[8];
        assert_eq!(int(slow, "event.duration"), Some(1_532_418_000));
        assert!(s(slow, "postgresql.log.query")
            .unwrap()
            .ends_with("ORDER BY o.total DESC\nLIMIT 50;"));
        let deadlocks: Vec<&Event> = events
            .iter()
            .filter(|e| s(e, "message").is_some_and(|m| m.contains("deadlock detected")))
            .collect();
        assert_eq!(deadlocks.len(), 2);
        for d in deadlocks {
            assert!(s(d, "postgresql.log.hint").is_some());
            assert!(s(d, "postgresql.log.context").is_some());
            assert!(s(d, "postgresql.log.query").unwrap().starts_with("UPDATE"));
        }
        let codes: Vec<&str> = events
            .iter()
            .filter_map(|e| s(e, "postgresql.log.sql_state_code"))
            .filter(|c| *c != "00000")
            .collect();
        assert_eq!(codes, ["23505", "28P01", "53300", "40P01", "57014"]);
        let unknown = events
            .iter()
            .filter(|e| s(e, "user.name") == Some("unknown"))
            .count();
        assert_eq!(unknown, 2);
    }

    #[test]
    fn csv_fixture() {
        let (events, failed) = run_fixture("postgresql.csv");
        assert_eq!(events.len(), 21);
        assert_eq!(failed, vec![15, 17]);
        assert_eq!(int(&events[3], "event.duration"), Some(1_204_331_000));
        assert_eq!(
            s(&events[9], "postgresql.log.detail").map(|d| d.lines().count()),
            Some(4)
        );
        assert_eq!(s(&events[19], "source.address"), Some("2001:db8::25"));
    }

    #[test]
    fn json_fixture() {
        let (events, failed) = run_fixture("postgresql.json");
        assert_eq!(events.len(), 20);
        assert_eq!(failed, vec![15, 17]);
        assert_eq!(s(&events[16], "user.name"), Some("bjørn"));
        assert_eq!(
            s(&events[16], "postgresql.log.application_name"),
            Some("Lagerverwaltung – Ü")
        );
        assert_eq!(int(&events[4], "event.duration"), Some(2_044_918_000));
    }

    #[test]
    fn failure_keeps_the_entry() {
        let p = parser();
        let entry = "garbage before\n\tthe first entry";
        let e = run_like_worker(&p, entry);
        assert!(e.has_tag(PARSE_FAILURE_TAG));
        assert_eq!(s(&e, "message"), Some(entry));
        assert_eq!(s(&e, "event.dataset"), Some("postgresql.log"));
        assert!(s(&e, "error.message").unwrap().starts_with("postgresql:"));
    }

    /// Renders a stderr line for `prefix` the way the server would.
    #[allow(clippy::too_many_arguments)]
    fn render(
        prefix: &str,
        secs: i64,
        millis: u32,
        pid: u32,
        user: &str,
        db: &str,
        host: &str,
        port: u16,
        session: bool,
    ) -> String {
        let ts = Timestamp::from_unix(secs, millis * 1_000_000, 3).unwrap();
        let c = ts.civil();
        let base = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        );
        let b = prefix.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while let Some(&ch) = b.get(i) {
            i += 1;
            if ch != b'%' {
                out.push(ch as char);
                continue;
            }
            let mut spec = String::new();
            while let Some(&d) = b.get(i).filter(|d| d.is_ascii_digit() || **d == b'-') {
                spec.push(d as char);
                i += 1;
            }
            let letter = b[i];
            i += 1;
            let value = match letter {
                b'q' if !session => return out,
                b'q' => String::new(),
                b'm' => format!("{base}.{millis:03} UTC"),
                b't' => format!("{base} UTC"),
                b'n' => format!("{secs}.{millis:03}"),
                b'p' => pid.to_string(),
                b'l' => "3".into(),
                b'u' if session => user.into(),
                b'd' if session => db.into(),
                b'a' if session => "psql".into(),
                b'h' if session => host.into(),
                b'r' if session && host == "[local]" => host.into(),
                b'r' if session => format!("{host}({port})"),
                b'c' => format!("{secs:x}.{pid:x}"),
                b'e' => "00000".into(),
                _ => String::new(),
            };
            let width: i64 = spec.parse().unwrap_or(0);
            let padded = if width < 0 {
                format!("{value:<w$}", w = width.unsigned_abs() as usize)
            } else {
                format!("{value:>w$}", w = width as usize)
            };
            out.push_str(&padded);
        }
        out
    }

    /// Prefixes for generated lines, and whether each writes the user and database.
    const GENERATED_PREFIXES: &[(&str, bool)] = &[
        ("%m [%p] ", false),
        ("%m [%p] %q%u@%d ", true),
        ("%t [%p-%l] %q%u@%d ", true),
        ("%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ", true),
        ("%t:%r:%u@%d:[%p]:", true),
        ("%m [%-8p] %q%-12u %10d ", true),
        ("%n|%p|%c|%e|%q%u|%d| ", true),
        ("< %m %r %u %d %p > ", true),
    ];

    proptest! {
        // The crate's case count (`PROPTEST_CASES`); no regression files in the shared tree, a
        // failure prints its minimal input.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..crate::parse::test_support::proptest_config()
        })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let entry = String::from_utf8_lossy(&bytes).into_owned();
            let p = parser();
            let _ = p.is_continuation(&bytes);
            let e = run_like_worker(&p, &entry);
            let doc = to_json_string(&e, DocumentOptions::default());
            prop_assert!(serde_json::from_str::<serde_json::Value>(&doc).is_ok());
            if e.has_tag(PARSE_FAILURE_TAG) {
                prop_assert_eq!(s(&e, "message"), Some(entry.as_str()));
                prop_assert!(e.get("error.message").is_some());
            }
        }

        #[test]
        fn near_valid_entries_never_panic(
            head in prop::sample::select(vec![
                "2026-11-22 10:00:00.123 UTC [42] ",
                "2026-11-22 10:00:00 CET [42-1] ",
                "2026-11-22 10:00:00.123 UTC,",
                "{\"timestamp\":\"2026-11-22 10:00:00.123 UTC\",",
                "2026-11-22 10:00:00 UTC:",
            ]),
            middle in r#"[ -~\t\n"{}\[\],:@äß]{0,120}"#,
        ) {
            let entry = format!("{head}{middle}");
            let p = parser();
            for line in entry.lines() {
                let _ = p.is_continuation(line.as_bytes());
            }
            let e = run_like_worker(&p, &entry);
            let doc = to_json_string(&e, DocumentOptions::default());
            prop_assert!(serde_json::from_str::<serde_json::Value>(&doc).is_ok());
            if e.has_tag(PARSE_FAILURE_TAG) {
                prop_assert_eq!(s(&e, "message"), Some(entry.as_str()));
            }
        }

        #[test]
        fn generated_stderr_lines_round_trip(
            (prefix, names) in prop::sample::select(GENERATED_PREFIXES.to_vec()),
            secs in 946_684_800i64..4_102_444_800,
            millis in 0u32..1000,
            pid in 1u32..4_194_304,
            user in prop_oneof![Just("[unknown]".to_string()), "[a-z][a-z0-9_]{0,14}"],
            db in prop_oneof![Just("[unknown]".to_string()), "[a-z][a-z0-9_]{0,14}"],
            host in prop_oneof![
                Just("[local]".to_string()),
                any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
                any::<[u16; 8]>().prop_map(|s| std::net::Ipv6Addr::from(s).to_string()),
            ],
            port in 1024u16..,
            session in any::<bool>(),
            level in prop::sample::select(vec!["LOG", "ERROR", "WARNING", "FATAL", "NOTICE"]),
            message in "[a-z][ -~]{0,60}",
        ) {
            let line = format!(
                "{}{level}:  {message}",
                render(prefix, secs, millis, pid, &user, &db, &host, port, session)
            );
            let configured = with_prefix(prefix);
            let defaults = parser();
            let mut all = vec![&configured];
            // The defaults must read their own lines (and `%m [%p] `, read through `%q`).
            if DEFAULT_PREFIXES.contains(&prefix) || prefix == "%m [%p] " {
                all.push(&defaults);
            }
            for p in all {
                prop_assert!(!p.is_continuation(line.as_bytes()), "{}", line);
                let e = parse_with(p, &line);
                prop_assert_eq!(int(&e, "process.pid"), Some(i64::from(pid)), "{}", line);
                let has_names = session && names;
                let name = |n: &str| if n == "[unknown]" { "unknown".to_string() } else { n.to_string() };
                prop_assert_eq!(s(&e, "user.name").map(str::to_string), has_names.then(|| name(&user)), "{}", line);
                prop_assert_eq!(s(&e, "postgresql.log.database").map(str::to_string), has_names.then(|| name(&db)), "{}", line);
                let lower = level.to_ascii_lowercase();
                prop_assert_eq!(s(&e, "log.level"), Some(lower.as_str()));
                prop_assert_eq!(s(&e, "message"), Some(message.as_str()));
                let expected_ms = if prefix.contains("%t") { 0 } else { i64::from(millis) };
                prop_assert_eq!(e.timestamp.map(|t| t.nanos), Some(secs * 1_000_000_000 + expected_ms * 1_000_000));
                if session && (prefix.contains("%r") || prefix.contains("%h")) {
                    let addr = if host == "[local]" { "local" } else { host.as_str() };
                    prop_assert_eq!(s(&e, "source.address"), Some(addr), "{}", line);
                }
            }
        }
    }
}
