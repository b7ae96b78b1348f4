//! Text rewriting: finds what must not leave the process in a string (secrets, personal data,
//! addresses, values already pseudonymized elsewhere in the event) and writes the string again
//! with each finding replaced in its style.
//!
//! Detection collects ranges first and writes once: a string with nothing to hide costs no
//! allocation at all, and the ranges live on the stack unless there are more than eight. Ranges
//! that overlap (a password that contains an e-mail address, a JWT inside `Authorization`) are
//! merged, and a merged range becomes `********`, so no detector can leave a tail of another's
//! finding in clear.

use std::cmp::Reverse;
use std::net::IpAddr;
use std::sync::Arc;

use regex::Regex;
use smallvec::SmallVec;

use super::ip::is_word;
use super::pii::PiiRules;
use super::secrets::{SecretRules, STARS};

/// What replaces a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `********`.
    Stars,
    /// `4111-****-****-1111`: first and last four digits, the masked middle grouped by four.
    Card,
    /// `***-**-6789`.
    Ssn,
    /// `j***@example.com`; `at` is where the `@` (or a URL-encoded `%40`) starts.
    Email { at: usize },
    /// `(555) ***-4567`.
    Phone { area: [u8; 3], last: [u8; 4] },
    /// An address, written anonymized.
    Ip(IpAddr),
    /// The value of a pseudonymized or anonymized field, wherever else it appears (index into
    /// the event's known values).
    Known(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Match {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) kind: Kind,
}

impl Match {
    /// The same finding in a text that has `by` more bytes before it.
    pub(crate) fn shifted(mut self, by: usize) -> Match {
        self.start += by;
        self.end += by;
        if let Kind::Email { at } = &mut self.kind {
            *at += by;
        }
        self
    }

    pub(crate) fn stars(start: usize, end: usize) -> Match {
        Match {
            start,
            end,
            kind: Kind::Stars,
        }
    }
}

pub(crate) type Matches = SmallVec<[Match; 8]>;

/// What replaces a known value.
#[derive(Debug, Clone)]
pub(crate) enum Repl {
    Ip(IpAddr),
    Text(Arc<str>),
}

/// The original text of a known value: borrowed from the event's line when it was a span of it,
/// inline when short (addresses), owned otherwise.
#[derive(Debug)]
pub(crate) enum KnownText<'r> {
    Raw(&'r str),
    Owned(Box<str>),
    Shared(Arc<str>),
    Inline { buf: [u8; 64], len: u8 },
}

impl KnownText<'_> {
    /// `s` copied inline; `None` when longer than the inline buffer.
    pub(crate) fn inline(s: &str) -> Option<KnownText<'static>> {
        let mut buf = [0u8; 64];
        buf.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        Some(KnownText::Inline {
            buf,
            len: s.len() as u8,
        })
    }

    /// The bytes, without the UTF-8 check `as_str` makes (searching needs bytes only).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            KnownText::Raw(s) => s.as_bytes(),
            KnownText::Owned(s) => s.as_bytes(),
            KnownText::Shared(s) => s.as_bytes(),
            KnownText::Inline { buf, len } => &buf[..usize::from(*len)],
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            KnownText::Raw(s) => s,
            KnownText::Owned(s) => s,
            KnownText::Shared(s) => s,
            // Only ever filled from a `&str` at a char boundary.
            KnownText::Inline { buf, len } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or_default()
            }
        }
    }
}

/// A value this event had in an anonymized field, and what it became: the same text elsewhere
/// in the event (the client address at the start of `message`, the user name in the NGINX
/// line) is replaced the same way.
#[derive(Debug)]
pub(crate) struct Known<'r> {
    pub(crate) text: KnownText<'r>,
    pub(crate) repl: Repl,
    /// The address, for an IP value (so one address is recorded once).
    pub(crate) ip: Option<IpAddr>,
}

/// Shortest known value searched for in other fields: one-character user names would replace
/// every lone letter.
const KNOWN_MIN: usize = 2;

/// Everything a text field is scanned for.
#[derive(Debug, Default)]
pub(crate) struct TextRules {
    pub(crate) secrets: SecretRules,
    pub(crate) pii: PiiRules,
    /// `redact_patterns`, compiled at build time.
    pub(crate) patterns: Vec<Regex>,
}

