//! The broker's core, free of IO: virtual hosts with their exchanges and queues, the delivery
//! state of every channel (consumers, unacknowledged deliveries, prefetch), users and
//! permissions. The connection adapter calls one method per AMQP method and writes the answer;
//! deliveries to other connections leave through a [`Sink`], which the adapter implements
//! over the reactor (and tests with a recorder).
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`Broker`]: the operations, channel state, dispatch to consumers |
//! | `vhost.rs` | a virtual host's exchanges and queues; routing through them |
//! | `exchange/` | the routing rules, one file each |
//! | `queue.rs` | a queue: its messages (behind a store), its consumers |
//! | `message.rs` | a message, shared by the queues it is routed to |
//! | `messages.rs` | a queue's ready messages: in memory, and paged out to its log on disk |
//! | `confirms.rs` | publisher confirms waiting to be sent (after the store's fsync) |
//! | `auth.rs` | users, password hashes, permissions, SASL PLAIN/AMQPLAIN |
//! | `definitions.rs` | RabbitMQ's definitions JSON |
//! | `tests.rs` | the operations against a recording [`Sink`] |

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use spindle_protocols::amqp::{
    BasicProperties, ExchangeBind, ExchangeDeclare, FieldTable, FieldValue, QueueBind,
    QueueDeclare, ReplyCode, ShortStr,
};
use spindle_reactor::ConnId;

use crate::config::BrokerConfig;
use crate::error::{Outcome, Refusal};

pub(crate) mod auth;
pub(crate) mod confirms;
pub(crate) mod definitions;
pub(crate) mod exchange;
pub(crate) mod message;
pub(crate) mod messages;
pub(crate) mod queue;
pub(crate) mod vhost;

#[cfg(test)]
mod tests;

use auth::{Access, ResourceKind};
use confirms::{ConfirmFrame, Confirms};
use exchange::{Destination, ExchangeType};
use message::{Gauge, Message};
use messages::{LogOpener, Queued};
use queue::{Consumer, Queue};
use vhost::{Exchange, Vhost};

/// Queued output at which a consumer's connection gets no more deliveries until it drains:
/// the reactor's default high-water mark. A consumer that stops reading then holds its
/// prefetch window and what its socket took; the rest stays in the queue.
pub(crate) const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// A channel, by connection and number.
pub(crate) type ChanKey = (ConnId, u16);

/// One delivery to write: `basic.deliver` and the message, on a connection that may not be the
/// caller's.
#[derive(Debug)]
pub(crate) struct Delivery<'a> {
    pub(crate) conn: ConnId,
    pub(crate) channel: u16,
    /// The receiving connection's negotiated frame size.
    pub(crate) frame_max: u32,
    pub(crate) consumer_tag: &'a ShortStr,
    pub(crate) delivery_tag: u64,
    pub(crate) redelivered: bool,
    pub(crate) message: &'a Message,
}

/// Where the core's effects on other connections go. The adapter writes them through the
/// reactor (`write_to`) and answers how much each connection has queued; a test records them.
pub(crate) trait Sink {
    /// Writes one delivery.
    fn deliver(&mut self, delivery: Delivery<'_>);
    /// Tells a consumer the broker cancelled it (its queue was deleted): `basic.cancel`.
    fn cancel(&mut self, conn: ConnId, channel: u16, consumer_tag: &ShortStr);
    /// Bytes queued on `conn` and not yet written (0 if it is gone).
    fn backlog(&self, conn: ConnId) -> usize;
    /// Asks to hear (through [`Broker::output_drained`]) when `conn`'s output has drained.
    fn wait_for_drain(&mut self, conn: ConnId);
    /// Lets a publisher held back by flow control or the memory alarm read again.
    fn resume_reading(&mut self, conn: ConnId);
    /// Tells a client that asked for it (the `connection.blocked` capability) that its
    /// connection is blocked, with the reason (`connection.blocked`), or no longer
    /// (`None`: `connection.unblocked`).
    fn blocked(&mut self, conn: ConnId, reason: Option<&str>);
    /// Writes publisher confirms (`basic.ack` / `basic.nack`) to a connection.
    fn confirms(&mut self, conn: ConnId, frames: &[ConfirmFrame]);
}

/// A delivery not yet acknowledged.
#[derive(Debug, Clone)]
struct Unacked {
    queue: ShortStr,
    /// `None` for `basic.get`.
    consumer_tag: Option<ShortStr>,
    item: Queued,
}

/// A channel's delivery state.
#[derive(Debug, Default)]
struct Chan {
    /// `basic.qos prefetch_count` for consumers created next (global=false).
    consumer_prefetch: u16,
    /// `basic.qos global=true`: the channel's limit over all its consumers (0: none).
    channel_prefetch: u16,
    /// The last delivery tag used.
    last_tag: u64,
    unacked: BTreeMap<u64, Unacked>,
    /// Consumer tag → queue.
    consumers: HashMap<ShortStr, ShortStr>,
    /// `channel.flow`: false stops deliveries.
    paused: bool,
    /// The tag of its consumer of `amq.rabbitmq.reply-to` (direct reply-to), if any.
    reply_consumer: Option<ShortStr>,
}

/// A connection as the core knows it.
#[derive(Debug)]
struct Conn {
    vhost: String,
    /// The user it logged in as (permissions are checked per operation).
    user: String,
    frame_max: u32,
    /// Deliveries wait until its output drains.
    output_blocked: bool,
    /// Exclusive queues it declared.
    exclusive_queues: Vec<ShortStr>,
    /// The client announced the `connection.blocked` capability.
    notify_blocked: bool,
}

/// What `basic.get` answers.
#[derive(Debug)]
pub(crate) struct Got {
    pub(crate) delivery_tag: u64,
    pub(crate) redelivered: bool,
    pub(crate) message_count: u32,
    pub(crate) message: Rc<Message>,
}

/// The broker.
#[derive(Debug)]
pub struct Broker {
    pub(crate) config: BrokerConfig,
    /// Users, password hashes and permissions.
    pub(crate) users: auth::Users,
    vhosts: HashMap<String, Vhost>,
    conns: HashMap<ConnId, Conn>,
    channels: HashMap<ChanKey, Chan>,
    next_message_id: u64,
    next_name: u64,
    /// The reactor's time of the operation being run (the adapter sets it first).
    now: Instant,
    /// A reactor instant and the Unix time it was, for the `time` of `x-death` headers.
    epoch: (Instant, Duration),
    /// Bytes held by messages, which the memory alarm watches.
    memory: Gauge,
    /// The memory alarm is on: [`BrokerConfig::memory_high_watermark`] was crossed, and every
    /// connection that publishes is blocked until the messages held are back under it.
    alarm: bool,
    /// The connections the alarm blocked (their reading paused; told with
    /// `connection.blocked` when they asked to be).
    alarm_blocked: Vec<ConnId>,
    /// Publisher confirms decided and not yet written.
    confirms: Confirms,
    /// Counts operations that may have changed the durable definitions (declares, deletes,
    /// bindings, users, auto-delete and expired queues going), so that they are serialized
    /// and saved only then, not at every channel close of a busy RPC client.
    changes: u64,
    /// `changes` when the durable definitions were last handed out to be saved.
    changes_saved: u64,
    /// Opens queues' logs (with a data directory).
    logs: Option<Box<dyn LogOpener>>,
    /// Messages recovered from queue logs since the start.
    pub(crate) recovered: usize,
    /// Queues with a log touched this turn (written to, settled in): written, and synced,
    /// at the end of the turn.
    touched: Vec<(String, ShortStr)>,
}

impl Broker {
    /// A broker with the vhost `/`.
    pub fn new(config: BrokerConfig) -> Broker {
        let mut vhosts = HashMap::new();
        vhosts.insert("/".to_string(), Vhost::new("/"));
        let mut users = auth::Users::with_default_guest();
        users.set_loopback_users(config.loopback_users.clone());
        Broker {
            config,
            users,
            vhosts,
            conns: HashMap::new(),
            channels: HashMap::new(),
            next_message_id: 1,
            next_name: 1,
            now: Instant::now(),
            epoch: (
                Instant::now(),
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default(),
            ),
            memory: Gauge::default(),
            alarm: false,
            alarm_blocked: Vec::new(),
            confirms: Confirms::default(),
            changes: 1,
            changes_saved: 0,
            logs: None,
            recovered: 0,
            touched: Vec::new(),
        }
    }

    /// Gives the broker its queue logs: from now on every queue gets one (a durable queue's
    /// keeps its persistent messages; any queue pages out through its own).
    pub(crate) fn set_logs(&mut self, logs: Box<dyn LogOpener>) {
        self.logs = Some(logs);
    }

    /// Opens a new queue's log, if the broker has logs; `recover`: the queue is being
    /// restored and its persistent messages come back. Returns how many came back.
    fn attach_log(&mut self, vname: &str, name: &ShortStr, recover: bool) -> usize {
        let Some(logs) = self.logs.as_mut() else {
            return 0;
        };
        let Some(q) = self
            .vhosts
            .get_mut(vname)
            .and_then(|v| v.queues.get_mut(name))
        else {
            return 0;
        };
        // An exclusive queue dies with its connection, so nothing of it outlives a restart.
        let kept = q.durable && q.exclusive.is_none();
        match logs.open(vname, name, kept, recover && kept) {
            Ok(opened) => {
                let store = std::mem::take(&mut q.store);
                q.store = store.with_log(opened.log, kept, self.memory.clone(), self.now);
                let before = q.store.len();
                q.next_seq = q.store.recovered(opened.recovered, q.next_seq);
                // A message whose record could not be read back is not counted (it was logged).
                q.store.len() - before
            }
            Err(e) => {
                log::error!(
                    "queue '{name}' in vhost '{vname}': cannot open its log ({e}); its \
                     messages stay in memory only"
                );
                0
            }
        }
    }

    /// Notes that a queue's log has work for the end of the turn; a queue without one that
    /// has grown long enough to page gets one now.
    fn touch(&mut self, vname: &str, name: &ShortStr) {
        let Some(q) = self.vhosts.get(vname).and_then(|v| v.queues.get(name)) else {
            return;
        };
        if !q.store.has_log() && q.store.len() >= messages::KEEP_IN_MEMORY && self.logs.is_some() {
            self.attach_log(vname, name, false);
        }
        let Some(q) = self
            .vhosts
            .get_mut(vname)
            .and_then(|v| v.queues.get_mut(name))
        else {
            return;
        };
        // The queue's own mark, rather than a search of the list: a turn that fans out to
        // many durable queues touches each of them once per message.
        if q.store.has_log() && !q.awaiting_write {
            q.awaiting_write = true;
            self.touched.push((vname.to_string(), name.clone()));
        }
    }

