//! The store's configuration: every directive redis-server 7.0.15 knows (names, old names kept
//! as aliases, defaults, types, bounds and which may change at run time, from its
//! `standardConfig` table), given as command-line flags (`--port 6380`) or in a file
//! (`spindle kv redis.conf`), read and changed at run time with CONFIG GET/SET and written back
//! with CONFIG REWRITE. An unknown directive is an error that names it.
//!
//! Layout:
//!
//! | item | what |
//! |---|---|
//! | [`DIRECTIVES`] | the table: name, alias, flags, kind, default |
//! | `parse_*` | one value per kind, to the text CONFIG GET shows (Redis's `set`/`get` pair) |
//! | [`Config`] | the current texts, typed copies of those read on hot paths, the file |
//! | `rewrite_text` | Redis's `rewriteConfig`: the old file's lines, updated and appended |
//!
//! Every value is kept as the text CONFIG GET answers with; a directive spindle acts on is
//! also parsed into a typed field by `refresh`, which runs after every change.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// The Redis version we answer as (INFO, HELLO, startup errors): the one whose behaviour we
/// follow.
pub const REDIS_VERSION: &str = "7.0.15";

/// Read at startup only: CONFIG SET refuses it.
const IMMUTABLE: u8 = 1;
/// CONFIG SET refuses it unless `enable-protected-configs` allows it.
const PROTECTED: u8 = 2;
/// CONFIG GET shows it only when asked by its exact name.
const HIDDEN: u8 = 4;
/// Takes several words (`save 3600 1 300 100`).
const MULTI_ARG: u8 = 8;

/// How a numeric directive reads its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A plain integer (`string2ll`).
    Int,
    /// A byte count with an optional unit (`5mb`; `memtoull`).
    Mem,
    /// A byte count or a percentage of `maxmemory` (kept as a negative number, as Redis does).
    MemOrPercent,
    /// An octal number (`unixsocketperm 700`).
    Octal,
}

/// The check a string directive applies to its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrCheck {
    /// Anything, the empty string included (written back even when empty).
    Any,
    /// Anything; empty means unset (not written back).
    NullIfEmpty,
    /// A host name of letters, digits, hyphens and dots; empty means unset.
    Hostname,
    /// A file name without a directory (`dbfilename`).
    BaseName,
    /// A non-empty file name without a directory (`appendfilename`).
    AofFile,
    /// A non-empty directory name without a parent (`appenddirname`).
    AofDir,
    /// A process-title template whose `{variables}` are known.
    ProcTitle,
}

/// The directives whose values have a shape of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Dir,
    Save,
    OutputLimits,
    OomScores,
    KeyspaceEvents,
    Bind,
    ReplicaOf,
    Percentiles,
}

/// A directive's type, as Redis's config table declares it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `yes` or `no`.
    Bool,
    /// A string.
    Str(StrCheck),
    /// One name of a list, or (with [`MULTI_ARG`]) several, as bit flags.
    Enum(&'static [(&'static str, u32)]),
    /// A number within `min..=max`; `unsigned` ones compare as C's unsigned types do.
    Num {
        unit: Unit,
        unsigned: bool,
        min: i128,
        max: i128,
    },
    /// One of the special shapes.
    Special(Special),
}

/// One row of the table.
#[derive(Debug)]
struct Directive {
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    kind: Kind,
    /// The default, as CONFIG GET shows it.
    default: &'static str,
}

/// `maxmemory-policy`'s names, in the order Redis lists them in its error.
const POLICIES: &[(&str, u32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
const SYSLOG_FACILITIES: &[(&str, u32)] = &[
    ("user", 0),
    ("local0", 1),
    ("local1", 2),
    ("local2", 3),
    ("local3", 4),
    ("local4", 5),
    ("local5", 6),
    ("local6", 7),
    ("local7", 8),
];
const LOGLEVELS: &[(&str, u32)] = &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const SUPERVISED: &[(&str, u32)] = &[("upstart", 0), ("systemd", 1), ("auto", 2), ("no", 3)];
const FSYNC: &[(&str, u32)] = &[("everysec", 0), ("always", 1), ("no", 2)];
/// Bit flags (several may be given at once): `default` is none of them.
const SHUTDOWN_ON_SIG: &[(&str, u32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
const DISKLESS_LOAD: &[(&str, u32)] = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const TLS_AUTH_CLIENTS: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("optional", 2)];
/// `yes` and `relative` are one value: CONFIG GET shows the first name of a value.
const OOM_SCORE_ADJ: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, u32)] = &[("allchannels", 1), ("resetchannels", 0)];
const SANITIZE_DUMP: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
const PROTECTED_ACTION: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("local", 2)];
const ENDPOINT_TYPE: &[(&str, u32)] = &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR: &[(&str, u32)] = &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];

const INT_MAX: i128 = i32::MAX as i128;
const INT_MIN: i128 = i32::MIN as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;

const fn bool_(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Bool,
        default,
    }
}
const fn str_(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    check: StrCheck,
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Str(check),
        default,
    }
}
const fn enum_(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    names: &'static [(&'static str, u32)],
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Enum(names),
        default,
    }
}
#[allow(clippy::too_many_arguments)]
const fn num(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    unit: Unit,
    unsigned: bool,
    min: i128,
    max: i128,
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Num {
            unit,
            unsigned,
            min,
            max,
        },
        default,
    }
}
const fn special(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u8,
    which: Special,
    default: &'static str,
) -> Directive {
    Directive {
        name,
        alias,
        flags,
        kind: Kind::Special(which),
        default,
    }
}

use Unit::{Int, Mem, MemOrPercent, Octal};

