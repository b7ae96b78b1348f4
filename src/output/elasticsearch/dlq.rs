//! Dead-letter queue: documents Elasticsearch refused for good (mapping conflicts, invalid
//! documents), kept as NDJSON under `DATA_DIR/dlq/` with the error and the original document,
//! so nothing is dropped silently and `logpipe dlq replay` can send them again after a fix.
//!
//! One line per document:
//! `{"time":"...","index":"...","id":"...","status":400,"error":{"type":"...","reason":"..."},"document":{...}}`.
//! A write is appended and synced to disk before the documents count as delivered.
//!
//! Files: `dlq-YYYYMMDD.ndjson` for the UTC day, then `dlq-YYYYMMDD-1.ndjson`, `-2`, ... each
//! time the current one reaches `dlq_max_file_bytes`. A file being replayed is renamed to
//! `<name>.replaying` first (under an exclusive `flock`, which writers take too, so a write
//! never lands in a file after the replay read it) and deleted once every document in it is
//! indexed or queued again. The total size of the files is capped (`dlq_max_total_bytes`):
//! a write that would pass the cap fails with [`DlqError::Full`] and nothing is deleted; the
//! delivery keeps the documents pending and tries again later, which holds their batches
//! unacknowledged and slows the inputs down. The total is published as the `dlq_bytes` gauge.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use serde::Deserialize;

use super::bulk::ItemError;
use crate::event::json::write_str;
use crate::event::Timestamp;
use crate::telemetry;

/// Default of `dlq_max_file_bytes`: 64 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Default of `dlq_max_total_bytes`: 1 GiB.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 1024 * 1024 * 1024;
/// Suffix of a file claimed by a replay.
pub const REPLAYING_SUFFIX: &str = ".replaying";

#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error(
        "dead-letter queue {dir} is full: {used} bytes in it, {adding} more would pass `dlq_max_total_bytes` ({cap}); the documents wait until there is room (`logpipe dlq replay`, or move files out of the directory)"
    )]
    Full {
        dir: String,
        used: u64,
        adding: u64,
        cap: u64,
    },
    #[error("dead-letter queue {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DlqError + '_ {
    move |source| DlqError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One refused document.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub index: String,
    pub id: String,
    pub status: u16,
    pub error: ItemError,
    /// The document line as sent (JSON, no newline).
    pub document: Bytes,
}

impl DeadLetter {
    /// From the bytes of one bulk item: the action line, then the document line.
    pub fn from_item(item: Bytes, status: u16, error: ItemError) -> DeadLetter {
        let split = memchr::memchr(b'\n', &item).unwrap_or(item.len());
        let (index, id) = parse_action(&item[..split]);
        let mut end = item.len();
        while end > split && matches!(item[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        let document = item.slice((split + 1).min(end)..end);
        DeadLetter {
            index,
            id,
            status,
            error,
            document,
        }
    }

    /// Appends the NDJSON line of this entry (with its newline).
    pub fn write_line(&self, time: Timestamp, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time\":\"");
        time.write_rfc3339(out);
        out.extend_from_slice(b"\",\"index\":");
        write_str(out, &self.index);
        out.extend_from_slice(b",\"id\":");
        write_str(out, &self.id);
        out.extend_from_slice(b",\"status\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.status).as_bytes());
        out.extend_from_slice(b",\"error\":{\"type\":");
        write_str(out, &self.error.kind);
        out.extend_from_slice(b",\"reason\":");
        write_str(out, &self.error.reason);
        out.extend_from_slice(b"},\"document\":");
        if serde_json::from_slice::<serde::de::IgnoredAny>(&self.document).is_ok() {
            out.extend_from_slice(&self.document);
        } else {
            // Not JSON (should not happen with our encoder): keep it as text rather than
            // writing a line nobody can parse.
            write_str(out, &String::from_utf8_lossy(&self.document));
        }
        out.extend_from_slice(b"}\n");
    }
}

/// `_index` and `_id` of an action line such as `{"create":{"_index":"a","_id":"b"}}`.
fn parse_action(line: &[u8]) -> (String, String) {
    #[derive(Deserialize, Default)]
    struct Meta {
        #[serde(rename = "_index", default)]
        index: String,
        #[serde(rename = "_id", default)]
        id: String,
    }
    match serde_json::from_slice::<std::collections::HashMap<String, Meta>>(line) {
        Ok(map) => map
            .into_values()
            .next()
            .map(|m| (m.index, m.id))
            .unwrap_or_default(),
        Err(_) => (String::new(), String::new()),
    }
}

/// Whether a queue file waits for a replay or is being replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Pending,
    Replaying,
}

/// One file of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub state: FileState,
    /// `YYYYMMDD` of its name.
    pub day: String,
    /// Its number within the day (0 for `dlq-YYYYMMDD.ndjson`).
    pub seq: u32,
}

