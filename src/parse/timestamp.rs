//! Timestamp parsing shared by the parsers: RFC 3339 / ISO 8601 date-times, NGINX `$time_local`,
//! Unix epochs of any unit, and the zone used for local times that carry no offset.
//!
//! The date-time readers work on fixed byte positions and call `days_from_civil` directly:
//! they run once per event, where a generic format-string parser would cost more than the rest
//! of an NGINX line. chrono (through chrono-tz) is only consulted for named zones, whose offsets
//! depend on the date.

use chrono::{Offset as _, TimeZone as _};

use super::ParserOptions;
use crate::event::timestamp::{days_from_civil, CivilTime};
use crate::event::Timestamp;

/// Offsets beyond this are not real zones (the widest in use are -12:00 and +14:00).
const MAX_OFFSET_SECS: i32 = 18 * 3600;

/// Reads exactly `N` ASCII digits.
#[inline]
fn digits<const N: usize>(b: &[u8]) -> Option<u32> {
    let b = b.get(..N)?;
    let mut v = 0u32;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u32;
    }
    Some(v)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// True when the calendar parts name a real time. A leap second (`:60`) is accepted: sources
/// do write it, and rejecting the line would lose the event over one second.
pub fn is_valid_civil(c: &CivilTime) -> bool {
    (1..=12).contains(&c.month)
        && c.day >= 1
        && c.day <= days_in_month(c.year, c.month)
        && c.hour < 24
        && c.minute < 60
        && c.second <= 60
        && c.nanos < 1_000_000_000
}

/// Seconds since the epoch of a validated civil time read as UTC. A leap second lands on the
/// first second of the next minute, which keeps the result monotonic.
fn civil_seconds(c: &CivilTime) -> i64 {
    days_from_civil(c.year, c.month, c.day) * 86_400
        + c.hour as i64 * 3600
        + c.minute as i64 * 60
        + c.second as i64
}

/// The instant a civil time names once `offset_secs` (local minus UTC) is removed.
pub fn civil_to_timestamp(c: &CivilTime, offset_secs: i32, precision: u8) -> Option<Timestamp> {
    if !is_valid_civil(c) {
        return None;
    }
    let secs = civil_seconds(c).checked_sub(offset_secs as i64)?;
    Timestamp::from_unix(secs, c.nanos, precision)
}

/// Parses an offset suffix: `Z`, `+hh:mm`, `+hhmm` or `+hh` (and `-`); the whole input must be
/// the offset. Returns seconds east of UTC.
pub fn parse_offset(b: &[u8]) -> Option<i32> {
    let (&sign, rest) = b.split_first()?;
    if (sign == b'Z' || sign == b'z') && rest.is_empty() {
        return Some(0);
    }
    let neg = match sign {
        b'+' => false,
        b'-' => true,
        _ => return None,
    };
    let hours = digits::<2>(rest)?;
    let minutes = match rest.len() {
        2 => 0,
        4 => digits::<2>(rest.get(2..)?)?,
        5 if rest.get(2) == Some(&b':') => digits::<2>(rest.get(3..)?)?,
        _ => return None,
    };
    if minutes >= 60 {
        return None;
    }
    let secs = (hours * 3600 + minutes * 60) as i32;
    if secs > MAX_OFFSET_SECS {
        return None;
    }
    Some(if neg { -secs } else { secs })
}

/// A date-time read from text, before a zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedDateTime {
    pub civil: CivilTime,
    /// Fraction digits the text carried.
    pub precision: u8,
    /// Seconds east of UTC when the text had an offset.
    pub offset: Option<i32>,
}

