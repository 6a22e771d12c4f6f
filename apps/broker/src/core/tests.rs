//! The core without a socket: operations in, deliveries and cancels recorded by a [`Sink`]
//! double that can also pretend a connection's output is full.

use std::collections::HashMap;

use bytes::Bytes;
use spindle_protocols::amqp::{
    BasicProperties, ExchangeDeclare, FieldTable, FieldValue, QueueDeclare, ReplyCode, ShortStr,
};
use spindle_reactor::ConnId;

use super::{Broker, Delivery, Sink, OUTPUT_HIGH_WATER};
use crate::config::BrokerConfig;

/// What the sink saw: deliveries (connection, channel, consumer tag, delivery tag,
/// redelivered, body) and cancels.
#[derive(Debug, Default)]
struct Recorder {
    deliveries: Vec<(ConnId, u16, String, u64, bool, String)>,
    cancels: Vec<(ConnId, u16, String)>,
    backlog: HashMap<ConnId, usize>,
    drain_requests: Vec<ConnId>,
    resumed: Vec<ConnId>,
    /// `connection.blocked` reasons (`None`: unblocked) per connection, in order.
    blocked: Vec<(ConnId, Option<String>)>,
    /// Confirms written at the end of a turn.
    confirmed: Vec<(ConnId, Vec<super::confirms::ConfirmFrame>)>,
}

impl Sink for Recorder {
    fn deliver(&mut self, d: Delivery<'_>) {
        self.deliveries.push((
            d.conn,
            d.channel,
            d.consumer_tag.to_string(),
            d.delivery_tag,
            d.redelivered,
            String::from_utf8_lossy(&d.message.body).into_owned(),
        ));
    }

    fn cancel(&mut self, conn: ConnId, channel: u16, consumer_tag: &ShortStr) {
        self.cancels.push((conn, channel, consumer_tag.to_string()));
    }

    fn backlog(&self, conn: ConnId) -> usize {
        self.backlog.get(&conn).copied().unwrap_or(0)
    }

    fn wait_for_drain(&mut self, conn: ConnId) {
        self.drain_requests.push(conn);
    }

    fn resume_reading(&mut self, conn: ConnId) {
        self.resumed.push(conn);
    }

    fn blocked(&mut self, conn: ConnId, reason: Option<&str>) {
        self.blocked.push((conn, reason.map(str::to_string)));
    }

    fn confirms(&mut self, conn: ConnId, frames: &[super::confirms::ConfirmFrame]) {
        self.confirmed.push((conn, frames.to_vec()));
    }
}

impl Recorder {
    fn bodies(&mut self) -> Vec<(ConnId, String, bool)> {
        self.deliveries
            .drain(..)
            .map(|(c, _, _, _, r, b)| (c, b, r))
            .collect()
    }
}

fn s(text: &str) -> ShortStr {
    ShortStr::try_from(text).unwrap()
}

fn conn(n: u32) -> ConnId {
    ConnId::from_parts(n, 1)
}

/// A broker with connections 1..=n open as guest on `/`, channel 1 each.
fn broker(n: u32) -> Broker {
    let mut b = Broker::new(BrokerConfig::default());
    for i in 1..=n {
        b.open_connection(conn(i), "guest", "/", 131_072, true);
        b.open_channel(conn(i), 1);
    }
    b
}

fn declare(b: &mut Broker, c: ConnId, queue: &str) -> ShortStr {
    let m = QueueDeclare {
        queue: s(queue),
        ..QueueDeclare::default()
    };
    b.queue_declare(c, &m).unwrap().0
}

fn publish(
    b: &mut Broker,
    c: ConnId,
    exchange: &str,
    key: &str,
    body: &'static str,
    out: &mut Recorder,
) -> bool {
    b.publish(
        c,
        1,
        &s(exchange),
        &s(key),
        BasicProperties::default(),
        Bytes::from_static(body.as_bytes()),
        out,
    )
    .unwrap()
    .routed
}

#[test]
fn a_message_goes_to_the_queue_then_to_its_consumer_and_is_acked() {
    let mut b = broker(1);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "hello");
    assert!(publish(
        &mut b,
        conn(1),
        "",
        "hello",
        "Hello World!",
        &mut out
    ));
    assert!(!publish(&mut b, conn(1), "", "nowhere", "lost", &mut out));
    let tag = b
        .consume(conn(1), 1, &s("hello"), &ShortStr::default(), false, false)
        .unwrap();
    assert!(tag.starts_with(b"amq.ctag-"));
    assert!(
        out.deliveries.is_empty(),
        "consume does not deliver before consume-ok"
    );
    b.serve(conn(1), 1, &mut out);
    let d = out.deliveries.pop().unwrap();
    assert_eq!((d.3, d.4, d.5.as_str()), (1, false, "Hello World!"));
    b.ack(conn(1), 1, 1, false, &mut out).unwrap();
    let again = b.ack(conn(1), 1, 1, false, &mut out).unwrap_err();
    assert_eq!(again.code, ReplyCode::PreconditionFailed);
    assert_eq!(
        again.reply_text(),
        "PRECONDITION_FAILED - unknown delivery tag 1"
    );
}

