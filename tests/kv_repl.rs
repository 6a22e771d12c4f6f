//! Replication with Redis's protocol, both directions: a spindle replica follows a spindle
//! master; Debian's redis-server follows spindle; spindle follows redis-server. Each ends with
//! the same keys, types, values and TTLs on both sides (compared key by key).

mod common;

use std::time::{Duration, Instant};

use common::hostile::wait_until;
use common::kv::{connect, run, spindle_kv_with, RedisServer};
use redis::{Connection, Value};

/// Everything a server holds in database `db`: per key, its type, contents (sets and hashes
/// sorted) and whether it has a TTL (and roughly how long, in tens of seconds).
fn dataset(c: &mut Connection, db: i64) -> Vec<String> {
    let _: Value = run(c, &["SELECT", &db.to_string()]);
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(c).unwrap();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let ty: String = redis::cmd("TYPE").arg(&key).query(c).unwrap();
        let q = |c: &mut Connection, args: &[&str]| -> Vec<String> {
            let mut cmd = redis::cmd(args[0]);
            for a in &args[1..] {
                cmd.arg(*a);
            }
            cmd.query(c).unwrap()
        };
        let mut items = match ty.as_str() {
            // A key may expire between KEYS and GET: read it as optional.
            "string" => {
                let v: Option<String> = redis::cmd("GET").arg(&key).query(c).unwrap();
                vec![format!("{v:?}")]
            }
            "list" => q(c, &["LRANGE", &key, "0", "-1"]),
            "set" => q(c, &["SMEMBERS", &key]),
            "hash" => q(c, &["HGETALL", &key]),
            "zset" => q(c, &["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
            other => vec![format!("({other})")],
        };
        if ty == "set" {
            items.sort();
        }
        if ty == "hash" {
            let mut pairs: Vec<String> = items.chunks(2).map(|p| p.join("=")).collect();
            pairs.sort();
            items = pairs;
        }
        let ttl: i64 = redis::cmd("TTL").arg(&key).query(c).unwrap();
        let ttl = if ttl < 0 { ttl } else { (ttl + 5) / 10 };
        out.push(format!("{key} {ty} {items:?} ttl~{ttl}"));
    }
    let _: Value = run(c, &["SELECT", "0"]);
    out
}

fn everything(c: &mut Connection) -> Vec<Vec<String>> {
    vec![dataset(c, 0), dataset(c, 5)]
}

/// Waits until both servers hold the same data; panics with both sides if they do not in
/// `within`.
fn converge(master: &mut Connection, replica: &mut Connection, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (a, b) = (everything(master), everything(replica));
        if a == b {
            return;
        }
        if Instant::now() > deadline {
            panic!("the replica did not catch up:\nmaster  {a:?}\nreplica {b:?}");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling the condition
    }
}

/// Writes of every kind, a transaction, expiries, a second database.
fn write_some(c: &mut Connection, round: usize) {
    for args in [
        vec!["SET".to_string(), format!("s{round}"), "v".into()],
        vec!["INCRBY".into(), "counter".into(), "7".into()],
        vec![
            "RPUSH".into(),
            "list".into(),
            format!("a{round}"),
            "b".into(),
        ],
        vec!["LPOP".into(), "list".into()],
        vec!["SADD".into(), "set".into(), format!("m{round}"), "x".into()],
        vec![
            "HSET".into(),
            "hash".into(),
            format!("f{round}"),
            round.to_string(),
        ],
        vec![
            "ZADD".into(),
            "z".into(),
            format!("{round}.5"),
            format!("z{round}"),
        ],
        vec![
            "SET".into(),
            format!("ttl{round}"),
            "t".into(),
            "EX".into(),
            "1000".into(),
        ],
        vec!["EXPIRE".into(), format!("s{round}"), "5000".into()],
        vec!["INCRBYFLOAT".into(), "float".into(), "1.25".into()],
        vec![
            "SET".into(),
            format!("soon{round}"),
            "x".into(),
            "PX".into(),
            "30".into(),
        ],
    ] {
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        let _: Value = run(c, &words);
    }
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("INCR")
        .arg("in-multi")
        .cmd("SELECT")
        .arg(5)
        .cmd("SET")
        .arg(format!("db5-{round}"))
        .arg("five")
        .cmd("SELECT")
        .arg(0);
    let _: Value = pipe.query(c).unwrap();
}

/// Waits until `c` reports its link to the master up.
fn wait_link_up(c: &mut Connection) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO").arg("replication").query(c).unwrap();
        if info.contains("master_link_status:up") {
            return;
        }
        assert!(Instant::now() < deadline, "link never came up:\n{info}");
        std::thread::sleep(Duration::from_millis(20)); // polling the condition
    }
}

