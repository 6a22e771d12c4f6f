//! Unit tests of the RDB codec, and its interop with redis-server 7.0 and redis-check-rdb
//! (skipped with a note when they are not installed).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::db::Db;
use crate::types::hash::Hash;
use crate::types::set::Set;
use crate::types::str::Str;
use crate::types::value::{Value, ZSet};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A key's contents in a form both sides can be compared in.
#[derive(Debug, Clone, PartialEq)]
enum Model {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    ZSet(Vec<(Vec<u8>, f64)>),
    /// A stream, by its RDB body.
    Stream(Vec<u8>),
}

fn model_of(v: &Value) -> Model {
    match v {
        Value::Str(s) => Model::Str(s.as_bytes().to_vec()),
        Value::Int(n) => Model::Str(n.to_string().into_bytes()),
        Value::List(l) => Model::List(l.iter().map(|e| e.as_bytes().to_vec()).collect()),
        Value::Set(s) => Model::Set(s.iter().map(|e| e.as_bytes().to_vec()).collect()),
        Value::Hash(h) => Model::Hash(h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()),
        Value::ZSet(z) => Model::ZSet(z.iter().map(|(m, s)| (m.as_bytes().to_vec(), s)).collect()),
        Value::Stream(st) => {
            let mut body = Vec::new();
            crate::rdb::stream::write(&mut body, st);
            Model::Stream(body)
        }
    }
}

/// (db, key) → (contents, expiry in ms or 0).
type Dataset = BTreeMap<(usize, Vec<u8>), (Model, u64)>;

fn dataset_of(db: &Db) -> Dataset {
    let mut out = Dataset::new();
    for (i, space) in db.spaces.iter().enumerate() {
        for e in space.iter() {
            out.insert(
                (i, e.key.as_bytes().to_vec()),
                (model_of(&e.value), e.expire_at),
            );
        }
    }
    out
}

fn list(items: impl IntoIterator<Item = Vec<u8>>) -> Value {
    Value::List(Box::new(
        items
            .into_iter()
            .map(|e| Str::new(&e))
            .collect::<VecDeque<_>>(),
    ))
}

fn set(items: impl IntoIterator<Item = Vec<u8>>) -> Value {
    let mut s = Set::default();
    for m in items {
        s.insert(&m);
    }
    Value::Set(Box::new(s))
}