impl TextRules {
    /// Whether a full scan can find anything.
    pub(crate) fn any(&self) -> bool {
        self.secrets.any() || self.pii.any() || !self.patterns.is_empty()
    }

    /// The findings in `text`: known values always, everything else when `full` (a text field),
    /// sorted and without overlaps.
    pub(crate) fn scan(&self, text: &str, known: &[Known<'_>], full: bool, found: &mut Matches) {
        find_known(text, known, found);
        if full {
            self.secrets.find(text, found);
            for re in &self.patterns {
                for m in re.find_iter(text) {
                    if !m.is_empty() {
                        found.push(Match::stars(m.start(), m.end()));
                    }
                }
            }
            if self.pii.any() {
                normalize(found);
                let claimed = found.len();
                self.pii.find(text, found, claimed);
            }
        }
        normalize(found);
    }

    /// `text` with its findings replaced, or `None` when there is nothing to replace.
    pub(crate) fn rewrite(&self, text: &str, known: &[Known<'_>], full: bool) -> Option<Box<str>> {
        let mut found = Matches::new();
        self.scan(text, known, full, &mut found);
        (!found.is_empty()).then(|| render(text, &found, known))
    }
}

/// Whether any known value is short enough to occur in `text` and long enough to be searched.
pub(crate) fn any_known_fits(text: &str, known: &[Known<'_>]) -> bool {
    known
        .iter()
        .any(|k| (KNOWN_MIN..=text.len()).contains(&k.text.as_bytes().len()))
}

/// The length of the shortest known value that is searched for (`usize::MAX` with none).
pub(crate) fn shortest_known(known: &[Known<'_>]) -> usize {
    known
        .iter()
        .map(|k| k.text.as_bytes().len())
        .filter(|&len| len >= KNOWN_MIN)
        .min()
        .unwrap_or(usize::MAX)
}

/// Known values in `text`, as whole tokens: `alice` is found in `/users/alice/` and in
/// `- alice [`, not in `alice.smith` or `malice`; `10.0.0.1` not in `10.0.0.10`.
pub(crate) fn find_known(text: &str, known: &[Known<'_>], out: &mut Matches) {
    find_known_where(text, known, out, |_| true);
}

/// [`find_known`] for the values `may_hold` does not rule out (it must never rule out a value
/// that occurs in `text`).
pub(crate) fn find_known_where(
    text: &str,
    known: &[Known<'_>],
    out: &mut Matches,
    may_hold: impl Fn(&[u8]) -> bool,
) {
    let b = text.as_bytes();
    for (k, kn) in known.iter().enumerate() {
        let needle = kn.text.as_bytes();
        if needle.len() < KNOWN_MIN || needle.len() > b.len() || !may_hold(needle) {
            continue;
        }
        // Needles are short and haystacks are single fields: a first-byte scan costs less than
        // building a substring searcher for every field.
        for p in memchr::memchr_iter(needle[0], &b[..=b.len() - needle.len()]) {
            let e = p + needle.len();
            if &b[p..e] == needle && token_boundary_before(b, p) && token_boundary_after(b, e) {
                out.push(Match {
                    start: p,
                    end: e,
                    kind: Kind::Known(k),
                });
            }
        }
    }
}

fn token_boundary_before(b: &[u8], p: usize) -> bool {
    match p.checked_sub(1).map(|i| b[i]) {
        None => true,
        Some(c) if is_word(c) => false,
        Some(b'.' | b'-') => p < 2 || !is_word(b[p - 2]),
        Some(_) => true,
    }
}

fn token_boundary_after(b: &[u8], e: usize) -> bool {
    match b.get(e) {
        None => true,
        Some(&c) if is_word(c) => false,
        Some(b'.' | b'-') => !b.get(e + 1).is_some_and(|&c| is_word(c)),
        Some(_) => true,
    }
}

/// Sorts by start and merges overlaps; at one start the longest range wins, and of equal
/// ranges a known value (replaced consistently across fields) wins over a mask.
pub(crate) fn normalize(m: &mut Matches) {
    if m.len() < 2 {
        return;
    }
    m.sort_unstable_by_key(|x| (x.start, Reverse(x.end), !matches!(x.kind, Kind::Known(_))));
    let mut w = 0;
    for r in 0..m.len() {
        if w > 0 && m[r].start < m[w - 1].end {
            if m[r].end > m[w - 1].end {
                m[w - 1].end = m[r].end;
                m[w - 1].kind = Kind::Stars;
            }
            continue;
        }
        m[w] = m[r];
        w += 1;
    }
    m.truncate(w);
}

/// `text` with every (sorted, disjoint) finding replaced, in a string of exactly its length.
/// One address replaced is written at its size directly (its text's length is known before
/// writing); anything else goes through a per-thread buffer first, since growing or shrinking
/// the result would cost a reallocation per field.
pub(crate) fn render(text: &str, found: &[Match], known: &[Known<'_>]) -> Box<str> {
    // The usual case, one address replaced (the client's, in an access line): written once,
    // at its size, rather than into the scratch buffer and copied from there.
    if let [Match {
        start,
        end,
        kind: Kind::Known(k),
    }] = found
    {
        if let (Some(Repl::Ip(ip)), Some(before), Some(after)) = (
            known.get(*k).map(|k| &k.repl),
            text.get(..*start),
            text.get(*end..),
        ) {
            return with_ip_text(*ip, |ip| {
                let mut out = String::with_capacity(before.len() + ip.len() + after.len());
                out.push_str(before);
                out.push_str(ip);
                out.push_str(after);
                out.into_boxed_str()
            });
        }
    }
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut out) => {
            out.clear();
            render_into(&mut out, text, found, known);
            let rendered = Box::from(out.as_str());
            // A huge line must not keep its buffer alive in an idle thread.
            if out.capacity() > 1 << 16 {
                *out = String::new();
            }
            rendered
        }
        Err(_) => {
            let mut out = String::with_capacity(text.len() + 8 * found.len());
            render_into(&mut out, text, found, known);
            out.into_boxed_str()
        }
    })
}

fn render_into(out: &mut String, text: &str, found: &[Match], known: &[Known<'_>]) {
    let mut pos = 0;
    for m in found {
        out.push_str(&text[pos..m.start]);
        let orig = &text[m.start..m.end];
        match m.kind {
            Kind::Stars => out.push_str(STARS),
            Kind::Card => write_card(out, orig),
            Kind::Ssn => {
                out.push_str("***-**-");
                out.push_str(&orig[orig.len().saturating_sub(4)..]);
            }
            Kind::Email { at } => {
                // The local part starts with an ASCII letter or digit (see `pii::email_at`).
                out.push_str(&orig[..1]);
                out.push_str("***");
                out.push_str(&text[at..m.end]);
            }
            Kind::Phone { area, last } => {
                out.push('(');
                out.extend(area.iter().map(|&d| char::from(d)));
                out.push_str(") ***-");
                out.extend(last.iter().map(|&d| char::from(d)));
            }
            Kind::Ip(ip) => push_ip(out, ip),
            Kind::Known(k) => match known.get(k).map(|k| &k.repl) {
                Some(Repl::Ip(ip)) => push_ip(out, *ip),
                Some(Repl::Text(t)) => out.push_str(t),
                None => out.push_str(STARS),
            },
        }
        pos = m.end;
    }
    out.push_str(&text[pos..]);
}

/// Appends an address in the standard library's text form, without the formatting machinery.
pub(crate) fn push_ip(out: &mut String, ip: IpAddr) {
    with_ip_text(ip, |text| out.push_str(text));
}

/// Slots of a thread's table of address texts (a power of two), in pairs.
const IP_TEXT_SLOTS: usize = 128;

thread_local! {
    /// The texts of the addresses this thread wrote last, two per pair of slots chosen by the
    /// address. A client sends requests in runs, and each of its events has its address
    /// compared with the `.address` text and its anonymized form written into the line: the
    /// same few texts, over and over. A pair holds the last two addresses that fell on it, so
    /// two busy clients that share a pair do not push each other out; an address found in
    /// neither is written again, so this never costs more than a write.
    static IP_TEXTS: std::cell::RefCell<Vec<(IpAddr, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `f` of the standard text of `ip`, from this thread's table when it is there.
fn with_ip_text<R>(ip: IpAddr, f: impl FnOnce(&str) -> R) -> R {
    let write = |out: &mut String| {
        let mut buf = [0u8; 45];
        let len = write_ip(&mut buf, ip);
        push_ascii(out, &buf[..len]);
    };
    // Without the table (in use further up this thread's stack): written afresh.
    let fresh = || {
        let mut text = String::new();
        write(&mut text);
        text
    };
    IP_TEXTS.with(|cell| {
        let Ok(mut slots) = cell.try_borrow_mut() else {
            return f(&fresh());
        };
        if slots.is_empty() {
            // Every slot holds a true pair from the start.
            let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
            slots.resize(IP_TEXT_SLOTS, (unspecified, unspecified.to_string()));
        }
        let key = match ip {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                (bits as u64) ^ ((bits >> 64) as u64)
            }
        };
        let first = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57) as usize & !1;
        let Some(pair) = slots.get_mut(first..first + 2) else {
            return f(&fresh());
        };
        if pair[1].0 == ip {
            pair.swap(0, 1);
        } else if pair[0].0 != ip {
            // The older of the two makes room, its buffer reused.
            pair.swap(0, 1);
            let (held, text) = &mut pair[0];
            text.clear();
            write(text);
            *held = ip;
        }
        f(&pair[0].1)
    })
}

/// Writes `ip` at the start of `buf` as the standard library does; returns its length.
fn write_ip(buf: &mut [u8], ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(v4) => write_ipv4(buf, v4.octets()),
        IpAddr::V6(v6) => write_ipv6(buf, v6),
    }
}

/// Writes `a` at the start of `buf` in the standard library's text form (RFC 5952: lower-case
/// hex, the longest run of two or more zero groups, the first of equal runs, as `::`;
/// IPv4-mapped addresses as `::ffff:a.b.c.d`), a tenth of the cost of going through `fmt`;
/// returns its length.
fn write_ipv6(buf: &mut [u8], a: std::net::Ipv6Addr) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if let Some(v4) = a.to_ipv4_mapped() {
        buf[..7].copy_from_slice(b"::ffff:");
        return 7 + write_ipv4(&mut buf[7..], v4.octets());
    }
    let groups = a.segments();
    let (mut best_start, mut best_len, mut run_start, mut run_len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run_len == 0 {
                run_start = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best_start, best_len) = (run_start, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    let mut n = 0;
    let put_group = |buf: &mut [u8], n: &mut usize, g: u16| {
        let mut started = false;
        for shift in [12u16, 8, 4, 0] {
            let d = (g >> shift) & 0xf;
            if d != 0 || started || shift == 0 {
                buf[*n] = HEX[usize::from(d)];
                *n += 1;
                started = true;
            }
        }
    };
    let (skip_from, skip_to) = if best_len > 1 {
        (best_start, best_start + best_len)
    } else {
        (groups.len(), groups.len())
    };
    for (i, &g) in groups.iter().enumerate() {
        if (skip_from..skip_to).contains(&i) {
            if i == skip_from {
                buf[n..n + 2].copy_from_slice(b"::");
                n += 2;
            }
            continue;
        }
        if i > 0 && i != skip_to {
            buf[n] = b':';
            n += 1;
        }
        put_group(buf, &mut n, g);
    }
    n
}

/// Appends ASCII text written by this module (digits, hex, dots, colons).
fn push_ascii(out: &mut String, ascii: &[u8]) {
    // The writers above produce ASCII only, so the check always passes; it costs a few
    // instructions per byte, a char-by-char push several times that.
    out.push_str(std::str::from_utf8(ascii).unwrap_or_default());
}

/// Whether `text` is `ip` in the standard text form, as the text beside a typed address
/// (`source.address`) usually is: writing an address (or finding it written) costs a tenth of
/// parsing one.
pub(crate) fn is_ip_text(ip: IpAddr, text: &str) -> bool {
    // No address's text is longer.
    text.len() <= 45 && with_ip_text(ip, |written| written == text)
}

/// The text of `ip` as a known value, without going through `fmt`.
pub(crate) fn ip_known_text(ip: IpAddr) -> KnownText<'static> {
    let mut buf = [0u8; 64];
    // At most 45 bytes.
    let len = write_ip(&mut buf, ip) as u8;
    KnownText::Inline { buf, len }
}

/// Writes the dotted quad of `octets` at the start of `buf`; returns its length (7-15). Digit
/// by digit: copying each octet's one to three digits as a slice costs a call each.
fn write_ipv4(buf: &mut [u8], octets: [u8; 4]) -> usize {
    let mut n = 0;
    for (k, o) in octets.into_iter().enumerate() {
        if k > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if o >= 100 {
            buf[n] = b'0' + o / 100;
            n += 1;
        }
        if o >= 10 {
            buf[n] = b'0' + o / 10 % 10;
            n += 1;
        }
        buf[n] = b'0' + o % 10;
        n += 1;
    }
    n
}

/// First four and last four digits, the middle masked and grouped by four from the left, so
/// the mask keeps the number of digits: 16 digits `4111-****-****-1111`, 15 (Amex)
/// `3782-****-***-0005`, 19 `6011-****-****-***-1117`.
fn write_card(out: &mut String, orig: &str) {
    let digits: SmallVec<[u8; 19]> = orig.bytes().filter(u8::is_ascii_digit).collect();
    let n = digits.len();
    if n < 9 {
        out.push_str(STARS);
        return;
    }
    out.extend(digits[..4].iter().map(|&d| char::from(d)));
    for k in 0..n - 8 {
        if k % 4 == 0 {
            out.push('-');
        }
        out.push('*');
    }
    out.push('-');
    out.extend(digits[n - 4..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_is_rendered_as_the_general_way_renders_it() {
        let v4: IpAddr = "81.2.69.0".parse().unwrap();
        let v6: IpAddr = "2a02:ec80:300::".parse().unwrap();
        let known = |repl: Repl| Known {
            text: KnownText::Raw("x"),
            repl,
            ip: None,
        };
        let cases = [
            ("81.2.69.160 - - GET /", 0, 11),
            ("GET / from 81.2.69.160", 11, 22),
            ("é 81.2.69.160 é", 3, 14),
            ("81.2.69.160", 0, 11),
        ];
        for (text, start, end) in cases {
            for repl in [Repl::Ip(v4), Repl::Ip(v6), Repl::Text(Arc::from("pseudo"))] {
                let known = [known(repl)];
                let found = [Match {
                    start,
                    end,
                    kind: Kind::Known(0),
                }];
                let mut general = String::new();
                render_into(&mut general, text, &found, &known);
                assert_eq!(&*render(text, &found, &known), general, "{text}");
                assert!(!general.contains("81.2.69.160"), "{general}");
            }
        }
    }

    #[test]
    fn ipv6_text_matches_the_standard_form() {
        let mut cases: Vec<std::net::Ipv6Addr> = [
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:db8:0:0:1:0:0:1",
            "2001:0:0:1::1",
            "fe80::1:0:0:0",
            "0:0:1::",
            "1:0:0:2:0:0:0:3",
            "1:2:3:4:5:6:7:8",
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "64:ff9b::10.0.0.1",
            "2a02:ec80:300::",
            "1:0:2:0:3:0:4:0",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        // Every pattern of zero and non-zero groups, with varied digit counts.
        for bits in 0u16..256 {
            let groups: Vec<u16> = (0..8)
                .map(|i| {
                    if bits >> i & 1 == 1 {
                        0x1f << (i % 4 * 3)
                    } else {
                        0
                    }
                })
                .collect();
            cases.push(std::net::Ipv6Addr::new(
                groups[0], groups[1], groups[2], groups[3], groups[4], groups[5], groups[6],
                groups[7],
            ));
        }
        for a in cases {
            let mut out = String::new();
            push_ip(&mut out, IpAddr::V6(a));
            assert_eq!(out, a.to_string());
        }
    }

    #[test]
    fn ipv4_text_matches_the_standard_form() {
        // Every octet value in every position.
        let all = (0..=255u8).flat_map(|o| {
            [
                [o, 0, 0, 0],
                [1, o, 2, 3],
                [9, 99, o, 255],
                [255, 10, 100, o],
            ]
        });
        for octets in all {
            let mut out = String::from("x");
            push_ip(&mut out, IpAddr::V4(octets.into()));
            assert_eq!(out, format!("x{}", std::net::Ipv4Addr::from(octets)));
        }
    }

    #[test]
    fn remembered_address_texts_are_the_texts_of_their_own_addresses() {
        // More addresses than slots, each family with the same low bits as the other (the
        // slot key of `::a.b.c.d` is that of `a.b.c.d`), each written twice in a row and again
        // after the others have taken the slots.
        let v4 = (0..200u32).map(|i| IpAddr::V4((i * 16_843_009).into()));
        let v6 =
            (0..200u32).map(|i| IpAddr::V6(std::net::Ipv6Addr::from(u128::from(i * 16_843_009))));
        let all: Vec<IpAddr> = v4.zip(v6).flat_map(|(a, b)| [a, b]).collect();
        for _ in 0..2 {
            for &ip in &all {
                for _ in 0..2 {
                    let mut out = String::new();
                    push_ip(&mut out, ip);
                    assert_eq!(out, ip.to_string());
                    assert!(is_ip_text(ip, &ip.to_string()));
                }
            }
        }
        let zero = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        assert!(is_ip_text(zero, "0.0.0.0"));
        assert!(!is_ip_text(zero, ""));
    }

    #[test]
    fn only_the_standard_text_of_an_address_is_recognized_as_it() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(is_ip_text(ip("203.0.113.9"), "203.0.113.9"));
        assert!(is_ip_text(ip("2001:db8::7"), "2001:db8::7"));
        assert!(!is_ip_text(ip("2001:db8::7"), "2001:DB8::7"));
        assert!(!is_ip_text(ip("2001:db8::7"), "2001:db8:0::7"));
        assert!(!is_ip_text(ip("203.0.113.9"), "203.0.113.90"));
        assert!(!is_ip_text(ip("203.0.113.9"), "203.0.113."));
        assert!(!is_ip_text(ip("203.0.113.9"), &"9".repeat(100)));
    }

    #[test]
    fn card_masks_keep_the_digit_count() {
        let card = |s: &str| {
            let mut o = String::new();
            write_card(&mut o, s);
            o
        };
        assert_eq!(card("4111111111111111"), "4111-****-****-1111");
        assert_eq!(card("4111 1111 1111 1111"), "4111-****-****-1111");
        assert_eq!(card("378282246310005"), "3782-****-***-0005");
        assert_eq!(card("4222222222222"), "4222-****-*-2222");
        assert_eq!(card("6011000990139424116"), "6011-****-****-***-4116");
    }

    #[test]
    fn overlaps_merge_into_stars() {
        let mut m: Matches = [
            Match::stars(10, 20),
            Match {
                start: 0,
                end: 5,
                kind: Kind::Ssn,
            },
            Match {
                start: 12,
                end: 25,
                kind: Kind::Card,
            },
            Match {
                start: 14,
                end: 16,
                kind: Kind::Ssn,
            },
        ]
        .into_iter()
        .collect();
        normalize(&mut m);
        assert_eq!(
            m.as_slice(),
            &[
                Match {
                    start: 0,
                    end: 5,
                    kind: Kind::Ssn
                },
                Match::stars(10, 25)
            ]
        );
    }

    #[test]
    fn known_values_match_whole_tokens_only() {
        let known = [Known {
            text: KnownText::Raw("alice"),
            repl: Repl::Text(Arc::from("anon-1")),
            ip: None,
        }];
        let rules = TextRules::default();
        assert_eq!(
            rules.rewrite(
                "- alice [x] GET /u/alice/p alice.smith malice alice.",
                &known,
                false
            ),
            Some("- anon-1 [x] GET /u/anon-1/p alice.smith malice anon-1.".into())
        );
        assert_eq!(rules.rewrite("nothing here", &known, false), None);
    }
}
