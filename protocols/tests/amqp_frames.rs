//! The AMQP codec against bytes built without it: hand-written fixtures of real traffic (a
//! RabbitMQ `connection.start`, a publish with its header and body), known bit layouts, and the
//! seed corpus, which `protocols/gen/amqp_corpus.py` writes with an encoder of its own. Every
//! stream is decoded whole, one byte at a time and split at every offset; re-encoding gives the
//! same bytes back.

use std::collections::HashMap;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use spindle_protocols::amqp::content::encode_message;
use spindle_protocols::amqp::frame::{self, ContentHeader, FRAME_OVERHEAD};
use spindle_protocols::amqp::{
    method_name, AmqpError, BasicAck, BasicConsume, BasicDeliver, BasicGetOk, BasicNack,
    BasicProperties, BasicPublish, Command, ConfirmSelect, ConnectionStart, ConnectionTune,
    ContentAssembler, EncodeError, ExchangeDeclare, FieldTable, FieldValue, Frame, FrameKind,
    FramePayload, FrameReceiver, Malformed, Method, QueueDeclare, QueueDelete, ReplyCode, ShortStr,
    FRAME_MIN_SIZE, PROTOCOL_HEADER,
};

/// Bytes built by hand, big-endian, as the spec lays them out.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn new() -> Self {
        W::default()
    }
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend(v.to_be_bytes());
        self
    }
    fn short(mut self, s: &str) -> Self {
        self.0.push(s.len() as u8);
        self.0.extend(s.as_bytes());
        self
    }
    fn long(mut self, s: &[u8]) -> Self {
        self.0.extend((s.len() as u32).to_be_bytes());
        self.0.extend(s);
        self
    }
    /// A field table (or array) of entries built by `w`.
    fn table(self, w: W) -> Self {
        self.long(&w.0)
    }
    fn frame(self, frame_type: u8, channel: u16) -> Vec<u8> {
        let mut v = vec![frame_type];
        v.extend(channel.to_be_bytes());
        v.extend((self.0.len() as u32).to_be_bytes());
        v.extend(self.0);
        v.push(0xce);
        v
    }
}

fn decode_one(wire: &[u8]) -> Result<Option<Frame>, AmqpError> {
    let mut buf = BytesMut::from(wire);
    let frame = frame::decode(&mut buf, 0)?;
    if frame.is_some() {
        assert!(buf.is_empty(), "bytes left after the frame");
    }
    Ok(frame)
}

fn encode(f: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame::encode(f, &mut out).unwrap();
    out.to_vec()
}

fn method_of(wire: &[u8]) -> Method {
    match decode_one(wire) {
        Ok(Some(Frame {
            payload: FramePayload::Method(m),
            ..
        })) => m,
        other => panic!("not a method frame: {other:?}"),
    }
}

fn s(v: &str) -> ShortStr {
    ShortStr::try_from(v).unwrap()
}

fn long_str(v: &str) -> FieldValue {
    FieldValue::LongStr(Bytes::copy_from_slice(v.as_bytes()))
}

/// `connection.start` as RabbitMQ 3.13 sends it: the server-properties table with its nested
/// capabilities.
fn rabbitmq_connection_start() -> Vec<u8> {
    let mut caps = W::new();
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        caps = caps.short(cap).u8(b't').u8(1);
    }
    let props = W::new()
        .short("capabilities")
        .u8(b'F')
        .table(caps)
        .short("cluster_name")
        .u8(b'S')
        .long(b"rabbit@my-rabbit")
        .short("copyright")
        .u8(b'S')
        .long(b"Copyright (c) 2007-2024 Broadcom Inc and/or its subsidiaries")
        .short("information")
        .u8(b'S')
        .long(b"Licensed under the MPL 2.0. Website: https://rabbitmq.com")
        .short("platform")
        .u8(b'S')
        .long(b"Erlang/OTP 26.2.5")
        .short("product")
        .u8(b'S')
        .long(b"RabbitMQ")
        .short("version")
        .u8(b'S')
        .long(b"3.13.7");
    W::new()
        .u16(10)
        .u16(10)
        .u8(0)
        .u8(9)
        .table(props)
        .long(b"AMQPLAIN PLAIN")
        .long(b"en_US")
        .frame(1, 0)
}

