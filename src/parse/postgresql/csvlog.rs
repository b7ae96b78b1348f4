//! `csvlog`: one CSV record per entry, in the server's fixed column order (see "Using CSV-Format
//! Log Output" in the PostgreSQL documentation). Text columns are quoted with `""` escapes and
//! may span lines (a multi-line statement), which is why the input joins the lines that do not
//! start with a timestamp.
//!
//! 22 columns up to 8.4, 23 from 9.0 (`application_name`), 24 from 13 (`backend_type`), 26 from
//! 14 (`leader_pid`, `query_id`); columns a newer server may add are ignored. Quoted fields
//! without `""` become spans of the record; only the ones with escapes are copied.

use std::borrow::Cow;

use nom::bytes::complete::take_till;
use nom::character::complete::char;
use nom::error::{Error as NomError, ErrorKind};
use nom::{IResult, Parser as _};

use super::{
    analyze_message, int, level_value, name_value, pg_time, set_location, set_once, set_source,
    str_value, trim_line_ends, PgTime, Record,
};
use crate::event::Value;
use crate::parse::timestamp::TimeZone;
use crate::parse::ParseError;

/// Columns of the oldest csvlog (8.3 and 8.4).
const MIN_COLUMNS: usize = 22;
/// More than any server writes today, with room for a few additions.
const MAX_COLUMNS: usize = 32;

// Column positions, as documented.
const LOG_TIME: usize = 0;
const USER_NAME: usize = 1;
const DATABASE_NAME: usize = 2;
const PROCESS_ID: usize = 3;
const CONNECTION_FROM: usize = 4;
const SESSION_ID: usize = 5;
const SESSION_LINE_NUM: usize = 6;
const COMMAND_TAG: usize = 7;
const SESSION_START_TIME: usize = 8;
const VIRTUAL_TRANSACTION_ID: usize = 9;
const TRANSACTION_ID: usize = 10;
const ERROR_SEVERITY: usize = 11;
const SQL_STATE_CODE: usize = 12;
const MESSAGE: usize = 13;
const DETAIL: usize = 14;
const HINT: usize = 15;
const INTERNAL_QUERY: usize = 16;
const INTERNAL_QUERY_POS: usize = 17;
const CONTEXT: usize = 18;
const QUERY: usize = 19;
const QUERY_POS: usize = 20;
const LOCATION: usize = 21;
const APPLICATION_NAME: usize = 22;
const BACKEND_TYPE: usize = 23;
const LEADER_PID: usize = 24;
const QUERY_ID: usize = 25;

/// One column as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Field<'a> {
    /// The content, without the surrounding quotes.
    text: &'a str,
    /// Holds `""`, so it must be unescaped before use.
    escaped: bool,
}

impl<'a> Field<'a> {
    fn unescaped(self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(self.text.replace("\"\"", "\""))
        } else {
            Cow::Borrowed(self.text)
        }
    }

    fn value(self, raw: &str) -> Option<Value> {
        if self.text.is_empty() {
            return None;
        }
        Some(match self.unescaped() {
            Cow::Borrowed(s) => str_value(raw, s),
            Cow::Owned(s) => Value::owned_str(s),
        })
    }

    fn int(self) -> Option<i64> {
        int(self.text.as_bytes())
    }
}

/// `"…"` with `""` standing for a quote.
fn quoted(input: &str) -> IResult<&str, Field<'_>> {
    let (body, _) = char('"').parse(input)?;
    let bytes = body.as_bytes();
    let mut from = 0;
    let mut escaped = false;
    while let Some(k) = bytes.get(from..).and_then(|s| memchr::memchr(b'"', s)) {
        let at = from + k;
        if bytes.get(at + 1) == Some(&b'"') {
            escaped = true;
            from = at + 2;
            continue;
        }
        if let (Some(text), Some(rest)) = (body.get(..at), body.get(at + 1..)) {
            return Ok((rest, Field { text, escaped }));
        }
        break;
    }
    Err(nom::Err::Error(NomError::new(input, ErrorKind::Char)))
}

fn unquoted(input: &str) -> IResult<&str, Field<'_>> {
    take_till(|c| c == ',')
        .map(|text| Field {
            text,
            escaped: false,
        })
        .parse(input)
}

/// Splits a record into its columns.
fn columns(record: &str) -> Result<([Field<'_>; MAX_COLUMNS], usize), ParseError> {
    let mut fields = [Field::default(); MAX_COLUMNS];
    let mut n = 0;
    let mut rest = record;
    loop {
        let parsed = if rest.starts_with('"') {
            quoted(rest)
        } else {
            unquoted(rest)
        };
        let (after, field) = parsed.map_err(|_| {
            ParseError::new(format!(
                "postgresql: csvlog column {} has an unterminated quote",
                n + 1
            ))
        })?;
        let Some(slot) = fields.get_mut(n) else {
            return Err(ParseError::new(format!(
                "postgresql: csvlog record with more than {MAX_COLUMNS} columns"
            )));
        };
        *slot = field;
        n += 1;
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None if after.is_empty() => break,
            None => {
                return Err(ParseError::new(format!(
                    "postgresql: csvlog column {n} is followed by text instead of `,`"
                )))
            }
        }
    }
    Ok((fields, n))
}