/// Every directive redis-server 7.0.15 knows (its `standardConfig` table, TLS ones included
/// as Debian builds it), then spindle's own; defaults as CONFIG GET shows them.
#[rustfmt::skip]
static DIRECTIVES: &[Directive] = &[
    bool_("rdbchecksum", None, IMMUTABLE, "yes"),
    bool_("daemonize", None, IMMUTABLE, "no"),
    bool_("io-threads-do-reads", None, IMMUTABLE, "no"),
    bool_("always-show-logo", None, IMMUTABLE, "no"),
    // Spindle has no protected mode: it binds 127.0.0.1 unless told otherwise.
    bool_("protected-mode", None, 0, "no"),
    bool_("rdbcompression", None, 0, "yes"),
    bool_("rdb-del-sync-files", None, 0, "no"),
    bool_("activerehashing", None, 0, "yes"),
    bool_("stop-writes-on-bgsave-error", None, 0, "yes"),
    bool_("set-proc-title", None, IMMUTABLE, "yes"),
    bool_("dynamic-hz", None, 0, "yes"),
    bool_("lazyfree-lazy-eviction", None, 0, "no"),
    bool_("lazyfree-lazy-expire", None, 0, "no"),
    bool_("lazyfree-lazy-server-del", None, 0, "no"),
    bool_("lazyfree-lazy-user-del", None, 0, "no"),
    bool_("lazyfree-lazy-user-flush", None, 0, "no"),
    bool_("repl-disable-tcp-nodelay", None, 0, "no"),
    bool_("repl-diskless-sync", None, 0, "yes"),
    bool_("aof-rewrite-incremental-fsync", None, 0, "yes"),
    bool_("no-appendfsync-on-rewrite", None, 0, "no"),
    bool_("cluster-require-full-coverage", None, 0, "yes"),
    bool_("rdb-save-incremental-fsync", None, 0, "yes"),
    bool_("aof-load-truncated", None, 0, "yes"),
    bool_("aof-use-rdb-preamble", None, 0, "yes"),
    bool_("aof-timestamp-enabled", None, 0, "no"),
    bool_("cluster-replica-no-failover", Some("cluster-slave-no-failover"), 0, "no"),
    bool_("replica-lazy-flush", Some("slave-lazy-flush"), 0, "no"),
    bool_("replica-serve-stale-data", Some("slave-serve-stale-data"), 0, "yes"),
    bool_("replica-read-only", Some("slave-read-only"), 0, "yes"),
    bool_("replica-ignore-maxmemory", Some("slave-ignore-maxmemory"), 0, "yes"),
    bool_("jemalloc-bg-thread", None, 0, "yes"),
    bool_("activedefrag", None, 0, "no"),
    bool_("syslog-enabled", None, IMMUTABLE, "no"),
    bool_("cluster-enabled", None, IMMUTABLE, "no"),
    bool_("appendonly", None, 0, "no"),
    bool_("cluster-allow-reads-when-down", None, 0, "no"),
    bool_("cluster-allow-pubsubshard-when-down", None, 0, "yes"),
    bool_("crash-log-enabled", None, 0, "yes"),
    bool_("crash-memcheck-enabled", None, 0, "yes"),
    bool_("use-exit-on-panic", None, HIDDEN, "no"),
    bool_("disable-thp", None, IMMUTABLE, "yes"),
    bool_("cluster-allow-replica-migration", None, 0, "yes"),
    bool_("replica-announced", None, 0, "yes"),
    bool_("latency-tracking", None, 0, "yes"),
    bool_("aof-disable-auto-gc", None, 0, "no"),
    bool_("replica-ignore-disk-write-errors", None, 0, "no"),
    str_("aclfile", None, IMMUTABLE, StrCheck::Any, ""),
    str_("unixsocket", None, IMMUTABLE, StrCheck::NullIfEmpty, ""),
    str_("pidfile", None, IMMUTABLE, StrCheck::NullIfEmpty, ""),
    str_("replica-announce-ip", Some("slave-announce-ip"), 0, StrCheck::NullIfEmpty, ""),
    str_("masteruser", None, 0, StrCheck::NullIfEmpty, ""),
    str_("cluster-announce-ip", None, 0, StrCheck::NullIfEmpty, ""),
    str_("cluster-config-file", None, IMMUTABLE, StrCheck::Any, "nodes.conf"),
    str_("cluster-announce-hostname", None, 0, StrCheck::Hostname, ""),
    str_("syslog-ident", None, IMMUTABLE, StrCheck::Any, "redis"),
    str_("dbfilename", None, PROTECTED, StrCheck::BaseName, "dump.rdb"),
    str_("appendfilename", None, IMMUTABLE, StrCheck::AofFile, "appendonly.aof"),
    str_("appenddirname", None, IMMUTABLE, StrCheck::AofDir, "appendonlydir"),
    str_("server_cpulist", None, IMMUTABLE, StrCheck::NullIfEmpty, ""),
    str_("bio_cpulist", None, IMMUTABLE, StrCheck::NullIfEmpty, ""),
    str_("aof_rewrite_cpulist", None, IMMUTABLE, StrCheck::NullIfEmpty, ""),
    str_("bgsave_cpulist", None, IMMUTABLE, StrCheck::NullIfEmpty, ""),
    str_("ignore-warnings", None, 0, StrCheck::Any, ""),
    str_("proc-title-template", None, 0, StrCheck::ProcTitle, "{title} {listen-addr} {server-mode}"),
    str_("bind-source-addr", None, 0, StrCheck::NullIfEmpty, ""),
    str_("logfile", None, IMMUTABLE, StrCheck::Any, ""),
    str_("masterauth", None, 0, StrCheck::NullIfEmpty, ""),
    str_("requirepass", None, 0, StrCheck::NullIfEmpty, ""),
    enum_("supervised", None, IMMUTABLE, SUPERVISED, "no"),
    enum_("syslog-facility", None, IMMUTABLE, SYSLOG_FACILITIES, "local0"),
    enum_("repl-diskless-load", None, 0, DISKLESS_LOAD, "disabled"),
    enum_("loglevel", None, 0, LOGLEVELS, "notice"),
    enum_("maxmemory-policy", None, 0, POLICIES, "noeviction"),
    enum_("appendfsync", None, 0, FSYNC, "everysec"),
    enum_("oom-score-adj", None, 0, OOM_SCORE_ADJ, "no"),
    enum_("acl-pubsub-default", None, 0, ACL_PUBSUB_DEFAULT, "resetchannels"),
    enum_("sanitize-dump-payload", None, 0, SANITIZE_DUMP, "no"),
    enum_("enable-protected-configs", None, IMMUTABLE, PROTECTED_ACTION, "no"),
    enum_("enable-debug-command", None, IMMUTABLE, PROTECTED_ACTION, "no"),
    enum_("enable-module-command", None, IMMUTABLE, PROTECTED_ACTION, "no"),
    enum_("cluster-preferred-endpoint-type", None, 0, ENDPOINT_TYPE, "ip"),
    enum_("propagation-error-behavior", None, 0, PROPAGATION_ERROR, "ignore"),
    enum_("shutdown-on-sigint", None, MULTI_ARG, SHUTDOWN_ON_SIG, "default"),
    enum_("shutdown-on-sigterm", None, MULTI_ARG, SHUTDOWN_ON_SIG, "default"),
    // Redis allows up to INT_MAX databases; each costs a keyspace here, so fewer.
    num("databases", None, IMMUTABLE, Int, false, 1, 100_000, "16"),
    num("port", None, 0, Int, false, 0, 65535, "6379"),
    num("io-threads", None, IMMUTABLE, Int, false, 1, 128, "1"),
    num("auto-aof-rewrite-percentage", None, 0, Int, false, 0, INT_MAX, "100"),
    num("cluster-replica-validity-factor", Some("cluster-slave-validity-factor"), 0, Int, false, 0, INT_MAX, "10"),
    num("list-max-listpack-size", Some("list-max-ziplist-size"), 0, Int, false, INT_MIN, INT_MAX, "-2"),
    num("tcp-keepalive", None, 0, Int, false, 0, INT_MAX, "300"),
    num("cluster-migration-barrier", None, 0, Int, false, 0, INT_MAX, "1"),
    num("active-defrag-cycle-min", None, 0, Int, false, 1, 99, "1"),
    num("active-defrag-cycle-max", None, 0, Int, false, 1, 99, "25"),
    num("active-defrag-threshold-lower", None, 0, Int, false, 0, 1000, "10"),
    num("active-defrag-threshold-upper", None, 0, Int, false, 0, 1000, "100"),
    num("lfu-log-factor", None, 0, Int, false, 0, INT_MAX, "10"),
    num("lfu-decay-time", None, 0, Int, false, 0, INT_MAX, "1"),
    num("replica-priority", Some("slave-priority"), 0, Int, false, 0, INT_MAX, "100"),
    num("repl-diskless-sync-delay", None, 0, Int, false, 0, INT_MAX, "5"),
    num("maxmemory-samples", None, 0, Int, false, 1, INT_MAX, "5"),
    num("maxmemory-eviction-tenacity", None, 0, Int, false, 0, 100, "10"),
    num("timeout", None, 0, Int, false, 0, INT_MAX, "0"),
    num("replica-announce-port", Some("slave-announce-port"), 0, Int, false, 0, 65535, "0"),
    num("tcp-backlog", None, IMMUTABLE, Int, false, 0, INT_MAX, "511"),
    num("cluster-port", None, IMMUTABLE, Int, false, 0, 65535, "0"),
    num("cluster-announce-bus-port", None, 0, Int, false, 0, 65535, "0"),
    num("cluster-announce-port", None, 0, Int, false, 0, 65535, "0"),
    num("cluster-announce-tls-port", None, 0, Int, false, 0, 65535, "0"),
    num("repl-timeout", None, 0, Int, false, 1, INT_MAX, "60"),
    num("repl-ping-replica-period", Some("repl-ping-slave-period"), 0, Int, false, 1, INT_MAX, "10"),
    num("list-compress-depth", None, 0, Int, false, 0, INT_MAX, "0"),
    num("rdb-key-save-delay", None, HIDDEN, Int, false, INT_MIN, INT_MAX, "0"),
    num("key-load-delay", None, HIDDEN, Int, false, INT_MIN, INT_MAX, "0"),
    num("active-expire-effort", None, 0, Int, false, 1, 10, "1"),
    num("hz", None, 0, Int, false, 0, INT_MAX, "10"),
    num("min-replicas-to-write", Some("min-slaves-to-write"), 0, Int, false, 0, INT_MAX, "0"),
    num("min-replicas-max-lag", Some("min-slaves-max-lag"), 0, Int, false, 0, INT_MAX, "10"),
    num("watchdog-period", None, HIDDEN, Int, false, 0, INT_MAX, "0"),
    num("shutdown-timeout", None, 0, Int, false, 0, INT_MAX, "10"),
    num("repl-diskless-sync-max-replicas", None, 0, Int, false, 0, INT_MAX, "0"),
    num("maxclients", None, 0, Int, true, 1, UINT_MAX, "10000"),
    num("unixsocketperm", None, IMMUTABLE, Octal, true, 0, 0o777, "0"),
    num("socket-mark-id", None, IMMUTABLE, Int, true, 0, UINT_MAX, "0"),
    num("active-defrag-max-scan-fields", None, 0, Int, false, 1, LONG_MAX, "1000"),
    num("slowlog-max-len", None, 0, Int, false, 0, LONG_MAX, "128"),
    num("acllog-max-len", None, 0, Int, false, 0, LONG_MAX, "128"),
    num("busy-reply-threshold", Some("lua-time-limit"), 0, Int, false, 0, LONG_MAX, "5000"),
    num("cluster-node-timeout", None, 0, Int, false, 0, LONG_MAX, "15000"),
    num("slowlog-log-slower-than", None, 0, Int, false, -1, LONG_MAX, "10000"),
    num("latency-monitor-threshold", None, 0, Int, false, 0, LONG_MAX, "0"),
    num("proto-max-bulk-len", None, 0, Mem, false, 1024 * 1024, LONG_MAX, "536870912"),
    num("stream-node-max-entries", None, 0, Int, false, 0, LONG_MAX, "100"),
    num("repl-backlog-size", None, 0, Mem, false, 1, LONG_MAX, "1048576"),
    num("maxmemory", None, 0, Mem, true, 0, ULLONG_MAX, "0"),
    num("cluster-link-sendbuf-limit", None, 0, Mem, true, 0, ULLONG_MAX, "0"),
    num("hash-max-listpack-entries", Some("hash-max-ziplist-entries"), 0, Int, true, 0, LONG_MAX, "512"),
    num("set-max-intset-entries", None, 0, Int, true, 0, LONG_MAX, "512"),
    num("zset-max-listpack-entries", Some("zset-max-ziplist-entries"), 0, Int, true, 0, LONG_MAX, "128"),
    num("active-defrag-ignore-bytes", None, 0, Mem, true, 1, LONG_MAX, "104857600"),
    num("hash-max-listpack-value", Some("hash-max-ziplist-value"), 0, Mem, true, 0, LONG_MAX, "64"),
    num("stream-node-max-bytes", None, 0, Mem, true, 0, LONG_MAX, "4096"),
    num("zset-max-listpack-value", Some("zset-max-ziplist-value"), 0, Mem, true, 0, LONG_MAX, "64"),
    num("hll-sparse-max-bytes", None, 0, Mem, true, 0, LONG_MAX, "3000"),
    num("tracking-table-max-keys", None, 0, Int, true, 0, LONG_MAX, "1000000"),
    num("client-query-buffer-limit", None, 0, Mem, true, 1024 * 1024, LONG_MAX, "1073741824"),
    num("maxmemory-clients", None, 0, MemOrPercent, false, -100, LONG_MAX, "0"),
    num("repl-backlog-ttl", None, 0, Int, false, 0, LONG_MAX, "3600"),
    num("auto-aof-rewrite-min-size", None, 0, Mem, false, 0, LONG_MAX, "67108864"),
    num("loading-process-events-interval-bytes", None, HIDDEN, Int, false, 1024, INT_MAX, "2097152"),
    num("tls-port", None, 0, Int, false, 0, 65535, "0"),
    num("tls-session-cache-size", None, 0, Int, false, 0, INT_MAX, "20480"),
    num("tls-session-cache-timeout", None, 0, Int, false, 0, INT_MAX, "300"),
    bool_("tls-cluster", None, 0, "no"),
    bool_("tls-replication", None, 0, "no"),
    enum_("tls-auth-clients", None, 0, TLS_AUTH_CLIENTS, "yes"),
    bool_("tls-prefer-server-ciphers", None, 0, "no"),
    bool_("tls-session-caching", None, 0, "yes"),
    str_("tls-cert-file", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-key-file", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-key-file-pass", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-client-cert-file", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-client-key-file", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-client-key-file-pass", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-dh-params-file", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-ca-cert-file", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-ca-cert-dir", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-protocols", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-ciphers", None, 0, StrCheck::NullIfEmpty, ""),
    str_("tls-ciphersuites", None, 0, StrCheck::NullIfEmpty, ""),
    // Spindle keeps its files in a directory of its own rather than the working directory.
    special("dir", None, PROTECTED, Special::Dir, "./spindle-data"),
    // No save points unless asked: spindle's default is Redis's with `--save ""`.
    special("save", None, MULTI_ARG, Special::Save, ""),
    special(
        "client-output-buffer-limit",
        None,
        MULTI_ARG,
        Special::OutputLimits,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    special("oom-score-adj-values", None, MULTI_ARG, Special::OomScores, "0 200 800"),
    special("notify-keyspace-events", None, 0, Special::KeyspaceEvents, ""),
    // Loopback only unless told otherwise (Redis: `* -::*` guarded by protected mode).
    special("bind", None, MULTI_ARG, Special::Bind, "127.0.0.1"),
    special("replicaof", Some("slaveof"), IMMUTABLE | MULTI_ARG, Special::ReplicaOf, ""),
    special(
        "latency-tracking-info-percentiles",
        None,
        MULTI_ARG,
        Special::Percentiles,
        "50 99 99.9",
    ),
    // Spindle's own: the reactor's busy-poll window in microseconds (0: always sleep when idle).
    num("busy-poll", None, IMMUTABLE, Int, false, 0, LONG_MAX, "200"),
];

/// Finds a directive by its name or alias, in any case; the flag says it was the alias.
fn lookup(name: &str) -> Option<(&'static Directive, bool)> {
    static BY_NAME: std::sync::OnceLock<HashMap<&'static str, (usize, bool)>> =
        std::sync::OnceLock::new();
    let map = BY_NAME.get_or_init(|| {
        let mut map = HashMap::new();
        for (i, d) in DIRECTIVES.iter().enumerate() {
            map.insert(d.name, (i, false));
            if let Some(alias) = d.alias {
                map.insert(alias, (i, true));
            }
        }
        map
    });
    let lower = name.to_ascii_lowercase();
    let (i, alias) = map.get(lower.as_str())?;
    Some((DIRECTIVES.get(*i)?, *alias))
}

/// Every directive the store knows, with its default, in the order `spindle kv --help`
/// lists them.
pub fn known_directives() -> &'static [(&'static str, &'static str)] {
    static LIST: std::sync::OnceLock<Vec<(&'static str, &'static str)>> =
        std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        DIRECTIVES
            .iter()
            .filter(|d| d.flags & HIDDEN == 0)
            .map(|d| (d.name, d.default))
            .collect()
    })
}