    /// Writes (and with `--sync always`, fsyncs) every queue log touched since the last
    /// call. False if a write failed: what the turn wrote is not durable.
    fn write_logs(&mut self) -> bool {
        let fsync = self.config.sync == crate::config::SyncMode::Always;
        let mut ok = true;
        for (vname, name) in std::mem::take(&mut self.touched) {
            let Some(q) = self
                .vhosts
                .get_mut(&vname)
                .and_then(|v| v.queues.get_mut(&name))
            else {
                continue;
            };
            q.awaiting_write = false;
            if !q.store.is_dirty() {
                continue;
            }
            if let Err(e) = q.store.write(fsync) {
                log::error!(
                    "queue '{name}' in vhost '{vname}': cannot write its log ({e}); publishes \
                     are nacked until it can"
                );
                ok = false;
            }
        }
        ok
    }

    /// The definitions handed out by the last call could not be saved: hand them out again at
    /// the next.
    pub(crate) fn definitions_not_saved(&mut self) {
        self.changes_saved = self.changes.wrapping_sub(1);
    }

    /// Bytes the queues' logs take on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.vhosts
            .values()
            .flat_map(|v| v.queues.values())
            .map(|q| q.store.disk_bytes())
            .sum()
    }

    /// Queues in all vhosts.
    pub fn queue_count(&self) -> usize {
        self.vhosts.values().map(|v| v.queues.len()).sum()
    }

    /// Exchanges in all vhosts, not counting the standard ones every vhost has.
    pub fn exchange_count(&self) -> usize {
        self.vhosts
            .values()
            .flat_map(|v| v.exchanges.keys())
            .filter(|n| !n.is_empty() && !n.starts_with(b"amq."))
            .count()
    }

    /// The durable definitions (users, vhosts, permissions, durable exchanges and queues and
    /// the bindings between durable ends, in RabbitMQ's definitions format) if an operation
    /// since the last call may have changed them; what a restart restores.
    pub(crate) fn durable_definitions_if_changed(&mut self) -> Option<serde_json::Value> {
        if self.changes == self.changes_saved {
            return None;
        }
        self.changes_saved = self.changes;
        Some(self.definitions(true))
    }

    /// Records the confirm of publish `seq` on a channel in confirm mode (a nack when `ack` is
    /// false); it leaves with [`ready_confirms`](Self::ready_confirms) or at the end of the turn.
    pub(crate) fn confirm(&mut self, conn: ConnId, channel: u16, seq: u64, ack: bool) {
        self.confirms.push(conn, channel, seq, ack);
    }

    /// Whether written messages wait for an fsync: then no confirm may leave before the end of
    /// the turn ([`before_flush`](Self::before_flush)).
    pub(crate) fn must_sync(&self) -> bool {
        !self.touched.is_empty()
    }

    /// Makes everything written durable now (an fsync outside the turn's batch: for the rare
    /// answers that cannot wait for the end of the turn, such as `tx.commit-ok` or a close).
    /// When a write fails, the confirms waiting become nacks.
    pub(crate) fn sync_now(&mut self) {
        if !self.write_logs() {
            self.confirms.fail_all();
        }
    }

    /// The connection's confirms that may be written now, coalesced: all of them unless
    /// messages wait for an fsync, none then (the end of the turn sends them).
    pub(crate) fn ready_confirms(&mut self, conn: ConnId) -> Vec<ConfirmFrame> {
        if self.must_sync() {
            return Vec::new();
        }
        self.confirms.take(conn)
    }

    /// The confirms of a channel (or, for `None`, a connection) about to close: made durable
    /// first, so that they can be written before the close.
    pub(crate) fn confirms_before_close(
        &mut self,
        conn: ConnId,
        channel: Option<u16>,
    ) -> Vec<ConfirmFrame> {
        if self.must_sync() {
            self.sync_now();
        }
        match channel {
            Some(n) => self.confirms.take_channel(conn, n),
            None => self.confirms.take(conn),
        }
    }

    /// Forgets the confirms of a channel the broker closed (it answers nothing more there).
    pub(crate) fn drop_confirms(&mut self, conn: ConnId, channel: u16) {
        self.confirms.take_channel(conn, channel);
    }

    /// The end of a reactor turn, before its output is flushed: everything the turn wrote to
    /// the message store is made durable with one fsync per file, then the confirms that
    /// waited for it are written.
    pub(crate) fn before_flush(&mut self, sink: &mut dyn Sink) {
        if !self.touched.is_empty() {
            self.sync_now();
        }
        if self.confirms.is_empty() {
            return;
        }
        for (conn, frames) in self.confirms.take_all() {
            sink.confirms(conn, &frames);
        }
    }

    /// Bytes the broker's messages hold now (bodies, names and per-message bookkeeping;
    /// shared bodies counted once): what the memory alarm compares with its mark.
    pub fn memory_used(&self) -> usize {
        self.memory.get()
    }

    /// The memory alarm is on (publishers blocked).
    pub fn memory_alarm(&self) -> bool {
        self.alarm
    }

    /// Sets or clears the memory alarm as the messages held compare with the high-water mark,
    /// as RabbitMQ's memory monitor does: set above the mark, cleared at or below it; on
    /// clearing, the connections it blocked are told (`connection.unblocked`) and read again.
    fn check_memory(&mut self, sink: &mut dyn Sink) {
        let (used, mark) = (self.memory.get(), self.config.memory_high_watermark);
        if !self.alarm && used > mark {
            self.alarm = true;
            log::warn!(
                "memory resource limit alarm set: messages hold {used} bytes, the high-water \
                 mark is {mark}; connections that publish are blocked"
            );
        } else if self.alarm && used <= mark {
            self.alarm = false;
            log::info!("memory resource limit alarm cleared: messages hold {used} bytes");
            for conn in std::mem::take(&mut self.alarm_blocked) {
                if self.conns.get(&conn).is_some_and(|c| c.notify_blocked) {
                    sink.blocked(conn, None);
                }
                sink.resume_reading(conn);
            }
        }
    }

    /// A publish arrived while the memory alarm is on: its connection is blocked (the
    /// adapter stops reading it) and told once, as RabbitMQ blocks a connection when it
    /// publishes, not before.
    fn block_publisher(&mut self, conn: ConnId, sink: &mut dyn Sink) {
        if self.alarm_blocked.contains(&conn) {
            return;
        }
        self.alarm_blocked.push(conn);
        if self.conns.get(&conn).is_some_and(|c| c.notify_blocked) {
            sink.blocked(conn, Some("low on memory"));
        }
    }

    /// Sets the time operations run at (the reactor's clock; a fake one in tests).
    pub(crate) fn set_clock(&mut self, now: Instant) {
        self.now = now;
    }

    fn unix_secs(&self) -> u64 {
        // Fractions added before truncating: whole seconds of each would run up to a second
        // behind the clock.
        let (at, unix) = self.epoch;
        (unix + self.now.saturating_duration_since(at)).as_secs()
    }

    /// Whether a virtual host exists.
    pub(crate) fn has_vhost(&self, name: &str) -> bool {
        self.vhosts.contains_key(name)
    }

    /// Creates a virtual host (with the standard exchanges) if it does not exist.
    pub(crate) fn add_vhost(&mut self, name: &str) {
        self.changes += 1;
        self.vhosts
            .entry(name.to_string())
            .or_insert_with(|| Vhost::new(name));
    }

    /// Loads a definitions file in RabbitMQ's JSON export format: vhosts, users (with their
    /// password hashes), permissions, exchanges, queues and bindings, in that order, as
    /// `rabbitmqctl import_definitions` applies them. Sections RabbitMQ has but this broker
    /// does not apply (policies, parameters, topic permissions) are logged and skipped.
    ///
    /// # Errors
    ///
    /// The JSON does not parse, or an entry is refused (a bad hash, a permission pattern
    /// that is not a regular expression, an unknown exchange type, a binding to nothing);
    /// the message names it.
    pub fn load_definitions(&mut self, json: &[u8]) -> Result<(), String> {
        self.changes += 1;
        let defs = definitions::parse(json).map_err(|e| e.to_string())?;
        for (section, n) in defs.ignored() {
            if n > 0 {
                log::warn!("definitions: {n} {section} not applied (not supported)");
            }
        }
        for v in &defs.vhosts {
            self.add_vhost(&v.name);
        }
        for u in &defs.users {
            let algorithm = defs.hashing_algorithm(u);
            self.users
                .add_user_with_hash(&u.name, &u.password_hash, algorithm, u.tags.clone())
                .map_err(|e| e.to_string())?;
        }
        for p in &defs.permissions {
            if !self.has_vhost(&p.vhost) {
                return Err(format!(
                    "permissions for user '{}' on missing vhost '{}'",
                    p.user, p.vhost
                ));
            }
            self.users
                .set_permissions(&p.user, &p.vhost, &p.configure, &p.write, &p.read)
                .map_err(|e| e.to_string())?;
        }
        let short = |s: &str| ShortStr::try_from(s).map_err(|e| format!("'{s}': {e}"));
        let now = self.now;
        for x in defs.exchanges.iter().filter(|x| x.is_importable()) {
            let kind = ExchangeType::parse(x.kind.as_bytes())
                .ok_or_else(|| format!("exchange '{}': invalid type '{}'", x.name, x.kind))?;
            let v = self
                .vhosts
                .get_mut(&x.vhost)
                .ok_or_else(|| format!("exchange '{}' in missing vhost '{}'", x.name, x.vhost))?;
            let name = short(&x.name)?;
            v.exchanges.entry(name.clone()).or_insert_with(|| {
                Exchange::new(
                    name,
                    kind,
                    x.durable,
                    x.auto_delete,
                    x.internal,
                    x.arguments.clone(),
                )
            });
        }
        let mut created = Vec::new();
        for q in &defs.queues {
            let v = self
                .vhosts
                .get_mut(&q.vhost)
                .ok_or_else(|| format!("queue '{}' in missing vhost '{}'", q.name, q.vhost))?;
            validate_queue_declare(
                &q.arguments,
                &q.name,
                &q.vhost,
                (q.durable, false, q.auto_delete),
                false,
            )
            .map_err(|e| e.to_string())?;
            let name = short(&q.name)?;
            if !v.queues.contains_key(&name) {
                let queue = Queue::new(
                    name.clone(),
                    q.durable,
                    None,
                    q.auto_delete,
                    q.arguments.clone(),
                    now,
                );
                v.queues.insert(name.clone(), queue);
                created.push((q.vhost.clone(), name));
            }
        }
        for (vname, name) in created {
            self.recovered += self.attach_log(&vname, &name, true);
        }
        for b in &defs.bindings {
            let v = self
                .vhosts
                .get_mut(&b.vhost)
                .ok_or_else(|| format!("binding in missing vhost '{}'", b.vhost))?;
            let dest_name = short(&b.destination)?;
            let dest = match b.destination_type {
                definitions::DestinationType::Queue if v.queues.contains_key(&dest_name) => {
                    Destination::Queue(dest_name)
                }
                definitions::DestinationType::Exchange if v.exchanges.contains_key(&dest_name) => {
                    Destination::Exchange(dest_name)
                }
                _ => {
                    return Err(format!(
                        "binding to missing '{}' in vhost '{}'",
                        b.destination, b.vhost
                    ))
                }
            };
            let x = v
                .exchanges
                .get_mut(b.source.as_bytes())
                .ok_or_else(|| format!("binding from missing exchange '{}'", b.source))?;
            check_binding(x.kind, &b.arguments).map_err(|e| e.to_string())?;
            x.route.bind(&dest, &short(&b.routing_key)?, &b.arguments);
        }
        Ok(())
    }

