//! How an echo client run can fail.

use std::io;

/// Why the echo client did not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection could not be made: `cannot connect to 127.0.0.1:8888: connection refused`.
    #[error("cannot connect to {addr}: {}", describe(.reason))]
    Connect {
        /// The address the connector tried, as the user gave it.
        addr: String,
        /// What the socket said.
        reason: io::Error,
    },
}

/// An io error as a sentence fragment: `connection refused`, not
/// `Connection refused (os error 111)`.
fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text.get(..at).unwrap_or(&text),
        _ => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
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
