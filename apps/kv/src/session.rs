//! The reactor glue, and the only file that sees the reactor: [`Session`] is the
//! per-connection [`Protocol`] (decode requests, hand them to the [`Engine`], write replies,
//! park blocked clients, hold commands during CLIENT PAUSE), [`KvFactory`] builds one per
//! connection, and [`listen`] starts it all with the active expiry cycle.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{ReplyWriter, RequestDecoder, RequestLimits};
use spindle_reactor::{
    Address, DisconnectReason, Error, Factory, ListeningPort, LoopingCall, Protocol,
    ProtocolResult, Reactor, TimerId, Transport,
};

use crate::aof::writer::{AofWriter, Fsync, Location};
use crate::aof::Replay;
use crate::busy::Busy;
use crate::client::{Client, ReplyMode};
use crate::config::Config;
use crate::engine::Engine;
use crate::error::CmdError;
use crate::propagate::Feed;
use crate::repl::Waiter;
use crate::replicas::{repl_cron, start_repl_hook, start_sync};
use crate::shared::{ClientInfo, Held, RESERVED_FDS};
use crate::while_busy::{self, Answer};

/// One client connection.
pub struct Session {
    server: Rc<RefCell<Engine>>,
    /// What a busy script shares with the sessions while it holds `server`.
    busy: Rc<Busy>,
    client: Client,
    /// The peer's address while the client is not yet known to the engine (a connection
    /// accepted while a busy script held it): registered once the engine is free.
    unregistered: Option<String>,
    /// The timer that brings an unregistered session back once the script has ended.
    register_timer: Option<TimerId>,
    decoder: RequestDecoder,
    input: BytesMut,
    output: BytesMut,
    /// While blocked (BLPOP…): the timer that fires at the timeout, or at once when another
    /// client served us.
    blocked_timer: Option<TimerId>,
    /// While in WAIT: the timer that answers at the timeout, or at once when enough replicas
    /// acknowledged (with the offset waited for).
    wait_timer: Option<(TimerId, u64)>,
    /// A command held back by CLIENT PAUSE, and the timer that releases it.
    held: Option<(Vec<Bytes>, TimerId)>,
    /// Set while the rest of the input waits for the output to drain: commands run only while
    /// the queued output is under [`OUTPUT_HIGH_WATER`], so a client that pipelines without
    /// reading holds at most one reply plus the mark in the server, and TCP holds the rest of
    /// its requests. Cleared by `resume_producing`.
    stalled: bool,
}

/// Queued output (this session's replies not yet handed over plus the transport's buffer) at
/// which the session stops running commands until it drains: the reactor's default high-water
/// mark, the point where it would pause a producer.
const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// Replies at least this large are handed to the transport as they are (`Bytes`, no copy);
/// smaller ones are copied, which keeps one reply buffer warm for the common small case.
const HAND_OVER_MIN: usize = 16 * 1024;

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("client", &self.client.id)
            .finish()
    }
}

impl Session {
    /// A session on `server` for a client at `addr`.
    pub(crate) fn new(server: Rc<RefCell<Engine>>, engine: &mut Engine, addr: String) -> Self {
        let client = engine.new_client(addr);
        let busy = engine.shared.busy.clone();
        Session::with_client(
            server,
            busy,
            client,
            engine.shared.config.proto_max_bulk_len,
            None,
        )
    }

    /// A session for a client at `addr` accepted while a busy script holds the engine: it
    /// starts from the settings the script copied, and joins the engine's clients once the
    /// script has ended.
    fn while_busy(server: Rc<RefCell<Engine>>, busy: Rc<Busy>, addr: String) -> Self {
        let snapshot = busy.snapshot();
        let client = Client::new(0, snapshot.default_open);
        Session::with_client(
            server,
            busy,
            client,
            snapshot.proto_max_bulk_len,
            Some(addr),
        )
    }

