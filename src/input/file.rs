//! `type = "file"`: tails files named by paths or globs, through rotation, truncation and
//! restarts.
//!
//! The tailer is a plain thread (file reads block; keeping them off the async runtime is the
//! point). It polls: every `poll_interval_ms` it reads what was appended to each open file, and
//! every `glob_interval_ms` it looks for new files matching the globs. Only complete lines are
//! sent; a line still being written waits for its newline.
//!
//! Identity: a file is its device and inode plus a fingerprint of its first bytes. The inode
//! follows a file through renames (`access.log` -> `access.log.1` keeps being read to its end);
//! the fingerprint tells a recycled inode from the file that had it, and recognises a rotated
//! file again once it was compressed (`access.log.2.gz` resumes where `access.log.2` stopped
//! instead of being read twice). Each known file has a checkpoint entry: its stream key
//! (persisted before its first record is sent, so document ids survive restarts) and the offset
//! up to which the output acknowledged every record.
//!
//! Truncation in place (`copytruncate`): when a file shrinks below the read offset, everything
//! now in it is new; it is read from 0 under a new stream key (the old ids must not swallow the
//! new lines). The state it had is kept as a retired entry, so when the glob also matches the
//! copy (`access.log.1`), the copy is read only from where reading had stopped. The one race no
//! tailer can close: lines written after the copy was taken and before the truncation exist
//! nowhere any more (see README, "Rotation").
//!
//! Bounded resources: files are opened only while they have unread data; a file idle for
//! `close_inactive_secs` is closed and reopened when it grows; at most `max_open_files` are open
//! at once (the rest wait for a free slot at the next scan).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use serde::Deserialize;

use super::assemble::Assembler;
use super::checkpoint::{CheckpointEntry, CheckpointStore};
use super::{Input, InputConfig, InputContext, InputError, InputRegistration};
use crate::output::BoxFuture;
use crate::pipeline::ack::{BatchAck, StreamAcks};
use crate::pipeline::batch::{RawBatch, StreamContext};
use crate::telemetry;

pub const REGISTRATION: InputRegistration = InputRegistration {
    kind: "file",
    parse: super::parse_config::<FileInputConfig>,
};

/// Where to start in a file that has no checkpoint yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    #[default]
    Beginning,
    End,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInputConfig {
    /// Files to read: paths or glob patterns (`/var/log/nginx/*.log`). Files ending in `.gz`
    /// are decompressed as they are read. (Required for `file`; the `container` input
    /// defaults it to the kubelet's `/var/log/containers/*.log`.)
    #[serde(default)]
    pub paths: Vec<String>,
    /// Glob patterns of paths never to read, even when `paths` matches them.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to start in files seen for the first time: `beginning` or `end`. Files that
    /// appear while logpipe runs are always read from the beginning.
    #[serde(default)]
    pub start_at: StartAt,
    /// Wake up on filesystem change events (inotify) instead of waiting for the next poll.
    /// Polling stays on as the fallback for filesystems without events (NFS, some FUSE).
    #[serde(default = "default_true")]
    pub watch: bool,
    /// How often open files are checked for new data, in milliseconds (with `watch`, the
    /// fallback period).
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// How often the globs are expanded again to find new files, in milliseconds.
    #[serde(default = "default_glob_ms")]
    pub glob_interval_ms: u64,
    /// Files not modified for this many seconds and never read before are skipped.
    #[serde(default)]
    pub ignore_older_secs: Option<u64>,
    /// A file without new data for this many seconds is closed (its descriptor released) and
    /// opened again when it grows.
    #[serde(default = "default_close_inactive")]
    pub close_inactive_secs: u64,
    /// Checkpoint entries of files no scan has found for this many seconds are forgotten.
    #[serde(default = "default_clean_removed")]
    pub clean_removed_after_secs: u64,
    /// Most files open at once; further files wait for a free slot.
    #[serde(default = "default_max_open")]
    pub max_open_files: usize,
}

fn default_true() -> bool {
    true
}
fn default_poll_ms() -> u64 {
    250
}
fn default_glob_ms() -> u64 {
    2000
}
fn default_close_inactive() -> u64 {
    300
}
fn default_clean_removed() -> u64 {
    7 * 24 * 3600
}
fn default_max_open() -> usize {
    1024
}

