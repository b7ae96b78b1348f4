//! `nginx_access`: NGINX access logs in the default `combined` format, to ECS `source.*`,
//! `http.*`, `url.*` and `user_agent.original` (DESIGN.md, "nginx.access").
//!
//! Besides `combined` it reads what production logs actually hold: the `main` variant with a
//! trailing `"$http_x_forwarded_for"`, further fields appended after that, plain `common` lines
//! without referrer and user agent, address lists written by proxies into the remote-address
//! position, and request lines that are not HTTP at all (probes, TLS handshakes on a plain port).
//!
//! The line's shape is read with nom over the bytes of `event.raw`. A value that needs no
//! unescaping is stored as a span of the line, so a typical line allocates only the two
//! one-element arrays ECS asks for in `event.category` and `event.type`.
//!
//! An input that configures a `log_format` gets a parser compiled from it instead
//! (`nginx_log_format`). The ECS mapping helpers here (request splitting, `url.*`, address lists
//! and the public-address rule, status and outcome) are shared with it and with `nginx_error`,
//! so the three produce the same fields for the same text.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_till1, take_until};
use nom::character::complete::digit1;
use nom::error::{Error as NomError, ErrorKind};
use nom::{IResult, Parser as _};
use smallvec::SmallVec;

use super::backslash_quoted as quoted;
use super::nginx_log_format::LogFormatParser;
use super::timestamp::{parse_nginx_time, TimeZone};
use super::{
    reject_foreign, ParseError, Parser, ParserOptions, ParserRegistration, PLAIN_NUMBER_MAX,
};
use crate::event::{span_value, Event, FieldName, Text, Timestamp, Value};

pub const REGISTRATION: ParserRegistration = ParserRegistration {
    name: "nginx_access",
    description: "NGINX access log (`combined`, `main` with X-Forwarded-For, `common`, or the `log_format` given)",
    build,
};

/// The `combined` reader unless the input configures a `log_format`, which is compiled here
/// once (a bad format is a configuration error, reported before any line is read).
fn build(options: &ParserOptions) -> Result<Box<dyn Parser>, String> {
    reject_foreign(
        REGISTRATION.name,
        options,
        &["log_format", "promote_forwarded_for"],
    )?;
    match options.log_format.as_deref() {
        None if options.promote_forwarded_for.is_some() => Err(
            "nginx_access: `promote_forwarded_for` applies to a `log_format` with $http_x_forwarded_for"
                .into(),
        ),
        None => Ok(Box::new(NginxAccessParser)),
        Some(format) => {
            let zone = TimeZone::from_options(options)?;
            let parser = LogFormatParser::compile(format, zone)
                .map_err(|e| format!("nginx_access: invalid `log_format`: {e}"))?
                .with_forwarded_for_promotion(options.promote_forwarded_for.unwrap_or(true));
            Ok(Box::new(parser))
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct NginxAccessParser;

impl Parser for NginxAccessParser {
    fn dataset(&self) -> &'static str {
        "nginx.access"
    }

    fn parse(&self, event: &mut Event) -> Result<(), ParseError> {
        let line = parse_line(event.raw.as_bytes())?;
        emit(event, &line);
        Ok(())
    }
}

/// Proxies rarely chain more than a handful of hops; the bound keeps a hostile line from turning
/// the address scan into a long loop.
const MAX_ADDRESS_TOKENS: usize = 64;

/// A byte range of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Span {
    pub(crate) fn value(self) -> Value {
        span_value(self.start, self.end)
    }
}

/// The content of a `"…"` field, without the quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quoted {
    span: Span,
    /// A backslash occurs inside, so the text must be unescaped before use.
    escaped: bool,
}

/// The fields of one line, as positions in it; the ECS mapping happens in [`emit`].
#[derive(Debug, Clone, PartialEq)]
struct AccessLine {
    /// Everything written in the remote-address position (one address or a list).
    addresses: Span,
    user: Span,
    time: Timestamp,
    request: Quoted,
    status: Option<i64>,
    body_bytes: Option<i64>,
    /// Where `$body_bytes_sent` is written (digits or `-`).
    body_bytes_at: Span,
    referrer: Option<Quoted>,
    user_agent: Option<Quoted>,
    forwarded_for: Option<Quoted>,
    extra: Option<Span>,
}

type Input<'a> = &'a [u8];

/// Walks the line with nom parsers, turning a mismatch into an error that says what was
/// expected where.
struct Cursor<'a> {
    line: Input<'a>,
    rest: Input<'a>,
}

impl<'a> Cursor<'a> {
    fn pos(&self) -> usize {
        self.line.len().saturating_sub(self.rest.len())
    }

    fn expect<O, P>(&mut self, mut parser: P, what: &str) -> Result<O, ParseError>
    where
        P: nom::Parser<Input<'a>, Output = O, Error = NomError<Input<'a>>>,
    {
        match parser.parse(self.rest) {
            Ok((rest, out)) => {
                self.rest = rest;
                Ok(out)
            }
            Err(_) => Err(self.error(what)),
        }
    }

    fn error(&self, what: &str) -> ParseError {
        ParseError::new(format!(
            "nginx_access: expected {what} at byte {}",
            self.pos()
        ))
    }

    fn span(&self, sub: Input<'a>) -> Span {
        let start = (sub.as_ptr() as usize).saturating_sub(self.line.as_ptr() as usize);
        Span {
            start,
            end: start + sub.len(),
        }
    }

