//! `spindle bench amqp`: a load generator for AMQP brokers in the spirit of RabbitMQ's PerfTest.
//!
//! `producers` connections publish to one exchange, `consumers` connections consume from the
//! queues bound to it (competing consumers), each connection on a reactor of its own thread,
//! written with this crate's AMQP client. Every body starts with the time it was published
//! (nanoseconds since the UNIX epoch, little-endian), so the consumer measures end-to-end
//! latency. The run prints a progress line every second on stderr and a summary: messages
//! sent and received per second and latency percentiles, or one JSON object with `--json`.
//!
//! The topology, which `bench/lapin-load` (the reference generator written with lapin)
//! builds the same way for one queue and no extra bindings: exchange `spindle-bench-TYPE`,
//! queue `spindle-bench-q-PID` (auto-delete, durable with `--persistent`) bound with the key
//! `bench`.
//!
//! - `--queues N` declares N such queues, `spindle-bench-q-PID-0` … `-(N-1)`, each bound with
//!   the key `bench`, so every exchange type (direct and topic as well as fanout) routes each
//!   message to every queue; consumer `i` consumes queue `i mod N`. A delivery is counted
//!   wherever it lands, so received/s is N × the publish rate when the consumers keep up. A
//!   queue without a consumer (fewer consumers than queues) only accumulates.
//! - `--bindings N` makes N bindings on the exchange in all: the one per queue above, and
//!   N − queues patterns that never match `bench` ([`filler_pattern`]: `k.I.*`, `x.#.I`,
//!   `*.I.#`, `#.kI`, `kI`), spread over the queues. They are made before the measured time
//!   starts and go with the queues. Only a topic exchange has to look at them all.
//! - `--fill N` ([`run_fill`]) is a mode of its own: no consumers, one connection publishes N
//!   messages to an exclusive queue (through the default exchange) with confirms, so all are
//!   in the queue when it reports; the queue stays full while the caller's `filled` callback
//!   runs (the time to read the broker's memory), then is deleted. With `--queue NAME` the
//!   queue is a named, non-exclusive one instead (durable with `--persistent`: a durable
//!   queue's messages are what a broker writes to its store), and `--keep` leaves it full
//!   for a later `--drain`. `--max-seconds S` stops publishing after S seconds (a broker too
//!   slow to take them all in reasonable time), reporting how many it confirmed. Each body
//!   of 16 bytes or more carries its sequence number (from 0, little-endian) after the
//!   timestamp.
//! - `--drain` ([`run_drain`]) is the other half: one connection declares `--queue NAME`
//!   passively, consumes as many messages as it said it held (manual acks, prefetch
//!   `--prefetch`, else 1,000) and reports the time it took and whether the sequence numbers
//!   came in order.
//!
//! Producers publish as fast as the client's back-pressure lets them (`--rate` caps each),
//! with `--confirm N` at most N unconfirmed each; then confirmed msg/s and the confirm
//! latency (publish to its `basic.ack`, measured by the producer) are reported too. Consumers ack with `multiple` every
//! `prefetch / 2` deliveries (and on a 100 ms tick), or not at all with `--autoack`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spindle_amqp::{
    run, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions, Delivery,
    ExchangeOptions, Publish, QueueOptions, Reply, TimerId,
};
use spindle_protocols::amqp::FieldTable;

use crate::echo::cpu_ticks;
use crate::error::Error;
use crate::percentile;

/// What to run.
#[derive(Debug, Clone)]
pub struct AmqpBench {
    /// Where the broker is.
    pub config: Config,
    /// Publishing connections.
    pub producers: usize,
    /// Consuming connections.
    pub consumers: usize,
    /// Body size in bytes (at least 8: the timestamp).
    pub size: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Delivery mode 2 and a durable queue.
    pub persistent: bool,
    /// Publisher confirms with at most this many unconfirmed per producer.
    pub confirm: Option<usize>,
    /// `basic.qos` prefetch per consumer (0: unlimited).
    pub prefetch: u16,
    /// Consume with `no_ack`.
    pub autoack: bool,
    /// Messages per second per producer (0: as fast as possible).
    pub rate: u64,
    /// `direct`, `fanout` or `topic`.
    pub exchange_type: String,
    /// Queues bound to the exchange, each with the producers' routing key; consumers are
    /// spread over them (0 counts as 1).
    pub queues: usize,
    /// Bindings on the exchange in all: one per queue that matches, the rest patterns that
    /// never match (0 or fewer than `queues`: only the matching ones).
    pub bindings: usize,
    /// Messages [`run_fill`] publishes and leaves queued.
    pub fill: u64,
    /// [`run_fill`] and [`run_drain`]: a named, non-exclusive queue (else the fill's queue is
    /// an exclusive one of its own).
    pub queue: Option<String>,
    /// [`run_fill`]: leave the named queue full at the end instead of deleting it.
    pub keep: bool,
    /// [`run_fill`]: stop publishing after this many seconds, whether or not all are sent.
    pub max_seconds: Option<f64>,
    /// The broker's process, when it runs on this machine: its CPU time over the measured
    /// time (not the setup) is reported.
    pub broker_pid: Option<u32>,
}

impl AmqpBench {
    /// The run's defaults against `config`'s broker: 1 producer, 1 consumer, 16 B, 10 s.
    pub fn new(config: Config) -> Self {
        AmqpBench {
            config,
            producers: 1,
            consumers: 1,
            size: 16,
            seconds: 10.0,
            persistent: false,
            confirm: None,
            prefetch: 0,
            autoack: false,
            rate: 0,
            exchange_type: "direct".into(),
            queues: 1,
            bindings: 0,
            fill: 1_000_000,
            queue: None,
            keep: false,
            max_seconds: None,
            broker_pid: None,
        }
    }

    fn exchange(&self) -> String {
        format!("spindle-bench-{}", self.exchange_type)
    }

    /// The queues' names: `spindle-bench-q-PID` alone (the name `bench/lapin-load` uses),
    /// else numbered.
    fn queue_names(&self, pid: u32) -> Vec<String> {
        match self.queues {
            0 | 1 => vec![format!("spindle-bench-q-{pid}")],
            n => (0..n)
                .map(|i| format!("spindle-bench-q-{pid}-{i}"))
                .collect(),
        }
    }
}

