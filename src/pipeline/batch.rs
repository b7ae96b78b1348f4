//! What travels through the bounded channels: raw batches from inputs to workers, encoded
//! batches from workers to the output. One batch always comes from one stream (one file, one
//! connection), so a single acknowledgement covers it.

use std::ops::Range;
use std::sync::Arc;

use super::ack::BatchAck;

/// Per-stream context shared by every record a stream produces.
#[derive(Debug)]
pub struct StreamContext {
    /// Index of the input in the pipeline file; selects the processing chain.
    pub input_index: usize,
    /// Stable identity of the stream, part of every document `_id`.
    pub stream_key: u64,
    /// `log.file.path`, for file inputs.
    pub file_path: Option<Arc<str>>,
    /// Fields every record of the stream carries (Kubernetes metadata from a container log's
    /// path), as (ECS name, value).
    pub fields: Vec<(&'static str, Arc<str>)>,
}

/// One record inside a [`RawBatch`].
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Bytes of the record in `RawBatch::data` (line terminator removed).
    pub range: Range<usize>,
    /// Offset of the record's first byte in its stream.
    pub offset: u64,
    /// Offset just after the record's last byte (its newline included): once the record is
    /// acknowledged, reading may resume here.
    pub end: u64,
    /// The input cut the record at `max_line_bytes`.
    pub truncated: bool,
    /// What a container envelope said about the record; `None` for plain lines.
    pub meta: Option<Box<RecordMeta>>,
}

/// Facts about a record from the container runtime's envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordMeta {
    /// When the runtime received the line: the event time when the payload has none.
    pub time: Option<crate::event::Timestamp>,
    pub stream: Option<crate::parse::envelope::IoStream>,
    /// The line was not in the expected envelope; it is kept whole and tagged.
    pub envelope_error: Option<&'static str>,
}

/// Records as an input read them, before decoding.
#[derive(Debug)]
pub struct RawBatch {
    pub stream: Arc<StreamContext>,
    pub data: Vec<u8>,
    pub records: Vec<RawRecord>,
    pub ack: BatchAck,
}

impl RawBatch {
    pub fn new(stream: Arc<StreamContext>, ack: BatchAck) -> RawBatch {
        RawBatch {
            stream,
            data: Vec::new(),
            records: Vec::new(),
            ack,
        }
    }

    pub fn push(&mut self, bytes: &[u8], offset: u64, end: u64, truncated: bool) {
        let start = self.data.len();
        self.data.extend_from_slice(bytes);
        self.records.push(RawRecord {
            range: start..self.data.len(),
            offset,
            end,
            truncated,
            meta: None,
        });
    }

    pub fn push_with_meta(
        &mut self,
        bytes: &[u8],
        offset: u64,
        end: u64,
        truncated: bool,
        meta: RecordMeta,
    ) {
        self.push(bytes, offset, end, truncated);
        if let Some(r) = self.records.last_mut() {
            r.meta = Some(Box::new(meta));
        }
    }

    /// Offset after the last record of the batch.
    pub fn end_offset(&self) -> Option<u64> {
        self.records.last().map(|r| r.end)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Events of one raw batch, encoded by the output's encoder on a worker thread.
#[derive(Debug)]
pub struct EncodedBatch {
    /// Concatenated encoded items.
    pub buf: Vec<u8>,
    /// Each item's bytes in `buf` (for Elasticsearch: action line + document line).
    pub items: Vec<Range<usize>>,
    pub ack: BatchAck,
    /// Counts from the processing stages, for the run summary and metrics.
    pub stats: BatchStats,
}

/// What happened to the records of one batch on the worker.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchStats {
    pub records: u64,
    pub events: u64,
    pub empty_skipped: u64,
    pub parse_failures: u64,
    pub invalid_utf8: u64,
    pub truncated: u64,
    pub dropped: u64,
}

impl BatchStats {
    pub fn add(&mut self, o: &BatchStats) {
        self.records += o.records;
        self.events += o.events;
        self.empty_skipped += o.empty_skipped;
        self.parse_failures += o.parse_failures;
        self.invalid_utf8 += o.invalid_utf8;
        self.truncated += o.truncated;
        self.dropped += o.dropped;
    }
}
