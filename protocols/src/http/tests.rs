//! Unit tests of the HTTP codec: requests and responses, each limit, pipelining, splits.

use bytes::BytesMut;

use super::*;

fn decode_all(input: &[u8], limits: Limits) -> Vec<Result<RequestEvent, HttpError>> {
    let mut rx = RequestDecoder::new(limits);
    rx.feed(input);
    std::iter::from_fn(|| rx.next_event()).collect()
}

fn one(input: &[u8]) -> Result<Request, HttpError> {
    match decode_all(input, Limits::default()).into_iter().next() {
        Some(Ok(RequestEvent::Request(r))) => Ok(r),
        Some(Err(e)) => Err(e),
        other => panic!("{other:?}"),
    }
}

#[test]
fn simple_get_with_repeated_headers() {
    let r = one(b"\r\nGET /p?q=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n").unwrap();
    assert_eq!(r.method, Method::Get);
    assert_eq!((r.path(), r.query()), ("/p", Some("q=1")));
    assert_eq!(r.headers.get_all("X-A").collect::<Vec<_>>(), [b"1", b"2"]);
    assert!(r.keep_alive());
    assert!(r.body.is_empty());
}

#[test]
fn keep_alive_rules() {
    assert!(!one(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap()
        .keep_alive());
    assert!(!one(b"GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive());
    assert!(one(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        .unwrap()
        .keep_alive());
}

#[test]
fn pipelined_bodies_every_split() {
    let input: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\n\
        Transfer-Encoding: chunked\n\n2\r\nxy\r\n1;e\r\nz\r\n0\r\nT: v\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
    let whole = decode_all(input, Limits::default());
    assert_eq!(whole.len(), 3);
    let bodies: Vec<_> = whole
        .iter()
        .map(|e| match e {
            Ok(RequestEvent::Request(r)) => (r.target.clone(), r.body.to_vec()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        bodies,
        [
            ("/a".into(), b"abc".to_vec()),
            ("/b".into(), b"xyz".to_vec()),
            ("/c".into(), vec![])
        ]
    );
    for cut in 0..input.len() {
        let mut rx = RequestDecoder::new(Limits::default());
        let mut events = Vec::new();
        for part in [&input[..cut], &input[cut..]] {
            rx.feed(part);
            events.extend(std::iter::from_fn(|| rx.next_event()));
        }
        assert_eq!(events, whole, "cut at {cut}");
    }
}

#[test]
fn expect_continue_before_the_body() {
    let mut rx = RequestDecoder::new(Limits::default());
    rx.feed(b"PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(rx.next_event(), Some(Ok(RequestEvent::Continue)));
    assert_eq!(rx.next_event(), None);
    rx.feed(b"ok");
    assert!(matches!(rx.next_event(), Some(Ok(RequestEvent::Request(r))) if &r.body[..] == b"ok"));
    // No body, no 100; an HTTP/1.0 expectation is ignored; others fail.
    assert!(matches!(
        decode_all(
            b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            Limits::default()
        )[..],
        [Ok(RequestEvent::Request(_))]
    ));
    assert_eq!(
        one(b"GET / HTTP/1.1\r\nExpect: tea\r\n\r\n")
            .unwrap_err()
            .status(),
        417
    );
    assert!(one(b"GET / HTTP/1.0\r\nExpect: tea\r\n\r\n").is_ok());
}

#[test]
fn each_limit_and_error_has_its_status() {
    let small = Limits {
        max_request_line: 16,
        max_headers_size: 32,
        max_headers: 2,
        max_body: 4,
    };
    let status = |input: &[u8]| match decode_all(input, small.clone()).pop() {
        Some(Err(e)) => e.status(),
        other => panic!("{other:?}"),
    };
    let status_default = |input: &[u8]| match decode_all(input, Limits::default()).pop() {
        Some(Err(e)) => e.status(),
        other => panic!("{other:?}"),
    };
    assert_eq!(status(b"GET /0123456789abcdef HTTP/1.1\r\n"), 414);
    assert_eq!(status(b"GET /0123456789abcdef"), 414);
    assert_eq!(status(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n"), 431);
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nA: 0123456789012345678901234567890\r\n"),
        431
    );
    assert_eq!(status(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 413);
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n"),
        413
    );
    assert_eq!(status(b"GET / HTTP/1.1\r\nA : 1\r\n\r\n"), 400);
    assert_eq!(status(b"GET  / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(
        status_default(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        400
    );
    assert_eq!(
        status_default(
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ),
        400
    );
    assert_eq!(status(b"BREW / HTTP/1.1\r\n\r\n"), 501);
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
        501
    );
    assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 505);
    assert_eq!(status(b"GET / HTTQ/1.1\r\n\r\n"), 400);
}

#[test]
fn after_an_error_nothing_more() {
    let mut rx = RequestDecoder::new(Limits::default());
    rx.feed(b"bad line\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    assert!(matches!(
        rx.next_event(),
        Some(Err(HttpError::Malformed(_)))
    ));
    assert_eq!(rx.next_event(), None);
    assert_eq!(rx.buffered(), 0);
}

#[test]
fn eof_within_a_request_is_an_error() {
    let mut rx = RequestDecoder::new(Limits::default());
    rx.feed(b"GET / HTTP/1.1\r\n\r\nGET /half");
    rx.eof();
    assert!(matches!(
        rx.next_event(),
        Some(Ok(RequestEvent::Request(_)))
    ));
    assert!(matches!(
        rx.next_event(),
        Some(Err(HttpError::Malformed(_)))
    ));
    let mut rx = RequestDecoder::new(Limits::default());
    rx.feed(b"\r\n");
    assert!(rx.is_idle());
    rx.eof();
    assert_eq!(rx.next_event(), None);
}

fn reply(resp: &Response, method: Method, version: Version, keep_alive: bool) -> (bool, String) {
    let mut out = BytesMut::new();
    let open = resp.encode(
        &mut out,
        &ReplyTo {
            method,
            version,
            keep_alive,
        },
    );
    (open, String::from_utf8(out.to_vec()).unwrap())
}

#[test]
fn response_encoding() {
    let r = Response::text(200, "hello")
        .header("Content-Length", "99")
        .header("X", "y");
    let (open, text) = reply(&r, Method::Head, Version::Http11, true);
    assert!(open);
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX: y\r\nContent-Length: 5\r\n\r\n"
    );
    let (open, text) = reply(&Response::new(204), Method::Get, Version::Http10, true);
    assert!(open);
    assert_eq!(
        text,
        "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"
    );
    let closing = Response::new(304).header("connection", "close");
    let (open, text) = reply(&closing, Method::Get, Version::Http11, true);
    assert!(!open);
    assert_eq!(
        text,
        "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n"
    );
    let mut out = BytesMut::new();
    let to = ReplyTo {
        method: Method::Get,
        version: Version::Http11,
        keep_alive: true,
    };
    Response::new(200).encode_chunked_head(&mut out, &to);
    encode_chunk(&mut out, b"abc");
    encode_last_chunk(&mut out);
    let mut rx = ResponseDecoder::new(Limits::default());
    rx.feed(&out);
    let back = rx.next_event().unwrap().unwrap();
    assert_eq!((back.status, &back.body[..]), (200, &b"abc"[..]));
}

#[test]
fn request_encoding_round_trips() {
    let req = Request::new(Method::Post, "/RPC2")
        .header("Host", "h")
        .header("content-length", "7")
        .body("x");
    let mut out = BytesMut::new();
    req.encode(&mut out);
    assert_eq!(
        &out[..],
        b"POST /RPC2 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"
    );
    let back = one(&out).unwrap();
    assert_eq!(back.body, req.body);
    let mut out = BytesMut::new();
    Request::new(Method::Get, "/").encode(&mut out);
    assert_eq!(&out[..], b"GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn responses_of_every_kind_in_order() {
    let mut rx = ResponseDecoder::new(Limits::default());
    for m in [
        Method::Head,
        Method::Get,
        Method::Get,
        Method::Get,
        Method::Get,
    ] {
        rx.expect(m);
    }
    rx.feed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\
          HTTP/1.1 100 Continue\r\n\r\n\
          HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nab\
          HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n\
          HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nc\r\n0\r\n\r\n\
          HTTP/1.0 200 OK\r\n\r\nuntil close",
    );
    let got: Vec<_> = std::iter::from_fn(|| rx.next_event())
        .map(|r| r.unwrap())
        .collect();
    let summary: Vec<_> = got.iter().map(|r| (r.status, r.body.to_vec())).collect();
    assert_eq!(
        summary,
        [
            (200, vec![]),
            (201, b"ab".to_vec()),
            (204, vec![]),
            (200, b"c".to_vec())
        ]
    );
    assert_eq!(got[3].reason, "");
    rx.eof();
    let last = rx.next_event().unwrap().unwrap();
    assert_eq!(&last.body[..], b"until close");
    assert!(!last.keep_alive());
    assert_eq!(rx.next_event(), None);
}

#[test]
fn response_errors() {
    let status_of = |input: &[u8]| {
        let mut rx = ResponseDecoder::new(Limits {
            max_body: 4,
            ..Limits::default()
        });
        rx.feed(input);
        rx.eof();
        rx.next_event()
    };
    assert!(matches!(
        status_of(b"HTTP/1.1 20 OK\r\n\r\n"),
        Some(Err(HttpError::Malformed(_)))
    ));
    assert!(matches!(
        status_of(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
        Some(Err(HttpError::BodyTooLarge { .. }))
    ));
    assert!(matches!(
        status_of(b"HTTP/1.1 200 OK\r\n\r\n12345"),
        Some(Err(HttpError::BodyTooLarge { .. }))
    ));
    assert!(matches!(
        status_of(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n12"),
        Some(Err(HttpError::Malformed(_)))
    ));
    assert!(matches!(
        status_of(b"HTTP/3.0 200 OK\r\n\r\n"),
        Some(Err(HttpError::UnsupportedVersion))
    ));
}
