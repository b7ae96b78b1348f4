//! Where a reprocess run's batches go: the pipeline's Elasticsearch output on a tokio runtime,
//! an NDJSON writer on a thread of its own, or nothing (`--dry-run`, which keeps samples).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::engine::Wake;
use super::{io_error, Destination, ReprocessError};
use crate::config::PipelineConfig;
use crate::output::{Output, OutputContext};
use crate::pipeline::batch::EncodedBatch;

/// Writes NDJSON batches on a thread of its own; acknowledges each after writing (and, where
/// the journal relies on it, after syncing).
pub(super) fn ndjson_writer(
    rx: flume::Receiver<EncodedBatch>,
    mut target: Box<dyn Write + Send>,
    file: Option<File>,
    sync_each: bool,
    name: String,
) -> Result<(), ReprocessError> {
    let err = |source| ReprocessError::Io {
        path: name.clone(),
        source,
    };
    while let Ok(first) = rx.recv() {
        // Everything already waiting goes in one write and, if needed, one sync.
        let mut group = vec![first];
        while group.len() < 64 {
            match rx.try_recv() {
                Ok(b) => group.push(b),
                Err(_) => break,
            }
        }
        for b in &group {
            target.write_all(&b.buf).map_err(err)?;
        }
        target.flush().map_err(err)?;
        if sync_each {
            if let Some(f) = &file {
                sync(f).map_err(err)?;
            }
        }
        for b in group {
            b.ack.delivered();
        }
    }
    target.flush().map_err(err)?;
    if let Some(f) = &file {
        sync(f).map_err(err)?;
    }
    Ok(())
}

/// Syncs the output to disk; a target that cannot be synced (`/dev/null`, a pipe, a terminal:
/// `EINVAL`) has nothing to lose on a crash and is not an error.
fn sync(f: &File) -> std::io::Result<()> {
    match f.sync_data() {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r,
    }
}

/// `--dry-run`: keeps the first documents and acknowledges everything.
pub(super) fn discard(
    rx: flume::Receiver<EncodedBatch>,
    want: usize,
    samples: Arc<Mutex<Vec<String>>>,
) {
    while let Ok(b) = rx.recv() {
        let mut s = samples.lock().unwrap_or_else(|p| p.into_inner());
        for r in b.items.iter().take(want.saturating_sub(s.len())) {
            if let Some(bytes) = b.buf.get(r.clone()) {
                s.push(String::from_utf8_lossy(bytes).trim_end().to_string());
            }
        }
        drop(s);
        b.ack.delivered();
    }
}

pub(super) enum OutputHandle {
    Thread(std::thread::JoinHandle<Result<(), ReprocessError>>),
    Tokio(tokio::task::JoinHandle<Result<(), crate::output::OutputError>>),
}

pub(super) fn open_append(path: &Path) -> Result<File, ReprocessError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error(path))
}

pub(super) fn spawn_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<std::thread::JoinHandle<T>, ReprocessError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| ReprocessError::Threads(e.to_string()))
}

impl OutputHandle {
    /// Waits for the output to end and returns how it ended.
    pub(super) fn join(self, runtime: &tokio::runtime::Runtime) -> Result<(), ReprocessError> {
        match self {
            OutputHandle::Thread(h) => h.join().unwrap_or_else(|_| {
                Err(ReprocessError::Threads("the output thread panicked".into()))
            }),
            OutputHandle::Tokio(h) => match runtime.block_on(h) {
                Ok(r) => r.map_err(ReprocessError::from),
                Err(e) => Err(ReprocessError::Threads(format!(
                    "the output task failed: {e}"
                ))),
            },
        }
    }
}

/// Starts the output of `destination` on `rx`; it sends [`Wake::Output`] when it ends.
#[allow(clippy::too_many_arguments)]
pub(super) fn start(
    destination: &Destination,
    pipeline_output: Option<Box<dyn Output>>,
    config: &PipelineConfig,
    rx: flume::Receiver<EncodedBatch>,
    ctx: OutputContext,
    runtime: &tokio::runtime::Runtime,
    samples: Arc<Mutex<Vec<String>>>,
    wake: flume::Sender<Wake>,
) -> Result<OutputHandle, ReprocessError> {
    let thread = |f: Box<dyn FnOnce() -> Result<(), ReprocessError> + Send>| {
        let wake = wake.clone();
        spawn_thread("logpipe-reprocess-out", move || {
            let r = f();
            let _ = wake.send(Wake::Output);
            r
        })
        .map(OutputHandle::Thread)
    };
    let ndjson_file = |path: &Path, sync_each: bool| -> Result<OutputHandle, ReprocessError> {
        let f = open_append(path)?;
        let w = f.try_clone().map_err(io_error(path))?;
        let name = path.display().to_string();
        let rx = rx.clone();
        thread(Box::new(move || {
            let target = Box::new(std::io::BufWriter::with_capacity(1 << 20, w));
            ndjson_writer(rx, target, Some(f), sync_each, name)
        }))
    };
    let stdout = || {
        let rx = rx.clone();
        thread(Box::new(move || {
            ndjson_writer(
                rx,
                Box::new(std::io::stdout()),
                None,
                false,
                "<stdout>".into(),
            )
        }))
    };
    match (destination, pipeline_output) {
        (Destination::DryRun { samples: want }, _) => {
            let (want, rx) = (*want, rx.clone());
            thread(Box::new(move || {
                discard(rx, want, samples);
                Ok(())
            }))
        }
        (Destination::Stdout, _) => stdout(),
        // No journal for an explicit `--output file`: synced once, at the end.
        (Destination::File(path), _) => ndjson_file(path, false),
        (Destination::Pipeline, Some(o)) if o.name() == "elasticsearch" => {
            let rx = rx.clone();
            Ok(OutputHandle::Tokio(runtime.spawn(async move {
                let r = o.run(rx, ctx).await;
                let _ = wake.send(Wake::Output);
                r
            })))
        }
        // The pipeline's own NDJSON file, with the journal: synced before acknowledging.
        (Destination::Pipeline, _) => match &config.output.file {
            Some(fc) => ndjson_file(&fc.path, true),
            None => stdout(),
        },
    }
}
