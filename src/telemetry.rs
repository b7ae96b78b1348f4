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
    /// Syslog UDP messages dropped because the pipeline was full (UDP cannot push back).
    pub syslog_udp_dropped: AtomicU64,
    /// Syslog TCP/TLS connections closed at once because `max_connections` were open.
    pub syslog_connections_rejected: AtomicU64,
    /// Syslog messages cut at `max_message_bytes` by the network framing.
    pub syslog_messages_cut: AtomicU64,
    /// Syslog TCP/TLS connections closed for sending garbage (no usable framing).
    pub syslog_garbage_disconnects: AtomicU64,
    /// Syslog octet-counting frames with an unusable length (the connection falls back to
    /// newline framing).
    pub syslog_framing_errors: AtomicU64,
    /// Syslog TLS handshakes that failed or timed out.
    pub syslog_tls_handshake_failures: AtomicU64,
    /// Gauge: bytes in the dead-letter queue files (`DATA_DIR/dlq`), as of the last write or
    /// check.
    pub dlq_bytes: AtomicU64,
    /// Indices deleted for being past `retention_days` (by logpipe, where there is no ILM).
    pub retention_indices_deleted: AtomicU64,
    /// Records a stage panicked on (logpipe bugs), indexed as `_processing_failure`.
    pub stage_panics: AtomicU64,
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
    syslog_udp_dropped: AtomicU64::new(0),
    syslog_connections_rejected: AtomicU64::new(0),
    syslog_messages_cut: AtomicU64::new(0),
    syslog_garbage_disconnects: AtomicU64::new(0),
    syslog_framing_errors: AtomicU64::new(0),
    syslog_tls_handshake_failures: AtomicU64::new(0),
    dlq_bytes: AtomicU64::new(0),
    retention_indices_deleted: AtomicU64::new(0),
    stage_panics: AtomicU64::new(0),
};

