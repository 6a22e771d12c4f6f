//! `spindle kv` driven by the `redis` crate, a real client: every command group, with the edge
//! cases (negative indexes, empty results, wrong types, overflow).

mod common;

use common::{spawn_and_read_port, spindle, Running};
use redis::{Commands, Connection, RedisResult, Value};

/// A `spindle kv` on a free port and a connection to it.
fn server() -> (Running, Connection) {
    let mut cmd = spindle();
    cmd.args(["kv", "--port", "0"]);
    let (server, port) = spawn_and_read_port("spindle kv", cmd);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let conn = client.get_connection().unwrap();
    (server, conn)
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
