//! A custom line-based protocol: bytes arrive in arbitrary chunks, so the protocol feeds them to
//! a `LineReceiver` (a sans-IO codec) and acts on each complete line. Commands: `UPPER text`,
//! `REVERSE text`, `TIME` (seconds since you connected, from the reactor's clock), `QUIT`.
//! Anything else gets `ERR unknown command`; a line over 256 bytes gets an error and a hang-up.
//!
//! Run it: `cargo run --example line_protocol`, then `nc 127.0.0.1 8889` and type commands.

use std::time::Instant;

use spindle::protocols::lines::{LineEvent, LineReceiver};
use spindle::reactor::{Protocol, ProtocolResult, Reactor, Transport};

/// The longest line accepted, in bytes. A peer could otherwise make us buffer without limit.
const MAX_LINE: usize = 256;

struct Commands {
    lines: LineReceiver,
    /// When the connection was made, by the reactor's clock (set in `connection_made`).
    started: Option<Instant>,
}

impl Commands {
    fn new() -> Self {
        Commands {
            // "\n" rather than the default "\r\n", so plain `nc` works; a trailing "\r" (from
            // `nc -C` or telnet) is trimmed below.
            lines: LineReceiver::with_delimiter(b"\n").with_max_length(MAX_LINE),
            started: None,
        }
    }

    /// Acts on one line. Returns false once the connection is closing (after `QUIT`).
    fn handle_line(&mut self, line: &[u8], tx: &mut dyn Transport) -> bool {
        // A peer may send any bytes: decode leniently instead of failing on bad UTF-8.
        let text = String::from_utf8_lossy(line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let (command, argument) = text.split_once(' ').unwrap_or((text, ""));
        match command.to_ascii_uppercase().as_str() {
            "" => {} // an empty line: nothing to do
            "UPPER" => send_line(tx, &argument.to_uppercase()),
            "REVERSE" => send_line(tx, &argument.chars().rev().collect::<String>()),
            "TIME" => {
                let now = tx.now();
                let elapsed = now.duration_since(self.started.unwrap_or(now));
                send_line(
                    tx,
                    &format!("{:.3} s since you connected", elapsed.as_secs_f64()),
                );
            }
            "QUIT" => {
                send_line(tx, "BYE");
                // Closes once "BYE" has been written; anything written after this is dropped.
                tx.lose_connection();
                return false;
            }
            _ => send_line(tx, "ERR unknown command"),
        }
        true
    }
}

/// Writes `line` and the delimiter; `write_sequence` queues both to leave in one syscall.
fn send_line(tx: &mut dyn Transport, line: &str) {
    tx.write_sequence(&[line.as_bytes(), b"\r\n"]);
}

impl Protocol for Commands {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.started = Some(tx.now());
        send_line(tx, "HELLO commands: UPPER text, REVERSE text, TIME, QUIT");
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.lines.feed(data);
        // One chunk may hold no complete line, one, or several: take all that are complete.
        while let Some(event) = self.lines.next_event() {
            match event {
                Ok(LineEvent::Line(line)) => {
                    if !self.handle_line(&line, tx) {
                        break;
                    }
                }
                // Only in raw mode, which this protocol never switches to.
                Ok(LineEvent::Raw(_)) => {}
                Err(e) => {
                    // Twisted's default for an over-long line: drop the connection. Say why
                    // first; `lose_connection` still sends what was written before it.
                    send_line(tx, &format!("ERR {e}"));
                    tx.lose_connection();
                    break;
                }
            }
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut reactor = Reactor::new()?;
    let port = reactor.listen_tcp("127.0.0.1:8889", Commands::new)?;
    reactor.install_signal_handlers()?;
    println!("line protocol on {}; Ctrl-C to stop", port.address());
    reactor.run()?;
    Ok(())
}
