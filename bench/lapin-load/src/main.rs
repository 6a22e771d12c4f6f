//! lapin-load: the reference AMQP load generator for `spindle bench amqp`.
//!
//! It drives a broker the way RabbitMQ's PerfTest does, on lapin, so that `scripts/bench-amqp`
//! can show that Spindle's own load tool pushes a broker at least as hard. Both tools take the
//! same flags, build the same topology and print the same JSON summary:
//!
//! * exchange `spindle-bench-<T>` of type T (non-durable, not auto-delete);
//! * one queue `spindle-bench-q-<pid>` (not exclusive, auto-delete, durable iff --persistent),
//!   bound with routing key `bench`;
//! * P producers publish to the exchange with routing key `bench`; C consumers compete on the
//!   queue; each producer and each consumer has its own connection and one channel;
//! * a body is --size bytes: the send time as u64 little-endian nanoseconds since the UNIX
//!   epoch, then zeros; a delivery's latency is its receive time minus that stamp.
//!
//! The S-second measurement window opens once every consumer is consuming, when the producers
//! start. Rates and latencies cover that window only; then the producers stop and the queue
//! gets at most 1 s to drain (deliveries then are not counted) before everything closes.
//!
//! Progress goes to stderr once a second; the summary to stdout, as text or (--json) as exactly
//! one JSON object: {"sent_per_s": f, "received_per_s": f, "latency_ms": {"p50": f, "p99": f,
//! "p999": f}}.

use std::collections::VecDeque;
use std::process::exit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};

const USAGE: &str = "usage: lapin-load [--uri URI] [--producers P] [--consumers C] [--size B] \
[--seconds S] [--persistent] [--confirm N] [--prefetch N] [--autoack] [--rate R] \
[--exchange-type direct|fanout|topic] [--json]";

const ROUTING_KEY: &str = "bench";

/// The command line; the same flags and defaults as `spindle bench amqp`.
#[derive(Debug, Clone)]
struct Config {
    uri: String,
    producers: usize,
    consumers: usize,
    size: usize,
    seconds: u64,
    persistent: bool,
    /// Publisher confirms, with at most this many unconfirmed messages per producer.
    confirm: Option<usize>,
    /// basic.qos prefetch count per consumer channel; 0 = unlimited.
    prefetch: u16,
    autoack: bool,
    /// Messages per second per producer; 0 = as fast as possible.
    rate: u64,
    exchange_type: String,
    json: bool,
}

fn parse_args() -> Result<Config, String> {
    let mut c = Config {
        uri: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
        producers: 1,
        consumers: 1,
        size: 16,
        seconds: 10,
        persistent: false,
        confirm: None,
        prefetch: 0,
        autoack: false,
        rate: 0,
        exchange_type: "direct".into(),
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        // Every flag but the switches takes one value.
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("{flag}: not a number: {v}"))
        }
        match flag.as_str() {
            "--uri" => c.uri = value()?,
            "--producers" => c.producers = num(&flag, value()?)?,
            "--consumers" => c.consumers = num(&flag, value()?)?,
            "--size" => c.size = num(&flag, value()?)?,
            "--seconds" => c.seconds = num(&flag, value()?)?,
            "--persistent" => c.persistent = true,
            "--confirm" => c.confirm = Some(num(&flag, value()?)?),
            "--prefetch" => c.prefetch = num(&flag, value()?)?,
            "--autoack" => c.autoack = true,
            "--rate" => c.rate = num(&flag, value()?)?,
            "--exchange-type" => c.exchange_type = value()?,
            "--json" => c.json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0);
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if c.size < 8 {
        return Err("--size must be at least 8 (the timestamp)".into());
    }
    if c.seconds == 0 || c.consumers == 0 {
        return Err("--seconds and --consumers must be at least 1".into());
    }
    if c.confirm == Some(0) {
        return Err("--confirm must be at least 1".into());
    }
    if !matches!(c.exchange_type.as_str(), "direct" | "fanout" | "topic") {
        return Err(format!(
            "--exchange-type: {} (direct, fanout or topic)",
            c.exchange_type
        ));
    }
    Ok(c)
}

