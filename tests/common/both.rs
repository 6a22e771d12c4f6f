//! One test body, two brokers: [`both_brokers!`](crate::both_brokers) after a
//! `fn NAME(broker: &Broker)` adds a module `NAME` holding two tests that call it,
//! `NAME::rabbitmq` (the private RabbitMQ of `common::amqp`) and `NAME::spindle_broker` (a
//! `spindle broker` of the test's own), so our client's suites check both with the same
//! assertions. A test of something `spindle broker` does not do yet stays a plain RabbitMQ
//! `#[test]` whose comment says why.
//!
//! [`Restartable`] is a broker of either kind that a test kills with SIGKILL and starts again on
//! the same data (`tests/broker_durability.rs`).

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::amqp::{broker_uri, start_broker};
use super::broker::{fresh_data_dir, start_spindle_broker};
use super::{Running, RUN_TIMEOUT};

/// The broker one variant of a test talks to.
pub enum Broker {
    /// The RabbitMQ shared by the test process (`common::amqp::broker_uri`, or
    /// `SPINDLE_AMQP_URI`).
    RabbitMq,
    /// A `spindle broker --port 0` started for this test, stopped when this drops.
    Spindle {
        /// Its guest URI.
        uri: String,
        /// The process.
        server: Running,
    },
}

/// A broker of a test's own that the test may kill (see [`Broker::start_doomed`]).
pub struct Doomed {
    /// Its guest URI.
    pub uri: String,
    /// The pid to `kill -9`.
    pub pid: u32,
    /// Stops what is left of it (`scripts/rabbitmq stop DIR`; nothing for spindle broker).
    pub cleanup: Box<dyn FnOnce()>,
}

impl Broker {
    /// The RabbitMQ variant's broker.
    pub fn rabbitmq() -> Broker {
        Broker::RabbitMq
    }

    /// The `spindle broker` variant's broker, started now.
    pub fn spindle() -> Broker {
        let (server, port) = start_spindle_broker(&[]);
        Broker::Spindle {
            uri: guest_uri(port),
            server,
        }
    }

    /// The guest URI (`amqp://guest:guest@127.0.0.1:PORT/`), as our client parses it.
    pub fn uri(&self) -> String {
        match self {
            Broker::RabbitMq => broker_uri(),
            Broker::Spindle { uri, .. } => uri.clone(),
        }
    }

    /// A broker of the same kind that the test may kill: a RabbitMQ of its own, or this
    /// `spindle broker` (already the test's own).
    pub fn start_doomed(&self) -> Doomed {
        match self {
            Broker::RabbitMq => {
                let dir = std::env::temp_dir()
                    .join(format!("spindle-rabbitmq-doomed-{}", std::process::id()));
                let port = start_broker(&dir);
                let env = std::fs::read_to_string(dir.join("env")).expect("the broker's env file");
                let pid = env
                    .lines()
                    .find_map(|l| l.strip_prefix("BEAM_PID="))
                    .expect("BEAM_PID in env")
                    .parse()
                    .expect("BEAM_PID is a pid");
                Doomed {
                    uri: guest_uri(port),
                    pid,
                    cleanup: Box::new(move || {
                        let _ = std::process::Command::new(super::amqp::broker_script())
                            .arg("stop")
                            .arg(&dir)
                            .output();
                    }),
                }
            }
            // The test's own already: killing it leaves the reaping to its guard.
            Broker::Spindle { uri, server } => Doomed {
                uri: uri.clone(),
                pid: server.pid(),
                cleanup: Box::new(|| {}),
            },
        }
    }
}

fn guest_uri(port: u16) -> String {
    format!("amqp://guest:guest@127.0.0.1:{port}/")
}

