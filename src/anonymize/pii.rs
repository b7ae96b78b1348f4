//! Personal data in text: payment card numbers, US social security numbers, e-mail addresses,
//! US phone numbers, and (when IP anonymization is on) address literals.
//!
//! One pass over the text, word by word: a detector only starts at the first character of a
//! word (`[A-Za-z0-9_]` run) or at `@`, `%40`, `(`, `+`, `::`, so a digit inside `abc123` or a
//! hash never starts a number, and most words are skipped in one step.
//!
//! What counts, and what deliberately does not:
//! - Cards: 13-19 digits, written as one run or grouped by spaces or dashes (first group of four,
//!   one separator throughout), starting with 2-6 (every card network in use: Visa, Mastercard,
//!   Amex, Discover, JCB, Diners, UnionPay, Maestro, Mir) and Luhn-valid. Epoch milliseconds and
//!   nanoseconds start with 1 and are never cards. A Luhn-valid 13-19 digit id starting with 2-6
//!   (an order number) cannot be told from a card and is masked: about one random id in ten of
//!   that shape.
//! - SSNs: `123-45-6789` with dashes only; area 000, 666 and 900-999, group 00 and serial 0000
//!   are never issued and are left alone. Nine bare digits are ids, not SSNs.
//! - Phones: NANP numbers `(555) 123-4567`, `555-123-4567`, `555.123.4567`, `1-555-123-4567`,
//!   `+1 555 123 4567`, `+15551234567`; the area code starts with 2-9. Three-three-four digits
//!   separated by spaces only, without `+1`, are not taken (`200 512 1234` is a status and two
//!   counts far more often than a phone).
//! - E-mail: `local@domain.tld` (also URL-encoded `local%40domain.tld`), the domain with a dot
//!   and an alphabetic TLD.
//! - Numbers glued to a `.` or `-` on the left (`v.1234567890123`, `ORD-555-123-4567`) belong to
//!   a longer token and are not matched, except a single-run card (Luhn and length are evidence
//!   enough). A `.` and a digit after a number make it a decimal, not a card.

use std::net::IpAddr;

use super::ip::{ipv4_at, ipv6_at, is_word, looks_like_version, IpAnonymizer};
use super::redact::{Kind, Match, Matches};

#[derive(Debug, Default)]
pub(crate) struct PiiRules {
    pub(crate) card: bool,
    pub(crate) ssn: bool,
    pub(crate) email: bool,
    pub(crate) phone: bool,
    /// Address literals are rewritten with this, when set.
    pub(crate) ip: Option<IpAnonymizer>,
    /// Skip dotted quads that read as versions (free text); off for address lists.
    pub(crate) versions: bool,
}

impl PiiRules {
    pub(crate) fn any(&self) -> bool {
        self.card || self.ssn || self.email || self.phone || self.ip.is_some()
    }

    /// Pushes findings onto `out` that do not overlap its first `claimed` entries (sorted,
    /// disjoint ranges already taken by secrets and known values).
    pub(crate) fn find(&self, text: &str, out: &mut Matches, claimed: usize) {
        if !(self.card || self.ssn || self.email || self.phone) {
            if self.ip.is_some() {
                self.find_addresses(text.as_bytes(), out, claimed);
            }
            return;
        }
        self.find_all(text, out, claimed);
    }

