//! The reactor's contract over real sockets and a fake clock: flushing on close, pausing,
//! Unix and UDP sockets, timers, calls from other threads, the SO_REUSEPORT pool, reconnecting, a
//! connection's socket descriptor.

mod common;

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::rc::Rc;
use std::time::Duration;

use common::{client, read_n, round_trip, wait_for, Server};
use spindle_reactor::testing::{Clock, StringTransport};
use spindle_reactor::{
    Address, ClientFactory, Connector, DatagramProtocol, DatagramTransport, DisconnectReason,
    LoopingCall, Pool, Protocol, ProtocolResult, Reactor, ReactorConfig, ReconnectingClientFactory,
    TimerId, Transport,
};

struct Echo;
impl Protocol for Echo {
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(data);
        Ok(())
    }
}

/// On any input: writes `n` bytes in many small writes, then loses the connection.
struct Burst(usize);
impl Protocol for Burst {
    fn data_received(&mut self, _: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        let chunk = [b'z'; 100];
        let mut left = self.0;
        while left > 0 {
            let n = left.min(100);
            tx.write(&chunk[..n]);
            left -= n;
        }
        tx.lose_connection();
        tx.write(b"ignored after lose_connection");
        Ok(())
    }
}

#[test]
fn lose_connection_flushes_everything_then_closes() {
    let server = Server::start(ReactorConfig::default(), || || Burst(5_000_000));
    let mut c = client(server.addr);
    c.write_all(b"go").unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), 5_000_000);
    assert!(all.iter().all(|b| *b == b'z'));
}

/// "pause" pauses reading for 50 ms of reactor time via a timer, "x…" is echoed.
struct Pausing {
    paused_at: Option<TimerId>,
}
impl Protocol for Pausing {
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        if data.starts_with(b"pause") {
            tx.pause_reading();
            self.paused_at = Some(tx.call_later(Duration::from_millis(50)));
            tx.write(b"paused");
            return Ok(());
        }
        tx.write(data);
        Ok(())
    }
    fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        assert_eq!(Some(id), self.paused_at);
        tx.write(b"resumed");
        tx.resume_reading();
        Ok(())
    }
}

#[test]
fn paused_reading_holds_data_until_resumed_by_a_timer() {
    let server = Server::start(ReactorConfig::default(), || || Pausing { paused_at: None });
    let mut c = client(server.addr);
    c.write_all(b"pause").unwrap();
    assert_eq!(read_n(&mut c, 6), b"paused");
    // Sent while paused: must come back only after "resumed".
    c.write_all(b"while-paused").unwrap();
    assert_eq!(read_n(&mut c, 7 + 12), b"resumedwhile-paused");
}

#[test]
fn unix_sockets_serve_and_connect() {
    let dir = std::env::temp_dir().join(format!("spindle-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let mut reactor = Reactor::new().unwrap();
    let port = reactor.listen_unix(&path, || Echo).unwrap();
    assert_eq!(port.address(), &Address::Unix(Some(path.clone())));

    struct Once(Rc<RefCell<Vec<u8>>>);
    impl Protocol for Once {
        fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
            tx.write(b"over unix");
            Ok(())
        }
        fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
            self.0.borrow_mut().extend_from_slice(data);
            if self.0.borrow().len() >= 9 {
                tx.lose_connection();
            }
            Ok(())
        }
    }
    struct F(Rc<RefCell<Vec<u8>>>);
    impl ClientFactory for F {
        fn build_protocol(&mut self, _: &Address) -> Box<dyn Protocol> {
            Box::new(Once(self.0.clone()))
        }
        fn client_connection_lost(&mut self, _: &DisconnectReason, c: &mut Connector) {
            c.stop_reactor();
        }
        fn client_connection_failed(&mut self, e: &std::io::Error, c: &mut Connector) {
            c.stop_reactor();
            panic!("unix connect failed: {e}");
        }
    }
    let got = Rc::new(RefCell::new(Vec::new()));
    reactor.connect_unix(&path, F(got.clone()), Some(Duration::from_secs(5)));
    reactor.run().unwrap();
    assert_eq!(&*got.borrow(), b"over unix");
    let _ = std::fs::remove_dir_all(dir);
}

