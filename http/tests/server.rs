//! The HTTP server on a real reactor (port 0) against std `TcpStream` clients, the HTTP
//! client against the server, and curl (when installed) as a real client.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use spindle_http::{
    json, later, ClientError, HttpClient, HttpServer, Limits, Method, Request, Responder, Response,
    Router, ServerConfig,
};
use spindle_protocols::http::ResponseDecoder;
use spindle_reactor::{Reactor, ReactorHandle};

/// The routes every test serves.
fn router() -> Router {
    let parked: Rc<RefCell<Vec<Responder>>> = Rc::default();
    let park = parked.clone();
    let mut r = Router::new();
    r.get("/hello/:name", |req: &Request| {
        Response::text(200, format!("hello, {}", req.param("name").unwrap_or("")))
    })
    .post("/echo", |req: &Request| {
        Response::new(200).body(req.body.clone())
    })
    .get("/json", |_: &Request| {
        json(200, &serde_json::json!({"a": [1, 2]}))
    })
    .get("/close", |_: &Request| {
        Response::text(200, "bye").header("Connection", "close")
    })
    .get("/drop", later(|_req, responder, _tx| drop(responder)))
    .get("/forgot", Forgetful)
    .get(
        "/park/:n",
        later(move |_req, responder, _tx| park.borrow_mut().push(responder)),
    )
    .post(
        "/release",
        later(move |_req, responder, tx| {
            let waiting: Vec<_> = parked.borrow_mut().drain(..).collect();
            let n = waiting.len();
            // Answer in reverse: the server must still write them in request order.
            for (i, r) in waiting.into_iter().enumerate().rev() {
                r.send(tx, Response::text(200, format!("parked {i}")));
            }
            responder.send(tx, Response::text(200, format!("released {n}")));
        }),
    );
    r
}

/// A handler that says it will answer later but keeps no responder.
struct Forgetful;

impl spindle_http::Handler for Forgetful {
    fn handle(&mut self, _: Request, _: &mut spindle_http::Context<'_>) -> spindle_http::Reply {
        spindle_http::Reply::Later
    }
}

struct Server {
    addr: SocketAddr,
    handle: ReactorHandle,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn serve(config: ServerConfig) -> Server {
    let (send, recv) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut reactor = Reactor::new().unwrap();
        let port = reactor
            .listen_tcp("127.0.0.1:0", HttpServer::with_config(router(), config))
            .unwrap();
        send.send((port.socket_addr().unwrap(), reactor.handle()))
            .unwrap();
        reactor.run().unwrap();
    });
    let (addr, handle) = recv.recv().unwrap();
    Server {
        addr,
        handle,
        thread: Some(thread),
    }
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads responses (to `methods`, in order) until there are `methods.len()` of them; the
/// connection's end completes a read-until-close body.
fn read_responses(s: &mut TcpStream, methods: &[Method]) -> Vec<Response> {
    let mut rx = ResponseDecoder::new(Limits::default());
    for &m in methods {
        rx.expect(m);
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < methods.len() {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            rx.eof();
        } else {
            rx.feed(&buf[..n]);
        }
        while let Some(r) = rx.next_event() {
            out.push(r.unwrap());
        }
        assert!(n > 0 || out.len() == methods.len(), "closed after {out:?}");
    }
    out
}

fn read_one(s: &mut TcpStream) -> Response {
    read_responses(s, &[Method::Get]).pop().unwrap()
}

/// True once the server has closed the connection (reads until the end).
fn closed(s: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).is_ok() && rest.is_empty()
}

fn exchange(server: &Server, raw: &[u8]) -> Response {
    let mut s = connect(server);
    s.write_all(raw).unwrap();
    read_one(&mut s)
}

