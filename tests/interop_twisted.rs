//! Interop with Twisted itself: Twisted's tutorial echo client talks to `spindle echo`, and
//! `spindle echo-client` talks to Twisted's tutorial echo server (`tests/py/`).
//!
//! The tests that need Twisted are `#[ignore]`d: `scripts/test` installs Twisted into `.venv`,
//! exports `SPINDLE_PYTHON=.venv/bin/python` and runs them with `--include-ignored`. By hand:
//!
//! ```text
//! scripts/venv && SPINDLE_PYTHON=$PWD/.venv/bin/python \
//!     cargo test --test interop_twisted -- --include-ignored
//! ```
//!
//! Every server is started on a port the OS picks; its "listening on" line tells the test the
//! port (and that it accepts). Nothing sleeps a fixed time: each wait is for a condition, with a
//! deadline, and every child process is killed when its guard drops, even if an assertion fails.

// Panicking on a broken expectation is how a test fails.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server may take to print its "listening on" line (a debug build or a cold Python
/// import on a busy two-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client run or a server's shutdown may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// The three lines the tutorial's echo client prints after a successful exchange.
const TUTORIAL_LINES: [&str; 3] = [
    "Server said: hello boy!",
    "connection lost",
    "Connection lost - goodbye!",
];

fn spindle() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spindle"))
}

/// The Python with Twisted installed, from `SPINDLE_PYTHON`.
fn python() -> Command {
    let Some(python) = std::env::var_os("SPINDLE_PYTHON") else {
        panic!(
            "SPINDLE_PYTHON is not set: these tests need a Python with Twisted; \
             run scripts/test, or scripts/venv and then \
             SPINDLE_PYTHON=$PWD/.venv/bin/python cargo test -- --include-ignored"
        );
    };
    Command::new(python)
}

fn py_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("py")
        .join(name)
}

/// A child process that is killed and reaped when dropped, with its stderr collected so a
/// failure can show it.
struct Running {
    name: String,
    child: Child,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Running {
    /// Spawns `cmd` with stdin closed and stdout and stderr piped.
    fn spawn(name: &str, mut cmd: Command) -> (Running, mpsc::Receiver<String>) {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let collected = Arc::new(Mutex::new(String::new()));
        let sink = collected.clone();
        let stderr_reader = thread::spawn(move || {
            let mut stderr = stderr;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let chunk = String::from_utf8_lossy(&buf[..n]);
                sink.lock().unwrap().push_str(&chunk);
            }
        });
        // Lines go to the channel; after the receiver is gone the thread keeps draining stdout
        // so the child never blocks on a full pipe.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let running = Running {
            name: name.to_string(),
            child,
            stderr: collected,
            stderr_reader: Some(stderr_reader),
        };
        (running, rx)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stderr read so far.
    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// All of stderr, once the process has exited (its end of the pipe is then closed).
    fn full_stderr(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Polling for the exit condition, not a fixed wait.
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and waits for the process to exit; panics if it does not in time.
    fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
        match self.wait_for_exit(RUN_TIMEOUT) {
            Some(status) => status,
            None => panic!(
                "{} did not exit within {RUN_TIMEOUT:?} of SIGTERM; stderr:\n{}",
                self.name,
                self.stderr()
            ),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts a server and reads stdout until a line containing "listening on" names its port
/// (`echo listening on 127.0.0.1:PORT` from spindle, `listening on PORT` from Twisted).
fn spawn_and_read_port(name: &str, cmd: Command) -> (Running, u16) {
    let (mut server, lines) = Running::spawn(name, cmd);
    let deadline = Instant::now() + START_TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(port) = listening_port(&line) {
                    return (server, port);
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "{name} printed no \"listening on\" line within {START_TIMEOUT:?}; \
                 stdout: {seen:?}; stderr:\n{}",
                server.stderr()
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.wait_for_exit(RUN_TIMEOUT);
                panic!(
                    "{name} closed its stdout before listening (exit {status:?}); \
                     stdout: {seen:?}; stderr:\n{}",
                    server.stderr()
                );
            }
        }
    }
}

fn listening_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("listening on ")?;
    let addr = rest.split_whitespace().next()?;
    addr.rsplit(':').next()?.parse().ok()
}

/// What a client run printed.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    lines: Vec<String>,
    stderr: String,
}

/// Runs a client to completion (killing it after [`RUN_TIMEOUT`]) and collects its output.
fn run_client(name: &str, cmd: Command) -> Finished {
    let (mut client, lines) = Running::spawn(name, cmd);
    let Some(status) = client.wait_for_exit(RUN_TIMEOUT) else {
        panic!(
            "{name} did not finish within {RUN_TIMEOUT:?}; stdout so far: {:?}; stderr:\n{}",
            lines.try_iter().collect::<Vec<_>>(),
            client.stderr()
        );
    };
    // The process has exited, so its stdout reaches EOF and the reader thread ends the channel.
    let lines: Vec<String> = lines.iter().collect();
    let stderr = client.full_stderr();
    Finished {
        status,
        lines,
        stderr,
    }
}

fn assert_tutorial_exchange(name: &str, out: &Finished) {
    assert_eq!(
        out.lines, TUTORIAL_LINES,
        "{name}'s stdout; stderr:\n{}",
        out.stderr
    );
    assert!(
        out.status.success(),
        "{name} exited with {:?}; stderr:\n{}",
        out.status,
        out.stderr
    );
}

#[test]
#[ignore = "needs Twisted: run scripts/test"]
fn twisted_client_talks_to_spindle_echo() {
    let mut cmd = spindle();
    cmd.args(["echo", "--port", "0"]);
    let (mut server, port) = spawn_and_read_port("spindle echo", cmd);

    let mut client = python();
    client
        .arg(py_script("twisted_echo_client.py"))
        .arg(port.to_string());
    let out = run_client("Twisted's echo client", client);
    assert_tutorial_exchange("Twisted's echo client", &out);

    let status = server.terminate();
    assert!(
        status.success(),
        "spindle echo exited with {status:?} after SIGTERM; stderr:\n{}",
        server.stderr()
    );
}

#[test]
#[ignore = "needs Twisted: run scripts/test"]
fn spindle_client_talks_to_twisted_echo() {
    let mut cmd = python();
    cmd.arg(py_script("twisted_echo_server.py")).arg("0");
    let (mut server, port) = spawn_and_read_port("Twisted's echo server", cmd);

    let mut client = spindle();
    client.args(["echo-client", "--port", &port.to_string()]);
    let out = run_client("spindle echo-client", client);
    assert_tutorial_exchange("spindle echo-client", &out);

    let status = server.terminate();
    assert!(
        status.success(),
        "Twisted's echo server exited with {status:?} after SIGTERM; stderr:\n{}",
        server.stderr()
    );
}

#[test]
fn spindle_client_reports_failure_to_a_closed_port() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.local_addr().expect("local_addr").port()
    }; // dropped: nothing listens there now

    let mut client = spindle();
    client.args(["echo-client", "--port", &port.to_string()]);
    let out = run_client("spindle echo-client", client);
    assert_eq!(
        out.lines,
        ["Connection failed - goodbye!"],
        "stdout; stderr:\n{}",
        out.stderr
    );
    assert!(
        !out.status.success(),
        "echo-client to a closed port exited with {:?}",
        out.status
    );
}