fn hash(items: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Value {
    let mut h = Hash::default();
    for (f, v) in items {
        h.insert(Str::new(&f), Str::new(&v));
    }
    Value::Hash(Box::new(h))
}

fn zset(items: impl IntoIterator<Item = (Vec<u8>, f64)>) -> Value {
    let mut z = ZSet::new();
    for (m, s) in items {
        z.insert(Str::new(&m), s);
    }
    Value::ZSet(Box::new(z))
}

fn b(s: impl AsRef<[u8]>) -> Vec<u8> {
    s.as_ref().to_vec()
}

/// Every type in every encoding Redis 7.0 writes, small and large, with expiries and in
/// several databases. Keys with an expiry get it `now + 1h`.
fn sample_values() -> Vec<(usize, Vec<u8>, Value, bool)> {
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            })
            .collect()
    };
    let noise = random(300);
    vec![
        (0, b("s:small"), Value::string(b"hello"), false),
        (0, b("s:empty"), Value::string(b""), false),
        (0, b("s:int"), Value::Int(12345), true),
        (0, b("s:neg"), Value::Int(-7), false),
        (0, b("s:i32"), Value::Int(-2_000_000_000), false),
        (0, b("s:i64max"), Value::Int(i64::MAX), false),
        (0, b("s:i64min"), Value::Int(i64::MIN), false),
        (0, b("s:lead0"), Value::string(b"007"), false),
        (0, b("s:21"), Value::string(b"aaaaaaaaaaaaaaaaaaaaa"), false),
        (
            0,
            b("s:long"),
            Value::string("spindle ".repeat(200).as_bytes()),
            true,
        ),
        (0, b("s:noise"), Value::string(&noise), false),
        (0, noise.clone(), Value::string(b"binary key"), false),
        (
            0,
            b("l:small"),
            list([
                b("a"),
                b("1"),
                b("-5000"),
                b("70000"),
                b("-9000000"),
                b("4000000000"),
                b("x".repeat(70)),
            ]),
            false,
        ),
        (
            0,
            b("l:large"),
            list((0..3000).map(|i| format!("element-{i}-{}", "y".repeat(i % 50)).into_bytes())),
            true,
        ),
        (
            0,
            b("l:bigelem"),
            list([b("z".repeat(20_000)), b("tail")]),
            false,
        ),
        (
            0,
            b("set:ints"),
            set((0..50).map(|i| (i * 1000 - 7).to_string().into_bytes())),
            false,
        ),
        (
            0,
            b("set:wide"),
            set([b("1"), b(i64::MAX.to_string()), b(i64::MIN.to_string())]),
            false,
        ),
        (
            0,
            b("set:strs"),
            set([b("apple"), b("pear"), b("1")]),
            false,
        ),
        (
            0,
            b("set:manyints"),
            set((0..600).map(|i| i.to_string().into_bytes())),
            false,
        ),
        (
            0,
            b("h:small"),
            hash([
                (b("name"), b("spindle")),
                (b("n"), b("42")),
                (b("neg"), b("-3")),
            ]),
            true,
        ),
        (
            0,
            b("h:large"),
            hash((0..300).map(|i| (format!("f{i}").into_bytes(), format!("v{i}").into_bytes()))),
            false,
        ),
        (
            0,
            b("h:longval"),
            hash([(b("f"), b("v".repeat(100)))]),
            false,
        ),
        (
            0,
            b("z:small"),
            zset([
                (b("a"), 1.0),
                (b("b"), 1.5),
                (b("c"), 0.1),
                (b("d"), -3.0),
                (b("e"), f64::INFINITY),
                (b("f"), f64::NEG_INFINITY),
                (b("g"), 1e300),
                (b("h"), 123_456_789_012.0),
                (b("i"), -2.5e-7),
                (b("j"), 123456.789),
                (b("7"), 7.0),
            ]),
            false,
        ),
        (
            0,
            b("z:large"),
            zset((0..300).map(|i| (format!("m{i}").into_bytes(), f64::from(i) / 3.0))),
            true,
        ),
        (
            0,
            b("z:longmember"),
            zset([(b("m".repeat(100)), 2.0)]),
            false,
        ),
        (3, b("s:small"), Value::string(b"in db 3"), false),
        (3, b("l:small"), list([b("x")]), true),
        (15, b("last"), Value::Int(15), false),
    ]
}

fn sample_db(now: u64) -> Db {
    let mut db = Db::new(16);
    for (i, key, value, expires) in sample_values() {
        let space = db.space(i);
        space.insert(&key, value, false, (now / 1000) as u32);
        if expires {
            space.set_expire_at(&key, now + 3_600_000);
        }
    }
    db
}

fn encode(db: &Db, now: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_dataset(db, now, &mut out).unwrap();
    out
}

#[test]
fn scores_print_as_c_does() {
    for (v, text) in [
        (0.1, "0.10000000000000001"),
        (1.5, "1.5"),
        (1e300, "1.0000000000000001e+300"),
        (-2.5e-7, "-2.4999999999999999e-07"),
        (123456.789, "123456.789"),
    ] {
        assert_eq!(encode::format_g17(v), text);
    }
}

