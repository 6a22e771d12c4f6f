//! The client against scripted broker frames on a `StringTransport` (with its fake clock for
//! heartbeats): what it writes, byte for byte where it matters, and what the handler hears.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spindle_protocols::amqp::content::encode_message;
use spindle_protocols::amqp::frame::{encode_method, Frame};
use spindle_protocols::amqp::{
    BasicAck, BasicDeliver, BasicGetEmpty, BasicGetOk, BasicNack, BasicProperties, ChannelClose,
    ChannelCloseOk, ChannelOpenOk, ConfirmSelectOk, ConnectionBlocked, ConnectionClose,
    ConnectionCloseOk, ConnectionOpenOk, ConnectionStart, ConnectionTune, FieldValue, FramePayload,
    FrameReceiver, Method, QueueDeclareOk, ShortStr, PROTOCOL_HEADER,
};
use spindle_reactor::testing::StringTransport;
use spindle_reactor::{DisconnectReason, Protocol, Transport};

use super::*;

/// Records every event as a line; opens channel 1 on open when asked.
#[derive(Debug, Default)]
struct Recorder {
    events: Vec<String>,
    open_channel: bool,
    recover_channel_errors: bool,
}

impl ConnectionHandler for Recorder {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.events.push("open".into());
        if self.open_channel {
            conn.open_channel()?;
        }
        Ok(())
    }
    fn on_channel_open(&mut self, ch: &mut Channel<'_>) -> Result<(), ClientError> {
        self.events.push(format!("channel {} open", ch.id()));
        Ok(())
    }
    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        self.events.push(format!("{} {reply:?}", ch.id()));
        Ok(())
    }
    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        self.events
            .push(format!("deliver {} {:?}", d.delivery_tag, d.body));
        ch.ack(d.delivery_tag, false)
    }
    fn on_get(&mut self, _ch: &mut Channel<'_>, d: Option<Delivery>) -> Result<(), ClientError> {
        self.events.push(match d {
            Some(d) => format!(
                "get {} {:?} left {:?}",
                d.delivery_tag, d.body, d.message_count
            ),
            None => "get empty".into(),
        });
        Ok(())
    }
    fn on_confirm(
        &mut self,
        _ch: &mut Channel<'_>,
        seq: u64,
        acked: bool,
    ) -> Result<(), ClientError> {
        self.events.push(format!("confirm {seq} {acked}"));
        Ok(())
    }
    fn on_channel_error(
        &mut self,
        ch: &mut Channel<'_>,
        e: ServerError,
    ) -> Result<(), ClientError> {
        self.events.push(format!("channel {} error {e}", ch.id()));
        if self.recover_channel_errors {
            Ok(())
        } else {
            Err(ClientError::Server(e))
        }
    }
    fn on_writable(&mut self, _conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.events.push("writable".into());
        Ok(())
    }
    fn on_blocked(&mut self, reason: Option<&str>) {
        self.events.push(format!("blocked {reason:?}"));
    }
    fn on_closed(&mut self, result: Result<(), &ClientError>) {
        self.events.push(match result {
            Ok(()) => "closed".into(),
            Err(e) => format!("closed: {e}"),
        });
    }
}

fn method_bytes(channel: u16, method: impl Into<Method>) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_method(channel, &method.into(), &mut out).unwrap();
    out.to_vec()
}

/// Decodes what the client wrote (after the protocol header, if present).
fn frames(mut written: &[u8]) -> Vec<Frame> {
    if written.starts_with(&PROTOCOL_HEADER) {
        written = &written[8..];
    }
    let mut rx = FrameReceiver::new().with_frame_max(0);
    rx.feed(written);
    let mut out = Vec::new();
    while let Some(f) = rx.next_frame() {
        out.push(f.unwrap());
    }
    assert_eq!(rx.buffered(), 0, "a partial frame was written");
    out
}

fn methods(written: &[u8]) -> Vec<(u16, Method)> {
    frames(written)
        .into_iter()
        .filter_map(|f| match f.payload {
            FramePayload::Method(m) => Some((f.channel, m)),
            _ => None,
        })
        .collect()
}

fn tune(channel_max: u16, frame_max: u32, heartbeat: u16) -> ConnectionTune {
    ConnectionTune {
        channel_max,
        frame_max,
        heartbeat,
    }
}

type TestClient = Client<Recorder>;

