//! Keyed pseudonyms: HMAC-SHA256 of a value under a secret key, so one user stays one user
//! across events and restarts (same key, same pseudonym) while nobody without the key can map
//! a pseudonym back or test a guess.
//!
//! The key comes from an environment variable or a file, is read once at build time and never
//! appears in an error, a log line or `Debug` output. `ring`'s HMAC key keeps the padded key
//! state precomputed, so a pseudonym costs the hashing of the value alone.
//!
//! Strings become `PREFIX` + the first `length` hex digits of the MAC (`anon-3f9a0c1b7d2e4f60`).
//! IP addresses stay IP addresses, since `source.ip` is mapped as `ip` in Elasticsearch and a
//! string would be refused: IPv4 maps into 240.0.0.0/4 (reserved, never seen in real traffic,
//! so a pseudonym cannot be mistaken for a real client) and IPv6 into fd00::/8.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ring::hmac;
use zeroize::Zeroize;

use super::{AnonymizeError, PseudonymizeConfig};

/// Shortest key accepted: 128 bits, so the key cannot be guessed from pseudonyms.
pub const MIN_KEY_BYTES: usize = 16;

/// Domain separation: a string and an address with the same bytes get unrelated MACs.
const DOMAIN_TEXT: u8 = 0;
const DOMAIN_IP: u8 = 1;

/// Longest `prefix`; pseudonyms are built in a stack buffer.
pub const MAX_PREFIX: usize = 32;

pub(crate) struct Pseudonymizer {
    key: hmac::Key,
    prefix: Box<str>,
    /// Hex digits of the MAC kept (8..=64).
    length: usize,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is never printed, not even its length.
        f.debug_struct("Pseudonymizer")
            .field("key", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("length", &self.length)
            .finish()
    }
}

