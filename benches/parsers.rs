//! Parser throughput on one thread: lines per second of turning a realistic line into a fresh
//! event, the way a worker does (allocating the event's `raw` is part of the cost).
//!
//! Floors (release, one core): nginx_access >= 1,000,000 lines/s, json >= 400,000 lines/s.

use criterion::{criterion_group, criterion_main, Criterion};
use logpipe::parse::ParserOptions;

mod common;
use common::{bench_lines, parser};

const NGINX_LINES: &[&str] = &[
    r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.html?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36""#,
    r#"2001:db8::17 - alice [22/Nov/2026:10:00:01 +0100] "POST /api/v1/orders HTTP/2.0" 201 812 "-" "okhttp/4.12.0""#,
    r#"10.0.0.4 - - [22/Nov/2026:10:00:02 +0100] "GET /static/app.3f9c2a.js HTTP/1.1" 304 0 "https://example.com/" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1""#,
    r#"198.51.100.23 - - [22/Nov/2026:10:00:03 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "python-requests/2.32.3""#,
];

const JSON_LINES: &[&str] = &[
    r#"{"time":"2026-11-22T10:00:00.123Z","level":"INFO","logger":"api.http","msg":"request completed","request_id":"7f3a9c2e-1b4d-4e6f-9a8b-0c1d2e3f4a5b","http":{"method":"GET","path":"/api/v1/users/42","status":200},"duration_ms":12.5,"user":{"id":42,"plan":"pro"}}"#,
    r#"{"ts":1763805600.123456,"level":"error","caller":"worker/queue.go:118","msg":"job failed, will retry","job":{"id":991,"attempt":3,"queue":"emails"},"error":"smtp: 451 temporary failure","tags":["retry","smtp"]}"#,
    r#"{"@timestamp":"2026-11-22T10:00:02.5+01:00","level":"debug","logger_name":"com.example.billing.InvoiceService","message":"invoice \"INV-2026-0042\" rendered","thread":"pool-3-thread-7","invoice":{"total":129.9,"currency":"EUR","lines":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}]}}"#,
    r#"{"level":30,"time":1763805603000,"pid":4127,"hostname":"web-3","msg":"listening","port":8080,"env":"production"}"#,
];

fn parsers(c: &mut Criterion) {
    let nginx = parser("nginx_access", &ParserOptions::default());
    bench_lines(c, "nginx_access", "combined", nginx.as_ref(), NGINX_LINES);
    let json = parser("json", &ParserOptions::default());
    bench_lines(c, "json", "app", json.as_ref(), JSON_LINES);
}

criterion_group!(benches, parsers);
criterion_main!(benches);
