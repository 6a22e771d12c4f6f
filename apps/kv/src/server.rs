//! The glue between the reactor and the store: [`Session`] is the per-connection
//! [`Protocol`] (decode requests, run commands, write replies), [`Server`] the state shared by
//! every connection of the reactor, and [`listen`] starts it all, with the active expiry cycle.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{ReplyWriter, RequestDecoder, RequestLimits, Version};
use spindle_reactor::{
    Address, ConnId, DisconnectReason, Error, Factory, ListeningPort, LoopingCall, Protocol,
    ProtocolResult, Reactor, Transport,
};

use super::cmd::{self, flags, CmdError, Ctx};
use super::config::Config;
use super::db::Db;

/// A connection's state as commands see it.
#[derive(Debug)]
pub struct Client {
    /// CLIENT ID.
    pub id: u64,
    /// The selected database.
    pub db: usize,
    /// RESP2, or RESP3 after `HELLO 3`.
    pub resp: Version,
    /// CLIENT SETNAME.
    pub name: Option<String>,
    /// True once AUTH succeeded, or when no password is required.
    pub authenticated: bool,
    /// Set by QUIT: close once the reply is flushed.
    pub closing: bool,
    /// The peer, as CLIENT LIST shows it.
    pub addr: String,
    /// The reactor's id of this connection.
    pub conn: Option<ConnId>,
    /// Messages for other connections (PUBLISH), written by the session after the command.
    pub outbox: Vec<(ConnId, Bytes)>,
    /// Commands queued since MULTI; `None` outside a transaction.
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A command queued in this transaction was refused (EXEC will answer EXECABORT).
    pub multi_error: bool,
    /// WATCHed keys: database, key, and whether the key existed when watched.
    pub watched: Vec<(usize, Bytes, bool)>,
    /// Channels subscribed to.
    pub channels: std::collections::HashSet<Bytes>,
    /// Patterns subscribed to.
    pub patterns: std::collections::HashSet<Bytes>,
    /// Set by a blocking command that found nothing: the session parks the client.
    pub blocked: Option<crate::blocking::Block>,
    /// True while EXEC runs the queue (blocking commands then do not block).
    pub in_exec: bool,
    /// Connections CLIENT KILL asked to close.
    pub kill: Vec<ConnId>,
    /// CLIENT REPLY.
    pub reply: ReplyMode,
}

/// CLIENT REPLY's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent.
    On,
    /// Replies are dropped.
    Off,
    /// The next command's reply is dropped.
    Skip,
}

impl Client {
    /// Channels plus patterns subscribed to.
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}

/// A subscriber, as PUBLISH needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscriber {
    /// CLIENT ID.
    pub client: u64,
    /// Where to write.
    pub conn: ConnId,
    /// How to frame the message.
    pub resp: Version,
}

/// Server-wide state other than the data.
#[derive(Debug)]
pub struct Shared {
    /// Configuration (CONFIG GET/SET).
    pub config: Config,
    /// When the last command of the batch being processed ended (INFO commandstats timing).
    pub(crate) clock_mark: Option<Instant>,
    /// Connected clients: id → (addr, name, db).
    pub clients: std::collections::BTreeMap<u64, ClientInfo>,
    next_client_id: u64,
    base_instant: Instant,
    base_unix_ms: u64,
    /// When the server started (INFO uptime).
    pub started: Instant,
    /// Cursor of the active expiry cycle.
    expire_cursor: usize,
    /// DEBUG SET-ACTIVE-EXPIRE: whether the active expiry cycle runs.
    pub active_expire_enabled: bool,
    /// Channel → its subscribers.
    pub channels: std::collections::HashMap<Bytes, Vec<Subscriber>>,
    /// Pattern subscriptions.
    pub patterns: Vec<(Bytes, Subscriber)>,
    /// Watched (database, key) → the clients watching it.
    pub watchers: std::collections::HashMap<(usize, Bytes), Vec<u64>>,
    /// Clients whose watched keys were touched: their EXEC fails.
    pub cas_dirty: std::collections::HashSet<u64>,
    /// Clients blocked in BLPOP & co., and the keys they wait on.
    pub waiting: crate::blocking::Waiting,
    /// CLIENT PAUSE: until when (Unix ms), and whether all commands (or only writes) wait.
    pub pause: Option<(u64, bool)>,
    /// Timers of sessions holding a command because of CLIENT PAUSE (woken by UNPAUSE).
    pub paused_timers: Vec<spindle_reactor::TimerId>,
    /// Subscribers over the pubsub soft output limit, and since when (Unix ms).
    pub over_soft_limit: std::collections::HashMap<ConnId, u64>,
}

