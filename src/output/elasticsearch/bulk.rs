//! Bulk requests: building them from encoded batches, sending them through the `elasticsearch`
//! crate, reading the per-item results, and deciding what is retried.
//!
//! One [`BulkRequest`] is delivered by one task ([`deliver`]) that keeps at it until every item
//! is either accepted (`201`, or `409`: already there from an earlier attempt) or dead-lettered
//! (other `4xx`). Items refused with `429`/`5xx`, and whole requests that fail (connection
//! refused, timeout, `5xx`), are sent again after an exponential delay with full jitter, for as
//! long as the process lives. Each part of a batch is acknowledged as soon as its own items are
//! settled.
//!
//! [`Client`] spreads requests over the configured nodes and passes over a node that just
//! failed, sends the credentials (and a client certificate), and keeps them out of every error
//! text, including what a server echoes back.

use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use elasticsearch::auth::{ClientCertificate, Credentials};
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{
    HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE,
};
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::http::Method;
use elasticsearch::Elasticsearch;
use rand::Rng;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::config::{Auth, Compression, ElasticsearchConfig};
use super::dlq::{DeadLetter, DeadLetterQueue};
use crate::pipeline::ack::{self, BatchAck};
use crate::pipeline::batch::EncodedBatch;
use crate::telemetry;

/// Only what the per-item verdicts need from a `_bulk` response.
const BULK_FILTER: &str = "errors,items.*.status,items.*.error.type,items.*.error.reason";

/// A request that did not get a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No response: connection refused or reset, timeout, TLS failure.
    #[error("{method} {url}{path}: {message}")]
    Transport {
        method: &'static str,
        url: String,
        path: String,
        message: String,
        timeout: bool,
    },
    /// A response with a status that is not a success.
    #[error("{method} {url}{path}: HTTP {status}: {error}")]
    Status {
        method: &'static str,
        url: String,
        path: String,
        status: u16,
        error: ItemError,
    },
    /// A success status with a body that is not what Elasticsearch sends.
    #[error("{method} {url}{path}: unexpected response: {message}")]
    Response {
        method: &'static str,
        url: String,
        path: String,
        message: String,
    },
}

impl RequestError {
    /// Worth sending again unchanged: no answer, `408`, `429`, `5xx`, or an odd answer.
    pub fn retryable(&self) -> bool {
        match self {
            RequestError::Transport { .. } | RequestError::Response { .. } => true,
            RequestError::Status { status, .. } => is_retryable_status(*status),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            RequestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Put => "PUT",
        Method::Post => "POST",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
    }
}

/// An error with its causes: `reqwest` puts the useful part (connection refused) in a source.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// How long a node that failed is passed over while another node is available: this, doubled
/// with each further failure in a row, up to [`NODE_SKIP_MAX`].
const NODE_SKIP_BASE: Duration = Duration::from_secs(1);
const NODE_SKIP_MAX: Duration = Duration::from_secs(60);

/// Shorter secrets are not scrubbed from messages: replacing every `a` of a message would make
/// it unreadable while hiding nothing worth hiding.
const MIN_SCRUBBED_SECRET: usize = 3;

/// One node of the cluster and how it fared lately.
struct Node {
    es: Elasticsearch,
    /// Base URL without user information, for messages.
    url: String,
    health: Mutex<NodeHealth>,
}

#[derive(Debug, Default)]
struct NodeHealth {
    /// Failures in a row (connection, timeout, `5xx`); 0 once it answers again.
    failures: u32,
    /// Until when other nodes are preferred.
    skip_until: Option<Instant>,
}

impl Node {
    fn health(&self) -> std::sync::MutexGuard<'_, NodeHealth> {
        // The guarded data is two plain numbers: a panic elsewhere cannot leave it broken.
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an answer; returns the failures in a row it ends.
    fn succeeded(&self) -> u32 {
        let mut h = self.health();
        h.skip_until = None;
        std::mem::take(&mut h.failures)
    }

    /// Records a failure; returns the failures in a row and how long the node is now passed
    /// over.
    fn failed(&self) -> (u32, Duration) {
        let mut h = self.health();
        h.failures = h.failures.saturating_add(1);
        let factor = 1u32.checked_shl(h.failures - 1).unwrap_or(u32::MAX);
        let skip = NODE_SKIP_BASE.saturating_mul(factor).min(NODE_SKIP_MAX);
        h.skip_until = Some(Instant::now() + skip);
        (h.failures, skip)
    }
}

/// True for failures that say more about the node than about the request: no answer, or a
/// `5xx`. Another node may well do better.
fn is_node_failure(e: &RequestError) -> bool {
    match e {
        RequestError::Transport { .. } => true,
        RequestError::Status { status, .. } => *status >= 500,
        RequestError::Response { .. } => false,
    }
}

/// The connection to the cluster: one HTTP client per node, requests spread round-robin over
/// the nodes that answer. Holds the credentials, so it has no derived `Debug`.
pub struct Client {
    nodes: Vec<Node>,
    /// Where the round-robin goes next.
    next: AtomicUsize,
    /// Base URLs without user information, for messages.
    url: String,
    timeout: Duration,
    gzip: bool,
    /// Credentials in every form they are sent in, removed from any text that ends up in a
    /// message: a server or proxy may echo a request header back in its error.
    secrets: Vec<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

/// A client certificate or key that cannot be used; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ClientCertError {
    #[error("`{key}`: cannot read {path}: {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`client_cert`: {path}: bad PEM: {message}")]
    BadCert { path: PathBuf, message: String },
    #[error("`client_cert`: {path}: no certificate found (expected a PEM `-----BEGIN CERTIFICATE-----` block)")]
    NoCert { path: PathBuf },
    #[error("`client_key`: {path}: no private key found (expected a PEM `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)")]
    NoKey { path: PathBuf },
    #[error("`client_key`: {path}: bad PEM: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("`client_key` {key} is not the key of `client_cert` {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("`client_cert` {cert} with `client_key` {key}: {source}")]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        source: tokio_rustls::rustls::Error,
    },
}

