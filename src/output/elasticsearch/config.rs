//! `[output.elasticsearch]` settings. The doc comment of each field is its entry in the
//! configuration reference.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use elasticsearch::http::Url;
use serde::Deserialize;

use super::encode::IndexTemplate;

/// Default index name template.
pub const DEFAULT_INDEX: &str = "logs-{event.dataset}-%Y.%m.%d";
/// Default name of the index template (and prefix of its component templates).
pub const DEFAULT_TEMPLATE_NAME: &str = "logpipe-logs";

/// Body compression of bulk requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// `Content-Encoding: gzip` (fast level; log lines shrink about tenfold).
    #[default]
    Gzip,
    /// Plain NDJSON bodies.
    None,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// Base URL of the cluster, e.g. `http://localhost:9200` (usually `"${ES_URL}"`). A user and
    /// password written into the URL are used for basic authentication and never logged.
    /// Either `url` or `urls` is required.
    #[serde(default)]
    pub url: String,
    /// Base URLs of several nodes of one cluster, instead of `url`, e.g.
    /// `["https://es1:9200", "https://es2:9200"]`. Requests go round-robin to the nodes that
    /// answer; a request that fails on a node (no connection, timeout, `5xx`) goes at once to
    /// the next one, and the failed node is passed over for 1 s, doubling with each further
    /// failure up to 60 s, then tried again. When every node is failing they are tried in turn
    /// at the pace of the retry delays. A user and password in a URL apply to that node only.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Index name template, evaluated per event: `{field.name}` is the value of a string field
    /// (lowercased, characters Elasticsearch refuses replaced by `_`, `unknown` when missing);
    /// `%Y`, `%m`, `%d`, `%H` are the UTC year, month, day and hour of `@timestamp`; `%%` is `%`.
    /// Default: `logs-{event.dataset}-%Y.%m.%d`.
    #[serde(default = "default_index")]
    pub index: String,
    /// Name of the composable index template installed at start; its component templates are
    /// `<name>-ecs-mappings` and `<name>-settings`. Default: `logs`.
    #[serde(default = "default_template_name")]
    pub template_name: String,
    /// Index patterns the index template applies to. Default: the literal start of `index`
    /// followed by `*` (`logs-*` for the default index).
    #[serde(default)]
    pub index_patterns: Option<Vec<String>>,
    /// Number of replicas of the indices the template creates. Default: 1.
    #[serde(default = "default_replicas")]
    pub number_of_replicas: u32,
    /// Refresh interval of the indices the template creates. Default: `5s`.
    #[serde(default = "default_refresh_interval")]
    pub refresh_interval: String,
    /// Largest number of events in one bulk request. Default: 1000.
    #[serde(default = "default_batch_max_events")]
    pub batch_max_events: usize,
    /// Largest uncompressed size of one bulk request body in bytes (a single larger event is
    /// sent alone). Default: 5242880 (5 MiB).
    #[serde(default = "default_batch_max_bytes")]
    pub batch_max_bytes: usize,
    /// Longest time in milliseconds an event waits for its bulk request to fill up before the
    /// request is sent anyway. Default: 1000.
    #[serde(default = "default_batch_timeout_ms")]
    pub batch_timeout_ms: u64,
    /// Bulk requests sent concurrently. Default: 2.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Request body compression: `gzip` or `none`. Default: `gzip`.
    #[serde(default)]
    pub compression: Compression,
    /// Time in seconds after which a request without an answer counts as failed (and is
    /// retried). Default: 60.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// First retry delay in milliseconds; each further attempt doubles it (with random jitter).
    /// Default: 100.
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// Longest retry delay in milliseconds. Retries go on without limit while logpipe runs.
    /// Default: 30000.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Leave `message` out of the documents.
    #[serde(default)]
    pub omit_message: bool,
    /// User for basic authentication (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// Password for basic authentication; never logged.
    #[serde(default)]
    pub password: Option<String>,
    /// File holding the password (instead of `password`), read at start; one trailing newline
    /// is ignored.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// API key, either base64-encoded as Elasticsearch returns it (`encoded`) or as `id:key`;
    /// sent as `Authorization: ApiKey ...`; never logged. Excludes `username`/`password`.
    #[serde(default)]
    pub api_key: Option<String>,
    /// File holding the API key (instead of `api_key`), read at start; surrounding whitespace
    /// is ignored.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// PEM file with the certificate authority (or authorities) to trust for `https` URLs, in
    /// addition to the built-in Mozilla root certificates.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM file with the client certificate (and any intermediates) presented to `https` nodes
    /// that ask for one (TLS client authentication). Requires `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM file with the private key of `client_cert` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// Days to keep the date-named indices of `index` (and of the patterns tag rules route
    /// to): an index whose last day is more than this many days before today (UTC) is
    /// deleted, so with 30 an index of 31 days ago goes and one of 30 days ago stays. Where the
    /// cluster has index lifecycle management (`GET _ilm/status` answers), an ILM policy
    /// `<template_name>-retention` with a delete phase is installed and attached through the
    /// index template (ILM counts the age from the index's creation); elsewhere logpipe
    /// deletes the indices itself, at start, hourly, and on `logpipe retention`. Only indices
    /// whose name parses under their index name template are ever deleted. Requires a date
    /// (`%Y`, with `%m` when there is `%d`) in `index`. Default: unset, indices are kept
    /// forever.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Days to keep the indices of single datasets, overriding `retention_days`, e.g.
    /// `retention_days_by_dataset = { "nginx.access" = 90 }`. Keys are `event.dataset` values
    /// as they appear in index names (lowercase). Requires `{event.dataset}` in `index`. With
    /// ILM, each dataset gets a policy `<template_name>-retention-<dataset>` and an index
    /// template `<template_name>-<dataset>` (priority one above the main one) attaching it.
    /// Default: none.
    #[serde(default)]
    pub retention_days_by_dataset: std::collections::BTreeMap<String, u32>,
    /// Size in bytes at which a dead-letter queue file (`DATA_DIR/dlq/dlq-YYYYMMDD.ndjson`) is
    /// closed and the next one (`dlq-YYYYMMDD-1.ndjson`, ...) started. Default: 67108864
    /// (64 MiB).
    #[serde(default = "default_dlq_max_file_bytes")]
    pub dlq_max_file_bytes: u64,
    /// Largest total size in bytes of the dead-letter queue files. When a write would pass it,
    /// nothing is deleted: the refused documents stay pending (their batches unacknowledged,
    /// so inputs slow down) and the write is retried, with a logged error naming the
    /// directory, until `logpipe dlq replay` or the operator makes room. Default: 1073741824
    /// (1 GiB).
    #[serde(default = "default_dlq_max_total_bytes")]
    pub dlq_max_total_bytes: u64,
}