#[test]
fn consumers_take_turns_and_prefetch_one_makes_dispatch_fair() {
    let mut b = broker(2);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "tasks");
    for c in [conn(1), conn(2)] {
        b.qos(c, 1, 1, false, &mut out);
        b.consume(c, 1, &s("tasks"), &s("w"), false, false).unwrap();
    }
    for body in ["a", "b", "c", "d"] {
        publish(&mut b, conn(1), "", "tasks", body, &mut out);
    }
    // One each: both now hold their prefetch of one.
    assert_eq!(
        out.bodies(),
        [(conn(1), "a".into(), false), (conn(2), "b".into(), false)]
    );
    // The second worker finishes first and gets the next; the first still works on "a".
    b.ack(conn(2), 1, 1, false, &mut out).unwrap();
    assert_eq!(out.bodies(), [(conn(2), "c".into(), false)]);
    b.ack(conn(2), 1, 2, false, &mut out).unwrap();
    assert_eq!(out.bodies(), [(conn(2), "d".into(), false)]);
}

#[test]
fn a_rejected_message_comes_back_redelivered_in_its_place() {
    let mut b = broker(1);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "q");
    for body in ["1", "2", "3"] {
        publish(&mut b, conn(1), "", "q", body, &mut out);
    }
    let first = b
        .get(conn(1), 1, &s("q"), false, &mut out)
        .unwrap()
        .unwrap();
    let second = b
        .get(conn(1), 1, &s("q"), false, &mut out)
        .unwrap()
        .unwrap();
    assert_eq!(second.message_count, 1);
    b.nack(conn(1), 1, second.delivery_tag, false, true, &mut out)
        .unwrap();
    b.nack(conn(1), 1, first.delivery_tag, false, true, &mut out)
        .unwrap();
    let order: Vec<(String, bool)> = (0..3)
        .map(|_| {
            let g = b.get(conn(1), 1, &s("q"), true, &mut out).unwrap().unwrap();
            (
                String::from_utf8_lossy(&g.message.body).into_owned(),
                g.redelivered,
            )
        })
        .collect();
    assert_eq!(
        order,
        [("1".into(), true), ("2".into(), true), ("3".into(), false)]
    );
    assert!(b
        .get(conn(1), 1, &s("q"), true, &mut out)
        .unwrap()
        .is_none());
}

#[test]
fn a_closed_channel_gives_its_unacked_messages_to_the_other_consumers() {
    let mut b = broker(2);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "q");
    b.qos(conn(1), 1, 1, false, &mut out);
    b.consume(conn(1), 1, &s("q"), &s("a"), false, false)
        .unwrap();
    publish(&mut b, conn(2), "", "q", "job", &mut out);
    assert_eq!(out.bodies(), [(conn(1), "job".into(), false)]);
    b.consume(conn(2), 1, &s("q"), &s("b"), false, false)
        .unwrap();
    b.close_connection(conn(1), &mut out);
    assert_eq!(out.bodies(), [(conn(2), "job".into(), true)]);
}

#[test]
fn an_exclusive_queue_is_locked_to_its_connection_and_goes_with_it() {
    let mut b = broker(2);
    let mut out = Recorder::default();
    let m = QueueDeclare {
        exclusive: true,
        ..QueueDeclare::default()
    };
    let (name, _, _) = b.queue_declare(conn(1), &m).unwrap();
    assert!(name.starts_with(b"amq.gen-"));
    let refused = b
        .consume(conn(2), 1, &name, &ShortStr::default(), true, false)
        .unwrap_err();
    assert_eq!(refused.code, ReplyCode::ResourceLocked);
    b.close_connection(conn(1), &mut out);
    let gone = b.queue_purge(conn(2), &name, &mut out).unwrap_err();
    assert_eq!(gone.code, ReplyCode::NotFound);
    assert_eq!(
        gone.reply_text(),
        format!("NOT_FOUND - no queue '{name}' in vhost '/'")
    );
}

