//! XML-RPC against Python, both ways: the document's `ServerProxy` client (unchanged but for
//! its port, `tests/py/rpc/xmlrpc_client.py`) and further `xmlrpc.client` checks
//! (introspection, multicall, faults) against `spindle rpc`; and the HTTP rules of Python's
//! server (404, 501, faults for hostile bodies) checked over a socket.
//!
//! The tests that run Python are `#[ignore]`d: `scripts/test` exports
//! `SPINDLE_PYTHON=.venv/bin/python` and runs them with `--include-ignored`. By hand:
//!
//! ```text
//! SPINDLE_PYTHON=$PWD/.venv/bin/python cargo test --test rpc_xmlrpc -- --include-ignored
//! ```

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{py_script, python, run_client, spawn_and_read_port, spindle, Running};

/// `spindle rpc --port 0`, and the port it listens on.
fn spindle_rpc() -> (Running, u16) {
    let mut cmd = spindle();
    cmd.args(["rpc", "--port", "0"]);
    spawn_and_read_port("spindle rpc", cmd)
}

/// Runs a script of `tests/py/rpc/` with `RPC_PORT=port`; returns its stdout lines after
/// checking it succeeded.
fn run_py(script: &str, port: u16) -> Vec<String> {
    let mut cmd = python();
    cmd.arg(py_script(&format!("rpc/{script}")))
        .env("RPC_PORT", port.to_string());
    let done = run_client(script, cmd);
    assert!(
        done.status.success(),
        "{script} failed ({:?}); stdout: {:?}; stderr:\n{}",
        done.status,
        done.lines,
        done.stderr
    );
    done.lines
}

#[test]
#[ignore = "needs SPINDLE_PYTHON (run by scripts/test)"]
fn the_documents_client_runs_unchanged_against_spindle_rpc() {
    let (_server, port) = spindle_rpc();
    let lines = run_py("xmlrpc_client.py", port);
    assert_eq!(lines.first().map(String::as_str), Some("xmlrpc client"));
    let expected: String = format!(
        "{{{}}}",
        (0..100)
            .map(|i| format!("'server:{i}': {i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let objects = lines.iter().filter(|l| **l == expected).count();
    assert_eq!(
        objects, 50,
        "getObj x50 printed the struct 50 times: {lines:?}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("xmlrpc total time ")),
        "{lines:?}"
    );
}

#[test]
#[ignore = "needs SPINDLE_PYTHON (run by scripts/test)"]
fn python_introspection_multicall_and_faults() {
    let (_server, port) = spindle_rpc();
    let lines = run_py("xmlrpc_checks.py", port);
    assert_eq!(lines.last().map(String::as_str), Some("ok"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "multicall ok"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "fault 1 <class 'Exception'>:method \"nope\" is not supported"),
        "{lines:?}"
    );
}

/// Sends `request` on a new connection and reads the response until the server closes.
fn raw(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn post(port: u16, path: &str, body: &[u8]) -> String {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(port, &req)
}

#[test]
fn paths_and_methods_answer_as_pythons_server() {
    let (_server, port) = spindle_rpc();
    let call = b"<?xml version='1.0'?><methodCall><methodName>fib</methodName>\
                 <params><param><value><int>10</int></value></param></params></methodCall>";
    for path in ["/", "/RPC2"] {
        let r = post(port, path, call);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/xml\r\n"), "{r}");
        assert!(r.contains("<int>55</int>"), "{r}");
    }
    let r = post(port, "/elsewhere", call);
    assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
    assert!(r.ends_with("No such page"), "{r}");
    let r = raw(
        port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 501 "), "{r}");
}

#[test]
fn hostile_bodies_get_faults_and_the_server_stays_up() {
    let (mut server, port) = spindle_rpc();
    let mut deep = b"<methodCall><methodName>sendObj</methodName><params><param>".to_vec();
    for _ in 0..100_000 {
        deep.extend_from_slice(b"<value><struct><member><name>a</name>");
    }
    let bodies: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "<int>-32"),
        ("not xml", b"\x00\x01garbage".to_vec(), "<int>-32"),
        (
            "truncated",
            b"<methodCall><methodName>fib".to_vec(),
            "<int>-32",
        ),
        (
            "entity expansion",
            b"<?xml version='1.0'?><!DOCTYPE l [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]>\
              <methodCall><methodName>&b;</methodName></methodCall>"
                .to_vec(),
            "<int>-32700</int>",
        ),
        ("deep", deep, "<int>-32"),
        (
            "response",
            b"<methodResponse/>".to_vec(),
            "<int>-32600</int>",
        ),
        (
            "bad int",
            b"<methodCall><methodName>fib</methodName><params><param><value><int>1x</int>\
              </value></param></params></methodCall>"
                .to_vec(),
            "<int>-32600</int>",
        ),
    ];
    for (what, body, code) in bodies {
        let r = post(port, "/RPC2", &body);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{what}: {r}");
        assert!(r.contains("<fault>") && r.contains(code), "{what}: {r}");
    }
    // Still serving.
    let r = post(
        port,
        "/",
        b"<methodCall><methodName>getObj</methodName></methodCall>",
    );
    assert!(r.contains("<name>server:99</name>"), "{r}");
    assert!(server.stderr().is_empty() || !server.stderr().contains("panicked"));
    let _ = server.terminate();
}
