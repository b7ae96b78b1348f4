//! Credentials and TLS client certificates of the Elasticsearch output, end to end.
//!
//! - Acceptance 6: `logpipe check`, `setup` and `run` with `LOGPIPE_LOG=debug`, credentials
//!   given inline, through `${VAR}`, in files and in the URL, against a server that refuses them
//!   (and echoes the `Authorization` header into its error), a dead port and a working server:
//!   no secret, nor the base64 form it is sent in, shows up in anything logpipe prints.
//! - `client_cert`/`client_key`: files that cannot be used are named by `logpipe check`; a
//!   proxy that terminates TLS and requires a client certificate accepts logpipe's.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::proxy::{Counters, Proxy};
use common::*;
use tokio_rustls::rustls;

fn unique(name: &str) -> String {
    format!("{name}-{:08x}", rand::random::<u32>())
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// What one logpipe command printed (stdout, then stderr) and how it ended.
struct Outcome {
    code: Option<i32>,
    text: String,
}

/// Runs `logpipe SUBCOMMAND -c CONFIG`; for `run`, stops it with SIGTERM once `until` holds
/// for what it printed so far (or once it exits by itself).
fn logpipe(
    dir: &Path,
    subcommand: &str,
    config: &Path,
    env: &[(String, String)],
    mut until: impl FnMut(&str) -> bool,
) -> Outcome {
    let n = rand::random::<u32>();
    let out_path = dir.join(format!("{subcommand}-{n:08x}.out"));
    let err_path = dir.join(format!("{subcommand}-{n:08x}.err"));
    let mut cmd = Command::new(logpipe_bin());
    cmd.arg("--data-dir")
        .arg(dir.join(format!("data-{n:08x}")))
        .arg(subcommand)
        .arg("-c")
        .arg(config)
        .env("LOGPIPE_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn logpipe");
    let read = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&out_path).unwrap_or_default(),
            std::fs::read_to_string(&err_path).unwrap_or_default()
        )
    };
    let start = Instant::now();
    let mut signalled = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if !signalled && until(&read()) {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            signalled = true;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = read();
    assert!(
        status.is_some(),
        "logpipe {subcommand} did not finish; output:\n{text}"
    );
    Outcome {
        code: status.and_then(|s| s.code()),
        text,
    }
}

fn pipeline_toml(log: &Path, prefix: &str, url: &str, output_extra: &str) -> String {
    format!(
        r#"
[pipeline]
batch_events = 50

[[inputs]]
type = "file"
paths = ["{log}"]
parser = "nginx_access"
poll_interval_ms = 50

[output.elasticsearch]
url = "{url}"
index = "{prefix}-{{event.dataset}}-%Y.%m.%d"
template_name = "{prefix}"
number_of_replicas = 0
refresh_interval = "1s"
batch_timeout_ms = 200
retry_initial_ms = 50
retry_max_ms = 500
request_timeout_secs = 10
{output_extra}
"#,
        log = log.display()
    )
}

fn cleanup(prefix: &str) {
    delete_indices(&format!("{prefix}-*"));
    es_delete(&format!("_index_template/{prefix}"));
    for c in ["ecs-mappings", "settings"] {
        es_delete(&format!("_component_template/{prefix}-{c}"));
    }
}

/// Removes a test's indices and templates when it ends, failed or not.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup(&self.0);
    }
}

/// The secrets of the test and every form they travel in.
struct Secrets {
    user: String,
    password: String,
    key_id: String,
    key_secret: String,
    url_user: String,
    url_password: String,
}

impl Secrets {
    fn new() -> Secrets {
        let r = || format!("{:016x}", rand::random::<u64>());
        Secrets {
            user: "lp-user".into(),
            password: format!("Pw{}Zq", r()),
            key_id: format!("kid{}", r()),
            key_secret: format!("ksec{}", r()),
            url_user: "urluser".into(),
            url_password: format!("Up{}Xw", r()),
        }
    }

