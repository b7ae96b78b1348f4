//! Retention: how long the date-named indices of the output are kept (`retention_days`, and
//! `retention_days_by_dataset` per dataset).
//!
//! Where the cluster has index lifecycle management, `template` installs a delete policy and
//! the cluster does the work. Elsewhere logpipe deletes the indices itself: at start, hourly
//! inside the output's run (a task of its own, beside delivery) and on `logpipe retention`.
//! An index is only ever deleted when its name parses under one of the output's own index name
//! templates: [`IndexPattern`] reads the literal text, `{field}` values and date parts back out
//! of a name, and a name that does not parse is kept, whatever it looks like.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use elasticsearch::http::Method;
use regex::Regex;
use serde::Deserialize;

use super::bulk::{Client, DeliveryContext, RequestError};
use super::config::ElasticsearchConfig;
use super::encode::{IndexTemplate, TemplateError};
use crate::pipeline::shutdown::Shutdown;
use crate::telemetry;

/// The field whose value selects a per-dataset retention.
pub const DATASET_FIELD: &str = "event.dataset";
/// Time between two deletion passes of a running output.
pub const PASS_INTERVAL: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("index name template `{template}`: {source}")]
    Template {
        template: String,
        #[source]
        source: TemplateError,
    },
    #[error("index name template `{template}`: cannot build its matcher: {message}")]
    Matcher { template: String, message: String },
    #[error("listing the indices matching `{wildcard}`: {source}")]
    List {
        wildcard: String,
        /// Boxed: the error type stays small on the common `Ok` path.
        #[source]
        source: Box<RequestError>,
    },
    #[error("listing the indices matching `{wildcard}`: unexpected answer: {message}")]
    ListAnswer { wildcard: String, message: String },
}

/// One part of an index name template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(String),
    Year,
    Month,
    Day,
    Hour,
}

/// Characters a `{field}` value can hold in an index name: anything the encoder does not
/// replace (it turns `\ / * ? " < > | space , # :` into `_`).
const FIELD_VALUE: &str = r#"([^\\/*?"<>|,#: ]+)"#;

/// An index name template compiled the other way round: from a name to the values in it.
#[derive(Debug, Clone)]
pub struct IndexPattern {
    source: String,
    parts: Vec<Part>,
    regex: Regex,
    /// Capture group of each placeholder, in the order of `parts` without the literals.
    groups: Vec<(Part, usize)>,
}

/// What a name that parses under a pattern says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    /// The last day the index holds events of: the day itself for daily (and hourly) names,
    /// the last day of the month for monthly names, 31 December for yearly ones.
    pub last_day: NaiveDate,
    /// The value of `{event.dataset}` in the name, when the template has it.
    pub dataset: Option<String>,
}

impl IndexPattern {
    /// Compiles `template` (the syntax of `index`; errors are the encoder's own).
    pub fn compile(template: &str) -> Result<IndexPattern, RetentionError> {
        // The encoder's compiler checks the syntax, so the reading below can be simple.
        IndexTemplate::compile(template).map_err(|source| RetentionError::Template {
            template: template.to_string(),
            source,
        })?;
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            let part = match c {
                '{' => Part::Field(chars.by_ref().take_while(|&d| d != '}').collect()),
                '%' => match chars.next() {
                    Some('Y') => Part::Year,
                    Some('m') => Part::Month,
                    Some('d') => Part::Day,
                    Some('H') => Part::Hour,
                    // `%%` (the only other form the encoder accepts).
                    _ => {
                        literal.push('%');
                        continue;
                    }
                },
                c => {
                    literal.push(c);
                    continue;
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }

        let mut re = String::from("^");
        let mut groups = Vec::new();
        for part in &parts {
            let group = match part {
                Part::Literal(l) => {
                    re.push_str(&regex::escape(l));
                    continue;
                }
                Part::Field(_) => FIELD_VALUE,
                Part::Year => r"(\d{4})",
                Part::Month | Part::Day | Part::Hour => r"(\d{2})",
            };
            re.push_str(group);
            groups.push((part.clone(), groups.len() + 1));
        }
        re.push('$');
        // Built from escaped literals and fixed groups, so it compiles; a failure (size
        // limits) is still reported rather than assumed away.
        let regex = Regex::new(&re).map_err(|e| RetentionError::Matcher {
            template: template.to_string(),
            message: e.to_string(),
        })?;
        Ok(IndexPattern {
            source: template.to_string(),
            parts,
            regex,
            groups,
        })
    }

    /// The template as configured.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether names of this template carry a date retention can work with: a year, and a
    /// month whenever there is a day.
    pub fn is_dated(&self) -> bool {
        let has = |p: &Part| self.parts.contains(p);
        has(&Part::Year) && (has(&Part::Month) || !has(&Part::Day))
    }

    /// Whether the template has `{event.dataset}`.
    pub fn has_dataset(&self) -> bool {
        self.parts.contains(&Part::Field(DATASET_FIELD.to_string()))
    }

    /// The wildcard expression listing every index of this template (as
    /// [`IndexTemplate::pattern`]).
    pub fn wildcard(&self) -> String {
        self.wildcard_with(None)
    }

    /// A wildcard expression for the indices of one dataset: the dataset's value in place of
    /// `{event.dataset}`, `*` for the other placeholders.
    pub fn wildcard_for_dataset(&self, dataset: &str) -> Option<String> {
        self.has_dataset()
            .then(|| self.wildcard_with(Some(dataset)))
    }

    fn wildcard_with(&self, dataset: Option<&str>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match (part, dataset) {
                (Part::Literal(l), _) => out.push_str(l),
                (Part::Field(f), Some(d)) if f == DATASET_FIELD => out.push_str(d),
                _ if dataset.is_none() => {
                    out.push('*');
                    return out;
                }
                _ => {
                    if !out.ends_with('*') {
                        out.push('*');
                    }
                }
            }
        }
        out
    }

