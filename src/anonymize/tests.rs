//! The stage as a whole: configuration, field roles, leaks across fields, and the property that
//! a planted card, SSN or e-mail never survives in clear.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::event::RecordOrigin;
use crate::parse::ParserOptions;

const KEY_ENV: &str = "LOGPIPE_TEST_ANON_KEY";
const KEY: &str = "test-pseudonym-key-0123456789";

fn config(toml_text: &str) -> AnonymizeConfig {
    #[derive(Deserialize)]
    struct Top {
        anonymize: AnonymizeConfig,
    }
    std::env::set_var(KEY_ENV, KEY);
    let top: Top = toml::from_str(toml_text).unwrap();
    top.anonymize
}

fn stage(toml_text: &str) -> AnonymizeStage {
    AnonymizeStage::build(&config(toml_text)).unwrap()
}

const DESIGN: &str = r#"
[anonymize]
ip = { fields = ["source.ip"], mode = "truncate", ipv4_prefix = 24, ipv6_prefix = 48 }
redact = ["password", "api_key", "token", "credit_card", "ssn", "email", "phone"]
"#;

fn parsed(parser: &str, line: &str) -> Event {
    let p = crate::parse::build(parser, &ParserOptions::default()).unwrap();
    let mut e = Event::new(line.to_string(), RecordOrigin::default());
    p.parse(&mut e).unwrap();
    e
}

fn s<'a>(e: &'a Event, name: &str) -> &'a str {
    e.get_str(name)
        .unwrap_or_else(|| panic!("no string {name}"))
}

/// The text of an address field as the document gets it: an anonymized `.address` is held as
/// the address, written as its standard text.
fn address(e: &Event, name: &str) -> String {
    match e.get(name) {
        Some(Value::Ip(ip)) => ip.to_string(),
        Some(Value::Str(t)) => e.text(t).to_string(),
        other => panic!("{name} is no address: {other:?}"),
    }
}

fn json(e: &Event) -> String {
    crate::event::json::to_json_string(e, crate::event::json::DocumentOptions::default())
}

const NGINX: &str = r#"203.0.113.77 - alice [10/Oct/2024:13:55:36 +0000] "GET /login?user=alice&password=hunter2&token=abc123 HTTP/1.1" 302 512 "https://shop.example.com/cart?email=john.doe%40example.com" "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0.0.0 Safari/537.36""#;

#[test]
fn stage_is_shared_between_workers() {
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<AnonymizeStage>();
}

#[test]
fn without_configuration_nothing_changes() {
    let mut e = parsed("nginx_access", NGINX);
    let before = e.clone();
    AnonymizeStage::build(&AnonymizeConfig::default())
        .unwrap()
        .apply(&mut e);
    stage("[anonymize]\n").apply(&mut e);
    assert_eq!(e, before);
}

#[test]
fn design_config_on_an_nginx_line() {
    let mut e = parsed("nginx_access", NGINX);
    stage(DESIGN).apply(&mut e);
    assert_eq!(
        e.get("source.ip"),
        Some(&Value::Ip("203.0.113.0".parse().unwrap()))
    );
    assert_eq!(
        address(&e, "source.address"),
        "203.0.113.0",
        "the .address sibling"
    );
    assert_eq!(
        s(&e, "url.query"),
        "user=alice&password=********&token=********"
    );
    assert_eq!(
        s(&e, "url.original"),
        "/login?user=alice&password=********&token=********"
    );
    assert_eq!(
        s(&e, "http.request.referrer"),
        "https://shop.example.com/cart?email=j***%40example.com"
    );
    let msg = s(&e, "message");
    assert!(msg.starts_with("203.0.113.0 - alice ["), "{msg}");
    assert!(msg.contains("password=********&token=********"), "{msg}");
    assert!(
        msg.contains("Chrome/124.0.0.0"),
        "a version is no address: {msg}"
    );
    let doc = json(&e);
    for leak in ["203.0.113.77", "hunter2", "abc123", "john.doe"] {
        assert!(!doc.contains(leak), "{leak} in {doc}");
    }
    // Untouched fields are still spans of the line: nothing was copied for them.
    assert!(matches!(
        e.get("user_agent.original"),
        Some(Value::Str(Text::Span { .. }))
    ));
}

