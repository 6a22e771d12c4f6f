//! Replication's state, as Redis keeps it: this server's role, its replication id and offset
//! (the position in the stream of writes every replica follows), the backlog kept for partial
//! resyncs, the replicas attached when it is a master, the master followed when it is a
//! replica, and the clients waiting in WAIT. The connections themselves are the session
//! layer's (`session.rs` serves replicas, `replica_link.rs` follows a master); this is what
//! commands (ROLE, INFO replication, WAIT, REPLICAOF, PSYNC) read and change.
//!
//! Inside the folder: `backlog.rs`, the ring of recent stream bytes.

pub(crate) mod backlog;

use bytes::{Bytes, BytesMut};
use spindle_reactor::{ConnId, TimerId};

use backlog::Backlog;

use crate::propagate::Propagation;

/// Which way data flows through this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// Takes writes from clients; may have replicas.
    Master,
    /// Follows a master's stream (REPLICAOF host port).
    Replica(MasterLink),
}

/// The master a replica follows and how far the link is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MasterLink {
    /// Its host, as given to REPLICAOF.
    pub(crate) host: String,
    /// Its port.
    pub(crate) port: u16,
    /// Where the link is: `connect`, `connecting`, `sync`, `connected` (ROLE's words).
    pub(crate) state: LinkState,
    /// The connection to it once made.
    pub(crate) conn: Option<ConnId>,
    /// Unix ms of the last bytes from it.
    pub(crate) last_io_ms: u64,
}

/// A replica's link to its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Not connected; the cron connects.
    Connect,
    /// Connecting or in the handshake.
    Connecting,
    /// Receiving the snapshot.
    Sync,
    /// Following the stream.
    Connected,
}

impl LinkState {
    /// ROLE's word for it.
    pub(crate) fn word(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// A full resync's snapshot while a child writes it into a memory file, and the replicas
/// waiting for it: they all get the snapshot taken at `offset`, then the stream from there,
/// kept meanwhile in `since`.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The memory file the child writes.
    pub(crate) file: std::fs::File,
    /// The stream's offset at the fork (the replicas' +FULLRESYNC offset).
    pub(crate) offset: u64,
    /// The stream since the fork, which the replicas get after the snapshot.
    pub(crate) since: BytesMut,
    /// The replicas waiting: connection, address, listening port.
    pub(crate) waiting: Vec<(ConnId, String, u16)>,
}

/// A replica attached to this master.
#[derive(Debug, Clone)]
pub(crate) struct Attached {
    /// Its connection.
    pub(crate) conn: ConnId,
    /// Its address as seen, and the port it listens on (REPLCONF listening-port).
    pub(crate) ip: String,
    /// The port it said it listens on.
    pub(crate) port: u16,
    /// The offset it last acknowledged (REPLCONF ACK).
    pub(crate) ack: u64,
    /// Unix ms of its last ACK.
    pub(crate) ack_ms: u64,
    /// Bytes queued for it when it attached: the snapshot (or the backlog's catch-up), sent
    /// before any of the stream.
    pub(crate) sync_bytes: u64,
    /// Stream bytes queued for it since.
    pub(crate) streamed: u64,
}

impl Attached {
    /// Of `queued` bytes waiting to go to this replica, those of the stream: the snapshot is
    /// sent first, so what has left the queue came out of it before any stream byte (the
    /// snapshot is not held to the output limit, as Redis streams its RDB apart).
    pub(crate) fn stream_queued(&self, queued: u64) -> u64 {
        let drained = (self.sync_bytes + self.streamed).saturating_sub(queued);
        let sync_left = self.sync_bytes.saturating_sub(drained);
        queued.saturating_sub(sync_left)
    }
}

/// A client in WAIT: how many replicas it wants at which offset, until when.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    /// The waiting connection.
    pub(crate) conn: ConnId,
    /// The offset its writes reached.
    pub(crate) offset: u64,
    /// Replicas wanted.
    pub(crate) wanted: usize,
    /// Its timeout's timer (none: wait forever).
    pub(crate) timer: Option<TimerId>,
}

/// What the session must do for a PSYNC/SYNC a client sent (the handshake's end needs the
/// connection, which commands do not see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyncRequest {
    /// `PSYNC replid offset` (`?`/-1 for none).
    Psync {
        /// The replication id the replica had.
        replid: String,
        /// The first offset it lacks.
        offset: i64,
    },
    /// The old `SYNC`: always a full snapshot, no +FULLRESYNC line.
    Sync,
}

/// A coordinated failover (FAILOVER) of a master to one of its replicas: writes are held
/// until a replica has acknowledged the whole stream, then this server follows that replica
/// and asks it `PSYNC replid offset FAILOVER`, which makes it the master.
#[derive(Debug, Clone)]
pub(crate) struct Failover {
    /// The replica named by `TO host port`, or the first one found caught up.
    pub(crate) target: Option<(String, u16)>,
    /// When the wait for the replica ends (`TIMEOUT`), in Unix ms.
    pub(crate) end_ms: Option<u64>,
    /// `FORCE`: at the timeout, fail over to the target even if it has not caught up.
    pub(crate) force: bool,
    /// The target has caught up (or the timeout forced it): this server follows it now.
    pub(crate) in_progress: bool,
}

