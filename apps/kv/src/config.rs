//! The store's configuration: redis.conf-style directives, given as command-line flags
//! (`--port 6380`) or in a file (`spindle kv redis.conf`), read and changed at run time with
//! CONFIG GET/SET. An unknown directive is an error that names it.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// The Redis version we answer as (INFO, HELLO, startup errors): the one whose behaviour we
/// follow.
pub const REDIS_VERSION: &str = "7.0.15";

/// A configuration directive we know: its name and default value.
const DIRECTIVES: &[(&str, &str)] = &[
    ("bind", "127.0.0.1"),
    ("port", "6379"),
    ("requirepass", ""),
    ("databases", "16"),
    ("hz", "10"),
    ("proto-max-bulk-len", "536870912"),
    ("maxclients", "10000"),
    ("timeout", "0"),
    ("tcp-keepalive", "300"),
    ("protected-mode", "no"),
    ("save", ""),
    ("appendonly", "no"),
    ("appendfsync", "everysec"),
    ("dir", "./spindle-data"),
    ("dbfilename", "dump.rdb"),
    ("loglevel", "notice"),
    ("maxmemory", "0"),
    ("maxmemory-policy", "noeviction"),
    ("enable-debug-command", "no"),
    ("list-max-listpack-size", "-2"),
    ("hash-max-listpack-entries", "128"),
    ("hash-max-listpack-value", "64"),
    ("set-max-intset-entries", "512"),
    ("set-max-listpack-entries", "128"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
    (
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    ("lazyfree-lazy-user-del", "no"),
    ("notify-keyspace-events", ""),
    // Spindle's own: the reactor's busy-poll window in microseconds (0: always sleep when idle).
    ("busy-poll", "200"),
];

/// Every directive the store knows, with its default, in the order `spindle kv --help` lists
/// them.
pub fn known_directives() -> &'static [(&'static str, &'static str)] {
    DIRECTIVES
}

/// Directives read once at startup: CONFIG SET refuses them, as Redis refuses its immutable
/// ones.
pub const IMMUTABLE: &[&str] = &["databases", "busy-poll"];

/// The configuration: every directive's current value, plus typed copies of those the server
/// reads on hot paths.
#[derive(Debug, Clone)]
pub struct Config {
    values: BTreeMap<String, String>,
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port to listen on.
    pub port: u16,
    /// The password AUTH wants, if any.
    pub requirepass: Option<String>,
    /// Number of databases.
    pub databases: usize,
    /// Active expiry cycles per second.
    pub hz: u32,
    /// Longest bulk string a client may send.
    pub proto_max_bulk_len: usize,
    /// `client-output-buffer-limit pubsub` hard limit in bytes (0: none).
    pub pubsub_hard_limit: usize,
    /// … its soft limit in bytes (0: none) …
    pub pubsub_soft_limit: usize,
    /// … and how long a subscriber may stay above the soft limit, in seconds.
    pub pubsub_soft_seconds: u64,
    /// The reactor's busy-poll window (`ReactorConfig::busy_poll`), in microseconds.
    pub busy_poll_us: u64,
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            values: DIRECTIVES
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 6379,
            requirepass: None,
            databases: 16,
            hz: 10,
            proto_max_bulk_len: 512 * 1024 * 1024,
            pubsub_hard_limit: 32 * 1024 * 1024,
            pubsub_soft_limit: 8 * 1024 * 1024,
            pubsub_soft_seconds: 60,
            busy_poll_us: 200,
        };
        // Defaults always parse.
        let _ = c.refresh();
        c
    }
}