/// `dlq-YYYYMMDD[-N].ndjson[.replaying]` -> (day, seq, state); other names are not ours.
fn parse_file_name(name: &str) -> Option<(String, u32, FileState)> {
    let (name, state) = match name.strip_suffix(REPLAYING_SUFFIX) {
        Some(n) => (n, FileState::Replaying),
        None => (name, FileState::Pending),
    };
    let stem = name.strip_prefix("dlq-")?.strip_suffix(".ndjson")?;
    let (day, seq) = match stem.split_once('-') {
        Some((day, seq)) if !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()) => {
            (day, seq.parse().ok()?)
        }
        Some(_) => return None,
        None => (stem, 0),
    };
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((day.to_string(), seq, state))
}

fn file_name(day: &str, seq: u32) -> String {
    if seq == 0 {
        format!("dlq-{day}.ndjson")
    } else {
        format!("dlq-{day}-{seq}.ndjson")
    }
}

/// The queue files in `dir`, oldest first; none when `dir` does not exist.
pub fn scan_dir(dir: &Path) -> std::io::Result<Vec<QueueFile>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some((day, seq, state)) = entry.file_name().to_str().and_then(parse_file_name) else {
            continue;
        };
        let meta = match entry.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => continue,
            // Renamed or deleted (by a replay) since the listing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        files.push(QueueFile {
            path: entry.path(),
            bytes: meta.len(),
            state,
            day,
            seq,
        });
    }
    files.sort_by(|a, b| {
        (&a.day, a.seq, a.path.as_os_str()).cmp(&(&b.day, b.seq, b.path.as_os_str()))
    });
    Ok(files)
}

/// Takes an exclusive `flock` on `file`, waiting for other holders (writers and replays, in
/// this process or another).
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        loop {
            // SAFETY: flock(2) on a descriptor owned by `file` for the whole call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

/// Whether the open `file` is still the file at `path` (a replay may have renamed it between
/// the open and the lock).
fn still_at(file: &File, path: &Path) -> std::io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let open = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) => Ok(now.ino() == open.ino() && now.dev() == open.dev()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        Ok(true)
    }
}

/// Makes a new or renamed entry of `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The queue's folder; writes from concurrent requests are serialized.
#[derive(Debug)]
pub struct DeadLetterQueue {
    dir: PathBuf,
    lock: Mutex<()>,
    max_file_bytes: u64,
    max_total_bytes: u64,
    /// Entries this instance wrote (a replay counts the documents refused again with it).
    written: AtomicU64,
}

impl DeadLetterQueue {
    /// A queue in `dir` (created on the first write) with the default limits.
    pub fn new(dir: impl Into<PathBuf>) -> DeadLetterQueue {
        DeadLetterQueue {
            dir: dir.into(),
            lock: Mutex::new(()),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            written: AtomicU64::new(0),
        }
    }

    /// The queue of a run: `DATA_DIR/dlq`.
    pub fn in_data_dir(data_dir: &Path) -> DeadLetterQueue {
        DeadLetterQueue::new(data_dir.join("dlq"))
    }