    fn quoted_span(&self, (content, escaped): (Input<'a>, bool)) -> Quoted {
        Quoted {
            span: self.span(content),
            escaped,
        }
    }
}

fn nom_error<T>(input: Input<'_>, kind: ErrorKind) -> IResult<Input<'_>, T> {
    Err(nom::Err::Error(NomError::new(input, kind)))
}

/// The remote-address position up to the ` - ` before `$remote_user`: one address, or a list
/// that proxies wrote there (`a, b`, `"a, b"`, `"a, b" c`).
fn remote_addresses(input: Input<'_>) -> IResult<Input<'_>, Input<'_>> {
    let mut rest = input;
    for _ in 0..MAX_ADDRESS_TOKENS {
        let (after, _) =
            alt((quoted.map(|_| ()), take_till1(|c| c == b' ').map(|_| ()))).parse(rest)?;
        if after.starts_with(b" - ") {
            let used = input.len() - after.len();
            return match input.get(..used) {
                Some(area) => Ok((after, area)),
                None => nom_error(input, ErrorKind::Verify),
            };
        }
        let (after, _) = tag(" ")(after)?;
        rest = after;
    }
    nom_error(rest, ErrorKind::TooLarge)
}

/// `$status` / `$body_bytes_sent`: digits, or `-` when nginx had none.
fn number_or_dash(input: Input<'_>) -> IResult<Input<'_>, Option<Input<'_>>> {
    alt((digit1.map(Some), tag("-").map(|_| None))).parse(input)
}

pub(crate) fn to_i64(digits: Input<'_>) -> Option<i64> {
    digits.iter().try_fold(0i64, |acc, &d| {
        acc.checked_mul(10)?
            .checked_add(i64::from(d.wrapping_sub(b'0')))
    })
}

fn trim_start_spaces(b: Input<'_>) -> Input<'_> {
    let n = b.iter().take_while(|c| **c == b' ' || **c == b'\t').count();
    b.split_at(n).1
}

fn parse_line(raw: &[u8]) -> Result<AccessLine, ParseError> {
    // Trailing blanks carry nothing and would otherwise read as an empty extra field.
    let trimmed_len = raw.len()
        - raw
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_whitespace())
            .count();
    let line = raw.get(..trimmed_len).unwrap_or_default();
    let mut c = Cursor { line, rest: line };

    let addresses = c.expect(remote_addresses, "a remote address followed by ` - `")?;
    let addresses = c.span(addresses);
    c.expect(tag(" - "), "` - ` after the remote address")?;
    let user = c.expect(take_until(" ["), "` [` before time_local")?;
    let user = c.span(user);
    c.expect(tag(" ["), "` [` before time_local")?;
    let time_at = c.pos();
    let time = c.expect(take_till(|b| b == b']'), "time_local")?;
    c.expect(tag("]"), "`]` after time_local")?;
    let time = parse_nginx_time(time).ok_or_else(|| {
        let shown = time.get(..40).unwrap_or(time);
        ParseError::new(format!(
            "nginx_access: invalid time_local `{}` at byte {time_at}: expected `dd/Mon/yyyy:hh:mm:ss +hhmm`",
            String::from_utf8_lossy(shown)
        ))
    })?;
    c.expect(tag(" "), "a space after time_local")?;
    let request = c.expect(quoted, "a quoted request line")?;
    let request = c.quoted_span(request);
    c.expect(tag(" "), "a space after the request line")?;
    let status_at = c.pos();
    let status = c.expect(number_or_dash, "a status code")?;
    let status = match status {
        None => None,
        Some(d) => match to_i64(d) {
            Some(v) if d.len() <= 3 => Some(v),
            _ => {
                return Err(ParseError::new(format!(
                    "nginx_access: expected a three-digit status code at byte {status_at}"
                )))
            }
        },
    };
    c.expect(tag(" "), "a space after the status code")?;
    let bytes_at = c.pos();
    let body_bytes = c.expect(number_or_dash, "body_bytes_sent")?;
    let body_bytes_at = Span {
        start: bytes_at,
        end: c.pos(),
    };
    let body_bytes = match body_bytes {
        None => None,
        Some(d) => Some(to_i64(d).ok_or_else(|| {
            ParseError::new(format!(
                "nginx_access: body_bytes_sent out of range at byte {bytes_at}"
            ))
        })?),
    };

    // `common` lines end here; `combined` adds referrer and user agent.
    let mut line_out = AccessLine {
        addresses,
        user,
        time,
        request,
        status,
        body_bytes,
        body_bytes_at,
        referrer: None,
        user_agent: None,
        forwarded_for: None,
        extra: None,
    };
    if c.rest.is_empty() {
        return Ok(line_out);
    }
    c.expect(tag(" "), "a space after body_bytes_sent")?;
    let referrer = c.expect(quoted, "a quoted http_referer")?;
    line_out.referrer = Some(c.quoted_span(referrer));
    if c.rest.is_empty() {
        return Ok(line_out);
    }
    c.expect(tag(" "), "a space after http_referer")?;
    let agent = c.expect(quoted, "a quoted http_user_agent")?;
    line_out.user_agent = Some(c.quoted_span(agent));

    // Anything after the user agent is a format extension; the `main` format's
    // X-Forwarded-For is the one with a known meaning.
    let mut rest = trim_start_spaces(c.rest);
    if let Ok((after, xff)) = quoted(rest) {
        line_out.forwarded_for = Some(c.quoted_span(xff));
        rest = trim_start_spaces(after);
    }
    if !rest.is_empty() {
        line_out.extra = Some(c.span(rest));
    }
    Ok(line_out)
}

/// `raw[span]` as text; spans always sit on ASCII delimiters, so the range is on char boundaries.
pub(crate) fn slice(raw: &str, span: Span) -> &str {
    raw.get(span.start..span.end).unwrap_or_default()
}

/// A string value for `s`: a span when `s` lies inside `raw` (no allocation), its own copy
/// otherwise (text produced by unescaping lives in a separate allocation, so the address
/// ranges cannot overlap).
pub(crate) fn text_value(raw: &str, s: &str) -> Value {
    let start = (s.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
    if start <= raw.len() && s.len() <= raw.len() - start {
        span_value(start, start + s.len())
    } else {
        Value::owned_str(s)
    }
}

pub(crate) fn cow_value(raw: &str, s: Cow<'_, str>) -> Value {
    match s {
        Cow::Borrowed(b) => text_value(raw, b),
        Cow::Owned(o) => Value::owned_str(o),
    }
}

pub(crate) fn hex_val(b: Option<&u8>) -> Option<u8> {
    let b = *b?;
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Undoes nginx's `\xHH` and the `\"` / `\\` escapes of other writers. Bytes that do not form
/// UTF-8 once decoded (TLS records, Latin-1 user agents) are replaced with U+FFFD.
pub(crate) fn unescape(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    if memchr::memchr(b'\\', b).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            match b.get(i + 1) {
                Some(b'x' | b'X') => {
                    if let (Some(hi), Some(lo)) = (hex_val(b.get(i + 2)), hex_val(b.get(i + 3))) {
                        out.push(hi << 4 | lo);
                        i += 4;
                        continue;
                    }
                }
                Some(&e @ (b'"' | b'\\')) => {
                    out.push(e);
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
        i += 1;
    }
    Cow::Owned(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// A quoted field's text, or `None` for nginx's "no value" (`-`) and for empty fields.
fn field_text(raw: &str, q: Quoted) -> Option<Cow<'_, str>> {
    let s = slice(raw, q.span);
    if s.is_empty() || s == "-" {
        return None;
    }
    Some(if q.escaped {
        unescape(s)
    } else {
        Cow::Borrowed(s)
    })
}

/// RFC 9110 `tchar`: what an HTTP method may be made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The parts of a request line that looks like HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request<'r> {
    pub(crate) method: &'r str,
    pub(crate) target: &'r str,
    /// `1.1` for `HTTP/1.1`; `None` for HTTP/0.9 lines, which have no protocol.
    pub(crate) version: Option<&'r str>,
}

pub(crate) fn http_version(proto: &str) -> Option<&str> {
    let v = proto.strip_prefix("HTTP/")?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = match v.split_once('.') {
        Some((major, minor)) => all_digits(major) && all_digits(minor),
        None => all_digits(v),
    };
    ok.then_some(v)
}

/// `METHOD TARGET HTTP/x.y`, or HTTP/0.9's `METHOD /path`. The protocol is taken from the end so
/// a target with raw spaces (which nginx logs before rejecting it) still splits correctly.
pub(crate) fn split_request(req: &str) -> Option<Request<'_>> {
    let (method, rest) = req.split_once(' ')?;
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return None;
    }
    if let Some((target, proto)) = rest.rsplit_once(' ') {
        if let Some(version) = http_version(proto) {
            let target = target.trim_matches(' ');
            return (!target.is_empty()).then_some(Request {
                method,
                target,
                version: Some(version),
            });
        }
    }
    let simple = method.bytes().all(|b| b.is_ascii_uppercase())
        && rest.starts_with('/')
        && !rest.contains(' ');
    simple.then_some(Request {
        method,
        target: rest,
        version: None,
    })
}

/// ECS `url.*` parts of a request target; every part borrows from the target.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UrlParts<'r> {
    pub(crate) scheme: Option<&'r str>,
    pub(crate) domain: Option<&'r str>,
    pub(crate) port: Option<u16>,
    pub(crate) path: Option<&'r str>,
    pub(crate) query: Option<&'r str>,
    pub(crate) fragment: Option<&'r str>,
    pub(crate) extension: Option<&'r str>,
}

/// `host`, `host:port`, `[v6]:port`, with any `user@` in front dropped.
pub(crate) fn split_authority(authority: &str) -> (Option<&str>, Option<u16>) {
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (host_port, None),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    let port = port.and_then(|p| p.parse::<u16>().ok());
    ((!host.is_empty()).then_some(host), port)
}

pub(crate) fn url_parts<'r>(method: &str, target: &'r str) -> UrlParts<'r> {
    let mut parts = UrlParts::default();
    let mut path_and_query = target;
    if method.eq_ignore_ascii_case("CONNECT") {
        (parts.domain, parts.port) = split_authority(target);
        return parts;
    }
    if !target.starts_with('/') {
        // Absolute form, sent to proxies (and by scanners looking for open ones).
        let Some((scheme, after)) = target.split_once("://") else {
            return parts;
        };
        let valid_scheme = scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !valid_scheme {
            return parts;
        }
        parts.scheme = Some(scheme);
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, tail) = after.split_at_checked(end).unwrap_or((after, ""));
        (parts.domain, parts.port) = split_authority(authority);
        path_and_query = tail;
    }
    let (before_fragment, fragment) = match path_and_query.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (path_and_query, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_fragment, None),
    };
    parts.path = (!path.is_empty()).then_some(path);
    parts.query = query.filter(|q| !q.is_empty());
    parts.fragment = fragment.filter(|f| !f.is_empty());
    let last_segment = path.rsplit('/').next().unwrap_or_default();
    parts.extension = last_segment
        .rsplit_once('.')
        .map(|(_, ext)| ext.split(';').next().unwrap_or_default())
        .filter(|ext| !ext.is_empty());
    parts
}

