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
