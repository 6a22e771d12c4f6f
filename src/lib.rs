//! Spindle: an event-driven networking framework in the mould of Twisted, with real servers
//! built on it.
//!
//! This facade re-exports the three layers:
//!
//! | crate | re-exported as | job |
//! |---|---|---|
//! | `spindle-reactor` | [`reactor`] | the event loop, Protocol/Transport/Factory, timers, test doubles |
//! | `spindle-protocols` | [`protocols`] | sans-IO codecs: line and length-prefixed receivers (RESP and AMQP to come) |
//! | `spindle-apps` | [`apps`] | the bundled servers and the `spindle` command line |
//!
//! Start with [`reactor::guide`], then the numbered programs in `examples/`.

#![deny(missing_docs)]

pub use spindle_apps as apps;
pub use spindle_protocols as protocols;
pub use spindle_reactor as reactor;