#[test]
fn a_spindle_replica_follows_a_spindle_master() {
    let (mut master_server, mport) = spindle_kv_with(&[]);
    let (_replica_server, rport) = spindle_kv_with(&[]);
    let mut m = connect(mport).unwrap();
    let mut r = connect(rport).unwrap();
    write_some(&mut m, 0);
    let ok: String = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(mport)
        .query(&mut r)
        .unwrap();
    assert_eq!(ok, "OK");
    wait_link_up(&mut r);
    converge(&mut m, &mut r, Duration::from_secs(10));
    for round in 1..20 {
        write_some(&mut m, round);
    }
    // WAIT: the replica acknowledges what this client wrote.
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut m).unwrap();
    assert_eq!(acked, 1);
    converge(&mut m, &mut r, Duration::from_secs(10));
    // The short-lived keys expire on the master, which sends DEL: gone on both.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = redis::cmd("EXISTS").arg("soon19").query(&mut r).unwrap();
        let _: Value = run(&mut m, &["GET", "soon19"]);
        if n == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the expired key stayed on the replica"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    converge(&mut m, &mut r, Duration::from_secs(10));

    // Roles and the replica's refusal of writes.
    let role: Vec<Value> = redis::cmd("ROLE").query(&mut r).unwrap();
    assert_eq!(role[0], Value::BulkString(b"slave".to_vec()));
    assert_eq!(role[3], Value::BulkString(b"connected".to_vec()));
    let role: Vec<Value> = redis::cmd("ROLE").query(&mut m).unwrap();
    assert_eq!(role[0], Value::BulkString(b"master".to_vec()));
    let err = redis::cmd("SET")
        .arg("x")
        .arg("1")
        .query::<Value>(&mut r)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("You can't write against a read only replica"),
        "{err}"
    );

    // The master restarts (empty, no persistence): the replica resyncs in full.
    let mport_again = mport;
    master_server.terminate();
    drop(master_server);
    let (_master_server, mport2) = spindle_kv_with(&["--port", &mport_again.to_string()]);
    assert_eq!(mport2, mport_again);
    let mut m = connect(mport2).unwrap();
    write_some(&mut m, 100);
    converge(&mut m, &mut r, Duration::from_secs(20));

    // Promotion: the replica takes writes again.
    let ok: String = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut r)
        .unwrap();
    assert_eq!(ok, "OK");
    let _: Value = run(&mut r, &["SET", "x", "1"]);
    let role: Vec<Value> = redis::cmd("ROLE").query(&mut r).unwrap();
    assert_eq!(role[0], Value::BulkString(b"master".to_vec()));
}

#[test]
fn redis_server_follows_spindle() {
    let (_spindle_server, sport) = spindle_kv_with(&[]);
    let mut s = connect(sport).unwrap();
    write_some(&mut s, 0);
    let Some(redis) = RedisServer::start_with(&["--replicaof", "127.0.0.1", &sport.to_string()])
    else {
        return;
    };
    let mut r = redis.connect();
    wait_link_up(&mut r);
    converge(&mut s, &mut r, Duration::from_secs(20));
    for round in 1..20 {
        write_some(&mut s, round);
    }
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut s).unwrap();
    assert_eq!(acked, 1, "redis-server acknowledged the stream");
    converge(&mut s, &mut r, Duration::from_secs(20));
    let info: String = redis::cmd("INFO").arg("replication").query(&mut s).unwrap();
    assert!(info.contains("connected_slaves:1"), "{info}");
}

