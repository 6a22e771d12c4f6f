//! Persistence operations of `spindle kv` beside redis-server 7.0.15: BGSAVE (kill -9 after it,
//! the data back at restart, redis-check-rdb accepting the file), save points, SHUTDOWN and
//! SIGTERM saving (or not), DEBUG RELOAD, BGREWRITEAOF's multi-part rewrite (a small base,
//! redis-check-aof and redis-server accepting it), automatic rewrites, `spindle kv check-aof
//! --fix`, INFO persistence's fields, and a full disk under the AOF (root only: a tmpfs).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::kv::{connect, run, spindle_kv_with, without_aof_fill, RedisServer};
use common::{spindle, Running, Tmpfs};
use redis::{Connection, Value};

/// A data directory of this test's own, empty.
fn fresh_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("spindle-kv-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(dir: &Path, extra: &[&str]) -> (Running, Connection) {
    let mut args = vec![
        "--dir",
        dir.to_str().unwrap(),
        "--enable-debug-command",
        "yes",
    ];
    args.extend_from_slice(extra);
    let (server, port) = spindle_kv_with(&args);
    (server, connect(port).expect("spindle kv answers"))
}

fn kill_9(server: &mut Running) {
    let _ = Command::new("kill")
        .args(["-9", &server.pid().to_string()])
        .status();
    server.wait_for_exit(Duration::from_secs(10));
}

/// The reply, or the error's text.
fn reply(c: &mut Connection, args: &[&str]) -> Result<Value, String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<Value>(c).map_err(|e| {
        format!(
            "{} {}",
            e.code().unwrap_or(""),
            e.detail().unwrap_or_default()
        )
    })
}

fn text(v: Value) -> String {
    match v {
        Value::SimpleString(s) => s,
        Value::Okay => "OK".into(),
        Value::BulkString(b) => String::from_utf8(b).unwrap(),
        other => format!("{other:?}"),
    }
}

fn int(c: &mut Connection, args: &[&str]) -> i64 {
    match run(c, args) {
        Value::Int(n) => n,
        other => panic!("{args:?}: {other:?}"),
    }
}

