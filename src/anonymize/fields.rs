//! Field selection for the anonymize stage: which configured list a field name falls into, and
//! which names say by themselves "this holds a secret" or "this holds personal data".
//!
//! Selections are exact dotted names (`source.ip`), prefixes (`user.*`) or `*`. They are looked
//! up for every field of every event, so exact names are bucketed by length: a lookup compares
//! the name with the one or two configured names of its length, not with the whole list.
//!
//! Key names (a field's last name segment, or the `key` of `key=value` text) are compared after
//! normalization: lower case, without `_` and `-`, so `accessToken`, `access_token` and
//! `Access-Token` are one name, and `user[password]` / `user%5Bpassword%5D` (form fields as
//! Rails and PHP send them) count as `password`.

/// Role bits of a field name.
pub(crate) mod role {
    /// An IP address field (`[anonymize.ip] fields`).
    pub const IP: u8 = 1;
    /// The `.address` sibling of an IP field: the same client, written as text.
    pub const ADDRESS: u8 = 2;
    /// A field replaced by its keyed pseudonym.
    pub const PSEUDO: u8 = 4;
    /// A free-text field scanned for secrets and personal data.
    pub const TEXT: u8 = 8;
    /// A field dropped from the event.
    pub const REMOVE: u8 = 16;
    /// A field kept in allow-list mode.
    pub const ALLOW: u8 = 32;
    /// A name that may say its value is a secret or personal data (looked at more closely).
    pub const SPECIAL: u8 = 64;
}

/// Configured names and prefixes with the roles they give a field.
#[derive(Debug, Default)]
pub(crate) struct FieldTable {
    /// Exact names, indexed by their length in bytes.
    by_len: Vec<Vec<(Box<str>, u8)>>,
    /// `prefix.` for each `prefix.*` selection.
    prefixes: Vec<(Box<str>, u8)>,
    /// Roles that `*` gives every field.
    all: u8,
}

impl FieldTable {
    /// Adds one selection; the error says what is wrong with the pattern (the caller names the
    /// key it came from).
    pub(crate) fn add(&mut self, pattern: &str, roles: u8) -> Result<(), String> {
        if pattern == "*" {
            self.all |= roles;
            return Ok(());
        }
        let (name, is_prefix) = match pattern.strip_suffix(".*") {
            Some(p) => (p, true),
            None => (pattern, false),
        };
        if name.is_empty()
            || name.contains('*')
            || name.starts_with('.')
            || name.ends_with('.')
            || name.contains("..")
            || name.contains(char::is_whitespace)
        {
            return Err(format!(
                "`{pattern}` is not a field selection: write a dotted name (`source.ip`), a \
                 prefix (`user.*`) or `*`"
            ));
        }
        if is_prefix {
            let prefix: Box<str> = format!("{name}.").into();
            match self.prefixes.iter_mut().find(|(p, _)| *p == prefix) {
                Some((_, r)) => *r |= roles,
                None => self.prefixes.push((prefix, roles)),
            }
        } else {
            if self.by_len.len() <= name.len() {
                self.by_len.resize_with(name.len() + 1, Vec::new);
            }
            let bucket = &mut self.by_len[name.len()];
            match bucket.iter_mut().find(|(n, _)| n.as_ref() == name) {
                Some((_, r)) => *r |= roles,
                None => bucket.push((name.into(), roles)),
            }
        }
        Ok(())
    }

    /// The union of the roles every matching selection gives `name`.
    #[inline]
    pub(crate) fn roles(&self, name: &str) -> u8 {
        let mut r = self.all;
        if let Some(bucket) = self.by_len.get(name.len()) {
            for (n, roles) in bucket {
                if n.as_ref() == name {
                    r |= roles;
                }
            }
        }
        for (p, roles) in &self.prefixes {
            if name.starts_with(p.as_ref()) {
                r |= roles;
            }
        }
        r
    }
}

/// What a key name says its value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretKind {
    Password,
    ApiKey,
    Token,
    /// `Authorization`, `Proxy-Authorization`: a scheme (`Bearer`) and credentials; the scheme
    /// is kept, it says how a client authenticated without being a secret.
    Authorization,
    /// `Cookie`, `Set-Cookie`: session credentials, possibly several `name=value` pairs.
    Cookie,
}

