//! `spindle bench rpc`: calls per second and latency of an RPC server, over XML-RPC or through
//! an AMQP broker.
//!
//! - **XML-RPC** ([`run_xmlrpc`]): `conns` connections, each making one call after another
//!   (`depth` 1, the default: the next call is sent as soon as the whole answer is in), or
//!   keeping `depth` calls pipelined, which a keep-alive server answers in order. The request
//!   is encoded once and sent as is; answers are framed by their `Content-Length` and checked
//!   for status 200 and no `<fault>`, and the first answer of a round is decoded whole (its
//!   value is the report's `answer`). So the load tool's core goes to the wire rather than to
//!   decoding the same 7 KB struct again and again. A server that closes after each answer
//!   (Python's `SimpleXMLRPCServer` speaks HTTP/1.0) gets a new connection for every call,
//!   made as soon as the old one ends, with the connect counted in the call's latency — what
//!   `xmlrpc.client` meets against it; pipelining is then off, since such a server never reads
//!   what follows the first request.
//! - **AMQP** ([`run_amqp`]): one [`AmqpRpcClient`] connection keeps `in_flight` calls through
//!   the broker to the server's queue (an exclusive reply queue, as the tutorial's client),
//!   each answer sending the next call. Tutorial text mode (the body is the argument, `"10"`,
//!   which pika's `rpc_server.py` also serves) or XML-RPC mode.
//!
//! Each round is its own reactor: connect, warm up, measure `seconds`, stop. With the server's
//! pid, its CPU time over the measured seconds is read from `/proc`, so the report has the
//! server's CPU per call — the figure that tells servers apart when the load tool is the limit.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use spindle_http::{Detached, Outlet};
use spindle_protocols::value::Value;
use spindle_protocols::xmlrpc::{self, Limits, MethodResponse};
use spindle_reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Protocol, ProtocolResult, Reactor, Step,
    Transport,
};
use spindle_rpc::{to_json, AmqpClientConfig, AmqpRpcClient, HttpUrl, RpcError};

use crate::echo::cpu_ticks;
use crate::error::Error;

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// Characters of the first answer kept for the report.
const SAMPLE_CHARS: usize = 60;

/// What an XML-RPC run measures.
#[derive(Debug, Clone)]
pub struct XmlRpcBench {
    /// The server, `http://host:port[/path]` (the path defaults to `/RPC2`).
    pub url: String,
    /// The method called.
    pub method: String,
    /// Its parameters.
    pub params: Vec<Value>,
    /// Concurrent connections (clients).
    pub conns: usize,
    /// Calls pipelined per connection (keep-alive servers only).
    pub depth: usize,
    /// Measured seconds per round, after a half-second warm-up.
    pub seconds: f64,
    /// Rounds, summed in the result.
    pub rounds: usize,
}

impl Default for XmlRpcBench {
    fn default() -> Self {
        XmlRpcBench {
            url: format!("http://127.0.0.1:{}", spindle_rpc::DEFAULT_PORT),
            method: "fib".into(),
            params: vec![Value::Int(10)],
            conns: 16,
            depth: 1,
            seconds: 5.0,
            rounds: 1,
        }
    }
}

/// What an AMQP RPC call carries.
#[derive(Debug, Clone)]
pub enum AmqpRequest {
    /// The tutorial's text mode: the body is this text (`"10"`); the server calls its tutorial
    /// method (`fib`) with it.
    Text(String),
    /// XML-RPC mode: a `methodCall` of this method and parameters (`text/xml`).
    Xml(String, Vec<Value>),
}

/// What an AMQP RPC run measures.
#[derive(Debug, Clone)]
pub struct AmqpRpcBench {
    /// The broker.
    pub amqp: spindle_amqp::Config,
    /// The server's request queue (the routing key on the default exchange).
    pub queue: String,
    /// The call.
    pub request: AmqpRequest,
    /// Calls in flight on the client's connection.
    pub in_flight: usize,
    /// Measured seconds per round, after a one-second warm-up (which covers the connection
    /// and the reply queue's declaration).
    pub seconds: f64,
    /// Rounds, summed in the result.
    pub rounds: usize,
}