    /// Reads `name` back: `None` when it does not parse under this template, has an
    /// impossible date (month 13, 30 February, hour 24), repeats a date part with two values,
    /// or the template carries no usable date.
    pub fn parse(&self, name: &str) -> Option<ParsedName> {
        if !self.is_dated() {
            return None;
        }
        let caps = self.regex.captures(name)?;
        let (mut year, mut month, mut day, mut hour) = (None, None, None, None);
        let mut dataset = None;
        for (part, group) in &self.groups {
            let text = caps.get(*group)?.as_str();
            let slot = match part {
                Part::Field(f) if f == DATASET_FIELD => {
                    // `{event.dataset}` twice with two values: not a name we wrote.
                    if dataset.as_deref().is_some_and(|d| d != text) {
                        return None;
                    }
                    dataset = Some(text.to_string());
                    continue;
                }
                Part::Field(_) | Part::Literal(_) => continue,
                Part::Year => &mut year,
                Part::Month => &mut month,
                Part::Day => &mut day,
                Part::Hour => &mut hour,
            };
            let value: u32 = text.parse().ok()?;
            if slot.is_some_and(|v| v != value) {
                return None;
            }
            *slot = Some(value);
        }
        if hour.is_some_and(|h| h > 23) {
            return None;
        }
        let year = i32::try_from(year?).ok()?;
        let last_day = match (month, day) {
            (Some(m), Some(d)) => NaiveDate::from_ymd_opt(year, m, d)?,
            (Some(m), None) => last_day_of_month(year, m)?,
            (None, None) => NaiveDate::from_ymd_opt(year, 12, 31)?,
            (None, Some(_)) => return None,
        };
        Some(ParsedName { last_day, dataset })
    }
}

fn last_day_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month.checked_add(1)?, 1)?
    };
    // Month 0 or 13 fails above; the first of the next month always has a day before it.
    first_of_next.pred_opt().filter(|d| d.month() == month)
}

/// How long indices are kept: a default and overrides per dataset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `retention_days`; `None`: kept forever unless the dataset has its own.
    pub default_days: Option<u32>,
    /// `retention_days_by_dataset`, keys lowercased as they appear in index names.
    pub by_dataset: BTreeMap<String, u32>,
}

impl RetentionPolicy {
    pub fn from_config(config: &ElasticsearchConfig) -> RetentionPolicy {
        RetentionPolicy {
            default_days: config.retention_days,
            by_dataset: config
                .retention_days_by_dataset
                .iter()
                .map(|(k, v)| (k.to_lowercase(), *v))
                .collect(),
        }
    }

    /// Whether anything is ever deleted.
    pub fn is_configured(&self) -> bool {
        self.default_days.is_some() || !self.by_dataset.is_empty()
    }

    /// Days to keep the indices of `dataset`, and whether that is the dataset's own setting.
    pub fn days_for(&self, dataset: Option<&str>) -> Option<(u32, bool)> {
        if let Some(days) = dataset.and_then(|d| self.by_dataset.get(d)) {
            return Some((*days, true));
        }
        self.default_days.map(|d| (d, false))
    }

