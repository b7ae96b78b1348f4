//! GeoIP enrichment from the outside: the acceptance table (which addresses get which fields),
//! a database replaced while the enricher is live, startup errors for missing and damaged
//! files, the committed test databases against their source, and the whole pipeline (`check`
//! and `run`) with `[enrich.geoip]`.

#[allow(dead_code)] // `main` of the example is not used here, only `build`.
#[path = "../examples/make_geoip_db.rs"]
mod make_geoip_db;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use logpipe::enrich::geoip::{GeoipConfig, GeoipEnricher};
use logpipe::event::{Event, RecordOrigin, Text, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed(name: &str) -> PathBuf {
    repo().join("geoip").join(name)
}

fn source_text() -> String {
    std::fs::read_to_string(committed("test-networks.toml")).unwrap()
}

fn config(city: Option<&Path>, asn: Option<&Path>) -> GeoipConfig {
    GeoipConfig {
        city_db: city.map(|p| p.display().to_string()),
        asn_db: asn.map(|p| p.display().to_string()),
        fields: None,
        cache_size: 1000,
        reload_interval_ms: 0,
        // Every result, so the acceptance table checks all of them (the default writes the
        // document contract's eight).
        properties: Some(
            [
                "geo.location",
                "geo.continent_code",
                "geo.continent_name",
                "geo.country_iso_code",
                "geo.country_name",
                "geo.region_iso_code",
                "geo.region_name",
                "geo.city_name",
                "geo.postal_code",
                "geo.timezone",
                "as.number",
                "as.organization.name",
            ]
            .map(String::from)
            .to_vec(),
        ),
    }
}

fn test_enricher() -> GeoipEnricher {
    GeoipEnricher::open(&config(
        Some(&committed("test-city.mmdb")),
        Some(&committed("test-asn.mmdb")),
    ))
    .unwrap()
}

fn ip(s: &str) -> Value {
    Value::Ip(s.parse().unwrap())
}

fn s(text: &str) -> Value {
    Value::Str(Text::Owned(text.into()))
}

fn point(lat: f64, lon: f64) -> Value {
    Value::GeoPoint { lat, lon }
}

/// The fields `apply` added to an event holding `field` = `value` (or nothing), sorted by
/// name, with string values as owned text so they compare with the expected table.
fn added(g: &GeoipEnricher, field: &str, value: Option<Value>) -> Vec<(String, Value)> {
    let mut e = Event::new(String::new(), RecordOrigin::default());
    e.push("message", Value::Str(Text::Static("x")));
    if let Some(v) = value {
        e.push(field.to_string(), v);
    }
    let before = e.fields.len();
    g.apply(&mut e);
    let mut out: Vec<(String, Value)> = e.fields[before..]
        .iter()
        .map(|(n, v)| {
            let v = match v {
                Value::Str(t) => s(e.text(t)),
                v => v.clone(),
            };
            (n.to_string(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Expected fields, named without their prefix.
type Fields = [(&'static str, Value)];

fn expected(prefix: &str, fields: &Fields) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = fields
        .iter()
        .map(|(n, v)| (format!("{prefix}.{n}"), v.clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn london() -> Vec<(&'static str, Value)> {
    vec![
        ("geo.location", point(51.5128, -0.0918)),
        ("geo.continent_code", s("EU")),
        ("geo.continent_name", s("Europe")),
        ("geo.country_iso_code", s("GB")),
        ("geo.country_name", s("United Kingdom")),
        ("geo.region_iso_code", s("GB-ENG")),
        ("geo.region_name", s("England")),
        ("geo.city_name", s("London")),
        ("geo.postal_code", s("EC2V")),
        ("geo.timezone", s("Europe/London")),
        ("as.number", Value::Int(5089)),
        ("as.organization.name", s("Virgin Media Limited")),
    ]
}

/// Acceptance: every kind of address gets exactly its fields, and skipped ones none at all.
#[test]
fn acceptance_table() {
    let g = test_enricher();
    let paris = vec![
        ("geo.location", point(48.8566, 2.3522)),
        ("geo.continent_code", s("EU")),
        ("geo.continent_name", s("Europe")),
        ("geo.country_iso_code", s("FR")),
        ("geo.country_name", s("France")),
        // The most specific of the two subdivisions.
        ("geo.region_iso_code", s("FR-75")),
        ("geo.region_name", s("Paris")),
        ("geo.city_name", s("Paris")),
        ("geo.postal_code", s("75008")),
        ("geo.timezone", s("Europe/Paris")),
        ("as.number", Value::Int(12322)),
        ("as.organization.name", s("Free SAS")),
    ];
    let linkoping = vec![
        ("geo.location", point(58.4167, 15.6167)),
        ("geo.continent_code", s("EU")),
        ("geo.continent_name", s("Europe")),
        ("geo.country_iso_code", s("SE")),
        ("geo.country_name", s("Sweden")),
        ("geo.region_iso_code", s("SE-E")),
        ("geo.region_name", s("Östergötland County")),
        ("geo.city_name", s("Linköping")),
        ("geo.postal_code", s("582 22")),
        ("geo.timezone", s("Europe/Stockholm")),
        ("as.number", Value::Int(29518)),
        ("as.organization.name", s("Bredband2 AB")),
    ];
    let us_country_only = vec![
        ("geo.location", point(37.751, -97.822)),
        ("geo.continent_code", s("NA")),
        ("geo.continent_name", s("North America")),
        ("geo.country_iso_code", s("US")),
        ("geo.country_name", s("United States")),
        ("geo.timezone", s("America/Chicago")),
        ("as.number", Value::Int(15169)),
        ("as.organization.name", s("Google LLC")),
    ];
    let cloudflare = vec![
        ("as.number", Value::Int(13335)),
        ("as.organization.name", s("Cloudflare, Inc.")),
    ];
    let nothing: Vec<(&str, Value)> = Vec::new();
    let london = london();

    let table: Vec<(&str, Option<Value>, &Fields)> = vec![
        ("public IPv4", Some(ip("81.2.69.142")), &london),
        ("public IPv4 as a string", Some(s("81.2.69.142")), &london),
        ("public IPv6", Some(ip("2a01:e0a:1ac:b3c0::1")), &paris),
        (
            "IPv4-mapped IPv6",
            Some(ip("::ffff:89.160.20.128")),
            &linkoping,
        ),
        (
            "IPv4-mapped IPv6 as a string",
            Some(s("::ffff:89.160.20.128")),
            &linkoping,
        ),
        (
            "country-level network",
            Some(ip("8.8.8.8")),
            &us_country_only,
        ),
        (
            "IPv6 country-level network",
            Some(ip("2001:4860:4860::8888")),
            &us_country_only,
        ),
        ("AS data only", Some(ip("1.1.1.1")), &cloudflare),
        ("public, in no database", Some(ip("9.9.9.9")), &nothing),
        ("private 10/8", Some(ip("10.0.0.2")), &nothing),
        ("private 172.16/12", Some(ip("172.20.1.1")), &nothing),
        ("private 192.168/16", Some(ip("192.168.1.10")), &nothing),
        ("carrier-grade NAT", Some(ip("100.64.0.1")), &nothing),
        ("unique local IPv6", Some(ip("fd00::1")), &nothing),
        ("IPv4-mapped private", Some(ip("::ffff:10.0.0.1")), &nothing),
        ("loopback", Some(ip("127.0.0.1")), &nothing),
        ("IPv6 loopback", Some(ip("::1")), &nothing),
        ("link-local", Some(ip("169.254.0.5")), &nothing),
        ("IPv6 link-local", Some(ip("fe80::1")), &nothing),
        (
            "documentation TEST-NET-2",
            Some(ip("198.51.100.23")),
            &nothing,
        ),
        (
            "documentation TEST-NET-3 as a string",
            Some(s("203.0.113.7")),
            &nothing,
        ),
        ("IPv6 documentation", Some(ip("2001:db8::1")), &nothing),
        ("multicast", Some(ip("224.0.0.251")), &nothing),
        ("unspecified", Some(ip("0.0.0.0")), &nothing),
        ("malformed string", Some(s("81.2.69.300")), &nothing),
        ("not an address", Some(s("unknown")), &nothing),
        ("empty string", Some(s("")), &nothing),
        ("a number", Some(Value::Int(1_357_000_000)), &nothing),
        ("missing field", None, &nothing),
    ];
    for (case, value, want) in table {
        assert_eq!(
            added(&g, "source.ip", value),
            expected("source", want),
            "{case}"
        );
    }
}

/// Configured fields are each enriched under their own prefix; unconfigured ones are not.
#[test]
fn configured_fields_get_their_own_prefix() {
    let mut c = config(
        Some(&committed("test-city.mmdb")),
        Some(&committed("test-asn.mmdb")),
    );
    c.fields = Some(vec!["client.ip".into(), "destination.ip".into()]);
    let g = GeoipEnricher::open(&c).unwrap();
    assert_eq!(
        added(&g, "client.ip", Some(ip("81.2.69.142"))),
        expected("client", &london())
    );
    assert_eq!(
        added(&g, "destination.ip", Some(ip("81.2.69.142"))),
        expected("destination", &london())
    );
    assert_eq!(added(&g, "source.ip", Some(ip("81.2.69.142"))), vec![]);

    // Both in one event.
    let mut e = Event::new(String::new(), RecordOrigin::default());
    e.push("client.ip", ip("1.1.1.1"));
    e.push("destination.ip", ip("8.8.8.8"));
    g.apply(&mut e);
    assert_eq!(e.get("client.as.number"), Some(&Value::Int(13335)));
    assert!(e.get("client.geo.country_iso_code").is_none());
    assert_eq!(e.get_str("destination.geo.country_iso_code"), Some("US"));
}

/// Only one of the two databases: only its fields.
#[test]
fn one_database_gives_its_own_fields() {
    let city_only = GeoipEnricher::open(&config(Some(&committed("test-city.mmdb")), None)).unwrap();
    let want: Vec<_> = london()
        .into_iter()
        .filter(|(n, _)| n.starts_with("geo."))
        .collect();
    assert_eq!(
        added(&city_only, "source.ip", Some(ip("81.2.69.142"))),
        expected("source", &want)
    );
    let asn_only = GeoipEnricher::open(&config(None, Some(&committed("test-asn.mmdb")))).unwrap();
    let want: Vec<_> = london()
        .into_iter()
        .filter(|(n, _)| n.starts_with("as."))
        .collect();
    assert_eq!(
        added(&asn_only, "source.ip", Some(ip("81.2.69.142"))),
        expected("source", &want)
    );
}

/// Lines the enricher logs (`tracing` output of the whole test binary), to wait for what the
/// reload thread reports instead of sleeping for a guessed time.
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits (polling, up to a generous limit that only a broken build reaches) until `done`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn log_count(needle: &str) -> usize {
    String::from_utf8_lossy(&log().lock().unwrap())
        .matches(needle)
        .count()
}

fn city_name(g: &GeoipEnricher, addr: &str) -> Option<String> {
    added(g, "source.ip", Some(ip(addr)))
        .into_iter()
        .find(|(n, _)| n == "source.geo.city_name")
        .map(|(_, v)| match v {
            Value::Str(Text::Owned(t)) => t.to_string(),
            v => panic!("{v:?}"),
        })
}

/// Writes `bytes` next to `path` and renames it over `path`, as database updaters do.
fn replace_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn city_db_with(london_renamed_to: &str) -> Vec<u8> {
    let text = source_text().replace(
        "city = \"London\"",
        &format!("city = \"{london_renamed_to}\""),
    );
    make_geoip_db::build(&text).unwrap().0
}

/// `db` with every byte of its data section (the records) set to 0xff.
fn damage_records(mut db: Vec<u8>) -> Vec<u8> {
    let reader = maxminddb::Reader::from_source(db.clone()).unwrap();
    let meta = reader.metadata();
    let tree_len = meta.node_count as usize * meta.record_size as usize / 4;
    let marker = b"\xab\xcd\xefMaxMind.com";
    let metadata = db.windows(marker.len()).rposition(|w| w == marker).unwrap();
    db[tree_len + 16..metadata].fill(0xff);
    db
}

/// Acceptance: a database replaced on disk is picked up without a restart (the cache too);
/// a damaged or missing replacement keeps the version in use.
#[test]
fn replaced_database_is_picked_up_while_running() {
    log(); // installed before the reload thread has anything to say
    let dir = tempfile::tempdir().unwrap();
    let city = dir.path().join("city.mmdb");
    std::fs::copy(committed("test-city.mmdb"), &city).unwrap();
    let mut c = config(Some(&city), None);
    c.reload_interval_ms = 10;
    let g = GeoipEnricher::open(&c).unwrap();
    assert_eq!(city_name(&g, "81.2.69.142").as_deref(), Some("London"));
    assert_eq!(city_name(&g, "81.2.69.142").as_deref(), Some("London")); // cached now

    // An updater's atomic replace.
    replace_atomically(&city, &city_db_with("Westminster"));
    wait_for("the replaced database", || {
        city_name(&g, "81.2.69.142").as_deref() == Some("Westminster")
    });

    // A damaged replacement: reported, and the database in use stays.
    let shown = city.display().to_string();
    let refusals = || log_count(&format!("{shown}: not a valid MaxMind DB file"));
    let before = refusals();
    replace_atomically(&city, b"this is not a database");
    wait_for("the damaged file to be refused", || refusals() > before);
    assert_eq!(city_name(&g, "81.2.69.142").as_deref(), Some("Westminster"));

    // Damage only a full verification finds (the structure is intact, the records are not).
    let before = refusals();
    replace_atomically(&city, &damage_records(city_db_with("Camden")));
    wait_for("the damaged records to be refused", || refusals() > before);
    assert_eq!(city_name(&g, "81.2.69.142").as_deref(), Some("Westminster"));

    // The file gone for a while: reported, the database in use stays.
    std::fs::remove_file(&city).unwrap();
    wait_for("the missing file to be reported", || {
        log_count(&format!("{shown}: No such file")) > 0
    });
    assert_eq!(city_name(&g, "81.2.69.142").as_deref(), Some("Westminster"));

    // Back, rewritten in place rather than renamed: picked up as well.
    std::fs::write(&city, city_db_with("City of London")).unwrap();
    wait_for("the rewritten database", || {
        city_name(&g, "81.2.69.142").as_deref() == Some("City of London")
    });
}

/// Acceptance: a missing or damaged database is a startup error naming the file.
#[test]
fn missing_and_damaged_databases_are_startup_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("GeoLite2-City.mmdb");
    let err = GeoipEnricher::open(&config(Some(&missing), None))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "`city_db` = {}: cannot read the database: No such file or directory (os error 2)",
            missing.display()
        )
    );

    let good = std::fs::read(committed("test-city.mmdb")).unwrap();
    let mut damaged_tree = good.clone();
    // Search-tree records pointing past the end of the tree and data section.
    damaged_tree[..64].fill(0xff);
    let cases: [(&str, Vec<u8>); 4] = [
        ("empty.mmdb", Vec::new()),
        ("text.mmdb", b"not a MaxMind database\n".repeat(100)),
        ("truncated.mmdb", good[..good.len() / 2].to_vec()),
        ("damaged.mmdb", damaged_tree),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = GeoipEnricher::open(&config(Some(&path), None))
            .unwrap_err()
            .to_string();
        let want = format!(
            "`city_db` = {}: not a valid MaxMind DB file: ",
            path.display()
        );
        assert!(err.starts_with(&want), "{name}: {err}");
    }

    // A directory where a file should be.
    let err = GeoipEnricher::open(&config(Some(dir.path()), None))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "`city_db` = {}: cannot read",
            dir.path().display()
        )),
        "{err}"
    );
}

/// The committed `.mmdb` files are exactly what the generator makes of the committed source.
#[test]
fn committed_databases_match_their_source() {
    let dir = tempfile::tempdir().unwrap();
    make_geoip_db::make(&committed("test-networks.toml"), dir.path()).unwrap();
    for name in [make_geoip_db::CITY_FILE, make_geoip_db::ASN_FILE] {
        let made = std::fs::read(dir.path().join(name)).unwrap();
        let kept = std::fs::read(committed(name)).unwrap();
        assert!(
            made == kept,
            "geoip/{name} differs from what geoip/test-networks.toml gives: run \
             `cargo run --example make_geoip_db -- geoip/test-networks.toml geoip/`"
        );
    }
}

/// The generator refuses what would make a wrong database rather than writing it.
#[test]
fn generator_rejects_bad_sources() {
    let text = source_text();
    for (bad, want) in [
        (
            text.replace("\"81.2.69.0/24\"", "\"81.2.69.1/24\""),
            "host bits set",
        ),
        (
            text.replace("\"89.160.20.0/24\"", "\"10.1.0.0/16\""),
            "10.1.0.0/16",
        ),
        (
            text.replace("country = \"SE\"", "country = \"XX\""),
            "unknown country `XX`",
        ),
        (
            format!("{text}\nsurprise = 1\n"),
            "unknown field `surprise`",
        ),
    ] {
        let err = make_geoip_db::build(&bad).unwrap_err().to_string();
        assert!(err.contains(want), "{want}: {err}");
    }
}

fn logpipe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_logpipe"))
}

fn pipeline_file(dir: &Path, geoip: &str) -> PathBuf {
    let path = dir.join("p.toml");
    std::fs::write(
        &path,
        format!("[[inputs]]\ntype = \"stdin\"\nparser = \"nginx_access\"\n\n[output.stdout]\n\n[enrich.geoip]\n{geoip}\n"),
    )
    .unwrap();
    path
}

/// `logpipe check` opens the databases: a missing one is a configuration error naming it.
#[test]
fn check_reports_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline_file(dir.path(), "city_db = \"no/such/GeoLite2-City.mmdb\"\n");
    let out = logpipe().arg("check").arg("-c").arg(&p).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "[enrich.geoip]: `city_db` = no/such/GeoLite2-City.mmdb: cannot read the database"
        ),
        "{stderr}"
    );

    let p = pipeline_file(
        dir.path(),
        &format!(
            "city_db = \"{}\"\nasn_db = \"{}\"\nfields = [\"source.ip\", \"client.ip\"]\ncache_size = 50\nreload_interval_ms = 0\n",
            committed("test-city.mmdb").display(),
            committed("test-asn.mmdb").display()
        ),
    );
    let out = logpipe().arg("check").arg("-c").arg(&p).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let p = pipeline_file(dir.path(), "city_db = \"x.mmdb\"\ncache = 5\n");
    let out = logpipe().arg("check").arg("-c").arg(&p).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `cache`"), "{stderr}");
}

