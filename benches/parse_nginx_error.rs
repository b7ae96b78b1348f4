//! Throughput on one thread of the `nginx_error` parser and of `nginx_access` with a compiled
//! custom `log_format`: lines per second of turning a realistic record into a fresh event, the
//! way a worker does (allocating the event's `raw` is part of the cost).
//!
//! Targets (release, one core): a compiled `log_format` within 2x of the default `combined`
//! parser (`benches/parsers.rs`, floor 1,000,000 lines/s); `nginx_error` in the same range.
//! `nginx_access/log_format_combined` runs `combined` compiled as a format over the lines of
//! `benches/parsers.rs`, so the generic matcher can be compared with the hand-written reader on
//! the same data.

use criterion::{criterion_group, criterion_main, Criterion};
use logpipe::parse::ParserOptions;

mod common;
use common::{bench_lines, parser};

/// A mix of what error logs hold: request errors with every context pair, a startup message
/// without connection, and a PHP-FPM message joined from several lines.
const ERROR_RECORDS: &[&str] = &[
    r#"2026/11/22 10:00:00 [error] 1234#1234: *5678 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 203.0.113.7, server: shop.example.com, request: "GET /api/v1/cart?session=42 HTTP/1.1", upstream: "http://10.0.2.15:8080/api/v1/cart?session=42", host: "shop.example.com", referrer: "https://shop.example.com/products""#,
    r#"2026/11/22 10:00:01 [error] 33#33: *12 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory), client: 2001:db8::17, server: localhost, request: "GET /favicon.ico HTTP/1.1", host: "localhost", referrer: "http://localhost/""#,
    "2026/11/22 10:00:02 [notice] 1#1: signal 1 (SIGHUP) received from 4127, reconfiguring",
    "2026/11/22 10:00:03 [error] 35#35: *120 FastCGI sent in stderr: \"PHP message: PHP Fatal error:  Uncaught RuntimeException: payment gateway unreachable in /var/www/app/src/Checkout.php:88\nStack trace:\n#0 /var/www/app/public/index.php(17): App\\Checkout->pay()\n#1 {main}\n  thrown in /var/www/app/src/Checkout.php on line 88\" while reading response header from upstream, client: 203.0.113.7, server: shop.example.com, request: \"POST /checkout HTTP/1.1\", upstream: \"fastcgi://unix:/run/php/php8.2-fpm.sock:\", host: \"shop.example.com\"",
];

/// The issue's format: `combined` plus request and upstream times.
const CUSTOM_FORMAT: &str = r#"'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time"'"#;

/// The lines of `benches/parsers.rs` (same requests, same user agents) in that format, so the
/// two figures compare the formats and not the data.
const CUSTOM_LINES: &[&str] = &[
    r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.html?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36" rt=0.012 uct="0.001""#,
    r#"2001:db8::17 - alice [22/Nov/2026:10:00:01 +0100] "POST /api/v1/orders HTTP/2.0" 201 812 "-" "okhttp/4.12.0" rt=0.145 uct="0.000, 0.002""#,
    r#"10.0.0.4 - - [22/Nov/2026:10:00:02 +0100] "GET /static/app.3f9c2a.js HTTP/1.1" 304 0 "https://example.com/" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1" rt=0.000 uct="-""#,
    r#"198.51.100.23 - - [22/Nov/2026:10:00:03 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "python-requests/2.32.3" rt=0.001 uct="0.001""#,
];

/// The lines of `benches/parsers.rs` verbatim, for `combined` compiled as a `log_format`: the
/// cost of the generic matcher against the hand-written `combined` reader on the same data.
const COMBINED_LINES: &[&str] = &[
    r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.html?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36""#,
    r#"2001:db8::17 - alice [22/Nov/2026:10:00:01 +0100] "POST /api/v1/orders HTTP/2.0" 201 812 "-" "okhttp/4.12.0""#,
    r#"10.0.0.4 - - [22/Nov/2026:10:00:02 +0100] "GET /static/app.3f9c2a.js HTTP/1.1" 304 0 "https://example.com/" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1""#,
    r#"198.51.100.23 - - [22/Nov/2026:10:00:03 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "python-requests/2.32.3""#,
];

fn parsers(c: &mut Criterion) {
    let error = parser("nginx_error", &ParserOptions::default());
    bench_lines(c, "nginx_error", "line", error.as_ref(), ERROR_RECORDS);

    let options = ParserOptions {
        log_format: Some(CUSTOM_FORMAT.to_string()),
        ..ParserOptions::default()
    };
    let custom = parser("nginx_access", &options);
    bench_lines(
        c,
        "nginx_access",
        "log_format_custom",
        custom.as_ref(),
        CUSTOM_LINES,
    );

    let options = ParserOptions {
        log_format: Some("combined".to_string()),
        ..ParserOptions::default()
    };
    let compiled_combined = parser("nginx_access", &options);
    bench_lines(
        c,
        "nginx_access",
        "log_format_combined",
        compiled_combined.as_ref(),
        COMBINED_LINES,
    );
}

criterion_group!(benches, parsers);
criterion_main!(benches);