    fn api_key(&self) -> String {
        format!("{}:{}", self.key_id, self.key_secret)
    }

    fn encoded_key(&self) -> String {
        b64(&self.api_key())
    }

    /// Strings that must never be printed.
    fn forbidden(&self) -> Vec<String> {
        vec![
            self.password.clone(),
            b64(&format!("{}:{}", self.user, self.password)),
            self.key_secret.clone(),
            self.encoded_key(),
            self.url_password.clone(),
            b64(&format!("{}:{}", self.url_user, self.url_password)),
        ]
    }
}

/// One way of giving the credentials: the `url` value (with `HOST` for the server's
/// `host:port`), the extra output settings, the environment, and the `Authorization` header
/// the server must receive.
struct CredSource {
    name: &'static str,
    url: String,
    extra: String,
    env: Vec<(String, String)>,
    header: String,
}

fn sources(s: &Secrets, dir: &Path) -> Vec<CredSource> {
    let pw_file = dir.join("password.txt");
    std::fs::write(&pw_file, format!("{}\n", s.password)).unwrap();
    let key_file = dir.join("api_key.txt");
    std::fs::write(&key_file, format!("{}\n", s.encoded_key())).unwrap();
    let basic = format!("Basic {}", b64(&format!("{}:{}", s.user, s.password)));
    let api = format!("ApiKey {}", s.encoded_key());
    let url_basic = format!(
        "Basic {}",
        b64(&format!("{}:{}", s.url_user, s.url_password))
    );
    let user_line = format!("username = \"{}\"", s.user);
    vec![
        CredSource {
            name: "inline password",
            url: "http://HOST".into(),
            extra: format!("{user_line}\npassword = \"{}\"", s.password),
            env: vec![],
            header: basic.clone(),
        },
        CredSource {
            name: "password from env",
            url: "http://HOST".into(),
            extra: format!("{user_line}\npassword = \"${{LP_TEST_PW}}\""),
            env: vec![("LP_TEST_PW".into(), s.password.clone())],
            header: basic.clone(),
        },
        CredSource {
            name: "password_file",
            url: "http://HOST".into(),
            extra: format!("{user_line}\npassword_file = \"{}\"", pw_file.display()),
            env: vec![],
            header: basic,
        },
        CredSource {
            name: "inline api_key id:key",
            url: "http://HOST".into(),
            extra: format!("api_key = \"{}\"", s.api_key()),
            env: vec![],
            header: api.clone(),
        },
        CredSource {
            name: "encoded api_key from env",
            url: "http://HOST".into(),
            extra: "api_key = \"${LP_TEST_KEY}\"".into(),
            env: vec![("LP_TEST_KEY".into(), s.encoded_key())],
            header: api.clone(),
        },
        CredSource {
            name: "api_key_file",
            url: "http://HOST".into(),
            extra: format!("api_key_file = \"{}\"", key_file.display()),
            env: vec![],
            header: api,
        },
        CredSource {
            name: "user info in url",
            url: format!("http://{}:{}@HOST", s.url_user, s.url_password),
            extra: String::new(),
            env: vec![],
            header: url_basic.clone(),
        },
        CredSource {
            name: "url with user info from env",
            url: "${LP_TEST_URL}".into(),
            extra: String::new(),
            env: vec![(
                "LP_TEST_URL".into(),
                format!("http://{}:{}@HOST", s.url_user, s.url_password),
            )],
            header: url_basic,
        },
    ]
}

fn with_host(source: &CredSource, host: &str) -> (String, Vec<(String, String)>) {
    let env = source
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.replace("HOST", host)))
        .collect();
    (source.url.replace("HOST", host), env)
}

fn assert_clean(secrets: &Secrets, what: &str, text: &str) {
    for s in secrets.forbidden() {
        assert!(
            !text.contains(&s),
            "{what}: a credential ({}...) was printed:\n{text}",
            &s[..4]
        );
    }
}

