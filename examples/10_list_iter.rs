//! The seed tutorial's incremental list iterator, event-driven: instead of fetching a huge list
//! at once, ask `LLEN`, then `LINDEX 0`, `LINDEX 1`… one at a time, each request sent when the
//! previous reply arrives — the callback style of a reactor program, where the Python original
//! used a generator.
//!
//! Run it: `cargo run --example list_iter` (an in-process `spindle kv` with a list `pp` of five
//! items), or `cargo run --example list_iter -- 127.0.0.1:6379 pp` for a list on a running
//! server.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use spindle::kv;
use spindle::protocols::resp::{decode_frame, Frame, Limits};
use spindle::reactor::{
    Address, ClientFactory, Connector, DisconnectReason, Protocol, ProtocolError, ProtocolResult,
    Reactor, Transport,
};

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

/// Where the iteration is.
enum Step {
    /// Waiting for `LLEN`.
    Length,
    /// Waiting for `LINDEX index` of `len` items.
    Item { index: usize, len: usize },
}

struct ListIter {
    name: String,
    step: Step,
    inbox: BytesMut,
    items: Rc<RefCell<Vec<String>>>,
}

impl Protocol for ListIter {
    fn connection_made(&mut self, tx: &mut dyn Transport) -> ProtocolResult {
        tx.write(&command(&["LLEN", &self.name]));
        Ok(())
    }

    fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
        self.inbox.extend_from_slice(data);
        while let Some(frame) = decode_frame(&mut self.inbox, &Limits::default())? {
            let next = match (&self.step, frame) {
                (Step::Length, Frame::Integer(len)) => (0, len.max(0) as usize),
                (Step::Item { index, len }, Frame::Bulk(item)) => {
                    self.items
                        .borrow_mut()
                        .push(String::from_utf8_lossy(&item).into_owned());
                    (index + 1, *len)
                }
                (_, other) => {
                    return Err(ProtocolError::msg(format!("unexpected reply {other:?}")))
                }
            };
            let (index, len) = next;
            if index < len {
                tx.write(&command(&["LINDEX", &self.name, &index.to_string()]));
                self.step = Step::Item { index, len };
            } else {
                tx.lose_connection();
            }
        }
        Ok(())
    }
}

struct Factory {
    name: String,
    items: Rc<RefCell<Vec<String>>>,
}

impl ClientFactory for Factory {
    fn build_protocol(&mut self, _peer: &Address) -> Box<dyn Protocol> {
        Box::new(ListIter {
            name: self.name.clone(),
            step: Step::Length,
            inbox: BytesMut::new(),
            items: self.items.clone(),
        })
    }

    fn client_connection_failed(&mut self, reason: &std::io::Error, connector: &mut Connector) {
        eprintln!("connection failed: {reason}");
        connector.stop_reactor();
    }

    fn client_connection_lost(&mut self, _reason: &DisconnectReason, connector: &mut Connector) {
        connector.stop_reactor();
    }
}

/// Iterates list `name` at `addr`, or a demo list in an in-process `spindle kv`.
fn run(
    addr: Option<std::net::SocketAddr>,
    name: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut reactor = Reactor::new()?;
    let addr = match addr {
        Some(a) => a,
        None => {
            let (port, server) = kv::listen(
                &mut reactor,
                "127.0.0.1:0".parse()?,
                kv::config::Config::default(),
            )?;
            // Fill the demo list directly through the store's command runner.
            let mut s = server.borrow_mut();
            let mut client = s.new_client("demo".into());
            let args: Vec<Bytes> = ["RPUSH", name, "11", "22", "33", "44", "55"]
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect();
            let mut out = BytesMut::new();
            let now = reactor.now();
            s.execute(&mut client, &args, &mut out, now, None);
            port.socket_addr().ok_or("no address")?
        }
    };
    let items = Rc::new(RefCell::new(Vec::new()));
    let factory = Factory {
        name: name.to_string(),
        items: items.clone(),
    };
    reactor.connect_tcp(addr, factory, Some(Duration::from_secs(5)))?;
    reactor.run()?;
    let got = items.borrow().clone();
    Ok(got)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().map(|a| a.parse()).transpose()?;
    let name = args.next().unwrap_or_else(|| "pp".to_string());
    for item in run(addr, &name)? {
        println!("{item}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn iterates_the_list_one_lindex_at_a_time() {
        assert_eq!(
            super::run(None, "pp").unwrap(),
            ["11", "22", "33", "44", "55"]
        );
    }
}
