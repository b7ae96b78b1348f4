//! `logpipe reprocess` end to end: the real binary over generated archives (plain and `.gz`,
//! NGINX and PostgreSQL), into a real Elasticsearch-compatible server, and to NDJSON.
//!
//! Volumes stay at a few thousand lines: the local test server indexes about 2,500
//! documents/s. Each test has its own index prefix and template, deleted at the end.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A test's folder: logs under `logs/`, state under `data/`, the pipeline file.
struct Case {
    dir: tempfile::TempDir,
    prefix: String,
}

impl Case {
    fn new(name: &str) -> Case {
        let case = Case {
            dir: tempfile::tempdir().unwrap(),
            prefix: format!("rp-{name}"),
        };
        delete_indices(&format!("{}-*", case.prefix));
        std::fs::create_dir_all(case.logs()).unwrap();
        case
    }

    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A pipeline with an NGINX and a PostgreSQL file input over `logs/` and the
    /// Elasticsearch output (`extra` goes into `[output.elasticsearch]`).
    fn pipeline(&self, extra: &str) -> PathBuf {
        let logs = self.logs();
        let cfg = self.dir.path().join("pipeline.toml");
        std::fs::write(
            &cfg,
            format!(
                r#"
[[inputs]]
type = "file"
id = "nginx"
paths = ["{logs}/access.log*"]
parser = "nginx_access"

[[inputs]]
type = "file"
id = "postgres"
paths = ["{logs}/postgresql-*.log*"]
parser = "postgresql"

[output.elasticsearch]
url = "${{ES_URL}}"
index = "{prefix}-{{event.dataset}}-%Y.%m.%d"
template_name = "{prefix}"
number_of_replicas = 0
refresh_interval = "1s"
batch_timeout_ms = 100
retry_initial_ms = 20
retry_max_ms = 500
{extra}
"#,
                logs = logs.display(),
                prefix = self.prefix,
            ),
        )
        .unwrap();
        cfg
    }

    /// Runs `logpipe reprocess -c CFG ARGS...` to its end.
    fn reprocess(&self, cfg: &Path, args: &[&str]) -> Output {
        Command::new(logpipe_bin())
            .arg("--data-dir")
            .arg(self.data())
            .arg("reprocess")
            .arg("-c")
            .arg(cfg)
            .args(args)
            .env("ES_URL", es_url())
            .stdin(Stdio::null())
            .output()
            .expect("run logpipe reprocess")
    }

    /// Runs `logpipe reprocess -c CFG ARGS... --summary-json NAME.json`, which must succeed,
    /// and returns the summary.
    fn reprocess_ok(&self, cfg: &Path, args: &[&str], name: &str) -> Value {
        let summary = self.summary_path(name);
        let mut all = args.to_vec();
        all.extend(["--summary-json", summary.as_str()]);
        let o = self.reprocess(cfg, &all);
        assert!(o.status.success(), "{}", text(&o));
        read_json(&summary)
    }

    fn summary_path(&self, name: &str) -> String {
        self.dir
            .path()
            .join(format!("{name}.json"))
            .to_string_lossy()
            .into_owned()
    }