#[test]
fn redeclaring_differently_is_refused_in_rabbitmqs_words() {
    let mut b = broker(1);
    let x = |kind: &str, durable: bool| ExchangeDeclare {
        exchange: s("logs"),
        kind: s(kind),
        durable,
        ..ExchangeDeclare::default()
    };
    b.exchange_declare(conn(1), &x("fanout", false)).unwrap();
    b.exchange_declare(conn(1), &x("fanout", false)).unwrap();
    let e = b
        .exchange_declare(conn(1), &x("direct", false))
        .unwrap_err();
    assert_eq!(
        e.reply_text(),
        "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'logs' in vhost '/': \
         received 'direct' but current is 'fanout'"
    );
    let bad = b.exchange_declare(
        conn(1),
        &ExchangeDeclare {
            exchange: s("x"),
            kind: s("bogus"),
            ..ExchangeDeclare::default()
        },
    );
    assert_eq!(bad.unwrap_err().code, ReplyCode::CommandInvalid);
    let durable = QueueDeclare {
        queue: s("q"),
        durable: true,
        ..QueueDeclare::default()
    };
    b.queue_declare(conn(1), &durable).unwrap();
    let e = b
        .queue_declare(
            conn(1),
            &QueueDeclare {
                queue: s("q"),
                ..QueueDeclare::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        e.reply_text(),
        "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '/': \
         received 'false' but current is 'true'"
    );
}

#[test]
fn a_full_connection_gets_no_deliveries_until_it_drains() {
    let mut b = broker(2);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "q");
    b.consume(conn(2), 1, &s("q"), &s("slow"), true, false)
        .unwrap();
    out.backlog.insert(conn(2), OUTPUT_HIGH_WATER);
    publish(&mut b, conn(1), "", "q", "m1", &mut out);
    publish(&mut b, conn(1), "", "q", "m2", &mut out);
    assert!(out.deliveries.is_empty());
    assert_eq!(out.drain_requests, [conn(2)]);
    out.backlog.clear();
    b.output_drained(conn(2), &mut out);
    assert_eq!(
        out.bodies(),
        [(conn(2), "m1".into(), false), (conn(2), "m2".into(), false)]
    );
}

#[test]
fn deleting_a_queue_cancels_its_consumers() {
    let mut b = broker(2);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "q");
    b.consume(conn(2), 1, &s("q"), &s("c2"), true, false)
        .unwrap();
    publish(&mut b, conn(1), "", "q", "x", &mut out);
    out.deliveries.clear();
    publish(&mut b, conn(1), "", "q", "y", &mut out);
    out.deliveries.clear();
    assert_eq!(
        b.queue_delete(conn(1), &s("q"), false, false, &mut out)
            .unwrap(),
        0
    );
    assert_eq!(out.cancels, [(conn(2), 1, "c2".to_string())]);
}

#[test]
fn permissions_are_checked_per_operation() {
    let mut b = Broker::new(BrokerConfig::default());
    b.add_user("bob", "secret", Vec::new()).unwrap();
    b.set_permissions("bob", "/", "^bob\\.", "^bob\\.", ".*")
        .unwrap();
    b.open_connection(conn(1), "bob", "/", 131_072, true);
    b.open_channel(conn(1), 1);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "bob.q");
    let m = QueueDeclare {
        queue: s("alice.q"),
        ..QueueDeclare::default()
    };
    let e = b.queue_declare(conn(1), &m).unwrap_err();
    assert_eq!(
        e.reply_text(),
        "ACCESS_REFUSED - access to queue 'alice.q' in vhost '/' refused for user 'bob'"
    );
    let e = b
        .publish(
            conn(1),
            1,
            &s(""),
            &s("bob.q"),
            BasicProperties::default(),
            Bytes::new(),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(
        e.reply_text(),
        "ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'bob'"
    );
}

#[test]
fn definitions_load_and_export_in_rabbitmqs_format() {
    let mut b = Broker::new(BrokerConfig::default());
    let json = br#"{
        "rabbit_version": "3.10.8",
        "users": [{"name": "alice", "password_hash": "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
                   "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ["monitoring"]}],
        "vhosts": [{"name": "/"}, {"name": "jobs"}],
        "permissions": [{"user": "alice", "vhost": "jobs", "configure": ".*", "write": ".*", "read": ".*"}],
        "exchanges": [{"name": "events", "vhost": "jobs", "type": "topic", "durable": true,
                       "auto_delete": false, "internal": false, "arguments": {}}],
        "queues": [{"name": "audit", "vhost": "jobs", "durable": true, "auto_delete": false,
                    "arguments": {"x-max-length": 100}}],
        "bindings": [{"source": "events", "vhost": "jobs", "destination": "audit",
                      "destination_type": "queue", "routing_key": "order.#", "arguments": {}}]
    }"#;
    b.load_definitions(json).unwrap();
    assert!(b.users.login("alice", "test12", true).is_ok());
    assert!(b.users.may_open("alice", "jobs"));
    b.open_connection(conn(1), "alice", "jobs", 131_072, true);
    b.open_channel(conn(1), 1);
    let mut out = Recorder::default();
    assert!(publish(
        &mut b,
        conn(1),
        "events",
        "order.created",
        "o1",
        &mut out
    ));
    assert_eq!(
        b.get(conn(1), 1, &s("audit"), true, &mut out)
            .unwrap()
            .unwrap()
            .message
            .body,
        "o1"
    );
    let exported = b.export_definitions();
    assert_eq!(exported["users"].as_array().map(Vec::len), Some(2));
    assert_eq!(exported["queues"][0]["arguments"]["x-max-length"], 100);
    assert_eq!(exported["bindings"][0]["routing_key"], "order.#");
    let mut again = Broker::new(BrokerConfig::default());
    again
        .load_definitions(exported.to_string().as_bytes())
        .unwrap();
    assert!(again.users.login("alice", "test12", true).is_ok());
}

fn declare_with(b: &mut Broker, c: ConnId, queue: &str, args: &[(&str, FieldValue)]) {
    let mut arguments = FieldTable::new();
    for (k, v) in args {
        arguments.insert(s(k), v.clone());
    }
    let m = QueueDeclare {
        queue: s(queue),
        arguments,
        ..QueueDeclare::default()
    };
    b.queue_declare(c, &m).unwrap();
}

fn text(v: &str) -> FieldValue {
    FieldValue::LongStr(Bytes::copy_from_slice(v.as_bytes()))
}

fn get_body(b: &mut Broker, queue: &str, out: &mut Recorder) -> Option<(String, BasicProperties)> {
    b.get(conn(1), 1, &s(queue), true, out).unwrap().map(|g| {
        (
            String::from_utf8_lossy(&g.message.body).into_owned(),
            g.message.properties.clone(),
        )
    })
}

/// Declares `queue`, whose rejected messages go to the queue `dead` through the default
/// exchange.
fn declare_dead_lettering(b: &mut Broker, queue: &str) {
    declare_with(
        b,
        conn(1),
        queue,
        &[
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text("dead")),
        ],
    );
}

