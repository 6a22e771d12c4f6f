//! MIGRATE: moves keys to another Redis-protocol server (redis-server or spindle kv) by
//! sending it RESTORE commands with each key's DUMP payload and remaining TTL, then deletes
//! the keys the target stored (unless COPY), propagated as a DEL.
//!
//! As in Redis, the exchange is synchronous: the loop waits for the target, up to the
//! command's timeout for the connection and for each write and read. As Redis does, the
//! connection is kept for the next MIGRATE to the same target (closed after ten seconds
//! unused), with the database it selected and the user it authenticated as: a MIGRATE without
//! AUTH after one with it goes through as that user, as it does on redis-server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::args::{arg, int_arg, is};
use super::ctx::flags::*;
use super::ctx::{cmd, CmdResult, Command, Ctx};
use crate::error::CmdError;

/// The rows of this family.
pub(crate) static COMMANDS: &[Command] = &[cmd("migrate", -6, WRITE, (3, 3, 1), migrate)];

/// What went wrong talking to the target, in Redis's reply.
enum Io {
    Connect,
    Write,
    Read,
}

impl Io {
    fn error(self) -> CmdError {
        CmdError::Msg(
            match self {
                Io::Connect => "IOERR error or timeout connecting to the client",
                Io::Write => "IOERR error or timeout writing to target instance",
                Io::Read => "IOERR error or timeout reading to target instance",
            }
            .into(),
        )
    }
}

/// `MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password |
/// AUTH2 username password] [KEYS key…]`, with Redis's option checks and replies: `+NOKEY`
/// when none of the keys exists, `+OK` when the target stored them all, the target's first
/// error as `ERR Target instance replied with error: …`, `IOERR …` when it cannot be reached.
fn migrate(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let (mut copy, mut replace) = (false, false);
    let (mut username, mut password): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let mut keys = args.get(3..4).unwrap_or_default();
    let mut j = 6;
    while let Some(opt) = args.get(j) {
        let more = args.len() - 1 - j;
        if is(opt, "copy") {
            copy = true;
        } else if is(opt, "replace") {
            replace = true;
        } else if is(opt, "auth") && more >= 1 {
            password = Some(arg(args, j + 1));
            j += 1;
        } else if is(opt, "auth2") && more >= 2 {
            username = Some(arg(args, j + 1));
            password = Some(arg(args, j + 2));
            j += 2;
        } else if is(opt, "keys") {
            if !arg(args, 3).is_empty() {
                return Err(CmdError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys = args.get(j + 1..).unwrap_or_default();
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let timeout = int_arg(arg(args, 5))?;
    let dbid = int_arg(arg(args, 4))?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });

    // The keys here (a read, as Redis's lookupKeyRead), with their payloads and TTLs.
    let (db, now) = (ctx.dbi(), ctx.now);
    let mut found: Vec<(&Bytes, Vec<u8>, u64)> = Vec::new();
    for key in keys {
        if let Some(e) = ctx.db.read(db, key, now) {
            let ttl = match e.expire_at {
                0 => 0,
                at => at.saturating_sub(now).max(1),
            };
            found.push((key, crate::rdb::dump(&e.value), ttl));
        }
    }
    if found.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }

    let host = String::from_utf8_lossy(arg(args, 1)).into_owned();
    // A port that is not a number is port 0, which nothing answers (Redis's atoi reads one as
    // 0 too, though it takes the leading digits of "12ab", which this refuses).
    let port: u16 = std::str::from_utf8(arg(args, 2))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0);
    let target = format!("{host}:{port}");
    let mut may_retry = true;
    let outcome = loop {
        let (conn, last_dbid) = match cached(&target, now) {
            Some(cached) => cached,
            None => (connect(&host, port, timeout).map_err(Io::error)?, None),
        };
        let select = last_dbid != Some(dbid);
        let mut request = BytesMut::new();
        if let Some(pass) = password {
            let auth: Vec<&[u8]> = [&b"AUTH"[..]]
                .into_iter()
                .chain(username)
                .chain([pass])
                .collect();
            crate::propagate::encode(&mut request, &auth);
        }
        if select {
            let db = dbid.to_string();
            crate::propagate::encode(&mut request, &[&b"SELECT"[..], db.as_bytes()]);
        }
        for (key, payload, ttl) in &found {
            let ttl = ttl.to_string();
            let mut restore: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), payload];
            if replace {
                restore.push(b"REPLACE");
            }
            crate::propagate::encode(&mut request, &restore);
        }
        let replies = usize::from(password.is_some()) + usize::from(select);
        let outcome = exchange(conn, &request, replies, found.len());
        // A cached connection the target has closed since: once more on a new one, if nothing
        // was stored through it and the target was not just slow.
        let stale = outcome.failed.is_some()
            && outcome.refused.is_none()
            && outcome.stored.is_empty()
            && !outcome.timed_out;
        if stale && may_retry {
            may_retry = false;
            continue;
        }
        break outcome;
    };
    let mut deleted: Vec<Bytes> = vec![Bytes::from_static(b"DEL")];
    if !copy {
        for &i in &outcome.stored {
            let Some((key, _, _)) = found.get(i) else {
                continue;
            };
            if ctx.db.delete(db, key, now) {
                ctx.shared.touch(db, key);
                deleted.push((*key).clone());
            }
        }
    }
    if deleted.len() > 1 {
        ctx.db.propagation.replace(deleted);
    } else {
        ctx.db.propagation.suppress();
    }
    if let Some(conn) = outcome.conn {
        // The next MIGRATE to this target selects again after an error, as Redis's does.
        let last_dbid = outcome.refused.is_none().then_some(dbid);
        keep(target, conn, last_dbid, now);
    }
    match (outcome.refused, outcome.failed) {
        (Some(error), _) => Err(CmdError::err(format!(
            "Target instance replied with error: {error}"
        ))),
        (None, Some(io)) => Err(io.error()),
        (None, None) => {
            ctx.out.ok();
            Ok(())
        }
    }
}

