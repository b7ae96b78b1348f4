//! The worker stage: one pass per batch through decode -> parse -> enrich -> anonymize -> tag ->
//! encode, on plain threads (CPU work stays off the async runtime). No channel hop per event:
//! a batch enters as raw bytes and leaves as encoded output items.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::anonymize::AnonymizeStage;
use crate::enrich::EnrichStage;
use crate::event::{
    Event, RecordOrigin, Text, Timestamp, Value, ENVELOPE_FAILURE_TAG, TIMESTAMP_FALLBACK_TAG,
};
use crate::output::Encoder;
use crate::parse::decode::{decode, Decoded};
use crate::parse::Parser;
use crate::pipeline::batch::{BatchStats, EncodedBatch, RawBatch, RecordMeta, StreamContext};
use crate::tag::{TagStage, Verdict};
use crate::telemetry::{self, COUNTERS};

/// Everything that happens to the records of one input, built once at start.
#[derive(Debug)]
pub struct Chain {
    pub parser: Arc<dyn Parser>,
    /// `event.dataset` from the input's configuration, overriding the parser's.
    pub dataset: Option<Arc<str>>,
    pub host_name: Arc<str>,
    pub enrich: Arc<EnrichStage>,
    pub anonymize: Arc<AnonymizeStage>,
    pub tag: Arc<TagStage>,
    pub encoder: Arc<dyn Encoder>,
}

impl Chain {
    /// Runs one decoded event through the stages after decode.
    pub fn process_event(
        &self,
        event: &mut Event,
        stream: &StreamContext,
        meta: Option<&RecordMeta>,
    ) -> Verdict {
        let file_path = stream.file_path.as_ref();
        // Context fields first: they survive a parse failure.
        let dataset = match &self.dataset {
            Some(d) => Value::Str(Text::Shared(thread_copy(d))),
            None => Value::Str(Text::Static(self.parser.dataset())),
        };
        event.push("event.dataset", dataset);
        event.push(
            "host.name",
            Value::Str(Text::Shared(thread_copy(&self.host_name))),
        );
        if let Some(path) = file_path {
            event.push("log.file.path", Value::Str(Text::Shared(thread_copy(path))));
            event.push("log.offset", Value::Int(event.origin.offset as i64));
        }
        for (name, value) in &stream.fields {
            event.push(*name, Value::Str(Text::Shared(thread_copy(value))));
        }
        if let Some(meta) = meta {
            if let Some(stream) = meta.stream {
                event.push("stream", Value::Str(Text::Static(stream.as_str())));
            }
            if meta.envelope_error.is_some() {
                event.add_tag(ENVELOPE_FAILURE_TAG);
            }
        }
        if let Err(e) = self.parser.parse(event) {
            event.mark_parse_failure(e.0);
        }
        if event.timestamp.is_none() {
            // The runtime's receive time is a real event time, unlike the ingest time.
            event.timestamp = meta.and_then(|m| m.time);
        }
        if event.timestamp.is_none() {
            event.timestamp = Some(Timestamp::now());
            event.add_tag(TIMESTAMP_FALLBACK_TAG);
        }
        self.enrich.apply(event);
        self.anonymize.apply(event);
        self.tag.apply(event)
    }

    /// Decodes, processes and encodes a whole batch.
    pub fn process(&self, batch: RawBatch) -> EncodedBatch {
        self.process_with(batch, &mut NoHook)
    }