/// The demo fixture through `logpipe run` with the test databases: its public clients come out
/// with locations, its private and documentation ones without.
#[test]
fn run_enriches_the_nginx_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline_file(
        dir.path(),
        &format!(
            "city_db = \"{}\"\nasn_db = \"{}\"\n",
            committed("test-city.mmdb").display(),
            committed("test-asn.mmdb").display()
        ),
    );
    let input = std::fs::read(repo().join("fixtures/nginx/access.log")).unwrap();
    let mut child = logpipe()
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("run")
        .arg("-c")
        .arg(&p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    let docs: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 299);
    let mut located = 0;
    for doc in &docs {
        let source = &doc["source"];
        let Some(addr) = source["ip"].as_str() else {
            assert!(source.get("geo").is_none(), "{doc}");
            continue;
        };
        let public = addr.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
            std::net::IpAddr::V4(v4) => !(v4.is_private() || v4.is_documentation()),
            std::net::IpAddr::V6(v6) => v6.segments()[0] != 0x2001 || v6.segments()[1] != 0xdb8,
        });
        if !public {
            assert!(
                source.get("geo").is_none() && source.get("as").is_none(),
                "{doc}"
            );
            continue;
        }
        assert!(source["as"]["number"].is_u64(), "{doc}");
        if source.get("geo").is_some() {
            located += 1;
            assert!(source["geo"]["location"]["lat"].is_f64(), "{doc}");
            assert!(source["geo"]["location"]["lon"].is_f64(), "{doc}");
            assert!(source["geo"]["country_iso_code"].is_string(), "{doc}");
        }
    }
    // About 40% of the fixture's clients are addresses of the test databases.
    assert!(
        located * 100 / docs.len() >= 30,
        "{located} of {}",
        docs.len()
    );
}
