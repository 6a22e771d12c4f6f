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

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{example, py_script, python, run_client, spawn_and_read_port, spindle, Running};
use spindle_protocols::value::Value;
use spindle_reactor::{gather, Reactor, Step};
use spindle_rpc::{block_on, BlockingXmlRpcClient, Fault, RpcError, XmlRpcClient};

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

/// The document's server (`tests/py/rpc/xmlrpc_server.py`, with `echo` and `received` beside
/// it) on a free port, and its URL.
fn python_server() -> (Running, String) {
    let mut cmd = python();
    cmd.arg(py_script("rpc/xmlrpc_server.py"))
        .env("RPC_PORT", "0");
    let (server, port) = spawn_and_read_port("xmlrpc_server.py", cmd);
    (server, format!("http://127.0.0.1:{port}"))
}

/// A value of every type, nested: what Python's server must give back unchanged.
fn every_type() -> Vec<Value> {
    vec![
        Value::Nil,
        Value::Bool(true),
        Value::Bool(false),
        Value::Int(0),
        Value::Int(-2_147_483_648),
        Value::Int(2_147_483_647),
        Value::Double(2.5),
        Value::Double(-0.0),
        Value::Double(1e300),
        Value::from(""),
        Value::from("plain"),
        Value::from("<&> \"quotes\" 'apostrophes' ünïcödé 中文 🚀"),
        Value::from("tab\tnewline\nend"),
        Value::from(vec![0u8, 1, 2, 255]),
        Value::from(Vec::<u8>::new()),
        Value::DateTime("20260102T03:04:05".parse().unwrap()),
        Value::Array(vec![]),
        Value::Struct(vec![].into()),
        Value::Array(vec![Value::Int(1), Value::from("two"), Value::Nil]),
        Value::from_members([
            ("z", Value::Int(1)),
            (
                "a",
                Value::Array(vec![Value::from_members([("deep", Value::Nil)])]),
            ),
            ("m", Value::Double(0.5)),
        ]),
    ]
}

#[test]
#[ignore = "needs SPINDLE_PYTHON (run by scripts/test)"]
fn our_client_against_the_documents_python_server() {
    let (_server, url) = python_server();
    let mut client = BlockingXmlRpcClient::connect(&url).unwrap();

    let obj = client.call("getObj", vec![]).unwrap();
    let Value::Struct(members) = &obj else {
        panic!("getObj gave {obj:?}")
    };
    assert_eq!(members.len(), 100);
    for (i, (k, v)) in members.iter().enumerate() {
        assert_eq!(
            (k.as_str(), v),
            (format!("server:{i}").as_str(), &Value::Int(i as i64))
        );
    }
    let data = Value::from_members((0..100).map(|i| (format!("client:{i}"), i)));
    assert_eq!(client.call("sendObj", vec![data.clone()]), Ok(Value::Nil));
    assert_eq!(client.call("received", vec![]), Ok(data));

    for v in every_type() {
        assert_eq!(
            client.call("echo", vec![v.clone()]),
            Ok(v.clone()),
            "echo {v:?}"
        );
        assert_eq!(client.call("sendObj", vec![v.clone()]), Ok(Value::Nil));
        assert_eq!(
            client.call("received", vec![]),
            Ok(v.clone()),
            "sendObj {v:?}"
        );
    }
    let all = Value::Array(every_type());
    assert_eq!(client.call("echo", vec![all.clone()]), Ok(all));
    match client.call("echo", vec![Value::Double(f64::NAN)]) {
        Ok(Value::Double(x)) => assert!(x.is_nan()),
        other => panic!("{other:?}"),
    }

    // Python's own faults, as Python words them.
    let err = client.call("nope", vec![]).unwrap_err();
    assert_eq!(
        err.fault(),
        Some(&Fault::new(
            1,
            "<class 'Exception'>:method \"nope\" is not supported"
        ))
    );
    let err = client.call("echo", vec![Value::Int(1 << 40)]).unwrap_err();
    assert_eq!(err.fault().map(|f| f.fault_code), Some(1), "{err:?}");
    assert!(format!("{err}").contains("OverflowError"), "{err}");

    // Introspection and multicall of Python's server.
    let methods = client.call("system.listMethods", vec![]).unwrap();
    assert!(methods.as_array().unwrap().contains(&Value::from("getObj")));
    let calls = Value::Array(vec![
        Value::from_members([
            ("methodName", Value::from("echo")),
            ("params", Value::Array(vec![Value::Int(7)])),
        ]),
        Value::from_members([
            ("methodName", Value::from("nope")),
            ("params", Value::Array(vec![])),
        ]),
    ]);
    let results = client.call("system.multicall", vec![calls]).unwrap();
    let results = results.as_array().unwrap();
    assert_eq!(results[0], Value::Array(vec![Value::Int(7)]));
    assert_eq!(results[1].get("faultCode"), Some(&Value::Int(1)));

    // Python's server answers HTTP/1.0 and closes: calls made together still all get their
    // answers (the client learns it, and opens a connection per call).
    let results = client.call_many((0..50).map(|i| ("echo", vec![Value::Int(i)])).collect());
    let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(results, (0..50).map(Value::Int).collect::<Vec<_>>());
}

