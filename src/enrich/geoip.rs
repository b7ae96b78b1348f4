//! GeoIP enricher: where an address is and which network runs it, from MaxMind-format
//! databases (GeoIP2/GeoLite2 City and ASN, or files in the same layout).
//!
//! For each configured field `X.ip` (default `source.ip`) holding a public address, it writes
//! the ECS fields `X.geo.*` (location, continent, country, region, city, postal code, time
//! zone) and `X.as.*` (number, organization name). Addresses in private and other reserved
//! ranges are skipped (see `ranges`). Results, including "nothing known", are kept in a
//! bounded cache shared by the worker threads (`cache`), so repeated addresses cost no lookup,
//! and the last answers each thread used are kept in front of it, so the addresses a thread
//! sees again cost neither a lock nor a reference count.
//!
//! The databases are opened once at start; a missing or damaged file is a configuration
//! error. A background thread then checks every `reload_interval_ms` whether a file was
//! replaced or rewritten, and swaps in the new version (with a fresh cache) without a
//! restart; a new version that does not open is reported and the one in use is kept.

mod cache;
mod db;
mod ranges;

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Deserialize;

use crate::event::{Event, Text, Value};
use cache::Cache;
use db::{Check, Db, FileStamp, Kind};

/// `[enrich.geoip]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipConfig {
    /// Path of a GeoIP2/GeoLite2 City (or Country) database (`.mmdb`), relative to the
    /// current directory. Gives `X.geo.*`. At least one of `city_db` and `asn_db` is needed.
    pub city_db: Option<String>,
    /// Path of a GeoIP2/GeoLite2 ASN database (`.mmdb`), relative to the current directory.
    /// Gives `X.as.number` and `X.as.organization.name`.
    pub asn_db: Option<String>,
    /// IP fields to look up, each named `X.ip`; the results go beside them, under `X.geo`
    /// and `X.as`. A field may hold an IP value or a string (anything else is skipped).
    /// Default `["source.ip"]`.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Addresses whose results are kept (default 10000; 0 turns the cache off). Each worker
    /// thread also keeps the last 256 answers it used, in front of this cache.
    #[serde(default = "default_cache_size")]
    pub cache_size: usize,
    /// How often, in milliseconds, the database files are checked for a new version (a
    /// replaced or rewritten file), which is then loaded without a restart (default 60000;
    /// 0 never checks).
    #[serde(default = "default_reload_interval_ms")]
    pub reload_interval_ms: u64,
    /// Which results are written, named as under `X.`: `geo.location`, `geo.continent_code`,
    /// `geo.continent_name`, `geo.country_iso_code`, `geo.country_name`,
    /// `geo.region_iso_code`, `geo.region_name`, `geo.city_name`, `geo.postal_code`,
    /// `geo.timezone`, `as.number`, `as.organization.name`. Default: the document contract's
    /// `geo.location`, `geo.continent_name`, `geo.country_iso_code`, `geo.country_name`,
    /// `geo.region_name`, `geo.city_name`, `as.number` and `as.organization.name`. The others are
    /// off unless listed: a postal code in particular places a client more precisely than a
    /// truncated address does.
    #[serde(default)]
    pub properties: Option<Vec<String>>,
}

fn default_cache_size() -> usize {
    10_000
}

fn default_reload_interval_ms() -> u64 {
    60_000
}

/// The field looked up when `fields` is not given.
pub const DEFAULT_FIELD: &str = "source.ip";

