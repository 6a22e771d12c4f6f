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
use crate::config::{Config, OutputLimit};
use crate::keyspace::Keyspace;
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

/// What CLIENT LIST shows of a client, and what the limits on clients' memory look at. The
/// session refreshes it after each batch of commands it runs; the output queued for the
/// client is not here but asked of the reactor when needed (it drains on its own).
#[derive(Debug, Clone)]
pub(crate) struct ClientInfo {
    pub(crate) addr: String,
    pub(crate) name: Option<String>,
    /// Selected database.
    pub(crate) db: usize,
    /// The reactor's id of its connection.
    pub(crate) conn: Option<ConnId>,
    /// Its socket's descriptor (`fd=`), once connected.
    pub(crate) fd: Option<i32>,
    /// Subscribed to something (CLIENT KILL TYPE pubsub; the pubsub output-limit class).
    pub(crate) pubsub: bool,
    /// Channels and patterns subscribed to (`sub=`, `psub=`).
    pub(crate) sub: usize,
    pub(crate) psub: usize,
    /// Commands queued in MULTI (`multi=`), `None` outside a transaction.
    pub(crate) multi: Option<usize>,
    /// Parked in a blocking command, a WAIT or behind CLIENT PAUSE (`flags=b`).
    pub(crate) blocked: bool,
    /// In MONITOR mode (`flags=O`).
    pub(crate) monitor: bool,
    /// Unix ms when the connection was made (`age=`) and of its last command (`idle=`).
    pub(crate) created_ms: u64,
    pub(crate) last_ms: u64,
    /// The last command it ran (`cmd=`).
    pub(crate) last_cmd: &'static str,
    /// Bytes received and not yet run (`qbuf=`), and the input buffer's spare room
    /// (`qbuf-free=`).
    pub(crate) qbuf: usize,
    pub(crate) qbuf_free: usize,
    /// CLIENT NO-EVICT: never evicted by `maxmemory-clients`.
    pub(crate) no_evict: bool,
    /// RESP2 or RESP3 (`resp=`).
    pub(crate) resp: Version,
    /// Output queued for it, as of the last refresh (`omem=`): after its own last batch,
    /// and every cycle of the clients cron.
    pub(crate) omem: usize,
    /// The user it is logged in as (`user=`; ACL DELUSER disconnects a user's clients).
    pub(crate) user: Vec<u8>,
}

/// What a connection costs besides its buffers (the session, its decoder and client state),
/// counted in `tot-mem` and by `maxmemory-clients`.
pub(crate) const CLIENT_OVERHEAD: usize = 1024;

impl ClientInfo {
    /// The memory the client holds (`tot-mem`): its input buffer, its queued output and the
    /// fixed cost of a connection.
    pub(crate) fn memory(&self) -> usize {
        self.qbuf + self.qbuf_free + self.omem + CLIENT_OVERHEAD
    }
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
    /// This run's random id, 40 hex digits (INFO's `run_id`).
    pub(crate) run_id: String,
    /// `used_memory` once the server was set up, before any client (`used_memory_startup`).
    pub(crate) startup_memory: usize,
    /// Cursor of the active expiry cycle.
    pub(crate) expire_cursor: usize,
    /// DEBUG SET-ACTIVE-EXPIRE: whether the active expiry cycle runs.
    pub(crate) active_expire_enabled: bool,
    /// DEBUG QUICKLIST-PACKED-THRESHOLD, as set (Redis's default 1 GB): lists here keep no
    /// plain/packed node distinction for it to switch, so it is only checked and kept.
    pub(crate) quicklist_packed_threshold: u64,
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
    /// Connections over their class's soft output limit, and since when (Unix ms).
    over_soft_limit: HashMap<ConnId, u64>,
    /// The process's descriptor limit once raised at start (0: unknown, no check).
    pub(crate) fd_limit: u64,
    /// Background saves and rewrites, save points, the open AOF (LASTSAVE, INFO persistence).
    pub(crate) persist: crate::persist::Persist,
    /// The scripting state (Lua interpreters, EVAL's cache, FUNCTION's libraries), owned by
    /// `cmd/scripting`, which is above this file and so keeps it here as `dyn Any`.
    pub(crate) scripting: Option<Box<dyn std::any::Any>>,
    /// ACL users and the ACL log.
    pub(crate) acl: crate::acl::Acl,
    /// A script running past `busy-reply-threshold`, as the sessions see it while it holds
    /// the engine (each session keeps a clone of the `Rc`).
    pub(crate) busy: std::rc::Rc<crate::busy::Busy>,
    /// `appendfsync always` with the AOF on: replies to writes wait for the fsync covering
    /// them.
    pub(crate) aof_always: bool,
    /// Bytes are written to the AOF but not yet known durable (`always`).
    pub(crate) aof_unsynced: bool,
    /// Replies held until the AOF bytes they depend on are durable, in the order they were
    /// made (released by the AOF's end-of-turn hook).
    pub(crate) held: std::collections::VecDeque<Held>,
    /// The AOF's last write error, while it lasts: writes are refused with MISCONF.
    pub(crate) aof_error: Option<String>,
    /// Replication: role, id and offset, backlog, replicas, the master followed.
    pub(crate) repl: crate::repl::Repl,
    /// MONITOR clients, the slow log, latency events, shard channels.
    pub(crate) intro: Introspection,
}

