//! Custom NGINX `log_format` strings for the `nginx_access` parser: the format a config author
//! pastes from nginx.conf is compiled once, at build time, into a sequence of literal texts and
//! variables, and every line is then matched against that sequence.
//!
//! What is accepted as "the format": the string as it stands in nginx.conf, with or without its
//! single quotes, several quoted pieces in a row (`'$a - $b '\n    '"$c"'`), a leading
//! `log_format <name>` and `escape=default|json|none`, a trailing `;`, `$var` and `${var}`, and
//! the predefined names `combined` and `main` (the `main` of the stock nginx.conf).
//!
//! Matching: a variable takes the bytes up to the first occurrence of the literal text that
//! follows it (to the end of the line for a last variable). Inside `"…"` a backslash escape
//! never ends the value, so `\"` (escape=json) and `\x22` (escape=default) stay inside. This is
//! the only rule the line format allows: nginx writes variables without delimiting them, so two
//! variables without text between them cannot be told apart and are a compile error.
//!
//! Known variables map to ECS (see [`classify`]); every other one is kept as text under
//! `nginx.access.<name>`. `-` (nginx's "no value") and empty values produce no field.
//!
//! `$http_x_forwarded_for`: when the remote address is not a public IP (a load balancer in front
//! of nginx without the realip module) its first public address becomes `source.address` and
//! `source.ip`, and the remote-address position is kept in `nginx.access.remote_ip_list`. This is
//! on by default for compiled formats (see [`LogFormatParser::with_forwarded_for_promotion`]); the
//! default `combined` parser never does it, its output stays as it was.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};

use memchr::memmem;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_till1, take_while1};
use nom::character::complete::{alphanumeric1, multispace0, multispace1};
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Parser as _};
use smallvec::SmallVec;

use super::nginx_access::{
    cow_value, http_version, is_public, pick_source, push_remote_list, push_request, push_source,
    push_status, push_url_parts, put, static_list, text_value, to_i64, unescape, url_parts, Fields,
    Span,
};
use super::timestamp::{parse_datetime_in, parse_epoch_decimal, parse_nginx_time, TimeZone};
use super::{ParseError, Parser, PLAIN_NUMBER_MAX};
use crate::event::{span_value, Event, Text, Timestamp, Value};

/// nginx's built-in `combined` format.
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

/// The `main` format of the nginx.conf that nginx ships (commented out there, and enabled by
/// most distributions' packages): `combined` plus the X-Forwarded-For header.
pub const MAIN: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#;

/// How nginx escaped variable values (`log_format … escape=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// `"`, `\`, control and non-ASCII bytes as `\xHH`.
    Default,
    /// JSON string escapes: `\"`, `\\`, `\n`, `\u00XX`.
    Json,
    /// Written as is: a backslash is an ordinary character.
    None,
}