#[test]
fn spindle_follows_redis_server() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut m = redis.connect();
    write_some(&mut m, 0);
    let (_spindle_server, sport) = spindle_kv_with(&[]);
    let mut s = connect(sport).unwrap();
    let ok: String = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(redis.port)
        .query(&mut s)
        .unwrap();
    assert_eq!(ok, "OK");
    wait_link_up(&mut s);
    converge(&mut m, &mut s, Duration::from_secs(20));
    for round in 1..20 {
        write_some(&mut m, round);
    }
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut m).unwrap();
    assert_eq!(acked, 1, "spindle acknowledged redis-server's stream");
    converge(&mut m, &mut s, Duration::from_secs(20));
}

#[test]
fn a_replica_that_lost_its_link_continues_from_the_backlog() {
    let (master_server, mport) = spindle_kv_with(&[]);
    let (_replica_server, rport) = spindle_kv_with(&[]);
    let mut m = connect(mport).unwrap();
    let mut r = connect(rport).unwrap();
    write_some(&mut m, 0);
    let _: Value = run(&mut r, &["REPLICAOF", "127.0.0.1", &mport.to_string()]);
    wait_link_up(&mut r);
    converge(&mut m, &mut r, Duration::from_secs(10));
    // The link drops; writes go on meanwhile; the replica reconnects a second later and asks
    // to continue from its offset, which the master's backlog still holds.
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("master")
        .query(&mut r)
        .unwrap();
    assert_eq!(killed, 1);
    for round in 1..5 {
        write_some(&mut m, round);
    }
    wait_link_up(&mut r);
    converge(&mut m, &mut r, Duration::from_secs(10));
    let log = master_server.stderr();
    assert!(
        log.contains("Partial resynchronization request from 127.0.0.1 accepted."),
        "{log}"
    );
    assert_eq!(log.matches("Full resync to replica").count(), 1, "{log}");
}

