//! `INFO [section …]`: every section and field redis-server 7.0.15 prints, in its order, each
//! computed from this server's state.
//!
//! Sections are chosen as Redis's `genInfoSectionDict` does: none named means the default
//! ones (all but Commandstats and Latencystats), `all` and `everything` mean every section
//! (there are no modules, so the two are the same), `default` adds the default ones, any other
//! word names a section, case-insensitively.
//!
//! Where a field counts something this server does not have (cluster links, I/O threads,
//! active defragmentation, lazy freeing, modules), it reports what redis-server reports with
//! that feature off: 0, as the fields' meaning has it. The allocator fields are those of a
//! Redis built without jemalloc (`mem_allocator:libc`): the allocator's figures are the
//! process's RSS and the counted allocations, as Redis's `cronUpdateMemoryStats` falls back to.

use bytes::Bytes;

use super::ctx::{CmdResult, Ctx};
use crate::config::REDIS_VERSION;
use crate::db::Stats;

/// The sections `INFO` with no argument (or `default`) prints, as Redis's `default_sections`.
const DEFAULT_SECTIONS: [&str; 11] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// The sections INFO's arguments ask for.
#[derive(Debug, Default)]
struct Wanted {
    /// `all` or `everything`.
    all: bool,
    /// Named sections, lower case.
    names: Vec<String>,
}

impl Wanted {
    fn from_args(args: &[Bytes]) -> Wanted {
        let mut w = Wanted::default();
        let words = args.get(1..).unwrap_or_default();
        if words.is_empty() {
            w.names = DEFAULT_SECTIONS.iter().map(|s| s.to_string()).collect();
        }
        for word in words {
            let word = String::from_utf8_lossy(word).to_ascii_lowercase();
            match word.as_str() {
                "default" => w
                    .names
                    .extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
                "all" | "everything" => w.all = true,
                _ => w.names.push(word),
            }
        }
        w
    }

    fn has(&self, section: &str) -> bool {
        self.all || self.names.iter().any(|n| n == section)
    }
}

/// `INFO [section …]`
pub(crate) fn info(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let wanted = Wanted::from_args(args);
    let mut sections: Vec<String> = Vec::new();
    if wanted.has("server") {
        sections.push(server_section(ctx));
    }
    if wanted.has("clients") {
        sections.push(clients_section(ctx));
    }
    if wanted.has("memory") {
        sections.push(memory_section(ctx));
    }
    if wanted.has("persistence") {
        sections.push(ctx.shared.persist.info(ctx.db, ctx.now));
    }
    if wanted.has("stats") {
        sections.push(stats_section(ctx));
    }
    if wanted.has("replication") {
        sections.push(crate::repl::info_section(&ctx.shared.repl, ctx.now));
    }
    if wanted.has("cpu") {
        sections.push(cpu_section(cpu_times()));
    }
    if wanted.has("module_list") || wanted.has("modules") {
        // No module can be loaded: the section is there, empty, as on a Redis without any.
        sections.push("# Modules\r\n".into());
    }
    if wanted.has("commandstats") {
        sections.push(commandstats_section(&ctx.db.stats));
    }
    if wanted.has("errorstats") {
        sections.push(errorstats_section(&ctx.db.stats));
    }
    if wanted.has("latencystats") {
        sections.push(latencystats_section(ctx));
    }
    if wanted.has("cluster") {
        sections.push("# Cluster\r\ncluster_enabled:0\r\n".into());
    }
    if wanted.has("keyspace") {
        sections.push(keyspace_section(ctx));
    }
    // Each section's fields end with CRLF; a blank line separates sections.
    let text = sections
        .iter()
        .map(|s| s.trim_end_matches("\r\n").to_string() + "\r\n")
        .collect::<Vec<_>>()
        .join("\r\n");
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

/// Microseconds since the Unix epoch, now.
fn unix_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// The kernel's name, release and machine, as uname(2) gives them (Redis's `os:` field).
fn os_name() -> String {
    let read = |f: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{f}"))
            .map(|s| s.trim().to_string())
            .ok()
    };
    let sysname = read("ostype").unwrap_or_else(|| std::env::consts::OS.to_string());
    let release = read("osrelease").unwrap_or_default();
    format!("{sysname} {release} {}", std::env::consts::ARCH)
}

