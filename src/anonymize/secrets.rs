//! Secrets in text: passwords, API keys, tokens, `Authorization` and cookie values, wherever a
//! log line writes them, and the whole value of a field named like one.
//!
//! Forms recognised, all replaced by `********` (the value only; keys and quotes stay):
//! - `key=value` and `key: value`, free text, query strings (`?token=..&password=..`), CLI flags
//!   (`--password=..`), with optional spaces around the separator;
//! - JSON `"key":"value"` / `"key": 123`, also escaped inside a string (`{\"password\":\"x\"}`);
//! - headers `Authorization: Bearer xyz` -> `Authorization: Bearer ********` (the scheme is
//!   kept, it is not secret), `x-api-key: ...`, `Cookie: ...` (to the end of the line);
//! - URL userinfo `https://user:pass@host/` -> `https://user:********@host/`;
//! - a bare `Bearer <token>` and JSON Web Tokens (`eyJ...`) anywhere.
//!
//! Keys are recognised by name (see `fields::secret_kind`), found by looking back from each `=`
//! and `:` of the text: one `memchr` pass, no regex, and a separator whose preceding word is not
//! a key (`10:30:00`, `https:`) costs one short comparison. An unquoted `key: value` in prose
//! (`refresh token: expired`) is only taken for a token or API key when the value looks like a
//! credential (a digit, a symbol, inner capitals, or 16+ characters); a password is always
//! taken, weak ones are all letters.

use memchr::memmem;

use super::fields::{secret_kind, NormalizedKey, SecretCategory, SecretKind};
use super::ip::is_word;
use super::redact::{Match, Matches};
use crate::event::{Text, Value};

/// The mask of a secret.
pub(crate) const STARS: &str = "********";

/// Longest key looked at; a longer run before `=` is data (base64), not a key.
const KEY_LEN_MAX: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct SecretRules {
    pub(crate) password: bool,
    pub(crate) api_key: bool,
    pub(crate) token: bool,
    /// `secret_keys`: further key names (normalized), redacted as passwords are.
    pub(crate) extra: Vec<Box<[u8]>>,
}

impl SecretRules {
    pub(crate) fn any(&self) -> bool {
        self.password || self.api_key || self.token || !self.extra.is_empty()
    }

    /// The kind of secret `key` names, if its category is enabled.
    pub(crate) fn kind_of(&self, key: &NormalizedKey<'_>) -> Option<SecretKind> {
        if let Some(kind) = secret_kind(key) {
            let on = match kind.category() {
                SecretCategory::Password => self.password,
                SecretCategory::ApiKey => self.api_key,
                SecretCategory::Token => self.token,
            };
            if on {
                return Some(kind);
            }
        }
        let k = key.as_bytes();
        self.extra
            .iter()
            .any(|e| e.as_ref() == k)
            .then_some(SecretKind::Password)
    }

    /// Pushes the value range of every secret in `text`.
    pub(crate) fn find(&self, text: &str, out: &mut Matches) {
        if !self.any() {
            return;
        }
        if text.len() <= SHORT_TEXT {
            self.find_in_short(text, out);
        } else {
            self.find_in_long(text, out);
        }
    }

    /// [`SecretRules::find`] in one pass for every trigger at once: on a short text (a request
    /// line, a query, a user agent) the setup of three vector searches costs more than the
    /// bytes.
    fn find_in_short(&self, text: &str, out: &mut Matches) {
        let b = text.as_bytes();
        let trigger = |c: u8| TRIGGERS[usize::from(c)];
        let mut i = 0;
        while i < b.len() {
            // Most bytes trigger nothing: eight are ruled out at a time.
            if let Some(block) = b.get(i..i + 8) {
                if block.iter().fold(NONE, |any, &c| any | trigger(c)) == NONE {
                    i += 8;
                    continue;
                }
            }
            match trigger(b[i]) {
                NONE => {}
                SEPARATOR => self.at_separator(text, i, out),
                BEARER if self.token => bearer_at(b, i, out),
                JWT if self.token => jwt_at(b, i, out),
                _ => {}
            }
            i += 1;
        }
    }