/// Takes the message `job` from `queue`, rejects it, takes it from `dead`, and returns its
/// headers there.
fn reject_into_dead(b: &mut Broker, queue: &str, out: &mut Recorder) -> FieldTable {
    let g = b.get(conn(1), 1, &s(queue), false, out).unwrap().unwrap();
    b.nack(conn(1), 1, g.delivery_tag, false, false, out)
        .unwrap();
    let (body, props) = get_body(b, "dead", out).unwrap();
    assert_eq!(body, "job");
    props.headers.unwrap()
}

/// The first x-death entry of `headers`.
fn first_death(headers: &FieldTable) -> &FieldTable {
    headers
        .get("x-death")
        .and_then(FieldValue::as_array)
        .and_then(|deaths| deaths.first())
        .and_then(FieldValue::as_table)
        .unwrap()
}

#[test]
fn a_rejected_message_is_dead_lettered_with_rabbitmqs_x_death() {
    let mut b = broker(1);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "dead");
    declare_with(
        &mut b,
        conn(1),
        "work",
        &[("x-dead-letter-exchange", text(""))],
    );
    // Through the default exchange with a dead-letter routing key of its own.
    declare_dead_lettering(&mut b, "work2");
    publish(&mut b, conn(1), "", "work2", "job", &mut out);
    let headers = reject_into_dead(&mut b, "work2", &mut out);
    let death = first_death(&headers);
    assert_eq!(death.get("count"), Some(&FieldValue::I64(1)));
    assert_eq!(death.get("reason"), Some(&text("rejected")));
    assert_eq!(death.get("queue"), Some(&text("work2")));
    assert_eq!(death.get("exchange"), Some(&text("")));
    assert_eq!(
        death.get("routing-keys"),
        Some(&FieldValue::Array(vec![text("work2")]))
    );
    assert_eq!(headers.get("x-first-death-reason"), Some(&text("rejected")));
    assert_eq!(headers.get("x-first-death-queue"), Some(&text("work2")));
}

/// The x-death count a publisher sent is the one dead-lettering adds to: at i64::MAX it stays
/// there rather than overflowing.
#[test]
fn a_published_x_death_count_at_i64_max_saturates() {
    let mut b = broker(1);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "dead");
    declare_dead_lettering(&mut b, "work");
    let mut death = FieldTable::new();
    death.insert(s("count"), FieldValue::I64(i64::MAX));
    death.insert(s("queue"), text("work"));
    death.insert(s("reason"), text("rejected"));
    let mut headers = FieldTable::new();
    headers.insert(
        s("x-death"),
        FieldValue::Array(vec![FieldValue::Table(death)]),
    );
    let properties = BasicProperties {
        headers: Some(headers),
        ..BasicProperties::default()
    };
    b.publish(
        conn(1),
        1,
        &s(""),
        &s("work"),
        properties,
        Bytes::from_static(b"job"),
        &mut out,
    )
    .unwrap();
    let headers = reject_into_dead(&mut b, "work", &mut out);
    assert_eq!(
        first_death(&headers).get("count"),
        Some(&FieldValue::I64(i64::MAX))
    );
}

