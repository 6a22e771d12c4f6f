//! CONFIG in `spindle kv` beside redis-server 7.0.15: `CONFIG GET *` lists the same
//! directives with the same defaults (but for the differences listed below), CONFIG SET gives
//! the same replies and leaves the same values for a sample of every kind of directive, and
//! CONFIG REWRITE writes a config file that starts the server again with the values it had,
//! keeping the lines Redis keeps.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::kv::{connect, spindle_kv, RedisServer};
use common::{spawn_and_read_port, spindle, Running};
use redis::{Connection, Value};

/// Directives whose values differ on purpose, with why (docs/kv.md lists them too).
const DIFFERENCES: &[(&str, &str)] = &[
    ("port", "each server listens on a port of its own"),
    (
        "dir",
        "spindle keeps its files in ./spindle-data, not the working directory",
    ),
    (
        "protected-mode",
        "spindle has no protected mode (it binds 127.0.0.1 by default)",
    ),
    ("busy-poll", "spindle's own: the reactor's busy-poll window"),
];

/// A reply as text: the value, or the error's code and words.
fn reply(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(c) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!(
            "-{} {}",
            e.code().unwrap_or_default(),
            e.detail().unwrap_or_default()
        ),
    }
}

/// A `+OK` reply, as [`reply`] shows it.
fn ok() -> String {
    format!("{:?}", Value::Okay)
}

/// `CONFIG GET pattern` as a map, minus the listed differences.
fn config_get(c: &mut Connection, pattern: &str) -> BTreeMap<String, String> {
    let flat: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(pattern)
        .query(c)
        .unwrap();
    flat.chunks(2)
        .filter(|p| !DIFFERENCES.iter().any(|(d, _)| *d == p[0]))
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

/// A CONFIG GET reply's pairs, sorted.
fn pairs(c: &mut Connection, args: &[&str]) -> Vec<(String, String)> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let flat: Vec<String> = cmd.query(c).unwrap();
    let mut pairs: Vec<(String, String)> = flat
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn config_get_star_lists_what_redis_server_lists() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut r = redis.connect();
    let (_spindle, mut s) = spindle_kv();
    let theirs = config_get(&mut r, "*");
    let ours = config_get(&mut s, "*");
    let missing: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    let extra: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    assert!(missing.is_empty(), "not known to spindle: {missing:?}");
    assert!(extra.is_empty(), "not known to redis-server: {extra:?}");
    let unequal: Vec<_> = theirs
        .iter()
        .filter(|(k, v)| ours.get(*k) != Some(v))
        .map(|(k, v)| (k, v, ours.get(k)))
        .collect();
    assert!(unequal.is_empty(), "(name, redis, spindle): {unequal:?}");
    assert!(theirs.len() > 180, "{} directives", theirs.len());
    // Exact names (in the case given, hidden ones too) and aliases.
    for args in [
        &["CONFIG", "GET", "Slave-Read-Only"][..],
        &["CONFIG", "GET", "use-exit-on-panic", "HZ", "hz"],
        &["CONFIG", "GET", "*ziplist*"],
        &["CONFIG", "GET", "nosuch"],
    ] {
        // Redis's order is its hash table's: compare the pairs.
        assert_eq!(pairs(&mut s, args), pairs(&mut r, args), "{args:?}");
    }
}