impl Config {
    /// Sets a directive (name in any case); errors name unknown directives and bad values.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let key = name.to_ascii_lowercase();
        if !self.values.contains_key(&key) {
            return Err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        }
        let old = self.values.insert(key.clone(), value.to_string());
        if let Err(e) = self.refresh() {
            if let Some(old) = old {
                self.values.insert(key, old);
            }
            let _ = self.refresh();
            return Err(e);
        }
        Ok(())
    }

    /// The value of a directive.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Every (name, value) whose name matches the glob `pattern`.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&str, &str)> {
        self.values
            .iter()
            .filter(|(k, _)| super::glob::matches(pattern, k.as_bytes(), true))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn refresh(&mut self) -> Result<(), String> {
        let get = |k: &str| self.values.get(k).cloned().unwrap_or_default();
        let bind_text = get("bind");
        let first = bind_text.split_whitespace().next().unwrap_or("127.0.0.1");
        let bind = first
            .trim_start_matches('-')
            .parse()
            .map_err(|_| format!("Invalid argument '{bind_text}' for CONFIG SET 'bind'"))?;
        let num = |k: &str| -> Result<u64, String> {
            let v = get(k);
            parse_memory(&v).ok_or_else(|| format!("Invalid argument '{v}' for CONFIG SET '{k}'"))
        };
        let port = num("port")?;
        if port > 65535 {
            return Err(format!("Invalid argument '{port}' for CONFIG SET 'port'"));
        }
        let databases = num("databases")?;
        if databases == 0 || databases > 100_000 {
            return Err(format!(
                "Invalid argument '{databases}' for CONFIG SET 'databases'"
            ));
        }
        self.bind = bind;
        self.port = port as u16;
        self.databases = databases as usize;
        self.hz = num("hz")?.clamp(1, 500) as u32;
        self.proto_max_bulk_len = num("proto-max-bulk-len")? as usize;
        self.busy_poll_us = num("busy-poll")?.min(1_000_000);
        let limits = get("client-output-buffer-limit");
        let words: Vec<&str> = limits.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "pubsub") {
            let bad = || {
                format!("Invalid argument '{limits}' for CONFIG SET 'client-output-buffer-limit'")
            };
            let field = |k: usize| {
                words
                    .get(i + k)
                    .and_then(|v| parse_memory(v))
                    .ok_or_else(bad)
            };
            self.pubsub_hard_limit = field(1)? as usize;
            self.pubsub_soft_limit = field(2)? as usize;
            self.pubsub_soft_seconds = field(3)?;
        }
        let pass = get("requirepass");
        self.requirepass = (!pass.is_empty()).then_some(pass);
        Ok(())
    }

    /// Builds a configuration from command-line words: an optional config file first, then
    /// `--directive value…` pairs (as redis-server takes them).
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut rest = args;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first)
                    .map_err(|e| format!("cannot read config file {first}: {e}"))?;
                config.load_text(&text)?;
                rest = args.get(1..).unwrap_or_default();
            }
        }
        let mut i = 0;
        while let Some(arg) = rest.get(i) {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument '{arg}'"));
            };
            let mut values = Vec::new();
            i += 1;
            while let Some(v) = rest.get(i).filter(|v| !v.starts_with("--")) {
                values.push(v.as_str());
                i += 1;
            }
            config
                .set(name, &values.join(" "))
                .map_err(|_| format!("Bad directive or wrong number of arguments: '{name}'"))?;
        }
        Ok(config)
    }

    /// Applies the directives of a redis.conf-style text.
    pub fn load_text(&mut self, text: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = value.trim().trim_matches('"');
            self.set(name, value).map_err(|_| {
                format!(
                    "line {}: Bad directive or wrong number of arguments: '{name}'",
                    n + 1
                )
            })?;
        }
        Ok(())
    }
}

/// Parses a number with Redis's memory units (`1k`, `1kb`, `5mb`, `1gb`…).
pub fn parse_memory(v: &str) -> Option<u64> {
    let lower = v.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if n < 0 {
        // Negative values (list-max-listpack-size -2) are kept as text; typed fields never are.
        return Some(0);
    }
    (n as u64).checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_files_set_directives_and_unknown_ones_are_named() {
        let args: Vec<String> = [
            "--port",
            "6380",
            "--requirepass",
            "secret",
            "--databases",
            "4",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = Config::from_args(&args).unwrap();
        assert_eq!((c.port, c.databases), (6380, 4));
        assert_eq!(c.requirepass.as_deref(), Some("secret"));
        let err = Config::from_args(&["--no-such-thing".into(), "1".into()]).unwrap_err();
        assert!(err.contains("'no-such-thing'"), "{err}");
        let mut c = Config::default();
        c.load_text("# comment\nport 7000\nhz 20\n").unwrap();
        assert_eq!((c.port, c.hz), (7000, 20));
        assert!(c.load_text("bogus 1").unwrap_err().contains("'bogus'"));
        assert!(c.set("port", "notanumber").is_err());
        assert_eq!(c.port, 7000, "a bad value leaves the old one");
        let names: Vec<&str> = c
            .matching(b"*max-listpack*")
            .iter()
            .map(|(k, _)| *k)
            .collect();
        assert!(names.contains(&"hash-max-listpack-entries"));
        assert_eq!(parse_memory("5mb"), Some(5 * 1024 * 1024));
    }
}