    fn with_client(
        server: Rc<RefCell<Engine>>,
        busy: Rc<Busy>,
        client: Client,
        max_bulk_len: usize,
        unregistered: Option<String>,
    ) -> Self {
        let limits = RequestLimits {
            max_bulk_len,
            ..RequestLimits::default()
        };
        let mut decoder = RequestDecoder::new(limits);
        decoder.set_authenticated(client.authenticated);
        Session {
            server,
            busy,
            client,
            unregistered,
            register_timer: None,
            decoder,
            input: BytesMut::new(),
            output: BytesMut::new(),
            blocked_timer: None,
            held: None,
            stalled: false,
            wait_timer: None,
        }
    }
}

impl Session {
    /// Makes a session accepted while the engine was busy one of the engine's clients, with
    /// what it did meanwhile (a MULTI begun, a QUIT).
    fn register(&mut self, server: &mut Engine, tx: &dyn Transport) {
        let Some(addr) = self.unregistered.take() else {
            return;
        };
        let mut client = server.new_client(addr);
        client.multi = self.client.multi.take();
        client.multi_error = self.client.multi_error;
        client.closing = self.client.closing;
        client.authenticated |= self.client.authenticated;
        self.client = client;
        self.decoder.set_authenticated(self.client.authenticated);
        self.note_connection(server, tx);
    }

    /// Records the connection in the client's CLIENT LIST entry.
    fn note_connection(&mut self, server: &mut Engine, tx: &dyn Transport) {
        self.client.conn = Some(tx.id());
        let now_ms = server.shared.unix_ms(tx.now());
        if let Some(info) = server.shared.clients.get_mut(&self.client.id) {
            info.conn = Some(tx.id());
            info.fd = tx.fd();
            info.created_ms = now_ms;
            info.last_ms = now_ms;
        }
    }

    /// While a busy script holds the engine: answers every complete command in the input as
    /// Redis answers it then (`while_busy`), until one must wait for the engine.
    fn process_busy(&mut self, tx: &mut dyn Transport) {
        while self.held.is_none() {
            let args = match self.decoder.decode(&mut self.input) {
                Ok(Some(args)) => args,
                Ok(None) => break,
                Err(e) => {
                    bad_request(&mut self.client, &mut self.output, e);
                    break;
                }
            };
            let mark = self.output.len();
            match while_busy::answer(&self.busy, &mut self.client, &args, &mut self.output) {
                Answer::Done => {}
                Answer::Later => {
                    // The script's end lets timers fire: the command runs then, and what
                    // follows it on the connection after it.
                    let timer = tx.call_later(Duration::ZERO);
                    self.held = Some((args, timer));
                    tx.pause_reading();
                    break;
                }
                Answer::Shutdown => self.busy.request_shutdown(tx.id()),
            }
            apply_reply_mode(&mut self.client, &args, &mut self.output, mark);
            if self.client.closing {
                break;
            }
        }
        if !self.output.is_empty() {
            let bytes = self.output.len() as u64;
            self.busy.count(|c| {
                c.output_bytes += bytes;
                c.writes += 1;
            });
        }
        hand_over(&mut self.output, tx);
        if self.client.closing {
            self.input.clear();
            tx.lose_connection();
        }
    }