    /// `find` when only address literals are looked for (IP anonymization without redaction,
    /// the usual access-log setup): every IPv4 literal has a `.` after its first one to three
    /// digits and every IPv6 literal a `:`, so only those bytes are visited (one `memchr2`
    /// pass) instead of every digit run of the line. Finds exactly what `find_all` finds with
    /// the same rules (a property test holds them to it).
    fn find_addresses(&self, b: &[u8], out: &mut Matches, claimed: usize) {
        let mut ci = 0;
        // End of the last finding: nothing before it starts another.
        let mut last = 0;
        // End of the last claimed range before the separator.
        let mut claim_floor = 0;
        for p in memchr::memchr2_iter(b'.', b':', b) {
            if p < last {
                continue;
            }
            while ci < claimed && out[ci].end <= p {
                claim_floor = claim_floor.max(out[ci].end);
                ci += 1;
            }
            // A separator inside a claimed range may still end a number that starts before it.
            let p_claimed = ci < claimed && out[ci].start <= p;
            // The word before the separator: up to three digits for IPv4, four hex digits for
            // an IPv6 group.
            let dot = b[p] == b'.';
            let max = if dot { 3 } else { 4 };
            let mut s = p;
            while s > last && p - s < max {
                let c = b[s - 1];
                if !(if dot {
                    c.is_ascii_digit()
                } else {
                    c.is_ascii_hexdigit()
                }) {
                    break;
                }
                s -= 1;
            }
            let starts_word = s == 0 || !is_word(b[s - 1]);
            let found = if s == p {
                // `::1`: the address starts at the colons.
                (!dot && !p_claimed && b.get(p + 1) == Some(&b':'))
                    .then(|| self.ipv6(b, p))
                    .flatten()
            } else if !starts_word {
                None
            } else if b[s].is_ascii_digit() {
                // `find_all` tries a number where it starts, unless a claimed range covers it.
                let covered = out[..claimed].iter().any(|m| m.start <= s && s < m.end);
                match (covered, dot) {
                    (true, _) => None,
                    (false, true) => self.ipv4_word(b, s, p),
                    (false, false) => self.ipv6(b, s),
                }
            } else if p_claimed || claim_floor > s {
                // A group starting with a letter is read back from the colon, never across a
                // claimed range.
                None
            } else {
                self.ipv6(b, s)
            };
            if let Some(m) = found {
                last = m.end;
                out.push(m);
            }
        }
    }

    /// An IPv4 literal at the word `b[i..run_end]` (followed by `.`), unless it reads as a
    /// version or is already anonymized.
    fn ipv4_word(&self, b: &[u8], i: usize, run_end: usize) -> Option<Match> {
        let anon = self.ip.as_ref()?;
        if !(b[i].is_ascii_digit() && run_end - i <= 3 && b.get(run_end) == Some(&b'.')) {
            return None;
        }
        let (end, a) = ipv4_at(b, i)?;
        if self.versions && looks_like_version(b, i, end) {
            return None;
        }
        let ip = IpAddr::V4(a);
        let out = anon.anonymize(ip);
        // An address that is already its own anonymized form (x.y.z.0) stays.
        (out != ip).then_some(Match {
            start: i,
            end,
            kind: Kind::Ip(out),
        })
    }

    /// Every detector, one pass word by word.
    fn find_all(&self, text: &str, out: &mut Matches, claimed: usize) {
        let b = text.as_bytes();
        let mut ci = 0;
        // Nothing before this may be part of a new finding (an e-mail's local part is read
        // backwards from its `@`).
        let mut floor = 0;
        let mut i = 0;
        while i < b.len() {
            while ci < claimed && out[ci].end <= i {
                floor = floor.max(out[ci].end);
                ci += 1;
            }
            if ci < claimed && out[ci].start <= i {
                i = out[ci].end;
                floor = i;
                ci += 1;
                continue;
            }
            // Letters and punctuation start nothing: jump to the next digit or trigger, in one
            // pass over the bytes (not as far as a claimed range, which is skipped whole).
            let limit = if ci < claimed { out[ci].start } else { b.len() };
            i = next_interesting(b, i, limit);
            if i >= limit {
                continue;
            }
            let c = b[i];
            let found = if CLASS[usize::from(c)] == DIGIT {
                let run_end = word_end(b, i);
                // A digit inside a word (`x86_64`, a hash) starts nothing.
                if i > 0 && is_word(b[i - 1]) {
                    i = run_end;
                    continue;
                }
                match self.at_word(b, i, run_end) {
                    Some(m) => Some(m),
                    None => {
                        i = run_end;
                        continue;
                    }
                }
            } else {
                match c {
                    b'@' if self.email => email_at(b, i, 1, floor),
                    b'%' if self.email && b[i + 1..].starts_with(b"40") => email_at(b, i, 3, floor),
                    b'(' if self.phone => phone_paren(b, i),
                    b'+' if self.phone => phone_plus(b, i),
                    b':' => self.ipv6_before(b, i, floor).or_else(|| {
                        // `::1`, `::ffff:10.0.0.1`: the address starts at the colons.
                        (b.get(i + 1) == Some(&b':'))
                            .then(|| self.ipv6(b, i))
                            .flatten()
                    }),
                    _ => None,
                }
            };
            match found {
                Some(m) => {
                    i = m.end.max(i + 1);
                    floor = m.end;
                    out.push(m);
                }
                None => i += 1,
            }
        }
    }

