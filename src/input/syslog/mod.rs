//! `type = "syslog"`: syslog messages received over the network, on UDP (RFC 5426), TCP
//! (RFC 6587) or TCP with TLS (RFC 5425).
//!
//! - UDP: one datagram is one message. Datagrams are batched (up to `batch_events`, or what
//!   arrived within ~10 ms) and offered to the pipeline without waiting: a sender cannot be told
//!   to slow down, so when the pipeline is full the batch is dropped and counted
//!   (`COUNTERS.syslog_udp_dropped`) rather than letting the kernel drop blindly behind a
//!   blocked reader.
//! - TCP and TLS: every connection is its own task and its own stream (framing detected from its
//!   first bytes, see [`framing`]; record assembly with its own [`Assembler`]). A full pipeline
//!   makes a connection wait before it reads more, so TCP flow control slows that client down;
//!   the accept loop never waits on the pipeline, and one connection's garbage, errors or
//!   slowness stay its own. At most `max_connections` are served; extra ones are accepted and
//!   closed at once, and counted.
//!
//! Network inputs have no checkpoints: batches are sent untracked, and the document ids only
//! have to be unique within the run (a random stream key per connection, or per UDP socket).
//!
//! [`Assembler`]: super::assemble::Assembler

pub mod framing;
mod tcp;
mod tls;
mod udp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::{Input, InputConfig, InputContext, InputError, InputRegistration};
use crate::output::BoxFuture;

pub const REGISTRATION: InputRegistration = InputRegistration {
    kind: "syslog",
    parse: super::parse_config::<SyslogConfig>,
};

/// Transport the input listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Udp,
    Tcp,
    Tls,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Udp => "udp",
            Mode::Tcp => "tcp",
            Mode::Tls => "tls",
        }
    }
}

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 300;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// Transport: `udp`, `tcp`, or `tls` (TCP with TLS, RFC 5425).
    pub mode: Mode,
    /// Address to listen on, `HOST:PORT`: `0.0.0.0:514`, `127.0.0.1:5514`, `[::]:6514`.
    pub address: String,
    /// Longest message kept whole, in bytes; longer ones are cut to this and tagged
    /// `_truncated`. On TCP without octet counting the rest of a cut message up to its newline
    /// is discarded, and a client that sends a great deal more with no newline at all is
    /// disconnected. Default 65536.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// `tcp`/`tls`: connections served at once; further ones are closed at once and counted.
    /// Default 256.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// `tls` only (and required there): the server certificate chain, PEM.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// `tls` only (and required there): the private key of the certificate, PEM (PKCS#8,
    /// PKCS#1 or SEC1).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
    /// `tcp`/`tls`: a connection that sends nothing for this many seconds is closed.
    /// Default 300.
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    /// `udp` only: the socket's receive buffer (`SO_RCVBUF`), in bytes, to ride out bursts.
    /// Default: the system's.
    #[serde(default)]
    pub receive_buffer_bytes: Option<usize>,
}

fn default_max_message_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

impl SyslogConfig {
    fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS)
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs.unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS))
    }
}

impl InputConfig for SyslogConfig {
    fn validate(&self) -> Result<(), String> {
        let port_ok = self
            .address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(format!(
                "`address` = {:?}: expected `HOST:PORT`, e.g. \"0.0.0.0:514\" or \"[::]:6514\"",
                self.address
            ));
        }
        if self.max_message_bytes == 0 {
            return Err("`max_message_bytes` must be > 0".into());
        }
        let tls_keys = self.tls_cert_file.is_some() || self.tls_key_file.is_some();
        match self.mode {
            Mode::Tls if self.tls_cert_file.is_none() || self.tls_key_file.is_none() => {
                return Err("`mode = \"tls\"` needs `tls_cert_file` and `tls_key_file` \
                            (the server certificate and its private key, PEM files)"
                    .into());
            }
            Mode::Tcp | Mode::Udp if tls_keys => {
                return Err(format!(
                    "`tls_cert_file` and `tls_key_file` are only used with `mode = \"tls\"` \
                     (this input has `mode = \"{}\"`)",
                    self.mode.as_str()
                ));
            }
            _ => {}
        }
        match self.mode {
            Mode::Udp => {
                if self.max_connections.is_some() || self.idle_timeout_secs.is_some() {
                    return Err("`max_connections` and `idle_timeout_secs` apply to \
                                `mode = \"tcp\"` and `\"tls\"` only: UDP has no connections"
                        .into());
                }
                if self.receive_buffer_bytes == Some(0) {
                    return Err("`receive_buffer_bytes` must be > 0".into());
                }
            }
            Mode::Tcp | Mode::Tls => {
                if self.receive_buffer_bytes.is_some() {
                    return Err("`receive_buffer_bytes` applies to `mode = \"udp\"` only".into());
                }
                if self.max_connections == Some(0) {
                    return Err("`max_connections` must be > 0".into());
                }
                if self.idle_timeout_secs == Some(0) {
                    return Err("`idle_timeout_secs` must be > 0".into());
                }
            }
        }
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Input>, InputError> {
        let tls = match (self.mode, &self.tls_cert_file, &self.tls_key_file) {
            (Mode::Tls, Some(cert), Some(key)) => Some(tls::server_config(cert, key).map_err(
                |e| InputError::Config {
                    input: format!("syslog {}", self.address),
                    message: e.to_string(),
                },
            )?),
            (Mode::Tls, _, _) => {
                return Err(InputError::Config {
                    input: format!("syslog {}", self.address),
                    message: "`mode = \"tls\"` needs `tls_cert_file` and `tls_key_file`".into(),
                })
            }
            _ => None,
        };
        Ok(Box::new(SyslogInput {
            config: self.clone(),
            tls,
        }))
    }
}

