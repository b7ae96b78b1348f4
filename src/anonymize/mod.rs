//! Anonymize stage: truncates or pseudonymizes addresses, pseudonymizes identities, redacts
//! secrets and personal data, and drops fields, before anything leaves the process. It runs
//! after enrichment, so GeoIP sees full addresses first, and before tagging and encoding.
//!
//! One stage is built per pipeline (keys read, patterns compiled, field lists indexed) and
//! shared by every worker thread; `apply` only reads it. Per event it makes two passes over the
//! field list:
//! 1. identity fields (`[anonymize.ip] fields` and their `.address` siblings, `pseudonymize`
//!    fields) are rewritten, and their original values recorded;
//! 2. every other string field is searched for those recorded values (so the client address at
//!    the start of an NGINX `message`, or the user name inside it, is replaced the same way),
//!    text fields (`message`, `url.*`, ...) are scanned for secrets and personal data, and
//!    fields named like a secret (`password`, `user.api_key`, `access_token`...) are masked
//!    whole.
//!
//! A line whose parser marked what cannot hold free text (`Event::plain`: an NGINX access
//! line's time, status, short numbers and syntax) is scanned only in the pieces between, one
//! by one, and a piece this thread scanned before, clean or holding only secrets masked whole,
//! is not scanned again (`clean_pieces`): access logs repeat their user agents, referrers and
//! request lines, API keys in URLs included.
//!
//! Nothing is allocated for a field with nothing to hide: detection works on the borrowed text
//! (mostly spans of the event's line) and only a field that changes gets a new string.
//!
//! Without an `[anonymize]` table, or with an empty one, the stage does nothing: each feature is
//! switched on by its own key.

mod clean_pieces;
mod fields;
mod ip;
mod pii;
mod pseudonym;
mod redact;
mod secrets;

use std::borrow::Cow;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

use serde::Deserialize;
use smallvec::SmallVec;

use crate::event::shape::ShapeCache;
use crate::event::{Event, FieldName, Text, Value};
use fields::{is_pii_name, role, FieldTable, NormalizedKey};
use ip::IpAnonymizer;
use pseudonym::Pseudonymizer;
use redact::{render, Kind, Known, KnownText, Match, Repl, TextRules};

/// Free-text fields always scanned when anything is redacted or anonymized: where parsers put
/// whole lines, request targets, referrers and error texts.
pub const DEFAULT_TEXT_FIELDS: &[&str] = &[
    "message",
    "event.original",
    "error.message",
    "url.original",
    "url.path",
    "url.query",
    "url.fragment",
    "http.request.referrer",
    "user_agent.original",
    "nginx.access.request",
    "nginx.error.request",
    "postgresql.log.query",
];

/// Address fields anonymized when `[anonymize.ip]` does not list its own.
pub const DEFAULT_IP_FIELDS: &[&str] = &[
    "source.ip",
    "client.ip",
    "related.ip",
    "nginx.access.remote_ip_list",
    "nginx.access.http_x_forwarded_for",
];

/// ECS fields a parser may set whose name alone says they hold a secret or contact data.
const STATIC_SPECIAL: &[&str] = &[
    "url.password",
    "user.email",
    "client.user.email",
    "source.user.email",
    "destination.user.email",
    "server.user.email",
    "user.changes.email",
    "user.target.email",
    "user.effective.email",
];

/// Field kept in allow-list mode whatever the list says: index names are built from it.
const ALWAYS_KEPT: &str = "event.dataset";

/// `[anonymize]`: what to hide before events leave logpipe. Every key is optional and every
/// feature is off until its key is set.
///
/// ```toml
/// [anonymize]
/// ip = { fields = ["source.ip"], mode = "truncate", ipv4_prefix = 24, ipv6_prefix = 48 }
/// pseudonymize = { fields = ["user.name"], key_env = "LOGPIPE_PSEUDONYM_KEY" }
/// redact = ["password", "api_key", "token", "credit_card", "ssn", "email", "phone"]
/// redact_fields = ["labels.note"]
/// remove = ["user_agent.original"]
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymizeConfig {
    /// IP address anonymization: the listed address fields (with their `.address` siblings,
    /// and the same addresses anywhere else in the event) are truncated to a network prefix or
    /// replaced by a keyed pseudonym. Off when absent.
    #[serde(default)]
    pub ip: Option<IpConfig>,
    /// Keyed pseudonyms (HMAC-SHA256) for identity fields such as `user.name`: one user keeps one
    /// pseudonym across events and restarts, and the name is replaced wherever else it appears
    /// in the event. Off when absent.
    #[serde(default)]
    pub pseudonymize: Option<PseudonymizeConfig>,
    /// What to redact in text fields: any of `password`, `api_key`, `token` (tokens, secrets,
    /// `Authorization` and cookie values, JWTs), all three masked as `********`; `credit_card`
    /// (Luhn-valid, `4111-****-****-1111`), `ssn` (`***-**-6789`), `email` (`j***@example.com`),
    /// `phone` (US numbers, `(555) ***-4567`). The secret categories also mask whole fields
    /// whose last name segment names a secret (`password`, `user.api_key`, `client_secret`...),
    /// and the personal-data ones scan fields named like `email` or `phone`. Default: none.
    #[serde(default)]
    pub redact: Vec<RedactKind>,
    /// Further fields scanned as text, added to the built-in list (`message`,
    /// `event.original`, `error.message`, `url.original`, `url.path`, `url.query`,
    /// `url.fragment`, `http.request.referrer`, `user_agent.original`, `nginx.access.request`,
    /// `nginx.error.request`, `postgresql.log.query`). Exact names, `prefix.*`, or `*` for every
    /// string field.
    #[serde(default)]
    pub redact_fields: Vec<String>,
    /// Further key names masked as `********` wherever they appear (as a field's last name
    /// segment or in `key=value` text), compared without case, `_` or `-`: e.g. `["pin", "cvv"]`.
    #[serde(default)]
    pub secret_keys: Vec<String>,
    /// Regular expressions (Rust `regex` syntax) whose matches in text fields become `********`,
    /// for site-specific identifiers. Compiled once at start.
    #[serde(default)]
    pub redact_patterns: Vec<String>,
    /// Fields dropped from every event: exact names or `prefix.*`.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Allow-list mode: only these fields are kept (exact names or `prefix.*`), plus
    /// `event.dataset`, which index names are built from. `@timestamp` and tags always stay.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
}

