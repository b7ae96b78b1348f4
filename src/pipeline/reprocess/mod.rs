//! `logpipe reprocess`: a pipeline's parse/enrich/anonymize/tag/output stages over files given
//! on the command line instead of its inputs: archives to backfill, a day to index again after
//! a parser fix.
//!
//! Flow: the plan expands the paths, gives each file the parser of the input whose paths match
//! it (or `--format`), its stream key and, for large plain files, its pieces (`split`). A rayon
//! pool reads the pieces; a `.gz` file is decompressed by one task that hands its batches to
//! the pool, so decompression overlaps parsing. Workers run the pipeline's chain on each batch
//! and send the encoded result to the output, which runs on threads of its own (a tokio
//! runtime for Elasticsearch, a writer thread for NDJSON).
//!
//! Exactly once, across interruptions and repeats: document ids come from (stream key, offset),
//! and a file's stream key is a function of its content, never of the run: the key the live
//! file input gave the same content (found in its checkpoints by fingerprint), else the key an
//! earlier reprocess used for a shorter version of the file (found in the journal), else a hash
//! of the file's first KiB. A repeated or forced run therefore meets `409 already present`
//! instead of indexing twice. The journal records a file only once every batch of it was
//! acknowledged, so an interrupted file is read again, whole, by the next run.

mod engine;
pub mod journal;
mod plan;
pub mod progress;
mod sink;
pub mod split;
pub mod summary;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::PipelineConfig;
use crate::event::Timestamp;
use crate::output::{Encoder, NdjsonEncoder, OutputContext};
use crate::pipeline::batch::EncodedBatch;
use crate::pipeline::{shutdown, PipelineError};
use engine::{FileState, IndexNamer, Run, Wake};
use journal::{Journal, JournalEntry, JournalError};
use progress::{Progress, ProgressMode};
use summary::{FileCounts, FileReport, Report, Tallies, Tally};

/// Pieces plain files are cut into for parallel reading.
pub const DEFAULT_CHUNK_BYTES: u64 = 16 * 1024 * 1024;
/// Records per batch: large, so per-batch costs (a lock, a channel hop, an ack) vanish.
pub const DEFAULT_BATCH_EVENTS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ReprocessError {
    /// Bad arguments: no such file, no parser for a file, a bad time.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start the reprocess threads: {0}")]
    Threads(String),
}

impl ReprocessError {
    /// True for errors in what the user asked (exit code 2), not in running it.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ReprocessError::Usage(_)
                | ReprocessError::Pipeline(PipelineError::Parser { .. })
                | ReprocessError::Pipeline(PipelineError::Stage { .. })
        )
    }
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReprocessError + '_ {
    move |source| ReprocessError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Where the documents go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The pipeline's own output; the journal is kept.
    Pipeline,
    /// NDJSON on standard output.
    Stdout,
    /// NDJSON appended to a file.
    File(PathBuf),
    /// Nothing is sent: counts and the first `samples` documents only.
    DryRun { samples: usize },
}

impl Destination {
    /// Whether finished files are journaled (and journaled files skipped): only where the
    /// documents are kept by the pipeline's destination.
    fn journaled(&self) -> bool {
        matches!(self, Destination::Pipeline)
    }
}

/// Events kept by `--since`/`--until`: `since <= @timestamp < until`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl TimeWindow {
    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    pub fn contains(&self, t: Option<Timestamp>) -> bool {
        let Some(t) = t else {
            return self.is_open();
        };
        self.since.is_none_or(|s| t.nanos >= s.nanos)
            && self.until.is_none_or(|u| t.nanos < u.nanos)
    }
}

/// A time for `--since`/`--until`: RFC 3339 (`2024-01-02T03:04:05Z`, `...+01:00`), a UTC
/// date and time without zone (`2024-01-02T03:04:05`, `2024-01-02 03:04:05`), or a UTC day
/// (`2024-01-02`, meaning its midnight).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let s = s.trim();
    let nanos = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.timestamp_nanos_opt()
    } else if let Some(t) = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    {
        t.and_utc().timestamp_nanos_opt()
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_utc().timestamp_nanos_opt())
    } else {
        return Err(format!(
            "`{s}`: expected a date (2024-01-02), a UTC date and time (2024-01-02T03:04:05) or RFC 3339 (2024-01-02T03:04:05+01:00)"
        ));
    };
    nanos
        .map(|n| Timestamp::from_nanos(n, 3))
        .ok_or_else(|| format!("`{s}`: out of range"))
}

