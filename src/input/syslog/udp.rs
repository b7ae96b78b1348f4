//! Syslog over UDP (RFC 5426): one datagram is one message.
//!
//! The receive loop never waits on the pipeline. While it waited, datagrams would pile up in
//! the socket buffer and the kernel would drop them without anyone knowing; instead a batch the
//! pipeline has no room for is dropped here, counted and reported, and reading goes on.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::{SyslogConfig, BATCH_BYTES};
use crate::input::assemble::Assembler;
use crate::input::{InputContext, InputError};
use crate::pipeline::ack::BatchAck;
use crate::pipeline::batch::{RawBatch, StreamContext};
use crate::telemetry;

/// How long the first message of a batch waits for others before the batch is sent.
const BATCH_WAIT: Duration = Duration::from_millis(10);

/// Pause after a failed receive.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Largest UDP payload (IPv4: 65535 minus the IP and UDP headers; IPv6 without jumbograms
/// allows a little more, which is still under 64 KiB).
const MAX_DATAGRAM: usize = 65_535;

pub async fn run(config: SyslogConfig, mut ctx: InputContext) -> Result<(), InputError> {
    let addr = super::resolve(&config, &ctx).await?;
    let io_err = |source| InputError::Io {
        input: ctx.id.clone(),
        path: format!("udp {}", config.address),
        source,
    };
    let socket = bind(addr, config.receive_buffer_bytes).map_err(io_err)?;
    let local = socket.local_addr().map_err(io_err)?;
    telemetry::syslog_listening(&ctx.id, "udp", &local.to_string());

    // One stream for the socket: datagrams of all senders, numbered by a running byte count so
    // each record has its own offset (and so its own document id).
    let stream = Arc::new(StreamContext {
        input_index: ctx.input_index,
        stream_key: rand::random(),
        file_path: None,
        fields: Vec::new(),
    });
    let new_batch = || RawBatch::new(stream.clone(), BatchAck::untracked());
    let max = config.max_message_bytes;
    // One byte more than kept, so a datagram longer than the bound is seen as such.
    let mut buf = vec![0u8; max.min(MAX_DATAGRAM) + 1];
    let mut assembler = Assembler::new(ctx.assembly.clone());
    let mut batch = new_batch();
    let mut deadline: Option<Instant> = None;
    let mut offset = 0u64;
    let (mut received, mut dropped) = (0u64, 0u64);

    loop {
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let first = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = timer => {
                assembler.flush_expired(&mut batch);
                if !batch.is_empty() {
                    let full = std::mem::replace(&mut batch, new_batch());
                    if !offer(full, &ctx, &mut dropped) {
                        break;
                    }
                }
                deadline = assembler
                    .has_pending()
                    .then(|| Instant::now() + BATCH_WAIT);
                continue;
            }
            _ = ctx.shutdown.wait() => break,
        };
        // Take what else is already waiting without another trip through the runtime.
        let mut next = Some(first);
        while let Some(result) = next.take() {
            match result {
                Ok((n, _peer)) => {
                    received += 1;
                    let (message, truncated) = datagram(&buf[..n], max);
                    if truncated {
                        telemetry::syslog_messages_cut(1);
                    }
                    // A datagram always moves the offset, even an empty one.
                    let end = offset + (n as u64).max(1);
                    assembler.push(message, offset, end, truncated, &mut batch);
                    offset = end;
                }
                Err(e) => {
                    // ICMP errors surface on some systems as failed reads; they concern a
                    // sender, not the socket. Keep receiving, after a pause in case the error
                    // repeats (a busy loop would starve the rest of the runtime).
                    telemetry::syslog_connection_error(&ctx.id, "udp", &e);
                    tokio::time::sleep(RECV_ERROR_BACKOFF).await;
                    break;
                }
            }
            if batch.len() < ctx.batch_events && batch.data.len() < BATCH_BYTES {
                next = match socket.try_recv_from(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                    r => Some(r),
                };
            }
        }
        if batch.len() >= ctx.batch_events || batch.data.len() >= BATCH_BYTES {
            let full = std::mem::replace(&mut batch, new_batch());
            if !offer(full, &ctx, &mut dropped) {
                break;
            }
            deadline = None;
        }
        if deadline.is_none() && (!batch.is_empty() || assembler.has_pending()) {
            deadline = Some(Instant::now() + BATCH_WAIT);
        }
    }
    assembler.flush(&mut batch);
    if !batch.is_empty() {
        // At shutdown the workers are still draining: waiting here is brief and loses nothing.
        let _ = ctx.out.send_async(batch).await;
    }
    telemetry::syslog_stopped(&ctx.id, "udp", received, dropped);
    Ok(())
}