/// A `redact` category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactKind {
    Password,
    ApiKey,
    Token,
    CreditCard,
    Ssn,
    Email,
    Phone,
}

/// `[anonymize.ip]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpConfig {
    /// Address fields (values of type `ip`, address strings, or lists of addresses such as
    /// `X-Forwarded-For`). For each `X.ip` listed, `X.address` is anonymized too. Default:
    /// `source.ip`, `client.ip`, `related.ip`, `nginx.access.remote_ip_list`,
    /// `nginx.access.http_x_forwarded_for`.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// `truncate` (default): keep the network prefix, zero the host part. `pseudonymize`: a
    /// keyed pseudonym that is still an address (IPv4 in 240.0.0.0/4, IPv6 in fd00::/8, so
    /// `ip`-mapped fields accept it); uses the `pseudonymize` key.
    #[serde(default)]
    pub mode: IpMode,
    /// Bits of an IPv4 address kept by `truncate` (0-32). Default 24.
    #[serde(default = "default_ipv4_prefix")]
    pub ipv4_prefix: u8,
    /// Bits of an IPv6 address kept by `truncate` (0-128). Default 48.
    #[serde(default = "default_ipv6_prefix")]
    pub ipv6_prefix: u8,
    /// Also anonymize any other address literal found in text fields (`Failed password for
    /// root from 203.0.113.9`). Dotted quads that read as versions (`nginx/1.2.3.4`,
    /// `version 1.2.3.4`, `1.2.3.4-rc1`) are left alone; a bare `1.2.3.4` counts as an
    /// address. Default true.
    #[serde(default = "default_true")]
    pub scan_text: bool,
}

fn default_ipv4_prefix() -> u8 {
    24
}

fn default_ipv6_prefix() -> u8 {
    48
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpMode {
    #[default]
    Truncate,
    Pseudonymize,
}

/// `[anonymize.pseudonymize]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PseudonymizeConfig {
    /// Fields replaced by their pseudonym (exact names or `prefix.*`); `[]` when the key only
    /// serves `ip.mode = "pseudonymize"`.
    pub fields: Vec<String>,
    /// Environment variable holding the key (at least 16 bytes, used as is). Exactly one of
    /// `key_env` and `key_file`. The key is never logged; keep it to keep pseudonyms stable.
    #[serde(default)]
    pub key_env: Option<String>,
    /// File holding the key (at least 16 bytes; a trailing newline is ignored).
    #[serde(default)]
    pub key_file: Option<String>,
    /// Text put before the hex digits. Default `anon-`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Hex digits of the HMAC kept (8-64). Default 16 (64 bits: no collision in practice).
    #[serde(default = "default_length")]
    pub length: usize,
}

fn default_prefix() -> String {
    "anon-".into()
}

fn default_length() -> usize {
    16
}

#[derive(Debug, thiserror::Error)]
pub enum AnonymizeError {
    #[error("[anonymize]: {0}")]
    Invalid(String),
    #[error(
        "[anonymize.pseudonymize]: environment variable `{var}` (key_env) is not set; it must \
         hold the pseudonym key"
    )]
    KeyEnvMissing { var: String },
    #[error("[anonymize.pseudonymize]: cannot read key file `{path}` (key_file): {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "[anonymize.pseudonymize]: the key from {origin} is {len} bytes; at least {min} are \
         needed"
    )]
    KeyTooShort {
        origin: String,
        len: usize,
        min: usize,
    },
    #[error("[anonymize]: redact_patterns[{index}] is not a valid regular expression: {source}")]
    Pattern {
        index: usize,
        source: Box<regex::Error>,
    },
    #[error("[anonymize]: {key}: {message}")]
    Field { key: &'static str, message: String },
}

/// The built stage.
#[derive(Debug, Default)]
pub struct AnonymizeStage {
    /// Tells this stage's cached roles (see `event::shape`) from another's.
    id: u64,
    /// Nothing configured: `apply` returns at once.
    inert: bool,
    table: FieldTable,
    /// `remove` or `allow` is set.
    filter: bool,
    allow_mode: bool,
    ip: Option<IpAnonymizer>,
    pseudo: Option<Arc<Pseudonymizer>>,
    /// Scanning of text fields.
    rules: TextRules,
    /// Scanning of address-list strings in IP fields (every literal, no version guess).
    list_rules: TextRules,
    /// Fields named like a secret are masked whole.
    key_secrets: bool,
    /// Fields named like personal data are scanned as text.
    pii_names: bool,
    /// `secret_keys` is set: every field name is normalized and compared.
    extra_keys: bool,
}

/// Most shapes a thread keeps the plans of.
const PLAN_CACHE_MAX: usize = 512;

thread_local! {
    static PLANS: std::cell::RefCell<ShapeCache<Rc<Plan>>> =
        std::cell::RefCell::new(ShapeCache::new(PLAN_CACHE_MAX));
}

/// Roles of the fields of one event; most events have fewer than 48 fields.
type Roles = SmallVec<[u8; 48]>;
type KnownList<'r> = SmallVec<[Known<'r>; 4]>;

