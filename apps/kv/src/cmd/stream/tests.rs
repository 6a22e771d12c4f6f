//! The stream commands without a socket, replies as redis-server 7.0.15 gives them, and what
//! they propagate.

use crate::propagate::Feed;
use crate::testkit::{a, arr, b, e, i, ok, Frame, T};

fn entry(id: &str, pairs: &[&str]) -> Frame {
    arr(vec![b(id), a(pairs)])
}

fn aof(t: &mut T) -> String {
    let feed = t.server.db.propagation.aof.as_mut().unwrap();
    String::from_utf8(feed.buf.split().to_vec()).unwrap()
}

fn aof_on(t: &mut T) {
    t.server.db.propagation.aof = Some(Feed::default());
}

#[test]
fn xadd_ids_ranges_and_errors() {
    let mut t = T::new();
    t.check(&[
        ("XADD s 1-1 f v", b("1-1")),
        ("XADD s 1-* g w", b("1-2")),
        ("XADD s 5 f v", b("5-0")),
        (
            "XADD s 5 f v",
            e("ERR The ID specified in XADD is equal or smaller than the target stream top item"),
        ),
        (
            "XADD s 0-0 f v",
            e("ERR The ID specified in XADD must be greater than 0-0"),
        ),
        (
            "XADD s 6 f",
            e("ERR wrong number of arguments for 'xadd' command"),
        ),
        (
            "XADD s x f v",
            e("ERR Invalid stream ID specified as stream command argument"),
        ),
        ("XADD nope NOMKSTREAM * f v", Frame::Null),
        ("XLEN s", i(3)),
        ("TYPE s", Frame::Simple("stream".into())),
        ("OBJECT ENCODING s", b("stream")),
        (
            "XRANGE s - +",
            arr(vec![
                entry("1-1", &["f", "v"]),
                entry("1-2", &["g", "w"]),
                entry("5-0", &["f", "v"]),
            ]),
        ),
        (
            "XRANGE s (1-1 + COUNT 1",
            arr(vec![entry("1-2", &["g", "w"])]),
        ),
        (
            "XREVRANGE s + - COUNT 1",
            arr(vec![entry("5-0", &["f", "v"])]),
        ),
        ("XRANGE s - + COUNT 0", Frame::Null),
        (
            "XRANGE s (- +",
            e("ERR Invalid stream ID specified as stream command argument"),
        ),
        ("XRANGE s - + LIMIT 1", e("ERR syntax error")),
        ("XDEL s 1-2 9-9", i(1)),
        ("XTRIM s MAXLEN 1", i(1)),
        ("XRANGE s - +", arr(vec![entry("5-0", &["f", "v"])])),
        (
            "XTRIM s LIMIT 1",
            e("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"),
        ),
        (
            "XTRIM s MAXLEN 1 LIMIT 1",
            e("ERR syntax error, LIMIT cannot be used without the special ~ option"),
        ),
        (
            "XSETID s 4-0",
            e("ERR The ID specified in XSETID is smaller than the target stream top item"),
        ),
        ("XSETID s 9-0 ENTRIESADDED 7 MAXDELETEDID 8-0", ok()),
        ("XADD s 9-* f v", b("9-1")),
    ]);
}

#[test]
fn xadd_propagates_the_id_it_made_and_the_trim_it_did() {
    let mut t = T::new();
    aof_on(&mut t);
    for n in 1..=150 {
        t.run(&format!("XADD s {n}-* f v"));
    }
    let _ = aof(&mut t);
    t.run("XADD s MAXLEN ~ 10 * f v");
    let out = aof(&mut t);
    assert!(out.contains("$1\r\n=\r\n$2\r\n51\r\n"), "{out}");
    assert!(!out.contains("$1\r\n*\r\n"), "{out}");
    assert_eq!(t.run("XLEN s"), i(51));
}

#[test]
fn consumer_groups_deliver_pend_ack_and_claim() {
    let mut t = T::new();
    aof_on(&mut t);
    t.check(&[
        ("XGROUP CREATE s g $", e("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")),
        ("XGROUP CREATE s g $ MKSTREAM", ok()),
        ("XGROUP CREATE s g $", e("BUSYGROUP Consumer Group name already exists")),
        ("XADD s 1-0 a 1", b("1-0")),
        ("XADD s 2-0 b 2", b("2-0")),
        ("XREADGROUP GROUP g alice COUNT 1 STREAMS s >", arr(vec![arr(vec![b("s"), arr(vec![entry("1-0", &["a", "1"])])])])),
        ("XREADGROUP GROUP g bob STREAMS s >", arr(vec![arr(vec![b("s"), arr(vec![entry("2-0", &["b", "2"])])])])),
        ("XREADGROUP GROUP g bob STREAMS s >", Frame::Null),
        ("XACK s g 2-0 3-0", i(1)),
        ("XCLAIM s g bob 0 1-0 JUSTID", a(&["1-0"])),
        ("XAUTOCLAIM s g carol 0 0 COUNT 5 JUSTID", arr(vec![b("0-0"), a(&["1-0"]), a(&[])])),
        ("XGROUP DELCONSUMER s g carol", i(1)),
        ("XREADGROUP GROUP nope c STREAMS s >", e("NOGROUP No such key 's' or consumer group 'nope' in XREADGROUP with GROUP option")),
        ("XREAD STREAMS s >", e("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")),
    ]);
    let out = aof(&mut t);
    assert!(out.contains("XCLAIM"), "{out}");
    assert!(!out.contains("XREADGROUP"), "{out}");
    assert!(!out.contains("XAUTOCLAIM"), "{out}");
}

