//! Introspection: MONITOR, SLOWLOG, LATENCY, LOLWUT, and [`observe`], which the engine calls
//! after every command it runs to feed the monitors, the slow log, the latency events and the
//! per-command latency histograms, as Redis 7.0's `call()` does.
//!
//! The state lives in [`Introspection`](crate::shared::Introspection) (server-wide). A monitor
//! receives its lines through the running client's outbox, as a subscriber receives messages,
//! so the session applies the pub/sub output limits to it.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::args::{int_arg, is, reply_help, subcommand_syntax};
use super::ctx::{cmd, flags::*, CmdResult, Command, Ctx};
use super::subcommands::is_container;
use crate::client::Client;
use crate::config::REDIS_VERSION;
use crate::error::CmdError;
use crate::hdr::Histogram;
use crate::shared::{LatencyEvent, Shared, SlowEntry, Subscriber};

/// This family's rows of the command table.
pub(crate) static COMMANDS: &[Command] = &[
    cmd("monitor", 1, ADMIN, (0, 0, 0), monitor),
    cmd("slowlog", -2, ADMIN, (0, 0, 0), slowlog),
    cmd("latency", -2, ADMIN, (0, 0, 0), latency),
    cmd("lolwut", -1, READONLY | FAST, (0, 0, 0), lolwut),
];

/// Redis's `SLOWLOG_ENTRY_MAX_ARGC`: arguments kept per entry.
const SLOWLOG_MAX_ARGC: usize = 32;
/// Redis's `SLOWLOG_ENTRY_MAX_STRING`: bytes kept per argument.
const SLOWLOG_MAX_STRING: usize = 128;
/// Redis's `LATENCY_TS_LEN`: samples kept per latency event.
const LATENCY_TS_LEN: usize = 160;

fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

