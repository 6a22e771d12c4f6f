//! HyperLogLog commands of `spindle kv` against redis-server 7.0 side by side: the same PFADD
//! streams give the same replies, the same estimates and the same bytes (GET), PFMERGE and the
//! union PFCOUNT agree, each server counts the other's values, WATCH sees the same writes,
//! and errors read the same. Skipped with a note when redis-server is not installed;
//! `scripts/test` installs it. redis-py's pfadd/pfcount/pfmerge run in a script of their own.

mod common;

use common::kv::{connect, redis_py, spindle_kv_with, RedisServer};
use common::Running;
use redis::{Connection, Value};

/// A reply, or an error as (code, detail).
type Reply = Result<Value, (String, String)>;

fn query(c: &mut Connection, args: &[&[u8]]) -> Reply {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<Value>(c).map_err(|e| {
        (
            e.code().unwrap_or("?").to_string(),
            e.detail().unwrap_or("").to_string(),
        )
    })
}

/// A redis-server and a spindle kv, two connections to each, and how many replies were
/// compared.
struct Pair {
    _redis: RedisServer,
    _spindle: Running,
    /// `[redis, spindle]`, first connections.
    c: [Connection; 2],
    /// `[redis, spindle]`, second connections (the other client of a WATCH).
    other: [Connection; 2],
    compared: usize,
}

impl Pair {
    fn start() -> Option<Pair> {
        let redis = RedisServer::start()?;
        let (spindle, port) = spindle_kv_with(&[]);
        let c = [redis.connect(), connect(port).expect("spindle kv answers")];
        let other = [redis.connect(), connect(port).expect("spindle kv answers")];
        Some(Pair {
            _redis: redis,
            _spindle: spindle,
            c,
            other,
            compared: 0,
        })
    }

    /// Runs `args` on both servers, checks the replies are equal, returns the reply.
    fn both(&mut self, args: &[&[u8]]) -> Reply {
        let r = query(&mut self.c[0], args);
        let s = query(&mut self.c[1], args);
        assert_eq!(r, s, "{}", show(args));
        self.compared += 1;
        r
    }

    /// [`both`](Self::both) for the comparison alone.
    fn same(&mut self, args: &[&[u8]]) {
        let _ = self.both(args);
    }

    /// [`both`](Self::both) with words.
    fn words(&mut self, line: &str) -> Reply {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.both(&args)
    }

    /// Runs `args` on `from` (0 redis, 1 spindle) alone.
    fn on(&mut self, from: usize, args: &[&[u8]]) -> Reply {
        query(&mut self.c[from], args)
    }
}

fn show(args: &[&[u8]]) -> String {
    let mut s: String = args
        .iter()
        .take(4)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if args.len() > 4 {
        s.push_str(&format!(" … ({} arguments)", args.len()));
    }
    s
}

/// A small seeded generator (splitmix64) for the element streams.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` elements from `seed`: binary strings of 0 to 24 bytes (every hash tail length, one and
/// two 8-byte blocks), one in ten a repeat of an earlier one.
fn elements(seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(n);
    for _ in 0..n {
        if !out.is_empty() && rng.below(10) == 0 {
            let again = out[rng.below(out.len() as u64) as usize].clone();
            out.push(again);
        } else {
            let len = rng.below(25) as usize;
            out.push((0..len).map(|_| rng.next() as u8).collect());
        }
    }
    out
}

/// Streams `items` into `key` on both servers in PFADDs of 1 to `batch` elements, comparing
/// every reply; every `check_every` PFADDs also the estimate (which caches it) and the bytes.
/// Returns how many PFADDs went with the value sparse and dense.
fn stream(
    p: &mut Pair,
    key: &str,
    items: &[Vec<u8>],
    batch: u64,
    seed: u64,
    check_every: usize,
) -> (usize, usize) {
    let mut rng = Rng(seed ^ 0x5eed);
    let (mut sparse, mut dense) = (0, 0);
    let mut at = 0;
    let mut n = 0;
    while at < items.len() {
        let take = (1 + rng.below(batch) as usize).min(items.len() - at);
        let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
        args.extend(items[at..at + take].iter().map(Vec::as_slice));
        p.same(&args);
        at += take;
        n += 1;
        let encoding = p.both(&[b"PFDEBUG", b"ENCODING", key.as_bytes()]).unwrap();
        if encoding == Value::SimpleString("sparse".into()) {
            sparse += 1;
        } else {
            dense += 1;
        }
        if n % check_every == 0 {
            // Half the time the bytes are compared with the cache still stale.
            if rng.below(2) == 0 {
                p.same(&[b"GET", key.as_bytes()]);
            }
            p.same(&[b"PFCOUNT", key.as_bytes()]);
            p.same(&[b"GET", key.as_bytes()]);
        }
    }
    p.same(&[b"GET", key.as_bytes()]);
    p.same(&[b"PFCOUNT", key.as_bytes()]);
    p.same(&[b"GET", key.as_bytes()]);
    (sparse, dense)
}