/// Reads `YYYY-MM-DD[T ]HH:MM:SS[.fff…][offset]`, the RFC 3339 shape plus the variants logs use
/// in practice: a space or lower-case `t` as separator, `,` as decimal mark (Python's
/// `logging`), `+hhmm` / `+hh` offsets, or no offset at all. Fractions beyond nanoseconds are
/// cut, not rounded, so a value never moves into the next second.
pub fn parse_datetime(s: &str) -> Option<ParsedDateTime> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let year = digits::<4>(b)? as i32;
    let month = digits::<2>(b.get(5..)?)?;
    let day = digits::<2>(b.get(8..)?)?;
    let hour = digits::<2>(b.get(11..)?)?;
    let minute = digits::<2>(b.get(14..)?)?;
    let second = digits::<2>(b.get(17..)?)?;
    let seps = (b.get(4)?, b.get(7)?, b.get(10)?, b.get(13)?, b.get(16)?);
    if !matches!(seps, (b'-', b'-', b'T' | b't' | b' ', b':', b':')) {
        return None;
    }
    let mut rest = b.get(19..)?;
    let mut nanos = 0u32;
    let mut precision = 0u8;
    if let [b'.' | b',', frac @ ..] = rest {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, &c) in frac.iter().take(n).enumerate() {
            if i < 9 {
                nanos = nanos * 10 + (c - b'0') as u32;
            }
        }
        for _ in n..9 {
            nanos *= 10;
        }
        precision = n.min(9) as u8;
        rest = frac.get(n..)?;
    }
    let offset = match rest {
        [] => None,
        [b' ', tail @ ..] => Some(parse_offset(tail)?),
        _ => Some(parse_offset(rest)?),
    };
    let civil = CivilTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    };
    if !is_valid_civil(&civil) {
        return None;
    }
    Some(ParsedDateTime {
        civil,
        precision,
        offset,
    })
}

/// RFC 3339 with a required offset (`Z`, `+hh:mm`, `+hhmm`); precision is the number of fraction
/// digits. Text without an offset is refused here: use [`parse_datetime_in`] with a zone.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let p = parse_datetime(s)?;
    civil_to_timestamp(&p.civil, p.offset?, p.precision)
}

/// Like [`parse_rfc3339`], but a date-time without offset is read in `zone`.
pub fn parse_datetime_in(s: &str, zone: &TimeZone) -> Option<Timestamp> {
    let p = parse_datetime(s)?;
    match p.offset {
        Some(off) => civil_to_timestamp(&p.civil, off, p.precision),
        None => zone.local_to_utc(&p.civil, p.precision),
    }
}