/// The figures of a run.
#[derive(Debug, Clone, Default)]
pub struct RpcResult {
    /// Calls answered (without fault) per second over all rounds.
    pub calls_per_s: f64,
    /// Calls per second of each round.
    pub round_calls_per_s: Vec<f64>,
    /// Median call latency, microseconds.
    pub p50_us: u32,
    /// 99th percentile call latency, microseconds.
    pub p99_us: u32,
    /// Calls that failed (faults, HTTP errors, lost connections, timeouts) while measuring.
    pub errors: u64,
    /// The first failure's description.
    pub first_error: Option<String>,
    /// Connections opened while measuring (XML-RPC: one per call against a server that
    /// closes after each answer).
    pub connections: u64,
    /// Seconds measured, all rounds.
    pub seconds: f64,
    /// The server's CPU seconds over the measured time, given its pid.
    pub server_cpu_s: Option<f64>,
    /// The first answer (as JSON, cut short), to see the calls were answered rightly.
    pub answer: Option<String>,
}

impl RpcResult {
    /// The server's CPU time per answered call, in microseconds.
    pub fn cpu_us_per_call(&self) -> Option<f64> {
        let calls = self.calls_per_s * self.seconds;
        self.server_cpu_s
            .filter(|_| calls > 0.0)
            .map(|c| c * 1e6 / calls)
    }

    /// The figures as one JSON object.
    pub fn json(&self) -> String {
        let opt = |v: Option<f64>| v.map_or_else(|| "null".to_string(), |v| format!("{v:.3}"));
        let text = |v: &Option<String>| v.as_deref().map_or_else(|| "null".into(), json_string);
        let rounds: Vec<String> = self
            .round_calls_per_s
            .iter()
            .map(|r| format!("{r:.1}"))
            .collect();
        format!(
            "{{\"calls_per_s\": {:.1}, \"rounds\": [{}], \"latency_us\": {{\"p50\": {}, \"p99\": \
             {}}}, \"errors\": {}, \"first_error\": {}, \"connections\": {}, \"seconds\": {:.3}, \
             \"server_cpu_s\": {}, \"server_cpu_us_per_call\": {}, \"answer\": {}}}",
            self.calls_per_s,
            rounds.join(", "),
            self.p50_us,
            self.p99_us,
            self.errors,
            text(&self.first_error),
            self.connections,
            self.seconds,
            opt(self.server_cpu_s),
            opt(self.cpu_us_per_call()),
            text(&self.answer),
        )
    }

