//! Pieces of lines that a stage scanned, remembered per thread, so the next line carrying the
//! same user agent, referrer or request line costs a hash lookup instead of a scan. Access logs
//! repeat these pieces constantly (a site sees a few hundred user agents in millions of lines,
//! a monitor polls one URL with one API key all day), and scanning them was most of the
//! anonymizer's cost.
//!
//! A clean piece is kept as it is, and a hit means "nothing to hide" for text compared byte for
//! byte. A piece whose only findings are secrets masked whole (`token=...`, a JWT) is kept with
//! those bytes zeroed and a keyed hash of them, so no secret outlives its event in this cache:
//! a hit compares everything else byte for byte and the hidden bytes by that hash (64 bits,
//! keyed with a per-process random seed), and hands back the ranges to mask. Pieces with
//! personal data or addresses in them (whose replacement depends on the text hidden) are
//! scanned every time. A piece is kept on its second scan, not its first (only its hash is
//! noted the first time), so pieces that never repeat (request lines with ids, one-off bots)
//! cost no copy. The cache holds two generations of at most [`GENERATION`] pieces of at most
//! [`PIECE_MAX`] bytes: when the young one is full it becomes the old one and the previous old
//! one is dropped; a piece found in the old one moves back to the young one. So at most about
//! 2 MiB per worker thread, and a piece still in use survives any number of turnovers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::event::shape::BuildIdentity;

/// Longest piece kept; longer ones are scanned every time. Most user agents and referrers are
/// shorter.
pub(super) const PIECE_MAX: usize = 384;

/// Pieces per generation and thread.
const GENERATION: usize = 2048;

/// A scanned piece, and the stage that scanned it (stages differ in what they look for).
struct Entry {
    stage: u64,
    /// The piece, with the bytes under `hidden` zeroed.
    text: Box<[u8]>,
    /// Of a clean piece.
    pairs: BytePairs,
    /// The secrets the piece held, masked whole; empty for a clean piece.
    hidden: Box<[(u32, u32)]>,
    /// Keyed hash of the bytes under `hidden`.
    hidden_hash: u64,
}

impl Entry {
    /// Whether `text` is the piece this entry was made from (see the module documentation).
    fn holds(&self, text: &[u8]) -> bool {
        if self.hidden.is_empty() {
            return *self.text == *text;
        }
        if self.text.len() != text.len() {
            return false;
        }
        let mut at = 0;
        for &(start, end) in self.hidden.iter() {
            let (start, end) = (start as usize, end as usize);
            if self.text.get(at..start) != text.get(at..start) {
                return false;
            }
            at = end;
        }
        self.text.get(at..) == text.get(at..)
            && hidden_hash(self.stage, text, &self.hidden) == Some(self.hidden_hash)
    }
}

/// What a stage found in a piece it scanned before.
#[derive(Debug)]
pub(super) enum Remembered {
    /// Nothing; the pairs of bytes the piece holds.
    Clean(BytePairs),
    /// Secrets at these ranges, to be masked whole.
    Masked(smallvec::SmallVec<[(u32, u32); 4]>),
}

/// The keyed hash of the bytes of `text` under `ranges`; `None` when a range is not inside it.
fn hidden_hash(stage: u64, text: &[u8], ranges: &[(u32, u32)]) -> Option<u64> {
    let mut h = seed() ^ stage.rotate_left(17) ^ 0x6a09_e667_f3bc_c909;
    for &(start, end) in ranges {
        let hidden = text.get(start as usize..end as usize)?;
        h = xxhash_rust::xxh3::xxh3_64_with_seed(hidden, h);
    }
    Some(h)
}

/// Which pairs of adjacent bytes a piece holds, as a 256-bit filter: a text with a pair the
/// piece lacks cannot occur in it. The event's known values (the client address, the user) are
/// searched for in every piece, remembered or not; most pieces (user agents, referrers) are
/// ruled out by this alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BytePairs([u64; 4]);

impl BytePairs {
    fn of(text: &[u8]) -> BytePairs {
        let mut bits = [0u64; 4];
        for pair in text.windows(2) {
            let bit = pair_bit(pair[0], pair[1]);
            bits[bit >> 6] |= 1 << (bit & 63);
        }
        BytePairs(bits)
    }