#[derive(Debug, thiserror::Error)]
pub enum GeoipError {
    #[error("no database: set `city_db`, `asn_db` or both")]
    NoDatabase,
    #[error("`{key}` is empty: expected the path of a .mmdb file")]
    EmptyPath { key: &'static str },
    #[error("`fields`: {0}")]
    Fields(String),
    #[error("`{key}` = {path}: cannot read the database: {source}")]
    Read {
        key: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{key}` = {path}: not a valid MaxMind DB file: {source}")]
    Corrupt {
        key: &'static str,
        path: String,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
    #[error("`{key}` = {path}: is a `{database_type}` database, the wrong one for `{key}`")]
    WrongKind {
        key: &'static str,
        path: String,
        database_type: String,
    },
    #[error("`properties`: {0}")]
    Properties(String),
    #[error("cannot start the database reload thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The fields written for one looked-up address, as an index into a table of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Location = 0,
    ContinentCode,
    ContinentName,
    CountryIsoCode,
    CountryName,
    RegionIsoCode,
    RegionName,
    CityName,
    PostalCode,
    Timezone,
    AsNumber,
    AsOrganizationName,
}

const SLOTS: usize = 12;

/// A set of [`Slot`]s, one bit each.
type SlotSet = u16;

/// The results written when `properties` is not set: DESIGN.md's document contract.
const DEFAULT_PROPERTIES: SlotSet = 1 << Slot::Location as u16
    | 1 << Slot::ContinentName as u16
    | 1 << Slot::CountryIsoCode as u16
    | 1 << Slot::CountryName as u16
    | 1 << Slot::RegionName as u16
    | 1 << Slot::CityName as u16
    | 1 << Slot::AsNumber as u16
    | 1 << Slot::AsOrganizationName as u16;

/// The set named by `properties` (see [`GeoipConfig::properties`]).
fn properties(names: Option<&[String]>) -> Result<SlotSet, GeoipError> {
    let Some(names) = names else {
        return Ok(DEFAULT_PROPERTIES);
    };
    if names.is_empty() {
        return Err(GeoipError::Properties(
            "empty: name at least one result, or leave `properties` out for the default".into(),
        ));
    }
    let mut set = 0;
    for name in names {
        let slot = SUFFIXES
            .iter()
            .position(|suffix| suffix.strip_prefix('.') == Some(name.as_str()))
            .ok_or_else(|| {
                let known: Vec<&str> = SUFFIXES.iter().map(|s| &s[1..]).collect();
                GeoipError::Properties(format!(
                    "unknown `{name}`; expected one of {}",
                    known.join(", ")
                ))
            })?;
        set |= 1 << slot;
    }
    Ok(set)
}

/// The full field names for one prefix, in [`Slot`] order.
type Names = [&'static str; SLOTS];

macro_rules! names_for {
    ($prefix:literal) => {
        [
            concat!($prefix, ".geo.location"),
            concat!($prefix, ".geo.continent_code"),
            concat!($prefix, ".geo.continent_name"),
            concat!($prefix, ".geo.country_iso_code"),
            concat!($prefix, ".geo.country_name"),
            concat!($prefix, ".geo.region_iso_code"),
            concat!($prefix, ".geo.region_name"),
            concat!($prefix, ".geo.city_name"),
            concat!($prefix, ".geo.postal_code"),
            concat!($prefix, ".geo.timezone"),
            concat!($prefix, ".as.number"),
            concat!($prefix, ".as.organization.name"),
        ]
    };
}

/// Name suffixes, each starting with `.`.
static SUFFIXES: Names = names_for!("");
static SOURCE_NAMES: Names = names_for!("source");
static CLIENT_NAMES: Names = names_for!("client");
static DESTINATION_NAMES: Names = names_for!("destination");
static SERVER_NAMES: Names = names_for!("server");

/// The names written for the field `{prefix}.ip`. Event field names are `'static` (or owned,
/// which would mean an allocation per field per event), so the names of a prefix without a
/// table above are built once per process and kept for its lifetime.
fn names_for_prefix(prefix: &str) -> &'static Names {
    match prefix {
        "source" => &SOURCE_NAMES,
        "client" => &CLIENT_NAMES,
        "destination" => &DESTINATION_NAMES,
        "server" => &SERVER_NAMES,
        _ => {
            /// Prefixes whose names were built, with those names.
            type Built = Vec<(Box<str>, &'static Names)>;
            static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
            let mut built = BUILT
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, names)) = built.iter().find(|(p, _)| &**p == prefix) {
                return names;
            }
            let names: &'static Names =
                Box::leak(Box::new(SUFFIXES.map(|suffix| {
                    &*Box::leak(format!("{prefix}{suffix}").into_boxed_str())
                })));
            built.push((prefix.into(), names));
            names
        }
    }
}

/// What the databases say about one address, ready to be written under any prefix. Shared
/// through the cache: writing it to an event clones reference counts, not text.
#[derive(Debug, Default)]
struct Geo {
    values: Vec<(Slot, GeoValue)>,
}

/// One answer of the databases, held so that writing it into an event is a plain copy: names
/// interned for the life of the process (see `db::interned`), numbers inline.
#[derive(Debug, Clone, Copy, PartialEq)]
enum GeoValue {
    Text(&'static str),
    Int(i64),
    /// `{lat, lon}`, as ECS's `geo_point` object.
    Point {
        lat: f64,
        lon: f64,
    },
}

impl GeoValue {
    fn to_value(self) -> Value {
        match self {
            GeoValue::Text(s) => Value::Str(Text::Static(s)),
            GeoValue::Int(n) => Value::Int(n),
            GeoValue::Point { lat, lon } => Value::GeoPoint { lat, lon },
        }
    }
}

/// One configured field.
#[derive(Debug)]
struct Target {
    field: Box<str>,
    names: &'static Names,
}

/// The databases in use and the cache of their answers; replaced whole on a reload, so a
/// cache never mixes answers of two versions of a database.
struct Generation {
    city: Option<Arc<Db>>,
    asn: Option<Arc<Db>>,
    /// `None` for an address no database knows: nothing to count references of (an answer
    /// shared by every thread would have its count bounce between cores on every event).
    cache: Option<Cache<Option<Arc<Geo>>>>,
    /// A lookup failed (damaged record) and was reported; later failures are not, so a bad
    /// database cannot flood the log.
    failure_reported: AtomicBool,
    /// The results written (`properties`).
    wanted: SlotSet,
    /// Tells this generation's answers in a thread's front cache from another's.
    id: u64,
}

/// Slots of a thread's front cache (a power of two).
const FRONT_SLOTS: usize = 256;

/// A generation's id, an address, and what is known about it.
type FrontEntry = (u64, u128, Option<Arc<Geo>>);

thread_local! {
    /// The answers this thread used last, one per slot chosen by the address: a hit is read in
    /// place, with no lock taken and no reference count touched. Slots of a generation
    /// replaced by a reload are never hit again and are overwritten as the thread goes on.
    static FRONT: std::cell::RefCell<Vec<FrontEntry>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Generation {
    fn new(
        city: Option<Arc<Db>>,
        asn: Option<Arc<Db>>,
        cache_size: usize,
        wanted: SlotSet,
    ) -> Generation {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Generation {
            city,
            asn,
            cache: Cache::new(cache_size),
            failure_reported: AtomicBool::new(false),
            wanted,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// `f` of what is known about `ip`, from this thread's front cache when it has it.
    #[inline]
    fn with_resolved<R>(&self, ip: IpAddr, f: impl FnOnce(&Geo) -> R) -> Option<R> {
        let key = cache_key(ip);
        // Without the shared cache every answer is a fresh lookup: nothing to keep in front.
        if self.cache.is_none() {
            return self.resolve(ip).map(|geo| f(&geo));
        }
        let folded = (key as u64) ^ ((key >> 64) as u64);
        let slot = (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize & (FRONT_SLOTS - 1);
        FRONT.with(|front| {
            let Ok(mut front) = front.try_borrow_mut() else {
                return self.resolve(ip).map(|geo| f(&geo));
            };
            if front.is_empty() {
                front.resize(FRONT_SLOTS, (0, 0, None));
            }
            let entry = front.get_mut(slot)?;
            if entry.0 != self.id || entry.1 != key {
                *entry = (self.id, key, self.resolve(ip));
            }
            entry.2.as_deref().map(f)
        })
    }

    /// What is known about `ip` (an address [`ranges::lookup_address`] let through).
    #[inline]
    fn resolve(&self, ip: IpAddr) -> Option<Arc<Geo>> {
        let key = cache_key(ip);
        if let Some(cache) = &self.cache {
            if let Some(geo) = cache.get(key) {
                return geo;
            }
        }
        let geo = self.lookup(ip);
        if let Some(cache) = &self.cache {
            cache.insert(key, geo.clone());
        }
        geo
    }

    fn lookup(&self, ip: IpAddr) -> Option<Arc<Geo>> {
        let mut values = Vec::new();
        for db in [&self.city, &self.asn].into_iter().flatten() {
            if let Err(e) = db.lookup_into(ip, &mut values) {
                if !self.failure_reported.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "GeoIP: lookup of {ip} in {} failed: {e} (further failures of this \
                         database are not reported)",
                        db.path.display()
                    );
                }
            }
        }
        values.retain(|&(slot, _)| self.wanted & 1 << slot as u16 != 0);
        (!values.is_empty()).then(|| Arc::new(Geo { values }))
    }
}

/// An address as one number, IPv4 as its IPv6-mapped form.
fn cache_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// A database file and the version of it last tried.
struct Source {
    kind: Kind,
    path: PathBuf,
    stamp: FileStamp,
    /// The file was found missing and that was reported.
    missing_reported: bool,
}

struct Shared {
    /// In its own allocation, so each worker thread can keep a handle to it (see
    /// [`GeoipEnricher::with_current`]).
    current: Arc<ArcSwap<Generation>>,
    /// Only the reload thread uses this; the mutex makes `Shared` Sync.
    sources: Mutex<Vec<Source>>,
    cache_size: usize,
    wanted: SlotSet,
}

impl Shared {
    /// Loads every file that changed since it was last tried; swaps in a new generation when
    /// one loaded.
    fn check_reload(&self) {
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.current.load_full();
        let (mut city, mut asn) = (current.city.clone(), current.asn.clone());
        let mut changed = false;
        for source in sources.iter_mut() {
            let stamp = match FileStamp::current(&source.path) {
                Ok(s) => s,
                Err(e) => {
                    if !source.missing_reported {
                        tracing::warn!(
                            "GeoIP: `{}` = {}: {e}; keeping the database loaded before",
                            source.kind.key(),
                            source.path.display()
                        );
                        source.missing_reported = true;
                    }
                    continue;
                }
            };
            source.missing_reported = false;
            if stamp == source.stamp {
                continue;
            }
            // Remembered even when the new version fails to open: it is retried once it
            // changes again, not at every check.
            source.stamp = stamp;
            match Db::open(source.kind, &source.path, Check::Full) {
                Ok((db, opened)) => {
                    source.stamp = opened;
                    tracing::info!(
                        "GeoIP: reloaded {} ({})",
                        source.path.display(),
                        db.describe()
                    );
                    let db = Some(Arc::new(db));
                    match source.kind {
                        Kind::City => city = db,
                        Kind::Asn => asn = db,
                    }
                    changed = true;
                }
                Err(e) => {
                    tracing::warn!("GeoIP: {e}; keeping the database loaded before");
                }
            }
        }
        if changed {
            self.current.store(Arc::new(Generation::new(
                city,
                asn,
                self.cache_size,
                self.wanted,
            )));
        }
    }
}

/// The reload thread, stopped by dropping this. Not joined: a reload under way (a full
/// verification takes seconds) would hold up shutdown; the thread ends after it instead.
struct Watcher {
    _stop: mpsc::Sender<()>,
}

impl Watcher {
    fn spawn(shared: Arc<Shared>, interval: Duration) -> Result<Watcher, GeoipError> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("geoip-reload".into())
            .spawn(move || {
                // Sleeps until the interval passes (check) or the sender is dropped (stop).
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    shared.check_reload();
                }
            })
            .map_err(GeoipError::Thread)?;
        Ok(Watcher { _stop: stop })
    }
}

pub struct GeoipEnricher {
    shared: Arc<Shared>,
    targets: Box<[Target]>,
    _watcher: Option<Watcher>,
}

impl std::fmt::Debug for GeoipEnricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.shared.current.load();
        f.debug_struct("GeoipEnricher")
            .field("city", &current.city)
            .field("asn", &current.asn)
            .field("targets", &self.targets)
            .field("cache_size", &self.shared.cache_size)
            .finish()
    }
}

