//! The broker under `kill -9`: what a client was promised before the crash is there after a
//! restart on the same data, and damage to the files costs exactly the damaged records. Each
//! test kills its own broker (`common::both::Restartable`): `spindle broker --data-dir DIR`, and
//! where the mechanism is AMQP's rather than our files', a RabbitMQ 3.10 of its own restarted on
//! its Mnesia directory, the reference the assertions were checked against.
//!
//! | test | brokers |
//! |---|---|
//! | 1. durable definitions survive, transient, exclusive ones do not | both |
//! | 2. every confirmed persistent message survives, exactly once; acked ones stay gone | both (RabbitMQ may redeliver acked ones) |
//! | 3. a torn tail, a flipped byte: only the damaged record is lost, and the log says where | spindle |
//! | 4. a full disk: nacks, still responsive, acks again once there is room | spindle (a tmpfs) |
//!
//! ```text
//! cargo test --test broker_durability -- --include-ignored
//! SPINDLE_DURABILITY_SEED=N cargo test --test broker_durability -- --include-ignored kill_9
//! ```

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::both::Restartable;
use common::lapin::{
    channel, close, confirm_select, connect_uri, lapin_uri, publish_confirmed, refusal, run,
    within, WAIT,
};
use common::Tmpfs;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ExchangeKind};
use tokio_stream::StreamExt;

/// A connection to `broker` as it is now (a restarted spindle broker has a new port).
async fn connect(broker: &Restartable) -> Connection {
    connect_uri(&lapin_uri(broker.uri(), "")).await
}

/// Properties of a persistent message (delivery mode 2).
fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

