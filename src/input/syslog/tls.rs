//! TLS for `mode = "tls"` (RFC 5425): the server certificate and key are read from PEM files
//! once, when the input is built, so a missing or wrong file stops the start with an error that
//! names it instead of failing every handshake later.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("tls_cert_file {path}: {source}")]
    ReadCert {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tls_key_file {path}: {source}")]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tls_cert_file {path}: no certificate found (expected a PEM `-----BEGIN CERTIFICATE-----` block)")]
    NoCert { path: PathBuf },
    #[error("tls_cert_file {path}: bad PEM: {message}")]
    BadCert { path: PathBuf, message: String },
    #[error("tls_key_file {path}: no private key found (expected a PEM `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)")]
    NoKey { path: PathBuf },
    #[error("tls_key_file {path}: bad PEM: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("tls_cert_file {cert} with tls_key_file {key}: {source}")]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
}

/// Builds the TLS server configuration from a certificate chain and a private key (PEM files).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let cert_pem = std::fs::read(cert).map_err(|source| TlsSetupError::ReadCert {
        path: cert.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::BadCert {
            path: cert.to_path_buf(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsSetupError::NoCert {
            path: cert.to_path_buf(),
        });
    }
    let key_pem = std::fs::read(key).map_err(|source| TlsSetupError::ReadKey {
        path: key.to_path_buf(),
        source,
    })?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsSetupError::NoKey {
            path: key.to_path_buf(),
        },
        e => TlsSetupError::BadKey {
            path: key.to_path_buf(),
            message: e.to_string(),
        },
    })?;
    let rejected = |source| TlsSetupError::Rejected {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    };
    // An explicit provider: the process-wide default is only chosen automatically when exactly
    // one crypto backend is compiled in, which other dependencies could change.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(rejected)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path) -> (PathBuf, PathBuf, rcgen::CertifiedKey<rcgen::KeyPair>) {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, pair.cert.pem()).unwrap();
        std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
        (cert, key, pair)
    }

    #[test]
    fn loads_a_good_pair() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = write_pair(dir.path());
        assert!(server_config(&cert, &key).is_ok());
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, _) = write_pair(dir.path());
        let missing = dir.path().join("missing.pem");
        let err = server_config(&missing, &key).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("tls_cert_file {}", missing.display())),
            "{err}"
        );
        let err = server_config(&cert, &missing).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("tls_key_file {}", missing.display())),
            "{err}"
        );
        // The certificate given as the key.
        let err = server_config(&cert, &cert).unwrap_err().to_string();
        assert!(err.contains("no private key found"), "{err}");
        // A key that does not belong to the certificate.
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let (_, other_key, _) = write_pair(&other);
        let err = server_config(&cert, &other_key).unwrap_err().to_string();
        assert!(err.contains(&other_key.display().to_string()), "{err}");
    }
}