impl Shared {
    /// Marks every client watching `key` in `db` as dirty (a write touched it).
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        if self.watchers.is_empty() {
            return;
        }
        if let Some(ids) = self.watchers.get(&(db, Bytes::copy_from_slice(key))) {
            self.cas_dirty.extend(ids.iter().copied());
        }
    }

    /// Marks every client watching any key of `db` (FLUSHDB, FLUSHALL, SWAPDB).
    pub fn touch_db(&mut self, db: Option<usize>) {
        for ((d, _), ids) in &self.watchers {
            if db.is_none_or(|x| x == *d) {
                self.cas_dirty.extend(ids.iter().copied());
            }
        }
    }

    /// `client-output-buffer-limit pubsub`: true if a subscriber whose output buffer holds
    /// `buffered` bytes must be cut off rather than sent `len` more — over the hard limit, or
    /// over the soft limit for longer than allowed. A subscriber that stopped reading is thus
    /// closed instead of growing the server without bound.
    pub fn output_limit_reached(
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
    pub fn unwatch(&mut self, client: &mut Client) {
        for (db, key, _) in client.watched.drain(..) {
            if let Some(ids) = self.watchers.get_mut(&(db, key.clone())) {
                ids.retain(|id| *id != client.id);
                if ids.is_empty() {
                    self.watchers.remove(&(db, key));
                }
            }
        }
        self.cas_dirty.remove(&client.id);
    }

    /// Forgets a client's subscriptions.
    pub fn unsubscribe_all(&mut self, client: &mut Client) {
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

/// What CLIENT LIST shows of a client.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// Peer address.
    pub addr: String,
    /// Name.
    pub name: Option<String>,
    /// Selected database.
    pub db: usize,
    /// The reactor's id of its connection.
    pub conn: Option<ConnId>,
    /// Subscribed to something (CLIENT KILL TYPE pubsub).
    pub pubsub: bool,
}

impl Shared {
    /// Unix milliseconds at reactor time `now`.
    pub fn unix_ms(&self, now: Instant) -> u64 {
        self.base_unix_ms + now.saturating_duration_since(self.base_instant).as_millis() as u64
    }
}

/// The store: data plus shared state, one per reactor.
#[derive(Debug)]
pub struct Server {
    /// The data.
    pub db: Db,
    /// Everything else.
    pub shared: Shared,
}

impl Server {
    /// A server with `config`, its clock starting at `now` (the reactor's time).
    pub fn new(config: Config, now: Instant) -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Server {
            db: Db::new(config.databases),
            shared: Shared {
                config,
                clients: Default::default(),
                next_client_id: 1,
                clock_mark: None,
                base_instant: now,
                base_unix_ms: unix,
                started: now,
                expire_cursor: 0,
                active_expire_enabled: true,
                channels: Default::default(),
                patterns: Vec::new(),
                watchers: Default::default(),
                cas_dirty: Default::default(),
                waiting: Default::default(),
                pause: None,
                paused_timers: Vec::new(),
                over_soft_limit: Default::default(),
            },
        }
    }

    /// A new client's state.
    pub fn new_client(&mut self, addr: String) -> Client {
        let id = self.shared.next_client_id;
        self.shared.next_client_id += 1;
        self.db.stats.connections += 1;
        self.shared.clients.insert(
            id,
            ClientInfo {
                addr: addr.clone(),
                name: None,
                db: 0,
                conn: None,
                pubsub: false,
            },
        );
        Client {
            id,
            db: 0,
            resp: Version::Resp2,
            name: None,
            authenticated: self.shared.config.requirepass.is_none(),
            closing: false,
            addr,
            conn: None,
            outbox: Vec::new(),
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            channels: Default::default(),
            patterns: Default::default(),
            blocked: None,
            in_exec: false,
            kill: Vec::new(),
            reply: ReplyMode::On,
        }
    }

    /// Runs one command line and writes its reply into `out`: checks (known command, auth,
    /// arity, subscribe mode), MULTI queueing, EXEC, and the WATCH bookkeeping of writes.
    pub fn execute(
        &mut self,
        client: &mut Client,
        args: &[Bytes],
        out: &mut BytesMut,
        now: Instant,
    ) {
        let mut w = ReplyWriter::new(client.resp, out);
        let Some(name) = args.first() else {
            return;
        };
        let command = match self.check(client, name, args) {
            Ok(c) => c,
            Err(e) => {
                if client.multi.is_some() {
                    client.multi_error = true;
                }
                w.error(&e.text());
                return;
            }
        };
        if client.multi.is_some()
            && !matches!(
                command.name,
                "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
            )
        {
            if let Some(queue) = client.multi.as_mut() {
                queue.push(args.to_vec());
            }
            w.simple("QUEUED");
            return;
        }
        if command.name == "exec" && client.multi.is_some() {
            self.exec(client, &mut w, now);
            return;
        }
        self.run(command, client, args, &mut w, now);
    }

    /// How long a command must wait because of CLIENT PAUSE, if at all.
    pub fn pause_delay(
        &mut self,
        client: &Client,
        args: &[Bytes],
        now: Instant,
    ) -> Option<Duration> {
        let (until, all) = self.shared.pause?;
        let now_ms = self.shared.unix_ms(now);
        if now_ms >= until {
            self.shared.pause = None;
            return None;
        }
        let command = args.first().and_then(|n| cmd::lookup(n))?;
        // The pausing client may still unpause; WRITE mode holds only writes.
        if command.name == "client" || client.multi.is_some() {
            return None;
        }
        if !all && command.flags & flags::WRITE == 0 {
            return None;
        }
        Some(Duration::from_millis(until - now_ms))
    }

    /// The checks made before a command runs or is queued.
    fn check(
        &self,
        client: &Client,
        name: &[u8],
        args: &[Bytes],
    ) -> Result<&'static cmd::Command, CmdError> {
        let Some(command) = cmd::lookup(name) else {
            let mut msg = format!(
                "ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(name.get(..name.len().min(128)).unwrap_or_default())
            );
            for a in args.iter().skip(1) {
                if msg.len() >= 128 + 60 {
                    break;
                }
                msg.push_str(&format!("'{}' ", String::from_utf8_lossy(a)));
            }
            return Err(CmdError::Msg(msg));
        };
        if !client.authenticated && command.flags & flags::NO_AUTH == 0 {
            return Err(CmdError::Msg("NOAUTH Authentication required.".into()));
        }
        if !command.arity_ok(args.len()) {
            return Err(CmdError::err(format!(
                "wrong number of arguments for '{}' command",
                command.name
            )));
        }
        if client.resp == Version::Resp2
            && client.subscription_count() > 0
            && command.flags & flags::PUBSUB == 0
        {
            return Err(CmdError::err(format!(
                "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                command.name
            )));
        }
        Ok(command)
    }

    /// Runs a checked command; after a successful write, touches its keys for WATCH.
    fn run(
        &mut self,
        command: &cmd::Command,
        client: &mut Client,
        args: &[Bytes],
        w: &mut ReplyWriter<'_>,
        now: Instant,
    ) {
        let now_ms = self.shared.unix_ms(now);
        self.db.stats.commands += 1;
        let dirty_before = self.db.dirty;
        let mut ctx = Ctx {
            db: &mut self.db,
            shared: &mut self.shared,
            client,
            out: w,
            now: now_ms,
        };
        // One clock read per command: a command's time runs from the end of the one before it
        // in the same batch of input (its decoding included), or from now for the first.
        let started = ctx.shared.clock_mark.unwrap_or_else(Instant::now);
        let result = (command.handler)(&mut ctx, args);
        let ended = Instant::now();
        ctx.shared.clock_mark = Some(ended);
        let db = ctx.client.db;
        let stat = self.db.stats.per_command.entry(command.name).or_default();
        stat.calls += 1;
        stat.nsec += ended.saturating_duration_since(started).as_nanos() as u64;
        if let Err(e) = result {
            stat.failed += 1;
            w.error(&e.text());
        }
        if self.db.dirty != dirty_before {
            if !self.shared.watchers.is_empty() {
                for key in command.key_args(args) {
                    self.shared.touch(db, key);
                }
            }
            if !self.shared.waiting.is_empty() {
                for key in command.key_args(args) {
                    crate::blocking::serve(self, db, key, &mut client.outbox, now_ms);
                }
            }
        }
    }

    /// EXEC: runs the queued commands and answers with the array of their replies, unless a
    /// queued command was refused (EXECABORT) or a watched key changed (a null array).
    fn exec(&mut self, client: &mut Client, w: &mut ReplyWriter<'_>, now: Instant) {
        let queue = client.multi.take().unwrap_or_default();
        let refused = std::mem::take(&mut client.multi_error);
        let now_ms = self.shared.unix_ms(now);
        let watched_changed = self.shared.cas_dirty.contains(&client.id)
            || client
                .watched
                .iter()
                .any(|(db, key, existed)| *existed && !self.db.exists(*db, key, now_ms));
        self.shared.unwatch(client);
        if refused {
            w.error("EXECABORT Transaction discarded because of previous errors.");
            return;
        }
        if watched_changed {
            w.null_array();
            return;
        }
        w.array_len(queue.len());
        client.in_exec = true;
        for args in queue {
            let name = args.first().cloned().unwrap_or_default();
            match self.check(client, &name, &args) {
                Ok(command) => self.run(command, client, &args, w, now),
                Err(e) => w.error(&e.text()),
            }
        }
        client.in_exec = false;
    }

    /// One active expiry pass: samples keys with a TTL in every database, deleting expired
    /// ones, for at most `budget` of wall time (Redis's `activeExpireCycle`, simplified: repeat
    /// on a database while more than a quarter of the sample had expired).
    pub fn active_expire(&mut self, now: Instant, budget: Duration) -> usize {
        const SAMPLES: usize = 20;
        if !self.shared.active_expire_enabled {
            return 0;
        }
        let started = Instant::now();
        let now_ms = self.shared.unix_ms(now);
        let mut total = 0;
        for dbi in 0..self.db.spaces.len() {
            loop {
                let cursor = self.shared.expire_cursor;
                let (looked, expired) = self.db.expire_cycle(dbi, cursor, SAMPLES, now_ms);
                self.shared.expire_cursor = cursor.wrapping_add(looked.saturating_sub(expired));
                total += expired;
                if looked == 0 || expired * 4 <= looked || started.elapsed() >= budget {
                    break;
                }
            }
            if started.elapsed() >= budget {
                break;
            }
        }
        total
    }
}

