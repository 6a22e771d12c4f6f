//! The commands, tested without a socket: each case runs a command line against a fresh or
//! prepared server and compares the reply with what Redis 7.0 answers, error texts included.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spindle_protocols::resp::{decode_frame, Frame, Limits, Version};

use super::testkit::T as Harness;

fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn simple(s: &str) -> Frame {
    Frame::Simple(Bytes::copy_from_slice(s.as_bytes()))
}

fn err(s: &str) -> Frame {
    Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
}

fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

fn arr(items: &[&str]) -> Frame {
    Frame::Array(items.iter().map(|s| bulk(s)).collect())
}

/// Runs `(command, expected reply)` in order on one server.
fn script(cases: &[(&str, Frame)]) -> Harness {
    let mut h = Harness::new();
    for (cmd, want) in cases {
        assert_eq!(&h.run(cmd), want, "{cmd}");
    }
    h
}

#[test]
fn strings() {
    script(&[
        ("SET k v", simple("OK")),
        ("GET k", bulk("v")),
        ("GET missing", Frame::Null),
        ("SET k v2 NX", Frame::Null),
        ("SET k v3 XX GET", bulk("v")),
        ("SET n 10", simple("OK")),
        ("INCR n", int(11)),
        ("INCRBY n -20", int(-9)),
        ("DECR n", int(-10)),
        ("DECRBY n 5", int(-15)),
        ("GET n", bulk("-15")),
        ("INCR k", err("ERR value is not an integer or out of range")),
        (
            "INCRBY n abc",
            err("ERR value is not an integer or out of range"),
        ),
        ("SET big 9223372036854775807", simple("OK")),
        ("INCR big", err("ERR increment or decrement would overflow")),
        ("INCRBYFLOAT f 10.5", bulk("10.5")),
        ("INCRBYFLOAT f 0.1", bulk("10.6")),
        ("INCRBYFLOAT f -5", bulk("5.6")),
        ("INCRBYFLOAT f 4.4", bulk("10")),
        ("APPEND s Hello", int(5)),
        ("APPEND s World", int(10)),
        ("STRLEN s", int(10)),
        ("GETRANGE s 0 4", bulk("Hello")),
        ("GETRANGE s -5 -1", bulk("World")),
        ("GETRANGE s 5 2", bulk("")),
        ("SETRANGE s 5 ,w", int(10)),
        ("GET s", bulk("Hello,wrld")),
        ("SETRANGE pad 3 x", int(4)),
        ("GET pad", Frame::Bulk(Bytes::from_static(b"\0\0\0x"))),
        ("MSET a 1 b 2", simple("OK")),
        (
            "MGET a b nothing",
            Frame::Array(vec![bulk("1"), bulk("2"), Frame::Null]),
        ),
        ("MSETNX a 9 c 3", int(0)),
        ("MSETNX c 3 d 4", int(1)),
        ("GETSET a 100", bulk("1")),
        ("GETDEL a", bulk("100")),
        ("GET a", Frame::Null),
        ("SETNX a 1", int(1)),
        ("SETNX a 2", int(0)),
        (
            "SET k v EX 0",
            err("ERR invalid expire time in 'set' command"),
        ),
        ("SET k v EX 10 PX 10", err("ERR syntax error")),
        ("SET k v NX XX", err("ERR syntax error")),
        (
            "GET",
            err("ERR wrong number of arguments for 'get' command"),
        ),
        ("LPUSH list x", int(1)),
        (
            "GET list",
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
        (
            "SET list x GET",
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ),
    ]);
}

#[test]
fn unknown_commands_and_arity() {
    script(&[
        (
            "FOO a b",
            err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "),
        ),
        (
            "FOO",
            err("ERR unknown command 'FOO', with args beginning with: "),
        ),
        (
            "set k",
            err("ERR wrong number of arguments for 'set' command"),
        ),
        ("PING", simple("PONG")),
        ("PING hi", bulk("hi")),
        ("ECHO hello", bulk("hello")),
        ("SELECT 1", simple("OK")),
        ("SELECT 16", err("ERR DB index is out of range")),
        (
            "SELECT x",
            err("ERR value is not an integer or out of range"),
        ),
    ]);
}

#[test]
fn startup_only_directives_are_refused_by_config_set_as_immutable() {
    script(&[
        ("CONFIG GET busy-poll", arr(&["busy-poll", "200"])),
        (
            "CONFIG SET hz 20 databases 4",
            err(
                "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set \
                 immutable config",
            ),
        ),
        ("CONFIG GET hz", arr(&["hz", "10"])),
        (
            "CONFIG SET BUSY-POLL 0",
            err(
                "ERR CONFIG SET failed (possibly related to argument 'BUSY-POLL') - can't set \
                 immutable config",
            ),
        ),
    ]);
}

#[test]
fn object_idletime_counts_from_the_last_access_and_the_no_touch_commands_keep_it() {
    let mut h = script(&[("SET k v", simple("OK")), ("SET other v", simple("OK"))]);
    h.advance(Duration::from_secs(5));
    h.check(&[
        ("OBJECT IDLETIME k", int(5)),
        // EXISTS, TYPE, TTL and OBJECT look without touching, as in Redis.
        ("EXISTS k", int(1)),
        ("TYPE k", simple("string")),
        ("TTL k", int(-1)),
        ("OBJECT IDLETIME k", int(5)),
        ("OBJECT IDLETIME nothing", Frame::Null),
    ]);
    assert_eq!(h.run("GET k"), bulk("v"));
    assert_eq!(h.run("OBJECT IDLETIME k"), int(0));
    h.advance(Duration::from_secs(3));
    h.check(&[
        ("OBJECT IDLETIME k", int(3)),
        ("OBJECT IDLETIME other", int(8)),
        ("TOUCH other nothing", int(1)),
        ("OBJECT IDLETIME other", int(0)),
        ("APPEND k w", int(2)),
        ("OBJECT IDLETIME k", int(0)),
    ]);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.run("SET other v2"), simple("OK"));
    assert_eq!(h.run("OBJECT IDLETIME other"), int(0));
    assert_eq!(h.run("OBJECT IDLETIME k"), int(2));
}

