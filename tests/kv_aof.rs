//! `spindle kv --appendonly yes`: what a reply acknowledged survives `kill -9`, the AOF is
//! Redis 7.0's (redis-check-aof accepts it, redis-server loads it and spindle loads
//! redis-server's), and a damaged AOF starts as Redis starts: a torn tail truncated, a corrupt
//! middle refused with the way to repair it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::hostile::command;
use common::kv::{connect, run, spindle_kv_with, without_aof_fill, RedisServer};
use common::Running;
use redis::Value;

/// A data directory of this test's own, empty.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spindle-kv-aof-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(dir: &Path, fsync: &str) -> (Running, u16) {
    let dir = dir.to_str().unwrap();
    spindle_kv_with(&["--dir", dir, "--appendonly", "yes", "--appendfsync", fsync])
}

fn kill_9(server: &mut Running) {
    let _ = Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status();
    server.wait_for_exit(Duration::from_secs(10));
}

/// A small deterministic generator (xorshift), so a failing run can be repeated from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one writer sent and what was acknowledged, in order: INCRs of its counter, and SETs
/// of its own keys `w<id>:<n>` to `v<n>`.
#[derive(Default, Clone)]
struct Log {
    /// (is_incr, n, acknowledged at) for every command sent, in order; `None` until replied.
    sent: Vec<(bool, u64, Option<Instant>)>,
}

/// One writer: pipelines batches of mixed INCR and SET on its own connection until the
/// server goes away, noting every reply. Returns its log.
fn writer(id: usize, port: u16, seed: u64, mut next_set: u64, acked: Arc<AtomicU64>) -> Log {
    let mut rng = Rng(seed | 1);
    let mut log = Log::default();
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return log;
    };
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    let counter = format!("c{id}");
    loop {
        let batch = 1 + rng.below(40) as usize;
        let mut bytes = Vec::new();
        let first = log.sent.len();
        for _ in 0..batch {
            if rng.below(2) == 0 {
                bytes.extend(command(&[b"INCR", counter.as_bytes()]));
                log.sent.push((true, 0, None));
            } else {
                let key = format!("w{id}:{next_set}");
                let value = format!("v{next_set}");
                bytes.extend(command(&[b"SET", key.as_bytes(), value.as_bytes()]));
                log.sent.push((false, next_set, None));
                next_set += 1;
            }
        }
        if stream.write_all(&bytes).is_err() {
            return log;
        }
        for i in first..first + batch {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(n) if n > 0 && line.ends_with(b"\r\n") => {
                    assert!(
                        line[0] == b'+' || line[0] == b':',
                        "unexpected reply {:?}",
                        String::from_utf8_lossy(&line)
                    );
                    log.sent[i].2 = Some(Instant::now());
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                _ => return log,
            }
        }
    }
}

/// The state the writers' logs allow after a restart, checked against the server: every
/// acknowledged write is there; a write sent but not acknowledged may be there or not (only
/// the unacknowledged tail of each writer); nothing never sent is there. Returns, per writer,
/// the counter's value and the next SET number, to go on from; and, for each acknowledged
/// write found missing, how long before the kill it was acknowledged.
struct Check {
    counters: Vec<u64>,
    next_sets: Vec<u64>,
    missing: Vec<Duration>,
    acked: u64,
}

