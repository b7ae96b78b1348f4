//! The `syslog` input end to end: the real binary listening on UDP, TCP and TLS, writing NDJSON
//! to a file, driven by clients in this test (good ones, a garbage one, a silent one, one too
//! many). Every message carries a unique id, so the checks are on ids, never on timing.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_rustls::rustls;

/// Generous: the machine running the tests may be small and busy.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(180);

fn logpipe_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_logpipe"))
}

/// A port that was free a moment ago (bound to port 0, then released). Another process could
/// take it in between; [`Logpipe::start`] retries with new ports when the bind fails.
fn free_port(udp: bool) -> u16 {
    if udp {
        UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("free udp port")
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("free tcp port")
    }
}

/// One `[[inputs]]` table; `{PORT}` in `extra` is not needed: the address is filled in.
struct InputSpec {
    mode: &'static str,
    extra: String,
}

struct Logpipe {
    child: Child,
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    output: RefCell<OutputTail>,
}

/// The output file read so far: only what was appended since the last look is parsed, so
/// polling stays cheap however large the file grows.
#[derive(Default)]
struct OutputTail {
    offset: u64,
    docs: Vec<Value>,
    counts: HashMap<String, usize>,
}

impl Logpipe {
    /// Starts `logpipe run` with one syslog input per spec (`parser = "none"`, output to an
    /// NDJSON file) and waits until every input listens.
    fn start(inputs: &[InputSpec]) -> Logpipe {
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let ports: Vec<u16> = inputs.iter().map(|i| free_port(i.mode == "udp")).collect();
            let mut config =
                String::from("[pipeline]\nbatch_events = 512\nchannel_batches = 32\n\n");
            for (spec, port) in inputs.iter().zip(&ports) {
                config.push_str(&format!(
                    "[[inputs]]\ntype = \"syslog\"\nparser = \"none\"\nmode = \"{}\"\naddress = \"127.0.0.1:{}\"\n{}\n\n",
                    spec.mode, port, spec.extra
                ));
            }
            config.push_str(&format!(
                "[output.file]\npath = {:?}\n",
                dir.path().join("out.ndjson").display().to_string()
            ));
            let config_path = dir.path().join("pipeline.toml");
            std::fs::write(&config_path, config).expect("write config");
            let log = std::fs::File::create(dir.path().join("logpipe.log")).expect("log file");
            let child = Command::new(logpipe_bin())
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .arg("run")
                .arg("-c")
                .arg(&config_path)
                .env("NO_COLOR", "1")
                .env("LOGPIPE_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn logpipe");
            let mut lp = Logpipe {
                child,
                dir,
                ports,
                output: RefCell::default(),
            };
            let listening = wait_until(Duration::from_secs(60), || {
                lp.log().matches("syslog input listening").count() >= inputs.len() || lp.exited()
            });
            if listening && !lp.exited() {
                return lp;
            }
            let log = lp.log();
            if log.contains("in use") {
                continue; // Someone took a port between our probe and logpipe's bind.
            }
            panic!("logpipe did not start listening:\n{log}");
        }
        panic!("no free ports after 5 attempts");
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn addr(&self, input: usize) -> String {
        format!("127.0.0.1:{}", self.ports[input])
    }

    /// The log so far, without terminal colour codes.
    fn log(&self) -> String {
        let raw = std::fs::read_to_string(self.dir.path().join("logpipe.log")).unwrap_or_default();
        strip_ansi(&raw)
    }

    /// Reads what was appended to the output file (whole lines only; a line being written is
    /// left for the next look).
    fn refresh(&self) {
        let mut tail = self.output.borrow_mut();
        let Ok(mut file) = std::fs::File::open(self.dir.path().join("out.ndjson")) else {
            return;
        };
        let mut new = Vec::new();
        if file.seek(SeekFrom::Start(tail.offset)).is_err() || file.read_to_end(&mut new).is_err() {
            return;
        }
        let Some(last_newline) = new.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        tail.offset += last_newline as u64 + 1;
        for line in new[..last_newline].split(|&b| b == b'\n') {
            let doc: Value = serde_json::from_slice(line).expect("output lines are JSON");
            if let Some(m) = doc["message"].as_str() {
                *tail.counts.entry(m.to_string()).or_insert(0) += 1;
            }
            tail.docs.push(doc);
        }
    }