/// The `i`th binding pattern that never matches [`ROUTING_KEY`] (nor any other one-word key
/// but `k{i}`), mixing `*` and `#` so a topic exchange cannot set them aside by a literal
/// first word alone: `k.I.*`, `x.#.I`, `*.I.#`, `#.kI`, `kI` in turn.
pub fn filler_pattern(i: usize) -> String {
    match i % 5 {
        0 => format!("k.{i}.*"),
        1 => format!("x.#.{i}"),
        2 => format!("*.{i}.#"),
        3 => format!("#.k{i}"),
        _ => format!("k{i}"),
    }
}

/// The routing key producers publish with and the queue is bound with.
const ROUTING_KEY: &str = "bench";
/// How often idle connections look at the stop flag (and consumers flush their acks).
const TICK: Duration = Duration::from_millis(100);
/// How long a rate-limited producer waits between bursts.
const RATE_TICK: Duration = Duration::from_millis(5);
/// `--fill`'s confirm window when `--confirm` does not set one.
const FILL_WINDOW: usize = 1000;
/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// The broker's CPU seconds between two readings of [`cpu_ticks`].
fn cpu_seconds(before: Option<u64>, after: Option<u64>) -> Option<f64> {
    let (before, after) = (before?, after?);
    Some(after.saturating_sub(before) as f64 / USER_HZ)
}

/// `value` as JSON: the number, or `null`.
fn json_number(value: Option<f64>) -> String {
    value.map_or_else(|| "null".to_string(), |v| format!("{v:.3}"))
}

/// The figures of a run.
#[derive(Debug, Clone, Default)]
pub struct AmqpResult {
    /// Messages published per second.
    pub sent_per_s: f64,
    /// Messages delivered per second.
    pub received_per_s: f64,
    /// Median publish-to-delivery latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile latency, milliseconds.
    pub p999_ms: f64,
    /// Seconds measured.
    pub seconds: f64,
    /// The broker's CPU seconds (user + system) in the measured time, given its process.
    pub broker_cpu_s: Option<f64>,
    /// With confirms: what the producers measured of them.
    pub confirms: Option<ConfirmFigures>,
}

/// The publisher confirms of a run (`--confirm N`), as the producers saw them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfirmFigures {
    /// Publishes acked by the broker per second.
    pub confirmed_per_s: f64,
    /// Publishes the broker refused (`basic.nack`) in the measured time.
    pub nacked: u64,
    /// Median time from a publish to its confirm, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile confirm latency, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile confirm latency, milliseconds.
    pub p999_ms: f64,
}

impl AmqpResult {
    /// The summary as one JSON object (`sent_per_s`, `received_per_s`, `latency_ms`,
    /// `seconds`, `broker_cpu_s`: null unless the broker's process was given;
    /// `confirmed_per_s`, `nacked` and `confirm_latency_ms`: null without confirms).
    pub fn json(&self) -> String {
        let confirms = self.confirms.as_ref().map_or_else(
            || "\"confirmed_per_s\": null, \"nacked\": null, \"confirm_latency_ms\": null".into(),
            |c| {
                format!(
                    "\"confirmed_per_s\": {:.1}, \"nacked\": {}, \"confirm_latency_ms\": \
                     {{\"p50\": {:.3}, \"p99\": {:.3}, \"p999\": {:.3}}}",
                    c.confirmed_per_s, c.nacked, c.p50_ms, c.p99_ms, c.p999_ms
                )
            },
        );
        format!(
            "{{\"sent_per_s\": {:.1}, \"received_per_s\": {:.1}, \"latency_ms\": \
             {{\"p50\": {:.3}, \"p99\": {:.3}, \"p999\": {:.3}}}, \"seconds\": {:.2}, \
             \"broker_cpu_s\": {}, {confirms}}}",
            self.sent_per_s,
            self.received_per_s,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.seconds,
            json_number(self.broker_cpu_s)
        )
    }

    /// The summary for people.
    pub fn report(&self, bench: &AmqpBench) -> String {
        let ack = if bench.autoack {
            "autoack".to_string()
        } else {
            format!("manual ack, prefetch {}", bench.prefetch)
        };
        let mut topology = String::new();
        if bench.queues > 1 {
            topology.push_str(&format!(" to {} queues", bench.queues));
        }
        if bench.bindings > bench.queues {
            topology.push_str(&format!(", {} bindings", bench.bindings));
        }
        format!(
            "amqp bench: {}P/{}C, {} B, {} exchange{topology}, {ack}{}{}, {:.1} s\n\
             sent       {:>12.0} msg/s\n\
             received   {:>12.0} msg/s\n\
             latency    p50 {:.3} ms   p99 {:.3} ms   p99.9 {:.3} ms\n{}{}",
            bench.producers,
            bench.consumers,
            bench.size,
            bench.exchange_type,
            if bench.persistent { ", persistent" } else { "" },
            bench
                .confirm
                .map(|n| format!(", confirms (window {n})"))
                .unwrap_or_default(),
            self.seconds,
            self.sent_per_s,
            self.received_per_s,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.confirms
                .as_ref()
                .map(|c| format!(
                    "confirmed  {:>12.0} msg/s ({} nacked)\n\
                     confirm    p50 {:.3} ms   p99 {:.3} ms   p99.9 {:.3} ms\n",
                    c.confirmed_per_s, c.nacked, c.p50_ms, c.p99_ms, c.p999_ms
                ))
                .unwrap_or_default(),
            self.broker_cpu_s
                .map(|cpu| format!(
                    "broker     {:>12.2} µs CPU/msg received\n",
                    cpu * 1e6 / (self.received_per_s * self.seconds).max(1.0)
                ))
                .unwrap_or_default(),
        )
    }
}

/// What [`run_fill`] measured.
#[derive(Debug, Clone, Default)]
pub struct FillResult {
    /// The queue filled (exclusive to the run's connection).
    pub queue: String,
    /// Messages the broker confirmed: the ones in the queue.
    pub published: u64,
    /// Publishes the broker refused with `basic.nack`.
    pub nacked: u64,
    /// Body size in bytes.
    pub size: usize,
    /// Seconds from the first publish to the last confirm.
    pub seconds: f64,
    /// The broker's CPU seconds (user + system) while filling, given its process.
    pub broker_cpu_s: Option<f64>,
}

impl FillResult {
    /// Confirmed publishes per second.
    pub fn published_per_s(&self) -> f64 {
        self.published as f64 / self.seconds.max(1e-9)
    }

