//! Parse stage: a decoded line -> ECS fields and `@timestamp`.
//!
//! A parser reads `event.raw` and appends fields (spans into the line where it can). When it
//! returns an error the worker keeps the line with `_parse_failure` (see
//! `Event::mark_parse_failure`), so nothing a parser fails on is ever lost.
//!
//! Adding a parser: one file in this folder and one line in [`PARSERS`].

pub mod decode;
pub mod envelope;
pub mod json;
pub mod nginx_access;
pub mod nginx_error;
pub mod nginx_log_format;
pub mod none;
pub mod postgresql;
pub mod syslog;
pub mod timestamp;

use std::borrow::Cow;
use std::fmt::Debug;

use crate::event::Event;

/// Why a line did not parse; becomes `error.message` of the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub Cow<'static, str>);

impl ParseError {
    pub fn new(msg: impl Into<Cow<'static, str>>) -> ParseError {
        ParseError(msg.into())
    }
}

/// Options a parser may use, from the input's configuration or `logpipe parse` flags.
/// A parser given an option that is not its own refuses to build (see [`reject_foreign`]), so a
/// misplaced option is a configuration error rather than silently ignored.
#[derive(Debug, Clone, Default)]
pub struct ParserOptions {
    /// Zone for timestamps without an offset (IANA name or `+HH:MM`); UTC when unset.
    pub timezone: Option<String>,
    /// `nginx_access`: an NGINX `log_format` string to compile instead of `combined`.
    pub log_format: Option<String>,
    /// `postgresql`: the server's `log_line_prefix`, compiled instead of the common defaults.
    pub prefix: Option<String>,
    /// `json`: field holding the event time (default: `time`, `timestamp`, `ts`, `@timestamp`).
    pub timestamp_field: Option<String>,
    /// `json`: how the time field is written (default: detected per value).
    pub timestamp_format: Option<timestamp::TimestampFormat>,
    /// `nginx_access` with `log_format`: promote the first public X-Forwarded-For address to
    /// `source.ip` when the remote address is private (default on).
    pub promote_forwarded_for: Option<bool>,
}

impl ParserOptions {
    /// Names of the parser-specific options that are set.
    pub fn set_options(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        if self.log_format.is_some() {
            set.push("log_format");
        }
        if self.prefix.is_some() {
            set.push("prefix");
        }
        if self.timestamp_field.is_some() {
            set.push("timestamp_field");
        }
        if self.timestamp_format.is_some() {
            set.push("timestamp_format");
        }
        if self.promote_forwarded_for.is_some() {
            set.push("promote_forwarded_for");
        }
        set
    }
}

/// Fails when an option other than `own` (and the shared `timezone`) is set.
pub fn reject_foreign(parser: &str, options: &ParserOptions, own: &[&str]) -> Result<(), String> {
    match options.set_options().into_iter().find(|o| !own.contains(o)) {
        Some(o) => Err(format!("`{o}` is not an option of the `{parser}` parser")),
        None => Ok(()),
    }
}

pub trait Parser: Send + Sync + Debug {
    /// `event.dataset` of the documents this parser produces.
    fn dataset(&self) -> &'static str;

    /// Parses `event.raw`, appending fields and setting `event.timestamp` when the line has one.
    fn parse(&self, event: &mut Event) -> Result<(), ParseError>;

    /// Whether records of this format may span several lines; when true, the input joins every
    /// line for which [`Parser::is_continuation`] holds to the record before it (with `\n`).
    fn joins_lines(&self) -> bool {
        false
    }

    /// True when `line` continues the previous record instead of starting one (a tab-indented
    /// statement line, a `DETAIL:` line, a line without the format's leading timestamp).
    fn is_continuation(&self, _line: &[u8]) -> bool {
        false
    }
}

/// A parser's name and how to build it from options.
pub struct ParserRegistration {
    pub name: &'static str,
    pub description: &'static str,
    pub build: fn(&ParserOptions) -> Result<Box<dyn Parser>, String>,
}

/// Every parser logpipe knows, by the name config files and `--format` use.
pub const PARSERS: &[ParserRegistration] = &[
    none::REGISTRATION,
    nginx_access::REGISTRATION,
    nginx_error::REGISTRATION,
    json::REGISTRATION,
    syslog::REGISTRATION,
    postgresql::REGISTRATION,
];

pub fn is_known(name: &str) -> bool {
    PARSERS.iter().any(|p| p.name == name)
}

