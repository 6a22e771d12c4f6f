//! The introspection commands of `spindle kv` against redis-server 7.0.15, side by side over
//! raw RESP connections where the output is deterministic: SLOWLOG (every command logged, the
//! trimming of long and many arguments, the client's address and name), LOLWUT, COMMAND LIST
//! sorted and COMMAND COUNT (equal: every command redis-server 7.0.15 has), COMMAND GETKEYS/GETKEYSANDFLAGS, sharded pub/sub's replies and messages, the help
//! texts and errors; and `redis-cli monitor` against spindle showing another client's command.
//! Skipped with a note when redis-server is not installed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spindle_protocols::resp::Frame;

use common::kv::{spindle_kv_with, Raw, RedisServer};
use common::Running;

struct Both {
    _redis: RedisServer,
    _spindle: Running,
    ports: [u16; 2],
}

impl Both {
    fn start() -> Option<Both> {
        let redis = RedisServer::start()?;
        let (spindle, port) = spindle_kv_with(&[]);
        Some(Both {
            ports: [redis.port, port],
            _redis: redis,
            _spindle: spindle,
        })
    }

    /// One connection to each: redis-server's first.
    fn connect(&self) -> [Raw; 2] {
        self.ports.map(Raw::connect)
    }
}

fn bulk_text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) | Frame::Verbatim { text: b, .. } => {
            String::from_utf8_lossy(b).into_owned()
        }
        other => format!("{other:?}"),
    }
}

fn items(f: Frame) -> Vec<Frame> {
    match f {
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => v,
        other => panic!("not an array: {other:?}"),
    }
}

/// Runs each line on both and compares the replies; the count compared.
fn same(conns: &mut [Raw; 2], lines: &[&[&str]]) -> usize {
    for words in lines {
        let [redis, spindle] = conns;
        let want = redis.args(words);
        let got = spindle.args(words);
        assert_eq!(
            got, want,
            "{words:?}: spindle (left) and redis-server (right)"
        );
    }
    lines.len()
}

#[test]
fn slowlog_entries_and_trimming_match_redis() {
    let Some(both) = Both::start() else { return };
    let mut conns = both.connect();
    let long = "v".repeat(200);
    let many: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let mut del: Vec<&str> = vec!["DEL"];
    del.extend(many.iter().map(String::as_str));
    let mut entries = Vec::new();
    for c in &mut conns {
        assert_eq!(
            c.cmd("CONFIG SET slowlog-log-slower-than 0"),
            Frame::Simple("OK".into())
        );
        c.cmd("CLIENT SETNAME watcher");
        c.cmd("SLOWLOG RESET");
        c.args(&["SET", "big", &long]);
        c.args(&del);
        let got = items(c.cmd("SLOWLOG GET 3"));
        // Each: id, time, duration, args, addr, name; compare args, name, address shape.
        let mut shapes = Vec::new();
        for e in got {
            let e = items(e);
            assert_eq!(e.len(), 6);
            let addr = bulk_text(&e[4]);
            assert!(addr.starts_with("127.0.0.1:"), "{addr}");
            shapes.push((e[3].clone(), e[5].clone()));
        }
        entries.push(shapes);
    }
    assert_eq!(
        entries[1], entries[0],
        "SLOWLOG GET 3: spindle (left), redis (right)"
    );
    let n = same(
        &mut conns,
        &[
            &["SLOWLOG", "HELP"],
            &["SLOWLOG", "GET", "-2"],
            &["SLOWLOG", "GET", "x"],
            &["SLOWLOG", "NOPE"],
            &["SLOWLOG", "LEN", "x"],
            &["CONFIG", "SET", "slowlog-max-len", "2"],
            &["PING"],
            &["SLOWLOG", "LEN"],
            &["CONFIG", "SET", "slowlog-log-slower-than", "-1"],
            &["SLOWLOG", "RESET"],
            &["PING"],
            &["SLOWLOG", "LEN"],
            &["CONFIG", "GET", "slowlog-max-len"],
        ],
    );
    eprintln!("slowlog: {} cases compared", n + 1);
}