/// Month from its English three-letter abbreviation, any case.
/// `Jan`..`Dec` (any case) at the start of `b`.
pub(crate) fn month_from_abbr(b: &[u8]) -> Option<u32> {
    let m = match b.get(..3)? {
        [a, b, c] => [a | 0x20, b | 0x20, c | 0x20],
        _ => return None,
    };
    Some(match &m {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// NGINX `$time_local` (also Apache's `%t` content): `22/Nov/2026:10:00:00 +0100`, exactly.
pub fn parse_nginx_time(b: &[u8]) -> Option<Timestamp> {
    if b.len() != 26 {
        return None;
    }
    let seps = (
        b.get(2)?,
        b.get(6)?,
        b.get(11)?,
        b.get(14)?,
        b.get(17)?,
        b.get(20)?,
    );
    if seps != (&b'/', &b'/', &b':', &b':', &b':', &b' ') {
        return None;
    }
    let civil = CivilTime {
        day: digits::<2>(b)?,
        month: month_from_abbr(b.get(3..)?)?,
        year: digits::<4>(b.get(7..)?)? as i32,
        hour: digits::<2>(b.get(12..)?)?,
        minute: digits::<2>(b.get(15..)?)?,
        second: digits::<2>(b.get(18..)?)?,
        nanos: 0,
    };
    let offset = parse_offset(b.get(21..)?)?;
    civil_to_timestamp(&civil, offset, 0)
}

/// Below this an integer epoch is read as seconds: 1e11 s is the year 5138, while 1e11 ms is
/// only 1973, so the ranges of plausible values per unit do not overlap.
const SECONDS_BELOW: u64 = 100_000_000_000;
const MILLIS_BELOW: u64 = SECONDS_BELOW * 1000;
const MICROS_BELOW: u64 = MILLIS_BELOW * 1000;

/// Digits of the unit a whole-number epoch of this magnitude is in (0 s, 3 ms, 6 µs, 9 ns).
fn epoch_unit_digits(magnitude: u64) -> u8 {
    if magnitude < SECONDS_BELOW {
        0
    } else if magnitude < MILLIS_BELOW {
        3
    } else if magnitude < MICROS_BELOW {
        6
    } else {
        9
    }
}

fn pow10(n: u8) -> i64 {
    10i64.pow(n as u32)
}

/// An integer Unix epoch whose unit (s, ms, µs, ns) is told by its magnitude.
pub fn from_epoch_int(v: i64) -> Option<Timestamp> {
    let unit = epoch_unit_digits(v.unsigned_abs());
    let nanos = v.checked_mul(pow10(9 - unit))?;
    Some(Timestamp::from_nanos(nanos, unit))
}

/// A fractional Unix epoch, unit by magnitude as for [`from_epoch_int`]. An `f64` carries about
/// 16 significant digits, so the result is kept to microseconds; [`parse_epoch_decimal`] is
/// exact when the text of the number is at hand.
pub fn from_epoch_float(v: f64) -> Option<Timestamp> {
    if !v.is_finite() {
        return None;
    }
    let unit = epoch_unit_digits(v.abs().min(u64::MAX as f64) as u64);
    let nanos = v * pow10(9 - unit) as f64;
    if nanos.abs() >= i64::MAX as f64 {
        return None;
    }
    let nanos = nanos.round() as i64;
    // Keep microseconds: the digits below are float noise, not the source's precision.
    let nanos = (nanos as f64 / 1000.0).round() as i64 * 1000;
    Some(Timestamp::from_nanos(nanos, 6))
}

/// A decimal epoch written as text (`1700000000`, `1700000000.123456789`, `-1.5`, `1.7e9`),
/// unit by magnitude of the integer part. Plain decimals are read exactly; the fraction's digit
/// count becomes the precision.
pub fn parse_epoch_decimal(s: &str) -> Option<Timestamp> {
    parse_epoch_in(s, None)
}

/// How a configured time field is written (`timestamp_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// RFC 3339 / ISO 8601 text, or an epoch number whose unit its magnitude tells.
    #[default]
    Auto,
    /// RFC 3339 / ISO 8601 text only.
    Rfc3339,
    /// Epoch seconds (a fraction gives sub-second precision).
    #[value(name = "unix")]
    Unix,
    /// Epoch milliseconds.
    #[value(name = "unix_ms")]
    UnixMs,
    /// Epoch microseconds.
    #[value(name = "unix_us")]
    UnixUs,
    /// Epoch nanoseconds.
    #[value(name = "unix_ns")]
    UnixNs,
}

impl TimestampFormat {
    /// Fraction digits of one unit of an epoch format; `None` for the others.
    pub fn epoch_unit(self) -> Option<u8> {
        match self {
            TimestampFormat::Unix => Some(0),
            TimestampFormat::UnixMs => Some(3),
            TimestampFormat::UnixUs => Some(6),
            TimestampFormat::UnixNs => Some(9),
            TimestampFormat::Auto | TimestampFormat::Rfc3339 => None,
        }
    }
}

/// A decimal epoch in a given unit (fraction digits of one unit: 0 s, 3 ms, 6 µs, 9 ns), or,
/// with `None`, the unit its magnitude tells.
pub fn parse_epoch_in(s: &str, unit: Option<u8>) -> Option<Timestamp> {
    let b = s.as_bytes();
    let (neg, body) = match b.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, b),
    };
    let int_len = body.iter().take_while(|c| c.is_ascii_digit()).count();
    let (int_part, after) = body.split_at(int_len);
    let frac = match after {
        [] => &[][..],
        [b'.', f @ ..] if !f.is_empty() && f.iter().all(u8::is_ascii_digit) => f,
        // Exponents are rare in epochs: not worth an exact reader, f64 is close enough.
        _ if after.iter().any(|c| matches!(c, b'e' | b'E')) => {
            let v = s.parse::<f64>().ok()?;
            return match unit {
                None => from_epoch_float(v),
                Some(u) => {
                    let nanos = v * pow10(9 - u.min(9)) as f64;
                    (nanos.is_finite() && nanos.abs() < i64::MAX as f64)
                        .then(|| Timestamp::from_nanos(nanos.round() as i64, u.min(9)))
                }
            };
        }
        _ => return None,
    };
    if int_part.is_empty() || int_part.len() > 19 {
        return None;
    }
    let mut int: u64 = 0;
    for &c in int_part {
        int = int.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    let unit = unit
        .map(|u| u.min(9))
        .unwrap_or_else(|| epoch_unit_digits(int));
    // Total nanoseconds: the integer part scaled by its unit, plus the fraction of one unit.
    let scale = pow10(9 - unit) as u64;
    let mut frac_nanos: u64 = 0;
    let mut place = scale;
    for &c in frac.iter().take((9 - unit) as usize) {
        place /= 10;
        frac_nanos += (c - b'0') as u64 * place;
    }
    let total = int.checked_mul(scale)?.checked_add(frac_nanos)?;
    let total = i64::try_from(total).ok()?;
    let nanos = if neg { -total } else { total };
    let precision = (unit as usize + frac.len()).min(9) as u8;
    Some(Timestamp::from_nanos(nanos, precision))
}

/// The zone local times without an offset are read in (`ParserOptions.timezone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeZone {
    #[default]
    Utc,
    /// Seconds east of UTC.
    Fixed(i32),
    Named(chrono_tz::Tz),
}