struct UdpEcho;
impl DatagramProtocol for UdpEcho {
    fn datagram_received(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        tx: &mut dyn DatagramTransport,
    ) -> ProtocolResult {
        tx.send_to(data, from)?;
        Ok(())
    }
}

#[test]
fn udp_datagrams_are_echoed() {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut reactor = Reactor::new().unwrap();
        let addr = reactor.listen_udp("127.0.0.1:0", UdpEcho).unwrap();
        tx.send((addr, reactor.handle())).unwrap();
        reactor.run().unwrap();
    });
    let (addr, handle) = rx.recv().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for msg in [&b"one"[..], b"two", &[0u8; 1200]] {
        sock.send_to(msg, addr).unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], msg);
        assert_eq!(from, addr);
    }
    handle.stop();
    t.join().unwrap();
}

#[test]
fn call_later_cancel_reset_and_looping_call_follow_a_fake_clock() {
    let clock = Clock::new();
    let mut r = Reactor::with_clock(ReactorConfig::default(), Rc::new(clock.clone())).unwrap();
    let log = Rc::new(RefCell::new(Vec::<&'static str>::new()));
    let l = log.clone();
    let a = r.call_later(Duration::from_secs(1), move |_| l.borrow_mut().push("a"));
    let l = log.clone();
    let b = r.call_later(Duration::from_secs(1), move |_| l.borrow_mut().push("b"));
    let l = log.clone();
    let c = r.call_later(Duration::from_secs(1), move |_| l.borrow_mut().push("c"));
    assert!(b.cancel(&mut r));
    assert!(c.reset(&mut r, Duration::from_secs(3)));
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let looping: Rc<Cell<Option<LoopingCall>>> = Rc::new(Cell::new(None));
    let lc = looping.clone();
    let call = LoopingCall::start(&mut r, Duration::from_millis(500), false, move |r| {
        t.set(t.get() + 1);
        if t.get() == 5 {
            if let Some(me) = lc.get() {
                assert!(me.stop(r));
            }
        }
    });
    looping.set(Some(call));
    let pump = |r: &mut Reactor| r.run_once(Some(Duration::ZERO)).unwrap();
    pump(&mut r);
    assert!(log.borrow().is_empty());
    clock.advance(Duration::from_millis(999));
    pump(&mut r);
    assert!(log.borrow().is_empty());
    assert_eq!(ticks.get(), 1);
    clock.advance(Duration::from_millis(1));
    pump(&mut r);
    assert_eq!(*log.borrow(), ["a"]);
    assert!(!a.is_active(&r));
    assert!(!b.is_active(&r));
    assert!(c.is_active(&r));
    assert_eq!(ticks.get(), 2);
    clock.advance(Duration::from_secs(2));
    pump(&mut r);
    assert_eq!(*log.borrow(), ["a", "c"]);
    // The looping call skips missed intervals instead of bursting: one tick per pump here.
    assert_eq!(ticks.get(), 3);
    for _ in 0..5 {
        clock.advance(Duration::from_millis(500));
        pump(&mut r);
    }
    assert_eq!(ticks.get(), 5, "stopped itself after 5 ticks");
    assert!(!call.is_running(&r));
}

/// A protocol with an idle timeout, tested on a StringTransport and a fake clock.
struct Idle {
    timer: Option<TimerId>,
}
impl Protocol for Idle {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.timer = Some(tx.call_later(Duration::from_secs(10)));
        Ok(())
    }
    fn data_received(&mut self, _: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        if let Some(t) = self.timer {
            tx.reset_timer(t, Duration::from_secs(10));
        }
        Ok(())
    }
    fn timer_fired(&mut self, _: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(b"idle timeout\r\n");
        tx.lose_connection();
        Ok(())
    }
}

#[test]
fn protocol_timers_run_on_the_string_transports_fake_clock() {
    let mut tx = StringTransport::new();
    let mut p = Idle { timer: None };
    p.connection_made(&mut tx).unwrap();
    tx.advance(&mut p, Duration::from_secs(9)).unwrap();
    p.data_received(b"still here", &mut tx).unwrap();
    tx.advance(&mut p, Duration::from_secs(9)).unwrap();
    assert!(!tx.is_disconnecting());
    tx.advance(&mut p, Duration::from_secs(1)).unwrap();
    assert!(tx.is_disconnecting());
    assert_eq!(tx.written(), b"idle timeout\r\n");
}

#[test]
fn calls_from_other_threads_run_on_the_reactor() {
    let server = Server::start(ReactorConfig::default(), || || Echo);
    let mut c = client(server.addr);
    round_trip(&mut c, b"hi");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let h = server.handle.clone();
            std::thread::spawn(move || {
                let (tx, rx) = std::sync::mpsc::channel();
                h.call_from_thread(move |r| tx.send(r.connection_count()).unwrap());
                rx.recv().unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 1);
    }
}

#[test]
fn a_pool_of_reactors_shares_one_port() {
    let pool = Pool::start(
        3,
        "127.0.0.1:0".parse().unwrap(),
        ReactorConfig::default(),
        false,
        |_| Box::new(|| Echo),
    )
    .unwrap();
    assert_eq!(pool.handles().len(), 3);
    let mut conns: Vec<_> = (0..30).map(|_| client(pool.local_addr())).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        round_trip(c, format!("conn {i}").as_bytes());
    }
    let counts: Vec<usize> = pool
        .handles()
        .iter()
        .map(|h| {
            let (tx, rx) = std::sync::mpsc::channel();
            h.call_from_thread(move |r| tx.send(r.connection_count()).unwrap());
            rx.recv().unwrap()
        })
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 30);
    drop(conns);
    pool.stop();
    pool.join().unwrap();
}

