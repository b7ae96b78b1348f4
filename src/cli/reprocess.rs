//! `logpipe reprocess`: arguments, exit codes and printing around
//! `pipeline::reprocess::run`.
//!
//! Exit codes: 0 every file done (or skipped), 1 a file failed or the run did, 2 a usage or
//! configuration error, 130 interrupted (the files not finished are read again next time).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::config::PipelineConfig;
use crate::pipeline::reprocess::progress::ProgressMode;
use crate::pipeline::reprocess::{
    self, parse_time, Destination, ReprocessOptions, TimeWindow, DEFAULT_BATCH_EVENTS,
    DEFAULT_CHUNK_BYTES,
};

use super::{EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME};

/// Exit code of an interrupted run (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// `--output`: NDJSON instead of the pipeline's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputKind {
    /// NDJSON documents on standard output (the summary goes to standard error).
    Stdout,
    /// NDJSON documents appended to `--output-path`.
    File,
}

#[derive(Debug, Args)]
pub struct ReprocessArgs {
    /// Pipeline file (TOML): its parse/enrich/anonymize/tag stages and output are used, its
    /// inputs replaced by the files given here.
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,

    /// Files, globs and directories (read recursively) to reprocess; `.gz` files are
    /// decompressed.
    #[arg(value_name = "PATHS", required_unless_present = "from_dlq")]
    pub paths: Vec<String>,

    /// Parser for files no input of the pipeline reads (matched by the inputs' `paths`, or by
    /// file name against their last component).
    #[arg(long, value_name = "NAME")]
    pub format: Option<String>,

    /// With `--format`: zone of timestamps without an offset (IANA name or `+HH:MM`).
    #[arg(long, value_name = "TZ", requires = "format")]
    pub timezone: Option<String>,

    /// Threads reading and parsing (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Progress bar on standard error: `auto` shows it only on a terminal.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub progress: ProgressMode,

    /// Also write the summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// Read files the journal lists as finished, too (ids are deterministic: what is already
    /// indexed is reported as already present, not doubled).
    #[arg(long)]
    pub force: bool,

    /// Parse and enrich only: print the summary and a few sample documents, send nothing.
    #[arg(long, conflicts_with = "output")]
    pub dry_run: bool,

    /// With `--dry-run`: how many sample documents to print.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub samples: usize,

    /// Produce NDJSON instead of using the pipeline's output (no journal is kept).
    #[arg(long, value_enum, value_name = "KIND")]
    pub output: Option<OutputKind>,

    /// With `--output file`: the file the documents are appended to.
    #[arg(long, value_name = "FILE")]
    pub output_path: Option<PathBuf>,

    /// Keep only events at or after this time (`2024-01-02`, `2024-01-02T03:04:05` in UTC, or
    /// RFC 3339 with an offset).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<crate::event::Timestamp>,

    /// Keep only events before this time (same forms as `--since`).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<crate::event::Timestamp>,

    /// Replay the documents of the dead-letter queue (under `--data-dir`) instead of files,
    /// as `logpipe dlq replay` does.
    #[arg(long, conflicts_with_all = ["paths", "dry_run", "output", "since", "until"])]
    pub from_dlq: bool,

    /// Elasticsearch bulk requests in flight (default: the pipeline's `max_in_flight`, at
    /// least 8).
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<usize>,

    /// Plain files larger than this are read in pieces of about this size, in parallel.
    #[arg(long, default_value_t = DEFAULT_CHUNK_BYTES, value_name = "BYTES")]
    pub chunk_bytes: u64,

    /// Records per batch.
    #[arg(long, default_value_t = DEFAULT_BATCH_EVENTS, value_name = "N")]
    pub batch_events: usize,
}

