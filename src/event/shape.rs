//! The shape of an event: the sequence of its field names. Work that depends only on the names
//! (the JSON layout of a document, the anonymizer's role of each field) is done once per shape
//! and kept per thread, instead of once per event: a parser writes the same few sequences of
//! `'static` names over and over, so a handful of shapes cover a whole stream.
//!
//! Only events whose names are all `'static` have a shape: their names are identified by
//! address and length, which costs a multiply per name to hash and a compare per name to check,
//! never a string comparison. An event of one of the shapes a cache found last is matched by
//! the compares alone, without hashing (see `RECENT`). Events with names made at run time
//! (JSON keys) have none, and their users compute what they need afresh.

use std::borrow::Cow;
use std::collections::HashMap;

use super::FieldName;

/// A shape's hash; `seed` separates the users of one cache (a stage's address, options). The
/// hash of the names is kept in the event's `hint` for the stages after (anonymize, tag and the
/// encoder look up the same names one after another).
/// Names changed in place since (the same number of fields, other names) leave a stale hint;
/// every user checks the names of what it finds (`ShapeCache`), so that costs a recomputation,
/// never a wrong answer.
fn hash_hinted(fields: &[(FieldName, super::Value)], hint: &ShapeHint, seed: u64) -> Option<u64> {
    let names = match hint.0.get() {
        Some((len, names)) if len == fields.len() => names,
        _ => {
            let names = names_hash(fields)?;
            hint.0.set(Some((fields.len(), names)));
            names
        }
    };
    Some(seeded(names, seed))
}

/// The hash of an event's field names, once computed (see `hash_hinted`); a cache, not part
/// of the event's value, so events compare equal whatever their hints.
#[derive(Debug, Clone, Default)]
pub struct ShapeHint(std::cell::Cell<Option<(usize, u64)>>);

impl PartialEq for ShapeHint {
    fn eq(&self, _: &ShapeHint) -> bool {
        true
    }
}

fn seeded(names: u64, seed: u64) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let h = (names ^ seed.wrapping_mul(0xc2b2_ae3d_27d4_eb4f)).wrapping_mul(K);
    h ^ (h >> 29)
}

/// The hash of the names alone.
fn names_hash(fields: &[(FieldName, super::Value)]) -> Option<u64> {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    const M: u64 = 0xff51_afd7_ed55_8ccd;
    let mut h = K ^ fields.len() as u64;
    let mut position = 0u64;
    for (name, _) in fields {
        let Cow::Borrowed(n) = name else {
            return None;
        };
        // Each name is mixed with its position on its own and the results added, so the
        // multiplies do not wait on each other: a chained hash costs a multiply's latency per
        // name, and this runs once per event for a list of twenty-odd names.
        position = position.wrapping_add(K);
        let x = (n.as_ptr() as u64 ^ (n.len() as u64).rotate_right(16) ^ position).wrapping_mul(M);
        h = h.wrapping_add(x ^ (x >> 29));
    }
    Some(h)
}

/// The names a cached value was computed for, to tell a hash collision from a hit.
struct Names(Box<[(usize, usize)]>);

impl Names {
    fn of(fields: &[(FieldName, super::Value)]) -> Names {
        Names(
            fields
                .iter()
                .map(|(n, _)| (n.as_ptr() as usize, n.len()))
                .collect(),
        )
    }

    /// Whether `fields` have these names. A name made at run time never fits: values are only
    /// cached for shapes of `'static` names (see [`hash_hinted`]).
    fn fit(&self, fields: &[(FieldName, super::Value)]) -> bool {
        self.0.len() == fields.len()
            && self.0.iter().zip(fields).all(|(&(p, l), (n, _))| {
                matches!(n, Cow::Borrowed(n) if p == n.as_ptr() as usize && l == n.len())
            })
    }
}

/// Entries a cache tries by their names before it hashes them: most streams come in a few
/// shapes (an access log's lines with and without a user, a query string, a referrer), and
/// comparing the names with those of a recent shape costs less than hashing them and then
/// comparing them with what the hash finds.
const RECENT: usize = 4;

/// Values computed per shape. More shapes than `max` means the names vary in a way the cache
/// does not help with: it starts over rather than grow.
pub struct ShapeCache<T> {
    /// Where each shape's entry is, by its hash.
    index: HashMap<u64, usize, BuildIdentity>,
    entries: Vec<Entry<T>>,
    /// The entries looked up by hash last, newest first (see [`RECENT`]).
    recent: [usize; RECENT],
    recent_len: usize,
    max: usize,
}

