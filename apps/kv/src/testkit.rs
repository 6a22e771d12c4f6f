//! The test harness of the store's command tests: a fresh server, one client (more on
//! demand), command lines run through `Engine::execute`, replies decoded to frames, and a
//! clock that tests move by hand. Compiled for tests only.

#![allow(dead_code)]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
pub use spindle_protocols::resp::Frame;
use spindle_protocols::resp::{decode_frame, Limits, Version};

use crate::client::Client;
use crate::config::Config;
use crate::engine::Engine;

/// A server and a client.
pub struct T {
    pub server: Engine,
    pub client: Client,
    /// The reactor time commands see; [`advance`](T::advance) moves it.
    pub now: Instant,
}

impl T {
    pub fn new() -> Self {
        let now = Instant::now();
        let mut server = Engine::new(Config::default(), now);
        let client = server.new_client("test".into());
        T {
            server,
            client,
            now,
        }
    }

    /// A harness whose client speaks RESP3.
    pub fn with_resp3() -> Self {
        let mut t = T::new();
        t.resp3();
        t
    }

    /// Switches the client to RESP3.
    pub fn resp3(&mut self) {
        self.client.resp = Version::Resp3;
    }

    /// Runs a command whose reply is an array of bulk strings; returns them in order.
    pub fn members(&mut self, line: &str) -> Vec<String> {
        match self.run(line) {
            Frame::Array(items) => items
                .into_iter()
                .map(|f| match f {
                    Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{line}: {other:?}"),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, d: std::time::Duration) {
        self.now += d;
    }

    /// Another client of the same server (for transactions and pub/sub), with a fake
    /// connection id `index`.
    pub fn other(&mut self, index: u32) -> Client {
        let mut c = self.server.new_client(format!("other{index}"));
        c.conn = Some(spindle_reactor::ConnId::from_parts(index, 1));
        c
    }

    /// Runs a command line as `client` instead of the harness's own client.
    pub fn run_as(&mut self, client: &mut Client, line: &str) -> Frame {
        std::mem::swap(&mut self.client, client);
        let f = self.run(line);
        std::mem::swap(&mut self.client, client);
        f
    }

    /// Runs a command line split on spaces.
    pub fn run(&mut self, line: &str) -> Frame {
        self.args(&line.split(' ').map(str::as_bytes).collect::<Vec<_>>())
    }

    /// Runs a command given as raw arguments.
    pub fn args(&mut self, args: &[&[u8]]) -> Frame {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut out = BytesMut::new();
        self.server
            .execute(&mut self.client, &args, &mut out, self.now, None);
        let frame = decode_frame(&mut out, &Limits::default())
            .expect("valid reply")
            .expect("a whole reply");
        assert!(out.is_empty(), "exactly one reply to {args:?}");
        frame
    }

    /// Runs each `(line, expected)` in order.
    pub fn check(&mut self, cases: &[(&str, Frame)]) {
        for (line, want) in cases {
            assert_eq!(&self.run(line), want, "{line}");
        }
    }
}

pub fn b(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

pub fn raw(s: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s))
}

pub fn i(n: i64) -> Frame {
    Frame::Integer(n)
}

pub fn e(s: &str) -> Frame {
    Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
}

pub fn ok() -> Frame {
    Frame::Simple(Bytes::from_static(b"OK"))
}

pub fn a(items: &[&str]) -> Frame {
    Frame::Array(items.iter().map(|s| b(s)).collect())
}

pub fn ints(items: &[i64]) -> Frame {
    Frame::Array(items.iter().map(|&n| i(n)).collect())
}

pub fn arr(items: Vec<Frame>) -> Frame {
    Frame::Array(items)
}

/// The bulk strings of an array or set reply, sorted.
pub fn sorted(f: Frame) -> Vec<String> {
    let items = match f {
        Frame::Array(v) | Frame::Set(v) => v,
        other => panic!("not a collection: {other:?}"),
    };
    let mut out: Vec<String> = items
        .into_iter()
        .map(|x| match x {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INT: &str = "ERR value is not an integer or out of range";
pub const SYNTAX: &str = "ERR syntax error";
