//! GeoIP enrichment of one parsed NGINX access event, on one thread, in time per event:
//! `cached` answers from the lookup cache (the common case: clients repeat), `uncached` looks
//! the address up in both databases every time (`cache_size = 0`), `mixed` cycles through 16
//! clients (public v4 and v6, private, documentation) with the cache on, `skipped` is a private
//! address (no lookup at all). The test databases of `geoip/` are used; with
//! `GEOIP_BENCH_CITY_DB=/path/to/GeoLite2-City.mmdb` the uncached case also runs against that
//! real, much larger database (`uncached_real_city`).
//!
//! Each iteration enriches a fresh copy of the parsed event (the copy is made outside the
//! timed part).
//!
//! ```sh
//! cargo bench --bench enrich_geoip -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logpipe::enrich::geoip::{GeoipConfig, GeoipEnricher};
use logpipe::event::{Event, RecordOrigin};
use logpipe::parse::ParserOptions;

fn db(name: &str) -> String {
    format!("{}/geoip/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn enricher(city_db: String, asn_db: Option<String>, cache_size: usize) -> GeoipEnricher {
    let config = GeoipConfig {
        city_db: Some(city_db),
        asn_db,
        fields: None,
        cache_size,
        reload_interval_ms: 0,
        properties: None,
    };
    match GeoipEnricher::open(&config) {
        Ok(g) => g,
        Err(e) => panic!("{e}"),
    }
}

/// Parsed access events, one per client address.
fn events(clients: &[&str]) -> Vec<Event> {
    let parser = match logpipe::parse::build("nginx_access", &ParserOptions::default()) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    clients
        .iter()
        .map(|client| {
            let line = format!(
                "{client} - - [21/Nov/2026:22:08:20 +0000] \"GET /products?category=shoes HTTP/1.1\" \
                 200 21877 \"https://shop.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) \
                 Gecko/20100101 Firefox/133.0\""
            );
            let mut event = Event::new(line, RecordOrigin::default());
            if let Err(e) = parser.parse(&mut event) {
                panic!("bench line does not parse: {e}");
            }
            event
        })
        .collect()
}

fn bench_one(c: &mut Criterion, id: &str, g: &GeoipEnricher, events: &[Event], want_geo: bool) {
    // The bench must measure what it says: a located event gets its fields.
    let mut probe = events[0].clone();
    g.apply(&mut probe);
    assert_eq!(
        probe.get("source.geo.country_iso_code").is_some(),
        want_geo,
        "{id}"
    );
    let mut group = c.benchmark_group("enrich_geoip");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function(id, |b| {
        b.iter_batched_ref(
            || events.to_vec(),
            |batch| {
                for event in batch.iter_mut() {
                    g.apply(event);
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn geoip(c: &mut Criterion) {
    let typical = events(&["81.2.69.142"]);
    let cached = enricher(db("test-city.mmdb"), Some(db("test-asn.mmdb")), 10_000);
    let uncached = enricher(db("test-city.mmdb"), Some(db("test-asn.mmdb")), 0);
    bench_one(c, "cached", &cached, &typical, true);
    bench_one(c, "uncached", &uncached, &typical, true);
    let mixed = events(&[
        "81.2.69.142",
        "89.160.20.128",
        "2a01:e0a:1ac:b3c0::1",
        "10.0.0.2",
        "216.160.83.58",
        "1.136.96.22",
        "198.51.100.23",
        "2001:12ff:0:4::22",
        "85.214.132.117",
        "1.1.1.1",
        "200.160.2.3",
        "10.12.7.201",
        "175.16.199.34",
        "2001:db8::1",
        "133.242.187.207",
        "62.210.16.5",
    ]);
    bench_one(c, "mixed", &cached, &mixed, true);
    bench_one(c, "skipped", &cached, &events(&["10.0.0.2"]), false);
    if let Ok(real) = std::env::var("GEOIP_BENCH_CITY_DB") {
        let real = enricher(real, None, 0);
        bench_one(c, "uncached_real_city", &real, &typical, true);
    }
}

criterion_group!(benches, geoip);
criterion_main!(benches);
