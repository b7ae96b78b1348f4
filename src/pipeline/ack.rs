//! Acknowledgements: how the output tells an input that records are safely delivered.
//!
//! Each batch carries a [`BatchAck`]. The output may split a batch over several bulk requests;
//! each part is a clone. A part reports success by [`BatchAck::delivered`]; a part dropped any
//! other way (shutdown, a bug, a panic) marks the whole batch undelivered. When the last part is
//! gone the batch's [`AckSink`] hears the verdict once. Defaulting to "not delivered" is what
//! keeps the promise of DESIGN.md: a checkpoint never moves past a record that was not accepted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Receives the verdict on each batch of a stream.
pub trait AckSink: Send + Sync + std::fmt::Debug {
    fn acknowledge(&self, seq: u64, delivered: bool);

    /// The verdict with what the destination said about the batch's items, for sinks that
    /// report per-item results (`logpipe reprocess`'s summary). Outputs that count nothing
    /// leave `outcomes` at zero.
    fn acknowledge_with(&self, seq: u64, delivered: bool, outcomes: ItemOutcomes) {
        let _ = outcomes;
        self.acknowledge(seq, delivered);
    }
}

/// How the items of one batch ended at the destination, as counted by the output.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ItemOutcomes {
    /// Newly stored (`201` from Elasticsearch).
    pub created: u64,
    /// Already there from an earlier attempt or run (`409` on `create`).
    pub already_present: u64,
    /// Refused for good and written to the dead-letter queue.
    pub dead_lettered: u64,
}

/// What [`BatchAck::count`] adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    Created,
    AlreadyPresent,
    DeadLettered,
}

#[derive(Debug)]
struct Shared {
    sink: Option<Arc<dyn AckSink>>,
    seq: u64,
    failed: AtomicBool,
    // Atomics because the parts of one batch settle on different delivery tasks.
    created: AtomicU64,
    already_present: AtomicU64,
    dead_lettered: AtomicU64,
}

impl Shared {
    fn new(sink: Option<Arc<dyn AckSink>>, seq: u64) -> Shared {
        Shared {
            sink,
            seq,
            failed: AtomicBool::new(false),
            created: AtomicU64::new(0),
            already_present: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(sink) = &self.sink {
            let outcomes = ItemOutcomes {
                created: self.created.load(Ordering::Acquire),
                already_present: self.already_present.load(Ordering::Acquire),
                dead_lettered: self.dead_lettered.load(Ordering::Acquire),
            };
            sink.acknowledge_with(self.seq, !self.failed.load(Ordering::Acquire), outcomes);
        }
    }
}

/// One part of a batch's acknowledgement.
#[derive(Debug)]
pub struct BatchAck {
    shared: Arc<Shared>,
    done: bool,
}

impl BatchAck {
    pub fn new(sink: Arc<dyn AckSink>, seq: u64) -> BatchAck {
        BatchAck {
            shared: Arc::new(Shared::new(Some(sink), seq)),
            done: false,
        }
    }

    /// For records nobody waits for.
    pub fn untracked() -> BatchAck {
        BatchAck {
            shared: Arc::new(Shared::new(None, 0)),
            done: false,
        }
    }

    /// A further part of the same batch; the batch is delivered when every part is.
    pub fn part(&self) -> BatchAck {
        BatchAck {
            shared: Arc::clone(&self.shared),
            done: false,
        }
    }

    /// This part's records were accepted by the destination.
    pub fn delivered(mut self) {
        self.done = true;
    }