    /// Runs every complete command in the input, writes the replies, hands messages for other
    /// connections to the reactor, and parks the client when a command blocked.
    fn process(&mut self, tx: &mut dyn Transport) {
        let now = tx.now();
        if self.unregistered.is_some() {
            let server = self.server.clone();
            if let Ok(mut engine) = server.try_borrow_mut() {
                self.register(&mut engine, tx);
            };
        }
        let Ok(mut server) = self.server.try_borrow_mut() else {
            // A script past busy-reply-threshold holds the engine and lets the loop turn.
            self.process_busy(tx);
            return;
        };
        server.shared.clock_mark = None;
        loop {
            let over = self.output.len() + tx.buffered() >= OUTPUT_HIGH_WATER;
            if over && self.held.is_none() && !self.client.closing {
                // Back-pressure: the client is not reading its replies as fast as it sends
                // requests. Stop here; what is unread stays in the socket, and
                // resume_producing runs the rest once the output has drained.
                self.stalled = true;
                tx.pause_reading();
                tx.resume_when_drained();
                break;
            }
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
                    server.execute(
                        &mut self.client,
                        &args,
                        &mut self.output,
                        now,
                        Some(&mut || tx.process_events_while_blocked()),
                    );
                    apply_reply_mode(&mut self.client, &args, &mut self.output, mark);
                    if std::mem::take(&mut self.client.reply_suppressed) {
                        self.output.truncate(mark);
                    }
                    self.decoder.set_authenticated(self.client.authenticated);
                    if let Some(request) = self.client.sync.take() {
                        // The connection is a replica's from here: what it is owed goes out
                        // before the snapshot or the backlog's bytes.
                        hand_over(&mut self.output, tx);
                        start_sync(&mut server, &self.client, request, tx);
                        continue;
                    }
                    if let Some((offset, wanted, timeout_ms)) = self.client.wait.take() {
                        // WAIT: no reply until enough replicas acknowledge or the timeout;
                        // the rest of the input waits, as for a blocked client.
                        let delay = match timeout_ms {
                            0 => Duration::from_secs(100 * 365 * 86_400),
                            ms => Duration::from_millis(ms),
                        };
                        let timer = tx.call_later(delay);
                        self.wait_timer = Some((timer, offset));
                        server.shared.repl.waiters.push(Waiter {
                            conn: tx.id(),
                            offset,
                            wanted,
                            timer: Some(timer),
                        });
                        server.shared.repl.getack = true;
                        tx.pause_reading();
                        break;
                    }
                    if let Some(block) = self.client.blocked.take() {
                        // Park: no reply now; the rest of the input waits until we are served
                        // or time out, and reading pauses meanwhile.
                        let delay = block
                            .timeout
                            .unwrap_or(Duration::from_secs(100 * 365 * 86_400));
                        let timer = tx.call_later(delay);
                        self.blocked_timer = Some(timer);
                        let conn = tx.id();
                        server.shared.waiting.park(
                            self.client.id,
                            conn,
                            self.client.resp,
                            block,
                            timer,
                        );
                        tx.pause_reading();
                        break;
                    }
                    if self.client.closing {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    bad_request(&mut self.client, &mut self.output, e);
                    break;
                }
            }
        }
        if !self.output.is_empty() {
            // Counted once made, whether written now or held for the AOF's fsync.
            let stats = &mut server.db.stats;
            stats.net_output_bytes += self.output.len() as u64;
            stats.writes_processed += 1;
        }
        if server.must_hold(tx.id()) {
            if !self.output.is_empty() {
                let replies = self.output.split().freeze();
                server.shared.held.push_back(Held {
                    conn: tx.id(),
                    replies,
                    after: u64::MAX,
                });
            }
        } else {
            hand_over(&mut self.output, tx);
        }
        let now_ms = server.shared.unix_ms(now);
        if let Some(info) = server.shared.clients.get_mut(&self.client.id) {
            refresh(info, &self.client, &self.input, now_ms);
            info.blocked =
                self.blocked_timer.is_some() || self.wait_timer.is_some() || self.held.is_some();
        }
        if !self.client.outbox.is_empty() {
            let limit = server.shared.output_class(true);
            for (conn, message) in self.client.outbox.drain(..) {
                let Some(queued) = tx.buffered_of(conn) else {
                    server.shared.forget_output(conn);
                    continue;
                };
                if server
                    .shared
                    .output_limit_reached(conn, limit, queued + message.len(), now_ms)
                {
                    log::warn!("subscriber {conn} over the pubsub output limit: closing it");
                    tx.abort_connection_of(conn);
                } else {
                    server.db.stats.net_output_bytes += message.len() as u64;
                    tx.write_bytes_to(conn, message);
                }
            }
        }
        for (_, _, timer) in std::mem::take(&mut server.shared.repl.woken) {
            if let Some(timer) = timer {
                tx.reset_timer(timer, Duration::ZERO);
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
            return;
        }
        let subscribed = self.client.subscription_count() > 0;
        let limit = server.shared.output_class(subscribed);
        let queued = tx.buffered();
        if server
            .shared
            .output_limit_reached(tx.id(), limit, queued, now_ms)
        {
            log::warn!(
                "client id={} addr={} closed for overcoming of output buffer limits ({queued} B queued)",
                self.client.id,
                tx.peer()
            );
            self.input.clear();
            tx.abort_connection();
        }
    }
}

