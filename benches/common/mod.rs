//! What every parser bench does: check that each sample parses (or the bench would measure the
//! failure path), then time copying each line into a fresh event and parsing it, as a worker
//! does, reporting lines per second.
#![allow(dead_code)]

pub mod chain_setup;

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use logpipe::event::{Event, RecordOrigin};
use logpipe::parse::{build, Parser, ParserOptions};

/// The parser `name` built with `options`; a bench cannot go on without it.
pub fn parser(name: &str, options: &ParserOptions) -> Box<dyn Parser> {
    match build(name, options) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// Benchmarks `group/id`: one iteration parses every line of `lines` once.
pub fn bench_lines(c: &mut Criterion, group: &str, id: &str, parser: &dyn Parser, lines: &[&str]) {
    let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    for line in &lines {
        let mut event = Event::new(line.clone(), RecordOrigin::default());
        if let Err(e) = parser.parse(&mut event) {
            panic!("bench line does not parse: {e}: {line}");
        }
    }
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function(id, |b| {
        b.iter(|| {
            for line in &lines {
                let mut event = Event::new(line.clone(), RecordOrigin::default());
                let outcome = parser.parse(&mut event);
                let _ = black_box((outcome, event));
            }
        })
    });
    g.finish();
}