/// Redis's `string2ll`: an optional `-`, digits without a leading zero (`0` alone aside), no
/// spaces, no `+`, within i64.
fn string2ll(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let first = *digits.as_bytes().first()?;
    if digits.len() > 1 && first == b'0' || (digits == "0" && s.len() > 1) {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// C's `strtoll(s, &end, base)` where the whole text must be read (`*end == '\0'`): leading
/// white space and a sign are allowed, no digits at all reads 0 (so only the empty text
/// passes), and an overflow saturates.
fn strtoll_whole(s: &str, base: u32) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..)?),
        Some(b'+') => (false, t.get(1..)?),
        _ => (false, t),
    };
    if t.is_empty() || !t.chars().all(|c| c.is_digit(base)) {
        return None;
    }
    let magnitude = u128::from_str_radix(t, base).unwrap_or(u128::MAX);
    let v = if negative {
        (magnitude.min(1 << 63) as i128).wrapping_neg()
    } else {
        magnitude.min(i64::MAX as u128) as i128
    };
    i64::try_from(v).ok()
}

/// Redis's `memtoull`: digits and an optional unit (`b`, `k`, `kb`, `m`, `mb`, `g`, `gb`, in
/// any case). As there, no digits read 0, too many saturate, and the unit's product wraps.
fn memtoull(s: &str) -> Option<u64> {
    if s.starts_with('-') {
        return None;
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = (s.get(..split)?, s.get(split..)?);
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() >= 128 {
        return None;
    }
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().unwrap_or(u64::MAX)
    };
    Some(n.wrapping_mul(mult))
}

/// Parses a number with Redis's memory units (`1k`, `1kb`, `5mb`, `1gb`…).
pub(crate) fn parse_memory(v: &str) -> Option<u64> {
    memtoull(v)
}

/// Redis's `rewriteConfigFormatMemory`: the largest of gb, mb, kb that divides the value.
fn format_memory(bytes: i64) -> String {
    for (unit, size) in [("gb", 1i64 << 30), ("mb", 1 << 20), ("kb", 1 << 10)] {
        if bytes != 0 && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// Redis's `sdscatrepr`: the text quoted, with escapes for quotes, backslashes and bytes that
/// do not print.
fn repr(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(char::from(b)),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// "argument must be between …" for a number out of its bounds (octal ones in octal).
fn bounds_error(unit: Unit, min: i128, max: i128) -> String {
    if unit == Unit::Octal {
        format!("argument must be between {min:o} and {max:o} inclusive")
    } else {
        format!("argument must be between {min} and {max} inclusive")
    }
}

/// A numeric value, checked as Redis's `numericParseString` and `numericBoundaryCheck` do,
/// to the text `numericConfigGet` shows.
fn parse_num(
    unit: Unit,
    unsigned: bool,
    min: i128,
    max: i128,
    text: &str,
) -> Result<String, String> {
    let mem = matches!(unit, Unit::Mem | Unit::MemOrPercent);
    let parsed = if let Some(v) = mem.then(|| memtoull(text)).flatten() {
        Some(v as i64)
    } else if unit == Unit::MemOrPercent {
        text.strip_suffix('%')
            .filter(|_| text.len() > 1)
            .and_then(string2ll)
            .filter(|n| *n >= 0)
            .map(|n| -n)
    } else if unit == Unit::Octal {
        strtoll_whole(text, 8).filter(|_| !text.is_empty())
    } else if unit == Unit::Int {
        string2ll(text)
    } else {
        None
    };
    let Some(ll) = parsed else {
        return Err(match unit {
            Unit::MemOrPercent => "argument must be a memory or percent value",
            Unit::Mem => "argument must be a memory value",
            Unit::Octal => "argument couldn't be parsed as an octal number",
            Unit::Int => "argument couldn't be parsed into an integer",
        }
        .to_string());
    };
    if unsigned {
        let v = i128::from(ll as u64);
        if v < min || v > max {
            return Err(bounds_error(unit, min, max));
        }
    } else if unit == Unit::MemOrPercent && ll < 0 {
        if i128::from(ll) < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -min
            ));
        }
    } else if i128::from(ll) < min || i128::from(ll) > max {
        return Err(bounds_error(unit, min, max));
    }
    Ok(match unit {
        Unit::MemOrPercent if ll < 0 => format!("{}%", -i128::from(ll)),
        Unit::Mem | Unit::MemOrPercent => (ll as u64).to_string(),
        Unit::Octal => format!("{:o}", ll as u64),
        Unit::Int => ll.to_string(),
    })
}

