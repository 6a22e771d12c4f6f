//! `spindle bench echo`: round trips per second, MB/s and latency of an echo server.
//!
//! `conns` connections each keep `depth` messages of `size` bytes in flight: every time a whole
//! message has come back, its latency is recorded and a new one is sent. The load generator is
//! itself a protocol on one Spindle reactor (one thread), so on a 2-core machine server and
//! load each get a core. With `--vs`, the two servers are measured alternately, round by round,
//! in the same run, and the ratio is printed.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::error::Error;
use spindle_reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Protocol, ProtocolResult, Reactor,
    Transport,
};

/// What to measure.
#[derive(Debug, Clone)]
pub struct EchoBench {
    /// Concurrent connections.
    pub conns: usize,
    /// Messages in flight per connection.
    pub depth: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Measured seconds per round (after a short warm-up).
    pub seconds: f64,
    /// Rounds per target (alternating when comparing).
    pub rounds: usize,
}

impl Default for EchoBench {
    fn default() -> Self {
        EchoBench {
            conns: 50,
            depth: 1,
            size: 64,
            seconds: 5.0,
            rounds: 3,
        }
    }
}

/// The figures of one target.
#[derive(Debug, Clone, Default)]
pub struct EchoResult {
    /// Completed round trips per second.
    pub rt_per_s: f64,
    /// Payload megabytes per second received back.
    pub mb_per_s: f64,
    /// Median latency, microseconds.
    pub p50_us: u32,
    /// 99th percentile latency, microseconds.
    pub p99_us: u32,
    /// Connection failures or unexpected closes.
    pub errors: u64,
    /// The server's CPU use while measuring, in % of one core (when its pid was given).
    pub server_cpu_pct: Option<f64>,
    /// The server's CPU time per round trip, in microseconds (when its pid was given): what a
    /// round trip costs the server even when the load generator is what limits the rate.
    pub cpu_us_per_rt: Option<f64>,
}

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// User plus system CPU time of process `pid` so far, in clock ticks (all its threads).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[derive(Default)]
struct Stats {
    measuring: bool,
    round_trips: u64,
    bytes: u64,
    latencies: Vec<u32>,
    errors: u64,
    connected: usize,
    cpu_ticks: Option<u64>,
}

struct LoadConn {
    stats: Rc<RefCell<Stats>>,
    message: Rc<Vec<u8>>,
    depth: usize,
    sent: VecDeque<Instant>,
    partial: usize,
}

impl Protocol for LoadConn {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.stats.borrow_mut().connected += 1;
        let now = tx.now();
        for _ in 0..self.depth {
            tx.write(&self.message);
            self.sent.push_back(now);
        }
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        let size = self.message.len();
        self.partial += data.len();
        let now = tx.now();
        let mut stats = self.stats.borrow_mut();
        while self.partial >= size {
            self.partial -= size;
            if let Some(t) = self.sent.pop_front() {
                if stats.measuring {
                    stats.round_trips += 1;
                    stats.bytes += size as u64;
                    let us = now.saturating_duration_since(t).as_micros();
                    stats.latencies.push(us.min(u32::MAX as u128) as u32);
                }
            }
            tx.write(&self.message);
            self.sent.push_back(now);
        }
        Ok(())
    }

    fn connection_lost(&mut self, reason: &DisconnectReason, _tx: &mut dyn Transport) {
        if !reason.is_clean() {
            self.stats.borrow_mut().errors += 1;
        }
    }
}

struct LoadFactory {
    stats: Rc<RefCell<Stats>>,
    message: Rc<Vec<u8>>,
    depth: usize,
}

impl ClientFactory for LoadFactory {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        Box::new(LoadConn {
            stats: self.stats.clone(),
            message: self.message.clone(),
            depth: self.depth,
            sent: VecDeque::new(),
            partial: 0,
        })
    }

    fn client_connection_failed(&mut self, reason: &std::io::Error, connector: &mut Connector) {
        log::error!("bench: connecting to {}: {reason}", connector.address());
        self.stats.borrow_mut().errors += 1;
    }
}

/// Runs one round against `addr`: connect, warm up, measure, stop. With the server's `pid`,
/// also measures the CPU time it used while measuring.
fn round(addr: SocketAddr, pid: Option<u32>, bench: &EchoBench) -> Result<(Stats, f64), Error> {
    let mut reactor = Reactor::new()?;
    let stats = Rc::new(RefCell::new(Stats::default()));
    let message = Rc::new(vec![b'x'; bench.size.max(1)]);
    for _ in 0..bench.conns {
        let factory = LoadFactory {
            stats: stats.clone(),
            message: message.clone(),
            depth: bench.depth.max(1),
        };
        reactor.connect_tcp(addr, factory, Some(Duration::from_secs(5)))?;
    }
    let warmup = Duration::from_millis(500);
    let measure = Duration::from_secs_f64(bench.seconds.max(0.1));
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
    let connected = stats.borrow().connected;
    if connected < bench.conns {
        return Err(Error::Connections {
            addr,
            connected,
            wanted: bench.conns,
        });
    }
    let s = std::mem::take(&mut *stats.borrow_mut());
    let secs = *elapsed.borrow();
    Ok((s, secs))
}

