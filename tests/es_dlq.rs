//! The dead-letter queue end to end, with the real binary and the tests' server (noida-db):
//! a mapping conflict sends exactly the conflicting documents to the queue while the rest is
//! indexed and logpipe keeps running; after a mapping fix `logpipe dlq replay` indexes them
//! and empties the queue; and a full queue holds documents back instead of deleting anything.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn prefix(test: &str) -> String {
    let n: u32 = rand::random();
    format!("lpdlq-{test}-{n:08x}")
}

/// A pipeline tailing `app.log` (JSON lines) into `<prefix>-app.json-%Y.%m.%d`.
fn write_config(dir: &Path, prefix: &str, extra: &str) -> (PathBuf, PathBuf) {
    let cfg = dir.join("pipeline.toml");
    let log = dir.join("app.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        &cfg,
        format!(
            r#"
[pipeline]
workers = 1

[[inputs]]
type = "file"
paths = ["{log}"]
parser = "json"
poll_interval_ms = 50

[output.elasticsearch]
url = "${{ES_URL}}"
index = "{prefix}-{{event.dataset}}-%Y.%m.%d"
template_name = "{prefix}"
number_of_replicas = 0
batch_timeout_ms = 100
retry_initial_ms = 20
retry_max_ms = 300
{extra}
"#,
            log = log.display()
        ),
    )
    .unwrap();
    (cfg, log)
}

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

fn line(n: usize, x: &str) -> String {
    format!(
        "{{\"time\":\"2031-03-14T10:00:{:02}Z\",\"message\":\"m{n}\",\"x\":{x}}}\n",
        n % 60
    )
}

/// Every entry of every queue file.
fn dlq_entries(data: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(data.join("dlq")) else {
        return out;
    };
    let mut paths: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for p in paths {
        for l in std::fs::read_to_string(&p).unwrap_or_default().lines() {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    out
}

fn dlq_files(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("dlq"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn cleanup(prefix: &str, index: &str) {
    es_delete(index);
    es_delete(&format!("_index_template/{prefix}"));
    for c in ["ecs-mappings", "settings"] {
        es_delete(&format!("_component_template/{prefix}-{c}"));
    }
}

/// Acceptance 3. noida-db answers a per-item `400 document_parsing_exception` ("failed to parse
/// field [x] of type [long] ... Cannot parse object as number") for an object where the index
/// maps a number.
#[test]
fn mapping_conflicts_go_to_the_queue_and_replay_after_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let p = prefix("acc3");
    let index = format!("{p}-app.json-2031.03.14");
    let data = dir.path().join("data");
    let (cfg, log) = write_config(dir.path(), &p, "");
    let mut run = Running::start(&cfg, &data, &dir.path().join("run.log"));

    // `x` is a number first: the index maps it as `long`.
    let mut text = String::new();
    for n in 0..5 {
        text.push_str(&line(n, &n.to_string()));
    }
    append(&log, &text);
    assert!(
        run.wait_until(Duration::from_secs(60), || count(&index) >= 5),
        "log:\n{}",
        run.log_text()
    );

    // Then three documents with `x` as an object, among more numbers.
    let mut text = String::new();
    for n in 5..15 {
        let x = if n % 3 == 0 {
            format!("{{\"y\":{n}}}")
        } else {
            n.to_string()
        };
        text.push_str(&line(n, &x));
    }
    append(&log, &text);
    let conflicting = ["m6", "m9", "m12"];
    assert!(
        run.wait_until(Duration::from_secs(60), || count(&index) >= 12
            && dlq_entries(&data).len() >= 3),
        "indexed {}, queued {}; log:\n{}",
        count(&index),
        dlq_entries(&data).len(),
        run.log_text()
    );
    assert_eq!(count(&index), 12);
    let entries = dlq_entries(&data);
    assert_eq!(entries.len(), 3, "{entries:?}");
    let mut messages: Vec<&str> = entries
        .iter()
        .map(|e| e["document"]["message"].as_str().unwrap())
        .collect();
    messages.sort();
    let mut expected = conflicting.to_vec();
    expected.sort();
    assert_eq!(messages, expected);
    for e in &entries {
        assert_eq!(e["index"], index.as_str());
        assert_eq!(e["status"], 400);
        assert_eq!(e["id"].as_str().unwrap().len(), 22);
        assert_eq!(e["error"]["type"], "document_parsing_exception", "{e}");
        let reason = e["error"]["reason"].as_str().unwrap();
        assert!(reason.contains("[x]"), "{reason}");
        assert!(e["document"]["x"]["y"].is_u64(), "{e}");
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
    }

    // logpipe keeps running and indexing.
    assert!(run.child.try_wait().unwrap().is_none(), "logpipe exited");
    append(&log, &line(15, "15"));
    assert!(run.wait_until(Duration::from_secs(60), || count(&index) >= 13));

    let (code, out, err) = logpipe(&["dlq", "list"], &data);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("3 documents"), "{out}");
    assert!(out.contains("document_parsing_exception=3"), "{out}");
    assert!(out.contains("total: 1 file, 3 documents"), "{out}");

    // A replay before the fix: refused again, back in the queue, nothing lost.
    let (code, out, err) = logpipe(&["dlq", "replay", "-c", cfg.to_str().unwrap()], &data);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("0 indexed (or already there), 3 back in the queue"),
        "{out}"
    );
    assert_eq!(dlq_entries(&data).len(), 3);
    assert_eq!(dlq_files(&data).len(), 1, "{:?}", dlq_files(&data));

    // The fix: the index again, with `x` as an object.
    es_delete(&index);
    let (status, body) = es_put(
        &index,
        &serde_json::json!({"mappings": {"properties": {"x": {"type": "object"}}}}),
    );
    assert_eq!(status, 200, "{body}");
    let ids: Vec<String> = dlq_entries(&data)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();

    let (code, out, err) = logpipe(&["dlq", "replay", "-c", cfg.to_str().unwrap()], &data);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("replayed 3 documents: 3 indexed"), "{out}");
    assert_eq!(count(&index), 3);
    let docs = all_docs(&index);
    let mut got: Vec<String> = docs
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want, "replayed under their recorded ids");
    assert!(docs.iter().all(|d| d["_source"]["x"]["y"].is_u64()));
    assert!(dlq_files(&data).is_empty(), "{:?}", dlq_files(&data));
    let (code, out, _) = logpipe(&["dlq", "list"], &data);
    assert_eq!(code, 0);
    assert!(out.contains(": empty"), "{out}");
    let (code, out, _) = logpipe(&["dlq", "replay", "-c", cfg.to_str().unwrap()], &data);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to replay"), "{out}");

    run.signal(libc::SIGTERM);
    let status = run.wait_exit(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "{}", run.log_text());
    cleanup(&p, &index);
}

