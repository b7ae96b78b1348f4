//! The reading and processing side of a reprocess run, on the rayon pool, and the state it
//! shares with the output's acknowledgements.
//!
//! A file is finished when all its units are read to the end, every batch handed off was
//! processed, and every batch sent was acknowledged as delivered; then (and only then) the
//! coordinating thread hears of it and journals it. Each batch sent holds the events of one
//! summary row (dataset, index), so the output's per-batch counts (indexed, `409`,
//! dead-lettered) say which row they belong to.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::plan::{PlannedFile, Source, Unit};
use super::split::{self, LineBatcher};
use super::summary::{Tallies, Tally};
use super::TimeWindow;
use crate::config::PipelineConfig;
use crate::event::{Event, PARSE_FAILURE_TAG};
use crate::output::elasticsearch::encode::IndexTemplate;
use crate::pipeline::ack::{AckSink, BatchAck, ItemOutcomes};
use crate::pipeline::batch::{BatchStats, EncodedBatch, RawBatch, StreamContext};
use crate::pipeline::worker::EventHook;

/// What the coordinating thread is woken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    /// A file is finished (index into the plan).
    File(usize),
    /// Every unit is read and processed.
    Readers,
    /// The output ended.
    Output,
}

#[derive(Default)]
pub(super) struct FileState {
    /// Reading units and handed-off batches not finished yet.
    pub(super) work_left: AtomicUsize,
    /// Batches sent to the output, and those acknowledged as delivered.
    pub(super) sent: AtomicU64,
    pub(super) acked: AtomicU64,
    /// Something of the file will not reach the destination (read error, undelivered batch).
    pub(super) failed: AtomicBool,
    /// Reading stopped before the end (interrupt).
    pub(super) incomplete: AtomicBool,
    pub(super) finished: AtomicBool,
    pub(super) records: AtomicU64,
    pub(super) bytes: AtomicU64,
    pub(super) error: Mutex<Option<String>>,
}

/// A batch at the output: the file and summary row it counts for.
pub(super) struct InFlight {
    file: usize,
    row: usize,
    items: u64,
}

/// Index names for the summary: the Elasticsearch output's templates (also when the documents
/// go to NDJSON or nowhere, to show where they would go).
pub(super) struct IndexNamer {
    index: IndexTemplate,
    routes: Vec<(Arc<str>, IndexTemplate)>,
}

impl IndexNamer {
    pub(super) fn from_config(config: &PipelineConfig) -> Option<IndexNamer> {
        let es = config.output.elasticsearch.as_ref()?;
        let index = IndexTemplate::compile(&es.index).ok()?;
        let routes = config
            .tag
            .routes()
            .into_iter()
            .filter_map(|r| IndexTemplate::compile(&r).ok().map(|t| (r, t)))
            .collect();
        Some(IndexNamer { index, routes })
    }

    fn write(&self, event: &Event, out: &mut Vec<u8>) {
        let template = event
            .route
            .as_ref()
            .and_then(|r| self.routes.iter().find(|(n, _)| **n == **r))
            .map(|(_, t)| t)
            .unwrap_or(&self.index);
        template.write_name(event, out);
    }
}

pub(super) struct Run {
    pub(super) files: Vec<PlannedFile>,
    pub(super) state: Vec<FileState>,
    pub(super) sources: Vec<Source>,
    pub(super) tallies: Mutex<Tallies>,
    pub(super) in_flight: Mutex<HashMap<u64, InFlight>>,
    pub(super) next_seq: AtomicU64,
    /// Stop reading (first signal, or the output went away).
    pub(super) stop: AtomicBool,
    pub(super) bytes_read: AtomicU64,
    pub(super) events: AtomicU64,
    /// Batches handed to the pool and not processed yet.
    pub(super) handed_off: AtomicUsize,
    pub(super) max_handed_off: usize,
    /// NDJSON outputs count nothing per item: a delivered batch is all written.
    pub(super) count_delivered_as_written: bool,
    pub(super) window: TimeWindow,
    pub(super) namer: Option<IndexNamer>,
    pub(super) batch_events: usize,
    pub(super) wake: flume::Sender<Wake>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl Run {
    pub(super) fn fail(&self, file: usize, error: String) {
        if let Some(s) = self.state.get(file) {
            s.failed.store(true, Ordering::SeqCst);
            let mut e = s.error.lock().unwrap_or_else(|p| p.into_inner());
            e.get_or_insert(error);
        }
    }

    /// Reports the file once it is read to its end and every batch of it was delivered.
    pub(super) fn check_finished(&self, file: usize) {
        let Some(s) = self.state.get(file) else {
            return;
        };
        let complete = s.work_left.load(Ordering::SeqCst) == 0
            && !s.failed.load(Ordering::SeqCst)
            && !s.incomplete.load(Ordering::SeqCst)
            && s.acked.load(Ordering::SeqCst) == s.sent.load(Ordering::SeqCst);
        if complete && !s.finished.swap(true, Ordering::SeqCst) {
            let _ = self.wake.send(Wake::File(file));
        }
    }
}

impl AckSink for Run {
    fn acknowledge(&self, seq: u64, delivered: bool) {
        self.acknowledge_with(seq, delivered, ItemOutcomes::default());
    }

