//! The connection driven in memory through the reactor's test doubles: a client's bytes go in
//! through [`Protocol::data_received`] on a [`StringTransport`], the server's answers come back
//! out decoded by the codec's [`FrameReceiver`].
//!
//! - Handshake and close tests: what a client meets on the way in (start, tune, open) and
//!   each refusal on the way (RabbitMQ's codes and words), heartbeats on a fake clock, closes
//!   both ways.
//! - A property test over hostile frame streams: a valid handshake (usually) and a run of valid
//!   channel frames, then damaged (bytes flipped, frames duplicated, dropped, reordered,
//!   length fields and end octets broken, unknown types, classes and methods, content bodies
//!   longer than their headers say or announced at 2^62 bytes), fed in random chunks. Whatever
//!   the bytes: no panic; what the server writes decodes, stays bounded, and closes with a hard
//!   code on `connection.close` and a soft one on `channel.close`, nothing after its
//!   `connection.close` but `close-ok`, heartbeats and that turn's publisher confirms (see
//!   [`check_output`]); the close timer ends a close the client never answers;
//!   the core forgets the connection once it is lost, and no queue holds more messages than
//!   the input published.
//!
//! `cargo test -p spindle-broker connection::tests` runs 2,000 cases; `SPINDLE_FUZZ_ITERS`
//! sets the count and `SPINDLE_FUZZ_SEED` the seed. A long run (ten minutes is about 7
//! million cases) is `SPINDLE_FUZZ_ITERS=7000000 cargo test --release -p spindle-broker
//! hostile_frame_streams -- --nocapture`; the test suite's `--include-ignored` then stays
//! short. A failing case is written to
//! `broker-fuzz-failure-<seed>-<case>.bin` in the temporary directory; kept in
//! `apps/broker/fuzz/corpus/` (one file per case, raw bytes), it is replayed by
//! [`corpus_replays`] from then on.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use spindle_protocols::amqp::content::encode_message;
use spindle_protocols::amqp::frame::{encode_heartbeat, encode_method};
use spindle_protocols::amqp::{
    BasicAck, BasicCancel, BasicConsume, BasicGet, BasicNack, BasicProperties, BasicPublish,
    BasicQos, BasicRecover, BasicReject, ChannelClose, ChannelCloseOk, ChannelFlow, ChannelOpen,
    ConfirmSelect, ConnectionClose, ConnectionCloseOk, ConnectionOpen, ConnectionStartOk,
    ConnectionTuneOk, ExchangeDeclare, FieldTable, FieldValue, Frame, FramePayload, FrameReceiver,
    Method, QueueBind, QueueDeclare, QueueDelete, QueuePurge, ReplyCode, ShortStr, TxCommit,
    TxRollback, TxSelect, PROTOCOL_HEADER,
};
use spindle_reactor::testing::StringTransport;
use spindle_reactor::{ConnId, DisconnectReason, Protocol, Transport};

use super::Connection;
use crate::config::BrokerConfig;
use crate::core::Broker;

// ---------------------------------------------------------------------------------------------
// A client in memory
// ---------------------------------------------------------------------------------------------

fn broker(config: BrokerConfig) -> Rc<RefCell<Broker>> {
    Rc::new(RefCell::new(Broker::new(config)))
}

fn s(text: &str) -> ShortStr {
    ShortStr::try_from(text).unwrap()
}

/// Guest may log in from loopback only, so the test clients come from there.
fn loopback() -> Option<SocketAddr> {
    Some(([127, 0, 0, 1], 40000).into())
}

/// One connection to the broker and the client's view of what it writes.
struct Client {
    conn: Connection,
    tx: StringTransport,
    rx: FrameReceiver,
}

impl Client {
    fn new(broker: &Rc<RefCell<Broker>>) -> Client {
        Client::with_id(broker, 1)
    }

