//! Pipeline files (`pipelines/*.toml`) -> validated configuration.
//!
//! The file is parsed once into a spanned TOML tree, so every later error (an unknown key, a
//! wrong type, an unset `${VAR}`, a value a component rejects) can name `FILE:LINE:COLUMN`.
//! `${VAR}` / `${VAR:-default}` are expanded inside string values only: an environment value can
//! never inject TOML syntax, and a `${...}` in a comment is left alone.
//!
//! Each `[[inputs]]` table is handed to the component its `type` names (see `input::INPUTS`);
//! the keys every input understands (`InputCommon`) are split off first, so a component's own
//! struct can deny unknown keys.

mod env;

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::IntoDeserializer;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::input::{self, InputConfig};
use crate::output::OutputsConfig;

/// A configuration error with its place in the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}:{line}:{column}: {message}")]
    At {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

impl ConfigError {
    fn at(src: &Source<'_>, offset: usize, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(src.text, offset);
        ConfigError::At {
            file: src.name.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    fn from_toml(src: &Source<'_>, err: toml::de::Error, fallback: Option<usize>) -> ConfigError {
        let message = err.message().trim_end().to_string();
        match err.span().map(|s| s.start).or(fallback) {
            Some(offset) => ConfigError::at(src, offset, message),
            None => ConfigError::File {
                file: src.name.clone(),
                message,
            },
        }
    }
}

struct Source<'a> {
    name: String,
    text: &'a str,
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Settings of the worker stage.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// Worker threads running decode -> parse -> enrich -> anonymize -> tag -> encode.
    /// Default: the number of cores.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Most records an input puts in one batch.
    #[serde(default = "default_batch_events")]
    pub batch_events: usize,
    /// Batches each bounded channel holds before its producer waits.
    #[serde(default = "default_channel_batches")]
    pub channel_batches: usize,
    /// `host.name` of every event; default: this machine's host name.
    #[serde(default)]
    pub host_name: Option<String>,
    /// Seconds to drain in-flight events after SIGTERM/SIGINT before giving up on them
    /// (they are not acknowledged, so they are read again after a restart).
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
}

fn default_batch_events() -> usize {
    1024
}
fn default_channel_batches() -> usize {
    8
}
fn default_grace() -> u64 {
    30
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            workers: None,
            batch_events: default_batch_events(),
            channel_batches: default_channel_batches(),
            host_name: None,
            shutdown_grace_secs: default_grace(),
        }
    }
}

/// Options every input has, whatever its type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputCommon {
    /// Name of the input in checkpoints, metrics and logs; default `TYPE-INDEX`.
    #[serde(default)]
    pub id: Option<String>,
    /// Parser applied to each record: see `logpipe parse --help` for the names.
    #[serde(default = "default_parser")]
    pub parser: String,
    /// `event.dataset` for parsers that do not set one (`none`), or to override the parser's.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Zone for timestamps without an offset: IANA name or `+HH:MM`. Default UTC.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Longest record kept whole; longer ones are cut and tagged `_truncated`.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// `nginx_access` only: the `log_format` string from nginx.conf, compiled into the parser.
    #[serde(default)]
    pub log_format: Option<String>,
    /// `postgresql` only: the server's `log_line_prefix`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// `json` only: the field holding the event time.
    #[serde(default)]
    pub timestamp_field: Option<String>,
    /// `json` only: how that field is written: `auto` (default), `rfc3339`, `unix`, `unix_ms`,
    /// `unix_us`, `unix_ns`.
    #[serde(default)]
    pub timestamp_format: Option<crate::parse::timestamp::TimestampFormat>,
    /// `nginx_access` with `log_format` only: promote the first public X-Forwarded-For
    /// address to `source.ip` when the remote address is private (default true).
    #[serde(default)]
    pub promote_forwarded_for: Option<bool>,
    /// Container log envelope around each line: `docker` (json-file), `cri`, or `auto`
    /// (detected per line). The payload inside goes to `parser`.
    #[serde(default)]
    pub envelope: Option<crate::parse::envelope::EnvelopeKind>,
    /// Joins lines into one record: `{ start = 'REGEX' }` or `{ continue = 'REGEX' }`, with
    /// optional `max_lines`, `max_bytes`, `timeout_ms`. Replaces the parser's own joining.
    #[serde(default)]
    pub multiline: Option<crate::input::assemble::MultilineConfig>,
}

impl InputCommon {
    pub fn parser_options(&self) -> crate::parse::ParserOptions {
        crate::parse::ParserOptions {
            timezone: self.timezone.clone(),
            log_format: self.log_format.clone(),
            prefix: self.prefix.clone(),
            timestamp_field: self.timestamp_field.clone(),
            timestamp_format: self.timestamp_format,
            promote_forwarded_for: self.promote_forwarded_for,
        }
    }
}