/// CONFIG SET cases: one or more name/value pairs, a sample of every kind of directive.
const SETS: &[&[&str]] = &[
    // booleans
    &["rdbcompression", "no"],
    &["rdbcompression", "maybe"],
    &["slave-read-only", "NO"],
    &["daemonize", "yes"],
    &["activedefrag", "yes"],
    &["lazyfree-lazy-user-del", "yes"],
    // integers and their bounds
    &["hz", "1000"],
    &["hz", "-1"],
    &["hz", "0"],
    &["maxmemory-eviction-tenacity", "101"],
    &["timeout", "01"],
    &["timeout", "+1"],
    &["timeout", "30"],
    &["list-max-ziplist-size", "-5"],
    &["repl-timeout", "0"],
    &["maxclients", "-1"],
    &["set-max-intset-entries", "-1"],
    &["set-max-intset-entries", "1000"],
    &["slowlog-log-slower-than", "-2"],
    &["active-expire-effort", "11"],
    &["lua-time-limit", "100"],
    &["unixsocketperm", "700"],
    // memory values
    &["maxmemory", "1GB"],
    &["maxmemory", "10k"],
    &["maxmemory", "-1"],
    &["maxmemory", "5tb"],
    &["maxmemory", ""],
    &["proto-max-bulk-len", "1kb"],
    &["proto-max-bulk-len", "2mb"],
    &["hash-max-ziplist-value", "1kb"],
    &["hash-max-listpack-value", "-1"],
    &["maxmemory-clients", "50%"],
    &["maxmemory-clients", "101%"],
    &["maxmemory-clients", "0%"],
    &["maxmemory-clients", "64mb"],
    &["repl-backlog-size", "0"],
    &["client-query-buffer-limit", "2mb"],
    &["auto-aof-rewrite-min-size", "32mb"],
    // enums
    &["maxmemory-policy", "ALLKEYS-LRU"],
    &["maxmemory-policy", "lru"],
    &["loglevel", "warning"],
    &["loglevel", "nope"],
    &["oom-score-adj", "relative"],
    &["shutdown-on-sigterm", "nosave now"],
    &["shutdown-on-sigterm", "save nosave"],
    &["shutdown-on-sigterm", ""],
    &["appendfsync", "always"],
    &["acl-pubsub-default", "allchannels"],
    &["sanitize-dump-payload", "clients"],
    &["enable-debug-command", "yes"],
    // strings
    &["dbfilename", "x/y"],
    &["masteruser", "bob"],
    &["replica-announce-ip", "10.0.0.1"],
    &["cluster-announce-hostname", "bad_host"],
    &["cluster-announce-hostname", "good-host.example"],
    &["proc-title-template", "{title}"],
    &["proc-title-template", "{title} {port}"],
    &["appendfilename", "x.aof"],
    // special shapes
    &["save", "3600 1 300 100"],
    &["save", "3600"],
    &["save", "0 1"],
    &["save", ""],
    &["client-output-buffer-limit", "normal 1mb 512kb 10"],
    &["client-output-buffer-limit", "pubsub 1 2"],
    &["client-output-buffer-limit", "master 1 2 3"],
    &["client-output-buffer-limit", "replica 1gb 1gb x"],
    &["client-output-buffer-limit", "slave 1gb 1gb 0 PUBSUB 3 4 5"],
    &["notify-keyspace-events", "KEA"],
    &["notify-keyspace-events", "Ex"],
    &["notify-keyspace-events", "Z"],
    &["oom-score-adj-values", "0 100 3000"],
    &["oom-score-adj-values", "1 2"],
    &["oom-score-adj-values", "1 2 3"],
    &["latency-tracking-info-percentiles", "50 99.5"],
    &["latency-tracking-info-percentiles", "101"],
    &["latency-tracking-info-percentiles", "50.000 x"],
    &["replicaof", "no one"],
    // several at once: all or nothing, names checked first
    &["hz", "5", "maxmemory", "1mb"],
    &["hz", "6", "maxmemory", "lots"],
    &["hz", "7", "hz", "8"],
    &["hz", "7", "nosuch", "1"],
    &["hz", "7", "databases", "3"],
    &["hz", "7", "dir", "/tmp"],
    &["hz", "7", "maxmemory"],
    &["nosuch", "1"],
];

#[test]
fn config_set_replies_and_values_match_redis_server() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut r = redis.connect();
    let (_spindle, mut s) = spindle_kv();
    for pairs in SETS {
        let mut args = vec!["CONFIG", "SET"];
        args.extend_from_slice(pairs);
        assert_eq!(reply(&mut s, &args), reply(&mut r, &args), "{args:?}");
        for name in pairs.iter().step_by(2) {
            if DIFFERENCES.iter().any(|(d, _)| d == name) {
                continue;
            }
            let get = ["CONFIG", "GET", name];
            assert_eq!(
                reply(&mut s, &get),
                reply(&mut r, &get),
                "{get:?} after {args:?}"
            );
        }
    }
    // And every directive agrees afterwards.
    assert_eq!(config_get(&mut s, "*"), config_get(&mut r, "*"));
    for args in [
        &["CONFIG", "REWRITE"][..],
        &["CONFIG", "RESETSTAT"],
        &["CONFIG", "HELP"],
        &["CONFIG", "NOSUCH"],
        &["CONFIG", "GET"],
        &["CONFIG", "SET", "hz"],
        &["CONFIG", "REWRITE", "x"],
    ] {
        assert_eq!(reply(&mut s, args), reply(&mut r, args), "{args:?}");
    }
}