/// A request line with a secret in it, seen again and again (a monitor polling with its API
/// key), is masked the same way when its scan is remembered; the same line with another secret,
/// another known value in it, or with personal data is found afresh.
#[test]
fn remembered_pieces_with_secrets_mask_what_a_scan_masks() {
    let st = stage(DESIGN);
    let line = |client: &str, user: &str, query: &str| {
        format!(
            r#"{client} - {user} [10/Oct/2024:13:55:36 +0000] "GET /api/poll?{query} HTTP/1.1" 200 12 "-" "monitor/1.0""#
        )
    };
    let cases = [
        (
            "203.0.113.77",
            "-",
            "api_key=k3y-0001&n=1",
            "api_key=********&n=1",
        ),
        (
            "203.0.113.78",
            "-",
            "api_key=k3y-0002&n=1",
            "api_key=********&n=1",
        ),
        (
            "203.0.113.79",
            "-",
            "api_key=k3y-0001&n=2",
            "api_key=********&n=2",
        ),
        // The user appears in the query: a known value, not remembered with the piece.
        (
            "203.0.113.80",
            "bob",
            "api_key=k3y-0001&n=bob",
            "api_key=********&n=bob",
        ),
        (
            "203.0.113.81",
            "-",
            "api_key=k3y-0001&mail=jo@example.com",
            "api_key=********&mail=j***@example.com",
        ),
        // A key of another length in the same place.
        (
            "203.0.113.82",
            "-",
            "api_key=k3y-00012345&n=1",
            "api_key=********&n=1",
        ),
    ];
    for round in 0..4 {
        for (client, user, query, masked) in cases {
            let mut e = parsed("nginx_access", &line(client, user, query));
            st.apply(&mut e);
            assert_eq!(s(&e, "url.query"), masked, "round {round}");
            let msg = s(&e, "message");
            assert!(
                msg.contains(&format!("/api/poll?{masked} ")),
                "round {round}: {msg}"
            );
            assert!(!json(&e).contains("k3y-"), "round {round}: {}", json(&e));
        }
    }
}

#[test]
fn url_extension_is_derived_again_from_a_redacted_path() {
    let jwt =
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let line = format!(
        r#"203.0.113.0 - - [10/Oct/2024:13:55:36 +0000] "GET /reset/{jwt} HTTP/1.1" 200 1 "-" "x""#
    );
    let mut e = parsed("nginx_access", &line);
    assert!(
        e.get("url.extension").is_some(),
        "the signature reads as an extension"
    );
    stage(DESIGN).apply(&mut e);
    assert_eq!(s(&e, "url.path"), "/reset/********");
    assert!(e.get("url.extension").is_none(), "{}", json(&e));

    let line = r#"203.0.113.0 - alice.x [10/Oct/2024:13:55:36 +0000] "GET /u/alice.x/photo.PNG HTTP/1.1" 200 1 "-" "x""#;
    let mut e = parsed("nginx_access", line);
    let cfg = format!(
        "[anonymize]\npseudonymize = {{ fields = [\"user.name\"], key_env = \"{KEY_ENV}\" }}\n"
    );
    stage(&cfg).apply(&mut e);
    assert_eq!(s(&e, "url.extension"), "png");
}

#[test]
fn a_finding_across_span_edges_falls_back_to_scanning_the_span() {
    let line = r#"203.0.113.0 - - [10/Oct/2024:13:55:36 +0000] "GET /a;token=abc?page=2 HTTP/1.1" 200 1 "-" "x""#;
    let mut e = parsed("nginx_access", line);
    stage(DESIGN).apply(&mut e);
    assert_eq!(s(&e, "url.path"), "/a;token=********");
    assert_eq!(s(&e, "url.query"), "page=2");
    assert_eq!(s(&e, "url.original"), "/a;token=********");
    assert!(s(&e, "message").contains("\"GET /a;token=******** HTTP/1.1\""));
}

#[test]
fn clean_events_are_not_copied() {
    let line = r#"198.51.100.0 - - [10/Oct/2024:13:55:36 +0000] "GET /api/v1/items/12345?page=2&sort=asc HTTP/1.1" 200 5316 "-" "curl/8.4.0""#;
    let mut e = parsed("nginx_access", line);
    let before = e.clone();
    stage(DESIGN).apply(&mut e);
    assert_eq!(
        e, before,
        "an already-truncated address and nothing to redact"
    );
}

#[test]
fn ipv6_client_and_default_ip_fields() {
    let line = r#"2001:db8:1234:5678::42 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "x" "2001:db8:1234:5678::42, 198.51.100.23""#;
    let p = crate::parse::build(
        "nginx_access",
        &ParserOptions {
            log_format: Some(crate::parse::nginx_log_format::MAIN.into()),
            ..ParserOptions::default()
        },
    )
    .unwrap();
    let mut e = Event::new(line.to_string(), RecordOrigin::default());
    p.parse(&mut e).unwrap();
    stage("[anonymize]\nip = {}\n").apply(&mut e);
    let doc = json(&e);
    assert!(
        !doc.contains("5678::42") && !doc.contains("198.51.100.23"),
        "{doc}"
    );
    assert!(doc.contains("2001:db8:1234::"), "{doc}");
    assert!(doc.contains("198.51.100.0"), "{doc}");
}

