//! The reactor under misbehaviour: panicking protocols, factories, timers and closures,
//! refused connections, peers that never read, thousands of connections, closes racing
//! cross-connection writes, reused slots.

mod common;

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{client, read_n, reads_eof, round_trip, wait_for, Server};
use spindle_reactor::{
    Address, ClientFactory, ConnId, Connector, DatagramProtocol, DatagramTransport,
    DisconnectReason, Factory, LoopingCall, Protocol, ProtocolResult, Reactor, ReactorConfig,
    Transport,
};

struct Echo;
impl Protocol for Echo {
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(data);
        Ok(())
    }
}

/// Echoes, but panics on "boom" and returns an error on "fail".
struct Fragile;
impl Protocol for Fragile {
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        if data.starts_with(b"boom") {
            panic!("boom requested by the peer");
        }
        if data.starts_with(b"fail") {
            return Err(spindle_reactor::ProtocolError::msg("fail requested"));
        }
        tx.write(data);
        Ok(())
    }
}

#[test]
fn a_panicking_or_failing_protocol_loses_only_its_own_connection() {
    let server = Server::start(ReactorConfig::default(), || || Fragile);
    let mut good = client(server.addr);
    let mut panicky = client(server.addr);
    let mut failing = client(server.addr);
    round_trip(&mut good, b"before");
    panicky.write_all(b"boom").unwrap();
    failing.write_all(b"fail").unwrap();
    assert!(
        reads_eof(&mut panicky),
        "the panicking connection is closed"
    );
    assert!(reads_eof(&mut failing), "the failing connection is closed");
    round_trip(&mut good, b"after: still served");
    // New connections are still accepted.
    let mut fresh = client(server.addr);
    round_trip(&mut fresh, b"fresh");
    assert_eq!(server.query(|r| r.connection_count()), 2);
}

struct RecordFailure(Rc<RefCell<Option<io::Error>>>);
impl ClientFactory for RecordFailure {
    fn build_protocol(&mut self, _: &Address) -> Box<dyn Protocol> {
        Box::new(Echo)
    }
    fn client_connection_failed(&mut self, reason: &io::Error, connector: &mut Connector) {
        *self.0.borrow_mut() = Some(io::Error::new(reason.kind(), reason.to_string()));
        assert!(
            reason.raw_os_error().is_some() || reason.kind() == io::ErrorKind::ConnectionRefused
        );
        connector.stop_reactor();
    }
}

#[test]
fn a_refused_connection_reaches_client_connection_failed_with_the_os_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let failure = Rc::new(RefCell::new(None));
    let mut reactor = Reactor::new().unwrap();
    reactor
        .connect_tcp(
            ("127.0.0.1", port),
            RecordFailure(failure.clone()),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    reactor.run().unwrap();
    let err = failure
        .borrow_mut()
        .take()
        .expect("connection_failed was called");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
}

/// Records its connection id so the test can inspect the reactor's view of it.
struct TrackedEcho(Arc<Mutex<Vec<ConnId>>>);
impl Protocol for TrackedEcho {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.0.lock().unwrap().push(tx.id());
        Ok(())
    }
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(data);
        Ok(())
    }
}