    fn with_id(broker: &Rc<RefCell<Broker>>, index: u32) -> Client {
        let mut conn = Connection::new(broker.clone(), loopback());
        let mut tx = StringTransport::with_id(ConnId::from_parts(index, 1));
        conn.connection_made(&mut tx).unwrap();
        Client {
            conn,
            tx,
            rx: FrameReceiver::new().with_frame_max(0),
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.conn.data_received(bytes, &mut self.tx).unwrap();
    }

    fn send(&mut self, channel: u16, method: impl Into<Method>) {
        let mut wire = BytesMut::new();
        encode_method(channel, &method.into(), &mut wire).unwrap();
        self.feed(&wire);
    }

    fn publish(&mut self, channel: u16, publish: BasicPublish, body: &[u8]) {
        let mut wire = BytesMut::new();
        let props = BasicProperties::default();
        encode_message(channel, &publish.into(), &props, body, 4096, &mut wire).unwrap();
        self.feed(&wire);
    }

    /// The frames written since the last call.
    fn frames(&mut self) -> Vec<Frame> {
        let written = self.tx.take_written();
        self.rx.feed(&written);
        let mut frames = Vec::new();
        while let Some(frame) = self.rx.next_frame() {
            frames.push(frame.unwrap());
        }
        frames
    }

    /// The methods written since the last call, with their channels.
    fn methods(&mut self) -> Vec<(u16, Method)> {
        self.frames()
            .into_iter()
            .filter_map(|f| match f.payload {
                FramePayload::Method(m) => Some((f.channel, m)),
                _ => None,
            })
            .collect()
    }

    /// The one method written since the last call.
    fn method(&mut self) -> (u16, Method) {
        let mut methods = self.methods();
        assert_eq!(methods.len(), 1, "{methods:?}");
        methods.remove(0)
    }

    fn start_ok(&mut self, mechanism: &str, response: &[u8]) {
        self.send(
            0,
            ConnectionStartOk {
                mechanism: s(mechanism),
                response: Bytes::copy_from_slice(response),
                ..ConnectionStartOk::default()
            },
        );
    }

    /// Header, PLAIN guest/guest, tune-ok with `heartbeat`, open "/": every answer checked.
    fn handshake_with(&mut self, heartbeat: u16) {
        self.feed(&PROTOCOL_HEADER);
        assert!(matches!(self.method(), (0, Method::ConnectionStart(_))));
        self.start_ok("PLAIN", b"\0guest\0guest");
        assert!(matches!(self.method(), (0, Method::ConnectionTune(_))));
        self.send(
            0,
            ConnectionTuneOk {
                channel_max: 0,
                frame_max: 131_072,
                heartbeat,
            },
        );
        assert!(self.frames().is_empty());
        self.send(
            0,
            ConnectionOpen {
                virtual_host: s("/"),
                ..ConnectionOpen::default()
            },
        );
        assert!(matches!(self.method(), (0, Method::ConnectionOpenOk(_))));
    }

    fn handshake(&mut self) {
        self.handshake_with(0);
    }

    fn open_channel(&mut self, channel: u16) {
        self.send(channel, ChannelOpen::default());
        assert_eq!(self.method().0, channel);
    }

    fn lose(&mut self) {
        self.conn
            .connection_lost(&DisconnectReason::Done, &mut self.tx);
    }
}

/// The connection.close written, as (code, text, class, method).
fn connection_close(m: (u16, Method)) -> (u16, String, u16, u16) {
    match m {
        (0, Method::ConnectionClose(c)) => (
            c.reply_code,
            c.reply_text.to_string(),
            c.class_id,
            c.method_id,
        ),
        other => panic!("expected connection.close, got {other:?}"),
    }
}

fn channel_close(m: (u16, Method)) -> (u16, u16, String) {
    match m {
        (ch, Method::ChannelClose(c)) => (ch, c.reply_code, c.reply_text.to_string()),
        other => panic!("expected channel.close, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Handshake, refusals, heartbeats, closes
// ---------------------------------------------------------------------------------------------

#[test]
fn the_protocol_header_is_answered_with_connection_start() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    // In two pieces: nothing until all 8 bytes are in.
    c.feed(&PROTOCOL_HEADER[..5]);
    assert!(c.tx.written().is_empty());
    c.feed(&PROTOCOL_HEADER[5..]);
    let Method::ConnectionStart(start) = c.method().1 else {
        panic!("expected connection.start");
    };
    assert_eq!((start.version_major, start.version_minor), (0, 9));
    assert_eq!(start.mechanisms, "PLAIN AMQPLAIN");
    assert_eq!(start.locales, "en_US");
    let Some(FieldValue::Table(caps)) = start.server_properties.get("capabilities") else {
        panic!("no capabilities table: {:?}", start.server_properties);
    };
    for cap in [
        "publisher_confirms",
        "basic.nack",
        "consumer_cancel_notify",
        "authentication_failure_close",
        "per_consumer_qos",
    ] {
        assert_eq!(caps.get(cap), Some(&FieldValue::Bool(true)), "{cap}");
    }
    assert!(!c.tx.is_disconnecting());
}

#[test]
fn a_wrong_header_is_answered_with_ours_and_a_hang_up() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.feed(b"AMQP\x00\x00\x08\x00");
    assert_eq!(c.tx.written(), b"AMQP\x00\x00\x09\x01");
    assert!(c.tx.is_disconnecting());

    let mut c = Client::new(&b);
    c.feed(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(c.tx.written(), PROTOCOL_HEADER);
    assert!(c.tx.is_disconnecting());
}

#[test]
fn plain_guest_is_tuned_and_opens_the_default_vhost() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.feed(&PROTOCOL_HEADER);
    c.frames();
    c.start_ok("PLAIN", b"\0guest\0guest");
    let Method::ConnectionTune(tune) = c.method().1 else {
        panic!("expected connection.tune");
    };
    assert_eq!(
        (tune.channel_max, tune.frame_max, tune.heartbeat),
        (2047, 131_072, 60)
    );
    c.send(
        0,
        ConnectionTuneOk {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
        },
    );
    assert!(c.frames().is_empty());
    c.send(
        0,
        ConnectionOpen {
            virtual_host: s("/"),
            ..ConnectionOpen::default()
        },
    );
    assert!(matches!(c.method(), (0, Method::ConnectionOpenOk(_))));
    c.open_channel(1);
    assert!(!c.tx.is_disconnecting());
}

#[test]
fn amqplain_logs_in_too() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.feed(&PROTOCOL_HEADER);
    c.frames();
    // AMQPLAIN: a field table without its length prefix, LOGIN and PASSWORD long strings.
    let mut response = Vec::new();
    for (key, value) in [("LOGIN", "guest"), ("PASSWORD", "guest")] {
        response.push(key.len() as u8);
        response.extend(key.as_bytes());
        response.push(b'S');
        response.extend((value.len() as u32).to_be_bytes());
        response.extend(value.as_bytes());
    }
    c.start_ok("AMQPLAIN", &response);
    assert!(matches!(c.method(), (0, Method::ConnectionTune(_))));
}

#[test]
fn a_wrong_password_is_refused_in_rabbitmqs_words() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.feed(&PROTOCOL_HEADER);
    c.frames();
    c.start_ok("PLAIN", b"\0guest\0wrong");
    let (code, text, class, method) = connection_close(c.method());
    assert_eq!(code, 403);
    assert_eq!(
        text,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. \
         For details see the broker logfile."
    );
    assert_eq!((class, method), (10, 11));
    // Frames other than close-ok are ignored now; close-ok ends it.
    c.send(0, ConnectionTuneOk::default());
    assert!(c.frames().is_empty());
    assert!(!c.tx.is_disconnecting());
    c.send(0, ConnectionCloseOk {});
    assert!(c.tx.is_disconnecting());
}

#[test]
fn an_unknown_mechanism_is_refused() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.feed(&PROTOCOL_HEADER);
    c.frames();
    c.start_ok("EXTERNAL", b"");
    let (code, text, ..) = connection_close(c.method());
    assert_eq!(code, 403);
    assert!(text.contains("EXTERNAL"), "{text}");
}

#[test]
fn an_unknown_vhost_is_not_allowed() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.feed(&PROTOCOL_HEADER);
    c.frames();
    c.start_ok("PLAIN", b"\0guest\0guest");
    c.frames();
    c.send(0, ConnectionTuneOk::default());
    c.send(
        0,
        ConnectionOpen {
            virtual_host: s("nowhere"),
            ..ConnectionOpen::default()
        },
    );
    let (code, text, class, method) = connection_close(c.method());
    assert_eq!(code, 530);
    assert_eq!(
        text,
        "NOT_ALLOWED - access to vhost 'nowhere' refused for user 'guest'"
    );
    assert_eq!((class, method), (10, 40));
}

