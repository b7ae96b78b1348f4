//! logpipe: log lines from files and syslog -> parsed, enriched, anonymized, tagged ECS
//! documents -> Elasticsearch. See DESIGN.md for the flow; each stage has its own module.

pub mod anonymize;
pub mod cli;
pub mod config;
pub mod enrich;
pub mod event;
pub mod input;
pub mod output;
pub mod parse;
pub mod pipeline;
pub mod tag;
pub mod telemetry;
