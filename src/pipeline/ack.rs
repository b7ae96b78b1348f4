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
}

#[derive(Debug)]
struct Shared {
    sink: Option<Arc<dyn AckSink>>,
    seq: u64,
    failed: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(sink) = &self.sink {
            sink.acknowledge(self.seq, !self.failed.load(Ordering::Acquire));
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
            shared: Arc::new(Shared {
                sink: Some(sink),
                seq,
                failed: AtomicBool::new(false),
            }),
            done: false,
        }
    }

    /// For records nobody waits for.
    pub fn untracked() -> BatchAck {
        BatchAck {
            shared: Arc::new(Shared {
                sink: None,
                seq: 0,
                failed: AtomicBool::new(false),
            }),
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
