//! Built-in tags, on unless `[tag_defaults]` turns them off; they run before the `[[tag]]` rules,
//! so a rule can test them (`"slow" in tags`).
//!
//! | tag              | when                                                                   |
//! |------------------|------------------------------------------------------------------------|
//! | `http_error`     | `http.response.status_code` 500-599                                    |
//! | `client_error`   | `http.response.status_code` 400-499                                    |
//! | `authentication` | status 401 or 403; or a failed login in `message` of a syslog or       |
//! |                  | PostgreSQL event (see [`FAILED_LOGIN`] and `auth_datasets`)            |
//! | `slow`           | `event.duration` (nanoseconds, as the NGINX `$request_time` and the    |
//! |                  | PostgreSQL `duration:` parsers write it) above `slow_threshold_ms`     |
//! | `db_error`       | a PostgreSQL event (`event.category` holds `database`) at `log.level`  |
//! |                  | `error`, `fatal` or `panic`                                            |
//! | `error`          | `log.level` error or worse (any case: error, err, crit, critical,     |
//! |                  | alert, emerg, emergency, fatal, panic, severe), or syslog severity <= 3 |
//!
//! Written as code rather than as rules of the language: one pass over the event's fields finds
//! everything the six tags look at, which costs less than six rule evaluations each looking its
//! fields up.

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::event::{Event, Value};

use super::RuleError;

/// Names of the built-in tags, in the order they are added.
pub const NAMES: [&str; 6] = [
    "http_error",
    "client_error",
    "authentication",
    "slow",
    "db_error",
    "error",
];

const HTTP_ERROR: u8 = 1 << 0;
const CLIENT_ERROR: u8 = 1 << 1;
const AUTHENTICATION: u8 = 1 << 2;
const SLOW: u8 = 1 << 3;
const DB_ERROR: u8 = 1 << 4;
const ERROR: u8 = 1 << 5;

/// What sshd, PAM, login, su, sudo and the PostgreSQL server write on a failed login. Case
/// matters as the daemons write it, which keeps the search a plain multi-literal scan.
pub const FAILED_LOGIN: &str = concat!(
    // sshd
    "Failed password for|Failed keyboard-interactive|Invalid user |",
    "maximum authentication attempts exceeded|",
    // PAM (`pam_unix(sshd:auth): authentication failure`, sshd's `PAM: Authentication failure`)
    "[Aa]uthentication failure|",
    // login(1), su
    "FAILED LOGIN|FAILED SU|",
    // sudo
    "incorrect password attempt|",
    // PostgreSQL: `password authentication failed for user`, `Ident authentication failed`, ...
    "authentication failed|no pg_hba\\.conf entry",
);

/// `event.dataset` values whose `message` is searched for failed logins, unless configured.
const AUTH_DATASETS: [&str; 4] = ["system.syslog", "system.auth", "syslog", "postgresql.log"];

/// `log.level` words meaning error or worse.
const ERROR_LEVELS: [&str; 10] = [
    "error",
    "err",
    "crit",
    "critical",
    "alert",
    "emerg",
    "emergency",
    "fatal",
    "panic",
    "severe",
];

/// PostgreSQL severities that make `db_error` (the ones its parser marks `event.type: error`).
const DB_ERROR_LEVELS: [&str; 3] = ["error", "fatal", "panic"];

/// `[tag_defaults]`: the built-in tags.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TagDefaultsConfig {
    /// Adds the built-in tags (`http_error`, `client_error`, `authentication`, `slow`,
    /// `db_error`, `error`). Default `true`; `false` turns them all off.
    pub enabled: bool,
    /// Built-in tags to leave out, e.g. `["slow"]`; each must be one of the names above.
    pub disable: Vec<Spanned<String>>,
    /// `slow` marks events whose `event.duration` is above this many milliseconds. Default 1000.
    pub slow_threshold_ms: u64,
    /// `event.dataset` values whose `message` is searched for failed logins (`authentication`).
    /// Default `["system.syslog", "system.auth", "syslog", "postgresql.log"]`; PostgreSQL events
    /// (`event.category` `database`) are searched whatever their dataset.
    pub auth_datasets: Vec<String>,
}