#[test]
fn rabbitmq_connection_start_decodes_and_re_encodes() {
    let wire = rabbitmq_connection_start();
    let Method::ConnectionStart(start) = method_of(&wire) else {
        panic!("not connection.start")
    };
    assert_eq!((start.version_major, start.version_minor), (0, 9));
    assert_eq!(start.mechanisms, "AMQPLAIN PLAIN");
    assert_eq!(start.locales, "en_US");
    let props = &start.server_properties;
    assert_eq!(props.len(), 7);
    assert_eq!(props.get("product"), Some(&long_str("RabbitMQ")));
    assert_eq!(props.get("version"), Some(&long_str("3.13.7")));
    let caps = props
        .get("capabilities")
        .and_then(FieldValue::as_table)
        .unwrap();
    assert_eq!(caps.len(), 9);
    assert_eq!(
        caps.get("basic.nack").and_then(FieldValue::as_bool),
        Some(true)
    );
    assert_eq!(encode(&decode_one(&wire).unwrap().unwrap()), wire);

    // Built from values, the same bytes.
    let mut caps = FieldTable::new();
    for (k, _) in caps_of(&start) {
        caps.push(k, FieldValue::Bool(true));
    }
    let mut server_properties = FieldTable::new();
    server_properties.push(s("capabilities"), FieldValue::Table(caps));
    for (k, v) in start.server_properties.iter().skip(1) {
        server_properties.push(
            k.clone(),
            long_str(&String::from_utf8_lossy(v.as_bytes().unwrap())),
        );
    }
    let rebuilt = ConnectionStart {
        server_properties,
        mechanisms: Bytes::from_static(b"AMQPLAIN PLAIN"),
        ..ConnectionStart::default()
    };
    let mut out = BytesMut::new();
    frame::encode_method(0, &rebuilt.into(), &mut out).unwrap();
    assert_eq!(&out[..], &wire[..]);
}

fn caps_of(start: &ConnectionStart) -> Vec<(ShortStr, FieldValue)> {
    start
        .server_properties
        .get("capabilities")
        .and_then(FieldValue::as_table)
        .unwrap()
        .clone()
        .into_iter()
        .collect()
}

#[test]
fn connection_tune_bytes() {
    let wire = W::new()
        .u16(10)
        .u16(30)
        .u16(2047)
        .u32(131_072)
        .u16(60)
        .frame(1, 0);
    assert_eq!(
        wire,
        b"\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x1e\x07\xff\x00\x02\x00\x00\x00\x3c\xce"
    );
    let tune = ConnectionTune {
        channel_max: 2047,
        frame_max: 131_072,
        heartbeat: 60,
    };
    assert_eq!(method_of(&wire), tune.clone().into());
    let mut out = BytesMut::new();
    frame::encode_method(0, &tune.into(), &mut out).unwrap();
    assert_eq!(&out[..], &wire[..]);
}

/// `basic.publish` to "" with routing key "hello", a header with content-type and
/// delivery-mode, and "Hello World": what `pika`'s hello-world tutorial sends.
fn hello_world_publish() -> Vec<u8> {
    let mut wire = W::new()
        .u16(60)
        .u16(40)
        .u16(0)
        .short("")
        .short("hello")
        .u8(0)
        .frame(1, 1);
    wire.extend(
        W::new()
            .u16(60)
            .u16(0)
            .u64(11)
            .u16(0x9000)
            .short("text/plain")
            .u8(2)
            .frame(2, 1),
    );
    wire.extend(b"\x03\x00\x01\x00\x00\x00\x0bHello World\xce");
    wire
}