/// Reads and checks a client certificate chain and its key; returns them as one PEM text with
/// only the blocks the HTTP client understands (a key file may carry extra blocks, such as
/// `EC PARAMETERS`, that it would refuse).
pub fn load_client_identity(cert: &Path, key: &Path) -> Result<Vec<u8>, ClientCertError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;

    let cert_pem = std::fs::read(cert).map_err(|source| ClientCertError::Read {
        key: "client_cert",
        path: cert.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClientCertError::BadCert {
            path: cert.to_path_buf(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(ClientCertError::NoCert {
            path: cert.to_path_buf(),
        });
    }
    let key_pem = std::fs::read(key).map_err(|source| ClientCertError::Read {
        key: "client_key",
        path: key.to_path_buf(),
        source,
    })?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => ClientCertError::NoKey {
            path: key.to_path_buf(),
        },
        e => ClientCertError::BadKey {
            path: key.to_path_buf(),
            message: e.to_string(),
        },
    })?;
    let key_label = match &private_key {
        PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
        PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
        _ => "PRIVATE KEY",
    };
    let mut pem = Vec::new();
    for c in &chain {
        pem_block(&mut pem, "CERTIFICATE", c.as_ref());
    }
    pem_block(&mut pem, key_label, private_key.secret_der());
    // Loading it the way the TLS handshake will finds an unusable key, or a key that belongs
    // to another certificate, now rather than at the first connection.
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, private_key, &provider).map_err(|source| {
        match source {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                ClientCertError::KeyMismatch {
                    cert: cert.to_path_buf(),
                    key: key.to_path_buf(),
                }
            }
            source => ClientCertError::Rejected {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                source,
            },
        }
    })?;
    Ok(pem)
}

fn pem_block(out: &mut Vec<u8>, label: &str, der: &[u8]) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    out.extend_from_slice(format!("-----BEGIN {label}-----\n").as_bytes());
    for line in b64.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(format!("-----END {label}-----\n").as_bytes());
}

/// The `Authorization` header for `auth`, and the secret strings to keep out of messages.
fn authorization(auth: &Auth) -> Result<(HeaderValue, Vec<String>), String> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (value, secrets) = match auth {
        Auth::Basic { username, password } => {
            let token = b64(&format!("{username}:{password}"));
            (format!("Basic {token}"), vec![password.clone(), token])
        }
        Auth::ApiKey(key) => match key.split_once(':') {
            Some((_, secret)) => {
                let token = b64(key);
                (format!("ApiKey {token}"), vec![secret.to_string(), token])
            }
            None => (format!("ApiKey {key}"), vec![key.clone()]),
        },
    };
    let mut header = HeaderValue::from_str(&value)
        .map_err(|_| "the credentials cannot be sent in an HTTP header".to_string())?;
    // Keeps the value out of the HTTP client's own debug output.
    header.set_sensitive(true);
    Ok((header, secrets))
}

