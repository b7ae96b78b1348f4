//! `[output.stdout]`: NDJSON documents on standard output (debugging, piping into other tools).

use std::io::Write;
use std::sync::Arc;

use serde::Deserialize;

use super::{BoxFuture, Encoder, NdjsonEncoder, Output, OutputContext, OutputError};
use crate::event::json::DocumentOptions;
use crate::pipeline::batch::EncodedBatch;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// Leave `message` out of the documents.
    #[serde(default)]
    pub omit_message: bool,
}

pub struct StdoutOutput {
    config: StdoutConfig,
}

impl StdoutOutput {
    pub fn new(config: StdoutConfig) -> StdoutOutput {
        StdoutOutput { config }
    }
}

impl Output for StdoutOutput {
    fn name(&self) -> &'static str {
        "stdout"
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
            while let Ok(batch) = batches.recv_async().await {
                // Standard output is a pipe or a terminal: writing is quick, and blocking here
                // is exactly the backpressure we want when the reader is slow.
                let res = tokio::task::block_in_place(|| {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&batch.buf)?;
                    out.flush()
                });
                match res {
                    Ok(()) => batch.ack.delivered(),
                    Err(e) => {
                        return Err(OutputError::Io {
                            output: "stdout",
                            path: "<stdout>".into(),
                            source: e,
                        });
                    }
                }
            }
            Ok(())
        })
    }
}