/// A request that does not decode: like Redis, say what was wrong, then close.
fn bad_request(client: &mut Client, output: &mut BytesMut, e: impl std::fmt::Display) {
    let mut w = ReplyWriter::new(client.resp, output);
    w.error(&CmdError::err(e).text());
    client.closing = true;
}

/// Drops the reply written from `mark` on when CLIENT REPLY says so (OFF, or SKIP for the
/// command after CLIENT REPLY SKIP).
fn apply_reply_mode(client: &mut Client, args: &[Bytes], output: &mut BytesMut, mark: usize) {
    match client.reply {
        ReplyMode::On => {}
        ReplyMode::Off => output.truncate(mark),
        ReplyMode::Skip => {
            if !args
                .first()
                .is_some_and(|n| n.eq_ignore_ascii_case(b"client"))
            {
                output.truncate(mark);
                client.reply = ReplyMode::On;
            }
        }
    }
}

/// Brings what CLIENT LIST shows of `client` up to date after a batch of its commands.
fn refresh(info: &mut ClientInfo, client: &Client, input: &BytesMut, now_ms: u64) {
    info.db = client.db;
    info.sub = client.channels.len();
    info.psub = client.patterns.len();
    info.pubsub = info.sub + info.psub > 0;
    info.multi = client.multi.as_ref().map(Vec::len);
    info.monitor = client.monitor;
    info.last_ms = now_ms;
    info.last_cmd = client.last_cmd;
    info.qbuf = input.len();
    info.qbuf_free = input.capacity() - input.len();
    info.resp = client.resp;
}

/// Moves the replies written so far to the transport: a large batch as it is (no second copy
/// of a big value), a small one copied so the reply buffer is reused.
fn hand_over(output: &mut BytesMut, tx: &mut dyn Transport) {
    if output.len() >= HAND_OVER_MIN {
        tx.write_bytes(output.split().freeze());
    } else if !output.is_empty() {
        tx.write(output);
        output.clear();
    }
}