#[test]
fn pseudonymized_ips_stay_addresses() {
    let cfg = format!(
        "[anonymize]\nip = {{ fields = [\"source.ip\"], mode = \"pseudonymize\" }}\n\
         pseudonymize = {{ fields = [], key_env = \"{KEY_ENV}\" }}\n"
    );
    let mut e = parsed("nginx_access", NGINX);
    stage(&cfg).apply(&mut e);
    let Some(Value::Ip(IpAddr::V4(ip))) = e.get("source.ip") else {
        panic!("source.ip stays an ip")
    };
    assert_eq!(ip.octets()[0] & 0xf0, 0xf0);
    let text = ip.to_string();
    assert_eq!(address(&e, "source.address"), text);
    assert!(s(&e, "message").starts_with(&format!("{text} - ")));
    // Stable: the same key gives the same pseudonym in another stage (a restart).
    let mut again = parsed("nginx_access", NGINX);
    stage(&cfg).apply(&mut again);
    assert_eq!(again.get("source.ip"), e.get("source.ip"));
}

#[test]
fn ip_pseudonymize_needs_a_key() {
    let e = AnonymizeStage::build(&config("[anonymize]\nip = { mode = \"pseudonymize\" }\n"))
        .unwrap_err();
    assert!(e.to_string().contains("needs a key"), "{e}");
}

#[test]
fn user_names_are_pseudonymized_everywhere_in_the_event() {
    let cfg = format!(
        "[anonymize]\npseudonymize = {{ fields = [\"user.name\"], key_env = \"{KEY_ENV}\" }}\n"
    );
    let line = r#"203.0.113.77 - alice [10/Oct/2024:13:55:36 +0000] "GET /users/alice/profile HTTP/1.1" 200 1 "-" "malice/1.0""#;
    let mut e = parsed("nginx_access", line);
    stage(&cfg).apply(&mut e);
    let name = s(&e, "user.name").to_string();
    assert!(name.starts_with("anon-") && name.len() == 21, "{name}");
    assert_eq!(s(&e, "url.path"), format!("/users/{name}/profile"));
    assert!(s(&e, "message").contains(&format!(" - {name} [")));
    assert_eq!(
        s(&e, "user_agent.original"),
        "malice/1.0",
        "whole tokens only"
    );
    // One user stays one user: same key, same pseudonym; another key, another one.
    let mut other = parsed("nginx_access", line);
    stage(&cfg).apply(&mut other);
    assert_eq!(s(&other, "user.name"), name);
    std::env::set_var("LOGPIPE_TEST_ANON_KEY_2", "a-different-key-0123456789");
    let mut third = parsed("nginx_access", line);
    AnonymizeStage::build(&config(&cfg.replace(KEY_ENV, "LOGPIPE_TEST_ANON_KEY_2")))
        .unwrap()
        .apply(&mut third);
    assert_ne!(s(&third, "user.name"), name);
}

#[test]
fn missing_key_is_a_clear_error_without_the_key() {
    std::env::remove_var("LOGPIPE_TEST_ANON_KEY_MISSING");
    let cfg = config(
        "[anonymize]\npseudonymize = { fields = [\"user.name\"], key_env = \"LOGPIPE_TEST_ANON_KEY_MISSING\" }\n",
    );
    let msg = AnonymizeStage::build(&cfg).unwrap_err().to_string();
    assert!(
        msg.contains("LOGPIPE_TEST_ANON_KEY_MISSING") && msg.contains("not set"),
        "{msg}"
    );
    let cfg = config(&format!(
        "[anonymize]\npseudonymize = {{ fields = [\"user.name\"], key_env = \"{KEY_ENV}\" }}\n"
    ));
    let built = AnonymizeStage::build(&cfg).unwrap();
    assert!(!format!("{built:?}").contains(KEY));
}

#[test]
fn secret_fields_of_json_logs_are_masked_by_name() {
    let line = r#"{"msg":"login ok","user":{"name":"bob","password":"hunter2"},"password":"p1","api_key":"k-123","access_token":"at-9","headers":{"authorization":"Bearer eyxyz.123"},"secret":"s","client_secret":"cs","pin_code":1234,"items":[{"token":"t-1","id":7}],"max_tokens":512,"token_type":"bearer"}"#;
    let mut e = parsed("json", line);
    stage("[anonymize]\nredact = [\"password\", \"api_key\", \"token\"]\n").apply(&mut e);
    for name in [
        "user.password",
        "password",
        "api_key",
        "access_token",
        "secret",
        "client_secret",
    ] {
        assert_eq!(s(&e, name), "********", "{name}");
    }
    assert_eq!(s(&e, "headers.authorization"), "Bearer ********");
    assert_eq!(s(&e, "user.name"), "bob");
    assert_eq!(e.get("max_tokens"), Some(&Value::Int(512)));
    assert_eq!(s(&e, "token_type"), "bearer");
    let doc = json(&e);
    for leak in [
        "hunter2", "\"p1\"", "k-123", "at-9", "eyxyz", "\"cs\"", "t-1",
    ] {
        assert!(!doc.contains(leak), "{leak} in {doc}");
    }
}

