//! `resp::RequestDecoder`: multibulk and inline requests cut every way,
//! Redis 7.0's protocol errors with their exact texts, pre-`AUTH` limits,
//! memory bounds, zero copy, and linear cost when fed one byte at a time.

#[path = "resp_support.rs"]
mod support;

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{RequestDecoder, RequestError, RequestLimits};
use support::{allocations, chunkings, Rng};

type Event = Result<Vec<Vec<u8>>, RequestError>;

fn authed(limits: RequestLimits) -> RequestDecoder {
    let mut d = RequestDecoder::new(limits);
    d.set_authenticated(true);
    d
}

/// Feeds each chunk and decodes every request it completes; stops at the
/// first error (after checking it left the buffer alone).
fn decode(mut decoder: RequestDecoder, chunks: &[&[u8]]) -> Vec<Event> {
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.clone();
            match decoder.decode(&mut buf) {
                Ok(Some(args)) => events.push(Ok(args.iter().map(|a| a.to_vec()).collect())),
                Ok(None) => break,
                Err(e) => {
                    // The offending line stays; what preceded it may be gone.
                    assert!(before.ends_with(&buf), "an error added bytes?");
                    assert!(!buf.is_empty(), "an error consumed the offending line");
                    events.push(Err(e));
                    return events;
                }
            }
        }
    }
    events
}

fn cmd(args: &[&str]) -> Event {
    Ok(args.iter().map(|a| a.as_bytes().to_vec()).collect())
}