#[test]
fn expiry_is_lazy_and_active_and_ttl_reports_it() {
    let mut h = script(&[
        ("SET k v EX 10", simple("OK")),
        ("TTL k", int(10)),
        ("PTTL k", int(10_000)),
        ("TTL nothing", int(-2)),
        ("SET p v", simple("OK")),
        ("TTL p", int(-1)),
        ("EXPIRE p 100 XX", int(0)),
        ("EXPIRE p 100 NX", int(1)),
        ("EXPIRE p 50 GT", int(0)),
        ("EXPIRE p 200 GT", int(1)),
        ("EXPIRE p 10 LT", int(1)),
        ("PERSIST p", int(1)),
        ("PERSIST p", int(0)),
        ("EXPIRE p -1", int(1)),
        ("EXISTS p", int(0)),
        ("SET k2 v PX 1500", simple("OK")),
        ("SET k k KEEPTTL", simple("OK")),
        ("TTL k", int(10)),
        ("SET k k", simple("OK")),
        ("TTL k", int(-1)),
        ("SETEX s 5 v", simple("OK")),
        ("EXPIRE nothing 10", int(0)),
        (
            "EXPIRE s 10 NX XX",
            err("ERR NX and XX, GT or LT options at the same time are not compatible"),
        ),
    ]);
    h.advance(Duration::from_millis(1499));
    assert_eq!(h.run("GET k2"), bulk("v"));
    h.advance(Duration::from_millis(1));
    assert_eq!(h.run("GET k2"), Frame::Null);
    // Active expiry reclaims keys nobody reads.
    for i in 0..100 {
        h.run(&format!("SET tmp{i} v PX 100"));
    }
    assert_eq!(h.run("DBSIZE"), int(102));
    h.advance(Duration::from_millis(100));
    let mut cycles = 0;
    while h.server.db.spaces[0].len() > 2 {
        h.server.active_expire(h.now, Duration::from_millis(50));
        cycles += 1;
        assert!(cycles < 100, "active expiry stalls");
    }
    assert_eq!(h.run("DBSIZE"), int(2));
    assert!(h.server.db.stats.expired_keys >= 101);
}

/// Times to live as far out as a client may set them (PEXPIREAT up to i64::MAX ms) still feed
/// the active expiry's average: the sum of several saturates instead of overflowing, and the
/// keys stay.
#[test]
fn the_expiry_cycle_takes_times_to_live_near_i64_max() {
    let mut h = Harness::new();
    for i in 0..25 {
        assert_eq!(h.run(&format!("SET far{i} v")), simple("OK"));
        assert_eq!(
            h.run(&format!("PEXPIREAT far{i} 9223372036854775807")),
            int(1)
        );
    }
    h.server.active_expire(h.now, Duration::from_millis(50));
    assert_eq!(h.run("DBSIZE"), int(25));
    assert!(h.server.db.spaces[0].avg_ttl > 0);
    let Frame::Integer(ttl) = h.run("PTTL far0") else {
        panic!("PTTL answers an integer")
    };
    assert!(ttl > 0, "{ttl}");
}

