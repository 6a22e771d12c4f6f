//! An AMQP 0-9-1 broker for RabbitMQ's clients (`spindle broker`): pika, Celery, lapin and
//! amqp-tools talk to it as to RabbitMQ 3.10.
//!
//! # Layout
//!
//! | file | job |
//! |---|---|
//! | `connection/mod.rs` | the `Protocol`: handshake, channels, heartbeats, closes; the only file that sees the reactor |
//! | `connection/tests.rs` | the connection driven in memory: handshakes, errors, hostile frame streams |
//! | `channel.rs` | one channel's publisher side: content assembly, confirms |
//! | `core/` | the IO-free broker: vhosts, exchanges, queues, consumers, unacknowledged deliveries, users |
//! | `config.rs` | [`BrokerConfig`], RabbitMQ's defaults |
//! | `durable.rs` | the durable definitions in the data directory, rewritten atomically |
//! | `logs.rs` | the data directory's queue logs, opened per queue for the core |
//! | `store/` | durable queues' on-disk logs: segment files, ack files, crash recovery |
//! | `error.rs` | [`Refusal`]: a reply code and RabbitMQ's reply text |

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod channel;
mod config;
mod connection;
mod core;
mod durable;
mod error;
mod logs;
mod store;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use spindle_reactor::{Error, ListeningPort, Reactor};

pub use config::{parse_memory_mark, BrokerConfig, SyncMode};
pub use core::Broker;
pub use error::Refusal;

/// The AMQP port, as RabbitMQ's.
pub const DEFAULT_PORT: u16 = 5672;

/// Starts the broker on `addr` as `spindle broker` does: the definitions file, when given,
/// loaded first; returns the listening port.
///
/// # Errors
///
/// The definitions file cannot be read or loaded, or the port cannot be bound.
pub fn start(
    reactor: &mut Reactor,
    addr: SocketAddr,
    config: BrokerConfig,
) -> Result<ListeningPort, StartError> {
    let definitions = match &config.definitions {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| StartError::Definitions {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            Some((path.display().to_string(), text))
        }
        None => None,
    };
    let (port, broker) = listen(reactor, addr, config)?;
    if let Some((path, text)) = definitions {
        broker
            .borrow_mut()
            .load_definitions(&text)
            .map_err(|reason| StartError::Definitions { path, reason })?;
    }
    Ok(port)
}

/// Why [`start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The port could not be bound.
    #[error(transparent)]
    Listen(#[from] Error),
    /// The definitions file could not be read or loaded.
    #[error("cannot load definitions from {path}: {reason}")]
    Definitions {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The data directory could not be opened, or what it holds could not be restored.
    #[error("cannot use the data directory {path}: {reason}")]
    DataDir {
        /// The directory.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

/// Starts the broker on `addr` in `reactor`; returns the port and the shared broker. With a
/// data directory, what it holds is restored first, and from then on the durable definitions
/// are saved there at the end of every turn that changed them.
///
/// # Errors
///
/// The port cannot be bound, or the data directory cannot be used.
pub fn listen(
    reactor: &mut Reactor,
    addr: SocketAddr,
    config: BrokerConfig,
) -> Result<(ListeningPort, Rc<RefCell<Broker>>), StartError> {
    let data = config.data_dir.clone();
    let sync = config.sync;
    let broker = Rc::new(RefCell::new(Broker::new(config)));
    let definitions = match &data {
        Some(dir) => Some(restore(&broker, dir, sync)?),
        None => None,
    };
    let port = reactor.listen_tcp(addr, connection::BrokerFactory(broker.clone()))?;
    connection::start_tick(reactor, broker.clone());
    connection::start_before_flush(reactor, broker.clone(), definitions);
    Ok((port, broker))
}

/// Loads the durable definitions a data directory holds into the broker.
fn restore(
    broker: &Rc<RefCell<Broker>>,
    dir: &std::path::Path,
    sync: SyncMode,
) -> Result<durable::DefinitionsFile, StartError> {
    let fail = |reason: String| StartError::DataDir {
        path: dir.display().to_string(),
        reason,
    };
    let started = std::time::Instant::now();
    let (file, saved) =
        durable::DefinitionsFile::open(dir, sync).map_err(|e| fail(e.to_string()))?;
    let queue_logs = logs::Logs::open(dir).map_err(|e| fail(e.to_string()))?;
    broker.borrow_mut().set_logs(Box::new(queue_logs));
    if let Some(bytes) = saved {
        broker
            .borrow_mut()
            .load_definitions(&bytes)
            .map_err(|e| fail(format!("definitions.json: {e}")))?;
        let b = broker.borrow();
        log::info!(
            "recovered {} durable queue(s) with {} message(s) ({} MB on disk), and {} \
             exchange(s), from {} in {:.3} s",
            b.queue_count(),
            b.recovered,
            b.disk_bytes() / 1_000_000,
            b.exchange_count(),
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(file)
}