    /// [`Chain::process`] with a look at each event: `hook.keep` may leave an event out after
    /// the stages (the hook counts those), `hook.encoded` sees it with its encoded item.
    pub fn process_with(&self, batch: RawBatch, hook: &mut dyn EventHook) -> EncodedBatch {
        let RawBatch {
            stream,
            data,
            records,
            ack,
        } = batch;
        let mut stats = BatchStats {
            records: records.len() as u64,
            ..BatchStats::default()
        };
        let ratio = ENCODED_PER_INPUT_X16.load(Ordering::Relaxed);
        let mut buf = Vec::with_capacity(data.len() * ratio / 16 + records.len() * 64);
        let mut items = Vec::with_capacity(records.len());
        for rec in &records {
            let origin = RecordOrigin {
                stream_key: stream.stream_key,
                offset: rec.offset,
            };
            let mut event = match decode(&data[rec.range.clone()], origin, rec.truncated) {
                Decoded::Event(e) => e,
                Decoded::Empty => {
                    stats.empty_skipped += 1;
                    continue;
                }
            };
            if event.has_tag(crate::event::INVALID_UTF8_TAG) {
                stats.invalid_utf8 += 1;
            }
            if rec.truncated {
                stats.truncated += 1;
            }
            if self.process_event(&mut event, &stream, rec.meta.as_deref()) == Verdict::Drop {
                stats.dropped += 1;
                continue;
            }
            if !hook.keep(&event) {
                // The hook's own count says why; it is not a tag rule's drop.
                continue;
            }
            if event.has_tag(crate::event::PARSE_FAILURE_TAG) {
                stats.parse_failures += 1;
            }
            let start = buf.len();
            self.encoder.encode(&event, &mut buf);
            hook.encoded(&event, &buf[start..]);
            items.push(start..buf.len());
            stats.events += 1;
        }
        if data.len() >= 4096 {
            let r = buf.len() * 16 / data.len();
            ENCODED_PER_INPUT_X16.store((r + r / 8).clamp(16, 1024), Ordering::Relaxed);
        }
        telemetry::add(&COUNTERS.events_processed, stats.events);
        telemetry::add(&COUNTERS.empty_lines_skipped, stats.empty_skipped);
        telemetry::add(&COUNTERS.parse_failures, stats.parse_failures);
        telemetry::add(&COUNTERS.invalid_utf8, stats.invalid_utf8);
        telemetry::add(&COUNTERS.truncated, stats.truncated);
        telemetry::add(&COUNTERS.events_dropped_by_rule, stats.dropped);
        EncodedBatch {
            buf,
            items,
            ack,
            stats,
        }
    }
}

/// Encoded bytes per 16 input bytes in the last large batch, plus an eighth: the capacity
/// guess for the next batch's output buffer. Documents are several times their line (names,
/// GeoIP fields, the line itself in `message`); a guess too small costs copies as the buffer
/// doubles, one too large some memory for the batch's lifetime. Shared by all workers: it is a
/// hint, any recent value will do.
static ENCODED_PER_INPUT_X16: AtomicUsize = AtomicUsize::new(64);

/// This thread's own copy of a text every event of a stream carries (host name, file path).
///
/// Every event holds a reference to such a text and drops it after encoding; with one `Arc`
/// shared by all workers, each of those two reference-count updates would move the count's
/// cache line between cores, on every event. A copy per thread keeps the updates local. The
/// original is kept alongside, so its address cannot be reused for another text while the
/// copy is cached.
fn thread_copy(shared: &Arc<str>) -> Arc<str> {
    /// Streams a thread keeps copies for; past this (many files in turn) it starts over.
    const MAX: usize = 64;
    type Copies = Vec<(Arc<str>, Arc<str>)>;
    thread_local! {
        static COPIES: std::cell::RefCell<Copies> = const { std::cell::RefCell::new(Vec::new()) };
    }
    COPIES.with(|copies| {
        let mut copies = copies.borrow_mut();
        if let Some((_, copy)) = copies.iter().find(|(orig, _)| Arc::ptr_eq(orig, shared)) {
            return copy.clone();
        }
        if copies.len() >= MAX {
            copies.clear();
        }
        let copy: Arc<str> = Arc::from(&**shared);
        copies.push((shared.clone(), copy.clone()));
        copy
    })
}

/// A caller's look at each event of [`Chain::process_with`], on the worker thread.
pub trait EventHook {
    /// After the stages, before encoding; `false` leaves the event out of the batch.
    fn keep(&mut self, _event: &Event) -> bool {
        true
    }

    /// The event was encoded as `item`.
    fn encoded(&mut self, _event: &Event, _item: &[u8]) {}
}

struct NoHook;

impl EventHook for NoHook {}

/// Body of a worker thread: until the input side closes or the output side goes away.
pub fn worker_loop(
    chains: Arc<Vec<Chain>>,
    input: flume::Receiver<RawBatch>,
    output: flume::Sender<EncodedBatch>,
) {
    while let Ok(batch) = input.recv() {
        let Some(chain) = chains.get(batch.stream.input_index) else {
            // A batch from an input without a chain is a wiring bug; drop it unacknowledged
            // (its checkpoint stays put) rather than take the process down.
            continue;
        };
        let encoded = chain.process(batch);
        if output.send(encoded).is_err() {
            break;
        }
    }
}

/// Name of this machine for `host.name`.
pub fn local_host_name() -> Cow<'static, str> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(s) = std::str::from_utf8(&buf[..end]) {
            if !s.is_empty() {
                return Cow::Owned(s.to_string());
            }
        }
    }
    Cow::Borrowed("localhost")
}