impl SecretKind {
    /// The `redact` category that enables this kind: cookies and `Authorization` values are
    /// bearer credentials, so they go with tokens.
    pub(crate) fn category(self) -> SecretCategory {
        match self {
            SecretKind::Password => SecretCategory::Password,
            SecretKind::ApiKey => SecretCategory::ApiKey,
            SecretKind::Token | SecretKind::Authorization | SecretKind::Cookie => {
                SecretCategory::Token
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretCategory {
    Password,
    ApiKey,
    Token,
}

/// Longest normalized segment kept; longer ones keep their last bytes, which is all the suffix
/// rules look at.
const KEY_MAX: usize = 48;

/// A key's last name segment, normalized (see the module comment). A plain segment (lower-case
/// letters and digits, the usual case) is borrowed as it is; others are rewritten, right-aligned,
/// into a small buffer. Rules then compare suffixes of a byte slice.
pub(crate) enum NormalizedKey<'a> {
    Plain(&'a [u8]),
    Buf { buf: [u8; KEY_MAX], start: usize },
}

impl<'a> NormalizedKey<'a> {
    pub(crate) fn new(key: &'a str) -> NormalizedKey<'a> {
        let b = key.as_bytes();
        let mut s = b.len();
        while s > 0 && (b[s - 1].is_ascii_lowercase() || b[s - 1].is_ascii_digit()) {
            s -= 1;
        }
        if s == 0 || b[s - 1] == b'.' {
            return NormalizedKey::Plain(&b[s..]);
        }
        let mut buf = [0u8; KEY_MAX];
        let mut start = KEY_MAX;
        let mut i = b.len();
        while i > 0 && start > 0 {
            // `%5B` / `%5D` / `%5F` / `%2D` / `%2E`: an encoded `[`, `]`, `_`, `-`, `.`.
            if i >= 3 && b[i - 3] == b'%' {
                match [b[i - 2].to_ascii_uppercase(), b[i - 1].to_ascii_uppercase()] {
                    [b'5', b'D' | b'F'] | [b'2', b'D'] => {
                        i -= 3;
                        continue;
                    }
                    [b'5', b'B'] | [b'2', b'E'] => break,
                    _ => {}
                }
            }
            let c = b[i - 1];
            i -= 1;
            match c {
                b'.' | b'[' => break,
                b'_' | b'-' | b']' => {}
                _ => {
                    start -= 1;
                    buf[start] = c.to_ascii_lowercase();
                }
            }
        }
        NormalizedKey::Buf { buf, start }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            NormalizedKey::Plain(s) => s,
            NormalizedKey::Buf { buf, start } => &buf[*start..],
        }
    }

    fn ends_with(&self, suffix: &[u8]) -> bool {
        self.as_bytes().ends_with(suffix)
    }
}

/// False when no built-in secret or personal-data name can match `name`, judged from how it
/// ends: every such name ends in one of `d e l n r s t y`, in a character that normalization
/// drops, or in an encoded character (`%5F`). Most field names end otherwise and skip
/// normalization.
#[inline]
pub(crate) fn may_be_special(name: &str) -> bool {
    ends_maybe_special(name.as_bytes())
}

/// [`may_be_special`] on the bytes of a name, or of any text the name ends.
#[inline]
pub(crate) fn ends_maybe_special(name: &[u8]) -> bool {
    match name {
        // An encoded character (`%5F`, `%5D`) that normalization drops: the byte before it
        // decides, so the name is looked at whole.
        [.., b'%', _, _] => true,
        [.., c] => matches!(
            c.to_ascii_lowercase(),
            b'd' | b'e' | b'l' | b'n' | b'r' | b's' | b't' | b'y' | b']' | b'_' | b'-'
        ),
        [] => false,
    }
}

/// What the last name segment of `key` says about its value, when it names a secret.
///
/// Suffix rules catch the compound names applications invent (`db_password`, `csrf_token`,
/// `clientSecret`, `X-Api-Key`); plurals such as `max_tokens` or `prompt_tokens` are counts and
/// do not match. Pagination cursors named `next_page_token` do match: a value that is only
/// possibly a credential is hidden rather than kept.
pub(crate) fn secret_kind(key: &NormalizedKey<'_>) -> Option<SecretKind> {
    let any = |list: &[&[u8]]| list.iter().any(|s| key.ends_with(s));
    // Dispatch on the last letter, so a name is compared with two or three suffixes at most.
    match key.as_bytes().last()? {
        b'd' if any(&[b"password", b"passwd", b"pwd"]) => Some(SecretKind::Password),
        b'e' if key.ends_with(b"passphrase") => Some(SecretKind::Password),
        b'e' if key.ends_with(b"cookie") => Some(SecretKind::Cookie),
        b'e' if key.ends_with(b"signature") => Some(SecretKind::Token),
        b'l' | b's' if any(&[b"credential", b"credentials"]) => Some(SecretKind::Token),
        b'n' if key.ends_with(b"authorization") => Some(SecretKind::Authorization),
        b'n' if key.ends_with(b"token") => Some(SecretKind::Token),
        b't' if any(&[b"secret", b"jwt"]) => Some(SecretKind::Token),
        b'y' if key.ends_with(b"key")
            && any(&[
                b"apikey",
                b"accesskey",
                b"secretkey",
                b"privatekey",
                b"signingkey",
            ]) =>
        {
            Some(SecretKind::ApiKey)
        }
        _ => None,
    }
}

/// True when the last name segment of `key` names personal data (`email`, `customer_phone`,
/// `ssn`, `card_number`...): such fields are scanned like `message`, whatever their name.
pub(crate) fn is_pii_name(key: &NormalizedKey<'_>) -> bool {
    let any = |list: &[&[u8]]| list.iter().any(|s| key.ends_with(s));
    match key.as_bytes().last() {
        Some(b'l') => key.ends_with(b"email"),
        Some(b's') => key.ends_with(b"emailaddress"),
        Some(b'e') => any(&[b"phone", b"mobile"]),
        Some(b'r') => any(&[b"phonenumber", b"mobilenumber", b"cardnumber", b"ccnumber"]),
        Some(b'n') => key.ends_with(b"ssn"),
        Some(b'd') => key.ends_with(b"creditcard"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(key: &str) -> Option<SecretKind> {
        secret_kind(&NormalizedKey::new(key))
    }

    #[test]
    fn exact_prefix_and_star_selections() {
        let mut t = FieldTable::default();
        t.add("source.ip", role::IP).unwrap();
        t.add("user.*", role::PSEUDO).unwrap();
        t.add("message", role::TEXT).unwrap();
        t.add("message", role::REMOVE).unwrap();
        assert_eq!(t.roles("source.ip"), role::IP);
        assert_eq!(t.roles("source.ips"), 0);
        assert_eq!(t.roles("user.name"), role::PSEUDO);
        assert_eq!(t.roles("user"), 0);
        assert_eq!(t.roles("message"), role::TEXT | role::REMOVE);
        t.add("*", role::ALLOW).unwrap();
        assert_eq!(t.roles("anything.at.all"), role::ALLOW);
        for bad in ["", ".a", "a.", "a..b", "a*", "*.ip", "a b"] {
            assert!(t.add(bad, role::TEXT).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_names_are_normalized() {
        assert_eq!(
            NormalizedKey::new("user.Access-Token").as_bytes(),
            b"accesstoken"
        );
        assert_eq!(NormalizedKey::new("user[password]").as_bytes(), b"password");
        assert_eq!(
            NormalizedKey::new("user%5Bpassword%5D").as_bytes(),
            b"password"
        );
        assert_eq!(NormalizedKey::new("api%5Fkey").as_bytes(), b"apikey");
        // A name normalization shortens at its end is not turned away by its last byte.
        assert!(may_be_special("password%5F") && may_be_special("user%5Bpassword%5D"));
        assert!(!may_be_special("ref") && !may_be_special("page_no") && !may_be_special(""));
        let long = format!("{}_password", "x".repeat(100));
        assert_eq!(kind(&long), Some(SecretKind::Password));
    }

    #[test]
    fn secret_key_names() {
        for k in [
            "password",
            "user.password",
            "passwd",
            "pwd",
            "db_password",
            "userPassword",
            "url.password",
        ] {
            assert_eq!(kind(k), Some(SecretKind::Password), "{k}");
        }
        for k in [
            "api_key",
            "apikey",
            "api-key",
            "X-Api-Key",
            "aws_secret_access_key",
        ] {
            assert_eq!(kind(k), Some(SecretKind::ApiKey), "{k}");
        }
        for k in [
            "token",
            "access_token",
            "refresh_token",
            "accessToken",
            "secret",
            "client_secret",
            "X-Amz-Signature",
            "credentials",
        ] {
            assert_eq!(kind(k), Some(SecretKind::Token), "{k}");
        }
        assert_eq!(kind("Authorization"), Some(SecretKind::Authorization));
        assert_eq!(kind("proxy-authorization"), Some(SecretKind::Authorization));
        assert_eq!(kind("Set-Cookie"), Some(SecretKind::Cookie));
        for k in [
            "user.name",
            "message",
            "max_tokens",
            "prompt_tokens",
            "token_type",
            "postgresql.log.session_id",
            "source.address",
            "url.path",
            "event.dataset",
            "primary_key",
            "tokenizer",
            "2024",
        ] {
            assert_eq!(kind(k), None, "{k}");
        }
    }

    #[test]
    fn quick_rejection_agrees_with_the_rules() {
        for k in [
            "password",
            "passwd",
            "pwd",
            "passphrase",
            "api_key",
            "accesskey",
            "privatekey",
            "token",
            "secret",
            "signature",
            "credentials",
            "credential",
            "jwt",
            "authorization",
            "cookie",
            "email",
            "emailaddress",
            "phone",
            "phonenumber",
            "mobile",
            "ssn",
            "creditcard",
            "card_number",
            "ccnumber",
            "user[password]",
            "x-token-",
        ] {
            assert!(may_be_special(k), "{k}");
        }
        for k in ["source.ip", "url.path", "host.mac", "a.b.c9"] {
            assert!(!may_be_special(k), "{k}");
            let n = NormalizedKey::new(k);
            assert!(secret_kind(&n).is_none() && !is_pii_name(&n), "{k}");
        }
    }

    #[test]
    fn pii_names() {
        for k in [
            "email",
            "customer.email",
            "contact_phone",
            "ssn",
            "card_number",
            "Mobile",
        ] {
            assert!(is_pii_name(&NormalizedKey::new(k)), "{k}");
        }
        for k in ["message", "user.name", "phones_count", "url.path"] {
            assert!(!is_pii_name(&NormalizedKey::new(k)), "{k}");
        }
    }
}