impl GeoipEnricher {
    pub fn open(config: &GeoipConfig) -> Result<GeoipEnricher, GeoipError> {
        let targets = targets(config.fields.as_deref())?;
        let wanted = properties(config.properties.as_deref())?;
        let mut sources = Vec::new();
        let (mut city, mut asn) = (None, None);
        for (kind, path) in [(Kind::City, &config.city_db), (Kind::Asn, &config.asn_db)] {
            let Some(path) = path else { continue };
            if path.trim().is_empty() {
                return Err(GeoipError::EmptyPath { key: kind.key() });
            }
            let path = Path::new(path);
            let (db, stamp) = Db::open(kind, path, Check::Quick)?;
            tracing::info!("GeoIP: {} ({})", path.display(), db.describe());
            let db = Some(Arc::new(db));
            match kind {
                Kind::City => city = db,
                Kind::Asn => asn = db,
            }
            sources.push(Source {
                kind,
                path: path.to_path_buf(),
                stamp,
                missing_reported: false,
            });
        }
        if sources.is_empty() {
            return Err(GeoipError::NoDatabase);
        }
        let shared = Arc::new(Shared {
            current: Arc::new(ArcSwap::from_pointee(Generation::new(
                city,
                asn,
                config.cache_size,
                wanted,
            ))),
            sources: Mutex::new(sources),
            cache_size: config.cache_size,
            wanted,
        });
        let watcher = match config.reload_interval_ms {
            0 => None,
            ms => Some(Watcher::spawn(shared.clone(), Duration::from_millis(ms))?),
        };
        Ok(GeoipEnricher {
            shared,
            targets,
            _watcher: watcher,
        })
    }