#[test]
fn lolwut_latency_and_command_introspection_match_redis() {
    let Some(both) = Both::start() else { return };
    let mut conns = both.connect();
    let n = same(
        &mut conns,
        &[
            &["LOLWUT"],
            &["LOLWUT", "VERSION", "7"],
            &["LOLWUT", "VERSION", "x"],
            &["LATENCY", "HELP"],
            &["LATENCY", "LATEST"],
            &["LATENCY", "HISTORY", "command"],
            &["LATENCY", "RESET"],
            &["LATENCY", "GRAPH", "command"],
            &["LATENCY", "DOCTOR"],
            &["LATENCY", "NOPE"],
            &["COMMAND", "GETKEYS", "SET", "a", "b"],
            &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"],
            &["COMMAND", "GETKEYS", "ZUNIONSTORE", "d", "2", "x", "y"],
            &[
                "COMMAND", "GETKEYS", "EVAL", "return 1", "2", "k1", "k2", "a",
            ],
            &["COMMAND", "GETKEYS", "EVAL", "return 1", "0"],
            &[
                "COMMAND", "GETKEYS", "XREAD", "STREAMS", "s1", "s2", "0", "0",
            ],
            &["COMMAND", "GETKEYS", "SORT", "l", "STORE", "dst"],
            &["COMMAND", "GETKEYS", "PING"],
            &["COMMAND", "GETKEYS", "NOPE", "x"],
            &["COMMAND", "GETKEYS", "GET"],
            &["COMMAND", "GETKEYS", "MSET", "a"],
            &["COMMAND", "GETKEYS", "ZUNIONSTORE", "d", "9", "x"],
            &["COMMAND", "GETKEYS", "MEMORY", "USAGE", "k"],
            &["COMMAND", "GETKEYSANDFLAGS", "SET", "a", "b"],
            &[
                "COMMAND",
                "GETKEYSANDFLAGS",
                "LMOVE",
                "a",
                "b",
                "LEFT",
                "RIGHT",
            ],
            &["COMMAND", "GETKEYSANDFLAGS", "GETDEL", "a"],
            &["COMMAND", "LIST", "FILTERBY", "MODULE", "x"],
            &["COMMAND", "LIST", "FILTERBY", "NOPE", "x"],
            &["COMMAND", "LIST", "x"],
        ],
    );
    let mut lists = Vec::new();
    let mut counts = Vec::new();
    for c in &mut conns {
        let mut names: Vec<String> = items(c.cmd("COMMAND LIST")).iter().map(bulk_text).collect();
        names.sort();
        lists.push(names);
        let mut filtered: Vec<String> = items(c.cmd("COMMAND LIST FILTERBY PATTERN client*"))
            .iter()
            .map(bulk_text)
            .collect();
        filtered.sort();
        lists.push(filtered);
        let mut cat: Vec<String> = items(c.cmd("COMMAND LIST FILTERBY ACLCAT pubsub"))
            .iter()
            .map(bulk_text)
            .collect();
        cat.sort();
        lists.push(cat);
        counts.push(match c.cmd("COMMAND COUNT") {
            Frame::Integer(n) => n,
            other => panic!("{other:?}"),
        });
    }
    assert_eq!(lists[3], lists[0], "COMMAND LIST sorted: spindle (left)");
    assert_eq!(lists[4], lists[1], "FILTERBY PATTERN");
    assert_eq!(lists[5], lists[2], "FILTERBY ACLCAT pubsub");
    assert_eq!(counts[1], counts[0], "COMMAND COUNT");
    // LOLWUT VERSION 6 is random art: compare its shape (rows, columns, the credits).
    let mut shapes = Vec::new();
    for c in &mut conns {
        let text = bulk_text(&c.cmd("LOLWUT VERSION 6 30 8"));
        let lines: Vec<&str> = text.lines().collect();
        let cells = lines[0].matches("\x1b[0m").count();
        shapes.push((
            lines.len(),
            cells,
            lines[8].to_string(),
            lines[9].to_string(),
        ));
    }
    assert_eq!(shapes[1], shapes[0], "LOLWUT VERSION 6 30 8");
    eprintln!("introspection: {} cases compared", n + 5);
}

