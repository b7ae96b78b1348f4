//! Dead-letter queue: documents Elasticsearch refused for good (mapping conflicts, invalid
//! documents), kept as NDJSON under `DATA_DIR/dlq/dlq-YYYYMMDD.ndjson` with the error and the
//! original document, so nothing is dropped silently and `reprocess` can replay them.
//!
//! One line per document:
//! `{"time":"...","index":"...","id":"...","status":400,"error":{"type":"...","reason":"..."},"document":{...}}`.
//! A write is appended and synced to disk before the documents count as delivered.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use serde::Deserialize;

use super::bulk::ItemError;
use crate::event::json::write_str;
use crate::event::Timestamp;

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

/// The queue's folder; writes from concurrent requests are serialized.
#[derive(Debug)]
pub struct DeadLetterQueue {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl DeadLetterQueue {
    /// A queue in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> DeadLetterQueue {
        DeadLetterQueue {
            dir: dir.into(),
            lock: Mutex::new(()),
        }
    }

    /// The queue of a run: `DATA_DIR/dlq`.
    pub fn in_data_dir(data_dir: &Path) -> DeadLetterQueue {
        DeadLetterQueue::new(data_dir.join("dlq"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of the UTC day of `time`.
    pub fn file_for(&self, time: Timestamp) -> PathBuf {
        let c = time.civil();
        self.dir.join(format!(
            "dlq-{:04}{:02}{:02}.ndjson",
            c.year, c.month, c.day
        ))
    }

    /// Appends the entries to today's file and syncs it; blocking.
    pub fn append(&self, entries: &[DeadLetter]) -> std::io::Result<PathBuf> {
        let now = Timestamp::now();
        let mut buf = Vec::with_capacity(entries.iter().map(|e| e.document.len() + 256).sum());
        for e in entries {
            e.write_line(now, &mut buf);
        }
        let path = self.file_for(now);
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        std::fs::create_dir_all(&self.dir)?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        file.write_all(&buf)?;
        file.sync_data()?;
        Ok(path)
    }
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
}
