//! Sockets: listener set-up through socket2 (reuse-address, reuse-port, backlog, nodelay), and
//! the stream and listener types the reactor drives (TCP or Unix).

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::{Address, Error};

/// How a listening socket is set up.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// The accept queue length passed to `listen(2)`.
    pub backlog: i32,
    /// `SO_REUSEADDR`: rebind at once after a restart, past sockets in TIME_WAIT.
    pub reuse_address: bool,
    /// `SO_REUSEPORT`: let several sockets (one per reactor thread) share the port; the kernel
    /// spreads incoming connections over them.
    pub reuse_port: bool,
    /// `TCP_NODELAY` on accepted connections: small replies leave at once (no Nagle delay).
    pub nodelay: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
            nodelay: true,
        }
    }
}

/// Resolves `addr` to its first socket address.
pub fn resolve(addr: impl ToSocketAddrs + std::fmt::Debug) -> Result<SocketAddr, Error> {
    let text = format!("{addr:?}");
    addr.to_socket_addrs()
        .map_err(|e| Error::io(format!("resolving {text}"), e))?
        .next()
        .ok_or(Error::BadAddress(text))
}

/// Binds a non-blocking TCP listener with the given options.
pub(crate) fn bind_tcp(addr: SocketAddr, opts: &ListenOptions) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(SockProtocol::TCP),
    )?;
    socket.set_reuse_address(opts.reuse_address)?;
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Binds a non-blocking Unix listener, removing a stale socket file left by a previous run.
pub(crate) fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    UnixListener::bind(path)
}

/// A listening socket.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    pub(crate) fn accept(&self) -> io::Result<(Stream, Address)> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, a)| (Stream::Tcp(s), Address::Tcp(a))),
            Listener::Unix(l) => l.accept().map(|(s, a)| {
                let path = a.as_pathname().map(Path::to_path_buf);
                (Stream::Unix(s), Address::Unix(path))
            }),
        }
    }

    pub(crate) fn source(&mut self) -> &mut dyn Source {
        match self {
            Listener::Tcp(l) => l,
            Listener::Unix(l) => l,
        }
    }

    pub(crate) fn address(&self) -> io::Result<Address> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(Address::Tcp),
            Listener::Unix(l) => l
                .local_addr()
                .map(|a| Address::Unix(a.as_pathname().map(Path::to_path_buf))),
        }
    }
}

/// A connected (or connecting) stream socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub(crate) fn source(&mut self) -> &mut dyn Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }

    /// The socket's descriptor, for diagnostics.
    pub(crate) fn raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    pub(crate) fn set_nodelay(&self) {
        if let Stream::Tcp(s) = self {
            // Best effort: a socket that refuses NODELAY still works, only slower.
            let _ = s.set_nodelay(true);
        }
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }

    /// The peer address, or `NotConnected` while a non-blocking connect is in progress.
    pub(crate) fn peer(&self) -> io::Result<Address> {
        match self {
            Stream::Tcp(s) => s.peer_addr().map(Address::Tcp),
            Stream::Unix(s) => s
                .peer_addr()
                .map(|a| Address::Unix(a.as_pathname().map(Path::to_path_buf))),
        }
    }

    pub(crate) fn host(&self) -> Address {
        match self {
            Stream::Tcp(s) => s
                .local_addr()
                .map(Address::Tcp)
                .unwrap_or(Address::Unix(None)),
            Stream::Unix(s) => Address::Unix(
                s.local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(Path::to_path_buf)),
            ),
        }
    }

    pub(crate) fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