/// A directory of this test's own, empty.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spindle-kv-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The config file both servers start from: comments, aliases, a directive given twice,
/// `save` over two lines.
fn write_config(path: &Path, dir: &Path, port: u16) {
    let text = format!(
        "# A test configuration\n\
         port {port}\n\
         bind 127.0.0.1\n\
         dir {}\n\
         \n\
         # replication\n\
         slave-read-only no\n\
         save 900 1\n\
         save 300 10\n\
         hz 15\n\
         hz 16\n\
         maxmemory 100mb\n\
         appendonly no\n",
        dir.display()
    );
    std::fs::write(path, text).unwrap();
}

/// The changes made before CONFIG REWRITE, and the directives read back after the restart.
const CHANGES: &[&[&str]] = &[
    &["maxmemory", "200mb"],
    &["notify-keyspace-events", "KEA"],
    &["client-output-buffer-limit", "pubsub 64mb 16mb 90"],
    &["save", "60 10"],
    &["lua-time-limit", "1000"],
    &["replica-read-only", "yes"],
    &["maxmemory-policy", "allkeys-lfu"],
    &["masteruser", "a user"],
    &["hz", "20"],
];
const READ_BACK: &[&str] = &[
    "maxmemory",
    "notify-keyspace-events",
    "client-output-buffer-limit",
    "save",
    "busy-reply-threshold",
    "replica-read-only",
    "maxmemory-policy",
    "masteruser",
    "hz",
    "maxmemory-samples",
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_spindle(file: &Path) -> (Running, Connection) {
    let mut cmd = spindle();
    cmd.arg("kv").arg(file);
    let (server, port) = spawn_and_read_port("spindle kv", cmd);
    (server, connect(port).expect("spindle kv answers"))
}

/// A redis-server started with a config file, killed on drop.
struct RedisWithFile(std::process::Child);

impl Drop for RedisWithFile {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(file: &Path, port: u16) -> Option<(RedisWithFile, Connection)> {
    let child = Command::new("redis-server")
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let guard = RedisWithFile(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = connect(port) {
            return Some((guard, c));
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines of a rewritten file that are not about the server's own place (port, dir, bind:
/// 127.0.0.1 is spindle's default and so not written, Redis's is `* -::*`) or what only Redis
/// writes (its users), nor empty (a `bind` line at spindle's default is blanked), sorted.
fn comparable_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            !l.is_empty()
                && !["port ", "dir ", "bind ", "user "]
                    .iter()
                    .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn config_rewrite_round_trips_and_writes_what_redis_server_writes() {
    let dir = fresh_dir("rewrite");
    let ours = dir.join("spindle.conf");
    write_config(&ours, &dir, 0);
    let (server, mut s) = start_spindle(&ours);
    for pair in CHANGES {
        let args = ["CONFIG", "SET", pair[0], pair[1]];
        assert_eq!(reply(&mut s, &args), ok(), "{args:?}");
    }
    let before: Vec<String> = READ_BACK
        .iter()
        .map(|n| reply(&mut s, &["CONFIG", "GET", n]))
        .collect();
    assert_eq!(reply(&mut s, &["CONFIG", "REWRITE"]), ok());
    drop(server);
    let text = std::fs::read_to_string(&ours).unwrap();
    assert!(
        text.starts_with("# A test configuration\nport 0\n"),
        "{text}"
    );
    assert!(
        text.contains("# replication\nreplica-read-only yes\nsave 60 10\n"),
        "{text}"
    );
    assert!(text.contains("\n# Generated by CONFIG REWRITE\n"), "{text}");
    let (_server, mut s) = start_spindle(&ours);
    let after: Vec<String> = READ_BACK
        .iter()
        .map(|n| reply(&mut s, &["CONFIG", "GET", n]))
        .collect();
    assert_eq!(after, before);

    // redis-server, from the same file, given the same changes, writes the same lines.
    let port = free_port();
    let theirs = dir.join("redis.conf");
    write_config(&theirs, &dir, port);
    let Some((_redis, mut r)) = start_redis(&theirs, port) else {
        eprintln!("redis-server is not installed: comparison skipped");
        return;
    };
    for pair in CHANGES {
        let args = ["CONFIG", "SET", pair[0], pair[1]];
        assert_eq!(reply(&mut r, &args), ok(), "{args:?}");
    }
    assert_eq!(reply(&mut r, &["CONFIG", "REWRITE"]), ok());
    let redis_text = std::fs::read_to_string(&theirs).unwrap();
    assert_eq!(comparable_lines(&text), comparable_lines(&redis_text));
    let _ = std::fs::remove_dir_all(&dir);
}
