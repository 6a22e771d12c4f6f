//! `spindle kv` against careless and hostile clients: each test reproduces one way a client
//! could make the server grow or stall, and asserts the bound that holds instead.

mod common;

use std::time::Duration;

use common::hostile::{command, rss_bytes, server_unread, wait_until, Reply, Resp};
use common::{spawn_and_read_port, spindle, Running};

const MB: usize = 1024 * 1024;

fn kv(extra: &[&str]) -> (Running, u16) {
    let mut cmd = spindle();
    cmd.args(["kv", "--port", "0"]).args(extra);
    spawn_and_read_port("spindle kv", cmd)
}

/// Sends `requests` on a fresh connection without reading, and waits until the server has read
/// every byte of it and finished the turn that handled it (a PING on another connection is
/// answered after that turn).
fn send_unread(port: u16, requests: &[u8], probe: &mut Resp) -> Resp {
    let mut c = Resp::connect(port);
    c.send(requests);
    let local = c.local_port();
    wait_until(
        "the server to read the pipeline",
        Duration::from_secs(30),
        || server_unread(port, local) == Some(0),
    );
    assert_eq!(probe.call(&[b"PING"]), Reply::Simple("PONG".into()));
    c
}

/// A client that pipelines 1,000 GETs of a 1 MB value and does not read: the server stops
/// running its commands once the replies queue up (they wait in the socket), so it grows by
/// about one reply, not by 1,000; every reply still arrives, in order, once the client reads.
#[test]
fn a_pipelining_client_that_does_not_read_costs_one_reply_not_all_of_them() {
    let (server, port) = kv(&[]);
    let mut probe = Resp::connect(port);
    let value = vec![b'v'; MB];
    assert_eq!(
        probe.call(&[b"SET", b"bigkey", &value]),
        Reply::Simple("OK".into())
    );
    let baseline = rss_bytes(server.pid());

    let get = command(&[b"GET", b"bigkey"]);
    let mut pipeline = get.repeat(1000);
    pipeline.extend_from_slice(&command(&[b"INCR", b"done"]));
    let mut greedy = send_unread(port, &pipeline, &mut probe);

    let grown = rss_bytes(server.pid()).saturating_sub(baseline);
    eprintln!("one non-reader, 1,000 × 1 MB GETs: the server grew by {grown} B");
    assert!(
        grown < 32 * MB as u64,
        "the server grew by {} MB for a client that does not read",
        grown / MB as u64
    );
    // The commands after the stall have not run: the INCR at the end waits its turn.
    assert_eq!(probe.call(&[b"GET", b"done"]), Reply::Bulk(None));

    for i in 0..1000 {
        match greedy.read() {
            Reply::Bulk(Some(v)) => assert!(v.len() == MB && v == value, "reply {i}"),
            other => panic!("reply {i}: {other:?}"),
        }
    }
    assert_eq!(greedy.read(), Reply::Integer(1));
    assert_eq!(
        probe.call(&[b"GET", b"done"]),
        Reply::Bulk(Some(b"1".to_vec()))
    );
}

/// Four such clients at once, 200 GETs each: the bound is per connection, and the others are
/// still served meanwhile.
#[test]
fn several_non_readers_stay_bounded_and_others_are_served() {
    let (server, port) = kv(&[]);
    let mut probe = Resp::connect(port);
    let value = vec![b'w'; MB];
    assert_eq!(
        probe.call(&[b"SET", b"big", &value]),
        Reply::Simple("OK".into())
    );
    let baseline = rss_bytes(server.pid());
    let pipeline = command(&[b"GET", b"big"]).repeat(200);
    let mut greedy: Vec<Resp> = (0..4)
        .map(|_| send_unread(port, &pipeline, &mut probe))
        .collect();
    let grown = rss_bytes(server.pid()).saturating_sub(baseline);
    eprintln!("four non-readers, 200 × 1 MB GETs each: the server grew by {grown} B");
    assert!(
        grown < 64 * MB as u64,
        "four non-readers grew the server by {} MB",
        grown / MB as u64
    );
    assert_eq!(
        probe.call(&[b"SET", b"k", b"v"]),
        Reply::Simple("OK".into())
    );
    for c in &mut greedy {
        for _ in 0..200 {
            assert!(matches!(c.read(), Reply::Bulk(Some(v)) if v.len() == MB));
        }
    }
}