#[test]
fn frame_max_below_the_minimum_is_not_allowed() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.feed(&PROTOCOL_HEADER);
    c.frames();
    c.start_ok("PLAIN", b"\0guest\0guest");
    c.frames();
    c.send(
        0,
        ConnectionTuneOk {
            channel_max: 0,
            frame_max: 4095,
            heartbeat: 0,
        },
    );
    let (code, text, ..) = connection_close(c.method());
    assert_eq!(code, 530);
    assert_eq!(text, "NOT_ALLOWED - frame_max=4095 < 4096 min size");
}

#[test]
fn a_method_on_a_channel_not_opened_is_a_channel_error() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake();
    c.send(
        1,
        QueueDeclare {
            queue: s("jobs"),
            ..QueueDeclare::default()
        },
    );
    let (code, text, class, method) = connection_close(c.method());
    assert_eq!(code, 504);
    assert!(text.starts_with("CHANNEL_ERROR - "), "{text}");
    assert_eq!((class, method), (50, 10));
}

#[test]
fn a_second_channel_open_is_a_channel_error() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake();
    c.open_channel(1);
    c.send(1, ChannelOpen::default());
    let (code, text, class, method) = connection_close(c.method());
    assert_eq!(code, 504);
    assert!(text.contains("second 'channel.open'"), "{text}");
    assert_eq!((class, method), (20, 10));
}

#[test]
fn publish_immediate_is_not_implemented() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake();
    c.open_channel(1);
    c.publish(
        1,
        BasicPublish {
            routing_key: s("jobs"),
            immediate: true,
            ..BasicPublish::default()
        },
        b"now",
    );
    let (code, text, class, method) = connection_close(c.method());
    assert_eq!(code, 540);
    assert_eq!(text, "NOT_IMPLEMENTED - immediate=true");
    assert_eq!((class, method), (60, 40));
}

/// A content header frame for `basic` announcing `body_size` bytes.
fn content_header(channel: u16, body_size: u64) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend(60u16.to_be_bytes());
    payload.extend(0u16.to_be_bytes());
    payload.extend(body_size.to_be_bytes());
    payload.extend(0u16.to_be_bytes()); // no properties
    raw_frame(2, channel, &payload)
}

fn raw_frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend(channel.to_be_bytes());
    out.extend((payload.len() as u32).to_be_bytes());
    out.extend(payload);
    out.push(0xce);
    out
}

#[test]
fn a_body_over_the_max_message_size_closes_the_channel() {
    let b = broker(BrokerConfig {
        max_message_size: 1000,
        ..BrokerConfig::default()
    });
    let mut c = Client::new(&b);
    c.handshake();
    c.open_channel(1);
    c.publish(
        1,
        BasicPublish {
            routing_key: s("jobs"),
            ..BasicPublish::default()
        },
        &[b'x'; 1001],
    );
    // The codec's BodyTooLarge: 406, a channel error, as RabbitMQ's max_message_size.
    let (ch, code, text) = channel_close(c.method());
    assert_eq!((ch, code), (1, 406));
    assert_eq!(
        text,
        "PRECONDITION_FAILED - message size 1001 is larger than the configured max size 1000"
    );
    // The body that followed the header was dropped with the channel; close-ok frees it.
    c.send(1, ChannelCloseOk {});
    assert!(c.frames().is_empty());
    c.open_channel(1);
    assert!(!c.tx.is_disconnecting());
}

#[test]
fn a_body_of_two_to_the_62_bytes_is_refused_before_allocation() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake();
    c.open_channel(1);
    let mut wire = BytesMut::new();
    let publish = Method::BasicPublish(BasicPublish {
        routing_key: s("jobs"),
        ..BasicPublish::default()
    });
    encode_method(1, &publish, &mut wire).unwrap();
    wire.extend_from_slice(&content_header(1, 1 << 62));
    wire.extend_from_slice(&raw_frame(3, 1, &[b'x'; 4000]));
    c.feed(&wire);
    let (ch, code, _) = channel_close(c.method());
    assert_eq!((ch, code), (1, 406));
    assert!(!c.tx.is_disconnecting());
}

#[test]
fn heartbeats_are_sent_and_a_silent_client_is_dropped() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake_with(2);
    // Every second (half the interval): a heartbeat, while the client has been silent less
    // than two intervals.
    for _ in 0..3 {
        c.tx.advance(&mut c.conn, Duration::from_secs(1)).unwrap();
        let frames = c.frames();
        assert_eq!(
            frames,
            [Frame {
                channel: 0,
                payload: FramePayload::Heartbeat
            }]
        );
        assert!(!c.tx.is_disconnecting());
    }
    c.tx.advance(&mut c.conn, Duration::from_secs(1)).unwrap();
    assert!(c.tx.is_aborted(), "silent for two intervals");
}

#[test]
fn a_client_sending_heartbeats_stays() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake_with(2);
    let mut beat = BytesMut::new();
    encode_heartbeat(&mut beat);
    for _ in 0..20 {
        c.tx.advance(&mut c.conn, Duration::from_secs(1)).unwrap();
        c.feed(&beat);
    }
    assert!(!c.tx.is_disconnecting());
    assert_eq!(c.frames().len(), 20);
}

#[test]
fn channel_close_is_answered_with_close_ok() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake();
    c.open_channel(1);
    c.send(
        1,
        ChannelClose {
            reply_code: 200,
            reply_text: s("bye"),
            ..ChannelClose::default()
        },
    );
    assert!(matches!(c.method(), (1, Method::ChannelCloseOk(_))));
    // The channel is gone: it may be opened again.
    c.open_channel(1);
}

#[test]
fn connection_close_is_answered_with_close_ok_and_a_hang_up() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake();
    c.open_channel(1);
    c.send(
        0,
        ConnectionClose {
            reply_code: 200,
            reply_text: s("bye"),
            ..ConnectionClose::default()
        },
    );
    assert!(matches!(c.method(), (0, Method::ConnectionCloseOk(_))));
    assert!(c.tx.is_disconnecting());
}