    /// The figures as the lines `spindle bench rpc` prints; `what` names the load.
    pub fn report(&self, what: &str) -> String {
        let mut out = format!("rpc benchmark: {what}\n");
        out.push_str(&format!(
            "{:>12} {:>9} {:>9} {:>7} {:>8} {:>9} {:>11}\n",
            "calls/s", "p50 µs", "p99 µs", "errors", "conns", "srv CPU", "CPU µs/call"
        ));
        let cpu_pct = self.server_cpu_s.map_or("-".to_string(), |c| {
            format!("{:.0}%", 100.0 * c / self.seconds.max(1e-9))
        });
        out.push_str(&format!(
            "{:>12.0} {:>9} {:>9} {:>7} {:>8} {:>9} {:>11}\n",
            self.calls_per_s,
            self.p50_us,
            self.p99_us,
            self.errors,
            self.connections,
            cpu_pct,
            self.cpu_us_per_call()
                .map_or("-".to_string(), |c| format!("{c:.2}")),
        ));
        if let Some(a) = &self.answer {
            out.push_str(&format!("answer: {a}\n"));
        }
        if let Some(e) = &self.first_error {
            out.push_str(&format!("first error: {e}\n"));
        }
        out
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `value` as JSON, cut to [`SAMPLE_CHARS`].
fn sample(value: &Value) -> String {
    let json = to_json(value);
    match json.char_indices().nth(SAMPLE_CHARS) {
        Some((cut, _)) => format!("{}…", json.get(..cut).unwrap_or_default()),
        None => json,
    }
}

/// One round's counts, shared by its connections and timers.
#[derive(Default)]
struct Stats {
    /// Calls are being sent (cleared at the round's end, so no new call starts).
    running: bool,
    /// Inside the measured seconds.
    measuring: bool,
    calls: u64,
    latencies: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    connections: u64,
    answer: Option<String>,
    cpu_ticks: Option<u64>,
}

impl Stats {
    /// A call sent at `sent` has ended with `outcome`.
    fn record(&mut self, sent: Instant, outcome: Result<(), String>) {
        if !self.measuring {
            return;
        }
        match outcome {
            Ok(()) => {
                self.calls += 1;
                let us = sent.elapsed().as_micros();
                self.latencies.push(us.min(u32::MAX as u128) as u32);
            }
            Err(e) => self.failed(e),
        }
    }

    /// A call failed (counted while measuring; the first reason kept in any case).
    fn failed(&mut self, reason: String) {
        if self.measuring {
            self.errors += 1;
        }
        if self.first_error.is_none() {
            self.first_error = Some(reason);
        }
    }
}

/// Runs `reactor` for a warm-up and `seconds` measured; returns the measured time.
fn timed(
    reactor: &mut Reactor,
    stats: &Rc<RefCell<Stats>>,
    pid: Option<u32>,
    warmup: Duration,
    seconds: f64,
) -> Result<f64, Error> {
    let measure = Duration::from_secs_f64(seconds.max(0.1));
    let started = Rc::new(RefCell::new(None::<Instant>));
    let elapsed = Rc::new(RefCell::new(0.0f64));
    {
        let (stats, started) = (stats.clone(), started.clone());
        reactor.call_later(warmup, move |_r| {
            let mut stats = stats.borrow_mut();
            stats.measuring = true;
            stats.cpu_ticks = pid.and_then(cpu_ticks);
            *started.borrow_mut() = Some(Instant::now());
        });
    }
    {
        let (stats, started, elapsed) = (stats.clone(), started.clone(), elapsed.clone());
        reactor.call_later(warmup + measure, move |r| {
            let mut stats = stats.borrow_mut();
            stats.measuring = false;
            stats.running = false;
            stats.cpu_ticks = match (stats.cpu_ticks, pid.and_then(cpu_ticks)) {
                (Some(before), Some(after)) => Some(after.saturating_sub(before)),
                _ => None,
            };
            if let Some(t) = *started.borrow() {
                *elapsed.borrow_mut() = t.elapsed().as_secs_f64();
            }
            r.stop();
        });
    }
    reactor.run()?;
    let secs = *elapsed.borrow();
    Ok(secs)
}

/// Sums rounds into a result.
fn summarize(rounds: Vec<(Stats, f64)>) -> RpcResult {
    let mut result = RpcResult::default();
    let mut latencies = Vec::new();
    let mut ticks = Some(0u64);
    let mut calls = 0u64;
    for (s, secs) in rounds {
        calls += s.calls;
        result
            .round_calls_per_s
            .push(s.calls as f64 / secs.max(1e-9));
        result.errors += s.errors;
        result.connections += s.connections;
        result.seconds += secs;
        result.first_error = result.first_error.or(s.first_error);
        result.answer = result.answer.or(s.answer);
        ticks = ticks.zip(s.cpu_ticks).map(|(a, b)| a + b);
        latencies.extend(s.latencies);
    }
    result.calls_per_s = calls as f64 / result.seconds.max(1e-9);
    result.p50_us = crate::percentile(&mut latencies, 50.0);
    result.p99_us = crate::percentile(&mut latencies, 99.0);
    result.server_cpu_s = ticks.map(|t| t as f64 / USER_HZ);
    result
}

/// Runs `rounds` rounds of `round`, each printed on stderr as it ends.
fn rounds(
    what: &str,
    count: usize,
    mut round: impl FnMut() -> Result<(Stats, f64), Error>,
) -> Result<RpcResult, Error> {
    let mut done = Vec::new();
    for r in 0..count.max(1) {
        let (stats, secs) = round()?;
        if stats.calls == 0 {
            return Err(Error::Failed(vec![format!(
                "{what}: no call was answered{}",
                stats
                    .first_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(" ({e})"))
            )]));
        }
        eprintln!(
            "  round {}/{} {what}: {:.0} calls/s",
            r + 1,
            count.max(1),
            stats.calls as f64 / secs.max(1e-9)
        );
        done.push((stats, secs));
    }
    Ok(summarize(done))
}

// ---------------------------------------------------------------------------------------------
// XML-RPC over HTTP

/// What the connections of an XML-RPC round share.
struct HttpLoad {
    stats: Rc<RefCell<Stats>>,
    /// The whole request, head and body.
    request: Vec<u8>,
    depth: usize,
    /// The server was seen closing after an answer: one call per connection from then on.
    closes: bool,
}

/// An answer's head: where its body starts, how long it is, its status, and whether the
/// server closes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    len: usize,
    body: usize,
    status: u16,
    close: bool,
}

