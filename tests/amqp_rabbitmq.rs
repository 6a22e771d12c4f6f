//! The AMQP client (`spindle_amqp`) and `spindle amqp` against a real RabbitMQ
//! (`NAME::rabbitmq`) and against `spindle broker` (`NAME::spindle_broker`, see
//! `common::both`), with the same assertions.
//!
//! One private RabbitMQ per test process, started by `common::amqp::broker_uri` with
//! `scripts/rabbitmq start DIR --watch PID` (its own port, data dir and node name; it stops
//! itself when this process exits). Set `SPINDLE_AMQP_URI` to use a running broker instead.
//! Each spindle broker is the test's own.
//!
//! ```text
//! cargo test --test amqp_rabbitmq -- --include-ignored
//! ```

mod common;

use std::process::Command;

use common::amqp::queue;
use common::both::Broker;
use spindle_amqp::{
    run, AmqpUri, Channel, ClientError, Config, Connection, ConnectionHandler, ConsumeOptions,
    Delivery, ExchangeOptions, Publish, QueueOptions, Reply, ServerError,
};
use spindle_protocols::amqp::FieldTable;

fn config(broker: &Broker) -> Config {
    Config::new(AmqpUri::parse(&broker.uri()).unwrap())
}

/// Declares a queue, publishes one message and fetches it back, pipelined on one channel.
#[derive(Default)]
struct PublishGet {
    queue: String,
    body: Vec<u8>,
    got: Option<Delivery>,
}

impl ConnectionHandler for PublishGet {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        ch.queue_declare(&self.queue, &QueueOptions::default())?;
        let publish = Publish::to("", self.queue.clone()).content_type("text/plain");
        ch.publish(&publish, &self.body)?;
        ch.get(&self.queue, false)
    }

    fn on_get(&mut self, ch: &mut Channel<'_>, d: Option<Delivery>) -> Result<(), ClientError> {
        let d = d.ok_or_else(|| ClientError::Handler("queue empty".into()))?;
        ch.ack(d.delivery_tag, false)?;
        self.got = Some(d);
        ch.connection().close();
        Ok(())
    }
}

fn declare_publish_get(broker: &Broker) {
    let h = PublishGet {
        queue: queue("get"),
        body: b"hello world".to_vec(),
        got: None,
    };
    let h = run(config(broker), h).unwrap();
    let got = h.got.unwrap();
    assert_eq!(got.body, "hello world");
    assert_eq!(got.routing_key, h.queue.as_str());
    assert_eq!(got.message_count, Some(0));
    assert_eq!(
        got.properties.content_type.as_deref(),
        Some(&b"text/plain"[..])
    );
}
both_brokers!(
    declare_publish_get,
    "needs rabbitmq-server: run scripts/test"
);

fn a_one_megabyte_body_round_trips_across_frames(broker: &Broker) {
    let body: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let h = PublishGet {
        queue: queue("1mb"),
        body: body.clone(),
        got: None,
    };
    let h = run(config(broker), h).unwrap();
    assert_eq!(h.got.unwrap().body, body);
}
both_brokers!(
    a_one_megabyte_body_round_trips_across_frames,
    "needs rabbitmq-server: run scripts/test"
);

/// Publishes `total` numbered messages in confirm mode, going on from `on_writable` under
/// back-pressure; consumes them on a second channel with manual acks and a prefetch.
#[derive(Default)]
struct Stream {
    queue: String,
    total: u64,
    published: u64,
    confirmed: Vec<(u64, bool)>,
    received: Vec<String>,
    paused: u64,
    consume: bool,
    /// Bytes added to each body, to push the publisher into back-pressure.
    pad: usize,
}

