//! [`ClientError`]: why an [`HttpClient`](crate::HttpClient) request got no response.

use spindle_protocols::http::HttpError;
use spindle_reactor::{Cancelled, TimedOut};

/// Why a request made with [`HttpClient`](crate::HttpClient) got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection ended before the response came (or was closed by the client).
    #[error("connection lost before the response")]
    ConnectionLost,
    /// The server's bytes are not an HTTP response within the limits.
    #[error("bad response: {0}")]
    Protocol(#[from] HttpError),
    /// The request's deferred was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The request's deferred timed out.
    #[error("timed out")]
    TimedOut,
}

impl From<Cancelled> for ClientError {
    fn from(_: Cancelled) -> Self {
        ClientError::Cancelled
    }
}

impl From<TimedOut> for ClientError {
    fn from(_: TimedOut) -> Self {
        ClientError::TimedOut
    }
}