    /// Adds a user with a password (hashed here, RabbitMQ's salted SHA-256) and tags, as
    /// `rabbitmqctl add_user` does.
    ///
    /// # Errors
    ///
    /// The name is taken.
    pub fn add_user(
        &mut self,
        name: &str,
        password: &str,
        tags: Vec<String>,
    ) -> Result<(), String> {
        self.changes += 1;
        self.users
            .add_user(name, password, tags)
            .map_err(|e| e.to_string())
    }

    /// Deletes a user (`rabbitmqctl delete_user`); its connections stay until they close.
    ///
    /// # Errors
    ///
    /// No such user.
    pub fn delete_user(&mut self, name: &str) -> Result<(), String> {
        self.changes += 1;
        self.users.delete_user(name).map_err(|e| e.to_string())
    }

    /// Sets a user's configure, write and read patterns on a vhost
    /// (`rabbitmqctl set_permissions -p VHOST USER CONF WRITE READ`).
    ///
    /// # Errors
    ///
    /// No such vhost or user, or a pattern that is not a regular expression.
    pub fn set_permissions(
        &mut self,
        user: &str,
        vhost: &str,
        configure: &str,
        write: &str,
        read: &str,
    ) -> Result<(), String> {
        self.changes += 1;
        if !self.has_vhost(vhost) {
            return Err(format!("no vhost '{vhost}'"));
        }
        self.users
            .set_permissions(user, vhost, configure, write, read)
            .map_err(|e| e.to_string())
    }

    /// Removes a user's permissions on a vhost (`rabbitmqctl clear_permissions`).
    ///
    /// # Errors
    ///
    /// No such user.
    pub fn clear_permissions(&mut self, user: &str, vhost: &str) -> Result<(), String> {
        self.changes += 1;
        self.users
            .clear_permissions(user, vhost)
            .map_err(|e| e.to_string())
    }

    /// Deletes a vhost with its exchanges, queues and every permission on it
    /// (`rabbitmqctl delete_vhost`).
    ///
    /// # Errors
    ///
    /// No such vhost, or connections are open on it (they must close first: their consumers
    /// and unacknowledged messages belong to its queues).
    pub fn delete_vhost(&mut self, name: &str) -> Result<(), String> {
        self.changes += 1;
        if !self.has_vhost(name) {
            return Err(format!("no vhost '{name}'"));
        }
        if self.conns.values().any(|c| c.vhost == name) {
            return Err(format!("vhost '{name}' has open connections"));
        }
        self.vhosts.remove(name);
        self.users.forget_vhost(name);
        Ok(())
    }

    /// The broker's definitions in RabbitMQ's export format (`rabbitmqctl
    /// export_definitions`): users with their hashes, vhosts, permissions, and the exchanges,
    /// queues and bindings that are not a connection's own (exclusive queues) nor built in.
    pub fn export_definitions(&self) -> serde_json::Value {
        self.definitions(false)
    }

    /// The definitions, all of them or (`durable_only`) what survives a restart: durable
    /// exchanges and queues that are not exclusive, and the bindings whose two ends do.
    fn definitions(&self, durable_only: bool) -> serde_json::Value {
        use serde_json::{json, Value};
        let text = |s: &ShortStr| String::from_utf8_lossy(s).into_owned();
        let table = |t: &FieldTable| Value::Object(definitions::field_table_to_json(t));
        let mut users = Vec::new();
        let mut permissions = Vec::new();
        for u in self.users.iter() {
            users.push(json!({
                "name": u.name,
                "password_hash": u.password_hash_base64(),
                "hashing_algorithm": u.hashing_algorithm().name(),
                "tags": u.tags,
                "limits": {},
            }));
            for (vhost, p) in u.permissions() {
                permissions.push(json!({
                    "user": u.name,
                    "vhost": vhost,
                    "configure": p.configure.as_str(),
                    "write": p.write.as_str(),
                    "read": p.read.as_str(),
                }));
            }
        }
        let mut vhost_names: Vec<&String> = self.vhosts.keys().collect();
        vhost_names.sort();
        let (mut vhosts, mut queues, mut exchanges, mut bindings) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for name in vhost_names {
            let Some(v) = self.vhosts.get(name) else {
                continue;
            };
            vhosts.push(json!({ "name": v.name, "limits": [], "metadata": {} }));
            let kept_queue = |q: &Queue| q.exclusive.is_none() && (q.durable || !durable_only);
            for q in v.queues.values().filter(|q| kept_queue(q)) {
                queues.push(json!({
                    "name": text(&q.name),
                    "vhost": v.name,
                    "durable": q.durable,
                    "auto_delete": q.auto_delete,
                    "arguments": table(&q.arguments),
                }));
            }
            for x in v.exchanges.values() {
                if durable_only && !x.durable {
                    continue;
                }
                let built_in = x.name.is_empty() || x.name.starts_with(b"amq.");
                if !built_in {
                    exchanges.push(json!({
                        "name": text(&x.name),
                        "vhost": v.name,
                        "type": x.kind.name(),
                        "durable": x.durable,
                        "auto_delete": x.auto_delete,
                        "internal": x.internal,
                        "arguments": table(&x.arguments),
                    }));
                }
                for b in x.route.bindings() {
                    let (kind, dest) = match &b.destination {
                        Destination::Queue(q) => ("queue", q),
                        Destination::Exchange(e) => ("exchange", e),
                    };
                    let kept = match &b.destination {
                        Destination::Queue(q) => v.queues.get(q).is_some_and(kept_queue),
                        Destination::Exchange(e) => v
                            .exchanges
                            .get(e)
                            .is_some_and(|e| e.durable || !durable_only),
                    };
                    if !kept {
                        continue;
                    }
                    bindings.push(json!({
                        "source": text(&x.name),
                        "vhost": v.name,
                        "destination": text(dest),
                        "destination_type": kind,
                        "routing_key": text(&b.key),
                        "arguments": table(&b.arguments),
                    }));
                }
            }
        }
        json!({
            "rabbit_version": "3.10.0",
            "rabbitmq_version": "3.10.0",
            "product_name": "Spindle",
            "product_version": env!("CARGO_PKG_VERSION"),
            "users": users,
            "vhosts": vhosts,
            "permissions": permissions,
            "topic_permissions": [],
            "parameters": [],
            "global_parameters": [],
            "policies": [],
            "queues": queues,
            "exchanges": exchanges,
            "bindings": bindings,
        })
    }

    /// Registers a connection once `connection.open` has passed.
    pub(crate) fn open_connection(
        &mut self,
        conn: ConnId,
        user: &str,
        vhost: &str,
        frame_max: u32,
        notify_blocked: bool,
    ) {
        self.conns.insert(
            conn,
            Conn {
                vhost: vhost.to_string(),
                user: user.to_string(),
                frame_max,
                output_blocked: false,
                exclusive_queues: Vec::new(),
                notify_blocked,
            },
        );
    }