/// An identifier of this build (Redis's `redis_build_id`, a digest of how it was built): the
/// FNV-1a digest of the package version, the target and the profile.
fn build_id() -> String {
    let what = format!(
        "{} {} {} {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let digest = what.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{digest:016x}")
}

/// INFO's `# Server` section: Redis 7.0's fields in its order, then spindle's own.
fn server_section(ctx: &Ctx<'_, '_>) -> String {
    let shared = &ctx.shared;
    let uptime = shared.started.elapsed().as_secs();
    let executable = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let config_file = shared
        .config
        .file()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!(
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\n\
         redis_git_dirty:0\r\nredis_build_id:{}\r\nredis_mode:standalone\r\nos:{}\r\n\
         arch_bits:{}\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\n\
         atomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\n\
         process_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\n\
         uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\n\
         lru_clock:{}\r\nexecutable:{executable}\r\nconfig_file:{config_file}\r\n\
         io_threads_active:0\r\nserver_name:spindle\r\nspindle_version:{}\r\n",
        build_id(),
        os_name(),
        usize::BITS,
        std::process::id(),
        shared.run_id,
        shared.config.port,
        unix_micros(),
        uptime / 86400,
        shared.config.hz,
        shared.config.hz,
        // Redis's LRU clock: seconds, in 24 bits.
        (ctx.now / 1000) & 0xFF_FFFF,
        env!("CARGO_PKG_VERSION"),
    )
}

/// INFO's `# Clients` section. Replicas are not counted as clients, as in Redis.
fn clients_section(ctx: &Ctx<'_, '_>) -> String {
    let shared = &ctx.shared;
    let clients = shared
        .clients
        .len()
        .saturating_sub(shared.repl.replicas.len());
    format!(
        "# Clients\r\nconnected_clients:{clients}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
         client_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\n\
         blocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
        shared.config.maxclients,
        shared.clients.values().map(|c| c.qbuf).max().unwrap_or(0),
        shared.clients.values().map(|c| c.omem).max().unwrap_or(0),
        shared.waiting.len(),
        shared.intro.tracking.clients.len(),
        shared.waiting.with_timeout(),
    )
}

