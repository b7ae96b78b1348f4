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
    pub url: String,
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
    /// API key, either base64-encoded as Elasticsearch returns it (`encoded`) or as `id:key`;
    /// sent as `Authorization: ApiKey ...`; never logged. Excludes `username`/`password`.
    #[serde(default)]
    pub api_key: Option<String>,
    /// PEM file with the certificate authority (or authorities) to trust for `https` URLs, in
    /// addition to the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
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
            api_key: None,
            ca_file: None,
        }
    }

    /// Checks what can be checked without the cluster.
    pub fn validate(&self) -> Result<(), String> {
        IndexTemplate::compile(&self.index).map_err(|e| format!("`index`: {e}"))?;
        self.endpoint()?;
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
        if self.refresh_interval.trim().is_empty() {
            return Err("`refresh_interval`: expected a time value such as `5s` or `-1`".into());
        }
        Ok(())
    }

    /// The URL to talk to and the credentials to send, from `url`, `username`/`password` and
    /// `api_key`. Error messages never contain the credentials.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        let mut url = Url::parse(self.url.trim()).map_err(|e| {
            format!(
                "`url`: `{}` is not a URL: {e}",
                redact_userinfo(self.url.trim())
            )
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "`url`: expected an `http://` or `https://` URL, found scheme `{}`",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("`url`: the URL has no host".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("`url`: expected no query or fragment in the URL".into());
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
        let auth = match (&self.username, &self.password, &self.api_key) {
            (_, _, Some(_)) if self.username.is_some() || self.password.is_some() => {
                return Err("`api_key` and `username`/`password` are mutually exclusive".into())
            }
            (_, _, Some(key)) => {
                if key.trim().is_empty() {
                    return Err("`api_key` is empty".into());
                }
                if !url_user.is_empty() {
                    return Err("`api_key` and a user in `url` are mutually exclusive".into());
                }
                Some(Auth::ApiKey(key.trim().to_string()))
            }
            (Some(user), password, None) => {
                if !url_user.is_empty() {
                    return Err("`username` and a user in `url` are mutually exclusive".into());
                }
                Some(Auth::Basic {
                    username: user.clone(),
                    password: password.clone().unwrap_or_default(),
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

    /// The URL for messages: without user information.
    pub fn display_url(&self) -> String {
        match self.endpoint() {
            Ok(e) => e.url.to_string(),
            Err(_) => redact_userinfo(self.url.trim()),
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
            .field("api_key", &redacted(&self.api_key))
            .field("ca_file", &self.ca_file)
            .finish()
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
}
