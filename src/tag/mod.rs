//! Tag stage: built-in tags, then the `[[tag]]` rules of the pipeline file, which add tags, set
//! fields, route events to another index or drop them.
//!
//! Rules are compiled once when the file loads; a rule that does not compile is a config error
//! naming the file, line and column of the offending token. `apply` runs on the worker threads
//! after enrich and anonymize (the stage is shared behind an `Arc`; evaluation only reads it).
//!
//! ```toml
//! [[tag]]
//! when = 'http.response.status_code >= 500 and url.path =~ "^/api/"'
//! add = ["api_error"]
//! set = { "event.kind" = "alert", "labels.team" = "payments" }
//! index = "alerts-{event.dataset}-%Y.%m.%d"
//! # drop = true
//! ```
//!
//! Order per event: the built-in tags (`defaults`), then each rule in file order; a rule whose
//! condition holds applies `set`, `add`, `index`, then `drop`, which ends the evaluation. Later
//! rules see what earlier ones did (a tag added, a field set). The condition language is
//! described in `condition`, the built-in tags in `defaults`. Like every string of the file,
//! `when` goes through `${VAR}` expansion first: a `$` not followed by `{` (a regex's `$`) stays,
//! and `$$` is a literal `$`.

pub mod actions;
pub mod condition;
pub mod defaults;
mod position;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::event::Event;

pub use defaults::TagDefaultsConfig;

/// What the tag stage decided for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Drop,
}

/// One `[[tag]]` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRuleConfig {
    /// Condition, e.g. `http.response.status_code >= 500 and url.path =~ "^/api/"`: `==`, `!=`,
    /// `<`, `<=`, `>`, `>=`, `=~`/`!~` (regex), `field in [..]`, `"value" in field`,
    /// `exists(field)`, `not`, `and`, `or`, parentheses; `true` matches every event.
    pub when: Spanned<String>,
    /// Tags added to matching events.
    #[serde(default)]
    pub add: Vec<Spanned<String>>,
    /// Fields set on matching events: dotted name = string, integer, float, boolean or an array
    /// of those, e.g. `{ "event.kind" = "alert" }`. An existing value is replaced.
    #[serde(default)]
    pub set: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    /// Index name pattern for matching events instead of the output's own, with the syntax of
    /// `output.elasticsearch.index` (`{field}`, `%Y`, `%m`, `%d`, `%H`).
    #[serde(default)]
    pub index: Option<Spanned<String>>,
    /// Drops matching events (they are counted, not sent); later rules do not run.
    #[serde(default)]
    pub drop: bool,
}

/// A rule that does not compile: `offset` is a byte offset into the pipeline file.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub offset: usize,
    pub message: String,
}

#[derive(Debug)]
struct Rule {
    when: condition::Expr,
    actions: actions::Actions,
}

/// Most distinct field names the rules may read for `apply` to resolve them all in one pass
/// into a buffer on the stack; beyond that, conditions look fields up by name (slower, same
/// result).
const MAX_SLOTS: usize = 64;

/// The compiled tag stage. `TagStage::default()` does nothing (no built-in tags, no rules).
#[derive(Debug, Default)]
pub struct TagStage {
    defaults: Option<defaults::Defaults>,
    rules: Vec<Rule>,
    /// Every field name the rules' conditions and the built-in tags read.
    fields: condition::FieldTable,
    /// The slots in `fields` of what the built-in tags read (`defaults::READ`).
    read: [usize; 7],
    /// Distinct `index` patterns, in rule order.
    routes: Vec<Arc<str>>,
}

