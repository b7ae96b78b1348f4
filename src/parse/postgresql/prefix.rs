//! `log_line_prefix`, compiled from its own text into a matcher for stderr lines, and the
//! severity (`LOG:  `) that follows it.
//!
//! The server expands the prefix escape by escape; reading a line back walks the same elements.
//! Literal text must appear as written; each escape is read by the shape of its value (digits
//! for `%p`, a date-time and zone for `%m`, hex for `%c`) or, for names and free text (`%u`,
//! `%d`, `%a`, `%b`, `%i`, ...), as everything up to the literal that follows it.
//!
//! Free text is ambiguous when that literal can also occur inside the value (`%b ` with
//! `client backend`, `%i ` with `idle in transaction`), so the matcher backtracks over the
//! literal's occurrences; a split only counts when the rest of the prefix *and* a severity
//! follow. `%q` is a branch of the same kind: session processes write the rest of the prefix,
//! background processes stop there. The walk has a step budget, so a hostile line cannot turn
//! the backtracking into a long search.

use memchr::memmem;
use nom::bytes::complete::take_while_m_n;
use nom::character::complete::{char, digit1, hex_digit1};
use nom::combinator::{opt, recognize};
use nom::{IResult, Parser as _};

use super::{pg_time, PgTime};

type Input<'a> = &'a [u8];

/// Steps (elements tried) one line may cost before the walk gives up.
const MAX_STEPS: u32 = 512;
/// Occurrences of the following literal tried as the end of one free-text value.
const MAX_SPLITS: usize = 24;
/// Widths beyond this are not a real configuration; they are clamped so that arithmetic on
/// them stays small.
const MAX_PADDING: i32 = 4096;

/// A `log_line_prefix` escape that writes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escape {
    /// `%a`
    Application,
    /// `%u`
    User,
    /// `%d`
    Database,
    /// `%r`: host and port, `host(port)`.
    RemoteHostPort,
    /// `%h`
    RemoteHost,
    /// `%L` (PostgreSQL 16+): the server's local address.
    LocalAddress,
    /// `%b`
    BackendType,
    /// `%p`
    Pid,
    /// `%P`: the parallel group leader, empty unless this process is a parallel worker.
    LeaderPid,
    /// `%t`; read like `%m` (an optional fraction), so either spelling matches both.
    Time,
    /// `%m`
    TimeMs,
    /// `%n`: epoch seconds with milliseconds.
    Epoch,
    /// `%i`
    CommandTag,
    /// `%e`
    SqlState,
    /// `%c`
    SessionId,
    /// `%l`
    LineNumber,
    /// `%s`
    SessionStart,
    /// `%v`
    VirtualXid,
    /// `%x`
    Xid,
    /// `%Q` (PostgreSQL 14+)
    QueryId,
}

impl Escape {
    fn from_letter(c: u8) -> Option<Escape> {
        Some(match c {
            b'a' => Escape::Application,
            b'u' => Escape::User,
            b'd' => Escape::Database,
            b'r' => Escape::RemoteHostPort,
            b'h' => Escape::RemoteHost,
            b'L' => Escape::LocalAddress,
            b'b' => Escape::BackendType,
            b'p' => Escape::Pid,
            b'P' => Escape::LeaderPid,
            b't' => Escape::Time,
            b'm' => Escape::TimeMs,
            b'n' => Escape::Epoch,
            b'i' => Escape::CommandTag,
            b'e' => Escape::SqlState,
            b'c' => Escape::SessionId,
            b'l' => Escape::LineNumber,
            b's' => Escape::SessionStart,
            b'v' => Escape::VirtualXid,
            b'x' => Escape::Xid,
            b'Q' => Escape::QueryId,
            _ => return None,
        })
    }

    /// Values without a shape of their own: they end where the next literal starts.
    fn is_free_text(self) -> bool {
        matches!(
            self,
            Escape::Application
                | Escape::User
                | Escape::Database
                | Escape::RemoteHostPort
                | Escape::RemoteHost
                | Escape::LocalAddress
                | Escape::BackendType
                | Escape::CommandTag
        )
    }

