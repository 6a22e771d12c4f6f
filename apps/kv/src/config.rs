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
    ("aclfile", ""),
    ("acllog-max-len", "128"),
    ("databases", "16"),
    ("hz", "10"),
    ("proto-max-bulk-len", "536870912"),
    ("maxclients", "10000"),
    ("maxmemory-clients", "0"),
    ("client-query-buffer-limit", "1073741824"),
    ("timeout", "0"),
    ("tcp-keepalive", "300"),
    ("protected-mode", "no"),
    ("save", ""),
    ("appendonly", "no"),
    ("appendfsync", "everysec"),
    ("appendfilename", "appendonly.aof"),
    ("appenddirname", "appendonlydir"),
    ("aof-load-truncated", "yes"),
    ("repl-backlog-size", "1048576"),
    ("repl-ping-replica-period", "10"),
    ("repl-timeout", "60"),
    ("replica-read-only", "yes"),
    ("masterauth", ""),
    ("masteruser", ""),
    ("auto-aof-rewrite-percentage", "100"),
    ("auto-aof-rewrite-min-size", "67108864"),
    ("stop-writes-on-bgsave-error", "yes"),
    ("repl-backlog-size", "1048576"),
    ("repl-ping-replica-period", "10"),
    ("repl-timeout", "60"),
    ("replica-read-only", "yes"),
    ("masterauth", ""),
    ("masteruser", ""),
    ("dir", "./spindle-data"),
    ("dbfilename", "dump.rdb"),
    ("loglevel", "notice"),
    ("maxmemory", "0"),
    ("maxmemory-policy", "noeviction"),
    ("maxmemory-samples", "5"),
    ("maxmemory-eviction-tenacity", "10"),
    ("lfu-log-factor", "10"),
    ("lfu-decay-time", "1"),
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
    ("busy-reply-threshold", "5000"),
    ("lua-time-limit", "5000"),
    // Spindle's own: the reactor's busy-poll window in microseconds (0: always sleep when idle).
    ("busy-poll", "200"),
];

/// Every directive the store knows, with its default, in the order `spindle kv --help` lists
/// them.
pub fn known_directives() -> &'static [(&'static str, &'static str)] {
    DIRECTIVES
}

/// Directives read once at startup: [`Config::set`] refuses them, as Redis's CONFIG SET refuses
/// its immutable ones (`enable-debug-command` is one in Redis 7.0: DEBUG cannot be switched on
/// by a client).
const IMMUTABLE: &[&str] = &[
    "aclfile",
    "databases",
    "busy-poll",
    "enable-debug-command",
    "appendfilename",
    "appenddirname",
];

/// The reason [`Config::set`] gives for an immutable directive, in Redis's words.
pub(crate) const IMMUTABLE_REASON: &str = "can't set immutable config";

/// The least client-eviction limit Redis applies whatever `maxmemory-clients` says, so that a
/// mistyped value cannot cut every client off (`getClientEvictionLimit`).
const MIN_MAXMEMORY_CLIENTS: u64 = 128 * 1024;

/// `maxmemory-policy`: what goes when the data outgrows `maxmemory` (Redis 7.0's policies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxmemoryPolicy {
    /// Least recently used among keys with a time to live.
    VolatileLru,
    /// Least frequently used among keys with a time to live.
    VolatileLfu,
    /// Any key with a time to live.
    VolatileRandom,
    /// The key with the soonest expiry.
    VolatileTtl,
    /// Least recently used of all keys.
    AllkeysLru,
    /// Least frequently used of all keys.
    AllkeysLfu,
    /// Any key.
    AllkeysRandom,
    /// Nothing: writes that may need memory are refused instead.
    NoEviction,
}

impl MaxmemoryPolicy {
    /// Every policy with its name, in the order Redis lists them in its error.
    const ALL: [(&'static str, MaxmemoryPolicy); 8] = [
        ("volatile-lru", MaxmemoryPolicy::VolatileLru),
        ("volatile-lfu", MaxmemoryPolicy::VolatileLfu),
        ("volatile-random", MaxmemoryPolicy::VolatileRandom),
        ("volatile-ttl", MaxmemoryPolicy::VolatileTtl),
        ("allkeys-lru", MaxmemoryPolicy::AllkeysLru),
        ("allkeys-lfu", MaxmemoryPolicy::AllkeysLfu),
        ("allkeys-random", MaxmemoryPolicy::AllkeysRandom),
        ("noeviction", MaxmemoryPolicy::NoEviction),
    ];

    /// The policy's name, as CONFIG GET and INFO show it.
    pub fn name(self) -> &'static str {
        MaxmemoryPolicy::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("noeviction", |(n, _)| n)
    }