#[test]
fn hello_world_publish_assembles_and_re_encodes() {
    let wire = hello_world_publish();
    let mut rx = FrameReceiver::new();
    rx.feed(&wire);
    let mut asm = ContentAssembler::new();
    let mut done = None;
    while let Some(f) = rx.next_frame() {
        let f = f.unwrap();
        assert_eq!(f.channel, 1);
        done = asm.handle(f.payload).unwrap();
    }
    let Some(Command::Message(msg)) = done else {
        panic!("no message")
    };
    let expected_method = BasicPublish {
        routing_key: s("hello"),
        ..BasicPublish::default()
    };
    assert_eq!(msg.method, expected_method.into());
    assert_eq!(
        msg.properties,
        BasicProperties {
            content_type: Some(s("text/plain")),
            delivery_mode: Some(2),
            ..BasicProperties::default()
        }
    );
    assert_eq!(msg.properties.flags(), 0x9000);
    assert_eq!(msg.body, "Hello World");
    let mut out = BytesMut::new();
    msg.encode(1, FRAME_MIN_SIZE, &mut out).unwrap();
    assert_eq!(&out[..], &wire[..]);
}

/// Encodes `m` and returns its argument bytes (after the ids).
fn args(m: impl Into<Method>) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.into().encode(&mut out).unwrap();
    out[4..].to_vec()
}

#[test]
fn bit_fields_pack_lsb_first_into_shared_octets() {
    // queue.declare: ticket, queue "", then passive durable exclusive auto-delete nowait, then
    // the arguments table.
    let declare = |f: fn(&mut QueueDeclare)| {
        let mut m = QueueDeclare::default();
        f(&mut m);
        args(m)
    };
    let layout = |bits: u8| [0, 0, 0, bits, 0, 0, 0, 0].to_vec();
    assert_eq!(declare(|_| {}), layout(0x00));
    assert_eq!(declare(|m| m.passive = true), layout(0x01));
    assert_eq!(declare(|m| m.durable = true), layout(0x02));
    assert_eq!(declare(|m| m.exclusive = true), layout(0x04));
    assert_eq!(declare(|m| m.auto_delete = true), layout(0x08));
    assert_eq!(declare(|m| m.nowait = true), layout(0x10));
    assert_eq!(
        declare(|m| {
            m.durable = true;
            m.auto_delete = true;
            m.nowait = true
        }),
        layout(0x1a)
    );

    // basic.publish: ticket, exchange, routing key, mandatory 0x01, immediate 0x02.
    let publish = |mandatory, immediate| {
        args(BasicPublish {
            mandatory,
            immediate,
            ..BasicPublish::default()
        })
    };
    assert_eq!(publish(true, false), [0, 0, 0, 0, 0x01]);
    assert_eq!(publish(false, true), [0, 0, 0, 0, 0x02]);
    assert_eq!(publish(true, true), [0, 0, 0, 0, 0x03]);

    // exchange.declare: passive durable auto-delete internal nowait after the type.
    let ex = ExchangeDeclare {
        exchange: s("e"),
        kind: s("topic"),
        durable: true,
        internal: true,
        ..ExchangeDeclare::default()
    };
    assert_eq!(args(ex), b"\x00\x00\x01e\x05topic\x0a\x00\x00\x00\x00");

    // basic.consume: no-local no-ack exclusive nowait.
    let consume = BasicConsume {
        no_ack: true,
        nowait: true,
        ..BasicConsume::default()
    };
    assert_eq!(args(consume), b"\x00\x00\x00\x00\x0a\x00\x00\x00\x00");

    // queue.delete: if-unused if-empty nowait.
    let delete = QueueDelete {
        if_empty: true,
        ..QueueDelete::default()
    };
    assert_eq!(args(delete), b"\x00\x00\x00\x02");

    // basic.nack: multiple 0x01, requeue 0x02 (requeue defaults to true).
    assert_eq!(
        args(BasicNack::default()),
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x02"
    );
    let nack = BasicNack {
        delivery_tag: 5,
        multiple: true,
        requeue: false,
    };
    assert_eq!(args(nack), b"\x00\x00\x00\x00\x00\x00\x00\x05\x01");

    // A lone bit between other fields takes an octet of its own.
    let deliver = BasicDeliver {
        consumer_tag: s("c"),
        delivery_tag: 1,
        redelivered: true,
        exchange: s("x"),
        routing_key: s("r"),
    };
    assert_eq!(
        args(deliver),
        b"\x01c\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01x\x01r"
    );
    let get_ok = BasicGetOk {
        redelivered: true,
        message_count: 3,
        ..BasicGetOk::default()
    };
    assert_eq!(
        args(get_ok),
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x03"
    );
    assert_eq!(args(ConfirmSelect { nowait: true }), b"\x01");

    // Reading sets exactly the flagged bits; unused high bits are ignored, as RabbitMQ does.
    let wire = W::new()
        .u16(50)
        .u16(10)
        .u16(0)
        .short("q")
        .u8(0xe4)
        .u32(0)
        .frame(1, 1);
    let Method::QueueDeclare(q) = method_of(&wire) else {
        panic!()
    };
    assert!(!q.passive && !q.durable && q.exclusive && !q.auto_delete && !q.nowait);
}