impl Protocol for Session {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.client.conn = Some(tx.id());
        let server = self.server.clone();
        match server.try_borrow_mut() {
            Ok(mut server) => self.note_connection(&mut server, tx),
            // Accepted while a busy script holds the engine: joins it once the script ends.
            Err(_) => self.register_timer = Some(tx.call_later(Duration::ZERO)),
        }
        Ok(())
    }

    fn serves_while_blocked(&self) -> bool {
        true
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.input.extend_from_slice(data);
        let limit = match self.server.try_borrow_mut() {
            Ok(mut server) => {
                let stats = &mut server.db.stats;
                stats.net_input_bytes += data.len() as u64;
                stats.reads_processed += 1;
                server.shared.config.client_query_buffer_limit
            }
            // A busy script holds the engine: its hook adds the counts to the statistics.
            Err(_) => {
                self.busy.count(|c| {
                    c.input_bytes += data.len() as u64;
                    c.reads += 1;
                });
                self.busy.snapshot().query_buffer_limit
            }
        };
        if self.input.len() as u64 > limit {
            // As Redis: a request that outgrows the query buffer limit ends the connection.
            log::warn!(
                "client id={} addr={} closed: reached max query buffer length ({} B)",
                self.client.id,
                tx.peer(),
                self.input.len()
            );
            self.input = BytesMut::new();
            tx.abort_connection();
            return Ok(());
        }
        if self.blocked_timer.is_none() && !self.stalled {
            self.process(tx);
        }
        Ok(())
    }

    fn resume_producing(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.resume_reading();
        if self.stalled {
            // Nothing else can be pending: a stall happens only between commands, with no
            // command held by CLIENT PAUSE and none blocked.
            self.stalled = false;
            self.process(tx);
        }
        Ok(())
    }

    fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        if self.register_timer == Some(id) {
            // The busy script this connection came in during has ended.
            self.register_timer = None;
            self.process(tx);
            return Ok(());
        }
        if self.held.as_ref().is_some_and(|(_, t)| *t == id) {
            // CLIENT PAUSE ended (or UNPAUSE), or the busy script a command waited for ended:
            // run the held command and what followed it.
            if let Ok(mut server) = self.server.try_borrow_mut() {
                server.shared.paused_timers.retain(|t| *t != id);
            }
            tx.resume_reading();
            self.process(tx);
            return Ok(());
        }
        if let Some((timer, offset)) = self.wait_timer {
            if timer == id {
                // WAIT ends: by the timeout or because enough replicas acknowledged.
                self.wait_timer = None;
                {
                    let mut server = self.server.borrow_mut();
                    let repl = &mut server.shared.repl;
                    repl.waiters.retain(|w| w.timer != Some(id));
                    let acked = repl.acked(offset);
                    ReplyWriter::new(self.client.resp, &mut self.output).int(acked as i64);
                }
                tx.resume_reading();
                self.process(tx);
                return Ok(());
            }
        }
        if self.blocked_timer != Some(id) {
            return Ok(());
        }
        self.blocked_timer = None;
        {
            let mut server = self.server.borrow_mut();
            let served = server.shared.waiting.unblock(self.client.id);
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

    fn connection_lost(&mut self, _reason: &DisconnectReason, tx: &mut dyn Transport) {
        let mut server = self.server.borrow_mut();
        let shared = &mut server.shared;
        shared.clients.remove(&self.client.id);
        shared.forget_output(tx.id());
        shared.unwatch(&mut self.client);
        shared.unsubscribe_all(&mut self.client);
        shared.waiting.unblock(self.client.id);
        let conn = tx.id();
        shared.repl.waiters.retain(|w| w.conn != conn);
        if let Some(snapshot) = shared.repl.snapshot.as_mut() {
            snapshot.waiting.retain(|w| w.0 != conn);
        }
        if let Some(i) = shared.repl.replicas.iter().position(|r| r.conn == conn) {
            let r = shared.repl.replicas.remove(i);
            log::info!("Connection with replica {}:{} lost.", r.ip, r.port);
        }
        if let Some((_, timer)) = self.held.take() {
            shared.paused_timers.retain(|t| *t != timer);
        }
    }
}

/// Builds a [`Session`] per connection, all sharing one [`Engine`]; past `maxclients`, a
/// connection is told so and closed instead. Connections are accepted while a busy script
/// holds the engine too, as Redis accepts them.
#[derive(Debug)]
pub struct KvFactory {
    server: Rc<RefCell<Engine>>,
    busy: Rc<Busy>,
}

impl KvFactory {
    /// A factory of sessions on `server`.
    pub fn new(server: Rc<RefCell<Engine>>) -> Self {
        let busy = server.borrow().shared.busy.clone();
        KvFactory { server, busy }
    }
}

impl Factory for KvFactory {
    fn build_protocol(&mut self, peer: &Address) -> Option<Box<dyn Protocol>> {
        let Ok(mut server) = self.server.try_borrow_mut() else {
            if !self.busy.take_room() {
                self.busy.count(|c| c.rejected_connections += 1);
                return Some(Box::new(Refused));
            }
            return Some(Box::new(Session::while_busy(
                self.server.clone(),
                self.busy.clone(),
                peer.to_string(),
            )));
        };
        if server.shared.clients.len() >= server.shared.config.maxclients {
            server.db.stats.rejected_connections += 1;
            return Some(Box::new(Refused));
        }
        Some(Box::new(Session::new(
            self.server.clone(),
            &mut server,
            peer.to_string(),
        )))
    }

    fn builds_while_blocked(&self) -> bool {
        true
    }
}

/// A connection over `maxclients`: answered as redis-server answers it, then closed.
#[derive(Debug)]
struct Refused;