#[test]
fn a_peer_that_never_reads_cannot_grow_the_servers_buffer_past_the_high_water_mark() {
    const TOTAL: u64 = 100 * 1024 * 1024;
    let config = ReactorConfig::default();
    let bound = (config.high_water + config.read_buffer) as u64;
    let ids = Arc::new(Mutex::new(Vec::new()));
    let ids2 = ids.clone();
    let server = Server::start(config, move || move || TrackedEcho(ids2.clone()));
    let conn = client(server.addr);
    let mut writer = conn.try_clone().unwrap();
    writer.set_write_timeout(None).unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let sent2 = sent.clone();
    // The writer pushes 100 MB while nobody reads the echo: it blocks once every buffer on the
    // way is full, and resumes when the reader below starts draining.
    let writer_thread = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        let mut left = TOTAL;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            writer.write_all(&chunk[..n]).unwrap();
            sent2.fetch_add(n as u64, Ordering::Relaxed);
            left -= n as u64;
        }
    });
    // Wait for the writer to stall: the server must have paused reading by then.
    let mut last = 0;
    let mut still = 0;
    assert!(wait_for(Duration::from_secs(30), || {
        let now = sent.load(Ordering::Relaxed);
        if now == last && now > 0 {
            still += 1;
        } else {
            still = 0;
            last = now;
        }
        still >= 40 // 200 ms without progress
    }));
    assert!(
        sent.load(Ordering::Relaxed) < TOTAL,
        "the writer should be blocked"
    );
    let id = ids.lock().unwrap()[0];
    let (buffered, paused) = server.query(move |r| {
        (
            r.buffered_of(id).unwrap(),
            r.is_reading_paused_of(id).unwrap(),
        )
    });
    assert!(paused, "reading is paused while the peer does not read");
    assert!(
        (buffered as u64) <= bound,
        "buffered {buffered} B > high water + one read ({bound} B)"
    );
    // Now read everything back: nothing was lost, order kept.
    let mut reader = conn;
    let mut got = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut max_buffered = 0usize;
    while got < TOTAL {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "server closed early at {got}");
        for (i, b) in buf[..n].iter().enumerate() {
            let expect = (((got as usize + i) % 65536) % 251) as u8;
            assert_eq!(*b, expect, "byte {} differs", got as usize + i);
        }
        got += n as u64;
        if got % (8 * 1024 * 1024) < n as u64 {
            let b = server.query(move |r| r.buffered_of(id).unwrap_or(0));
            max_buffered = max_buffered.max(b);
        }
    }
    writer_thread.join().unwrap();
    assert!(
        (max_buffered as u64) <= bound,
        "buffer reached {max_buffered} B"
    );
}

/// A pull producer: writes 1 KiB pieces of a counting pattern until its own 32 KiB limit,
/// then asks to be resumed once drained, and goes on from `resume_producing`.
struct Pull {
    sent: usize,
    total: usize,
    max_buffered: Arc<AtomicU64>,
}

impl Pull {
    const LIMIT: usize = 32 * 1024;

    fn produce(&mut self, tx: &mut dyn Transport) {
        while self.sent < self.total && tx.buffered() < Self::LIMIT {
            let piece: Vec<u8> = (self.sent..self.sent + 1024)
                .map(|i| (i % 251) as u8)
                .collect();
            tx.write(&piece);
            self.sent += piece.len();
        }
        self.max_buffered
            .fetch_max(tx.buffered() as u64, Ordering::Relaxed);
        if self.sent < self.total {
            tx.resume_when_drained();
        } else {
            tx.lose_connection();
        }
    }
}

impl Protocol for Pull {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.produce(tx);
        Ok(())
    }
    fn data_received(&mut self, _data: &[u8], _tx: &mut dyn Transport) -> ProtocolResult {
        Ok(())
    }
    fn resume_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.produce(tx);
        Ok(())
    }
}

#[test]
fn a_producer_that_stops_at_its_own_limit_is_resumed_once_its_output_drains() {
    const TOTAL: usize = 16 * 1024 * 1024;
    let max_buffered = Arc::new(AtomicU64::new(0));
    let seen = max_buffered.clone();
    let server = Server::start(ReactorConfig::default(), move || {
        let max_buffered = max_buffered.clone();
        move || Pull {
            sent: 0,
            total: TOTAL,
            max_buffered: max_buffered.clone(),
        }
    });
    let mut conn = client(server.addr);
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, ((got + i) % 251) as u8, "byte {} differs", got + i);
        }
        got += n;
    }
    assert_eq!(got, TOTAL, "every byte arrives, then the close");
    let max = seen.load(Ordering::Relaxed) as usize;
    assert!(
        max >= Pull::LIMIT,
        "the producer reached its limit ({max} B)"
    );
    assert!(max < Pull::LIMIT + 1024, "and stopped there ({max} B)");
}

