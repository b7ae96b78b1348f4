//! The enrich -> anonymize -> tag chain against the NGINX parse of the same events, on one
//! thread: the chain must cost less than the parse (issue 5, acceptance 4). The NDJSON encoding
//! of the resulting documents is measured alongside, as the next step of a worker.
//!
//! Both are measured on the same four access lines (`common/chain_setup.rs`). The chain runs on
//! events parsed just outside the timed part (and, in `nginx_parse_then_chain`, right after the
//! parse, as a worker runs it). `chain_stages` splits the chain's cost by stage.

use std::hint::black_box;

// The allocator the `logpipe` binary runs with (see `src/main.rs`): the chain and the parse
// allocate, and the system allocator costs several times as much per allocation.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use common::chain_setup::{self, parse_all, run_chain, LINES};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use logpipe::event::{Event, RecordOrigin};

/// Distinct lines of the never-seen case: three pieces each, 12,288 in all, three times what
/// the anonymizer remembers per thread.
const UNSEEN_LINES: usize = 4096;

/// Rounds of the four lines in a worker's batch: 256 lines.
const WORKER_ROUNDS: usize = 64;

fn chain(c: &mut Criterion) {
    let (chain, encoder) = chain_setup::build();
    let chain = &chain;
    let parsed = parse_all(chain.parser.as_ref(), LINES);

    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(LINES.len() as u64));
    g.bench_function("nginx_parse", |b| {
        b.iter(|| {
            for line in LINES {
                let mut event = Event::new(line.to_string(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                let _ = black_box((outcome, event));
            }
        })
    });
    g.bench_function("enrich_anonymize_tag", |b| {
        b.iter_batched_ref(
            || parse_all(chain.parser.as_ref(), LINES),
            |events| {
                for event in events.iter_mut() {
                    black_box(run_chain(chain, event));
                }
            },
            // One set of events per timing, parsed just before, as a worker runs the chain
            // on an event it has just parsed: batches of thousands would hand the chain events
            // long gone from the CPU caches, a cost the worker does not pay.
            BatchSize::PerIteration,
        )
    });
    // The worker's order on the same lines: parse, then the chain, event by event. The chain
    // costs the difference from `nginx_parse`, with no timing boundary between the two.
    g.bench_function("nginx_parse_then_chain", |b| {
        b.iter(|| {
            for line in LINES {
                let mut event = Event::new(line.to_string(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                let verdict = run_chain(chain, &mut event);
                let _ = black_box((outcome, verdict, event));
            }
        })
    });
    // The same chain on lines whose user agent, referrer and request were never seen: more
    // distinct pieces than the anonymizer remembers per thread (`clean_pieces`), so every
    // piece is scanned; the four lines above measure the remembered case.
    let unseen = chain_setup::unseen_lines(UNSEEN_LINES);
    parse_all(chain.parser.as_ref(), &unseen);
    g.throughput(Throughput::Elements(UNSEEN_LINES as u64));
    g.bench_function("nginx_parse_unseen", |b| {
        b.iter(|| {
            for line in &unseen {
                let mut event = Event::new(line.clone(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                let _ = black_box((outcome, event));
            }
        })
    });
    g.bench_function("nginx_parse_then_chain_unseen", |b| {
        b.iter(|| {
            for line in &unseen {
                let mut event = Event::new(line.clone(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                let verdict = run_chain(chain, &mut event);
                let _ = black_box((outcome, verdict, event));
            }
        })
    });
    // The chain alone on the 4,096 events parsed beforehand (megabytes of them: they are no
    // longer in the CPU caches, as they would be in a worker; the difference above is the
    // worker's cost).
    g.bench_function("enrich_anonymize_tag_unseen", |b| {
        b.iter_batched_ref(
            || parse_all(chain.parser.as_ref(), &unseen),
            |events| {
                for event in events.iter_mut() {
                    black_box(run_chain(chain, event));
                }
            },
            BatchSize::LargeInput,
        )
    });
    // The whole worker (decode, context, parse, the chain, the document writer) on a batch of
    // 256 lines, with the chain and without it (`chain_setup::PARSE_ONLY_PIPELINE`): the
    // difference is what the chain costs a worker, in the order a worker runs the stages (each
    // event through all of them, see `pipeline::worker`), writing the fields it adds included.
    let parse_only = chain_setup::build_parse_only();
    g.throughput(Throughput::Elements((WORKER_ROUNDS * LINES.len()) as u64));
    for (name, worker) in [
        ("worker_parse_only", &parse_only),
        ("worker_with_chain", chain),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || chain_setup::raw_batch(WORKER_ROUNDS),
                |batch| black_box(worker.process(batch)),
                BatchSize::SmallInput,
            )
        });
    }
    g.throughput(Throughput::Elements(LINES.len() as u64));

    // The document writer on the same events after the chain (what a worker does next): the
    // layout of a shape is computed once per thread, so this is the per-event cost.
    let done: Vec<Event> = parsed
        .iter()
        .cloned()
        .map(|mut event| {
            let _ = run_chain(chain, &mut event);
            event
        })
        .collect();
    g.bench_function("ndjson_encode", |b| {
        let mut out = Vec::with_capacity(1 << 16);
        b.iter(|| {
            out.clear();
            for event in &done {
                encoder.encode(event, &mut out);
            }
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