/// What `reprocess` was asked to do.
#[derive(Debug, Clone)]
pub struct ReprocessOptions {
    pub data_dir: PathBuf,
    /// Files, globs and directories (read recursively).
    pub paths: Vec<String>,
    /// Parser for files no input's paths match.
    pub format: Option<String>,
    /// Zone of the `--format` parser's timestamps without an offset.
    pub timezone: Option<String>,
    /// Size of the rayon pool.
    pub threads: usize,
    pub destination: Destination,
    pub window: TimeWindow,
    /// Read files the journal lists as finished too.
    pub force: bool,
    pub progress: ProgressMode,
    /// Bulk requests in flight (Elasticsearch); default: the pipeline's, at least 8.
    pub max_in_flight: Option<usize>,
    pub chunk_bytes: u64,
    pub batch_events: usize,
    /// Stop reading on SIGINT/SIGTERM (a second one stops at once).
    pub handle_signals: bool,
}

impl ReprocessOptions {
    pub fn new(data_dir: PathBuf, paths: Vec<String>) -> ReprocessOptions {
        ReprocessOptions {
            data_dir,
            paths,
            format: None,
            timezone: None,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            destination: Destination::Pipeline,
            window: TimeWindow::default(),
            force: false,
            progress: ProgressMode::Auto,
            max_in_flight: None,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            batch_events: DEFAULT_BATCH_EVENTS,
            handle_signals: true,
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    /// `--dry-run`: the first documents, as JSON lines.
    pub samples: Vec<String>,
    /// A second signal ended the run without waiting for in-flight batches.
    pub aborted: bool,
}

/// Signals seen by the run (the first stops reading, the second stops waiting).
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

/// Reprocesses the files; returns the summary (also when interrupted).
pub fn run(config: PipelineConfig, options: ReprocessOptions) -> Result<Outcome, ReprocessError> {
    let started = Instant::now();
    std::fs::create_dir_all(&options.data_dir).map_err(|e| PipelineError::DataDir {
        path: options.data_dir.display().to_string(),
        source: e,
    })?;
    let threads = options.threads.max(1);
    let journal = if options.destination.journaled() {
        let name = config
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pipeline".into());
        Some(Journal::open(&options.data_dir, &name)?)
    } else {
        None
    };

    // Only the pipeline's own output is built from the file; NDJSON and dry runs encode
    // documents alone.
    let mut outputs = config.output.clone();
    if let Some(es) = outputs.elasticsearch.as_mut() {
        es.max_in_flight = options
            .max_in_flight
            .unwrap_or_else(|| es.max_in_flight.max(8))
            .max(1);
    }
    let pipeline_output = match options.destination {
        Destination::Pipeline => Some(outputs.build_with_routes(&config.tag.routes())?),
        _ => None,
    };
    let encoder: Arc<dyn Encoder> = match &pipeline_output {
        Some(o) => o.encoder(),
        None => Arc::new(NdjsonEncoder::default()),
    };
    let sources = plan::build_sources(&config, &encoder, &options)?;
    let paths = plan::expand_paths(&options.paths)?;
    let stores = plan::checkpoint_stores(&options.data_dir);
    let files = plan::plan_files(&paths, &sources, journal.as_ref(), &stores, options.force)?;
    drop(stores);
    let units = plan::plan_units(&files, &sources, options.chunk_bytes)?;

    let state: Vec<FileState> = files.iter().map(|_| FileState::default()).collect();
    for u in &units {
        if let Some(s) = state.get(u.file) {
            s.work_left.fetch_add(1, Ordering::SeqCst);
        }
    }
    let total_bytes: u64 = files.iter().filter(|f| !f.skip).map(|f| f.size).sum();
    let to_read = files.iter().filter(|f| !f.skip).count();
    let output_name = match (&options.destination, &pipeline_output) {
        (Destination::Pipeline, Some(o)) => o.name(),
        (Destination::Stdout, _) => "stdout",
        (Destination::File(_), _) => "file",
        _ => "dry-run",
    };
    let (wake_tx, wake_rx) = flume::unbounded();
    let run = Arc::new(Run {
        namer: IndexNamer::from_config(&config),
        files,
        state,
        sources,
        tallies: Mutex::new(Tallies::default()),
        in_flight: Mutex::new(HashMap::new()),
        next_seq: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        bytes_read: AtomicU64::new(0),
        events: AtomicU64::new(0),
        handed_off: AtomicUsize::new(0),
        max_handed_off: threads * 2,
        count_delivered_as_written: !matches!(output_name, "elasticsearch" | "dry-run"),
        window: options.window,
        batch_events: options.batch_events.max(1),
        wake: wake_tx.clone(),
    });

    // The output: a tokio runtime for Elasticsearch (and for the signals), a thread otherwise.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("logpipe-reprocess-io")
        .enable_all()
        .build()
        .map_err(|e| ReprocessError::Threads(e.to_string()))?;
    let (trigger, shutdown) = shutdown::channel();
    let (tx, rx) = flume::bounded::<EncodedBatch>(threads * 2 + 2);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let output = sink::start(
        &options.destination,
        pipeline_output,
        &config,
        rx,
        OutputContext {
            data_dir: options.data_dir.clone(),
            shutdown,
        },
        &runtime,
        samples.clone(),
        wake_tx.clone(),
    )?;

    if options.handle_signals {
        SIGNALS.store(0, Ordering::SeqCst);
        let run = run.clone();
        runtime.spawn(async move {
            while next_signal().await {
                if SIGNALS.fetch_add(1, Ordering::SeqCst) == 0 {
                    run.stop.store(true, Ordering::SeqCst);
                }
            }
        });
    }

    // Readers and workers: the rayon pool, driven from a thread of its own so this one keeps
    // the journal and the progress bar.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("logpipe-reprocess-{i}"))
        .build()
        .map_err(|e| ReprocessError::Threads(e.to_string()))?;
    let feeder = {
        let run = run.clone();
        sink::spawn_thread("logpipe-reprocess-feed", move || {
            pool.scope(|s| {
                for unit in units {
                    let (run, tx) = (run.clone(), tx.clone());
                    s.spawn(move |s| engine::read_unit(&run, unit, &tx, s));
                }
            });
            // The last sender goes with this thread: the output drains and ends.
            drop(tx);
            let _ = wake_tx.send(Wake::Readers);
        })?
    };

    let progress = Progress::new(options.progress, total_bytes);
    let mut finisher = Finisher {
        journal,
        files_done: 0,
        error: None,
    };
    let (mut readers_done, mut output_done, mut aborted) = (false, false, false);
    let (mut last_events, mut last_at, mut rate) = (0u64, Instant::now(), 0.0f64);
    while !(readers_done && output_done) {
        match wake_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Wake::File(i)) => finisher.finished(&run, i),
            Ok(Wake::Readers) => readers_done = true,
            Ok(Wake::Output) => {
                output_done = true;
                // Nothing more can be delivered: stop reading.
                run.stop.store(true, Ordering::SeqCst);
            }
            Err(_) => {}
        }
        if last_at.elapsed() >= Duration::from_millis(500) {
            let events = run.events.load(Ordering::Relaxed);
            rate = events.saturating_sub(last_events) as f64 / last_at.elapsed().as_secs_f64();
            (last_events, last_at) = (events, Instant::now());
        }
        progress.update(
            run.bytes_read.load(Ordering::Relaxed),
            finisher.files_done,
            to_read,
            rate,
        );
        if SIGNALS.load(Ordering::SeqCst) >= 2 {
            // Second signal: stop waiting for in-flight batches; they stay unacknowledged and
            // their files unjournaled.
            aborted = true;
            trigger.trigger();
            break;
        }
    }
    progress.finish();
    let mut result = Ok(());
    if !aborted {
        if feeder.join().is_err() {
            result = Err(ReprocessError::Threads(
                "a reprocess thread panicked".into(),
            ));
        }
        let ended = output.join(&runtime);
        result = result.and(ended);
        // Acknowledgements of the last batches may have woken us after the loop ended.
        while let Ok(w) = wake_rx.try_recv() {
            if let Wake::File(i) = w {
                finisher.finished(&run, i);
            }
        }
    }
    // What is still running (only after a second signal) is left behind: the process ends.
    runtime.shutdown_background();