    /// Every document written so far.
    fn docs(&self) -> Vec<Value> {
        self.refresh();
        self.output.borrow().docs.clone()
    }

    /// How often each message occurs in the output.
    fn messages(&self) -> HashMap<String, usize> {
        self.refresh();
        self.output.borrow().counts.clone()
    }

    /// How many of `expected` are not in the output yet.
    fn missing(&self, expected: &[String]) -> usize {
        self.refresh();
        let tail = self.output.borrow();
        expected
            .iter()
            .filter(|m| !tail.counts.contains_key(*m))
            .count()
    }

    /// Waits until every one of `expected` is in the output; panics with what is missing.
    fn wait_for_all(&mut self, expected: &[String]) {
        let start = Instant::now();
        let missing = loop {
            let missing = self.missing(expected);
            if missing == 0 || self.exited() || start.elapsed() > ARRIVAL_TIMEOUT {
                break missing;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            missing == 0,
            "{missing} of {} messages missing; log:\n{}",
            expected.len(),
            self.log()
        );
    }

    /// SIGTERM, then the exit status must be success.
    fn stop(&mut self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "logpipe did not stop after SIGTERM; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "exit {status:?}; log:\n{}", self.log());
    }
}

impl Drop for Logpipe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

fn message(kind: &str, i: usize) -> String {
    format!("<13>1 2026-01-01T00:00:00Z host app - - - {kind}-{i:05}")
}

fn messages(kind: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| message(kind, i)).collect()
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    s
}

fn send_newline_framed(w: &mut impl Write, msgs: &[String]) {
    let mut w = BufWriter::new(w);
    for m in msgs {
        w.write_all(m.as_bytes()).expect("write");
        w.write_all(b"\n").expect("write");
    }
    w.flush().expect("flush");
}

fn send_octet_counted(w: &mut impl Write, msgs: &[String]) {
    let mut w = BufWriter::new(w);
    for m in msgs {
        write!(w, "{} {}", m.len(), m).expect("write");
    }
    w.flush().expect("flush");
}

/// A self-signed certificate for `localhost`, written as PEM files into `dir`.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, pair.cert.pem()).expect("write cert");
    std::fs::write(&key, pair.signing_key.serialize_pem()).expect("write key");
    (cert, key, pair.cert.der().to_vec())
}

fn tls_client(
    addr: &str,
    cert_der: &[u8],
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert_der.to_vec()))
        .expect("trust the test certificate");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("tls client");
    rustls::StreamOwned::new(conn, connect(addr))
}

fn tags(doc: &Value) -> Vec<&str> {
    doc["tags"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Reads until the server closes the connection. False if it stays open past the timeout.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true, // reset: closed as well
        }
    }
}

