//! The AMQP codec's fuzz target: the stable-toolchain harness of `fuzz_receivers.rs`, for frames,
//! methods, field tables, properties and content assembly.
//!
//! Inputs are the files of `protocols/fuzz/corpus/amqp/` (written by
//! `protocols/gen/amqp_corpus.py`) and mutations of them from a seeded generator: byte-level ones
//! (bit flips, inserted, deleted and duplicated runs, splices between files), and frame-aware
//! ones that damage one frame's payload (or type, or channel) and then fix its size and end octet,
//! so that the method, table and property decoders see the damage rather than the framing check.
//! Each input is read as a server reads a client: the protocol header if the input starts with
//! `AMQP`, then frames, each handed to its channel's [`ContentAssembler`]. The properties:
//!
//! - no panic, whatever the bytes;
//! - the events do not depend on how the input was cut;
//! - bounded memory: once drained, the receiver holds less than `frame-max` bytes, and an
//!   assembler at most its body limit;
//! - every decoded frame encodes, and decoding that gives the same frame and the same bytes.
//!
//! `cargo test -p spindle-protocols --test amqp_fuzz` runs a quick pass; for a long run,
//! `SPINDLE_FUZZ_ITERS=3000000 cargo test --release -p spindle-protocols --test amqp_fuzz -- --nocapture`.
//! `SPINDLE_FUZZ_SEED` explores elsewhere; a failure prints the seed, iteration and input.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Instant;

use bytes::BytesMut;
use spindle_protocols::amqp::frame::{self, FRAME_OVERHEAD};
use spindle_protocols::amqp::{
    Command, ContentAssembler, Frame, FramePayload, FrameReceiver, PROTOCOL_HEADER,
};

/// The receiver's `frame-max`: the limit before `connection.tune`.
const FRAME_MAX: u32 = 4096;
/// Each assembler's body limit.
const MAX_BODY: u64 = 64 * 1024;

mod fuzz_support;

use fuzz_support::{chunks_by, env_u64, insert_special, mutate_generic, Rng, GENERIC_OPS};

fn corpus() -> Vec<Vec<u8>> {
    fuzz_support::corpus("amqp")
}

/// Byte-level damage anywhere in `data`.
fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        match rng.below(GENERIC_OPS + 2) {
            op @ 0..GENERIC_OPS if mutate_generic(rng, data, corpus, op, 200) => {}
            5 if data.len() >= 4 => {
                // A length field gone wrong: small, just off, or huge.
                let i = rng.below(data.len() - 3);
                let v: u32 = match rng.below(3) {
                    0 => rng.below(16) as u32,
                    1 => u32::from_be_bytes(data[i..i + 4].try_into().unwrap())
                        .wrapping_add(rng.below(5) as u32)
                        .wrapping_sub(2),
                    _ => rng.next() as u32,
                };
                data[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            _ => insert_special(
                rng,
                data,
                &[
                    0xce, 0, 1, 2, 3, 8, b'A', b'F', b'S', b'V', b't', 0xff, 0x80,
                ],
            ),
        }
    }
}

/// A frame taken apart: type, channel, payload.
type RawFrame = (u8, u16, Vec<u8>);

/// The frames at the start of `data` (after a protocol header, returned first), up to the first
/// that does not parse.
fn split_frames(data: &[u8]) -> (Vec<u8>, Vec<RawFrame>) {
    let (prefix, mut rest) = if data.starts_with(b"AMQP") && data.len() >= 8 {
        data.split_at(8)
    } else {
        (&data[..0], data)
    };
    let mut frames = Vec::new();
    while rest.len() >= FRAME_OVERHEAD {
        let size = u32::from_be_bytes(rest[3..7].try_into().unwrap()) as usize;
        let Some(end) = size
            .checked_add(FRAME_OVERHEAD)
            .filter(|&e| e <= rest.len())
        else {
            break;
        };
        let channel = u16::from_be_bytes([rest[1], rest[2]]);
        frames.push((rest[0], channel, rest[7..7 + size].to_vec()));
        rest = &rest[end..];
    }
    (prefix.to_vec(), frames)
}

/// Damage inside one frame, then frame everything properly again.
fn mutate_frames(rng: &mut Rng, data: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let (mut out, mut frames) = split_frames(data);
    if frames.is_empty() {
        return data.to_vec();
    }
    for _ in 0..1 + rng.below(2) {
        let i = rng.below(frames.len());
        match rng.below(8) {
            0 => frames[i].0 = [1, 2, 3, 8][rng.below(4)],
            1 => frames[i].1 = [0, 1, 2, frames[i].1.wrapping_add(1)][rng.below(4)],
            2 => {
                let j = rng.below(frames.len());
                let f = frames[j].clone();
                frames.insert(i, f);
            }
            3 => {
                frames.remove(i);
            }
            _ => mutate_bytes(rng, &mut frames[i].2, corpus),
        }
        if frames.is_empty() {
            break;
        }
    }
    let keep = if rng.below(4) == 0 {
        rng.below(frames.len() + 1)
    } else {
        frames.len()
    };
    for (t, channel, payload) in &frames[..keep] {
        out.push(*t);
        out.extend(channel.to_be_bytes());
        out.extend((payload.len() as u32).to_be_bytes());
        out.extend(payload);
        out.push(0xce);
    }
    out
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let base = &corpus[rng.below(corpus.len())];
    match rng.below(3) {
        0 => {
            let mut data = base.clone();
            mutate_bytes(rng, &mut data, corpus);
            data
        }
        _ => mutate_frames(rng, base, corpus),
    }
}