/// Counts what happens to a reconnecting client.
struct Counting {
    failures: Rc<Cell<u32>>,
    connections: Rc<Cell<u32>>,
}
impl ClientFactory for Counting {
    fn build_protocol(&mut self, _: &Address) -> Box<dyn Protocol> {
        self.connections.set(self.connections.get() + 1);
        Box::new(Echo)
    }
    fn client_connection_failed(&mut self, _: &std::io::Error, _: &mut Connector) {
        self.failures.set(self.failures.get() + 1);
    }
}

#[test]
fn a_reconnecting_client_backs_off_then_connects_and_reconnects_after_a_loss() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let failures = Rc::new(Cell::new(0));
    let connections = Rc::new(Cell::new(0));
    let factory = ReconnectingClientFactory::new(Counting {
        failures: failures.clone(),
        connections: connections.clone(),
    })
    .with_initial_delay(Duration::from_millis(5))
    .with_max_delay(Duration::from_millis(40));
    let control = factory.control();
    let mut r = Reactor::new().unwrap();
    r.connect_tcp(("127.0.0.1", port), factory, Some(Duration::from_secs(2)))
        .unwrap();
    while failures.get() < 3 {
        r.run_once(Some(Duration::from_millis(100))).unwrap();
    }
    assert_eq!(connections.get(), 0);
    // The server appears: the next retry connects.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut accepted = None;
    listener.set_nonblocking(true).unwrap();
    assert!(wait_for(Duration::from_secs(10), || {
        r.run_once(Some(Duration::from_millis(10))).unwrap();
        if accepted.is_none() {
            accepted = listener.accept().ok().map(|(s, _)| s);
        }
        connections.get() == 1 && accepted.is_some()
    }));
    // The server drops the connection: the client reconnects.
    let first = accepted.take().unwrap();
    first.set_nonblocking(false).unwrap();
    drop(first);
    assert!(wait_for(Duration::from_secs(10), || {
        r.run_once(Some(Duration::from_millis(10))).unwrap();
        if accepted.is_none() {
            accepted = listener.accept().ok().map(|(s, _)| s);
        }
        connections.get() == 2
    }));
    // Stop trying, then lose the connection: no third connection follows.
    control.stop_trying();
    drop(accepted.take());
    assert!(wait_for(Duration::from_secs(10), || {
        r.run_once(Some(Duration::from_millis(10))).unwrap();
        r.connection_count() == 0
    }));
    for _ in 0..20 {
        r.run_once(Some(Duration::from_millis(5))).unwrap();
        assert!(listener.accept().is_err(), "reconnected after stop_trying");
    }
    assert_eq!(connections.get(), 2);
}

