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

mod common;

use std::net::TcpListener;

use common::*;

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
