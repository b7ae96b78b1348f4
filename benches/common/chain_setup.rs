//! The enrich -> anonymize -> tag chain of the `chain` and `chain_stages` benches: four NGINX
//! access lines and DESIGN.md's example pipeline (GeoIP City + ASN from the generated test
//! databases, IP truncation, every redaction category, the built-in tags plus a few rules). No
//! field is pseudonymized (DESIGN.md's example does not).

use std::path::Path;
use std::sync::Arc;

use logpipe::config::PipelineConfig;
use logpipe::event::{Event, RecordOrigin};
use logpipe::output::{Encoder, NdjsonEncoder};
use logpipe::parse::Parser;
use logpipe::pipeline::ack::BatchAck;
use logpipe::pipeline::batch::{RawBatch, StreamContext};
use logpipe::pipeline::build_chains;
use logpipe::pipeline::worker::Chain;
use logpipe::tag::Verdict;

pub const LINES: &[&str] = &[
    r#"81.2.69.160 - - [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.html?item=42&ref=mail HTTP/1.1" 200 5316 "https://example.com/start" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36""#,
    r#"2a02:ec80:300:ed1a::1 - alice [22/Nov/2026:10:00:01 +0100] "POST /api/v1/orders?token=abc123 HTTP/2.0" 201 812 "-" "okhttp/4.12.0""#,
    r#"89.160.20.128 - - [22/Nov/2026:10:00:02 +0100] "GET /static/app.3f9c2a.js HTTP/1.1" 304 0 "https://example.com/" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1""#,
    r#"216.160.83.56 - bob [22/Nov/2026:10:00:03 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "python-requests/2.32.3""#,
];

pub const PIPELINE: &str = r#"
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

/// The same input and output with no GeoIP, anonymization or tags (built-in ones off): what a
/// worker costs without the chain.
pub const PARSE_ONLY_PIPELINE: &str = r#"
[[inputs]]
type = "stdin"
parser = "nginx_access"

[tag_defaults]
enabled = false

[output.stdout]
"#;

fn chain_of(pipeline: &str) -> (Chain, Arc<dyn Encoder>) {
    let config = match PipelineConfig::from_str(Path::new("bench.toml"), pipeline) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let encoder: Arc<dyn Encoder> = Arc::new(NdjsonEncoder::default());
    let mut chains = match build_chains(&config, &encoder) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    (chains.remove(0), encoder)
}

/// The worker of [`PARSE_ONLY_PIPELINE`].
pub fn build_parse_only() -> Chain {
    chain_of(PARSE_ONLY_PIPELINE).0
}

/// A batch of `rounds` rounds of the four lines, as an input hands it to a worker.
pub fn raw_batch(rounds: usize) -> RawBatch {
    let stream = Arc::new(StreamContext {
        input_index: 0,
        stream_key: 1,
        file_path: None,
        fields: Vec::new(),
    });
    let mut batch = RawBatch::new(stream, BatchAck::untracked());
    let mut offset = 0;
    for line in LINES.iter().cycle().take(rounds * LINES.len()) {
        let end = offset + line.len() as u64 + 1;
        batch.push(line.as_bytes(), offset, end, false);
        offset = end;
    }
    batch
}

/// The bench pipeline's chain and its document encoder.
pub fn build() -> (Chain, Arc<dyn Encoder>) {
    std::env::set_var("LOGPIPE_PSEUDONYM_KEY", "bench-key-0123456789");
    let (chain, encoder) = chain_of(PIPELINE);
    // The chain must actually do its work on these events, or the bench measures nothing.
    let mut probe = parse_all(chain.parser.as_ref(), LINES).remove(0);
    chain.enrich.apply(&mut probe);
    assert!(
        probe.get("source.geo.country_iso_code").is_some(),
        "GeoIP found nothing for the bench address"
    );
    (chain, encoder)
}

/// `n` distinct access lines whose user agent, referrer and request were never seen (three
/// pieces each, more than the anonymizer remembers per thread when `n` is 4,096), so every
/// piece is scanned: the bench lines above measure the remembered case.
pub fn unseen_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"81.2.{}.{} - - [22/Nov/2026:10:00:00 +0100] "GET /shop/item/{i}?ref=mail&page={} HTTP/1.1" 200 {} "https://example.com/list/{i}" "Mozilla/5.0 (Linux; Android 14; SM-S91{i}B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.{i}.0 Mobile Safari/537.36""#,
                i / 256 % 256,
                i % 256,
                i % 7,
                1000 + i
            )
        })
        .collect()
}

/// The lines parsed into fresh events, as a worker hands them to the chain (a copy of a parsed
/// event would not have the room for GeoIP's fields that `Event::new` reserves).
pub fn parse_all(parser: &dyn Parser, lines: &[impl AsRef<str>]) -> Vec<Event> {
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
pub fn run_chain(chain: &Chain, event: &mut Event) -> Verdict {
    chain.enrich_anonymize_tag(event)
}
