//! Retention and `logpipe setup` against the real server of the tests (noida-db, which has no
//! ILM, so logpipe deletes the indices itself): `logpipe retention --dry-run` plans, the real
//! pass deletes exactly the indices past retention and never a name that does not parse under
//! the pattern, `logpipe run` deletes them at start, and `setup` is idempotent, says who
//! deletes old indices, and leaves a newer template alone.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{Duration as Days, Utc};
use common::*;

/// A name prefix of its own per test, so parallel tests and earlier runs do not meet.
fn prefix(test: &str) -> String {
    let n: u32 = rand::random();
    format!("lpret-{test}-{n:08x}")
}

fn write_config(dir: &Path, prefix: &str, extra: &str) -> PathBuf {
    let cfg = dir.join("pipeline.toml");
    let log = dir.join("app.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        &cfg,
        format!(
            r#"
[[inputs]]
type = "file"
paths = ["{log}"]
parser = "nginx_access"
poll_interval_ms = 50

[output.elasticsearch]
url = "${{ES_URL}}"
index = "{prefix}-{{event.dataset}}-%Y.%m.%d"
template_name = "{prefix}"
number_of_replicas = 0
{extra}
"#,
            log = log.display()
        ),
    )
    .unwrap();
    cfg
}

/// Runs the binary; (exit code, stdout, stderr).
fn logpipe(args: &[&str], data_dir: &Path) -> (i32, String, String) {
    let out = Command::new(logpipe_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("ES_URL", es_url())
        .output()
        .expect("run logpipe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn create_index(name: &str) {
    let (status, body) = es_put(name, &serde_json::json!({}));
    assert_eq!(status, 200, "create {name}: {body}");
}

/// The daily index of the day `ago` days before today (UTC).
fn dated(prefix: &str, ago: i64) -> String {
    let day = Utc::now().date_naive() - Days::days(ago);
    format!("{prefix}-nginx.access-{}", day.format("%Y.%m.%d"))
}

fn delete_templates(prefix: &str) {
    es_delete(&format!("_index_template/{prefix}"));
    for c in ["ecs-mappings", "settings"] {
        es_delete(&format!("_component_template/{prefix}-{c}"));
    }
}

/// The printed line of `index` (the first field of a line is the index name).
fn line_of<'a>(out: &'a str, index: &str) -> &'a str {
    out.lines()
        .find(|l| l.split("  ").next() == Some(index))
        .unwrap_or_else(|| panic!("no line for {index} in:\n{out}"))
}

/// Acceptance 4: indices of 40, 31, 30, 29 and 1 days ago with `retention_days = 30`, plus
/// names that do not parse under the pattern: the dry run lists them all with their decision
/// and deletes nothing; the real run deletes exactly the two past 30 days.
#[test]
fn retention_deletes_exactly_the_indices_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let p = prefix("acc4");
    let cfg = write_config(dir.path(), &p, "retention_days = 30");
    let data = dir.path().join("data");

    let old: Vec<String> = [40, 31].iter().map(|&a| dated(&p, a)).collect();
    let young: Vec<String> = [30, 29, 1].iter().map(|&a| dated(&p, a)).collect();
    let foreign = vec![
        format!("{p}-nginx.access-notadate"),
        format!("{p}-unrelated"),
        // A date, but not where the pattern has it.
        format!("{p}-nginx.access-2001.01.01-000001"),
    ];
    // Outside the listed wildcard: never even looked at.
    let outside = format!("{p}x-nginx.access-2001.01.01");
    for name in old.iter().chain(&young).chain(&foreign) {
        create_index(name);
    }
    create_index(&outside);
    let mut all: Vec<String> = old.iter().chain(&young).chain(&foreign).cloned().collect();
    all.sort();

    let (code, out, err) = logpipe(
        &["retention", "-c", cfg.to_str().unwrap(), "--dry-run"],
        &data,
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for (name, ago) in old.iter().zip([40, 31]) {
        let l = line_of(&out, name);
        assert!(
            l.contains(&format!("delete: {ago} days old, retention 30 days")),
            "{l}"
        );
    }
    for (name, age) in young.iter().zip(["30 days", "29 days", "1 day"]) {
        let l = line_of(&out, name);
        assert!(
            l.contains(&format!("kept: {age} old, retention 30 days")),
            "{l}"
        );
    }
    for name in &foreign {
        let l = line_of(&out, name);
        assert!(l.ends_with("-  kept: does not match pattern"), "{l}");
    }
    assert!(!out.contains(&outside), "{out}");
    // The date printed is the index's own.
    let day40 = (Utc::now().date_naive() - Days::days(40)).to_string();
    assert!(line_of(&out, &old[0]).contains(&format!("  {day40}  ")));
    assert!(out.contains("8 indices: 2 past retention, 6 kept"), "{out}");
    assert_eq!(
        indices(&format!("{p}-*")),
        all,
        "the dry run deleted nothing"
    );

    let (code, out, err) = logpipe(&["retention", "-c", cfg.to_str().unwrap()], &data);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    for name in &old {
        assert!(line_of(&out, name).contains("deleted: "), "{out}");
    }
    assert!(
        out.contains("8 indices: 2 deleted, 0 failed, 6 kept"),
        "{out}"
    );
    let mut left: Vec<String> = young.iter().chain(&foreign).cloned().collect();
    left.sort();
    assert_eq!(indices(&format!("{p}-*")), left);
    assert_eq!(indices(&outside), vec![outside.clone()]);

    // A second pass finds nothing more to do.
    let (code, out, _) = logpipe(&["retention", "-c", cfg.to_str().unwrap()], &data);
    assert_eq!(code, 0);
    assert!(
        out.contains("6 indices: 0 deleted, 0 failed, 6 kept"),
        "{out}"
    );

    for name in left.iter().chain(std::iter::once(&outside)) {
        es_delete(name);
    }
}

