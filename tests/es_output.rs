//! The Elasticsearch output against a live cluster (`ES_URL`): bulk indexing with split batches,
//! replays without duplicates, the dead-letter queue, the index template, time-based flushes.
//! Skipped, with a note, when `ES_URL` is not set. Each test uses its own index and template
//! names and deletes them at the end.

use std::sync::Arc;
use std::time::Duration;

use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::transport::Transport;
use elasticsearch::http::Method;
use elasticsearch::Elasticsearch;
use logpipe::event::{Event, RecordOrigin, Text, Timestamp, Value};
use logpipe::output::elasticsearch::{Compression, ElasticsearchConfig, ElasticsearchOutput};
use logpipe::output::{Encoder, Output, OutputContext};
use logpipe::pipeline::ack::StreamAcks;
use logpipe::pipeline::batch::{BatchStats, EncodedBatch};
use logpipe::pipeline::shutdown;
use logpipe::telemetry::{self, COUNTERS};

fn es_url() -> Option<String> {
    match std::env::var("ES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            eprintln!("note: ES_URL is not set; skipping this Elasticsearch integration test");
            None
        }
    }
}

/// 2024-03-05T07:08:09Z
const T: i64 = 1_709_622_489;

/// Names of one test: its template, index prefix and the dataset in every index name.
struct Names {
    template: String,
    prefix: String,
}

impl Names {
    fn new(test: &str) -> Names {
        let suffix: u32 = rand::random();
        let template = format!("lpt-{test}-{suffix:08x}");
        Names {
            prefix: template.clone(),
            template,
        }
    }

    fn config(&self, url: &str) -> ElasticsearchConfig {
        let mut c = ElasticsearchConfig::new(url);
        c.index = format!("{}-{{event.dataset}}-%Y.%m.%d", self.prefix);
        c.template_name = self.template.clone();
        c.number_of_replicas = 0;
        c.refresh_interval = "1s".into();
        c.retry_initial_ms = 20;
        c.retry_max_ms = 200;
        c
    }

    fn index(&self, dataset: &str) -> String {
        format!("{}-{dataset}-2024.03.05", self.prefix)
    }
}

struct Cluster {
    es: Elasticsearch,
}

