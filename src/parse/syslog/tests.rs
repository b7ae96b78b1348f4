//! Tests of the whole parser: helpers shared with the per-format tests, documents, the fixture
//! file, and property tests over both formats.

use super::*;
use crate::event::json::{to_json_string, DocumentOptions};
use crate::event::{RecordOrigin, PARSE_FAILURE_TAG};
use crate::parse::test_support::{doc, int, s, ts};
use crate::parse::timestamp::parse_rfc3339;
use proptest::prelude::*;

/// "Now" of most tests: the end of the fixture's time range.
pub(super) const NOW: &str = "2026-11-22T02:00:00Z";

pub(super) fn at(now: &str) -> Clock {
    match parse_rfc3339(now) {
        Some(t) => Clock::Fixed(t),
        None => panic!("bad test clock {now}"),
    }
}

pub(super) fn parser_at(now: &str) -> SyslogParser {
    SyslogParser::default().with_clock(at(now))
}

pub(super) fn parse_with(line: &str, parser: &SyslogParser) -> Event {
    let mut e = Event::new(line.to_string(), RecordOrigin::default());
    if let Err(err) = parser.parse(&mut e) {
        panic!("{line:?} should parse: {err}");
    }
    e
}

pub(super) fn parse(line: &str) -> Event {
    parse_with(line, &parser_at(NOW))
}

pub(super) fn fail(line: &str) -> String {
    let mut e = Event::new(line.to_string(), RecordOrigin::default());
    match parser_at(NOW).parse(&mut e) {
        Ok(()) => panic!("{line:?} should not parse: {:?}", e.fields),
        Err(err) => {
            assert!(e.fields.is_empty(), "a failed parse wrote {:?}", e.fields);
            err.0.into_owned()
        }
    }
}

/// Asserts the priority fields all at once, with their types.
pub(super) fn assert_priority(e: &Event, pri: i64, facility: &str, severity: &str) {
    assert_eq!(int(e, "log.syslog.priority"), Some(pri));
    assert_eq!(int(e, "log.syslog.facility.code"), Some(pri / 8));
    assert_eq!(int(e, "log.syslog.severity.code"), Some(pri % 8));
    assert_eq!(s(e, "log.syslog.facility.name"), Some(facility));
    assert_eq!(s(e, "log.syslog.severity.name"), Some(severity));
    assert_eq!(s(e, "log.level"), Some(severity));
    for name in [
        "log.syslog.facility.name",
        "log.syslog.severity.name",
        "log.level",
    ] {
        assert!(
            matches!(e.get(name), Some(Value::Str(Text::Static(_)))),
            "{name} should be static text"
        );
    }
}

pub(super) fn assert_no_priority(e: &Event) {
    for name in [
        "log.syslog.priority",
        "log.syslog.facility.code",
        "log.syslog.facility.name",
        "log.syslog.severity.code",
        "log.syslog.severity.name",
        "log.level",
        "log.syslog.version",
    ] {
        assert!(e.get(name).is_none(), "{name} should be absent");
    }
}

fn run_like_worker(line: &str, parser: &SyslogParser) -> Event {
    let mut e = Event::new(line.to_string(), RecordOrigin::default());
    e.push("event.dataset", Value::Str(Text::Static("system.syslog")));
    e.push("host.name", Value::owned_str("collector-1"));
    if let Err(err) = parser.parse(&mut e) {
        e.mark_parse_failure(err.0);
    }
    e
}

