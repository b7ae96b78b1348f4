//! A fault-injecting HTTP/1.1 reverse proxy for the delivery tests: it sits between `logpipe`
//! and the real server and, as the test sets it through shared atomics, answers `503` to a
//! share of whole requests, refuses a share of `_bulk` items with `429` (those items are taken
//! out of the request before it is forwarded, so they are really not indexed), answers `401`,
//! adds delay, or goes down (listener closed, open connections cut) and comes back on the same
//! port. It can also terminate TLS and require a client certificate.
//!
//! Plain std threads, one per connection, with keep-alive and `content-length` or chunked
//! request bodies; responses always carry a `content-length`. Forwarding uses a blocking
//! `reqwest` client, so upstream answers arrive decompressed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_rustls::rustls;

/// What the proxy does wrong, changeable while it runs.
#[derive(Debug, Default)]
pub struct Faults {
    /// Share of whole requests (per mille) answered `503` without forwarding.
    pub reject_request_permille: AtomicU32,
    /// Share of `_bulk` items (per mille) answered `429` without forwarding.
    pub reject_item_permille: AtomicU32,
    /// Delay before each request is handled, in milliseconds.
    pub delay_ms: AtomicU64,
    /// Answer every request `401`.
    pub unauthorized: AtomicBool,
    /// Put the request's `Authorization` header into the `401` error reason, like a careless
    /// server might.
    pub echo_auth: AtomicBool,
}

impl Faults {
    pub fn set_reject_requests(&self, permille: u32) {
        self.reject_request_permille
            .store(permille, Ordering::SeqCst);
    }

    pub fn set_reject_items(&self, permille: u32) {
        self.reject_item_permille.store(permille, Ordering::SeqCst);
    }

    pub fn set_delay_ms(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn set_unauthorized(&self, on: bool, echo_auth: bool) {
        self.unauthorized.store(on, Ordering::SeqCst);
        self.echo_auth.store(echo_auth, Ordering::SeqCst);
    }
}

/// What the proxy saw and did.
#[derive(Debug, Default)]
pub struct Counters {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    /// Requests sent on to the server.
    pub forwarded: AtomicU64,
    /// `_bulk` requests received (whatever became of them).
    pub bulk_requests: AtomicU64,
    /// `_bulk` requests the server answered after the proxy had delayed them (whether or not
    /// the answer reached the client).
    pub delayed_bulk_answers: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub rejected_items: AtomicU64,
    /// `_bulk` items answered `2xx` by the server, counted once the answer was written to the
    /// client's connection (which a client that gave up may never read).
    pub created_items: AtomicU64,
    /// `_bulk` items answered `409` (already indexed), counted the same way.
    pub conflict_items: AtomicU64,
    pub unauthorized: AtomicU64,
    /// Connections cut because the proxy went down.
    pub cut_connections: AtomicU64,
    /// Requests whose answer was dropped because the proxy went down meanwhile.
    pub dropped_answers: AtomicU64,
    /// TLS handshakes that completed with a client certificate.
    pub client_certs: AtomicU64,
    pub tls_failures: AtomicU64,
    /// Distinct `Authorization` header values received.
    pub authorizations: Mutex<Vec<String>>,
}

impl Counters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::SeqCst)
    }

    /// Items the client was told are indexed (`2xx` or `409`). An item can count twice when
    /// the proxy went down just as its answer left, so this is a cheap signal to wait for,
    /// not proof: the documents in the server are.
    pub fn settled_items(&self) -> u64 {
        Self::get(&self.created_items) + Self::get(&self.conflict_items)
    }
}

struct Shared {
    upstream: String,
    faults: Faults,
    counters: Counters,
    /// Wanted state: down (listener closed, connections cut).
    down: AtomicBool,
    /// Actual state of the accept thread's listener.
    listening: AtomicBool,
    stop: AtomicBool,
    /// Requests being handled, so that dropping the proxy can wait for them.
    active: AtomicU64,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    tls: Option<Arc<rustls::ServerConfig>>,
    http: reqwest::blocking::Client,
}