    /// What the value looks like, for error messages.
    fn describe(self) -> &'static str {
        match self {
            Escape::Application => "an application name (`%a`)",
            Escape::User => "a user name (`%u`)",
            Escape::Database => "a database name (`%d`)",
            Escape::RemoteHostPort => "a remote host and port (`%r`)",
            Escape::RemoteHost => "a remote host (`%h`)",
            Escape::LocalAddress => "a local address (`%L`)",
            Escape::BackendType => "a backend type (`%b`)",
            Escape::Pid => "a process id (`%p`)",
            Escape::LeaderPid => "a leader process id (`%P`)",
            Escape::Time | Escape::TimeMs => {
                "a timestamp like `2026-11-22 10:00:00.123 UTC` (`%t`, `%m`)"
            }
            Escape::Epoch => "an epoch timestamp like `1763805600.123` (`%n`)",
            Escape::CommandTag => "a command tag (`%i`)",
            Escape::SqlState => "a five-character SQLSTATE (`%e`)",
            Escape::SessionId => "a session id like `6540a1b2.3039` (`%c`)",
            Escape::LineNumber => "a line number (`%l`)",
            Escape::SessionStart => "a session start timestamp (`%s`)",
            Escape::VirtualXid => "a virtual transaction id like `3/45` (`%v`)",
            Escape::Xid => "a transaction id (`%x`)",
            Escape::QueryId => "a query id (`%Q`)",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Element {
    Literal(Box<[u8]>),
    Field {
        escape: Escape,
        /// The server's padding: positive right-justifies, negative left-justifies, 0 none.
        pad: i32,
        /// The literal right after a free-text field, which ends its value.
        until: Option<Box<[u8]>>,
    },
    /// `%q`: non-session processes stop writing the prefix here.
    SessionStop,
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone)]
pub(super) struct Prefix {
    text: Box<str>,
    elements: Vec<Element>,
}

/// What a line's prefix held, as slices of the line; read into fields by the caller.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Captures<'a> {
    pub time: Option<PgTime<'a>>,
    pub epoch: Option<&'a [u8]>,
    pub session_start: Option<PgTime<'a>>,
    pub pid: Option<&'a [u8]>,
    pub leader_pid: Option<&'a [u8]>,
    pub line_number: Option<&'a [u8]>,
    pub xid: Option<&'a [u8]>,
    pub query_id: Option<&'a [u8]>,
    pub user: Option<&'a [u8]>,
    pub database: Option<&'a [u8]>,
    pub application: Option<&'a [u8]>,
    pub remote_host_port: Option<&'a [u8]>,
    pub remote_host: Option<&'a [u8]>,
    pub local_address: Option<&'a [u8]>,
    pub backend_type: Option<&'a [u8]>,
    pub command_tag: Option<&'a [u8]>,
    pub sql_state: Option<&'a [u8]>,
    pub session_id: Option<&'a [u8]>,
    pub virtual_xid: Option<&'a [u8]>,
}

/// One escape's value as read from the line.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Text(&'a [u8]),
    Time(PgTime<'a>),
}

impl<'a> Captures<'a> {
    fn set(&mut self, escape: Escape, value: Val<'a>) {
        let text = match value {
            Val::Time(t) => {
                match escape {
                    Escape::SessionStart => self.session_start = Some(t),
                    _ => self.time = Some(t),
                }
                return;
            }
            Val::Text(b) => Some(b),
        };
        let slot = match escape {
            Escape::Application => &mut self.application,
            Escape::User => &mut self.user,
            Escape::Database => &mut self.database,
            Escape::RemoteHostPort => &mut self.remote_host_port,
            Escape::RemoteHost => &mut self.remote_host,
            Escape::LocalAddress => &mut self.local_address,
            Escape::BackendType => &mut self.backend_type,
            Escape::Pid => &mut self.pid,
            Escape::LeaderPid => &mut self.leader_pid,
            Escape::Epoch => &mut self.epoch,
            Escape::CommandTag => &mut self.command_tag,
            Escape::SqlState => &mut self.sql_state,
            Escape::SessionId => &mut self.session_id,
            Escape::LineNumber => &mut self.line_number,
            Escape::VirtualXid => &mut self.virtual_xid,
            Escape::Xid => &mut self.xid,
            Escape::QueryId => &mut self.query_id,
            // Timestamps arrive as `Val::Time`.
            Escape::Time | Escape::TimeMs | Escape::SessionStart => return,
        };
        *slot = text;
    }
}

