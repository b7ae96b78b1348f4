//! The plan of a reprocess run: which files the arguments name, which input's parser and
//! record assembly each gets (the input whose `paths` match it, else `--format`), its stream
//! key, whether an earlier run finished it, and the units it is read in.
//!
//! Stream keys are functions of content, never of the run (see the parent module): the key the
//! live file input gave the same content (its checkpoints, by fingerprint), else the key an
//! earlier reprocess gave a shorter version of the file (the journal), else a hash of the
//! file's first KiB (decompressed, so `x.log` and its rotated `x.log.1.gz` get the same key).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::journal::Journal;
use super::{io_error, split, ReprocessError, ReprocessOptions};
use crate::config::PipelineConfig;
use crate::input::assemble::AssemblyRules;
use crate::input::checkpoint::CheckpointStore;
use crate::input::file::{fingerprint, is_gz_path, read_head, PathFields};
use crate::output::Encoder;
use crate::pipeline::worker::Chain;
use crate::pipeline::{build_chains, PipelineError};

/// Seed of the stream keys derived from content, so they differ from plain fingerprints.
const CONTENT_KEY_SEED: u64 = 0x7265_7072_6f63_6573;

/// Where the files' records go through: a pipeline input's chain and record assembly, or the
/// `--format` parser's.
pub(super) struct Source {
    pub(super) chain: Chain,
    pub(super) rules: AssemblyRules,
    pub(super) max_line_bytes: usize,
    pub(super) path_fields: Option<PathFields>,
    /// Full-path patterns, the patterns' last components (for archives kept elsewhere), and
    /// exclusions.
    pub(super) globs: Vec<glob::Pattern>,
    pub(super) names: Vec<glob::Pattern>,
    pub(super) exclude: Vec<glob::Pattern>,
}

pub(super) struct PlannedFile {
    pub(super) path: PathBuf,
    pub(super) display: Arc<str>,
    pub(super) gz: bool,
    pub(super) size: u64,
    pub(super) fingerprint: u64,
    pub(super) fingerprint_len: usize,
    pub(super) stream_key: u64,
    pub(super) key_from: &'static str,
    pub(super) source: usize,
    /// Finished by an earlier run (and no `--force`).
    pub(super) skip: bool,
}

