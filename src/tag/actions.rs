//! What a `[[tag]]` rule does to an event its condition matches: `set` fields, `add` tags, route
//! it with `index`, or `drop` it.
//!
//! Everything is checked and converted when the file loads (field names, values, the index name
//! template), so applying a rule only copies prepared values: string values are shared
//! (`Text::Shared`), so setting one costs a reference count, not a copy.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use toml::Spanned;

use crate::event::{Event, Text, Value};
use crate::output::elasticsearch::encode::{IndexTemplate, TemplateError};

use super::condition::{parse_field_name, Field};
use super::position::StringPos;
use super::RuleError;

/// The compiled actions of one rule, applied in this order: `set`, `add`, `index`, `drop`.
#[derive(Debug, Default)]
pub struct Actions {
    set: Vec<(Box<str>, Value)>,
    /// Interned (see [`interned`]): adding one to an event copies a reference, not the text.
    add: Vec<&'static str>,
    index: Option<Arc<str>>,
    pub drop: bool,
}

impl Actions {
    /// Compiles a rule's actions; `routes` collects the distinct index patterns of all rules (a
    /// pattern already there is shared rather than duplicated).
    pub fn build(
        set: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
        add: &[Spanned<String>],
        index: Option<&Spanned<String>>,
        drop: bool,
        source: &str,
        routes: &mut Vec<Arc<str>>,
    ) -> Result<Actions, RuleError> {
        let mut actions = Actions {
            drop,
            ..Actions::default()
        };
        for (name, value) in set {
            actions
                .set
                .push((field_name(name)?.into(), set_value(value)?));
        }
        for tag in add {
            let text = tag.get_ref();
            if text.is_empty() || text.chars().any(char::is_control) {
                return Err(RuleError {
                    offset: tag.span().start,
                    message: format!(
                        "tag {text:?} must be non-empty text without control characters"
                    ),
                });
            }
            actions.add.push(interned(text));
        }
        if let Some(index) = index {
            let pattern = index.get_ref();
            if let Err(e) = IndexTemplate::compile(pattern) {
                let at = template_error_at(&e, pattern);
                return Err(RuleError {
                    offset: StringPos::new(source, index.span(), pattern).offset(at),
                    message: format!("invalid index name pattern in `index`: {e}"),
                });
            }
            let shared = match routes.iter().find(|r| &***r == pattern.as_str()) {
                Some(r) => r.clone(),
                None => {
                    let r: Arc<str> = pattern.as_str().into();
                    routes.push(r.clone());
                    r
                }
            };
            actions.index = Some(shared);
        }
        Ok(actions)
    }

    /// Whether applying may add or change fields (field positions must then be looked up again).
    pub fn sets_fields(&self) -> bool {
        !self.set.is_empty()
    }

    /// Whether the rule does anything at all.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.index.is_none() && !self.drop
    }

    /// Applies everything but `drop` (the caller stops there).
    pub fn apply(&self, event: &mut Event) {
        for (name, value) in &self.set {
            // Replace in place when the field is there: no name to allocate.
            match event.get_mut(name) {
                Some(slot) => *slot = value.clone(),
                None => event.push(Cow::Owned(String::from(&**name)), value.clone()),
            }
        }
        for &tag in &self.add {
            event.add_tag(tag);
        }
        if let Some(index) = &self.index {
            event.route = Some(index.clone());
        }
    }
}

/// The one `'static` copy of a tag name. Rules add their tags to a large share of events, and
/// an event's tags are `Cow<'static, str>`: a borrowed name costs no allocation per event. Each
/// distinct name is kept once for the life of the process, so a process that loads its
/// configuration again (`logpipe test` over many files) does not grow with each load.
fn interned(tag: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(Mutex::default);
    // A poisoned lock only means another thread panicked while inserting: the set is intact.
    let mut names = names.lock().unwrap_or_else(|e| e.into_inner());
    match names.get(tag) {
        Some(&name) => name,
        None => {
            let name: &'static str = Box::leak(tag.into());
            names.insert(name);
            name
        }
    }
}

/// A `set` key: a field name as conditions write it, not `tags` or `@timestamp` (which the
/// serializer writes itself).
fn field_name(name: &Spanned<String>) -> Result<&str, RuleError> {
    let text = name.get_ref();
    let error = |message: String| RuleError {
        offset: name.span().start,
        message,
    };
    match parse_field_name(text) {
        Some(Field::Path(_)) => Ok(text),
        Some(Field::Tags) => Err(error("`set` cannot write `tags`: use `add`".into())),
        None if text == "@timestamp" => Err(error("`set` cannot write `@timestamp`".into())),
        None => Err(error(format!(
            "`{text}` is not a field name: expected dotted names like `labels.team`"
        ))),
    }
}

/// A `set` value: a string, number, boolean, or an array of those.
fn set_value(value: &Spanned<toml::Value>) -> Result<Value, RuleError> {
    let error = |message: &str| RuleError {
        offset: value.span().start,
        message: message.into(),
    };
    let scalar = |v: &toml::Value| -> Result<Value, RuleError> {
        Ok(match v {
            toml::Value::String(s) => Value::Str(Text::Shared(s.as_str().into())),
            toml::Value::Integer(n) => Value::Int(*n),
            toml::Value::Float(x) if x.is_finite() => Value::Float(*x),
            toml::Value::Float(_) => {
                return Err(error(
                    "`set` values must be finite numbers (JSON has no nan or inf)",
                ))
            }
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Datetime(_) => {
                return Err(error(
                    "`set` cannot write a TOML date: write it as a string",
                ))
            }
            toml::Value::Array(_) | toml::Value::Table(_) => {
                return Err(error(
                    "`set` values are strings, numbers, booleans or arrays of those; write a \
                     nested field as a dotted name",
                ))
            }
        })
    };
    match value.get_ref() {
        toml::Value::Array(items) => Ok(Value::Array(
            items.iter().map(scalar).collect::<Result<_, _>>()?,
        )),
        v => scalar(v),
    }
}

/// Byte of `pattern` that a template error is about.
fn template_error_at(e: &TemplateError, pattern: &str) -> usize {
    match e {
        TemplateError::Unclosed(at)
        | TemplateError::UnopenedBrace(at)
        | TemplateError::EmptyField(at)
        | TemplateError::BadField { at, .. }
        | TemplateError::UnknownDate { at, .. }
        | TemplateError::BadLiteral { at, .. } => *at,
        TemplateError::TrailingPercent => pattern.len().saturating_sub(1),
        // The empty pattern, a bad first character, and whatever the template learns to refuse.
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_name_is_kept_once_however_often_it_is_loaded() {
        let first = interned("slow_checkout");
        let again = interned(&String::from("slow_checkout"));
        assert_eq!(first, "slow_checkout");
        assert!(std::ptr::eq(first, again));
        assert!(!std::ptr::eq(first, interned("slow_checkout2")));
    }
}
