//! Anonymize stage: truncates addresses, pseudonymizes identities and redacts secrets before
//! anything leaves the process. Runs after enrichment.
//!
//! No rule is configurable yet: the stage exists in the chain and passes events through.

use crate::event::Event;

#[derive(Debug, Default)]
pub struct AnonymizeStage {}

impl AnonymizeStage {
    pub fn apply(&self, _event: &mut Event) {}
}