#[test]
fn sharded_pubsub_matches_redis() {
    let Some(both) = Both::start() else { return };
    let mut subs = both.connect();
    let mut pubs = both.connect();
    let mut n = same(&mut subs, &[&["SSUBSCRIBE", "a", "b"]]);
    // A confirmation per channel.
    let second: Vec<Frame> = subs.iter_mut().map(Raw::read).collect();
    assert_eq!(second[1], second[0], "SSUBSCRIBE a b's second reply");
    n += same(
        &mut subs,
        &[
            &["SSUBSCRIBE", "a"],
            &["SUBSCRIBE", "plain"],
            &["GET", "x"],
            &["PING"],
        ],
    );
    n += same(
        &mut pubs,
        &[
            &["SPUBLISH", "a", "hello"],
            &["PUBLISH", "a", "not-sharded"],
            &["PUBSUB", "SHARDCHANNELS", "b*"],
            &["PUBSUB", "SHARDNUMSUB", "a", "b", "c"],
            &["PUBSUB", "CHANNELS"],
            &["SPUBLISH", "b", "second"],
            &["MULTI"],
            &["SSUBSCRIBE", "x"],
            &["EXEC"],
        ],
    );
    let mut all: Vec<Vec<String>> = Vec::new();
    for c in &mut pubs {
        let mut names: Vec<String> = items(c.cmd("PUBSUB SHARDCHANNELS"))
            .iter()
            .map(bulk_text)
            .collect();
        names.sort();
        all.push(names);
    }
    assert_eq!(all[1], all[0], "PUBSUB SHARDCHANNELS sorted");
    for c in &mut subs {
        // The messages, in order: the sharded ones only.
        let first = c.read();
        let second = c.read();
        assert_eq!(items(first)[0], Frame::Bulk("smessage".into()));
        assert_eq!(bulk_text(&items(second)[2]), "second");
    }
    n += same(
        &mut subs,
        &[
            &["SUNSUBSCRIBE", "a"],
            &["SUNSUBSCRIBE"],
            &["SUNSUBSCRIBE"],
            &["UNSUBSCRIBE"],
        ],
    );
    // RESP3: messages as pushes.
    let mut r3 = both.connect();
    for c in &mut r3 {
        c.cmd("HELLO 3");
    }
    n += same(&mut r3, &[&["SSUBSCRIBE", "c3"], &["GET", "x"]]);
    n += same(&mut pubs, &[&["SPUBLISH", "c3", "m"]]);
    let got: Vec<Frame> = r3.iter_mut().map(Raw::read).collect();
    assert_eq!(got[1], got[0], "RESP3 smessage");
    eprintln!("sharded pub/sub: {n} cases compared");
}

