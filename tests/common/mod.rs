//! Shared helpers of the end-to-end tests: the real `logpipe` binary against a real
//! Elasticsearch-compatible server (`ES_URL`, or the local one `scripts/es-local.sh` starts).
#![allow(dead_code)]

pub mod proxy;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn logpipe_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_logpipe"))
}

/// URL of the server: `ES_URL`, or the local server started (once) by `scripts/es-local.sh`.
pub fn es_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("ES_URL") {
            if !u.is_empty() {
                return u.trim_end_matches('/').to_string();
            }
        }
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/es-local.sh"))
            .arg("start")
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/es-local.sh start");
        assert!(out.status.success(), "scripts/es-local.sh start failed");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_end_matches('/')
            .to_string()
    })
    .clone()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

pub fn es_get(path: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}/{}", es_url(), path.trim_start_matches('/')))
        .send()
        .expect("GET");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

pub fn es_post(path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/{}", es_url(), path.trim_start_matches('/')))
        .json(body)
        .send()
        .expect("POST");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

pub fn es_put(path: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .put(format!("{}/{}", es_url(), path.trim_start_matches('/')))
        .json(body)
        .send()
        .expect("PUT");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

pub fn es_delete(path: &str) {
    let _ = client()
        .delete(format!("{}/{}", es_url(), path.trim_start_matches('/')))
        .send();
}

/// Names of the indices matching `pattern` (`prefix*`).
pub fn indices(pattern: &str) -> Vec<String> {
    let (_, v) = es_get(&format!("_cat/indices/{pattern}?format=json"));
    let mut names: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["index"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub fn delete_indices(pattern: &str) {
    for name in indices(pattern) {
        es_delete(&name);
    }
}

pub fn count(pattern: &str) -> u64 {
    let _ = es_post(&format!("{pattern}/_refresh"), &Value::Null);
    let (status, v) = es_get(&format!("{pattern}/_count"));
    if status != 200 {
        return 0;
    }
    v["count"].as_u64().unwrap_or(0)
}

/// Every document of the indices matching `pattern` (`_source` plus `_index` and `_id`).
pub fn all_docs(pattern: &str) -> Vec<Value> {
    let _ = es_post(&format!("{pattern}/_refresh"), &Value::Null);
    let (_, v) = es_post(
        &format!("{pattern}/_search"),
        &serde_json::json!({"size": 10000, "query": {"match_all": {}}}),
    );
    v["hits"]["hits"].as_array().cloned().unwrap_or_default()
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// A running `logpipe run` whose stderr goes to a file in its work dir.
pub struct Running {
    pub child: Child,
    pub log: PathBuf,
}

impl Running {
    pub fn start(config: &Path, data_dir: &Path, log: &Path) -> Running {
        Self::start_in(
            config,
            data_dir,
            log,
            &std::env::current_dir().expect("cwd"),
        )
    }

    /// Like `start`, with `cwd` as the working directory (relative paths in the config).
    pub fn start_in(config: &Path, data_dir: &Path, log: &Path, cwd: &Path) -> Running {
        let stderr = std::fs::File::create(log).expect("log file");
        let child = Command::new(logpipe_bin())
            .current_dir(cwd)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("run")
            .arg("-c")
            .arg(config)
            .env("ES_URL", es_url())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn logpipe");
        Running {
            child,
            log: log.to_path_buf(),
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for exit; the exit code, or None when it did not end in time.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Like [`wait_until`], but gives up at once when the process has exited.
    pub fn wait_until(&mut self, timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if f() {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return f();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        f()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One NGINX combined line with a unique marker in the path.
pub fn nginx_line(day: u32, month: &str, year: u32, h: u32, m: u32, s: u32, n: usize) -> String {
    format!(
        "203.0.113.{} - - [{:02}/{}/{}:{:02}:{:02}:{:02} +0000] \"GET /item/{} HTTP/1.1\" 200 {} \"-\" \"curl/8.4.0\"\n",
        n % 250 + 1,
        day,
        month,
        year,
        h,
        m,
        s,
        n,
        100 + n
    )
}

pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    f.write_all(text.as_bytes()).expect("append");
    f.sync_data().expect("sync");
}

/// Every document of a single-file run, paged with `search_after` on `log.offset` (unique per
/// line of one file), so more than one search page can be checked.
pub fn all_docs_by_offset(pattern: &str) -> Vec<Value> {
    all_docs_sorted(pattern, "log.offset")
}

/// Every document, paged with `search_after` on `field`, a numeric field unique per document.
pub fn all_docs_sorted(pattern: &str, field: &str) -> Vec<Value> {
    let _ = es_post(&format!("{pattern}/_refresh"), &Value::Null);
    let mut out = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let mut q =
            serde_json::json!({"size": 5000, "sort": [{field: "asc"}], "query": {"match_all": {}}});
        if let Some(a) = &after {
            q["search_after"] = serde_json::json!([a]);
        }
        let (_, v) = es_post(&format!("{pattern}/_search"), &q);
        let hits = v["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            return out;
        }
        after = hits.last().map(|h| {
            field
                .split('.')
                .fold(&h["_source"], |v, seg| &v[seg])
                .clone()
        });
        out.extend(hits);
    }
}
