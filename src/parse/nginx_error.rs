//! `nginx_error`: NGINX error logs to ECS (DESIGN.md, "nginx.error").
//!
//! A record is `YYYY/MM/DD HH:MM:SS [level] pid#tid: *cid message`, the `*cid ` part only for
//! errors tied to a connection. nginx appends the request context to the message as
//! `, client: …, server: …, request: "…", upstream: "…", host: "…", referrer: "…"` (and, from
//! the stream and mail modules, `bytes from/to …` and `login: "…"`); those pairs become fields
//! and `message` keeps the text before them.
//!
//! Records may span lines: PHP-FPM's stderr relayed by FastCGI, Lua and Perl stack traces. Every
//! line that does not start with the date opens no record of its own ([`Parser::is_continuation`])
//! and the input joins it to the one before with `\n`, so the message keeps its line breaks and
//! the context pairs are found at the end of the last line, where nginx writes them.
//!
//! Times are local and carry no offset: they are read in the configured `timezone` (UTC when
//! none is). Every string field is a span of the record; nothing is unescaped (nginx writes the
//! error log raw).

use std::net::IpAddr;
use std::sync::LazyLock;

use memchr::memmem;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while1, take_while_m_n};
use nom::character::complete::digit1;
use nom::combinator::{eof, opt};
use nom::sequence::{delimited, terminated};
use nom::{IResult, Parser as _};

use super::nginx_access::{
    put, split_authority, split_request, static_list, text_value, to_i64, Fields,
};
use super::timestamp::TimeZone;
use super::{reject_foreign, ParseError, Parser, ParserOptions, ParserRegistration};
use crate::event::timestamp::CivilTime;
use crate::event::{span_value, Event, Text, Timestamp, Value};

pub const REGISTRATION: ParserRegistration = ParserRegistration {
    name: "nginx_error",
    description: "NGINX error log (multi-line entries joined; local times read in `timezone`)",
    build,
};

fn build(options: &ParserOptions) -> Result<Box<dyn Parser>, String> {
    reject_foreign(REGISTRATION.name, options, &[])?;
    let zone = TimeZone::from_options(options)?;
    Ok(Box::new(NginxErrorParser::new(zone)))
}

#[derive(Debug, Default, Clone, Copy)]
pub struct NginxErrorParser {
    zone: TimeZone,
}

impl NginxErrorParser {
    pub fn new(zone: TimeZone) -> NginxErrorParser {
        NginxErrorParser { zone }
    }
}

impl Parser for NginxErrorParser {
    fn dataset(&self) -> &'static str {
        "nginx.error"
    }

    fn parse(&self, event: &mut Event) -> Result<(), ParseError> {
        let record = parse_record(event.raw.as_bytes(), &self.zone)?;
        emit(event, &record);
        Ok(())
    }

    fn joins_lines(&self) -> bool {
        true
    }

    /// Every record starts with `YYYY/MM/DD HH:MM:SS `; anything else (a stack trace line, the
    /// rest of a PHP message) continues the record before it.
    fn is_continuation(&self, line: &[u8]) -> bool {
        (date_time, tag(" ")).parse(line).is_err()
    }
}

/// Levels nginx writes, in its order of severity.
const LEVELS: [&str; 8] = [
    "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg",
];

/// The request-context pairs nginx may append, as `key: value` (the `bytes` ones have no space
/// after the colon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Client,
    Server,
    Request,
    Subrequest,
    Upstream,
    Host,
    Referrer,
    Login,
    BytesClient,
    BytesUpstream,
}

const KEYS: [(&str, Key); 10] = [
    ("client:", Key::Client),
    ("server:", Key::Server),
    ("request:", Key::Request),
    ("subrequest:", Key::Subrequest),
    ("upstream:", Key::Upstream),
    ("host:", Key::Host),
    ("referrer:", Key::Referrer),
    ("login:", Key::Login),
    ("bytes from/to client:", Key::BytesClient),
    ("bytes from/to upstream:", Key::BytesUpstream),
];

/// A byte range of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn value(self) -> Value {
        span_value(self.start, self.end)
    }
}

/// The context pairs of one record, as positions in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Pairs {
    client: Option<Span>,
    server: Option<Span>,
    request: Option<Span>,
    subrequest: Option<Span>,
    upstream: Option<Span>,
    host: Option<Span>,
    referrer: Option<Span>,
    login: Option<Span>,
    bytes_client: Option<(i64, i64)>,
    bytes_upstream: Option<(i64, i64)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Record {
    time: Timestamp,
    level: &'static str,
    pid: i64,
    tid: i64,
    connection: Option<i64>,
    message: Span,
    pairs: Pairs,
}

type Input<'a> = &'a [u8];

/// Exactly `N` ASCII digits as a number.
fn fixed_digits<const N: usize>(input: Input<'_>) -> IResult<Input<'_>, u32> {
    take_while_m_n(N, N, |b: u8| b.is_ascii_digit())
        .map(|d: Input<'_>| {
            d.iter()
                .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'))
        })
        .parse(input)
}

