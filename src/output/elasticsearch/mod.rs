//! `[output.elasticsearch]`: bulk-indexes encoded batches through the official `elasticsearch`
//! crate.
//!
//! - `encode`: on the worker threads, each event becomes a `create` action line (index name from
//!   the per-event template, deterministic `_id`) and its document.
//! - `mod` (this file): the run loop gathers items into bulk requests bounded by count, bytes
//!   and time (a batch may be split across requests, each piece with its own ack part), and
//!   keeps up to `max_in_flight` requests going. While they are all busy (the cluster is slow or
//!   away) it takes no new batches, so the bounded channel pushes back on workers and inputs.
//! - `bulk`: sending, per-item verdicts, retries; `dlq`: refused documents (`replay` sends
//!   them again); `template`: the index template installed before the first request;
//!   `retention`: deleting indices past `retention_days` where the cluster has no ILM, in a
//!   task of its own beside delivery.

pub mod bulk;
pub mod config;
pub mod dlq;
pub mod encode;
pub mod replay;
pub mod retention;
pub mod template;

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{BoxFuture, Encoder, Output, OutputContext, OutputError};
use crate::event::json::DocumentOptions;
use crate::pipeline::ack::BatchAck;
use crate::pipeline::batch::EncodedBatch;
use crate::pipeline::shutdown::Shutdown;
use crate::telemetry;
use bulk::{BulkRequest, Client, DeliveryContext, RetryPolicy};
pub use config::{Compression, ElasticsearchConfig};
use dlq::DeadLetterQueue;
use encode::{BulkEncoder, IndexTemplate};
pub use template::TEMPLATE_VERSION;

const NAME: &str = "elasticsearch";

fn setup_error(message: impl Into<String>) -> OutputError {
    OutputError::Setup {
        output: NAME,
        message: message.into(),
    }
}

pub struct ElasticsearchOutput {
    config: ElasticsearchConfig,
    index: IndexTemplate,
    /// Index patterns that tag rules route events to (`index` action), compiled once.
    routes: Vec<(Arc<str>, IndexTemplate)>,
    client: Client,
}

impl std::fmt::Debug for ElasticsearchOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticsearchOutput")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ElasticsearchOutput {
    pub fn new(config: ElasticsearchConfig) -> Result<ElasticsearchOutput, OutputError> {
        Self::with_routes(config, &[])
    }

    /// An output that also writes to the index patterns tag rules route to; the index
    /// template then covers those patterns too, so routed indices get the same mappings.
    pub fn with_routes(
        mut config: ElasticsearchConfig,
        routes: &[Arc<str>],
    ) -> Result<ElasticsearchOutput, OutputError> {
        config.validate().map_err(setup_error)?;
        let index = IndexTemplate::compile(&config.index)
            .map_err(|e| setup_error(format!("`index` `{}`: {e}", config.index)))?;
        let mut compiled = Vec::with_capacity(routes.len());
        for route in routes {
            let t = IndexTemplate::compile(route)
                .map_err(|e| setup_error(format!("routed index `{route}`: {e}")))?;
            compiled.push((route.clone(), t));
        }
        if !compiled.is_empty() {
            let mut patterns = config.resolved_index_patterns();
            for (_, t) in &compiled {
                let p = t.pattern();
                if !patterns.contains(&p) {
                    patterns.push(p);
                }
            }
            config.index_patterns = Some(patterns);
        }
        let client = Client::new(&config).map_err(setup_error)?;
        Ok(ElasticsearchOutput {
            config,
            index,
            routes: compiled,
            client,
        })
    }

    pub fn config(&self) -> &ElasticsearchConfig {
        &self.config
    }
}

impl Output for ElasticsearchOutput {
    fn name(&self) -> &'static str {
        NAME
    }

    fn encoder(&self) -> Arc<dyn Encoder> {
        Arc::new(
            BulkEncoder::new(
                self.index.clone(),
                DocumentOptions {
                    omit_message: self.config.omit_message,
                },
            )
            .with_routes(self.routes.clone()),
        )
    }

    fn setup(&self) -> BoxFuture<'_, Result<Vec<String>, OutputError>> {
        Box::pin(async move {
            template::install(&self.client, &self.config)
                .await
                .map_err(|e| setup_error(e.to_string()))
        })
    }

    fn run(
        self: Box<Self>,
        batches: flume::Receiver<EncodedBatch>,
        ctx: OutputContext,
    ) -> BoxFuture<'static, Result<(), OutputError>> {
        Box::pin(run(*self, batches, ctx))
    }
}

/// Installs the templates, retrying while the cluster cannot be reached; gives up on errors
/// that waiting does not fix and when shutdown comes first.
async fn install_templates(
    client: &Client,
    config: &ElasticsearchConfig,
    retry: RetryPolicy,
    mut shutdown: Shutdown,
) -> Result<template::Installed, OutputError> {
    let mut attempt = 0u32;
    loop {
        match template::install_all(client, config).await {
            Ok(installed) => return Ok(installed),
            Err(e) if e.retryable() && !shutdown.is_triggered() => {
                let wait = retry.delay(attempt, &mut rand::rng());
                telemetry::template_install_failed(
                    client.url(),
                    attempt + 1,
                    &e,
                    wait.as_millis() as u64,
                );
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.wait() => {}
                }
            }
            Err(e) if e.retryable() => {
                return Err(setup_error(format!(
                    "shut down before the index templates could be installed at {}: {e}",
                    client.url()
                )))
            }
            Err(e) => return Err(setup_error(e.to_string())),
        }
    }
}

