//! The master's side of replication, in the reactor: finishing a replica's PSYNC/SYNC on its
//! connection (+CONTINUE from the backlog, or +FULLRESYNC and a snapshot), sending every
//! turn's writes to the replicas (an end-of-turn hook, as Redis feeds replicas before
//! sleeping), and the cron's share — pings to replicas, and for a replica its ACKs and the
//! connection to the master (`replica_link.rs`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spindle_reactor::{Reactor, Transport};

use crate::client::Client;
use crate::engine::Engine;
use crate::repl::{Attached, LinkState, Role, Snapshot, SyncRequest};
use crate::replica_link::LinkFactory;

/// Finishes a replica's PSYNC/SYNC on its connection: +CONTINUE and the backlog's bytes from
/// its offset when it can continue, else +FULLRESYNC and a snapshot of the data at the
/// stream's current offset — written by a BGSAVE child (the replica waits for it, joining one
/// already being written), or encoded now on the loop when no child can be started; from
/// then on the replication hook sends it the stream.
pub(crate) fn start_sync(
    engine: &mut Engine,
    client: &Client,
    request: SyncRequest,
    tx: &mut dyn Transport,
) {
    // The stream so far goes to the replicas already attached, so the offset below is exact.
    flush_stream(engine, |conn, bytes| {
        tx.write_bytes_to(conn, bytes);
    });
    let queued_before = tx.buffered();
    let size = engine
        .shared
        .config
        .get("repl-backlog-size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 20);
    let repl = &mut engine.shared.repl;
    repl.ensure_backlog(size);
    if !repl.is_replica() {
        engine.db.propagation.start_repl_feed();
    }
    let peer = tx.peer().to_string();
    let ip = peer
        .rsplit_once(':')
        .map_or(peer.as_str(), |(ip, _)| ip)
        .to_string();
    log::info!("Replica {ip}:{} asks for synchronization", client.repl_port);
    let repl = &engine.shared.repl;
    let continued = match &request {
        SyncRequest::Psync { replid, offset } => repl.can_continue(replid, *offset),
        SyncRequest::Sync => None,
    };
    let ack;
    if let Some(bytes) = continued {
        tx.write(format!("+CONTINUE {}\r\n", repl.replid).as_bytes());
        tx.write_bytes(bytes);
        ack = repl.offset();
        engine.db.stats.sync_partial_ok += 1;
        log::info!("Partial resynchronization request from {ip} accepted.");
    } else {
        // As Redis's syncCommand: a PSYNC that could not continue is a failed partial sync,
        // unless its id was `?` (a replica asking for a full one on purpose).
        if let SyncRequest::Psync { replid, .. } = &request {
            if replid != "?" {
                engine.db.stats.sync_partial_err += 1;
            }
        }
        engine.db.stats.sync_full += 1;
        let psync = matches!(request, SyncRequest::Psync { .. });
        let fullresync = |offset: u64| format!("+FULLRESYNC {} {offset}\r\n", repl.replid);
        if let Some(snapshot) = &engine.shared.repl.snapshot {
            // A snapshot is being written: this replica takes it too, from its offset.
            if psync {
                tx.write(fullresync(snapshot.offset).as_bytes());
            }
            log::info!("Waiting for end of BGSAVE for SYNC");
            wait_for_snapshot(engine, tx, ip, client.repl_port);
            return;
        }
        let offset = repl.offset();
        if psync {
            tx.write(fullresync(offset).as_bytes());
        }
        let now_ms = engine.shared.unix_ms(tx.now());
        if !engine.shared.repl.is_replica() && snapshot_in_child(engine, offset, now_ms) {
            wait_for_snapshot(engine, tx, ip, client.repl_port);
            return;
        }
        // No child could be started (one runs already, or fork failed), or this server
        // relays its master's stream, which a snapshot's `since` does not see: encoded here.
        let mut rdb = Vec::new();
        if let Err(e) = crate::rdb::encode::encode_dataset(&engine.db, now_ms, &mut rdb) {
            log::warn!("cannot make a snapshot for a replica: {e}");
            tx.lose_connection();
            return;
        }
        tx.write(format!("${}\r\n", rdb.len()).as_bytes());
        tx.write_bytes(Bytes::from(rdb));
        // The stream after a snapshot starts by selecting its database.
        engine.db.propagation.reselect_repl();
        ack = 0;
        log::info!(
            "Full resync to replica {ip}:{} at offset {offset}",
            client.repl_port
        );
    }
    engine.db.stats.net_repl_output_bytes += tx.buffered().saturating_sub(queued_before) as u64;
    let now_ms = engine.shared.unix_ms(tx.now());
    engine.shared.repl.replicas.push(Attached {
        conn: tx.id(),
        ip,
        port: client.repl_port,
        ack,
        ack_ms: now_ms,
        sync_bytes: tx.buffered() as u64,
        streamed: 0,
    });
}

/// Starts a child that writes the snapshot for full resyncs at `offset` into a memory file
/// (the loop only forks); false if none could be started.
fn snapshot_in_child(engine: &mut Engine, offset: u64, now_ms: u64) -> bool {
    let started = memory_file().and_then(|file| {
        engine
            .shared
            .persist
            .snapshot_for_replicas(&engine.db, &file, now_ms)
            .map(|()| file)
    });
    let file = match started {
        Ok(file) => file,
        Err(e) => {
            log::warn!("Can't snapshot for replicas in a child ({e}): made on the loop");
            return false;
        }
    };
    engine.shared.repl.snapshot = Some(Snapshot {
        file,
        offset,
        since: BytesMut::new(),
        waiting: Vec::new(),
    });
    // The stream after the snapshot starts by selecting its database.
    engine.db.propagation.reselect_repl();
    true
}

/// An anonymous file in memory (memfd), closed on exec: where a child writes a snapshot for
/// the parent to read, with no name in any directory.
fn memory_file() -> std::io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create(2) with a NUL-terminated name; it returns a new descriptor or -1.
    let fd = unsafe { libc::memfd_create(c"spindle-sync".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// The snapshot a child wrote into `file`, mapped into memory rather than read: the replicas'
/// output buffers share the mapping, so the loop neither copies it nor stalls reading it, and
/// its pages are touched only as the sockets take them.
fn read_snapshot(file: &std::fs::File) -> std::io::Result<Bytes> {
    let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
    if len == 0 {
        return Ok(Bytes::new());
    }
    Ok(Bytes::from_owner(Mapped::of(file, len)?))
}

/// A file mapped read-only, unmapped when the last `Bytes` sharing it is dropped.
struct Mapped {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone; its pages may be read from
// any thread.
unsafe impl Send for Mapped {}
// SAFETY: as above: shared references only read.
unsafe impl Sync for Mapped {}

impl Mapped {
    /// Maps the first `len` (> 0) bytes of `file`. Only for a file nobody writes or truncates
    /// any more (a finished snapshot's memfd: the child that wrote it has exited and the
    /// descriptor is private to this process), so the mapping's contents cannot change.
    fn of(file: &std::fs::File, len: usize) -> std::io::Result<Mapped> {
        use std::os::fd::AsRawFd;
        // SAFETY: a new private read-only mapping of a descriptor we hold; the kernel checks
        // the length and the descriptor and returns MAP_FAILED on any error.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = std::ptr::NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(Mapped { ptr, len })
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `drop`, and nothing writes them.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `of`, once.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Parks the replica on `tx` until the snapshot being written is done.
fn wait_for_snapshot(engine: &mut Engine, tx: &mut dyn Transport, ip: String, port: u16) {
    if let Some(snapshot) = engine.shared.repl.snapshot.as_mut() {
        snapshot.waiting.push((tx.id(), ip, port));
    }
}

/// Once the child writing a snapshot for replicas has ended, sends the snapshot and the
/// stream since its fork to every replica waiting, which from then on are attached; if it
/// failed they are closed (they retry), as Redis's `updateSlavesWaitingBgsave` does.
fn finish_snapshot(r: &mut Reactor, engine: &mut Engine) {
    let Some(whole) = engine.shared.persist.replica_snapshot_ended.take() else {
        return;
    };
    let Some(snapshot) = engine.shared.repl.snapshot.take() else {
        return;
    };
    let rdb = match whole.then(|| read_snapshot(&snapshot.file)) {
        Some(Ok(rdb)) => rdb,
        failed => {
            if let Some(Err(e)) = failed {
                log::warn!("SYNC failed. Can't read the snapshot: {e}");
            } else {
                log::warn!("SYNC failed. BGSAVE child returned an error");
            }
            for (conn, _, _) in snapshot.waiting {
                r.abort_connection_of(conn);
            }
            return;
        }
    };
    let header = format!("${}\r\n", rdb.len());
    let since = snapshot.since.freeze();
    let now_ms = engine.shared.unix_ms(r.now());
    for (conn, ip, port) in snapshot.waiting {
        r.write_to(conn, header.as_bytes());
        r.write_bytes_to(conn, rdb.clone());
        r.write_bytes_to(conn, since.clone());
        let Some(queued) = r.buffered_of(conn) else {
            continue;
        };
        log::info!(
            "Full resync to replica {ip}:{port} at offset {}",
            snapshot.offset
        );
        engine.shared.repl.replicas.push(Attached {
            conn,
            ip,
            port,
            ack: 0,
            ack_ms: now_ms,
            sync_bytes: queued as u64,
            streamed: 0,
        });
    }
}

/// Takes the replication feed's new bytes (and a GETACK when a WAIT asked for one) into the
/// stream: appended to the backlog and given to `send` for every attached replica.
fn flush_stream(engine: &mut Engine, mut send: impl FnMut(spindle_reactor::ConnId, Bytes)) {
    let mut bytes = engine
        .db
        .propagation
        .repl
        .as_mut()
        .map(|feed| feed.buf.split())
        .unwrap_or_default();
    let repl = &mut engine.shared.repl;
    if std::mem::take(&mut repl.getack) && !repl.replicas.is_empty() {
        crate::propagate::encode(&mut bytes, &[&b"REPLCONF"[..], b"GETACK", b"*"]);
    }
    if bytes.is_empty() {
        return;
    }
    let bytes = bytes.freeze();
    repl.append(&bytes);
    if let Some(snapshot) = repl.snapshot.as_mut() {
        snapshot.since.extend_from_slice(&bytes);
    }
    for r in &mut repl.replicas {
        r.streamed += bytes.len() as u64;
        engine.db.stats.net_repl_output_bytes += bytes.len() as u64;
        send(r.conn, bytes.clone());
    }
}

/// Closes the replicas that do not read the stream fast enough, past the `replica` class of
/// `client-output-buffer-limit` (256 MB at once, or 64 MB for 60 s), as Redis does: a replica
/// that stops reading must not make the master hold the stream for it without bound.
fn close_replicas_over_limit(r: &mut Reactor, engine: &mut Engine) {
    if engine.shared.repl.replicas.is_empty() {
        return;
    }
    let limit = engine.shared.config.client_output_buffer_limit.replica;
    let now_ms = engine.shared.unix_ms(r.now());
    let over: Vec<(spindle_reactor::ConnId, u64)> = engine
        .shared
        .repl
        .replicas
        .iter()
        .filter_map(|a| Some((a.conn, a.stream_queued(r.buffered_of(a.conn)? as u64))))
        .collect();
    for (conn, queued) in over {
        if engine
            .shared
            .output_limit_reached(conn, limit, queued as usize, now_ms)
        {
            log::warn!(
                "replica {conn} closed for overcoming of output buffer limits ({queued} B of the stream queued)"
            );
            r.abort_connection_of(conn);
        }
    }
}

/// Replication's end-of-turn work: the turn's writes go to the replicas (and the backlog).
pub(crate) fn start_repl_hook(reactor: &mut Reactor, server: Rc<RefCell<Engine>>) {
    reactor.before_flush(move |r| {
        let Ok(mut engine) = server.try_borrow_mut() else {
            return;
        };
        flush_stream(&mut engine, |conn, bytes| {
            r.write_bytes_to(conn, bytes);
        });
        close_replicas_over_limit(r, &mut engine);
    });
}

/// A failover waiting for its replica: at the timeout it gives up (or, with FORCE, goes on
/// with the target as it is); once the target — or, without `TO`, any replica — has
/// acknowledged the whole stream, this server follows it (its replicas are let go, as Redis
/// lets them go, to resync) and its link asks `PSYNC … FAILOVER`.
fn failover_cron(r: &mut Reactor, engine: &mut Engine) {
    let now_ms = engine.shared.unix_ms(r.now());
    let repl = &mut engine.shared.repl;
    let Some(mut failover) = repl.failover.clone().filter(|f| !f.in_progress) else {
        return;
    };
    let offset = repl.offset();
    let caught_up = repl.replicas.iter().find(|a| {
        a.ack == offset
            && failover
                .target
                .as_ref()
                .is_none_or(|(host, port)| a.ip.eq_ignore_ascii_case(host) && a.port == *port)
    });
    let target = match (caught_up, failover.end_ms) {
        (Some(a), _) => {
            log::info!(
                "Failover target {}:{} is synced, failing over.",
                a.ip,
                a.port
            );
            (a.ip.clone(), a.port)
        }
        (None, Some(end)) if end <= now_ms => match (&failover.target, failover.force) {
            (Some(target), true) => {
                log::info!(
                    "FAILOVER to {}:{} time out exceeded, failing over.",
                    target.0,
                    target.1
                );
                target.clone()
            }
            _ => {
                repl.abort_failover(
                    "Replica never caught up before timeout",
                    &mut engine.db.propagation,
                );
                return;
            }
        },
        (None, _) => return,
    };
    failover.target = Some(target.clone());
    failover.in_progress = true;
    repl.failover = Some(failover);
    for replica in std::mem::take(&mut repl.replicas) {
        r.lose_connection_of(replica.conn);
    }
    repl.follow(target.0, target.1, &mut engine.db.propagation);
}

/// Replication's share of the cron: a master pings its replicas every
/// `repl-ping-replica-period` seconds (through the stream, as Redis does); a replica
/// acknowledges its offset every second, and connects to the master REPLICAOF named.
pub(crate) fn repl_cron(
    r: &mut Reactor,
    server: &Rc<RefCell<Engine>>,
    listening_port: u16,
    tick: &mut u64,
) {
    *tick += 1;
    let Ok(mut engine) = server.try_borrow_mut() else {
        return;
    };
    let hz = u64::from(engine.shared.config.hz.clamp(1, 500));
    let second = (*tick).is_multiple_of(hz);
    let changed = std::mem::take(&mut engine.shared.repl.changed);
    finish_snapshot(r, &mut engine);
    if second {
        // Replicas waiting for a snapshot get a newline a second, which keeps their link
        // alive (a replica skips it before the snapshot's header), as Redis sends.
        for (conn, _, _) in engine.shared.repl.snapshot.iter().flat_map(|s| &s.waiting) {
            r.write_to(*conn, b"\n");
        }
    }
    match engine.shared.repl.role.clone() {
        Role::Master => {
            if changed {
                // Promoted: the link to the old master goes.
                if let Some(conn) = engine.shared.repl.link_conn.take() {
                    r.lose_connection_of(conn);
                }
            }
            let period = engine
                .shared
                .config
                .get("repl-ping-replica-period")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(10)
                .max(1);
            failover_cron(r, &mut engine);
            // No PING while a failover waits: it would move the offset the replicas must reach.
            if !engine.shared.repl.replicas.is_empty()
                && !engine.shared.repl.failing_over()
                && (*tick).is_multiple_of(hz * period)
            {
                let mut ping = BytesMut::new();
                crate::propagate::encode(&mut ping, &[&b"PING"[..]]);
                if let Some(feed) = engine.db.propagation.repl.as_mut() {
                    feed.buf.extend_from_slice(&ping);
                }
            }
        }
        Role::Replica(link) => {
            if changed {
                if let Some(conn) = engine.shared.repl.link_conn.take() {
                    r.lose_connection_of(conn);
                }
            }
            if changed {
                let factory = LinkFactory {
                    server: server.clone(),
                    host: link.host.clone(),
                    port: link.port,
                    listening_port,
                };
                log::info!("Connecting to MASTER {}:{}", link.host, link.port);
                if let Err(e) = r.connect_tcp(
                    (link.host.as_str(), link.port),
                    factory,
                    Some(Duration::from_secs(10)),
                ) {
                    log::warn!("cannot connect to MASTER {}:{}: {e}", link.host, link.port);
                }
            }
            if let (Some(conn), true) = (link.conn, second) {
                if link.state == LinkState::Connected {
                    let offset = engine.shared.repl.offset().to_string();
                    let mut ack = BytesMut::new();
                    crate::propagate::encode(
                        &mut ack,
                        &[&b"REPLCONF"[..], b"ACK", offset.as_bytes()],
                    );
                    r.write_to(conn, &ack);
                }
            }
        }
    }
}