struct Entry<T> {
    /// What the value depends on besides the names (see [`hash_hinted`]).
    seed: u64,
    names: Names,
    value: T,
}

impl<T> Entry<T> {
    fn fits(&self, fields: &[(FieldName, super::Value)], seed: u64) -> bool {
        self.seed == seed && self.names.fit(fields)
    }
}

impl<T> ShapeCache<T> {
    pub fn new(max: usize) -> ShapeCache<T> {
        ShapeCache {
            index: HashMap::with_hasher(BuildIdentity),
            entries: Vec::new(),
            recent: [0; RECENT],
            recent_len: 0,
            max,
        }
    }

    /// The value for the shape of `fields` under `seed`, computed by `make` on a miss (or when
    /// another shape had the same hash); `None` for fields without a shape (a name made at run
    /// time), whose users compute what they need afresh.
    pub fn get_or_insert_with(
        &mut self,
        fields: &[(FieldName, super::Value)],
        hint: &ShapeHint,
        seed: u64,
        make: impl FnOnce() -> T,
    ) -> Option<&T> {
        let recent = self.recent.get(..self.recent_len).unwrap_or_default();
        let at = match recent
            .iter()
            .copied()
            .find(|&i| self.entries.get(i).is_some_and(|e| e.fits(fields, seed)))
        {
            Some(i) => i,
            None => self.by_hash(fields, hash_hinted(fields, hint, seed)?, seed, make),
        };
        self.entries.get(at).map(|e| &e.value)
    }

    /// The index of the entry for `fields` found or made through their hash `key`.
    fn by_hash(
        &mut self,
        fields: &[(FieldName, super::Value)],
        key: u64,
        seed: u64,
        make: impl FnOnce() -> T,
    ) -> usize {
        if self.index.len() >= self.max && !self.index.contains_key(&key) {
            self.index.clear();
            self.entries.clear();
            self.recent_len = 0;
        }
        let at = match self.index.get(&key).copied() {
            Some(i) if self.entries.get(i).is_some_and(|e| e.fits(fields, seed)) => i,
            Some(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    *e = Entry {
                        seed,
                        names: Names::of(fields),
                        value: make(),
                    };
                }
                i
            }
            None => {
                self.entries.push(Entry {
                    seed,
                    names: Names::of(fields),
                    value: make(),
                });
                let i = self.entries.len() - 1;
                self.index.insert(key, i);
                i
            }
        };
        // Newest first; the oldest falls out (it stays in the index).
        if !self
            .recent
            .get(..self.recent_len)
            .unwrap_or_default()
            .contains(&at)
        {
            self.recent_len = (self.recent_len + 1).min(RECENT);
            self.recent.copy_within(0..RECENT - 1, 1);
            self.recent[0] = at;
        }
        at
    }
}

/// The key is already a hash: used as is.
#[derive(Default, Clone, Copy)]
pub struct BuildIdentity;

