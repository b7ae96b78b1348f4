//! Internal events: every log line and counter logpipe emits about itself is defined here, so
//! their names live in one place. Counters are process-wide atomics read by the summary and
//! (later) the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Counters {
    pub records_read: AtomicU64,
    pub events_processed: AtomicU64,
    pub empty_lines_skipped: AtomicU64,
    pub parse_failures: AtomicU64,
    pub invalid_utf8: AtomicU64,
    pub truncated: AtomicU64,
    pub events_dropped_by_rule: AtomicU64,
    pub events_delivered: AtomicU64,
    pub events_already_present: AtomicU64,
    pub events_dead_lettered: AtomicU64,
    pub bulk_retries: AtomicU64,
}

pub static COUNTERS: Counters = Counters {
    records_read: AtomicU64::new(0),
    events_processed: AtomicU64::new(0),
    empty_lines_skipped: AtomicU64::new(0),
    parse_failures: AtomicU64::new(0),
    invalid_utf8: AtomicU64::new(0),
    truncated: AtomicU64::new(0),
    events_dropped_by_rule: AtomicU64::new(0),
    events_delivered: AtomicU64::new(0),
    events_already_present: AtomicU64::new(0),
    events_dead_lettered: AtomicU64::new(0),
    bulk_retries: AtomicU64::new(0),
};

pub fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A file input started reading a file.
pub fn file_opened(input: &str, path: &str, offset: u64) {
    tracing::info!(target: "logpipe::input", input, path, offset, "file opened");
}

/// A file input stopped reading a file.
pub fn file_closed(input: &str, path: &str, reason: &str) {
    tracing::info!(target: "logpipe::input", input, path, reason, "file closed");
}

/// A file input failed on one file; the others go on.
pub fn file_error(input: &str, path: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(target: "logpipe::input", input, path, %error, "file read error");
}

/// A checkpoint could not be written; it is retried at the next flush.
pub fn checkpoint_write_failed(path: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(target: "logpipe::checkpoint", path, %error, "checkpoint write failed");
}

/// A bulk request failed as a whole and will be retried.
pub fn bulk_request_failed(attempt: u32, error: &dyn std::fmt::Display, retry_in_ms: u64) {
    COUNTERS.bulk_retries.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(target: "logpipe::output", attempt, %error, retry_in_ms, "bulk request failed, retrying");
}

/// Items of a bulk request were refused for a reason worth retrying (429, 5xx).
pub fn bulk_items_retried(count: usize, status: u16) {
    tracing::debug!(target: "logpipe::output", count, status, "bulk items will be retried");
}

/// Documents were refused for good and went to the dead-letter queue.
pub fn dead_lettered(count: usize, reason: &str) {
    COUNTERS
        .events_dead_lettered
        .fetch_add(count as u64, Ordering::Relaxed);
    tracing::warn!(target: "logpipe::output", count, reason, "documents sent to the dead-letter queue");
}

/// Index templates were installed or found current.
pub fn template_installed(name: &str, version: u64, action: &str) {
    tracing::info!(target: "logpipe::output", name, version, action, "index template");
}

/// Shutdown started; in-flight events drain within the grace period.
pub fn shutdown_started(grace_secs: u64) {
    tracing::info!(target: "logpipe::pipeline", grace_secs, "shutting down: draining in-flight events");
}

/// The drain did not finish within the grace period; unacknowledged records are read again
/// after the next start.
pub fn shutdown_grace_expired() {
    tracing::warn!(target: "logpipe::pipeline", "grace period expired; unacknowledged records will be re-read on restart");
}

/// Items of bulk requests were accepted: indexed now, or found already indexed (`409` on
/// `create`: a replay or a retried request).
pub fn bulk_items_delivered(created: usize, already_present: usize) {
    add(
        &COUNTERS.events_delivered,
        (created + already_present) as u64,
    );
    add(&COUNTERS.events_already_present, already_present as u64);
    if already_present > 0 {
        tracing::debug!(target: "logpipe::output", created, already_present, "documents already present (replay)");
    }
}

/// A bulk request was refused as a whole for its size or content; its items go out in smaller
/// requests.
pub fn bulk_request_split(items: usize, status: u16) {
    tracing::warn!(target: "logpipe::output", items, status, "bulk request refused as a whole; splitting it");
}

/// The dead-letter queue could not be written; the documents stay pending and are retried.
pub fn dead_letter_write_failed(path: &str, error: &dyn std::fmt::Display) {
    tracing::error!(target: "logpipe::output", path, %error, "dead-letter queue write failed; documents will be retried");
}

/// A bulk delivery task panicked; its records stay unacknowledged and are read again after a
/// restart.
pub fn bulk_task_failed(error: &dyn std::fmt::Display) {
    tracing::error!(target: "logpipe::output", %error, "bulk delivery task failed");
}

/// Installing the index templates failed for a reason worth waiting out (cluster unreachable).
pub fn template_install_failed(
    url: &str,
    attempt: u32,
    error: &dyn std::fmt::Display,
    retry_in_ms: u64,
) {
    tracing::warn!(target: "logpipe::output", url, attempt, %error, retry_in_ms, "index templates not installed yet, retrying");
}

/// An index or component template in the cluster was left as it is (newer, or not logpipe's).
pub fn template_left_unchanged(name: &str, detail: &str) {
    tracing::warn!(target: "logpipe::output", name, detail, "index template left unchanged");
}
