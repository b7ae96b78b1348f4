//! The shape of an event: the sequence of its field names. Work that depends only on the names
//! (the JSON layout of a document, the anonymizer's role of each field) is done once per shape
//! and kept per thread, instead of once per event: a parser writes the same few sequences of
//! `'static` names over and over, so a handful of shapes cover a whole stream.
//!
//! Only events whose names are all `'static` have a shape: their names are identified by
//! address and length, which costs a multiply per name to hash and a compare per name to check,
//! never a string comparison. Events with names made at run time (JSON keys) have none, and
//! their users compute what they need afresh.

use std::borrow::Cow;
use std::collections::HashMap;

use super::FieldName;

/// A shape's hash; `seed` separates the users of one cache (a stage's address, options). The
/// hash of the names is kept in the event's `hint` for the stages after (anonymize, tag and the
/// encoder look up the same names one after another).
/// Names changed in place since (the same number of fields, other names) leave a stale hint;
/// every user checks the names of what it finds (`ShapeCache`), so that costs a recomputation,
/// never a wrong answer.
pub fn hash_hinted(
    fields: &[(FieldName, super::Value)],
    hint: &ShapeHint,
    seed: u64,
) -> Option<u64> {
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

/// The hash of an event's field names, once computed (see [`hash_hinted`]); a cache, not part
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

    fn fit(&self, fields: &[(FieldName, super::Value)]) -> bool {
        self.0.len() == fields.len()
            && self
                .0
                .iter()
                .zip(fields)
                .all(|(&(p, l), (n, _))| p == n.as_ptr() as usize && l == n.len())
    }
}

/// Values computed per shape. More shapes than `max` means the names vary in a way the cache
/// does not help with: it starts over rather than grow.
pub struct ShapeCache<T> {
    map: HashMap<u64, (Names, T), BuildIdentity>,
    max: usize,
}

impl<T> ShapeCache<T> {
    pub fn new(max: usize) -> ShapeCache<T> {
        ShapeCache {
            map: HashMap::with_hasher(BuildIdentity),
            max,
        }
    }

    /// The value for the shape `key` of `fields`, computed by `make` on a miss (or when another
    /// shape had the same hash).
    pub fn get_or_insert_with(
        &mut self,
        key: u64,
        fields: &[(FieldName, super::Value)],
        make: impl FnOnce() -> T,
    ) -> &T {
        use std::collections::hash_map::Entry;
        if self.map.len() >= self.max && !self.map.contains_key(&key) {
            self.map.clear();
        }
        match self.map.entry(key) {
            Entry::Occupied(mut e) => {
                if !e.get().0.fit(fields) {
                    e.insert((Names::of(fields), make()));
                }
                &e.into_mut().1
            }
            Entry::Vacant(e) => &e.insert((Names::of(fields), make())).1,
        }
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

    #[test]
    fn a_list_renamed_in_place_gets_its_own_value() {
        // Same buffer, same length, another name: the remembered hash is stale, and the cache
        // must still not hand out the first name's value.
        let mut list: Vec<(FieldName, Value)> = vec![(Cow::Borrowed("x"), Value::Int(1))];
        let mut cache = ShapeCache::new(4);
        let hint = ShapeHint::default();
        let key = hash_hinted(&list, &hint, 0).unwrap();
        assert_eq!(*cache.get_or_insert_with(key, &list, || "x"), "x");
        list[0].0 = Cow::Borrowed("y");
        let key = hash_hinted(&list, &hint, 0).unwrap();
        assert_eq!(*cache.get_or_insert_with(key, &list, || "y"), "y");
        assert_eq!(*cache.get_or_insert_with(key, &list, || "wrong"), "y");
    }

    #[test]
    fn a_colliding_key_recomputes() {
        let a: Vec<(FieldName, Value)> = vec![(Cow::Borrowed("x"), Value::Int(1))];
        let b: Vec<(FieldName, Value)> = vec![(Cow::Borrowed("y"), Value::Int(1))];
        let mut cache = ShapeCache::new(4);
        let mut made = 0;
        // The same key for two shapes: the second must not get the first one's value.
        assert_eq!(
            *cache.get_or_insert_with(1, &a, || {
                made += 1;
                "a"
            }),
            "a"
        );
        assert_eq!(*cache.get_or_insert_with(1, &a, || "wrong"), "a");
        assert_eq!(*cache.get_or_insert_with(1, &b, || "b"), "b");
        assert_eq!(made, 1);
    }
}