/// Wall-clock nanoseconds since the UNIX epoch (what the body's first 8 bytes carry).
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A log-linear latency histogram in nanoseconds (HdrHistogram's layout): values below 128 ns
/// have a bucket each, above that every power of two is split into 64 buckets, so a bucket is
/// at most 1/64 (1.6 %) of its value wide. Fixed size, so recording never allocates.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

const SUB_BITS: u32 = 6; // 64 sub-buckets per power of two
const BUCKETS: usize = (64 - SUB_BITS as usize) * 64 + 128;

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < 128 {
            return v as usize;
        }
        let shift = 63 - v.leading_zeros() - SUB_BITS; // ≥ 1; v >> shift lies in 64..128
        (shift as usize) * 64 + (v >> shift) as usize
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> u64 {
        if i < 128 {
            return i as u64;
        }
        let shift = (i / 64 - 1) as u32;
        let mantissa = (i % 64 + 64) as u64;
        (mantissa << shift) + (1 << shift) / 2
    }

    fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
    }

    /// Adds `other` into self and empties `other`.
    fn drain_into(&mut self, other: &mut Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter_mut()) {
            *a += *b;
            *b = 0;
        }
        self.total += other.total;
        other.total = 0;
    }

    /// The q-quantile (0..=1) in milliseconds; 0 when empty.
    fn quantile_ms(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::value(i) as f64 / 1e6;
            }
        }
        unreachable!("rank ≤ total")
    }
}

/// What the producer and consumer tasks share with the reporting loop in `main`.
struct Shared {
    sent: AtomicU64,
    received: AtomicU64,
    stop: AtomicBool,
    /// One histogram per consumer (uncontended locks); main drains them once a second.
    latencies: Vec<Mutex<Histogram>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn connect(cfg: &Config, name: String) -> Result<Connection, BoxError> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    Ok(Connection::connect(&cfg.uri, props).await?)
}

