//! Issue 5 acceptance: anonymization end to end. A generated corpus (NGINX access lines with
//! secrets in query strings, referrers and user names; JSON application logs with secret fields
//! and personal data in messages; syslog lines with e-mails, phones and `Authorization`
//! headers), at least 200 planted values in every supported form, goes through the real
//! `logpipe run` into a real Elasticsearch-compatible server with an `[anonymize]` table. Every
//! document is then read back: no planted value may appear anywhere in it, and its redacted form
//! must be where it belongs. A clean corpus of look-alikes (order numbers, timestamps, versions,
//! UUIDs, byte counts, ids in paths) goes through the same run and must come out with no mask
//! and its values intact.
//!
//! The corpus generator is `fixtures/privacy/corpus.rs` (deterministic; set
//! `PRIVACY_CORPUS_DIR` to also write the files there).

mod common;
#[path = "../fixtures/privacy/corpus.rs"]
mod corpus;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use corpus::{Expect, Line};
use serde_json::Value;

const PREFIX: &str = "privtest";
const KEY: &str = "privacy-acceptance-key-0123456789";

fn write_config(dir: &Path) -> std::path::PathBuf {
    let key_file = dir.join("pseudonym.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let d = dir.display();
    let cfg = dir.join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[pipeline]
workers = 2
batch_events = 500

[[inputs]]
type = "file"
paths = ["{d}/nginx-*.log"]
parser = "nginx_access"
poll_interval_ms = 50
glob_interval_ms = 200

[[inputs]]
type = "file"
paths = ["{d}/app-*.json"]
parser = "json"
poll_interval_ms = 50
glob_interval_ms = 200

[[inputs]]
type = "file"
paths = ["{d}/syslog-*.log"]
parser = "syslog"
poll_interval_ms = 50
glob_interval_ms = 200

[anonymize]
ip = {{ mode = "truncate", ipv4_prefix = 24, ipv6_prefix = 48 }}
pseudonymize = {{ fields = ["user.name"], key_file = "{key}" }}
redact = ["password", "api_key", "token", "credit_card", "ssn", "email", "phone"]

[output.elasticsearch]
url = "${{ES_URL}}"
index = "{PREFIX}-{{event.dataset}}-%Y.%m.%d"
template_name = "{PREFIX}"
batch_max_events = 500
batch_timeout_ms = 200
"#,
            key = key_file.display()
        ),
    )
    .unwrap();
    cfg
}

/// `needle` in `hay` as a token: not inside a longer word, number or address.
fn contains_token(hay: &str, needle: &str) -> bool {
    let h = hay.as_bytes();
    hay.match_indices(needle).any(|(p, _)| {
        let e = p + needle.len();
        let before_ok = p == 0 || !h[p - 1].is_ascii_alphanumeric();
        let after_ok = e >= h.len()
            || !(h[e].is_ascii_alphanumeric()
                || (h[e] == b'.' && h.get(e + 1).is_some_and(u8::is_ascii_digit)));
        before_ok && after_ok
    })
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

fn field<'a>(source: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(source, |v, seg| &v[seg])
}

/// Byte offset of each line in the file the lines are written to.
fn offsets<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<u64> {
    let mut at = 0;
    lines
        .map(|l| {
            let o = at;
            at += l.len() as u64 + 1;
            o
        })
        .collect()
}

/// The pseudonym the stage must produce: HMAC-SHA256 under the key, domain byte 0, 16 hex.
fn expected_pseudonym(value: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, KEY.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(&[0]);
    ctx.update(value.as_bytes());
    let tag = ctx.sign();
    let hex: String = tag.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("anon-{hex}")
}

