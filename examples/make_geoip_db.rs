//! Writes the small test GeoIP databases of `geoip/` from their readable source file.
//!
//! ```sh
//! cargo run --example make_geoip_db -- geoip/test-networks.toml geoip/
//! ```
//!
//! reads the TOML source and writes `test-city.mmdb` (GeoLite2-City layout) and `test-asn.mmdb`
//! (GeoLite2-ASN layout) into the output folder, with the `mmdb-writer` crate. The output is a
//! function of the source alone (the build time comes from the source, maps are ordered), so
//! `tests/geoip.rs` can regenerate both files and compare them with the committed ones.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{ReservedNetworks, Value, Writer};
use serde::Deserialize;

/// File names written into the output folder.
pub const CITY_FILE: &str = "test-city.mmdb";
pub const ASN_FILE: &str = "test-asn.mmdb";

#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("source: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("source: {0}")]
    Source(String),
    #[error("{what}: {source}")]
    Mmdb {
        what: String,
        source: mmdb_writer::Error,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    build_epoch: u64,
    continents: BTreeMap<String, Continent>,
    countries: BTreeMap<String, Country>,
    #[serde(default)]
    places: Vec<Place>,
    #[serde(default)]
    systems: Vec<System>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Continent {
    name: String,
    geoname_id: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Country {
    name: String,
    continent: String,
    geoname_id: Option<u32>,
    #[serde(default)]
    in_european_union: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Place {
    networks: Vec<String>,
    country: String,
    #[serde(default)]
    subdivisions: Vec<Subdivision>,
    city: Option<String>,
    postal_code: Option<String>,
    location: Option<Location>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Subdivision {
    iso_code: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Location {
    latitude: f64,
    longitude: f64,
    accuracy_radius: u16,
    time_zone: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct System {
    number: u32,
    organization: String,
    networks: Vec<String>,
}

/// The bytes of the City and the ASN database described by `source` (TOML text).
pub fn build(source: &str) -> Result<(Vec<u8>, Vec<u8>), MakeError> {
    let source: Source = toml::from_str(source)?;
    let epoch = UNIX_EPOCH + Duration::from_secs(source.build_epoch);

    let mut city_records = Vec::new();
    for place in &source.places {
        let record = city_record(&source, place)?;
        for network in &place.networks {
            city_records.push((parse_network(network)?, record.clone()));
        }
    }
    let mut asn_records = Vec::new();
    for system in &source.systems {
        let record = Value::map([
            ("autonomous_system_number", Value::U32(system.number)),
            (
                "autonomous_system_organization",
                Value::from(system.organization.as_str()),
            ),
        ]);
        for network in &system.networks {
            asn_records.push((parse_network(network)?, record.clone()));
        }
    }

    let city = write_db(
        "GeoLite2-City",
        "logpipe test City database (illustrative data, not MaxMind's)",
        epoch,
        city_records,
    )?;
    let asn = write_db(
        "GeoLite2-ASN",
        "logpipe test ASN database (illustrative data, not MaxMind's)",
        epoch,
        asn_records,
    )?;
    Ok((city, asn))
}

/// Reads `source_path` and writes both databases into `out_dir`.
pub fn make(source_path: &Path, out_dir: &Path) -> Result<(), MakeError> {
    let text = std::fs::read_to_string(source_path).map_err(|e| MakeError::Read {
        path: source_path.display().to_string(),
        source: e,
    })?;
    let (city, asn) = build(&text)?;
    for (name, bytes) in [(CITY_FILE, city), (ASN_FILE, asn)] {
        let path = out_dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| MakeError::Write {
            path: path.display().to_string(),
            source: e,
        })?;
    }
    Ok(())
}

fn parse_network(text: &str) -> Result<IpNet, MakeError> {
    let net: IpNet = text
        .parse()
        .map_err(|e| MakeError::Source(format!("network `{text}`: {e}")))?;
    // A network written with host bits set is most likely a typo for another network.
    if net.trunc() != net {
        return Err(MakeError::Source(format!(
            "network `{text}` has host bits set (did you mean `{}`?)",
            net.trunc()
        )));
    }
    Ok(net)
}

fn names(en: &str) -> Value {
    Value::map([("en", Value::from(en))])
}

/// A GeoLite2-City record for `place`.
fn city_record(source: &Source, place: &Place) -> Result<Value, MakeError> {
    let country = source.countries.get(&place.country).ok_or_else(|| {
        MakeError::Source(format!(
            "place {:?}: unknown country `{}` (add it to [countries])",
            place.networks, place.country
        ))
    })?;
    let continent = source.continents.get(&country.continent).ok_or_else(|| {
        MakeError::Source(format!(
            "country `{}`: unknown continent `{}` (add it to [continents])",
            place.country, country.continent
        ))
    })?;

    let mut country_map = BTreeMap::new();
    country_map.insert("iso_code".to_owned(), Value::from(place.country.as_str()));
    country_map.insert("names".to_owned(), names(&country.name));
    if let Some(id) = country.geoname_id {
        country_map.insert("geoname_id".to_owned(), Value::U32(id));
    }
    if country.in_european_union {
        country_map.insert("is_in_european_union".to_owned(), Value::Bool(true));
    }
    let country_value = Value::Map(country_map);

    let mut continent_map = BTreeMap::new();
    continent_map.insert("code".to_owned(), Value::from(country.continent.as_str()));
    continent_map.insert("names".to_owned(), names(&continent.name));
    if let Some(id) = continent.geoname_id {
        continent_map.insert("geoname_id".to_owned(), Value::U32(id));
    }

    let mut record = BTreeMap::new();
    record.insert("continent".to_owned(), Value::Map(continent_map));
    record.insert("country".to_owned(), country_value.clone());
    // What a test database can say about registration: the same country.
    record.insert("registered_country".to_owned(), country_value);
    if !place.subdivisions.is_empty() {
        let subdivisions = place
            .subdivisions
            .iter()
            .map(|s| {
                Value::map([
                    ("iso_code", Value::from(s.iso_code.as_str())),
                    ("names", names(&s.name)),
                ])
            })
            .collect::<Vec<_>>();
        record.insert("subdivisions".to_owned(), Value::Array(subdivisions));
    }
    if let Some(city) = &place.city {
        record.insert("city".to_owned(), Value::map([("names", names(city))]));
    }
    if let Some(code) = &place.postal_code {
        record.insert(
            "postal".to_owned(),
            Value::map([("code", Value::from(code.as_str()))]),
        );
    }
    if let Some(l) = &place.location {
        record.insert(
            "location".to_owned(),
            Value::map([
                ("accuracy_radius", Value::U16(l.accuracy_radius)),
                ("latitude", Value::Double(l.latitude)),
                ("longitude", Value::Double(l.longitude)),
                ("time_zone", Value::from(l.time_zone.as_str())),
            ]),
        );
    }
    Ok(Value::Map(record))
}

fn write_db(
    database_type: &str,
    description: &str,
    epoch: std::time::SystemTime,
    mut records: Vec<(IpNet, Value)>,
) -> Result<Vec<u8>, MakeError> {
    // Wider networks first, so a more specific network written anywhere in the source wins
    // (the writer lets later inserts overwrite earlier ones).
    records.sort_by_key(|(net, _)| net.prefix_len());
    let mut writer = Writer::builder(database_type)
        .description(&[("en", description)])
        .build_epoch(epoch)
        // Like MaxMind's own databases: private and documentation ranges hold no data, and an
        // insert into one is an error in the source.
        .reserved_networks(ReservedNetworks::Excluded)
        .build();
    for (net, value) in records {
        writer
            .insert_value(net, value)
            .map_err(|e| MakeError::Mmdb {
                what: format!("{database_type}: network {net}"),
                source: e,
            })?;
    }
    writer.to_bytes().map_err(|e| MakeError::Mmdb {
        what: database_type.to_owned(),
        source: e,
    })
}

#[allow(dead_code)] // Unused where tests/geoip.rs includes this file for `build`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, out_dir] = args.as_slice() else {
        eprintln!("usage: make_geoip_db SOURCE.toml OUT_DIR");
        std::process::exit(2);
    };
    match make(Path::new(source), Path::new(out_dir)) {
        Ok(()) => println!(
            "wrote {} and {}",
            Path::new(out_dir).join(CITY_FILE).display(),
            Path::new(out_dir).join(ASN_FILE).display()
        ),
        Err(e) => {
            eprintln!("make_geoip_db: {e}");
            std::process::exit(1);
        }
    }
}
