//! What every codec's fuzz harness shares: a seeded generator, the kept corpus, the generic
//! byte mutations, chunking, and environment knobs. Each harness adds its codec's own
//! mutations (numbers for RESP, length fields and frame surgery for AMQP) and properties.

#![allow(dead_code)]

use std::path::PathBuf;

/// Deterministic pseudo-random numbers (SplitMix64), so a failure reproduces from its seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The seed inputs kept in `protocols/fuzz/corpus/<codec>/`, in file-name order.
pub fn corpus(codec: &str) -> Vec<Vec<u8>> {
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

/// The generic mutations, `op` in `0..GENERIC_OPS`: flip a bit, insert random bytes, delete a
/// run, duplicate a run, splice in up to `splice_max` bytes of another corpus input. Returns
/// false when the op does not apply (an empty input), so the caller may pick another.
pub fn mutate_generic(
    rng: &mut Rng,
    data: &mut Vec<u8>,
    corpus: &[Vec<u8>],
    op: usize,
    splice_max: usize,
) -> bool {
    let at = rng.below(data.len() + 1);
    match op {
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
            let to = (from + rng.below(splice_max)).min(other.len());
            data.splice(at..at, other[from..to].iter().copied());
        }
        _ => return false,
    }
    true
}

/// How many ops [`mutate_generic`] knows.
pub const GENERIC_OPS: usize = 5;

/// Inserts one of `special` (the bytes that steer the codec) somewhere in `data`.
pub fn insert_special(rng: &mut Rng, data: &mut Vec<u8>, special: &[u8]) {
    let at = rng.below(data.len() + 1);
    data.insert(at, special[rng.below(special.len())]);
}

/// Cuts `data` into chunks whose lengths `size(rng)` draws.
pub fn chunks_by<'a>(
    rng: &mut Rng,
    mut data: &'a [u8],
    mut size: impl FnMut(&mut Rng) -> usize,
) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let n = size(rng).max(1).min(data.len());
        let (a, b) = data.split_at(n);
        out.push(a);
        data = b;
    }
    out
}

/// An integer from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
