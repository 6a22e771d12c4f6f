//! `spindle kv` driven by the `redis` crate, a real client: every command group, with the edge
//! cases (negative indexes, empty results, wrong types, overflow).

mod common;

use common::{spawn_and_read_port, spindle, Running};
use redis::{Commands, Connection, RedisResult, Value};

/// A `spindle kv` on a free port and a connection to it.
fn server() -> (Running, Connection) {
    let (server, conn, _) = server_and_url();
    (server, conn)
}

/// The same, with the URL for more connections.
fn server_and_url() -> (Running, Connection, String) {
    let mut cmd = spindle();
    cmd.args(["kv", "--port", "0"]);
    let (server, port) = spawn_and_read_port("spindle kv", cmd);
    let url = format!("redis://127.0.0.1:{port}/");
    let conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    (server, conn, url)
}

fn err_text<T: std::fmt::Debug>(r: RedisResult<T>) -> String {
    let e = r.expect_err("an error reply");
    e.to_string()
}

#[test]
fn strings_and_counters() {
    let (_server, mut c) = server();
    let _: () = c.set("name", "spindle").unwrap();
    let v: String = c.get("name").unwrap();
    assert_eq!(v, "spindle");
    let none: Option<String> = c.get("missing").unwrap();
    assert_eq!(none, None);
    let n: i64 = c.incr("counter", 5).unwrap();
    assert_eq!(n, 5);
    let n: i64 = c.decr("counter", 7).unwrap();
    assert_eq!(n, -2);
    let _: () = c.set("max", i64::MAX).unwrap();
    let e = err_text(c.incr::<_, _, i64>("max", 1));
    assert!(e.contains("increment or decrement would overflow"), "{e}");
    let e = err_text(c.incr::<_, _, i64>("name", 1));
    assert!(e.contains("value is not an integer or out of range"), "{e}");
    let f: f64 = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg(2.5)
        .query(&mut c)
        .unwrap();
    assert_eq!(f, 2.5);
    let _: () = c.mset(&[("a", "1"), ("b", "2")]).unwrap();
    let vals: Vec<Option<String>> = c.mget(&["a", "nope", "b"]).unwrap();
    assert_eq!(vals, vec![Some("1".into()), None, Some("2".into())]);
    let r: String = c.getrange("name", -4, -1).unwrap();
    assert_eq!(r, "ndle");
    let len: usize = c.append("name", "!").unwrap();
    assert_eq!(len, 8);
    let _: () = redis::cmd("SET")
        .arg("ttl")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let ttl: i64 = c.ttl("ttl").unwrap();
    assert!((99..=100).contains(&ttl));
    let old: Option<String> = redis::cmd("SET")
        .arg("name")
        .arg("x")
        .arg("GET")
        .query(&mut c)
        .unwrap();
    assert_eq!(old.as_deref(), Some("spindle!"));
}

