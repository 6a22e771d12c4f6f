//! How a load run can fail.

use std::net::SocketAddr;

/// Why a benchmark could not produce figures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The load generator's own reactor failed (could not start, or a connect could not be
    /// queued).
    #[error(transparent)]
    Reactor(#[from] spindle_reactor::Error),
    /// Some of the echo connections never opened: figures from fewer connections than asked
    /// would not compare.
    #[error("only {connected} of {wanted} connections to {addr} succeeded")]
    Connections {
        /// The server measured.
        addr: SocketAddr,
        /// Connections that opened.
        connected: usize,
        /// Connections asked for.
        wanted: usize,
    },
    /// `--exchange-type` named a type the load tool does not route with.
    #[error("--exchange-type {0}: expected direct, fanout or topic")]
    ExchangeType(String),
    /// Declaring the exchange and queue failed.
    #[error("setting up: {0}")]
    Setup(spindle_amqp::ClientError),
    /// A producer or consumer thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    /// The consumers were not all consuming within 30 s; what their connections said.
    #[error("consumers did not start: {0}")]
    ConsumersNotStarted(String),
    /// Connections ended with errors during the run, each named (`producer-0: …`).
    #[error("{}", .0.join("; "))]
    Failed(Vec<String>),
}