/// 10,000 messages over each transport and framing, every one arrives exactly once.
#[test]
fn every_message_arrives_over_udp_tcp_and_tls() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (cert, key, cert_der) = self_signed(certs.path());
    let mut lp = Logpipe::start(&[
        InputSpec {
            mode: "udp",
            extra: "receive_buffer_bytes = 4194304".into(),
        },
        InputSpec {
            mode: "tcp",
            extra: String::new(),
        },
        InputSpec {
            mode: "tls",
            extra: format!(
                "tls_cert_file = {:?}\ntls_key_file = {:?}",
                cert.display().to_string(),
                key.display().to_string()
            ),
        },
    ]);
    const N: usize = 10_000;

    // UDP has no flow control: a socket buffer overflowing while the machine is busy would
    // lose datagrams before logpipe sees them. So the test paces itself: small bursts, and each
    // round of 100 must have arrived before the next is sent.
    let udp_msgs = messages("udp", N);
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp client");
    for round in udp_msgs.chunks(100) {
        for (i, m) in round.iter().enumerate() {
            // Every other datagram ends in a newline, as senders reusing TCP formatting do.
            let datagram = if i % 2 == 0 {
                format!("{m}\n")
            } else {
                m.clone()
            };
            udp.send_to(datagram.as_bytes(), lp.addr(0))
                .expect("udp send");
            if i % 10 == 9 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        lp.wait_for_all(round);
    }

    // TCP: one connection newline-framed (with CRLF on some lines), one octet-counted.
    let nl_msgs = messages("tcp-newline", N);
    let octet_msgs = messages("tcp-octet", N);
    let addr = lp.addr(1);
    let nl = {
        let msgs = nl_msgs.clone();
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = connect(&addr);
            let crlf: Vec<String> = msgs
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    if i % 3 == 0 {
                        format!("{m}\r")
                    } else {
                        m.clone()
                    }
                })
                .collect();
            send_newline_framed(&mut s, &crlf);
        })
    };
    let octet = {
        let msgs = octet_msgs.clone();
        std::thread::spawn(move || {
            let mut s = connect(&addr);
            send_octet_counted(&mut s, &msgs);
        })
    };

    // TLS: a client that does not speak TLS fails its handshake and harms no one; then a real
    // client sends octet-counted frames over TLS.
    let mut plain = connect(&lp.addr(2));
    let _ = plain.write_all(b"<13>this is not a TLS handshake\n");
    let tls_msgs = messages("tls", N);
    let mut tls = tls_client(&lp.addr(2), &cert_der);
    send_octet_counted(&mut tls, &tls_msgs);
    tls.conn.send_close_notify();
    let _ = tls.flush();

    nl.join().expect("newline client");
    octet.join().expect("octet client");

    let mut expected = udp_msgs;
    expected.extend(nl_msgs);
    expected.extend(octet_msgs);
    expected.extend(tls_msgs);
    lp.wait_for_all(&expected);
    drop(plain);
    lp.stop();

    let seen = lp.messages();
    let doubled: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(doubled.is_empty(), "messages delivered twice: {doubled:?}");
    let expected: HashSet<&String> = expected.iter().collect();
    let unexpected: Vec<_> = seen
        .keys()
        .filter(|m| !expected.contains(m))
        .take(5)
        .collect();
    assert!(unexpected.is_empty(), "unexpected messages: {unexpected:?}");
    // `parser = "none"` tags every event `_timestamp_fallback`; nothing may be cut or mangled.
    let flagged: Vec<Value> = lp
        .docs()
        .into_iter()
        .filter(|d| tags(d).iter().any(|t| *t != "_timestamp_fallback"))
        .take(3)
        .collect();
    assert!(
        flagged.is_empty(),
        "nothing was cut or mangled: {flagged:?}"
    );
    let log = lp.log();
    assert!(
        log.contains("input=\"syslog-0\" mode=\"udp\" received=10000 dropped=0"),
        "every datagram read, none dropped:\n{log}"
    );
    assert!(!log.contains("UDP syslog messages dropped"), "{log}");
    assert!(
        log.contains("syslog connection error"),
        "the failed handshake is logged:\n{log}"
    );
}