    /// [`SecretRules::find`] with a vector search per trigger.
    fn find_in_long(&self, text: &str, out: &mut Matches) {
        let b = text.as_bytes();
        for sep in memchr::memchr2_iter(b'=', b':', b) {
            self.at_separator(text, sep, out);
        }
        if self.token {
            // `B`/`b` are rare in logs; a one-byte search beats a substring searcher.
            for q in memchr::memchr2_iter(b'B', b'b', b) {
                bearer_at(b, q, out);
            }
            // Every JWT starts with `eyJ` (base64 of `{"`); `J` is rare, so it is the byte
            // searched.
            for j in memchr::memchr_iter(b'J', b) {
                jwt_at(b, j, out);
            }
        }
    }

    /// The secret after the `=` or `:` at `sep`, when the word before it names one (or the
    /// password in a URL's userinfo, at `://`).
    fn at_separator(&self, text: &str, sep: usize, out: &mut Matches) {
        let b = text.as_bytes();
        let next = b.get(sep + 1).copied();
        if b[sep] == b':' && next == Some(b'/') && b.get(sep + 2) == Some(&b'/') {
            // `scheme://` is a URL, not a key; its userinfo may hold a password.
            if self.password {
                userinfo_at(b, sep, out);
            }
            return;
        }
        if b[sep] == b'=' && next == Some(b'=') {
            return;
        }
        // Most keys (`ref`, `id`, `q`) are turned away by how they end, before they are read
        // back.
        let end = key_end(b, sep);
        if self.extra.is_empty() && !super::fields::ends_maybe_special(&b[..end]) {
            return;
        }
        let Some(start) = key_start(b, end) else {
            return;
        };
        let key = &text[start..end];
        let Some(kind) = self.kind_of(&NormalizedKey::new(key)) else {
            return;
        };
        if let Some((vs, ve)) = value_after(b, sep, kind) {
            out.push(Match::stars(vs, ve));
        }
    }
}

/// Longest text searched byte by byte for all triggers at once (see
/// [`SecretRules::find_in_short`]).
const SHORT_TEXT: usize = 96;

const NONE: u8 = 0;
const SEPARATOR: u8 = 1;
const BEARER: u8 = 2;
const JWT: u8 = 3;

/// What each byte may start: a key's separator, a `Bearer`, a JWT (at its `J`).
static TRIGGERS: [u8; 256] = {
    let mut t = [NONE; 256];
    t[b'=' as usize] = SEPARATOR;
    t[b':' as usize] = SEPARATOR;
    t[b'B' as usize] = BEARER;
    t[b'b' as usize] = BEARER;
    t[b'J' as usize] = JWT;
    t
};

/// The replacement of a whole field value under a secret key, or `None` when there is nothing
/// to hide (empty, already masked).
pub(crate) fn whole_value(kind: SecretKind, text: &str) -> Option<Value> {
    if text.bytes().all(|c| c == b'*') {
        return None;
    }
    if kind == SecretKind::Authorization {
        let b = text.as_bytes();
        let (cs, _) = after_scheme(b, 0, b.len(), true);
        if cs > 0 {
            if b[cs..].iter().all(|&c| c == b'*') {
                return None;
            }
            let mut s = String::with_capacity(cs + STARS.len());
            s.push_str(&text[..cs]);
            s.push_str(STARS);
            return Some(Value::owned_str(s));
        }
    }
    Some(Value::Str(Text::Static(STARS)))
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'[' | b']' | b'%')
}

/// Where the key ending at `end` (see [`key_end`]) starts: `password` in `password=`,
/// `"password" :`, `\"password\":`.
fn key_start(b: &[u8], end: usize) -> Option<usize> {
    let mut i = end;
    while i > 0 && is_key_char(b[i - 1]) {
        i -= 1;
        if end - i > KEY_LEN_MAX {
            return None;
        }
    }
    (i < end).then_some(i)
}