#[test]
fn crc64_matches_redis_check_value() {
    assert_eq!(crc64::crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
}

#[test]
fn lzf_round_trips_and_refuses_corrupt_streams() {
    let inputs: Vec<Vec<u8>> = vec![
        b("abcabcabcabcabcabcabcabcabcabc"),
        b("spindle ".repeat(1000)),
        (0..5000u32).map(|i| (i * 7 % 251) as u8).collect(),
        vec![0; 10_000],
    ];
    for input in inputs {
        let packed = lzf::compress(&input, input.len() - 4).unwrap();
        assert!(packed.len() < input.len());
        assert_eq!(lzf::decompress(&packed, input.len()).unwrap(), input);
        assert_eq!(lzf::decompress(&packed, input.len() + 1), None);
    }
    assert_eq!(
        lzf::decompress(&[0xe0, 0x05, 0x00], 10),
        None,
        "reference before start"
    );
    let noise: Vec<u8> = (0..64u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(lzf::compress(&noise, noise.len() - 4), None);
}

#[test]
fn listpack_round_trips_every_entry_encoding() {
    let entries: Vec<Vec<u8>> = [
        "0",
        "127",
        "128",
        "-1",
        "4095",
        "-4096",
        "4096",
        "32767",
        "-32768",
        "32768",
        "8388607",
        "-8388608",
        "8388608",
        "2147483647",
        "-2147483648",
        "2147483648",
        "9223372036854775807",
        "-9223372036854775808",
        "007",
        "",
        "abc",
    ]
    .iter()
    .map(b)
    .chain([
        b("x".repeat(63)),
        b("x".repeat(64)),
        b("x".repeat(4095)),
        b("x".repeat(4096)),
    ])
    .collect();
    let mut lp = listpack::Builder::new();
    for e in &entries {
        lp.push(e);
    }
    let bytes = lp.finish();
    assert_eq!(listpack::decode(&bytes).unwrap(), entries);
}

#[test]
fn intset_round_trips_each_width() {
    for mut members in [vec![3, 1, 2], vec![70_000, -1], vec![i64::MIN, 0, i64::MAX]] {
        let bytes = intset::encode(&mut members);
        assert_eq!(intset::decode(&bytes).unwrap(), members);
    }
    assert_eq!(
        intset::decode(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 5, 0]),
        None,
        "repeat"
    );
}

#[test]
fn strings_use_redis_encodings() {
    let payload = dump(&Value::Int(123));
    assert_eq!(&payload[..4], &[0x00, 0xc0, 0x7b, 0x0a], "int-encoded");
    let payload = dump(&Value::string(b"hello"));
    assert_eq!(&payload[..7], b"\x00\x05hello");
    let long = Value::string("spindle ".repeat(50).as_bytes());
    assert_eq!(dump(&long)[1], 0xc3, "LZF");
}

#[test]
fn dump_payloads_round_trip_every_type() {
    for (_, key, value, _) in sample_values() {
        let payload = dump(&value);
        assert!(verify_payload(&payload), "{key:?}");
        let back = decode_payload(&payload).unwrap().unwrap();
        assert_eq!(model_of(&back), model_of(&value), "{key:?}");
        let mut bad = payload.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(!verify_payload(&bad));
    }
}

/// Expire times are signed milliseconds to Redis's loader: -1 is no expiry, 0 and the times a
/// u64 past i64::MAX stands for (negative) have passed, so no key reaches the keyspace with
/// an expiry past i64::MAX ms (TTL's arithmetic overflowed on u64::MAX).
#[test]
fn expire_times_in_a_file_read_as_signed_milliseconds() {
    let now = now_ms();
    let marker = now + 123_456_789;
    let max = i64::MAX as u64;
    for (written, kept) in [
        (u64::MAX, Some(0)),
        (1 << 63, None),
        (0, None),
        (max, Some(max)),
        (marker, Some(marker)),
    ] {
        let mut db = Db::new(16);
        db.space(0).insert(b"k", Value::Int(1), false, 0);
        db.space(0).set_expire_at(b"k", marker);
        let mut file = encode(&db, now);
        let at = file
            .windows(8)
            .position(|w| w == marker.to_le_bytes())
            .unwrap();
        file[at..at + 8].copy_from_slice(&written.to_le_bytes());
        let n = file.len();
        let crc = crc64::crc64(0, &file[..n - 8]);
        file[n - 8..].copy_from_slice(&crc.to_le_bytes());
        let mut back = Db::new(16);
        decode_into(&mut back, &file, now).unwrap();
        let got = back.space(0).get(b"k").map(|e| e.expire_at);
        assert_eq!(got, kept, "written {written}");
    }
}

#[test]
fn datasets_round_trip_and_expired_keys_are_dropped() {
    let now = now_ms();
    let mut db = sample_db(now);
    db.space(1).insert(b"gone", Value::Int(1), false, 0);
    db.space(1).set_expire_at(b"gone", now - 1);
    let file = encode(&db, now);
    assert_eq!(&file[..9], b"REDIS0010");
    let mut back = Db::new(16);
    let loaded = decode_into(&mut back, &file, now).unwrap();
    assert_eq!(loaded.expired, 1);
    assert_eq!(loaded.keys, sample_values().len());
    db.space(1).remove(b"gone");
    assert_eq!(dataset_of(&back), dataset_of(&db));

    let mut corrupt = file.clone();
    let n = corrupt.len();
    corrupt[n - 3] ^= 0x10;
    assert!(matches!(
        decode_into(&mut Db::new(16), &corrupt, now),
        Err(format::RdbError::Checksum)
    ));
    assert!(
        decode_into(&mut Db::new(2), &file, now).is_err(),
        "db 15 of 2"
    );
}

/// Libraries are written as FUNCTION2 records before the first database and read back in
/// order; the FUNCTION record of 7.0's release candidates (name, engine, description, body)
/// reads as the code it stands for; a truncated record fails with Redis's text.
#[test]
fn function_records_round_trip_and_the_older_record_reads() {
    let now = now_ms();
    let mut db = sample_db(now);
    let codes = [
        "#!lua name=a\nredis.register_function('fa', function() return 1 end)",
        "#!lua name=b\nredis.register_function('fb', function() return 2 end)",
    ];
    db.libraries = codes.iter().map(|c| bytes::Bytes::from(*c)).collect();
    let file = encode(&db, now);
    // SELECTDB n RESIZEDB: the first database's start (aux values may hold either byte).
    let first_db = file
        .windows(3)
        .position(|w| w[0] == format::OP_SELECTDB && w[2] == format::OP_RESIZEDB)
        .unwrap();
    let code = file
        .windows(codes[0].len())
        .position(|w| w == codes[0].as_bytes())
        .unwrap();
    // The opcode, then the code's two-byte length.
    assert_eq!(file[code - 3], format::OP_FUNCTION2);
    assert!(code < first_db, "libraries come before the keys");
    let mut back = Db::new(16);
    decode_into(&mut back, &file, now).unwrap();
    assert_eq!(back.libraries, db.libraries);
    assert_eq!(dataset_of(&back), dataset_of(&db));

    // FUNCTION: name, engine, has-description 1, description, body.
    let mut body = vec![format::OP_FUNCTION];
    for s in [&b"old"[..], b"LUA"] {
        encode::write_string(&mut body, s);
    }
    encode::write_len(&mut body, 1);
    encode::write_string(&mut body, b"a description");
    encode::write_string(
        &mut body,
        b"redis.register_function('fo', function() return 3 end)",
    );
    let mut payload = body.clone();
    payload.extend_from_slice(&format::RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(
        decode_functions_payload(&payload).unwrap(),
        vec![b"#!LUA name=old\nredis.register_function('fo', function() return 3 end)".to_vec()]
    );
    let mut truncated = body[..body.len() - 5].to_vec();
    truncated.extend_from_slice(&payload[payload.len() - 10..]);
    assert_eq!(
        decode_functions_payload(&truncated),
        Err("Failed loading library blob")
    );
    let mut not_function = vec![0u8, 1, b'k', 1, b'v'];
    not_function.extend_from_slice(&payload[payload.len() - 10..]);
    assert_eq!(
        decode_functions_payload(&not_function),
        Err("given type is not a function")
    );
}

/// Seeded mutations of valid files and payloads: decoding returns, never panics, and what it
/// builds stays within what its input can describe.
#[test]
fn mutated_input_never_panics() {
    let now = now_ms();
    let file = encode(&sample_db(now), now);
    let payloads: Vec<Vec<u8>> = sample_values().iter().map(|(_, _, v, _)| dump(v)).collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..3000 {
        let base = if round % 3 == 0 {
            &file
        } else {
            &payloads[(next() as usize) % payloads.len()]
        };
        let mut m = base.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % m.len().max(1);
            match next() % 4 {
                0 => m[at] = next() as u8,
                1 => m[at] ^= 1 << (next() % 8),
                2 => m.truncate(at),
                _ => m.insert(at, next() as u8),
            }
            if m.is_empty() {
                break;
            }
        }
        if round % 3 == 0 {
            let mut db = Db::new(16);
            if decode_into(&mut db, &m, now).is_ok() {
                let elements: usize = dataset_of(&db).len();
                assert!(elements <= m.len());
            }
        } else {
            // Skip the checksum so the mutated object itself is decoded.
            let _ = decode_payload(&m);
        }
    }
}

// ---- interop with redis-server 7.0 ----

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spindle-rdb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A redis-server on a free port, stopped on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(dir: &Path, dbfilename: &str) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--dbfilename", dbfilename])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let redis = Redis { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = Resp::connect(port) {
                if c.call(&[b"PING"]) == R::Str(b("PONG")) {
                    return redis;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, PartialEq)]
