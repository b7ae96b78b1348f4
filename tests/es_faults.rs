//! Delivery under faults, end to end: `logpipe run` sends through the fault-injecting proxy
//! (`common::proxy`) to the real server. Items refused with `429`, whole requests refused with
//! `503`, a 30 s outage with lines arriving meanwhile, a dead node among several: every line
//! ends up indexed exactly once, and memory stays bounded while the cluster is away.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::proxy::{self, Counters, Proxy};
use common::*;

/// Index prefix and template name of one test, unique per run so runs never see each other's
/// documents.
fn unique(name: &str) -> String {
    format!("{name}-{:08x}", rand::random::<u32>())
}

/// `n` NGINX lines from number `from` on (all on 7 May 2031), and the byte offset each starts
/// at once appended to a file already `base` bytes long.
fn lines(from: usize, n: usize, base: u64) -> (String, Vec<u64>) {
    let mut text = String::new();
    let mut offsets = Vec::with_capacity(n);
    for k in from..from + n {
        offsets.push(base + text.len() as u64);
        text.push_str(&nginx_line(
            7,
            "May",
            2031,
            (k / 3600 % 24) as u32,
            (k / 60 % 60) as u32,
            (k % 60) as u32,
            k,
        ));
    }
    (text, offsets)
}

fn write_config(
    dir: &Path,
    log: &Path,
    prefix: &str,
    url_line: &str,
    pipeline_extra: &str,
) -> PathBuf {
    let cfg = dir.join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[pipeline]
{pipeline_extra}

[[inputs]]
type = "file"
paths = ["{log}"]
parser = "nginx_access"
poll_interval_ms = 50
glob_interval_ms = 200

[output.elasticsearch]
{url_line}
index = "{prefix}-{{event.dataset}}-%Y.%m.%d"
template_name = "{prefix}"
number_of_replicas = 0
refresh_interval = "1s"
batch_max_events = 200
batch_timeout_ms = 200
retry_initial_ms = 20
retry_max_ms = 1000
request_timeout_secs = 20
"#,
            log = log.display()
        ),
    )
    .expect("write config");
    cfg
}

fn cleanup(prefix: &str) {
    delete_indices(&format!("{prefix}-*"));
    es_delete(&format!("_index_template/{prefix}"));
    for c in ["ecs-mappings", "settings"] {
        es_delete(&format!("_component_template/{prefix}-{c}"));
    }
}

/// Removes a test's indices and templates when the test ends, failed or not.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup(&self.0);
    }
}

/// Waits until the proxies told logpipe `total` items are indexed (cheap to poll: a refresh
/// per poll would slow this server down), then until the server counts them.
fn wait_indexed(
    run: &mut Running,
    proxies: &[&Proxy],
    pattern: &str,
    total: u64,
    timeout: Duration,
) -> bool {
    let start = Instant::now();
    let settled = run.wait_until(timeout, || {
        proxies
            .iter()
            .map(|p| p.counters().settled_items())
            .sum::<u64>()
            >= total
    });
    if !settled {
        return false;
    }
    let deadline = Instant::now()
        + timeout
            .saturating_sub(start.elapsed())
            .max(Duration::from_secs(60));
    while Instant::now() < deadline {
        if count(pattern) >= total {
            return true;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    count(pattern) >= total
}

/// Every expected line (by its offset) is in the indices exactly once, and nothing else is.
fn assert_exactly_once(pattern: &str, offsets: &[u64], log_text: &str) {
    assert_eq!(
        count(pattern),
        offsets.len() as u64,
        "document count; log:\n{log_text}"
    );
    let docs = all_docs_sorted(pattern, "log.offset");
    let got: Vec<u64> = docs
        .iter()
        .map(|d| d["_source"]["log"]["offset"].as_u64().unwrap_or(u64::MAX))
        .collect();
    let distinct: HashSet<u64> = got.iter().copied().collect();
    assert_eq!(got.len(), offsets.len(), "documents returned by the search");
    assert_eq!(distinct.len(), got.len(), "a line was indexed twice");
    let want: HashSet<u64> = offsets.iter().copied().collect();
    let missing: Vec<&u64> = want.difference(&distinct).take(10).collect();
    assert!(missing.is_empty(), "lines at offsets {missing:?} missing");
    let ids: HashSet<&str> = docs.iter().filter_map(|d| d["_id"].as_str()).collect();
    assert_eq!(ids.len(), docs.len(), "document ids are distinct");
}

fn stop(run: &mut Running) {
    run.signal(libc::SIGTERM);
    let status = run
        .wait_exit(Duration::from_secs(60))
        .expect("logpipe stops on SIGTERM");
    assert!(
        status.success(),
        "exit {status:?}; log:\n{}",
        run.log_text()
    );
}

fn no_dead_letters(data: &Path) {
    let dlq = data.join("dlq");
    let files: Vec<_> = std::fs::read_dir(&dlq)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        files
            .iter()
            .all(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0) == 0),
        "nothing goes to the dead-letter queue: {files:?}"
    );
}