/// The part of an entry a severity word introduces: the message itself, or one of the lines
/// the server adds after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartKind {
    Main,
    Detail,
    Hint,
    Query,
    Context,
    Statement,
    Location,
}

/// The severity after the prefix and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Severity<'a> {
    /// The word as written (`ERROR`, or a translation such as `FEHLER`).
    pub word: &'a [u8],
    pub kind: PartKind,
    /// SQLSTATE written after the severity (`log_error_verbosity = verbose`).
    pub sql_state: Option<&'a [u8]>,
    /// The text after `LEVEL:  ` to the end of the line.
    pub message: &'a [u8],
}

/// Severity words the server writes (untranslated) and the part each starts. DEBUG1..5 are
/// written as `DEBUG` on stderr; csvlog and jsonlog do the same, the numbered forms are kept
/// for other writers.
const SEVERITIES: &[(&[u8], PartKind)] = &[
    (b"LOG", PartKind::Main),
    (b"ERROR", PartKind::Main),
    (b"STATEMENT", PartKind::Statement),
    (b"DETAIL", PartKind::Detail),
    (b"HINT", PartKind::Hint),
    (b"CONTEXT", PartKind::Context),
    (b"WARNING", PartKind::Main),
    (b"FATAL", PartKind::Main),
    (b"NOTICE", PartKind::Main),
    (b"INFO", PartKind::Main),
    (b"DEBUG", PartKind::Main),
    (b"QUERY", PartKind::Query),
    (b"LOCATION", PartKind::Location),
    (b"PANIC", PartKind::Main),
    (b"DEBUG1", PartKind::Main),
    (b"DEBUG2", PartKind::Main),
    (b"DEBUG3", PartKind::Main),
    (b"DEBUG4", PartKind::Main),
    (b"DEBUG5", PartKind::Main),
];

/// Longest severity word accepted (translations included).
const MAX_SEVERITY_LEN: usize = 32;

fn is_sqlstate_char(c: u8) -> bool {
    c.is_ascii_digit() || c.is_ascii_uppercase()
}

/// `LEVEL:  message`. Known words need only `:` and a space; unknown ones (the server's
/// translations: `FEHLER`, `ERREUR`, `ОШИБКА`) are accepted when upper-case and followed by the
/// two spaces the server always writes, which ordinary text rarely has.
pub(super) fn severity(input: Input<'_>) -> Option<Severity<'_>> {
    let first = *input.first()?;
    if !(first.is_ascii_uppercase() || first >= 0x80) {
        return None;
    }
    let len = input
        .iter()
        .take(MAX_SEVERITY_LEN + 1)
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c >= 0x80)
        .count();
    if len > MAX_SEVERITY_LEN {
        return None;
    }
    let (word, rest) = input.split_at(len);
    let rest = rest.strip_prefix(b":")?;
    let kind = SEVERITIES.iter().find(|(w, _)| *w == word).map(|(_, k)| *k);
    let message = match kind {
        Some(_) => match rest {
            [] => rest,
            [b' ', b' ', m @ ..] | [b' ', m @ ..] => m,
            _ => return None,
        },
        None => {
            let translated = len >= 2
                && std::str::from_utf8(word).is_ok_and(|w| !w.chars().any(char::is_lowercase));
            if !translated {
                return None;
            }
            rest.strip_prefix(b"  ")?
        }
    };
    let kind = kind.unwrap_or(PartKind::Main);
    // `log_error_verbosity = verbose` puts the SQLSTATE first: `ERROR:  42P01: relation ...`.
    // Every SQLSTATE has a digit, which keeps an upper-case word such as `NOTE:` out.
    let (sql_state, message) = match message {
        [a, b, c, d, e, b':', b' ', m @ ..]
            if kind == PartKind::Main
                && [a, b, c, d, e].iter().all(|x| is_sqlstate_char(**x))
                && [a, b, c, d, e].iter().any(|x| x.is_ascii_digit()) =>
        {
            (message.get(..5), m)
        }
        _ => (None, message),
    };
    Some(Severity {
        word,
        kind,
        sql_state,
        message,
    })
}