/// On any input: replies with its connection's descriptor (`Transport::fd`) as a line.
struct TellFd;
impl Protocol for TellFd {
    fn data_received(&mut self, _: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        let line = match tx.fd() {
            Some(fd) => format!("{fd}\n"),
            None => "none\n".to_string(),
        };
        tx.write(line.as_bytes());
        Ok(())
    }
}

#[test]
fn a_connection_knows_its_socket_descriptor_and_a_string_transport_has_none() {
    let server = Server::start(ReactorConfig::default(), || || TellFd);
    let fd_of = |s: &mut std::net::TcpStream| -> i32 {
        s.write_all(b"?").unwrap();
        let mut line = String::new();
        BufReader::new(&*s).read_line(&mut line).unwrap();
        line.trim_end()
            .parse()
            .unwrap_or_else(|_| panic!("a descriptor, not {line:?}"))
    };
    let (mut a, mut b) = (client(server.addr), client(server.addr));
    let (fd_a, fd_b) = (fd_of(&mut a), fd_of(&mut b));
    assert!(fd_a >= 0 && fd_b >= 0, "{fd_a} {fd_b}");
    assert_ne!(fd_a, fd_b, "each connection has its own socket");
    assert_eq!(fd_of(&mut a), fd_a, "and keeps it");
    // The server runs in this process: the descriptor is one of its sockets.
    if cfg!(target_os = "linux") {
        let target = std::fs::read_link(format!("/proc/self/fd/{fd_a}")).unwrap();
        assert!(
            target.to_string_lossy().starts_with("socket:"),
            "{fd_a} is {target:?}"
        );
    }
    assert_eq!(StringTransport::new().fd(), None);
}

/// On connect: records its id and queues more than the socket takes; records how it ended.
struct Hoard {
    id: Rc<Cell<Option<spindle_reactor::ConnId>>>,
    lost: Rc<RefCell<Option<String>>>,
}
impl Protocol for Hoard {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.id.set(Some(tx.id()));
        tx.write(&vec![b'h'; 16 << 20]);
        Ok(())
    }
    fn data_received(&mut self, _: &[u8], _: &mut dyn Transport) -> ProtocolResult {
        Ok(())
    }
    fn connection_lost(&mut self, reason: &DisconnectReason, _: &mut dyn Transport) {
        *self.lost.borrow_mut() = Some(format!("{reason:?}"));
    }
}

#[test]
fn the_reactor_aborts_another_connection_dropping_its_queued_output() {
    let mut reactor = Reactor::new().unwrap();
    let id = Rc::new(Cell::new(None));
    let lost = Rc::new(RefCell::new(None));
    let (i, l) = (id.clone(), lost.clone());
    let port = reactor
        .listen_tcp("127.0.0.1:0", move || Hoard {
            id: i.clone(),
            lost: l.clone(),
        })
        .unwrap();
    let mut peer = client(port.socket_addr().unwrap());
    while id.get().is_none() {
        reactor.run_once(Some(Duration::from_millis(100))).unwrap();
    }
    let conn = id.get().unwrap();
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    assert!(reactor.buffered_of(conn).is_some_and(|n| n > 0));
    assert!(reactor.abort_connection_of(conn));
    reactor.run_once(Some(Duration::ZERO)).unwrap();
    assert_eq!(lost.borrow().as_deref(), Some("Aborted"));
    assert_eq!(reactor.buffered_of(conn), None);
    assert!(!reactor.abort_connection_of(conn), "a closed id is refused");
    // The peer gets what the kernel already had, then the end: never the whole 16 MiB.
    let mut got = Vec::new();
    let _ = peer.read_to_end(&mut got);
    assert!(got.len() < 16 << 20, "{}", got.len());
}

