//! The `none` parser: the line is the message, nothing else is read from it.

use super::{ParseError, Parser, ParserOptions, ParserRegistration};
use crate::event::{span_value, Event};

pub const REGISTRATION: ParserRegistration = ParserRegistration {
    name: "none",
    description: "keep the line as `message`, no fields extracted",
    build,
};

fn build(_: &ParserOptions) -> Result<Box<dyn Parser>, String> {
    Ok(Box::new(NoneParser))
}

#[derive(Debug)]
pub struct NoneParser;

impl Parser for NoneParser {
    fn dataset(&self) -> &'static str {
        "generic"
    }

    fn parse(&self, event: &mut Event) -> Result<(), ParseError> {
        let len = event.raw.len();
        event.push("message", span_value(0, len));
        Ok(())
    }
}
