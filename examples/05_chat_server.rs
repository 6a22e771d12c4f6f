//! A chat server: state shared by all connections lives in the factory (an `Rc<RefCell<Room>>`
//! of connection ids and names, handed to each protocol it builds), and a protocol writes to
//! *other* connections with `tx.write_to(id, ..)`. Each user picks a name, then every line
//! they send goes to everyone else; joins and departures (from `connection_lost`) are announced.
//!
//! Run it: `cargo run --example chat_server`, then `nc 127.0.0.1 8890` (or
//! `scripts/tcp-client 127.0.0.1 8890` where there is no `nc`) in two or more terminals.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use spindle::protocols::lines::{LineEvent, LineReceiver};
use spindle::reactor::{
    Address, ConnId, DisconnectReason, Factory, Protocol, ProtocolResult, Reactor, Transport,
};

const MAX_LINE: usize = 1024;
const MAX_NAME: usize = 32;
const MAX_USERS: usize = 100;

/// What all connections share: who is in the room, by connection id.
#[derive(Default)]
struct Room {
    users: BTreeMap<ConnId, String>,
}

impl Room {
    /// Sends `line` to every user but `from`. `write_to` only queues bytes on the other
    /// connections: it never calls into their protocols, so holding the `RefCell` borrow across
    /// it is safe.
    fn broadcast(&self, from: ConnId, line: &str, tx: &mut dyn Transport) {
        let line = format!("{line}\r\n");
        for &id in self.users.keys().filter(|&&id| id != from) {
            tx.write_to(id, line.as_bytes());
        }
    }
}

/// One connection: first asks for a name, then relays chat lines.
struct Chat {
    room: Rc<RefCell<Room>>,
    lines: LineReceiver,
    /// `None` until the user has picked a name.
    name: Option<String>,
}

impl Chat {
    fn handle_line(&mut self, line: &str, tx: &mut dyn Transport) {
        let id = tx.id();
        match &self.name {
            None => self.choose_name(line.trim(), tx),
            Some(name) => self
                .room
                .borrow()
                .broadcast(id, &format!("<{name}> {line}"), tx),
        }
    }

    fn choose_name(&mut self, name: &str, tx: &mut dyn Transport) {
        let mut room = self.room.borrow_mut();
        if name.is_empty() || name.len() > MAX_NAME || name.contains(char::is_whitespace) {
            tx.write(b"Pick a name of 1 to 32 characters, no spaces:\r\n");
        } else if room.users.values().any(|n| n == name) {
            tx.write(b"Name taken, please choose another.\r\n");
        } else {
            let here: Vec<&str> = room.users.values().map(String::as_str).collect();
            let here = if here.is_empty() {
                "nobody else yet".to_string()
            } else {
                here.join(", ")
            };
            tx.write(format!("Welcome, {name}! Here: {here}\r\n").as_bytes());
            room.broadcast(tx.id(), &format!("* {name} has joined"), tx);
            room.users.insert(tx.id(), name.to_string());
            self.name = Some(name.to_string());
        }
    }
}

impl Protocol for Chat {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(b"What's your name?\r\n");
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.lines.feed(data);
        while let Some(event) = self.lines.next_event() {
            match event {
                Ok(LineEvent::Line(line)) => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.strip_suffix('\r').unwrap_or(&text);
                    self.handle_line(text, tx);
                }
                Ok(LineEvent::Raw(_)) => {}
                Err(e) => {
                    tx.write(format!("ERR {e}\r\n").as_bytes());
                    tx.lose_connection();
                    break;
                }
            }
        }
        Ok(())
    }

    fn connection_lost(&mut self, _reason: &DisconnectReason, tx: &mut dyn Transport) {
        // Writes to this connection are ignored now, but writes to the others still work.
        if let Some(name) = self.name.take() {
            let mut room = self.room.borrow_mut();
            room.users.remove(&tx.id());
            room.broadcast(tx.id(), &format!("* {name} has left"), tx);
        }
    }
}

/// The factory: owns the room, gives each new protocol a handle to it, and refuses
/// connections when the room is full (returning `None` closes the new socket at once).
struct ChatFactory {
    room: Rc<RefCell<Room>>,
}

impl Factory for ChatFactory {
    fn build_protocol(&mut self, peer: &Address) -> Option<Box<dyn Protocol>> {
        if self.room.borrow().users.len() >= MAX_USERS {
            println!("refusing {peer}: the room is full");
            return None;
        }
        println!("connection from {peer}");
        Some(Box::new(Chat {
            room: self.room.clone(),
            lines: LineReceiver::with_delimiter(b"\n").with_max_length(MAX_LINE),
            name: None,
        }))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut reactor = Reactor::new()?;
    let factory = ChatFactory {
        room: Rc::new(RefCell::new(Room::default())),
    };
    let port = reactor.listen_tcp("127.0.0.1:8890", factory)?;
    reactor.install_signal_handlers()?;
    println!("chat server on {}; Ctrl-C to stop", port.address());
    reactor.run()?;
    Ok(())
}