/// The first connection, on any input, writes 32 KiB to the second (under the high-water mark,
/// so the reactor would not pause it by itself) and asks to hear when the second's output has
/// drained; the second records its `resume_producing`.
struct Relay {
    ids: Rc<RefCell<Vec<spindle_reactor::ConnId>>>,
    drained: std::sync::Arc<std::sync::atomic::AtomicBool>,
}
impl Protocol for Relay {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.ids.borrow_mut().push(tx.id());
        tx.write(b"+");
        Ok(())
    }
    fn data_received(&mut self, _: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        let other = self.ids.borrow().iter().copied().find(|i| *i != tx.id());
        if let Some(other) = other {
            assert!(tx.write_to(other, &vec![b'r'; 32 << 10]));
            assert!(tx.resume_when_drained_of(other));
        }
        Ok(())
    }
    fn resume_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.drained
            .store(true, std::sync::atomic::Ordering::SeqCst);
        tx.resume_reading();
        Ok(())
    }
}

#[test]
fn a_connection_hears_when_another_connections_output_drained() {
    let drained = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = drained.clone();
    let server = Server::start(ReactorConfig::default(), move || {
        let ids = Rc::new(RefCell::new(Vec::new()));
        move || Relay {
            ids: ids.clone(),
            drained: flag.clone(),
        }
    });
    let mut a = client(server.addr);
    let mut b = client(server.addr);
    let mut plus = [0u8; 1];
    a.read_exact(&mut plus).unwrap();
    b.read_exact(&mut plus).unwrap();
    a.write_all(b"go").unwrap();
    read_n(&mut b, 32 << 10);
    assert!(wait_for(Duration::from_secs(10), || drained
        .load(std::sync::atomic::Ordering::SeqCst)));
}

/// Writes "reply" and leaves its id for the before-flush hook.
struct Noted(Rc<RefCell<Vec<spindle_reactor::ConnId>>>);
impl Protocol for Noted {
    fn data_received(&mut self, _: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(b"reply");
        self.0.borrow_mut().push(tx.id());
        Ok(())
    }
}

#[test]
fn before_flush_hooks_run_after_the_turns_reads_and_before_its_output_leaves() {
    let mut reactor = Reactor::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let for_factory = seen.clone();
    let port = reactor
        .listen_tcp("127.0.0.1:0", move || Noted(for_factory.clone()))
        .unwrap();
    // What the hook found still buffered for each connection, before it added its own word.
    let buffered = Rc::new(RefCell::new(Vec::new()));
    let (from_hook, noted) = (buffered.clone(), seen.clone());
    let hook = reactor.before_flush(move |r| {
        for id in noted.borrow_mut().drain(..) {
            from_hook.borrow_mut().push(r.buffered_of(id));
            r.write_bytes_to(id, bytes::Bytes::from_static(b"+acked"));
        }
    });
    let mut c = client(port.address().socket_addr().unwrap());
    c.write_all(b"go").unwrap();
    let mut turns = 0;
    while buffered.borrow().is_empty() {
        reactor.run_once(Some(Duration::from_millis(100))).unwrap();
        turns += 1;
        assert!(turns < 100, "the write never arrived");
    }
    // The turn that read "go" ran the hook with "reply" not yet sent, and flushed both.
    assert_eq!(*buffered.borrow(), [Some(5)]);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(read_n(&mut c, 11), b"reply+acked");

    // Removed, it runs no more; a hook may remove itself.
    assert!(reactor.remove_before_flush(hook));
    assert!(!reactor.remove_before_flush(hook));
    let runs = Rc::new(Cell::new(0));
    let counted = runs.clone();
    let own_id = Rc::new(Cell::new(None));
    let own = own_id.clone();
    let id = reactor.before_flush(move |r| {
        counted.set(counted.get() + 1);
        if let Some(id) = own.get() {
            r.remove_before_flush(id);
        }
    });
    own_id.set(Some(id));
    for _ in 0..3 {
        reactor.run_once(Some(Duration::ZERO)).unwrap();
    }
    assert_eq!(runs.get(), 1);
}
