//! Record assembly: lines of one stream -> records, before they are batched.
//!
//! Three things need the lines before and after a line, so they happen here, in stream order,
//! rather than on the workers (which see batches in any order):
//! - container envelopes are unwrapped (`parse::envelope`) and partial lines (Docker's 16 KiB
//!   pieces, CRI `P` lines) put back together;
//! - lines the parser calls continuations (`Parser::is_continuation`: a PostgreSQL statement's
//!   tab-indented lines, a stack trace under an NGINX error) are joined to their record with
//!   `\n`;
//! - both are bounded: a record stops growing at `max_bytes` (the rest of its lines are cut and
//!   the record tagged `_truncated`) and at `max_lines` (the next continuation starts a new
//!   record, so nothing is dropped), and a record nobody continues is flushed after a timeout.
//!
//! Offsets: each record carries the offset of its first line and the offset after its last, so
//! a checkpoint only ever covers whole records; lines still held here are read again after a
//! restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::parse::envelope::{self, EnvelopeKind};
use crate::parse::Parser;
use crate::pipeline::batch::{RawBatch, RecordMeta};

/// Lines one record may hold before the next continuation starts a new record.
pub const DEFAULT_MAX_LINES: usize = 500;
/// A record waits this long for continuation lines before it is sent.
pub const DEFAULT_FLUSH_AFTER: Duration = Duration::from_millis(1000);

/// Decides which lines continue the record before them.
pub trait LineJoiner: Send + Sync + std::fmt::Debug {
    fn is_continuation(&self, line: &[u8]) -> bool;
}

/// The format's own rule (`Parser::is_continuation`).
#[derive(Debug)]
struct ParserJoiner(Arc<dyn Parser>);

impl LineJoiner for ParserJoiner {
    fn is_continuation(&self, line: &[u8]) -> bool {
        self.0.is_continuation(line)
    }
}

/// `multiline = { start = 'REGEX' }` or `{ continue = 'REGEX' }` from the pipeline file.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A line matching this starts a new record; every other line continues the current one
    /// (Java and Python stack traces: `start = '^\d{4}-\d{2}-\d{2} '`).
    pub start: Option<String>,
    /// A line matching this continues the current record (`continue = '^\s'`).
    #[serde(rename = "continue")]
    pub continues: Option<String>,
    /// Most lines in one record; the next continuation starts a new record. Default 500.
    pub max_lines: Option<usize>,
    /// Most bytes in one record; the rest is cut and the record tagged `_truncated`.
    /// Default: the input's `max_line_bytes`.
    pub max_bytes: Option<usize>,
    /// Milliseconds a record waits for continuation lines before it is sent. Default 1000.
    pub timeout_ms: Option<u64>,
}

impl MultilineConfig {
    /// Checks the patterns and limits; the message says what is wrong.
    pub fn compile(&self) -> Result<Arc<dyn LineJoiner>, String> {
        let compile = |key: &str, re: &str| {
            regex::bytes::Regex::new(re)
                .map_err(|e| format!("`multiline.{key}`: invalid regular expression: {e}"))
        };
        if self.max_lines == Some(0) || self.max_bytes == Some(0) {
            return Err("`multiline.max_lines` and `multiline.max_bytes` must be > 0".into());
        }
        match (&self.start, &self.continues) {
            (Some(s), None) => Ok(Arc::new(RegexJoiner::Start(compile("start", s)?))),
            (None, Some(c)) => Ok(Arc::new(RegexJoiner::Continue(compile("continue", c)?))),
            _ => Err("`multiline` needs exactly one of `start` and `continue`".into()),
        }
    }
}

#[derive(Debug)]
enum RegexJoiner {
    Start(regex::bytes::Regex),
    Continue(regex::bytes::Regex),
}

impl LineJoiner for RegexJoiner {
    fn is_continuation(&self, line: &[u8]) -> bool {
        match self {
            RegexJoiner::Start(re) => !re.is_match(line),
            RegexJoiner::Continue(re) => re.is_match(line),
        }
    }
}