#[test]
fn messages_expire_and_a_ttl_queue_with_a_dead_letter_exchange_delays_them() {
    let mut b = broker(1);
    let mut out = Recorder::default();
    let t0 = std::time::Instant::now();
    b.set_clock(t0);
    declare(&mut b, conn(1), "work");
    declare_with(
        &mut b,
        conn(1),
        "retry-in-100ms",
        &[
            ("x-message-ttl", FieldValue::I64(100)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text("work")),
        ],
    );
    declare(&mut b, conn(1), "plain");
    publish(&mut b, conn(1), "", "retry-in-100ms", "later", &mut out);
    let props = BasicProperties {
        expiration: Some(s("50")),
        ..BasicProperties::default()
    };
    b.publish(
        conn(1),
        1,
        &s(""),
        &s("plain"),
        props,
        Bytes::from_static(b"brief"),
        &mut out,
    )
    .unwrap();
    b.tick(t0 + std::time::Duration::from_millis(60), &mut out);
    assert!(
        get_body(&mut b, "plain", &mut out).is_none(),
        "expired after 50 ms"
    );
    assert!(get_body(&mut b, "work", &mut out).is_none(), "not yet");
    b.tick(t0 + std::time::Duration::from_millis(150), &mut out);
    let (body, props) = get_body(&mut b, "work", &mut out).unwrap();
    assert_eq!(body, "later");
    let death = props.headers.unwrap();
    let first = death.get("x-death").and_then(FieldValue::as_array).unwrap()[0]
        .as_table()
        .unwrap()
        .clone();
    assert_eq!(first.get("reason"), Some(&text("expired")));
    let bad = BasicProperties {
        expiration: Some(s("soon")),
        ..BasicProperties::default()
    };
    let e = b
        .publish(conn(1), 1, &s(""), &s("plain"), bad, Bytes::new(), &mut out)
        .unwrap_err();
    assert_eq!(
        e.reply_text(),
        "PRECONDITION_FAILED - invalid expiration 'soon': no_integer"
    );
}

#[test]
fn an_unused_queue_with_x_expires_is_deleted_and_overflow_dead_letters_the_head() {
    let mut b = broker(1);
    let mut out = Recorder::default();
    let t0 = std::time::Instant::now();
    b.set_clock(t0);
    declare_with(
        &mut b,
        conn(1),
        "temp",
        &[("x-expires", FieldValue::I64(1000))],
    );
    declare(&mut b, conn(1), "overflow");
    declare_with(
        &mut b,
        conn(1),
        "short",
        &[
            ("x-max-length", FieldValue::I64(1)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text("overflow")),
        ],
    );
    publish(&mut b, conn(1), "", "short", "first", &mut out);
    publish(&mut b, conn(1), "", "short", "second", &mut out);
    let (body, props) = get_body(&mut b, "overflow", &mut out).unwrap();
    assert_eq!(body, "first");
    assert_eq!(
        props.headers.unwrap().get("x-first-death-reason"),
        Some(&text("maxlen"))
    );
    b.tick(t0 + std::time::Duration::from_millis(999), &mut out);
    assert!(b.queue_purge(conn(1), &s("temp"), &mut out).is_ok());
    b.tick(t0 + std::time::Duration::from_millis(1001), &mut out);
    assert_eq!(
        b.queue_purge(conn(1), &s("temp"), &mut out)
            .unwrap_err()
            .code,
        ReplyCode::NotFound
    );
}