/// Hands a batch to the pipeline if it has room, else drops it (counted). False when the
/// pipeline is gone.
fn offer(batch: RawBatch, ctx: &InputContext, dropped: &mut u64) -> bool {
    match ctx.out.try_send(batch) {
        Ok(()) => true,
        Err(flume::TrySendError::Full(batch)) => {
            *dropped += batch.len() as u64;
            telemetry::syslog_udp_dropped(&ctx.id, batch.len());
            true
        }
        Err(flume::TrySendError::Disconnected(_)) => false,
    }
}

/// The message of a datagram: without one trailing `\n` or `\r\n` (senders that reuse their
/// TCP formatting add it), cut to `max`.
pub fn datagram(bytes: &[u8], max: usize) -> (&[u8], bool) {
    let mut body = bytes;
    if let [rest @ .., b'\n'] = body {
        body = rest;
        if let [rest @ .., b'\r'] = body {
            body = rest;
        }
    }
    if body.len() > max {
        (&body[..max], true)
    } else {
        (body, false)
    }
}

/// Binds the socket, with the receive buffer asked for (the kernel may grant less; Linux caps
/// it at `net.core.rmem_max`).
fn bind(addr: std::net::SocketAddr, recv_buffer: Option<usize>) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pipeline_drops_and_counts_instead_of_waiting() {
        let (tx, rx) = flume::bounded(1);
        let (_trigger, shutdown) = crate::pipeline::shutdown::channel();
        let ctx = InputContext {
            id: "udp-test".into(),
            input_index: 0,
            out: tx,
            shutdown,
            data_dir: std::path::PathBuf::new(),
            batch_events: 10,
            max_line_bytes: 100,
            assembly: crate::input::assemble::AssemblyRules::new(None, None, 100),
        };
        let stream = Arc::new(StreamContext {
            input_index: 0,
            stream_key: 1,
            file_path: None,
            fields: Vec::new(),
        });
        let batch = |n: usize| {
            let mut b = RawBatch::new(stream.clone(), BatchAck::untracked());
            for i in 0..n {
                b.push(b"<13>x", i as u64, i as u64 + 1, false);
            }
            b
        };
        let before = telemetry::get(&telemetry::COUNTERS.syslog_udp_dropped);
        let mut dropped = 0;
        assert!(offer(batch(2), &ctx, &mut dropped));
        assert_eq!(dropped, 0);
        assert!(
            offer(batch(3), &ctx, &mut dropped),
            "full: dropped, not blocked"
        );
        assert_eq!(dropped, 3);
        assert!(telemetry::get(&telemetry::COUNTERS.syslog_udp_dropped) >= before + 3);
        assert_eq!(rx.try_recv().map(|b| b.len()).ok(), Some(2));
        drop(rx);
        assert!(!offer(batch(1), &ctx, &mut dropped), "pipeline gone");
    }

    #[test]
    fn one_trailing_newline_is_removed_and_size_bounded() {
        assert_eq!(datagram(b"<13>a\n", 100), (&b"<13>a"[..], false));
        assert_eq!(datagram(b"<13>a\r\n", 100), (&b"<13>a"[..], false));
        assert_eq!(datagram(b"<13>a\n\n", 100), (&b"<13>a\n"[..], false));
        assert_eq!(datagram(b"<13>a\r", 100), (&b"<13>a\r"[..], false));
        assert_eq!(datagram(b"<13>abc\n", 5), (&b"<13>a"[..], true));
        assert_eq!(datagram(b"<13>a\n", 5), (&b"<13>a"[..], false));
        assert_eq!(datagram(b"", 5), (&b""[..], false));
    }
}