pub fn names_list() -> String {
    PARSERS
        .iter()
        .map(|p| format!("`{}`", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds the parser called `name`.
pub fn build(name: &str, options: &ParserOptions) -> Result<Box<dyn Parser>, String> {
    let reg = PARSERS
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("unknown parser `{name}`: expected one of {}", names_list()))?;
    (reg.build)(options)
}

/// Longest run of digits a parser may count as plain (see `Event::plain`): a bare number of up
/// to eight digits cannot be a card, SSN or phone number, so no detector would find anything.
pub(crate) const PLAIN_NUMBER_MAX: usize = 8;

/// A `"…"` field as several formats write it (NGINX, syslog structured data): its content and
/// whether it holds backslash escapes. A backslash escapes whatever follows it, so `\"` does not
/// end the field; unescaping, which differs per format, is the caller's.
#[inline]
pub(crate) fn backslash_quoted(input: &[u8]) -> nom::IResult<&[u8], (&[u8], bool)> {
    let fail = || {
        Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Char,
        )))
    };
    let Some(body) = input.strip_prefix(b"\"") else {
        return fail();
    };
    let mut from = 0;
    let mut escaped = false;
    while let Some(k) = body
        .get(from..)
        .and_then(|s| memchr::memchr2(b'"', b'\\', s))
    {
        let at = from + k;
        if body.get(at) == Some(&b'"') {
            return match (body.get(..at), body.get(at + 1..)) {
                (Some(content), Some(rest)) => Ok((rest, (content, escaped))),
                _ => fail(),
            };
        }
        escaped = true;
        from = at + 2;
    }
    fail()
}

/// Shared settings of the parsers' property tests, and field accessors shared by the parsers'
/// tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::net::IpAddr;

    use crate::event::json::{to_json_string, DocumentOptions};
    use crate::event::{Event, Text, Value};

    /// A parser that joins lines starting with a space or tab to the record before them and
    /// leaves events untouched: the record-assembly and chunking tests use it.
    #[derive(Debug)]
    pub struct Indented;
    impl super::Parser for Indented {
        fn dataset(&self) -> &'static str {
            "t"
        }
        fn parse(&self, _: &mut Event) -> Result<(), super::ParseError> {
            Ok(())
        }
        fn joins_lines(&self) -> bool {
            true
        }
        fn is_continuation(&self, line: &[u8]) -> bool {
            matches!(line.first(), Some(b' ' | b'\t'))
        }
    }

    /// 512 cases by default; `PROPTEST_CASES=N` runs a longer hunt (README, "Property tests").
    pub fn proptest_config() -> proptest::prelude::ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512);
        proptest::prelude::ProptestConfig::with_cases(cases)
    }

    /// The text of string field `name`; panics when the field holds something else.
    pub fn s<'a>(e: &'a Event, name: &str) -> Option<&'a str> {
        match e.get(name) {
            Some(Value::Str(t)) => Some(e.text(t)),
            None => None,
            Some(other) => panic!("{name} is not a string: {other:?}"),
        }
    }

    pub fn int(e: &Event, name: &str) -> Option<i64> {
        match e.get(name) {
            Some(Value::Int(v)) => Some(*v),
            None => None,
            Some(other) => panic!("{name} is not an Int: {other:?}"),
        }
    }

    pub fn ip(e: &Event, name: &str) -> Option<IpAddr> {
        match e.get(name) {
            Some(Value::Ip(v)) => Some(*v),
            None => None,
            Some(other) => panic!("{name} is not an Ip: {other:?}"),
        }
    }

    /// The items of array field `name`, which must hold strings only.
    pub fn strs(e: &Event, name: &str) -> Vec<String> {
        match e.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::Str(t) => e.text(t).to_string(),
                    other => panic!("{name} holds a non-string {other:?}"),
                })
                .collect(),
            other => panic!("{name} is not an array: {other:?}"),
        }
    }

    /// Whether field `name` is text pointing into the raw line.
    pub fn is_span(e: &Event, name: &str) -> bool {
        matches!(e.get(name), Some(Value::Str(Text::Span { .. })))
    }

    /// The event's timestamp as RFC 3339.
    pub fn ts(e: &Event) -> Option<String> {
        e.timestamp.map(|t| t.to_rfc3339())
    }

    /// The event's document, parsed back.
    pub fn doc(e: &Event) -> serde_json::Value {
        let d = to_json_string(e, DocumentOptions::default());
        serde_json::from_str(&d).unwrap_or_else(|err| panic!("invalid document {d}: {err}"))
    }

    /// Whether the event's document is valid JSON.
    pub fn valid_json(e: &Event) -> bool {
        serde_json::from_str::<serde_json::Value>(&to_json_string(e, DocumentOptions::default()))
            .is_ok()
    }
}
