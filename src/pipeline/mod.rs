//! Wiring of a run: inputs -> bounded channel -> worker threads -> bounded channel -> output,
//! with acknowledgements flowing back to the inputs and an orderly shutdown.
//!
//! Shutdown (SIGTERM/SIGINT, or every input finished): inputs stop reading and drop their
//! senders; workers finish what is queued; the output drains within the grace period; inputs
//! write their final checkpoints from what was acknowledged. Past the grace period the output is
//! stopped and whatever it held stays unacknowledged, to be read again on the next start.

pub mod ack;
pub mod batch;
pub mod reprocess;
pub mod shutdown;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::PipelineConfig;
use crate::input::InputContext;
use crate::output::OutputContext;
use crate::telemetry;
use worker::Chain;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error("input {input}: parser: {message}")]
    Parser { input: String, message: String },
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Stage { path: String, message: String },
    #[error("cannot start worker thread: {0}")]
    Thread(std::io::Error),
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub data_dir: PathBuf,
    /// Stop on SIGTERM/SIGINT (off in tests that stop the run themselves).
    pub handle_signals: bool,
}

/// Builds the chain of each input: parser, stages, and the output's encoder.
pub fn build_chains(
    config: &PipelineConfig,
    encoder: &Arc<dyn crate::output::Encoder>,
) -> Result<Vec<Chain>, PipelineError> {
    let host_name: Arc<str> = match &config.settings.host_name {
        Some(h) => Arc::from(h.as_str()),
        None => Arc::from(worker::local_host_name().as_ref()),
    };
    let stage_error = |message: String| PipelineError::Stage {
        path: config.path.display().to_string(),
        message,
    };
    let enrich = Arc::new(
        crate::enrich::EnrichStage::build(&config.enrich)
            .map_err(|e| stage_error(e.to_string()))?,
    );
    let anonymize = Arc::new(
        crate::anonymize::AnonymizeStage::build(&config.anonymize)
            .map_err(|e| stage_error(e.to_string()))?,
    );
    config
        .inputs
        .iter()
        .map(|spec| {
            let options = spec.common.parser_options();
            let parser = crate::parse::build(&spec.common.parser, &options).map_err(|message| {
                PipelineError::Parser {
                    input: spec.id.clone(),
                    message,
                }
            })?;
            Ok(Chain {
                parser: Arc::from(parser),
                dataset: spec.common.dataset.as_deref().map(Arc::from),
                host_name: host_name.clone(),
                enrich: enrich.clone(),
                anonymize: anonymize.clone(),
                tag: config.tag.clone(),
                encoder: encoder.clone(),
            })
        })
        .collect()
}

/// Runs the pipeline until shutdown or until every input has finished.
pub async fn run(config: PipelineConfig, options: RunOptions) -> Result<(), PipelineError> {
    std::fs::create_dir_all(&options.data_dir).map_err(|e| PipelineError::DataDir {
        path: options.data_dir.display().to_string(),
        source: e,
    })?;
    let output = config.output.build_with_routes(&config.tag.routes())?;
    let encoder = output.encoder();
    let chains = Arc::new(build_chains(&config, &encoder)?);
    let settings = config.settings.clone();

    let (raw_tx, raw_rx) = flume::bounded(settings.channel_batches);
    let (enc_tx, enc_rx) = flume::bounded(settings.channel_batches);
    let (trigger, shutdown) = shutdown::channel();

    let workers = settings.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let mut worker_threads = Vec::new();
    for i in 0..workers.max(1) {
        let (chains, rx, tx) = (chains.clone(), raw_rx.clone(), enc_tx.clone());
        let handle = std::thread::Builder::new()
            .name(format!("logpipe-worker-{i}"))
            .spawn(move || worker::worker_loop(chains, rx, tx))
            .map_err(PipelineError::Thread)?;
        worker_threads.push(handle);
    }
    drop((raw_rx, enc_tx));

    let output_ctx = OutputContext {
        data_dir: options.data_dir.clone(),
        shutdown: shutdown.clone(),
    };
    let mut output_task = tokio::spawn(output.run(enc_rx, output_ctx));

    let mut input_tasks = tokio::task::JoinSet::new();
    for (index, spec) in config.inputs.iter().enumerate() {
        let input = spec.config.build()?;
        let ctx = InputContext {
            id: spec.id.clone(),
            input_index: index,
            out: raw_tx.clone(),
            shutdown: shutdown.clone(),
            data_dir: options.data_dir.clone(),
            batch_events: settings.batch_events,
            max_line_bytes: spec.common.max_line_bytes,
            assembly: crate::input::assemble::AssemblyRules::new(
                chains.get(index).map(|c| c.parser.clone()),
                spec.common.envelope.or(spec.config.default_envelope()),
                spec.common.max_line_bytes,
            )
            .with_multiline(spec.common.multiline.as_ref())
            .map_err(|message| PipelineError::Parser {
                input: spec.id.clone(),
                message,
            })?,
        };
        input_tasks.spawn(input.run(ctx));
    }
    drop(raw_tx);

    // Wait for a signal, for every input to finish, or for the output to fail.
    let mut first_error: Option<PipelineError> = None;
    let mut output_done = None;
    {
        let signal = wait_for_signal(options.handle_signals);
        tokio::pin!(signal);
        loop {
            tokio::select! {
                _ = &mut signal => break,
                joined = input_tasks.join_next() => match joined {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => { first_error.get_or_insert(e.into()); break; }
                    Some(Err(e)) => { tracing::error!(error = %e, "input task failed"); break; }
                },
                res = &mut output_task => { output_done = Some(res); break; }
            }
        }
    }
    telemetry::shutdown_started(settings.shutdown_grace_secs);
    trigger.trigger();

    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    let output_result = match output_done {
        Some(r) => Some(r),
        None => match tokio::time::timeout(grace, &mut output_task).await {
            Ok(r) => Some(r),
            Err(_) => {
                telemetry::shutdown_grace_expired();
                output_task.abort();
                None
            }
        },
    };
    if let Some(Ok(Err(e))) = output_result {
        first_error.get_or_insert(e.into());
    }
    // Inputs write their last checkpoints once nothing of theirs is in flight.
    while let Some(joined) = input_tasks.join_next().await {
        if let Ok(Err(e)) = joined {
            first_error.get_or_insert(e.into());
        }
    }
    for h in worker_threads {
        let _ = h.join();
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn wait_for_signal(enabled: bool) {
    if !enabled {
        return std::future::pending().await;
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