    fn cleanup(&self) {
        delete_indices(&format!("{}-*", self.prefix));
        es_delete(&format!("_index_template/{}", self.prefix));
        for c in ["ecs-mappings", "settings"] {
            es_delete(&format!("_component_template/{}-{c}", self.prefix));
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_json(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("summary JSON written")).unwrap()
}

/// NGINX lines `from..to`, spread over `days` consecutive days of March 2032 (day 10 on).
fn nginx_lines(from: usize, to: usize, days: usize) -> String {
    let per_day = (to - from).div_ceil(days);
    (from..to)
        .map(|n| {
            let day = 10 + ((n - from) / per_day) as u32;
            nginx_line(
                day,
                "Mar",
                2032,
                12,
                (n / 60 % 60) as u32,
                (n % 60) as u32,
                n,
            )
        })
        .collect()
}

/// PostgreSQL stderr entries on 2032-03-`day`, every third a statement spanning lines.
fn postgres_entries(from: usize, to: usize, day: u32) -> String {
    let mut out = String::new();
    for n in from..to {
        let ts = format!(
            "2032-03-{day:02} 08:{:02}:{:02}.{:03} UTC",
            n / 60 % 60,
            n % 60,
            n % 1000
        );
        if n % 3 == 0 {
            out.push_str(&format!(
                "{ts} [{pid}] LOG:  duration: 12.5 ms  statement: SELECT id, total\n\tFROM orders\n\tWHERE id = {n}\n",
                pid = 1000 + n % 7
            ));
        } else {
            out.push_str(&format!(
                "{ts} [{pid}] LOG:  connection received: host=10.0.4.{h} port={p}\n",
                pid = 1000 + n % 7,
                h = n % 250,
                p = 40000 + n
            ));
        }
    }
    out
}

fn write_gz(path: &Path, text: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap().sync_all().unwrap();
}

/// Summary rows as index -> (read, indexed, already present).
fn rows_by_index(summary: &Value) -> BTreeMap<String, (u64, u64, u64)> {
    let mut out = BTreeMap::new();
    for r in summary["rows"].as_array().cloned().unwrap_or_default() {
        let e: &mut (u64, u64, u64) = out
            .entry(r["index"].as_str().unwrap_or("").to_string())
            .or_default();
        e.0 += r["read"].as_u64().unwrap_or(0);
        e.1 += r["indexed"].as_u64().unwrap_or(0);
        e.2 += r["already_present"].as_u64().unwrap_or(0);
    }
    out
}

/// Acceptance 1: the same archive twice (and once more with `--force`) indexes each event
/// once; the second run skips the finished files, the forced one finds them all present.
#[test]
fn repeated_runs_index_each_event_once() {
    let case = Case::new("repeat");
    let logs = case.logs();
    std::fs::write(logs.join("access.log"), nginx_lines(0, 700, 1)).unwrap();
    write_gz(&logs.join("access.log.1.gz"), &nginx_lines(700, 1500, 2));
    let cfg = case.pipeline("batch_max_events = 300");
    let total = 1500u64;
    let pattern = format!("{}-*", case.prefix);

    let first = case.summary_path("first");
    let o = case.reprocess(&cfg, &[logs.to_str().unwrap(), "--summary-json", &first]);
    assert!(o.status.success(), "{}", text(&o));
    let s = read_json(&first);
    assert_eq!(s["totals"]["read"], total, "{s}");
    assert_eq!(s["totals"]["indexed"], total, "{s}");
    assert_eq!(s["files"]["done"], 2);
    assert_eq!(count(&pattern), total);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("already present") && table.contains("1,500"),
        "{table}"
    );

    let second = case.summary_path("second");
    let o = case.reprocess(&cfg, &[logs.to_str().unwrap(), "--summary-json", &second]);
    assert!(o.status.success(), "{}", text(&o));
    let s = read_json(&second);
    assert_eq!(
        s["files"]["skipped"], 2,
        "journal skips finished files: {s}"
    );
    assert_eq!(s["totals"]["read"], 0);

    let forced = case.summary_path("forced");
    let o = case.reprocess(
        &cfg,
        &[logs.to_str().unwrap(), "--force", "--summary-json", &forced],
    );
    assert!(o.status.success(), "{}", text(&o));
    let s = read_json(&forced);
    assert_eq!(s["totals"]["indexed"], 0, "{s}");
    assert_eq!(s["totals"]["already_present"], total, "{s}");
    // The same keys as the first run: ids depend on content, not on the run.
    let keys = |s: &Value| -> Vec<String> {
        let mut k: Vec<String> = s["file_reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["stream_key"].as_str().unwrap().to_string())
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&s), keys(&read_json(&first)));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(count(&pattern), total, "no duplicates");
    case.cleanup();
}

/// Acceptance 2: SIGINT in the middle stops reading and lets in-flight batches finish;
/// finished files are journaled, the others read again; afterwards every event is indexed
/// exactly once.
#[test]
fn sigint_midway_then_a_second_run_indexes_each_event_once() {
    let case = Case::new("sigint");
    let logs = case.logs();
    let per_file = 1200;
    for i in 0..4 {
        std::fs::write(
            logs.join(format!("access.log.{i}")),
            nginx_lines(i * per_file, (i + 1) * per_file, 1),
        )
        .unwrap();
    }
    let total = 4 * per_file as u64;
    // Small requests, one at a time: the run takes a few seconds against the test server.
    let cfg = case.pipeline("batch_max_events = 100\nmax_in_flight = 1");
    let pattern = format!("{}-*", case.prefix);
    let first = case.summary_path("first");
    let child = Command::new(logpipe_bin())
        .arg("--data-dir")
        .arg(case.data())
        .args(["reprocess", "-c"])
        .arg(&cfg)
        .arg(&logs)
        .args([
            "--threads",
            "1",
            "--batch-events",
            "100",
            "--max-in-flight",
            "1",
            "--summary-json",
            &first,
        ])
        .env("ES_URL", es_url())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(case.dir.path().join("run1.log")).unwrap())
        .spawn()
        .unwrap();
    let mut run = Running {
        child,
        log: case.dir.path().join("run1.log"),
    };
    // Past the first file, well before the last.
    let midway = run.wait_until(Duration::from_secs(60), || {
        count(&pattern) > per_file as u64 + 200
    });
    assert!(midway, "never got going; log:\n{}", run.log_text());
    run.signal(libc::SIGINT);
    let status = run
        .wait_exit(Duration::from_secs(60))
        .expect("stops after SIGINT");
    assert_eq!(status.code(), Some(130), "{}", run.log_text());
    let s = read_json(&first);
    assert_eq!(s["interrupted"], true, "{s}");
    let done = s["files"]["done"].as_u64().unwrap();
    assert!((1..4).contains(&done), "the interrupt landed mid-way: {s}");
    let after_first = count(&pattern);
    assert!(after_first < total, "{after_first} of {total}: not mid-way");
    assert_eq!(
        s["totals"]["indexed"].as_u64().unwrap(),
        after_first,
        "every batch sent was delivered before the exit: {s}"
    );