    /// For messages: `30 days`, `30 days (nginx.access: 90 days)`, `nginx.access: 90 days`.
    pub fn describe(&self) -> String {
        let per: Vec<String> = self
            .by_dataset
            .iter()
            .map(|(k, v)| format!("{k}: {v} days"))
            .collect();
        match (self.default_days, per.is_empty()) {
            (Some(d), true) => format!("{d} days"),
            (Some(d), false) => format!("{d} days ({})", per.join(", ")),
            (None, _) => per.join(", "),
        }
    }
}

/// Why an index is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// The name does not parse under any of the output's index name templates.
    NoMatch,
    /// No retention applies to it (its dataset has none and there is no default).
    NoRetention,
    /// Not old enough.
    Young { age_days: i64, retention_days: u32 },
}

/// What becomes of one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Delete { age_days: i64, retention_days: u32 },
    Keep(KeepReason),
}

/// One index, its date and the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub index: String,
    pub parsed: Option<ParsedName>,
    pub decision: Decision,
    /// The dataset whose own retention (`retention_days_by_dataset`) applied.
    pub dataset_rule: Option<String>,
}

impl Verdict {
    pub fn deletes(&self) -> bool {
        matches!(self.decision, Decision::Delete { .. })
    }
}

impl fmt::Display for Verdict {
    /// `INDEX  DATE  delete|kept: why`, the line `logpipe retention --dry-run` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line("delete"))
    }
}

impl Verdict {
    /// The line of this verdict, with `delete_word` for an index past retention (`delete`
    /// in a plan, `deleted` or `delete failed` after a pass).
    pub fn line(&self, delete_word: &str) -> String {
        let date = self
            .parsed
            .as_ref()
            .map(|p| p.last_day.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "-".into());
        let whose = match &self.dataset_rule {
            Some(d) => format!(" (dataset {d})"),
            None => String::new(),
        };
        let why = match &self.decision {
            Decision::Delete {
                age_days,
                retention_days,
            } => format!(
                "{delete_word}: {} old, retention {}{whose}",
                days(*age_days),
                days(i64::from(*retention_days))
            ),
            Decision::Keep(KeepReason::NoMatch) => "kept: does not match pattern".to_string(),
            Decision::Keep(KeepReason::NoRetention) => "kept: no retention configured".to_string(),
            Decision::Keep(KeepReason::Young {
                age_days,
                retention_days,
            }) => format!(
                "kept: {} old, retention {}{whose}",
                days(*age_days),
                days(i64::from(*retention_days))
            ),
        };
        format!("{}  {date}  {why}", self.index)
    }
}