pub fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A stage panicked on a record (a bug); the record is indexed as `_processing_failure`.
/// Reported at most once per ten seconds, so that input which trips a bug on every
/// line cannot flood the log; the counter has them all.
pub fn stage_panicked(stage: &str, dataset: &str, offset: u64) {
    static LIMIT: RateLimit = RateLimit::new(10_000);
    let total = COUNTERS.stage_panics.fetch_add(1, Ordering::Relaxed) + 1;
    if LIMIT.allow() {
        tracing::error!(target: "logpipe::pipeline", stage, dataset, offset, total, "a stage failed on a record (a bug); it is indexed with the _processing_failure tag");
    }
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

/// A file shrank below the read offset (copytruncate); it is read again from 0.
pub fn file_truncated(input: &str, path: &str) {
    tracing::info!(target: "logpipe::input", input, path, "file truncated; reading from 0 as a new stream");
}

/// More files match than `max_open_files` allows; they are opened as slots free up.
pub fn files_waiting_for_slot(input: &str, waiting: usize, max_open_files: usize) {
    tracing::debug!(target: "logpipe::input", input, waiting, max_open_files, "files waiting for a free slot");
}

/// Lets a frequent warning through at most once per interval; what happened in between is
/// summed into the next message by the caller's counter.
#[derive(Debug)]
pub struct RateLimit {
    /// Milliseconds (since the first use of any limiter, plus one) of the last message let
    /// through; 0: never.
    last_ms: AtomicU64,
    interval_ms: u64,
}

impl RateLimit {
    pub const fn new(interval_ms: u64) -> RateLimit {
        RateLimit {
            last_ms: AtomicU64::new(0),
            interval_ms,
        }
    }

    /// True when a message may be logged now (and records that it was).
    pub fn allow(&self) -> bool {
        // Monotonic, so a clock set back cannot silence the warning; +1 keeps 0 for "never".
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let now = START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_millis() as u64
            + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < self.interval_ms {
            return false;
        }
        self.last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

static SYSLOG_UDP_DROP_LOG: RateLimit = RateLimit::new(10_000);
static SYSLOG_REJECT_LOG: RateLimit = RateLimit::new(10_000);
static SYSLOG_CONN_ERROR_LOG: RateLimit = RateLimit::new(1_000);
static SYSLOG_GARBAGE_LOG: RateLimit = RateLimit::new(1_000);

/// A syslog input is bound and receiving.
pub fn syslog_listening(input: &str, mode: &str, address: &str) {
    tracing::info!(target: "logpipe::input", input, mode, address, "syslog input listening");
}

/// A syslog input stopped; `dropped` counts UDP messages lost to a full pipeline.
pub fn syslog_stopped(input: &str, mode: &str, received: u64, dropped: u64) {
    tracing::info!(target: "logpipe::input", input, mode, received, dropped, "syslog input stopped");
}

/// A batch of UDP syslog messages was dropped because the pipeline was full. Logged at most
/// every 10 s, with the total dropped so far.
pub fn syslog_udp_dropped(input: &str, count: usize) {
    add(&COUNTERS.syslog_udp_dropped, count as u64);
    if SYSLOG_UDP_DROP_LOG.allow() {
        let total = get(&COUNTERS.syslog_udp_dropped);
        tracing::warn!(target: "logpipe::input", input, count, total, "pipeline full: UDP syslog messages dropped");
    }
}

/// A TCP/TLS connection was closed at once because `max_connections` are open. Logged at most
/// every 10 s.
pub fn syslog_connection_rejected(input: &str, peer: &str, max_connections: usize) {
    add(&COUNTERS.syslog_connections_rejected, 1);
    if SYSLOG_REJECT_LOG.allow() {
        let total = get(&COUNTERS.syslog_connections_rejected);
        tracing::warn!(target: "logpipe::input", input, peer, max_connections, total, "syslog connection refused: too many connections");
    }
}

/// A syslog TCP/TLS connection was opened.
pub fn syslog_connection_opened(input: &str, peer: &str) {
    tracing::debug!(target: "logpipe::input", input, peer, "syslog connection opened");
}

/// A syslog TCP/TLS connection ended (`reason`: end of stream, idle, shutdown, garbage, error).
pub fn syslog_connection_closed(input: &str, peer: &str, reason: &str, messages: u64) {
    tracing::debug!(target: "logpipe::input", input, peer, reason, messages, "syslog connection closed");
}

/// A syslog connection failed (read error, failed TLS handshake); the others go on. Logged at
/// most once a second, so a flood of bad clients cannot flood the log.
pub fn syslog_connection_error(input: &str, peer: &str, error: &dyn std::fmt::Display) {
    if SYSLOG_CONN_ERROR_LOG.allow() {
        tracing::warn!(target: "logpipe::input", input, peer, %error, "syslog connection error");
    }
}

/// A TLS handshake failed or timed out.
pub fn syslog_tls_handshake_failed(input: &str, peer: &str, error: &dyn std::fmt::Display) {
    add(&COUNTERS.syslog_tls_handshake_failures, 1);
    syslog_connection_error(input, peer, error);
}

/// Messages were cut at `max_message_bytes` by the syslog framing.
pub fn syslog_messages_cut(count: u64) {
    add(&COUNTERS.syslog_messages_cut, count);
}

/// An octet-counting frame had an unusable length; the connection reads by newline from there.
pub fn syslog_framing_error(input: &str, peer: &str) {
    add(&COUNTERS.syslog_framing_errors, 1);
    tracing::debug!(target: "logpipe::input", input, peer, "bad octet-counting frame; reading by newline from here");
}

/// A client sent a message far past `max_message_bytes` with no newline and no usable octet
/// count; it was cut and the connection closed. Logged at most once a second.
pub fn syslog_garbage_disconnect(input: &str, peer: &str, max_message_bytes: usize) {
    add(&COUNTERS.syslog_garbage_disconnects, 1);
    if !SYSLOG_GARBAGE_LOG.allow() {
        return;
    }
    tracing::warn!(target: "logpipe::input", input, peer, max_message_bytes, "syslog client sent an endless message without framing; disconnected");
}

/// Accepting a connection failed (out of file descriptors, ...); the listener goes on.
pub fn syslog_accept_failed(input: &str, error: &dyn std::fmt::Display) {
    if SYSLOG_CONN_ERROR_LOG.allow() {
        tracing::warn!(target: "logpipe::input", input, %error, "accepting a syslog connection failed");
    }
}

/// The dead-letter queue now holds `bytes` (a gauge: set, not added).
pub fn dlq_size(bytes: u64) {
    COUNTERS.dlq_bytes.store(bytes, Ordering::Relaxed);
}

/// An index past its retention was deleted.
pub fn retention_index_deleted(index: &str, date: &str, age_days: i64, retention_days: u32) {
    add(&COUNTERS.retention_indices_deleted, 1);
    tracing::info!(target: "logpipe::retention", index, date, age_days, retention_days, "index past retention deleted");
}

/// Deleting an index past its retention failed; the next pass tries again.
pub fn retention_delete_failed(index: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(target: "logpipe::retention", index, %error, "deleting an index past retention failed; retried at the next pass");
}

/// A retention pass ended.
pub fn retention_pass(indices: usize, deleted: usize, failed: usize) {
    tracing::info!(target: "logpipe::retention", indices, deleted, failed, "retention pass done");
}

/// A retention pass could not list the indices; the next pass tries again.
pub fn retention_pass_failed(error: &dyn std::fmt::Display) {
    tracing::warn!(target: "logpipe::retention", %error, "retention pass failed; retried at the next pass");
}

/// The cluster has no ILM: logpipe deletes the indices past retention itself.
pub fn retention_by_logpipe(url: &str, retention: &str) {
    tracing::info!(target: "logpipe::retention", url, retention, "no ILM in the cluster: logpipe deletes indices past retention itself, hourly");
}

/// A dead-letter queue file was replayed and removed.
pub fn dlq_file_replayed(path: &str, documents: u64, refused_again: u64, unreadable: u64) {
    tracing::info!(target: "logpipe::dlq", path, documents, refused_again, unreadable, "dead-letter queue file replayed");
}

#[cfg(test)]
mod syslog_telemetry_tests {
    use super::*;

    #[test]
    fn rate_limit_lets_one_through_per_interval() {
        let limit = RateLimit::new(60_000);
        assert!(limit.allow());
        assert!(!limit.allow());
        let always = RateLimit::new(0);
        assert!(always.allow() && always.allow());
    }

    #[test]
    fn udp_drops_are_counted() {
        let before = get(&COUNTERS.syslog_udp_dropped);
        syslog_udp_dropped("test", 7);
        syslog_udp_dropped("test", 3);
        assert!(get(&COUNTERS.syslog_udp_dropped) >= before + 10);
    }
}
