//! Syslog over TCP (RFC 6587) and TLS (RFC 5425): an accept loop and one task per connection.
//!
//! The accept loop only accepts, counts and spawns; it never touches the pipeline, so a full
//! pipeline or a stuck client cannot stop new connections from being served. Each connection
//! task reads, frames, assembles and batches its own stream; when the pipeline is full it waits
//! before reading more, which lets TCP flow control slow that one sender down. Whatever goes
//! wrong on a connection (read errors, failed handshakes, garbage, a panic) ends that
//! connection only.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::framing::{Feed, Framer};
use super::{SyslogConfig, BATCH_BYTES};
use crate::input::assemble::{Assembler, AssemblyRules};
use crate::input::{InputContext, InputError};
use crate::pipeline::ack::BatchAck;
use crate::pipeline::batch::{RawBatch, StreamContext};
use crate::pipeline::shutdown::Shutdown;
use crate::telemetry;

/// Bytes asked of the socket per read.
const READ_BUFFER: usize = 64 * 1024;
/// Longest a TLS handshake may take (bounded by the idle timeout when that is shorter): a
/// client that connects and says nothing must not hold a connection slot for long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (out of file descriptors, ...), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What every connection task of one input shares.
struct Shared {
    input: Arc<str>,
    input_index: usize,
    out: flume::Sender<RawBatch>,
    batch_events: usize,
    assembly: AssemblyRules,
    max_message_bytes: usize,
    idle_timeout: Duration,
    /// Messages read over all connections, for the closing log line.
    messages: std::sync::atomic::AtomicU64,
}

pub async fn run(
    config: SyslogConfig,
    tls: Option<Arc<ServerConfig>>,
    mut ctx: InputContext,
) -> Result<(), InputError> {
    let mode = if tls.is_some() { "tls" } else { "tcp" };
    let addr = super::resolve(&config, &ctx).await?;
    let io_err = |source| InputError::Io {
        input: ctx.id.clone(),
        path: format!("{mode} {}", config.address),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(io_err)?;
    let local = listener.local_addr().map_err(io_err)?;
    telemetry::syslog_listening(&ctx.id, mode, &local.to_string());

    let acceptor = tls.map(TlsAcceptor::from);
    let max_connections = config.max_connections();
    let slots = Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS)));
    let shared = Arc::new(Shared {
        input: Arc::from(ctx.id.as_str()),
        input_index: ctx.input_index,
        out: ctx.out.clone(),
        batch_events: ctx.batch_events.max(1),
        assembly: ctx.assembly.clone(),
        max_message_bytes: config.max_message_bytes,
        idle_timeout: config.idle_timeout(),
        messages: Default::default(),
    });
    let mut connections = JoinSet::new();

    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((socket, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        // Closed at once: the client sees the connection end instead of
                        // waiting in the backlog for a slot that may never come.
                        telemetry::syslog_connection_rejected(&ctx.id, &peer.to_string(), max_connections);
                        drop(socket);
                        continue;
                    };
                    let shared = shared.clone();
                    let shutdown = ctx.shutdown.clone();
                    let acceptor = acceptor.clone();
                    connections.spawn(async move {
                        let _slot = slot;
                        serve(socket, peer, acceptor, shared, shutdown).await;
                    });
                }
                Err(e) => {
                    telemetry::syslog_accept_failed(&ctx.id, &e);
                    tokio::select! {
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                        _ = ctx.shutdown.wait() => break,
                    }
                }
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done {
                    // A panic in a connection task is a bug, but it stays that connection's.
                    telemetry::syslog_connection_error(&ctx.id, "-", &e);
                }
            }
            _ = ctx.shutdown.wait() => break,
        }
    }
    // No new connections; each open one sends what it has and ends.
    drop(listener);
    while let Some(done) = connections.join_next().await {
        if let Err(e) = done {
            telemetry::syslog_connection_error(&ctx.id, "-", &e);
        }
    }
    let messages = shared.messages.load(std::sync::atomic::Ordering::Relaxed);
    telemetry::syslog_stopped(&ctx.id, mode, messages, 0);
    Ok(())
}