/// An enum's value from its words (one, or several bit flags), as `configEnumGetValue`.
fn enum_value(names: &[(&str, u32)], args: &[&str], flags: bool) -> Option<u32> {
    if args.is_empty() || (!flags && args.len() != 1) {
        return None;
    }
    let mut value = 0;
    for arg in args {
        let mut matched = false;
        for (name, v) in names {
            if arg.eq_ignore_ascii_case(name) {
                value |= v;
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(value)
}

/// An enum value's name(s), as `configEnumGetName`: the first name of an exact match, else
/// (bit flags) the names of the flags set, in the table's order.
fn enum_name(names: &[(&str, u32)], value: u32, flags: bool) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut unmatched = value;
    for (name, v) in names {
        if *v == value {
            return name.to_string();
        }
        if flags && *v != 0 && *v == unmatched & v {
            out.push(name);
            unmatched &= !v;
        }
    }
    if out.is_empty() || unmatched != 0 {
        return "unknown".to_string();
    }
    out.join(" ")
}

/// A string directive's value, checked as Redis's validators do.
fn check_str(name: &str, check: StrCheck, v: &str) -> Result<(), String> {
    match check {
        StrCheck::Any | StrCheck::NullIfEmpty => Ok(()),
        StrCheck::BaseName if v.contains('/') => {
            Err("dbfilename can't be a path, just a filename".into())
        }
        StrCheck::AofFile | StrCheck::AofDir if v.is_empty() => {
            Err(format!("{name} can't be empty"))
        }
        StrCheck::AofFile if v.contains('/') => {
            Err("appendfilename can't be a path, just a filename".into())
        }
        StrCheck::AofDir if v.contains('/') => {
            Err("appenddirname can't be a path, just a dirname".into())
        }
        StrCheck::Hostname if v.len() >= 256 => {
            Err("Hostnames must be less than 256 characters".into())
        }
        StrCheck::Hostname
            if !v
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.') =>
        {
            Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into())
        }
        StrCheck::ProcTitle if !proc_title_ok(v) => {
            Err("template format is invalid or contains unknown variables".into())
        }
        _ => Ok(()),
    }
}

/// Redis's `validateProcTitleTemplate`: every `{variable}` known (`{{` is a brace), and
/// something left once `{title}` and `{server-mode}` expand to nothing.
fn proc_title_ok(t: &str) -> bool {
    let mut rest = t;
    let mut shows = false;
    while let Some(open) = rest.find('{') {
        shows |= open > 0;
        let after = rest.get(open + 1..).unwrap_or_default();
        if after.is_empty() {
            return false;
        }
        if let Some(more) = after.strip_prefix('{') {
            shows = true;
            rest = more;
            continue;
        }
        let Some(close) = after.find('}') else {
            return false;
        };
        match after.get(..close).unwrap_or_default() {
            "title" | "server-mode" | "unixsocket" => {}
            "listen-addr" | "config-file" | "port" | "tls-port" => shows = true,
            _ => return false,
        }
        rest = after.get(close + 1..).unwrap_or_default();
    }
    shows || !rest.is_empty()
}

/// `notify-keyspace-events` classes, as `keyspaceEventsStringToFlags`.
fn keyspace_flags(classes: &str) -> Option<u32> {
    const ALL: u32 = 0b10_0111_1111_1100;
    let mut flags = 0;
    for c in classes.chars() {
        flags |= match c {
            'A' => ALL,
            'g' => 1 << 2,
            '$' => 1 << 3,
            'l' => 1 << 4,
            's' => 1 << 5,
            'h' => 1 << 6,
            'z' => 1 << 7,
            'x' => 1 << 8,
            'e' => 1 << 9,
            'K' => 1,
            'E' => 1 << 1,
            't' => 1 << 10,
            'm' => 1 << 11,
            'd' => 1 << 13,
            'n' => 1 << 14,
            _ => return None,
        };
    }
    Some(flags)
}

/// The classes' text CONFIG GET shows, as `keyspaceEventsFlagsToString`.
fn keyspace_text(flags: u32) -> String {
    const ALL: u32 = 0b10_0111_1111_1100;
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (2, 'g'),
            (3, '$'),
            (4, 'l'),
            (5, 's'),
            (6, 'h'),
            (7, 'z'),
            (8, 'x'),
            (9, 'e'),
            (10, 't'),
            (13, 'd'),
            (14, 'n'),
        ] {
            if flags & (1 << bit) != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [(0, 'K'), (1, 'E'), (11, 'm')] {
        if flags & (1 << bit) != 0 {
            out.push(c);
        }
    }
    out
}

/// The save points of `save`'s words (pairs of seconds ≥ 1 and changes ≥ 0), as
/// `setConfigSaveOption` reads them.
fn parse_save(args: &[&str]) -> Result<Vec<(i64, i32)>, String> {
    let args = if args == [""] { &[][..] } else { args };
    let bad = || "Invalid save parameters".to_string();
    if !args.len().is_multiple_of(2) {
        return Err(bad());
    }
    let mut points = Vec::new();
    for pair in args.chunks(2) {
        let [seconds, changes] = pair else {
            return Err(bad());
        };
        let seconds = strtoll_whole(seconds, 10)
            .filter(|s| *s >= 1)
            .ok_or_else(bad)?;
        let changes = strtoll_whole(changes, 10)
            .filter(|c| *c >= 0)
            .ok_or_else(bad)?;
        points.push((seconds, changes as i32));
    }
    Ok(points)
}

/// The save points' text, as CONFIG GET shows it.
fn save_text(points: &[(i64, i32)]) -> String {
    let words: Vec<String> = points.iter().map(|(s, c)| format!("{s} {c}")).collect();
    words.join(" ")
}

/// The percentiles' text, as CONFIG GET shows them (`%f` without trailing zeros).
fn percentile_text(p: f64) -> String {
    let text = format!("{p:.6}");
    let text = text.trim_end_matches('0');
    text.strip_suffix('.').unwrap_or(text).to_string()
}

/// A special directive's words, to the text CONFIG GET shows; `current` is its text now
/// (output limits keep the classes not named; a config file's second `save` line adds to
/// its first, `append`).
fn parse_special(
    which: Special,
    args: &[&str],
    current: &str,
    append: bool,
) -> Result<String, String> {
    match which {
        Special::Dir => match args {
            [dir] => Ok(dir.to_string()),
            _ => Err("wrong number of arguments".into()),
        },
        Special::Save => {
            let mut points = if append {
                parse_save(&current.split_whitespace().collect::<Vec<_>>())?
            } else {
                Vec::new()
            };
            points.extend(parse_save(args)?);
            Ok(save_text(&points))
        }
        Special::OutputLimits => {
            let mut limits = OutputLimits::from_text(current).unwrap_or_default();
            limits.update(args)?;
            Ok(limits.text())
        }
        Special::OomScores => {
            if args.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut values = Vec::new();
            for a in args {
                let v = strtoll_whole(a, 10)
                    .filter(|v| (-2000..=2000).contains(v))
                    .ok_or(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
                    )?;
                values.push(v.to_string());
            }
            Ok(values.join(" "))
        }
        Special::KeyspaceEvents => match args {
            [classes] => keyspace_flags(classes)
                .map(keyspace_text)
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
            _ => Err("wrong number of arguments".into()),
        },
        Special::Bind => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            Ok(if args == [""] {
                String::new()
            } else {
                args.join(" ")
            })
        }
        Special::ReplicaOf => match args {
            [host, port] if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") => {
                Ok(String::new())
            }
            [host, port] => strtoll_whole(port, 10)
                .filter(|p| (0..=65535).contains(p) && !port.is_empty())
                .map(|p| format!("{host} {p}"))
                .ok_or_else(|| "Invalid master port".into()),
            _ => Err("wrong number of arguments".into()),
        },
        Special::Percentiles => {
            if args == [""] {
                return Ok(String::new());
            }
            let mut out = Vec::new();
            for a in args {
                let p: f64 = a
                    .parse()
                    .ok()
                    .filter(|p: &f64| !p.is_nan() && !a.starts_with(char::is_whitespace))
                    .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&p) {
                    return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                }
                out.push(percentile_text(p));
            }
            Ok(out.join(" "))
        }
    }
}