/// Declares the queue `name` with `options`.
async fn declare_queue(ch: &Channel, name: &str, options: QueueDeclareOptions) {
    within(
        "queue.declare",
        ch.queue_declare(name.into(), options, FieldTable::default()),
    )
    .await
    .unwrap_or_else(|e| panic!("queue.declare {name}: {e}"));
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// A passive queue.declare of `name` on a channel of its own: its ready message count, or the
/// reply code that refused it (404 when there is no such queue).
async fn queue_exists(conn: &Connection, name: &str) -> Result<u32, u16> {
    let ch = channel(conn).await;
    let options = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let result = within(
        "passive queue.declare",
        ch.queue_declare(name.into(), options, FieldTable::default()),
    )
    .await;
    match result {
        Ok(queue) => {
            close_channel(ch).await;
            Ok(queue.message_count())
        }
        Err(_) => Err(refusal(result).0),
    }
}

/// A passive exchange.declare of `name` on a channel of its own: Ok, or the refusing reply code.
async fn exchange_exists(conn: &Connection, name: &str) -> Result<(), u16> {
    let ch = channel(conn).await;
    let options = ExchangeDeclareOptions {
        passive: true,
        ..ExchangeDeclareOptions::default()
    };
    let result = within(
        "passive exchange.declare",
        ch.exchange_declare(
            name.into(),
            ExchangeKind::Direct,
            options,
            FieldTable::default(),
        ),
    )
    .await;
    match result {
        Ok(()) => {
            close_channel(ch).await;
            Ok(())
        }
        Err(_) => Err(refusal(result).0),
    }
}

/// Closes `ch` (dropped, lapin would close it in the background, racing a connection.close).
async fn close_channel(ch: Channel) {
    within("channel.close", ch.close(200, "done".into()))
        .await
        .unwrap();
}

/// Kills the broker and starts it again without blocking the runtime's other tasks.
fn kill_and_restart(broker: &mut Restartable) {
    tokio::task::block_in_place(|| {
        broker.kill();
        broker.restart();
    });
}

/// Consumes the `count` messages of `queue` (manual acks, settled with one multiple ack and
/// made sure of with a basic.qos round trip), checks the queue is then empty, and returns the
/// bodies in delivery order.
async fn drain(conn: &Connection, queue: &str, count: u32) -> Vec<Vec<u8>> {
    let ch = channel(conn).await;
    within("basic.qos", ch.basic_qos(1000, BasicQosOptions::default()))
        .await
        .unwrap();
    let mut consumer = within(
        "basic.consume",
        ch.basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("basic.consume {queue}: {e}"));
    let mut bodies = Vec::with_capacity(count as usize);
    let (mut last_tag, mut acked_tag) = (0, 0);
    while bodies.len() < count as usize {
        let delivery = within("a delivery while draining", consumer.next())
            .await
            .unwrap_or_else(|| panic!("the consumer of {queue} was cancelled"))
            .unwrap_or_else(|e| panic!("draining {queue}: {e}"));
        last_tag = delivery.delivery_tag;
        bodies.push(delivery.data);
        if bodies.len() % 500 == 0 {
            ack_up_to(&ch, last_tag).await;
            acked_tag = last_tag;
        }
    }
    // Not twice: a second ack of the same tag is a channel error (406, unknown delivery tag),
    // which a count that is a multiple of 500 would otherwise cause.
    if last_tag != acked_tag {
        ack_up_to(&ch, last_tag).await;
    }
    within(
        "basic.cancel",
        ch.basic_cancel(consumer.tag(), Default::default()),
    )
    .await
    .unwrap();
    // The round trip after the acks: the broker has processed them.
    within("basic.qos", ch.basic_qos(1000, BasicQosOptions::default()))
        .await
        .unwrap();
    assert_eq!(
        queue_exists(conn, queue).await,
        Ok(0),
        "{queue} after draining {count}"
    );
    close_channel(ch).await;
    bodies
}

async fn ack_up_to(ch: &Channel, tag: u64) {
    within(
        "basic.ack",
        ch.basic_ack(tag, BasicAckOptions { multiple: true }),
    )
    .await
    .unwrap();
}

// 1. Durable definitions survive kill -9; the others do not.

fn definitions_survive_kill_9(mut broker: Restartable) {
    run(async {
        let conn = connect(&broker).await;
        let ch = channel(&conn).await;
        let exchange_options = |durable| ExchangeDeclareOptions {
            durable,
            ..ExchangeDeclareOptions::default()
        };
        for (name, durable) in [("durable-x", true), ("transient-x", false)] {
            within(
                "exchange.declare",
                ch.exchange_declare(
                    name.into(),
                    ExchangeKind::Direct,
                    exchange_options(durable),
                    FieldTable::default(),
                ),
            )
            .await
            .unwrap();
        }
        declare_queue(&ch, "durable-q", durable()).await;
        within(
            "queue.bind",
            ch.queue_bind(
                "durable-q".into(),
                "durable-x".into(),
                "k".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            ),
        )
        .await
        .unwrap();
        declare_queue(&ch, "transient-q", QueueDeclareOptions::default()).await;
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            ..QueueDeclareOptions::default()
        };
        declare_queue(&ch, "exclusive-q", exclusive).await;
        let auto_delete = QueueDeclareOptions {
            durable: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        declare_queue(&ch, "auto-delete-q", auto_delete).await;

        // Killed with the declaring connection open: nothing was deleted by its close.
        broker.sync_definitions();
        kill_and_restart(&mut broker);

        let conn = connect(&broker).await;
        assert_eq!(exchange_exists(&conn, "durable-x").await, Ok(()));
        assert_eq!(exchange_exists(&conn, "transient-x").await, Err(404));
        assert_eq!(queue_exists(&conn, "durable-q").await, Ok(0));
        assert_eq!(queue_exists(&conn, "transient-q").await, Err(404));
        assert_eq!(queue_exists(&conn, "exclusive-q").await, Err(404));
        assert_eq!(queue_exists(&conn, "auto-delete-q").await, Ok(0));

        // The binding routes.
        let ch = channel(&conn).await;
        confirm_select(&ch).await;
        let confirmation =
            publish_confirmed(&ch, "durable-x", "k", b"routed", BasicProperties::default()).await;
        assert_eq!(confirmation, Confirmation::Ack(None));
        let got = within(
            "basic.get",
            ch.basic_get("durable-q".into(), BasicGetOptions { no_ack: true }),
        )
        .await
        .unwrap()
        .expect("the message routed through the restored binding");
        assert_eq!(got.delivery.data, b"routed");

        // The auto-delete queue goes once a consumer has come and gone.
        let consumer = within(
            "basic.consume",
            ch.basic_consume(
                "auto-delete-q".into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(queue_exists(&conn, "auto-delete-q").await, Ok(0));
        within(
            "basic.cancel",
            ch.basic_cancel(consumer.tag(), Default::default()),
        )
        .await
        .unwrap();
        // RabbitMQ's queue deletes itself after the cancel-ok: poll for it.
        let deadline = Instant::now() + WAIT;
        loop {
            match queue_exists(&conn, "auto-delete-q").await {
                Err(404) => break,
                other => assert!(
                    Instant::now() < deadline,
                    "auto-delete-q after its consumer left: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        close(conn).await;
    });
}

mod definitions_survive_kill_9 {
    use super::*;

    #[test]
    #[ignore = "needs rabbitmq-server: run scripts/test"]
    fn rabbitmq() {
        definitions_survive_kill_9(Restartable::rabbitmq());
    }

    #[test]
    fn spindle_broker() {
        definitions_survive_kill_9(Restartable::spindle_broker());
    }
}

// 2. kill -9 during confirmed publishes.

/// Publishing connections.
const PUBLISHERS: u64 = 4;
/// Unconfirmed publishes each publisher keeps in flight.
const CONFIRM_WINDOW: usize = 1_000;
/// Kill/restart rounds in one test.
const ROUNDS: u64 = 5;
/// Messages published in each round before the kill: at least this many...
const KILL_AFTER_MIN: u64 = 20_000;
/// ...and fewer than this many (the seeded RNG picks).
const KILL_AFTER_MAX: u64 = 30_000;
/// How many deliveries the consumer acks before it stops acking (holding the rest unacked).
const ACK_QUOTA: std::ops::Range<u64> = 2_000..8_000;
/// Acks between two round trips that make sure the broker processed them.
const ACKS_PER_ROUND_TRIP: usize = 50;
/// The queue the publishers publish to.
const CRASH_QUEUE: &str = "crash-q";

/// A message's identity, carried in its body as `ROUND.PUBLISHER.SEQ`.
type Id = (u64, u64, u64);

fn body_of(id: Id) -> String {
    format!("{}.{}.{}", id.0, id.1, id.2)
}

fn id_of(body: &[u8]) -> Id {
    let text = String::from_utf8_lossy(body);
    let parts: Vec<u64> = text
        .split('.')
        .map(|part| {
            part.parse()
                .unwrap_or_else(|_| panic!("a body not published here: {text:?}"))
        })
        .collect();
    match parts[..] {
        [round, publisher, seq] => (round, publisher, seq),
        _ => panic!("a body not published here: {text:?}"),
    }
}

/// splitmix64: a seeded source of kill points, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    /// Seeded from `SPINDLE_DURABILITY_SEED`, or from the clock (and printed either way).
    fn from_env() -> Rng {
        let seed = match std::env::var("SPINDLE_DURABILITY_SEED") {
            Ok(seed) => seed
                .parse()
                .unwrap_or_else(|_| panic!("SPINDLE_DURABILITY_SEED={seed:?} is not a u64")),
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        println!("seed {seed} (SPINDLE_DURABILITY_SEED={seed} repeats these kill points)");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn in_range(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next() % (range.end - range.start)
    }
}

/// What one publisher knows when its broker has died.
struct Published {
    /// How many it sent (seq 0 up to this).
    sent: u64,
    /// Those whose confirm was an ack.
    confirmed: Vec<Id>,
}

/// Publishes persistent messages to [`CRASH_QUEUE`] with [`CONFIRM_WINDOW`] confirms in flight
/// until the broker is gone, counting each send in `sent_in_round`.
async fn publish_until_killed(
    uri: String,
    round: u64,
    publisher: u64,
    sent_in_round: Arc<AtomicU64>,
) -> Published {
    let conn = connect_uri(&uri).await;
    let ch = channel(&conn).await;
    confirm_select(&ch).await;
    let mut window: VecDeque<(Id, lapin::PublisherConfirm)> = VecDeque::new();
    let mut confirmed = Vec::new();
    let mut seq = 0;
    'publishing: loop {
        while window.len() >= CONFIRM_WINDOW {
            let Some((id, confirm)) = window.pop_front() else {
                break;
            };
            match tokio::time::timeout(WAIT, confirm).await {
                Ok(Ok(Confirmation::Ack(_))) => confirmed.push(id),
                Ok(Ok(_)) => {}
                // The broker is gone.
                Ok(Err(_)) | Err(_) => break 'publishing,
            }
        }
        let id = (round, publisher, seq);
        let body = body_of(id);
        let publish = ch.basic_publish(
            "".into(),
            CRASH_QUEUE.into(),
            BasicPublishOptions::default(),
            body.as_bytes(),
            persistent(),
        );
        match tokio::time::timeout(WAIT, publish).await {
            Ok(Ok(confirm)) => window.push_back((id, confirm)),
            Ok(Err(_)) | Err(_) => break,
        }
        seq += 1;
        sent_in_round.fetch_add(1, Ordering::Relaxed);
    }
    // Confirms that arrived before the kill are settled already; the rest fail with the
    // connection (or never come: a short wait each).
    for (id, confirm) in window {
        if let Ok(Ok(Confirmation::Ack(_))) =
            tokio::time::timeout(Duration::from_millis(500), confirm).await
        {
            confirmed.push(id);
        }
    }
    Published {
        sent: seq,
        confirmed,
    }
}

/// What the consumer acked before the broker died.
#[derive(Default)]
struct Acked {
    /// Acks followed by a completed round trip on the channel: the broker processed them.
    sure: Vec<Id>,
    /// Acks sent with no round trip after them: maybe processed.
    unsure: Vec<Id>,
}

/// Consumes [`CRASH_QUEUE`] with manual acks, acking each delivery until it has acked `quota`
/// (making sure of every [`ACKS_PER_ROUND_TRIP`] with a basic.qos round trip), then cancels and
/// holds the deliveries it got since unacked until the broker is gone.
async fn ack_until_killed(uri: String, quota: u64) -> Acked {
    let conn = connect_uri(&uri).await;
    let ch = channel(&conn).await;
    let qos = || ch.basic_qos(200, BasicQosOptions::default());
    within("basic.qos", qos()).await.unwrap();
    let mut consumer = within(
        "basic.consume",
        ch.basic_consume(
            CRASH_QUEUE.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )
    .await
    .unwrap();
    let mut acked = Acked::default();
    loop {
        // Deliveries stop when the broker dies; the wait ends this if lapin says nothing.
        let Ok(Some(Ok(delivery))) = tokio::time::timeout(WAIT, consumer.next()).await else {
            return acked;
        };
        let ack = ch.basic_ack(delivery.delivery_tag, BasicAckOptions::default());
        let sent = tokio::time::timeout(WAIT, ack).await;
        // An ack whose sending failed may still have left.
        acked.unsure.push(id_of(&delivery.data));
        if !matches!(sent, Ok(Ok(()))) {
            return acked;
        }
        if (acked.sure.len() + acked.unsure.len()) as u64 >= quota {
            // basic.cancel-ok is the round trip after the last acks. No more deliveries: a
            // consumer that takes nothing would hold spindle broker's publishers back (its flow
            // control), and the prefetched ones stay unacked.
            let cancel = ch.basic_cancel(consumer.tag(), Default::default());
            match tokio::time::timeout(WAIT, cancel).await {
                Ok(Ok(())) => acked.sure.append(&mut acked.unsure),
                _ => return acked,
            }
            break;
        }
        if acked.unsure.len() >= ACKS_PER_ROUND_TRIP {
            match tokio::time::timeout(WAIT, qos()).await {
                Ok(Ok(())) => acked.sure.append(&mut acked.unsure),
                _ => return acked,
            }
        }
    }
    // Open, with what it holds unacked, until the broker dies.
    let deadline = Instant::now() + Duration::from_secs(120);
    while conn.status().connected() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acked
}

/// One round's account.
#[derive(Default, Debug)]
struct Tally {
    sent: u64,
    confirmed: usize,
    found: usize,
    lost: usize,
    duplicated: usize,
    acked: usize,
    acked_then_redelivered: usize,
    unknown: usize,
}

fn confirmed_messages_survive_kill_9(mut broker: Restartable) {
    let broker_is_rabbitmq = broker.is_rabbitmq();
    let mut rng = Rng::from_env();
    let mut tallies = Vec::new();
    // Everything acked and made sure of, over all rounds: none of it may come back.
    let mut gone: HashSet<Id> = HashSet::new();
    let started = Instant::now();
    run(async {
        let conn = connect(&broker).await;
        let ch = channel(&conn).await;
        declare_queue(&ch, CRASH_QUEUE, durable()).await;
        close_channel(ch).await;
        close(conn).await;
        for round in 0..ROUNDS {
            let kill_after = rng.in_range(KILL_AFTER_MIN..KILL_AFTER_MAX);
            let quota = rng.in_range(ACK_QUOTA);
            let uri = lapin_uri(broker.uri(), "");
            let sent_in_round = Arc::new(AtomicU64::new(0));
            let consumer = tokio::spawn(ack_until_killed(uri.clone(), quota));
            let publishers: Vec<_> = (0..PUBLISHERS)
                .map(|p| {
                    tokio::spawn(publish_until_killed(
                        uri.clone(),
                        round,
                        p,
                        sent_in_round.clone(),
                    ))
                })
                .collect();
            let deadline = Instant::now() + Duration::from_secs(120);
            while sent_in_round.load(Ordering::Relaxed) < kill_after {
                assert!(
                    Instant::now() < deadline,
                    "round {round}: {} of {kill_after} sent in 120 s",
                    sent_in_round.load(Ordering::Relaxed)
                );
                assert!(
                    !publishers.iter().any(|p| p.is_finished()),
                    "round {round}: a publisher stopped before the kill; log:\n{}",
                    broker.log()
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::task::block_in_place(|| broker.kill());
            let mut tally = Tally::default();
            let mut confirmed = HashSet::new();
            let mut sent = HashMap::new();
            for (p, publisher) in publishers.into_iter().enumerate() {
                let published = publisher.await.unwrap();
                tally.sent += published.sent;
                sent.insert(p as u64, published.sent);
                confirmed.extend(published.confirmed);
            }
            let acked = consumer.await.unwrap();
            tokio::task::block_in_place(|| broker.restart());

            let conn = connect(&broker).await;
            let ready = queue_exists(&conn, CRASH_QUEUE)
                .await
                .unwrap_or_else(|code| panic!("{CRASH_QUEUE} after the restart: {code}"));
            let bodies = drain(&conn, CRASH_QUEUE, ready).await;
            close(conn).await;

            let mut found = HashSet::new();
            for body in &bodies {
                let id = id_of(body);
                if !found.insert(id) {
                    tally.duplicated += 1;
                }
                if gone.contains(&id) {
                    tally.acked_then_redelivered += 1;
                }
                if id.0 != round || id.2 >= sent.get(&id.1).copied().unwrap_or(0) {
                    // From an earlier round (then drained and acked), or never sent.
                    tally.unknown += usize::from(!gone.contains(&id));
                }
            }
            let unsure: HashSet<Id> = acked.unsure.iter().copied().collect();
            gone.extend(acked.sure.iter().copied());
            tally.acked_then_redelivered +=
                acked.sure.iter().filter(|id| found.contains(id)).count();
            tally.lost = confirmed
                .iter()
                .filter(|id| !found.contains(id) && !gone.contains(id) && !unsure.contains(id))
                .count();
            tally.confirmed = confirmed.len();
            tally.found = bodies.len();
            tally.acked = acked.sure.len();
            println!(
                "round {round}: killed after {kill_after} sent; sent {}, confirmed {}, \
                 found {}, lost {}, duplicated {}, acked {} (+{} unsure), \
                 acked-then-redelivered {}, unknown {} ({:.1?} in)",
                tally.sent,
                tally.confirmed,
                tally.found,
                tally.lost,
                tally.duplicated,
                tally.acked,
                unsure.len(),
                tally.acked_then_redelivered,
                tally.unknown,
                started.elapsed()
            );
            // What the drain acked (and made sure of) must not come back either.
            gone.extend(found);
            tallies.push(tally);
        }
    });
    let sent: u64 = tallies.iter().map(|t| t.sent).sum();
    assert!(sent >= 100_000, "only {sent} published in all");
    // RabbitMQ 3.10 keeps a classic queue's acks in its queue index journal, in memory until
    // the journal is flushed: kill -9 loses the latest, and messages acked (and the ack
    // processed: a round trip on the channel came back after it) are delivered again; its
    // promise to consumers is at-least-once. spindle broker is held to more: its store settles
    // an ack in the turn that processed it, before that turn's replies are flushed, so an ack
    // followed by a completed round trip is in the files.
    let acks_survive = !broker_is_rabbitmq;
    for (round, tally) in tallies.iter().enumerate() {
        assert!(
            tally.lost == 0
                && tally.duplicated == 0
                && (tally.acked_then_redelivered == 0 || !acks_survive)
                && tally.unknown == 0,
            "round {round}: {tally:?}"
        );
    }
}

mod confirmed_messages_survive_kill_9 {
    use super::*;

    #[test]
    #[ignore = "needs rabbitmq-server: run scripts/test"]
    fn rabbitmq() {
        confirmed_messages_survive_kill_9(Restartable::rabbitmq());
    }

    #[test]
    fn spindle_broker() {
        confirmed_messages_survive_kill_9(Restartable::spindle_broker());
    }
}

// 3. A torn tail and a flipped byte in spindle broker's queue log (the format is documented in
// apps/broker/src/store/mod.rs).

const DAMAGE_QUEUE: &str = "damage-q";
/// Enough 64 KiB messages for four 8 MiB segments (the default segment size).
const DAMAGE_MESSAGES: usize = 400;
const DAMAGE_BODY: usize = 64 * 1024;
/// A segment file's header: `SPNDLQ` and the format version.
const SEGMENT_HEADER: usize = 8;
/// A record's header: marker, kind, length, CRC.
const RECORD_HEADER: usize = 10;
const RECORD_MARKER: u8 = 0xA7;

/// Message `i`'s body: its number in eight digits, then a pattern that differs per message.
fn damage_body(i: usize) -> Vec<u8> {
    let mut body = format!("{i:08}").into_bytes();
    body.extend((0..DAMAGE_BODY - 8).map(|k| b'a' + ((i + k) % 26) as u8));
    body
}

/// A record of a segment file: where it starts and its payload's length.
#[derive(Debug, Clone, Copy)]
struct Record {
    offset: usize,
    len: usize,
}

impl Record {
    fn end(&self) -> usize {
        self.offset + RECORD_HEADER + self.len
    }

    /// The number of the message it holds: the body ends the payload.
    fn message(&self, segment: &[u8]) -> usize {
        let body = &segment[self.end() - DAMAGE_BODY..self.end()];
        String::from_utf8_lossy(&body[..8])
            .parse()
            .unwrap_or_else(|_| panic!("record at {} holds no message of ours", self.offset))
    }
}

/// The records of an undamaged segment file, in order.
fn records(path: &Path, segment: &[u8]) -> Vec<Record> {
    assert!(
        segment.starts_with(b"SPNDLQ"),
        "{} has no segment header",
        path.display()
    );
    let mut records = Vec::new();
    let mut at = SEGMENT_HEADER;
    while at < segment.len() {
        assert_eq!(
            segment[at],
            RECORD_MARKER,
            "{}: a record at {at}",
            path.display()
        );
        let len = u32::from_le_bytes(segment[at + 2..at + 6].try_into().unwrap()) as usize;
        records.push(Record { offset: at, len });
        at += RECORD_HEADER + len;
    }
    assert_eq!(at, segment.len(), "{} ends mid-record", path.display());
    records
}

/// The one queue directory under `data` (a directory holding `msgs.*` files).
fn queue_dir(data: &Path) -> PathBuf {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut has_segments = false;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if entry.file_name().to_string_lossy().starts_with("msgs.") {
                has_segments = true;
            }
        }
        if has_segments {
            found.push(dir.to_path_buf());
        }
    }
    let mut found = Vec::new();
    walk(data, &mut found);
    match &found[..] {
        [dir] => dir.clone(),
        _ => panic!(
            "expected one queue directory with msgs.* files under {}, found {found:?}",
            data.display()
        ),
    }
}

/// The segment files of a queue directory, in order.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("msgs."))
        .map(|e| e.path())
        .collect();
    segments.sort();
    segments
}

enum Damage {
    /// The last record of the last segment cut in half, as a crash mid-write leaves it.
    TornTail,
    /// One byte of the payload of a record in the middle of a middle segment inverted.
    FlippedByte,
}

/// Does `damage` to the queue's files; returns the file, the damaged record's offset and the
/// message it held.
fn do_damage(data: &Path, damage: &Damage) -> (PathBuf, usize, usize) {
    let dir = queue_dir(data);
    let segments = segments(&dir);
    let path = match damage {
        Damage::TornTail => segments.last().expect("a segment").clone(),
        Damage::FlippedByte => {
            assert!(
                segments.len() >= 3,
                "{DAMAGE_MESSAGES} messages of {DAMAGE_BODY} bytes made only {segments:?}"
            );
            segments[segments.len() / 2].clone()
        }
    };
    let mut bytes = std::fs::read(&path).unwrap();
    let records = records(&path, &bytes);
    let record = match damage {
        Damage::TornTail => *records.last().expect("a record in the last segment"),
        Damage::FlippedByte => records[records.len() / 2],
    };
    let message = record.message(&bytes);
    let middle = record.offset + RECORD_HEADER + record.len / 2;
    match damage {
        Damage::TornTail => bytes.truncate(middle),
        Damage::FlippedByte => bytes[middle] ^= 0xFF,
    }
    std::fs::write(&path, bytes).unwrap();
    println!(
        "message {message}: its record at {} of {} (segment {} of {}) damaged",
        record.offset,
        path.display(),
        segments.iter().position(|s| *s == path).unwrap_or(0) + 1,
        segments.len()
    );
    (path, record.offset, message)
}

fn only_the_damaged_record_is_lost(damage: Damage) {
    let mut broker = Restartable::spindle_broker();
    run(async {
        let conn = connect(&broker).await;
        let ch = channel(&conn).await;
        declare_queue(&ch, DAMAGE_QUEUE, durable()).await;
        confirm_select(&ch).await;
        let mut window = VecDeque::new();
        for i in 0..DAMAGE_MESSAGES {
            if window.len() == 50 {
                let confirm: lapin::PublisherConfirm = window.pop_front().unwrap();
                let confirmation = within("publisher confirm", confirm).await.unwrap();
                assert_eq!(confirmation, Confirmation::Ack(None));
            }
            let body = damage_body(i);
            let publish = ch.basic_publish(
                "".into(),
                DAMAGE_QUEUE.into(),
                BasicPublishOptions::default(),
                &body,
                persistent(),
            );
            window.push_back(within("basic.publish", publish).await.unwrap());
        }
        for confirm in window {
            let confirmation = within("publisher confirm", confirm).await.unwrap();
            assert_eq!(confirmation, Confirmation::Ack(None));
        }
        tokio::task::block_in_place(|| broker.kill());

        let (path, offset, lost) = do_damage(broker.data_dir(), &damage);
        tokio::task::block_in_place(|| broker.restart());

        let conn = connect(&broker).await;
        let ready = queue_exists(&conn, DAMAGE_QUEUE)
            .await
            .unwrap_or_else(|code| panic!("{DAMAGE_QUEUE} after the restart: {code}"));
        let bodies = drain(&conn, DAMAGE_QUEUE, ready).await;
        let numbers: Vec<String> = bodies
            .iter()
            .map(|b| String::from_utf8_lossy(&b[..8.min(b.len())]).into_owned())
            .collect();
        let expected: Vec<usize> = (0..DAMAGE_MESSAGES).filter(|&i| i != lost).collect();
        let expected_numbers: Vec<String> = expected.iter().map(|i| format!("{i:08}")).collect();
        assert_eq!(
            numbers,
            expected_numbers,
            "after damaging message {lost} at {offset} of {}",
            path.display()
        );
        for (body, &i) in bodies.iter().zip(&expected) {
            assert!(*body == damage_body(i), "message {i}'s body changed");
        }
        let log = broker.current_stderr();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            log.lines()
                .any(|line| line.contains(&file) && line.contains(&offset.to_string())),
            "the log names neither {file} nor offset {offset}:\n{log}"
        );
        close(conn).await;
    });
}

#[test]
fn a_torn_tail_loses_only_the_torn_record() {
    only_the_damaged_record_is_lost(Damage::TornTail);
}

#[test]
fn a_flipped_byte_loses_only_that_record() {
    only_the_damaged_record_is_lost(Damage::FlippedByte);
}

// 4. A full disk (spindle broker only: RabbitMQ blocks publishers with its disk alarm long
// before a disk is full, 50 MB free by default, rather than nacking).

const FULL_QUEUE: &str = "full-q";
const FULL_BODY: usize = 16 * 1024;

fn full_body(i: usize) -> Vec<u8> {
    let mut body = format!("{i:08}").into_bytes();
    body.resize(FULL_BODY, b'f');
    body
}

#[test]
#[ignore = "mounts a tmpfs (needs root): run scripts/test"]
fn a_full_disk_nacks_and_the_broker_recovers_when_there_is_room() {
    let tmpfs = Tmpfs::mount("4m");
    let data = tmpfs.dir.join("data");
    let filler = tmpfs.dir.join("filler");
    // About 1 MiB left for the broker.
    std::fs::write(&filler, vec![0u8; 3 << 20]).expect("fill the tmpfs");
    // Dropped (stopped) before the tmpfs is unmounted.
    let mut broker = Restartable::spindle_in(&data, &[]);
    run(async {
        let conn = connect(&broker).await;
        let ch = channel(&conn).await;
        declare_queue(&ch, FULL_QUEUE, durable()).await;
        confirm_select(&ch).await;
        let mut acked = Vec::new();
        let mut first_nack = None;
        // Twice the tmpfs's size: a nack must come before.
        for i in 0..(8 << 20) / FULL_BODY {
            match publish_confirmed(&ch, "", FULL_QUEUE, &full_body(i), persistent()).await {
                Confirmation::Ack(_) => acked.push(i),
                Confirmation::Nack(_) => {
                    first_nack = Some(i);
                    break;
                }
                other => panic!("message {i}: {other:?}"),
            }
        }
        let Some(first_nack) = first_nack else {
            panic!(
                "no nack after 8 MiB of persistent messages into a 4 MiB tmpfs; log:\n{}",
                broker.log()
            );
        };
        println!("{} acked, then a nack", acked.len());

        // Still serving: the channel is open and a new one declares.
        assert!(ch.status().connected(), "{:?}", ch.status());
        declare_queue(
            &channel(&conn).await,
            "full-transient-q",
            QueueDeclareOptions::default(),
        )
        .await;
        assert!(queue_exists(&conn, FULL_QUEUE).await.is_ok());

        // Room again: confirms are acks.
        std::fs::remove_file(&filler).unwrap();
        for i in first_nack + 1..first_nack + 51 {
            let confirmation =
                publish_confirmed(&ch, "", FULL_QUEUE, &full_body(i), persistent()).await;
            assert_eq!(
                confirmation,
                Confirmation::Ack(None),
                "message {i}, once there was room; log:\n{}",
                broker.log()
            );
            acked.push(i);
        }

        // What was acked is in the files, whole: it survives kill -9.
        kill_and_restart(&mut broker);
        let conn = connect(&broker).await;
        let ready = queue_exists(&conn, FULL_QUEUE)
            .await
            .unwrap_or_else(|code| panic!("{FULL_QUEUE} after the restart: {code}"));
        let bodies = drain(&conn, FULL_QUEUE, ready).await;
        let found: Vec<usize> = bodies
            .iter()
            .map(|b| {
                String::from_utf8_lossy(&b[..8.min(b.len())])
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(
            found.windows(2).all(|w| w[0] < w[1]),
            "out of order or twice: {found:?}"
        );
        let missing: Vec<usize> = acked
            .iter()
            .copied()
            .filter(|i| found.binary_search(i).is_err())
            .collect();
        assert!(missing.is_empty(), "acked but lost: {missing:?}");
        for (body, i) in bodies.iter().zip(&found) {
            assert!(*body == full_body(*i), "message {i}'s body changed");
        }
        close(conn).await;
    });
}

// 5. A drained queue gives its disk space back.

/// Bytes of the files under `dir`.
fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[test]
fn the_data_directory_shrinks_back_after_a_drain() {
    const QUEUE: &str = "shrink-q";
    let broker = Restartable::spindle_broker();
    let queues = broker.data_dir().join("queues");
    run(async {
        let conn = connect(&broker).await;
        let ch = channel(&conn).await;
        declare_queue(&ch, QUEUE, durable()).await;
        confirm_select(&ch).await;
        let body = vec![7u8; 64 * 1024];
        let mut window = VecDeque::new();
        for _ in 0..DAMAGE_MESSAGES {
            if window.len() == 50 {
                let confirm: lapin::PublisherConfirm = window.pop_front().unwrap();
                within("publisher confirm", confirm).await.unwrap();
            }
            let publish = ch.basic_publish(
                "".into(),
                QUEUE.into(),
                BasicPublishOptions::default(),
                &body,
                persistent(),
            );
            window.push_back(within("basic.publish", publish).await.unwrap());
        }
        for confirm in window {
            within("publisher confirm", confirm).await.unwrap();
        }
        let full = disk_usage(&queues);
        assert!(
            full > 20 << 20,
            "{DAMAGE_MESSAGES} messages of 64 KiB take only {full} bytes"
        );
        drain(&conn, QUEUE, DAMAGE_MESSAGES as u32).await;
        // The drained segments go at the end of the turn that settled their last message.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = disk_usage(&queues);
            if now < 1 << 20 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the queue's log still takes {now} bytes of {full} after the drain"
            );
            tokio::time::sleep(Duration::from_millis(20)).await; // polling the condition
        }
        close(conn).await;
    });
}