/// `YYYY/MM/DD HH:MM:SS`, not yet checked for being a real time.
fn date_time(input: Input<'_>) -> IResult<Input<'_>, CivilTime> {
    (
        fixed_digits::<4>,
        tag("/"),
        fixed_digits::<2>,
        tag("/"),
        fixed_digits::<2>,
        tag(" "),
        fixed_digits::<2>,
        tag(":"),
        fixed_digits::<2>,
        tag(":"),
        fixed_digits::<2>,
    )
        .map(
            |(year, _, month, _, day, _, hour, _, minute, _, second)| CivilTime {
                year: year as i32,
                month,
                day,
                hour,
                minute,
                second,
                nanos: 0,
            },
        )
        .parse(input)
}

fn level(input: Input<'_>) -> IResult<Input<'_>, Input<'_>> {
    delimited(
        tag(" ["),
        take_while1(|b: u8| b.is_ascii_alphabetic()),
        tag("]"),
    )
    .parse(input)
}

/// ` pid#tid:` and the space after it (absent when the message is empty).
fn process(input: Input<'_>) -> IResult<Input<'_>, (Input<'_>, Input<'_>)> {
    (
        tag(" "),
        terminated(digit1, tag("#")),
        terminated(digit1, tag(":")),
        opt(tag(" ")),
    )
        .map(|(_, pid, tid, _)| (pid, tid))
        .parse(input)
}

/// `*cid ` of an error tied to a connection (the space is gone when the message is empty).
fn connection(input: Input<'_>) -> IResult<Input<'_>, Input<'_>> {
    delimited(tag("*"), digit1, alt((tag(" "), eof))).parse(input)
}

fn fail(msg: String) -> ParseError {
    ParseError::new(format!("nginx_error: {msg}"))
}

fn pos(line: Input<'_>, rest: Input<'_>) -> usize {
    line.len().saturating_sub(rest.len())
}

fn parse_record(raw: &[u8], zone: &TimeZone) -> Result<Record, ParseError> {
    // Trailing blanks (the `\r` of CRLF files, an empty last line) carry nothing.
    let end = raw.len()
        - raw
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_whitespace())
            .count();
    let line = raw.get(..end).unwrap_or_default();

    let (rest, civil) = date_time(line)
        .map_err(|_| fail("expected a `YYYY/MM/DD HH:MM:SS` date-time at byte 0".into()))?;
    let time = zone.local_to_utc(&civil, 0).ok_or_else(|| {
        let shown = String::from_utf8_lossy(line.get(..19).unwrap_or(line));
        fail(format!("invalid date-time `{shown}` at byte 0"))
    })?;
    let level_at = pos(line, rest) + 2;
    let (rest, level_text) = level(rest)
        .map_err(|_| fail(format!("expected ` [level]` at byte {}", pos(line, rest))))?;
    let level = LEVELS
        .iter()
        .find(|l| l.as_bytes() == level_text)
        .copied()
        .ok_or_else(|| {
            fail(format!(
                "unknown level `{}` at byte {level_at}: expected one of {}",
                String::from_utf8_lossy(level_text),
                LEVELS.join(", ")
            ))
        })?;
    let (rest, (pid, tid)) = process(rest)
        .map_err(|_| fail(format!("expected ` pid#tid:` at byte {}", pos(line, rest))))?;
    let number = |digits: Input<'_>, what: &str| {
        to_i64(digits).ok_or_else(|| {
            // `digits` lies inside `line`: its offset is the distance between the two.
            let at = (digits.as_ptr() as usize).saturating_sub(line.as_ptr() as usize);
            fail(format!("{what} out of range at byte {at}"))
        })
    };
    let pid = number(pid, "pid")?;
    let tid = number(tid, "thread id")?;
    let (rest, connection) = match connection(rest) {
        Ok((after, cid)) => (after, Some(number(cid, "connection id")?)),
        Err(_) => (rest, None),
    };

    let message_start = pos(line, rest);
    let (message_end, pairs) = match find_pairs(line, message_start) {
        Some((at, pairs)) => (at, pairs),
        None => (end, Pairs::default()),
    };
    let kept = line.get(message_start..message_end).unwrap_or_default();
    let trimmed = kept.len()
        - kept
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_whitespace())
            .count();
    Ok(Record {
        time,
        level,
        pid,
        tid,
        connection,
        message: Span {
            start: message_start,
            end: message_start + trimmed,
        },
        pairs,
    })
}

/// At most this many `, client: ` occurrences are tried: the text before the real pairs can
/// quote client input (a path in `open() "…" failed`), but not without bound.
const MAX_PAIR_CANDIDATES: usize = 8;

/// Where the context pairs start, and what they hold. The first `, client: ` from which the
/// pairs run to the end of the record wins, so a look-alike inside the message (a requested
/// path containing `, client: `) is passed over.
fn find_pairs(line: Input<'_>, from: usize) -> Option<(usize, Pairs)> {
    // Built once: constructing a searcher per record would cost more than the search.
    static CLIENT_PAIR: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b", client: "));
    let hay = line.get(from..)?;
    CLIENT_PAIR
        .find_iter(hay)
        .take(MAX_PAIR_CANDIDATES)
        .find_map(|at| read_pairs(line, from + at).map(|pairs| (from + at, pairs)))
}

/// The key of a pair starting at `at` (just after its `, `); returns it and where its value
/// begins.
fn key_at(line: Input<'_>, at: usize) -> Option<(Key, usize)> {
    let rest = line.get(at..)?;
    let (name, key) = KEYS
        .iter()
        .find(|(name, _)| rest.starts_with(name.as_bytes()))?;
    let mut value_at = at + name.len();
    if line.get(value_at) == Some(&b' ') {
        value_at += 1;
    }
    Some((*key, value_at))
}

