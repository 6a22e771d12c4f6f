//! [`Connection`]: the connection as a handler callback sees it, borrowing the client's
//! state and the transport for that call only. It opens channels, closes, starts timers, and
//! holds the sending primitives the [`Channel`](crate::Channel) handle (made by
//! `Connection::channel`, in `channel.rs`) and the driver write frames with.

use std::time::{Duration, Instant};

use spindle_protocols::amqp::frame;
use spindle_protocols::amqp::{
    BasicProperties, ChannelOpen, ConnectionClose, FieldTable, Method, ShortStr,
};
use spindle_reactor::{TimerId, Transport};

use crate::error::ClientError;
use crate::state::{ChannelPhase, ChannelState, Phase, State};

/// The connection as a handler callback sees it: open channels, close.
/// The connection as a handler callback sees it: open channels, close.
pub struct Connection<'a> {
    pub(crate) state: &'a mut State,
    pub(crate) tx: &'a mut dyn Transport,
}

impl std::fmt::Debug for Connection<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("phase", &self.state.phase)
            .field("channels", &self.state.channels.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a> Connection<'a> {
    /// `channel.open` on the lowest free channel number; returns it.
    /// [`on_channel_open`](crate::ConnectionHandler::on_channel_open) follows, but commands may be
    /// sent on the channel at once: the broker handles them in order.
    ///
    /// # Errors
    ///
    /// [`ClientError::NotOpen`], or [`ClientError::ChannelMax`] if all are in use.
    pub fn open_channel(&mut self) -> Result<u16, ClientError> {
        let max = self.state.channel_max;
        let free = (1..=max).find(|id| !self.state.channels.contains_key(id));
        let id = free.ok_or(ClientError::ChannelMax(max))?;
        self.open_channel_id(id)?;
        Ok(id)
    }

    pub(crate) fn open_channel_id(&mut self, id: u16) -> Result<(), ClientError> {
        if self.state.phase != Phase::Open {
            return Err(ClientError::NotOpen);
        }
        if self.state.channels.contains_key(&id) {
            return Err(ClientError::Protocol(format!(
                "channel {id} is already open"
            )));
        }
        self.send_method(id, &ChannelOpen::default().into())?;
        self.state.channels.insert(id, ChannelState::new());
        Ok(())
    }

    /// `connection.close`: closes the connection cleanly (pending output is sent first);
    /// [`on_closed`](crate::ConnectionHandler::on_closed) follows with `Ok`.
    pub fn close(&mut self) {
        if matches!(self.state.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        let close = ConnectionClose {
            reply_code: 200,
            reply_text: ShortStr::from_static("goodbye"),
            class_id: 0,
            method_id: 0,
        };
        let _ = self.send_method(0, &close.into());
        self.state.phase = Phase::Closing;
    }

    /// True unless publishing would be refused with [`ClientError::Paused`].
    pub fn can_publish(&self) -> bool {
        !self.state.paused
            && !self.state.blocked
            && self.tx.buffered() < self.state.config.max_buffered
    }

    /// The negotiated limits: channel-max, frame-max, heartbeat seconds.
    pub fn tuning(&self) -> (u16, u32, u16) {
        (
            self.state.channel_max,
            self.state.frame_max,
            self.state.heartbeat,
        )
    }

    /// The broker's `server_properties` (product, version, capabilities).
    pub fn server_properties(&self) -> &FieldTable {
        &self.state.server_properties
    }

    /// Starts a timer on the connection's reactor: after `delay`,
    /// [`on_timer`](crate::ConnectionHandler::on_timer) is called with the id returned here.
    /// This is how a handler waits (a worker "working", a rate limit, a deadline) without
    /// blocking the reactor, which would stall heartbeats and every other connection.
    pub fn call_later(&mut self, delay: Duration) -> TimerId {
        self.tx.call_later(delay)
    }

    /// Cancels a timer from [`call_later`](Self::call_later); false if it already fired.
    pub fn cancel_timer(&mut self, timer: TimerId) -> bool {
        self.tx.cancel_timer(timer)
    }

    /// The reactor's clock (the time the current event is handled at).
    pub fn now(&self) -> Instant {
        self.tx.now()
    }

    /// Records a refused publish; `on_writable` follows once publishing can go on. When only
    /// the output buffer is over the limit (no `pause_producing` came: the reactor may not even
    /// have flushed yet), the reactor is asked to call `resume_producing` once it has drained.
    pub(crate) fn publish_refused(&mut self) {
        self.state.want_writable = true;
        if !self.state.paused && !self.state.blocked {
            self.tx.resume_when_drained();
        }
    }

    pub(crate) fn check_channel(&self, id: u16) -> Result<(), ClientError> {
        if self.state.phase != Phase::Open {
            return Err(ClientError::NotOpen);
        }
        match self.state.channels.get(&id) {
            Some(ch) if ch.phase != ChannelPhase::Closing => Ok(()),
            _ => Err(ClientError::ChannelNotOpen(id)),
        }
    }

    pub(crate) fn send_method(&mut self, channel: u16, method: &Method) -> Result<(), ClientError> {
        frame::encode_method(channel, method, &mut self.state.out)?;
        self.tx.write_bytes(self.state.out.split().freeze());
        Ok(())
    }

    pub(crate) fn send_message(
        &mut self,
        channel: u16,
        method: &Method,
        properties: &BasicProperties,
        body: &[u8],
    ) -> Result<(), ClientError> {
        spindle_protocols::amqp::content::encode_message(
            channel,
            method,
            properties,
            body,
            self.state.frame_max,
            &mut self.state.out,
        )?;
        self.tx.write_bytes(self.state.out.split().freeze());
        Ok(())
    }
}
