//! RESP's fuzz target: a property-based harness on the stable toolchain, in the style of
//! `fuzz_receivers.rs`.
//!
//! Inputs are the files of `protocols/fuzz/corpus/resp/` (hand-written redis-cli and
//! redis-benchmark request captures, inline sessions, RESP2 and RESP3 replies) and mutations
//! of them (bit flips, inserted RESP-significant bytes, deleted and duplicated runs, splices
//! between corpus files, rewritten numbers) from a seeded generator. Every input goes to both
//! decoders, [`RequestDecoder`] (authenticated and not) and [`decode_frame`], whole and in
//! random chunks; the properties:
//!
//! - no panic, whatever the bytes;
//! - the events (requests, frames, errors) do not depend on how the input was cut;
//! - bounded buffering: when a decoder asks for more bytes, the buffer holds no more than its
//!   limits allow;
//! - decoded values re-encode to bytes that decode to the same values.
//!
//! `cargo test -p spindle-protocols --test resp_fuzz` runs a quick pass; for a long run,
//! `SPINDLE_FUZZ_ITERS=3000000 cargo test --release -p spindle-protocols --test resp_fuzz`.
//! `SPINDLE_FUZZ_SEED` explores elsewhere; a failure prints the seed, iteration and input.

use std::path::PathBuf;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{decode_frame, Limits, RequestDecoder, RequestLimits};

mod fuzz_support;

use fuzz_support::{chunks_by, env_u64, mutate_generic, Rng, GENERIC_OPS};

fn corpus() -> Vec<Vec<u8>> {
    fuzz_support::corpus("resp")
}

/// Bytes that steer a RESP parser: type bytes, line ends, signs, digits, quotes, escapes.
const SPECIAL: &[u8] = b"\r\n*$+-:_,#(!=%~>|\"'\\x09 \t\0\xff";

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(GENERIC_OPS + 2) {
            op @ 0..GENERIC_OPS if mutate_generic(rng, &mut data, corpus, op, 64) => {}
            5 => {
                // Rewrite a number: lengths and counts are where limits live.
                let numbers: [&[u8]; 9] = [
                    b"0",
                    b"-1",
                    b"10",
                    b"11",
                    b"16385",
                    b"999999999",
                    b"-0",
                    b"01",
                    b"+1",
                ];
                let n = numbers[rng.below(numbers.len())];
                let end = (at..data.len())
                    .find(|&i| !data[i].is_ascii_digit())
                    .unwrap_or(data.len());
                data.splice(at..end, n.iter().copied());
            }
            _ => data.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
        }
    }
    data
}

fn chunks<'a>(rng: &mut Rng, data: &'a [u8]) -> Vec<&'a [u8]> {
    let max = [1, 3, 12, 64][rng.below(4)];
    chunks_by(rng, data, |rng| 1 + rng.below(max))
}

const REQUEST_LIMITS: RequestLimits = RequestLimits {
    max_bulk_len: 1000,
    max_multibulk_len: 64,
    max_inline_len: 200,
    unauth_max_multibulk_len: 10,
    unauth_max_bulk_len: 100,
};

const FRAME_LIMITS: Limits = Limits {
    max_bulk_len: 1000,
    max_elements: 8,
    max_depth: 3,
    max_line_len: 200,
};

/// The longest frame `FRAME_LIMITS` allow at nesting `depth`: an unfinished frame is shorter.
fn longest_frame(depth: usize) -> usize {
    let l = FRAME_LIMITS.max_line_len;
    let scalar = 1 + l + 2 + FRAME_LIMITS.max_bulk_len + 2;
    if depth == FRAME_LIMITS.max_depth {
        return scalar;
    }
    // An attribute: its header, 2n frames, then the frame it describes.
    scalar.max(1 + l + 2 + (2 * FRAME_LIMITS.max_elements + 1) * longest_frame(depth + 1))
}