/// True when a new pair (`, key:`) or the end of the record is at `at`.
fn pair_boundary(line: Input<'_>, at: usize) -> bool {
    at == line.len() || (line.get(at..at + 2) == Some(b", ") && key_at(line, at + 2).is_some())
}

/// Reads `, key: value` pairs from `at` to the end of the record; `None` when they do not run to
/// the end, repeat a key, or do not start with a plausible client address.
fn read_pairs(line: Input<'_>, mut at: usize) -> Option<Pairs> {
    let mut pairs = Pairs::default();
    while at < line.len() {
        if line.get(at..at + 2) != Some(b", ") {
            return None;
        }
        let (key, value_at) = key_at(line, at + 2)?;
        let (value, next) = if line.get(value_at) == Some(&b'"') {
            // The closing quote is the first one followed by another pair or the end: values
            // are written raw, so a quote inside a request line is not escaped.
            let mut search = value_at + 1;
            loop {
                let close = search + memchr::memchr(b'"', line.get(search..)?)?;
                if pair_boundary(line, close + 1) {
                    break (
                        Span {
                            start: value_at + 1,
                            end: close,
                        },
                        close + 1,
                    );
                }
                search = close + 1;
            }
        } else {
            let mut search = value_at;
            loop {
                match memchr::memchr(b',', line.get(search..)?) {
                    Some(k) if pair_boundary(line, search + k) => {
                        break (
                            Span {
                                start: value_at,
                                end: search + k,
                            },
                            search + k,
                        )
                    }
                    Some(k) => search += k + 1,
                    None => {
                        break (
                            Span {
                                start: value_at,
                                end: line.len(),
                            },
                            line.len(),
                        )
                    }
                }
            }
        };
        let slot = match key {
            Key::Client => &mut pairs.client,
            Key::Server => &mut pairs.server,
            Key::Request => &mut pairs.request,
            Key::Subrequest => &mut pairs.subrequest,
            Key::Upstream => &mut pairs.upstream,
            Key::Host => &mut pairs.host,
            Key::Referrer => &mut pairs.referrer,
            Key::Login => &mut pairs.login,
            Key::BytesClient | Key::BytesUpstream => {
                let counts = byte_counts(line.get(value.start..value.end)?)?;
                let slot = if key == Key::BytesClient {
                    &mut pairs.bytes_client
                } else {
                    &mut pairs.bytes_upstream
                };
                if slot.replace(counts).is_some() {
                    return None;
                }
                at = next;
                continue;
            }
        };
        if slot.replace(value).is_some() {
            return None;
        }
        at = next;
    }
    // nginx writes the client first; an address has neither blanks nor quotes.
    let client = pairs.client?;
    let text = line.get(client.start..client.end)?;
    let plausible = !text.is_empty()
        && !text
            .iter()
            .any(|b| b.is_ascii_whitespace() || *b == b'"' || *b == b',');
    plausible.then_some(pairs)
}

/// `12/345` of `bytes from/to client:12/345`.
fn byte_counts(v: Input<'_>) -> Option<(i64, i64)> {
    let slash = memchr::memchr(b'/', v)?;
    let (from, to) = (v.get(..slash)?, v.get(slash + 1..)?);
    let all_digits = |d: Input<'_>| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    if !all_digits(from) || !all_digits(to) {
        return None;
    }
    Some((to_i64(from)?, to_i64(to)?))
}

/// `raw[span]`; spans sit next to ASCII delimiters, so they are on char boundaries.
fn slice(raw: &str, span: Span) -> &str {
    raw.get(span.start..span.end).unwrap_or_default()
}

fn emit(event: &mut Event, record: &Record) {
    event.timestamp = Some(record.time);
    let Event { raw, fields, .. } = event;
    let raw: &str = raw;
    fields.reserve(16);
    put(fields, "message", record.message.value());
    put(fields, "log.level", Value::Str(Text::Static(record.level)));
    put(fields, "process.pid", Value::Int(record.pid));
    put(fields, "process.thread.id", Value::Int(record.tid));
    if let Some(cid) = record.connection {
        put(fields, "nginx.error.connection_id", Value::Int(cid));
    }
    emit_pairs(raw, fields, &record.pairs);
    put(fields, "event.category", static_list("web"));
    put(fields, "event.type", static_list("error"));
}