    /// An IPv6 literal whose first group starts with a letter (`fe80::1`), seen at its first `:`
    /// (digit-first groups are tried where their digit is met).
    fn ipv6_before(&self, b: &[u8], colon: usize, floor: usize) -> Option<Match> {
        self.ip.as_ref()?;
        let mut s = colon;
        while s > floor && colon - s < 4 && b[s - 1].is_ascii_hexdigit() {
            s -= 1;
        }
        let starts_word = s == 0 || !is_word(b[s - 1]);
        if s == colon || !starts_word || !b[s].is_ascii_alphabetic() {
            return None;
        }
        self.ipv6(b, s)
    }

    fn ipv6(&self, b: &[u8], i: usize) -> Option<Match> {
        let anon = self.ip.as_ref()?;
        let (end, a) = ipv6_at(b, i)?;
        let ip = IpAddr::V6(a);
        let out = anon.anonymize(ip);
        (out != ip).then_some(Match {
            start: i,
            end,
            kind: Kind::Ip(out),
        })
    }

    /// Detectors that start at the word `b[i..run_end]`.
    fn at_word(&self, b: &[u8], i: usize, run_end: usize) -> Option<Match> {
        let c = b[i];
        if self.ip.is_some() {
            if c.is_ascii_digit()
                && run_end - i <= 3
                && b.get(run_end) == Some(&b'.')
                && second_octet_follows(b, run_end)
                && ipv4_at(b, i).is_some()
            {
                return self.ipv4_word(b, i, run_end);
            }
            // An IPv6 literal's first word is a hex group followed by `:`.
            if b.get(run_end) == Some(&b':')
                && run_end - i <= 4
                && b[i..run_end].iter().all(u8::is_ascii_hexdigit)
            {
                if let Some(m) = self.ipv6(b, i) {
                    return Some(m);
                }
            }
        }
        // Cards, SSNs and phone numbers begin with a run of 1 (`1-555-...`), 3, 4 or 13-19
        // digits followed by a separator of theirs (see `card_at`, `ssn_at`, `phone_at`): the
        // numbers of versions, sizes and times are turned away here, before the detectors run.
        let may_start = match run_end - i {
            1 => b[i] == b'1' && matches!(b.get(run_end), Some(b'-' | b'.' | b' ')),
            3 => matches!(b.get(run_end), Some(b'-' | b'.')),
            4 => matches!(b.get(run_end), Some(b' ' | b'-')),
            13..=19 => true,
            _ => false,
        };
        if !may_start || !b[i..run_end].iter().all(u8::is_ascii_digit) {
            return None;
        }
        if self.card {
            if let Some(end) = card_at(b, i, run_end) {
                return Some(Match {
                    start: i,
                    end,
                    kind: Kind::Card,
                });
            }
        }
        if self.ssn {
            if let Some(end) = ssn_at(b, i, run_end) {
                return Some(Match {
                    start: i,
                    end,
                    kind: Kind::Ssn,
                });
            }
        }
        if self.phone {
            return phone_at(b, i, run_end);
        }
        None
    }
}

/// Byte classes of the scan: letters, digits (a number may start at one), triggers
/// (`@ % ( + :`), and everything else.
const OTHER: u8 = 0;
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const TRIGGER: u8 = 3;
static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphabetic() || b == b'_' {
            t[c] = LETTER;
        } else if b.is_ascii_digit() {
            t[c] = DIGIT;
        }
        c += 1;
    }
    t[b'@' as usize] = TRIGGER;
    t[b'%' as usize] = TRIGGER;
    t[b'(' as usize] = TRIGGER;
    t[b'+' as usize] = TRIGGER;
    t[b':' as usize] = TRIGGER;
    t
};

