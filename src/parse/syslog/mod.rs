//! `syslog`: syslog messages to `system.syslog` documents (DESIGN.md, "system.syslog").
//!
//! One parser reads both wire formats and tells them apart per message, because a single
//! listener or file commonly carries both (rsyslog relays 3164 from old devices next to 5424
//! from newer ones):
//!
//! - `<PRI>1 ` starts an RFC 5424 message ([`rfc5424`]);
//! - `<PRI>` followed by anything else is RFC 3164 with its real-world variants ([`rfc3164`]);
//! - a line without `<PRI>` is what rsyslog writes to `/var/log/syslog` or `/var/log/messages`
//!   (BSD or RFC 3339 timestamp, host, tag): read as RFC 3164 without priority fields.
//!
//! Header fields are kept as spans of `event.raw`; a line without structured data allocates only
//! the field list. Structured data is an object with SD-IDs and parameter names as keys, which
//! are owned strings, so its cost is paid only by the messages that carry it.

pub mod rfc3164;
pub mod rfc5424;

use std::borrow::Cow;

use nom::bytes::complete::{tag, take_while_m_n};
use nom::error::Error as NomError;
use nom::IResult;

use super::timestamp::TimeZone;
use super::{ParseError, Parser, ParserOptions, ParserRegistration};
use crate::event::{span_value, Event, FieldName, Text, Timestamp, Value};

pub const REGISTRATION: ParserRegistration = ParserRegistration {
    name: "syslog",
    description: "syslog: RFC 5424 and RFC 3164 (with or without `<PRI>`), told apart per message",
    build,
};

fn build(options: &ParserOptions) -> Result<Box<dyn Parser>, String> {
    super::reject_foreign("syslog", options, &[])?;
    Ok(Box::new(SyslogParser::new(TimeZone::from_options(
        options,
    )?)))
}

/// Where "now" comes from when an RFC 3164 timestamp has no year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The current UTC time, read per message (a long-running process crosses New Year).
    #[default]
    System,
    /// A fixed instant: tests, and reprocessing files whose age is known.
    Fixed(Timestamp),
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SyslogParser {
    /// Zone of RFC 3164 timestamps, which are local time without an offset.
    zone: TimeZone,
    clock: Clock,
}

impl SyslogParser {
    pub fn new(zone: TimeZone) -> SyslogParser {
        SyslogParser {
            zone,
            clock: Clock::System,
        }
    }

    /// The same parser with another source of "now" for year inference.
    pub fn with_clock(self, clock: Clock) -> SyslogParser {
        SyslogParser { clock, ..self }
    }
}

impl Parser for SyslogParser {
    fn dataset(&self) -> &'static str {
        "system.syslog"
    }

    fn parse(&self, event: &mut Event) -> Result<(), ParseError> {
        // Nothing is written to the event before the whole line is read: a half-parsed line
        // must not leave `host.hostname` behind, which `mark_parse_failure` would keep.
        let message = parse_message(event.raw.as_bytes(), &self.zone, &self.clock)?;
        emit(event, message);
        Ok(())
    }
}

/// A byte range of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    fn value(self) -> Value {
        span_value(self.start, self.end)
    }

    fn is_empty(self) -> bool {
        self.end <= self.start
    }
}

/// PROCID / the `[pid]` of a 3164 tag: an integer when it is one, else kept as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcId {
    Pid(i64),
    Other(Span),
}

/// What one message says, as positions in the line; the ECS mapping happens in [`emit`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    pub priority: Option<u8>,
    /// RFC 5424 VERSION; `None` for RFC 3164.
    pub version: Option<u8>,
    pub timestamp: Option<Timestamp>,
    pub hostname: Option<Span>,
    /// RFC 5424 APP-NAME, or the name part of an RFC 3164 TAG.
    pub app_name: Option<Span>,
    pub proc_id: Option<ProcId>,
    pub msg_id: Option<Span>,
    /// SD-ID -> object of parameters, already unescaped.
    pub structured_data: Option<Vec<(FieldName, Value)>>,
    /// MSG without a leading BOM; may be empty.
    pub msg: Span,
}