#[test]
fn the_spec_as_generated() {
    // Ids, names and flags as RabbitMQ's codegen JSON gives them (with its one oddity:
    // exchange.unbind-ok is 51, not 41).
    for (c, m, name) in [
        (10, 10, "connection.start"),
        (10, 71, "connection.update-secret-ok"),
        (20, 41, "channel.close-ok"),
        (40, 51, "exchange.unbind-ok"),
        (50, 10, "queue.declare"),
        (60, 40, "basic.publish"),
        (60, 100, "basic.recover-async"),
        (60, 120, "basic.nack"),
        (85, 10, "confirm.select"),
        (90, 31, "tx.rollback-ok"),
    ] {
        assert_eq!(method_name(c, m), Some(name));
    }
    assert_eq!(method_name(40, 41), None);
    assert_eq!(method_name(60, 0), None);
    let publish: Method = BasicPublish::default().into();
    assert_eq!(
        (
            publish.class_id(),
            publish.method_id(),
            publish.name(),
            publish.has_content(),
            publish.is_synchronous()
        ),
        (60, 40, "basic.publish", true, false)
    );
    assert_eq!(
        (
            BasicPublish::CLASS_ID,
            BasicPublish::METHOD_ID,
            BasicPublish::NAME
        ),
        (60, 40, "basic.publish")
    );
    let declare = |nowait| -> Method {
        QueueDeclare {
            nowait,
            ..QueueDeclare::default()
        }
        .into()
    };
    assert!(declare(false).is_synchronous());
    assert!(!declare(true).is_synchronous());
    assert!(!Method::from(BasicAck::default()).is_synchronous());
    assert!(Method::from(ConnectionStart::default()).is_synchronous());

    // Reply codes: the spec's soft and hard classes.
    let soft: Vec<u16> = ReplyCode::ALL
        .iter()
        .filter(|c| c.is_soft_error())
        .map(|c| c.code())
        .collect();
    let hard: Vec<u16> = ReplyCode::ALL
        .iter()
        .filter(|c| c.is_hard_error())
        .map(|c| c.code())
        .collect();
    assert_eq!(soft, [311, 312, 313, 403, 404, 405, 406]);
    assert_eq!(
        hard,
        [320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541]
    );
    assert_eq!(ReplyCode::from_code(404), Some(ReplyCode::NotFound));
    assert_eq!(ReplyCode::from_code(999), None);
    assert_eq!(ReplyCode::FrameError.text(), "FRAME_ERROR");
    assert_eq!(ReplyCode::NotFound.to_string(), "404 NOT_FOUND");
    assert!(!ReplyCode::ReplySuccess.is_hard_error() && !ReplyCode::ReplySuccess.is_soft_error());

    // Defaults are the spec's.
    let start = ConnectionStart::default();
    assert_eq!((start.version_major, start.version_minor), (0, 9));
    assert_eq!(
        (start.mechanisms.as_ref(), start.locales.as_ref()),
        (&b"PLAIN"[..], &b"en_US"[..])
    );
    assert_eq!(ExchangeDeclare::default().kind, "direct");
    assert!(BasicNack::default().requeue);
    assert_eq!(
        spindle_protocols::amqp::ConnectionOpen::default().virtual_host,
        "/"
    );
}

