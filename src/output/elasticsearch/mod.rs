//! `[output.elasticsearch]`: bulk-indexes encoded batches. (Being written: see config.rs.)

use std::sync::Arc;

use serde::Deserialize;

use super::{BoxFuture, Encoder, NdjsonEncoder, Output, OutputContext, OutputError};
use crate::pipeline::batch::EncodedBatch;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// Base URL of the cluster.
    pub url: String,
    /// Index name template.
    #[serde(default)]
    pub index: Option<String>,
}

impl ElasticsearchConfig {
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

pub struct ElasticsearchOutput {
    _config: ElasticsearchConfig,
}

impl ElasticsearchOutput {
    pub fn new(config: ElasticsearchConfig) -> Result<ElasticsearchOutput, OutputError> {
        Ok(ElasticsearchOutput { _config: config })
    }
}

impl Output for ElasticsearchOutput {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }
    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::new(NdjsonEncoder::default())
    }
    fn run(
        self: Box<Self>,
        _b: flume::Receiver<EncodedBatch>,
        _c: OutputContext,
    ) -> BoxFuture<'static, Result<(), OutputError>> {
        Box::pin(async {
            Err(OutputError::Other {
                output: "elasticsearch",
                message: "not written yet".into(),
            })
        })
    }
}