/// The first digit or trigger in `b[i..limit]`, or `limit`. Eight bytes are tested per step
/// (table lookups OR-ed, no branch per byte): most of a log line is letters and punctuation.
#[inline]
fn next_interesting(b: &[u8], mut i: usize, limit: usize) -> usize {
    // DIGIT and TRIGGER are the two classes with bit 1 set.
    let interesting = |c: u8| CLASS[usize::from(c)] >> 1;
    while i + 8 <= limit {
        let w = &b[i..i + 8];
        // One bit per byte: the first set bit is the place, without going back over the
        // eight bytes one by one.
        let mask = w
            .iter()
            .enumerate()
            .fold(0u32, |acc, (k, &c)| acc | u32::from(interesting(c)) << k);
        if mask != 0 {
            return i + mask.trailing_zeros() as usize;
        }
        i += 8;
    }
    while i < limit && interesting(b[i]) == 0 {
        i += 1;
    }
    i
}

/// Whether the `.` at `dot` is followed by one to three digits and another `.`, as the first
/// dot of a dotted quad is: most numbers followed by a dot in a log line are versions and
/// decimals (`5.0`, `537.36`), turned away here before an address is parsed.
fn second_octet_follows(b: &[u8], dot: usize) -> bool {
    let digits = b
        .get(dot + 1..)
        .unwrap_or_default()
        .iter()
        .take(4)
        .take_while(|c| c.is_ascii_digit())
        .count();
    (1..=3).contains(&digits) && b.get(dot + 1 + digits) == Some(&b'.')
}

/// End of the word (`[A-Za-z0-9_]` run) starting at `i`.
fn word_end(b: &[u8], i: usize) -> usize {
    i + b[i..]
        .iter()
        .position(|&c| !is_word(c))
        .unwrap_or(b.len() - i)
}

fn digits_end(b: &[u8], s: usize) -> usize {
    s + b
        .get(s..)
        .map_or(0, |t| t.iter().take_while(|c| c.is_ascii_digit()).count())
}

