//! One channel's publisher side, held by the connection: frames assembled into methods and
//! messages, publish numbering for confirms (the confirms themselves wait in the core), a
//! transaction's pending work, and whether the channel is closing. Consumer-side state (deliveries, acks, prefetch) lives in the core,
//! which every connection shares.

use bytes::Bytes;
use spindle_protocols::amqp::{
    AmqpError, BasicProperties, Command, ContentAssembler, FramePayload, ShortStr,
};

/// A publish or settlement held back by a transaction until `tx.commit`.
#[derive(Debug)]
pub(crate) enum TxWork {
    /// `basic.publish` with its content.
    Publish {
        exchange: ShortStr,
        routing_key: ShortStr,
        mandatory: bool,
        properties: Box<BasicProperties>,
        body: Bytes,
    },
    /// `basic.ack`.
    Ack { tag: u64, multiple: bool },
    /// `basic.nack` / `basic.reject`.
    Nack {
        tag: u64,
        multiple: bool,
        requeue: bool,
    },
}

/// The connection's state for one open channel.
#[derive(Debug)]
pub(crate) struct Channel {
    assembler: ContentAssembler,
    /// `confirm.select` was sent: publishes are numbered and confirmed.
    pub(crate) confirming: bool,
    /// The last publish sequence number given.
    pub(crate) last_publish: u64,
    /// `tx.select` was sent: work waits for `tx.commit`.
    pub(crate) tx: Option<Vec<TxWork>>,
    /// This side sent `channel.close` and waits for `close-ok`; other frames are dropped.
    pub(crate) closing: bool,
}

impl Channel {
    /// A fresh channel whose messages may carry at most `max_body` bytes.
    pub(crate) fn new(max_body: u64) -> Channel {
        Channel {
            assembler: ContentAssembler::new().with_max_body_size(max_body),
            confirming: false,
            last_publish: 0,
            tx: None,
            closing: false,
        }
    }

    /// Feeds one frame; a method or a complete message comes out when there is one.
    pub(crate) fn frame(&mut self, payload: FramePayload) -> Result<Option<Command>, AmqpError> {
        self.assembler.handle(payload)
    }

    /// Numbers a publish, when confirming: its sequence number.
    pub(crate) fn next_publish(&mut self) -> Option<u64> {
        self.confirming.then(|| {
            self.last_publish += 1;
            self.last_publish
        })
    }
}