/// What the stage does with each field of an event, worked out from the names alone: once per
/// shape (see `event::shape`), so an event of a known shape visits its identity and text
/// fields directly instead of looking at every field's role three times.
#[derive(Debug, Default)]
struct Plan {
    /// The roles of every field, in event order.
    roles: Roles,
    /// Fields with an identity role (address, its text, pseudonymized), in event order.
    identity: SmallVec<[usize; 4]>,
    /// Text fields without an identity role: where the widest span is looked for.
    text_only: SmallVec<[usize; 8]>,
    /// Fields without an identity role that are scanned by name: text fields, and fields
    /// whose name may say they hold a secret or personal data when names are looked at.
    by_name: SmallVec<[usize; 8]>,
    /// Every other field, as runs of neighbours (`start..end`): only values recorded by the
    /// identity pass are searched for in them, so most (numbers, parser constants, GeoIP names,
    /// short strings) are passed over by their type and length alone, one after another.
    rest: SmallVec<[(usize, usize); 8]>,
}

impl Plan {
    /// `scan_names`: the stage looks at what field names say (secrets, personal data).
    fn new(roles: Roles, scan_names: bool) -> Plan {
        let mut plan = Plan {
            roles,
            ..Plan::default()
        };
        for (i, &r) in plan.roles.iter().enumerate() {
            if r & IDENTITY != 0 {
                plan.identity.push(i);
                continue;
            }
            if r & role::TEXT != 0 {
                plan.text_only.push(i);
            }
            if r & role::TEXT != 0 || (scan_names && r & role::SPECIAL != 0) {
                plan.by_name.push(i);
            } else {
                match plan.rest.last_mut() {
                    Some((_, end)) if *end == i => *end = i + 1,
                    _ => plan.rest.push((i, i + 1)),
                }
            }
        }
        plan
    }
}

/// A [`Plan`] held by a caller that keeps plans per shape for several stages at once.
#[derive(Debug)]
pub(crate) struct ShapePlan(Plan);

/// Roles whose fields the identity pass rewrites.
const IDENTITY: u8 = role::IP | role::ADDRESS | role::PSEUDO;