/// One producer: publishes until told to stop, paced by --rate, with at most --confirm
/// publisher confirms outstanding.
async fn producer(cfg: Arc<Config>, shared: Arc<Shared>, id: usize) -> Result<(), BoxError> {
    let conn = connect(&cfg, format!("lapin-load producer {id}")).await?;
    let channel = conn.create_channel().await?;
    if cfg.confirm.is_some() {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
    }
    let mut properties = BasicProperties::default();
    if cfg.persistent {
        properties = properties.with_delivery_mode(2);
    }
    let exchange = format!("spindle-bench-{}", cfg.exchange_type);
    let mut body = vec![0u8; cfg.size];
    let mut unconfirmed = VecDeque::new();
    let start = Instant::now();
    let mut n: u64 = 0;
    while !shared.stop.load(Relaxed) {
        if cfg.rate > 0 {
            // Message n is due n/rate seconds after the start; sleeping only when ahead
            // lets a producer that fell behind catch up.
            let due = start + Duration::from_secs_f64(n as f64 / cfg.rate as f64);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        body[..8].copy_from_slice(&now_ns().to_le_bytes());
        // Resolves once lapin has queued the frames: the broker's flow control (TCP
        // back-pressure) is what slows this loop down.
        let confirm = channel
            .basic_publish(
                exchange.as_str().into(),
                ROUTING_KEY.into(),
                BasicPublishOptions::default(),
                &body,
                properties.clone(),
            )
            .await?;
        shared.sent.fetch_add(1, Relaxed);
        n += 1;
        if let Some(window) = cfg.confirm {
            unconfirmed.push_back(confirm);
            if unconfirmed.len() >= window {
                // Wait for the oldest; RabbitMQ confirms in order, so this is a sliding window.
                if let Some(oldest) = unconfirmed.pop_front() {
                    oldest.await?;
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close(200, "done".into())).await;
    Ok(())
}

/// One consumer, already consuming: records every delivery's latency and acks (unless
/// --autoack): with a prefetch above 1, one multiple-ack every prefetch/2 deliveries (as
/// PerfTest does with its multi-ack-every), otherwise each delivery on its own.
async fn consume(
    cfg: Arc<Config>,
    shared: Arc<Shared>,
    id: usize,
    mut consumer: lapin::Consumer,
) -> Result<(), BoxError> {
    let ack_every = if !cfg.autoack && cfg.prefetch > 1 {
        u64::from(cfg.prefetch / 2)
    } else {
        1
    };
    let mut unacked = 0;
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        let now = now_ns();
        let mut stamp = [0u8; 8];
        if let Some(head) = delivery.data.get(..8) {
            stamp.copy_from_slice(head);
        }
        let latency = now.saturating_sub(u64::from_le_bytes(stamp));
        if let Ok(mut h) = shared.latencies[id].lock() {
            h.record(latency);
        }
        shared.received.fetch_add(1, Relaxed);
        if !cfg.autoack {
            unacked += 1;
            if unacked >= ack_every {
                delivery
                    .ack(BasicAckOptions {
                        multiple: ack_every > 1,
                    })
                    .await?;
                unacked = 0;
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let cfg = match parse_args() {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("lapin-load: {e}\n{USAGE}");
            exit(2);
        }
    };
    if let Err(e) = run(cfg).await {
        eprintln!("lapin-load: {e}");
        exit(1);
    }
    // The runtime would otherwise wait for lapin's connections to wind down.
    exit(0);
}

async fn run(cfg: Arc<Config>) -> Result<(), BoxError> {
    let exchange = format!("spindle-bench-{}", cfg.exchange_type);
    let queue = format!("spindle-bench-q-{}", std::process::id());

    // Topology, on a connection of its own that is closed once it is in place.
    let setup = connect(&cfg, "lapin-load setup".into()).await?;
    let channel = setup.create_channel().await?;
    let kind = match cfg.exchange_type.as_str() {
        "fanout" => ExchangeKind::Fanout,
        "topic" => ExchangeKind::Topic,
        _ => ExchangeKind::Direct,
    };
    channel
        .exchange_declare(
            exchange.as_str().into(),
            kind,
            ExchangeDeclareOptions::default(), // not durable, not auto-delete
            FieldTable::default(),
        )
        .await?;
    let queue_options = QueueDeclareOptions {
        durable: cfg.persistent,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.as_str().into(), queue_options, FieldTable::default())
        .await?;
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    setup.close(200, "setup done".into()).await?;

    let shared = Arc::new(Shared {
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        latencies: (0..cfg.consumers)
            .map(|_| Mutex::new(Histogram::new()))
            .collect(),
    });

    // Consumers first: each connects and starts consuming before any producer starts.
    let mut consumer_conns = Vec::new();
    for id in 0..cfg.consumers {
        let conn = connect(&cfg, format!("lapin-load consumer {id}")).await?;
        let channel = conn.create_channel().await?;
        if cfg.prefetch > 0 {
            channel
                .basic_qos(cfg.prefetch, BasicQosOptions::default())
                .await?;
        }
        let options = BasicConsumeOptions {
            no_ack: cfg.autoack,
            ..BasicConsumeOptions::default()
        };
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                format!("lapin-load-{id}").into(),
                options,
                FieldTable::default(),
            )
            .await?;
        let (cfg, shared) = (cfg.clone(), shared.clone());
        tokio::spawn(async move {
            // Errors once stopping (acks racing the channel's close) are expected; others end the run.
            if let Err(e) = consume(cfg, shared.clone(), id, consumer).await {
                if !shared.stop.load(Relaxed) {
                    eprintln!("lapin-load: consumer {id}: {e}");
                    exit(1); // a run that lost a consumer measures nothing
                }
            }
        });
        consumer_conns.push(conn);
    }

    // The window opens as the producers start.
    let start = Instant::now();
    let producers: Vec<_> = (0..cfg.producers)
        .map(|id| {
            let (cfg, shared) = (cfg.clone(), shared.clone());
            tokio::spawn(async move {
                if let Err(e) = producer(cfg, shared.clone(), id).await {
                    if !shared.stop.load(Relaxed) {
                        eprintln!("lapin-load: producer {id}: {e}");
                        exit(1);
                    }
                }
            })
        })
        .collect();

    // Once a second: collect the consumers' latencies, print progress.
    let mut total = Histogram::new();
    let mut second = Histogram::new();
    let mut last_sent = 0;
    let mut last_tick = start;
    let mut sent_in_window = 0;
    for t in 1..=cfg.seconds {
        tokio::time::sleep_until((start + Duration::from_secs(t)).into()).await;
        let now = Instant::now();
        let sent = shared.sent.load(Relaxed);
        for h in &shared.latencies {
            if let Ok(mut h) = h.lock() {
                second.drain_into(&mut h);
            }
        }
        let dt = now.duration_since(last_tick).as_secs_f64();
        eprintln!(
            "t={t}s sent {:.0}/s received {:.0}/s p50 {:.2} ms",
            (sent - last_sent) as f64 / dt,
            second.total as f64 / dt,
            second.quantile_ms(0.5)
        );
        total.drain_into(&mut second);
        last_sent = sent;
        last_tick = now;
        sent_in_window = sent;
    }
    let elapsed = last_tick.duration_since(start).as_secs_f64();

    // Stop the producers, then give the queue at most 1 s to drain.
    shared.stop.store(true, Relaxed);
    let deadline = Instant::now() + Duration::from_secs(1);
    for p in producers {
        let _ = tokio::time::timeout_at(deadline.into(), p).await;
    }
    while shared.received.load(Relaxed) < shared.sent.load(Relaxed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for conn in consumer_conns {
        let _ =
            tokio::time::timeout(Duration::from_millis(500), conn.close(200, "done".into())).await;
    }

    let sent_per_s = sent_in_window as f64 / elapsed;
    let received_per_s = total.total as f64 / elapsed;
    let (p50, p99, p999) = (
        total.quantile_ms(0.5),
        total.quantile_ms(0.99),
        total.quantile_ms(0.999),
    );
    if cfg.json {
        println!(
            "{{\"sent_per_s\": {sent_per_s:.1}, \"received_per_s\": {received_per_s:.1}, \
             \"latency_ms\": {{\"p50\": {p50:.3}, \"p99\": {p99:.3}, \"p999\": {p999:.3}}}}}"
        );
    } else {
        println!(
            "lapin-load: {}P/{}C, {} B, {} s{}{}{}",
            cfg.producers,
            cfg.consumers,
            cfg.size,
            cfg.seconds,
            if cfg.autoack {
                ", autoack".to_string()
            } else {
                ", manual ack".to_string()
            },
            if cfg.prefetch > 0 {
                format!(", prefetch {}", cfg.prefetch)
            } else {
                String::new()
            },
            cfg.confirm
                .map_or(String::new(), |n| format!(", confirm {n}")),
        );
        println!("sent      {sent_per_s:>12.0} msg/s");
        println!("received  {received_per_s:>12.0} msg/s");
        println!("latency   p50 {p50:.3} ms   p99 {p99:.3} ms   p99.9 {p999:.3} ms");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut last = 0;
        for v in 0..200_000u64 {
            let i = Histogram::index(v);
            assert!(i == last || i == last + 1, "gap at {v}");
            last = i;
        }
        for v in (0..200_000u64)
            .chain((1..64).map(|s| 1u64 << s))
            .chain([u64::MAX])
        {
            let i = Histogram::index(v);
            assert!(i < super::BUCKETS);
            let mid = Histogram::value(i) as f64;
            assert!(
                (mid - v as f64).abs() <= (v as f64) / 64.0 + 1.0,
                "{v} -> {mid}"
            );
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::new();
        for ms in 1..=1000u64 {
            h.record(ms * 1_000_000);
        }
        assert!((h.quantile_ms(0.5) - 500.0).abs() < 8.0);
        assert!((h.quantile_ms(0.99) - 990.0).abs() < 16.0);
    }
}