#[test]
fn same_pfadd_streams_give_same_replies_estimates_and_bytes() {
    let Some(mut p) = Pair::start() else { return };
    // (seed, elements, largest PFADD, compare every n PFADDs)
    let sets: [(u64, usize, u64, usize); 5] = [
        (1, 10, 3, 1),
        (2, 1000, 8, 5),
        (3, 2500, 4, 20),
        (4, 100_000, 60, 40),
        (5, 100_000, 1, 500),
    ];
    let mut promoted = 0;
    for (seed, n, batch, every) in sets {
        let key = format!("hll:{seed}:{n}");
        let (sparse, dense) = stream(&mut p, &key, &elements(seed, n), batch, seed, every);
        if sparse > 0 && dense > 0 {
            promoted += 1;
        }
        if n == 10 {
            assert_eq!(dense, 0, "ten elements stay sparse");
        }
    }
    assert!(
        promoted >= 3,
        "the larger streams went from sparse to dense"
    );
    // A lower hll-sparse-max-bytes promotes sooner, on both (when spindle's configuration
    // knows the directive; else both keep the default and still agree).
    if p.on(1, &[b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"300"])
        .is_ok()
    {
        p.words("CONFIG SET hll-sparse-max-bytes 300").unwrap();
        stream(&mut p, "low-limit", &elements(6, 400), 5, 6, 3);
        p.words("CONFIG SET hll-sparse-max-bytes 3000").unwrap();
    }
    eprintln!("{} replies compared", p.compared);
}

#[test]
fn pfmerge_and_union_pfcount_agree() {
    let Some(mut p) = Pair::start() else { return };
    let sizes = [("a", 10), ("b", 300), ("c", 1000), ("d", 20_000)];
    for (i, (key, n)) in sizes.iter().enumerate() {
        let items = elements(100 + i as u64, *n);
        for chunk in items.chunks(200) {
            let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
            args.extend(chunk.iter().map(Vec::as_slice));
            p.same(&args);
        }
    }
    // A value with a stale cache among the sources.
    p.words("PFADD a one-more").unwrap();
    let unions = [
        "PFCOUNT a b",
        "PFCOUNT a c",
        "PFCOUNT c d",
        "PFCOUNT a b c d",
        "PFCOUNT a missing",
        "PFCOUNT missing other",
        "PFCOUNT d d d",
    ];
    for line in unions {
        p.words(line).unwrap();
        // The union is made aside: the keys' bytes stay as they were.
        for key in ["a", "b", "c", "d"] {
            p.same(&[b"GET", key.as_bytes()]);
        }
    }
    let merges = [
        "PFMERGE m1 a b",
        "PFMERGE m2 a c",
        "PFMERGE m3 b d",
        "PFMERGE m4 a b c d",
        "PFMERGE m5 missing",
        "PFMERGE m6",
        "PFMERGE a b",
        "PFMERGE b b",
        "PFMERGE m1 c",
        "PFMERGE m5 a",
        "PFMERGE m2 m2",
    ];
    for line in merges {
        p.words(line).unwrap();
        let dest = line.split(' ').nth(1).unwrap();
        p.words(&format!("PFDEBUG ENCODING {dest}")).unwrap();
        p.words(&format!("GET {dest}")).unwrap();
        p.words(&format!("PFCOUNT {dest}")).unwrap();
        p.words(&format!("GET {dest}")).unwrap();
    }
    p.words("PFCOUNT m1 m2 m3 m4 m5 m6").unwrap();
    // A TTL survives PFMERGE into an existing key, as the value is changed in place.
    p.words("EXPIRE m4 1000").unwrap();
    p.words("PFMERGE m4 a").unwrap();
    p.words("TTL m4").unwrap();
    eprintln!("{} replies compared", p.compared);
}