/// Aborts its task when dropped: the retention task ends with the run, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the hourly deletion of indices past retention, when retention is configured and the
/// cluster has no ILM to do it.
fn start_retention(
    config: &ElasticsearchConfig,
    routes: &[(Arc<str>, IndexTemplate)],
    installed: &template::Installed,
    url: &str,
    delivery: &Arc<DeliveryContext>,
    ctx: &OutputContext,
) -> Option<AbortOnDrop> {
    if installed.ilm != Some(false) {
        return None;
    }
    let sources: Vec<Arc<str>> = routes.iter().map(|(name, _)| Arc::clone(name)).collect();
    let retention = match retention::Retention::new(config, &sources) {
        Ok(r) => r,
        Err(e) => {
            // Validated at start; should a routed template still not compile, keep everything.
            telemetry::retention_pass_failed(&e);
            return None;
        }
    };
    telemetry::retention_by_logpipe(url, &retention.policy().describe());
    Some(AbortOnDrop(tokio::spawn(retention::run_periodically(
        Arc::clone(delivery),
        retention,
        ctx.shutdown.clone(),
    ))))
}

/// A batch whose items are being moved into requests.
struct Carry {
    batch: EncodedBatch,
    next: usize,
}

async fn run(
    output: ElasticsearchOutput,
    batches: flume::Receiver<EncodedBatch>,
    ctx: OutputContext,
) -> Result<(), OutputError> {
    let ElasticsearchOutput {
        config,
        client,
        routes,
        ..
    } = output;
    let retry = RetryPolicy::from_config(&config);
    let installed = install_templates(&client, &config, retry, ctx.shutdown.clone()).await?;
    let url = client.url().to_string();

    let delivery = Arc::new(DeliveryContext {
        client,
        dlq: DeadLetterQueue::in_data_dir(&ctx.data_dir)
            .with_limits(config.dlq_max_file_bytes, config.dlq_max_total_bytes),
        retry,
    });
    // The `dlq_bytes` gauge starts from what earlier runs left in the queue.
    let gauge = Arc::clone(&delivery);
    drop(tokio::task::spawn_blocking(move || gauge.dlq.size()));
    let _retention = start_retention(&config, &routes, &installed, &url, &delivery, &ctx);
    let max_events = config.batch_max_events.max(1);
    let max_bytes = config.batch_max_bytes.max(1);
    let max_in_flight = config.max_in_flight.max(1);
    let timeout = config.batch_timeout();

    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut request = BulkRequest::new();
    // When the oldest item of `request` must be sent at the latest.
    let mut deadline: Option<Instant> = None;
    let mut carry: Option<Carry> = None;
    let mut closed = false;

    loop {
        // Move waiting items into the request, as many as fit.
        if let Some(mut c) = carry.take() {
            let n = request.fits(&c.batch, c.next, max_events, max_bytes);
            if n > 0 {
                let end = c.next + n;
                if request.is_empty() {
                    deadline = Some(Instant::now() + timeout);
                }
                if end >= c.batch.items.len() {
                    // The last piece takes the batch's own acknowledgement.
                    let ack = std::mem::replace(&mut c.batch.ack, BatchAck::untracked());
                    request.push(&c.batch, c.next..end, ack);
                } else {
                    let part = c.batch.ack.part();
                    request.push(&c.batch, c.next..end, part);
                    c.next = end;
                    carry = Some(c);
                }
            } else {
                carry = Some(c);
            }
        }

        let full = request.len() >= max_events || request.bytes() >= max_bytes || carry.is_some();
        let expired = deadline.is_some_and(|d| Instant::now() >= d);
        let due = !request.is_empty() && (full || expired || closed);
        if due && in_flight.len() < max_in_flight {
            let req = std::mem::take(&mut request);
            deadline = None;
            in_flight.spawn(bulk::deliver(Arc::clone(&delivery), req));
            continue;
        }
        if closed && request.is_empty() && carry.is_none() {
            while let Some(joined) = in_flight.join_next().await {
                report_join(joined);
            }
            return Ok(());
        }

        let can_receive = !closed && !full;
        let timer = deadline.filter(|_| !expired && !request.is_empty());
        tokio::select! {
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => report_join(joined),
            received = batches.recv_async(), if can_receive => match received {
                Ok(batch) => {
                    if batch.items.is_empty() {
                        batch.ack.delivered();
                    } else {
                        carry = Some(Carry { batch, next: 0 });
                    }
                }
                Err(_) => closed = true,
            },
            _ = sleep_until(timer), if timer.is_some() => {}
            // Not reached (with nothing in flight, a request is due or the loop has ended);
            // kept so a mistake here waits instead of panicking.
            else => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn report_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        // A panicked delivery drops its acknowledgements undelivered: the records are read
        // again after a restart, never lost.
        if e.is_panic() {
            telemetry::bulk_task_failed(&e);
        }
    }
}