#[test]
fn errors_carry_rabbitmqs_reply_codes() {
    type Case = (Vec<u8>, AmqpError, ReplyCode);
    let cases: Vec<Case> = vec![
        (
            {
                let mut v = W::new().frame(8, 0);
                v[7] = 0;
                v
            },
            AmqpError::BadFrameEnd { found: 0 },
            ReplyCode::FrameError,
        ),
        (
            W::new().u16(60).u16(40).frame(1, 1),
            AmqpError::MalformedMethod {
                class_id: 60,
                method_id: 40,
                reason: Malformed::Truncated,
            },
            ReplyCode::FrameError,
        ),
        (
            W::new().u16(99).u16(1).frame(1, 1),
            AmqpError::UnknownMethod {
                class_id: 99,
                method_id: 1,
            },
            ReplyCode::NotImplemented,
        ),
        (
            W::new()
                .u16(50)
                .u16(10)
                .u16(0)
                .short("q")
                .u8(0)
                .table(W::new().short("k").u8(b'Q'))
                .frame(1, 1),
            AmqpError::MalformedMethod {
                class_id: 50,
                method_id: 10,
                reason: Malformed::UnknownFieldType { tag: b'Q' },
            },
            ReplyCode::FrameError,
        ),
        (
            W::new().u32(0).frame(7, 0),
            AmqpError::UnknownFrameType { frame_type: 7 },
            ReplyCode::FrameError,
        ),
        (
            W::new().frame(8, 2),
            AmqpError::HeartbeatOnChannel { channel: 2 },
            ReplyCode::UnexpectedFrame,
        ),
    ];
    for (wire, expected, code) in cases {
        let err = decode_one(&wire).unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(err.reply_code(), code);
        assert!(code.is_hard_error());
        let Method::ConnectionClose(close) = err.close_method() else {
            panic!("a hard error closes the connection")
        };
        assert_eq!(close.reply_code, code.code());
        assert_eq!((close.class_id, close.method_id), err.method_ids());
        assert!(close.reply_text.starts_with(code.text().as_bytes()));
    }

    // Oversize: refused from the 7 header bytes, the payload never buffered.
    let mut big = W::new().frame(3, 1);
    big[3..7].copy_from_slice(&(FRAME_MIN_SIZE - 7).to_be_bytes());
    let mut rx = FrameReceiver::new();
    rx.feed(&big[..7]);
    let err = rx.next_frame().unwrap().unwrap_err();
    assert_eq!(
        err,
        AmqpError::FrameTooLarge {
            size: u64::from(FRAME_MIN_SIZE) + 1,
            frame_max: FRAME_MIN_SIZE
        }
    );
    assert_eq!(err.reply_code(), ReplyCode::FrameError);
    assert!(err.is_framing_lost());
    assert_eq!(rx.buffered(), 0);

    let text = AmqpError::BadFrameEnd { found: 0x41 }.reply_text();
    assert_eq!(text, "FRAME_ERROR - frame end octet 0x41 instead of 0xce");
}

#[test]
fn reply_text_is_cut_to_a_short_string() {
    let err = AmqpError::ProtocolHeaderMismatch {
        received: Bytes::from(vec![0xffu8; 300]),
    };
    let text = err.reply_text();
    assert!(text.len() <= 255 && text.len() > 200);
    assert!(text.to_str().is_ok());
}