fn config_int(shared: &Shared, name: &str, default: i64) -> i64 {
    shared
        .config
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The four settings [`observe`] uses, parsed once after each CONFIG command (see
/// [`Introspection::settings`](crate::shared::Introspection::settings)).
fn settings(shared: &mut Shared) -> [i64; 4] {
    if let Some(s) = shared.intro.settings {
        return s;
    }
    let s = [
        config_int(shared, "slowlog-log-slower-than", 10_000),
        config_int(shared, "slowlog-max-len", 128),
        config_int(shared, "latency-monitor-threshold", 0),
        i64::from(shared.config.get("latency-tracking") != Some("no")),
    ];
    shared.intro.settings = Some(s);
    s
}

/// The name LATENCY HISTOGRAM reports a call under: `config|get` for a container's
/// subcommand, the command's own name otherwise.
fn full_name(command: &Command, args: &[Bytes]) -> String {
    match args.get(1) {
        Some(sub) if is_container(command) => {
            format!(
                "{}|{}",
                command.name,
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            )
        }
        _ => command.name.to_string(),
    }
}

/// After a command ran: the MONITOR feed, the slow log, the "command"/"fast-command" latency
/// event and the command's latency histogram. `nanos` is how long it ran.
pub(crate) fn observe(
    shared: &mut Shared,
    client: &mut Client,
    command: &Command,
    args: &[Bytes],
    nanos: u64,
) {
    if client.obey {
        // A master's stream or the AOF being loaded: Redis counts none of it here.
        return;
    }
    let micros = nanos / 1000;
    if command.name == "config" {
        shared.intro.settings = None;
    }
    let [slower_than, _, latency_threshold, tracking] = settings(shared);
    if !shared.intro.monitors.is_empty() && command.flags & ADMIN == 0 && !runs_script(command) {
        feed_monitors(shared, client, args);
    }
    if command.name != "exec" && slower_than >= 0 && micros as i64 >= slower_than {
        push_slowlog(shared, client, args, micros);
    }
    let ms = micros / 1000;
    if latency_threshold > 0 && ms as i64 >= latency_threshold {
        let event = if command.flags & FAST != 0 {
            "fast-command"
        } else {
            "command"
        };
        add_latency_sample(shared, event, ms);
    }
    if tracking != 0 {
        let histograms = &mut shared.intro.histograms;
        // Found by the plain name without building one, for all but containers' calls.
        let histogram = match histograms.get_mut(command.name) {
            Some(h) if args.len() < 2 || !is_container(command) => h,
            _ => histograms.entry(full_name(command, args)).or_default(),
        };
        // Redis times a call in whole microseconds and records that in nanoseconds.
        histogram.record(micros * 1000);
    }
}

/// Records a latency sample of `ms` for `event`, one per second (the worst of the second), as
/// Redis's `latencyAddSample`.
pub(crate) fn add_latency_sample(shared: &mut Shared, event: &'static str, ms: u64) {
    let now = (unix_micros() / 1_000_000) as u64;
    let ts: &mut LatencyEvent = shared.intro.latency.entry(event).or_default();
    ts.max = ts.max.max(ms);
    if let Some(last) = ts.samples.back_mut() {
        if last.0 == now {
            last.1 = last.1.max(ms);
            return;
        }
    }
    ts.samples.push_back((now, ms));
    while ts.samples.len() > LATENCY_TS_LEN {
        ts.samples.pop_front();
    }
}

/// Quotes a byte string as Redis's `sdscatrepr`.
fn repr(out: &mut String, b: &[u8]) {
    out.push('"');
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(c as char),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
}

/// The arguments MONITOR shows of a call: AUTH's and HELLO AUTH's secrets redacted, as
/// Redis's `redactClientCommandArgument`.
fn shown_args(args: &[Bytes]) -> Vec<&[u8]> {
    let mut shown: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    let name = shown.first().copied().unwrap_or_default();
    if name.eq_ignore_ascii_case(b"auth") {
        for a in shown.iter_mut().skip(1) {
            *a = b"(redacted)";
        }
    } else if name.eq_ignore_ascii_case(b"hello") {
        let mut i = 2;
        while i < shown.len() {
            let word = shown.get(i).copied().unwrap_or_default();
            if word.eq_ignore_ascii_case(b"auth") {
                for j in [i + 1, i + 2] {
                    if let Some(a) = shown.get_mut(j) {
                        *a = b"(redacted)";
                    }
                }
                i += 3;
            } else if word.eq_ignore_ascii_case(b"setname") {
                i += 2;
            } else {
                i += 1;
            }
        }
    }
    shown
}

/// The commands that run a script (EVAL, FCALL and their variants). MONITOR shows their line
/// when they start ([`monitor_script`]), before the commands of the script, rather than when
/// they end; and their keys are tracked for the caller only as the script reads
/// ([`track_script_call`]).
fn runs_script(command: &Command) -> bool {
    matches!(
        command.name,
        "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Feeds MONITOR the line of a command that runs a script, as it starts (Redis's
/// `evalCommand` and `fcallCommandGeneric` do, so that the script's commands follow it).
pub(crate) fn monitor_script(shared: &mut Shared, client: &mut Client, args: &[Bytes]) {
    if !client.obey && !shared.intro.monitors.is_empty() {
        feed_monitors(shared, client, args);
    }
}

/// Sends MONITOR clients (but `client` itself) the line of a command `client` ran, as Redis's
/// `replicationFeedMonitors` formats it: time, database and peer (`lua` for a script's
/// commands), then the arguments quoted.
fn feed_monitors(shared: &mut Shared, client: &mut Client, args: &[Bytes]) {
    let t = unix_micros();
    let peer = if client.script {
        "lua"
    } else {
        shared
            .clients
            .get(&client.id)
            .map_or("", |c| c.addr.as_str())
    };
    let mut line = format!(
        "+{}.{:06} [{} {}] ",
        t / 1_000_000,
        t % 1_000_000,
        client.db,
        peer
    );
    for (i, a) in shown_args(args).into_iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        repr(&mut line, a);
    }
    line.push_str("\r\n");
    let line = Bytes::from(line);
    for m in &shared.intro.monitors {
        if m.client != client.id {
            client.outbox.push((m.conn, line.clone()));
        }
    }
}

fn push_slowlog(shared: &mut Shared, client: &Client, args: &[Bytes], micros: u64) {
    let mut kept: Vec<Bytes> = Vec::with_capacity(args.len().min(SLOWLOG_MAX_ARGC));
    for (j, a) in args.iter().enumerate().take(SLOWLOG_MAX_ARGC) {
        if args.len() > SLOWLOG_MAX_ARGC && j == SLOWLOG_MAX_ARGC - 1 {
            kept.push(Bytes::from(format!(
                "... ({} more arguments)",
                args.len() - SLOWLOG_MAX_ARGC + 1
            )));
        } else if a.len() > SLOWLOG_MAX_STRING {
            let mut s = a.get(..SLOWLOG_MAX_STRING).unwrap_or_default().to_vec();
            s.extend_from_slice(
                format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_STRING).as_bytes(),
            );
            kept.push(Bytes::from(s));
        } else {
            // Copied: an argument shares the whole read buffer, which an entry would pin.
            kept.push(Bytes::copy_from_slice(a));
        }
    }
    let (peer, name) = shared.clients.get(&client.id).map_or_else(
        || (String::new(), String::new()),
        |c| (c.addr.clone(), client.name.clone().unwrap_or_default()),
    );
    let id = shared.intro.slowlog_next_id;
    shared.intro.slowlog_next_id += 1;
    shared.intro.slowlog.push_front(SlowEntry {
        id,
        time: (unix_micros() / 1_000_000) as u64,
        micros,
        args: kept,
        peer,
        name,
    });
    let max = settings(shared)[1].max(0) as usize;
    shared.intro.slowlog.truncate(max);
}

/// `MONITOR`: from now on, every command other clients run is sent to this one.
pub(crate) fn monitor(ctx: &mut Ctx<'_, '_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.in_exec {
        return Err(CmdError::err(
            "MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    if ctx.client.monitor {
        return Ok(());
    }
    let conn = ctx
        .client
        .conn
        .ok_or_else(|| CmdError::err("MONITOR isn't allowed for DENY BLOCKING client"))?;
    ctx.client.monitor = true;
    ctx.shared.intro.monitors.push(Subscriber {
        client: ctx.client.id,
        conn,
        resp: ctx.client.resp,
    });
    ctx.out.ok();
    Ok(())
}

const SLOWLOG_HELP: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

/// `SLOWLOG GET [count] | LEN | RESET | HELP`.
pub(crate) fn slowlog(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1).map_or(&[][..], |b| b);
    let n = args.len();
    if n == 2 && is(sub, "help") {
        reply_help(ctx, "SLOWLOG", SLOWLOG_HELP);
    } else if n == 2 && is(sub, "reset") {
        ctx.shared.intro.slowlog.clear();
        ctx.out.ok();
    } else if n == 2 && is(sub, "len") {
        ctx.out.int(ctx.shared.intro.slowlog.len() as i64);
    } else if (n == 2 || n == 3) && is(sub, "get") {
        let mut count = 10usize;
        if let Some(c) = args.get(2) {
            let v = int_arg(c)
                .map_err(|_| CmdError::err("count should be greater than or equal to -1"))?;
            if v < -1 {
                return Err(CmdError::err("count should be greater than or equal to -1"));
            }
            count = if v == -1 { usize::MAX } else { v as usize };
        }
        let entries: Vec<SlowEntry> = ctx
            .shared
            .intro
            .slowlog
            .iter()
            .take(count)
            .cloned()
            .collect();
        ctx.out.array_len(entries.len());
        for e in entries {
            ctx.out.array_len(6);
            ctx.out.int(e.id as i64);
            ctx.out.int(e.time as i64);
            ctx.out.int(e.micros as i64);
            ctx.out.array_len(e.args.len());
            for a in &e.args {
                ctx.out.bulk(a);
            }
            ctx.out.bulk(e.peer.as_bytes());
            ctx.out.bulk(e.name.as_bytes());
        }
    } else {
        return Err(subcommand_syntax(args));
    }
    Ok(())
}

const LATENCY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
];

/// The top of LATENCY HISTOGRAM's row `k` in ns: the highest value the histogram counts as
/// equal to 1024·2^k ns, the levels Redis's `fillCommandCDF` iterates by (checked against
/// redis-server 7.0.15: 1, 2, 4, …, 66, 132, 264, 528, 1056, 2113 µs).
fn row_top(k: u32) -> i64 {
    crate::hdr::highest_equivalent(1024i64 << k.min(40))
}

/// LATENCY HISTOGRAM's rows of `h`: (top of the row in µs, calls up to it) for every
/// power-of-two level from 1024 ns that holds calls, up to the slowest call.
fn histogram_rows(h: &Histogram) -> Vec<(i64, u64)> {
    let mut rows = Vec::new();
    let mut before = 0;
    for k in 0..=40 {
        let cumulative = h.count_up_to(row_top(k));
        if cumulative > before {
            rows.push((row_top(k) / 1000, cumulative));
        }
        before = cumulative;
        if cumulative >= h.total() {
            break;
        }
    }
    rows
}

/// Writes one command's histogram as LATENCY HISTOGRAM does (`fillCommandCDF`).
fn write_histogram(ctx: &mut Ctx<'_, '_>, h: &Histogram) {
    let calls = h.total();
    let rows = histogram_rows(h);
    ctx.out.map_len(2);
    ctx.out.bulk(b"calls");
    ctx.out.int(calls as i64);
    ctx.out.bulk(b"histogram_usec");
    ctx.out.map_len(rows.len());
    for (usec, n) in rows {
        ctx.out.int(usec);
        ctx.out.int(n as i64);
    }
}

/// LATENCY DOCTOR's report (Redis's `createLatencyReport`, without its advice section).
fn doctor_report(shared: &Shared) -> String {
    let intro = &shared.intro;
    if intro.latency.is_empty() && config_int(shared, "latency-monitor-threshold", 0) == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let now = (unix_micros() / 1_000_000) as u64;
    let mut report = String::new();
    for (i, (event, ts)) in intro.latency.iter().enumerate() {
        if i == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let n = ts.samples.len() as u64;
        let sum: u64 = ts.samples.iter().map(|s| s.1).sum();
        let avg = sum.checked_div(n).unwrap_or(0);
        let mad = ts
            .samples
            .iter()
            .map(|s| s.1.abs_diff(avg))
            .sum::<u64>()
            .checked_div(n)
            .unwrap_or(0);
        let first = ts.samples.iter().map(|s| s.0).min().unwrap_or(now);
        let period = now.saturating_sub(first).max(1);
        report.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.\n",
            i + 1,
            event,
            n,
            avg,
            mad,
            period as f64 / n.max(1) as f64,
            ts.max
        ));
    }
    if intro.latency.is_empty() {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    }
    report
}

