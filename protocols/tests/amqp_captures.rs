//! The AMQP codec on real traffic: pika 1.3.2 talking to RabbitMQ 3.10.8, both directions,
//! captured once by `protocols/gen/capture_amqp.py` (a relay between the two) and committed
//! under `tests/fixtures/amqp/` as `<scenario>.client.bin` (from the protocol header on) and
//! `<scenario>.server.bin`.
//!
//! Every stream decodes to the same frames whole and one byte at a time, leaves nothing over,
//! keeps to the negotiated frame-max, and re-encodes byte for byte. Each scenario then checks
//! the values in it: what pika sent (every basic property, a headers table of every type pika
//! can encode) and what RabbitMQ answered. The server's values that vary per run (its cluster
//! name, its version) are those of the committed capture; re-running the script means updating
//! them here.

use std::collections::HashMap;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use spindle_protocols::amqp::content::encode_message;
use spindle_protocols::amqp::frame::{self, FRAME_OVERHEAD};
use spindle_protocols::amqp::{
    BasicProperties, Command, ContentAssembler, Decimal, FieldTable, FieldValue, Frame,
    FramePayload, FrameReceiver, Message, Method, ShortStr, PROTOCOL_HEADER,
};

const SCENARIOS: [&str; 4] = ["publish_get", "consume", "large_body", "confirms"];

/// One captured direction: its bytes, its frames, and what they assemble to per channel.
struct Stream {
    name: String,
    frames: Vec<Frame>,
    commands: Vec<(u16, Command)>,
}

impl Stream {
    /// The methods and messages in order, one line each: `channel name` (messages: `+ body
    /// length`).
    fn summary(&self) -> Vec<String> {
        self.commands
            .iter()
            .map(|(ch, c)| match c {
                Command::Method(m) => format!("{ch} {}", m.name()),
                Command::Message(m) => format!("{ch} {} + {}", m.method.name(), m.body.len()),
            })
            .collect()
    }

    fn methods(&self) -> impl Iterator<Item = &Method> {
        self.commands.iter().filter_map(|(_, c)| match c {
            Command::Method(m) => Some(m),
            Command::Message(_) => None,
        })
    }

    fn messages(&self) -> Vec<&Message> {
        self.commands
            .iter()
            .filter_map(|(_, c)| match c {
                Command::Message(m) => Some(m),
                Command::Method(_) => None,
            })
            .collect()
    }

    /// The payload sizes of the body frames, in order.
    fn body_frame_sizes(&self) -> Vec<usize> {
        self.frames
            .iter()
            .filter_map(|f| match &f.payload {
                FramePayload::Body(b) => Some(b.len()),
                _ => None,
            })
            .collect()
    }

    /// The bytes of the content header frames, in order.
    fn header_frames(&self) -> Vec<Vec<u8>> {
        self.frames
            .iter()
            .filter(|f| matches!(f.payload, FramePayload::Header(_)))
            .map(encoded)
            .collect()
    }
}

fn capture(file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/amqp")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run protocols/gen/capture_amqp.py)",
            path.display()
        )
    })
}

fn encoded(f: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame::encode(f, &mut out).unwrap();
    out.to_vec()
}

/// Decodes `chunks` as one stream (the client's starts with the protocol header): the frames,
/// after checking that no bytes are left over.
fn decode(name: &str, chunks: &[&[u8]], client: bool) -> Vec<Frame> {
    let mut rx = FrameReceiver::new().with_frame_max(0);
    let mut header_seen = !client;
    let mut frames = Vec::new();
    for chunk in chunks {
        rx.feed(chunk);
        if !header_seen {
            match rx.next_protocol_header() {
                None => continue,
                Some(r) => {
                    r.unwrap();
                    header_seen = true;
                }
            }
        }
        while let Some(f) = rx.next_frame() {
            frames.push(f.unwrap_or_else(|e| panic!("{name}: {e}")));
        }
    }
    assert!(header_seen, "{name}: no protocol header");
    assert_eq!(rx.buffered(), 0, "{name}: bytes left after the last frame");
    frames
}

