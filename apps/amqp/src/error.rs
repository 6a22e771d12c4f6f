//! The client's errors: [`ServerError`] (a broker's `connection.close` or `channel.close`) and
//! [`ClientError`] (everything that ends a connection or refuses a command).

use std::fmt;
use std::time::Duration;

use spindle_protocols::amqp::{EncodeError, ShortStr};

/// A close sent by the broker: its reply code, its text, and the method that caused it.
///
/// Displays as RabbitMQ's tools print it: `404 NOT_FOUND - no queue 'x' in vhost '/'` (the
/// broker's text already starts with the code's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The reply code: 404, 403, 406, 320, ...
    pub code: u16,
    /// The broker's text.
    pub text: String,
    /// The class of the method that failed (0 if none).
    pub class_id: u16,
    /// The method that failed (0 if none).
    pub method_id: u16,
}

impl ServerError {
    pub(crate) fn new(code: u16, text: &ShortStr, class_id: u16, method_id: u16) -> Self {
        ServerError {
            code,
            text: String::from_utf8_lossy(text).into_owned(),
            class_id,
            method_id,
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

impl std::error::Error for ServerError {}

/// Why a connection ended badly, or why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The broker closed the connection (`connection.close`): bad credentials (403), a hard
    /// error (503, 504, 530, ...), a forced close (320).
    Server(ServerError),
    /// No frame from the broker for two heartbeat intervals.
    HeartbeatTimeout(Duration),
    /// The TCP connection could not be made.
    Connect(String),
    /// The TCP connection ended before the AMQP connection was closed.
    Lost(String),
    /// The broker sent something the protocol does not allow.
    Protocol(String),
    /// A name longer than 255 bytes, a table nested too deep, ...
    Encode(EncodeError),
    /// The broker offers no mechanism this client speaks (PLAIN).
    NoMechanism(String),
    /// A command on a channel that is not open (never opened, closed, or closed by the broker).
    ChannelNotOpen(u16),
    /// A command before the connection is open or after it started closing.
    NotOpen,
    /// Every channel number up to `channel-max` is in use.
    ChannelMax(u16),
    /// A publish refused for back-pressure: the output buffer is full, the reactor paused
    /// this producer, or the broker blocked the connection (`connection.blocked`). Nothing was
    /// queued; publish again from `on_writable`.
    Paused,
    /// A handler callback failed.
    Handler(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Server(e) => write!(f, "{e}"),
            ClientError::HeartbeatTimeout(d) => {
                write!(f, "missed heartbeats: no frame from the broker for {d:?}")
            }
            ClientError::Connect(e) => write!(f, "cannot connect: {e}"),
            ClientError::Lost(e) => write!(f, "connection lost: {e}"),
            ClientError::Protocol(e) => write!(f, "protocol error: {e}"),
            ClientError::Encode(e) => write!(f, "cannot encode: {e}"),
            ClientError::NoMechanism(m) => {
                write!(
                    f,
                    "the broker offers no PLAIN authentication (offers {m:?})"
                )
            }
            ClientError::ChannelNotOpen(ch) => write!(f, "channel {ch} is not open"),
            ClientError::NotOpen => f.write_str("the connection is not open"),
            ClientError::ChannelMax(max) => write!(f, "all {max} channels are in use"),
            ClientError::Paused => f.write_str("publishing is paused (back-pressure)"),
            ClientError::Handler(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<EncodeError> for ClientError {
    fn from(e: EncodeError) -> Self {
        ClientError::Encode(e)
    }
}

impl ClientError {
    /// The broker's reply code, if the broker closed the connection.
    pub fn reply_code(&self) -> Option<u16> {
        match self {
            ClientError::Server(e) => Some(e.code),
            _ => None,
        }
    }
}
