//! One database file: read whole into memory, checked, and asked about one address at a time.
//!
//! The file is read rather than memory-mapped: an updater that rewrites the file in place
//! (instead of replacing it) would otherwise change the bytes under a running lookup, or cut
//! them off (SIGBUS). A GeoLite2 City database is some 60 MB, so this costs memory, not time.
//!
//! Opening checks what can be checked quickly: the metadata, the layout of the sections, and
//! lookups of addresses spread over the IPv4 and IPv6 space, each decoded as the enricher
//! decodes records. That refuses truncated, garbage and mixed-up files at start. A new version
//! found by the reload thread is verified in full as well (every node and record, some
//! seconds for a GeoLite2 City file, which would otherwise delay every start), since it is
//! about to replace a database that works: damage there must keep the old one in use.
//!
//! Records are decoded into small borrowed structs that name only what the enricher writes,
//! in English (`names.en`), so the other languages and fields of a GeoIP2 record are skipped
//! rather than decoded.

use std::collections::HashSet;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use maxminddb::{MaxMindDbError, Reader};
use serde::Deserialize;

use super::{GeoValue, GeoipError, Slot};

/// How thoroughly a file is checked when opened (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    Quick,
    Full,
}

/// Which of the two databases a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    City,
    Asn,
}

impl Kind {
    /// The configuration key naming the file.
    pub(super) fn key(self) -> &'static str {
        match self {
            Kind::City => "city_db",
            Kind::Asn => "asn_db",
        }
    }
}

/// What identifies one version of a file on disk: a replaced file (new inode), a rewritten
/// one (new mtime or length) both differ from the version opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    dev: u64,
    ino: u64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            dev,
            ino,
        }
    }

    /// The stamp of what `path` names now (following symbolic links, so a link switched to a
    /// new file counts as a change).
    pub(super) fn current(path: &Path) -> std::io::Result<FileStamp> {
        std::fs::metadata(path).map(|m| FileStamp::of(&m))
    }
}

pub(super) struct Db {
    reader: Reader<Vec<u8>>,
    pub(super) kind: Kind,
    pub(super) path: PathBuf,
    /// False for an IPv4-only database, which cannot be asked about IPv6 addresses.
    ipv6: bool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("kind", &self.kind)
            .field("path", &self.path)
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

impl Db {
    /// Opens and checks `path` as a database of `kind`; also returns the stamp of the version
    /// read (taken before reading, so a file changed while being read is seen as changed
    /// again at the next check).
    pub(super) fn open(
        kind: Kind,
        path: &Path,
        check: Check,
    ) -> Result<(Db, FileStamp), GeoipError> {
        let key = kind.key();
        let shown = || path.display().to_string();
        let read_error = |source| GeoipError::Read {
            key,
            path: shown(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        let meta = file.metadata().map_err(read_error)?;
        if !meta.is_file() {
            return Err(GeoipError::Read {
                key,
                path: shown(),
                source: std::io::Error::other("not a regular file"),
            });
        }
        let stamp = FileStamp::of(&meta);
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes).map_err(read_error)?;
        let corrupt = |source| GeoipError::Corrupt {
            key,
            path: shown(),
            source,
        };
        let reader = Reader::from_source(bytes).map_err(corrupt)?;
        if check == Check::Full {
            reader.verify().map_err(corrupt)?;
        }

        let database_type = &reader.metadata().database_type;
        // Refuse only the obvious mix-up of the two files; other vendors' City-like and
        // ASN-like databases in the GeoIP2 layout have types of their own and work.
        let mixed_up = match kind {
            Kind::City => database_type.contains("ASN") && !database_type.contains("City"),
            Kind::Asn => database_type.contains("City") || database_type.contains("Country"),
        };
        if mixed_up {
            return Err(GeoipError::WrongKind {
                key,
                path: shown(),
                database_type: database_type.clone(),
            });
        }
        let ipv6 = reader.metadata().ip_version == 6;
        let db = Db {
            reader,
            kind,
            path: path.to_path_buf(),
            ipv6,
        };
        db.probe().map_err(corrupt)?;
        Ok((db, stamp))
    }

    /// Looks up and decodes addresses spread over the whole address space.
    fn probe(&self) -> Result<(), MaxMindDbError> {
        let mut scratch = Vec::new();
        for i in 0..=255u8 {
            let v4 = std::net::Ipv4Addr::new(i, i.wrapping_mul(37), 91, 5);
            self.lookup_into(IpAddr::V4(v4), &mut scratch)?;
            // Global unicast IPv6 is 2000::/3.
            let v6 =
                std::net::Ipv6Addr::new(0x2000 | (u16::from(i) << 5), 0x1234, 0, 0, 0, 0, 0, 1);
            self.lookup_into(IpAddr::V6(v6), &mut scratch)?;
            scratch.clear();
        }
        Ok(())
    }

    /// `database_type` and build date, for log lines.
    pub(super) fn describe(&self) -> String {
        let meta = self.reader.metadata();
        let built = i64::try_from(meta.build_epoch)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map(|t| t.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| meta.build_epoch.to_string());
        format!("{}, built {built}", meta.database_type)
    }

    /// Appends what the database says about `ip` to `out`, as (slot, value) pairs.
    pub(super) fn lookup_into(
        &self,
        ip: IpAddr,
        out: &mut Vec<(Slot, GeoValue)>,
    ) -> Result<(), MaxMindDbError> {
        if ip.is_ipv6() && !self.ipv6 {
            return Ok(());
        }
        let result = self.reader.lookup(ip)?;
        match self.kind {
            Kind::City => {
                if let Some(record) = result.decode::<CityRecord<'_>>()? {
                    record.push_into(out);
                }
            }
            Kind::Asn => {
                if let Some(record) = result.decode::<AsnRecord<'_>>()? {
                    if let Some(n) = record.autonomous_system_number {
                        out.push((Slot::AsNumber, GeoValue::Int(i64::from(n))));
                    }
                    push_str(
                        out,
                        Slot::AsOrganizationName,
                        record.autonomous_system_organization,
                    );
                }
            }
        }
        Ok(())
    }
}

