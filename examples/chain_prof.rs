use logpipe::config::PipelineConfig;
use logpipe::event::{Event, RecordOrigin};
use logpipe::output::{Encoder, NdjsonEncoder};
use logpipe::pipeline::build_chains;
use std::hint::black_box;
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::Path;
use std::sync::Arc;
const LINES: &[&str] = &[
    r#"81.2.69.160 - - [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.html?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36""#,
    r#"2a02:ec80:300:ed1a::1 - alice [22/Nov/2026:10:00:01 +0100] "POST /api/v1/orders?token=abc123 HTTP/2.0" 201 812 "-" "okhttp/4.12.0""#,
    r#"89.160.20.128 - - [22/Nov/2026:10:00:02 +0100] "GET /static/app.3f9c2a.js HTTP/1.1" 304 0 "https://example.com/" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1""#,
    r#"216.160.83.56 - bob [22/Nov/2026:10:00:03 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "python-requests/2.32.3""#,
];

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

fn main() {
    std::env::set_var("LOGPIPE_PSEUDONYM_KEY", "bench-key-0123456789");
    let config = PipelineConfig::from_str(Path::new("bench.toml"), PIPELINE).unwrap();
    let encoder: Arc<dyn Encoder> = Arc::new(NdjsonEncoder::default());
    let chains = build_chains(&config, &encoder).unwrap();
    let chain = &chains[0];
    let _parsed: Vec<Event> = LINES
        .iter()
        .map(|line| {
            let mut event = Event::new(line.to_string(), RecordOrigin::default());
            chain.parser.parse(&mut event).unwrap();
            event
        })
        .collect();
    let mode = std::env::var("MODE").unwrap_or_default();
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100000);
    let t = std::time::Instant::now();
    for _ in 0..n {
        match mode.as_str() {
            "parse_only" => {
                for line in LINES {
                    let mut event = Event::new(line.to_string(), RecordOrigin::default());
                    let o = chain.parser.parse(&mut event);
                    let _ = black_box((o, event));
                }
            }
            m => {
                let mut e: Vec<Event> = LINES
                    .iter()
                    .map(|line| {
                        let mut event = Event::new(line.to_string(), RecordOrigin::default());
                        let _ = chain.parser.parse(&mut event);
                        event
                    })
                    .collect();
                for ev in e.iter_mut() {
                    if m == "enrich" || m == "all" {
                        chain.enrich.apply(ev);
                    }
                    if m == "anon" || m == "all" {
                        chain.anonymize.apply(ev);
                    }
                    if m == "tag" || m == "all" {
                        black_box(chain.tag.apply(ev));
                    }
                }
                black_box(e);
            }
        }
    }
    let el = t.elapsed();
    eprintln!(
        "{mode}: {:.3} us/event",
        el.as_secs_f64() * 1e6 / (n as f64 * 4.0)
    );
}