/// `payload` (a DUMP) with the first occurrence of each `(from, to)` replaced and its
/// checksum made right again: what a client may RESTORE.
fn patched(payload: &[u8], edits: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut body = payload[..payload.len() - 8].to_vec();
    for (from, to) in edits {
        let at = body
            .windows(from.len())
            .position(|w| w == *from)
            .expect("the marker is in the payload");
        body.splice(at..at + from.len(), to.iter().copied());
    }
    let crc = crate::rdb::crc64::crc64(0, &body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// A restored stream may carry any delivery time, delivery count and counters (times past
/// i64::MAX ms, a count of u64::MAX, entries added past i64::MAX): idle times clamp to 0
/// (the delivery is "in the future"), counts wrap to 0 as Redis's uint64_t does, and the
/// lag wraps as Redis's long long does, instead of overflowing.
#[test]
fn restored_pending_entries_with_extreme_times_and_counts() {
    let mut t = T::new();
    t.check(&[
        ("XADD s 1-1 f v", b("1-1")),
        ("XSETID s 1-1 ENTRIESADDED 987654322 MAXDELETEDID 0-0", ok()),
        ("XGROUP CREATE s g 0", ok()),
        (
            "XREADGROUP GROUP g c STREAMS s >",
            arr(vec![arr(vec![
                b("s"),
                arr(vec![entry("1-1", &["f", "v"])]),
            ])]),
        ),
        ("XGROUP SETID s g 1-1 ENTRIESREAD 987654323", ok()),
    ]);
    let claimed = t.run("XCLAIM s g c 0 1-1 TIME 1000000000000 RETRYCOUNT 987654321");
    assert_eq!(claimed, arr(vec![entry("1-1", &["f", "v"])]));
    let Frame::Bulk(dump) = t.run("DUMP s") else {
        panic!("DUMP answers a bulk string")
    };
    // Lengths of 987654321.. are written as 0x80 and four bytes big-endian; the delivery
    // time as eight bytes little-endian.
    let len32 = |n: u32| [&[0x80u8][..], &n.to_be_bytes()].concat();
    let len64 = |n: u64| [&[0x81u8][..], &n.to_be_bytes()].concat();
    let payload = patched(
        &dump,
        &[
            (
                &1_000_000_000_000u64.to_le_bytes(),
                &(1u64 << 63).to_le_bytes(),
            ),
            (&len32(987_654_321), &len64(u64::MAX)),
            (&len32(987_654_322), &len64(1 << 63)),
        ],
    );
    for key in ["r1", "r2", "r3"] {
        assert_eq!(
            t.args(&[b"RESTORE", key.as_bytes(), b"0", &payload]),
            ok(),
            "{key}"
        );
    }
    let pending = |id: &str, consumer: &str, count: i64| {
        arr(vec![arr(vec![b(id), b(consumer), i(0), i(count)])])
    };
    t.check(&[
        ("XPENDING r1 g - + 10", pending("1-1", "c", -1)),
        ("XPENDING r1 g IDLE 1 - + 10", arr(vec![])),
        ("XCLAIM r1 g c2 1 1-1", arr(vec![])),
        ("XCLAIM r1 g c2 0 1-1", arr(vec![entry("1-1", &["f", "v"])])),
        ("XPENDING r1 g - + 10", pending("1-1", "c2", 0)),
        (
            "XAUTOCLAIM r2 g c3 0 0 JUSTID",
            arr(vec![b("0-0"), a(&["1-1"]), arr(vec![])]),
        ),
        (
            "XAUTOCLAIM r3 g c3 0 0",
            arr(vec![
                b("0-0"),
                arr(vec![entry("1-1", &["f", "v"])]),
                arr(vec![]),
            ]),
        ),
        ("XPENDING r3 g - + 10", pending("1-1", "c3", 0)),
    ]);
    let Frame::Array(groups) = t.run("XINFO GROUPS r1") else {
        panic!("XINFO GROUPS answers an array")
    };
    let Some(Frame::Array(fields)) = groups.first() else {
        panic!("one group")
    };
    let lag = fields
        .chunks(2)
        .find(|kv| kv[0] == b("lag"))
        .map(|kv| kv[1].clone());
    assert_eq!(lag, Some(i(i64::MIN.wrapping_sub(987_654_323))));
    // Reading its history again delivers the entry once more: the count wraps there too.
    assert_eq!(
        t.run("XREADGROUP GROUP g c3 STREAMS r2 0"),
        arr(vec![arr(vec![
            b("r2"),
            arr(vec![entry("1-1", &["f", "v"])])
        ])])
    );
    assert_eq!(t.run("XPENDING r2 g - + 10"), pending("1-1", "c3", 0));
}