/// `s`, kept for the life of the process, once per distinct text. Names from the databases
/// (cities, regions, countries, networks' owners) go into every located event: as shared
/// strings each copy and drop would update a reference count from every worker thread. They
/// are interned only when an address is looked up in a database (a cache miss), so the set
/// holds the names of the places actually seen, at most the databases' own name lists (about
/// 200,000 names, some 10 MiB with the set's overhead, for GeoLite2 City and ASN together if
/// every one of them is seen), and a reloaded database adds only the names that are new.
fn interned(s: &str) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    // A panic elsewhere while holding the lock leaves the set intact: it is only inserted to.
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let names = names.get_or_insert_with(HashSet::new);
    if let Some(known) = names.get(s) {
        return known;
    }
    let leaked: &'static str = Box::leak(Box::from(s));
    names.insert(leaked);
    leaked
}

fn push_str(out: &mut Vec<(Slot, GeoValue)>, slot: Slot, s: Option<&str>) {
    if let Some(s) = s.filter(|s| !s.is_empty()) {
        out.push((slot, GeoValue::Text(interned(s))));
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Named<'a> {
    #[serde(borrow)]
    names: Names<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Coded<'a> {
    #[serde(borrow)]
    code: Option<&'a str>,
    #[serde(borrow)]
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: Names<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Location<'a> {
    latitude: Option<f64>,
    longitude: Option<f64>,
    #[serde(borrow)]
    time_zone: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Postal<'a> {
    #[serde(borrow)]
    code: Option<&'a str>,
}

/// The part of a GeoIP2/GeoLite2 City (or Country) record the enricher writes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CityRecord<'a> {
    #[serde(borrow)]
    city: Named<'a>,
    #[serde(borrow)]
    continent: Coded<'a>,
    #[serde(borrow)]
    country: Coded<'a>,
    #[serde(borrow)]
    location: Location<'a>,
    #[serde(borrow)]
    postal: Postal<'a>,
    /// Most general first (state, then county, ...).
    #[serde(borrow)]
    subdivisions: Vec<Coded<'a>>,
}

impl CityRecord<'_> {
    fn push_into(&self, out: &mut Vec<(Slot, GeoValue)>) {
        if let (Some(lat), Some(lon)) = (self.location.latitude, self.location.longitude) {
            out.push((Slot::Location, GeoValue::Point { lat, lon }));
        }
        push_str(out, Slot::ContinentCode, self.continent.code);
        push_str(out, Slot::ContinentName, self.continent.names.en);
        let country_iso = self.country.iso_code.filter(|s| !s.is_empty());
        push_str(out, Slot::CountryIsoCode, country_iso);
        push_str(out, Slot::CountryName, self.country.names.en);
        // The most specific subdivision, as Elasticsearch's geoip processor does; its ISO
        // code is written the ECS way, prefixed with the country's (`US-WA`).
        if let Some(region) = self.subdivisions.last() {
            if let (Some(country), Some(code)) =
                (country_iso, region.iso_code.filter(|s| !s.is_empty()))
            {
                out.push((
                    Slot::RegionIsoCode,
                    GeoValue::Text(interned(&format!("{country}-{code}"))),
                ));
            }
            push_str(out, Slot::RegionName, region.names.en);
        }
        push_str(out, Slot::CityName, self.city.names.en);
        push_str(out, Slot::PostalCode, self.postal.code);
        push_str(out, Slot::Timezone, self.location.time_zone);
    }
}

/// A GeoLite2-ASN record (also the AS part of a GeoIP2 ISP record).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("geoip")
            .join(name)
    }

    #[test]
    fn full_check_refuses_damage_the_quick_one_may_miss() {
        let good = committed("test-city.mmdb");
        let (db, _) = Db::open(Kind::City, &good, Check::Full).unwrap();
        let meta = db.reader.metadata();
        let tree_len = meta.node_count as usize * meta.record_size as usize / 4;
        let mut bytes = std::fs::read(&good).unwrap();
        // Every record of the data section (after the tree and 16 separator bytes) turned
        // into 0xff bytes: an "extended type" marker followed by types that do not exist.
        let marker = b"\xab\xcd\xefMaxMind.com";
        let metadata = bytes
            .windows(marker.len())
            .rposition(|w| w == marker)
            .unwrap();
        bytes[tree_len + 16..metadata].fill(0xff);
        let dir = tempfile::tempdir().unwrap();
        let damaged = dir.path().join("damaged.mmdb");
        std::fs::write(&damaged, &bytes).unwrap();
        let err = Db::open(Kind::City, &damaged, Check::Full).unwrap_err();
        assert!(matches!(err, GeoipError::Corrupt { .. }), "{err}");
    }
}
