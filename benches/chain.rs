//! The enrich -> anonymize -> tag chain against the NGINX parse of the same events, on one
//! thread: the chain must cost less than the parse (issue 5, acceptance 4). The NDJSON encoding
//! of the resulting documents is measured alongside, as the next step of a worker.
//!
//! Both are measured on the same four access lines. The chain runs on events parsed just outside
//! the timed part (and, in `nginx_parse_then_chain`, right after the parse, as a worker runs
//! it), configured as DESIGN.md's example pipeline: GeoIP City + ASN from the generated test
//! databases, IP truncation, every redaction category, the built-in tags plus a few rules. No
//! field is pseudonymized (DESIGN.md's example does not).

use std::hint::black_box;

// The allocator the `logpipe` binary runs with (see `src/main.rs`): the chain and the parse
// allocate, and the system allocator costs several times as much per allocation.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logpipe::config::PipelineConfig;
use logpipe::event::{Event, RecordOrigin};
use logpipe::output::{Encoder, NdjsonEncoder};
use logpipe::parse::Parser;
use logpipe::pipeline::build_chains;
use logpipe::pipeline::worker::Chain;
use logpipe::tag::Verdict;

const LINES: &[&str] = &[
    r#"81.2.69.160 - - [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.html?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36""#,
    r#"2a02:ec80:300:ed1a::1 - alice [22/Nov/2026:10:00:01 +0100] "POST /api/v1/orders?token=abc123 HTTP/2.0" 201 812 "-" "okhttp/4.12.0""#,
    r#"89.160.20.128 - - [22/Nov/2026:10:00:02 +0100] "GET /static/app.3f9c2a.js HTTP/1.1" 304 0 "https://example.com/" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1""#,
    r#"216.160.83.56 - bob [22/Nov/2026:10:00:03 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "python-requests/2.32.3""#,
];

/// Distinct lines of the never-seen case: three pieces each, 12,288 in all, three times what
/// the anonymizer remembers per thread.
const UNSEEN_LINES: usize = 4096;

const PIPELINE: &str = r#"
[[inputs]]
type = "stdin"
parser = "nginx_access"

[enrich.geoip]
city_db = "geoip/test-city.mmdb"
asn_db = "geoip/test-asn.mmdb"
fields = ["source.ip"]

[anonymize]
ip = { fields = ["source.ip"], mode = "truncate", ipv4_prefix = 24, ipv6_prefix = 48 }
redact = ["password", "api_key", "token", "credit_card", "ssn", "email", "phone"]

[[tag]]
when = 'http.response.status_code >= 500'
add = ["http_error"]

[[tag]]
when = 'url.path =~ "^/(wp-login|xmlrpc)\\.php" and http.request.method == "GET"'
add = ["scanner"]

[[tag]]
when = 'source.geo.country_iso_code in ["GB", "SE"] and not exists(user.name)'
add = ["eu_anonymous"]

[output.stdout]
"#;

/// The lines parsed into fresh events, as a worker hands them to the chain (a copy of a parsed
/// event would not have the room for GeoIP's fields that `Event::new` reserves).
fn parse_all(parser: &dyn Parser, lines: &[impl AsRef<str>]) -> Vec<Event> {
    lines
        .iter()
        .map(|line| {
            let line = line.as_ref();
            let mut event = Event::new(line.to_string(), RecordOrigin::default());
            if let Err(e) = parser.parse(&mut event) {
                panic!("bench line does not parse: {e}: {line}");
            }
            event
        })
        .collect()
}

/// The chain's three stages on one parsed event, as a worker runs them after the parse.
fn run_chain(chain: &Chain, event: &mut Event) -> Verdict {
    chain.enrich.apply(event);
    chain.anonymize.apply(event);
    chain.tag.apply(event)
}

