//! Input stage: records from the outside world -> [`RawBatch`]es in a bounded channel.
//!
//! Inputs are async tasks. A full channel blocks them (backpressure reaches the source); each
//! batch carries the acknowledgement its input uses to advance checkpoints.
//!
//! Adding an input: one file here and one line in [`INPUTS`].

pub mod assemble;
pub mod checkpoint;
pub mod container;
pub mod file;
pub mod stdin;
pub mod syslog;

use std::fmt::Debug;
use std::path::PathBuf;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::de::DeValue;
use toml::Spanned;

use crate::output::BoxFuture;
use crate::pipeline::batch::RawBatch;
use crate::pipeline::shutdown::Shutdown;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("input {input}: {message}")]
    Config { input: String, message: String },
    #[error("input {input}: {path}: {source}")]
    Io {
        input: String,
        path: String,
        source: std::io::Error,
    },
    #[error("input {input}: checkpoint {path}: {message}")]
    Checkpoint {
        input: String,
        path: String,
        message: String,
    },
}

/// A component's own configuration (the keys after `type`, minus the common ones).
pub trait InputConfig: Debug + Send + Sync {
    /// Checks that go beyond types (mutually exclusive options, empty lists).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    fn build(&self) -> Result<Box<dyn Input>, InputError>;

    /// Envelope of this input's lines when the pipeline file names none.
    fn default_envelope(&self) -> Option<crate::parse::envelope::EnvelopeKind> {
        None
    }

    /// The files this input reads, for `logpipe reprocess` (which takes each file's parser
    /// from the input whose paths match it); `None` for inputs that read no files.
    fn file_source(&self) -> Option<file::FileSource> {
        None
    }
}

pub trait Input: Send {
    /// Reads until shutdown (or the end of a finite source), sending batches to `ctx.out`.
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<'static, Result<(), InputError>>;
}

/// What a running input gets from the pipeline.
#[derive(Debug, Clone)]
pub struct InputContext {
    pub id: String,
    pub input_index: usize,
    pub out: flume::Sender<RawBatch>,
    pub shutdown: Shutdown,
    pub data_dir: PathBuf,
    pub batch_events: usize,
    pub max_line_bytes: usize,
    /// How this input's lines become records (envelopes, multi-line joining).
    pub assembly: assemble::AssemblyRules,
}

/// Turns an input's spanned table into its component config.
pub type ParseInputConfig =
    fn(Spanned<DeValue<'_>>) -> Result<Box<dyn InputConfig>, toml::de::Error>;

pub struct InputRegistration {
    pub kind: &'static str,
    pub parse: ParseInputConfig,
}

/// Every input type, by the `type` name of `[[inputs]]`.
pub const INPUTS: &[InputRegistration] = &[
    file::REGISTRATION,
    container::REGISTRATION,
    stdin::REGISTRATION,
    syslog::REGISTRATION,
];

pub fn kinds_list() -> String {
    INPUTS
        .iter()
        .map(|r| format!("`{}`", r.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Deserializes a component config from its spanned table (shared by every registration).
pub fn parse_config<T: DeserializeOwned + InputConfig + 'static>(
    value: Spanned<DeValue<'_>>,
) -> Result<Box<dyn InputConfig>, toml::de::Error> {
    Ok(Box::new(T::deserialize(value.into_deserializer())?))
}
