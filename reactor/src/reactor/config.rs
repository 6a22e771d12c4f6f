//! [`ReactorConfig`]: a reactor's tunables.

use std::time::Duration;

/// Tunables of a reactor. The defaults suit servers with many small messages.
#[derive(Debug, Clone)]
pub struct ReactorConfig {
    /// Output buffered above this many bytes calls `pause_producing` (64 KiB, as Twisted).
    pub high_water: usize,
    /// After a pause, output drained below this many bytes calls `resume_producing`.
    pub low_water: usize,
    /// Size of the one read buffer shared by all connections.
    pub read_buffer: usize,
    /// Reads from one connection per readiness event before others get their turn.
    pub max_reads_per_event: usize,
    /// How long `stop` waits for output to be flushed before aborting what is left.
    pub shutdown_timeout: Duration,
    /// Readiness events taken from the OS per poll.
    pub events_capacity: usize,
    /// Connections accepted beyond this many are closed at once (`None`: no limit).
    pub max_connections: Option<usize>,
    /// Busy polling: while the loop has been busy at least half of the last millisecond, it
    /// keeps polling without sleeping for up to this long after the last event. A loop that
    /// is busy anyway spends little more, and its peers' sends no longer pay for waking it
    /// (on loopback, the sender's kernel time does the wake-up); a lightly loaded loop still
    /// sleeps at once. Zero (the default) always sleeps when there is nothing to do.
    pub busy_poll: Duration,
}

impl Default for ReactorConfig {
    fn default() -> Self {
        ReactorConfig {
            high_water: 64 * 1024,
            low_water: 16 * 1024,
            read_buffer: 64 * 1024,
            max_reads_per_event: 16,
            shutdown_timeout: Duration::from_secs(5),
            events_capacity: 1024,
            max_connections: None,
            busy_poll: Duration::ZERO,
        }
    }
}