#[test]
fn keys_scan_type_rename() {
    let mut h = script(&[
        ("MSET hello 1 hallo 2 hxllo 3 world 4", simple("OK")),
        ("TYPE hello", simple("string")),
        ("TYPE nothing", simple("none")),
        ("RENAME world earth", simple("OK")),
        ("RENAME nothing x", err("ERR no such key")),
        ("RENAMENX earth hello", int(0)),
        ("DEL earth hello nothing", int(2)),
        ("EXISTS hallo hallo hxllo nothing", int(3)),
    ]);
    let Frame::Array(keys) = h.run("KEYS h?llo") else {
        panic!()
    };
    let mut keys: Vec<Frame> = keys;
    keys.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(keys, vec![bulk("hallo"), bulk("hxllo")]);
    for i in 0..50 {
        h.run(&format!("SET key:{i} v"));
    }
    let mut cursor = "0".to_string();
    let mut seen = 0;
    loop {
        let Frame::Array(parts) = h.run(&format!("SCAN {cursor} MATCH key:* COUNT 7")) else {
            panic!()
        };
        let (Some(Frame::Bulk(next)), Some(Frame::Array(found))) = (parts.first(), parts.get(1))
        else {
            panic!()
        };
        seen += found.len();
        cursor = String::from_utf8(next.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen, 50);
}

#[test]
fn lists_hashes_sets_zsets() {
    script(&[
        ("RPUSH l a b c d", int(4)),
        ("LPUSH l z", int(5)),
        ("LRANGE l 0 -1", arr(&["z", "a", "b", "c", "d"])),
        ("LRANGE l -2 100", arr(&["c", "d"])),
        ("LRANGE l 5 10", arr(&[])),
        ("LINDEX l -1", bulk("d")),
        ("LINDEX l 10", Frame::Null),
        ("LSET l 10 x", err("ERR index out of range")),
        ("LPOP l", bulk("z")),
        ("RPOP l 2", arr(&["d", "c"])),
        ("LLEN l", int(2)),
        ("LTRIM l 1 -1", simple("OK")),
        ("LRANGE l 0 -1", arr(&["b"])),
        ("RPOP l", bulk("b")),
        ("EXISTS l", int(0)),
        ("LPOP l", Frame::Null),
        ("LPUSHX l x", int(0)),
        ("HSET h f1 v1 f2 v2", int(2)),
        ("HSET h f1 v9", int(0)),
        ("HGET h f1", bulk("v9")),
        (
            "HMGET h f1 nope f2",
            Frame::Array(vec![bulk("v9"), Frame::Null, bulk("v2")]),
        ),
        ("HLEN h", int(2)),
        ("HINCRBY h n 5", int(5)),
        ("HINCRBY h f1 1", err("ERR hash value is not an integer")),
        ("HDEL h f1 f2 n", int(3)),
        ("EXISTS h", int(0)),
        (
            "HSET h f",
            err("ERR wrong number of arguments for 'hset' command"),
        ),
        ("SADD s a b c a", int(3)),
        ("SCARD s", int(3)),
        ("SISMEMBER s b", int(1)),
        ("SREM s a b x", int(2)),
        ("SMEMBERS s", arr(&["c"])),
        ("SPOP s", bulk("c")),
        ("SPOP s", Frame::Null),
        ("ZADD z 1 a 2 b 3 c", int(3)),
        ("ZADD z CH 5 a 2 b", int(1)),
        (
            "ZADD z NX XX 1 a",
            err("ERR XX and NX options at the same time are not compatible"),
        ),
        ("ZADD z 1 a 2", err("ERR syntax error")),
        ("ZADD z x a", err("ERR value is not a valid float")),
        ("ZSCORE z a", bulk("5")),
        ("ZADD z INCR 1.5 a", bulk("6.5")),
        ("ZRANGE z 0 -1", arr(&["b", "c", "a"])),
        ("ZRANGE z 0 0 WITHSCORES", arr(&["b", "2"])),
        ("ZRANGE z 0 0 REV", arr(&["a"])),
        ("ZPOPMIN z", arr(&["b", "2"])),
        ("ZPOPMAX z 5", arr(&["a", "6.5", "c", "3"])),
        ("ZCARD z", int(0)),
    ]);
}

#[test]
fn auth_hello_and_resp3() {
    let mut h = Harness::new();
    h.server.shared.config.set("requirepass", "secret").unwrap();
    h.client = h.server.new_client("t".into());
    assert_eq!(h.run("GET k"), err("NOAUTH Authentication required."));
    assert_eq!(
        h.run("AUTH wrong"),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(h.run("AUTH default secret"), simple("OK"));
    assert_eq!(h.run("SET k v"), simple("OK"));
    let Frame::Map(fields) = h.run("HELLO 3") else {
        panic!("HELLO 3 answers a map")
    };
    assert!(fields.contains(&(bulk("proto"), int(3))));
    assert_eq!(h.client.resp, Version::Resp3);
    assert_eq!(h.run("HSET h a 1"), int(1));
    assert_eq!(h.run("HGETALL h"), Frame::Map(vec![(bulk("a"), bulk("1"))]));
    assert_eq!(h.run("ZADD z 1.5 m"), int(1));
    assert_eq!(h.run("ZSCORE z m"), Frame::Double(1.5));
    assert_eq!(
        h.run("HELLO 4"),
        err("NOPROTO unsupported protocol version")
    );
}

#[test]
fn transactions_queue_exec_discard_and_abort() {
    let mut h = script(&[
        ("MULTI", simple("OK")),
        ("SET a 1", simple("QUEUED")),
        ("INCR a", simple("QUEUED")),
        ("LPUSH a x", simple("QUEUED")),
        ("GET a", simple("QUEUED")),
    ]);
    assert_eq!(
        h.run("EXEC"),
        Frame::Array(vec![
            simple("OK"),
            int(2),
            err("WRONGTYPE Operation against a key holding the wrong kind of value"),
            bulk("2"),
        ])
    );
    assert_eq!(h.run("EXEC"), err("ERR EXEC without MULTI"));
    assert_eq!(h.run("DISCARD"), err("ERR DISCARD without MULTI"));
    assert_eq!(h.run("MULTI"), simple("OK"));
    assert_eq!(h.run("MULTI"), err("ERR MULTI calls can not be nested"));
    assert_eq!(h.run("SET b 1"), simple("QUEUED"));
    assert_eq!(
        h.run("NOSUCH"),
        err("ERR unknown command 'NOSUCH', with args beginning with: ")
    );
    assert_eq!(
        h.run("GET"),
        err("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        h.run("EXEC"),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(h.run("EXISTS b"), int(0));
    assert_eq!(h.run("MULTI"), simple("OK"));
    assert_eq!(h.run("SET b 1"), simple("QUEUED"));
    assert_eq!(h.run("DISCARD"), simple("OK"));
    assert_eq!(h.run("EXISTS b"), int(0));
}

#[test]
fn multi_inside_multi_is_refused_and_the_transaction_goes_on() {
    let mut h = script(&[("MULTI", simple("OK")), ("SET a 1", simple("QUEUED"))]);
    assert_eq!(h.run("MULTI"), err("ERR MULTI calls can not be nested"));
    assert_eq!(h.run("EXEC"), Frame::Array(vec![simple("OK")]));
}

#[test]
fn watch_inside_multi_is_refused_and_the_transaction_goes_on() {
    let mut h = script(&[("MULTI", simple("OK")), ("SET a 1", simple("QUEUED"))]);
    assert_eq!(
        h.run("WATCH a"),
        err("ERR WATCH inside MULTI is not allowed")
    );
    assert!(h.server.shared.watches.is_empty());
    assert_eq!(h.run("EXEC"), Frame::Array(vec![simple("OK")]));
}

#[test]
fn unwatch_inside_multi_is_queued_as_in_redis_7_0() {
    let mut h = script(&[
        ("WATCH a", simple("OK")),
        ("MULTI", simple("OK")),
        ("UNWATCH", simple("QUEUED")),
    ]);
    assert_eq!(h.run("EXEC"), Frame::Array(vec![simple("OK")]));
}

#[test]
fn quit_inside_multi_runs_at_once() {
    let mut h = script(&[("MULTI", simple("OK")), ("SET a 1", simple("QUEUED"))]);
    assert_eq!(h.run("QUIT"), simple("OK"));
    assert!(h.client.closing);
}

#[test]
fn reset_inside_multi_runs_at_once_and_drops_the_queue() {
    let mut h = script(&[("MULTI", simple("OK")), ("SET a 1", simple("QUEUED"))]);
    assert_eq!(h.run("RESET"), simple("RESET"));
    assert_eq!(h.run("EXEC"), err("ERR EXEC without MULTI"));
    assert_eq!(h.run("EXISTS a"), int(0));
}

#[test]
fn no_multi_commands_are_refused_inside_multi_and_abort_exec() {
    let mut h = script(&[("MULTI", simple("OK")), ("SET a 1", simple("QUEUED"))]);
    assert_eq!(
        h.run("SAVE"),
        err("ERR Command not allowed inside a transaction")
    );
    assert_eq!(
        h.run("EXEC"),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(h.run("EXISTS a"), int(0));
}

#[test]
fn the_table_alone_says_what_runs_at_once_inside_multi() {
    use crate::cmd::{commands, flags};
    let mut at_once: Vec<&str> = commands()
        .iter()
        .filter(|c| c.flags & flags::RUNS_IN_MULTI != 0)
        .map(|c| c.name)
        .collect();
    at_once.sort_unstable();
    assert_eq!(
        at_once,
        ["discard", "exec", "multi", "quit", "reset", "watch"]
    );
    let mut refused: Vec<&str> = commands()
        .iter()
        .filter(|c| c.flags & flags::NO_MULTI != 0)
        .map(|c| c.name)
        .collect();
    refused.sort_unstable();
    assert_eq!(refused, ["psync", "save", "shutdown", "sync"]);
}

#[test]
fn watch_is_invalidated_by_writes_from_others_flush_and_expiry() {
    let mut h = Harness::new();
    let mut other = h.other(9);
    assert_eq!(h.run("SET k 1"), simple("OK"));
    assert_eq!(h.run("WATCH k"), simple("OK"));
    assert_eq!(h.run_as(&mut other, "INCR k"), int(2));
    h.run("MULTI");
    h.run("SET k 100");
    assert_eq!(h.run("EXEC"), Frame::Null);
    assert_eq!(h.run("GET k"), bulk("2"));
    // Untouched: EXEC runs.
    h.run("WATCH k");
    assert_eq!(h.run_as(&mut other, "SET unrelated 1"), simple("OK"));
    h.run("MULTI");
    h.run("SET k 100");
    assert_eq!(h.run("EXEC"), Frame::Array(vec![simple("OK")]));
    // FLUSHALL invalidates.
    h.run("WATCH k");
    h.run_as(&mut other, "FLUSHALL");
    h.run("MULTI");
    h.run("SET k 1");
    assert_eq!(h.run("EXEC"), Frame::Null);
    // Expiry invalidates.
    h.run("SET t v PX 100");
    h.run("WATCH t");
    h.advance(Duration::from_millis(200));
    h.run("MULTI");
    h.run("SET t 1");
    assert_eq!(h.run("EXEC"), Frame::Null);
    assert_eq!(h.run("WATCH a b"), simple("OK"));
    assert_eq!(h.run("UNWATCH"), simple("OK"));
    assert!(h.server.shared.watches.is_empty());
}

#[test]
fn publish_reaches_channel_and_pattern_subscribers_framed_for_their_protocol() {
    let mut h = Harness::new();
    let mut sub2 = h.other(2);
    let mut sub3 = h.other(3);
    let confirm =
        |kind: &str, name: &str, n: i64| Frame::Array(vec![bulk(kind), bulk(name), int(n)]);
    assert_eq!(
        h.run_as(&mut sub2, "SUBSCRIBE news"),
        confirm("subscribe", "news", 1)
    );
    assert_eq!(
        h.run_as(&mut sub2, "PSUBSCRIBE n*"),
        confirm("psubscribe", "n*", 2)
    );
    // In RESP2 subscribe mode only the pub/sub commands are allowed.
    assert_eq!(
        h.run_as(&mut sub2, "GET k"),
        err("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    );
    h.run_as(&mut sub3, "HELLO 3");
    let Frame::Push(items) = h.run_as(&mut sub3, "SUBSCRIBE news") else {
        panic!("RESP3 confirms with a push")
    };
    assert_eq!(items, vec![bulk("subscribe"), bulk("news"), int(1)]);
    assert_eq!(h.run("PUBLISH news hello"), int(3));
    let out: Vec<(u32, Frame)> = h
        .client
        .outbox
        .drain(..)
        .map(|(conn, bytes)| {
            let mut b = BytesMut::from(&bytes[..]);
            (
                conn.index(),
                decode_frame(&mut b, &Limits::default()).unwrap().unwrap(),
            )
        })
        .collect();
    assert!(out.contains(&(
        2,
        Frame::Array(vec![bulk("message"), bulk("news"), bulk("hello")])
    )));
    assert!(out.contains(&(
        2,
        Frame::Array(vec![
            bulk("pmessage"),
            bulk("n*"),
            bulk("news"),
            bulk("hello")
        ])
    )));
    assert!(out.contains(&(
        3,
        Frame::Push(vec![bulk("message"), bulk("news"), bulk("hello")])
    )));
    assert_eq!(h.run("PUBLISH nobody x"), int(1), "the pattern n* matches");
    h.client.outbox.clear();
    assert_eq!(h.run("PUBSUB NUMPAT"), int(1));
    assert_eq!(h.run("PUBSUB CHANNELS"), arr(&["news"]));
    assert_eq!(
        h.run("PUBSUB NUMSUB news other"),
        Frame::Array(vec![bulk("news"), int(2), bulk("other"), int(0)])
    );
    assert_eq!(
        h.run_as(&mut sub2, "UNSUBSCRIBE"),
        confirm("unsubscribe", "news", 1)
    );
    assert_eq!(
        h.run_as(&mut sub2, "PUNSUBSCRIBE"),
        confirm("punsubscribe", "n*", 0)
    );
    assert_eq!(
        h.run_as(&mut sub2, "GET k"),
        Frame::Null,
        "back to normal mode"
    );
    assert_eq!(h.run("PUBLISH news again"), int(1));
}

#[test]
fn copy_move_swapdb_object_memory_sort() {
    let mut h = script(&[
        ("SET a 1", simple("OK")),
        ("COPY a b", int(1)),
        ("COPY a b", int(0)),
        ("COPY a b REPLACE", int(1)),
        (
            "COPY a a",
            err("ERR source and destination objects are the same"),
        ),
        ("COPY a c DB 1", int(1)),
        ("MOVE a 1", int(1)),
        ("EXISTS a", int(0)),
        (
            "MOVE b 0",
            err("ERR source and destination objects are the same"),
        ),
        ("SELECT 1", simple("OK")),
        ("MGET a c", arr(&["1", "1"])),
        ("SWAPDB 0 1", simple("OK")),
        ("DBSIZE", int(1)),
        ("SELECT 0", simple("OK")),
        ("DBSIZE", int(2)),
        ("SWAPDB 0 99", err("ERR DB index is out of range")),
        ("OBJECT ENCODING a", bulk("int")),
        ("SET s hello", simple("OK")),
        ("OBJECT ENCODING s", bulk("embstr")),
        ("OBJECT ENCODING nothing", Frame::Null),
        ("RPUSH nums 3 1 2 10", int(4)),
        ("OBJECT ENCODING nums", bulk("quicklist")),
        ("HSET small f v", int(1)),
        ("OBJECT ENCODING small", bulk("listpack")),
        ("SADD ints 1 2 3", int(3)),
        ("OBJECT ENCODING ints", bulk("intset")),
        ("SADD letters a", int(1)),
        ("OBJECT ENCODING letters", bulk("hashtable")),
        ("ZADD zs 1 a", int(1)),
        ("OBJECT ENCODING zs", bulk("listpack")),
        (
            "CONFIG SET zset-max-listpack-entries 0 set-max-intset-entries 2",
            simple("OK"),
        ),
        ("OBJECT ENCODING zs", bulk("skiplist")),
        ("OBJECT ENCODING ints", bulk("hashtable")),
        ("SORT nums", arr(&["1", "2", "3", "10"])),
        ("SORT nums DESC LIMIT 0 2", arr(&["10", "3"])),
        ("SORT nums ALPHA", arr(&["1", "10", "2", "3"])),
        ("MSET w_1 30 w_2 20 w_3 10 w_10 0", simple("OK")),
        ("SORT nums BY w_*", arr(&["10", "3", "2", "1"])),
        ("HSET obj_1 name one", int(1)),
        (
            "SORT nums BY nosort GET # GET obj_*->name",
            Frame::Array(vec![
                bulk("3"),
                Frame::Null,
                bulk("1"),
                bulk("one"),
                bulk("2"),
                Frame::Null,
                bulk("10"),
                Frame::Null,
            ]),
        ),
        ("SORT nums STORE sorted", int(4)),
        ("LRANGE sorted 0 -1", arr(&["1", "2", "3", "10"])),
        ("SORT_RO nums STORE x", err("ERR syntax error")),
        ("RPUSH words b a", int(2)),
        (
            "SORT words",
            err("ERR One or more scores can't be converted into double"),
        ),
    ]);
    let Frame::Integer(n) = h.run("MEMORY USAGE nums") else {
        panic!()
    };
    assert!(n > 0);
}

#[test]
fn pubsub_output_limits_cut_off_a_subscriber_that_stopped_reading() {
    let mut h = Harness::new();
    h.server
        .shared
        .config
        .set("client-output-buffer-limit", "pubsub 1000 100 2")
        .unwrap();
    let shared = &mut h.server.shared;
    let conn = spindle_reactor::ConnId::from_parts(7, 1);
    let limit = shared.output_class(true);
    // Under the soft limit: fine.
    assert!(!shared.output_limit_reached(conn, limit, 10 + 50, 0));
    // Over the soft limit: tolerated for 2 s, then cut off.
    assert!(!shared.output_limit_reached(conn, limit, 150 + 10, 1_000));
    assert!(!shared.output_limit_reached(conn, limit, 150 + 10, 2_999));
    assert!(shared.output_limit_reached(conn, limit, 150 + 10, 3_000));
    // Back under the soft limit resets the clock.
    assert!(!shared.output_limit_reached(conn, limit, 150 + 10, 4_000));
    assert!(!shared.output_limit_reached(conn, limit, 10, 5_000));
    assert!(!shared.output_limit_reached(conn, limit, 150 + 10, 6_500));
    // Over the hard limit: at once.
    assert!(shared.output_limit_reached(conn, limit, 990 + 20, 6_500));
    // A gone connection's clock is forgotten: over the soft limit again starts afresh.
    assert!(!shared.output_limit_reached(conn, limit, 150, 7_000));
    shared.forget_output(conn);
    assert!(!shared.output_limit_reached(conn, limit, 150, 8_500));
    assert!(!shared.output_limit_reached(conn, limit, 150, 10_499));
    assert!(shared.output_limit_reached(conn, limit, 150, 10_500));
    // A client that is not subscribed falls under the normal class (no limit by default).
    let normal = shared.output_class(false);
    assert!(!shared.output_limit_reached(conn, normal, 1 << 30, 11_000));
}

#[test]
fn random_counts_are_checked_as_redis_checks_them_and_bounded_by_the_reply_they_build() {
    const RANGE: &str =
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
    const TOO_BIG: &str = "ERR value is out of range, the reply would exceed proto-max-bulk-len";
    let mut h = script(&[
        ("SADD s a", int(1)),
        ("HSET h f v", int(1)),
        ("ZADD z 1 m", int(1)),
        ("SRANDMEMBER s -9223372036854775808", err(RANGE)),
        ("HRANDFIELD h -9223372036854775808", err(RANGE)),
        ("ZRANDMEMBER z -9223372036854775808", err(RANGE)),
        (
            "HRANDFIELD h -9223372036854770000 WITHVALUES",
            err("ERR value is out of range"),
        ),
        (
            "ZRANDMEMBER z -9223372036854770000 WITHSCORES",
            err("ERR value is out of range"),
        ),
        // Once aborted the server (a 15 GB reply), or cost hundreds of MB.
        ("SRANDMEMBER s -2147483648", err(TOO_BIG)),
        ("HRANDFIELD h -2147483648", err(TOO_BIG)),
        ("ZRANDMEMBER z -2147483648 WITHSCORES", err(TOO_BIG)),
        // A missing key is empty whatever the count, as in Redis.
        ("SRANDMEMBER nokey -2147483648", Frame::Array(vec![])),
        ("SRANDMEMBER s -3", arr(&["a", "a", "a"])),
        ("HRANDFIELD h -2 WITHVALUES", arr(&["f", "v", "f", "v"])),
        ("ZRANDMEMBER z -2 WITHSCORES", arr(&["m", "1", "m", "1"])),
        // Positive counts are bounded by the collection, never by the count.
        ("SRANDMEMBER s 9223372036854775807", arr(&["a"])),
        ("CONFIG SET proto-max-bulk-len 1mb", simple("OK")),
    ]);
    // 1 MiB holds 174762 of the smallest bulk strings (6 bytes each), and no more.
    let Frame::Array(items) = h.run("SRANDMEMBER s -174762") else {
        panic!("an array")
    };
    assert_eq!(items.len(), 174_762);
    assert_eq!(h.run("SRANDMEMBER s -174763"), err(TOO_BIG));
    assert_eq!(h.run("HRANDFIELD h -87382 WITHVALUES"), err(TOO_BIG));
}

#[test]
fn strings_grow_no_longer_than_proto_max_bulk_len() {
    const TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    let mut h = script(&[
        ("CONFIG SET proto-max-bulk-len 1mb", simple("OK")),
        (
            "CONFIG GET proto-max-bulk-len",
            arr(&["proto-max-bulk-len", "1048576"]),
        ),
        (
            "CONFIG SET proto-max-bulk-len 1000",
            err("ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive"),
        ),
        ("RPUSH list x", int(1)),
    ]);
    let big = vec![b'x'; 1_000_000];
    assert_eq!(h.args(&[b"SET", b"s", &big]), simple("OK"));
    let rest = vec![b'y'; 48_576];
    assert_eq!(h.args(&[b"APPEND", b"s", &rest]), int(1_048_576));
    assert_eq!(h.run("APPEND s z"), err(TOO_LONG));
    assert_eq!(h.run("STRLEN s"), int(1_048_576));
    h.check(&[
        ("SETRANGE t 1048576 x", err(TOO_LONG)),
        ("SETRANGE t 9223372036854775807 x", err(TOO_LONG)),
        ("EXISTS t", int(0)),
        ("SETRANGE t 1048575 x", int(1_048_576)),
        ("SETRANGE s 1048576 x", err(TOO_LONG)),
        // As Redis: the type is checked first, and an empty value changes nothing.
        ("SETRANGE list 1048576 x", err(WRONGTYPE)),
        ("SETRANGE t 9223372036854775807 ", int(1_048_576)),
        ("SETBIT b 8388607 1", int(0)),
        (
            "SETBIT b 8388608 1",
            err("ERR bit offset is not an integer or out of range"),
        ),
        ("GETRANGE s -3 -1", bulk("yyy")),
    ]);
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn expire_times_past_a_signed_64_bit_millisecond_count_are_invalid() {
    script(&[
        (
            "PSETEX e 9223372036854775807 v",
            err("ERR invalid expire time in 'psetex' command"),
        ),
        (
            "SETEX e 9223372036854775 v",
            err("ERR invalid expire time in 'setex' command"),
        ),
        (
            "SETEX e 9223372036854776 v",
            err("ERR invalid expire time in 'setex' command"),
        ),
        (
            "SET e v PX 9223372036854775807",
            err("ERR invalid expire time in 'set' command"),
        ),
        (
            "SET e v EXAT 9223372036854776",
            err("ERR invalid expire time in 'set' command"),
        ),
        ("EXISTS e", int(0)),
        // Absolute and in range: accepted, as Redis accepts it.
        ("SET e v PXAT 9223372036854775807", simple("OK")),
        (
            "GETEX e PX 9223372036854775807",
            err("ERR invalid expire time in 'getex' command"),
        ),
        (
            "GETEX e EX 9223372036854776",
            err("ERR invalid expire time in 'getex' command"),
        ),
        ("PSETEX e 1000 v", simple("OK")),
        ("PTTL e", int(1000)),
        (
            "SETEX e 0 v",
            err("ERR invalid expire time in 'setex' command"),
        ),
    ]);
}

#[test]
fn blocking_timeouts_beyond_the_clock_are_out_of_range() {
    const RANGE: &str = "ERR timeout is out of range";
    script(&[
        ("BLPOP k 1e300", err(RANGE)),
        ("BLPOP k inf", err(RANGE)),
        ("BRPOP k 9223372036854775", err(RANGE)),
        ("BLMOVE a b LEFT RIGHT 1e300", err(RANGE)),
        ("BZPOPMIN k 1e300", err(RANGE)),
        ("BLMPOP 1e300 1 k LEFT", err(RANGE)),
        ("BLPOP k -1", err("ERR timeout is negative")),
        ("BLPOP k -inf", err("ERR timeout is negative")),
        (
            "BLPOP k abc",
            err("ERR timeout is not a float or out of range"),
        ),
        ("RPUSH k x", int(1)),
        ("BLPOP k 0.001", arr(&["k", "x"])),
    ]);
}

#[test]
fn client_names_and_no_evict_are_checked_as_redis_checks_them() {
    const BAD_NAME: &str =
        "ERR Client names cannot contain spaces, newlines or special characters.";
    let mut h = Harness::new();
    assert_eq!(h.args(&[b"HELLO", b"3", b"SETNAME", b"a b"]), err(BAD_NAME));
    assert_eq!(
        h.client.resp,
        Version::Resp2,
        "a refused HELLO changes nothing"
    );
    assert_eq!(h.args(&[b"CLIENT", b"SETNAME", b"a\tb"]), err(BAD_NAME));
    assert_eq!(
        h.args(&[b"CLIENT", b"SETNAME", "é".as_bytes()]),
        err(BAD_NAME)
    );
    assert_eq!(h.run("CLIENT GETNAME"), Frame::Null);
    assert!(matches!(h.run("HELLO 2 SETNAME worker-1"), Frame::Array(_)));
    assert_eq!(h.run("CLIENT GETNAME"), bulk("worker-1"));
    // An empty name removes the name.
    assert!(matches!(
        h.args(&[b"HELLO", b"2", b"SETNAME", b""]),
        Frame::Array(_)
    ));
    assert_eq!(h.run("CLIENT GETNAME"), Frame::Null);
    h.check(&[
        ("CLIENT NO-EVICT maybe", err("ERR syntax error")),
        ("CLIENT NO-EVICT on", simple("OK")),
        ("CLIENT NO-EVICT OFF", simple("OK")),
    ]);
}

#[test]
fn debug_cannot_be_switched_on_at_run_time() {
    const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option \
                               is set to \"local\", you can run it from a local connection, \
                               otherwise you need to set this option in the configuration file, \
                               and then restart the server.";
    let mut h = script(&[
        (
            "CONFIG SET enable-debug-command yes",
            err(
                "ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - \
                 can't set immutable config",
            ),
        ),
        (
            "CONFIG GET enable-debug-command",
            arr(&["enable-debug-command", "no"]),
        ),
        ("DEBUG SLEEP 0", err(NOT_ALLOWED)),
    ]);
    // No caller of `Config::set` can forget: the refusal is the configuration's own.
    assert!(h
        .server
        .shared
        .config
        .set("Enable-Debug-Command", "yes")
        .is_err());
    // At startup it is an ordinary directive.
    let args: Vec<String> = ["--enable-debug-command", "YES"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let config = crate::config::Config::from_args(&args).unwrap();
    assert_eq!(config.get("enable-debug-command"), Some("yes"));
    let mut h = Harness::new();
    h.server = crate::engine::Engine::new(config, h.now);
    h.client = h.server.new_client("test".into());
    assert_eq!(h.run("DEBUG SLEEP 0"), simple("OK"));
    assert!(crate::config::Config::from_args(&[
        "--enable-debug-command".to_string(),
        "maybe".to_string()
    ])
    .unwrap_err()
    .ends_with("argument(s) must be one of the following: no, yes, local"));
}

#[test]
fn numeric_directives_keep_redis_bounds_and_config_set_applies_all_or_nothing() {
    let h = script(&[
        (
            "CONFIG SET hz 2147483648",
            err("ERR CONFIG SET failed (possibly related to argument 'hz') - argument must be between 0 and 2147483647 inclusive"),
        ),
        (
            "CONFIG SET hz -1",
            err("ERR CONFIG SET failed (possibly related to argument 'hz') - argument must be between 0 and 2147483647 inclusive"),
        ),
        // Any int is taken, then clamped as Redis clamps it.
        ("CONFIG SET hz 1000", simple("OK")),
        ("CONFIG GET hz", arr(&["hz", "500"])),
        ("CONFIG SET hz 0", simple("OK")),
        ("CONFIG GET hz", arr(&["hz", "1"])),
        (
            "CONFIG SET maxmemory -1",
            err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"),
        ),
        ("CONFIG SET maxmemory 1gb", simple("OK")),
        ("CONFIG GET maxmemory", arr(&["maxmemory", "1073741824"])),
        // One bad value refuses the whole CONFIG SET.
        (
            "CONFIG SET hz 20 maxmemory lots",
            err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"),
        ),
        ("CONFIG GET hz", arr(&["hz", "1"])),
        ("CONFIG SET hz 20 maxmemory 2gb", simple("OK")),
        ("CONFIG GET hz", arr(&["hz", "20"])),
    ]);
    assert_eq!(h.server.shared.config.maxmemory, 2 << 30);
    assert_eq!(h.server.shared.config.hz, 20);
}

#[test]
fn client_memory_limits_are_known_directives_with_redis_parsing() {
    let mut h = script(&[
        (
            "CONFIG GET maxmemory-clients",
            arr(&["maxmemory-clients", "0"]),
        ),
        (
            "CONFIG GET client-query-buffer-limit",
            arr(&["client-query-buffer-limit", "1073741824"]),
        ),
        ("CONFIG SET maxmemory-clients 10%", simple("OK")),
        (
            "CONFIG GET maxmemory-clients",
            arr(&["maxmemory-clients", "10%"]),
        ),
    ]);
    let c = &h.server.shared.config;
    assert_eq!(
        c.maxmemory_clients, 0,
        "a percentage of no maxmemory is off"
    );
    assert_eq!(c.client_query_buffer_limit, 1 << 30);
    h.check(&[
        ("CONFIG SET maxmemory 1000mb", simple("OK")),
        (
            "CONFIG SET maxmemory-clients 101%",
            err("ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"),
        ),
        (
            "CONFIG SET maxmemory-clients lots",
            err("ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - argument must be a memory or percent value"),
        ),
    ]);
    assert_eq!(h.server.shared.config.maxmemory_clients, 100 << 20);
    h.check(&[
        ("CONFIG SET maxmemory-clients 1k", simple("OK")),
        (
            "CONFIG GET maxmemory-clients",
            arr(&["maxmemory-clients", "1000"]),
        ),
    ]);
    // Redis never applies less than 128 KiB.
    assert_eq!(h.server.shared.config.maxmemory_clients, 128 * 1024);
    h.check(&[
        ("CONFIG SET maxmemory-clients 0%", simple("OK")),
        (
            "CONFIG SET client-query-buffer-limit 1000",
            err("ERR CONFIG SET failed (possibly related to argument 'client-query-buffer-limit') - argument must be between 1048576 and 9223372036854775807 inclusive"),
        ),
        ("CONFIG SET client-query-buffer-limit 2mb", simple("OK")),
    ]);
    assert_eq!(h.server.shared.config.maxmemory_clients, 0);
    assert_eq!(h.server.shared.config.client_query_buffer_limit, 2 << 20);
}

#[test]
fn output_buffer_limits_parse_per_class_as_redis_does() {
    const KEY: &[u8] = b"client-output-buffer-limit";
    let mut h = Harness::new();
    let get = |h: &mut Harness| h.args(&[b"CONFIG", b"GET", KEY]);
    let shown = |text: &str| Frame::Array(vec![bulk("client-output-buffer-limit"), bulk(text)]);
    assert_eq!(
        get(&mut h),
        shown("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
    );
    // A class not named keeps its limits; `replica` is `slave`.
    assert_eq!(
        h.args(&[b"CONFIG", b"SET", KEY, b"normal 1mb 512kb 10 replica 1 2 3"]),
        simple("OK")
    );
    assert_eq!(
        get(&mut h),
        shown("normal 1048576 524288 10 slave 1 2 3 pubsub 33554432 8388608 60")
    );
    let limits = h.server.shared.config.client_output_buffer_limit;
    assert_eq!(
        (
            limits.normal.hard,
            limits.normal.soft,
            limits.normal.soft_seconds
        ),
        (1 << 20, 512 << 10, 10)
    );
    for (bad, reason) in [
        (
            &b"normal 1 2"[..],
            "Wrong number of arguments in buffer limit configuration.",
        ),
        (
            b"master 1 2 3",
            "Invalid client class specified in buffer limit configuration.",
        ),
        (
            b"pubsub 1 2 -3",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
        ),
        (
            b"pubsub x 2 3",
            "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
        ),
    ] {
        assert_eq!(
            h.args(&[b"CONFIG", b"SET", KEY, bad]),
            err(&format!(
                "ERR CONFIG SET failed (possibly related to argument \
                 'client-output-buffer-limit') - {reason}"
            ))
        );
    }
    // The limits the server enforces follow the one parser.
    assert_eq!(
        h.args(&[b"CONFIG", b"SET", KEY, b"pubsub 1000 100 2"]),
        simple("OK")
    );
    let c = &h.server.shared.config;
    assert_eq!(
        c.client_output_buffer_limit.pubsub,
        crate::config::OutputLimit {
            hard: 1000,
            soft: 100,
            soft_seconds: 2
        }
    );
    assert_eq!(c.client_output_buffer_limit.normal.hard, 1 << 20);
}

#[test]
fn append_and_setrange_change_long_strings_where_they_are() {
    let mut h = Harness::new();
    let long = vec![b'a'; 100];
    assert_eq!(h.args(&[b"SET", b"s", &long]), simple("OK"));
    assert_eq!(h.run("APPEND s bc"), int(102));
    assert_eq!(h.run("SETRANGE s 1 XY"), int(102));
    assert_eq!(h.run("SETRANGE s 104 Z"), int(105));
    let mut want = long.clone();
    want.extend_from_slice(b"bc");
    want[1..3].copy_from_slice(b"XY");
    want.extend_from_slice(&[0, 0, b'Z']);
    assert_eq!(h.run("GET s"), super::testkit::raw(&want));
    // A short string, an integer (which becomes its text) and a missing key.
    h.check(&[
        ("SET t ab", simple("OK")),
        ("APPEND t cd", int(4)),
        ("SETRANGE t 6 x", int(7)),
        ("SET n 123", simple("OK")),
        ("APPEND n 4", int(4)),
        ("GET n", bulk("1234")),
        ("SETRANGE n 0 9", int(4)),
        ("GET n", bulk("9234")),
        ("SETRANGE fresh 2 hi", int(4)),
    ]);
    assert_eq!(h.args(&[b"SETRANGE", b"none", b"5", b""]), int(0));
    assert_eq!(h.run("EXISTS none"), int(0));
    assert_eq!(h.run("GET t"), super::testkit::raw(b"abcd\0\0x"));
    assert_eq!(h.run("GET fresh"), super::testkit::raw(b"\0\0hi"));
}