    let interrupted =
        aborted || (run.stop.load(Ordering::SeqCst) && SIGNALS.load(Ordering::SeqCst) > 0);
    let report = build_report(&run, &config, output_name, threads, started, interrupted);
    if let Some(e) = finisher.error {
        return Err(e.into());
    }
    result?;
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Outcome {
        report,
        samples,
        aborted,
    })
}

/// Journals the files that finish, as they finish.
struct Finisher {
    journal: Option<Journal>,
    files_done: usize,
    error: Option<JournalError>,
}

impl Finisher {
    fn finished(&mut self, run: &Run, i: usize) {
        self.files_done += 1;
        let (Some(j), Some(f), Some(s)) =
            (self.journal.as_mut(), run.files.get(i), run.state.get(i))
        else {
            return;
        };
        let entry = JournalEntry {
            fingerprint: f.fingerprint,
            fingerprint_len: f.fingerprint_len as u32,
            size: f.size,
            stream_key: f.stream_key,
            path: f.display.to_string(),
            records: s.records.load(Ordering::SeqCst),
            finished: chrono::Utc::now().timestamp(),
        };
        if let Err(e) = j.record(entry) {
            self.error.get_or_insert(e);
        }
    }
}

/// Waits for SIGINT or SIGTERM; false when signals cannot be watched.
async fn next_signal() -> bool {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            true
        }
        _ => false,
    }
}