/// The server's replication state.
#[derive(Debug)]
pub(crate) struct Repl {
    /// Master or replica.
    pub(crate) role: Role,
    /// The current replication id (40 hex digits).
    pub(crate) replid: String,
    /// The previous one, after a promotion (so replicas of the old master can continue).
    pub(crate) replid2: String,
    /// Up to which offset `replid2` is valid (-1: none).
    pub(crate) second_offset: i64,
    /// The offset of the stream's last byte when there is no backlog yet.
    offset: u64,
    /// The backlog, created with the first replica.
    pub(crate) backlog: Option<Backlog>,
    /// Replicas attached.
    pub(crate) replicas: Vec<Attached>,
    /// Clients in WAIT.
    pub(crate) waiters: Vec<Waiter>,
    /// A REPLICAOF the session has still to act on (connect, or drop the master link).
    pub(crate) changed: bool,
    /// Replies for WAIT clients the session must send, with the count they got.
    pub(crate) woken: Vec<(ConnId, i64, Option<TimerId>)>,
    /// A WAIT began: the next stream flush asks the replicas for their offsets.
    pub(crate) getack: bool,
    /// The connection to the master, while there is one (closed when REPLICAOF changes).
    pub(crate) link_conn: Option<ConnId>,
    /// A snapshot for full resyncs being written by a child, while there is one.
    pub(crate) snapshot: Option<Snapshot>,
    /// A FAILOVER under way, while there is one.
    pub(crate) failover: Option<Failover>,
}

impl Repl {
    /// A master with a new replication id and no backlog.
    pub(crate) fn new() -> Repl {
        Repl {
            role: Role::Master,
            replid: new_replid(),
            replid2: "0".repeat(40),
            second_offset: -1,
            offset: 0,
            backlog: None,
            replicas: Vec::new(),
            waiters: Vec::new(),
            changed: false,
            woken: Vec::new(),
            getack: false,
            link_conn: None,
            snapshot: None,
            failover: None,
        }
    }

    /// The offset of the stream's last byte (`master_repl_offset`).
    pub(crate) fn offset(&self) -> u64 {
        self.backlog.as_ref().map_or(self.offset, Backlog::end)
    }

    /// The offset as Redis's `long long` answers show it (ROLE, the second id's offset); a
    /// master may start us near `i64::MAX`, so it saturates rather than wraps.
    pub(crate) fn offset_i64(&self) -> i64 {
        i64::try_from(self.offset()).unwrap_or(i64::MAX)
    }

    /// Adds stream bytes (to the backlog if there is one).
    pub(crate) fn append(&mut self, bytes: &[u8]) {
        match &mut self.backlog {
            Some(b) => b.append(bytes),
            None => self.offset += bytes.len() as u64,
        }
    }

    /// Makes the backlog if there is none (the first replica), `size` bytes.
    pub(crate) fn ensure_backlog(&mut self, size: usize) {
        if self.backlog.is_none() {
            self.backlog = Some(Backlog::new(size, self.offset));
        }
    }

    /// Whether a replica asking `PSYNC replid offset` can continue from the backlog.
    pub(crate) fn can_continue(&self, replid: &str, offset: i64) -> Option<Bytes> {
        let ours =
            replid == self.replid || (replid == self.replid2 && offset <= self.second_offset);
        if !ours || offset < 0 {
            return None;
        }
        self.backlog.as_ref()?.since(offset as u64)
    }

    /// Promotion (REPLICAOF NO ONE): a new id, the old one kept as the second so replicas of
    /// the old master can continue with us.
    pub(crate) fn shift_replid(&mut self) {
        self.replid2 = std::mem::replace(&mut self.replid, new_replid());
        self.second_offset = self.offset_i64().saturating_add(1);
    }

    /// How many replicas have acknowledged `offset`.
    pub(crate) fn acked(&self, offset: u64) -> usize {
        self.replicas.iter().filter(|r| r.ack >= offset).count()
    }

    /// Becomes a master (REPLICAOF NO ONE, a PSYNC FAILOVER from the master, an aborted
    /// failover): a new replication id, the old one kept for the replicas that followed it,
    /// and from now on this server's own writes make the stream (`feed`) its replicas follow.
    pub(crate) fn promote(&mut self, feed: &mut Propagation) {
        self.shift_replid();
        self.role = Role::Master;
        self.changed = true;
        feed.start_repl_feed();
    }

    /// Follows `host:port` (REPLICAOF, a failover): the link is made by the next cron. A
    /// replica's stream is its master's, relayed verbatim: its own commands no longer go
    /// into `feed`.
    pub(crate) fn follow(&mut self, host: String, port: u16, feed: &mut Propagation) {
        self.role = Role::Replica(MasterLink {
            host,
            port,
            state: LinkState::Connect,
            conn: None,
            last_io_ms: 0,
        });
        self.changed = true;
        feed.stop_repl_feed();
    }