impl Cluster {
    fn new(url: &str) -> Cluster {
        Cluster {
            es: Elasticsearch::new(Transport::single_node(url).unwrap()),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> (u16, serde_json::Value) {
        let mut headers = HeaderMap::new();
        headers.insert(
            elasticsearch::http::headers::CONTENT_TYPE,
            elasticsearch::http::headers::HeaderValue::from_static("application/json"),
        );
        let r = self
            .es
            .send(method, path, headers, None::<&()>, body, None)
            .await
            .unwrap();
        let status = r.status_code().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    async fn count(&self, index: &str) -> u64 {
        self.call(Method::Post, &format!("{index}/_refresh"), None)
            .await;
        let (status, v) = self
            .call(Method::Get, &format!("{index}/_count"), None)
            .await;
        assert_eq!(status, 200, "{v}");
        v["count"].as_u64().unwrap()
    }

    async fn cleanup(&self, names: &Names, indices: &[String]) {
        for i in indices {
            self.call(Method::Delete, i, None).await;
        }
        self.call(
            Method::Delete,
            &format!("_index_template/{}", names.template),
            None,
        )
        .await;
        for c in ["ecs-mappings", "settings"] {
            self.call(
                Method::Delete,
                &format!("_component_template/{}-{c}", names.template),
                None,
            )
            .await;
        }
    }
}

fn event(stream_key: u64, offset: u64, dataset: &str) -> Event {
    let raw = format!("line {stream_key} {offset}");
    let len = raw.len();
    let mut e = Event::new(raw, RecordOrigin { stream_key, offset });
    e.timestamp = Timestamp::from_unix(T + offset as i64, 0, 3);
    e.push("event.dataset", Value::owned_str(dataset));
    e.push_span("message", 0, len);
    e.push("source.ip", Value::Ip("203.0.113.7".parse().unwrap()));
    e.push("http.response.status_code", Value::Int(200));
    e
}

/// Encodes events into one batch registered with `acks` (its end offset: the last offset + 1).
fn batch(encoder: &Arc<dyn Encoder>, events: &[Event], acks: &Arc<StreamAcks>) -> EncodedBatch {
    let mut buf = Vec::new();
    let mut items = Vec::new();
    for e in events {
        let start = buf.len();
        encoder.encode(e, &mut buf);
        items.push(start..buf.len());
    }
    let end = events.last().map(|e| e.origin.offset + 1).unwrap_or(0);
    EncodedBatch {
        buf,
        items,
        ack: acks.register(end),
        stats: BatchStats::default(),
    }
}

/// Runs the output over `batches` until the channel closes; returns how long it took.
async fn run_output(
    config: ElasticsearchConfig,
    data_dir: &std::path::Path,
    batches: Vec<EncodedBatch>,
) -> Result<(), logpipe::output::OutputError> {
    let output = Box::new(ElasticsearchOutput::new(config).unwrap());
    let (tx, rx) = flume::bounded(4);
    let (_trigger, shutdown) = shutdown::channel();
    let ctx = OutputContext {
        data_dir: data_dir.to_path_buf(),
        shutdown,
    };
    let task = tokio::spawn(output.run(rx, ctx));
    for b in batches {
        tx.send_async(b).await.unwrap();
    }
    drop(tx);
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("output finished in time")
        .expect("output task did not panic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_split_batches_and_a_replay_adds_no_duplicates() {
    let Some(url) = es_url() else { return };
    let names = Names::new("bulk");
    let cluster = Cluster::new(&url);
    let dir = tempfile::tempdir().unwrap();
    let mut config = names.config(&url);
    config.batch_max_events = 70;
    config.max_in_flight = 2;
    config.compression = Compression::Gzip;
    let encoder = ElasticsearchOutput::new(config.clone()).unwrap().encoder();

    let acks_a = StreamAcks::new(0, None);
    let acks_b = StreamAcks::new(0, None);
    let make = || {
        let mut v = Vec::new();
        for chunk in 0..3u64 {
            let evs: Vec<Event> = (chunk * 50..chunk * 50 + 50)
                .map(|o| event(11, o, "test.a"))
                .collect();
            v.push(batch(&encoder, &evs, &acks_a));
        }
        let evs: Vec<Event> = (0..100).map(|o| event(12, o, "test.b")).collect();
        v.push(batch(&encoder, &evs, &acks_b));
        v
    };

    run_output(config.clone(), dir.path(), make())
        .await
        .unwrap();
    assert_eq!(acks_a.acked_offset(), 150);
    assert_eq!(acks_b.acked_offset(), 100);
    assert!(!acks_a.is_stalled() && !acks_b.is_stalled());
    assert_eq!(cluster.count(&names.index("test.a")).await, 150);
    assert_eq!(cluster.count(&names.index("test.b")).await, 100);

    // The same records again (a restart from an old checkpoint), without compression this
    // time: every item meets 409, counts as delivered, and nothing is doubled.
    let present_before = telemetry::get(&COUNTERS.events_already_present);
    config.compression = Compression::None;
    run_output(config, dir.path(), make()).await.unwrap();
    assert_eq!(acks_a.acked_offset(), 150);
    assert_eq!(acks_b.acked_offset(), 100);
    assert!(!acks_a.is_stalled() && !acks_b.is_stalled());
    assert!(telemetry::get(&COUNTERS.events_already_present) - present_before >= 250);
    assert_eq!(cluster.count(&names.index("test.a")).await, 150);
    assert_eq!(cluster.count(&names.index("test.b")).await, 100);
    assert!(!dir.path().join("dlq").exists(), "nothing dead-lettered");

    cluster
        .cleanup(&names, &[names.index("test.a"), names.index("test.b")])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_conflict_goes_to_the_dead_letter_queue() {
    let Some(url) = es_url() else { return };
    let names = Names::new("dlq");
    let cluster = Cluster::new(&url);
    let dir = tempfile::tempdir().unwrap();
    let config = names.config(&url);
    let encoder = ElasticsearchOutput::new(config.clone()).unwrap().encoder();
    let acks = StreamAcks::new(0, None);

    let mut events: Vec<Event> = (0..10).map(|o| event(21, o, "test.c")).collect();
    // The template maps the status code as `long`: a word there cannot be indexed.
    events[4].push(
        "http.response.status_code",
        Value::Str(Text::Static("not-a-number")),
    );
    let b = batch(&encoder, &events, &acks);
    let dead_before = telemetry::get(&COUNTERS.events_dead_lettered);
    run_output(config, dir.path(), vec![b]).await.unwrap();

    assert_eq!(acks.acked_offset(), 10, "the batch counts as delivered");
    assert!(!acks.is_stalled());
    assert_eq!(cluster.count(&names.index("test.c")).await, 9);
    assert!(telemetry::get(&COUNTERS.events_dead_lettered) - dead_before >= 1);

    let files: Vec<_> = std::fs::read_dir(dir.path().join("dlq"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("dlq-") && name.ends_with(".ndjson"),
        "{name}"
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["status"], 400);
    assert_eq!(v["index"], names.index("test.c"));
    assert_eq!(v["id"].as_str().unwrap().len(), 22);
    assert!(
        v["error"]["type"].as_str().unwrap().contains("parsing"),
        "{v}"
    );
    assert_eq!(
        v["document"]["http"]["response"]["status_code"],
        "not-a-number"
    );
    assert_eq!(v["document"]["message"], "line 21 4");
    assert!(v["time"].as_str().unwrap().ends_with('Z'));

    cluster.cleanup(&names, &[names.index("test.c")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_gives_ecs_types_and_setup_is_idempotent() {
    let Some(url) = es_url() else { return };
    let names = Names::new("tpl");
    let cluster = Cluster::new(&url);
    let dir = tempfile::tempdir().unwrap();
    let config = names.config(&url);
    let output = ElasticsearchOutput::new(config.clone()).unwrap();

    let lines = output.setup().await.unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[0],
        format!(
            "component template {}-ecs-mappings: installed (version {})",
            names.template,
            logpipe::output::elasticsearch::TEMPLATE_VERSION
        )
    );
    assert!(lines[2].starts_with(&format!("index template {}: installed", names.template)));
    let again = output.setup().await.unwrap();
    // The second run finds every piece as it would write it and writes nothing.
    assert!(
        again
            .iter()
            .all(|l| l.contains("up to date") && l.ends_with("unchanged")),
        "{again:?}"
    );

    let (status, t) = cluster
        .call(
            Method::Get,
            &format!("_index_template/{}", names.template),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let t = &t["index_templates"][0]["index_template"];
    assert_eq!(t["_meta"]["managed_by"], "logpipe");
    assert_eq!(
        t["_meta"]["version"],
        logpipe::output::elasticsearch::TEMPLATE_VERSION
    );
    assert_eq!(t["index_patterns"][0], format!("{}-*", names.prefix));

    let acks = StreamAcks::new(0, None);
    let encoder = output.encoder();
    let b = batch(&encoder, &[event(31, 0, "test.d")], &acks);
    run_output(config, dir.path(), vec![b]).await.unwrap();
    assert_eq!(acks.acked_offset(), 1);

    let index = names.index("test.d");
    let (status, m) = cluster
        .call(Method::Get, &format!("{index}/_mapping"), None)
        .await;
    assert_eq!(status, 200, "{m}");
    let p = &m[&index]["mappings"]["properties"];
    assert_eq!(p["@timestamp"]["type"], "date", "{m}");
    assert_eq!(p["source"]["properties"]["ip"]["type"], "ip", "{m}");
    assert_eq!(p["message"]["type"], "text", "{m}");
    assert_eq!(
        p["http"]["properties"]["response"]["properties"]["status_code"]["type"], "long",
        "{m}"
    );
    assert_eq!(
        p["event"]["properties"]["dataset"]["type"], "keyword",
        "{m}"
    );

    cluster.cleanup(&names, &[index]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_template_is_left_alone() {
    let Some(url) = es_url() else { return };
    let names = Names::new("newer");
    let cluster = Cluster::new(&url);
    let body = serde_json::json!({
        "index_patterns": [format!("{}-*", names.prefix)],
        "priority": 200,
        "_meta": {"managed_by": "logpipe", "version": 99}
    });
    let (status, _) = cluster
        .call(
            Method::Put,
            &format!("_index_template/{}", names.template),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(status, 200);
    let output = ElasticsearchOutput::new(names.config(&url)).unwrap();
    let lines = output.setup().await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("version 99") && lines[0].contains("kept"),
        "{lines:?}"
    );
    let (_, t) = cluster
        .call(
            Method::Get,
            &format!("_index_template/{}", names.template),
            None,
        )
        .await;
    assert_eq!(
        t["index_templates"][0]["index_template"]["_meta"]["version"],
        99
    );
    // Component templates were not touched either.
    let (status, _) = cluster
        .call(
            Method::Get,
            &format!("_component_template/{}-ecs-mappings", names.template),
            None,
        )
        .await;
    assert_eq!(status, 404);
    cluster.cleanup(&names, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_request_is_sent_when_the_batch_timeout_passes() {
    let Some(url) = es_url() else { return };
    let names = Names::new("timer");
    let cluster = Cluster::new(&url);
    let dir = tempfile::tempdir().unwrap();
    let mut config = names.config(&url);
    config.batch_max_events = 10_000;
    config.batch_timeout_ms = 100;
    let output = Box::new(ElasticsearchOutput::new(config).unwrap());
    let encoder = output.encoder();
    let acks = StreamAcks::new(0, None);
    let (tx, rx) = flume::bounded(4);
    let (_trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(output.run(
        rx,
        OutputContext {
            data_dir: dir.path().to_path_buf(),
            shutdown,
        },
    ));
    let evs: Vec<Event> = (0..5).map(|o| event(41, o, "test.e")).collect();
    tx.send_async(batch(&encoder, &evs, &acks)).await.unwrap();
    // The channel stays open: only the timer can send these.
    let start = std::time::Instant::now();
    while acks.acked_offset() < 5 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not flushed by the timer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!task.is_finished());
    drop(tx);
    task.await.unwrap().unwrap();
    assert_eq!(cluster.count(&names.index("test.e")).await, 5);
    cluster.cleanup(&names, &[names.index("test.e")]).await;
}

/// No cluster needed: an unreachable URL holds the batches back (nothing acknowledged, nothing
/// dropped) until shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ElasticsearchConfig::new("http://127.0.0.1:9");
    config.retry_initial_ms = 10;
    config.retry_max_ms = 50;
    config.request_timeout_secs = 2;
    let output = Box::new(ElasticsearchOutput::new(config).unwrap());
    let encoder = output.encoder();
    let acks = StreamAcks::new(0, None);
    let (tx, rx) = flume::bounded(1);
    let (trigger, shutdown) = shutdown::channel();
    let task = tokio::spawn(output.run(
        rx,
        OutputContext {
            data_dir: dir.path().to_path_buf(),
            shutdown,
        },
    ));
    tx.send_async(batch(&encoder, &[event(51, 0, "x")], &acks))
        .await
        .unwrap();
    // Not taken while the templates cannot be installed: the next send would block.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(tx.is_full());
    assert!(!task.is_finished());
    trigger.trigger();
    let result = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    let err = result.unwrap_err().to_string();
    assert!(err.contains("127.0.0.1:9"), "{err}");
    drop(tx);
    assert_eq!(acks.acked_offset(), 0);
}