pub struct Proxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A plain HTTP proxy to `upstream` (`http://host:port`) on a free loopback port.
    pub fn start(upstream: &str) -> Proxy {
        Self::start_with(upstream, None)
    }

    /// A proxy that speaks TLS to its clients with `tls` (which may require client
    /// certificates), and plain HTTP to `upstream`.
    pub fn start_tls(upstream: &str, tls: Arc<rustls::ServerConfig>) -> Proxy {
        Self::start_with(upstream, Some(tls))
    }

    fn start_with(upstream: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .expect("proxy upstream client");
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            faults: Faults::default(),
            counters: Counters::default(),
            down: AtomicBool::new(false),
            listening: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            active: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            tls,
            http,
        });
        let s2 = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("test-proxy-accept".into())
            .spawn(move || accept_loop(s2, Some(listener), addr))
            .expect("proxy thread");
        Proxy {
            shared,
            addr,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Goes down (connections to the port are refused, open ones are cut) or comes back on the
    /// same port; returns once the listener is in the wanted state.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
        if down {
            let conns = std::mem::take(&mut *self.shared.conns.lock().unwrap());
            for (_, c) in conns {
                let _ = c.shutdown(std::net::Shutdown::Both);
                self.shared
                    .counters
                    .cut_connections
                    .fetch_add(1, Ordering::SeqCst);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.shared.listening.load(Ordering::SeqCst) == down {
            assert!(
                Instant::now() < deadline,
                "proxy listener did not {}",
                if down { "close" } else { "reopen" }
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for (_, c) in std::mem::take(&mut *self.shared.conns.lock().unwrap()) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        // Requests still on their way to the server finish before the test goes on to delete
        // its indices.
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn accept_loop(shared: Arc<Shared>, mut listener: Option<TcpListener>, addr: SocketAddr) {
    if let Some(l) = &listener {
        l.set_nonblocking(true).expect("nonblocking listener");
    }
    while !shared.stop.load(Ordering::SeqCst) {
        if shared.down.load(Ordering::SeqCst) {
            // Dropping the listener makes the kernel refuse new connections and reset those
            // waiting in the backlog.
            listener = None;
            shared.listening.store(false, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let Some(l) = &listener else {
            // std sets SO_REUSEADDR, so the port can be bound again at once; retried in case
            // something else took it meanwhile (then the test times out with a clear message).
            match TcpListener::bind(addr) {
                Ok(l) => {
                    l.set_nonblocking(true).expect("nonblocking listener");
                    listener = Some(l);
                    shared.listening.store(true, Ordering::SeqCst);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            continue;
        };
        match l.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_nodelay(true);
                shared.counters.connections.fetch_add(1, Ordering::SeqCst);
                let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
                if let Ok(clone) = stream.try_clone() {
                    shared.conns.lock().unwrap().insert(id, clone);
                }
                let s2 = Arc::clone(&shared);
                let _ = std::thread::Builder::new()
                    .name("test-proxy-conn".into())
                    .spawn(move || {
                        connection(&s2, stream);
                        s2.conns.lock().unwrap().remove(&id);
                    });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn connection(shared: &Shared, stream: TcpStream) {
    match &shared.tls {
        None => serve(shared, stream),
        Some(cfg) => {
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(cfg)) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            while tls.conn.is_handshaking() {
                if tls.conn.complete_io(&mut tls.sock).is_err() {
                    shared.counters.tls_failures.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
            if tls.conn.peer_certificates().is_some_and(|c| !c.is_empty()) {
                shared.counters.client_certs.fetch_add(1, Ordering::SeqCst);
            }
            serve(shared, tls)
        }
    }
}

/// One parsed request.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub close: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

fn serve<S: Read + Write>(shared: &Shared, stream: S) {
    let mut reader = BufReader::new(stream);
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return,
        };
        shared.counters.requests.fetch_add(1, Ordering::SeqCst);
        if shared.down.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst) {
            return;
        }
        shared.active.fetch_add(1, Ordering::SeqCst);
        let (status, body) = handle(shared, &req);
        shared.active.fetch_sub(1, Ordering::SeqCst);
        let is_bulk = req.method.eq_ignore_ascii_case("POST") && req.path().ends_with("/_bulk");
        let settled = if is_bulk && status == 200 {
            item_statuses(&body)
        } else {
            (0, 0)
        };
        if shared.down.load(Ordering::SeqCst) {
            // Went down while the server worked on it: the answer is lost, as with a crash.
            shared
                .counters
                .dropped_answers
                .fetch_add(1, Ordering::SeqCst);
            return;
        }
        let head_only = req.method.eq_ignore_ascii_case("HEAD");
        if write_response(reader.get_mut(), status, &body, head_only, req.close).is_err() {
            return;
        }
        let c = &shared.counters;
        c.created_items.fetch_add(settled.0, Ordering::SeqCst);
        c.conflict_items.fetch_add(settled.1, Ordering::SeqCst);
        if req.close {
            return;
        }
    }
}

/// The request's answer: status and JSON body.
fn handle(shared: &Shared, req: &Request) -> (u16, Vec<u8>) {
    let method = req.method.as_str();
    let faults = &shared.faults;
    let counters = &shared.counters;
    let delay = faults.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        std::thread::sleep(Duration::from_millis(delay));
        // A proxy that went down or away meanwhile must not forward: a late request could
        // recreate an index the test has already deleted.
        if shared.down.load(Ordering::SeqCst) || shared.stop.load(Ordering::SeqCst) {
            return (503, br#"{"error":"proxy: stopped","status":503}"#.to_vec());
        }
    }
    if let Some(auth) = req.header("authorization") {
        let mut seen = counters.authorizations.lock().unwrap();
        if !seen.iter().any(|a| a == auth) {
            seen.push(auth.to_string());
        }
    }
    let is_bulk = method.eq_ignore_ascii_case("POST") && req.path().ends_with("/_bulk");
    if is_bulk {
        counters.bulk_requests.fetch_add(1, Ordering::SeqCst);
    }
    if faults.unauthorized.load(Ordering::SeqCst) {
        counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        let reason = if faults.echo_auth.load(Ordering::SeqCst) {
            format!(
                "unable to authenticate with [{}] for REST request [{}]",
                req.header("authorization").unwrap_or("-"),
                req.target
            )
        } else {
            format!("unable to authenticate for REST request [{}]", req.target)
        };
        let body = json!({
            "error": {"type": "security_exception", "reason": reason},
            "status": 401
        });
        return (401, body.to_string().into_bytes());
    }
    if chance(faults.reject_request_permille.load(Ordering::SeqCst)) {
        counters.rejected_requests.fetch_add(1, Ordering::SeqCst);
        let body = json!({
            "error": {"type": "unavailable_shards_exception", "reason": "injected by the test proxy"},
            "status": 503
        });
        return (503, body.to_string().into_bytes());
    }
    let body = if req
        .header("content-encoding")
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
    {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&req.body[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return (
                400,
                br#"{"error":"proxy: bad gzip body","status":400}"#.to_vec(),
            );
        }
        out
    } else {
        req.body.clone()
    };
    let item_permille = faults.reject_item_permille.load(Ordering::SeqCst);
    if !is_bulk {
        return forward(shared, method, req, body);
    }
    if item_permille == 0 {
        let answer = forward(shared, method, req, body);
        if delay > 0 {
            counters.delayed_bulk_answers.fetch_add(1, Ordering::SeqCst);
        }
        return answer;
    }
    let split = split_bulk(&body, |_| chance(item_permille));
    counters
        .rejected_items
        .fetch_add(split.rejected() as u64, Ordering::SeqCst);
    if split.forward.is_empty() {
        let merged = merge_bulk_response(&json!({"took": 0, "errors": false, "items": []}), &split);
        return (200, merged.to_string().into_bytes());
    }
    let (status, answer) = forward(shared, method, req, split.forward.clone());
    if delay > 0 {
        counters.delayed_bulk_answers.fetch_add(1, Ordering::SeqCst);
    }
    if status != 200 {
        return (status, answer);
    }
    match serde_json::from_slice::<Value>(&answer) {
        Ok(v) => (
            200,
            merge_bulk_response(&v, &split).to_string().into_bytes(),
        ),
        Err(_) => (status, answer),
    }
}

/// Items of a `_bulk` answer with a `2xx` status, and with `409`.
fn item_statuses(body: &[u8]) -> (u64, u64) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (0, 0);
    };
    let mut out = (0, 0);
    for item in v["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let status = item
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|r| r["status"].as_u64())
            .unwrap_or(0);
        match status {
            200..=299 => out.0 += 1,
            409 => out.1 += 1,
            _ => {}
        }
    }
    out
}

fn chance(permille: u32) -> bool {
    permille > 0 && rand::random::<u32>() % 1000 < permille
}

/// Sends the request on; a `502` when the server cannot be reached.
fn forward(shared: &Shared, method: &str, req: &Request, body: Vec<u8>) -> (u16, Vec<u8>) {
    shared.counters.forwarded.fetch_add(1, Ordering::SeqCst);
    let Ok(m) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return (
            405,
            br#"{"error":"proxy: bad method","status":405}"#.to_vec(),
        );
    };
    let mut rb = shared
        .http
        .request(m, format!("{}{}", shared.upstream, req.target));
    for (name, value) in &req.headers {
        // Hop-by-hop headers and those describing the body as received (it is sent decoded).
        let skip = [
            "host",
            "connection",
            "keep-alive",
            "content-length",
            "transfer-encoding",
            "content-encoding",
            "accept-encoding",
            "te",
            "trailer",
            "upgrade",
        ];
        if !skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            rb = rb.header(name.as_str(), value.as_str());
        }
    }
    match rb.body(body).send() {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let bytes = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
            (status, bytes)
        }
        Err(e) => {
            let body =
                json!({"error": {"type": "proxy_error", "reason": e.to_string()}, "status": 502});
            (502, body.to_string().into_bytes())
        }
    }
}

/// Reads one request; `None` at a clean end of the connection.
pub fn read_request(r: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    // Tolerates stray empty lines between requests.
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let version = parts.next().unwrap_or("HTTP/1.1").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size_text = line.trim().split(';').next().unwrap_or("").to_string();
            let size = usize::from_str_radix(&size_text, 16)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "content-length"))?;
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    }
    let close = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
        || version.eq_ignore_ascii_case("HTTP/1.0");
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
        close,
    }))
}

