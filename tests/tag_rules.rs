//! The tag stage as users meet it: `logpipe check` places a bad rule at FILE:LINE:COLUMN, and
//! `logpipe run` applies the built-in tags and the rules (add, set, index, drop) to what it
//! writes out.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_logpipe");

const HEADER: &str =
    "[[inputs]]\ntype = \"stdin\"\nparser = \"nginx_access\"\n\n[output.stdout]\n\n";

#[test]
fn check_places_a_bad_rule() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    // Line 8, column 16 is the `=` that should be `==`.
    let text = format!("{HEADER}[[tag]]\nwhen = 'status = 500'\nadd = ['x']\n");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(BIN)
        .args(["check", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:8:16: unknown operator `=`: write `==` to compare",
            cfg.display()
        )),
        "{stderr}"
    );
}

#[test]
fn run_applies_built_in_tags_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    let rules = r#"
[[tag]]
when = 'url.path in ["/healthz", "/readyz"]'
drop = true

[[tag]]
when = 'http.response.status_code >= 500 and url.path =~ "^/api/"'
add = ["api_error"]
set = { "event.kind" = "alert", "labels.team" = "payments" }
index = "alerts-{event.dataset}-%Y.%m.%d"
"#;
    std::fs::write(&cfg, format!("{HEADER}{rules}")).unwrap();
    let line = |path: &str, status: u16| {
        format!(
            "203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] \"GET {path} HTTP/1.1\" {status} 12 \"-\" \"curl/8.0\"\n"
        )
    };
    let input = [
        line("/healthz", 200),
        line("/api/v1/cart", 503),
        line("/login", 401),
        line("/", 200),
    ]
    .concat();

    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["run", "-c"])
        .arg(&cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    let docs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let paths: Vec<&str> = docs
        .iter()
        .map(|d| d["url"]["path"].as_str().unwrap_or(""))
        .collect();
    // The health check was dropped.
    assert_eq!(paths, ["/api/v1/cart", "/login", "/"], "{docs:?}");
    let tags = |d: &Value| -> Vec<String> {
        d["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(tags(&docs[0]), ["http_error", "api_error"]);
    assert_eq!(docs[0]["event"]["kind"], "alert");
    assert_eq!(docs[0]["labels"]["team"], "payments");
    assert_eq!(tags(&docs[1]), ["client_error", "authentication"]);
    assert!(docs[1]["labels"].is_null());
    assert!(tags(&docs[2]).is_empty(), "{}", docs[2]);
}