/// Acceptance 6: credentials never appear in any output, log line or error message.
#[test]
fn credentials_never_appear_in_any_output() {
    let es = es_url();
    let base = unique("sec-creds");
    let secrets = Secrets::new();
    let dir = tempfile::tempdir().unwrap();
    let ok_proxy = Proxy::start(&es);
    let refusing = Proxy::start(&es);
    refusing.faults().set_unauthorized(true, true);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let hosts = [
        ("working server", ok_proxy.url().replace("http://", "")),
        (
            "server refusing the credentials",
            refusing.url().replace("http://", ""),
        ),
        ("dead port", dead.to_string()),
    ];
    let sources = sources(&secrets, dir.path());

    std::thread::scope(|scope| {
        for (i, source) in sources.iter().enumerate() {
            let (dir, hosts, secrets, base) = (dir.path(), &hosts, &secrets, &base);
            scope.spawn(move || {
                let prefix = format!("{base}-{i}");
                let _cleanup = Cleanup(prefix.clone());
                let log = dir.join(format!("access-{i}.log"));
                let mut text = String::new();
                for n in 0..20 {
                    text.push_str(&nginx_line(9, "Jun", 2031, 10, i as u32, n as u32, n));
                }
                append(&log, &text);
                for (target, host) in hosts {
                    let (url, env) = with_host(source, host);
                    let cfg = dir.join(format!("pipeline-{i}-{}.toml", host.replace(':', "_")));
                    std::fs::write(&cfg, pipeline_toml(&log, &prefix, &url, &source.extra))
                        .unwrap();
                    let what = |cmd: &str| format!("{} / {target} / {cmd}", source.name);

                    let check = logpipe(dir, "check", &cfg, &env, |_| false);
                    assert_eq!(check.code, Some(0), "{}: {}", what("check"), check.text);
                    assert_clean(secrets, &what("check"), &check.text);

                    let setup = logpipe(dir, "setup", &cfg, &env, |_| false);
                    assert_clean(secrets, &what("setup"), &setup.text);
                    let pattern = format!("{prefix}-*");
                    let run = match *target {
                        "working server" => {
                            assert_eq!(setup.code, Some(0), "{}: {}", what("setup"), setup.text);
                            logpipe(dir, "run", &cfg, &env, |_| count(&pattern) >= 20)
                        }
                        "server refusing the credentials" => {
                            assert_eq!(setup.code, Some(1), "{}: {}", what("setup"), setup.text);
                            assert!(
                                setup.text.contains("401") && setup.text.contains("<redacted>"),
                                "{}: the echoed header is scrubbed: {}",
                                what("setup"),
                                setup.text
                            );
                            logpipe(dir, "run", &cfg, &env, |_| false)
                        }
                        _ => {
                            assert_eq!(setup.code, Some(1), "{}: {}", what("setup"), setup.text);
                            logpipe(dir, "run", &cfg, &env, |t| t.contains("retrying"))
                        }
                    };
                    assert_clean(secrets, &what("run"), &run.text);
                    if *target == "working server" {
                        assert_eq!(count(&pattern), 20, "{}: {}", what("run"), run.text);
                    } else {
                        assert_ne!(run.code, Some(0), "{}: {}", what("run"), run.text);
                    }
                }
            });
        }
    });

    // The credentials did reach the servers: the test above checked real traffic.
    let mut seen = ok_proxy.counters().authorizations.lock().unwrap().clone();
    seen.extend(
        refusing
            .counters()
            .authorizations
            .lock()
            .unwrap()
            .iter()
            .cloned(),
    );
    for source in &sources {
        assert!(
            seen.contains(&source.header),
            "{}: the servers never received its Authorization header",
            source.name
        );
    }
    assert!(Counters::get(&refusing.counters().unauthorized) > 0);
}

