//! Reading files for `reprocess`: where a plain file may be cut so that its pieces are read in
//! parallel, and how bytes become batches of records.
//!
//! A cut always lands at the start of a record: after a newline, and past every line the
//! format calls a continuation (a PostgreSQL statement's indented lines, a stack trace), so a
//! multi-line record is never split between two pieces. Each piece then runs the same record
//! assembly as the file input, with offsets counted from the start of the file, so a record
//! gets the same offset (and document id) whether its file was read whole, in pieces, or by
//! the live tailer.
//!
//! `.gz` files cannot be entered in the middle; they are read whole, and their offsets count
//! decompressed bytes, as the file input counts them.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::input::assemble::{Assembler, AssemblyRules};
use crate::pipeline::ack::BatchAck;
use crate::pipeline::batch::{RawBatch, StreamContext};

/// Bytes read per `read` call.
pub const READ_BLOCK: usize = 1 << 20;

/// Cuts a plain file of `len` bytes into pieces of about `chunk_bytes`, each starting at a
/// record start (see the module notes). A file with envelopes (container logs, whose partial
/// lines continue across lines) is never cut.
pub fn plan_chunks(
    file: &File,
    len: u64,
    chunk_bytes: u64,
    rules: &AssemblyRules,
) -> std::io::Result<Vec<Range<u64>>> {
    if rules.envelope.is_some() || chunk_bytes == 0 || len <= chunk_bytes {
        let whole = 0..len;
        return Ok(vec![whole]);
    }
    let mut starts = vec![0u64];
    let mut pos = chunk_bytes;
    while pos < len {
        let Some(cut) = next_record_start(file, pos, len, rules)? else {
            break;
        };
        if cut >= len {
            break;
        }
        starts.push(cut);
        pos = cut + chunk_bytes;
    }
    let mut out = Vec::with_capacity(starts.len());
    for (i, &s) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(len);
        out.push(s..end);
    }
    Ok(out)
}

/// The first offset at or after `pos` where a line starts that is not a continuation; `None`
/// when the file ends first.
fn next_record_start(
    file: &File,
    pos: u64,
    len: u64,
    rules: &AssemblyRules,
) -> std::io::Result<Option<u64>> {
    // A line starts at `pos` exactly when the byte before it is a newline.
    let Some(mut start) = find_newline(file, pos.saturating_sub(1), len)?.map(|nl| nl + 1) else {
        return Ok(None);
    };
    let Some(joiner) = &rules.joiner else {
        return Ok(Some(start));
    };
    let mut line = Vec::new();
    while start < len {
        let end = read_line_at(file, start, len, rules.max_bytes, &mut line)?;
        if !joiner.is_continuation(&line) {
            return Ok(Some(start));
        }
        start = end;
    }
    Ok(None)
}

/// Offset of the first newline at or after `from`.
fn find_newline(file: &File, from: u64, len: u64) -> std::io::Result<Option<u64>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = from;
    while at < len {
        let want = buf.len().min((len - at) as usize);
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(Some(at + i as u64));
        }
        at += n as u64;
    }
    Ok(None)
}

/// Reads the line starting at `start` into `line` (at most `max` bytes of it, newline left
/// out); returns the offset after its newline (or `len`).
fn read_line_at(
    file: &File,
    start: u64,
    len: u64,
    max: usize,
    line: &mut Vec<u8>,
) -> std::io::Result<u64> {
    line.clear();
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = start;
    while at < len {
        let want = buf.len().min((len - at) as usize);
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        let (piece, found) = match memchr::memchr(b'\n', &buf[..n]) {
            Some(i) => (&buf[..i], true),
            None => (&buf[..n], false),
        };
        let room = max.saturating_sub(line.len());
        line.extend_from_slice(&piece[..piece.len().min(room)]);
        at += piece.len() as u64;
        if found {
            return Ok(at + 1);
        }
    }
    Ok(len)
}

/// Turns a stream of bytes (a piece of a file, or a decompressed archive) into batches of
/// records: lines are cut at `max_line_bytes` like the file input cuts them, then assembled.
pub struct LineBatcher {
    assembler: Assembler,
    passthrough: bool,
    stream: Arc<StreamContext>,
    batch: RawBatch,
    batch_events: usize,
    max_line_bytes: usize,
    /// Stream offset of the next byte fed.
    offset: u64,
    /// A line whose newline has not been fed yet (at most `max_line_bytes` of it).
    partial: Vec<u8>,
    partial_start: u64,
    /// The current line passed `max_line_bytes`: the rest of it is skipped.
    skipping: bool,
    cut: bool,
}