fn emit_pairs(raw: &str, fields: &mut Fields, pairs: &Pairs) {
    // `-` and empty values (`server: ` of a server without a name) say nothing.
    let present = |span: Option<Span>| span.filter(|s| !matches!(slice(raw, *s), "" | "-"));
    if let Some(client) = present(pairs.client) {
        put(fields, "source.address", client.value());
        if let Ok(ip) = slice(raw, client).parse::<IpAddr>() {
            put(fields, "source.ip", Value::Ip(ip));
        }
    }
    if let Some(server) = present(pairs.server) {
        put(fields, "nginx.error.server", server.value());
    }
    if let Some(request) = present(pairs.request) {
        put(fields, "nginx.error.request", request.value());
        if let Some(req) = split_request(slice(raw, request)) {
            // The parts are slices of the request, itself a slice of `raw`: spans again.
            put(fields, "http.request.method", text_value(raw, req.method));
            put(fields, "url.original", text_value(raw, req.target));
            if let Some(v) = req.version {
                put(fields, "http.version", text_value(raw, v));
            }
        }
    }
    if let Some(sub) = present(pairs.subrequest) {
        put(fields, "nginx.error.subrequest", sub.value());
    }
    if let Some(upstream) = present(pairs.upstream) {
        put(fields, "nginx.error.upstream", upstream.value());
    }
    if let Some(host) = present(pairs.host) {
        // `host` is the Host header as nginx validated it; a port may still be attached.
        if let (Some(domain), _) = split_authority(slice(raw, host)) {
            put(fields, "url.domain", text_value(raw, domain));
        }
    }
    if let Some(referrer) = present(pairs.referrer) {
        put(fields, "http.request.referrer", referrer.value());
    }
    if let Some(login) = present(pairs.login) {
        put(fields, "user.name", login.value());
    }
    if let Some((from, to)) = pairs.bytes_client {
        put(fields, "nginx.error.bytes.from_client", Value::Int(from));
        put(fields, "nginx.error.bytes.to_client", Value::Int(to));
    }
    if let Some((from, to)) = pairs.bytes_upstream {
        put(fields, "nginx.error.bytes.from_upstream", Value::Int(from));
        put(fields, "nginx.error.bytes.to_upstream", Value::Int(to));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::{to_json_string, DocumentOptions};
    use crate::event::{RecordOrigin, PARSE_FAILURE_TAG};
    use crate::parse::test_support::{int, ip, s, strs, ts, valid_json};
    use proptest::prelude::*;

    fn parse_in(zone: TimeZone, record: &str) -> Event {
        let mut e = Event::new(record.to_string(), RecordOrigin::default());
        if let Err(err) = NginxErrorParser::new(zone).parse(&mut e) {
            panic!("{record:?} should parse: {err}");
        }
        e
    }

    fn parse(record: &str) -> Event {
        parse_in(TimeZone::Utc, record)
    }

    fn fail(record: &str) -> String {
        let mut e = Event::new(record.to_string(), RecordOrigin::default());
        match NginxErrorParser::default().parse(&mut e) {
            Ok(()) => panic!("{record:?} should not parse: {:?}", e.fields),
            Err(err) => err.0.into_owned(),
        }
    }

    const UPSTREAM_TIMED_OUT: &str = r#"2026/11/22 10:00:00 [error] 1234#1234: *5678 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 203.0.113.7, server: shop.example.com, request: "GET /api/v1/cart?session=42 HTTP/1.1", upstream: "http://10.0.2.15:8080/api/v1/cart?session=42", host: "shop.example.com", referrer: "https://shop.example.com/products""#;

    #[test]
    fn upstream_timed_out_with_every_pair() {
        let e = parse(UPSTREAM_TIMED_OUT);
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T10:00:00.000Z"));
        assert_eq!(s(&e, "log.level"), Some("error"));
        assert_eq!(int(&e, "process.pid"), Some(1234));
        assert_eq!(int(&e, "process.thread.id"), Some(1234));
        assert_eq!(int(&e, "nginx.error.connection_id"), Some(5678));
        assert_eq!(
            s(&e, "message"),
            Some("upstream timed out (110: Connection timed out) while reading response header from upstream")
        );
        assert_eq!(s(&e, "source.address"), Some("203.0.113.7"));
        assert_eq!(ip(&e, "source.ip"), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(s(&e, "nginx.error.server"), Some("shop.example.com"));
        assert_eq!(
            s(&e, "nginx.error.request"),
            Some("GET /api/v1/cart?session=42 HTTP/1.1")
        );
        assert_eq!(s(&e, "http.request.method"), Some("GET"));
        assert_eq!(s(&e, "url.original"), Some("/api/v1/cart?session=42"));
        assert_eq!(s(&e, "http.version"), Some("1.1"));
        assert_eq!(
            s(&e, "nginx.error.upstream"),
            Some("http://10.0.2.15:8080/api/v1/cart?session=42")
        );
        assert_eq!(s(&e, "url.domain"), Some("shop.example.com"));
        assert_eq!(
            s(&e, "http.request.referrer"),
            Some("https://shop.example.com/products")
        );
        assert_eq!(strs(&e, "event.category"), ["web"]);
        assert_eq!(strs(&e, "event.type"), ["error"]);
        // Zero-copy: every string is a span of the record.
        for (name, value) in &e.fields {
            if let Value::Str(text) = value {
                assert!(
                    matches!(text, Text::Span { .. } | Text::Static(_)),
                    "{name}"
                );
            }
        }
        let doc: serde_json::Value =
            serde_json::from_str(&to_json_string(&e, DocumentOptions::default())).unwrap();
        assert_eq!(doc["@timestamp"], "2026-11-22T10:00:00.000Z");
        assert_eq!(doc["log"]["level"], "error");
        assert_eq!(doc["process"]["pid"], 1234);
        assert_eq!(doc["process"]["thread"]["id"], 1234);
        assert_eq!(doc["nginx"]["error"]["connection_id"], 5678);
        assert_eq!(doc["source"]["ip"], "203.0.113.7");
        assert_eq!(doc["event"]["type"], serde_json::json!(["error"]));
    }

    #[test]
    fn production_variety() {
        let e = parse(
            r#"2026/11/22 10:00:01 [error] 31#31: *902 connect() failed (111: Connection refused) while connecting to upstream, client: 2001:db8::17, server: api.example.com, request: "POST /v2/orders HTTP/2.0", upstream: "http://[2001:db8::50]:9000/v2/orders", host: "api.example.com:8443""#,
        );
        assert_eq!(
            s(&e, "message"),
            Some("connect() failed (111: Connection refused) while connecting to upstream")
        );
        assert_eq!(ip(&e, "source.ip"), Some("2001:db8::17".parse().unwrap()));
        assert_eq!(s(&e, "http.request.method"), Some("POST"));
        assert_eq!(s(&e, "http.version"), Some("2.0"));
        assert_eq!(
            s(&e, "nginx.error.upstream"),
            Some("http://[2001:db8::50]:9000/v2/orders")
        );
        // The port is not part of the domain.
        assert_eq!(s(&e, "url.domain"), Some("api.example.com"));

        let e = parse(
            r#"2026/11/22 10:00:02 [info] 31#31: *903 SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking, client: 198.51.100.23, server: 0.0.0.0:443"#,
        );
        assert_eq!(s(&e, "log.level"), Some("info"));
        assert_eq!(
            s(&e, "message"),
            Some("SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking")
        );
        assert_eq!(s(&e, "nginx.error.server"), Some("0.0.0.0:443"));
        assert!(e.get("nginx.error.request").is_none());

        let e = parse(
            r#"2026/11/22 10:00:03 [error] 32#32: *77 limiting requests, excess: 20.480 by zone "perip", client: 203.0.113.9, server: example.com, request: "GET /login HTTP/1.1", host: "example.com""#,
        );
        assert_eq!(
            s(&e, "message"),
            Some(r#"limiting requests, excess: 20.480 by zone "perip""#)
        );
        assert_eq!(s(&e, "url.original"), Some("/login"));

        let e = parse(
            r#"2026/11/22 10:00:04 [error] 32#32: *78 client intended to send too large body: 10485761 bytes, client: 192.0.2.44, server: upload.example.com, request: "POST /upload HTTP/1.1", host: "upload.example.com""#,
        );
        assert_eq!(
            s(&e, "message"),
            Some("client intended to send too large body: 10485761 bytes")
        );

        let e = parse(
            r#"2026/11/22 10:00:05 [error] 33#33: *12 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), client: 10.0.0.4, server: localhost, request: "GET /favicon.ico HTTP/1.1", host: "localhost", referrer: "http://localhost/""#,
        );
        assert_eq!(
            s(&e, "message"),
            Some(
                r#"open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory)"#
            )
        );
        assert_eq!(s(&e, "http.request.referrer"), Some("http://localhost/"));

        let e = parse(
            r#"2026/11/22 10:00:06 [warn] 34#34: *14 an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream, client: 198.51.100.8, server: cdn.example.com, request: "GET /video/intro.mp4 HTTP/1.1", upstream: "http://10.0.3.7:80/video/intro.mp4", host: "cdn.example.com""#,
        );
        assert_eq!(s(&e, "log.level"), Some("warn"));
        assert_eq!(
            s(&e, "nginx.error.upstream"),
            Some("http://10.0.3.7:80/video/intro.mp4")
        );

        // A subrequest (SSI, auth_request) names itself after the main request.
        let e = parse(
            r#"2026/11/22 10:00:07 [error] 34#34: *15 auth request unexpected status: 502 while sending to client, client: 203.0.113.7, server: app.example.com, request: "GET /dashboard HTTP/1.1", subrequest: "/_auth", upstream: "http://127.0.0.1:9091/verify", host: "app.example.com""#,
        );
        assert_eq!(s(&e, "nginx.error.subrequest"), Some("/_auth"));
        assert_eq!(
            s(&e, "nginx.error.upstream"),
            Some("http://127.0.0.1:9091/verify")
        );
    }

    #[test]
    fn startup_and_process_messages_have_no_connection() {
        let e = parse(
            "2026/11/22 09:59:58 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already in use)",
        );
        assert_eq!(s(&e, "log.level"), Some("emerg"));
        assert_eq!(int(&e, "process.pid"), Some(1));
        assert!(e.get("nginx.error.connection_id").is_none());
        assert!(e.get("source.address").is_none());
        assert_eq!(
            s(&e, "message"),
            Some("bind() to 0.0.0.0:80 failed (98: Address already in use)")
        );
        let e = parse(
            r#"2026/11/22 09:59:58 [emerg] 1#1: unknown directive "proxy_passs" in /etc/nginx/conf.d/default.conf:12"#,
        );
        assert_eq!(
            s(&e, "message"),
            Some(r#"unknown directive "proxy_passs" in /etc/nginx/conf.d/default.conf:12"#)
        );
        for (line, level) in [
            ("2026/11/22 09:59:59 [notice] 1#1: start worker process 31", "notice"),
            ("2026/11/22 10:30:00 [alert] 1#1: worker process 31 exited on signal 9", "alert"),
            ("2026/11/22 10:30:00 [crit] 31#31: *9 SSL_read() failed (SSL: error:0A000126:SSL routines::unexpected eof while reading) while keepalive, client: 192.0.2.9, server: 0.0.0.0:443", "crit"),
            ("2026/11/22 10:30:00 [debug] 31#31: *9 http keepalive handler", "debug"),
        ] {
            let e = parse(line);
            assert_eq!(s(&e, "log.level"), Some(level));
        }
        // A thread id that differs from the pid (thread pools).
        let e = parse("2026/11/22 10:30:00 [error] 2817#2831: *3 aio read failed");
        assert_eq!(int(&e, "process.thread.id"), Some(2831));
        // Nothing after the colon.
        let e = parse("2026/11/22 10:30:00 [error] 2817#2831:");
        assert_eq!(s(&e, "message"), Some(""));
    }

    const PHP_STDERR: &str = "2026/11/22 10:01:00 [error] 35#35: *120 FastCGI sent in stderr: \"PHP message: PHP Fatal error:  Uncaught RuntimeException: payment gateway unreachable in /var/www/app/src/Checkout.php:88\nStack trace:\n#0 /var/www/app/public/index.php(17): App\\Checkout->pay()\n#1 {main}\n  thrown in /var/www/app/src/Checkout.php on line 88\" while reading response header from upstream, client: 203.0.113.7, server: shop.example.com, request: \"POST /checkout HTTP/1.1\", upstream: \"fastcgi://unix:/run/php/php8.2-fpm.sock:\", host: \"shop.example.com\", referrer: \"https://shop.example.com/cart\"";

    #[test]
    fn multi_line_php_message_keeps_its_lines() {
        let e = parse(PHP_STDERR);
        let message = s(&e, "message").unwrap();
        assert!(message.starts_with("FastCGI sent in stderr: \"PHP message: PHP Fatal error:"));
        assert!(message.contains("\nStack trace:\n#0 /var/www/app/public/index.php(17)"));
        assert!(message.ends_with("on line 88\" while reading response header from upstream"));
        assert_eq!(message.lines().count(), 5);
        assert_eq!(s(&e, "source.address"), Some("203.0.113.7"));
        assert_eq!(
            s(&e, "nginx.error.upstream"),
            Some("fastcgi://unix:/run/php/php8.2-fpm.sock:")
        );
        assert_eq!(s(&e, "http.request.method"), Some("POST"));
        assert_eq!(
            s(&e, "http.request.referrer"),
            Some("https://shop.example.com/cart")
        );

        // The lines as the input sees them: the first starts a record, the rest continue it.
        let p = NginxErrorParser::default();
        assert!(p.joins_lines());
        let lines: Vec<&str> = PHP_STDERR.split('\n').collect();
        assert!(!p.is_continuation(lines[0].as_bytes()));
        for line in &lines[1..] {
            assert!(p.is_continuation(line.as_bytes()), "{line}");
        }
        assert!(p.is_continuation(b""));
        assert!(p.is_continuation(b"\tat main.lua:3"));
        assert!(p.is_continuation(b"2026/11/22 10:01:00"));
        assert!(p.is_continuation(b"2026-11-22 10:01:00 [error]"));
        assert!(!p.is_continuation(b"2026/11/22 10:01:00 [error] 1#1: x"));
        // A broken date is still a record of its own (which then fails to parse).
        assert!(!p.is_continuation(b"2026/13/45 25:61:00 garbage"));
    }

    #[test]
    fn lua_stack_trace() {
        let record = "2026/11/22 10:02:00 [error] 7#7: *3 lua entry thread aborted: runtime error: /etc/nginx/lua/auth.lua:42: attempt to index a nil value (local 'token')\nstack traceback:\ncoroutine 0:\n\t/etc/nginx/lua/auth.lua: in function 'verify'\n\taccess_by_lua(nginx.conf:55):2: in main chunk, client: 198.51.100.61, server: admin.example.com, request: \"GET /admin HTTP/1.1\", host: \"admin.example.com\"\r\n";
        let e = parse(record);
        assert!(s(&e, "message")
            .unwrap()
            .ends_with("\taccess_by_lua(nginx.conf:55):2: in main chunk"));
        assert_eq!(s(&e, "url.domain"), Some("admin.example.com"));
        assert_eq!(s(&e, "url.original"), Some("/admin"));
    }

    #[test]
    fn stream_and_mail_pairs() {
        let e = parse(
            r#"2026/11/22 10:03:00 [error] 12#12: *901 upstream timed out (110: Connection timed out) while proxying connection, client: 198.51.100.77, server: 0.0.0.0:5432, upstream: "10.0.4.20:5432", bytes from/to client:120/0, bytes from/to upstream:0/120"#,
        );
        assert_eq!(
            s(&e, "message"),
            Some("upstream timed out (110: Connection timed out) while proxying connection")
        );
        assert_eq!(s(&e, "nginx.error.upstream"), Some("10.0.4.20:5432"));
        assert_eq!(int(&e, "nginx.error.bytes.from_client"), Some(120));
        assert_eq!(int(&e, "nginx.error.bytes.to_client"), Some(0));
        assert_eq!(int(&e, "nginx.error.bytes.from_upstream"), Some(0));
        assert_eq!(int(&e, "nginx.error.bytes.to_upstream"), Some(120));
        let e = parse(
            r#"2026/11/22 10:03:01 [info] 12#12: *902 client login failed: "Authentication failed" while in http auth state, client: 192.0.2.81, server: 0.0.0.0:993, login: "carol.w""#,
        );
        assert_eq!(s(&e, "user.name"), Some("carol.w"));
        assert_eq!(
            s(&e, "message"),
            Some(r#"client login failed: "Authentication failed" while in http auth state"#)
        );
    }

    #[test]
    fn odd_pairs() {
        // A requested path that imitates the pairs is passed over.
        let e = parse(
            r#"2026/11/22 10:04:00 [error] 33#33: *13 open() "/usr/share/nginx/html/a, client: 6.6.6.6, server: evil" failed (2: No such file or directory), client: 203.0.113.7, server: localhost, request: "GET /a,%20client:%206.6.6.6 HTTP/1.1", host: "localhost""#,
        );
        assert_eq!(s(&e, "source.address"), Some("203.0.113.7"));
        assert!(s(&e, "message")
            .unwrap()
            .ends_with("(2: No such file or directory)"));
        // A quote inside the request line (written raw) does not end it early.
        let e = parse(
            r#"2026/11/22 10:04:01 [error] 33#33: *14 open() "/srv/x" failed (13: Permission denied), client: 203.0.113.7, server: , request: "GET /q?"a", b HTTP/1.1", host: "localhost""#,
        );
        assert_eq!(
            s(&e, "nginx.error.request"),
            Some(r#"GET /q?"a", b HTTP/1.1"#)
        );
        assert!(e.get("nginx.error.server").is_none(), "empty server name");
        // A request line that is not HTTP.
        let e = parse(
            r#"2026/11/22 10:04:02 [info] 33#33: *15 client sent invalid method while reading client request line, client: 198.51.100.23, server: _, request: "SSH-2.0-Go""#,
        );
        assert_eq!(s(&e, "nginx.error.request"), Some("SSH-2.0-Go"));
        assert!(e.get("http.request.method").is_none());
        // A unix-socket client is an address but not an IP.
        let e = parse(
            r#"2026/11/22 10:04:03 [error] 33#33: *16 recv() failed (104: Connection reset by peer), client: unix:, server: internal"#,
        );
        assert_eq!(s(&e, "source.address"), Some("unix:"));
        assert!(ip(&e, "source.ip").is_none());
        // Text that only looks like a pair start: kept in the message.
        let record = r#"2026/11/22 10:04:04 [warn] 33#33: *17 something, client: a b c"#;
        let e = parse(record);
        assert_eq!(s(&e, "message"), Some("something, client: a b c"));
        assert!(e.get("source.address").is_none());
    }

    #[test]
    fn local_times_use_the_configured_zone() {
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        let e = parse_in(berlin, "2026/11/22 10:00:00 [notice] 1#1: reconfiguring");
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T09:00:00.000Z"));
        let e = parse_in(berlin, "2026/07/01 10:00:00 [notice] 1#1: reconfiguring");
        assert_eq!(ts(&e).as_deref(), Some("2026-07-01T08:00:00.000Z"));
        let options = ParserOptions {
            timezone: Some("-05:00".into()),
            ..ParserOptions::default()
        };
        let p = crate::parse::build("nginx_error", &options).unwrap();
        assert_eq!(p.dataset(), "nginx.error");
        let mut e = Event::new(
            "2026/11/22 10:00:00 [notice] 1#1: reconfiguring".into(),
            RecordOrigin::default(),
        );
        p.parse(&mut e).unwrap();
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T15:00:00.000Z"));
        let options = ParserOptions {
            log_format: Some("combined".into()),
            ..ParserOptions::default()
        };
        assert!(crate::parse::build("nginx_error", &options)
            .unwrap_err()
            .contains("`log_format` is not an option of the `nginx_error` parser"));
        let options = ParserOptions {
            timezone: Some("Mars/Olympus".into()),
            ..ParserOptions::default()
        };
        assert!(crate::parse::build("nginx_error", &options)
            .unwrap_err()
            .contains("unknown timezone"));
    }

    #[test]
    fn malformed_records_fail_with_a_reason() {
        assert_eq!(
            fail("just some text"),
            "nginx_error: expected a `YYYY/MM/DD HH:MM:SS` date-time at byte 0"
        );
        assert_eq!(
            fail(""),
            "nginx_error: expected a `YYYY/MM/DD HH:MM:SS` date-time at byte 0"
        );
        assert_eq!(
            fail("2026/13/45 25:61:00 [error] 1#1: x"),
            "nginx_error: invalid date-time `2026/13/45 25:61:00` at byte 0"
        );
        assert_eq!(
            fail("2026/11/22 10:00:00 error 1#1: x"),
            "nginx_error: expected ` [level]` at byte 19"
        );
        assert_eq!(
            fail("2026/11/22 10:00:00 [fatal] 1#1: x"),
            "nginx_error: unknown level `fatal` at byte 21: expected one of debug, info, notice, warn, error, crit, alert, emerg"
        );
        assert_eq!(
            fail("2026/11/22 10:00:00 [error] pid 1: x"),
            "nginx_error: expected ` pid#tid:` at byte 27"
        );
        assert!(
            fail("2026/11/22 10:00:00 [error] 99999999999999999999#1: x")
                .contains("pid out of range at byte 28")
        );
        // An access-log line is not an error-log record.
        assert!(
            fail(r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1"#)
                .contains("date-time")
        );
    }

    /// The fixture, joined into records the way the input joins them.
    #[test]
    fn fixture_records() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/nginx/error.log"),
        )
        .unwrap();
        let p = NginxErrorParser::default();
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
        let mut failures = Vec::new();
        let mut multi_line = 0;
        for (i, record) in records.iter().enumerate() {
            let e = run_like_worker(record);
            assert!(valid_json(&e));
            if e.has_tag(PARSE_FAILURE_TAG) {
                failures.push(i + 1);
            } else if record.contains('\n') {
                multi_line += 1;
                // Pairs are read from the end of the last line.
                assert!(e.get("source.address").is_some(), "{record}");
            }
        }
        assert_eq!(text.lines().count(), 60);
        assert_eq!(records.len(), 48);
        assert_eq!(multi_line, 3);
        assert_eq!(failures, [1, 17, 30, 44]);
    }

    fn run_like_worker(record: &str) -> Event {
        let mut e = Event::new(record.to_string(), RecordOrigin::default());
        e.push("event.dataset", Value::Str(Text::Static("nginx.error")));
        e.push("host.name", Value::owned_str("test-host"));
        if let Err(err) = NginxErrorParser::default().parse(&mut e) {
            e.mark_parse_failure(err.0);
        }
        e
    }

    proptest! {
        #![proptest_config(crate::parse::test_support::proptest_config())]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let line = String::from_utf8_lossy(&bytes).into_owned();
            let e = run_like_worker(&line);
            prop_assert!(valid_json(&e));
            if e.has_tag(PARSE_FAILURE_TAG) {
                prop_assert_eq!(s(&e, "message"), Some(line.as_str()));
                prop_assert!(e.get("error.message").is_some());
            }
        }

        #[test]
        fn near_valid_records_never_panic(
            head in r#"[0-9/: \[\]a-z#*]{0,40}"#,
            body in r#"[ -~\n]{0,80}"#,
            pairs in r#"(, (client|server|request|host|upstream|bytes from/to client):? ?"?[ -~]{0,12}"?){0,5}"#,
        ) {
            for record in [
                format!("{head}{body}{pairs}"),
                format!("2026/11/22 10:00:00 [error] 1#1: *2 {body}{pairs}"),
            ] {
                let e = run_like_worker(&record);
                prop_assert!(valid_json(&e));
                if e.has_tag(PARSE_FAILURE_TAG) {
                    prop_assert_eq!(s(&e, "message"), Some(record.as_str()));
                }
            }
        }

        #[test]
        fn valid_records_round_trip(
            (year, month, day) in (1971i32..2100, 1u32..=12, 1u32..=28),
            (hour, minute, second) in (0u32..24, 0u32..60, 0u32..60),
            level in prop::sample::select(LEVELS.to_vec()),
            pid in 1i64..4_194_304,
            tid in 1i64..4_194_304,
            cid in proptest::option::of(0i64..i64::MAX),
            message in "[ -~]{0,80}(\n[ -~\t]{0,40}){0,3}",
            client in proptest::option::of(any::<[u8; 16]>()),
            server in "[a-z0-9][a-z0-9.-]{0,19}",
            request in proptest::option::of(("[A-Z]{3,7}", "/[A-Za-z0-9/._?=&-]{0,30}")),
            host in proptest::option::of("[a-z0-9-]{1,12}\\.example"),
        ) {
            let message = message.trim_end().to_string();
            prop_assume!(!message.contains(", client: "));
            // Without a connection, a message starting `*12 ` would read as one.
            prop_assume!(cid.is_some() || !message.starts_with('*'));
            let mut record = format!(
                "{year:04}/{month:02}/{day:02} {hour:02}:{minute:02}:{second:02} [{level}] {pid}#{tid}: "
            );
            if let Some(cid) = cid {
                record.push_str(&format!("*{cid} "));
            }
            record.push_str(&message);
            let client_ip = client.map(IpAddr::from);
            if let Some(ip) = client_ip {
                record.push_str(&format!(", client: {ip}, server: {server}"));
                if let Some((method, target)) = &request {
                    record.push_str(&format!(", request: \"{method} {target} HTTP/1.1\""));
                }
                if let Some(host) = &host {
                    record.push_str(&format!(", host: \"{host}\""));
                }
            }
            let e = parse(&record);
            let local = crate::event::timestamp::days_from_civil(year, month, day) * 86_400
                + i64::from(hour * 3600 + minute * 60 + second);
            prop_assert_eq!(e.timestamp.map(|t| t.unix_seconds()), Some(local));
            prop_assert_eq!(s(&e, "log.level"), Some(level));
            prop_assert_eq!(int(&e, "process.pid"), Some(pid));
            prop_assert_eq!(int(&e, "process.thread.id"), Some(tid));
            prop_assert_eq!(int(&e, "nginx.error.connection_id"), cid);
            prop_assert_eq!(s(&e, "message"), Some(message.as_str()));
            prop_assert_eq!(ip(&e, "source.ip"), client_ip);
            if client_ip.is_some() {
                prop_assert_eq!(s(&e, "nginx.error.server"), Some(server.as_str()));
                if let Some((method, target)) = &request {
                    prop_assert_eq!(s(&e, "http.request.method"), Some(method.as_str()));
                    prop_assert_eq!(s(&e, "url.original"), Some(target.as_str()));
                }
                prop_assert_eq!(s(&e, "url.domain"), host.as_deref());
            }
            prop_assert!(valid_json(&e));
        }
    }
}