impl AnonymizeStage {
    pub fn build(config: &AnonymizeConfig) -> Result<AnonymizeStage, AnonymizeError> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut stage = AnonymizeStage {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ..AnonymizeStage::default()
        };
        let mut table = FieldTable::default();
        let mut add = |key: &'static str, patterns: &[String], roles: u8| {
            patterns.iter().try_for_each(|p| {
                table
                    .add(p, roles)
                    .map_err(|message| AnonymizeError::Field { key, message })
            })
        };

        let pseudo = match &config.pseudonymize {
            Some(p) => {
                add("pseudonymize.fields", &p.fields, role::PSEUDO)?;
                Some(Arc::new(Pseudonymizer::from_config(p)?))
            }
            None => None,
        };

        if let Some(ipc) = &config.ip {
            if ipc.ipv4_prefix > 32 || ipc.ipv6_prefix > 128 {
                return Err(AnonymizeError::Invalid(format!(
                    "ip.ipv4_prefix must be 0-32 and ip.ipv6_prefix 0-128 (got {} and {})",
                    ipc.ipv4_prefix, ipc.ipv6_prefix
                )));
            }
            let anonymizer = match ipc.mode {
                IpMode::Truncate => IpAnonymizer::Truncate {
                    v4: ipc.ipv4_prefix,
                    v6: ipc.ipv6_prefix,
                },
                IpMode::Pseudonymize => match &pseudo {
                    Some(p) => IpAnonymizer::Pseudonymize(p.clone()),
                    None => {
                        return Err(AnonymizeError::Invalid(
                            "ip.mode = \"pseudonymize\" needs a key: add `pseudonymize = { \
                             fields = [], key_env = \"...\" }` (or key_file)"
                                .into(),
                        ))
                    }
                },
            };
            let defaults: Vec<String>;
            let ip_fields = match &ipc.fields {
                Some(f) => f,
                None => {
                    defaults = DEFAULT_IP_FIELDS.iter().map(|s| s.to_string()).collect();
                    &defaults
                }
            };
            add("ip.fields", ip_fields, role::IP)?;
            let siblings: Vec<String> = ip_fields
                .iter()
                .filter_map(|f| f.strip_suffix(".ip").map(|x| format!("{x}.address")))
                .collect();
            add("ip.fields", &siblings, role::ADDRESS)?;
            if ipc.scan_text {
                stage.rules.pii.ip = Some(anonymizer.clone());
                stage.rules.pii.versions = true;
            }
            stage.list_rules.pii.ip = Some(anonymizer.clone());
            stage.ip = Some(anonymizer);
        }
        stage.pseudo = pseudo;

        let secrets = &mut stage.rules.secrets;
        let pii = &mut stage.rules.pii;
        for kind in &config.redact {
            match kind {
                RedactKind::Password => secrets.password = true,
                RedactKind::ApiKey => secrets.api_key = true,
                RedactKind::Token => secrets.token = true,
                RedactKind::CreditCard => pii.card = true,
                RedactKind::Ssn => pii.ssn = true,
                RedactKind::Email => pii.email = true,
                RedactKind::Phone => pii.phone = true,
            }
        }
        for key in &config.secret_keys {
            let normalized = NormalizedKey::new(key).as_bytes().to_vec();
            if normalized.is_empty() {
                return Err(AnonymizeError::Invalid(format!(
                    "secret_keys: `{key}` is not a key name"
                )));
            }
            secrets.extra.push(normalized.into());
        }
        for (index, p) in config.redact_patterns.iter().enumerate() {
            let re = regex::Regex::new(p).map_err(|e| AnonymizeError::Pattern {
                index,
                source: Box::new(e),
            })?;
            stage.rules.patterns.push(re);
        }
        stage.key_secrets = stage.rules.secrets.any();
        stage.extra_keys = !stage.rules.secrets.extra.is_empty();
        stage.pii_names = pii.card || pii.ssn || pii.email || pii.phone;

        let text_fields: Vec<String> = DEFAULT_TEXT_FIELDS
            .iter()
            .map(|s| s.to_string())
            .chain(config.redact_fields.iter().cloned())
            .collect();
        add("redact_fields", &text_fields, role::TEXT)?;
        add("remove", &config.remove, role::REMOVE)?;
        if let Some(allow) = &config.allow {
            if allow.is_empty() {
                return Err(AnonymizeError::Invalid(
                    "allow = [] would drop every field; list the fields to keep, or leave \
                     `allow` out to keep all"
                        .into(),
                ));
            }
            if allow.iter().any(|a| a == "*") {
                return Err(AnonymizeError::Field {
                    key: "allow",
                    message: "`*` keeps everything; leave `allow` out instead".into(),
                });
            }
            add("allow", allow, role::ALLOW)?;
            stage.allow_mode = true;
        }
        if config.remove.iter().any(|r| r == "*") {
            return Err(AnonymizeError::Field {
                key: "remove",
                message: "`*` would drop every field".into(),
            });
        }
        stage.filter = stage.allow_mode || !config.remove.is_empty();
        stage.table = table;
        stage.inert =
            !stage.filter && stage.ip.is_none() && stage.pseudo.is_none() && !stage.rules.any();
        Ok(stage)
    }

    /// Anonymizes one event in place.
    pub fn apply(&self, event: &mut Event) {
        if self.inert {
            return;
        }
        // A plan of a known shape is shared from the thread's cache; others (filtered fields,
        // names made at run time) are worked out here, on the stack.
        let cached: Rc<Plan>;
        let local: Plan;
        let plan: &Plan = if self.filter {
            let mut roles = Roles::new();
            event.fields.retain(|(name, _)| {
                let r = self.role_of(name);
                let keep = r & role::REMOVE == 0
                    && (!self.allow_mode || r & role::ALLOW != 0 || name == ALWAYS_KEPT);
                if keep {
                    roles.push(r);
                }
                keep
            });
            local = Plan::new(roles, self.scans_names());
            &local
        } else {
            let fields = &event.fields;
            let make = || self.plan_of(fields);
            let hint = &event.shape_hint;
            let shared = PLANS.with(|cache| {
                let mut cache = cache.try_borrow_mut().ok()?;
                cache
                    .get_or_insert_with(fields, hint, self.id, || Rc::new(make()))
                    .cloned()
            });
            match shared {
                Some(plan) => {
                    cached = plan;
                    &cached
                }
                None => {
                    local = make();
                    &local
                }
            }
        };
        self.run(event, plan);
    }

    /// What this stage does with the fields of an event of the shape of `fields`, for a caller
    /// that keeps it per shape ([`AnonymizeStage::apply_planned`]); `None` when that depends on
    /// more than the names (`remove`, `allow`) or the stage does nothing.
    pub(crate) fn plan_for(&self, fields: &[(FieldName, Value)]) -> Option<ShapePlan> {
        (!self.inert && !self.filter).then(|| ShapePlan(self.plan_of(fields)))
    }

    /// Whether the stage does nothing at all (no `[anonymize]` key set).
    pub fn is_inert(&self) -> bool {
        self.inert
    }

    /// Identifies what [`AnonymizeStage::plan_for`] depends on besides the field names.
    pub(crate) fn shape_id(&self) -> u64 {
        self.id
    }

    /// [`AnonymizeStage::apply`] with the plan of the event's shape already worked out
    /// ([`AnonymizeStage::plan_for`] on the same field names). Returns whether the field names
    /// changed (a rewritten `url.path` takes `url.extension` with it).
    pub(crate) fn apply_planned(&self, event: &mut Event, plan: &ShapePlan) -> bool {
        self.run(event, &plan.0)
    }

    fn plan_of(&self, fields: &[(FieldName, Value)]) -> Plan {
        Plan::new(
            fields.iter().map(|(n, _)| self.role_of(n)).collect(),
            self.scans_names(),
        )
    }

    /// Anonymizes `event` by `plan`; returns whether the field names changed.
    fn run(&self, event: &mut Event, plan: &Plan) -> bool {
        let Event {
            raw, fields, plain, ..
        } = event;
        let raw: &str = raw;
        let roles = &plan.roles[..];

        let mut known = KnownList::new();
        if self.ip.is_some() || self.pseudo.is_some() {
            self.identity_pass(raw, fields, plan, &mut known);
        }

        let mut container_found = redact::Matches::new();
        let container = if self.rules.any() && self.rules.patterns.is_empty() {
            Container::pick(self, raw, plain, fields, plan, &known, &mut container_found)
        } else {
            None
        };

        let shortest_known = redact::shortest_known(&known);
        let mut path_changed = false;
        let mut span_found = redact::Matches::new();
        for &i in &plan.by_name {
            let (Some((name, value)), Some(&r)) = (fields.get_mut(i), roles.get(i)) else {
                continue;
            };
            let mut full = r & role::TEXT != 0;
            if self.scans_names() && r & role::SPECIAL != 0 {
                let key = NormalizedKey::new(name);
                if self.key_secrets {
                    if let Some(kind) = self.rules.secrets.kind_of(&key) {
                        redact_whole(kind, raw, value);
                        continue;
                    }
                }
                full |= self.pii_names && is_pii_name(&key);
            }
            let may_change = match &*value {
                v @ (Value::Array(_) | Value::Object(_)) => self.may_rewrite(v, full),
                v => scalar_may_rewrite(v, full),
            };
            if !may_change {
                continue;
            }
            // A name that only may say "personal data" and does not: known values only, as
            // for the fields below.
            if !full && !fits_known(value, shortest_known) {
                continue;
            }
            let reused = match (&container, &*value) {
                (Some(c), Value::Str(Text::Span { start, end })) => {
                    let (start, end) = (*start as usize, *end as usize);
                    c.findings_for(i, start, end, raw, full, &mut span_found)
                        .map(|found| (found, start, end))
                }
                _ => None,
            };
            let changed = match reused {
                Some(([], ..)) => false,
                Some((found, start, end)) => {
                    let text = raw.get(start..end).unwrap_or_default();
                    *value = Value::Str(Text::Owned(render(text, found, &known)));
                    true
                }
                None => self.rewrite_value(raw, value, full, &known),
            };
            path_changed |= changed && name == "url.path";
        }
        // Outside text fields only known values are searched for: a string shorter than all
        // of them (a method, a version, an extension) cannot hold one, and a number, a parser
        // constant or per-stream context holds none.
        for &(start, end) in &plan.rest {
            let Some(run) = fields.get_mut(start..end) else {
                continue;
            };
            for (name, value) in run {
                let may_change = match &*value {
                    Value::Str(Text::Span { .. } | Text::Owned(_)) => {
                        fits_known(value, shortest_known)
                    }
                    v @ (Value::Array(_) | Value::Object(_)) => self.may_rewrite(v, false),
                    _ => false,
                };
                // Rare enough to be searched on their own rather than through the container's
                // findings (which give the same known values).
                if may_change && self.rewrite_value(raw, value, false, &known) {
                    path_changed |= name == "url.path";
                }
            }
        }
        if path_changed {
            refresh_extension(fields);
        }
        path_changed
    }

    /// Whether field names are looked at for what they say (secrets, personal data).
    fn scans_names(&self) -> bool {
        self.key_secrets || self.pii_names
    }

    /// The roles of a field name, and whether the name itself may say "secret" or "personal
    /// data": names a parser sets (borrowed, `'static`) are ECS fields of known meaning, so only
    /// the few ECS names that hold credentials or contact data count; names taken from the data
    /// (JSON keys) are all classified.
    fn role_of(&self, name: &FieldName) -> u8 {
        let special = match name {
            Cow::Borrowed(n) => STATIC_SPECIAL.contains(n),
            Cow::Owned(n) => self.extra_keys || fields::may_be_special(n),
        };
        self.table.roles(name) | if special { role::SPECIAL } else { 0 }
    }

    /// Rewrites address and pseudonymized fields, recording their original values.
    fn identity_pass<'r>(
        &self,
        raw: &'r str,
        fields: &mut [(FieldName, Value)],
        plan: &Plan,
        known: &mut KnownList<'r>,
    ) {
        // Addresses held as `Value::Ip`: their text is only produced when no sibling string
        // already recorded the same address.
        let mut typed: SmallVec<[(IpAddr, IpAddr); 4]> = SmallVec::new();
        // Typed addresses first: the text beside one (`source.address` beside `source.ip`) is
        // then recognized as the same address by its text instead of parsed again.
        for typed_pass in [true, false] {
            for &i in &plan.identity {
                let (Some((_, value)), Some(&r)) = (fields.get_mut(i), plan.roles.get(i)) else {
                    continue;
                };
                if matches!(value, Value::Ip(_)) != typed_pass {
                    continue;
                }
                if r & role::PSEUDO != 0 {
                    if let Some(p) = &self.pseudo {
                        self.pseudonymize_value(p, raw, value, known, &mut typed);
                    }
                } else if let Some(a) = &self.ip {
                    self.anonymize_address(a, raw, value, known, &mut typed);
                }
            }
        }
        for &(orig, anon) in &typed {
            if orig == anon || known.iter().any(|k| k.ip == Some(orig)) {
                continue;
            }
            known.push(Known {
                text: redact::ip_known_text(orig),
                repl: Repl::Ip(anon),
                ip: Some(orig),
            });
        }
    }

    fn anonymize_address<'r>(
        &self,
        anon: &IpAnonymizer,
        raw: &'r str,
        value: &mut Value,
        known: &mut KnownList<'r>,
        typed: &mut SmallVec<[(IpAddr, IpAddr); 4]>,
    ) {
        match value {
            Value::Ip(a) => {
                let out = anon.anonymize(*a);
                typed.push((*a, out));
                *a = out;
            }
            Value::Str(t) => {
                // A span of the line is recorded by reference, anything else copied.
                let in_line: Option<&'r str> = match t {
                    Text::Span { start, end } => raw.get(*start as usize..*end as usize),
                    _ => None,
                }
                .map(str::trim);
                let text = match in_line {
                    Some(s) => s,
                    None => text_of(raw, t).trim(),
                };
                if text.is_empty() {
                    return;
                }
                let seen = typed
                    .iter()
                    .find(|(orig, _)| redact::is_ip_text(*orig, text))
                    .copied();
                if let Some((a, out)) =
                    seen.or_else(|| parse_address(text).map(|a| (a, anon.anonymize(a))))
                {
                    if out == a {
                        // Already in its anonymized form (`x.y.z.0`): nothing to copy.
                        return;
                    }
                    if !known.iter().any(|k| k.ip == Some(a)) {
                        let kt = match in_line {
                            Some(s) => Some(KnownText::Raw(s)),
                            None => KnownText::inline(text),
                        };
                        if let Some(kt) = kt {
                            known.push(Known {
                                text: kt,
                                repl: Repl::Ip(out),
                                ip: Some(a),
                            });
                        }
                    }
                    // Typed, also in an `.address` field: the document gets the same text
                    // (the encoder writes an address as its standard text), without a string
                    // made for it.
                    *value = Value::Ip(out);
                    return;
                }
                // A list (`X-Forwarded-For`), `host:port`, or a name: every address literal in
                // it is replaced, and recorded for the rest of the event.
                let mut found = redact::Matches::new();
                self.list_rules.scan(text, &[], true, &mut found);
                if found.is_empty() {
                    return;
                }
                for m in &found {
                    let (Kind::Ip(out), Some(orig)) = (m.kind, text.get(m.start..m.end)) else {
                        continue;
                    };
                    let parsed = orig.parse::<IpAddr>().ok();
                    if parsed.is_some() && known.iter().any(|k| k.ip == parsed) {
                        continue;
                    }
                    if let Some(kt) = KnownText::inline(orig) {
                        known.push(Known {
                            text: kt,
                            repl: Repl::Ip(out),
                            ip: parsed,
                        });
                    }
                }
                *value = Value::Str(Text::Owned(render(text, &found, &[])));
            }
            Value::Array(items) => {
                for item in items {
                    self.anonymize_address(anon, raw, item, known, typed);
                }
            }
            _ => {}
        }
    }

    fn pseudonymize_value<'r>(
        &self,
        p: &Pseudonymizer,
        raw: &'r str,
        value: &mut Value,
        known: &mut KnownList<'r>,
        typed: &mut SmallVec<[(IpAddr, IpAddr); 4]>,
    ) {
        let original = match value {
            Value::Ip(a) => {
                let out = p.ip(*a);
                typed.push((*a, out));
                *a = out;
                return;
            }
            Value::Array(items) => {
                for item in items {
                    self.pseudonymize_value(p, raw, item, known, typed);
                }
                return;
            }
            Value::Str(Text::Span { start, end }) => {
                match raw.get(*start as usize..*end as usize) {
                    Some(s) => KnownText::Raw(s),
                    None => return,
                }
            }
            Value::Str(Text::Static(s)) => KnownText::Raw(s),
            Value::Str(Text::Shared(s)) => KnownText::Shared(s.clone()),
            Value::Str(Text::Owned(s)) => KnownText::Owned(std::mem::take(s)),
            Value::Int(n) => match KnownText::inline(itoa::Buffer::new().format(*n)) {
                Some(t) => t,
                None => return,
            },
            _ => return,
        };
        if original.as_str().is_empty() {
            if let KnownText::Owned(s) = original {
                // Put the (empty) value back as it was.
                *value = Value::Str(Text::Owned(s));
            }
            return;
        }
        let pseudonym: Arc<str> = Arc::from(p.text(original.as_str()));
        *value = Value::Str(Text::Shared(pseudonym.clone()));
        known.push(Known {
            text: original,
            repl: Repl::Text(pseudonym),
            ip: None,
        });
    }

    /// Whether an object key may say "secret": keys taken from the data (JSON) are classified;
    /// keys a parser or enricher wrote (borrowed, `'static`, such as GeoIP's `lat` and `lon`)
    /// have a known meaning, as for field names (see [`Self::role_of`]).
    fn key_may_name_secret(&self, key: &FieldName) -> bool {
        self.key_secrets
            && match key {
                Cow::Borrowed(_) => false,
                Cow::Owned(k) => self.extra_keys || fields::may_be_special(k),
            }
    }

    /// Whether [`Self::rewrite_value`] could change `value`: it holds text from the line or the
    /// data (per-stream context only when `full`), or an object key that may name a secret.
    fn may_rewrite(&self, value: &Value, full: bool) -> bool {
        // Scalars are answered here, so only nested lists and objects recurse.
        let item = |v: &Value| match v {
            Value::Array(_) | Value::Object(_) => self.may_rewrite(v, full),
            v => scalar_may_rewrite(v, full),
        };
        match value {
            Value::Array(items) => items.iter().any(item),
            Value::Object(entries) => entries
                .iter()
                .any(|(key, v)| self.key_may_name_secret(key) || item(v)),
            v => scalar_may_rewrite(v, full),
        }
    }

    /// Scans a value that is not an identity field: known values everywhere, everything else
    /// when `full`.
    /// Returns whether the value changed.
    fn rewrite_value(&self, raw: &str, value: &mut Value, full: bool, known: &[Known<'_>]) -> bool {
        match value {
            Value::Str(t) => {
                let text = match t {
                    // Parser constants, never data from the line.
                    Text::Static(_) => return false,
                    // Per-stream context (host name, file path): only scanned when asked for.
                    Text::Shared(s) if full => &**s,
                    Text::Shared(_) => return false,
                    Text::Owned(s) => &**s,
                    Text::Span { start, end } => match raw.get(*start as usize..*end as usize) {
                        Some(s) => s,
                        None => return false,
                    },
                };
                if !full && !redact::any_known_fits(text, known) {
                    return false;
                }
                match self.rules.rewrite(text, known, full) {
                    Some(new) => {
                        *value = Value::Str(Text::Owned(new));
                        true
                    }
                    None => false,
                }
            }
            Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
                self.rewrite_value(raw, item, full, known) | changed
            }),
            Value::Object(entries) => {
                let mut changed = false;
                for (key, item) in entries {
                    if self.key_may_name_secret(key) {
                        if let Some(kind) = self.rules.secrets.kind_of(&NormalizedKey::new(key)) {
                            redact_whole(kind, raw, item);
                            changed = true;
                            continue;
                        }
                    }
                    changed |= self.rewrite_value(raw, item, full, known);
                }
                changed
            }
            _ => false,
        }
    }
}

