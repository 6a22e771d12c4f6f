//! One test body, two brokers: [`both_brokers!`](crate::both_brokers) after a
//! `fn NAME(broker: &Broker)` adds a module `NAME` holding two tests that call it,
//! `NAME::rabbitmq` (the private RabbitMQ of `common::amqp`) and `NAME::spindle_broker` (a
//! `spindle broker` of the test's own), so our client's suites check both with the same
//! assertions. A test of something `spindle broker` does not do yet stays a plain RabbitMQ
//! `#[test]` whose comment says why.

use super::amqp::{broker_uri, start_broker};
use super::broker::start_spindle_broker;
use super::Running;

/// The broker one variant of a test talks to.
pub enum Broker {
    /// The RabbitMQ shared by the test process (`common::amqp::broker_uri`, or
    /// `SPINDLE_AMQP_URI`).
    RabbitMq,
    /// A `spindle broker --port 0` started for this test, stopped when this drops.
    Spindle {
        /// Its guest URI.
        uri: String,
        /// The process.
        server: Running,
    },
}

/// A broker of a test's own that the test may kill (see [`Broker::start_doomed`]).
pub struct Doomed {
    /// Its guest URI.
    pub uri: String,
    /// The pid to `kill -9`.
    pub pid: u32,
    /// Stops what is left of it (`scripts/rabbitmq stop DIR`; nothing for spindle broker).
    pub cleanup: Box<dyn FnOnce()>,
}

impl Broker {
    /// The RabbitMQ variant's broker.
    pub fn rabbitmq() -> Broker {
        Broker::RabbitMq
    }

    /// The `spindle broker` variant's broker, started now.
    pub fn spindle() -> Broker {
        let (server, port) = start_spindle_broker(&[]);
        Broker::Spindle {
            uri: guest_uri(port),
            server,
        }
    }

    /// The guest URI (`amqp://guest:guest@127.0.0.1:PORT/`), as our client parses it.
    pub fn uri(&self) -> String {
        match self {
            Broker::RabbitMq => broker_uri(),
            Broker::Spindle { uri, .. } => uri.clone(),
        }
    }

    /// A broker of the same kind that the test may kill: a RabbitMQ of its own, or this
    /// `spindle broker` (already the test's own).
    pub fn start_doomed(&self) -> Doomed {
        match self {
            Broker::RabbitMq => {
                let dir = std::env::temp_dir()
                    .join(format!("spindle-rabbitmq-doomed-{}", std::process::id()));
                let port = start_broker(&dir);
                let env = std::fs::read_to_string(dir.join("env")).expect("the broker's env file");
                let pid = env
                    .lines()
                    .find_map(|l| l.strip_prefix("BEAM_PID="))
                    .expect("BEAM_PID in env")
                    .parse()
                    .expect("BEAM_PID is a pid");
                Doomed {
                    uri: guest_uri(port),
                    pid,
                    cleanup: Box::new(move || {
                        let _ = std::process::Command::new(super::amqp::broker_script())
                            .arg("stop")
                            .arg(&dir)
                            .output();
                    }),
                }
            }
            // The test's own already: killing it leaves the reaping to its guard.
            Broker::Spindle { uri, server } => Doomed {
                uri: uri.clone(),
                pid: server.pid(),
                cleanup: Box::new(|| {}),
            },
        }
    }
}

fn guest_uri(port: u16) -> String {
    format!("amqp://guest:guest@127.0.0.1:{port}/")
}

/// `both_brokers!(NAME, "why ignored")` after `fn NAME(broker: &Broker)`: the module `NAME` with
/// the tests `NAME::rabbitmq` and `NAME::spindle_broker`, both `#[ignore]`d with that reason
/// (they need RabbitMQ, or the built examples; `scripts/test` runs them).
#[macro_export]
macro_rules! both_brokers {
    ($name:ident, $ignore:literal) => {
        mod $name {
            #[test]
            #[ignore = $ignore]
            fn rabbitmq() {
                super::$name(&$crate::common::both::Broker::rabbitmq());
            }

            #[test]
            #[ignore = $ignore]
            fn spindle_broker() {
                super::$name(&$crate::common::both::Broker::spindle());
            }
        }
    };
}