impl TimeZone {
    /// `UTC` (or `Z`, `GMT`), `+HH:MM` / `-HH:MM` (also `+HHMM`, `+HH`), or an IANA name such as
    /// `Europe/Berlin`.
    pub fn parse(s: &str) -> Result<TimeZone, String> {
        let t = s.trim();
        if ["utc", "z", "gmt"]
            .iter()
            .any(|u| t.eq_ignore_ascii_case(u))
        {
            return Ok(TimeZone::Utc);
        }
        if t.starts_with(['+', '-']) {
            return match parse_offset(t.as_bytes()) {
                Some(0) => Ok(TimeZone::Utc),
                Some(secs) => Ok(TimeZone::Fixed(secs)),
                None => Err(format!(
                    "invalid timezone offset `{t}`: expected `+HH:MM` or `-HH:MM` within ±18:00"
                )),
            };
        }
        t.parse::<chrono_tz::Tz>().map(TimeZone::Named).map_err(|_| {
            format!("unknown timezone `{t}`: expected `UTC`, `+HH:MM`, or an IANA name like `Europe/Berlin`")
        })
    }

    /// The zone configured for a parser; UTC when none is.
    pub fn from_options(options: &ParserOptions) -> Result<TimeZone, String> {
        match options.timezone.as_deref() {
            None => Ok(TimeZone::Utc),
            Some(s) => TimeZone::parse(s),
        }
    }

