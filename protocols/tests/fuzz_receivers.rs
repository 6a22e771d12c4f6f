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

use std::path::PathBuf;

use spindle_protocols::int_prefixed::{IntPrefixedReceiver, Prefix};
use spindle_protocols::lines::LineReceiver;
use spindle_protocols::netstring::NetstringReceiver;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus(codec: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(codec);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let inputs: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!inputs.is_empty(), "empty corpus {}", dir.display());
    inputs
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let run: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                data.splice(at..at, run);
            }
            2 if !data.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(16)).min(data.len());
                let run = data[start..end].to_vec();
                data.splice(at..at, run);
            }
            4 => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                data.splice(at..at, other[from..].iter().copied());
            }
            _ => {
                let special = [b'\r', b'\n', b':', b',', b'0', b'9', 0xff, 0];
                data.insert(at, special[rng.below(special.len())]);
            }
        }
    }
    data
}

fn chunks<'a>(rng: &mut Rng, mut data: &'a [u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let n = (1 + rng.below(12)).min(data.len());
        let (a, b) = data.split_at(n);
        out.push(a);
        data = b;
    }
    out
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

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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
