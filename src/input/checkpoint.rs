//! Checkpoints: per input, the offset up to which every record of each file is acknowledged,
//! and the stable key that makes document ids of that file deterministic across restarts.
//!
//! Stored as JSON at `DATA_DIR/checkpoints/INPUT_ID.json`, replaced atomically (temp file, fsync,
//! rename, fsync of the directory), so a crash leaves either the old or the new state.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Key prefix of entries kept for files truncated in place (see [`CheckpointStore::retire`]).
pub const RETIRED_PREFIX: &str = "retired:";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointEntry {
    /// Stable stream key of the file (part of each document `_id`).
    pub stream_key: u64,
    /// Every record before this byte offset is acknowledged.
    pub offset: u64,
    /// Path the file had when last seen (informational).
    pub path: String,
    /// Unix seconds of the last update.
    pub updated: i64,
    /// Hash of the file's first `fingerprint_len` bytes (decompressed, for `.gz`): tells the
    /// same file from a new one that got a recycled inode, and finds a rotated file again after
    /// it was compressed.
    #[serde(default)]
    pub fingerprint: u64,
    #[serde(default)]
    pub fingerprint_len: u32,
    /// A finished archive (`.gz`): read whole and acknowledged.
    #[serde(default)]
    pub done: bool,
    /// Unix seconds when a scan last found the file.
    #[serde(default)]
    pub seen: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    files: BTreeMap<String, CheckpointEntry>,
}

#[derive(Debug)]
pub struct CheckpointStore {
    path: PathBuf,
    files: BTreeMap<String, CheckpointEntry>,
    dirty: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a logpipe checkpoint file: {source}")]
    Corrupt {
        path: String,
        source: serde_json::Error,
    },
}

impl CheckpointStore {
    /// Path of the checkpoint file of input `input_id` under `data_dir`.
    pub fn path_for(data_dir: &Path, input_id: &str) -> PathBuf {
        let safe: String = input_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        data_dir.join("checkpoints").join(format!("{safe}.json"))
    }

    pub fn open(path: PathBuf) -> Result<CheckpointStore, CheckpointError> {
        let io = |e| CheckpointError::Io {
            path: path.display().to_string(),
            source: e,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: CheckpointFile =
                    serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
                        path: path.display().to_string(),
                        source: e,
                    })?;
                Ok(CheckpointStore {
                    path,
                    files: file.files,
                    dirty: false,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                Ok(CheckpointStore {
                    path,
                    files: BTreeMap::new(),
                    dirty: false,
                })
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, key: &str) -> Option<&CheckpointEntry> {
        self.files.get(key)
    }

    /// Sets the entry of `key`; marks the store dirty when anything changed.
    pub fn set(&mut self, key: &str, stream_key: u64, offset: u64, path: &str) {
        let now = chrono::Utc::now().timestamp();
        match self.files.get_mut(key) {
            Some(e) if e.stream_key == stream_key && e.offset == offset && e.path == path => {}
            Some(e) => {
                e.stream_key = stream_key;
                e.offset = offset;
                e.path = path.to_string();
                e.updated = now;
                self.dirty = true;
            }
            None => {
                self.files.insert(
                    key.to_string(),
                    CheckpointEntry {
                        stream_key,
                        offset,
                        path: path.to_string(),
                        updated: now,
                        fingerprint: 0,
                        fingerprint_len: 0,
                        done: false,
                        seen: now,
                    },
                );
                self.dirty = true;
            }
        }
    }

    pub fn set_fingerprint(&mut self, key: &str, fingerprint: u64, len: usize) {
        if let Some(e) = self.files.get_mut(key) {
            let len = len.min(u32::MAX as usize) as u32;
            if e.fingerprint != fingerprint || e.fingerprint_len != len {
                e.fingerprint = fingerprint;
                e.fingerprint_len = len;
                self.dirty = true;
            }
        }
    }

    pub fn set_done(&mut self, key: &str) {
        if let Some(e) = self.files.get_mut(key) {
            if !e.done {
                e.done = true;
                self.dirty = true;
            }
        }
    }

    /// Records that a scan found the file; written at most once a minute per file, so a large
    /// glob does not rewrite the checkpoint on every scan.
    pub fn touch(&mut self, key: &str, now: i64) {
        if let Some(e) = self.files.get_mut(key) {
            if now - e.seen >= 60 {
                e.seen = now;
                self.dirty = true;
            }
        }
    }

    /// An entry of another file with the same full-length fingerprint (a rotated file that was
    /// compressed, or the copy `copytruncate` made), with its key. `retired_only` limits the
    /// search to the state files had when they were truncated in place.
    pub fn find_by_fingerprint(
        &self,
        fingerprint: u64,
        len: usize,
        retired_only: bool,
    ) -> Option<(&str, &CheckpointEntry)> {
        self.files
            .iter()
            .filter(|(k, _)| !retired_only || k.starts_with(RETIRED_PREFIX))
            .find(|(_, e)| e.fingerprint_len as usize == len && e.fingerprint == fingerprint)
            .map(|(k, e)| (k.as_str(), e))
    }

    /// Keeps the state a file had before it was truncated in place, under a key of its own, so
    /// the copy `copytruncate` made can resume where reading stopped instead of starting over.
    pub fn retire(&mut self, key: &str, now: i64) {
        if let Some(e) = self.files.get(key).cloned() {
            let mut e = e;
            e.seen = now;
            self.files
                .insert(format!("{RETIRED_PREFIX}{}", e.stream_key), e);
            self.dirty = true;
        }
    }

    /// Forgets files no scan has found since `before` (unix seconds), except `keep`.
    pub fn purge_unseen(&mut self, before: i64, keep: &dyn Fn(&str) -> bool) -> usize {
        let n = self.files.len();
        self.files.retain(|k, e| e.seen >= before || keep(k));
        let removed = n - self.files.len();
        if removed > 0 {
            self.dirty = true;
        }
        removed
    }

    pub fn remove(&mut self, key: &str) {
        if self.files.remove(key).is_some() {
            self.dirty = true;
        }
    }

    #[cfg(test)]
    pub fn files_for_test(&self) -> impl Iterator<Item = &CheckpointEntry> {
        self.files.values()
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Writes the store if it changed since the last save.
    pub fn save(&mut self) -> Result<(), CheckpointError> {
        if !self.dirty {
            return Ok(());
        }
        let io = |e| CheckpointError::Io {
            path: self.path.display().to_string(),
            source: e,
        };
        let body = serde_json::to_vec_pretty(&CheckpointFile {
            version: 1,
            files: self.files.clone(),
        })
        .map_err(|e| CheckpointError::Corrupt {
            path: self.path.display().to_string(),
            source: e,
        })?;
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&body).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            // The rename is durable only once the directory entry is.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen_and_is_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = CheckpointStore::path_for(dir.path(), "file/0");
        assert!(path.ends_with("checkpoints/file_0.json"));
        let mut s = CheckpointStore::open(path.clone()).unwrap();
        s.set("1:2", 77, 100, "/a.log");
        assert!(s.is_dirty());
        s.save().unwrap();
        assert!(!path.with_extension("json.tmp").exists());
        let s2 = CheckpointStore::open(path.clone()).unwrap();
        assert_eq!(
            s2.get("1:2").map(|e| (e.stream_key, e.offset)),
            Some((77, 100))
        );
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            CheckpointStore::open(path),
            Err(CheckpointError::Corrupt { .. })
        ));
    }
}