fn multibulk(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn check(name: &str, make: impl Fn() -> RequestDecoder, input: &[u8], expected: &[Event]) {
    for (how, chunks) in chunkings(input) {
        assert_eq!(
            decode(make(), &chunks),
            expected,
            "case {name:?} ({how}), input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn requests_every_cutting() {
    let cases: Vec<(&str, &[u8], Vec<Event>)> = vec![
        ("empty", b"", vec![]),
        ("multibulk", b"*1\r\n$4\r\nPING\r\n", vec![cmd(&["PING"])]),
        (
            "multibulk SET",
            b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
            vec![cmd(&["SET", "key", "value"])],
        ),
        (
            "binary and empty arguments",
            b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\n\r\n\0*\r\n",
            vec![Ok(vec![b"SET".to_vec(), vec![], b"\r\n\0*".to_vec()])],
        ),
        ("partial multibulk", b"*2\r\n$3\r\nGET\r\n$1\r\n", vec![]),
        (
            "*0 skipped",
            b"*0\r\n*1\r\n$4\r\nPING\r\n",
            vec![cmd(&["PING"])],
        ),
        ("*-1 skipped", b"*-1\r\nPING\r\n", vec![cmd(&["PING"])]),
        ("*-10 skipped", b"*-10\r\nPING\r\n", vec![cmd(&["PING"])]),
        ("inline", b"PING\r\n", vec![cmd(&["PING"])]),
        (
            "inline with LF only",
            b"SET a b\nGET a\n",
            vec![cmd(&["SET", "a", "b"]), cmd(&["GET", "a"])],
        ),
        (
            "inline, many blanks",
            b"  SET \t a\t\tb  \r\n",
            vec![cmd(&["SET", "a", "b"])],
        ),
        (
            "inline CR inside separates",
            b"GET a\rb\r\n",
            vec![cmd(&["GET", "a", "b"])],
        ),
        ("inline partial", b"PING", vec![]),
        ("inline CR then end", b"PING\r", vec![]),
        (
            "empty lines skipped",
            b"\r\n\n  \r\n\t\nPING\r\n",
            vec![cmd(&["PING"])],
        ),
        (
            "double quotes and escapes",
            br#"SET "my key" "a\tb\\c\"d\x41\x7a\q\n""#,
            vec![],
        ),
        (
            "double quotes and escapes, ended",
            b"SET \"my key\" \"a\\tb\\\\c\\\"d\\x41\\x7a\\q\\n\"\r\n",
            vec![Ok(vec![
                b"SET".to_vec(),
                b"my key".to_vec(),
                b"a\tb\\c\"dAzq\n".to_vec(),
            ])],
        ),
        (
            "single quotes",
            b"SET 'it\\'s' 'a \"b\" \\n'\r\n",
            vec![Ok(vec![
                b"SET".to_vec(),
                b"it's".to_vec(),
                b"a \"b\" \\n".to_vec(),
            ])],
        ),
        (
            "empty quoted arguments",
            b"SET \"\" ''\r\n",
            vec![cmd(&["SET", "", ""])],
        ),
        (
            "quote inside an argument",
            b"SET a\"b c\"\r\n",
            vec![cmd(&["SET", "ab c"])],
        ),
        (
            "hex escape of CR LF",
            b"ECHO \"\\x0d\\x0a\"\r\n",
            vec![cmd(&["ECHO", "\r\n"])],
        ),
        (
            "pipelined mix",
            b"*1\r\n$4\r\nPING\r\nECHO hi\r\n\r\n*2\r\n$4\r\nECHO\r\n$2\r\nyo\r\n*0\r\nQUIT\n",
            vec![
                cmd(&["PING"]),
                cmd(&["ECHO", "hi"]),
                cmd(&["ECHO", "yo"]),
                cmd(&["QUIT"]),
            ],
        ),
        (
            "Redis skips the bytes after CR and after a payload",
            b"*2\r?$3\rxGET\r\n$1\r\nkXY*1\r\n$1\r\nx\r\n",
            vec![cmd(&["GET", "k"]), cmd(&["x"])],
        ),
        (
            "inline starting with $ is inline",
            b"$3 x\r\n",
            vec![cmd(&["$3", "x"])],
        ),
        (
            "NUL is an ordinary byte",
            b"SET a\0b c\r\n",
            vec![Ok(vec![b"SET".to_vec(), b"a\0b".to_vec(), b"c".to_vec()])],
        ),
    ];
    for (name, input, expected) in cases {
        check(name, || authed(RequestLimits::default()), input, &expected);
    }
}

#[test]
fn errors_every_cutting() {
    use RequestError::*;
    let cases: Vec<(&str, &[u8], Vec<Event>)> = vec![
        // The cases of Redis's tests/unit/protocol.tcl.
        (
            "out of range multibulk length",
            b"*20000000\r\n",
            vec![Err(InvalidMultibulkLength)],
        ),
        (
            "wrong multibulk payload header",
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
            vec![Err(ExpectedDollar(b'f'))],
        ),
        (
            "negative multibulk payload length",
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
            vec![Err(InvalidBulkLength)],
        ),
        (
            "out of range multibulk payload length",
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
            vec![Err(InvalidBulkLength)],
        ),
        (
            "non-number multibulk payload length",
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
            vec![Err(InvalidBulkLength)],
        ),
        (
            "multibulk not followed by bulk",
            b"*1\r\nfoo\r\n",
            vec![Err(ExpectedDollar(b'f'))],
        ),
        (
            "unbalanced number of quotes",
            b"set \"\"\"test-key\"\"\" test-value\r\nping\r\n",
            vec![Err(UnbalancedQuotes)],
        ),
        // string2ll's strictness.
        (
            "count with plus",
            b"*+1\r\n",
            vec![Err(InvalidMultibulkLength)],
        ),
        (
            "count with leading zero",
            b"*01\r\n",
            vec![Err(InvalidMultibulkLength)],
        ),
        (
            "count with space",
            b"*1 \r\n",
            vec![Err(InvalidMultibulkLength)],
        ),
        ("empty count", b"*\r\n", vec![Err(InvalidMultibulkLength)]),
        ("count -0", b"*-0\r\n", vec![Err(InvalidMultibulkLength)]),
        (
            "count overflow",
            b"*9223372036854775808\r\n",
            vec![Err(InvalidMultibulkLength)],
        ),
        (
            "bulk with plus",
            b"*1\r\n$+1\r\nx\r\n",
            vec![Err(InvalidBulkLength)],
        ),
        (
            "bulk with leading zero",
            b"*1\r\n$01\r\nx\r\n",
            vec![Err(InvalidBulkLength)],
        ),
        (
            "empty bulk length",
            b"*1\r\n$\r\n",
            vec![Err(InvalidBulkLength)],
        ),
        ("bulk -1", b"*1\r\n$-1\r\n", vec![Err(InvalidBulkLength)]),
        // What Redis prints for the unexpected byte: CR and LF become spaces.
        (
            "empty bulk header line",
            b"*1\r\n\r\n",
            vec![Err(ExpectedDollar(b'\r'))],
        ),
        (
            "LF where $ belongs",
            b"*1\r\n\n\r\n",
            vec![Err(ExpectedDollar(b'\n'))],
        ),
        (
            "* where $ belongs",
            b"*1\r\n*1\r\n",
            vec![Err(ExpectedDollar(b'*'))],
        ),
        // Quotes.
        (
            "unterminated double quote",
            b"GET \"abc\r\n",
            vec![Err(UnbalancedQuotes)],
        ),
        (
            "unterminated single quote",
            b"GET 'abc\r\n",
            vec![Err(UnbalancedQuotes)],
        ),
        (
            "text after closing quote",
            b"GET \"a\"b\r\n",
            vec![Err(UnbalancedQuotes)],
        ),
        (
            "escaped closing quote",
            b"GET \"a\\\"\r\n",
            vec![Err(UnbalancedQuotes)],
        ),
        (
            "good requests then an error",
            b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n",
            vec![cmd(&["PING"]), cmd(&["PING"]), Err(InvalidMultibulkLength)],
        ),
        // Redis's "protocol desync regression test": a NUL, then garbage
        // without a line end (the test writes the literal word "payload").
        ("desync: NUL", b"\0payloadpayload", vec![]),
        ("desync: *NUL", b"*\0payloadpayload", vec![]),
        ("desync: $NUL", b"$\0payloadpayload", vec![]),
    ];
    for (name, input, expected) in cases {
        check(name, || authed(RequestLimits::default()), input, &expected);
    }
}

#[test]
fn line_limits_every_cutting() {
    use RequestError::*;
    let limits = RequestLimits {
        max_inline_len: 8,
        ..RequestLimits::default()
    };
    let cases: Vec<(&str, &[u8], Vec<Event>)> = vec![
        (
            "inline at the limit",
            b"GET abc\r\n",
            vec![cmd(&["GET", "abc"])],
        ),
        (
            "inline at the limit, LF",
            b"GET abcd\n",
            vec![cmd(&["GET", "abcd"])],
        ),
        (
            "inline over, the CR counts",
            b"GET abcd\r\n",
            vec![Err(TooBigInline)],
        ),
        (
            "inline over, no end yet",
            b"GET abcde",
            vec![Err(TooBigInline)],
        ),
        ("inline at the limit, no end yet", b"GET abc\r", vec![]),
        (
            "count line at the limit",
            b"*0000001\r\n",
            vec![Err(InvalidMultibulkLength)],
        ),
        (
            "count line over",
            b"*00000001\r\n",
            vec![Err(TooBigMbulkCount)],
        ),
        (
            "count line over, no CR yet",
            b"*00000001",
            vec![Err(TooBigMbulkCount)],
        ),
        (
            "bulk line at the limit",
            b"*1\r\n$0000001\r\n",
            vec![Err(InvalidBulkLength)],
        ),
        (
            "bulk line over",
            b"*1\r\n$00000001\r\n",
            vec![Err(TooBigBulkCount)],
        ),
        (
            "bulk line over, no $",
            b"*1\r\nxxxxxxxxx",
            vec![Err(TooBigBulkCount)],
        ),
        (
            "long payload is fine",
            b"*1\r\n$20\r\n01234567890123456789\r\n",
            vec![cmd(&["01234567890123456789"])],
        ),
    ];
    for (name, input, expected) in cases {
        check(name, || authed(limits.clone()), input, &expected);
    }

    let limits = RequestLimits {
        max_bulk_len: 3,
        max_multibulk_len: 2,
        ..RequestLimits::default()
    };
    let cases: Vec<(&str, &[u8], Vec<Event>)> = vec![
        (
            "count at the limit",
            b"*2\r\n$1\r\na\r\n$3\r\nabc\r\n",
            vec![cmd(&["a", "abc"])],
        ),
        ("count over", b"*3\r\n", vec![Err(InvalidMultibulkLength)]),
        ("bulk over", b"*1\r\n$4\r\n", vec![Err(InvalidBulkLength)]),
    ];
    for (name, input, expected) in cases {
        check(name, || authed(limits.clone()), input, &expected);
    }
}

#[test]
fn unauthenticated_limits() {
    use RequestError::*;
    let ten: Vec<&[u8]> = vec![b"a"; 10];
    let eleven: Vec<&[u8]> = vec![b"a"; 11];
    let big = vec![b'x'; 16384];
    let bigger = vec![b'x'; 16385];
    let unauth = || RequestDecoder::new(RequestLimits::default());
    let auth = || authed(RequestLimits::default());
    let cases: Vec<(&str, bool, Vec<u8>, Vec<Event>)> = vec![
        (
            "10 arguments",
            false,
            multibulk(&ten),
            vec![Ok(vec![b"a".to_vec(); 10])],
        ),
        (
            "11 arguments",
            false,
            multibulk(&eleven),
            vec![Err(UnauthenticatedMultibulkLength)],
        ),
        (
            "11 arguments, header only",
            false,
            b"*11\r\n".to_vec(),
            vec![Err(UnauthenticatedMultibulkLength)],
        ),
        (
            "11 arguments after AUTH",
            true,
            multibulk(&eleven),
            vec![Ok(vec![b"a".to_vec(); 11])],
        ),
        (
            "16384 bytes",
            false,
            multibulk(&[&big]),
            vec![Ok(vec![big.clone()])],
        ),
        (
            "16385 bytes",
            false,
            multibulk(&[&bigger]),
            vec![Err(UnauthenticatedBulkLength)],
        ),
        (
            "16385 bytes after AUTH",
            true,
            multibulk(&[&bigger]),
            vec![Ok(vec![bigger.clone()])],
        ),
        (
            "invalid wins over unauthenticated",
            false,
            b"*3000000000\r\n".to_vec(),
            vec![Err(InvalidMultibulkLength)],
        ),
        (
            "invalid bulk wins too",
            false,
            b"*1\r\n$-5\r\n".to_vec(),
            vec![Err(InvalidBulkLength)],
        ),
        (
            "inline has no pre-AUTH argument limit",
            false,
            b"a b c d e f g h i j k l\r\n".to_vec(),
            vec![cmd(&[
                "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l",
            ])],
        ),
    ];
    for (name, is_authed, input, expected) in cases {
        // Each cutting of a 16 KiB input is slow in a debug build: cut a few ways.
        let decoder = || if is_authed { auth() } else { unauth() };
        assert_eq!(decode(decoder(), &[&input]), expected, "{name} (whole)");
        assert_eq!(
            decode(decoder(), &input.chunks(1).collect::<Vec<_>>()),
            expected,
            "{name} (bytes)"
        );
        let mut rng = Rng(input.len() as u64);
        assert_eq!(
            decode(decoder(), &rng.split(&input, 300)),
            expected,
            "{name} (random)"
        );
    }

    // Switching mid-stream: the limits apply from the next header.
    let mut d = RequestDecoder::new(RequestLimits::default());
    assert!(!d.is_authenticated());
    let mut buf = BytesMut::from(&multibulk(&[b"AUTH", b"pw"])[..]);
    assert_eq!(
        d.decode(&mut buf),
        Ok(Some(vec![Bytes::from("AUTH"), Bytes::from("pw")]))
    );
    d.set_authenticated(true);
    buf.extend_from_slice(&multibulk(&eleven));
    assert_eq!(d.decode(&mut buf).map(|a| a.map(|a| a.len())), Ok(Some(11)));
}

#[test]
fn error_texts_are_redis_7_0s() {
    use RequestError::*;
    let cases = [
        (
            InvalidMultibulkLength,
            "Protocol error: invalid multibulk length",
        ),
        (InvalidBulkLength, "Protocol error: invalid bulk length"),
        (
            ExpectedDollar(b'f'),
            "Protocol error: expected '$', got 'f'",
        ),
        (
            ExpectedDollar(b'\r'),
            "Protocol error: expected '$', got ' '",
        ),
        (
            ExpectedDollar(b'\n'),
            "Protocol error: expected '$', got ' '",
        ),
        (
            TooBigMbulkCount,
            "Protocol error: too big mbulk count string",
        ),
        (TooBigBulkCount, "Protocol error: too big bulk count string"),
        (TooBigInline, "Protocol error: too big inline request"),
        (
            UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
        (
            UnauthenticatedMultibulkLength,
            "Protocol error: unauthenticated multibulk length",
        ),
        (
            UnauthenticatedBulkLength,
            "Protocol error: unauthenticated bulk length",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
        let mut out = BytesMut::new();
        error.encode_reply(&mut out);
        assert_eq!(out, format!("-ERR {text}\r\n").as_bytes());
    }
    // A raw byte that is not ASCII: as Redis's %c, in the reply bytes.
    let mut out = BytesMut::new();
    ExpectedDollar(0xff).encode_reply(&mut out);
    assert_eq!(
        &out[..],
        b"-ERR Protocol error: expected '$', got '\xff'\r\n"
    );
}

#[test]
fn error_resets_the_decoder_and_leaves_the_buffer() {
    let mut d = authed(RequestLimits::default());
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\nxyz\r\n"[..]);
    assert_eq!(d.decode(&mut buf), Err(RequestError::ExpectedDollar(b'x')));
    assert_eq!(&buf[..], b"xyz\r\n");
    // Reset to "between requests": the rest reads as an inline request.
    assert_eq!(d.decode(&mut buf), Ok(Some(vec![Bytes::from("xyz")])));
}

#[test]
fn arguments_are_split_off_the_buffer_without_copying() {
    let mut d = authed(RequestLimits::default());
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nSET \"q\" plain\r\n"[..]);
    let base = buf.as_ptr() as usize;
    let args = d.decode(&mut buf).unwrap().unwrap();
    let offsets: Vec<usize> = args.iter().map(|a| a.as_ptr() as usize - base).collect();
    assert_eq!(offsets, [8, 17]);
    let args = d.decode(&mut buf).unwrap().unwrap();
    assert_eq!(args, ["SET", "q", "plain"]);
    assert_eq!(
        args[2].as_ptr() as usize - base,
        30,
        "unquoted inline arguments are slices too"
    );
}

#[test]
fn a_declared_gigabyte_costs_nothing() {
    for authenticated in [true, false] {
        let mut d = RequestDecoder::new(RequestLimits::default());
        d.set_authenticated(authenticated);
        let header: &[u8] = if authenticated {
            b"*1048576\r\n$536870912\r\n"
        } else {
            b"*10\r\n$16384\r\n"
        };
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(header);
        let (result, count, bytes) = allocations(|| d.decode(&mut buf));
        assert_eq!(result, Ok(None));
        // One argument vector of at most 1024 entries, nothing for the bulk.
        assert!(count <= 1, "{count} allocations");
        assert!(
            bytes <= 1024 * std::mem::size_of::<Bytes>(),
            "{bytes} bytes"
        );
        assert!(buf.capacity() <= 64, "the buffer was grown");
        assert!(buf.is_empty(), "the headers were consumed");
        // More calls with nothing new: nothing at all.
        let (_, count, _) = allocations(|| d.decode(&mut buf));
        assert_eq!(count, 0);
    }
    // A 1 GB inline "line" is refused after 64 KiB.
    let mut d = RequestDecoder::new(RequestLimits::default());
    let mut buf = BytesMut::from(&vec![b'a'; 64 * 1024 + 1][..]);
    assert_eq!(d.decode(&mut buf), Err(RequestError::TooBigInline));
}

#[test]
fn ten_thousand_elements_one_byte_at_a_time() {
    // Re-parsing from the start on every call would be quadratic: 70 kB fed
    // byte by byte would take minutes instead of milliseconds.
    let n = 10_000;
    let items: Vec<Vec<u8>> = (0..n).map(|i| format!("item:{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = items.iter().map(|v| &v[..]).collect();
    let mut wire = multibulk(&refs);
    wire.extend_from_slice(b"PING\r\n");
    let mut d = authed(RequestLimits::default());
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &byte in &wire {
        buf.extend_from_slice(&[byte]);
        while let Some(args) = d.decode(&mut buf).unwrap() {
            got.push(args);
        }
        assert!(buf.len() <= 16, "{} bytes buffered", buf.len());
    }
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].len(), n);
    assert_eq!(got[0][n - 1], format!("item:{}", n - 1));
    assert_eq!(got[1], ["PING"]);
}

#[test]
fn a_large_bulk_in_many_reads() {
    let payload: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
    let wire = multibulk(&[b"SET", b"k", &payload]);
    let mut d = authed(RequestLimits::default());
    let mut buf = BytesMut::new();
    let mut got = None;
    for chunk in wire.chunks(1000) {
        buf.extend_from_slice(chunk);
        if let Some(args) = d.decode(&mut buf).unwrap() {
            got = Some(args);
        }
    }
    let args = got.expect("a request");
    assert_eq!(args[2].len(), payload.len());
    assert!(args[2] == payload[..]);
}

#[test]
fn a_long_inline_line_one_byte_at_a_time() {
    let mut line = b"SET k ".to_vec();
    line.extend(std::iter::repeat_n(b'v', 64 * 1024 - 8));
    line.extend_from_slice(b"\r\n");
    let mut d = authed(RequestLimits::default());
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &byte in &line {
        buf.extend_from_slice(&[byte]);
        if let Some(args) = d.decode(&mut buf).unwrap() {
            got.push(args);
        }
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][2].len(), 64 * 1024 - 8);
}

#[test]
fn random_requests_survive_random_cuts() {
    let mut rng = Rng(9);
    for _ in 0..2000 {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..1 + rng.below(5) {
            let argc = 1 + rng.below(4);
            let args: Vec<Vec<u8>> = (0..argc)
                .map(|_| {
                    let len = rng.below(12);
                    rng.bytes_from(b"ab\r\n\0$*\"' ", len)
                })
                .collect();
            match rng.below(3) {
                0 => wire.extend_from_slice(b"\r\n"), // an empty line, skipped
                1 => wire.extend_from_slice(b"*0\r\n"),
                _ => {}
            }
            let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            wire.extend_from_slice(&multibulk(&refs));
            expected.push(Ok(args));
        }
        let d = || authed(RequestLimits::default());
        assert_eq!(decode(d(), &[&wire]), expected);
        assert_eq!(decode(d(), &rng.split(&wire, 7)), expected);
    }
}

#[test]
fn accessors() {
    let d = RequestDecoder::default();
    assert_eq!(d.limits(), &RequestLimits::default());
    assert_eq!(d.limits().max_bulk_len, 512 * 1024 * 1024);
    assert_eq!(d.limits().max_multibulk_len, 1024 * 1024);
    assert_eq!(d.limits().max_inline_len, 64 * 1024);
    assert_eq!(d.limits().unauth_max_multibulk_len, 10);
    assert_eq!(d.limits().unauth_max_bulk_len, 16384);
    assert!(!d.is_authenticated());
}

#[test]
fn redis_protocol_desync_regression_tests() {
    // tests/unit/protocol.tcl: a NUL-led prefix, then "payload" repeated with
    // no line end; Redis answers with a protocol error once 64 KiB are buffered.
    let cases: [(&[u8], RequestError); 3] = [
        (b"\0", RequestError::TooBigInline),
        (b"*\0", RequestError::TooBigMbulkCount),
        (b"$\0", RequestError::TooBigInline),
    ];
    for (prefix, error) in cases {
        let mut d = authed(RequestLimits::default());
        let mut buf = BytesMut::from(prefix);
        let mut result = Ok(None);
        for _ in 0..20_000 {
            buf.extend_from_slice(b"payload");
            result = d.decode(&mut buf);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(error), "{prefix:?}");
        assert!(buf.len() <= 64 * 1024 + 8);
    }
}
