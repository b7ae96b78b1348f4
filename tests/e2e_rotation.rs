//! Issue 4: a file input that survives what log rotation does to files, checked document by
//! document in a real server: rename rotation (with a crash and restart in the middle),
//! copytruncate, replacement under the same name, deletion while open.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::*;

fn write_config(dir: &Path, glob: &str, prefix: &str) -> std::path::PathBuf {
    let cfg = dir.join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[pipeline]
batch_events = 200

[[inputs]]
type = "file"
paths = ["{glob}"]
parser = "nginx_access"
poll_interval_ms = 20
glob_interval_ms = 100

[output.elasticsearch]
url = "${{ES_URL}}"
index = "{prefix}-{{event.dataset}}-%Y.%m.%d"
template_name = "{prefix}"
batch_timeout_ms = 100
"#
        ),
    )
    .expect("write config");
    cfg
}

/// Lines `from..to`, each with its number as the response size (unique, searchable).
fn lines(from: usize, to: usize) -> String {
    (from..to)
        .map(|n| nginx_line(7, "Jun", 2031, 10, (n / 60 % 60) as u32, (n % 60) as u32, n))
        .collect()
}

/// Checks that exactly the lines `0..total` are indexed, each once.
fn assert_exactly_once(prefix: &str, total: usize, log: &str) {
    let docs = all_docs_sorted(&format!("{prefix}-*"), "http.response.body.bytes");
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for d in &docs {
        let n = d["_source"]["http"]["response"]["body"]["bytes"]
            .as_i64()
            .unwrap_or(-1)
            - 100;
        *seen.entry(n).or_default() += 1;
    }
    let doubled: Vec<_> = seen
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .take(10)
        .collect();
    let missing: Vec<_> = (0..total as i64)
        .filter(|n| !seen.contains_key(n))
        .take(10)
        .collect();
    assert!(
        doubled.is_empty() && missing.is_empty() && docs.len() == total,
        "{} documents for {total} lines; doubled {doubled:?}, missing {missing:?}; log:\n{log}",
        docs.len()
    );
}

#[test]
fn rename_rotation_twenty_times_with_a_crash_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = "e2e-rot";
    delete_indices(&format!("{prefix}-*"));
    let log = dir.path().join("app.log");
    let cfg = write_config(dir.path(), &format!("{}*", log.display()), prefix);
    let data = dir.path().join("data");
    let mut run = Running::start(&cfg, &data, &dir.path().join("run1.log"));
    let per_rotation = 300;
    let mut n = 0;
    for rotation in 1..=20 {
        for _ in 0..10 {
            append(&log, &lines(n, n + per_rotation / 10));
            n += per_rotation / 10;
            std::thread::sleep(Duration::from_millis(15));
        }
        // logrotate's default: rename, and the writer creates a new file on its next line.
        std::fs::rename(&log, dir.path().join(format!("app.log.{rotation}"))).unwrap();
        if rotation == 10 {
            // A crash in the middle of the rotations; the next ten happen while it is down.
            run.signal(libc::SIGKILL);
            run.wait_exit(Duration::from_secs(10)).expect("killed");
        }
    }
    append(&log, &lines(n, n + 100));
    n += 100;
    let mut run2 = Running::start(&cfg, &data, &dir.path().join("run2.log"));
    let ok = run2.wait_until(Duration::from_secs(120), || {
        count(&format!("{prefix}-*")) >= n as u64
    });
    assert!(
        ok,
        "{} of {n}; log:\n{}",
        count(&format!("{prefix}-*")),
        run2.log_text()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_exactly_once(prefix, n, &run2.log_text());
    run2.signal(libc::SIGTERM);
    assert!(
        run2.wait_exit(Duration::from_secs(30))
            .is_some_and(|s| s.success()),
        "{}",
        run2.log_text()
    );
    drop(run);
    delete_indices(&format!("{prefix}-*"));
}

#[test]
fn copytruncate_replacement_and_deletion_lose_and_double_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = "e2e-trunc";
    delete_indices(&format!("{prefix}-*"));
    // logpipe's own log and data stay out of the watched folder.
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("c.log");
    let other = logs.join("d.log");
    let cfg = write_config(dir.path(), &format!("{}/*.log*", logs.display()), prefix);
    let mut run = Running::start(&cfg, &dir.path().join("data"), &dir.path().join("run.log"));
    let wait_for = |run: &mut Running, n: usize| {
        let ok = run.wait_until(Duration::from_secs(60), || {
            count(&format!("{prefix}-*")) >= n as u64
        });
        assert!(
            ok,
            "{} of {n}; log:\n{}",
            count(&format!("{prefix}-*")),
            run.log_text()
        );
    };

    append(&log, &lines(0, 200));
    append(&other, &lines(200, 300));
    wait_for(&mut run, 300);

    // copytruncate: the copy matches the glob too, and must not be read again.
    std::fs::copy(&log, logs.join("c.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    append(&log, &lines(300, 500));
    wait_for(&mut run, 500);

    // Replaced under the same name (write a new file, rename it over the old one).
    let fresh = logs.join("c.new");
    std::fs::write(&fresh, lines(500, 600)).unwrap();
    std::fs::rename(&fresh, &log).unwrap();
    // Deleted while open: lines appended just before the unlink are still read.
    append(&other, &lines(600, 650));
    std::fs::remove_file(&other).unwrap();
    wait_for(&mut run, 650);

    std::thread::sleep(Duration::from_millis(1500));
    assert_exactly_once(prefix, 650, &run.log_text());
    run.signal(libc::SIGTERM);
    assert!(
        run.wait_exit(Duration::from_secs(30))
            .is_some_and(|s| s.success()),
        "{}",
        run.log_text()
    );
    delete_indices(&format!("{prefix}-*"));
}