#[test]
fn keep_alive_then_close() {
    let server = serve(ServerConfig::default());
    let mut s = connect(&server);
    for name in ["a", "b"] {
        s.write_all(format!("GET /hello/{name} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_one(&mut s);
        assert_eq!(
            (r.status, &r.body[..]),
            (200, format!("hello, {name}").as_bytes())
        );
        assert!(r.keep_alive());
    }
    s.write_all(b"GET /hello/c HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_one(&mut s);
    assert_eq!(r.headers.get_str("connection"), Some("close"));
    assert!(closed(&mut s));
    // HTTP/1.0 closes unless asked; a response saying close closes too.
    let mut s = connect(&server);
    s.write_all(b"GET /hello/d HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_one(&mut s).status, 200);
    assert!(closed(&mut s));
    let mut s = connect(&server);
    s.write_all(
        b"GET /hello/e HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /close HTTP/1.1\r\n\r\n",
    )
    .unwrap();
    let rs = read_responses(&mut s, &[Method::Get, Method::Get]);
    assert_eq!(rs[0].headers.get_str("connection"), Some("keep-alive"));
    assert_eq!(&rs[1].body[..], b"bye");
    assert!(closed(&mut s));
}

#[test]
fn pipelined_requests_answered_in_order() {
    let server = serve(ServerConfig::default());
    let mut s = connect(&server);
    s.write_all(
        b"GET /hello/1 HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\
          HEAD /hello/3 HTTP/1.1\r\n\r\nGET /json HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n",
    )
    .unwrap();
    let rs = read_responses(
        &mut s,
        &[
            Method::Get,
            Method::Post,
            Method::Head,
            Method::Get,
            Method::Get,
        ],
    );
    let got: Vec<_> = rs.iter().map(|r| (r.status, r.body.to_vec())).collect();
    assert_eq!(
        got,
        [
            (200, b"hello, 1".to_vec()),
            (200, b"abc".to_vec()),
            (200, vec![]),
            (200, br#"{"a":[1,2]}"#.to_vec()),
            (404, b"not found\n".to_vec()),
        ]
    );
    assert_eq!(rs[2].headers.get_str("content-length"), Some("8"));
    assert_eq!(
        rs[3].headers.get_str("content-type"),
        Some("application/json")
    );
}

#[test]
fn later_responses_keep_request_order() {
    let server = serve(ServerConfig::default());
    let mut a = connect(&server);
    a.write_all(
        b"GET /park/0 HTTP/1.1\r\n\r\nGET /park/1 HTTP/1.1\r\n\r\nGET /hello/now HTTP/1.1\r\n\r\n",
    )
    .unwrap();
    // `a` gets nothing until another connection releases the parked requests.
    a.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(a.read(&mut [0; 16]).is_err());
    a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = exchange(
        &server,
        b"POST /release HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(&r.body[..], b"released 2");
    let rs = read_responses(&mut a, &[Method::Get; 3]);
    let bodies: Vec<_> = rs
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies, ["parked 0", "parked 1", "hello, now"]);
}

#[test]
fn in_flight_limit_stops_reading_until_answered() {
    let server = serve(ServerConfig {
        max_in_flight: 2,
        ..ServerConfig::default()
    });
    let mut a = connect(&server);
    let mut pipeline = Vec::new();
    for i in 0..5 {
        pipeline.extend_from_slice(format!("GET /park/{i} HTTP/1.1\r\n\r\n").as_bytes());
    }
    a.write_all(&pipeline).unwrap();
    // Only two are taken: each release answers what is parked, and the next ones are read.
    let mut released = Vec::new();
    while released.iter().sum::<usize>() < 5 {
        let r = exchange(
            &server,
            b"POST /release HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        );
        let n: usize = String::from_utf8_lossy(&r.body)["released ".len()..]
            .parse()
            .unwrap();
        assert!(n <= 2, "{n} parked at once");
        if n > 0 {
            released.push(n);
            read_responses(&mut a, &vec![Method::Get; n]);
        }
    }
}

#[test]
fn chunked_request_body() {
    let server = serve(ServerConfig::default());
    let r = exchange(
        &server,
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nT: 1\r\n\r\n",
    );
    assert_eq!(&r.body[..], b"hello world");
}

#[test]
fn expect_100_continue() {
    let server = serve(ServerConfig::default());
    let mut s = connect(&server);
    s.write_all(b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"body").unwrap();
    assert_eq!(&read_one(&mut s).body[..], b"body");
    // Over the body limit: 413 at once, no 100.
    let small = serve(ServerConfig {
        limits: Limits {
            max_body: 3,
            ..Limits::default()
        },
        ..ServerConfig::default()
    });
    let r = exchange(
        &small,
        b"POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    );
    assert_eq!(r.status, 413);
}

#[test]
fn each_limit_gets_its_status_and_the_connection_closes() {
    let server = serve(ServerConfig {
        limits: Limits {
            max_request_line: 64,
            max_headers_size: 128,
            max_headers: 4,
            max_body: 16,
        },
        ..ServerConfig::default()
    });
    let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "x".repeat(100));
    let big_header = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "y".repeat(200));
    let cases: Vec<(&[u8], u16)> = vec![
        (long_target.as_bytes(), 414),
        (big_header.as_bytes(), 431),
        (
            b"GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n",
            431,
        ),
        (b"POST /echo HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 413),
        (
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n9\r\n",
            413,
        ),
        (b"GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n", 400),
        (b"BREW /pot HTTP/1.1\r\n\r\n", 501),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nExpect: tea\r\n\r\n", 417),
    ];
    for (raw, status) in cases {
        let mut s = connect(&server);
        s.write_all(raw).unwrap();
        let r = read_one(&mut s);
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(raw));
        assert_eq!(r.headers.get_str("connection"), Some("close"));
        assert!(closed(&mut s));
    }
    let r = exchange(&server, b"DELETE /hello/x HTTP/1.1\r\n\r\n");
    assert_eq!(
        (r.status, r.headers.get_str("allow")),
        (405, Some("GET, HEAD"))
    );
}

#[test]
fn idle_connections_close_quietly() {
    let server = serve(ServerConfig {
        idle_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    // Silent from the start, after a response, and halfway through a request.
    let mut s = connect(&server);
    assert!(closed(&mut s));
    let mut s = connect(&server);
    s.write_all(b"GET /hello/x HTTP/1.1\r\n\r\n").unwrap();
    read_one(&mut s);
    assert!(closed(&mut s));
    let mut s = connect(&server);
    s.write_all(b"GET /hello/x HTTP/1.1\r\nHost:").unwrap();
    assert!(closed(&mut s));
}

#[test]
fn lost_responders_answer_500() {
    let server = serve(ServerConfig {
        idle_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let mut s = connect(&server);
    s.write_all(b"GET /forgot HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_one(&mut s).status, 500);
    // A dropped responder's 500 goes out by the idle timer at the latest.
    s.write_all(b"GET /drop HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_one(&mut s).status, 500);
    assert!(closed(&mut s));
}

/// Runs `f` on a reactor with the server and a client, until the client's requests are
/// answered; returns what `f` recorded.
fn with_client(
    f: impl FnOnce(&mut Reactor, SocketAddr, Rc<RefCell<Vec<String>>>) + Send + 'static,
) -> Vec<String> {
    let log = std::thread::spawn(move || {
        let mut reactor = Reactor::new().unwrap();
        let port = reactor
            .listen_tcp("127.0.0.1:0", HttpServer::new(router()))
            .unwrap();
        let addr = port.socket_addr().unwrap();
        let log: Rc<RefCell<Vec<String>>> = Rc::default();
        f(&mut reactor, addr, log.clone());
        reactor.run().unwrap();
        let out = log.borrow().clone();
        out
    });
    log.join().unwrap()
}

#[test]
fn client_against_server() {
    let log = with_client(|reactor, addr, log| {
        let client = HttpClient::new(addr.to_string());
        reactor.connect_tcp(addr, client.factory(), None).unwrap();
        let record = |log: &Rc<RefCell<Vec<String>>>| {
            let log = log.clone();
            move |r: Result<Response, ClientError>, _: &mut dyn spindle_http::Outlet| {
                let r = r.unwrap();
                log.borrow_mut()
                    .push(format!("{} {}", r.status, String::from_utf8_lossy(&r.body)));
            }
        };
        // Queued before the connection is up, pipelined, answered in order.
        client.request(reactor, Request::get("/hello/one"), record(&log));
        client.request(reactor, Request::post("/echo", "two"), record(&log));
        client.request(
            reactor,
            Request::new(Method::Head, "/hello/three"),
            record(&log),
        );
        let follow = client.clone();
        let log2 = log.clone();
        client.request(reactor, Request::get("/json"), move |r, out| {
            log2.borrow_mut().push(format!("{}", r.unwrap().status));
            // A follow-up from inside a callback, then a deferred one.
            let log3 = log2.clone();
            follow
                .request_deferred(out, Request::get("/close"))
                .add_callback(move |r| {
                    log3.borrow_mut()
                        .push(format!("deferred {}", String::from_utf8_lossy(&r.body)));
                    Ok(r).into()
                });
        });
        let handle = reactor.handle();
        let log4 = log.clone();
        let stopper = client.clone();
        reactor.call_later(Duration::from_millis(10), move |r| {
            stopper.request(r, Request::get("/hello/after-close"), move |res, _| {
                log4.borrow_mut()
                    .push(format!("after close: {}", res.unwrap_err()));
                handle.stop();
            });
        });
    });
    assert_eq!(
        log,
        [
            "200 hello, one",
            "200 two",
            "200 ",
            "200",
            "deferred bye",
            "after close: connection lost before the response"
        ]
    );
}

#[test]
fn client_connection_refused_fails_each_request() {
    let log = with_client(|reactor, _addr, log| {
        // A port nobody listens on: bind one, then free it.
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let client = HttpClient::new("nowhere");
        reactor.connect_tcp(free, client.factory(), None).unwrap();
        let handle = reactor.handle();
        for i in 0..2 {
            let log = log.clone();
            let handle = handle.clone();
            client.request(reactor, Request::get("/"), move |r, _| {
                log.borrow_mut().push(format!(
                    "{i}: {}",
                    matches!(r, Err(ClientError::Connect(_)))
                ));
                if i == 1 {
                    handle.stop();
                }
            });
        }
    });
    assert_eq!(log, ["0: true", "1: true"]);
}

fn curl_available() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn curl_as_a_real_client() {
    if !curl_available() {
        eprintln!("curl not installed: skipped");
        return;
    }
    let server = serve(ServerConfig::default());
    let base = format!("http://{}", server.addr);
    // Two URLs on one connection (keep-alive), verbose output tells whether it was reused.
    let out = Command::new("curl")
        .args(["-sS", "-v", "--http1.1"])
        .arg(format!("{base}/hello/curl"))
        .arg(format!("{base}/json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "hello, curl{\"a\":[1,2]}");
    assert!(
        stderr.contains("Re-using existing connection") || stderr.contains("Reusing existing"),
        "{stderr}"
    );
    // A body large enough that curl sends Expect: 100-continue (over 1 MiB in curl 8).
    let body = "z".repeat(2 * 1024 * 1024);
    let mut child = Command::new("curl")
        .args([
            "-sS",
            "-v",
            "--http1.1",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            "@-",
        ])
        .arg(format!("{base}/echo"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(out.stdout.len(), body.len());
    assert!(stderr.contains("100 Continue"), "{stderr}");
    // Chunked upload.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http1.1",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "chunked!",
        ])
        .arg(format!("{base}/echo"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "chunked!");
}