#[test]
fn registration_builds_with_zone_and_rejects_foreign_options() {
    let p = crate::parse::build("syslog", &ParserOptions::default()).unwrap();
    assert_eq!(p.dataset(), "system.syslog");
    assert!(!p.joins_lines());
    let opts = ParserOptions {
        timezone: Some("Europe/Berlin".into()),
        ..ParserOptions::default()
    };
    let p = crate::parse::build("syslog", &opts).unwrap();
    let mut e = Event::new(
        "<13>Nov 22 2026 10:00:00 host app: x".into(),
        RecordOrigin::default(),
    );
    p.parse(&mut e).unwrap();
    assert_eq!(ts(&e).as_deref(), Some("2026-11-22T09:00:00.000Z"));

    let opts = ParserOptions {
        log_format: Some("$remote_addr".into()),
        ..ParserOptions::default()
    };
    let err = crate::parse::build("syslog", &opts).unwrap_err();
    assert!(
        err.contains("`log_format` is not an option of the `syslog` parser"),
        "{err}"
    );
    let opts = ParserOptions {
        timezone: Some("Mars/Olympus".into()),
        ..ParserOptions::default()
    };
    assert!(crate::parse::build("syslog", &opts).is_err());
}

#[test]
fn facility_and_severity_tables() {
    assert_eq!(facility_name(0), Some("kern"));
    assert_eq!(facility_name(4), Some("auth"));
    assert_eq!(facility_name(10), Some("authpriv"));
    assert_eq!(facility_name(16), Some("local0"));
    assert_eq!(facility_name(23), Some("local7"));
    assert_eq!(facility_name(24), None);
    assert_eq!(severity_name(0), Some("emergency"));
    assert_eq!(severity_name(6), Some("informational"));
    assert_eq!(severity_name(7), Some("debug"));
    assert_eq!(severity_name(8), None);
    // Every PRI from 0 to 191 maps to names; the bounds are the bounds.
    for pri in 0..=191u8 {
        let e = parse(&format!("<{pri}>1 - - - - - - x"));
        assert_eq!(int(&e, "log.syslog.priority"), Some(i64::from(pri)));
        assert!(s(&e, "log.syslog.facility.name").is_some());
        assert!(s(&e, "log.level").is_some());
    }
    assert!(fail("<192>1 - - - - - - x").contains("out of range"));
}

#[test]
fn priority_errors_say_what_is_wrong() {
    let err = fail("<999>1 2026-11-22T10:00:00Z host app - - - x");
    assert_eq!(
        err,
        "syslog: priority <999> at byte 0 is out of range: PRI is 0 to 191 (facility * 8 + severity)"
    );
    for line in ["<abc>hello", "<>hello", "<13", "<1234>x", "<-1>x", "< 13>x"] {
        let err = fail(line);
        assert!(
            err.starts_with("syslog: RFC 3164: expected `<PRI>`"),
            "{line}: {err}"
        );
    }
    assert_eq!(fail("\u{feff}"), "syslog: empty message");
    assert_eq!(fail("  \r\n"), "syslog: empty message");
    // Leading zeros are tolerated (some relays pad the priority).
    assert_priority(&parse("<013>Nov 22 01:00:00 h a: x"), 13, "user", "notice");
}

#[test]
fn document_shape() {
    let line = r#"<165>1 2026-11-22T00:14:15.003+01:00 mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Application"][examplePriority@32473 class="high"] An application event"#;
    let e = parse(line);
    let d = doc(&e);
    assert_eq!(d["@timestamp"], "2026-11-21T23:14:15.003Z");
    assert_eq!(d["message"], "An application event");
    assert_eq!(
        d["log"]["syslog"],
        serde_json::json!({
            "priority": 165,
            "facility": {"code": 20, "name": "local4"},
            "severity": {"code": 5, "name": "notice"},
            "version": 1,
            "msgid": "ID47",
            "structured_data": {
                "exampleSDID@32473": {"iut": "3", "eventSource": "Application"},
                "examplePriority@32473": {"class": "high"}
            }
        })
    );
    assert_eq!(d["log"]["level"], "notice");
    assert_eq!(d["host"]["hostname"], "mymachine.example.com");
    assert_eq!(
        d["process"],
        serde_json::json!({"name": "evntslog", "pid": 8710})
    );
}

