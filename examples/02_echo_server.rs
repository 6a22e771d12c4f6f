//! Twisted's echo server: a `Protocol` (one per connection) whose `data_received` writes the
//! bytes back, a factory that builds one per connection, and a reactor that runs them.
//! Signal handlers are installed, so Ctrl-C stops it cleanly (output flushed, then exit).
//!
//! Run it: `cargo run --example echo_server`, then in another terminal `nc 127.0.0.1 8888`
//! (or `cargo run --example echo_client`, or `scripts/tcp-client 127.0.0.1 8888` where there is no
//! `nc`). Add `SPINDLE_TRACE=1` to watch every reactor event.

use spindle::reactor::{Protocol, ProtocolResult, Reactor, Transport};

/// The whole server: whatever arrives goes straight back.
struct Echo;

impl Protocol for Echo {
    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        // `write` only queues the bytes; the reactor sends them after this callback.
        tx.write(data);
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The reactor's own log lines (listening, stopping, and every event with SPINDLE_TRACE=1).
    spindle::logger::init(spindle::logger::level_from_env(false));

    let mut reactor = Reactor::new()?;
    // Any closure returning a Protocol is a factory: one `Echo` per accepted connection.
    let port = reactor.listen_tcp("127.0.0.1:8888", || Echo)?;
    reactor.install_signal_handlers()?;
    println!("echo server on {}; Ctrl-C to stop", port.address());
    reactor.run()?;
    println!("stopped");
    Ok(())
}
