//! Anonymize stage cost per event, on one thread, in nanoseconds per event: a typical NGINX
//! access event (parsed once in setup, as a worker has it after parse and enrich) is cloned and
//! anonymized with the DESIGN.md configuration (source.ip truncated to /24, all seven redaction
//! categories). Only `apply` is timed, in thread CPU time (clones are made outside the clock),
//! so other processes on a loaded machine do not inflate the figure.
//!
//! Measured on the 2-vCPU development VM (release, thread CPU time): `nginx_typical` 1.9 us per
//! event (about 19,000 instructions under callgrind, against about 2,500 for parsing the line),
//! `nginx_with_secrets` 2.6 us; cloning the event costs 0.2 us.
//!
//! ```sh
//! cargo bench --bench anonymize -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logpipe::anonymize::{AnonymizeConfig, AnonymizeStage};
use logpipe::event::{Event, RecordOrigin};
use logpipe::parse::ParserOptions;

mod common;
use common::parser;

/// The DESIGN.md example.
const DESIGN: &str = r#"
ip = { fields = ["source.ip"], mode = "truncate", ipv4_prefix = 24, ipv6_prefix = 48 }
redact = ["password", "api_key", "token", "credit_card", "ssn", "email", "phone"]
"#;

/// A typical access line: query string, referrer and a browser user agent, nothing to redact
/// apart from the address (the common case the stage must be cheap for).
const TYPICAL: &str = r#"203.0.113.77 - - [10/Oct/2024:13:55:36 +0000] "GET /api/v1/products/12345?page=2&sort=price_asc&lang=en HTTP/1.1" 200 5316 "https://shop.example.com/catalog/shoes?ref=nav" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36""#;

/// The same shape with a password and a token in the query string and an e-mail in the
/// referrer: the path that allocates.
const WITH_SECRETS: &str = r#"203.0.113.77 - alice [10/Oct/2024:13:55:36 +0000] "GET /login?user=alice&password=hunter2&token=abc123 HTTP/1.1" 302 512 "https://shop.example.com/cart?email=john.doe%40example.com" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36""#;

fn stage() -> AnonymizeStage {
    let config: AnonymizeConfig = match toml::from_str(DESIGN) {
        Ok(c) => c,
        Err(e) => panic!("bench config: {e}"),
    };
    match AnonymizeStage::build(&config) {
        Ok(s) => s,
        Err(e) => panic!("bench config: {e}"),
    }
}

fn event(line: &str) -> Event {
    let p = parser("nginx_access", &ParserOptions::default());
    let mut e = Event::new(line.to_string(), RecordOrigin::default());
    if let Err(e) = p.parse(&mut e) {
        panic!("bench line does not parse: {e}");
    }
    e
}

/// CPU time of this thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes the timespec it is given and nothing else.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Events cloned per timed chunk: enough to amortize reading the clock, few enough to stay in
/// cache like a worker's batch.
const CHUNK: u64 = 256;

fn bench(c: &mut Criterion) {
    let stage = stage();
    let mut g = c.benchmark_group("anonymize");
    g.throughput(Throughput::Elements(1));
    for (id, line) in [
        ("nginx_typical", TYPICAL),
        ("nginx_with_secrets", WITH_SECRETS),
    ] {
        let parsed = event(line);
        g.bench_function(format!("{id}/clone_only"), |b| {
            b.iter(|| black_box(parsed.clone()))
        });
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let mut events: Vec<Event> = (0..n).map(|_| parsed.clone()).collect();
                    let start = thread_cpu();
                    for e in &mut events {
                        stage.apply(black_box(e));
                    }
                    total += thread_cpu() - start;
                    black_box(&events);
                    left -= n;
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