pub struct SyslogInput {
    config: SyslogConfig,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Input for SyslogInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<'static, Result<(), InputError>> {
        Box::pin(async move {
            let SyslogInput { config, tls } = *self;
            match config.mode {
                Mode::Udp => udp::run(config, ctx).await,
                Mode::Tcp | Mode::Tls => tcp::run(config, tls, ctx).await,
            }
        })
    }
}

/// Resolves the configured address (a host name is looked up once, at start).
async fn resolve(
    config: &SyslogConfig,
    ctx: &InputContext,
) -> Result<std::net::SocketAddr, InputError> {
    let err = |source| InputError::Io {
        input: ctx.id.clone(),
        path: config.address.clone(),
        source,
    };
    let mut addrs = tokio::net::lookup_host(config.address.as_str())
        .await
        .map_err(err)?;
    addrs.next().ok_or_else(|| {
        err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the host name has no address",
        ))
    })
}

/// Upper bound on the bytes of one batch, so large messages cannot pile up in memory before
/// `batch_events` is reached: every open connection may hold one batch while the pipeline is
/// full.
const BATCH_BYTES: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SyslogConfig, String> {
        let cfg: SyslogConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    #[test]
    fn defaults_and_modes() {
        let c = parse("mode = \"udp\"\naddress = \"127.0.0.1:5514\"").unwrap();
        assert_eq!(c.mode, Mode::Udp);
        assert_eq!(c.max_message_bytes, 65536);
        let c = parse("mode = \"tcp\"\naddress = \"[::]:6514\"").unwrap();
        assert_eq!(c.max_connections(), 256);
        assert_eq!(c.idle_timeout(), Duration::from_secs(300));
        let err = parse("mode = \"sctp\"\naddress = \"1.2.3.4:5\"").unwrap_err();
        assert!(err.contains("sctp"), "{err}");
        let err = parse("mode = \"udp\"\naddress = \"1.2.3.4:5\"\nport = 5").unwrap_err();
        assert!(err.contains("unknown field `port`"), "{err}");
    }

    #[test]
    fn clear_refusals() {
        let err = parse("mode = \"tls\"\naddress = \"0.0.0.0:6514\"").unwrap_err();
        assert!(
            err.contains("needs `tls_cert_file` and `tls_key_file`"),
            "{err}"
        );
        let err = parse(
            "mode = \"tcp\"\naddress = \"0.0.0.0:514\"\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"",
        )
        .unwrap_err();
        assert!(err.contains("only used with `mode = \"tls\"`"), "{err}");
        let err = parse("mode = \"udp\"\naddress = \"514\"").unwrap_err();
        assert!(err.contains("HOST:PORT"), "{err}");
        let err =
            parse("mode = \"udp\"\naddress = \"0.0.0.0:514\"\nmax_connections = 3").unwrap_err();
        assert!(err.contains("UDP has no connections"), "{err}");
        let err = parse("mode = \"tcp\"\naddress = \"0.0.0.0:514\"\nreceive_buffer_bytes = 1")
            .unwrap_err();
        assert!(err.contains("`mode = \"udp\"` only"), "{err}");
        let err =
            parse("mode = \"tcp\"\naddress = \"0.0.0.0:514\"\nmax_message_bytes = 0").unwrap_err();
        assert!(err.contains("> 0"), "{err}");
    }

    #[test]
    fn tls_build_names_the_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        let cfg = SyslogConfig {
            mode: Mode::Tls,
            address: "127.0.0.1:0".into(),
            max_message_bytes: 100,
            max_connections: None,
            tls_cert_file: Some(cert.clone()),
            tls_key_file: Some(key.clone()),
            idle_timeout_secs: None,
            receive_buffer_bytes: None,
        };
        let err = cfg.build().err().unwrap().to_string();
        assert!(err.contains(&cert.display().to_string()), "{err}");
        assert!(err.contains("no certificate"), "{err}");
    }
}