fn summarize(rounds: Vec<(Stats, f64)>) -> EchoResult {
    let mut total = Stats::default();
    let mut secs = 0.0;
    let mut ticks = Some(0u64);
    for (s, t) in rounds {
        total.round_trips += s.round_trips;
        total.bytes += s.bytes;
        total.errors += s.errors;
        total.latencies.extend(s.latencies);
        ticks = ticks.zip(s.cpu_ticks).map(|(a, b)| a + b);
        secs += t;
    }
    let secs = if secs > 0.0 { secs } else { 1.0 };
    let cpu_secs = ticks.map(|t| t as f64 / USER_HZ);
    EchoResult {
        rt_per_s: total.round_trips as f64 / secs,
        mb_per_s: total.bytes as f64 / secs / 1e6,
        p50_us: crate::percentile(&mut total.latencies, 50.0),
        p99_us: crate::percentile(&mut total.latencies, 99.0),
        errors: total.errors,
        server_cpu_pct: cpu_secs.map(|c| 100.0 * c / secs),
        cpu_us_per_rt: cpu_secs
            .filter(|_| total.round_trips > 0)
            .map(|c| c * 1e6 / total.round_trips as f64),
    }
}

/// Measures `targets` (one or two, each with its server's pid if known), alternating round by
/// round; returns one result per target.
pub fn run(
    targets: &[(SocketAddr, Option<u32>)],
    bench: &EchoBench,
) -> Result<Vec<EchoResult>, Error> {
    let mut per_target: Vec<Vec<(Stats, f64)>> = targets.iter().map(|_| Vec::new()).collect();
    for r in 0..bench.rounds.max(1) {
        for (i, (addr, pid)) in targets.iter().enumerate() {
            let (stats, secs) = round(*addr, *pid, bench)?;
            eprintln!(
                "  round {}/{} {addr}: {:.0} rt/s",
                r + 1,
                bench.rounds.max(1),
                stats.round_trips as f64 / secs.max(1e-9)
            );
            if let Some(v) = per_target.get_mut(i) {
                v.push((stats, secs));
            }
        }
    }
    Ok(per_target.into_iter().map(summarize).collect())
}

/// Formats results as the table `spindle bench echo` prints.
pub fn report(targets: &[SocketAddr], bench: &EchoBench, results: &[EchoResult]) -> String {
    let names: Vec<String> = targets.iter().map(|a| a.to_string()).collect();
    let mut out = format!(
        "echo benchmark: {} conns × {} B, depth {}, {} rounds × {:.1} s\n",
        bench.conns, bench.size, bench.depth, bench.rounds, bench.seconds
    );
    out.push_str(&format!(
        "{:<22} {:>12} {:>9} {:>9} {:>9} {:>7} {:>9} {:>10}\n",
        "server", "rt/s", "MB/s", "p50 µs", "p99 µs", "errors", "srv CPU", "CPU µs/rt"
    ));
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    for (addr, r) in targets.iter().zip(results) {
        out.push_str(&format!(
            "{:<22} {:>12.0} {:>9.2} {:>9} {:>9} {:>7} {:>8}% {:>10}\n",
            addr.to_string(),
            r.rt_per_s,
            r.mb_per_s,
            r.p50_us,
            r.p99_us,
            r.errors,
            opt(r.server_cpu_pct, 0),
            opt(r.cpu_us_per_rt, 2),
        ));
    }
    if let (Some(a), Some(b), [first, second]) = (results.first(), results.get(1), &names[..]) {
        if b.rt_per_s > 0.0 {
            out.push_str(&format!(
                "ratio {first} / {second}: {:.2}×\n",
                a.rt_per_s / b.rt_per_s
            ));
        }
        if let (Some(ca), Some(cb)) = (a.cpu_us_per_rt, b.cpu_us_per_rt) {
            if ca > 0.0 {
                out.push_str(&format!(
                    "cpu efficiency {first} / {second}: {:.2}× (server CPU per round trip, \
                     {second} ÷ {first})\n",
                    cb / ca
                ));
            }
        }
    }
    out
}
