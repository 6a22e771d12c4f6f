//! Helpers for the tests that run the `spindle` binary and other programs: spawn a server, read
//! the port from its "listening on" line, run a client to completion, stop with SIGTERM. Every
//! child is killed when its guard drops, even if an assertion fails.

#![allow(dead_code)]

pub mod amqp;
pub mod both;
pub mod broker;
pub mod hostile;
pub mod kv;
pub mod lapin;
pub mod soak;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server may take to print its "listening on" line (a debug build or a cold Python
/// import on a busy two-core machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client run or a server's shutdown may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// The three lines the tutorial's echo client prints after a successful exchange.
pub const TUTORIAL_LINES: [&str; 3] = [
    "Server said: hello boy!",
    "connection lost",
    "Connection lost - goodbye!",
];

pub fn spindle() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spindle"))
}

/// A built example (`cargo test` builds them): the test binary is
/// target/<profile>/deps/NAME-HASH, the examples are in target/<profile>/examples.
pub fn example(name: &str) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --examples` (cargo test builds them)",
        path.display()
    );
    Command::new(path)
}

/// The Python with Twisted installed, from `SPINDLE_PYTHON`.
pub fn python() -> Command {
    let Some(python) = std::env::var_os("SPINDLE_PYTHON") else {
        panic!(
            "SPINDLE_PYTHON is not set: these tests need a Python with Twisted; \
             run scripts/test, or scripts/venv and then \
             SPINDLE_PYTHON=$PWD/.venv/bin/python cargo test -- --include-ignored"
        );
    };
    Command::new(python)
}

pub fn py_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("py")
        .join(name)
}

/// A child process that is killed and reaped when dropped, with its stderr collected so a
/// failure can show it.
pub struct Running {
    name: String,
    child: Child,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
    /// Directories of the process's own (its data directory), removed once it has exited.
    remove_on_drop: Vec<PathBuf>,
}

impl Running {
    /// Spawns `cmd` with stdin closed and stdout and stderr piped.
    pub fn spawn(name: &str, mut cmd: Command) -> (Running, mpsc::Receiver<String>) {
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
            remove_on_drop: Vec::new(),
        };
        (running, rx)
    }

    /// Removes `dir` once the process has been stopped (when this drops).
    pub fn remove_on_drop(&mut self, dir: PathBuf) {
        self.remove_on_drop.push(dir);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stderr read so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// All of stderr, once the process has exited (its end of the pipe is then closed).
    pub fn full_stderr(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
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

    /// Sends the signal `sig` (`-STOP`, `-CONT`, `-TERM`…) with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {} failed", self.pid());
    }

    /// Sends SIGTERM and waits for the process to exit; panics if it does not in time.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM");
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
        for dir in &self.remove_on_drop {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Starts a server and reads stdout until a line containing "listening on" names its port
/// (`echo listening on 127.0.0.1:PORT` from spindle, `listening on PORT` from Twisted).
pub fn spawn_and_read_port(name: &str, cmd: Command) -> (Running, u16) {
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

pub fn listening_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("listening on ")?;
    let addr = rest.split_whitespace().next()?;
    addr.rsplit(':').next()?.parse().ok()
}

/// What a client run printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub lines: Vec<String>,
    pub stderr: String,
}

/// Runs a client to completion (killing it after [`RUN_TIMEOUT`]) and collects its output.
pub fn run_client(name: &str, cmd: Command) -> Finished {
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

/// A tmpfs mounted for one test, unmounted (and its mount point removed) when this drops.
pub struct Tmpfs {
    /// Where it is mounted.
    pub dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`"4m"`) at a directory of this process's; panics, saying why,
    /// when it cannot (it needs root, or CAP_SYS_ADMIN).
    pub fn mount(size: &str) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("spindle-tmpfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("run mount");
        if !output.status.success() {
            let _ = std::fs::remove_dir(&dir);
            panic!(
                "cannot mount a {size} tmpfs at {} (this test needs root, or CAP_SYS_ADMIN): {}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Tmpfs { dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy: detach it now, the kernel frees it when it is no longer used.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