    fn acknowledge_with(&self, seq: u64, delivered: bool, outcomes: ItemOutcomes) {
        let entry = self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seq);
        let Some(b) = entry else {
            return;
        };
        {
            let mut t = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(row) = t.row_mut(b.row) {
                let settled = if delivered && self.count_delivered_as_written {
                    row.indexed += b.items;
                    b.items
                } else {
                    row.indexed += outcomes.created;
                    row.already_present += outcomes.already_present;
                    row.dead_lettered += outcomes.dead_lettered;
                    outcomes.created + outcomes.already_present + outcomes.dead_lettered
                };
                if !delivered {
                    row.undelivered += b.items.saturating_sub(settled);
                }
            }
        }
        if let Some(s) = self.state.get(b.file) {
            if delivered {
                s.acked.fetch_add(1, Ordering::SeqCst);
            } else {
                s.failed.store(true, Ordering::SeqCst);
            }
        }
        self.check_finished(b.file);
    }
}

/// Per batch: the window filter and the (dataset, index) row of each encoded event.
struct Hook<'a> {
    window: TimeWindow,
    namer: Option<&'a IndexNamer>,
    /// (dataset, index) -> local key, with its tally.
    keys: Vec<(String, Vec<u8>, Tally)>,
    /// Local key of each encoded item, in order.
    item_keys: Vec<u32>,
    name_buf: Vec<u8>,
}

impl Hook<'_> {
    fn key(&mut self, event: &Event) -> usize {
        let dataset = event.get_str("event.dataset").unwrap_or("-");
        self.name_buf.clear();
        match self.namer {
            Some(n) => n.write(event, &mut self.name_buf),
            None => self.name_buf.push(b'-'),
        }
        if let Some(i) = self
            .keys
            .iter()
            .position(|(d, n, _)| d == dataset && *n == self.name_buf)
        {
            return i;
        }
        self.keys
            .push((dataset.to_string(), self.name_buf.clone(), Tally::default()));
        self.keys.len() - 1
    }
}

impl EventHook for Hook<'_> {
    fn keep(&mut self, event: &Event) -> bool {
        if self.window.contains(event.timestamp) {
            return true;
        }
        let k = self.key(event);
        let t = &mut self.keys[k].2;
        t.read += 1;
        t.out_of_range += 1;
        if event.has_tag(PARSE_FAILURE_TAG) {
            t.parse_failures += 1;
        }
        false
    }

    fn encoded(&mut self, event: &Event, _item: &[u8]) {
        let k = self.key(event);
        let t = &mut self.keys[k].2;
        t.read += 1;
        if event.has_tag(PARSE_FAILURE_TAG) {
            t.parse_failures += 1;
        }
        self.item_keys.push(k as u32);
    }
}

/// Runs one raw batch of `file` through its chain and sends the result, split so that each
/// batch sent holds one summary row (the output's per-batch counts then say which row).
/// Returns false when the output is gone.
fn process_batch(
    run: &Arc<Run>,
    file: usize,
    batch: RawBatch,
    out: &flume::Sender<EncodedBatch>,
) -> bool {
    let Some(planned) = run.files.get(file) else {
        return false;
    };
    let Some(source) = run.sources.get(planned.source) else {
        return false;
    };
    let mut hook = Hook {
        window: run.window,
        namer: run.namer.as_ref(),
        keys: Vec::with_capacity(2),
        item_keys: Vec::with_capacity(batch.len()),
        name_buf: Vec::with_capacity(64),
    };
    let encoded = source.chain.process_with(batch, &mut hook);
    let EncodedBatch {
        buf,
        items,
        ack,
        stats,
    } = encoded;
    // The raw batch's acknowledgement was never tracked: each part sent below gets its own.
    ack.delivered();
    let rows: Vec<usize> = {
        let mut t = run.tallies.lock().unwrap_or_else(|p| p.into_inner());
        t.stats.add(&stats);
        hook.keys
            .iter()
            .map(|(dataset, name, tally)| {
                let id = t.intern(dataset, &String::from_utf8_lossy(name));
                if let Some(row) = t.row_mut(id) {
                    row.add(tally);
                }
                id
            })
            .collect()
    };
    let read: u64 = hook.keys.iter().map(|k| k.2.read).sum();
    run.events.fetch_add(read, Ordering::Relaxed);
    if items.is_empty() {
        return true;
    }
    let parts: Vec<(usize, Vec<u8>, Vec<std::ops::Range<usize>>)> = if hook.keys.len() <= 1 {
        vec![(0, buf, items)]
    } else {
        // Rare (a batch across midnight, or two datasets in one file): copy each row's items.
        let mut parts: Vec<(usize, Vec<u8>, Vec<std::ops::Range<usize>>)> = (0..hook.keys.len())
            .map(|k| (k, Vec::new(), Vec::new()))
            .collect();
        for (range, &k) in items.iter().zip(hook.item_keys.iter()) {
            if let Some((_, b, r)) = parts.get_mut(k as usize) {
                let start = b.len();
                b.extend_from_slice(buf.get(range.clone()).unwrap_or_default());
                r.push(start..b.len());
            }
        }
        parts.retain(|p| !p.2.is_empty());
        parts
    };
    let Some(state) = run.state.get(file) else {
        return false;
    };
    for (k, buf, items) in parts {
        let seq = run.next_seq.fetch_add(1, Ordering::Relaxed);
        run.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                seq,
                InFlight {
                    file,
                    row: rows.get(k).copied().unwrap_or(0),
                    items: items.len() as u64,
                },
            );
        state.sent.fetch_add(1, Ordering::SeqCst);
        let batch = EncodedBatch {
            buf,
            items,
            ack: BatchAck::new(run.clone() as Arc<dyn AckSink>, seq),
            stats: BatchStats::default(),
        };
        // A failed send drops the batch, and with it its acknowledgement: counted undelivered.
        if out.send(batch).is_err() {
            run.stop.store(true, Ordering::SeqCst);
            return false;
        }
    }
    true
}