#[test]
fn header_fields_are_spans_without_structured_data() {
    // Zero-copy: no owned strings on the hot path of either format.
    for line in [
        "<38>1 2026-11-22T01:00:00.123456Z web-02 sshd 31020 - - Accepted publickey for deploy",
        "<38>Nov 22 01:00:00 web-02 sshd[31020]: Accepted publickey for deploy",
        "2026-11-22T01:00:00.123456+00:00 web-02 sshd[31020]: Accepted publickey for deploy",
    ] {
        let e = parse(line);
        for (name, v) in &e.fields {
            assert!(
                !matches!(
                    v,
                    Value::Str(Text::Owned(_)) | Value::Object(_) | Value::Array(_)
                ),
                "{line}: {name} allocates: {v:?}"
            );
        }
        assert_eq!(s(&e, "message"), Some("Accepted publickey for deploy"));
        assert_eq!(s(&e, "host.hostname"), Some("web-02"));
        assert_eq!(s(&e, "process.name"), Some("sshd"));
        assert_eq!(int(&e, "process.pid"), Some(31020));
    }
}

#[test]
fn failures_leave_nothing_behind() {
    // The header is read (host, app) before the structured data fails: none of it may stay,
    // least of all `host.hostname`, which `mark_parse_failure` would keep as a context field.
    let line = r#"<134>1 2026-11-22T00:00:00Z api-01 checkout-api 2817 - [meta id="x" broken"#;
    let e = run_like_worker(line, &parser_at(NOW));
    assert!(e.has_tag(PARSE_FAILURE_TAG));
    assert!(e.get("host.hostname").is_none());
    assert!(e.get("process.name").is_none());
    assert_eq!(e.timestamp, None);
    assert_eq!(s(&e, "host.name"), Some("collector-1"));
    assert_eq!(s(&e, "message"), Some(line));
    assert_eq!(
        s(&e, "error.message"),
        Some("syslog: RFC 5424: expected `=` after the PARAM-NAME at byte 74")
    );
    let d = doc(&e);
    assert_eq!(d["tags"], serde_json::json!(["_parse_failure"]));
}

const FIXTURE: &str = include_str!("../../../fixtures/syslog/syslog.log");
/// Line numbers (1-based) of the fixture's malformed lines; fixtures/README.md lists them.
const FIXTURE_MALFORMED: [usize; 7] = [41, 44, 46, 49, 59, 64, 68];

#[test]
fn fixture_file() {
    let parser = parser_at(NOW);
    let lines: Vec<&str> = FIXTURE.lines().collect();
    assert_eq!(lines.len(), 80);
    let mut failed = Vec::new();
    let (mut rfc5424, mut with_pri, mut without_pri) = (0, 0, 0);
    let start = parse_rfc3339("2026-11-21T22:00:00Z").unwrap();
    let end = parse_rfc3339("2026-11-22T02:00:00Z").unwrap();
    for (k, line) in lines.iter().enumerate() {
        let e = run_like_worker(line, &parser);
        let d = doc(&e);
        if e.has_tag(PARSE_FAILURE_TAG) {
            failed.push(k + 1);
            assert_eq!(d["message"], *line);
            continue;
        }
        if e.get("log.syslog.version").is_some() {
            rfc5424 += 1;
        } else if e.get("log.syslog.priority").is_some() {
            with_pri += 1;
        } else {
            without_pri += 1;
        }
        assert!(
            d["message"].as_str().is_some_and(|m| !m.is_empty()),
            "line {}: {d}",
            k + 1
        );
        if let Some(t) = e.timestamp {
            assert!(t >= start && t <= end, "line {}: {}", k + 1, t.to_rfc3339());
        }
    }
    assert_eq!(failed, FIXTURE_MALFORMED);
    assert_eq!((rfc5424, with_pri, without_pri), (16, 20, 37));

    let e = parse(lines[16]);
    assert_eq!(
        s(&e, "message"),
        Some("backend api has no server available!")
    );
    let d = doc(&e);
    assert_eq!(
        d["log"]["syslog"]["structured_data"]["meta"]["note"],
        r#"queue "full" at ] 95%"#
    );
    assert_eq!(ts(&e).as_deref(), Some("2026-11-21T22:20:31.250Z"));
    let e = parse(lines[55]);
    assert_eq!(
        s(&e, "message"),
        Some("message with a byte order mark and no tag")
    );
    let e = parse(lines[56]);
    assert_eq!(s(&e, "process.name"), Some("logger"));
    assert_eq!(ts(&e).as_deref(), Some("2026-11-21T23:10:00.000Z"));
}

