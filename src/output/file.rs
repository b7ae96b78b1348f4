//! `[output.file]`: NDJSON documents appended to a file; a batch is acknowledged once its bytes
//! are written and synced to disk.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::{BoxFuture, Encoder, NdjsonEncoder, Output, OutputContext, OutputError};
use crate::event::json::DocumentOptions;
use crate::pipeline::batch::EncodedBatch;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutputConfig {
    /// File the documents are appended to (created if missing).
    pub path: PathBuf,
    /// Leave `message` out of the documents.
    #[serde(default)]
    pub omit_message: bool,
}

pub struct FileOutput {
    config: FileOutputConfig,
}

impl FileOutput {
    pub fn new(config: FileOutputConfig) -> FileOutput {
        FileOutput { config }
    }
}

impl Output for FileOutput {
    fn name(&self) -> &'static str {
        "file"
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::new(NdjsonEncoder {
            options: DocumentOptions {
                omit_message: self.config.omit_message,
            },
        })
    }

    fn run(
        self: Box<Self>,
        batches: flume::Receiver<EncodedBatch>,
        _ctx: OutputContext,
    ) -> BoxFuture<'static, Result<(), OutputError>> {
        Box::pin(async move {
            let path = self.config.path.clone();
            let io_err = |e| OutputError::Io {
                output: "file",
                path: path.display().to_string(),
                source: e,
            };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io_err)?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err)?;
            let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
            while let Ok(first) = batches.recv_async().await {
                // Write everything already waiting, then sync once for the group.
                let mut group = vec![first];
                while let Ok(more) = batches.try_recv() {
                    group.push(more);
                    if group.len() >= 64 {
                        break;
                    }
                }
                tokio::task::block_in_place(|| {
                    for b in &group {
                        writer.write_all(&b.buf)?;
                    }
                    writer.flush()?;
                    writer.get_ref().sync_data()
                })
                .map_err(io_err)?;
                for b in group {
                    b.ack.delivered();
                }
            }
            Ok(())
        })
    }
}