/// Acceptance 1: 30% of the items refused with `429` and 20% of the requests with `503`:
/// every line is indexed exactly once, and the proxy did inject both faults.
#[test]
fn refused_items_and_requests_are_retried_into_exactly_once() {
    let es = es_url();
    let prefix = unique("flt-inject");
    let pattern = format!("{prefix}-*");
    let _cleanup = Cleanup(prefix.clone());
    let proxy = Proxy::start(&es);
    proxy.faults().set_reject_items(300);
    proxy.faults().set_reject_requests(200);

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let (text, offsets) = lines(0, 2000, 0);
    append(&log, &text);
    let cfg = write_config(
        dir.path(),
        &log,
        &prefix,
        &format!("url = \"{}\"", proxy.url()),
        "batch_events = 200",
    );
    let data = dir.path().join("data");
    let mut run = Running::start(&cfg, &data, &dir.path().join("logpipe.log"));
    let ok = wait_indexed(
        &mut run,
        &[&proxy],
        &pattern,
        offsets.len() as u64,
        Duration::from_secs(180),
    );
    assert!(
        ok,
        "{} of {} indexed; log:\n{}",
        count(&pattern),
        offsets.len(),
        run.log_text()
    );
    assert_exactly_once(&pattern, &offsets, &run.log_text());

    let c = proxy.counters();
    let (items, requests) = (
        Counters::get(&c.rejected_items),
        Counters::get(&c.rejected_requests),
    );
    eprintln!(
        "proxy: {} requests, {} forwarded, {requests} refused with 503, {items} items refused with 429",
        Counters::get(&c.requests),
        Counters::get(&c.forwarded)
    );
    assert!(
        items > 0 && requests > 0,
        "the proxy injected faults: {items} items refused, {requests} requests refused"
    );
    no_dead_letters(&data);
    stop(&mut run);
}

