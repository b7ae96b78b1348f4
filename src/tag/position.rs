//! Offsets inside a TOML string value -> offsets in the pipeline file.
//!
//! Rules report errors against the string they were given (byte 12 of a `when` condition), but a
//! config error names `FILE:LINE:COLUMN`. The TOML parser gives the span of the whole string
//! token, quotes included; this module re-reads that token to find where each byte of the value
//! was written, escapes included, so the column points at the offending character.

use std::ops::Range;

/// Where the bytes of one string value lie in the file.
#[derive(Debug)]
pub struct StringPos {
    /// File offset of the first byte after the opening quote(s).
    content_start: usize,
    /// File offset of the closing quote(s).
    content_end: usize,
    /// File offset of each byte of the value (plus one for its end), when the token has escapes
    /// that make value and source differ; `None` when they are byte-for-byte the same, or when
    /// they cannot be matched (a `${VAR}` was expanded), where offsets are then approximate.
    map: Option<Vec<usize>>,
}

impl StringPos {
    /// `span` is the token's span in `source` (quotes included), `value` the string it decoded to.
    pub fn new(source: &str, span: Range<usize>, value: &str) -> StringPos {
        let fallback = StringPos {
            content_start: span.start,
            content_end: span.end,
            map: None,
        };
        let Some(token) = source.get(span.clone()) else {
            return fallback;
        };
        let (quote, escapes) = if token.starts_with("'''") {
            ("'''", false)
        } else if token.starts_with("\"\"\"") {
            ("\"\"\"", true)
        } else if token.starts_with('\'') {
            ("'", false)
        } else if token.starts_with('"') {
            ("\"", true)
        } else {
            // Not a string token (a bare value of another kind): point at its start.
            return fallback;
        };
        let multiline = quote.len() == 3;
        let Some(mut content) = token
            .strip_prefix(quote)
            .and_then(|t| t.strip_suffix(quote))
        else {
            return fallback;
        };
        let mut content_start = span.start + quote.len();
        // TOML drops a newline right after the opening delimiter of a multi-line string.
        if multiline {
            for nl in ["\r\n", "\n"] {
                if let Some(rest) = content.strip_prefix(nl) {
                    content = rest;
                    content_start += nl.len();
                    break;
                }
            }
        }
        let content_end = content_start + content.len();
        let map = if content == value {
            None
        } else {
            match decode(content, escapes, multiline) {
                Some((decoded, map)) if decoded == value => {
                    Some(map.into_iter().map(|o| content_start + o).collect())
                }
                _ => None,
            }
        };
        StringPos {
            content_start,
            content_end,
            map,
        }
    }

    /// File offset of byte `at` of the value.
    pub fn offset(&self, at: usize) -> usize {
        match &self.map {
            Some(map) => map.get(at).copied().unwrap_or(self.content_end),
            None => (self.content_start + at).min(self.content_end),
        }
    }
}

/// Decodes the content of a TOML string and records, for each output byte, the offset of the
/// source text it came from (the backslash, for an escape). `None` on an escape TOML would not
/// have accepted either (then there is nothing to map).
fn decode(raw: &str, escapes: bool, multiline: bool) -> Option<(String, Vec<usize>)> {
    let mut out = String::with_capacity(raw.len());
    let mut map = Vec::with_capacity(raw.len() + 1);
    let mut chars = raw.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' || !escapes {
            out.push(c);
            map.extend((0..c.len_utf8()).map(|k| i + k));
            continue;
        }
        let (_, e) = chars.next()?;
        let decoded = match e {
            'b' => '\u{8}',
            't' => '\t',
            'n' => '\n',
            'f' => '\u{c}',
            'r' => '\r',
            'e' => '\u{1b}',
            '"' => '"',
            '\\' => '\\',
            'x' | 'u' | 'U' => {
                let digits = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut code = 0u32;
                for _ in 0..digits {
                    let (_, h) = chars.next()?;
                    code = code * 16 + h.to_digit(16)?;
                }
                char::from_u32(code)?
            }
            // A line-ending backslash: the newline and all whitespace after it vanish.
            w if multiline && w.is_whitespace() => {
                while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
                continue;
            }
            _ => return None,
        };
        out.push(decoded);
        map.extend(std::iter::repeat_n(i, decoded.len_utf8()));
    }
    map.push(raw.len());
    Some((out, map))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offset of `at` in the value of the first string token of `src`.
    fn at(src: &str, value: &str, at: usize) -> usize {
        let start = src.find(['\'', '"']).unwrap();
        let end = src.len();
        StringPos::new(src, start..end, value).offset(at)
    }

    #[test]
    fn literal_and_plain_basic_strings_map_directly() {
        assert_eq!(at("w = 'a == 1'", "a == 1", 2), 7);
        assert_eq!(at("w = \"a == 1\"", "a == 1", 2), 7);
        assert_eq!(at("w = '''\na == 1'''", "a == 1", 2), 10);
    }

    #[test]
    fn escapes_shift_later_bytes() {
        // w = "a =~ \"x\" b": value `a =~ "x" b`; `b` is byte 9 of the value, 11 of the content.
        let src = r#"w = "a =~ \"x\" b""#;
        assert_eq!(at(src, "a =~ \"x\" b", 9), 5 + 11);
        // The escaped quote itself maps to its backslash.
        assert_eq!(at(src, "a =~ \"x\" b", 5), 5 + 5);
    }

    #[test]
    fn unmatched_value_is_clamped_to_the_token() {
        // The value came from `${VAR}` expansion: offsets are approximate but inside the token.
        assert_eq!(at("w = '${X}'", "a much longer value", 15), 9);
    }
}