/// Where the key before the separator at `sep` ends: before the spaces and the closing quote
/// (escaped or not) between them.
fn key_end(b: &[u8], sep: usize) -> usize {
    let mut i = sep;
    while i > 0 && matches!(b[i - 1], b' ' | b'\t') && sep - i < 4 {
        i -= 1;
    }
    if i > 0 && matches!(b[i - 1], b'"' | b'\'') {
        i -= 1;
        if i > 0 && b[i - 1] == b'\\' {
            i -= 1;
        }
    }
    i
}

/// Where an unquoted value ends.
fn token_end(b: &[u8], s: usize, limit: usize) -> usize {
    b[s..limit]
        .iter()
        .position(|&c| {
            c.is_ascii_whitespace()
                || matches!(
                    c,
                    b'&' | b'"' | b'\'' | b',' | b';' | b'}' | b']' | b')' | b'<' | b'>'
                )
        })
        .map_or(limit, |p| s + p)
}

fn line_end(b: &[u8], s: usize, limit: usize) -> usize {
    b[s..limit]
        .iter()
        .position(|&c| matches!(c, b'\n' | b'\r' | b'"'))
        .map_or(limit, |p| s + p)
}

/// Authentication schemes whose credentials are one token68 (RFC 9110 section 11.4).
const TOKEN_SCHEMES: &[&[u8]] = &[
    b"basic",
    b"bearer",
    b"token",
    b"negotiate",
    b"ntlm",
    b"apikey",
    b"dpop",
    b"key",
];
/// Schemes followed by `name=value` parameters: everything after the scheme is masked.
const PARAM_SCHEMES: &[&[u8]] = &[
    b"digest",
    b"oauth",
    b"aws4-hmac-sha256",
    b"signature",
    b"hoba",
    b"mutual",
];

/// For an `Authorization` value starting at `s`: where the credentials start and end (after a
/// known scheme and its space, or the whole value).
fn after_scheme(b: &[u8], s: usize, limit: usize, quoted: bool) -> (usize, usize) {
    let mut w = s;
    while w < limit && (b[w].is_ascii_alphanumeric() || b[w] == b'-') {
        w += 1;
    }
    let gap = if b[w..limit].starts_with(b" ") || b[w..limit].starts_with(b"+") {
        1
    } else if b[w..limit].starts_with(b"%20") {
        3
    } else {
        0
    };
    let scheme = &b[s..w];
    let is = |list: &[&[u8]]| list.iter().any(|k| k.eq_ignore_ascii_case(scheme));
    if gap > 0 && (is(TOKEN_SCHEMES) || is(PARAM_SCHEMES)) {
        let mut cs = w + gap;
        while cs < limit && b[cs] == b' ' {
            cs += 1;
        }
        let ce = if quoted {
            limit
        } else if is(PARAM_SCHEMES) {
            // Parameters carry quotes of their own (`username="a"`): the line is the limit.
            b[cs..limit]
                .iter()
                .position(|&c| matches!(c, b'\n' | b'\r'))
                .map_or(limit, |p| cs + p)
        } else {
            token_end(b, cs, limit)
        };
        return (cs, ce);
    }
    if quoted {
        (s, limit)
    } else {
        (s, token_end(b, s, limit))
    }
}

/// A value that reads as a credential rather than a word of prose.
fn looks_like_credential(v: &[u8]) -> bool {
    v.len() >= 16
        || v.iter()
            .enumerate()
            .any(|(i, &c)| !c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_uppercase()))
}

