//! Spindle's AMQP 0-9-1 codec against `amq-protocol` (the codec of the `lapin` client), in one
//! run, on one thread.
//!
//! ```text
//! scripts/bench-amqp-codec                                  # or:
//! cargo bench -p spindle-protocols --bench amqp_codec
//! ROUNDS=9 ROUND_MS=300 scripts/bench-amqp-codec
//! ```
//!
//! A message is three frames: the method (`basic.publish` or `basic.deliver`), the content
//! header, and one body frame (16 B or 1 KiB). Both codecs handle the same message, with the
//! same properties: `content-type`, `delivery-mode` and two headers (`x-retry`, an `I`, and
//! `x-trace-id`, an `S`).
//!
//! - **decode**: from one contiguous buffer holding the three frames to three owned frames.
//!   Spindle's side goes through [`FrameReceiver`], the pull API a connection uses, so it also
//!   pays for copying the bytes into its receive buffer (`feed`); `amq-protocol`'s
//!   `parse_frame` reads the buffer in place. Spindle's frames share that buffer (strings, the
//!   table's strings and the body are `Bytes`); `amq-protocol`'s own theirs (`String`s, a
//!   `BTreeMap`, a `Vec<u8>` body).
//! - **encode**: from a built message to its three frames, written to an output buffer that is
//!   reused each time: [`encode_message`] into a cleared `BytesMut` for Spindle, three
//!   `gen_frame` calls into a `&mut [u8]` for `amq-protocol` (its fastest writer: see
//!   [`amq_encode`]). Both produce the same bytes; that is checked first, and those bytes are
//!   what both decoders read.
//!
//! Before timing, each decoder's output is checked once against the message (method and
//! routing key, properties, body size and bytes), so that neither side can be measuring
//! nothing. Then each row runs a warm-up and `ROUNDS` (default 7) timed rounds of about
//! `ROUND_MS` (default 200) ms per codec, alternating the two codecs round by round; the median
//! of each is printed, in messages per CPU-second of this thread (see [`cpu_time`]), with the
//! ratio. Arguments filter the rows: `cargo bench ... -- "decode deliver"`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use amq_protocol::frame::{gen_frame, parse_frame, AMQPContentHeader, AMQPFrame, WriteContext};
use amq_protocol::protocol::{basic as amq_basic, AMQPClass};
use amq_protocol::types::{AMQPValue, FieldTable as AmqTable, LongString, ShortString};
use bytes::{Bytes, BytesMut};
use spindle_protocols::amqp::content::encode_message;
use spindle_protocols::amqp::{
    BasicDeliver, BasicProperties, BasicPublish, FieldTable, FieldValue, FramePayload,
    FrameReceiver, Method, ShortStr,
};

/// RabbitMQ's default `frame_max`: every body here fits one frame.
const FRAME_MAX: u32 = 131_072;
const CHANNEL: u16 = 1;

const CONTENT_TYPE: &str = "application/json";
const EXCHANGE: &str = "orders";
const ROUTING_KEY: &str = "orders.created.eu-west";
const CONSUMER_TAG: &str = "amq.ctag-Xq3vJ1pZ8bJ0fG2kR7mN4w";
const DELIVERY_TAG: u64 = 4_242;
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const RETRIES: i32 = 3;

#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    deliver: bool,
    body_len: usize,
}

const CASES: [Case; 4] = [
    Case {
        name: "publish 16 B",
        deliver: false,
        body_len: 16,
    },
    Case {
        name: "publish 1 KB",
        deliver: false,
        body_len: 1024,
    },
    Case {
        name: "deliver 16 B",
        deliver: true,
        body_len: 16,
    },
    Case {
        name: "deliver 1 KB",
        deliver: true,
        body_len: 1024,
    },
];