#[test]
fn a_close_the_client_never_answers_ends_after_the_timeout() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake();
    c.open_channel(1);
    c.send(1, ChannelOpen::default());
    connection_close(c.method());
    assert!(!c.tx.is_disconnecting());
    c.tx.advance(&mut c.conn, Duration::from_secs(3)).unwrap();
    assert!(c.tx.is_disconnecting());
}

#[test]
fn a_queue_and_a_consumer_see_a_message() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake();
    c.open_channel(1);
    c.send(
        1,
        QueueDeclare {
            queue: s("jobs"),
            ..QueueDeclare::default()
        },
    );
    assert!(matches!(c.method(), (1, Method::QueueDeclareOk(_))));
    c.publish(
        1,
        BasicPublish {
            routing_key: s("jobs"),
            ..BasicPublish::default()
        },
        b"hello",
    );
    assert!(c.frames().is_empty());
    assert_eq!(queue_depths(&b, &["jobs"]), [Some(1)]);
    c.send(
        1,
        BasicConsume {
            queue: s("jobs"),
            consumer_tag: s("ctag"),
            ..BasicConsume::default()
        },
    );
    let frames = c.frames();
    assert!(matches!(
        &frames[0].payload,
        FramePayload::Method(Method::BasicConsumeOk(_))
    ));
    assert!(matches!(
        &frames[1].payload,
        FramePayload::Method(Method::BasicDeliver(_))
    ));
    assert_eq!(
        frames[3].payload,
        FramePayload::Body(Bytes::from_static(b"hello"))
    );
}

/// How many messages each queue holds, as a second client learns with passive declares
/// (`None`: no such queue).
fn queue_depths(b: &Rc<RefCell<Broker>>, names: &[&str]) -> Vec<Option<u32>> {
    let mut c = Client::with_id(b, 99);
    c.handshake();
    let depths = names
        .iter()
        .zip(1u16..)
        .map(|(name, channel)| {
            c.open_channel(channel);
            c.send(
                channel,
                QueueDeclare {
                    queue: s(name),
                    passive: true,
                    ..QueueDeclare::default()
                },
            );
            match c.method() {
                (_, Method::QueueDeclareOk(ok)) => Some(ok.message_count),
                (_, Method::ChannelClose(close)) => {
                    assert_eq!(close.reply_code, 404, "{close:?}");
                    None
                }
                other => panic!("unexpected answer to a passive declare: {other:?}"),
            }
        })
        .collect();
    c.lose();
    depths
}

// ---------------------------------------------------------------------------------------------
// Hostile frame streams
// ---------------------------------------------------------------------------------------------

/// Deterministic pseudo-random numbers (xorshift64*), so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// An integer from the environment (decimal, or hex after `0x` as the seeds are printed), or
/// `default`.
fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| match v.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
            None => v.parse().ok(),
        })
        .unwrap_or(default)
}

/// The queues the generator names; the checker asks for their depths after each case.
const QUEUES: [&str; 3] = ["q0", "q1", "q2"];

/// One frame taken apart, with the framing it is sent with (a wrong size or end octet when
/// damaged).
#[derive(Debug, Clone)]
struct RawFrame {
    kind: u8,
    channel: u16,
    payload: Vec<u8>,
    size: Option<u32>,
    end: u8,
}

impl RawFrame {
    fn write(&self, out: &mut Vec<u8>) {
        out.push(self.kind);
        out.extend(self.channel.to_be_bytes());
        let size = self.size.unwrap_or(self.payload.len() as u32);
        out.extend(size.to_be_bytes());
        out.extend(&self.payload);
        out.push(self.end);
    }
}

/// Splits well-formed frames (as the codec encodes them) back into [`RawFrame`]s.
fn split(wire: &[u8]) -> Vec<RawFrame> {
    let mut frames = Vec::new();
    let mut rest = wire;
    while rest.len() >= 8 {
        let size = u32::from_be_bytes(rest[3..7].try_into().unwrap()) as usize;
        frames.push(RawFrame {
            kind: rest[0],
            channel: u16::from_be_bytes([rest[1], rest[2]]),
            payload: rest[7..7 + size].to_vec(),
            size: None,
            end: 0xce,
        });
        rest = &rest[8 + size..];
    }
    frames
}

fn method_frames(channel: u16, method: impl Into<Method>) -> Vec<RawFrame> {
    let mut wire = BytesMut::new();
    encode_method(channel, &method.into(), &mut wire).unwrap();
    split(&wire)
}

fn name(rng: &mut Rng) -> ShortStr {
    s(rng.pick(&["q0", "q1", "q2", "", "amq.gen-x"]))
}

fn random_properties(rng: &mut Rng) -> BasicProperties {
    let mut p = BasicProperties::default();
    if rng.chance(3) {
        p.content_type = Some(s("text/plain"));
    }
    if rng.chance(3) {
        p.delivery_mode = Some(1 + rng.below(2) as u8);
    }
    if rng.chance(4) {
        let mut headers = FieldTable::new();
        headers.push(s("k"), FieldValue::I32(rng.next() as i32));
        p.headers = Some(headers);
    }
    if rng.chance(5) {
        p.expiration = Some(s(rng.pick(&["0", "1000", "x"])));
    }
    p
}

/// A publish: method, header and body frames (the body sometimes cut in several frames).
fn publish_frames(rng: &mut Rng, channel: u16) -> Vec<RawFrame> {
    let publish = BasicPublish {
        exchange: s(rng.pick(&["", "", "amq.fanout", "amq.topic", "x0", "missing"])),
        routing_key: s(rng.pick(&["q0", "q1", "q2", "a.b", "#", ""])),
        mandatory: rng.chance(3),
        immediate: rng.chance(40),
        ..BasicPublish::default()
    };
    let len = match rng.below(6) {
        0 => 0,
        1 => 1000 + rng.below(3000),
        _ => rng.below(200),
    };
    let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    let mut wire = BytesMut::new();
    let props = random_properties(rng);
    encode_message(channel, &publish.into(), &props, &body, 131_072, &mut wire).unwrap();
    let mut frames = split(&wire);
    if frames.len() == 3 && rng.chance(3) {
        // The same body in pieces.
        let body = frames.pop().unwrap().payload;
        let mut rest = &body[..];
        while !rest.is_empty() {
            let n = (1 + rng.below(rest.len())).min(rest.len());
            let (a, b) = rest.split_at(n);
            frames.push(RawFrame {
                kind: 3,
                channel,
                payload: a.to_vec(),
                size: None,
                end: 0xce,
            });
            rest = b;
        }
    }
    frames
}