fn default_dlq_max_file_bytes() -> u64 {
    super::dlq::DEFAULT_MAX_FILE_BYTES
}
fn default_dlq_max_total_bytes() -> u64 {
    super::dlq::DEFAULT_MAX_TOTAL_BYTES
}

fn default_index() -> String {
    DEFAULT_INDEX.to_string()
}
fn default_template_name() -> String {
    DEFAULT_TEMPLATE_NAME.to_string()
}
fn default_replicas() -> u32 {
    1
}
fn default_refresh_interval() -> String {
    "5s".to_string()
}
fn default_batch_max_events() -> usize {
    1000
}
fn default_batch_max_bytes() -> usize {
    5 * 1024 * 1024
}
fn default_batch_timeout_ms() -> u64 {
    1000
}
fn default_max_in_flight() -> usize {
    2
}
fn default_request_timeout_secs() -> u64 {
    60
}
fn default_retry_initial_ms() -> u64 {
    100
}
fn default_retry_max_ms() -> u64 {
    30_000
}

/// The user and password of basic authentication, or an API key.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    Basic { username: String, password: String },
    ApiKey(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { .. } => f.write_str("Basic(<redacted>)"),
            Auth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

/// Where and how to connect, resolved from the configuration.
#[derive(Clone)]
pub struct Endpoint {
    /// The URL without user information.
    pub url: Url,
    pub auth: Option<Auth>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url.as_str())
            .field("auth", &self.auth)
            .finish()
    }
}

