//! The client's errors: [`ServerError`] (a broker's `connection.close` or `channel.close`) and
//! [`ClientError`] (everything that ends a connection or refuses a command), and the hint a
//! program prints beside an error that means no broker is listening.

use std::fmt;
use std::time::Duration;

use spindle_protocols::amqp::{EncodeError, ShortStr};

/// What to tell a user whose broker could not be reached: [`ClientError::hint`] returns it,
/// the examples and `spindle amqp` print it under the error.
pub const BROKER_HINT: &str =
    "is a broker running? start one with: rabbitmq-server (or set AMQP_URI to a running broker)";

/// An error as a program prints it: its text and, for a connection that could not be made,
/// the hint on the next line (`cannot connect to 127.0.0.1:5672: connection refused` /
/// `  is a broker running? …`). Takes any error, so a program's `main` can pass whatever its
/// body failed with; only a [`ClientError`] carries a hint.
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    match e.downcast_ref::<ClientError>().and_then(ClientError::hint) {
        Some(hint) => format!("{e}\n  {hint}"),
        None => e.to_string(),
    }
}

/// A close sent by the broker: its reply code, its text, and the method that caused it.
///
/// Displays as RabbitMQ's tools print it: `404 NOT_FOUND - no queue 'x' in vhost '/'` (the
/// broker's text already starts with the code's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {text}")]
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

/// Why a connection ended badly, or why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The broker closed the connection (`connection.close`): bad credentials (403), a hard
    /// error (503, 504, 530, ...), a forced close (320).
    #[error("{0}")]
    Server(ServerError),
    /// No frame from the broker for two heartbeat intervals.
    #[error("missed heartbeats: no frame from the broker for {0:?}")]
    HeartbeatTimeout(Duration),
    /// The TCP connection could not be made: `cannot connect to 127.0.0.1:5672: connection
    /// refused`.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// The address tried: the resolved `ip:port`, else the URI's `host:port`.
        address: String,
        /// Why, in lower case: `connection refused`, `connect timed out`, ...
        reason: String,
    },
    /// The TCP connection ended before the AMQP connection was closed.
    #[error("connection lost: {0}")]
    Lost(String),
    /// The broker sent something the protocol does not allow.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A name longer than 255 bytes, a table nested too deep, ...
    #[error("cannot encode: {0}")]
    Encode(EncodeError),
    /// The broker offers no mechanism this client speaks (PLAIN).
    #[error("the broker offers no PLAIN authentication (offers {0:?})")]
    NoMechanism(String),
    /// A command on a channel that is not open (never opened, closed, or closed by the broker).
    #[error("channel {0} is not open")]
    ChannelNotOpen(u16),
    /// A command before the connection is open or after it started closing.
    #[error("the connection is not open")]
    NotOpen,
    /// Every channel number up to `channel-max` is in use.
    #[error("all {0} channels are in use")]
    ChannelMax(u16),
    /// A publish refused for back-pressure: the output buffer is full, the reactor paused
    /// this producer, or the broker blocked the connection (`connection.blocked`). Nothing was
    /// queued; publish again from `on_writable`.
    #[error("publishing is paused (back-pressure)")]
    Paused,
    /// A handler callback failed.
    #[error("{0}")]
    Handler(String),
}

impl From<EncodeError> for ClientError {
    fn from(e: EncodeError) -> Self {
        ClientError::Encode(e)
    }
}

impl ClientError {
    /// A failed TCP connection to `address`.
    pub(crate) fn connect(address: impl fmt::Display, reason: String) -> Self {
        ClientError::Connect {
            address: address.to_string(),
            reason,
        }
    }

    /// The broker's reply code, if the broker closed the connection.
    pub fn reply_code(&self) -> Option<u16> {
        match self {
            ClientError::Server(e) => Some(e.code),
            _ => None,
        }
    }

    /// A line of advice to print under the error, when there is one: for a connection that
    /// could not be made, [`BROKER_HINT`].
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ClientError::Connect { .. } => Some(BROKER_HINT),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn a_refused_connection_names_its_address_and_hints_at_a_broker() {
        let refused = io::Error::from_raw_os_error(111);
        let e = ClientError::connect("127.0.0.1:5672", spindle_reactor::io_reason(&refused));
        assert_eq!(
            e.to_string(),
            "cannot connect to 127.0.0.1:5672: connection refused"
        );
        assert_eq!(e.hint(), Some(BROKER_HINT));
        assert_eq!(ClientError::NotOpen.hint(), None);
        assert_eq!(
            report(&e),
            format!("cannot connect to 127.0.0.1:5672: connection refused\n  {BROKER_HINT}")
        );
        let other: Box<dyn std::error::Error> = "no such queue".into();
        assert_eq!(report(&*other), "no such queue");
    }
}
