//! Container log envelopes: the wrapper a container runtime writes around each line.
//!
//! - Docker json-file: `{"log":"text\n","stream":"stdout","time":"2026-11-22T10:00:00.123456789Z"}`;
//!   a `log` without its trailing newline is a partial line (Docker splits lines at 16 KiB).
//! - CRI (containerd, CRI-O): `2026-11-22T10:00:00.123456789Z stdout F text`, where `P` marks a
//!   partial line and `F` the last piece.
//!
//! Unwrapping is pure and per line; putting partial lines back together needs the previous
//! lines of the same stream and happens in the input (`input::assemble`).

use std::borrow::Cow;

use serde::Deserialize;

use super::timestamp::parse_rfc3339;
use crate::event::Timestamp;

/// Which envelope an input's lines carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EnvelopeKind {
    /// Docker json-file lines.
    Docker,
    /// CRI lines (containerd, CRI-O, the kubelet's /var/log/pods).
    Cri,
    /// Detected per line: `{` starts a Docker line, anything else is read as CRI.
    Auto,
}

/// Output stream of a container line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoStream {
    Stdout,
    Stderr,
}

impl IoStream {
    pub fn as_str(self) -> &'static str {
        match self {
            IoStream::Stdout => "stdout",
            IoStream::Stderr => "stderr",
        }
    }
}

/// One unwrapped line.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrapped<'a> {
    pub payload: Cow<'a, [u8]>,
    /// More pieces of the same line follow.
    pub partial: bool,
    pub stream: IoStream,
    pub time: Option<Timestamp>,
}

#[derive(Deserialize)]
struct DockerLine<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(default, borrow)]
    stream: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    time: Option<Cow<'a, str>>,
}

fn stream_of(s: &[u8]) -> Option<IoStream> {
    match s {
        b"stdout" => Some(IoStream::Stdout),
        b"stderr" => Some(IoStream::Stderr),
        _ => None,
    }
}

/// Unwraps a Docker json-file line.
pub fn unwrap_docker(line: &[u8]) -> Result<Unwrapped<'_>, &'static str> {
    let parsed: DockerLine<'_> =
        serde_json::from_slice(line).map_err(|_| "not a Docker json-file line")?;
    let stream = match parsed.stream.as_deref() {
        None => IoStream::Stdout,
        Some(s) => stream_of(s.as_bytes()).ok_or("Docker line with an unknown `stream`")?,
    };
    let time = parsed.time.as_deref().and_then(parse_rfc3339);
    let (payload, partial) = match parsed.log {
        Cow::Borrowed(s) => match s.strip_suffix('\n') {
            Some(body) => (Cow::Borrowed(body.as_bytes()), false),
            None => (Cow::Borrowed(s.as_bytes()), true),
        },
        Cow::Owned(mut s) => {
            let partial = !s.ends_with('\n');
            if !partial {
                s.pop();
            }
            (Cow::Owned(s.into_bytes()), partial)
        }
    };
    Ok(Unwrapped {
        payload,
        partial,
        stream,
        time,
    })
}

/// Unwraps a CRI line: `TIME STREAM P|F PAYLOAD`.
pub fn unwrap_cri(line: &[u8]) -> Result<Unwrapped<'_>, &'static str> {
    let mut parts = line.splitn(4, |&b| b == b' ');
    let time = parts.next().ok_or("empty CRI line")?;
    let stream = parts
        .next()
        .and_then(stream_of)
        .ok_or("CRI line without `stdout`/`stderr`")?;
    let partial = match parts.next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err("CRI line without the `P`/`F` tag"),
    };
    let time = std::str::from_utf8(time)
        .ok()
        .and_then(parse_rfc3339)
        .ok_or("CRI line without an RFC 3339 time")?;
    let payload = parts.next().unwrap_or(b"");
    Ok(Unwrapped {
        payload: Cow::Borrowed(payload),
        partial,
        stream,
        time: Some(time),
    })
}

/// Unwraps `line` as `kind` says.
pub fn unwrap(kind: EnvelopeKind, line: &[u8]) -> Result<Unwrapped<'_>, &'static str> {
    match kind {
        EnvelopeKind::Docker => unwrap_docker(line),
        EnvelopeKind::Cri => unwrap_cri(line),
        EnvelopeKind::Auto => {
            if line.first() == Some(&b'{') {
                unwrap_docker(line)
            } else {
                unwrap_cri(line)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn docker_lines() {
        let u = unwrap_docker(br#"{"log":"hello \"world\"\n","stream":"stderr","time":"2026-11-22T10:00:00.123456789Z"}"#).unwrap();
        assert_eq!(&*u.payload, b"hello \"world\"");
        assert!(!u.partial);
        assert_eq!(u.stream, IoStream::Stderr);
        assert_eq!(
            u.time.unwrap().to_rfc3339(),
            "2026-11-22T10:00:00.123456789Z"
        );
        let u = unwrap_docker(
            br#"{"log":"part one ","stream":"stdout","time":"2026-11-22T10:00:00Z"}"#,
        )
        .unwrap();
        assert!(u.partial);
        assert_eq!(&*u.payload, b"part one ");
        // A partial piece has no `\n` escape, so it is read without a copy.
        let u = unwrap_docker(br#"{"log":"piece","stream":"stdout"}"#).unwrap();
        assert!(matches!(u.payload, Cow::Borrowed(_)));
        assert!(unwrap_docker(b"not json").is_err());
        assert!(unwrap_docker(br#"{"stream":"stdout"}"#).is_err());
    }

    #[test]
    fn cri_lines() {
        let u = unwrap_cri(b"2026-11-22T10:00:00.123456789+00:00 stdout F GET / 200").unwrap();
        assert_eq!(&*u.payload, b"GET / 200");
        assert!(!u.partial);
        assert_eq!(
            u.time.unwrap().to_rfc3339(),
            "2026-11-22T10:00:00.123456789Z"
        );
        let u = unwrap_cri(b"2026-11-22T10:00:00Z stderr P first half").unwrap();
        assert!(u.partial);
        assert_eq!(u.stream, IoStream::Stderr);
        let u = unwrap_cri(b"2026-11-22T10:00:00Z stdout F").unwrap();
        assert_eq!(&*u.payload, b"");
        assert!(unwrap_cri(b"2026-11-22T10:00:00Z stdout X text").is_err());
        assert!(unwrap_cri(b"yesterday stdout F text").is_err());
        assert!(unwrap_cri(b"").is_err());
    }

    #[test]
    fn auto_detects_per_line() {
        assert!(unwrap(EnvelopeKind::Auto, br#"{"log":"a\n","stream":"stdout"}"#).is_ok());
        assert!(unwrap(EnvelopeKind::Auto, b"2026-11-22T10:00:00Z stdout F a").is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = unwrap(EnvelopeKind::Auto, &line);
            let _ = unwrap_docker(&line);
            let _ = unwrap_cri(&line);
        }
    }
}