/// A number may end at `e`: not glued to a word, not continued by `-5` or `.5`.
fn num_end_ok(b: &[u8], e: usize) -> bool {
    match b.get(e) {
        None => true,
        Some(&c) if is_word(c) => false,
        Some(b'-' | b'.') => !b.get(e + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

/// A number may start at `i` (the caller knows `b[i - 1]` is not a word character).
fn num_start_ok(b: &[u8], i: usize) -> bool {
    i == 0 || !matches!(b[i - 1], b'-' | b'.')
}

fn decimal_follows(b: &[u8], e: usize) -> bool {
    b.get(e) == Some(&b'.') && b.get(e + 1).is_some_and(u8::is_ascii_digit)
}

pub(crate) fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// A card number starting at the digit run `b[i..run_end]`: where it ends.
fn card_at(b: &[u8], i: usize, run_end: usize) -> Option<usize> {
    if !(b'2'..=b'6').contains(&b[i]) || (i > 0 && b[i - 1] == b'.') {
        return None;
    }
    let n = run_end - i;
    if (13..=19).contains(&n) {
        return (luhn(&b[i..run_end]) && !decimal_follows(b, run_end)).then_some(run_end);
    }
    if n != 4 || (i > 0 && b[i - 1] == b'-') {
        return None;
    }
    let sep = *b.get(run_end)?;
    if sep != b' ' && sep != b'-' {
        return None;
    }
    let mut digits = [0u8; 19];
    digits[..4].copy_from_slice(&b[i..run_end]);
    let mut count = 4;
    // (end, digits so far) after each further group.
    let mut ends = [(0usize, 0usize); 5];
    let mut k = 0;
    let mut pos = run_end;
    while k < ends.len() && b.get(pos) == Some(&sep) {
        let gs = pos + 1;
        let ge = digits_end(b, gs);
        let gl = ge - gs;
        if !(3..=6).contains(&gl) || count + gl > 19 || b.get(ge).is_some_and(|&c| is_word(c)) {
            break;
        }
        digits[count..count + gl].copy_from_slice(&b[gs..ge]);
        count += gl;
        ends[k] = (ge, count);
        k += 1;
        pos = ge;
    }
    // Longest first; a shorter prefix is tried so a card followed by another number
    // (`4111 1111 1111 1111 200`) is still found.
    ends[..k]
        .iter()
        .rev()
        .find(|&&(end, cnt)| cnt >= 13 && luhn(&digits[..cnt]) && !decimal_follows(b, end))
        .map(|&(end, _)| end)
}

/// `AAA-GG-SSSS` starting at the digit run `b[i..run_end]`.
fn ssn_at(b: &[u8], i: usize, run_end: usize) -> Option<usize> {
    if run_end - i != 3 || !num_start_ok(b, i) || b.get(run_end) != Some(&b'-') {
        return None;
    }
    let g = run_end + 1;
    let ge = digits_end(b, g);
    if ge - g != 2 || b.get(ge) != Some(&b'-') {
        return None;
    }
    let s = ge + 1;
    let se = digits_end(b, s);
    if se - s != 4 || !num_end_ok(b, se) {
        return None;
    }
    let area = &b[i..run_end];
    let never_issued = area == b"000"
        || area == b"666"
        || area[0] == b'9'
        || &b[g..ge] == b"00"
        || &b[s..se] == b"0000";
    (!never_issued).then_some(se)
}

fn phone_match(start: usize, end: usize, area: &[u8], last: &[u8]) -> Option<Match> {
    Some(Match {
        start,
        end,
        kind: Kind::Phone {
            area: area.try_into().ok()?,
            last: last.try_into().ok()?,
        },
    })
}

/// The number after an optional `1`/`+1` prefix, starting at `p`: `(AAA) XXX-LLLL`, or
/// `AAA s XXX s LLLL` with a separator from `seps` (the same twice when `same`), or, when
/// `bare` is allowed, ten digits in a row.
fn nanp_body(
    b: &[u8],
    start: usize,
    p: usize,
    seps: &[u8],
    same: bool,
    bare: bool,
) -> Option<Match> {
    if b.get(p) == Some(&b'(') {
        let a = p + 1;
        let ae = digits_end(b, a);
        if ae - a != 3 || !(b'2'..=b'9').contains(&b[a]) || b.get(ae) != Some(&b')') {
            return None;
        }
        let mut x = ae + 1;
        if b.get(x) == Some(&b' ') {
            x += 1;
        }
        let xe = digits_end(b, x);
        let mut l = xe;
        if xe - x != 3 {
            return None;
        }
        if matches!(b.get(l), Some(b'-' | b'.' | b' ')) {
            l += 1;
        }
        let le = digits_end(b, l);
        if le - l != 4 || !num_end_ok(b, le) {
            return None;
        }
        return phone_match(start, le, &b[a..ae], &b[l..le]);
    }
    let ae = digits_end(b, p);
    if ae == p || !(b'2'..=b'9').contains(&b[p]) {
        return None;
    }
    if bare && ae - p == 10 && num_end_ok(b, ae) {
        return phone_match(start, ae, &b[p..p + 3], &b[p + 6..ae]);
    }
    if ae - p != 3 {
        return None;
    }
    let s1 = *b.get(ae)?;
    if !seps.contains(&s1) {
        return None;
    }
    let x = ae + 1;
    let xe = digits_end(b, x);
    if xe - x != 3 {
        return None;
    }
    let s2 = *b.get(xe)?;
    if !seps.contains(&s2) || (same && s2 != s1) {
        return None;
    }
    let l = xe + 1;
    let le = digits_end(b, l);
    if le - l != 4 || !num_end_ok(b, le) {
        return None;
    }
    phone_match(start, le, &b[p..ae], &b[l..le])
}

/// A phone number starting at the digit run `b[i..run_end]`: `555-123-4567`, `555.123.4567`,
/// `1-555-123-4567`.
fn phone_at(b: &[u8], i: usize, run_end: usize) -> Option<Match> {
    if !num_start_ok(b, i) {
        return None;
    }
    match run_end - i {
        3 => nanp_body(b, i, i, b"-.", true, false),
        1 if b[i] == b'1' => {
            let sep = *b.get(run_end)?;
            if !matches!(sep, b'-' | b'.' | b' ') {
                return None;
            }
            nanp_body(b, i, run_end + 1, &[sep], true, false)
        }
        _ => None,
    }
}

/// `(555) 123-4567` at the `(`.
fn phone_paren(b: &[u8], i: usize) -> Option<Match> {
    if i > 0 && is_word(b[i - 1]) {
        return None;
    }
    nanp_body(b, i, i, b"", true, false)
}

/// `+1 555 123 4567`, `+1-555-123-4567`, `+1 (555) 123-4567`, `+15551234567` at the `+`.
fn phone_plus(b: &[u8], i: usize) -> Option<Match> {
    if (i > 0 && is_word(b[i - 1])) || b.get(i + 1) != Some(&b'1') {
        return None;
    }
    let mut p = i + 2;
    if matches!(b.get(p), Some(b' ' | b'-' | b'.')) {
        p += 1;
    }
    nanp_body(b, i, p, b" -.", false, true)
}

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// An e-mail address around the `@` at `at` (`at_len` 3 for `%40`); the local part is read
/// backwards, not past `floor`.
fn email_at(b: &[u8], at: usize, at_len: usize, floor: usize) -> Option<Match> {
    let mut s = at;
    while s > floor && is_local(b[s - 1]) && at - s < 64 {
        s -= 1;
    }
    // The local part starts with a letter or digit (also what the mask keeps).
    while s < at && !b[s].is_ascii_alphanumeric() {
        s += 1;
    }
    if s == at {
        return None;
    }
    let d = at + at_len;
    let mut e = d;
    while e < b.len() && (b[e].is_ascii_alphanumeric() || matches!(b[e], b'.' | b'-')) {
        e += 1;
    }
    // A sentence may end right after the address.
    while e > d && matches!(b[e - 1], b'.' | b'-') {
        e -= 1;
    }
    let domain = &b[d..e];
    let last_dot = domain.iter().rposition(|&c| c == b'.')?;
    let tld = &domain[last_dot + 1..];
    let labels_ok = domain.first() != Some(&b'.') && !domain.windows(2).any(|w| w == b"..");
    if tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) || !labels_ok {
        return None;
    }
    if b.get(e).is_some_and(|&c| is_word(c)) {
        return None;
    }
    Some(Match {
        start: s,
        end: e,
        kind: Kind::Email { at },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anonymize::redact::render;

    fn rules() -> PiiRules {
        PiiRules {
            card: true,
            ssn: true,
            email: true,
            phone: true,
            ip: None,
            versions: true,
        }
    }

    fn mask(r: &PiiRules, text: &str) -> String {
        let mut m = Matches::new();
        r.find(text, &mut m, 0);
        render(text, &m, &[]).into()
    }

    #[test]
    fn luhn_check() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111111111111112"));
    }

    #[test]
    fn cards() {
        let r = rules();
        let cases = [
            ("card 4111111111111111 ok", "card 4111-****-****-1111 ok"),
            ("4111 1111 1111 1111", "4111-****-****-1111"),
            ("pan=4111-1111-1111-1111&x", "pan=4111-****-****-1111&x"),
            ("amex 3782 822463 10005.", "amex 3782-****-***-0005."),
            ("5555555555554444,12/29", "5555-****-****-4444,12/29"),
            ("4111 1111 1111 1111 200 OK", "4111-****-****-1111 200 OK"),
            (
                "/pay/4012888888881881/confirm",
                "/pay/4012-****-****-1881/confirm",
            ),
            ("6011000990139424116", "6011-****-****-***-4116"),
        ];
        for (text, want) in cases {
            assert_eq!(mask(&r, text), want, "{text}");
        }
        for clean in [
            "4111111111111112",
            "ts=1700000000000 ns=1700000000000000000",
            "id a4111111111111111",
            "0.4111111111111111",
            "4111111111111111.5",
            "order=1234567890123",
            "2024-01-15 1234 5678 9012 3456",
        ] {
            assert_eq!(mask(&r, clean), clean, "{clean}");
        }
    }

    #[test]
    fn ssns() {
        let r = rules();
        assert_eq!(mask(&r, "ssn 123-45-6789."), "ssn ***-**-6789.");
        assert_eq!(mask(&r, "ssn=078-05-1120&x"), "ssn=***-**-1120&x");
        for clean in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
            "2024-01-15",
            "x-123-45-6789",
            "123-45-67890",
            "123456789",
        ] {
            assert_eq!(mask(&r, clean), clean, "{clean}");
        }
    }

    #[test]
    fn emails() {
        let r = rules();
        let cases = [
            ("from john.doe@example.com.", "from j***@example.com."),
            (
                "<Jane_D+tag@mail.example.co.uk>",
                "<J***@mail.example.co.uk>",
            ),
            (
                "email=john.doe%40example.com&x=1",
                "email=j***%40example.com&x=1",
            ),
            ("mailto:x@y.io", "mailto:x***@y.io"),
        ];
        for (text, want) in cases {
            assert_eq!(mask(&r, text), want, "{text}");
        }
        for clean in [
            "@handle",
            "user@localhost",
            "a@b.c",
            "x@1.2.3.4",
            "j***@example.com",
        ] {
            assert_eq!(mask(&r, clean), clean, "{clean}");
        }
    }

    #[test]
    fn phones() {
        let r = rules();
        for text in [
            "(555) 123-4567",
            "555-123-4567",
            "555.123.4567",
            "+1 555 123 4567",
            "+1-555-123-4567",
            "+1 (555) 123-4567",
            "+15551234567",
            "1-555-123-4567",
            "(555)123-4567",
        ] {
            assert_eq!(
                mask(&r, &format!("call {text}.")),
                "call (555) ***-4567.",
                "{text}"
            );
        }
        for clean in [
            "555 123 4567",
            "123-456-7890",
            "555-123-45678",
            "ORD-555-123-4567",
            "555-123.4567",
            "[10/Oct/2024:13:55:36 +1000]",
            "HTTP/1.1\" 200 5316",
            "5551234567",
        ] {
            assert_eq!(mask(&r, clean), clean, "{clean}");
        }
    }

    #[test]
    fn addresses_in_text() {
        let r = PiiRules {
            ip: Some(IpAnonymizer::Truncate { v4: 24, v6: 48 }),
            versions: true,
            ..PiiRules::default()
        };
        assert_eq!(
            mask(&r, "Failed password for root from 203.0.113.9 port 52144"),
            "Failed password for root from 203.0.113.0 port 52144"
        );
        assert_eq!(
            mask(&r, "peer [2001:db8:aa:bb::7]:443 and ::ffff:198.51.100.7"),
            "peer [2001:db8:aa::]:443 and ::ffff:198.51.100.0"
        );
        assert_eq!(
            mask(
                &r,
                "link fe80::1ff:fe23:4567:890a%eth0 up, cafe: open, x86_64 abc:def"
            ),
            "link fe80::%eth0 up, cafe: open, x86_64 abc:def"
        );
        for clean in [
            "nginx/1.25.3.1 Chrome/124.0.0.0",
            "version 1.2.3.4",
            "v1.2.3.4",
            "at 10:30:00 and 2024-01-15",
            "1.3.6.1.4.1.2021",
            "203.0.113.0",
        ] {
            assert_eq!(mask(&r, clean), clean, "{clean}");
        }
        let list = PiiRules {
            ip: Some(IpAnonymizer::Truncate { v4: 24, v6: 48 }),
            ..PiiRules::default()
        };
        assert_eq!(mask(&list, "1.2.3.4, 5.6.7.8"), "1.2.3.0, 5.6.7.0");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The eight-at-a-time search for a digit or trigger lands where a byte-by-byte one does.
        #[test]
        fn next_interesting_is_the_first_digit_or_trigger(
            text in proptest::collection::vec(proptest::sample::select(
                b"aZ_ .-/;()@%+:09".to_vec()), 0..40),
            from in 0usize..40,
            cut in 0usize..40,
        ) {
            let limit = text.len().saturating_sub(cut);
            let from = from.min(limit);
            let naive = (from..limit)
                .find(|&i| matches!(CLASS[usize::from(text[i])], DIGIT | TRIGGER))
                .unwrap_or(limit);
            proptest::prop_assert_eq!(next_interesting(&text, from, limit), naive);
        }

        /// The length-and-separator test at the start of a number turns away only words none
        /// of the card, SSN and phone detectors would take.
        #[test]
        fn number_gate_turns_away_only_what_no_detector_takes(
            shapes in proptest::collection::vec(proptest::sample::select(vec![
                "DDD-DDD-DDDD", "DDD.DDD.DDDD", "(DDD) DDD-DDDD", "1-DDD-DDD-DDDD",
                "1.DDD.DDD.DDDD", "1 DDD DDD DDDD", "DDDD DDDD DDDD DDDD", "DDDD-DDDD-DDDD-DDDD",
                "DDDD DDDDDD DDDDD", "DDD-DD-DDDD", "DDDDDDDDDDDDDDDD", "DDDDDDDDDDDDD",
                "DDDDDDDDDD", "D", "DD", "DDD", "DDDD", "DDDDD", " ", "-", ".", "/", "a", "v",
            ]), 0..8),
            digits in proptest::collection::vec(b'0'..=b'9', 64),
        ) {
            // Each `D` takes the next digit; few random digit strings are Luhn-valid or start
            // an area code, so the shapes are filled with several digit sequences per case.
            let mut next = digits.iter().cycle();
            let pieces: Vec<String> = shapes
                .iter()
                .map(|shape| {
                    shape
                        .bytes()
                        .map(|c| char::from(if c == b'D' { *next.next().unwrap_or(&b'5') } else { c }))
                        .collect()
                })
                .collect();
            let text: String = pieces.concat();
            let b = text.as_bytes();
            let rules = PiiRules { card: true, ssn: true, email: false, phone: true, ip: None, versions: true };
            for i in 0..b.len() {
                if !b[i].is_ascii_digit() || (i > 0 && is_word(b[i - 1])) {
                    continue;
                }
                let run_end = word_end(b, i);
                let ungated = b[i..run_end]
                    .iter()
                    .all(u8::is_ascii_digit)
                    .then(|| {
                        card_at(b, i, run_end)
                            .map(|end| Match { start: i, end, kind: Kind::Card })
                            .or_else(|| ssn_at(b, i, run_end).map(|end| Match { start: i, end, kind: Kind::Ssn }))
                            .or_else(|| phone_at(b, i, run_end))
                    })
                    .flatten();
                proptest::prop_assert_eq!(rules.at_word(b, i, run_end), ungated, "{:?} at {}", text, i);
            }
        }

        /// The address-only pass finds exactly what the full word-by-word pass finds with the
        /// same rules, around claimed ranges too.
        #[test]
        fn address_pass_agrees_with_the_full_pass(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "1", "10", "192", "255", "256", "0", "01", "2001", "db8", "fe80", "ffff", "a",
                "::", ":", ".", "..", " ", "/", "-", "_", "x", "v", "version ", "nginx/",
                "1.2.3.4", "10.0.0.1", "::1", "2001:db8::7", "::ffff:10.1.2.3", "10:30:00",
                "\"", "=", "[", "]", "%", "@", "(", "+",
            ]), 0..24),
            claims in proptest::collection::vec((0usize..80, 1usize..6), 0..3),
            versions in proptest::bool::ANY,
        ) {
            let text: String = pieces.concat();
            let rules = PiiRules {
                card: false,
                ssn: false,
                email: false,
                phone: false,
                ip: Some(IpAnonymizer::Truncate { v4: 24, v6: 48 }),
                versions,
            };
            let mut claimed = Matches::new();
            let mut at = 0;
            for (gap, len) in claims {
                let start = at + gap;
                let end = start + len;
                if end > text.len() {
                    break;
                }
                claimed.push(Match::stars(start, end));
                at = end;
            }
            let n = claimed.len();
            let mut fast = claimed.clone();
            rules.find(&text, &mut fast, n);
            let mut full = claimed;
            rules.find_all(&text, &mut full, n);
            proptest::prop_assert_eq!(&fast, &full, "{:?} fast {:?} full {:?}", text, fast, full);
        }
    }
}
