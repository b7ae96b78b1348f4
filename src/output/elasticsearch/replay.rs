//! Replaying the dead-letter queue (`logpipe dlq replay`, and `reprocess --from-dlq`): after a
//! mapping fix, every queued document goes again to its recorded index under its recorded
//! `_id` with `create`, through the same bulk delivery as a run (retries, splitting, the
//! dead-letter queue).
//!
//! Each file is claimed first (renamed to `<name>.replaying`, see `dlq`), then sent, then
//! deleted once every document in it is settled: indexed, found already there (`409`: an
//! earlier, interrupted replay), or refused again and so written to a new queue file with the
//! new error. Lines that cannot be sent (no index, a document that is not JSON, a torn line)
//! are written back to the queue unchanged. A replay that stops half-way leaves the
//! `.replaying` file, and the next replay picks it up; nothing is lost either way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use elasticsearch::http::Method;
use serde::Deserialize;

use super::bulk::{self, BulkRequest, Client, DeliveryContext, RequestError, RetryPolicy};
use super::config::ElasticsearchConfig;
use super::dlq::{self, DeadLetterQueue, DlqError};
use crate::event::json::write_str;
use crate::event::Timestamp;
use crate::pipeline::ack::BatchAck;
use crate::pipeline::batch::{BatchStats, EncodedBatch};
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Setup(String),
    #[error("cluster not reachable, nothing replayed: {0}")]
    Unreachable(#[source] RequestError),
    #[error(transparent)]
    Queue(#[from] DlqError),
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("removing the replayed file {path}: {source}")]
    Remove {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a blocking task failed: {0}")]
    Task(String),
}

/// One replayed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedFile {
    /// The file as it was named in the queue.
    pub path: PathBuf,
    pub documents: u64,
    /// Refused again: in a new queue file now.
    pub refused_again: u64,
    /// Lines that could not be sent, written back to the queue unchanged.
    pub unreadable: u64,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    pub files: Vec<ReplayedFile>,
}

impl ReplaySummary {
    pub fn documents(&self) -> u64 {
        self.files.iter().map(|f| f.documents).sum()
    }

    pub fn refused_again(&self) -> u64 {
        self.files.iter().map(|f| f.refused_again).sum()
    }

    pub fn unreadable(&self) -> u64 {
        self.files.iter().map(|f| f.unreadable).sum()
    }

    /// Documents now in the cluster (indexed now or found there already).
    pub fn indexed(&self) -> u64 {
        self.documents().saturating_sub(self.refused_again())
    }
}

/// A queue line, as far as a replay needs it.
#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    index: String,
    #[serde(default)]
    id: String,
    document: serde_json::Value,
}

/// The bulk item of a queue line (action line and document line), or `None` when it cannot be
/// sent.
fn item_of(line: &[u8]) -> Option<Vec<u8>> {
    let entry: Entry = serde_json::from_slice(line).ok()?;
    // A document kept as text was not JSON when it was refused: sending it cannot work.
    if entry.index.is_empty() || !entry.document.is_object() {
        return None;
    }
    let mut out = Vec::with_capacity(line.len() + 64);
    out.extend_from_slice(b"{\"create\":{\"_index\":");
    write_str(&mut out, &entry.index);
    if !entry.id.is_empty() {
        out.extend_from_slice(b",\"_id\":");
        write_str(&mut out, &entry.id);
    }
    out.extend_from_slice(b"}}\n");
    serde_json::to_writer(&mut out, &entry.document).ok()?;
    out.push(b'\n');
    Some(out)
}

/// Replays every file of the queue in `DATA_DIR/dlq` through a cluster of `config`. Fails
/// before touching any file when the cluster does not answer; once sending has started,
/// unavailable nodes are waited out like in a run.
pub async fn replay(
    config: &ElasticsearchConfig,
    data_dir: &Path,
) -> Result<ReplaySummary, ReplayError> {
    let client = Client::new(config).map_err(ReplayError::Setup)?;
    client
        .request(Method::Get, "", &[], Default::default(), None)
        .await
        .map_err(ReplayError::Unreachable)?;
    let dir = data_dir.join("dlq");
    let files = blocking({
        let dir = dir.clone();
        move || dlq::scan_dir(&dir).map_err(|source| dlq_io(&dir, source))
    })
    .await?;
    // Refused-again documents replace those of the file being replayed, so this queue is not
    // capped: a full queue must not stop the replay that empties it.
    let queue =
        DeadLetterQueue::in_data_dir(data_dir).with_limits(config.dlq_max_file_bytes, u64::MAX);
    let ctx = Arc::new(DeliveryContext {
        client,
        dlq: queue,
        retry: RetryPolicy::from_config(config),
    });
    let mut summary = ReplaySummary::default();
    for file in files {
        let original = file.path.clone();
        let Some(claimed) = blocking(move || dlq::claim(&file).map_err(ReplayError::from)).await?
        else {
            continue;
        };
        let replayed = replay_file(&ctx, config, &claimed).await?;
        let done = ReplayedFile {
            path: original,
            ..replayed
        };
        telemetry::dlq_file_replayed(
            &done.path.display().to_string(),
            done.documents,
            done.refused_again,
            done.unreadable,
        );
        summary.files.push(done);
    }
    // Publishes what is left as the gauge.
    let _ = blocking({
        let ctx = Arc::clone(&ctx);
        move || ctx.dlq.size().map_err(ReplayError::from)
    })
    .await;
    Ok(summary)
}

