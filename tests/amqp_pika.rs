//! Interop with pika, the Python AMQP client, through a real RabbitMQ: pika publishes and our
//! client (`spindle_amqp`) consumes, and the other way round, bodies and properties intact
//! (a headers table of every field type either side can send, a 1 MiB body split across
//! frames). pika's side is `tests/py/amqp_pika.py`.
//!
//! The tests need rabbitmq-server and a Python with pika (`scripts/venv` installs
//! `tests/py/requirements.txt` into `.venv`); like the other tests that need outside servers
//! they are `#[ignore]`d, and `scripts/test` runs them:
//!
//! ```text
//! scripts/venv && SPINDLE_PYTHON=$PWD/.venv/bin/python \
//!     cargo test --test amqp_pika -- --include-ignored
//! ```
//!
//! One private broker per test process (`common::amqp`).
//!
//! What RabbitMQ 3.10 does to the headers: nothing. It keeps a message's content header as
//! the bytes the publisher sent and hands consumers those same bytes, so every field type
//! arrives as it was sent: `f`, `d`, `b`, `B`, `s`, `u` and `i` too, and pika's `L` (a signed
//! 64-bit integer, which RabbitMQ reads as `l`). The capture in
//! `protocols/tests/amqp_captures.rs` shows it byte for byte; here the values are checked end
//! to end.
//!
//! pika 1.3.2 itself cannot send `f d b B s u i`, and its decoder misreads some types (`b`/`B`
//! with their signs swapped, `l` unsigned, `f`/`d` truncated to integers), so `amqp_pika.py`
//! renders what it received from the wire bytes and checks pika's own values against those
//! known quirks.

mod common;

use std::sync::mpsc;
use std::thread;

use bytes::Bytes;
use common::amqp::{broker_uri, queue};
use common::{py_script, python, run_client, Finished, RUN_TIMEOUT};
use spindle_amqp::{
    run, AmqpUri, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions,
    Delivery, Publish, QueueOptions,
};
use spindle_protocols::amqp::{BasicProperties, Decimal, FieldTable, FieldValue, ShortStr};

fn config() -> Config {
    Config::new(AmqpUri::parse(&broker_uri()).unwrap())
}

/// Runs our client to its end on a thread, failing the test if that takes over
/// [`RUN_TIMEOUT`] (a message that never arrives would otherwise hang it).
fn run_within_timeout<H: ConnectionHandler + Send + 'static>(handler: H) -> H {
    let (tx, rx) = mpsc::channel();
    let config = config();
    thread::spawn(move || {
        let _ = tx.send(run(config, handler));
    });
    match rx.recv_timeout(RUN_TIMEOUT) {
        Ok(result) => result.unwrap_or_else(|e| panic!("the client failed: {e}")),
        Err(_) => panic!("the client did not finish within {RUN_TIMEOUT:?}"),
    }
}

