//! RFC 5424 messages: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
//!
//! The header is read as the RFC writes it, one space between fields and `-` (NILVALUE) for an
//! absent one. Two tolerances, both of things senders do in practice and that cannot be misread:
//! a TIMESTAMP with more than six fraction digits (read up to nanoseconds), and an unescaped `]`
//! inside a quoted PARAM-VALUE. Anything else that breaks the grammar is an error, so a
//! malformed message is flagged rather than indexed with shifted fields.

use std::borrow::Cow;

use nom::bytes::complete::{tag, take_till1, take_while1};
use nom::IResult;

use super::{as_str, proc_id, Cursor, Input, Message};
use crate::event::{span_value, FieldName, Value};
use crate::parse::timestamp::{parse_datetime_in, TimeZone};
use crate::parse::ParseError;

/// The NILVALUE: the field has no value.
const NIL: &[u8] = b"-";

/// SD-ELEMENTs plus parameters one message may carry. Repeated names are found by a linear
/// search, and a hostile line must not make that quadratic; real senders stay far below.
pub const MAX_SD_PARAMS: usize = 512;

/// A header field: everything up to the next space.
fn field(i: Input<'_>) -> IResult<Input<'_>, Input<'_>> {
    take_till1(|b| b == b' ')(i)
}

fn space(i: Input<'_>) -> IResult<Input<'_>, Input<'_>> {
    tag(" ")(i)
}

/// SD-NAME: printable US-ASCII except `=`, space, `]` and `"`.
fn sd_name(i: Input<'_>) -> IResult<Input<'_>, Input<'_>> {
    take_while1(|b: u8| (33..=126).contains(&b) && !matches!(b, b'=' | b']' | b'"'))(i)
}