#[test]
fn planted_values_never_reach_elasticsearch_and_clean_values_are_intact() {
    let corpus = corpus::generate();
    let counts = corpus.form_counts();
    assert!(counts.len() >= 40, "forms: {counts:?}");
    for (form, n) in &counts {
        assert!(*n >= 200, "only {n} planted values in form {form}");
    }
    let planted_total: usize = counts.values().sum();

    let dir = tempfile::tempdir().unwrap();
    if let Ok(out) = std::env::var("PRIVACY_CORPUS_DIR") {
        corpus.write_to(Path::new(&out)).unwrap();
    }
    delete_indices(&format!("{PREFIX}-*"));
    let cfg = write_config(dir.path());
    corpus.write_to(dir.path()).unwrap();
    let total = (corpus.nginx.len()
        + corpus.json.len()
        + corpus.syslog.len()
        + corpus.clean_nginx.len()
        + corpus.clean_json.len()
        + corpus.clean_syslog.len()) as u64;

    let mut run = Running::start(
        &cfg,
        &dir.path().join("data"),
        &dir.path().join("logpipe.log"),
    );
    let pattern = format!("{PREFIX}-*");
    let ok = run.wait_until(Duration::from_secs(120), || count(&pattern) >= total);
    assert!(
        ok,
        "{} of {total} documents indexed; log:\n{}",
        count(&pattern),
        run.log_text()
    );
    run.signal(libc::SIGTERM);
    let status = run
        .wait_exit(Duration::from_secs(30))
        .expect("stops on SIGTERM");
    assert!(status.success(), "{}", run.log_text());
    let log = run.log_text();
    assert!(!log.contains(KEY), "the key must never be logged");

    let docs = all_docs(&pattern);
    assert_eq!(docs.len() as u64, total, "every line is one document");

    // (file name, offset) -> document source.
    let mut by_line: HashMap<(String, u64), &Value> = HashMap::new();
    for d in &docs {
        let src = &d["_source"];
        let path = field(src, "log.file.path").as_str().unwrap_or_default();
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let offset = field(src, "log.offset").as_u64().unwrap_or(u64::MAX);
        assert!(
            !src["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "_parse_failure")),
            "a corpus line failed to parse: {src}"
        );
        by_line.insert((name, offset), src);
    }

    // Planted corpus: nothing in clear, the masked form where it belongs.
    let mut checked = 0;
    let planted_files: [(&str, &[Line]); 3] = [
        ("nginx-planted.log", &corpus.nginx),
        ("app-planted.json", &corpus.json),
        ("syslog-planted.log", &corpus.syslog),
    ];
    for (file, lines) in planted_files {
        let offs = offsets(lines.iter().map(|l| l.text.as_str()));
        for (line, off) in lines.iter().zip(offs) {
            let src = by_line
                .get(&(file.to_string(), off))
                .unwrap_or_else(|| panic!("no document for {file} line {}", line.seq));
            let serialized = src.to_string();
            let mut values = Vec::new();
            strings(src, &mut values);
            for p in &line.planted {
                for f in &p.forbidden {
                    assert!(
                        !contains_token(&serialized, f),
                        "{}: `{f}` kept in clear in {file} line {}: {serialized}",
                        p.form,
                        line.seq
                    );
                }
                match &p.expect {
                    Expect::Contains(s) => assert!(
                        values.iter().any(|v| v.contains(s.as_str())),
                        "{}: `{s}` missing in {file} line {}: {serialized}",
                        p.form,
                        line.seq
                    ),
                    Expect::Field(path, want) => assert_eq!(
                        field(src, path).as_str(),
                        Some(want.as_str()),
                        "{}: {path} in {file} line {}: {serialized}",
                        p.form,
                        line.seq
                    ),
                    Expect::FieldPrefix(path, want) => assert!(
                        field(src, path)
                            .as_str()
                            .is_some_and(|v| v.starts_with(want.as_str())),
                        "{}: {path} in {file} line {}: {serialized}",
                        p.form,
                        line.seq
                    ),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, planted_total);

    // The user name pseudonym is the keyed HMAC of the name, the same in `message`.
    for (line, off) in corpus
        .nginx
        .iter()
        .zip(offsets(corpus.nginx.iter().map(|l| l.text.as_str())))
    {
        let src = by_line[&("nginx-planted.log".to_string(), off)];
        let user = line.text.split(' ').nth(2).unwrap_or_default();
        let want = expected_pseudonym(user);
        assert_eq!(field(src, "user.name").as_str(), Some(want.as_str()));
        let message = field(src, "message").as_str().unwrap_or_default();
        assert!(message.contains(&format!(" - {want} [")), "{message}");
        let ip = field(src, "source.ip").as_str().unwrap_or_default();
        assert_eq!(field(src, "source.address").as_str(), Some(ip));
        assert!(message.starts_with(&format!("{ip} - ")), "{message}");
    }

    // Clean corpus: no mask anywhere, the messages and values byte for byte. Addresses are
    // personal data and always truncated, so the clean lines use network addresses (x.y.z.0),
    // which truncation leaves as they are.
    let clean_files: [(&str, &[(String, String)]); 3] = [
        ("nginx-clean.log", &corpus.clean_nginx),
        ("app-clean.json", &corpus.clean_json),
        ("syslog-clean.log", &corpus.clean_syslog),
    ];
    for (file, lines) in clean_files {
        let offs = offsets(lines.iter().map(|l| l.0.as_str()));
        for ((line, message), off) in lines.iter().zip(offs) {
            let src = by_line
                .get(&(file.to_string(), off))
                .unwrap_or_else(|| panic!("no document for {file}: {line}"));
            let serialized = src.to_string();
            assert!(
                !serialized.contains('*'),
                "a mask in a clean document of {file}: {serialized}"
            );
            assert_eq!(
                field(src, "message").as_str(),
                Some(message.as_str()),
                "{file}: {line}"
            );
            if file.starts_with("app") {
                let original: Value = serde_json::from_str(line).unwrap();
                for key in [
                    "order_id",
                    "version",
                    "bytes",
                    "duration_ms",
                    "max_tokens",
                    "token_count",
                    "password_reset_requested",
                    "secret_rotation_days",
                ] {
                    assert_eq!(src[key], original[key], "{key} in {serialized}");
                }
                assert_eq!(field(src, "trace.id"), &original["request_id"]);
            }
            if file.starts_with("nginx") {
                let address = line.split(' ').next().unwrap_or_default();
                assert_eq!(field(src, "source.ip").as_str(), Some(address));
            }
        }
    }

    // `source.ip` stayed an `ip` field: anonymized addresses are still addresses.
    let (_, mapping) = es_get(&format!("{PREFIX}-nginx.access-2031.03.14/_mapping"));
    let props = &mapping[format!("{PREFIX}-nginx.access-2031.03.14")]["mappings"]["properties"];
    assert_eq!(
        props["source"]["properties"]["ip"]["type"], "ip",
        "{mapping}"
    );

    delete_indices(&pattern);
}