/// Addresses that say nothing about the client's origin: RFC 1918, loopback, link-local, CGNAT
/// (100.64/10), unique-local (fc00::/7), unspecified, multicast and the reserved 240/4.
/// Documentation ranges count as public: they never occur in real traffic, and classing them as
/// public keeps this to the ranges DESIGN.md names.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    let cgnat = a == 100 && (b & 0xc0) == 64;
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || cgnat)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, ..] = ip.segments();
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local)
}

pub(crate) fn address_entries(area: &str) -> impl Iterator<Item = &str> {
    area.split([',', ' ', '"']).filter(|s| !s.is_empty())
}

/// ECS wants these as arrays even with one member.
pub(crate) fn static_list(item: &'static str) -> Value {
    Value::Array(vec![Value::Str(Text::Static(item))])
}

/// The field list of an event, as the emit helpers shared with `nginx_log_format` and
/// `nginx_error` append to it (borrowed apart from `raw`, which the spans point into).
pub(crate) type Fields = Vec<(FieldName, Value)>;

#[inline]
pub(crate) fn put(fields: &mut Fields, name: &'static str, value: Value) {
    fields.push((Cow::Borrowed(name), value));
}

/// What the remote-address position names as the client: its first public address, else its
/// first entry (DESIGN.md, "nginx.access").
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SourcePick<'a> {
    pub(crate) address: Option<&'a str>,
    pub(crate) ip: Option<IpAddr>,
    /// `ip` is set and public.
    pub(crate) public: bool,
    /// Entries in the position; more than one means a proxy list.
    pub(crate) entries: usize,
}