#[test]
fn five_thousand_concurrent_connections_are_served() {
    const N: usize = 5000;
    let (limit, _) = spindle_reactor::raise_fd_limit().unwrap();
    assert!(
        limit >= 2 * N as u64 + 100,
        "need {} file descriptors, the limit is {limit}",
        2 * N + 100
    );
    let server = Server::start(ReactorConfig::default(), || || Echo);
    let mut conns: Vec<_> = (0..N).map(|_| client(server.addr)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(format!("{i:06}").as_bytes()).unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(read_n(c, 6), format!("{i:06}").as_bytes());
    }
    assert!(wait_for(Duration::from_secs(10), || server
        .query(|r| r.connection_count())
        == N));
    drop(conns);
    assert!(wait_for(Duration::from_secs(20), || server
        .query(|r| r.connection_count())
        == 0));
}

/// The first connection is the sink. A later connection sending "N" queues N bytes on the
/// sink with `write_to` and then aborts itself in the same callback.
struct Relay {
    sink: Rc<RefCell<Option<ConnId>>>,
}
impl Protocol for Relay {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        let mut sink = self.sink.borrow_mut();
        if sink.is_none() {
            *sink = Some(tx.id());
        }
        Ok(())
    }
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        let sink = *self.sink.borrow();
        if Some(tx.id()) == sink {
            tx.write(data);
            return Ok(());
        }
        let n: usize = std::str::from_utf8(data)?.trim().parse()?;
        let payload: Vec<u8> = (0..n).map(|i| (i % 256) as u8).collect();
        assert!(tx.write_to(sink.unwrap(), &payload));
        tx.abort_connection();
        Ok(())
    }
}

#[test]
fn closing_a_connection_with_output_queued_to_another_loses_nothing() {
    let server = Server::start(ReactorConfig::default(), || {
        let sink = Rc::new(RefCell::new(None));
        move || Relay { sink: sink.clone() }
    });
    let mut sink = client(server.addr);
    round_trip(&mut sink, b"I am the sink");
    let mut sender = client(server.addr);
    sender.write_all(b"3000000").unwrap();
    assert!(reads_eof(&mut sender));
    let got = read_n(&mut sink, 3_000_000);
    assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 256) as u8));
    round_trip(&mut sink, b"still fine");
}

/// Remembers the first connection's id; "poke" asks the reactor to write to it.
struct Poker {
    first: Rc<RefCell<Option<ConnId>>>,
    log: Arc<Mutex<Vec<String>>>,
}
impl Protocol for Poker {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        let mut first = self.first.borrow_mut();
        if first.is_none() {
            *first = Some(tx.id());
        }
        self.log.lock().unwrap().push(format!("made {:?}", tx.id()));
        Ok(())
    }
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        if data == b"poke" {
            let target = self.first.borrow().unwrap();
            let ok = tx.write_to(target, b"poked!");
            tx.write(if ok { b"delivered" } else { b"refused!!" });
        } else {
            tx.write(data);
        }
        Ok(())
    }
    fn connection_lost(&mut self, _: &DisconnectReason, tx: &mut dyn Transport) {
        self.log.lock().unwrap().push(format!("lost {:?}", tx.id()));
    }
}

#[test]
fn a_stale_connection_id_never_reaches_the_connection_that_reuses_its_slot() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let server = Server::start(ReactorConfig::default(), move || {
        let first = Rc::new(RefCell::new(None));
        move || Poker {
            first: first.clone(),
            log: log2.clone(),
        }
    });
    let mut a = client(server.addr);
    round_trip(&mut a, b"a");
    drop(a);
    assert!(wait_for(Duration::from_secs(5), || server
        .query(|r| r.connection_count())
        == 0));
    // B takes A's slot; C pokes A's (stale) id.
    let mut b = client(server.addr);
    round_trip(&mut b, b"b");
    let mut c = client(server.addr);
    c.write_all(b"poke").unwrap();
    assert_eq!(read_n(&mut c, 9), b"refused!!");
    // B got nothing meant for A.
    round_trip(&mut b, b"only mine");
    let log = log.lock().unwrap();
    let made: Vec<&String> = log.iter().filter(|l| l.starts_with("made")).collect();
    assert_eq!(made.len(), 3);
    assert_ne!(
        made[0], made[1],
        "ids differ even when the slot is reused: {log:?}"
    );
}

// ----- panics in user code other than a protocol's ----------------------------------------

/// Records warnings and errors, so a test can check that a panic was logged. Tests run in
/// parallel in one process, so each looks for a message of its own.
struct Recorder(Mutex<Vec<String>>);
impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder(Mutex::new(Vec::new()));