pub(crate) type Input<'a> = &'a [u8];

/// Walks the line with nom parsers, turning a mismatch into an error that says what was
/// expected where. `line` is the whole (trimmed) line, so positions are those of `event.raw`.
pub(crate) struct Cursor<'a> {
    pub line: Input<'a>,
    pub rest: Input<'a>,
    /// `RFC 5424` / `RFC 3164`, for error messages.
    pub format: &'static str,
}

impl<'a> Cursor<'a> {
    pub fn pos(&self) -> usize {
        self.line.len().saturating_sub(self.rest.len())
    }

    pub fn expect<O, P>(&mut self, mut parser: P, what: &str) -> Result<O, ParseError>
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

    pub fn error(&self, what: &str) -> ParseError {
        self.error_at(what, self.pos())
    }

    pub fn error_at(&self, what: &str, pos: usize) -> ParseError {
        ParseError::new(format!(
            "syslog: {}: expected {what} at byte {pos}",
            self.format
        ))
    }

    /// The position of `sub`, a sub-slice of `line`.
    pub fn span(&self, sub: Input<'a>) -> Span {
        let start = (sub.as_ptr() as usize).saturating_sub(self.line.as_ptr() as usize);
        Span {
            start,
            end: start + sub.len(),
        }
    }

    /// The rest of the line as MSG: a leading BOM (RFC 5424 marks UTF-8 MSGs with one, and
    /// some 3164 senders copy the habit) is not part of the text.
    pub fn msg(&self) -> Span {
        self.span(strip_bom(self.rest))
    }
}

pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

pub(crate) fn strip_bom(b: Input<'_>) -> Input<'_> {
    b.strip_prefix(BOM).unwrap_or(b)
}

/// A token as text. Tokens end at ASCII delimiters of a `&str`, so this never fails in
/// practice; an empty string stands in if it ever did, and fails whatever check comes next.
pub(crate) fn as_str(b: Input<'_>) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// Digits to an integer; `None` when empty, not all digits or beyond `i64`.
pub(crate) fn to_i64(digits: Input<'_>) -> Option<i64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0i64, |acc, &d| {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc.checked_mul(10)?.checked_add(i64::from(d))
    })
}

pub(crate) fn proc_id(c: &Cursor<'_>, b: Input<'_>) -> Option<ProcId> {
    if b.is_empty() {
        return None;
    }
    Some(match to_i64(b) {
        Some(pid) => ProcId::Pid(pid),
        None => ProcId::Other(c.span(b)),
    })
}

/// RFC 5424 keeps PRI within 0..=191 (facility 23, severity 7).
const MAX_PRIORITY: u32 = 191;

/// `<PRI>`: one to three digits between angle brackets.
fn pri_digits(i: Input<'_>) -> IResult<Input<'_>, Input<'_>> {
    let (i, _) = tag("<")(i)?;
    let (i, digits) = take_while_m_n(1, 3, |b: u8| b.is_ascii_digit())(i)?;
    let (i, _) = tag(">")(i)?;
    Ok((i, digits))
}

fn priority(c: &mut Cursor<'_>) -> Result<u8, ParseError> {
    let at = c.pos();
    let digits = c.expect(
        pri_digits,
        "`<PRI>` with PRI a number from 0 to 191 (the line starts with `<`)",
    )?;
    let value = digits
        .iter()
        .fold(0u32, |acc, &d| acc * 10 + u32::from(d.wrapping_sub(b'0')));
    if value > MAX_PRIORITY {
        return Err(ParseError::new(format!(
            "syslog: priority <{value}> at byte {at} is out of range: PRI is 0 to 191 (facility * 8 + severity)"
        )));
    }
    u8::try_from(value).map_err(|_| c.error_at("a priority from 0 to 191", at))
}

