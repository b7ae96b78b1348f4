//! `jsonlog` (PostgreSQL 15+): one JSON object per entry, keys as documented in "Using JSON-Format
//! Log Output". Keys the server leaves out when they have no value are optional here too;
//! unknown keys (a newer server's) are ignored.
//!
//! serde_json reads the object into borrowed strings: text without escapes stays a slice of the
//! line and becomes a span, so only escaped text (a multi-line statement's `\n`) is copied.

use std::borrow::Cow;

use serde::Deserialize;

use super::{
    analyze_message, bytes_value, level_value, name_value, pg_time, resolve_time, set_once,
    set_source, str_value, Record,
};
use crate::event::Value;
use crate::parse::timestamp::TimeZone;
use crate::parse::ParseError;

/// A JSON string, borrowed from the line when it holds no escapes.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// The keys of a jsonlog entry.
#[derive(Debug, Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    timestamp: Option<Str<'a>>,
    #[serde(borrow)]
    user: Option<Str<'a>>,
    #[serde(borrow)]
    dbname: Option<Str<'a>>,
    pid: Option<i64>,
    #[serde(borrow)]
    remote_host: Option<Str<'a>>,
    remote_port: Option<i64>,
    #[serde(borrow)]
    session_id: Option<Str<'a>>,
    line_num: Option<i64>,
    #[serde(borrow)]
    ps: Option<Str<'a>>,
    #[serde(borrow)]
    session_start: Option<Str<'a>>,
    #[serde(borrow)]
    vxid: Option<Str<'a>>,
    txid: Option<i64>,
    #[serde(borrow)]
    error_severity: Option<Str<'a>>,
    #[serde(borrow)]
    state_code: Option<Str<'a>>,
    #[serde(borrow)]
    message: Option<Str<'a>>,
    #[serde(borrow)]
    detail: Option<Str<'a>>,
    #[serde(borrow)]
    hint: Option<Str<'a>>,
    #[serde(borrow)]
    internal_query: Option<Str<'a>>,
    internal_position: Option<i64>,
    #[serde(borrow)]
    context: Option<Str<'a>>,
    #[serde(borrow)]
    statement: Option<Str<'a>>,
    cursor_position: Option<i64>,
    #[serde(borrow)]
    func_name: Option<Str<'a>>,
    #[serde(borrow)]
    file_name: Option<Str<'a>>,
    file_line_num: Option<i64>,
    #[serde(borrow)]
    application_name: Option<Str<'a>>,
    #[serde(borrow)]
    backend_type: Option<Str<'a>>,
    leader_pid: Option<i64>,
    query_id: Option<i64>,
}

/// A string value, a span of `raw` when it was not unescaped; `None` when empty.
fn value(raw: &str, s: Option<Str<'_>>) -> Option<Value> {
    match s?.0 {
        Cow::Borrowed("") => None,
        Cow::Borrowed(b) => Some(str_value(raw, b)),
        Cow::Owned(o) if o.is_empty() => None,
        Cow::Owned(o) => Some(Value::owned_str(o)),
    }
}

/// Text outside `raw` (unescaped into its own allocation) is copied by `name_value`.
fn name(raw: &str, s: Option<Str<'_>>) -> Option<Value> {
    name_value(raw, s?.0.as_bytes())
}

/// Reads a jsonlog object into `rec`.
pub(super) fn read(raw: &str, zone: &TimeZone, rec: &mut Record) -> Result<(), ParseError> {
    let entry: Entry<'_> = serde_json::from_str(raw)
        .map_err(|e| ParseError::new(format!("postgresql: invalid jsonlog object: {e}")))?;
    let (Some(time), Some(severity)) = (entry.timestamp, entry.error_severity) else {
        return Err(ParseError::new(
            "postgresql: a jsonlog object has `timestamp` and `error_severity`; this one lacks one",
        ));
    };
    let t = match pg_time(time.0.as_bytes()) {
        Ok((b"", t)) => t,
        _ => {
            return Err(ParseError::new(format!(
                "postgresql: jsonlog timestamp `{}` is not like `2026-11-22 10:00:00.123 UTC`",
                time.0.get(..40).unwrap_or(&time.0)
            )))
        }
    };
    let (ts, unknown) = resolve_time(&t, zone)
        .ok_or_else(|| ParseError::new("postgresql: jsonlog timestamp out of range"))?;
    rec.timestamp = Some(ts);
    rec.timezone = unknown.map(|z| bytes_value(raw, z));

    let (level, error) = level_value(severity.0.as_bytes());
    rec.level = Some(level);
    rec.error = error;

    rec.user = name(raw, entry.user);
    rec.database = name(raw, entry.dbname);
    rec.application = name(raw, entry.application_name);
    rec.pid = entry.pid;
    if let Some(host) = entry.remote_host {
        set_source(raw, host.0.as_bytes(), entry.remote_port, rec);
    }
    rec.session_id = value(raw, entry.session_id);
    rec.session_line = entry.line_num;
    rec.command_tag = value(raw, entry.ps);
    if let Some(start) = entry.session_start {
        if let Ok((rest, t)) = pg_time(start.0.as_bytes()) {
            if rest.is_empty() {
                rec.session_start = resolve_time(&t, zone).map(|(ts, _)| ts);
            }
        }
    }
    rec.vxid = value(raw, entry.vxid);
    rec.txid = entry.txid;
    rec.sql_state = value(raw, entry.state_code);
    rec.detail = value(raw, entry.detail);
    rec.hint = value(raw, entry.hint);
    rec.internal_query = value(raw, entry.internal_query);
    rec.internal_query_pos = entry.internal_position;
    rec.context = value(raw, entry.context);
    rec.query_pos = entry.cursor_position;
    rec.origin_function = value(raw, entry.func_name);
    rec.origin_file = value(raw, entry.file_name);
    rec.origin_line = entry.file_line_num;
    rec.backend_type = value(raw, entry.backend_type);
    rec.leader_pid = entry.leader_pid;
    rec.query_id = entry.query_id;

    if let Some(message) = entry.message {
        analyze_message(raw, &message.0, rec);
        rec.message = value(raw, Some(message));
    }
    if let Some(statement) = value(raw, entry.statement) {
        set_once(&mut rec.query, statement);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let line = r#"{"a":"plain","b":"with \"quote\""}"#;
        #[derive(Deserialize)]
        struct T<'a> {
            #[serde(borrow)]
            a: Option<Str<'a>>,
            #[serde(borrow)]
            b: Option<Str<'a>>,
        }
        let t: T<'_> = serde_json::from_str(line).unwrap();
        assert!(matches!(t.a.unwrap().0, Cow::Borrowed("plain")));
        assert!(matches!(t.b.unwrap().0, Cow::Owned(_)));
    }
}
