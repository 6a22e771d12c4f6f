//! [`Client`]: one connection's state as the commands see it (selected database, protocol,
//! transaction queue, subscriptions, a pending block), with no IO of its own.

use std::collections::HashSet;

use bytes::Bytes;
use spindle_protocols::resp::Version;
use spindle_reactor::ConnId;

use crate::blocked::Block;

/// A connection's state as commands see it.
#[derive(Debug)]
pub struct Client {
    /// CLIENT ID.
    pub(crate) id: u64,
    /// The selected database.
    pub(crate) db: usize,
    /// RESP2, or RESP3 after `HELLO 3`.
    pub(crate) resp: Version,
    /// CLIENT SETNAME.
    pub(crate) name: Option<String>,
    /// True once AUTH succeeded, or when no password is required.
    pub(crate) authenticated: bool,
    /// The ACL user the connection runs as (`default` until AUTH names another).
    pub(crate) user: Vec<u8>,
    /// Set by QUIT: close once the reply is flushed.
    pub(crate) closing: bool,
    /// The reactor's id of this connection.
    pub(crate) conn: Option<ConnId>,
    /// Messages for other connections (PUBLISH), written by the session after the command.
    pub(crate) outbox: Vec<(ConnId, Bytes)>,
    /// Commands queued since MULTI; `None` outside a transaction.
    pub(crate) multi: Option<Vec<Vec<Bytes>>>,
    /// A command queued in this transaction was refused (EXEC will answer EXECABORT).
    pub(crate) multi_error: bool,
    /// WATCHed keys: database, key, and whether the key existed when watched.
    pub(crate) watched: Vec<(usize, Bytes, bool)>,
    /// Channels subscribed to.
    pub(crate) channels: HashSet<Bytes>,
    /// Patterns subscribed to.
    pub(crate) patterns: HashSet<Bytes>,
    /// Shard channels subscribed to (SSUBSCRIBE).
    pub(crate) shard_channels: HashSet<Bytes>,
    /// In MONITOR mode.
    pub(crate) monitor: bool,
    /// Set by a blocking command that found nothing: the session parks the client.
    pub(crate) blocked: Option<Block>,
    /// True while EXEC runs the queue (blocking commands then do not block).
    pub(crate) in_exec: bool,
    /// The client a script's commands run as (MONITOR shows it as `lua`).
    pub(crate) script: bool,
    /// Connections CLIENT KILL asked to close.
    pub(crate) kill: Vec<ConnId>,
    /// CLIENT REPLY.
    pub(crate) reply: ReplyMode,
    /// The last command run (CLIENT LIST's `cmd=`), its table name.
    pub(crate) last_cmd: &'static str,
    /// The running command's reply is dropped (a replica's REPLCONF ACK gets none).
    pub(crate) reply_suppressed: bool,
    /// A replica's listening port (REPLCONF listening-port), for ROLE and INFO.
    pub(crate) repl_port: u16,
    /// A PSYNC/SYNC the session must finish (the connection becomes a replica's).
    pub(crate) sync: Option<crate::repl::SyncRequest>,
    /// A WAIT to park: (offset to reach, replicas wanted, timeout in ms, 0 for none).
    pub(crate) wait: Option<(u64, usize, u64)>,
    /// Commands from this client are obeyed as they come: a master's stream or the AOF being
    /// loaded (no READONLY, no refusal of what the writer already accepted).
    pub(crate) obey: bool,
}

/// CLIENT REPLY's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplyMode {
    /// Replies are sent.
    On,
    /// Replies are dropped.
    Off,
    /// The next command's reply is dropped.
    Skip,
}

impl Client {
    /// Client `id`, on database 0, speaking RESP2.
    pub(crate) fn new(id: u64, authenticated: bool) -> Self {
        Client {
            id,
            db: 0,
            resp: Version::Resp2,
            name: None,
            authenticated,
            user: b"default".to_vec(),
            closing: false,
            conn: None,
            outbox: Vec::new(),
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard_channels: HashSet::new(),
            monitor: false,
            blocked: None,
            in_exec: false,
            script: false,
            last_cmd: "NULL",
            kill: Vec::new(),
            reply: ReplyMode::On,
            reply_suppressed: false,
            repl_port: 0,
            sync: None,
            wait: None,
            obey: false,
        }
    }

    /// Channels plus patterns subscribed to.
    pub(crate) fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }
}