/// `both_brokers!(NAME, "why ignored")` after `fn NAME(broker: &Broker)`: the module `NAME` with
/// the tests `NAME::rabbitmq` and `NAME::spindle_broker`, both `#[ignore]`d with that reason
/// (they need RabbitMQ, or the built examples; `scripts/test` runs them).
#[macro_export]
macro_rules! both_brokers {
    ($name:ident, $ignore:literal) => {
        mod $name {
            #[test]
            #[ignore = $ignore]
            fn rabbitmq() {
                super::$name(&$crate::common::both::Broker::rabbitmq());
            }

            #[test]
            #[ignore = $ignore]
            fn spindle_broker() {
                super::$name(&$crate::common::both::Broker::spindle());
            }
        }
    };
}

/// A broker of a test's own whose state survives it: [`kill`](Restartable::kill) sends SIGKILL
/// (nothing is flushed or closed cleanly), [`restart`](Restartable::restart) starts it again on
/// the same data. A `spindle broker --data-dir DIR`, or a RabbitMQ of `scripts/rabbitmq`
/// restarted on its own Mnesia directory under the same node name (`scripts/rabbitmq start DIR`
/// cannot do that: it removes what a dead broker left and picks a new node name). Stopped when
/// this drops, and its directory removed unless the test gave it one.
pub struct Restartable {
    /// Its guest URI; a restarted `spindle broker` listens on a new port.
    uri: String,
    kind: RestartableKind,
}

enum RestartableKind {
    Spindle {
        /// `--data-dir`.
        data_dir: PathBuf,
        /// Whether `data_dir` is removed when this drops (not when the test made it).
        own_dir: bool,
        /// Arguments besides `--port 0 --data-dir DIR`.
        extra_args: Vec<String>,
        /// The process, while it runs.
        server: Option<Running>,
        /// The stderr of the processes killed so far, in order.
        dead_stderr: String,
    },
    RabbitMq {
        /// The `scripts/rabbitmq` state directory (`env`, `mnesia/`, `log/`).
        dir: PathBuf,
        /// The `rabbitmq-server` script of the last restart, a child of this process.
        server: Option<Child>,
    },
}

impl Restartable {
    /// A RabbitMQ of its own (`scripts/rabbitmq start DIR`).
    pub fn rabbitmq() -> Restartable {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "spindle-rabbitmq-restartable-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let port = start_broker(&dir);
        Restartable {
            uri: guest_uri(port),
            kind: RestartableKind::RabbitMq { dir, server: None },
        }
    }

    /// A `spindle broker` on a fresh data directory of its own.
    pub fn spindle_broker() -> Restartable {
        Restartable::spindle(fresh_data_dir(), true, &[])
    }

    /// A `spindle broker --data-dir DATA_DIR EXTRA_ARGS...` (DATA_DIR is the caller's: it is
    /// left in place).
    pub fn spindle_in(data_dir: &Path, extra_args: &[&str]) -> Restartable {
        Restartable::spindle(data_dir.to_path_buf(), false, extra_args)
    }

    fn spindle(data_dir: PathBuf, own_dir: bool, extra_args: &[&str]) -> Restartable {
        let extra_args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        let (server, port) = start_spindle_in(&data_dir, &extra_args);
        Restartable {
            uri: guest_uri(port),
            kind: RestartableKind::Spindle {
                data_dir,
                own_dir,
                extra_args,
                server: Some(server),
                dead_stderr: String::new(),
            },
        }
    }

    /// Its guest URI (`amqp://guest:guest@127.0.0.1:PORT/`).
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Whether this is the RabbitMQ variant.
    pub fn is_rabbitmq(&self) -> bool {
        matches!(self.kind, RestartableKind::RabbitMq { .. })
    }

    /// Where its state is: spindle broker's `--data-dir`, or RabbitMQ's `scripts/rabbitmq`
    /// directory.
    pub fn data_dir(&self) -> &Path {
        match &self.kind {
            RestartableKind::Spindle { data_dir, .. } => data_dir,
            RestartableKind::RabbitMq { dir, .. } => dir,
        }
    }

