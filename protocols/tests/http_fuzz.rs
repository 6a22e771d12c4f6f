//! The HTTP codec's fuzz target: a property-based harness on the stable toolchain, in the
//! style of `resp_fuzz.rs`.
//!
//! Inputs: the files of `protocols/fuzz/corpus/http/` (captured curl, ApacheBench, Python
//! `xmlrpc.client` and management-API requests; Python `SimpleXMLRPCServer` and mixed
//! responses), mutations of them (the generic byte mutations, inserted HTTP-significant
//! bytes, rewritten numbers and framing headers), and generated pipelines of valid requests
//! (random methods, targets, headers, `Content-Length` and chunked bodies). Every input goes
//! to [`RequestDecoder`] and [`ResponseDecoder`], whole and in random chunks; the properties:
//!
//! - no panic, whatever the bytes;
//! - the events do not depend on how the input was cut;
//! - bounded buffering: when a decoder waits for more, it holds no more than its limits allow;
//! - an answer for every input: once the input has ended, a decoder that was handed anything
//!   but blank lines has produced a request (response) or an error;
//! - decoded requests re-encode to bytes that decode to the same request;
//! - pipelined requests come out whole, in the order they were sent.
//!
//! `cargo test -p spindle-protocols --test http_fuzz` runs a quick pass; for a long run,
//! `SPINDLE_FUZZ_ITERS=2000000 cargo test --release -p spindle-protocols --test http_fuzz`.
//! `SPINDLE_FUZZ_SEED` explores elsewhere; a failure prints the seed, iteration and input.

use std::time::Instant;

use bytes::BytesMut;
use spindle_protocols::http::{
    HttpError, Limits, Method, Request, RequestDecoder, RequestEvent, ResponseDecoder,
};

mod fuzz_support;

use fuzz_support::{chunks_by, env_u64, mutate_generic, Rng, GENERIC_OPS};

/// Small limits, so that mutations reach them.
const LIMITS: Limits = Limits {
    max_request_line: 64,
    max_headers_size: 256,
    max_headers: 8,
    max_body: 512,
};

/// The most a decoder may hold while it waits: a head within the limits (plus line ends),
/// a body, or a chunk-size line (4 KiB).
fn bound() -> usize {
    (LIMITS.max_request_line + 2 + LIMITS.max_headers_size + 2)
        .max(LIMITS.max_body as usize)
        .max(4097)
}

/// Bytes that steer an HTTP parser.
const SPECIAL: &[u8] = b"\r\n :;,\t\0\x7f\xff0123456789abcdefHTTP/1.";

const FIELDS: &[&[u8]] = &[
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"Expect: 100-continue\r\n",
    b"X: \x01\r\n",
    b" folded\r\n",
    b"\r\n",
    b"0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
];

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(GENERIC_OPS + 3) {
            op @ 0..GENERIC_OPS if mutate_generic(rng, &mut data, corpus, op, 64) => {}
            5 => {
                let numbers: [&[u8]; 8] = [
                    b"0",
                    b"1",
                    b"5",
                    b"ff",
                    b"200",
                    b"513",
                    b"-1",
                    b"18446744073709551616",
                ];
                let n = numbers[rng.below(numbers.len())];
                let end = (at..data.len())
                    .find(|&i| !data[i].is_ascii_hexdigit())
                    .unwrap_or(data.len());
                data.splice(at..end, n.iter().copied());
            }
            6 => {
                // A field at a line start: framing and connection headers are where bugs live.
                let line_start = data[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let f = FIELDS[rng.below(FIELDS.len())];
                data.splice(line_start..line_start, f.iter().copied());
            }
            _ => data.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
        }
    }
    data
}

fn chunks<'a>(rng: &mut Rng, data: &'a [u8]) -> Vec<&'a [u8]> {
    let max = [1, 3, 17, 100][rng.below(4)];
    chunks_by(rng, data, |rng| 1 + rng.below(max))
}