fn encode_request(args: &[Bytes]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Runs the request decoder over `parts`; requests and the first error, as text.
fn requests(parts: &[&[u8]], authenticated: bool) -> Vec<String> {
    let mut decoder = RequestDecoder::new(REQUEST_LIMITS);
    decoder.set_authenticated(authenticated);
    let bound = REQUEST_LIMITS
        .max_inline_len
        .max(REQUEST_LIMITS.max_bulk_len)
        + 1;
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(args)) => {
                    assert!(!args.is_empty() && args.len() <= REQUEST_LIMITS.max_multibulk_len);
                    // Re-encoded as multibulk, the request decodes to the same arguments.
                    let mut again = RequestDecoder::new(REQUEST_LIMITS);
                    again.set_authenticated(true);
                    let mut wire = BytesMut::from(&encode_request(&args)[..]);
                    assert_eq!(again.decode(&mut wire), Ok(Some(args.clone())));
                    assert!(wire.is_empty());
                    events.push(format!("{args:?}"));
                }
                Ok(None) => break,
                Err(e) => {
                    events.push(format!("error: {e}"));
                    return events;
                }
            }
        }
        assert!(
            buf.len() <= bound,
            "request decoder buffered {} > {bound}",
            buf.len()
        );
    }
    events
}

/// Runs `decode_frame` over `parts`; frames and the first error, as text.
fn frames(parts: &[&[u8]]) -> Vec<String> {
    let bound = longest_frame(0);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        loop {
            match decode_frame(&mut buf, &FRAME_LIMITS) {
                Ok(Some(frame)) => {
                    // encode(decode(encode(f))) == encode(f): a check that also holds for NaN.
                    let wire = frame.to_bytes();
                    let mut copy = BytesMut::from(&wire[..]);
                    let back = decode_frame(&mut copy, &FRAME_LIMITS).unwrap().unwrap();
                    assert!(copy.is_empty());
                    assert_eq!(back.to_bytes(), wire);
                    events.push(format!("{frame:?}"));
                }
                Ok(None) => break,
                Err(e) => {
                    events.push(format!("error: {e}"));
                    return events;
                }
            }
        }
        assert!(
            buf.len() < bound,
            "frame decoder buffered {} >= {bound}",
            buf.len()
        );
    }
    events
}

#[test]
fn resp_decoders() {
    let corpus = corpus();
    let seed = env_u64("SPINDLE_FUZZ_SEED", 0x5EED);
    let iterations = env_u64("SPINDLE_FUZZ_ITERS", 3000) as usize;
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut requests_seen, mut frames_seen, mut errors_seen) = (0usize, 0usize, 0usize);
    for i in 0..iterations {
        let input = match corpus.get(i) {
            Some(c) => c.clone(),
            None => mutate(&mut rng, &corpus),
        };
        let parts = chunks(&mut rng, &input);
        for authenticated in [true, false] {
            let whole = requests(&[&input], authenticated);
            let split = requests(&parts, authenticated);
            assert_eq!(
                whole, split,
                "requests (authenticated: {authenticated}) depend on chunking \
                 (seed {seed}, iteration {i}), input {input:?}"
            );
            requests_seen += whole.len();
            errors_seen += whole.last().is_some_and(|e| e.starts_with("error")) as usize;
        }
        let whole = frames(&[&input]);
        let split = frames(&parts);
        assert_eq!(
            whole, split,
            "frames depend on chunking (seed {seed}, iteration {i}), input {input:?}"
        );
        frames_seen += whole.len();
    }
    eprintln!(
        "resp fuzz: seed {seed:#x}, {iterations} iterations in {:.1?}: \
         {requests_seen} requests/errors, {errors_seen} request errors, {frames_seen} frames/errors",
        started.elapsed()
    );
}

#[test]
fn corpus_seeds_are_realistic() {
    // Reply seeds (`rep_*`) decode to frames without error; request seeds (`req_*`) decode
    // to requests without error, except the two that reproduce Redis's protocol-error tests.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/resp");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(&path).unwrap();
        let (events, error_expected) = if name.starts_with("rep_") {
            (frames(&[&input]), false)
        } else {
            let bad = name.contains("error") || name.contains("big_counts");
            (requests(&[&input], true), bad)
        };
        assert!(!events.is_empty(), "{name}");
        let failed = events.last().is_some_and(|e| e.starts_with("error"));
        assert_eq!(failed, error_expected, "{name}: {events:?}");
    }
}