    /// Whether `needle` (two bytes or more) may occur in the piece: `false` is certain.
    pub(super) fn may_hold(&self, needle: &[u8]) -> bool {
        needle.windows(2).all(|pair| {
            let bit = pair_bit(pair[0], pair[1]);
            self.0[bit >> 6] & (1 << (bit & 63)) != 0
        })
    }
}

fn pair_bit(a: u8, b: u8) -> usize {
    (usize::from(a).wrapping_mul(31) ^ usize::from(b).wrapping_mul(7)) & 255
}

/// Slots of the first-sighting table (a hash each).
const SEEN_SLOTS: usize = 4096;

struct Generations {
    young: HashMap<u64, Entry, BuildIdentity>,
    old: HashMap<u64, Entry, BuildIdentity>,
    /// Hashes of pieces scanned clean once, by their low bits; a later piece with the same
    /// low bits takes the slot.
    seen: Box<[u64]>,
}

impl Default for Generations {
    fn default() -> Generations {
        Generations {
            young: HashMap::default(),
            old: HashMap::default(),
            seen: vec![0; SEEN_SLOTS].into_boxed_slice(),
        }
    }
}

/// A piece's hash, from [`lookup`], for [`remember`].
#[derive(Clone, Copy)]
pub(super) struct PieceKey(u64);

thread_local! {
    static CLEAN: RefCell<Generations> = RefCell::new(Generations::default());
}

/// Hash seed of this process: lines are data from outside, so a sender must not be able to
/// choose texts that land in one bucket.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(rand::random)
}

