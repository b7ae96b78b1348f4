//! The CLI as users call it: `parse` on fixtures and garbage, `check` on good and bad files.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn run_with_stdin(args: &[&str], input: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(logpipe_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Acceptance 4: every fixture line comes out as an ECS document; malformed ones keep their
/// text with `_parse_failure`.
#[test]
fn parse_nginx_fixture_prints_ecs_documents() {
    let input =
        std::fs::read_to_string(repo_root().join("fixtures/nginx/access.log")).expect("fixture");
    let (code, stdout, stderr) =
        run_with_stdin(&["parse", "--format", "nginx_access"], input.as_bytes());
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = input.lines().filter(|l| !l.trim().is_empty()).collect();
    let docs: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON document"))
        .collect();
    assert_eq!(docs.len(), lines.len(), "one document per non-empty line");
    let mut failures = 0;
    for (line, doc) in lines.iter().zip(&docs) {
        assert_eq!(
            doc["message"].as_str(),
            Some(*line),
            "message is the original line"
        );
        assert_eq!(doc["event"]["dataset"], "nginx.access");
        let failed = doc["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "_parse_failure"));
        if failed {
            failures += 1;
            assert!(doc["error"]["message"].is_string(), "{doc}");
            continue;
        }
        assert!(
            doc["@timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{doc}"
        );
        assert!(doc["source"]["address"].is_string(), "{doc}");
        assert!(doc["http"]["response"]["status_code"].is_i64(), "{doc}");
        assert_eq!(doc["event"]["category"][0], "web");
        let outcome = doc["event"]["outcome"].as_str().unwrap_or_default();
        let status = doc["http"]["response"]["status_code"]
            .as_i64()
            .unwrap_or_default();
        assert_eq!(
            outcome,
            if status < 400 { "success" } else { "failure" },
            "{doc}"
        );
    }
    assert!(failures > 0, "the fixture has malformed lines");
    assert!(
        failures * 10 < lines.len(),
        "most fixture lines parse: {failures} failures of {}",
        lines.len()
    );
}

/// Acceptance 6: garbage never panics and never vanishes.
#[test]
fn parse_survives_garbage() {
    // Deterministic pseudo-random bytes, split into lines.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut input = Vec::new();
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = (state >> 24) as u8;
        input.push(if b.is_multiple_of(61) { b'\n' } else { b });
    }
    input.extend_from_slice(&[b'x'; 5000]);
    input.push(b'\n');
    let expected = input
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .count();
    for format in ["nginx_access", "json", "none"] {
        let (code, stdout, stderr) = run_with_stdin(
            &["parse", "--format", format, "--max-line-bytes", "1000"],
            &input,
        );
        assert_eq!(code, 0, "{format}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let docs: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("valid JSON"))
            .collect();
        assert_eq!(
            docs.len(),
            expected,
            "{format}: every non-empty line gives a document"
        );
        let truncated = docs
            .iter()
            .filter(|d| {
                d["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "_truncated"))
            })
            .count();
        assert!(truncated >= 1, "{format}: the 5000-byte line is cut");
        assert!(docs.iter().any(|d| d["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "_invalid_utf8"))));
    }
}

#[test]
fn parse_with_unknown_format_is_a_usage_error() {
    let (code, _, stderr) = run_with_stdin(&["parse", "--format", "nope"], b"");
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown parser `nope`"), "{stderr}");
}

fn check(config: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(logpipe_bin())
        .args(["check", "-c"])
        .arg(config)
        .output()
        .expect("run logpipe check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Acceptance 5: a typo names FILE:LINE:COL and the allowed keys, exit 2; a valid file exits 0.
#[test]
fn check_reports_typos_with_place_and_allowed_keys() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    let text = "[[inputs]]\ntype = \"file\"\npaths = [\"/var/log/nginx/access.log\"]\nparser = \"nginx_access\"\n\n[output.elasticsearch]\nurl = \"${ES_URL:-http://127.0.0.1:9200}\"\n";
    std::fs::write(&good, text).unwrap();
    let (code, stderr) = check(&good);
    assert_eq!(code, Some(0), "{stderr}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, text.replace("paths =", "path =")).unwrap();
    let (code, stderr) = check(&bad);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:3:1:", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("unknown field `path`"), "{stderr}");
    assert!(
        stderr.contains("`paths`") && stderr.contains("`start_at`"),
        "{stderr}"
    );

    std::fs::write(&bad, text.replace("url =", "ulr =")).unwrap();
    let (code, stderr) = check(&bad);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:7:1: unknown field `ulr`", bad.display())),
        "{stderr}"
    );

    std::fs::write(
        &bad,
        text.replace(
            "${ES_URL:-http://127.0.0.1:9200}",
            "${LOGPIPE_TEST_UNSET_VAR}",
        ),
    )
    .unwrap();
    let out = Command::new(logpipe_bin())
        .args(["check", "-c"])
        .arg(&bad)
        .env_remove("LOGPIPE_TEST_UNSET_VAR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(":7:7:") && stderr.contains("LOGPIPE_TEST_UNSET_VAR"),
        "{stderr}"
    );
}

/// A stage setting that types cannot catch (an unknown GeoIP result) is an error that names the
/// file once, the table and the valid values, exit 2.
#[test]
fn check_reports_stage_settings_with_file_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("geo.toml");
    let city_db = concat!(env!("CARGO_MANIFEST_DIR"), "/geoip/test-city.mmdb");
    std::fs::write(
        &bad,
        format!(
            "[[inputs]]\ntype = \"stdin\"\nparser = \"nginx_access\"\n\n[enrich.geoip]\n\
             city_db = \"{city_db}\"\nproperties = [\"geo.city\"]\n\n[output.stdout]\n"
        ),
    )
    .unwrap();
    let (code, stderr) = check(&bad);
    assert_eq!(code, Some(2), "{stderr}");
    let path = bad.display().to_string();
    assert_eq!(stderr.matches(&path).count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{path}: [enrich.geoip]: `properties`: unknown `geo.city`; expected one of"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("geo.city_name"), "{stderr}");
}

#[test]
fn every_command_has_help() {
    for cmd in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["parse", "--help"],
        vec!["check", "--help"],
        vec!["setup", "--help"],
    ] {
        let out = Command::new(logpipe_bin()).args(&cmd).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{cmd:?}"
        );
    }
}

/// A stdin pipeline ends at end of input after everything is written.
#[test]
fn run_stdin_to_file_output_ends_at_eof() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.ndjson");
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[inputs]]\ntype = \"stdin\"\nparser = \"json\"\n\n[output.file]\npath = \"{}\"\n",
            out_path.display()
        ),
    )
    .unwrap();
    let mut input = String::new();
    for i in 0..3000 {
        input.push_str(&format!("{{\"ts\":\"2031-05-01T00:00:00.123456Z\",\"level\":\"INFO\",\"msg\":\"m{i}\",\"n\":{i}}}\n"));
    }
    input.push_str("not json\n\n");
    let data = dir.path().join("data");
    let (code, _, stderr) = run_with_stdin(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "run",
            "-c",
            cfg.to_str().unwrap(),
        ],
        input.as_bytes(),
    );
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&out_path).unwrap();
    let docs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 3001);
    let ok: Vec<&Value> = docs
        .iter()
        .filter(|d| d["log"]["level"] == "info")
        .collect();
    assert_eq!(ok.len(), 3000);
    assert_eq!(ok[0]["@timestamp"], "2031-05-01T00:00:00.123456Z");
    assert_eq!(
        docs.iter()
            .filter(|d| d["tags"][0] == "_parse_failure")
            .count(),
        1
    );
}