/// Parses a response head (`head` ends before the blank line; `len` counts the blank line).
fn parse_head(head: &[u8], len: usize) -> Result<Head, String> {
    let text = std::str::from_utf8(head).map_err(|_| "a response head that is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut words = status_line.split(' ');
    let version = words.next().unwrap_or_default();
    let status = words
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut close = version == "HTTP/1.0";
    let mut body = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                close = true;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                close = false;
            }
        }
    }
    let body = body.ok_or("an answer without Content-Length")?;
    Ok(Head {
        len,
        body,
        status,
        close,
    })
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One client connection of an XML-RPC round.
struct HttpConn {
    load: Rc<RefCell<HttpLoad>>,
    /// When each call in flight was started.
    sent: VecDeque<Instant>,
    /// When the connect started: the first call's start.
    connecting_since: Instant,
    buf: Vec<u8>,
    head: Option<Head>,
    /// The server said it closes: nothing more is sent here.
    closing: bool,
}

impl HttpConn {
    fn send(&mut self, since: Instant, tx: &mut dyn Transport) {
        let load = self.load.borrow();
        if load.stats.borrow().running {
            tx.write(&load.request);
            self.sent.push_back(since);
        }
    }

    /// A whole answer is in.
    fn answered(&mut self, head: Head, body: &[u8], tx: &mut dyn Transport) {
        let sent = self.sent.pop_front();
        let load = self.load.clone();
        let mut load = load.borrow_mut();
        {
            let mut stats = load.stats.borrow_mut();
            // A fault is a methodResponse whose first element is <fault>: near the start.
            let start = body.get(..body.len().min(256)).unwrap_or(body);
            let outcome = if head.status != 200 {
                Err(format!("HTTP status {}", head.status))
            } else if find(start, b"<fault>").is_some() || stats.answer.is_none() {
                match xmlrpc::decode_response(body, &Limits::default()) {
                    Ok(MethodResponse::Value(v)) => {
                        stats.answer = Some(sample(&v));
                        Ok(())
                    }
                    Ok(MethodResponse::Fault(f)) => {
                        Err(format!("fault {}: {}", f.fault_code, f.fault_string))
                    }
                    Err(e) => Err(format!("bad answer: {e}")),
                }
            } else {
                Ok(())
            };
            match sent {
                Some(t) => stats.record(t, outcome),
                None => stats.failed("an answer to no call".into()),
            }
        }
        if head.close {
            load.closes = true;
            self.closing = true;
            return;
        }
        drop(load);
        if !self.closing {
            self.send(tx.now(), tx);
        }
    }
}

impl Protocol for HttpConn {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        let (depth, closes) = {
            let load = self.load.borrow();
            let mut stats = load.stats.borrow_mut();
            if stats.measuring {
                stats.connections += 1;
            }
            (load.depth.max(1), load.closes)
        };
        let now = tx.now();
        self.send(self.connecting_since, tx);
        if !closes {
            for _ in 1..depth {
                self.send(now, tx);
            }
        }
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.buf.extend_from_slice(data);
        loop {
            let head = match self.head {
                Some(h) => h,
                None => {
                    let Some(end) = find(&self.buf, b"\r\n\r\n") else {
                        break;
                    };
                    match parse_head(self.buf.get(..end).unwrap_or_default(), end + 4) {
                        Ok(h) => h,
                        Err(e) => {
                            self.load.borrow().stats.borrow_mut().failed(e);
                            tx.lose_connection();
                            return Ok(());
                        }
                    }
                }
            };
            let total = head.len + head.body;
            if self.buf.len() < total {
                self.head = Some(head);
                break;
            }
            self.head = None;
            let rest = self.buf.split_off(total);
            let whole = std::mem::replace(&mut self.buf, rest);
            self.answered(head, whole.get(head.len..).unwrap_or_default(), tx);
        }
        Ok(())
    }

    fn connection_lost(&mut self, reason: &DisconnectReason, _tx: &mut dyn Transport) {
        // Calls still waiting when the connection ends are lost (a server that closes after
        // each answer has answered the one call it read).
        let load = self.load.borrow();
        let mut stats = load.stats.borrow_mut();
        // At the round's end the reactor drops every connection, calls in flight or not.
        if stats.running {
            for _ in 0..self.sent.len() {
                stats.failed(format!("connection lost with calls waiting: {reason:?}"));
            }
        }
    }
}

