//! Helpers shared by the reactor's socket tests: a reactor on its own thread, and blocking
//! std clients with timeouts (so a bug shows up as a failed read, never a hung test).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spindle_reactor::{Factory, Reactor, ReactorConfig, ReactorHandle};

/// A reactor running on its own thread, stopped and joined on drop.
pub struct Server {
    pub addr: SocketAddr,
    pub handle: ReactorHandle,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a reactor listening on 127.0.0.1:0 with the factory built by `make` (on the
    /// reactor's thread: factories need not be `Send`).
    pub fn start<F, M>(config: ReactorConfig, make: M) -> Server
    where
        F: Factory + 'static,
        M: FnOnce() -> F + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut reactor = Reactor::with_config(config).unwrap();
            let port = reactor.listen_tcp("127.0.0.1:0", make()).unwrap();
            tx.send((port.socket_addr().unwrap(), reactor.handle()))
                .unwrap();
            reactor.run().unwrap();
        });
        let (addr, handle) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Server {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// Runs `f` on the reactor thread and returns its result.
    pub fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Reactor) -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = mpsc::channel();
        assert!(self.handle.call_from_thread(move |r| {
            let _ = tx.send(f(r));
        }));
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A blocking client with a 10 s read/write timeout.
pub fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads exactly `n` bytes.
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// Sends `msg` and expects it back.
pub fn round_trip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    assert_eq!(read_n(s, msg.len()), msg);
}

/// True once the peer has closed: a read returns 0 or a reset.
pub fn reads_eof(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}
