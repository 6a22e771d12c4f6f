//! Celery against `spindle broker`: a worker (`celery -A tasks worker --pool=solo`) and a client
//! (`tests/py/celery_app/`), separate processes as Celery's users run them, with the results
//! the client prints asserted. Celery exercises what the pika tutorials do not: queues and
//! exchanges declared with arguments (its pidbox and reply queues carry `x-message-ttl` and
//! `x-expires`), the `rpc://` result backend (a reply queue per client, `reply_to` and
//! `correlation_id`), the worker's mingle broadcast and remote control (`celery inspect`) over
//! fanout exchanges, heartbeats, `basic.qos` raised for a retried task's countdown, consumes
//! with manual acks, and a late-acked task requeued when its worker's connection drops.
//!
//! They need Celery in the venv (`SPINDLE_PYTHON`, set by scripts/test), so they are
//! `#[ignore]`d:
//!
//! ```text
//! SPINDLE_PYTHON=$PWD/.venv/bin/python cargo test --test broker_celery -- --include-ignored
//! ```
//!
//! `SPINDLE_BROKER_URI=rabbitmq` runs the same tests against a private RabbitMQ instead (see
//! `common::broker`), which is how their expectations were checked.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use common::amqp::queue;
use common::broker::{test_broker, TestBroker};
use common::{py_script, python, run_client, Running, RUN_TIMEOUT, START_TIMEOUT};

/// What the worker prints on stdout once it consumes (tasks.py's `worker_ready` handler).
const WORKER_READY: &str = "worker ready";

/// `tests/py/celery_app`, where `-A tasks` finds the app.
fn app_dir() -> PathBuf {
    py_script("celery_app")
}

/// A command run in the app's directory with the broker's URL and the test's own task queue.
fn in_app(mut cmd: Command, broker: &TestBroker, task_queue: &str) -> Command {
    cmd.current_dir(app_dir())
        .env("AMQP_URL", &broker.url)
        .env("CELERY_QUEUE", task_queue)
        .env("PYTHONUNBUFFERED", "1");
    cmd
}

/// The `celery` program of the venv that `SPINDLE_PYTHON` belongs to.
fn celery() -> Command {
    let python = PathBuf::from(python().get_program());
    let celery = python
        .parent()
        .map(|bin| bin.join("celery"))
        .filter(|celery| celery.exists())
        .unwrap_or_else(|| {
            panic!(
                "no celery next to {} (SPINDLE_PYTHON): run scripts/venv",
                python.display()
            )
        });
    Command::new(celery)
}

/// The node name of the worker serving `task_queue`.
fn node(task_queue: &str) -> String {
    format!("{task_queue}@spindle-test")
}

/// A Celery worker serving `task_queue`, stopped (killed) when dropped.
struct Worker {
    running: Running,
    /// What it printed on stdout before it was ready (Celery's banner).
    banner: Vec<String>,
}

impl Worker {
    /// Starts `celery -A tasks worker --pool=solo --concurrency=1 -l info` and waits until it
    /// is ready (it has declared its queues and consumes).
    fn start(broker: &TestBroker, task_queue: &str) -> Worker {
        let mut cmd = celery();
        cmd.args([
            "-A",
            "tasks",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "-l",
            "info",
            // A node name of its own: tests sharing a broker do not share a pidbox.
            "-n",
            &node(task_queue),
        ]);
        let name = format!("celery worker for {task_queue}");
        let (running, lines) = Running::spawn(&name, in_app(cmd, broker, task_queue));
        let mut banner = Vec::new();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line == WORKER_READY => break,
                Ok(line) => banner.push(line),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{name} was not ready within {START_TIMEOUT:?}; stdout {banner:?}; log:\n{}",
                    running.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let mut running = running;
                    panic!(
                        "{name} exited before it was ready; stdout {banner:?}; log:\n{}",
                        running.full_stderr()
                    )
                }
            }
        }
        Worker { running, banner }
    }

    /// The worker's log so far (Celery logs to stderr).
    fn log(&self) -> String {
        self.running.stderr()
    }
}