impl Protocol for Refused {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(b"-ERR max number of clients reached\r\n");
        tx.lose_connection();
        Ok(())
    }

    fn data_received(&mut self, _data: &[u8], _tx: &mut dyn Transport) -> ProtocolResult {
        Ok(())
    }
}

/// Raises the descriptor limit as far as the system allows and, where it still cannot hold
/// `maxclients` connections plus the descriptors the server keeps for itself, lowers
/// `maxclients` to fit, saying so as redis-server does. Returns the limit (0 if unknown).
fn fit_maxclients(config: &mut Config) -> u64 {
    let soft = match spindle_reactor::raise_fd_limit() {
        Ok((soft, _hard)) => soft,
        Err(e) => {
            log::warn!("cannot read the open files limit: {e}");
            return 0;
        }
    };
    let wanted = config.maxclients as u64 + RESERVED_FDS;
    if soft < wanted {
        let fit = soft.saturating_sub(RESERVED_FDS).max(1);
        log::warn!(
            "You requested maxclients of {} requiring at least {wanted} max file descriptors. \
             Current maximum open files is {soft}. maxclients has been reduced to {fit} to \
             compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
            config.maxclients
        );
        if let Err(e) = config.set("maxclients", &fit.to_string()) {
            log::warn!("cannot lower maxclients: {e}");
        }
    }
    soft
}

/// Loads the dump file (`dir/dbfilename`), if there is one, into the new engine's empty
/// dataset, as redis-server does at start; a file that does not load stops the start, as it
/// stops redis-server (a half-loaded dataset would be served as if whole).
fn load_dump(engine: &mut Engine) -> Result<(), Error> {
    let config = &engine.shared.config;
    let path = crate::rdb::file::dump_path(
        config.get("dir").unwrap_or("."),
        config.get("dbfilename").unwrap_or("dump.rdb"),
    );
    let mut db = crate::db::Db::new(config.databases);
    let started = std::time::Instant::now();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    match crate::rdb::file::load(&mut db, &path, now_ms) {
        Ok(None) => Ok(()),
        Ok(Some(loaded)) => {
            engine.db = db;
            engine.install_loaded_libraries().map_err(|e| Error::Io {
                context: "loading the dump file".to_string(),
                source: std::io::Error::other(e),
            })?;
            log::info!(
                "DB loaded from disk: {} keys ({} already expired, skipped) from {} in {:.3} \
                 seconds",
                loaded.keys,
                loaded.expired,
                path.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(e) => Err(Error::Io {
            context: "loading the dump file".to_string(),
            source: std::io::Error::other(e),
        }),
    }
}

/// The AOF's location from the configuration.
fn aof_location(config: &Config) -> Location {
    Location {
        dir: std::path::Path::new(config.get("dir").unwrap_or("."))
            .join(config.get("appenddirname").unwrap_or("appendonlydir")),
        name: config
            .get("appendfilename")
            .unwrap_or("appendonly.aof")
            .to_string(),
    }
}

/// Loads the AOF if there is one (Redis with `appendonly yes` reads the AOF, not the dump
/// file), then opens it for appending — creating it, with a snapshot of what is loaded as its
/// base, if there was none — and turns the engine's AOF feed on.
fn open_aof(engine: &mut Engine, now: std::time::Instant) -> Result<AofWriter, Error> {
    let location = aof_location(&engine.shared.config);
    let fail = |context: &str, e: String| Error::Io {
        context: context.to_string(),
        source: std::io::Error::other(e),
    };
    let manifest = location
        .read_manifest()
        .map_err(|e| fail("reading the AOF manifest", e))?;
    if let Some(manifest) = &manifest {
        let started = std::time::Instant::now();
        let truncate_ok = engine.shared.config.get("aof-load-truncated") != Some("no");
        let mut client = engine.new_client("aof".to_string());
        client.authenticated = true;
        client.obey = true;
        let loaded = {
            let mut replay = EngineReplay {
                engine: &mut *engine,
                client: &mut client,
                out: BytesMut::new(),
                now,
            };
            crate::aof::load(&location, manifest, truncate_ok, &mut replay)
        };
        engine.shared.clients.remove(&client.id);
        let loaded = loaded.map_err(|e| {
            log::error!("{e}");
            fail("loading the append only file", e)
        })?;
        let keys: usize = engine.db.spaces.iter().map(|s| s.len()).sum();
        log::info!(
            "DB loaded from append only file: {keys} keys from {} files ({} commands, {} bytes) in {:.3} seconds",
            loaded.files,
            loaded.commands,
            loaded.bytes,
            started.elapsed().as_secs_f64()
        );
    }
    let now_ms = engine.shared.unix_ms(now);
    let rdb_base = crate::persist::rdb_preamble(&engine.shared.config);
    let writer = AofWriter::open(location, manifest, &engine.db, now_ms, rdb_base)
        .map_err(|e| fail("opening the append only file", e.to_string()))?;
    engine.db.propagation.aof = Some(Feed::default());
    Ok(writer)
}

/// Runs an AOF's contents on the engine as a client that is always authenticated and whose
/// replies are dropped.
struct EngineReplay<'a> {
    engine: &'a mut Engine,
    client: &'a mut Client,
    out: BytesMut,
    now: std::time::Instant,
}

impl Replay for EngineReplay<'_> {
    fn load_rdb(&mut self, bytes: &[u8]) -> Result<(), String> {
        let now_ms = self.engine.shared.unix_ms(self.now);
        crate::rdb::decode::decode_into(&mut self.engine.db, bytes, now_ms)
            .map_err(|e| e.to_string())?;
        self.engine.install_loaded_libraries()
    }

    fn apply(&mut self, argv: &[Bytes]) -> Result<(), String> {
        let name = argv.first().map_or(&[][..], |n| &n[..]);
        if crate::cmd::lookup(name).is_none() {
            return Err(format!(
                "Unknown command '{}'",
                String::from_utf8_lossy(name)
            ));
        }
        self.engine
            .execute(self.client, argv, &mut self.out, self.now, None);
        self.out.clear();
        Ok(())
    }
}

