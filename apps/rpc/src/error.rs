//! [`RpcError`]: why a client's call got no result — the server's fault, or a failure on the
//! way (connection, HTTP, a reply that is not one), a timeout, a cancel.

use spindle_http::ClientError;
use spindle_protocols::xmlrpc::Fault;
use spindle_reactor::{Cancelled, TimedOut};

/// Why a call made with a client of this crate failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RpcError {
    /// The server ran the call and answered with a fault (Python's `xmlrpc.client.Fault`).
    #[error("fault {}: {}", .0.fault_code, .0.fault_string)]
    Fault(Fault),
    /// The server answered with an HTTP status other than 200 (Python's `ProtocolError`).
    #[error("http status {status} {reason}")]
    Http {
        /// The status code, e.g. 404.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The request never got an answer: the connection could not be made, was lost, or the
    /// broker refused.
    #[error("transport: {0}")]
    Transport(String),
    /// The answer could not be read as a response (not XML-RPC, not UTF-8, over the limits).
    #[error("bad response: {0}")]
    BadResponse(String),
    /// The call's time ran out.
    #[error("timed out")]
    TimedOut,
    /// The call was cancelled (`Deferred::cancel`).
    #[error("cancelled")]
    Cancelled,
}

impl RpcError {
    /// The fault, if the server sent one.
    pub fn fault(&self) -> Option<&Fault> {
        match self {
            RpcError::Fault(f) => Some(f),
            _ => None,
        }
    }
}

impl From<Fault> for RpcError {
    fn from(f: Fault) -> Self {
        RpcError::Fault(f)
    }
}

impl From<ClientError> for RpcError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::TimedOut => RpcError::TimedOut,
            ClientError::Cancelled => RpcError::Cancelled,
            ClientError::Protocol(e) => RpcError::BadResponse(e.to_string()),
            other => RpcError::Transport(other.to_string()),
        }
    }
}

impl From<Cancelled> for RpcError {
    fn from(_: Cancelled) -> Self {
        RpcError::Cancelled
    }
}

impl From<TimedOut> for RpcError {
    fn from(_: TimedOut) -> Self {
        RpcError::TimedOut
    }
}
