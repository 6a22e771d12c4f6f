//! A guide: the echo server, built in numbered steps.
//!
//! **1. A protocol is per-connection state plus callbacks.** The reactor calls
//! `data_received` with whatever bytes arrived; the echo writes them back. `write` only queues
//! the bytes; the reactor sends them after the callback, at the end of its loop turn.
//!
//! ```
//! use spindle_reactor::{Protocol, ProtocolResult, Transport};
//!
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
//!         tx.write(data);
//!         Ok(())
//!     }
//! }
//! ```
//!
//! **2. Test it without a socket.** A [`StringTransport`](crate::testing::StringTransport)
//! records what the protocol does.
//!
//! ```
//! # use spindle_reactor::{Protocol, ProtocolResult, Transport};
//! # struct Echo;
//! # impl Protocol for Echo {
//! #     fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
//! #         tx.write(data);
//! #         Ok(())
//! #     }
//! # }
//! let mut tx = spindle_reactor::testing::StringTransport::new();
//! Echo.data_received(b"hi", &mut tx).unwrap();
//! assert_eq!(tx.written(), b"hi");
//! ```
//!
//! **3. A factory builds one protocol per connection.** Any `FnMut() -> P` is a factory;
//! shared state (a chat room, a database) lives in the factory and is handed to each protocol
//! when it is built.
//!
//! **4. Listen and run.** `listen_tcp` registers the listening socket with the reactor;
//! `run` turns the loop until `stop` (or Ctrl-C once signal handlers are installed).
//!
//! ```no_run
//! # use spindle_reactor::{Protocol, ProtocolResult, Transport};
//! # struct Echo;
//! # impl Protocol for Echo {
//! #     fn data_received(&mut self, data: &[u8], tx: &mut dyn Transport) -> ProtocolResult {
//! #         tx.write(data);
//! #         Ok(())
//! #     }
//! # }
//! let mut reactor = spindle_reactor::Reactor::new()?;
//! reactor.listen_tcp("127.0.0.1:8888", || Echo)?;
//! reactor.install_signal_handlers()?;
//! reactor.run()?;
//! # Ok::<(), spindle_reactor::Error>(())
//! ```
//!
//! **5. Watch it.** Every reactor event is a `log` record at trace level. A library installs no
//! logger; the `spindle` binary's (`spindle::logger`) shows them with `spindle --trace echo`
//! or `SPINDLE_TRACE=1`: accept, readable → data_received, write queued, flushed (in how many
//! syscalls), closed with its reason.