#[test]
fn redis_cli_monitor_shows_another_clients_command() {
    let (_server, port) = spindle_kv_with(&[]);
    let mut monitor = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "monitor"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(ref mut child) = monitor else {
        eprintln!("redis-cli is not installed: test skipped");
        return;
    };
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // redis-cli prints OK once MONITOR is accepted.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "OK",
        "MONITOR's reply"
    );
    let mut other = Raw::connect(port);
    other.args(&["SET", "greeting", "hello \"world\"\n"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("a monitor line");
        if line.contains("greeting") {
            break line;
        }
    };
    assert!(
        line.contains(r#" [0 127.0.0.1:"#)
            && line.ends_with(r#"] "SET" "greeting" "hello \"world\"\n""#),
        "{line}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn client_id(c: &mut Raw) -> String {
    match c.cmd("CLIENT ID") {
        Frame::Integer(n) => n.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tracking_invalidations_match_redis() {
    let Some(both) = Both::start() else { return };
    let mut n = 0;
    // RESP3, default mode: a key read is invalidated once, when another client writes it.
    let mut reader = both.connect();
    let mut writer = both.connect();
    for c in &mut reader {
        c.cmd("HELLO 3");
    }
    n += same(
        &mut reader,
        &[
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "GETREDIR"],
            &["CLIENT", "TRACKING", "on"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "GETREDIR"],
            &["GET", "k"],
            &["MGET", "k2", "k3"],
        ],
    );
    n += same(
        &mut writer,
        &[&["SET", "k", "1"], &["MSET", "k3", "x", "k", "2"]],
    );
    let got: Vec<[Frame; 2]> = reader.iter_mut().map(|c| [c.read(), c.read()]).collect();
    assert_eq!(got[1], got[0], "RESP3 invalidations: spindle (left)");
    // Its own write, without NOLOOP: told after the reply.
    n += same(&mut reader, &[&["GET", "own"], &["SET", "own", "v"]]);
    let got: Vec<Frame> = reader.iter_mut().map(Raw::read).collect();
    assert_eq!(got[1], got[0], "own write's invalidation");
    // A flush: a null.
    n += same(&mut reader, &[&["GET", "k"]]);
    n += same(&mut writer, &[&["FLUSHALL"]]);
    let got: Vec<Frame> = reader.iter_mut().map(Raw::read).collect();
    assert_eq!(got[1], got[0], "FLUSHALL's invalidation");
    n += same(
        &mut reader,
        &[
            &["CLIENT", "TRACKING", "on", "BCAST"],
            &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
            &["CLIENT", "TRACKING", "on", "PREFIX", "a"],
            &["CLIENT", "TRACKING", "off"],
            &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
            &[
                "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a",
            ],
            &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"],
            &["CLIENT", "TRACKING", "maybe"],
            &["CLIENT", "TRACKING", "on", "NOPE"],
            &["CLIENT", "CACHING", "yes"],
            &["CLIENT", "TRACKING", "on", "OPTIN"],
            &["CLIENT", "CACHING", "no"],
            &["CLIENT", "CACHING", "yes"],
            &["CLIENT", "TRACKINGINFO"],
            &["CLIENT", "CACHING", "yes"],
            &["GET", "opted"],
            &["GET", "not-opted"],
        ],
    );
    n += same(
        &mut writer,
        &[&["SET", "opted", "1"], &["SET", "not-opted", "1"]],
    );
    let got: Vec<Frame> = reader.iter_mut().map(Raw::read).collect();
    assert_eq!(got[1], got[0], "OPTIN's invalidation");
    n += same(
        &mut reader,
        &[
            &["CLIENT", "TRACKING", "off"],
            &[
                "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "job:", "NOLOOP",
            ],
            &["CLIENT", "TRACKINGINFO"],
            &["SET", "user:mine", "x"],
        ],
    );
    n += same(
        &mut writer,
        &[
            &["MSET", "user:1", "a", "other", "b", "user:2", "c"],
            &["SET", "job:9", "x"],
        ],
    );
    let got: Vec<[Frame; 2]> = reader.iter_mut().map(|c| [c.read(), c.read()]).collect();
    assert_eq!(got[1], got[0], "BCAST invalidations");
    // RESP2 through REDIRECT to a subscriber of __redis__:invalidate.
    let mut sink = both.connect();
    let mut tracked = both.connect();
    n += same(&mut sink, &[&["SUBSCRIBE", "__redis__:invalidate"]]);
    for (i, c) in tracked.iter_mut().enumerate() {
        let id = subscriber_id(both.ports[i]);
        assert_eq!(
            c.args(&["CLIENT", "TRACKING", "on", "REDIRECT", &id]),
            Frame::Simple("OK".into())
        );
        assert_eq!(
            c.args(&["CLIENT", "GETREDIR"]),
            Frame::Integer(id.parse().unwrap())
        );
    }
    n += same(&mut tracked, &[&["GET", "r"]]);
    n += same(&mut writer, &[&["SET", "r", "1"], &["FLUSHDB"]]);
    let got: Vec<[Frame; 2]> = sink.iter_mut().map(|c| [c.read(), c.read()]).collect();
    assert_eq!(got[1], got[0], "RESP2 redirected invalidations");
    eprintln!("tracking: {n} cases compared");
}

/// The id of the newest subscriber on the server at `port`, asked on a new connection (a
/// subscriber cannot run CLIENT ID in RESP2).
fn subscriber_id(port: u16) -> String {
    let mut c = Raw::connect(port);
    let me: i64 = client_id(&mut c).parse().unwrap();
    let list = bulk_text(&c.cmd("CLIENT LIST"));
    list.lines()
        .filter_map(|l| {
            let id: i64 = l.strip_prefix("id=")?.split(' ').next()?.parse().ok()?;
            (l.contains("cmd=subscribe") && id != me).then_some(id)
        })
        .max()
        .unwrap()
        .to_string()
}

#[test]
fn object_refcount_and_memory_match_redis() {
    let Some(both) = Both::start() else { return };
    let mut conns = both.connect();
    let mut n = same(
        &mut conns,
        &[
            &["SET", "small", "5"],
            &["SET", "edge", "9999"],
            &["SET", "big", "10000"],
            &["SET", "neg", "-1"],
            &["SET", "text", "abc"],
            &["INCR", "counter"],
            &["RPUSH", "list", "x"],
            &["OBJECT", "REFCOUNT", "small"],
            &["OBJECT", "REFCOUNT", "edge"],
            &["OBJECT", "REFCOUNT", "big"],
            &["OBJECT", "REFCOUNT", "neg"],
            &["OBJECT", "REFCOUNT", "text"],
            &["OBJECT", "REFCOUNT", "counter"],
            &["OBJECT", "REFCOUNT", "list"],
            &["OBJECT", "REFCOUNT", "missing"],
            &["MEMORY", "HELP"],
            &["MEMORY", "DOCTOR"],
            &["MEMORY", "NOPE"],
            &["MEMORY", "STATS", "x"],
        ],
    );
    // MEMORY STATS: the same fields in the same order (the numbers are each server's own).
    let mut fields = Vec::new();
    for c in &mut conns {
        let Frame::Array(items) = c.cmd("MEMORY STATS") else {
            panic!("MEMORY STATS is a map (an array in RESP2)")
        };
        let names: Vec<String> = items.iter().step_by(2).map(bulk_text).collect();
        fields.push(names);
    }
    assert_eq!(fields[1], fields[0], "MEMORY STATS fields");
    n += 1;
    eprintln!("refcount and memory: {n} cases compared");
}

#[test]
fn debug_digest_protocol_and_test_helpers_match_redis() {
    let Some(redis) = RedisServer::start_with(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let (_spindle, port) = spindle_kv_with(&["--enable-debug-command", "yes"]);
    let mut conns = [Raw::connect(redis.port), Raw::connect(port)];
    // An empty dataset: all zeros on both.
    let mut n = same(&mut conns, &[&["DEBUG", "DIGEST"]]);
    // Every type, small and large encodings, integers as strings, expiries, two databases.
    let big: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let mut fill: Vec<Vec<String>> = vec![
        vec!["SET".into(), "s".into(), "hello".into()],
        vec!["SET".into(), "n".into(), "12345".into()],
        vec![
            "SET".into(),
            "t".into(),
            "v".into(),
            "EX".into(),
            "1000".into(),
        ],
        vec![
            "RPUSH".into(),
            "l".into(),
            "a".into(),
            "b".into(),
            "7".into(),
        ],
        vec!["SADD".into(), "set".into(), "x".into(), "y".into()],
        vec![
            "SADD".into(),
            "ints".into(),
            "1".into(),
            "2".into(),
            "300".into(),
        ],
        vec![
            "HSET".into(),
            "h".into(),
            "f".into(),
            "v".into(),
            "g".into(),
            "1".into(),
        ],
        vec![
            "ZADD".into(),
            "z".into(),
            "1.5".into(),
            "a".into(),
            "2".into(),
            "b".into(),
        ],
        vec![
            "ZADD".into(),
            "z".into(),
            "0.1".into(),
            "c".into(),
            "-inf".into(),
            "d".into(),
        ],
        vec![
            "XADD".into(),
            "st".into(),
            "1-1".into(),
            "f".into(),
            "v".into(),
        ],
        vec![
            "XADD".into(),
            "st".into(),
            "2-5".into(),
            "a".into(),
            "1".into(),
            "b".into(),
            "2".into(),
        ],
        vec!["SELECT".into(), "3".into()],
        vec!["SET".into(), "other-db".into(), "x".into()],
        vec!["SELECT".into(), "0".into()],
    ];
    let mut zbig = vec!["ZADD".to_string(), "zbig".into()];
    let mut sbig = vec!["SADD".to_string(), "sbig".into()];
    let mut hbig = vec!["HSET".to_string(), "hbig".into()];
    let mut lbig = vec!["RPUSH".to_string(), "lbig".into()];
    for (i, m) in big.iter().enumerate() {
        zbig.extend([format!("{}.25", i), m.clone()]);
        sbig.push(m.clone());
        hbig.extend([m.clone(), i.to_string()]);
        lbig.push(m.clone());
    }
    fill.extend([zbig, sbig, hbig, lbig]);
    for words in &fill {
        let [redis, spindle] = &mut conns;
        assert_eq!(spindle.args(words), redis.args(words), "{words:?}");
    }
    n += same(
        &mut conns,
        &[
            &["DEBUG", "DIGEST"],
            &[
                "DEBUG",
                "DIGEST-VALUE",
                "s",
                "n",
                "t",
                "l",
                "set",
                "ints",
                "h",
                "z",
                "st",
                "zbig",
                "sbig",
                "hbig",
                "lbig",
                "missing",
            ],
            &["DEBUG", "PROTOCOL", "nosuch"],
            &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5gb"],
            &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100mb"],
            &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "0"],
            &["DEBUG", "LISTPACK", "h"],
            &["DEBUG", "LISTPACK", "hbig"],
            &["DEBUG", "LISTPACK", "missing"],
            &["DEBUG", "QUICKLIST", "l"],
            &["DEBUG", "QUICKLIST", "s"],
            &["DEBUG", "ERROR", "CUSTOM something\r\nwent wrong"],
            &["DEBUG", "LOG", "hello from the test"],
        ],
    );
    // redis-server runs 10M rounds (too slow for a test machine under load): spindle's
    // answer, the same text, is checked alone.
    assert_eq!(
        bulk_text(&conns[1].args(&["DEBUG", "STRINGMATCH-TEST"])),
        "Apparently Redis did not crash: test passed"
    );
    // Every reply type, in RESP2 and in RESP3.
    for hello in ["2", "3"] {
        let [redis, spindle] = &mut conns;
        redis.args(&["HELLO", hello]);
        spindle.args(&["HELLO", hello]);
        for kind in [
            "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib",
            "push", "verbatim", "true", "false",
        ] {
            let words = ["DEBUG", "PROTOCOL", kind];
            let [redis, spindle] = &mut conns;
            let want = redis.args(&words);
            let got = spindle.args(&words);
            assert_eq!(got, want, "RESP{hello} {kind}");
            n += 1;
            // The reply that follows a push (an attribute comes with its reply as one frame).
            if kind == "push" && hello == "3" {
                assert_eq!(spindle.read(), redis.read(), "RESP3 {kind}: what follows");
            }
        }
    }
    // CHANGE-REPL-ID: a new id, no second one.
    let replid = |c: &mut Raw| -> (String, String) {
        let info = bulk_text(&c.args(&["INFO", "replication"]));
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .unwrap_or_default()
                .to_string()
        };
        (field("master_replid"), field("master_replid2"))
    };
    let [_, spindle] = &mut conns;
    let (before, _) = replid(spindle);
    assert_eq!(bulk_text(&spindle.args(&["DEBUG", "CHANGE-REPL-ID"])), "OK");
    let (after, second) = replid(spindle);
    assert_ne!(before, after);
    assert_eq!(after.len(), 40);
    assert_eq!(second, "0".repeat(40));
    eprintln!("{n} DEBUG replies equal to redis-server's");
}

/// A field of the CLIENT LIST line of the client whose `cmd=` is `cmd`.
fn client_field(list: &str, cmd: &str, field: &str) -> Option<u64> {
    let line = list
        .lines()
        .find(|l| l.split(' ').any(|w| w == format!("cmd={cmd}")))?;
    let prefix = format!("{field}=");
    line.split(' ')
        .find_map(|w| w.strip_prefix(prefix.as_str()))?
        .parse()
        .ok()
}

/// `timeout 1` on the server at `port`: an idle client is closed; a client sending PING every
/// 200 ms, a subscriber, a client blocked in BLPOP and a monitor stay; CLIENT LIST counts the
/// subscriber idle since its SUBSCRIBE. Returns the seconds the idle client lasted.
fn idle_timeout_scenario(port: u16) -> u64 {
    use std::io::Read;
    let mut pinger = Raw::connect(port);
    let mut subscriber = Raw::connect(port);
    assert_eq!(items(subscriber.cmd("SUBSCRIBE ch")).len(), 3);
    let mut blocked = Raw::connect(port);
    blocked.send_line("BLPOP waiting 0");
    let mut monitor = Raw::connect(port);
    assert_eq!(bulk_text(&monitor.cmd("MONITOR")), "OK");
    assert_eq!(bulk_text(&pinger.cmd("CONFIG SET timeout 1")), "OK");
    let mut idle = Raw::connect(port);
    assert_eq!(bulk_text(&idle.cmd("PING")), "PONG");
    let start = Instant::now();
    idle.stream()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // The pinger's cadence is the idle client's read timeout: each turn waits for its EOF.
    let mut chunk = [0u8; 64];
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the idle client was not closed"
        );
        match idle.stream().read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => panic!("unexpected bytes to the idle client: {:?}", &chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(_) => {}
        }
        assert_eq!(bulk_text(&pinger.cmd("PING")), "PONG");
    }
    let lasted = start.elapsed().as_secs();
    let list = bulk_text(&pinger.cmd("CLIENT LIST"));
    // The caller has just been heard from: 0 s idle, or 1 when the whole-second clocks the
    // servers subtract (redis-server's cached `unixtime`) ticked between reading the request
    // and listing.
    assert!(
        client_field(&list, "client|list", "idle").is_some_and(|idle| idle <= 1),
        "{list}"
    );
    let sub_idle = client_field(&list, "subscribe", "idle").unwrap_or(0);
    assert!(
        sub_idle >= 2,
        "the subscriber idles since SUBSCRIBE: {list}"
    );
    assert!(
        client_field(&list, "blpop", "idle").unwrap_or(0) >= 2,
        "the blocked client idles since BLPOP: {list}"
    );
    assert!(
        !list.contains("cmd=ping"),
        "the idle client is gone: {list}"
    );
    // The others are still served.
    assert_eq!(pinger.cmd("PUBLISH ch hello"), Frame::Integer(1));
    assert_eq!(bulk_text(&items(subscriber.read())[2]), "hello");
    assert_eq!(pinger.cmd("LPUSH waiting x"), Frame::Integer(1));
    assert_eq!(bulk_text(&items(blocked.read())[1]), "x");
    let fed = bulk_text(&monitor.read());
    // CONFIG is an admin command, which monitors are not shown.
    assert!(fed.contains("\"PING\""), "{fed}");
    lasted
}

#[test]
fn idle_clients_are_closed_after_timeout_as_redis_does() {
    let Some(both) = Both::start() else { return };
    let lasted = both.ports.map(idle_timeout_scenario);
    // Idle is counted in whole seconds and must exceed the timeout: 2 s at least on both.
    assert!(lasted.iter().all(|s| (1..=4).contains(s)), "{lasted:?}");
}

/// INFO's text as (section, field names) in order: `# Name` lines open a section, `name:value`
/// lines are its fields.
fn info_fields(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# ") {
            sections.push((name.to_string(), Vec::new()));
        } else if let (Some((field, _)), Some((_, fields))) =
            (line.split_once(':'), sections.last_mut())
        {
            fields.push(field.to_string());
        }
    }
    sections
}

