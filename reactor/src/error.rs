//! The reactor's error types: why a connection ended, what a protocol callback may fail with,
//! and what a reactor call may fail with.

use std::fmt;
use std::io;

/// Why a connection ended; handed to [`Protocol::connection_lost`](crate::Protocol::connection_lost)
/// and [`ClientFactory::client_connection_lost`](crate::ClientFactory::client_connection_lost).
///
/// It tells a clean close from an error from an abort, as Twisted's `ConnectionDone`,
/// `ConnectionLost` and `ConnectionAborted` do.
#[derive(Debug)]
pub enum DisconnectReason {
    /// The connection was closed cleanly: by [`lose_connection`](crate::Transport::lose_connection)
    /// once the output was flushed, or by the peer closing its side (end of stream).
    Done,
    /// The connection failed: a read or write returned this error (reset by peer, broken pipe…).
    Lost(io::Error),
    /// The connection was closed by [`abort_connection`](crate::Transport::abort_connection)
    /// (or a reactor stop that ran out of time), dropping unsent output.
    Aborted,
    /// A protocol callback returned an error or panicked; the connection was aborted.
    Protocol(String),
}

impl DisconnectReason {
    /// True for [`DisconnectReason::Done`], the clean close.
    pub fn is_clean(&self) -> bool {
        matches!(self, DisconnectReason::Done)
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Done => f.write_str("connection closed cleanly"),
            DisconnectReason::Lost(e) => write!(f, "connection lost: {e}"),
            DisconnectReason::Aborted => f.write_str("connection aborted"),
            DisconnectReason::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

/// The error a protocol callback returns to say "this connection cannot go on".
///
/// The reactor logs it at `warn`, aborts the connection and calls `connection_lost` with
/// [`DisconnectReason::Protocol`]. Any error type converts into it with `?`, so a protocol can
/// use its codec's own error enum. (It deliberately does not implement `std::error::Error`
/// itself, which is what makes that blanket conversion possible.)
pub struct ProtocolError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl ProtocolError {
    /// A protocol error from a plain message.
    pub fn msg(message: impl Into<String>) -> Self {
        ProtocolError(message.into().into())
    }

    /// The underlying error.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ProtocolError {
    fn from(e: E) -> Self {
        ProtocolError(Box::new(e))
    }
}

impl fmt::Debug for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What every protocol callback returns.
pub type ProtocolResult = Result<(), ProtocolError>;

/// Errors of reactor calls (`listen_*`, `connect_*`, `run`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What the reactor was doing.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An address could not be parsed or resolved.
    #[error("bad address {0:?}")]
    BadAddress(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// An io error's text as a user reads it: without the `(os error N)` Rust adds to the
/// system's, starting in lower case as the rest of our messages do (`Connection refused (os
/// error 111)` becomes `connection refused`), for messages such as
/// `cannot connect to 127.0.0.1:5672: connection refused`.
pub fn io_reason(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        return "connection refused".into();
    }
    let text = e.to_string();
    let text = match (e.raw_os_error(), text.rsplit_once(" (os error ")) {
        (Some(_), Some((text, _))) => text,
        _ => text.as_str(),
    };
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        // Lower the first letter of a sentence, not of an acronym ("DNS ...").
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => {
            first.to_lowercase().chain(text.chars().skip(1)).collect()
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_reasons_read_as_sentences_without_the_os_error_number() {
        let refused = io::Error::from_raw_os_error(111);
        assert_eq!(io_reason(&refused), "connection refused");
        let kind_only = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(io_reason(&kind_only), "connection refused");
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
        assert_eq!(io_reason(&timed_out), "connect timed out");
        let no_route = io::Error::from_raw_os_error(113);
        assert_eq!(io_reason(&no_route), "no route to host");
        let acronym = io::Error::other("DNS lookup failed");
        assert_eq!(io_reason(&acronym), "DNS lookup failed");
    }
}