/// What a variable becomes in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    /// Address or proxy list, handled as `combined` handles its first field.
    RemoteAddr,
    TimeLocal,
    TimeIso8601,
    /// Epoch seconds with milliseconds.
    Msec,
    Request,
    /// `url.original` and the `url.*` parts of it.
    RequestUri,
    ServerProtocol,
    Status,
    /// `event.duration` in nanoseconds.
    RequestTime,
    /// Seconds (Float), or an Array of them when several upstreams were tried.
    Seconds(&'static str),
    /// An integer, or an Array of them when several upstreams were tried.
    Ints(&'static str),
    /// Always an Array, one entry per upstream tried.
    UpstreamAddr,
    ForwardedFor,
    SslProtocol,
    /// `p` (pipelined) or `.`.
    Pipe,
    Int(&'static str),
    Float(&'static str),
    /// An address to `address` and, when it is an IP, to `ip`.
    Address {
        address: &'static str,
        ip: &'static str,
    },
    Text(&'static str),
}

/// False starts [`Literal::find`] tries by hand before handing over to the substring searcher.
const FAST_CANDIDATES: usize = 8;

/// Text of the format between two variables (or before the first, after the last).
#[derive(Debug, Clone)]
struct Literal {
    text: Box<str>,
    finder: memmem::Finder<'static>,
}

impl Literal {
    fn new(text: &str) -> Literal {
        Literal {
            text: text.into(),
            finder: memmem::Finder::new(text.as_bytes()).into_owned(),
        }
    }

    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// First occurrence in `hay`. Literals are short and their first byte is rare before the
    /// real end of a value (` - `, `] "`, `" "`), so a memchr for that byte plus a compare beats
    /// a general substring search; after a few false starts the searcher takes over, which keeps
    /// a hostile line linear.
    #[inline]
    fn find(&self, hay: &[u8]) -> Option<usize> {
        let (&first, tail) = self.bytes().split_first()?;
        let mut from = 0;
        for _ in 0..FAST_CANDIDATES {
            let at = from + memchr::memchr(first, hay.get(from..)?)?;
            if hay.get(at + 1..).is_some_and(|h| h.starts_with(tail)) {
                return Some(at);
            }
            from = at + 1;
        }
        let rest = hay.get(from..)?;
        self.finder.find(rest).map(|k| from + k)
    }

    /// For error messages: control characters (a pasted `\t`) made visible.
    fn shown(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        for c in self.text.chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// One variable and the literal that ends it.
#[derive(Debug, Clone)]
struct Step {
    /// As written (lower-cased), for error messages.
    name: Box<str>,
    var: Var,
    /// `None` for a last variable, which runs to the end of the line.
    until: Option<Literal>,
    /// Between `"` and `"`: escapes are skipped when looking for the end.
    quoted: bool,
}

/// A compiled `log_format`: a leading literal, then variables each followed by a literal.
#[derive(Debug, Clone)]
pub struct LogFormat {
    lead: Literal,
    steps: Vec<Step>,
    escape: Escape,
    /// The format text after quotes and prefixes were removed.
    text: Box<str>,
}

impl LogFormat {
    /// Compiles a format as pasted from nginx.conf (see the module documentation).
    pub fn compile(pasted: &str) -> Result<LogFormat, String> {
        let (escape, text) = unwrap_config(pasted)?;
        let tokens = tokenize(&text)?;
        build_steps(escape, &text, &tokens)
    }

    /// The format text, as nginx itself would see it.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn escape(&self) -> Escape {
        self.escape
    }

    /// Names of the variables, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|s| &*s.name)
    }
}

/// A `nginx_access` parser for a configured `log_format`.
#[derive(Debug, Clone)]
pub struct LogFormatParser {
    format: LogFormat,
    zone: TimeZone,
    promote_forwarded_for: bool,
}

impl LogFormatParser {
    /// Compiles `format`; `zone` reads `$time_iso8601` values that lack an offset (nginx always
    /// writes one, hand-made formats may not).
    pub fn compile(format: &str, zone: TimeZone) -> Result<LogFormatParser, String> {
        Ok(LogFormatParser {
            format: LogFormat::compile(format)?,
            zone,
            promote_forwarded_for: true,
        })
    }

    /// Whether the first public address of `$http_x_forwarded_for` replaces a remote address
    /// that is private or absent in `source.*` (on by default).
    pub fn with_forwarded_for_promotion(mut self, on: bool) -> LogFormatParser {
        self.promote_forwarded_for = on;
        self
    }

    pub fn format(&self) -> &LogFormat {
        &self.format
    }
}

impl Parser for LogFormatParser {
    fn dataset(&self) -> &'static str {
        "nginx.access"
    }

    fn parse(&self, event: &mut Event) -> Result<(), ParseError> {
        let mark = event.fields.len();
        match self.match_line(event) {
            Ok(time) => {
                if time.is_some() {
                    event.timestamp = time;
                }
                Ok(())
            }
            Err(e) => {
                // Leave the event as it came: no half of a document.
                event.fields.truncate(mark);
                Err(e)
            }
        }
    }
}

/// Whether the value of a variable may hold anything (see `Event::mark_free_text`). Not: an
/// absent value (`-`), a time, a status or a pipelining flag that `emit` validated, nor a number
/// it validated that is too short to be a card, SSN or phone number. The format's literal text
/// between the variables is never free text.
fn holds_free_text(var: &Var, text: &[u8]) -> bool {
    if text.is_empty() || text == b"-" {
        return false;
    }
    match var {
        Var::TimeLocal | Var::TimeIso8601 | Var::Msec | Var::Status | Var::Pipe => false,
        Var::RequestTime | Var::Seconds(_) | Var::Ints(_) | Var::Int(_) | Var::Float(_) => {
            text.len() > PLAIN_NUMBER_MAX
        }
        Var::RemoteAddr
        | Var::Request
        | Var::RequestUri
        | Var::ServerProtocol
        | Var::UpstreamAddr
        | Var::ForwardedFor
        | Var::SslProtocol
        | Var::Address { .. }
        | Var::Text(_) => true,
    }
}

fn fail(msg: String) -> ParseError {
    ParseError::new(format!("nginx_access: {msg}"))
}

/// Where the remote address and X-Forwarded-For were found: both are needed before either can
/// be written.
#[derive(Default)]
struct Deferred {
    remote: Option<Span>,
    forwarded: Option<Span>,
}

impl LogFormatParser {
    /// Matches `event.raw` and appends the fields; returns the event time.
    fn match_line(&self, event: &mut Event) -> Result<Option<Timestamp>, ParseError> {
        let Event { raw, fields, .. } = event;
        let raw: &str = raw;
        let bytes = raw.as_bytes();
        // Trailing blanks (a `\r` of CRLF files) are not part of any value.
        let end = bytes.len()
            - bytes
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_whitespace())
                .count();
        let line = bytes.get(..end).unwrap_or_default();
        let lead = self.format.lead.bytes();
        if !line.starts_with(lead) {
            return Err(fail(format!(
                "expected `{}` at byte 0",
                self.format.lead.shown()
            )));
        }
        fields.reserve(self.format.steps.len() + 8);
        put(fields, "message", span_value(0, raw.len()));

        let mut pos = lead.len();
        let mut free: SmallVec<[(usize, usize); 16]> = SmallVec::new();
        let mut time = None;
        let mut deferred = Deferred::default();
        let last = self.format.steps.len().saturating_sub(1);
        for (i, step) in self.format.steps.iter().enumerate() {
            let rest = line.get(pos..).unwrap_or_default();
            let (value_end, next) = match &step.until {
                None => (end, end),
                // The last literal closes the line: anchoring it at the end lets the value
                // contain that text (a `"` written raw with escape=none).
                Some(lit) if i == last => {
                    if !rest.ends_with(lit.bytes()) {
                        return Err(fail(format!(
                            "expected `{}` after ${} at the end of the line",
                            lit.shown(),
                            step.name
                        )));
                    }
                    (end - lit.bytes().len(), end)
                }
                Some(lit) => {
                    let found = if step.quoted && self.format.escape != Escape::None {
                        find_outside_escapes(rest, lit)
                    } else {
                        lit.find(rest)
                    };
                    let at = found.ok_or_else(|| {
                        fail(format!(
                            "expected `{}` after ${} (from byte {pos})",
                            lit.shown(),
                            step.name
                        ))
                    })?;
                    (pos + at, pos + at + lit.bytes().len())
                }
            };
            let span = Span {
                start: pos,
                end: value_end,
            };
            self.emit(raw, fields, step, span, &mut time, &mut deferred)?;
            if holds_free_text(
                &step.var,
                bytes.get(span.start..span.end).unwrap_or_default(),
            ) {
                free.push((span.start, span.end));
            }
            pos = next;
        }
        if pos < end {
            return Err(fail(format!(
                "unexpected text after the end of the log_format at byte {pos}"
            )));
        }
        self.emit_source(raw, fields, &deferred);
        put(fields, "event.category", static_list("web"));
        put(fields, "event.type", static_list("access"));
        event.mark_free_text(&free);
        Ok(time)
    }

    /// Unescapes a value as nginx escaped it; borrowed when nothing was escaped.
    fn decode<'r>(&self, text: &'r str) -> Cow<'r, str> {
        if memchr::memchr(b'\\', text.as_bytes()).is_none() {
            return Cow::Borrowed(text);
        }
        match self.format.escape {
            Escape::Default => unescape(text),
            Escape::Json => json_unescape(text),
            Escape::None => Cow::Borrowed(text),
        }
    }

    fn emit(
        &self,
        raw: &str,
        fields: &mut Fields,
        step: &Step,
        span: Span,
        time: &mut Option<Timestamp>,
        deferred: &mut Deferred,
    ) -> Result<(), ParseError> {
        let text = raw.get(span.start..span.end).ok_or_else(|| {
            fail(format!(
                "${} at byte {} does not end on a character boundary",
                step.name, span.start
            ))
        })?;
        if text.is_empty() || text == "-" {
            return Ok(());
        }
        let invalid = |what: &str| {
            let shown: String = text.chars().take(40).collect();
            fail(format!(
                "invalid ${} `{shown}` at byte {}: expected {what}",
                step.name, span.start
            ))
        };
        match step.var {
            Var::RemoteAddr => deferred.remote = Some(span),
            Var::ForwardedFor => deferred.forwarded = Some(span),
            Var::TimeLocal => {
                let t = parse_nginx_time(text.as_bytes())
                    .ok_or_else(|| invalid("`dd/Mon/yyyy:hh:mm:ss +hhmm`"))?;
                *time = Some(t);
            }
            Var::TimeIso8601 => {
                let t = parse_datetime_in(text, &self.zone)
                    .ok_or_else(|| invalid("`yyyy-mm-ddThh:mm:ss+hh:mm`"))?;
                *time = Some(t);
            }
            Var::Msec => {
                let t = is_decimal(text)
                    .then(|| parse_epoch_decimal(text))
                    .flatten()
                    .ok_or_else(|| invalid("epoch seconds like `1763805600.123`"))?;
                *time = Some(t);
            }
            Var::Request => {
                let decoded = self.decode(text);
                push_request(raw, fields, span, &decoded);
            }
            Var::RequestUri => {
                let decoded = self.decode(text);
                put(fields, "url.original", text_value(raw, &decoded));
                push_url_parts(raw, fields, url_parts("GET", &decoded));
            }
            Var::ServerProtocol => match http_version(text) {
                Some(v) => put(fields, "http.version", text_value(raw, v)),
                None => put(fields, "nginx.access.server_protocol", span.value()),
            },
            Var::Status => {
                let status = to_i64(text.as_bytes())
                    .filter(|_| text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| invalid("a three-digit status code"))?;
                push_status(fields, status);
            }
            Var::RequestTime => {
                let nanos =
                    seconds_to_nanos(text).ok_or_else(|| invalid("seconds like `0.123`"))?;
                put(fields, "event.duration", Value::Int(nanos));
            }
            Var::Seconds(name) => {
                let value = number_list(text, seconds_value)
                    .ok_or_else(|| invalid("seconds, or a list of them"))?;
                if let Some(value) = value {
                    put(fields, name, value);
                }
            }
            Var::Ints(name) => {
                let value = number_list(text, int_value)
                    .ok_or_else(|| invalid("a number, or a list of them"))?;
                if let Some(value) = value {
                    put(fields, name, value);
                }
            }
            Var::UpstreamAddr => {
                let decoded = self.decode(text);
                let list: Vec<Value> = list_entries(&decoded)
                    .filter(|e| *e != "-")
                    .map(|e| text_value(raw, e))
                    .collect();
                if !list.is_empty() {
                    put(fields, "nginx.access.upstream.addr", Value::Array(list));
                }
            }
            Var::SslProtocol => match tls_version(text) {
                Some((protocol, version)) => {
                    put(
                        fields,
                        "tls.version_protocol",
                        Value::Str(Text::Static(protocol)),
                    );
                    let version = match version {
                        Cow::Borrowed(v) => text_value(raw, v),
                        Cow::Owned(v) => Value::owned_str(v),
                    };
                    put(fields, "tls.version", version);
                }
                None => put(fields, "nginx.access.ssl_protocol", span.value()),
            },
            Var::Pipe => {
                let pipelined = match text {
                    "p" => true,
                    "." => false,
                    _ => return Err(invalid("`p` or `.`")),
                };
                put(fields, "nginx.access.pipe", Value::Bool(pipelined));
            }
            Var::Int(name) => {
                let v = text
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| to_i64(text.as_bytes()))
                    .flatten()
                    .ok_or_else(|| invalid("a number"))?;
                put(fields, name, Value::Int(v));
            }
            Var::Float(name) => {
                let v = decimal_f64(text).ok_or_else(|| invalid("a decimal number"))?;
                put(fields, name, Value::Float(v));
            }
            Var::Address { address, ip } => {
                put(fields, address, span.value());
                if let Some(parsed) = parse_ip(text) {
                    put(fields, ip, Value::Ip(parsed));
                }
            }
            Var::Text(name) => {
                let decoded = self.decode(text);
                put(fields, name, cow_value(raw, decoded));
            }
        }
        Ok(())
    }

    /// `source.*` from the remote address, or from X-Forwarded-For when the remote address says
    /// nothing about the client; and the X-Forwarded-For list itself.
    fn emit_source(&self, raw: &str, fields: &mut Fields, deferred: &Deferred) {
        let remote = deferred
            .remote
            .and_then(|span| raw.get(span.start..span.end));
        let pick = remote.map(pick_source).unwrap_or_default();
        let forwarded = deferred
            .forwarded
            .and_then(|span| raw.get(span.start..span.end))
            .map(|text| self.decode(text));
        let mut promoted = None;
        if let Some(xff) = &forwarded {
            let entries: Vec<Value> = list_entries(xff).map(|e| text_value(raw, e)).collect();
            if !entries.is_empty() {
                put(
                    fields,
                    "nginx.access.http_x_forwarded_for",
                    Value::Array(entries),
                );
            }
            if self.promote_forwarded_for && !pick.public {
                promoted = list_entries(xff)
                    .find_map(|e| parse_ip(e).filter(|ip| is_public(*ip)).map(|ip| (e, ip)));
            }
        }
        match (promoted, remote) {
            (Some((entry, ip)), _) => {
                put(fields, "source.address", text_value(raw, entry));
                put(fields, "source.ip", Value::Ip(ip));
                // The proxy's address would be lost otherwise.
                if let Some(area) = remote {
                    push_remote_list(raw, fields, area);
                }
            }
            (None, Some(area)) => push_source(raw, fields, area, &pick),
            (None, None) => {}
        }
    }
}