fn check(
    port: u16,
    logs: &[Log],
    counters_before: &[u64],
    sets_before: &[u64],
    killed_at: Instant,
) -> Check {
    let before_kill = |at: &Instant| killed_at.saturating_duration_since(*at);
    let mut c = connect(port).expect("restarted server answers");
    let mut out = Check {
        counters: Vec::new(),
        next_sets: Vec::new(),
        missing: Vec::new(),
        acked: 0,
    };
    for (id, log) in logs.iter().enumerate() {
        let incr_acked: Vec<Instant> = log
            .sent
            .iter()
            .filter(|(incr, _, _)| *incr)
            .filter_map(|(_, _, at)| *at)
            .collect();
        let incr_sent = log.sent.iter().filter(|(incr, _, _)| *incr).count() as u64;
        let value: Option<u64> = redis::cmd("GET")
            .arg(format!("c{id}"))
            .query(&mut c)
            .unwrap();
        let value = value.unwrap_or(0);
        let low = counters_before[id] + incr_acked.len() as u64;
        let high = counters_before[id] + incr_sent;
        assert!(value <= high, "writer {id}: counter {value} > {high} sent");
        if value < low {
            // Lost acknowledged INCRs: the last `low - value` acknowledged ones.
            let lost = (low - value) as usize;
            out.missing.extend(
                incr_acked[incr_acked.len() - lost..]
                    .iter()
                    .map(before_kill),
            );
        }
        out.counters.push(value);
        out.acked += log.sent.iter().filter(|s| s.2.is_some()).count() as u64;
        let mut next = sets_before[id];
        for (incr, n, at) in &log.sent {
            if *incr {
                continue;
            }
            let got: Option<String> = redis::cmd("GET")
                .arg(format!("w{id}:{n}"))
                .query(&mut c)
                .unwrap();
            match (got, at) {
                (Some(v), _) => assert_eq!(v, format!("v{n}"), "writer {id} key {n}"),
                (None, Some(at)) => out.missing.push(before_kill(at)),
                (None, None) => {}
            }
            next = n + 1;
        }
        // Nothing past what was sent.
        let beyond: Option<String> = redis::cmd("GET")
            .arg(format!("w{id}:{next}"))
            .query(&mut c)
            .unwrap();
        assert_eq!(beyond, None, "writer {id}: key {next} was never sent");
        out.next_sets.push(next);
    }
    out
}