/// One connection, from (TLS handshake and) first byte to close.
async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut shutdown: Shutdown,
) {
    let peer_name = peer.to_string();
    telemetry::syslog_connection_opened(&shared.input, &peer_name);
    let (reason, messages) = match acceptor {
        None => read_connection(socket, &peer_name, &shared, shutdown).await,
        Some(acceptor) => {
            let limit = HANDSHAKE_TIMEOUT.min(shared.idle_timeout);
            let handshake = tokio::select! {
                r = tokio::time::timeout(limit, acceptor.accept(socket)) => r,
                _ = shutdown.wait() => return,
            };
            match handshake {
                Ok(Ok(stream)) => read_connection(stream, &peer_name, &shared, shutdown).await,
                Ok(Err(e)) => {
                    telemetry::syslog_tls_handshake_failed(&shared.input, &peer_name, &e);
                    ("tls handshake failed", 0)
                }
                Err(_) => {
                    let e = format!("TLS handshake not done within {}s", limit.as_secs());
                    telemetry::syslog_tls_handshake_failed(&shared.input, &peer_name, &e);
                    ("tls handshake timed out", 0)
                }
            }
        }
    };
    shared
        .messages
        .fetch_add(messages, std::sync::atomic::Ordering::Relaxed);
    telemetry::syslog_connection_closed(&shared.input, &peer_name, reason, messages);
}

/// Reads messages from one connection until it ends, goes idle, sends garbage or shutdown
/// comes. Returns why it stopped and how many messages it gave.
async fn read_connection<S: AsyncRead + Unpin>(
    mut socket: S,
    peer: &str,
    shared: &Shared,
    mut shutdown: Shutdown,
) -> (&'static str, u64) {
    // A connection has no identity across runs; the key keeps document ids unique in this one.
    let stream = Arc::new(StreamContext {
        input_index: shared.input_index,
        stream_key: rand::random(),
        file_path: None,
        fields: Vec::new(),
    });
    let new_batch = || RawBatch::new(stream.clone(), BatchAck::untracked());
    let mut batch = new_batch();
    let mut framer = Framer::new(shared.max_message_bytes);
    let mut assembler = Assembler::new(shared.assembly.clone());
    let mut buf = vec![0u8; READ_BUFFER];
    let mut last_data = Instant::now();
    let mut messages = 0u64;

    let reason = loop {
        if shutdown.is_triggered() {
            break "shutdown";
        }
        let read = if batch.is_empty() {
            let idle_at = last_data + shared.idle_timeout;
            let wake_at = if assembler.has_pending() {
                idle_at.min(Instant::now() + assembler.rules().flush_after)
            } else {
                idle_at
            };
            tokio::select! {
                r = socket.read(&mut buf) => r,
                _ = tokio::time::sleep_until(wake_at) => {
                    // Nothing came: a record waiting for continuation lines is complete.
                    assembler.flush(&mut batch);
                    if Instant::now() >= idle_at {
                        break "idle";
                    }
                    if !batch.is_empty() && !send(&shared.out, &mut batch, &new_batch).await {
                        break "pipeline closed";
                    }
                    continue;
                }
                _ = shutdown.wait() => break "shutdown",
            }
        } else {
            // Records are waiting: read on while more is already there, else send them first.
            match now_or_never(socket.read(&mut buf)).await {
                Some(r) => r,
                None => {
                    if !send(&shared.out, &mut batch, &new_batch).await {
                        break "pipeline closed";
                    }
                    continue;
                }
            }
        };
        let n = match read {
            Ok(0) => break "end of stream",
            Ok(n) => n,
            // A TLS client that hangs up without `close_notify`: common among syslog senders,
            // and nothing was lost that a clean close would have kept.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break "end of stream",
            Err(e) => {
                telemetry::syslog_connection_error(&shared.input, peer, &e);
                break "read error";
            }
        };
        last_data = Instant::now();
        let feed = framer.feed(&buf[..n], &mut |f| {
            messages += 1;
            assembler.push(f.data, f.start, f.end, f.truncated, &mut batch);
        });
        report(&mut framer, shared, peer);
        if feed == Feed::Garbage {
            telemetry::syslog_garbage_disconnect(&shared.input, peer, shared.max_message_bytes);
            break "garbage";
        }
        if (batch.len() >= shared.batch_events || batch.data.len() >= BATCH_BYTES)
            && !send(&shared.out, &mut batch, &new_batch).await
        {
            break "pipeline closed";
        }
    };

    if reason != "garbage" {
        framer.finish(&mut |f| {
            messages += 1;
            assembler.push(f.data, f.start, f.end, f.truncated, &mut batch);
        });
        report(&mut framer, shared, peer);
    }
    assembler.flush(&mut batch);
    if !batch.is_empty() {
        // Also at shutdown: the workers drain the channel, so this wait is brief.
        let _ = shared.out.send_async(batch).await;
    }
    (reason, messages)
}