enum R {
    Nil,
    Str(Vec<u8>),
    Int(i64),
    Err(String),
    Arr(Vec<R>),
}

impl R {
    fn bytes(self) -> Vec<u8> {
        match self {
            R::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    fn list(self) -> Vec<Vec<u8>> {
        match self {
            R::Arr(a) => a.into_iter().map(R::bytes).collect(),
            other => panic!("not an array: {other:?}"),
        }
    }
}

/// A minimal RESP2 client.
struct Resp {
    r: BufReader<TcpStream>,
}

impl Resp {
    fn connect(port: u16) -> std::io::Result<Resp> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Resp {
            r: BufReader::new(s),
        })
    }

    fn call(&mut self, args: &[&[u8]]) -> R {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        self.r.get_mut().write_all(&req).unwrap();
        self.read()
    }

    fn read(&mut self) -> R {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line).unwrap();
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).to_string();
        match line[0] {
            b'+' => R::Str(text.into_bytes()),
            b'-' => R::Err(text),
            b':' => R::Int(text.parse().unwrap()),
            b'$' => {
                let n: i64 = text.parse().unwrap();
                if n < 0 {
                    return R::Nil;
                }
                let mut buf = vec![0; n as usize + 2];
                self.r.read_exact(&mut buf).unwrap();
                buf.truncate(n as usize);
                R::Str(buf)
            }
            b'*' => {
                let n: i64 = text.parse().unwrap();
                R::Arr((0..n.max(0)).map(|_| self.read()).collect())
            }
            other => panic!("unexpected reply byte {other}"),
        }
    }
}

