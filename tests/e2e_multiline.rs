//! Issue 4, acceptance 3: multi-line records through `logpipe run` with a real file input:
//! a Java stack trace and a PostgreSQL statement become single events, and a group that never
//! ends is cut by `max_lines` and by the timeout.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn read_docs(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn stack_traces_statements_and_endless_groups() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let out = dir.path().join("out.ndjson");
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[inputs]]
type = "file"
paths = ["{logs}/app.log"]
multiline = {{ start = '^\d{{4}}-\d{{2}}-\d{{2}} ', max_lines = 50, timeout_ms = 300 }}
poll_interval_ms = 20

[[inputs]]
type = "file"
paths = ["{logs}/postgresql.log"]
parser = "postgresql"
poll_interval_ms = 20

[output.file]
path = "{out}"
"#,
            logs = logs.display(),
            out = out.display()
        ),
    )
    .unwrap();
    let java = "2026-11-22 10:00:00,123 ERROR [main] c.e.Service - request failed\n\
java.lang.IllegalStateException: connection reset\n\
\tat com.example.Db.query(Db.java:42)\n\
\tat com.example.Service.handle(Service.java:17)\n\
Caused by: java.net.SocketException: reset\n\
\t... 2 more\n\
2026-11-22 10:00:01,000 INFO [main] c.e.Service - recovered\n";
    append(&logs.join("app.log"), java);
    let pg =
        "2026-11-22 10:00:02.345 UTC [4242] LOG:  duration: 1523.456 ms  statement: SELECT o.id,\n\
\t       o.total\n\
\tFROM orders o\n\
\tWHERE o.created_at > now() - interval '1 day'\n\
2026-11-22 10:00:03.000 UTC [4242] ERROR:  relation \"missing\" does not exist at character 15\n\
2026-11-22 10:00:03.000 UTC [4242] STATEMENT:  SELECT * FROM missing\n";
    append(&logs.join("postgresql.log"), pg);

    let mut run = Running::start(&cfg, &dir.path().join("data"), &dir.path().join("run.log"));
    // An endless group: 120 continuation lines under one start line, nothing after it.
    let mut endless = String::from("2026-11-22 10:00:05,000 ERROR [worker] dump follows\n");
    for i in 0..120 {
        endless.push_str(&format!("\tframe {i}\n"));
    }
    append(&logs.join("app.log"), &endless);

    // 2 Java events + 3 for the endless group (50 + 50 + 21 lines), 2 PostgreSQL entries.
    let ok = run.wait_until(Duration::from_secs(30), || read_docs(&out).len() >= 7);
    let docs = read_docs(&out);
    assert!(
        ok,
        "{} documents: {docs:?}\nlog:\n{}",
        docs.len(),
        run.log_text()
    );
    run.signal(libc::SIGTERM);
    assert!(run
        .wait_exit(Duration::from_secs(30))
        .is_some_and(|s| s.success()));

    let app: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            d["log"]["file"]["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("app.log"))
        })
        .collect();
    let messages: Vec<&str> = app.iter().filter_map(|d| d["message"].as_str()).collect();
    assert_eq!(app.len(), 5, "{messages:#?}");
    assert!(
        messages[0].starts_with("2026-11-22 10:00:00,123 ERROR")
            && messages[0].ends_with("\t... 2 more"),
        "{messages:#?}"
    );
    assert_eq!(messages[0].lines().count(), 6);
    assert_eq!(
        messages[1],
        "2026-11-22 10:00:01,000 INFO [main] c.e.Service - recovered"
    );
    assert_eq!(messages[2].lines().count(), 50, "cut at max_lines");
    assert_eq!(messages[3].lines().count(), 50);
    assert_eq!(
        messages[4].lines().count(),
        21,
        "the rest, sent by the timeout"
    );

    let pg: Vec<&Value> = docs
        .iter()
        .filter(|d| d["event"]["dataset"] == "postgresql.log")
        .collect();
    assert_eq!(pg.len(), 2, "{pg:#?}");
    let query = pg[0]["postgresql"]["log"]["query"]
        .as_str()
        .unwrap_or_default();
    assert!(
        query.contains("FROM orders o") && query.contains("interval '1 day'"),
        "{:#}",
        pg[0]
    );
    assert_eq!(pg[0]["event"]["duration"], 1_523_456_000i64);
    assert_eq!(pg[1]["log"]["level"], "error");
    assert!(
        pg[1]["postgresql"]["log"]["query"]
            .as_str()
            .is_some_and(|q| q.contains("FROM missing")),
        "{:#}",
        pg[1]
    );
}