impl Stream {
    fn pump(&mut self, ch: &mut Channel<'_>) -> Result<(), ClientError> {
        while self.published < self.total {
            let body = format!("message {}{:pad$}", self.published, "", pad = self.pad);
            match ch.publish(&Publish::to("", self.queue.clone()), body.as_bytes()) {
                Ok(seq) => {
                    self.published += 1;
                    assert_eq!(seq, Some(self.published));
                }
                Err(ClientError::Paused) => {
                    self.paused += 1;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.confirmed.len() as u64 == self.total
            && (!self.consume || self.received.len() as u64 == self.total)
    }
}

impl ConnectionHandler for Stream {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let publisher = conn.open_channel()?;
        let mut ch = conn.channel(publisher);
        ch.queue_declare(&self.queue, &QueueOptions::default())?;
        ch.confirm_select()?;
        self.pump(&mut ch)?;
        if self.consume {
            let consumer = conn.open_channel()?;
            let mut ch = conn.channel(consumer);
            ch.qos(10)?;
            ch.consume(&self.queue, &ConsumeOptions::default())?;
        }
        Ok(())
    }

    fn on_writable(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        self.pump(&mut conn.channel(1))
    }

    fn on_confirm(
        &mut self,
        ch: &mut Channel<'_>,
        seq: u64,
        acked: bool,
    ) -> Result<(), ClientError> {
        self.confirmed.push((seq, acked));
        if self.done() {
            ch.connection().close();
        }
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        self.received
            .push(String::from_utf8_lossy(&d.body).trim_end().to_string());
        ch.ack(d.delivery_tag, false)?;
        if self.done() {
            ch.connection().close();
        }
        Ok(())
    }
}

fn a_thousand_messages_arrive_in_order_with_manual_acks_and_prefetch(broker: &Broker) {
    let h = Stream {
        queue: queue("stream"),
        total: 1000,
        consume: true,
        ..Stream::default()
    };
    let h = run(config(broker), h).unwrap();
    let want: Vec<String> = (0..1000).map(|i| format!("message {i}")).collect();
    assert_eq!(h.received, want);
}
both_brokers!(
    a_thousand_messages_arrive_in_order_with_manual_acks_and_prefetch,
    "needs rabbitmq-server: run scripts/test"
);

fn confirms_for_ten_thousand_publishes_all_arrive(broker: &Broker) {
    let h = Stream {
        queue: queue("confirms"),
        total: 10_000,
        consume: false,
        pad: 1000,
        ..Stream::default()
    };
    let h = run(config(broker), h).unwrap();
    // 10 MB published from one callback: the 64 KiB limit refused publishes, and on_writable
    // resumed them.
    assert!(h.paused > 0);
    let mut seqs: Vec<u64> = h.confirmed.iter().map(|(s, _)| *s).collect();
    assert!(h.confirmed.iter().all(|(_, acked)| *acked));
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=10_000).collect::<Vec<_>>());
}
both_brokers!(
    confirms_for_ten_thousand_publishes_all_arrive,
    "needs rabbitmq-server: run scripts/test"
);

/// A passive declare of a missing queue, then the channel reopened and used.
#[derive(Default)]
struct Missing {
    queue: String,
    error: Option<ServerError>,
    declared: Option<String>,
}

impl ConnectionHandler for Missing {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let options = QueueOptions {
            passive: true,
            ..QueueOptions::default()
        };
        conn.channel(id).queue_declare(&self.queue, &options)
    }

    fn on_channel_error(
        &mut self,
        ch: &mut Channel<'_>,
        error: ServerError,
    ) -> Result<(), ClientError> {
        self.error = Some(error);
        ch.reopen()?;
        ch.queue_declare(
            "",
            &QueueOptions {
                exclusive: true,
                ..QueueOptions::default()
            },
        )
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        if let Reply::QueueDeclared { queue, .. } = reply {
            self.declared = Some(queue);
            ch.connection().close();
        }
        Ok(())
    }
}

fn a_missing_queue_is_404_and_the_connection_stays_usable(broker: &Broker) {
    let name = queue("missing");
    let h = run(
        config(broker),
        Missing {
            queue: name.clone(),
            ..Missing::default()
        },
    )
    .unwrap();
    let error = h.error.unwrap();
    assert_eq!(error.code, 404);
    assert_eq!(
        error.text,
        format!("NOT_FOUND - no queue '{name}' in vhost '/'")
    );
    assert_eq!((error.class_id, error.method_id), (50, 10));
    assert!(h.declared.unwrap().starts_with("amq.gen-"));
}
both_brokers!(
    a_missing_queue_is_404_and_the_connection_stays_usable,
    "needs rabbitmq-server: run scripts/test"
);

#[derive(Debug, Default)]
struct OpenOnly;

impl ConnectionHandler for OpenOnly {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        conn.close();
        Ok(())
    }
}

fn a_wrong_password_is_403_access_refused(broker: &Broker) {
    let mut config = config(broker);
    config.uri.password = "wrong".into();
    let error = run(config, OpenOnly).unwrap_err();
    assert_eq!(error.reply_code(), Some(403), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("403 ACCESS_REFUSED - Login was refused"),
        "{error}"
    );
}
both_brokers!(
    a_wrong_password_is_403_access_refused,
    "needs rabbitmq-server: run scripts/test"
);