impl TagStage {
    /// Compiles the rules once; `source` is the pipeline file's text (for error offsets).
    pub fn build(
        rules: &[TagRuleConfig],
        defaults: &TagDefaultsConfig,
        source: &str,
    ) -> Result<TagStage, RuleError> {
        let defaults = defaults::Defaults::build(defaults)?;
        let mut routes = Vec::new();
        let mut fields = condition::FieldTable::default();
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            let text = rule.when.get_ref();
            let mut when = condition::parse(text).map_err(|e| RuleError {
                offset: position::StringPos::new(source, rule.when.span(), text).offset(e.offset),
                message: e.message,
            })?;
            let actions = actions::Actions::build(
                &rule.set,
                &rule.add,
                rule.index.as_ref(),
                rule.drop,
                source,
                &mut routes,
            )?;
            if actions.is_empty() {
                return Err(RuleError {
                    offset: rule.when.span().start,
                    message: "this rule does nothing: give it `add`, `set`, `index` or \
                              `drop = true`"
                        .into(),
                });
            }
            fields.register(&mut when);
            compiled.push(Rule { when, actions });
        }
        let read = match &defaults {
            Some(_) => defaults::READ.map(|name| fields.slot_for(name)),
            None => [usize::MAX; 7],
        };
        Ok(TagStage {
            defaults,
            read,
            rules: compiled,
            fields,
            routes,
        })
    }

    /// Index patterns that `index` actions route to (the output installs templates for them).
    pub fn routes(&self) -> Vec<Arc<str>> {
        self.routes.clone()
    }

    /// Tags, sets, routes `event`; `Verdict::Drop` when a matching rule drops it.
    pub fn apply(&self, event: &mut Event) -> Verdict {
        // One lookup per event shape finds what the built-in tags and the rules read (tags are
        // not fields, so the built-ins leave the slots as they were).
        let mut buf = [condition::ABSENT; MAX_SLOTS];
        let slots: &mut [u32] = match buf.get_mut(..self.fields.len()) {
            Some(slots) => slots,
            None => &mut [],
        };
        if !slots.is_empty() {
            self.fields.resolve(event, slots);
        }
        self.apply_at(event, slots)
    }

    /// Where the fields this stage reads are in events of `event`'s shape (its field names):
    /// what [`TagStage::apply_resolved`] takes, for a caller that keeps it per shape.
    pub(crate) fn slots_for(&self, event: &Event) -> Box<[u32]> {
        let mut slots = vec![condition::ABSENT; self.fields.len()];
        self.fields.resolve_by_name(event, &mut slots);
        slots.into()
    }

    /// Identifies what [`TagStage::slots_for`] depends on besides the field names.
    pub(crate) fn shape_id(&self) -> u64 {
        self.fields.id()
    }

    /// [`TagStage::apply`] with the slots of the event's shape already found
    /// ([`TagStage::slots_for`] on the same field names).
    pub(crate) fn apply_resolved(&self, event: &mut Event, resolved: &[u32]) -> Verdict {
        let mut buf = [condition::ABSENT; MAX_SLOTS];
        let slots: &mut [u32] = match buf.get_mut(..self.fields.len()) {
            Some(slots) if slots.len() == resolved.len() => {
                slots.copy_from_slice(resolved);
                slots
            }
            _ => return self.apply(event),
        };
        self.apply_at(event, slots)
    }

    fn apply_at(&self, event: &mut Event, slots: &mut [u32]) -> Verdict {
        if let Some(defaults) = &self.defaults {
            let at = match slots.is_empty() {
                false => self
                    .read
                    .map(|k| slots.get(k).copied().unwrap_or(condition::ABSENT)),
                true => defaults::slots(&event.fields),
            };
            defaults.apply_at(event, &at);
        }
        for rule in &self.rules {
            if rule.when.eval_in(event, slots) {
                rule.actions.apply(event);
                if rule.actions.drop {
                    return Verdict::Drop;
                }
                if rule.actions.sets_fields() {
                    self.fields.resolve(event, slots);
                }
            }
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;
    use crate::event::{RecordOrigin, Text, Value};
    use std::path::Path;

    /// Lines 1-6; the tag tables of a test start on line 7.
    const BASE: &str =
        "[[inputs]]\ntype = \"stdin\"\nparser = \"nginx_access\"\n\n[output.stdout]\n\n";

    fn load(tail: &str) -> Result<PipelineConfig, String> {
        PipelineConfig::from_str(Path::new("p.toml"), &format!("{BASE}{tail}"))
            .map_err(|e| e.to_string())
    }

    fn stage(tail: &str) -> Arc<TagStage> {
        match load(tail) {
            Ok(c) => c.tag,
            Err(e) => panic!("{e}"),
        }
    }

    fn error(tail: &str) -> String {
        match load(tail) {
            Ok(_) => panic!("loaded: {tail}"),
            Err(e) => e,
        }
    }

    fn assert_error(tail: &str, place: &str, words: &str) {
        let e = error(tail);
        assert!(e.starts_with(place), "expected {place}, got: {e}");
        assert!(e.contains(words), "expected {words:?} in: {e}");
    }

    /// An nginx access event as the worker hands it to the tag stage.
    fn nginx(status: u16, path: &str) -> Event {
        let parser = crate::parse::build("nginx_access", &Default::default()).unwrap();
        let line = format!(
            r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] "GET {path} HTTP/1.1" {status} 12 "-" "curl/8.0""#
        );
        let mut e = Event::new(line, RecordOrigin::default());
        e.push("event.dataset", Value::Str(Text::Static(parser.dataset())));
        parser.parse(&mut e).unwrap();
        e
    }

    #[test]
    fn built_in_tags_and_rules_read_the_same_event_with_many_or_few_fields_read() {
        // Rules reading more names than fit the slots on the stack: both the built-in tags and
        // the rules then find their fields by name, with the same outcome.
        let many: String = (0..MAX_SLOTS)
            .map(|i| format!("[[tag]]\nwhen = 'exists(labels.f{i})'\nadd = ['f{i}']\n\n"))
            .collect();
        let last = "[[tag]]\nwhen = 'http.response.status_code == 503'\nadd = ['down']\n";
        for rules in [String::new(), many] {
            let tag = stage(&format!("{rules}{last}"));
            let mut e = nginx(503, "/x");
            e.push("labels.f3", Value::Int(1));
            assert_eq!(tag.apply(&mut e), Verdict::Keep);
            assert!(e.has_tag("http_error") && e.has_tag("down"), "{:?}", e.tags);
            assert_eq!(e.has_tag("f3"), e.tags.len() == 3, "{:?}", e.tags);
            let mut e = nginx(404, "/x");
            tag.apply(&mut e);
            assert_eq!(e.tags[..], ["client_error"]);
        }
    }

    #[test]
    fn stage_is_shareable_between_workers() {
        fn check<T: Send + Sync>() {}
        check::<TagStage>();
    }

    #[test]
    fn error_unknown_operator() {
        assert_error(
            "[[tag]]\nwhen = 'status = 500'\nadd = ['x']\n",
            "p.toml:8:16: ",
            "unknown operator `=`",
        );
    }

    #[test]
    fn error_unterminated_string() {
        assert_error(
            "[[tag]]\nwhen = 'a == \"abc'\nadd = ['x']\n",
            "p.toml:8:14: ",
            "unterminated string",
        );
    }

    #[test]
    fn error_bad_regex() {
        assert_error(
            "[[tag]]\nwhen = \"url.path =~ '(x'\"\nadd = ['x']\n",
            "p.toml:8:21: ",
            "invalid regular expression: unclosed group",
        );
    }

    #[test]
    fn error_trailing_garbage() {
        assert_error(
            "[[tag]]\nwhen = 'a == 1 b == 2'\nadd = ['x']\n",
            "p.toml:8:16: ",
            "unexpected `b` after a complete condition",
        );
    }

    #[test]
    fn error_positions_account_for_escapes_and_multiline_strings() {
        // Value `a =~ "(x"`: the regex literal is byte 5 of the value, `\"` in the file.
        assert_error(
            "[[tag]]\nwhen = \"a =~ \\\"(x\\\"\"\nadd = ['x']\n",
            "p.toml:8:14: ",
            "invalid regular expression",
        );
        assert_error(
            "[[tag]]\nwhen = '''\nstatus == 1 and\nfoo bar'''\nadd = ['x']\n",
            "p.toml:10:5: ",
            "unknown operator `bar`",
        );
        // A second rule's error is on its own line.
        assert_error(
            "[[tag]]\nwhen = 'true'\nadd = ['x']\n\n[[tag]]\nwhen = 'x >'\nadd = ['y']\n",
            "p.toml:12:12: ",
            "expected a value after `>`",
        );
    }

    #[test]
    fn error_bad_index_pattern() {
        assert_error(
            "[[tag]]\nwhen = 'true'\nindex = \"alerts-{event.dataset-%Y\"\n",
            "p.toml:9:17: ",
            "invalid index name pattern in `index`",
        );
        assert_error(
            "[[tag]]\nwhen = 'true'\nindex = \"alerts-%Q\"\n",
            "p.toml:9:17: ",
            "unknown date placeholder `%Q`",
        );
    }

    #[test]
    fn error_unknown_default_in_disable() {
        assert_error(
            "[tag_defaults]\ndisable = [\"slow\", \"slo\"]\n",
            "p.toml:8:20: ",
            "unknown built-in tag `slo` in `disable`: expected one of `http_error`",
        );
    }

    #[test]
    fn error_bad_actions() {
        assert_error(
            "[[tag]]\nwhen = 'true'\nset = { \"tags\" = \"x\" }\n",
            "p.toml:9:9: ",
            "use `add`",
        );
        assert_error(
            "[[tag]]\nwhen = 'true'\nset = { \"labels.team\" = { a = 1 } }\n",
            "p.toml:9:25: ",
            "write a nested field as a dotted name",
        );
        assert_error(
            "[[tag]]\nwhen = 'true'\nset = { \"a..b\" = 1 }\n",
            "p.toml:9:9: ",
            "not a field name",
        );
        assert_error(
            "[[tag]]\nwhen = 'true'\nadd = ['']\n",
            "p.toml:9:8: ",
            "tag \"\"",
        );
        assert_error(
            "[[tag]]\nwhen = 'a == 1'\n",
            "p.toml:8:8: ",
            "this rule does nothing",
        );
        assert_error("[[tag]]\nadd = ['x']\n", "p.toml:", "missing field `when`");
        assert_error(
            "[[tag]]\nwhen = 'true'\nad = ['x']\n",
            "p.toml:",
            "unknown field `ad`",
        );
    }

    #[test]
    fn add_set_index_and_routes() {
        let tag = stage(concat!(
            "[[tag]]\n",
            "when = 'http.response.status_code >= 500 and url.path =~ \"^/api/\"'\n",
            "add = ['api_error', 'page']\n",
            "set = { \"event.kind\" = \"alert\", \"labels.team\" = \"payments\", \"labels.n\" = 3, ",
            "\"labels.ok\" = false, \"labels.list\" = [\"a\", 1] }\n",
            "index = 'alerts-{event.dataset}-%Y.%m.%d'\n",
            "\n[[tag]]\n",
            "when = '\"api_error\" in tags'\n",
            "add = ['seen_api_error']\n",
            "index = 'alerts-{event.dataset}-%Y.%m.%d'\n",
            "\n[[tag]]\n",
            "when = 'url.path == \"/healthz\"'\n",
            "index = 'health'\n",
        ));
        assert_eq!(
            tag.routes(),
            vec![
                Arc::<str>::from("alerts-{event.dataset}-%Y.%m.%d"),
                "health".into()
            ]
        );

        let mut e = nginx(503, "/api/v1/cart");
        assert_eq!(tag.apply(&mut e), Verdict::Keep);
        // Built-in first, then the rules in order; the second rule saw the first one's tag.
        assert_eq!(
            e.tags[..],
            ["http_error", "api_error", "page", "seen_api_error"]
        );
        assert_eq!(e.get_str("event.kind"), Some("alert"));
        assert_eq!(e.get_str("labels.team"), Some("payments"));
        assert_eq!(e.get("labels.n"), Some(&Value::Int(3)));
        assert_eq!(e.get("labels.ok"), Some(&Value::Bool(false)));
        assert_eq!(
            e.get("labels.list"),
            Some(&Value::Array(vec![
                Value::Str(Text::Shared("a".into())),
                Value::Int(1)
            ]))
        );
        assert_eq!(e.route.as_deref(), Some("alerts-{event.dataset}-%Y.%m.%d"));
        // Both rules route to the same pattern: one shared string.
        assert!(Arc::ptr_eq(&tag.routes()[0], e.route.as_ref().unwrap()));

        // Applying again changes nothing (no duplicate tags or fields).
        let fields = e.fields.len();
        tag.apply(&mut e);
        assert_eq!(e.fields.len(), fields);
        assert_eq!(e.tags.len(), 4);

        let mut e = nginx(200, "/api/v1/cart");
        assert_eq!(tag.apply(&mut e), Verdict::Keep);
        assert!(e.tags.is_empty());
        assert!(e.get("event.kind").is_none());
        assert!(e.route.is_none());

        let mut e = nginx(200, "/healthz");
        tag.apply(&mut e);
        assert_eq!(e.route.as_deref(), Some("health"));
    }

    #[test]
    fn later_rules_see_fields_set_by_earlier_ones() {
        let tag = stage(concat!(
            "[[tag]]\nwhen = 'http.response.status_code >= 500'\n",
            "set = { \"event.kind\" = \"alert\", \"url.path\" = \"/x\" }\n",
            "\n[[tag]]\nwhen = 'event.kind == \"alert\" and url.path == \"/x\"'\nadd = ['paged']\n",
        ));
        let mut e = nginx(502, "/a");
        tag.apply(&mut e);
        assert!(e.has_tag("paged"), "{:?}", e.tags);
        let mut e = nginx(200, "/x");
        tag.apply(&mut e);
        assert!(!e.has_tag("paged"));
    }

    #[test]
    fn set_replaces_an_existing_field() {
        let tag = stage("[[tag]]\nwhen = 'true'\nset = { \"url.path\" = \"/redacted\" }\n");
        let mut e = nginx(200, "/secret");
        let before = e.fields.len();
        tag.apply(&mut e);
        assert_eq!(e.get_str("url.path"), Some("/redacted"));
        assert_eq!(e.fields.len(), before);
    }

    #[test]
    fn drop_stops_evaluation() {
        let tag = stage(concat!(
            "[[tag]]\nwhen = 'url.path == \"/healthz\"'\ndrop = true\nadd = ['dropped']\n",
            "\n[[tag]]\nwhen = 'true'\nadd = ['after']\n",
        ));
        let mut e = nginx(200, "/healthz");
        assert_eq!(tag.apply(&mut e), Verdict::Drop);
        assert!(!e.has_tag("after"));
        let mut e = nginx(200, "/index.html");
        assert_eq!(tag.apply(&mut e), Verdict::Keep);
        assert!(e.has_tag("after"));
    }

    #[test]
    fn regex_with_dollar_survives_env_expansion() {
        let tag = stage("[[tag]]\nwhen = 'url.path =~ \"^/health$\"'\nadd = ['health']\n");
        let mut e = nginx(200, "/health");
        tag.apply(&mut e);
        assert!(e.has_tag("health"));
    }

    #[test]
    fn defaults_follow_the_config() {
        let mut e = nginx(503, "/");
        stage("").apply(&mut e);
        assert_eq!(e.tags[..], ["http_error"]);

        let mut e = nginx(503, "/");
        stage("[tag_defaults]\nenabled = false\n").apply(&mut e);
        assert!(e.tags.is_empty());

        let mut e = nginx(401, "/");
        stage("[tag_defaults]\ndisable = ['client_error']\n").apply(&mut e);
        assert_eq!(e.tags[..], ["authentication"]);

        let mut e = nginx(503, "/");
        TagStage::default().apply(&mut e);
        assert!(e.tags.is_empty());
    }
}
