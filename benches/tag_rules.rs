//! Tag stage cost per event on one thread: the built-in tags alone, and the built-in tags plus
//! five typical rules (a regex, an `in` list, a tag test, `set`/`index` actions), on parsed NGINX
//! access events, in events per second (one iteration = 4 events). What the stage added is
//! removed after each event (counted in the time; it stands in for dropping the event), so no
//! event is copied inside the timed loop.
//!
//! Measured (release, one core of a 2-core VM shared with other builds, so times are high and
//! noisy): `tag/defaults` ~100 ns/event, `tag/defaults_and_5_rules` ~1.0-1.2 us/event. Under
//! callgrind, which does not depend on load: ~470 and ~3,700 instructions/event (a fifth of the
//! latter is the case-insensitive user-agent regex).
//!
//! ```sh
//! cargo bench --bench tag_rules -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logpipe::config::PipelineConfig;
use logpipe::event::{Event, RecordOrigin, Text, Value};
use logpipe::parse::ParserOptions;
use logpipe::tag::TagStage;

mod common;
use common::parser;

/// A mix of outcomes: a plain page, an API 5xx (rule 1 matches and routes), a scanner probe
/// (404 on `.php`, a bot user agent), an unauthenticated API call (401).
const NGINX_LINES: &[&str] = &[
    r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.html?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36""#,
    r#"2001:db8::17 - alice [22/Nov/2026:10:00:01 +0100] "POST /api/v1/orders HTTP/2.0" 503 812 "-" "okhttp/4.12.0""#,
    r#"198.51.100.23 - - [22/Nov/2026:10:00:03 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "python-requests/2.32.3""#,
    r#"10.0.0.4 - - [22/Nov/2026:10:00:02 +0100] "GET /api/v1/me HTTP/1.1" 401 0 "https://example.com/" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1""#,
];

const PIPELINE: &str = r#"
[[inputs]]
type = "stdin"
parser = "nginx_access"

[output.stdout]
"#;

const RULES: &str = r#"
[[tag]]
when = 'http.response.status_code >= 500 and url.path =~ "^/api/"'
add = ["api_error"]
set = { "event.kind" = "alert", "labels.team" = "payments" }
index = "alerts-{event.dataset}-%Y.%m.%d"

[[tag]]
when = 'url.path in ["/healthz", "/readyz"] and http.response.status_code == 200'
drop = true

[[tag]]
when = 'user_agent.original =~ "(?i)bot|crawler|spider|python-requests"'
add = ["bot"]

[[tag]]
when = 'http.response.status_code == 404 and url.path =~ "\.(php|aspx?|env)$"'
add = ["scanner"]
index = "security-{event.dataset}-%Y.%m.%d"

[[tag]]
when = '"client_error" in tags and not exists(user.name) and source.ip != "10.0.0.9"'
add = ["anonymous_client_error"]
"#;

fn stage(tail: &str) -> Arc<TagStage> {
    match PipelineConfig::from_str(Path::new("bench.toml"), &format!("{PIPELINE}{tail}")) {
        Ok(c) => c.tag,
        Err(e) => panic!("{e}"),
    }
}

/// The lines parsed, with `event.dataset` as the worker sets it before the tag stage runs.
fn events() -> Vec<Event> {
    let nginx = parser("nginx_access", &ParserOptions::default());
    NGINX_LINES
        .iter()
        .map(|line| {
            let mut e = Event::new(line.to_string(), RecordOrigin::default());
            e.push("event.dataset", Value::Str(Text::Static(nginx.dataset())));
            if let Err(err) = nginx.parse(&mut e) {
                panic!("bench line does not parse: {err}: {line}");
            }
            e
        })
        .collect()
}

fn bench_stage(c: &mut Criterion, id: &str, stage: &TagStage) {
    let mut events = events();
    let parsed_fields: Vec<usize> = events.iter().map(|e| e.fields.len()).collect();
    let mut g = c.benchmark_group("tag");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function(id, |b| {
        b.iter(|| {
            for (e, &n) in events.iter_mut().zip(&parsed_fields) {
                black_box(stage.apply(e));
                // Undo what the stage added (the rules only append fields), so each iteration
                // sees the event as parsed without copying events inside the timed loop.
                e.tags.clear();
                e.fields.truncate(n);
                e.route = None;
            }
        })
    });
    g.finish();
}

fn tag_rules(c: &mut Criterion) {
    // The rules must do what the bench claims, or it would time the non-matching paths only.
    let rules = stage(RULES);
    let mut tagged = events();
    for e in &mut tagged {
        rules.apply(e);
    }
    let tags: Vec<Vec<String>> = tagged
        .iter()
        .map(|e| e.tags.iter().map(|t| t.to_string()).collect())
        .collect();
    assert_eq!(
        tags,
        [
            vec![],
            vec!["http_error".to_string(), "api_error".into()],
            vec![
                "client_error".into(),
                "bot".into(),
                "scanner".into(),
                "anonymous_client_error".into()
            ],
            vec![
                "client_error".into(),
                "authentication".into(),
                "anonymous_client_error".into()
            ],
        ]
    );

    bench_stage(c, "defaults", &stage(""));
    bench_stage(c, "defaults_and_5_rules", &rules);
}

criterion_group!(benches, tag_rules);
criterion_main!(benches);