/// The first occurrence of `lit` in `hay` that is not part of a backslash escape. `lit` starts
/// with `"` here (the value is quoted), so only that byte and `\` need looking at.
fn find_outside_escapes(hay: &[u8], lit: &Literal) -> Option<usize> {
    let needle = lit.bytes();
    let &first = needle.first()?;
    let mut from = 0;
    loop {
        let at = from + memchr::memchr2(first, b'\\', hay.get(from..)?)?;
        match hay.get(at) {
            Some(b'\\') => from = at + 2,
            _ if hay.get(at..).is_some_and(|h| h.starts_with(needle)) => return Some(at),
            _ => from = at + 1,
        }
    }
}

/// Entries of a list nginx wrote: `, ` between upstreams (and X-Forwarded-For hops), ` : `
/// between the upstream groups of an internal redirect.
fn list_entries(s: &str) -> impl Iterator<Item = &str> {
    s.split(',')
        .flat_map(|part| part.split(" : "))
        .map(|e| e.trim_matches(' '))
        .filter(|e| !e.is_empty())
}

/// One value, or an Array when there are several; `-` entries (an upstream not reached) are
/// kept as nulls so positions still line up with `$upstream_addr`. `None` when an entry is not
/// a number; `Some(None)` when nothing but `-` was written.
fn number_list(text: &str, read: fn(&str) -> Option<Value>) -> Option<Option<Value>> {
    // One upstream is the common case: no list to build.
    if !text.bytes().any(|b| b == b',' || b == b':') {
        let entry = text.trim_matches(' ');
        return match entry {
            "" | "-" => Some(None),
            _ => read(entry).map(Some),
        };
    }
    let mut values = Vec::new();
    for entry in list_entries(text) {
        values.push(if entry == "-" {
            Value::Null
        } else {
            read(entry)?
        });
    }
    Some(match values.len() {
        0 => None,
        1 => values.pop().filter(|v| *v != Value::Null),
        _ => Some(Value::Array(values)),
    })
}

fn seconds_value(s: &str) -> Option<Value> {
    decimal_f64(s).map(Value::Float)
}

fn int_value(s: &str) -> Option<Value> {
    s.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| to_i64(s.as_bytes()))
        .flatten()
        .map(Value::Int)
}

/// Digits with at most one `.` inside: what nginx writes for times and ratios. Refusing the
/// rest keeps `inf`, `NaN` and exponents (which `f64::from_str` takes) out of the document.
fn is_decimal(s: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(s),
    }
}