fn write_response(
    w: &mut impl Write,
    status: u16,
    body: &[u8],
    head_only: bool,
    close: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        if head_only { 0 } else { body.len() }
    )
    .into_bytes();
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
    w.write_all(&out)?;
    w.flush()
}

/// A `_bulk` body with some items taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkSplit {
    /// The items kept, as NDJSON.
    pub forward: Vec<u8>,
    /// Per item of the original body, in order: its action (`create`, `index`, ...) and
    /// whether it was taken out.
    pub items: Vec<(String, bool)>,
}

impl BulkSplit {
    pub fn rejected(&self) -> usize {
        self.items.iter().filter(|(_, r)| *r).count()
    }
}

/// Splits a `_bulk` body into items (action line, plus a source line unless the action is
/// `delete`) and keeps those for which `reject(item number)` is false.
pub fn split_bulk(body: &[u8], mut reject: impl FnMut(usize) -> bool) -> BulkSplit {
    let mut lines = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    let mut out = BulkSplit {
        forward: Vec::new(),
        items: Vec::new(),
    };
    while let Some(action_line) = lines.next() {
        let action = serde_json::from_slice::<Value>(action_line)
            .ok()
            .and_then(|v| v.as_object().and_then(|o| o.keys().next().cloned()))
            .unwrap_or_else(|| "index".to_string());
        let source = if action == "delete" {
            None
        } else {
            lines.next()
        };
        let n = out.items.len();
        let rejected = reject(n);
        if !rejected {
            out.forward.extend_from_slice(action_line);
            out.forward.push(b'\n');
            if let Some(s) = source {
                out.forward.extend_from_slice(s);
                out.forward.push(b'\n');
            }
        }
        out.items.push((action, rejected));
    }
    out
}

