//! The chain of the `chain` bench split by stage, which its criterion figures do not show:
//! each stage run alone on just-parsed events (GeoIP's fields are then absent for the others),
//! and the whole chain, against the parse of the same four lines.
//!
//! Without `MODE`, the lines are parsed in batches of 64 events, each batch's parse, stages and
//! drop timed apart; every mode takes its turn in each of seven rounds, and the fastest round of
//! each part is printed. A stage's figure is its own time plus what dropping its additions costs
//! on top of dropping a parsed event; the parse's includes `Event::new` and the drop. (Timing
//! whole runs and subtracting a parse-only run, as this bench first did, amplified this
//! machine's noise into a spread of a third.) Each round also runs the lines in a worker's
//! order, parse then chain event by event, timing each event's parse and chain apart: there
//! each part pays for the other's code and data going through the CPU's caches, which the
//! batches of 64 do not show. Run by `cargo test` (without the `--bench` flag
//! `cargo bench` passes), each mode runs a few times only, to show that it works.
//!
//! With `MODE` set (`parse`, `parsed`, `enrich`, `anonymize`, `tag` or `chain`), that mode
//! alone runs `N` times (default 100,000) over the four lines, for counting instructions under
//! callgrind: `ONLY=chain scripts/bench.sh` does so and prints instructions per event, which
//! repeat exactly where the machine's speed does not. `parse` runs `Event::new` and the parse
//! of each line; the other modes parse the four lines, run their stages on them, then drop
//! them, so their count less that of `parsed` is the stages' (dropping GeoIP's fields
//! included). `parse_unseen` and `chain_unseen` run `N` times over 4,096 lines whose pieces
//! were never seen (`chain_setup::unseen_lines`), parsing each, and for `chain_unseen` running
//! the chain on it too: the difference is the chain's cost when every piece is scanned.

use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use common::chain_setup::{self, parse_all, run_chain, LINES};
use logpipe::event::{Event, RecordOrigin};
use logpipe::pipeline::worker::Chain;

const MODES: [&str; 8] = [
    "parse",
    "parsed",
    "enrich",
    "anonymize",
    "tag",
    "chain",
    "parse_unseen",
    "chain_unseen",
];

/// Lines of the `*_unseen` modes: more pieces than the anonymizer remembers per thread.
const UNSEEN_LINES: usize = 4096;

/// The stages `mode` runs on one parsed event (none for `parsed`).
fn stages(chain: &Chain, mode: &str, event: &mut Event) {
    match mode {
        "enrich" => chain.enrich.apply(event),
        "anonymize" => chain.anonymize.apply(event),
        "tag" => {
            black_box(chain.tag.apply(event));
        }
        "chain" => {
            black_box(run_chain(chain, event));
        }
        _ => {}
    }
}