fn chunks<'a>(rng: &mut Rng, data: &'a [u8]) -> Vec<&'a [u8]> {
    chunks_by(rng, data, |rng| match rng.below(4) {
        0 => 1 + rng.below(3),
        1 => 1 + rng.below(5000),
        _ => 1 + rng.below(64),
    })
}

/// A short, cutting-independent description: bodies by length and checksum, not contents.
fn describe_payload(p: &FramePayload) -> String {
    match p {
        FramePayload::Body(b) => format!("Body({} bytes, fnv {:x})", b.len(), fnv(b)),
        other => format!("{other:?}"),
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Encodes a decoded frame, decodes that, and encodes again: same frame, same bytes.
fn check_re_encode(frame: &Frame) {
    let mut first = BytesMut::new();
    frame::encode(frame, &mut first).expect("a decoded frame encodes");
    let again = frame::decode(&mut first.clone(), 0)
        .expect("an encoded frame decodes")
        .expect("an encoded frame is complete");
    // Debug, not ==: a NaN in a table is not equal to itself.
    assert_eq!(format!("{again:?}"), format!("{frame:?}"));
    let mut second = BytesMut::new();
    frame::encode(&again, &mut second).unwrap();
    assert_eq!(first, second);
}

/// Reads `parts` as a server reads a client: events up to the first error that loses the
/// framing, checking the buffer bounds after every feed.
fn run(parts: &[&[u8]], with_header: bool) -> Vec<String> {
    let mut rx = FrameReceiver::new().with_frame_max(FRAME_MAX);
    let mut channels: HashMap<u16, ContentAssembler> = HashMap::new();
    let mut header_done = !with_header;
    let mut events = Vec::new();
    for part in parts {
        rx.feed(part);
        if !header_done {
            match rx.next_protocol_header() {
                None => {
                    assert!(rx.buffered() < PROTOCOL_HEADER.len());
                    continue;
                }
                Some(Ok(())) => {
                    events.push("protocol header".to_owned());
                    header_done = true;
                }
                Some(Err(e)) => {
                    events.push(format!("error: {e}"));
                    return events;
                }
            }
        }
        while let Some(result) = rx.next_frame() {
            match result {
                Ok(frame) => {
                    check_re_encode(&frame);
                    let mut event =
                        format!("{} {}", frame.channel, describe_payload(&frame.payload));
                    let asm = channels
                        .entry(frame.channel)
                        .or_insert_with(|| ContentAssembler::new().with_max_body_size(MAX_BODY));
                    match asm.handle(frame.payload) {
                        Ok(None) => {}
                        Ok(Some(Command::Method(m))) => write!(event, " -> {}", m.name()).unwrap(),
                        Ok(Some(Command::Message(msg))) => write!(
                            event,
                            " -> {} {:?} body {} bytes fnv {:x}",
                            msg.method.name(),
                            msg.properties,
                            msg.body.len(),
                            fnv(&msg.body)
                        )
                        .unwrap(),
                        Err(e) => write!(event, " -> error {} {e}", e.reply_code()).unwrap(),
                    }
                    assert!(asm.buffered() <= MAX_BODY);
                    events.push(event);
                }
                Err(e) => {
                    events.push(format!("error: {} {e}", e.reply_code()));
                    if e.is_framing_lost() {
                        assert_eq!(rx.buffered(), 0);
                        return events;
                    }
                }
            }
        }
        assert!(
            rx.buffered() < FRAME_MAX as usize,
            "buffered {} >= frame-max {FRAME_MAX}",
            rx.buffered()
        );
    }
    events
}

#[test]
fn amqp_server_side() {
    let corpus = corpus();
    let seed = env_u64("SPINDLE_FUZZ_SEED", 0x5EED);
    let iters = env_u64("SPINDLE_FUZZ_ITERS", 3000) as usize;
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut frames, mut errors) = (0usize, 0usize);
    for i in 0..iters {
        let input = match corpus.get(i) {
            Some(c) => c.clone(),
            None => mutate(&mut rng, &corpus),
        };
        let with_header = input.starts_with(b"AMQP");
        let whole = run(&[&input], with_header);
        let parts = chunks(&mut rng, &input);
        let split = run(&parts, with_header);
        assert_eq!(
            whole, split,
            "events depend on chunking (seed {seed}, iteration {i}), input {input:?}"
        );
        if i < corpus.len() {
            assert!(
                whole.iter().all(|e| !e.contains("error")),
                "corpus file {i} has errors: {whole:?}"
            );
        }
        frames += whole.len();
        errors += whole.iter().filter(|e| e.contains("error")).count();
    }
    eprintln!(
        "amqp fuzz: seed {seed:#x}, {iters} inputs, {frames} events ({errors} errors) in {:.1?}",
        started.elapsed()
    );
}