    /// Forgets a connection: its channels close (unacknowledged messages requeued, consumers
    /// gone) and its exclusive queues are deleted.
    pub(crate) fn close_connection(&mut self, conn: ConnId, sink: &mut dyn Sink) {
        let channels: Vec<u16> = self
            .channels
            .keys()
            .filter(|(c, _)| *c == conn)
            .map(|(_, n)| *n)
            .collect();
        for n in channels {
            self.close_channel(conn, n, sink);
        }
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(v) = self.vhosts.get_mut(&c.vhost) {
                for q in c.exclusive_queues {
                    // Not durable itself, but a durable auto-delete exchange may go with it.
                    delete_queue(v, &mut self.channels, &q, sink);
                    self.changes += 1;
                }
            }
        }
        self.alarm_blocked.retain(|c| *c != conn);
        self.confirms.take(conn);
        self.check_memory(sink);
    }

    /// `channel.open`.
    pub(crate) fn open_channel(&mut self, conn: ConnId, channel: u16) {
        self.channels.insert((conn, channel), Chan::default());
    }

    /// `channel.close` (either side) or the channel's end with its connection: requeues its
    /// unacknowledged deliveries as redelivered, removes its consumers (an auto-delete queue
    /// that loses its last consumer goes), and serves the queues it gave back messages to.
    pub(crate) fn close_channel(&mut self, conn: ConnId, channel: u16, sink: &mut dyn Sink) {
        let Some(chan) = self.channels.remove(&(conn, channel)) else {
            return;
        };
        let Some(vhost) = self.vhost_name(conn) else {
            return;
        };
        let Some(v) = self.vhosts.get_mut(&vhost) else {
            return;
        };
        let mut touched: Vec<ShortStr> = Vec::new();
        for (tag, queue) in chan.consumers {
            if let Some(q) = v.queues.get_mut(&queue) {
                q.remove_consumers(|c| c.conn == conn && c.channel == channel && c.tag == tag);
            }
            if !touched.contains(&queue) {
                touched.push(queue);
            }
        }
        let mut over_limit: Vec<(ShortStr, Vec<Queued>)> = Vec::new();
        for (_, u) in chan.unacked.into_iter().rev() {
            if let Some(q) = v.queues.get_mut(&u.queue) {
                if let Some(item) = q.give_back(u.item) {
                    push_for(&mut over_limit, &u.queue, item);
                }
                if !touched.contains(&u.queue) {
                    touched.push(u.queue);
                }
            }
        }
        for (queue, items) in over_limit {
            for landed in self.dead_letter(&vhost, &queue, items, Reason::DeliveryLimit) {
                if !touched.contains(&landed) {
                    touched.push(landed);
                }
            }
        }
        let Some(v) = self.vhosts.get_mut(&vhost) else {
            return;
        };
        let mut serve = Vec::new();
        for name in touched {
            let gone = v
                .queues
                .get(&name)
                .is_some_and(|q| q.auto_delete && q.had_consumer && q.consumers.is_empty());
            if gone {
                delete_queue(v, &mut self.channels, &name, sink);
                self.changes += 1;
            } else {
                serve.push(name);
            }
        }
        self.run_queues(&vhost, serve, sink);
    }

    /// Checks the connection's user may do `access` on the named resource in its vhost
    /// (403 ACCESS_REFUSED otherwise, as RabbitMQ words it).
    fn permit(&self, conn: ConnId, access: Access, kind: ResourceKind, name: &[u8]) -> Outcome<()> {
        let Some(c) = self.conns.get(&conn) else {
            return Err(Refusal::new(ReplyCode::ChannelError, "connection not open"));
        };
        self.users.check(&c.user, &c.vhost, access, kind, name)
    }

    /// The name of the vhost a connection opened.
    fn vhost_name(&self, conn: ConnId) -> Option<String> {
        self.conns.get(&conn).map(|c| c.vhost.clone())
    }

    fn vhost_of(&mut self, conn: ConnId) -> Outcome<&mut Vhost> {
        let name = self
            .conns
            .get(&conn)
            .map(|c| c.vhost.as_str())
            .ok_or_else(|| Refusal::new(ReplyCode::ChannelError, "connection not open"))?;
        self.vhosts
            .get_mut(name)
            .ok_or_else(|| Refusal::not_found(format!("no vhost '{name}'")))
    }

    /// A fresh name with `prefix` (`amq.gen-…` queues, `amq.ctag-…` consumer tags): unique in
    /// this broker's life, base64-like as RabbitMQ's.
    fn fresh_name(&mut self, prefix: &str) -> ShortStr {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let n = self.next_name;
        self.next_name += 1;
        // Spread the counter over 22 characters so names do not share a visible prefix.
        let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (n << 17);
        let mut name = String::from(prefix);
        for _ in 0..22 {
            let c = ALPHABET.get((x % 64) as usize).copied().unwrap_or(b'A');
            name.push(char::from(c));
            x = x.rotate_right(6) ^ n;
        }
        ShortStr::try_from(name).unwrap_or_default()
    }

    /// `exchange.declare`.
    pub(crate) fn exchange_declare(&mut self, conn: ConnId, m: &ExchangeDeclare) -> Outcome<()> {
        self.changes += 1;
        if !m.passive {
            self.permit(conn, Access::Configure, ResourceKind::Exchange, &m.exchange)?;
        }
        let v = self.vhost_of(conn)?;
        let vname = v.name.clone();
        let name = m.exchange.clone();
        if let Some(x) = v.exchanges.get(&name) {
            if m.passive {
                return Ok(());
            }
            let kind = ExchangeType::parse(&m.kind);
            let checks: [(&str, String, String); 4] = [
                (
                    "type",
                    String::from_utf8_lossy(&m.kind).into_owned(),
                    x.kind.name().to_string(),
                ),
                ("durable", m.durable.to_string(), x.durable.to_string()),
                (
                    "auto_delete",
                    m.auto_delete.to_string(),
                    x.auto_delete.to_string(),
                ),
                ("internal", m.internal.to_string(), x.internal.to_string()),
            ];
            for (arg, received, current) in checks {
                if received != current && !(arg == "type" && kind == Some(x.kind)) {
                    return Err(Refusal::precondition(format!(
                        "inequivalent arg '{arg}' for exchange '{name}' in vhost '{vname}': \
                         received '{received}' but current is '{current}'"
                    )));
                }
            }
            return Ok(());
        }
        if m.passive {
            return Err(Refusal::not_found(format!(
                "no exchange '{name}' in vhost '{vname}'"
            )));
        }
        let Some(kind) = ExchangeType::parse(&m.kind) else {
            return Err(Refusal::new(
                ReplyCode::CommandInvalid,
                format!("invalid exchange type '{}'", m.kind),
            ));
        };
        if name.starts_with(b"amq.") {
            return Err(Refusal::access_refused(format!(
                "exchange name '{name}' contains reserved prefix 'amq.*'"
            )));
        }
        v.exchanges.insert(
            name.clone(),
            Exchange::new(
                name,
                kind,
                m.durable,
                m.auto_delete,
                m.internal,
                m.arguments.clone(),
            ),
        );
        Ok(())
    }

    /// `exchange.delete`.
    pub(crate) fn exchange_delete(
        &mut self,
        conn: ConnId,
        name: &ShortStr,
        if_unused: bool,
    ) -> Outcome<()> {
        self.changes += 1;
        self.permit(conn, Access::Configure, ResourceKind::Exchange, name)?;
        let v = self.vhost_of(conn)?;
        let vname = v.name.clone();
        if name.is_empty() || name.starts_with(b"amq.") {
            return Err(Refusal::access_refused(format!(
                "operation not permitted on the default exchange or a standard exchange \
                 '{name}' in vhost '{vname}'"
            )));
        }
        let Some(x) = v.exchanges.get(name) else {
            // RabbitMQ answers delete-ok for an exchange that does not exist.
            return Ok(());
        };
        if if_unused && x.route.len() > 0 {
            return Err(Refusal::precondition(format!(
                "exchange '{name}' in vhost '{vname}' in use"
            )));
        }
        v.delete_exchange(name);
        Ok(())
    }

    /// `exchange.bind` (and `exchange.unbind` with `bind` false).
    pub(crate) fn exchange_bind(
        &mut self,
        conn: ConnId,
        m: &ExchangeBind,
        bind: bool,
    ) -> Outcome<()> {
        self.changes += 1;
        self.permit(conn, Access::Write, ResourceKind::Exchange, &m.destination)?;
        self.permit(conn, Access::Read, ResourceKind::Exchange, &m.source)?;
        let v = self.vhost_of(conn)?;
        let vname = v.name.clone();
        for name in [&m.source, &m.destination] {
            if !v.exchanges.contains_key(name) {
                return Err(Refusal::not_found(format!(
                    "no exchange '{name}' in vhost '{vname}'"
                )));
            }
        }
        let dest = Destination::Exchange(m.destination.clone());
        if let Some(x) = v.exchanges.get_mut(&m.source) {
            if bind {
                check_binding(x.kind, &m.arguments)?;
                x.route.bind(&dest, &m.routing_key, &m.arguments);
            } else {
                x.route.unbind(&dest, &m.routing_key, &m.arguments);
            }
        }
        Ok(())
    }

    /// `queue.declare`: the queue's name (server-named when empty), its ready messages and
    /// its consumers.
    pub(crate) fn queue_declare(
        &mut self,
        conn: ConnId,
        m: &QueueDeclare,
    ) -> Outcome<(ShortStr, u32, u32)> {
        self.changes += 1;
        let name = if m.queue.is_empty() {
            self.fresh_name("amq.gen-")
        } else {
            m.queue.clone()
        };
        if !m.passive {
            self.permit(conn, Access::Configure, ResourceKind::Queue, &name)?;
        }
        let now = self.now;
        let v = self.vhost_of(conn)?;
        let vname = v.name.clone();
        if let Some(q) = v.queues.get_mut(&name) {
            q.last_used = now;
            check_exclusive(q, conn, &vname)?;
            if !m.passive {
                for (arg, received, current) in [
                    ("durable", m.durable, q.durable),
                    ("auto_delete", m.auto_delete, q.auto_delete),
                ] {
                    if received != current {
                        return Err(Refusal::precondition(format!(
                            "inequivalent arg '{arg}' for queue '{name}' in vhost '{vname}': \
                             received '{received}' but current is '{current}'"
                        )));
                    }
                }
                if m.exclusive != q.exclusive.is_some() {
                    return Err(locked(&name, &vname));
                }
                check_arguments(&m.arguments, &q.arguments, &name, &vname)?;
            }
            return Ok((name, count(q.len()), count(q.consumers.len())));
        }
        if m.passive {
            return Err(Refusal::not_found(format!(
                "no queue '{name}' in vhost '{vname}'"
            )));
        }
        if name.starts_with(b"amq.") && !m.queue.is_empty() {
            return Err(Refusal::access_refused(format!(
                "queue name '{name}' contains reserved prefix 'amq.*'"
            )));
        }
        validate_queue_declare(
            &m.arguments,
            &name.to_string(),
            &vname,
            (m.durable, m.exclusive, m.auto_delete),
            m.queue.is_empty(),
        )?;
        let owner = m.exclusive.then_some(conn);
        v.queues.insert(
            name.clone(),
            Queue::new(
                name.clone(),
                m.durable,
                owner,
                m.auto_delete,
                m.arguments.clone(),
                now,
            ),
        );
        if m.exclusive {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.exclusive_queues.push(name.clone());
            }
        }
        if m.durable && !m.exclusive {
            // Another queue gets a log only once it is long enough to page.
            self.attach_log(&vname, &name, false);
        }
        Ok((name, 0, 0))
    }

    /// `queue.bind` (and `queue.unbind` with `bind` false).
    pub(crate) fn queue_bind(
        &mut self,
        conn: ConnId,
        queue: &ShortStr,
        exchange: &ShortStr,
        key: &ShortStr,
        arguments: &FieldTable,
        bind: bool,
    ) -> Outcome<()> {
        self.changes += 1;
        self.permit(conn, Access::Write, ResourceKind::Queue, queue)?;
        self.permit(conn, Access::Read, ResourceKind::Exchange, exchange)?;
        let v = self.vhost_of(conn)?;
        let vname = v.name.clone();
        let Some(q) = v.queues.get(queue) else {
            return Err(Refusal::not_found(format!(
                "no queue '{queue}' in vhost '{vname}'"
            )));
        };
        check_exclusive(q, conn, &vname)?;
        if exchange.is_empty() {
            return Err(Refusal::access_refused(format!(
                "operation not permitted on the default exchange in vhost '{vname}'"
            )));
        }
        let Some(x) = v.exchanges.get_mut(exchange) else {
            return Err(Refusal::not_found(format!(
                "no exchange '{exchange}' in vhost '{vname}'"
            )));
        };
        let dest = Destination::Queue(queue.clone());
        if bind {
            check_binding(x.kind, arguments)?;
            x.route.bind(&dest, key, arguments);
        } else {
            x.route.unbind(&dest, key, arguments);
        }
        Ok(())
    }

    /// `queue.bind` from its method.
    pub(crate) fn queue_bind_method(&mut self, conn: ConnId, m: &QueueBind) -> Outcome<()> {
        self.queue_bind(
            conn,
            &m.queue,
            &m.exchange,
            &m.routing_key,
            &m.arguments,
            true,
        )
    }

    /// `queue.purge`: how many messages were removed.
    pub(crate) fn queue_purge(
        &mut self,
        conn: ConnId,
        queue: &ShortStr,
        sink: &mut dyn Sink,
    ) -> Outcome<u32> {
        self.permit(conn, Access::Read, ResourceKind::Queue, queue)?;
        let q = self.queue_mut(conn, queue)?;
        let n = count(q.store.purge());
        let_publishers_go(q, sink);
        if let Some(vname) = self.vhost_name(conn) {
            self.touch(&vname, queue);
        }
        if self.alarm {
            self.check_memory(sink);
        }
        Ok(n)
    }

    /// `queue.delete`: how many messages it held. Its consumers are told with `basic.cancel`.
    pub(crate) fn queue_delete(
        &mut self,
        conn: ConnId,
        queue: &ShortStr,
        if_unused: bool,
        if_empty: bool,
        sink: &mut dyn Sink,
    ) -> Outcome<u32> {
        self.changes += 1;
        self.permit(conn, Access::Configure, ResourceKind::Queue, queue)?;
        let v = self.vhost_of(conn)?;
        let vname = v.name.clone();
        let Some(q) = v.queues.get(queue) else {
            // RabbitMQ answers delete-ok (0 messages) for a queue that does not exist.
            return Ok(0);
        };
        check_exclusive(q, conn, &vname)?;
        if if_unused && !q.consumers.is_empty() {
            return Err(Refusal::precondition(format!(
                "queue '{queue}' in vhost '{vname}' in use"
            )));
        }
        if if_empty && q.len() > 0 {
            return Err(Refusal::precondition(format!(
                "queue '{queue}' in vhost '{vname}' is not empty"
            )));
        }
        let n = count(q.len());
        let vhosts = &mut self.vhosts;
        if let Some(v) = vhosts.get_mut(&vname) {
            delete_queue(v, &mut self.channels, queue, sink);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.exclusive_queues.retain(|q| q != queue);
        }
        if self.alarm {
            self.check_memory(sink);
        }
        Ok(n)
    }

    fn queue_mut(&mut self, conn: ConnId, queue: &ShortStr) -> Outcome<&mut Queue> {
        let v = self.vhost_of(conn)?;
        let vname = v.name.clone();
        let q = v
            .queues
            .get_mut(queue)
            .ok_or_else(|| Refusal::not_found(format!("no queue '{queue}' in vhost '{vname}'")))?;
        check_exclusive(q, conn, &vname)?;
        Ok(q)
    }

    /// `basic.publish` with its content: routes the message and serves the queues it lands in.
    /// Returns whether any queue took it (false: `basic.return` if mandatory; a confirm is
    /// still an ack, as RabbitMQ's) and whether a full queue refused it (a confirm is then a
    /// nack).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn publish(
        &mut self,
        conn: ConnId,
        channel: u16,
        exchange: &ShortStr,
        routing_key: &ShortStr,
        mut properties: BasicProperties,
        body: Bytes,
        sink: &mut dyn Sink,
    ) -> Outcome<Published> {
        self.permit(conn, Access::Write, ResourceKind::Exchange, exchange)?;
        if properties
            .reply_to
            .as_ref()
            .is_some_and(|r| r.as_ref() == REPLY_TO.as_bytes())
        {
            // Direct reply-to: the reply address names this channel's reply consumer.
            let has = self
                .channels
                .get(&(conn, channel))
                .is_some_and(|c| c.reply_consumer.is_some());
            if !has {
                return Err(Refusal::precondition("fast reply consumer does not exist"));
            }
            let address = format!(
                "{REPLY_TO}.{}.{}.{channel}",
                conn.index(),
                conn.generation()
            );
            properties.reply_to = ShortStr::try_from(address).ok();
        }
        if exchange.is_empty() && routing_key.starts_with(REPLY_TO_PREFIX.as_bytes()) {
            return Ok(self.reply(routing_key, properties, body, sink));
        }
        let id = self.next_message_id;
        self.next_message_id += 1;
        let Some(vname) = self.vhost_name(conn) else {
            return Err(Refusal::new(ReplyCode::ChannelError, "connection not open"));
        };
        let Some(v) = self.vhosts.get_mut(&vname) else {
            return Err(Refusal::not_found(format!("no vhost '{vname}'")));
        };
        if !exchange.is_empty() {
            match v.exchanges.get(exchange) {
                None => {
                    return Err(Refusal::not_found(format!(
                        "no exchange '{exchange}' in vhost '{vname}'"
                    )))
                }
                Some(x) if x.internal => {
                    return Err(Refusal::access_refused(format!(
                        "cannot publish to internal exchange '{exchange}' in vhost '{vname}'"
                    )))
                }
                Some(_) => {}
            }
        }
        let ttl = parse_expiration(&properties)?;
        let queues = v.route(exchange, routing_key, properties.headers.as_ref());
        let mut outcome = Published {
            routed: !queues.is_empty(),
            rejected: false,
            hold: false,
        };
        if queues.is_empty() {
            return Ok(outcome);
        }
        let now = self.now;
        let message = Rc::new(Message::new(
            id,
            exchange.clone(),
            routing_key.clone(),
            properties,
            body,
            &self.memory,
        ));
        let mut overflowed = Vec::new();
        for name in &queues {
            let Some(q) = v.queues.get_mut(name) else {
                continue;
            };
            let (taken, mut dropped) = q.enqueue(message.clone(), ttl, now);
            if !taken {
                outcome.rejected = true;
                if q.overflow == queue::Overflow::RejectPublishDlx {
                    dropped.push(Queued {
                        seq: 0,
                        message: message.clone(),
                        redelivered: false,
                        returns: 0,
                        expires: None,
                        place: None,
                    });
                }
            }
            if !dropped.is_empty() {
                overflowed.push((name.clone(), dropped));
            }
        }
        let mut work = queues.clone();
        for (name, dropped) in overflowed {
            work.extend(self.dead_letter(&vname, &name, dropped, Reason::Maxlen));
        }
        self.run_queues(&vname, work, sink);
        // Flow control: a queue its consumers do not keep up with holds the publisher back.
        if let Some(v) = self.vhosts.get_mut(&vname) {
            for name in &queues {
                if let Some(q) = v.queues.get_mut(name) {
                    // Only while consumers fall behind but keep taking messages: a queue
                    // nobody consumes, or whose consumers have stopped, is a buffer and keeps
                    // taking messages, to disk past its memory share (RabbitMQ's limit there
                    // is its memory alarm).
                    if q.is_flooded() && q.consumers_progress(now) {
                        if !q.held_publishers.contains(&conn) {
                            q.held_publishers.push(conn);
                        }
                        outcome.hold = true;
                    }
                }
            }
        }
        self.check_memory(sink);
        if self.alarm {
            self.block_publisher(conn, sink);
            outcome.hold = true;
        }
        Ok(outcome)
    }

    /// Delivers a reply published to a direct reply-to address straight to the consumer it
    /// names; a consumer that is gone means the reply is dropped (returned if mandatory).
    fn reply(
        &mut self,
        address: &ShortStr,
        properties: BasicProperties,
        body: Bytes,
        sink: &mut dyn Sink,
    ) -> Published {
        let dropped = Published {
            routed: false,
            rejected: false,
            hold: false,
        };
        let parts: Vec<u32> =
            std::str::from_utf8(address.get(REPLY_TO_PREFIX.len()..).unwrap_or_default())
                .unwrap_or("")
                .split('.')
                .filter_map(|p| p.parse().ok())
                .collect();
        let [index, generation, channel] = parts.as_slice() else {
            return dropped;
        };
        let Ok(channel) = u16::try_from(*channel) else {
            return dropped;
        };
        let to = ConnId::from_parts(*index, *generation);
        let Some(frame_max) = self.conns.get(&to).map(|c| c.frame_max) else {
            return dropped;
        };
        let Some(chan) = self.channels.get_mut(&(to, channel)) else {
            return dropped;
        };
        let Some(tag) = chan.reply_consumer.clone() else {
            return dropped;
        };
        chan.last_tag += 1;
        // Written out at once: it is never held, so it is not charged to the gauge.
        let message = Message {
            id: self.next_message_id,
            exchange: ShortStr::default(),
            routing_key: address.clone(),
            properties,
            body,
            charge: None,
        };
        self.next_message_id += 1;
        sink.deliver(Delivery {
            conn: to,
            channel,
            frame_max,
            consumer_tag: &tag,
            delivery_tag: chan.last_tag,
            redelivered: false,
            message: &message,
        });
        Published {
            routed: true,
            rejected: false,
            hold: false,
        }
    }

    /// Sends messages that left queue `from` of `vname` for `reason` to its dead-letter
    /// exchange, if it has one, with RabbitMQ's `x-death` header; returns the queues they
    /// landed in (to be served).
    fn dead_letter(
        &mut self,
        vname: &str,
        from: &ShortStr,
        items: Vec<Queued>,
        reason: Reason,
    ) -> Vec<ShortStr> {
        let now = self.now;
        let unix = self.unix_secs();
        let Some(v) = self.vhosts.get_mut(vname) else {
            return Vec::new();
        };
        // They leave their queue for good, whether a dead-letter exchange takes them or not.
        if let Some(q) = v.queues.get_mut(from) {
            for item in &items {
                q.store.settle(item);
            }
        }
        let Some((exchange, key)) = v.queues.get(from).and_then(|q| q.dead_letter.clone()) else {
            return Vec::new();
        };
        let mut landed: Vec<ShortStr> = Vec::new();
        for item in items {
            let m = &item.message;
            let routing_key = key.clone().unwrap_or_else(|| m.routing_key.clone());
            let properties = with_death(
                &m.properties,
                from,
                reason,
                &m.exchange,
                &m.routing_key,
                unix,
            );
            let queues = v.route(&exchange, &routing_key, properties.headers.as_ref());
            let message = Rc::new(Message::new(
                self.next_message_id,
                exchange.clone(),
                routing_key,
                properties,
                m.body.clone(),
                &self.memory,
            ));
            self.next_message_id += 1;
            for name in queues {
                // A message that expired or overflowed is not sent back to the queue it left:
                // it would go round for ever (RabbitMQ drops it too); a rejected one may be.
                if name == *from && reason != Reason::Rejected {
                    continue;
                }
                if let Some(q) = v.queues.get_mut(&name) {
                    q.enqueue(message.clone(), None, now);
                    if !landed.contains(&name) {
                        landed.push(name);
                    }
                }
            }
        }
        landed
    }

    /// Serves queues of `vname`: the expired messages at their heads are taken (and
    /// dead-lettered where the queue says so), then each consumer gets what it can take; the
    /// queues dead-lettered messages land in are served next.
    fn run_queues(&mut self, vname: &str, mut work: Vec<ShortStr>, sink: &mut dyn Sink) {
        let now = self.now;
        // Dead-letter exchanges can form a cycle through queues; each turn ends.
        let mut budget = 10_000usize;
        while let Some(name) = work.pop() {
            budget = budget.saturating_sub(1);
            if budget == 0 {
                log::warn!("dead-lettering in vhost '{vname}' stopped after 10,000 queue visits");
                return;
            }
            self.touch(vname, &name);
            let Some(q) = self
                .vhosts
                .get_mut(vname)
                .and_then(|v| v.queues.get_mut(&name))
            else {
                continue;
            };
            let mut expired = q.take_expired(now);
            dispatch(
                q,
                &mut self.channels,
                &mut self.conns,
                now,
                &mut expired,
                sink,
            );
            if q.has_drained() || q.consumers.is_empty() {
                let_publishers_go(q, sink);
            }
            if !expired.is_empty() {
                for landed in self.dead_letter(vname, &name, expired, Reason::Expired) {
                    if !work.contains(&landed) {
                        work.push(landed);
                    }
                }
            }
        }
        // Deliveries without acks and dropped messages free memory: the alarm may clear.
        if self.alarm {
            self.check_memory(sink);
        }
    }

    /// The broker's clock tick (every 100 ms): messages that expired at the heads of queues
    /// are dropped or dead-lettered even when nothing else happens, and queues unused for
    /// their `x-expires` are deleted.
    pub(crate) fn tick(&mut self, now: Instant, sink: &mut dyn Sink) {
        self.now = now;
        let vhosts: Vec<String> = self.vhosts.keys().cloned().collect();
        for vname in vhosts {
            let Some(v) = self.vhosts.get_mut(&vname) else {
                continue;
            };
            let unused: Vec<ShortStr> = v
                .queues
                .values()
                .filter(|q| {
                    q.consumers.is_empty() && q.expires.is_some_and(|e| q.last_used + e <= now)
                })
                .map(|q| q.name.clone())
                .collect();
            for name in unused {
                delete_queue(v, &mut self.channels, &name, sink);
                self.changes += 1;
            }
            let timed: Vec<ShortStr> = v
                .queues
                .values()
                .filter(|q| q.store.head_expires())
                .map(|q| q.name.clone())
                .collect();
            self.run_queues(&vname, timed, sink);
            // Publishers held for a queue whose consumers stopped taking messages go on.
            if let Some(v) = self.vhosts.get_mut(&vname) {
                for q in v.queues.values_mut() {
                    if !q.held_publishers.is_empty() && !q.consumers_progress(now) {
                        let_publishers_go(q, sink);
                    }
                }
            }
        }
        self.check_memory(sink);
    }

    /// `basic.consume`: registers the consumer (its tag, generated when empty) without
    /// delivering: the adapter sends `consume-ok` first, then calls [`Broker::serve`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn consume(
        &mut self,
        conn: ConnId,
        channel: u16,
        queue: &ShortStr,
        tag: &ShortStr,
        no_ack: bool,
        exclusive: bool,
    ) -> Outcome<ShortStr> {
        let tag = if tag.is_empty() {
            self.fresh_name("amq.ctag-")
        } else {
            tag.clone()
        };
        let prefetch = match self.channels.get(&(conn, channel)) {
            Some(chan) if chan.consumers.contains_key(&tag) => {
                return Err(Refusal::new(
                    ReplyCode::NotAllowed,
                    format!("attempt to reuse consumer tag '{tag}'"),
                ))
            }
            Some(chan) => chan.consumer_prefetch,
            None => return Err(Refusal::new(ReplyCode::ChannelError, "channel not open")),
        };
        if queue.as_ref() == REPLY_TO.as_bytes() {
            // Direct reply-to: no queue; replies go straight to this consumer.
            if !no_ack {
                return Err(Refusal::precondition("reply consumer cannot acknowledge"));
            }
            if let Some(chan) = self.channels.get_mut(&(conn, channel)) {
                if chan.reply_consumer.is_some() {
                    return Err(Refusal::precondition("reply consumer already set"));
                }
                chan.reply_consumer = Some(tag.clone());
            }
            return Ok(tag);
        }
        self.permit(conn, Access::Read, ResourceKind::Queue, queue)?;
        let now = self.now;
        let vname = self.vhost_name(conn).unwrap_or_default();
        let q = self.queue_mut(conn, queue)?;
        if q.consumers.iter().any(|c| c.exclusive) || (exclusive && !q.consumers.is_empty()) {
            return Err(Refusal::access_refused(format!(
                "queue '{queue}' in vhost '{vname}' in exclusive use"
            )));
        }
        q.consumers.push(Consumer {
            tag: tag.clone(),
            conn,
            channel,
            no_ack,
            exclusive,
            unacked: 0,
            prefetch,
        });
        q.had_consumer = true;
        q.last_used = now;
        if let Some(chan) = self.channels.get_mut(&(conn, channel)) {
            chan.consumers.insert(tag.clone(), queue.clone());
        }
        Ok(tag)
    }

    /// Serves every queue a channel consumes from (after `consume-ok`, `qos-ok`, a flow
    /// resume).
    pub(crate) fn serve(&mut self, conn: ConnId, channel: u16, sink: &mut dyn Sink) {
        let queues: Vec<ShortStr> = self
            .channels
            .get(&(conn, channel))
            .map(|c| c.consumers.values().cloned().collect())
            .unwrap_or_default();
        self.serve_queues(conn, &queues, sink);
    }

    fn serve_queues(&mut self, conn: ConnId, queues: &[ShortStr], sink: &mut dyn Sink) {
        let Some(vname) = self.vhost_name(conn) else {
            return;
        };
        self.run_queues(&vname, queues.to_vec(), sink);
    }

    /// `basic.cancel`: false if no consumer had the tag (RabbitMQ answers cancel-ok anyway).
    pub(crate) fn cancel(
        &mut self,
        conn: ConnId,
        channel: u16,
        tag: &ShortStr,
        sink: &mut dyn Sink,
    ) -> bool {
        if let Some(chan) = self.channels.get_mut(&(conn, channel)) {
            if chan.reply_consumer.as_ref() == Some(tag) {
                chan.reply_consumer = None;
                return true;
            }
        }
        let Some(queue) = self
            .channels
            .get_mut(&(conn, channel))
            .and_then(|c| c.consumers.remove(tag))
        else {
            return false;
        };
        let Some(vname) = self.vhost_name(conn) else {
            return true;
        };
        if let Some(v) = self.vhosts.get_mut(&vname) {
            if let Some(q) = v.queues.get_mut(&queue) {
                q.remove_consumers(|c| c.conn == conn && c.channel == channel && c.tag == *tag);
                if q.consumers.is_empty() {
                    // No consumer left to fall behind: publishers held for it go on.
                    let_publishers_go(q, sink);
                }
                if q.auto_delete && q.consumers.is_empty() {
                    delete_queue(v, &mut self.channels, &queue, sink);
                    self.changes += 1;
                }
            }
        }
        true
    }

    /// `basic.qos`: `prefetch_count` per consumer created after it, or, with `global`, for
    /// the channel as a whole (RabbitMQ's reading of the flag).
    pub(crate) fn qos(
        &mut self,
        conn: ConnId,
        channel: u16,
        prefetch_count: u16,
        global: bool,
        sink: &mut dyn Sink,
    ) {
        if let Some(chan) = self.channels.get_mut(&(conn, channel)) {
            if global {
                chan.channel_prefetch = prefetch_count;
            } else {
                chan.consumer_prefetch = prefetch_count;
            }
        }
        self.serve(conn, channel, sink);
    }

    /// `channel.flow`: false stops deliveries on the channel, true resumes them.
    pub(crate) fn flow(&mut self, conn: ConnId, channel: u16, active: bool, sink: &mut dyn Sink) {
        if let Some(chan) = self.channels.get_mut(&(conn, channel)) {
            chan.paused = !active;
        }
        if active {
            self.serve(conn, channel, sink);
        }
    }

    /// `basic.get`: the message at the head of the queue, if any.
    pub(crate) fn get(
        &mut self,
        conn: ConnId,
        channel: u16,
        queue: &ShortStr,
        no_ack: bool,
        sink: &mut dyn Sink,
    ) -> Outcome<Option<Got>> {
        self.permit(conn, Access::Read, ResourceKind::Queue, queue)?;
        let now = self.now;
        self.queue_mut(conn, queue)?.last_used = now;
        if let Some(vname) = self.vhost_name(conn) {
            // Expired messages at the head go first, as for a consumer.
            self.run_queues(&vname, vec![queue.clone()], sink);
        }
        let q = self.queue_mut(conn, queue)?;
        let Some(item) = q.store.pop() else {
            return Ok(None);
        };
        if no_ack {
            // Acknowledged as it leaves (the queue was touched by serving it above).
            q.store.settle(&item);
        }
        let message_count = count(q.len());
        let message = item
            .handed_out(q.quorum, true)
            .map_or_else(|| item.message.clone(), Rc::new);
        let qname = q.name.clone();
        let Some(chan) = self.channels.get_mut(&(conn, channel)) else {
            return Err(Refusal::new(ReplyCode::ChannelError, "channel not open"));
        };
        chan.last_tag += 1;
        let delivery_tag = chan.last_tag;
        let got = Got {
            delivery_tag,
            redelivered: item.redelivered,
            message_count,
            message,
        };
        if !no_ack {
            chan.unacked.insert(
                delivery_tag,
                Unacked {
                    queue: qname,
                    consumer_tag: None,
                    item,
                },
            );
        }
        Ok(Some(got))
    }

    /// `basic.ack`: removes the delivery (or, with `multiple`, every one up to it; tag 0 with
    /// multiple means all) and serves the queues whose consumers gained room.
    pub(crate) fn ack(
        &mut self,
        conn: ConnId,
        channel: u16,
        tag: u64,
        multiple: bool,
        sink: &mut dyn Sink,
    ) -> Outcome<()> {
        let settled = self.settle(conn, channel, tag, multiple)?;
        self.finish_settle(conn, settled, None, sink);
        Ok(())
    }

    /// `basic.nack` / `basic.reject`: as ack, but the messages go back to their queues
    /// (redelivered, in their place) when `requeue`, else are dropped.
    pub(crate) fn nack(
        &mut self,
        conn: ConnId,
        channel: u16,
        tag: u64,
        multiple: bool,
        requeue: bool,
        sink: &mut dyn Sink,
    ) -> Outcome<()> {
        let settled = self.settle(conn, channel, tag, multiple)?;
        self.finish_settle(conn, settled, Some(requeue), sink);
        Ok(())
    }

    /// `basic.recover`: every unacknowledged delivery of the channel goes back to its queue
    /// (RabbitMQ requeues even when `requeue` is false).
    pub(crate) fn recover(&mut self, conn: ConnId, channel: u16, sink: &mut dyn Sink) {
        let settled: Vec<Unacked> = match self.channels.get_mut(&(conn, channel)) {
            Some(chan) => std::mem::take(&mut chan.unacked).into_values().collect(),
            None => return,
        };
        self.finish_settle(conn, settled, Some(true), sink);
    }

    fn settle(
        &mut self,
        conn: ConnId,
        channel: u16,
        tag: u64,
        multiple: bool,
    ) -> Outcome<Vec<Unacked>> {
        let Some(chan) = self.channels.get_mut(&(conn, channel)) else {
            return Err(Refusal::new(ReplyCode::ChannelError, "channel not open"));
        };
        if multiple {
            let rest = if tag == 0 {
                BTreeMap::new()
            } else {
                chan.unacked.split_off(&tag.saturating_add(1))
            };
            let settled = std::mem::replace(&mut chan.unacked, rest);
            if settled.is_empty() && tag != 0 {
                return Err(unknown_tag(tag));
            }
            return Ok(settled.into_values().collect());
        }
        match chan.unacked.remove(&tag) {
            Some(u) => Ok(vec![u]),
            None => Err(unknown_tag(tag)),
        }
    }

    fn finish_settle(
        &mut self,
        conn: ConnId,
        settled: Vec<Unacked>,
        requeue: Option<bool>,
        sink: &mut dyn Sink,
    ) {
        if settled.is_empty() {
            return;
        }
        let Some(vname) = self.vhost_name(conn) else {
            return;
        };
        let Some(v) = self.vhosts.get_mut(&vname) else {
            return;
        };
        let mut touched: Vec<ShortStr> = Vec::new();
        let mut rejected: Vec<(ShortStr, Vec<Queued>)> = Vec::new();
        let mut over_limit: Vec<(ShortStr, Vec<Queued>)> = Vec::new();
        for u in settled {
            let Some(q) = v.queues.get_mut(&u.queue) else {
                continue;
            };
            if let Some(tag) = &u.consumer_tag {
                let channel_of = q
                    .consumers
                    .iter_mut()
                    .find(|c| c.conn == conn && c.tag == *tag);
                if let Some(c) = channel_of {
                    c.unacked = c.unacked.saturating_sub(1);
                }
            }
            match requeue {
                Some(true) => {
                    if let Some(item) = q.give_back(u.item) {
                        push_for(&mut over_limit, &u.queue, item);
                    }
                }
                Some(false) => push_for(&mut rejected, &u.queue, u.item),
                None => q.store.settle(&u.item),
            }
            if !touched.contains(&u.queue) {
                touched.push(u.queue);
            }
        }
        let dead = rejected
            .into_iter()
            .map(|(q, items)| (q, items, Reason::Rejected))
            .chain(
                over_limit
                    .into_iter()
                    .map(|(q, items)| (q, items, Reason::DeliveryLimit)),
            );
        for (queue, items, reason) in dead {
            for landed in self.dead_letter(&vname, &queue, items, reason) {
                if !touched.contains(&landed) {
                    touched.push(landed);
                }
            }
        }
        self.run_queues(&vname, touched, sink);
    }

    /// The connection's output has drained: deliveries to it resume.
    pub(crate) fn output_drained(&mut self, conn: ConnId, sink: &mut dyn Sink) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !c.output_blocked {
            return;
        }
        c.output_blocked = false;
        let queues: Vec<ShortStr> = self
            .channels
            .iter()
            .filter(|((c, _), _)| *c == conn)
            .flat_map(|(_, chan)| chan.consumers.values().cloned())
            .collect();
        self.serve_queues(conn, &queues, sink);
    }
}