/// A line that matched a prefix and a severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Matched<'a> {
    pub captures: Captures<'a>,
    pub severity: Severity<'a>,
}

/// Why a line did not match: how far the walk got and what it wanted there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mismatch {
    pub at: usize,
    pub expected: String,
}

/// What the walk wanted where it got farthest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Element(usize),
    Severity,
    Budget,
}

struct Walk<'p> {
    prefix: &'p Prefix,
    line_len: usize,
    steps: u32,
    farthest: usize,
    expected: Expected,
}

fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

/// Values of the escapes with a shape of their own.
fn typed(escape: Escape, input: Input<'_>) -> IResult<Input<'_>, Val<'_>> {
    match escape {
        Escape::Time | Escape::TimeMs | Escape::SessionStart => pg_time.map(Val::Time).parse(input),
        Escape::Epoch => recognize((digit1, opt((char('.'), digit1))))
            .map(Val::Text)
            .parse(input),
        Escape::Pid | Escape::LineNumber | Escape::Xid => {
            take_while_m_n(1, 19, is_digit).map(Val::Text).parse(input)
        }
        // Empty unless the process is a parallel worker.
        Escape::LeaderPid => take_while_m_n(0, 19, is_digit).map(Val::Text).parse(input),
        Escape::QueryId => recognize((opt(char('-')), take_while_m_n(1, 19, is_digit)))
            .map(Val::Text)
            .parse(input),
        Escape::SqlState => take_while_m_n(5, 5, is_sqlstate_char)
            .map(Val::Text)
            .parse(input),
        Escape::SessionId => recognize((hex_digit1, char('.'), hex_digit1))
            .map(Val::Text)
            .parse(input),
        // Empty for processes without a virtual transaction.
        Escape::VirtualXid => recognize(opt((digit1, char('/'), digit1)))
            .map(Val::Text)
            .parse(input),
        _ => Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Verify,
        ))),
    }
}

/// Free text that still has a shape: `%r` is `host(port)`, `[local]` or empty, which keeps an
/// IPv6 host's colons from ending it early under a `:` separator (Amazon RDS's `%t:%r:%u@%d:`).
fn plausible(escape: Escape, value: Input<'_>) -> bool {
    match escape {
        Escape::RemoteHostPort => value.is_empty() || value == b"[local]" || value.ends_with(b")"),
        _ => true,
    }
}

/// Backend types (`%b`) of more than one word, longest first.
const BACKEND_TYPES: &[&[u8]] = &[
    b"logical replication tablesync worker",
    b"logical replication parallel worker",
    b"logical replication apply worker",
    b"logical replication launcher",
    b"logical replication worker",
    b"dead-end client backend",
    b"autovacuum launcher",
    b"autovacuum worker",
    b"background worker",
    b"background writer",
    b"standalone backend",
    b"slotsync worker",
    b"parallel worker",
    b"not initialized",
    b"client backend",
    b"io worker",
];

/// Where a free-text value most likely ends when the literal after it is a space and the value
/// itself may hold spaces: a known backend type for `%b`; for `%i`, the `idle in transaction`
/// states or a run of upper-case words (`CREATE TABLE AS`), as command tags are written.
fn likely_end(escape: Escape, input: Input<'_>) -> Option<usize> {
    match escape {
        Escape::BackendType => BACKEND_TYPES
            .iter()
            .find(|t| input.starts_with(t))
            .map(|t| t.len()),
        Escape::CommandTag => {
            for state in [
                &b"idle in transaction (aborted)"[..],
                b"idle in transaction",
            ] {
                if input.starts_with(state) {
                    return Some(state.len());
                }
            }
            let mut end = 0;
            let mut at = 0;
            loop {
                let word = input
                    .get(at..)?
                    .iter()
                    .take_while(|c| c.is_ascii_uppercase())
                    .count();
                if word == 0 {
                    break;
                }
                // A word followed by `:` is the severity, not part of the tag.
                if input.get(at + word) == Some(&b':') {
                    break;
                }
                end = at + word;
                if input.get(end) != Some(&b' ') {
                    break;
                }
                at = end + 1;
            }
            (end > 0).then_some(end)
        }
        _ => None,
    }
}