/// The value after the separator at `sep`, for a key of `kind`.
fn value_after(b: &[u8], sep: usize, kind: SecretKind) -> Option<(usize, usize)> {
    let len = b.len();
    let sep_c = b[sep];
    let mut i = sep + 1;
    while i < len && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    if i >= len {
        return None;
    }
    let (s, limit, quoted) = if b[i] == b'\\' && b.get(i + 1) == Some(&b'"') {
        let s = i + 2;
        let e = memmem::find(&b[s..], b"\\\"").map_or(len, |p| s + p);
        (s, e, true)
    } else if matches!(b[i], b'"' | b'\'') {
        let q = b[i];
        let s = i + 1;
        let mut e = s;
        while e < len && b[e] != q {
            e += if b[e] == b'\\' { 2 } else { 1 };
        }
        (s, e.min(len), true)
    } else {
        (i, len, false)
    };
    if s >= limit {
        return None;
    }
    if !quoted && matches!(b[s], b'{' | b'[') {
        // A nested object: its own keys are looked at separately.
        return None;
    }
    let (vs, ve) = match kind {
        SecretKind::Authorization => after_scheme(b, s, limit, quoted),
        SecretKind::Cookie if sep_c == b':' && !quoted => (s, line_end(b, s, limit)),
        _ if quoted => (s, limit),
        _ => (s, token_end(b, s, limit)),
    };
    if vs >= ve {
        return None;
    }
    let v = &b[vs..ve];
    if v.iter().all(|&c| c == b'*') {
        return None;
    }
    if !quoted && matches!(v, b"null" | b"true" | b"false") {
        return None;
    }
    let prose_risk = matches!(
        kind,
        SecretKind::Token | SecretKind::ApiKey | SecretKind::Cookie
    );
    if !quoted && sep_c == b':' && prose_risk && !looks_like_credential(v) {
        return None;
    }
    Some((vs, ve))
}

/// `scheme://user:password@host`, the `:` of `://` at `p`: the password. The authority ends at
/// the first `/`, `?`, `#` (RFC 3986 wants those percent-encoded inside a password).
fn userinfo_at(b: &[u8], p: usize, out: &mut Matches) {
    let start = p + 3;
    let end = b[start..]
        .iter()
        .position(|&c| {
            c.is_ascii_whitespace()
                || matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'\\')
        })
        .map_or(b.len(), |q| start + q);
    let authority = &b[start..end];
    let Some(at) = authority.iter().rposition(|&c| c == b'@') else {
        return;
    };
    let Some(colon) = authority[..at].iter().position(|&c| c == b':') else {
        return;
    };
    let (ps, pe) = (start + colon + 1, start + at);
    if ps < pe && !b[ps..pe].iter().all(|&c| c == b'*') {
        out.push(Match::stars(ps, pe));
    }
}

fn is_token68(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// `Bearer <token>` without an `Authorization` key in front (a header dumped in prose, a
/// `curl -H` command line).
/// A bare `Bearer <token>` whose `B` is at `q`.
fn bearer_at(b: &[u8], q: usize, out: &mut Matches) {
    let p = q + 1;
    if !b[p..].starts_with(b"earer") || (q >= 1 && is_word(b[q - 1])) {
        return;
    }
    let rest = &b[p + 5..];
    let gap = if rest.starts_with(b" ") || rest.starts_with(b"+") {
        1
    } else if rest.starts_with(b"%20") {
        3
    } else {
        return;
    };
    let cs = p + 5 + gap;
    let ce = b[cs..]
        .iter()
        .position(|&c| !is_token68(c))
        .map_or(b.len(), |q| cs + q);
    if ce - cs >= 8 && !b[cs..ce].iter().all(|&c| c == b'*') {
        out.push(Match::stars(cs, ce));
    }
}

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_')
}