/// The pseudo-queue a client consumes to get replies without a queue (RabbitMQ's direct
/// reply-to), and the prefix of the addresses the broker puts in `reply_to` for it.
const REPLY_TO: &str = "amq.rabbitmq.reply-to";
const REPLY_TO_PREFIX: &str = "amq.rabbitmq.reply-to.";

/// What publishing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Published {
    /// At least one queue took the message.
    pub(crate) routed: bool,
    /// A queue refused it (full, `x-overflow reject-publish`).
    pub(crate) rejected: bool,
    /// A queue it went to is over the flow-control mark: the publisher's connection should
    /// stop reading until the broker lets it go ([`Sink::resume_reading`]).
    pub(crate) hold: bool,
}

/// Why a message left its queue for the dead-letter exchange (`x-death`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// `basic.reject` / `basic.nack` without requeue.
    Rejected,
    /// Its TTL ran out.
    Expired,
    /// The queue was over `x-max-length` or `x-max-length-bytes`.
    Maxlen,
    /// A quorum queue gave it back more often than its `x-delivery-limit`.
    DeliveryLimit,
}

impl Reason {
    fn name(self) -> &'static [u8] {
        match self {
            Reason::Rejected => b"rejected",
            Reason::Expired => b"expired",
            Reason::Maxlen => b"maxlen",
            Reason::DeliveryLimit => b"delivery_limit",
        }
    }
}