    /// Everything spindle broker wrote to stderr so far, over all its lives; RabbitMQ's
    /// `log/stdout.log`.
    pub fn log(&self) -> String {
        match &self.kind {
            RestartableKind::Spindle {
                server,
                dead_stderr,
                ..
            } => {
                let mut log = dead_stderr.clone();
                if let Some(server) = server {
                    log.push_str(&server.stderr());
                }
                log
            }
            RestartableKind::RabbitMq { dir, .. } => {
                std::fs::read_to_string(dir.join("log/stdout.log")).unwrap_or_default()
            }
        }
    }

    /// The stderr of the running spindle broker only (what this life logged); empty for
    /// RabbitMQ.
    pub fn current_stderr(&self) -> String {
        match &self.kind {
            RestartableKind::Spindle {
                server: Some(server),
                ..
            } => server.stderr(),
            _ => String::new(),
        }
    }

    /// Kills the broker with SIGKILL and waits until it is gone.
    pub fn kill(&mut self) {
        match &mut self.kind {
            RestartableKind::Spindle {
                server,
                dead_stderr,
                ..
            } => {
                let Some(mut running) = server.take() else {
                    panic!("spindle broker killed twice");
                };
                sigkill(running.pid());
                running
                    .wait_for_exit(RUN_TIMEOUT)
                    .unwrap_or_else(|| panic!("spindle broker outlived SIGKILL"));
                dead_stderr.push_str(&running.full_stderr());
            }
            RestartableKind::RabbitMq { dir, server } => {
                let pid: u32 = env_value(dir, "BEAM_PID")
                    .parse()
                    .expect("BEAM_PID is a pid");
                sigkill(pid);
                let deadline = Instant::now() + RUN_TIMEOUT;
                while is_alive(pid) {
                    assert!(
                        Instant::now() < deadline,
                        "RabbitMQ ({pid}) outlived SIGKILL"
                    );
                    // Polling for the process to go, not a fixed wait.
                    std::thread::sleep(Duration::from_millis(20));
                }
                // The script ends with its VM.
                if let Some(mut server) = server.take() {
                    let deadline = Instant::now() + RUN_TIMEOUT;
                    while let Ok(None) = server.try_wait() {
                        if Instant::now() >= deadline {
                            let _ = server.kill();
                        }
                        // Polling for the script to end, not a fixed wait.
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
    }

    /// Makes sure the definitions declared so far are on disk before a kill. `spindle broker`
    /// fsyncs them before declare-ok, so there is nothing to do. RabbitMQ 3.10 answers
    /// declare-ok once Mnesia has logged them, but the log may still be buffered. A SIGKILL
    /// right after can lose the last declarations, as a loaded machine showed. Its own
    /// `mnesia:sync_log()` flushes the log and returns when the log is on disk.
    pub fn sync_definitions(&self) {
        if let RestartableKind::RabbitMq { dir, .. } = &self.kind {
            let status = std::process::Command::new("bash")
                .arg("-c")
                .arg(r#". "$1/env" && "${RABBIT_BIN:-/usr/lib/rabbitmq/bin}/rabbitmqctl" -n "$RABBITMQ_NODENAME" eval 'mnesia:sync_log().'"#)
                .arg("sync")
                .arg(dir)
                .stdout(Stdio::null())
                .status()
                .expect("rabbitmqctl runs");
            assert!(
                status.success(),
                "rabbitmqctl eval mnesia:sync_log() failed"
            );
        }
    }

    /// Starts the killed broker again on the same data; returns once it accepts connections
    /// (RabbitMQ opens its port only after recovering its queues).
    pub fn restart(&mut self) {
        match &mut self.kind {
            RestartableKind::Spindle {
                data_dir,
                extra_args,
                server,
                ..
            } => {
                assert!(server.is_none(), "spindle broker restarted while running");
                let (running, port) = start_spindle_in(data_dir, extra_args);
                *server = Some(running);
                self.uri = guest_uri(port);
            }
            RestartableKind::RabbitMq { dir, server } => *server = Some(restart_rabbitmq(dir)),
        }
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        match &mut self.kind {
            RestartableKind::Spindle {
                data_dir,
                own_dir,
                server,
                ..
            } => {
                drop(server.take());
                if *own_dir {
                    let _ = std::fs::remove_dir_all(data_dir);
                }
            }
            RestartableKind::RabbitMq { dir, server } => {
                let _ = std::process::Command::new(super::amqp::broker_script())
                    .arg("stop")
                    .arg(&*dir)
                    .output();
                if let Some(mut server) = server.take() {
                    let _ = server.kill();
                    let _ = server.wait();
                }
            }
        }
    }
}

fn start_spindle_in(data_dir: &Path, extra_args: &[String]) -> (Running, u16) {
    let mut args = vec!["--data-dir", data_dir.to_str().expect("a UTF-8 data dir")];
    args.extend(extra_args.iter().map(String::as_str));
    start_spindle_broker(&args)
}

fn sigkill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -KILL {pid} failed");
}

/// Whether any thread of process `pid` is still running. The main thread of a killed
/// multi-threaded process can be a zombie while the others still run down, holding its
/// sockets: the process has exited once all of them have.
fn is_alive(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            // The state follows the parenthesised command name.
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
        })
    })
}

