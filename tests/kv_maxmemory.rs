//! `maxmemory` and its eviction policies in `spindle kv`, with the same scenarios run against
//! redis-server 7.0 where the outcome is comparable (which keys survive, which errors come
//! back, what INFO says — not exact key counts: the two servers' memory per key differs).
//! Each scenario fills a 2–4 MB server with 1000-byte values and checks, after every write,
//! that `used_memory` stays under `maxmemory` plus a small slack. Skipped against redis-server
//! (with a note) when it is not installed; spindle's half always runs.

mod common;

use std::time::{Duration, Instant};

use common::kv::{connect, spindle_kv_with, RedisServer};
use common::Running;
use redis::{Connection, Value};

const OOM: &str = "command not allowed when used memory > 'maxmemory'.";
/// What `used_memory` may exceed `maxmemory` by after a write: the write itself (made before
/// the next command evicts), client buffers, and the keyspace's spare room.
const SLACK: u64 = 256 * 1024;
const VALUE_LEN: usize = 1000;

/// A server under test: spindle kv or redis-server, kept alive with its connection.
struct Server {
    name: &'static str,
    conn: Connection,
    _spindle: Option<Running>,
    _redis: Option<RedisServer>,
}

/// spindle kv with `args`, and redis-server with the same if it is installed; each in a
/// fresh directory, so that no dump file left by another test is loaded.
fn servers(args: &[&str]) -> Vec<Server> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("spindle-kv-maxmemory-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.to_str().unwrap().to_string();
    let mut args = args.to_vec();
    args.extend(["--dir", dir.as_str()]);
    let args = &args[..];
    let (mut running, port) = spindle_kv_with(args);
    running.remove_on_drop(dir.clone().into());
    let mut out = vec![Server {
        name: "spindle",
        conn: connect(port).expect("spindle kv answers"),
        _spindle: Some(running),
        _redis: None,
    }];
    if let Some(redis) = RedisServer::start_with(args) {
        out.push(Server {
            name: "redis-server",
            conn: redis.connect(),
            _spindle: None,
            _redis: Some(redis),
        });
    }
    out
}

/// A reply, or the error's whole text.
fn query(c: &mut Connection, args: &[&str]) -> Result<Value, String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<Value>(c).map_err(|e| {
        format!(
            "{} {}",
            e.code().unwrap_or("?"),
            e.detail().unwrap_or_default()
        )
    })
}