fn leading_spaces(b: Input<'_>) -> usize {
    b.iter().take_while(|c| **c == b' ').count()
}

fn trim_end_spaces(b: Input<'_>) -> Input<'_> {
    let n = b.iter().rev().take_while(|c| **c == b' ').count();
    b.get(..b.len() - n).unwrap_or_default()
}

impl<'p> Walk<'p> {
    fn pos(&self, input: Input<'_>) -> usize {
        self.line_len.saturating_sub(input.len())
    }

    fn miss(&mut self, input: Input<'_>, expected: Expected) {
        let at = self.pos(input);
        if at >= self.farthest {
            self.farthest = at;
            self.expected = expected;
        }
    }

    /// Matches elements `idx..` and then a severity; captures are written only on the way back
    /// from a successful walk, so a branch that fails leaves nothing behind.
    fn walk<'a>(
        &mut self,
        idx: usize,
        input: Input<'a>,
        caps: &mut Captures<'a>,
    ) -> Option<Severity<'a>> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.expected = Expected::Budget;
            return None;
        }
        let prefix = self.prefix;
        let Some(element) = prefix.elements.get(idx) else {
            let found = severity(input);
            if found.is_none() {
                self.miss(input, Expected::Severity);
            }
            return found;
        };
        match element {
            Element::Literal(lit) => match input.strip_prefix(&**lit) {
                Some(rest) => self.walk(idx + 1, rest, caps),
                None => {
                    self.miss(input, Expected::Element(idx));
                    None
                }
            },
            Element::SessionStop => {
                // A session process wrote the rest; a background process stopped here.
                if let Some(found) = self.walk(idx + 1, input, caps) {
                    return Some(found);
                }
                let found = severity(input);
                if found.is_none() {
                    self.miss(input, Expected::Severity);
                }
                found
            }
            Element::Field { escape, pad, until } => {
                let width = pad.unsigned_abs() as usize;
                // Right-justified values come after their padding.
                let lead = if *pad > 0 { leading_spaces(input) } else { 0 };
                let body = input.get(lead..).unwrap_or_default();
                if escape.is_free_text() {
                    return self.free_text(
                        idx,
                        *escape,
                        width.saturating_sub(lead),
                        until,
                        body,
                        caps,
                    );
                }
                let Ok((mut rest, value)) = typed(*escape, body) else {
                    self.miss(body, Expected::Element(idx));
                    return None;
                };
                if *pad < 0 {
                    // Left-justified: the padding follows, up to the width.
                    let used = body.len() - rest.len();
                    let room = width.saturating_sub(used);
                    let n = leading_spaces(rest).min(room);
                    rest = rest.get(n..).unwrap_or_default();
                }
                let found = self.walk(idx + 1, rest, caps)?;
                caps.set(*escape, value);
                Some(found)
            }
        }
    }

    /// A value without a shape: tries each place it could end (an occurrence of the literal
    /// after it; without one, each space) until the rest of the line matches.
    fn free_text<'a>(
        &mut self,
        idx: usize,
        escape: Escape,
        min_len: usize,
        until: &Option<Box<[u8]>>,
        input: Input<'a>,
        caps: &mut Captures<'a>,
    ) -> Option<Severity<'a>> {
        let mut try_split = |walk: &mut Self, at: usize| -> Option<Severity<'a>> {
            let (value, rest) = (input.get(..at)?, input.get(at..)?);
            let value = trim_end_spaces(value);
            if !plausible(escape, value) {
                return None;
            }
            let found = walk.walk(idx + 1, rest, caps)?;
            caps.set(escape, Val::Text(value));
            Some(found)
        };
        match until {
            Some(lit) => {
                // The likely end first, then the shortest value first; a padded value fills at
                // least its width, so shorter splits are not tried.
                let preferred = likely_end(escape, input).filter(|at| {
                    *at >= min_len && input.get(*at..).is_some_and(|r| r.starts_with(lit))
                });
                if let Some(at) = preferred {
                    if let Some(found) = try_split(self, at) {
                        return Some(found);
                    }
                }
                for at in memmem::find_iter(input, &**lit)
                    .filter(|at| *at >= min_len && Some(*at) != preferred)
                    .take(MAX_SPLITS)
                {
                    if let Some(found) = try_split(self, at) {
                        return Some(found);
                    }
                    if self.steps > MAX_STEPS {
                        break;
                    }
                }
            }
            None => {
                // Nothing literal follows: the value ends at a space (and takes it along), or
                // is empty.
                let ends =
                    std::iter::once(0).chain(memchr::memchr_iter(b' ', input).map(|k| k + 1));
                for at in ends.filter(|at| *at >= min_len).take(MAX_SPLITS) {
                    if let Some(found) = try_split(self, at) {
                        return Some(found);
                    }
                    if self.steps > MAX_STEPS {
                        break;
                    }
                }
            }
        }
        self.miss(input, Expected::Element(idx));
        None
    }
}

