//! GeoIP enricher (placeholder: the issue-5 work replaces this file).

use serde::Deserialize;

use crate::event::Event;

/// `[enrich.geoip]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipConfig {
    /// Path of a GeoIP2/GeoLite2 City database (`.mmdb`).
    pub city_db: Option<String>,
    /// Path of a GeoIP2/GeoLite2 ASN database (`.mmdb`).
    pub asn_db: Option<String>,
    /// IP fields to look up; default `["source.ip"]`.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum GeoipError {
    #[error("{0}")]
    Open(String),
}

#[derive(Debug)]
pub struct GeoipEnricher {}

impl GeoipEnricher {
    pub fn open(_config: &GeoipConfig) -> Result<GeoipEnricher, GeoipError> {
        Ok(GeoipEnricher {})
    }

    pub fn apply(&self, _event: &mut Event) {}
}
