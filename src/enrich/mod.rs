//! Enrich stage: adds context the line itself does not carry (GeoIP for `source.ip`, ...).
//!
//! Runs after parsing and before anonymization, so lookups see full addresses. One stage is
//! built per pipeline and shared by every worker thread.

pub mod geoip;

use serde::Deserialize;

use crate::event::Event;

/// `[enrich.*]`: the enrichers of a pipeline.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// Location and autonomous system of IP address fields, from MaxMind-format databases.
    #[serde(default)]
    pub geoip: Option<geoip::GeoipConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("[enrich.geoip]: {0}")]
    Geoip(#[from] geoip::GeoipError),
}

#[derive(Debug, Default)]
pub struct EnrichStage {
    geoip: Option<geoip::GeoipEnricher>,
}

impl EnrichStage {
    pub fn build(config: &EnrichConfig) -> Result<EnrichStage, EnrichError> {
        let geoip = match &config.geoip {
            Some(c) => Some(geoip::GeoipEnricher::open(c)?),
            None => None,
        };
        Ok(EnrichStage { geoip })
    }

    #[inline]
    pub fn apply(&self, event: &mut Event) {
        if let Some(g) = &self.geoip {
            g.apply(event);
        }
    }
}