/// A directive's words, to the text CONFIG GET shows, with Redis's reason when refused.
fn parse_value(
    d: &Directive,
    args: &[&str],
    current: &str,
    append: bool,
) -> Result<String, String> {
    let one = || match args {
        [v] => Ok(*v),
        _ => Err("wrong number of arguments".to_string()),
    };
    match d.kind {
        Kind::Bool => {
            let v = one()?;
            let yes = if v.eq_ignore_ascii_case("yes") {
                true
            } else if v.eq_ignore_ascii_case("no") {
                false
            } else {
                return Err("argument must be 'yes' or 'no'".into());
            };
            if yes && d.name == "activedefrag" {
                // As a Redis built without its own jemalloc: there is nothing to defragment.
                return Err(
                    "Active defragmentation cannot be enabled: it requires a Redis server \
                            compiled with a modified Jemalloc like the one shipped by default with \
                            the Redis source distribution"
                        .into(),
                );
            }
            Ok(if yes { "yes" } else { "no" }.to_string())
        }
        Kind::Str(check) => {
            let v = one()?;
            check_str(d.name, check, v)?;
            Ok(v.to_string())
        }
        Kind::Enum(names) => {
            let flags = d.flags & MULTI_ARG != 0;
            let value = enum_value(names, args, flags).ok_or_else(|| {
                let list: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                format!(
                    "argument(s) must be one of the following: {}",
                    list.join(", ")
                )
            })?;
            if flags && value & 1 != 0 && value & 2 != 0 {
                return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
            }
            Ok(enum_name(names, value, flags))
        }
        Kind::Num {
            unit,
            unsigned,
            min,
            max,
        } => {
            let text = parse_num(unit, unsigned, min, max, one()?)?;
            // `hz` is a hint: any int is taken, then held within 1..=500 (`updateHZ`).
            if d.name == "hz" {
                let hz: i64 = text.parse().unwrap_or(10);
                return Ok(hz.clamp(1, 500).to_string());
            }
            Ok(text)
        }
        Kind::Special(which) => parse_special(which, args, current, append),
    }
}

/// The least client-eviction limit Redis applies whatever `maxmemory-clients` says, so that a
/// mistyped value cannot cut every client off (`getClientEvictionLimit`).
const MIN_MAXMEMORY_CLIENTS: u64 = 128 * 1024;

/// `maxmemory-policy`: what goes when the data outgrows `maxmemory` (Redis 7.0's policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxmemoryPolicy {
    /// Least recently used among keys with a time to live.
    VolatileLru,
    /// Least frequently used among keys with a time to live.
    VolatileLfu,
    /// Any key with a time to live.
    VolatileRandom,
    /// The key with the soonest expiry.
    VolatileTtl,
    /// Least recently used of all keys.
    AllkeysLru,
    /// Least frequently used of all keys.
    AllkeysLfu,
    /// Any key.
    AllkeysRandom,
    /// Nothing: writes that may need memory are refused instead.
    NoEviction,
}

impl MaxmemoryPolicy {
    /// Every policy with its name, in the order Redis lists them in its error.
    const ALL: [(&'static str, MaxmemoryPolicy); 8] = [
        ("volatile-lru", MaxmemoryPolicy::VolatileLru),
        ("volatile-lfu", MaxmemoryPolicy::VolatileLfu),
        ("volatile-random", MaxmemoryPolicy::VolatileRandom),
        ("volatile-ttl", MaxmemoryPolicy::VolatileTtl),
        ("allkeys-lru", MaxmemoryPolicy::AllkeysLru),
        ("allkeys-lfu", MaxmemoryPolicy::AllkeysLfu),
        ("allkeys-random", MaxmemoryPolicy::AllkeysRandom),
        ("noeviction", MaxmemoryPolicy::NoEviction),
    ];

    /// The policy's name, as CONFIG GET and INFO show it.
    pub fn name(self) -> &'static str {
        MaxmemoryPolicy::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("noeviction", |(n, _)| n)
    }

    /// True for the LFU policies, under which keys keep an access frequency instead of an
    /// access time (Redis's `MAXMEMORY_FLAG_LFU`).
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLfu | MaxmemoryPolicy::AllkeysLfu
        )
    }
}

