//! `spindle broker` for the tests that run RabbitMQ's own clients against it (pika, in
//! `tests/broker_pika.rs`): start one on a free port, name its AMQP URL.
//!
//! `SPINDLE_BROKER_URI` in the environment points the tests at another broker instead, so the
//! same tests can be checked against RabbitMQ:
//!
//! - `SPINDLE_BROKER_URI=amqp://guest:guest@127.0.0.1:PORT/%2F` uses a running broker (for
//!   instance one from `scripts/rabbitmq start DIR`; with `SPINDLE_BROKER_RABBITMQ_DIR=DIR`
//!   the tests that load a definitions file import it with `rabbitmqctl import_definitions`);
//! - `SPINDLE_BROKER_URI=rabbitmq` starts a private RabbitMQ for the test process
//!   (`scripts/rabbitmq`, stopped when the process exits) and knows its DIR.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::amqp::start_broker;
use super::{spawn_and_read_port, spindle, Running};

/// Starts `spindle broker --port 0 EXTRA_ARGS...` and returns it with the port it printed in
/// its `broker listening on 127.0.0.1:PORT` line. Unless `EXTRA_ARGS` name a `--data-dir`, the
/// broker gets a fresh one of its own, removed when it stops.
pub fn start_spindle_broker(extra_args: &[&str]) -> (Running, u16) {
    let mut cmd = spindle();
    cmd.args(["broker", "--port", "0"]).args(extra_args);
    let own_dir = (!extra_args.contains(&"--data-dir")).then(fresh_data_dir);
    if let Some(dir) = &own_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    let (mut running, port) = spawn_and_read_port("spindle broker", cmd);
    if let Some(dir) = own_dir {
        running.remove_on_drop(dir);
    }
    (running, port)
}

/// A data directory no other broker of any test process uses.
pub fn fresh_data_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("spindle-broker-data-{}-{n}", std::process::id()))
}

/// The URL a client uses to reach the broker on `port` as guest, in the default vhost (the form
/// `pika.URLParameters` takes).
pub fn amqp_url(port: u16) -> String {
    format!("amqp://guest:guest@127.0.0.1:{port}/%2F")
}

/// The broker a test talks to: a `spindle broker` of its own (stopped when this drops), or the
/// one `SPINDLE_BROKER_URI` names.
pub struct TestBroker {
    /// The guest URL for `pika.URLParameters` (`AMQP_URL` in the tutorial scripts).
    pub url: String,
    /// The `spindle broker` process, when the test started one.
    pub server: Option<Running>,
    /// The `scripts/rabbitmq` state directory, when the broker is such a RabbitMQ and it is known.
    pub rabbitmq_dir: Option<PathBuf>,
}

impl TestBroker {
    /// Whether the tests run against RabbitMQ (or another broker) rather than `spindle broker`.
    pub fn is_external(&self) -> bool {
        self.server.is_none()
    }
}

/// The broker for one test: `spindle broker --port 0 EXTRA_ARGS...`, or the one named by
/// `SPINDLE_BROKER_URI` (then `extra_args` are not used: the caller arranges the equivalent,
/// see [`import_definitions`]).
pub fn test_broker(extra_args: &[&str]) -> TestBroker {
    match std::env::var("SPINDLE_BROKER_URI") {
        Ok(uri) if uri == "rabbitmq" => {
            let (url, dir) = private_rabbitmq();
            TestBroker {
                url,
                server: None,
                rabbitmq_dir: Some(dir),
            }
        }
        Ok(uri) => TestBroker {
            url: uri,
            server: None,
            rabbitmq_dir: std::env::var_os("SPINDLE_BROKER_RABBITMQ_DIR").map(PathBuf::from),
        },
        Err(_) => {
            let (server, port) = start_spindle_broker(extra_args);
            TestBroker {
                url: amqp_url(port),
                server: Some(server),
                rabbitmq_dir: None,
            }
        }
    }
}

/// One private RabbitMQ for the whole test process: its guest URL and state directory.
fn private_rabbitmq() -> (String, PathBuf) {
    static BROKER: OnceLock<(String, PathBuf)> = OnceLock::new();
    BROKER
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!(
                "spindle-broker-pika-rabbitmq-{}",
                std::process::id()
            ));
            let port = start_broker(&dir);
            (amqp_url(port), dir)
        })
        .clone()
}

/// Loads a definitions file into the RabbitMQ kept in `dir` by `scripts/rabbitmq`
/// (`rabbitmqctl import_definitions`), and waits until its users exist (the import finishes
/// after rabbitmqctl returns).
pub fn import_definitions(dir: &Path, file: &Path, users: &[&str]) {
    let ctl = |args: &str| {
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!(
                ". '{}/env' && /usr/lib/rabbitmq/bin/rabbitmqctl -q -n \"$RABBITMQ_NODENAME\" {args}",
                dir.display()
            ))
            .output()
            .expect("run rabbitmqctl");
        assert!(
            output.status.success(),
            "rabbitmqctl {args} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    ctl(&format!("import_definitions '{}'", file.display()));
    let deadline = Instant::now() + super::RUN_TIMEOUT;
    loop {
        let listed = ctl("list_users");
        let names: Vec<&str> = listed
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .collect();
        if users.iter().all(|user| names.contains(user)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "users {users:?} not imported within {:?}: {listed}",
            super::RUN_TIMEOUT
        );
        // Polling for the import to finish, not a fixed wait.
        std::thread::sleep(Duration::from_millis(50));
    }
}