impl Prefix {
    /// Compiles a `log_line_prefix` the way the server reads it: `%` with an optional padding
    /// (`%-10u`, `%10u`) and a letter; `%%` is a percent sign; unknown escapes and a trailing
    /// `%` write nothing, as on the server. A value pasted from `postgresql.conf` with its
    /// single quotes is accepted as well.
    pub(super) fn compile(text: &str) -> Result<Prefix, String> {
        let unquoted = text
            .strip_prefix('\'')
            .and_then(|t| t.strip_suffix('\''))
            .unwrap_or(text);
        if unquoted.contains(['\n', '\r']) {
            return Err(format!(
                "invalid log_line_prefix `{text}`: a prefix with a line break cannot be read back line by line"
            ));
        }
        let b = unquoted.as_bytes();
        let mut elements = Vec::new();
        let mut literal = Vec::new();
        let flush = |literal: &mut Vec<u8>, elements: &mut Vec<Element>| {
            if !literal.is_empty() {
                elements.push(Element::Literal(std::mem::take(literal).into_boxed_slice()));
            }
        };
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            i += 1;
            if c != b'%' {
                literal.push(c);
                continue;
            }
            let mut sign = 1;
            if b.get(i) == Some(&b'-') {
                sign = -1;
                i += 1;
            }
            let mut pad: i32 = 0;
            while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
                pad = (pad * 10 + i32::from(d - b'0')).min(MAX_PADDING);
                i += 1;
            }
            let Some(&letter) = b.get(i) else { break };
            i += 1;
            match letter {
                b'%' => literal.push(b'%'),
                b'q' => {
                    flush(&mut literal, &mut elements);
                    elements.push(Element::SessionStop);
                }
                _ => match Escape::from_letter(letter) {
                    Some(escape) => {
                        flush(&mut literal, &mut elements);
                        elements.push(Element::Field {
                            escape,
                            pad: pad * sign,
                            until: None,
                        });
                    }
                    None => {
                        // Unknown escape: nothing is written. Skip the whole character so a
                        // literal never starts inside a multi-byte one.
                        while b.get(i).is_some_and(|c| c & 0xC0 == 0x80) {
                            i += 1;
                        }
                    }
                },
            }
        }
        flush(&mut literal, &mut elements);
        for k in 0..elements.len() {
            let next = match elements.get(k + 1) {
                Some(Element::Literal(lit)) => Some(lit.clone()),
                _ => None,
            };
            if let Some(Element::Field { escape, until, .. }) = elements.get_mut(k) {
                if escape.is_free_text() {
                    *until = next;
                }
            }
        }
        Ok(Prefix {
            text: unquoted.into(),
            elements,
        })
    }

    /// The prefix as configured.
    pub(super) fn text(&self) -> &str {
        &self.text
    }

    /// Matches the prefix at the start of `line` (one line, without its newline) followed by a
    /// severity.
    pub(super) fn match_line<'a>(&self, line: Input<'a>) -> Result<Matched<'a>, Mismatch> {
        let mut walk = Walk {
            prefix: self,
            line_len: line.len(),
            steps: 0,
            farthest: 0,
            expected: Expected::Severity,
        };
        let mut captures = Captures::default();
        match walk.walk(0, line, &mut captures) {
            Some(severity) => Ok(Matched { captures, severity }),
            None => Err(Mismatch {
                at: walk.farthest,
                expected: self.describe(walk.expected),
            }),
        }
    }

    fn describe(&self, expected: Expected) -> String {
        match expected {
            Expected::Severity => "a severity such as `LOG:  ` after the prefix".into(),
            Expected::Budget => "a shorter, less ambiguous line".into(),
            Expected::Element(idx) => match self.elements.get(idx) {
                Some(Element::Literal(lit)) => {
                    format!("`{}`", String::from_utf8_lossy(lit))
                }
                Some(Element::Field { escape, .. }) => escape.describe().into(),
                Some(Element::SessionStop) | None => "the prefix".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: Option<&[u8]>) -> Option<&str> {
        b.map(|b| std::str::from_utf8(b).unwrap())
    }

    fn m<'a>(prefix: &str, line: &'a str) -> Matched<'a> {
        let p = Prefix::compile(prefix).unwrap();
        match p.match_line(line.as_bytes()) {
            Ok(m) => m,
            Err(e) => panic!("{line:?} should match {prefix:?}: {e:?}"),
        }
    }

    #[test]
    fn compiles_escapes_padding_and_literals() {
        let p = Prefix::compile("%m [%p] %q%u@%d ").unwrap();
        assert_eq!(p.elements.len(), 9);
        assert_eq!(
            p.elements.get(5),
            Some(&Element::Field {
                escape: Escape::User,
                pad: 0,
                until: Some(Box::from(&b"@"[..]))
            })
        );
        let p = Prefix::compile("%-10u|%10d|100%%|%z%").unwrap();
        assert_eq!(
            p.elements,
            vec![
                Element::Field {
                    escape: Escape::User,
                    pad: -10,
                    until: Some(Box::from(&b"|"[..]))
                },
                Element::Literal(Box::from(&b"|"[..])),
                Element::Field {
                    escape: Escape::Database,
                    pad: 10,
                    until: Some(Box::from(&b"|100%|"[..]))
                },
                Element::Literal(Box::from(&b"|100%|"[..])),
            ]
        );
        assert_eq!(Prefix::compile("'%m [%p] '").unwrap().text(), "%m [%p] ");
        assert!(Prefix::compile("%m\n").is_err());
        assert!(Prefix::compile("").unwrap().elements.is_empty());
    }

    #[test]
    fn session_and_background_lines() {
        let prefix = "%m [%p] %q%u@%d ";
        let x = m(
            prefix,
            "2026-11-22 10:00:00.123 UTC [4242] bob@shop LOG:  statement: SELECT 1",
        );
        assert_eq!(s(x.captures.user), Some("bob"));
        assert_eq!(s(x.captures.database), Some("shop"));
        assert_eq!(s(x.captures.pid), Some("4242"));
        assert_eq!(x.severity.message, b"statement: SELECT 1");
        let x = m(
            prefix,
            "2026-11-22 10:00:00.123 UTC [31] LOG:  checkpoint starting: time",
        );
        assert_eq!(x.captures.user, None);
        assert_eq!(x.severity.word, b"LOG");
        // A message holding `@` does not fool the session branch.
        let x = m(
            prefix,
            "2026-11-22 10:00:00.123 UTC [31] LOG:  mail to a@b failed x",
        );
        assert_eq!(x.captures.user, None);
        assert_eq!(x.severity.message, b"mail to a@b failed x");
    }

    #[test]
    fn free_text_with_spaces_backtracks() {
        let x = m(
            "%m [%p] %b %i ",
            "2026-11-22 10:00:00.123 UTC [7] client backend idle in transaction WARNING:  there is no transaction in progress",
        );
        assert_eq!(s(x.captures.backend_type), Some("client backend"));
        assert_eq!(s(x.captures.command_tag), Some("idle in transaction"));
        assert_eq!(x.severity.word, b"WARNING");
        let x = m(
            "%m [%p] %b %i ",
            "2026-11-22 10:00:00.123 UTC [7] autovacuum worker CREATE TABLE AS LOG:  x",
        );
        assert_eq!(s(x.captures.backend_type), Some("autovacuum worker"));
        assert_eq!(s(x.captures.command_tag), Some("CREATE TABLE AS"));
        // Unknown (extension) backend types still read, shortest first.
        let x = m(
            "%m [%p] %b %i ",
            "2026-11-22 10:00:00.123 UTC [7] pg_cron SELECT LOG:  x",
        );
        assert_eq!(s(x.captures.backend_type), Some("pg_cron"));
        assert_eq!(s(x.captures.command_tag), Some("SELECT"));
    }

    #[test]
    fn padding_forms() {
        let x = m(
            "%m [%-6p] %-10u %10d ",
            "2026-11-22 10:00:00.123 UTC [42    ] bob              shop LOG:  x",
        );
        assert_eq!(s(x.captures.pid), Some("42"));
        assert_eq!(s(x.captures.user), Some("bob"));
        assert_eq!(s(x.captures.database), Some("shop"));
        let x = m("[%5p] ", "[   42] LOG:  x");
        assert_eq!(s(x.captures.pid), Some("42"));
        // Background process: the padded names are all spaces.
        let x = m("%-6u|", "      |LOG:  y");
        assert_eq!(s(x.captures.user), Some(""));
    }

    #[test]
    fn every_typed_escape() {
        let x = m(
            "%n %c %l %s %v %x %e %Q %P|%r|%h|%a|%L| ",
            "1763805600.123 6540a1b2.3039 17 2026-11-22 09:59:58 CET 3/45 0 23505 -4711 900|10.0.0.5(51234)|10.0.0.5|psql|10.0.0.1| ERROR:  boom",
        );
        let c = x.captures;
        assert_eq!(s(c.epoch), Some("1763805600.123"));
        assert_eq!(s(c.session_id), Some("6540a1b2.3039"));
        assert_eq!(s(c.line_number), Some("17"));
        assert!(c.session_start.is_some());
        assert_eq!(s(c.virtual_xid), Some("3/45"));
        assert_eq!(s(c.xid), Some("0"));
        assert_eq!(s(c.sql_state), Some("23505"));
        assert_eq!(s(c.query_id), Some("-4711"));
        assert_eq!(s(c.leader_pid), Some("900"));
        assert_eq!(s(c.remote_host_port), Some("10.0.0.5(51234)"));
        assert_eq!(s(c.remote_host), Some("10.0.0.5"));
        assert_eq!(s(c.application), Some("psql"));
        assert_eq!(s(c.local_address), Some("10.0.0.1"));
    }

    #[test]
    fn severities() {
        let sev = severity(b"ERROR:  42P01: relation \"x\" does not exist").unwrap();
        assert_eq!(sev.sql_state, Some(&b"42P01"[..]));
        assert_eq!(sev.message, b"relation \"x\" does not exist");
        let sev = severity(b"DETAIL:  Key (id)=(1) already exists.").unwrap();
        assert_eq!(sev.kind, PartKind::Detail);
        let sev = severity("FEHLER:  Relation »x« existiert nicht".as_bytes()).unwrap();
        assert_eq!(sev.word, b"FEHLER");
        assert_eq!(sev.kind, PartKind::Main);
        assert_eq!(
            severity("ОШИБКА:  x".as_bytes()).unwrap().kind,
            PartKind::Main
        );
        assert!(severity(b"LOG:").is_some());
        assert!(severity(b"NOTE: single space").is_none());
        assert!(severity(b"Log:  x").is_none());
        assert!(severity(b"bob@shop LOG:  x").is_none());
        assert!(severity(b"").is_none());
        // Not a SQLSTATE: no digit.
        let sev = severity(b"LOG:  ABCDE: text").unwrap();
        assert_eq!(sev.sql_state, None);
    }

    #[test]
    fn mismatch_says_where() {
        let p = Prefix::compile("%m [%p] %e ").unwrap();
        let e = p
            .match_line(b"2026-11-22 10:00:00.123 UTC [12] xx LOG:  x")
            .unwrap_err();
        assert_eq!(e.at, 33);
        assert!(e.expected.contains("SQLSTATE"), "{e:?}");
        let e = p.match_line(b"hello").unwrap_err();
        assert_eq!(e.at, 0);
        assert!(e.expected.contains("timestamp"));
    }

    #[test]
    fn hostile_lines_stay_within_budget() {
        let p = Prefix::compile("%u %d %a %h %b ").unwrap();
        let line = "a ".repeat(5000);
        assert!(p.match_line(line.as_bytes()).is_err());
    }
}
