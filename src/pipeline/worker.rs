//! The worker stage: one pass per batch through decode -> parse -> enrich -> anonymize -> tag ->
//! encode, on plain threads (CPU work stays off the async runtime). No channel hop per event:
//! a batch enters as raw bytes and leaves as encoded output items.

use std::borrow::Cow;
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::anonymize::{AnonymizeStage, ShapePlan};
use crate::enrich::EnrichStage;
use crate::event::shape::ShapeCache;
use crate::event::{
    Event, RecordOrigin, Text, Timestamp, Value, ENVELOPE_FAILURE_TAG, INVALID_UTF8_TAG,
    PROCESSING_FAILURE_TAG, TIMESTAMP_FALLBACK_TAG, TRUNCATED_TAG,
};
use crate::output::Encoder;
use crate::parse::decode::{decode, Decoded};
use crate::parse::Parser;
use crate::pipeline::batch::{BatchStats, EncodedBatch, RawBatch, RecordMeta, StreamContext};
use crate::tag::{TagStage, Verdict};
use crate::telemetry::{self, COUNTERS};

/// Everything that happens to the records of one input, built once at start.
#[derive(Debug)]
pub struct Chain {
    pub parser: Arc<dyn Parser>,
    /// `event.dataset` from the input's configuration, overriding the parser's.
    pub dataset: Option<Arc<str>>,
    pub host_name: Arc<str>,
    pub enrich: Arc<EnrichStage>,
    pub anonymize: Arc<AnonymizeStage>,
    pub tag: Arc<TagStage>,
    pub encoder: Arc<dyn Encoder>,
}

/// The anonymizer's and the tagger's plans for one shape of event (see
/// [`Chain::enrich_anonymize_tag`]).
struct ShapePlans {
    anonymize: Option<ShapePlan>,
    tag: Box<[u32]>,
}

/// Most shapes a thread keeps the plans of.
const SHAPE_PLANS_MAX: usize = 512;

thread_local! {
    static SHAPE_PLANS: RefCell<ShapeCache<Rc<ShapePlans>>> =
        RefCell::new(ShapeCache::new(SHAPE_PLANS_MAX));
}

/// Tags set before the stages run (by decode and the input's envelope); a record that fails
/// in a stage keeps them.
const DECODE_TAGS: &[&str] = &[INVALID_UTF8_TAG, TRUNCATED_TAG, ENVELOPE_FAILURE_TAG];

/// The stage an event is in, for the report when one panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Parse,
    Enrich,
    Anonymize,
    Tag,
    Encode,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Parse => "parse",
            Step::Enrich => "enrich",
            Step::Anonymize => "anonymize",
            Step::Tag => "tag",
            Step::Encode => "encode",
        }
    }
}

