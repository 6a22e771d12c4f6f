//! `spindle kv` and redis-server 7.0.15 side by side on replies that once differed: each
//! command is sent to both, over raw RESP connections (subscribe mode and RESP3 included), and
//! the decoded replies are compared. Skipped with a note when redis-server is not installed;
//! the redis-py case is ignored unless run with `-- --include-ignored` (SPINDLE_PYTHON).

mod common;

use std::time::{Duration, Instant};

use spindle_protocols::resp::Frame;

use common::kv::{redis_py, spindle_kv_with, Raw, RedisServer};
use common::Running;

/// A redis-server and a spindle kv, both with DEBUG allowed and active expiry off (so a key
/// past its TTL stays held, stale, until something looks it up).
struct Both {
    _redis: RedisServer,
    _spindle: Running,
    ports: [u16; 2],
}

impl Both {
    fn start() -> Option<Both> {
        let redis = RedisServer::start_with(&["--enable-debug-command", "yes"])?;
        let (spindle, port) = spindle_kv_with(&["--enable-debug-command", "yes"]);
        let both = Both {
            ports: [redis.port, port],
            _redis: redis,
            _spindle: spindle,
        };
        for mut c in both.connect() {
            assert_eq!(c.line("DEBUG SET-ACTIVE-EXPIRE 0"), ok());
        }
        Some(both)
    }

    /// One connection to each: redis-server's first.
    fn connect(&self) -> [Raw; 2] {
        self.ports.map(Raw::connect)
    }

    /// A fresh connection to each, after FLUSHALL.
    fn fresh(&self) -> [Raw; 2] {
        let mut conns = self.connect();
        for c in &mut conns {
            assert_eq!(c.line("FLUSHALL"), ok());
        }
        conns
    }
}

fn ok() -> Frame {
    Frame::Simple("OK".into())
}

/// Runs each line on both connections and compares the replies; returns how many were compared.
fn same(conns: &mut [Raw; 2], lines: &[&str]) -> usize {
    for line in lines {
        let [redis, spindle] = conns;
        let want = redis.line(line);
        let got = spindle.line(line);
        assert_eq!(
            got, want,
            "{line}: spindle (left) and redis-server (right) differ"
        );
    }
    lines.len()
}

/// The same lines on a fresh pair of connections.
fn script(both: &Both, lines: &[&str]) -> usize {
    same(&mut both.fresh(), lines)
}