#[test]
fn direct_reply_to_delivers_replies_to_the_asking_channel_without_a_queue() {
    let mut b = broker(2);
    let mut out = Recorder::default();
    declare(&mut b, conn(2), "rpc_queue");
    let refused = b
        .consume(
            conn(1),
            1,
            &s("amq.rabbitmq.reply-to"),
            &s("r"),
            false,
            false,
        )
        .unwrap_err();
    assert_eq!(
        refused.reply_text(),
        "PRECONDITION_FAILED - reply consumer cannot acknowledge"
    );
    let asking = BasicProperties {
        reply_to: Some(s("amq.rabbitmq.reply-to")),
        ..BasicProperties::default()
    };
    let e = b
        .publish(
            conn(1),
            1,
            &s(""),
            &s("rpc_queue"),
            asking.clone(),
            Bytes::new(),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(
        e.reply_text(),
        "PRECONDITION_FAILED - fast reply consumer does not exist"
    );
    b.consume(
        conn(1),
        1,
        &s("amq.rabbitmq.reply-to"),
        &s("replies"),
        true,
        false,
    )
    .unwrap();
    b.publish(
        conn(1),
        1,
        &s(""),
        &s("rpc_queue"),
        asking,
        Bytes::from_static(b"fib 10"),
        &mut out,
    )
    .unwrap();
    let request = b
        .get(conn(2), 1, &s("rpc_queue"), true, &mut out)
        .unwrap()
        .unwrap();
    let address = request.message.properties.reply_to.clone().unwrap();
    assert!(address.starts_with(b"amq.rabbitmq.reply-to."), "{address}");
    let routed = b
        .publish(
            conn(2),
            1,
            &s(""),
            &address,
            BasicProperties::default(),
            Bytes::from_static(b"55"),
            &mut out,
        )
        .unwrap();
    assert!(routed.routed);
    assert_eq!(out.deliveries.len(), 1);
    let d = &out.deliveries[0];
    assert_eq!(
        (d.0, d.1, d.2.as_str(), d.5.as_str()),
        (conn(1), 1, "replies", "55")
    );
    // Once the consumer is gone, a reply has nowhere to go.
    b.close_connection(conn(1), &mut out);
    let late = b
        .publish(
            conn(2),
            1,
            &s(""),
            &address,
            BasicProperties::default(),
            Bytes::new(),
            &mut out,
        )
        .unwrap();
    assert!(!late.routed);
}

#[test]
fn a_single_active_consumer_queue_serves_one_consumer_until_it_goes() {
    let mut b = broker(2);
    let mut out = Recorder::default();
    declare_with(
        &mut b,
        conn(1),
        "sac",
        &[("x-single-active-consumer", FieldValue::Bool(true))],
    );
    b.consume(conn(1), 1, &s("sac"), &s("first"), true, false)
        .unwrap();
    b.consume(conn(2), 1, &s("sac"), &s("second"), true, false)
        .unwrap();
    for body in ["a", "b", "c"] {
        publish(&mut b, conn(1), "", "sac", body, &mut out);
    }
    assert_eq!(
        out.bodies(),
        [
            (conn(1), "a".into(), false),
            (conn(1), "b".into(), false),
            (conn(1), "c".into(), false)
        ]
    );
    b.cancel(conn(1), 1, &s("first"), &mut out);
    publish(&mut b, conn(1), "", "sac", "d", &mut out);
    assert_eq!(out.bodies(), [(conn(2), "d".into(), false)]);
}

#[test]
fn a_queue_its_consumers_do_not_keep_up_with_holds_its_publisher_back() {
    use super::queue::FLOW_HIGH;
    let mut b = broker(2);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "q");
    let publish_one = |b: &mut Broker, out: &mut Recorder| {
        b.publish(
            conn(1),
            1,
            &s(""),
            &s("q"),
            BasicProperties::default(),
            Bytes::from_static(b"m"),
            out,
        )
        .unwrap()
        .hold
    };
    // A queue nobody consumes is a buffer: it takes what comes.
    for _ in 0..FLOW_HIGH + 10 {
        assert!(!publish_one(&mut b, &mut out));
    }
    b.queue_purge(conn(1), &s("q"), &mut out).unwrap();
    // A consumer that takes no more (prefetch 1, nothing acked) falls behind: the queue
    // fills behind its one unacked message, and at the mark the publisher is held.
    b.qos(conn(2), 1, 1, false, &mut out);
    b.consume(conn(2), 1, &s("q"), &s("slow"), false, false)
        .unwrap();
    let held_at = (1..=FLOW_HIGH + 1).find(|_| publish_one(&mut b, &mut out));
    assert_eq!(held_at, Some(FLOW_HIGH + 1), "held at the mark, not before");
    // A consumer that keeps up drains it; once under half, the publisher goes on.
    b.consume(conn(2), 1, &s("q"), &s("fast"), true, false)
        .unwrap();
    b.serve(conn(2), 1, &mut out);
    assert_eq!(out.resumed, [conn(1)]);
}