impl Chain {
    /// Runs one decoded event through the stages after decode.
    ///
    /// A stage that panics (a bug, never the input's fault) costs only this event its
    /// processing, not the batch, the worker thread or the process: the event is replaced by
    /// [`Chain::fallback_event`], which keeps its line and says what happened.
    pub fn process_event(
        &self,
        event: &mut Event,
        stream: &StreamContext,
        meta: Option<&RecordMeta>,
    ) -> Verdict {
        let mut step = Step::Parse;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.run_stages(event, stream, meta, &mut step)
        }));
        match outcome {
            Ok(verdict) => verdict,
            Err(_) => {
                *event = self.fallback_event(event, stream, meta, step, &|e: &mut Event| {
                    self.anonymize.apply(e)
                });
                Verdict::Keep
            }
        }
    }

    fn run_stages(
        &self,
        event: &mut Event,
        stream: &StreamContext,
        meta: Option<&RecordMeta>,
        step: &mut Step,
    ) -> Verdict {
        self.push_context(event, stream, meta);
        if let Err(e) = self.parser.parse(event) {
            event.mark_parse_failure(e.0);
        }
        if event.timestamp.is_none() {
            // The runtime's receive time is a real event time, unlike the ingest time.
            event.timestamp = meta.and_then(|m| m.time);
        }
        if event.timestamp.is_none() {
            event.timestamp = Some(Timestamp::now());
            event.add_tag(TIMESTAMP_FALLBACK_TAG);
        }
        self.stages_after_parse(event, step)
    }

    /// Enrich, anonymize and tag `event`, as a worker does after the parse.
    pub fn enrich_anonymize_tag(&self, event: &mut Event) -> Verdict {
        self.stages_after_parse(event, &mut Step::Enrich)
    }

    fn stages_after_parse(&self, event: &mut Event, step: &mut Step) -> Verdict {
        *step = Step::Enrich;
        self.enrich.apply(event);
        *step = Step::Anonymize;
        // Anonymize and tag both work from the field names, which are the same for both unless
        // the anonymizer changes them: their plans for a shape are kept together, so one
        // lookup and one check of the names serve both.
        let seed = self
            .anonymize
            .shape_id()
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ self.tag.shape_id().wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        let plans = SHAPE_PLANS.with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let make = || {
                Rc::new(ShapePlans {
                    anonymize: self.anonymize.plan_for(&event.fields),
                    tag: self.tag.slots_for(event),
                })
            };
            cache
                .get_or_insert_with(&event.fields, &event.shape_hint, seed, make)
                .cloned()
        });
        let Some(plans) = plans else {
            self.anonymize.apply(event);
            *step = Step::Tag;
            return self.tag.apply(event);
        };
        let renamed = match &plans.anonymize {
            Some(plan) => self.anonymize.apply_planned(event, plan),
            None => {
                self.anonymize.apply(event);
                !self.anonymize.is_inert()
            }
        };
        *step = Step::Tag;
        if renamed {
            self.tag.apply(event)
        } else {
            self.tag.apply_resolved(event, &plans.tag)
        }
    }

    /// Fields every event of the stream carries, set before parsing: they survive a parse
    /// failure.
    fn push_context(&self, event: &mut Event, stream: &StreamContext, meta: Option<&RecordMeta>) {
        let file_path = stream.file_path.as_ref();
        let dataset = match &self.dataset {
            Some(d) => Value::Str(Text::Shared(thread_copy(d))),
            None => Value::Str(Text::Static(self.parser.dataset())),
        };
        event.push("event.dataset", dataset);
        event.push(
            "host.name",
            Value::Str(Text::Shared(thread_copy(&self.host_name))),
        );
        if let Some(path) = file_path {
            event.push("log.file.path", Value::Str(Text::Shared(thread_copy(path))));
            event.push("log.offset", Value::Int(event.origin.offset as i64));
        }
        for (name, value) in &stream.fields {
            event.push(*name, Value::Str(Text::Shared(thread_copy(value))));
        }
        if let Some(meta) = meta {
            if let Some(stream) = meta.stream {
                event.push("stream", Value::Str(Text::Static(stream.as_str())));
            }
            if meta.envelope_error.is_some() {
                event.add_tag(ENVELOPE_FAILURE_TAG);
            }
        }
    }

    /// What is indexed for a record a stage panicked on: its line in `message`, the stream's
    /// context fields, the decode-time tags, `_processing_failure` and an `error.message` naming
    /// the stage. The line still goes through `anonymize` (a record must not get past the
    /// anonymizer in clear because a later stage failed); when that is the stage that fails
    /// again, the line is withheld and only the context is indexed, which is the one place a
    /// record's text is lost.
    fn fallback_event(
        &self,
        failed: &mut Event,
        stream: &StreamContext,
        meta: Option<&RecordMeta>,
        step: Step,
        anonymize: &dyn Fn(&mut Event),
    ) -> Event {
        let mut event = Event::new(std::mem::take(&mut failed.raw), failed.origin);
        for tag in &failed.tags {
            if DECODE_TAGS.contains(&&**tag) {
                event.add_tag(tag.clone());
            }
        }
        telemetry::stage_panicked(step.name(), self.parser.dataset(), event.origin.offset);
        let context = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.push_context(&mut event, stream, meta);
        }));
        if context.is_err() {
            event.fields.clear();
        }
        event.timestamp = failed
            .timestamp
            .or_else(|| meta.and_then(|m| m.time))
            .or_else(|| Some(Timestamp::now()));
        let len = event.raw.len();
        event.push(
            "message",
            Value::Str(Text::Span {
                start: 0,
                end: len as u32,
            }),
        );
        let mut reason = format!(
            "logpipe failed on this record in its {} stage (a bug: please report it); its line \
             is kept in `message`, unparsed",
            step.name()
        );
        let anonymized =
            std::panic::catch_unwind(AssertUnwindSafe(|| anonymize(&mut event))).is_ok();
        if !anonymized {
            event.fields.retain(|(name, _)| name != "message");
            reason = format!(
                "logpipe failed on this record in its {} stage (a bug: please report it); its \
                 text could not be anonymized and was withheld",
                step.name()
            );
        }
        event.push("error.message", Value::Str(Text::Owned(reason.into())));
        event.add_tag(PROCESSING_FAILURE_TAG);
        event
    }

    /// Decodes, processes and encodes a whole batch.
    pub fn process(&self, batch: RawBatch) -> EncodedBatch {
        self.process_with(batch, &mut NoHook)
    }

    /// [`Chain::process`] with a look at each event: `hook.keep` may leave an event out after
    /// the stages (the hook counts those), `hook.encoded` sees it with its encoded item.
    pub fn process_with(&self, batch: RawBatch, hook: &mut dyn EventHook) -> EncodedBatch {
        let RawBatch {
            stream,
            data,
            records,
            ack,
        } = batch;
        let mut stats = BatchStats {
            records: records.len() as u64,
            ..BatchStats::default()
        };
        let ratio = ENCODED_PER_INPUT_X16.load(Ordering::Relaxed);
        let mut buf = Vec::with_capacity(data.len() * ratio / 16 + records.len() * 64);
        let mut items = Vec::with_capacity(records.len());
        for rec in &records {
            let origin = RecordOrigin {
                stream_key: stream.stream_key,
                offset: rec.offset,
            };
            let mut event = match decode(&data[rec.range.clone()], origin, rec.truncated) {
                Decoded::Event(e) => e,
                Decoded::Empty => {
                    stats.empty_skipped += 1;
                    continue;
                }
            };
            if event.has_tag(crate::event::INVALID_UTF8_TAG) {
                stats.invalid_utf8 += 1;
            }
            if rec.truncated {
                stats.truncated += 1;
            }
            if self.process_event(&mut event, &stream, rec.meta.as_deref()) == Verdict::Drop {
                stats.dropped += 1;
                continue;
            }
            if !hook.keep(&event) {
                // The hook's own count says why; it is not a tag rule's drop.
                continue;
            }
            if event.has_tag(crate::event::PARSE_FAILURE_TAG) {
                stats.parse_failures += 1;
            }
            let start = buf.len();
            let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.encoder.encode(&event, &mut buf);
            }));
            if encoded.is_err() {
                // Only the document writer failed on this event: the fallback (its line and
                // context, anonymized again) is written in its place.
                buf.truncate(start);
                let mut failed = event;
                event = self.fallback_event(
                    &mut failed,
                    &stream,
                    rec.meta.as_deref(),
                    Step::Encode,
                    &|e: &mut Event| self.anonymize.apply(e),
                );
                let again = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    self.encoder.encode(&event, &mut buf);
                }));
                if again.is_err() {
                    // Nothing of it can be written; counted with the events left out.
                    buf.truncate(start);
                    stats.dropped += 1;
                    continue;
                }
            }
            hook.encoded(&event, &buf[start..]);
            items.push(start..buf.len());
            stats.events += 1;
        }
        if data.len() >= 4096 {
            let r = buf.len() * 16 / data.len();
            ENCODED_PER_INPUT_X16.store((r + r / 8).clamp(16, 1024), Ordering::Relaxed);
        }
        telemetry::add(&COUNTERS.events_processed, stats.events);
        telemetry::add(&COUNTERS.empty_lines_skipped, stats.empty_skipped);
        telemetry::add(&COUNTERS.parse_failures, stats.parse_failures);
        telemetry::add(&COUNTERS.invalid_utf8, stats.invalid_utf8);
        telemetry::add(&COUNTERS.truncated, stats.truncated);
        telemetry::add(&COUNTERS.events_dropped_by_rule, stats.dropped);
        EncodedBatch {
            buf,
            items,
            ack,
            stats,
        }
    }
}