#[test]
fn categories_and_extra_secret_keys() {
    let line = r#"{"msg":"x","password":"p","token":"t","pin_code":1234}"#;
    let mut e = parsed("json", line);
    stage("[anonymize]\nredact = [\"password\"]\nsecret_keys = [\"pin-code\"]\n").apply(&mut e);
    assert_eq!(s(&e, "password"), "********");
    assert_eq!(s(&e, "token"), "t", "token not enabled");
    assert_eq!(s(&e, "pin_code"), "********");
}

#[test]
fn pii_in_messages_and_pii_named_fields() {
    let line = r#"{"msg":"refund for jane.roe@example.org card 4111 1111 1111 1111 ssn 123-45-6789 call (555) 123-4567","customer":{"email":"jane.roe@example.org","phone":"555-867-5309"},"order":"1234567890123"}"#;
    let mut e = parsed("json", line);
    stage(DESIGN).apply(&mut e);
    assert_eq!(
        s(&e, "message"),
        "refund for j***@example.org card 4111-****-****-1111 ssn ***-**-6789 call (555) ***-4567"
    );
    assert_eq!(s(&e, "customer.email"), "j***@example.org");
    assert_eq!(s(&e, "customer.phone"), "(555) ***-5309");
    assert_eq!(s(&e, "order"), "1234567890123");
}

#[test]
fn syslog_authorization_and_structured_data() {
    let line = r#"<134>1 2026-11-22T10:00:01.512Z api-01 checkout 2817 http [meta password="pw1" route="/cart"] curl -H "Authorization: Basic dXNlcjpwYXNz" from 198.51.100.23 for bob@example.net"#;
    let mut e = parsed("syslog", line);
    stage(DESIGN).apply(&mut e);
    let doc = json(&e);
    for leak in ["pw1", "dXNlcjpwYXNz", "198.51.100.23", "bob@example.net"] {
        assert!(!doc.contains(leak), "{leak} in {doc}");
    }
    assert!(doc.contains("Authorization: Basic ********"), "{doc}");
    assert!(
        doc.contains("198.51.100.0") && doc.contains("b***@example.net"),
        "{doc}"
    );
    assert!(doc.contains("/cart"), "{doc}");
}

#[test]
fn redact_fields_and_patterns() {
    let line = r#"{"msg":"ok","note":"mail x.y@example.com","other":"mail x.y@example.com","ref":"CUST-00912"}"#;
    let mut e = parsed("json", line);
    stage(
        "[anonymize]\nredact = [\"email\"]\nredact_fields = [\"note\", \"ref\"]\nredact_patterns = ['CUST-\\d+']\n",
    )
    .apply(&mut e);
    assert_eq!(s(&e, "note"), "mail x***@example.com");
    assert_eq!(s(&e, "other"), "mail x.y@example.com", "not a text field");
    assert_eq!(s(&e, "ref"), "********");
    let mut all = parsed("json", line);
    stage("[anonymize]\nredact = [\"email\"]\nredact_fields = [\"*\"]\n").apply(&mut all);
    assert_eq!(s(&all, "other"), "mail x***@example.com");
}

#[test]
fn remove_and_allow_list() {
    let mut e = parsed("nginx_access", NGINX);
    e.push("event.dataset", Value::Str(Text::Static("nginx.access")));
    stage("[anonymize]\nremove = [\"user_agent.original\", \"url.*\"]\n").apply(&mut e);
    assert!(e.get("user_agent.original").is_none());
    assert!(e.get("url.query").is_none() && e.get("url.path").is_none());
    assert!(e.get("http.request.method").is_some());

    let mut e = parsed("nginx_access", NGINX);
    e.push("event.dataset", Value::Str(Text::Static("nginx.access")));
    stage("[anonymize]\nallow = [\"http.*\", \"source.ip\"]\nip = { fields = [\"source.ip\"] }\n")
        .apply(&mut e);
    let mut names: Vec<&str> = e.fields.iter().map(|(n, _)| n.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "event.dataset",
            "http.request.method",
            "http.request.referrer",
            "http.response.body.bytes",
            "http.response.status_code",
            "http.version",
            "source.ip"
        ]
    );
    assert_eq!(
        e.get("source.ip"),
        Some(&Value::Ip("203.0.113.0".parse().unwrap()))
    );
}

