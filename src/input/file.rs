//! `type = "file"`: tails files named by paths or globs.
//!
//! The tailer is a plain thread (file reads block; keeping them off the async runtime is the
//! point). It polls: every `poll_interval_ms` it reads what was appended to each open file, and
//! every `glob_interval_ms` it looks for new files matching the globs. Only complete lines are
//! sent; a line still being written waits for its newline.
//!
//! Files are identified by device and inode. Each known file has a checkpoint entry holding its
//! stream key (persisted before its first record is sent, so document ids survive restarts) and
//! the offset up to which the output acknowledged every record. A restart resumes there.
//! A file that shrank below the read offset was truncated in place and is read again from 0.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::assemble::Assembler;
use super::checkpoint::CheckpointStore;
use super::{Input, InputConfig, InputContext, InputError, InputRegistration};
use crate::output::BoxFuture;
use crate::pipeline::ack::StreamAcks;
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
    /// Files to read: paths or glob patterns (`/var/log/nginx/*.log`).
    pub paths: Vec<String>,
    /// Where to start in files seen for the first time: `beginning` or `end`.
    #[serde(default)]
    pub start_at: StartAt,
    /// How often open files are checked for new data, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// How often the globs are expanded again to find new files, in milliseconds.
    #[serde(default = "default_glob_ms")]
    pub glob_interval_ms: u64,
}

fn default_poll_ms() -> u64 {
    250
}
fn default_glob_ms() -> u64 {
    2000
}

