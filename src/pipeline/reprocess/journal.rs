//! The reprocess journal: which files a pipeline has reprocessed to the end, known by content
//! (the fingerprint of their first KiB, as checkpoints know files) and size, so a repeated run
//! skips them whatever their path now is.
//!
//! `DATA_DIR/reprocess/PIPELINE.journal` holds one JSON line per finished file, appended and
//! synced as soon as every batch of the file was acknowledged; a line torn by a crash is
//! ignored when read. A lock file (`flock`, released by the kernel when the process ends, even
//! on SIGKILL) keeps two runs of the same pipeline from sharing the journal.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::input::file::fingerprint;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("reprocess journal {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("reprocess journal {path}: another `logpipe reprocess` of this pipeline is running (lock {lock})")]
    Busy { path: String, lock: String },
}

/// One finished file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Fingerprint of the file's first `fingerprint_len` bytes (decompressed for `.gz`).
    pub fingerprint: u64,
    pub fingerprint_len: u32,
    /// Size on disk when it was read.
    pub size: u64,
    /// Stream key its documents were indexed under.
    pub stream_key: u64,
    /// Path it had (informational).
    pub path: String,
    /// Records read from it.
    pub records: u64,
    /// Unix seconds when it was finished.
    pub finished: i64,
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    entries: Vec<JournalEntry>,
    /// Held open for the lock; closing it releases the lock.
    _lock: File,
}

impl Journal {
    /// Opens (creating) the journal of `name` under `data_dir`, locked for this process.
    pub fn open(data_dir: &Path, name: &str) -> Result<Journal, JournalError> {
        let dir = data_dir.join("reprocess");
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{safe}.journal"));
        let io = |p: &Path| {
            let p = p.display().to_string();
            move |source| JournalError::Io { path: p, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let lock_path = dir.join(format!("{safe}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        // SAFETY: flock on a descriptor this function owns; no memory is passed.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::WouldBlock {
                return Err(JournalError::Busy {
                    path: path.display().to_string(),
                    lock: lock_path.display().to_string(),
                });
            }
            return Err(io(&lock_path)(err));
        }
        let entries = match std::fs::read(&path) {
            Ok(bytes) => bytes
                .split(|b| *b == b'\n')
                // A line torn by a crash (or anything else unreadable) is not a finished file.
                .filter_map(|line| serde_json::from_slice::<JournalEntry>(line).ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        Ok(Journal {
            path,
            entries,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry of a file with this content and size, if it was finished before.
    pub fn finished(
        &self,
        fingerprint: u64,
        fingerprint_len: usize,
        size: u64,
    ) -> Option<&JournalEntry> {
        self.entries.iter().find(|e| {
            e.fingerprint == fingerprint
                && e.fingerprint_len as usize == fingerprint_len
                && e.size == size
        })
    }

    /// The stream key of a finished file whose head is a prefix of `head`: the same file, grown
    /// since (its first records must keep their ids). The longest match wins.
    pub fn stream_key_for(&self, head: &[u8]) -> Option<u64> {
        self.entries
            .iter()
            .filter(|e| {
                let n = e.fingerprint_len as usize;
                n > 0
                    && head
                        .get(..n)
                        .is_some_and(|p| fingerprint(p) == e.fingerprint)
            })
            .max_by_key(|e| e.fingerprint_len)
            .map(|e| e.stream_key)
    }

    /// Appends a finished file and syncs it to disk.
    pub fn record(&mut self, entry: JournalEntry) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let mut line = serde_json::to_vec(&entry).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        // A torn earlier line (crash mid-write) must not swallow this one.
        let len = f.metadata().map_err(io)?.len();
        if len > 0 && !ends_with_newline(&f, len) {
            f.write_all(b"\n").map_err(io)?;
        }
        f.write_all(&line).map_err(io)?;
        f.sync_data().map_err(io)?;
        self.entries.push(entry);
        Ok(())
    }
}

fn ends_with_newline(f: &File, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut last = [0u8; 1];
    f.read_at(&mut last, len - 1).is_ok() && last[0] == b'\n'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(head: &[u8], size: u64, key: u64) -> JournalEntry {
        JournalEntry {
            fingerprint: fingerprint(head),
            fingerprint_len: head.len() as u32,
            size,
            stream_key: key,
            path: "/x".into(),
            records: 1,
            finished: 0,
        }
    }

    #[test]
    fn survives_reopen_and_ignores_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut j = Journal::open(dir.path(), "p").unwrap();
            j.record(entry(b"abc", 10, 7)).unwrap();
            let mut f = OpenOptions::new().append(true).open(j.path()).unwrap();
            f.write_all(b"{\"fingerprint\":1,\"fin").unwrap();
        }
        let mut j = Journal::open(dir.path(), "p").unwrap();
        assert!(j.finished(fingerprint(b"abc"), 3, 10).is_some());
        assert!(
            j.finished(fingerprint(b"abc"), 3, 11).is_none(),
            "grown since"
        );
        j.record(entry(b"def", 5, 8)).unwrap();
        drop(j);
        let j = Journal::open(dir.path(), "p").unwrap();
        assert!(j.finished(fingerprint(b"def"), 3, 5).is_some());
    }

    #[test]
    fn a_grown_file_keeps_its_stream_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), "p").unwrap();
        j.record(entry(b"line one\n", 9, 42)).unwrap();
        j.record(entry(b"line", 4, 41)).unwrap();
        assert_eq!(j.stream_key_for(b"line one\nline two\n"), Some(42));
        assert_eq!(j.stream_key_for(b"other"), None);
    }

    #[test]
    fn a_second_run_of_the_same_pipeline_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Journal::open(dir.path(), "p").unwrap();
        assert!(matches!(
            Journal::open(dir.path(), "p"),
            Err(JournalError::Busy { .. })
        ));
        assert!(Journal::open(dir.path(), "q").is_ok());
    }
}