#[test]
fn a_replica_that_never_reads_is_closed_at_its_output_limit() {
    let (server, port) = spindle_kv_with(&["--client-output-buffer-limit", "replica 1mb 0 0"]);
    // A "replica" that asks for the stream and never reads it, with a small receive window.
    let mut fake = common::hostile::Resp::connect_narrow(port);
    fake.send(&common::hostile::command(&[b"PSYNC", b"?", b"-1"]));
    let mut m = connect(port).unwrap();
    let replicas = |m: &mut Connection| -> String {
        let info: String = redis::cmd("INFO").arg("replication").query(m).unwrap();
        info.lines()
            .find(|l| l.starts_with("connected_slaves:"))
            .unwrap_or_default()
            .to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while replicas(&mut m) != "connected_slaves:1" {
        assert!(Instant::now() < deadline, "the fake replica never attached");
        std::thread::sleep(Duration::from_millis(10)); // polling the condition
    }
    // 20 MB of stream for it: far past the socket buffers and the 1 MB limit.
    let value = "x".repeat(100_000);
    for i in 0..200 {
        let _: Value = run(&mut m, &["SET", &format!("k{i}"), &value]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while replicas(&mut m) != "connected_slaves:0" {
        assert!(
            Instant::now() < deadline,
            "the replica that never reads was kept"
        );
        std::thread::sleep(Duration::from_millis(10)); // polling the condition
    }
    assert!(
        server
            .stderr()
            .contains("closed for overcoming of output buffer limits"),
        "{}",
        server.stderr()
    );
}

/// FCALL_RO of `echo` on `c`, or the error's text.
fn fcall_echo(c: &mut Connection) -> Result<String, String> {
    redis::cmd("FCALL_RO")
        .arg("echo")
        .arg(0)
        .arg("hi")
        .query::<String>(c)
        .map_err(|e| e.to_string())
}

#[test]
fn replicas_get_the_masters_function_libraries_in_the_snapshot() {
    let (_master_server, mport) = spindle_kv_with(&[]);
    let mut m = connect(mport).unwrap();
    // no-writes: a read-only replica runs only such functions.
    let code = "#!lua name=lib\nredis.register_function{function_name='echo', \
                callback=function(keys, args) return args[1] end, flags={'no-writes'}}";
    let _: Value = run(&mut m, &["FUNCTION", "LOAD", code]);
    // A spindle replica that had a library of its own: the full resync replaces it.
    let (_replica_server, rport) = spindle_kv_with(&[]);
    let mut r = connect(rport).unwrap();
    let own = "#!lua name=own\nredis.register_function('own', function() return 1 end)";
    let _: Value = run(&mut r, &["FUNCTION", "LOAD", own]);
    let _: Value = run(&mut r, &["REPLICAOF", "127.0.0.1", &mport.to_string()]);
    wait_link_up(&mut r);
    assert_eq!(fcall_echo(&mut r).unwrap(), "hi");
    let listed = run(&mut m, &["FUNCTION", "LIST", "WITHCODE"]);
    assert_eq!(run(&mut r, &["FUNCTION", "LIST", "WITHCODE"]), listed);
    let Some(redis) = RedisServer::start_with(&["--replicaof", "127.0.0.1", &mport.to_string()])
    else {
        return;
    };
    let mut rr = redis.connect();
    wait_link_up(&mut rr);
    assert_eq!(fcall_echo(&mut rr).unwrap(), "hi");
    assert_eq!(run(&mut rr, &["FUNCTION", "LIST", "WITHCODE"]), listed);
}

/// A field of `c`'s INFO persistence.
fn persistence_field(c: &mut Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("persistence").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .to_string()
}

/// Waits until `c` has no AOF rewrite running or scheduled.
fn wait_rewrite_done(c: &mut Connection) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while persistence_field(c, "aof_rewrite_in_progress") != "0"
        || persistence_field(c, "aof_rewrite_scheduled") != "0"
    {
        assert!(Instant::now() < deadline, "the rewrite never ended");
        std::thread::sleep(Duration::from_millis(20)); // polling the condition
    }
}

#[test]
fn a_replica_with_the_aof_on_rewrites_it_after_a_full_resync() {
    let dir = std::env::temp_dir().join(format!("spindle-kv-repl-aof-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let replica_args = ["--dir", dir.to_str().unwrap(), "--appendonly", "yes"];
    let (mut master_server, mport) = spindle_kv_with(&[]);
    let mut m = connect(mport).unwrap();
    write_some(&mut m, 0);
    let (mut replica_server, rport) = spindle_kv_with(&replica_args);
    let mut r = connect(rport).unwrap();
    // Data of the replica's own, in its AOF, which the first resync replaces.
    let _: Value = run(&mut r, &["SET", "stale", "x"]);
    let _: Value = run(&mut r, &["REPLICAOF", "127.0.0.1", &mport.to_string()]);
    wait_link_up(&mut r);
    converge(&mut m, &mut r, Duration::from_secs(10));

    // The master goes away and comes back with other data (a new replication id): the
    // replica, detached meanwhile, resyncs in full.
    master_server.terminate();
    drop(master_server);
    let (_master_server, mport2) = spindle_kv_with(&["--port", &mport.to_string()]);
    let mut m = connect(mport2).unwrap();
    let _: Value = run(&mut m, &["FLUSHALL"]);
    write_some(&mut m, 7);
    converge(&mut m, &mut r, Duration::from_secs(20));
    // The stream after the resync reaches the replica's AOF too.
    write_some(&mut m, 8);
    let _: Value = run(&mut m, &["SET", "after", "resync"]);
    // The short-lived key expires first, so that it is not in the comparison by chance.
    let deadline = Instant::now() + Duration::from_secs(10);
    while run(&mut m, &["EXISTS", "soon8"]) != Value::Int(0) {
        assert!(Instant::now() < deadline, "soon8 never expired");
        std::thread::sleep(Duration::from_millis(20)); // polling the condition
    }
    converge(&mut m, &mut r, Duration::from_secs(20));
    wait_rewrite_done(&mut r);
    let want = everything(&mut m);

    let _ = std::process::Command::new("kill")
        .args(["-9", &replica_server.pid().to_string()])
        .status();
    replica_server.wait_for_exit(Duration::from_secs(10));
    drop(replica_server);
    let (_replica_server, rport) = spindle_kv_with(&replica_args);
    let mut r = connect(rport).unwrap();
    assert_eq!(everything(&mut r), want);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `spindle kv` from `SPINDLE_BIN` (a release build, for measurements) or the test build.
fn spindle_kv_bin(extra: &[&str]) -> (common::Running, u16) {
    match std::env::var("SPINDLE_BIN") {
        Ok(bin) => {
            let mut cmd = std::process::Command::new(bin);
            cmd.args(["kv", "--port", "0"]).args(extra);
            common::spawn_and_read_port("spindle kv", cmd)
        }
        Err(_) => spindle_kv_with(extra),
    }
}

/// Replicas attach one after another to the master on `mport` (1M keys), started by
/// `replica` (which returns the replica's port); a probe client PINGs the master meanwhile.
/// Prints, per round, the time to the link up and the longest PING.
fn measure_full_resyncs<S>(name: &str, mport: u16, replica: impl Fn() -> (S, u16)) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    for round in 0..3 {
        let (_replica_server, rport) = replica();
        let mut r = connect(rport).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let probe = {
            let stop = stop.clone();
            let mut p = connect(mport).unwrap();
            std::thread::spawn(move || {
                let mut worst = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let _: Value = run(&mut p, &["PING"]);
                    worst = worst.max(t.elapsed());
                }
                worst
            })
        };
        let started = Instant::now();
        let _: Value = run(&mut r, &["REPLICAOF", "127.0.0.1", &mport.to_string()]);
        // On a busy machine a resync of 1M keys can outlast wait_link_up's 20 s.
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let info: String = redis::cmd("INFO").arg("replication").query(&mut r).unwrap();
            if info.contains("master_link_status:up") {
                break;
            }
            assert!(Instant::now() < deadline, "link never came up:\n{info}");
            std::thread::sleep(Duration::from_millis(20)); // polling the condition
        }
        let synced = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let worst = probe.join().unwrap();
        let keys: i64 = redis::cmd("DBSIZE").query(&mut r).unwrap();
        assert_eq!(keys, 1_000_000);
        println!(
            "{name} round {round}: full resync of 1M keys in {:.0} ms; the master's longest PING meanwhile {:.1} ms",
            synced.as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3
        );
    }
}

#[test]
#[ignore = "a measurement (1M keys): run by hand for docs/BENCHMARKS.md"]
fn full_resync_stall() {
    let (_master_server, mport) = spindle_kv_bin(&["--enable-debug-command", "yes"]);
    let mut m = connect(mport).unwrap();
    let _: Value = run(&mut m, &["DEBUG", "POPULATE", "1000000", "key", "64"]);
    measure_full_resyncs("spindle", mport, || spindle_kv_bin(&[]));
    let Some(redis) = RedisServer::start_with(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let mut m = redis.connect();
    let _: Value = run(&mut m, &["DEBUG", "POPULATE", "1000000", "key", "64"]);
    measure_full_resyncs("redis-server", redis.port, || {
        let replica = RedisServer::start().unwrap();
        let port = replica.port;
        (replica, port)
    });
}

#[test]
fn replicas_attaching_together_get_the_snapshot_from_a_child_and_the_writes_made_meanwhile() {
    let (master_server, mport) = spindle_kv_with(&["--enable-debug-command", "yes"]);
    let mut m = connect(mport).unwrap();
    // Enough keys that the child takes a while (the second replica may join its snapshot),
    // in database 3, which `converge` does not compare key by key.
    let _: Value = run(&mut m, &["SELECT", "3"]);
    let _: Value = run(&mut m, &["DEBUG", "POPULATE", "100000", "key", "16"]);
    let _: Value = run(&mut m, &["SELECT", "0"]);
    let replicas: Vec<_> = (0..2).map(|_| spindle_kv_with(&[])).collect();
    let mut conns: Vec<Connection> = replicas.iter().map(|(_, p)| connect(*p).unwrap()).collect();
    for r in &mut conns {
        let _: Value = run(r, &["REPLICAOF", "127.0.0.1", &mport.to_string()]);
    }
    // Writes while the snapshot is being made reach the replicas after it.
    for round in 0..5 {
        write_some(&mut m, round);
    }
    for r in &mut conns {
        wait_link_up(r);
        converge(&mut m, r, Duration::from_secs(20));
        let _: Value = run(r, &["SELECT", "3"]);
        let keys: i64 = redis::cmd("DBSIZE").query(r).unwrap();
        assert_eq!(keys, 100_000);
    }
    let log = master_server.stderr();
    assert!(log.contains("Starting BGSAVE for SYNC"), "{log}");
    assert!(
        log.contains("Background RDB transfer terminated with success"),
        "{log}"
    );
}

/// A snapshot to serve as a master: what `SYNC` on a spindle master sends (`$len`, then the
/// RDB file; newlines before it keep the link while it is made).
fn snapshot_of(port: u16) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"SYNC\r\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let start = buf.iter().position(|&b| b != b'\n').unwrap_or(buf.len());
        let rest = &buf[start..];
        if let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let len: usize = std::str::from_utf8(&rest[1..eol]).unwrap().parse().unwrap();
            if rest.len() >= eol + 2 + len {
                return rest[eol + 2..eol + 2 + len].to_vec();
            }
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "the master closed the SYNC link");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A master that answers a replica's handshake and then `+FULLRESYNC` at `offset`, the
/// snapshot and one SET; returns once the replica has closed the link or `read_for` passed.
/// Returns whether the replica closed it.
fn fake_master_round(
    listener: &std::net::TcpListener,
    offset: &str,
    rdb: &[u8],
    read_for: Duration,
) -> bool {
    use bytes::BytesMut;
    use spindle_protocols::resp::{RequestDecoder, RequestLimits};
    use std::io::{Read, Write};
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut decoder = RequestDecoder::new(RequestLimits::default());
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        match decoder.decode(&mut buf).unwrap() {
            Some(args) if args[0].eq_ignore_ascii_case(b"PSYNC") => break,
            Some(args) if args[0].eq_ignore_ascii_case(b"PING") => {
                s.write_all(b"+PONG\r\n").unwrap()
            }
            Some(_) => s.write_all(b"+OK\r\n").unwrap(),
            None => {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "the replica closed the link in the handshake");
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    let mut out = format!(
        "+FULLRESYNC {} {offset}\r\n${}\r\n",
        "a".repeat(40),
        rdb.len()
    )
    .into_bytes();
    out.extend_from_slice(rdb);
    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    s.write_all(&out).unwrap();
    s.set_read_timeout(Some(read_for)).unwrap();
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// A master's `+FULLRESYNC` offset beyond Redis's `long long` is refused (the replica drops
/// the link and tries again) instead of overflowing the replication offset; one at
/// `i64::MAX` is taken, and the offset arithmetic near it holds (ROLE, INFO, the stream).
#[test]
fn a_masters_fullresync_offset_out_of_range_is_refused() {
    let (_source, sport) = spindle_kv_with(&[]);
    let rdb = snapshot_of(sport);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fport = listener.local_addr().unwrap().port();
    let (replica, rport) = spindle_kv_with(&[]);
    let mut c = connect(rport).unwrap();
    let _: Value = run(&mut c, &["REPLICAOF", "127.0.0.1", &fport.to_string()]);
    for bad in ["18446744073709551615", "-5", "x"] {
        assert!(
            fake_master_round(&listener, bad, &rdb, Duration::from_secs(20)),
            "the replica kept a link whose +FULLRESYNC offset is {bad}"
        );
        let pong: String = redis::cmd("PING").query(&mut c).unwrap();
        assert_eq!(pong, "PONG");
        let got: Option<String> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
        assert_eq!(got, None);
    }
    let master = std::thread::spawn(move || {
        fake_master_round(
            &listener,
            "9223372036854775807",
            &rdb,
            Duration::from_secs(30),
        )
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: Option<String> = redis::cmd("GET").arg("k").query(&mut c).unwrap();
        if got.as_deref() == Some("v") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the SET after the snapshot never arrived"
        );
        std::thread::sleep(Duration::from_millis(20)); // polling the condition
    }
    let role: Vec<Value> = redis::cmd("ROLE").query(&mut c).unwrap();
    assert_eq!(role[4], Value::Int(i64::MAX));
    let info: String = redis::cmd("INFO").arg("replication").query(&mut c).unwrap();
    assert!(info.contains("master_link_status:up"), "{info}");
    assert!(
        !replica.stderr().contains("panicked"),
        "{}",
        replica.stderr()
    );
    drop(c);
    drop(replica);
    master.join().unwrap();
}

/// `ROLE`'s first word on `c`: "master" or "slave".
fn role(c: &mut Connection) -> String {
    let reply: Vec<Value> = redis::cmd("ROLE").query(c).unwrap();
    match reply.first() {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("ROLE: {other:?}"),
    }
}

/// `INFO replication` of `c`.
fn replication_info(c: &mut Connection) -> String {
    redis::cmd("INFO").arg("replication").query(c).unwrap()
}

/// The `master_failover_state` field of an `INFO replication` text.
fn failover_state(info: &str) -> &str {
    info.lines()
        .find_map(|l| l.strip_prefix("master_failover_state:"))
        .unwrap_or_default()
}

/// FAILOVER from `master` to `replica` (its replica, listening on `replica_port`): the
/// replica becomes the master, the old master follows it with its data and the stream of
/// the new master's writes, and refuses writes as a replica does.
fn fails_over(master: &mut Connection, replica: &mut Connection, replica_port: u16) {
    write_some(master, 0);
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(master).unwrap();
    assert_eq!(acked, 1);
    converge(master, replica, Duration::from_secs(20));
    let ok: String = redis::cmd("FAILOVER")
        .arg("TO")
        .arg("127.0.0.1")
        .arg(replica_port)
        .arg("TIMEOUT")
        .arg(20_000)
        .query(master)
        .unwrap();
    assert_eq!(ok, "OK");
    wait_until("the failover", Duration::from_secs(20), || {
        let info = replication_info(master);
        role(replica) == "master"
            && info.contains("master_link_status:up")
            && failover_state(&info) == "no-failover"
    });
    assert_eq!(role(master), "slave");
    for round in 1..5 {
        write_some(replica, round);
    }
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(replica).unwrap();
    assert_eq!(acked, 1, "the old master acknowledges the new one's stream");
    converge(replica, master, Duration::from_secs(20));
    let refused = redis::cmd("SET").arg("k").arg("v").query::<String>(master);
    let refused = refused.expect_err("a write to the old master");
    assert_eq!(refused.kind(), redis::ErrorKind::ReadOnly, "{refused}");
}

/// Attaches the replica on `replica_port` to the master on `master_port` and waits for the
/// link.
fn attach(replica: &mut Connection, master_port: u16) {
    let ok: String = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(master_port)
        .query(replica)
        .unwrap();
    assert_eq!(ok, "OK");
    wait_link_up(replica);
}

#[test]
fn failover_hands_a_spindle_master_over_to_its_spindle_replica() {
    let (_master_server, mport) = spindle_kv_with(&[]);
    let (_replica_server, rport) = spindle_kv_with(&[]);
    let (mut m, mut r) = (connect(mport).unwrap(), connect(rport).unwrap());
    attach(&mut r, mport);
    fails_over(&mut m, &mut r, rport);
}

#[test]
fn failover_hands_a_spindle_master_over_to_a_redis_server_replica() {
    let (_master_server, mport) = spindle_kv_with(&[]);
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (mut m, mut r) = (connect(mport).unwrap(), redis.connect());
    attach(&mut r, mport);
    fails_over(&mut m, &mut r, redis.port);
}

#[test]
fn failover_hands_a_redis_server_master_over_to_a_spindle_replica() {
    let Some(redis) = RedisServer::start_with(&["--repl-diskless-sync-delay", "0"]) else {
        return;
    };
    let (_replica_server, rport) = spindle_kv_with(&[]);
    let (mut m, mut r) = (redis.connect(), connect(rport).unwrap());
    attach(&mut r, redis.port);
    fails_over(&mut m, &mut r, rport);
}

#[test]
fn failover_is_refused_and_aborted_as_redis_does() {
    let (_master_server, mport) = spindle_kv_with(&[]);
    let (replica_server, rport) = spindle_kv_with(&[]);
    let (mut m, mut r) = (connect(mport).unwrap(), connect(rport).unwrap());
    let error = |c: &mut Connection, args: &[&str]| -> String {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        match cmd.query::<Value>(c) {
            Err(e) => e.to_string(),
            Ok(v) => panic!("{args:?} answered {v:?}"),
        }
    };
    assert!(error(&mut m, &["FAILOVER", "ABORT"]).contains("No failover in progress."));
    assert!(error(&mut m, &["FAILOVER"]).contains("FAILOVER requires connected replicas."));
    attach(&mut r, mport);
    assert!(
        error(&mut r, &["FAILOVER"]).contains("FAILOVER is not valid when server is a replica.")
    );
    assert!(error(&mut m, &["FAILOVER", "TO", "127.0.0.1", "1"])
        .contains("FAILOVER target HOST and PORT is not a replica."));
    assert!(error(&mut m, &["FAILOVER", "FORCE", "TIMEOUT", "100"])
        .contains("FAILOVER with force option requires both a timeout and target HOST and IP."));
    // A replica that never catches up (stopped, while the master has written more): the
    // failover waits, and ABORT ends it.
    replica_server.signal("-STOP");
    let ok: String = redis::cmd("SET")
        .arg("unseen")
        .arg("x")
        .query(&mut m)
        .unwrap();
    assert_eq!(ok, "OK");
    let ok: String = redis::cmd("FAILOVER").query(&mut m).unwrap();
    assert_eq!(ok, "OK");
    let info = replication_info(&mut m);
    assert_eq!(failover_state(&info), "waiting-for-sync", "{info}");
    assert!(error(&mut m, &["FAILOVER"]).contains("FAILOVER already in progress."));
    assert!(error(&mut m, &["REPLICAOF", "NO", "ONE"])
        .contains("REPLICAOF not allowed while failing over."));
    let ok: String = redis::cmd("FAILOVER").arg("ABORT").query(&mut m).unwrap();
    assert_eq!(ok, "OK");
    let info = replication_info(&mut m);
    assert_eq!(failover_state(&info), "no-failover", "{info}");
    let ok: String = redis::cmd("SET")
        .arg("after")
        .arg("abort")
        .query(&mut m)
        .unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(role(&mut m), "master");
    replica_server.signal("-CONT");
}

/// A failover whose replica does not catch up (stopped): with a TIMEOUT alone it gives up and
/// the master stays one; with FORCE it goes on at the timeout, and the replica, once it runs
/// again, takes over and the old master follows it.
#[test]
fn failover_times_out_or_is_forced_as_redis_does() {
    let (_master_server, mport) = spindle_kv_with(&[]);
    let (replica_server, rport) = spindle_kv_with(&[]);
    let (mut m, mut r) = (connect(mport).unwrap(), connect(rport).unwrap());
    attach(&mut r, mport);
    let ok: String = redis::cmd("SET")
        .arg("seen")
        .arg("1")
        .query(&mut m)
        .unwrap();
    assert_eq!(ok, "OK");
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut m).unwrap();
    assert_eq!(acked, 1);
    replica_server.signal("-STOP");
    let ok: String = redis::cmd("SET")
        .arg("unseen")
        .arg("1")
        .query(&mut m)
        .unwrap();
    assert_eq!(ok, "OK");

    let ok: String = redis::cmd("FAILOVER")
        .arg("TIMEOUT")
        .arg(300)
        .query(&mut m)
        .unwrap();
    assert_eq!(ok, "OK");
    wait_until("the failover to time out", Duration::from_secs(20), || {
        failover_state(&replication_info(&mut m)) == "no-failover"
    });
    assert_eq!(role(&mut m), "master");

    let ok: String = redis::cmd("FAILOVER")
        .arg("TO")
        .arg("127.0.0.1")
        .arg(rport)
        .arg("FORCE")
        .arg("TIMEOUT")
        .arg(300)
        .query(&mut m)
        .unwrap();
    assert_eq!(ok, "OK");
    wait_until(
        "the forced failover to start",
        Duration::from_secs(20),
        || failover_state(&replication_info(&mut m)) == "failover-in-progress",
    );
    replica_server.signal("-CONT");
    wait_until(
        "the forced failover to end",
        Duration::from_secs(20),
        || failover_state(&replication_info(&mut m)) == "no-failover" && role(&mut m) == "slave",
    );
    assert_eq!(role(&mut r), "master");
    wait_link_up(&mut m);
    converge(&mut r, &mut m, Duration::from_secs(20));
    // The write made while the replica was stopped waited in its socket: it ran that first,
    // so nothing was lost in the handover.
    let unseen: Option<String> = redis::cmd("GET").arg("unseen").query(&mut r).unwrap();
    assert_eq!(unseen.as_deref(), Some("1"));
}
