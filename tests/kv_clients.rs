//! `spindle kv` with the clients people use: redis-cli (Debian's redis-tools) and redis-py.
//! Both are installed by `scripts/test`; run by hand with `-- --include-ignored`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{py_script, python, spawn_and_read_port, spindle, Running};

fn kv() -> (Running, u16) {
    let mut cmd = spindle();
    cmd.args(["kv", "--port", "0"]);
    spawn_and_read_port("spindle kv", cmd)
}

/// Runs redis-cli with `args`, feeding `input`; returns stdout.
fn cli(port: u16, args: &[&str], input: &str) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli (apt-get install redis-tools)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs redis-cli: run scripts/test"]
fn redis_cli_commands_pipe_scan_and_resp3() {
    let (_server, port) = kv();
    // Commands piped through redis-cli, one per line.
    let out = cli(
        port,
        &[],
        "SET greeting hello\nGET greeting\nINCR visits\nLPUSH l a b\nLRANGE l 0 -1\nNOPE x\n",
    );
    assert_eq!(
        out,
        // redis-cli prints a blank line after an error, as it does for redis-server.
        "OK\nhello\n1\n2\nb\na\nERR unknown command 'NOPE', with args beginning with: 'x' \n\n"
    );
    // Mass insertion: 100k SETs in the raw protocol through --pipe.
    let mut proto = String::new();
    for i in 0..100_000 {
        let (k, v) = (format!("key:{i}"), format!("value:{i}"));
        proto.push_str(&format!(
            "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
            k.len(),
            v.len()
        ));
    }
    let out = cli(port, &["--pipe"], &proto);
    assert!(out.contains("errors: 0, replies: 100000"), "{out}");
    assert_eq!(cli(port, &["DBSIZE"], ""), "100003\n");
    assert_eq!(cli(port, &["GET", "key:99999"], ""), "value:99999\n");
    // --scan --pattern walks SCAN to the end.
    let out = cli(port, &["--scan", "--pattern", "key:9999*"], "");
    let mut keys: Vec<&str> = out.lines().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "key:9999",
            "key:99990",
            "key:99991",
            "key:99992",
            "key:99993",
            "key:99994",
            "key:99995",
            "key:99996",
            "key:99997",
            "key:99998",
            "key:99999"
        ]
    );
    // RESP3: HELLO 3 is sent by redis-cli -3; a hash comes back as a map.
    cli(port, &["HSET", "h", "f", "v"], "");
    let out = cli(port, &["-3", "HGETALL", "h"], "");
    assert_eq!(out, "f v\n");
    let out = cli(port, &["-3", "ZADD", "z", "1.5", "m"], "");
    assert_eq!(out, "1\n");
    assert_eq!(cli(port, &["-3", "ZSCORE", "z", "m"], ""), "1.5\n");
}

#[test]
#[ignore = "needs redis-py: run scripts/test"]
fn redis_py_basics() {
    let (_server, port) = kv();
    let out = python()
        .arg(py_script("redis_py_basics.py"))
        .arg(port.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redis-py script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}

#[test]
#[ignore = "needs redis-py: run scripts/test"]
fn redis_py_tour() {
    let (_server, port) = kv();
    let out = python()
        .arg(py_script("redis_py_tour.py"))
        .arg(port.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redis-py tour failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
}