impl InputConfig for FileInputConfig {
    fn validate(&self) -> Result<(), String> {
        if self.paths.is_empty() {
            return Err("`paths` is empty: list at least one file or glob".into());
        }
        for p in &self.paths {
            glob::Pattern::new(p).map_err(|e| format!("`paths`: invalid glob `{p}`: {e}"))?;
        }
        for p in &self.exclude {
            glob::Pattern::new(p).map_err(|e| format!("`exclude`: invalid glob `{p}`: {e}"))?;
        }
        if self.poll_interval_ms == 0 || self.glob_interval_ms == 0 {
            return Err("`poll_interval_ms` and `glob_interval_ms` must be > 0".into());
        }
        if self.max_open_files == 0 {
            return Err("`max_open_files` must be > 0".into());
        }
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Input>, InputError> {
        Ok(Box::new(FileInput {
            config: self.clone(),
            path_fields: None,
        }))
    }

    fn file_source(&self) -> Option<FileSource> {
        Some(FileSource {
            paths: self.paths.clone(),
            exclude: self.exclude.clone(),
            path_fields: None,
        })
    }
}

/// Derives per-file fields from a file's path (the container input's Kubernetes metadata).
pub type PathFields = fn(&Path) -> Vec<(&'static str, Arc<str>)>;

/// What a file-reading input reads: its globs, and the fields it derives from each path.
#[derive(Debug, Clone)]
pub struct FileSource {
    pub paths: Vec<String>,
    pub exclude: Vec<String>,
    pub path_fields: Option<PathFields>,
}

pub struct FileInput {
    pub config: FileInputConfig,
    pub path_fields: Option<PathFields>,
}

impl Input for FileInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<'static, Result<(), InputError>> {
        Box::pin(async move {
            let (config, path_fields) = (self.config, self.path_fields);
            let tail = move || {
                let mut t = Tailer::new(config, ctx)?;
                t.path_fields = path_fields;
                t.run()
            };
            match tokio::task::spawn_blocking(tail).await {
                Ok(r) => r,
                Err(e) => Err(InputError::Config {
                    input: "file".into(),
                    message: format!("tailer thread failed: {e}"),
                }),
            }
        })
    }
}

/// Read buffer size per `read` call.
const READ_CHUNK: usize = 256 * 1024;
/// How often acknowledged offsets are written to the checkpoint file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Shortest time between two glob scans triggered by change events.
const MIN_RESCAN: Duration = Duration::from_millis(200);

/// Watches the folders the globs look in (inotify on Linux) and sends a wake-up on any change.
/// Returns `None` when nothing could be watched; the tailer then polls.
fn watch_dirs(patterns: &[String], wake: flume::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |_event: notify::Result<notify::Event>| {
        let _ = wake.try_send(());
    })
    .ok()?;
    let mut watching = false;
    for pattern in patterns {
        // The folder part before the first glob character.
        let fixed: String = pattern
            .chars()
            .take_while(|c| !matches!(c, '*' | '?' | '[' | '{'))
            .collect();
        let recursive = pattern.contains("**");
        let dir = match Path::new(&fixed) {
            p if fixed.ends_with('/') => p.to_path_buf(),
            p => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let mode = if recursive {
            notify::RecursiveMode::Recursive
        } else {
            notify::RecursiveMode::NonRecursive
        };
        watching |= watcher.watch(&dir, mode).is_ok();
    }
    watching.then_some(watcher)
}

/// Bytes of a file's head that make its fingerprint.
pub const FINGERPRINT_BYTES: usize = 1024;

enum Source {
    Plain(File),
    /// Decompressed as read; offsets count decompressed bytes.
    Gzip(Box<MultiGzDecoder<File>>),
}

struct TailedFile {
    key: String,
    path: PathBuf,
    source: Source,
    stream: Arc<StreamContext>,
    acks: Arc<StreamAcks>,
    /// Bytes consumed from the file (complete lines sent, or the partial line held).
    read_offset: u64,
    /// Start offset of the first byte in `partial`.
    partial_start: u64,
    /// Bytes of a line whose newline has not arrived yet (at most `max_line_bytes`).
    partial: Vec<u8>,
    /// The current line passed `max_line_bytes`: its rest is skipped up to the newline.
    skipping: bool,
    truncated_partial: bool,
    /// Found by the last scan; a file that is not (deleted, renamed away) is read to its end
    /// through the open descriptor, then closed.
    seen_in_last_scan: bool,
    /// Envelopes and multi-line records of this file.
    assembler: Assembler,
    /// Last time new bytes arrived, for `close_inactive_secs`.
    last_data: Instant,
    /// A `.gz` read to its end.
    finished: bool,
    /// Fingerprint of the file's first `fingerprint_len` bytes, as first read.
    fingerprint: u64,
    fingerprint_len: usize,
}

impl TailedFile {
    fn is_gz(&self) -> bool {
        matches!(self.source, Source::Gzip(_))
    }

    fn quiet(&self) -> bool {
        self.acks.in_flight() == 0 && !self.assembler.has_pending()
    }
}

