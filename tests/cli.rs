//! The `spindle` command line as a user meets it: `spindle` alone starts every bundled app,
//! each command has its own `--help`, and errors name what is wrong.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::Receiver;
use std::time::Instant;

use common::{run_client, spindle, Running, RUN_TIMEOUT, START_TIMEOUT};

/// Reads stdout lines until one starting with `prefix` (after trimming) arrives.
fn line_starting(lines: &Receiver<String>, prefix: &str) -> String {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.trim_start().starts_with(prefix) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line starting with {prefix:?}: {e}"),
        }
    }
}

fn round_trip(port: u16, request: &[u8], reply_len: usize) -> Vec<u8> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(RUN_TIMEOUT)).unwrap();
    c.write_all(request).unwrap();
    let mut reply = vec![0; reply_len];
    c.read_exact(&mut reply).unwrap();
    reply
}

/// True if nothing listens on `port` now (checked by binding it for a moment).
fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `spindle` with no arguments serves echo on 8888 and kv on 6379; when one port is taken, that
/// app is reported by name and the other still starts. Both runs share one test so they do not
/// race for the fixed default ports.
#[test]
fn spindle_alone_starts_every_app_and_names_one_whose_port_is_taken() {
    // Round 1: hold the echo port; kv must still start (if 6379 is free on this machine).
    let kv_free = port_free(6379);
    let held = TcpListener::bind(("127.0.0.1", 8888)).ok();
    let (mut all, lines) = Running::spawn("spindle", spindle());
    line_starting(&lines, "spindle ");
    let echo = line_starting(&lines, "echo ");
    assert!(echo.contains("echo  not started:"), "{echo}");
    assert!(echo.contains("127.0.0.1:8888"), "{echo}");
    if kv_free {
        let kv = line_starting(&lines, "kv ");
        assert!(kv.contains("kv    tcp 127.0.0.1:6379"), "{kv}");
        let ping = b"*1\r\n$4\r\nPING\r\n";
        assert_eq!(round_trip(6379, ping, 7), b"+PONG\r\n");
        assert!(all.terminate().success());
    } else {
        let kv = line_starting(&lines, "kv ");
        assert!(kv.contains("kv    not started:"), "{kv}");
        let status = all
            .wait_for_exit(RUN_TIMEOUT)
            .expect("exits when no app starts");
        assert_eq!(status.code(), Some(1));
    }
    drop(held);

    // Round 2: the echo port free again: echo starts and answers.
    if port_free(8888) {
        let (mut all, lines) = Running::spawn("spindle", spindle());
        let echo = line_starting(&lines, "echo ");
        assert!(echo.contains("echo  tcp 127.0.0.1:8888"), "{echo}");
        assert_eq!(round_trip(8888, b"hello boy!", 10), b"hello boy!");
        assert!(all.terminate().success());
    }
}

#[test]
fn each_command_prints_its_own_help() {
    let mut cmd = spindle();
    cmd.args(["kv", "--help"]);
    let kv = run_client("spindle kv --help", cmd);
    let kv_out = kv.lines.join("\n");
    assert!(kv.status.success());
    assert!(kv_out.contains("Usage: spindle kv"), "{}", kv_out);
    assert!(kv_out.contains("--requirepass"), "{}", kv_out);
    assert!(kv_out.contains("--databases"), "{}", kv_out);
    assert!(!kv_out.contains("echo-client"), "{}", kv_out);

    let mut cmd = spindle();
    cmd.args(["echo", "--help"]);
    let echo = run_client("spindle echo --help", cmd);
    let echo_out = echo.lines.join("\n");
    assert!(echo.status.success());
    assert!(echo_out.contains("--threads"), "{}", echo_out);
    assert!(!echo_out.contains("--requirepass"), "{}", echo_out);

    let mut cmd = spindle();
    cmd.arg("amqp");
    let amqp = run_client("spindle amqp", cmd);
    assert_eq!(amqp.status.code(), Some(2));
    assert!(amqp.stderr.contains("publish"), "{}", amqp.stderr);
    assert!(amqp.stderr.contains("declare-queue"), "{}", amqp.stderr);
    assert!(
        !amqp.stderr.contains("echo-client"),
        "only amqp's subcommands, not the global usage again: {}",
        amqp.stderr
    );
}

#[test]
fn bad_values_are_named_with_the_reason() {
    // The store's directives: redis-server's own report, exit status 1 as redis-server's.
    for (args, wanted) in [
        (
            &["kv", "--port", "abc"][..],
            "argument couldn't be parsed into an integer",
        ),
        (&["kv", "--port", "99999"], "argument must be between"),
        (&["kv", "--databases", "-1"], "argument must be between"),
        (
            &["kv", "--frobnicate", "1"],
            "Bad directive or wrong number of arguments",
        ),
    ] {
        let mut cmd = spindle();
        cmd.args(args);
        let out = run_client("spindle kv with a bad value", cmd);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("*** FATAL CONFIG FILE ERROR"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(wanted), "{args:?}: {}", out.stderr);
        let named = format!(">>> '{} \"{}\"'", args[1].trim_start_matches('-'), args[2]);
        assert!(
            out.stderr.contains(&named) || args[1] == "--frobnicate",
            "names the directive and the value ({named}): {}",
            out.stderr
        );
    }
    // The command line's own flags: clap's error, exit status 2.
    let mut cmd = spindle();
    cmd.args(["echo", "--prot", "1"]);
    let out = run_client("spindle echo with a typo", cmd);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("unexpected argument '--prot'"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("similar argument exists: '--port'"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_refused_connection_names_the_address() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cmd = spindle();
    cmd.args(["echo-client", "--port", &port.to_string()]);
    let out = run_client("spindle echo-client", cmd);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.lines, ["Connection failed - goodbye!"]);
    let wanted = format!("cannot connect to 127.0.0.1:{port}: connection refused");
    assert!(out.stderr.contains(&wanted), "{}", out.stderr);
    assert!(
        out.stderr.contains("spindle echo"),
        "says how to start one: {}",
        out.stderr
    );
}