impl ElasticsearchConfig {
    /// A configuration with every default, for `url`.
    pub fn new(url: impl Into<String>) -> ElasticsearchConfig {
        ElasticsearchConfig {
            url: url.into(),
            urls: Vec::new(),
            index: default_index(),
            template_name: default_template_name(),
            index_patterns: None,
            number_of_replicas: default_replicas(),
            refresh_interval: default_refresh_interval(),
            batch_max_events: default_batch_max_events(),
            batch_max_bytes: default_batch_max_bytes(),
            batch_timeout_ms: default_batch_timeout_ms(),
            max_in_flight: default_max_in_flight(),
            compression: Compression::default(),
            request_timeout_secs: default_request_timeout_secs(),
            retry_initial_ms: default_retry_initial_ms(),
            retry_max_ms: default_retry_max_ms(),
            omit_message: false,
            username: None,
            password: None,
            password_file: None,
            api_key: None,
            api_key_file: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            retention_days: None,
            retention_days_by_dataset: Default::default(),
            dlq_max_file_bytes: default_dlq_max_file_bytes(),
            dlq_max_total_bytes: default_dlq_max_total_bytes(),
        }
    }

    /// Checks what can be checked without the cluster.
    pub fn validate(&self) -> Result<(), String> {
        IndexTemplate::compile(&self.index).map_err(|e| format!("`index`: {e}"))?;
        self.endpoints()?;
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => return Err("`client_cert` is set but `client_key` is not".into()),
            (None, Some(_)) => return Err("`client_key` is set but `client_cert` is not".into()),
            _ => {}
        }
        validate_template_name(&self.template_name)?;
        if self.index_patterns.as_ref().is_some_and(|p| p.is_empty()) {
            return Err("`index_patterns`: expected at least one pattern".into());
        }
        if self.batch_max_events == 0 {
            return Err("`batch_max_events`: expected at least 1".into());
        }
        if self.batch_max_bytes == 0 {
            return Err("`batch_max_bytes`: expected at least 1".into());
        }
        if self.max_in_flight == 0 {
            return Err("`max_in_flight`: expected at least 1".into());
        }
        if self.request_timeout_secs == 0 {
            return Err("`request_timeout_secs`: expected at least 1".into());
        }
        if self.retry_initial_ms == 0 {
            return Err("`retry_initial_ms`: expected at least 1".into());
        }
        if self.retry_max_ms < self.retry_initial_ms {
            return Err(format!(
                "`retry_max_ms` ({}) is smaller than `retry_initial_ms` ({})",
                self.retry_max_ms, self.retry_initial_ms
            ));
        }
        self.validate_retention()?;
        if self.refresh_interval.trim().is_empty() {
            return Err("`refresh_interval`: expected a time value such as `5s` or `-1`".into());
        }
        Ok(())
    }

    /// The first node (the only one unless `urls` lists several) and its credentials.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        self.endpoints()?
            .into_iter()
            .next()
            .ok_or_else(|| "no cluster address: set `url`".to_string())
    }

    /// The nodes to talk to and the credentials to send to each, from `url`/`urls`,
    /// `username`/`password` (or `password_file`) and `api_key` (or `api_key_file`); reads the
    /// credential files. Error messages never contain the credentials.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, String> {
        let urls: Vec<(String, &str)> = match (self.url.trim().is_empty(), self.urls.is_empty()) {
            (false, true) => vec![("`url`".to_string(), self.url.trim())],
            (true, false) => self
                .urls
                .iter()
                .enumerate()
                .map(|(i, u)| (format!("`urls[{i}]`"), u.trim()))
                .collect(),
            (true, true) => {
                return Err("no cluster address: set `url` (or `urls` for several nodes)".into())
            }
            (false, false) => {
                return Err(
                    "`url` and `urls` are mutually exclusive: list every node in `urls`".into(),
                )
            }
        };
        let password = read_secret("password", &self.password, &self.password_file, false)?;
        let api_key = read_secret("api_key", &self.api_key, &self.api_key_file, true)?;
        urls.iter()
            .map(|(key, url)| self.node(key, url, password.as_deref(), api_key.as_deref()))
            .collect()
    }

    /// One node: its URL without user information, and the credentials it gets.
    fn node(
        &self,
        key: &str,
        raw: &str,
        password: Option<&str>,
        api_key: Option<&str>,
    ) -> Result<Endpoint, String> {
        let mut url = Url::parse(raw)
            .map_err(|e| format!("{key}: `{}` is not a URL: {e}", redact_userinfo(raw)))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "{key}: expected an `http://` or `https://` URL, found scheme `{}`",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{key}: the URL has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{key}: expected no query or fragment in the URL"));
        }
        let url_user = percent_decode(url.username());
        let url_password = url.password().map(percent_decode);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        // Request paths are joined to the URL: it must end in `/` to keep a path prefix.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        if url_user.is_empty() && url_password.is_some() {
            return Err(format!("{key}: the URL has a password but no user"));
        }
        let auth = match (&self.username, password, api_key) {
            (_, _, Some(_)) if self.username.is_some() || password.is_some() => {
                return Err("`api_key` and `username`/`password` are mutually exclusive".into())
            }
            (_, _, Some(key_value)) => {
                if key_value.trim().is_empty() {
                    return Err("`api_key` is empty".into());
                }
                if !url_user.is_empty() {
                    return Err(format!(
                        "`api_key` and a user in {key} are mutually exclusive"
                    ));
                }
                let key_value = key_value.trim();
                // The encoded form goes into a header as it is (`id:key` is base64-encoded
                // first): a space, control or non-ASCII character cannot be sent there.
                if !key_value.contains(':') && key_value.bytes().any(|b| !(0x21..0x7f).contains(&b))
                {
                    return Err(
                        "`api_key` contains spaces, control or non-ASCII characters; \
                         expected the base64 `encoded` value or `id:key`"
                            .into(),
                    );
                }
                Some(Auth::ApiKey(key_value.to_string()))
            }
            (Some(user), password, None) => {
                if !url_user.is_empty() {
                    return Err(format!(
                        "`username` and a user in {key} are mutually exclusive"
                    ));
                }
                Some(Auth::Basic {
                    username: user.clone(),
                    password: password.unwrap_or_default().to_string(),
                })
            }
            (None, Some(_), None) => return Err("`password` is set but `username` is not".into()),
            (None, None, None) if !url_user.is_empty() => Some(Auth::Basic {
                username: url_user,
                password: url_password.unwrap_or_default(),
            }),
            (None, None, None) => None,
        };
        Ok(Endpoint { url, auth })
    }

    /// The URLs for messages: without user information, comma-separated.
    pub fn display_url(&self) -> String {
        match self.endpoints() {
            Ok(e) => e
                .iter()
                .map(|e| e.url.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            Err(_) if self.urls.is_empty() => redact_userinfo(self.url.trim()),
            Err(_) => self
                .urls
                .iter()
                .map(|u| redact_userinfo(u.trim()))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// Patterns of the index template: configured, or derived from `index`.
    pub fn resolved_index_patterns(&self) -> Vec<String> {
        if let Some(p) = &self.index_patterns {
            return p.clone();
        }
        match IndexTemplate::compile(&self.index) {
            Ok(t) => vec![t.pattern()],
            Err(_) => vec!["logs-*".to_string()],
        }
    }

    pub fn batch_timeout(&self) -> Duration {
        Duration::from_millis(self.batch_timeout_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}

impl fmt::Debug for ElasticsearchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("ElasticsearchConfig")
            .field("url", &redact_userinfo(&self.url))
            .field(
                "urls",
                &self
                    .urls
                    .iter()
                    .map(|u| redact_userinfo(u))
                    .collect::<Vec<_>>(),
            )
            .field("index", &self.index)
            .field("template_name", &self.template_name)
            .field("index_patterns", &self.index_patterns)
            .field("number_of_replicas", &self.number_of_replicas)
            .field("refresh_interval", &self.refresh_interval)
            .field("batch_max_events", &self.batch_max_events)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .field("batch_timeout_ms", &self.batch_timeout_ms)
            .field("max_in_flight", &self.max_in_flight)
            .field("compression", &self.compression)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("retry_initial_ms", &self.retry_initial_ms)
            .field("retry_max_ms", &self.retry_max_ms)
            .field("omit_message", &self.omit_message)
            .field("username", &redacted(&self.username))
            .field("password", &redacted(&self.password))
            .field("password_file", &self.password_file)
            .field("api_key", &redacted(&self.api_key))
            .field("api_key_file", &self.api_key_file)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("retention_days", &self.retention_days)
            .field("retention_days_by_dataset", &self.retention_days_by_dataset)
            .field("dlq_max_file_bytes", &self.dlq_max_file_bytes)
            .field("dlq_max_total_bytes", &self.dlq_max_total_bytes)
            .finish()
    }
}

/// A secret given inline (`key`) or in a file (`key_file`); `trim_all` drops surrounding
/// whitespace, otherwise only one trailing newline goes (a password may end in a space). The
/// contents never appear in an error.
fn read_secret(
    key: &str,
    inline: &Option<String>,
    file: &Option<PathBuf>,
    trim_all: bool,
) -> Result<Option<String>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("`{key}` and `{key}_file` are mutually exclusive")),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("`{key}_file`: cannot read {}: {e}", path.display()))?;
            let value = if trim_all {
                text.trim()
            } else {
                let t = text.strip_suffix('\n').unwrap_or(&text);
                t.strip_suffix('\r').unwrap_or(t)
            };
            if value.is_empty() {
                return Err(format!("`{key}_file`: {} is empty", path.display()));
            }
            Ok(Some(value.to_string()))
        }
        (None, None) => Ok(None),
    }
}