/// A JSON Web Token (`eyJ<header>.eyJ<payload>.<signature>`), anywhere (a reset link's path, a
/// fragment, a message), whose first `J` is at `j`.
fn jwt_at(b: &[u8], j: usize, out: &mut Matches) {
    let seg_end = |s: usize| {
        b[s..]
            .iter()
            .position(|&c| !is_b64url(c))
            .map_or(b.len(), |q| s + q)
    };
    if j < 2 || &b[j - 2..j] != b"ey" {
        return;
    }
    let p = j - 2;
    if p > 0 && is_b64url(b[p - 1]) {
        return;
    }
    let e1 = seg_end(p);
    if b.get(e1) != Some(&b'.') || !b[e1 + 1..].starts_with(b"eyJ") {
        return;
    }
    let e2 = seg_end(e1 + 1);
    if b.get(e2) != Some(&b'.') {
        return;
    }
    let e3 = seg_end(e2 + 1);
    if e3 - p >= 24 {
        out.push(Match::stars(p, e3));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anonymize::redact::{render, Matches};
    use proptest::strategy::Strategy;

    fn all() -> SecretRules {
        SecretRules {
            password: true,
            api_key: true,
            token: true,
            extra: vec![b"pin".to_vec().into_boxed_slice()],
        }
    }

    proptest::proptest! {
        /// The byte-by-byte search of short texts finds exactly what the vector searches find,
        /// on texts made of the pieces secrets are recognised by.
        #[test]
        fn short_and_long_searches_agree(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "token=", "password: ", "api_key=", "Bearer ", "bearer+", "Authorization: ",
                        "eyJhbGciOiJIUzI1NiJ9", ".", "eyJzdWIiOiIxIn0", "://", "user:", "@", "==",
                        "&", "?", " ", "\"", "%20", "b", "J", "ey", "=", ":",
                        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "Bearer abcdEFGH1234",
                        "https://bob:hunter2@example.com/", "{\"password\":\"x1\"}",
                    ]).prop_map(str::to_string),
                    "[a-zA-Z0-9_-]{1,12}",
                ],
                0..24,
            ),
            rules in 0..4usize,
        ) {
            let text: String = pieces.concat();
            let mut r = all();
            match rules {
                0 => r.token = false,
                1 => r.password = false,
                2 => r.extra.clear(),
                _ => {}
            }
            let (mut short, mut long) = (Matches::new(), Matches::new());
            r.find_in_short(&text, &mut short);
            r.find_in_long(&text, &mut long);
            let key = |m: &Match| (m.start, m.end);
            let mut short: Vec<_> = short.iter().map(key).collect();
            let mut long: Vec<_> = long.iter().map(key).collect();
            short.sort_unstable();
            long.sort_unstable();
            proptest::prop_assert_eq!(short, long, "{}", text);
        }
    }

    fn redact(rules: &SecretRules, text: &str) -> String {
        let mut m = Matches::new();
        rules.find(text, &mut m);
        crate::anonymize::redact::normalize(&mut m);
        render(text, &m, &[]).into()
    }

    #[test]
    fn key_value_forms() {
        let r = all();
        let cases = [
            ("login password=hunter2 ok", "login password=******** ok"),
            ("passwd: s3cr3t!", "passwd: ********"),
            ("pwd=abc&user=bob", "pwd=********&user=bob"),
            ("api_key=AKIA123", "api_key=********"),
            ("apikey=xyz123", "apikey=********"),
            ("api-key: 9f8e7d", "api-key: ********"),
            ("x-api-key: 0a1b2c3d4e", "x-api-key: ********"),
            ("access_token=ya29.a0Af", "access_token=********"),
            ("refresh_token=def502", "refresh_token=********"),
            ("token=abc", "token=********"),
            ("secret=sh", "secret=********"),
            ("client_secret = 'Zx9+/w'", "client_secret = '********'"),
            (
                "--password=hunter2 --verbose",
                "--password=******** --verbose",
            ),
            ("user[password]=pw1&x=1", "user[password]=********&x=1"),
            ("pin=1234", "pin=********"),
            (
                "db.password: \"a b c\" next",
                "db.password: \"********\" next",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(&r, text), want, "{text}");
        }
    }

    /// Without extra keys, keys are first judged by their last byte; one ending in an encoded
    /// character is still read whole.
    #[test]
    fn keys_ending_encoded_are_read() {
        let r = SecretRules {
            extra: Vec::new(),
            ..all()
        };
        for (text, want) in [
            (
                "user%5Bpassword%5D=pw1&x=1",
                "user%5Bpassword%5D=********&x=1",
            ),
            ("password%5F=pw2&ref=a", "password%5F=********&ref=a"),
            ("api%5Fkey=k1&page=2", "api%5Fkey=********&page=2"),
            ("ref=a&id=7&q=x", "ref=a&id=7&q=x"),
        ] {
            assert_eq!(redact(&r, text), want, "{text}");
        }
    }

    #[test]
    fn query_strings() {
        assert_eq!(
            redact(&all(), "/cb?token=abc123&password=p%40ss&page=2#x"),
            "/cb?token=********&password=********&page=2#x"
        );
    }

    #[test]
    fn json_forms() {
        let r = all();
        assert_eq!(
            redact(&r, r#"{"user":"bob","password":"hunter2","n":1}"#),
            r#"{"user":"bob","password":"********","n":1}"#
        );
        assert_eq!(
            redact(&r, r#"{"api_key": "k-1", "pin": 4321, "token": null}"#),
            r#"{"api_key": "********", "pin": ********, "token": null}"#
        );
        assert_eq!(
            redact(&r, r#"body={\"password\":\"hunter2\",\"a\":1}"#),
            r#"body={\"password\":\"********\",\"a\":1}"#
        );
        assert_eq!(
            redact(&r, r#"{"password":"say \"hi\" x","a":1}"#),
            r#"{"password":"********","a":1}"#
        );
        assert_eq!(
            redact(&r, r#"{"auth":{"password":"x"}}"#),
            r#"{"auth":{"password":"********"}}"#
        );
    }

    #[test]
    fn authorization_and_headers() {
        let r = all();
        let cases = [
            (
                "Authorization: Bearer eyabc.def-ghi",
                "Authorization: Bearer ********",
            ),
            (
                "authorization: Basic dXNlcjpwYXNz==",
                "authorization: Basic ********",
            ),
            ("authorization=abc123&x=1", "authorization=********&x=1"),
            (
                "authorization=Bearer%20abc123",
                "authorization=Bearer%20********",
            ),
            (
                r#"{"Authorization":"Bearer xyz.123"}"#,
                r#"{"Authorization":"Bearer ********"}"#,
            ),
            (
                "Proxy-Authorization: Digest username=\"a\", response=\"b\"",
                "Proxy-Authorization: Digest ********",
            ),
            ("Cookie: sid=abc; theme=dark", "Cookie: ********"),
            (
                "curl -H 'X' Bearer abcdefgh12345 done",
                "curl -H 'X' Bearer ******** done",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(redact(&r, text), want, "{text}");
        }
    }

    #[test]
    fn url_userinfo_and_jwt() {
        let r = all();
        assert_eq!(
            redact(&r, "fetch https://bob:s3cret@db.example.com/x failed"),
            "fetch https://bob:********@db.example.com/x failed"
        );
        assert_eq!(
            redact(&r, "postgres://app:pw@10.0.0.5:5432/db"),
            "postgres://app:********@10.0.0.5:5432/db"
        );
        assert_eq!(
            redact(&r, "https://bob@example.com/"),
            "https://bob@example.com/"
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(
            redact(&r, &format!("GET /reset/{jwt} HTTP/1.1")),
            "GET /reset/******** HTTP/1.1"
        );
    }

    #[test]
    fn prose_and_lookalikes_stay() {
        let r = all();
        for text in [
            "12:30:45 worker started at https://example.com/x",
            "invalid token: expired",
            "refresh token: connection reset",
            "max_tokens=512 prompt_tokens=100",
            "a == b and token != x",
            "password=",
            "password=******** already masked",
            "base64 dGVzdA== and key=value",
            "the Bearer of bad news",
        ] {
            assert_eq!(redact(&r, text), text, "{text}");
        }
    }

    #[test]
    fn categories_are_separate() {
        let only_password = SecretRules {
            password: true,
            ..SecretRules::default()
        };
        assert_eq!(
            redact(&only_password, "password=a token=b api_key=c"),
            "password=******** token=b api_key=c"
        );
    }

    #[test]
    fn whole_values() {
        let stars = Some(Value::Str(Text::Static(STARS)));
        assert_eq!(whole_value(SecretKind::Password, "hunter2"), stars);
        assert_eq!(whole_value(SecretKind::Password, ""), None);
        assert_eq!(whole_value(SecretKind::Password, STARS), None);
        assert_eq!(
            whole_value(SecretKind::Authorization, "Bearer abc"),
            Some(Value::owned_str("Bearer ********"))
        );
        assert_eq!(whole_value(SecretKind::Authorization, "abc"), stars);
        assert_eq!(
            whole_value(SecretKind::Authorization, "Bearer ********"),
            None
        );
    }
}
