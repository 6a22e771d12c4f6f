//! Endpoint addresses: TCP (an IP socket address) or a Unix-domain path.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One end of a connection, as returned by [`Transport::peer`](crate::Transport::peer) and
/// [`Transport::host`](crate::Transport::host).
///
/// Like Twisted's `getPeer`, the peer address is what the socket reports: behind a proxy or NAT
/// it is the proxy's address, not the user's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A TCP (or UDP) endpoint.
    Tcp(SocketAddr),
    /// A Unix-domain socket; `None` for an unnamed socket (the usual client side).
    Unix(Option<PathBuf>),
}

impl Address {
    /// The IP socket address, if this is a TCP address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Address::Tcp(a) => Some(*a),
            Address::Unix(_) => None,
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Self {
        Address::Tcp(a)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(a) => write!(f, "{a}"),
            Address::Unix(Some(p)) => write!(f, "unix:{}", p.display()),
            Address::Unix(None) => f.write_str("unix:(unnamed)"),
        }
    }
}