impl Client {
    pub fn new(config: &ElasticsearchConfig) -> Result<Client, String> {
        let endpoints = config.endpoints()?;
        // Read once; parsed for each node, as the parsed form cannot be copied.
        let ca = match &config.ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("`ca_file`: cannot read {}: {e}", path.display()))?;
                Some((path, pem))
            }
            None => None,
        };
        let identity = match (&config.client_cert, &config.client_key) {
            (Some(cert), Some(key)) => {
                Some(load_client_identity(cert, key).map_err(|e| e.to_string())?)
            }
            (None, None) => None,
            _ => return Err("`client_cert` and `client_key` go together".into()),
        };
        let mut nodes = Vec::with_capacity(endpoints.len());
        let mut secrets = Vec::new();
        for endpoint in endpoints {
            let url = endpoint.url.to_string();
            let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(endpoint.url))
                .timeout(config.request_timeout());
            // The header rather than the crate's `Credentials`: those hold one of basic/API
            // key/client certificate, and a node may want a certificate and a password.
            if let Some(auth) = &endpoint.auth {
                let (header, s) = authorization(auth)?;
                builder = builder.header(AUTHORIZATION, header);
                secrets.extend(s);
            }
            if let Some(pem) = &identity {
                builder = builder.auth(Credentials::Certificate(ClientCertificate::Pem(
                    pem.clone(),
                )));
            }
            if let Some((path, pem)) = &ca {
                let cert = Certificate::from_pem(pem)
                    .map_err(|e| format!("`ca_file`: {}: {e}", path.display()))?;
                builder = builder.cert_validation(CertificateValidation::Full(cert));
            }
            let transport = builder
                .build()
                .map_err(|e| format!("cannot set up the HTTP client for {url}: {e}"))?;
            nodes.push(Node {
                es: Elasticsearch::new(transport),
                url,
                health: Mutex::new(NodeHealth::default()),
            });
        }
        secrets.retain(|s| s.len() >= MIN_SCRUBBED_SECRET);
        // Longest first, so a secret that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        let url = nodes
            .iter()
            .map(|n| n.url.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Client {
            nodes,
            next: AtomicUsize::new(0),
            url,
            timeout: config.request_timeout(),
            gzip: config.compression == Compression::Gzip,
            secrets,
        })
    }

    /// Base URLs without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// `text` without any credential in it.
    fn scrub(&self, text: String) -> String {
        let mut text = text;
        for s in &self.secrets {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "<redacted>");
            }
        }
        text
    }

    fn scrub_error(&self, e: ItemError) -> ItemError {
        if self.secrets.is_empty() {
            return e;
        }
        ItemError {
            kind: self.scrub(e.kind),
            reason: self.scrub(e.reason),
        }
    }

    /// The next node to try, round-robin among those not passed over and not yet `tried` in
    /// this request. When every node is passed over, the next one round-robin is tried anyway
    /// (once per request): with no healthy node to prefer, the caller's retry policy paces the
    /// attempts, and each node gets its turn to show it is back.
    fn pick(&self, tried: &[bool]) -> Option<usize> {
        let n = self.nodes.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = Instant::now();
        let mut order = (0..n).map(|k| (start + k) % n).filter(|&i| !tried[i]);
        let first = order.next()?;
        let usable = |i: usize| self.nodes[i].health().skip_until.is_none_or(|t| t <= now);
        if usable(first) {
            return Some(first);
        }
        if let Some(i) = order.find(|&i| usable(i)) {
            return Some(i);
        }
        if tried.iter().any(|&t| t) {
            return None;
        }
        Some(first)
    }

    /// Sends one request; returns the status and body of any answer with a status below 300,
    /// and [`RequestError::Status`] for the others.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes), RequestError> {
        self.request_nodes(method, path, query, headers, body)
            .await
            .map(|(status, bytes, _)| (status, bytes))
    }

    /// [`Client::request`], also returning the URL of the node that answered. A node that
    /// fails is passed over for a while and the request goes at once to the next node that is
    /// not; the error of the last node tried is returned when none succeeds.
    async fn request_nodes(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes, &str), RequestError> {
        let mut tried = vec![false; self.nodes.len()];
        let mut last_error = None;
        while let Some(i) = self.pick(&tried) {
            tried[i] = true;
            let node = &self.nodes[i];
            match self
                .request_node(node, method, path, query, headers.clone(), body.clone())
                .await
            {
                Ok((status, bytes)) => {
                    self.node_answered(node);
                    return Ok((status, bytes, &node.url));
                }
                Err(e) if is_node_failure(&e) => {
                    let (failures, skip) = node.failed();
                    // With one node there is nothing to fail over to, and the delivery logs
                    // its retries; past the first failure in a row, the same.
                    if self.nodes.len() > 1 && failures == 1 {
                        node_failed(&node.url, skip, &e);
                    }
                    last_error = Some(e);
                }
                Err(e) => {
                    // It answered: the node is fine, the request is not.
                    self.node_answered(node);
                    return Err(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| RequestError::Transport {
            method: method_name(method),
            url: self.url.clone(),
            path: path.to_string(),
            message: "no node to send to".into(),
            timeout: false,
        }))
    }

    fn node_answered(&self, node: &Node) {
        let failures = node.succeeded();
        if self.nodes.len() > 1 && failures > 0 {
            node_back(&node.url, failures);
        }
    }

    async fn request_node(
        &self,
        node: &Node,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<(u16, Bytes), RequestError> {
        let m = method_name(method);
        let transport_error = |e: &elasticsearch::Error| RequestError::Transport {
            method: m,
            url: node.url.clone(),
            path: path.to_string(),
            message: self.scrub(error_chain(e)),
            timeout: e.is_timeout(),
        };
        let query = if query.is_empty() { None } else { Some(query) };
        let response = node
            .es
            .send(method, path, headers, query, body, Some(self.timeout))
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status_code().as_u16();
        let bytes = response.bytes().await.map_err(|e| transport_error(&e))?;
        if status >= 300 {
            return Err(RequestError::Status {
                method: m,
                url: node.url.clone(),
                path: path.to_string(),
                status,
                error: self.scrub_error(ItemError::from_error_body(&bytes)),
            });
        }
        Ok((status, bytes))
    }

    /// A JSON request (templates); `None` for `404`.
    pub async fn json_request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<Bytes>, RequestError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let body = match body {
            Some(v) => Some(Bytes::from(serde_json::to_vec(v).map_err(|e| {
                RequestError::Response {
                    method: method_name(method),
                    url: self.url.clone(),
                    path: path.to_string(),
                    message: e.to_string(),
                }
            })?)),
            None => None,
        };
        match self.request(method, path, &[], headers, body).await {
            Ok((_, bytes)) => Ok(Some(bytes)),
            Err(RequestError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a `_bulk` body (already compressed when `gzip` is on) and parses the per-item
    /// results.
    pub async fn bulk(&self, body: Bytes) -> Result<BulkResponse, RequestError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        if self.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let (_, bytes, url) = self
            .request_nodes(
                Method::Post,
                "_bulk",
                &[("filter_path", BULK_FILTER)],
                headers,
                Some(body),
            )
            .await?;
        let mut response =
            serde_json::from_slice::<BulkResponse>(&bytes).map_err(|e| RequestError::Response {
                method: "POST",
                url: url.to_string(),
                path: "_bulk".into(),
                message: self.scrub(format!("{e}: {}", snippet(&bytes))),
            })?;
        if response.errors && !self.secrets.is_empty() {
            for item in &mut response.items {
                if let Some(e) = item.error.take() {
                    item.error = Some(self.scrub_error(e));
                }
            }
        }
        Ok(response)
    }
}

/// A node of several failed; the others get its requests for a while. (This and `node_back`
/// belong in `telemetry` with the other log lines; they are here until they move there.)
fn node_failed(url: &str, skip: Duration, error: &RequestError) {
    tracing::warn!(
        target: "logpipe::output",
        url,
        skip_ms = skip.as_millis() as u64,
        %error,
        "node failed; sending to the other nodes for a while"
    );
}

/// A node that had failed answers again and gets its share of the requests.
fn node_back(url: &str, failures: u32) {
    tracing::info!(target: "logpipe::output", url, failures, "node answering again");
}

fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]);
    s.into_owned()
}

/// `error.type` and `error.reason` of an item or of a whole response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemError {
    pub kind: String,
    pub reason: String,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind.is_empty(), self.reason.is_empty()) {
            (false, false) => write!(f, "{}: {}", self.kind, self.reason),
            (false, true) => f.write_str(&self.kind),
            (true, false) => f.write_str(&self.reason),
            (true, true) => f.write_str("no error details"),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorRepr {
    Object {
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    },
    Text(String),
}

impl From<ErrorRepr> for ItemError {
    fn from(r: ErrorRepr) -> ItemError {
        match r {
            ErrorRepr::Object { kind, reason } => ItemError {
                kind: kind.unwrap_or_default(),
                reason: reason.unwrap_or_default(),
            },
            ErrorRepr::Text(reason) => ItemError {
                kind: String::new(),
                reason,
            },
        }
    }
}

impl<'de> Deserialize<'de> for ItemError {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<ItemError, D::Error> {
        ErrorRepr::deserialize(d).map(ItemError::from)
    }
}

impl ItemError {
    /// The error of a non-success response body (`{"error":{...},"status":..}`), or its text.
    pub fn from_error_body(body: &[u8]) -> ItemError {
        #[derive(Deserialize)]
        struct Body {
            error: ItemError,
        }
        match serde_json::from_slice::<Body>(body) {
            Ok(b) => b.error,
            Err(_) => ItemError {
                kind: String::new(),
                reason: snippet(body),
            },
        }
    }
}

/// The parts of a `_bulk` response the output reads.
#[derive(Debug, Default, Deserialize)]
pub struct BulkResponse {
    #[serde(default)]
    pub errors: bool,
    #[serde(default)]
    pub items: Vec<ItemResult>,
}

/// One item of a `_bulk` response: `{"create":{"status":201,"error":{...}}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResult {
    pub status: u16,
    pub error: Option<ItemError>,
}