/// Acceptance 2: the server away for 30 s while 15 000 lines arrive: nothing lost, nothing
/// twice once it is back; meanwhile the bounded channels hold the pipeline (logpipe stops
/// reading the file well short of its end, and reads nothing more for the rest of the outage)
/// and memory stays small.
#[test]
fn outage_of_30s_loses_nothing_and_holds_memory() {
    let es = es_url();
    let prefix = unique("flt-outage");
    let pattern = format!("{prefix}-*");
    let _cleanup = Cleanup(prefix.clone());
    let proxy = Proxy::start(&es);

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let (text, mut offsets) = lines(0, 1000, 0);
    append(&log, &text);
    let mut size = text.len() as u64;
    // Small batches and channels, so "bounded" is well below the 15 000 lines. (A file input
    // batch holds every line of one read, here one append of 1 000 lines: the pipeline holds
    // about 8 of them.)
    let cfg = write_config(
        dir.path(),
        &log,
        &prefix,
        &format!("url = \"{}\"", proxy.url()),
        "workers = 1\nbatch_events = 100\nchannel_batches = 2",
    );
    let data = dir.path().join("data");
    let mut run = Running::start(&cfg, &data, &dir.path().join("logpipe.log"));
    let pid = run.child.id();
    let ok = wait_indexed(
        &mut run,
        &[&proxy],
        &pattern,
        1000,
        Duration::from_secs(120),
    );
    assert!(ok, "first lines not indexed; log:\n{}", run.log_text());

    proxy.set_down(true);
    let outage = Instant::now();
    let mut max_rss = 0u64;
    let mut appended = 0;
    let mut last_pos = None;
    // Read position once every line is written, a good while before the end of the outage.
    let mut pos_after_appends = None;
    while outage.elapsed() < Duration::from_secs(30) {
        if appended < 15_000 {
            let (text, more) = lines(1000 + appended, 1000, size);
            append(&log, &text);
            size += text.len() as u64;
            offsets.extend(more);
            appended += 1000;
        }
        if let Some(rss) = proxy::rss_bytes(pid) {
            max_rss = max_rss.max(rss);
        }
        last_pos = proxy::read_position(pid, &log).or(last_pos);
        if pos_after_appends.is_none()
            && appended >= 15_000
            && outage.elapsed() >= Duration::from_secs(15)
        {
            pos_after_appends = last_pos;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "logpipe keeps running through the outage; log:\n{}",
        run.log_text()
    );
    let pos = last_pos.expect("logpipe has the log file open");
    eprintln!(
        "outage: logpipe read {pos} of {size} bytes; resident memory at most {} KiB",
        max_rss / 1024
    );
    assert!(
        pos < size,
        "backpressure: logpipe read {pos} of {size} bytes while the cluster was away"
    );
    assert_eq!(
        pos_after_appends,
        Some(pos),
        "held, not just slow: nothing more was read in the last 15 s of the outage"
    );
    assert!(
        max_rss < 200 * 1024 * 1024,
        "resident memory reached {} MiB during the outage",
        max_rss / (1024 * 1024)
    );
    assert!(
        run.log_text().contains("bulk request failed"),
        "the outage was noticed; log:\n{}",
        run.log_text()
    );

    proxy.set_down(false);
    let total = offsets.len() as u64;
    let ok = wait_indexed(
        &mut run,
        &[&proxy],
        &pattern,
        total,
        Duration::from_secs(300),
    );
    assert!(
        ok,
        "{} of {total} indexed after the outage; log:\n{}",
        count(&pattern),
        run.log_text()
    );
    assert_exactly_once(&pattern, &offsets, &run.log_text());
    no_dead_letters(&data);
    stop(&mut run);
}

/// Several nodes: the first is down at the start, so everything goes to the second; once the
/// first is back and the second goes down, everything goes to the first.
#[test]
fn failover_between_nodes_and_back() {
    let es = es_url();
    let prefix = unique("flt-failover");
    let pattern = format!("{prefix}-*");
    let _cleanup = Cleanup(prefix.clone());
    let a = Proxy::start(&es);
    let b = Proxy::start(&es);
    a.set_down(true);

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let (text, mut offsets) = lines(0, 500, 0);
    append(&log, &text);
    let cfg = write_config(
        dir.path(),
        &log,
        &prefix,
        &format!("urls = [\"{}\", \"{}\"]", a.url(), b.url()),
        "batch_events = 100",
    );
    let data = dir.path().join("data");
    let mut run = Running::start(&cfg, &data, &dir.path().join("logpipe.log"));
    let ok = wait_indexed(&mut run, &[&a, &b], &pattern, 500, Duration::from_secs(120));
    assert!(
        ok,
        "{} of 500 indexed with the first node down; log:\n{}",
        count(&pattern),
        run.log_text()
    );
    assert_eq!(Counters::get(&a.counters().requests), 0);
    assert!(Counters::get(&b.counters().bulk_requests) > 0);
    assert!(
        run.log_text().contains("node failed"),
        "the dead node is reported; log:\n{}",
        run.log_text()
    );

    a.set_down(false);
    b.set_down(true);
    let size = text.len() as u64;
    let (text2, more) = lines(500, 500, size);
    append(&log, &text2);
    offsets.extend(more);
    let ok = wait_indexed(
        &mut run,
        &[&a, &b],
        &pattern,
        1000,
        Duration::from_secs(180),
    );
    assert!(
        ok,
        "{} of 1000 indexed after switching nodes; log:\n{}",
        count(&pattern),
        run.log_text()
    );
    assert!(Counters::get(&a.counters().bulk_requests) > 0);
    assert_exactly_once(&pattern, &offsets, &run.log_text());
    no_dead_letters(&data);
    stop(&mut run);
}

/// A server slower than `request_timeout_secs`: every request times out on logpipe's side
/// although the server indexes it. Once it is fast again, the retries find the documents there
/// (`409`) and nothing is indexed twice.
#[test]
fn timed_out_requests_that_were_indexed_are_not_duplicated() {
    let es = es_url();
    let prefix = unique("flt-slow");
    let pattern = format!("{prefix}-*");
    let _cleanup = Cleanup(prefix.clone());
    let proxy = Proxy::start(&es);

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let (text, offsets) = lines(0, 600, 0);
    // The lines are written only once the proxy is slow: written before, they could all be
    // indexed between the templates and the slowdown, and nothing would time out.
    append(&log, "");
    let cfg = write_config(
        dir.path(),
        &log,
        &prefix,
        &format!("url = \"{}\"", proxy.url()),
        "batch_events = 100",
    );
    let config_text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("request_timeout_secs = 20", "request_timeout_secs = 1");
    std::fs::write(&cfg, config_text).unwrap();
    let data = dir.path().join("data");
    let mut run = Running::start(&cfg, &data, &dir.path().join("logpipe.log"));
    // Templates first, at full speed, so the slow phase hits the documents.
    // Quoted whole: the component templates carry a suffix, and the log has colour codes.
    let index_template = format!("\"{prefix}\"");
    let ok = run.wait_until(Duration::from_secs(60), || {
        run_log_has(&dir.path().join("logpipe.log"), &index_template)
    });
    assert!(ok, "templates not installed; log:\n{}", run.log_text());
    let c = proxy.counters();
    proxy.faults().set_delay_ms(2500);
    append(&log, &text);
    // A delayed request was indexed after logpipe had given up on it: its items are retried,
    // and once the delay is off they reach the server after it and come back `409`.
    let ok = run.wait_until(Duration::from_secs(120), || {
        Counters::get(&c.delayed_bulk_answers) > 0
            && run_log_has(&dir.path().join("logpipe.log"), "timed out")
    });
    assert!(ok, "no request timed out; log:\n{}", run.log_text());
    proxy.faults().set_delay_ms(0);
    let ok = wait_indexed(
        &mut run,
        &[&proxy],
        &pattern,
        offsets.len() as u64,
        Duration::from_secs(180),
    );
    assert!(
        ok,
        "{} of {} indexed; log:\n{}",
        count(&pattern),
        offsets.len(),
        run.log_text()
    );
    assert_exactly_once(&pattern, &offsets, &run.log_text());
    // The documents are all there; the retries of the delayed items may still be on their way
    // (an answer written to a connection logpipe had given up on also counts as settled).
    let conflicts = run.wait_until(Duration::from_secs(60), || {
        Counters::get(&c.conflict_items) > 0
    });
    assert!(
        conflicts,
        "retried items were found already indexed (409): {} created, {} delayed answers; log:\n{}",
        Counters::get(&c.created_items),
        Counters::get(&c.delayed_bulk_answers),
        run.log_text()
    );
    no_dead_letters(&data);
    stop(&mut run);
}

fn run_log_has(log: &Path, text: &str) -> bool {
    std::fs::read_to_string(log).is_ok_and(|t| t.contains(text))
}

/// The proxy's `_bulk` rewrite: items taken out keep their place in the merged answer as
/// `429`s, the rest carry the server's answers in order.
#[test]
fn proxy_rewrites_bulk_requests_and_merges_answers_in_order() {
    let body = concat!(
        "{\"create\":{\"_index\":\"i\",\"_id\":\"a\"}}\n{\"n\":0}\n",
        "{\"create\":{\"_index\":\"i\",\"_id\":\"b\"}}\n{\"n\":1}\n",
        "{\"delete\":{\"_index\":\"i\",\"_id\":\"c\"}}\n",
        "{\"index\":{\"_index\":\"i\",\"_id\":\"d\"}}\n{\"n\":3}\n",
    );
    let split = proxy::split_bulk(body.as_bytes(), |i| i == 1 || i == 3);
    assert_eq!(split.rejected(), 2);
    assert_eq!(
        String::from_utf8(split.forward.clone()).unwrap(),
        "{\"create\":{\"_index\":\"i\",\"_id\":\"a\"}}\n{\"n\":0}\n{\"delete\":{\"_index\":\"i\",\"_id\":\"c\"}}\n"
    );
    let upstream = serde_json::json!({"took": 3, "errors": false, "items": [
        {"create": {"_id": "a", "status": 201}},
        {"delete": {"_id": "c", "status": 200}}
    ]});
    let merged = proxy::merge_bulk_response(&upstream, &split);
    assert_eq!(merged["errors"], true);
    let statuses: Vec<(String, u64)> = merged["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let (k, v) = i.as_object().unwrap().iter().next().unwrap();
            (k.clone(), v["status"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("create".to_string(), 201),
            ("create".to_string(), 429),
            ("delete".to_string(), 200),
            ("index".to_string(), 429)
        ]
    );
    assert_eq!(
        merged["items"][1]["create"]["error"]["type"],
        "es_rejected_execution_exception"
    );
    // Nothing taken out: the server's answer unchanged in substance.
    let none = proxy::split_bulk(body.as_bytes(), |_| false);
    assert_eq!(none.forward, body.as_bytes());

    // Requests with a chunked body and keep-alive are read one after the other.
    let wire = b"POST /_bulk?x=1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext\r\n ok\r\n0\r\n\r\nGET / HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi";
    let mut r = std::io::BufReader::new(&wire[..]);
    let first = proxy::read_request(&mut r).unwrap().unwrap();
    assert_eq!(
        (first.method.as_str(), first.target.as_str()),
        ("POST", "/_bulk?x=1")
    );
    assert_eq!(first.body, b"hello ok");
    assert!(!first.close);
    let second = proxy::read_request(&mut r).unwrap().unwrap();
    assert_eq!(second.body, b"hi");
    assert!(second.close);
    assert!(proxy::read_request(&mut r).unwrap().is_none());
}
