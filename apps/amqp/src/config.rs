//! [`Config`]: where to connect and what to ask the broker for.

use crate::uri::AmqpUri;

/// How to connect.
#[derive(Debug, Clone)]
pub struct Config {
    /// Broker, credentials, vhost.
    pub uri: AmqpUri,
    /// The heartbeat interval to ask for, in seconds: the broker's is used unless this is
    /// lower (0 turns heartbeats off). `None`: the broker's.
    pub heartbeat: Option<u16>,
    /// The largest frame to accept and send (0: the broker's).
    pub frame_max: u32,
    /// The most channels to use (0: the broker's).
    pub channel_max: u16,
    /// Output bytes queued past which [`Channel::publish`](crate::Channel::publish) refuses
    /// with [`ClientError::Paused`](crate::ClientError::Paused) (the reactor's high-water mark
    /// pauses it too).
    pub max_buffered: usize,
    /// Shown in the broker's connection list (client property `connection_name`).
    pub connection_name: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            uri: AmqpUri::default(),
            heartbeat: None,
            frame_max: 0,
            channel_max: 0,
            max_buffered: 64 * 1024,
            connection_name: None,
        }
    }
}

impl Config {
    /// The defaults, for `uri`.
    pub fn new(uri: AmqpUri) -> Self {
        Config {
            uri,
            ..Config::default()
        }
    }
}