#[test]
fn configuration_errors() {
    let bad = |text: &str| -> String {
        match toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|t| t.get("anonymize").cloned())
            .map(AnonymizeConfig::deserialize)
        {
            Some(Ok(c)) => AnonymizeStage::build(&c).unwrap_err().to_string(),
            Some(Err(e)) => e.to_string(),
            None => panic!("not toml: {text}"),
        }
    };
    assert!(bad("[anonymize]\nredact = [\"passwords\"]\n").contains("password"));
    assert!(bad("[anonymize]\nfoo = 1\n").contains("foo"));
    assert!(bad("[anonymize]\nip = { ipv4_prefix = 33 }\n").contains("ipv4_prefix"));
    assert!(bad("[anonymize]\nremove = [\"a*\"]\n").contains("remove"));
    assert!(bad("[anonymize]\nallow = []\n").contains("allow"));
    assert!(bad("[anonymize]\nredact_patterns = [\"(\"]\n").contains("redact_patterns[0]"));
}

/// A Luhn-valid card number with the given first digit and length.
fn card(first: u8, body: &[u8], len: usize) -> String {
    let mut d: Vec<u8> = vec![first];
    d.extend(body.iter().map(|b| b % 10).take(len - 2));
    while d.len() < len - 1 {
        d.push(0);
    }
    for check in 0..10 {
        let mut c = d.clone();
        c.push(check);
        let digits: Vec<u8> = c.iter().map(|x| x + b'0').collect();
        if pii::luhn(&digits) {
            return String::from_utf8(digits).unwrap_or_default();
        }
    }
    unreachable!("one check digit always fits")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random text with a planted card (plain or grouped), SSN or e-mail: the planted value is
    /// never in the output, whatever surrounds it.
    #[test]
    fn planted_pii_never_survives(
        before in "[ -~]{0,40}",
        after in "[ -~]{0,40}",
        which in 0usize..5,
        first in 2u8..7,
        body in proptest::collection::vec(any::<u8>(), 18),
        len in 13usize..20,
        area in 1u16..900,
        group in 1u8..100,
        serial in 1u16..10000,
        local in "[a-z][a-z0-9._]{0,10}[a-z0-9]",
        domain in "[a-z]{1,12}\\.(com|org|net|io|co\\.uk)",
    ) {
        let number = card(first, &body, len);
        let planted = match which {
            0 => number.clone(),
            1 if len == 16 => format!("{} {} {} {}", &number[..4], &number[4..8], &number[8..12], &number[12..]),
            1 => number.clone(),
            2 if len == 16 => format!("{}-{}-{}-{}", &number[..4], &number[4..8], &number[8..12], &number[12..]),
            2 | 3 => {
                let area = if area == 666 { 667 } else { area };
                format!("{area:03}-{group:02}-{serial:04}")
            }
            _ => format!("{local}@{domain}"),
        };
        let line = format!("{{\"msg\":{}}}", serde_json::to_string(&format!("{before} {planted} {after}")).unwrap());
        let mut e = parsed("json", &line);
        stage(DESIGN).apply(&mut e);
        let out = json(&e);
        prop_assert!(!out.contains(&planted), "{planted} kept in {out}");
    }
}

/// The user agent is not free text, but it lies inside the scanned line: it takes the line's
/// findings of known values (the pseudonymized user), and is searched on its own when a finding
/// of another kind overlaps one (the user name inside an e-mail address in the agent).
#[test]
fn fields_inside_the_line_reuse_its_known_values() {
    let config = r#"
[anonymize]
ip = { fields = ["source.ip"] }
pseudonymize = { fields = ["user.name"], key_env = "LOGPIPE_TEST_ANON_KEY" }
redact = ["email"]
"#;
    let line = r#"198.51.100.9 - mallory [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "bot mallory (+198.51.100.9)""#;
    let mut e = parsed("nginx_access", line);
    stage(config).apply(&mut e);
    let pseudonym = s(&e, "user.name").to_string();
    assert_ne!(pseudonym, "mallory");
    assert_eq!(
        s(&e, "user_agent.original"),
        format!("bot {pseudonym} (+198.51.100.0)")
    );
    assert!(!json(&e).contains("mallory"), "{}", json(&e));
    assert!(!json(&e).contains("198.51.100.9"), "{}", json(&e));

    let line = r#"198.51.100.9 - mallory [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "bot (+mailto:mallory@example.com) mallory""#;
    let mut e = parsed("nginx_access", line);
    stage(config).apply(&mut e);
    let pseudonym = s(&e, "user.name").to_string();
    // Not free text: the e-mail address stays, the known user name is replaced everywhere.
    assert_eq!(
        s(&e, "user_agent.original"),
        format!("bot (+mailto:{pseudonym}@example.com) {pseudonym}")
    );
    assert!(!json(&e).contains("mallory"), "{}", json(&e));
}

