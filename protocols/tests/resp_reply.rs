//! `resp::ReplyWriter`: the bytes of every method in RESP2 and RESP3, a round
//! trip of its output through `decode_frame`, and what a reply costs.

#[path = "resp_support.rs"]
mod support;

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{decode_frame, format_double, Frame, Limits, ReplyWriter, Version};
use support::allocations;

/// One call on a writer, for the tables.
type Write = fn(&mut ReplyWriter<'_>);

fn written(version: Version, write: Write) -> BytesMut {
    let mut out = BytesMut::new();
    write(&mut ReplyWriter::new(version, &mut out));
    out
}

#[test]
fn every_method_in_both_versions() {
    let cases: Vec<(&str, Write, &[u8], &[u8])> = vec![
        ("ok", |w| w.ok(), b"+OK\r\n", b"+OK\r\n"),
        ("simple", |w| w.simple("PONG"), b"+PONG\r\n", b"+PONG\r\n"),
        (
            "simple with CRLF",
            |w| w.simple("a\r\nb"),
            b"+a  b\r\n",
            b"+a  b\r\n",
        ),
        (
            "error",
            |w| w.error("ERR syntax error"),
            b"-ERR syntax error\r\n",
            b"-ERR syntax error\r\n",
        ),
        (
            "error with LF",
            |w| w.error("WRONGTYPE x\ny"),
            b"-WRONGTYPE x y\r\n",
            b"-WRONGTYPE x y\r\n",
        ),
        ("int", |w| w.int(-5), b":-5\r\n", b":-5\r\n"),
        (
            "int min",
            |w| w.int(i64::MIN),
            b":-9223372036854775808\r\n",
            b":-9223372036854775808\r\n",
        ),
        ("bulk", |w| w.bulk(b"ab"), b"$2\r\nab\r\n", b"$2\r\nab\r\n"),
        ("empty bulk", |w| w.bulk(b""), b"$0\r\n\r\n", b"$0\r\n\r\n"),
        (
            "binary bulk",
            |w| w.bulk(b"\r\n\0"),
            b"$3\r\n\r\n\0\r\n",
            b"$3\r\n\r\n\0\r\n",
        ),
        ("null", |w| w.null(), b"$-1\r\n", b"_\r\n"),
        ("null array", |w| w.null_array(), b"*-1\r\n", b"_\r\n"),
        ("array", |w| w.array_len(2), b"*2\r\n", b"*2\r\n"),
        ("empty array", |w| w.array_len(0), b"*0\r\n", b"*0\r\n"),
        ("map", |w| w.map_len(2), b"*4\r\n", b"%2\r\n"),
        ("set", |w| w.set_len(3), b"*3\r\n", b"~3\r\n"),
        ("push", |w| w.push_len(3), b"*3\r\n", b">3\r\n"),
        ("double", |w| w.double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
        (
            "double 0.1",
            |w| w.double(0.1),
            b"$3\r\n0.1\r\n",
            b",0.1\r\n",
        ),
        (
            "double inf",
            |w| w.double(f64::INFINITY),
            b"$3\r\ninf\r\n",
            b",inf\r\n",
        ),
        (
            "double -inf",
            |w| w.double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        ),
        (
            "double exponent",
            |w| w.double(1e21),
            b"$5\r\n1e+21\r\n",
            b",1e+21\r\n",
        ),
        ("true", |w| w.boolean(true), b":1\r\n", b"#t\r\n"),
        ("false", |w| w.boolean(false), b":0\r\n", b"#f\r\n"),
        (
            "verbatim",
            |w| w.verbatim(b"txt", b"Some string"),
            b"$11\r\nSome string\r\n",
            b"=15\r\ntxt:Some string\r\n",
        ),
        (
            "empty verbatim",
            |w| w.verbatim(b"mkd", b""),
            b"$0\r\n\r\n",
            b"=4\r\nmkd:\r\n",
        ),
        (
            "big number",
            |w| w.big_number("-3492890328409238509324850943850943825024385"),
            b"$44\r\n-3492890328409238509324850943850943825024385\r\n",
            b"(-3492890328409238509324850943850943825024385\r\n",
        ),
    ];
    for (name, write, resp2, resp3) in cases {
        assert_eq!(&written(Version::Resp2, write)[..], resp2, "{name} (RESP2)");
        assert_eq!(&written(Version::Resp3, write)[..], resp3, "{name} (RESP3)");
    }
}

fn decode_all(mut buf: BytesMut) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = decode_frame(&mut buf, &Limits::default()).unwrap() {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "left over: {buf:?}");
    frames
}

/// A reply of every kind, written with the writer.
fn write_everything(w: &mut ReplyWriter<'_>) {
    w.ok();
    w.error("ERR bad");
    w.int(42);
    w.bulk(b"value");
    w.null();
    w.null_array();
    w.map_len(2);
    w.bulk(b"a");
    w.double(2.5);
    w.simple("b");
    w.set_len(2);
    w.boolean(true);
    w.big_number("123456789012345678901234567890");
    w.push_len(2);
    w.bulk(b"message");
    w.verbatim(b"txt", b"hello");
    w.array_len(0);
}

#[test]
fn round_trip_through_decode_frame() {
    let mut out = BytesMut::new();
    write_everything(&mut ReplyWriter::new(Version::Resp3, &mut out));
    let big = Frame::BigNumber(Bytes::from_static(b"123456789012345678901234567890"));
    assert_eq!(
        decode_all(out),
        vec![
            Frame::simple("OK"),
            Frame::error("ERR bad"),
            Frame::Integer(42),
            Frame::bulk("value"),
            Frame::Null,
            Frame::Null,
            Frame::Map(vec![
                (Frame::bulk("a"), Frame::Double(2.5)),
                (
                    Frame::simple("b"),
                    Frame::Set(vec![Frame::Boolean(true), big])
                ),
            ]),
            Frame::Push(vec![
                Frame::bulk("message"),
                Frame::Verbatim {
                    format: *b"txt",
                    text: Bytes::from_static(b"hello"),
                },
            ]),
            Frame::Array(vec![]),
        ]
    );

    let mut out = BytesMut::new();
    write_everything(&mut ReplyWriter::new(Version::Resp2, &mut out));
    assert_eq!(
        decode_all(out),
        vec![
            Frame::simple("OK"),
            Frame::error("ERR bad"),
            Frame::Integer(42),
            Frame::bulk("value"),
            Frame::Null,
            Frame::Null,
            Frame::Array(vec![
                Frame::bulk("a"),
                Frame::bulk("2.5"),
                Frame::simple("b"),
                Frame::Array(vec![
                    Frame::Integer(1),
                    Frame::bulk("123456789012345678901234567890"),
                ]),
            ]),
            Frame::Array(vec![Frame::bulk("message"), Frame::bulk("hello")]),
            Frame::Array(vec![]),
        ]
    );
}

#[test]
fn doubles_read_back_exactly() {
    for f in [
        0.1,
        1.0 / 3.0,
        -2.5e-300,
        1.7976931348623157e308,
        5e-324,
        -0.0,
        1e16,
    ] {
        let mut out = BytesMut::new();
        ReplyWriter::new(Version::Resp3, &mut out).double(f);
        let [Frame::Double(back)] = decode_all(out)[..] else {
            panic!("expected a double")
        };
        assert_eq!(back.to_bits(), f.to_bits(), "{f:e}");
        assert_eq!(
            format_double(f).as_str().parse::<f64>().unwrap().to_bits(),
            f.to_bits()
        );
    }
}

#[test]
fn an_lrange_reply_allocates_nothing_in_a_reserved_buffer() {
    let items: Vec<Vec<u8>> = (0..100)
        .map(|i| format!("element-{i}").into_bytes())
        .collect();
    let mut out = BytesMut::with_capacity(4096);
    let ((), count, _) = allocations(|| {
        let mut w = ReplyWriter::new(Version::Resp2, &mut out);
        w.array_len(items.len());
        for item in &items {
            w.bulk(item);
        }
        w.double(3.25);
        w.int(-17);
        w.map_len(1);
    });
    assert_eq!(count, 0, "formatting numbers or bulks allocated");
    let mut expected = b"*100\r\n".to_vec();
    for item in &items {
        expected.extend_from_slice(format!("${}\r\n", item.len()).as_bytes());
        expected.extend_from_slice(item);
        expected.extend_from_slice(b"\r\n");
    }
    expected.extend_from_slice(b"$4\r\n3.25\r\n:-17\r\n*2\r\n");
    assert_eq!(&out[..], &expected[..]);
}

#[test]
fn the_version_can_change_mid_reply() {
    // HELLO 3 switches the protocol and replies in the new one.
    let mut out = BytesMut::new();
    let mut w = ReplyWriter::new(Version::default(), &mut out);
    assert_eq!(w.version, Version::Resp2);
    w.null();
    w.version = Version::Resp3;
    w.null();
    assert_eq!(&out[..], b"$-1\r\n_\r\n");
}

#[test]
fn formatted_double_accessors() {
    let text = format_double(-1.25);
    assert_eq!(text.as_str(), "-1.25");
    assert_eq!(text.as_bytes(), b"-1.25");
    assert_eq!(text.len(), 5);
    assert!(!text.is_empty());
    assert_eq!(text.to_string(), "-1.25");
    assert_eq!(format!("{text:?}"), "\"-1.25\"");
}