/// Waits until each server's clock has passed the expiry of `key` (PEXPIRETIME read now, while
/// the key is live), so the key is held stale.
fn wait_expired(conns: &mut [Raw; 2], key: &str) {
    for c in conns.iter_mut() {
        let Frame::Integer(at) = c.line(&format!("PEXPIRETIME {key}")) else {
            panic!("{key} has no expiry");
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let Frame::Array(t) = c.line("TIME") else {
                panic!("TIME")
            };
            let part = |i: usize| match t.get(i) {
                Some(Frame::Bulk(b)) => std::str::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                other => panic!("TIME: {other:?}"),
            };
            if part(0) * 1000 + part(1) / 1000 > at {
                break;
            }
            assert!(Instant::now() < deadline, "{key} never expired");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn rename_move_and_copy_keep_the_ttl() {
    let Some(both) = Both::start() else { return };
    let n = script(
        &both,
        &[
            "SET k v EX 100",
            "RENAME k k2",
            "TTL k2",
            "EXISTS k",
            "RENAMENX k2 k3",
            "TTL k3",
            "SET d x EX 50",
            "SET plain p",
            "RENAME plain d",
            "TTL d",
            "RENAME k3 d",
            "TTL d",
            "MOVE d 1",
            "SELECT 1",
            "TTL d",
            "COPY d c",
            "TTL c",
            "RENAME missing x",
            "RENAME c c",
            "RENAMENX c c",
        ],
    );
    assert_eq!(n, 20);
}

#[test]
fn incrbyfloat_and_hincrbyfloat_refuse_spaces() {
    let Some(both) = Both::start() else { return };
    script(
        &both,
        &[
            "SET|a| 1",
            "INCRBYFLOAT a 1",
            "SET|b|1 ",
            "INCRBYFLOAT b 1",
            "SET|blank|  ",
            "INCRBYFLOAT blank 1",
            "SET|empty|",
            "INCRBYFLOAT empty 1",
            "INCRBYFLOAT|c| 1",
            "INCRBYFLOAT|c|1 ",
            "INCRBYFLOAT|c|\t1",
            "EXISTS c",
            "SET d inf",
            "INCRBYFLOAT d 1",
            "INCRBYFLOAT f inf",
            "INCRBYFLOAT f -inf",
            "RPUSH l x",
            "INCRBYFLOAT l x",
            "SET e abc",
            "INCRBYFLOAT e x",
            "INCRBYFLOAT j +.5",
            "INCRBYFLOAT j 5.",
            "INCRBYFLOAT j 1e3",
            "SET n 7",
            "INCRBYFLOAT n 0.5",
            "INCRBYFLOAT n nan",
            "HSET|h|sp| 1|inf|inf|t|1 ",
            "HINCRBYFLOAT h sp 1",
            "HINCRBYFLOAT h t 1",
            "HINCRBYFLOAT h inf 1",
            "HINCRBYFLOAT|h|x| 1",
            "HINCRBYFLOAT|h|x|1 ",
            "HINCRBYFLOAT h x inf",
            "HINCRBYFLOAT h x 2.5",
        ],
    );
}

#[test]
fn integer_arguments_and_scan_cursors_parse_as_redis_does() {
    let Some(both) = Both::start() else { return };
    // Integers as string2ll reads them: canonical forms only.
    script(
        &both,
        &[
            "SET k 10",
            "INCRBY k -0",
            "INCRBY k 01",
            "INCRBY k 007",
            "INCRBY k +1",
            "INCRBY|k| 1",
            "INCRBY k 1",
            "DECRBY k -9223372036854775808",
            "SET z -0",
            "OBJECT ENCODING z",
            "INCR z",
            "SET o 01",
            "INCR o",
            "EXPIRE k -0",
            "EXPIRE k 00",
            "RPUSH l a b c",
            "LRANGE l -0 1",
            "LRANGE l 0 -01",
            "LINDEX l 01",
            "SETRANGE s 01 x",
            "GETRANGE k 0 -0",
            "HSET h n -0 m 01 p 5",
            "HINCRBY h n 1",
            "HINCRBY h m 1",
            "HINCRBY h p 01",
            "HINCRBY h p 1",
        ],
    );
    // SCAN cursors as strtoul reads them: signs, wrapping negatives, the empty cursor. Which
    // keys a cursor other than 0 finds depends on each server's table, so only whether it is
    // accepted (and the error) is compared.
    let mut conns = both.fresh();
    for c in &mut conns {
        for line in ["SADD s a", "HSET h f v", "ZADD z 1 m"] {
            c.line(line);
        }
    }
    for line in [
        "SCAN -1",
        "SCAN -0",
        "SCAN +0",
        "SCAN|",
        "SCAN 18446744073709551615",
        "SCAN 18446744073709551616",
        "SCAN|\t0",
        "SCAN 0x",
        "SCAN -",
        "SSCAN s -1",
        "SSCAN s +0",
        "HSCAN h -5",
        "ZSCAN z -0",
        "ZSCAN z 1x",
    ] {
        let [redis, spindle] = &mut conns;
        let outcome = |f: Frame| match f {
            Frame::Error(e) => String::from_utf8_lossy(&e).into_owned(),
            Frame::Array(_) => "a scan reply".to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(
            outcome(spindle.line(line)),
            outcome(redis.line(line)),
            "{line}"
        );
    }
}

#[test]
fn expire_times_at_the_integer_limit() {
    let Some(both) = Both::start() else { return };
    script(
        &both,
        &[
            "SET s v EX 9223372036854775",
            "SET s v EX 9223372036854774",
            "SET s v EX 9223372036854",
            "TTL s",
            "SET s v PX 9223372036854775807",
            "SET s v PX 9223372036854775000",
            "SET s v EX 0",
            "SET s v PX -1",
            "SET s v EXAT 0",
            "SET s v EXAT 9223372036854776",
            "SET s v EX 9223372036854775808",
            "SET s v EXAT 9223372036854775",
            "EXPIRETIME s",
            "SET s v PXAT 9223372036854775807",
            "PEXPIRETIME s",
            "SET k v EX abc FOO",
            "SET k v EX 0 FOO",
            "SET k v EX 10 PX 10",
            "SET k v EX 10 KEEPTTL",
            "SET k v EX 10 EX 20",
            "TTL k",
            "SET k v KEEPTTL KEEPTTL",
            "TTL k",
            "SET k v EX abc EX 30",
            "SET k v EX 30 EX abc",
            "SET k v NX NX",
            "SET k v GET GET",
            "SET k v EX",
            "RPUSH l a",
            "SET l v EX 0 GET",
            "SET l v EX 10 GET",
            "GETEX k EX 9223372036854775",
            "GETEX k PX 9223372036854775807",
            "GETEX k EX 0",
            "GETEX k EX abc FOO",
            "GETEX k EX 0 PERSIST",
            "GETEX k PERSIST EX 10",
            "GETEX k PERSIST PERSIST",
            "TTL k",
            "GETEX k EX 10 EX 20",
            "TTL k",
            "GETEX k EX",
            "GETEX missing EX 0",
            "GETEX l EX 0",
            "SETEX s2 9223372036854775 v",
            "SETEX s2 9223372036854774 v",
            "PSETEX s2 9223372036854775807 v",
            "PSETEX s2 0 v",
            "SETEX s2 -5 v",
            "SET e 1",
            "EXPIRE e 9223372036854775",
            "EXPIRE e 9223372036854775808",
            "PEXPIRE e 9223372036854775807",
            "EXPIREAT e 9223372036854775",
            "EXPIREAT e 9223372036854776",
            "PEXPIREAT e 9223372036854775807",
            "EXPIRETIME e",
            "PEXPIREAT e 99999999999500",
            "EXPIRETIME e",
            "PEXPIREAT e 99999999999499",
            "EXPIRETIME e",
            "EXPIRE e -9223372036854775",
            "EXISTS e",
            "SET e 1",
            "EXPIRE e -9223372036854776",
            "PEXPIRE e -9223372036854775808",
            "EXISTS e",
            // RESTORE's relative TTL plus the current time past the signed range: no key.
            "SET d v",
            "EVAL|return redis.pcall('RESTORE', 'r1', '9223372036854775000', redis.call('DUMP', 'd'))|0",
            "EXISTS r1",
            "EVAL|return redis.pcall('RESTORE', 'r2', '100000', redis.call('DUMP', 'd'))|0",
            "EXISTS r2",
        ],
    );
}

#[test]
fn bitcount_and_bitpos_ranges() {
    let Some(both) = Both::start() else { return };
    script(
        &both,
        &[
            "SET s foobar",
            "BITCOUNT s -100 -200",
            "BITCOUNT s -1 -5",
            "BITCOUNT s -5 -1",
            "BITCOUNT s -200 -100",
            "BITCOUNT s -100 -1",
            "BITCOUNT s -100 -200 BIT",
            "BITCOUNT s -1 -200 BIT",
            "BITCOUNT s -7 -200 BIT",
            "BITCOUNT s -10 -9 BIT",
            "BITCOUNT s -48 -41 BIT",
            "BITCOUNT s -49 -41 BIT",
            "BITCOUNT s -1 -5 FOO",
            "BITCOUNT s -5 -1 FOO",
            "BITCOUNT s 5 1",
            "BITCOUNT s -3 100",
            "BITCOUNT s 0 -100",
            "BITCOUNT s 0 1 BYTE",
            "BITCOUNT s 0 1 bit",
            "BITCOUNT s 0",
            "BITCOUNT s 0 1 BIT x",
            "BITCOUNT s 0 a",
            "BITCOUNT s a b",
            "BITCOUNT missing 0",
            "BITCOUNT missing a b",
            "RPUSH l a",
            "BITCOUNT l a b",
            "BITPOS s 1 -100 -200",
            "BITPOS s 1 -100 -200 BIT",
            "BITPOS s 0 -1 -5",
            "BITPOS s 1 -5 -1 BIT",
            "BITPOS s 0 0 -1 BIT",
            "BITPOS s 1 a",
            "BITPOS s 1 0 1 FOO",
            "BITPOS missing 1 a",
            "BITPOS l 1 a",
            "SET|e|",
            "BITCOUNT e",
            "BITCOUNT e 0 -1",
            "BITPOS e 0",
        ],
    );
}

/// `rdb_changes_since_last_save` of a redis-server (INFO persistence).
fn changes(c: &mut Raw) -> i64 {
    let Frame::Bulk(info) = c.line("INFO persistence") else {
        panic!("INFO")
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("rdb_changes_since_last_save")
}

#[test]
fn setbit_and_bitfield_without_a_change_leave_watch_alone() {
    let Some(both) = Both::start() else { return };
    // What redis-server counts: only real changes (created, grown or a bit flipped).
    let [mut redis, _] = both.fresh();
    let mut deltas = Vec::new();
    for line in [
        "SETBIT b 7 1",
        "SETBIT b 7 1",
        "SETBIT b 7 0",
        "SETBIT b 0 0",
        "SETBIT b 100 0",
        "BITFIELD bf SET u8 0 0 SET u8 8 0",
        "BITFIELD bf SET u8 0 0 SET u8 8 0",
        "BITFIELD bf SET u8 0 1 SET u8 8 1 INCRBY u8 16 0",
        "BITFIELD nf OVERFLOW FAIL SET u2 0 7",
    ] {
        let before = changes(&mut redis);
        redis.line(line);
        deltas.push(changes(&mut redis) - before);
    }
    assert_eq!(deltas, [1, 0, 1, 0, 1, 2, 0, 3, 0]);
    // spindle kv counts the same way (its unit tests read the counter); here its effect on
    // WATCH is compared: a no-op write leaves a watcher's EXEC alone, a change fails it.
    for (setup, write) in [
        ("SETBIT b 3 1", "SETBIT b 3 1"),
        ("SETBIT b 3 1", "SETBIT b 3 0"),
        ("SETBIT b 3 1", "SETBIT b 0 0"),
        ("SETBIT b 3 1", "SETBIT b 20 0"),
        ("SET n 5", "SETBIT n 0 0"),
        ("BITFIELD b SET u8 0 5", "BITFIELD b SET u8 0 5"),
        ("BITFIELD b SET u8 0 5", "BITFIELD b SET u8 0 6"),
        (
            "BITFIELD b SET u8 0 5",
            "BITFIELD b OVERFLOW FAIL INCRBY u8 0 300",
        ),
        ("SET other 1", "BITFIELD b OVERFLOW FAIL SET u2 0 7"),
    ] {
        let mut watcher = both.fresh();
        let mut writer = both.connect();
        let key = write.split(' ').nth(1).unwrap();
        same(&mut writer, &[setup]);
        same(&mut watcher, &[&format!("WATCH {key}")]);
        same(&mut writer, &[write]);
        same(
            &mut watcher,
            &["MULTI", "PING", "EXEC", &format!("GET {key}")],
        );
    }
}

#[test]
fn ping_in_subscribe_mode() {
    let Some(both) = Both::start() else { return };
    let mut conns = both.fresh();
    same(
        &mut conns,
        &[
            "SUBSCRIBE ch",
            "PING",
            "PING hi",
            "PING|",
            "PING a b",
            "PSUBSCRIBE p*",
            "PING",
            "UNSUBSCRIBE",
            "PING",
            "PUNSUBSCRIBE",
            "PING",
            "PING hi",
        ],
    );
    // RESP3: HELLO's reply holds each server's own client id, so it is not compared.
    let mut conns3 = both.connect();
    for c in &mut conns3 {
        assert!(matches!(c.line("HELLO 3"), Frame::Map(_)));
    }
    same(&mut conns3, &["SUBSCRIBE ch", "PING", "PING hi"]);
}

#[test]
fn pubsub_introspection_in_resp2_and_resp3() {
    let Some(both) = Both::start() else { return };
    let mut subscribers = both.connect();
    same(&mut subscribers, &["SUBSCRIBE ch"]);
    let mut psubscribers = both.connect();
    same(&mut psubscribers, &["PSUBSCRIBE p*"]);
    let lines = [
        "PUBSUB NUMSUB ch none",
        "PUBSUB NUMSUB",
        "PUBSUB NUMPAT",
        "PUBSUB CHANNELS",
        "PUBSUB CHANNELS c*",
        "PUBSUB CHANNELS x*",
        "PUBSUB SHARDCHANNELS",
        "PUBSUB SHARDNUMSUB x",
        "PUBSUB HELP",
        "PUBSUB FOO",
        "PUBSUB NUMPAT x",
        "PUBSUB CHANNELS a b",
        "PUBSUB",
    ];
    same(&mut both.connect(), &lines);
    let mut resp3 = both.connect();
    for c in &mut resp3 {
        assert!(matches!(c.line("HELLO 3"), Frame::Map(_)));
    }
    same(&mut resp3, &lines);
}

#[test]
#[ignore = "needs redis-py: run scripts/test"]
fn redis_py_reads_pubsub_numsub_in_resp3() {
    let Some(both) = Both::start() else { return };
    let script = r#"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]), protocol=3)
p = r.pubsub()
p.subscribe("ch")
p.get_message(timeout=5)
print(r.pubsub_numsub("ch", "none"), r.pubsub_numpat(), r.pubsub_channels())
"#;
    let outputs: Vec<String> = both
        .ports
        .iter()
        .map(|port| redis_py(&["-c", script, &port.to_string()]))
        .collect();
    assert_eq!(outputs[0], "[(b'ch', 1), (b'none', 0)] 0 [b'ch']\n");
    assert_eq!(outputs[1], outputs[0]);
}

/// Runs `before`, WATCH k, `between` (`~key` waits until `key` is stale), then
/// MULTI/PING/EXEC, on both servers, comparing every reply. (DBSIZE is not compared: spindle's
/// WATCH and EXEC reclaim a stale key they look at, Redis's leave it held.)
fn watch_case(both: &Both, before: &[&str], between: &[&str]) -> usize {
    let mut conns = both.fresh();
    let mut n = 0;
    let mut step = |conns: &mut [Raw; 2], line: &str| match line.strip_prefix('~') {
        Some(key) => wait_expired(conns, key),
        None => n += same(conns, &[line]),
    };
    for line in before {
        step(&mut conns, line);
    }
    step(&mut conns, "WATCH k");
    for line in between {
        step(&mut conns, line);
    }
    for line in ["MULTI", "PING", "EXEC"] {
        step(&mut conns, line);
    }
    n
}

#[test]
fn watch_with_flushes_swaps_and_stale_keys() {
    let Some(both) = Both::start() else { return };
    let cases: &[(&[&str], &[&str])] = &[
        (&["SET other v"], &["FLUSHDB"]),
        (&["SET k v"], &["FLUSHDB"]),
        (&["SET k v PX 100", "~k"], &["FLUSHDB"]),
        (&["SET k v PX 100"], &["~k", "FLUSHDB"]),
        (&["SET k v PX 100"], &["~k"]),
        (&["SET k v PX 100", "~k"], &["FLUSHALL"]),
        (&[], &["FLUSHALL"]),
        (&["SET k v"], &["SELECT 1", "FLUSHDB", "SELECT 0"]),
        (&["SELECT 1", "SET x v", "SELECT 0"], &["SWAPDB 0 1"]),
        (&["SELECT 1", "SET k v", "SELECT 0"], &["SWAPDB 0 1"]),
        (&["SET k v"], &["SWAPDB 0 1"]),
        (
            &["SELECT 1", "SET k v PX 100", "~k", "SELECT 0"],
            &["SWAPDB 0 1"],
        ),
        (
            &["SELECT 1", "SET k v PX 100", "~k", "SELECT 0"],
            &["SWAPDB 0 1", "FLUSHDB"],
        ),
        (
            &[
                "SET k v PX 100",
                "SELECT 1",
                "SET k v PX 100",
                "~k",
                "SELECT 0",
            ],
            &["SWAPDB 0 1"],
        ),
        (
            &["SET k v PX 100", "SELECT 1", "SET k v", "SELECT 0", "~k"],
            &["SWAPDB 0 1"],
        ),
        (&["SET k v PX 100", "~k"], &["SET k w"]),
        (&[], &["SET k w"]),
        (&["SET k v"], &["SET k v"]),
        (&["SET k v"], &["SWAPDB 1 1"]),
    ];
    let mut n = 0;
    for (before, between) in cases {
        n += watch_case(&both, before, between);
    }
    assert!(n > 100);
}

#[test]
fn queued_command_errors_abort_exec() {
    let Some(both) = Both::start() else { return };
    for bad in [
        "NOPE",
        "GET",
        "SAVE",
        "PUBSUB FOO",
        "PUBSUB NUMPAT x",
        "CONFIG FOO",
        "CONFIG GET",
        "CONFIG SET maxmemory",
        "CLIENT FOO",
        "CLIENT SETNAME",
        "OBJECT FOO a",
        "OBJECT ENCODING",
        "MEMORY FOO",
        "MEMORY USAGE",
        "COMMAND FOO",
        "COMMAND GETKEYS get",
    ] {
        script(&both, &["MULTI", "SET a 1", bad, "EXEC", "GET a", bad]);
    }
    // Errors of commands that run at once inside MULTI, or fail only when run, do not abort.
    for soft in [
        "WATCH a",
        "MULTI",
        "SELECT 99",
        "INCRBY a x",
        "OBJECT ENCODING missing",
    ] {
        script(&both, &["MULTI", "SET a 1", soft, "EXEC", "GET a"]);
    }
    script(&both, &["MULTI", "NOPE", "DISCARD", "EXEC"]);
}

/// The text of an INFO reply (a bulk string, or verbatim under RESP3).
fn info_text(c: &mut Raw, line: &str) -> String {
    match c.line(line) {
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => {
            String::from_utf8_lossy(&b).into_owned()
        }
        other => panic!("{line}: {other:?}"),
    }
}

/// The field names of an INFO section's text, in order.
fn field_names(c: &mut Raw, line: &str) -> Vec<String> {
    info_text(c, line)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(':').next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn info_cpu_section() {
    let Some(both) = Both::start() else { return };
    let [mut redis, mut spindle] = both.connect();
    assert_eq!(
        field_names(&mut spindle, "INFO cpu"),
        field_names(&mut redis, "INFO cpu")
    );
    // Every value is seconds with six decimals.
    let Frame::Bulk(cpu) = spindle.line("INFO cpu") else {
        panic!("INFO cpu")
    };
    for line in String::from_utf8_lossy(&cpu).lines().skip(1) {
        let value = line.split(':').nth(1).unwrap_or_default();
        let (secs, micros) = value.split_once('.').expect(line);
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
    }
    // The sections spindle has come in redis-server's order, CPU among them.
    for line in ["INFO", "INFO all", "INFO everything", "INFO default"] {
        let headers = |c: &mut Raw| -> Vec<String> {
            field_names(c, line)
                .into_iter()
                .filter(|l| l.starts_with('#'))
                .collect()
        };
        let redis_order = headers(&mut redis);
        let spindle_order = headers(&mut spindle);
        assert!(spindle_order.contains(&"# CPU".to_string()), "{line}");
        let positions: Vec<usize> = spindle_order
            .iter()
            .filter_map(|h| redis_order.iter().position(|r| r == h))
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{line}: spindle {spindle_order:?}, redis-server {redis_order:?}"
        );
    }
}

/// The `failed_calls` of `cmdstat_<command>`, `total_error_replies` and the errorstat lines
/// INFO shows now.
fn error_counters(c: &mut Raw, command: &str) -> (String, String, Vec<String>) {
    let stats = info_text(c, "INFO commandstats");
    let prefix = format!("cmdstat_{command}:");
    let failed = stats
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|l| l.split(',').find(|f| f.starts_with("failed_calls=")))
        .unwrap_or_default()
        .to_string();
    let total = info_text(c, "INFO stats")
        .lines()
        .find(|l| l.starts_with("total_error_replies:"))
        .unwrap_or_default()
        .to_string();
    let errors = info_text(c, "INFO errorstats")
        .lines()
        .filter(|l| l.starts_with("errorstat_"))
        .map(str::to_string)
        .collect();
    (failed, total, errors)
}

#[test]
fn scripts_count_failed_calls_and_nested_errors_as_redis_does() {
    let Some(both) = Both::start() else { return };
    let scripts = [
        // A caught error, then a plain return: the error was the INCR's, not EVAL's.
        "redis.pcall('incr','s'); return 1",
        // Another command after the caught error: not failed either.
        "redis.pcall('incr','s'); return redis.call('get','s')",
        // The caught error returned, at the top or nested: failed once for each.
        "return redis.pcall('incr','s')",
        "return {1, redis.pcall('incr','s')}",
        "return {redis.pcall('incr','s'), redis.pcall('incr','s')}",
        // An error of the script's own, nested: counted in errorstats and failed.
        "return {1, {err='MY nested'}}",
        "return {1, {err='MY nested'}, redis.pcall('incr','s')}",
        "return {{err='A one'}, {err='B two'}}",
        "return {err='X y'}",
        // A raised error of a command.
        "return redis.call('incr','s')",
        // Refused before running (unknown, wrong arity, not allowed from scripts): counted
        // at the refusal, failed only when the script hands the error on.
        "redis.pcall('nosuch'); return 1",
        "redis.pcall('get'); return 1",
        "return redis.call('get')",
        "return redis.pcall('nosuch')",
        "return redis.call('shutdown')",
    ];
    let mut conns = both.connect();
    for body in scripts {
        let mut counters = Vec::new();
        for c in conns.iter_mut() {
            assert_eq!(c.line("CONFIG RESETSTAT"), ok());
            assert_eq!(c.line("SET s x"), ok());
            c.args(&["EVAL", body, "0"]);
            counters.push(error_counters(c, "eval"));
        }
        assert_eq!(
            counters[1], counters[0],
            "{body}: spindle (left), redis-server"
        );
    }
}

/// `frame` with redis-server's hash-table order taken out: the subcommands of a COMMAND INFO
/// entry (an array of entries named `container|sub`) and of a COMMAND DOCS map (keyed by
/// those names; a flat array in RESP2) come in its dict's order, which changes from one start
/// to the next; spindle lists them sorted.
fn without_dict_order(frame: Frame) -> Frame {
    let sub_name = |f: &Frame| matches!(f, Frame::Bulk(b) if b.contains(&b'|'));
    match frame {
        Frame::Array(items) => {
            let mut items: Vec<Frame> = items.into_iter().map(without_dict_order).collect();
            let info_subs = !items.is_empty()
                && items
                    .iter()
                    .all(|i| matches!(i, Frame::Array(e) if e.len() == 10 && sub_name(&e[0])));
            let flat_map_subs = !items.is_empty()
                && items.len().is_multiple_of(2)
                && items.iter().step_by(2).all(sub_name);
            if info_subs {
                items.sort_by_key(|i| format!("{i:?}"));
            } else if flat_map_subs {
                let mut pairs: Vec<(Frame, Frame)> = Vec::new();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                pairs.sort_by_key(|(k, _)| format!("{k:?}"));
                items = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
            }
            Frame::Array(items)
        }
        Frame::Map(pairs) => {
            let mut pairs: Vec<(Frame, Frame)> = pairs
                .into_iter()
                .map(|(k, v)| (k, without_dict_order(v)))
                .collect();
            if pairs.iter().all(|(k, _)| sub_name(k)) {
                pairs.sort_by_key(|(k, _)| format!("{k:?}"));
            }
            Frame::Map(pairs)
        }
        Frame::Set(items) => Frame::Set(items.into_iter().map(without_dict_order).collect()),
        other => other,
    }
}

#[test]
#[ignore = "needs redis-server: run scripts/test"]
fn command_info_and_docs_match_redis_for_every_command() {
    let Some(both) = Both::start() else { return };
    for resp3 in [false, true] {
        let mut conns = both.connect();
        if resp3 {
            for c in &mut conns {
                assert!(matches!(c.line("HELLO 3"), Frame::Map(_)));
            }
        }
        let [redis, spindle] = &mut conns;
        let Frame::Array(names) = redis.line("COMMAND LIST") else {
            panic!("COMMAND LIST")
        };
        let mut names: Vec<String> = names
            .iter()
            .map(|n| match n {
                Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("a command name: {other:?}"),
            })
            .collect();
        // And every subcommand, by its full name.
        for name in names.clone() {
            let Frame::Array(info) = redis.args(&["COMMAND", "INFO", &name]) else {
                panic!("COMMAND INFO {name}")
            };
            if let Some(Frame::Array(entry)) = info.first() {
                if let Some(Frame::Array(subs)) = entry.get(9) {
                    for sub in subs {
                        if let Frame::Array(s) = sub {
                            if let Some(Frame::Bulk(n)) = s.first() {
                                names.push(String::from_utf8_lossy(n).into_owned());
                            }
                        }
                    }
                }
            }
        }
        let mut compared = 0;
        for name in &names {
            for what in ["INFO", "DOCS"] {
                let want = without_dict_order(redis.args(&["COMMAND", what, name]));
                let got = without_dict_order(spindle.args(&["COMMAND", what, name]));
                assert_eq!(got, want, "COMMAND {what} {name} (resp3: {resp3})");
                compared += 1;
            }
        }
        assert!(compared > 700, "only {compared} compared");
        // The whole table, in one reply each.
        for line in ["COMMAND", "COMMAND DOCS"] {
            // RESP2 flattens the DOCS map: a name and its docs per command.
            let per = if line == "COMMAND DOCS" && !resp3 {
                2
            } else {
                1
            };
            let count = |f: Frame| match f {
                Frame::Array(v) | Frame::Set(v) => v.len() / per,
                Frame::Map(m) => m.len(),
                other => panic!("{line}: {other:?}"),
            };
            assert_eq!(count(spindle.line(line)), count(redis.line(line)), "{line}");
        }
        let count = |f: Frame| match f {
            Frame::Integer(n) => n as usize,
            other => panic!("COMMAND COUNT: {other:?}"),
        };
        assert_eq!(
            count(spindle.line("COMMAND COUNT")),
            count(redis.line("COMMAND COUNT"))
        );
    }
}

#[test]
#[ignore = "needs redis-server: run scripts/test"]
fn cluster_and_module_commands_answer_as_a_standalone_redis() {
    let Some(both) = Both::start() else { return };
    let n = script(
        &both,
        &[
            "ASKING",
            "READONLY",
            "READWRITE",
            "CLUSTER INFO",
            "CLUSTER HELP",
            "CLUSTER SLOTS",
            "CLUSTER KEYSLOT foo",
            "CLUSTER",
            "CLUSTER NOSUCH",
            "CLUSTER INFO extra",
            "MODULE LIST",
            "MODULE HELP",
            "MODULE",
            "MODULE NOSUCH",
            "MODULE LOAD /nonexistent/module.so",
            "MODULE LOADEX /nonexistent/module.so",
            "MODULE UNLOAD nosuch",
            "MODULE UNLOAD",
            "SET k v",
            "RESTORE-ASKING k2 0 bad-payload",
            "MULTI",
            "READONLY",
            "EXEC",
        ],
    );
    // RESTORE-ASKING is RESTORE: a DUMP payload round-trips through it.
    let mut conns = both.fresh();
    for c in &mut conns {
        assert_eq!(c.line("SET k v"), ok());
        let Frame::Bulk(payload) = c.line("DUMP k") else {
            panic!("DUMP")
        };
        let reply = c.args(&[&b"RESTORE-ASKING"[..], &b"k2"[..], &b"0"[..], &payload[..]]);
        assert_eq!(reply, ok());
        assert_eq!(c.line("GET k2"), Frame::Bulk("v".into()));
    }
    assert!(n > 20);
}

/// MIGRATE from redis-server and from spindle, each to a redis-server and to a spindle target
/// of its own: the same replies, the same keys (with their TTLs) left on each side.
#[test]
#[ignore = "needs redis-server: run scripts/test"]
fn migrate_moves_keys_as_redis_does() {
    let Some(both) = Both::start() else { return };
    for target_is_spindle in [false, true] {
        // One target per source, so that the two runs do not meet; the third needs a password.
        let mut targets = Vec::new();
        let mut keep = Vec::new();
        for _ in 0..2 {
            if target_is_spindle {
                let (running, port) = spindle_kv_with(&["--requirepass", "pw"]);
                keep.push(Box::new(running) as Box<dyn std::any::Any>);
                targets.push(port);
            } else {
                let Some(server) = RedisServer::start_with(&["--requirepass", "pw"]) else {
                    return;
                };
                targets.push(server.port);
                keep.push(Box::new(server));
            }
        }
        let mut sources = both.fresh();
        let mut replies: [Vec<Frame>; 2] = [Vec::new(), Vec::new()];
        for (i, (source, target)) in sources.iter_mut().zip(&targets).enumerate() {
            let port = target.to_string();
            let lines: Vec<Vec<String>> = [
                "SET k v",
                "SET t v PX 100000",
                "RPUSH l a b c",
                "HSET h f v g w",
                "SET c v",
                "MIGRATE 127.0.0.1 {port} k 0 1000 AUTH pw",
                "EXISTS k",
                "MIGRATE 127.0.0.1 {port} nosuch 0 1000 AUTH pw",
                "SET k v2",
                "MIGRATE 127.0.0.1 {port} k 0 1000 AUTH pw",
                "EXISTS k",
                "MIGRATE 127.0.0.1 {port} k 0 1000 REPLACE AUTH pw",
                "MIGRATE 127.0.0.1 {port} c 0 1000 COPY AUTH pw",
                "EXISTS c",
                "MIGRATE 127.0.0.1 {port} c 3 1000 AUTH2 default pw",
                "MIGRATE 127.0.0.1 {port} l 0 1000 AUTH wrong",
                "EXISTS l",
                "MIGRATE 127.0.0.1 {port} l 0 1000",
                "MIGRATE 127.0.0.1 {port} k 0 1000 KEYS l",
                "MIGRATE 127.0.0.1 {port} k 0 1000 BOGUS",
                "MIGRATE 127.0.0.1 {port} k x 1000",
                "MIGRATE 127.0.0.1 {port} k 0 x",
                "MIGRATE 127.0.0.1 {port} k 0 1000 AUTH",
                "MIGRATE 127.0.0.1 1 l 0 200",
                "MIGRATE 127.0.0.1 {port} _ 0 1000 AUTH pw KEYS l h t nosuch",
                "DBSIZE",
            ]
            .iter()
            .map(|l| {
                l.replace("{port}", &port)
                    .split(' ')
                    .map(|w| {
                        if w == "_" {
                            String::new()
                        } else {
                            w.to_string()
                        }
                    })
                    .collect()
            })
            .collect();
            for words in &lines {
                replies[i].push(source.args(words));
            }
        }
        let [redis_replies, spindle_replies] = replies;
        for (n, (got, want)) in spindle_replies.iter().zip(&redis_replies).enumerate() {
            assert_eq!(
                got, want,
                "reply {n} (target is spindle: {target_is_spindle}): spindle (left), redis-server (right)"
            );
        }
        // What each target holds.
        let held: Vec<Vec<Frame>> = targets
            .iter()
            .map(|&port| {
                let mut t = Raw::connect(port);
                assert_eq!(t.line("AUTH pw"), ok());
                let mut seen: Vec<Frame> = [
                    "GET k",
                    "GET c",
                    "LRANGE l 0 -1",
                    "HGETALL h",
                    "GET t",
                    "DBSIZE",
                    "SELECT 3",
                    "GET c",
                    "DBSIZE",
                ]
                .iter()
                .map(|l| t.line(l))
                .collect();
                assert_eq!(t.line("SELECT 0"), ok());
                let Frame::Integer(ttl) = t.line("PTTL t") else {
                    panic!("PTTL")
                };
                assert!(
                    (90_000..=100_000).contains(&ttl),
                    "t's TTL on the target: {ttl}"
                );
                seen.push(t.line("PTTL k"));
                seen
            })
            .collect();
        assert_eq!(
            held[1], held[0],
            "the targets: spindle's (left), redis-server's (right)"
        );
        assert_eq!(held[0][0], Frame::Bulk("v2".into()));
    }
}
