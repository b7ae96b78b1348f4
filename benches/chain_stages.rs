//! The chain of the `chain` bench split by stage, which its criterion figures do not show:
//! each stage run alone on just-parsed events (GeoIP's fields are then absent for the others),
//! and the whole chain, against the parse of the same four lines.
//!
//! Without `MODE`, every mode is timed in turn, five rounds, and the fastest round of each is
//! printed with the stages' cost (the mode's time less that of parsing alone). Run by
//! `cargo test` (without the `--bench` flag `cargo bench` passes), each mode runs a few times
//! only, to show that it works. With `MODE` set
//! (`parse`, `parsed`, `enrich`, `anonymize`, `tag` or `chain`), that mode alone runs `N` times
//! (default 100,000) over the four lines, for counting instructions under callgrind:
//! `ONLY=chain scripts/bench.sh` does so and prints instructions per event, which repeat
//! exactly where the machine's speed does not.
//!
//! `parse` times `Event::new` and the parse of each line, as `chain/nginx_parse` does;
//! the other modes parse the four lines, run their stages on them, then drop them, so their
//! cost less that of `parsed` is the stages' (dropping GeoIP's fields included).

use std::hint::black_box;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use common::chain_setup::{self, parse_all, run_chain, LINES};
use logpipe::event::{Event, RecordOrigin};
use logpipe::pipeline::worker::Chain;

const MODES: [&str; 6] = ["parse", "parsed", "enrich", "anonymize", "tag", "chain"];

/// Runs `mode` `n` times over the four lines; returns the time per event in µs.
fn run(chain: &Chain, mode: &str, n: usize) -> f64 {
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
        black_box(events);
    }
    start.elapsed().as_secs_f64() * 1e6 / (n * LINES.len()) as f64
}

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
    let mut best = [f64::MAX; MODES.len()];
    let rounds = if benching { 5 } else { 1 };
    for _ in 0..rounds {
        for (mode, best) in MODES.iter().zip(best.iter_mut()) {
            *best = best.min(run(&chain, mode, n));
        }
    }
    let [parse, parsed, enrich, anonymize, tag, whole] = best;
    println!("fastest of {rounds} rounds, µs per event (the stages: the mode less `parsed`)");
    println!("  parse (Event::new + NGINX parse)   {parse:.3}");
    for (name, t) in [
        ("enrich (GeoIP) alone", enrich),
        ("anonymize alone", anonymize),
        ("tag alone", tag),
        ("enrich + anonymize + tag", whole),
    ] {
        let stage = t - parsed;
        println!(
            "  {name:<34} {stage:.3}  ({:.2} x the parse)",
            stage / parse
        );
    }
}
