//! `logpipe dlq list` and `logpipe dlq replay -c FILE`: the dead-letter queue under
//! `DATA_DIR/dlq`, shown file by file, and sent again after a mapping fix (the replay itself is
//! `output::elasticsearch::replay`, shared with `reprocess`).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::config::PipelineConfig;
use crate::output::elasticsearch::dlq::{self, FileState};
use crate::output::elasticsearch::replay;

use super::{report, runtime, with_config, EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME};

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List the queue files with their documents, sizes and error types.
    List,
    /// Send every queued document again to its recorded index under its recorded `_id`
    /// (`create`, so documents already there are not doubled). A file is deleted once its
    /// documents are indexed or, when refused again, written to a new queue file. Exits 1 when
    /// documents remain in the queue.
    Replay {
        /// Pipeline file (TOML) with the `[output.elasticsearch]` to send to.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
}

pub fn main(command: &DlqCommand, data_dir: &Path) -> i32 {
    match command {
        DlqCommand::List => report(list(data_dir)),
        DlqCommand::Replay { config } => with_config(config, |cfg| replay_queue(cfg, data_dir)),
    }
}

fn list(data_dir: &Path) -> anyhow::Result<i32> {
    let dir = data_dir.join("dlq");
    let files = dlq::summarize(&dir)?;
    if files.is_empty() {
        println!("dead-letter queue {}: empty", dir.display());
        return Ok(EXIT_OK);
    }
    let (mut documents, mut bytes) = (0u64, 0u64);
    for f in &files {
        let errors: Vec<String> = f
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind}={n}"))
            .collect();
        let state = match f.file.state {
            FileState::Pending => "",
            FileState::Replaying => "  (being replayed)",
        };
        let unreadable = if f.unreadable > 0 {
            format!("  {} unreadable lines", f.unreadable)
        } else {
            String::new()
        };
        println!(
            "{}  {} documents  {} bytes  {}{unreadable}{state}",
            f.file.path.display(),
            f.documents,
            f.file.bytes,
            errors.join(" ")
        );
        documents += f.documents;
        bytes += f.file.bytes;
    }
    println!(
        "total: {} file{}, {documents} documents, {bytes} bytes",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    Ok(EXIT_OK)
}

fn replay_queue(config: PipelineConfig, data_dir: &Path) -> anyhow::Result<i32> {
    let Some(es) = config.output.elasticsearch.as_ref() else {
        eprintln!(
            "error: {}: `logpipe dlq replay` needs an `[output.elasticsearch]` table",
            config.path.display()
        );
        return Ok(EXIT_CONFIG);
    };
    let summary = runtime()?.block_on(replay::replay(es, data_dir))?;
    if summary.files.is_empty() {
        println!(
            "dead-letter queue {}: empty, nothing to replay",
            data_dir.join("dlq").display()
        );
        return Ok(EXIT_OK);
    }
    for f in &summary.files {
        println!(
            "{}: {} documents, {} indexed, {} refused again, {} unreadable",
            f.path.display(),
            f.documents,
            f.documents.saturating_sub(f.refused_again),
            f.refused_again,
            f.unreadable
        );
    }
    let left = summary.refused_again() + summary.unreadable();
    println!(
        "replayed {} documents: {} indexed (or already there), {left} back in the queue",
        summary.documents(),
        summary.indexed()
    );
    Ok(if left == 0 { EXIT_OK } else { EXIT_RUNTIME })
}