/// The inside of a quoted PARAM-VALUE and whether it holds backslash escapes (RFC 5424
/// escapes `"`, `\\` and `]`; a backslash before anything else is kept by the caller).
fn param_value(i: Input<'_>) -> IResult<Input<'_>, (Input<'_>, bool)> {
    crate::parse::backslash_quoted(i)
}

/// Undoes the three escapes RFC 5424 defines (`\"`, `\\`, `\]`). A backslash before any other
/// character is kept with it, as the RFC says a receiver must.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(k) = rest.find('\\') {
        let (before, from_backslash) = rest.split_at_checked(k).unwrap_or((rest, ""));
        out.push_str(before);
        let after = from_backslash.get(1..).unwrap_or_default();
        match after.as_bytes().first() {
            Some(&e @ (b'"' | b'\\' | b']')) => {
                out.push(char::from(e));
                rest = after.get(1..).unwrap_or_default();
            }
            _ => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Adds a parameter to an SD element's object; a repeated name (RFC 5424 allows them) turns
/// the value into an array so nothing is lost.
fn add_param(params: &mut Vec<(FieldName, Value)>, name: &str, value: Value) {
    match params.iter_mut().find(|(n, _)| n == name) {
        Some((_, Value::Array(items))) => items.push(value),
        Some((_, existing)) => {
            let first = std::mem::replace(existing, Value::Null);
            *existing = Value::Array(vec![first, value]);
        }
        None => params.push((Cow::Owned(name.to_owned()), value)),
    }
}

fn count_sd_item(c: &Cursor<'_>, count: &mut usize) -> Result<(), ParseError> {
    *count += 1;
    if *count > MAX_SD_PARAMS {
        return Err(ParseError::new(format!(
            "syslog: RFC 5424: more than {MAX_SD_PARAMS} STRUCTURED-DATA parameters at byte {}",
            c.pos()
        )));
    }
    Ok(())
}

/// One `[SD-ID *(SP SD-PARAM)]`, merged into `sd`. An SD-ID must not repeat within a message,
/// but when one does its parameters join the first element's, which keeps the object's keys
/// unique (Elasticsearch refuses duplicate keys).
fn sd_element(
    c: &mut Cursor<'_>,
    sd: &mut Vec<(FieldName, Value)>,
    count: &mut usize,
) -> Result<(), ParseError> {
    c.expect(tag("["), "`[` opening an SD-ELEMENT")?;
    let id = c.expect(sd_name, "an SD-ID after `[`")?;
    let id = as_str(id);
    let index = match sd.iter().position(|(n, _)| n == id) {
        Some(k) => k,
        None => {
            sd.push((Cow::Owned(id.to_owned()), Value::Object(Vec::new())));
            sd.len() - 1
        }
    };
    let mut params = match sd.get_mut(index) {
        Some((_, Value::Object(p))) => std::mem::take(p),
        _ => Vec::new(),
    };
    loop {
        if c.rest.first() == Some(&b']') {
            c.rest = c.rest.get(1..).unwrap_or_default();
            break;
        }
        c.expect(space, "a space or `]` in an SD-ELEMENT")?;
        count_sd_item(c, count)?;
        let name = c.expect(sd_name, "a PARAM-NAME")?;
        c.expect(tag("="), "`=` after the PARAM-NAME")?;
        let (value, escaped) = c.expect(param_value, "a quoted PARAM-VALUE")?;
        let text = as_str(value);
        let value = if escaped {
            Value::owned_str(unescape(text))
        } else {
            let span = c.span(value);
            span_value(span.start, span.end)
        };
        add_param(&mut params, as_str(name), value);
    }
    if let Some((_, slot)) = sd.get_mut(index) {
        *slot = Value::Object(params);
    }
    Ok(())
}

/// STRUCTURED-DATA: `-`, or one or more SD-ELEMENTs with nothing between them.
fn structured_data(c: &mut Cursor<'_>) -> Result<Option<Vec<(FieldName, Value)>>, ParseError> {
    match c.rest.first() {
        Some(b'-') => {
            c.rest = c.rest.get(1..).unwrap_or_default();
            Ok(None)
        }
        Some(b'[') => {
            let mut sd = Vec::new();
            let mut count = 0;
            while c.rest.first() == Some(&b'[') {
                // Elements count too: `[a][b][c]...` also grows the SD-ID search.
                count_sd_item(c, &mut count)?;
                sd_element(c, &mut sd, &mut count)?;
            }
            Ok(Some(sd))
        }
        _ => Err(c.error("STRUCTURED-DATA (`-` or `[SD-ID ...]`)")),
    }
}

/// Reads the message after `<PRI>`; `c.rest` starts at VERSION.
pub(crate) fn parse(
    c: &mut Cursor<'_>,
    priority: u8,
    zone: &TimeZone,
) -> Result<Message, ParseError> {
    c.expect(tag("1 "), "VERSION `1` and a space")?;
    let mut m = Message {
        priority: Some(priority),
        version: Some(1),
        ..Message::default()
    };

    let ts_at = c.pos();
    let ts = c.expect(field, "TIMESTAMP (RFC 3339 or `-`)")?;
    if ts != NIL {
        // RFC 5424 requires an offset; one without is read in the configured zone rather than
        // refused, since the time itself is still right for that sender.
        m.timestamp = Some(parse_datetime_in(as_str(ts), zone).ok_or_else(|| {
            let shown = ts.get(..40).unwrap_or(ts);
            ParseError::new(format!(
                "syslog: RFC 5424: invalid TIMESTAMP `{}` at byte {ts_at}: expected RFC 3339 such as `2026-11-22T10:00:00.123Z` or `-`",
                String::from_utf8_lossy(shown)
            ))
        })?);
    }
    c.expect(space, "a space after TIMESTAMP")?;
    let host = c.expect(field, "HOSTNAME or `-`")?;
    m.hostname = (host != NIL).then(|| c.span(host));
    c.expect(space, "a space after HOSTNAME")?;
    let app = c.expect(field, "APP-NAME or `-`")?;
    m.app_name = (app != NIL).then(|| c.span(app));
    c.expect(space, "a space after APP-NAME")?;
    let procid = c.expect(field, "PROCID or `-`")?;
    if procid != NIL {
        m.proc_id = proc_id(c, procid);
    }
    c.expect(space, "a space after PROCID")?;
    let msgid = c.expect(field, "MSGID or `-`")?;
    m.msg_id = (msgid != NIL).then(|| c.span(msgid));
    c.expect(space, "a space after MSGID")?;
    m.structured_data = structured_data(c)?;

    if c.rest.is_empty() {
        m.msg = c.span(c.rest);
        return Ok(m);
    }
    c.expect(
        space,
        "a space or the end of the line after STRUCTURED-DATA",
    )?;
    m.msg = c.msg();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_priority, fail, parse};
    use crate::event::{Text, Value};
    use crate::parse::test_support::{doc, int, s, ts};

    // The four examples of RFC 5424, section 6.5 (BOM as the bytes it stands for).

    #[test]
    fn rfc_example_1_no_structured_data() {
        let line = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8";
        let e = parse(line);
        assert_priority(&e, 34, "auth", "critical");
        assert_eq!(int(&e, "log.syslog.version"), Some(1));
        assert_eq!(ts(&e).as_deref(), Some("2003-10-11T22:14:15.003Z"));
        assert_eq!(e.timestamp.map(|t| t.precision), Some(3));
        assert_eq!(s(&e, "host.hostname"), Some("mymachine.example.com"));
        assert_eq!(s(&e, "process.name"), Some("su"));
        assert!(e.get("process.pid").is_none());
        assert!(e.get("log.syslog.procid").is_none());
        assert_eq!(s(&e, "log.syslog.msgid"), Some("ID47"));
        assert!(e.get("log.syslog.structured_data").is_none());
        assert_eq!(
            s(&e, "message"),
            Some("'su root' failed for lonvick on /dev/pts/8")
        );
        assert!(matches!(
            e.get("message"),
            Some(Value::Str(Text::Span { .. }))
        ));
    }

    #[test]
    fn rfc_example_2_offset_and_microseconds() {
        let e = parse("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.");
        assert_priority(&e, 165, "local4", "notice");
        assert_eq!(ts(&e).as_deref(), Some("2003-08-24T12:14:15.000003Z"));
        assert_eq!(e.timestamp.map(|t| t.precision), Some(6));
        assert_eq!(s(&e, "host.hostname"), Some("192.0.2.1"));
        assert_eq!(s(&e, "process.name"), Some("myproc"));
        assert_eq!(int(&e, "process.pid"), Some(8710));
        assert!(e.get("log.syslog.msgid").is_none());
        assert_eq!(s(&e, "message"), Some("%% It's time to make the do-nuts."));
    }

    #[test]
    fn rfc_example_3_structured_data_and_msg() {
        let e = parse("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] \u{feff}An application event log entry...");
        assert_eq!(s(&e, "message"), Some("An application event log entry..."));
        let d = doc(&e);
        assert_eq!(
            d["log"]["syslog"]["structured_data"],
            serde_json::json!({"exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}})
        );
        // Unescaped values are spans of the line; only the names are owned.
        match e.get("log.syslog.structured_data") {
            Some(Value::Object(sd)) => match sd.first() {
                Some((_, Value::Object(params))) => {
                    assert!(params
                        .iter()
                        .all(|(_, v)| matches!(v, Value::Str(Text::Span { .. }))));
                }
                other => panic!("{other:?}"),
            },
            other => panic!("structured_data is not an object: {other:?}"),
        }
    }

    #[test]
    fn rfc_example_4_structured_data_only() {
        let line = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]";
        let e = parse(line);
        // No MSG: the document keeps the line as its message.
        assert_eq!(s(&e, "message"), Some(line));
        let d = doc(&e);
        let sd = &d["log"]["syslog"]["structured_data"];
        assert_eq!(sd["examplePriority@32473"]["class"], "high");
        assert_eq!(sd["exampleSDID@32473"]["eventID"], "1011");
        // The SD-IDs keep their order of appearance.
        let keys: Vec<&String> = sd.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn nilvalue_everywhere() {
        let e = parse("<14>1 - - - - - -");
        assert_priority(&e, 14, "user", "informational");
        assert_eq!(e.timestamp, None);
        for name in [
            "host.hostname",
            "process.name",
            "process.pid",
            "log.syslog.procid",
            "log.syslog.msgid",
            "log.syslog.structured_data",
        ] {
            assert!(e.get(name).is_none(), "{name}");
        }
        assert_eq!(s(&e, "message"), Some("<14>1 - - - - - -"));
        let e = parse("<14>1 - - - - - -\r\n");
        assert_eq!(s(&e, "message"), Some("<14>1 - - - - - -"));
        let e = parse("<14>1 - - - - - - restarted without clock\r\n");
        assert_eq!(s(&e, "message"), Some("restarted without clock"));
        // A single space after STRUCTURED-DATA and nothing else: an empty MSG.
        let e = parse("<14>1 - - - - - - ");
        assert_eq!(s(&e, "message"), Some("<14>1 - - - - - - "));
    }

    #[test]
    fn escapes_in_param_values() {
        let line = r#"<134>1 2026-11-22T00:05:00Z api-01 app 1 - [meta note="a \"quoted\" word, a \\ backslash, a \] bracket" path="C:\temp\x" plain="ok" raw="a]b"] done"#;
        let e = parse(line);
        let d = doc(&e);
        let meta = &d["log"]["syslog"]["structured_data"]["meta"];
        assert_eq!(
            meta["note"],
            r#"a "quoted" word, a \ backslash, a ] bracket"#
        );
        // Backslashes before other characters are kept, as RFC 5424 asks.
        assert_eq!(meta["path"], r"C:\temp\x");
        assert_eq!(meta["plain"], "ok");
        // An unescaped `]` inside quotes cannot end the element; it is taken as written.
        assert_eq!(meta["raw"], "a]b");
        assert_eq!(s(&e, "message"), Some("done"));
        assert_eq!(super::unescape(r#"\"\\\]\a\"#), r#""\]\a\"#);
        // Values are UTF-8 and may hold anything once escaped; names are US-ASCII only.
        let e = parse("<134>1 2026-11-22T00:05:00Z h a - - [x v=\"Grüße \\\"🚀\\\"\"] m");
        assert_eq!(
            doc(&e)["log"]["syslog"]["structured_data"]["x"]["v"],
            "Grüße \"🚀\""
        );
        let err = fail("<134>1 2026-11-22T00:05:00Z h a - - [ünï] m");
        assert!(
            err.ends_with("expected an SD-ID after `[` at byte 37"),
            "{err}"
        );
    }

    #[test]
    fn repeated_params_and_elements() {
        let e = parse(
            r#"<134>1 2026-11-22T00:05:00Z h a - - [r v="1" v="2" v="3" w="x"][empty@1][o ip="10.0.0.3"][o software="rsyslogd"] m"#,
        );
        let d = doc(&e);
        let sd = &d["log"]["syslog"]["structured_data"];
        assert_eq!(sd["r"]["v"], serde_json::json!(["1", "2", "3"]));
        assert_eq!(sd["r"]["w"], "x");
        assert_eq!(sd["empty@1"], serde_json::json!({}));
        // A repeated SD-ID is merged, so the object has no duplicate keys.
        assert_eq!(
            sd["o"],
            serde_json::json!({"ip": "10.0.0.3", "software": "rsyslogd"})
        );
        let text = crate::event::json::to_json_string(&e, Default::default());
        assert_eq!(text.matches("\"o\":").count(), 1, "{text}");
    }

    #[test]
    fn too_many_parameters_is_an_error_not_a_stall() {
        // One element and its parameters make exactly the limit.
        let many: String = (1..super::MAX_SD_PARAMS)
            .map(|k| format!(" p{k}=\"v\""))
            .collect();
        let e = parse(&format!("<13>1 - h a - - [x{many}] m"));
        assert!(e.get("log.syslog.structured_data").is_some());
        let err = fail(&format!("<13>1 - h a - - [x{many}][y z=\"1\"] m"));
        assert!(
            err.starts_with("syslog: RFC 5424: more than 512 STRUCTURED-DATA parameters"),
            "{err}"
        );
        let elements = "[e]".repeat(super::MAX_SD_PARAMS + 1);
        assert!(fail(&format!("<13>1 - h a - - {elements} m")).contains("more than 512"));
    }

    #[test]
    fn procid_numeric_or_not() {
        let e = parse("<86>1 2026-11-21T22:21:00.5Z web-02 CRON worker-7 - - closed");
        assert_eq!(s(&e, "log.syslog.procid"), Some("worker-7"));
        assert!(e.get("process.pid").is_none());
        assert_eq!(e.timestamp.map(|t| t.precision), Some(1));
        // Too large for an integer: kept as text rather than lost.
        let e = parse("<86>1 - h a 99999999999999999999 - - x");
        assert_eq!(s(&e, "log.syslog.procid"), Some("99999999999999999999"));
        let e = parse("<86>1 - h a 0 - - x");
        assert_eq!(int(&e, "process.pid"), Some(0));
    }

    #[test]
    fn timestamps_precision_and_offsets() {
        let cases = [
            ("2026-11-22T10:00:00Z", "2026-11-22T10:00:00.000Z", 0),
            ("2026-11-22T10:00:00.1+05:30", "2026-11-22T04:30:00.100Z", 1),
            (
                "2026-11-22T10:00:00.123456-00:00",
                "2026-11-22T10:00:00.123456Z",
                6,
            ),
            // Nine digits are beyond RFC 5424 but sent by Go and Java loggers.
            (
                "2026-11-22T10:00:00.123456789Z",
                "2026-11-22T10:00:00.123456789Z",
                9,
            ),
            ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000Z", 0),
        ];
        for (written, utc, precision) in cases {
            let e = parse(&format!("<13>1 {written} h a - - - m"));
            assert_eq!(ts(&e).as_deref(), Some(utc), "{written}");
            assert_eq!(e.timestamp.map(|t| t.precision), Some(precision));
        }
    }

    #[test]
    fn real_world_senders() {
        // rsyslog forwarding with its origin and timeQuality elements.
        let e = parse(
            r#"<30>1 2026-11-21T22:12:00.104233Z web-02 nginx 1432 - [origin ip="10.0.0.3" software="rsyslogd" swVersion="8.2312.0"][timeQuality tzKnown="1" isSynced="1"] worker process 1433 exited with code 0"#,
        );
        assert_priority(&e, 30, "daemon", "informational");
        let d = doc(&e);
        assert_eq!(
            d["log"]["syslog"]["structured_data"]["origin"]["ip"],
            "10.0.0.3"
        );
        assert_eq!(
            d["log"]["syslog"]["structured_data"]["timeQuality"]["isSynced"],
            "1"
        );
        assert_eq!(d["message"], "worker process 1433 exited with code 0");
        // Docker's syslog driver (rfc5424micro), kernel facility, emergency severity.
        let e = parse("<0>1 2026-11-22T01:00:00.000001Z node-3 d41f3a9c2e1b 2817 d41f3a9c2e1b - panic: runtime error");
        assert_priority(&e, 0, "kern", "emergency");
        assert_eq!(s(&e, "log.syslog.msgid"), Some("d41f3a9c2e1b"));
        assert_eq!(s(&e, "message"), Some("panic: runtime error"));
        // MSG with spaces kept as written, inner and trailing.
        let e = parse("<191>1 - h a - - -   indented  ");
        assert_priority(&e, 191, "local7", "debug");
        assert_eq!(s(&e, "message"), Some("  indented  "));
    }

    #[test]
    fn malformed_messages_are_errors() {
        let cases = [
            (
                "<13>1 2026-11-22T10:00:00Z host app",
                "a space after APP-NAME at byte 35",
            ),
            (
                "<13>1 2026-11-22T10:00:00Z host app 1 -",
                "a space after MSGID at byte 39",
            ),
            (
                "<13>1 2026-11-22T10:00:00Z host app 1 - ",
                "STRUCTURED-DATA (`-` or `[SD-ID ...]`) at byte 40",
            ),
            (
                "<13>1 2026-11-22T10:00:00Z  host app 1 - - m",
                "HOSTNAME or `-` at byte 27",
            ),
            (
                "<13>1 - h a 1 - [a b=\"c\"",
                "a space or `]` in an SD-ELEMENT at byte 24",
            ),
            (
                "<13>1 - h a 1 - [a b=c] m",
                "a quoted PARAM-VALUE at byte 21",
            ),
            (
                "<13>1 - h a 1 - [a b] m",
                "`=` after the PARAM-NAME at byte 20",
            ),
            (
                "<13>1 - h a 1 - [ b=\"c\"] m",
                "an SD-ID after `[` at byte 17",
            ),
            (
                "<13>1 - h a 1 - [a b=\"c\"]x",
                "a space or the end of the line after STRUCTURED-DATA at byte 25",
            ),
            (
                "<13>1 - h a 1 - -x",
                "a space or the end of the line after STRUCTURED-DATA at byte 17",
            ),
            ("<13>1 - h a 1 - {} m", "STRUCTURED-DATA"),
            (
                "<13>1 - h a 1 - [a b=\"unterminated] m",
                "a quoted PARAM-VALUE",
            ),
        ];
        for (line, expected) in cases {
            let err = fail(line);
            assert!(err.starts_with("syslog: RFC 5424: "), "{line}: {err}");
            assert!(err.contains(expected), "{line}: {err}");
        }
        // After the space that ends STRUCTURED-DATA, brackets are MSG text.
        let e = parse("<13>1 - h a 1 - [a b=\"c\"] [d] m");
        assert_eq!(s(&e, "message"), Some("[d] m"));
        for line in [
            "<13>1 2026-13-01T00:00:00Z h a - - - m",
            "<13>1 2026-11-22T10:00:00+25:00 h a - - - m",
            "<13>1 22/Nov/2026:10:00:00 h a - - - m",
            "<13>1 yesterday h a - - - m",
        ] {
            let err = fail(line);
            assert!(
                err.starts_with("syslog: RFC 5424: invalid TIMESTAMP `"),
                "{line}: {err}"
            );
            assert!(
                err.ends_with(
                    "at byte 6: expected RFC 3339 such as `2026-11-22T10:00:00.123Z` or `-`"
                ),
                "{err}"
            );
        }
    }
}
