//! Helpers shared by the unit tests of this crate; compiled only for `cargo test`.
//!
//! The codecs are meant to be indifferent to how the network cuts the byte
//! stream, so the table-driven tests run every case under several cuttings
//! ([`chunkings`]) and the property-style tests cut at random points
//! ([`Rng::split`]). No extra crates: the generator is a few lines of SplitMix64.

use std::fmt::Debug;

/// Deterministic pseudo-random generator (SplitMix64), so failures reproduce.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; `n` must not be zero.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `len` random bytes.
    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// `len` bytes drawn from `alphabet`.
    pub(crate) fn bytes_from(&mut self, alphabet: &[u8], len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }

    /// Cuts `data` into chunks of random sizes (some empty) between 0 and `max_chunk`.
    pub(crate) fn split<'a>(&mut self, mut data: &'a [u8], max_chunk: usize) -> Vec<&'a [u8]> {
        let mut chunks = Vec::new();
        while !data.is_empty() {
            let n = self.below(max_chunk + 1).min(data.len());
            let (head, tail) = data.split_at(n);
            chunks.push(head);
            data = tail;
        }
        chunks
    }
}

/// The cuttings every table-driven case runs under: the whole input in one
/// chunk, one byte at a time, and split in two at every offset (including the
/// empty first and last chunks).
pub(crate) fn chunkings(input: &[u8]) -> Vec<(String, Vec<&[u8]>)> {
    let mut out = vec![
        ("whole".to_owned(), vec![input]),
        ("one byte at a time".to_owned(), input.chunks(1).collect()),
    ];
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        out.push((format!("split at {at}"), vec![a, b]));
    }
    out
}

/// Runs `decode` on every cutting of `input` and checks it gives `expected`.
pub(crate) fn assert_same_events<T: Debug + PartialEq>(
    case: &str,
    input: &[u8],
    expected: &[T],
    mut decode: impl FnMut(&[&[u8]]) -> Vec<T>,
) {
    for (how, chunks) in chunkings(input) {
        assert_eq!(
            decode(&chunks),
            expected,
            "case {case:?} ({how}), input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}