/// A client through the handshake with the given tune; output so far cleared.
fn open_client(
    config: Config,
    tune: ConnectionTune,
    handler: Recorder,
) -> (TestClient, StringTransport) {
    let mut tx = StringTransport::new();
    let mut client = Client::new(config, handler);
    client.connection_made(&mut tx).unwrap();
    feed(
        &mut client,
        &mut tx,
        &method_bytes(0, ConnectionStart::default()),
    );
    feed(&mut client, &mut tx, &method_bytes(0, tune));
    feed(
        &mut client,
        &mut tx,
        &method_bytes(0, ConnectionOpenOk::default()),
    );
    tx.clear();
    (client, tx)
}

fn open_with_channel() -> (TestClient, StringTransport) {
    let handler = Recorder {
        open_channel: true,
        ..Recorder::default()
    };
    let (mut client, mut tx) = open_client(Config::default(), tune(2047, 131072, 60), handler);
    feed(
        &mut client,
        &mut tx,
        &method_bytes(1, ChannelOpenOk::default()),
    );
    tx.clear();
    (client, tx)
}

fn feed(client: &mut TestClient, tx: &mut StringTransport, data: &[u8]) {
    client.data_received(data, tx).unwrap();
}

fn events(client: &TestClient) -> Vec<String> {
    client.handler().unwrap().events.clone()
}

