//! The engine: the store's domain, free of IO. [`Engine`] owns the data (`Db`) and the
//! server-wide state (`Shared`) and runs command lines for a [`Client`]: the checks
//! before a command (known, authenticated, arity, subscribe mode, transaction rules), MULTI
//! queueing, EXEC, and after a write the WATCH bookkeeping and serving of blocked clients. The
//! reactor glue that feeds it bytes is [`session`](crate::session).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::ReplyWriter;
use spindle_reactor::ConnId;

use crate::acl;
use crate::blocked;
use crate::client::Client;
use crate::cmd::{self, flags, Command, Ctx};
use crate::config::Config;
use crate::db::{Db, Stats};
use crate::error::CmdError;
use crate::evict::{self, Outcome};
use crate::shared::{ClientInfo, Shared};

/// The store: data plus shared state, one per reactor.
#[derive(Debug)]
pub struct Engine {
    pub(crate) db: Db,
    /// Server-wide state other than the data.
    pub(crate) shared: Shared,
}

impl Engine {
    /// A server with `config`, its clock starting at `now` (the reactor's time).
    pub fn new(config: Config, now: Instant) -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut engine = Engine {
            db: Db::new(config.databases),
            shared: Shared::new(config, now, unix),
        };
        let aclfile = engine
            .shared
            .config
            .get("aclfile")
            .unwrap_or_default()
            .to_string();
        if !aclfile.is_empty() {
            if let Err(e) = cmd::acl::load_file(&mut engine.shared, &aclfile) {
                log::error!("ACL errors in {aclfile}, no users loaded from it: {e}");
            }
        }
        engine
    }

    /// Compiles the FUNCTION libraries a loaded dump file put in `db.libraries`, replacing
    /// the ones loaded before, as Redis does after emptying the data for a load (start, a
    /// replica's full resync, an AOF's RDB base): a library that does not load fails the load.
    pub(crate) fn install_loaded_libraries(&mut self) -> Result<(), String> {
        cmd::scripting::install_libraries(
            &mut self.shared,
            &mut self.db,
            cmd::commands(),
            cmd::scripting::Restore::Flush,
        )
        .map_err(|e| format!("Failed loading library, {e}"))
    }

    /// A new client's state, for a connection from `addr`.
    pub fn new_client(&mut self, addr: String) -> Client {
        self.db.stats.connections += 1;
        let requirepass = self.shared.config.requirepass.clone();
        self.shared.acl.sync_requirepass(requirepass.as_deref());
        let mut client = self.shared.new_client(addr);
        client.authenticated = self.shared.acl.default_open();
        client
    }

    /// Runs one command line and writes its reply into `out`: checks (known command, auth,
    /// arity, subscribe mode), MULTI queueing, EXEC, and the WATCH bookkeeping of writes.
    /// `events`, when given, lets the event loop serve other connections while a script runs
    /// past `busy-reply-threshold` (the script's hook calls it now and then).
    pub fn execute(
        &mut self,
        client: &mut Client,
        args: &[Bytes],
        out: &mut BytesMut,
        now: Instant,
        events: Option<&mut dyn FnMut()>,
    ) {
        self.db.propagation.begin_unit();
        self.execute_unit(client, args, out, now, events);
        self.db.propagation.end_unit();
    }

    /// [`execute`](Self::execute) inside its propagation unit.
    fn execute_unit(
        &mut self,
        client: &mut Client,
        args: &[Bytes],
        out: &mut BytesMut,
        now: Instant,
        events: Option<&mut dyn FnMut()>,
    ) {
        let mut w = ReplyWriter::new(client.resp, out);
        let Some(name) = args.first() else {
            return;
        };
        let command = match self.check(client, args) {
            Ok(c) => c,
            Err(e) => {
                self.count_rejected(args);
                if name.eq_ignore_ascii_case(b"exec") {
                    // As Redis's rejectCommand: a refused EXEC, in MULTI or not, answers
                    // through execCommandAbort, which discards any transaction.
                    client.multi = None;
                    client.multi_error = false;
                    self.shared.unwatch(client);
                    let text = format!("EXECABORT Transaction discarded because of: {}", e.text());
                    error_reply(&mut self.db.stats, client, &mut w, &text);
                    return;
                }
                if client.multi.is_some() {
                    client.multi_error = true;
                }
                error_reply(&mut self.db.stats, client, &mut w, &e.text());
                return;
            }
        };
        if let Err(e) = self.make_room(client, command, now) {
            self.count_rejected(args);
            if command.name == "exec" && client.multi.take().is_some() {
                // As Redis's execCommandAbort: the transaction goes with the refusal.
                client.multi_error = false;
                self.shared.unwatch(client);
                let text = format!("EXECABORT Transaction discarded because of: {}", e.text());
                error_reply(&mut self.db.stats, client, &mut w, &text);
                return;
            }
            if client.multi.is_some() {
                client.multi_error = true;
            }
            error_reply(&mut self.db.stats, client, &mut w, &e.text());
            return;
        }
        if client.multi.is_some() && command.flags & flags::RUNS_IN_MULTI == 0 {
            if let Some(queue) = client.multi.as_mut() {
                queue.push(args.to_vec());
            }
            w.simple("QUEUED");
            return;
        }
        if command.name == "exec" && client.multi.is_some() {
            // Counted as Redis's call() counts it: one command, failed when it answers with an
            // error itself (EXECABORT), not for its commands' errors.
            let started = Instant::now();
            let failed = self.exec(client, &mut w, now, events);
            let stats = &mut self.db.stats;
            stats.commands += 1;
            let nanos = started.elapsed().as_nanos() as u64;
            stats.count_call((command.name, None), nanos, u64::from(failed));
            return;
        }
        self.run(command, client, args, &mut w, now, events);
    }

    /// Counts a refused call of a known command in INFO commandstats (`rejected_calls`), as
    /// Redis's `rejectCommand`.
    fn count_rejected(&mut self, args: &[Bytes]) {
        if let Some(key) = cmd::rejected_key(args) {
            self.db.stats.per_command.entry(key).or_default().rejected += 1;
        }
    }

    /// The `maxmemory` step before a command (Redis's processCommand): a round of eviction,
    /// then, if memory is still over and nothing may be evicted, the OOM error for a command
    /// that may need memory — one flagged DENYOOM, any command queued in MULTI (but EXEC,
    /// DISCARD, QUIT, RESET), EXEC of a transaction holding a DENYOOM command.
    fn make_room(
        &mut self,
        client: &Client,
        command: &Command,
        now: Instant,
    ) -> Result<(), CmdError> {
        crate::alloc::sample_peak();
        // From the configuration each time: it changes (CONFIG SET) and the dataset may be
        // replaced (a dump loaded, a master's snapshot) with a new Db of default rules.
        self.db.evict.access.configure(&self.shared.config);
        if self.shared.config.maxmemory == 0 {
            return Ok(());
        }
        let now_ms = self.shared.unix_ms(now);
        if self.evict(now_ms) != Outcome::Fail {
            return Ok(());
        }
        let denyoom = |c: &Command| c.flags & flags::DENYOOM != 0;
        let may_grow = match &client.multi {
            None => denyoom(command),
            Some(queue) if command.name == "exec" => queue
                .iter()
                .filter_map(|args| cmd::lookup(args.first()?))
                .any(denyoom),
            Some(_) => !matches!(command.name, "discard" | "quit" | "reset"),
        };
        if may_grow {
            return Err(CmdError::Msg(
                "OOM command not allowed when used memory > 'maxmemory'.".into(),
            ));
        }
        Ok(())
    }

    /// One round of eviction (see [`evict::perform`]), unless clients are paused (Redis keeps
    /// the dataset still then) or this server is a replica (which follows its master's DELs,
    /// as Redis's `replica-ignore-maxmemory`); the evicted keys fail their WATCHers' EXEC.
    pub(crate) fn evict(&mut self, now_ms: u64) -> Outcome {
        if self.shared.pause.is_some_and(|(until, _)| now_ms < until)
            || self.shared.repl.is_replica()
        {
            return Outcome::Ok;
        }
        // As Redis, the AOF's buffer is not counted: its DELs must not make more evictions.
        let not_counted: usize = [
            self.db.propagation.aof.as_ref(),
            self.db.propagation.repl.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|f| f.buf.capacity())
        .sum();
        let mut evicted = Vec::new();
        let outcome = evict::perform(
            &mut self.db.spaces,
            &mut self.db.propagation,
            &mut self.db.evict,
            &self.shared.config,
            not_counted,
            now_ms,
            &mut evicted,
        );
        self.db.evict.running = outcome == Outcome::Running;
        // Timed as Redis does: from the first round that could not get under the limit to the
        // first that did.
        let stats = &mut self.db.stats;
        if outcome == Outcome::Ok {
            if let Some(since) = stats.eviction_exceeded_since.take() {
                stats.eviction_exceeded_micros += since.elapsed().as_micros() as u64;
            }
        } else if stats.eviction_exceeded_since.is_none() {
            stats.eviction_exceeded_since = Some(Instant::now());
        }
        self.db.stats.evicted_keys += evicted.len() as u64;
        if !self.shared.watches.is_empty() {
            for (db, key) in &evicted {
                self.shared.touch(*db, key.as_bytes());
            }
        }
        outcome
    }

    /// Whether the replies of connection `conn` made now must wait for the AOF's fsync: with
    /// `appendfsync always`, while written commands are not yet known durable (this turn's,
    /// or earlier ones whose fsync is in flight: what a reply says may depend on them), and
    /// for as long as earlier replies of the same connection wait (so that none overtakes
    /// them).
    pub(crate) fn must_hold(&self, conn: ConnId) -> bool {
        let unsynced = self.shared.aof_always
            && (self.shared.aof_unsynced
                || self
                    .db
                    .propagation
                    .aof
                    .as_ref()
                    .is_some_and(|f| !f.buf.is_empty()));
        unsynced || self.shared.held.iter().any(|h| h.conn == conn)
    }

    /// The clients' share of the server cron, run every `1/hz` s: refreshes each client's
    /// queued output from `queued` (the reactor's count), and returns the connections to close
    /// — idle past `timeout`, over their output limit (a soft limit is only seen to last by checking again later,
    /// so a client that stopped reading is caught here, not only when it sends), then, while
    /// all clients together hold more than `maxmemory-clients`, the ones holding the most, as
    /// Redis's client eviction does (CLIENT NO-EVICT exempts a client).
    pub(crate) fn clients_cron(
        &mut self,
        now: Instant,
        queued: impl Fn(ConnId) -> Option<usize>,
    ) -> Vec<ConnId> {
        let now_ms = self.shared.unix_ms(now);
        let mut live = Vec::with_capacity(self.shared.clients.len());
        for (id, info) in self.shared.clients.iter_mut() {
            let Some(conn) = info.conn else { continue };
            let Some(omem) = queued(conn) else { continue };
            info.omem = omem;
            live.push((*id, conn, info.pubsub, omem));
        }
        let mut closing = self.idle_clients(now_ms);
        for (id, conn, subscribed, omem) in live {
            if closing.contains(&conn) {
                continue;
            }
            let limit = self.shared.output_class(subscribed);
            if self.shared.output_limit_reached(conn, limit, omem, now_ms) {
                log::warn!(
                    "client id={id} closed for overcoming of output buffer limits ({omem} B queued)"
                );
                closing.push(conn);
            }
        }
        let budget = self.shared.config.maxmemory_clients as usize;
        if budget == 0 {
            return closing;
        }
        let mut total: usize = self.shared.clients.values().map(ClientInfo::memory).sum();
        let mut evictable: Vec<(usize, u64, ConnId)> = self
            .shared
            .clients
            .iter()
            .filter(|(_, info)| !info.no_evict)
            .filter_map(|(id, info)| Some((info.memory(), *id, info.conn?)))
            .filter(|(_, _, conn)| !closing.contains(conn))
            .collect();
        evictable.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        for (memory, id, conn) in evictable {
            if total <= budget {
                break;
            }
            log::warn!(
                "evicting client id={id} ({memory} B): clients hold {total} B, over maxmemory-clients {budget} B"
            );
            total = total.saturating_sub(memory);
            self.db.stats.evicted_clients += 1;
            closing.push(conn);
        }
        closing
    }

    /// The connections idle longer than `timeout` seconds, as Redis 7.0's
    /// `clientsCronHandleTimeout` picks them: never a replica or a monitor, the link to the
    /// master, a blocked client (its command has its own timeout) or a subscriber, and idle
    /// counted in whole seconds since the last command, so `timeout 1` closes after 2 s.
    fn idle_clients(&self, now_ms: u64) -> Vec<ConnId> {
        let timeout = self.shared.config.timeout;
        if timeout == 0 {
            return Vec::new();
        }
        let repl = &self.shared.repl;
        self.shared
            .clients
            .iter()
            .filter(|(_, info)| !info.blocked && !info.pubsub && !info.monitor)
            .filter(|(_, info)| (now_ms / 1000).saturating_sub(info.last_ms / 1000) > timeout)
            .filter_map(|(id, info)| Some((*id, info.conn?)))
            .filter(|(_, conn)| repl.link_conn != Some(*conn))
            .filter(|(_, conn)| !repl.replicas.iter().any(|r| r.conn == *conn))
            .map(|(id, conn)| {
                log::info!("Closing idle client id={id}");
                conn
            })
            .collect()
    }

    /// How long a command must wait because of CLIENT PAUSE, if at all.
    pub(crate) fn pause_delay(
        &mut self,
        client: &Client,
        args: &[Bytes],
        now: Instant,
    ) -> Option<Duration> {
        let now_ms = self.shared.unix_ms(now);
        if self.shared.pause.is_some_and(|(until, _)| now_ms >= until) {
            self.shared.pause = None;
        }
        // A failover holds writes until it is over (checked again every 100 ms).
        let failover = self.shared.repl.failing_over();
        if self.shared.pause.is_none() && !failover {
            return None;
        }
        let command = args.first().and_then(|n| cmd::lookup(n))?;
        // The pausing client may still unpause; WRITE mode holds only writes.
        if command.name == "client" || client.multi.is_some() {
            return None;
        }
        let write = command.flags & flags::WRITE != 0;
        let paused = match self.shared.pause {
            Some((until, all)) if all || write => until - now_ms,
            _ => 0,
        };
        let held = if failover && write {
            paused.max(100)
        } else {
            paused
        };
        (held > 0).then(|| Duration::from_millis(held))
    }

    /// The checks made before a command runs or is queued.
    fn check(&mut self, client: &Client, args: &[Bytes]) -> Result<&'static Command, CmdError> {
        // CONFIG SET requirepass is the default user's password, as in Redis 7.
        self.shared
            .acl
            .sync_requirepass(self.shared.config.requirepass.as_deref());
        let command = cmd::check_call(client, args, self.shared.acl.default_open())?;
        let shared = &self.shared;
        if let Some(refusal) = shared
            .persist
            .refusal(&shared.config, shared.aof_error.as_deref())
        {
            // As Redis: writes (and PING) are refused while the AOF cannot be written, so no
            // acknowledged write can be missing from it, and after a failed BGSAVE while
            // `stop-writes-on-bgsave-error` says so.
            if command.flags & flags::WRITE != 0 || command.name == "ping" {
                return Err(CmdError::Msg(refusal));
            }
        }
        if command.flags & flags::WRITE != 0
            && !client.obey
            && self.shared.repl.is_replica()
            && self.shared.config.get("replica-read-only") != Some("no")
        {
            return Err(CmdError::Msg(
                "READONLY You can't write against a read only replica.".into(),
            ));
        }
        if let Some(refusal) = cmd::multi_refusal(client, command) {
            return Err(refusal);
        }
        self.acl_check(client, args)?;
        if let Some(refusal) = cmd::pubsub_refusal(client, command) {
            return Err(refusal);
        }
        Ok(command)
    }

    /// The ACL check of a call, made after authentication and the transaction rules as
    /// Redis's processCommand does: a refusal is logged (ACL LOG) and answered NOPERM, in
    /// EXEC's words for a queued command the rules no longer allow.
    fn acl_check(&mut self, client: &Client, args: &[Bytes]) -> Result<(), CmdError> {
        let context = if client.multi.is_some() || client.in_exec {
            acl::Context::Multi
        } else {
            acl::Context::Toplevel
        };
        let Some((denied, name)) =
            cmd::connection::acl_refusal(&mut self.shared, client, args, context)
        else {
            return Ok(());
        };
        let text = if client.in_exec {
            let reason = match denied {
                acl::Denied::Command => "no permission to execute the command or subcommand",
                acl::Denied::Key => "no permission to touch the specified keys",
                _ => "no permission to access one of the channels used as arguments",
            };
            format!(
                "NOPERM ACLs rules changed between the moment the transaction was accumulated \
                 and the EXEC call. This command is no longer allowed for the following reason: \
                 {reason}"
            )
        } else {
            match denied {
                acl::Denied::Command => {
                    format!("NOPERM this user has no permissions to run the '{name}' command")
                }
                acl::Denied::Key => "NOPERM this user has no permissions to access one of the \
                                     keys used as arguments"
                    .into(),
                _ => "NOPERM this user has no permissions to access one of the channels used \
                      as arguments"
                    .into(),
            }
        };
        Err(CmdError::Msg(text))
    }

    /// Runs a checked command; after a successful write, touches its keys for WATCH.
    fn run(
        &mut self,
        command: &Command,
        client: &mut Client,
        args: &[Bytes],
        w: &mut ReplyWriter<'_>,
        now: Instant,
        events: Option<&mut dyn FnMut()>,
    ) {
        let now_ms = self.shared.unix_ms(now);
        self.db.stats.commands += 1;
        client.last_cmd = command.name;
        let dirty_before = self.db.dirty;
        self.db.propagation.command_start();
        self.db.stats.call_started();
        let mut ctx = Ctx {
            commands: cmd::commands(),
            db: &mut self.db,
            shared: &mut self.shared,
            client,
            out: w,
            now: now_ms,
            // A shorter-lived trait object than the caller's: the context borrows for less.
            events: events.map(|f| f as &mut dyn FnMut()),
        };
        // One clock read per command: a command's time runs from the end of the one before it
        // in the same batch of input (its decoding included), or from now for the first.
        let started = ctx.shared.clock_mark.unwrap_or_else(Instant::now);
        let result = (command.handler)(&mut ctx, args);
        let ended = Instant::now();
        ctx.shared.clock_mark = Some(ended);
        let db = ctx.client.db;
        match result {
            Ok(()) => {}
            Err(CmdError::Counted(text)) => w.error(&text),
            Err(e) => error_reply(&mut self.db.stats, client, w, &e.text()),
        }
        let failed = self.db.stats.call_failed();
        let nanos = ended.saturating_duration_since(started).as_nanos() as u64;
        let key = cmd::subcommands::stat_key(command, args);
        self.db.stats.count_call(key, nanos, failed);
        cmd::introspect::observe(&mut self.shared, client, command, args, nanos);
        let wrote = self.db.dirty != dirty_before;
        if !self.shared.intro.tracking.is_empty() {
            cmd::introspect::track(&mut self.shared, client, command, args, wrote);
        }
        self.db.propagation.command_done(db, args, wrote);
        if self.db.dirty != dirty_before {
            if !self.shared.watches.is_empty() {
                for key in command.key_args(args) {
                    self.shared.touch(db, key);
                }
            }
            if !self.shared.waiting.is_empty() {
                for key in command.key_args(args) {
                    blocked::serve(
                        &mut self.db,
                        &mut self.shared.waiting,
                        &mut self.shared.watches,
                        db,
                        key,
                        &mut client.outbox,
                        now_ms,
                    );
                }
            }
        }
    }

    /// EXEC: runs the queued commands and answers with the array of their replies, unless a
    /// queued command was refused (EXECABORT) or a watched key changed (a null array). True
    /// when it answered with an error itself.
    fn exec(
        &mut self,
        client: &mut Client,
        w: &mut ReplyWriter<'_>,
        now: Instant,
        mut events: Option<&mut dyn FnMut()>,
    ) -> bool {
        let queue = client.multi.take().unwrap_or_default();
        let refused = std::mem::take(&mut client.multi_error);
        let now_ms = self.shared.unix_ms(now);
        let watched_changed = self.shared.watches.is_dirty(client.id)
            || client
                .watched
                .iter()
                .any(|(db, key, existed)| *existed && !self.db.exists(*db, key, now_ms));
        self.shared.unwatch(client);
        if refused {
            error_reply(
                &mut self.db.stats,
                client,
                w,
                "EXECABORT Transaction discarded because of previous errors.",
            );
            return true;
        }
        if watched_changed {
            w.null_array();
            return false;
        }
        w.array_len(queue.len());
        client.in_exec = true;
        for args in queue {
            match self.check(client, &args) {
                Ok(command) => {
                    let events = events.as_deref_mut().map(|f| f as &mut dyn FnMut());
                    self.run(command, client, &args, w, now, events)
                }
                Err(e) => {
                    self.count_rejected(&args);
                    error_reply(&mut self.db.stats, client, w, &e.text());
                }
            }
        }
        client.in_exec = false;
        false
    }

    /// One active expiry pass: samples keys with a TTL in every database, deleting expired
    /// ones, for at most `budget` of wall time (Redis's `activeExpireCycle`, simplified: repeat
    /// on a database while more than a quarter of the sample had expired).
    pub(crate) fn active_expire(&mut self, now: Instant, budget: Duration) -> usize {
        const SAMPLES: usize = 20;
        if self.db.evict.running {
            // A round of eviction that ran out of time goes on here, as Redis's time event.
            let now_ms = self.shared.unix_ms(now);
            self.evict(now_ms);
        }
        // A replica leaves expiry to its master, whose DELs it follows.
        if !self.shared.active_expire_enabled || self.shared.repl.is_replica() {
            return 0;
        }
        let started = Instant::now();
        let now_ms = self.shared.unix_ms(now);
        let (mut total, mut sampled) = (0, 0);
        let mut out_of_time = false;
        for dbi in 0..self.db.spaces.len() {
            loop {
                let cursor = self.shared.expire_cursor;
                let (looked, expired) = self.db.expire_cycle(dbi, cursor, SAMPLES, now_ms);
                self.shared.expire_cursor = cursor.wrapping_add(looked.saturating_sub(expired));
                total += expired;
                sampled += looked;
                out_of_time = started.elapsed() >= budget;
                if looked == 0 || expired * 4 <= looked || out_of_time {
                    break;
                }
            }
            if out_of_time {
                break;
            }
        }
        // INFO's expiry figures, as Redis's activeExpireCycle keeps them: a running average of
        // the share of expired keys among those sampled, the cycles cut short by their time
        // budget, and the time spent.
        let stats = &mut self.db.stats;
        let current = if sampled > 0 {
            total as f64 / sampled as f64
        } else {
            0.0
        };
        stats.expired_stale_perc = current * 0.05 + stats.expired_stale_perc * 0.95;
        if out_of_time {
            stats.expired_time_cap_reached_count += 1;
        }
        stats.expire_cycle_micros += started.elapsed().as_micros() as u64;
        total
    }
}

/// Writes the error reply `text` (without its `-`) and counts it for INFO errorstats, as
/// Redis's `afterErrorReply`; an error answering a master's stream or the AOF being loaded is
/// also an unexpected one.
fn error_reply(stats: &mut Stats, client: &Client, w: &mut ReplyWriter<'_>, text: &str) {
    w.error(text);
    stats.error_reply(text);
    if client.obey {
        stats.unexpected_error_replies += 1;
    }
}