#[test]
fn shortstr_over_255_is_refused_before_encoding() {
    let long = "q".repeat(256);
    assert_eq!(
        ShortStr::try_from(long.as_str()),
        Err(EncodeError::ShortStrTooLong { len: 256 })
    );
    assert_eq!(ShortStr::try_from(&long[..255]).map(|s| s.len()), Ok(255));
    // Table nesting past the limit is refused on encode, and nothing is written.
    let mut t = FieldTable::new();
    for _ in 0..100 {
        let mut outer = FieldTable::new();
        outer.push(s("n"), FieldValue::Table(t));
        t = outer;
    }
    let declare: Method = QueueDeclare {
        arguments: t,
        ..QueueDeclare::default()
    }
    .into();
    let mut out = BytesMut::from(&b"before"[..]);
    assert!(matches!(
        frame::encode_method(1, &declare, &mut out),
        Err(EncodeError::TooDeep { .. })
    ));
    assert!(matches!(
        declare.encode(&mut out),
        Err(EncodeError::TooDeep { .. })
    ));
    assert_eq!(&out[..], b"before");
}

fn corpus(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/amqp")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The raw frames of a well-formed stream, cut by their size fields.
fn raw_frames(mut wire: &[u8]) -> Vec<&[u8]> {
    if wire.starts_with(b"AMQP") {
        wire = &wire[8..];
    }
    let mut frames = Vec::new();
    while !wire.is_empty() {
        let size = u32::from_be_bytes(wire[3..7].try_into().unwrap()) as usize;
        let (f, rest) = wire.split_at(size + FRAME_OVERHEAD);
        frames.push(f);
        wire = rest;
    }
    frames
}

/// What a server makes of a stream cut into `chunks`: the protocol header if the stream starts
/// with one, then frames, each handed to its channel's assembler.
fn run(chunks: &[&[u8]], with_header: bool) -> Vec<String> {
    let mut rx = FrameReceiver::new();
    let mut channels: HashMap<u16, ContentAssembler> = HashMap::new();
    let mut header = !with_header;
    let mut events = Vec::new();
    for chunk in chunks {
        rx.feed(chunk);
        if !header {
            match rx.next_protocol_header() {
                None => continue,
                Some(r) => {
                    events.push(format!("header {r:?}"));
                    header = true;
                }
            }
        }
        while let Some(f) = rx.next_frame() {
            let f = f.unwrap();
            let assembled = channels
                .entry(f.channel)
                .or_default()
                .handle(f.payload.clone())
                .unwrap();
            events.push(format!("{f:?} -> {assembled:?}"));
        }
    }
    events
}

#[test]
fn corpus_streams_decode_re_encode_and_ignore_cutting() {
    for (name, every_offset) in [
        ("handshake", true),
        ("tables", true),
        ("every_method", true),
        ("publish", false),
    ] {
        let wire = corpus(name);
        let with_header = wire.starts_with(&PROTOCOL_HEADER);
        let frames = raw_frames(&wire);
        // Each frame alone: decodes, re-encodes to the same bytes, and needs all its bytes.
        for raw in &frames {
            let f = decode_one(raw).unwrap().unwrap();
            assert_eq!(encode(&f), *raw, "{name}: {f:?}");
            for end in 0..raw.len() {
                assert_eq!(decode_one(&raw[..end]), Ok(None), "{name} cut at {end}");
            }
        }
        let whole = run(&[&wire], with_header);
        assert_eq!(
            whole.len(),
            frames.len() + usize::from(with_header),
            "{name}"
        );
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(
            run(&bytes, with_header),
            whole,
            "{name}, one byte at a time"
        );
        if every_offset {
            for at in 0..=wire.len() {
                let (a, b) = wire.split_at(at);
                assert_eq!(run(&[a, b], with_header), whole, "{name}, split at {at}");
            }
        } else {
            for at in (0..=wire.len()).step_by(97) {
                let (a, b) = wire.split_at(at);
                assert_eq!(run(&[a, b], with_header), whole, "{name}, split at {at}");
            }
        }
    }
}

#[test]
fn corpus_publish_assembles_every_message() {
    let wire = corpus("publish");
    let mut rx = FrameReceiver::new();
    rx.feed(&wire);
    let mut channels: HashMap<u16, ContentAssembler> = HashMap::new();
    let mut messages = Vec::new();
    while let Some(f) = rx.next_frame() {
        let f = f.unwrap();
        if let Some(Command::Message(m)) = channels
            .entry(f.channel)
            .or_default()
            .handle(f.payload)
            .unwrap()
        {
            messages.push(m);
        }
    }
    let summary: Vec<(&str, usize)> = messages
        .iter()
        .map(|m| (m.method.name(), m.body.len()))
        .collect();
    assert_eq!(
        summary,
        [
            ("basic.publish", 11),
            ("basic.publish", 10_000),
            ("basic.publish", 0),
            ("basic.deliver", 5),
            ("basic.get-ok", 3),
            ("basic.return", 2),
        ]
    );
    let every = &messages[1].properties;
    assert_eq!(every.flags(), 0xfffc);
    assert_eq!(every.kind, Some(s("order.created")));
    assert_eq!(every.timestamp, Some(1_700_000_000));
    let x_death = every
        .headers
        .as_ref()
        .and_then(|h| h.get("x-death"))
        .and_then(FieldValue::as_array)
        .unwrap();
    assert_eq!(
        x_death[0].as_table().and_then(|t| t.get("reason")),
        Some(&long_str("expired"))
    );
    assert_eq!(
        messages[1].body,
        (0..10_000).map(|i| (i % 251) as u8).collect::<Vec<_>>()
    );
    // Re-encoding the big message cuts the body where the corpus did.
    let mut out = BytesMut::new();
    encode_message(
        1,
        &messages[1].method,
        every,
        &messages[1].body,
        FRAME_MIN_SIZE,
        &mut out,
    )
    .unwrap();
    let start = raw_frames(&wire)[5..].concat();
    assert_eq!(&out[..], &start[..out.len()]);
}

#[test]
fn content_header_fields_round_trip() {
    let header = ContentHeader::new(
        42,
        BasicProperties {
            priority: Some(5),
            user_id: Some(s("guest")),
            ..BasicProperties::default()
        },
    );
    let f = Frame {
        channel: 9,
        payload: FramePayload::Header(Box::new(header.clone())),
    };
    let wire = encode(&f);
    assert_eq!(
        wire,
        W::new()
            .u16(60)
            .u16(0)
            .u64(42)
            .u16(0x0810)
            .u8(5)
            .short("guest")
            .frame(2, 9)
    );
    assert_eq!(decode_one(&wire), Ok(Some(f)));
    let mut props = BytesMut::new();
    header.properties.encode(&mut props).unwrap();
    assert_eq!(
        BasicProperties::decode(&mut props.freeze()),
        Ok(header.properties)
    );
    // A continuation word of zeros is accepted; one naming properties is not.
    let cont = W::new()
        .u16(60)
        .u16(0)
        .u64(0)
        .u16(0x8001)
        .u16(0)
        .short("t")
        .frame(2, 1);
    let Ok(Some(Frame {
        payload: FramePayload::Header(h),
        ..
    })) = decode_one(&cont)
    else {
        panic!()
    };
    assert_eq!(h.properties.content_type, Some(s("t")));
    let bad = W::new()
        .u16(60)
        .u16(0)
        .u64(0)
        .u16(0x0001)
        .u16(0x8000)
        .frame(2, 1);
    assert_eq!(
        decode_one(&bad),
        Err(AmqpError::MalformedHeader {
            class_id: 60,
            reason: Malformed::PropertyFlags { flags: 0x8000 }
        })
    );
    assert_eq!(FrameKind::Header.to_string(), "content header");
}
