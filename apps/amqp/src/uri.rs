//! AMQP URIs, as RabbitMQ's clients read them.
//!
//! ```text
//! amqp://user:pass@host:port/vhost
//!        \_______/ \__/ \__/ \___/
//!         guest:guest  localhost  5672  "/" when the path is empty or "/"
//! ```
//!
//! Every part is optional and percent-decoded: `amqp://` alone is guest/guest at
//! localhost:5672, vhost `/`. The vhost is the path without its leading slash, so the default
//! vhost `/` is written `%2f` (`amqp://host/%2f`) or left out (`amqp://host` or `amqp://host/`).
//! `amqps` (TLS) is refused: the reactor has no TLS yet.

use std::fmt;

/// The default port of `amqp://`.
pub const DEFAULT_PORT: u16 = 5672;

/// Where to connect and as whom: a parsed `amqp://` URI.
#[derive(Clone, PartialEq, Eq)]
pub struct AmqpUri {
    /// The user name (default `guest`).
    pub user: String,
    /// The password (default `guest`).
    pub password: String,
    /// The host name or address (default `localhost`; an IPv6 address without brackets).
    pub host: String,
    /// The port (default 5672).
    pub port: u16,
    /// The virtual host (default `/`).
    pub vhost: String,
}

// The password stays out of logs.
impl fmt::Debug for AmqpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpUri")
            .field("user", &self.user)
            .field("password", &"***")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("vhost", &self.vhost)
            .finish()
    }
}

impl Default for AmqpUri {
    fn default() -> Self {
        AmqpUri {
            user: "guest".into(),
            password: "guest".into(),
            host: "localhost".into(),
            port: DEFAULT_PORT,
            vhost: "/".into(),
        }
    }
}

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The scheme is not `amqp://` (`amqps` included: no TLS yet).
    #[error("unsupported scheme in {0:?}: expected amqp://")]
    Scheme(String),
    /// The port is not a number from 1 to 65535.
    #[error("bad port {0:?}")]
    Port(String),
    /// A `%` not followed by two hex digits.
    #[error("bad percent-escape in {0:?}")]
    Escape(String),
    /// A percent-decoded part is not UTF-8.
    #[error("{0:?} is not UTF-8 once percent-decoded")]
    Utf8(String),
    /// An IPv6 address with no closing `]`.
    #[error("unclosed [ in host {0:?}")]
    Host(String),
    /// Query parameters (`?heartbeat=…`) are not supported yet.
    #[error("query parameters are not supported: {0:?}")]
    Query(String),
}

impl std::str::FromStr for AmqpUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        AmqpUri::parse(s)
    }
}

impl AmqpUri {
    /// The URI in `$AMQP_URI`, or RabbitMQ's default `amqp://guest:guest@localhost:5672/` if
    /// it is not set: how the examples and `spindle amqp` find the broker.
    ///
    /// # Errors
    ///
    /// `$AMQP_URI` is set but is not a valid URI.
    pub fn from_env() -> Result<AmqpUri, UriError> {
        match std::env::var("AMQP_URI") {
            Ok(uri) => AmqpUri::parse(&uri),
            Err(_) => Ok(AmqpUri::default()),
        }
    }

    /// Parses `amqp://user:pass@host:port/vhost`; see the module docs for defaults.
    ///
    /// # Errors
    ///
    /// [`UriError`]: a scheme other than `amqp`, a bad port or escape, a query string.
    pub fn parse(s: &str) -> Result<AmqpUri, UriError> {
        let rest = match s.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("amqp") => rest,
            _ => return Err(UriError::Scheme(s.to_string())),
        };
        if let Some((_, query)) = rest.split_once('?') {
            return Err(UriError::Query(query.to_string()));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let mut uri = AmqpUri::default();
        let host_port = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (userinfo, None),
                };
                if !user.is_empty() {
                    uri.user = decode(user)?;
                }
                if let Some(p) = password {
                    uri.password = decode(p)?;
                }
                host_port
            }
            None => authority,
        };
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| UriError::Host(host_port.to_string()))?;
            (host, after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        if !host.is_empty() {
            uri.host = decode(host)?;
        }
        if let Some(port) = port.filter(|p| !p.is_empty()) {
            uri.port = match port.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(UriError::Port(port.to_string())),
            };
        }
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            uri.vhost = decode(path)?;
        }
        Ok(uri)
    }

    /// `host:port`, for [`Reactor::connect_tcp`](spindle_reactor::Reactor::connect_tcp).
    pub fn authority(&self) -> (String, u16) {
        (self.host.clone(), self.port)
    }
}

fn decode(part: &str) -> Result<String, UriError> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| UriError::Escape(part.to_string()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UriError::Utf8(part.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(user: &str, password: &str, host: &str, port: u16, vhost: &str) -> AmqpUri {
        AmqpUri {
            user: user.into(),
            password: password.into(),
            host: host.into(),
            port,
            vhost: vhost.into(),
        }
    }

    #[test]
    fn parses_every_form() {
        let table = [
            ("amqp://", uri("guest", "guest", "localhost", 5672, "/")),
            ("amqp://host", uri("guest", "guest", "host", 5672, "/")),
            ("amqp://host/", uri("guest", "guest", "host", 5672, "/")),
            ("amqp://host/%2f", uri("guest", "guest", "host", 5672, "/")),
            ("amqp://host/%2F", uri("guest", "guest", "host", 5672, "/")),
            (
                "AMQP://host:5673/prod",
                uri("guest", "guest", "host", 5673, "prod"),
            ),
            ("amqp://u:p@h:1/v", uri("u", "p", "h", 1, "v")),
            ("amqp://u@h", uri("u", "guest", "h", 5672, "/")),
            ("amqp://u:@h", uri("u", "", "h", 5672, "/")),
            ("amqp://:p@h", uri("guest", "p", "h", 5672, "/")),
            (
                "amqp://a%40b:p%3Aq%2F@h/v%2Fw",
                uri("a@b", "p:q/", "h", 5672, "v/w"),
            ),
            (
                "amqp://[::1]:5673/",
                uri("guest", "guest", "::1", 5673, "/"),
            ),
            ("amqp://[::1]", uri("guest", "guest", "::1", 5672, "/")),
            ("amqp://h:/", uri("guest", "guest", "h", 5672, "/")),
            ("amqp://u:p@@h", uri("u", "p@", "h", 5672, "/")),
            ("amqp://%C3%A9:x@h/%C3%A9", uri("é", "x", "h", 5672, "é")),
        ];
        for (text, want) in table {
            assert_eq!(AmqpUri::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_with_a_named_error() {
        let table = [
            ("http://h", UriError::Scheme("http://h".into())),
            ("amqps://h", UriError::Scheme("amqps://h".into())),
            ("localhost:5672", UriError::Scheme("localhost:5672".into())),
            ("amqp://h:x", UriError::Port("x".into())),
            ("amqp://h:0", UriError::Port("0".into())),
            ("amqp://h:70000", UriError::Port("70000".into())),
            ("amqp://h/%2", UriError::Escape("%2".into())),
            ("amqp://h/%zz", UriError::Escape("%zz".into())),
            ("amqp://h/%ff", UriError::Utf8("%ff".into())),
            ("amqp://[::1", UriError::Host("[::1".into())),
            (
                "amqp://h/?heartbeat=5",
                UriError::Query("heartbeat=5".into()),
            ),
        ];
        for (text, want) in table {
            assert_eq!(AmqpUri::parse(text), Err(want), "{text}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let shown = format!("{:?}", AmqpUri::parse("amqp://u:secret@h").unwrap());
        assert!(!shown.contains("secret"), "{shown}");
    }
}