/// A client sending 10 MB without any framing is cut and disconnected; a client sending at the
/// same time, and one that sent half a message and went silent, are not disturbed.
#[test]
fn garbage_client_is_cut_and_disconnected_while_others_go_on() {
    let mut lp = Logpipe::start(&[InputSpec {
        mode: "tcp",
        extra: "max_message_bytes = 1024".into(),
    }]);
    let addr = lp.addr(0);

    let mut good = connect(&addr);
    send_newline_framed(&mut good, &messages("good", 1));
    lp.wait_for_all(&messages("good", 1));

    let mut silent = connect(&addr);
    silent
        .write_all(b"<13>half a message from a silent client")
        .expect("write");

    let garbage = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = connect(&addr);
            let chunk = vec![b'G'; 64 * 1024];
            let mut written = 0usize;
            while written < 10 * 1024 * 1024 {
                match s.write(&chunk) {
                    Ok(n) => written += n,
                    Err(_) => break, // the server hung up on us: expected
                }
            }
            (written, closed_by_server(&mut s))
        })
    };

    // The good client keeps sending while the garbage flows, in small bursts.
    let good_msgs = messages("good", 3000);
    for burst in good_msgs[1..].chunks(100) {
        send_newline_framed(&mut good, burst);
        std::thread::sleep(Duration::from_millis(5));
    }
    let (written, closed) = garbage.join().expect("garbage client");
    assert!(
        closed,
        "the garbage client was disconnected (wrote {written} bytes)"
    );
    lp.wait_for_all(&good_msgs);
    // After the garbage connection is gone, new messages still arrive on the old connection.
    let late = messages("late", 100);
    send_newline_framed(&mut good, &late);
    lp.wait_for_all(&late);

    let cut: Vec<Value> = lp
        .docs()
        .into_iter()
        .filter(|d| d["message"].as_str().is_some_and(|m| m.starts_with('G')))
        .collect();
    assert!(
        !cut.is_empty() && cut.len() <= 3,
        "one (or a few) cut garbage events, not {}",
        cut.len()
    );
    for d in &cut {
        assert!(tags(d).contains(&"_truncated"), "{d}");
        assert_eq!(
            d["message"].as_str().map(str::len),
            Some(1024),
            "cut at max_message_bytes"
        );
    }
    assert!(lp.log().contains("disconnected"), "{}", lp.log());

    // Shutdown sends what the silent client had begun.
    lp.stop();
    let seen = lp.messages();
    assert!(
        seen.contains_key("<13>half a message from a silent client"),
        "the silent client's partial message is flushed at shutdown"
    );
    drop(silent);
}

/// With `max_connections = 2` a third connection is closed at once; the first two go on.
#[test]
fn connections_beyond_the_limit_are_closed() {
    let mut lp = Logpipe::start(&[InputSpec {
        mode: "tcp",
        extra: "max_connections = 2".into(),
    }]);
    let addr = lp.addr(0);
    let mut a = connect(&addr);
    let mut b = connect(&addr);
    send_newline_framed(&mut a, &messages("conn-a", 1));
    send_newline_framed(&mut b, &messages("conn-b", 1));
    let mut first = messages("conn-a", 1);
    first.extend(messages("conn-b", 1));
    lp.wait_for_all(&first);

    let mut c = connect(&addr);
    let _ = c.write_all(b"<13>from the third connection\n");
    assert!(closed_by_server(&mut c), "the third connection is closed");
    assert!(
        wait_until(Duration::from_secs(30), || lp
            .log()
            .contains("too many connections")),
        "{}",
        lp.log()
    );

    let more_a = messages("conn-a", 500);
    let more_b = messages("conn-b", 500);
    send_newline_framed(&mut a, &more_a[1..]);
    send_newline_framed(&mut b, &more_b[1..]);
    let mut all = more_a;
    all.extend(more_b);
    lp.wait_for_all(&all);

    // Once a slot is free, a new connection is served again.
    drop(a);
    let served = wait_until(ARRIVAL_TIMEOUT, || {
        let mut d = connect(&addr);
        let _ = send_newline_framed_quiet(&mut d, &messages("conn-d", 1));
        std::thread::sleep(Duration::from_millis(500));
        lp.messages().contains_key(&message("conn-d", 0))
    });
    assert!(served, "a freed slot is used again");
    lp.stop();
    assert!(
        !lp.messages().contains_key("<13>from the third connection"),
        "nothing from the refused connection"
    );
    drop(b);
}

fn send_newline_framed_quiet(w: &mut impl Write, msgs: &[String]) -> std::io::Result<()> {
    for m in msgs {
        w.write_all(m.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()
}