impl LineBatcher {
    pub fn new(
        stream: Arc<StreamContext>,
        rules: AssemblyRules,
        start_offset: u64,
        batch_events: usize,
        max_line_bytes: usize,
    ) -> LineBatcher {
        let passthrough = rules.is_passthrough();
        LineBatcher {
            assembler: Assembler::new(rules),
            passthrough,
            batch: new_batch(&stream, batch_events),
            stream,
            batch_events: batch_events.max(1),
            max_line_bytes,
            offset: start_offset,
            partial: Vec::new(),
            partial_start: start_offset,
            skipping: false,
            cut: false,
        }
    }

    /// Feeds the next bytes of the stream; full batches go to `emit`, which returns false to
    /// stop (then so does this, returning false).
    pub fn feed(&mut self, data: &[u8], emit: &mut dyn FnMut(RawBatch) -> bool) -> bool {
        let mut rest = data;
        while !rest.is_empty() {
            let Some(i) = memchr::memchr(b'\n', rest) else {
                self.hold(rest);
                self.offset += rest.len() as u64;
                break;
            };
            let piece = &rest[..i];
            let end = self.offset + i as u64 + 1;
            if self.partial.is_empty() && !self.skipping {
                // The usual case: the whole line is in this block; no copy before the batch.
                let cut = piece.len() > self.max_line_bytes;
                let line = &piece[..piece.len().min(self.max_line_bytes)];
                self.push(line, self.offset, end, cut);
            } else {
                self.hold(piece);
                let line = std::mem::take(&mut self.partial);
                let (start, cut) = (self.partial_start, self.cut);
                self.push(&line, start, end, cut);
                self.partial = line;
                self.partial.clear();
            }
            self.offset = end;
            self.partial_start = end;
            self.skipping = false;
            self.cut = false;
            rest = &rest[i + 1..];
            if self.batch.len() >= self.batch_events {
                let mut next = new_batch(&self.stream, self.batch_events);
                // The next batch will hold about as many bytes as this one: reserved once
                // instead of grown by doubling.
                next.data
                    .reserve(self.batch.data.len() + self.batch.data.len() / 8);
                let full = std::mem::replace(&mut self.batch, next);
                if !emit(full) {
                    return false;
                }
            }
        }
        true
    }

    /// End of the stream: a last line without a newline is a record too; what the assembler
    /// holds is complete. Returns the last batch, if it has records.
    pub fn finish(mut self) -> Option<RawBatch> {
        if !self.partial.is_empty() || self.skipping {
            let line = std::mem::take(&mut self.partial);
            let (start, cut) = (self.partial_start, self.cut);
            self.push(&line, start, self.offset, cut);
        }
        self.assembler.flush(&mut self.batch);
        (!self.batch.is_empty()).then_some(self.batch)
    }

    /// Stream offset after the last byte fed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn hold(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        let room = self.max_line_bytes.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.cut = true;
            self.skipping = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    #[inline]
    fn push(&mut self, line: &[u8], start: u64, end: u64, cut: bool) {
        if self.passthrough {
            self.batch.push(line, start, end, cut);
        } else {
            self.assembler.push(line, start, end, cut, &mut self.batch);
        }
    }
}

fn new_batch(stream: &Arc<StreamContext>, batch_events: usize) -> RawBatch {
    let mut b = RawBatch::new(stream.clone(), BatchAck::untracked());
    b.records.reserve(batch_events);
    b
}

/// Reads `range` of a plain file into batches; `progress` hears the bytes read. Returns false
/// when `emit` asked to stop before the end.
pub fn read_range(
    file: &File,
    range: Range<u64>,
    mut batcher: LineBatcher,
    progress: &dyn Fn(u64),
    emit: &mut dyn FnMut(RawBatch) -> bool,
) -> std::io::Result<bool> {
    let mut buf = vec![0u8; READ_BLOCK];
    let mut at = range.start;
    while at < range.end {
        let want = buf.len().min((range.end - at) as usize);
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            // The file shrank under us; what was read is all there is.
            break;
        }
        at += n as u64;
        progress(n as u64);
        if !batcher.feed(&buf[..n], emit) {
            return Ok(false);
        }
    }
    match batcher.finish() {
        Some(last) => Ok(emit(last)),
        None => Ok(true),
    }
}