/// The machine's memory, from /proc/meminfo (`total_system_memory`; 0 where unavailable).
fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// A byte count as Redis's INFO writes its `_human` fields (`bytesToHuman`): `512B`, `1.50K`,
/// `893.10K`, `2.00M`…
pub(crate) fn bytes_to_human(n: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (1 << 10, "K"),
        (1 << 20, "M"),
        (1 << 30, "G"),
        (1 << 40, "T"),
        (1 << 50, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (size, unit) in UNITS {
        if n < size * 1024 {
            return format!("{:.2}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

/// INFO's `# Memory` section, with Redis 7.0's fields in its order. `used_memory` is the
/// counting allocator's figure (what is allocated and not freed); the overhead is Redis's
/// sum: the memory at startup, the replication backlog and replicas' queued stream, clients'
/// buffers, the AOF buffer, scripts' and functions' code, the keyspaces' tables. What is left
/// of `used_memory` is the dataset.
fn memory_section(ctx: &Ctx<'_, '_>) -> String {
    let (db, shared) = (&*ctx.db, &*ctx.shared);
    let used = crate::alloc::sample_peak() as u64;
    let peak = (crate::alloc::peak() as u64).max(used);
    let rss = crate::alloc::rss_bytes();
    let system = total_system_memory();
    let s = super::scripting::info(shared);
    let (vm_eval, vm_functions) = (s.vm_eval as u64, s.vm_functions as u64);
    let scripts_bytes = (s.script_bytes + s.library_bytes) as u64;
    let feed = |f: Option<&crate::propagate::Feed>| f.map_or(0, |f| f.buf.capacity() as u64);
    let aof = feed(db.propagation.aof.as_ref());
    let repl_feed = feed(db.propagation.repl.as_ref());
    let not_counted = aof + repl_feed;
    let backlog = shared.repl.backlog.as_ref().map_or(0, |b| b.size() as u64);
    let replica_conns: Vec<_> = shared.repl.replicas.iter().map(|r| r.conn).collect();
    let (mut clients_normal, mut clients_slaves) = (0u64, 0u64);
    for c in shared.clients.values() {
        let memory = c.memory() as u64;
        if c.conn.is_some_and(|conn| replica_conns.contains(&conn)) {
            clients_slaves += memory;
        } else {
            clients_normal += memory;
        }
    }
    let keyspaces: u64 = db.spaces.iter().map(|k| k.overhead_bytes() as u64).sum();
    let startup = shared.startup_memory as u64;
    let overhead = startup
        + backlog
        + repl_feed
        + clients_slaves
        + clients_normal
        + aof
        + scripts_bytes
        + keyspaces;
    let dataset = used.saturating_sub(overhead);
    let net = used.saturating_sub(startup).max(1);
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    // Without jemalloc, Redis takes the allocator's resident memory to be the process's RSS
    // less Lua's (allocated by Lua's own allocator), its active memory to be the same, and its
    // allocations to be used_memory.
    let resident = rss.saturating_sub(vm_eval);
    let (active, allocated) = (resident, used);
    let maxmemory = shared.config.maxmemory;
    format!(
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
         used_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{overhead}\r\n\
         used_memory_startup:{startup}\r\nused_memory_dataset:{dataset}\r\n\
         used_memory_dataset_perc:{:.2}%\r\nallocator_allocated:{allocated}\r\n\
         allocator_active:{active}\r\nallocator_resident:{resident}\r\n\
         total_system_memory:{system}\r\ntotal_system_memory_human:{}\r\n\
         used_memory_lua:{vm_eval}\r\nused_memory_vm_eval:{vm_eval}\r\n\
         used_memory_lua_human:{}\r\nused_memory_scripts_eval:{}\r\n\
         number_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\n\
         used_memory_vm_functions:{vm_functions}\r\nused_memory_vm_total:{}\r\n\
         used_memory_vm_total_human:{}\r\nused_memory_functions:{}\r\n\
         used_memory_scripts:{scripts_bytes}\r\nused_memory_scripts_human:{}\r\n\
         maxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n\
         allocator_frag_ratio:{:.2}\r\nallocator_frag_bytes:{}\r\n\
         allocator_rss_ratio:{:.2}\r\nallocator_rss_bytes:{}\r\n\
         rss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\n\
         mem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\n\
         mem_not_counted_for_evict:{not_counted}\r\nmem_replication_backlog:{backlog}\r\n\
         mem_total_replication_buffers:{}\r\nmem_clients_slaves:{clients_slaves}\r\n\
         mem_clients_normal:{clients_normal}\r\nmem_cluster_links:0\r\n\
         mem_aof_buffer:{aof}\r\nmem_allocator:libc\r\nactive_defrag_running:0\r\n\
         lazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
        bytes_to_human(used),
        bytes_to_human(rss),
        bytes_to_human(peak),
        ratio(used, peak) * 100.0,
        ratio(dataset, net) * 100.0,
        bytes_to_human(system),
        bytes_to_human(vm_eval),
        s.script_bytes,
        s.scripts,
        s.functions,
        s.libraries,
        vm_eval + vm_functions,
        bytes_to_human(vm_eval + vm_functions),
        s.library_bytes,
        bytes_to_human(scripts_bytes),
        bytes_to_human(maxmemory),
        shared.config.maxmemory_policy.name(),
        ratio(active, allocated),
        active as i64 - allocated as i64,
        ratio(resident, active),
        resident as i64 - active as i64,
        ratio(rss, resident),
        rss as i64 - resident as i64,
        ratio(rss, used),
        rss as i64 - used as i64,
        backlog + repl_feed,
    )
}

/// INFO's `# Stats` section, with Redis 7.0's fields in its order.
fn stats_section(ctx: &Ctx<'_, '_>) -> String {
    let (s, shared) = (&ctx.db.stats, &*ctx.shared);
    let inst = &s.instantaneous;
    let kbps = |m: &crate::metrics::Metric| m.rate() as f64 / 1024.0;
    let patterns: std::collections::HashSet<&Bytes> =
        shared.patterns.iter().map(|(p, _)| p).collect();
    let (tracked_keys, tracked_items, tracked_prefixes) = shared.intro.tracking.totals();
    let exceeded = s
        .eviction_exceeded_since
        .map_or(0, |since| since.elapsed().as_micros() as u64);
    format!(
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
         instantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\n\
         total_net_output_bytes:{}\r\ntotal_net_repl_input_bytes:{}\r\n\
         total_net_repl_output_bytes:{}\r\ninstantaneous_input_kbps:{:.2}\r\n\
         instantaneous_output_kbps:{:.2}\r\ninstantaneous_input_repl_kbps:{:.2}\r\n\
         instantaneous_output_repl_kbps:{:.2}\r\nrejected_connections:{}\r\n\
         sync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\n\
         expired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:{}\r\n\
         expire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:{}\r\n\
         total_eviction_exceeded_time:{}\r\ncurrent_eviction_exceeded_time:{}\r\n\
         keyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\n\
         pubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:{}\r\n\
         total_forks:{}\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\n\
         active_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\n\
         active_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\n\
         current_active_defrag_time:0\r\ntracking_total_keys:{tracked_keys}\r\n\
         tracking_total_items:{tracked_items}\r\ntracking_total_prefixes:{tracked_prefixes}\r\n\
         unexpected_error_replies:{}\r\ntotal_error_replies:{}\r\n\
         dump_payload_sanitizations:{}\r\ntotal_reads_processed:{}\r\n\
         total_writes_processed:{}\r\nio_threaded_reads_processed:0\r\n\
         io_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n",
        s.connections,
        s.commands,
        inst.ops.rate(),
        s.net_input_bytes + s.net_repl_input_bytes,
        s.net_output_bytes + s.net_repl_output_bytes,
        s.net_repl_input_bytes,
        s.net_repl_output_bytes,
        kbps(&inst.net_input),
        kbps(&inst.net_output),
        kbps(&inst.repl_input),
        kbps(&inst.repl_output),
        s.rejected_connections,
        s.sync_full,
        s.sync_partial_ok,
        s.sync_partial_err,
        s.expired_keys,
        s.expired_stale_perc * 100.0,
        s.expired_time_cap_reached_count,
        s.expire_cycle_micros / 1000,
        s.evicted_keys,
        s.evicted_clients,
        (s.eviction_exceeded_micros + exceeded) / 1000,
        exceeded / 1000,
        s.keyspace_hits,
        s.keyspace_misses,
        shared.channels.len(),
        patterns.len(),
        shared.intro.shard_channels.len(),
        shared.persist.fork_usec,
        shared.persist.forks,
        s.unexpected_error_replies,
        s.error_replies,
        s.dump_payload_sanitizations,
        s.reads_processed,
        s.writes_processed,
    )
}

/// Clock ticks per second of the CPU times in /proc (Linux's `USER_HZ`, 100 on every
/// architecture it exports them for).
const CLOCK_TICKS: u64 = 100;

/// CPU time used, in clock ticks, as getrusage reports it: the process's system and user
/// time, its waited-for children's, and the main thread's alone.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct CpuTimes {
    pub(crate) sys: u64,
    pub(crate) user: u64,
    pub(crate) sys_children: u64,
    pub(crate) user_children: u64,
    pub(crate) sys_main_thread: u64,
    pub(crate) user_main_thread: u64,
}

/// (utime, stime, cutime, cstime) from the text of a /proc `stat` file: fields 14 to 17,
/// counted after the command name, which is in parentheses and may hold spaces.
pub(crate) fn stat_times(stat: &str) -> Option<(u64, u64, u64, u64)> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest
        .split_whitespace()
        .skip(11)
        .map(|f| f.parse::<u64>().ok());
    Some((
        fields.next()??,
        fields.next()??,
        fields.next()??,
        fields.next()??,
    ))
}

/// The CPU times of this process from /proc (the crate has no libc binding for getrusage):
/// /proc/self/stat for the process and its children, the main thread's own stat file (its
/// thread id is the process id) for the main thread. Zeros where /proc is unavailable.
pub(crate) fn cpu_times() -> CpuTimes {
    let read = |path: String| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| stat_times(&s))
    };
    let (user, sys, user_children, sys_children) =
        read("/proc/self/stat".into()).unwrap_or_default();
    let (user_main_thread, sys_main_thread, _, _) =
        read(format!("/proc/self/task/{}/stat", std::process::id())).unwrap_or_default();
    CpuTimes {
        sys,
        user,
        sys_children,
        user_children,
        sys_main_thread,
        user_main_thread,
    }
}

/// Clock ticks as INFO writes CPU seconds (`%ld.%06ld`).
fn ticks_as_seconds(ticks: u64) -> String {
    let micros = ticks * (1_000_000 / CLOCK_TICKS);
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// INFO's `# CPU` section, with Redis 7.0's fields in its order.
pub(crate) fn cpu_section(t: CpuTimes) -> String {
    format!(
        "# CPU\r\nused_cpu_sys:{}\r\nused_cpu_user:{}\r\nused_cpu_sys_children:{}\r\n\
         used_cpu_user_children:{}\r\nused_cpu_sys_main_thread:{}\r\n\
         used_cpu_user_main_thread:{}\r\n\r\n",
        ticks_as_seconds(t.sys),
        ticks_as_seconds(t.user),
        ticks_as_seconds(t.sys_children),
        ticks_as_seconds(t.user_children),
        ticks_as_seconds(t.sys_main_thread),
        ticks_as_seconds(t.user_main_thread),
    )
}

/// INFO's `# Commandstats`: every command called or refused, by name (`config|get` for a
/// subcommand, as Redis 7).
fn commandstats_section(stats: &Stats) -> String {
    let mut text = String::from("# Commandstats\r\n");
    let mut names: Vec<_> = stats.per_command.iter().collect();
    names.sort_by_key(|(n, _)| **n);
    for ((name, sub), s) in names {
        let name = match sub {
            Some(sub) => format!("{name}|{sub}"),
            None => name.to_string(),
        };
        let per_call = if s.calls == 0 {
            0.0
        } else {
            s.nsec as f64 / 1000.0 / s.calls as f64
        };
        text.push_str(&format!(
            "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            safe_info_name(&name),
            s.calls,
            s.nsec / 1000,
            s.rejected,
            s.failed
        ));
    }
    text
}

/// The characters Redis replaces by `_` in the names INFO prints (`getSafeInfoString`).
fn safe_info_name(name: &str) -> String {
    name.replace(['#', ':', '\n', '\r'], "_")
}

/// INFO's `# Errorstats`: error replies by their code, `errorstat_ERR:count=3`.
fn errorstats_section(stats: &Stats) -> String {
    let mut text = String::from("# Errorstats\r\n");
    for (code, count) in &stats.errors {
        text.push_str(&format!(
            "errorstat_{}:count={count}\r\n",
            safe_info_name(code)
        ));
    }
    text
}

/// A percentile as `latency-tracking-info-percentiles` prints it in INFO: `%f` with its
/// trailing zeros (and a trailing point) removed, as Redis's `trimDoubleString`.
fn percentile_name(p: f64) -> String {
    let text = format!("{p:.6}");
    let text = text.trim_end_matches('0');
    text.trim_end_matches('.').to_string()
}

/// INFO's `# Latencystats`: for every command called while `latency-tracking` was on, the
/// percentiles `latency-tracking-info-percentiles` asks for (50, 99, 99.9 by default) of its
/// latency histogram, in microseconds.
fn latencystats_section(ctx: &Ctx<'_, '_>) -> String {
    let mut text = String::from("# Latencystats\r\n");
    let config = &ctx.shared.config;
    if config.get("latency-tracking") == Some("no") {
        return text;
    }
    let percentiles: Vec<f64> = config
        .get("latency-tracking-info-percentiles")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    for (name, h) in &ctx.shared.intro.histograms {
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                format!(
                    "p{}={:.3}",
                    percentile_name(p),
                    h.value_at_percentile(p) as f64 / 1000.0
                )
            })
            .collect();
        text.push_str(&format!(
            "latency_percentiles_usec_{}:{}\r\n",
            safe_info_name(name),
            values.join(",")
        ));
    }
    text
}