impl<'de> Deserialize<'de> for ItemResult {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<ItemResult, D::Error> {
        #[derive(Deserialize)]
        struct Inner {
            status: u16,
            #[serde(default)]
            error: Option<ItemError>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ItemResult;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a bulk item: an object with one action key")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ItemResult, A::Error> {
                let mut found = None;
                while map.next_key::<IgnoredAny>()?.is_some() {
                    let inner: Inner = map.next_value()?;
                    found.get_or_insert(ItemResult {
                        status: inner.status,
                        error: inner.error,
                    });
                }
                found.ok_or_else(|| de::Error::custom("empty bulk item"))
            }
        }
        d.deserialize_map(V)
    }
}

/// What becomes of one item after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    /// `2xx`: indexed now.
    Created,
    /// `409` on `create`: indexed by an earlier attempt or run.
    AlreadyPresent,
    /// `429`, `5xx` (and anything else odd): send again later.
    Retry,
    /// Other `4xx`: the document itself is refused; to the dead-letter queue.
    DeadLetter,
}

pub fn classify_item(status: u16) -> ItemOutcome {
    match status {
        200..=299 => ItemOutcome::Created,
        409 => ItemOutcome::AlreadyPresent,
        408 | 429 => ItemOutcome::Retry,
        400..=499 => ItemOutcome::DeadLetter,
        _ => ItemOutcome::Retry,
    }
}

/// What to do when a whole request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestVerdict {
    /// Send the same items again after a delay.
    Retry,
    /// Send the items in smaller requests (`413`, or `400` for a request of several items: the
    /// halves isolate the item the cluster refuses).
    Split,
    /// A single item refused as a whole request: dead-letter it.
    DeadLetter,
}

pub fn classify_request_failure(error: &RequestError, items: usize) -> RequestVerdict {
    match error.status() {
        Some(400) | Some(413) if items > 1 => RequestVerdict::Split,
        Some(400) | Some(413) => RequestVerdict::DeadLetter,
        // 401/403/404 and the rest: a setting or permission to fix; nothing is dropped meanwhile.
        _ => RequestVerdict::Retry,
    }
}

/// Delays between attempts: exponential, capped, with full jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial_ms: u64,
    pub max_ms: u64,
}

impl RetryPolicy {
    pub fn from_config(c: &ElasticsearchConfig) -> RetryPolicy {
        RetryPolicy {
            initial_ms: c.retry_initial_ms.max(1),
            max_ms: c.retry_max_ms.max(c.retry_initial_ms.max(1)),
        }
    }

    /// The ceiling of the delay before attempt `attempt + 1` (0-based `attempt`).
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let factor = 1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX);
        self.initial_ms.saturating_mul(factor).min(self.max_ms)
    }

    /// A delay drawn uniformly from `[ceiling / 10, ceiling]` ("full jitter", kept off zero
    /// so a flapping cluster is not hammered).
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let cap = self.ceiling_ms(attempt);
        let floor = (cap / 10).max(1).min(cap);
        Duration::from_millis(rng.random_range(floor..=cap))
    }
}

/// One item of a request: its bytes in the body and the batch part it belongs to.
#[derive(Debug, Clone)]
struct Item {
    range: Range<usize>,
    part: usize,
}

#[derive(Debug)]
struct Part {
    ack: Option<BatchAck>,
    open: usize,
}

/// Items gathered for one `_bulk` request, from one or more batches (or parts of them).
#[derive(Debug, Default)]
pub struct BulkRequest {
    body: Vec<u8>,
    items: Vec<Item>,
    parts: Vec<Part>,
}

impl BulkRequest {
    pub fn new() -> BulkRequest {
        BulkRequest::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Uncompressed body size.
    pub fn bytes(&self) -> usize {
        self.body.len()
    }

    /// How many items of `batch` from `from` on fit in this request under the limits; at least
    /// one when the request is empty, so an oversized item still goes out (alone).
    pub fn fits(
        &self,
        batch: &EncodedBatch,
        from: usize,
        max_events: usize,
        max_bytes: usize,
    ) -> usize {
        let mut n = 0;
        let mut events = self.items.len();
        let mut bytes = self.body.len();
        for r in &batch.items[from..] {
            let len = r.end.saturating_sub(r.start);
            let empty = events == 0;
            if !empty && (events >= max_events || bytes + len > max_bytes) {
                break;
            }
            events += 1;
            bytes += len;
            n += 1;
            if events >= max_events || bytes >= max_bytes {
                break;
            }
        }
        n
    }

    /// Adds items `range` of `batch`, acknowledged through `ack` once they are all settled.
    /// Empty or out-of-bounds items carry nothing to send and are skipped.
    pub fn push(&mut self, batch: &EncodedBatch, range: Range<usize>, ack: BatchAck) {
        let part = self.parts.len();
        let mut open = 0;
        for r in &batch.items[range] {
            let Some(bytes) = batch.buf.get(r.clone()).filter(|b| !b.is_empty()) else {
                continue;
            };
            let start = self.body.len();
            self.body.extend_from_slice(bytes);
            self.items.push(Item {
                range: start..self.body.len(),
                part,
            });
            open += 1;
        }
        if open == 0 {
            ack.delivered();
        } else {
            self.parts.push(Part {
                ack: Some(ack),
                open,
            });
        }
    }

    /// The bytes of item `i` (action line and document line).
    pub fn item(&self, i: usize) -> &[u8] {
        self.items
            .get(i)
            .and_then(|it| self.body.get(it.range.clone()))
            .unwrap_or(&[])
    }
}

/// A request body for items `chosen` of `body`: the body itself when it is all of it and no
/// compression is wanted, else a copy or a gzip stream. CPU work: call off the async threads.
pub fn build_body(body: &Bytes, ranges: &[Range<usize>], gzip: bool) -> std::io::Result<Bytes> {
    let whole = ranges.first().is_some_and(|r| r.start == 0)
        && ranges.last().is_some_and(|r| r.end == body.len())
        && ranges.windows(2).all(|w| w[0].end == w[1].start);
    if !gzip {
        if whole {
            return Ok(body.clone());
        }
        let total = ranges.iter().map(|r| r.len()).sum();
        let mut out = Vec::with_capacity(total);
        for r in ranges {
            out.extend_from_slice(&body[r.clone()]);
        }
        return Ok(Bytes::from(out));
    }
    let total: usize = ranges.iter().map(|r| r.len()).sum();
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(total / 6 + 64),
        flate2::Compression::fast(),
    );
    for r in ranges {
        enc.write_all(&body[r.clone()])?;
    }
    Ok(Bytes::from(enc.finish()?))
}

