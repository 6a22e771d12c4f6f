//! Celery with `spindle kv` as both its broker (`broker_url='redis://…'`, kombu's Redis
//! transport: task lists popped with BRPOP, unacked messages kept in a sorted set and a
//! hash, MULTI/EXEC pipelines) and its result backend (results stored with SETEX and
//! announced on pub/sub channels). A worker (`celery -A tasks worker --pool=solo`) and a
//! client (`tests/py/celery_redis/`) run as separate processes; the client's printed results
//! are asserted: a task's result, an exception propagated, a retried task, a group of tasks.
//!
//! They need Celery in the venv (`SPINDLE_PYTHON`, set by scripts/test), so they are
//! `#[ignore]`d:
//!
//! ```text
//! SPINDLE_PYTHON=$PWD/.venv/bin/python cargo test --test kv_celery_redis -- --include-ignored
//! ```
//!
//! `SPINDLE_KV_URI=redis` runs the same test against a private redis-server instead, which is
//! how its expectations were checked.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Instant;

use common::kv::{spindle_kv_with, RedisServer};
use common::{py_script, python, run_client, Running, START_TIMEOUT};

/// What the worker prints on stdout once it consumes.
const WORKER_READY: &str = "worker ready";

/// The `celery` program of the venv that `SPINDLE_PYTHON` belongs to.
fn celery() -> Command {
    let python = PathBuf::from(python().get_program());
    let celery = python
        .parent()
        .map(|bin| bin.join("celery"))
        .filter(|celery| celery.exists())
        .unwrap_or_else(|| panic!("no celery next to {} (SPINDLE_PYTHON)", python.display()));
    Command::new(celery)
}

/// A command run in the app's directory with the server's URL.
fn in_app(mut cmd: Command, url: &str) -> Command {
    cmd.current_dir(py_script("celery_redis"))
        .env("REDIS_URL", url)
        .env("CELERY_QUEUE", "kvtest")
        .env("PYTHONUNBUFFERED", "1");
    cmd
}

/// The server the test runs against: spindle kv, or redis-server with `SPINDLE_KV_URI=redis`
/// (held only so that it is stopped when the test ends).
enum Server {
    Spindle(#[allow(dead_code)] Running),
    Redis(#[allow(dead_code)] RedisServer),
}

#[test]
#[ignore = "needs celery (SPINDLE_PYTHON): run by scripts/test"]
fn celery_runs_tasks_through_spindle_kv_as_broker_and_backend() {
    let (_server, port) = if std::env::var("SPINDLE_KV_URI").as_deref() == Ok("redis") {
        let redis = RedisServer::start().expect("redis-server installed");
        let port = redis.port;
        (Server::Redis(redis), port)
    } else {
        let (running, port) = spindle_kv_with(&[]);
        (Server::Spindle(running), port)
    };
    let url = format!("redis://127.0.0.1:{port}/0");

    let mut cmd = celery();
    cmd.args([
        "-A",
        "tasks",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "-l",
        "info",
        "-n",
        "kvtest@spindle-test",
    ]);
    let (mut worker, lines) = Running::spawn("celery worker", in_app(cmd, &url));
    let deadline = Instant::now() + START_TIMEOUT;
    let mut banner = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line == WORKER_READY => break,
            Ok(line) => banner.push(line),
            Err(RecvTimeoutError::Timeout) => panic!(
                "the worker was not ready; stdout {banner:?}; log:\n{}",
                worker.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "the worker exited; stdout {banner:?}; log:\n{}",
                worker.full_stderr()
            ),
        }
    }

    let mut client = python();
    client.arg("client.py");
    let finished = run_client("client.py", in_app(client, &url));
    assert!(
        finished.status.success(),
        "client.py failed ({}): stdout {:?}, stderr:\n{}\nworker log:\n{}",
        finished.status,
        finished.lines,
        finished.stderr,
        worker.stderr()
    );
    assert_eq!(
        finished.lines,
        [
            "add(2, 3) = 5",
            "fails() raised ValueError: fails always fails",
            "flaky(2) = flaky(2) succeeded on attempt 2",
            "sum of 10 adds = 90",
        ]
    );
    let log = worker.stderr();
    for line in [
        "succeeded in",
        "raised unexpected: ValueError('fails always fails')",
        "retry: Retry in 0.1s",
    ] {
        assert!(log.contains(line), "the worker logged no {line:?}:\n{log}");
    }
    let status = worker.terminate();
    let log = worker.full_stderr();
    assert!(status.success(), "worker exited {status}; log:\n{log}");
}
