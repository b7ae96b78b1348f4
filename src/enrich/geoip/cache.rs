//! The lookup cache: address -> what the databases say about it, bounded, shared by the
//! worker threads.
//!
//! Log traffic repeats addresses (a client sends many requests), so most lookups are answered
//! here without touching the databases. The cache is split into shards, each behind its own
//! mutex, chosen by a hash of the address: threads contend only when they hit the same shard at
//! the same instant, and a lock is held for one map operation.
//!
//! Each shard keeps two generations: new entries go into `young`; when `young` is full, it
//! becomes `old` and the previous `old` is dropped. A hit in `old` moves the entry back into
//! `young`. That approximates least-recently-used eviction with O(1) work per operation and no
//! per-entry bookkeeping; a shard never holds more than twice its generation capacity.
//!
//! Keys are hashed with XXH3 under a random per-cache seed: the addresses come from the
//! outside, and a fixed hash would let a sender craft addresses that all collide.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, PoisonError};

/// Shards of a cache large enough to use them all; a power of two.
const MAX_SHARDS: usize = 16;
/// Fewest entries per shard generation worth a shard of their own.
const MIN_PER_SHARD: usize = 32;

pub(super) struct Cache<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    hasher: KeyHasher,
    /// `shards.len() - 1`.
    mask: usize,
}

struct Shard<V> {
    young: HashMap<u128, V, KeyHasher>,
    old: HashMap<u128, V, KeyHasher>,
    /// Entries per generation.
    capacity: usize,
}

impl<V: Clone> Cache<V> {
    /// A cache of at most `entries` entries, or `None` for 0 (caching off).
    pub(super) fn new(entries: usize) -> Option<Cache<V>> {
        if entries == 0 {
            return None;
        }
        // Each shard holds up to two generations.
        let shards = 1 << (entries / (2 * MIN_PER_SHARD)).clamp(1, MAX_SHARDS).ilog2();
        let capacity = (entries / (2 * shards)).max(1);
        let hasher = KeyHasher {
            seed: rand::random(),
        };
        let shards = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    young: HashMap::with_hasher(hasher.clone()),
                    old: HashMap::with_hasher(hasher.clone()),
                    capacity,
                })
            })
            .collect::<Box<[_]>>();
        let mask = shards.len() - 1;
        Some(Cache {
            shards,
            hasher,
            mask,
        })
    }

    fn shard(&self, key: u128) -> &Mutex<Shard<V>> {
        // Bits well away from the ones the maps use for buckets (low) and tags (top 7).
        let h = self.hasher.hash_one(key);
        &self.shards[(h >> 40) as usize & self.mask]
    }

    #[inline]
    pub(super) fn get(&self, key: u128) -> Option<V> {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = shard.young.get(&key) {
            return Some(v.clone());
        }
        let v = shard.old.remove(&key)?;
        shard.put(key, v.clone());
        Some(v)
    }

    pub(super) fn insert(&self, key: u128, value: V) {
        self.shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(key, value);
    }

    /// Entries held, for tests.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(PoisonError::into_inner);
                s.young.len() + s.old.len()
            })
            .sum()
    }
}

impl<V> Shard<V> {
    fn put(&mut self, key: u128, value: V) {
        if self.young.len() >= self.capacity && !self.young.contains_key(&key) {
            let fresh =
                HashMap::with_capacity_and_hasher(self.capacity, self.young.hasher().clone());
            self.old = std::mem::replace(&mut self.young, fresh);
        }
        self.young.insert(key, value);
    }
}

/// XXH3 of the key under a seed.
#[derive(Clone)]
struct KeyHasher {
    seed: u64,
}

impl BuildHasher for KeyHasher {
    type Hasher = SeededXxh3;

    fn build_hasher(&self) -> SeededXxh3 {
        SeededXxh3 {
            seed: self.seed,
            hash: 0,
        }
    }
}

struct SeededXxh3 {
    seed: u64,
    hash: u64,
}

impl Hasher for SeededXxh3 {
    fn write(&mut self, bytes: &[u8]) {
        self.hash = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.seed ^ self.hash);
    }

    fn write_u128(&mut self, v: u128) {
        self.write(&v.to_le_bytes());
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_entries_means_no_cache() {
        assert!(Cache::<u32>::new(0).is_none());
    }

    #[test]
    fn stays_within_its_bound() {
        for entries in [1, 2, 7, 100, 1000, 10_000] {
            let cache = Cache::new(entries).unwrap();
            for key in 0..(entries as u128 * 5 + 50) {
                cache.insert(key, key as u32);
                assert!(cache.len() <= entries.max(2), "{entries}: {}", cache.len());
            }
        }
    }

    #[test]
    fn hits_return_the_stored_value_and_recent_entries_survive() {
        let cache = Cache::new(1000).unwrap();
        cache.insert(7, "seven");
        assert_eq!(cache.get(7), Some("seven"));
        assert_eq!(cache.get(8), None);
        // Key 7 is used all the time while many others pass through: it stays.
        for key in 1000..20_000u128 {
            cache.insert(key, "other");
            if key % 50 == 0 {
                assert_eq!(cache.get(7), Some("seven"), "evicted after {key}");
            }
        }
        // Something inserted once and never asked for again is gone by now.
        assert_eq!(cache.get(1000), None);
    }

    #[test]
    fn shared_between_threads() {
        let cache = std::sync::Arc::new(Cache::new(4096).unwrap());
        let threads: Vec<_> = (0..4u128)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u128 {
                        let key = (i * 7 + t) % 3000;
                        match cache.get(key) {
                            Some(v) => assert_eq!(v, key),
                            None => cache.insert(key, key),
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(cache.len() <= 4096);
    }
}