/// Reads the remote-address position in one pass; the list itself is only collected (by
/// [`push_source`]) when there is one, so the common single address costs one IP parse.
#[inline]
pub(crate) fn pick_source(area: &str) -> SourcePick<'_> {
    let mut pick = SourcePick::default();
    let mut first: Option<(&str, Option<IpAddr>)> = None;
    let mut public: Option<(&str, IpAddr)> = None;
    for entry in address_entries(area) {
        pick.entries += 1;
        if public.is_some() && first.is_some() {
            continue;
        }
        let ip = entry.parse::<IpAddr>().ok();
        if first.is_none() {
            first = Some((entry, ip));
        }
        if let Some(ip) = ip.filter(|ip| public.is_none() && is_public(*ip)) {
            public = Some((entry, ip));
        }
    }
    pick.public = public.is_some();
    if let Some((address, ip)) = public.map(|(s, ip)| (s, Some(ip))).or(first) {
        pick.address = Some(address);
        pick.ip = ip;
    }
    pick
}

/// `source.address`, `source.ip` (only for an IP address) and, for a proxy list,
/// `nginx.access.remote_ip_list`.
#[inline]
pub(crate) fn push_source(raw: &str, fields: &mut Fields, area: &str, pick: &SourcePick<'_>) {
    if let Some(address) = pick.address {
        put(fields, "source.address", text_value(raw, address));
        if let Some(ip) = pick.ip {
            put(fields, "source.ip", Value::Ip(ip));
        }
    }
    if pick.entries > 1 {
        push_remote_list(raw, fields, area);
    }
}

pub(crate) fn push_remote_list(raw: &str, fields: &mut Fields, area: &str) {
    let list = address_entries(area).map(|e| text_value(raw, e)).collect();
    put(fields, "nginx.access.remote_ip_list", Value::Array(list));
}

/// The request line: method, `url.*` and version when it reads as HTTP, else the line as
/// written in `nginx.access.request` (probes, TLS handshakes on a plain port, HTTP/0.9), so such
/// requests still make a document. `written` is the span as logged, `decoded` its unescaped
/// text (a slice of `raw` when nothing needed unescaping).
#[inline]
pub(crate) fn push_request(raw: &str, fields: &mut Fields, written: Span, decoded: &str) {
    match split_request(decoded) {
        Some(req) => {
            put(fields, "http.request.method", text_value(raw, req.method));
            put(fields, "url.original", text_value(raw, req.target));
            push_url_parts(raw, fields, url_parts(req.method, req.target));
            match req.version {
                Some(v) => put(fields, "http.version", text_value(raw, v)),
                None => put(fields, "nginx.access.request", written.value()),
            }
        }
        // Not HTTP: keep it as written, escapes included; decoded TLS bytes are unreadable.
        None => put(fields, "nginx.access.request", written.value()),
    }
}

#[inline]
pub(crate) fn push_url_parts(raw: &str, fields: &mut Fields, url: UrlParts<'_>) {
    let optional = [
        ("url.scheme", url.scheme),
        ("url.domain", url.domain),
        ("url.path", url.path),
        ("url.query", url.query),
        ("url.fragment", url.fragment),
    ];
    for (name, part) in optional {
        if let Some(part) = part {
            put(fields, name, text_value(raw, part));
        }
    }
    if let Some(port) = url.port {
        put(fields, "url.port", Value::Int(i64::from(port)));
    }
    if let Some(ext) = url.extension {
        let value = if ext.bytes().any(|b| b.is_ascii_uppercase()) {
            Value::owned_str(ext.to_ascii_lowercase())
        } else {
            text_value(raw, ext)
        };
        put(fields, "url.extension", value);
    }
}

/// `http.response.status_code` and the `event.outcome` ECS derives from it.
#[inline]
pub(crate) fn push_status(fields: &mut Fields, status: i64) {
    put(fields, "http.response.status_code", Value::Int(status));
    let outcome = if status < 400 { "success" } else { "failure" };
    put(fields, "event.outcome", Value::Str(Text::Static(outcome)));
}

fn emit(event: &mut Event, line: &AccessLine) {
    event.timestamp = Some(line.time);
    let free = free_text(&event.raw, line);
    let Event { raw, fields, .. } = event;
    let raw: &str = raw;
    fields.reserve(24);

    put(fields, "message", span_value(0, raw.len()));

    let area = slice(raw, line.addresses);
    let pick = pick_source(area);
    push_source(raw, fields, area, &pick);

    let user = slice(raw, line.user);
    if !user.is_empty() && user != "-" {
        put(fields, "user.name", cow_value(raw, unescape(user)));
    }

    let raw_request = slice(raw, line.request.span);
    if !raw_request.is_empty() && raw_request != "-" {
        let decoded = if line.request.escaped {
            unescape(raw_request)
        } else {
            Cow::Borrowed(raw_request)
        };
        push_request(raw, fields, line.request.span, &decoded);
    }

    if let Some(status) = line.status {
        push_status(fields, status);
    }
    if let Some(bytes) = line.body_bytes {
        put(fields, "http.response.body.bytes", Value::Int(bytes));
    }
    let quoted_fields = [
        ("http.request.referrer", line.referrer),
        ("user_agent.original", line.user_agent),
        ("nginx.access.http_x_forwarded_for", line.forwarded_for),
    ];
    for (name, q) in quoted_fields {
        if let Some(text) = q.and_then(|q| field_text(raw, q)) {
            put(fields, name, cow_value(raw, text));
        }
    }
    if let Some(extra) = line.extra {
        put(fields, "nginx.access.extra", extra.value());
    }
    put(fields, "event.category", static_list("web"));
    put(fields, "event.type", static_list("access"));
    event.mark_free_text(&free);
}