    /// True for the LFU policies, under which keys keep an access frequency instead of an
    /// access time (Redis's `MAXMEMORY_FLAG_LFU`).
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLfu | MaxmemoryPolicy::AllkeysLfu
        )
    }
}

/// One class of `client-output-buffer-limit`: past `hard` bytes of pending output a client is
/// closed at once; past `soft` bytes for `soft_seconds` in a row, too (0 bytes: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimit {
    /// Hard limit in bytes (0: none).
    pub hard: u64,
    /// Soft limit in bytes (0: none).
    pub soft: u64,
    /// How long a client may stay above the soft limit, in seconds.
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit`, parsed: one [`OutputLimit`] per client class, as Redis keeps
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Ordinary clients (Redis's default: no limit).
    pub normal: OutputLimit,
    /// Replicas (Redis's `replica` or `slave`; the store has none yet).
    pub replica: OutputLimit,
    /// Clients subscribed to a channel or pattern.
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        let limit = |hard, soft, soft_seconds| OutputLimit {
            hard,
            soft,
            soft_seconds,
        };
        OutputLimits {
            normal: limit(0, 0, 0),
            replica: limit(256 * 1024 * 1024, 64 * 1024 * 1024, 60),
            pubsub: limit(32 * 1024 * 1024, 8 * 1024 * 1024, 60),
        }
    }
}

impl OutputLimits {
    /// Applies `class hard soft seconds…` groups over these limits, as Redis's
    /// `updateClientOutputBufferLimit`: every group is checked before any applies, and a class
    /// not named keeps its limits.
    fn update(&mut self, text: &str) -> Result<(), &'static str> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.");
        }
        let mut next = *self;
        for group in words.chunks(4) {
            let [class, hard, soft, seconds] = group else {
                continue;
            };
            let slot = match class.to_ascii_lowercase().as_str() {
                "normal" => &mut next.normal,
                "replica" | "slave" => &mut next.replica,
                "pubsub" => &mut next.pubsub,
                _ => return Err("Invalid client class specified in buffer limit configuration."),
            };
            let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            *slot = OutputLimit {
                hard: parse_memory(hard).ok_or(bad)?,
                soft: parse_memory(soft).ok_or(bad)?,
                soft_seconds: seconds.parse().map_err(|_| bad)?,
            };
        }
        *self = next;
        Ok(())
    }

    /// The text CONFIG GET shows: every class, in Redis's order and words.
    fn text(&self) -> String {
        let mut out = String::new();
        for (name, l) in [
            ("normal", self.normal),
            ("slave", self.replica),
            ("pubsub", self.pubsub),
        ] {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&format!("{name} {} {} {}", l.hard, l.soft, l.soft_seconds));
        }
        out
    }
}

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
    /// Longest bulk string a client may send, and longest string a command may build.
    pub proto_max_bulk_len: usize,
    /// `maxmemory` in bytes (0: no limit).
    pub maxmemory: u64,
    /// `maxmemory-clients` in bytes, a percentage already resolved against `maxmemory` (0: no
    /// limit, as is a percentage while `maxmemory` is 0; otherwise at least 128 KiB, as Redis
    /// applies it).
    pub maxmemory_clients: u64,
    /// `maxmemory-policy`.
    pub maxmemory_policy: MaxmemoryPolicy,
    /// `maxmemory-samples`: keys sampled per database each time an eviction candidate is
    /// sought.
    pub maxmemory_samples: u32,
    /// `maxmemory-eviction-tenacity` (0–100): how long one round of eviction may run.
    pub maxmemory_eviction_tenacity: u32,
    /// `lfu-log-factor`: how much rarer each further count of an LFU counter is.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes per step an idle key's LFU counter decays by (0: never).
    pub lfu_decay_time: u32,
    /// `client-query-buffer-limit`: the most a client's unparsed input may hold, in bytes.
    pub client_query_buffer_limit: u64,
    /// `client-output-buffer-limit`, per client class.
    pub client_output_buffer_limit: OutputLimits,
    /// `maxclients`: connections served at once; one more is answered
    /// `-ERR max number of clients reached` and closed.
    pub maxclients: usize,
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
            maxmemory: 0,
            maxmemory_clients: 0,
            maxmemory_policy: MaxmemoryPolicy::NoEviction,
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_buffer_limit: OutputLimits::default(),
            maxclients: 10_000,
            busy_poll_us: 200,
        };
        // Defaults always parse.
        let _ = c.refresh();
        c
    }
}

impl Config {
    /// Sets a directive at run time (CONFIG SET; name in any case); errors name unknown
    /// directives, immutable ones (read at startup only: the reason is [`IMMUTABLE_REASON`])
    /// and bad values. A refused value leaves the old one in place.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        self.check_settable(name, value)?;
        self.apply(name, value)
    }

    /// Whether CONFIG SET may change `name` at all: known, and not read at startup only.
    pub(crate) fn check_settable(&self, name: &str, value: &str) -> Result<(), ConfigError> {
        let key = name.to_ascii_lowercase();
        if !self.values.contains_key(&key) {
            return Err(ConfigError::Unknown {
                name: name.to_string(),
            });
        }
        if IMMUTABLE.contains(&key.as_str()) {
            return Err(ConfigError::Invalid {
                name: key,
                value: value.to_string(),
                reason: IMMUTABLE_REASON.to_string(),
            });
        }
        Ok(())
    }

    /// Sets a directive, immutable ones included (the command line and the config file).
    fn apply(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
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

    /// The persistence directives' values, with redis-server's errors: booleans, the save
    /// points (pairs of numbers), the rewrite thresholds.
    fn check_persistence(&self) -> Result<(), ConfigError> {
        for name in ["appendonly", "stop-writes-on-bgsave-error"] {
            if !matches!(self.text(name), "yes" | "no") {
                return Err(self.invalid(name, "argument must be 'yes' or 'no'"));
            }
        }
        let words: Vec<&str> = self.text("save").split_whitespace().collect();
        if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<u32>().is_err()) {
            return Err(self.invalid("save", "Invalid save parameters"));
        }
        self.int_in("auto-aof-rewrite-percentage", 0, i64::from(i32::MAX))?;
        self.memory("auto-aof-rewrite-min-size")?;
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

    /// A memory directive within `lo..=hi` bytes, with redis-server's errors.
    fn memory_in(&self, name: &str, lo: u64, hi: u64) -> Result<u64, ConfigError> {
        let n = self.memory(name)?;
        if n < lo || n > hi {
            return Err(self.invalid(
                name,
                format!("argument must be between {lo} and {hi} inclusive"),
            ));
        }
        Ok(n)
    }

    /// `maxmemory-clients`: a memory value, or a percentage of `maxmemory` up to 100 %
    /// (Redis keeps a percentage as a negative number). Returns (bytes or percent, is percent).
    fn memory_or_percent(&self, name: &str) -> Result<(u64, bool), ConfigError> {
        let text = self.text(name);
        if let Some(n) = parse_memory(text) {
            if n > i64::MAX as u64 {
                return Err(self.invalid(
                    name,
                    format!("argument must be between -100 and {} inclusive", i64::MAX),
                ));
            }
            return Ok((n, false));
        }
        let pct = text
            .strip_suffix('%')
            .filter(|d| !d.is_empty() && !d.starts_with('+'))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| self.invalid(name, "argument must be a memory or percent value"))?;
        if pct > 100 {
            return Err(self.invalid(name, "percentage argument must be less or equal to 100"));
        }
        Ok((pct, true))
    }

    /// Parses every directive into the typed fields, and rewrites the numeric ones as Redis's
    /// CONFIG GET shows them (memory values in bytes, `hz` clamped, every output-limit class, enums in lower case).
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
        // Any int is accepted, then clamped (Redis's `updateHZ`: hz is a hint).
        let hz = self.int_in("hz", 0, i64::from(i32::MAX))?.clamp(1, 500);
        let max_i64 = i64::MAX as u64;
        let proto_max_bulk_len = self.memory_in("proto-max-bulk-len", 1024 * 1024, max_i64)?;
        let maxmemory = self.memory("maxmemory")?;
        let (clients, percent) = self.memory_or_percent("maxmemory-clients")?;
        let policy_text = self.text("maxmemory-policy").to_ascii_lowercase();
        let policy = MaxmemoryPolicy::ALL
            .iter()
            .find(|(n, _)| *n == policy_text)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                let names: Vec<&str> = MaxmemoryPolicy::ALL.iter().map(|(n, _)| *n).collect();
                self.invalid(
                    "maxmemory-policy",
                    format!(
                        "argument(s) must be one of the following: {}",
                        names.join(", ")
                    ),
                )
            })?;
        let int_max = i64::from(i32::MAX);
        let samples = self.int_in("maxmemory-samples", 1, int_max)?;
        let tenacity = self.int_in("maxmemory-eviction-tenacity", 0, 100)?;
        let log_factor = self.int_in("lfu-log-factor", 0, int_max)?;
        let decay_time = self.int_in("lfu-decay-time", 0, int_max)?;
        let query_limit = self.memory_in("client-query-buffer-limit", 1024 * 1024, max_i64)?;
        let busy_poll = self.int_in("busy-poll", 0, i64::MAX)?;
        let maxclients = self.int_in("maxclients", 1, i64::from(u32::MAX))?;
        let debug = self.text("enable-debug-command").to_ascii_lowercase();
        if !matches!(debug.as_str(), "no" | "yes" | "local") {
            return Err(self.invalid(
                "enable-debug-command",
                "argument(s) must be one of the following: no, yes, local",
            ));
        }
        self.check_persistence()?;
        let mut output = self.client_output_buffer_limit;
        output
            .update(self.text("client-output-buffer-limit"))
            .map_err(|reason| self.invalid("client-output-buffer-limit", reason))?;
        let pass = self.text("requirepass").to_string();
        self.bind = bind;
        self.port = port as u16;
        self.databases = databases as usize;
        self.hz = hz as u32;
        self.proto_max_bulk_len = usize::try_from(proto_max_bulk_len).unwrap_or(usize::MAX);
        self.maxmemory = maxmemory;
        self.maxmemory_clients = match (percent, clients) {
            (_, 0) => 0,
            (true, _) if maxmemory == 0 => 0,
            (true, pct) => (maxmemory as f64 * pct as f64 / 100.0) as u64,
            (false, bytes) => bytes,
        };
        if self.maxmemory_clients > 0 {
            self.maxmemory_clients = self.maxmemory_clients.max(MIN_MAXMEMORY_CLIENTS);
        }
        self.maxmemory_policy = policy;
        self.maxmemory_samples = samples as u32;
        self.maxmemory_eviction_tenacity = tenacity as u32;
        self.lfu_log_factor = log_factor as u32;
        self.lfu_decay_time = decay_time as u32;
        self.client_query_buffer_limit = query_limit;
        self.client_output_buffer_limit = output;
        self.maxclients = maxclients as usize;
        self.busy_poll_us = (busy_poll as u64).min(1_000_000);
        self.requirepass = (!pass.is_empty()).then_some(pass);
        let shown = [
            ("hz", hz.to_string()),
            ("proto-max-bulk-len", proto_max_bulk_len.to_string()),
            ("maxmemory", maxmemory.to_string()),
            (
                "maxmemory-clients",
                format!("{clients}{}", if percent { "%" } else { "" }),
            ),
            ("client-query-buffer-limit", query_limit.to_string()),
            ("client-output-buffer-limit", output.text()),
            ("enable-debug-command", debug),
            ("maxmemory-policy", policy.name().to_string()),
        ];
        for (name, text) in shown {
            self.values.insert(name.to_string(), text);
        }
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
            config.apply(name, &values.join(" ")).map_err(|e| {
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
            self.apply(name, value)
                .map_err(|e| e.startup(REDIS_VERSION, n + 1, line))?;
        }
        Ok(())
    }
}

/// Parses a number with Redis's memory units (`1k`, `1kb`, `5mb`, `1gb`…).
pub(crate) fn parse_memory(v: &str) -> Option<u64> {
    let lower = v.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    // Digits only, as Redis's `memtoull`: no sign (a negative memory value is refused).
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
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
    n.checked_mul(mult)
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
    fn config_set_speaks_redis_words() {
        let mut c = Config::default();
        assert_eq!(
            c.set("port", "abc").unwrap_err().to_string(),
            "CONFIG SET failed (possibly related to argument 'port') - argument couldn't be parsed into an integer"
        );
        assert_eq!(
            c.set("nope", "1").unwrap_err().to_string(),
            "Unknown option or number of arguments for CONFIG SET - 'nope'"
        );
    }
}
