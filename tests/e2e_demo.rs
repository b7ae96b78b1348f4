//! The demo pipeline (pipelines/demo.toml) over the bundled fixtures into Elasticsearch: the
//! built-in tags, GeoIP and anonymization show up on the indexed documents, each tag exactly
//! where its condition holds (issue 5, acceptance 3).

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const INDEX_PREFIX: &str = "e2edemo-";

fn tags(doc: &Value) -> Vec<String> {
    doc["_source"]["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn field<'a>(doc: &'a Value, dotted: &str) -> &'a Value {
    let mut v = &doc["_source"];
    for part in dotted.split('.') {
        v = &v[part];
    }
    v
}

/// The fixture sets of `pipelines/demo.toml` (parser, envelope, file), as in `scripts/demo.sh`.
const FIXTURE_SETS: &[(&str, Option<&str>, &str)] = &[
    ("nginx_access", None, "fixtures/nginx/access.log"),
    ("nginx_error", None, "fixtures/nginx/error.log"),
    ("json", None, "fixtures/app/app.json"),
    ("postgresql", None, "fixtures/postgresql/postgresql.log"),
    ("postgresql", None, "fixtures/postgresql/postgresql.csv"),
    ("postgresql", None, "fixtures/postgresql/postgresql.json"),
    ("syslog", None, "fixtures/syslog/syslog.log"),
    (
        "nginx_access",
        Some("docker"),
        "fixtures/containers/docker-nginx.log",
    ),
];

fn expected_records(root: &std::path::Path) -> usize {
    FIXTURE_SETS
        .iter()
        .map(|(parser, envelope, file)| {
            let mut cmd = std::process::Command::new(logpipe_bin());
            cmd.current_dir(root).args(["parse", "--format", parser]);
            if let Some(e) = envelope {
                cmd.args(["--envelope", e]);
            }
            let input = std::fs::File::open(root.join(file)).unwrap();
            let out = cmd.stdin(input).output().unwrap();
            assert!(out.status.success(), "parse {file}: {out:?}");
            out.stdout.iter().filter(|&&b| b == b'\n').count()
        })
        .sum()
}

#[test]
fn demo_pipeline_tags_enriches_and_anonymizes() {
    let root = repo_root();
    let demo = std::fs::read_to_string(root.join("pipelines/demo.toml")).unwrap();
    // Same pipeline, own indices and template, so other tests and the demo are not disturbed.
    let header = "[output.elasticsearch]\n";
    assert!(demo.contains(header), "demo.toml has no ES output");
    let text = demo.replace(
        header,
        &format!(
            "{header}index = \"{INDEX_PREFIX}{{event.dataset}}-%Y.%m.%d\"\ntemplate_name = \"e2edemo\"\n"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("demo.toml");
    std::fs::write(&cfg, text).unwrap();
    delete_indices(&format!("{INDEX_PREFIX}*"));

    // Relative paths in demo.toml are from the repository root, like scripts/demo.sh runs it.
    let mut run = Running::start_in(
        &cfg,
        &dir.path().join("data"),
        &dir.path().join("log"),
        &root,
    );
    let pattern = format!("{INDEX_PREFIX}*");
    let expected = expected_records(&root);
    let settled = run.wait_until(Duration::from_secs(120), || {
        count(&pattern) >= expected as u64
    });
    run.signal(libc::SIGTERM);
    assert!(run.wait_exit(Duration::from_secs(30)).is_some());
    assert!(
        settled,
        "{} of {expected} records indexed: {}",
        count(&pattern),
        run.log_text()
    );

    let log = run.log_text();
    assert!(!log.contains("panicked"), "a worker panicked:\n{log}");
    let docs = all_docs(&pattern);
    // Every record of the fixtures, counted as `scripts/demo.sh` counts them: logpipe's own
    // `parse` assembles multi-line records exactly as the pipeline does.
    assert_eq!(docs.len(), expected, "indexed documents vs fixture records");
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for doc in &docs {
        let t = tags(doc);
        for tag in &t {
            *seen.entry(tag.clone()).or_default() += 1;
        }
        if let Some(status) = field(doc, "http.response.status_code").as_i64() {
            assert_eq!(t.contains(&"http_error".into()), status >= 500, "{doc}");
            assert_eq!(
                t.contains(&"client_error".into()),
                (400..500).contains(&status),
                "{doc}"
            );
            if status == 401 || status == 403 {
                assert!(t.contains(&"authentication".into()), "{doc}");
            }
        }
        let dataset = field(doc, "event.dataset").as_str().unwrap_or("");
        let level = field(doc, "log.level")
            .as_str()
            .unwrap_or("")
            .to_ascii_uppercase();
        if dataset.starts_with("postgresql") && (level == "ERROR" || level == "FATAL") {
            assert!(t.contains(&"db_error".into()), "{doc}");
        }
        if matches!(
            level.as_str(),
            "ERROR" | "FATAL" | "CRITICAL" | "CRIT" | "ALERT" | "EMERG" | "PANIC"
        ) {
            assert!(t.contains(&"error".into()), "{doc}");
        }
        // Anonymization: no full IPv4 client address survives, GeoIP saw it first.
        if let Some(ip) = field(doc, "source.ip").as_str() {
            if let Ok(std::net::IpAddr::V4(v4)) = ip.parse::<std::net::IpAddr>() {
                assert_eq!(v4.octets()[3], 0, "untruncated address in {doc}");
            }
        }
    }
    for tag in [
        "http_error",
        "client_error",
        "authentication",
        "db_error",
        "error",
    ] {
        assert!(
            seen.get(tag).copied().unwrap_or(0) > 0,
            "no `{tag}` tag: {seen:?}"
        );
    }
    let with_geo = docs
        .iter()
        .filter(|d| field(d, "source.geo.country_iso_code").is_string())
        .count();
    assert!(with_geo > 0, "no GeoIP fields on any document");
    delete_indices(&pattern);
}