#[test]
fn a_quorum_queue_counts_deliveries_and_dead_letters_past_its_limit() {
    let mut b = broker(1);
    let mut out = Recorder::default();
    let quorum = |args: &[(&str, FieldValue)], durable, exclusive, auto_delete, name: &str| {
        let mut arguments = FieldTable::new();
        arguments.insert(s("x-queue-type"), text("quorum"));
        for (k, v) in args {
            arguments.insert(s(k), v.clone());
        }
        QueueDeclare {
            queue: s(name),
            durable,
            exclusive,
            auto_delete,
            arguments,
            ..QueueDeclare::default()
        }
    };
    // What RabbitMQ 3.10 refuses, in its words.
    for (m, text) in [
        (
            quorum(&[], false, false, false, "q"),
            "invalid property 'non-durable' for queue 'q' in vhost '/'",
        ),
        (
            quorum(&[], true, true, false, "q"),
            "invalid property 'exclusive-owner' for queue 'q' in vhost '/'",
        ),
        (
            quorum(&[], true, false, true, "q"),
            "invalid property 'auto-delete' for queue 'q' in vhost '/'",
        ),
        (
            quorum(&[], true, false, false, ""),
            "Cannot declare a server-named queue for type rabbit_quorum_queue",
        ),
        (
            quorum(
                &[("x-max-priority", FieldValue::I64(5))],
                true,
                false,
                false,
                "q",
            ),
            "invalid arg 'x-max-priority' for queue 'q' in vhost '/' of queue type \
             rabbit_quorum_queue",
        ),
    ] {
        let e = b.queue_declare(conn(1), &m).unwrap_err();
        assert_eq!(e.code, ReplyCode::PreconditionFailed);
        assert_eq!(e.reply_text(), format!("PRECONDITION_FAILED - {text}"));
    }
    let classic = QueueDeclare {
        queue: s("c"),
        arguments: quorum(
            &[("x-delivery-limit", FieldValue::I64(1))],
            true,
            false,
            false,
            "c",
        )
        .arguments
        .into_iter()
        .filter(|(k, _)| k.as_ref() != b"x-queue-type")
        .collect(),
        ..QueueDeclare::default()
    };
    let e = b.queue_declare(conn(1), &classic).unwrap_err();
    assert_eq!(
        e.reply_text(),
        "PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue 'c' in vhost '/' of \
         queue type rabbit_classic_queue"
    );

    declare(&mut b, conn(1), "dead");
    let limited = quorum(
        &[
            ("x-delivery-limit", FieldValue::I64(2)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text("dead")),
        ],
        true,
        false,
        false,
        "jobs",
    );
    b.queue_declare(conn(1), &limited).unwrap();
    publish(&mut b, conn(1), "", "jobs", "job", &mut out);
    // basic.get always shows the count; it rises with every return, up to the limit.
    for expected in 0..=2 {
        let g = b
            .get(conn(1), 1, &s("jobs"), false, &mut out)
            .unwrap()
            .unwrap();
        let headers = g.message.properties.headers.clone().unwrap();
        assert_eq!(
            headers.get("x-delivery-count"),
            Some(&FieldValue::I64(expected))
        );
        assert_eq!(g.redelivered, expected > 0);
        b.nack(conn(1), 1, g.delivery_tag, false, true, &mut out)
            .unwrap();
    }
    assert!(b
        .get(conn(1), 1, &s("jobs"), true, &mut out)
        .unwrap()
        .is_none());
    let (body, props) = get_body(&mut b, "dead", &mut out).unwrap();
    assert_eq!(body, "job");
    let headers = props.headers.unwrap();
    assert_eq!(headers.get("x-delivery-count"), None);
    assert_eq!(
        headers.get("x-first-death-reason"),
        Some(&text("delivery_limit"))
    );

    // A consumer sees no count on the first delivery, then the count; a closed channel's
    // unacknowledged message is a return too.
    publish(&mut b, conn(1), "", "jobs", "again", &mut out);
    b.consume(conn(1), 1, &s("jobs"), &ShortStr::default(), false, false)
        .unwrap();
    b.serve(conn(1), 1, &mut out);
    assert_eq!(out.deliveries.len(), 1);
    b.close_channel(conn(1), 1, &mut out);
    b.open_channel(conn(1), 1);
    let g = b
        .get(conn(1), 1, &s("jobs"), true, &mut out)
        .unwrap()
        .unwrap();
    let headers = g.message.properties.headers.clone().unwrap();
    assert_eq!(headers.get("x-delivery-count"), Some(&FieldValue::I64(1)));
}

#[test]
fn the_memory_alarm_blocks_publishers_until_the_messages_are_gone() {
    let config = BrokerConfig {
        memory_high_watermark: 4096,
        ..BrokerConfig::default()
    };
    let mut b = Broker::new(config);
    let mut out = Recorder::default();
    for (i, notify) in [(1, true), (2, false), (3, true)] {
        b.open_connection(conn(i), "guest", "/", 131_072, notify);
        b.open_channel(conn(i), 1);
    }
    declare(&mut b, conn(1), "buffer");
    let body = "x".repeat(1000).leak();
    let mut held_at = None;
    for n in 1..=10 {
        let outcome = b
            .publish(
                conn(1),
                1,
                &s(""),
                &s("buffer"),
                BasicProperties::default(),
                Bytes::from_static(body.as_bytes()),
                &mut out,
            )
            .unwrap();
        assert!(outcome.routed, "the publish that crosses the mark is taken");
        if outcome.hold {
            held_at = Some(n);
            break;
        }
    }
    let n = held_at.expect("4 KiB of messages set the alarm");
    assert!((3..=5).contains(&n), "set after {n} messages of ~1.3 KB");
    assert!(b.memory_alarm() && b.memory_used() > 4096);
    assert_eq!(
        out.blocked,
        vec![(conn(1), Some("low on memory".to_string()))]
    );
    // A connection is blocked when it publishes, told only if it asked to be.
    for c in [conn(2), conn(3)] {
        let o = b
            .publish(
                c,
                1,
                &s(""),
                &s("buffer"),
                BasicProperties::default(),
                Bytes::from_static(b"y"),
                &mut out,
            )
            .unwrap();
        assert!(o.hold);
    }
    assert_eq!(out.blocked.len(), 2);
    assert_eq!(out.blocked[1], (conn(3), Some("low on memory".to_string())));
    // Still over the mark: nothing changes at the tick.
    b.tick(std::time::Instant::now(), &mut out);
    assert!(out.resumed.is_empty());
    // Purging drops the messages' charge; the next check clears the alarm and lets all three
    // read again, the two that asked told with connection.unblocked.
    b.queue_purge(conn(1), &s("buffer"), &mut out).unwrap();
    assert_eq!(b.memory_used(), 0);
    b.tick(std::time::Instant::now(), &mut out);
    assert!(!b.memory_alarm());
    assert_eq!(out.resumed.len(), 3);
    for c in [conn(1), conn(2), conn(3)] {
        assert!(out.resumed.contains(&c));
    }
    assert_eq!(&out.blocked[2..], &[(conn(1), None), (conn(3), None)]);
}

