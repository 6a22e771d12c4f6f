//! The store's configuration: redis.conf-style directives, given as command-line flags
//! (`--port 6380`) or in a file (`spindle kv redis.conf`), read and changed at run time with
//! CONFIG GET/SET. An unknown directive is an error that names it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::error::ConfigError;

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
pub(crate) const IMMUTABLE: &[&str] = &["databases", "busy-poll"];

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
    /// Sets a directive (name in any case); errors name unknown directives and bad values. A
    /// bad value leaves the old one in place.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let key = name.to_ascii_lowercase();
        if !self.values.contains_key(&key) {
            return Err(ConfigError::Unknown {
                name: name.to_string(),
            });
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
            .filter(|(k, _)| crate::glob::matches(pattern, k.as_bytes(), true))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn text(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    fn invalid(&self, name: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            name: name.to_string(),
            value: self.text(name).to_string(),
            reason: reason.into(),
        }
    }

    /// An integer directive within `lo..=hi`, with redis-server's errors (`numericParseString`,
    /// `numericBoundaryCheck`).
    fn int_in(&self, name: &str, lo: i64, hi: i64) -> Result<i64, ConfigError> {
        let n: i64 = self
            .text(name)
            .parse()
            .map_err(|_| self.invalid(name, "argument couldn't be parsed into an integer"))?;
        if n < lo || n > hi {
            return Err(self.invalid(
                name,
                format!("argument must be between {lo} and {hi} inclusive"),
            ));
        }
        Ok(n)
    }

    /// A memory directive (`5mb`, `1gb`…), with redis-server's error.
    fn memory(&self, name: &str) -> Result<u64, ConfigError> {
        parse_memory(self.text(name))
            .ok_or_else(|| self.invalid(name, "argument must be a memory value"))
    }

    fn refresh(&mut self) -> Result<(), ConfigError> {
        let bind_text = self.text("bind");
        let first = bind_text.split_whitespace().next().unwrap_or("127.0.0.1");
        let bind = first
            .trim_start_matches('-')
            .parse()
            .map_err(|_| self.invalid("bind", "argument couldn't be parsed into an IP address"))?;
        let port = self.int_in("port", 0, 65535)?;
        // Redis allows up to INT_MAX databases; each costs a keyspace here, so fewer.
        let databases = self.int_in("databases", 1, 100_000)?;
        let hz = self.int_in("hz", 0, i64::from(i32::MAX))?;
        let proto_max_bulk_len = self.memory("proto-max-bulk-len")?;
        let busy_poll = self.int_in("busy-poll", 0, i64::MAX)?;
        let limits = self.text("client-output-buffer-limit");
        let words: Vec<&str> = limits.split_whitespace().collect();
        let mut pubsub = None;
        if let Some(i) = words.iter().position(|w| *w == "pubsub") {
            let field = |k: usize| {
                words.get(i + k).and_then(|v| parse_memory(v)).ok_or_else(|| {
                    self.invalid(
                        "client-output-buffer-limit",
                        "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
                    )
                })
            };
            pubsub = Some((field(1)?, field(2)?, field(3)?));
        }
        let pass = self.text("requirepass").to_string();
        self.bind = bind;
        self.port = port as u16;
        self.databases = databases as usize;
        self.hz = hz.clamp(1, 500) as u32;
        self.proto_max_bulk_len = proto_max_bulk_len as usize;
        self.busy_poll_us = (busy_poll as u64).min(1_000_000);
        if let Some((hard, soft, seconds)) = pubsub {
            self.pubsub_hard_limit = hard as usize;
            self.pubsub_soft_limit = soft as usize;
            self.pubsub_soft_seconds = seconds;
        }
        self.requirepass = (!pass.is_empty()).then_some(pass);
        Ok(())
    }

    /// Builds a configuration from command-line words: an optional config file first, then
    /// `--directive value…` pairs (as redis-server takes them). A bad directive is reported as
    /// redis-server reports it, naming the line, the directive and its value, and why.
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut rest = args;
        // Redis reads the command line's directives as lines after the file's, one empty line
        // between: the first is at line (newlines in the file) + 2.
        let mut first_line = 2;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first)
                    .map_err(|e| format!("cannot read config file {first}: {e}"))?;
                config.load_text(&text)?;
                first_line += text.matches('\n').count();
                rest = args.get(1..).unwrap_or_default();
            }
        }
        let mut i = 0;
        let mut line = first_line;
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
            config.set(name, &values.join(" ")).map_err(|e| {
                // As redis-server echoes it: the name, then each value quoted.
                let mut text = name.to_string();
                for v in &values {
                    text.push_str(&format!(" {v:?}"));
                }
                e.startup(REDIS_VERSION, line, &text)
            })?;
            line += 1;
        }
        Ok(config)
    }

    /// Applies the directives of a redis.conf-style text; a bad one is reported as
    /// redis-server reports it.
    pub fn load_text(&mut self, text: &str) -> Result<(), String> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = value.trim().trim_matches('"');
            self.set(name, value)
                .map_err(|e| e.startup(REDIS_VERSION, n + 1, line))?;
        }
        Ok(())
    }
}