/// One valid client operation on `channel`, as frames.
fn operation(rng: &mut Rng, channel: u16) -> Vec<RawFrame> {
    let nowait = rng.chance(5);
    let tag = rng.below(8) as u64;
    match rng.below(24) {
        0 => method_frames(channel, ChannelOpen::default()),
        1..=3 => {
            let mut arguments = FieldTable::new();
            if rng.chance(4) {
                arguments.push(s("x-max-length"), FieldValue::I64(rng.below(4) as i64));
            }
            if rng.chance(8) {
                arguments.push(
                    s("x-overflow"),
                    FieldValue::LongStr("reject-publish".into()),
                );
            }
            method_frames(
                channel,
                QueueDeclare {
                    queue: name(rng),
                    passive: rng.chance(8),
                    durable: rng.chance(4),
                    exclusive: rng.chance(4),
                    auto_delete: rng.chance(4),
                    nowait,
                    arguments,
                    ..QueueDeclare::default()
                },
            )
        }
        4 => method_frames(
            channel,
            QueueBind {
                queue: name(rng),
                exchange: s(rng.pick(&["amq.fanout", "amq.topic", "x0", "amq.direct"])),
                routing_key: s(rng.pick(&["q0", "a.*", "#", "a.b"])),
                nowait,
                ..QueueBind::default()
            },
        ),
        5 => method_frames(
            channel,
            ExchangeDeclare {
                exchange: s("x0"),
                kind: s(rng.pick(&["direct", "fanout", "topic", "headers", "bogus"])),
                nowait,
                ..ExchangeDeclare::default()
            },
        ),
        6..=10 => publish_frames(rng, channel),
        11 | 12 => method_frames(
            channel,
            BasicConsume {
                queue: name(rng),
                consumer_tag: s(rng.pick(&["", "c1", "c2"])),
                no_ack: rng.chance(2),
                exclusive: rng.chance(6),
                nowait,
                ..BasicConsume::default()
            },
        ),
        13 => method_frames(
            channel,
            BasicQos {
                prefetch_count: rng.below(3) as u16,
                global: rng.chance(3),
                ..BasicQos::default()
            },
        ),
        14 => method_frames(
            channel,
            BasicAck {
                delivery_tag: tag,
                multiple: rng.chance(3),
            },
        ),
        15 => method_frames(
            channel,
            BasicNack {
                delivery_tag: tag,
                multiple: rng.chance(3),
                requeue: rng.chance(2),
            },
        ),
        16 => method_frames(
            channel,
            BasicReject {
                delivery_tag: tag,
                requeue: rng.chance(2),
            },
        ),
        17 => method_frames(
            channel,
            BasicGet {
                queue: name(rng),
                no_ack: rng.chance(2),
                ..BasicGet::default()
            },
        ),
        18 => match rng.below(4) {
            0 => method_frames(channel, ConfirmSelect { nowait }),
            1 => method_frames(channel, TxSelect {}),
            2 => method_frames(channel, TxCommit {}),
            _ => method_frames(channel, TxRollback {}),
        },
        19 => method_frames(
            channel,
            BasicCancel {
                consumer_tag: s(rng.pick(&["c1", "c2", "none"])),
                nowait,
            },
        ),
        20 => match rng.below(3) {
            0 => method_frames(
                channel,
                QueuePurge {
                    queue: name(rng),
                    nowait,
                    ..QueuePurge::default()
                },
            ),
            1 => method_frames(
                channel,
                QueueDelete {
                    queue: name(rng),
                    if_unused: rng.chance(3),
                    if_empty: rng.chance(3),
                    nowait,
                    ..QueueDelete::default()
                },
            ),
            _ => method_frames(
                channel,
                ChannelFlow {
                    active: rng.chance(2),
                },
            ),
        },
        21 => method_frames(
            channel,
            BasicRecover {
                requeue: rng.chance(2),
            },
        ),
        22 => {
            if rng.chance(2) {
                method_frames(
                    channel,
                    ChannelClose {
                        reply_code: 200,
                        ..ChannelClose::default()
                    },
                )
            } else {
                method_frames(channel, ChannelCloseOk {})
            }
        }
        _ => match rng.below(3) {
            0 => method_frames(
                0,
                ConnectionClose {
                    reply_code: 200,
                    ..ConnectionClose::default()
                },
            ),
            1 => method_frames(0, ConnectionCloseOk {}),
            _ => {
                let mut beat = BytesMut::new();
                encode_heartbeat(&mut beat);
                split(&beat)
            }
        },
    }
}

/// The handshake's frames, valid or (now and then) not.
fn handshake_frames(rng: &mut Rng) -> Vec<RawFrame> {
    let mut frames = Vec::new();
    let response: &[u8] = match rng.below(20) {
        0 => b"\0guest\0wrong",
        1 => b"guest",
        _ => b"\0guest\0guest",
    };
    frames.extend(method_frames(
        0,
        ConnectionStartOk {
            mechanism: s(if rng.chance(30) { "AMQPLAIN" } else { "PLAIN" }),
            response: Bytes::copy_from_slice(response),
            ..ConnectionStartOk::default()
        },
    ));
    if rng.chance(12) {
        return frames;
    }
    frames.extend(method_frames(
        0,
        ConnectionTuneOk {
            channel_max: rng.pick(&[0, 0, 2, 2047]),
            frame_max: if rng.chance(20) {
                100
            } else {
                rng.pick(&[0, 4096, 131_072])
            },
            heartbeat: rng.pick(&[0, 0, 0, 1, 60]),
        },
    ));
    if rng.chance(12) {
        return frames;
    }
    frames.extend(method_frames(
        0,
        ConnectionOpen {
            virtual_host: s(if rng.chance(30) { "nowhere" } else { "/" }),
            ..ConnectionOpen::default()
        },
    ));
    frames
}

