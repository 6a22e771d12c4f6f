//! The HTTP codec's request decoding against bare `httparse` (hyper's tokenizer), in one run,
//! on one thread.
//!
//! ```text
//! cargo bench -p spindle-protocols --bench http_codec
//! ROUNDS=9 ROUND_MS=300 cargo bench -p spindle-protocols --bench http_codec
//! ```
//!
//! This bench decided the codec's tokenizer. The codec's first, hand-written one (byte-at-a-
//! time line splitting and field checks) ran at 0.84 (curl `GET`), 0.44 (12-header browser
//! `GET`) and 0.74 (XML-RPC `POST`) of bare `httparse`; with `httparse` tokenizing the head
//! (and an eight-bytes-at-a-time LF search in the scanner) the codec runs at 1.01, 0.92 and
//! 0.97 of it, limits, framing and body included. The ratio left is the codec's own work:
//! finding the head's end line by line for the 414/431 limits, framing, the body.
//!
//! Each row parses a buffer of 64 pipelined requests (a curl `GET`, a browser-like `GET`
//! with 12 headers, Python `xmlrpc.client`'s `POST` with a 300-byte body) into owned
//! requests with the same content:
//!
//! - **spindle**: [`RequestDecoder`] fed the buffer, requests pulled until it is empty;
//! - **httparse**: `httparse::Request::parse` on each head, then the same [`Request`]
//!   built from its slices (names and values as `Bytes` slices of the buffer, the body split
//!   off by `Content-Length`), without limits or checks: the floor for any decoder built on it.
//!
//! Both sides' output is checked equal once before timing. Rounds alternate the two; the
//! medians are printed in requests per CPU-second of this thread, with the ratio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use spindle_protocols::http::{
    Headers, Limits, Method, Request, RequestDecoder, RequestEvent, Version,
};

const CURL: &[u8] =
    b"GET /api/overview HTTP/1.1\r\nHost: localhost:15672\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

const BROWSER: &[u8] = b"GET /api/queues/%2F/orders?columns=name,messages HTTP/1.1\r\n\
Host: localhost:15672\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\"\r\n\
Accept: application/json, text/plain, */*\r\n\
Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\
sec-ch-ua-mobile: ?0\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: cors\r\n\
Referer: http://localhost:15672/\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en;q=0.9\r\n\r\n";

fn xmlrpc() -> Vec<u8> {
    let body = format!(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>sendObj</methodName>\n<params>\n\
         <param>\n<value><struct>{}</struct></value>\n</param>\n</params>\n</methodCall>\n",
        (0..4)
            .map(|i| format!(
                "<member><name>server:{i}</name><value><int>{i}</int></value></member>"
            ))
            .collect::<String>()
    );
    let mut out = format!(
        "POST /RPC2 HTTP/1.1\r\nHost: localhost:8000\r\nAccept-Encoding: gzip\r\n\
         Content-Type: text/xml\r\nUser-Agent: Python-xmlrpc/3.12\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

const PIPELINE: usize = 64;

fn spindle(input: &[u8]) -> Vec<Request> {
    let mut rx = RequestDecoder::new(Limits::default());
    rx.feed(input);
    let mut out = Vec::with_capacity(PIPELINE);
    while let Some(Ok(RequestEvent::Request(r))) = rx.next_event() {
        out.push(r);
    }
    out
}

fn httparse_requests(input: &[u8]) -> Vec<Request> {
    // As the decoder does: copy into a receive buffer, then slice requests out of it.
    let mut buf = BytesMut::from(input);
    let mut out = Vec::with_capacity(PIPELINE);
    while !buf.is_empty() {
        let mut fields = [httparse::EMPTY_HEADER; 100];
        let mut req = httparse::Request::new(&mut fields);
        let Ok(httparse::Status::Complete(len)) = req.parse(&buf) else {
            break;
        };
        let method = match req.method.unwrap() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            _ => unreachable!(),
        };
        let version = if req.version == Some(1) {
            Version::Http11
        } else {
            Version::Http10
        };
        let target = req.path.unwrap().to_owned();
        let mut length = 0usize;
        let spans: Vec<(usize, usize, usize, usize)> = req
            .headers
            .iter()
            .map(|h| {
                if h.name.eq_ignore_ascii_case("content-length") {
                    length = std::str::from_utf8(h.value).unwrap().parse().unwrap();
                }
                let base = buf.as_ptr() as usize;
                (
                    h.name.as_ptr() as usize - base,
                    h.name.len(),
                    h.value.as_ptr() as usize - base,
                    h.value.len(),
                )
            })
            .collect();
        let head: Bytes = buf.split_to(len).freeze();
        let mut headers = Headers::new();
        for (n, nl, v, vl) in spans {
            headers.append(head.slice(n..n + nl), head.slice(v..v + vl));
        }
        let body = buf.split_to(length).freeze();
        out.push(Request {
            method,
            target,
            version,
            headers,
            body,
        });
    }
    out
}

fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Requests per CPU-second over one round of about `ms` milliseconds.
fn round(f: fn(&[u8]) -> Vec<Request>, input: &[u8], ms: u64) -> f64 {
    let (cpu, wall) = (cpu_time(), Instant::now());
    let mut n = 0u64;
    while wall.elapsed() < Duration::from_millis(ms) {
        for _ in 0..16 {
            n += black_box(f(black_box(input))).len() as u64;
        }
    }
    let spent = match (cpu, cpu_time()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall.elapsed(),
    };
    n as f64 / spent.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rounds = env("ROUNDS", 7) as usize;
    let ms = env("ROUND_MS", 200);
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let xml = xmlrpc();
    let rows: [(&str, &[u8]); 3] = [
        ("curl GET", CURL),
        ("browser GET, 12 headers", BROWSER),
        ("xmlrpc POST", &xml),
    ];
    println!(
        "{:<26} {:>14} {:>14} {:>7}",
        "64 pipelined requests", "spindle req/s", "httparse req/s", "ratio"
    );
    for (name, one) in rows {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let input: Vec<u8> = one.repeat(PIPELINE);
        let ours = spindle(&input);
        assert_eq!(ours.len(), PIPELINE);
        assert_eq!(
            ours,
            httparse_requests(&input),
            "{name}: both sides must agree"
        );
        round(spindle, &input, ms / 2);
        round(httparse_requests, &input, ms / 2);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            a.push(round(spindle, &input, ms));
            b.push(round(httparse_requests, &input, ms));
        }
        let (a, b) = (median(a), median(b));
        println!("{name:<26} {a:>14.0} {b:>14.0} {:>7.2}", a / b);
    }
}