/// Every line of the bundled fixtures, and a multi-line PostgreSQL record, go through the stage
/// without a panic, whatever their parser made of them: fields outside the scanned text (before
/// it, or ending the record) are bounds-checked like those inside it.
#[test]
fn every_fixture_line_passes() {
    // The demo pipeline's settings: the default address fields.
    let config = format!(
        "[anonymize]\nip = {{ mode = \"truncate\" }}\n\
         pseudonymize = {{ fields = [\"user.name\"], key_env = \"{KEY_ENV}\" }}\n\
         redact = [\"password\", \"api_key\", \"token\", \"credit_card\", \"ssn\", \"email\", \"phone\"]\n"
    );
    let stage = stage(&config);
    let files = [
        ("nginx_access", "fixtures/nginx/access.log"),
        ("nginx_error", "fixtures/nginx/error.log"),
        ("json", "fixtures/app/app.json"),
        ("postgresql", "fixtures/postgresql/postgresql.log"),
        ("postgresql", "fixtures/postgresql/postgresql.json"),
        ("syslog", "fixtures/syslog/syslog.log"),
    ];
    let mut lines = 0;
    // A PostgreSQL record of two lines (the statement's parameters on a `DETAIL` line), as the
    // record assembly hands it over: the scanned statement ends before the line does.
    let record = "2026-11-21 22:24:51.005 UTC [1412] LOG:  duration: 0.201 ms  bind S_1: \
                  SELECT id, status FROM shipments WHERE order_id = $1\n\
                  2026-11-21 22:24:51.005 UTC [1412] DETAIL:  parameters: $1 = '90177'";
    let p = crate::parse::build("postgresql", &ParserOptions::default()).unwrap();
    let mut e = Event::new(record.to_string(), RecordOrigin::default());
    p.parse(&mut e).unwrap();
    stage.apply(&mut e);
    assert!(json(&e).contains("90177"), "{}", json(&e));
    for (parser, path) in files {
        let p = crate::parse::build(parser, &ParserOptions::default()).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines() {
            let mut e = Event::new(line.to_string(), RecordOrigin::default());
            if let Err(err) = p.parse(&mut e) {
                e.mark_parse_failure(err.0);
            }
            stage.apply(&mut e);
            lines += 1;
        }
    }
    assert!(lines > 500, "{lines}");
}

/// Access lines are scanned piece by piece between the ranges the parser marked plain, and a
/// piece found clean is not scanned again on this thread (`clean_pieces`). Over every
/// combination of user, request, byte count, referrer and user agent below (clean ones, and
/// ones carrying each kind of secret and personal data, some split by escapes or sitting next
/// to a delimiter), the result must be exactly that of scanning the whole line, on the first
/// sight of each piece and on the second.
#[test]
fn a_mapped_access_line_is_anonymized_as_a_whole_scan_would() {
    let stage = stage(
        r#"
[anonymize]
ip = { fields = ["source.ip"], mode = "truncate" }
pseudonymize = { fields = ["user.name"], key_env = "LOGPIPE_TEST_ANON_KEY" }
redact = ["password", "api_key", "token", "credit_card", "ssn", "email", "phone"]
"#,
    );
    let users = ["-", "alice", "john.doe@example.com"];
    let requests = [
        "GET /static/app.3f9c2a.js HTTP/1.1",
        "GET /login?user=alice&password=hunter2 HTTP/1.1",
        "POST /api/v1/orders?access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln HTTP/2.0",
        "GET /u/alice/profile?card=4111111111111111&phone=555-867-5309 HTTP/1.1",
        "GET /r?next=http://10.1.2.3/x&ssn=123-45-6789 HTTP/1.1",
        "\\x16\\x03\\x01\\x00\\xA5",
    ];
    let bytes = ["5316", "4111111111111111"];
    let referrers = [
        "-",
        "https://example.com/start",
        "https://bob:s3cret@example.com/",
        "https://shop.example.com/cart?email=john.doe%40example.com",
    ];
    let agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        "okhttp/4.12.0",
        "Mozilla/5.0 (compatible; ExampleBot/2.1; +mailto:crawler@example.org)",
        "curl/8.5.0 Authorization: Bearer abcdef0123456789abcdef",
        "agent from 198.51.100.23 \\\"quoted\\\" alice",
    ];
    let mut lines = 0;
    for user in users {
        for request in requests {
            for b in bytes {
                for referrer in referrers {
                    for agent in agents {
                        let line = format!(
                            r#"81.2.69.160 - {user} [22/Nov/2026:10:00:00 +0100] "{request}" 200 {b} "{referrer}" "{agent}" "203.0.113.9, 10.0.0.1""#
                        );
                        let mapped = parsed("nginx_access", &line);
                        assert!(!mapped.plain.is_empty(), "no map for {line}");
                        let mut whole = mapped.clone();
                        whole.plain.clear();
                        stage.apply(&mut whole);
                        for sight in ["first", "second"] {
                            let mut e = mapped.clone();
                            stage.apply(&mut e);
                            assert_eq!(e.fields, whole.fields, "{sight} sight of {line}");
                        }
                        lines += 1;
                    }
                }
            }
        }
    }
    assert_eq!(lines, 3 * 6 * 2 * 4 * 5);
}

