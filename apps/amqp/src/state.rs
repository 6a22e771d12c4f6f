//! The client's state, apart from the handler so that both can be borrowed at once: the
//! connection's ([`State`], [`Phase`]) and each channel's ([`ChannelState`], [`ChannelPhase`],
//! [`Confirms`]). The [`Connection`](crate::Connection) and [`Channel`](crate::Channel)
//! handles borrow it for one callback; the driver owns it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::BytesMut;
use spindle_protocols::amqp::{ContentAssembler, FieldTable, FrameReceiver};
use spindle_reactor::TimerId;

use crate::config::Config;
use crate::error::ClientError;

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    AwaitStart,
    AwaitTune,
    AwaitOpenOk,
    Open,
    /// We sent `connection.close` and wait for `close-ok`.
    Closing,
    Closed,
}

/// The connection's state.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) phase: Phase,
    pub(crate) rx: FrameReceiver,
    /// Scratch buffer frames are encoded into before they go to the transport.
    pub(crate) out: BytesMut,
    pub(crate) channel_max: u16,
    pub(crate) frame_max: u32,
    pub(crate) heartbeat: u16,
    pub(crate) heartbeat_timer: Option<TimerId>,
    pub(crate) last_received: Option<Instant>,
    pub(crate) channels: BTreeMap<u16, ChannelState>,
    /// The reactor paused us (`pause_producing`).
    pub(crate) paused: bool,
    /// The broker blocked us (`connection.blocked`).
    pub(crate) blocked: bool,
    /// A publish was refused: call `on_writable` once publishing can go on.
    pub(crate) want_writable: bool,
    /// Why the connection ends, when it ends badly.
    pub(crate) error: Option<ClientError>,
    pub(crate) server_properties: FieldTable,
}

impl State {
    /// Before the protocol header is sent: nothing negotiated yet.
    pub(crate) fn new(config: Config) -> Self {
        State {
            config,
            phase: Phase::AwaitStart,
            rx: FrameReceiver::new(),
            out: BytesMut::new(),
            channel_max: 0,
            frame_max: 0,
            heartbeat: 0,
            heartbeat_timer: None,
            last_received: None,
            channels: BTreeMap::new(),
            paused: false,
            blocked: false,
            want_writable: false,
            error: None,
            server_properties: FieldTable::new(),
        }
    }
}

/// Where a channel is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelPhase {
    /// `channel.open` sent.
    Opening,
    /// `channel.open-ok` received.
    Open,
    /// We sent `channel.close`; frames other than `close-ok` are dropped.
    Closing,
}

/// One channel's state.
#[derive(Debug)]
pub(crate) struct ChannelState {
    pub(crate) phase: ChannelPhase,
    /// Joins a message's method, header and body frames.
    pub(crate) assembler: ContentAssembler,
    /// In confirm mode: the sequence number of the next publish, and those not yet confirmed.
    pub(crate) confirms: Option<Confirms>,
    /// Consumers started on this channel, numbering their tags.
    pub(crate) consumers: u32,
}

impl ChannelState {
    pub(crate) fn new() -> Self {
        ChannelState {
            phase: ChannelPhase::Opening,
            assembler: ContentAssembler::new(),
            confirms: None,
            consumers: 0,
        }
    }
}

/// A channel's publisher confirms: publishes are numbered from 1, as the broker counts them.
#[derive(Debug)]
pub(crate) struct Confirms {
    next: u64,
    pub(crate) unconfirmed: BTreeSet<u64>,
}

impl Confirms {
    pub(crate) fn new() -> Self {
        Confirms {
            next: 1,
            unconfirmed: BTreeSet::new(),
        }
    }

    /// Numbers a publish and waits for its confirm; returns its sequence number.
    pub(crate) fn published(&mut self) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.unconfirmed.insert(seq);
        seq
    }

    /// The publishes a `basic.ack`/`basic.nack` for `tag` settles, in order.
    pub(crate) fn settle(&mut self, tag: u64, multiple: bool) -> Vec<u64> {
        if multiple {
            let rest = self.unconfirmed.split_off(&(tag.saturating_add(1)));
            let done = std::mem::replace(&mut self.unconfirmed, rest);
            done.into_iter().collect()
        } else if self.unconfirmed.remove(&tag) {
            vec![tag]
        } else {
            Vec::new()
        }
    }
}