    /// Adds the GeoIP fields for every configured IP field of `event` that holds a public
    /// address.
    pub fn apply(&self, event: &mut Event) {
        for target in self.targets.iter() {
            let Some(ip) = field_ip(event, &target.field).and_then(ranges::lookup_address) else {
                continue;
            };
            let names = target.names;
            let fields = &mut event.fields;
            self.with_current(|generation| {
                generation.with_resolved(ip, |geo| {
                    fields.extend(geo.values.iter().map(|&(slot, value)| {
                        (Cow::Borrowed(names[slot as usize]), value.to_value())
                    }))
                })
            });
        }
    }

    /// `f` of the generation in use, through this thread's handle to it: checking that a
    /// handle is current is a plain load, where loading the generation afresh takes atomic
    /// read-modify-writes on every event. A handle keeps the generation it last saw until
    /// its thread's next event, so a database replaced on disk is released by each worker
    /// on its next event after the reload. A dropped enricher's handles (and so its
    /// databases) live on until their thread ends or has met `MAX` other enrichers: worker
    /// threads end with their pipeline, so only a thread that builds enrichers over and over
    /// (a test) meets that bound.
    fn with_current<R>(&self, f: impl FnOnce(&Generation) -> R) -> R {
        /// Enrichers a thread keeps handles for; past this (tests building many) it starts
        /// over.
        const MAX: usize = 16;
        type Handle = arc_swap::Cache<Arc<ArcSwap<Generation>>, Arc<Generation>>;
        thread_local! {
            static HANDLES: std::cell::RefCell<Vec<Handle>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        let current = &self.shared.current;
        HANDLES.with(|cell| {
            let Ok(mut handles) = cell.try_borrow_mut() else {
                return f(&current.load());
            };
            let at = match handles
                .iter()
                .position(|h| std::ptr::eq(h.arc_swap(), &**current))
            {
                Some(at) => at,
                None => {
                    if handles.len() >= MAX {
                        handles.clear();
                    }
                    handles.push(arc_swap::Cache::new(current.clone()));
                    handles.len() - 1
                }
            };
            match handles.get_mut(at) {
                Some(handle) => f(handle.load()),
                None => f(&current.load()),
            }
        })
    }
}

/// The address in field `name`: an IP value, or a string that parses as one.
#[inline]
fn field_ip(event: &Event, name: &str) -> Option<IpAddr> {
    match event.get(name)? {
        Value::Ip(ip) => Some(*ip),
        Value::Str(text) => event.text(text).parse().ok(),
        _ => None,
    }
}

fn targets(fields: Option<&[String]>) -> Result<Box<[Target]>, GeoipError> {
    let fields: Vec<&str> = match fields {
        None => vec![DEFAULT_FIELD],
        Some([]) => {
            return Err(GeoipError::Fields(
                "empty: name at least one IP field (default `source.ip`)".into(),
            ))
        }
        Some(list) => list.iter().map(String::as_str).collect(),
    };
    let mut targets: Vec<Target> = Vec::with_capacity(fields.len());
    for field in fields {
        let prefix = field
            .strip_suffix(".ip")
            .filter(|p| !p.is_empty() && !p.starts_with('.') && !p.ends_with('.'))
            .ok_or_else(|| {
                GeoipError::Fields(format!(
                    "`{field}` is not named `X.ip` (the results are written beside it, as \
                     `X.geo.*` and `X.as.*`)"
                ))
            })?;
        if targets.iter().any(|t| &*t.field == field) {
            continue;
        }
        targets.push(Target {
            field: field.into(),
            names: names_for_prefix(prefix),
        });
    }
    Ok(targets.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{RecordOrigin, Text};

    fn test_db(name: &str) -> String {
        format!("{}/geoip/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn config(fields: Option<&[&str]>, cache_size: usize) -> GeoipConfig {
        GeoipConfig {
            city_db: Some(test_db("test-city.mmdb")),
            asn_db: Some(test_db("test-asn.mmdb")),
            fields: fields.map(|f| f.iter().map(|s| s.to_string()).collect()),
            cache_size,
            reload_interval_ms: 0,
            properties: Some(all_properties()),
        }
    }

    fn all_properties() -> Vec<String> {
        SUFFIXES.iter().map(|s| s[1..].to_string()).collect()
    }

    fn names_added(g: &GeoipEnricher, address: &str) -> Vec<String> {
        let mut e = event_with("source.ip", ip(address));
        g.apply(&mut e);
        let mut names: Vec<String> = e.fields[1..].iter().map(|(n, _)| n.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn by_default_only_the_document_contract_is_written() {
        let mut c = config(None, 100);
        c.properties = None;
        let g = GeoipEnricher::open(&c).unwrap();
        assert_eq!(
            names_added(&g, "216.160.83.58"),
            [
                "source.as.number",
                "source.as.organization.name",
                "source.geo.city_name",
                "source.geo.continent_name",
                "source.geo.country_iso_code",
                "source.geo.country_name",
                "source.geo.location",
                "source.geo.region_name",
            ]
        );
        c.properties = Some(vec!["geo.postal_code".into(), "as.number".into()]);
        let g = GeoipEnricher::open(&c).unwrap();
        assert_eq!(
            names_added(&g, "216.160.83.58"),
            ["source.as.number", "source.geo.postal_code"]
        );
        // Only AS data is known for this address, and it is not wanted: nothing is written.
        c.properties = Some(vec!["geo.city_name".into()]);
        let g = GeoipEnricher::open(&c).unwrap();
        assert!(names_added(&g, "1.1.1.1").is_empty());
    }

    #[test]
    fn unknown_or_no_properties_are_configuration_errors() {
        let mut c = config(None, 10);
        c.properties = Some(vec!["geo.city".into()]);
        let err = GeoipEnricher::open(&c).unwrap_err().to_string();
        assert!(
            err.starts_with("`properties`: unknown `geo.city`; expected one of geo.location, "),
            "{err}"
        );
        c.properties = Some(Vec::new());
        let err = GeoipEnricher::open(&c).unwrap_err();
        assert!(matches!(err, GeoipError::Properties(_)), "{err}");
    }

    fn event_with(field: &str, value: Value) -> Event {
        let mut e = Event::new(String::new(), RecordOrigin::default());
        e.push(field.to_string(), value);
        e
    }

    fn ip(s: &str) -> Value {
        Value::Ip(s.parse().unwrap())
    }

    #[test]
    fn slot_order_matches_the_name_tables() {
        let slots = [
            (Slot::Location, ".geo.location"),
            (Slot::ContinentCode, ".geo.continent_code"),
            (Slot::ContinentName, ".geo.continent_name"),
            (Slot::CountryIsoCode, ".geo.country_iso_code"),
            (Slot::CountryName, ".geo.country_name"),
            (Slot::RegionIsoCode, ".geo.region_iso_code"),
            (Slot::RegionName, ".geo.region_name"),
            (Slot::CityName, ".geo.city_name"),
            (Slot::PostalCode, ".geo.postal_code"),
            (Slot::Timezone, ".geo.timezone"),
            (Slot::AsNumber, ".as.number"),
            (Slot::AsOrganizationName, ".as.organization.name"),
        ];
        assert_eq!(slots.len(), SLOTS);
        for (slot, suffix) in slots {
            assert_eq!(SUFFIXES[slot as usize], suffix);
            assert_eq!(SOURCE_NAMES[slot as usize], format!("source{suffix}"));
            assert_eq!(CLIENT_NAMES[slot as usize], format!("client{suffix}"));
            assert_eq!(
                DESTINATION_NAMES[slot as usize],
                format!("destination{suffix}")
            );
        }
    }

    #[test]
    fn other_prefixes_get_their_names_once() {
        let a = names_for_prefix("nginx.access.upstream");
        let b = names_for_prefix("nginx.access.upstream");
        assert!(std::ptr::eq(a, b));
        assert_eq!(
            a[Slot::CityName as usize],
            "nginx.access.upstream.geo.city_name"
        );
        assert!(std::ptr::eq(names_for_prefix("source"), &SOURCE_NAMES));
    }

    #[test]
    fn configuration_errors() {
        let mut c = config(None, 10);
        c.city_db = None;
        c.asn_db = None;
        assert!(matches!(
            GeoipEnricher::open(&c),
            Err(GeoipError::NoDatabase)
        ));

        for bad in [
            &[][..],
            &["source"],
            &["source.address"],
            &[".ip"],
            &["a..ip"],
        ] {
            let err = GeoipEnricher::open(&config(Some(bad), 10)).unwrap_err();
            assert!(matches!(err, GeoipError::Fields(_)), "{bad:?}: {err}");
        }

        let mut c = config(None, 10);
        c.city_db = Some(" ".into());
        let err = GeoipEnricher::open(&c).unwrap_err().to_string();
        assert_eq!(err, "`city_db` is empty: expected the path of a .mmdb file");
    }

    #[test]
    fn the_two_files_cannot_be_swapped() {
        let mut c = config(None, 10);
        c.city_db = Some(test_db("test-asn.mmdb"));
        c.asn_db = None;
        let err = GeoipEnricher::open(&c).unwrap_err().to_string();
        assert!(err.starts_with("`city_db` = "), "{err}");
        assert!(
            err.ends_with(
                "test-asn.mmdb: is a `GeoLite2-ASN` database, the wrong one for `city_db`"
            ),
            "{err}"
        );
        let mut c = config(None, 10);
        c.asn_db = Some(test_db("test-city.mmdb"));
        let err = GeoipEnricher::open(&c).unwrap_err().to_string();
        assert!(err.contains("is a `GeoLite2-City` database"), "{err}");
    }

    #[test]
    fn writes_city_and_as_fields_for_a_public_address() {
        let g = GeoipEnricher::open(&config(None, 100)).unwrap();
        let mut e = event_with("source.ip", ip("216.160.83.58"));
        g.apply(&mut e);
        let s = |n: &str| e.get_str(n).map(str::to_owned);
        assert_eq!(s("source.geo.city_name").as_deref(), Some("Seattle"));
        assert_eq!(s("source.geo.region_iso_code").as_deref(), Some("US-WA"));
        assert_eq!(s("source.geo.region_name").as_deref(), Some("Washington"));
        assert_eq!(s("source.geo.country_iso_code").as_deref(), Some("US"));
        assert_eq!(s("source.geo.continent_code").as_deref(), Some("NA"));
        assert_eq!(
            s("source.geo.timezone").as_deref(),
            Some("America/Los_Angeles")
        );
        assert_eq!(e.get("source.as.number"), Some(&Value::Int(209)));
        assert_eq!(
            e.get("source.geo.location"),
            Some(&Value::GeoPoint {
                lat: 47.6062,
                lon: -122.3321
            })
        );
    }

    #[test]
    fn most_specific_subdivision_is_the_region() {
        let g = GeoipEnricher::open(&config(None, 100)).unwrap();
        let mut e = event_with("source.ip", ip("80.58.61.250"));
        g.apply(&mut e);
        assert_eq!(e.get_str("source.geo.region_iso_code"), Some("ES-M"));
        assert_eq!(
            e.get_str("source.geo.region_name"),
            Some("Provincia de Madrid")
        );
    }

    #[test]
    fn strings_are_parsed_and_other_values_skipped() {
        let g = GeoipEnricher::open(&config(Some(&["client.ip"]), 100)).unwrap();
        let mut e = Event::new("x 89.160.20.128 y".into(), RecordOrigin::default());
        e.push("client.ip", Value::Str(Text::Span { start: 2, end: 15 }));
        g.apply(&mut e);
        assert_eq!(e.get_str("client.geo.city_name"), Some("Linköping"));

        for value in [
            Value::Int(1),
            Value::owned_str("89.160.20.128 "),
            Value::owned_str("not an address"),
            Value::Array(vec![ip("89.160.20.128")]),
        ] {
            let mut e = event_with("client.ip", value);
            let before = e.fields.len();
            g.apply(&mut e);
            assert_eq!(e.fields.len(), before);
        }
    }

    #[test]
    fn cached_and_uncached_answers_agree() {
        let cached = GeoipEnricher::open(&config(None, 100)).unwrap();
        let uncached = GeoipEnricher::open(&config(None, 0)).unwrap();
        for addr in [
            "81.2.69.142",
            "2a02:c7f:d8a0::1",
            "1.1.1.1",
            "10.0.0.1",
            "9.9.9.9",
        ] {
            let mut runs = Vec::new();
            for g in [&cached, &cached, &uncached] {
                let mut e = event_with("source.ip", ip(addr));
                g.apply(&mut e);
                runs.push(e.fields);
            }
            assert_eq!(runs[0], runs[1], "{addr}");
            assert_eq!(runs[0], runs[2], "{addr}");
        }
    }

    #[test]
    fn enricher_is_shareable_between_threads() {
        fn is_sync<T: Send + Sync>() {}
        is_sync::<GeoipEnricher>();
    }
}
