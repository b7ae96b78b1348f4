//! Enrich stage: adds context the line itself does not carry (GeoIP for `source.ip`, ...).
//!
//! Runs after parsing and before anonymization, so lookups see full addresses. No enricher is
//! configurable yet: the stage exists in the chain and passes events through unchanged.

use crate::event::Event;

#[derive(Debug, Default)]
pub struct EnrichStage {}

impl EnrichStage {
    pub fn apply(&self, _event: &mut Event) {}
}