    /// The instant a wall-clock time of this zone names. Around DST changes a repeated hour is
    /// read as its first occurrence, and a time inside a skipped hour with the offset in force
    /// before the change (so it lands just after the gap), as `date` and most loggers do.
    pub fn local_to_utc(&self, local: &CivilTime, precision: u8) -> Option<Timestamp> {
        match self {
            TimeZone::Utc => civil_to_timestamp(local, 0, precision),
            TimeZone::Fixed(off) => civil_to_timestamp(local, *off, precision),
            TimeZone::Named(tz) => {
                if !is_valid_civil(local) {
                    return None;
                }
                // chrono has no `:60`; the offset of the second before is the same one.
                let naive = chrono::NaiveDate::from_ymd_opt(local.year, local.month, local.day)?
                    .and_hms_opt(local.hour, local.minute, local.second.min(59))?;
                let offset = match tz.offset_from_local_datetime(&naive) {
                    chrono::LocalResult::Single(o) => o.fix(),
                    chrono::LocalResult::Ambiguous(earliest, _) => earliest.fix(),
                    chrono::LocalResult::None => {
                        // Transitions are never a day apart, so a day earlier the old offset holds.
                        let before = naive.checked_sub_signed(chrono::TimeDelta::days(1))?;
                        tz.offset_from_utc_datetime(&before).fix()
                    }
                };
                civil_to_timestamp(local, offset.local_minus_utc(), precision)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(s: &str) -> String {
        parse_rfc3339(s)
            .unwrap_or_else(|| panic!("{s} should parse"))
            .to_rfc3339()
    }

    fn civil(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> CivilTime {
        CivilTime {
            year: y,
            month: mo,
            day: d,
            hour: h,
            minute: mi,
            second: s,
            nanos: 0,
        }
    }

    #[test]
    fn rfc3339_offsets_and_fractions() {
        assert_eq!(rfc("2026-11-22T10:00:00Z"), "2026-11-22T10:00:00.000Z");
        assert_eq!(rfc("2026-11-22T10:00:00+01:00"), "2026-11-22T09:00:00.000Z");
        assert_eq!(rfc("2026-11-22T10:00:00-0530"), "2026-11-22T15:30:00.000Z");
        assert_eq!(rfc("2026-11-22 10:00:00.5+02"), "2026-11-22T08:00:00.500Z");
        assert_eq!(rfc("2026-11-22t10:00:00z"), "2026-11-22T10:00:00.000Z");
        assert_eq!(
            rfc("2026-11-22T10:00:00.123456Z"),
            "2026-11-22T10:00:00.123456Z"
        );
        assert_eq!(
            rfc("2026-11-22T10:00:00.123456789123Z"),
            "2026-11-22T10:00:00.123456789Z"
        );
        assert_eq!(rfc("2026-01-01T00:30:00+01:00"), "2025-12-31T23:30:00.000Z");
        let t = parse_rfc3339("2026-11-22T10:00:00.1234Z").unwrap();
        assert_eq!(t.precision, 4);
        assert_eq!(parse_rfc3339("2026-11-22T10:00:00Z").unwrap().precision, 0);
    }

    #[test]
    fn rfc3339_rejects_bad_input() {
        for s in [
            "",
            "2026-11-22",
            "2026-11-22T10:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T10:60:00Z",
            "2026-11-22T10:00:61Z",
            "2026-11-22T10:00:00.Z",
            "2026-11-22T10:00:00+1:00",
            "2026-11-22T10:00:00+01:60",
            "2026-11-22T10:00:00+25:00",
            "2026-11-22T10:00:00Zjunk",
            "2026/11/22T10:00:00Z",
            "２０２６-11-22T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("1900-02-29T00:00:00Z").is_none());
        // A leap second is accepted and lands on the next minute.
        assert_eq!(rfc("2016-12-31T23:59:60Z"), "2017-01-01T00:00:00.000Z");
    }

    #[test]
    fn python_comma_fraction_and_zone_for_naive_times() {
        let p = parse_datetime("2026-11-22 10:00:00,250").unwrap();
        assert_eq!(p.offset, None);
        assert_eq!(p.precision, 3);
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        let t = parse_datetime_in("2026-11-22 10:00:00,250", &berlin).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T09:00:00.250Z");
        let t = parse_datetime_in("2026-07-01T10:00:00", &berlin).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-07-01T08:00:00.000Z");
        // An explicit offset beats the zone.
        let t = parse_datetime_in("2026-07-01T10:00:00Z", &berlin).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-07-01T10:00:00.000Z");
    }

    #[test]
    fn nginx_time() {
        let t = parse_nginx_time(b"22/Nov/2026:10:00:00 +0100").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T09:00:00.000Z");
        assert_eq!(t.precision, 0);
        let t = parse_nginx_time(b"01/jan/2027:00:30:00 -0800").unwrap();
        assert_eq!(t.to_rfc3339(), "2027-01-01T08:30:00.000Z");
        for s in [
            &b"22/Nov/2026:10:00:00"[..],
            b"22/Nov/2026:10:00:00 +01:00",
            b"32/Nov/2026:10:00:00 +0100",
            b"31/Nov/2026:10:00:00 +0100",
            b"22/Now/2026:10:00:00 +0100",
            b"22/Nov/2026:24:00:00 +0100",
            b"22/Nov/2026 10:00:00 +0100",
            b"22/Nov/2026:10:00:00 0100 ",
            b"2a/Nov/2026:10:00:00 +0100",
        ] {
            assert_eq!(parse_nginx_time(s), None, "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn epochs_by_magnitude() {
        let s = from_epoch_int(1_700_000_000).unwrap();
        assert_eq!(s.to_rfc3339(), "2023-11-14T22:13:20.000Z");
        assert_eq!(s.precision, 0);
        let ms = from_epoch_int(1_700_000_000_123).unwrap();
        assert_eq!(ms.to_rfc3339(), "2023-11-14T22:13:20.123Z");
        let us = from_epoch_int(1_700_000_000_123_456).unwrap();
        assert_eq!(us.to_rfc3339(), "2023-11-14T22:13:20.123456Z");
        let ns = from_epoch_int(1_700_000_000_123_456_789).unwrap();
        assert_eq!(ns.to_rfc3339(), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(
            from_epoch_int(-1).unwrap().to_rfc3339(),
            "1969-12-31T23:59:59.000Z"
        );
        assert!(from_epoch_int(i64::MIN).is_some());
        assert!(from_epoch_int(i64::MAX).is_some());

        let f = from_epoch_float(1_700_000_000.25).unwrap();
        assert_eq!(f.to_rfc3339(), "2023-11-14T22:13:20.250000Z");
        let f = from_epoch_float(1_700_000_000_123.5).unwrap();
        assert_eq!(f.to_rfc3339(), "2023-11-14T22:13:20.123500Z");
        assert_eq!(from_epoch_float(f64::NAN), None);
        assert_eq!(from_epoch_float(1e300), None);

        let d = parse_epoch_decimal("1700000000.123456789").unwrap();
        assert_eq!(d.to_rfc3339(), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(d.precision, 9);
        let d = parse_epoch_decimal("1700000000.5").unwrap();
        assert_eq!(d.precision, 1);
        assert_eq!(d.to_rfc3339(), "2023-11-14T22:13:20.500Z");
        let d = parse_epoch_decimal("1700000000123.25").unwrap();
        assert_eq!(d.to_rfc3339(), "2023-11-14T22:13:20.123250Z");
        let d = parse_epoch_decimal("-1.5").unwrap();
        assert_eq!(d.to_rfc3339(), "1969-12-31T23:59:58.500Z");
        let d = parse_epoch_decimal("1.7e9").unwrap();
        assert_eq!(d.unix_seconds(), 1_700_000_000);
        for s in ["", "-", "abc", "1.", ".5", "1x", "99999999999999999999999"] {
            assert_eq!(parse_epoch_decimal(s), None, "{s}");
        }
    }

    #[test]
    fn zones() {
        assert_eq!(TimeZone::parse("UTC"), Ok(TimeZone::Utc));
        assert_eq!(TimeZone::parse("+00:00"), Ok(TimeZone::Utc));
        assert_eq!(TimeZone::parse("+05:30"), Ok(TimeZone::Fixed(19_800)));
        assert_eq!(TimeZone::parse("-0800"), Ok(TimeZone::Fixed(-28_800)));
        assert!(TimeZone::parse("+25:00").is_err());
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert_eq!(
            TimeZone::from_options(&ParserOptions::default()),
            Ok(TimeZone::Utc)
        );

        let ist = TimeZone::parse("+05:30").unwrap();
        let t = ist.local_to_utc(&civil(2026, 11, 22, 10, 0, 0), 0).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T04:30:00.000Z");

        let ny = TimeZone::parse("America/New_York").unwrap();
        let t = ny.local_to_utc(&civil(2026, 1, 15, 12, 0, 0), 0).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-15T17:00:00.000Z");
        // 2026-11-01 01:30 happens twice in New York: the first (EDT) is taken.
        let t = ny.local_to_utc(&civil(2026, 11, 1, 1, 30, 0), 0).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-01T05:30:00.000Z");
        // 2026-03-08 02:30 does not exist there: read with EST, it is 03:30 EDT.
        let t = ny.local_to_utc(&civil(2026, 3, 8, 2, 30, 0), 0).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-08T07:30:00.000Z");
        assert_eq!(ny.local_to_utc(&civil(2026, 2, 30, 0, 0, 0), 0), None);
    }
}
