//! The numbers of a reprocess run, per dataset and index: what the workers read (events, parse
//! failures, events outside `--since`/`--until`) and what the destination said about each
//! delivered batch (indexed, already present, dead-lettered), then the table printed at the
//! end and its JSON form (`--summary-json`).
//!
//! Workers count into a per-batch tally and merge it under one lock per batch; delivery counts
//! arrive with each batch's acknowledgement (`AckSink::acknowledge_with`).

use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;

use crate::pipeline::batch::BatchStats;

/// Counts of one (dataset, index) row, or of the whole run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Events that came out of parsing (parse failures included).
    pub read: u64,
    pub parse_failures: u64,
    /// Left out by `--since`/`--until`.
    pub out_of_range: u64,
    /// Stored by the destination (for NDJSON outputs: written).
    pub indexed: u64,
    /// `409`: stored by an earlier run.
    pub already_present: u64,
    pub dead_lettered: u64,
    /// Sent but never acknowledged (interrupted, or the output failed).
    pub undelivered: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.read += o.read;
        self.parse_failures += o.parse_failures;
        self.out_of_range += o.out_of_range;
        self.indexed += o.indexed;
        self.already_present += o.already_present;
        self.dead_lettered += o.dead_lettered;
        self.undelivered += o.undelivered;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub dataset: String,
    /// Index the events went to (or would go to); `-` when the pipeline has no index.
    pub index: String,
    #[serde(flatten)]
    pub tally: Tally,
}

/// Rows by key, filled while the run goes.
#[derive(Debug, Default)]
pub struct Tallies {
    keys: HashMap<(String, String), usize>,
    rows: Vec<Row>,
    /// Sums of the workers' batch counts (records, empty lines, tag-rule drops, ...).
    pub stats: BatchStats,
}

impl Tallies {
    /// The row id of a key, created on first use.
    pub fn intern(&mut self, dataset: &str, index: &str) -> usize {
        // Lookup by borrowed strings would need a custom key type; the lock is taken once per
        // batch and a batch has one or two keys, so the allocation here is not hot.
        let key = (dataset.to_string(), index.to_string());
        if let Some(&id) = self.keys.get(&key) {
            return id;
        }
        let id = self.rows.len();
        self.rows.push(Row {
            dataset: key.0.clone(),
            index: key.1.clone(),
            tally: Tally::default(),
        });
        self.keys.insert(key, id);
        id
    }

    pub fn row_mut(&mut self, id: usize) -> Option<&mut Tally> {
        self.rows.get_mut(id).map(|r| &mut r.tally)
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
}

/// What became of one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    /// `done`, `skipped` (finished by an earlier run), `interrupted` or `failed`.
    pub status: &'static str,
    pub bytes: u64,
    pub records: u64,
    /// Hex; the key every document id of the file derives from.
    pub stream_key: String,
    /// Where the key came from: `checkpoint` (the live file input read this content),
    /// `journal` (an earlier reprocess) or `content` (derived from the file's head).
    pub stream_key_from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FileCounts {
    pub total: usize,
    pub done: usize,
    pub skipped: usize,
    pub interrupted: usize,
    pub failed: usize,
}

/// The whole run, as printed and as written by `--summary-json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub pipeline: String,
    /// `elasticsearch`, `stdout`, `file` or `dry-run`.
    pub output: String,
    pub threads: usize,
    pub interrupted: bool,
    pub elapsed_secs: f64,
    /// Bytes read (compressed size for `.gz`).
    pub bytes: u64,
    pub records: u64,
    pub events_per_sec: f64,
    pub bytes_per_sec: f64,
    pub files: FileCounts,
    pub totals: Tally,
    /// Records dropped by a tag rule and empty lines, which make no event.
    pub dropped_by_rule: u64,
    pub empty_lines: u64,
    pub rows: Vec<Row>,
    pub file_reports: Vec<FileReport>,
}