/// Bytes some writers leave at the end of a record: line ends, and the NUL that some TCP
/// senders use as a frame terminator.
fn trailing_junk(b: u8) -> bool {
    matches!(b, b'\n' | b'\r' | b'\0')
}

/// Reads one message; detects the format from its first bytes.
pub fn parse_message(raw: &[u8], zone: &TimeZone, clock: &Clock) -> Result<Message, ParseError> {
    let end = raw.len() - raw.iter().rev().take_while(|b| trailing_junk(**b)).count();
    let line = raw.get(..end).unwrap_or_default();
    // A BOM or blanks before the message carry nothing (editors and some relays add them).
    let mut body = strip_bom(line);
    body = body
        .get(
            body.iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count()..,
        )
        .unwrap_or_default();
    if body.is_empty() {
        return Err(ParseError::new("syslog: empty message"));
    }
    let mut c = Cursor {
        line,
        rest: body,
        format: "RFC 3164",
    };
    if body.first() != Some(&b'<') {
        return rfc3164::parse(&mut c, None, zone, clock);
    }
    let pri = priority(&mut c)?;
    if c.rest.starts_with(b"1 ") {
        c.format = "RFC 5424";
        rfc5424::parse(&mut c, pri, zone)
    } else {
        rfc3164::parse(&mut c, Some(pri), zone, clock)
    }
}

/// Facility keywords by code, as syslog implementations name them (13 to 15 have no common
/// keyword in glibc; these are the ones used by rsyslog's documentation and most references).
const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Severity names by code; also `log.level`, so dashboards filtering on either agree.
const SEVERITIES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
];

pub fn facility_name(code: u8) -> Option<&'static str> {
    FACILITIES.get(usize::from(code)).copied()
}

pub fn severity_name(code: u8) -> Option<&'static str> {
    SEVERITIES.get(usize::from(code)).copied()
}

fn emit(event: &mut Event, m: Message) {
    if m.timestamp.is_some() {
        event.timestamp = m.timestamp;
    }
    let line_len = event.raw.trim_end_matches(['\n', '\r', '\0']).len();
    let fields = &mut event.fields;
    fields.reserve(16);
    let mut put = |name: &'static str, value: Value| fields.push((Cow::Borrowed(name), value));

    // A message with nothing after its header keeps the whole line as `message`, so the
    // document still reads as something in Discover rather than as an empty string.
    let message = if m.msg.is_empty() {
        span_value(0, line_len)
    } else {
        m.msg.value()
    };
    put("message", message);

    if let Some(pri) = m.priority {
        let facility = pri >> 3;
        let severity = pri & 7;
        put("log.syslog.priority", Value::Int(i64::from(pri)));
        put("log.syslog.facility.code", Value::Int(i64::from(facility)));
        if let Some(name) = facility_name(facility) {
            put("log.syslog.facility.name", Value::Str(Text::Static(name)));
        }
        put("log.syslog.severity.code", Value::Int(i64::from(severity)));
        if let Some(name) = severity_name(severity) {
            put("log.syslog.severity.name", Value::Str(Text::Static(name)));
            put("log.level", Value::Str(Text::Static(name)));
        }
    }
    if let Some(v) = m.version {
        put("log.syslog.version", Value::Int(i64::from(v)));
    }
    if let Some(host) = m.hostname {
        put("host.hostname", host.value());
    }
    if let Some(app) = m.app_name {
        put("process.name", app.value());
    }
    match m.proc_id {
        Some(ProcId::Pid(pid)) => put("process.pid", Value::Int(pid)),
        Some(ProcId::Other(span)) => put("log.syslog.procid", span.value()),
        None => {}
    }
    if let Some(id) = m.msg_id {
        put("log.syslog.msgid", id.value());
    }
    if let Some(sd) = m.structured_data {
        put("log.syslog.structured_data", Value::Object(sd));
    }
}

#[cfg(test)]
mod tests;