/// What a delivery task shares with the others.
#[derive(Debug)]
pub struct DeliveryContext {
    pub client: Client,
    pub dlq: DeadLetterQueue,
    pub retry: RetryPolicy,
}

impl DeliveryContext {
    /// The wait before attempt `attempt + 1`, counting it; `error` is logged when given.
    fn next_wait(&self, attempt: &mut u32, error: Option<&dyn fmt::Display>) -> Duration {
        let wait = self.retry.delay(*attempt, &mut rand::rng());
        if let Some(e) = error {
            telemetry::bulk_request_failed(*attempt + 1, e, wait.as_millis() as u64);
        }
        *attempt = attempt.saturating_add(1);
        wait
    }
}

/// A request being delivered: its body is frozen, its items are settled one by one.
struct InFlight {
    body: Bytes,
    items: Vec<Item>,
    parts: Vec<Part>,
}

impl From<BulkRequest> for InFlight {
    fn from(r: BulkRequest) -> InFlight {
        InFlight {
            body: Bytes::from(r.body),
            items: r.items,
            parts: r.parts,
        }
    }
}

impl InFlight {
    /// Parts whose items are not all settled.
    #[cfg(test)]
    fn open_parts(&self) -> usize {
        self.parts.iter().filter(|p| p.ack.is_some()).count()
    }

    fn item_bytes(&self, i: usize) -> Bytes {
        match self.items.get(i) {
            Some(it) if it.range.end <= self.body.len() => self.body.slice(it.range.clone()),
            _ => Bytes::new(),
        }
    }

    /// Counts how item `i` ended on its batch's acknowledgement (for per-run summaries).
    fn count(&self, i: usize, outcome: ack::ItemOutcome) {
        let part = self.items.get(i).and_then(|it| self.parts.get(it.part));
        if let Some(ack) = part.and_then(|p| p.ack.as_ref()) {
            ack.count(outcome, 1);
        }
    }

    /// Item `i` is accepted or dead-lettered; acknowledges its part when that was the last one.
    fn settle(&mut self, i: usize) {
        let Some(item) = self.items.get(i) else {
            return;
        };
        if let Some(part) = self.parts.get_mut(item.part) {
            part.open = part.open.saturating_sub(1);
            if part.open == 0 {
                if let Some(ack) = part.ack.take() {
                    ack.delivered();
                }
            }
        }
    }
}

/// Delivers every item of `request`: retries what may succeed later, dead-letters what never
/// will, acknowledges each batch part once its items are settled. Returns when nothing is
/// left; while the cluster is away it keeps trying (the pipeline aborts it past the grace
/// period, which leaves the unsettled parts unacknowledged).
pub async fn deliver(ctx: Arc<DeliveryContext>, request: BulkRequest) {
    let mut req = InFlight::from(request);
    // Items not settled yet, in sending order.
    let mut pending: Vec<usize> = (0..req.items.len()).collect();
    // Items per request: lowered when the cluster refuses a request for its size or content.
    let mut chunk_limit = pending.len().max(1);
    let mut attempt: u32 = 0;

    while !pending.is_empty() {
        let n = chunk_limit.min(pending.len()).max(1);
        let chunk: Vec<usize> = pending[..n].to_vec();
        let ranges: Vec<Range<usize>> = chunk.iter().map(|&i| req.items[i].range.clone()).collect();
        let payload = {
            let body = req.body.clone();
            let gzip = ctx.client.gzip();
            tokio::task::spawn_blocking(move || build_body(&body, &ranges, gzip)).await
        };
        let payload = match payload {
            Ok(Ok(p)) => p,
            // Compressing into memory does not fail; should it, wait and try again.
            Ok(Err(e)) => {
                tokio::time::sleep(ctx.next_wait(&mut attempt, Some(&e))).await;
                continue;
            }
            Err(e) => {
                tokio::time::sleep(ctx.next_wait(&mut attempt, Some(&e))).await;
                continue;
            }
        };

        let response = match ctx.client.bulk(payload).await {
            Ok(r) if r.items.len() == n => r,
            Ok(r) => {
                let e = RequestError::Response {
                    method: "POST",
                    url: ctx.client.url().to_string(),
                    path: "_bulk".into(),
                    message: format!("{} item results for {n} items sent", r.items.len()),
                };
                tokio::time::sleep(ctx.next_wait(&mut attempt, Some(&e))).await;
                continue;
            }
            Err(e) => {
                match classify_request_failure(&e, n) {
                    RequestVerdict::Split => {
                        telemetry::bulk_request_split(n, e.status().unwrap_or(0));
                        chunk_limit = n.div_ceil(2);
                    }
                    RequestVerdict::DeadLetter => {
                        let error = match &e {
                            RequestError::Status { error, .. } => error.clone(),
                            other => ItemError {
                                kind: String::new(),
                                reason: other.to_string(),
                            },
                        };
                        let letters = [(chunk[0], e.status().unwrap_or(400), error)];
                        if dead_letter(&ctx, &mut req, &letters).await {
                            pending.drain(..n);
                        } else {
                            tokio::time::sleep(ctx.next_wait(&mut attempt, None)).await;
                        }
                    }
                    RequestVerdict::Retry => {
                        tokio::time::sleep(ctx.next_wait(&mut attempt, Some(&e))).await
                    }
                }
                continue;
            }
        };

        let mut retry = Vec::new();
        let mut letters = Vec::new();
        let (mut created, mut present) = (0usize, 0usize);
        let mut retry_status = 0;
        for (&i, result) in chunk.iter().zip(response.items) {
            match classify_item(result.status) {
                ItemOutcome::Created => {
                    created += 1;
                    req.count(i, ack::ItemOutcome::Created);
                    req.settle(i);
                }
                ItemOutcome::AlreadyPresent => {
                    present += 1;
                    req.count(i, ack::ItemOutcome::AlreadyPresent);
                    req.settle(i);
                }
                ItemOutcome::Retry => {
                    retry_status = result.status;
                    retry.push(i);
                }
                ItemOutcome::DeadLetter => {
                    letters.push((i, result.status, result.error.unwrap_or_default()));
                }
            }
        }
        telemetry::bulk_items_delivered(created, present);
        if !retry.is_empty() {
            telemetry::bulk_items_retried(retry.len(), retry_status);
        }
        if !letters.is_empty() && !dead_letter(&ctx, &mut req, &letters).await {
            // Not written: keep them; they are sent (and refused) again, never dropped.
            retry.extend(letters.iter().map(|l| l.0));
            retry.sort_unstable();
        }
        let rest = pending.split_off(n);
        let retrying = !retry.is_empty();
        pending = retry;
        pending.extend(rest);
        if retrying {
            tokio::time::sleep(ctx.next_wait(&mut attempt, None)).await;
        } else {
            attempt = 0;
        }
    }
}