struct Tailer {
    config: FileInputConfig,
    path_fields: Option<PathFields>,
    exclude: Vec<glob::Pattern>,
    ctx: InputContext,
    store: CheckpointStore,
    files: HashMap<String, TailedFile>,
    buf: Vec<u8>,
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn is_gz_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// The first [`FINGERPRINT_BYTES`] of a file (decompressed for `.gz`), or fewer when shorter.
pub fn read_head(path: &Path, gz: bool) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut head = Vec::with_capacity(FINGERPRINT_BYTES);
    if gz {
        MultiGzDecoder::new(file)
            .take(FINGERPRINT_BYTES as u64)
            .read_to_end(&mut head)?;
    } else {
        file.take(FINGERPRINT_BYTES as u64).read_to_end(&mut head)?;
    }
    Ok(head)
}

/// Hash of a file's head: the content identity checkpoints (and `reprocess`) know files by.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// True when `head` starts with the bytes the entry's fingerprint was taken from.
fn same_file(entry: &CheckpointEntry, head: &[u8]) -> bool {
    let n = entry.fingerprint_len as usize;
    head.get(..n)
        .is_some_and(|prefix| fingerprint(prefix) == entry.fingerprint)
}

impl Tailer {
    fn new(config: FileInputConfig, ctx: InputContext) -> Result<Tailer, InputError> {
        let path = CheckpointStore::path_for(&ctx.data_dir, &ctx.id);
        let store = CheckpointStore::open(path.clone()).map_err(|e| InputError::Checkpoint {
            input: ctx.id.clone(),
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let exclude = config
            .exclude
            .iter()
            .filter_map(|p| glob::Pattern::new(p).ok())
            .collect();
        Ok(Tailer {
            config,
            path_fields: None,
            exclude,
            ctx,
            store,
            files: HashMap::new(),
            buf: vec![0; READ_CHUNK],
        })
    }

    fn checkpoint_error(&self, e: impl std::fmt::Display) -> InputError {
        InputError::Checkpoint {
            input: self.ctx.id.clone(),
            path: self.store.path().display().to_string(),
            message: e.to_string(),
        }
    }

    fn run(mut self) -> Result<(), InputError> {
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let glob_every = Duration::from_millis(self.config.glob_interval_ms);
        let mut last_scan: Option<Instant> = None;
        let mut last_checkpoint = Instant::now();
        let mut first_scan = true;
        let (wake_tx, wake_rx) = flume::bounded::<()>(1);
        // Kept alive for the whole run; `None` where the filesystem gives no events (polling).
        let _watcher = if self.config.watch {
            watch_dirs(&self.config.paths, wake_tx)
        } else {
            None
        };
        let mut woken = false;
        while !self.ctx.shutdown.is_triggered() {
            // A change event may mean a new file: look sooner than the glob interval, but not
            // on every write of a busy file.
            let scan_due = last_scan
                .is_none_or(|t| t.elapsed() >= glob_every || (woken && t.elapsed() >= MIN_RESCAN));
            woken = false;
            if scan_due {
                self.scan(first_scan)?;
                first_scan = false;
                last_scan = Some(Instant::now());
            }
            let mut progressed = false;
            let keys: Vec<String> = self.files.keys().cloned().collect();
            for key in keys {
                if self.ctx.shutdown.is_triggered() {
                    break;
                }
                match self.read_file(&key) {
                    Ok(Progress::Read) => progressed = true,
                    Ok(Progress::Idle) => {}
                    Ok(Progress::ChannelClosed) => return self.finish(),
                    Err(e) => {
                        if let Some(f) = self.files.remove(&key) {
                            telemetry::file_error(&self.ctx.id, &f.path.display().to_string(), &e);
                        }
                    }
                }
            }
            if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                self.checkpoint();
                last_checkpoint = Instant::now();
            }
            if !progressed {
                // Woken at once by a change event; the timeout is the polling fallback.
                woken = wake_rx.recv_timeout(poll).is_ok();
            }
        }
        self.finish()
    }

    /// Stops reading, lets the pipeline drain, then writes the final checkpoint.
    fn finish(mut self) -> Result<(), InputError> {
        // Dropping our sender lets the workers finish once the channel is empty.
        let (dead_tx, _) = flume::bounded(1);
        self.ctx.out = dead_tx;
        loop {
            self.checkpoint();
            let waiting = self
                .files
                .values()
                .any(|f| f.acks.in_flight() > 0 && !f.acks.is_stalled());
            if !waiting {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.checkpoint();
        Ok(())
    }

    fn checkpoint(&mut self) {
        for f in self.files.values() {
            self.store.set(
                &f.key,
                f.stream.stream_key,
                f.acks.acked_offset(),
                &f.path.to_string_lossy(),
            );
        }
        if let Err(e) = self.store.save() {
            telemetry::checkpoint_write_failed(&self.store.path().display().to_string(), &e);
        }
    }

    fn excluded(&self, path: &Path) -> bool {
        self.exclude.iter().any(|p| p.matches_path(path))
    }

    /// Expands the globs and opens the files that have something to read.
    fn scan(&mut self, first_scan: bool) -> Result<(), InputError> {
        for f in self.files.values_mut() {
            f.seen_in_last_scan = false;
        }
        let mut found: Vec<PathBuf> = Vec::new();
        for pattern in &self.config.paths {
            match glob::glob(pattern) {
                Ok(paths) => found.extend(paths.flatten()),
                Err(e) => {
                    return Err(InputError::Config {
                        input: self.ctx.id.clone(),
                        message: format!("invalid glob `{pattern}`: {e}"),
                    })
                }
            }
        }
        found.sort();
        found.dedup();
        let now = now_unix();
        let mut new_entries = false;
        let mut waiting_for_slot = 0usize;
        for path in found {
            if self.excluded(&path) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let key = file_key(&meta);
            if let Some(f) = self.files.get_mut(&key) {
                f.seen_in_last_scan = true;
                continue;
            }
            let gz = is_gz_path(&path);
            let len = meta.len();
            // Cheap check first: a known file that has not grown needs no open at all.
            if let Some(e) = self.store.get(&key) {
                if (e.done || (!gz && e.offset == len))
                    && e.fingerprint_len as usize <= len as usize
                {
                    self.store.touch(&key, now);
                    continue;
                }
            }
            let head = match read_head(&path, gz) {
                Ok(h) => h,
                Err(e) => {
                    telemetry::file_error(&self.ctx.id, &path.display().to_string(), &e);
                    continue;
                }
            };
            let mut known = self
                .store
                .get(&key)
                .filter(|e| same_file(e, &head))
                .cloned();
            if known.is_none() && head.len() == FINGERPRINT_BYTES {
                // Content we read before under another inode: a rotated file now compressed
                // (any entry), or the copy `copytruncate` made of a file truncated since (only
                // retired entries: two live files may share a long identical header).
                known = self
                    .store
                    .find_by_fingerprint(fingerprint(&head), FINGERPRINT_BYTES, !gz)
                    .map(|(_, e)| e.clone());
            }
            if let Some(e) = &known {
                if e.done || (!gz && e.offset == len) {
                    self.store.touch(&key, now);
                    continue;
                }
                if self
                    .files
                    .values()
                    .any(|f| f.stream.stream_key == e.stream_key)
                {
                    // The same content is open under another name (rotated, not yet closed).
                    continue;
                }
            } else if let Some(max_age) = self.config.ignore_older_secs {
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > max_age);
                if old {
                    continue;
                }
            }
            if self.files.len() >= self.config.max_open_files {
                waiting_for_slot += 1;
                continue;
            }
            let (stream_key, offset) = match &known {
                Some(e) if gz || e.offset <= len => (e.stream_key, e.offset),
                // Shorter than what was acknowledged: replaced while we were away. Its content
                // is new and gets a stream of its own.
                Some(_) => (rand::random::<u64>(), 0),
                None => {
                    // Files present at the first scan honour `start_at`; files appearing later
                    // are new and read whole, or their first lines would be lost.
                    let start = if first_scan && self.config.start_at == StartAt::End && !gz {
                        len
                    } else {
                        0
                    };
                    (rand::random::<u64>(), start)
                }
            };
            let source = match open_source(&path, gz, offset) {
                Ok(s) => s,
                Err(e) => {
                    telemetry::file_error(&self.ctx.id, &path.display().to_string(), &e);
                    continue;
                }
            };
            let path_str = path.to_string_lossy().into_owned();
            self.store.set(&key, stream_key, offset, &path_str);
            self.store
                .set_fingerprint(&key, fingerprint(&head), head.len());
            self.store.touch(&key, now);
            new_entries = true;
            telemetry::file_opened(&self.ctx.id, &path_str, offset);
            let stream = Arc::new(StreamContext {
                input_index: self.ctx.input_index,
                stream_key,
                file_path: Some(Arc::from(path_str.as_str())),
                fields: self.path_fields.map(|f| f(&path)).unwrap_or_default(),
            });
            self.files.insert(
                key.clone(),
                TailedFile {
                    key,
                    path,
                    source,
                    stream,
                    acks: StreamAcks::new(offset, None),
                    read_offset: offset,
                    partial_start: offset,
                    partial: Vec::new(),
                    skipping: false,
                    truncated_partial: false,
                    seen_in_last_scan: true,
                    assembler: Assembler::new(self.ctx.assembly.clone()),
                    last_data: Instant::now(),
                    finished: false,
                    fingerprint: fingerprint(&head),
                    fingerprint_len: head.len(),
                },
            );
        }
        if waiting_for_slot > 0 {
            telemetry::files_waiting_for_slot(
                &self.ctx.id,
                waiting_for_slot,
                self.config.max_open_files,
            );
        }
        let before = now - self.config.clean_removed_after_secs as i64;
        let open: std::collections::HashSet<String> = self.files.keys().cloned().collect();
        if self.store.purge_unseen(before, &|k| open.contains(k)) > 0 {
            new_entries = true;
        }
        if new_entries {
            // The stream key of each new file must be durable before any of its ids is used.
            self.store.save().map_err(|e| self.checkpoint_error(e))?;
        }
        Ok(())
    }

    /// Closes a file whose work is done; its checkpoint entry stays.
    fn close(&mut self, key: &str, reason: &str) {
        if let Some(f) = self.files.remove(key) {
            self.store.set(
                &f.key,
                f.stream.stream_key,
                f.acks.acked_offset(),
                &f.path.to_string_lossy(),
            );
            if f.finished {
                self.store.set_done(&f.key);
            }
            telemetry::file_closed(&self.ctx.id, &f.path.display().to_string(), reason);
        }
    }

    fn read_file(&mut self, key: &str) -> std::io::Result<Progress> {
        let close_inactive = Duration::from_secs(self.config.close_inactive_secs);
        let Some(f) = self.files.get_mut(key) else {
            return Ok(Progress::Idle);
        };
        let mut at_end = f.finished;
        if let Source::Plain(file) = &mut f.source {
            let len = file.metadata()?.len();
            // Shrinking is the usual sign of a truncation; a changed head catches the file that
            // was truncated and grew past the old offset between two polls.
            let rewritten = len > f.read_offset && f.fingerprint_len > 0 && {
                let mut head = vec![0u8; f.fingerprint_len];
                file.read_exact_at(&mut head, 0).is_ok() && fingerprint(&head) != f.fingerprint
            };
            if len < f.read_offset || rewritten {
                // The retired state must carry the fingerprint of what was read, or the copy
                // cannot be recognised.
                self.store
                    .set_fingerprint(key, f.fingerprint, f.fingerprint_len);
                self.store.set(
                    key,
                    f.stream.stream_key,
                    f.acks.acked_offset(),
                    &f.path.to_string_lossy(),
                );
                // Truncated in place (copytruncate): everything now in the file is new, and
                // must not share ids with what was there before.
                self.store.retire(key, now_unix());
                let stream_key = rand::random::<u64>();
                f.stream = Arc::new(StreamContext {
                    input_index: f.stream.input_index,
                    stream_key,
                    file_path: f.stream.file_path.clone(),
                    fields: f.stream.fields.clone(),
                });
                f.acks = StreamAcks::new(0, None);
                f.read_offset = 0;
                f.partial.clear();
                f.partial_start = 0;
                f.skipping = false;
                f.truncated_partial = false;
                f.fingerprint_len = 0;
                f.fingerprint = fingerprint(b"");
                f.assembler.reset();
                self.store
                    .set(key, stream_key, 0, &f.path.to_string_lossy());
                self.store.set_fingerprint(key, fingerprint(b""), 0);
                telemetry::file_truncated(&self.ctx.id, &f.path.display().to_string());
                self.store.save().map_err(std::io::Error::other)?;
            }
            at_end = len == f.read_offset;
            if !at_end {
                file.seek(SeekFrom::Start(f.read_offset))?;
            }
        }
        if at_end {
            // Nothing new: a record waiting for continuation lines goes once its time is up.
            let mut batch = RawBatch::new(f.stream.clone(), BatchAck::untracked());
            if f.seen_in_last_scan && !f.finished {
                f.assembler.flush_expired(&mut batch);
            } else {
                f.assembler.flush(&mut batch);
            }
            if !batch.is_empty() {
                return Ok(if send(&self.ctx, &f.acks, batch) {
                    Progress::Read
                } else {
                    Progress::ChannelClosed
                });
            }
            if f.quiet() {
                if f.finished {
                    self.close(key, "archive read to its end");
                } else if !f.seen_in_last_scan {
                    self.close(
                        key,
                        "no longer matched (deleted or renamed away), read to its end",
                    );
                } else if f.last_data.elapsed() >= close_inactive {
                    self.close(key, "inactive");
                }
            }
            return Ok(Progress::Idle);
        }
        let max = self.ctx.max_line_bytes;
        let mut batch = RawBatch::new(f.stream.clone(), BatchAck::untracked());
        let mut progressed = false;
        // Read at most a few chunks per visit so one busy file cannot starve the others.
        for _ in 0..8 {
            let n = match &mut f.source {
                Source::Plain(file) => file.read(&mut self.buf)?,
                Source::Gzip(dec) => dec.read(&mut self.buf)?,
            };
            if n == 0 {
                if f.is_gz() {
                    f.finished = true;
                }
                break;
            }
            progressed = true;
            f.last_data = Instant::now();
            let mut data = &self.buf[..n];
            while !data.is_empty() {
                match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        let piece = &data[..i];
                        if !f.skipping {
                            let room = max.saturating_sub(f.partial.len());
                            if piece.len() > room {
                                f.truncated_partial = true;
                            }
                            f.partial.extend_from_slice(&piece[..piece.len().min(room)]);
                        }
                        f.read_offset += (i + 1) as u64;
                        f.assembler.push(
                            &f.partial,
                            f.partial_start,
                            f.read_offset,
                            f.truncated_partial,
                            &mut batch,
                        );
                        f.partial.clear();
                        f.partial_start = f.read_offset;
                        f.skipping = false;
                        f.truncated_partial = false;
                        data = &data[i + 1..];
                    }
                    None => {
                        if !f.skipping {
                            let room = max.saturating_sub(f.partial.len());
                            if data.len() > room {
                                f.truncated_partial = true;
                                f.skipping = true;
                            }
                            f.partial.extend_from_slice(&data[..data.len().min(room)]);
                        }
                        f.read_offset += data.len() as u64;
                        data = &[];
                    }
                }
            }
            if batch.len() >= self.ctx.batch_events {
                let full = std::mem::replace(
                    &mut batch,
                    RawBatch::new(f.stream.clone(), BatchAck::untracked()),
                );
                if !send(&self.ctx, &f.acks, full) {
                    return Ok(Progress::ChannelClosed);
                }
            }
        }
        if let Source::Plain(file) = &f.source {
            // A short file's fingerprint grows with it, up to the full head, as soon as the
            // bytes are there: a truncation may come before the next checkpoint.
            if f.fingerprint_len < FINGERPRINT_BYTES && f.read_offset as usize > f.fingerprint_len {
                let mut head = vec![0u8; (f.read_offset as usize).min(FINGERPRINT_BYTES)];
                if file.read_exact_at(&mut head, 0).is_ok() {
                    f.fingerprint = fingerprint(&head);
                    f.fingerprint_len = head.len();
                    self.store
                        .set_fingerprint(&f.key, f.fingerprint, f.fingerprint_len);
                }
            }
        }
        if f.finished && !f.partial.is_empty() {
            // An archive's last line may lack its newline; there is no more to wait for.
            let (start, end, cut) = (f.partial_start, f.read_offset, f.truncated_partial);
            let line = std::mem::take(&mut f.partial);
            f.assembler.push(&line, start, end, cut, &mut batch);
            f.assembler.flush(&mut batch);
        }
        if !batch.is_empty() && !send(&self.ctx, &f.acks, batch) {
            return Ok(Progress::ChannelClosed);
        }
        Ok(if progressed {
            Progress::Read
        } else {
            Progress::Idle
        })
    }
}