/// One class of `client-output-buffer-limit`: past `hard` bytes of pending output a client is
/// closed at once; past `soft` bytes for `soft_seconds` in a row, too (0 bytes: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    /// Hard limit in bytes (0: none).
    pub hard: u64,
    /// Soft limit in bytes (0: none).
    pub soft: u64,
    /// How long a client may stay above the soft limit, in seconds.
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit`, parsed: one [`OutputLimit`] per client class, as Redis keeps
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Ordinary clients (Redis's default: no limit).
    pub normal: OutputLimit,
    /// Replicas (Redis's `replica` or `slave`).
    pub replica: OutputLimit,
    /// Clients subscribed to a channel or pattern.
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        let limit = |hard, soft, soft_seconds| OutputLimit {
            hard,
            soft,
            soft_seconds,
        };
        OutputLimits {
            normal: limit(0, 0, 0),
            replica: limit(256 * 1024 * 1024, 64 * 1024 * 1024, 60),
            pubsub: limit(32 * 1024 * 1024, 8 * 1024 * 1024, 60),
        }
    }
}

impl OutputLimits {
    /// Applies `class hard soft seconds…` groups over these limits, as Redis's
    /// `updateClientOutputBufferLimit`: every group is checked before any applies, and a class
    /// not named keeps its limits.
    fn update(&mut self, words: &[&str]) -> Result<(), String> {
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut next = *self;
        for group in words.chunks(4) {
            let [class, hard, soft, seconds] = group else {
                continue;
            };
            let slot = match class.to_ascii_lowercase().as_str() {
                "normal" => &mut next.normal,
                "replica" | "slave" => &mut next.replica,
                "pubsub" => &mut next.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            // Kept in a C int, as Redis keeps it.
            let seconds = strtoll_whole(seconds, 10)
                .map(|s| s as i32)
                .filter(|s| *s >= 0)
                .ok_or(bad)?;
            *slot = OutputLimit {
                hard: memtoull(hard).ok_or(bad)?,
                soft: memtoull(soft).ok_or(bad)?,
                soft_seconds: seconds as u64,
            };
        }
        *self = next;
        Ok(())
    }

    /// Every class's limits from the text CONFIG GET shows.
    fn from_text(text: &str) -> Option<OutputLimits> {
        let mut limits = OutputLimits::default();
        limits
            .update(&text.split_whitespace().collect::<Vec<_>>())
            .ok()?;
        Some(limits)
    }

    /// The classes in Redis's order, with the names CONFIG GET and CONFIG REWRITE give them.
    fn classes(&self) -> [(&'static str, &'static str, OutputLimit); 3] {
        [
            ("normal", "normal", self.normal),
            ("slave", "replica", self.replica),
            ("pubsub", "pubsub", self.pubsub),
        ]
    }

    /// The text CONFIG GET shows: every class, in Redis's order and words.
    fn text(&self) -> String {
        let groups: Vec<String> = self
            .classes()
            .iter()
            .map(|(name, _, l)| format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds))
            .collect();
        groups.join(" ")
    }
}

/// The configuration: every directive's current value, plus typed copies of those the server
/// reads on hot paths.
#[derive(Debug, Clone)]
pub struct Config {
    /// Each directive's value as CONFIG GET shows it, by its name (never an alias).
    values: BTreeMap<&'static str, String>,
    /// The file the configuration was read from (`spindle kv FILE`), which CONFIG REWRITE
    /// writes back.
    file: Option<PathBuf>,
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port to listen on.
    pub port: u16,
    /// The password AUTH wants, if any.
    pub requirepass: Option<String>,
    /// Number of databases.
    pub databases: usize,
    /// Active expiry cycles per second.
    pub hz: u32,
    /// Longest bulk string a client may send, and longest string a command may build.
    pub proto_max_bulk_len: usize,
    /// `maxmemory` in bytes (0: no limit).
    pub maxmemory: u64,
    /// `maxmemory-clients` in bytes, a percentage already resolved against `maxmemory` (0: no
    /// limit, as is a percentage while `maxmemory` is 0; otherwise at least 128 KiB, as Redis
    /// applies it).
    pub maxmemory_clients: u64,
    /// `maxmemory-policy`.
    pub maxmemory_policy: MaxmemoryPolicy,
    /// `maxmemory-samples`: keys sampled per database each time an eviction candidate is
    /// sought.
    pub maxmemory_samples: u32,
    /// `maxmemory-eviction-tenacity` (0–100): how long one round of eviction may run.
    pub maxmemory_eviction_tenacity: u32,
    /// `lfu-log-factor`: how much rarer each further count of an LFU counter is.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes per step an idle key's LFU counter decays by (0: never).
    pub lfu_decay_time: u32,
    /// `client-query-buffer-limit`: the most a client's unparsed input may hold, in bytes.
    pub client_query_buffer_limit: u64,
    /// `client-output-buffer-limit`, per client class.
    pub client_output_buffer_limit: OutputLimits,
    /// `maxclients`: connections served at once; one more is answered
    /// `-ERR max number of clients reached` and closed.
    pub maxclients: usize,
    /// The reactor's busy-poll window (`ReactorConfig::busy_poll`), in microseconds.
    pub busy_poll_us: u64,
    /// `timeout`: seconds a client may stay idle before it is closed (0: never).
    pub timeout: u64,
    /// `hll-sparse-max-bytes`: the longest a sparse HyperLogLog grows before it becomes
    /// dense (read on every PFADD, so kept typed rather than looked up by name).
    pub hll_sparse_max_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            values: DIRECTIVES
                .iter()
                .map(|d| (d.name, d.default.to_string()))
                .collect(),
            file: None,
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 6379,
            requirepass: None,
            databases: 16,
            hz: 10,
            proto_max_bulk_len: 512 * 1024 * 1024,
            maxmemory: 0,
            maxmemory_clients: 0,
            maxmemory_policy: MaxmemoryPolicy::NoEviction,
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_buffer_limit: OutputLimits::default(),
            hll_sparse_max_bytes: 3000,
            maxclients: 10_000,
            busy_poll_us: 200,
            timeout: 0,
        };
        // The defaults always parse.
        let _ = c.refresh();
        c
    }
}

/// The directive words CONFIG SET gives a value: a multi-word directive's value split at each
/// space (`sdssplitlen`: the empty value is no words at all), any other's as one word.
fn words_of(d: &Directive, value: &str) -> Vec<String> {
    if d.flags & MULTI_ARG == 0 {
        vec![value.to_string()]
    } else if value.is_empty() {
        Vec::new()
    } else {
        value.split(' ').map(str::to_string).collect()
    }
}

impl Config {
    /// Sets a directive at run time (name in any case; a multi-word value's words separated by
    /// spaces), as CONFIG SET does: errors name unknown directives, immutable ones and bad
    /// values, in Redis's words, and a refused value leaves the old one in place.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        self.set_many(&[(name, value)], true)
    }

    /// CONFIG SET's pairs, all or nothing, as Redis 7.0's `configSetCommand`: every name is
    /// checked first (unknown, immutable, protected unless `protected_ok`, given twice), then
    /// the values in order; the first refusal is the error and nothing changes.
    pub(crate) fn set_many(
        &mut self,
        pairs: &[(&str, &str)],
        protected_ok: bool,
    ) -> Result<(), ConfigError> {
        let mut chosen: Vec<(&'static Directive, &'static str)> = Vec::new();
        for (name, value) in pairs {
            let Some((d, alias)) = lookup(name) else {
                return Err(ConfigError::Unknown {
                    name: name.to_string(),
                });
            };
            let refusal = if d.flags & IMMUTABLE != 0 {
                Some("can't set immutable config")
            } else if d.flags & PROTECTED != 0 && !protected_ok {
                Some("can't set protected config")
            } else if chosen.iter().any(|(c, _)| std::ptr::eq(*c, d)) {
                Some("duplicate parameter")
            } else {
                None
            };
            if let Some(reason) = refusal {
                return Err(ConfigError::Invalid {
                    name: name.to_string(),
                    value: value.to_string(),
                    reason: reason.to_string(),
                });
            }
            let shown = if alias {
                d.alias.unwrap_or(d.name)
            } else {
                d.name
            };
            chosen.push((d, shown));
        }
        let mut next = self.clone();
        for ((d, shown), (_, value)) in chosen.iter().zip(pairs) {
            let words = words_of(d, value);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            next.assign(d, &words, false)
                .map_err(|reason| ConfigError::Invalid {
                    name: shown.to_string(),
                    value: value.to_string(),
                    reason,
                })?;
        }
        next.refresh()
            .map_err(|(name, reason)| ConfigError::Invalid {
                name: name.to_string(),
                value: String::new(),
                reason,
            })?;
        *self = next;
        Ok(())
    }

    /// Parses a directive's words over its current value (startup and CONFIG SET alike).
    fn assign(
        &mut self,
        d: &'static Directive,
        words: &[&str],
        append: bool,
    ) -> Result<(), String> {
        let current = self.values.get(d.name).map_or("", String::as_str);
        let text = parse_value(d, words, current, append)?;
        self.values.insert(d.name, text);
        Ok(())
    }

    /// The value of a directive, by its name or alias in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        let (d, _) = lookup(name)?;
        self.values.get(d.name).map(String::as_str)
    }

    /// CONFIG GET's pairs for its arguments, as Redis 7.0's `configGetCommand`: a name without
    /// glob characters is looked up as given (the reply names it so; hidden directives too),
    /// a pattern matches every name and alias (in any case) but hidden ones; each directive
    /// name once.
    pub(crate) fn get_matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let seen = |out: &Vec<(String, String)>, key: &str| {
            out.iter().any(|(k, _)| k.eq_ignore_ascii_case(key))
        };
        for pattern in patterns {
            if !pattern.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
                let given = String::from_utf8_lossy(pattern).into_owned();
                if seen(&out, &given) {
                    continue;
                }
                if let Some(v) = self.get(&given) {
                    let v = v.to_string();
                    out.push((given, v));
                }
                continue;
            }
            for d in DIRECTIVES.iter().filter(|d| d.flags & HIDDEN == 0) {
                for name in std::iter::once(d.name).chain(d.alias) {
                    if !seen(&out, name) && crate::glob::matches(pattern, name.as_bytes(), true) {
                        let v = self.values.get(d.name).cloned().unwrap_or_default();
                        out.push((name.to_string(), v));
                    }
                }
            }
        }
        out
    }

    /// The file the configuration was read from, if any (CONFIG REWRITE's target).
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    fn text(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// A numeric directive's value (already checked when it was set).
    fn number(&self, name: &str) -> i64 {
        let text = self.text(name);
        text.parse()
            .ok()
            .or_else(|| memtoull(text).map(|n| n as i64))
            .unwrap_or(0)
    }

    /// Copies the directives the server acts on into the typed fields. Only `bind` can fail:
    /// its first address is the one to listen on.
    fn refresh(&mut self) -> Result<(), (&'static str, String)> {
        let bind_text = self.text("bind");
        let first = bind_text.split_whitespace().next().unwrap_or("127.0.0.1");
        let first = match first.trim_start_matches('-') {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let bind: IpAddr = first
            .parse()
            .map_err(|_| ("bind", "Failed to bind to specified addresses.".to_string()))?;
        let maxmemory = self.text("maxmemory").parse().unwrap_or(0);
        let clients = self.text("maxmemory-clients");
        self.maxmemory_clients = match clients.strip_suffix('%') {
            _ if maxmemory == 0 && clients.ends_with('%') => 0,
            Some(pct) => (maxmemory as f64 * pct.parse::<f64>().unwrap_or(0.0) / 100.0) as u64,
            None => clients.parse().unwrap_or(0),
        };
        if self.maxmemory_clients > 0 {
            self.maxmemory_clients = self.maxmemory_clients.max(MIN_MAXMEMORY_CLIENTS);
        }
        let policy = self.text("maxmemory-policy");
        self.maxmemory_policy = MaxmemoryPolicy::ALL
            .iter()
            .find(|(n, _)| *n == policy)
            .map_or(MaxmemoryPolicy::NoEviction, |(_, p)| *p);
        self.bind = bind;
        self.port = self.number("port") as u16;
        self.databases = self.number("databases") as usize;
        self.hz = self.number("hz") as u32;
        self.proto_max_bulk_len =
            usize::try_from(self.number("proto-max-bulk-len")).unwrap_or(usize::MAX);
        self.maxmemory = maxmemory;
        self.maxmemory_samples = self.number("maxmemory-samples") as u32;
        self.maxmemory_eviction_tenacity = self.number("maxmemory-eviction-tenacity") as u32;
        self.lfu_log_factor = self.number("lfu-log-factor") as u32;
        self.lfu_decay_time = self.number("lfu-decay-time") as u32;
        self.client_query_buffer_limit = self.number("client-query-buffer-limit") as u64;
        self.client_output_buffer_limit =
            OutputLimits::from_text(self.text("client-output-buffer-limit")).unwrap_or_default();
        self.maxclients = self.number("maxclients") as usize;
        self.busy_poll_us = (self.number("busy-poll") as u64).min(1_000_000);
        self.timeout = self.number("timeout").max(0) as u64;
        self.hll_sparse_max_bytes =
            usize::try_from(self.number("hll-sparse-max-bytes")).unwrap_or(usize::MAX);
        let pass = self.text("requirepass");
        self.requirepass = (!pass.is_empty()).then(|| pass.to_string());
        Ok(())
    }

    /// Builds a configuration from command-line words: an optional config file first, then
    /// `--directive value…` pairs, as redis-server takes them (the flags become lines after
    /// the file's, one empty line between). A bad directive is reported as redis-server
    /// reports it, naming the line, the line itself and why.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut rest = args;
        let mut text = String::new();
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                text = std::fs::read_to_string(first)
                    .map_err(|e| format!("cannot read config file {first}: {e}"))?;
                let path = PathBuf::from(first);
                config.file = Some(if path.is_absolute() {
                    path
                } else {
                    std::env::current_dir().map_or(path.clone(), |d| d.join(&path))
                });
                rest = args.get(1..).unwrap_or_default();
            }
        }
        let mut options = String::new();
        for arg in rest {
            if let Some(name) = arg.strip_prefix("--") {
                if !options.is_empty() {
                    options.push('\n');
                }
                options.push_str(name);
                options.push(' ');
            } else if options.is_empty() {
                return Err(format!("unexpected argument '{arg}'"));
            } else {
                options.push_str(&repr(arg));
                options.push(' ');
            }
        }
        text.push('\n');
        text.push_str(&options);
        config.load_text(&text)?;
        Ok(config)
    }

    /// Applies the directives of a redis.conf-style text, as Redis's
    /// `loadServerConfigFromString`: `#` comments, words split as `sdssplitargs` does, a
    /// multi-word directive's single word split again, the first `save` line replacing the
    /// default and later ones adding to it. A bad line is reported as redis-server reports it.
    pub fn load_text(&mut self, text: &str) -> Result<(), String> {
        let mut save_seen = false;
        for (n, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches([' ', '\t', '\r', '\n']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |e: ConfigError| e.startup(REDIS_VERSION, n + 1, line);
            let invalid = |name: &str, reason: &str| {
                fail(ConfigError::Invalid {
                    name: name.to_string(),
                    value: String::new(),
                    reason: reason.to_string(),
                })
            };
            let Some(words) = crate::aof::manifest::split_args(line) else {
                return Err(invalid("", "Unbalanced quotes in configuration line"));
            };
            let Some(first) = words.first() else {
                continue;
            };
            let name = first.to_ascii_lowercase();
            let Some((d, _)) = lookup(&name) else {
                // Directives Redis 7.0 still reads and ignores.
                let ignored = [
                    "list-max-ziplist-entries",
                    "list-max-ziplist-value",
                    "lua-replicate-commands",
                ];
                if ignored.contains(&name.as_str()) && words.len() == 2 {
                    continue;
                }
                return Err(fail(ConfigError::Unknown { name }));
            };
            let args = words.get(1..).unwrap_or_default();
            let multi = d.flags & MULTI_ARG != 0;
            if !multi && args.len() != 1 {
                return Err(invalid(d.name, "wrong number of arguments"));
            }
            let split: Vec<String> = match args {
                [one] if multi && !one.is_empty() => {
                    crate::aof::manifest::split_args(one).unwrap_or_default()
                }
                _ => args.to_vec(),
            };
            let split: Vec<&str> = split.iter().map(String::as_str).collect();
            let append = d.name == "save" && std::mem::replace(&mut save_seen, true);
            self.assign(d, &split, append)
                .map_err(|reason| invalid(d.name, &reason))?;
        }
        self.refresh()
            .map_err(|(name, reason)| format!("{name}: {reason}"))?;
        Ok(())
    }

    /// CONFIG REWRITE: the file the configuration came from, rewritten with the values now
    /// (see [`Config::rewrite_text`]) through a temporary file renamed over it.
    pub fn rewrite(&self) -> std::io::Result<()> {
        let Some(path) = &self.file else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no config file",
            ));
        };
        let old = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let text = self.rewrite_text(&old);
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let written = std::fs::write(&tmp, text.as_bytes())
            .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    /// The lines a directive's value is written back as, and whether they must be written
    /// even where the old file did not name it (a value other than the default); `None` when
    /// it must not appear at all (an unset string, a master's `replicaof`, the default
    /// `bind`). As Redis's per-type rewrite functions.
    fn rewrite_lines(&self, d: &Directive) -> Option<Vec<(String, bool)>> {
        let v = self.text(d.name);
        let changed = v != d.default;
        let name = d.name;
        let one = |line: String, force: bool| Some(vec![(line, force)]);
        match d.kind {
            Kind::Bool | Kind::Enum(_) => one(format!("{name} {v}"), changed),
            Kind::Str(StrCheck::NullIfEmpty | StrCheck::Hostname) if v.is_empty() => None,
            Kind::Str(_) => one(format!("{name} {}", repr(v)), changed),
            Kind::Num { unit, .. } => {
                let shown = match unit {
                    Unit::Mem | Unit::MemOrPercent if !v.ends_with('%') => {
                        format_memory(v.parse::<u64>().unwrap_or(0) as i64)
                    }
                    _ => v.to_string(),
                };
                one(format!("{name} {shown}"), changed)
            }
            Kind::Special(which) => match which {
                Special::Dir => one(format!("{name} {}", repr(v)), true),
                Special::Save => {
                    let words: Vec<&str> = v.split_whitespace().collect();
                    if words.is_empty() {
                        return one("save \"\"".to_string(), true);
                    }
                    Some(
                        words
                            .chunks(2)
                            .map(|p| (format!("save {}", p.join(" ")), true))
                            .collect(),
                    )
                }
                Special::OutputLimits => {
                    let now = OutputLimits::from_text(v).unwrap_or_default();
                    let defaults = OutputLimits::default();
                    Some(
                        now.classes()
                            .iter()
                            .zip(defaults.classes())
                            .map(|((_, class, l), (_, _, default))| {
                                let line = format!(
                                    "{name} {class} {} {} {}",
                                    format_memory(l.hard as i64),
                                    format_memory(l.soft as i64),
                                    l.soft_seconds
                                );
                                (line, *l != default)
                            })
                            .collect(),
                    )
                }
                Special::KeyspaceEvents => one(format!("{name} {}", repr(v)), !v.is_empty()),
                Special::Bind if !changed => None,
                Special::Bind if v.is_empty() => one(format!("{name} \"\""), true),
                Special::ReplicaOf if v.is_empty() => None,
                Special::Percentiles if v.is_empty() => one(format!("{name} \"\""), true),
                Special::Percentiles => one(format!("{name} {v}"), true),
                Special::Bind | Special::ReplicaOf => one(format!("{name} {v}"), true),
                Special::OomScores => one(format!("{name} {v}"), changed),
            },
        }
    }

    /// The config file `old` rewritten with the values now, as Redis's `rewriteConfig`:
    /// comments and lines of directives it does not know (`include`, `user`…) stay as they
    /// are, a line it cannot read becomes a `# ??? ` comment, a directive's lines take its
    /// value now (an old name's line the new name), its surplus lines are blanked, a value
    /// other than the default not in the file yet is appended after a
    /// `# Generated by CONFIG REWRITE` line, and runs of empty lines shrink to one.
    pub fn rewrite_text(&self, old: &str) -> String {
        const SIGNATURE: &str = "# Generated by CONFIG REWRITE";
        const KEPT: [&str; 5] = [
            "include",
            "rename-command",
            "user",
            "loadmodule",
            "sentinel",
        ];
        let mut lines: Vec<String> = Vec::new();
        let mut by_option: HashMap<&'static str, VecDeque<usize>> = HashMap::new();
        let mut needs_signature = true;
        if !old.is_empty() {
            for raw in old.split('\n') {
                let line = raw.trim_matches(['\r', '\n', '\t', ' ']).to_string();
                if line.is_empty() || line.starts_with('#') {
                    needs_signature &= line != SIGNATURE;
                    lines.push(line);
                    continue;
                }
                let words = crate::aof::manifest::split_args(&line);
                let first = words
                    .as_ref()
                    .and_then(|w| w.first())
                    .map(|w| w.to_ascii_lowercase());
                match first.as_deref().map(|f| (f, lookup(f))) {
                    Some((_, Some((d, _)))) => {
                        by_option.entry(d.name).or_default().push_back(lines.len());
                        lines.push(line);
                    }
                    Some((f, None)) if KEPT.contains(&f) => lines.push(line),
                    _ => lines.push(format!("# ??? {line}")),
                }
            }
        }
        for d in DIRECTIVES {
            let Some(new_lines) = self.rewrite_lines(d) else {
                continue;
            };
            for (line, force) in new_lines {
                let slot = by_option.get_mut(d.name).and_then(VecDeque::pop_front);
                match slot.and_then(|i| lines.get_mut(i)) {
                    Some(old_line) => *old_line = line,
                    None if force => {
                        if needs_signature {
                            lines.push(SIGNATURE.to_string());
                            needs_signature = false;
                        }
                        lines.push(line);
                    }
                    None => {}
                }
            }
        }
        // Every directive was rewritten: the lines left over are the surplus ones.
        for rest in by_option.values() {
            for i in rest {
                if let Some(line) = lines.get_mut(*i) {
                    line.clear();
                }
            }
        }
        let mut out = String::new();
        let mut was_empty = false;
        for line in &lines {
            if line.is_empty() {
                if was_empty {
                    continue;
                }
                was_empty = true;
            } else {
                was_empty = false;
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_files_set_directives_and_unknown_ones_are_named() {
        let c = Config::from_args(&args(&[
            "--port",
            "6380",
            "--requirepass",
            "secret",
            "--databases",
            "4",
        ]))
        .unwrap();
        assert_eq!((c.port, c.databases), (6380, 4));
        assert_eq!(c.requirepass.as_deref(), Some("secret"));
        let err = Config::from_args(&["--no-such-thing".into(), "1".into()]).unwrap_err();
        assert!(err.contains("'no-such-thing'"), "{err}");
        let mut c = Config::default();
        c.load_text("# comment\nport 7000\nhz 20\n").unwrap();
        assert_eq!((c.port, c.hz), (7000, 20));
        assert!(c.load_text("bogus 1").unwrap_err().contains("'bogus'"));
        assert!(c.set("port", "notanumber").is_err());
        assert_eq!(c.port, 7000, "a bad value leaves the old one");
        let names: Vec<String> = c
            .get_matching(&[b"*max-listpack*"])
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert!(names.contains(&"hash-max-listpack-entries".to_string()));
        assert_eq!(parse_memory("5mb"), Some(5 * 1024 * 1024));
    }

    #[test]
    fn every_default_reads_back_as_itself() {
        // `replicaof` is unset by default, and takes two words when set.
        for d in DIRECTIVES.iter().filter(|d| d.name != "replicaof") {
            let words = words_of(d, d.default);
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            assert_eq!(
                parse_value(d, &words, d.default, false).as_deref(),
                Ok(d.default),
                "{}",
                d.name
            );
            if let Some(alias) = d.alias {
                assert!(lookup(alias).is_some_and(|(a, is_alias)| std::ptr::eq(a, d) && is_alias));
            }
        }
        let mut names: Vec<&str> = DIRECTIVES
            .iter()
            .flat_map(|d| std::iter::once(d.name).chain(d.alias))
            .collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "every name once");
    }

    #[test]
    fn numbers_read_as_redis_reads_them() {
        assert_eq!(string2ll("-12"), Some(-12));
        for bad in ["", "+1", "01", "-0", " 1", "1 ", "1.0", "-"] {
            assert_eq!(string2ll(bad), None, "{bad:?}");
        }
        assert_eq!(memtoull(""), Some(0));
        assert_eq!(memtoull("KB"), Some(0));
        assert_eq!(memtoull("2Gb"), Some(2 << 30));
        assert_eq!(memtoull("99999999999999999999"), Some(u64::MAX));
        assert_eq!(memtoull("20000000000gb"), Some(3028092406290448384));
        assert_eq!(memtoull("-1"), None);
        assert_eq!(memtoull("1tb"), None);
        assert_eq!(strtoll_whole("", 10), Some(0));
        assert_eq!(strtoll_whole(" +7", 10), Some(7));
        assert_eq!(strtoll_whole(" ", 10), None);
        assert_eq!(format_memory(64 << 20), "64mb");
        assert_eq!(format_memory(3000), "3000");
        assert_eq!(percentile_text(99.9), "99.9");
        assert_eq!(percentile_text(50.0), "50");
        let d = |name| lookup(name).unwrap().0;
        let one = |name, v| parse_value(d(name), &[v], "", false);
        assert_eq!(one("maxmemory-clients", "0%").as_deref(), Ok("0"));
        assert_eq!(
            one("maxmemory-clients", "101%").unwrap_err(),
            "percentage argument must be less or equal to 100"
        );
        assert_eq!(
            one("set-max-intset-entries", "-1").unwrap_err(),
            "argument must be between 0 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            one("hash-max-listpack-value", "-1").unwrap_err(),
            "argument must be a memory value"
        );
        assert_eq!(
            one("unixsocketperm", "1000").unwrap_err(),
            "argument must be between 0 and 777 inclusive"
        );
        assert_eq!(one("unixsocketperm", "0750").as_deref(), Ok("750"));
        assert_eq!(
            one("proto-max-bulk-len", "1kb").unwrap_err(),
            "argument must be between 1048576 and 9223372036854775807 inclusive"
        );
        assert_eq!(one("loglevel", "NOTICE").as_deref(), Ok("notice"));
        assert_eq!(
            one("dbfilename", "a/b").unwrap_err(),
            "dbfilename can't be a path, just a filename"
        );
        assert_eq!(
            one("proc-title-template", "{title}").unwrap_err(),
            "template format is invalid or contains unknown variables"
        );
        assert_eq!(
            one("proc-title-template", "x {nosuch}").unwrap_err(),
            "template format is invalid or contains unknown variables"
        );
        assert!(one("proc-title-template", "{title} {{x").is_ok());
        assert_eq!(
            one("cluster-announce-hostname", "a_b").unwrap_err(),
            "Hostnames may only contain alphanumeric characters, hyphens or dots"
        );
    }

    #[test]
    fn bad_values_at_startup_are_reported_as_redis_server_reports_them() {
        let err = Config::from_args(&args(&["--port", "abc"])).unwrap_err();
        assert_eq!(
            err,
            format!(
                "*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n\
                 Reading the configuration file, at line 2\n\
                 >>> 'port \"abc\"'\n\
                 argument couldn't be parsed into an integer"
            )
        );
        let err = Config::from_args(&args(&["--hz", "20", "--port", "99999"])).unwrap_err();
        assert!(err.contains("at line 3\n>>> 'port \"99999\"'\n"), "{err}");
        assert!(
            err.ends_with("argument must be between 0 and 65535 inclusive"),
            "{err}"
        );
        let err = Config::from_args(&args(&["--databases", "-1"])).unwrap_err();
        assert!(err.contains(">>> 'databases \"-1\"'"), "{err}");
        assert!(
            err.ends_with("argument must be between 1 and 100000 inclusive"),
            "{err}"
        );
        let err = Config::from_args(&args(&["--proto-max-bulk-len", "lots"])).unwrap_err();
        assert!(err.ends_with("argument must be a memory value"), "{err}");
        let err = Config::from_args(&args(&["--maxmemroy", "1gb"])).unwrap_err();
        assert!(
            err.ends_with("Bad directive or wrong number of arguments: 'maxmemroy'"),
            "{err}"
        );
        let err = Config::from_args(&args(&["--port", "1", "2"])).unwrap_err();
        assert!(err.ends_with("wrong number of arguments"), "{err}");
        // A multi-word directive takes its words as separate flags or as one.
        let c = Config::from_args(&args(&[
            "--save",
            "60",
            "1",
            "--bind",
            "127.0.0.1 ::1",
            "--save",
            "10 5",
        ]))
        .unwrap();
        assert_eq!(c.get("save"), Some("60 1 10 5"));
        assert_eq!(c.get("bind"), Some("127.0.0.1 ::1"));
        let c = Config::from_args(&args(&["--save", ""])).unwrap();
        assert_eq!(c.get("save"), Some(""));
    }

    #[test]
    fn bad_lines_of_a_file_name_their_line_and_the_command_line_follows_the_file() {
        let mut c = Config::default();
        let err = c.load_text("# comment\nport 7000\nhz x\n").unwrap_err();
        assert!(err.contains("at line 3\n>>> 'hz x'\n"), "{err}");
        assert!(
            err.ends_with("argument couldn't be parsed into an integer"),
            "{err}"
        );
        let err = c.load_text("requirepass \"abc\n").unwrap_err();
        assert!(
            err.ends_with("Unbalanced quotes in configuration line"),
            "{err}"
        );
        c.load_text("list-max-ziplist-entries 512\nrequirepass \"a b\\x41\"\n")
            .unwrap();
        assert_eq!(c.requirepass.as_deref(), Some("a bA"));
        let path =
            std::env::temp_dir().join(format!("spindle-kv-config-{}.conf", std::process::id()));
        std::fs::write(&path, "port 7000\nhz 20\n").unwrap();
        let err = Config::from_args(&args(&[path.to_str().unwrap(), "--port", "x"])).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        // Two lines in the file, then an empty one, then the flags: as redis-server counts.
        assert!(err.contains("at line 4\n>>> 'port \"x\"'\n"), "{err}");
    }

    #[test]
    fn config_set_speaks_redis_words() {
        let mut c = Config::default();
        assert_eq!(
            c.set("port", "abc").unwrap_err().to_string(),
            "CONFIG SET failed (possibly related to argument 'port') - argument couldn't be parsed into an integer"
        );
        assert_eq!(
            c.set("nope", "1").unwrap_err().to_string(),
            "Unknown option or number of arguments for CONFIG SET - 'nope'"
        );
        assert_eq!(
            c.set("Slave-Read-Only", "maybe").unwrap_err().to_string(),
            "CONFIG SET failed (possibly related to argument 'slave-read-only') - argument must be 'yes' or 'no'"
        );
    }

    #[test]
    fn rewrite_keeps_comments_updates_lines_and_appends_the_rest() {
        let mut c = Config::default();
        let old = "# my settings\nport 7000\nslave-read-only yes\nsave 60 1\nsave 300 10\nrename-command FOO BAR\nlist-max-ziplist-entries 5\n\n\nhz 20\n";
        c.load_text("port 7000\nslave-read-only yes\nsave 60 1\nsave 300 10\nhz 20")
            .unwrap();
        c.set("replica-read-only", "no").unwrap();
        c.set("save", "").unwrap();
        c.set("maxmemory", "2gb").unwrap();
        c.set("hz", "10").unwrap();
        c.set("requirepass", "p\"w").unwrap();
        c.set("client-output-buffer-limit", "pubsub 64mb 16mb 90")
            .unwrap();
        let text = c.rewrite_text(old);
        let expected_start = "# my settings\nport 7000\nreplica-read-only no\nsave \"\"\n\nrename-command FOO BAR\n# ??? list-max-ziplist-entries 5\n\nhz 10\n\n# Generated by CONFIG REWRITE\n";
        assert!(text.starts_with(expected_start), "{text}");
        for line in [
            "maxmemory 2gb\n",
            "requirepass \"p\\\"w\"\n",
            "client-output-buffer-limit pubsub 64mb 16mb 90\n",
            "dir \"./spindle-data\"\n",
            "latency-tracking-info-percentiles 50 99 99.9\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert!(
            !text.contains("client-output-buffer-limit normal"),
            "{text}"
        );
        // The rewritten text reads back to the same values.
        let mut again = Config::default();
        // (spindle reads no rename-command: a line kept for the file's other readers.)
        again
            .load_text(&text.replace("rename-command FOO BAR\n", ""))
            .unwrap();
        assert_eq!(again.values, c.values);
        // Rewritten again (a class of output limits takes the first such line, as in Redis),
        // it still reads back the same.
        let twice = again.rewrite_text(&text.replace("rename-command FOO BAR\n", ""));
        let mut third = Config::default();
        third.load_text(&twice).unwrap();
        assert_eq!(third.values, c.values);
    }
}
