//! Redis 7.0's container commands (CONFIG, CLIENT…) and their subcommands: the arity check
//! of a subcommand, and the name a call is counted under in INFO commandstats.

use bytes::Bytes;

use super::acl;
use super::ctx::Command;
use crate::error::CmdError;

/// Redis 7.0's container commands and the arity of each of their subcommands (as the table's
/// arities, the container's name and the subcommand's included), from its command JSON files.
pub(crate) static SUBCOMMANDS: &[(&str, &[(&str, i32)])] = &[
    ("acl", acl::SUBCOMMANDS),
    ("cluster", CLUSTER),
    ("module", MODULE),
    (
        "latency",
        &[
            ("doctor", 2),
            ("graph", 3),
            ("help", 2),
            ("histogram", -2),
            ("history", 3),
            ("latest", 2),
            ("reset", -2),
        ],
    ),
    (
        "slowlog",
        &[("get", -2), ("help", 2), ("len", 2), ("reset", 2)],
    ),
    (
        "client",
        &[
            ("caching", 3),
            ("getname", 2),
            ("getredir", 2),
            ("help", 2),
            ("id", 2),
            ("info", 2),
            ("kill", -3),
            ("list", -2),
            ("no-evict", 3),
            ("pause", -3),
            ("reply", 3),
            ("setname", 3),
            ("tracking", -3),
            ("trackinginfo", 2),
            ("unblock", -3),
            ("unpause", 2),
        ],
    ),
    (
        "command",
        &[
            ("count", 2),
            ("docs", -2),
            ("getkeys", -4),
            ("getkeysandflags", -4),
            ("help", 2),
            ("info", -2),
            ("list", -2),
        ],
    ),
    (
        "config",
        &[
            ("get", -3),
            ("help", 2),
            ("resetstat", 2),
            ("rewrite", 2),
            ("set", -4),
        ],
    ),
    (
        "memory",
        &[
            ("doctor", 2),
            ("help", 2),
            ("malloc-stats", 2),
            ("purge", 2),
            ("stats", 2),
            ("usage", -3),
        ],
    ),
    (
        "object",
        &[
            ("encoding", 3),
            ("freq", 3),
            ("help", 2),
            ("idletime", 3),
            ("refcount", 3),
        ],
    ),
    (
        "function",
        &[
            ("delete", 3),
            ("dump", 2),
            ("flush", -2),
            ("help", 2),
            ("kill", 2),
            ("list", -2),
            ("load", -3),
            ("restore", -3),
            ("stats", 2),
        ],
    ),
    (
        "pubsub",
        &[
            ("channels", -2),
            ("help", 2),
            ("numpat", 2),
            ("numsub", -2),
            ("shardchannels", -2),
            ("shardnumsub", -2),
        ],
    ),
    (
        "script",
        &[
            ("debug", 3),
            ("exists", -3),
            ("flush", -2),
            ("help", 2),
            ("kill", 2),
            ("load", 3),
        ],
    ),
    (
        "xgroup",
        &[
            ("create", -5),
            ("createconsumer", 5),
            ("delconsumer", 5),
            ("destroy", 4),
            ("help", 2),
            ("setid", -5),
        ],
    ),
    (
        "xinfo",
        &[("consumers", 4), ("groups", 3), ("help", 2), ("stream", -3)],
    ),
];

/// CLUSTER's subcommands and their arities (Redis 7.0.15's command table).
static CLUSTER: &[(&str, i32)] = &[
    ("addslots", -3),
    ("addslotsrange", -4),
    ("bumpepoch", 2),
    ("count-failure-reports", 3),
    ("countkeysinslot", 3),
    ("delslots", -3),
    ("delslotsrange", -4),
    ("failover", -2),
    ("flushslots", 2),
    ("forget", 3),
    ("getkeysinslot", 4),
    ("help", 2),
    ("info", 2),
    ("keyslot", 3),
    ("links", 2),
    ("meet", -4),
    ("myid", 2),
    ("nodes", 2),
    ("replicas", 3),
    ("replicate", 3),
    ("reset", -2),
    ("saveconfig", 2),
    ("set-config-epoch", 3),
    ("setslot", -4),
    ("shards", 2),
    ("slaves", 3),
    ("slots", 2),
];

/// MODULE's subcommands and their arities.
static MODULE: &[(&str, i32)] = &[
    ("help", 2),
    ("list", 2),
    ("load", -3),
    ("loadex", -3),
    ("unload", 3),
];

/// True for a command with subcommands (CONFIG, CLIENT…).
pub(crate) fn is_container(command: &Command) -> bool {
    SUBCOMMANDS.iter().any(|(name, _)| *name == command.name)
}

/// The name a call is counted under in INFO commandstats: the command's, with the
/// subcommand's for a container's known subcommand (`("config", Some("get"))`).
pub(crate) fn stat_key(command: &Command, args: &[Bytes]) -> (&'static str, Option<&'static str>) {
    let sub = SUBCOMMANDS
        .iter()
        .find(|(name, _)| *name == command.name)
        .and_then(|(_, subs)| {
            let given = args.get(1)?;
            subs.iter()
                .find(|(sub, _)| given.eq_ignore_ascii_case(sub.as_bytes()))
                .map(|(sub, _)| *sub)
        });
    (command.name, sub)
}

/// The refusal of a call to a container command (CLIENT, CONFIG, PUBSUB…) naming a subcommand
/// it does not have, or giving one the wrong number of arguments, in Redis's words; `None` for
/// any other call. Redis resolves subcommands when it looks a command up, so such a call is
/// refused before it runs or is queued in MULTI (EXEC then answers EXECABORT).
pub(crate) fn subcommand_error(command: &Command, args: &[Bytes]) -> Option<CmdError> {
    let (_, subs) = SUBCOMMANDS.iter().find(|(name, _)| *name == command.name)?;
    let given = args.get(1)?;
    let Some((sub, arity)) = subs
        .iter()
        .find(|(sub, _)| given.eq_ignore_ascii_case(sub.as_bytes()))
    else {
        return Some(CmdError::err(format!(
            "unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(given.get(..given.len().min(128)).unwrap_or_default()),
            command.name.to_ascii_uppercase()
        )));
    };
    let fits = if *arity >= 0 {
        args.len() == arity.unsigned_abs() as usize
    } else {
        args.len() >= arity.unsigned_abs() as usize
    };
    (!fits).then(|| {
        CmdError::err(format!(
            "wrong number of arguments for '{}|{sub}' command",
            command.name
        ))
    })
}