/// Runs `f` on channel `id` as if from inside a callback.
fn on_channel(
    client: &mut TestClient,
    tx: &mut StringTransport,
    id: u16,
    f: impl FnOnce(&mut Channel<'_>) -> Result<(), ClientError>,
) {
    client.with_conn(tx, |_, conn| f(&mut conn.channel(id)));
}

#[test]
fn the_handshake_byte_by_byte() {
    let mut tx = StringTransport::new();
    let uri = AmqpUri {
        user: "bob".into(),
        password: "s3cret".into(),
        vhost: "prod".into(),
        ..AmqpUri::default()
    };
    let mut client = Client::new(Config::new(uri), Recorder::default());
    client.connection_made(&mut tx).unwrap();
    assert_eq!(tx.take_written(), b"AMQP\x00\x00\x09\x01");

    let start = ConnectionStart {
        mechanisms: Bytes::from_static(b"AMQPLAIN PLAIN"),
        ..ConnectionStart::default()
    };
    for byte in method_bytes(0, start) {
        feed(&mut client, &mut tx, &[byte]);
    }
    let written = methods(&tx.take_written());
    let [(0, Method::ConnectionStartOk(start_ok))] = &written[..] else {
        panic!("expected start-ok, got {written:?}");
    };
    assert_eq!(start_ok.mechanism, "PLAIN");
    assert_eq!(&start_ok.response[..], b"\0bob\0s3cret");
    let props = &start_ok.client_properties;
    assert_eq!(props.get("product"), Some(&FieldValue::from("spindle")));
    let caps = props
        .get("capabilities")
        .and_then(FieldValue::as_table)
        .unwrap();
    for cap in [
        "publisher_confirms",
        "consumer_cancel_notify",
        "basic.nack",
        "connection.blocked",
    ] {
        assert_eq!(caps.get(cap), Some(&FieldValue::Bool(true)), "{cap}");
    }

    feed(
        &mut client,
        &mut tx,
        &method_bytes(0, tune(2047, 131072, 60)),
    );
    let written = tx.take_written();
    // tune-ok, byte for byte: type 1, channel 0, size 12, class 10 method 31,
    // channel-max 2047, frame-max 131072, heartbeat 60, frame end.
    let tune_ok: &[u8] =
        b"\x01\x00\x00\x00\x00\x00\x0c\x00\x0a\x00\x1f\x07\xff\x00\x02\x00\x00\x00\x3c\xce";
    assert_eq!(&written[..tune_ok.len()], tune_ok);
    let written = methods(&written);
    assert!(
        matches!(&written[..], [_, (0, Method::ConnectionOpen(o))] if o.virtual_host == "prod"),
        "{written:?}"
    );
    assert!(events(&client).is_empty());
    feed(
        &mut client,
        &mut tx,
        &method_bytes(0, ConnectionOpenOk::default()),
    );
    assert_eq!(events(&client), ["open"]);
}

#[test]
fn tuning_takes_the_smaller_non_zero_values() {
    // (server channel-max, frame-max, heartbeat), (ours), expected tune-ok
    type Tune = (u16, u32, u16);
    type Ours = (u16, u32, Option<u16>);
    let table: [(Tune, Ours, Tune); 6] = [
        ((2047, 131072, 60), (0, 0, None), (2047, 131072, 60)),
        ((2047, 131072, 60), (10, 8192, Some(120)), (10, 8192, 60)),
        ((2047, 131072, 60), (0, 0, Some(10)), (2047, 131072, 10)),
        ((2047, 131072, 60), (0, 0, Some(0)), (2047, 131072, 0)),
        ((0, 0, 0), (0, 0, Some(30)), (u16::MAX, 0, 30)),
        ((0, 0, 0), (100, 65536, None), (100, 65536, 0)),
    ];
    for (server, ours, want) in table {
        let config = Config {
            channel_max: ours.0,
            frame_max: ours.1,
            heartbeat: ours.2,
            ..Config::default()
        };
        let mut tx = StringTransport::new();
        let mut client = Client::new(config, Recorder::default());
        client.connection_made(&mut tx).unwrap();
        feed(
            &mut client,
            &mut tx,
            &method_bytes(0, ConnectionStart::default()),
        );
        tx.clear();
        feed(
            &mut client,
            &mut tx,
            &method_bytes(0, tune(server.0, server.1, server.2)),
        );
        let written = methods(tx.written());
        let Some((_, Method::ConnectionTuneOk(ok))) = written.first() else {
            panic!("{written:?}");
        };
        assert_eq!(
            (ok.channel_max, ok.frame_max, ok.heartbeat),
            want,
            "{server:?} {ours:?}"
        );
        assert_eq!(tx.pending_timers(), usize::from(want.2 > 0));
    }
}

#[test]
fn no_plain_mechanism_is_an_error() {
    let mut tx = StringTransport::new();
    let mut client = Client::new(Config::default(), Recorder::default());
    client.connection_made(&mut tx).unwrap();
    let start = ConnectionStart {
        mechanisms: Bytes::from_static(b"EXTERNAL"),
        ..ConnectionStart::default()
    };
    feed(&mut client, &mut tx, &method_bytes(0, start));
    assert!(tx.is_disconnecting());
    client.connection_lost(&DisconnectReason::Done, &mut tx);
    assert_eq!(
        events(&client),
        ["closed: the broker offers no PLAIN authentication (offers \"EXTERNAL\")"]
    );
}

#[test]
fn heartbeats_go_out_every_half_interval_and_silence_aborts() {
    let (mut client, mut tx) = open_client(Config::default(), tune(0, 0, 10), Recorder::default());
    let heartbeat: &[u8] = b"\x08\x00\x00\x00\x00\x00\x00\xce";
    tx.advance(&mut client, Duration::from_millis(4999))
        .unwrap();
    assert_eq!(tx.written(), b"");
    tx.advance(&mut client, Duration::from_millis(1)).unwrap();
    assert_eq!(tx.take_written(), heartbeat);
    // The broker's heartbeat keeps the connection alive past 20 s.
    for _ in 0..6 {
        tx.advance(&mut client, Duration::from_secs(5)).unwrap();
        feed(&mut client, &mut tx, heartbeat);
    }
    assert!(!tx.is_disconnecting());
    assert_eq!(tx.take_written(), heartbeat.repeat(6));
    // Then silence: two intervals (20 s) without a frame abort the connection.
    tx.advance(&mut client, Duration::from_secs(15)).unwrap();
    assert!(!tx.is_disconnecting());
    tx.advance(&mut client, Duration::from_secs(5)).unwrap();
    assert!(tx.is_aborted());
    client.connection_lost(&DisconnectReason::Aborted, &mut tx);
    assert_eq!(
        events(&client).last().unwrap(),
        "closed: missed heartbeats: no frame from the broker for 20s"
    );
}

#[test]
fn server_connection_close_is_answered_and_reported() {
    let (mut client, mut tx) = open_with_channel();
    let close = ConnectionClose {
        reply_code: 320,
        reply_text: ShortStr::from_static("CONNECTION_FORCED - broker forced connection closure"),
        class_id: 0,
        method_id: 0,
    };
    feed(&mut client, &mut tx, &method_bytes(0, close));
    assert_eq!(tx.written(), method_bytes(0, ConnectionCloseOk));
    assert!(tx.is_disconnecting() && !tx.is_aborted());
    client.connection_lost(&DisconnectReason::Done, &mut tx);
    assert_eq!(
        events(&client).last().unwrap(),
        "closed: 320 CONNECTION_FORCED - broker forced connection closure"
    );
}

#[test]
fn our_close_waits_for_close_ok() {
    let (mut client, mut tx) = open_with_channel();
    client.with_conn(&mut tx, |_, conn| {
        conn.close();
        Ok(())
    });
    let written = methods(&tx.take_written());
    assert!(
        matches!(&written[..], [(0, Method::ConnectionClose(c))] if c.reply_code == 200),
        "{written:?}"
    );
    assert!(!tx.is_disconnecting());
    // A delivery crossing the close is dropped; then close-ok closes the socket.
    feed(
        &mut client,
        &mut tx,
        &method_bytes(1, ChannelOpenOk::default()),
    );
    feed(&mut client, &mut tx, &method_bytes(0, ConnectionCloseOk));
    assert!(tx.is_disconnecting());
    client.connection_lost(&DisconnectReason::Done, &mut tx);
    assert_eq!(events(&client), ["open", "channel 1 open", "closed"]);
}

#[test]
fn channel_close_from_the_broker_keeps_the_connection() {
    let (mut client, mut tx) = open_with_channel();
    client.handler_mut().unwrap().recover_channel_errors = true;
    on_channel(&mut client, &mut tx, 1, |ch| {
        ch.queue_declare(
            "missing",
            &QueueOptions {
                passive: true,
                ..QueueOptions::default()
            },
        )
    });
    tx.clear();
    let close = ChannelClose {
        reply_code: 404,
        reply_text: ShortStr::from_static("NOT_FOUND - no queue 'missing' in vhost '/'"),
        class_id: 50,
        method_id: 10,
    };
    feed(&mut client, &mut tx, &method_bytes(1, close));
    assert_eq!(tx.take_written(), method_bytes(1, ChannelCloseOk));
    assert!(!tx.is_disconnecting());
    assert_eq!(
        events(&client).last().unwrap(),
        "channel 1 error 404 NOT_FOUND - no queue 'missing' in vhost '/'"
    );
    // The channel is closed: commands on it are refused; it can be reopened.
    let mut refused = None;
    client.with_conn(&mut tx, |_, conn| {
        refused = conn.channel(1).qos(1).err();
        conn.channel(1).reopen()
    });
    assert_eq!(refused, Some(ClientError::ChannelNotOpen(1)));
    let written = methods(&tx.take_written());
    assert!(
        matches!(&written[..], [(1, Method::ChannelOpen(_))]),
        "{written:?}"
    );
    feed(
        &mut client,
        &mut tx,
        &method_bytes(1, ChannelOpenOk::default()),
    );
    assert_eq!(events(&client).last().unwrap(), "channel 1 open");
}

#[test]
fn an_unhandled_channel_error_closes_the_connection() {
    let (mut client, mut tx) = open_with_channel();
    let close = ChannelClose {
        reply_code: 406,
        reply_text: ShortStr::from_static("PRECONDITION_FAILED - inequivalent arg 'durable'"),
        class_id: 50,
        method_id: 10,
    };
    feed(&mut client, &mut tx, &method_bytes(1, close));
    let written = methods(&tx.take_written());
    assert!(
        matches!(
            &written[..],
            [
                (1, Method::ChannelCloseOk(_)),
                (0, Method::ConnectionClose(_))
            ]
        ),
        "{written:?}"
    );
    assert!(tx.is_disconnecting());
    client.connection_lost(&DisconnectReason::Done, &mut tx);
    assert_eq!(
        events(&client).last().unwrap(),
        "closed: 406 PRECONDITION_FAILED - inequivalent arg 'durable'"
    );
}

#[test]
fn publish_splits_the_body_by_frame_max() {
    let handler = Recorder {
        open_channel: true,
        ..Recorder::default()
    };
    let (mut client, mut tx) = open_client(Config::default(), tune(0, 4096, 0), handler);
    feed(
        &mut client,
        &mut tx,
        &method_bytes(1, ChannelOpenOk::default()),
    );
    tx.clear();
    let body: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let publish = Publish::to("ex", "key")
        .persistent()
        .content_type("text/plain");
    on_channel(&mut client, &mut tx, 1, |ch| {
        ch.publish(&publish, &body).map(|_| ())
    });
    let written = tx.take_written();
    let frames = frames(&written);
    let sizes: Vec<usize> = frames
        .iter()
        .filter_map(|f| match &f.payload {
            FramePayload::Body(b) => Some(b.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, [4088, 4088, 1824]);
    // Byte-identical to the codec's own encoding of the message.
    let mut expected = BytesMut::new();
    let properties = BasicProperties {
        delivery_mode: Some(2),
        content_type: Some(ShortStr::from_static("text/plain")),
        ..BasicProperties::default()
    };
    let method = spindle_protocols::amqp::BasicPublish {
        exchange: ShortStr::from_static("ex"),
        routing_key: ShortStr::from_static("key"),
        ..Default::default()
    };
    encode_message(1, &method.into(), &properties, &body, 4096, &mut expected).unwrap();
    assert_eq!(written, expected.to_vec());
}

#[test]
fn deliveries_are_assembled_from_frames_fed_byte_by_byte() {
    let (mut client, mut tx) = open_with_channel();
    let deliver = BasicDeliver {
        consumer_tag: ShortStr::from_static("spindle.1.1"),
        delivery_tag: 7,
        redelivered: false,
        exchange: ShortStr::new(),
        routing_key: ShortStr::from_static("q"),
    };
    let mut wire = BytesMut::new();
    let body = vec![b'x'; 300];
    encode_message(
        1,
        &deliver.into(),
        &BasicProperties::default(),
        &body,
        128,
        &mut wire,
    )
    .unwrap();
    for byte in wire.iter() {
        feed(&mut client, &mut tx, &[*byte]);
    }
    assert_eq!(
        events(&client).last().unwrap(),
        &format!("deliver 7 {:?}", Bytes::from(body))
    );
    // The handler's ack, byte for byte: class 60 method 80, tag 7, multiple false.
    assert_eq!(
        tx.take_written(),
        b"\x01\x00\x01\x00\x00\x00\x0d\x00\x3c\x00\x50\x00\x00\x00\x00\x00\x00\x00\x07\x00\xce"
    );
}

#[test]
fn get_reports_the_message_or_empty() {
    let (mut client, mut tx) = open_with_channel();
    on_channel(&mut client, &mut tx, 1, |ch| ch.get("q", false));
    let written = methods(&tx.take_written());
    assert!(
        matches!(&written[..], [(1, Method::BasicGet(g))] if g.queue == "q" && !g.no_ack),
        "{written:?}"
    );
    let get_ok = BasicGetOk {
        delivery_tag: 1,
        redelivered: false,
        exchange: ShortStr::new(),
        routing_key: ShortStr::from_static("q"),
        message_count: 4,
    };
    let mut wire = BytesMut::new();
    encode_message(
        1,
        &get_ok.into(),
        &BasicProperties::default(),
        b"hi",
        4096,
        &mut wire,
    )
    .unwrap();
    feed(&mut client, &mut tx, &wire);
    feed(
        &mut client,
        &mut tx,
        &method_bytes(1, BasicGetEmpty::default()),
    );
    let ev = events(&client);
    assert_eq!(
        ev[ev.len() - 2..],
        ["get 1 b\"hi\" left Some(4)", "get empty"]
    );
}

#[test]
fn replies_carry_the_server_named_queue() {
    let (mut client, mut tx) = open_with_channel();
    on_channel(&mut client, &mut tx, 1, |ch| {
        ch.queue_declare(
            "",
            &QueueOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueOptions::default()
            },
        )
    });
    let written = methods(&tx.take_written());
    assert!(
        matches!(&written[..], [(1, Method::QueueDeclare(q))] if q.queue.is_empty() && q.exclusive && q.auto_delete && !q.durable),
        "{written:?}"
    );
    let ok = QueueDeclareOk {
        queue: ShortStr::from_static("amq.gen-abc"),
        message_count: 0,
        consumer_count: 0,
    };
    feed(&mut client, &mut tx, &method_bytes(1, ok));
    assert_eq!(
        events(&client).last().unwrap(),
        "1 QueueDeclared { queue: \"amq.gen-abc\", message_count: 0, consumer_count: 0 }"
    );
}

#[test]
fn confirms_are_matched_to_publishes() {
    let (mut client, mut tx) = open_with_channel();
    let mut seqs = Vec::new();
    on_channel(&mut client, &mut tx, 1, |ch| {
        assert_eq!(ch.publish(&Publish::to("", "q"), b"before")?, None);
        ch.confirm_select()?;
        for _ in 0..4 {
            seqs.push(ch.publish(&Publish::to("", "q"), b"m")?);
        }
        assert_eq!(ch.unconfirmed(), 4);
        Ok(())
    });
    assert_eq!(seqs, [Some(1), Some(2), Some(3), Some(4)]);
    feed(&mut client, &mut tx, &method_bytes(1, ConfirmSelectOk));
    let ack = |tag, multiple| BasicAck {
        delivery_tag: tag,
        multiple,
    };
    feed(&mut client, &mut tx, &method_bytes(1, ack(2, false)));
    feed(&mut client, &mut tx, &method_bytes(1, ack(3, true)));
    let nack = BasicNack {
        delivery_tag: 4,
        multiple: false,
        requeue: false,
    };
    feed(&mut client, &mut tx, &method_bytes(1, nack));
    let ev = events(&client);
    assert_eq!(
        ev[ev.len() - 5..],
        [
            "1 ConfirmSelected",
            "confirm 2 true",
            "confirm 1 true",
            "confirm 3 true",
            "confirm 4 false"
        ]
    );
}

#[test]
fn publishing_stops_while_paused_and_resumes_with_on_writable() {
    let (mut client, mut tx) = open_with_channel();
    client.pause_producing(&mut tx).unwrap();
    assert!(
        !tx.is_reading_paused(),
        "acks and heartbeats must keep flowing"
    );
    let mut result = None;
    on_channel(&mut client, &mut tx, 1, |ch| {
        result = Some(ch.publish(&Publish::to("", "q"), b"m"));
        Ok(())
    });
    assert_eq!(result, Some(Err(ClientError::Paused)));
    assert_eq!(tx.written(), b"", "nothing is queued while paused");
    client.resume_producing(&mut tx).unwrap();
    assert_eq!(events(&client).last().unwrap(), "writable");

    // connection.blocked from the broker pauses publishing the same way.
    let blocked = ConnectionBlocked {
        reason: ShortStr::from_static("low on memory"),
    };
    feed(&mut client, &mut tx, &method_bytes(0, blocked));
    on_channel(&mut client, &mut tx, 1, |ch| {
        result = Some(ch.publish(&Publish::to("", "q"), b"m"));
        Ok(())
    });
    assert_eq!(result, Some(Err(ClientError::Paused)));
    feed(
        &mut client,
        &mut tx,
        &method_bytes(0, spindle_protocols::amqp::ConnectionUnblocked),
    );
    let ev = events(&client);
    assert_eq!(
        ev[ev.len() - 3..],
        [
            "blocked Some(\"low on memory\")",
            "blocked None",
            "writable"
        ]
    );
}

#[test]
fn a_frame_on_an_unopened_channel_closes_with_505() {
    let (mut client, mut tx) = open_with_channel();
    feed(
        &mut client,
        &mut tx,
        &method_bytes(9, ChannelOpenOk::default()),
    );
    let written = methods(&tx.take_written());
    assert!(
        matches!(&written[..], [(0, Method::ConnectionClose(c))] if c.reply_code == 505),
        "{written:?}"
    );
    assert!(tx.is_disconnecting());
}

#[test]
fn a_lost_socket_during_the_handshake_suggests_credentials() {
    let mut tx = StringTransport::new();
    let mut client = Client::new(Config::default(), Recorder::default());
    client.connection_made(&mut tx).unwrap();
    feed(
        &mut client,
        &mut tx,
        &method_bytes(0, ConnectionStart::default()),
    );
    client.connection_lost(&DisconnectReason::Done, &mut tx);
    let ev = events(&client);
    assert!(
        ev[0].starts_with("closed: connection lost: ")
            && ev[0].ends_with("(wrong credentials or vhost?)"),
        "{ev:?}"
    );
}

#[test]
fn a_refused_connection_names_the_address_tried() {
    // A port nothing listens on: bound by the system, then closed again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = AmqpUri {
        host: "127.0.0.1".into(),
        port,
        ..AmqpUri::default()
    };
    let error = run(Config::new(uri), Recorder::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("cannot connect to 127.0.0.1:{port}: connection refused")
    );
    assert_eq!(error.hint(), Some(BROKER_HINT));
}