/// Runs `mode` `n` times over the four lines (over the unseen lines for the `*_unseen` modes);
/// returns the time per event in µs.
fn run(chain: &Chain, mode: &str, n: usize) -> f64 {
    if let Some(base) = mode.strip_suffix("_unseen") {
        let lines = chain_setup::unseen_lines(UNSEEN_LINES);
        let start = Instant::now();
        for _ in 0..n {
            for line in &lines {
                let mut event = Event::new(line.clone(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                if base == "chain" {
                    black_box(run_chain(chain, &mut event));
                }
                let _ = black_box((outcome, event));
            }
        }
        return start.elapsed().as_secs_f64() * 1e6 / (n * lines.len()) as f64;
    }
    let start = Instant::now();
    for _ in 0..n {
        if mode == "parse" {
            for line in LINES {
                let mut event = Event::new(line.to_string(), RecordOrigin::default());
                let outcome = chain.parser.parse(&mut event);
                let _ = black_box((outcome, event));
            }
            continue;
        }
        let mut events = parse_all(chain.parser.as_ref(), LINES);
        for event in events.iter_mut() {
            stages(chain, mode, event);
        }
        black_box(events);
    }
    start.elapsed().as_secs_f64() * 1e6 / (n * LINES.len()) as f64
}

/// One timed run of `mode` over `batches` batches of the four lines: nanoseconds per event
/// spent parsing (with `Event::new`), in the stages, and dropping the events. Each part is timed
/// on its own, so the stages' figure is not the difference of two noisy totals.
fn segments(chain: &Chain, mode: &str, batches: usize) -> [f64; 3] {
    let mut spent = [std::time::Duration::ZERO; 3];
    for _ in 0..batches {
        let t0 = Instant::now();
        let mut events: Vec<Event> = Vec::with_capacity(BATCH * LINES.len());
        for _ in 0..BATCH {
            for line in LINES {
                let mut event = Event::new(line.to_string(), RecordOrigin::default());
                let _ = black_box(chain.parser.parse(&mut event));
                events.push(event);
            }
        }
        let t1 = Instant::now();
        for event in events.iter_mut() {
            stages(chain, mode, event);
        }
        let t2 = Instant::now();
        drop(black_box(events));
        let t3 = Instant::now();
        spent[0] += t1 - t0;
        spent[1] += t2 - t1;
        spent[2] += t3 - t2;
    }
    let events = (batches * BATCH * LINES.len()) as f64;
    spent.map(|d| d.as_secs_f64() * 1e9 / events)
}

/// Rounds of the four lines per timed batch: 64 events, about what a worker's batch holds,
/// and few enough to stay in the caches as they do there.
const BATCH: usize = 16;

fn main() {
    let (chain, _) = chain_setup::build();
    let benching = std::env::args().any(|a| a == "--bench");
    let n = std::env::var("N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if benching { 100_000 } else { 10 });
    if let Ok(mode) = std::env::var("MODE") {
        if !MODES.contains(&mode.as_str()) {
            panic!("MODE must be one of {MODES:?}");
        }
        println!("{mode}: {:.3} µs per event", run(&chain, &mode, n));
        return;
    }
    // Fastest of each part over the rounds, the modes taking turns within a round.
    const TIMED: [&str; 5] = ["parsed", "enrich", "anonymize", "tag", "chain"];
    let mut best = [[f64::MAX; 3]; TIMED.len()];
    let rounds = if benching { 7 } else { 1 };
    let batches = (n / BATCH).max(1);
    let mut in_order = [f64::MAX; 2];
    for _ in 0..rounds {
        for (mode, best) in TIMED.iter().zip(best.iter_mut()) {
            let t = segments(&chain, mode, batches);
            for (b, t) in best.iter_mut().zip(t) {
                *b = b.min(t);
            }
        }
        let t = worker_order(&chain, (n / 2).max(1));
        for (b, t) in in_order.iter_mut().zip(t) {
            *b = b.min(t);
        }
    }
    let [parse, _, drop_parsed] = best[0];
    // The parse's figure includes dropping the event, as a parsed event that goes nowhere
    // costs; a stage's includes what dropping its additions costs on top.
    let parse = parse + drop_parsed;
    println!("fastest of {rounds} rounds, ns per event, each part timed on its own");
    println!("  parse (Event::new + NGINX parse + drop)  {parse:.0}");
    for (name, t) in [
        ("enrich (GeoIP) alone", best[1]),
        ("anonymize alone", best[2]),
        ("tag alone", best[3]),
        ("enrich + anonymize + tag", best[4]),
    ] {
        let stage = t[1] + (t[2] - drop_parsed).max(0.0);
        println!(
            "  {name:<40} {stage:.0}  ({:.2} x the parse)",
            stage / parse
        );
    }
    let [parse, stages] = in_order;
    println!(
        "worker order (parse, chain, drop per event), ns per event, each part timed per event"
    );
    println!("  parse (Event::new + NGINX parse)          {parse:.0}");
    println!(
        "  {:<40} {stages:.0}  ({:.2} x the parse)",
        "enrich + anonymize + tag",
        stages / parse
    );
}

/// One run of `n` rounds over the four lines in a worker's order (parse an event, run the
/// chain on it, drop it), each event's parse and chain timed apart: nanoseconds per event of
/// each. Unlike the batches above, each part here runs with the other's code and data just
/// through the CPU's caches, as in a worker; both carry one clock read's cost.
fn worker_order(chain: &Chain, n: usize) -> [f64; 2] {
    let mut parse = std::time::Duration::ZERO;
    let mut stages = std::time::Duration::ZERO;
    for _ in 0..n {
        for line in LINES {
            let t0 = Instant::now();
            let mut event = Event::new(line.to_string(), RecordOrigin::default());
            let outcome = chain.parser.parse(&mut event);
            let t1 = Instant::now();
            let verdict = run_chain(chain, &mut event);
            let t2 = Instant::now();
            drop(black_box((outcome, verdict, event)));
            parse += t1 - t0;
            stages += t2 - t1;
        }
    }
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e9 / (n * LINES.len()) as f64;
    [per(parse), per(stages)]
}