/// Runs `tests/py/celery_app/SCRIPT` to completion and returns what it printed.
fn run_app_script(
    broker: &TestBroker,
    task_queue: &str,
    script: &str,
    worker: &Worker,
) -> Vec<String> {
    let mut cmd = python();
    cmd.arg(script);
    let finished = run_client(script, in_app(cmd, broker, task_queue));
    assert!(
        finished.status.success(),
        "{script} failed ({}): stdout {:?}, stderr:\n{}\nworker log:\n{}",
        finished.status,
        finished.lines,
        finished.stderr,
        worker.log()
    );
    finished.lines
}

#[test]
#[ignore = "needs celery (SPINDLE_PYTHON): run by scripts/test"]
fn a_worker_runs_a_task_reports_its_exception_and_retries_another() {
    let broker = test_broker(&[]);
    let task_queue = queue("celery");
    let mut worker = Worker::start(&broker, &task_queue);
    assert!(
        worker
            .banner
            .iter()
            .any(|line| line.contains(&format!(".> {task_queue}"))),
        "the banner names the queue: {:?}",
        worker.banner
    );

    assert_eq!(
        run_app_script(&broker, &task_queue, "client.py", &worker),
        [
            "add(2, 3) = 5",
            "fails() raised ValueError: fails always fails",
            "flaky(2) = flaky(2) succeeded on attempt 2",
        ]
    );
    let log = worker.log();
    for line in [
        "succeeded in",
        "raised unexpected: ValueError('fails always fails')",
        "retry: Retry in 0.1s",
    ] {
        assert!(log.contains(line), "the worker logged no {line:?}:\n{log}");
    }

    // Remote control: a broadcast on the celery.pidbox fanout exchange, answered through a
    // reply queue declared with x-expires and x-message-ttl.
    let mut ping = celery();
    ping.args(["-A", "tasks", "inspect", "ping", "-d", &node(&task_queue)]);
    let pinged = run_client("celery inspect ping", in_app(ping, &broker, &task_queue));
    assert!(pinged.status.success(), "{pinged:?}");
    assert_eq!(
        pinged.lines,
        [
            format!("->  {}: OK", node(&task_queue)),
            "        pong".to_string(),
            String::new(),
            "1 node online.".to_string(),
        ]
    );

    // A warm shutdown (SIGTERM) closes the connection cleanly and exits 0.
    let status = worker.running.terminate();
    let log = worker.running.full_stderr();
    assert!(status.success(), "worker exited {status}; log:\n{log}");
}

#[test]
#[ignore = "needs celery (SPINDLE_PYTHON): run by scripts/test"]
fn a_late_acked_task_whose_worker_is_killed_goes_to_the_next_worker_redelivered() {
    let broker = test_broker(&[]);
    let task_queue = queue("celery-redelivery");
    let mut first = Worker::start(&broker, &task_queue);
    let mut cmd = python();
    cmd.arg("redelivery_client.py");
    let (mut client, client_lines) =
        Running::spawn("redelivery_client.py", in_app(cmd, &broker, &task_queue));

    // The first worker takes the task and sleeps in it, unacknowledged (acks_late).
    let deadline = Instant::now() + RUN_TIMEOUT;
    while !first.log().contains("Task tasks.slow[") {
        assert!(
            Instant::now() < deadline,
            "the first worker received no task within {RUN_TIMEOUT:?}; log:\n{}",
            first.log()
        );
        // Polling the worker's log, not a fixed wait.
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-KILL", &first.running.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    assert!(first.running.wait_for_exit(RUN_TIMEOUT).is_some());

    // Its connection is gone, so the broker requeues the task for the next worker.
    let second = Worker::start(&broker, &task_queue);
    let Some(status) = client.wait_for_exit(RUN_TIMEOUT) else {
        panic!(
            "the client got no result within {RUN_TIMEOUT:?}; second worker's log:\n{}",
            second.log()
        );
    };
    let lines: Vec<String> = client_lines.iter().collect();
    assert!(
        status.success(),
        "client failed ({status}): {lines:?}; stderr:\n{}\nsecond worker's log:\n{}",
        client.full_stderr(),
        second.log()
    );
    assert_eq!(lines, ["slow() sent", "slow() finished after a redelivery"]);
}