/// A piece found clean once must not hide a secret in a different piece that only shares a
/// hash bucket or a prefix with it.
#[test]
fn a_clean_piece_remembered_does_not_vouch_for_a_similar_one() {
    let stage = stage(DESIGN);
    let line = |agent: &str| {
        format!(
            r#"81.2.69.160 - - [22/Nov/2026:10:00:00 +0100] "GET / HTTP/1.1" 200 1 "-" "{agent}""#
        )
    };
    let clean = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0";
    for _ in 0..3 {
        let mut e = parsed("nginx_access", &line(clean));
        stage.apply(&mut e);
        assert_eq!(s(&e, "user_agent.original"), clean);
    }
    let mut e = parsed(
        "nginx_access",
        &line(&format!("{clean} jane.roe@example.com")),
    );
    stage.apply(&mut e);
    assert!(!json(&e).contains("jane.roe@"), "{}", json(&e));
    assert!(s(&e, "message").contains("j***@example.com"));
    assert!(s(&e, "user_agent.original").ends_with(" j***@example.com"));
}

/// The same for a configured `log_format`: typed variables (times, status, request time,
/// upstream timings) are plain, every other variable is free text, and a long number is left to
/// the scan.
#[test]
fn a_mapped_log_format_line_is_anonymized_as_a_whole_scan_would() {
    let stage = stage(DESIGN);
    let format = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for" rt=$request_time uct="$upstream_connect_time" auth="$http_authorization" sid=$cookie_session ts=$msec"#;
    let options = ParserOptions {
        log_format: Some(format.into()),
        ..ParserOptions::default()
    };
    let parser = crate::parse::build("nginx_access", &options).unwrap();
    let values = [
        ["-", "-", "-", "-", "0.003", "-", "-"],
        [
            "jane.roe@example.com",
            "https://x.example/?token=abc123def456",
            "App/1.0 (+1 555-867-5309)",
            "203.0.113.9, 10.0.0.1",
            "12345.123456789",
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
            "4111111111111111",
        ],
        [
            "bob",
            "https://example.com/",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            "198.51.100.7",
            "0.000, 0.001 : 0.002",
            "Basic Ym9iOnMzY3JldA==",
            "a1b2c3",
        ],
    ];
    for (round, v) in values.iter().cycle().take(6).enumerate() {
        let [user, referrer, agent, xff, uct, auth, sid] = v;
        let line = format!(
            r#"81.2.69.160 - {user} [22/Nov/2026:10:00:00 +0100] "GET /a?password=hunter2&n={round} HTTP/1.1" 200 5316 "{referrer}" "{agent}" "{xff}" rt=0.123 uct="{uct}" auth="{auth}" sid={sid} ts=1763805600.123"#
        );
        let mut mapped = Event::new(line.clone(), RecordOrigin::default());
        parser.parse(&mut mapped).unwrap();
        assert!(!mapped.plain.is_empty(), "no map for {line}");
        let mut whole = mapped.clone();
        whole.plain.clear();
        stage.apply(&mut whole);
        stage.apply(&mut mapped);
        assert_eq!(mapped.fields, whole.fields, "{line}");
    }
}