impl Report {
    /// The table printed at the end of a run.
    pub fn render(&self) -> String {
        let written = matches!(self.output.as_str(), "stdout" | "file");
        let delivered = if written { "written" } else { "indexed" };
        let headers = [
            "dataset",
            "index",
            "read",
            delivered,
            "already present",
            "parse failures",
            "dead-lettered",
            "out of range",
        ];
        let cells = |r: &Tally| {
            [
                r.read,
                r.indexed,
                r.already_present,
                r.parse_failures,
                r.dead_lettered,
                r.out_of_range,
            ]
            .map(group_digits)
        };
        let mut lines: Vec<[String; 8]> = Vec::new();
        let mut rows = self.rows.clone();
        rows.sort_by(|a, b| (&a.dataset, &a.index).cmp(&(&b.dataset, &b.index)));
        for r in &rows {
            let [a, b, c, d, e, f] = cells(&r.tally);
            lines.push([r.dataset.to_string(), r.index.to_string(), a, b, c, d, e, f]);
        }
        let [a, b, c, d, e, f] = cells(&self.totals);
        let total = ["total".to_string(), String::new(), a, b, c, d, e, f];
        let mut widths = headers.map(str::len);
        for l in lines.iter().chain(std::iter::once(&total)) {
            for (w, c) in widths.iter_mut().zip(l.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let row = |out: &mut String, cells: &[String]| {
            for (i, (c, w)) in cells.iter().zip(widths.iter()).enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                if i < 2 {
                    let _ = write!(out, "{c:<w$}");
                } else {
                    let _ = write!(out, "{c:>w$}");
                }
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
        };
        row(&mut out, &headers.map(String::from));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        row(&mut out, &rule);
        for l in &lines {
            row(&mut out, l);
        }
        row(&mut out, &rule);
        row(&mut out, &total);
        let f = &self.files;
        let _ = writeln!(
            out,
            "files: {} total, {} done, {} skipped (finished earlier){}{}",
            f.total,
            f.done,
            f.skipped,
            if f.interrupted > 0 {
                format!(", {} interrupted", f.interrupted)
            } else {
                String::new()
            },
            if f.failed > 0 {
                format!(", {} failed", f.failed)
            } else {
                String::new()
            },
        );
        let _ = writeln!(
            out,
            "time: {:.2} s, {} records, {} read, {} events/s, {}/s{}",
            self.elapsed_secs,
            group_digits(self.records),
            human_bytes(self.bytes as f64),
            group_digits(self.events_per_sec.round() as u64),
            human_bytes(self.bytes_per_sec),
            if self.totals.undelivered > 0 {
                format!(
                    ", {} sent but not acknowledged",
                    group_digits(self.totals.undelivered)
                )
            } else {
                String::new()
            }
        );
        if self.interrupted {
            out.push_str("interrupted: files not finished are read again by the next run\n");
        }
        for r in self.file_reports.iter().filter(|r| r.error.is_some()) {
            let _ = writeln!(
                out,
                "failed: {}: {}",
                r.path,
                r.error.as_deref().unwrap_or_default()
            );
        }
        out
    }
}

/// `1234567` -> `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(1234567), "1,234,567");
    }

    #[test]
    fn table_has_a_row_per_key_and_totals() {
        let mut t = Tallies::default();
        let a = t.intern("nginx.access", "logs-nginx.access-2024.01.02");
        let b = t.intern("postgresql.log", "logs-postgresql.log-2024.01.02");
        assert_eq!(t.intern("nginx.access", "logs-nginx.access-2024.01.02"), a);
        t.row_mut(a).unwrap().read = 1500;
        t.row_mut(a).unwrap().indexed = 1500;
        t.row_mut(b).unwrap().read = 7;
        t.row_mut(b).unwrap().already_present = 7;
        let mut totals = Tally::default();
        for r in t.rows() {
            totals.add(&r.tally);
        }
        let report = Report {
            pipeline: "p.toml".into(),
            output: "elasticsearch".into(),
            threads: 2,
            interrupted: false,
            elapsed_secs: 1.5,
            bytes: 2048,
            records: 1507,
            events_per_sec: 1004.7,
            bytes_per_sec: 1365.3,
            files: FileCounts {
                total: 2,
                done: 2,
                ..Default::default()
            },
            totals,
            dropped_by_rule: 0,
            empty_lines: 0,
            rows: t.rows().to_vec(),
            file_reports: Vec::new(),
        };
        let text = report.render();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("dataset") && lines[0].contains("already present"));
        assert!(lines[2].starts_with("nginx.access    logs-nginx.access-2024.01.02  "));
        assert!(lines[2].ends_with("0"), "{text}");
        assert!(lines[5].starts_with("total") && lines[5].contains("1,507"));
        assert!(text.contains("files: 2 total, 2 done, 0 skipped"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["rows"][0]["read"], 1500);
        assert_eq!(json["rows"][1]["index"], "logs-postgresql.log-2024.01.02");
        assert_eq!(json["totals"]["already_present"], 7);
    }
}
