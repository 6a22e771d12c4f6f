//! The receivers' fuzz target: a property-based harness on the stable toolchain.
//!
//! Inputs are the files of `protocols/fuzz/corpus/<codec>/` and mutations of them (bit flips,
//! inserted, deleted and duplicated runs, splices between corpus files) from a seeded
//! generator. Each input is decoded whole and in random chunks; the properties:
//!
//! - no panic, whatever the bytes;
//! - the events do not depend on how the input was cut;
//! - the buffer never holds more than the limit allows (no unbounded memory).
//!
//! `cargo test -p spindle-protocols --test fuzz_receivers` runs a quick pass; for a long run,
//! `SPINDLE_FUZZ_ITERS=2000000 cargo test --release -p spindle-protocols --test fuzz_receivers`.
//! `SPINDLE_FUZZ_SEED` explores elsewhere; a failure prints the seed, iteration and input.

use spindle_protocols::int_prefixed::{IntPrefixedReceiver, Prefix};
use spindle_protocols::lines::LineReceiver;
use spindle_protocols::netstring::NetstringReceiver;

mod fuzz_support;

use fuzz_support::{chunks_by, corpus, env_u64, insert_special, mutate_generic, Rng, GENERIC_OPS};

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let op = rng.below(GENERIC_OPS + 1);
        if !mutate_generic(rng, &mut data, corpus, op, usize::MAX) {
            insert_special(
                rng,
                &mut data,
                &[b'\r', b'\n', b':', b',', b'0', b'9', 0xff, 0],
            );
        }
    }
    data
}

fn chunks<'a>(rng: &mut Rng, data: &'a [u8]) -> Vec<&'a [u8]> {
    chunks_by(rng, data, |rng| 1 + rng.below(12))
}

/// A receiver seen through one shape: feed bytes, pull events, report buffered bytes.
trait Receiver {
    fn feed(&mut self, data: &[u8]);
    fn next(&mut self) -> Option<Result<String, String>>;
    fn buffered(&self) -> usize;
}

/// The three receivers share the same pull API; one impl serves all.
macro_rules! receiver {
    ($($t:ty),*) => {$(
        impl Receiver for $t {
            fn feed(&mut self, data: &[u8]) {
                <$t>::feed(self, data)
            }
            fn next(&mut self) -> Option<Result<String, String>> {
                Some(self.next_event()?.map(|e| format!("{e:?}")).map_err(|e| e.to_string()))
            }
            fn buffered(&self) -> usize {
                <$t>::buffered(self)
            }
        }
    )*};
}

receiver!(LineReceiver, NetstringReceiver, IntPrefixedReceiver);

/// Feeds `parts` into `rx` and collects events up to the first error, checking the buffer
/// bound after every feed.
fn run(parts: &[&[u8]], mut rx: impl Receiver, bound: usize) -> Vec<String> {
    let mut events = Vec::new();
    for part in parts {
        rx.feed(part);
        while let Some(ev) = rx.next() {
            match ev {
                Ok(e) => events.push(e),
                Err(e) => {
                    events.push(format!("error: {e}"));
                    return events;
                }
            }
        }
        assert!(
            rx.buffered() <= bound,
            "buffered {} > {bound}",
            rx.buffered()
        );
    }
    events
}

fn fuzz<R: Receiver>(codec: &str, make: impl Fn() -> R, bound: usize) {
    let corpus = corpus(codec);
    let seed = env_u64("SPINDLE_FUZZ_SEED", 0x5EED);
    let mut rng = Rng(seed);
    for i in 0..env_u64("SPINDLE_FUZZ_ITERS", 3000) as usize {
        let input = match corpus.get(i) {
            Some(c) => c.clone(),
            None => mutate(&mut rng, &corpus),
        };
        let whole = run(&[&input], make(), bound);
        let parts = chunks(&mut rng, &input);
        let split = run(&parts, make(), bound);
        assert_eq!(
            whole, split,
            "{codec}: events depend on chunking (seed {seed}, iteration {i}), input {input:?}"
        );
    }
}

#[test]
fn line_receiver() {
    const MAX: usize = 64;
    // Once drained, what stays buffered is at most one unfinished line.
    fuzz(
        "lines",
        || LineReceiver::new().with_max_length(MAX),
        MAX + 2,
    );
}

#[test]
fn netstring_receiver() {
    const MAX: usize = 1000;
    // At most one unfinished netstring: "1000:" + payload + ",".
    fuzz(
        "netstring",
        || NetstringReceiver::new().with_max_length(MAX),
        MAX + 6,
    );
}

#[test]
fn int_prefixed_receiver() {
    const MAX: usize = 1000;
    for prefix in [Prefix::U8, Prefix::U16, Prefix::U32] {
        fuzz(
            "int_prefixed",
            || IntPrefixedReceiver::new(prefix).with_max_length(MAX),
            MAX + 4,
        );
    }
}
