//! Regression tests of replies that once differed from redis-server 7.0.15's: each case was
//! checked against a real redis-server (tests/kv_compat.rs runs them side by side) and is kept
//! here without a socket, with the harness's clock moved by hand where expiry matters.

use std::time::Duration;

use crate::cmd::info::{cpu_section, stat_times, CpuTimes};
use crate::testkit::*;

const NOT_FLOAT: &str = "ERR value is not a valid float";

fn simple(s: &str) -> Frame {
    Frame::Simple(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

fn text(f: Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => String::from_utf8_lossy(&b).into(),
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn rename_renamenx_and_move_keep_the_ttl() {
    let mut t = T::new();
    t.check(&[
        ("SET k v EX 100", ok()),
        ("RENAME k k2", ok()),
        ("TTL k2", i(100)),
        ("EXISTS k", i(0)),
        ("RENAMENX k2 k3", i(1)),
        ("TTL k3", i(100)),
        // A destination's own TTL gives way to the source's (here: none).
        ("SET d x EX 50", ok()),
        ("SET plain p", ok()),
        ("RENAME plain d", ok()),
        ("TTL d", i(-1)),
        ("RENAME k3 d", ok()),
        ("TTL d", i(100)),
        ("MOVE d 1", i(1)),
        ("SELECT 1", ok()),
        ("TTL d", i(100)),
        ("COPY d c", i(1)),
        ("TTL c", i(100)),
    ]);
    // The time itself moves, to the millisecond.
    let at = t.run("PEXPIRETIME d");
    t.check(&[("RENAME d e", ok())]);
    assert_eq!(t.run("PEXPIRETIME e"), at);
    // And the key still expires under its new name.
    t.advance(Duration::from_secs(101));
    t.check(&[("EXISTS e", i(0))]);
}

#[test]
fn incrbyfloat_refuses_spaces_in_the_value_and_the_increment() {
    let mut t = T::new();
    assert_eq!(t.args(&[b"SET", b"a", b" 1"]), ok());
    assert_eq!(t.args(&[b"SET", b"b", b"1 "]), ok());
    assert_eq!(t.args(&[b"SET", b"blank", b"  "]), ok());
    assert_eq!(t.args(&[b"SET", b"empty", b""]), ok());
    assert_eq!(t.run("INCRBYFLOAT a 1"), e(NOT_FLOAT));
    assert_eq!(t.run("INCRBYFLOAT b 1"), e(NOT_FLOAT));
    assert_eq!(t.run("INCRBYFLOAT blank 1"), e(NOT_FLOAT));
    assert_eq!(t.run("INCRBYFLOAT empty 1"), e(NOT_FLOAT));
    assert_eq!(t.args(&[b"INCRBYFLOAT", b"c", b" 1"]), e(NOT_FLOAT));
    assert_eq!(t.args(&[b"INCRBYFLOAT", b"c", b"1 "]), e(NOT_FLOAT));
    t.check(&[
        ("EXISTS c", i(0)),
        // A stored inf reads as a float; the sum is what is refused.
        ("SET d inf", ok()),
        (
            "INCRBYFLOAT d 1",
            e("ERR increment would produce NaN or Infinity"),
        ),
        (
            "INCRBYFLOAT f inf",
            e("ERR increment would produce NaN or Infinity"),
        ),
        // The type is checked before the increment is parsed.
        ("RPUSH l x", i(1)),
        ("INCRBYFLOAT l x", e(WRONGTYPE)),
        ("INCRBYFLOAT j +.5", b("0.5")),
        ("INCRBYFLOAT j 5.", b("5.5")),
        ("SET n 7", ok()),
        ("INCRBYFLOAT n 0.5", b("7.5")),
    ]);
    // HINCRBYFLOAT has its own words for a bad stored value and an infinite increment.
    assert_eq!(t.args(&[b"HSET", b"h", b"sp", b" 1", b"inf", b"inf"]), i(2));
    t.check(&[
        ("HINCRBYFLOAT h sp 1", e("ERR hash value is not a float")),
        (
            "HINCRBYFLOAT h inf 1",
            e("ERR increment would produce NaN or Infinity"),
        ),
        ("HINCRBYFLOAT h x inf", e("ERR value is NaN or Infinity")),
    ]);
    assert_eq!(t.args(&[b"HINCRBYFLOAT", b"h", b"x", b" 1"]), e(NOT_FLOAT));
}

#[test]
fn expire_times_past_the_integer_limit_are_invalid() {
    let set = || e("ERR invalid expire time in 'set' command");
    let getex = || e("ERR invalid expire time in 'getex' command");
    let mut t = T::new();
    t.check(&[
        ("SET s v EX 9223372036854775", set()),
        ("SET s v EX 9223372036854774", set()),
        ("SET s v PX 9223372036854775807", set()),
        ("SET s v PX 9223372036854775000", set()),
        ("SET s v EX 0", set()),
        ("SET s v PX -1", set()),
        ("SET s v EXAT 0", set()),
        ("SET s v EXAT 9223372036854776", set()),
        ("SET s v EX 9223372036854775808", e(NOT_INT)),
        ("EXISTS s", i(0)),
        // Absolute times up to the limit are fine.
        ("SET s v EXAT 9223372036854775", ok()),
        ("EXPIRETIME s", i(9223372036854775)),
        ("SET s v PXAT 9223372036854775807", ok()),
        ("PEXPIRETIME s", i(i64::MAX)),
        // Every word is read before the number: a syntax error wins.
        ("SET k v EX abc FOO", e(SYNTAX)),
        ("SET k v EX 0 FOO", e(SYNTAX)),
        ("SET k v EX 10 PX 10", e(SYNTAX)),
        ("SET k v EX 10 KEEPTTL", e(SYNTAX)),
        // The same kind of expiry may repeat; the last one counts.
        ("SET k v EX 10 EX 20", ok()),
        ("TTL k", i(20)),
        ("SET k v KEEPTTL KEEPTTL", ok()),
        ("TTL k", i(20)),
        ("SET k v EX abc EX 30", ok()),
        ("SET k v EX 30 EX abc", e(NOT_INT)),
        ("GETEX k EX 9223372036854775", getex()),
        ("GETEX k PX 9223372036854775807", getex()),
        ("GETEX k EX 0", getex()),
        ("GETEX k EX abc FOO", e(SYNTAX)),
        ("GETEX k EX 0 PERSIST", e(SYNTAX)),
        ("GETEX k PERSIST PERSIST", b("v")),
        ("GETEX k EX 10 EX 20", b("v")),
        ("TTL k", i(20)),
        // GETEX looks the key up first.
        ("GETEX missing EX 0", Frame::Null),
        ("RPUSH l a", i(1)),
        ("GETEX l EX 0", e(WRONGTYPE)),
        (
            "SETEX s2 9223372036854775 v",
            e("ERR invalid expire time in 'setex' command"),
        ),
        (
            "PSETEX s2 9223372036854775807 v",
            e("ERR invalid expire time in 'psetex' command"),
        ),
        (
            "PSETEX s2 0 v",
            e("ERR invalid expire time in 'psetex' command"),
        ),
        ("SET e 1", ok()),
        (
            "EXPIRE e 9223372036854775",
            e("ERR invalid expire time in 'expire' command"),
        ),
        (
            "PEXPIRE e 9223372036854775807",
            e("ERR invalid expire time in 'pexpire' command"),
        ),
        (
            "EXPIREAT e 9223372036854776",
            e("ERR invalid expire time in 'expireat' command"),
        ),
        ("PEXPIREAT e 9223372036854775807", i(1)),
        // EXPIRETIME rounds to the nearest second, as TTL does.
        ("EXPIRETIME e", i(9223372036854776)),
        ("PEXPIREAT e 99999999999500", i(1)),
        ("EXPIRETIME e", i(100000000000)),
        ("PEXPIREAT e 99999999999499", i(1)),
        ("EXPIRETIME e", i(99999999999)),
    ]);
}

#[test]
fn bitcount_of_a_reversed_negative_range_is_zero() {
    let mut t = T::new();
    t.check(&[
        ("SET s foobar", ok()),
        // Both clamp to the first byte when normalised; Redis counts nothing.
        ("BITCOUNT s -100 -200", i(0)),
        ("BITCOUNT s -1 -5", i(0)),
        ("BITCOUNT s -7 -200 BIT", i(0)),
        ("BITCOUNT s -1 -5 FOO", i(0)),
        ("BITCOUNT s -5 -1", i(22)),
        ("BITCOUNT s -200 -100", i(4)),
        ("BITCOUNT s -100 -1", i(26)),
        ("BITCOUNT s -49 -41 BIT", i(4)),
        ("BITCOUNT s -5 -1 FOO", e(SYNTAX)),
        // The key is looked up before the range is read.
        ("BITCOUNT missing 0", i(0)),
        ("BITCOUNT missing a b", i(0)),
        ("RPUSH l a", i(1)),
        ("BITCOUNT l a b", e(WRONGTYPE)),
        ("BITCOUNT s 0", e(SYNTAX)),
        ("BITCOUNT s a b", e(NOT_INT)),
        // BITPOS has no such shortcut in Redis: the clamped range is searched.
        ("BITPOS s 1 -100 -200", i(1)),
        ("BITPOS s 1 -100 -200 BIT", i(-1)),
    ]);
}

#[test]
fn setbit_and_bitfield_count_only_real_changes() {
    let mut t = T::new();
    let dirty = |t: &mut T, line: &str, want: Frame| {
        let before = t.server.db.dirty;
        assert_eq!(t.run(line), want, "{line}");
        t.server.db.dirty - before
    };
    assert_eq!(dirty(&mut t, "SETBIT b 7 1", i(0)), 1);
    assert_eq!(dirty(&mut t, "SETBIT b 7 1", i(1)), 0);
    assert_eq!(dirty(&mut t, "SETBIT b 7 0", i(1)), 1);
    assert_eq!(dirty(&mut t, "SETBIT b 0 0", i(0)), 0);
    // Growing the string is a change even when the bit written is 0.
    assert_eq!(dirty(&mut t, "SETBIT b 100 0", i(0)), 1);
    assert_eq!(dirty(&mut t, "STRLEN b", i(13)), 0);
    // An integer's text, unchanged, is no change.
    t.check(&[("SET n 5", ok())]);
    assert_eq!(dirty(&mut t, "SETBIT n 0 0", i(0)), 0);
    t.check(&[("GET n", b("5"))]);
    // BITFIELD counts each write that changed its field (all of them when the string grew).
    assert_eq!(dirty(&mut t, "BITFIELD bf SET u8 0 0", ints(&[0])), 1);
    assert_eq!(
        dirty(&mut t, "BITFIELD bf SET u8 0 0 SET u8 8 0", ints(&[0, 0])),
        2
    );
    assert_eq!(
        dirty(
            &mut t,
            "BITFIELD bf SET u8 0 1 SET u8 8 1 INCRBY u8 16 0",
            ints(&[0, 0, 0])
        ),
        3
    );
    assert_eq!(
        dirty(
            &mut t,
            "BITFIELD bf SET u8 0 1 SET u8 8 1 INCRBY u8 16 0",
            ints(&[1, 1, 0])
        ),
        0
    );
    assert_eq!(dirty(&mut t, "BITFIELD bf INCRBY u8 0 1", ints(&[2])), 1);
    // A FAIL that writes nothing still makes the key, and counts nothing, as Redis.
    assert_eq!(
        dirty(
            &mut t,
            "BITFIELD nf OVERFLOW FAIL SET u2 0 7",
            arr(vec![Frame::Null])
        ),
        0
    );
    t.check(&[("EXISTS nf", i(1))]);
    // So a watcher's EXEC survives a no-op write.
    let mut other = t.other(1);
    t.check(&[("WATCH b bf", ok())]);
    assert_eq!(t.run_as(&mut other, "SETBIT b 7 0"), i(0));
    assert_eq!(t.run_as(&mut other, "BITFIELD bf SET u8 0 2"), ints(&[2]));
    t.check(&[
        ("MULTI", ok()),
        ("PING", simple("QUEUED")),
        ("EXEC", arr(vec![simple("PONG")])),
        ("WATCH b", ok()),
    ]);
    assert_eq!(t.run_as(&mut other, "SETBIT b 7 1"), i(0));
    t.check(&[
        ("MULTI", ok()),
        ("PING", simple("QUEUED")),
        ("EXEC", Frame::Null),
    ]);
}

#[test]
fn ping_in_resp2_subscribe_mode_is_an_array() {
    let mut t = T::new();
    let mut sub = t.other(1);
    let pong = |msg: &str| arr(vec![b("pong"), b(msg)]);
    assert!(matches!(
        t.run_as(&mut sub, "SUBSCRIBE ch"),
        Frame::Array(_)
    ));
    assert_eq!(t.run_as(&mut sub, "PING"), pong(""));
    assert_eq!(t.run_as(&mut sub, "PING hi"), pong("hi"));
    assert_eq!(
        t.run_as(&mut sub, "PING a b"),
        e("ERR wrong number of arguments for 'ping' command")
    );
    assert!(matches!(t.run_as(&mut sub, "UNSUBSCRIBE"), Frame::Array(_)));
    assert_eq!(t.run_as(&mut sub, "PING"), simple("PONG"));
    // RESP3 tells replies from pushes: the plain answers stay.
    let mut sub3 = t.other(2);
    sub3.resp = spindle_protocols::resp::Version::Resp3;
    assert!(matches!(
        t.run_as(&mut sub3, "SUBSCRIBE ch"),
        Frame::Push(_)
    ));
    assert_eq!(t.run_as(&mut sub3, "PING"), simple("PONG"));
    assert_eq!(t.run_as(&mut sub3, "PING hi"), b("hi"));
}

#[test]
fn pubsub_numsub_is_a_flat_array_in_resp3() {
    let mut t = T::with_resp3();
    let mut sub = t.other(1);
    t.run_as(&mut sub, "SUBSCRIBE ch");
    t.check(&[
        (
            "PUBSUB NUMSUB ch none",
            arr(vec![b("ch"), i(1), b("none"), i(0)]),
        ),
        ("PUBSUB NUMSUB", arr(vec![])),
        ("PUBSUB NUMPAT", i(0)),
        ("PUBSUB CHANNELS", a(&["ch"])),
        ("PUBSUB CHANNELS c*", a(&["ch"])),
        ("PUBSUB SHARDCHANNELS", arr(vec![])),
        ("PUBSUB SHARDNUMSUB x", arr(vec![b("x"), i(0)])),
        ("PUBSUB FOO", e("ERR unknown subcommand 'FOO'. Try PUBSUB HELP.")),
        (
            "PUBSUB NUMPAT x",
            e("ERR wrong number of arguments for 'pubsub|numpat' command"),
        ),
        (
            "PUBSUB CHANNELS a b",
            e("ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."),
        ),
    ]);
    let Frame::Array(help) = t.run("PUBSUB HELP") else {
        panic!("PUBSUB HELP is an array");
    };
    assert_eq!(help.len(), 14);
    assert_eq!(
        help.first(),
        Some(&simple(
            "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
        ))
    );
}

#[test]
fn flush_and_swapdb_fail_exec_only_when_a_watched_key_changes() {
    let ran = || arr(vec![simple("PONG")]);
    let cases: &[(&[&str], &[&str], bool)] = &[
        // (before WATCH, between WATCH and MULTI, EXEC runs)
        (&["SET other v"], &["FLUSHDB"], true),
        (&["SET k v"], &["FLUSHDB"], false),
        (&["SET k v PX 50", "+100"], &["FLUSHDB"], true),
        (&["SET k v PX 50"], &["+100", "FLUSHDB"], false),
        (&["SET k v PX 50"], &["+100"], false),
        (&["SET k v PX 50", "+100"], &["FLUSHALL"], true),
        (&[], &["FLUSHALL"], true),
        (&["SET k v"], &["SELECT 1", "FLUSHDB", "SELECT 0"], true),
        (&["SELECT 1", "SET x v", "SELECT 0"], &["SWAPDB 0 1"], true),
        (&["SELECT 1", "SET k v", "SELECT 0"], &["SWAPDB 0 1"], false),
        (
            &["SELECT 1", "SET k v PX 50", "SELECT 0", "+100"],
            &["SWAPDB 0 1"],
            true,
        ),
        (
            &["SELECT 1", "SET k v PX 50", "SELECT 0", "+100"],
            &["SWAPDB 0 1", "FLUSHDB"],
            true,
        ),
        (
            &[
                "SET k v PX 50",
                "SELECT 1",
                "SET k v PX 50",
                "SELECT 0",
                "+100",
            ],
            &["SWAPDB 0 1"],
            true,
        ),
        (
            &["SET k v PX 50", "SELECT 1", "SET k v", "SELECT 0", "+100"],
            &["SWAPDB 0 1"],
            false,
        ),
        (&["SET k v PX 50", "+100"], &["SET k w"], false),
    ];
    for (before, between, runs) in cases {
        let mut t = T::new();
        let step = |t: &mut T, line: &str| match line.strip_prefix('+') {
            Some(ms) => t.advance(Duration::from_millis(ms.parse().unwrap())),
            None => assert!(!matches!(t.run(line), Frame::Error(_)), "{line}"),
        };
        for line in *before {
            step(&mut t, line);
        }
        assert_eq!(t.run("WATCH k"), ok());
        for line in *between {
            step(&mut t, line);
        }
        assert_eq!(t.run("MULTI"), ok());
        assert_eq!(t.run("PING"), simple("QUEUED"));
        let want = if *runs { ran() } else { Frame::Null };
        assert_eq!(t.run("EXEC"), want, "{before:?} WATCH k {between:?}");
    }
}

#[test]
fn queued_subcommand_errors_abort_the_transaction() {
    let abort = || e("EXECABORT Transaction discarded because of previous errors.");
    for (line, refusal) in [
        (
            "PUBSUB FOO",
            "ERR unknown subcommand 'FOO'. Try PUBSUB HELP.",
        ),
        (
            "PUBSUB NUMPAT x",
            "ERR wrong number of arguments for 'pubsub|numpat' command",
        ),
        (
            "CONFIG FOO",
            "ERR unknown subcommand 'FOO'. Try CONFIG HELP.",
        ),
        (
            "CONFIG GET",
            "ERR wrong number of arguments for 'config|get' command",
        ),
        (
            "CLIENT FOO",
            "ERR unknown subcommand 'FOO'. Try CLIENT HELP.",
        ),
        (
            "OBJECT FOO a",
            "ERR unknown subcommand 'FOO'. Try OBJECT HELP.",
        ),
        (
            "MEMORY FOO",
            "ERR unknown subcommand 'FOO'. Try MEMORY HELP.",
        ),
        (
            "COMMAND FOO",
            "ERR unknown subcommand 'FOO'. Try COMMAND HELP.",
        ),
    ] {
        let mut t = T::new();
        t.check(&[
            ("MULTI", ok()),
            ("SET a 1", simple("QUEUED")),
            (line, e(refusal)),
            ("EXEC", abort()),
            ("GET a", Frame::Null),
        ]);
        // Outside a transaction the same words answer at once.
        t.check(&[(line, e(refusal))]);
    }
    // Errors of a command that runs at once inside MULTI do not abort it, as in Redis.
    let mut t = T::new();
    t.check(&[
        ("MULTI", ok()),
        ("SET a 1", simple("QUEUED")),
        ("WATCH a", e("ERR WATCH inside MULTI is not allowed")),
        ("MULTI", e("ERR MULTI calls can not be nested")),
        ("EXEC", arr(vec![ok()])),
    ]);
}

#[test]
fn info_has_the_cpu_section_in_redis_order() {
    let mut t = T::new();
    let cpu = text(t.run("INFO cpu"));
    let fields: Vec<&str> = cpu
        .lines()
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        fields,
        [
            "# CPU",
            "used_cpu_sys",
            "used_cpu_user",
            "used_cpu_sys_children",
            "used_cpu_user_children",
            "used_cpu_sys_main_thread",
            "used_cpu_user_main_thread",
        ]
    );
    for line in cpu.lines().skip(1) {
        let value = line.split(':').nth(1).unwrap();
        let (secs, micros) = value.split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
    }
    for sections in ["INFO", "INFO all", "INFO everything", "INFO default"] {
        let all = text(t.run(sections));
        let order: Vec<&str> = all.lines().filter(|l| l.starts_with('#')).collect();
        let cpu_at = order.iter().position(|s| *s == "# CPU");
        let replication_at = order.iter().position(|s| *s == "# Replication");
        assert!(
            cpu_at.is_some() && cpu_at == replication_at.map(|r| r + 1),
            "{sections}: {order:?}"
        );
        if let Some(stats) = order.iter().position(|s| *s == "# Commandstats") {
            assert!(cpu_at < Some(stats), "{sections}: {order:?}");
        }
    }
    assert!(!text(t.run("INFO server")).contains("# CPU"));
}

#[test]
fn cpu_times_are_read_from_proc_stat() {
    // The command name may hold spaces and parentheses.
    let stat = "1234 (kv (worker) 1) S 1 1234 1234 0 -1 4194560 500 0 0 0 \
                250 37 4 9 20 0 3 0 100 0 0";
    assert_eq!(stat_times(stat), Some((250, 37, 4, 9)));
    assert_eq!(stat_times("1 (x) S 1"), None);
    let section = cpu_section(CpuTimes {
        sys: 37,
        user: 250,
        sys_children: 9,
        user_children: 4,
        sys_main_thread: 30,
        user_main_thread: 1,
    });
    assert_eq!(
        section,
        "# CPU\r\nused_cpu_sys:0.370000\r\nused_cpu_user:2.500000\r\n\
         used_cpu_sys_children:0.090000\r\nused_cpu_user_children:0.040000\r\n\
         used_cpu_sys_main_thread:0.300000\r\nused_cpu_user_main_thread:0.010000\r\n\r\n"
    );
}