/// The message's own TTL, from its `expiration` property (milliseconds, as text); refused as
/// RabbitMQ refuses a value that is not a non-negative integer.
fn parse_expiration(properties: &BasicProperties) -> Outcome<Option<Duration>> {
    let Some(text) = &properties.expiration else {
        return Ok(None);
    };
    match std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
    {
        Some(ms) => Ok(Some(Duration::from_millis(ms))),
        None => Err(Refusal::precondition(format!(
            "invalid expiration '{}': no_integer",
            String::from_utf8_lossy(text)
        ))),
    }
}

/// The properties of a dead-lettered message, as RabbitMQ writes them: an `x-death` entry
/// for (queue, reason) first in the list (its `count` raised if the pair was there already),
/// `x-first-death-*` set once, and `expiration` moved into the entry as
/// `original-expiration`.
fn with_death(
    properties: &BasicProperties,
    queue: &ShortStr,
    reason: Reason,
    exchange: &ShortStr,
    routing_key: &ShortStr,
    unix: u64,
) -> BasicProperties {
    let mut p = properties.clone();
    let mut headers = p.headers.take().unwrap_or_default();
    let long = |s: &[u8]| FieldValue::LongStr(Bytes::copy_from_slice(s));
    let mut deaths: Vec<FieldValue> = headers
        .get("x-death")
        .and_then(FieldValue::as_array)
        .map(<[FieldValue]>::to_vec)
        .unwrap_or_default();
    let same = |d: &FieldValue| {
        d.as_table().is_some_and(|t| {
            t.get("queue")
                .and_then(FieldValue::as_bytes)
                .map(|b| b.as_ref())
                == Some(queue.as_ref())
                && t.get("reason")
                    .and_then(FieldValue::as_bytes)
                    .map(|b| b.as_ref())
                    == Some(reason.name())
        })
    };
    let entry = match deaths.iter().position(same) {
        Some(i) => {
            let mut t = deaths.remove(i).as_table().cloned().unwrap_or_default();
            let n = t.get("count").and_then(FieldValue::as_i64).unwrap_or(0);
            // The count came with the message: a publisher may have set it to i64::MAX.
            t.insert(
                ShortStr::from_static("count"),
                FieldValue::I64(n.saturating_add(1)),
            );
            t.insert(ShortStr::from_static("time"), FieldValue::Timestamp(unix));
            t
        }
        None => {
            let mut t = FieldTable::new();
            t.push(ShortStr::from_static("count"), FieldValue::I64(1));
            t.push(ShortStr::from_static("reason"), long(reason.name()));
            t.push(ShortStr::from_static("queue"), long(queue));
            t.push(ShortStr::from_static("time"), FieldValue::Timestamp(unix));
            t.push(ShortStr::from_static("exchange"), long(exchange));
            t.push(
                ShortStr::from_static("routing-keys"),
                FieldValue::Array(vec![long(routing_key)]),
            );
            if let Some(e) = &p.expiration {
                t.push(ShortStr::from_static("original-expiration"), long(e));
            }
            t
        }
    };
    deaths.insert(0, FieldValue::Table(entry));
    headers.insert(ShortStr::from_static("x-death"), FieldValue::Array(deaths));
    if headers.get("x-first-death-reason").is_none() {
        headers.insert(
            ShortStr::from_static("x-first-death-exchange"),
            long(exchange),
        );
        headers.insert(ShortStr::from_static("x-first-death-queue"), long(queue));
        headers.insert(
            ShortStr::from_static("x-first-death-reason"),
            long(reason.name()),
        );
    }
    p.expiration = None;
    p.headers = Some(headers);
    p
}

