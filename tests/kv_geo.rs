//! The geo commands of `spindle kv` side by side with redis-server 7.0: the same commands go to
//! both and the replies must be equal — through the `redis` crate, and byte for byte on raw
//! RESP2 and RESP3 connections (so the 17-decimal coordinates, the 4-decimal distances, null
//! bulk against null array and the order of every search reply are compared exactly). The
//! data: a few hundred seeded random points, clusters, points at the same place (equal
//! distances, so the sorts' handling of ties shows), famous places, the latitude limits and
//! the antimeridian, and sorted-set scores GEOADD never makes. Skipped with a note when
//! redis-server is not installed; `scripts/test` installs it.
//!
//! The redis-py test runs a script of redis-py's keyword forms against both servers and
//! compares what it prints; it needs `SPINDLE_PYTHON` (`-- --include-ignored`).

// `*rng.pick(..)` picks one option list out of a slice of lists: without the deref the
// generic `pick` would be asked for a slice of unsized `[&str]`.
#![allow(clippy::explicit_auto_deref)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::BytesMut;
use common::kv::{connect, redis_py, spindle_kv_with, RedisServer};
use common::Running;
use redis::{Connection, Value};
use spindle_protocols::resp::{decode_frame, Limits};

/// A plain RESP connection: a command out, its reply's exact bytes back.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    /// A connection to `port`, switched to RESP3 with HELLO when `resp3`.
    fn open(port: u16, resp3: bool) -> Raw {
        let mut raw = Raw {
            stream: TcpStream::connect(("127.0.0.1", port)).unwrap(),
            buf: BytesMut::new(),
        };
        if resp3 {
            raw.call(&["HELLO", "3"]);
        }
        raw
    }

    fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.stream.write_all(&out).unwrap();
        loop {
            let mut probe = self.buf.clone();
            if decode_frame(&mut probe, &Limits::default())
                .expect("a valid reply")
                .is_some()
            {
                let used = self.buf.len() - probe.len();
                return self.buf.split_to(used).to_vec();
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed during {args:?}");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One side: a server reached through the `redis` crate and raw RESP2 and RESP3.
struct Side {
    conn: Connection,
    resp2: Raw,
    resp3: Raw,
}

impl Side {
    fn new(port: u16) -> Side {
        Side {
            conn: connect(port).expect("the server answers"),
            resp2: Raw::open(port, false),
            resp3: Raw::open(port, true),
        }
    }

    /// The reply through the `redis` crate: a value, or the error's text.
    fn query(&mut self, args: &[&str]) -> Result<Value, String> {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query::<Value>(&mut self.conn)
            .map_err(|e| format!("{:?} {:?}", e.code(), e.detail()))
    }
}

/// redis-server and `spindle kv`, with a count of the replies compared.
struct Pair {
    redis: Side,
    spindle: Side,
    compared: usize,
    _servers: (RedisServer, Running),
}

impl Pair {
    fn start() -> Option<Pair> {
        let redis_server = RedisServer::start()?;
        let (spindle_server, port) = spindle_kv_with(&[]);
        Some(Pair {
            redis: Side::new(redis_server.port),
            spindle: Side::new(port),
            compared: 0,
            _servers: (redis_server, spindle_server),
        })
    }

    /// Runs a command that changes data once on each server (through the `redis` crate) and
    /// checks the replies are equal.
    fn write(&mut self, args: &[&str]) -> Result<Value, String> {
        let want = self.redis.query(args);
        let got = self.spindle.query(args);
        assert_eq!(got, want, "{args:?}");
        self.compared += 1;
        want
    }

    /// Runs a command that only reads three times on each server — through the `redis` crate,
    /// raw RESP2 and raw RESP3 — and checks each pair of replies is equal (the raw ones byte
    /// for byte). Returns the RESP2 bytes.
    fn read(&mut self, args: &[&str]) -> Vec<u8> {
        self.write(args).ok();
        let want = self.redis.resp2.call(args);
        let got = self.spindle.resp2.call(args);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "RESP2 {args:?}"
        );
        let want3 = self.redis.resp3.call(args);
        let got3 = self.spindle.resp3.call(args);
        assert_eq!(
            String::from_utf8_lossy(&got3),
            String::from_utf8_lossy(&want3),
            "RESP3 {args:?}"
        );
        self.compared += 2;
        want
    }

    /// A sorted set's members and scores on both, compared as numbers (redis-server 7.0
    /// prints scores with `%.17g`, spindle the shortest text of the same double).
    fn same_zset(&mut self, key: &str) -> usize {
        let read = |side: &mut Side| -> Vec<(Vec<u8>, f64)> {
            let flat: Vec<Vec<u8>> = redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(&mut side.conn)
                .unwrap();
            flat.chunks(2)
                .map(|p| {
                    let s = std::str::from_utf8(&p[1]).unwrap().parse::<f64>().unwrap();
                    (p[0].clone(), s)
                })
                .collect()
        };
        let want = read(&mut self.redis);
        let got = read(&mut self.spindle);
        assert_eq!(got, want, "ZRANGE {key} 0 -1 WITHSCORES");
        self.compared += 1;
        want.len()
    }
}

/// xorshift64: the same points on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `[lo, hi]`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const LAT_LIMIT: f64 = 85.05112878;

const FAMOUS: &[(&str, f64, f64)] = &[
    ("Palermo", 13.361389, 38.115556),
    ("Catania", 15.087269, 37.502669),
    ("Paris", 2.3522, 48.8566),
    ("London", -0.1276, 51.5072),
    ("New York", -74.006, 40.7128),
    ("Tokyo", 139.6917, 35.6895),
    ("Sydney", 151.2093, -33.8688),
    ("Rio de Janeiro", -43.1729, -22.9068),
    ("Cape Town", 18.4241, -33.9249),
    ("Reykjavik", -21.9426, 64.1466),
    ("McMurdo", 166.6863, -77.8419),
    ("Alert", -62.3481, 82.5018),
    ("Null Island", 0.0, 0.0),
    ("Suva", 178.4419, -18.1416),
    ("Apia", -171.7514, -13.8333),
    ("Taveuni 180", 180.0, -16.8),
    ("Taveuni -180", -180.0, -16.8),
    ("east of the line", 179.9999, 0.0),
    ("west of the line", -179.9999, 0.0),
    ("north-east corner", 180.0, LAT_LIMIT),
    ("south-west corner", -180.0, -LAT_LIMIT),
    ("north-west corner", -180.0, LAT_LIMIT),
    ("south-east corner", 180.0, -LAT_LIMIT),
    ("top", 0.0, LAT_LIMIT),
    ("bottom", 0.0, -LAT_LIMIT),
    ("near the top", 45.0, 85.05),
    ("near the bottom", -45.0, -85.05),
];

/// Adds every point to `key` on both servers, and returns each member with its position.
fn load(pair: &mut Pair, key: &str) -> Vec<(String, f64, f64)> {
    let mut rng = Rng(0x05EE_D000_06E0_u64 | 1);
    let mut points: Vec<(String, f64, f64)> = FAMOUS
        .iter()
        .map(|&(name, lon, lat)| (name.to_string(), lon, lat))
        .collect();
    for i in 0..300 {
        let lon = rng.range(-180.0, 180.0);
        let lat = rng.range(-LAT_LIMIT, LAT_LIMIT);
        points.push((format!("p{i}"), lon, lat));
    }
    // Clusters, one across the antimeridian and one near the northern limit.
    let centres = [
        (13.5, 38.0),
        (2.35, 48.85),
        (179.8, -16.5),
        (-73.9, 40.7),
        (20.0, 84.5),
    ];
    for (c, &(clon, clat)) in centres.iter().enumerate() {
        for i in 0..40 {
            let mut lon = clon + rng.range(-1.5, 1.5);
            if lon > 180.0 {
                lon -= 360.0;
            }
            let lat = (clat + rng.range(-1.0, 1.0)).min(LAT_LIMIT);
            points.push((format!("c{c}:{i}"), lon, lat));
        }
    }
    // Members at the very place of others: equal distances from anywhere.
    for i in 0..30 {
        let (_, lon, lat) = rng.pick(&points).clone();
        points.push((format!("twin{i}"), lon, lat));
    }
    let texts: Vec<[String; 3]> = points
        .iter()
        .map(|(m, lon, lat)| [lon.to_string(), lat.to_string(), m.clone()])
        .collect();
    for batch in texts.chunks(40) {
        let mut args = vec!["GEOADD", key];
        for t in batch {
            args.extend(t.iter().map(String::as_str));
        }
        let added = pair.write(&args).unwrap();
        assert_eq!(added, Value::Int(batch.len() as i64));
    }
    points
}

#[test]
fn positions_hashes_and_distances_match_redis() {
    let Some(mut pair) = Pair::start() else {
        return;
    };
    let points = load(&mut pair, "geo");
    let n = points.len();
    for (m, _, _) in &points {
        pair.read(&["ZSCORE", "geo", m]);
        pair.read(&["GEOPOS", "geo", m]);
        pair.read(&["GEOHASH", "geo", m]);
    }
    let all: Vec<&str> = points.iter().map(|(m, _, _)| m.as_str()).collect();
    let mut args = vec!["GEOPOS", "geo"];
    args.extend(&all);
    args.push("missing");
    pair.read(&args);
    args[0] = "GEOHASH";
    pair.read(&args);
    let mut rng = Rng(0xD15_7A4CE);
    for _ in 0..400 {
        let a = rng.pick(&all);
        let b = rng.pick(&all);
        let unit = *rng.pick(&["", "m", "km", "mi", "ft", "KM"]);
        let mut args = vec!["GEODIST", "geo", a, b];
        if !unit.is_empty() {
            args.push(unit);
        }
        pair.read(&args);
    }
    // Scores GEOADD never gives, read as positions all the same.
    pair.write(&[
        "ZADD",
        "odd",
        "-1",
        "a",
        "inf",
        "b",
        "-inf",
        "c",
        "1e19",
        "d",
        "1.5",
        "e",
        "4503599627370496",
        "f",
        "1e30",
        "g",
        "13510798882111488",
        "h",
        "-123456789.5",
        "i",
    ])
    .unwrap();
    let odd = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for m in odd {
        pair.read(&["GEOPOS", "odd", m]);
        pair.read(&["GEOHASH", "odd", m]);
        pair.read(&["GEODIST", "odd", m, "e", "km"]);
    }
    pair.read(&[
        "GEOSEARCH",
        "odd",
        "FROMLONLAT",
        "0",
        "0",
        "BYRADIUS",
        "30000",
        "km",
        "WITHHASH",
        "WITHCOORD",
        "WITHDIST",
    ]);
    pair.read(&[
        "GEOSEARCH",
        "odd",
        "FROMMEMBER",
        "e",
        "BYBOX",
        "100",
        "100",
        "km",
        "WITHHASH",
        "ASC",
    ]);
    pair.read(&["GEOPOS", "nokey", "a", "b"]);
    pair.read(&["GEOHASH", "nokey", "a"]);
    pair.read(&["GEODIST", "nokey", "a", "b"]);
    println!("{n} points, {} replies compared", pair.compared);
}

/// The option sets a search is tried with: every WITH* subset, every order and count.
fn option_sets(rng: &mut Rng) -> Vec<Vec<&'static str>> {
    let withs: Vec<Vec<&str>> = (0..8)
        .map(|bits| {
            [(1, "WITHCOORD"), (2, "WITHDIST"), (4, "WITHHASH")]
                .iter()
                .filter(|(b, _)| bits & b != 0)
                .map(|&(_, w)| w)
                .collect()
        })
        .collect();
    let sorts: [&[&str]; 3] = [&[], &["ASC"], &["DESC"]];
    let counts: [&[&str]; 5] = [
        &[],
        &["COUNT", "1"],
        &["COUNT", "4"],
        &["COUNT", "7", "ANY"],
        &["COUNT", "100000"],
    ];
    let mut sets = Vec::new();
    for w in &withs {
        let mut o = w.clone();
        o.extend_from_slice(*rng.pick(&sorts[..]));
        o.extend_from_slice(*rng.pick(&counts[..]));
        sets.push(o);
    }
    for s in sorts {
        for c in counts {
            let mut o = rng.pick(&withs).clone();
            o.extend_from_slice(s);
            o.extend_from_slice(c);
            // Options in any order.
            if rng.next().is_multiple_of(2) {
                o.reverse();
                // COUNT's value follows COUNT again after the reversal.
                o = reorder_count(o);
            }
            sets.push(o);
        }
    }
    sets
}

