//! RFC 3164 ("BSD syslog") messages and the variants found in practice:
//! `[<PRI>]TIMESTAMP [HOSTNAME] [TAG[PID]:] MSG`.
//!
//! RFC 3164 describes what senders did rather than prescribing it, so this reader accepts what
//! they still do:
//!
//! - `Mmm dd hh:mm:ss` with the day space-padded (`Nov  2`) or not, optionally with a year after
//!   the day (`Nov 22 2026 10:00:00`) and fractional seconds (`10:00:00.123`); or an RFC 3339
//!   time in its place (rsyslog's high-precision file format);
//! - no HOSTNAME (a local `logger`): the first token is a tag when it ends with `:` or carries
//!   `[pid]`, otherwise it is the host;
//! - `TAG[PID]:`, `TAG:` and no tag at all (the rest is the message), tag names with `/`, `.`
//!   and `-` (`postfix/smtpd`, `org.gnome.Shell.desktop`);
//! - `<PRI>` followed directly by the message (Cisco IOS with sequence numbers, `logger`
//!   without a header): kept as the message, without a timestamp;
//! - a timestamp followed by `:` (Cisco ASA): the rest is the message.
//!
//! A line without `<PRI>` must start with a timestamp: that is how a syslog file line is told
//! from anything else, so one that does not is an error.
//!
//! BSD timestamps have no year and no zone. They are local time in the configured zone, and the
//! year is the one that puts the time closest before "now" (allowing a month of clock skew), so
//! December lines read in January land in the year they were written.

use nom::branch::alt;
use nom::bytes::complete::{tag, take, take_till, take_till1, take_while_m_n};
use nom::character::complete::digit1;
use nom::combinator::opt;
use nom::error::{Error as NomError, ErrorKind};
use nom::sequence::{delimited, preceded, terminated};
use nom::{IResult, Parser as _};

use super::{as_str, proc_id, Clock, Cursor, Input, Message};
use crate::event::timestamp::CivilTime;
use crate::event::Timestamp;
use crate::parse::timestamp::{is_valid_civil, parse_datetime_in, TimeZone};
use crate::parse::ParseError;

/// How far after "now" a timestamp without a year may lie: senders' clocks drift and relays
/// queue, but a line is never a month ahead of its reader; beyond that it is from a year before.
const FUTURE_WINDOW_NANOS: i64 = 31 * 86_400 * 1_000_000_000;

/// Years searched back for a date that exists (`Feb 29`): leap years are at most 8 years apart
/// (across 2100).
const MAX_YEARS_BACK: i32 = 8;

/// A BSD timestamp as written, before a year and a zone make it an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BsdTime {
    pub month: u32,
    pub day: u32,
    pub year: Option<i32>,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
    /// Fraction digits written (0 without a fraction).
    pub precision: u8,
}

impl BsdTime {
    fn civil(&self, year: i32) -> CivilTime {
        CivilTime {
            year,
            month: self.month,
            day: self.day,
            hour: self.hour,
            minute: self.minute,
            second: self.second,
            nanos: self.nanos,
        }
    }

    /// The instant this names: its own year if written, else the inferred one.
    pub fn resolve(&self, zone: &TimeZone, clock: &Clock) -> Option<Timestamp> {
        match self.year {
            Some(year) => zone.local_to_utc(&self.civil(year), self.precision),
            None => infer_year(self, zone, clock.now()),
        }
    }
}

/// The latest year in which `t` exists and is not more than [`FUTURE_WINDOW_NANOS`] after
/// `now`: a `Dec 31` line read on Jan 2 is from last year, a `Jan 1` line read on Dec 31 from
/// next year, and a `Feb 29` line from the last leap year that fits.
pub fn infer_year(t: &BsdTime, zone: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let limit = now.nanos.saturating_add(FUTURE_WINDOW_NANOS);
    let this_year = now.civil().year;
    for year in (this_year - MAX_YEARS_BACK..=this_year + 1).rev() {
        let civil = t.civil(year);
        if !is_valid_civil(&civil) {
            continue;
        }
        match zone.local_to_utc(&civil, t.precision) {
            Some(ts) if ts.nanos <= limit => return Some(ts),
            _ => {}
        }
    }
    None
}