/// Encoded bytes per 16 input bytes in the last large batch, plus an eighth: the capacity
/// guess for the next batch's output buffer. Documents are several times their line (names,
/// GeoIP fields, the line itself in `message`); a guess too small costs copies as the buffer
/// doubles, one too large some memory for the batch's lifetime. Shared by all workers: it is a
/// hint, any recent value will do.
static ENCODED_PER_INPUT_X16: AtomicUsize = AtomicUsize::new(64);

/// This thread's own copy of a text every event of a stream carries (host name, file path).
///
/// Every event holds a reference to such a text and drops it after encoding; with one `Arc`
/// shared by all workers, each of those two reference-count updates would move the count's
/// cache line between cores, on every event. A copy per thread keeps the updates local. The
/// original is kept alongside, so its address cannot be reused for another text while the
/// copy is cached.
fn thread_copy(shared: &Arc<str>) -> Arc<str> {
    /// Streams a thread keeps copies for; past this (many files in turn) it starts over.
    const MAX: usize = 64;
    type Copies = Vec<(Arc<str>, Arc<str>)>;
    thread_local! {
        static COPIES: std::cell::RefCell<Copies> = const { std::cell::RefCell::new(Vec::new()) };
    }
    COPIES.with(|copies| {
        let mut copies = copies.borrow_mut();
        if let Some((_, copy)) = copies.iter().find(|(orig, _)| Arc::ptr_eq(orig, shared)) {
            return copy.clone();
        }
        if copies.len() >= MAX {
            copies.clear();
        }
        let copy: Arc<str> = Arc::from(&**shared);
        copies.push((shared.clone(), copy.clone()));
        copy
    })
}