#[test]
fn confirms_wait_in_the_core_until_taken_or_the_end_of_the_turn() {
    let mut b = broker(2);
    let mut out = Recorder::default();
    b.confirm(conn(1), 1, 1, true);
    b.confirm(conn(1), 1, 2, true);
    b.confirm(conn(2), 1, 1, false);
    // Nothing waits for an fsync: a connection takes its own at the end of its callback.
    assert_eq!(b.ready_confirms(conn(1)), [(1, 2, true, true)]);
    // The rest leave at the end of the turn, through the sink.
    b.before_flush(&mut out);
    assert_eq!(out.confirmed, [(conn(2), vec![(1, 1, false, false)])]);
    b.before_flush(&mut out);
    assert_eq!(out.confirmed.len(), 1);
}

#[test]
fn the_durable_definitions_hold_what_survives_a_restart() {
    let mut b = broker(1);
    let _ = b.durable_definitions_if_changed();
    assert!(
        b.durable_definitions_if_changed().is_none(),
        "nothing changed"
    );
    let durable = |name: &str, exclusive: bool, durable: bool| QueueDeclare {
        queue: s(name),
        durable,
        exclusive,
        ..QueueDeclare::default()
    };
    for m in [
        durable("kept", false, true),
        durable("transient", false, false),
        durable("mine", true, true),
    ] {
        b.queue_declare(conn(1), &m).unwrap();
    }
    for (name, is_durable) in [("logs", true), ("scratch", false)] {
        let m = ExchangeDeclare {
            exchange: s(name),
            kind: s("fanout"),
            durable: is_durable,
            ..ExchangeDeclare::default()
        };
        b.exchange_declare(conn(1), &m).unwrap();
    }
    for (exchange, queue) in [("logs", "kept"), ("logs", "transient"), ("scratch", "kept")] {
        b.queue_bind(
            conn(1),
            &s(queue),
            &s(exchange),
            &s(""),
            &FieldTable::new(),
            true,
        )
        .unwrap();
    }
    let defs = b.durable_definitions_if_changed().expect("changed");
    let names = |key: &str| -> Vec<String> {
        let mut v: Vec<String> = defs[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap_or("").to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("queues"), ["kept"]);
    assert_eq!(names("exchanges"), ["logs"]);
    let bindings: Vec<(String, String)> = defs["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["source"].as_str().unwrap().to_string(),
                d["destination"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(bindings, [("logs".to_string(), "kept".to_string())]);
    assert_eq!(names("users"), ["guest"]);

    // Loaded into a fresh broker, they give it back the same durable definitions.
    let mut again = broker(1);
    again
        .load_definitions(&serde_json::to_vec(&defs).unwrap())
        .unwrap();
    assert_eq!(again.durable_definitions_if_changed(), Some(defs));
}

#[test]
fn consumers_that_stop_taking_messages_do_not_hold_publishers_for_ever() {
    let mut b = broker(2);
    let mut out = Recorder::default();
    declare(&mut b, conn(1), "q");
    let t0 = std::time::Instant::now();
    b.set_clock(t0);
    b.qos(conn(2), 1, 1, false, &mut out);
    b.consume(conn(2), 1, &s("q"), &s("stuck"), false, false)
        .unwrap();
    let mut publish_one = |b: &mut Broker| {
        b.publish(
            conn(1),
            1,
            &s(""),
            &s("q"),
            BasicProperties::default(),
            Bytes::from_static(b"m"),
            &mut out,
        )
        .unwrap()
        .hold
    };
    let high = super::queue::FLOW_HIGH;
    let held_at = (1..=high + 1).find(|_| publish_one(&mut b));
    assert_eq!(held_at, Some(high + 1));
    // The consumer holds its one message and takes no more: a second later the tick lets the
    // publisher go, and the queue buffers what comes (to disk past its memory share).
    let mut resumed = Recorder::default();
    b.tick(t0 + super::queue::STALLED_AFTER / 2, &mut resumed);
    assert!(resumed.resumed.is_empty(), "not yet");
    b.tick(t0 + super::queue::STALLED_AFTER * 2, &mut resumed);
    assert_eq!(resumed.resumed, [conn(1)]);
    assert!(
        !publish_one(&mut b),
        "the stalled consumer's queue takes more"
    );
}