fn nom_fail<T>(i: Input<'_>) -> IResult<Input<'_>, T> {
    Err(nom::Err::Error(NomError::new(i, ErrorKind::Verify)))
}

fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

fn number(d: Input<'_>) -> u32 {
    d.iter()
        .fold(0u32, |acc, &b| acc * 10 + u32::from(b.wrapping_sub(b'0')))
}

fn two_digits(i: Input<'_>) -> IResult<Input<'_>, u32> {
    take_while_m_n(2, 2, is_digit).map(number).parse(i)
}

/// English month abbreviation, any case (BSD writes `Nov`; some devices `NOV`).
fn month(i: Input<'_>) -> IResult<Input<'_>, u32> {
    let (rest, m) = take(3usize)(i)?;
    match crate::parse::timestamp::month_from_abbr(m) {
        Some(n) => Ok((rest, n)),
        None => nom_fail(i),
    }
}

/// `Mmm dd [yyyy ]hh:mm:ss[.f…]`: the shape only; whether the date exists is checked when it
/// is resolved, so `Feb 30` is reported as an invalid time rather than as "no timestamp".
pub fn bsd_time(i: Input<'_>) -> IResult<Input<'_>, BsdTime> {
    let (i, month) = month(i)?;
    // `Nov  2` (space-padded, as the RFC writes it), `Nov 2` and `Nov 02` all occur.
    let (i, _) = take_while_m_n(1, 2, |b| b == b' ')(i)?;
    let (i, day) = take_while_m_n(1, 2, is_digit).map(number).parse(i)?;
    let (i, _) = tag(" ")(i)?;
    let (i, year) = opt(terminated(take_while_m_n(4, 4, is_digit), tag(" "))).parse(i)?;
    let (i, hour) = two_digits(i)?;
    let (i, _) = tag(":")(i)?;
    let (i, minute) = two_digits(i)?;
    let (i, _) = tag(":")(i)?;
    let (i, second) = two_digits(i)?;
    let (i, frac) = opt(preceded(alt((tag("."), tag(","))), digit1)).parse(i)?;
    let (nanos, precision) = match frac {
        Some(f) => fraction(f),
        None => (0, 0),
    };
    Ok((
        i,
        BsdTime {
            month,
            day,
            year: year.map(|y| number(y) as i32),
            hour,
            minute,
            second,
            nanos,
            precision,
        },
    ))
}

/// Fraction digits to nanoseconds; digits beyond the ninth are cut, not rounded.
fn fraction(f: Input<'_>) -> (u32, u8) {
    let mut nanos = 0u32;
    for k in 0..9 {
        nanos = nanos * 10 + f.get(k).map_or(0, |b| u32::from(b.wrapping_sub(b'0')));
    }
    (nanos, f.len().min(9) as u8)
}

/// The `YYYY-MM-DDT` a token must start with to be read as an RFC 3339 timestamp.
fn iso_prefix(i: Input<'_>) -> IResult<Input<'_>, ()> {
    let (i, _) = take_while_m_n(4, 4, is_digit)(i)?;
    let (i, _) = tag("-")(i)?;
    let (i, _) = two_digits(i)?;
    let (i, _) = tag("-")(i)?;
    let (i, _) = two_digits(i)?;
    let (i, _) = alt((tag("T"), tag("t"))).parse(i)?;
    Ok((i, ()))
}

/// How the header starts.
enum Start<'a> {
    Bsd(BsdTime),
    /// An RFC 3339 token (not yet validated).
    Iso(Input<'a>),
}

/// What follows the timestamp.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// A space or the end: host and tag may follow.
    Header,
    /// `: ` (Cisco ASA without a device id): the message follows.
    Message,
}

/// A timestamp at the start of `i`, ending at a space, `: ` or the end of the line.
fn timestamp_start(i: Input<'_>) -> Option<(Input<'_>, Start<'_>, After)> {
    let (rest, start) = if let Ok((rest, t)) = bsd_time(i) {
        (rest, Start::Bsd(t))
    } else if iso_prefix(i).is_ok() {
        let (rest, token) = take_till::<_, _, NomError<Input<'_>>>(|b| b == b' ')(i).ok()?;
        // A colon straight after the time (`...+01:00:`) belongs to the ASA form, not the zone.
        match token.strip_suffix(b":") {
            Some(t) => (i.get(t.len()..)?, Start::Iso(t)),
            None => (rest, Start::Iso(token)),
        }
    } else {
        return None;
    };
    match rest {
        [] | [b' ', ..] => Some((rest, start, After::Header)),
        [b':', msg @ ..] if msg.is_empty() => Some((msg, start, After::Message)),
        [b':', b' ', msg @ ..] => Some((msg, start, After::Message)),
        _ => None,
    }
}

/// `name[pid]:`, `name:` or `name[pid]`, followed by a space or the end of the line. Returns
/// the name and the pid's text, the rest starting after the space.
fn tag_token(i: Input<'_>) -> IResult<Input<'_>, (Input<'_>, Option<Input<'_>>)> {
    let (i, name) = take_till1(|b| matches!(b, b'[' | b']' | b':' | b' '))(i)?;
    let (i, pid) = opt(delimited(
        tag("["),
        take_till(|b| b == b']' || b == b' '),
        tag("]"),
    ))
    .parse(i)?;
    let (i, colon) = opt(tag(":")).parse(i)?;
    if pid.is_none() && colon.is_none() {
        return nom_fail(i);
    }
    match i {
        [] => Ok((i, (name, pid))),
        [b' ', rest @ ..] => Ok((rest, (name, pid))),
        _ => nom_fail(i),
    }
}

fn skip_spaces(b: Input<'_>) -> Input<'_> {
    let n = b.iter().take_while(|c| **c == b' ').count();
    b.get(n..).unwrap_or_default()
}

/// Reads the message after `<PRI>` (or from the start when there is none).
pub(crate) fn parse(
    c: &mut Cursor<'_>,
    priority: Option<u8>,
    zone: &TimeZone,
    clock: &Clock,
) -> Result<Message, ParseError> {
    let mut m = Message {
        priority,
        ..Message::default()
    };
    let ts_at = c.pos();
    let Some((rest, start, after)) = timestamp_start(c.rest) else {
        if priority.is_none() {
            return Err(c.error("`<PRI>` or a timestamp (`Mmm dd hh:mm:ss` or RFC 3339)"));
        }
        // `<PRI>` and then no header: all of it is the message.
        m.msg = c.msg();
        return Ok(m);
    };
    let timestamp = match start {
        Start::Bsd(t) => t.resolve(zone, clock),
        Start::Iso(token) => parse_datetime_in(as_str(token), zone),
    };
    let Some(timestamp) = timestamp else {
        let written = c
            .rest
            .get(..c.rest.len().saturating_sub(rest.len()))
            .unwrap_or_default();
        let written = String::from_utf8_lossy(written.get(..40).unwrap_or(written));
        return Err(ParseError::new(format!(
            "syslog: RFC 3164: invalid timestamp `{}` at byte {ts_at}: no such date or time",
            written.trim_end_matches([' ', ':'])
        )));
    };
    m.timestamp = Some(timestamp);
    c.rest = rest;
    if after == After::Message {
        m.msg = c.msg();
        return Ok(m);
    }

    c.rest = skip_spaces(c.rest);
    // Without a host the first token is the tag; a host never ends in `:` nor holds `[pid]`.
    if let Ok((rest, (name, pid))) = tag_token(c.rest) {
        set_tag(c, &mut m, name, pid);
        c.rest = rest;
        m.msg = c.msg();
        return Ok(m);
    }
    let (rest, host) = take_till::<_, _, NomError<Input<'_>>>(|b| b == b' ')(c.rest)
        .map_err(|_| c.error("a HOSTNAME"))?;
    if !host.is_empty() {
        m.hostname = Some(c.span(host));
    }
    c.rest = skip_spaces(rest);
    if let Ok((rest, (name, pid))) = tag_token(c.rest) {
        set_tag(c, &mut m, name, pid);
        c.rest = rest;
    } else if let Some(msg) = c.rest.strip_prefix(b": ") {
        // Cisco ASA with a device id writes `host : %ASA-...`.
        c.rest = msg;
    }
    m.msg = c.msg();
    Ok(m)
}

fn set_tag<'a>(c: &Cursor<'a>, m: &mut Message, name: Input<'a>, pid: Option<Input<'a>>) {
    m.app_name = Some(c.span(name));
    m.proc_id = pid.and_then(|p| proc_id(c, p));
}

#[cfg(test)]
mod tests {
    use super::super::tests::{
        assert_no_priority, assert_priority, fail, parse, parse_with, parser_at,
    };
    use super::*;
    use crate::parse::syslog::SyslogParser;
    use crate::parse::test_support::{int, s, ts};

    /// The year a `Mmm dd hh:mm:ss` line read at `now` lands in, as UTC RFC 3339.
    fn read_at(line: &str, now: &str) -> String {
        let e = parse_with(line, &parser_at(now));
        ts(&e).unwrap_or_else(|| panic!("{line} has no timestamp"))
    }

    #[test]
    fn rfc_examples() {
        // RFC 3164, section 5.4.
        let e =
            parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
        assert_priority(&e, 34, "auth", "critical");
        assert!(e.get("log.syslog.version").is_none());
        assert_eq!(ts(&e).as_deref(), Some("2026-10-11T22:14:15.000Z"));
        assert_eq!(s(&e, "host.hostname"), Some("mymachine"));
        assert_eq!(s(&e, "process.name"), Some("su"));
        assert!(e.get("process.pid").is_none());
        assert_eq!(
            s(&e, "message"),
            Some("'su root' failed for lonvick on /dev/pts/8")
        );
        // An IP address as host, and a message without a tag.
        let e = parse("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!");
        assert_priority(&e, 13, "user", "notice");
        assert_eq!(ts(&e).as_deref(), Some("2026-02-05T17:32:18.000Z"));
        assert_eq!(s(&e, "host.hostname"), Some("10.0.0.99"));
        assert!(e.get("process.name").is_none());
        assert_eq!(s(&e, "message"), Some("Use the BFG!"));
    }

    #[test]
    fn file_lines_without_priority() {
        let cases = [
            (
                "Nov 21 22:03:16 web-01 sshd[20211]: Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2",
                "sshd", Some(20211),
                "Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2",
            ),
            (
                "Nov 21 22:05:01 web-01 CRON[20290]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
                "CRON", Some(20290),
                "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
            ),
            (
                "Nov 21 22:00:01 web-01 systemd[1]: Started Session 42 of User alice.",
                "systemd", Some(1),
                "Started Session 42 of User alice.",
            ),
            (
                "Nov 21 22:09:41 web-01 kernel: [1840223.512209] usb 1-1: new high-speed USB device number 2 using ehci-pci",
                "kernel", None,
                "[1840223.512209] usb 1-1: new high-speed USB device number 2 using ehci-pci",
            ),
            (
                "Nov 21 23:40:13 web-01 postfix/smtp[21610]: 4F2A81C0042: to=<bob@example.org>, status=sent (250 2.0.0 Ok)",
                "postfix/smtp", Some(21610),
                "4F2A81C0042: to=<bob@example.org>, status=sent (250 2.0.0 Ok)",
            ),
            (
                "Nov 21 22:11:07 web-01 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
                "sudo", None,
                "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
            ),
            (
                "Nov 21 22:11:08 web-01 org.gnome.Shell.desktop[2301]: Window manager warning: last_user_time",
                "org.gnome.Shell.desktop", Some(2301),
                "Window manager warning: last_user_time",
            ),
            (
                "Nov 21 22:11:09 web-01 systemd-logind[811]: New session 77 of user carol.",
                "systemd-logind", Some(811),
                "New session 77 of user carol.",
            ),
        ];
        for (line, app, pid, msg) in cases {
            let e = parse(line);
            assert_no_priority(&e);
            assert_eq!(s(&e, "host.hostname"), Some("web-01"), "{line}");
            assert_eq!(s(&e, "process.name"), Some(app), "{line}");
            assert_eq!(int(&e, "process.pid"), pid, "{line}");
            assert_eq!(s(&e, "message"), Some(msg), "{line}");
            assert!(ts(&e).unwrap().starts_with("2026-11-21T2"), "{line}");
        }
    }

    #[test]
    fn rsyslog_high_precision_format() {
        let e = parse("2026-11-21T23:31:10.557122+01:00 db-01 kernel: [ 2841.117320] EXT4-fs (vdb1): mounted filesystem");
        assert_no_priority(&e);
        assert_eq!(ts(&e).as_deref(), Some("2026-11-21T22:31:10.557122Z"));
        assert_eq!(e.timestamp.map(|t| t.precision), Some(6));
        assert_eq!(s(&e, "host.hostname"), Some("db-01"));
        assert_eq!(s(&e, "process.name"), Some("kernel"));
        assert_eq!(
            s(&e, "message"),
            Some("[ 2841.117320] EXT4-fs (vdb1): mounted filesystem")
        );
        // With a priority, as rsyslog's RFC 3339 forwarding template sends it.
        let e = parse("<30>2026-11-22T01:00:00Z web-02 app[7]: up");
        assert_priority(&e, 30, "daemon", "informational");
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T01:00:00.000Z"));
        assert_eq!(int(&e, "process.pid"), Some(7));
        // Without an offset the configured zone applies.
        let p = SyslogParser::new(TimeZone::parse("+02:00").unwrap())
            .with_clock(super::super::tests::at(super::super::tests::NOW));
        let e = parse_with("2026-11-22T03:00:00.5 web-02 app: up", &p);
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T01:00:00.500Z"));
    }

    #[test]
    fn missing_hostname_and_missing_tag() {
        let e = parse("<13>Nov 22 01:00:00 sshd[123]: Connection closed by 192.0.2.81 port 40212");
        assert!(e.get("host.hostname").is_none());
        assert_eq!(s(&e, "process.name"), Some("sshd"));
        assert_eq!(int(&e, "process.pid"), Some(123));
        assert_eq!(
            s(&e, "message"),
            Some("Connection closed by 192.0.2.81 port 40212")
        );
        let e = parse("<13>Nov 22 01:00:00 alice: hello from logger");
        assert!(e.get("host.hostname").is_none());
        assert_eq!(s(&e, "process.name"), Some("alice"));
        assert_eq!(s(&e, "message"), Some("hello from logger"));
        // Host and no tag: the rest is the message, whatever it holds.
        let e = parse("<13>Nov 22 01:00:00 web-01 last message repeated 3 times");
        assert_eq!(s(&e, "host.hostname"), Some("web-01"));
        assert!(e.get("process.name").is_none());
        assert_eq!(s(&e, "message"), Some("last message repeated 3 times"));
        let e = parse("<13>Nov 22 01:00:00 web-01 see http://example.com/x: done");
        assert!(e.get("process.name").is_none());
        assert_eq!(s(&e, "message"), Some("see http://example.com/x: done"));
        // `name[pid]` without the colon still names the process.
        let e = parse("<13>Nov 22 01:00:00 web-01 app[42] started");
        assert_eq!(s(&e, "process.name"), Some("app"));
        assert_eq!(int(&e, "process.pid"), Some(42));
        assert_eq!(s(&e, "message"), Some("started"));
        // A non-numeric pid is kept as the procid.
        let e = parse("<14>Nov 22 00:30:00.482 web-02 app[worker-3]: processed 120 jobs");
        assert_eq!(s(&e, "log.syslog.procid"), Some("worker-3"));
        assert!(e.get("process.pid").is_none());
        assert_eq!(e.timestamp.map(|t| t.precision), Some(3));
        // Host only, or nothing after the timestamp: the line is the message.
        let e = parse("<13>Nov 22 01:00:00 web-01");
        assert_eq!(s(&e, "host.hostname"), Some("web-01"));
        assert_eq!(s(&e, "message"), Some("<13>Nov 22 01:00:00 web-01"));
        let e = parse("Nov 22 01:00:00");
        assert_eq!(s(&e, "message"), Some("Nov 22 01:00:00"));
        assert_eq!(ts(&e).as_deref(), Some("2026-11-22T01:00:00.000Z"));
        let e = parse("<13>Nov 22 01:00:00 web-01 app:");
        assert_eq!(s(&e, "process.name"), Some("app"));
    }

    #[test]
    fn byte_order_marks() {
        let e = parse("<13>Nov 22 01:00:00 web-01 app: \u{feff}héllo wörld");
        assert_eq!(s(&e, "message"), Some("héllo wörld"));
        let e = parse("<13>Nov 22 01:00:00 web-01 \u{feff}no tag");
        assert_eq!(s(&e, "message"), Some("no tag"));
        let e = parse("\u{feff}<13>Nov 22 01:00:00 web-01 app: x");
        assert_priority(&e, 13, "user", "notice");
        assert_eq!(s(&e, "message"), Some("x"));
        let e = parse("\u{feff}Nov 22 01:00:00 web-01 app: y");
        assert_eq!(s(&e, "host.hostname"), Some("web-01"));
        let e = parse("<13>\u{feff}plain message");
        assert_eq!(s(&e, "message"), Some("plain message"));
    }

    #[test]
    fn timestamp_variants() {
        let cases = [
            ("Nov  2 08:15:00", "2026-11-02T08:15:00.000Z", 0),
            ("Nov 2 08:15:00", "2026-11-02T08:15:00.000Z", 0),
            ("Nov 02 08:15:00", "2026-11-02T08:15:00.000Z", 0),
            ("NOV 21 08:15:00", "2026-11-21T08:15:00.000Z", 0),
            ("nov 21 08:15:00.5", "2026-11-21T08:15:00.500Z", 1),
            ("Nov 21 08:15:00.123456", "2026-11-21T08:15:00.123456Z", 6),
            ("Nov 21 08:15:00,250", "2026-11-21T08:15:00.250Z", 3),
            ("Nov 21 2024 08:15:00", "2024-11-21T08:15:00.000Z", 0),
            ("Dec 24 2030 08:15:00", "2030-12-24T08:15:00.000Z", 0),
        ];
        for (stamp, utc, precision) in cases {
            for line in [
                format!(
                    "<22>{stamp} mail-01 postfix/smtpd[12345]: connect from unknown[198.51.100.7]"
                ),
                format!("{stamp} mail-01 postfix/smtpd[12345]: connect from unknown[198.51.100.7]"),
            ] {
                let e = parse(&line);
                assert_eq!(ts(&e).as_deref(), Some(utc), "{line}");
                assert_eq!(e.timestamp.map(|t| t.precision), Some(precision), "{line}");
                assert_eq!(s(&e, "host.hostname"), Some("mail-01"), "{line}");
                assert_eq!(s(&e, "process.name"), Some("postfix/smtpd"), "{line}");
                assert_eq!(s(&e, "message"), Some("connect from unknown[198.51.100.7]"));
            }
        }
    }

    #[test]
    fn local_time_in_the_configured_zone() {
        let berlin = TimeZone::parse("Europe/Berlin").unwrap();
        let p =
            SyslogParser::new(berlin).with_clock(super::super::tests::at("2026-12-31T22:40:00Z"));
        // 23:30 in Berlin on New Year's Eve is 22:30 UTC, and still this year.
        let e = parse_with("Dec 31 23:30:00 web-01 app: x", &p);
        assert_eq!(ts(&e).as_deref(), Some("2026-12-31T22:30:00.000Z"));
        // Summer time applies in July.
        let e = parse_with("Jul  1 12:00:00 web-01 app: x", &p);
        assert_eq!(ts(&e).as_deref(), Some("2026-07-01T10:00:00.000Z"));
        // An explicit offset wins over the zone.
        let e = parse_with("2026-07-01T12:00:00Z web-01 app: x", &p);
        assert_eq!(ts(&e).as_deref(), Some("2026-07-01T12:00:00.000Z"));
    }

    #[test]
    fn december_lines_read_in_january() {
        let line = "Dec 31 23:59:59 web-01 CRON[1]: (root) CMD (backup)";
        assert_eq!(
            read_at(line, "2027-01-02T08:00:00Z"),
            "2026-12-31T23:59:59.000Z"
        );
        assert_eq!(
            read_at(line, "2027-01-01T00:00:00Z"),
            "2026-12-31T23:59:59.000Z"
        );
        assert_eq!(
            read_at(line, "2026-12-31T23:59:58Z"),
            "2026-12-31T23:59:59.000Z"
        );
        // Early January read on New Year's Eve (a sender slightly ahead): next year.
        let line = "Jan  1 00:00:05 web-01 app: happy new year";
        assert_eq!(
            read_at(line, "2026-12-31T23:59:58Z"),
            "2027-01-01T00:00:05.000Z"
        );
        assert_eq!(
            read_at(line, "2027-03-15T00:00:00Z"),
            "2027-01-01T00:00:05.000Z"
        );
        // Up to a month ahead stays this year; more is last year's.
        assert_eq!(
            read_at("Dec 20 10:00:00 h a: x", NOW_NOV),
            "2026-12-20T10:00:00.000Z"
        );
        assert_eq!(
            read_at("Dec 24 10:00:00 h a: x", NOW_NOV),
            "2025-12-24T10:00:00.000Z"
        );
        assert_eq!(
            read_at("Jun  1 10:00:00 h a: x", NOW_NOV),
            "2026-06-01T10:00:00.000Z"
        );
        assert_eq!(
            read_at("Nov 22 01:59:59 h a: x", NOW_NOV),
            "2026-11-22T01:59:59.000Z"
        );
        // A year in the line is taken as written, even far away.
        assert_eq!(
            read_at("Dec 31 2019 23:59:59 h a: x", NOW_NOV),
            "2019-12-31T23:59:59.000Z"
        );
    }

    const NOW_NOV: &str = "2026-11-22T02:00:00Z";

    #[test]
    fn february_29_in_leap_and_common_years() {
        let line = "Feb 29 12:00:00 web-01 app: leap day";
        // 2028 is a leap year.
        assert_eq!(
            read_at(line, "2028-03-10T00:00:00Z"),
            "2028-02-29T12:00:00.000Z"
        );
        assert_eq!(
            read_at(line, "2028-02-10T00:00:00Z"),
            "2028-02-29T12:00:00.000Z"
        );
        // More than a month ahead: the leap year before.
        assert_eq!(
            read_at(line, "2028-01-15T00:00:00Z"),
            "2024-02-29T12:00:00.000Z"
        );
        // 2027 has no Feb 29: the latest one that existed.
        assert_eq!(
            read_at(line, "2027-03-01T00:00:00Z"),
            "2024-02-29T12:00:00.000Z"
        );
        // 2100 is not a leap year; 2096 is the one before.
        assert_eq!(
            read_at(line, "2101-01-10T00:00:00Z"),
            "2096-02-29T12:00:00.000Z"
        );
        // A written year without Feb 29 is an error, not another year.
        let err = fail("Feb 29 2027 12:00:00 web-01 app: x");
        assert_eq!(
            err,
            "syslog: RFC 3164: invalid timestamp `Feb 29 2027 12:00:00` at byte 0: no such date or time"
        );
    }

    #[test]
    fn infer_year_directly() {
        let t = BsdTime {
            month: 12,
            day: 31,
            year: None,
            hour: 23,
            minute: 0,
            second: 0,
            nanos: 0,
            precision: 0,
        };
        let now = Timestamp::from_unix(1_798_761_600, 0, 0).unwrap(); // 2027-01-01T00:00:00Z
        let got = infer_year(&t, &TimeZone::Utc, now).unwrap();
        assert_eq!(got.to_rfc3339(), "2026-12-31T23:00:00.000Z");
        let bad = BsdTime { day: 32, ..t };
        assert_eq!(infer_year(&bad, &TimeZone::Utc, now), None);
        let bad = BsdTime { hour: 24, ..t };
        assert_eq!(infer_year(&bad, &TimeZone::Utc, now), None);
    }

    #[test]
    fn cisco_and_headerless_messages() {
        // IOS with a sequence number: no header we can trust, all of it is the message.
        let line = "<189>2412: *Nov 21 22:28:11.912: %SYS-5-CONFIG_I: Configured from console by vty0 (10.0.0.5)";
        let e = parse(line);
        assert_priority(&e, 189, "local7", "notice");
        assert_eq!(e.timestamp, None);
        assert!(e.get("host.hostname").is_none());
        assert!(e.get("process.name").is_none());
        assert_eq!(s(&e, "message"), line.strip_prefix("<189>"));
        // `logger` without a header, and an empty body after PRI.
        let e = parse("<14>backup finished: 1832 files");
        assert_priority(&e, 14, "user", "informational");
        assert_eq!(s(&e, "message"), Some("backup finished: 1832 files"));
        assert_eq!(e.timestamp, None);
        let e = parse("<14>");
        assert_eq!(s(&e, "message"), Some("<14>"));
        // ASA: a timestamp with a year and a colon after it, with and without device id.
        let e =
            parse("<166>Nov 21 2026 22:29:03: %ASA-6-302013: Built inbound TCP connection 48213");
        assert_priority(&e, 166, "local4", "informational");
        assert_eq!(ts(&e).as_deref(), Some("2026-11-21T22:29:03.000Z"));
        assert!(e.get("host.hostname").is_none());
        assert_eq!(
            s(&e, "message"),
            Some("%ASA-6-302013: Built inbound TCP connection 48213")
        );
        let e = parse("<164>Nov 21 2026 22:29:05 fw-edge-01 : %ASA-4-106023: Deny tcp");
        assert_eq!(s(&e, "host.hostname"), Some("fw-edge-01"));
        assert!(e.get("process.name").is_none());
        assert_eq!(s(&e, "message"), Some("%ASA-4-106023: Deny tcp"));
        // A timestamp shape followed by junk is not a header.
        let e = parse("<13>Nov 21 22:29:05x rest");
        assert_eq!(e.timestamp, None);
        assert_eq!(s(&e, "message"), Some("Nov 21 22:29:05x rest"));
    }

    #[test]
    fn kernel_priority_zero_and_trailing_line_ends() {
        let e = parse("<4>Nov 21 23:07:13 web-02 kernel: [ 9914.220137] Out of memory: Killed process 32110\r\n");
        assert_priority(&e, 4, "kern", "warning");
        assert_eq!(s(&e, "process.name"), Some("kernel"));
        assert_eq!(
            s(&e, "message"),
            Some("[ 9914.220137] Out of memory: Killed process 32110")
        );
        let e = parse("<0>Nov 21 23:07:13 web-02 kernel: panic\0");
        assert_priority(&e, 0, "kern", "emergency");
        assert_eq!(s(&e, "message"), Some("panic"));
    }

    #[test]
    fn lines_that_are_not_syslog() {
        for line in [
            "hello world",
            "    at com.example.billing.InvoiceService.render(InvoiceService.java:118)",
            r#"{"time":"2026-11-21T23:13:00Z","msg":"json"}"#,
            "2026-11-22 10:00:00,123 INFO python logging line",
            "Nov 22 10:00 web-01 app: minutes only",
            "Foo 22 10:00:00 web-01 app: not a month",
            "22/Nov/2026:10:00:00 +0000 nginx",
        ] {
            let at = line.len() - line.trim_start().len();
            assert_eq!(
                fail(line),
                format!("syslog: RFC 3164: expected `<PRI>` or a timestamp (`Mmm dd hh:mm:ss` or RFC 3339) at byte {at}"),
                "{line}"
            );
        }
        // The ASA form needs no priority either.
        let e = parse("Nov 22 01:00:00: %ASA-6-302013: Built");
        assert_eq!(s(&e, "message"), Some("%ASA-6-302013: Built"));
        let cases = [
            (
                "Nov 31 23:30:00 web-01 app[1]: x",
                "`Nov 31 23:30:00` at byte 0",
            ),
            ("<13>Feb 30 10:00:00 h a: x", "`Feb 30 10:00:00` at byte 4"),
            ("<13>Nov 22 24:00:00 h a: x", "`Nov 22 24:00:00` at byte 4"),
            ("Nov 22 10:61:00 h a: x", "`Nov 22 10:61:00` at byte 0"),
            (
                "2026-13-01T00:00:00Z h a: x",
                "`2026-13-01T00:00:00Z` at byte 0",
            ),
            (
                "<13>2026-11-22T10:00:00+25:00 h a: x",
                "`2026-11-22T10:00:00+25:00` at byte 4",
            ),
            (
                "2026-11-22T10:00:00Zjunk h a: x",
                "`2026-11-22T10:00:00Zjunk` at byte 0",
            ),
        ];
        for (line, expected) in cases {
            let err = fail(line);
            assert!(
                err.starts_with("syslog: RFC 3164: invalid timestamp "),
                "{line}: {err}"
            );
            assert!(err.contains(expected), "{line}: {err}");
        }
    }
}