    /// Sets `dlq_max_file_bytes` and `dlq_max_total_bytes` (each at least 1).
    pub fn with_limits(mut self, max_file_bytes: u64, max_total_bytes: u64) -> DeadLetterQueue {
        self.max_file_bytes = max_file_bytes.max(1);
        self.max_total_bytes = max_total_bytes.max(1);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Entries written through this instance.
    pub fn entries_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// The first file of the UTC day of `time`.
    pub fn file_for(&self, time: Timestamp) -> PathBuf {
        self.dir.join(file_name(&day_of(time), 0))
    }

    /// Total size of the queue files; also published as the `dlq_bytes` gauge.
    pub fn size(&self) -> Result<u64, DlqError> {
        let used = scan_dir(&self.dir)
            .map_err(io_error(&self.dir))?
            .iter()
            .map(|f| f.bytes)
            .sum();
        telemetry::dlq_size(used);
        Ok(used)
    }

    /// Appends the entries to the current file and syncs it; blocking.
    pub fn append(&self, entries: &[DeadLetter]) -> Result<PathBuf, DlqError> {
        let now = Timestamp::now();
        let mut buf = Vec::with_capacity(entries.iter().map(|e| e.document.len() + 256).sum());
        for e in entries {
            e.write_line(now, &mut buf);
        }
        let path = self.append_lines(&buf, now)?;
        self.written
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        Ok(path)
    }

    /// Appends whole NDJSON lines (a replay puts back what it cannot send); blocking.
    pub fn append_lines(&self, buf: &[u8], now: Timestamp) -> Result<PathBuf, DlqError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        std::fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        let day = day_of(now);
        let adding = buf.len() as u64;
        // A replay renaming the chosen file between its open and its lock sends us round
        // again; it cannot rename the same day's new file forever, but do not spin regardless.
        for _ in 0..16 {
            let files = scan_dir(&self.dir).map_err(io_error(&self.dir))?;
            let used: u64 = files.iter().map(|f| f.bytes).sum();
            // An empty queue takes any write, or one write larger than the cap would wait for
            // room that can never come.
            if used > 0 && used.saturating_add(adding) > self.max_total_bytes {
                telemetry::dlq_size(used);
                return Err(DlqError::Full {
                    dir: self.dir.display().to_string(),
                    used,
                    adding,
                    cap: self.max_total_bytes,
                });
            }
            let today: Vec<&QueueFile> = files.iter().filter(|f| f.day == day).collect();
            // Numbers only go up within a day, past files being replayed too, so a new file
            // never takes the name of one a replay will rename back.
            let last_seq = today.iter().map(|f| f.seq).max();
            let current = today
                .iter()
                .filter(|f| f.state == FileState::Pending && Some(f.seq) == last_seq)
                .map(|f| f.bytes)
                .next();
            let seq = match (last_seq, current) {
                (Some(seq), Some(size))
                    if size == 0 || size.saturating_add(adding) <= self.max_file_bytes =>
                {
                    seq
                }
                (Some(seq), _) => seq + 1,
                (None, _) => 0,
            };
            let path = self.dir.join(file_name(&day, seq));
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_error(&path))?;
            lock_exclusive(&file).map_err(io_error(&path))?;
            if !still_at(&file, &path).map_err(io_error(&path))? {
                continue;
            }
            let fresh = file.metadata().map_err(io_error(&path))?.len() == 0;
            file.write_all(buf).map_err(io_error(&path))?;
            file.sync_data().map_err(io_error(&path))?;
            if fresh {
                sync_dir(&self.dir).map_err(io_error(&self.dir))?;
            }
            telemetry::dlq_size(used.saturating_add(adding));
            return Ok(path);
        }
        Err(DlqError::Io {
            path: self.dir.display().to_string(),
            source: std::io::Error::other("the current file kept being renamed by a replay"),
        })
    }
}

fn day_of(time: Timestamp) -> String {
    let c = time.civil();
    format!("{:04}{:02}{:02}", c.year, c.month, c.day)
}

/// Claims a pending file for a replay: renames it to `<name>.replaying` while holding its lock,
/// so no writer appends to it afterwards. `None` when it is gone already (another replay).
pub fn claim(file: &QueueFile) -> Result<Option<PathBuf>, DlqError> {
    if file.state == FileState::Replaying {
        return Ok(Some(file.path.clone()));
    }
    let handle = match File::open(&file.path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&file.path)(e)),
    };
    lock_exclusive(&handle).map_err(io_error(&file.path))?;
    if !still_at(&handle, &file.path).map_err(io_error(&file.path))? {
        return Ok(None);
    }
    let mut target = file.path.clone().into_os_string();
    target.push(REPLAYING_SUFFIX);
    let target = PathBuf::from(target);
    if target.exists() {
        // Writers never reuse a number while its `.replaying` file exists; should one be
        // there anyway, leave both alone rather than overwrite it.
        return Err(DlqError::Io {
            path: target.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file being replayed already has this name",
            ),
        });
    }
    std::fs::rename(&file.path, &target).map_err(io_error(&file.path))?;
    if let Some(dir) = target.parent() {
        sync_dir(dir).map_err(io_error(dir))?;
    }
    Ok(Some(target))
}

/// What `logpipe dlq list` shows of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub file: QueueFile,
    /// Lines that are queue entries.
    pub documents: u64,
    /// Entries per `error.type`.
    pub errors: BTreeMap<String, u64>,
    /// Lines that are not queue entries (a torn write).
    pub unreadable: u64,
}

