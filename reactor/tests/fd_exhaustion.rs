//! The reactor when every file descriptor is in use: connections that arrive meanwhile wait in
//! the listener's queue and are served once descriptors free up, with no new connection needed
//! to wake the listener.
//!
//! Lowering the descriptor limit would starve every other test of the process, so the server
//! runs in a child process: this test binary runs itself again with `SERVER_ENV` set, and that
//! copy lowers its own `RLIMIT_NOFILE` before it starts an echo server. The child reports on
//! stdout, one line each: `PORT <n>` once listening, `MADE` per accepted connection, and
//! `LOG <LEVEL> <message>` per log record at info and above. At the end SIGTERM stops it, which
//! checks the reactor's signal handling in a process of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use spindle_reactor::{Protocol, ProtocolResult, Reactor, Transport};

/// Set in the child's environment: run the server instead of the test.
const SERVER_ENV: &str = "SPINDLE_FD_EXHAUSTION_SERVER";
/// The child's descriptor limit: small, so it runs out after a few dozen connections.
const CHILD_FD_LIMIT: u64 = 64;
/// The name of the one test, which the child is asked to run.
const TEST_NAME: &str = "connections_queued_while_descriptors_ran_out_are_served_once_some_close";

// ----- the child: an echo server with few descriptors -------------------------------------------

struct Echo;

impl Protocol for Echo {
    fn connection_made(&mut self, _tx: &mut dyn Transport) -> ProtocolResult {
        println!("MADE");
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(data);
        Ok(())
    }
}

/// Prints log records at info and above as `LOG` lines, for the parent to read.
struct StdoutLogger;

impl log::Log for StdoutLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            println!("LOG {} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: StdoutLogger = StdoutLogger;

fn run_server() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, properly laid out struct; this process is the
    // child, so lowering its limit touches no other test.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = CHILD_FD_LIMIT;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    // The parent holds our stdin open: when it goes (test over, or the parent died), so do we.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    let mut reactor = Reactor::new().unwrap();
    reactor.install_signal_handlers().unwrap();
    let port = reactor.listen_tcp("127.0.0.1:0", || Echo).unwrap();
    println!("PORT {}", port.socket_addr().unwrap().port());
    reactor.run().unwrap();
}

// ----- the parent: fill the server up, queue a few, free some ------------------------------------

/// The child server, killed and reaped on drop (also when an assertion fails).
struct ServerProcess {
    child: Child,
    lines: Receiver<String>,
}

impl ServerProcess {
    fn start() -> ServerProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(SERVER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        ServerProcess { child, lines }
    }

    /// The next line the server printed that `pick` accepts, waiting at most until `deadline`.
    fn next<T>(&self, deadline: Instant, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .expect("the server said nothing more before the deadline");
            if let Some(found) = pick(&line) {
                return found;
            }
        }
    }
}

impl ServerProcess {
    /// Sends SIGTERM.
    fn terminate(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on the pid of our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }

    /// True once the server has exited with success; false if it failed or `deadline` passed.
    fn exited_ok(&mut self, deadline: Instant) -> bool {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the server did with the last connection: accepted it, or failed to accept.
enum Outcome {
    Accepted,
    AcceptFailed,
}

fn accept_failure(line: &str) -> bool {
    (line.starts_with("LOG WARN") || line.starts_with("LOG ERROR")) && line.contains("ccept")
}

fn outcome(line: &str) -> Option<Outcome> {
    if line == "MADE" {
        Some(Outcome::Accepted)
    } else if accept_failure(line) {
        Some(Outcome::AcceptFailed)
    } else {
        None
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads `want.len()` bytes before `deadline`; true if they equal `want`.
fn echoed_by(s: &mut TcpStream, want: &[u8], deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return false;
    }
    s.set_read_timeout(Some(left)).unwrap();
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).is_ok() && got == want
}

#[test]
fn connections_queued_while_descriptors_ran_out_are_served_once_some_close() {
    if std::env::var_os(SERVER_ENV).is_some() {
        run_server();
        return;
    }
    let mut server = ServerProcess::start();
    let deadline = Instant::now() + Duration::from_secs(20);
    let port: u16 = server.next(deadline, |l| l.strip_prefix("PORT ")?.parse().ok());
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // Connect until the server fails to accept: the kernel completes the handshake and queues
    // the connection, so only the server's own report tells which one it could not take.
    let mut held = Vec::new();
    let mut waiting = Vec::new();
    for _ in 0..2 * CHILD_FD_LIMIT {
        let mut s = connect(addr);
        s.write_all(b"x").unwrap();
        match server.next(deadline, outcome) {
            Outcome::Accepted => {
                assert!(
                    echoed_by(&mut s, b"x", deadline),
                    "an accepted connection got no echo"
                );
                held.push(s);
            }
            Outcome::AcceptFailed => {
                waiting.push((s, b"x".to_vec()));
                break;
            }
        }
    }
    assert!(
        !waiting.is_empty(),
        "the server never ran out of descriptors ({} connections accepted)",
        held.len()
    );
    assert!(
        held.len() >= 20,
        "only {} connections accepted before descriptors ran out",
        held.len()
    );

    // Five more arrive while every descriptor is in use, and send a request each.
    for i in 0..5u8 {
        let mut s = connect(addr);
        let msg = vec![b'a' + i; 3];
        s.write_all(&msg).unwrap();
        waiting.push((s, msg));
    }

    // Descriptors free up; no new connection arrives to wake the listener.
    held.truncate(held.len() - 20);
    let deadline = Instant::now() + Duration::from_secs(5);
    for (i, (s, msg)) in waiting.iter_mut().enumerate() {
        assert!(
            echoed_by(s, msg, deadline),
            "queued connection {i} got no echo within 5 s of descriptors freeing up"
        );
    }
    for s in &mut held {
        s.write_all(b"z").unwrap();
        assert!(
            echoed_by(s, b"z", deadline),
            "a held connection got no echo"
        );
    }

    // The episode ends once the queue is drained: one warning for all of it, not one per
    // retry nor per connection that arrived meanwhile.
    let mut failures = 0;
    server.next(deadline + Duration::from_secs(5), |l| {
        failures += usize::from(accept_failure(l));
        l.contains("accepting again").then_some(())
    });
    assert_eq!(
        failures, 0,
        "accept failures logged again within one episode"
    );

    // SIGTERM stops the server cleanly: its connections are closed and it exits with success.
    server.terminate();
    let deadline = Instant::now() + Duration::from_secs(10);
    for (s, _) in &mut waiting {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left)).unwrap();
        let mut rest = Vec::new();
        assert!(s.read_to_end(&mut rest).is_ok(), "not closed by the server");
    }
    assert!(
        server.exited_ok(deadline),
        "the server did not exit with success on SIGTERM"
    );
}
