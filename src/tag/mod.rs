//! Tag stage: rules written by config authors add tags, set fields, route or drop events.
//!
//! No rule is configurable yet: the stage exists in the chain and keeps every event.

use crate::event::Event;

/// What the tag stage decided for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
}

#[derive(Debug, Default)]
pub struct TagStage {}

impl TagStage {
    pub fn apply(&self, _event: &mut Event) -> Verdict {
        Verdict::Keep
    }
}