/// Issue 3, acceptance 3: container payloads through `--envelope`, partial lines reassembled.
#[test]
fn parse_unwraps_docker_and_cri_envelopes() {
    for (kind, file, frac) in [
        (
            "docker",
            "fixtures/containers/docker-nginx.log",
            "123456789",
        ),
        ("cri", "fixtures/containers/cri-nginx.log", "987654321"),
    ] {
        let input = std::fs::read(repo_root().join(file)).expect("fixture");
        let (code, stdout, stderr) = run_with_stdin(
            &["parse", "--format", "nginx_access", "--envelope", kind],
            &input,
        );
        assert_eq!(code, 0, "{stderr}");
        let docs: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        assert!(docs.len() >= 4, "{kind}: {stdout}");
        // The long request was written in three pieces and comes out as one event.
        let long = &docs[2];
        assert_eq!(
            long["http"]["response"]["status_code"], 200,
            "{kind}: {long}"
        );
        assert!(long["url"]["original"]
            .as_str()
            .is_some_and(|u| u.len() > 300));
        assert_eq!(long["stream"], "stdout");
        assert_eq!(docs[0]["@timestamp"], "2026-11-22T10:00:00.000Z");
        // A payload the parser refuses keeps the runtime's time and stream.
        let bad = &docs[3];
        assert_eq!(bad["tags"][0], "_parse_failure", "{kind}: {bad}");
        assert_eq!(bad["stream"], "stderr");
        assert_eq!(bad["@timestamp"], format!("2026-11-22T10:00:03.{frac}Z"));
    }
    let cri =
        std::fs::read(repo_root().join("fixtures/containers/cri-nginx.log")).expect("fixture");
    let (_, stdout, _) = run_with_stdin(&["parse", "--format", "none", "--envelope", "cri"], &cri);
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("JSON");
    assert_eq!(last["message"], "garbage that is not CRI");
    assert!(last["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "_envelope_failure")));
}

fn parse_docs(args: &[&str], input: &[u8]) -> Vec<Value> {
    let (code, stdout, stderr) = run_with_stdin(args, input);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON document"))
        .collect()
}

fn failures(docs: &[Value]) -> usize {
    docs.iter()
        .filter(|d| {
            d["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "_parse_failure"))
        })
        .count()
}

/// Issue 3, acceptance 3: every parser through `logpipe parse`, with the options of the
/// compiled ones, and multi-line joining as in a pipeline.
#[test]
fn parse_every_format_with_its_options() {
    // nginx_error: 60 lines, 48 records (multi-line entries joined), 4 malformed.
    let input = std::fs::read(repo_root().join("fixtures/nginx/error.log")).unwrap();
    let docs = parse_docs(&["parse", "--format", "nginx_error"], &input);
    assert_eq!(docs.len(), 48);
    assert_eq!(failures(&docs), 4);
    assert!(docs
        .iter()
        .any(|d| d["message"].as_str().is_some_and(|m| m.contains('\n'))
            && d["log"]["level"].is_string()));

    // postgresql, default prefixes and a configured one.
    let input = std::fs::read(repo_root().join("fixtures/postgresql/postgresql.log")).unwrap();
    let docs = parse_docs(&["parse", "--format", "postgresql"], &input);
    assert_eq!(docs.len(), 49, "103 lines, 49 entries");
    assert!(docs.iter().any(|d| d["event"]["duration"].is_i64()));
    let line = b"2026-11-22 10:00:00 UTC [77]: [3-1] user=app,db=shop,app=psql,client=10.1.2.3 LOG:  duration: 2.5 ms  statement: SELECT 1\n";
    let docs = parse_docs(
        &[
            "parse",
            "--format",
            "postgresql",
            "--prefix",
            "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
        ],
        line,
    );
    assert_eq!(docs[0]["user"]["name"], "app", "{:#}", docs[0]);
    assert_eq!(docs[0]["postgresql"]["log"]["database"], "shop");
    assert_eq!(docs[0]["event"]["duration"], 2_500_000);

    // nginx_access with a pasted log_format.
    let line = b"203.0.113.9 - - [22/Nov/2026:10:00:00 +0000] \"GET /a?b=1 HTTP/1.1\" 200 12 \"-\" \"curl/8\" rt=0.123 uct=\"0.004\"\n";
    let docs = parse_docs(
        &[
            "parse",
            "--format",
            "nginx_access",
            "--log-format",
            r#"'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time"'"#,
        ],
        line,
    );
    assert_eq!(docs[0]["event"]["duration"], 123_000_000, "{:#}", docs[0]);
    assert_eq!(docs[0]["url"]["query"], "b=1");

    // X-Forwarded-For promotion behind a private proxy address, on by default, off on request.
    let line = b"10.0.0.1 - - [22/Nov/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\" \"198.51.100.4, 10.0.0.9\"\n";
    let on = parse_docs(
        &["parse", "--format", "nginx_access", "--log-format", "main"],
        line,
    );
    assert_eq!(on[0]["source"]["ip"], "198.51.100.4", "{:#}", on[0]);
    let off = parse_docs(
        &[
            "parse",
            "--format",
            "nginx_access",
            "--log-format",
            "main",
            "--promote-forwarded-for",
            "false",
        ],
        line,
    );
    assert_eq!(off[0]["source"]["ip"], "10.0.0.1");

    // json with a configured time field and unit.
    let docs = parse_docs(
        &[
            "parse",
            "--format",
            "json",
            "--timestamp-field",
            "at",
            "--timestamp-format",
            "unix_ms",
        ],
        b"{\"at\":1763805600123,\"msg\":\"x\"}\n",
    );
    assert_eq!(docs[0]["@timestamp"], "2025-11-22T10:00:00.123Z");

    // syslog, both RFCs, per message.
    let input = b"<34>1 2026-11-22T10:00:00.123+01:00 host1 app 42 ID7 [ex@32473 k=\"v\"] hello\n<13>Nov 22 10:00:00 host2 sshd[99]: Failed password for root\n";
    let docs = parse_docs(&["parse", "--format", "syslog"], input);
    assert_eq!(docs[0]["@timestamp"], "2026-11-22T09:00:00.123Z");
    assert_eq!(
        docs[0]["log"]["syslog"]["structured_data"]["ex@32473"]["k"],
        "v"
    );
    assert_eq!(docs[1]["process"]["pid"], 99);
    assert_eq!(docs[1]["host"]["hostname"], "host2");

    // An option that is not the parser's own is a usage error.
    let (code, _, stderr) =
        run_with_stdin(&["parse", "--format", "syslog", "--prefix", "%m "], b"");
    assert_eq!(code, 2, "{stderr}");
}