#[test]
fn values_move_between_servers() {
    let Some(mut p) = Pair::start() else { return };
    let mut moved = 0;
    for (seed, n) in [(7u64, 5usize), (8, 200), (9, 1500), (10, 30_000)] {
        let items = elements(seed, n);
        for from in 0..2 {
            let to = 1 - from;
            let key = format!("v:{seed}:{from}");
            for chunk in items.chunks(500) {
                let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
                args.extend(chunk.iter().map(Vec::as_slice));
                p.on(from, &args).unwrap();
            }
            // Moved once with the cache stale, once after PFCOUNT cached it.
            for cached in [false, true] {
                if cached {
                    p.on(from, &[b"PFCOUNT", key.as_bytes()]).unwrap();
                }
                let Ok(Value::BulkString(bytes)) = p.on(from, &[b"GET", key.as_bytes()]) else {
                    panic!("GET {key}");
                };
                let copy = format!("{key}:copy:{cached}");
                for side in [from, to] {
                    p.on(side, &[b"SET", copy.as_bytes(), &bytes]).unwrap();
                }
                let here = p.on(from, &[b"PFCOUNT", copy.as_bytes()]);
                let there = p.on(to, &[b"PFCOUNT", copy.as_bytes()]);
                assert_eq!(here, there, "PFCOUNT of {copy}, made by side {from}");
                // And both go on from there alike.
                p.same(&[b"PFADD", copy.as_bytes(), b"x", b"y", b"z"]);
                p.same(&[b"PFCOUNT", copy.as_bytes()]);
                p.same(&[b"GET", copy.as_bytes()]);
                p.same(&[b"PFCOUNT", copy.as_bytes(), key.as_bytes()]);
                moved += 1;
            }
        }
    }
    assert_eq!(moved, 16);
    // DUMP/RESTORE carry a value too (a string to both).
    p.words("PFADD d a b c").unwrap();
    let Ok(Value::BulkString(dump)) = p.on(0, &[b"DUMP", b"d"]) else {
        panic!("DUMP")
    };
    p.on(1, &[b"RESTORE", b"restored", b"0", &dump]).unwrap();
    p.on(0, &[b"RESTORE", b"restored", b"0", &dump]).unwrap();
    p.words("PFCOUNT restored").unwrap();
    p.words("GET restored").unwrap();
    eprintln!("{} replies compared", p.compared);
}

