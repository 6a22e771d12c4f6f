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
    /// Bytes the broker's messages may hold before the memory alarm blocks publishing
    /// connections (`connection.blocked`), until they are back under it. RabbitMQ's
    /// `vm_memory_high_watermark`; the default is its 0.4 of the machine's memory.
    pub memory_high_watermark: usize,
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
            memory_high_watermark: memory_fraction(0.4),
        }
    }
}

/// `fraction` of the machine's memory (`MemTotal` of /proc/meminfo), or of 4 GiB where that
/// cannot be read.
pub fn memory_fraction(fraction: f64) -> usize {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(4 << 30, |kb| kb.saturating_mul(1024));
    (total as f64 * fraction.clamp(0.0, 1.0)) as usize
}
