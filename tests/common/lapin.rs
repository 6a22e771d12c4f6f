//! lapin (Rust's most used AMQP 0-9-1 client) as the broker tests drive it: one tokio runtime per
//! test, every awaited reply, delivery or confirm bounded by [`WAIT`], and the methods the tests
//! call most, failing the test with what went wrong.

use std::future::Future;
use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer, ErrorKind,
};
use tokio_stream::StreamExt;

use super::both::Broker;

/// How long any one awaited event (a reply, a delivery, a confirm) may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Runs one test body on a runtime of its own (lapin runs its IO on the current tokio runtime).
pub fn run(test: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

/// `fut`, which must finish within [`WAIT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: nothing within {WAIT:?}"),
    }
}

/// A guest URI (`amqp://guest:guest@127.0.0.1:PORT/`) with the default vhost spelled as lapin
/// wants it, plus `query`.
pub fn lapin_uri(guest_uri: &str, query: &str) -> String {
    format!("{guest_uri}%2f{query}")
}

/// A connection to `broker` with `query` added to its URI (`?frame_max=...`).
pub async fn connect_with(broker: &Broker, query: &str) -> Connection {
    connect_uri(&lapin_uri(&broker.uri(), query)).await
}

/// A connection to the broker at `uri` (in lapin's form, see [`lapin_uri`]).
pub async fn connect_uri(uri: &str) -> Connection {
    within(
        "connect",
        Connection::connect(uri, ConnectionProperties::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("connect to {uri}: {e}"))
}

/// A connection to `broker`.
pub async fn connect(broker: &Broker) -> Connection {
    connect_with(broker, "").await
}

/// A new channel on `conn`.
pub async fn channel(conn: &Connection) -> Channel {
    within("channel.open", conn.create_channel()).await.unwrap()
}

/// Closes `conn` (200, as a client that is done).
pub async fn close(conn: Connection) {
    within("connection.close", conn.close(200, "bye".into()))
        .await
        .unwrap();
}

/// A field table of `entries`.
pub fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in entries {
        table.insert((*key).into(), value.clone());
    }
    table
}

/// `s` as a field-table long string.
pub fn longstr(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// Declares the queue `name` (default options) with `args`.
pub async fn declare(ch: &Channel, name: &str, args: FieldTable) {
    within(
        "queue.declare",
        ch.queue_declare(name.into(), QueueDeclareOptions::default(), args),
    )
    .await
    .unwrap_or_else(|e| panic!("queue.declare {name}: {e}"));
}

/// The number of ready messages in `name` (a passive queue.declare).
pub async fn message_count(ch: &Channel, name: &str) -> u32 {
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    within(
        "passive queue.declare",
        ch.queue_declare(name.into(), options, FieldTable::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("passive queue.declare {name}: {e}"))
    .message_count()
}

/// Deletes the queue `name`.
pub async fn delete_queue(ch: &Channel, name: &str) {
    within(
        "queue.delete",
        ch.queue_delete(name.into(), QueueDeleteOptions::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("queue.delete {name}: {e}"));
}

/// Deletes the exchange `name`.
pub async fn delete_exchange(ch: &Channel, name: &str) {
    within(
        "exchange.delete",
        ch.exchange_delete(name.into(), ExchangeDeleteOptions::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("exchange.delete {name}: {e}"));
}

/// Publishes `body` to `exchange` with `routing_key` and returns the broker's confirm (the
/// channel is in confirm mode).
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Confirmation {
    let confirm = within(
        "basic.publish",
        ch.basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        ),
    )
    .await
    .unwrap();
    within("publisher confirm", confirm).await.unwrap()
}

/// Puts `ch` in publisher-confirm mode.
pub async fn confirm_select(ch: &Channel) {
    within(
        "confirm.select",
        ch.confirm_select(ConfirmSelectOptions::default()),
    )
    .await
    .unwrap();
}

/// Starts a consumer on `queue` (`no_ack`: the broker counts each delivery as acked).
pub async fn consume(ch: &Channel, queue: &str, no_ack: bool) -> Consumer {
    let options = BasicConsumeOptions {
        no_ack,
        ..BasicConsumeOptions::default()
    };
    within(
        "basic.consume",
        ch.basic_consume(queue.into(), "".into(), options, FieldTable::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("basic.consume {queue}: {e}"))
}

/// The consumer's next delivery, which must come within [`WAIT`].
pub async fn next(consumer: &mut Consumer) -> Delivery {
    within("a delivery", consumer.next())
        .await
        .expect("the consumer was cancelled")
        .expect("a delivery, not an error")
}

/// The reply code and text of the channel or connection close that failed an operation.
pub fn refusal<T: std::fmt::Debug>(result: lapin::Result<T>) -> (u16, String) {
    let error = result.expect_err("the broker refused it");
    match error.kind() {
        ErrorKind::ProtocolError(e) => (e.get_id(), e.get_message().to_string()),
        other => panic!("expected a channel close, got {other:?}"),
    }
}
