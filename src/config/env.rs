//! `${VAR}`, `${VAR:-default}` and `$$` inside string values of a parsed pipeline file.
//!
//! Expansion walks the spanned tree rather than the raw text, so positions of every later error
//! still refer to the file as written, and values from the environment are data, never syntax.

use std::borrow::Cow;

use toml::de::{DeTable, DeValue};

#[derive(Debug)]
pub struct ExpandError {
    pub offset: usize,
    pub message: String,
}

/// Expands every string value (not keys) of `table` in place.
pub fn expand_table(
    table: &mut DeTable<'_>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ExpandError> {
    for (_, value) in table.iter_mut() {
        let start = value.span().start;
        expand_value(value.get_mut(), start, lookup)?;
    }
    Ok(())
}

fn expand_value(
    value: &mut DeValue<'_>,
    offset: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ExpandError> {
    match value {
        DeValue::String(s) if s.contains('$') => {
            let expanded =
                expand_str(s, lookup).map_err(|message| ExpandError { offset, message })?;
            *s = Cow::Owned(expanded);
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                let start = item.span().start;
                expand_value(item.get_mut(), start, lookup)?;
            }
        }
        DeValue::Table(t) => expand_table(t, lookup)?,
        _ => {}
    }
    Ok(())
}

/// Expands one string. `$$` is a literal `$`; a `$` not followed by `{` or `$` stays as it is.
pub fn expand_str(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                // The string itself is not quoted: it may be a secret written in the file.
                .ok_or_else(|| "unclosed `${`: write `${NAME}`, or `$$` for a `$`".to_string())?;
            let inner = &body[..end];
            let (name, default) = match inner.find(":-") {
                Some(j) => (&inner[..j], Some(&inner[j + 2..])),
                None => (inner, None),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(
                    "invalid variable name in `${...}`: use letters, digits and `_`".to_string(),
                );
            }
            match (lookup(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
                    ))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "ES_URL" => Some("http://127.0.0.1:9200".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_defaults_and_escapes() {
        assert_eq!(
            expand_str("${ES_URL}/x", &env).unwrap(),
            "http://127.0.0.1:9200/x"
        );
        assert_eq!(expand_str("${NOPE:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(expand_str("${EMPTY:-dflt}", &env).unwrap(), "dflt");
        assert_eq!(expand_str("${EMPTY}", &env).unwrap(), "");
        assert_eq!(
            expand_str("cost $$5 and $x", &env).unwrap(),
            "cost $5 and $x"
        );
    }

    #[test]
    fn unset_and_malformed_are_errors() {
        assert!(expand_str("${NOPE}", &env)
            .unwrap_err()
            .contains("`NOPE` is not set"));
        assert!(expand_str("${ES_URL", &env)
            .unwrap_err()
            .contains("unclosed"));
        assert!(expand_str("${A-B}", &env)
            .unwrap_err()
            .contains("invalid variable name"));
    }

    #[test]
    fn error_position_points_at_the_string() {
        let text = "[a]\nb = 1\nc = \"${NOPE}\"\n";
        let mut root = DeTable::parse(text).unwrap();
        let err = expand_table(root.get_mut(), &env).unwrap_err();
        assert_eq!(super::super::line_col(text, err.offset), (3, 5));
    }
}