/// Makes one connection after another: a new one as soon as the last ends.
struct HttpClientFactory {
    load: Rc<RefCell<HttpLoad>>,
    connecting_since: Instant,
}

impl ClientFactory for HttpClientFactory {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        Box::new(HttpConn {
            load: self.load.clone(),
            sent: VecDeque::new(),
            connecting_since: self.connecting_since,
            buf: Vec::new(),
            head: None,
            closing: false,
        })
    }

    fn started_connecting(&mut self, _connector: &mut Connector) {
        self.connecting_since = Instant::now();
    }

    fn client_connection_failed(&mut self, reason: &std::io::Error, connector: &mut Connector) {
        let load = self.load.borrow();
        let mut stats = load.stats.borrow_mut();
        stats.failed(format!("connecting to {}: {reason}", connector.address()));
        if stats.running {
            connector.connect_after(Duration::from_millis(10));
        }
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        if self.load.borrow().stats.borrow().running {
            connector.connect();
        }
    }
}

/// The HTTP request of a call, encoded once.
fn http_request(url: &HttpUrl, method: &str, params: &[Value]) -> Vec<u8> {
    let mut body = BytesMut::with_capacity(256);
    xmlrpc::encode_call(method, params, &mut body);
    // What xmlrpc.client sends, less Accept-Encoding: gzip (Python's server would compress
    // answers over 1,400 bytes, and ours does not).
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: spindle-bench\r\nContent-Type: \
         text/xml\r\nContent-Length: {}\r\n\r\n",
        url.path,
        url.host,
        url.port,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    request
}

fn xmlrpc_round(
    addr: SocketAddr,
    url: &HttpUrl,
    bench: &XmlRpcBench,
    pid: Option<u32>,
) -> Result<(Stats, f64), Error> {
    let mut reactor = Reactor::new()?;
    let stats = Rc::new(RefCell::new(Stats {
        running: true,
        ..Stats::default()
    }));
    let load = Rc::new(RefCell::new(HttpLoad {
        stats: stats.clone(),
        request: http_request(url, &bench.method, &bench.params),
        depth: bench.depth,
        closes: false,
    }));
    for _ in 0..bench.conns.max(1) {
        let factory = HttpClientFactory {
            load: load.clone(),
            connecting_since: Instant::now(),
        };
        reactor.connect_tcp(addr, factory, Some(Duration::from_secs(5)))?;
    }
    let secs = timed(
        &mut reactor,
        &stats,
        pid,
        Duration::from_millis(500),
        bench.seconds,
    )?;
    drop(reactor);
    let s = std::mem::take(&mut *stats.borrow_mut());
    Ok((s, secs))
}

/// Measures an XML-RPC server (its process `pid`, if given, for its CPU time).
pub fn run_xmlrpc(bench: &XmlRpcBench, pid: Option<u32>) -> Result<RpcResult, Error> {
    let url = HttpUrl::parse(&bench.url).map_err(|e| Error::Failed(vec![e]))?;
    let addr = spindle_reactor::resolve((url.host.as_str(), url.port))?;
    rounds(&bench.url, bench.rounds, || {
        xmlrpc_round(addr, &url, bench, pid)
    })
}

// ---------------------------------------------------------------------------------------------
// RPC through an AMQP broker

/// Starts one call; its answer records it and starts the next.
fn issue<O: Outlet + ?Sized>(
    client: &AmqpRpcClient,
    out: &mut O,
    request: &Rc<AmqpRequest>,
    stats: &Rc<RefCell<Stats>>,
) {
    if !stats.borrow().running {
        return;
    }
    let sent = Instant::now();
    let (next_client, next_request, next_stats) = (client.clone(), request.clone(), stats.clone());
    let done = move |outcome: Result<String, RpcError>| {
        {
            let mut s = next_stats.borrow_mut();
            if let Ok(answer) = &outcome {
                if s.answer.is_none() {
                    s.answer = Some(answer.chars().take(SAMPLE_CHARS).collect());
                }
            }
            s.record(sent, outcome.map(drop).map_err(|e| e.to_string()));
        }
        // Inside the client's callback: the call is published when the callback returns.
        issue(&next_client, &mut Detached, &next_request, &next_stats);
        Step::<(), RpcError>::Ok(())
    };
    let _ = match &**request {
        AmqpRequest::Text(text) => client.call_text(out, text).then(done),
        AmqpRequest::Xml(method, params) => client
            .call(out, method, params.clone())
            .then(move |r| done(r.map(|v| sample(&v)))),
    };
}