/// How a stream's lines become records.
#[derive(Debug, Clone)]
pub struct AssemblyRules {
    pub envelope: Option<EnvelopeKind>,
    /// What decides continuation lines; `None` when records are single lines.
    pub joiner: Option<Arc<dyn LineJoiner>>,
    /// Largest record, in bytes (`max_line_bytes`).
    pub max_bytes: usize,
    pub max_lines: usize,
    pub flush_after: Duration,
}

impl AssemblyRules {
    /// Rules for a parser: joins lines only when the parser's format has multi-line records.
    pub fn new(
        parser: Option<Arc<dyn Parser>>,
        envelope: Option<EnvelopeKind>,
        max_bytes: usize,
    ) -> AssemblyRules {
        AssemblyRules {
            envelope,
            joiner: parser
                .filter(|p| p.joins_lines())
                .map(|p| Arc::new(ParserJoiner(p)) as Arc<dyn LineJoiner>),
            max_bytes,
            max_lines: DEFAULT_MAX_LINES,
            flush_after: DEFAULT_FLUSH_AFTER,
        }
    }

    /// Applies a configured `multiline` rule, which replaces the parser's own.
    pub fn with_multiline(
        mut self,
        multiline: Option<&MultilineConfig>,
    ) -> Result<AssemblyRules, String> {
        if let Some(m) = multiline {
            self.joiner = Some(m.compile()?);
            self.max_lines = m.max_lines.unwrap_or(DEFAULT_MAX_LINES);
            self.max_bytes = m.max_bytes.unwrap_or(self.max_bytes);
            self.flush_after = m
                .timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_FLUSH_AFTER);
        }
        Ok(self)
    }

    /// True when every line is a record of its own, as read.
    pub fn is_passthrough(&self) -> bool {
        self.envelope.is_none() && self.joiner.is_none()
    }
}

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    start: u64,
    end: u64,
    lines: usize,
    truncated: bool,
    meta: Option<RecordMeta>,
    /// The last envelope piece was partial: the next piece continues this same line.
    open_partial: bool,
    since: Instant,
}

#[derive(Debug)]
pub struct Assembler {
    rules: AssemblyRules,
    pending: Option<Pending>,
}

impl Assembler {
    pub fn new(rules: AssemblyRules) -> Assembler {
        Assembler {
            rules,
            pending: None,
        }
    }

    pub fn rules(&self) -> &AssemblyRules {
        &self.rules
    }

    /// Feeds one line (without its newline) that occupies `start..end` of the stream; complete
    /// records go to `out`.
    pub fn push(&mut self, line: &[u8], start: u64, end: u64, truncated: bool, out: &mut RawBatch) {
        if self.rules.is_passthrough() {
            out.push(line, start, end, truncated);
            return;
        }
        let (payload, partial, meta) = match self.rules.envelope {
            None => (std::borrow::Cow::Borrowed(line), false, None),
            Some(kind) => match envelope::unwrap(kind, line) {
                Ok(u) => (
                    u.payload,
                    u.partial,
                    Some(RecordMeta {
                        time: u.time,
                        stream: Some(u.stream),
                        envelope_error: None,
                    }),
                ),
                // Kept as it is, and marked: a line the runtime did not write still matters.
                Err(e) => (
                    std::borrow::Cow::Borrowed(line),
                    false,
                    Some(RecordMeta {
                        time: None,
                        stream: None,
                        envelope_error: Some(e),
                    }),
                ),
            },
        };

        if let Some(p) = &mut self.pending {
            if p.open_partial {
                append(p, &payload, self.rules.max_bytes, false);
                p.end = end;
                p.truncated |= truncated;
                p.open_partial = partial;
                if !partial && self.rules.joiner.is_none() {
                    self.flush(out);
                }
                return;
            }
            let continues = self
                .rules
                .joiner
                .as_ref()
                .is_some_and(|j| j.is_continuation(&payload));
            if continues && p.lines < self.rules.max_lines {
                append(p, &payload, self.rules.max_bytes, true);
                p.lines += 1;
                p.end = end;
                p.truncated |= truncated;
                p.open_partial = partial;
                return;
            }
            self.flush(out);
        }
        let mut p = Pending {
            data: Vec::with_capacity(payload.len()),
            start,
            end,
            lines: 1,
            truncated,
            meta,
            open_partial: partial,
            since: Instant::now(),
        };
        append(&mut p, &payload, self.rules.max_bytes, false);
        if partial || self.rules.joiner.is_some() {
            self.pending = Some(p);
        } else {
            emit(p, out);
        }
    }