/// Adds `item` to the list of messages leaving `queue`.
fn push_for(lists: &mut Vec<(ShortStr, Vec<Queued>)>, queue: &ShortStr, item: Queued) {
    match lists.iter_mut().find(|(n, _)| n == queue) {
        Some((_, items)) => items.push(item),
        None => lists.push((queue.clone(), vec![item])),
    }
}

fn unknown_tag(tag: u64) -> Refusal {
    Refusal::precondition(format!("unknown delivery tag {tag}"))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn locked(queue: &ShortStr, vhost: &str) -> Refusal {
    Refusal::locked(format!(
        "cannot obtain exclusive access to locked queue '{queue}' in vhost '{vhost}'. It could \
         be originally declared on another connection or the exclusive property value does not \
         match that of the original declaration."
    ))
}

/// An exclusive queue answers only its own connection (405 RESOURCE_LOCKED to others).
fn check_exclusive(q: &Queue, conn: ConnId, vhost: &str) -> Outcome<()> {
    match q.exclusive {
        Some(owner) if owner != conn => Err(locked(&q.name, vhost)),
        _ => Ok(()),
    }
}

/// The queue arguments RabbitMQ compares on a redeclare, with the type it expects.
const COMPARED_ARGUMENTS: [&str; 11] = [
    "x-message-ttl",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-overflow",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-priority",
    "x-queue-type",
    "x-single-active-consumer",
    "x-delivery-limit",
];

fn check_arguments(
    received: &FieldTable,
    current: &FieldTable,
    queue: &ShortStr,
    vhost: &str,
) -> Outcome<()> {
    for key in COMPARED_ARGUMENTS {
        let (r, c) = (received.get(key), current.get(key));
        let same = match (r, c) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b || (a.as_i64().is_some() && a.as_i64() == b.as_i64()),
            // x-queue-type classic is the default whether given or not.
            (Some(a), None) | (None, Some(a)) => {
                key == "x-queue-type" && a.as_bytes().is_some_and(|v| v.as_ref() == b"classic")
            }
        };
        if !same {
            let show = |v: Option<&spindle_protocols::amqp::FieldValue>| match v {
                None => "none".to_string(),
                Some(v) => match v.as_bytes() {
                    Some(b) => String::from_utf8_lossy(b).into_owned(),
                    None => v
                        .as_i64()
                        .map_or_else(|| format!("{v:?}"), |n| n.to_string()),
                },
            };
            return Err(Refusal::precondition(format!(
                "inequivalent arg '{key}' for queue '{queue}' in vhost '{vhost}': received \
                 '{}' but current is '{}'",
                show(r),
                show(c)
            )));
        }
    }
    Ok(())
}