/// LATENCY GRAPH's text: the header, then the samples as Redis's sparkline of 4 rows
/// (`sparklineRender` with `SPARKLINE_FILL`), each column labelled by the sample's age.
fn graph(event: &str, ts: &LatencyEvent) -> String {
    let now = (unix_micros() / 1_000_000) as u64;
    let min = ts.samples.iter().map(|s| s.1).min().unwrap_or(0);
    let max = ts.samples.iter().map(|s| s.1).max().unwrap_or(0);
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n{}\n",
        ts.max,
        "-".repeat(80)
    );
    let labels: Vec<String> = ts
        .samples
        .iter()
        .map(|(t, _)| {
            let e = now.saturating_sub(*t);
            match e {
                0..=59 => format!("{e}s"),
                60..=3599 => format!("{}m", e / 60),
                3600..=86_399 => format!("{}h", e / 3600),
                _ => format!("{}d", e / 86_400),
            }
        })
        .collect();
    let rows = 4u64;
    let charset = b"_-`";
    let steps = charset.len() as u64 * rows;
    let range = max - min;
    let mut lines = vec![String::new(); rows as usize];
    for (j, (_, v)) in ts.samples.iter().enumerate().take(80) {
        let step = if range == 0 {
            0
        } else {
            (((*v - min) as f64 / range as f64) * (steps - 1) as f64) as u64
        };
        let _ = j;
        for (r, line) in lines.iter_mut().enumerate() {
            let r = rows - 1 - r as u64;
            let loweridx = r * charset.len() as u64;
            let c = if step >= loweridx + charset.len() as u64 {
                '|'
            } else if step >= loweridx {
                charset
                    .get((step - loweridx) as usize)
                    .map_or(' ', |&b| b as char)
            } else {
                ' '
            };
            line.push(c);
        }
    }
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    // The labels, one character per row, as the sparkline prints them.
    let longest = labels.iter().map(String::len).max().unwrap_or(0);
    for row in 0..longest {
        let mut line = String::new();
        for l in labels.iter().take(80) {
            line.push(l.as_bytes().get(row).map_or(' ', |&b| b as char));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `LATENCY LATEST | HISTORY event | RESET [event…] | DOCTOR | GRAPH event | HISTOGRAM
/// [command…] | HELP`.
pub(crate) fn latency(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1).map_or(&[][..], |b| b);
    let n = args.len();
    let event_named = |ctx: &Ctx<'_, '_>| {
        let name = args.get(2).map_or(&[][..], |b| b);
        ctx.shared
            .intro
            .latency
            .iter()
            .find(|(k, _)| k.as_bytes() == name)
            .map(|(k, v)| (*k, v.clone()))
    };
    if is(sub, "history") && n == 3 {
        let samples = event_named(ctx)
            .map(|(_, ts)| ts.samples)
            .unwrap_or_default();
        ctx.out.array_len(samples.len());
        for (t, ms) in samples {
            ctx.out.array_len(2);
            ctx.out.int(t as i64);
            ctx.out.int(ms as i64);
        }
    } else if is(sub, "graph") && n == 3 {
        let Some((event, ts)) = event_named(ctx) else {
            return Err(CmdError::err(format!(
                "No samples available for event '{}'",
                String::from_utf8_lossy(args.get(2).map_or(&[][..], |b| b))
            )));
        };
        ctx.out.verbatim(b"txt", graph(event, &ts).as_bytes());
    } else if is(sub, "latest") && n == 2 {
        let events: Vec<(&'static str, LatencyEvent)> = ctx
            .shared
            .intro
            .latency
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        ctx.out.array_len(events.len());
        for (event, ts) in events {
            let (t, ms) = ts.samples.back().copied().unwrap_or_default();
            ctx.out.array_len(4);
            ctx.out.bulk(event.as_bytes());
            ctx.out.int(t as i64);
            ctx.out.int(ms as i64);
            ctx.out.int(ts.max as i64);
        }
    } else if is(sub, "doctor") && n == 2 {
        let report = doctor_report(ctx.shared);
        ctx.out.verbatim(b"txt", report.as_bytes());
    } else if is(sub, "reset") {
        let intro = &mut ctx.shared.intro;
        let resets = if n == 2 {
            let all = intro.latency.len();
            intro.latency.clear();
            all
        } else {
            args.iter()
                .skip(2)
                .filter(|name| {
                    let key = intro
                        .latency
                        .keys()
                        .find(|k| k.as_bytes() == &name[..])
                        .copied();
                    key.is_some_and(|k| intro.latency.remove(k).is_some())
                })
                .count()
        };
        ctx.out.int(resets as i64);
    } else if is(sub, "histogram") {
        let histograms = &ctx.shared.intro.histograms;
        let chosen: Vec<(String, Histogram)> = if n == 2 {
            histograms
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            let mut chosen = Vec::new();
            for name in args.iter().skip(2) {
                let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                for (k, v) in histograms {
                    let top = k.split('|').next().unwrap_or_default();
                    if *k == name || (!name.contains('|') && top == name && k.contains('|')) {
                        chosen.push((k.clone(), v.clone()));
                    }
                }
            }
            chosen
        };
        ctx.out.map_len(chosen.len());
        for (name, counts) in chosen {
            ctx.out.bulk(name.as_bytes());
            write_histogram(ctx, &counts);
        }
    } else if is(sub, "help") && n == 2 {
        reply_help(ctx, "LATENCY", LATENCY_HELP);
    } else {
        return Err(subcommand_syntax(args));
    }
    Ok(())
}

/// Where a client's messages go, for the tracking messages (`None` once it is gone).
fn tracking_target(shared: &Shared, id: u64) -> Option<crate::tracking::Target> {
    let info = shared.clients.get(&id)?;
    Some(crate::tracking::Target {
        conn: info.conn?,
        resp: info.resp,
        subscribed: info.pubsub,
    })
}

/// After a command, while some client tracks: a tracking client's reads are remembered; a
/// write invalidates its keys (a flush everything); BCAST clients are told of this command's
/// writes. Messages go through the running client's outbox.
pub(crate) fn track(
    shared: &mut Shared,
    client: &mut Client,
    command: &Command,
    args: &[Bytes],
    wrote: bool,
) {
    let keep_caching = client.multi.is_some()
        || (command.name == "client" && args.get(1).is_some_and(|s| is(s, "caching")));
    // EVAL_RO and its kin are READONLY, yet only what their script reads is tracked.
    let reads =
        (command.flags & READONLY != 0 && !runs_script(command)).then(|| command.key_args(args));
    shared
        .intro
        .tracking
        .after_command(client.id, reads, keep_caching);
    if !runs_script(command) {
        // A script's writes were seen one by one as its commands ran.
        invalidate_written(shared, client, command, args, wrote);
    }
}

/// Client-side caching after a command a script ran for `caller` (Redis's `call` for a
/// script's client): when the command reads, the keys the caller's command named (`keys`:
/// EVAL's or FCALL's, not the command's own) are remembered for the caller, as Redis 7.0
/// does; the keys it wrote are invalidated with the caller as the writer (NOLOOP).
pub(crate) fn track_script_call(
    shared: &mut Shared,
    caller: &mut Client,
    keys: &[Bytes],
    command: &Command,
    args: &[Bytes],
    wrote: bool,
) {
    if command.flags & READONLY != 0 {
        let keys = keys.iter().map(|k| &k[..]);
        shared
            .intro
            .tracking
            .after_command(caller.id, Some(keys), true);
    }
    invalidate_written(shared, caller, command, args, wrote);
}

/// Invalidates the keys `command` wrote (every key after FLUSHDB/FLUSHALL), with `writer` as
/// the client that wrote them, and sends what BCAST clients are owed.
fn invalidate_written(
    shared: &mut Shared,
    writer: &mut Client,
    command: &Command,
    args: &[Bytes],
    wrote: bool,
) {
    let flush = matches!(command.name, "flushdb" | "flushall");
    if !wrote && !flush {
        return;
    }
    let mut tracking = std::mem::take(&mut shared.intro.tracking);
    let lookup = |id: u64| tracking_target(shared, id);
    if flush {
        tracking.flush(&lookup, &mut writer.outbox);
    } else {
        for key in command.key_args(args) {
            tracking.invalidate(key, writer.id, &lookup, &mut writer.outbox);
        }
    }
    tracking.broadcast(&lookup, &mut writer.outbox);
    shared.intro.tracking = tracking;
}

/// `CLIENT TRACKING on|off [REDIRECT id] [PREFIX p]… [BCAST] [OPTIN] [OPTOUT] [NOLOOP]`,
/// `CLIENT CACHING yes|no`, `CLIENT GETREDIR`, `CLIENT TRACKINGINFO`, as Redis 7.0's
/// `clientCommand` (its checks in its order, its words).
pub(crate) fn client_tracking(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1).map_or(&[][..], |b| b);
    let id = ctx.client.id;
    if is(sub, "tracking") && args.len() >= 3 {
        let mut redirect = 0u64;
        let (mut bcast, mut optin, mut optout, mut noloop) = (false, false, false, false);
        let mut prefixes: Vec<Bytes> = Vec::new();
        let mut j = 3;
        while j < args.len() {
            let a = args.get(j).map_or(&[][..], |b| b);
            let more = j + 1 < args.len();
            if is(a, "redirect") && more {
                j += 1;
                if redirect != 0 {
                    return Err(CmdError::err(
                        "A client can only redirect to a single other client",
                    ));
                }
                let n = int_arg(args.get(j).map_or(&[][..], |b| b))?;
                redirect = n as u64;
                if n <= 0 || !ctx.shared.clients.contains_key(&redirect) {
                    return Err(CmdError::err(
                        "The client ID you want redirect to does not exist",
                    ));
                }
            } else if is(a, "bcast") {
                bcast = true;
            } else if is(a, "optin") {
                optin = true;
            } else if is(a, "optout") {
                optout = true;
            } else if is(a, "noloop") {
                noloop = true;
            } else if is(a, "prefix") && more {
                j += 1;
                prefixes.push(Bytes::copy_from_slice(args.get(j).map_or(&[][..], |b| b)));
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        let mode = args.get(2).map_or(&[][..], |b| b);
        if is(mode, "on") {
            if !bcast && !prefixes.is_empty() {
                return Err(CmdError::err(
                    "PREFIX option requires BCAST mode to be enabled",
                ));
            }
            let old = ctx.shared.intro.tracking.clients.get(&id).cloned();
            if old.as_ref().is_some_and(|o| o.bcast != bcast) {
                return Err(CmdError::err(
                    "You can't switch BCAST mode on/off before disabling tracking for this \
                     client, and then re-enabling it with a different mode.",
                ));
            }
            if bcast && (optin || optout) {
                return Err(CmdError::err(
                    "OPTIN and OPTOUT are not compatible with BCAST",
                ));
            }
            if optin && optout {
                return Err(CmdError::err(
                    "You can't specify both OPTIN mode and OPTOUT mode",
                ));
            }
            if old
                .as_ref()
                .is_some_and(|o| (optin && o.optout) || (optout && o.optin))
            {
                return Err(CmdError::err(
                    "You can't switch OPTIN/OPTOUT mode before disabling tracking for this \
                     client, and then re-enabling it with a different mode.",
                ));
            }
            let mut kept = old.as_ref().map(|o| o.prefixes.clone()).unwrap_or_default();
            if bcast {
                for (i, p) in prefixes.iter().enumerate() {
                    let shown = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    if let Some(c) = kept.iter().find(|k| k.starts_with(p) || p.starts_with(k)) {
                        return Err(CmdError::err(format!(
                            "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a \
                             single client must not overlap.",
                            shown(p),
                            shown(c)
                        )));
                    }
                    if let Some(q) = prefixes
                        .iter()
                        .skip(i + 1)
                        .find(|q| q.starts_with(p) || p.starts_with(q))
                    {
                        return Err(CmdError::err(format!(
                            "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes \
                             for a single client must not overlap.",
                            shown(p),
                            shown(q)
                        )));
                    }
                }
                if prefixes.is_empty() {
                    prefixes.push(Bytes::new());
                }
                for p in prefixes {
                    if !kept.contains(&p) {
                        kept.push(p);
                    }
                }
            }
            ctx.shared.intro.tracking.clients.insert(
                id,
                crate::tracking::Tracker {
                    conn: ctx.client.conn,
                    resp: Some(ctx.client.resp),
                    redirect,
                    bcast,
                    optin,
                    optout,
                    noloop,
                    prefixes: kept,
                    caching: false,
                    broken: false,
                },
            );
        } else if is(mode, "off") {
            ctx.shared.intro.tracking.forget(id);
        } else {
            return Err(CmdError::Syntax);
        }
        ctx.out.ok();
    } else if is(sub, "caching") && args.len() >= 3 {
        let Some(t) = ctx.shared.intro.tracking.clients.get_mut(&id) else {
            return Err(CmdError::err(
                "CLIENT CACHING can be called only when the client is in tracking mode with \
                 OPTIN or OPTOUT mode enabled",
            ));
        };
        let opt = args.get(2).map_or(&[][..], |b| b);
        if is(opt, "yes") {
            if !t.optin {
                return Err(CmdError::err(
                    "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                ));
            }
        } else if is(opt, "no") {
            if !t.optout {
                return Err(CmdError::err(
                    "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                ));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        t.caching = true;
        ctx.out.ok();
    } else if is(sub, "getredir") && args.len() == 2 {
        let redirect = ctx
            .shared
            .intro
            .tracking
            .clients
            .get(&id)
            .map_or(-1, |t| t.redirect as i64);
        ctx.out.int(redirect);
    } else if is(sub, "trackinginfo") && args.len() == 2 {
        let t = ctx.shared.intro.tracking.clients.get(&id).cloned();
        let mut flags = vec![if t.is_some() { "on" } else { "off" }];
        let mut prefixes = Vec::new();
        let mut redirect = -1;
        if let Some(t) = t {
            if t.bcast {
                flags.push("bcast");
            }
            if t.optin {
                flags.push("optin");
                if t.caching {
                    flags.push("caching-yes");
                }
            }
            if t.optout {
                flags.push("optout");
                if t.caching {
                    flags.push("caching-no");
                }
            }
            if t.noloop {
                flags.push("noloop");
            }
            if t.broken {
                flags.push("broken_redirect");
            }
            redirect = t.redirect as i64;
            prefixes = t.prefixes;
            prefixes.sort();
        }
        ctx.out.map_len(3);
        ctx.out.bulk(b"flags");
        ctx.out.set_len(flags.len());
        for f in flags {
            ctx.out.bulk(f.as_bytes());
        }
        ctx.out.bulk(b"redirect");
        ctx.out.int(redirect);
        ctx.out.bulk(b"prefixes");
        ctx.out.array_len(prefixes.len());
        for p in prefixes {
            ctx.out.bulk(&p);
        }
    } else {
        return Err(subcommand_syntax(args));
    }
    Ok(())
}

/// OBJECT REFCOUNT of a value: Redis shares the integers 0..10000 (`OBJ_SHARED_INTEGERS`),
/// which report `OBJ_SHARED_REFCOUNT` (INT_MAX), unless an LRU/LFU `maxmemory` policy keeps
/// each value's own clock; every other value is its key's alone.
pub(crate) fn refcount(v: &crate::types::value::Value, config: &crate::config::Config) -> i64 {
    use crate::config::MaxmemoryPolicy as P;
    let per_key_clock = config.maxmemory != 0
        && matches!(
            config.maxmemory_policy,
            P::VolatileLru | P::AllkeysLru | P::VolatileLfu | P::AllkeysLfu
        );
    match v {
        crate::types::value::Value::Int(n) if (0..10_000).contains(n) && !per_key_clock => {
            i64::from(i32::MAX)
        }
        _ => 1,
    }
}

/// MEMORY HELP's lines, as Redis 7.0's.
const MEMORY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

/// `MEMORY DOCTOR | MALLOC-STATS | PURGE | STATS | HELP` (USAGE is the keys family's). The
/// allocator is the system's, counted by spindle's own (`alloc.rs`): MALLOC-STATS answers as
/// a Redis built without jemalloc does, PURGE has nothing to purge.
pub(crate) fn memory(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let sub = args.get(1).map_or(&[][..], |b| b);
    let n = args.len();
    if is(sub, "help") && n == 2 {
        reply_help(ctx, "MEMORY", MEMORY_HELP);
    } else if is(sub, "malloc-stats") && n == 2 {
        ctx.out
            .bulk(b"Stats not supported for the current allocator");
    } else if is(sub, "purge") && n == 2 {
        ctx.out.ok();
    } else if is(sub, "doctor") && n == 2 {
        let used = crate::alloc::sample_peak() as u64;
        let peak = (crate::alloc::peak() as u64).max(used);
        let text: &str = if used < 5 * 1024 * 1024 {
            "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
        } else if peak as f64 / used as f64 > 1.5 {
            "Sam, I detected a few issues in this Redis instance memory implants:\n\n * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\nI'm here to keep you safe, Sam. I want to help you.\n"
        } else {
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
        };
        ctx.out.verbatim(b"txt", text.as_bytes());
    } else if is(sub, "stats") && n == 2 {
        memory_stats(ctx);
    } else {
        return Err(subcommand_syntax(args));
    }
    Ok(())
}

/// MEMORY STATS's map, in Redis 7.0's order: the allocator's numbers are the counting
/// allocator's (in use, peak) and /proc's RSS; overheads are the replication backlog, the
/// clients' buffers, the AOF buffer and the keyspaces' tables (per-entry cost estimated).
fn memory_stats(ctx: &mut Ctx<'_, '_>) {
    /// What one table slot and entry cost besides key and value (an estimate).
    const PER_KEY: u64 = 48;
    let used = crate::alloc::sample_peak() as u64;
    let peak = (crate::alloc::peak() as u64).max(used);
    let rss = crate::alloc::rss_bytes();
    let clients: u64 = ctx.shared.clients.values().map(|c| c.memory() as u64).sum();
    let aof = ctx
        .db
        .propagation
        .aof
        .as_ref()
        .map_or(0, |f| f.buf.capacity() as u64);
    let dbs: Vec<(usize, u64, u64)> = ctx
        .db
        .spaces
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(i, s)| (i, s.len() as u64, s.volatile_len() as u64))
        .collect();
    let keys: u64 = dbs.iter().map(|d| d.1).sum();
    let tables: u64 = dbs.iter().map(|d| (d.1 + d.2) * PER_KEY).sum();
    let overhead = clients + aof + tables;
    let dataset = used.saturating_sub(overhead);
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    ctx.out.map_len(27 + dbs.len());
    let int = |ctx: &mut Ctx<'_, '_>, name: &str, v: u64| {
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(v as i64);
    };
    int(ctx, "peak.allocated", peak);
    int(ctx, "total.allocated", used);
    int(ctx, "startup.allocated", 0);
    int(ctx, "replication.backlog", 0);
    int(ctx, "clients.slaves", 0);
    int(ctx, "clients.normal", clients);
    int(ctx, "cluster.links", 0);
    int(ctx, "aof.buffer", aof);
    int(ctx, "lua.caches", 0);
    int(ctx, "functions.caches", 0);
    for (i, count, expires) in &dbs {
        ctx.out.bulk(format!("db.{i}").as_bytes());
        ctx.out.map_len(3);
        int(ctx, "overhead.hashtable.main", count * PER_KEY);
        int(ctx, "overhead.hashtable.expires", expires * PER_KEY);
        int(ctx, "overhead.hashtable.slot-to-keys", 0);
    }
    int(ctx, "overhead.total", overhead);
    int(ctx, "keys.count", keys);
    int(
        ctx,
        "keys.bytes-per-key",
        dataset.checked_div(keys).unwrap_or(0),
    );
    int(ctx, "dataset.bytes", dataset);
    let dbl = |ctx: &mut Ctx<'_, '_>, name: &str, v: f64| {
        ctx.out.bulk(name.as_bytes());
        ctx.out.double(v);
    };
    dbl(ctx, "dataset.percentage", pct(dataset, used));
    dbl(ctx, "peak.percentage", pct(used, peak));
    int(ctx, "allocator.allocated", used);
    int(ctx, "allocator.active", used);
    int(ctx, "allocator.resident", rss);
    dbl(ctx, "allocator-fragmentation.ratio", 1.0);
    int(ctx, "allocator-fragmentation.bytes", 0);
    dbl(ctx, "allocator-rss.ratio", ratio(rss, used));
    int(ctx, "allocator-rss.bytes", rss.saturating_sub(used));
    dbl(ctx, "rss-overhead.ratio", 1.0);
    int(ctx, "rss-overhead.bytes", 0);
    dbl(ctx, "fragmentation", ratio(rss, used));
    int(ctx, "fragmentation.bytes", rss.saturating_sub(used));
}

/// Redis's names of key-spec flags, in its order (`addReplyFlagsForKeyArgs`).
const KEY_FLAG_NAMES: &[(u16, &str)] = &[
    (1, "RO"),
    (1 << 1, "RW"),
    (1 << 2, "OW"),
    (1 << 3, "RM"),
    (1 << 4, "access"),
    (1 << 5, "update"),
    (1 << 6, "insert"),
    (1 << 7, "delete"),
    (1 << 8, "not_key"),
    (1 << 9, "incomplete"),
    (1 << 10, "variable_flags"),
];

/// `COMMAND GETKEYS command arg…` and `COMMAND GETKEYSANDFLAGS command arg…` (`call` is the
/// command line asked about): its keys found by Redis 7.0's key specs, with their flags when
/// `with_flags`, and Redis's refusals.
pub(crate) fn command_getkeys(
    ctx: &mut Ctx<'_, '_>,
    call: &[Bytes],
    with_flags: bool,
) -> CmdResult {
    let argv: Vec<&[u8]> = call.iter().map(|a| &a[..]).collect();
    let name = argv.first().copied().unwrap_or_default();
    let served = ctx.command(name);
    let entry = served.and_then(|_| {
        let id = crate::acl::catalog::resolve(&argv)?;
        Some((id, crate::acl::catalog::table().get(id)?))
    });
    let Some((id, entry)) = entry else {
        return Err(CmdError::err("Invalid command specified"));
    };
    let no_keys = entry.getkeys.is_empty()
        && entry
            .specs
            .first()
            .is_none_or(|s| s.flags & crate::acl::catalog::key::NOT_KEY != 0);
    if no_keys {
        return Err(CmdError::err("The command has no key arguments"));
    }
    let argc = argv.len();
    if (entry.arity > 0 && entry.arity as usize != argc) || (argc as i64) < -i64::from(entry.arity)
    {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let keys = crate::acl::catalog::keys(id, &argv);
    if keys.is_empty() {
        // Redis's CMD_NO_MANDATORY_KEYS commands (scripts) may name none.
        let optional = matches!(
            entry.name,
            "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro"
        );
        if !optional {
            return Err(CmdError::err("Invalid arguments specified for command"));
        }
    }
    ctx.out.array_len(keys.len());
    for (pos, flags) in keys {
        let key = call.get(pos).map_or(&[][..], |b| b);
        if with_flags {
            ctx.out.array_len(2);
            ctx.out.bulk(key);
            let names: Vec<&str> = KEY_FLAG_NAMES
                .iter()
                .filter(|(bit, _)| flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            ctx.out.set_len(names.len());
            for n in names {
                ctx.out.simple(n);
            }
        } else {
            ctx.out.bulk(key);
        }
    }
    Ok(())
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`: every command
/// served, each container followed by its subcommands (`client|list`) as Redis 7.0 lists them.
pub(crate) fn command_list(ctx: &mut Ctx<'_, '_>, rest: &[Bytes]) -> CmdResult {
    enum Filter<'a> {
        All,
        Module,
        Category(u32),
        Pattern(&'a [u8]),
    }
    let filter = match rest {
        [] => Filter::All,
        [by, kind, value] if is(by, "filterby") => {
            if is(kind, "module") {
                Filter::Module
            } else if is(kind, "aclcat") {
                let bit = crate::acl::CATEGORIES
                    .iter()
                    .position(|c| c.as_bytes().eq_ignore_ascii_case(value))
                    .map_or(0, |i| 1u32 << i);
                Filter::Category(bit)
            } else if is(kind, "pattern") {
                Filter::Pattern(value)
            } else {
                return Err(CmdError::err("syntax error"));
            }
        }
        _ => return Err(CmdError::err("syntax error")),
    };
    let table = crate::acl::catalog::table();
    let mut names: Vec<&str> = Vec::new();
    for c in ctx.commands {
        let id = crate::acl::catalog::lookup(c.name.as_bytes());
        let mut rows: Vec<(&str, u32)> = vec![(c.name, 0)];
        if let Some(id) = id {
            if let Some(e) = table.get(id) {
                rows = vec![(c.name, e.categories)];
            }
            for sub in crate::acl::catalog::subcommands(id) {
                if let Some(e) = table.get(sub) {
                    rows.push((e.name, e.categories));
                }
            }
        }
        for (name, categories) in rows {
            let keep = match filter {
                Filter::All => true,
                Filter::Module => false,
                Filter::Category(bit) => categories & bit != 0,
                Filter::Pattern(p) => crate::glob::matches(p, name.as_bytes(), true),
            };
            if keep {
                names.push(name);
            }
        }
    }
    ctx.out.array_len(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// C's `rand()` as glibc computes it (the TYPE_3 additive generator seeded with 1), so that
/// LOLWUT's art is drawn from the same kind of sequence Redis's is.
struct GlibcRand {
    r: Vec<i32>,
    i: usize,
}

impl GlibcRand {
    fn new(seed: u32) -> Self {
        let mut r = vec![0i32; 34];
        let mut v = seed.max(1) as i32;
        if let Some(x) = r.get_mut(0) {
            *x = v;
        }
        for i in 1..31 {
            let hi = v / 127_773;
            let lo = v % 127_773;
            v = 16_807_i32
                .wrapping_mul(lo)
                .wrapping_sub(2_836_i32.wrapping_mul(hi));
            if v < 0 {
                v = v.wrapping_add(i32::MAX);
            }
            if let Some(x) = r.get_mut(i) {
                *x = v;
            }
        }
        for i in 31..34 {
            let prev = r.get(i - 31).copied().unwrap_or(0);
            if let Some(x) = r.get_mut(i) {
                *x = prev;
            }
        }
        let mut g = GlibcRand { r, i: 34 };
        for _ in 34..344 {
            g.next_raw();
        }
        g
    }

    fn next_raw(&mut self) -> u32 {
        let a = self.r.get(self.i - 31).copied().unwrap_or(0);
        let b = self.r.get(self.i - 3).copied().unwrap_or(0);
        let v = a.wrapping_add(b);
        self.r.push(v);
        self.i += 1;
        if self.r.len() > 64 {
            self.r.drain(..32);
            self.i -= 32;
        }
        (v as u32) >> 1
    }

    fn next(&mut self) -> i64 {
        i64::from(self.next_raw())
    }
}

/// LOLWUT's canvas: `width` × `height` pixels of gray levels 0..=3.
struct Canvas {
    width: i64,
    height: i64,
    pixels: Vec<u8>,
}

impl Canvas {
    fn get(&self, x: i64, y: i64) -> u8 {
        if x < 0 || x >= self.width || y < 0 || y >= self.height {
            return 0;
        }
        self.pixels
            .get((x + y * self.width) as usize)
            .copied()
            .unwrap_or(0)
    }

    fn set(&mut self, x: i64, y: i64, color: u8) {
        if x < 0 || x >= self.width || y < 0 || y >= self.height {
            return;
        }
        if let Some(p) = self.pixels.get_mut((x + y * self.width) as usize) {
            *p = color;
        }
    }
}

struct Skyscraper {
    xoff: i64,
    width: i64,
    height: i64,
    windows: bool,
    color: u8,
}

fn skyscraper(canvas: &mut Canvas, si: &Skyscraper, rng: &mut GlibcRand) {
    let starty = canvas.height - 1;
    let endy = starty - si.height + 1;
    let mut y = starty;
    while y >= endy {
        for x in si.xoff..si.xoff + si.width {
            if y == endy && (x <= si.xoff + 1 || x >= si.xoff + si.width - 2) {
                continue;
            }
            let mut color = si.color;
            if si.windows
                && x > si.xoff + 1
                && x < si.xoff + si.width - 2
                && y > endy + 1
                && y < starty - 1
            {
                let relx = x - (si.xoff + 1);
                let rely = y - (endy + 1);
                if (relx / 2) % 2 != 0 && rely % 2 != 0 {
                    loop {
                        color = 1 + (rng.next() % 2) as u8;
                        if color != si.color {
                            break;
                        }
                    }
                    if relx % 2 != 0 {
                        color = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.set(x, y, color);
        }
        y -= 1;
    }
}

/// LOLWUT 6's skyline: two passes of background buildings, then the foreground with windows.
fn skyline(canvas: &mut Canvas, rng: &mut GlibcRand) {
    let h = canvas.height;
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < canvas.width {
            offset += rng.next() % 8;
            let width = 10 + rng.next() % 9;
            // C's `canvas->height/2 + rand()%canvas->height/2` parses as (rand()%h)/2.
            let height = if color == 2 {
                h / 2 + (rng.next() % h) / 2
            } else {
                h / 2 + (rng.next() % h) / 3
            };
            let si = Skyscraper {
                xoff: offset,
                width,
                height,
                windows: false,
                color,
            };
            skyscraper(canvas, &si, rng);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < canvas.width {
        offset += rng.next() % 8;
        let mut width = 5 + rng.next() % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + (rng.next() % h) / 2;
        let si = Skyscraper {
            xoff: offset,
            width,
            height,
            windows: true,
            color: 0,
        };
        skyscraper(canvas, &si, rng);
        offset += width + 5;
    }
}

/// LOLWUT 6 (`LOLWUT VERSION 6 [columns] [rows]`): a city skyline in the terminal's four
/// grays, as Redis 6 drew it.
fn lolwut6(args: &[Bytes], seed: u32) -> Result<String, CmdError> {
    let mut cols = 80;
    let mut rows = 20;
    if let Some(a) = args.first() {
        cols = int_arg(a)?;
    }
    if let Some(a) = args.get(1) {
        rows = int_arg(a)?;
    }
    let cols = cols.clamp(1, 1000);
    let rows = rows.clamp(1, 1000);
    let mut canvas = Canvas {
        width: cols,
        height: rows,
        pixels: vec![3; (cols * rows) as usize],
    };
    let mut rng = GlibcRand::new(seed);
    skyline(&mut canvas, &mut rng);
    let mut text = String::new();
    for y in 0..rows {
        for x in 0..cols {
            let ce = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str(&format!("\x1b[{ce} \x1b[0m"));
        }
        if y != rows - 1 {
            text.push('\n');
        }
    }
    text.push_str("\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. ");
    text.push_str(REDIS_VERSION);
    text.push('\n');
    Ok(text)
}

/// `LOLWUT [VERSION n] [args…]`: Redis 7.0.15 has no art of its own (its version's line
/// only); VERSION 6 draws Redis 6's skyline.
pub(crate) fn lolwut(ctx: &mut Ctx<'_, '_>, args: &[Bytes]) -> CmdResult {
    let mut version = None;
    let mut rest = args.get(1..).unwrap_or_default();
    if args.len() >= 3 && is(args.get(1).map_or(&[][..], |b| b), "version") {
        let v = int_arg(args.get(2).map_or(&[][..], |b| b))?;
        version = Some(v as u32);
        rest = args.get(3..).unwrap_or_default();
    }
    let text = match version {
        Some(6) => lolwut6(rest, (ctx.now & 0x7fff_ffff) as u32)?,
        _ => format!("Redis ver. {REDIS_VERSION}\n"),
    };
    ctx.out.verbatim(b"txt", text.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{e, i, ok, Frame, T as Harness};

    #[test]
    fn glibc_rand_matches_the_c_library() {
        let mut g = GlibcRand::new(1);
        let first: Vec<i64> = (0..3).map(|_| g.next()).collect();
        assert_eq!(first, vec![1_804_289_383, 846_930_886, 1_681_692_777]);
    }

    #[test]
    fn monitor_lines_quote_as_redis() {
        let mut s = String::new();
        repr(&mut s, b"a\"b\\\n\x01 z");
        assert_eq!(s, "\"a\\\"b\\\\\\n\\x01 z\"");
        let args = [Bytes::from("AUTH"), Bytes::from("u"), Bytes::from("p")];
        assert_eq!(
            shown_args(&args),
            vec![&b"AUTH"[..], b"(redacted)", b"(redacted)"]
        );
    }

    #[test]
    fn monitor_feeds_other_clients_commands() {
        let mut h = Harness::new();
        let mut m = h.other(7);
        assert_eq!(h.run_as(&mut m, "MONITOR"), ok());
        h.run("SET k \"v\"");
        let (conn, line) = h.client.outbox.pop().expect("a monitor line");
        assert_eq!(Some(conn), m.conn);
        let line = String::from_utf8_lossy(&line).into_owned();
        assert!(line.starts_with('+'), "{line}");
        assert!(
            line.ends_with(" [0 test] \"SET\" \"k\" \"\\\"v\\\"\"\r\n"),
            "{line}"
        );
        // Admin commands are not shown.
        h.run("CONFIG GET hz");
        assert!(h.client.outbox.is_empty());
    }

    #[test]
    fn slowlog_keeps_trimmed_entries_newest_first() {
        let mut h = Harness::new();
        assert_eq!(h.run("CONFIG SET slowlog-log-slower-than 0"), ok());
        h.run("SLOWLOG RESET");
        let long = "x".repeat(130);
        h.run(&format!("SET k {long}"));
        assert_eq!(h.run("SLOWLOG LEN"), i(2));
        let got = format!("{:?}", h.run("SLOWLOG GET 2"));
        assert!(got.contains("... (2 more bytes)"), "{got}");
        assert_eq!(
            h.run("SLOWLOG GET -2"),
            e("ERR count should be greater than or equal to -1")
        );
        assert_eq!(h.run("CONFIG SET slowlog-max-len 1"), ok());
        h.run("PING");
        assert_eq!(h.run("SLOWLOG LEN"), i(1));
        let many: Vec<String> = (0..40).map(|n| n.to_string()).collect();
        h.run(&format!("DEL {}", many.join(" ")));
        let got = format!("{:?}", h.run("SLOWLOG GET"));
        assert!(got.contains("... (10 more arguments)"), "{got}");
    }

    #[test]
    fn latency_events_and_histograms() {
        let mut h = Harness::new();
        add_latency_sample(&mut h.server.shared, "command", 12);
        add_latency_sample(&mut h.server.shared, "command", 30);
        let Frame::Array(latest) = h.run("LATENCY LATEST") else {
            panic!("an array")
        };
        assert_eq!(latest.len(), 1);
        assert_eq!(h.run("LATENCY RESET nothing"), i(0));
        assert_eq!(h.run("LATENCY RESET"), i(1));
        assert_eq!(h.run("LATENCY HISTORY command"), Frame::Array(vec![]));
        assert_eq!(
            h.run("LATENCY GRAPH command"),
            e("ERR No samples available for event 'command'")
        );
        h.run("SET a b");
        let got = format!("{:?}", h.run("LATENCY HISTOGRAM set"));
        assert!(
            got.contains("calls") && got.contains("histogram_usec"),
            "{got}"
        );
    }

    #[test]
    fn histogram_rows_follow_hdr_levels() {
        assert_eq!(row_top(0) / 1000, 1);
        assert_eq!(row_top(5) / 1000, 33);
        assert_eq!(row_top(6) / 1000, 66);
        assert_eq!(row_top(7) / 1000, 132);
        assert_eq!(row_top(11) / 1000, 2113);
        let mut h = Histogram::default();
        h.record(1);
        h.record(2_000);
        h.record(2_000);
        h.record(100_000);
        assert_eq!(histogram_rows(&h), [(1, 1), (2, 3), (132, 4)]);
    }

    #[test]
    fn lolwut_answers_with_the_version() {
        let mut h = Harness::new();
        let plain = format!("{:?}", h.run("LOLWUT"));
        assert!(
            plain.contains(&format!("Redis ver. {REDIS_VERSION}")),
            "{plain}"
        );
        let six = format!("{:?}", h.run("LOLWUT VERSION 6 10 5"));
        assert!(six.contains("Plaguemon"), "{six}");
    }
}