#[test]
fn an_address_text_beside_a_typed_address_is_anonymized_in_any_spelling() {
    // `source.address` is recognized as `source.ip` by its standard text; any other spelling
    // of the same address (upper case, leading zeros in IPv6, a mapped IPv4) must still be
    // parsed and anonymized, and a different address beside it must not take its value.
    let st = stage(DESIGN);
    let cases = [
        ("2001:db8:7:1::7", "2001:db8:7:1::7", "2001:db8:7::"),
        ("2001:DB8:7:1::7", "2001:db8:7:1::7", "2001:db8:7::"),
        (
            "2001:0db8:0007:0001::0007",
            "2001:db8:7:1::7",
            "2001:db8:7::",
        ),
        ("203.0.113.9", "203.0.113.9", "203.0.113.0"),
        ("198.51.100.20", "203.0.113.9", "198.51.100.0"),
        ("::ffff:203.0.113.9", "203.0.113.9", "::ffff:203.0.113.0"),
    ];
    for (text, typed, expected) in cases {
        let mut e = Event::new(format!("{text} said hello"), RecordOrigin::default());
        e.push_span("source.address", 0, text.len());
        e.push("source.ip", Value::Ip(typed.parse().unwrap()));
        e.push_span("message", 0, e.raw.len());
        st.apply(&mut e);
        assert_eq!(address(&e, "source.address"), expected, "{text}");
        assert_eq!(s(&e, "message"), format!("{expected} said hello"), "{text}");
    }
}

#[test]
fn events_of_different_shapes_keep_their_own_plans() {
    // The same names in another order, on one thread: each shape's identity and text fields
    // are where its own names say.
    let st = stage(DESIGN);
    for round in 0..3 {
        for order in [0, 1] {
            let mut e = Event::new("10.1.2.3 a@example.com".into(), RecordOrigin::default());
            if order == 0 {
                e.push_span("source.address", 0, 8);
                e.push_span("message", 0, e.raw.len());
            } else {
                e.push_span("message", 0, e.raw.len());
                e.push_span("source.address", 0, 8);
            }
            st.apply(&mut e);
            assert_eq!(
                address(&e, "source.address"),
                "10.1.2.0",
                "round {round} order {order}"
            );
            assert_eq!(
                s(&e, "message"),
                "10.1.2.0 a***@example.com",
                "round {round} order {order}"
            );
        }
    }
}

#[test]
fn a_field_renamed_in_place_is_anonymized_by_its_new_name() {
    // The shape of an event is remembered between lookups of the same field list; a name
    // changed in place (same list, same length) must still get the new name's treatment.
    let st = stage(DESIGN);
    let mut e = Event::new("10.1.2.3 said hi".into(), RecordOrigin::default());
    e.push_span("labels.peer", 0, 8);
    e.push_span("labels.note", 9, 16);
    st.apply(&mut e);
    assert_eq!(s(&e, "labels.peer"), "10.1.2.3");
    e.fields[0].0 = Cow::Borrowed("source.address");
    st.apply(&mut e);
    assert_eq!(address(&e, "source.address"), "10.1.2.0");
}

#[test]
fn a_piece_with_a_known_value_is_never_remembered_clean() {
    // The referrer holds a password whose value is this client's own address: the known value
    // and the secret are one range. A later client with the same referrer must still get the
    // password masked, however often the piece was seen before.
    let stage = stage(DESIGN);
    let line = |client: &str| {
        format!(
            r#"{client} - - [22/Nov/2026:10:00:00 +0100] "GET / HTTP/1.1" 200 1 "https://example.com/?password=203.0.113.77" "curl/8.0""#
        )
    };
    for _ in 0..3 {
        let mut e = parsed("nginx_access", &line("203.0.113.77"));
        stage.apply(&mut e);
        assert!(!json(&e).contains("203.0.113.77"), "{}", json(&e));
    }
    let mut e = parsed("nginx_access", &line("198.51.100.5"));
    stage.apply(&mut e);
    let doc = json(&e);
    assert!(!doc.contains("203.0.113.77"), "{doc}");
    assert!(
        s(&e, "http.request.referrer").ends_with("password=********"),
        "{doc}"
    );
}

#[test]
fn a_remembered_piece_holding_this_events_known_value_is_searched() {
    // A user agent seen clean many times, then from the user it names.
    let cfg =
        format!("{DESIGN}pseudonymize = {{ fields = [\"user.name\"], key_env = \"{KEY_ENV}\" }}\n");
    let stage = stage(&cfg);
    let line = |user: &str| {
        format!(
            r#"198.51.100.5 - {user} [22/Nov/2026:10:00:00 +0100] "GET / HTTP/1.1" 200 1 "-" "probe/1.0 (run by zoe.stone)""#
        )
    };
    for _ in 0..3 {
        let mut e = parsed("nginx_access", &line("-"));
        stage.apply(&mut e);
        assert!(s(&e, "user_agent.original").contains("zoe.stone"));
    }
    let mut e = parsed("nginx_access", &line("zoe.stone"));
    stage.apply(&mut e);
    let doc = json(&e);
    assert!(!doc.contains("zoe.stone"), "{doc}");
    assert!(s(&e, "user_agent.original").contains("anon-"), "{doc}");
}