/// A client stream: a handshake (usually), then valid operations on a few channels.
fn generate(rng: &mut Rng) -> (bool, Vec<RawFrame>) {
    let header = !rng.chance(30);
    let mut frames = Vec::new();
    if !rng.chance(20) {
        frames.extend(handshake_frames(rng));
    }
    let odd = rng.pick(&[0, 4, 2048, 65535]);
    let mut opened = Vec::new();
    for _ in 0..rng.below(40) {
        let ch = if rng.chance(30) {
            odd
        } else {
            rng.pick(&[1, 1, 1, 2, 3])
        };
        // A channel is usually opened before it is used.
        if ch != 0 && !opened.contains(&ch) && !rng.chance(20) {
            frames.extend(method_frames(ch, ChannelOpen::default()));
            opened.push(ch);
        }
        frames.extend(operation(rng, ch));
    }
    (header, frames)
}

/// Frame-aware damage: the framing stays right (unless that is the damage), so the decoders
/// and the connection see it.
fn damage_frames(rng: &mut Rng, frames: &mut Vec<RawFrame>) {
    if frames.is_empty() {
        return;
    }
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(frames.len());
        match rng.below(14) {
            0 => {
                // A flipped byte in a payload.
                let p = &mut frames[i].payload;
                if !p.is_empty() {
                    let at = rng.below(p.len());
                    p[at] ^= 1 << rng.below(8);
                }
            }
            1 => {
                let f = frames[rng.below(frames.len())].clone();
                frames.insert(i, f);
            }
            2 => {
                frames.remove(i);
            }
            3 if i + 1 < frames.len() => frames.swap(i, i + 1),
            4 => frames[i].kind = rng.pick(&[0, 4, 5, 7, 9, 0xce, 0xff]),
            5 if frames[i].kind == 1 && frames[i].payload.len() >= 4 => {
                // An unknown class or method.
                let (class, method): (u16, u16) = match rng.below(3) {
                    0 => (rng.pick(&[0, 11, 61, 99, 0xffff]), 10),
                    1 => (60, rng.pick(&[0, 1, 12, 99, 0xffff])),
                    _ => (rng.next() as u16, rng.next() as u16),
                };
                frames[i].payload[..2].copy_from_slice(&class.to_be_bytes());
                frames[i].payload[2..4].copy_from_slice(&method.to_be_bytes());
            }
            6 if frames[i].kind == 2 && frames[i].payload.len() >= 12 => {
                // The announced body size: huge, or off from what follows.
                let size: u64 = match rng.below(5) {
                    0 => 1 << 62,
                    1 => u64::MAX,
                    2 => 1 << 32,
                    3 => 0,
                    _ => rng.below(10) as u64,
                };
                frames[i].payload[4..12].copy_from_slice(&size.to_be_bytes());
            }
            7 => {
                // More body than declared (or a body where none is due).
                let len = rng.below(64);
                let body = RawFrame {
                    kind: 3,
                    channel: frames[i].channel,
                    payload: (0..len).map(|_| rng.next() as u8).collect(),
                    size: None,
                    end: 0xce,
                };
                frames.insert(i + 1, body);
            }
            8 => frames[i].channel = rng.pick(&[0, 1, 2, 5, 65535]),
            9 => {
                let p = &mut frames[i].payload;
                let keep = rng.below(p.len() + 1);
                p.truncate(keep);
            }
            10 => {
                // A length field gone wrong: huge, or just off.
                let len = frames[i].payload.len() as u32;
                frames[i].size = Some(match rng.below(4) {
                    0 => u32::MAX,
                    1 => 0x8000_0000,
                    2 => len.wrapping_add(rng.below(5) as u32).wrapping_sub(2),
                    _ => rng.next() as u32,
                });
            }
            11 => frames[i].end = rng.pick(&[0, 0xcd, 0xcf, 0xff, b'A']),
            12 => {
                // A header with a huge body and a body frame after it.
                let ch = frames[i].channel;
                let mut header = split(&content_header(ch, 1 << 62));
                header.extend(split(&raw_frame(3, ch, &[b'x'; 100])));
                let at = i + 1;
                frames.splice(at..at, header);
            }
            _ => {
                // Appended bytes in a payload: a method with trailing garbage.
                let n = 1 + rng.below(8);
                for _ in 0..n {
                    frames[i].payload.push(rng.next() as u8);
                }
            }
        }
        if frames.is_empty() {
            return;
        }
    }
}

/// Byte-level damage to the whole stream.
fn damage_bytes(rng: &mut Rng, wire: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        if wire.is_empty() {
            return;
        }
        match rng.below(5) {
            0 | 1 => {
                let at = rng.below(wire.len());
                wire[at] ^= 1 << rng.below(8);
            }
            2 => {
                let keep = rng.below(wire.len());
                wire.truncate(keep);
            }
            3 => {
                let at = rng.below(wire.len() + 1);
                let run: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                wire.splice(at..at, run);
            }
            _ => {
                let start = rng.below(wire.len());
                let end = (start + 1 + rng.below(32)).min(wire.len());
                let run = wire[start..end].to_vec();
                let at = rng.below(wire.len() + 1);
                wire.splice(at..at, run);
            }
        }
    }
}

/// A hostile stream.
fn hostile_input(rng: &mut Rng) -> Vec<u8> {
    let (header, mut frames) = generate(rng);
    if !rng.chance(5) {
        damage_frames(rng, &mut frames);
    }
    let mut wire = Vec::new();
    if header {
        wire.extend_from_slice(&PROTOCOL_HEADER);
    }
    for f in &frames {
        f.write(&mut wire);
    }
    if rng.chance(4) {
        damage_bytes(rng, &mut wire);
    }
    wire
}