/// Characters RFC 5424 PARAM-VALUEs may hold, escapes-to-be included.
fn param_value() -> impl Strategy<Value = String> {
    "(\\PC|[\"\\\\\\]])*".prop_map(|s| s.chars().take(12).collect())
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        if matches!(ch, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A message text: anything printable, not empty, without the trailing line-end bytes a
/// reader would strip.
fn msg_text() -> impl Strategy<Value = String> {
    "\\PC{1,60}"
}

prop_compose! {
    fn rfc5424_line()(
        pri in 0u8..=191,
        secs in 0i64..4_000_000_000,
        micros in 0u32..1_000_000,
        host in "[a-z][a-z0-9.-]{0,20}",
        app in "[A-Za-z][A-Za-z0-9_./-]{0,20}",
        pid in proptest::option::of(0i64..10_000_000),
        msgid in proptest::option::of("[A-Z][A-Z0-9_]{0,10}"),
        sd in proptest::collection::vec(("[a-z]{1,8}@[0-9]{1,5}", proptest::collection::vec(("[a-z]{1,8}", param_value()), 0..4)), 0..3),
        msg in msg_text(),
    ) -> (String, u8, i64, String, String, Option<i64>, Vec<(String, Vec<(String, String)>)>, String) {
        let t = Timestamp::from_unix(secs, micros * 1000, 6).unwrap_or(Timestamp { nanos: 0, precision: 6 });
        let sd_text = if sd.is_empty() {
            "-".to_string()
        } else {
            sd.iter()
                .map(|(id, params)| {
                    let p: String = params.iter().map(|(n, v)| format!(" {n}=\"{}\"", escape(v))).collect();
                    format!("[{id}{p}]")
                })
                .collect()
        };
        let line = format!(
            "<{pri}>1 {} {host} {app} {} {} {sd_text} {msg}",
            t.to_rfc3339(),
            pid.map_or("-".to_string(), |p| p.to_string()),
            msgid.unwrap_or_else(|| "-".to_string()),
        );
        (line, pri, t.nanos, host, app, pid, sd, msg)
    }
}

prop_compose! {
    fn rfc3164_line()(
        pri in proptest::option::of(0u8..=191),
        day_offset in 0i64..300,
        second_of_day in 0i64..86_400,
        host in proptest::option::of("[a-z][a-z0-9.-]{0,15}"),
        tag in "[A-Za-z][A-Za-z0-9_./-]{0,15}",
        pid in proptest::option::of(0i64..10_000_000),
        iso in any::<bool>(),
        msg in msg_text(),
    ) -> (String, Option<u8>, i64, Option<String>, String, Option<i64>, String) {
        // Times up to 300 days before "now", so the inferred year is the one written.
        let now = parse_rfc3339(NOW).map_or(0, |t| t.unix_seconds());
        let secs = now - day_offset * 86_400 - second_of_day;
        let t = Timestamp::from_unix(secs, 0, 0).unwrap_or(Timestamp { nanos: 0, precision: 0 });
        let c = t.civil();
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let stamp = if iso {
            format!("{}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00", c.year, c.month, c.day, c.hour, c.minute, c.second)
        } else {
            format!("{} {:>2} {:02}:{:02}:{:02}", MONTHS[(c.month - 1) as usize], c.day, c.hour, c.minute, c.second)
        };
        let pri_text = pri.map_or(String::new(), |p| format!("<{p}>"));
        let host_text = host.as_ref().map_or(String::new(), |h| format!("{h} "));
        let pid_text = pid.map_or(String::new(), |p| format!("[{p}]"));
        let line = format!("{pri_text}{stamp} {host_text}{tag}{pid_text}: {msg}");
        (line, pri, t.nanos, host, tag, pid, msg)
    }
}

proptest! {
    #![proptest_config(crate::parse::test_support::proptest_config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let line = String::from_utf8_lossy(&bytes).into_owned();
        let e = run_like_worker(&line, &parser_at(NOW));
        let d = to_json_string(&e, DocumentOptions::default());
        prop_assert!(serde_json::from_str::<serde_json::Value>(&d).is_ok(), "{}", d);
        if e.has_tag(PARSE_FAILURE_TAG) {
            prop_assert_eq!(e.get_str("message"), Some(line.as_str()));
        }
    }

    #[test]
    fn syslog_like_text_never_panics(
        line in r#"(<[0-9]{1,3}>)?(1 )?[-0-9TZ:.+ ]{0,30}[A-Za-z0-9 \[\]"=\\:.\-]{0,60}"#
    ) {
        let e = run_like_worker(&line, &parser_at(NOW));
        let d = to_json_string(&e, DocumentOptions::default());
        prop_assert!(serde_json::from_str::<serde_json::Value>(&d).is_ok(), "{}", d);
        if e.has_tag(PARSE_FAILURE_TAG) {
            prop_assert_eq!(e.get_str("message"), Some(line.as_str()));
        }
    }

    #[test]
    fn rfc5424_round_trips((line, pri, nanos, host, app, pid, sd, msg) in rfc5424_line()) {
        let e = parse(&line);
        prop_assert_eq!(int(&e, "log.syslog.priority"), Some(i64::from(pri)));
        prop_assert_eq!(int(&e, "log.syslog.version"), Some(1));
        prop_assert_eq!(e.timestamp.map(|t| t.nanos), Some(nanos));
        prop_assert_eq!(s(&e, "host.hostname"), Some(host.as_str()));
        prop_assert_eq!(s(&e, "process.name"), Some(app.as_str()));
        prop_assert_eq!(int(&e, "process.pid"), pid);
        prop_assert_eq!(s(&e, "message"), Some(msg.as_str()));
        let d = doc(&e);
        for (id, params) in &sd {
            let element = &d["log"]["syslog"]["structured_data"][id.as_str()];
            prop_assert!(element.is_object(), "{} missing in {}", id, d);
            for (name, value) in params {
                let got = &element[name.as_str()];
                let found = got == value
                    || got.as_array().is_some_and(|a| a.iter().any(|v| v == value));
                prop_assert!(found, "{}.{}: {:?} not in {}", id, name, value, got);
            }
        }
    }

    #[test]
    fn rfc3164_round_trips((line, pri, nanos, host, tag, pid, msg) in rfc3164_line()) {
        let e = parse(&line);
        match pri {
            Some(p) => prop_assert_eq!(int(&e, "log.syslog.priority"), Some(i64::from(p))),
            None => prop_assert!(e.get("log.syslog.priority").is_none()),
        }
        prop_assert!(e.get("log.syslog.version").is_none());
        prop_assert_eq!(e.timestamp.map(|t| t.nanos), Some(nanos));
        prop_assert_eq!(s(&e, "host.hostname"), host.as_deref());
        prop_assert_eq!(s(&e, "process.name"), Some(tag.as_str()));
        prop_assert_eq!(int(&e, "process.pid"), pid);
        prop_assert_eq!(s(&e, "message"), Some(msg.as_str()));
    }
}