fn amqp_round(bench: &AmqpRpcBench, pid: Option<u32>) -> Result<(Stats, f64), Error> {
    let mut reactor = Reactor::new()?;
    let config = AmqpClientConfig {
        routing_key: bench.queue.clone(),
        ..AmqpClientConfig::default()
    };
    let client = AmqpRpcClient::connect(&mut reactor, bench.amqp.clone(), config)
        .map_err(|e| Error::Failed(vec![e.to_string()]))?;
    let stats = Rc::new(RefCell::new(Stats {
        running: true,
        ..Stats::default()
    }));
    let request = Rc::new(bench.request.clone());
    for _ in 0..bench.in_flight.max(1) {
        issue(&client, &mut reactor, &request, &stats);
    }
    let secs = timed(
        &mut reactor,
        &stats,
        pid,
        Duration::from_secs(1),
        bench.seconds,
    )?;
    // A clean close, so the broker deletes the reply queue without complaint; the calls still
    // in flight fail (and start no others: the round is over).
    client.close(&mut reactor);
    let deadline = Instant::now() + Duration::from_secs(1);
    while client.in_flight() > 0 && Instant::now() < deadline {
        reactor.run_once(Some(Duration::from_millis(50)))?;
    }
    for _ in 0..4 {
        reactor.run_once(Some(Duration::from_millis(5)))?;
    }
    let s = std::mem::take(&mut *stats.borrow_mut());
    Ok((s, secs))
}

/// Measures an RPC server through an AMQP broker (the server's process `pid`, if given, for
/// its CPU time).
pub fn run_amqp(bench: &AmqpRpcBench, pid: Option<u32>) -> Result<RpcResult, Error> {
    let what = format!("queue {}", bench.queue);
    rounds(&what, bench.rounds, || amqp_round(bench, pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_give_the_body_length_and_whether_the_server_closes() {
        let h = parse_head(
            b"HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11\r\nContent-length: 129",
            80,
        )
        .unwrap();
        assert_eq!((h.status, h.body, h.close, h.len), (200, 129, true, 80));
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 7", 40).unwrap();
        assert!(!h.close);
        let h = parse_head(
            b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0",
            9,
        )
        .unwrap();
        assert_eq!((h.status, h.close), (404, true));
        let h = parse_head(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1",
            9,
        )
        .unwrap();
        assert!(!h.close);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n", 9).is_err());
        assert!(parse_head(b"garbage", 9).is_err());
    }

    #[test]
    fn the_request_is_what_xmlrpc_client_sends() {
        let url = HttpUrl::parse("http://127.0.0.1:4242").unwrap();
        let request = http_request(&url, "fib", &[Value::Int(10)]);
        let text = String::from_utf8(request).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1:4242\r\n"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let call = xmlrpc::decode_call(body.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(call.method_name, "fib");
        assert_eq!(call.params, vec![Value::Int(10)]);
    }

    #[test]
    fn results_print_as_json() {
        let mut latencies = vec![100, 200, 300];
        let result = summarize(vec![(
            Stats {
                calls: 3,
                latencies: std::mem::take(&mut latencies),
                errors: 1,
                first_error: Some("fault 1: \"x\"".into()),
                answer: Some("55".into()),
                cpu_ticks: Some(50),
                ..Stats::default()
            },
            1.5,
        )]);
        assert_eq!(result.calls_per_s, 2.0);
        assert_eq!((result.p50_us, result.p99_us), (200, 300));
        assert_eq!(result.cpu_us_per_call().map(|c| c.round()), Some(166_667.0));
        let json = result.json();
        assert!(json.contains("\"calls_per_s\": 2.0"), "{json}");
        assert!(
            json.contains("\"first_error\": \"fault 1: \\\"x\\\"\""),
            "{json}"
        );
        assert!(json.contains("\"answer\": \"55\""), "{json}");
        assert!(result.report("fib(10)").contains("answer: 55"));
    }
}