/// The publishes a server could see in `input`: every `basic.publish` frame that decodes,
/// with no frame-max limit (so a superset of what the connection reads).
fn publishes_in(input: &[u8]) -> usize {
    let mut rx = FrameReceiver::new().with_frame_max(0);
    rx.feed(input.get(PROTOCOL_HEADER.len()..).unwrap_or_default());
    let mut count = 0;
    while let Some(result) = rx.next_frame() {
        match result {
            Ok(Frame {
                payload: FramePayload::Method(Method::BasicPublish(_)),
                ..
            }) => count += 1,
            Ok(_) => {}
            Err(e) if e.is_framing_lost() => break,
            Err(_) => {}
        }
    }
    count
}

/// Output bounds: whatever the input (< 64 KiB), the server writes less than this.
const OUTPUT_LIMIT: usize = 1 << 20;

/// How a case ended: the connection still up at the end of its input, and the reply codes of
/// the closes the server sent.
#[derive(Debug, Default)]
struct Ending {
    up: bool,
    closes: Vec<u16>,
}

/// Feeds `input` in chunks drawn from `rng` to a fresh broker's connection and checks every
/// property.
fn check_case(input: &[u8], rng: &mut Rng) -> Ending {
    let b = broker(BrokerConfig {
        max_message_size: 8192,
        ..BrokerConfig::default()
    });
    let mut c = Client::new(&b);
    let mut rest = input;
    while !rest.is_empty() && !c.tx.is_disconnecting() {
        let n = match rng.below(4) {
            0 => 1 + rng.below(3),
            1 => 1 + rng.below(5000),
            _ => 1 + rng.below(64),
        }
        .min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        c.feed(chunk);
        rest = tail;
        if c.tx.take_resume_request() {
            c.conn.resume_producing(&mut c.tx).unwrap();
        }
        assert!(c.tx.written().len() < OUTPUT_LIMIT, "unbounded output");
    }
    let up = !c.tx.is_disconnecting();

    let written = c.tx.written().to_vec();
    let closes = check_output(&written, c.tx.is_disconnecting());
    let closed = closes.iter().any(|&(channel, _)| channel == 0);

    // A close the client does not answer ends with the close timer (heartbeat timers may
    // fire on the way, and may drop the connection first).
    c.tx.advance(&mut c.conn, Duration::from_secs(4)).unwrap();
    if closed {
        assert!(
            c.tx.is_disconnecting(),
            "close-ok never came and the close timer did not end it"
        );
    }
    if closed {
        // Heartbeats go on until the socket closes; nothing else is written.
        let mut rx = FrameReceiver::new().with_frame_max(0);
        rx.feed(&c.tx.written()[written.len()..]);
        while let Some(frame) = rx.next_frame() {
            let frame = frame.unwrap();
            assert_eq!(
                frame.payload,
                FramePayload::Heartbeat,
                "written after connection.close"
            );
        }
    }

    // The reactor's end of the connection: the core must forget it entirely.
    c.lose();
    let state = format!("{:?}", b.borrow());
    assert!(
        state.contains("conns: {}") && state.contains("channels: {}"),
        "the core still holds the connection: {state}"
    );
    assert!(
        !state.contains("Consumer {"),
        "a consumer outlived its connection"
    );

    // The broker works for the next client, and no queue holds more than was published.
    let publishes = publishes_in(input);
    for (name, depth) in QUEUES.iter().zip(queue_depths(&b, &QUEUES)) {
        let depth = depth.unwrap_or(0) as usize;
        assert!(
            depth <= publishes,
            "queue {name} holds {depth} messages, {publishes} published"
        );
    }
    Ending {
        up,
        closes: closes.into_iter().map(|(_, code)| code).collect(),
    }
}

/// Checks what the server wrote; returns the closes it sent (channel, reply code), a
/// `connection.close` last.
fn check_output(written: &[u8], disconnecting: bool) -> Vec<(u16, u16)> {
    let mut closes = Vec::new();
    if written.starts_with(b"AMQP") {
        assert_eq!(
            written, PROTOCOL_HEADER,
            "a header refusal is the header alone"
        );
        assert!(disconnecting, "a refused header hangs up");
        return closes;
    }
    let mut rx = FrameReceiver::new().with_frame_max(0);
    rx.feed(written);
    let mut closed = false;
    while let Some(frame) = rx.next_frame() {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => panic!("the server wrote a frame that does not decode: {e}"),
        };
        if closed {
            // Only close-ok: confirms decided before the close were written before it.
            assert!(
                matches!(
                    frame.payload,
                    FramePayload::Method(Method::ConnectionCloseOk(_))
                ),
                "written after connection.close: {frame:?}"
            );
            continue;
        }
        match frame.payload {
            FramePayload::Method(Method::ConnectionClose(close)) => {
                assert_eq!(frame.channel, 0);
                let code = ReplyCode::from_code(close.reply_code);
                // A hard code, or 403 for a login refused (RabbitMQ's
                // authentication_failure_close: a connection.close answering start-ok).
                let login_refused = code == Some(ReplyCode::AccessRefused) && close.class_id == 10;
                assert!(
                    code.is_some_and(ReplyCode::is_hard_error) || login_refused,
                    "connection.close with {close:?}"
                );
                assert!(
                    close
                        .reply_text
                        .to_string()
                        .starts_with(code.unwrap().text()),
                    "reply text without its code's name: {close:?}"
                );
                closed = true;
                closes.push((0, close.reply_code));
            }
            FramePayload::Method(Method::ChannelClose(close)) => {
                assert_ne!(frame.channel, 0);
                let code = ReplyCode::from_code(close.reply_code);
                assert!(
                    code.is_some_and(ReplyCode::is_soft_error),
                    "channel.close with {close:?}"
                );
                closes.push((frame.channel, close.reply_code));
            }
            _ => {}
        }
    }
    assert_eq!(rx.buffered(), 0, "the server wrote half a frame");
    closes
}

/// What a fuzz run saw.
#[derive(Debug, Default)]
struct Tally {
    cases: u64,
    up: u64,
    /// How many closes of each reply code were sent.
    codes: std::collections::BTreeMap<u16, u64>,
}

