//! Output stage: encoded batches -> a destination, with acknowledgements back to the inputs.
//!
//! Encoding runs on the worker threads through the output's [`Encoder`]; the output task only
//! moves bytes. An output acknowledges a batch (`BatchAck::delivered`) only once the destination
//! has accepted every item of it; a batch it gives up on is dropped unacknowledged, which freezes
//! the checkpoint of its stream (the records are read again after a restart).
//!
//! Adding an output: one file or folder here, one field in [`OutputsConfig`], one arm in
//! [`OutputsConfig::build`].

pub mod elasticsearch;
pub mod file;
pub mod stdout;

use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde::Deserialize;

use crate::event::Event;
use crate::pipeline::batch::EncodedBatch;
use crate::pipeline::shutdown::Shutdown;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{output}: {message}")]
    Setup {
        output: &'static str,
        message: String,
    },
    #[error("{output}: cannot write {path}: {source}")]
    Io {
        output: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{output}: {message}")]
    Other {
        output: &'static str,
        message: String,
    },
}

/// Turns one event into the bytes of one output item (for NDJSON outputs: a line).
pub trait Encoder: Send + Sync + Debug {
    fn encode(&self, event: &Event, out: &mut Vec<u8>);
}

/// What an output needs from the run it is part of.
#[derive(Debug, Clone)]
pub struct OutputContext {
    pub data_dir: PathBuf,
    pub shutdown: Shutdown,
}

pub trait Output: Send {
    /// Name for logs and errors.
    fn name(&self) -> &'static str;

    /// The encoder the workers use for this output.
    fn encoder(&self) -> Arc<dyn Encoder>;

    /// Prepares the destination before the first event (index templates); returns a line per
    /// thing it installed or checked, for `logpipe setup`.
    fn setup(&self) -> BoxFuture<'_, Result<Vec<String>, OutputError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Delivers batches until the channel is closed and drained.
    fn run(
        self: Box<Self>,
        batches: flume::Receiver<EncodedBatch>,
        ctx: OutputContext,
    ) -> BoxFuture<'static, Result<(), OutputError>>;
}

/// `[output.*]`: exactly one of these tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    /// Bulk-index into Elasticsearch.
    pub elasticsearch: Option<elasticsearch::ElasticsearchConfig>,
    /// NDJSON documents on standard output.
    pub stdout: Option<stdout::StdoutConfig>,
    /// NDJSON documents appended to a file.
    pub file: Option<file::FileOutputConfig>,
}

impl OutputsConfig {
    pub fn validate(&self) -> Result<(), String> {
        let set = [
            self.elasticsearch.is_some(),
            self.stdout.is_some(),
            self.file.is_some(),
        ];
        match set.iter().filter(|s| **s).count() {
            1 => {}
            0 => return Err("no output configured: expected one of `[output.elasticsearch]`, `[output.stdout]`, `[output.file]`".into()),
            _ => return Err("more than one output configured: a pipeline has exactly one `[output.*]` table".into()),
        }
        if let Some(es) = &self.elasticsearch {
            es.validate()?;
        }
        Ok(())
    }

    pub fn build(&self) -> Result<Box<dyn Output>, OutputError> {
        self.build_with_routes(&[])
    }

    /// Builds the output; `routes` are the index patterns tag rules send events to.
    pub fn build_with_routes(
        &self,
        routes: &[std::sync::Arc<str>],
    ) -> Result<Box<dyn Output>, OutputError> {
        if let Some(c) = &self.elasticsearch {
            return Ok(Box::new(elasticsearch::ElasticsearchOutput::with_routes(
                c.clone(),
                routes,
            )?));
        }
        if let Some(c) = &self.file {
            return Ok(Box::new(file::FileOutput::new(c.clone())));
        }
        Ok(Box::new(stdout::StdoutOutput::new(
            self.stdout.clone().unwrap_or_default(),
        )))
    }
}

/// Encoder of NDJSON outputs: the document and a newline.
#[derive(Debug, Clone, Copy, Default)]
pub struct NdjsonEncoder {
    pub options: crate::event::json::DocumentOptions,
}

impl Encoder for NdjsonEncoder {
    fn encode(&self, event: &Event, out: &mut Vec<u8>) {
        crate::event::json::write_document(event, self.options, out);
        out.push(b'\n');
    }
}