/// The server's answer for the kept items with a `429` put back in place of each item taken
/// out; the server's answer as it is when its items do not match.
pub fn merge_bulk_response(upstream: &Value, split: &BulkSplit) -> Value {
    let kept = split.items.iter().filter(|(_, r)| !*r).count();
    let up_items = upstream["items"].as_array().cloned().unwrap_or_default();
    if up_items.len() != kept {
        return upstream.clone();
    }
    let mut up = up_items.into_iter();
    let mut items = Vec::with_capacity(split.items.len());
    let mut any_rejected = false;
    for (action, rejected) in &split.items {
        if *rejected {
            any_rejected = true;
            items.push(json!({ action.as_str(): {
                "status": 429,
                "error": {
                    "type": "es_rejected_execution_exception",
                    "reason": "rejected execution (injected by the test proxy)"
                }
            }}));
        } else if let Some(item) = up.next() {
            items.push(item);
        }
    }
    let errors = upstream["errors"].as_bool().unwrap_or(false) || any_rejected;
    let mut merged = json!({ "errors": errors, "items": items });
    if let Some(took) = upstream.get("took") {
        merged["took"] = took.clone();
    }
    merged
}

/// Resident memory of process `pid` in bytes, from `/proc/PID/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The read position of process `pid` in the open file `path`, from `/proc/PID/fdinfo`.
pub fn read_position(pid: u32, path: &std::path::Path) -> Option<u64> {
    let want = std::fs::canonicalize(path).ok()?;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if target != want {
            continue;
        }
        let fd = entry.file_name();
        let info =
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy())).ok()?;
        return info
            .lines()
            .find_map(|l| l.strip_prefix("pos:"))
            .and_then(|v| v.trim().parse().ok());
    }
    None
}
