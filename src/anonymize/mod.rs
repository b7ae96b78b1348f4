//! Anonymize stage: truncates addresses, pseudonymizes identities and redacts secrets before
//! anything leaves the process. Runs after enrichment (GeoIP sees full addresses first).
//!
//! (placeholder: the issue-5 work fills this in.)

use serde::Deserialize;

use crate::event::Event;

/// `[anonymize]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymizeConfig {}

#[derive(Debug, thiserror::Error)]
pub enum AnonymizeError {
    #[error("[anonymize]: {0}")]
    Invalid(String),
}

#[derive(Debug, Default)]
pub struct AnonymizeStage {}

impl AnonymizeStage {
    pub fn build(_config: &AnonymizeConfig) -> Result<AnonymizeStage, AnonymizeError> {
        Ok(AnonymizeStage {})
    }

    pub fn apply(&self, _event: &mut Event) {}
}