#[test]
fn our_client_pipelines_a_thousand_calls_on_one_connection() {
    let (_server, port) = spindle_rpc();
    let mut reactor = Reactor::new().unwrap();
    let client =
        XmlRpcClient::connect(&mut reactor, &format!("http://127.0.0.1:{port}/RPC2")).unwrap();
    let calls: Vec<_> = (0..1000)
        .map(|i| client.call(&mut reactor, "fib", vec![Value::Int(i % 90)]))
        .collect();
    let all = gather(calls, false);
    type Results = Vec<Result<Value, RpcError>>;
    let out: Rc<RefCell<Option<Results>>> = Rc::default();
    let put = out.clone();
    let _ = all.then(move |r| {
        *put.borrow_mut() = r.ok();
        Step::<(), RpcError>::Ok(())
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.borrow().is_none() && Instant::now() < deadline {
        reactor.run_once(Some(Duration::from_millis(50))).unwrap();
    }
    let results = out.borrow_mut().take().expect("all answered in time");
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r, Ok(Value::Int(spindle_rpc::fib(i as i64 % 90).unwrap())));
    }
    assert_eq!(client.waiting(), 0);

    // Cancelled: the deferred fails at once; closed: later calls fail at once.
    let d = client.call(&mut reactor, "getObj", vec![]);
    d.cancel();
    assert_eq!(
        block_on(&mut reactor, d, Duration::from_secs(5)),
        Err(RpcError::Cancelled)
    );
    client.close(&mut reactor);
    let d = client.call(&mut reactor, "getObj", vec![]);
    assert!(matches!(
        block_on(&mut reactor, d, Duration::from_secs(5)),
        Err(RpcError::Transport(_))
    ));
}

#[test]
fn timeouts_and_connection_errors_reach_the_errback() {
    // A server that accepts, reads, and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let (mut s, _) = silent.accept().unwrap();
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let mut client = BlockingXmlRpcClient::connect(&format!("http://127.0.0.1:{port}")).unwrap();
    client.timeout = Duration::from_millis(200);
    let started = Instant::now();
    assert_eq!(client.call("getObj", vec![]), Err(RpcError::TimedOut));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(client);
    let _ = holder.join();

    // Nobody listening.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut client = BlockingXmlRpcClient::connect(&format!("http://127.0.0.1:{port}")).unwrap();
    match client.call("getObj", vec![]) {
        Err(RpcError::Transport(e)) => assert!(e.contains("connect"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A 404 is an HTTP error, a fault is a fault.
    let (_server, port) = spindle_rpc();
    let mut client =
        BlockingXmlRpcClient::connect(&format!("http://127.0.0.1:{port}/nowhere")).unwrap();
    assert!(matches!(
        client.call("getObj", vec![]),
        Err(RpcError::Http { status: 404, .. })
    ));
    let mut client = BlockingXmlRpcClient::connect(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = client.call("fib", vec![Value::from("x")]).unwrap_err();
    assert_eq!(
        err,
        RpcError::Fault(Fault::new(
            1,
            "<class 'TypeError'>:fib() argument 1 must be int, not str"
        ))
    );
}

#[test]
fn spindle_rpc_call_prints_json() {
    let (_server, port) = spindle_rpc();
    let url = format!("http://127.0.0.1:{port}");
    let run = |args: &[&str]| {
        let mut cmd = spindle();
        cmd.args(["rpc", "call", &url]).args(args);
        run_client("spindle rpc call", cmd)
    };
    let done = run(&["fib", "30"]);
    assert!(done.status.success(), "{done:?}");
    assert_eq!(done.lines, ["832040"]);
    let done = run(&["getObj"]);
    assert!(
        done.lines[0].starts_with("{\"server:0\": 0, \"server:1\": 1,"),
        "{done:?}"
    );
    let done = run(&["fib", "x"]);
    assert_eq!(done.status.code(), Some(1));
    assert_eq!(
        done.stderr.trim(),
        "fault 1: <class 'TypeError'>:fib() argument 1 must be int, not str"
    );
    let done = run(&["system.methodSignature", "fib"]);
    assert_eq!(done.lines, ["[[\"int\", \"int\"]]"]);
}

#[test]
#[ignore = "needs SPINDLE_PYTHON (run by scripts/test)"]
fn examples_17_and_18_with_the_documents_programs() {
    let mut cmd = example("xmlrpc_server");
    cmd.env("RPC_PORT", "0");
    let (_server, port) = spawn_and_read_port("xmlrpc_server example", cmd);
    let lines = run_py("xmlrpc_client.py", port);
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("xmlrpc total time ")),
        "{lines:?}"
    );

    // The client example against it, then against the document's Python server.
    let (_py, url) = python_server();
    for url in [format!("http://127.0.0.1:{port}"), url] {
        let mut cmd = example("xmlrpc_client");
        cmd.arg(&url);
        let done = run_client("xmlrpc_client example", cmd);
        assert!(done.status.success(), "{done:?}");
        assert!(
            done.lines
                .contains(&"100 of 100 calls answered".to_string()),
            "{done:?}"
        );
        assert!(
            done.lines
                .iter()
                .any(|l| l.starts_with("fault 1: <class 'TypeError'>:")),
            "{done:?}"
        );
    }
}