fn int(c: &mut Connection, args: &[&str]) -> i64 {
    match query(c, args) {
        Ok(Value::Int(n)) => n,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn info_field(c: &mut Connection, section: &str, field: &str) -> String {
    let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .to_string()
}

fn used_memory(c: &mut Connection) -> u64 {
    info_field(c, "memory", "used_memory").parse().unwrap()
}

fn evicted_keys(c: &mut Connection) -> u64 {
    info_field(c, "stats", "evicted_keys").parse().unwrap()
}

fn value(tag: &str) -> String {
    let mut v = tag.to_string();
    v.extend(std::iter::repeat_n('x', VALUE_LEN - tag.len()));
    v
}

/// DBSIZE and INFO's evicted_keys read in one transaction: every command evicts before it
/// runs (on both servers) while memory is over, so two separate reads could see different
/// datasets.
fn dbsize_and_evicted(c: &mut Connection) -> (u64, u64) {
    let (dbsize, info): (u64, String) = redis::pipe()
        .atomic()
        .cmd("DBSIZE")
        .cmd("INFO")
        .arg("stats")
        .query(c)
        .unwrap();
    let evicted = info
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .unwrap()
        .parse()
        .unwrap();
    (dbsize, evicted)
}

/// SET with optional extra words; checks `used_memory` after it. Err carries the error text.
fn set(s: &mut Server, key: &str, extra: &[&str], max: u64) -> Result<(), String> {
    let v = value(key);
    let mut args = vec!["SET", key, v.as_str()];
    args.extend_from_slice(extra);
    let r = query(&mut s.conn, &args).map(|_| ());
    let used = used_memory(&mut s.conn);
    assert!(
        used <= max + SLACK,
        "{}: used_memory {used} over maxmemory {max} after SET {key}",
        s.name
    );
    r
}

fn exists(c: &mut Connection, key: &str) -> bool {
    int(c, &["EXISTS", key]) == 1
}

/// Writes keys `prefix:0…` (with `extra` words) until `used_memory` reaches `share` of `max`;
/// returns how many.
fn fill_to(s: &mut Server, prefix: &str, extra: &[&str], max: u64, share: f64) -> usize {
    let mut n = 0;
    while (used_memory(&mut s.conn) as f64) < max as f64 * share {
        set(s, &format!("{prefix}:{n}"), extra, max).unwrap();
        n += 1;
    }
    n
}

/// Waits (polling, up to 5 s) until `key` has idled a whole second on the LRU clock, whose
/// resolution is one second in both servers.
fn wait_idle(c: &mut Connection, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while int(c, &["OBJECT", "IDLETIME", key]) < 1 {
        assert!(Instant::now() < deadline, "{key} never idled");
        std::thread::yield_now();
    }
}

const MAX: u64 = 4 * 1024 * 1024;

fn args_for(policy: &str) -> Vec<String> {
    vec![
        "--maxmemory".into(),
        MAX.to_string(),
        "--maxmemory-policy".into(),
        policy.into(),
    ]
}

fn start(policy: &str) -> Vec<Server> {
    let args = args_for(policy);
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    servers(&words)
}

#[test]
fn noeviction_refuses_writes_and_keeps_every_key() {
    for mut s in start("noeviction") {
        let mut written = 0;
        let err = loop {
            match set(&mut s, &format!("k:{written}"), &[], MAX) {
                Ok(()) => written += 1,
                Err(e) => break e,
            }
            assert!(written < 10_000, "{}: never refused", s.name);
        };
        assert_eq!(err, format!("OOM {OOM}"), "{}", s.name);
        let c = &mut s.conn;
        assert_eq!(int(c, &["DBSIZE"]), written, "{}: every key kept", s.name);
        assert_eq!(
            query(c, &["LPUSH", "l", "a"]),
            Err(format!("OOM {OOM}")),
            "{}",
            s.name
        );
        // Reads and DEL still run; DEL makes room.
        assert!(matches!(
            query(c, &["GET", "k:0"]),
            Ok(Value::BulkString(_))
        ));
        assert!(query(c, &["MULTI"]).is_ok());
        assert_eq!(
            query(c, &["GET", "k:0"]),
            Err(format!("OOM {OOM}")),
            "{}: queued in MULTI",
            s.name
        );
        assert_eq!(
            query(c, &["EXEC"]),
            Err("EXECABORT Transaction discarded because of previous errors.".into()),
            "{}",
            s.name
        );
        let keys: Vec<String> = (0..written / 2).map(|n| format!("k:{n}")).collect();
        let mut del = vec!["DEL"];
        del.extend(keys.iter().map(String::as_str));
        assert_eq!(int(c, &del), written / 2);
        set(&mut s, "again", &[], MAX).unwrap();
        assert_eq!(evicted_keys(&mut s.conn), 0, "{}", s.name);
    }
}

/// Fills to 60 % with cold keys, then writes twice as many new keys while reading the 20
/// `hot` keys between writes (every 10 writes, `reads` times each). Under LRU, whose clock
/// ticks in seconds on both servers, a second is let pass after the fill and after the first
/// half of the new keys, so that older keys are idler than the hot ones. Returns how many
/// cold keys and how many new ones were written.
fn hot_and_cold(s: &mut Server, lru: bool, reads: usize) -> (usize, usize) {
    for h in 0..20 {
        set(s, &format!("hot:{h}"), &[], MAX).unwrap();
    }
    let cold = fill_to(s, "cold", &[], MAX, 0.6);
    let mut written = 0;
    for _half in 0..2 {
        if lru {
            let last = match written {
                0 => format!("cold:{}", cold - 1),
                n => format!("new:{}", n - 1),
            };
            wait_idle(&mut s.conn, &last);
        }
        for _ in 0..cold {
            if written % 10 == 0 {
                for h in 0..20 {
                    for _ in 0..reads {
                        let key = format!("hot:{h}");
                        assert!(exists_read(&mut s.conn, &key), "{}: {key}", s.name);
                    }
                }
            }
            set(s, &format!("new:{written}"), &[], MAX).unwrap();
            written += 1;
        }
    }
    (cold, written)
}

/// GET (a read that counts as an access, unlike EXISTS): true if the key was there.
fn exists_read(c: &mut Connection, key: &str) -> bool {
    matches!(query(c, &["GET", key]), Ok(Value::BulkString(_)))
}

fn check_evicted_cold(s: &mut Server, cold: usize, written: usize, cold_go_first: bool) {
    let c = &mut s.conn;
    for h in 0..20 {
        assert!(exists(c, &format!("hot:{h}")), "{}: hot:{h} kept", s.name);
    }
    let cold_left = (0..cold)
        .filter(|n| exists(c, &format!("cold:{n}")))
        .count();
    let (dbsize, evicted) = dbsize_and_evicted(c);
    let made = (20 + cold + written) as u64;
    assert!(dbsize < made, "{}: some keys evicted", s.name);
    if cold_go_first {
        assert!(
            cold_left < cold / 2,
            "{}: most cold keys evicted ({cold_left} of {cold} left)",
            s.name
        );
    }
    assert_eq!(evicted, made - dbsize, "{}: evicted_keys counts", s.name);
}

#[test]
fn allkeys_lru_keeps_the_keys_read_lately() {
    for mut s in start("allkeys-lru") {
        let (cold, written) = hot_and_cold(&mut s, true, 1);
        check_evicted_cold(&mut s, cold, written, true);
        // OBJECT FREQ is for LFU policies only, in Redis's words on both.
        assert_eq!(
            query(&mut s.conn, &["OBJECT", "FREQ", "hot:0"]),
            Err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into()),
            "{}",
            s.name
        );
    }
}

#[test]
fn allkeys_lfu_keeps_the_keys_read_often_and_object_freq_grows() {
    for mut s in start("allkeys-lfu") {
        set(&mut s, "probe", &[], MAX).unwrap();
        let c = &mut s.conn;
        assert_eq!(
            int(c, &["OBJECT", "FREQ", "probe"]),
            5,
            "{}: LFU_INIT_VAL",
            s.name
        );
        for _ in 0..200 {
            exists_read(c, "probe");
        }
        let freq = int(c, &["OBJECT", "FREQ", "probe"]);
        assert!(freq > 6, "{}: OBJECT FREQ grew to {freq}", s.name);
        assert_eq!(
            query(c, &["OBJECT", "IDLETIME", "probe"]),
            Err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into()),
            "{}",
            s.name
        );
        assert_eq!(int(c, &["DEL", "probe"]), 1);
        // Cold and new keys count the same (5, their first count): either may go, hot not.
        let (cold, written) = hot_and_cold(&mut s, false, 3);
        check_evicted_cold(&mut s, cold, written, false);
    }
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random"] {
        for mut s in start(policy) {
            let persistent = fill_to(&mut s, "keep", &[], MAX, 0.45);
            let volatile = fill_to(&mut s, "ttl", &["EX", "3600"], MAX, 0.9);
            let mut n = 0;
            let err = loop {
                match set(&mut s, &format!("more:{n}"), &[], MAX) {
                    Ok(()) => n += 1,
                    Err(e) => break e,
                }
                assert!(n < 20_000, "{} {policy}: never refused", s.name);
            };
            assert_eq!(err, format!("OOM {OOM}"), "{} {policy}", s.name);
            let c = &mut s.conn;
            for k in 0..persistent {
                assert!(
                    exists(c, &format!("keep:{k}")),
                    "{} {policy}: keep:{k}",
                    s.name
                );
            }
            for k in 0..n {
                assert!(
                    exists(c, &format!("more:{k}")),
                    "{} {policy}: more:{k}",
                    s.name
                );
            }
            let ttl_left = (0..volatile)
                .filter(|k| exists(c, &format!("ttl:{k}")))
                .count();
            assert_eq!(ttl_left, 0, "{} {policy}: every TTL key went first", s.name);
            assert_eq!(evicted_keys(c), volatile as u64, "{} {policy}", s.name);
        }
    }
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring_first() {
    for mut s in start("volatile-ttl") {
        fill_to(&mut s, "keep", &[], MAX, 0.3);
        let mut volatile = 0;
        while (used_memory(&mut s.conn) as f64) < MAX as f64 * 0.9 {
            let ttl = (10_000 + volatile).to_string();
            set(&mut s, &format!("ttl:{volatile}"), &["EX", &ttl], MAX).unwrap();
            volatile += 1;
        }
        // Half as many again: a third of the TTL keys must go, soonest first.
        for n in 0..volatile / 2 {
            set(&mut s, &format!("more:{n}"), &[], MAX).unwrap();
        }
        let c = &mut s.conn;
        let quarter = volatile / 4;
        let left = |c: &mut Connection, range: std::ops::Range<usize>| {
            range.filter(|k| exists(c, &format!("ttl:{k}"))).count()
        };
        let soonest = left(c, 0..quarter);
        let latest = left(c, volatile - quarter..volatile);
        assert!(
            soonest * 2 < quarter && latest * 4 > quarter * 3,
            "{}: soonest quarter {soonest} of {quarter} left, latest {latest}",
            s.name
        );
        assert!(evicted_keys(c) > 0);
    }
}