/// Opens a file positioned at `offset` (for `.gz`, that many decompressed bytes skipped).
fn open_source(path: &Path, gz: bool, offset: u64) -> std::io::Result<Source> {
    let file = File::open(path)?;
    if gz {
        let mut dec = Box::new(MultiGzDecoder::new(file));
        std::io::copy(&mut (&mut *dec).take(offset), &mut std::io::sink())?;
        Ok(Source::Gzip(dec))
    } else {
        Ok(Source::Plain(file))
    }
}

enum Progress {
    Read,
    Idle,
    ChannelClosed,
}

/// Registers the batch with the stream's acknowledgements and sends it, blocking while the
/// channel is full (backpressure). False when the pipeline is gone.
fn send(ctx: &InputContext, acks: &Arc<StreamAcks>, mut batch: RawBatch) -> bool {
    let Some(end_offset) = batch.end_offset() else {
        return true;
    };
    telemetry::add(&telemetry::COUNTERS.records_read, batch.len() as u64);
    batch.ack = acks.register(end_offset);
    ctx.out.send(batch).is_ok()
}

/// Device and inode: the part of a file's identity that survives renames.
fn file_key(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!("{}:{}", meta.dev(), meta.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::shutdown;
    use std::io::Write;
    use std::path::Path;

    fn ctx(
        dir: &Path,
        tx: flume::Sender<RawBatch>,
        max: usize,
    ) -> (InputContext, shutdown::ShutdownTrigger) {
        let (trigger, sd) = shutdown::channel();
        (
            InputContext {
                id: "t".into(),
                input_index: 0,
                out: tx,
                shutdown: sd,
                data_dir: dir.to_path_buf(),
                batch_events: 2,
                max_line_bytes: max,
                assembly: crate::input::assemble::AssemblyRules::new(None, None, max),
            },
            trigger,
        )
    }

    fn test_config(paths: Vec<String>) -> FileInputConfig {
        FileInputConfig {
            paths,
            exclude: Vec::new(),
            watch: false,
            start_at: StartAt::Beginning,
            poll_interval_ms: 10,
            glob_interval_ms: 10,
            ignore_older_secs: None,
            close_inactive_secs: 300,
            clean_removed_after_secs: 3600,
            max_open_files: 100,
        }
    }

    fn lines(batch: &RawBatch) -> Vec<(String, u64, bool)> {
        batch
            .records
            .iter()
            .map(|r| {
                (
                    String::from_utf8_lossy(&batch.data[r.range.clone()]).into_owned(),
                    r.offset,
                    r.truncated,
                )
            })
            .collect()
    }

    #[test]
    fn reads_complete_lines_then_appended_ones_and_cuts_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        std::fs::write(&log, b"one\ntwo\nthree-is-long\npart").unwrap();
        let (tx, rx) = flume::bounded(100);
        let (c, _t) = ctx(dir.path(), tx, 5);
        let cfg = test_config(vec![dir
            .path()
            .join("*.log")
            .to_string_lossy()
            .into_owned()]);
        let mut t = Tailer::new(cfg, c).unwrap();
        t.scan(true).unwrap();
        let key = t.files.keys().next().unwrap().clone();
        assert!(matches!(t.read_file(&key).unwrap(), Progress::Read));
        let mut got = Vec::new();
        while let Ok(b) = rx.try_recv() {
            got.extend(lines(&b));
            b.ack.delivered();
        }
        assert_eq!(
            got,
            vec![
                ("one".into(), 0, false),
                ("two".into(), 4, false),
                ("three".into(), 8, true)
            ]
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"ial\n")
            .unwrap();
        t.read_file(&key).unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!(lines(&b), vec![("parti".into(), 22, true)]);
        b.ack.delivered();
        t.checkpoint();
        let store = CheckpointStore::open(CheckpointStore::path_for(dir.path(), "t")).unwrap();
        assert_eq!(store.get(&key).unwrap().offset, 30);
    }

    /// Lines starting with a tab continue the record before them.
    #[derive(Debug)]
    struct TabJoined;
    impl crate::parse::Parser for TabJoined {
        fn dataset(&self) -> &'static str {
            "t"
        }
        fn parse(&self, _: &mut crate::event::Event) -> Result<(), crate::parse::ParseError> {
            Ok(())
        }
        fn joins_lines(&self) -> bool {
            true
        }
        fn is_continuation(&self, line: &[u8]) -> bool {
            line.first() == Some(&b'\t')
        }
    }

    #[test]
    fn multiline_records_checkpoint_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("m.log");
        std::fs::write(&log, b"ERROR one\n\tdetail\nERROR two\n").unwrap();
        let (tx, rx) = flume::bounded(100);
        let (mut c, _t) = ctx(dir.path(), tx, 100);
        c.assembly =
            crate::input::assemble::AssemblyRules::new(Some(Arc::new(TabJoined)), None, 100);
        c.assembly.flush_after = Duration::from_millis(50);
        let cfg = test_config(vec![log.to_string_lossy().into_owned()]);
        let mut t = Tailer::new(cfg, c).unwrap();
        t.scan(true).unwrap();
        let key = t.files.keys().next().unwrap().clone();
        t.read_file(&key).unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!(lines(&b), vec![("ERROR one\n\tdetail".into(), 0, false)]);
        b.ack.delivered();
        t.checkpoint();
        assert_eq!(
            t.store.get(&key).unwrap().offset,
            18,
            "the held record is not covered"
        );
        // The last record waits for continuations, then goes on its own.
        t.read_file(&key).unwrap();
        assert!(rx.try_recv().is_err());
        std::thread::sleep(Duration::from_millis(60));
        t.read_file(&key).unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!(lines(&b), vec![("ERROR two".into(), 18, false)]);
        b.ack.delivered();
        t.checkpoint();
        assert_eq!(t.store.get(&key).unwrap().offset, 28);
    }

    #[test]
    fn truncation_hidden_by_growth_is_caught_by_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("g.log");
        std::fs::write(&log, b"old-1\nold-2\n").unwrap();
        let (tx, rx) = flume::bounded(100);
        let (c, _t) = ctx(dir.path(), tx, 100);
        let mut t = Tailer::new(test_config(vec![log.to_string_lossy().into_owned()]), c).unwrap();
        t.scan(true).unwrap();
        let key = t.files.keys().next().unwrap().clone();
        t.read_file(&key).unwrap();
        let first = rx.try_recv().unwrap();
        let old_stream = first.stream.stream_key;
        // Truncated and rewritten longer than before, between two polls.
        std::fs::write(&log, b"new-1\nnew-2\nnew-3\n").unwrap();
        t.read_file(&key).unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!(
            lines(&b),
            vec![
                ("new-1".into(), 0, false),
                ("new-2".into(), 6, false),
                ("new-3".into(), 12, false)
            ],
            "read from 0, not from the old offset"
        );
        assert_ne!(b.stream.stream_key, old_stream, "new content, new ids");
    }

    fn gzip(path: &Path, text: &[u8]) {
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(text).unwrap();
        enc.finish().unwrap();
    }

    /// Runs the tailer until nothing more arrives; returns the lines sent, acknowledging them.
    fn drain(t: &mut Tailer, rx: &flume::Receiver<RawBatch>) -> Vec<String> {
        let mut got = Vec::new();
        for _ in 0..20 {
            t.scan(false).unwrap();
            let keys: Vec<String> = t.files.keys().cloned().collect();
            for k in keys {
                t.read_file(&k).unwrap();
            }
            while let Ok(b) = rx.try_recv() {
                got.extend(lines(&b).into_iter().map(|l| l.0));
                b.ack.delivered();
            }
        }
        t.checkpoint();
        got
    }

    #[test]
    fn gz_archives_are_read_and_rotated_compressed_files_not_read_twice() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..60)
            .map(|i| format!("line {i:04} of the live file, padded out a bit\n"))
            .collect();
        std::fs::write(dir.path().join("a.log"), &text).unwrap();
        let (tx, rx) = flume::bounded(1000);
        let (c, _t) = ctx(dir.path(), tx, 1000);
        let glob = dir.path().join("*").to_string_lossy().into_owned();
        let mut t = Tailer::new(test_config(vec![glob]), c).unwrap();
        t.scan(true).unwrap();
        assert_eq!(drain(&mut t, &rx).len(), 60);

        // Rotated and compressed (the plain file gone), plus an archive never seen before whose
        // last line has no newline.
        gzip(&dir.path().join("a.log.1.gz"), text.as_bytes());
        std::fs::remove_file(dir.path().join("a.log")).unwrap();
        gzip(&dir.path().join("old.log.gz"), b"archived 1\narchived 2");
        let got = drain(&mut t, &rx);
        assert_eq!(
            got,
            vec!["archived 1".to_string(), "archived 2".to_string()],
            "the compressed copy is not read again"
        );
        let done = t.store.files_for_test().filter(|e| e.done).count();
        assert_eq!(done, 2, "both archives are marked done");
        assert!(t.files.is_empty(), "finished archives are closed");
    }

    #[test]
    fn ten_thousand_files_never_hold_more_than_max_open_files() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..10_000 {
            std::fs::write(
                dir.path().join(format!("f{i:05}.log")),
                format!("line of file {i}\n"),
            )
            .unwrap();
        }
        let (tx, rx) = flume::bounded(100_000);
        let (c, _t) = ctx(dir.path(), tx, 1000);
        let mut cfg = test_config(vec![dir
            .path()
            .join("*.log")
            .to_string_lossy()
            .into_owned()]);
        cfg.max_open_files = 500;
        cfg.close_inactive_secs = 0;
        let mut t = Tailer::new(cfg, c).unwrap();
        let mut got = 0usize;
        let mut most_open = 0usize;
        for _ in 0..1000 {
            t.scan(false).unwrap();
            most_open = most_open.max(t.files.len());
            let keys: Vec<String> = t.files.keys().cloned().collect();
            for k in keys {
                t.read_file(&k).unwrap();
                while let Ok(b) = rx.try_recv() {
                    got += b.len();
                    b.ack.delivered();
                }
                // Read, acknowledged and quiet: the next visit closes it.
                t.read_file(&k).unwrap();
            }
            if got == 10_000 && t.files.is_empty() {
                break;
            }
        }
        assert_eq!(got, 10_000, "every file read once");
        assert!(
            most_open <= 500,
            "at most max_open_files descriptors, saw {most_open}"
        );
        assert!(t.files.is_empty());
    }

    #[test]
    fn change_events_wake_the_tailer() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = flume::bounded(1);
        let pattern = dir.path().join("*.log").to_string_lossy().into_owned();
        let watcher = watch_dirs(&[pattern], tx);
        assert!(watcher.is_some(), "inotify is available here");
        std::fs::write(dir.path().join("new.log"), b"x\n").unwrap();
        assert!(
            rx.recv_timeout(Duration::from_secs(5)).is_ok(),
            "a change event arrives"
        );
    }

    #[test]
    fn truncation_restarts_from_zero() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("b.log");
        std::fs::write(&log, b"aaaa\nbbbb\n").unwrap();
        let (tx, rx) = flume::bounded(100);
        let (c, _t) = ctx(dir.path(), tx, 100);
        let cfg = test_config(vec![log.to_string_lossy().into_owned()]);
        let mut t = Tailer::new(cfg, c).unwrap();
        t.scan(true).unwrap();
        let key = t.files.keys().next().unwrap().clone();
        t.read_file(&key).unwrap();
        while rx.try_recv().is_ok() {}
        std::fs::write(&log, b"cc\n").unwrap();
        t.read_file(&key).unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!(lines(&b), vec![("cc".into(), 0, false)]);
    }
}