fn key(stage: u64, text: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(text, seed() ^ stage.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// What `stage` found in `text` on this thread before, or else the key to [`remember`] it by.
pub(super) fn lookup(stage: u64, text: &[u8]) -> Result<Remembered, PieceKey> {
    let k = key(stage, text);
    CLEAN.with(|cell| {
        let Ok(mut g) = cell.try_borrow_mut() else {
            return Err(PieceKey(k));
        };
        let fits = |e: &Entry| e.stage == stage && e.holds(text);
        let found = |e: &Entry| match e.hidden.is_empty() {
            true => Remembered::Clean(e.pairs),
            false => Remembered::Masked(e.hidden.iter().copied().collect()),
        };
        if let Some(e) = g.young.get(&k).filter(|e| fits(e)) {
            return Ok(found(e));
        }
        match g.old.remove(&k) {
            Some(e) if fits(&e) => {
                let remembered = found(&e);
                g.insert(k, e);
                Ok(remembered)
            }
            _ => Err(PieceKey(k)),
        }
    })
}

/// Records that `stage` scanned `text` (looked up as `key`) and found nothing to hide but the
/// secrets at `hidden` (sorted, disjoint, each masked whole): noted on the first sighting, kept
/// on the second.
pub(super) fn remember(stage: u64, key: PieceKey, text: &[u8], hidden: &[(u32, u32)]) {
    if text.len() > PIECE_MAX {
        return;
    }
    CLEAN.with(|cell| {
        let Ok(mut g) = cell.try_borrow_mut() else {
            return;
        };
        // Two slots per hash, an empty one taken first: with one, pieces that share a slot
        // and come in turn push each other out before either is seen twice.
        let first = (key.0 as usize) & (SEEN_SLOTS - 1);
        let second = ((key.0 >> 32) as usize) & (SEEN_SLOTS - 1);
        let (Some(&a), Some(&b)) = (g.seen.get(first), g.seen.get(second)) else {
            return;
        };
        if a != key.0 && b != key.0 {
            let slot = if a == 0 || b != 0 { first } else { second };
            g.seen[slot] = key.0;
            return;
        }
        let Some(hidden_hash) = hidden_hash(stage, text, hidden) else {
            return;
        };
        let mut masked: Box<[u8]> = text.into();
        for &(start, end) in hidden {
            if let Some(bytes) = masked.get_mut(start as usize..end as usize) {
                bytes.fill(0);
            }
        }
        g.insert(
            key.0,
            Entry {
                stage,
                pairs: BytePairs::of(&masked),
                text: masked,
                hidden: hidden.into(),
                hidden_hash,
            },
        )
    });
}

impl Generations {
    fn insert(&mut self, k: u64, e: Entry) {
        if self.young.len() >= GENERATION && !self.young.contains_key(&k) {
            let fresh = HashMap::with_capacity_and_hasher(GENERATION, BuildIdentity);
            self.old = std::mem::replace(&mut self.young, fresh);
        }
        self.young.insert(k, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen_twice(stage: u64, text: &[u8]) {
        for _ in 0..2 {
            if let Err(k) = lookup(stage, text) {
                remember(stage, k, text, &[]);
            }
        }
    }

    #[test]
    fn a_piece_is_kept_on_its_second_clean_scan_only() {
        let text = b"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101";
        let k = lookup(1, text).unwrap_err();
        remember(1, k, text, &[]);
        assert!(lookup(1, text).is_err(), "kept after one sighting");
        remember(1, k, text, &[]);
        assert!(lookup(1, text).is_ok());
    }

    #[test]
    fn a_piece_with_secrets_is_kept_without_them() {
        let text = b"GET /api/status?token=s3cr3t-v4lue HTTP/1.1";
        let hidden = [(22u32, 34u32)];
        for _ in 0..2 {
            if let Err(k) = lookup(7, text) {
                remember(7, k, text, &hidden);
            }
        }
        match lookup(7, text) {
            Ok(Remembered::Masked(ranges)) => assert_eq!(&ranges[..], &hidden[..]),
            _ => panic!("not kept"),
        }
        // The same request with another secret of the same length, or anything else changed,
        // is not this piece.
        assert!(lookup(7, b"GET /api/status?token=s3cr3t-v4lux HTTP/1.1").is_err());
        assert!(lookup(7, b"GET /api/stat0s?token=s3cr3t-v4lue HTTP/1.1").is_err());
        assert!(lookup(7, b"GET /api/status?token=s3cr3t-v4lue HTTP/1.0").is_err());
        // Nothing of the secret is kept.
        CLEAN.with(|cell| {
            let g = cell.borrow();
            for e in g.young.values().chain(g.old.values()) {
                assert!(!e.text.windows(3).any(|w| w == b"cr3"), "secret kept");
            }
        });
    }

    #[test]
    fn a_piece_is_clean_only_for_the_stage_that_scanned_it() {
        seen_twice(1, b"Mozilla/5.0 (X11; Linux x86_64)");
        assert!(lookup(1, b"Mozilla/5.0 (X11; Linux x86_64)").is_ok());
        assert!(lookup(2, b"Mozilla/5.0 (X11; Linux x86_64)").is_err());
        assert!(lookup(1, b"Mozilla/5.0 (X11; Linux x86_64) ").is_err());
    }

    #[test]
    fn byte_pairs_never_rule_out_a_text_the_piece_holds() {
        let piece = b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5) Version/17.5 Mobile/15E148";
        let pairs = BytePairs::of(piece);
        for start in 0..piece.len() {
            for end in start + 2..=piece.len() {
                assert!(pairs.may_hold(&piece[start..end]), "{start}..{end}");
            }
        }
        assert!(!pairs.may_hold(b"203.0.113.77"));
        assert!(!pairs.may_hold(b"alice"));
    }

    #[test]
    fn pieces_sharing_a_first_sighting_slot_are_still_kept() {
        // Many pieces seen in turn, twice over: with one slot per hash, pairs of them that
        // share a slot would keep pushing each other out.
        let texts: Vec<String> = (0..600).map(|i| format!("agent {i}")).collect();
        for _ in 0..2 {
            for t in &texts {
                if let Err(k) = lookup(5, t.as_bytes()) {
                    remember(5, k, t.as_bytes(), &[]);
                }
            }
        }
        let kept = texts
            .iter()
            .filter(|t| lookup(5, t.as_bytes()).is_ok())
            .count();
        assert!(kept >= 570, "{kept} of 600 kept");
    }

    #[test]
    fn long_pieces_are_not_kept() {
        let long = vec![b'a'; PIECE_MAX + 1];
        seen_twice(3, &long);
        assert!(lookup(3, &long).is_err());
    }

    #[test]
    fn a_piece_in_use_survives_turnovers_and_the_rest_is_bounded() {
        seen_twice(4, b"kept");
        for i in 0..5 * GENERATION {
            seen_twice(4, format!("piece {i}").as_bytes());
            if i % (GENERATION / 2) == 0 {
                assert!(lookup(4, b"kept").is_ok(), "lost after {i} insertions");
            }
        }
        assert!(lookup(4, b"piece 0").is_err());
        CLEAN.with(|cell| {
            let g = cell.borrow();
            assert!(g.young.len() <= GENERATION && g.old.len() <= GENERATION);
        });
    }
}
