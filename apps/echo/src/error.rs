//! How an echo client run can fail.

use std::io;

/// Why the echo client did not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection could not be made: `cannot connect to 127.0.0.1:8888: connection refused`.
    #[error("cannot connect to {addr}: {}", spindle_reactor::io_reason(.reason))]
    Connect {
        /// The address the connector tried, as the user gave it.
        addr: String,
        /// What the socket said.
        reason: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_address_and_the_reason_in_words() {
        let e = Error::Connect {
            addr: "127.0.0.1:8888".into(),
            reason: io::Error::from_raw_os_error(111),
        };
        assert_eq!(
            e.to_string(),
            "cannot connect to 127.0.0.1:8888: connection refused"
        );
        let e = Error::Connect {
            addr: "nowhere:1".into(),
            reason: io::Error::other("failed to lookup address"),
        };
        assert_eq!(
            e.to_string(),
            "cannot connect to nowhere:1: failed to lookup address"
        );
    }
}