/// Rounds of writers killed at a seeded point; after each restart the check above.
fn kill_rounds(fsync: &str, rounds: usize, writers: usize, per_round: (u64, u64)) -> Vec<Check> {
    let seed = std::env::var("SPINDLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_a0f0_u64 ^ std::process::id() as u64);
    eprintln!("kill rounds with appendfsync {fsync}: seed {seed} (SPINDLE_SEED to repeat)");
    let mut rng = Rng(seed | 1);
    let dir = fresh_dir(fsync);
    let mut counters = vec![0u64; writers];
    let mut sets = vec![0u64; writers];
    let mut checks = Vec::new();
    for round in 0..rounds {
        let (mut server, port) = start(&dir, fsync);
        let acked = Arc::new(AtomicU64::new(0));
        let kill_at = per_round.0 + rng.below(per_round.1 - per_round.0);
        let threads: Vec<_> = (0..writers)
            .map(|id| {
                let (acked, next_set, seed) = (acked.clone(), sets[id], rng.next());
                std::thread::spawn(move || writer(id, port, seed, next_set, acked))
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.load(Ordering::Relaxed) < kill_at {
            assert!(
                Instant::now() < deadline,
                "writers stalled before {kill_at}"
            );
            std::thread::sleep(Duration::from_millis(1)); // polling the count, not a fixed wait
        }
        kill_9(&mut server);
        let killed_at = Instant::now();
        let logs: Vec<Log> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        drop(server);
        let (server, port) = start(&dir, fsync);
        let c = check(port, &logs, &counters, &sets, killed_at);
        eprintln!(
            "round {round}: killed after {kill_at}+ acknowledged; {} acknowledged, {} missing \
             after restart (the oldest acknowledged {:?} before the kill)",
            c.acked,
            c.missing.len(),
            c.missing.iter().max()
        );
        counters = c.counters.clone();
        sets = c.next_sets.clone();
        checks.push(c);
        drop(server);
    }
    let _ = std::fs::remove_dir_all(&dir);
    checks
}

#[test]
fn appendfsync_always_keeps_every_acknowledged_write_through_kill_9() {
    let checks = kill_rounds("always", 5, 4, (20_000, 30_000));
    let total: u64 = checks.iter().map(|c| c.acked).sum();
    assert!(total >= 100_000, "only {total} writes acknowledged");
    for (round, c) in checks.iter().enumerate() {
        assert!(
            c.missing.is_empty(),
            "round {round}: {} acknowledged writes lost",
            c.missing.len()
        );
    }
}

#[test]
fn appendfsync_everysec_loses_at_most_the_last_two_seconds() {
    let checks = kill_rounds("everysec", 3, 4, (20_000, 40_000));
    for (round, c) in checks.iter().enumerate() {
        // Lost writes, if any, were acknowledged within ~2 s of the kill: everysec fsyncs
        // once a second.
        if let Some(oldest) = c.missing.iter().max() {
            assert!(
                *oldest <= Duration::from_secs(2),
                "round {round}: a write acknowledged {oldest:?} before the kill was lost"
            );
        }
    }
}

/// A few keys of every kind, with a TTL and a second database, through the AOF.
fn fill(c: &mut redis::Connection) {
    for args in [
        &["SET", "s", "hello"][..],
        &["INCRBY", "n", "41"],
        &["INCR", "n"],
        &["RPUSH", "l", "a", "b", "c"],
        &["LPOP", "l"],
        &["SADD", "set", "x", "y"],
        &["HSET", "h", "f", "1", "g", "2"],
        &["ZADD", "z", "1.5", "a", "2", "b"],
        &["SET", "ttl", "v", "EX", "1000"],
        &["EXPIRE", "s", "5000"],
        &["MULTI"],
        &["INCR", "n"],
        &["SELECT", "3"],
        &["SET", "in3", "three"],
        &["EXEC"],
        &["SELECT", "0"],
        &["SET", "gone", "x", "PX", "1"],
        // An approximate trim with LIMIT propagates as an exact trim that keeps the LIMIT,
        // which a replay must accept (Redis ignores LIMIT from the AOF and from a master).
        &[
            "XADD", "stream", "MAXLEN", "~", "2", "LIMIT", "100", "*", "f", "1",
        ],
        &[
            "XADD", "stream", "MAXLEN", "~", "2", "LIMIT", "100", "*", "f", "2",
        ],
    ] {
        let _: Value = run(c, args);
    }
}

/// Everything `fill` left, as redis commands read it (TTLs rounded to tens of seconds).
fn snapshot(c: &mut redis::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for args in [
        &["GET", "s"][..],
        &["GET", "n"],
        &["LRANGE", "l", "0", "-1"],
        &["SMEMBERS", "set"],
        &["HGETALL", "h"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["EXISTS", "gone"],
        &["XLEN", "stream"],
    ] {
        out.push(format!("{:?}", sort(run(c, args))));
    }
    for key in ["ttl", "s"] {
        let ttl: i64 = redis::cmd("TTL").arg(key).query(c).unwrap();
        out.push(format!("{key} ttl ~{}", (ttl + 5) / 10));
    }
    let _: Value = run(c, &["SELECT", "3"]);
    out.push(format!("{:?}", run(c, &["GET", "in3"])));
    let _: Value = run(c, &["SELECT", "0"]);
    out
}

fn sort(v: Value) -> Value {
    match v {
        Value::Array(mut items) => {
            items.sort_by_key(|i| format!("{i:?}"));
            Value::Array(items)
        }
        Value::Map(mut items) => {
            items.sort_by_key(|i| format!("{i:?}"));
            Value::Map(items)
        }
        other => other,
    }
}

/// redis-check-aof accepts the AOF whose manifest is `manifest`; `when` names the moment.
fn assert_valid_aof(manifest: impl AsRef<std::ffi::OsStr>, when: &str) {
    let out = Command::new("redis-check-aof")
        .arg(manifest)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("All AOF files and manifest are valid"),
        "{when}: {text}"
    );
}

/// redis-server with the AOF on, started on a copy (in a fresh dir named `name`) of the AOF
/// directory of `dir`; the copy's dir and the server.
fn redis_on_copy(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, RedisServer) {
    let copy = fresh_dir(name);
    copy_dir(&dir.join("appendonlydir"), &copy);
    let mut args = vec!["--dir", copy.to_str().unwrap(), "--appendonly", "yes"];
    args.extend_from_slice(extra);
    let redis = RedisServer::start_with(&args).unwrap();
    (copy, redis)
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_aof_is_redis_7s_both_ways() {
    let Some(_probe) = RedisServer::start() else {
        return;
    };
    drop(_probe);
    // spindle writes, redis-check-aof accepts, redis-server loads the same data.
    let dir = fresh_dir("interop");
    let (mut server, port) = start(&dir, "always");
    let mut c = connect(port).unwrap();
    fill(&mut c);
    let ours = snapshot(&mut c);
    kill_9(&mut server);
    drop(server);
    // After a crash the last increment ends with the fill spindle keeps ahead of its
    // commands (empty annotation lines): valid as it is for Redis's tools.
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let incr = std::fs::read(dir.join("appendonlydir/appendonly.aof.1.incr.aof")).unwrap();
    assert!(incr.ends_with(b"#\n#\n"), "no fill after a crash");
    assert_valid_aof(&manifest, "redis-check-aof");
    // Written before each reply: it is killed, not shut down, below.
    let (theirs_dir, redis) = redis_on_copy(&dir, "interop-redis", &["--appendfsync", "always"]);
    let mut r = redis.connect();
    assert_eq!(snapshot(&mut r), ours, "redis-server loading spindle's AOF");

    // redis-server writes more to it; spindle loads redis-server's AOF (its base and
    // increment, and what it appended).
    let _: Value = run(&mut r, &["SET", "from-redis", "yes"]);
    let _: Value = run(&mut r, &["RPUSH", "l", "d"]);
    let after = snapshot(&mut r);
    drop(redis);
    let back = fresh_dir("interop-back");
    copy_dir(&theirs_dir.join("appendonlydir"), &back);
    let (mut _server, port) = start(&back, "everysec");
    let mut c = connect(port).unwrap();
    assert_eq!(
        snapshot(&mut c),
        after,
        "spindle loading redis-server's AOF"
    );
    assert_eq!(
        run(&mut c, &["GET", "from-redis"]),
        Value::BulkString(b"yes".to_vec())
    );
    // Stopped cleanly, spindle leaves no fill.
    let _: Value = run(&mut c, &["SET", "from-spindle-again", "yes"]);
    let _ = redis::cmd("SHUTDOWN").query::<Value>(&mut c);
    assert!(
        _server.wait_for_exit(Duration::from_secs(10)).is_some(),
        "SHUTDOWN did not stop the server"
    );
    assert_valid_aof(
        back.join("appendonlydir/appendonly.aof.manifest"),
        "redis-check-aof after SHUTDOWN",
    );
    let incr = back.join("appendonlydir/appendonly.aof.1.incr.aof");
    let bytes = std::fs::read(&incr).unwrap();
    assert!(
        bytes.ends_with(b"\r\n"),
        "{} ends with fill",
        incr.display()
    );
    for d in [dir, theirs_dir, back] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_torn_tail_is_truncated_and_a_corrupt_middle_refuses_to_start() {
    let dir = fresh_dir("damage");
    let (mut server, port) = start(&dir, "always");
    let mut c = connect(port).unwrap();
    for i in 0..10 {
        let _: Value = run(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    kill_9(&mut server);
    drop(server);
    let incr = dir.join("appendonlydir/appendonly.aof.1.incr.aof");
    // The commands, without the fill kept ahead of them (`#\n` lines, and a `#` after a
    // command ending at an odd offset).
    let whole = without_aof_fill(&std::fs::read(&incr).unwrap()).to_vec();

    // A command cut short at the end, as a crash mid-write leaves it.
    let mut torn = whole.clone();
    torn.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$2\r\nk1");
    std::fs::write(&incr, &torn).unwrap();
    let (mut server, port) = start(&dir, "always");
    let mut c = connect(port).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 10);
    let log = server.stderr();
    assert!(
        log.contains(&format!(
            "Truncating the AOF appendonly.aof.1.incr.aof at offset {}",
            whole.len()
        )),
        "{log}"
    );
    assert_eq!(std::fs::metadata(&incr).unwrap().len(), whole.len() as u64);
    // And it goes on appending after the cut.
    let _: Value = run(&mut c, &["SET", "after", "cut"]);
    kill_9(&mut server);
    drop(server);
    let (_server, port) = start(&dir, "always");
    let mut c = connect(port).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 11);
    drop(_server);

    // Garbage in the middle: refuses to start, naming the offset and the repair.
    let mut bad = std::fs::read(&incr).unwrap();
    let at = whole.len() / 2;
    let at = at + bad[at..].iter().position(|&b| b == b'*').unwrap();
    bad[at] = b'!';
    std::fs::write(&incr, &bad).unwrap();
    let mut cmd = common::spindle();
    cmd.args(["kv", "--port", "0", "--appendonly", "yes", "--dir"])
        .arg(&dir);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "Bad file format reading the append only file appendonly.aof.1.incr.aof at offset {at}"
        )) && err.contains("check-aof --fix"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keys of every type and encoding, with expiries, consumer groups and a library: what a
/// base written as commands (`aof-use-rdb-preamble no`) must rebuild.
fn fill_every_type(c: &mut redis::Connection) {
    let many: Vec<String> = (0..150).map(|i| format!("m{i}")).collect();
    let mut args = vec!["RPUSH".to_string(), "biglist".into()];
    args.extend(many.iter().cloned());
    let _: Value = run(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
    args[0] = "SADD".into();
    args[1] = "bigset".into();
    let _: Value = run(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut z = vec!["ZADD".to_string(), "bigz".into()];
    let mut h = vec!["HSET".to_string(), "bigh".into()];
    for (i, m) in many.iter().enumerate() {
        z.push(format!("{}", i as f64 / 7.0));
        z.push(m.clone());
        h.push(m.clone());
        h.push(format!("value-{i}"));
    }
    let _: Value = run(c, &z.iter().map(String::as_str).collect::<Vec<_>>());
    let _: Value = run(c, &h.iter().map(String::as_str).collect::<Vec<_>>());
    for args in [
        &["SET", "str", "hello"][..],
        &["SET", "int", "-12345"],
        &["RPUSH", "list", "a", "1", "c"],
        &["SADD", "ints", "1", "2", "-3"],
        &["ZADD", "z", "inf", "top", "-inf", "bottom", "0.1", "tenth", "1e300", "huge"],
        &["HSET", "h", "f", "1", "g", "two"],
        &["SET", "ttl", "v", "EX", "1000"],
        &["PEXPIRE", "biglist", "50000000"],
        &["XADD", "s", "1-1", "a", "1"],
        &["XADD", "s", "1-2", "a", "2", "b", "3"],
        &["XADD", "s", "2-0", "c", "4"],
        &["XADD", "s", "3-0", "a", "5"],
        &["XDEL", "s", "1-2"],
        &["XGROUP", "CREATE", "s", "g1", "0"],
        &["XGROUP", "CREATE", "s", "g2", "$"],
        &["XREADGROUP", "GROUP", "g1", "alice", "COUNT", "2", "STREAMS", "s", ">"],
        &["XREADGROUP", "GROUP", "g1", "bob", "COUNT", "1", "STREAMS", "s", ">"],
        &["XGROUP", "CREATECONSUMER", "s", "g1", "carol"],
        &["XACK", "s", "g1", "1-1"],
        &["XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"],
        &["XADD", "emptied", "5-5", "f", "v"],
        &["XDEL", "emptied", "5-5"],
        &["SELECT", "3"],
        &["SET", "in3", "three"],
        &["SELECT", "0"],
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib\nredis.register_function('echo1', function(keys, args) return args[1] end)",
        ],
    ] {
        let _: Value = run(c, args);
    }
}

/// What `fill_every_type` left that DEBUG DIGEST does not cover: groups, pending entries
/// (without their idle times, which depend on the clock), libraries.
fn groups_and_libraries(c: &mut redis::Connection) -> Vec<String> {
    let mut out = vec![format!("{:?}", run(c, &["XINFO", "GROUPS", "s"]))];
    for g in ["g1", "g2"] {
        let Value::Array(entries) = run(c, &["XPENDING", "s", g, "-", "+", "100"]) else {
            panic!("XPENDING");
        };
        for e in entries {
            if let Value::Array(mut fields) = e {
                fields.remove(2);
                out.push(format!("{g} {fields:?}"));
            }
        }
        let Value::Array(consumers) = run(c, &["XINFO", "CONSUMERS", "s", g]) else {
            panic!("XINFO CONSUMERS");
        };
        for consumer in consumers {
            if let Value::Array(fields) = consumer {
                out.push(format!("{g} {:?} {:?}", fields.get(1), fields.get(3)));
            }
        }
    }
    out.push(format!("{:?}", run(c, &["XINFO", "GROUPS", "empty"])));
    out.push(format!("{:?}", run(c, &["XINFO", "STREAM", "emptied"])));
    out.push(format!("{:?}", run(c, &["FUNCTION", "LIST", "WITHCODE"])));
    out
}

fn digest(c: &mut redis::Connection) -> Value {
    run(c, &["DEBUG", "DIGEST"])
}

/// Runs BGREWRITEAOF and waits until the rewrite is over; its status.
fn rewrite_and_wait(c: &mut redis::Connection) -> String {
    let _: Value = run(c, &["BGREWRITEAOF"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::to_string)
                .unwrap_or_default()
        };
        if field("aof_rewrite_in_progress:") == "0" && field("aof_rewrite_scheduled:") == "0" {
            return field("aof_last_bgrewrite_status:");
        }
        assert!(Instant::now() < deadline, "the rewrite did not end: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The base the manifest names, read.
fn base_of(dir: &Path) -> (String, Vec<u8>) {
    let aof = dir.join("appendonlydir");
    let manifest = std::fs::read_to_string(aof.join("appendonly.aof.manifest")).unwrap();
    let name = manifest
        .lines()
        .find(|l| l.ends_with("type b"))
        .and_then(|l| l.split(' ').nth(1))
        .unwrap()
        .to_string();
    let bytes = std::fs::read(aof.join(&name)).unwrap();
    (name, bytes)
}

#[test]
fn a_base_written_as_commands_rebuilds_every_type_on_both_servers() {
    let Some(_probe) = RedisServer::start() else {
        return;
    };
    drop(_probe);
    let dir = fresh_dir("commands-base");
    let d = dir.to_str().unwrap();
    let (mut server, port) = spindle_kv_with(&[
        "--dir",
        d,
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--enable-debug-command",
        "yes",
    ]);
    let mut c = connect(port).unwrap();
    // Opened without an AOF, the first base is already commands.
    assert_eq!(base_of(&dir).0, "appendonly.aof.1.base.aof");
    fill_every_type(&mut c);
    let want = digest(&mut c);
    let want_rest = groups_and_libraries(&mut c);
    assert_eq!(rewrite_and_wait(&mut c), "ok");
    let (name, base) = base_of(&dir);
    assert_eq!(name, "appendonly.aof.2.base.aof");
    assert!(
        base.starts_with(b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n"),
        "{name} starts with {:?}",
        String::from_utf8_lossy(&base[..40.min(base.len())])
    );
    let text = String::from_utf8_lossy(&base);
    for expected in [
        "XSETID",
        "XCLAIM",
        "CREATECONSUMER",
        "PEXPIREAT",
        "HMSET",
        "RPUSH",
    ] {
        assert!(text.contains(expected), "no {expected} in the base");
    }
    assert_valid_aof(
        dir.join("appendonlydir/appendonly.aof.manifest"),
        "redis-check-aof",
    );

    // redis-server loads it with the same data.
    let (theirs, redis) = redis_on_copy(
        &dir,
        "commands-base-redis",
        &[
            "--aof-use-rdb-preamble",
            "no",
            "--enable-debug-command",
            "yes",
        ],
    );
    let mut r = redis.connect();
    assert_eq!(digest(&mut r), want, "redis-server loading spindle's base");
    assert_eq!(groups_and_libraries(&mut r), want_rest);
    // And spindle loads redis-server's own base written as commands.
    assert_eq!(rewrite_and_wait(&mut r), "ok");
    assert!(base_of(&theirs).1.starts_with(b"*"));
    drop(redis);
    let back = fresh_dir("commands-base-back");
    copy_dir(&theirs.join("appendonlydir"), &back);
    let (_back_server, port) = spindle_kv_with(&[
        "--dir",
        back.to_str().unwrap(),
        "--appendonly",
        "yes",
        "--enable-debug-command",
        "yes",
    ]);
    let mut b = connect(port).unwrap();
    assert_eq!(digest(&mut b), want, "spindle loading redis-server's base");
    assert_eq!(groups_and_libraries(&mut b), want_rest);

    // spindle restarts from its own.
    let _ = redis::cmd("SHUTDOWN").query::<Value>(&mut c);
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    drop(server);
    let (_again, port) = spindle_kv_with(&[
        "--dir",
        d,
        "--appendonly",
        "yes",
        "--enable-debug-command",
        "yes",
    ]);
    let mut c = connect(port).unwrap();
    assert_eq!(digest(&mut c), want, "spindle restarting from its base");
    assert_eq!(groups_and_libraries(&mut c), want_rest);
    for d in [dir, theirs, back] {
        let _ = std::fs::remove_dir_all(d);
    }
}