/// Reads every file of the queue in `dir`.
pub fn summarize(dir: &Path) -> Result<Vec<FileSummary>, DlqError> {
    #[derive(Deserialize)]
    struct Line {
        #[serde(default)]
        error: LineError,
    }
    #[derive(Deserialize, Default)]
    struct LineError {
        #[serde(rename = "type", default)]
        kind: String,
    }
    let mut out = Vec::new();
    for file in scan_dir(dir).map_err(io_error(dir))? {
        let handle = match File::open(&file.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&file.path)(e)),
        };
        let mut summary = FileSummary {
            file,
            documents: 0,
            errors: BTreeMap::new(),
            unreadable: 0,
        };
        for line in std::io::BufReader::new(handle).split(b'\n') {
            let line = line.map_err(io_error(&summary.file.path))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Line>(&line) {
                Ok(l) => {
                    summary.documents += 1;
                    let kind = if l.error.kind.is_empty() {
                        "unknown".to_string()
                    } else {
                        l.error.kind
                    };
                    *summary.errors.entry(kind).or_default() += 1;
                }
                Err(_) => summary.unreadable += 1,
            }
        }
        out.push(summary);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> DeadLetter {
        DeadLetter::from_item(
            Bytes::from_static(
                b"{\"create\":{\"_index\":\"logs-x-2024.01.02\",\"_id\":\"abc\"}}\n{\"a\":\"x\",\"n\":[1,2]}\n",
            ),
            400,
            ItemError {
                kind: "document_parsing_exception".into(),
                reason: "failed to parse field [a] \"x\"".into(),
            },
        )
    }

    #[test]
    fn line_format() {
        let l = letter();
        assert_eq!(l.index, "logs-x-2024.01.02");
        assert_eq!(l.id, "abc");
        let mut out = Vec::new();
        l.write_line(Timestamp::from_unix(0, 0, 3).unwrap(), &mut out);
        assert!(out.ends_with(b"}\n"));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["index"], "logs-x-2024.01.02");
        assert_eq!(v["id"], "abc");
        assert_eq!(v["status"], 400);
        assert_eq!(v["error"]["type"], "document_parsing_exception");
        assert_eq!(v["error"]["reason"], "failed to parse field [a] \"x\"");
        assert_eq!(v["document"]["a"], "x");
        assert_eq!(v["document"]["n"][1], 2);
    }

    #[test]
    fn non_json_document_is_kept_as_text() {
        let l = DeadLetter::from_item(
            Bytes::from_static(b"garbage\nnot json\n"),
            400,
            ItemError::default(),
        );
        assert_eq!(l.index, "");
        let mut out = Vec::new();
        l.write_line(Timestamp::from_unix(0, 0, 3).unwrap(), &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["document"], "not json");
    }

    #[test]
    fn appends_to_daily_file() {
        let dir = tempfile::tempdir().unwrap();
        let q = DeadLetterQueue::in_data_dir(dir.path());
        let p1 = q.append(&[letter()]).unwrap();
        let p2 = q.append(&[letter(), letter()]).unwrap();
        assert_eq!(p1, p2);
        let name = p1.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with("dlq-") && name.ends_with(".ndjson") && name.len() == 19,
            "{name}"
        );
        assert_eq!(p1.parent().unwrap(), dir.path().join("dlq"));
        let text = std::fs::read_to_string(&p1).unwrap();
        assert_eq!(text.lines().count(), 3);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        let c = Timestamp::from_unix(1_709_622_489, 0, 3).unwrap();
        assert!(q.file_for(c).ends_with("dlq-20240305.ndjson"));
    }

    fn names(dir: &Path) -> Vec<String> {
        scan_dir(dir)
            .unwrap()
            .iter()
            .map(|f| f.path.file_name().unwrap().to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn file_names() {
        assert_eq!(
            parse_file_name("dlq-20240305.ndjson"),
            Some(("20240305".into(), 0, FileState::Pending))
        );
        assert_eq!(
            parse_file_name("dlq-20240305-12.ndjson.replaying"),
            Some(("20240305".into(), 12, FileState::Replaying))
        );
        for other in [
            "dlq-2024030.ndjson",
            "dlq-20240305-.ndjson",
            "dlq-20240305-x.ndjson",
            "dlq-20240305.ndjson.tmp",
            "notes.txt",
        ] {
            assert_eq!(parse_file_name(other), None, "{other}");
        }
        assert_eq!(file_name("20240305", 0), "dlq-20240305.ndjson");
        assert_eq!(file_name("20240305", 3), "dlq-20240305-3.ndjson");
    }

    #[test]
    fn rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut one = Vec::new();
        letter().write_line(Timestamp::now(), &mut one);
        // Room for two entries per file.
        let q =
            DeadLetterQueue::in_data_dir(dir.path()).with_limits(one.len() as u64 * 2, u64::MAX);
        for _ in 0..5 {
            q.append(&[letter()]).unwrap();
        }
        let files = scan_dir(q.dir()).unwrap();
        assert_eq!(files.len(), 3, "{:?}", names(q.dir()));
        assert_eq!(
            files.iter().map(|f| f.seq).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(
            files.iter().map(|f| f.bytes).collect::<Vec<_>>(),
            vec![one.len() as u64 * 2, one.len() as u64 * 2, one.len() as u64]
        );
        assert_eq!(q.entries_written(), 5);
        assert_eq!(q.size().unwrap(), one.len() as u64 * 5);
        // A write larger than a whole file still goes into a file (a fresh one) of its own.
        q.append(&[letter(), letter(), letter()]).unwrap();
        assert_eq!(scan_dir(q.dir()).unwrap().len(), 4);
    }

    #[test]
    fn full_queue_refuses_writes_and_deletes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut one = Vec::new();
        letter().write_line(Timestamp::now(), &mut one);
        let q =
            DeadLetterQueue::in_data_dir(dir.path()).with_limits(u64::MAX, one.len() as u64 * 2);
        // Larger than the cap, but the queue is empty: let through.
        q.append(&[letter(), letter(), letter()]).unwrap();
        let err = q.append(&[letter()]).unwrap_err();
        assert!(matches!(err, DlqError::Full { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(&q.dir().display().to_string()), "{text}");
        assert!(text.contains("dlq_max_total_bytes"), "{text}");
        assert_eq!(q.entries_written(), 3);
        assert_eq!(q.size().unwrap(), one.len() as u64 * 3);
        // Room again once the files are gone (replayed): the write goes through.
        for f in scan_dir(q.dir()).unwrap() {
            std::fs::remove_file(f.path).unwrap();
        }
        q.append(&[letter()]).unwrap();
        assert_eq!(q.entries_written(), 4);
    }

    #[test]
    fn claimed_files_are_never_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let q = DeadLetterQueue::in_data_dir(dir.path());
        let first = q.append(&[letter()]).unwrap();
        let files = scan_dir(q.dir()).unwrap();
        let claimed = claim(&files[0]).unwrap().unwrap();
        assert!(claimed.to_str().unwrap().ends_with(".ndjson.replaying"));
        assert!(!first.exists());
        // The next write starts a new file with a higher number.
        let second = q.append(&[letter()]).unwrap();
        assert_ne!(second, first);
        assert!(
            second.to_str().unwrap().ends_with("-1.ndjson"),
            "{second:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&claimed).unwrap().lines().count(),
            1
        );
        let files = scan_dir(q.dir()).unwrap();
        assert_eq!(
            files.iter().map(|f| f.state).collect::<Vec<_>>(),
            vec![FileState::Replaying, FileState::Pending]
        );
        // Claiming a file being replayed hands it back as it is; a vanished one is skipped.
        assert_eq!(claim(&files[0]).unwrap(), Some(claimed.clone()));
        std::fs::remove_file(&second).unwrap();
        assert_eq!(claim(&files[1]).unwrap(), None);
    }

    #[test]
    fn a_writer_holding_an_old_handle_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let q = DeadLetterQueue::in_data_dir(dir.path());
        let path = q.append(&[letter()]).unwrap();
        let old = File::open(&path).unwrap();
        std::fs::rename(&path, dir.path().join("dlq/elsewhere")).unwrap();
        assert!(!still_at(&old, &path).unwrap());
        q.append(&[letter()]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }

    #[test]
    fn summaries_count_documents_and_error_types() {
        let dir = tempfile::tempdir().unwrap();
        let q = DeadLetterQueue::in_data_dir(dir.path());
        q.append(&[letter(), letter()]).unwrap();
        let mut other = letter();
        other.error.kind = "mapper_parsing_exception".into();
        q.append(&[other]).unwrap();
        q.append_lines(b"{\"torn\n", Timestamp::now()).unwrap();
        std::fs::write(q.dir().join("README"), "not ours").unwrap();
        let s = summarize(q.dir()).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].documents, 3);
        assert_eq!(s[0].unreadable, 1);
        assert_eq!(s[0].errors["document_parsing_exception"], 2);
        assert_eq!(s[0].errors["mapper_parsing_exception"], 1);
        assert!(summarize(&dir.path().join("absent")).unwrap().is_empty());
    }
}
