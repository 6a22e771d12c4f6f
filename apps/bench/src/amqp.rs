//! `spindle bench amqp`: a load generator for AMQP brokers in the spirit of RabbitMQ's PerfTest.
//!
//! `producers` connections publish to one exchange, `consumers` connections consume from one
//! queue bound to it (competing consumers), each connection on a reactor of its own thread,
//! written with this crate's AMQP client. Every body starts with the time it was published
//! (nanoseconds since the UNIX epoch, little-endian), so the consumer measures end-to-end
//! latency. The run prints a progress line every second on stderr and a summary: messages
//! sent and received per second and latency percentiles, or one JSON object with `--json`.
//!
//! The topology, which `bench/lapin-load` (the reference generator written with lapin)
//! builds the same way: exchange `spindle-bench-TYPE`, queue `spindle-bench-q-PID`
//! (auto-delete, durable with `--persistent`) bound with the key `bench`.
//!
//! Producers publish as fast as the client's back-pressure lets them (`--rate` caps each),
//! with `--confirm N` at most N unconfirmed each. Consumers ack with `multiple` every
//! `prefetch / 2` deliveries (and on a 100 ms tick), or not at all with `--autoack`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spindle_amqp::{
    run, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions, Delivery,
    ExchangeOptions, Publish, QueueOptions, Reply, TimerId,
};
use spindle_protocols::amqp::FieldTable;

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
        }
    }

    fn exchange(&self) -> String {
        format!("spindle-bench-{}", self.exchange_type)
    }
}

/// The routing key producers publish with and the queue is bound with.
const ROUTING_KEY: &str = "bench";
/// How often idle connections look at the stop flag (and consumers flush their acks).
const TICK: Duration = Duration::from_millis(100);
/// How long a rate-limited producer waits between bursts.
const RATE_TICK: Duration = Duration::from_millis(5);

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
}

impl AmqpResult {
    /// The summary as one JSON object (`sent_per_s`, `received_per_s`, `latency_ms`).
    pub fn json(&self) -> String {
        format!(
            "{{\"sent_per_s\": {:.1}, \"received_per_s\": {:.1}, \"latency_ms\": \
             {{\"p50\": {:.3}, \"p99\": {:.3}, \"p999\": {:.3}}}, \"seconds\": {:.2}}}",
            self.sent_per_s,
            self.received_per_s,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.seconds
        )
    }

    /// The summary for people.
    pub fn report(&self, bench: &AmqpBench) -> String {
        let ack = if bench.autoack {
            "autoack".to_string()
        } else {
            format!("manual ack, prefetch {}", bench.prefetch)
        };
        format!(
            "amqp bench: {}P/{}C, {} B, {} exchange, {ack}{}{}, {:.1} s\n\
             sent       {:>12.0} msg/s\n\
             received   {:>12.0} msg/s\n\
             latency    p50 {:.3} ms   p99 {:.3} ms   p99.9 {:.3} ms\n",
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

/// Declares the exchange and the queue, binds them, and closes.
struct Setup {
    bench: Arc<AmqpBench>,
    queue: String,
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
        ch.queue_declare(&self.queue, &options)?;
        ch.queue_bind(&self.queue, &exchange, ROUTING_KEY, FieldTable::new())
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if reply == Reply::QueueBound {
            ch.connection().close();
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
        }
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
            if let Some(stamp) = self.body.get_mut(..8) {
                stamp.copy_from_slice(&now_nanos().to_le_bytes());
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

    fn on_confirm(
        &mut self,
        ch: &mut Channel<'_>,
        _seq: u64,
        _ok: bool,
    ) -> Result<(), ClientError> {
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
    let queue = format!("spindle-bench-q-{}", std::process::id());
    run(
        bench.config.clone(),
        Setup {
            bench: bench.clone(),
            queue: queue.clone(),
        },
    )
    .map_err(Error::Setup)?;

    let shared = Arc::new(Shared::default());
    let mut consumers = Vec::new();
    for i in 0..bench.consumers {
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
    let t0 = Instant::now();
    for i in 0..bench.producers {
        let producer = Producer::new(bench.clone(), shared.clone());
        producers.push(spawn(
            &format!("producer-{i}"),
            &bench,
            &shared,
            producer,
            |_| (),
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
    let sent = shared.sent.load(Ordering::Relaxed);
    let received = shared.received.load(Ordering::Relaxed);

    for p in producers {
        let _ = p.join();
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
    let mut ms = |p: f64| f64::from(percentile(&mut latencies, p)) / 1000.0;
    Ok(AmqpResult {
        sent_per_s: sent as f64 / elapsed,
        received_per_s: received as f64 / elapsed,
        p50_ms: ms(50.0),
        p99_ms: ms(99.0),
        p999_ms: ms(99.9),
        seconds: elapsed,
    })
}
