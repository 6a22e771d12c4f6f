//! A custom line-based protocol: bytes arrive in arbitrary chunks, so the protocol feeds them to
//! a `LineReceiver` (a sans-IO codec) and acts on each complete line. Commands: `UPPER text`,
//! `REVERSE text`, `TIME` (seconds since you connected, from the reactor's clock), `QUIT`.
//! Anything else gets `ERR unknown command`; a line over 256 bytes gets an error and a hang-up.
//!
//! Run it: `cargo run --example line_protocol`, then `nc 127.0.0.1 8889` (or
//! `scripts/tcp-client 127.0.0.1 8889` where there is no `nc`) and type commands.

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

/// The protocol tested without a socket: a `StringTransport` records what it writes, and input
/// is fed whole, one byte at a time and split at every offset — the lines must not change.
#[cfg(test)]
mod tests {
    use super::*;
    use spindle::reactor::testing::StringTransport;
    use std::time::Duration;

    fn session(chunks: &[&[u8]]) -> (String, bool) {
        let mut tx = StringTransport::new();
        let mut p = Commands::new();
        p.connection_made(&mut tx).unwrap();
        tx.clear();
        for chunk in chunks {
            p.data_received(chunk, &mut tx).unwrap();
        }
        (
            String::from_utf8(tx.written().to_vec()).unwrap(),
            tx.is_disconnecting(),
        )
    }

    #[test]
    fn commands_answer_the_same_however_the_input_is_cut() {
        let input = b"upper hello\nREVERSE abc\r\nnope\n\nQUIT\nUPPER ignored\n";
        let expected = "HELLO\r\ncba\r\nERR unknown command\r\nBYE\r\n";
        assert_eq!(session(&[input]), (expected.to_string(), true));
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(session(&bytes), (expected.to_string(), true));
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            assert_eq!(
                session(&[a, b]),
                (expected.to_string(), true),
                "split at {at}"
            );
        }
    }

    #[test]
    fn an_over_long_line_gets_an_error_and_a_hang_up() {
        let long = vec![b'x'; MAX_LINE + 10];
        let (out, closing) = session(&[&long]);
        assert!(out.starts_with("ERR line length"), "{out}");
        assert!(closing);
    }

    #[test]
    fn time_comes_from_the_transports_clock() {
        let mut tx = StringTransport::new();
        let mut p = Commands::new();
        p.connection_made(&mut tx).unwrap();
        tx.clear();
        tx.clock().advance(Duration::from_millis(1500));
        p.data_received(b"TIME\n", &mut tx).unwrap();
        assert_eq!(tx.written(), b"1.500 s since you connected\r\n");
    }
}