    /// Counts `n` items of the batch as having ended so (any part may count for the batch).
    pub fn count(&self, outcome: ItemOutcome, n: u64) {
        let counter = match outcome {
            ItemOutcome::Created => &self.shared.created,
            ItemOutcome::AlreadyPresent => &self.shared.already_present,
            ItemOutcome::DeadLettered => &self.shared.dead_lettered,
        };
        counter.fetch_add(n, Ordering::AcqRel);
    }
}

impl Drop for BatchAck {
    fn drop(&mut self) {
        if !self.done {
            self.shared.failed.store(true, Ordering::Release);
        }
    }
}

/// Tracks the batches of one ordered stream (a file) and the offset up to which every record
/// is acknowledged. Batches may be acknowledged out of order (several workers, several bulk
/// requests in flight); the offset only moves over a contiguous prefix of delivered batches.
#[derive(Debug)]
pub struct StreamAcks {
    inner: Mutex<StreamAcksInner>,
    acked_offset: AtomicU64,
    /// Set when a batch came back undelivered: the offset is frozen until restart.
    stalled: AtomicBool,
    notify: Option<tokio::sync::mpsc::UnboundedSender<()>>,
}

#[derive(Debug, Default)]
struct StreamAcksInner {
    next_seq: u64,
    /// seq -> (end offset, delivered?)
    pending: BTreeMap<u64, (u64, bool)>,
}

impl StreamAcks {
    pub fn new(
        start_offset: u64,
        notify: Option<tokio::sync::mpsc::UnboundedSender<()>>,
    ) -> Arc<StreamAcks> {
        Arc::new(StreamAcks {
            inner: Mutex::new(StreamAcksInner::default()),
            acked_offset: AtomicU64::new(start_offset),
            stalled: AtomicBool::new(false),
            notify,
        })
    }

    /// Registers a batch whose records end at `end_offset`; returns its acknowledgement.
    pub fn register(self: &Arc<Self>, end_offset: u64) -> BatchAck {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.pending.insert(seq, (end_offset, false));
        drop(inner);
        BatchAck::new(Arc::clone(self) as Arc<dyn AckSink>, seq)
    }

    /// Offset up to which every record is delivered.
    pub fn acked_offset(&self) -> u64 {
        self.acked_offset.load(Ordering::Acquire)
    }

    /// Batches sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pending
            .len()
    }

    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }
}

impl AckSink for StreamAcks {
    fn acknowledge(&self, seq: u64, delivered: bool) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !delivered {
            // Keep the batch pending forever: nothing after it may be checkpointed.
            self.stalled.store(true, Ordering::Release);
            return;
        }
        if let Some(entry) = inner.pending.get_mut(&seq) {
            entry.1 = true;
        }
        let mut advanced = None;
        while let Some((_, &(end, done))) = inner.pending.first_key_value() {
            if !done {
                break;
            }
            advanced = Some(end);
            inner.pending.pop_first();
        }
        drop(inner);
        if let Some(end) = advanced {
            self.acked_offset.fetch_max(end, Ordering::AcqRel);
            if let Some(n) = &self.notify {
                let _ = n.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_advances_over_contiguous_delivered_prefix() {
        let acks = StreamAcks::new(0, None);
        let a = acks.register(10);
        let b = acks.register(20);
        let c = acks.register(30);
        c.delivered();
        assert_eq!(acks.acked_offset(), 0);
        a.delivered();
        assert_eq!(acks.acked_offset(), 10);
        let b2 = b.part();
        b.delivered();
        assert_eq!(acks.acked_offset(), 10, "one part of b still open");
        b2.delivered();
        assert_eq!(acks.acked_offset(), 30);
        assert_eq!(acks.in_flight(), 0);
    }

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<(u64, bool, ItemOutcomes)>>);

    impl AckSink for Recorder {
        fn acknowledge(&self, seq: u64, delivered: bool) {
            self.acknowledge_with(seq, delivered, ItemOutcomes::default());
        }
        fn acknowledge_with(&self, seq: u64, delivered: bool, outcomes: ItemOutcomes) {
            self.0.lock().unwrap().push((seq, delivered, outcomes));
        }
    }

    #[test]
    fn item_outcomes_of_all_parts_reach_the_sink_once() {
        let sink = Arc::new(Recorder::default());
        let a = BatchAck::new(sink.clone(), 7);
        let b = a.part();
        a.count(ItemOutcome::Created, 3);
        b.count(ItemOutcome::AlreadyPresent, 2);
        b.count(ItemOutcome::DeadLettered, 1);
        a.delivered();
        assert!(sink.0.lock().unwrap().is_empty(), "one part still open");
        b.delivered();
        let got = sink.0.lock().unwrap().clone();
        let expected = ItemOutcomes {
            created: 3,
            already_present: 2,
            dead_lettered: 1,
        };
        assert_eq!(got, vec![(7, true, expected)]);
    }

    #[test]
    fn dropped_part_blocks_the_checkpoint() {
        let acks = StreamAcks::new(5, None);
        let a = acks.register(10);
        let part = a.part();
        a.delivered();
        drop(part);
        let b = acks.register(20);
        b.delivered();
        assert_eq!(acks.acked_offset(), 5);
        assert!(acks.is_stalled());
    }
}