fn build_report(
    run: &Run,
    config: &PipelineConfig,
    output: &str,
    threads: usize,
    started: Instant,
    interrupted: bool,
) -> Report {
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let tallies = run.tallies.lock().unwrap_or_else(|p| p.into_inner());
    let mut totals = Tally::default();
    for r in tallies.rows() {
        totals.add(&r.tally);
    }
    let mut counts = FileCounts {
        total: run.files.len(),
        ..Default::default()
    };
    let mut reports = Vec::with_capacity(run.files.len());
    for (f, s) in run.files.iter().zip(run.state.iter()) {
        let error = s.error.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let status = if f.skip {
            counts.skipped += 1;
            "skipped"
        } else if s.finished.load(Ordering::SeqCst) {
            counts.done += 1;
            "done"
        } else if s.failed.load(Ordering::SeqCst) && error.is_some() {
            counts.failed += 1;
            "failed"
        } else if interrupted || s.incomplete.load(Ordering::SeqCst) {
            counts.interrupted += 1;
            "interrupted"
        } else {
            counts.failed += 1;
            "failed"
        };
        let error = error
            .or_else(|| (status == "failed").then(|| "not every batch was delivered".to_string()));
        reports.push(FileReport {
            path: f.display.to_string(),
            status,
            bytes: s.bytes.load(Ordering::SeqCst),
            records: s.records.load(Ordering::SeqCst),
            stream_key: format!("{:016x}", f.stream_key),
            stream_key_from: f.key_from,
            error,
        });
    }
    let bytes = run.bytes_read.load(Ordering::SeqCst);
    Report {
        pipeline: config.path.display().to_string(),
        output: output.to_string(),
        threads,
        interrupted,
        elapsed_secs: elapsed,
        bytes,
        records: tallies.stats.records,
        events_per_sec: totals.read as f64 / elapsed,
        bytes_per_sec: bytes as f64 / elapsed,
        files: counts,
        totals,
        dropped_by_rule: tallies.stats.dropped,
        empty_lines: tallies.stats.empty_skipped,
        rows: tallies.rows().to_vec(),
        file_reports: reports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_accepted_form() {
        let t = |s: &str| parse_time(s).unwrap().nanos / 1_000_000_000;
        assert_eq!(t("2024-01-02"), 1_704_153_600);
        assert_eq!(
            t("2024-01-02T03:04:05"),
            1_704_153_600 + 3 * 3600 + 4 * 60 + 5
        );
        assert_eq!(
            t("2024-01-02 03:04:05.5"),
            1_704_153_600 + 3 * 3600 + 4 * 60 + 5
        );
        assert_eq!(
            t("2024-01-02T03:04:05Z"),
            1_704_153_600 + 3 * 3600 + 4 * 60 + 5
        );
        assert_eq!(
            t("2024-01-02T03:04:05+01:00"),
            1_704_153_600 + 2 * 3600 + 4 * 60 + 5
        );
        assert!(parse_time("yesterday")
            .unwrap_err()
            .contains("expected a date"));
    }

    /// Runs `text` (as `name` in `dir`) through a PostgreSQL pipeline to an NDJSON file; returns
    /// the sorted documents and the report.
    fn reprocess_to_file(
        dir: &Path,
        name: &str,
        text: &str,
        threads: usize,
        chunk_bytes: u64,
    ) -> (Vec<String>, Report) {
        use std::io::Write as _;
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let path = logs.join(name);
        if name.ends_with(".gz") {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(text.as_bytes()).unwrap();
            std::fs::write(&path, enc.finish().unwrap()).unwrap();
        } else {
            std::fs::write(&path, text).unwrap();
        }
        let toml = format!(
            "[pipeline]\nhost_name = \"h\"\n[[inputs]]\ntype = \"file\"\npaths = [\"{}/*\"]\nparser = \"postgresql\"\n[output.stdout]\n",
            logs.display()
        );
        let config = PipelineConfig::from_str(&dir.join("p.toml"), &toml).unwrap();
        let out = dir.join(format!("out-{name}-{threads}-{chunk_bytes}.ndjson"));
        let mut options = ReprocessOptions::new(dir.join("data"), vec![path.display().to_string()]);
        options.threads = threads;
        options.chunk_bytes = chunk_bytes;
        options.batch_events = 7;
        options.destination = Destination::File(out.clone());
        options.progress = ProgressMode::Never;
        options.handle_signals = false;
        let outcome = run(config, options).unwrap();
        let mut docs: Vec<String> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        docs.sort();
        (docs, outcome.report)
    }

    fn postgres_log(entries: usize) -> String {
        let mut text = String::new();
        for n in 0..entries {
            let ts = format!(
                "2024-05-06 07:{:02}:{:02}.000 UTC [42]",
                n / 60 % 60,
                n % 60
            );
            if n % 4 == 0 {
                text.push_str(&format!(
                    "{ts} LOG:  statement: SELECT {n}\n\tFROM t\n\tWHERE a = 1\n"
                ));
            } else {
                text.push_str(&format!("{ts} LOG:  checkpoint {n} complete\n"));
            }
        }
        text
    }

    #[test]
    fn pieces_and_threads_give_the_documents_of_one_sequential_read() {
        let dir = tempfile::tempdir().unwrap();
        let text = postgres_log(500);
        let (whole, report) = reprocess_to_file(dir.path(), "pg.log", &text, 1, 0);
        assert_eq!(whole.len(), 500);
        assert_eq!(report.totals.read, 500);
        assert_eq!(report.totals.indexed, 500, "written, for NDJSON");
        assert_eq!(report.files.done, 1);
        for (threads, chunk) in [(2, 300), (2, 1000), (3, 97)] {
            let (pieces, r) = reprocess_to_file(dir.path(), "pg.log", &text, threads, chunk);
            assert_eq!(
                pieces.len(),
                whole.len(),
                "threads {threads}, chunk {chunk}"
            );
            assert!(pieces == whole, "threads {threads}, chunk {chunk}");
            assert_eq!(r.records, 500);
        }
        // The same content compressed: the same documents but for the file path.
        let (gz, _) = reprocess_to_file(dir.path(), "pg.log.1.gz", &text, 2, 300);
        let strip = |d: &String| d.replace("pg.log.1.gz", "pg.log");
        let mut gz: Vec<String> = gz.iter().map(strip).collect();
        gz.sort();
        assert_eq!(gz.len(), whole.len());
        assert!(gz == whole, "same documents from the .gz");
    }

    #[test]
    fn window_is_half_open() {
        let w = TimeWindow {
            since: parse_time("2024-01-02").ok(),
            until: parse_time("2024-01-03").ok(),
        };
        assert!(w.contains(parse_time("2024-01-02T00:00:00Z").ok()));
        assert!(w.contains(parse_time("2024-01-02T23:59:59Z").ok()));
        assert!(!w.contains(parse_time("2024-01-03T00:00:00Z").ok()));
        assert!(!w.contains(parse_time("2024-01-01T23:59:59Z").ok()));
        assert!(!w.contains(None));
        assert!(TimeWindow::default().contains(None));
    }
}