#[test]
fn lists_hashes_sets_sorted_sets() {
    let (_server, mut c) = server();
    let n: usize = c.rpush("l", &["a", "b", "c"]).unwrap();
    assert_eq!(n, 3);
    let all: Vec<String> = c.lrange("l", 0, -1).unwrap();
    assert_eq!(all, ["a", "b", "c"]);
    let tail: Vec<String> = c.lrange("l", -2, -1).unwrap();
    assert_eq!(tail, ["b", "c"]);
    let empty: Vec<String> = c.lrange("l", 10, 20).unwrap();
    assert!(empty.is_empty());
    let first: Option<String> = c.lpop("l", None).unwrap();
    assert_eq!(first.as_deref(), Some("a"));
    let e = err_text(c.hget::<_, _, Option<String>>("l", "f"));
    assert!(e.contains("WRONGTYPE"), "{e}");

    let added: usize = c
        .hset_multiple("h", &[("f1", "1"), ("f2", "2")])
        .map(|()| 2)
        .unwrap();
    assert_eq!(added, 2);
    let v: i64 = c.hincr("h", "f1", 10).unwrap();
    assert_eq!(v, 11);
    let all: std::collections::HashMap<String, String> = c.hgetall("h").unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all["f1"], "11");

    let n: usize = c.sadd("s", &["x", "y", "z"]).unwrap();
    assert_eq!(n, 3);
    let is: bool = c.sismember("s", "y").unwrap();
    assert!(is);
    let popped: Option<String> = c.spop("s").unwrap();
    assert!(popped.is_some());
    let card: usize = c.scard("s").unwrap();
    assert_eq!(card, 2);

    let n: usize = c
        .zadd_multiple("z", &[(1.0, "one"), (2.5, "two"), (3.0, "three")])
        .unwrap();
    assert_eq!(n, 3);
    let range: Vec<(String, f64)> = c.zrange_withscores("z", 0, -1).unwrap();
    assert_eq!(
        range,
        vec![
            ("one".into(), 1.0),
            ("two".into(), 2.5),
            ("three".into(), 3.0)
        ]
    );
    let score: Option<f64> = c.zscore("z", "two").unwrap();
    assert_eq!(score, Some(2.5));
    let min: Vec<(String, f64)> = redis::cmd("ZPOPMIN").arg("z").query(&mut c).unwrap();
    assert_eq!(min, vec![("one".into(), 1.0)]);
}