/// The last value of `NAME=` in `scripts/rabbitmq`'s `env` file (later lines override earlier
/// ones when the file is sourced).
fn env_value(dir: &Path, name: &str) -> String {
    let env = std::fs::read_to_string(dir.join("env")).expect("the broker's env file");
    let prefix = format!("{name}=");
    env.lines()
        .rev()
        .find_map(|l| l.trim_start_matches("export ").strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in {}/env", dir.display()))
        .trim_matches('\'')
        .to_string()
}

/// Starts `rabbitmq-server` as `scripts/rabbitmq start` does but on the state `dir` already
/// holds (same node name, ports and Mnesia directory), after its VM was killed; its epmd lives
/// on. Notes the new pids in `env` for `scripts/rabbitmq stop` and the next kill, and returns
/// the server script's process (a child of this one, reaped at the next kill).
fn restart_rabbitmq(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("log/stdout.log"))
        .expect("open the broker's log");
    // setsid: in a session of its own like the first start, away from the test's signals.
    let mut server = std::process::Command::new("setsid")
        .arg("bash")
        .arg("-c")
        .arg(format!(
            ". '{}/env' && exec /usr/lib/rabbitmq/bin/rabbitmq-server",
            dir.display()
        ))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup the log"))
        .stderr(log)
        .spawn()
        .expect("start rabbitmq-server");
    let server_pid = server.id();
    let port: u16 = env_value(dir, "RABBITMQ_NODE_PORT")
        .parse()
        .expect("RABBITMQ_NODE_PORT is a port");
    let deadline = Instant::now() + Duration::from_secs(90);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.try_wait() {
            panic!(
                "rabbitmq-server exited during its restart ({status}); log:\n{}",
                std::fs::read_to_string(dir.join("log/stdout.log")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "restarted rabbitmq-server did not accept on {port} within 90 s"
        );
        // Polling for the port, not a fixed wait.
        std::thread::sleep(Duration::from_millis(100));
    }
    let beam = std::process::Command::new("pgrep")
        .args(["-P", &server_pid.to_string(), "beam.smp"])
        .output()
        .expect("run pgrep");
    let beam_pid = String::from_utf8_lossy(&beam.stdout).trim().to_string();
    assert!(
        !beam_pid.is_empty(),
        "no beam.smp under rabbitmq-server {server_pid}"
    );
    let mut env = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("env"))
        .expect("open the broker's env file");
    writeln!(env, "SERVER_PID={server_pid}\nBEAM_PID={beam_pid}").expect("write env");
    server
}