/// The findings of the widest text span of an event (the whole line, for NGINX), reused for the
/// text spans inside it (`url.original`, `url.path`, `url.query`, the referrer) instead of
/// scanning each again: the line is scanned once.
///
/// A span takes the container's findings only when its neighbours in the line are delimiters
/// (space, quote, `?`, `#`, ...), so the detectors saw the same boundaries as in the span alone,
/// and when no finding crosses its edges; otherwise it is scanned on its own. Findings made from
/// context just outside a span (a `Bearer` right before it) stay with it: the span is masked
/// where a scan of it alone might not have seen the secret.
struct Container<'f> {
    index: usize,
    start: usize,
    end: usize,
    /// Relative to `start`.
    found: &'f [Match],
}

/// Characters around a span that every detector treats like the end of the text.
fn is_delimiter(c: u8) -> bool {
    DELIMITERS[usize::from(c)]
}

/// [`is_delimiter`] as a table: it is asked twice per text field of every event, and a lookup
/// costs less than the comparisons.
static DELIMITERS: [bool; 256] = {
    let mut table = [false; 256];
    let delimiters = b" \t\"'?#&,;{}<>|";
    let mut i = 0;
    while i < delimiters.len() {
        table[delimiters[i] as usize] = true;
        i += 1;
    }
    table
};