/// Writes the items to the dead-letter queue and settles them; false when the queue could not
/// be written (the items are then retried, never dropped).
async fn dead_letter(
    ctx: &Arc<DeliveryContext>,
    req: &mut InFlight,
    letters: &[(usize, u16, ItemError)],
) -> bool {
    let entries: Vec<DeadLetter> = letters
        .iter()
        .map(|(i, status, error)| DeadLetter::from_item(req.item_bytes(*i), *status, error.clone()))
        .collect();
    let reason = letters.first().map(|l| l.2.to_string()).unwrap_or_default();
    let ctx2 = Arc::clone(ctx);
    let written = tokio::task::spawn_blocking(move || ctx2.dlq.append(&entries)).await;
    let failure: Box<dyn fmt::Display + Send> = match written {
        Ok(Ok(_)) => {
            for (i, _, _) in letters {
                req.count(*i, ack::ItemOutcome::DeadLettered);
                req.settle(*i);
            }
            telemetry::dead_lettered(letters.len(), &reason);
            return true;
        }
        Ok(Err(e)) => Box::new(e),
        Err(e) => Box::new(e),
    };
    telemetry::dead_letter_write_failed(&ctx.dlq.dir().display().to_string(), &failure);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::elasticsearch::config::Compression;
    use crate::pipeline::ack::StreamAcks;
    use crate::pipeline::batch::BatchStats;

    fn batch(items: &[&str], ack: BatchAck) -> EncodedBatch {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for i in items {
            let s = buf.len();
            buf.extend_from_slice(i.as_bytes());
            ranges.push(s..buf.len());
        }
        EncodedBatch {
            buf,
            items: ranges,
            ack,
            stats: BatchStats::default(),
        }
    }

    #[test]
    fn parses_bulk_responses() {
        let body = br#"{"errors":true,"took":3,"items":[
            {"create":{"_index":"a","_id":"1","status":201,"result":"created"}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists","index":"a"}}},
            {"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"bad","caused_by":{"type":"x"}}}},
            {"index":{"status":429,"error":"too many"}},
            {"create":{"status":503}}
        ]}"#;
        let r: BulkResponse = serde_json::from_slice(body).unwrap();
        assert!(r.errors);
        let got: Vec<(u16, ItemOutcome)> = r
            .items
            .iter()
            .map(|i| (i.status, classify_item(i.status)))
            .collect();
        assert_eq!(
            got,
            vec![
                (201, ItemOutcome::Created),
                (409, ItemOutcome::AlreadyPresent),
                (400, ItemOutcome::DeadLetter),
                (429, ItemOutcome::Retry),
                (503, ItemOutcome::Retry),
            ]
        );
        assert_eq!(
            r.items[2].error,
            Some(ItemError {
                kind: "document_parsing_exception".into(),
                reason: "bad".into()
            })
        );
        assert_eq!(r.items[3].error.as_ref().unwrap().reason, "too many");
        assert!(r.items[0].error.is_none());
        // filter_path output with no errors.
        let r: BulkResponse =
            serde_json::from_slice(br#"{"errors":false,"items":[{"create":{"status":201}}]}"#)
                .unwrap();
        assert_eq!(r.items.len(), 1);
        assert!(serde_json::from_slice::<BulkResponse>(br#"{"items":[{}]}"#).is_err());
    }

    #[test]
    fn classifies_statuses() {
        assert_eq!(classify_item(200), ItemOutcome::Created);
        assert_eq!(classify_item(404), ItemOutcome::DeadLetter);
        assert_eq!(classify_item(413), ItemOutcome::DeadLetter);
        assert_eq!(classify_item(500), ItemOutcome::Retry);
        assert_eq!(classify_item(408), ItemOutcome::Retry);
        let status = |s| RequestError::Status {
            method: "POST",
            url: "u".into(),
            path: "_bulk".into(),
            status: s,
            error: ItemError::default(),
        };
        assert_eq!(
            classify_request_failure(&status(413), 10),
            RequestVerdict::Split
        );
        assert_eq!(
            classify_request_failure(&status(400), 2),
            RequestVerdict::Split
        );
        assert_eq!(
            classify_request_failure(&status(400), 1),
            RequestVerdict::DeadLetter
        );
        assert_eq!(
            classify_request_failure(&status(503), 1),
            RequestVerdict::Retry
        );
        assert_eq!(
            classify_request_failure(&status(401), 5),
            RequestVerdict::Retry
        );
        assert!(status(429).retryable() && status(502).retryable() && !status(403).retryable());
        let transport = RequestError::Transport {
            method: "POST",
            url: "u".into(),
            path: "p".into(),
            message: "refused".into(),
            timeout: false,
        };
        assert!(transport.retryable());
        assert_eq!(
            classify_request_failure(&transport, 3),
            RequestVerdict::Retry
        );
    }

    #[test]
    fn error_bodies() {
        let e = ItemError::from_error_body(
            br#"{"error":{"root_cause":[],"type":"mapper_exception","reason":"no"},"status":400}"#,
        );
        assert_eq!(e.to_string(), "mapper_exception: no");
        assert_eq!(ItemError::from_error_body(b"<html>").reason, "<html>");
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        let p = RetryPolicy {
            initial_ms: 100,
            max_ms: 30_000,
        };
        assert_eq!(p.ceiling_ms(0), 100);
        assert_eq!(p.ceiling_ms(3), 800);
        assert_eq!(p.ceiling_ms(20), 30_000);
        assert_eq!(p.ceiling_ms(u32::MAX), 30_000);
        let mut rng = rand::rng();
        for attempt in 0..80 {
            for _ in 0..20 {
                let d = p.delay(attempt, &mut rng).as_millis() as u64;
                let cap = p.ceiling_ms(attempt);
                assert!(
                    d <= cap && d >= (cap / 10).max(1),
                    "{attempt}: {d} vs {cap}"
                );
            }
        }
        let tiny = RetryPolicy {
            initial_ms: 1,
            max_ms: 1,
        };
        assert_eq!(tiny.delay(5, &mut rng), Duration::from_millis(1));
    }

    #[test]
    fn requests_respect_limits_and_split_acks() {
        let acks = StreamAcks::new(0, None);
        let b = batch(&["aaaa\n", "bbbb\n", "cccc\n"], acks.register(30));
        let mut req = BulkRequest::new();
        // Count bound.
        assert_eq!(req.fits(&b, 0, 2, 1000), 2);
        // Byte bound: 12 bytes hold two items of 5.
        assert_eq!(req.fits(&b, 0, 100, 12), 2);
        // An oversized item still goes alone into an empty request.
        assert_eq!(req.fits(&b, 0, 100, 1), 1);
        let EncodedBatch { ack, .. } = &b;
        req.push(&b, 0..2, ack.part());
        assert_eq!(req.len(), 2);
        assert_eq!(req.bytes(), 10);
        assert_eq!(req.item(1), b"bbbb\n");
        assert_eq!(req.fits(&b, 2, 2, 1000), 0);
        let mut req2 = BulkRequest::new();
        let EncodedBatch { ack, .. } = b;
        let b2 = batch(&["aaaa\n", "bbbb\n", "cccc\n"], BatchAck::untracked());
        req2.push(&b2, 2..3, ack);
        let (mut req, mut req2) = (InFlight::from(req), InFlight::from(req2));
        assert_eq!(req2.item_bytes(0), &b"cccc\n"[..]);
        assert_eq!(req.open_parts(), 1);
        // Settling all of request 2 is not enough: request 1 still holds a part.
        req2.settle(0);
        assert_eq!(req2.open_parts(), 0);
        assert_eq!(acks.acked_offset(), 0);
        req.settle(0);
        assert_eq!(acks.acked_offset(), 0);
        req.settle(1);
        assert_eq!(acks.acked_offset(), 30);
        assert!(!acks.is_stalled());
    }

    #[test]
    fn empty_items_are_acknowledged_at_once() {
        let acks = StreamAcks::new(0, None);
        let mut b = batch(&[], acks.register(10));
        b.items.push(0..0);
        let mut req = BulkRequest::new();
        let ack = std::mem::replace(&mut b.ack, BatchAck::untracked());
        req.push(&b, 0..1, ack);
        assert!(req.is_empty());
        assert_eq!(acks.acked_offset(), 10);
    }

    #[test]
    fn bodies_are_whole_copied_or_gzipped() {
        let body = Bytes::from_static(b"a\nb\nc\n");
        let all = build_body(&body, &[0..2, 2..4, 4..6], false).unwrap();
        assert_eq!(&all[..], b"a\nb\nc\n");
        let some = build_body(&body, &[0..2, 4..6], false).unwrap();
        assert_eq!(&some[..], b"a\nc\n");
        let gz = build_body(&body, std::slice::from_ref(&(2..4)), true).unwrap();
        let mut dec = flate2::read::GzDecoder::new(&gz[..]);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut dec, &mut s).unwrap();
        assert_eq!(s, "b\n");
    }

    /// A scripted HTTP server: answers request k with `replies[k]` (status, body) and records
    /// each request's (decompressed) body.
    async fn fake_cluster(
        replies: Vec<(u16, &'static str)>,
    ) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        tokio::spawn(async move {
            for (status, reply) in replies {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut data = Vec::new();
                let mut buf = [0u8; 8192];
                let (head_end, len, gz) = loop {
                    let n = sock.read(&mut buf).await.unwrap();
                    data.extend_from_slice(&buf[..n]);
                    if let Some(p) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..p]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse::<usize>().unwrap())
                            .unwrap_or(0);
                        break (p + 4, len, head.contains("content-encoding: gzip"));
                    }
                };
                while data.len() < head_end + len {
                    let n = sock.read(&mut buf).await.unwrap();
                    data.extend_from_slice(&buf[..n]);
                }
                let body = &data[head_end..head_end + len];
                let text = if gz {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body), &mut s)
                        .unwrap();
                    s
                } else {
                    String::from_utf8_lossy(body).into_owned()
                };
                seen2.lock().unwrap().push(text);
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                sock.write_all(resp.as_bytes()).await.unwrap();
                let _ = sock.shutdown().await;
            }
        });
        (url, seen)
    }

    fn context(url: &str, dir: &std::path::Path, gzip: bool) -> Arc<DeliveryContext> {
        let mut c = ElasticsearchConfig::new(url);
        c.compression = if gzip {
            Compression::Gzip
        } else {
            Compression::None
        };
        Arc::new(DeliveryContext {
            client: Client::new(&c).unwrap(),
            dlq: DeadLetterQueue::in_data_dir(dir),
            retry: RetryPolicy {
                initial_ms: 1,
                max_ms: 5,
            },
        })
    }

    fn items(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                format!("{{\"create\":{{\"_index\":\"x\",\"_id\":\"id{i}\"}}}}\n{{\"n\":{i}}}\n")
            })
            .collect()
    }

    #[tokio::test]
    async fn retries_failed_requests_and_items_and_dead_letters_the_refused() {
        let (url, seen) = fake_cluster(vec![
            (503, r#"{"error":{"type":"unavailable_shards_exception","reason":"busy"},"status":503}"#),
            (
                200,
                r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"full"}}},{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"bad"}}},{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}}]}"#,
            ),
            (200, r#"{"errors":false,"items":[{"create":{"status":201}}]}"#),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let acks = StreamAcks::new(0, None);
        let texts = items(4);
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        let mut b = batch(&refs, acks.register(40));
        let mut req = BulkRequest::new();
        let ack = std::mem::replace(&mut b.ack, BatchAck::untracked());
        req.push(&b, 0..4, ack);
        deliver(context(&url, dir.path(), true), req).await;

        assert_eq!(acks.acked_offset(), 40);
        assert!(!acks.is_stalled());
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], texts.concat());
        assert_eq!(seen[1], texts.concat());
        // Only the item refused with 429 goes again.
        assert_eq!(seen[2], texts[1]);
        let dlq_dir = dir.path().join("dlq");
        let file = std::fs::read_dir(&dlq_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["id"], "id2");
        assert_eq!(v["document"]["n"], 2);
        assert_eq!(v["error"]["type"], "document_parsing_exception");
    }

    #[tokio::test]
    async fn too_large_requests_are_split() {
        let ok2 =
            r#"{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}"#;
        let (url, seen) = fake_cluster(vec![(413, "too large"), (200, ok2), (200, ok2)]).await;
        let dir = tempfile::tempdir().unwrap();
        let acks = StreamAcks::new(0, None);
        let texts = items(4);
        let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
        let mut b = batch(&refs, acks.register(4));
        let mut req = BulkRequest::new();
        let ack = std::mem::replace(&mut b.ack, BatchAck::untracked());
        req.push(&b, 0..4, ack);
        deliver(context(&url, dir.path(), false), req).await;
        assert_eq!(acks.acked_offset(), 4);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[1], texts[..2].concat());
        assert_eq!(seen[2], texts[2..].concat());
        assert!(!dir.path().join("dlq").exists());
    }

    /// A port nothing listens on.
    fn dead_url() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    }

    #[tokio::test]
    async fn a_failed_node_is_passed_over_until_its_time_comes() {
        let ok1 = r#"{"errors":false,"items":[{"create":{"status":201}}]}"#;
        let (live, seen) = fake_cluster(vec![(200, ok1), (200, ok1), (200, ok1)]).await;
        let mut c = ElasticsearchConfig::new("");
        c.urls = vec![dead_url(), live.clone()];
        c.compression = Compression::None;
        let client = Client::new(&c).unwrap();
        assert_eq!(client.nodes.len(), 2);
        assert!(client.url().contains(", "));
        let body = Bytes::from(items(1).concat());
        // Whichever node the round-robin starts at, the request ends at the live one.
        for _ in 0..2 {
            let r = client.bulk(body.clone()).await.unwrap();
            assert_eq!(r.items[0].status, 201);
        }
        assert_eq!(seen.lock().unwrap().len(), 2);
        {
            let h = client.nodes[0].health();
            assert!(h.failures >= 1);
            assert!(h.skip_until.is_some());
        }
        assert_eq!(client.nodes[1].health().failures, 0);
        // While passed over, the dead node is not even tried.
        client.nodes[0].health().skip_until = Some(Instant::now() + Duration::from_secs(3600));
        let failures = client.nodes[0].health().failures;
        client.bulk(body.clone()).await.unwrap();
        assert_eq!(client.nodes[0].health().failures, failures);
        // Its time come, it is tried again (and, still dead, passed over for longer).
        client.nodes[0].health().skip_until = Some(Instant::now());
        let tried_at = client.nodes[0].health().failures;
        assert_eq!(client.pick(&[false, true]), Some(0));
        assert_eq!(
            client.nodes[0].failed().1,
            (NODE_SKIP_BASE * (1 << tried_at)).min(NODE_SKIP_MAX)
        );
        for _ in 0..20 {
            client.nodes[0].failed();
        }
        assert_eq!(client.nodes[0].failed().1, NODE_SKIP_MAX);
        assert!(client.nodes[0].succeeded() > 20);
        assert_eq!(client.nodes[0].health().failures, 0);
        // Every node passed over: the request still goes out, to one of them.
        client.nodes[1].failed();
        assert!(client.pick(&[false, false]).is_some());
        assert_eq!(client.pick(&[true, false]), None);
    }

    #[tokio::test]
    async fn credentials_echoed_by_the_server_are_scrubbed() {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode("bob:hunter2-secret");
        let reply: &'static str = Box::leak(
            format!(
                r#"{{"error":{{"type":"security_exception","reason":"bad [Basic {token}] for bob:hunter2-secret"}},"status":401}}"#
            )
            .into_boxed_str(),
        );
        let (url, _) = fake_cluster(vec![(401, reply)]).await;
        let mut c = ElasticsearchConfig::new(url);
        c.username = Some("bob".into());
        c.password = Some("hunter2-secret".into());
        let client = Client::new(&c).unwrap();
        let e = client
            .json_request(Method::Get, "_index_template/x", None)
            .await
            .unwrap_err();
        let text = e.to_string();
        assert_eq!(e.status(), Some(401));
        assert!(
            !text.contains("hunter2") && !text.contains(&token),
            "{text}"
        );
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn client_identity_is_checked_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let pair = rcgen::generate_simple_self_signed(vec!["client".to_string()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["other".to_string()]).unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        let other_key = dir.path().join("o.pem");
        std::fs::write(&cert, pair.cert.pem()).unwrap();
        // An `EC PARAMETERS` block, as `openssl ecparam -genkey` writes, is dropped.
        std::fs::write(
            &key,
            format!(
                "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
                pair.signing_key.serialize_pem()
            ),
        )
        .unwrap();
        std::fs::write(&other_key, other.signing_key.serialize_pem()).unwrap();
        let pem = String::from_utf8(load_client_identity(&cert, &key).unwrap()).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
        assert!(pem.contains("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        assert!(!pem.contains("EC PARAMETERS"));
        let e = load_client_identity(&cert, &other_key).unwrap_err();
        assert!(matches!(e, ClientCertError::KeyMismatch { .. }), "{e}");
        let e = load_client_identity(&key, &key).unwrap_err();
        assert!(e.to_string().contains("no certificate found"), "{e}");
        let e = load_client_identity(&cert, &cert).unwrap_err();
        assert!(e.to_string().contains("no private key found"), "{e}");
        let missing = dir.path().join("missing.pem");
        let e = load_client_identity(&cert, &missing).unwrap_err();
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let mut c = ElasticsearchConfig::new("https://127.0.0.1:9200");
        c.client_cert = Some(cert);
        c.client_key = Some(key);
        c.username = Some("u".into());
        c.password = Some("p".into());
        assert!(Client::new(&c).is_ok());
    }
}