/// `1 day`, `30 days`.
fn days(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// The retention of one output: its index name templates and the policy.
#[derive(Debug, Clone)]
pub struct Retention {
    patterns: Vec<IndexPattern>,
    policy: RetentionPolicy,
}

impl Retention {
    /// From the output's settings and the index templates tag rules route to. Routed templates
    /// without a date are left out (their indices are never deleted).
    pub fn new(
        config: &ElasticsearchConfig,
        routes: &[Arc<str>],
    ) -> Result<Retention, RetentionError> {
        let mut patterns = vec![IndexPattern::compile(&config.index)?];
        for r in routes {
            let p = IndexPattern::compile(r)?;
            if p.is_dated() && !patterns.iter().any(|q| q.source == p.source) {
                patterns.push(p);
            }
        }
        Ok(Retention {
            patterns,
            policy: RetentionPolicy::from_config(config),
        })
    }

    pub fn policy(&self) -> &RetentionPolicy {
        &self.policy
    }

    pub fn is_configured(&self) -> bool {
        self.policy.is_configured()
    }

    /// The wildcard expressions that list every index of the output, without repeats.
    pub fn wildcards(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.patterns {
            let w = p.wildcard();
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }

    /// The decision on `index` on day `today` (UTC): deleted when its last day is more than
    /// the retention before today, so with 30 days an index of 31 days ago goes and one of 30
    /// days ago stays.
    pub fn decide(&self, index: &str, today: NaiveDate) -> Verdict {
        let parsed = self.patterns.iter().find_map(|p| p.parse(index));
        let mut dataset_rule = None;
        let decision = match &parsed {
            None => Decision::Keep(KeepReason::NoMatch),
            Some(p) => match self.policy.days_for(p.dataset.as_deref()) {
                None => Decision::Keep(KeepReason::NoRetention),
                Some((retention_days, own)) => {
                    if own {
                        dataset_rule = p.dataset.clone();
                    }
                    let age_days = (today - p.last_day).num_days();
                    if age_days > i64::from(retention_days) {
                        Decision::Delete {
                            age_days,
                            retention_days,
                        }
                    } else {
                        Decision::Keep(KeepReason::Young {
                            age_days,
                            retention_days,
                        })
                    }
                }
            },
        };
        Verdict {
            index: index.to_string(),
            parsed,
            decision,
            dataset_rule,
        }
    }
}

/// Today's date in UTC.
pub fn today_utc() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Names of the indices matching `wildcard`, sorted.
pub async fn list_indices(client: &Client, wildcard: &str) -> Result<Vec<String>, RetentionError> {
    #[derive(Deserialize)]
    struct Row {
        index: String,
    }
    let path = format!("_cat/indices/{}", encode_path_segment(wildcard));
    let list_error = |source| RetentionError::List {
        wildcard: wildcard.to_string(),
        source: Box::new(source),
    };
    let body = client
        .request(
            Method::Get,
            &path,
            &[("format", "json"), ("h", "index")],
            Default::default(),
            None,
        )
        .await;
    let body = match body {
        Ok((_, body)) => body,
        // No index matches a name without wildcard.
        Err(RequestError::Status { status: 404, .. }) => return Ok(Vec::new()),
        Err(e) => return Err(list_error(e)),
    };
    let rows: Vec<Row> = serde_json::from_slice(&body).map_err(|e| RetentionError::ListAnswer {
        wildcard: wildcard.to_string(),
        message: e.to_string(),
    })?;
    let mut names: Vec<String> = rows.into_iter().map(|r| r.index).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Percent-encodes everything but unreserved characters and `*`, so an index name is one
/// path segment whatever it holds.
fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// Every index seen, with its decision, sorted by name.
    pub verdicts: Vec<Verdict>,
    /// Indices deleted now (or already gone when their turn came).
    pub deleted: Vec<String>,
    /// Indices that should have been deleted but the cluster refused or did not answer.
    pub failed: Vec<(String, RequestError)>,
}

/// Lists the output's indices and decides on each; deletes those past retention unless
/// `dry_run`. One failed deletion does not stop the others.
pub async fn run_pass(
    client: &Client,
    retention: &Retention,
    today: NaiveDate,
    dry_run: bool,
) -> Result<PassReport, RetentionError> {
    let mut names = Vec::new();
    for w in retention.wildcards() {
        names.extend(list_indices(client, &w).await?);
    }
    names.sort();
    names.dedup();
    let mut report = PassReport::default();
    for name in names {
        let verdict = retention.decide(&name, today);
        if verdict.deletes() && !dry_run {
            match delete_index(client, &name).await {
                Ok(()) => {
                    if let (
                        Some(p),
                        Decision::Delete {
                            age_days,
                            retention_days,
                        },
                    ) = (&verdict.parsed, &verdict.decision)
                    {
                        telemetry::retention_index_deleted(
                            &name,
                            &p.last_day.to_string(),
                            *age_days,
                            *retention_days,
                        );
                    }
                    report.deleted.push(name.clone());
                }
                Err(e) => {
                    telemetry::retention_delete_failed(&name, &e);
                    report.failed.push((name.clone(), e));
                }
            }
        }
        report.verdicts.push(verdict);
    }
    Ok(report)
}

/// Deletes one index by its exact name (never a wildcard); an index already gone counts as
/// deleted.
async fn delete_index(client: &Client, name: &str) -> Result<(), RequestError> {
    // `json_request` reads a 404 (already gone) as `None`.
    client
        .json_request(Method::Delete, &encode_path_segment(name), None)
        .await
        .map(|_| ())
}

/// The deletion task of a running output (where the cluster has no ILM): a pass at start,
/// then one every [`PASS_INTERVAL`], until shutdown. Failures are logged and wait for the next
/// pass; delivery never waits for this task.
pub async fn run_periodically(
    delivery: Arc<DeliveryContext>,
    retention: Retention,
    mut shutdown: Shutdown,
) {
    loop {
        match run_pass(&delivery.client, &retention, today_utc(), false).await {
            Ok(report) => telemetry::retention_pass(
                report.verdicts.len(),
                report.deleted.len(),
                report.failed.len(),
            ),
            Err(e) => telemetry::retention_pass_failed(&e),
        }
        tokio::select! {
            _ = tokio::time::sleep(PASS_INTERVAL) => {}
            _ = shutdown.wait() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn parse(template: &str, name: &str) -> Option<ParsedName> {
        IndexPattern::compile(template).unwrap().parse(name)
    }

    #[test]
    fn daily_names_with_dataset() {
        let t = "logs-{event.dataset}-%Y.%m.%d";
        assert_eq!(
            parse(t, "logs-nginx.access-2024.03.05"),
            Some(ParsedName {
                last_day: date(2024, 3, 5),
                dataset: Some("nginx.access".into())
            })
        );
        // A dataset with dashes and dots of its own.
        assert_eq!(
            parse(t, "logs-my-app.x-2024.12.31").unwrap().dataset,
            Some("my-app.x".into())
        );
        for foreign in [
            "logs-nginx.access-notadate",
            "logs-nginx.access-2024.03",
            "logs-nginx.access-2024.03.05-000001",
            "logs-2024.03.05",
            "logs--2024.03.05",
            "other-nginx.access-2024.03.05",
            "logs-nginx.access-2024.02.30",
            "logs-nginx.access-2024.13.01",
            "logs-nginx.access-2024.3.5",
            "xlogs-a-2024.03.05",
            ".logs-a-2024.03.05",
        ] {
            assert_eq!(parse(t, foreign), None, "{foreign}");
        }
        // 29 February only in leap years.
        assert!(parse(t, "logs-a-2024.02.29").is_some());
        assert!(parse(t, "logs-a-2023.02.29").is_none());
    }

    #[test]
    fn other_date_layouts() {
        assert_eq!(
            parse("app-%Y-%m-%d", "app-2024-01-31").unwrap().last_day,
            date(2024, 1, 31)
        );
        assert!(parse("app-%Y-%m-%d", "app-2024.01.31").is_none());
        // Monthly: the last day of the month.
        assert_eq!(
            parse("app-%Y.%m", "app-2024.02").unwrap().last_day,
            date(2024, 2, 29)
        );
        assert_eq!(
            parse("app-%Y.%m", "app-2023.12").unwrap().last_day,
            date(2023, 12, 31)
        );
        assert!(parse("app-%Y.%m", "app-2023.00").is_none());
        // Yearly, hourly, no separators, `%%`.
        assert_eq!(
            parse("app-%Y", "app-2021").unwrap().last_day,
            date(2021, 12, 31)
        );
        assert_eq!(
            parse("x-%Y%m%d%H-%%", "x-2024030507-%").unwrap().last_day,
            date(2024, 3, 5)
        );
        assert!(parse("x-%Y%m%d%H", "x-2024030524").is_none());
        // The same part twice must agree.
        assert!(parse("%Y-a-%Y.%m", "2024-a-2024.01").is_some());
        assert!(parse("%Y-a-%Y.%m", "2024-a-2025.01").is_none());
        // Literal characters that mean something in a regex are literal.
        assert!(parse("a+b.%Y", "a+b.2024").is_some());
        assert!(parse("a+b.%Y", "aab.2024").is_none());
        assert!(parse("a+b.%Y", "a+bx2024").is_none());
    }

    #[test]
    fn templates_without_a_usable_date_match_nothing() {
        for t in ["fixed", "logs-{event.dataset}", "logs-%m.%d", "logs-%Y.%d"] {
            let p = IndexPattern::compile(t).unwrap();
            assert!(!p.is_dated(), "{t}");
        }
        assert_eq!(parse("fixed", "fixed"), None);
        assert!(IndexPattern::compile("logs-{a").is_err());
    }

    #[test]
    fn other_fields_and_wildcards() {
        let p = IndexPattern::compile("{host.name}-{event.dataset}-%Y.%m.%d").unwrap();
        let n = p.parse("web1-nginx.error-2024.01.02").unwrap();
        assert_eq!(n.dataset.as_deref(), Some("nginx.error"));
        assert_eq!(p.wildcard(), "*");
        assert_eq!(
            p.wildcard_for_dataset("nginx.error").as_deref(),
            Some("*-nginx.error-*.*.*")
        );
        let p = IndexPattern::compile("logs-{event.dataset}-%Y.%m.%d").unwrap();
        assert_eq!(p.wildcard(), "logs-*");
        assert_eq!(
            p.wildcard_for_dataset("nginx.access").as_deref(),
            Some("logs-nginx.access-*.*.*")
        );
        let p = IndexPattern::compile("app-%Y").unwrap();
        assert_eq!(p.wildcard_for_dataset("x"), None);
        // Same as the encoder's pattern.
        for t in ["logs-{event.dataset}-%Y.%m.%d", "app-%Y", "fixed", "%Y"] {
            assert_eq!(
                IndexPattern::compile(t).unwrap().wildcard(),
                IndexTemplate::compile(t).unwrap().pattern()
            );
        }
    }

    fn config(days: Option<u32>, by: &[(&str, u32)]) -> ElasticsearchConfig {
        let mut c = ElasticsearchConfig::new("http://h:9200");
        c.retention_days = days;
        c.retention_days_by_dataset = by.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        c
    }

    #[test]
    fn decisions_at_the_boundary() {
        let r = Retention::new(&config(Some(30), &[]), &[]).unwrap();
        let today = date(2024, 3, 31);
        let name = |ago: i64| {
            format!(
                "logs-nginx.access-{}",
                (today - chrono::Duration::days(ago)).format("%Y.%m.%d")
            )
        };
        let deletes: Vec<bool> = [40, 31, 30, 29, 1, 0]
            .iter()
            .map(|&ago| r.decide(&name(ago), today).deletes())
            .collect();
        assert_eq!(deletes, [true, true, false, false, false, false]);
        assert_eq!(
            r.decide(&name(31), today).decision,
            Decision::Delete {
                age_days: 31,
                retention_days: 30
            }
        );
        let v = r.decide("logs-nginx.access-notadate", today);
        assert_eq!(v.decision, Decision::Keep(KeepReason::NoMatch));
        assert_eq!(
            v.to_string(),
            "logs-nginx.access-notadate  -  kept: does not match pattern"
        );
        assert_eq!(
            r.decide(&name(30), today).to_string(),
            "logs-nginx.access-2024.03.01  2024-03-01  kept: 30 days old, retention 30 days"
        );
        assert_eq!(
            r.decide(&name(40), today).to_string(),
            "logs-nginx.access-2024.02.20  2024-02-20  delete: 40 days old, retention 30 days"
        );
        // A monthly route: the whole month must be past retention.
        let r = Retention::new(&config(Some(30), &[]), &[Arc::from("audit-%Y.%m")]).unwrap();
        assert_eq!(r.wildcards(), vec!["logs-*", "audit-*"]);
        // February's last day (the 29th) is 30 days before 30 March, 31 before 31 March.
        assert!(!r.decide("audit-2024.02", date(2024, 3, 30)).deletes());
        assert!(r.decide("audit-2024.02", today).deletes());
        assert!(!r.decide("audit-2024.03", today).deletes());
        // A routed template without a date is not even listed.
        let r = Retention::new(&config(Some(30), &[]), &[Arc::from("fixed")]).unwrap();
        assert_eq!(r.wildcards(), vec!["logs-*"]);
    }

    #[test]
    fn per_dataset_retention() {
        let r = Retention::new(&config(Some(30), &[("Nginx.Access", 90)]), &[]).unwrap();
        let today = date(2024, 6, 30);
        assert!(!r.decide("logs-nginx.access-2024.04.30", today).deletes());
        assert!(r.decide("logs-nginx.access-2024.03.30", today).deletes());
        assert!(r.decide("logs-nginx.error-2024.05.30", today).deletes());
        assert!(r
            .decide("logs-nginx.access-2024.03.30", today)
            .to_string()
            .ends_with("retention 90 days (dataset nginx.access)"));
        assert_eq!(r.policy().describe(), "30 days (nginx.access: 90 days)");
        // Only some datasets: the others are kept.
        let r = Retention::new(&config(None, &[("nginx.access", 7)]), &[]).unwrap();
        assert!(r.decide("logs-nginx.access-2024.06.01", today).deletes());
        assert_eq!(
            r.decide("logs-other-2000.01.01", today).decision,
            Decision::Keep(KeepReason::NoRetention)
        );
        assert!(!Retention::new(&config(None, &[]), &[])
            .unwrap()
            .is_configured());
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_path_segment("logs-a.b_c-*"), "logs-a.b_c-*");
        assert_eq!(encode_path_segment("a%b+c/é"), "a%25b%2Bc%2F%C3%A9");
    }
}