/// Parses a number with Redis's memory units (`1k`, `1kb`, `5mb`, `1gb`…).
pub(crate) fn parse_memory(v: &str) -> Option<u64> {
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

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bad_values_at_startup_are_reported_as_redis_server_reports_them() {
        let err = Config::from_args(&args(&["--port", "abc"])).unwrap_err();
        assert_eq!(
            err,
            format!(
                "*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n\
                 Reading the configuration file, at line 2\n\
                 >>> 'port \"abc\"'\n\
                 argument couldn't be parsed into an integer"
            )
        );
        let err = Config::from_args(&args(&["--hz", "20", "--port", "99999"])).unwrap_err();
        assert!(err.contains("at line 3\n>>> 'port \"99999\"'\n"), "{err}");
        assert!(
            err.ends_with("argument must be between 0 and 65535 inclusive"),
            "{err}"
        );
        let err = Config::from_args(&args(&["--databases", "-1"])).unwrap_err();
        assert!(err.contains(">>> 'databases \"-1\"'"), "{err}");
        assert!(
            err.ends_with("argument must be between 1 and 100000 inclusive"),
            "{err}"
        );
        let err = Config::from_args(&args(&["--proto-max-bulk-len", "lots"])).unwrap_err();
        assert!(err.ends_with("argument must be a memory value"), "{err}");
        let err = Config::from_args(&args(&["--maxmemroy", "1gb"])).unwrap_err();
        assert!(
            err.ends_with("Bad directive or wrong number of arguments: 'maxmemroy'"),
            "{err}"
        );
    }

    #[test]
    fn bad_lines_of_a_file_name_their_line_and_the_command_line_follows_the_file() {
        let mut c = Config::default();
        let err = c.load_text("# comment\nport 7000\nhz x\n").unwrap_err();
        assert!(err.contains("at line 3\n>>> 'hz x'\n"), "{err}");
        assert!(
            err.ends_with("argument couldn't be parsed into an integer"),
            "{err}"
        );
        let path =
            std::env::temp_dir().join(format!("spindle-kv-config-{}.conf", std::process::id()));
        std::fs::write(&path, "port 7000\nhz 20\n").unwrap();
        let err = Config::from_args(&args(&[path.to_str().unwrap(), "--port", "x"])).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        // Two lines in the file, then an empty one, then the flags: as redis-server counts.
        assert!(err.contains("at line 4\n>>> 'port \"x\"'\n"), "{err}");
    }

    #[test]
    fn config_set_keeps_its_own_wording() {
        let mut c = Config::default();
        assert_eq!(
            c.set("port", "abc").unwrap_err().to_string(),
            "Invalid argument 'abc' for CONFIG SET 'port'"
        );
        assert_eq!(
            c.set("nope", "1").unwrap_err().to_string(),
            "Unknown option or number of arguments for CONFIG SET - 'nope'"
        );
    }
}
