//! IP addresses: truncation to a network prefix or a keyed pseudonym, and the reader that finds
//! address literals inside text (`message`, `X-Forwarded-For` lists).
//!
//! Truncation keeps the network (`203.0.113.7` -> `203.0.113.0` with the default /24, IPv6 to
//! /48), which still answers "which provider, which region" without naming a subscriber. An
//! IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) is treated as the IPv4 address it carries, so
//! a dual-stack listener does not keep the full address behind the IPv6 prefix.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::pseudonym::Pseudonymizer;

#[derive(Debug, Clone)]
pub(crate) enum IpAnonymizer {
    Truncate { v4: u8, v6: u8 },
    Pseudonymize(Arc<Pseudonymizer>),
}

impl IpAnonymizer {
    #[inline]
    pub(crate) fn anonymize(&self, ip: IpAddr) -> IpAddr {
        match self {
            IpAnonymizer::Truncate { v4, v6 } => match ip {
                IpAddr::V4(a) => IpAddr::V4(truncate_v4(a, *v4)),
                IpAddr::V6(a) => match a.to_ipv4_mapped() {
                    Some(m) => IpAddr::V6(truncate_v4(m, *v4).to_ipv6_mapped()),
                    None => IpAddr::V6(truncate_v6(a, *v6)),
                },
            },
            IpAnonymizer::Pseudonymize(p) => p.ip(ip),
        }
    }
}

pub(crate) fn truncate_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    Ipv4Addr::from(u32::from(ip) & mask)
}

pub(crate) fn truncate_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let mask = u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0);
    Ipv6Addr::from(u128::from(ip) & mask)
}

/// `[A-Za-z0-9_]`: what makes a literal part of a longer word.
#[inline]
pub(crate) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A dotted-quad IPv4 literal starting at `i` (a digit not preceded by a word character or a
/// dot): its end and value. Leading zeros are refused, as the standard parser does, so
/// `1.02.3.4` is not an address; a fifth part (`1.2.3.4.5`, an OID) or a following word
/// character (`1.2.3.4a`) makes it no address either.
pub(crate) fn ipv4_at(b: &[u8], i: usize) -> Option<(usize, Ipv4Addr)> {
    if i > 0 && (is_word(b[i - 1]) || b[i - 1] == b'.') {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut pos = i;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(pos) != Some(&b'.') {
                return None;
            }
            pos += 1;
        }
        let start = pos;
        let mut v: u32 = 0;
        while pos < b.len() && b[pos].is_ascii_digit() && pos - start < 3 {
            v = v * 10 + u32::from(b[pos] - b'0');
            pos += 1;
        }
        let len = pos - start;
        if len == 0 || v > 255 || (len > 1 && b[start] == b'0') {
            return None;
        }
        *octet = v as u8;
    }
    match b.get(pos) {
        Some(&c) if is_word(c) => None,
        Some(b'.') if b.get(pos + 1).is_some_and(|&c| is_word(c)) => None,
        _ => Some((pos, Ipv4Addr::from(octets))),
    }
}

/// An IPv6 literal starting at `i` (a hex digit or the `::` of `::1`): its end and value.
/// Times (`10:30:00`), MAC addresses and Rust paths (`db::add`) are not addresses: the text
/// must parse as IPv6 and carry at least one decimal digit.
pub(crate) fn ipv6_at(b: &[u8], i: usize) -> Option<(usize, Ipv6Addr)> {
    if i > 0 && (is_word(b[i - 1]) || b[i - 1] == b':' || b[i - 1] == b'.') {
        return None;
    }
    let mut end = i;
    let mut colons = 0;
    let mut double = false;
    let mut dot = false;
    let mut digit = false;
    while end < b.len() && (b[end].is_ascii_hexdigit() || b[end] == b':' || b[end] == b'.') {
        if b[end] == b':' {
            colons += 1;
            double |= end > i && b[end - 1] == b':';
        }
        dot |= b[end] == b'.';
        digit |= b[end].is_ascii_digit();
        end += 1;
        if end - i > 45 {
            return None;
        }
    }
    // Eight groups, or fewer with `::`; six and an IPv4 tail. Anything else (`10:30:00`) is
    // refused before parsing.
    let shaped = double || colons == 7 || (colons == 6 && dot);
    if colons < 2 || !shaped || !digit || b.get(end).is_some_and(|&c| is_word(c)) {
        return None;
    }
    // A sentence may end right after the address, a port may follow a bracketed one.
    while end > i + 1 && (b[end - 1] == b'.' || (b[end - 1] == b':' && b[end - 2] != b':')) {
        end -= 1;
    }
    let text = std::str::from_utf8(&b[i..end]).ok()?;
    let ip: Ipv6Addr = text.parse().ok()?;
    (!ip.is_unspecified()).then_some((end, ip))
}

