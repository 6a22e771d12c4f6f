//! A soak harness that any server of ours can be put through, whatever its protocol: many
//! well-behaved clients timing every request/reply operation while hostile actors (clients that
//! never read, slowloris, garbage, connection floods, and whatever the protocol adds) run beside
//! them, and a sampler keeps the server's largest resident memory.
//!
//! A test builds a [`Soak`] (a factory making each client's operation, and its actors), calls
//! [`Soak::run`], and asserts on the [`SoakReport`], which also prints as one readable block.
//! Every socket has a timeout and every thread checks the stop flag, so nothing hangs: a thread
//! still running [`JOIN_TIMEOUT`] after the stop fails the test by name.

use std::any::Any;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::hostile::rss_bytes;

/// The load phase of the kv soak when `SOAK_SECONDS` is not set; the echo soak runs a third of
/// it. With setting up and checking, the kv test takes about a minute and echo about 20 s.
pub const DEFAULT_SOAK_SECONDS: u64 = 54;
/// How long a hostile socket may block in one connect, read or write before the actor gives up
/// on it (a hostile actor must never hang the test).
pub const ACTOR_IO_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a non-reader keeps its stalled connection open before it starts again: long enough
/// that the server holds the stalled output for a while, short enough to churn connections.
pub const NON_READER_HOLD: Duration = Duration::from_secs(5);
/// How long every thread may take to notice the stop and end (a well-behaved client may be in
/// a read with a 30 s timeout).
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(45);
/// How often the sampler reads the server's resident memory.
pub const RSS_PERIOD: Duration = Duration::from_millis(100);

/// The load phase's length: `SOAK_SECONDS` (fractional seconds allowed) divided by `divisor`,
/// or [`DEFAULT_SOAK_SECONDS`] divided by it.
pub fn soak_duration(divisor: u32) -> Duration {
    let seconds = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(DEFAULT_SOAK_SECONDS as f64);
    Duration::from_secs_f64(seconds) / divisor
}

/// One well-behaved request/reply operation: `Err` (or a panic, such as a failed assertion)
/// is a failure, and the client that made it stops.
pub type Op = Box<dyn FnMut() -> Result<(), String>>;

/// Makes client `i`'s operation (connecting it), on the client's own thread.
pub type ClientFactory = Arc<dyn Fn(usize) -> Op + Send + Sync>;