fn validate_template_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("`template_name` is empty".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "`template_name`: `{name}` contains `{c}`; expected lowercase letters, digits, `-`, `_`, `.`"
        ));
    }
    Ok(())
}

/// `scheme://user:pass@host/...` -> `scheme://<redacted>@host/...`, on text that may not even
/// parse as a URL.
pub fn redact_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}<redacted>@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ElasticsearchConfig {
    /// Whether any index is ever deleted for its age.
    pub fn retention_configured(&self) -> bool {
        self.retention_days.is_some() || !self.retention_days_by_dataset.is_empty()
    }

    /// `retention_days`, `retention_days_by_dataset` and the dead-letter queue limits.
    fn validate_retention(&self) -> Result<(), String> {
        if self.retention_days == Some(0) {
            return Err("`retention_days`: expected at least 1".into());
        }
        for (dataset, days) in &self.retention_days_by_dataset {
            if dataset.trim().is_empty() {
                return Err("`retention_days_by_dataset`: empty dataset name".into());
            }
            if *days == 0 {
                return Err(format!(
                    "`retention_days_by_dataset`: `{dataset}`: expected at least 1 day"
                ));
            }
        }
        if self.retention_configured() {
            let pattern = super::retention::IndexPattern::compile(&self.index)
                .map_err(|e| format!("`index`: {e}"))?;
            if !pattern.is_dated() {
                return Err(format!(
                    "`retention_days`: `index` `{}` has no date to age indices by; expected `%Y` (with `%m` when it has `%d`)",
                    self.index
                ));
            }
            if !self.retention_days_by_dataset.is_empty() && !pattern.has_dataset() {
                return Err(format!(
                    "`retention_days_by_dataset`: `index` `{}` has no `{{{}}}` to tell datasets apart",
                    self.index,
                    super::retention::DATASET_FIELD
                ));
            }
        }
        if self.dlq_max_file_bytes == 0 {
            return Err("`dlq_max_file_bytes`: expected at least 1".into());
        }
        if self.dlq_max_total_bytes == 0 {
            return Err("`dlq_max_total_bytes`: expected at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_derived_patterns() {
        let c = ElasticsearchConfig::new("http://127.0.0.1:9200");
        assert!(c.validate().is_ok());
        assert_eq!(c.resolved_index_patterns(), vec!["logs-*".to_string()]);
        let mut c2 = c.clone();
        c2.index = "app-%Y".into();
        assert_eq!(c2.resolved_index_patterns(), vec!["app-*".to_string()]);
        c2.index = "fixed".into();
        assert_eq!(c2.resolved_index_patterns(), vec!["fixed".to_string()]);
        c2.index_patterns = Some(vec!["a-*".into(), "b-*".into()]);
        assert_eq!(c2.resolved_index_patterns().len(), 2);
    }

    #[test]
    fn deserializes_with_defaults_and_rejects_unknown_keys() {
        let c: ElasticsearchConfig =
            toml::from_str("url = \"http://h:9200\"\ncompression = \"none\"\n").unwrap();
        assert_eq!(c.index, DEFAULT_INDEX);
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.batch_max_events, 1000);
        assert_eq!(c.batch_max_bytes, 5 * 1024 * 1024);
        assert_eq!(c.max_in_flight, 2);
        assert!(toml::from_str::<ElasticsearchConfig>("url = \"x\"\nindx = \"a\"\n").is_err());
        assert!(
            toml::from_str::<ElasticsearchConfig>("url = \"x\"\ncompression = \"br\"\n").is_err()
        );
    }

    #[test]
    fn validate_reports_bad_values() {
        let mut c = ElasticsearchConfig::new("not a url");
        assert!(c.validate().unwrap_err().contains("`url`"));
        c.url = "ftp://h".into();
        assert!(c.validate().unwrap_err().contains("scheme"));
        c.url = "http://h:9200".into();
        c.index = "logs-{event.dataset".into();
        assert!(c.validate().unwrap_err().contains("`index`"));
        c.index = DEFAULT_INDEX.into();
        c.api_key = Some("k".into());
        c.username = Some("u".into());
        assert!(c.validate().unwrap_err().contains("mutually exclusive"));
        c.username = None;
        assert!(c.validate().is_ok());
        c.retry_max_ms = 1;
        assert!(c.validate().is_err());
    }

    #[test]
    fn retention_and_dlq_settings() {
        let c: ElasticsearchConfig = toml::from_str(
            "url = \"http://h:9200\"\nretention_days = 30\nretention_days_by_dataset = { \"nginx.access\" = 90 }\n",
        )
        .unwrap();
        assert_eq!(c.retention_days, Some(30));
        assert_eq!(c.retention_days_by_dataset["nginx.access"], 90);
        assert_eq!(c.dlq_max_file_bytes, 64 * 1024 * 1024);
        assert_eq!(c.dlq_max_total_bytes, 1024 * 1024 * 1024);
        assert!(c.validate().is_ok());
        let mut bad = c.clone();
        bad.retention_days = Some(0);
        assert!(bad.validate().unwrap_err().contains("`retention_days`"));
        let mut bad = c.clone();
        bad.index = "logs-{event.dataset}".into();
        assert!(bad.validate().unwrap_err().contains("no date"));
        let mut bad = c.clone();
        bad.index = "logs-%Y.%m.%d".into();
        assert!(bad.validate().unwrap_err().contains("event.dataset"));
        bad.retention_days_by_dataset.clear();
        assert!(bad.validate().is_ok());
        let mut bad = c;
        bad.dlq_max_total_bytes = 0;
        assert!(bad.validate().unwrap_err().contains("dlq_max_total_bytes"));
    }

    #[test]
    fn credentials_never_shown() {
        let mut c = ElasticsearchConfig::new("http://elastic:s3cr%40t@h:9200/prefix");
        c.api_key = None;
        let e = c.endpoint().unwrap();
        assert_eq!(e.url.as_str(), "http://h:9200/prefix/");
        assert_eq!(
            e.auth,
            Some(Auth::Basic {
                username: "elastic".into(),
                password: "s3cr@t".into()
            })
        );
        let dbg = format!("{c:?} {e:?}");
        assert!(!dbg.contains("s3cr"), "{dbg}");
        assert!(!dbg.contains("elastic:"), "{dbg}");
        assert_eq!(c.display_url(), "http://h:9200/prefix/");

        let mut c = ElasticsearchConfig::new("http://h:9200");
        c.username = Some("bob".into());
        c.password = Some("hunter2".into());
        c.api_key = None;
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("bob"), "{dbg}");
        c.username = None;
        c.password = None;
        c.api_key = Some("QUJDOkRFRg==".into());
        let dbg = format!("{c:?} {:?}", c.endpoint().unwrap());
        assert!(!dbg.contains("QUJD"), "{dbg}");
        assert_eq!(
            redact_userinfo("http://a:b@h/x@y"),
            "http://<redacted>@h/x@y"
        );
    }

    #[test]
    fn several_nodes() {
        let c: ElasticsearchConfig =
            toml::from_str("urls = [\"http://a:9200\", \"https://u:p%40ss@b:9243/pre\"]\n")
                .unwrap();
        assert!(c.validate().is_ok());
        let e = c.endpoints().unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].url.as_str(), "http://a:9200/");
        assert_eq!(e[0].auth, None);
        assert_eq!(
            e[1].auth,
            Some(Auth::Basic {
                username: "u".into(),
                password: "p@ss".into()
            })
        );
        assert_eq!(c.display_url(), "http://a:9200/, https://b:9243/pre/");
        assert!(!format!("{c:?}").contains("p%40ss"));

        let mut both = c.clone();
        both.url = "http://c:9200".into();
        assert!(both.validate().unwrap_err().contains("mutually exclusive"));
        let none = ElasticsearchConfig::new("");
        assert!(none.validate().unwrap_err().contains("no cluster address"));
        let mut bad = c.clone();
        bad.urls[1] = "ftp://x".into();
        assert!(bad.validate().unwrap_err().contains("`urls[1]`"));
        let mut pw_only = ElasticsearchConfig::new("http://:secret@h:9200");
        assert!(pw_only.validate().unwrap_err().contains("no user"));
        pw_only.url = "http://h:9200".into();
        assert!(pw_only.validate().is_ok());
    }

    #[test]
    fn credentials_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret \n").unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "  QUJDOkRFRg==\r\n").unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();

        let mut c = ElasticsearchConfig::new("http://h:9200");
        c.username = Some("elastic".into());
        c.password_file = Some(pw.clone());
        assert_eq!(
            c.endpoint().unwrap().auth,
            Some(Auth::Basic {
                username: "elastic".into(),
                // Only the newline goes: a password may end in a space.
                password: "s3cret ".into()
            })
        );
        c.password = Some("x".into());
        assert!(c.validate().unwrap_err().contains("mutually exclusive"));
        c.password = None;
        c.password_file = Some(dir.path().join("missing"));
        let e = c.validate().unwrap_err();
        assert!(
            e.contains("`password_file`") && e.contains("missing"),
            "{e}"
        );
        c.password_file = Some(empty);
        assert!(c.validate().unwrap_err().contains("empty"));

        let mut c = ElasticsearchConfig::new("http://h:9200");
        c.api_key_file = Some(key);
        assert_eq!(
            c.endpoint().unwrap().auth,
            Some(Auth::ApiKey("QUJDOkRFRg==".into()))
        );
        c.api_key_file = None;
        c.api_key = Some("QUJD\u{1}RFRg==".into());
        let e = c.validate().unwrap_err();
        assert!(e.contains("control") && !e.contains("QUJD"), "{e}");
        c.api_key = Some("id:k e y".into());
        assert!(c.validate().is_ok());

        let mut c = ElasticsearchConfig::new("https://h:9200");
        c.client_cert = Some(pw);
        assert!(c.validate().unwrap_err().contains("`client_key`"));
    }
}