/// One field's value in INFO's text.
fn info_value(text: &str, field: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::to_string)
}

/// Fields spindle prints that redis-server has no such field for (allowed, after Redis's own
/// fields of the section).
const SPINDLE_ONLY_FIELDS: &[&str] = &["server_name", "spindle_version"];

#[test]
fn info_everything_has_every_section_and_field_of_redis() {
    let Some(both) = Both::start() else { return };
    let mut conns = both.connect();
    // The same state and the same calls on both, so that the per-command, per-error and
    // per-database lines name the same things (redis-server was already PINGed when started).
    same(
        &mut conns,
        &[
            &["PING"],
            &["SET", "k", "v"],
            &["SET", "t", "v", "EX", "100"],
            &["GET", "k"],
            &["INCR", "k"],
            &["NOSUCHCOMMAND"],
            &["LPUSH", "k", "x"],
            &["SUBSCRIBE"],
            &["CONFIG", "GET", "hz"],
            &["CONFIG", "NOPE"],
            &["CONFIG"],
        ],
    );
    let mut texts = Vec::new();
    for c in &mut conns {
        texts.push(bulk_text(&c.cmd("INFO everything")));
    }
    let (redis, spindle) = (info_fields(&texts[0]), info_fields(&texts[1]));
    let names = |s: &[(String, Vec<String>)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&spindle), names(&redis), "sections, in order");
    let mut compared = 0;
    for ((section, want), (_, got)) in redis.iter().zip(&spindle) {
        // One line per command or error: Redis lists them in its hash table's order.
        let (mut want, mut got) = (want.clone(), got.clone());
        if ["Commandstats", "Errorstats", "Latencystats"].contains(&section.as_str()) {
            want.sort();
            got.sort();
        }
        // Redis's fields in Redis's order, then spindle's own.
        let (ours, extra): (Vec<&String>, Vec<&String>) = got
            .iter()
            .partition(|f| !SPINDLE_ONLY_FIELDS.contains(&f.as_str()));
        assert_eq!(
            ours,
            want.iter().collect::<Vec<_>>(),
            "# {section}: spindle (left), redis-server (right)"
        );
        assert!(
            got.iter()
                .rev()
                .take(extra.len())
                .all(|f| extra.contains(&f)),
            "# {section}: spindle's own fields come last: {got:?}"
        );
        compared += want.len();
    }
    eprintln!(
        "INFO everything: {} sections, {compared} fields compared",
        redis.len()
    );
    // The default sections and the keywords choose as Redis does.
    for args in [
        "INFO",
        "INFO default",
        "INFO all",
        "INFO modules",
        "INFO errorstats latencystats",
        "INFO SERVER cluster",
    ] {
        let mut seen = Vec::new();
        for c in &mut conns {
            seen.push(names(&info_fields(&bulk_text(&c.cmd(args)))));
        }
        assert_eq!(
            seen[1], seen[0],
            "{args}: spindle (left), redis-server (right)"
        );
    }
}