/// One field of INFO persistence.
fn info_field(c: &mut Connection, field: &str) -> String {
    let info = text(run(c, &["INFO", "persistence"]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_string()
}

/// Polls `done` until it holds (a condition, not a fixed wait), for at most 20 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn bgsave_done(c: &mut Connection) -> bool {
    info_field(c, "rdb_bgsave_in_progress") == "0"
}

fn rewrite_done(c: &mut Connection) -> bool {
    info_field(c, "aof_rewrite_in_progress") == "0" && info_field(c, "aof_rewrite_scheduled") == "0"
}

#[test]
fn bgsave_survives_kill_9_and_redis_check_rdb_accepts_the_file() {
    let dir = fresh_dir("bgsave");
    let (mut server, mut c) = start(&dir, &[]);
    run(&mut c, &["DEBUG", "POPULATE", "20000", "k", "20"]);
    run(&mut c, &["RPUSH", "list", "a", "b", "c"]);
    run(&mut c, &["HSET", "h", "f", "v"]);
    assert_ne!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert_eq!(text(run(&mut c, &["BGSAVE"])), "Background saving started");
    wait_until("the BGSAVE", || bgsave_done(&mut c));
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert!(server
        .stderr()
        .contains("Background saving terminated with success"));
    assert_eq!(
        reply(&mut c, &["BGSAVE", "x"]).unwrap_err(),
        "ERR syntax error"
    );
    kill_9(&mut server);
    let check = Command::new("redis-check-rdb")
        .arg(dir.join("dump.rdb"))
        .output();
    if let Ok(out) = check {
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{said}");
        assert!(said.contains("RDB looks OK"), "{said}");
    }
    let (_server, mut c) = start(&dir, &[]);
    assert_eq!(int(&mut c, &["DBSIZE"]), 20002);
    assert_eq!(int(&mut c, &["LLEN", "list"]), 3);
    assert_eq!(text(run(&mut c, &["GET", "k:7"])).len(), 20);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_save_point_starts_a_bgsave() {
    let dir = fresh_dir("savepoint");
    let (server, mut c) = start(&dir, &["--save", "1 3"]);
    let before = int(&mut c, &["LASTSAVE"]);
    for i in 0..3 {
        run(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    wait_until("LASTSAVE to change", || int(&mut c, &["LASTSAVE"]) > before);
    assert!(server
        .stderr()
        .contains("3 changes in 1 seconds. Saving..."));
    assert!(dir.join("dump.rdb").exists());
    assert_eq!(info_field(&mut c, "rdb_saves"), "1");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shutdown_save_and_sigterm_save_shutdown_nosave_does_not() {
    let dir = fresh_dir("shutdown");
    let (mut server, mut c) = start(&dir, &[]);
    run(&mut c, &["SET", "a", "1"]);
    assert!(
        reply(&mut c, &["SHUTDOWN", "SAVE"]).is_err(),
        "the connection closes"
    );
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    assert!(dir.join("dump.rdb").exists());

    let (mut server, mut c) = start(&dir, &[]);
    assert_eq!(text(run(&mut c, &["GET", "a"])), "1");
    run(&mut c, &["SET", "a", "2"]);
    assert_eq!(
        reply(&mut c, &["SHUTDOWN", "NOSAVE", "SAVE"]).unwrap_err(),
        "ERR syntax error"
    );
    assert_eq!(
        reply(&mut c, &["SHUTDOWN", "ABORT"]).unwrap_err(),
        "ERR No shutdown in progress."
    );
    let _ = reply(&mut c, &["SHUTDOWN", "NOSAVE"]);
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());

    // SIGTERM with save points saves; "2" was never saved, so "1" is what comes back first.
    let (mut server, mut c) = start(&dir, &["--save", "3600 1"]);
    assert_eq!(text(run(&mut c, &["GET", "a"])), "1");
    run(&mut c, &["SET", "a", "3"]);
    assert!(server.terminate().success());
    let log = server.full_stderr();
    assert!(
        log.contains("Saving the final RDB snapshot before exiting."),
        "{log}"
    );
    let (_server, mut c) = start(&dir, &[]);
    assert_eq!(text(run(&mut c, &["GET", "a"])), "3");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn debug_reload_keeps_the_data_and_answers_as_redis() {
    let dir = fresh_dir("reload");
    let (_server, mut c) = start(&dir, &[]);
    run(&mut c, &["SET", "s", "v"]);
    run(&mut c, &["ZADD", "z", "1", "a", "2", "b"]);
    run(&mut c, &["PEXPIRE", "s", "100000"]);
    assert_eq!(text(run(&mut c, &["DEBUG", "RELOAD"])), "OK");
    assert_eq!(text(run(&mut c, &["GET", "s"])), "v");
    assert!(int(&mut c, &["PTTL", "s"]) > 90_000);
    assert_eq!(int(&mut c, &["ZCARD", "z"]), 2);
    assert_eq!(
        reply(&mut c, &["DEBUG", "RELOAD", "BAD"]).unwrap_err(),
        "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."
    );
    run(&mut c, &["SET", "extra", "x"]);
    assert_eq!(text(run(&mut c, &["DEBUG", "RELOAD", "NOSAVE"])), "OK");
    assert_eq!(int(&mut c, &["EXISTS", "extra"]), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The files of an AOF directory, sorted.
fn aof_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The AOF's size in commands: its files' sizes without the fill spindle keeps ahead of the
/// commands of the current increment (`#\n` lines, possibly after one `#`).
fn aof_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| commands_len(&std::fs::read(e.unwrap().path()).unwrap()))
        .sum()
}

/// The length of an AOF file without the fill after its commands.
fn commands_len(bytes: &[u8]) -> u64 {
    without_aof_fill(bytes).len() as u64
}

#[test]
fn bgrewriteaof_shrinks_the_aof_and_redis_reads_the_result() {
    let dir = fresh_dir("rewrite");
    let (mut server, mut c) = start(&dir, &["--appendonly", "yes"]);
    let mut pipe = redis::pipe();
    for _ in 0..20_000 {
        pipe.cmd("INCR").arg("counter").ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let before = aof_size(&dir);
    assert!(before > 400_000, "{before}");
    assert_eq!(
        text(run(&mut c, &["BGREWRITEAOF"])),
        "Background append only file rewriting started"
    );
    // Writes while the child runs go to the new increment.
    run(&mut c, &["SET", "during", "x"]);
    wait_until("the rewrite", || rewrite_done(&mut c));
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(
        aof_files(&dir),
        [
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.2.incr.aof",
            "appendonly.aof.manifest"
        ]
    );
    let after = aof_size(&dir);
    assert!(after < 1000, "{after}");
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    if let Ok(out) = Command::new("redis-check-aof").arg(&manifest).output() {
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{said}");
        assert!(
            said.contains("All AOF files and manifest are valid"),
            "{said}"
        );
    }
    kill_9(&mut server);
    let (mut server, mut c) = start(&dir, &["--appendonly", "yes"]);
    assert_eq!(text(run(&mut c, &["GET", "counter"])), "20000");
    assert_eq!(text(run(&mut c, &["GET", "during"])), "x");
    kill_9(&mut server);
    // redis-server 7.0.15 loads the same directory.
    if let Some(redis) =
        RedisServer::start_with(&["--dir", dir.to_str().unwrap(), "--appendonly", "yes"])
    {
        let mut r = redis.connect();
        assert_eq!(text(run(&mut r, &["GET", "counter"])), "20000");
        assert_eq!(text(run(&mut r, &["GET", "during"])), "x");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_aof_rewrites_itself_on_growth_and_can_be_switched_at_run_time() {
    let dir = fresh_dir("auto");
    let (_server, mut c) = start(
        &dir,
        &[
            "--appendonly",
            "yes",
            "--auto-aof-rewrite-min-size",
            "100000",
            "--auto-aof-rewrite-percentage",
            "100",
        ],
    );
    let mut pipe = redis::pipe();
    for _ in 0..10_000 {
        pipe.cmd("INCR").arg("n").ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    wait_until("an automatic rewrite", || {
        info_field(&mut c, "aof_rewrites") == "1" && rewrite_done(&mut c)
    });
    assert!(aof_files(&dir).contains(&"appendonly.aof.2.base.rdb".to_string()));
    // Off, then on again at run time: a rewrite makes the new AOF's base.
    assert_eq!(
        text(run(&mut c, &["CONFIG", "SET", "appendonly", "no"])),
        "OK"
    );
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    run(&mut c, &["SET", "while-off", "1"]);
    assert_eq!(
        text(run(&mut c, &["CONFIG", "SET", "appendonly", "yes"])),
        "OK"
    );
    run(&mut c, &["SET", "after-on", "1"]);
    wait_until("the first rewrite", || {
        rewrite_done(&mut c) && info_field(&mut c, "aof_rewrites") == "2"
    });
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let text_now = std::fs::read_to_string(&manifest).unwrap();
    assert_eq!(
        text_now,
        "file appendonly.aof.3.base.rdb seq 3 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\n"
    );
    if let Ok(out) = Command::new("redis-check-aof").arg(&manifest).output() {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_aof_fix_repairs_a_torn_file() {
    let dir = fresh_dir("checkaof");
    let (mut server, mut c) = start(&dir, &["--appendonly", "yes", "--appendfsync", "always"]);
    for i in 0..10 {
        run(&mut c, &["SET", &format!("k{i}"), "value"]);
    }
    kill_9(&mut server);
    let incr = dir.join("appendonlydir/appendonly.aof.1.incr.aof");
    // The last command cut short, as a write torn by a crash leaves it (the fill kept ahead
    // of the commands left out: a write torn there would leave it after the cut).
    let len = commands_len(&std::fs::read(&incr).unwrap());
    let f = std::fs::OpenOptions::new().write(true).open(&incr).unwrap();
    f.set_len(len - 4).unwrap();
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let check = |fix: bool| {
        let mut cmd = spindle();
        cmd.args(["kv", "check-aof"]);
        if fix {
            cmd.arg("--fix");
        }
        cmd.output_of(&manifest)
    };
    let (code, said) = check(false);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("is not valid. Use the --fix option to try fixing it."),
        "{said}"
    );
    // redis-check-aof says the same of the same file.
    if let Ok(out) = Command::new("redis-check-aof").arg(&manifest).output() {
        let theirs = String::from_utf8_lossy(&out.stdout);
        let line = |s: &str| {
            s.lines()
                .find(|l| l.starts_with("AOF analyzed: filename=appendonly.aof.1.incr.aof"))
                .map(str::to_string)
        };
        assert_eq!(line(&said), line(&theirs), "{said}\n---\n{theirs}");
    }
    let (code, said) = check(true);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("Successfully truncated AOF appendonly.aof.1.incr.aof"));
    if let Ok(out) = Command::new("redis-check-aof").arg(&manifest).output() {
        assert!(out.status.success());
    }
    let (_server, mut c) = start(&dir, &["--appendonly", "yes"]);
    assert_eq!(int(&mut c, &["DBSIZE"]), 9);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a command with one more path argument: its exit code and stdout.
trait OutputOf {
    fn output_of(&mut self, path: &Path) -> (Option<i32>, String);
}

impl OutputOf for Command {
    fn output_of(&mut self, path: &Path) -> (Option<i32>, String) {
        let out = self.arg(path).output().expect("run spindle");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

#[test]
fn info_persistence_has_redis_fields_in_redis_order() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let dir = fresh_dir("info");
    let (_server, mut c) = start(&dir, &[]);
    let mut r = redis.connect();
    let names = |c: &mut Connection| -> Vec<String> {
        text(run(c, &["INFO", "persistence"]))
            .lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .collect()
    };
    assert_eq!(names(&mut c), names(&mut r));
    for cmd in [
        vec!["BGSAVE", "a", "b"],
        vec!["SHUTDOWN", "ABORT", "NOW"],
        vec!["SHUTDOWN", "BAD"],
        vec!["BGREWRITEAOF", "x"],
        vec!["SAVE", "x"],
    ] {
        assert_eq!(reply(&mut c, &cmd), reply(&mut r, &cmd), "{cmd:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "mounts a tmpfs (needs root): run scripts/test"]
fn a_full_disk_refuses_writes_with_misconf_serves_reads_and_recovers() {
    let tmpfs = Tmpfs::mount("4m");
    let data = tmpfs.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let filler = tmpfs.dir.join("filler");
    std::fs::write(&filler, vec![0u8; 3 << 20]).expect("fill the tmpfs");
    let value = "v".repeat(16 * 1024);
    let mut acked = Vec::new();
    {
        let (mut server, mut c) =
            start(&data, &["--appendonly", "yes", "--appendfsync", "everysec"]);
        let mut refusal = None;
        for i in 0..512 {
            match reply(&mut c, &["SET", &format!("k{i}"), &value]) {
                Ok(_) => acked.push(i),
                Err(e) => {
                    refusal = Some(e);
                    break;
                }
            }
        }
        let refusal = refusal.expect("no refusal after 8 MiB into a 4 MiB tmpfs");
        assert_eq!(
            refusal,
            "MISCONF Errors writing to the AOF file: No space left on device"
        );
        assert!(!acked.is_empty());
        // Reads are served; writes (and PING) keep being refused; the server is up.
        assert_eq!(text(run(&mut c, &["GET", "k0"])).len(), value.len());
        assert!(reply(&mut c, &["SET", "x", "1"])
            .unwrap_err()
            .starts_with("MISCONF"));
        assert!(reply(&mut c, &["PING"]).unwrap_err().starts_with("MISCONF"));
        assert_eq!(info_field(&mut c, "aof_last_write_status"), "err");
        // Room again: the next attempt succeeds and writes are accepted.
        std::fs::remove_file(&filler).unwrap();
        wait_until("writes accepted again", || {
            reply(&mut c, &["SET", "after", "1"]).is_ok()
        });
        assert_eq!(info_field(&mut c, "aof_last_write_status"), "ok");
        kill_9(&mut server);
    }
    let (_server, mut c) = start(&data, &["--appendonly", "yes"]);
    for i in &acked {
        assert_eq!(
            text(run(&mut c, &["GET", &format!("k{i}")])).len(),
            value.len(),
            "k{i} acknowledged but lost"
        );
    }
    assert_eq!(text(run(&mut c, &["GET", "after"])), "1");
}

/// The loop's stall a BGSAVE costs: the fork copies the page tables while the loop waits, so
/// the BGSAVE's round trip (against a PING's) is the stall; printed per GB of resident
/// memory for 1M keys. `cargo test --test kv_persist -- --ignored --nocapture fork_stall`.
#[test]
#[ignore = "a measurement (1M keys): run by hand for docs/BENCHMARKS.md"]
fn fork_stall_per_gb() {
    let dir = fresh_dir("fork");
    let (_server, mut c) = start(&dir, &[]);
    run(&mut c, &["DEBUG", "POPULATE", "1000000", "key", "64"]);
    let memory = text(run(&mut c, &["INFO", "memory"]));
    let rss: f64 = memory
        .lines()
        .find_map(|l| l.strip_prefix("used_memory_rss:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    let mut worst_ping = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        run(&mut c, &["PING"]);
        worst_ping = worst_ping.max(t.elapsed());
    }
    let mut worst = Duration::ZERO;
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(text(run(&mut c, &["BGSAVE"])), "Background saving started");
        worst = worst.max(t.elapsed());
        wait_until("the BGSAVE", || bgsave_done(&mut c));
    }
    let gb = rss / (1u64 << 30) as f64;
    println!(
        "1M keys, RSS {:.0} MiB: worst BGSAVE round trip {:.2} ms (PING {:.3} ms), {:.1} ms per GB",
        rss / (1u64 << 20) as f64,
        worst.as_secs_f64() * 1e3,
        worst_ping.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3 / gb
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A FUNCTION library whose function `echo_<name>` returns its first argument.
fn library(name: &str) -> String {
    format!(
        "#!lua name={name}\nredis.register_function('echo_{name}', function(keys, args) return args[1] end)"
    )
}

/// FUNCTION LIST WITHCODE's libraries, each as its debug text, sorted (redis-server lists
/// them in its hash table's order).
fn libraries(c: &mut Connection) -> Vec<String> {
    let Value::Array(libs) = run(c, &["FUNCTION", "LIST", "WITHCODE"]) else {
        panic!("FUNCTION LIST is an array");
    };
    let mut libs: Vec<String> = libs.iter().map(|l| format!("{l:?}")).collect();
    libs.sort();
    libs
}

/// FCALL of `echo_<name>`: what it answered, or the error.
fn fcall_echo(c: &mut Connection, name: &str) -> Result<String, String> {
    reply(c, &["FCALL", &format!("echo_{name}"), "0", "hi"]).map(text)
}

#[test]
fn function_libraries_travel_in_dump_files_and_the_aof_base() {
    let dir = fresh_dir("functions");
    let (mut server, mut c) = start(&dir, &[]);
    assert_eq!(
        text(run(&mut c, &["FUNCTION", "LOAD", &library("lib1")])),
        "lib1"
    );
    run(&mut c, &["SET", "k", "v"]);
    // DEBUG RELOAD saves and loads them back; NOFLUSH meets the same library again.
    assert_eq!(text(run(&mut c, &["DEBUG", "RELOAD"])), "OK");
    assert_eq!(fcall_echo(&mut c, "lib1").unwrap(), "hi");
    assert_eq!(
        reply(&mut c, &["DEBUG", "RELOAD", "NOFLUSH", "NOSAVE"]).unwrap_err(),
        "ERR Error trying to load the RDB dump"
    );
    assert_eq!(
        text(run(
            &mut c,
            &["DEBUG", "RELOAD", "NOFLUSH", "MERGE", "NOSAVE"]
        )),
        "OK"
    );
    assert_eq!(fcall_echo(&mut c, "lib1").unwrap(), "hi");
    let listed = libraries(&mut c);
    assert_eq!(run(&mut c, &["SAVE"]), Value::Okay);
    kill_9(&mut server);
    if let Ok(out) = Command::new("redis-check-rdb")
        .arg(dir.join("dump.rdb"))
        .output()
    {
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("RDB looks OK"), "{said}");
    }
    let (mut server, mut c) = start(&dir, &[]);
    assert_eq!(fcall_echo(&mut c, "lib1").unwrap(), "hi");
    assert_eq!(libraries(&mut c), listed);
    assert_eq!(text(run(&mut c, &["GET", "k"])), "v");
    kill_9(&mut server);

    // redis-server 7.0.15 loads spindle's file, then writes one of its own with a second
    // library, which spindle loads.
    if let Some(redis) = RedisServer::start_with(&["--dir", dir.to_str().unwrap()]) {
        let mut r = redis.connect();
        assert_eq!(fcall_echo(&mut r, "lib1").unwrap(), "hi");
        assert_eq!(libraries(&mut r), listed);
        assert_eq!(
            text(run(&mut r, &["FUNCTION", "LOAD", &library("lib2")])),
            "lib2"
        );
        assert_eq!(run(&mut r, &["SAVE"]), Value::Okay);
        let both = libraries(&mut r);
        drop(r);
        drop(redis);
        let (mut server, mut c) = start(&dir, &[]);
        assert_eq!(fcall_echo(&mut c, "lib1").unwrap(), "hi");
        assert_eq!(fcall_echo(&mut c, "lib2").unwrap(), "hi");
        assert_eq!(libraries(&mut c), both);
        kill_9(&mut server);
    }

    // The AOF's base after a rewrite carries them: the incremental file no longer has the
    // FUNCTION LOAD.
    let aof_dir = fresh_dir("functions-aof");
    let (mut server, mut c) = start(&aof_dir, &["--appendonly", "yes"]);
    assert_eq!(
        text(run(&mut c, &["FUNCTION", "LOAD", &library("lib3")])),
        "lib3"
    );
    run(&mut c, &["BGREWRITEAOF"]);
    wait_until("the rewrite", || rewrite_done(&mut c));
    run(&mut c, &["FUNCTION", "FLUSH"]);
    run(&mut c, &["FUNCTION", "LOAD", &library("lib4")]);
    kill_9(&mut server);
    let (mut server, mut c) = start(&aof_dir, &["--appendonly", "yes"]);
    assert_eq!(fcall_echo(&mut c, "lib4").unwrap(), "hi");
    assert!(fcall_echo(&mut c, "lib3")
        .unwrap_err()
        .contains("Function not found"));
    run(&mut c, &["FUNCTION", "FLUSH"]);
    run(&mut c, &["FUNCTION", "LOAD", &library("lib3")]);
    run(&mut c, &["BGREWRITEAOF"]);
    wait_until("the rewrite", || rewrite_done(&mut c));
    kill_9(&mut server);
    let (_server, mut c) = start(&aof_dir, &["--appendonly", "yes"]);
    assert_eq!(fcall_echo(&mut c, "lib3").unwrap(), "hi");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&aof_dir);
}

#[test]
fn a_corrupt_or_short_dump_file_refuses_to_start_and_names_it() {
    let dir = fresh_dir("corrupt-rdb");
    let (mut server, mut c) = start(&dir, &[]);
    run(&mut c, &["DEBUG", "POPULATE", "1000"]);
    assert_eq!(text(run(&mut c, &["SAVE"])), "OK");
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<Value>(&mut c);
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    let path = dir.join("dump.rdb");
    let good = std::fs::read(&path).unwrap();
    let refuses = |bytes: &[u8], says: &str| {
        std::fs::write(&path, bytes).unwrap();
        let out = spindle()
            .args(["kv", "--port", "0", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started from a damaged dump: {err}");
        assert!(
            err.contains(&path.display().to_string()) && err.contains(says),
            "{err}"
        );
        // redis-server refuses the same file (exit status 1; `timeout` stops it with 124
        // if it started instead).
        if let Ok(status) = Command::new("timeout")
            .args(["20", "redis-server", "--port", "0", "--save", "", "--dir"])
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
        {
            assert_eq!(status.code(), Some(1), "redis-server on the damaged dump");
        }
    };
    // One bit of a value flipped: only the checksum tells.
    let mut flipped = good.clone();
    let at = flipped.windows(9).position(|w| w == b"value:500").unwrap();
    flipped[at + 6] ^= 1;
    refuses(&flipped, "RDB checksum mismatch");
    // Cut in the middle, as a copy that did not finish.
    refuses(&good[..good.len() / 2], "bad RDB data");
    // The intact file loads.
    std::fs::write(&path, &good).unwrap();
    let (_server, mut c) = start(&dir, &[]);
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 1000);
    let _ = std::fs::remove_dir_all(&dir);
}
