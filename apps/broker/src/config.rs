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
    /// Where durable state lives (definitions and persistent messages); `None` keeps nothing
    /// across a restart (the library's default: an embedded broker writes no files unless
    /// asked; `spindle broker` uses `./spindle-data`).
    pub data_dir: Option<PathBuf>,
    /// Whether writes to the data directory are fsynced before they are acknowledged.
    pub sync: SyncMode,
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
            data_dir: None,
            sync: SyncMode::Always,
            definitions: None,
            loopback_users: vec!["guest".to_string()],
            memory_high_watermark: memory_fraction(0.4),
        }
    }
}

/// When the data directory's writes are made durable (`--sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// fsync before a persistent message is confirmed or a commit answered: nothing
    /// acknowledged is lost, even to a power cut (RabbitMQ's promise; the default).
    #[default]
    Always,
    /// Never fsync: the operating system writes when it chooses. A crash of the broker loses
    /// nothing written, a crash of the machine loses the last seconds — for those who trade
    /// that for speed.
    None,
}

impl std::str::FromStr for SyncMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(SyncMode::Always),
            "none" => Ok(SyncMode::None),
            _ => Err(format!("'{s}': expected always or none")),
        }
    }
}

/// `fraction` of the machine's memory (`MemTotal` of /proc/meminfo), or of 4 GiB where that
/// cannot be read.
pub(crate) fn memory_fraction(fraction: f64) -> usize {
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

/// Reads a memory high-water mark as RabbitMQ's `vm_memory_high_watermark` takes it: a
/// fraction of the machine's memory (`0.4`, RabbitMQ's default), or a size (`1073741824`,
/// `512MiB`, `2GB`: the binary units K/KiB, M/MiB, G/GiB and the decimal KB, MB, GB).
pub fn parse_memory_mark(text: &str) -> Result<usize, String> {
    let text = text.trim();
    if text.contains('.') {
        return match text.parse::<f64>() {
            Ok(f) if (0.0..=1.0).contains(&f) => Ok(memory_fraction(f)),
            _ => Err(format!(
                "'{text}': a fraction of memory is between 0 and 1, such as 0.4"
            )),
        };
    }
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let n: usize = number.parse().map_err(|_| {
        format!("'{text}': expected a size such as 512MiB or a fraction such as 0.4")
    })?;
    let scale: usize = match unit {
        "" => 1,
        "k" | "K" | "KiB" => 1 << 10,
        "KB" => 1000,
        "M" | "MiB" => 1 << 20,
        "MB" => 1_000_000,
        "G" | "GiB" => 1 << 30,
        "GB" => 1_000_000_000,
        _ => return Err(format!("'{text}': unknown unit '{unit}'")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_marks_read_as_rabbitmq_writes_them() {
        assert_eq!(parse_memory_mark("1048576"), Ok(1 << 20));
        assert_eq!(parse_memory_mark("512MiB"), Ok(512 << 20));
        assert_eq!(parse_memory_mark("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_memory_mark("1G"), Ok(1 << 30));
        assert_eq!(parse_memory_mark("0.5"), Ok(memory_fraction(0.5)));
        assert!(memory_fraction(0.5) > 0);
        assert!(parse_memory_mark("1.5").is_err());
        assert!(parse_memory_mark("12 parsecs").is_err());
        assert!(parse_memory_mark("").is_err());
    }
}
