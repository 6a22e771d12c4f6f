//! `spindle --trace`: every reactor event of a connection as one short line on stderr.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{spawn_and_read_port, spindle, Running, RUN_TIMEOUT};

/// Waits until the server's stderr holds every one of `needles`, or panics with what it has.
fn wait_for_trace(server: &Running, needles: &[&str]) {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let err = server.stderr();
        if needles.iter().all(|n| err.contains(n)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "trace lacks one of {needles:?}; stderr:\n{err}"
        );
        // Polling for the condition (the lines have arrived), not a fixed wait.
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn trace_narrates_accept_read_write_flush_and_close() {
    let mut cmd = spindle();
    cmd.args(["--trace", "echo", "--port", "0"]);
    let (mut server, port) = spawn_and_read_port("spindle --trace echo", cmd);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(RUN_TIMEOUT)).unwrap();
    let local = c.local_addr().unwrap();
    c.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    drop(c);
    let tag = format!("{local}]");
    wait_for_trace(
        &server,
        &[
            &format!("[{local}] accepted"),
            &format!("{tag} readable → data_received 5 B"),
            &format!("{tag} write queued 5 B"),
            &format!("{tag} flushed 5 B (1 syscall)"),
            &format!("{tag} readable → end of stream"),
            &format!("{tag} closed: connection closed cleanly"),
        ],
    );
    assert!(server.terminate().success());
}

#[test]
fn without_trace_the_loop_is_silent() {
    let mut cmd = spindle();
    cmd.args(["echo", "--port", "0"]);
    let (mut server, port) = spawn_and_read_port("spindle echo", cmd);
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(RUN_TIMEOUT)).unwrap();
    c.write_all(b"quiet").unwrap();
    let mut buf = [0u8; 5];
    c.read_exact(&mut buf).unwrap();
    drop(c);
    assert!(server.terminate().success());
    let err = server.full_stderr();
    assert!(!err.contains("data_received"), "{err}");
    assert!(err.contains("listening on"), "{err}");
}
