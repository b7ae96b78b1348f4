//! `logpipe run` end to end: a file tailed while it grows, documents in date-named indices of a
//! real server, and exactly-once delivery across a SIGKILL and restart.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::*;

fn write_config(dir: &Path, log_glob: &str, index: &str, template: &str) -> std::path::PathBuf {
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
paths = ["{log_glob}"]
parser = "nginx_access"
poll_interval_ms = 50
glob_interval_ms = 200

[output.elasticsearch]
url = "${{ES_URL}}"
index = "{index}"
template_name = "{template}"
batch_max_events = 500
batch_timeout_ms = 200
"#
        ),
    )
    .expect("write config");
    cfg
}

/// Acceptance 2: lines appended while running all arrive, in the index of their own day, with
/// ECS types in the mapping.
#[test]
fn tails_growing_file_into_daily_indices() {
    let dir = tempfile::tempdir().unwrap();
    delete_indices("logs-nginx.access-2031.03.1*");
    let log = dir.path().join("access.log");
    let mut expected = Vec::new();
    let mut text = String::new();
    for n in 0..60 {
        let l = nginx_line(14, "Mar", 2031, 23, 59, n as u32 % 60, n);
        expected.push(l.trim_end().to_string());
        text.push_str(&l);
    }
    append(&log, &text);
    let cfg = write_config(
        dir.path(),
        &log.to_string_lossy(),
        "logs-{event.dataset}-%Y.%m.%d",
        "logpipe-logs",
    );
    let mut run = Running::start(
        &cfg,
        &dir.path().join("data"),
        &dir.path().join("logpipe.log"),
    );

    // Append the next day's lines in pieces while logpipe runs, one piece without its newline
    // until the next write.
    for chunk in 0..4 {
        std::thread::sleep(Duration::from_millis(300));
        let mut text = String::new();
        for k in 0..25 {
            let n = 1000 + chunk * 25 + k;
            let l = nginx_line(15, "Mar", 2031, 0, chunk as u32, k as u32, n);
            expected.push(l.trim_end().to_string());
            text.push_str(&l);
        }
        append(&log, &text[..text.len() - 1]);
        std::thread::sleep(Duration::from_millis(120));
        append(&log, "\n");
    }
    let total = expected.len() as u64;
    let ok = run.wait_until(Duration::from_secs(60), || {
        count("logs-nginx.access-2031.03.1*") >= total
    });
    assert!(
        ok,
        "only {} of {total} indexed; log:\n{}",
        count("logs-nginx.access-2031.03.1*"),
        run.log_text()
    );

    assert_eq!(
        indices("logs-nginx.access-2031.03.1*"),
        vec![
            "logs-nginx.access-2031.03.14",
            "logs-nginx.access-2031.03.15"
        ]
    );
    assert_eq!(count("logs-nginx.access-2031.03.14"), 60);
    assert_eq!(count("logs-nginx.access-2031.03.15"), 100);

    let docs = all_docs("logs-nginx.access-2031.03.1*");
    let mut messages: Vec<String> = docs
        .iter()
        .filter_map(|d| d["_source"]["message"].as_str().map(str::to_string))
        .collect();
    messages.sort();
    expected.sort();
    assert_eq!(messages, expected, "every line exactly once");
    let sample = &docs[0]["_source"];
    assert_eq!(sample["event"]["dataset"], "nginx.access");
    assert_eq!(sample["http"]["response"]["status_code"], 200);
    assert!(sample["source"]["ip"]
        .as_str()
        .is_some_and(|ip| ip.starts_with("203.0.113.")));
    assert!(sample["log"]["file"]["path"]
        .as_str()
        .is_some_and(|p| p.ends_with("access.log")));

    let (_, mapping) = es_get("logs-nginx.access-2031.03.15/_mapping");
    let props = &mapping["logs-nginx.access-2031.03.15"]["mappings"]["properties"];
    assert_eq!(
        props["source"]["properties"]["ip"]["type"], "ip",
        "{mapping}"
    );
    assert_eq!(props["@timestamp"]["type"], "date", "{mapping}");
    assert_eq!(
        props["http"]["properties"]["response"]["properties"]["status_code"]["type"], "long",
        "{mapping}"
    );

    run.signal(libc::SIGTERM);
    let status = run
        .wait_exit(Duration::from_secs(30))
        .expect("logpipe stops on SIGTERM");
    assert!(
        status.success(),
        "exit {status:?}; log:\n{}",
        run.log_text()
    );
    delete_indices("logs-nginx.access-2031.03.1*");
}

/// Acceptance 3: SIGKILL in the middle of a run, restart: every line is in the index once.
#[test]
fn sigkill_and_restart_indexes_each_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = "e2e-kill";
    delete_indices(&format!("{prefix}-*"));
    let log = dir.path().join("big.log");
    let mut text = String::new();
    let total_first = 8_000;
    for n in 0..total_first {
        text.push_str(&nginx_line(
            2,
            "Apr",
            2031,
            10,
            (n / 3600 % 60) as u32,
            (n % 60) as u32,
            n,
        ));
    }
    append(&log, &text);
    let cfg = write_config(
        dir.path(),
        &log.to_string_lossy(),
        &format!("{prefix}-{{event.dataset}}-%Y.%m.%d"),
        prefix,
    );
    let data = dir.path().join("data");
    let mut run = Running::start(&cfg, &data, &dir.path().join("run1.log"));
    let started = run.wait_until(Duration::from_secs(60), || {
        count(&format!("{prefix}-*")) > 0
    });
    assert!(started, "nothing indexed; log:\n{}", run.log_text());
    run.signal(libc::SIGKILL);
    run.wait_exit(Duration::from_secs(10)).expect("killed");
    let after_kill = count(&format!("{prefix}-*"));

    // More lines arrive while logpipe is down.
    let mut more = String::new();
    for n in total_first..total_first + 500 {
        more.push_str(&nginx_line(2, "Apr", 2031, 11, 0, (n % 60) as u32, n));
    }
    append(&log, &more);
    let total = (total_first + 500) as u64;

    let mut run2 = Running::start(&cfg, &data, &dir.path().join("run2.log"));
    let ok = run2.wait_until(Duration::from_secs(90), || {
        count(&format!("{prefix}-*")) >= total
    });
    assert!(
        ok,
        "{} of {total} after restart (had {after_kill} at kill); log:\n{}",
        count(&format!("{prefix}-*")),
        run2.log_text()
    );
    // Give a late duplicate the chance to show up before checking there is none.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&format!("{prefix}-*")), total, "no duplicates");
    let docs = all_docs_by_offset(&format!("{prefix}-*"));
    assert_eq!(docs.len() as u64, total);
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for d in &docs {
        *seen
            .entry(d["_source"]["log"]["offset"].as_i64().unwrap_or(-1))
            .or_default() += 1;
    }
    assert_eq!(
        seen.len() as u64,
        total,
        "each line (by its offset) exactly once"
    );
    assert!(seen.values().all(|&c| c == 1));

    run2.signal(libc::SIGTERM);
    let status = run2.wait_exit(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "{}", run2.log_text());
    delete_indices(&format!("{prefix}-*"));
}
