//! Event time: UTC nanoseconds plus the precision the source gave, so a timestamp with
//! microseconds is written back with microseconds and one with seconds gets milliseconds
//! (DESIGN.md: RFC 3339 with milliseconds or better).
//!
//! Formatting is hand-written (days-to-civil arithmetic) because it runs once per event on the
//! serialization path, where chrono's generic formatter costs more than the rest of the document.

/// Nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub nanos: i64,
    /// Fraction digits the source carried (0..=9); output uses at least 3.
    pub precision: u8,
}

/// Calendar parts of a UTC time, for index names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    pub fn from_nanos(nanos: i64, precision: u8) -> Timestamp {
        Timestamp {
            nanos,
            precision: precision.min(9),
        }
    }

    pub fn from_unix(secs: i64, nanos: u32, precision: u8) -> Option<Timestamp> {
        let n = secs.checked_mul(NANOS_PER_SEC)?.checked_add(nanos as i64)?;
        Some(Timestamp::from_nanos(n, precision))
    }

    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_nanos(d.as_nanos().min(i64::MAX as u128) as i64, 6)
    }

    pub fn unix_seconds(&self) -> i64 {
        self.nanos.div_euclid(NANOS_PER_SEC)
    }

    pub fn civil(&self) -> CivilTime {
        let secs = self.unix_seconds();
        let sub = self.nanos.rem_euclid(NANOS_PER_SEC) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            nanos: sub,
        }
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.fffZ` (3, 6 or 9 fraction digits).
    pub fn write_rfc3339(&self, out: &mut Vec<u8>) {
        let c = self.civil();
        if (0..=9999).contains(&c.year) {
            push_digits(out, c.year as u32, 4);
        } else {
            // Outside what RFC 3339 can say; keep the value visible rather than wrap.
            out.extend_from_slice(c.year.to_string().as_bytes());
        }
        out.push(b'-');
        push_digits(out, c.month, 2);
        out.push(b'-');
        push_digits(out, c.day, 2);
        out.push(b'T');
        push_digits(out, c.hour, 2);
        out.push(b':');
        push_digits(out, c.minute, 2);
        out.push(b':');
        push_digits(out, c.second, 2);
        out.push(b'.');
        match self.precision {
            0..=3 => push_digits(out, c.nanos / 1_000_000, 3),
            4..=6 => push_digits(out, c.nanos / 1_000, 6),
            _ => push_digits(out, c.nanos, 9),
        }
        out.push(b'Z');
    }

    pub fn to_rfc3339(&self) -> String {
        let mut v = Vec::with_capacity(32);
        self.write_rfc3339(&mut v);
        String::from_utf8(v).unwrap_or_default()
    }
}

fn push_digits(out: &mut Vec<u8>, mut v: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for i in (0..width).rev() {
        out[start + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

/// (year, month, day) to days since 1970-01-01; the inverse of [`civil_from_days`].
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_source_precision() {
        let t = Timestamp::from_unix(1_700_000_000, 123_456_789, 0).unwrap();
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123Z");
        let t = Timestamp::from_unix(1_700_000_000, 123_456_789, 6).unwrap();
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123456Z");
        let t = Timestamp::from_unix(1_700_000_000, 123_456_789, 9).unwrap();
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123456789Z");
    }

    #[test]
    fn before_epoch_and_leap_days() {
        let t = Timestamp::from_unix(-1, 0, 0).unwrap();
        assert_eq!(t.to_rfc3339(), "1969-12-31T23:59:59.000Z");
        let days = days_from_civil(2024, 2, 29);
        assert_eq!(civil_from_days(days), (2024, 2, 29));
        assert_eq!(civil_from_days(days + 1), (2024, 3, 1));
    }

    #[test]
    fn civil_roundtrip_over_centuries() {
        for d in (-800_000..800_000).step_by(997) {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
