//! Parse stage: a decoded line -> ECS fields and `@timestamp`.
//!
//! A parser reads `event.raw` and appends fields (spans into the line where it can). When it
//! returns an error the worker keeps the line with `_parse_failure` (see
//! `Event::mark_parse_failure`), so nothing a parser fails on is ever lost.
//!
//! Adding a parser: one file in this folder and one line in [`PARSERS`].

pub mod decode;
pub mod json;
pub mod nginx_access;
pub mod none;
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
#[derive(Debug, Clone, Default)]
pub struct ParserOptions {
    /// Zone for timestamps without an offset (IANA name or `+HH:MM`); UTC when unset.
    pub timezone: Option<String>,
}

pub trait Parser: Send + Sync + Debug {
    /// `event.dataset` of the documents this parser produces.
    fn dataset(&self) -> &'static str;

    /// Parses `event.raw`, appending fields and setting `event.timestamp` when the line has one.
    fn parse(&self, event: &mut Event) -> Result<(), ParseError>;
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
    json::REGISTRATION,
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