/// Whether a warning or error containing `text` was logged.
fn logged(text: &str) -> bool {
    if log::set_logger(&RECORDER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    RECORDER.0.lock().unwrap().iter().any(|l| l.contains(text))
}

/// Turns the loop until `text` is logged (a panic escaping the loop fails the test).
fn turn_until_logged(reactor: &mut Reactor, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !logged(text) {
        assert!(Instant::now() < deadline, "{text:?} was never logged");
        reactor.run_once(Some(Duration::from_millis(10))).unwrap();
    }
}

/// Writes "ping", waits for it to come back, then closes.
struct Pinger(Rc<RefCell<Vec<u8>>>);
impl Protocol for Pinger {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(b"ping");
        Ok(())
    }
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.0.borrow_mut().extend_from_slice(data);
        if self.0.borrow().len() >= 4 {
            tx.lose_connection();
        }
        Ok(())
    }
}

/// Connects a [`Pinger`], and stops the reactor once its connection has ended.
struct PingThenStop(Rc<RefCell<Vec<u8>>>);
impl ClientFactory for PingThenStop {
    fn build_protocol(&mut self, _: &Address) -> Box<dyn Protocol> {
        Box::new(Pinger(self.0.clone()))
    }
    fn client_connection_lost(&mut self, _: &DisconnectReason, connector: &mut Connector) {
        connector.stop_reactor();
    }
}

/// Proves the reactor still works: an echo round trip between a listener and a client of its
/// own, after which the client stops it and `run` returns normally.
fn still_serves(reactor: &mut Reactor) {
    let port = reactor.listen_tcp("127.0.0.1:0", || Echo).unwrap();
    let echoed = Rc::new(RefCell::new(Vec::new()));
    reactor
        .connect_tcp(
            port.socket_addr().unwrap(),
            PingThenStop(echoed.clone()),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    reactor.call_later(Duration::from_secs(10), |r| r.stop());
    reactor.run().unwrap();
    assert_eq!(&*echoed.borrow(), b"ping", "the echo round trip completed");
}

/// A refused port on loopback.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct PanicsWhenRefused;
impl ClientFactory for PanicsWhenRefused {
    fn build_protocol(&mut self, _: &Address) -> Box<dyn Protocol> {
        Box::new(Echo)
    }
    fn client_connection_failed(&mut self, _: &io::Error, _: &mut Connector) {
        panic!("client_connection_failed went wrong (refused)");
    }
}

#[test]
fn a_client_factory_panicking_in_client_connection_failed_costs_only_its_connector() {
    let mut reactor = Reactor::new().unwrap();
    let id = reactor
        .connect_tcp(("127.0.0.1", closed_port()), PanicsWhenRefused, None)
        .unwrap();
    turn_until_logged(
        &mut reactor,
        "client_connection_failed went wrong (refused)",
    );
    assert!(
        !reactor.stop_connecting(id),
        "the connector that panicked is gone"
    );
    still_serves(&mut reactor);
}

/// Closes every connection as soon as it is made.
struct Slam;
impl Protocol for Slam {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.lose_connection();
        Ok(())
    }
    fn data_received(&mut self, _: &[u8], _: &mut dyn Transport) -> ProtocolResult {
        Ok(())
    }
}

struct PanicsWhenLost;
impl ClientFactory for PanicsWhenLost {
    fn build_protocol(&mut self, _: &Address) -> Box<dyn Protocol> {
        Box::new(Echo)
    }
    fn client_connection_lost(&mut self, _: &DisconnectReason, _: &mut Connector) {
        panic!("client_connection_lost went wrong (slammed)");
    }
}

#[test]
fn a_client_factory_panicking_in_client_connection_lost_costs_only_its_connector() {
    let mut reactor = Reactor::new().unwrap();
    let port = reactor.listen_tcp("127.0.0.1:0", || Slam).unwrap();
    let id = reactor
        .connect_tcp(port.socket_addr().unwrap(), PanicsWhenLost, None)
        .unwrap();
    turn_until_logged(&mut reactor, "client_connection_lost went wrong (slammed)");
    assert!(
        !reactor.stop_connecting(id),
        "the connector that panicked is gone"
    );
    assert!(reactor.stop_listening(&port));
    still_serves(&mut reactor);
}