#[test]
fn errorstats_count_errors_as_redis_does() {
    let Some(both) = Both::start() else { return };
    let mut conns = both.connect();
    same(
        &mut conns,
        &[
            &["CONFIG", "RESETSTAT"],
            &["SET", "s", "text"],
            &["INCR", "s"],
            &["LPUSH", "s", "x"],
            &["NOSUCHCOMMAND", "a"],
            &["GET"],
            &["MULTI"],
            &["INCR"],
            &["EXEC"],
            &["MULTI"],
            &["INCR", "s"],
            &["EXEC"],
            // A script's error from redis.call is counted once, at the call; one it makes
            // itself counts; pcall's error handed back as the reply is not counted again.
            &["EVAL", "return redis.call('incr', KEYS[1])", "1", "s"],
            &["EVAL", "return {err='CUSTOM my own'}", "0"],
            &[
                "EVAL",
                "return redis.pcall('lpush', KEYS[1], 'x')",
                "1",
                "s",
            ],
            &["EVAL", "return redis.call('nosuch')", "0"],
            &["EVAL", "syntax error here", "0"],
        ],
    );
    let mut sections = Vec::new();
    let mut totals = Vec::new();
    for c in &mut conns {
        sections.push(bulk_text(&c.cmd("INFO errorstats")));
        totals.push(info_value(
            &bulk_text(&c.cmd("INFO stats")),
            "total_error_replies",
        ));
    }
    assert_eq!(
        sections[1], sections[0],
        "spindle (left), redis-server (right)"
    );
    assert_eq!(totals[1], totals[0], "total_error_replies");
    // Calls, refusals and failures per command (the times are each server's own).
    let mut counts = Vec::new();
    for c in &mut conns {
        let text = bulk_text(&c.cmd("INFO commandstats"));
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("cmdstat_") && !l.starts_with("cmdstat_info:"))
            .map(|l| {
                let (name, fields) = l.split_once(':').unwrap();
                let kept: Vec<&str> = fields
                    .split(',')
                    .filter(|f| !f.starts_with("usec"))
                    .collect();
                format!("{name}:{}", kept.join(","))
            })
            .collect();
        lines.sort();
        counts.push(lines);
    }
    assert_eq!(
        counts[1], counts[0],
        "commandstats: spindle (left), redis-server (right)"
    );
    assert!(
        sections[0].contains("errorstat_WRONGTYPE:count="),
        "{}",
        sections[0]
    );
    // CONFIG RESETSTAT empties it.
    for c in &mut conns {
        c.cmd("CONFIG RESETSTAT");
    }
    let after: Vec<String> = conns
        .iter_mut()
        .map(|c| bulk_text(&c.cmd("INFO errorstats")))
        .collect();
    assert_eq!(after[1], after[0]);
    assert_eq!(after[0].trim_end(), "# Errorstats");
}