/// Reads a whole stream (a decompressing reader) into batches. Returns false when `emit`
/// asked to stop before the end.
pub fn read_stream(
    reader: &mut dyn Read,
    mut batcher: LineBatcher,
    emit: &mut dyn FnMut(RawBatch) -> bool,
) -> std::io::Result<bool> {
    let mut buf = vec![0u8; READ_BLOCK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if !batcher.feed(&buf[..n], emit) {
            return Ok(false);
        }
    }
    match batcher.finish() {
        Some(last) => Ok(emit(last)),
        None => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use crate::parse::test_support::Indented;

    fn stream() -> Arc<StreamContext> {
        Arc::new(StreamContext {
            input_index: 0,
            stream_key: 1,
            file_path: None,
            fields: Vec::new(),
        })
    }

    fn records(batches: &[RawBatch]) -> Vec<(String, u64, u64, bool)> {
        batches
            .iter()
            .flat_map(|b| {
                b.records.iter().map(|r| {
                    (
                        String::from_utf8_lossy(&b.data[r.range.clone()]).into_owned(),
                        r.offset,
                        r.end,
                        r.truncated,
                    )
                })
            })
            .collect()
    }

    fn temp_file(text: &str) -> (tempfile::NamedTempFile, File) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f.flush().unwrap();
        let file = File::open(f.path()).unwrap();
        (f, file)
    }

    /// Reads the whole file as pieces of `chunk` bytes, each with its own batcher.
    fn read_in_pieces(text: &str, chunk: u64, rules: &AssemblyRules, max: usize) -> Vec<RawBatch> {
        let (_keep, file) = temp_file(text);
        let len = text.len() as u64;
        let mut out = Vec::new();
        for r in plan_chunks(&file, len, chunk, rules).unwrap() {
            let b = LineBatcher::new(stream(), rules.clone(), r.start, 3, max);
            read_range(&file, r, b, &|_| {}, &mut |batch| {
                out.push(batch);
                true
            })
            .unwrap();
        }
        out
    }

    #[test]
    fn pieces_give_the_records_of_a_whole_read() {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!("record {i}\n"));
            if i % 7 == 0 {
                text.push_str("\tcontinued a\n\tcontinued b\n");
            }
        }
        text.push_str("last without newline");
        let rules = AssemblyRules::new(Some(Arc::new(Indented)), None, 1 << 20);
        let whole = records(&read_in_pieces(&text, 0, &rules, 1 << 20));
        assert_eq!(whole.len(), 201);
        for chunk in [1, 5, 17, 64, 333, 1000] {
            let pieces = read_in_pieces(&text, chunk, &rules, 1 << 20);
            assert_eq!(records(&pieces), whole, "chunk {chunk}");
        }
        assert_eq!(whole[0].0, "record 0\n\tcontinued a\n\tcontinued b");
        assert_eq!(whole[200].0, "last without newline");
        assert_eq!(whole[200].2, text.len() as u64);
    }

    #[test]
    fn cuts_land_after_newlines_and_skip_continuations() {
        let text = "aaaa\n bbb\n ccc\ndddd\neeee\n";
        let (_keep, file) = temp_file(text);
        let rules = AssemblyRules::new(Some(Arc::new(Indented)), None, 100);
        let chunks = plan_chunks(&file, text.len() as u64, 2, &rules).unwrap();
        assert_eq!(chunks, vec![0..15, 15..20, 20..25]);
        let plain = AssemblyRules::new(None, None, 100);
        let chunks = plan_chunks(&file, text.len() as u64, 5, &plain).unwrap();
        assert_eq!(chunks, vec![0..5, 5..10, 10..15, 15..20, 20..25]);
        let chunks = plan_chunks(&file, text.len() as u64, 6, &plain).unwrap();
        assert_eq!(chunks, vec![0..10, 10..20, 20..25]);
    }

    #[test]
    fn long_lines_are_cut_like_the_file_input_cuts_them() {
        let text = format!("{}\nshort\n{}", "x".repeat(50), "y".repeat(30));
        let rules = AssemblyRules::new(None, None, 10);
        for chunk in [0, 7] {
            let r = records(&read_in_pieces(&text, chunk, &rules, 10));
            assert_eq!(
                r,
                vec![
                    ("x".repeat(10), 0, 51, true),
                    ("short".into(), 51, 57, false),
                    ("y".repeat(10), 57, 87, true),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn blocks_may_end_anywhere_in_a_line() {
        let text = "one\ntwo\nthree\n";
        let rules = AssemblyRules::new(None, None, 100);
        let mut b = LineBatcher::new(stream(), rules, 0, 100, 100);
        let mut out = Vec::new();
        for piece in ["o", "ne\ntw", "o", "\nthr", "ee\n"] {
            assert!(b.feed(piece.as_bytes(), &mut |x| {
                out.push(x);
                true
            }));
        }
        out.extend(b.finish());
        assert_eq!(
            records(&out),
            vec![
                ("one".into(), 0, 4, false),
                ("two".into(), 4, 8, false),
                ("three".into(), 8, text.len() as u64, false)
            ]
        );
    }
}