fn is_blank(input: &[u8]) -> bool {
    input.iter().all(|&b| b == b'\r' || b == b'\n')
}

/// A request with its framing headers dropped, to compare a decoded request with its
/// re-encoding.
fn normalized(req: &Request) -> String {
    let fields: Vec<_> = req
        .headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case(b"content-length")
                && !n.eq_ignore_ascii_case(b"transfer-encoding")
        })
        .collect();
    format!(
        "{} {} {:?} {:?} {:?}",
        req.method, req.target, req.version, fields, req.body
    )
}

/// Runs the request decoder over `parts`, then the end of input: events as text.
fn requests(parts: &[&[u8]]) -> Vec<String> {
    let mut rx = RequestDecoder::new(LIMITS);
    let mut events = Vec::new();
    let drain = |rx: &mut RequestDecoder, events: &mut Vec<String>| {
        while let Some(event) = rx.next_event() {
            match event {
                Ok(RequestEvent::Continue) => events.push("continue".into()),
                Ok(RequestEvent::Request(req)) => {
                    assert!(req.body.len() as u64 <= LIMITS.max_body);
                    let mut wire = BytesMut::new();
                    req.encode(&mut wire);
                    let mut again = RequestDecoder::new(Limits::default());
                    again.feed(&wire);
                    let mut back = again.next_event();
                    if back == Some(Ok(RequestEvent::Continue)) {
                        back = again.next_event();
                    }
                    match back {
                        Some(Ok(RequestEvent::Request(back))) => {
                            assert_eq!(normalized(&back), normalized(&req))
                        }
                        other => panic!("re-encoded {req:?} decodes to {other:?}"),
                    }
                    events.push(normalized(&req));
                }
                Err(e) => {
                    let _ = e.status();
                    events.push(format!("error: {e}"));
                }
            }
        }
    };
    for part in parts {
        rx.feed(part);
        drain(&mut rx, &mut events);
        assert!(
            rx.buffered() <= bound(),
            "request decoder buffered {}",
            rx.buffered()
        );
    }
    rx.eof();
    drain(&mut rx, &mut events);
    events
}

/// Runs the response decoder over `parts` (answering `methods`), then the end of input.
fn responses(parts: &[&[u8]], methods: &[Method]) -> Vec<String> {
    let mut rx = ResponseDecoder::new(LIMITS);
    for &m in methods {
        rx.expect(m);
    }
    let mut events = Vec::new();
    let drain = |rx: &mut ResponseDecoder, events: &mut Vec<String>| {
        while let Some(event) = rx.next_event() {
            match event {
                Ok(r) => {
                    assert!(r.body.len() as u64 <= LIMITS.max_body);
                    events.push(format!("{} {:?} {:?}", r.status, r.headers, r.body));
                }
                Err(e) => events.push(format!("error: {e}")),
            }
        }
    };
    for part in parts {
        rx.feed(part);
        drain(&mut rx, &mut events);
        assert!(
            rx.buffered() <= bound() + 1,
            "response decoder buffered {}",
            rx.buffered()
        );
    }
    rx.eof();
    drain(&mut rx, &mut events);
    events
}

/// A pipeline of valid requests and what each must decode to.
fn pipeline(rng: &mut Rng) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1 + rng.below(6) {
        let method = Method::ALL[rng.below(Method::ALL.len())];
        let target = format!("/r{i}/{}?q={}", rng.below(1000), rng.below(10));
        let body: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        wire.extend_from_slice(format!("{method} {target} HTTP/1.1\r\nHost: h\r\n").as_bytes());
        for _ in 0..rng.below(4) {
            wire.extend_from_slice(
                format!("X-{}: {}\r\n", rng.below(5), rng.below(1 << 20)).as_bytes(),
            );
        }
        if rng.below(2) == 0 {
            wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            wire.extend_from_slice(&body);
        } else {
            wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            let mut rest = &body[..];
            while !rest.is_empty() {
                let n = (1 + rng.below(16)).min(rest.len());
                wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        }
        expected.push((target, body));
    }
    (wire, expected)
}