/// True when the dotted quad at `start..end` reads as a version rather than an address:
/// `nginx/1.2.3.4`, `pkg-1.2.3.4`, `1.2.3.4-rc1`, `version 1.2.3.4`, `release: 1.2.3.4`.
/// (`v1.2.3.4` never gets here: the `v` makes it one word.) A bare `1.2.3.4` is an address.
pub(crate) fn looks_like_version(b: &[u8], start: usize, end: usize) -> bool {
    if start >= 2 {
        let (before, prev) = (b[start - 2], b[start - 1]);
        if prev == b'/' && is_word(before) {
            return true;
        }
        if (prev == b'-' || prev == b'_') && before.is_ascii_alphabetic() {
            return true;
        }
    }
    if matches!(b.get(end), Some(b'-' | b'+' | b'_'))
        && b.get(end + 1).is_some_and(|c| c.is_ascii_alphabetic())
    {
        return true;
    }
    // The word before, across a space, `:` or `=`.
    let mut p = start;
    let mut gap = 0;
    while p > 0 && matches!(b[p - 1], b' ' | b':' | b'=' | b'\t') && gap < 3 {
        p -= 1;
        gap += 1;
    }
    if gap == 0 {
        return false;
    }
    let word_end = p;
    while p > 0 && b[p - 1].is_ascii_alphabetic() && word_end - p < 16 {
        p -= 1;
    }
    const WORDS: &[&[u8]] = &[
        b"version",
        b"ver",
        b"v",
        b"release",
        b"build",
        b"firmware",
        b"fw",
        b"kernel",
        b"rev",
        b"revision",
    ];
    let word = &b[p..word_end];
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn truncation_keeps_the_prefix() {
        let t = IpAnonymizer::Truncate { v4: 24, v6: 48 };
        assert_eq!(t.anonymize(ip("203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(
            t.anonymize(ip("2001:db8:85a3:8d3:1319:8a2e:370:7348")),
            ip("2001:db8:85a3::")
        );
        assert_eq!(
            t.anonymize(ip("::ffff:203.0.113.77")),
            ip("::ffff:203.0.113.0")
        );
        let t16 = IpAnonymizer::Truncate { v4: 16, v6: 0 };
        assert_eq!(t16.anonymize(ip("198.51.100.9")), ip("198.51.0.0"));
        assert_eq!(t16.anonymize(ip("2001:db8::1")), ip("::"));
        let t32 = IpAnonymizer::Truncate { v4: 32, v6: 128 };
        assert_eq!(t32.anonymize(ip("198.51.100.9")), ip("198.51.100.9"));
        assert_eq!(
            truncate_v4("255.255.255.255".parse().unwrap(), 0),
            Ipv4Addr::UNSPECIFIED
        );
    }

    #[test]
    fn ipv4_literals() {
        fn at(s: &str, i: usize) -> Option<(&str, String)> {
            ipv4_at(s.as_bytes(), i).map(|(e, a)| (&s[i..e], a.to_string()))
        }
        assert_eq!(
            at("from 10.0.0.1 port", 5),
            Some(("10.0.0.1", "10.0.0.1".into()))
        );
        assert_eq!(at("10.0.0.1.", 0).map(|x| x.0), Some("10.0.0.1"));
        assert_eq!(at("10.0.0.1:443", 0).map(|x| x.0), Some("10.0.0.1"));
        for no in [
            "1.2.3",
            "1.2.3.4.5",
            "1.02.3.4",
            "256.1.1.1",
            "1.2.3.4a",
            "1.2.3.4.x",
        ] {
            assert_eq!(at(no, 0), None, "{no}");
        }
        assert_eq!(at("x.1.2.3.4", 2), None);
    }

    #[test]
    fn ipv6_literals() {
        fn at(s: &str, i: usize) -> Option<&str> {
            ipv6_at(s.as_bytes(), i).map(|(e, _)| &s[i..e])
        }
        assert_eq!(at("2001:db8::1 port", 0), Some("2001:db8::1"));
        assert_eq!(at("[2001:db8::1]:443", 1), Some("2001:db8::1"));
        assert_eq!(at("::ffff:10.0.0.1.", 0), Some("::ffff:10.0.0.1"));
        assert_eq!(at("fe80::1%eth0", 0), Some("fe80::1"));
        for no in [
            "10:30:00",
            "00:1a:2b:3c:4d:5e",
            "db::add",
            "::",
            "12:00:00.123",
        ] {
            assert_eq!(at(no, 0), None, "{no}");
        }
    }

    #[test]
    fn versions_are_not_addresses() {
        let v = |s: &str| {
            let start = s.find(|c: char| c.is_ascii_digit()).unwrap();
            let (end, _) = ipv4_at(s.as_bytes(), start).unwrap();
            looks_like_version(s.as_bytes(), start, end)
        };
        for yes in [
            "nginx/1.2.3.4",
            "Chrome/124.0.0.0 Safari",
            "pkg-1.2.3.4",
            "1.2.3.4-rc1",
            "version 1.2.3.4",
            "Version: 1.2.3.4",
            "release=1.2.3.4",
        ] {
            assert!(v(yes), "{yes}");
        }
        for no in [
            "from 1.2.3.4",
            "1.2.3.4",
            "host=10.0.0.2",
            "http://10.0.0.2/",
            "10.0.0.1-10.0.0.9",
        ] {
            assert!(!v(no), "{no}");
        }
    }
}