impl<'f> Container<'f> {
    /// The widest text span, scanned (into `found`), when at least one other text span lies
    /// inside it.
    fn pick(
        stage: &AnonymizeStage,
        raw: &str,
        plain: &[(u32, u32)],
        fields: &[(FieldName, Value)],
        plan: &Plan,
        known: &[Known<'_>],
        found: &'f mut redact::Matches,
    ) -> Option<Container<'f>> {
        // Walked twice rather than collected: a collected list is copied as it is returned.
        let spans = || {
            plan.text_only.iter().filter_map(|&i| match fields.get(i) {
                Some((_, Value::Str(Text::Span { start, end }))) => {
                    Some((i, *start as usize, *end as usize))
                }
                _ => None,
            })
        };
        // A span of the whole line (NGINX's `message`) is as wide as any can be: the first one
        // found is taken without looking at the others (two of them would give the same
        // findings).
        let (index, start, end) = match spans().find(|&(_, s, e)| s == 0 && e == raw.len()) {
            Some(line) => line,
            None => spans().max_by_key(|(_, s, e)| e - s)?,
        };
        // Worth it only when another text span lies inside (NGINX: every `url.*` in the line).
        spans().find(|&(i, s, e)| i != index && start <= s && e <= end)?;
        let text = raw.get(start..end)?;
        if plain.is_empty() || !stage.scan_pieces(raw, start, end, plain, known, found) {
            found.clear();
            stage.rules.scan(text, known, true, found);
        }
        Some(Container {
            index,
            start,
            end,
            found,
        })
    }