#[test]
fn allkeys_random_keeps_under_the_limit() {
    for mut s in start("allkeys-random") {
        let first = fill_to(&mut s, "a", &[], MAX, 0.9);
        for n in 0..first {
            set(&mut s, &format!("b:{n}"), &[], MAX).unwrap();
        }
        let c = &mut s.conn;
        let a_left = (0..first).filter(|k| exists(c, &format!("a:{k}"))).count();
        // Random: roughly as many of the first keys as of the second remain.
        assert!(
            a_left > first / 5 && a_left < first * 4 / 5,
            "{}: {a_left} of {first}",
            s.name
        );
        let (dbsize, evicted) = dbsize_and_evicted(c);
        assert_eq!(evicted, 2 * first as u64 - dbsize, "{}", s.name);
    }
}

#[test]
fn a_lower_maxmemory_evicts_at_the_next_write() {
    for mut s in start("allkeys-lru") {
        fill_to(&mut s, "k", &[], MAX, 0.9);
        let lower = MAX / 2;
        let before = int(&mut s.conn, &["DBSIZE"]);
        assert!(query(
            &mut s.conn,
            &["CONFIG", "SET", "maxmemory", &lower.to_string()]
        )
        .is_ok());
        // The next write evicts before it runs; what one round leaves (its time is bounded by
        // maxmemory-eviction-tenacity) the following commands and the server cron finish, as
        // Redis's eviction timer does.
        set(&mut s, "trigger", &[], MAX).unwrap();
        let (after, evicted) = dbsize_and_evicted(&mut s.conn);
        assert!(
            evicted > 0 && (after as i64) < before,
            "{}: {before} -> {after} keys",
            s.name
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while used_memory(&mut s.conn) > lower + SLACK {
            assert!(Instant::now() < deadline, "{}: never under {lower}", s.name);
        }
        let after = int(&mut s.conn, &["DBSIZE"]);
        assert!(
            after < before * 2 / 3,
            "{}: {before} -> {after} keys",
            s.name
        );
        assert_eq!(
            info_field(&mut s.conn, "memory", "maxmemory"),
            lower.to_string()
        );
    }
}

#[test]
fn info_and_config_speak_as_redis() {
    let args = ["--maxmemory", "3mb", "--maxmemory-policy", "allkeys-lfu"];
    let mut seen = Vec::new();
    for mut s in servers(&args) {
        let c = &mut s.conn;
        for field in [
            "used_memory",
            "used_memory_human",
            "used_memory_rss",
            "used_memory_peak",
            "mem_fragmentation_ratio",
        ] {
            info_field(c, "memory", field);
        }
        let human = info_field(c, "memory", "used_memory_human");
        assert!(human.ends_with('K') || human.ends_with('M'), "{human}");
        let mut same: Vec<String> = ["maxmemory", "maxmemory_human", "maxmemory_policy"]
            .iter()
            .map(|f| info_field(c, "memory", f))
            .collect();
        same.push(info_field(c, "stats", "evicted_keys"));
        for args in [
            &["CONFIG", "SET", "maxmemory-policy", "bogus"][..],
            &["CONFIG", "SET", "maxmemory-samples", "0"],
            &["CONFIG", "SET", "maxmemory-eviction-tenacity", "101"],
            &["CONFIG", "SET", "lfu-log-factor", "-1"],
            &["CONFIG", "SET", "lfu-decay-time", "x"],
            &["CONFIG", "SET", "maxmemory-policy", "VOLATILE-TTL"],
            &["CONFIG", "GET", "maxmemory-policy"],
            &["CONFIG", "GET", "maxmemory-samples"],
            &["CONFIG", "GET", "maxmemory-eviction-tenacity"],
            &["CONFIG", "GET", "lfu-log-factor"],
            &["CONFIG", "GET", "lfu-decay-time"],
            &["OBJECT", "FREQ", "missing"],
        ] {
            same.push(format!("{:?}", query(c, args)));
        }
        seen.push((s.name, same));
    }
    assert_eq!(seen[0].1[0], (3u64 << 20).to_string());
    assert_eq!(seen[0].1[1], "3.00M");
    assert_eq!(seen[0].1[2], "allkeys-lfu");
    if let [(_, a), (_, b)] = &seen[..] {
        assert_eq!(a, b, "spindle kv vs redis-server");
    }
}