fn body(case: Case) -> Vec<u8> {
    (0..case.body_len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The message as Spindle builds it.
fn spindle_message(case: Case) -> (Method, BasicProperties, Bytes) {
    let method: Method = if case.deliver {
        BasicDeliver {
            consumer_tag: ShortStr::from_static(CONSUMER_TAG),
            delivery_tag: DELIVERY_TAG,
            redelivered: false,
            exchange: ShortStr::from_static(EXCHANGE),
            routing_key: ShortStr::from_static(ROUTING_KEY),
        }
        .into()
    } else {
        BasicPublish {
            exchange: ShortStr::from_static(EXCHANGE),
            routing_key: ShortStr::from_static(ROUTING_KEY),
            ..BasicPublish::default()
        }
        .into()
    };
    // amq-protocol's tables are BTreeMaps, so it writes entries sorted by name; ours keep
    // insertion order, so insert them sorted to get the same bytes.
    let mut headers = FieldTable::new();
    headers.insert(ShortStr::from_static("x-retry"), FieldValue::I32(RETRIES));
    headers.insert(
        ShortStr::from_static("x-trace-id"),
        FieldValue::LongStr(Bytes::from_static(TRACE_ID.as_bytes())),
    );
    let properties = BasicProperties {
        content_type: Some(ShortStr::from_static(CONTENT_TYPE)),
        delivery_mode: Some(2),
        headers: Some(headers),
        ..BasicProperties::default()
    };
    (method, properties, Bytes::from(body(case)))
}

/// The same message as `amq-protocol`'s three frames.
fn amq_frames(case: Case) -> [AMQPFrame; 3] {
    let method = if case.deliver {
        amq_basic::AMQPMethod::Deliver(amq_basic::Deliver {
            consumer_tag: CONSUMER_TAG.into(),
            delivery_tag: DELIVERY_TAG,
            redelivered: false,
            exchange: EXCHANGE.into(),
            routing_key: ROUTING_KEY.into(),
        })
    } else {
        amq_basic::AMQPMethod::Publish(amq_basic::Publish {
            exchange: EXCHANGE.into(),
            routing_key: ROUTING_KEY.into(),
            mandatory: false,
            immediate: false,
        })
    };
    let mut headers = AmqTable::default();
    headers.insert(ShortString::from("x-retry"), AMQPValue::LongInt(RETRIES));
    headers.insert(
        ShortString::from("x-trace-id"),
        AMQPValue::LongString(LongString::from(TRACE_ID)),
    );
    let properties = amq_basic::AMQPProperties::default()
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(2)
        .with_headers(headers);
    let body = body(case);
    [
        AMQPFrame::Method(CHANNEL, AMQPClass::Basic(method)),
        AMQPFrame::Header(
            CHANNEL,
            AMQPContentHeader {
                class_id: 60,
                body_size: body.len() as u64,
                properties,
            },
        ),
        AMQPFrame::Body(CHANNEL, body),
    ]
}

// ---- the four timed operations; each handles one message ----

/// Spindle, encode: one message's three frames appended to `out`.
fn spindle_encode(msg: &(Method, BasicProperties, Bytes), out: &mut BytesMut) {
    out.clear();
    encode_message(CHANNEL, &msg.0, &msg.1, &msg.2, FRAME_MAX, out).unwrap();
}

/// `amq-protocol`, encode: the three frames written by `gen_frame` to the front of `out`, a
/// buffer large enough for them (as a client fills its send buffer); the bytes written.
///
/// `gen_frame` writes to any `Write + BackToTheBuffer`; into a `&mut [u8]` it runs about twice
/// as fast as into a `Vec<u8>` (which it extends with zeros to reserve each frame's length), so
/// the slice is what is measured.
fn amq_encode(frames: &[AMQPFrame; 3], out: &mut [u8]) -> usize {
    let mut rest = out;
    let mut written = 0;
    for frame in frames {
        let (after, position) = gen_frame(frame)(WriteContext::from(rest))
            .unwrap()
            .into_inner();
        written += position as usize;
        rest = after;
    }
    written
}

/// Spindle, decode: the wire bytes fed to a receiver and its three frames taken out. (Both
/// decoders are kept out of line, alike, so that profiles show them as functions.)
#[inline(never)]
fn spindle_decode(rx: &mut FrameReceiver, wire: &[u8]) -> [spindle_protocols::amqp::Frame; 3] {
    rx.feed(wire);
    let mut next = || rx.next_frame().unwrap().unwrap();
    [next(), next(), next()]
}

/// `amq-protocol`, decode: three frames parsed from the wire bytes.
#[inline(never)]
fn amq_decode(wire: &[u8]) -> [AMQPFrame; 3] {
    let mut input = wire;
    let mut next = || {
        let (rest, frame) = parse_frame(input).unwrap();
        input = rest;
        frame
    };
    [next(), next(), next()]
}

// ---- checks, once, outside the timing ----

fn check_spindle_decoded(case: Case, frames: &[spindle_protocols::amqp::Frame; 3]) {
    let (method, properties, body) = spindle_message(case);
    let [m, h, b] = frames;
    assert!(frames.iter().all(|f| f.channel == CHANNEL));
    let FramePayload::Method(decoded) = &m.payload else {
        panic!("spindle: not a method: {m:?}")
    };
    assert_eq!(decoded, &method);
    let routing_key = match decoded {
        Method::BasicPublish(p) => &p.routing_key,
        Method::BasicDeliver(d) => &d.routing_key,
        other => panic!("spindle: unexpected method {other:?}"),
    };
    assert_eq!(routing_key, ROUTING_KEY);
    let FramePayload::Header(header) = &h.payload else {
        panic!("spindle: not a header: {h:?}")
    };
    assert_eq!(header.body_size, case.body_len as u64);
    assert_eq!(header.properties, properties);
    let FramePayload::Body(decoded_body) = &b.payload else {
        panic!("spindle: not a body: {b:?}")
    };
    assert_eq!(decoded_body.len(), case.body_len);
    assert_eq!(decoded_body, &body);
}

fn check_amq_decoded(case: Case, frames: &[AMQPFrame; 3]) {
    assert_eq!(frames, &amq_frames(case));
    let [AMQPFrame::Method(_, AMQPClass::Basic(method)), AMQPFrame::Header(_, header), AMQPFrame::Body(_, body)] =
        frames
    else {
        panic!("amq-protocol: unexpected frames {frames:?}")
    };
    let routing_key = match method {
        amq_basic::AMQPMethod::Publish(p) => &p.routing_key,
        amq_basic::AMQPMethod::Deliver(d) => &d.routing_key,
        other => panic!("amq-protocol: unexpected method {other:?}"),
    };
    assert_eq!(routing_key.as_str(), ROUTING_KEY);
    assert_eq!(header.body_size, case.body_len as u64);
    assert_eq!(body.len(), case.body_len);
}

// ---- timing ----

struct Settings {
    rounds: usize,
    round: Duration,
}

impl Settings {
    fn from_env() -> Self {
        let var = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Settings {
            rounds: var("ROUNDS", 7).max(1) as usize,
            round: Duration::from_millis(var("ROUND_MS", 200).max(10)),
        }
    }
}

/// Time this thread has spent on a CPU: the first field of `/proc/thread-self/schedstat`, in
/// nanoseconds. The machine is shared (two cores, other builds running), so wall time would
/// count the moments another process had the core; this does not.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `op` `n` times; the CPU time it took (wall time where the kernel does not say).
fn time_batch(op: &mut dyn FnMut(), n: u64) -> Duration {
    let (cpu, wall) = (cpu_time(), Instant::now());
    for _ in 0..n {
        op();
    }
    match (cpu, cpu_time()) {
        (Some(start), Some(end)) => end.saturating_sub(start),
        _ => wall.elapsed(),
    }
}

/// How many calls of `op` take about `target`, after warming it up for about as long.
fn calibrate(op: &mut dyn FnMut(), target: Duration) -> u64 {
    let mut n = 1u64;
    loop {
        let took = time_batch(op, n);
        if took >= target / 4 {
            let per = took.as_secs_f64() / n as f64;
            return ((target.as_secs_f64() / per) as u64).max(1);
        }
        n *= 2;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Median messages/s of `ours` and `theirs`, measured alternately round by round.
fn compare(settings: &Settings, ours: &mut dyn FnMut(), theirs: &mut dyn FnMut()) -> (f64, f64) {
    let n_ours = calibrate(ours, settings.round);
    let n_theirs = calibrate(theirs, settings.round);
    // Warm-up: one untimed round each.
    time_batch(ours, n_ours);
    time_batch(theirs, n_theirs);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..settings.rounds {
        // Alternate which goes first, so a drift in the machine's speed hits both.
        let mut run = |first: bool| {
            if first {
                a.push(n_ours as f64 / time_batch(ours, n_ours).as_secs_f64());
            } else {
                b.push(n_theirs as f64 / time_batch(theirs, n_theirs).as_secs_f64());
            }
        };
        run(round % 2 == 0);
        run(round % 2 == 1);
    }
    (median(a), median(b))
}

fn fmt_rate(v: f64) -> String {
    // Thousands separated by a space, as in docs/BENCHMARKS.md.
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn main() {
    let settings = Settings::from_env();
    // `cargo bench -- deliver` runs only the rows whose "op case" contains "deliver".
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |op: &str, case: Case| {
        let row = format!("{op} {}", case.name);
        filters.is_empty() || filters.iter().any(|f| row.contains(f.as_str()))
    };
    let mut rows = Vec::new();

    for case in CASES {
        let msg = spindle_message(case);
        let frames = amq_frames(case);

        // The two encoders agree byte for byte; those bytes are what both decoders read.
        let mut ours_out = BytesMut::new();
        spindle_encode(&msg, &mut ours_out);
        let mut theirs_out = vec![0u8; 2 * ours_out.len()];
        let written = amq_encode(&frames, &mut theirs_out);
        let wire = theirs_out[..written].to_vec();
        assert_eq!(
            &ours_out[..],
            &wire[..],
            "{}: the encodings differ",
            case.name
        );

        let mut rx = FrameReceiver::new().with_frame_max(FRAME_MAX);
        check_spindle_decoded(case, &spindle_decode(&mut rx, &wire));
        assert_eq!(rx.buffered(), 0);
        check_amq_decoded(case, &amq_decode(&wire));

        if wanted("decode", case) {
            let (ours, theirs) = compare(
                &settings,
                &mut || {
                    let frames = spindle_decode(&mut rx, black_box(&wire));
                    black_box(&frames);
                },
                &mut || {
                    let frames = amq_decode(black_box(&wire));
                    black_box(&frames);
                },
            );
            eprintln!("decode {}: {ours:.0} vs {theirs:.0} msgs/s", case.name);
            rows.push(("decode", case.name, ours, theirs));
        }

        if wanted("encode", case) {
            let (ours, theirs) = compare(
                &settings,
                &mut || {
                    spindle_encode(black_box(&msg), &mut ours_out);
                    black_box(&ours_out);
                },
                &mut || {
                    let written = amq_encode(black_box(&frames), &mut theirs_out);
                    black_box((&theirs_out, written));
                },
            );
            eprintln!("encode {}: {ours:.0} vs {theirs:.0} msgs/s", case.name);
            rows.push(("encode", case.name, ours, theirs));
        }
    }
    rows.sort_by_key(|r| r.0);

    println!(
        "messages/s per CPU-second of the benchmark thread; median of {} rounds of ~{} ms each",
        settings.rounds,
        settings.round.as_millis()
    );
    println!();
    println!("| op | case | spindle msgs/s | amq-protocol msgs/s | ratio |");
    println!("|---|---|---|---|---|");
    for (op, name, ours, theirs) in rows {
        println!(
            "| {op} | {name} | {} | {} | **{:.2}×** |",
            fmt_rate(ours),
            fmt_rate(theirs),
            ours / theirs
        );
    }
}