/// The value of `field` in spindle's `INFO section`, as a number.
fn info_number(c: &mut Raw, section: &str, field: &str) -> f64 {
    let text = bulk_text(&c.cmd(&format!("INFO {section}")));
    info_value(&text, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {text}"))
}

#[test]
fn info_stats_counts_bytes_and_samples_the_command_rate() {
    let (_spindle, port) = spindle_kv_with(&[]);
    let mut c = Raw::connect(port);
    let input = info_number(&mut c, "stats", "total_net_input_bytes");
    let output = info_number(&mut c, "stats", "total_net_output_bytes");
    let reads = info_number(&mut c, "stats", "total_reads_processed");
    // The INFO that read `output` was answered after it was made: its reply counts next time.
    let value = "x".repeat(1000);
    assert_eq!(c.args(&["SET", "k", &value]), Frame::Simple("OK".into()));
    assert!(matches!(c.args(&["GET", "k"]), Frame::Bulk(b) if b.len() == 1000));
    assert!(info_number(&mut c, "stats", "total_net_input_bytes") >= input + 1000.0);
    assert!(info_number(&mut c, "stats", "total_net_output_bytes") >= output + 1000.0);
    assert!(info_number(&mut c, "stats", "total_reads_processed") >= reads + 3.0);
    // Under load the sampler (every 100 ms) reports a rate; waited for, not slept on.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut l = Raw::connect(port);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                l.cmd("PING");
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let rate = loop {
        let rate = info_number(&mut c, "stats", "instantaneous_ops_per_sec");
        if rate > 0.0 || Instant::now() > deadline {
            break rate;
        }
    };
    let kbps = info_number(&mut c, "stats", "instantaneous_input_kbps");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    assert!(rate > 0.0, "instantaneous_ops_per_sec stayed 0");
    assert!(kbps > 0.0, "instantaneous_input_kbps stayed 0 under load");
    // avg_ttl: the expiry cycle's estimate of the keys' remaining time, once it has sampled.
    for i in 0..20 {
        c.args(&["SET", &format!("ttl{i}"), "v", "EX", "100"]);
    }
    let avg_ttl = loop {
        let text = bulk_text(&c.cmd("INFO keyspace"));
        let avg = info_value(&text, "db0")
            .and_then(|v| v.rsplit_once("avg_ttl=")?.1.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("db0 in {text}"));
        if avg > 0 || Instant::now() > deadline + Duration::from_secs(20) {
            break avg;
        }
    };
    assert!(avg_ttl > 90_000 && avg_ttl <= 100_000, "avg_ttl={avg_ttl}");
    // Latency percentiles of a command called: p50 ≤ p99 ≤ p99.9, in µs with 3 decimals.
    let text = bulk_text(&c.cmd("INFO latencystats"));
    let line = info_value(&text, "latency_percentiles_usec_ping").expect("ping's percentiles");
    let values: Vec<f64> = line
        .split(',')
        .map(|kv| {
            let (name, v) = kv.split_once('=').unwrap();
            assert!(["p50", "p99", "p99.9"].contains(&name), "{line}");
            assert_eq!(v.split_once('.').map(|(_, d)| d.len()), Some(3), "{line}");
            v.parse().unwrap()
        })
        .collect();
    assert_eq!(values.len(), 3, "{line}");
    assert!(values[0] <= values[1] && values[1] <= values[2], "{line}");
}
