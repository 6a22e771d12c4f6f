//! A RESP client as a reactor protocol: it connects, pipelines a few commands in one write,
//! prints each reply as it is decoded, then subscribes to a channel and prints the messages
//! that a second connection publishes. It is the client side of the reactor at work: a
//! `ClientFactory`, a sans-IO codec (`resp::decode_frame`) fed whatever bytes arrive, and
//! two connections cooperating through shared state.
//!
//! Run it: `cargo run --example resp_client` starts its own `spindle kv` on a free port in the
//! same reactor; `cargo run --example resp_client -- 127.0.0.1:6379` talks to a running
//! server instead (spindle kv or redis-server).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spindle::kv;
use spindle::protocols::resp::{decode_frame, Frame, Limits};
use spindle::reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Protocol, ProtocolResult, Reactor,
    Transport,
};

/// Encodes one command as a RESP array of bulk strings.
fn command(words: &[&str]) -> Vec<u8> {
    let mut out = BytesMut::new();
    Frame::Array(
        words
            .iter()
            .map(|w| Frame::Bulk(Bytes::copy_from_slice(w.as_bytes())))
            .collect(),
    )
    .encode(&mut out);
    out.to_vec()
}

/// Prints a reply the way redis-cli does, roughly.
fn show(f: &Frame) -> String {
    match f {
        Frame::Simple(s) => String::from_utf8_lossy(s).into_owned(),
        Frame::Error(e) => format!("(error) {}", String::from_utf8_lossy(e)),
        Frame::Integer(n) => format!("(integer) {n}"),
        Frame::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Frame::Null => "(nil)".into(),
        Frame::Array(items) | Frame::Push(items) | Frame::Set(items) => {
            let inner: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", inner.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// What both connections share: the lines printed, and how far the demo has got.
#[derive(Default)]
struct Shared {
    lines: Vec<String>,
    subscribed: bool,
    messages: usize,
}

/// The first connection: pipeline, then subscribe.
struct Commands {
    shared: Rc<RefCell<Shared>>,
    inbox: BytesMut,
    replies: usize,
}

const PIPELINE: &[&[&str]] = &[
    &["SET", "greeting", "hello"],
    &["GET", "greeting"],
    &["DEL", "pp"],
    &["RPUSH", "pp", "a", "b", "c"],
    &["LRANGE", "pp", "0", "-1"],
    &["SUBSCRIBE", "news"],
];

impl Protocol for Commands {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        // Every command queued in this callback leaves in one write.
        for c in PIPELINE {
            tx.write(&command(c));
        }
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.inbox.extend_from_slice(data);
        while let Some(frame) = decode_frame(&mut self.inbox, &Limits::default())? {
            let mut shared = self.shared.borrow_mut();
            self.replies += 1;
            if self.replies <= PIPELINE.len() {
                let sent = PIPELINE[self.replies - 1].join(" ");
                shared.lines.push(format!("{sent} -> {}", show(&frame)));
                if self.replies == PIPELINE.len() {
                    shared.subscribed = true;
                }
            } else {
                shared.lines.push(format!("message: {}", show(&frame)));
                shared.messages += 1;
                if shared.messages == 2 {
                    tx.lose_connection();
                }
            }
        }
        Ok(())
    }
}

/// The second connection: publishes two messages once the first has subscribed.
struct Publisher {
    shared: Rc<RefCell<Shared>>,
    inbox: BytesMut,
}

impl Publisher {
    fn publish_when_ready(&mut self, tx: &mut dyn Transport) {
        if self.shared.borrow().subscribed {
            tx.write(&command(&["PUBLISH", "news", "first"]));
            tx.write(&command(&["PUBLISH", "news", "second"]));
        } else {
            // Not subscribed yet: look again shortly (a reactor timer, not a sleep).
            tx.call_later(Duration::from_millis(5));
        }
    }
}

impl Protocol for Publisher {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        self.publish_when_ready(tx);
        Ok(())
    }

    fn timer_fired(
        &mut self,
        _id: spindle::reactor::TimerId,
        tx: &mut dyn Transport,
    ) -> ProtocolResult {
        self.publish_when_ready(tx);
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.inbox.extend_from_slice(data);
        let mut published = 0;
        while let Some(frame) = decode_frame(&mut self.inbox, &Limits::default())? {
            self.shared
                .borrow_mut()
                .lines
                .push(format!("PUBLISH news -> {}", show(&frame)));
            published += 1;
        }
        if published > 0 && self.shared.borrow().messages >= 2 {
            tx.lose_connection();
        }
        Ok(())
    }
}

/// Builds either connection; stops the reactor when the subscriber's connection ends.
struct Factory {
    shared: Rc<RefCell<Shared>>,
    publisher: bool,
}

impl ClientFactory for Factory {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        let shared = self.shared.clone();
        if self.publisher {
            Box::new(Publisher {
                shared,
                inbox: BytesMut::new(),
            })
        } else {
            Box::new(Commands {
                shared,
                inbox: BytesMut::new(),
                replies: 0,
            })
        }
    }

    fn client_connection_failed(&mut self, reason: &std::io::Error, connector: &mut Connector) {
        self.shared
            .borrow_mut()
            .lines
            .push(format!("connection failed: {reason}"));
        connector.stop_reactor();
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        if !self.publisher {
            connector.stop_reactor();
        }
    }
}

/// Runs the demo against `addr`, or against an in-process `spindle kv` when `None`.
fn run(addr: Option<std::net::SocketAddr>) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut reactor = Reactor::new()?;
    let addr = match addr {
        Some(a) => a,
        None => {
            let (port, _) = kv::listen(
                &mut reactor,
                "127.0.0.1:0".parse()?,
                kv::config::Config::default(),
            )?;
            port.socket_addr().ok_or("no address")?
        }
    };
    let shared = Rc::new(RefCell::new(Shared::default()));
    let timeout = Some(Duration::from_secs(5));
    reactor.connect_tcp(
        addr,
        Factory {
            shared: shared.clone(),
            publisher: false,
        },
        timeout,
    )?;
    reactor.connect_tcp(
        addr,
        Factory {
            shared: shared.clone(),
            publisher: true,
        },
        timeout,
    )?;
    reactor.run()?;
    let lines = std::mem::take(&mut shared.borrow_mut().lines);
    Ok(lines)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).map(|a| a.parse()).transpose()?;
    for line in run(addr)? {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn pipelines_then_receives_published_messages() {
        let lines = super::run(None).unwrap();
        let has = |l: &str| lines.iter().any(|x| x == l);
        assert!(has("SET greeting hello -> OK"), "{lines:?}");
        assert!(has("GET greeting -> \"hello\""), "{lines:?}");
        assert!(has("LRANGE pp 0 -1 -> [\"a\", \"b\", \"c\"]"), "{lines:?}");
        assert!(
            has("SUBSCRIBE news -> [\"subscribe\", \"news\", (integer) 1]"),
            "{lines:?}"
        );
        assert!(
            has("message: [\"message\", \"news\", \"first\"]"),
            "{lines:?}"
        );
        assert!(
            has("message: [\"message\", \"news\", \"second\"]"),
            "{lines:?}"
        );
    }
}