/// The dataset a running redis-server holds, through commands. Expiries are compared by
/// presence and within a minute, so PTTL's drift does not matter.
fn dataset_of_redis(c: &mut Resp, now: u64) -> Dataset {
    let mut out = Dataset::new();
    for i in 0..16 {
        c.call(&[b"SELECT", i.to_string().as_bytes()]);
        for key in c.call(&[b"KEYS", b"*"]).list() {
            let ty = c.call(&[b"TYPE", &key]).bytes();
            let model = match &ty[..] {
                b"string" => Model::Str(c.call(&[b"GET", &key]).bytes()),
                b"list" => Model::List(c.call(&[b"LRANGE", &key, b"0", b"-1"]).list()),
                b"set" => Model::Set(c.call(&[b"SMEMBERS", &key]).list().into_iter().collect()),
                b"hash" => {
                    let flat = c.call(&[b"HGETALL", &key]).list();
                    Model::Hash(
                        flat.chunks(2)
                            .map(|p| (p[0].clone(), p[1].clone()))
                            .collect(),
                    )
                }
                b"zset" => {
                    let flat = c
                        .call(&[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"])
                        .list();
                    Model::ZSet(
                        flat.chunks(2)
                            .map(|p| {
                                let s = String::from_utf8_lossy(&p[1]).to_string();
                                (p[0].clone(), s.parse::<f64>().unwrap())
                            })
                            .collect(),
                    )
                }
                other => panic!("type {other:?}"),
            };
            let expire = match c.call(&[b"PTTL", &key]) {
                R::Int(ms) if ms >= 0 => now + ms as u64,
                _ => 0,
            };
            out.insert((i, key), (model, expire));
        }
    }
    out
}

/// Expiries rounded to the minute (both sides' clocks move while the test runs).
fn coarse(d: Dataset) -> BTreeMap<(usize, Vec<u8>), (Model, u64)> {
    d.into_iter()
        .map(|(k, (m, e))| (k, (m, e.div_ceil(60_000))))
        .collect()
}

fn redis_available() -> bool {
    let ok = have("redis-server") && have("redis-check-rdb");
    if !ok {
        eprintln!("redis-server or redis-check-rdb not installed: interop test skipped");
    }
    ok
}

#[test]
fn our_file_passes_redis_check_rdb_and_loads_in_redis_server() {
    if !redis_available() {
        return;
    }
    let now = now_ms();
    let db = sample_db(now);
    let dir = temp_dir("ours");
    std::fs::write(dir.join("ours.rdb"), encode(&db, now)).unwrap();
    let check = Command::new("redis-check-rdb")
        .arg(dir.join("ours.rdb"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(
        check.status.success() && report.contains("RDB looks OK"),
        "{report}"
    );
    let redis = Redis::start(&dir, "ours.rdb");
    let mut c = Resp::connect(redis.port).unwrap();
    assert_eq!(
        coarse(dataset_of_redis(&mut c, now_ms())),
        coarse(dataset_of(&db))
    );
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fills a running redis-server with `db`'s keys through commands.
fn fill_redis(c: &mut Resp, db: &Db) {
    for (i, space) in db.spaces.iter().enumerate() {
        c.call(&[b"SELECT", i.to_string().as_bytes()]);
        for e in space.iter() {
            let key = e.key.as_bytes();
            let mut args: Vec<Vec<u8>> = Vec::new();
            match model_of(&e.value) {
                Model::Str(s) => args.extend([b("SET"), b(key), s]),
                Model::List(l) => {
                    args.extend([b("RPUSH"), b(key)]);
                    args.extend(l);
                }
                Model::Set(s) => {
                    args.extend([b("SADD"), b(key)]);
                    args.extend(s);
                }
                Model::Hash(h) => {
                    args.extend([b("HSET"), b(key)]);
                    for (f, v) in h {
                        args.extend([f, v]);
                    }
                }
                Model::ZSet(z) => {
                    args.extend([b("ZADD"), b(key)]);
                    for (m, s) in z {
                        args.extend([b(format!("{s}")), m]);
                    }
                }
                // The generated datasets hold no streams.
                Model::Stream(_) => continue,
            }
            let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            assert!(
                !matches!(c.call(&refs), R::Err(_)),
                "{:?}",
                String::from_utf8_lossy(key)
            );
            if e.expire_at != 0 {
                c.call(&[b"PEXPIREAT", key, e.expire_at.to_string().as_bytes()]);
            }
        }
    }
}

#[test]
fn redis_servers_file_decodes_to_the_same_dataset() {
    if !redis_available() {
        return;
    }
    let now = now_ms();
    let db = sample_db(now);
    let dir = temp_dir("theirs");
    let redis = Redis::start(&dir, "theirs.rdb");
    let mut c = Resp::connect(redis.port).unwrap();
    fill_redis(&mut c, &db);
    assert_eq!(c.call(&[b"SAVE"]), R::Str(b("OK")));
    let file = std::fs::read(dir.join("theirs.rdb")).unwrap();
    let mut back = Db::new(16);
    decode_into(&mut back, &file, now).unwrap();
    assert_eq!(dataset_of(&back), dataset_of(&db));
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dump_payloads_cross_with_redis_server_both_ways() {
    if !redis_available() {
        return;
    }
    let now = now_ms();
    let db = sample_db(now);
    let dir = temp_dir("dump");
    let redis = Redis::start(&dir, "dump.rdb");
    let mut c = Resp::connect(redis.port).unwrap();
    fill_redis(&mut c, &db);
    for (i, key, value, _) in sample_values() {
        c.call(&[b"SELECT", i.to_string().as_bytes()]);
        let theirs = c.call(&[b"DUMP", &key]).bytes();
        assert!(verify_payload(&theirs), "{key:?}");
        let decoded = decode_payload(&theirs).unwrap().unwrap();
        assert_eq!(model_of(&decoded), model_of(&value), "{key:?}");
        let mut copy = b"restored:".to_vec();
        copy.extend_from_slice(&key);
        let reply = c.call(&[b"RESTORE", &copy, b"0", &dump(&value)]);
        assert_eq!(reply, R::Str(b("OK")), "{key:?}");
        let again = c.call(&[b"DUMP", &copy]).bytes();
        // Encodings whose order is the value's own come back byte for byte; hashes and sets
        // in the order each side inserted them.
        let ordered = [
            format::TYPE_STRING,
            format::TYPE_LIST_QUICKLIST_2,
            format::TYPE_SET_INTSET,
            format::TYPE_ZSET_LISTPACK,
            format::TYPE_ZSET_2,
        ];
        if ordered.contains(&theirs[0]) {
            assert_eq!(again, theirs, "{key:?}: same bytes back");
        }
        let again = decode_payload(&again).unwrap().unwrap();
        assert_eq!(model_of(&again), model_of(&value), "{key:?}");
    }
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