struct PanicsWhenConnected;
impl ClientFactory for PanicsWhenConnected {
    fn build_protocol(&mut self, _: &Address) -> Box<dyn Protocol> {
        panic!("build_protocol went wrong (connected)");
    }
}

#[test]
fn a_client_factory_panicking_in_build_protocol_drops_that_connection_only() {
    let mut reactor = Reactor::new().unwrap();
    let port = reactor.listen_tcp("127.0.0.1:0", || Echo).unwrap();
    let id = reactor
        .connect_tcp(port.socket_addr().unwrap(), PanicsWhenConnected, None)
        .unwrap();
    turn_until_logged(&mut reactor, "build_protocol went wrong (connected)");
    assert!(
        !reactor.stop_connecting(id),
        "the connector that panicked is gone"
    );
    // The client socket was dropped: the server's side of it sees the end of the stream.
    let deadline = Instant::now() + Duration::from_secs(10);
    while reactor.connection_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "the dropped connection was closed"
        );
        reactor.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    assert!(reactor.stop_listening(&port));
    still_serves(&mut reactor);
}

/// A server factory whose start and stop panic.
struct PanicsAtStartAndStop;
impl Factory for PanicsAtStartAndStop {
    fn build_protocol(&mut self, _: &Address) -> Option<Box<dyn Protocol>> {
        Some(Box::new(Echo))
    }
    fn start_factory(&mut self) {
        panic!("start_factory went wrong");
    }
    fn stop_factory(&mut self) {
        panic!("stop_factory went wrong");
    }
}

struct PanicsWhenStarting;
impl ClientFactory for PanicsWhenStarting {
    fn build_protocol(&mut self, _: &Address) -> Box<dyn Protocol> {
        Box::new(Echo)
    }
    fn started_connecting(&mut self, _: &mut Connector) {
        panic!("started_connecting went wrong");
    }
}

struct PanicsWhenBound;
impl DatagramProtocol for PanicsWhenBound {
    fn started(&mut self, _: &mut dyn DatagramTransport) {
        panic!("datagram started went wrong");
    }
    fn datagram_received(
        &mut self,
        _: &[u8],
        _: std::net::SocketAddr,
        _: &mut dyn DatagramTransport,
    ) -> ProtocolResult {
        Ok(())
    }
}

#[test]
fn panics_in_factories_timers_and_closures_are_logged_and_the_loop_goes_on() {
    let mut reactor = Reactor::new().unwrap();
    // Factory start (and, when `run` stops the reactor, stop) and a UDP protocol's start.
    let port = reactor
        .listen_tcp("127.0.0.1:0", PanicsAtStartAndStop)
        .unwrap();
    assert!(logged("start_factory went wrong"));
    reactor.listen_udp("127.0.0.1:0", PanicsWhenBound).unwrap();
    assert!(logged("datagram started went wrong"));
    // A connector whose started_connecting panics ends there.
    let id = reactor
        .connect_tcp(port.socket_addr().unwrap(), PanicsWhenStarting, None)
        .unwrap();
    assert!(logged("started_connecting went wrong"));
    assert!(!reactor.stop_connecting(id), "the connector is gone");
    // A delayed call, a looping call (its first, immediate call too), a call from a thread.
    reactor.call_later(Duration::ZERO, |_| panic!("delayed call went wrong"));
    let mut calls = 0;
    let looping = LoopingCall::start(&mut reactor, Duration::from_millis(1), true, move |_| {
        calls += 1;
        panic!("looping call {calls} went wrong");
    });
    assert!(logged("looping call 1 went wrong"));
    assert!(reactor
        .handle()
        .call_from_thread(|_| panic!("call from thread went wrong")));
    turn_until_logged(&mut reactor, "delayed call went wrong");
    turn_until_logged(&mut reactor, "looping call 2 went wrong");
    turn_until_logged(&mut reactor, "call from thread went wrong");
    assert!(looping.stop(&mut reactor));
    still_serves(&mut reactor);
    assert!(logged("stop_factory went wrong"));
}