/// How an exchange with the target went.
struct Outcome {
    /// The connection, when it is still good for the next MIGRATE.
    conn: Option<TcpStream>,
    /// The first error the target answered (AUTH's or SELECT's first), without its `-`.
    refused: Option<String>,
    /// Which of the keys the target stored (by their order in the request).
    stored: Vec<usize>,
    /// Writing or reading failed.
    failed: Option<Io>,
    /// ... because the target did not answer in time.
    timed_out: bool,
}

/// Sends `request` (`before` replies of AUTH and SELECT, then `keys` RESTOREs) and reads the
/// replies: every RESTORE after a refused AUTH or SELECT counts as refused, as in Redis.
fn exchange(mut conn: TcpStream, request: &[u8], before: usize, keys: usize) -> Outcome {
    let mut outcome = Outcome {
        conn: None,
        refused: None,
        stored: Vec::new(),
        failed: None,
        timed_out: false,
    };
    let timed_out = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    if let Err(e) = conn.write_all(request) {
        outcome.timed_out = timed_out(&e);
        outcome.failed = Some(Io::Write);
        return outcome;
    }
    let Ok(reader) = conn.try_clone() else {
        outcome.failed = Some(Io::Read);
        return outcome;
    };
    let mut replies = BufReader::new(reader);
    let mut line = String::new();
    let mut refused_before = None;
    for i in 0..before + keys {
        line.clear();
        // A reply is one short line (Redis reads at most 1 KiB): a target that sends more
        // without a newline fails the exchange instead of growing the line.
        match (&mut replies).take(REPLY_MAX).read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with('\n') => {}
            Ok(_) => {
                outcome.failed = Some(Io::Read);
                return outcome;
            }
            Err(e) => {
                outcome.timed_out = timed_out(&e);
                outcome.failed = Some(Io::Read);
                return outcome;
            }
        }
        let error = line.strip_prefix('-').map(|e| e.trim_end().to_string());
        if i < before {
            refused_before = refused_before.or(error);
        } else if let Some(e) = refused_before.clone().or(error) {
            outcome.refused.get_or_insert(e);
        } else {
            outcome.stored.push(i - before);
        }
    }
    // Replies left unread (a BufReader ahead of them) would confuse the next exchange.
    if replies.buffer().is_empty() {
        outcome.conn = Some(conn);
    }
    outcome
}

/// The longest reply line read from a target.
const REPLY_MAX: u64 = 1024;

/// How long a connection to a target is kept for the next MIGRATE, as Redis keeps its.
const KEEP_MS: u64 = 10_000;

/// At most this many targets' connections are kept (Redis's MIGRATE_SOCKET_CACHE_ITEMS).
const KEEP_MAX: usize = 64;

/// A kept connection: the stream, the database last selected through it (`None`: select
/// again), when it was last used.
type Kept = (TcpStream, Option<i64>, u64);

thread_local! {
    /// The connections kept by target (`host:port`). The store runs on its loop's thread, so
    /// each server has its own.
    static KEPT: std::cell::RefCell<std::collections::HashMap<String, Kept>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Takes the kept connection to `target` if there is one not idle for too long, and closes
/// every one that is.
fn cached(target: &str, now: u64) -> Option<(TcpStream, Option<i64>)> {
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        kept.retain(|_, (_, _, used)| now.saturating_sub(*used) <= KEEP_MS);
        kept.remove(target).map(|(conn, db, _)| (conn, db))
    })
}

/// Keeps `conn` to `target` for the next MIGRATE.
fn keep(target: String, conn: TcpStream, last_dbid: Option<i64>, now: u64) {
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() >= KEEP_MAX {
            if let Some(oldest) = kept
                .iter()
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(k, _)| k.clone())
            {
                kept.remove(&oldest);
            }
        }
        kept.insert(target, (conn, last_dbid, now));
    });
}

/// A connection to `host:port` (a name or an address) within `timeout`, with `timeout` for
/// each write and read after. A refused connection fails as writing: Redis connects without
/// blocking and learns of the refusal when it first writes.
fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, Io> {
    let addrs = (host, port).to_socket_addrs().map_err(|_| Io::Connect)?;
    let mut refused = false;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(conn) => {
                let ready = conn.set_read_timeout(Some(timeout)).is_ok()
                    && conn.set_write_timeout(Some(timeout)).is_ok()
                    && conn.set_nodelay(true).is_ok();
                return if ready { Ok(conn) } else { Err(Io::Connect) };
            }
            Err(e) => refused |= e.kind() == std::io::ErrorKind::ConnectionRefused,
        }
    }
    Err(if refused { Io::Write } else { Io::Connect })
}