/// Per-dataset retention: the dataset's own days win over `retention_days`.
#[test]
fn retention_per_dataset_overrides_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let p = prefix("ds");
    let cfg = write_config(
        dir.path(),
        &p,
        "retention_days = 30\nretention_days_by_dataset = { \"nginx.access\" = 90 }",
    );
    let day = |ago: i64| {
        (Utc::now().date_naive() - Days::days(ago))
            .format("%Y.%m.%d")
            .to_string()
    };
    let access = format!("{p}-nginx.access-{}", day(60));
    let error = format!("{p}-nginx.error-{}", day(60));
    create_index(&access);
    create_index(&error);
    let (code, out, err) = logpipe(
        &["retention", "-c", cfg.to_str().unwrap()],
        &dir.path().join("data"),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        line_of(&out, &access)
            .contains("kept: 60 days old, retention 90 days (dataset nginx.access)"),
        "{out}"
    );
    assert!(line_of(&out, &error).contains("deleted: 60 days old, retention 30 days"));
    assert_eq!(indices(&format!("{p}-*")), vec![access.clone()]);
    es_delete(&access);
}

/// `logpipe run` deletes the indices past retention at start, without waiting for an event.
#[test]
fn run_deletes_indices_past_retention_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = prefix("run");
    let cfg = write_config(dir.path(), &p, "retention_days = 30");
    let old = dated(&p, 45);
    let young = dated(&p, 3);
    let foreign = format!("{p}-nginx.access-old");
    for name in [&old, &young, &foreign] {
        create_index(name);
    }
    let mut run = Running::start(&cfg, &dir.path().join("data"), &dir.path().join("run.log"));
    let gone = run.wait_until(Duration::from_secs(60), || {
        !indices(&format!("{p}-*")).contains(&old)
    });
    assert!(gone, "not deleted; log:\n{}", run.log_text());
    let mut left = vec![young.clone(), foreign.clone()];
    left.sort();
    assert_eq!(indices(&format!("{p}-*")), left);
    let log = run.log_text();
    assert!(log.contains("index past retention deleted"), "{log}");
    assert!(log.contains("no ILM in the cluster"), "{log}");
    run.signal(libc::SIGTERM);
    let status = run.wait_exit(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "{}", run.log_text());
    for name in left {
        es_delete(&name);
    }
    delete_templates(&p);
}

/// Acceptance 5: `logpipe setup` twice is idempotent (the second run changes nothing and says
/// so), prints what it installed and who deletes old indices, and a newer template in the
/// cluster is not overwritten.
#[test]
fn setup_is_idempotent_and_keeps_a_newer_template() {
    let dir = tempfile::tempdir().unwrap();
    let p = prefix("setup");
    let cfg = write_config(dir.path(), &p, "retention_days = 30");
    let data = dir.path().join("data");

    let (code, first, err) = logpipe(&["setup", "-c", cfg.to_str().unwrap()], &data);
    assert_eq!(code, 0, "{first}\n{err}");
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), 4, "{first}");
    assert!(lines[0].starts_with(&format!("component template {p}-ecs-mappings: installed")));
    assert!(lines[1].starts_with(&format!("component template {p}-settings: installed")));
    assert!(lines[2].starts_with(&format!("index template {p}: installed")));
    assert_eq!(
        lines[3],
        "ILM not available: logpipe deletes indices past 30 days itself"
    );
    let (_, before) = es_get(&format!("_index_template/{p}"));

    let (code, second, err) = logpipe(&["setup", "-c", cfg.to_str().unwrap()], &data);
    assert_eq!(code, 0, "{second}\n{err}");
    let lines: Vec<&str> = second.lines().collect();
    assert_eq!(lines.len(), 4, "{second}");
    for l in &lines[..3] {
        assert!(l.ends_with("unchanged"), "{second}");
    }
    assert_eq!(
        lines[3],
        "ILM not available: logpipe deletes indices past 30 days itself"
    );
    let (_, after) = es_get(&format!("_index_template/{p}"));
    assert_eq!(before, after);

    // A newer logpipe's template: kept as it is, and setup still succeeds.
    let newer = serde_json::json!({
        "index_patterns": [format!("{p}-*")],
        "priority": 200,
        "_meta": {"managed_by": "logpipe", "version": 999}
    });
    let (status, body) = es_put(&format!("_index_template/{p}"), &newer);
    assert_eq!(status, 200, "{body}");
    let (code, third, err) = logpipe(&["setup", "-c", cfg.to_str().unwrap()], &data);
    assert_eq!(code, 0, "{third}\n{err}");
    assert!(
        third.contains(&format!(
            "index template {p}: version 999 from a newer logpipe is kept"
        )),
        "{third}"
    );
    let (_, t) = es_get(&format!("_index_template/{p}"));
    assert_eq!(
        t["index_templates"][0]["index_template"]["_meta"]["version"],
        999
    );
    delete_templates(&p);
}

/// A configuration whose index name has no date cannot have a retention.
#[test]
fn retention_needs_a_dated_index_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        r#"
[[inputs]]
type = "stdin"
parser = "json"

[output.elasticsearch]
url = "http://127.0.0.1:9"
index = "logs-{event.dataset}"
retention_days = 30
"#,
    )
    .unwrap();
    let (code, out, err) = logpipe(
        &["retention", "-c", cfg.to_str().unwrap()],
        &dir.path().join("data"),
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("no date"), "{err}");
}