impl Pseudonymizer {
    pub(crate) fn from_config(c: &PseudonymizeConfig) -> Result<Pseudonymizer, AnonymizeError> {
        if !(8..=64).contains(&c.length) {
            return Err(AnonymizeError::Invalid(format!(
                "pseudonymize.length = {} is out of range: 8..=64 hex digits",
                c.length
            )));
        }
        if c.prefix.len() > MAX_PREFIX {
            return Err(AnonymizeError::Invalid(format!(
                "pseudonymize.prefix is {} bytes long; at most {MAX_PREFIX}",
                c.prefix.len()
            )));
        }
        let (mut bytes, origin) = match (&c.key_env, &c.key_file) {
            (Some(var), None) => (read_env(var)?, format!("environment variable `{var}`")),
            (None, Some(path)) => (read_file(path)?, format!("key file `{path}`")),
            _ => {
                return Err(AnonymizeError::Invalid(
                    "pseudonymize needs exactly one of `key_env` (an environment variable \
                     holding the key) or `key_file` (a file holding it)"
                        .into(),
                ))
            }
        };
        let len = bytes.len();
        if len < MIN_KEY_BYTES {
            bytes.zeroize();
            return Err(AnonymizeError::KeyTooShort {
                origin,
                len,
                min: MIN_KEY_BYTES,
            });
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
        bytes.zeroize();
        Ok(Pseudonymizer {
            key,
            prefix: c.prefix.as_str().into(),
            length: c.length,
        })
    }

    /// A pseudonymizer with a key given directly (tests and benches).
    #[cfg(test)]
    pub(crate) fn with_key(key: &[u8], prefix: &str, length: usize) -> Pseudonymizer {
        Pseudonymizer {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            prefix: prefix.into(),
            length,
        }
    }

    fn mac(&self, domain: u8, value: &[u8]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(&[domain]);
        ctx.update(value);
        ctx.sign()
    }

    /// The pseudonym of a string value.
    pub(crate) fn text(&self, value: &str) -> String {
        let tag = self.mac(DOMAIN_TEXT, value.as_bytes());
        let mut out = String::with_capacity(self.prefix.len() + self.length);
        out.push_str(&self.prefix);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in tag.as_ref().iter().take(self.length.div_ceil(2)) {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out.truncate(self.prefix.len() + self.length);
        out
    }

    /// The pseudonym of an address: same family, inside a range no real client has.
    pub(crate) fn ip(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => IpAddr::V4(self.ipv4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                // A mapped IPv4 client is the same client as its plain form.
                Some(v4) => IpAddr::V6(self.ipv4(v4).to_ipv6_mapped()),
                None => {
                    let tag = self.mac(DOMAIN_IP, &v6.octets());
                    let mut o = [0u8; 16];
                    o.copy_from_slice(&tag.as_ref()[..16]);
                    o[0] = 0xfd;
                    IpAddr::V6(Ipv6Addr::from(o))
                }
            },
        }
    }

    fn ipv4(&self, v4: Ipv4Addr) -> Ipv4Addr {
        let tag = self.mac(DOMAIN_IP, &v4.octets());
        let t = tag.as_ref();
        Ipv4Addr::new(0xf0 | (t[0] & 0x0f), t[1], t[2], t[3])
    }
}

fn read_env(var: &str) -> Result<Vec<u8>, AnonymizeError> {
    #[cfg(unix)]
    use std::os::unix::ffi::OsStringExt as _;
    match std::env::var_os(var) {
        None => Err(AnonymizeError::KeyEnvMissing { var: var.into() }),
        #[cfg(unix)]
        Some(v) => Ok(v.into_vec()),
        #[cfg(not(unix))]
        Some(v) => Ok(v.to_string_lossy().into_owned().into_bytes()),
    }
}

fn read_file(path: &str) -> Result<Vec<u8>, AnonymizeError> {
    let mut bytes = std::fs::read(path).map_err(|source| AnonymizeError::KeyFile {
        path: path.into(),
        source,
    })?;
    // Editors and `echo` end the file with a newline that is not part of the key.
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(key_env: Option<&str>, key_file: Option<&str>) -> PseudonymizeConfig {
        PseudonymizeConfig {
            fields: vec!["user.name".into()],
            key_env: key_env.map(str::to_string),
            key_file: key_file.map(str::to_string),
            prefix: "anon-".into(),
            length: 16,
        }
    }

    #[test]
    fn stable_for_one_key_different_across_keys() {
        let a = Pseudonymizer::with_key(b"0123456789abcdef0123", "anon-", 16);
        let a2 = Pseudonymizer::with_key(b"0123456789abcdef0123", "anon-", 16);
        let b = Pseudonymizer::with_key(b"another key of 16+ bytes", "anon-", 16);
        let p = a.text("alice");
        assert_eq!(p.len(), "anon-".len() + 16);
        assert!(p.starts_with("anon-"));
        assert!(p["anon-".len()..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(p, a2.text("alice"), "same key, same pseudonym (restarts)");
        assert_ne!(p, a.text("bob"));
        assert_ne!(p, b.text("alice"), "another key, another pseudonym");
        assert_eq!(
            Pseudonymizer::with_key(b"0123456789abcdef", "", 9)
                .text("x")
                .len(),
            9
        );
    }

    #[test]
    fn ip_pseudonyms_stay_addresses_in_reserved_ranges() {
        let p = Pseudonymizer::with_key(b"0123456789abcdef0123", "", 16);
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        let IpAddr::V4(out) = p.ip(v4) else {
            panic!("family kept")
        };
        assert_eq!(out.octets()[0] & 0xf0, 0xf0, "{out} in 240.0.0.0/4");
        assert_eq!(p.ip(v4), p.ip(v4));
        assert_ne!(p.ip(v4), p.ip("203.0.113.8".parse().unwrap()));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let IpAddr::V6(out6) = p.ip(v6) else {
            panic!("family kept")
        };
        assert_eq!(out6.octets()[0], 0xfd, "{out6} in fd00::/8");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        let IpAddr::V6(m) = p.ip(mapped) else {
            panic!("family kept")
        };
        assert_eq!(m.to_ipv4_mapped().map(IpAddr::V4), Some(p.ip(v4)));
    }

    #[test]
    fn key_errors_never_contain_the_key() {
        let var = "LOGPIPE_TEST_PSEUDONYM_KEY_SHORT";
        std::env::set_var(var, "tooshortsecret");
        let e = Pseudonymizer::from_config(&config(Some(var), None)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(var) && msg.contains("14 bytes"), "{msg}");
        assert!(!msg.contains("tooshortsecret"), "{msg}");
        assert!(!format!("{e:?}").contains("tooshortsecret"));

        let missing = "LOGPIPE_TEST_PSEUDONYM_KEY_UNSET";
        std::env::remove_var(missing);
        let msg = Pseudonymizer::from_config(&config(Some(missing), None))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(missing) && msg.contains("not set"), "{msg}");

        let msg = Pseudonymizer::from_config(&config(None, Some("/nonexistent/key")))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/nonexistent/key"), "{msg}");
        assert!(Pseudonymizer::from_config(&config(None, None)).is_err());
        assert!(Pseudonymizer::from_config(&config(Some(var), Some("/k"))).is_err());
    }

    #[test]
    fn key_file_newline_is_not_part_of_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "0123456789abcdef-file-key\n").unwrap();
        let p = Pseudonymizer::from_config(&config(None, path.to_str())).unwrap();
        let direct = Pseudonymizer::with_key(b"0123456789abcdef-file-key", "anon-", 16);
        assert_eq!(p.text("alice"), direct.text("alice"));
        assert!(!format!("{p:?}").contains("file-key"));
    }
}