/// Sends the batch, waiting for room: the backpressure that reaches this client.
async fn send(
    out: &flume::Sender<RawBatch>,
    batch: &mut RawBatch,
    new_batch: &impl Fn() -> RawBatch,
) -> bool {
    let full = std::mem::replace(batch, new_batch());
    out.send_async(full).await.is_ok()
}

fn report(framer: &mut Framer, shared: &Shared, peer: &str) {
    let stats = framer.take_stats();
    telemetry::syslog_messages_cut(stats.cut);
    for _ in 0..stats.framing_errors {
        telemetry::syslog_framing_error(&shared.input, peer);
    }
}

/// Polls `f` once: its output if it is ready now, else `None` (and `f` is dropped, which is
/// fine for cancel-safe reads).
async fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        r = f => Some(r),
        _ = std::future::ready(()) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn shared(out: flume::Sender<RawBatch>, max: usize, batch_events: usize) -> Shared {
        Shared {
            input: Arc::from("test"),
            input_index: 0,
            out,
            batch_events,
            assembly: AssemblyRules::new(None, None, 1 << 20),
            max_message_bytes: max,
            idle_timeout: Duration::from_secs(60),
            messages: Default::default(),
        }
    }

    fn records(rx: &flume::Receiver<RawBatch>) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        while let Ok(b) = rx.try_recv() {
            for r in &b.records {
                out.push((
                    String::from_utf8_lossy(&b.data[r.range.clone()]).into_owned(),
                    r.truncated,
                ));
            }
        }
        out
    }

    #[tokio::test]
    async fn a_connection_is_framed_batched_and_flushed_at_its_end() {
        let (tx, rx) = flume::bounded(100);
        let shared = shared(tx, 100, 2);
        let (_trigger, shutdown) = crate::pipeline::shutdown::channel();
        let (mut client, server) = tokio::io::duplex(16);
        let writer = tokio::spawn(async move {
            // Small pieces through a 16-byte pipe: frames arrive split at odd places.
            client.write_all(b"4 <1>a").await.unwrap();
            client.write_all(b"6 <1>bcd").await.unwrap();
            client.write_all(b"5 <1>ef4 <1>g").await.unwrap();
            client.write_all(b"\n9 <1>unfin").await.unwrap();
        });
        let (reason, n) = read_connection(server, "peer", &shared, shutdown).await;
        writer.await.unwrap();
        assert_eq!((reason, n), ("end of stream", 5));
        let expected = [
            ("<1>a", false),
            ("<1>bcd", false),
            ("<1>ef", false),
            ("<1>g", false),
            ("<1>unfin", true),
        ];
        let expected: Vec<(String, bool)> =
            expected.iter().map(|(m, t)| (m.to_string(), *t)).collect();
        assert_eq!(records(&rx), expected);
    }

    #[tokio::test]
    async fn garbage_ends_the_connection_with_one_cut_record() {
        let (tx, rx) = flume::bounded(100);
        let shared = shared(tx, 1000, 1024);
        let (_trigger, shutdown) = crate::pipeline::shutdown::channel();
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..160 {
                if client.write_all(&chunk).await.is_err() {
                    return true; // the reader hung up
                }
            }
            false
        });
        let (reason, n) = read_connection(server, "peer", &shared, shutdown).await;
        assert_eq!((reason, n), ("garbage", 1));
        assert!(
            writer.await.unwrap(),
            "disconnected before 10 MB were taken"
        );
        let recs = records(&rx);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].0.len(), 1000);
        assert!(recs[0].1);
    }

    #[tokio::test]
    async fn shutdown_flushes_a_partial_message() {
        let (tx, rx) = flume::bounded(100);
        let shared = shared(tx, 100, 1024);
        let (trigger, shutdown) = crate::pipeline::shutdown::channel();
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(b"<13>whole\n<13>half").await.unwrap();
        let reader =
            tokio::spawn(async move { read_connection(server, "peer", &shared, shutdown).await });
        // The whole message is sent as soon as nothing more is buffered.
        let first = rx.recv_async().await.unwrap();
        assert_eq!(first.records.len(), 1);
        trigger.trigger();
        let (reason, n) = reader.await.unwrap();
        assert_eq!((reason, n), ("shutdown", 2));
        assert_eq!(records(&rx), vec![("<13>half".to_string(), false)]);
        drop(client);
    }
}