/// A caller's look at each event of [`Chain::process_with`], on the worker thread.
pub trait EventHook {
    /// After the stages, before encoding; `false` leaves the event out of the batch.
    fn keep(&mut self, _event: &Event) -> bool {
        true
    }

    /// The event was encoded as `item`.
    fn encoded(&mut self, _event: &Event, _item: &[u8]) {}
}

struct NoHook;

impl EventHook for NoHook {}

/// Body of a worker thread: until the input side closes or the output side goes away.
pub fn worker_loop(
    chains: Arc<Vec<Chain>>,
    input: flume::Receiver<RawBatch>,
    output: flume::Sender<EncodedBatch>,
) {
    while let Ok(batch) = input.recv() {
        let Some(chain) = chains.get(batch.stream.input_index) else {
            // A batch from an input without a chain is a wiring bug; drop it unacknowledged
            // (its checkpoint stays put) rather than take the process down.
            continue;
        };
        let encoded = chain.process(batch);
        if output.send(encoded).is_err() {
            break;
        }
    }
}

/// Name of this machine for `host.name`.
pub fn local_host_name() -> Cow<'static, str> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(s) = std::str::from_utf8(&buf[..end]) {
            if !s.is_empty() {
                return Cow::Owned(s.to_string());
            }
        }
    }
    Cow::Borrowed("localhost")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::PipelineConfig;
    use crate::output::NdjsonEncoder;
    use crate::parse::ParseError;
    use crate::pipeline::ack::BatchAck;
    use crate::pipeline::build_chains;

    /// A parser with a bug: it panics on lines containing `boom` and reads the others as one
    /// field.
    #[derive(Debug)]
    struct Buggy;

    impl Parser for Buggy {
        fn dataset(&self) -> &'static str {
            "buggy.log"
        }

        fn parse(&self, event: &mut Event) -> Result<(), ParseError> {
            if event.raw.contains("boom") {
                let words: Vec<&str> = event.raw.split(' ').collect();
                // Out of bounds: the kind of slip a parser makes on input it did not expect.
                let _ = words[words.len()];
            }
            let len = event.raw.len() as u32;
            event.push("message", Value::Str(Text::Span { start: 0, end: len }));
            Ok(())
        }
    }

    fn chain(anonymize: &str) -> Chain {
        let toml = format!(
            "[[inputs]]\ntype = \"stdin\"\nparser = \"json\"\n\n{anonymize}\n[output.stdout]\n"
        );
        let config = match PipelineConfig::from_str(Path::new("t.toml"), &toml) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let encoder: Arc<dyn Encoder> = Arc::new(NdjsonEncoder::default());
        let mut chains = match build_chains(&config, &encoder) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let mut chain = chains.remove(0);
        chain.parser = Arc::new(Buggy);
        chain
    }

    /// The stages after the parse with their plans kept per shape together
    /// (`enrich_anonymize_tag`) do exactly what the three stages do one after the other, for
    /// shapes seen again and new, with the anonymizer renaming fields (a masked path takes
    /// `url.extension` with it), filtering them, or doing nothing.
    #[test]
    fn shared_shape_plans_change_nothing() {
        let lines = [
            r#"81.2.69.160 - - [22/Nov/2026:10:00:00 +0100] "GET /shop/cart.html?item=42 HTTP/1.1" 200 5316 "https://example.com/" "Mozilla/5.0""#,
            r#"2a02:ec80:300:ed1a::1 - alice [22/Nov/2026:10:00:01 +0100] "POST /api/v1/orders?token=abc123 HTTP/2.0" 201 812 "-" "okhttp/4.12.0""#,
            r#"216.160.83.56 - bob [22/Nov/2026:10:00:03 +0100] "GET /wp-login.php HTTP/1.1" 404 153 "-" "python-requests/2.32.3""#,
            r#"10.1.2.3 - - [22/Nov/2026:10:00:04 +0100] "GET /reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U HTTP/1.1" 500 0 "-" "curl/8.5.0""#,
            "not an access line at all",
        ];
        let rules = r#"
[[tag]]
when = 'http.response.status_code >= 500 or url.extension == "php"'
add = ["flagged"]

[[tag]]
when = 'exists(user.name) and not exists(url.extension)'
set = { "labels.who" = "named" }

[[tag]]
when = 'labels.who == "named"'
add = ["named"]
"#;
        let anonymize = [
            "",
            "[anonymize]\nip = { fields = [\"source.ip\"] }\nredact = [\"token\", \"email\"]\n",
            "[anonymize]\nredact = [\"token\"]\nremove = [\"user_agent.original\"]\n",
            "[anonymize]\nredact = [\"token\"]\nallow = [\"url.*\", \"user.name\", \"http.*\"]\n",
        ];
        for table in anonymize {
            let toml = format!(
                "[[inputs]]\ntype = \"stdin\"\nparser = \"nginx_access\"\n\n{table}\n{rules}\n\
                 [output.stdout]\n"
            );
            let config = match PipelineConfig::from_str(Path::new("t.toml"), &toml) {
                Ok(c) => c,
                Err(e) => panic!("{e}"),
            };
            let encoder: Arc<dyn Encoder> = Arc::new(NdjsonEncoder::default());
            let chains = match build_chains(&config, &encoder) {
                Ok(c) => c,
                Err(e) => panic!("{e}"),
            };
            let chain = &chains[0];
            // Three rounds: the first meets every shape for the first time, the others find
            // their plans kept.
            for _ in 0..3 {
                for line in lines {
                    let parsed = || {
                        let mut event = Event::new(line.to_string(), RecordOrigin::default());
                        if let Err(e) = chain.parser.parse(&mut event) {
                            event.mark_parse_failure(e.0);
                        }
                        event
                    };
                    let mut shared = parsed();
                    let shared_verdict = chain.enrich_anonymize_tag(&mut shared);
                    let mut apart = parsed();
                    chain.enrich.apply(&mut apart);
                    chain.anonymize.apply(&mut apart);
                    let apart_verdict = chain.tag.apply(&mut apart);
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    encoder.encode(&shared, &mut a);
                    encoder.encode(&apart, &mut b);
                    assert_eq!(
                        String::from_utf8_lossy(&a),
                        String::from_utf8_lossy(&b),
                        "{table}{line}"
                    );
                    assert_eq!(shared_verdict, apart_verdict);
                }
            }
        }
    }

    fn batch(lines: &[&str]) -> RawBatch {
        let stream = Arc::new(StreamContext {
            input_index: 0,
            stream_key: 7,
            file_path: Some(Arc::from("/var/log/app.log")),
            fields: Vec::new(),
        });
        let mut b = RawBatch::new(stream, BatchAck::untracked());
        let mut offset = 0;
        for line in lines {
            let end = offset + line.len() as u64 + 1;
            b.push(line.as_bytes(), offset, end, false);
            offset = end;
        }
        b
    }

    fn documents(encoded: &EncodedBatch) -> Vec<serde_json::Value> {
        encoded
            .items
            .iter()
            .map(|r| match serde_json::from_slice(&encoded.buf[r.clone()]) {
                Ok(v) => v,
                Err(e) => panic!("{e}"),
            })
            .collect()
    }

    #[test]
    fn a_stage_panic_costs_one_record_its_processing_not_the_batch() {
        let chain = chain("[anonymize]\nip = { mode = \"truncate\" }\n");
        let encoded = chain.process(batch(&[
            "first 198.51.100.7",
            "boom from 203.0.113.9",
            "third",
        ]));
        let docs = documents(&encoded);
        assert_eq!(docs.len(), 3, "every record is indexed: {docs:?}");
        assert_eq!(docs[0]["message"], "first 198.51.100.0");
        assert_eq!(docs[2]["message"], "third");
        let failed = &docs[1];
        assert_eq!(failed["tags"], serde_json::json!([PROCESSING_FAILURE_TAG]));
        // Still anonymized, with its context.
        assert_eq!(failed["message"], "boom from 203.0.113.0");
        assert_eq!(failed["log"]["offset"], 19);
        assert_eq!(failed["log"]["file"]["path"], "/var/log/app.log");
        assert_eq!(failed["event"]["dataset"], "buggy.log");
        let reason = failed["error"]["message"].as_str().unwrap_or_default();
        assert!(reason.contains("parse stage"), "{reason}");
        assert!(failed["@timestamp"].is_string());
        assert!(telemetry::get(&COUNTERS.stage_panics) >= 1);
    }

    /// A chain as a production pipeline would have it: the real parser, GeoIP, every
    /// anonymization feature, the built-in tags and a few rules.
    fn full_chain(parser: &str) -> Chain {
        std::env::set_var("LOGPIPE_TEST_WORKER_KEY", "worker-test-key-0123456789");
        let toml = format!(
            r#"
[[inputs]]
type = "stdin"
parser = "{parser}"

[enrich.geoip]
city_db = "geoip/test-city.mmdb"
asn_db = "geoip/test-asn.mmdb"

[anonymize]
ip = {{ mode = "truncate" }}
pseudonymize = {{ fields = ["user.name"], key_env = "LOGPIPE_TEST_WORKER_KEY" }}
redact = ["password", "api_key", "token", "credit_card", "ssn", "email", "phone"]
redact_fields = ["user_agent.original"]

[[tag]]
when = 'http.response.status_code >= 500 or log.level in ["error", "fatal"]'
add = ["bad"]

[[tag]]
when = 'url.path =~ "^/(wp-login|xmlrpc)\.php" and not exists(user.name)'
add = ["scanner"]

[output.stdout]
"#
        );
        let config = match PipelineConfig::from_str(Path::new("t.toml"), &toml) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let encoder: Arc<dyn Encoder> = Arc::new(NdjsonEncoder::default());
        match build_chains(&config, &encoder) {
            Ok(mut c) => c.remove(0),
            Err(e) => panic!("{e}"),
        }
    }

    /// Bytes that start or end what the parsers and detectors look for.
    const SPICE: &[&str] = &[
        "0",
        "9",
        "4111",
        ".",
        ":",
        "::",
        "@",
        "%40",
        "=",
        "\"",
        "\\",
        " ",
        "-",
        "(",
        ")",
        "+1 ",
        "/",
        "?",
        "&",
        "#",
        "[",
        "]",
        "{",
        "}",
        ",",
        "é",
        "\u{1F600}",
        "\t",
        "\n",
        "\r",
        "password=",
        "Bearer ",
        "eyJ",
        "://u:p@",
        "1.2.3.4",
        "fe80::",
        "\u{0}",
        "\u{7f}",
    ];

    proptest::proptest! {
        #![proptest_config(crate::parse::test_support::proptest_config())]

        /// Fixture lines of every format, cut and spiced at random places, go through the whole
        /// chain without a stage failing on them (a failure would show as
        /// `_processing_failure`), and each yields one document.
        #[test]
        fn no_stage_fails_on_mangled_real_lines(
            file in 0usize..6,
            line in 0usize..10_000,
            cuts in proptest::collection::vec((0usize..2_000, 0usize..SPICE.len()), 0..8),
            keep in 1usize..2_000,
        ) {
            let (parser, path) = [
                ("nginx_access", "fixtures/nginx/access.log"),
                ("nginx_error", "fixtures/nginx/error.log"),
                ("json", "fixtures/app/app.json"),
                ("postgresql", "fixtures/postgresql/postgresql.log"),
                ("postgresql", "fixtures/postgresql/postgresql.csv"),
                ("syslog", "fixtures/syslog/syslog.log"),
            ][file];
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            proptest::prop_assume!(!lines.is_empty());
            let mut bytes = lines[line % lines.len()].as_bytes().to_vec();
            for (at, spice) in cuts {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, SPICE[spice].bytes());
            }
            bytes.truncate(keep.max(1));
            let chain = full_chain(parser);
            let mut b = batch(&[]);
            b.push(&bytes, 0, bytes.len() as u64 + 1, false);
            let encoded = chain.process(b);
            let out = String::from_utf8_lossy(&encoded.buf);
            proptest::prop_assert!(
                !out.contains(PROCESSING_FAILURE_TAG),
                "{parser}: {:?} -> {out}",
                String::from_utf8_lossy(&bytes)
            );
            let blank = bytes.iter().all(u8::is_ascii_whitespace);
            proptest::prop_assert_eq!(encoded.items.len(), usize::from(!blank));
        }
    }

    #[test]
    fn a_line_that_cannot_be_anonymized_is_withheld() {
        let chain = chain("");
        let stream = StreamContext {
            input_index: 0,
            stream_key: 7,
            file_path: None,
            fields: Vec::new(),
        };
        let mut failed = Event::new("secret=hunter2 boom".into(), RecordOrigin::default());
        failed.add_tag(TRUNCATED_TAG);
        failed.add_tag("half-done");
        let event = chain.fallback_event(&mut failed, &stream, None, Step::Anonymize, &|_| {
            panic!("the anonymizer's bug")
        });
        assert!(event.get("message").is_none());
        let mut out = Vec::new();
        chain.encoder.encode(&event, &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("withheld"), "{text}");
        assert_eq!(
            event.tags[..],
            [
                std::borrow::Cow::Borrowed(TRUNCATED_TAG),
                std::borrow::Cow::Borrowed(PROCESSING_FAILURE_TAG)
            ]
        );
    }
}
