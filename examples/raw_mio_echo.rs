//! The echo benchmark's reference point: a bare, single-threaded mio echo server written the
//! idiomatic way, with no Spindle code. One `Poll`, a `Slab` of connections, accept and read
//! until `WouldBlock`, write back, keep what a partial write left and wait for WRITABLE.
//! Whatever Spindle's reactor costs on top of this loop is its overhead.
//!
//! Run it: `cargo run --example raw_mio_echo [PORT]` (default 9000), then `nc 127.0.0.1 9000` (or
//! `spindle echo-client --port 9000`, or `scripts/tcp-client 127.0.0.1 9000`).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

/// The listener's token; connections use their slab index, which never gets this large.
const SERVER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet written back (the peer was not reading fast enough).
    pending: Vec<u8>,
    /// True while WRITABLE is registered, i.e. while `pending` is not empty.
    want_write: bool,
}

/// What to do with a connection after handling its event.
enum Outcome {
    Keep,
    Close,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|e| format!("bad port {arg:?}: {e}"))?,
        None => 9000,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, SERVER, Interest::READABLE)?;
    let mut conns: Slab<Conn> = Slab::new();
    // One read buffer for every connection: echoed bytes are written straight from it.
    let mut buf = vec![0u8; 64 * 1024];
    println!("raw mio echo on {addr}");

    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        for event in events.iter() {
            if event.token() == SERVER {
                accept_all(&listener, &mut conns, &poll)?;
                continue;
            }
            let index = event.token().0;
            let Some(conn) = conns.get_mut(index) else {
                continue; // closed earlier in this batch
            };
            let outcome = handle(conn, &mut buf, event.is_readable());
            let outcome = match outcome {
                Ok(Outcome::Keep) => update_interest(conn, &poll, event.token()),
                other => other,
            };
            if !matches!(outcome, Ok(Outcome::Keep)) {
                let mut conn = conns.remove(index);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

/// Accepts every pending connection: with edge-triggered readiness, one event may stand for many.
fn accept_all(listener: &TcpListener, conns: &mut Slab<Conn>, poll: &Poll) -> io::Result<()> {
    loop {
        let mut stream = match listener.accept() {
            Ok((stream, _peer)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE and the like: not fatal; try again on the next event.
                eprintln!("accept: {e}");
                return Ok(());
            }
        };
        let _ = stream.set_nodelay(true);
        let entry = conns.vacant_entry();
        poll.registry()
            .register(&mut stream, Token(entry.key()), Interest::READABLE)?;
        entry.insert(Conn {
            stream,
            pending: Vec::new(),
            want_write: false,
        });
    }
}

/// Flushes what is pending, then (if nothing is left) reads and echoes until `WouldBlock`.
fn handle(conn: &mut Conn, buf: &mut [u8], readable: bool) -> io::Result<Outcome> {
    // Was reading held back by unflushed output? Then unread data may be waiting, and with
    // edge-triggered readiness no new READABLE event will announce it: read once drained.
    let was_blocked = !conn.pending.is_empty();
    if was_blocked {
        let written = write_some(&mut conn.stream, &conn.pending)?;
        conn.pending.drain(..written);
        if !conn.pending.is_empty() {
            return Ok(Outcome::Keep);
        }
    }
    if !readable && !was_blocked {
        return Ok(Outcome::Keep);
    }
    loop {
        let n = match conn.stream.read(buf) {
            Ok(0) => return Ok(Outcome::Close),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Outcome::Keep),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let data = buf.get(..n).unwrap_or_default();
        let written = write_some(&mut conn.stream, data)?;
        if let Some(rest) = data.get(written..).filter(|rest| !rest.is_empty()) {
            // The peer is not keeping up: keep the rest and stop reading until it is sent, so
            // a peer that never reads cannot make us buffer without bound.
            conn.pending.extend_from_slice(rest);
            return Ok(Outcome::Keep);
        }
    }
}

/// Writes as much of `data` as the socket takes now; returns how much that was.
fn write_some(stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while let Some(rest) = data.get(written..).filter(|rest| !rest.is_empty()) {
        match stream.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// Registers WRITABLE while output is pending, and only then (a socket is almost always
/// writable, so leaving it registered would wake the loop for nothing).
fn update_interest(conn: &mut Conn, poll: &Poll, token: Token) -> io::Result<Outcome> {
    let want_write = !conn.pending.is_empty();
    if want_write != conn.want_write {
        let interest = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        poll.registry()
            .reregister(&mut conn.stream, token, interest)?;
        conn.want_write = want_write;
    }
    Ok(Outcome::Keep)
}