impl InputConfig for FileInputConfig {
    fn validate(&self) -> Result<(), String> {
        if self.paths.is_empty() {
            return Err("`paths` is empty: list at least one file or glob".into());
        }
        for p in &self.paths {
            glob::Pattern::new(p).map_err(|e| format!("`paths`: invalid glob `{p}`: {e}"))?;
        }
        if self.poll_interval_ms == 0 || self.glob_interval_ms == 0 {
            return Err("`poll_interval_ms` and `glob_interval_ms` must be > 0".into());
        }
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Input>, InputError> {
        Ok(Box::new(FileInput {
            config: self.clone(),
        }))
    }
}

pub struct FileInput {
    config: FileInputConfig,
}

impl Input for FileInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<'static, Result<(), InputError>> {
        Box::pin(async move {
            let config = self.config;
            match tokio::task::spawn_blocking(move || {
                Tailer::new(config, ctx).and_then(|t| t.run())
            })
            .await
            {
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

struct TailedFile {
    key: String,
    path: PathBuf,
    file: File,
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
    /// Path no longer matches / file gone: read to the end, then drop.
    seen_in_last_scan: bool,
    /// Envelopes and multi-line records of this file.
    assembler: Assembler,
}

struct Tailer {
    config: FileInputConfig,
    ctx: InputContext,
    store: CheckpointStore,
    files: HashMap<String, TailedFile>,
    buf: Vec<u8>,
}

impl Tailer {
    fn new(config: FileInputConfig, ctx: InputContext) -> Result<Tailer, InputError> {
        let path = CheckpointStore::path_for(&ctx.data_dir, &ctx.id);
        let store = CheckpointStore::open(path.clone()).map_err(|e| InputError::Checkpoint {
            input: ctx.id.clone(),
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Tailer {
            config,
            ctx,
            store,
            files: HashMap::new(),
            buf: vec![0; READ_CHUNK],
        })
    }

    fn run(mut self) -> Result<(), InputError> {
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let glob_every = Duration::from_millis(self.config.glob_interval_ms);
        let mut last_scan: Option<Instant> = None;
        let mut last_checkpoint = Instant::now();
        let mut first_scan = true;
        while !self.ctx.shutdown.is_triggered() {
            if last_scan.is_none_or(|t| t.elapsed() >= glob_every) {
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
                std::thread::sleep(poll);
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

    /// Expands the globs and opens files not tailed yet.
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
        let mut new_entries = false;
        for path in found {
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
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    telemetry::file_error(&self.ctx.id, &path.display().to_string(), &e);
                    continue;
                }
            };
            let len = meta.len();
            let (stream_key, offset) = match self.store.get(&key) {
                Some(cp) if cp.offset <= len => (cp.stream_key, cp.offset),
                // The file is shorter than what we acknowledged: truncated while we were away.
                Some(cp) => (cp.stream_key, 0),
                None => {
                    // Files present at the first scan honour `start_at`; files appearing later
                    // are new and read whole, or their first lines would be lost.
                    let start = if first_scan && self.config.start_at == StartAt::End {
                        len
                    } else {
                        0
                    };
                    (rand::random::<u64>(), start)
                }
            };
            let path_str = path.to_string_lossy().into_owned();
            self.store.set(&key, stream_key, offset, &path_str);
            new_entries = true;
            telemetry::file_opened(&self.ctx.id, &path_str, offset);
            let stream = Arc::new(StreamContext {
                input_index: self.ctx.input_index,
                stream_key,
                file_path: Some(Arc::from(path_str.as_str())),
            });
            self.files.insert(
                key.clone(),
                TailedFile {
                    key,
                    path,
                    file,
                    stream,
                    acks: StreamAcks::new(offset, None),
                    read_offset: offset,
                    partial_start: offset,
                    partial: Vec::new(),
                    skipping: false,
                    truncated_partial: false,
                    seen_in_last_scan: true,
                    assembler: Assembler::new(self.ctx.assembly.clone()),
                },
            );
        }
        if new_entries {
            // The stream key of each new file must be durable before any of its ids is used.
            self.store.save().map_err(|e| InputError::Checkpoint {
                input: self.ctx.id.clone(),
                path: self.store.path().display().to_string(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    fn read_file(&mut self, key: &str) -> std::io::Result<Progress> {
        let Some(f) = self.files.get_mut(key) else {
            return Ok(Progress::Idle);
        };
        let len = f.file.metadata()?.len();
        if len < f.read_offset {
            // Truncated in place (copytruncate): everything now in the file is new.
            telemetry::file_closed(
                &self.ctx.id,
                &f.path.display().to_string(),
                "truncated; reading from 0",
            );
            f.read_offset = 0;
            f.partial.clear();
            f.partial_start = 0;
            f.skipping = false;
            f.truncated_partial = false;
            f.assembler.reset();
        }
        if len == f.read_offset {
            // Nothing new: a record waiting for continuation lines goes once its time is up.
            let mut batch = RawBatch::new(
                f.stream.clone(),
                crate::pipeline::ack::BatchAck::untracked(),
            );
            if f.seen_in_last_scan {
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
            if !f.seen_in_last_scan && f.acks.in_flight() == 0 {
                // Gone from the globs (deleted or renamed away) and read to its end.
                let f = self.files.remove(key);
                if let Some(f) = f {
                    self.store.set(
                        &f.key,
                        f.stream.stream_key,
                        f.acks.acked_offset(),
                        &f.path.to_string_lossy(),
                    );
                    telemetry::file_closed(
                        &self.ctx.id,
                        &f.path.display().to_string(),
                        "no longer matched",
                    );
                }
            }
            return Ok(Progress::Idle);
        }
        f.file.seek(SeekFrom::Start(f.read_offset))?;
        let max = self.ctx.max_line_bytes;
        let mut batch = RawBatch::new(
            f.stream.clone(),
            crate::pipeline::ack::BatchAck::untracked(),
        );
        let mut progressed = false;
        // Read at most a few chunks per visit so one busy file cannot starve the others.
        for _ in 0..8 {
            let n = f.file.read(&mut self.buf)?;
            if n == 0 {
                break;
            }
            progressed = true;
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
                    RawBatch::new(
                        f.stream.clone(),
                        crate::pipeline::ack::BatchAck::untracked(),
                    ),
                );
                if !send(&self.ctx, &f.acks, full) {
                    return Ok(Progress::ChannelClosed);
                }
            }
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

/// Identity of a file that survives renames: device and inode.
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
        let cfg = FileInputConfig {
            paths: vec![dir.path().join("*.log").to_string_lossy().into_owned()],
            start_at: StartAt::Beginning,
            poll_interval_ms: 10,
            glob_interval_ms: 10,
        };
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
        let cfg = FileInputConfig {
            paths: vec![log.to_string_lossy().into_owned()],
            start_at: StartAt::Beginning,
            poll_interval_ms: 10,
            glob_interval_ms: 10,
        };
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
    fn truncation_restarts_from_zero() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("b.log");
        std::fs::write(&log, b"aaaa\nbbbb\n").unwrap();
        let (tx, rx) = flume::bounded(100);
        let (c, _t) = ctx(dir.path(), tx, 100);
        let cfg = FileInputConfig {
            paths: vec![log.to_string_lossy().into_owned()],
            start_at: StartAt::Beginning,
            poll_interval_ms: 10,
            glob_interval_ms: 10,
        };
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