/// Keys of [`InputCommon`], split off an input table before the component sees it.
const INPUT_COMMON_KEYS: &[&str] = &[
    "id",
    "parser",
    "dataset",
    "timezone",
    "max_line_bytes",
    "log_format",
    "prefix",
    "timestamp_field",
    "timestamp_format",
    "promote_forwarded_for",
    "envelope",
    "multiline",
];

fn default_parser() -> String {
    "none".to_string()
}
pub fn default_max_line_bytes() -> usize {
    1024 * 1024
}

/// One configured input: the common options and the component's own.
#[derive(Debug)]
pub struct InputSpec {
    pub id: String,
    pub kind: &'static str,
    pub common: InputCommon,
    pub config: Box<dyn InputConfig>,
}

/// A whole pipeline file.
#[derive(Debug)]
pub struct PipelineConfig {
    pub path: PathBuf,
    pub settings: PipelineSettings,
    pub inputs: Vec<InputSpec>,
    pub output: OutputsConfig,
    /// `[enrich.*]`; opened when the chains are built.
    pub enrich: crate::enrich::EnrichConfig,
    /// `[anonymize]`; keys are read when the chains are built.
    pub anonymize: crate::anonymize::AnonymizeConfig,
    /// `[[tag]]` rules and `[tag_defaults]`, compiled while loading (a bad rule is a config
    /// error with its position).
    pub tag: std::sync::Arc<crate::tag::TagStage>,
}

/// The top level, apart from `inputs` (handled per component).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopLevel {
    #[serde(default)]
    pipeline: PipelineSettings,
    output: Option<Spanned<OutputsConfig>>,
    #[serde(default)]
    enrich: crate::enrich::EnrichConfig,
    #[serde(default)]
    anonymize: crate::anonymize::AnonymizeConfig,
    #[serde(default)]
    tag: Vec<crate::tag::TagRuleConfig>,
    #[serde(default)]
    tag_defaults: crate::tag::TagDefaultsConfig,
}

impl PipelineConfig {
    pub fn load(path: &Path) -> Result<PipelineConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            file: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        Self::from_str(path, &text)
    }

    pub fn from_str(path: &Path, text: &str) -> Result<PipelineConfig, ConfigError> {
        let src = Source {
            name: path.display().to_string(),
            text,
        };
        let mut root = DeTable::parse(text).map_err(|e| ConfigError::from_toml(&src, e, None))?;
        env::expand_table(root.get_mut(), &|name| std::env::var(name).ok())
            .map_err(|e| ConfigError::at(&src, e.offset, e.message))?;
        let doc_span = root.span();
        let mut table = root.into_inner();

        let inputs_value = table.remove("inputs");
        let top = TopLevel::deserialize(Spanned::new(doc_span, table).into_deserializer())
            .map_err(|e| ConfigError::from_toml(&src, e, Some(0)))?;

        let inputs = match inputs_value {
            None => {
                return Err(ConfigError::at(
                    &src,
                    0,
                    "no `[[inputs]]`: a pipeline needs at least one input",
                ))
            }
            Some(v) => parse_inputs(&src, v)?,
        };
        let output = match top.output {
            None => {
                return Err(ConfigError::at(
                    &src,
                    text.len(),
                    "no `[output.*]` table: expected one of `elasticsearch`, `stdout`, `file`",
                ))
            }
            Some(o) => {
                let span = o.span();
                let o = o.into_inner();
                o.validate()
                    .map_err(|m| ConfigError::at(&src, span.start, m))?;
                o
            }
        };
        if top.pipeline.batch_events == 0 || top.pipeline.channel_batches == 0 {
            return Err(ConfigError::at(
                &src,
                0,
                "`pipeline.batch_events` and `pipeline.channel_batches` must be > 0",
            ));
        }
        let tag = crate::tag::TagStage::build(&top.tag, &top.tag_defaults, text)
            .map_err(|e| ConfigError::at(&src, e.offset, e.message))?;
        Ok(PipelineConfig {
            path: path.to_path_buf(),
            settings: top.pipeline,
            inputs,
            output,
            enrich: top.enrich,
            anonymize: top.anonymize,
            tag: std::sync::Arc::new(tag),
        })
    }
}