    /// The findings of the span `start..end` of field `index`, relative to the span, or `None`
    /// when it must be scanned on its own. Without `full` (a field that is not free text, such
    /// as the user agent inside an NGINX line) only known values count: the span takes them when
    /// every finding it overlaps is a known value lying wholly inside it, which is what a search
    /// of the span alone finds.
    fn findings_for<'a>(
        &'a self,
        index: usize,
        start: usize,
        end: usize,
        raw: &str,
        full: bool,
        out: &'a mut redact::Matches,
    ) -> Option<&'a [Match]> {
        if index == self.index {
            return full.then_some(self.found);
        }
        let b = raw.as_bytes();
        let inside = self.start <= start && end <= self.end && start <= end;
        if !inside {
            return None;
        }
        // Inside the container, a span that does not start (end) where it does has a byte
        // before (after) it in the line.
        let delimiter_at = |i: usize| b.get(i).is_some_and(|&c| is_delimiter(c));
        let edges = (start == self.start || start.checked_sub(1).is_some_and(delimiter_at))
            && (end == self.end || delimiter_at(end));
        if !edges {
            return None;
        }
        let (rs, re) = (start - self.start, end - self.start);
        // Most spans hold none of the line's findings (those are mostly the client address at
        // its start).
        if !self.found.iter().any(|m| m.end > rs && m.start < re) {
            return Some(&[]);
        }
        out.clear();
        for m in self.found {
            if m.end <= rs || m.start >= re {
                continue;
            }
            if m.start < rs || m.end > re || (!full && !matches!(m.kind, Kind::Known(_))) {
                return None;
            }
            let mut m = *m;
            m.start -= rs;
            m.end -= rs;
            if let Kind::Email { at } = &mut m.kind {
                *at -= rs;
            }
            out.push(m);
        }
        Some(&out[..])
    }
}