    /// Sends the record being assembled, if any (end of input, or its timeout passed).
    pub fn flush(&mut self, out: &mut RawBatch) {
        if let Some(p) = self.pending.take() {
            emit(p, out);
        }
    }

    /// Sends the record being assembled when it has waited longer than the flush timeout.
    pub fn flush_expired(&mut self, out: &mut RawBatch) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.since.elapsed() >= self.rules.flush_after)
        {
            self.flush(out);
        }
    }

    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Drops what is being assembled (the stream was truncated or replaced under us).
    pub fn reset(&mut self) {
        self.pending = None;
    }
}

fn append(p: &mut Pending, piece: &[u8], max: usize, newline: bool) {
    let need = piece.len() + usize::from(newline);
    let room = max.saturating_sub(p.data.len());
    if need > room {
        p.truncated = true;
    }
    if newline && room > 0 {
        p.data.push(b'\n');
    }
    let room = max.saturating_sub(p.data.len());
    p.data.extend_from_slice(&piece[..piece.len().min(room)]);
}

fn emit(p: Pending, out: &mut RawBatch) {
    match p.meta {
        Some(meta) => out.push_with_meta(&p.data, p.start, p.end, p.truncated, meta),
        None => out.push(&p.data, p.start, p.end, p.truncated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::envelope::IoStream;
    use crate::pipeline::ack::BatchAck;
    use crate::pipeline::batch::StreamContext;

    use crate::parse::test_support::Indented;

    fn batch() -> RawBatch {
        RawBatch::new(
            Arc::new(StreamContext {
                input_index: 0,
                stream_key: 0,
                file_path: None,
                fields: Vec::new(),
            }),
            BatchAck::untracked(),
        )
    }

    fn records(b: &RawBatch) -> Vec<(String, u64, u64, bool)> {
        b.records
            .iter()
            .map(|r| {
                (
                    String::from_utf8_lossy(&b.data[r.range.clone()]).into_owned(),
                    r.offset,
                    r.end,
                    r.truncated,
                )
            })
            .collect()
    }

    /// Feeds newline-separated `text` as a stream starting at offset 0.
    fn feed(a: &mut Assembler, text: &str, out: &mut RawBatch) {
        let mut off = 0u64;
        for line in text.split_inclusive('\n') {
            let body = line.trim_end_matches('\n');
            a.push(body.as_bytes(), off, off + line.len() as u64, false, out);
            off += line.len() as u64;
        }
    }

    #[test]
    fn joins_continuations_and_keeps_offsets() {
        let mut a = Assembler::new(AssemblyRules::new(Some(Arc::new(Indented)), None, 1000));
        let mut out = batch();
        feed(
            &mut a,
            "first\n\tat a\n\tat b\nsecond\nthird\n  x\n",
            &mut out,
        );
        assert!(a.has_pending());
        a.flush(&mut out);
        assert_eq!(
            records(&out),
            vec![
                ("first\n\tat a\n\tat b".into(), 0, 18, false),
                ("second".into(), 18, 25, false),
                ("third\n  x".into(), 25, 35, false),
            ]
        );
    }

    #[test]
    fn bounded_by_lines_and_bytes() {
        let mut rules = AssemblyRules::new(Some(Arc::new(Indented)), None, 12);
        rules.max_lines = 3;
        let mut a = Assembler::new(rules);
        let mut out = batch();
        feed(&mut a, "head\n 1\n 2\n 3\n 4\n", &mut out);
        a.flush(&mut out);
        let r = records(&out);
        assert_eq!(r[0], ("head\n 1\n 2".into(), 0, 11, false));
        assert_eq!(
            r[1],
            (" 3\n 4".into(), 11, 17, false),
            "the rest starts a new record, nothing lost"
        );

        let mut a = Assembler::new(AssemblyRules::new(Some(Arc::new(Indented)), None, 8));
        let mut out = batch();
        feed(&mut a, "abcdef\n ghijk\n", &mut out);
        a.flush(&mut out);
        assert_eq!(records(&out), vec![("abcdef\n ".into(), 0, 14, true)]);
    }

    #[test]
    fn flushes_after_timeout() {
        let mut rules = AssemblyRules::new(Some(Arc::new(Indented)), None, 100);
        rules.flush_after = Duration::from_millis(0);
        let mut a = Assembler::new(rules);
        let mut out = batch();
        feed(&mut a, "alone\n", &mut out);
        assert!(out.is_empty());
        a.flush_expired(&mut out);
        assert_eq!(records(&out).len(), 1);
    }

    #[test]
    fn cri_partials_are_reassembled() {
        let mut a = Assembler::new(AssemblyRules::new(None, Some(EnvelopeKind::Cri), 1000));
        let mut out = batch();
        feed(
            &mut a,
            "2026-11-22T10:00:00Z stdout P part one, \n2026-11-22T10:00:00Z stdout F part two\n2026-11-22T10:00:01Z stderr F whole\n",
            &mut out,
        );
        let r = records(&out);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].0, "part one, part two");
        assert_eq!(
            (r[0].1, r[0].2),
            (0, 80),
            "from the first piece to the end of the last"
        );
        assert_eq!(r[1].0, "whole");
        let meta = out.records[1].meta.as_deref().unwrap();
        assert_eq!(meta.stream, Some(IoStream::Stderr));
        assert_eq!(meta.time.unwrap().to_rfc3339(), "2026-11-22T10:00:01.000Z");
    }

    #[test]
    fn docker_partials_and_garbage() {
        let mut a = Assembler::new(AssemblyRules::new(None, Some(EnvelopeKind::Docker), 1000));
        let mut out = batch();
        feed(
            &mut a,
            "{\"log\":\"abc\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00Z\"}\n{\"log\":\"def\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00Z\"}\nnot docker\n",
            &mut out,
        );
        let r = records(&out);
        assert_eq!(r[0].0, "abcdef");
        assert_eq!(r[1].0, "not docker");
        assert!(out.records[1]
            .meta
            .as_deref()
            .unwrap()
            .envelope_error
            .is_some());
    }

    #[test]
    fn configured_multiline_start_and_continue() {
        let java = "2026-11-22 10:00:00 ERROR boom\njava.lang.IllegalStateException: bad\n\tat a.B.c(B.java:1)\nCaused by: x\n2026-11-22 10:00:01 INFO ok\n";
        let cfg = MultilineConfig {
            start: Some(r"^\d{4}-\d{2}-\d{2} ".into()),
            ..Default::default()
        };
        let rules = AssemblyRules::new(None, None, 10_000)
            .with_multiline(Some(&cfg))
            .unwrap();
        let mut a = Assembler::new(rules);
        let mut out = batch();
        feed(&mut a, java, &mut out);
        a.flush(&mut out);
        let r = records(&out);
        assert_eq!(r.len(), 2);
        assert!(r[0].0.ends_with("Caused by: x") && r[0].0.contains("\tat a.B.c"));

        let cfg = MultilineConfig {
            continues: Some(r"^\s".into()),
            max_lines: Some(2),
            ..Default::default()
        };
        let rules = AssemblyRules::new(None, None, 10_000)
            .with_multiline(Some(&cfg))
            .unwrap();
        let mut a = Assembler::new(rules);
        let mut out = batch();
        feed(&mut a, "a\n b\n c\n d\n", &mut out);
        a.flush(&mut out);
        assert_eq!(
            records(&out)
                .iter()
                .map(|r| r.0.as_str())
                .collect::<Vec<_>>(),
            vec!["a\n b", " c\n d"]
        );

        let both = MultilineConfig {
            start: Some("x".into()),
            continues: Some("y".into()),
            ..Default::default()
        };
        assert!(both.compile().unwrap_err().contains("exactly one"));
        let bad = MultilineConfig {
            start: Some("(".into()),
            ..Default::default()
        };
        assert!(bad.compile().unwrap_err().contains("multiline.start"));
    }

    #[test]
    fn passthrough_without_rules() {
        let mut a = Assembler::new(AssemblyRules::new(None, None, 100));
        let mut out = batch();
        feed(&mut a, "a\n\tb\n", &mut out);
        assert_eq!(records(&out).len(), 2);
        assert!(!a.has_pending());
    }
}