impl Default for TagDefaultsConfig {
    fn default() -> TagDefaultsConfig {
        TagDefaultsConfig {
            enabled: true,
            disable: Vec::new(),
            slow_threshold_ms: 1000,
            auth_datasets: AUTH_DATASETS.iter().map(|d| d.to_string()).collect(),
        }
    }
}

/// The built-in tags, compiled.
#[derive(Debug)]
pub struct Defaults {
    /// Bit set of the tags that are on.
    on: u8,
    slow_threshold_ns: i64,
    auth_datasets: Vec<Box<str>>,
    failed_login: Regex,
}

/// The fields the built-in tags read, found in one pass.
struct Seen<'a> {
    status: Option<&'a Value>,
    duration: Option<&'a Value>,
    level: Option<&'a Value>,
    severity: Option<&'a Value>,
    dataset: Option<&'a Value>,
    category: Option<&'a Value>,
    message: Option<&'a Value>,
}

/// The fields the built-in tags read, in `Seen` order.
pub(super) const READ: [&str; 7] = [
    "http.response.status_code",
    "event.duration",
    "log.level",
    "log.syslog.severity.code",
    "event.dataset",
    "event.category",
    "message",
];

/// Where each of `READ` is in a field list (the last write, as everywhere an event is read);
/// `u32::MAX` when absent.
pub(super) type Slots = [u32; 7];

/// `Slots` found by comparing names, for a caller without them resolved.
pub(super) fn slots(fields: &[(crate::event::FieldName, Value)]) -> Slots {
    let mut slots = [u32::MAX; 7];
    for (i, (name, _)) in fields.iter().enumerate() {
        if let Some(k) = READ.iter().position(|r| *r == name.as_ref()) {
            slots[k] = u32::try_from(i).unwrap_or(u32::MAX);
        }
    }
    slots
}

/// What the built-in tags read in `event`, at `slots`.
fn seen<'e>(event: &'e Event, slots: &Slots) -> Seen<'e> {
    let fields = &event.fields;
    let at = |k: usize| {
        usize::try_from(slots[k])
            .ok()
            .and_then(|i| fields.get(i))
            .map(|(_, v)| v)
    };
    Seen {
        status: at(0),
        duration: at(1),
        level: at(2),
        severity: at(3),
        dataset: at(4),
        category: at(5),
        message: at(6),
    }
}