fn a_heartbeat_is_negotiated_down_to_ours(broker: &Broker) {
    #[derive(Default)]
    struct Tuning(Option<(u16, u32, u16)>);
    impl ConnectionHandler for Tuning {
        fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
            self.0 = Some(conn.tuning());
            conn.close();
            Ok(())
        }
    }
    let mut config = config(broker);
    config.heartbeat = Some(5);
    config.frame_max = 16384;
    let h = run(config, Tuning::default()).unwrap();
    assert_eq!(h.0, Some((2047, 16384, 5)));
}
both_brokers!(
    a_heartbeat_is_negotiated_down_to_ours,
    "needs rabbitmq-server: run scripts/test"
);

fn spindle_amqp(args: &[&str]) -> common::Finished {
    let mut cmd = common::spindle();
    cmd.arg("amqp").args(args);
    common::run_client("spindle amqp", cmd)
}

fn the_command_line_end_to_end(broker: &Broker) {
    let uri = broker.uri();
    let q = queue("cli");
    let out = spindle_amqp(&["declare-queue", "--uri", &uri, "--queue", &q, "--durable"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.lines, [format!("{q} (0 messages, 0 consumers)")]);
    for body in ["one", "two", "three"] {
        let out = spindle_amqp(&[
            "publish",
            "--uri",
            &uri,
            "--routing-key",
            &q,
            "--persistent",
            body,
        ]);
        assert!(out.status.success(), "{out:?}");
    }
    let out = spindle_amqp(&["consume", "--uri", &uri, "--queue", &q, "--count", "2"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.lines, ["one", "two"]);
    let out = spindle_amqp(&["get", "--uri", &uri, "--queue", &q]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.lines, ["three"]);
    let out = spindle_amqp(&["get", "--uri", &uri, "--queue", &q]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains(&format!("queue '{q}' is empty")),
        "{out:?}"
    );

    let missing = queue("cli-missing");
    let out = spindle_amqp(&[
        "declare-queue",
        "--uri",
        &uri,
        "--queue",
        &missing,
        "--passive",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains(&format!(
            "spindle: 404 NOT_FOUND - no queue '{missing}' in vhost '/'"
        )),
        "{out:?}"
    );
    let bad = uri.replace("guest:guest", "guest:nope");
    let out = spindle_amqp(&["get", "--uri", &bad, "--queue", &q]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.contains("spindle: 403 ACCESS_REFUSED"),
        "{out:?}"
    );
}
both_brokers!(
    the_command_line_end_to_end,
    "needs rabbitmq-server: run scripts/test"
);

/// Exchange-to-exchange bindings, transactions, purge, recover, unbind and delete, driven
/// one answer after another; every answer is logged and the log is checked at the end.
#[derive(Default)]
struct Management {
    queue: String,
    source: String,
    destination: String,
    replies: Vec<Reply>,
    deliveries: Vec<(String, bool)>,
    error: Option<u16>,
}

impl ConnectionHandler for Management {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        let id = conn.open_channel()?;
        let mut ch = conn.channel(id);
        let none = ExchangeOptions::default();
        ch.exchange_declare(&self.source, "fanout", &none)?;
        ch.exchange_declare(&self.destination, "direct", &none)?;
        ch.exchange_bind(&self.destination, &self.source, "k", FieldTable::new())?;
        ch.queue_declare(&self.queue, &QueueOptions::default())?;
        ch.queue_bind(&self.queue, &self.destination, "k", FieldTable::new())?;
        // source (fanout) → destination (direct, key k) → the queue.
        ch.publish(&Publish::to(self.source.clone(), "k"), b"via two exchanges")?;
        ch.tx_select()
    }

    fn on_reply(&mut self, ch: &mut Channel<'_>, reply: Reply) -> Result<(), ClientError> {
        self.replies.push(reply.clone());
        let to_queue = Publish::to("", self.queue.clone());
        match reply {
            Reply::TxSelected => {
                ch.publish(&to_queue, b"rolled back 1")?;
                ch.publish(&to_queue, b"rolled back 2")?;
                ch.tx_rollback()?;
            }
            Reply::TxRolledBack => {
                for body in [&b"committed 1"[..], b"committed 2", b"committed 3"] {
                    ch.publish(&to_queue, body)?;
                }
                ch.tx_commit()?;
            }
            // 1 through the exchanges + 3 committed; the 2 rolled back never arrived.
            Reply::TxCommitted => ch.queue_purge(&self.queue)?,
            Reply::QueuePurged { .. } => {
                // basic.recover, on a channel that is not transactional.
                let id = ch.connection().open_channel()?;
                let mut ch = ch.connection().channel(id);
                ch.publish(&to_queue, b"recover me")?;
                ch.consume(&self.queue, &ConsumeOptions::default())?;
            }
            Reply::Cancelled { .. } => {
                ch.queue_unbind(&self.queue, &self.destination, "k", FieldTable::new())?;
                ch.exchange_unbind(&self.destination, &self.source, "k", FieldTable::new())?;
                ch.queue_delete(&self.queue, false, false)?;
                ch.exchange_delete(&self.source, false)?;
                ch.exchange_delete(&self.destination, false)?;
                let passive = QueueOptions {
                    passive: true,
                    ..QueueOptions::default()
                };
                ch.queue_declare(&self.queue, &passive)?; // gone: 404
            }
            _ => {}
        }
        Ok(())
    }

    fn on_delivery(&mut self, ch: &mut Channel<'_>, d: Delivery) -> Result<(), ClientError> {
        self.deliveries
            .push((String::from_utf8_lossy(&d.body).into_owned(), d.redelivered));
        if d.redelivered {
            ch.ack(d.delivery_tag, false)?;
            ch.cancel(&d.consumer_tag.to_string())
        } else {
            ch.recover(true) // not acked: the broker delivers it again, redelivered
        }
    }

    fn on_channel_error(
        &mut self,
        ch: &mut Channel<'_>,
        error: ServerError,
    ) -> Result<(), ClientError> {
        self.error = Some(error.code);
        ch.connection().close();
        Ok(())
    }
}

fn exchange_bindings_transactions_purge_recover_and_deletes(broker: &Broker) {
    let h = Management {
        queue: queue("manage"),
        source: queue("manage-source"),
        destination: queue("manage-destination"),
        ..Management::default()
    };
    let h = run(config(broker), h).unwrap();
    let has = |r: &Reply| h.replies.contains(r);
    assert!(has(&Reply::ExchangeBound), "{:?}", h.replies);
    assert!(
        has(&Reply::QueuePurged { message_count: 4 }),
        "{:?}",
        h.replies
    );
    assert_eq!(
        h.deliveries,
        [
            ("recover me".to_string(), false),
            ("recover me".to_string(), true)
        ]
    );
    assert!(has(&Reply::Recovered), "{:?}", h.replies);
    // After the cancel, in order: the unbinds and deletes, then the 404 of the passive declare.
    let tail: Vec<&Reply> = h
        .replies
        .iter()
        .skip_while(|r| !matches!(r, Reply::Cancelled { .. }))
        .skip(1)
        .collect();
    assert_eq!(
        tail,
        [
            &Reply::QueueUnbound,
            &Reply::ExchangeUnbound,
            &Reply::QueueDeleted { message_count: 0 },
            &Reply::ExchangeDeleted,
            &Reply::ExchangeDeleted,
        ]
    );
    assert_eq!(h.error, Some(404));
}
both_brokers!(
    exchange_bindings_transactions_purge_recover_and_deletes,
    "needs rabbitmq-server: run scripts/test"
);

/// Opens a channel and reports when the broker has answered, then waits.
struct Idle {
    ready: std::sync::mpsc::Sender<()>,
    closed: Option<String>,
}

impl ConnectionHandler for Idle {
    fn on_open(&mut self, conn: &mut Connection<'_>) -> Result<(), ClientError> {
        conn.open_channel()?;
        Ok(())
    }

    fn on_channel_open(&mut self, _ch: &mut Channel<'_>) -> Result<(), ClientError> {
        let _ = self.ready.send(());
        Ok(())
    }

    fn on_closed(&mut self, result: Result<(), &ClientError>) {
        self.closed = Some(format!("{result:?}"));
    }
}

fn a_broker_killed_mid_connection_gives_connection_lost_not_a_hang(broker: &Broker) {
    // A broker of its own, to kill.
    let doomed = broker.start_doomed();
    let uri = doomed.uri.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let config = Config::new(AmqpUri::parse(&uri).unwrap());
        let idle = Idle {
            ready: ready_tx,
            closed: None,
        };
        let _ = done_tx.send(run(config, idle).map(|h| h.closed));
    });
    ready_rx
        .recv_timeout(common::RUN_TIMEOUT)
        .expect("the channel opened");
    let killed = Command::new("kill")
        .args(["-9", &doomed.pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let result = done_rx
        .recv_timeout(common::RUN_TIMEOUT)
        .expect("run() returned after the broker died, without hanging");
    (doomed.cleanup)();
    match result {
        Err(ClientError::Lost(why)) => assert!(!why.is_empty()),
        other => panic!("expected ClientError::Lost, got {other:?}"),
    }
}
both_brokers!(
    a_broker_killed_mid_connection_gives_connection_lost_not_a_hang,
    "needs rabbitmq-server: run scripts/test"
);