/// The AOF's end-of-turn work, before the turn's output is flushed: the turn's commands are
/// written, then under `appendfsync always` an fsync covering them is asked of the fsync
/// thread — the loop goes on with the next turns meanwhile, and the thread wakes it when the
/// fsync is done — and the replies whose writes are durable are sent: one fsync for every
/// client's writes of a turn, or of all the turns that passed while one was in flight. A
/// failed write keeps its replies waiting and makes the engine refuse writes until a later
/// turn's attempt succeeds; a failed fsync (the data it covered may be lost) closes the
/// connections whose replies waited for it, unacknowledged, and refuses writes from then on.
fn start_aof_hook(reactor: &mut Reactor, server: Rc<RefCell<Engine>>) {
    reactor.before_flush(move |r| {
        let Ok(mut engine) = server.try_borrow_mut() else {
            return;
        };
        let engine = &mut *engine;
        let policy = Fsync::parse(engine.shared.config.get("appendfsync").unwrap_or(""));
        let Some(writer) = engine.shared.persist.aof.as_mut() else {
            // The AOF is off (or was switched off): nothing waits for it.
            engine.shared.aof_always = false;
            engine.shared.aof_unsynced = false;
            while let Some(held) = engine.shared.held.pop_front() {
                r.write_bytes_to(held.conn, held.replies);
            }
            return;
        };
        writer.start_syncer(&r.handle());
        engine.shared.aof_always = policy == Fsync::Always;
        let bytes = engine
            .db
            .propagation
            .aof
            .as_mut()
            .map(|feed| feed.buf.split())
            .unwrap_or_default();
        if bytes.is_empty() && !writer.has_pending() && engine.shared.held.is_empty() {
            return;
        }
        match writer.append(&bytes, policy) {
            Ok(()) => {
                if writer.fsync_failure().is_none() {
                    engine.shared.aof_error = None;
                }
            }
            Err(_) => {
                engine.shared.aof_error = writer.error_text.clone();
                // The turn's replies wait for the write to succeed.
                return;
            }
        }
        let written = writer.written();
        for held in engine.shared.held.iter_mut().rev() {
            if held.after != u64::MAX {
                break;
            }
            held.after = written;
        }
        if let Some(failure) = writer.fsync_failure() {
            log::error!(
                "AOF fsync failed ({failure}): closing the clients whose writes it covered, \
                 refusing writes until restart"
            );
            engine.shared.aof_error = Some(failure);
            for held in engine.shared.held.drain(..) {
                r.abort_connection_of(held.conn);
            }
            return;
        }
        let synced = if policy == Fsync::Always {
            writer.synced()
        } else {
            // No longer `always` (CONFIG SET): nothing waits for the fsync thread any more.
            u64::MAX
        };
        while engine
            .shared
            .held
            .front()
            .is_some_and(|h| h.after <= synced)
        {
            if let Some(held) = engine.shared.held.pop_front() {
                r.write_bytes_to(held.conn, held.replies);
            }
        }
        engine.shared.aof_unsynced = policy == Fsync::Always && synced < written;
        // Replies wait on the fsync thread: spinning would take the core it needs.
        r.pause_busy_poll(!engine.shared.held.is_empty());
    });
}

