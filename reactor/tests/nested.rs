//! The nested turn (`Transport::process_events_while_blocked`) over real sockets: while one
//! connection's callback loops, other connections that opted in are read, answered and
//! flushed, new connections are accepted, and everything else (the blocked connection's own
//! input, connections that did not opt in) is served by the loop once the callback returns.

mod common;

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, wait_for, Server};
use spindle_reactor::{Address, Factory, Protocol, ProtocolResult, ReactorConfig, Transport};

/// Line commands: `block` loops in nested turns until some connection sends `open` (then
/// answers `done`); `open` opens the gate; `quiet` makes the connection stop serving in nested
/// turns; anything else is answered `got:<line> <gate state>`.
struct Node {
    gate: Rc<Cell<bool>>,
    blocked: Arc<AtomicBool>,
    serves: bool,
    input: Vec<u8>,
}

impl Protocol for Node {
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.input.extend_from_slice(data);
        while let Some(end) = self.input.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.input.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).to_string();
            match line.as_str() {
                "block" => {
                    self.blocked.store(true, Ordering::SeqCst);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !self.gate.get() && Instant::now() < deadline {
                        tx.process_events_while_blocked();
                        std::thread::yield_now();
                    }
                    self.blocked.store(false, Ordering::SeqCst);
                    tx.write(b"done\n");
                }
                "open" => {
                    self.gate.set(true);
                    tx.write(b"opened\n");
                }
                "quiet" => {
                    self.serves = false;
                    tx.write(b"quiet\n");
                }
                other => {
                    let state = if self.gate.get() { "open" } else { "closed" };
                    tx.write(format!("got:{other} {state}\n").as_bytes());
                }
            }
        }
        Ok(())
    }

    fn serves_while_blocked(&self) -> bool {
        self.serves
    }
}

/// Builds [`Node`]s sharing one gate; accepts during nested turns.
struct Nodes {
    gate: Rc<Cell<bool>>,
    blocked: Arc<AtomicBool>,
}

impl Factory for Nodes {
    fn build_protocol(&mut self, _peer: &Address) -> Option<Box<dyn Protocol>> {
        Some(Box::new(Node {
            gate: self.gate.clone(),
            blocked: self.blocked.clone(),
            serves: true,
            input: Vec::new(),
        }))
    }

    fn builds_while_blocked(&self) -> bool {
        true
    }
}

fn line(r: &mut BufReader<std::net::TcpStream>) -> String {
    let mut s = String::new();
    r.read_line(&mut s).unwrap();
    s
}

#[test]
fn a_blocked_callback_lets_other_connections_be_served_and_accepted() {
    let blocked = Arc::new(AtomicBool::new(false));
    let flag = blocked.clone();
    let server = Server::start(ReactorConfig::default(), move || Nodes {
        gate: Rc::new(Cell::new(false)),
        blocked: flag,
    });
    let mut quiet = client(server.addr);
    quiet.write_all(b"quiet\n").unwrap();
    let mut quiet_r = BufReader::new(quiet.try_clone().unwrap());
    assert_eq!(line(&mut quiet_r), "quiet\n");

    let mut runner = client(server.addr);
    let mut runner_r = BufReader::new(runner.try_clone().unwrap());
    runner.write_all(b"block\n").unwrap();
    assert!(wait_for(Duration::from_secs(10), || blocked.load(Ordering::SeqCst)));
    // The blocked connection's own input waits for its callback to end.
    runner.write_all(b"after\n").unwrap();
    // Not served while blocked: answered by the loop afterwards, so it sees the gate open.
    quiet.write_all(b"ping\n").unwrap();

    // Accepted and answered while the other callback is still blocked.
    let mut other = client(server.addr);
    let mut other_r = BufReader::new(other.try_clone().unwrap());
    other.write_all(b"hello\n").unwrap();
    assert_eq!(line(&mut other_r), "got:hello closed\n");
    assert!(blocked.load(Ordering::SeqCst));
    other.write_all(b"open\n").unwrap();
    assert_eq!(line(&mut other_r), "opened\n");

    assert_eq!(line(&mut runner_r), "done\n");
    assert_eq!(line(&mut runner_r), "got:after open\n");
    assert_eq!(line(&mut quiet_r), "got:ping open\n");
}

#[test]
fn events_of_the_loops_own_poll_not_yet_handled_are_served_by_a_nested_turn() {
    // A reactor on this thread, so both requests are in one poll's batch: the blocking one
    // first, the one that opens the gate after it.
    let mut reactor = spindle_reactor::Reactor::new().unwrap();
    let blocked = Arc::new(AtomicBool::new(false));
    let port = reactor
        .listen_tcp(
            "127.0.0.1:0",
            Nodes {
                gate: Rc::new(Cell::new(false)),
                blocked: blocked.clone(),
            },
        )
        .unwrap();
    let addr = port.socket_addr().unwrap();
    let mut runner = client(addr);
    let mut opener = client(addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while reactor.connection_count() < 2 && Instant::now() < deadline {
        reactor.run_once(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(reactor.connection_count(), 2);
    runner.write_all(b"block\n").unwrap();
    opener.write_all(b"open\n").unwrap();
    let started = Instant::now();
    let mut runner_r = BufReader::new(runner.try_clone().unwrap());
    let mut opener_r = BufReader::new(opener.try_clone().unwrap());
    reactor.run_once(Some(Duration::from_secs(1))).unwrap();
    // The gate opened from inside the block, well before the block's own 10 s bound.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!blocked.load(Ordering::SeqCst));
    assert_eq!(line(&mut opener_r), "opened\n");
    assert_eq!(line(&mut runner_r), "done\n");
}