/// Puts `COUNT n` back in order after a shuffle of the options.
fn reorder_count(o: Vec<&'static str>) -> Vec<&'static str> {
    let mut rest: Vec<&str> = Vec::new();
    let mut count: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < o.len() {
        if o[i] == "COUNT" {
            count = vec!["COUNT", rest.pop().unwrap()];
        } else {
            rest.push(o[i]);
        }
        i += 1;
    }
    rest.extend(count);
    rest
}

#[test]
fn searches_match_redis_in_every_combination() {
    let Some(mut pair) = Pair::start() else {
        return;
    };
    let points = load(&mut pair, "geo");
    let mut rng = Rng(0x5EA2C4);
    let mut centres: Vec<Vec<String>> = vec![
        vec!["FROMLONLAT".into(), "15".into(), "37".into()],
        vec!["FROMLONLAT".into(), "179.95".into(), "-16.6".into()],
        vec!["FROMLONLAT".into(), "-179.95".into(), "-16.6".into()],
        vec!["FROMLONLAT".into(), "20".into(), "85".into()],
        vec!["FROMLONLAT".into(), "0".into(), "-85.05112878".into()],
        vec!["FROMLONLAT".into(), "-73.9".into(), "40.7".into()],
        vec!["FROMMEMBER".into(), "Palermo".into()],
        vec!["FROMMEMBER".into(), "north-east corner".into()],
        vec!["FROMMEMBER".into(), "Taveuni 180".into()],
        vec!["FROMMEMBER".into(), "c4:3".into()],
        vec!["FROMMEMBER".into(), "twin3".into()],
    ];
    for _ in 0..5 {
        let (m, _, _) = rng.pick(&points).clone();
        centres.push(vec!["FROMMEMBER".into(), m]);
        centres.push(vec![
            "FROMLONLAT".into(),
            rng.range(-180.0, 180.0).to_string(),
            rng.range(-LAT_LIMIT, LAT_LIMIT).to_string(),
        ]);
    }
    let shapes: &[&[&str]] = &[
        &["BYRADIUS", "200", "km"],
        &["BYRADIUS", "1500", "km"],
        &["BYRADIUS", "150", "mi"],
        &["BYRADIUS", "300000", "ft"],
        &["BYRADIUS", "6000000", "m"],
        &["BYRADIUS", "25000", "km"],
        &["BYRADIUS", "0", "m"],
        &["BYBOX", "400", "400", "km"],
        &["BYBOX", "3000", "300", "km"],
        &["BYBOX", "100", "2000", "mi"],
        &["BYBOX", "40000", "20000", "km"],
    ];
    let mut searches = 0;
    let mut found = 0usize;
    for centre in &centres {
        for shape in shapes {
            for opts in option_sets(&mut rng) {
                let mut args = vec!["GEOSEARCH", "geo"];
                args.extend(centre.iter().map(String::as_str));
                args.extend_from_slice(shape);
                args.extend(&opts);
                let reply = pair.read(&args);
                searches += 1;
                found += usize::from(!reply.starts_with(b"*0\r\n"));
            }
            // The same search stored, with scores or distances.
            for storedist in [false, true] {
                let mut args = vec!["GEOSEARCHSTORE", "dst", "geo"];
                args.extend(centre.iter().map(String::as_str));
                args.extend_from_slice(shape);
                let extra: [&[&str]; 3] = [&[], &["ASC", "COUNT", "5"], &["COUNT", "3", "ANY"]];
                args.extend_from_slice(*rng.pick(&extra[..]));
                if storedist {
                    args.push("STOREDIST");
                }
                pair.write(&args).unwrap();
                pair.same_zset("dst");
                pair.read(&["EXISTS", "dst"]);
            }
        }
    }
    // The older commands, radius only, with STORE and STOREDIST.
    for centre in &centres {
        for shape in shapes.iter().filter(|s| s[0] == "BYRADIUS") {
            let sets = option_sets(&mut rng);
            let opts = rng.pick(&sets).clone();
            let (name, mut args): (&str, Vec<&str>) = match centre[0].as_str() {
                "FROMMEMBER" => ("GEORADIUSBYMEMBER", vec!["geo", centre[1].as_str()]),
                _ => (
                    "GEORADIUS",
                    vec!["geo", centre[1].as_str(), centre[2].as_str()],
                ),
            };
            args.extend_from_slice(&shape[1..]);
            let ro = format!("{name}_RO");
            for cmd in [name, ro.as_str()] {
                let mut full = vec![cmd];
                full.extend(&args);
                full.extend(&opts);
                pair.read(&full);
            }
            for store in ["STORE", "STOREDIST"] {
                let mut full = vec![name];
                full.extend(&args);
                let extra: [&[&str]; 3] = [&[], &["DESC", "COUNT", "6"], &["COUNT", "2", "ANY"]];
                full.extend_from_slice(*rng.pick(&extra[..]));
                full.extend([store, "dst"]);
                pair.write(&full).unwrap();
                pair.same_zset("dst");
            }
        }
    }
    assert!(
        found > searches / 2,
        "most searches find something: {found}/{searches}"
    );
    println!(
        "{searches} searches ({found} not empty), {} replies compared",
        pair.compared
    );
}

#[test]
fn geoadd_options_and_errors_match_redis() {
    let Some(mut pair) = Pair::start() else {
        return;
    };
    let sicily = [
        "GEOADD",
        "k",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ];
    pair.write(&sicily).unwrap();
    pair.write(&["SET", "s", "v"]).unwrap();
    let writes: &[&str] = &[
        "GEOADD k 1 2",
        "GEOADD k nx xx 1 2 m",
        "GEOADD k ch ch ch",
        "GEOADD k gt 1 2 m",
        "GEOADD k 1 x m",
        "GEOADD k 181 0 m",
        "GEOADD k -180.0000001 0 m",
        "GEOADD k 0 85.06 m",
        "GEOADD k 0 -90 m 1 1 n",
        "GEOADD k 1 1 n 0 -90 m",
        "GEOADD k inf 0 m",
        "GEOADD k 0 nan m",
        "GEOADD s 1 1 m",
        "GEOADD k xx 1 1 newone",
        "GEOADD k xx ch 13.5 38 Palermo",
        "GEOADD k nx 1 1 Palermo 2 2 Newer",
        "GEOADD k CH NX 3 3 Newer 4 4 Newest",
        "GEOADD k ch 5 5 Newer 4 4 Newest 6 6 Newest2",
        "GEOADD k 5 5 Newer",
        "GEOADD nokey xx 1 1 m",
        "GEOADD k 180 85.05112878 corner -180 -85.05112878 other",
    ];
    for line in writes {
        pair.write(&line.split(' ').collect::<Vec<_>>()).ok();
    }
    let reads: &[&str] = &[
        "ZRANGE k 0 -1 WITHSCORES",
        "EXISTS nokey",
        "GEODIST k Palermo Catania foo",
        "GEODIST k Palermo Catania km x",
        "GEODIST s a b",
        "GEODIST nokey a b foo",
        "GEODIST k Palermo nope",
        "GEODIST k Palermo Palermo",
        "GEODIST k corner other",
        "GEOPOS s a",
        "GEOPOS k",
        "GEOHASH k",
        "GEOHASH s a",
        "GEOSEARCH k FROMMEMBER Palermo BYRADIUS 10 km BYBOX 1 1 km",
        "GEOSEARCH k FROMMEMBER Palermo FROMLONLAT 1 1 BYRADIUS 10 km",
        "GEOSEARCH k FROMLONLAT 1 1 FROMMEMBER Palermo BYRADIUS 10 km",
        "GEOSEARCH k FROMMEMBER Palermo FROMMEMBER Catania BYRADIUS 10 km",
        "GEOSEARCH k BYRADIUS 10 km",
        "GEOSEARCH k BYRADIUS 10 km ASC WITHDIST",
        "GEOSEARCH k FROMMEMBER Palermo",
        "GeoSearch k FROMMEMBER Palermo COUNT 1 ASC",
        "GEOSEARCH k FROMMEMBER nope BYRADIUS 10 km",
        "GEOSEARCH nokey FROMMEMBER nope BYRADIUS 10 km",
        "GEOSEARCH nokey FROMMEMBER nope BYRADIUS x km",
        "GEOSEARCH k FROMLONLAT 200 1 BYRADIUS 10 km",
        "GEOSEARCH k FROMLONLAT x 1 BYRADIUS 10 km",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS -1 km",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS x km",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 parsec",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 KM WITHDIST",
        "GEOSEARCH k FROMLONLAT 1 1 BYBOX x 1 km",
        "GEOSEARCH k FROMLONLAT 1 1 BYBOX 1 x km",
        "GEOSEARCH k FROMLONLAT 1 1 BYBOX -1 1 km",
        "GEOSEARCH k FROMLONLAT 1 1 BYBOX 1 -1 km",
        "GEOSEARCH k FROMLONLAT 1 1 BYBOX 1 1 lightyear",
        "GEOSEARCH k FROMLONLAT 1 1 BYBOX 1 1",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km ANY",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km COUNT 0",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km COUNT -3",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km COUNT x",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km COUNT",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km COUNT 1 COUNT 2",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km STORE x",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km STOREDIST",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS 1 km BOGUS",
        "GEOSEARCH k FROMLONLAT 1 1 BYRADIUS",
        "GEOSEARCH k FROMMEMBER",
        "GEOSEARCH s FROMMEMBER a BYRADIUS 1 km",
        "GEORADIUS k 1 1 1 km FROMMEMBER Palermo",
        "GEORADIUS_RO k 1 1 1 km STORE x",
        "GEORADIUS_RO k 1 1 1 km STOREDIST x",
        "GEORADIUS k 200 1 1 km",
        "GEORADIUS k 1 1 -1 km",
        "GEORADIUS k 1 1 x km",
        "GEORADIUS k 1 1 1 parsec",
        "GEORADIUS s 1 1 1 km",
        "GEORADIUS k 1 1 1 km BYRADIUS 1 km",
        "GEORADIUSBYMEMBER k nope 1 km",
        "GEORADIUSBYMEMBER nokey nope x parsec",
        "GEORADIUSBYMEMBER nokey nope x parsec bogus",
        "GEORADIUSBYMEMBER k Palermo 1 parsec",
        "GEORADIUSBYMEMBER k Palermo x km",
        "GEORADIUSBYMEMBER_RO k Palermo 200 km STORE x",
        "GEORADIUSBYMEMBER_RO k Palermo 200 km WITHDIST WITHHASH WITHCOORD COUNT 1",
    ];
    for line in reads {
        pair.read(&line.split(' ').collect::<Vec<_>>());
    }
    // Errors of the forms that store (each run once: they may write).
    let store_errors: &[&str] = &[
        "GEOSEARCHSTORE d k FROMLONLAT 1 1 BYRADIUS 1 km WITHDIST",
        "GEOSEARCHSTORE d k FROMLONLAT 1 1 BYRADIUS 1 km WITHCOORD",
        "GEOSEARCHSTORE d k FROMLONLAT 1 1 BYRADIUS 1 km STORE x",
        "GEOSEARCHSTORE d k FROMLONLAT 1 1 BYRADIUS 1 km STOREDIST STOREDIST",
        "GEOSEARCHSTORE d s FROMLONLAT 1 1 BYRADIUS 1 km",
        "GEOSEARCHSTORE d nokey FROMLONLAT 1 1 BYRADIUS 1 km",
        "GEOSEARCHSTORE d k BYRADIUS 1 km ASC",
        "GEORADIUS k 1 1 1 km WITHDIST STORE x",
        "GEORADIUS k 1 1 1 km STORE",
        "GEORADIUS k 1 1 1 km STOREDIST",
        "GEORADIUS k 1 1 1 km STORE a STOREDIST b",
        "GEORADIUSBYMEMBER nokey nope x parsec WITHDIST STORE y",
        "GEORADIUSBYMEMBER k Palermo 200 km WITHHASH STOREDIST y",
    ];
    for line in store_errors {
        pair.write(&line.split(' ').collect::<Vec<_>>()).ok();
    }
    // A store replaces a key of any type and its TTL; an empty result deletes it.
    pair.write(&["SET", "dst", "x", "EX", "100"]).unwrap();
    pair.write(&[
        "GEOSEARCHSTORE",
        "dst",
        "k",
        "FROMMEMBER",
        "Palermo",
        "BYRADIUS",
        "300",
        "km",
    ])
    .unwrap();
    pair.read(&["TTL", "dst"]);
    pair.read(&["TYPE", "dst"]);
    pair.same_zset("dst");
    pair.write(&["GEORADIUS", "k", "0", "0", "1", "m", "STORE", "dst"])
        .unwrap();
    pair.read(&["EXISTS", "dst"]);
    pair.write(&["SET", "dst", "x"]).unwrap();
    pair.write(&["GEORADIUSBYMEMBER", "nokey", "a", "1", "km", "STORE", "dst"])
        .unwrap();
    pair.read(&["EXISTS", "dst"]);
    // The source as its own destination.
    pair.write(&[
        "GEOSEARCHSTORE",
        "k",
        "k",
        "FROMMEMBER",
        "Palermo",
        "BYRADIUS",
        "300",
        "km",
        "STOREDIST",
    ])
    .unwrap();
    pair.same_zset("k");
    println!("{} replies compared", pair.compared);
}

/// redis-py's keyword forms, run against both servers: the script prints what each call
/// returns, and the two outputs must be the same.
const REDIS_PY_SCRIPT: &str = r#"
import sys
import redis

r = redis.Redis(port=int(sys.argv[1]), decode_responses=True)
r3 = redis.Redis(port=int(sys.argv[1]), decode_responses=True, protocol=3)
r.flushall()
out = []
def show(name, value):
    out.append(f"{name}: {value!r}")

show("geoadd", r.geoadd("sicily", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"]))
show("geoadd xx ch", r.geoadd("sicily", [13.5, 38.0, "Palermo", 1, 1, "Nowhere"], xx=True, ch=True))
show("geoadd nx", r.geoadd("sicily", [13.6, 38.1, "Palermo", 14.2, 37.3, "Enna"], nx=True))
show("geopos", r.geopos("sicily", "Palermo", "nope", "Enna"))
show("geopos resp3", r3.geopos("sicily", "Palermo", "nope"))
show("geohash", r.geohash("sicily", "Palermo", "Catania", "nope"))
show("geodist", r.geodist("sicily", "Palermo", "Catania"))
show("geodist km", r.geodist("sicily", "Palermo", "Catania", unit="km"))
show("geodist missing", r.geodist("sicily", "Palermo", "nope", unit="mi"))
show("geosearch radius", r.geosearch("sicily", longitude=15, latitude=37, radius=200, unit="km",
                                     withdist=True, withcoord=True, withhash=True, sort="ASC"))
show("geosearch resp3", r3.geosearch("sicily", longitude=15, latitude=37, radius=200, unit="km",
                                     withdist=True, withcoord=True, sort="DESC"))
show("geosearch box", r.geosearch("sicily", member="Palermo", width=400, height=400, unit="km",
                                  sort="DESC", count=2))
show("geosearch any", r.geosearch("sicily", longitude=15, latitude=37, radius=2000, unit="km",
                                  count=1, any=True))
show("geosearchstore", r.geosearchstore("near", "sicily", longitude=15, latitude=37, radius=200,
                                        unit="km", storedist=True))
show("stored", r.zrange("near", 0, -1, withscores=True))
show("georadius", r.georadius("sicily", 15, 37, 200, unit="km", withdist=True, sort="ASC"))
show("georadiusbymember store", r.georadiusbymember("sicily", "Palermo", 100, unit="km",
                                                    store="byme"))
show("stored 2", r.zrange("byme", 0, -1, withscores=True))
for call in [
    lambda: r.geoadd("sicily", [200, 0, "bad"]),
    lambda: r.geosearch("sicily", member="nope", radius=1, unit="km"),
    lambda: r.execute_command("GEOSEARCH", "sicily", "FROMLONLAT", 1, 1, "BYRADIUS", 1, "km", "ANY"),
]:
    try:
        call()
        show("no error", None)
    except redis.ResponseError as e:
        show("error", str(e))
print("\n".join(out))
"#;

#[test]
#[ignore = "needs redis-py: run scripts/test"]
fn redis_py_geo_keyword_forms_match_redis() {
    let Some(redis_server) = RedisServer::start() else {
        return;
    };
    let (_spindle, port) = spindle_kv_with(&[]);
    let run = |port: u16| redis_py(&["-c", REDIS_PY_SCRIPT, &port.to_string()]);
    let want = run(redis_server.port);
    let got = run(port);
    assert_eq!(got, want);
    assert!(
        want.contains("geosearch radius: [['Catania', 56.4413, 3479447370796909"),
        "{want}"
    );
    println!("{want}");
}