/// What the introspection commands keep: MONITOR's clients, SLOWLOG's entries, LATENCY's
/// events and per-command histograms, and the shard channels of SSUBSCRIBE.
#[derive(Debug, Default)]
pub(crate) struct Introspection {
    /// Clients in MONITOR mode, fed every command run by others.
    pub(crate) monitors: Vec<Subscriber>,
    /// The slow log, newest first, at most `slowlog-max-len` entries.
    pub(crate) slowlog: std::collections::VecDeque<SlowEntry>,
    /// The id the next slow-log entry gets.
    pub(crate) slowlog_next_id: u64,
    /// Latency events by name: (time in s, ms) samples, oldest first, and the worst seen.
    pub(crate) latency: BTreeMap<&'static str, LatencyEvent>,
    /// Per-command latency histograms (INFO latencystats, LATENCY HISTOGRAM), by the name
    /// Redis reports (`config|get` for a subcommand).
    pub(crate) histograms: BTreeMap<String, crate::hdr::Histogram>,
    /// Shard channels and their subscribers (SSUBSCRIBE).
    pub(crate) shard_channels: HashMap<Bytes, Vec<Subscriber>>,
    /// CLIENT TRACKING: tracking clients and the keys they read.
    pub(crate) tracking: crate::tracking::Tracking,
    /// `slowlog-log-slower-than`, `slowlog-max-len`, `latency-monitor-threshold` and
    /// `latency-tracking` (1 or 0) as read from the configuration after the last CONFIG
    /// command: every command consults them, and parsing them each time would cost more
    /// than the bookkeeping itself.
    pub(crate) settings: Option<[i64; 4]>,
}

/// One slow-log entry, its arguments already trimmed as Redis trims them.
#[derive(Debug, Clone)]
pub(crate) struct SlowEntry {
    /// Entry id, from 0.
    pub(crate) id: u64,
    /// Unix time in seconds.
    pub(crate) time: u64,
    /// Duration in microseconds.
    pub(crate) micros: u64,
    /// The command's arguments (at most 32, each at most 128 bytes plus a note).
    pub(crate) args: Vec<Bytes>,
    /// `ip:port` of the client.
    pub(crate) peer: String,
    /// The client's name, empty if none.
    pub(crate) name: String,
}

/// One latency event's history (LATENCY LATEST/HISTORY).
#[derive(Debug, Clone, Default)]
pub(crate) struct LatencyEvent {
    /// (Unix time in s, latency in ms), oldest first, at most 160, one per second.
    pub(crate) samples: std::collections::VecDeque<(u64, u64)>,
    /// The worst latency seen, in ms.
    pub(crate) max: u64,
}

/// Replies waiting for the AOF.
#[derive(Debug)]
pub(crate) struct Held {
    /// Whose replies.
    pub(crate) conn: ConnId,
    /// The replies, as they would have been written.
    pub(crate) replies: Bytes,
    /// The AOF position they wait for (`u64::MAX` until the end of the turn that made them
    /// says how far its writes reach).
    pub(crate) after: u64,
}

