//! One channel's publisher side, held by the connection: frames assembled into methods and
//! messages, publisher confirms waiting to be sent, a transaction's pending work, and whether
//! the channel is closing. Consumer-side state (deliveries, acks, prefetch) lives in the core,
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
    /// Confirms decided this turn, in order: (sequence number, ack or nack). Sent together at
    /// the end of the turn, contiguous acks as one `multiple`.
    pub(crate) confirms: Vec<(u64, bool)>,
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
            confirms: Vec::new(),
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

    /// The confirms to send now, coalesced: a run of acks becomes one `basic.ack` with
    /// `multiple` (every publish before it is settled too, since each is decided at once), a
    /// nack stays alone. Each item: (tag, multiple, ack).
    pub(crate) fn take_confirms(&mut self) -> Vec<(u64, bool, bool)> {
        let mut out: Vec<(u64, bool, bool)> = Vec::new();
        let mut run: Option<(u64, usize)> = None; // last tag of the current ack run, its length
        for (seq, ack) in self.confirms.drain(..) {
            if ack {
                run = Some(match run {
                    Some((_, n)) => (seq, n + 1),
                    None => (seq, 1),
                });
                continue;
            }
            if let Some((last, n)) = run.take() {
                out.push((last, n > 1, true));
            }
            out.push((seq, false, false));
        }
        if let Some((last, n)) = run {
            out.push((last, n > 1, true));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirms_coalesce_runs_of_acks_and_keep_nacks_apart() {
        let mut ch = Channel::new(1 << 20);
        ch.confirms = vec![
            (1, true),
            (2, true),
            (3, true),
            (4, false),
            (5, true),
            (6, false),
        ];
        assert_eq!(
            ch.take_confirms(),
            [
                (3, true, true),
                (4, false, false),
                (5, false, true),
                (6, false, false)
            ]
        );
        assert!(ch.take_confirms().is_empty());
    }
}