#[test]
fn http_decoders() {
    let corpus = fuzz_support::corpus("http");
    let seed = env_u64("SPINDLE_FUZZ_SEED", 0x0004_7779);
    let iterations = env_u64("SPINDLE_FUZZ_ITERS", 3000) as usize;
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut reqs, mut errs, mut reps, mut pipelined) = (0usize, 0usize, 0usize, 0usize);
    for i in 0..iterations {
        if i % 4 == 3 {
            // Pipelined order: every request whole, in order, however the stream is cut.
            let (wire, expected) = pipeline(&mut rng);
            let parts = chunks(&mut rng, &wire);
            let mut rx = RequestDecoder::new(Limits::default());
            let mut got = Vec::new();
            for part in parts {
                rx.feed(part);
                while let Some(event) = rx.next_event() {
                    match event {
                        Ok(RequestEvent::Request(r)) => got.push((r.target, r.body.to_vec())),
                        other => panic!("seed {seed}, iteration {i}: {other:?} in {wire:?}"),
                    }
                }
            }
            assert_eq!(got, expected, "seed {seed}, iteration {i}");
            pipelined += got.len();
            continue;
        }
        let input = match corpus.get(i) {
            Some(c) => c.clone(),
            None => mutate(&mut rng, &corpus),
        };
        let parts = chunks(&mut rng, &input);
        let whole = requests(&[&input]);
        let split = requests(&parts);
        assert_eq!(
            whole, split,
            "requests depend on chunking (seed {seed}, iteration {i}), input {input:?}"
        );
        assert!(
            is_blank(&input) || whole.iter().any(|e| e != "continue"),
            "no request and no error (seed {seed}, iteration {i}), input {input:?}"
        );
        reqs += whole.len();
        errs += whole.last().is_some_and(|e| e.starts_with("error")) as usize;
        let methods: Vec<Method> = (0..4)
            .map(|_| [Method::Get, Method::Head, Method::Post][rng.below(3)])
            .collect();
        let whole = responses(&[&input], &methods);
        let split = responses(&parts, &methods);
        assert_eq!(
            whole, split,
            "responses depend on chunking (seed {seed}, iteration {i}), input {input:?}"
        );
        let interim_only = input.starts_with(b"HTTP/1.1 1");
        assert!(
            input.is_empty() || interim_only || !whole.is_empty(),
            "no response and no error (seed {seed}, iteration {i}), input {input:?}"
        );
        reps += whole.len();
    }
    eprintln!(
        "http fuzz: seed {seed:#x}, {iterations} iterations in {:.1?}: {reqs} requests/errors \
         ({errs} ending in an error), {reps} responses/errors, {pipelined} pipelined requests",
        started.elapsed()
    );
}

#[test]
fn corpus_seeds_are_realistic() {
    // Request seeds decode without error except the `req_error_*` ones; response seeds
    // decode to responses without error.
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/http");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(&path).unwrap();
        let limits = Limits {
            max_body: 4096,
            ..Limits::default()
        };
        let events: Vec<Result<(), HttpError>> = if name.starts_with("rep_") {
            let mut rx = ResponseDecoder::new(limits);
            rx.feed(&input);
            rx.eof();
            std::iter::from_fn(|| rx.next_event())
                .map(|r| r.map(|_| ()))
                .collect()
        } else {
            let mut rx = RequestDecoder::new(limits);
            rx.feed(&input);
            rx.eof();
            std::iter::from_fn(|| rx.next_event())
                .map(|r| r.map(|_| ()))
                .collect()
        };
        assert!(!events.is_empty(), "{name}");
        let failed = events.iter().any(|e| e.is_err());
        assert_eq!(failed, name.contains("error"), "{name}: {events:?}");
    }
}