    let second = case.summary_path("second");
    let o = case.reprocess(&cfg, &[logs.to_str().unwrap(), "--summary-json", &second]);
    assert!(o.status.success(), "{}", text(&o));
    let s = read_json(&second);
    assert_eq!(s["files"]["skipped"].as_u64().unwrap(), done, "{s}");
    assert_eq!(
        s["totals"]["indexed"].as_u64().unwrap(),
        total - after_first,
        "{s}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(count(&pattern), total);
    let docs = all_docs_sorted(&pattern, "log.offset");
    let mut keys: Vec<(String, i64)> = docs
        .iter()
        .map(|d| {
            (
                d["_source"]["log"]["file"]["path"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                d["_source"]["log"]["offset"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len() as u64, total, "each line exactly once");
    case.cleanup();
}

/// Acceptance 3: plain and `.gz`, NGINX and PostgreSQL (multi-line statements, plain files cut
/// in pieces) land in their daily indices; the summary's numbers equal `_count`.
#[test]
fn mixed_archives_land_in_daily_indices_with_matching_counts() {
    let case = Case::new("mixed");
    let logs = case.logs();
    std::fs::write(logs.join("access.log"), nginx_lines(0, 600, 2)).unwrap();
    write_gz(&logs.join("access.log.2.gz"), &nginx_lines(600, 1500, 3));
    std::fs::write(
        logs.join("postgresql-2032-03-10.log"),
        postgres_entries(0, 400, 10),
    )
    .unwrap();
    write_gz(
        &logs.join("postgresql-2032-03-11.log.gz"),
        &postgres_entries(400, 700, 11),
    );
    let cfg = case.pipeline("batch_max_events = 500");
    let summary = case.summary_path("summary");
    let o = case.reprocess(
        &cfg,
        &[
            logs.to_str().unwrap(),
            "--chunk-bytes",
            "4096",
            "--batch-events",
            "64",
            "--summary-json",
            &summary,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let s = read_json(&summary);
    let p = &case.prefix;
    let expected: BTreeMap<String, u64> = [
        (format!("{p}-nginx.access-2032.03.10"), 600),
        (format!("{p}-nginx.access-2032.03.11"), 600),
        (format!("{p}-nginx.access-2032.03.12"), 300),
        (format!("{p}-postgresql.log-2032.03.10"), 400),
        (format!("{p}-postgresql.log-2032.03.11"), 300),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        indices(&format!("{p}-*")),
        expected.keys().cloned().collect::<Vec<_>>()
    );
    let rows = rows_by_index(&s);
    for (index, n) in &expected {
        assert_eq!(count(index), *n, "{index}");
        assert_eq!(rows.get(index), Some(&(*n, *n, 0)), "{index}: {s}");
    }
    assert_eq!(s["totals"]["parse_failures"], 0, "{s}");
    // A multi-line statement stays one event, even where a piece boundary fell inside it.
    let statements = all_docs(&format!("{p}-postgresql.log-2032.03.10"))
        .into_iter()
        .filter(|d| {
            d["_source"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("\nFROM orders\nWHERE id = "))
        })
        .count();
    assert_eq!(statements, 134);
    case.cleanup();
}

/// `--dry-run` parses and enriches, prints samples and the summary, and sends nothing.
#[test]
fn dry_run_sends_nothing() {
    let case = Case::new("dry");
    let logs = case.logs();
    std::fs::write(logs.join("access.log"), nginx_lines(0, 50, 1)).unwrap();
    let cfg = case.pipeline("");
    let summary = case.summary_path("s");
    let o = case.reprocess(
        &cfg,
        &[
            logs.to_str().unwrap(),
            "--dry-run",
            "--samples",
            "2",
            "--summary-json",
            &summary,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("sample documents:"), "{out}");
    assert_eq!(out.matches("\"@timestamp\"").count(), 2, "{out}");
    let s = read_json(&summary);
    assert_eq!(s["output"], "dry-run");
    assert_eq!(s["totals"]["read"], 50);
    assert_eq!(s["totals"]["indexed"], 0);
    // It shows where the events would go.
    assert!(rows_by_index(&s).contains_key(&format!("{}-nginx.access-2032.03.10", case.prefix)));
    assert!(indices(&format!("{}-*", case.prefix)).is_empty());
    // Nothing journaled: a real run afterwards reads the file.
    assert!(!case.data().join("reprocess/pipeline.journal").exists());
    case.cleanup();
}

/// `--output stdout` writes NDJSON (the summary goes to stderr); `--since`/`--until` keep a
/// time range; progress stays off when stderr is not a terminal.
#[test]
fn stdout_output_with_a_time_window() {
    let case = Case::new("stdout");
    let logs = case.logs();
    // 300 lines over three days (10th, 11th, 12th March 2032), 100 a day.
    write_gz(&logs.join("access.log.1.gz"), &nginx_lines(0, 300, 3));
    let cfg = case.pipeline("");
    let summary = case.summary_path("s");
    let o = case.reprocess(
        &cfg,
        &[
            logs.to_str().unwrap(),
            "--output",
            "stdout",
            "--since",
            "2032-03-11",
            "--until",
            "2032-03-12T00:00:00Z",
            "--summary-json",
            &summary,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let docs: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect();
    assert_eq!(docs.len(), 100);
    assert!(docs.iter().all(|d| d["@timestamp"]
        .as_str()
        .is_some_and(|t| t.starts_with("2032-03-11"))));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("written") && stderr.contains("out of range"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ETA") && !stderr.contains('\r'),
        "no progress bar when stderr is not a terminal: {stderr}"
    );
    let s = read_json(&summary);
    assert_eq!(s["totals"]["read"], 300);
    assert_eq!(s["totals"]["indexed"], 100);
    assert_eq!(s["totals"]["out_of_range"], 200);
    assert!(indices(&format!("{}-*", case.prefix)).is_empty());
    case.cleanup();
}

/// `--output file` appends NDJSON; `--format` gives a parser to files no input reads; a file
/// nothing matches is a usage error.
#[test]
fn file_output_and_format_fallback() {
    let case = Case::new("file");
    let other = case.dir.path().join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    let odd = other.join("web-frontend.txt");
    std::fs::write(&odd, nginx_lines(0, 40, 1)).unwrap();
    let cfg = case.pipeline("");
    let o = case.reprocess(&cfg, &[odd.to_str().unwrap(), "--output", "stdout"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format"));

    let out = case.dir.path().join("out/docs.ndjson");
    let o = case.reprocess(
        &cfg,
        &[
            odd.to_str().unwrap(),
            "--format",
            "nginx_access",
            "--output",
            "file",
            "--output-path",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().count(), 40);
    let first: Value = serde_json::from_str(written.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"]["dataset"], "nginx.access");
    assert_eq!(first["log"]["offset"], 0);
}

/// `--from-dlq` sends the dead-letter queue's documents again, to their recorded index and id.
#[test]
fn from_dlq_replays_the_dead_letter_queue() {
    let case = Case::new("dlq");
    let cfg = case.pipeline("");
    let dlq = case.data().join("dlq");
    std::fs::create_dir_all(&dlq).unwrap();
    let index = format!("{}-app.json-2032.03.10", case.prefix);
    let mut lines = String::new();
    for i in 0..3 {
        lines.push_str(&format!(
            "{{\"time\":\"2032-03-10T00:00:00.000Z\",\"index\":\"{index}\",\"id\":\"dlq-{i}\",\"status\":400,\"error\":{{\"type\":\"mapper_parsing_exception\",\"reason\":\"was wrong\"}},\"document\":{{\"@timestamp\":\"2032-03-10T00:00:0{i}.000Z\",\"message\":\"fixed {i}\"}}}}\n"
        ));
    }
    std::fs::write(dlq.join("dlq-20320310.ndjson"), lines).unwrap();
    let summary = case.summary_path("s");
    let o = case.reprocess(&cfg, &["--from-dlq", "--summary-json", &summary]);
    assert!(o.status.success(), "{}", text(&o));
    let s = read_json(&summary);
    assert_eq!(s["documents"], 3, "{s}");
    assert_eq!(s["indexed"], 3, "{s}");
    assert_eq!(count(&index), 3);
    case.cleanup();
}

/// A file the live `run` already indexed is found by its checkpoint fingerprint: reprocessing
/// it (rotated and compressed since) reuses the live stream key, so nothing is doubled.
#[test]
fn reprocess_after_live_tailing_finds_everything_present() {
    let case = Case::new("live");
    let logs = case.logs();
    let log = logs.join("access.log");
    std::fs::write(&log, nginx_lines(0, 300, 1)).unwrap();
    let cfg = case.pipeline("batch_max_events = 300");
    let pattern = format!("{}-*", case.prefix);
    let mut live = Running::start(&cfg, &case.data(), &case.dir.path().join("live.log"));
    let indexed = live.wait_until(Duration::from_secs(60), || count(&pattern) >= 300);
    assert!(indexed, "live run: {}", live.log_text());
    live.signal(libc::SIGTERM);
    live.wait_exit(Duration::from_secs(30))
        .expect("live run stops");

    // Rotated and compressed, as logrotate leaves it.
    let content = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    write_gz(&logs.join("access.log.1.gz"), &content);
    let summary = case.summary_path("s");
    let o = case.reprocess(&cfg, &[logs.to_str().unwrap(), "--summary-json", &summary]);
    assert!(o.status.success(), "{}", text(&o));
    let s = read_json(&summary);
    assert_eq!(s["file_reports"][0]["stream_key_from"], "checkpoint", "{s}");
    assert_eq!(s["totals"]["already_present"], 300, "{s}");
    assert_eq!(s["totals"]["indexed"], 0, "{s}");
    assert_eq!(count(&pattern), 300);
    case.cleanup();
}

/// Two different archives that begin with the same KiB share a stream key: in separate runs
/// (the second is taken for the first, grown) and in one run (the same content key). Their
/// records at the same offsets differ, so they must still be indexed: only a record identical
/// to one already indexed at the same offset is "already present".
#[test]
fn files_that_only_begin_alike_lose_nothing() {
    let case = Case::new("lookalike");
    let logs = case.logs();
    // The same first twenty lines (over a KiB), then different lines.
    let common = nginx_lines(0, 20, 1);
    assert!(common.len() > 1024);
    let a = format!("{common}{}", nginx_lines(100, 160, 1));
    let b = format!("{common}{}", nginx_lines(500, 580, 1));
    std::fs::write(logs.join("access.log.a"), &a).unwrap();
    std::fs::write(logs.join("access.log.b"), &b).unwrap();
    let cfg = case.pipeline("");
    let pattern = format!("{}-*", case.prefix);

    let path_a = logs.join("access.log.a");
    let s = case.reprocess_ok(&cfg, &[path_a.to_str().unwrap()], "first");
    assert_eq!(s["totals"]["indexed"], 80);

    let path_b = logs.join("access.log.b");
    let s = case.reprocess_ok(&cfg, &[path_b.to_str().unwrap()], "second");
    assert_eq!(s["file_reports"][0]["stream_key_from"], "journal", "{s}");
    // The twenty common lines are the same records at the same offsets; the 80 others are new.
    assert_eq!(s["totals"]["already_present"], 20, "{s}");
    assert_eq!(s["totals"]["indexed"], 80, "{s}");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(count(&pattern), 160);
    case.cleanup();

    // Both in one run, from scratch.
    let together = Case::new("lookalike-one-run");
    std::fs::write(together.logs().join("access.log.a"), &a).unwrap();
    std::fs::write(together.logs().join("access.log.b"), &b).unwrap();
    let cfg = together.pipeline("");
    let summary = together.summary_path("one");
    let o = together.reprocess(
        &cfg,
        &[
            together.logs().to_str().unwrap(),
            "--summary-json",
            &summary,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let s = read_json(&summary);
    let keys: Vec<&str> = s["file_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["stream_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1], "one content key: {s}");
    assert_eq!(s["totals"]["already_present"], 20, "{s}");
    assert_eq!(s["totals"]["indexed"], 160, "{s}");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(count(&format!("{}-*", together.prefix)), 160);
    together.cleanup();
}