/// Refuses a headers binding whose `x-match` RabbitMQ refuses (the routing reads any other
/// as `all`, as RabbitMQ's does).
fn check_binding(kind: ExchangeType, arguments: &FieldTable) -> Outcome<()> {
    if kind != ExchangeType::Headers {
        return Ok(());
    }
    let Some(v) = arguments.get("x-match") else {
        return Ok(());
    };
    match v.as_bytes() {
        Some(b) if matches!(b.as_ref(), b"all" | b"any" | b"all-with-x" | b"any-with-x") => Ok(()),
        Some(b) => Err(Refusal::precondition(format!(
            "Invalid x-match field value <<\"{}\">>; expected all, any, all-with-x, or any-with-x",
            String::from_utf8_lossy(b)
        ))),
        None => Err(Refusal::precondition(format!(
            "Invalid x-match field type {v:?}; expected longstr"
        ))),
    }
}

/// Arguments only a quorum queue takes (RabbitMQ refuses them on a classic queue).
const QUORUM_ONLY_ARGUMENTS: [&str; 6] = [
    "x-delivery-limit",
    "x-dead-letter-strategy",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-quorum-initial-group-size",
    "x-queue-leader-locator",
];
/// Arguments only a classic queue takes.
const CLASSIC_ONLY_ARGUMENTS: [&str; 4] = [
    "x-max-priority",
    "x-queue-mode",
    "x-queue-version",
    "x-queue-master-locator",
];

/// Refuses a queue declaration RabbitMQ 3.10 refuses: arguments of the wrong type or value,
/// arguments the queue's type does not take, and a quorum queue that is auto-delete,
/// exclusive or not durable (in RabbitMQ's order and words).
fn validate_queue_declare(
    args: &FieldTable,
    name: &str,
    vhost: &str,
    (durable, exclusive, auto_delete): (bool, bool, bool),
    server_named: bool,
) -> Outcome<()> {
    let quorum = match args.get("x-queue-type") {
        None => false,
        Some(v) => match v.as_bytes().map(|b| b.as_ref()) {
            Some(b"classic") => false,
            Some(b"quorum") => true,
            _ => {
                let shown = v.as_bytes().map_or_else(
                    || format!("{v:?}"),
                    |b| String::from_utf8_lossy(b).into_owned(),
                );
                return Err(Refusal::precondition(format!(
                    "invalid arg 'x-queue-type' for queue '{name}' in vhost '{vhost}': \
                     \"unsupported queue type '{shown}'\""
                )));
            }
        },
    };
    if quorum && server_named {
        return Err(Refusal::precondition(
            "Cannot declare a server-named queue for type rabbit_quorum_queue",
        ));
    }
    for key in [
        "x-max-length",
        "x-max-length-bytes",
        "x-message-ttl",
        "x-expires",
    ] {
        if let Some(v) = args.get(key) {
            match v.as_i64() {
                Some(n) if n >= 0 && !(key == "x-expires" && n == 0) => {}
                _ => {
                    return Err(Refusal::precondition(format!(
                        "invalid arg '{key}' for queue '{name}' in vhost '{vhost}': {v:?}"
                    )))
                }
            }
        }
    }
    let (foreign, kind): (&[&str], &str) = match quorum {
        true => (&CLASSIC_ONLY_ARGUMENTS, "rabbit_quorum_queue"),
        false => (&QUORUM_ONLY_ARGUMENTS, "rabbit_classic_queue"),
    };
    if let Some(key) = foreign.iter().find(|k| args.get(k).is_some()) {
        return Err(Refusal::precondition(format!(
            "invalid arg '{key}' for queue '{name}' in vhost '{vhost}' of queue type {kind}"
        )));
    }
    if quorum {
        // RabbitMQ's channel makes an exclusive queue non-durable before the type's checks.
        let property = if auto_delete {
            Some("auto-delete")
        } else if exclusive {
            Some("exclusive-owner")
        } else if !durable {
            Some("non-durable")
        } else {
            None
        };
        if let Some(property) = property {
            return Err(Refusal::precondition(format!(
                "invalid property '{property}' for queue '{name}' in vhost '{vhost}'"
            )));
        }
    }
    Ok(())
}

/// Deletes a queue: its bindings go, its consumers are told with `basic.cancel` (RabbitMQ's
/// consumer cancel notification), the publishers it held back go on.
fn delete_queue(
    v: &mut Vhost,
    channels: &mut HashMap<ChanKey, Chan>,
    name: &ShortStr,
    sink: &mut dyn Sink,
) {
    let Some(mut q) = v.queues.remove(name) else {
        return;
    };
    let_publishers_go(&mut q, sink);
    for c in &q.consumers {
        if let Some(chan) = channels.get_mut(&(c.conn, c.channel)) {
            chan.consumers.remove(&c.tag);
        }
        sink.cancel(c.conn, c.channel, &c.tag);
    }
    v.unbind_everywhere(&Destination::Queue(name.clone()));
    q.store.destroy();
}

/// Lets every publisher flow control held back for `q` read again.
fn let_publishers_go(q: &mut Queue, sink: &mut dyn Sink) {
    for conn in std::mem::take(&mut q.held_publishers) {
        sink.resume_reading(conn);
    }
}

/// Hands the queue's messages to its consumers in turn while one of them can take one: its
/// channel open and not paused by `channel.flow`, under its prefetch limits, its connection
/// not holding more than [`OUTPUT_HIGH_WATER`] of output (then the sink is asked to say when
/// it drains).
fn dispatch(
    q: &mut Queue,
    channels: &mut HashMap<ChanKey, Chan>,
    conns: &mut HashMap<ConnId, Conn>,
    now: Instant,
    expired: &mut Vec<Queued>,
    sink: &mut dyn Sink,
) {
    // With a single active consumer, only the first (the oldest) is served.
    let n = if q.single_active {
        q.consumers.len().min(1)
    } else {
        q.consumers.len()
    };
    let mut idle = 0;
    while idle < n && q.store.len() > 0 {
        let i = q.next_consumer % n;
        q.next_consumer = (i + 1) % n;
        let Some(c) = q.consumers.get_mut(i) else {
            break;
        };
        let key = (c.conn, c.channel);
        let Some(conn) = conns.get_mut(&c.conn) else {
            idle += 1;
            continue;
        };
        let Some(chan) = channels.get_mut(&key) else {
            idle += 1;
            continue;
        };
        let chan_full = !c.no_ack
            && chan.channel_prefetch > 0
            && chan.unacked.len() >= usize::from(chan.channel_prefetch);
        if conn.output_blocked || chan.paused || !c.has_room() || chan_full {
            idle += 1;
            continue;
        }
        if sink.backlog(c.conn) >= OUTPUT_HIGH_WATER {
            conn.output_blocked = true;
            sink.wait_for_drain(c.conn);
            idle += 1;
            continue;
        }
        let Some(item) = q.store.pop() else {
            break;
        };
        if item.expires.is_some_and(|at| at < now) {
            expired.push(item);
            continue;
        }
        idle = 0;
        chan.last_tag += 1;
        let tag = chan.last_tag;
        q.last_delivery = now;
        let stamped = item.handed_out(q.quorum, false);
        sink.deliver(Delivery {
            conn: c.conn,
            channel: c.channel,
            frame_max: conn.frame_max,
            consumer_tag: &c.tag,
            delivery_tag: tag,
            redelivered: item.redelivered,
            message: stamped.as_ref().unwrap_or(&item.message),
        });
        if c.no_ack {
            // Acknowledged as it leaves.
            q.store.settle(&item);
        } else {
            c.unacked += 1;
            chan.unacked.insert(
                tag,
                Unacked {
                    queue: q.name.clone(),
                    consumer_tag: Some(c.tag.clone()),
                    item,
                },
            );
        }
    }
}