#[test]
fn errors_and_debug_replies_agree() {
    let Some(mut p) = Pair::start() else { return };
    for line in [
        "SET s hello",
        "SET n 123",
        "RPUSH l a",
        "PFADD h a b c",
        "PFADD big x",
    ] {
        p.words(line).unwrap();
    }
    let items = elements(11, 3000);
    let mut args: Vec<&[u8]> = vec![b"PFADD", b"big"];
    args.extend(items.iter().map(Vec::as_slice));
    p.both(&args).unwrap();
    let header = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80";
    let cases: Vec<Vec<u8>> = vec![
        // Sparse opcodes covering 16129 registers (an XZERO cut short: its missing byte
        // reads as zero); 16384 + 64; a VAL past the end.
        [&header[..], b"\x7f"].concat(),
        [&header[..], b"\x7f\xff\x3f"].concat(),
        [&header[..], b"\x7f\xfe\x83"].concat(),
        // Not HyperLogLogs: too short, unknown encoding, dense of the wrong length.
        b"HYLL".to_vec(),
        b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0\x7f\xff".to_vec(),
        b"HYLL\0\0\0\0\0\0\0\0\0\0\0\0\x7f\xff".to_vec(),
        b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff".to_vec(),
        // Valid: an empty sparse value with a cached count of 5 in the header.
        b"HYLL\x01\0\0\0\x05\0\0\0\0\0\0\0\x7f\xff".to_vec(),
    ];
    p.both(&[b"SET", b"cut", &[&header[..], b"\x7f"].concat()])
        .unwrap();
    for (i, bytes) in cases.iter().enumerate() {
        let key = format!("odd{i}");
        p.both(&[b"SET", key.as_bytes(), bytes]).unwrap();
    }
    let mut lines: Vec<String> = [
        "PFADD",
        "PFCOUNT",
        "PFMERGE",
        "PFDEBUG",
        "PFDEBUG GETREG",
        "PFDEBUG GETREG h x",
        "PFSELFTEST x",
        "PFADD s a",
        "PFADD n a",
        "PFADD l a",
        "PFCOUNT s",
        "PFCOUNT n",
        "PFCOUNT l",
        "PFCOUNT h s",
        "PFCOUNT h l",
        "PFCOUNT missing",
        "PFMERGE dest s",
        "PFMERGE dest h l",
        "PFMERGE s h",
        "PFMERGE l h",
        "EXISTS dest",
        "PFDEBUG ENCODING missing",
        "PFDEBUG FOO missing",
        "PFDEBUG FOO s",
        "PFDEBUG FOO h",
        "PFDEBUG foo h",
        "PFDEBUG ENCODING h",
        "PFDEBUG encoding big",
        "PFDEBUG DECODE h",
        "PFDEBUG DECODE big",
        "PFDEBUG GETREG h",
        "PFDEBUG ENCODING h",
        "PFDEBUG TODENSE h",
        "PFDEBUG TODENSE h",
        "GET h",
        "PFDEBUG GETREG big",
        "PFDEBUG DECODE s",
        // An XZERO cut short, read only (see `ends_in_cut_xzero`).
        "PFCOUNT cut",
        "PFCOUNT cut h",
        "PFDEBUG DECODE cut",
        "PFMERGE mcut cut",
        "GET mcut",
        "COMMAND INFO pfadd pfcount pfmerge pfdebug pfselftest",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 0..cases.len() {
        for cmd in [
            "PFCOUNT {k}",
            "PFCOUNT {k} h",
            "PFMERGE m{k} {k}",
            "PFMERGE m{k} h {k}",
            "PFDEBUG DECODE {k}",
            "PFDEBUG ENCODING {k}",
            "PFADD {k}",
            "PFADD {k} a b c d e f g",
            "GET {k}",
            "PFDEBUG TODENSE {k}",
            "GET {k}",
            "PFCOUNT {k}",
        ] {
            lines.push(cmd.replace("{k}", &format!("odd{i}")));
        }
    }
    for line in &lines {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let r = query(&mut p.c[0], &args);
        let s = query(&mut p.c[1], &args);
        // COMMAND INFO: Redis 7.0 adds ACL categories, tips and key specifications that
        // spindle kv does not report; the name, arity, flags and key positions must agree.
        if line.starts_with("COMMAND") {
            let (Ok(Value::Array(r)), Ok(Value::Array(s))) = (r, s) else {
                panic!("COMMAND INFO")
            };
            for (r, s) in r.iter().zip(&s) {
                let (Value::Array(r), Value::Array(s)) = (r, s) else {
                    panic!("COMMAND INFO row")
                };
                assert_eq!(r[..6], s[..6], "{line}");
            }
            continue;
        }
        assert_eq!(r, s, "{line}");
        p.compared += 1;
    }
    // The exact texts, not only equal ones.
    let err = |code: &str, detail: &str| Err((code.to_string(), detail.to_string()));
    assert_eq!(
        p.words("PFADD s a"),
        err("WRONGTYPE", "Key is not a valid HyperLogLog string value.")
    );
    assert_eq!(
        p.words("PFCOUNT odd0"),
        err("INVALIDOBJ", "Corrupted HLL object detected")
    );
    eprintln!("{} replies compared", p.compared);
}

/// True if the last sparse opcode of `bytes` is an XZERO missing its second byte.
fn ends_in_cut_xzero(bytes: &[u8]) -> bool {
    let mut p = 16;
    while p < bytes.len() {
        let xzero = bytes[p] & 0xc0 == 0x40;
        if xzero && p + 1 == bytes.len() {
            return true;
        }
        p += if xzero { 2 } else { 1 };
    }
    false
}

/// Corrupted sparse values of many shapes: the same replies and the same bytes after.
#[test]
fn corrupted_sparse_values_behave_alike() {
    let Some(mut p) = Pair::start() else { return };
    let mut rng = Rng(99);
    p.words("PFADD base a b c d e f g h i j k l m n o p")
        .unwrap();
    let Ok(Value::BulkString(base)) = p.on(0, &[b"GET", b"base"]) else {
        panic!("GET base")
    };
    for case in 0..1000 {
        let mut bytes = base.clone();
        // Change one to three opcode bytes, sometimes cut or grow the value.
        for _ in 0..1 + rng.below(3) {
            let at = 16 + rng.below((bytes.len() - 16) as u64) as usize;
            bytes[at] = rng.next() as u8;
        }
        match rng.below(4) {
            0 => bytes.truncate(16 + rng.below((bytes.len() - 16) as u64) as usize),
            1 => bytes.push(rng.next() as u8),
            _ => {}
        }
        // Not an XZERO cut short at the end: Redis reads its missing byte from the memory
        // past the string, which a write leaves holding the last byte it wrote there.
        if ends_in_cut_xzero(&bytes) {
            bytes.push(rng.next() as u8);
        }
        let key = format!("c{case}");
        let k = key.as_bytes();
        p.both(&[b"SET", k, &bytes]).unwrap();
        p.same(&[b"PFCOUNT", k]);
        p.same(&[b"PFCOUNT", k, b"base"]);
        p.same(&[b"PFDEBUG", b"DECODE", k]);
        p.same(&[b"PFADD", k, b"q", b"r", b"s"]);
        p.same(&[b"GET", k]);
        let dest = format!("d{case}");
        p.same(&[b"PFMERGE", dest.as_bytes(), k]);
        p.same(&[b"GET", dest.as_bytes()]);
    }
    eprintln!("{} replies compared", p.compared);
}

#[test]
fn watch_sees_the_same_writes() {
    let Some(mut p) = Pair::start() else { return };
    p.words("PFADD h a").unwrap();
    p.words("PFCOUNT h").unwrap();
    // (what the other client runs between WATCH and EXEC)
    for write in [
        "PFADD h a",
        "PFCOUNT h",
        "PFADD h b",
        "PFCOUNT h",
        "PFCOUNT h other",
        "PFMERGE h",
        // Not "PFMERGE other h": the engine touches every key in a write's table range, so
        // a PFMERGE source is touched as well (as SUNIONSTORE's are); Redis touches only the
        // destination.
    ] {
        let mut results = Vec::new();
        for side in 0..2 {
            let args: Vec<&[u8]> = write.split(' ').map(str::as_bytes).collect();
            query(&mut p.c[side], &[b"WATCH", b"h"]).unwrap();
            query(&mut p.other[side], &args).unwrap();
            query(&mut p.c[side], &[b"MULTI"]).unwrap();
            query(&mut p.c[side], &[b"PING"]).unwrap();
            results.push(query(&mut p.c[side], &[b"EXEC"]));
        }
        assert_eq!(results[0], results[1], "WATCH h, then {write} elsewhere");
        p.compared += 1;
    }
}

#[test]
fn pfselftest_passes() {
    let Some(mut p) = Pair::start() else { return };
    p.words("PFSELFTEST").unwrap();
}

#[test]
#[ignore = "needs redis-py: run scripts/test"]
fn redis_py_pfadd_pfcount_pfmerge() {
    let (_server, port) = spindle_kv_with(&[]);
    let script = r#"
import sys
import redis

r = redis.Redis(port=int(sys.argv[1]))
assert r.pfadd("a", *[f"a{i}" for i in range(1000)]) == 1
assert r.pfadd("a", "a1", "a2") == 0
assert r.pfadd("b", *[f"b{i}" for i in range(10)]) == 1
# The estimates redis-server 7.0.15 gives for the same calls.
a, b = r.pfcount("a"), r.pfcount("b")
assert (a, b) == (999, 10), (a, b)
assert r.pfcount("a", "b") == 1008
assert r.pfmerge("m", "a", "b") is True
assert r.pfcount("m") == 1008
assert r.pfcount("missing") == 0
r.set("s", "not an hll")
try:
    r.pfadd("s", "x")
    raise SystemExit("no error")
except redis.ResponseError as e:
    assert "not a valid HyperLogLog" in str(e), e
print("ok")
"#;
    assert_eq!(redis_py(&["-c", script, &port.to_string()]), "ok\n");
}