fn dlq_io(path: &Path, source: std::io::Error) -> ReplayError {
    ReplayError::Queue(DlqError::Io {
        path: path.display().to_string(),
        source,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ReplayError> + Send + 'static,
) -> Result<T, ReplayError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ReplayError::Task(e.to_string()))?
}

/// Sends the documents of one claimed file in requests bounded like a run's, then deletes it.
async fn replay_file(
    ctx: &Arc<DeliveryContext>,
    config: &ElasticsearchConfig,
    path: &Path,
) -> Result<ReplayedFile, ReplayError> {
    let text = {
        let path = path.to_path_buf();
        blocking(move || {
            std::fs::read(&path).map_err(|source| ReplayError::Read {
                path: path.display().to_string(),
                source,
            })
        })
        .await?
    };
    let refused_before = ctx.dlq.entries_written();
    let mut result = ReplayedFile {
        path: path.to_path_buf(),
        documents: 0,
        refused_again: 0,
        unreadable: 0,
    };
    let mut kept = Vec::new();
    let mut batch = new_batch();
    let max_events = config.batch_max_events.max(1);
    let max_bytes = config.batch_max_bytes.max(1);
    for line in text.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Some(item) = item_of(line) else {
            result.unreadable += 1;
            kept.extend_from_slice(line);
            kept.push(b'\n');
            continue;
        };
        result.documents += 1;
        let start = batch.buf.len();
        batch.buf.extend_from_slice(&item);
        batch.items.push(start..batch.buf.len());
        if batch.items.len() >= max_events || batch.buf.len() >= max_bytes {
            send(ctx, std::mem::replace(&mut batch, new_batch())).await;
        }
    }
    if !batch.items.is_empty() {
        send(ctx, batch).await;
    }
    if !kept.is_empty() {
        let ctx = Arc::clone(ctx);
        blocking(move || {
            ctx.dlq
                .append_lines(&kept, Timestamp::now())
                .map_err(ReplayError::from)
        })
        .await?;
    }
    result.refused_again = ctx.dlq.entries_written().saturating_sub(refused_before);
    // Every document is settled (in the cluster or queued again): the file has done its job.
    let remove = path.to_path_buf();
    blocking(move || {
        std::fs::remove_file(&remove).map_err(|source| ReplayError::Remove {
            path: remove.display().to_string(),
            source,
        })
    })
    .await?;
    Ok(result)
}

fn new_batch() -> EncodedBatch {
    EncodedBatch {
        buf: Vec::new(),
        items: Vec::new(),
        ack: BatchAck::untracked(),
        stats: BatchStats::default(),
    }
}

/// Delivers one batch; returns once every item is indexed, present, or queued again.
async fn send(ctx: &Arc<DeliveryContext>, batch: EncodedBatch) {
    let mut request = BulkRequest::new();
    let n = batch.items.len();
    request.push(&batch, 0..n, BatchAck::untracked());
    bulk::deliver(Arc::clone(ctx), request).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_from_queue_lines() {
        let line = br#"{"time":"2024-01-01T00:00:00.000Z","index":"logs-a-2024.01.01","id":"abc","status":400,"error":{"type":"t","reason":"r"},"document":{"x":{"y":1},"message":"m \"q\""}}"#;
        let item = String::from_utf8(item_of(line).unwrap()).unwrap();
        let lines: Vec<&str> = item.trim_end().split('\n').collect();
        assert_eq!(lines.len(), 2);
        let action: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(action["create"]["_index"], "logs-a-2024.01.01");
        assert_eq!(action["create"]["_id"], "abc");
        let doc: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(doc["x"]["y"], 1);
        assert_eq!(doc["message"], "m \"q\"");
        // No id: Elasticsearch picks one.
        let item = item_of(br#"{"index":"i","document":{"a":1}}"#).unwrap();
        assert!(item.starts_with(b"{\"create\":{\"_index\":\"i\"}}\n"));
        // Not sendable.
        assert!(item_of(br#"{"index":"","document":{"a":1}}"#).is_none());
        assert!(item_of(br#"{"index":"i","document":"not json"}"#).is_none());
        assert!(item_of(br#"{"index":"i""#).is_none());
    }

    #[test]
    fn summary_totals() {
        let f = |d, r, u| ReplayedFile {
            path: PathBuf::from("x"),
            documents: d,
            refused_again: r,
            unreadable: u,
        };
        let s = ReplaySummary {
            files: vec![f(5, 1, 0), f(3, 0, 2)],
        };
        assert_eq!(
            (
                s.documents(),
                s.refused_again(),
                s.unreadable(),
                s.indexed()
            ),
            (8, 1, 2, 7)
        );
    }

    /// The cluster must answer before any file is touched.
    #[tokio::test]
    async fn unreachable_cluster_touches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let q = DeadLetterQueue::in_data_dir(dir.path());
        q.append_lines(
            br#"{"index":"i","id":"a","document":{"a":1}}
"#,
            Timestamp::now(),
        )
        .unwrap();
        let mut c = ElasticsearchConfig::new("http://127.0.0.1:9");
        c.request_timeout_secs = 2;
        let err = replay(&c, dir.path()).await.unwrap_err();
        assert!(matches!(err, ReplayError::Unreachable(_)), "{err}");
        let files = dlq::scan_dir(q.dir()).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].state, dlq::FileState::Pending);
    }
}