    /// The summary as one JSON object (`queue`, `published`, `nacked`, `size`, `seconds`,
    /// `published_per_s`, `broker_cpu_s`: null unless the broker's process was given).
    pub fn json(&self) -> String {
        format!(
            "{{\"queue\": \"{}\", \"published\": {}, \"nacked\": {}, \"size\": {}, \
             \"seconds\": {:.3}, \"published_per_s\": {:.1}, \"broker_cpu_s\": {}}}",
            self.queue,
            self.published,
            self.nacked,
            self.size,
            self.seconds,
            self.published_per_s(),
            json_number(self.broker_cpu_s)
        )
    }

    /// The summary for people.
    pub fn report(&self) -> String {
        format!(
            "amqp fill: {} messages of {} B confirmed into {} in {:.2} s ({:.0} msg/s), {} nacked\n",
            self.published,
            self.size,
            self.queue,
            self.seconds,
            self.published_per_s(),
            self.nacked
        )
    }
}

/// What the connection threads and the main thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Set when the measured time is over: connections close.
    stop: AtomicBool,
    sent: AtomicU64,
    received: AtomicU64,
    /// Consumers whose `basic.consume-ok` has arrived.
    consuming: AtomicUsize,
    /// Publishes the broker confirmed, and refused (`basic.nack`).
    confirmed: AtomicU64,
    nacked: AtomicU64,
    /// `--fill`: nanoseconds from the first publish to the last confirm, once all are settled.
    filled_nanos: AtomicU64,
    /// `--fill`: the caller is done with the full queue; delete it and close.
    release: AtomicBool,
    /// Why connections failed.
    errors: Mutex<Vec<String>>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Records why a connection ended badly, unless the run was already stopping.
    fn failed(&self, who: &str, error: &ClientError) {
        if self.stopping() {
            return;
        }
        if let Ok(mut errors) = self.errors.lock() {
            errors.push(format!("{who}: {error}"));
        }
        // One failure spoils the measurement: stop the rest.
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Declares the exchange and the queues, binds them (the matching binding of each queue, then
/// the non-matching ones, all pipelined), and closes once every binding is confirmed.
struct Setup {
    bench: Arc<AmqpBench>,
    queues: Vec<String>,
    /// `queue.bind-ok`s still to come.
    unbound: usize,
}

impl Setup {
    fn new(bench: Arc<AmqpBench>, queues: Vec<String>) -> Self {
        Setup {
            unbound: bench.bindings.max(queues.len()),
            bench,
            queues,
        }
    }
}

impl ConnectionHandler for Setup {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        let durable = self.bench.persistent;
        let exchange = self.bench.exchange();
        ch.exchange_declare(
            &exchange,
            &self.bench.exchange_type,
            &ExchangeOptions::default(),
        )?;
        let options = QueueOptions {
            durable,
            auto_delete: true,
            ..QueueOptions::default()
        };
        for queue in &self.queues {
            ch.queue_declare(queue, &options)?;
            ch.queue_bind(queue, &exchange, ROUTING_KEY, FieldTable::new())?;
        }
        let fillers = self.unbound.saturating_sub(self.queues.len());
        for (i, queue) in (0..fillers).zip(self.queues.iter().cycle()) {
            ch.queue_bind(queue, &exchange, &filler_pattern(i), FieldTable::new())?;
        }
        Ok(())
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if reply == Reply::QueueBound {
            self.unbound = self.unbound.saturating_sub(1);
            if self.unbound == 0 {
                ch.connection().close();
            }
        }
        Ok(())
    }
}

/// One publishing connection.
struct Producer {
    bench: Arc<AmqpBench>,
    shared: Arc<Shared>,
    channel: u16,
    publish: Publish,
    body: Vec<u8>,
    /// For `--rate`: when publishing started, and how many were sent since.
    started: Option<Instant>,
    sent: u64,
    /// With confirms: when each unconfirmed publish left (nanoseconds since the UNIX epoch,
    /// the body's stamp), from sequence number `first_unconfirmed` on; `None` once confirmed.
    unconfirmed: VecDeque<Option<u64>>,
    first_unconfirmed: u64,
    /// Publish-to-confirm latencies in microseconds of the confirms counted.
    confirm_latencies: Vec<u32>,
}

impl Producer {
    fn new(bench: Arc<AmqpBench>, shared: Arc<Shared>) -> Self {
        let mut publish = Publish::to(bench.exchange(), ROUTING_KEY);
        if bench.persistent {
            publish = publish.persistent();
        }
        Producer {
            body: vec![0; bench.size.max(8)],
            bench,
            shared,
            channel: 0,
            publish,
            started: None,
            sent: 0,
            unconfirmed: VecDeque::new(),
            first_unconfirmed: 0,
            confirm_latencies: Vec::new(),
        }
    }

    /// Notes when the publish numbered `seq` (in confirm mode) left.
    fn published(&mut self, seq: Option<u64>, stamp: u64) {
        if let Some(seq) = seq {
            if self.unconfirmed.is_empty() {
                self.first_unconfirmed = seq;
            }
            self.unconfirmed.push_back(Some(stamp));
        }
    }

    /// The latency of the publish numbered `seq`, now confirmed (once; `None` for a number
    /// never published or confirmed before).
    fn confirmed(&mut self, seq: u64) -> Option<u64> {
        let index = usize::try_from(seq.checked_sub(self.first_unconfirmed)?).ok()?;
        let stamp = self.unconfirmed.get_mut(index)?.take()?;
        while let Some(None) = self.unconfirmed.front() {
            self.unconfirmed.pop_front();
            self.first_unconfirmed += 1;
        }
        Some(now_nanos().saturating_sub(stamp))
    }

    /// How often to wake: often when rate-limited (to publish the next burst), else only to
    /// look at the stop flag.
    fn tick(&self) -> Duration {
        if self.bench.rate > 0 {
            RATE_TICK
        } else {
            TICK
        }
    }

    /// Publishes until back-pressure, the confirm window or the rate says stop.
    fn pump(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        if self.shared.stopping() {
            conn.close();
            return Ok(());
        }
        let allowed = match (self.bench.rate, self.started) {
            (0, _) | (_, None) => u64::MAX,
            (rate, Some(t0)) => (t0.elapsed().as_secs_f64() * rate as f64) as u64,
        };
        let mut ch = conn.channel(self.channel);
        let mut n = 0u64;
        while self.sent < allowed {
            if self.bench.confirm.is_some_and(|w| ch.unconfirmed() >= w) {
                break;
            }
            let now = now_nanos();
            if let Some(stamp) = self.body.get_mut(..8) {
                stamp.copy_from_slice(&now.to_le_bytes());
            }
            match ch.publish(&self.publish, &self.body) {
                Ok(seq) => {
                    self.published(seq, now);
                    self.sent += 1;
                    n += 1;
                }
                Err(ClientError::Paused) => break,
                Err(e) => return Err(e),
            }
        }
        self.shared.sent.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

impl ConnectionHandler for Producer {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.channel = conn.open_channel()?;
        if self.bench.confirm.is_some() {
            conn.channel(self.channel).confirm_select()?;
        }
        self.started = Some(Instant::now());
        conn.call_later(self.tick());
        self.pump(conn)
    }

    fn on_writable(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.pump(conn)
    }

    fn on_confirm(&mut self, ch: &mut Channel<'_>, seq: u64, ok: bool) -> Result<(), ClientError> {
        let latency = self.confirmed(seq);
        if !self.shared.stopping() {
            if ok {
                self.shared.confirmed.fetch_add(1, Ordering::Relaxed);
                if let Some(nanos) = latency {
                    let micros = (nanos / 1000).min(u64::from(u32::MAX)) as u32;
                    self.confirm_latencies.push(micros);
                }
            } else {
                self.shared.nacked.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Once the window is half empty, fill it again (not after every single confirm).
        let refill = self
            .bench
            .confirm
            .is_some_and(|w| ch.unconfirmed() <= w / 2);
        if refill {
            self.pump(ch.connection())?;
        }
        Ok(())
    }

    fn on_timer(&mut self, conn: &mut Connection<'_>, _timer: TimerId) -> Result<(), ClientError> {
        if !self.shared.stopping() {
            conn.call_later(self.tick());
        }
        self.pump(conn)
    }
}

/// One consuming connection.
struct Consumer {
    bench: Arc<AmqpBench>,
    shared: Arc<Shared>,
    queue: String,
    channel: u16,
    /// Latencies in microseconds of the deliveries counted.
    latencies: Vec<u32>,
    /// Deliveries not yet acked, and the last one's tag.
    unacked: u64,
    last_tag: u64,
    ack_every: u64,
}

impl Consumer {
    fn flush_acks(&mut self, ch: &mut Channel<'_>) -> Result<(), ClientError> {
        if self.unacked > 0 {
            ch.ack(self.last_tag, true)?;
            self.unacked = 0;
        }
        Ok(())
    }
}

impl ConnectionHandler for Consumer {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.channel = conn.open_channel()?;
        let mut ch = conn.channel(self.channel);
        if self.bench.prefetch > 0 {
            ch.qos(self.bench.prefetch)?;
        }
        let options = ConsumeOptions {
            no_ack: self.bench.autoack,
            ..ConsumeOptions::default()
        };
        ch.consume(&self.queue, &options)?;
        ch.connection().call_later(TICK);
        Ok(())
    }

    fn on_reply(&mut self, _ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::Consuming { .. } = reply {
            self.shared.consuming.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        if !self.shared.stopping() {
            self.shared.received.fetch_add(1, Ordering::Relaxed);
            if let Some(stamp) = d.body.get(..8) {
                let mut sent = [0u8; 8];
                sent.copy_from_slice(stamp);
                let sent = u64::from_le_bytes(sent);
                let micros = now_nanos().saturating_sub(sent) / 1000;
                self.latencies.push(micros.min(u64::from(u32::MAX)) as u32);
            }
        }
        if !self.bench.autoack {
            self.unacked += 1;
            self.last_tag = d.delivery_tag;
            if self.unacked >= self.ack_every {
                self.flush_acks(ch)?;
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, conn: &mut Connection<'_>, _timer: TimerId) -> Result<(), ClientError> {
        if self.shared.stopping() {
            conn.close();
            return Ok(());
        }
        self.flush_acks(&mut conn.channel(self.channel))?;
        conn.call_later(TICK);
        Ok(())
    }
}

/// `--fill`'s one connection: declares its queue (exclusive unless named), publishes `fill`
/// messages to it through the default exchange with at most `window` unconfirmed, and once
/// the caller releases the full queue deletes it (unless `keep`) and closes.
struct Filler {
    bench: Arc<AmqpBench>,
    shared: Arc<Shared>,
    queue: String,
    channel: u16,
    publish: Publish,
    body: Vec<u8>,
    window: usize,
    sent: u64,
    started: Option<Instant>,
    deleting: bool,
}

impl Filler {
    fn new(bench: Arc<AmqpBench>, shared: Arc<Shared>, queue: String) -> Self {
        let mut publish = Publish::to("", queue.as_str());
        if bench.persistent {
            publish = publish.persistent();
        }
        Filler {
            body: vec![0; bench.size.max(8)],
            window: bench.confirm.unwrap_or(FILL_WINDOW).max(1),
            bench,
            shared,
            queue,
            channel: 0,
            publish,
            sent: 0,
            started: None,
            deleting: false,
        }
    }

    /// More to publish: not all sent, and `--max-seconds` (if any) not yet over.
    fn publishing(&self) -> bool {
        let in_time = match (self.bench.max_seconds, self.started) {
            (Some(limit), Some(t0)) => t0.elapsed().as_secs_f64() < limit,
            _ => true,
        };
        self.sent < self.bench.fill && in_time
    }

    /// Publishes until all are sent, the window is full, back-pressure says stop or the time
    /// is up.
    fn pump(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        if self.shared.stopping() {
            conn.close();
            return Ok(());
        }
        if !self.publishing() {
            return Ok(());
        }
        let mut ch = conn.channel(self.channel);
        let mut n = 0u64;
        while self.sent < self.bench.fill && ch.unconfirmed() < self.window {
            if let Some(stamp) = self.body.get_mut(..8) {
                stamp.copy_from_slice(&now_nanos().to_le_bytes());
            }
            if let Some(seq) = self.body.get_mut(8..16) {
                seq.copy_from_slice(&self.sent.to_le_bytes());
            }
            match ch.publish(&self.publish, &self.body) {
                Ok(_) => {
                    self.sent += 1;
                    n += 1;
                }
                Err(ClientError::Paused) => break,
                Err(e) => return Err(e),
            }
        }
        self.shared.sent.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }
}

impl ConnectionHandler for Filler {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.channel = conn.open_channel()?;
        let mut ch = conn.channel(self.channel);
        let options = QueueOptions {
            durable: self.bench.persistent,
            exclusive: self.bench.queue.is_none(),
            ..QueueOptions::default()
        };
        ch.queue_declare(&self.queue, &options)?;
        ch.confirm_select()?;
        self.started = Some(Instant::now());
        conn.call_later(TICK);
        self.pump(conn)
    }

    fn on_writable(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.pump(conn)
    }

    fn on_confirm(&mut self, ch: &mut Channel<'_>, _seq: u64, ok: bool) -> Result<(), ClientError> {
        let counter = if ok {
            &self.shared.confirmed
        } else {
            &self.shared.nacked
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if self.publishing() {
            if ch.unconfirmed() <= self.window / 2 {
                self.pump(ch.connection())?;
            }
        } else if ch.unconfirmed() == 0 {
            let nanos = self.started.map_or(0, |t0| t0.elapsed().as_nanos() as u64);
            self.shared
                .filled_nanos
                .store(nanos.max(1), Ordering::Relaxed);
        }
        Ok(())
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::QueueDeleted { .. } = reply {
            ch.connection().close();
        }
        Ok(())
    }

    fn on_timer(&mut self, conn: &mut Connection<'_>, _timer: TimerId) -> Result<(), ClientError> {
        if self.shared.stopping() {
            conn.close();
            return Ok(());
        }
        if !self.deleting && self.shared.release.load(Ordering::Relaxed) {
            if self.bench.keep {
                conn.close();
                return Ok(());
            }
            self.deleting = true;
            conn.channel(self.channel)
                .queue_delete(&self.queue, false, false)?;
        }
        conn.call_later(TICK);
        Ok(())
    }
}

/// Runs `handler`'s connection on a thread of its own; gives back what `extract` takes from
/// the handler at the end.
fn spawn<H, T>(
    name: &str,
    bench: &AmqpBench,
    shared: &Arc<Shared>,
    handler: H,
    extract: impl FnOnce(H) -> T + Send + 'static,
) -> Result<JoinHandle<Option<T>>, Error>
where
    H: ConnectionHandler + Send + 'static,
    T: Send + 'static,
{
    let config = bench.config.clone();
    let shared = shared.clone();
    let who = name.to_string();
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || match run(config, handler) {
            Ok(h) => Some(extract(h)),
            // `run` returns the error the connection ended with (a failed connect, a broker
            // close, a lost socket): the one place failures are recorded.
            Err(e) => {
                shared.failed(&who, &e);
                None
            }
        })
        .map_err(Error::Thread)
}

/// Runs the benchmark; `progress` gets a line every second.
///
/// # Errors
///
/// The broker could not be reached, a connection failed, or consumers did not start.
pub fn run_bench(bench: AmqpBench, mut progress: impl FnMut(&str)) -> Result<AmqpResult, Error> {
    if !matches!(bench.exchange_type.as_str(), "direct" | "fanout" | "topic") {
        return Err(Error::ExchangeType(bench.exchange_type));
    }
    let bench = Arc::new(bench);
    let queues = bench.queue_names(std::process::id());
    run(
        bench.config.clone(),
        Setup::new(bench.clone(), queues.clone()),
    )
    .map_err(Error::Setup)?;

    let shared = Arc::new(Shared::default());
    let mut consumers = Vec::new();
    for (i, queue) in (0..bench.consumers).zip(queues.iter().cycle()) {
        let consumer = Consumer {
            bench: bench.clone(),
            shared: shared.clone(),
            queue: queue.clone(),
            channel: 0,
            latencies: Vec::new(),
            unacked: 0,
            last_tag: 0,
            ack_every: u64::from(bench.prefetch / 2).max(1),
        };
        consumers.push(spawn(
            &format!("consumer-{i}"),
            &bench,
            &shared,
            consumer,
            |c| c.latencies,
        )?);
    }
    // Producers start once every consumer is consuming, as PerfTest does.
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.consuming.load(Ordering::Relaxed) < bench.consumers {
        if shared.stopping() || Instant::now() >= deadline {
            shared.stop.store(true, Ordering::Relaxed);
            let errors = shared
                .errors
                .lock()
                .map(|e| e.join("; "))
                .unwrap_or_default();
            return Err(Error::ConsumersNotStarted(errors));
        }
        thread::sleep(Duration::from_millis(5)); // polling a condition
    }
    let mut producers = Vec::new();
    let cpu0 = bench.broker_pid.and_then(cpu_ticks);
    let t0 = Instant::now();
    for i in 0..bench.producers {
        let producer = Producer::new(bench.clone(), shared.clone());
        producers.push(spawn(
            &format!("producer-{i}"),
            &bench,
            &shared,
            producer,
            |p| p.confirm_latencies,
        )?);
    }

    let end = t0 + Duration::from_secs_f64(bench.seconds);
    let (mut last_sent, mut last_received, mut last_t) = (0, 0, t0);
    let mut second = 1u32;
    while !shared.stopping() {
        let tick = (t0 + Duration::from_secs(u64::from(second))).min(end);
        let now = Instant::now();
        if tick > now {
            thread::sleep(tick - now); // the measured time passing, not a wait for a condition
        }
        let now = Instant::now();
        let sent = shared.sent.load(Ordering::Relaxed);
        let received = shared.received.load(Ordering::Relaxed);
        let dt = now.duration_since(last_t).as_secs_f64().max(1e-9);
        progress(&format!(
            "t={:.0}s sent {:.0}/s received {:.0}/s",
            now.duration_since(t0).as_secs_f64(),
            (sent - last_sent) as f64 / dt,
            (received - last_received) as f64 / dt,
        ));
        (last_sent, last_received, last_t) = (sent, received, now);
        second += 1;
        if now >= end {
            break;
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let broker_cpu_s = cpu_seconds(cpu0, bench.broker_pid.and_then(cpu_ticks));
    let sent = shared.sent.load(Ordering::Relaxed);
    let received = shared.received.load(Ordering::Relaxed);
    let confirmed = shared.confirmed.load(Ordering::Relaxed);
    let nacked = shared.nacked.load(Ordering::Relaxed);

    let mut confirm_latencies = Vec::new();
    for p in producers {
        if let Ok(Some(mut l)) = p.join() {
            confirm_latencies.append(&mut l);
        }
    }
    let mut latencies = Vec::new();
    for c in consumers {
        if let Ok(Some(mut l)) = c.join() {
            latencies.append(&mut l);
        }
    }
    if let Ok(mut errors) = shared.errors.lock() {
        if !errors.is_empty() {
            return Err(Error::Failed(std::mem::take(&mut *errors)));
        }
    }
    let confirms = bench.confirm.map(|_| {
        let mut ms = |p: f64| f64::from(percentile(&mut confirm_latencies, p)) / 1000.0;
        ConfirmFigures {
            confirmed_per_s: confirmed as f64 / elapsed,
            nacked,
            p50_ms: ms(50.0),
            p99_ms: ms(99.0),
            p999_ms: ms(99.9),
        }
    });
    let mut ms = |p: f64| f64::from(percentile(&mut latencies, p)) / 1000.0;
    Ok(AmqpResult {
        sent_per_s: sent as f64 / elapsed,
        received_per_s: received as f64 / elapsed,
        p50_ms: ms(50.0),
        p99_ms: ms(99.0),
        p999_ms: ms(99.9),
        seconds: elapsed,
        broker_cpu_s,
        confirms,
    })
}

/// Fills a queue: publishes `bench.fill` messages of `bench.size` bytes (persistent and to a
/// durable queue with `persistent`) to a queue nobody consumes (exclusive, unless
/// `bench.queue` names one), with publisher confirms (window `bench.confirm`, else 1,000), so
/// that when `filled` is called every one is in the queue (or as many as were confirmed
/// within `bench.max_seconds`). The queue stays full until `filled` returns (the time to look
/// at the broker's memory), then is deleted unless `bench.keep`; `progress` gets a line every
/// second while filling.
///
/// # Errors
///
/// The broker could not be reached or the connection failed.
pub fn run_fill(
    bench: AmqpBench,
    mut progress: impl FnMut(&str),
    filled: impl FnOnce(&FillResult),
) -> Result<FillResult, Error> {
    let bench = Arc::new(bench);
    let queue = bench
        .queue
        .clone()
        .unwrap_or_else(|| format!("spindle-bench-fill-{}", std::process::id()));
    let shared = Arc::new(Shared::default());
    let filler = Filler::new(bench.clone(), shared.clone(), queue.clone());
    let cpu0 = bench.broker_pid.and_then(cpu_ticks);
    let t0 = Instant::now();
    let thread = spawn("filler", &bench, &shared, filler, |_| ())?;
    let (mut last_sent, mut last_confirmed, mut last_t) = (0, 0, t0);
    let mut next_line = t0 + Duration::from_secs(1);
    let nanos = loop {
        if shared.stopping() {
            break None;
        }
        let nanos = shared.filled_nanos.load(Ordering::Relaxed);
        if nanos > 0 {
            break Some((nanos, bench.broker_pid.and_then(cpu_ticks)));
        }
        if thread.is_finished() {
            // Ended without an error and without every confirm: nothing to measure.
            if let Ok(mut errors) = shared.errors.lock() {
                errors.push("filler: the connection closed before the queue was full".into());
            }
            break None;
        }
        let now = Instant::now();
        if now >= next_line {
            let sent = shared.sent.load(Ordering::Relaxed);
            let confirmed = shared.confirmed.load(Ordering::Relaxed);
            let dt = now.duration_since(last_t).as_secs_f64().max(1e-9);
            progress(&format!(
                "t={:.0}s published {:.0}/s confirmed {:.0}/s ({confirmed} in all)",
                now.duration_since(t0).as_secs_f64(),
                (sent - last_sent) as f64 / dt,
                (confirmed - last_confirmed) as f64 / dt,
            ));
            (last_sent, last_confirmed, last_t) = (sent, confirmed, now);
            next_line += Duration::from_secs(1);
        }
        thread::sleep(Duration::from_millis(5)); // polling a condition
    };
    let (nanos, cpu1) = (nanos.map(|(n, _)| n), nanos.and_then(|(_, c)| c));
    let result = FillResult {
        queue,
        published: shared.confirmed.load(Ordering::Relaxed),
        nacked: shared.nacked.load(Ordering::Relaxed),
        size: bench.size.max(8),
        seconds: nanos.unwrap_or(0) as f64 / 1e9,
        broker_cpu_s: cpu_seconds(cpu0, cpu1),
    };
    if nanos.is_some() {
        filled(&result);
    }
    shared.release.store(true, Ordering::Relaxed);
    let _ = thread.join();
    if let Ok(mut errors) = shared.errors.lock() {
        if !errors.is_empty() {
            return Err(Error::Failed(std::mem::take(&mut *errors)));
        }
    }
    Ok(result)
}

/// How long [`run_drain`] waits for a delivery before it gives up on the rest.
const DRAIN_IDLE: Duration = Duration::from_secs(10);
/// `--drain`'s prefetch when `--prefetch` does not set one.
const DRAIN_PREFETCH: u16 = 1000;

/// What [`run_drain`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrainResult {
    /// The queue drained.
    pub queue: String,
    /// Messages the queue said it held (its passive declare's count).
    pub messages: u64,
    /// Messages consumed (and acked).
    pub received: u64,
    /// Of those, how many came marked redelivered.
    pub redelivered: u64,
    /// The first body's sequence number (bodies of 16 bytes or more carry one).
    pub first_seq: Option<u64>,
    /// Bodies whose sequence number was not the one after the previous body's.
    pub out_of_order: u64,
    /// Seconds from the consume to the last delivery.
    pub seconds: f64,
}

impl DrainResult {
    /// Messages consumed per second.
    pub fn received_per_s(&self) -> f64 {
        self.received as f64 / self.seconds.max(1e-9)
    }

    /// The summary as one JSON object (`queue`, `messages`, `received`, `redelivered`,
    /// `first_seq`: null without sequence numbers, `out_of_order`, `seconds`,
    /// `received_per_s`).
    pub fn json(&self) -> String {
        format!(
            "{{\"queue\": \"{}\", \"messages\": {}, \"received\": {}, \"redelivered\": {}, \
             \"first_seq\": {}, \"out_of_order\": {}, \"seconds\": {:.3}, \
             \"received_per_s\": {:.1}}}",
            self.queue,
            self.messages,
            self.received,
            self.redelivered,
            self.first_seq
                .map_or_else(|| "null".to_string(), |s| s.to_string()),
            self.out_of_order,
            self.seconds,
            self.received_per_s()
        )
    }

    /// The summary for people.
    pub fn report(&self) -> String {
        let order = match (self.first_seq, self.out_of_order) {
            (None, _) => "no sequence numbers".to_string(),
            (Some(first), 0) => format!("in order from {first}"),
            (Some(first), n) => format!("from {first}, {n} out of order"),
        };
        format!(
            "amqp drain: {} of {} messages from {} in {:.2} s ({:.0} msg/s), {} redelivered, \
             {order}\n",
            self.received,
            self.messages,
            self.queue,
            self.seconds,
            self.received_per_s(),
            self.redelivered
        )
    }
}

/// `--drain`'s one connection: declares its queue passively, consumes as many messages as
/// the declare counted (acking every `prefetch / 2`), checks their sequence numbers, closes.
struct Drainer {
    shared: Arc<Shared>,
    prefetch: u16,
    channel: u16,
    result: DrainResult,
    /// The sequence number the next body should carry.
    next_seq: Option<u64>,
    unacked: u64,
    last_tag: u64,
    /// When the consume was sent, and when the last delivery came.
    started: Option<Instant>,
    last_delivery: Option<Instant>,
}

impl Drainer {
    fn flush_acks(&mut self, ch: &mut Channel<'_>) -> Result<(), ClientError> {
        if self.unacked > 0 {
            ch.ack(self.last_tag, true)?;
            self.unacked = 0;
        }
        Ok(())
    }

    /// Notes the time taken and closes.
    fn finish(&mut self, ch: &mut Channel<'_>) -> Result<(), ClientError> {
        self.flush_acks(ch)?;
        if let (Some(t0), Some(t1)) = (self.started, self.last_delivery) {
            self.result.seconds = t1.duration_since(t0).as_secs_f64();
        }
        ch.connection().close();
        Ok(())
    }
}

impl ConnectionHandler for Drainer {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.channel = conn.open_channel()?;
        let mut ch = conn.channel(self.channel);
        ch.qos(self.prefetch)?;
        let options = QueueOptions {
            passive: true,
            ..QueueOptions::default()
        };
        ch.queue_declare(&self.result.queue, &options)?;
        conn.call_later(TICK);
        Ok(())
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::QueueDeclared { message_count, .. } = reply {
            self.result.messages = u64::from(message_count);
            if message_count == 0 {
                return self.finish(ch);
            }
            self.started = Some(Instant::now());
            ch.consume(&self.result.queue, &ConsumeOptions::default())?;
        }
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        self.last_delivery = Some(Instant::now());
        self.result.received += 1;
        self.shared.received.fetch_add(1, Ordering::Relaxed);
        self.result.redelivered += u64::from(d.redelivered);
        if let Some(bytes) = d.body.get(8..16) {
            let mut seq = [0u8; 8];
            seq.copy_from_slice(bytes);
            let seq = u64::from_le_bytes(seq);
            match self.next_seq {
                None => self.result.first_seq = Some(seq),
                Some(next) if next != seq => self.result.out_of_order += 1,
                Some(_) => {}
            }
            self.next_seq = Some(seq.wrapping_add(1));
        }
        self.unacked += 1;
        self.last_tag = d.delivery_tag;
        if self.result.received >= self.result.messages {
            return self.finish(ch);
        }
        if self.unacked >= u64::from(self.prefetch / 2).max(1) {
            self.flush_acks(ch)?;
        }
        Ok(())
    }

    fn on_timer(&mut self, conn: &mut Connection<'_>, _timer: TimerId) -> Result<(), ClientError> {
        let idle = self
            .last_delivery
            .or(self.started)
            .is_some_and(|t| t.elapsed() >= DRAIN_IDLE);
        if self.shared.stopping() || idle {
            return self.finish(&mut conn.channel(self.channel));
        }
        self.flush_acks(&mut conn.channel(self.channel))?;
        conn.call_later(TICK);
        Ok(())
    }
}

/// Drains `bench.queue`: declares it passively, consumes as many messages as it held then
/// (manual acks, prefetch `bench.prefetch`, else 1,000) and reports how long that took and
/// whether the bodies' sequence numbers (see [`run_fill`]) came in order; gives up on the
/// rest after 10 s without a delivery. `progress` gets a line every second.
///
/// # Errors
///
/// No queue named; the broker could not be reached, the queue does not exist or the
/// connection failed.
pub fn run_drain(bench: AmqpBench, mut progress: impl FnMut(&str)) -> Result<DrainResult, Error> {
    let Some(queue) = bench.queue.clone() else {
        return Err(Error::Failed(vec!["--drain needs --queue".into()]));
    };
    let shared = Arc::new(Shared::default());
    let drainer = Drainer {
        shared: shared.clone(),
        prefetch: if bench.prefetch > 0 {
            bench.prefetch
        } else {
            DRAIN_PREFETCH
        },
        channel: 0,
        result: DrainResult {
            queue,
            ..DrainResult::default()
        },
        next_seq: None,
        unacked: 0,
        last_tag: 0,
        started: None,
        last_delivery: None,
    };
    let t0 = Instant::now();
    let thread = spawn("drainer", &bench, &shared, drainer, |d| d.result)?;
    let (mut last_received, mut last_t) = (0, t0);
    let mut next_line = t0 + Duration::from_secs(1);
    while !thread.is_finished() {
        let now = Instant::now();
        if now >= next_line {
            let received = shared.received.load(Ordering::Relaxed);
            let dt = now.duration_since(last_t).as_secs_f64().max(1e-9);
            progress(&format!(
                "t={:.0}s received {:.0}/s ({received} in all)",
                now.duration_since(t0).as_secs_f64(),
                (received - last_received) as f64 / dt,
            ));
            (last_received, last_t) = (received, now);
            next_line += Duration::from_secs(1);
        }
        thread::sleep(Duration::from_millis(5)); // polling a condition
    }
    let result = thread.join().ok().flatten();
    if let Ok(mut errors) = shared.errors.lock() {
        if !errors.is_empty() {
            return Err(Error::Failed(std::mem::take(&mut *errors)));
        }
    }
    result.ok_or_else(|| Error::Failed(vec!["drainer: the connection ended early".into()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AMQP topic matching, written out plainly: `*` one word, `#` zero or more.
    fn topic_matches(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.first(), key.first()) {
            (None, None) => true,
            (Some(&"#"), _) => {
                topic_matches(&pattern[1..], key)
                    || (!key.is_empty() && topic_matches(pattern, &key[1..]))
            }
            (Some(&"*"), Some(_)) => topic_matches(&pattern[1..], &key[1..]),
            (Some(p), Some(k)) => p == k && topic_matches(&pattern[1..], &key[1..]),
            _ => false,
        }
    }

    fn matches(pattern: &str, key: &str) -> bool {
        let p: Vec<&str> = pattern.split('.').collect();
        let k: Vec<&str> = key.split('.').collect();
        topic_matches(&p, &k)
    }

    #[test]
    fn the_matcher_used_below_is_topic_matching() {
        assert!(matches("bench", "bench"));
        assert!(matches("#", "bench"));
        assert!(matches("*", "bench"));
        assert!(matches("#.bench", "bench"));
        assert!(matches("a.#.b", "a.b"));
        assert!(matches("a.#.b", "a.x.y.b"));
        assert!(!matches("*.*", "bench"));
        assert!(!matches("a.*", "a"));
    }

    #[test]
    fn filler_patterns_never_match_the_routing_key_and_are_all_different() {
        let patterns: Vec<String> = (0..10_000).map(filler_pattern).collect();
        for p in &patterns {
            assert!(!matches(p, ROUTING_KEY), "{p} matches {ROUTING_KEY}");
        }
        assert!(patterns.iter().any(|p| p.contains('*')));
        assert!(patterns.iter().any(|p| p.contains('#')));
        let distinct: std::collections::HashSet<&String> = patterns.iter().collect();
        assert_eq!(distinct.len(), patterns.len());
    }

    #[test]
    fn one_queue_keeps_the_reference_tools_name_and_more_are_numbered() {
        let mut bench = AmqpBench::new(Config::new(Default::default()));
        assert_eq!(bench.queue_names(7), ["spindle-bench-q-7"]);
        bench.queues = 0;
        assert_eq!(bench.queue_names(7), ["spindle-bench-q-7"]);
        bench.queues = 3;
        assert_eq!(
            bench.queue_names(7),
            [
                "spindle-bench-q-7-0",
                "spindle-bench-q-7-1",
                "spindle-bench-q-7-2"
            ]
        );
    }

    #[test]
    fn setup_waits_for_every_binding_and_never_fewer_than_one_per_queue() {
        let mut bench = AmqpBench::new(Config::new(Default::default()));
        bench.bindings = 10_000;
        let queues = bench.queue_names(1);
        assert_eq!(Setup::new(Arc::new(bench.clone()), queues).unbound, 10_000);
        bench.queues = 4;
        bench.bindings = 0;
        let queues = bench.queue_names(1);
        assert_eq!(Setup::new(Arc::new(bench), queues).unbound, 4);
    }

    #[test]
    fn the_fill_summary_is_one_json_object_with_its_rate() {
        let r = FillResult {
            queue: "q".into(),
            published: 1000,
            nacked: 0,
            size: 1024,
            seconds: 2.0,
            broker_cpu_s: None,
        };
        assert_eq!(r.published_per_s(), 500.0);
        assert_eq!(
            r.json(),
            "{\"queue\": \"q\", \"published\": 1000, \"nacked\": 0, \"size\": 1024, \
             \"seconds\": 2.000, \"published_per_s\": 500.0, \"broker_cpu_s\": null}"
        );
    }

    #[test]
    fn a_confirm_is_timed_from_its_own_publish_in_any_order() {
        let bench = Arc::new(AmqpBench::new(Config::new(Default::default())));
        let mut p = Producer::new(bench, Arc::new(Shared::default()));
        let now = now_nanos();
        for (seq, ago) in [(1, 3_000_000), (2, 2_000_000), (3, 1_000_000)] {
            p.published(Some(seq), now - ago);
        }
        p.published(None, now); // not in confirm mode: nothing to time
        let ms = |nanos: Option<u64>| nanos.map(|n| n / 1_000_000);
        assert_eq!(ms(p.confirmed(2)), Some(2));
        assert_eq!(p.confirmed(2), None, "timed once");
        assert_eq!(p.unconfirmed.len(), 3, "1 is still waiting");
        assert_eq!(ms(p.confirmed(1)), Some(3));
        assert_eq!((p.unconfirmed.len(), p.first_unconfirmed), (1, 3));
        assert_eq!(ms(p.confirmed(3)), Some(1));
        assert!(p.unconfirmed.is_empty());
        assert_eq!(p.confirmed(0), None);
        assert_eq!(p.confirmed(9), None);
        p.published(Some(4), now);
        assert_eq!(p.first_unconfirmed, 4);
    }

    #[test]
    fn the_summary_has_confirm_figures_only_with_confirms() {
        let mut r = AmqpResult::default();
        assert!(r.json().ends_with(
            "\"confirmed_per_s\": null, \"nacked\": null, \"confirm_latency_ms\": null}"
        ));
        r.confirms = Some(ConfirmFigures {
            confirmed_per_s: 1000.0,
            nacked: 2,
            p50_ms: 1.0,
            p99_ms: 2.5,
            p999_ms: 3.0,
        });
        assert!(r.json().ends_with(
            "\"confirmed_per_s\": 1000.0, \"nacked\": 2, \"confirm_latency_ms\": \
             {\"p50\": 1.000, \"p99\": 2.500, \"p999\": 3.000}}"
        ));
    }

    #[test]
    fn the_drain_summary_says_whether_the_sequence_held() {
        let mut r = DrainResult {
            queue: "q".into(),
            messages: 10,
            received: 10,
            seconds: 2.0,
            ..DrainResult::default()
        };
        assert!(r.json().contains("\"first_seq\": null"));
        assert!(r.report().contains("no sequence numbers"));
        r.first_seq = Some(0);
        assert_eq!(
            r.json(),
            "{\"queue\": \"q\", \"messages\": 10, \"received\": 10, \"redelivered\": 0, \
             \"first_seq\": 0, \"out_of_order\": 0, \"seconds\": 2.000, \"received_per_s\": 5.0}"
        );
        assert!(r.report().contains("in order from 0"));
        r.out_of_order = 3;
        assert!(r.report().contains("3 out of order"));
    }
}
