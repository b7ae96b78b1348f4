//! `type = "stdin"`: lines from standard input. The run ends at end of input, once everything
//! read has been acknowledged by the output.

use std::sync::Arc;

use serde::Deserialize;
use tokio::io::AsyncBufReadExt;

use super::assemble::Assembler;
use super::{Input, InputConfig, InputContext, InputError, InputRegistration};
use crate::output::BoxFuture;
use crate::pipeline::ack::BatchAck;
use crate::pipeline::batch::{RawBatch, StreamContext};

pub const REGISTRATION: InputRegistration = InputRegistration {
    kind: "stdin",
    parse: super::parse_config::<StdinConfig>,
};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinConfig {}

impl InputConfig for StdinConfig {
    fn build(&self) -> Result<Box<dyn Input>, InputError> {
        Ok(Box::new(StdinInput))
    }
}

pub struct StdinInput;

impl Input for StdinInput {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<'static, Result<(), InputError>> {
        Box::pin(read_lines(
            tokio::io::BufReader::with_capacity(1 << 16, tokio::io::stdin()),
            ctx,
        ))
    }
}

/// Reads newline-terminated records from `reader` until EOF or shutdown. Lines longer than
/// `max_line_bytes` are cut (the rest of the line is skipped) and flagged.
pub async fn read_lines<R: tokio::io::AsyncRead + Unpin>(
    mut reader: tokio::io::BufReader<R>,
    mut ctx: InputContext,
) -> Result<(), InputError> {
    // Stdin has no stable identity across runs; the key only keeps ids unique within one run.
    let stream = Arc::new(StreamContext {
        input_index: ctx.input_index,
        stream_key: rand::random(),
        file_path: None,
        fields: Vec::new(),
    });
    let mut offset = 0u64;
    let mut line = Vec::with_capacity(4096);
    let mut batch = RawBatch::new(stream.clone(), BatchAck::untracked());
    let mut assembler = Assembler::new(ctx.assembly.clone());
    let io_err = |e| InputError::Io {
        input: ctx.id.clone(),
        path: "<stdin>".into(),
        source: e,
    };
    loop {
        if assembler.has_pending() && reader.buffer().is_empty() {
            // A record waits for continuation lines; do not let an idle pipe hold it forever.
            // (`fill_buf` is cancel-safe: nothing read is lost when the timer wins.)
            let flush_after = assembler.rules().flush_after;
            if tokio::time::timeout(flush_after, reader.fill_buf())
                .await
                .is_err()
            {
                assembler.flush(&mut batch);
                let full = std::mem::replace(
                    &mut batch,
                    RawBatch::new(stream.clone(), BatchAck::untracked()),
                );
                if ctx.out.send_async(full).await.is_err() {
                    return Ok(());
                }
                continue;
            }
        }
        line.clear();
        let read = tokio::select! {
            r = read_record(&mut reader, &mut line, ctx.max_line_bytes) => r,
            _ = ctx.shutdown.wait() => break,
        };
        let (consumed, truncated) = read.map_err(io_err)?;
        if consumed == 0 {
            assembler.flush(&mut batch);
            break;
        }
        assembler.push(
            &line,
            offset,
            offset + consumed as u64,
            truncated,
            &mut batch,
        );
        offset += consumed as u64;
        let more_buffered = !reader.buffer().is_empty();
        if batch.len() >= ctx.batch_events || (!more_buffered && !batch.is_empty()) {
            let full = std::mem::replace(
                &mut batch,
                RawBatch::new(stream.clone(), BatchAck::untracked()),
            );
            if ctx.out.send_async(full).await.is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() {
        let _ = ctx.out.send_async(batch).await;
    }
    Ok(())
}

/// Reads one record (without its `\n`) into `line`, keeping at most `max` bytes.
/// Returns (bytes consumed from the reader, whether the record was cut).
pub async fn read_record<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0usize;
    let mut truncated = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok((consumed, truncated));
        }
        let (chunk, found) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        let room = max.saturating_sub(line.len());
        if chunk.len() > room {
            truncated = true;
        }
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = found.map(|i| i + 1).unwrap_or(buf.len());
        reader.consume(used);
        consumed += used;
        if found.is_some() {
            return Ok((consumed, truncated));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cuts_long_lines_and_keeps_offsets() {
        let data = b"short\nthis line is long\n\nlast-no-newline".to_vec();
        let mut r = tokio::io::BufReader::with_capacity(4, &data[..]);
        let mut line = Vec::new();
        assert_eq!(read_record(&mut r, &mut line, 8).await.unwrap(), (6, false));
        assert_eq!(line, b"short");
        line.clear();
        assert_eq!(read_record(&mut r, &mut line, 8).await.unwrap(), (18, true));
        assert_eq!(line, b"this lin");
        line.clear();
        assert_eq!(read_record(&mut r, &mut line, 8).await.unwrap(), (1, false));
        line.clear();
        assert_eq!(
            read_record(&mut r, &mut line, 100).await.unwrap(),
            (15, false)
        );
        assert_eq!(line, b"last-no-newline");
        line.clear();
        assert_eq!(
            read_record(&mut r, &mut line, 100).await.unwrap(),
            (0, false)
        );
    }
}