/// Reads a csvlog record into `rec`.
pub(super) fn read(raw: &str, zone: &TimeZone, rec: &mut Record) -> Result<(), ParseError> {
    let record = trim_line_ends(raw.as_bytes());
    let record = raw.get(..record.len()).unwrap_or(raw);
    let (fields, n) = columns(record)?;
    if n < MIN_COLUMNS {
        return Err(ParseError::new(format!(
            "postgresql: csvlog record with {n} columns, expected at least {MIN_COLUMNS}"
        )));
    }
    let col = |i: usize| fields.get(i).copied().unwrap_or_default();

    let time_text = col(LOG_TIME).text;
    let time = match pg_time(time_text.as_bytes()) {
        Ok((b"", t)) => t,
        _ => {
            return Err(ParseError::new(format!(
                "postgresql: csvlog log_time `{}` is not a timestamp like `2026-11-22 10:00:00.123 UTC`",
                time_text.get(..40).unwrap_or(time_text)
            )))
        }
    };
    set_time(raw, &time, zone, rec)?;

    let severity = col(ERROR_SEVERITY).text;
    if severity.is_empty()
        || !severity
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c >= 0x80)
    {
        return Err(ParseError::new(
            "postgresql: csvlog error_severity is empty or not a severity",
        ));
    }
    let (level, error) = level_value(severity.as_bytes());
    rec.level = Some(level);
    rec.error = error;

    rec.user = name(raw, col(USER_NAME));
    rec.database = name(raw, col(DATABASE_NAME));
    rec.pid = col(PROCESS_ID).int();
    let from = col(CONNECTION_FROM).unescaped();
    if !from.is_empty() {
        // `host:port`, or `[local]` for a Unix socket; IPv6 hosts hold colons of their own.
        let (host, port) = match from.rsplit_once(':') {
            Some((h, p)) if from != "[local]" && !h.is_empty() && int(p.as_bytes()).is_some() => {
                (h, int(p.as_bytes()))
            }
            _ => (from.as_ref(), None),
        };
        set_source(raw, host.as_bytes(), port, rec);
    }
    rec.session_id = col(SESSION_ID).value(raw);
    rec.session_line = col(SESSION_LINE_NUM).int();
    rec.command_tag = col(COMMAND_TAG).value(raw);
    if let Ok((rest, t)) = pg_time(col(SESSION_START_TIME).text.as_bytes()) {
        if rest.is_empty() {
            rec.session_start = super::resolve_time(&t, zone).map(|(ts, _)| ts);
        }
    }
    rec.vxid = col(VIRTUAL_TRANSACTION_ID).value(raw);
    rec.txid = col(TRANSACTION_ID).int();
    rec.sql_state = col(SQL_STATE_CODE).value(raw);
    rec.detail = col(DETAIL).value(raw);
    rec.hint = col(HINT).value(raw);
    rec.internal_query = col(INTERNAL_QUERY).value(raw);
    rec.internal_query_pos = col(INTERNAL_QUERY_POS).int();
    rec.context = col(CONTEXT).value(raw);
    rec.query_pos = col(QUERY_POS).int();
    let location = col(LOCATION).unescaped();
    set_location(raw, &location, rec);
    if n > APPLICATION_NAME {
        rec.application = name(raw, col(APPLICATION_NAME));
    }
    if n > BACKEND_TYPE {
        rec.backend_type = col(BACKEND_TYPE).value(raw);
    }
    if n > LEADER_PID {
        rec.leader_pid = col(LEADER_PID).int();
    }
    if n > QUERY_ID {
        rec.query_id = col(QUERY_ID).int();
    }

    let message = col(MESSAGE).unescaped();
    analyze_message(raw, &message, rec);
    if let Some(query) = col(QUERY).value(raw) {
        set_once(&mut rec.query, query);
    }
    rec.message = Some(match message {
        Cow::Borrowed(s) => str_value(raw, s),
        Cow::Owned(s) => Value::owned_str(s),
    });
    Ok(())
}

/// A user, database or application name; unescaped text (outside `raw`) is copied by
/// `name_value`.
fn name(raw: &str, field: Field<'_>) -> Option<Value> {
    name_value(raw, field.unescaped().as_bytes())
}

fn set_time(
    raw: &str,
    t: &PgTime<'_>,
    zone: &TimeZone,
    rec: &mut Record,
) -> Result<(), ParseError> {
    let (ts, unknown) = super::resolve_time(t, zone)
        .ok_or_else(|| ParseError::new("postgresql: csvlog log_time out of range"))?;
    rec.timestamp = Some(ts);
    rec.timezone = unknown.map(|z| super::bytes_value(raw, z));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_and_plain_columns() {
        let (f, n) = columns(r#"a,"b ""c"", d",,"",e"#).unwrap();
        assert_eq!(n, 5);
        assert_eq!(f[0].text, "a");
        assert_eq!(f[1].text, r#"b ""c"", d"#);
        assert!(f[1].escaped);
        assert_eq!(f[1].unescaped(), r#"b "c", d"#);
        assert_eq!(f[2].text, "");
        assert_eq!(f[3].text, "");
        assert_eq!(f[4].text, "e");
        let (f, n) = columns("x,\"line 1\nline 2\",").unwrap();
        assert_eq!(n, 3);
        assert_eq!(f[1].text, "line 1\nline 2");
    }

    #[test]
    fn refuses_broken_records() {
        assert!(columns(r#"a,"open"#)
            .unwrap_err()
            .0
            .contains("unterminated"));
        assert!(columns(r#"a,"b"c"#)
            .unwrap_err()
            .0
            .contains("followed by text"));
        let many = ",".repeat(40);
        assert!(columns(&many).unwrap_err().0.contains("more than"));
    }
}