/// The parts of a matched line that may hold anything (see `Event::mark_free_text`): the
/// address area, the user, the request line, the referrer, the user agent and what follows.
/// The rest is syntax or validated: the 26-byte time, the status of at most three digits, and
/// `-` for an absent value. A byte count is a number of any length, so a long one is left to
/// the scan like free text (a card or phone number could sit there).
fn free_text(raw: &str, line: &AccessLine) -> SmallVec<[(usize, usize); 8]> {
    let mut free = SmallVec::new();
    let mut add = |span: Span| {
        if span.start < span.end && raw.as_bytes().get(span.start..span.end) != Some(b"-") {
            free.push((span.start, span.end));
        }
    };
    add(line.addresses);
    add(line.user);
    add(line.request.span);
    if line.body_bytes_at.end - line.body_bytes_at.start > PLAIN_NUMBER_MAX {
        add(line.body_bytes_at);
    }
    for q in [line.referrer, line.user_agent, line.forwarded_for]
        .into_iter()
        .flatten()
    {
        add(q.span);
    }
    if let Some(extra) = line.extra {
        add(extra);
    }
    free
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::{to_json_string, DocumentOptions};
    use crate::event::{RecordOrigin, PARSE_FAILURE_TAG};
    use crate::parse::test_support::{int, ip, is_span, s, strs};
    use proptest::prelude::*;

    fn parse(line: &str) -> Event {
        let mut e = Event::new(line.to_string(), RecordOrigin::default());
        if let Err(err) = NginxAccessParser.parse(&mut e) {
            panic!("{line:?} should parse: {err}");
        }
        e
    }

    fn fail(line: &str) -> String {
        let mut e = Event::new(line.to_string(), RecordOrigin::default());
        match NginxAccessParser.parse(&mut e) {
            Ok(()) => panic!("{line:?} should not parse: {:?}", e.fields),
            Err(err) => err.0.into_owned(),
        }
    }

    const COMBINED: &str = r#"203.0.113.7 - alice [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.HTML?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0""#;

    #[test]
    fn combined_line_maps_to_ecs_with_types() {
        let e = parse(COMBINED);
        assert_eq!(s(&e, "message"), Some(COMBINED));
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
        assert_eq!(int(&e, "http.response.body.bytes"), Some(5316));
        assert_eq!(
            s(&e, "http.request.referrer"),
            Some("https://example.com/start")
        );
        assert!(s(&e, "user_agent.original")
            .unwrap()
            .starts_with("Mozilla/5.0 (X11"));
        assert_eq!(s(&e, "event.outcome"), Some("success"));
        assert_eq!(strs(&e, "event.category"), ["web"]);
        assert_eq!(strs(&e, "event.type"), ["access"]);
        assert!(e.get("nginx.access.remote_ip_list").is_none());
        assert!(e.get("nginx.access.request").is_none());
        let ts = e.timestamp.unwrap();
        assert_eq!(ts.to_rfc3339(), "2026-11-22T09:00:00.000Z");
        assert_eq!(ts.precision, 0);
        // Nothing needed unescaping, so the strings are spans of the line.
        for name in [
            "message",
            "source.address",
            "user.name",
            "url.original",
            "url.path",
            "url.query",
            "http.version",
            "http.request.referrer",
            "user_agent.original",
        ] {
            assert!(is_span(&e, name), "{name} should be a span");
        }
    }

    #[test]
    fn document_shape() {
        let e = parse(COMBINED);
        let doc: serde_json::Value =
            serde_json::from_str(&to_json_string(&e, DocumentOptions::default())).unwrap();
        assert_eq!(doc["@timestamp"], "2026-11-22T09:00:00.000Z");
        assert_eq!(doc["source"]["ip"], "203.0.113.7");
        assert_eq!(doc["http"]["response"]["status_code"], 200);
        assert_eq!(doc["http"]["response"]["body"]["bytes"], 5316);
        assert_eq!(doc["http"]["request"]["method"], "GET");
        assert_eq!(doc["url"]["extension"], "html");
        assert_eq!(doc["event"]["category"], serde_json::json!(["web"]));
        assert_eq!(doc["event"]["type"], serde_json::json!(["access"]));
        assert_eq!(doc["message"], COMBINED);
    }

    #[test]
    fn ipv6_remote_addresses() {
        for (addr, public) in [
            ("2001:db8::1", true),
            ("::1", false),
            ("::ffff:192.0.2.10", true),
            ("::ffff:10.1.2.3", false),
            ("fe80::1", false),
            ("fd12:3456::1", false),
        ] {
            let line = format!(
                r#"{addr} - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/2.0" 204 0 "-" "curl/8.5.0""#
            );
            let e = parse(&line);
            assert_eq!(s(&e, "source.address"), Some(addr));
            assert_eq!(ip(&e, "source.ip"), Some(addr.parse().unwrap()));
            assert_eq!(is_public(addr.parse().unwrap()), public, "{addr}");
            assert_eq!(s(&e, "http.version"), Some("2.0"));
            assert_eq!(s(&e, "url.path"), Some("/"));
            assert!(e.get("url.extension").is_none());
            assert!(e.get("url.query").is_none());
        }
    }

    #[test]
    fn only_syntax_time_status_and_short_numbers_are_plain() {
        let line = r#"203.0.113.7 - alice [22/Nov/2026:10:00:00 +0100] "GET /a?b=c HTTP/1.1" 200 5316 "-" "curl/8.5.0" "10.0.0.1" extra  "#;
        let e = parse(line);
        let plain: Vec<&str> = e
            .plain
            .iter()
            .map(|&(a, b)| &line[a as usize..b as usize])
            .collect();
        assert_eq!(
            plain,
            [
                " - ",
                r#" [22/Nov/2026:10:00:00 +0100] ""#,
                r#"" 200 5316 "-" ""#,
                r#"" ""#,
                r#"" "#,
                "  ",
            ]
        );
        // A byte count long enough to be a card number is left to the scan.
        let long = r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] "GET / HTTP/1.1" 200 4111111111111111 "-" "-""#;
        let e = parse(long);
        assert!(e
            .plain
            .iter()
            .all(|&(a, b)| !long[a as usize..b as usize].contains("4111")));
    }

    #[test]
    fn dash_fields_are_absent() {
        let e = parse(
            r#"198.51.100.4 - - [22/Nov/2026:10:00:00 +0000] "GET /healthz HTTP/1.1" - - "-" "-""#,
        );
        for name in [
            "user.name",
            "http.response.status_code",
            "http.response.body.bytes",
            "event.outcome",
            "http.request.referrer",
            "user_agent.original",
        ] {
            assert!(e.get(name).is_none(), "{name}");
        }
        assert_eq!(s(&e, "url.path"), Some("/healthz"));
        let e =
            parse(r#"198.51.100.4 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 0 "" """#);
        assert!(e.get("user_agent.original").is_none());
        assert_eq!(int(&e, "http.response.body.bytes"), Some(0));
    }

    #[test]
    fn escaped_quotes_stay_inside_fields() {
        // Apache-style `\"` in the user agent, nginx-style `\x22` in the request.
        let line = r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET /search?q=\x22rust\x22 HTTP/1.1" 200 12 "-" "Mozilla/5.0 \"quoted\" \\ end""#;
        let e = parse(line);
        assert_eq!(s(&e, "url.original"), Some(r#"/search?q="rust""#));
        assert_eq!(s(&e, "url.query"), Some(r#"q="rust""#));
        assert_eq!(s(&e, "url.path"), Some("/search"));
        assert_eq!(
            s(&e, "user_agent.original"),
            Some(r#"Mozilla/5.0 "quoted" \ end"#)
        );
        assert!(matches!(
            e.get("user_agent.original"),
            Some(Value::Str(Text::Owned(_)))
        ));
        assert_eq!(s(&e, "message"), Some(line));
    }

    #[test]
    fn unicode_user_agents_raw_and_escaped() {
        let e = parse(
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "Ünïcødé-Bot/1.0 🚀""#,
        );
        assert_eq!(s(&e, "user_agent.original"), Some("Ünïcødé-Bot/1.0 🚀"));
        assert!(is_span(&e, "user_agent.original"));
        // nginx writes non-ASCII bytes as \xHH; decoded they are UTF-8 again.
        let e = parse(
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "Bot/\xC3\x9C \xF0\x9F\x9A\x80""#,
        );
        assert_eq!(s(&e, "user_agent.original"), Some("Bot/Ü 🚀"));
        // Latin-1 bytes are not UTF-8: replaced, not dropped.
        let e = parse(
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "caf\xE9""#,
        );
        assert_eq!(s(&e, "user_agent.original"), Some("caf\u{fffd}"));
    }

    #[test]
    fn long_query_string() {
        let query: String = (0..400).map(|i| format!("k{i}=v{i}&")).collect();
        let line = format!(
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "POST /api/v2/items.json?{query} HTTP/1.1" 201 77 "-" "okhttp/4.12.0""#
        );
        let e = parse(&line);
        assert_eq!(s(&e, "url.query"), Some(query.as_str()));
        assert_eq!(s(&e, "url.extension"), Some("json"));
        assert_eq!(s(&e, "http.request.method"), Some("POST"));
        assert!(is_span(&e, "url.query"));
    }

    #[test]
    fn client_errors_and_closed_connections() {
        let e = parse(
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET /slow HTTP/1.1" 499 0 "-" "python-requests/2.32.3""#,
        );
        assert_eq!(int(&e, "http.response.status_code"), Some(499));
        assert_eq!(s(&e, "event.outcome"), Some("failure"));
        let e = parse(
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET /missing HTTP/1.1" 404 153 "-" "-""#,
        );
        assert_eq!(s(&e, "event.outcome"), Some("failure"));
        let e = parse(
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET /moved HTTP/1.1" 301 0 "-" "-""#,
        );
        assert_eq!(s(&e, "event.outcome"), Some("success"));
    }

    #[test]
    fn empty_request_still_makes_a_document() {
        let e = parse(r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "-" 444 0 "-" "-""#);
        assert_eq!(int(&e, "http.response.status_code"), Some(444));
        assert!(e.get("http.request.method").is_none());
        assert!(e.get("url.original").is_none());
        assert!(e.get("nginx.access.request").is_none());
        let e = parse(r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "" 400 0 "-" "-""#);
        assert_eq!(int(&e, "http.response.status_code"), Some(400));
        assert!(e.get("nginx.access.request").is_none());
    }

    #[test]
    fn tls_handshake_on_plain_port() {
        let line = r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-""#;
        let e = parse(line);
        assert_eq!(
            s(&e, "nginx.access.request"),
            Some(r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03")
        );
        assert!(e.get("http.request.method").is_none());
        assert!(e.get("url.original").is_none());
        assert_eq!(int(&e, "http.response.status_code"), Some(400));
        assert_eq!(int(&e, "http.response.body.bytes"), Some(157));
    }

    #[test]
    fn garbage_and_http09_requests() {
        let e = parse(
            r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "GET /index.html" 200 10 "-" "-""#,
        );
        assert_eq!(s(&e, "http.request.method"), Some("GET"));
        assert_eq!(s(&e, "url.path"), Some("/index.html"));
        assert_eq!(s(&e, "url.extension"), Some("html"));
        assert!(e.get("http.version").is_none());
        assert_eq!(s(&e, "nginx.access.request"), Some("GET /index.html"));

        for req in ["SSH-2.0-Go", "hello world again", "GET", "{\\x22id\\x22:1}"] {
            let line =
                format!(r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "{req}" 400 0 "-" "-""#);
            let e = parse(&line);
            assert_eq!(s(&e, "nginx.access.request"), Some(req), "{req}");
            assert!(e.get("http.request.method").is_none(), "{req}");
        }

        // A raw space inside the target: the protocol is still found at the end.
        let e = parse(
            r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "GET /a b.txt HTTP/1.1" 400 0 "-" "-""#,
        );
        assert_eq!(s(&e, "url.original"), Some("/a b.txt"));
        assert_eq!(s(&e, "url.extension"), Some("txt"));
    }

    #[test]
    fn absolute_and_connect_targets() {
        let e = parse(
            r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "GET http://user@example.com:8080/x/Shell.PHP?cmd=id#top HTTP/1.1" 404 0 "-" "-""#,
        );
        assert_eq!(s(&e, "url.scheme"), Some("http"));
        assert_eq!(s(&e, "url.domain"), Some("example.com"));
        assert_eq!(int(&e, "url.port"), Some(8080));
        assert_eq!(s(&e, "url.path"), Some("/x/Shell.PHP"));
        assert_eq!(s(&e, "url.query"), Some("cmd=id"));
        assert_eq!(s(&e, "url.fragment"), Some("top"));
        assert_eq!(s(&e, "url.extension"), Some("php"));
        assert!(matches!(
            e.get("url.extension"),
            Some(Value::Str(Text::Owned(_)))
        ));

        let e = parse(
            r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "CONNECT [2001:db8::5]:443 HTTP/1.1" 400 0 "-" "-""#,
        );
        assert_eq!(s(&e, "url.domain"), Some("2001:db8::5"));
        assert_eq!(int(&e, "url.port"), Some(443));
        assert!(e.get("url.path").is_none());

        let e = parse(
            r#"198.51.100.23 - - [22/Nov/2026:10:00:00 +0000] "OPTIONS * HTTP/1.1" 200 0 "-" "-""#,
        );
        assert_eq!(s(&e, "url.original"), Some("*"));
        assert!(e.get("url.path").is_none());
    }

    #[test]
    fn proxy_lists_in_the_address_position() {
        let e = parse(
            r#""10.0.0.1, 203.0.113.7" - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
        );
        assert_eq!(s(&e, "source.address"), Some("203.0.113.7"));
        assert_eq!(ip(&e, "source.ip"), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(
            strs(&e, "nginx.access.remote_ip_list"),
            ["10.0.0.1", "203.0.113.7"]
        );

        let e = parse(
            r#"203.0.113.9, 10.0.0.2 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
        );
        assert_eq!(s(&e, "source.address"), Some("203.0.113.9"));
        assert_eq!(
            strs(&e, "nginx.access.remote_ip_list"),
            ["203.0.113.9", "10.0.0.2"]
        );

        // Quoted list followed by the address nginx saw.
        let e = parse(
            r#""100.64.0.3, 172.16.5.5" 192.0.2.44 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
        );
        assert_eq!(s(&e, "source.address"), Some("192.0.2.44"));
        assert_eq!(
            strs(&e, "nginx.access.remote_ip_list"),
            ["100.64.0.3", "172.16.5.5", "192.0.2.44"]
        );

        // None public: the first entry.
        let e = parse(
            r#"10.0.0.1, 192.168.1.1 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
        );
        assert_eq!(s(&e, "source.address"), Some("10.0.0.1"));
        assert_eq!(ip(&e, "source.ip"), Some("10.0.0.1".parse().unwrap()));

        // Host names and unix sockets are addresses but not IPs.
        let e = parse(r#"unix: - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#);
        assert_eq!(s(&e, "source.address"), Some("unix:"));
        assert!(ip(&e, "source.ip").is_none());
        let e = parse(
            r#"lb-1.internal, 10.0.0.8 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
        );
        assert_eq!(s(&e, "source.address"), Some("lb-1.internal"));
        assert!(ip(&e, "source.ip").is_none());
        let e = parse(
            r#"unknown, 2001:db8::7 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
        );
        assert_eq!(s(&e, "source.address"), Some("2001:db8::7"));
        assert_eq!(ip(&e, "source.ip"), Some("2001:db8::7".parse().unwrap()));
    }

    #[test]
    fn main_format_extra_fields_and_common_format() {
        let e = parse(
            r#"10.0.0.2 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8.5.0" "203.0.113.7, 10.0.0.1""#,
        );
        assert_eq!(
            s(&e, "nginx.access.http_x_forwarded_for"),
            Some("203.0.113.7, 10.0.0.1")
        );
        assert!(e.get("nginx.access.extra").is_none());
        let e = parse(
            r#"10.0.0.2 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8.5.0" "-" rt=0.004 uct="0.001" upstream=10.0.0.9:8080"#,
        );
        assert!(e.get("nginx.access.http_x_forwarded_for").is_none());
        assert_eq!(
            s(&e, "nginx.access.extra"),
            Some(r#"rt=0.004 uct="0.001" upstream=10.0.0.9:8080"#)
        );
        let e = parse(
            r#"10.0.0.2 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "curl/8.5.0" 0.004 0.003   "#,
        );
        assert_eq!(s(&e, "nginx.access.extra"), Some("0.004 0.003"));

        // `common`: no referrer, no user agent.
        let e = parse(
            r#"192.0.2.1 - bob [22/Nov/2026:10:00:00 +0000] "GET /robots.txt HTTP/1.0" 200 68"#,
        );
        assert_eq!(s(&e, "user.name"), Some("bob"));
        assert_eq!(s(&e, "http.version"), Some("1.0"));
        assert!(e.get("user_agent.original").is_none());
        // Missing user agent after the referrer.
        let e = parse(
            r#"192.0.2.1 - - [22/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 68 "https://example.org/""#,
        );
        assert_eq!(s(&e, "http.request.referrer"), Some("https://example.org/"));
        assert!(e.get("user_agent.original").is_none());
    }

    #[test]
    fn malformed_lines_fail_with_a_position() {
        let truncated = r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET /index.html HTT"#;
        assert_eq!(
            fail(truncated),
            "nginx_access: expected a quoted request line at byte 45"
        );
        assert_eq!(
            fail("203.0.113.7 - - 22/Nov/2026:10:00:00 +0000 \"GET / HTTP/1.1\" 200 1"),
            "nginx_access: expected ` [` before time_local at byte 14"
        );
        assert_eq!(
            fail("203.0.113.7 - - [22/Nov/2026:10:00:00 +0000"),
            "nginx_access: expected `]` after time_local at byte 43"
        );
        assert!(
            fail("203.0.113.7 - - [22/Foo/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1")
                .starts_with(
                    "nginx_access: invalid time_local `22/Foo/2026:10:00:00 +0000` at byte 17"
                )
        );
        assert_eq!(
            fail("203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" abc 1"),
            "nginx_access: expected a status code at byte 62"
        );
        assert_eq!(
            fail("203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 2000 1"),
            "nginx_access: expected a three-digit status code at byte 62"
        );
        assert!(fail("203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 99999999999999999999").contains("out of range"));
        assert!(
            fail("203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 x")
                .contains("http_referer")
        );
        assert!(fail("just some text").contains("remote address"));
        assert!(fail("{\"level\":\"info\"}").contains("remote address"));
        assert!(fail("").contains("remote address"));
    }

    #[test]
    fn failure_through_the_worker_path_keeps_the_line() {
        let line = r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0000] "GET /x"#;
        let e = run_like_worker(line);
        assert!(e.has_tag(PARSE_FAILURE_TAG));
        assert_eq!(s(&e, "message"), Some(line));
        assert!(s(&e, "error.message")
            .unwrap()
            .starts_with("nginx_access: expected"));
        assert_eq!(s(&e, "event.dataset"), Some("nginx.access"));
    }

    #[test]
    fn unescape_rules() {
        assert_eq!(unescape("plain"), Cow::Borrowed("plain"));
        assert_eq!(unescape(r"a\x22b"), "a\"b");
        assert_eq!(unescape(r"a\x5Cb\x5cc"), r"a\b\c");
        assert_eq!(unescape(r#"\"\\"#), r#""\"#);
        // Incomplete or unknown escapes are kept as written.
        assert_eq!(unescape(r"\x2"), r"\x2");
        assert_eq!(unescape(r"\n\"), r"\n\");
    }

    fn run_like_worker(line: &str) -> Event {
        let mut e = Event::new(line.to_string(), RecordOrigin::default());
        e.push("event.dataset", Value::Str(Text::Static("nginx.access")));
        e.push("host.name", Value::owned_str("test-host"));
        if let Err(err) = NginxAccessParser.parse(&mut e) {
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
            let doc = to_json_string(&e, DocumentOptions::default());
            prop_assert!(serde_json::from_str::<serde_json::Value>(&doc).is_ok());
            prop_assert_eq!(s(&e, "message"), Some(line.as_str()));
            if e.has_tag(PARSE_FAILURE_TAG) {
                prop_assert!(e.get("error.message").is_some());
            }
        }

        #[test]
        fn near_valid_lines_never_panic(
            prefix in r#"[0-9a-f:., "-]{0,30}"#,
            middle in r#"[ -~]{0,80}"#,
            tail in r#"[ -~\\]{0,40}"#,
        ) {
            let line = format!(r#"{prefix} - - [22/Nov/2026:10:00:00 +0000] "{middle}" {tail}"#);
            let e = run_like_worker(&line);
            let doc = to_json_string(&e, DocumentOptions::default());
            prop_assert!(serde_json::from_str::<serde_json::Value>(&doc).is_ok());
            prop_assert_eq!(s(&e, "message"), Some(line.as_str()));
        }

        #[test]
        fn valid_lines_round_trip(
            v4 in any::<[u8; 4]>(),
            v6 in any::<[u16; 8]>(),
            use_v6 in any::<bool>(),
            user in prop_oneof![Just("-".to_string()), "[a-z][a-z0-9_.]{0,12}"],
            (year, month, day) in (1971i32..2100, 1u32..=12, 1u32..=28),
            (hour, minute, second) in (0u32..24, 0u32..60, 0u32..60),
            offset_min in -840i32..=840,
            method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]),
            path in "/[A-Za-z0-9/._~-]{0,40}",
            query in proptest::option::of("[A-Za-z0-9=&%+._-]{1,60}"),
            proto in prop::sample::select(vec!["1.0", "1.1", "2.0", "3"]),
            status in 100i64..600,
            bytes in proptest::option::of(0i64..10_000_000_000),
            referrer in proptest::option::of("https://[a-z]{1,10}\\.example/[a-z/]{0,20}"),
            agent in proptest::option::of("[ -~]{1,60}|\\PC{1,20}".prop_filter("`-` means none", |a| a != "-")),
            apache_quotes in any::<bool>(),
        ) {
            let addr: IpAddr = if use_v6 { IpAddr::from(v6) } else { IpAddr::from(v4) };
            let target = match &query { Some(q) => format!("{path}?{q}"), None => path.clone() };
            let (sign, off) = if offset_min < 0 { ('-', -offset_min) } else { ('+', offset_min) };
            const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let time = format!(
                "{day:02}/{}/{year}:{hour:02}:{minute:02}:{second:02} {sign}{:02}{:02}",
                MONTHS[month as usize - 1], off / 60, off % 60
            );
            // Escape as the server would: nginx writes `"`, `\` and non-ASCII bytes as \xHH.
            let escape = |text: &str| -> String {
                let mut out = String::new();
                for b in text.bytes() {
                    match b {
                        b'"' if apache_quotes => out.push_str("\\\""),
                        b'\\' if apache_quotes => out.push_str("\\\\"),
                        b'"' | b'\\' | 0..=0x1f | 0x7f..=0xff => out.push_str(&format!("\\x{b:02X}")),
                        _ => out.push(b as char),
                    }
                }
                out
            };
            let agent_field = agent.as_deref().map(escape).unwrap_or_else(|| "-".into());
            let bytes_field = bytes.map(|b| b.to_string()).unwrap_or_else(|| "-".into());
            let line = format!(
                r#"{addr} - {user} [{time}] "{method} {target} HTTP/{proto}" {status} {bytes_field} "{}" "{agent_field}""#,
                referrer.as_deref().unwrap_or("-"),
            );
            let e = parse(&line);
            prop_assert_eq!(s(&e, "message"), Some(line.as_str()));
            prop_assert_eq!(ip(&e, "source.ip"), Some(addr));
            let addr_text = addr.to_string();
            prop_assert_eq!(s(&e, "source.address"), Some(addr_text.as_str()));
            prop_assert_eq!(s(&e, "user.name"), (user != "-").then_some(user.as_str()));
            prop_assert_eq!(s(&e, "http.request.method"), Some(method));
            prop_assert_eq!(s(&e, "url.original"), Some(target.as_str()));
            prop_assert_eq!(s(&e, "url.path"), Some(path.as_str()));
            prop_assert_eq!(s(&e, "url.query"), query.as_deref());
            prop_assert_eq!(s(&e, "http.version"), Some(proto));
            prop_assert_eq!(int(&e, "http.response.status_code"), Some(status));
            prop_assert_eq!(int(&e, "http.response.body.bytes"), bytes);
            prop_assert_eq!(s(&e, "http.request.referrer"), referrer.as_deref());
            prop_assert_eq!(s(&e, "user_agent.original"), agent.as_deref());
            let local = crate::event::timestamp::days_from_civil(year, month, day) * 86_400
                + i64::from(hour * 3600 + minute * 60 + second);
            let expected = local - i64::from(offset_min) * 60;
            prop_assert_eq!(e.timestamp.map(|t| t.unix_seconds()), Some(expected));
        }
    }
}
