//! Command line: the only place errors become exit codes (0 ok, 1 runtime failure, 2 usage or
//! configuration error) and where `anyhow` is used.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Parser as ClapParser, Subcommand};

mod dlq;
mod retention;

use crate::config::PipelineConfig;
use crate::input::assemble::{Assembler, AssemblyRules};
use crate::output::{Encoder, NdjsonEncoder};
use crate::parse::ParserOptions;
use crate::pipeline::ack::BatchAck;
use crate::pipeline::batch::{RawBatch, StreamContext};
use crate::pipeline::worker::Chain;
use crate::pipeline::{self, RunOptions};

pub mod reprocess;

pub const EXIT_OK: i32 = 0;
pub const EXIT_RUNTIME: i32 = 1;
pub const EXIT_CONFIG: i32 = 2;

#[derive(Debug, ClapParser)]
#[command(
    name = "logpipe",
    version,
    about = "Tail logs, parse them to ECS documents, bulk-index them into Elasticsearch"
)]
pub struct Cli {
    /// Directory for checkpoints, the dead-letter queue and all other state of a run.
    #[arg(long, global = true, default_value = "./data", value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline until SIGTERM/SIGINT (or until its finite inputs, like stdin, end).
    Run {
        /// Pipeline file (TOML).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Parse lines from stdin and print one ECS JSON document per line.
    Parse {
        /// Parser name.
        #[arg(long, value_name = "NAME")]
        format: String,
        /// Zone for timestamps without an offset: IANA name or `+HH:MM`.
        #[arg(long, value_name = "TZ")]
        timezone: Option<String>,
        /// Longest line kept whole; longer lines are cut and tagged `_truncated`.
        #[arg(long, default_value_t = crate::config::default_max_line_bytes(), value_name = "BYTES")]
        max_line_bytes: usize,
        /// `nginx_access`: the `log_format` string from nginx.conf to compile.
        #[arg(long, value_name = "FORMAT")]
        log_format: Option<String>,
        /// `postgresql`: the server's `log_line_prefix`.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        /// `json`: the field holding the event time.
        #[arg(long, value_name = "FIELD")]
        timestamp_field: Option<String>,
        /// `json`: how the time field is written.
        #[arg(long, value_enum, value_name = "FORMAT")]
        timestamp_format: Option<crate::parse::timestamp::TimestampFormat>,
        /// `nginx_access` with `--log-format`: promote the first public X-Forwarded-For address.
        #[arg(long, value_name = "BOOL")]
        promote_forwarded_for: Option<bool>,
        /// Container envelope around each line; the payload goes to the parser.
        #[arg(long, value_enum, value_name = "KIND")]
        envelope: Option<crate::parse::envelope::EnvelopeKind>,
    },
    /// Validate a pipeline file; prints FILE:LINE:COLUMN and what was expected on error.
    Check {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Install the output's index templates, then exit.
    Setup {
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Delete the output's date-named indices past `retention_days` (where the cluster has no
    /// ILM); prints each index with its date and the decision.
    Retention {
        /// Pipeline file (TOML) with the `[output.elasticsearch]` whose indices to age.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Print the decisions only; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The dead-letter queue under DATA_DIR/dlq: list it, or replay it after a mapping fix.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// Run files (archives, a day to index again) through a pipeline's stages and output,
    /// in parallel, with progress, a summary, and a journal that makes repeats safe.
    Reprocess(reprocess::ReprocessArgs),
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_CONFIG } else { EXIT_OK };
        }
    };
    init_logging();
    match cli.command {
        Command::Run { ref config } => with_config(config, |cfg| run(cfg, &cli.data_dir)),
        Command::Parse {
            format,
            timezone,
            max_line_bytes,
            log_format,
            prefix,
            timestamp_field,
            timestamp_format,
            promote_forwarded_for,
            envelope,
        } => {
            let options = ParserOptions {
                timezone,
                log_format,
                prefix,
                timestamp_field,
                timestamp_format,
                promote_forwarded_for,
            };
            report(parse_stdin(&format, &options, envelope, max_line_bytes))
        }
        Command::Check { ref config } => with_config(config, |cfg| check(&cfg)),
        Command::Setup { ref config } => with_config(config, setup),
        Command::Retention {
            ref config,
            dry_run,
        } => with_config(config, |cfg| retention::run(cfg, dry_run)),
        Command::Dlq { ref command } => dlq::main(command, &cli.data_dir),
        Command::Reprocess(args) => reprocess::main(args, &cli.data_dir),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGPIPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a terminal: log files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

fn with_config(path: &Path, f: impl FnOnce(PipelineConfig) -> anyhow::Result<i32>) -> i32 {
    match PipelineConfig::load(path) {
        Ok(cfg) => report(f(cfg)),
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_CONFIG
        }
    }
}

fn report(r: anyhow::Result<i32>) -> i32 {
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_RUNTIME
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn run(config: PipelineConfig, data_dir: &Path) -> anyhow::Result<i32> {
    runtime()?.block_on(pipeline::run(
        config,
        RunOptions {
            data_dir: data_dir.to_path_buf(),
            handle_signals: true,
        },
    ))?;
    Ok(EXIT_OK)
}

fn check(config: &PipelineConfig) -> anyhow::Result<i32> {
    // Building catches what types cannot: parser options, output settings.
    let output = match config.output.build_with_routes(&config.tag.routes()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {}: {e}", config.path.display());
            return Ok(EXIT_CONFIG);
        }
    };
    // Inputs too: a TLS key that does not load is a configuration error, found here rather
    // than at the first start.
    for spec in &config.inputs {
        if let Err(e) = spec.config.build() {
            eprintln!("error: {}: {e}", config.path.display());
            return Ok(EXIT_CONFIG);
        }
    }
    match pipeline::build_chains(config, &output.encoder()) {
        Ok(_) => {}
        // A stage's error names the file already.
        Err(e @ pipeline::PipelineError::Stage { .. }) => {
            eprintln!("error: {e}");
            return Ok(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("error: {}: {e}", config.path.display());
            return Ok(EXIT_CONFIG);
        }
    }
    println!(
        "{}: ok ({} input{}, output {})",
        config.path.display(),
        config.inputs.len(),
        if config.inputs.len() == 1 { "" } else { "s" },
        output.name()
    );
    Ok(EXIT_OK)
}

fn setup(config: PipelineConfig) -> anyhow::Result<i32> {
    let output = config.output.build_with_routes(&config.tag.routes())?;
    let lines = runtime()?.block_on(output.setup())?;
    for l in lines {
        println!("{l}");
    }
    Ok(EXIT_OK)
}

/// `logpipe parse`: the worker chain without inputs and outputs, stdin to stdout, with the same
/// record assembly (envelopes, multi-line joining) as a file input.
fn parse_stdin(
    format: &str,
    options: &ParserOptions,
    envelope: Option<crate::parse::envelope::EnvelopeKind>,
    max_line_bytes: usize,
) -> anyhow::Result<i32> {
    let parser: Arc<dyn crate::parse::Parser> = match crate::parse::build(format, options) {
        Ok(p) => Arc::from(p),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_CONFIG);
        }
    };
    let encoder: Arc<dyn Encoder> = Arc::new(NdjsonEncoder::default());
    let mut assembler = Assembler::new(AssemblyRules::new(
        Some(parser.clone()),
        envelope,
        max_line_bytes,
    ));
    let chain = Chain {
        parser,
        dataset: None,
        host_name: Arc::from(crate::pipeline::worker::local_host_name().as_ref()),
        enrich: Default::default(),
        anonymize: Default::default(),
        tag: Default::default(),
        encoder,
    };
    let stream = Arc::new(StreamContext {
        input_index: 0,
        stream_key: 0,
        file_path: None,
        fields: Vec::new(),
    });
    let stdin = std::io::stdin();
    let mut reader = std::io::BufReader::with_capacity(1 << 16, stdin.lock());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut offset = 0u64;
    let mut line = Vec::new();
    let mut at_eof = false;
    while !at_eof {
        let mut batch = RawBatch::new(stream.clone(), BatchAck::untracked());
        while batch.len() < 1024 {
            line.clear();
            let (consumed, cut) = read_line_capped(&mut reader, &mut line, max_line_bytes)?;
            if consumed == 0 {
                assembler.flush(&mut batch);
                at_eof = true;
                break;
            }
            assembler.push(&line, offset, offset + consumed as u64, cut, &mut batch);
            offset += consumed as u64;
        }
        let encoded = chain.process(batch);
        out.write_all(&encoded.buf)?;
        encoded.ack.delivered();
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// Reads one line, keeping at most `max` bytes; returns (bytes consumed, cut?).
fn read_line_capped(
    r: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut cut = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok((consumed, cut));
        }
        let (chunk, found) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        let room = max.saturating_sub(line.len());
        cut |= chunk.len() > room;
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len() + usize::from(found);
        r.consume(used);
        consumed += used;
        if found {
            return Ok((consumed, cut));
        }
    }
}
