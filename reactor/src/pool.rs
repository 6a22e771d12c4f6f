//! [`Pool`]: N reactors on N threads, each with its own listening socket on the same port
//! (`SO_REUSEPORT`), the kernel spreading connections over them. For apps whose state is per
//! connection (echo, RPC); an app with shared state stays on one reactor.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::{Error, Factory, ListenOptions, Reactor, ReactorConfig, ReactorHandle};

/// A running set of reactor threads serving one port.
#[derive(Debug)]
pub struct Pool {
    addr: SocketAddr,
    handles: Vec<ReactorHandle>,
    threads: Vec<JoinHandle<Result<(), Error>>>,
}

impl Pool {
    /// Starts `threads` reactors listening on `addr` (port 0: one free port chosen for all).
    /// `make_factory(i)` runs on thread `i` and builds that reactor's factory (factories need
    /// not be `Send`). With `signals`, SIGINT/SIGTERM stop every reactor.
    pub fn start<F>(
        threads: usize,
        addr: SocketAddr,
        config: ReactorConfig,
        signals: bool,
        make_factory: F,
    ) -> Result<Pool, Error>
    where
        F: Fn(usize) -> Box<dyn Factory> + Send + Sync + 'static,
    {
        let make_factory = std::sync::Arc::new(make_factory);
        let mut pool = Pool {
            addr,
            handles: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..threads.max(1) {
            let (ready_tx, ready_rx) = mpsc::channel();
            let make_factory = make_factory.clone();
            let config = config.clone();
            let bind = pool.addr;
            let thread = std::thread::Builder::new()
                .name(format!("reactor-{i}"))
                .spawn(move || -> Result<(), Error> {
                    let setup = (|| {
                        let mut reactor = Reactor::with_config(config)?;
                        let options = ListenOptions {
                            reuse_port: true,
                            ..ListenOptions::default()
                        };
                        let port = reactor.listen_tcp_with(bind, options, make_factory(i))?;
                        if signals {
                            reactor.install_signal_handlers()?;
                        }
                        Ok((reactor, port))
                    })();
                    match setup {
                        Ok((mut reactor, port)) => {
                            let addr = port.socket_addr().unwrap_or(bind);
                            let _ = ready_tx.send(Ok((reactor.handle(), addr)));
                            reactor.run()
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            Ok(())
                        }
                    }
                })
                .map_err(|e| Error::io("spawning a reactor thread", e))?;
            pool.threads.push(thread);
            match ready_rx.recv() {
                Ok(Ok((handle, bound))) => {
                    pool.addr = bound;
                    pool.handles.push(handle);
                }
                Ok(Err(e)) => {
                    pool.stop();
                    return Err(e);
                }
                Err(_) => {
                    pool.stop();
                    return Err(Error::io(
                        "starting a reactor thread",
                        std::io::Error::other("thread ended before listening"),
                    ));
                }
            }
        }
        Ok(pool)
    }

    /// The address every reactor listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Handles to the reactors, one per thread.
    pub fn handles(&self) -> &[ReactorHandle] {
        &self.handles
    }

    /// Asks every reactor to stop.
    pub fn stop(&self) {
        for h in &self.handles {
            h.stop();
        }
    }

    /// Waits for every reactor thread to end; the first error wins.
    pub fn join(self) -> Result<(), Error> {
        let mut result = Ok(());
        for t in self.threads {
            let r = t.join().unwrap_or_else(|_| {
                Err(Error::io(
                    "reactor thread",
                    std::io::Error::other("reactor thread panicked"),
                ))
            });
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}