/// Configuration errors about credentials name the setting, never the secret.
#[test]
fn credential_errors_do_not_quote_secrets() {
    let secrets = Secrets::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    append(&log, "x\n");
    let url_secret = format!("http://u:{}@127.0.0.1:notaport", secrets.url_password);
    let cases: Vec<(String, String, &str)> = vec![
        (url_secret, String::new(), "is not a URL"),
        (
            "http://127.0.0.1:9".into(),
            format!(
                "username = \"u\"\npassword = \"{}\"\napi_key = \"{}\"",
                secrets.password,
                secrets.api_key()
            ),
            "mutually exclusive",
        ),
        (
            format!("http://u:{}@127.0.0.1:9", secrets.url_password),
            format!("api_key = \"{}\"", secrets.encoded_key()),
            "mutually exclusive",
        ),
        (
            "http://127.0.0.1:9".into(),
            format!(
                "password = \"{}\"\npassword_file = \"/nonexistent/pw\"",
                secrets.password
            ),
            "mutually exclusive",
        ),
        (
            "http://127.0.0.1:9".into(),
            "username = \"u\"\npassword_file = \"/nonexistent/pw\"".into(),
            "/nonexistent/pw",
        ),
        (
            "http://127.0.0.1:9".into(),
            format!("api_key = \"{} x\"", secrets.encoded_key()),
            "`api_key` contains spaces",
        ),
    ];
    for (i, (url, extra, expected)) in cases.iter().enumerate() {
        let cfg = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&cfg, pipeline_toml(&log, "sec-bad", url, extra)).unwrap();
        let out = logpipe(dir.path(), "check", &cfg, &[], |_| false);
        assert_eq!(out.code, Some(2), "case {i}: {}", out.text);
        assert!(out.text.contains(expected), "case {i}: {}", out.text);
        assert_clean(&secrets, &format!("case {i}"), &out.text);
    }
}