/// One client connection.
pub struct Session {
    server: Rc<RefCell<Server>>,
    client: Client,
    decoder: RequestDecoder,
    input: BytesMut,
    output: BytesMut,
    /// While blocked (BLPOP…): the timer that fires at the timeout, or at once when another
    /// client served us.
    blocked_timer: Option<spindle_reactor::TimerId>,
    /// A command held back by CLIENT PAUSE, and the timer that releases it.
    held: Option<(Vec<Bytes>, spindle_reactor::TimerId)>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("client", &self.client.id)
            .finish()
    }
}

impl Session {
    /// A session on `server` for a client at `addr`.
    pub fn new(server: Rc<RefCell<Server>>, addr: String) -> Self {
        let (client, limits) = {
            let mut s = server.borrow_mut();
            let client = s.new_client(addr);
            let limits = RequestLimits {
                max_bulk_len: s.shared.config.proto_max_bulk_len,
                ..RequestLimits::default()
            };
            (client, limits)
        };
        let mut decoder = RequestDecoder::new(limits);
        decoder.set_authenticated(client.authenticated);
        Session {
            server,
            client,
            decoder,
            input: BytesMut::new(),
            output: BytesMut::new(),
            blocked_timer: None,
            held: None,
        }
    }
}

impl Session {
    /// Runs every complete command in the input, writes the replies, hands messages for other
    /// connections to the reactor, and parks the client when a command blocked.
    fn process(&mut self, tx: &mut dyn Transport) {
        let now = tx.now();
        let mut server = self.server.borrow_mut();
        server.shared.clock_mark = None;
        loop {
            let next = match self.held.take() {
                Some((args, _)) => Ok(Some(args)),
                None => self.decoder.decode(&mut self.input),
            };
            match next {
                Ok(Some(args)) => {
                    if let Some(wait) = server.pause_delay(&self.client, &args, now) {
                        // CLIENT PAUSE: hold this command until the pause ends (or UNPAUSE).
                        let timer = tx.call_later(wait);
                        server.shared.paused_timers.push(timer);
                        self.held = Some((args, timer));
                        tx.pause_reading();
                        break;
                    }
                    let mark = self.output.len();
                    server.execute(&mut self.client, &args, &mut self.output, now);
                    match self.client.reply {
                        ReplyMode::On => {}
                        ReplyMode::Off => self.output.truncate(mark),
                        ReplyMode::Skip => {
                            if !args
                                .first()
                                .is_some_and(|n| n.eq_ignore_ascii_case(b"client"))
                            {
                                self.output.truncate(mark);
                                self.client.reply = ReplyMode::On;
                            }
                        }
                    }
                    self.decoder.set_authenticated(self.client.authenticated);
                    if let Some(block) = self.client.blocked.take() {
                        // Park: no reply now; the rest of the input waits until we are served
                        // or time out, and reading pauses meanwhile.
                        let delay = block
                            .timeout
                            .unwrap_or(Duration::from_secs(100 * 365 * 86_400));
                        let timer = tx.call_later(delay);
                        self.blocked_timer = Some(timer);
                        let conn = tx.id();
                        crate::blocking::park(&mut server.shared, &self.client, conn, block, timer);
                        tx.pause_reading();
                        break;
                    }
                    if self.client.closing {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // Like Redis: say what was wrong, then close.
                    let mut w = ReplyWriter::new(self.client.resp, &mut self.output);
                    w.error(&CmdError::err(e).text());
                    self.client.closing = true;
                    break;
                }
            }
        }
        if !self.output.is_empty() {
            tx.write(&self.output);
            self.output.clear();
        }
        if !self.client.outbox.is_empty() {
            let now_ms = server.shared.unix_ms(now);
            for (conn, message) in self.client.outbox.drain(..) {
                if server.shared.output_limit_reached(
                    conn,
                    tx.buffered_of(conn),
                    message.len(),
                    now_ms,
                ) {
                    log::warn!("subscriber {conn} over the pubsub output limit: closing it");
                    tx.abort_connection_of(conn);
                } else {
                    tx.write_bytes_to(conn, message);
                }
            }
        }
        for timer in server.shared.waiting.take_woken() {
            // Served clients continue at once, on their own protocol's timer.
            tx.reset_timer(timer, Duration::ZERO);
        }
        for conn in self.client.kill.drain(..) {
            tx.lose_connection_of(conn);
        }
        if self.client.closing {
            self.input.clear();
            tx.lose_connection();
        }
    }
}

impl Protocol for Session {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.client.conn = Some(tx.id());
        if let Some(info) = self
            .server
            .borrow_mut()
            .shared
            .clients
            .get_mut(&self.client.id)
        {
            info.conn = Some(tx.id());
        }
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.input.extend_from_slice(data);
        if self.blocked_timer.is_none() {
            self.process(tx);
        }
        Ok(())
    }