    /// Ends a failover that did not happen: a server that had begun to follow the target is
    /// a master again (with a new replication id, as Redis's `replicationUnsetMaster`), and
    /// the held writes go on.
    pub(crate) fn abort_failover(&mut self, why: &str, feed: &mut Propagation) {
        let Some(failover) = self.failover.take() else {
            return;
        };
        match &failover.target {
            Some((host, port)) => log::info!("FAILOVER to {host}:{port} aborted: {why}"),
            None => log::info!("FAILOVER to any replica aborted: {why}"),
        }
        if failover.in_progress {
            self.promote(feed);
        }
    }

    /// Whether writes are held for a failover.
    pub(crate) fn failing_over(&self) -> bool {
        self.failover.is_some()
    }

    /// Whether this server follows a master.
    pub(crate) fn is_replica(&self) -> bool {
        matches!(self.role, Role::Replica(_))
    }
}

/// INFO's `# Replication` section, with Redis 7.0's fields.
pub(crate) fn info_section(repl: &Repl, now_ms: u64) -> String {
    let mut s = String::from("# Replication\r\n");
    match &repl.role {
        Role::Master => s.push_str("role:master\r\n"),
        Role::Replica(link) => {
            let up = link.state == LinkState::Connected;
            s.push_str(&format!(
                "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
                 master_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\n\
                 slave_read_repl_offset:{}\r\nslave_repl_offset:{}\r\nslave_priority:100\r\n\
                 slave_read_only:1\r\nreplica_announced:1\r\n",
                link.host,
                link.port,
                if up { "up" } else { "down" },
                if up {
                    (now_ms.saturating_sub(link.last_io_ms) / 1000) as i64
                } else {
                    -1
                },
                u8::from(link.state == LinkState::Sync),
                repl.offset(),
                repl.offset(),
            ));
        }
    }
    s.push_str(&format!("connected_slaves:{}\r\n", repl.replicas.len()));
    for (i, r) in repl.replicas.iter().enumerate() {
        s.push_str(&format!(
            "slave{i}:ip={},port={},state=online,offset={},lag={}\r\n",
            r.ip,
            r.port,
            r.ack,
            now_ms.saturating_sub(r.ack_ms) / 1000
        ));
    }
    let (active, size, first, histlen) = match &repl.backlog {
        Some(b) => (1, b.size(), b.first_byte(), b.histlen()),
        None => (0, 1 << 20, 0, 0),
    };
    s.push_str(&format!(
        "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\n\
         master_repl_offset:{}\r\nsecond_repl_offset:{}\r\nrepl_backlog_active:{active}\r\n\
         repl_backlog_size:{size}\r\nrepl_backlog_first_byte_offset:{first}\r\n\
         repl_backlog_histlen:{histlen}\r\n\r\n",
        match &repl.failover {
            None => "no-failover",
            Some(f) if f.in_progress => "failover-in-progress",
            Some(_) => "waiting-for-sync",
        },
        repl.replid,
        repl.replid2,
        repl.offset(),
        repl.second_offset,
    ));
    s
}

/// A new random replication id: 40 hex digits, as Redis's `getRandomHexChars`.
pub(crate) fn new_replid() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(40);
    while out.len() < 40 {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_is_not_counted_against_the_stream_limit() {
        let mut a = Attached {
            conn: spindle_reactor::ConnId::from_parts(1, 1),
            ip: String::new(),
            port: 0,
            ack: 0,
            ack_ms: 0,
            sync_bytes: 1000,
            streamed: 0,
        };
        assert_eq!(a.stream_queued(1000), 0, "only the snapshot waits");
        a.streamed = 300;
        assert_eq!(a.stream_queued(1300), 300, "nothing sent yet");
        assert_eq!(a.stream_queued(700), 300, "the snapshot half sent");
        assert_eq!(
            a.stream_queued(200),
            200,
            "the snapshot sent, some stream too"
        );
        assert_eq!(a.stream_queued(0), 0);
    }

    #[test]
    fn ids_offsets_and_partial_resync_decisions() {
        let mut r = Repl::new();
        assert_eq!(r.replid.len(), 40);
        assert!(r.replid.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(r.replid, new_replid());
        r.append(b"abc");
        assert_eq!(r.offset(), 3);
        r.ensure_backlog(1 << 20);
        r.append(b"defg");
        assert_eq!(r.offset(), 7);
        let id = r.replid.clone();
        assert_eq!(r.can_continue(&id, 4).as_deref(), Some(&b"defg"[..]));
        assert_eq!(r.can_continue(&id, 8).as_deref(), Some(&b""[..]));
        assert_eq!(r.can_continue(&id, 3), None, "before the backlog began");
        assert_eq!(r.can_continue("?", -1), None);
        r.shift_replid();
        assert_ne!(r.replid, id);
        assert_eq!(r.can_continue(&id, 8).as_deref(), Some(&b""[..]));
        r.append(b"h");
        assert_eq!(r.can_continue(&id, 9), None, "past the old id's end");
    }
}