/// A test certificate authority, and certificates it signs.
struct Pki {
    ca_params: rcgen::CertificateParams,
    ca_key: rcgen::KeyPair,
    ca_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "logpipe test CA");
        let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
        Pki {
            ca_params,
            ca_key,
            ca_pem,
        }
    }

    /// A certificate for `names` with the given extended key usage; (cert PEM, key PEM).
    fn issue(&self, names: &[&str], usage: rcgen::ExtendedKeyUsagePurpose) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![usage];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A TLS server configuration for 127.0.0.1 that requires a client certificate from this CA.
    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let (cert, key) = self.issue(
            &["127.0.0.1", "localhost"],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap();
        Arc::new(config)
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `client_cert`/`client_key` files that cannot be used stop `logpipe check` with an error
/// naming the file; a usable pair (even with an extra `EC PARAMETERS` block) passes.
#[test]
fn client_certificate_files_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = d.join("a.log");
    append(&log, "x\n");
    let pki = Pki::new();
    let (cert, key) = pki.issue(&["client"], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let (_, other_key) = pki.issue(&["other"], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let cert_file = write(d, "client.crt", &cert);
    let key_file = write(
        d,
        "client.key",
        &format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{key}"
        ),
    );
    let other_key_file = write(d, "other.key", &other_key);
    let garbage = write(d, "garbage.pem", "not a certificate\n");
    let missing = d.join("missing.pem");
    let show = |p: &Path| p.display().to_string();
    let cases: Vec<(String, Option<String>)> = vec![
        (
            format!(
                "client_cert = \"{}\"\nclient_key = \"{}\"",
                show(&missing),
                show(&key_file)
            ),
            Some(show(&missing)),
        ),
        (
            format!(
                "client_cert = \"{}\"\nclient_key = \"{}\"",
                show(&garbage),
                show(&key_file)
            ),
            Some(format!("{}: no certificate found", show(&garbage))),
        ),
        (
            format!(
                "client_cert = \"{}\"\nclient_key = \"{}\"",
                show(&cert_file),
                show(&garbage)
            ),
            Some(format!("{}: no private key found", show(&garbage))),
        ),
        (
            format!(
                "client_cert = \"{}\"\nclient_key = \"{}\"",
                show(&cert_file),
                show(&missing)
            ),
            Some(show(&missing)),
        ),
        (
            format!(
                "client_cert = \"{}\"\nclient_key = \"{}\"",
                show(&cert_file),
                show(&other_key_file)
            ),
            Some(format!(
                "`client_key` {} is not the key of `client_cert` {}",
                show(&other_key_file),
                show(&cert_file)
            )),
        ),
        (
            format!("client_cert = \"{}\"", show(&cert_file)),
            Some("`client_key` is not".into()),
        ),
        (
            format!(
                "client_cert = \"{}\"\nclient_key = \"{}\"",
                show(&cert_file),
                show(&key_file)
            ),
            None,
        ),
    ];
    for (i, (extra, error)) in cases.iter().enumerate() {
        let cfg = d.join(format!("tls-{i}.toml"));
        std::fs::write(
            &cfg,
            pipeline_toml(&log, "sec-tls", "https://127.0.0.1:9", extra),
        )
        .unwrap();
        let out = logpipe(d, "check", &cfg, &[], |_| false);
        match error {
            Some(e) => {
                assert_eq!(out.code, Some(2), "case {i}: {}", out.text);
                assert!(
                    out.text.contains(e.as_str()),
                    "case {i}: expected `{e}` in {}",
                    out.text
                );
            }
            None => assert_eq!(out.code, Some(0), "case {i}: {}", out.text),
        }
    }
}

/// Mutual TLS: a proxy that requires a client certificate from the test CA refuses logpipe
/// without one and takes its requests with one, template and documents alike.
#[test]
fn mutual_tls_with_a_client_certificate() {
    let es = es_url();
    let prefix = unique("sec-mtls");
    let _cleanup = Cleanup(prefix.clone());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new();
    let proxy = Proxy::start_tls(&es, pki.server_config());
    let (cert, key) = pki.issue(&["logpipe"], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let ca_file = write(d, "ca.pem", &pki.ca_pem);
    let cert_file = write(d, "client.crt", &cert);
    let key_file = write(d, "client.key", &key);
    let log = d.join("access.log");
    let mut text = String::new();
    for n in 0..50 {
        text.push_str(&nginx_line(10, "Jun", 2031, 8, 0, n as u32, n));
    }
    append(&log, &text);
    let ca_line = format!("ca_file = \"{}\"", ca_file.display());

    let without = write(
        d,
        "without.toml",
        &pipeline_toml(&log, &prefix, &proxy.url(), &ca_line),
    );
    let out = logpipe(d, "setup", &without, &[], |_| false);
    assert_eq!(out.code, Some(1), "{}", out.text);
    assert!(out.text.contains("CertificateRequired"), "{}", out.text);
    assert!(
        Counters::get(&proxy.counters().tls_failures) > 0,
        "{}",
        out.text
    );
    assert_eq!(Counters::get(&proxy.counters().forwarded), 0);

    let extra = format!(
        "{ca_line}\nclient_cert = \"{}\"\nclient_key = \"{}\"",
        cert_file.display(),
        key_file.display()
    );
    let with = write(
        d,
        "with.toml",
        &pipeline_toml(&log, &prefix, &proxy.url(), &extra),
    );
    let out = logpipe(d, "setup", &with, &[], |_| false);
    assert_eq!(out.code, Some(0), "{}", out.text);
    assert!(Counters::get(&proxy.counters().client_certs) > 0);

    let pattern = format!("{prefix}-*");
    let run = logpipe(d, "run", &with, &[], |_| count(&pattern) >= 50);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(count(&pattern), 50, "{}", run.text);
    assert!(Counters::get(&proxy.counters().bulk_requests) > 0);
}