impl Defaults {
    /// `None` when every built-in tag is off.
    pub fn build(config: &TagDefaultsConfig) -> Result<Option<Defaults>, RuleError> {
        let mut on = (1u8 << NAMES.len()) - 1;
        for name in &config.disable {
            match NAMES.iter().position(|n| n == name.get_ref()) {
                Some(i) => on &= !(1 << i),
                None => {
                    return Err(RuleError {
                        offset: name.span().start,
                        message: format!(
                            "unknown built-in tag `{}` in `disable`: expected one of {}",
                            name.get_ref(),
                            NAMES
                                .iter()
                                .map(|n| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })
                }
            }
        }
        if !config.enabled || on == 0 {
            return Ok(None);
        }
        let failed_login = Regex::new(FAILED_LOGIN).map_err(|e| RuleError {
            offset: 0,
            message: format!("built-in failed-login pattern does not compile: {e}"),
        })?;
        Ok(Some(Defaults {
            on,
            slow_threshold_ns: i64::try_from(config.slow_threshold_ms.saturating_mul(1_000_000))
                .unwrap_or(i64::MAX),
            auth_datasets: config
                .auth_datasets
                .iter()
                .map(|d| d.as_str().into())
                .collect(),
            failed_login,
        }))
    }

    /// Adds the built-in tags `event` qualifies for.
    pub fn apply(&self, event: &mut Event) {
        let at = slots(&event.fields);
        self.apply_at(event, &at);
    }

    /// [`Defaults::apply`] with the fields it reads already found (the tag stage resolves them
    /// with the rules' fields, once per event shape).
    pub(super) fn apply_at(&self, event: &mut Event, slots: &Slots) {
        let found = self.find(event, slots) & self.on;
        for (bit, name) in NAMES.iter().enumerate() {
            if found & (1 << bit) != 0 {
                event.add_tag(*name);
            }
        }
    }

    /// The bit set of built-in tags that apply (whether on or not, apart from the message search,
    /// which is skipped when it cannot change the answer).
    fn find(&self, event: &Event, slots: &Slots) -> u8 {
        let seen = seen(event, slots);
        let mut found = 0;
        match seen.status.and_then(|v| int_value(event, v)) {
            Some(401 | 403) => found |= CLIENT_ERROR | AUTHENTICATION,
            Some(400..=499) => found |= CLIENT_ERROR,
            Some(500..=599) => found |= HTTP_ERROR,
            _ => {}
        }
        let slow = match seen.duration {
            Some(Value::Int(ns)) => *ns > self.slow_threshold_ns,
            Some(Value::Float(ns)) => *ns > self.slow_threshold_ns as f64,
            _ => false,
        };
        if slow {
            found |= SLOW;
        }
        let level = match seen.level {
            Some(Value::Str(t)) => Some(event.text(t)),
            _ => None,
        };
        let severe = matches!(seen.severity, Some(Value::Int(0..=3)));
        if severe || level.is_some_and(|l| is_one_of(l, &ERROR_LEVELS)) {
            found |= ERROR;
        }
        let database = seen
            .category
            .is_some_and(|c| holds_str(event, c, "database"));
        if database && level.is_some_and(|l| is_one_of(l, &DB_ERROR_LEVELS)) {
            found |= DB_ERROR;
        }
        if self.on & AUTHENTICATION != 0 && found & AUTHENTICATION == 0 {
            let auth_dataset = || match seen.dataset {
                Some(Value::Str(t)) => {
                    let d = event.text(t);
                    self.auth_datasets.iter().any(|a| &**a == d)
                }
                _ => false,
            };
            if let Some(Value::Str(m)) = seen.message {
                if (database || auth_dataset()) && self.failed_login.is_match(event.text(m)) {
                    found |= AUTHENTICATION;
                }
            }
        }
        found
    }
}

fn int_value(event: &Event, v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        // A JSON log may write the status as a string.
        Value::Str(t) => event.text(t).parse().ok(),
        _ => None,
    }
}

/// Whether `v` is `s` or an array holding `s`.
fn holds_str(event: &Event, v: &Value, s: &str) -> bool {
    match v {
        Value::Str(t) => event.text(t) == s,
        Value::Array(items) => items
            .iter()
            .any(|i| matches!(i, Value::Str(t) if event.text(t) == s)),
        _ => false,
    }
}

fn is_one_of(word: &str, words: &[&str]) -> bool {
    words.iter().any(|w| w.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{RecordOrigin, Text};
    use crate::parse::ParserOptions;

    fn defaults(config: TagDefaultsConfig) -> Defaults {
        Defaults::build(&config).unwrap().unwrap()
    }

    /// `line` parsed by parser `name` (with `options`), with `event.dataset` as the worker sets it.
    fn parsed(name: &str, options: &ParserOptions, line: &str) -> Event {
        let parser = crate::parse::build(name, options).unwrap();
        let mut e = Event::new(line.into(), RecordOrigin::default());
        e.push("event.dataset", Value::Str(Text::Static(parser.dataset())));
        parser.parse(&mut e).unwrap();
        e
    }

    fn tags_of(name: &str, line: &str) -> Vec<String> {
        tags_with(name, &ParserOptions::default(), line)
    }

    fn tags_with(name: &str, options: &ParserOptions, line: &str) -> Vec<String> {
        let mut e = parsed(name, options, line);
        defaults(TagDefaultsConfig::default()).apply(&mut e);
        e.tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn nginx_status_codes() {
        let line = |status: u16| {
            format!(
                r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] "GET /api/x HTTP/1.1" {status} 12 "-" "curl/8.0""#
            )
        };
        assert_eq!(tags_of("nginx_access", &line(200)), Vec::<String>::new());
        assert_eq!(tags_of("nginx_access", &line(503)), ["http_error"]);
        assert_eq!(tags_of("nginx_access", &line(404)), ["client_error"]);
        assert_eq!(
            tags_of("nginx_access", &line(401)),
            ["client_error", "authentication"]
        );
        assert_eq!(
            tags_of("nginx_access", &line(403)),
            ["client_error", "authentication"]
        );
        // 3xx and 1xx carry nothing.
        assert!(tags_of("nginx_access", &line(302)).is_empty());
    }

    #[test]
    fn nginx_request_time_makes_slow() {
        let options = ParserOptions {
            log_format: Some(
                r#"'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent rt=$request_time'"#
                    .into(),
            ),
            ..ParserOptions::default()
        };
        let line = |rt: &str| {
            format!(r#"10.0.0.2 - - [22/Nov/2026:10:00:00 +0100] "GET / HTTP/1.1" 200 5 rt={rt}"#)
        };
        assert_eq!(
            tags_with("nginx_access", &options, &line("1.503")),
            ["slow"]
        );
        assert!(tags_with("nginx_access", &options, &line("1.000")).is_empty());
        assert!(tags_with("nginx_access", &options, &line("0.004")).is_empty());
    }

    #[test]
    fn postgresql_errors_failed_logins_and_slow_statements() {
        let tags = tags_of(
            "postgresql",
            "2026-11-22 10:00:00.123 UTC [4127] ERROR:  relation \"orders\" does not exist at character 15",
        );
        assert_eq!(tags, ["db_error", "error"]);
        let tags = tags_of(
            "postgresql",
            "2026-11-22 10:00:01.456 UTC [4130] FATAL:  password authentication failed for user \"report\"",
        );
        assert_eq!(tags, ["authentication", "db_error", "error"]);
        let tags = tags_of(
            "postgresql",
            "2026-11-22 10:00:02.789 UTC [4131] FATAL:  no pg_hba.conf entry for host \"203.0.113.9\", user \"x\", database \"y\", no encryption",
        );
        assert_eq!(tags, ["authentication", "db_error", "error"]);
        let tags = tags_of(
            "postgresql",
            "2026-11-22 10:00:03.000 UTC [4132] LOG:  duration: 1532.418 ms  statement: SELECT pg_sleep(1.5)",
        );
        assert_eq!(tags, ["slow"]);
        let tags = tags_of(
            "postgresql",
            "2026-11-22 10:00:04.000 UTC [4133] LOG:  duration: 12.000 ms  statement: SELECT 1",
        );
        assert!(tags.is_empty(), "{tags:?}");
        let tags = tags_of(
            "postgresql",
            "2026-11-22 10:00:05.000 UTC [4134] WARNING:  there is no transaction in progress",
        );
        assert!(tags.is_empty(), "{tags:?}");
    }

    #[test]
    fn syslog_failed_logins_and_severity() {
        let tags = tags_of(
            "syslog",
            "Nov 22 10:00:00 web-01 sshd[20211]: Failed password for invalid user admin from 203.0.113.9 port 52144 ssh2",
        );
        assert_eq!(tags, ["authentication"]);
        let tags = tags_of(
            "syslog",
            "<38>Nov 22 10:00:00 web-01 sshd[20211]: Invalid user admin from 203.0.113.9 port 52144",
        );
        assert_eq!(tags, ["authentication"]);
        let tags = tags_of(
            "syslog",
            "<85>Nov 22 10:00:00 web-01 sudo: pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=bob",
        );
        assert_eq!(tags, ["authentication"]);
        let tags = tags_of(
            "syslog",
            "<34>Nov 22 10:00:00 tty-host login[900]: FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure",
        );
        // Severity 2 (critical) is also `error`.
        assert_eq!(tags, ["authentication", "error"]);
        // PostgreSQL through syslog, severity 3.
        let tags = tags_of(
            "syslog",
            r#"<11>1 2026-11-22T10:00:02.44+01:00 db-01 postgres 5512 - - FATAL:  password authentication failed for user "report""#,
        );
        assert_eq!(tags, ["authentication", "error"]);
        let tags = tags_of(
            "syslog",
            "<38>1 2026-11-22T10:00:03Z web-02 sshd 31020 - - Accepted publickey for deploy from 192.0.2.44 port 40022 ssh2",
        );
        assert!(tags.is_empty(), "{tags:?}");
        let tags = tags_of(
            "syslog",
            "<12>Nov 22 10:00:04 web-01 kernel: nvme nvme0: I/O 512 QID 3 timeout, aborting",
        );
        assert!(tags.is_empty(), "{tags:?}");
        let tags = tags_of("syslog", "<11>Nov 22 10:00:04 web-01 app[1]: disk failure");
        assert_eq!(tags, ["error"]);
    }

    #[test]
    fn failed_login_words_outside_auth_datasets_are_ignored() {
        let tags = tags_of(
            "nginx_access",
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] "GET /Failed%20password%20for HTTP/1.1" 200 12 "-" "Failed password for""#,
        );
        assert!(tags.is_empty(), "{tags:?}");
        // The dataset list is configurable (an auth.log read with its own dataset name).
        let mut e = parsed(
            "syslog",
            &ParserOptions::default(),
            "Nov 22 10:00:00 web-01 sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2",
        );
        e.set("event.dataset", Value::Str(Text::Static("auth")));
        defaults(TagDefaultsConfig::default()).apply(&mut e);
        assert!(e.tags.is_empty());
        defaults(TagDefaultsConfig {
            auth_datasets: vec!["auth".into()],
            ..TagDefaultsConfig::default()
        })
        .apply(&mut e);
        assert!(e.has_tag("authentication"));
    }

    #[test]
    fn nginx_error_and_json_levels() {
        let tags = tags_of(
            "nginx_error",
            "2026/11/22 10:00:00 [crit] 1234#0: *5 connect() to unix:/run/php.sock failed",
        );
        assert_eq!(tags, ["error"]);
        let tags = tags_of(
            "nginx_error",
            "2026/11/22 10:00:00 [warn] 1234#0: *5 an upstream response is buffered",
        );
        assert!(tags.is_empty(), "{tags:?}");
        assert_eq!(
            tags_of("json", r#"{"level":"ERROR","msg":"boom"}"#),
            ["error"]
        );
        assert_eq!(tags_of("json", r#"{"level":60,"msg":"boom"}"#), ["error"]);
        assert_eq!(
            tags_of("json", r#"{"level":"Severe","msg":"boom"}"#),
            ["error"]
        );
        assert!(tags_of("json", r#"{"level":"errors","msg":"x"}"#).is_empty());
        assert!(tags_of("json", r#"{"level":"info","msg":"x"}"#).is_empty());
    }

    #[test]
    fn disabled_and_threshold() {
        let line = "2026-11-22 10:00:01.456 UTC [4130] FATAL:  password authentication failed for user \"report\"";
        let mut e = parsed("postgresql", &ParserOptions::default(), line);
        let config = TagDefaultsConfig {
            disable: vec![
                Spanned::new(0..0, "authentication".to_string()),
                Spanned::new(0..0, "error".to_string()),
            ],
            ..TagDefaultsConfig::default()
        };
        defaults(config).apply(&mut e);
        assert_eq!(e.tags[..], ["db_error"]);

        let off = TagDefaultsConfig {
            enabled: false,
            ..TagDefaultsConfig::default()
        };
        assert!(Defaults::build(&off).unwrap().is_none());

        let slow_line =
            "2026-11-22 10:00:04.000 UTC [4133] LOG:  duration: 12.000 ms  statement: SELECT 1";
        let mut e = parsed("postgresql", &ParserOptions::default(), slow_line);
        defaults(TagDefaultsConfig {
            slow_threshold_ms: 10,
            ..TagDefaultsConfig::default()
        })
        .apply(&mut e);
        assert_eq!(e.tags[..], ["slow"]);

        let bad = TagDefaultsConfig {
            disable: vec![Spanned::new(7..13, "slowww".to_string())],
            ..TagDefaultsConfig::default()
        };
        let err = Defaults::build(&bad).unwrap_err();
        assert_eq!(err.offset, 7);
        assert!(err.message.contains("`slowww`"), "{}", err.message);
    }
}
