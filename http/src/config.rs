//! [`ServerConfig`]: an HTTP server's limits and timeouts.

use std::time::Duration;

use spindle_protocols::http::Limits;

/// How an [`HttpServer`](crate::HttpServer) treats each connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The codec's limits (request line 8 KiB, headers 64 KiB and 100 fields, body 16 MiB);
    /// a request over one gets 414, 431 or 413 and the connection closes.
    pub limits: Limits,
    /// How long a connection may stay without a request in progress or a byte received
    /// before it is closed, quietly (no response). Default 60 s.
    pub idle_timeout: Duration,
    /// Most pipelined requests waiting for their response on one connection; past it the
    /// server stops reading that connection until responses have gone out. Default 32.
    pub max_in_flight: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            idle_timeout: Duration::from_secs(60),
            max_in_flight: 32,
        }
    }
}