#[derive(Default)]
pub struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl std::hash::BuildHasher for BuildIdentity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    #[test]
    fn shapes_are_told_apart_by_names_not_values() {
        let a: Vec<(FieldName, Value)> = vec![
            (Cow::Borrowed("x"), Value::Int(1)),
            (Cow::Borrowed("y"), Value::Int(2)),
        ];
        let b: Vec<(FieldName, Value)> = vec![
            (Cow::Borrowed("x"), Value::Int(7)),
            (Cow::Borrowed("y"), Value::Null),
        ];
        let swapped: Vec<(FieldName, Value)> = vec![
            (Cow::Borrowed("y"), Value::Int(1)),
            (Cow::Borrowed("x"), Value::Int(2)),
        ];
        let hash = |f: &[(FieldName, Value)], seed| hash_hinted(f, &ShapeHint::default(), seed);
        assert_eq!(hash(&a, 0), hash(&b, 0));
        assert_ne!(hash(&a, 0), hash(&swapped, 0));
        assert_ne!(hash(&a, 0), hash(&a, 1));
        let owned: Vec<(FieldName, Value)> = vec![(Cow::Owned("x".into()), Value::Int(1))];
        assert_eq!(hash(&owned, 0), None);
    }

    /// The value of the shape of `list` under `seed` in `cache`, made as the seed and the names.
    fn value_of(
        cache: &mut ShapeCache<String>,
        list: &[(FieldName, Value)],
        hint: &ShapeHint,
        seed: u64,
    ) -> Option<String> {
        let made = || format!("{seed}:{}", names_of(list));
        cache.get_or_insert_with(list, hint, seed, made).cloned()
    }

    fn names_of(list: &[(FieldName, Value)]) -> String {
        list.iter().map(|(n, _)| &**n).collect::<Vec<_>>().join(",")
    }

    #[test]
    fn a_list_renamed_in_place_gets_its_own_value() {
        // Same buffer, same length, another name: the remembered hash is stale, and the cache
        // must still not hand out the first name's value, from its recent entries or by hash.
        let mut list: Vec<(FieldName, Value)> = vec![(Cow::Borrowed("x"), Value::Int(1))];
        let mut cache = ShapeCache::new(4);
        let hint = ShapeHint::default();
        assert_eq!(value_of(&mut cache, &list, &hint, 0).unwrap(), "0:x");
        list[0].0 = Cow::Borrowed("y");
        assert_eq!(value_of(&mut cache, &list, &hint, 0).unwrap(), "0:y");
        assert_eq!(value_of(&mut cache, &list, &hint, 0).unwrap(), "0:y");
    }

    #[test]
    fn a_colliding_key_recomputes() {
        let a: Vec<(FieldName, Value)> = vec![(Cow::Borrowed("x"), Value::Int(1))];
        let b: Vec<(FieldName, Value)> = vec![(Cow::Borrowed("y"), Value::Int(1))];
        let mut cache = ShapeCache::new(4);
        let mut made = 0;
        // The same key for two shapes: the second must not get the first one's value.
        let at = cache.by_hash(&a, 1, 0, || {
            made += 1;
            "a"
        });
        assert_eq!(cache.entries[at].value, "a");
        let at = cache.by_hash(&a, 1, 0, || "wrong");
        assert_eq!(cache.entries[at].value, "a");
        let at = cache.by_hash(&b, 1, 0, || "b");
        assert_eq!(cache.entries[at].value, "b");
        assert_eq!(made, 1);
    }

    #[test]
    fn recent_shapes_are_told_apart_by_seed_and_from_names_made_at_run_time() {
        let statics: Vec<(FieldName, Value)> = vec![
            (Cow::Borrowed("x"), Value::Int(1)),
            (Cow::Borrowed("y"), Value::Int(1)),
        ];
        let mut cache = ShapeCache::new(8);
        let hint = ShapeHint::default();
        assert_eq!(value_of(&mut cache, &statics, &hint, 1).unwrap(), "1:x,y");
        // Another user of the cache (another seed) with the same names gets its own value.
        assert_eq!(value_of(&mut cache, &statics, &hint, 2).unwrap(), "2:x,y");
        assert_eq!(value_of(&mut cache, &statics, &hint, 1).unwrap(), "1:x,y");
        // The same names made at run time have no shape, even with the same addresses.
        let owned: Vec<(FieldName, Value)> = statics
            .iter()
            .map(|(n, v)| (Cow::Owned(n.to_string()), v.clone()))
            .collect();
        assert_eq!(value_of(&mut cache, &owned, &ShapeHint::default(), 1), None);
        let names = Names::of(&statics);
        assert!(names.fit(&statics) && !names.fit(&owned));
    }

    proptest::proptest! {
        /// Whatever the order of shapes and users, with more shapes than the recent entries and
        /// than the cache holds, every lookup gives the value made for its names and seed.
        #[test]
        fn every_lookup_gives_the_value_of_its_own_shape(
            picks in proptest::collection::vec((0usize..12, 0u64..3), 1..200),
        ) {
            const POOL: [&str; 4] = ["a", "b", "c", "d"];
            // Twelve shapes of one to three names from the pool, many sharing a first name.
            let shapes: Vec<Vec<(FieldName, Value)>> = (0..12)
                .map(|k| {
                    (0..1 + k % 3)
                        .map(|j| (Cow::Borrowed(POOL[(k / 3 + j) % 4]), Value::Int(0)))
                        .collect()
                })
                .collect();
            let mut cache = ShapeCache::new(6);
            for (k, seed) in picks {
                let expected = format!("{seed}:{}", names_of(&shapes[k]));
                let got = value_of(&mut cache, &shapes[k], &ShapeHint::default(), seed);
                proptest::prop_assert_eq!(got, Some(expected));
            }
        }
    }
}