#[test]
fn keys_expiry_databases_and_server_commands() {
    let (_server, mut c) = server();
    for k in ["hello", "hallo", "hxllo", "other"] {
        let _: () = c.set(k, 1).unwrap();
    }
    let mut keys: Vec<String> = c.keys("h?llo").unwrap();
    keys.sort();
    assert_eq!(keys, ["hallo", "hello", "hxllo"]);
    let mut scanned: Vec<String> = c.scan_match("h*").unwrap().collect();
    scanned.sort();
    assert_eq!(scanned, ["hallo", "hello", "hxllo"]);
    let t: String = redis::cmd("TYPE").arg("hello").query(&mut c).unwrap();
    assert_eq!(t, "string");
    let _: () = c.rename("other", "renamed").unwrap();
    let ok: bool = c.expire("renamed", 100).unwrap();
    assert!(ok);
    let pttl: i64 = c.pttl("renamed").unwrap();
    assert!(pttl > 99_000);
    let n: usize = c.del(&["hello", "nothing"]).unwrap();
    assert_eq!(n, 1);
    let _: () = redis::cmd("SELECT").arg(3).query(&mut c).unwrap();
    let size: usize = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 0);
    let e = err_text(redis::cmd("SELECT").arg(99).query::<()>(&mut c));
    assert!(e.contains("DB index is out of range"), "{e}");
    let info: String = redis::cmd("INFO").query(&mut c).unwrap();
    assert!(info.contains("redis_version:"));
    assert!(info.contains("connected_clients:1"));
    let e = err_text(redis::cmd("NOSUCH").arg("x").query::<Value>(&mut c));
    assert!(e.contains("unknown command 'NOSUCH'"), "{e}");
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn pipelines_answer_in_order() {
    let (_server, mut c) = server();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    for i in 0..1000 {
        pipe.cmd("GET").arg(format!("k{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(values, (0..1000).collect::<Vec<i64>>());
}

#[test]
fn blocking_pops_wait_time_out_and_are_served_first_come_first_served() {
    let (server, mut c, url) = server_and_url();
    let connect = || {
        redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap()
    };
    // A sub-second timeout on an empty key answers nil.
    let started = std::time::Instant::now();
    let none: Option<(String, String)> = c.blpop("empty", 0.2).unwrap();
    assert_eq!(none, None);
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    // Two waiters on the same key: the first to block is served first.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut waiters = Vec::new();
    for name in ["first", "second"] {
        let mut conn = connect();
        let tx = tx.clone();
        waiters.push(std::thread::spawn(move || {
            let got: Option<(String, String)> = conn.blpop("queue", 10.0).unwrap();
            tx.send((name, got)).unwrap();
        }));
        // Wait until the server counts this client as blocked before starting the next.
        let want = waiters.len();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
            if info.contains(&format!("blocked_clients:{want}")) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{info}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    let n: usize = c.rpush("queue", &["a", "b"]).unwrap();
    assert!(n >= 1);
    let mut got: Vec<(&str, Option<(String, String)>)> =
        vec![rx.recv().unwrap(), rx.recv().unwrap()];
    got.sort_by_key(|(name, _)| *name);
    assert_eq!(
        got,
        vec![
            ("first", Some(("queue".into(), "a".into()))),
            ("second", Some(("queue".into(), "b".into())))
        ]
    );
    for w in waiters {
        w.join().unwrap();
    }
    // Inside MULTI a blocking pop does not block.
    let (none,): (Option<(String, String)>,) = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("empty")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(none, None);
    drop(server);
}

#[test]
fn client_kill_pause_unblock_and_reply() {
    let (_server, mut c, url) = server_and_url();
    let connect = || {
        redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap()
    };
    // KILL ID closes that connection; the killer stays.
    let mut victim = connect();
    let victim_id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut victim).unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(victim_id)
        .query(&mut c)
        .unwrap();
    assert_eq!(killed, 1);
    assert!(redis::cmd("PING").query::<String>(&mut victim).is_err());
    let e = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("1.2.3.4:5")
        .query::<()>(&mut c);
    assert!(e.unwrap_err().to_string().contains("No such client"));
    // UNBLOCK a client blocked in BLPOP: TIMEOUT answers nil, ERROR an -UNBLOCKED error.
    for (how, expect_error) in [("TIMEOUT", false), ("ERROR", true)] {
        let mut blocked = connect();
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut blocked).unwrap();
        let waiter = std::thread::spawn(move || {
            redis::cmd("BLPOP")
                .arg("never")
                .arg(0)
                .query::<Option<(String, String)>>(&mut blocked)
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let n: i64 = redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(id)
                .arg(how)
                .query(&mut c)
                .unwrap();
            if n == 1 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never blocked");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let got = waiter.join().unwrap();
        if expect_error {
            assert!(got.unwrap_err().to_string().contains("UNBLOCKED"));
        } else {
            assert_eq!(got.unwrap(), None);
        }
    }
    // PAUSE WRITE holds writes of other clients until UNPAUSE; reads go on.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(10_000)
        .arg("WRITE")
        .query(&mut c)
        .unwrap();
    let mut writer = connect();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let r: String = redis::cmd("SET")
            .arg("paused")
            .arg("v")
            .query(&mut writer)
            .unwrap();
        tx.send(r).unwrap();
    });
    let mut reader = connect();
    let v: Option<String> = redis::cmd("GET").arg("paused").query(&mut reader).unwrap();
    assert_eq!(v, None, "reads are served during PAUSE WRITE");
    assert!(rx.try_recv().is_err(), "the write is held");
    let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(&mut c).unwrap();
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap(),
        "OK"
    );
    t.join().unwrap();
    // REPLY OFF: no replies until ON.
    let mut raw =
        std::net::TcpStream::connect(url.trim_start_matches("redis://").trim_end_matches('/'))
            .unwrap();
    use std::io::{Read, Write};
    raw.write_all(b"CLIENT REPLY OFF\r\nSET a 1\r\nCLIENT REPLY SKIP\r\nSET b 2\r\nCLIENT REPLY ON\r\nGET a\r\n").unwrap();
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.ends_with(b"$1\r\n1\r\n") {
        let n = raw.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"+OK\r\n$1\r\n1\r\n");
}

#[test]
fn blocking_moves_and_multi_pops_chain_through_lists() {
    let (_server, mut c, url) = server_and_url();
    let connect = || {
        redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap()
    };
    let wait_blocked = |c: &mut Connection, n: usize| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let info: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
            if info.contains(&format!("blocked_clients:{n}")) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{info}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    // One client waits for `dst` (BLMPOP), another moves from `src` to `dst` (BLMOVE).
    let mut a = connect();
    let popper = std::thread::spawn(move || {
        redis::cmd("BLMPOP")
            .arg(10)
            .arg(1)
            .arg("dst")
            .arg("LEFT")
            .arg("COUNT")
            .arg(5)
            .query::<Option<(String, Vec<String>)>>(&mut a)
            .unwrap()
    });
    wait_blocked(&mut c, 1);
    let mut b = connect();
    let mover = std::thread::spawn(move || {
        redis::cmd("BLMOVE")
            .arg("src")
            .arg("dst")
            .arg("RIGHT")
            .arg("LEFT")
            .arg(10)
            .query::<Option<String>>(&mut b)
            .unwrap()
    });
    wait_blocked(&mut c, 2);
    let _: usize = c.rpush("src", &["x", "y"]).unwrap();
    assert_eq!(mover.join().unwrap().as_deref(), Some("y"));
    assert_eq!(
        popper.join().unwrap(),
        Some(("dst".to_string(), vec!["y".to_string()]))
    );
    let rest: Vec<String> = c.lrange("src", 0, -1).unwrap();
    assert_eq!(rest, ["x"]);
    // Immediate forms behave like LMOVE / LMPOP.
    let moved: Option<String> = redis::cmd("BRPOPLPUSH")
        .arg("src")
        .arg("other")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(moved.as_deref(), Some("x"));
    let e = redis::cmd("BLMPOP")
        .arg(1)
        .arg(0)
        .arg("k")
        .arg("LEFT")
        .query::<()>(&mut c);
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("numkeys should be greater than 0"));
}

