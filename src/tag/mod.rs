//! Tag stage: rules written by config authors add tags, set fields, route or drop events.
//!
//! (placeholder: the issue-5 work fills this in.)

use serde::Deserialize;
use toml::Spanned;

use crate::event::Event;

/// What the tag stage decided for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
}

/// One `[[tag]]` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRuleConfig {
    /// Condition, e.g. `http.response.status_code >= 500 and url.path =~ '^/api/'`.
    pub when: Spanned<String>,
}

/// `[tag_defaults]`: the built-in rules.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagDefaultsConfig {}

/// A rule that does not compile: `offset` is a byte offset into the pipeline file.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub offset: usize,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct TagStage {}

impl TagStage {
    /// Compiles the rules once; `source` is the pipeline file's text (for error offsets).
    pub fn build(
        _rules: &[TagRuleConfig],
        _defaults: &TagDefaultsConfig,
        _source: &str,
    ) -> Result<TagStage, RuleError> {
        Ok(TagStage {})
    }

    /// Index patterns that `index` actions route to (the output installs templates for them).
    pub fn routes(&self) -> Vec<std::sync::Arc<str>> {
        Vec::new()
    }

    pub fn apply(&self, _event: &mut Event) -> Verdict {
        Verdict::Keep
    }
}