/// Descriptors kept back from clients for listeners, logs and files (Redis's
/// `CONFIG_MIN_RESERVED_FDS`).
pub(crate) const RESERVED_FDS: u64 = 32;

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
            persist: crate::persist::Persist::new(unix_ms / 1000),
            started: now,
            run_id: crate::repl::new_replid(),
            startup_memory: crate::alloc::used(),
            expire_cursor: 0,
            active_expire_enabled: true,
            quicklist_packed_threshold: 1 << 30,
            channels: HashMap::new(),
            patterns: Vec::new(),
            watches: Watches::default(),
            waiting: Waiting::default(),
            pause: None,
            paused_timers: Vec::new(),
            over_soft_limit: HashMap::new(),
            fd_limit: 0,
            scripting: None,
            acl: crate::acl::Acl::new(),
            busy: std::rc::Rc::default(),
            aof_always: false,
            aof_unsynced: false,
            held: std::collections::VecDeque::new(),
            aof_error: None,
            repl: crate::repl::Repl::new(),
            intro: Introspection::default(),
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
                fd: None,
                pubsub: false,
                sub: 0,
                psub: 0,
                multi: None,
                blocked: false,
                monitor: false,
                created_ms: 0,
                last_ms: 0,
                last_cmd: "NULL",
                user: b"default".to_vec(),
                qbuf: 0,
                qbuf_free: 0,
                no_evict: false,
                resp: Version::Resp2,
                omem: 0,
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

    /// Marks the clients whose watched key in `db` changes when `emptied`, its keys, are
    /// emptied (FLUSHDB, FLUSHALL) or replaced by `replaced_with`'s (SWAPDB); called before.
    pub(crate) fn touch_db(
        &mut self,
        db: usize,
        emptied: &Keyspace,
        replaced_with: Option<&Keyspace>,
        now: u64,
    ) {
        self.watches.touch_db(db, emptied, replaced_with, now);
    }

    /// Whether connection `conn`, holding `total` bytes of output (queued plus about to be
    /// queued), must be closed under `limit`: over the hard limit, or over the soft limit for
    /// longer than allowed (the time it first went over is remembered per connection).
    pub(crate) fn output_limit_reached(
        &mut self,
        conn: ConnId,
        limit: OutputLimit,
        total: usize,
        now_ms: u64,
    ) -> bool {
        let total = total as u64;
        if limit.hard > 0 && total > limit.hard {
            self.forget_output(conn);
            return true;
        }
        if limit.soft > 0 && total > limit.soft {
            let since = *self.over_soft_limit.entry(conn).or_insert(now_ms);
            if now_ms.saturating_sub(since) >= limit.soft_seconds * 1000 {
                self.forget_output(conn);
                return true;
            }
        } else {
            self.forget_output(conn);
        }
        false
    }

    /// The output-limit class of a client: pub/sub once it subscribed, normal otherwise
    /// (Redis's `getClientType`).
    pub(crate) fn output_class(&self, subscribed: bool) -> OutputLimit {
        let limits = &self.config.client_output_buffer_limit;
        if subscribed {
            limits.pubsub
        } else {
            limits.normal
        }
    }

    /// The most clients the descriptor limit leaves room for (unbounded when it is unknown).
    pub(crate) fn clients_the_fds_allow(&self) -> usize {
        match self.fd_limit {
            0 => usize::MAX,
            n => n.saturating_sub(RESERVED_FDS).max(1) as usize,
        }
    }

    /// Forgets a closed connection's soft-limit clock.
    pub(crate) fn forget_output(&mut self, conn: ConnId) {
        // Checked first: this runs for every reply, and the map is nearly always empty, where
        // `remove` would still hash the key.
        if !self.over_soft_limit.is_empty() {
            self.over_soft_limit.remove(&conn);
        }
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
        for ch in client.shard_channels.drain() {
            if let Some(subs) = self.intro.shard_channels.get_mut(&ch) {
                subs.retain(|s| s.client != client.id);
                if subs.is_empty() {
                    self.intro.shard_channels.remove(&ch);
                }
            }
        }
        self.intro.monitors.retain(|m| m.client != client.id);
        client.monitor = false;
        self.intro.tracking.forget(client.id);
    }
}