fn decimal_f64(s: &str) -> Option<f64> {
    if !is_decimal(s) {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `1.234` seconds to nanoseconds, exactly (a float would turn 0.003 into 2999999 ns).
fn seconds_to_nanos(s: &str) -> Option<i64> {
    if !is_decimal(s) {
        return None;
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let whole = to_i64(int.as_bytes())?.checked_mul(1_000_000_000)?;
    let mut nanos = 0i64;
    let mut place = 100_000_000i64;
    for d in frac.bytes().take(9) {
        nanos += i64::from(d - b'0') * place;
        place /= 10;
    }
    whole.checked_add(nanos)
}

/// An IP address, also when a proxy appended a port (`203.0.113.7:51234`, `[2001:db8::1]:443`).
fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// `TLSv1.3` -> (`tls`, `1.3`); `TLSv1` -> (`tls`, `1.0`); `SSLv3` -> (`ssl`, `3.0`), the ECS
/// `tls.version_protocol` / `tls.version` split.
fn tls_version(p: &str) -> Option<(&'static str, Cow<'_, str>)> {
    let (protocol, version) = if let Some(v) = p.strip_prefix("TLSv") {
        ("tls", v)
    } else if let Some(v) = p.strip_prefix("SSLv") {
        ("ssl", v)
    } else {
        return None;
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let version = if version.contains('.') {
        Cow::Borrowed(version)
    } else {
        Cow::Owned(format!("{version}.0"))
    };
    Some((protocol, version))
}

/// Undoes nginx's `escape=json`: the JSON string escapes. Unknown or cut escapes are kept as
/// written, lone surrogates become U+FFFD.
fn json_unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        let (before, from_backslash) = rest.split_at(at);
        out.push_str(before);
        let after = from_backslash.get(1..).unwrap_or_default();
        let simple = match after.as_bytes().first() {
            Some(b'"') => Some('"'),
            Some(b'\\') => Some('\\'),
            Some(b'/') => Some('/'),
            Some(b'n') => Some('\n'),
            Some(b'r') => Some('\r'),
            Some(b't') => Some('\t'),
            Some(b'b') => Some('\u{8}'),
            Some(b'f') => Some('\u{c}'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            rest = after.get(1..).unwrap_or_default();
            continue;
        }
        if let Some(unit) = after.strip_prefix('u').and_then(hex4) {
            let mut used = 5;
            let c = if (0xD800..0xDC00).contains(&unit) {
                // A high surrogate needs its low half from the next escape.
                let low = after
                    .get(5..)
                    .and_then(|t| t.strip_prefix("\\u"))
                    .and_then(hex4)
                    .filter(|l| (0xDC00..0xE000).contains(l));
                match low {
                    Some(low) => {
                        used = 11;
                        char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                    }
                    None => None,
                }
            } else {
                char::from_u32(unit)
            };
            out.push(c.unwrap_or('\u{fffd}'));
            rest = after.get(used..).unwrap_or_default();
            continue;
        }
        out.push('\\');
        rest = after;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Four hex digits at the start of `s`.
fn hex4(s: &str) -> Option<u32> {
    let h = s.get(..4)?;
    if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(h, 16).ok()
}

// ---- compiling -------------------------------------------------------------------------------

/// Strips what nginx.conf wraps around the format: `log_format <name>`, `escape=`, the quotes
/// of each piece, a trailing `;`. Returns the escape mode and the format text.
fn unwrap_config(pasted: &str) -> Result<(Escape, String), String> {
    let input = pasted.trim();
    if input.is_empty() {
        return Err("the format is empty".into());
    }
    match input {
        "combined" => return Ok((Escape::Default, COMBINED.into())),
        "main" => return Ok((Escape::Default, MAIN.into())),
        _ => {}
    }
    if input
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(format!(
            "`{input}` is not a predefined format (`combined`, `main`): paste the format string \
             itself, e.g. `'$remote_addr - $remote_user [$time_local] \"$request\" ...'`"
        ));
    }

    // `log_format <name>` and `escape=` are nginx.conf syntax: after them, double quotes and
    // a final `;` are config syntax too.
    let (rest, directive) = match directive_prefix(input) {
        Ok((rest, _)) => (rest, true),
        Err(_) => (input, false),
    };
    let (rest, escape) = match escape_prefix(rest) {
        Ok((rest, value)) => {
            let escape = match value {
                "default" => Escape::Default,
                "json" => Escape::Json,
                "none" => Escape::None,
                other => {
                    return Err(format!(
                        "unknown `escape={other}`: expected `default`, `json` or `none`"
                    ))
                }
            };
            (rest, Some(escape))
        }
        Err(_) => (rest, None),
    };
    let config_syntax = directive || escape.is_some();
    let escape = escape.unwrap_or(Escape::Default);
    let rest = rest.trim();
    let opens_quote = rest.starts_with('\'') || (config_syntax && rest.starts_with('"'));
    if !opens_quote {
        let body = if config_syntax {
            rest.strip_suffix(';').unwrap_or(rest).trim_end()
        } else {
            rest
        };
        if body.is_empty() {
            return Err("the format is empty".into());
        }
        return Ok((escape, body.to_string()));
    }

    let mut text = String::new();
    let mut rest = rest;
    loop {
        let quote = rest.chars().next().unwrap_or('\'');
        let (after, piece) = config_string(rest, quote).ok_or_else(|| {
            let at = pasted.len().saturating_sub(rest.len());
            format!("unterminated {quote}-quoted piece of the format starting at character {at}")
        })?;
        text.push_str(&piece);
        rest = after.trim_start();
        if rest.is_empty() || rest == ";" {
            break;
        }
        if !(rest.starts_with('\'') || rest.starts_with('"')) {
            let shown: String = rest.chars().take(30).collect();
            return Err(format!(
                "unexpected `{shown}` after a quoted piece of the format: nginx.conf pieces are \
                 each wrapped in quotes"
            ));
        }
    }
    if text.is_empty() {
        return Err("the format is empty".into());
    }
    Ok((escape, text))
}

fn directive_prefix(input: &str) -> IResult<&str, &str> {
    preceded(
        terminated(tag("log_format"), multispace1),
        terminated(
            take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            multispace1,
        ),
    )
    .parse(input)
}

fn escape_prefix(input: &str) -> IResult<&str, &str> {
    delimited((multispace0, tag("escape=")), alphanumeric1, multispace1).parse(input)
}

/// One quoted nginx.conf string from the start of `input`, with nginx's config escapes
/// (`\"`, `\'`, `\\`, `\t`, `\r`, `\n`) undone; other backslashes stay, as nginx keeps them.
fn config_string(input: &str, quote: char) -> Option<(&str, String)> {
    let body = input.strip_prefix(quote)?;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Some((body.get(i + c.len_utf8()..)?, out));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, e @ ('"' | '\'' | '\\'))) => out.push(e),
            Some((_, 't')) => out.push('\t'),
            Some((_, 'r')) => out.push('\r'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, other)) => {
                out.push('\\');
                out.push(other);
            }
            None => return None,
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Literal(&'a str),
    /// Name and character position in the format.
    Var(&'a str, usize),
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn variable(input: &str) -> IResult<&str, &str> {
    alt((
        delimited(tag("${"), take_while1(is_name_char), tag("}")),
        preceded(tag("$"), take_while1(is_name_char)),
    ))
    .parse(input)
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, String> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let at = text.len() - rest.len();
        if let Ok((after, lit)) = take_till1::<_, _, nom::error::Error<&str>>(|c| c == '$')(rest) {
            tokens.push(Token::Literal(lit));
            rest = after;
            continue;
        }
        match variable(rest) {
            Ok((after, name)) => {
                tokens.push(Token::Var(name, at));
                rest = after;
            }
            Err(_) if rest.starts_with("${") => {
                return Err(format!(
                    "`${{` at character {at} is not closed by `}}` after a variable name"
                ))
            }
            Err(_) => {
                return Err(format!(
                "`$` at character {at} is not followed by a variable name (letters, digits, `_`)"
            ))
            }
        }
    }
    Ok(tokens)
}

fn build_steps(escape: Escape, text: &str, tokens: &[Token<'_>]) -> Result<LogFormat, String> {
    let names: Vec<String> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Var(name, _) => Some(name.to_ascii_lowercase()),
            Token::Literal(_) => None,
        })
        .collect();
    if names.is_empty() {
        return Err("the format has no variables: every line would be the same".into());
    }
    let has = |n: &str| names.iter().any(|x| x == n);
    let context = Context {
        remote_addr: has("remote_addr"),
        request: has("request") || has("request_uri"),
    };

    let mut lead = "";
    let mut steps: Vec<Step> = Vec::new();
    let mut previous_literal = "";
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        match *token {
            Token::Literal(lit) => {
                // Only the first literal can get here: the others are taken with their variable.
                lead = lit;
                previous_literal = lit;
                i += 1;
            }
            Token::Var(name, at) => {
                let until = match tokens.get(i + 1) {
                    Some(Token::Literal(lit)) => Some(*lit),
                    Some(Token::Var(next, _)) => {
                        return Err(format!(
                            "${name} and ${next} (character {at}) follow each other without text \
                             between them: nginx writes variables undelimited, so a line cannot \
                             be split there"
                        ))
                    }
                    None => None,
                };
                let lower = name.to_ascii_lowercase();
                let is_last = tokens.get(i + 2).is_none();
                // Lines are read without trailing blanks, so the format drops them too.
                let until = until
                    .map(|lit| if is_last { lit.trim_end() } else { lit })
                    .filter(|lit| !lit.is_empty());
                let quoted = previous_literal.ends_with('"')
                    && until.is_some_and(|lit| lit.starts_with('"'));
                steps.push(Step {
                    var: classify(&lower, context),
                    name: lower.into_boxed_str(),
                    until: until.map(Literal::new),
                    quoted,
                });
                previous_literal = until.unwrap_or("");
                i += 2;
            }
        }
    }
    Ok(LogFormat {
        lead: Literal::new(lead),
        steps,
        escape,
        text: text.into(),
    })
}

/// What else the format holds, where that changes a variable's meaning.
#[derive(Debug, Clone, Copy)]
struct Context {
    remote_addr: bool,
    /// `$request` or `$request_uri`: `url.*` come from there, so `$uri` (possibly rewritten by
    /// an internal redirect) and `$args` must not overwrite them.
    request: bool,
}

/// The ECS meaning of a variable (lower-cased name).
fn classify(name: &str, context: Context) -> Var {
    match name {
        "remote_addr" => Var::RemoteAddr,
        // The address before the realip module replaced it: the client only when the format
        // has no `$remote_addr`.
        "realip_remote_addr" if !context.remote_addr => Var::RemoteAddr,
        "remote_user" => Var::Text("user.name"),
        "time_local" => Var::TimeLocal,
        "time_iso8601" => Var::TimeIso8601,
        "msec" => Var::Msec,
        "request" => Var::Request,
        "request_method" => Var::Text("http.request.method"),
        "request_uri" => Var::RequestUri,
        "uri" | "document_uri" if !context.request => Var::Text("url.path"),
        "args" | "query_string" if !context.request => Var::Text("url.query"),
        "server_protocol" => Var::ServerProtocol,
        "scheme" => Var::Text("url.scheme"),
        "host" | "server_name" => Var::Text("url.domain"),
        "status" => Var::Status,
        "body_bytes_sent" => Var::Int("http.response.body.bytes"),
        "bytes_sent" => Var::Int("http.response.bytes"),
        "request_length" => Var::Int("http.request.bytes"),
        "http_referer" => Var::Text("http.request.referrer"),
        "http_user_agent" => Var::Text("user_agent.original"),
        "request_time" => Var::RequestTime,
        "upstream_response_time" => Var::Seconds("nginx.access.upstream.response_time"),
        "upstream_connect_time" => Var::Seconds("nginx.access.upstream.connect_time"),
        "upstream_header_time" => Var::Seconds("nginx.access.upstream.header_time"),
        "upstream_queue_time" => Var::Seconds("nginx.access.upstream.queue_time"),
        "upstream_status" => Var::Ints("nginx.access.upstream.status"),
        "upstream_response_length" => Var::Ints("nginx.access.upstream.response_length"),
        "upstream_bytes_received" => Var::Ints("nginx.access.upstream.bytes_received"),
        "upstream_bytes_sent" => Var::Ints("nginx.access.upstream.bytes_sent"),
        "upstream_addr" => Var::UpstreamAddr,
        "http_x_forwarded_for" => Var::ForwardedFor,
        "ssl_protocol" => Var::SslProtocol,
        "ssl_cipher" => Var::Text("tls.cipher"),
        "connection" => Var::Int("nginx.access.connection"),
        "pipe" => Var::Pipe,
        "request_id" => Var::Text("http.request.id"),
        "gzip_ratio" => Var::Float("nginx.access.gzip_ratio"),
        "server_port" => Var::Int("destination.port"),
        "remote_port" => Var::Int("source.port"),
        "server_addr" => Var::Address {
            address: "destination.address",
            ip: "destination.ip",
        },
        other => match other.strip_prefix("upstream_") {
            Some(rest) => Var::Text(intern(format!("nginx.access.upstream.{rest}"))),
            None => Var::Text(intern(format!("nginx.access.{other}"))),
        },
    }
}

/// Field names of variables without an ECS meaning, leaked once per distinct name so events
/// can borrow them (`FieldName` is `Cow<'static, str>`) instead of allocating a copy per event.
/// Names come from configuration only, so the set stays as small as the formats in use.
fn intern(name: String) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    // A panic elsewhere while holding the lock leaves the set intact: it is only ever inserted to.
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::{to_json_string, DocumentOptions};
    use crate::event::{RecordOrigin, PARSE_FAILURE_TAG};
    use crate::parse::test_support::{int, ip, is_span, s, strs, valid_json};
    use crate::parse::ParserOptions;
    use proptest::prelude::*;

    fn compile(format: &str) -> LogFormatParser {
        match LogFormatParser::compile(format, TimeZone::Utc) {
            Ok(p) => p,
            Err(e) => panic!("{format:?} should compile: {e}"),
        }
    }

    fn compile_err(format: &str) -> String {
        match LogFormatParser::compile(format, TimeZone::Utc) {
            Ok(p) => panic!("{format:?} should not compile: {:?}", p.format),
            Err(e) => e,
        }
    }

    fn parse(p: &LogFormatParser, line: &str) -> Event {
        let mut e = Event::new(line.to_string(), RecordOrigin::default());
        if let Err(err) = p.parse(&mut e) {
            panic!("{line:?} should parse: {err}");
        }
        e
    }

    fn fail(p: &LogFormatParser, line: &str) -> String {
        let mut e = Event::new(line.to_string(), RecordOrigin::default());
        match p.parse(&mut e) {
            Ok(()) => panic!("{line:?} should not parse: {:?}", e.fields),
            Err(err) => {
                assert!(e.fields.is_empty(), "a failed parse leaves no fields");
                assert!(e.timestamp.is_none(), "a failed parse sets no time");
                err.0.into_owned()
            }
        }
    }

    fn float(e: &Event, name: &str) -> Option<f64> {
        match e.get(name) {
            Some(Value::Float(v)) => Some(*v),
            None => None,
            Some(other) => panic!("{name} is not a Float: {other:?}"),
        }
    }

    /// The example of the issue, quotes and all.
    const RT_UCT: &str = r#"'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time"'"#;

    #[test]
    fn issue_format_with_request_and_upstream_times() {
        let p = compile(RT_UCT);
        assert_eq!(p.format().escape(), Escape::Default);
        let line = r#"203.0.113.7 - alice [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.HTML?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0" rt=0.004 uct="0.001""#;
        let e = parse(&p, line);
        assert_eq!(s(&e, "message"), Some(line));
        assert_eq!(s(&e, "source.address"), Some("203.0.113.7"));
        assert_eq!(ip(&e, "source.ip"), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(s(&e, "user.name"), Some("alice"));
        assert_eq!(s(&e, "http.request.method"), Some("GET"));
        assert_eq!(
            s(&e, "url.original"),
            Some("/shop/cart.HTML?item=42&ref=mail")
        );
        assert_eq!(s(&e, "url.path"), Some("/shop/cart.HTML"));
        assert_eq!(s(&e, "url.query"), Some("item=42&ref=mail"));
        assert_eq!(s(&e, "url.extension"), Some("html"));
        assert_eq!(s(&e, "http.version"), Some("1.1"));
        assert_eq!(int(&e, "http.response.status_code"), Some(200));
        assert_eq!(s(&e, "event.outcome"), Some("success"));
        assert_eq!(int(&e, "http.response.body.bytes"), Some(5316));
        assert_eq!(
            s(&e, "http.request.referrer"),
            Some("https://example.com/start")
        );
        assert!(s(&e, "user_agent.original")
            .unwrap()
            .starts_with("Mozilla/5.0 (X11;"));
        assert_eq!(int(&e, "event.duration"), Some(4_000_000));
        assert_eq!(float(&e, "nginx.access.upstream.connect_time"), Some(0.001));
        assert_eq!(strs(&e, "event.category"), ["web"]);
        assert_eq!(strs(&e, "event.type"), ["access"]);
        assert_eq!(
            e.timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-22T09:00:00.000Z")
        );
        for name in [
            "message",
            "source.address",
            "user.name",
            "url.original",
            "http.request.referrer",
            "user_agent.original",
        ] {
            assert!(is_span(&e, name), "{name} should be a span of the line");
        }
        // The same line through the document writer.
        let doc: serde_json::Value =
            serde_json::from_str(&to_json_string(&e, DocumentOptions::default())).unwrap();
        assert_eq!(doc["event"]["duration"], 4_000_000);
        assert_eq!(doc["nginx"]["access"]["upstream"]["connect_time"], 0.001);
        assert_eq!(doc["source"]["ip"], "203.0.113.7");
    }

    /// The `upstream_time` format of the NGINX docs, pasted as several quoted pieces.
    const UPSTREAM_TIME: &str = r#"log_format upstream_time '$remote_addr - $remote_user [$time_local] '
                         '"$request" $status $body_bytes_sent '
                         '"$http_referer" "$http_user_agent"'
                         ' rt=$request_time uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time" ua="$upstream_addr" us="$upstream_status"';"#;

    #[test]
    fn upstream_lists_and_dashes() {
        let p = compile(UPSTREAM_TIME);
        assert_eq!(
            p.format().variables().collect::<Vec<_>>(),
            [
                "remote_addr",
                "remote_user",
                "time_local",
                "request",
                "status",
                "body_bytes_sent",
                "http_referer",
                "http_user_agent",
                "request_time",
                "upstream_connect_time",
                "upstream_header_time",
                "upstream_response_time",
                "upstream_addr",
                "upstream_status"
            ]
        );
        // Two upstreams tried (the first refused), then an internal redirect to a third group.
        let line = r#"198.51.100.4 - - [22/Nov/2026:10:00:00 +0000] "POST /api/v1/orders HTTP/1.1" 502 157 "-" "okhttp/4.12.0" rt=1.503 uct="-, 0.001 : 0.002" uht="-, 1.500 : 0.001" urt="0.000, 1.500 : 0.003" ua="10.0.2.15:8080, 10.0.2.16:8080 : unix:/run/app.sock" us="502, 504 : 502""#;
        let e = parse(&p, line);
        assert_eq!(int(&e, "event.duration"), Some(1_503_000_000));
        assert_eq!(
            e.get("nginx.access.upstream.connect_time"),
            Some(&Value::Array(vec![
                Value::Null,
                Value::Float(0.001),
                Value::Float(0.002)
            ]))
        );
        assert_eq!(
            e.get("nginx.access.upstream.response_time"),
            Some(&Value::Array(vec![
                Value::Float(0.0),
                Value::Float(1.5),
                Value::Float(0.003)
            ]))
        );
        assert_eq!(
            strs(&e, "nginx.access.upstream.addr"),
            ["10.0.2.15:8080", "10.0.2.16:8080", "unix:/run/app.sock"]
        );
        assert_eq!(
            e.get("nginx.access.upstream.status"),
            Some(&Value::Array(vec![
                Value::Int(502),
                Value::Int(504),
                Value::Int(502)
            ]))
        );
        assert_eq!(s(&e, "event.outcome"), Some("failure"));
        assert!(e.get("http.request.referrer").is_none());
        assert!(e.get("user.name").is_none());
        let doc: serde_json::Value =
            serde_json::from_str(&to_json_string(&e, DocumentOptions::default())).unwrap();
        assert_eq!(
            doc["nginx"]["access"]["upstream"]["connect_time"],
            serde_json::json!([null, 0.001, 0.002])
        );

        // One upstream: plain values; served from cache: `-` everywhere, so no fields.
        let line = r#"198.51.100.4 - - [22/Nov/2026:10:00:01 +0000] "GET /a HTTP/1.1" 200 12 "-" "curl/8.5.0" rt=0.000 uct="0.001" uht="-" urt="0.004" ua="10.0.2.15:8080" us="200""#;
        let e = parse(&p, line);
        assert_eq!(int(&e, "event.duration"), Some(0));
        assert_eq!(float(&e, "nginx.access.upstream.connect_time"), Some(0.001));
        assert!(e.get("nginx.access.upstream.header_time").is_none());
        assert_eq!(
            float(&e, "nginx.access.upstream.response_time"),
            Some(0.004)
        );
        assert_eq!(int(&e, "nginx.access.upstream.status"), Some(200));
        assert_eq!(strs(&e, "nginx.access.upstream.addr"), ["10.0.2.15:8080"]);
        let line = r#"198.51.100.4 - - [22/Nov/2026:10:00:02 +0000] "GET /a HTTP/1.1" 200 12 "-" "curl/8.5.0" rt=0.000 uct="-" uht="-" urt="-" ua="-" us="-""#;
        let e = parse(&p, line);
        for name in [
            "nginx.access.upstream.connect_time",
            "nginx.access.upstream.header_time",
            "nginx.access.upstream.response_time",
            "nginx.access.upstream.addr",
            "nginx.access.upstream.status",
        ] {
            assert!(e.get(name).is_none(), "{name}");
        }
    }

    /// A JSON format as commonly written for log shippers.
    const JSON_FORMAT: &str = r#"log_format json_analytics escape=json
    '{'
      '"time":"$time_iso8601",'
      '"msec":"$msec",'
      '"remote_addr":"$remote_addr",'
      '"request":"$request",'
      '"status":$status,'
      '"bytes_sent":$bytes_sent,'
      '"request_length":$request_length,'
      '"request_time":$request_time,'
      '"http_referer":"$http_referer",'
      '"http_user_agent":"$http_user_agent",'
      '"http_x_forwarded_for":"$http_x_forwarded_for",'
      '"request_id":"$request_id",'
      '"ssl_protocol":"$ssl_protocol",'
      '"ssl_cipher":"$ssl_cipher",'
      '"upstream_cache_status":"$upstream_cache_status"'
    '}';"#;

    #[test]
    fn json_format_with_json_escapes() {
        let p = compile(JSON_FORMAT);
        assert_eq!(p.format().escape(), Escape::Json);
        assert!(p.format().text().starts_with(r#"{"time":"$time_iso8601","#));
        let line = r#"{"time":"2026-11-22T10:00:00+01:00","msec":"1795338000.123","remote_addr":"10.0.0.2","request":"GET /search?q=\"rust\"&x=a\\b HTTP/2.0","status":404,"bytes_sent":512,"request_length":230,"request_time":0.012,"http_referer":"","http_user_agent":"Bot \"quoted\"\n/1.0 \u001b","http_x_forwarded_for":"203.0.113.7, 10.0.0.1","request_id":"9f1c2e4b7a8d4c6e8f0a1b2c3d4e5f60","ssl_protocol":"TLSv1.3","ssl_cipher":"TLS_AES_128_GCM_SHA256","upstream_cache_status":"MISS"}"#;
        let e = parse(&p, line);
        // `$msec` comes after `$time_iso8601`, so its millisecond value wins.
        let t = e.timestamp.unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T09:00:00.123Z");
        assert_eq!(t.precision, 3);
        assert_eq!(s(&e, "http.request.method"), Some("GET"));
        assert_eq!(s(&e, "url.original"), Some(r#"/search?q="rust"&x=a\b"#));
        assert_eq!(s(&e, "url.query"), Some(r#"q="rust"&x=a\b"#));
        assert_eq!(s(&e, "http.version"), Some("2.0"));
        assert_eq!(int(&e, "http.response.status_code"), Some(404));
        assert_eq!(int(&e, "http.response.bytes"), Some(512));
        assert_eq!(int(&e, "http.request.bytes"), Some(230));
        assert_eq!(int(&e, "event.duration"), Some(12_000_000));
        assert!(e.get("http.request.referrer").is_none());
        assert_eq!(
            s(&e, "user_agent.original"),
            Some("Bot \"quoted\"\n/1.0 \u{1b}")
        );
        assert_eq!(
            strs(&e, "nginx.access.http_x_forwarded_for"),
            ["203.0.113.7", "10.0.0.1"]
        );
        // The remote address is private: X-Forwarded-For names the client.
        assert_eq!(s(&e, "source.address"), Some("203.0.113.7"));
        assert_eq!(ip(&e, "source.ip"), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(strs(&e, "nginx.access.remote_ip_list"), ["10.0.0.2"]);
        assert_eq!(
            s(&e, "http.request.id"),
            Some("9f1c2e4b7a8d4c6e8f0a1b2c3d4e5f60")
        );
        assert_eq!(s(&e, "tls.version_protocol"), Some("tls"));
        assert_eq!(s(&e, "tls.version"), Some("1.3"));
        assert_eq!(s(&e, "tls.cipher"), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(s(&e, "nginx.access.upstream.cache_status"), Some("MISS"));
        let doc: serde_json::Value =
            serde_json::from_str(&to_json_string(&e, DocumentOptions::default())).unwrap();
        assert_eq!(doc["user_agent"]["original"], "Bot \"quoted\"\n/1.0 \u{1b}");
    }

    #[test]
    fn main_and_combined_by_name() {
        let p = compile("main");
        assert_eq!(p.format().text(), MAIN);
        let line = r#"10.0.0.2 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8.5.0" "198.51.100.9, 10.0.0.1""#;
        let e = parse(&p, line);
        assert_eq!(s(&e, "source.address"), Some("198.51.100.9"));
        assert_eq!(ip(&e, "source.ip"), Some("198.51.100.9".parse().unwrap()));
        assert_eq!(strs(&e, "nginx.access.remote_ip_list"), ["10.0.0.2"]);
        assert_eq!(
            strs(&e, "nginx.access.http_x_forwarded_for"),
            ["198.51.100.9", "10.0.0.1"]
        );

        // Promotion off: the remote address stays the source.
        let p = compile("main").with_forwarded_for_promotion(false);
        let e = parse(&p, line);
        assert_eq!(s(&e, "source.address"), Some("10.0.0.2"));
        assert_eq!(ip(&e, "source.ip"), Some("10.0.0.2".parse().unwrap()));
        assert!(e.get("nginx.access.remote_ip_list").is_none());

        // A public remote address is kept even with promotion on.
        let p = compile("main");
        let line = r#"203.0.113.50 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8.5.0" "198.51.100.9""#;
        let e = parse(&p, line);
        assert_eq!(s(&e, "source.address"), Some("203.0.113.50"));
        // No public address in X-Forwarded-For: nothing to promote.
        let line = r#"10.0.0.2 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8.5.0" "unknown, 192.168.1.9""#;
        let e = parse(&p, line);
        assert_eq!(s(&e, "source.address"), Some("10.0.0.2"));
        let line = r#"10.0.0.2 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8.5.0" "-""#;
        let e = parse(&p, line);
        assert!(e.get("nginx.access.http_x_forwarded_for").is_none());
        assert_eq!(s(&e, "source.address"), Some("10.0.0.2"));

        let p = compile("  combined\n");
        assert_eq!(p.format().text(), COMBINED);
        let e = parse(
            &p,
            r#"unix: - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
        );
        assert_eq!(s(&e, "source.address"), Some("unix:"));
        assert!(e.get("source.ip").is_none());
    }

    #[test]
    fn same_documents_as_the_combined_parser() {
        use super::super::nginx_access::NginxAccessParser;
        let p = compile("combined");
        let lines = [
            r#"203.0.113.7 - alice [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.HTML?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0""#,
            r#""10.0.0.1, 203.0.113.7" - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
            r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-""#,
            r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "-" 444 0 "-" "-""#,
            r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "GET /index.html" 200 10 "-" "-""#,
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET /search?q=\x22rust\x22 HTTP/1.1" 200 12 "-" "Bot/\xC3\x9C \xF0\x9F\x9A\x80""#,
            r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "CONNECT [2001:db8::5]:443 HTTP/1.1" 400 0 "-" "-""#,
        ];
        for line in lines {
            let ours = parse(&p, line);
            let mut theirs = Event::new(line.to_string(), RecordOrigin::default());
            NginxAccessParser.parse(&mut theirs).unwrap();
            let doc = |e: &Event| -> serde_json::Value {
                serde_json::from_str(&to_json_string(e, DocumentOptions::default())).unwrap()
            };
            assert_eq!(doc(&ours), doc(&theirs), "{line}");
        }
    }

    #[test]
    fn requests_that_are_not_http_still_make_documents() {
        let p = compile(RT_UCT);
        for (req, kept) in [
            (r"\x16\x03\x01\x00\xF1\x01\x00\x00", true),
            ("SSH-2.0-Go", true),
            ("hello world again", true),
            ("-", false),
            ("", false),
        ] {
            let line = format!(
                r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "{req}" 400 157 "-" "-" rt=0.000 uct="-""#
            );
            let e = parse(&p, &line);
            assert_eq!(s(&e, "nginx.access.request"), kept.then_some(req), "{req}");
            assert!(e.get("http.request.method").is_none());
            assert_eq!(int(&e, "http.response.status_code"), Some(400));
        }
    }

    #[test]
    fn other_known_variables() {
        let p = compile(
            r#"${remote_addr}:$remote_port > $server_addr:$server_port $scheme://$host "$request_method $request_uri $server_protocol" $status $connection/$connection_requests $pipe $msec gz=$gzip_ratio "$ssl_protocol/$ssl_cipher" $uri?$args rid=$request_id x=$http_x_request_start $upstream_cache_status $realip_remote_addr"#,
        );
        let line = r#"203.0.113.7:51234 > 10.0.0.5:443 https://shop.example.com "GET /img/logo.PNG?v=3 HTTP/2.0" 200 1042/7 p 1763805600.123 gz=3.21 "TLSv1/ECDHE-RSA-AES128-SHA" /index.php?v=3 rid=abc123 x=t=1763805600123 HIT 10.0.0.9"#;
        let e = parse(&p, line);
        assert_eq!(s(&e, "source.address"), Some("203.0.113.7"));
        assert_eq!(int(&e, "source.port"), Some(51234));
        assert_eq!(s(&e, "destination.address"), Some("10.0.0.5"));
        assert_eq!(ip(&e, "destination.ip"), Some("10.0.0.5".parse().unwrap()));
        assert_eq!(int(&e, "destination.port"), Some(443));
        assert_eq!(s(&e, "url.scheme"), Some("https"));
        assert_eq!(s(&e, "url.domain"), Some("shop.example.com"));
        assert_eq!(s(&e, "http.request.method"), Some("GET"));
        assert_eq!(s(&e, "url.original"), Some("/img/logo.PNG?v=3"));
        assert_eq!(s(&e, "url.path"), Some("/img/logo.PNG"));
        assert_eq!(s(&e, "url.extension"), Some("png"));
        assert_eq!(s(&e, "http.version"), Some("2.0"));
        assert_eq!(int(&e, "nginx.access.connection"), Some(1042));
        assert_eq!(s(&e, "nginx.access.connection_requests"), Some("7"));
        assert_eq!(e.get("nginx.access.pipe"), Some(&Value::Bool(true)));
        assert_eq!(
            e.timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2025-11-22T10:00:00.123Z")
        );
        assert_eq!(float(&e, "nginx.access.gzip_ratio"), Some(3.21));
        assert_eq!(s(&e, "tls.version_protocol"), Some("tls"));
        assert_eq!(s(&e, "tls.version"), Some("1.0"));
        assert_eq!(s(&e, "tls.cipher"), Some("ECDHE-RSA-AES128-SHA"));
        // `$request_uri` is in the format: `$uri` (rewritten by try_files) does not replace it.
        assert_eq!(s(&e, "nginx.access.uri"), Some("/index.php"));
        assert_eq!(s(&e, "nginx.access.args"), Some("v=3"));
        assert_eq!(s(&e, "http.request.id"), Some("abc123"));
        assert_eq!(
            s(&e, "nginx.access.http_x_request_start"),
            Some("t=1763805600123")
        );
        assert_eq!(s(&e, "nginx.access.upstream.cache_status"), Some("HIT"));
        // `$remote_addr` is in the format, so this one is just kept.
        assert_eq!(s(&e, "nginx.access.realip_remote_addr"), Some("10.0.0.9"));

        // Without `$request`, `$uri` and `$args` are the URL; `$realip_remote_addr` the client.
        let p = compile("$realip_remote_addr $uri $args $server_protocol $ssl_protocol");
        let e = parse(&p, "203.0.113.8 /a/b.txt x=1 HTTP/1.0 SSLv3");
        assert_eq!(s(&e, "source.address"), Some("203.0.113.8"));
        assert_eq!(s(&e, "url.path"), Some("/a/b.txt"));
        assert_eq!(s(&e, "url.query"), Some("x=1"));
        assert_eq!(s(&e, "http.version"), Some("1.0"));
        assert_eq!(s(&e, "tls.version_protocol"), Some("ssl"));
        assert_eq!(s(&e, "tls.version"), Some("3.0"));
        let e = parse(&p, "203.0.113.8 /a/b.txt x=1 SPDY/3 QUIC");
        assert_eq!(s(&e, "nginx.access.server_protocol"), Some("SPDY/3"));
        assert_eq!(s(&e, "nginx.access.ssl_protocol"), Some("QUIC"));
        assert!(e.get("tls.version").is_none());
    }

    #[test]
    fn dashes_and_empty_values_are_absent() {
        let p = compile(
            r#"$remote_addr $remote_user [$time_local] "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent" $gzip_ratio $pipe $ssl_protocol $foo"#,
        );
        let e = parse(
            &p,
            r#"- - [22/Nov/2026:10:00:00 +0000] "-" - - - "-" "" - - - -"#,
        );
        let names: Vec<&str> = e.fields.iter().map(|(n, _)| n.as_ref()).collect();
        assert_eq!(names, ["message", "event.category", "event.type"]);
        assert!(e.timestamp.is_some());
    }

    #[test]
    fn mismatching_lines_fail_with_a_reason() {
        let p = compile(RT_UCT);
        let good = r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl" rt=0.004 uct="0.001""#;
        parse(&p, good);
        assert_eq!(
            fail(
                &p,
                r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl""#
            ),
            "nginx_access: expected `\" rt=` after $http_user_agent (from byte 73)"
        );
        assert_eq!(
            fail(&p, &format!("{good} extra")),
            "nginx_access: expected `\"` after $upstream_connect_time at the end of the line"
        );
        assert_eq!(
            fail(
                &p,
                r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" OK 1 "-" "curl" rt=0.004 uct="0.001""#
            ),
            "nginx_access: invalid $status `OK` at byte 62: expected a three-digit status code"
        );
        assert!(fail(&p, r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl" rt=fast uct="0.001""#)
            .contains("invalid $request_time `fast`"));
        assert!(fail(&p, r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl" rt=0.1 uct="0.001, x""#)
            .contains("invalid $upstream_connect_time"));
        assert!(fail(&p, r#"203.0.113.7 - - [22/Nov/2026:25:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl" rt=0.1 uct="0.001""#)
            .contains("invalid $time_local `22/Nov/2026:25:00:00 +0000` at byte 17"));
        assert!(fail(&p, "").starts_with("nginx_access: expected ` - ` after $remote_addr"));
        assert!(fail(&p, "just some text").contains("after $remote_addr"));
        let p = compile(r#"[$time_local] $status"#);
        assert_eq!(
            fail(&p, "22/Nov/2026:10:00:00 +0000] 200"),
            "nginx_access: expected `[` at byte 0"
        );
        assert!(fail(&p, "[22/Nov/2026:10:00:00 +0000] 2000").contains("three-digit"));
    }

    #[test]
    fn format_syntax_as_pasted() {
        // Raw, single-quoted, double-quoted after `log_format`, and pieces.
        let expected = r#"$remote_addr "$request" $status"#;
        for pasted in [
            r#"$remote_addr "$request" $status"#,
            r#"'$remote_addr "$request" $status'"#,
            r#"  '$remote_addr "$request" $status';  "#,
            r#"log_format short "$remote_addr \"$request\" $status";"#,
            "log_format short\n    '$remote_addr '\n    '\"$request\" '\n    \"$status\";",
            r#"escape=default '$remote_addr "$request" $status'"#,
            r#"'$remote_addr \"$request\" ${status}'"#,
        ] {
            let p = compile(pasted);
            assert_eq!(
                p.format().text().replace("${status}", "$status"),
                expected,
                "{pasted}"
            );
            let e = parse(&p, r#"192.0.2.1 "GET / HTTP/1.1" 204"#);
            assert_eq!(int(&e, "http.response.status_code"), Some(204), "{pasted}");
        }
        // Names are case-insensitive in nginx; braces let text follow directly.
        let p = compile("${Remote_Addr}x${STATUS}ms");
        let e = parse(&p, "192.0.2.1x200ms");
        assert_eq!(s(&e, "source.address"), Some("192.0.2.1"));
        assert_eq!(int(&e, "http.response.status_code"), Some(200));
        // `escape=none`: a backslash is just a character.
        let p = compile(r#"escape=none '"$http_user_agent" $status'"#);
        assert_eq!(p.format().escape(), Escape::None);
        let e = parse(&p, r#""C:\path\" 200"#);
        assert_eq!(s(&e, "user_agent.original"), Some(r"C:\path\"));
    }

    #[test]
    fn compile_errors_are_clear() {
        assert_eq!(compile_err(""), "the format is empty");
        assert_eq!(compile_err("  ''  "), "the format is empty");
        assert_eq!(compile_err("log_format main ;"), "the format is empty");
        assert!(compile_err("$remote_addr$remote_user").contains(
            "$remote_addr and $remote_user (character 0) follow each other without text between them"
        ));
        assert!(compile_err("[$time_local] ${request}${status}").contains("$request and $status"));
        assert!(compile_err("$status $").contains("`$` at character 8 is not followed"));
        assert!(compile_err("$status ${status").contains("`${` at character 8 is not closed"));
        assert!(compile_err("$status ${}").contains("`${` at character 8"));
        assert!(compile_err("escape=xml '$status'").contains("unknown `escape=xml`"));
        assert!(compile_err("'$remote_addr - $status").contains("unterminated '-quoted piece"));
        assert!(compile_err("'$remote_addr' - $status").contains("unexpected `- $status`"));
        assert!(compile_err("upstream_time").contains("not a predefined format"));
        assert!(compile_err("'just text'").contains("no variables"));

        // Through the registry: a configuration error naming the option.
        let options = ParserOptions {
            log_format: Some("$a$b".into()),
            ..ParserOptions::default()
        };
        let err = crate::parse::build("nginx_access", &options).unwrap_err();
        assert!(
            err.starts_with("nginx_access: invalid `log_format`: $a and $b"),
            "{err}"
        );
        let options = ParserOptions {
            log_format: Some(RT_UCT.into()),
            timezone: Some("Europe/Berlin".into()),
            ..ParserOptions::default()
        };
        let parser = crate::parse::build("nginx_access", &options).unwrap();
        assert_eq!(parser.dataset(), "nginx.access");
        let options = ParserOptions {
            prefix: Some("%m ".into()),
            ..ParserOptions::default()
        };
        assert!(crate::parse::build("nginx_access", &options)
            .unwrap_err()
            .contains("`prefix` is not an option of the `nginx_access` parser"));
    }

    #[test]
    fn iso8601_without_offset_uses_the_zone() {
        let p = LogFormatParser::compile("$time_iso8601 $status", TimeZone::Fixed(3600)).unwrap();
        let e = parse(&p, "2026-11-22T10:00:00 200");
        assert_eq!(
            e.timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-22T09:00:00.000Z")
        );
        let e = parse(&p, "2026-11-22T10:00:00+00:00 200");
        assert_eq!(
            e.timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-22T10:00:00.000Z")
        );
    }

    #[test]
    fn literal_search_past_many_false_starts() {
        let lit = Literal::new(" - ");
        let hay = format!("{} - x", "a ".repeat(50));
        assert_eq!(lit.find(hay.as_bytes()), hay.find(" - "));
        assert_eq!(lit.find(b"a b c -"), None);
        assert_eq!(lit.find(b""), None);
        // A long proxy list in the address position: many spaces before ` - `.
        let hops: Vec<String> = (1..=20).map(|i| format!("10.0.0.{i}")).collect();
        let line = format!(
            r#"{}, 198.51.100.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
            hops.join(", ")
        );
        let e = parse(&compile("combined"), &line);
        assert_eq!(s(&e, "source.address"), Some("198.51.100.7"));
        assert_eq!(strs(&e, "nginx.access.remote_ip_list").len(), 21);
    }

    #[test]
    fn json_unescape_rules() {
        assert_eq!(json_unescape("plain"), Cow::Borrowed("plain"));
        assert_eq!(
            json_unescape(r#"a\"b\\c\/d\n\t\r\b\f"#),
            "a\"b\\c/d\n\t\r\u{8}\u{c}"
        );
        assert_eq!(json_unescape(r"\u00e9\u001B"), "é\u{1b}");
        assert_eq!(json_unescape(r"\ud83d\ude80"), "🚀");
        assert_eq!(json_unescape(r"\ud83d x"), "\u{fffd} x");
        assert_eq!(json_unescape(r"\x22 \u12 \"), r"\x22 \u12 \");
        assert_eq!(seconds_to_nanos("0.003"), Some(3_000_000));
        assert_eq!(seconds_to_nanos("12"), Some(12_000_000_000));
        assert_eq!(seconds_to_nanos("1.0000000019"), Some(1_000_000_001));
        assert_eq!(seconds_to_nanos("1."), None);
        assert_eq!(seconds_to_nanos("1e3"), None);
        assert_eq!(decimal_f64("inf"), None);
        assert_eq!(decimal_f64("NaN"), None);
    }

    fn run_like_worker(p: &LogFormatParser, line: &str) -> Event {
        let mut e = Event::new(line.to_string(), RecordOrigin::default());
        e.push("event.dataset", Value::Str(Text::Static("nginx.access")));
        e.push("host.name", Value::owned_str("test-host"));
        if let Err(err) = p.parse(&mut e) {
            e.mark_parse_failure(err.0);
        }
        e
    }

    proptest! {
        #![proptest_config(crate::parse::test_support::proptest_config())]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let line = String::from_utf8_lossy(&bytes).into_owned();
            for p in [compile(UPSTREAM_TIME), compile(JSON_FORMAT)] {
                let e = run_like_worker(&p, &line);
                prop_assert!(valid_json(&e));
                if e.has_tag(PARSE_FAILURE_TAG) {
                    prop_assert_eq!(s(&e, "message"), Some(line.as_str()));
                    prop_assert!(e.get("error.message").is_some());
                }
            }
        }

        #[test]
        fn near_valid_lines_never_panic(
            addr in r#"[0-9a-f:., "-]{0,30}"#,
            request in r#"[ -~]{0,60}"#,
            times in r#"[0-9., :-]{0,20}"#,
            agent in r#"[ -~\\]{0,40}"#,
        ) {
            let line = format!(
                r#"{addr} - - [22/Nov/2026:10:00:00 +0000] "{request}" 200 1 "-" "{agent}" rt={times} uct="{times}" uht="{times}" urt="{times}" ua="{times}" us="{times}""#
            );
            let e = run_like_worker(&compile(UPSTREAM_TIME), &line);
            prop_assert!(valid_json(&e));
            prop_assert_eq!(s(&e, "message"), Some(line.as_str()));
        }

        #[test]
        fn arbitrary_formats_compile_or_fail_cleanly(format in r#"[ -~\n]{0,60}"#) {
            if let Ok(p) = LogFormatParser::compile(&format, TimeZone::Utc) {
                let e = run_like_worker(&p, &format);
                prop_assert!(valid_json(&e));
            }
        }

        #[test]
        fn valid_lines_round_trip(
            v4 in any::<[u8; 4]>(),
            user in prop_oneof![Just("-".to_string()), "[a-z][a-z0-9_.]{0,12}"],
            (year, month, day) in (1971i32..2100, 1u32..=12, 1u32..=28),
            (hour, minute, second) in (0u32..24, 0u32..60, 0u32..60),
            method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD"]),
            path in "/[A-Za-z0-9/._~-]{0,40}",
            query in proptest::option::of("[A-Za-z0-9=&%+._-]{1,40}"),
            status in 100i64..600,
            bytes in 0i64..10_000_000_000,
            agent in proptest::option::of("[ -~]{1,60}|\\PC{1,20}".prop_filter("`-` means none", |a| a != "-")),
            request_ms in 0u64..100_000,
            upstream_ms in proptest::collection::vec(proptest::option::of(0u32..60_000), 0..4),
            forwarded in proptest::collection::vec(any::<[u8; 4]>(), 0..4),
        ) {
            let p = compile(UPSTREAM_TIME);
            let addr = IpAddr::from(v4);
            let target = match &query { Some(q) => format!("{path}?{q}"), None => path.clone() };
            const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let time = format!(
                "{day:02}/{}/{year}:{hour:02}:{minute:02}:{second:02} +0000",
                MONTHS[month as usize - 1]
            );
            // As nginx escapes: `"`, `\`, control and non-ASCII bytes as \xHH.
            let escape = |text: &str| -> String {
                let mut out = String::new();
                for b in text.bytes() {
                    match b {
                        b'"' | b'\\' | 0..=0x1f | 0x7f..=0xff => out.push_str(&format!("\\x{b:02X}")),
                        _ => out.push(b as char),
                    }
                }
                out
            };
            let agent_field = agent.as_deref().map(escape).unwrap_or_else(|| "-".into());
            let upstream_field = if upstream_ms.is_empty() {
                "-".to_string()
            } else {
                upstream_ms
                    .iter()
                    .map(|m| m.map_or("-".to_string(), |m| format!("{}.{:03}", m / 1000, m % 1000)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let xff: Vec<String> = forwarded.iter().map(|a| IpAddr::from(*a).to_string()).collect();
            let xff_field = if xff.is_empty() { "-".to_string() } else { xff.join(", ") };
            // UPSTREAM_TIME has no X-Forwarded-For; the line gets it through a format that has.
            let p2 = compile(&format!("{} \"$http_x_forwarded_for\"", p.format().text()));
            let line = format!(
                r#"{addr} - {user} [{time}] "{method} {target} HTTP/1.1" {status} {bytes} "-" "{agent_field}" rt={}.{:03} uct="-" uht="-" urt="{upstream_field}" ua="-" us="-" "{xff_field}""#,
                request_ms / 1000, request_ms % 1000
            );
            let e = parse(&p2, &line);
            prop_assert_eq!(s(&e, "message"), Some(line.as_str()));
            prop_assert_eq!(s(&e, "user.name"), (user != "-").then_some(user.as_str()));
            prop_assert_eq!(s(&e, "http.request.method"), Some(method));
            prop_assert_eq!(s(&e, "url.original"), Some(target.as_str()));
            prop_assert_eq!(s(&e, "url.path"), Some(path.as_str()));
            prop_assert_eq!(s(&e, "url.query"), query.as_deref());
            prop_assert_eq!(int(&e, "http.response.status_code"), Some(status));
            prop_assert_eq!(int(&e, "http.response.body.bytes"), Some(bytes));
            prop_assert_eq!(s(&e, "user_agent.original"), agent.as_deref());
            prop_assert_eq!(int(&e, "event.duration"), Some(request_ms as i64 * 1_000_000));
            let expected_upstream = {
                let values: Vec<Value> = upstream_ms
                    .iter()
                    .map(|m| m.map_or(Value::Null, |m| Value::Float(f64::from(m) / 1000.0)))
                    .collect();
                match values.len() {
                    0 => None,
                    1 => values.into_iter().next().filter(|v| *v != Value::Null),
                    _ => Some(Value::Array(values)),
                }
            };
            prop_assert_eq!(e.get("nginx.access.upstream.response_time").cloned(), expected_upstream);
            if xff.is_empty() {
                prop_assert!(e.get("nginx.access.http_x_forwarded_for").is_none());
            } else {
                prop_assert_eq!(strs(&e, "nginx.access.http_x_forwarded_for"), xff.clone());
            }
            // The source: the remote address when public, else the first public forwarded one.
            let promoted = forwarded.iter().map(|a| IpAddr::from(*a)).find(|a| is_public(*a));
            let expected_source = if is_public(addr) { addr } else { promoted.unwrap_or(addr) };
            prop_assert_eq!(ip(&e, "source.ip"), Some(expected_source));
            let local = crate::event::timestamp::days_from_civil(year, month, day) * 86_400
                + i64::from(hour * 3600 + minute * 60 + second);
            prop_assert_eq!(e.timestamp.map(|t| t.unix_seconds()), Some(local));
            prop_assert!(valid_json(&e));
        }
    }
}