/// Runs `logpipe reprocess`; returns the exit code.
pub fn main(args: ReprocessArgs, data_dir: &Path) -> i32 {
    let config = match PipelineConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_CONFIG;
        }
    };
    if args.from_dlq {
        return replay_dlq(&config, data_dir, args.summary_json.as_deref());
    }
    let destination = match (args.dry_run, args.output, &args.output_path) {
        (true, _, _) => Destination::DryRun {
            samples: args.samples,
        },
        (false, Some(OutputKind::Stdout), None) => Destination::Stdout,
        (false, Some(OutputKind::File), Some(p)) => Destination::File(p.clone()),
        (false, Some(OutputKind::File), None) => {
            eprintln!("error: --output file needs --output-path FILE");
            return EXIT_CONFIG;
        }
        (false, _, Some(_)) => {
            eprintln!("error: --output-path goes with --output file");
            return EXIT_CONFIG;
        }
        (false, None, None) => Destination::Pipeline,
    };
    if args.threads == Some(0) || args.batch_events == 0 {
        eprintln!("error: --threads and --batch-events must be at least 1");
        return EXIT_CONFIG;
    }
    if let (Some(s), Some(u)) = (args.since, args.until) {
        if s.nanos >= u.nanos {
            eprintln!("error: --since must be before --until");
            return EXIT_CONFIG;
        }
    }
    let documents_on_stdout = matches!(destination, Destination::Stdout)
        || (destination == Destination::Pipeline && config.output.stdout.is_some());
    let mut options = ReprocessOptions::new(data_dir.to_path_buf(), args.paths);
    options.format = args.format;
    options.timezone = args.timezone;
    if let Some(t) = args.threads {
        options.threads = t;
    }
    options.destination = destination;
    options.window = TimeWindow {
        since: args.since,
        until: args.until,
    };
    options.force = args.force;
    options.progress = args.progress;
    options.max_in_flight = args.max_in_flight;
    options.chunk_bytes = args.chunk_bytes;
    options.batch_events = args.batch_events;

    let outcome = match reprocess::run(config, options) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return if e.is_usage() {
                EXIT_CONFIG
            } else {
                EXIT_RUNTIME
            };
        }
    };
    let report = &outcome.report;
    let mut text = String::new();
    if !outcome.samples.is_empty() {
        text.push_str("sample documents:\n");
        for s in &outcome.samples {
            // Pretty when it parses (it always should); as produced otherwise.
            match serde_json::from_str::<serde_json::Value>(s)
                .and_then(|v| serde_json::to_string_pretty(&v))
            {
                Ok(p) => text.push_str(&p),
                Err(_) => text.push_str(s),
            }
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&report.render());
    if documents_on_stdout {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    if let Some(path) = &args.summary_json {
        let written = serde_json::to_vec_pretty(report)
            .map_err(std::io::Error::other)
            .and_then(|body| std::fs::write(path, body));
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_RUNTIME;
        }
    }
    if report.interrupted || outcome.aborted {
        EXIT_INTERRUPTED
    } else if report.files.failed > 0 {
        EXIT_RUNTIME
    } else {
        EXIT_OK
    }
}

/// `--from-dlq`: the dead-letter queue's documents go again to the pipeline's cluster (the
/// replay `logpipe dlq replay` does), then a summary.
fn replay_dlq(config: &PipelineConfig, data_dir: &Path, summary_json: Option<&Path>) -> i32 {
    let Some(es) = config.output.elasticsearch.as_ref() else {
        eprintln!(
            "error: {}: --from-dlq needs an `[output.elasticsearch]`: the queue holds documents refused by Elasticsearch",
            config.path.display()
        );
        return EXIT_CONFIG;
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return EXIT_RUNTIME;
        }
    };
    let summary = match runtime.block_on(crate::output::elasticsearch::replay::replay(es, data_dir))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: replaying the dead-letter queue: {e}");
            return EXIT_RUNTIME;
        }
    };
    println!(
        "dead-letter queue: {} file(s), {} documents: {} indexed or already present, {} refused again (back in the queue), {} unreadable (kept)",
        summary.files.len(),
        summary.documents(),
        summary.indexed(),
        summary.refused_again(),
        summary.unreadable()
    );
    if let Some(path) = summary_json {
        let body = serde_json::json!({
            "pipeline": config.path.display().to_string(),
            "output": "elasticsearch",
            "from_dlq": true,
            "files": summary.files.len(),
            "documents": summary.documents(),
            "indexed": summary.indexed(),
            "refused_again": summary.refused_again(),
            "unreadable": summary.unreadable(),
        });
        let written = serde_json::to_vec_pretty(&body)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(path, b));
        if let Err(e) = written {
            eprintln!("error: cannot write {}: {e}", path.display());
            return EXIT_RUNTIME;
        }
    }
    if summary.refused_again() > 0 {
        EXIT_RUNTIME
    } else {
        EXIT_OK
    }
}