/// Runs `cases` hostile inputs from `seed` (or until `deadline`), saving a failing input
/// before the failure goes on.
fn fuzz(seed: u64, cases: u64, deadline: Option<Instant>) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let mut case = 0;
    while case < cases && deadline.is_none_or(|d| Instant::now() < d) {
        let input = hostile_input(&mut rng);
        let mut chunk_rng = Rng::new(rng.next());
        assert!(input.len() < 64 * 1024);
        match catch_unwind(AssertUnwindSafe(|| check_case(&input, &mut chunk_rng))) {
            Ok(ending) => {
                tally.up += u64::from(ending.up);
                for code in ending.closes {
                    *tally.codes.entry(code).or_default() += 1;
                }
            }
            Err(panic) => {
                let path =
                    std::env::temp_dir().join(format!("broker-fuzz-failure-{seed:#x}-{case}.bin"));
                let _ = std::fs::write(&path, &input);
                eprintln!(
                    "broker fuzz: seed {seed:#x}, case {case} failed; input saved to {}",
                    path.display()
                );
                resume_unwind(panic);
            }
        }
        case += 1;
    }
    tally.cases = case;
    tally
}

#[test]
fn hostile_frame_streams() {
    let seed = env_u64("SPINDLE_FUZZ_SEED", 0x0B20_CE75);
    let cases = env_u64("SPINDLE_FUZZ_ITERS", 2000);
    let started = Instant::now();
    let tally = fuzz(seed, cases, None);
    assert_eq!(tally.cases, cases);
    // The generator must also reach the running connection, not only early refusals.
    assert!(tally.up * 10 > cases, "{tally:?}");
    eprintln!(
        "broker fuzz: seed {seed:#x} in {:.1?}: {tally:?}",
        started.elapsed()
    );
}

/// The kept inputs of `apps/broker/fuzz/corpus/`, each fed whole and in random chunks.
#[test]
fn corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    for path in files {
        let input = std::fs::read(&path).unwrap();
        for seed in 1..=4 {
            let result = catch_unwind(AssertUnwindSafe(|| {
                check_case(&input, &mut Rng::new(seed));
            }));
            if let Err(panic) = result {
                eprintln!("corpus file {} failed (chunk seed {seed})", path.display());
                resume_unwind(panic);
            }
        }
    }
}

#[test]
fn the_memory_alarm_blocks_a_publisher_and_tells_it_when_it_asked() {
    let b = broker(BrokerConfig {
        memory_high_watermark: 2048,
        ..BrokerConfig::default()
    });
    let mut c = Client::new(&b);
    c.feed(&PROTOCOL_HEADER);
    assert!(matches!(c.method(), (0, Method::ConnectionStart(_))));
    let mut capabilities = FieldTable::new();
    capabilities.insert(s("connection.blocked"), FieldValue::Bool(true));
    let mut client_properties = FieldTable::new();
    client_properties.insert(s("capabilities"), FieldValue::Table(capabilities));
    c.send(
        0,
        ConnectionStartOk {
            mechanism: s("PLAIN"),
            response: Bytes::from_static(b"\0guest\0guest"),
            client_properties,
            ..ConnectionStartOk::default()
        },
    );
    assert!(matches!(c.method(), (0, Method::ConnectionTune(_))));
    c.send(0, ConnectionTuneOk::default());
    c.send(
        0,
        ConnectionOpen {
            virtual_host: s("/"),
            ..ConnectionOpen::default()
        },
    );
    assert!(matches!(c.method(), (0, Method::ConnectionOpenOk(_))));
    c.open_channel(1);
    c.send(
        1,
        QueueDeclare {
            queue: s("buffer"),
            ..QueueDeclare::default()
        },
    );
    assert!(matches!(c.method(), (1, Method::QueueDeclareOk(_))));
    let publish = BasicPublish {
        routing_key: s("buffer"),
        ..BasicPublish::default()
    };
    c.publish(1, publish.clone(), &[7; 1000]);
    assert!(c.frames().is_empty() && !c.tx.is_reading_paused());
    c.publish(1, publish, &[7; 1000]);
    match c.method() {
        (0, Method::ConnectionBlocked(m)) => assert_eq!(m.reason.as_ref(), b"low on memory"),
        other => panic!("expected connection.blocked, got {other:?}"),
    }
    assert!(c.tx.is_reading_paused());

    // Another connection (which did not ask to be told) purges the queue: the alarm clears,
    // the publisher is unblocked and reads again.
    let mut other = Client::with_id(&b, 2);
    other.handshake();
    other.open_channel(1);
    other.send(
        1,
        QueuePurge {
            queue: s("buffer"),
            ..QueuePurge::default()
        },
    );
    assert!(matches!(other.method(), (1, Method::QueuePurgeOk(_))));
    let mut rx = FrameReceiver::new().with_frame_max(0);
    rx.feed(other.tx.written_to(ConnId::from_parts(1, 1)));
    let told = rx.next_frame().unwrap().unwrap();
    assert!(matches!(
        told.payload,
        FramePayload::Method(Method::ConnectionUnblocked(_))
    ));
    assert!(!other.tx.is_other_paused(ConnId::from_parts(1, 1)));
    assert!(!b.borrow().memory_alarm());
}

#[test]
fn confirms_of_a_channel_closed_in_the_same_read_go_before_its_close_ok() {
    let b = broker(BrokerConfig::default());
    let mut c = Client::new(&b);
    c.handshake();
    c.open_channel(1);
    c.send(1, ConfirmSelect::default());
    assert!(matches!(c.method(), (1, Method::ConfirmSelectOk(_))));
    // Both publishes and the close arrive together, as a client writes them before its
    // event loop reads.
    let mut wire = BytesMut::new();
    for _ in 0..2 {
        let publish = BasicPublish {
            routing_key: s("nowhere"),
            ..BasicPublish::default()
        };
        encode_message(
            1,
            &publish.into(),
            &BasicProperties::default(),
            b"m",
            4096,
            &mut wire,
        )
        .unwrap();
    }
    encode_method(1, &ChannelClose::default().into(), &mut wire).unwrap();
    c.feed(&wire);
    let methods = c.methods();
    assert!(
        matches!(
            methods.as_slice(),
            [
                (1, Method::BasicAck(ack)),
                (1, Method::ChannelCloseOk(_))
            ] if ack.delivery_tag == 2 && ack.multiple
        ),
        "{methods:?}"
    );
}