fn chain(c: &mut Criterion) {
    std::env::set_var("LOGPIPE_PSEUDONYM_KEY", "bench-key-0123456789");
    let config = match PipelineConfig::from_str(Path::new("bench.toml"), PIPELINE) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let encoder: Arc<dyn Encoder> = Arc::new(NdjsonEncoder::default());
    let chains = match build_chains(&config, &encoder) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let chain = &chains[0];
    let parsed = parse_all(chain.parser.as_ref(), LINES);
    // The chain must actually do its work on these events, or the bench measures nothing.
    let mut probe = parsed[0].clone();
    chain.enrich.apply(&mut probe);
    assert!(
        probe.get("source.geo.country_iso_code").is_some(),
        "GeoIP found nothing for the bench address"
    );

    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(LINES.len() as u64));
    g.bench_function("nginx_parse", |b| {
        b.iter(|| {
            for line in LINES {
                let mut event = Event::new(line.to_string(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                let _ = black_box((outcome, event));
            }
        })
    });
    g.bench_function("enrich_anonymize_tag", |b| {
        b.iter_batched_ref(
            || parse_all(chain.parser.as_ref(), LINES),
            |events| {
                for event in events.iter_mut() {
                    black_box(run_chain(chain, event));
                }
            },
            // One set of events per timing, parsed just before, as a worker runs the chain
            // on an event it has just parsed: batches of thousands would hand the chain events
            // long gone from the CPU caches, a cost the worker does not pay.
            BatchSize::PerIteration,
        )
    });
    // The worker's order on the same lines: parse, then the chain, event by event. The chain
    // costs the difference from `nginx_parse`, with no timing boundary between the two.
    g.bench_function("nginx_parse_then_chain", |b| {
        b.iter(|| {
            for line in LINES {
                let mut event = Event::new(line.to_string(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                let verdict = run_chain(chain, &mut event);
                let _ = black_box((outcome, verdict, event));
            }
        })
    });
    // The same chain on lines whose user agent, referrer and request were never seen: more
    // distinct pieces than the anonymizer remembers per thread (`clean_pieces`), so every
    // piece is scanned; the four lines above measure the remembered case.
    let unseen: Vec<String> = (0..UNSEEN_LINES)
        .map(|i| {
            format!(
                r#"81.2.{}.{} - - [22/Nov/2026:10:00:00 +0100] "GET /shop/item/{i}?ref=mail&page={} HTTP/1.1" 200 {} "https://example.com/list/{i}" "Mozilla/5.0 (Linux; Android 14; SM-S91{i}B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.{i}.0 Mobile Safari/537.36""#,
                i / 256 % 256,
                i % 256,
                i % 7,
                1000 + i
            )
        })
        .collect();
    parse_all(chain.parser.as_ref(), &unseen);
    g.throughput(Throughput::Elements(UNSEEN_LINES as u64));
    g.bench_function("nginx_parse_unseen", |b| {
        b.iter(|| {
            for line in &unseen {
                let mut event = Event::new(line.clone(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                let _ = black_box((outcome, event));
            }
        })
    });
    g.bench_function("nginx_parse_then_chain_unseen", |b| {
        b.iter(|| {
            for line in &unseen {
                let mut event = Event::new(line.clone(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                let verdict = run_chain(chain, &mut event);
                let _ = black_box((outcome, verdict, event));
            }
        })
    });
    // The chain alone on the 4,096 events parsed beforehand (megabytes of them: they are no
    // longer in the CPU caches, as they would be in a worker; the difference above is the
    // worker's cost).
    g.bench_function("enrich_anonymize_tag_unseen", |b| {
        b.iter_batched_ref(
            || parse_all(chain.parser.as_ref(), &unseen),
            |events| {
                for event in events.iter_mut() {
                    black_box(run_chain(chain, event));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(LINES.len() as u64));

    // The document writer on the same events after the chain (what a worker does next): the
    // layout of a shape is computed once per thread, so this is the per-event cost.
    let done: Vec<Event> = parsed
        .iter()
        .cloned()
        .map(|mut event| {
            let _ = run_chain(chain, &mut event);
            event
        })
        .collect();
    g.bench_function("ndjson_encode", |b| {
        let mut out = Vec::with_capacity(1 << 16);
        b.iter(|| {
            out.clear();
            for event in &done {
                encoder.encode(event, &mut out);
            }
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
