//! [`Shared`]: the server-wide state other than the data — configuration, the clients list,
//! pub/sub subscriptions, WATCH's registry, blocked clients, CLIENT PAUSE — that commands read
//! and change through their context. IO-free.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use bytes::Bytes;
use spindle_protocols::resp::Version;
use spindle_reactor::{ConnId, TimerId};

use crate::blocked::Waiting;
use crate::client::Client;
use crate::config::Config;
use crate::watches::Watches;

/// A subscriber, as PUBLISH needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subscriber {
    /// CLIENT ID.
    pub(crate) client: u64,
    /// Where to write.
    pub(crate) conn: ConnId,
    /// How to frame the message.
    pub(crate) resp: Version,
}

/// What CLIENT LIST shows of a client.
#[derive(Debug, Clone)]
pub(crate) struct ClientInfo {
    pub(crate) addr: String,
    pub(crate) name: Option<String>,
    /// Selected database.
    pub(crate) db: usize,
    /// The reactor's id of its connection.
    pub(crate) conn: Option<ConnId>,
    /// Subscribed to something (CLIENT KILL TYPE pubsub).
    pub(crate) pubsub: bool,
}

/// Server-wide state other than the data.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Configuration (CONFIG GET/SET).
    pub(crate) config: Config,
    /// When the last command of the batch being processed ended (INFO commandstats timing).
    pub(crate) clock_mark: Option<Instant>,
    /// Connected clients, by CLIENT ID.
    pub(crate) clients: BTreeMap<u64, ClientInfo>,
    next_client_id: u64,
    base_instant: Instant,
    base_unix_ms: u64,
    /// When the server started (INFO uptime).
    pub(crate) started: Instant,
    /// Cursor of the active expiry cycle.
    pub(crate) expire_cursor: usize,
    /// DEBUG SET-ACTIVE-EXPIRE: whether the active expiry cycle runs.
    pub(crate) active_expire_enabled: bool,
    /// Channel → its subscribers.
    pub(crate) channels: HashMap<Bytes, Vec<Subscriber>>,
    /// Pattern subscriptions.
    pub(crate) patterns: Vec<(Bytes, Subscriber)>,
    /// WATCHed keys and the clients whose EXEC must fail.
    pub(crate) watches: Watches,
    /// Clients blocked in BLPOP & co., and the keys they wait on.
    pub(crate) waiting: Waiting,
    /// CLIENT PAUSE: until when (Unix ms), and whether all commands (or only writes) wait.
    pub(crate) pause: Option<(u64, bool)>,
    /// Timers of sessions holding a command because of CLIENT PAUSE (woken by UNPAUSE).
    pub(crate) paused_timers: Vec<TimerId>,
    /// Subscribers over the pubsub soft output limit, and since when (Unix ms).
    over_soft_limit: HashMap<ConnId, u64>,
}

impl Shared {
    /// The state of a server configured by `config`, its clock starting at `now` (reactor
    /// time) which is `unix_ms` in Unix milliseconds.
    pub(crate) fn new(config: Config, now: Instant, unix_ms: u64) -> Self {
        Shared {
            config,
            clock_mark: None,
            clients: BTreeMap::new(),
            next_client_id: 1,
            base_instant: now,
            base_unix_ms: unix_ms,
            started: now,
            expire_cursor: 0,
            active_expire_enabled: true,
            channels: HashMap::new(),
            patterns: Vec::new(),
            watches: Watches::default(),
            waiting: Waiting::default(),
            pause: None,
            paused_timers: Vec::new(),
            over_soft_limit: HashMap::new(),
        }
    }

    /// Registers a new client connected from `addr`.
    pub(crate) fn new_client(&mut self, addr: String) -> Client {
        let id = self.next_client_id;
        self.next_client_id += 1;
        self.clients.insert(
            id,
            ClientInfo {
                addr,
                name: None,
                db: 0,
                conn: None,
                pubsub: false,
            },
        );
        Client::new(id, self.config.requirepass.is_none())
    }

    /// Unix milliseconds at reactor time `now`.
    pub(crate) fn unix_ms(&self, now: Instant) -> u64 {
        self.base_unix_ms + now.saturating_duration_since(self.base_instant).as_millis() as u64
    }

    /// Marks every client watching `key` in `db` as dirty (a write touched it).
    pub(crate) fn touch(&mut self, db: usize, key: &[u8]) {
        self.watches.touch(db, key);
    }

    /// Marks every client watching any key of `db` (FLUSHDB, FLUSHALL, SWAPDB).
    pub(crate) fn touch_db(&mut self, db: Option<usize>) {
        self.watches.touch_db(db);
    }

    /// `client-output-buffer-limit pubsub`: true if a subscriber whose output buffer holds
    /// `buffered` bytes must be cut off rather than sent `len` more — over the hard limit, or
    /// over the soft limit for longer than allowed. A subscriber that stopped reading is thus
    /// closed instead of growing the server without bound.
    pub(crate) fn output_limit_reached(
        &mut self,
        conn: ConnId,
        buffered: Option<usize>,
        len: usize,
        now_ms: u64,
    ) -> bool {
        let Some(buffered) = buffered else {
            self.over_soft_limit.remove(&conn);
            return false;
        };
        let total = buffered + len;
        let c = &self.config;
        if c.pubsub_hard_limit > 0 && total > c.pubsub_hard_limit {
            self.over_soft_limit.remove(&conn);
            return true;
        }
        if c.pubsub_soft_limit > 0 && total > c.pubsub_soft_limit {
            let since = *self.over_soft_limit.entry(conn).or_insert(now_ms);
            if now_ms.saturating_sub(since) >= c.pubsub_soft_seconds * 1000 {
                self.over_soft_limit.remove(&conn);
                return true;
            }
        } else {
            self.over_soft_limit.remove(&conn);
        }
        false
    }

    /// Forgets a client's watches.
    pub(crate) fn unwatch(&mut self, client: &mut Client) {
        self.watches.forget(
            client.id,
            client.watched.drain(..).map(|(db, key, _)| (db, key)),
        );
    }

    /// Forgets a client's subscriptions.
    pub(crate) fn unsubscribe_all(&mut self, client: &mut Client) {
        for ch in client.channels.drain() {
            if let Some(subs) = self.channels.get_mut(&ch) {
                subs.retain(|s| s.client != client.id);
                if subs.is_empty() {
                    self.channels.remove(&ch);
                }
            }
        }
        client.patterns.clear();
        self.patterns.retain(|(_, s)| s.client != client.id);
    }
}
