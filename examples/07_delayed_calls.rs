//! Time as an event: `call_later` (a `DelayedCall` cancelled, one reset), a `LoopingCall` that
//! ticks every 200 ms and stops itself (and the reactor) after 5 ticks; and a protocol timer:
//! with `--serve`, an echo server on 127.0.0.1:8892 that closes a connection idle for 10 s.
//!
//! Run it: `cargo run --example delayed_calls` (ends by itself after a second), or
//! `cargo run --example delayed_calls -- --serve`, then `nc 127.0.0.1 8892` (or
//! `scripts/tcp-client 127.0.0.1 8892`) and stop typing.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use spindle::reactor::{LoopingCall, Protocol, ProtocolResult, Reactor, TimerId, Transport};

const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// An echo protocol that hangs up on a peer that has said nothing for `IDLE_TIMEOUT`.
struct IdleEcho {
    timer: Option<TimerId>,
}

impl Protocol for IdleEcho {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        // A protocol timer calls this protocol's `timer_fired`, and is dropped if the connection
        // closes first: nothing to clean up.
        self.timer = Some(tx.call_later(IDLE_TIMEOUT));
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        // Activity: move the deadline to IDLE_TIMEOUT from now (Twisted's `DelayedCall.reset`).
        if let Some(timer) = self.timer {
            tx.reset_timer(timer, IDLE_TIMEOUT);
        }
        tx.write(data);
        Ok(())
    }

    fn timer_fired(&mut self, id: TimerId, tx: &mut dyn Transport) -> ProtocolResult {
        if self.timer == Some(id) {
            self.timer = None;
            tx.write(b"idle for 10 s: goodbye\r\n");
            tx.lose_connection();
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve = std::env::args().skip(1).any(|a| a == "--serve");
    let mut reactor = Reactor::new()?;
    let start = reactor.now();
    // Milliseconds since start, by the reactor's clock (which is read once per loop turn).
    let at = move |r: &Reactor| r.now().duration_since(start).as_millis();

    // A call that will never run: cancelled at 150 ms, before its 300 ms deadline.
    let doomed = reactor.call_later(Duration::from_millis(300), move |r| {
        println!("[{:4} ms] this is never printed", at(r));
    });
    reactor.call_later(Duration::from_millis(150), move |r| {
        let cancelled = doomed.cancel(r);
        println!("[{:4} ms] cancelled the 300 ms call: {cancelled}", at(r));
    });

    // A call due at 200 ms, pushed back at 100 ms to 500 ms from then: it runs at 600 ms.
    let moved = reactor.call_later(Duration::from_millis(200), move |r| {
        println!("[{:4} ms] reset call fired (first due at 200 ms)", at(r));
    });
    reactor.call_later(Duration::from_millis(100), move |r| {
        println!("[{:4} ms] call_later fired", at(r));
        moved.reset(r, Duration::from_millis(500));
        println!("[{:4} ms] reset the 200 ms call to 500 ms from now", at(r));
    });

    // A looping call that stops itself. Its closure needs its own handle, which exists only
    // once `start` returns, so the handle is passed in through a shared cell.
    let handle: Rc<Cell<Option<LoopingCall>>> = Rc::new(Cell::new(None));
    let handle_in_loop = handle.clone();
    let mut ticks = 0;
    let looping = LoopingCall::start(&mut reactor, Duration::from_millis(200), false, move |r| {
        ticks += 1;
        println!("[{:4} ms] tick {ticks}", at(r));
        if ticks == 5 {
            if let Some(me) = handle_in_loop.get() {
                me.stop(r);
            }
            if serve {
                println!("[{:4} ms] looping call done; serving until Ctrl-C", at(r));
            } else {
                println!("[{:4} ms] looping call done: stopping the reactor", at(r));
                r.stop();
            }
        }
    });
    handle.set(Some(looping));

    if serve {
        let port = reactor.listen_tcp("127.0.0.1:8892", || IdleEcho { timer: None })?;
        reactor.install_signal_handlers()?;
        println!("idle-timeout echo on {}", port.address());
    }
    println!("[{:4} ms] reactor running", at(&reactor));
    reactor.run()?;
    println!("[{:4} ms] reactor stopped", at(&reactor));
    Ok(())
}