/// INFO's `# Keyspace`: keys and keys with a time to live, per non-empty database.
fn keyspace_section(ctx: &Ctx<'_, '_>) -> String {
    let mut text = String::from("# Keyspace\r\n");
    for (i, space) in ctx.db.spaces.iter().enumerate() {
        if !space.is_empty() {
            text.push_str(&format!(
                "db{i}:keys={},expires={},avg_ttl={}\r\n",
                space.len(),
                space.volatile_len(),
                space.avg_ttl
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(line: &str) -> Wanted {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        Wanted::from_args(&args)
    }

    #[test]
    fn sections_are_chosen_as_redis_does() {
        let plain = wanted("INFO");
        assert!(plain.has("server") && plain.has("errorstats") && plain.has("module_list"));
        assert!(!plain.has("commandstats") && !plain.has("latencystats"));
        let all = wanted("INFO all");
        assert!(all.has("commandstats") && all.has("latencystats"));
        let named = wanted("INFO CPU default");
        assert!(named.has("cpu") && named.has("keyspace") && !named.has("commandstats"));
        let one = wanted("INFO latencystats");
        assert!(one.has("latencystats") && !one.has("server"));
    }

    #[test]
    fn percentiles_are_named_as_redis_prints_them() {
        assert_eq!(percentile_name(50.0), "50");
        assert_eq!(percentile_name(99.9), "99.9");
        assert_eq!(percentile_name(99.99), "99.99");
        assert_eq!(percentile_name(0.0), "0");
        assert_eq!(safe_info_name("config|get"), "config|get");
        assert_eq!(safe_info_name("a:b#c"), "a_b_c");
    }

    #[test]
    fn errors_are_counted_by_their_code() {
        let mut s = Stats::default();
        s.error_reply("ERR unknown command 'x'");
        s.error_reply("WRONGTYPE Operation against a key holding the wrong kind of value");
        s.error_reply("ERR syntax error");
        // No space in the first 31 bytes: counted as ERR, as Redis does.
        s.error_reply("NOSPACEINTHEFIRSTTHIRTYONEBYTES_AT_ALL here");
        s.error_reply("CUSTOM");
        assert_eq!(s.error_replies, 5);
        let counts: Vec<(&str, u64)> = s.errors.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(counts, [("ERR", 4), ("WRONGTYPE", 1)]);
        let text = errorstats_section(&s);
        assert_eq!(
            text,
            "# Errorstats\r\nerrorstat_ERR:count=4\r\nerrorstat_WRONGTYPE:count=1\r\n"
        );
    }
}
