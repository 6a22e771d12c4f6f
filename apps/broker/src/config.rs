//! [`BrokerConfig`]: what `spindle broker` takes from its command line, with RabbitMQ's
//! defaults.

use std::path::PathBuf;

/// The broker's settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The largest frame offered in `connection.tune` (RabbitMQ: 131072); a client may ask
    /// for less, never below 4096.
    pub frame_max: u32,
    /// The most channels per connection (RabbitMQ: 2047).
    pub channel_max: u16,
    /// The heartbeat offered, in seconds (RabbitMQ: 60); 0 turns heartbeats off.
    pub heartbeat: u16,
    /// The largest message body accepted (RabbitMQ's `max_message_size`: 128 MiB).
    pub max_message_size: u64,
    /// Where durable state lives.
    pub data_dir: PathBuf,
    /// A RabbitMQ definitions file loaded at start.
    pub definitions: Option<PathBuf>,
    /// Users who may connect from loopback addresses only (RabbitMQ's `loopback_users`:
    /// guest, whose password everyone knows).
    pub loopback_users: Vec<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
            max_message_size: 128 * 1024 * 1024,
            data_dir: PathBuf::from("./spindle-data"),
            definitions: None,
            loopback_users: vec!["guest".to_string()],
        }
    }
}
