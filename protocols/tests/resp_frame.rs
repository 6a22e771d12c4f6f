//! `resp::decode_frame` and `Frame::encode`: table tests run whole, one byte
//! at a time and split at every offset; strict prefixes; pipelining; errors
//! and limits; allocation bounds; encode/decode round trips of random frames.

#[path = "resp_support.rs"]
mod support;

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{decode_frame, DecodeError, Frame, Limits};
use support::{allocations, chunkings, Rng};

type Event = Result<Frame, DecodeError>;

/// Feeds each chunk and decodes every frame it completes; stops at the first
/// error. Checks the buffer is unchanged whenever a call needs more bytes.
fn decode(chunks: &[&[u8]], limits: &Limits) -> Vec<Event> {
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.clone();
            match decode_frame(&mut buf, limits) {
                Ok(Some(frame)) => events.push(Ok(frame)),
                Ok(None) => {
                    assert_eq!(buf, before, "Ok(None) consumed bytes");
                    break;
                }
                Err(e) => {
                    assert_eq!(buf, before, "an error consumed bytes");
                    events.push(Err(e));
                    return events;
                }
            }
        }
    }
    events
}

fn check(name: &str, input: &[u8], expected: &[Event], limits: &Limits) {
    for (how, chunks) in chunkings(input) {
        assert_eq!(
            decode(&chunks, limits),
            expected,
            "case {name:?} ({how}), input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

fn s(text: &str) -> Frame {
    Frame::simple(text)
}

fn b(text: &str) -> Frame {
    Frame::bulk(text)
}

fn arr(items: Vec<Frame>) -> Frame {
    Frame::Array(items)
}

/// One frame per case; each is also checked with every strict prefix.
fn one_frame_cases() -> Vec<(&'static str, &'static [u8], Frame)> {
    vec![
        ("simple", b"+OK\r\n", s("OK")),
        ("empty simple", b"+\r\n", s("")),
        ("simple with spaces", b"+hello world\r\n", s("hello world")),
        ("error", b"-ERR unknown command\r\n", Frame::error("ERR unknown command")),
        ("integer", b":1000\r\n", Frame::Integer(1000)),
        ("zero", b":0\r\n", Frame::Integer(0)),
        ("negative integer", b":-42\r\n", Frame::Integer(-42)),
        ("plus integer", b":+7\r\n", Frame::Integer(7)),
        ("i64 min", b":-9223372036854775808\r\n", Frame::Integer(i64::MIN)),
        ("i64 max", b":9223372036854775807\r\n", Frame::Integer(i64::MAX)),
        ("bulk", b"$5\r\nhello\r\n", b("hello")),
        ("empty bulk", b"$0\r\n\r\n", b("")),
        ("binary bulk", b"$4\r\n\r\n\0\xff\r\n", Frame::bulk(b"\r\n\0\xff")),
        ("RESP2 null bulk", b"$-1\r\n", Frame::Null),
        ("RESP2 null array", b"*-1\r\n", Frame::Null),
        ("RESP3 null", b"_\r\n", Frame::Null),
        ("empty array", b"*0\r\n", arr(vec![])),
        (
            "array",
            b"*3\r\n:1\r\n$3\r\nfoo\r\n+bar\r\n",
            arr(vec![Frame::Integer(1), b("foo"), s("bar")]),
        ),
        (
            "nested arrays with nulls",
            b"*2\r\n*2\r\n$-1\r\n*-1\r\n*1\r\n*0\r\n",
            arr(vec![arr(vec![Frame::Null, Frame::Null]), arr(vec![arr(vec![])])]),
        ),
        (
            "map",
            b"%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n_\r\n",
            Frame::Map(vec![(s("first"), Frame::Integer(1)), (b("second"), Frame::Null)]),
        ),
        ("empty map", b"%0\r\n", Frame::Map(vec![])),
        (
            "set",
            b"~3\r\n+a\r\n+b\r\n:3\r\n",
            Frame::Set(vec![s("a"), s("b"), Frame::Integer(3)]),
        ),
        ("double", b",1.5\r\n", Frame::Double(1.5)),
        ("negative double", b",-0.25\r\n", Frame::Double(-0.25)),
        ("double exponent", b",1e+21\r\n", Frame::Double(1e21)),
        ("double integral", b",10\r\n", Frame::Double(10.0)),
        ("double inf", b",inf\r\n", Frame::Double(f64::INFINITY)),
        ("double -inf", b",-inf\r\n", Frame::Double(f64::NEG_INFINITY)),
        ("true", b"#t\r\n", Frame::Boolean(true)),
        ("false", b"#f\r\n", Frame::Boolean(false)),
        (
            "big number",
            b"(3492890328409238509324850943850943825024385\r\n",
            Frame::BigNumber(Bytes::from_static(b"3492890328409238509324850943850943825024385")),
        ),
        (
            "negative big number",
            b"(-12345678901234567890\r\n",
            Frame::BigNumber(Bytes::from_static(b"-12345678901234567890")),
        ),
        (
            "blob error",
            b"!21\r\nSYNTAX invalid syntax\r\n",
            Frame::error("SYNTAX invalid syntax"),
        ),
        (
            "blob error with CRLF",
            b"!22\r\nSYNTAX invalid\r\nsyntax\r\n",
            Frame::Error(Bytes::from_static(b"SYNTAX invalid\r\nsyntax")),
        ),
        (
            "verbatim",
            b"=15\r\ntxt:Some string\r\n",
            Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"Some string"),
            },
        ),
        (
            "empty verbatim",
            b"=4\r\nmkd:\r\n",
            Frame::Verbatim {
                format: *b"mkd",
                text: Bytes::new(),
            },
        ),
        (
            "push",
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            Frame::Push(vec![b("message"), b("ch"), b("hi")]),
        ),
        (
            "attribute",
            b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
            Frame::Attribute {
                attributes: vec![(
                    s("key-popularity"),
                    Frame::Map(vec![
                        (b("a"), Frame::Double(0.1923)),
                        (b("b"), Frame::Double(0.0012)),
                    ]),
                )],
                value: Box::new(arr(vec![Frame::Integer(2039123), Frame::Integer(9543892)])),
            },
        ),
        (
            "attribute inside an array",
            b"*2\r\n|1\r\n+ttl\r\n:3600\r\n+a\r\n+b\r\n",
            arr(vec![
                Frame::Attribute {
                    attributes: vec![(s("ttl"), Frame::Integer(3600))],
                    value: Box::new(s("a")),
                },
                s("b"),
            ]),
        ),
        (
            "HELLO 3 reply",
            b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
            Frame::Map(vec![
                (b("server"), b("redis")),
                (b("version"), b("7.0.0")),
                (b("proto"), Frame::Integer(3)),
                (b("id"), Frame::Integer(5)),
                (b("mode"), b("standalone")),
                (b("role"), b("master")),
                (b("modules"), arr(vec![])),
            ]),
        ),
    ]
}

#[test]
fn every_type_every_cutting() {
    let limits = Limits::default();
    for (name, input, frame) in one_frame_cases() {
        check(name, input, &[Ok(frame)], &limits);
    }
}

#[test]
fn every_strict_prefix_needs_more_and_consumes_nothing() {
    let limits = Limits::default();
    for (name, input, _) in one_frame_cases() {
        for end in 0..input.len() {
            let mut buf = BytesMut::from(&input[..end]);
            assert_eq!(
                decode_frame(&mut buf, &limits),
                Ok(None),
                "{name}: cut at {end}"
            );
            assert_eq!(&buf[..], &input[..end]);
        }
    }
}

#[test]
fn pipelined_frames_leave_the_rest() {
    let mut all = Vec::new();
    let mut expected = Vec::new();
    for (_, input, frame) in one_frame_cases() {
        all.extend_from_slice(input);
        expected.push(Ok(frame));
    }
    check("all cases pipelined", &all, &expected, &Limits::default());

    let mut buf = BytesMut::from(&b"+OK\r\n:1\r\n$3\r\nab"[..]);
    let limits = Limits::default();
    assert_eq!(decode_frame(&mut buf, &limits), Ok(Some(s("OK"))));
    assert_eq!(&buf[..], b":1\r\n$3\r\nab");
    assert_eq!(decode_frame(&mut buf, &limits), Ok(Some(Frame::Integer(1))));
    assert_eq!(decode_frame(&mut buf, &limits), Ok(None));
    assert_eq!(&buf[..], b"$3\r\nab");
}

#[test]
fn nan_decodes() {
    let mut buf = BytesMut::from(&b",nan\r\n"[..]);
    let Ok(Some(Frame::Double(f))) = decode_frame(&mut buf, &Limits::default()) else {
        panic!("expected a double")
    };
    assert!(f.is_nan());
}

#[test]
fn errors() {
    use DecodeError::*;
    let limits = Limits::default();
    let cases: Vec<(&str, &[u8], Vec<Event>)> = vec![
        ("unknown type", b"?x\r\n", vec![Err(InvalidType(b'?'))]),
        (
            "streamed string",
            b"$?\r\n;4\r\nHell\r\n;0\r\n",
            vec![Err(InvalidLength)],
        ),
        ("stream chunk type", b";4\r\n", vec![Err(InvalidType(b';'))]),
        ("inline text", b"PING\r\n", vec![Err(InvalidType(b'P'))]),
        (
            "after good frames",
            b"+OK\r\n:1\r\n@",
            vec![Ok(s("OK")), Ok(Frame::Integer(1)), Err(InvalidType(b'@'))],
        ),
        ("bare LF", b"+OK\n", vec![Err(InvalidLineEnding)]),
        ("bare CR", b"+O\rK\r\n", vec![Err(InvalidLineEnding)]),
        (
            "bulk without CRLF",
            b"$3\r\nfooXY",
            vec![Err(InvalidLineEnding)],
        ),
        (
            "bulk too short",
            b"$1\r\nfo\r\n",
            vec![Err(InvalidLineEnding)],
        ),
        ("bulk short by 2", b"$3\r\nf\r\n", vec![]),
        ("negative bulk", b"$-2\r\n", vec![Err(InvalidLength)]),
        (
            "bulk length with sign",
            b"$+3\r\nfoo\r\n",
            vec![Err(InvalidLength)],
        ),
        ("empty length", b"*\r\n", vec![Err(InvalidLength)]),
        ("null map", b"%-1\r\n", vec![Err(InvalidLength)]),
        ("null set", b"~-1\r\n", vec![Err(InvalidLength)]),
        ("null blob error", b"!-1\r\n", vec![Err(InvalidLength)]),
        ("null verbatim", b"=-1\r\n", vec![Err(InvalidLength)]),
        (
            "huge length",
            b"$99999999999999999999999\r\n",
            vec![Err(InvalidLength)],
        ),
        ("integer text", b":12a\r\n", vec![Err(InvalidInteger)]),
        (
            "integer overflow",
            b":9223372036854775808\r\n",
            vec![Err(InvalidInteger)],
        ),
        ("empty integer", b":\r\n", vec![Err(InvalidInteger)]),
        ("double text", b",1.5x\r\n", vec![Err(InvalidDouble)]),
        ("empty double", b",\r\n", vec![Err(InvalidDouble)]),
        ("boolean", b"#x\r\n", vec![Err(InvalidBoolean)]),
        ("boolean long", b"#true\r\n", vec![Err(InvalidBoolean)]),
        ("null with text", b"_x\r\n", vec![Err(InvalidNull)]),
        ("big number text", b"(12a\r\n", vec![Err(InvalidBigNumber)]),
        ("big number empty", b"(-\r\n", vec![Err(InvalidBigNumber)]),
        (
            "verbatim too short",
            b"=3\r\ntxt\r\n",
            vec![Err(InvalidVerbatim)],
        ),
        (
            "verbatim no colon",
            b"=5\r\ntxt-a\r\n",
            vec![Err(InvalidVerbatim)],
        ),
        (
            "error nested",
            b"*2\r\n:1\r\n#?\r\n",
            vec![Err(InvalidBoolean)],
        ),
    ];
    for (name, input, expected) in cases {
        check(name, input, &expected, &limits);
    }
}

#[test]
fn error_messages() {
    assert_eq!(
        DecodeError::InvalidType(0x3f).to_string(),
        "invalid frame type byte 0x3f"
    );
    assert_eq!(
        DecodeError::BulkTooLong { len: 9, limit: 8 }.to_string(),
        "bulk length 9 exceeds the limit of 8 bytes"
    );
    assert_eq!(
        DecodeError::TooManyElements { len: 3, limit: 2 }.to_string(),
        "aggregate of 3 elements exceeds the limit of 2"
    );
    assert_eq!(
        DecodeError::TooDeep { limit: 4 }.to_string(),
        "aggregates nested deeper than 4 levels"
    );
    assert_eq!(
        DecodeError::LineTooLong { limit: 5 }.to_string(),
        "line longer than the limit of 5 bytes"
    );
    assert_eq!(
        DecodeError::InvalidLineEnding.to_string(),
        "line not terminated by CRLF"
    );
}

#[test]
fn limits() {
    use DecodeError::*;
    let limits = Limits {
        max_bulk_len: 5,
        max_elements: 3,
        max_depth: 2,
        max_line_len: 6,
    };
    let cases: Vec<(&str, &[u8], Vec<Event>)> = vec![
        (
            "bulk at the limit",
            b"$5\r\nhello\r\n",
            vec![Ok(b("hello"))],
        ),
        (
            "bulk over",
            b"$6\r\n",
            vec![Err(BulkTooLong { len: 6, limit: 5 })],
        ),
        (
            "blob error over",
            b"!6\r\n",
            vec![Err(BulkTooLong { len: 6, limit: 5 })],
        ),
        (
            "verbatim over",
            b"=6\r\n",
            vec![Err(BulkTooLong { len: 6, limit: 5 })],
        ),
        (
            "elements at the limit",
            b"*3\r\n_\r\n_\r\n_\r\n",
            vec![Ok(arr(vec![Frame::Null; 3]))],
        ),
        (
            "array over",
            b"*4\r\n",
            vec![Err(TooManyElements { len: 4, limit: 3 })],
        ),
        (
            "set over",
            b"~4\r\n",
            vec![Err(TooManyElements { len: 4, limit: 3 })],
        ),
        (
            "push over",
            b">4\r\n",
            vec![Err(TooManyElements { len: 4, limit: 3 })],
        ),
        (
            "map pairs over",
            b"%4\r\n",
            vec![Err(TooManyElements { len: 4, limit: 3 })],
        ),
        (
            "attribute over",
            b"|4\r\n",
            vec![Err(TooManyElements { len: 4, limit: 3 })],
        ),
        (
            "depth at the limit",
            b"*1\r\n*1\r\n:1\r\n",
            vec![Ok(arr(vec![arr(vec![Frame::Integer(1)])]))],
        ),
        (
            "too deep",
            b"*1\r\n*1\r\n*1\r\n",
            vec![Err(TooDeep { limit: 2 })],
        ),
        (
            "map too deep",
            b"%1\r\n+k\r\n%1\r\n+k\r\n%1\r\n",
            vec![Err(TooDeep { limit: 2 })],
        ),
        (
            "attribute counts a level",
            b"|1\r\n+a\r\n+b\r\n*1\r\n*1\r\n",
            vec![Err(TooDeep { limit: 2 })],
        ),
        (
            "attribute chain",
            b"|0\r\n|0\r\n|0\r\n",
            vec![Err(TooDeep { limit: 2 })],
        ),
        (
            "null array is no level",
            b"*1\r\n*1\r\n*-1\r\n",
            vec![Ok(arr(vec![arr(vec![Frame::Null])]))],
        ),
        ("line at the limit", b"+123456\r\n", vec![Ok(s("123456"))]),
        (
            "line over",
            b"+1234567\r\n",
            vec![Err(LineTooLong { limit: 6 })],
        ),
        (
            "line over, no end yet",
            b"+1234567",
            vec![Err(LineTooLong { limit: 6 })],
        ),
        ("line at the limit, CR last", b"+123456\r", vec![]),
        (
            "length line over",
            b"$0000005\r\nhello\r\n",
            vec![Err(LineTooLong { limit: 6 })],
        ),
    ];
    for (name, input, expected) in cases {
        check(name, input, &expected, &limits);
    }
}

#[test]
fn zero_copy_payloads() {
    let mut buf = BytesMut::from(&b"*2\r\n$5\r\nhello\r\n+world\r\n"[..]);
    let base = buf.as_ptr() as usize;
    let Ok(Some(Frame::Array(items))) = decode_frame(&mut buf, &Limits::default()) else {
        panic!("expected an array")
    };
    let at = |f: &Frame| f.as_bytes().unwrap().as_ptr() as usize - base;
    assert_eq!((at(&items[0]), at(&items[1])), (8, 16));
}

#[test]
fn a_declared_length_allocates_nothing_until_the_bytes_arrive() {
    let limits = Limits::default();
    for header in [
        &b"$536870912\r\n"[..],
        b"*4294967295\r\n",
        b"%4294967295\r\n",
        b"*3\r\n*4294967295\r\n:1\r\n",
        b"=536870912\r\ntxt:",
    ] {
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(header);
        let (result, count, _) = allocations(|| decode_frame(&mut buf, &limits));
        assert_eq!(result, Ok(None), "{header:?}");
        assert_eq!(count, 0, "{header:?} allocated");
        assert_eq!(buf.capacity(), 64);
    }
    // A complete array of n elements gets a Vec of n, not of the declared count
    // of something larger.
    let mut buf = BytesMut::from(&b"*3\r\n:1\r\n:2\r\n:3\r\n"[..]);
    let (frame, _, bytes) = allocations(|| decode_frame(&mut buf, &limits).unwrap().unwrap());
    assert_eq!(
        frame,
        arr(vec![
            Frame::Integer(1),
            Frame::Integer(2),
            Frame::Integer(3)
        ])
    );
    assert!(bytes < 1024, "{bytes} bytes for a 3-element array");
}

/// A random frame of at most `depth` levels, with values that survive a round
/// trip (no CR/LF in simple strings, no NaN).
fn random_frame(rng: &mut Rng, depth: usize) -> Frame {
    let text = |rng: &mut Rng| {
        let len = rng.below(12);
        Bytes::from(rng.bytes_from(b"abc XYZ:+-_01", len))
    };
    let binary = |rng: &mut Rng| {
        let len = rng.below(20);
        Bytes::from(rng.bytes_from(b"ab\r\n\0\xff$*:", len))
    };
    let scalars = 10;
    let pick = if depth == 0 {
        rng.below(scalars)
    } else {
        rng.below(scalars + 5)
    };
    let items = |rng: &mut Rng| {
        (0..rng.below(4))
            .map(|_| random_frame(rng, depth - 1))
            .collect::<Vec<_>>()
    };
    match pick {
        0 => Frame::Simple(text(rng)),
        1 => Frame::Error(binary(rng)),
        2 => Frame::Integer(match rng.below(4) {
            0 => i64::MIN,
            1 => i64::MAX,
            _ => rng.next_u64() as i64 >> rng.below(64),
        }),
        3 => Frame::Bulk(binary(rng)),
        4 => Frame::Null,
        5 => Frame::Double(match rng.below(5) {
            0 => f64::INFINITY,
            1 => f64::NEG_INFINITY,
            2 => (rng.below(2001) as f64 - 1000.0) / 8.0,
            _ => loop {
                let f = f64::from_bits(rng.next_u64());
                if !f.is_nan() {
                    break f;
                }
            },
        }),
        6 => Frame::Boolean(rng.below(2) == 0),
        7 => {
            let len = 1 + rng.below(40);
            let mut digits = rng.bytes_from(b"0123456789", len);
            if rng.below(2) == 0 {
                digits.insert(0, b'-');
            }
            Frame::BigNumber(Bytes::from(digits))
        }
        8 => Frame::Verbatim {
            format: if rng.below(2) == 0 { *b"txt" } else { *b"mkd" },
            text: binary(rng),
        },
        9 => Frame::Error(text(rng)),
        10 => Frame::Array(items(rng)),
        11 => Frame::Set(items(rng)),
        12 => Frame::Push(items(rng)),
        13 => Frame::Map(
            (0..rng.below(3))
                .map(|_| (random_frame(rng, depth - 1), random_frame(rng, depth - 1)))
                .collect(),
        ),
        _ => Frame::Attribute {
            attributes: (0..rng.below(3))
                .map(|_| (random_frame(rng, depth - 1), random_frame(rng, depth - 1)))
                .collect(),
            value: Box::new(random_frame(rng, depth - 1)),
        },
    }
}

#[test]
fn random_frames_round_trip_through_any_cutting() {
    let mut rng = Rng(42);
    let limits = Limits::default();
    for _ in 0..3000 {
        let frames: Vec<Frame> = (0..1 + rng.below(3))
            .map(|_| random_frame(&mut rng, 4))
            .collect();
        let mut wire = BytesMut::new();
        for frame in &frames {
            frame.encode(&mut wire);
        }
        let expected: Vec<Event> = frames.into_iter().map(Ok).collect();
        assert_eq!(decode(&[&wire], &limits), expected, "whole: {wire:?}");
        let chunks = rng.split(&wire, 9);
        assert_eq!(decode(&chunks, &limits), expected, "chunked: {wire:?}");
        // Encoding is deterministic: decoding then encoding gives the same bytes.
        let mut again = BytesMut::new();
        for frame in expected.iter().flatten() {
            frame.encode(&mut again);
        }
        assert_eq!(again, wire);
    }
}

#[test]
fn encode_examples() {
    let cases: Vec<(Frame, &[u8])> = vec![
        (s("OK"), b"+OK\r\n"),
        (s("two\r\nlines"), b"+two  lines\r\n"),
        (Frame::error("ERR x"), b"-ERR x\r\n"),
        (Frame::error("ERR\nx"), b"!5\r\nERR\nx\r\n"),
        (Frame::Integer(-1), b":-1\r\n"),
        (b("ab"), b"$2\r\nab\r\n"),
        (Frame::Null, b"_\r\n"),
        (Frame::Double(0.1), b",0.1\r\n"),
        (Frame::Double(f64::NAN), b",nan\r\n"),
        (Frame::Boolean(false), b"#f\r\n"),
        (Frame::BigNumber(Bytes::from_static(b"-1")), b"(-1\r\n"),
        (
            Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"hi"),
            },
            b"=6\r\ntxt:hi\r\n",
        ),
        (Frame::Set(vec![Frame::Integer(1)]), b"~1\r\n:1\r\n"),
        (Frame::Push(vec![]), b">0\r\n"),
        (
            Frame::Map(vec![(s("k"), Frame::Null)]),
            b"%1\r\n+k\r\n_\r\n",
        ),
        (
            Frame::bulks(["GET", "k"]),
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        ),
    ];
    for (frame, wire) in cases {
        assert_eq!(&frame.to_bytes()[..], wire, "{frame:?}");
    }
    assert_eq!(Frame::Integer(5).as_integer(), Some(5));
    assert_eq!(s("x").as_integer(), None);
    assert_eq!(Frame::Null.as_bytes(), None);
}

#[test]
fn deeply_nested_input_is_refused_not_a_stack_overflow() {
    let mut input = Vec::new();
    for _ in 0..100_000 {
        input.extend_from_slice(b"*1\r\n");
    }
    let mut buf = BytesMut::from(&input[..]);
    assert_eq!(
        decode_frame(&mut buf, &Limits::default()),
        Err(DecodeError::TooDeep { limit: 32 })
    );
    let mut attrs = BytesMut::new();
    for _ in 0..100_000 {
        attrs.extend_from_slice(b"|0\r\n");
    }
    assert_eq!(
        decode_frame(&mut attrs, &Limits::default()),
        Err(DecodeError::TooDeep { limit: 32 })
    );
}