    fn timer_fired(
        &mut self,
        id: spindle_reactor::TimerId,
        tx: &mut dyn Transport,
    ) -> ProtocolResult {
        if self.held.as_ref().is_some_and(|(_, t)| *t == id) {
            // CLIENT PAUSE ended (or UNPAUSE): run the held command and what followed it.
            self.server
                .borrow_mut()
                .shared
                .paused_timers
                .retain(|t| *t != id);
            tx.resume_reading();
            self.process(tx);
            return Ok(());
        }
        if self.blocked_timer != Some(id) {
            return Ok(());
        }
        self.blocked_timer = None;
        {
            let mut server = self.server.borrow_mut();
            let served = crate::blocking::unblock(&mut server.shared, self.client.id);
            if !served {
                // Timed out: the null reply of a blocking pop.
                let mut w = ReplyWriter::new(self.client.resp, &mut self.output);
                w.null_array();
            }
        }
        tx.resume_reading();
        self.process(tx);
        Ok(())
    }

    fn connection_lost(&mut self, _reason: &DisconnectReason, _tx: &mut dyn Transport) {
        let mut server = self.server.borrow_mut();
        let shared = &mut server.shared;
        shared.clients.remove(&self.client.id);
        shared.unwatch(&mut self.client);
        shared.unsubscribe_all(&mut self.client);
        crate::blocking::unblock(shared, self.client.id);
        if let Some((_, timer)) = self.held.take() {
            shared.paused_timers.retain(|t| *t != timer);
        }
    }
}

/// Builds a [`Session`] per connection, all sharing one [`Server`].
#[derive(Debug)]
pub struct KvFactory(pub Rc<RefCell<Server>>);

impl Factory for KvFactory {
    fn build_protocol(&mut self, peer: &Address) -> Option<Box<dyn Protocol>> {
        Some(Box::new(Session::new(self.0.clone(), peer.to_string())))
    }
}

/// Starts the store on `addr` in `reactor`, with its active expiry cycle; returns the port
/// and the shared server (for tests and the command line).
pub fn listen(
    reactor: &mut Reactor,
    addr: SocketAddr,
    config: Config,
) -> Result<(ListeningPort, Rc<RefCell<Server>>), Error> {
    let hz = config.hz.clamp(1, 500);
    let server = Rc::new(RefCell::new(Server::new(config, reactor.now())));
    let port = reactor.listen_tcp(addr, KvFactory(server.clone()))?;
    let for_cycle = server.clone();
    LoopingCall::start(
        reactor,
        Duration::from_millis(1000 / hz as u64),
        false,
        move |r| {
            let now = r.now();
            if let Ok(mut s) = for_cycle.try_borrow_mut() {
                s.active_expire(now, Duration::from_millis(1));
            }
        },
    );
    Ok((port, server))
}