/// A full queue deletes nothing: the refused document waits (logged with the directory) and
/// is written once there is room; the other documents are indexed meanwhile.
#[test]
fn a_full_queue_holds_documents_back_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = prefix("full");
    let index = format!("{p}-app.json-2031.03.14");
    let data = dir.path().join("data");
    let (cfg, log) = write_config(dir.path(), &p, "dlq_max_total_bytes = 1000");
    // What an earlier run left: already past the cap.
    std::fs::create_dir_all(data.join("dlq")).unwrap();
    let old = data.join("dlq/dlq-20000101.ndjson");
    let old_text = format!(
        "{}\n",
        serde_json::json!({"index": "elsewhere", "id": "a", "status": 400,
            "error": {"type": "t", "reason": "r"}, "document": {"pad": "p".repeat(1200)}})
    );
    std::fs::write(&old, &old_text).unwrap();

    let mut run = Running::start(&cfg, &data, &dir.path().join("run.log"));
    append(&log, &format!("{}{}", line(0, "1"), line(1, "2")));
    assert!(run.wait_until(Duration::from_secs(60), || count(&index) >= 2));
    append(&log, &format!("{}{}", line(2, "{\"y\":1}"), line(3, "3")));
    assert!(
        run.wait_until(Duration::from_secs(60), || count(&index) >= 3
            && run_log_has(&dir, "is full")),
        "log:\n{}",
        run.log_text()
    );
    // Held back: not in the queue, the old file untouched.
    assert_eq!(dlq_files(&data), vec!["dlq-20000101.ndjson"]);
    assert_eq!(std::fs::read_to_string(&old).unwrap(), old_text);
    let log_text = run.log_text();
    assert!(
        log_text.contains(&data.join("dlq").display().to_string()),
        "{log_text}"
    );

    // Room again (the operator moved the old file away): the document goes in.
    std::fs::rename(&old, dir.path().join("moved.ndjson")).unwrap();
    assert!(
        run.wait_until(Duration::from_secs(60), || dlq_entries(&data).len() == 1),
        "log:\n{}",
        run.log_text()
    );
    assert_eq!(dlq_entries(&data)[0]["document"]["message"], "m2");
    assert_eq!(count(&index), 3);
    run.signal(libc::SIGTERM);
    let status = run.wait_exit(Duration::from_secs(30)).expect("stops");
    assert!(status.success(), "{}", run.log_text());
    cleanup(&p, &index);
}

fn run_log_has(dir: &tempfile::TempDir, needle: &str) -> bool {
    std::fs::read_to_string(dir.path().join("run.log"))
        .unwrap_or_default()
        .contains(needle)
}