/// Counts compressed bytes as the decoder takes them, for progress.
struct CountingReader<'a> {
    inner: File,
    run: &'a Run,
    file: usize,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.run.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(s) = self.run.state.get(self.file) {
            s.bytes.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// Reads one unit on a pool thread. The batches of a `.gz` are handed to the pool (bounded:
/// past the bound this thread parses them itself), so other threads parse while this one
/// decompresses; pieces of plain files are parsed where they are read, the pieces themselves
/// being spread over the pool.
pub(super) fn read_unit<'s>(
    run: &Arc<Run>,
    unit: Unit,
    out: &flume::Sender<EncodedBatch>,
    scope: &rayon::Scope<'s>,
) {
    let file = unit.file;
    let (Some(planned), Some(state)) = (run.files.get(file), run.state.get(file)) else {
        return;
    };
    let Some(source) = run.sources.get(planned.source) else {
        return;
    };
    let stream = Arc::new(StreamContext {
        input_index: planned.source,
        stream_key: planned.stream_key,
        file_path: Some(planned.display.clone()),
        fields: source
            .path_fields
            .map(|f| f(&planned.path))
            .unwrap_or_default(),
    });
    let start = unit.range.as_ref().map(|r| r.start).unwrap_or(0);
    let batcher = LineBatcher::new(
        stream,
        source.rules.clone(),
        start,
        run.batch_events,
        source.max_line_bytes,
    );
    let hand_off = unit.range.is_none();
    let mut emit = |batch: RawBatch| -> bool {
        if run.stop.load(Ordering::Relaxed) {
            return false;
        }
        state
            .records
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if hand_off && run.handed_off.load(Ordering::SeqCst) < run.max_handed_off {
            run.handed_off.fetch_add(1, Ordering::SeqCst);
            state.work_left.fetch_add(1, Ordering::SeqCst);
            let (run, out) = (Arc::clone(run), out.clone());
            scope.spawn(move |_| {
                if !process_batch(&run, file, batch, &out) {
                    run.stop.store(true, Ordering::SeqCst);
                }
                run.handed_off.fetch_sub(1, Ordering::SeqCst);
                if let Some(s) = run.state.get(file) {
                    s.work_left.fetch_sub(1, Ordering::SeqCst);
                }
                run.check_finished(file);
            });
            true
        } else {
            process_batch(run, file, batch, out)
        }
    };
    let result = match File::open(&planned.path) {
        Err(e) => Err(e),
        Ok(f) => match &unit.range {
            Some(range) => {
                let progress = |n: u64| {
                    run.bytes_read.fetch_add(n, Ordering::Relaxed);
                    state.bytes.fetch_add(n, Ordering::Relaxed);
                };
                split::read_range(&f, range.clone(), batcher, &progress, &mut emit)
            }
            None if planned.gz => {
                let counting = CountingReader {
                    inner: f,
                    run,
                    file,
                };
                let mut decoder = flate2::read::MultiGzDecoder::new(
                    std::io::BufReader::with_capacity(256 * 1024, counting),
                );
                split::read_stream(&mut decoder, batcher, &mut emit)
            }
            None => {
                let len = planned.size;
                let progress = |n: u64| {
                    run.bytes_read.fetch_add(n, Ordering::Relaxed);
                    state.bytes.fetch_add(n, Ordering::Relaxed);
                };
                split::read_range(&f, 0..len, batcher, &progress, &mut emit)
            }
        },
    };
    match result {
        Ok(true) => {}
        Ok(false) => state.incomplete.store(true, Ordering::SeqCst),
        Err(e) => run.fail(file, format!("read error: {e}")),
    }
    state.work_left.fetch_sub(1, Ordering::SeqCst);
    run.check_finished(file);
}