#[test]
fn blocking_sorted_set_pops() {
    let (_server, mut c, url) = server_and_url();
    let mut waiter = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let t = std::thread::spawn(move || {
        redis::cmd("BZPOPMAX")
            .arg("board")
            .arg(10)
            .query::<Option<(String, String, f64)>>(&mut waiter)
            .unwrap()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
        if info.contains("blocked_clients:1") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{info}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _: usize = c
        .zadd_multiple("board", &[(1.0, "low"), (9.5, "high")])
        .unwrap();
    assert_eq!(
        t.join().unwrap(),
        Some(("board".to_string(), "high".to_string(), 9.5))
    );
    let now: Option<(String, String, f64)> = redis::cmd("BZPOPMIN")
        .arg("board")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(now, Some(("board".to_string(), "low".to_string(), 1.0)));
    let none: Option<(String, String, f64)> = redis::cmd("BZPOPMIN")
        .arg("board")
        .arg(0.05)
        .query(&mut c)
        .unwrap();
    assert_eq!(none, None);
}

#[test]
fn a_subscriber_that_stops_reading_is_cut_off_by_the_pubsub_hard_limit() {
    use std::io::{Read, Write};
    let mut cmd = spindle();
    cmd.args([
        "kv",
        "--port",
        "0",
        "--client-output-buffer-limit",
        "pubsub",
        "1mb",
        "256kb",
        "60",
    ]);
    let (_server, port) = spawn_and_read_port("spindle kv", cmd);
    let mut sub = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    sub.write_all(b"SUBSCRIBE firehose\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = sub.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"*3\r\n$9\r\nsubscribe"));
    // Now the subscriber never reads again; publish ~20 MB at it.
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let payload = "x".repeat(10_000);
    let mut receivers = Vec::new();
    for _ in 0..2000 {
        let n: i64 = c.publish("firehose", &payload).unwrap();
        receivers.push(n);
        if n == 0 {
            break;
        }
    }
    assert_eq!(receivers.last(), Some(&0), "the subscriber was cut off");
    let numsub: (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("firehose")
        .query(&mut c)
        .unwrap();
    assert_eq!(numsub.1, 0);
    // What the kernel still held reaches the subscriber, then the connection ends.
    sub.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut total = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match sub.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(
        total < 20_000_000,
        "received {total} bytes: the server did not buffer it all"
    );
}