impl AnonymizeStage {
    /// The findings in `raw[start..end]` when the parser marked parts of the line plain (see
    /// `Event::plain`): the pieces between the plain ranges are searched one by one, for known
    /// values and by the detectors, which skip a piece this thread scanned before (see
    /// `clean_pieces`). A piece that is exactly a known value (the client address, the user) is
    /// that value and nothing else. `false` when a piece does not fall on character boundaries:
    /// the caller then scans the whole text.
    fn scan_pieces(
        &self,
        raw: &str,
        start: usize,
        end: usize,
        plain: &[(u32, u32)],
        known: &[Known<'_>],
        found: &mut redact::Matches,
    ) -> bool {
        let mut piece_found = redact::Matches::new();
        let mut at = start;
        // The pieces lie between the plain ranges and after the last one (up to `end`).
        let mut next = 0;
        loop {
            let (plain_start, plain_end) = match plain.get(next) {
                Some(&(a, b)) => (a as usize, b as usize),
                None => (end, end),
            };
            let piece_end = plain_start.min(end);
            if piece_end > at {
                let Some(piece) = raw.get(at..piece_end) else {
                    return false;
                };
                match known
                    .iter()
                    .position(|k| k.text.as_bytes() == piece.as_bytes())
                {
                    Some(k) => found.push(Match {
                        start: at - start,
                        end: piece_end - start,
                        kind: Kind::Known(k),
                    }),
                    None => {
                        piece_found.clear();
                        self.scan_piece(piece, known, &mut piece_found);
                        for m in &piece_found {
                            found.push(m.shifted(at - start));
                        }
                    }
                }
            }
            at = at.max(plain_end.min(end));
            if next >= plain.len() {
                break;
            }
            next += 1;
        }
        redact::normalize(found);
        true
    }

    /// Adds the findings in one piece of a line, relative to it: the known values in it, and
    /// the detectors' unless this thread scanned the piece before (see `clean_pieces`).
    ///
    /// A piece is remembered only when it held no known value: the detectors work around known
    /// values (as in a scan of the whole line), so what they found around one event's known
    /// values says nothing about the same piece with another's. For the same reason a
    /// remembered piece that holds one of this event's known values is scanned again. Only
    /// pieces that are clean or hold nothing but secrets masked whole are remembered.
    fn scan_piece(&self, piece: &str, known: &[Known<'_>], found: &mut redact::Matches) {
        use clean_pieces::Remembered;
        // Addresses are mostly unique: remembering them would only push out the pieces that
        // do repeat. The piece is looked up first: one found was not an address when it was
        // remembered, so the test for one is only made on a miss, before remembering.
        let looked_up = (piece.len() <= clean_pieces::PIECE_MAX)
            .then(|| clean_pieces::lookup(self.id, piece.as_bytes()))
            .filter(|l| l.is_ok() || !(piece.len() <= 45 && parse_address(piece).is_some()));
        match &looked_up {
            Some(Ok(Remembered::Clean(pairs))) => {
                redact::find_known_where(piece, known, found, |needle| pairs.may_hold(needle));
                if found.is_empty() {
                    return;
                }
            }
            Some(Ok(Remembered::Masked(hidden))) => {
                // The pairs of bytes of a masked piece say nothing of its hidden bytes.
                redact::find_known(piece, known, found);
                if found.is_empty() {
                    let stars =
                        |&(start, end): &(u32, u32)| Match::stars(start as usize, end as usize);
                    found.extend(hidden.iter().map(stars));
                    return;
                }
            }
            _ => redact::find_known(piece, known, found),
        }
        self.rules.scan(piece, &[], true, found);
        let Some(Err(key)) = looked_up else {
            return;
        };
        // Secrets masked whole are remembered by their place alone; anything whose replacement
        // is made from the text hidden (a card's digits, an e-mail's domain) or from this
        // event (a known value) is not.
        let mut hidden: SmallVec<[(u32, u32); 4]> = SmallVec::new();
        for m in found.iter() {
            let (Kind::Stars, Ok(start), Ok(end)) =
                (m.kind, u32::try_from(m.start), u32::try_from(m.end))
            else {
                return;
            };
            hidden.push((start, end));
        }
        clean_pieces::remember(self.id, key, piece.as_bytes(), &hidden);
    }
}

/// Whether a value may hold one of the event's known values (whose shortest is `shortest`): a
/// string from the line or the data only when it is at least that long; any other value is
/// left to the caller's own test.
fn fits_known(value: &Value, shortest: usize) -> bool {
    match value {
        Value::Str(Text::Span { start, end }) => end.saturating_sub(*start) as usize >= shortest,
        Value::Str(Text::Owned(s)) => s.len() >= shortest,
        _ => true,
    }
}

/// [`AnonymizeStage::may_rewrite`] for a value that is not a list or an object.
#[inline]
fn scalar_may_rewrite(value: &Value, full: bool) -> bool {
    match value {
        Value::Str(Text::Static(_)) => false,
        Value::Str(Text::Shared(_)) => full,
        Value::Str(_) => true,
        _ => false,
    }
}

/// `text` as one address: dotted quads (nearly every client) without the standard parser's
/// generality, anything else through it.
fn parse_address(text: &str) -> Option<IpAddr> {
    // Most text given here is not an address: turned away at its first other character before
    // the standard parser tries it twice (as IPv4, then as IPv6).
    if !text
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    {
        return None;
    }
    match ip::ipv4_at(text.as_bytes(), 0) {
        Some((end, a)) if end == text.len() => Some(IpAddr::V4(a)),
        _ => text.parse().ok(),
    }
}

/// `url.extension` is derived from the last segment of `url.path`; once the path is rewritten
/// (a token in `/reset/<jwt>` masked), the old extension would keep a piece of what was hidden,
/// so it is derived again from the new path, or dropped.
fn refresh_extension(fields: &mut Vec<(FieldName, Value)>) {
    let ext = fields
        .iter()
        .rev()
        .find(|(n, _)| n == "url.path")
        .and_then(|(_, v)| match v {
            Value::Str(Text::Owned(p)) => {
                let last = p.rsplit('/').next().unwrap_or_default();
                let ext = last
                    .rsplit_once('.')?
                    .1
                    .split(';')
                    .next()
                    .unwrap_or_default();
                (!ext.is_empty()).then(|| ext.to_ascii_lowercase())
            }
            _ => None,
        });
    match ext {
        Some(ext) => {
            for (n, v) in fields.iter_mut() {
                if n == "url.extension" {
                    *v = Value::owned_str(ext.clone());
                }
            }
        }
        None => fields.retain(|(n, _)| n != "url.extension"),
    }
}

/// Masks a whole value held under a secret key; numbers become the `********` string too.
fn redact_whole(kind: fields::SecretKind, raw: &str, value: &mut Value) {
    match value {
        Value::Str(t) => {
            if let Some(v) = secrets::whole_value(kind, text_of(raw, t)) {
                *value = v;
            }
        }
        Value::Int(_) | Value::Float(_) => *value = Value::Str(Text::Static(secrets::STARS)),
        Value::Array(items) => {
            for item in items {
                redact_whole(kind, raw, item);
            }
        }
        Value::Object(entries) => {
            for (_, item) in entries {
                redact_whole(kind, raw, item);
            }
        }
        _ => {}
    }
}

fn text_of<'a>(raw: &'a str, t: &'a Text) -> &'a str {
    match t {
        Text::Span { start, end } => raw.get(*start as usize..*end as usize).unwrap_or(""),
        Text::Owned(s) => s,
        Text::Static(s) => s,
        Text::Shared(s) => s,
    }
}

#[cfg(test)]
mod tests;