/// A piece of reading: a range of a plain file, or a whole `.gz`.
pub(super) struct Unit {
    pub(super) file: usize,
    pub(super) range: Option<std::ops::Range<u64>>,
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Files named by the arguments: files as they are, directories walked (hidden entries left
/// out), globs expanded; sorted, each once.
pub(super) fn expand_paths(args: &[String]) -> Result<Vec<PathBuf>, ReprocessError> {
    let mut out = Vec::new();
    for arg in args {
        let p = Path::new(arg);
        if p.exists() {
            walk(p, &mut out).map_err(io_error(p))?;
        } else if has_glob_chars(arg) {
            let paths = glob::glob(arg)
                .map_err(|e| ReprocessError::Usage(format!("invalid glob `{arg}`: {e}")))?;
            let before = out.len();
            for p in paths.flatten() {
                walk(&p, &mut out).map_err(io_error(&p))?;
            }
            if out.len() == before {
                return Err(ReprocessError::Usage(format!("`{arg}` matches no file")));
            }
        } else {
            return Err(ReprocessError::Usage(format!(
                "{arg}: no such file or directory"
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    out.sort();
    Ok(out)
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(p)?;
    if meta.is_file() {
        out.push(p.to_path_buf());
    } else if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            walk(&e, out)?;
        }
    }
    Ok(())
}

pub(super) fn build_sources(
    config: &PipelineConfig,
    encoder: &Arc<dyn Encoder>,
    options: &ReprocessOptions,
) -> Result<Vec<Source>, ReprocessError> {
    let chains = build_chains(config, encoder)?;
    let mut sources = Vec::new();
    let mut template = None;
    for (spec, chain) in config.inputs.iter().zip(chains) {
        let Some(files) = spec.config.file_source() else {
            template.get_or_insert((
                chain.host_name.clone(),
                chain.enrich.clone(),
                chain.anonymize.clone(),
                chain.tag.clone(),
            ));
            continue;
        };
        template.get_or_insert((
            chain.host_name.clone(),
            chain.enrich.clone(),
            chain.anonymize.clone(),
            chain.tag.clone(),
        ));
        let rules = AssemblyRules::new(
            Some(chain.parser.clone()),
            spec.common.envelope.or(spec.config.default_envelope()),
            spec.common.max_line_bytes,
        )
        .with_multiline(spec.common.multiline.as_ref())
        .map_err(|message| PipelineError::Parser {
            input: spec.id.clone(),
            message,
        })?;
        let compile = |list: &[String]| -> Vec<glob::Pattern> {
            list.iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect()
        };
        let names = files
            .paths
            .iter()
            .filter_map(|p| {
                Path::new(p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .filter_map(|n| glob::Pattern::new(&n).ok())
            .collect();
        sources.push(Source {
            chain,
            rules,
            max_line_bytes: spec.common.max_line_bytes,
            path_fields: files.path_fields,
            globs: compile(&files.paths),
            names,
            exclude: compile(&files.exclude),
        });
    }
    if let Some(format) = &options.format {
        let parser_options = crate::parse::ParserOptions {
            timezone: options.timezone.clone(),
            ..Default::default()
        };
        let parser: Arc<dyn crate::parse::Parser> = crate::parse::build(format, &parser_options)
            .map(Arc::from)
            .map_err(|e| ReprocessError::Usage(format!("--format {format}: {e}")))?;
        let Some((host_name, enrich, anonymize, tag)) = template else {
            return Err(ReprocessError::Usage("the pipeline has no inputs".into()));
        };
        let max = crate::config::default_max_line_bytes();
        sources.push(Source {
            rules: AssemblyRules::new(Some(parser.clone()), None, max),
            chain: Chain {
                parser,
                dataset: None,
                host_name,
                enrich,
                anonymize,
                tag,
                encoder: encoder.clone(),
            },
            max_line_bytes: max,
            path_fields: None,
            globs: Vec::new(),
            names: vec![glob::Pattern::new("*").map_err(|e| ReprocessError::Usage(e.to_string()))?],
            exclude: Vec::new(),
        });
    }
    Ok(sources)
}

/// The source whose input reads `path`: a full-path match first, then a match of the file name
/// against the patterns' last components (archives copied elsewhere keep their names).
pub(super) fn match_source(sources: &[Source], path: &Path) -> Option<usize> {
    let canonical = std::fs::canonicalize(path).ok();
    let given = path.strip_prefix("./").unwrap_or(path);
    let candidates: Vec<&Path> = std::iter::once(given).chain(canonical.as_deref()).collect();
    let excluded = |s: &Source| {
        candidates
            .iter()
            .any(|p| s.exclude.iter().any(|x| x.matches_path(p)))
    };
    let full = sources.iter().position(|s| {
        !excluded(s)
            && candidates
                .iter()
                .any(|p| s.globs.iter().any(|g| g.matches_path(p)))
    });
    if full.is_some() {
        return full;
    }
    let name = path.file_name()?.to_string_lossy().into_owned();
    sources
        .iter()
        .position(|s| !excluded(s) && s.names.iter().any(|g| g.matches(&name)))
}

/// The stream key of a file: the live input's (by checkpoint fingerprint), an earlier
/// reprocess's (by journal), or one derived from the head.
pub(super) fn stream_key(
    head: &[u8],
    stores: &[CheckpointStore],
    journal: Option<&Journal>,
) -> (u64, &'static str) {
    if !head.is_empty() {
        let fp = fingerprint(head);
        if let Some((_, e)) = stores
            .iter()
            .find_map(|s| s.find_by_fingerprint(fp, head.len(), false))
        {
            return (e.stream_key, "checkpoint");
        }
    }
    if let Some(k) = journal.and_then(|j| j.stream_key_for(head)) {
        return (k, "journal");
    }
    (
        xxhash_rust::xxh3::xxh3_64_with_seed(head, CONTENT_KEY_SEED),
        "content",
    )
}

/// Checkpoint files of the live inputs under `data_dir` (unreadable ones are passed over: they
/// only lend keys).
pub(super) fn checkpoint_stores(data_dir: &Path) -> Vec<CheckpointStore> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("checkpoints")) else {
        return Vec::new();
    };
    let mut stores = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            match CheckpointStore::open(p.clone()) {
                Ok(s) => stores.push(s),
                Err(err) => {
                    tracing::warn!(path = %p.display(), error = %err, "reprocess: checkpoint file not read")
                }
            }
        }
    }
    stores
}

pub(super) fn plan_files(
    paths: &[PathBuf],
    sources: &[Source],
    journal: Option<&Journal>,
    stores: &[CheckpointStore],
    force: bool,
) -> Result<Vec<PlannedFile>, ReprocessError> {
    let mut unmatched = Vec::new();
    let mut planned = Vec::new();
    for path in paths {
        let Some(source) = match_source(sources, path) else {
            unmatched.push(path.display().to_string());
            continue;
        };
        let gz = is_gz_path(path);
        let size = std::fs::metadata(path).map_err(io_error(path))?.len();
        let head = read_head(path, gz).map_err(io_error(path))?;
        let (stream_key, key_from) = stream_key(&head, stores, journal);
        let fp = fingerprint(&head);
        let skip = !force && journal.is_some_and(|j| j.finished(fp, head.len(), size).is_some());
        let display = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        planned.push(PlannedFile {
            display: Arc::from(display.to_string_lossy().as_ref()),
            path: path.clone(),
            gz,
            size,
            fingerprint: fp,
            fingerprint_len: head.len(),
            stream_key,
            key_from,
            source,
            skip,
        });
    }
    if !unmatched.is_empty() {
        return Err(ReprocessError::Usage(format!(
            "no input of the pipeline reads {} (give its parser with --format): {}",
            if unmatched.len() == 1 {
                "this file"
            } else {
                "these files"
            },
            unmatched.join(", ")
        )));
    }
    Ok(planned)
}

/// The units the files are read in: each `.gz` whole (first: they are the long poles), plain
/// files in pieces of about `chunk_bytes`.
pub(super) fn plan_units(
    files: &[PlannedFile],
    sources: &[Source],
    chunk_bytes: u64,
) -> Result<Vec<Unit>, ReprocessError> {
    let mut units = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if f.skip {
            continue;
        }
        let Some(source) = sources.get(f.source) else {
            continue;
        };
        if f.gz {
            units.push(Unit {
                file: i,
                range: None,
            });
            continue;
        }
        let handle = File::open(&f.path).map_err(io_error(&f.path))?;
        for r in split::plan_chunks(&handle, f.size, chunk_bytes, &source.rules)
            .map_err(io_error(&f.path))?
        {
            units.push(Unit {
                file: i,
                range: Some(r),
            });
        }
    }
    units.sort_by_key(|u| (u.range.is_some(), u.file));
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn content_keys_do_not_depend_on_the_run_or_the_compression() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.log");
        let text = "x".repeat(3000);
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("a.log.1.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let key = |p: &Path| stream_key(&read_head(p, is_gz_path(p)).unwrap(), &[], None);
        assert_eq!(key(&plain), key(&gz));
        assert_eq!(key(&plain).1, "content");
        std::fs::write(&plain, "y".repeat(3000)).unwrap();
        assert_ne!(key(&plain), key(&gz));
    }

    #[test]
    fn a_live_checkpoint_lends_its_stream_key() {
        let dir = tempfile::tempdir().unwrap();
        let head = b"203.0.113.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n";
        let path = CheckpointStore::path_for(dir.path(), "file-0");
        let mut store = CheckpointStore::open(path).unwrap();
        store.set("1:2", 4242, 10, "/var/log/a.log");
        store.set_fingerprint("1:2", fingerprint(head), head.len());
        store.save().unwrap();
        let stores = checkpoint_stores(dir.path());
        assert_eq!(stream_key(head, &stores, None), (4242, "checkpoint"));
        assert_eq!(stream_key(b"other", &stores, None).1, "content");
    }
}