/// Runs `tests/py/amqp_pika.py` with `args`; panics with its output unless it succeeds.
fn pika(args: &[&str]) -> Finished {
    let mut cmd = python();
    cmd.arg(py_script("amqp_pika.py")).args(args);
    let out = run_client("amqp_pika.py", cmd);
    assert!(
        out.status.success(),
        "amqp_pika.py {args:?} exited with {:?}; stdout: {:?}; stderr:\n{}",
        out.status,
        out.lines,
        out.stderr
    );
    out
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

/// The 1 MiB body both sides send: more than RabbitMQ's frame_max of 128 KiB.
fn large_body() -> Vec<u8> {
    (0..1u32 << 20).map(|i| (i % 251) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// pika publishes, our client consumes

/// `HEADERS` of `amqp_pika.py` as pika 1.3.2 encodes them: every type it can send.
fn pika_headers() -> FieldTable {
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
        // A Python int that fits 32 bits signed is `I`, a larger one `l`.
        ("int", FieldValue::I32(42)),
        ("negative-int", FieldValue::I32(-7)),
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

/// Consumes `count` messages from `queue`, acking each, then closes.
struct Consume {
    queue: String,
    count: usize,
    got: Vec<Delivery>,
}

impl ConnectionHandler for Consume {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        conn.channel(id)
            .consume(&self.queue, &ConsumeOptions::default())?;
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        ch.ack(d.delivery_tag, false)?;
        self.got.push(d);
        if self.got.len() == self.count {
            ch.connection().close();
        }
        Ok(())
    }
}

#[test]
#[ignore = "needs rabbitmq-server and pika: run scripts/test"]
fn pika_publishes_and_our_client_consumes() {
    let q = queue("pika-to-spindle");
    let out = pika(&["publish", &broker_uri(), &q]);
    assert_eq!(out.lines, ["published 2"]);

    let h = run_within_timeout(Consume {
        queue: q.clone(),
        count: 2,
        got: Vec::new(),
    });
    let [small, large] = &h.got[..] else {
        panic!("{} deliveries", h.got.len())
    };
    for d in [small, large] {
        assert_eq!(d.exchange, "");
        assert_eq!(d.routing_key, q.as_str());
        assert!(!d.redelivered);
    }
    assert_eq!((small.delivery_tag, large.delivery_tag), (1, 2));

    let expected = BasicProperties {
        content_type: Some(s("application/json")),
        content_encoding: Some(s("utf-8")),
        headers: Some(pika_headers()),
        delivery_mode: Some(2),
        priority: Some(7),
        correlation_id: Some(s("corr-pika")),
        reply_to: Some(s("replies")),
        expiration: Some(s("600000")),
        message_id: Some(s("pika-0001")),
        timestamp: Some(1_700_000_000),
        kind: Some(s("pika.small")),
        user_id: Some(s("guest")),
        app_id: Some(s("amqp_pika.py")),
        cluster_id: Some(s("cluster-p")),
    };
    assert_eq!(expected.flags(), 0xfffc, "every property is set");
    // Compared field by field first, for a readable failure, then whole.
    let (got, want) = (small.properties.headers.as_ref().unwrap(), &pika_headers());
    for ((gk, gv), (wk, wv)) in got.iter().zip(want) {
        assert_eq!((gk, gv), (wk, wv));
    }
    assert_eq!(got.len(), want.len());
    assert_eq!(small.properties, expected);
    assert_eq!(small.body, r#"{"from": "pika"}"#);

    assert_eq!(
        large.properties,
        BasicProperties {
            content_type: Some(s("application/octet-stream")),
            message_id: Some(s("pika-large")),
            headers: Some(table(vec![("size", FieldValue::I32(1 << 20))])),
            ..BasicProperties::default()
        }
    );
    assert!(large.body == large_body(), "the 1 MiB body differs");
}

// ---------------------------------------------------------------------------------------------
// Our client publishes, pika consumes

/// One value of each type RabbitMQ reads (`t b B s u I i l L f d D S A T F V x`), at or near
/// the ends of their ranges.
fn scalars() -> Vec<(&'static str, FieldValue)> {
    vec![
        ("t", FieldValue::Bool(true)),
        ("t-false", FieldValue::Bool(false)),
        ("b", FieldValue::I8(-5)),
        ("b-min", FieldValue::I8(i8::MIN)),
        ("B", FieldValue::U8(250)),
        ("s", FieldValue::I16(-300)),
        ("s-min", FieldValue::I16(i16::MIN)),
        ("u", FieldValue::U16(65000)),
        ("I", FieldValue::I32(-70000)),
        ("i", FieldValue::U32(4_000_000_000)),
        ("l", FieldValue::I64(-5_000_000_000)),
        ("l-min", FieldValue::I64(i64::MIN)),
        ("L", FieldValue::I64L(-5_000_000_000)),
        ("f", FieldValue::F32(1.5)),
        ("f-small", FieldValue::F32(-1.0e-30)),
        ("d", FieldValue::F64(-2.25)),
        ("d-pi", FieldValue::F64(std::f64::consts::PI)),
        (
            "D",
            FieldValue::Decimal(Decimal {
                scale: 2,
                value: 12345,
            }),
        ),
        (
            "D-max",
            FieldValue::Decimal(Decimal {
                scale: 9,
                value: u32::MAX,
            }),
        ),
        ("S", long("long string, ünïcode")),
        (
            "S-binary",
            FieldValue::LongStr(Bytes::from_static(b"\x00\xff\"\\")),
        ),
        ("T", FieldValue::Timestamp(1_700_000_000)),
        ("V", FieldValue::Void),
        (
            "x",
            FieldValue::ByteArray(Bytes::from_static(b"\x00\x01\xfe\xff")),
        ),
        ("x-empty", FieldValue::ByteArray(Bytes::new())),
    ]
}

/// The headers our client sends: every scalar type, then an array of all of them with an
/// array and a table inside, and a table of all of them with the same inside.
fn every_rabbitmq_type() -> FieldTable {
    let values: Vec<FieldValue> = scalars().into_iter().map(|(_, v)| v).collect();
    let inner_table: FieldTable = scalars().into_iter().map(|(k, v)| (s(k), v)).collect();
    let mut array = values.clone();
    array.push(FieldValue::Array(values.clone()));
    array.push(FieldValue::Table(inner_table.clone()));
    array.push(FieldValue::Array(Vec::new()));
    let mut nested = inner_table.clone();
    nested.push(s("A"), FieldValue::Array(values));
    nested.push(s("F"), FieldValue::Table(inner_table));
    nested.push(s("F-empty"), FieldValue::Table(FieldTable::new()));
    let mut headers: FieldTable = scalars().into_iter().map(|(k, v)| (s(k), v)).collect();
    headers.push(s("A"), FieldValue::Array(array));
    headers.push(s("F"), FieldValue::Table(nested));
    headers
}

fn spindle_small_properties() -> BasicProperties {
    BasicProperties {
        content_type: Some(s("text/plain")),
        content_encoding: Some(s("identity")),
        headers: Some(every_rabbitmq_type()),
        delivery_mode: Some(2),
        priority: Some(9),
        correlation_id: Some(s("corr-spindle")),
        reply_to: Some(s("replies")),
        expiration: Some(s("600000")),
        message_id: Some(s("spindle-0001")),
        timestamp: Some(1_700_000_001),
        kind: Some(s("spindle.small")),
        user_id: Some(s("guest")),
        app_id: Some(s("amqp_pika.rs")),
        cluster_id: Some(s("cluster-s")),
    }
}

fn spindle_large_properties() -> BasicProperties {
    let mut headers = FieldTable::new();
    headers.push(s("size"), FieldValue::U32(1 << 20));
    BasicProperties {
        content_type: Some(s("application/octet-stream")),
        message_id: Some(s("spindle-large")),
        headers: Some(headers),
        ..BasicProperties::default()
    }
}

const SPINDLE_SMALL_BODY: &[u8] = b"hello from spindle \x00\xff";

/// Declares `queue`, publishes `messages` to it in confirm mode, and closes once all are
/// confirmed.
struct PublishConfirmed {
    queue: String,
    messages: Vec<(BasicProperties, Vec<u8>)>,
    acked: Vec<u64>,
    frame_max: u32,
}

impl ConnectionHandler for PublishConfirmed {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.frame_max = conn.tuning().1;
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.queue_declare(&self.queue, &QueueOptions::default())?;
        ch.confirm_select()?;
        // The small one first: the 64 KiB limit refuses a publish only once the buffer holds
        // that much, so both go out from here.
        for (properties, body) in &self.messages {
            let publish = Publish::to("", self.queue.clone()).properties(properties.clone());
            ch.publish(&publish, body)?;
        }
        Ok(())
    }

    fn on_confirm(
        &mut self,
        ch: &mut Channel<'_>,
        seq: u64,
        acked: bool,
    ) -> Result<(), ClientError> {
        assert!(acked, "publish {seq} nacked");
        self.acked.push(seq);
        if self.acked.len() == self.messages.len() {
            ch.connection().close();
        }
        Ok(())
    }
}

// The canonical text form of `amqp_pika.py consume` (see its docstring), rendered from what we
// sent.

fn quote(data: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in data {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

fn render(v: &FieldValue) -> String {
    let tag = v.tag() as char;
    match v {
        FieldValue::Bool(b) => format!("t:{b}"),
        FieldValue::I8(n) => format!("{tag}:{n}"),
        FieldValue::U8(n) => format!("{tag}:{n}"),
        FieldValue::I16(n) => format!("{tag}:{n}"),
        FieldValue::U16(n) => format!("{tag}:{n}"),
        FieldValue::I32(n) => format!("{tag}:{n}"),
        FieldValue::U32(n) => format!("{tag}:{n}"),
        FieldValue::I64(n) | FieldValue::I64L(n) => format!("{tag}:{n}"),
        FieldValue::Timestamp(n) => format!("{tag}:{n}"),
        FieldValue::F32(f) => format!("f:0x{:08x}", f.to_bits()),
        FieldValue::F64(f) => format!("d:0x{:016x}", f.to_bits()),
        FieldValue::Decimal(d) => format!("D:{},{}", d.scale, d.value),
        FieldValue::LongStr(b) | FieldValue::ByteArray(b) => format!("{tag}:{}", quote(b)),
        FieldValue::Void => "V".to_string(),
        FieldValue::Array(a) => {
            let items: Vec<String> = a.iter().map(render).collect();
            format!("A[{}]", items.join(","))
        }
        FieldValue::Table(t) => render_table(t),
    }
}

fn render_table(t: &FieldTable) -> String {
    let entries: Vec<String> = t
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), render(v)))
        .collect();
    format!("F{{{}}}", entries.join(","))
}

fn render_properties(p: &BasicProperties) -> String {
    let mut out = Vec::new();
    let short = |name: &str, v: &Option<ShortStr>, out: &mut Vec<String>| {
        if let Some(v) = v {
            out.push(format!("{name}={}", quote(v)));
        }
    };
    short("content_type", &p.content_type, &mut out);
    short("content_encoding", &p.content_encoding, &mut out);
    if let Some(h) = &p.headers {
        out.push(format!("headers={}", render_table(h)));
    }
    if let Some(v) = p.delivery_mode {
        out.push(format!("delivery_mode={v}"));
    }
    if let Some(v) = p.priority {
        out.push(format!("priority={v}"));
    }
    short("correlation_id", &p.correlation_id, &mut out);
    short("reply_to", &p.reply_to, &mut out);
    short("expiration", &p.expiration, &mut out);
    short("message_id", &p.message_id, &mut out);
    if let Some(v) = p.timestamp {
        out.push(format!("timestamp={v}"));
    }
    short("type", &p.kind, &mut out);
    short("user_id", &p.user_id, &mut out);
    short("app_id", &p.app_id, &mut out);
    short("cluster_id", &p.cluster_id, &mut out);
    format!("properties {}", out.join(" "))
}

fn render_body(body: &[u8]) -> String {
    if body.len() <= 256 {
        return format!("body {}", quote(body));
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in body {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("body len={} fnv1a={h:016x}", body.len())
}

#[test]
#[ignore = "needs rabbitmq-server and pika: run scripts/test"]
fn our_client_publishes_and_pika_consumes() {
    let q = queue("spindle-to-pika");
    let messages = vec![
        (spindle_small_properties(), SPINDLE_SMALL_BODY.to_vec()),
        (spindle_large_properties(), large_body()),
    ];
    let h = run_within_timeout(PublishConfirmed {
        queue: q.clone(),
        messages: messages.clone(),
        acked: Vec::new(),
        frame_max: 0,
    });
    assert_eq!(h.acked, [1, 2]);
    assert!(
        (h.frame_max as usize) < large_body().len(),
        "frame_max {}: the large body is not split",
        h.frame_max
    );

    let out = pika(&["consume", &broker_uri(), &q, "2"]);
    let mut expected = Vec::new();
    for (properties, body) in &messages {
        expected.push(format!(
            "message exchange=\"\" routing_key={} redelivered=false",
            quote(q.as_bytes())
        ));
        expected.push(render_properties(properties));
        expected.push(render_body(body));
    }
    // Line by line first, for a readable failure.
    for (got, want) in out.lines.iter().zip(&expected) {
        assert_eq!(got, want, "stderr:\n{}", out.stderr);
    }
    assert_eq!(out.lines, expected, "stderr:\n{}", out.stderr);
    // Every type went through: each type octet starts a value in what pika printed.
    let small = &out.lines[1];
    for tag in "tbBsuIilLfdDSATFVx".chars() {
        assert!(small.contains(&format!("={tag}")), "{tag} missing: {small}");
    }
}