/// Loads one side of a scenario and checks what every stream must satisfy: the same frames
/// whole and byte by byte, and the same bytes re-encoded.
fn load(scenario: &str, side: &str) -> Stream {
    let name = format!("{scenario}.{side}.bin");
    let wire = capture(&name);
    let client = side == "client";
    if client {
        assert_eq!(wire[..8], PROTOCOL_HEADER, "{name}");
    }
    let frames = decode(&name, &[&wire], client);
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(
        decode(&name, &bytes, client),
        frames,
        "{name}, one byte at a time"
    );

    let mut again = BytesMut::new();
    if client {
        frame::encode_protocol_header(&mut again);
    }
    for f in &frames {
        frame::encode(f, &mut again).unwrap();
    }
    if again[..] != wire[..] {
        let at = again.iter().zip(&wire).position(|(a, b)| a != b);
        panic!(
            "{name}: re-encoded {} bytes for {} captured, first difference at {at:?}",
            again.len(),
            wire.len()
        );
    }

    let mut channels: HashMap<u16, ContentAssembler> = HashMap::new();
    let mut commands = Vec::new();
    for f in &frames {
        let assembled = channels
            .entry(f.channel)
            .or_default()
            .handle(f.payload.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(c) = assembled {
            commands.push((f.channel, c));
        }
    }
    assert!(
        channels.values().all(ContentAssembler::is_idle),
        "{name}: a message is incomplete"
    );
    Stream {
        name,
        frames,
        commands,
    }
}

fn s(v: &str) -> ShortStr {
    ShortStr::try_from(v).unwrap()
}

fn long(v: &str) -> FieldValue {
    FieldValue::LongStr(Bytes::copy_from_slice(v.as_bytes()))
}

fn table(entries: Vec<(&str, FieldValue)>) -> FieldTable {
    entries.into_iter().map(|(k, v)| (s(k), v)).collect()
}

fn connection_tune_ok(client: &Stream) -> (u16, u32, u16) {
    client
        .methods()
        .find_map(|m| match m {
            Method::ConnectionTuneOk(t) => Some((t.channel_max, t.frame_max, t.heartbeat)),
            _ => None,
        })
        .unwrap()
}

#[test]
fn every_capture_decodes_whole_and_byte_by_byte_and_re_encodes_byte_for_byte() {
    for scenario in SCENARIOS {
        let client = load(scenario, "client");
        let server = load(scenario, "server");
        // Both sides keep to the frame-max pika settled on in connection.tune-ok.
        let (_, frame_max, _) = connection_tune_ok(&client);
        for stream in [&client, &server] {
            for f in &stream.frames {
                let size = encoded(f).len();
                assert!(size <= frame_max as usize, "{}: {size}", stream.name);
            }
        }
        // Every scenario ends with pika closing its channel, then the connection.
        let client_end = &client.summary()[client.commands.len() - 2..];
        assert_eq!(client_end, ["1 channel.close", "0 connection.close"]);
        let server_end = &server.summary()[server.commands.len() - 2..];
        assert_eq!(server_end, ["1 channel.close-ok", "0 connection.close-ok"]);
        for stream in [&client, &server] {
            let (_, last) = stream.commands.last().unwrap();
            if let Command::Method(Method::ConnectionClose(close)) = last {
                assert_eq!(close.reply_code, 200);
                assert_eq!(close.reply_text, "Normal shutdown");
                assert_eq!((close.class_id, close.method_id), (0, 0));
            }
        }
    }
}

#[test]
fn the_handshake_as_pika_and_rabbitmq_make_it() {
    let client = load("publish_get", "client");
    let server = load("publish_get", "server");
    let handshake = |stream: &Stream| stream.summary()[..4].to_vec();
    assert_eq!(
        handshake(&server),
        [
            "0 connection.start",
            "0 connection.tune",
            "0 connection.open-ok",
            "1 channel.open-ok"
        ]
    );
    assert_eq!(
        handshake(&client),
        [
            "0 connection.start-ok",
            "0 connection.tune-ok",
            "0 connection.open",
            "1 channel.open"
        ]
    );

    let Command::Method(Method::ConnectionStart(start)) = &server.commands[0].1 else {
        unreachable!()
    };
    assert_eq!((start.version_major, start.version_minor), (0, 9));
    assert_eq!(start.mechanisms, "AMQPLAIN PLAIN");
    assert_eq!(start.locales, "en_US");
    let props = &start.server_properties;
    assert_eq!(props.get("product"), Some(&long("RabbitMQ")));
    assert_eq!(props.get("version"), Some(&long("3.10.8")));
    assert_eq!(props.get("platform"), Some(&long("Erlang/OTP 25.2.3")));
    let names: Vec<String> = props.iter().map(|(k, _)| k.to_string()).collect();
    assert_eq!(
        names,
        [
            "capabilities",
            "cluster_name",
            "copyright",
            "information",
            "platform",
            "product",
            "version"
        ]
    );
    let capabilities = props.get("capabilities").and_then(FieldValue::as_table);
    let expected: FieldTable = [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ]
    .into_iter()
    .map(|k| (s(k), FieldValue::Bool(true)))
    .collect();
    assert_eq!(capabilities, Some(&expected));

    let Command::Method(Method::ConnectionStartOk(start_ok)) = &client.commands[0].1 else {
        unreachable!()
    };
    assert_eq!(start_ok.mechanism, "PLAIN");
    assert_eq!(start_ok.response, "\0guest\0guest");
    assert_eq!(start_ok.locale, "en_US");
    let pika_capabilities: FieldTable = [
        "authentication_failure_close",
        "basic.nack",
        "connection.blocked",
        "consumer_cancel_notify",
        "publisher_confirms",
    ]
    .into_iter()
    .map(|k| (s(k), FieldValue::Bool(true)))
    .collect();
    assert_eq!(
        start_ok.client_properties,
        table(vec![
            ("product", long("Pika Python Client Library")),
            ("platform", long("Python 3.11.7")),
            ("capabilities", FieldValue::Table(pika_capabilities)),
            ("information", long("See http://pika.rtfd.org")),
            ("version", long("1.3.2")),
            ("connection_name", long("capture_amqp.py")),
        ])
    );

    let tune = server.methods().find_map(|m| match m {
        Method::ConnectionTune(t) => Some((t.channel_max, t.frame_max, t.heartbeat)),
        _ => None,
    });
    assert_eq!(tune, Some((2047, 131_072, 60)));
    assert_eq!(connection_tune_ok(&client), (2047, 131_072, 60));
    let open = client.methods().find_map(|m| match m {
        Method::ConnectionOpen(o) => Some(o.clone()),
        _ => None,
    });
    let open = open.unwrap();
    assert_eq!(open.virtual_host, "/");
    // pika sets the deprecated insist bit.
    assert!(open.insist);
}

/// The headers table `capture_amqp.py` publishes (`RICH_HEADERS`), as pika 1.3.2 encodes it.
fn pika_rich_headers() -> FieldTable {
    table(vec![
        ("string", long("hello, wörld")),
        ("empty-string", long("")),
        // Python bytes: a byte array.
        (
            "bytes",
            FieldValue::ByteArray(Bytes::from_static(b"\x00\x01\xfe\xff")),
        ),
        ("true", FieldValue::Bool(true)),
        ("false", FieldValue::Bool(false)),
        // A Python int that fits 32 bits is `I`; a larger one `l`.
        ("int", FieldValue::I32(42)),
        ("negative-int", FieldValue::I32(-7)),
        ("int32-max", FieldValue::I32(i32::MAX)),
        ("int32-min", FieldValue::I32(i32::MIN)),
        ("long", FieldValue::I64(1 << 40)),
        ("long-max", FieldValue::I64(i64::MAX)),
        // A negative Python int below -2^31: `L`, signed, which RabbitMQ reads as `l`.
        ("negative-long", FieldValue::I64L(-(1 << 40))),
        (
            "decimal",
            FieldValue::Decimal(Decimal {
                scale: 2,
                value: 314,
            }),
        ),
        // pika packs a decimal's value signed (-5); RabbitMQ, and this codec, read the
        // octets unsigned. The bytes survive either way.
        (
            "negative-decimal",
            FieldValue::Decimal(Decimal {
                scale: 1,
                value: (-5i32) as u32,
            }),
        ),
        // datetime(2023, 11, 14, 22, 13, 20), UTC.
        ("timestamp", FieldValue::Timestamp(1_700_000_000)),
        ("void", FieldValue::Void),
        (
            "table",
            FieldValue::Table(table(vec![
                ("nested", long("yes")),
                (
                    "deeper",
                    FieldValue::Table(table(vec![
                        ("n", FieldValue::I32(1)),
                        (
                            "list",
                            FieldValue::Array(vec![FieldValue::I32(1), FieldValue::I32(2)]),
                        ),
                    ])),
                ),
            ])),
        ),
        ("empty-table", FieldValue::Table(FieldTable::new())),
        (
            "array",
            FieldValue::Array(vec![
                FieldValue::I32(1),
                long("two"),
                FieldValue::Bool(true),
                FieldValue::Void,
                FieldValue::ByteArray(Bytes::from_static(b"\xff")),
                FieldValue::Array(vec![FieldValue::I32(3), long("four")]),
                FieldValue::Table(table(vec![("k", long("v"))])),
                FieldValue::Decimal(Decimal {
                    scale: 1,
                    value: 15,
                }),
            ]),
        ),
        ("empty-array", FieldValue::Array(Vec::new())),
    ])
}

#[test]
fn a_publish_with_every_property_and_every_header_type_pika_sends() {
    let client = load("publish_get", "client");
    let server = load("publish_get", "server");
    assert_eq!(
        client.summary()[4..],
        [
            "1 queue.declare",
            "1 basic.publish + 29",
            "1 basic.get",
            "1 queue.delete",
            "1 channel.close",
            "0 connection.close"
        ]
    );
    assert_eq!(
        server.summary()[4..],
        [
            "1 queue.declare-ok",
            "1 basic.get-ok + 29",
            "1 queue.delete-ok",
            "1 channel.close-ok",
            "0 connection.close-ok"
        ]
    );
    let Some(Method::QueueDeclare(declare)) = client.methods().nth(4) else {
        unreachable!()
    };
    assert_eq!(declare.queue, "capture.publish_get");
    assert!(!declare.durable && !declare.exclusive && !declare.auto_delete && !declare.passive);
    assert_eq!(
        declare.arguments,
        table(vec![
            ("x-max-length", FieldValue::I32(100)),
            ("x-queue-mode", long("default")),
        ])
    );

    let expected = BasicProperties {
        content_type: Some(s("application/json")),
        content_encoding: Some(s("utf-8")),
        headers: Some(pika_rich_headers()),
        delivery_mode: Some(2),
        priority: Some(5),
        correlation_id: Some(s("corr-42")),
        reply_to: Some(s("replies")),
        expiration: Some(s("60000")),
        message_id: Some(s("msg-0001")),
        timestamp: Some(1_700_000_000),
        kind: Some(s("order.created")),
        user_id: Some(s("guest")),
        app_id: Some(s("capture_amqp.py")),
        cluster_id: Some(s("cluster-a")),
    };
    assert_eq!(expected.flags(), 0xfffc, "every property is set");
    let body = br#"{"order": 42, "item": "pika"}"#;

    let [publish] = client.messages()[..] else {
        unreachable!()
    };
    let Method::BasicPublish(p) = &publish.method else {
        unreachable!()
    };
    assert_eq!(
        (p.exchange.as_bytes(), p.routing_key.as_bytes()),
        (&b""[..], &b"capture.publish_get"[..])
    );
    assert!(!p.mandatory && !p.immediate);
    assert_eq!(publish.properties, expected);
    assert_eq!(publish.body, &body[..]);

    // RabbitMQ hands the message back with the same properties; in fact with the very bytes
    // of the content header pika sent (it keeps them and does not re-encode).
    let [got] = server.messages()[..] else {
        unreachable!()
    };
    let Method::BasicGetOk(get_ok) = &got.method else {
        unreachable!()
    };
    assert_eq!(get_ok.delivery_tag, 1);
    assert!(!get_ok.redelivered);
    assert_eq!(get_ok.exchange, "");
    assert_eq!(get_ok.routing_key, "capture.publish_get");
    assert_eq!(get_ok.message_count, 0);
    assert_eq!(got.properties, expected);
    assert_eq!(got.body, &body[..]);
    assert_eq!(client.header_frames(), server.header_frames());
}

#[test]
fn get_consume_deliver_ack_cancel_and_get_empty() {
    let client = load("consume", "client");
    let server = load("consume", "server");
    assert_eq!(
        client.summary()[4..],
        [
            "1 queue.declare",
            "1 basic.publish + 5",
            "1 basic.publish + 6",
            "1 basic.get",
            "1 basic.ack",
            "1 basic.qos",
            "1 basic.consume",
            "1 basic.ack",
            "1 basic.cancel",
            "1 basic.get",
            "1 queue.delete",
            "1 channel.close",
            "0 connection.close"
        ]
    );
    assert_eq!(
        server.summary()[4..],
        [
            "1 queue.declare-ok",
            "1 basic.get-ok + 5",
            "1 basic.qos-ok",
            "1 basic.consume-ok",
            "1 basic.deliver + 6",
            "1 basic.cancel-ok",
            "1 basic.get-empty",
            "1 queue.delete-ok",
            "1 channel.close-ok",
            "0 connection.close-ok"
        ]
    );
    let text_plain = BasicProperties {
        content_type: Some(s("text/plain")),
        ..BasicProperties::default()
    };
    let published: Vec<(&[u8], &BasicProperties)> = client
        .messages()
        .iter()
        .map(|m| (&m.body[..], &m.properties))
        .collect();
    assert_eq!(
        published,
        [(&b"first"[..], &text_plain), (&b"second"[..], &text_plain)]
    );

    let client_methods: Vec<&Method> = client.methods().collect();
    let acks: Vec<(u64, bool)> = client_methods
        .iter()
        .filter_map(|m| match m {
            Method::BasicAck(a) => Some((a.delivery_tag, a.multiple)),
            _ => None,
        })
        .collect();
    assert_eq!(acks, [(1, false), (2, false)]);
    let Some(Method::BasicQos(qos)) = client_methods.iter().find(|m| m.name() == "basic.qos")
    else {
        unreachable!()
    };
    assert_eq!(
        (qos.prefetch_size, qos.prefetch_count, qos.global),
        (0, 10, false)
    );
    let Some(Method::BasicConsume(consume)) =
        client_methods.iter().find(|m| m.name() == "basic.consume")
    else {
        unreachable!()
    };
    assert_eq!(consume.queue, "capture.consume");
    assert_eq!(consume.consumer_tag, "capture-consumer");
    assert!(!consume.no_ack && !consume.exclusive && !consume.no_local && !consume.nowait);
    assert!(consume.arguments.is_empty());

    let [get_ok, deliver] = server.messages()[..] else {
        unreachable!()
    };
    let Method::BasicGetOk(g) = &get_ok.method else {
        unreachable!()
    };
    assert_eq!((g.delivery_tag, g.message_count), (1, 1));
    assert_eq!(get_ok.body, "first");
    assert_eq!(get_ok.properties, text_plain);
    let Method::BasicDeliver(d) = &deliver.method else {
        unreachable!()
    };
    assert_eq!(d.consumer_tag, "capture-consumer");
    assert_eq!(d.delivery_tag, 2);
    assert!(!d.redelivered);
    assert_eq!(
        (d.exchange.as_bytes(), d.routing_key.as_bytes()),
        (&b""[..], &b"capture.consume"[..])
    );
    assert_eq!(deliver.body, "second");
    assert_eq!(deliver.properties, text_plain);
    let cancel_ok = server.methods().find_map(|m| match m {
        Method::BasicCancelOk(c) => Some(c.consumer_tag.clone()),
        _ => None,
    });
    assert_eq!(cancel_ok, Some(s("capture-consumer")));
    let get_empty = server.methods().find_map(|m| match m {
        Method::BasicGetEmpty(e) => Some(e.cluster_id.clone()),
        _ => None,
    });
    assert_eq!(get_empty, Some(ShortStr::new()));
}

#[test]
fn a_body_over_frame_max_splits_and_reassembles() {
    let client = load("large_body", "client");
    let server = load("large_body", "server");
    // pika asked for 4096 (RabbitMQ offered 131072), so both sides cut the 10,000 bytes into
    // 4096 - 8 byte frames.
    let server_tune = server.methods().find_map(|m| match m {
        Method::ConnectionTune(t) => Some(t.frame_max),
        _ => None,
    });
    assert_eq!(server_tune, Some(131_072));
    assert_eq!(connection_tune_ok(&client), (2047, 4096, 60));
    let piece = 4096 - FRAME_OVERHEAD;
    assert_eq!(
        client.body_frame_sizes(),
        [piece, piece, 10_000 - 2 * piece]
    );
    assert_eq!(
        server.body_frame_sizes(),
        [piece, piece, 10_000 - 2 * piece]
    );

    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let props = BasicProperties {
        message_id: Some(s("large")),
        ..BasicProperties::default()
    };
    for stream in [&client, &server] {
        let [message] = stream.messages()[..] else {
            unreachable!()
        };
        assert_eq!(message.body, body, "{}", stream.name);
        assert_eq!(message.properties, props, "{}", stream.name);
        // Our encoder cuts the message exactly where the peer did.
        let mut out = BytesMut::new();
        encode_message(
            1,
            &message.method,
            &message.properties,
            &message.body,
            4096,
            &mut out,
        )
        .unwrap();
        let first = stream
            .frames
            .iter()
            .position(|f| matches!(&f.payload, FramePayload::Method(m) if m.has_content()))
            .unwrap();
        let theirs: Vec<u8> = stream.frames[first..first + 5]
            .iter()
            .flat_map(encoded)
            .collect();
        assert_eq!(&out[..], &theirs[..], "{}", stream.name);
    }
}

#[test]
fn publisher_confirms_and_a_returned_mandatory_publish() {
    let client = load("confirms", "client");
    let server = load("confirms", "server");
    assert_eq!(
        client.summary()[4..],
        [
            "1 queue.declare",
            "1 confirm.select",
            "1 basic.publish + 11",
            "1 basic.publish + 11",
            "1 basic.publish + 11",
            "1 basic.publish + 10",
            "1 queue.delete",
            "1 channel.close",
            "0 connection.close"
        ]
    );
    assert_eq!(
        server.summary()[4..],
        [
            "1 queue.declare-ok",
            "1 confirm.select-ok",
            "1 basic.ack",
            "1 basic.ack",
            "1 basic.ack",
            "1 basic.return + 10",
            "1 basic.ack",
            "1 queue.delete-ok",
            "1 channel.close-ok",
            "0 connection.close-ok"
        ]
    );
    let select = client.methods().find_map(|m| match m {
        Method::ConfirmSelect(c) => Some(c.nowait),
        _ => None,
    });
    assert_eq!(select, Some(false));
    let bodies: Vec<&[u8]> = client.messages().iter().map(|m| &m.body[..]).collect();
    assert_eq!(
        bodies,
        [
            &b"confirmed 0"[..],
            b"confirmed 1",
            b"confirmed 2",
            b"unroutable"
        ]
    );
    let Method::BasicPublish(unroutable) = &client.messages()[3].method else {
        unreachable!()
    };
    assert!(unroutable.mandatory);
    assert_eq!(unroutable.routing_key, "capture.nowhere");

    let acks: Vec<(u64, bool)> = server
        .methods()
        .filter_map(|m| match m {
            Method::BasicAck(a) => Some((a.delivery_tag, a.multiple)),
            _ => None,
        })
        .collect();
    assert_eq!(acks, [(1, false), (2, false), (3, false), (4, false)]);
    let [returned] = server.messages()[..] else {
        unreachable!()
    };
    let Method::BasicReturn(r) = &returned.method else {
        unreachable!()
    };
    assert_eq!(
        (r.reply_code, r.reply_text.as_bytes()),
        (312, &b"NO_ROUTE"[..])
    );
    assert_eq!(
        (r.exchange.as_bytes(), r.routing_key.as_bytes()),
        (&b""[..], &b"capture.nowhere"[..])
    );
    assert_eq!(returned.body, "unroutable");
    assert_eq!(returned.properties, BasicProperties::default());
    let delete_ok = server.methods().find_map(|m| match m {
        Method::QueueDeleteOk(d) => Some(d.message_count),
        _ => None,
    });
    assert_eq!(
        delete_ok,
        Some(3),
        "the three confirmed messages were in the queue"
    );
}