/// What `spindle kv` does once SIGINT or SIGTERM stopped its loop, as redis-server's shutdown
/// on a signal: the AOF written and fsynced, and the dump file saved when save points are
/// configured. False when that save failed.
pub fn shutdown(server: &Rc<RefCell<Engine>>) -> bool {
    let Ok(mut engine) = server.try_borrow_mut() else {
        return false;
    };
    let engine = &mut *engine;
    log::warn!("Received SIGINT or SIGTERM scheduling shutdown...");
    let save = !crate::persist::save_points(&engine.shared.config).is_empty();
    let now_ms = engine.shared.unix_ms(std::time::Instant::now());
    let shared = &mut engine.shared;
    shared
        .persist
        .prepare_shutdown(&mut engine.db, &shared.config, save, false, now_ms)
        .is_ok()
}

/// Starts the store on `addr` in `reactor`, with its active expiry cycle, after loading the
/// dump file if there is one; returns the port and the shared server (for tests and the
/// command line).
pub fn listen(
    reactor: &mut Reactor,
    addr: SocketAddr,
    config: Config,
) -> Result<(ListeningPort, Rc<RefCell<Engine>>), Error> {
    let mut config = config;
    let fd_limit = fit_maxclients(&mut config);
    let hz = config.hz.clamp(1, 500);
    let mut engine = Engine::new(config, reactor.now());
    let aof = if engine.shared.config.get("appendonly") == Some("yes") {
        Some(open_aof(&mut engine, reactor.now())?)
    } else {
        load_dump(&mut engine)?;
        None
    };
    engine.shared.persist.aof = aof;
    engine.shared.persist.dirty_at_save = engine.db.dirty;
    let server = Rc::new(RefCell::new(engine));
    start_aof_hook(reactor, server.clone());
    server.borrow_mut().shared.fd_limit = fd_limit;
    let port = reactor.listen_tcp(addr, KvFactory::new(server.clone()))?;
    start_repl_hook(reactor, server.clone());
    let listening_port = port.socket_addr().map_or(addr.port(), |a| a.port());
    let mut tick = 0u64;
    let for_cycle = server.clone();
    LoopingCall::start(
        reactor,
        Duration::from_millis(1000 / hz as u64),
        false,
        move |r| {
            let now = r.now();
            let closing = match for_cycle.try_borrow_mut() {
                Ok(mut s) => {
                    let s = &mut *s;
                    let now_ms = s.shared.unix_ms(now);
                    s.shared.persist.cron(&mut s.db, &s.shared.config, now_ms);
                    s.db.stats.sample_rates(now_ms);
                    s.active_expire(now, Duration::from_millis(1));
                    s.clients_cron(now, |conn| r.buffered_of(conn))
                }
                Err(_) => Vec::new(),
            };
            for conn in closing {
                r.abort_connection_of(conn);
            }
            repl_cron(r, &for_cycle, listening_port, &mut tick);
        },
    );
    Ok((port, server))
}