/// The stop flag every thread polls.
#[derive(Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Stays idle for `d`, or less if the soak stops meanwhile. For pauses that are part of
    /// an attack (holding a connection open), never for waiting on a condition.
    pub fn idle(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopped() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// An actor's named counters, in the order they were first counted.
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<Vec<(&'static str, u64)>>>);

impl Tally {
    pub fn add(&self, what: &'static str, n: u64) {
        let mut counts = self.0.lock().unwrap();
        match counts.iter_mut().find(|(name, _)| *name == what) {
            Some((_, count)) => *count += n,
            None => counts.push((what, n)),
        }
    }

    pub fn get(&self, what: &str) -> u64 {
        let counts = self.0.lock().unwrap();
        counts
            .iter()
            .find(|(name, _)| *name == what)
            .map_or(0, |(_, n)| *n)
    }

    fn snapshot(&self) -> Vec<(&'static str, u64)> {
        self.0.lock().unwrap().clone()
    }
}

type ActorBody = Box<dyn FnOnce(&Stop, &Tally) + Send>;

/// A hostile actor: a name and the body its thread runs until the soak stops.
pub struct Actor {
    name: String,
    body: ActorBody,
}

impl Actor {
    /// A protocol-specific actor. Its body returns once `stop` is set; a panic in it is a
    /// failure of the soak.
    pub fn custom(name: &str, body: impl FnOnce(&Stop, &Tally) + Send + 'static) -> Actor {
        Actor {
            name: name.to_string(),
            body: Box::new(body),
        }
    }

    /// Connects and writes `batch` over and over without ever reading. When a write blocks for
    /// [`ACTOR_IO_TIMEOUT`] (the server stopped reading it) it holds the connection open for
    /// [`NON_READER_HOLD`], then closes it and starts again; when the server closes it, it
    /// starts again at once.
    pub fn non_reader(name: &str, addr: SocketAddr, batch: Vec<u8>) -> Actor {
        Actor::custom(name, move |stop, tally| {
            while !stop.stopped() {
                let Some(mut s) = connect(addr, tally) else {
                    continue;
                };
                while !stop.stopped() {
                    match s.write_all(&batch) {
                        Ok(()) => {
                            tally.add("batches", 1);
                            tally.add("bytes", batch.len() as u64);
                        }
                        Err(e) if timed_out(&e) => {
                            tally.add("stalls", 1);
                            stop.idle(NON_READER_HOLD);
                            break;
                        }
                        Err(_) => {
                            tally.add("closed by server", 1);
                            break;
                        }
                    }
                }
            }
        })
    }

    /// `connections` connections each sending `partial` (a request the server cannot act on
    /// yet) one byte at a time, a byte to each connection and then `pause`, round after round;
    /// a connection that has sent all of `partial` closes and a new one starts over. With
    /// `read_back`, each round also reads whatever the server sent (for a protocol that
    /// answers every byte, a client that reads slowly); without, it never reads.
    pub fn slowloris(
        name: &str,
        addr: SocketAddr,
        partial: Vec<u8>,
        connections: usize,
        pause: Duration,
        read_back: bool,
    ) -> Actor {
        Actor::custom(name, move |stop, tally| {
            let open = |tally: &Tally| {
                let s = connect(addr, tally)?;
                s.set_nonblocking(true).ok()?;
                Some((s, 0usize))
            };
            let mut conns: Vec<Option<(TcpStream, usize)>> =
                (0..connections).map(|_| open(tally)).collect();
            let mut buf = vec![0u8; 64 * 1024];
            while !stop.stopped() {
                for slot in conns.iter_mut() {
                    if slot.is_none() {
                        *slot = open(tally);
                    }
                    let Some((s, sent)) = slot else { continue };
                    match s.write(&partial[*sent..*sent + 1]) {
                        Ok(1) => {
                            *sent += 1;
                            tally.add("bytes trickled", 1);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => tally.add("blocked", 1),
                        _ => {
                            tally.add("closed by server", 1);
                            *slot = None;
                            continue;
                        }
                    }
                    if read_back {
                        loop {
                            match s.read(&mut buf) {
                                Ok(0) => {
                                    tally.add("closed by server", 1);
                                    *slot = None;
                                    break;
                                }
                                Ok(n) => tally.add("bytes read back", n as u64),
                                Err(_) => break,
                            }
                        }
                    }
                    if matches!(slot, Some((_, sent)) if *sent == partial.len()) {
                        tally.add("partials completed", 1);
                        *slot = None;
                    }
                }
                // The pause between bytes is the attack itself: each connection costs the
                // server a slot for as long as its request takes to arrive.
                thread::sleep(pause);
            }
        })
    }

    /// Connects, sends between 1 and `max_len` random bytes (a xorshift seeded with `seed`),
    /// reads until the server closes or is quiet for [`ACTOR_IO_TIMEOUT`], and starts again.
    pub fn garbage(name: &str, addr: SocketAddr, seed: u64, max_len: usize) -> Actor {
        Actor::custom(name, move |stop, tally| {
            let mut rng = XorShift::new(seed);
            let mut buf = vec![0u8; 64 * 1024];
            while !stop.stopped() {
                let Some(mut s) = connect(addr, tally) else {
                    continue;
                };
                let len = 1 + rng.below(max_len as u64) as usize;
                let junk = rng.bytes(len);
                if s.write_all(&junk).is_err() {
                    tally.add("closed while sending", 1);
                    continue;
                }
                tally.add("bytes sent", len as u64);
                while !stop.stopped() {
                    match s.read(&mut buf) {
                        Ok(0) => {
                            tally.add("closed by server", 1);
                            break;
                        }
                        Ok(n) => tally.add("bytes received", n as u64),
                        Err(e) if timed_out(&e) => {
                            tally.add("left open", 1);
                            break;
                        }
                        Err(_) => {
                            tally.add("reset by server", 1);
                            break;
                        }
                    }
                }
            }
        })
    }

    /// Connects and closes as fast as it can, every other time sending `partial` before
    /// closing.
    pub fn flood(name: &str, addr: SocketAddr, partial: Vec<u8>) -> Actor {
        Actor::custom(name, move |stop, tally| {
            let mut with_partial = false;
            while !stop.stopped() {
                let Some(mut s) = connect(addr, tally) else {
                    continue;
                };
                if with_partial && s.write_all(&partial).is_ok() {
                    tally.add("partials", 1);
                }
                with_partial = !with_partial;
                drop(s);
            }
        })
    }
}

/// Connects with [`ACTOR_IO_TIMEOUT`] on the connect, reads and writes, counting the outcome.
pub fn connect(addr: SocketAddr, tally: &Tally) -> Option<TcpStream> {
    let s = match TcpStream::connect_timeout(&addr, ACTOR_IO_TIMEOUT) {
        Ok(s) => s,
        Err(_) => {
            tally.add("connect errors", 1);
            return None;
        }
    };
    s.set_read_timeout(Some(ACTOR_IO_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(ACTOR_IO_TIMEOUT)).ok()?;
    s.set_nodelay(true).ok()?;
    tally.add("connects", 1);
    Some(s)
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// A xorshift64 generator: reproducible noise without the rand crate.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        // Zero is xorshift's one fixed point.
        XorShift(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// What a soak runs: a server to watch, well-behaved clients and hostile actors.
pub struct Soak {
    /// Names the run in the report.
    pub name: String,
    /// The server process whose resident memory is sampled.
    pub server_pid: u32,
    /// The load phase's length (clients connected, actors started, until the stop).
    pub duration: Duration,
    pub clients: usize,
    pub client: ClientFactory,
    pub actors: Vec<Actor>,
}

/// What a soak measured.
#[derive(Debug)]
pub struct SoakReport {
    pub name: String,
    pub clients: usize,
    /// From the start of the load phase to the stop.
    pub elapsed: Duration,
    /// Well-behaved operations that succeeded, and their latencies.
    pub ops: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// The server's resident memory when the load began, and the largest sampled.
    pub rss_start: u64,
    pub rss_max: u64,
    /// Each failed client's error, and each actor's panic.
    pub failures: Vec<String>,
    /// Each actor's counters, by actor name.
    pub actors: Vec<(String, Vec<(&'static str, u64)>)>,
}

impl SoakReport {
    /// Asserts the soak's bounds: well-behaved clients' p99 latency under `p99_bound`, the
    /// server's largest RSS under `rss_bound` bytes; a failure prints the whole report.
    pub fn assert_within(&self, p99_bound: Duration, rss_bound: u64) {
        assert!(
            self.p99 < p99_bound,
            "p99 latency {:?} over {p99_bound:?}:\n{self}",
            self.p99
        );
        assert!(
            self.rss_max < rss_bound,
            "the server reached {} MiB, over {} MiB:\n{self}",
            self.rss_max >> 20,
            rss_bound >> 20
        );
    }

    /// Actor `name`'s counter `what` (0 if never counted).
    pub fn counter(&self, name: &str, what: &str) -> u64 {
        self.actors
            .iter()
            .filter(|(actor, _)| actor == name)
            .flat_map(|(_, counts)| counts)
            .find(|(counter, _)| *counter == what)
            .map_or(0, |(_, n)| *n)
    }

    pub fn ops_per_second(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: f64 = 1024.0 * 1024.0;
        writeln!(
            f,
            "soak {}: {:.1} s, {} well-behaved clients",
            self.name,
            self.elapsed.as_secs_f64(),
            self.clients
        )?;
        writeln!(
            f,
            "  operations: {} ({:.0}/s), latency p50 {:.2?}, p99 {:.2?}, max {:.2?}",
            self.ops,
            self.ops_per_second(),
            self.p50,
            self.p99,
            self.max
        )?;
        writeln!(
            f,
            "  server RSS: {:.1} MiB at the start, {:.1} MiB at most",
            self.rss_start as f64 / MIB,
            self.rss_max as f64 / MIB
        )?;
        writeln!(f, "  failures: {}", self.failures.len())?;
        for failure in self.failures.iter().take(10) {
            writeln!(f, "    {failure}")?;
        }
        for (name, counts) in &self.actors {
            let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            writeln!(f, "  {name}: {}", counts.join(", "))?;
        }
        Ok(())
    }
}

/// What one well-behaved client thread hands back.
struct ClientRun {
    latencies: Vec<Duration>,
    failure: Option<String>,
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Joins `handle`, failing the test if it is still running at `deadline`.
fn join_by<T>(what: &str, handle: JoinHandle<T>, deadline: Instant) -> thread::Result<T> {
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what} did not stop within {JOIN_TIMEOUT:?} of the end of the soak"
        );
        // Polling for the thread's end, not a fixed wait.
        thread::sleep(Duration::from_millis(10));
    }
    handle.join()
}

impl Soak {
    /// Connects every client (each builds its operation on its own thread), then starts the
    /// actors and the sampler, lets everything run for `duration`, stops and joins it all.
    pub fn run(self) -> SoakReport {
        let stop = Stop::default();
        let ready = Arc::new(Barrier::new(self.clients + 1));
        let clients: Vec<JoinHandle<ClientRun>> = (0..self.clients)
            .map(|i| {
                let (stop, ready, factory) = (stop.clone(), ready.clone(), self.client.clone());
                thread::Builder::new()
                    .name(format!("client {i}"))
                    .stack_size(256 * 1024)
                    .spawn(move || run_client(i, &*factory, &ready, &stop))
                    .unwrap()
            })
            .collect();
        ready.wait();

        let rss_start = rss_bytes(self.server_pid);
        let sampler = {
            let (stop, pid) = (stop.clone(), self.server_pid);
            thread::spawn(move || {
                let mut max = 0;
                while !stop.stopped() {
                    match catch_unwind(|| rss_bytes(pid)) {
                        Ok(rss) => max = max.max(rss),
                        Err(_) => break,
                    }
                    // The sampling period: a measurement, not a wait for a condition.
                    thread::sleep(RSS_PERIOD);
                }
                max
            })
        };
        let actors: Vec<(String, Tally, JoinHandle<()>)> = self
            .actors
            .into_iter()
            .map(|actor| {
                let (stop, tally) = (stop.clone(), Tally::default());
                let handle = {
                    let tally = tally.clone();
                    thread::Builder::new()
                        .name(actor.name.clone())
                        .spawn(move || (actor.body)(&stop, &tally))
                        .unwrap()
                };
                (actor.name, tally, handle)
            })
            .collect();

        let start = Instant::now();
        let end = start + self.duration;
        while Instant::now() < end {
            // The load phase's length is the measurement itself, not a wait for a condition.
            thread::sleep(
                end.saturating_duration_since(Instant::now())
                    .min(RSS_PERIOD),
            );
        }
        stop.stop();
        let elapsed = start.elapsed();

        let deadline = Instant::now() + JOIN_TIMEOUT;
        let mut failures = Vec::new();
        let mut latencies = Vec::new();
        for (i, handle) in clients.into_iter().enumerate() {
            match join_by(&format!("client {i}"), handle, deadline) {
                Ok(run) => {
                    latencies.extend(run.latencies);
                    failures.extend(run.failure);
                }
                Err(e) => failures.push(format!("client {i}: {}", panic_message(&*e))),
            }
        }
        let mut actor_counts = Vec::new();
        for (name, tally, handle) in actors {
            if let Err(e) = join_by(&name, handle, deadline) {
                failures.push(format!("{name} panicked: {}", panic_message(&*e)));
            }
            actor_counts.push((name, tally.snapshot()));
        }
        let rss_max = join_by("the RSS sampler", sampler, deadline)
            .unwrap()
            .max(rss_start);

        latencies.sort_unstable();
        let at = |q: usize| {
            latencies
                .get((latencies.len() * q / 100).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        SoakReport {
            name: self.name,
            clients: self.clients,
            elapsed,
            ops: latencies.len() as u64,
            p50: at(50),
            p99: at(99),
            max: latencies.last().copied().unwrap_or_default(),
            rss_start,
            rss_max,
            failures,
            actors: actor_counts,
        }
    }
}

/// One well-behaved client: builds its operation, waits for the others, then runs it until the
/// stop or its first failure.
fn run_client(i: usize, factory: &dyn Fn(usize) -> Op, ready: &Barrier, stop: &Stop) -> ClientRun {
    let op = catch_unwind(AssertUnwindSafe(|| factory(i)));
    ready.wait();
    let mut op = match op {
        Ok(op) => op,
        Err(e) => {
            return ClientRun {
                latencies: Vec::new(),
                failure: Some(format!(
                    "client {i} could not start: {}",
                    panic_message(&*e)
                )),
            }
        }
    };
    let mut latencies = Vec::new();
    while !stop.stopped() {
        let began = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(&mut op));
        let took = began.elapsed();
        let failure = match outcome {
            Ok(Ok(())) => {
                latencies.push(took);
                continue;
            }
            Ok(Err(e)) => e,
            Err(e) => panic_message(&*e),
        };
        let failure = format!("client {i}, operation {}: {failure}", latencies.len());
        return ClientRun {
            latencies,
            failure: Some(failure),
        };
    }
    ClientRun {
        latencies,
        failure: None,
    }
}