fn parse_inputs(
    src: &Source<'_>,
    value: Spanned<DeValue<'_>>,
) -> Result<Vec<InputSpec>, ConfigError> {
    let span = value.span();
    let DeValue::Array(items) = value.into_inner() else {
        return Err(ConfigError::at(
            src,
            span.start,
            "`inputs` must be an array of tables: write `[[inputs]]`",
        ));
    };
    let mut specs = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let item_span = item.span();
        let DeValue::Table(table) = item.get_ref() else {
            return Err(ConfigError::at(
                src,
                item_span.start,
                "each input must be a table",
            ));
        };
        let mut table = table.clone();
        let Some(kind_value) = table.remove("type") else {
            return Err(ConfigError::at(
                src,
                item_span.start,
                format!(
                    "input is missing `type`: expected one of {}",
                    input::kinds_list()
                ),
            ));
        };
        let kind_span = kind_value.span();
        let Some(kind_name) = kind_value.get_ref().as_str() else {
            return Err(ConfigError::at(
                src,
                kind_span.start,
                "`type` must be a string",
            ));
        };
        let Some(registration) = input::INPUTS.iter().find(|r| r.kind == kind_name) else {
            return Err(ConfigError::at(
                src,
                kind_span.start,
                format!(
                    "unknown input type `{kind_name}`: expected one of {}",
                    input::kinds_list()
                ),
            ));
        };

        let mut common_table = DeTable::new();
        for key in INPUT_COMMON_KEYS {
            if let Some((k, v)) = table.remove_entry(*key) {
                common_table.insert(k, v);
            }
        }
        let common: InputCommon = InputCommon::deserialize(
            Spanned::new(item_span.clone(), common_table).into_deserializer(),
        )
        .map_err(|e| ConfigError::from_toml(src, e, Some(item_span.start)))?;
        let config = (registration.parse)(Spanned::new(item_span.clone(), DeValue::Table(table)))
            .map_err(|e| {
            let mut err = ConfigError::from_toml(src, e, Some(item_span.start));
            if let ConfigError::At { message, .. } = &mut err {
                if message.starts_with("unknown field") {
                    message.push_str(&format!(
                        " (or one common to all inputs: {})",
                        quoted(INPUT_COMMON_KEYS)
                    ));
                }
            }
            err
        })?;
        if !crate::parse::is_known(&common.parser) {
            return Err(ConfigError::at(
                src,
                item_span.start,
                format!(
                    "unknown parser `{}`: expected one of {}",
                    common.parser,
                    crate::parse::names_list()
                ),
            ));
        }
        config
            .validate()
            .map_err(|m| ConfigError::at(src, item_span.start, m))?;
        let id = common
            .id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", registration.kind, index));
        if !ids.insert(id.clone()) {
            return Err(ConfigError::at(
                src,
                item_span.start,
                format!("duplicate input id `{id}`"),
            ));
        }
        specs.push(InputSpec {
            id,
            kind: registration.kind,
            common,
            config,
        });
    }
    if specs.is_empty() {
        return Err(ConfigError::at(
            src,
            span.start,
            "`inputs` is empty: a pipeline needs at least one input",
        ));
    }
    Ok(specs)
}

fn quoted(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Byte span of a spanned config value, for components that report errors after parsing.
pub type Span = Range<usize>;

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::from_str(Path::new("p.toml"), text)
    }

    const VALID: &str = r#"
[[inputs]]
type = "file"
paths = ["/var/log/nginx/access.log*"]
parser = "nginx_access"

[output.stdout]
"#;

    #[test]
    fn valid_file_loads() {
        let cfg = load(VALID).unwrap();
        assert_eq!(cfg.inputs.len(), 1);
        assert_eq!(cfg.inputs[0].common.parser, "nginx_access");
        assert_eq!(cfg.inputs[0].id, "file-0");
    }

    #[test]
    fn typo_in_input_key_names_place_and_allowed_keys() {
        let text = VALID.replace("paths =", "pahts =");
        let err = load(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("p.toml:4:1: unknown field `pahts`"),
            "{err}"
        );
        assert!(err.contains("`paths`"), "{err}");
        assert!(err.contains("`parser`"), "{err}");
    }

    #[test]
    fn typo_in_output_key() {
        let text = "[[inputs]]\ntype = \"stdin\"\n\n[output.elasticsearch]\nurl = \"http://x:9200\"\nindx = \"a\"\n";
        let err = load(text).unwrap_err().to_string();
        assert!(err.starts_with("p.toml:6:1: unknown field `indx`"), "{err}");
        assert!(err.contains("`index`"), "{err}");
    }

    #[test]
    fn unknown_top_level_and_type() {
        let err = load(&format!("{VALID}\n[enrichh]\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml:9:2: unknown field `enrichh`"), "{err}");
        let err = load(&VALID.replace("\"file\"", "\"fil\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("p.toml:3:8: unknown input type `fil`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_and_syntax_errors_have_places() {
        let err = load(&VALID.replace("[\"/var/log/nginx/access.log*\"]", "5"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml:4:9:"), "{err}");
        let err = load("[[inputs]\n").unwrap_err().to_string();
        assert!(err.starts_with("p.toml:1:"), "{err}");
    }

    #[test]
    fn unknown_parser_is_rejected() {
        let err = load(&VALID.replace("nginx_access", "nginx_acces"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown parser `nginx_acces`"), "{err}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 5), (1, 1));
    }
}
