//! A redis-server of Debian's package and a `spindle kv`, each on a free port, for tests that
//! compare the two or move data between them; and the `redis` crate connection both are
//! reached with.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::{Connection, Value};

use super::{spawn_and_read_port, spindle, Running};

/// A redis-server on a free port, without persistence, stopped on drop.
pub struct RedisServer {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Its working directory (a dump it saves goes there, not into the repository).
    dir: std::path::PathBuf,
}

impl RedisServer {
    /// Starts one and waits until it answers PING; `None` (with a note on stderr) when
    /// redis-server is not installed.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[])
    }

    /// Starts one with extra directives (`["--maxmemory", "1mb"]`).
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = std::env::temp_dir().join(format!("spindle-redis-{}-{port}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("redis-server is not installed: test skipped");
            return None;
        };
        let server = RedisServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers(port) {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// A new connection to it.
    pub fn connect(&self) -> Connection {
        connect(self.port).expect("redis-server answers")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// True once the server on `port` answers a PING, with PONG or (under `requirepass`) NOAUTH.
fn answers(port: u16) -> bool {
    use std::io::{BufRead, Write};
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    c.write_all(b"PING\r\n").is_ok()
        && std::io::BufReader::new(c).read_line(&mut line).is_ok()
        && (line.starts_with("+PONG") || line.starts_with("-NOAUTH"))
}

/// A connection that has answered PING, or `None` while nothing accepts on `port`.
pub fn connect(port: u16) -> Option<Connection> {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .ok()?
        .get_connection()
        .ok()?;
    redis::cmd("PING").query::<String>(&mut c).ok()?;
    Some(c)
}

/// `spindle kv` on a free port with `extra` arguments, and its port.
pub fn spindle_kv_with(extra: &[&str]) -> (Running, u16) {
    let mut cmd = spindle();
    cmd.args(["kv", "--port", "0"]).args(extra);
    spawn_and_read_port("spindle kv", cmd)
}

/// `spindle kv` on a free port, and a connection to it.
pub fn spindle_kv() -> (Running, Connection) {
    let (server, port) = spindle_kv_with(&[]);
    (server, connect(port).expect("spindle kv answers"))
}

/// Runs a command given as words and returns the raw reply.
pub fn run(c: &mut Connection, args: &[&str]) -> Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap()
}

/// Runs the test venv's Python with `args` (`-c SCRIPT PORT`, or a script file and its
/// arguments) and returns what it printed; panics with its output if it failed.
pub fn redis_py(args: &[&str]) -> String {
    let out = super::python().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "redis-py script failed ({:?}):\n{}\n{}",
        args.last(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A raw RESP connection: sends a command and reads reply frames one at a time, so replies
/// (RESP3 pushes and maps included) can be compared with redis-server's frame by frame.
pub struct Raw {
    stream: std::net::TcpStream,
    buf: bytes::BytesMut,
}

impl Raw {
    /// Connects to 127.0.0.1:`port`; reads time out after 10 s.
    pub fn connect(port: u16) -> Raw {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw {
            stream,
            buf: bytes::BytesMut::new(),
        }
    }

    /// The socket, for raw bytes or to see it closed.
    pub fn stream(&mut self) -> &mut std::net::TcpStream {
        &mut self.stream
    }

    /// Sends one command given as its arguments.
    pub fn send_args<A: AsRef<[u8]>>(&mut self, words: &[A]) {
        use std::io::Write;
        let words: Vec<&[u8]> = words.iter().map(AsRef::as_ref).collect();
        self.stream
            .write_all(&super::hostile::command(&words))
            .unwrap();
    }

    /// Sends a command line split on `|` when it has one (for arguments with spaces), else on
    /// spaces.
    pub fn send_line(&mut self, line: &str) {
        if line.contains('|') {
            self.send_args(&line.split('|').collect::<Vec<_>>());
        } else {
            self.send_args(&line.split(' ').collect::<Vec<_>>());
        }
    }

    /// The next reply frame.
    pub fn read(&mut self) -> spindle_protocols::resp::Frame {
        use spindle_protocols::resp::{decode_frame, Limits};
        use std::io::Read;
        loop {
            if let Some(frame) = decode_frame(&mut self.buf, &Limits::default()).unwrap() {
                return frame;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("a reply");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a command given as its arguments and reads its reply.
    pub fn args<A: AsRef<[u8]>>(&mut self, words: &[A]) -> spindle_protocols::resp::Frame {
        self.send_args(words);
        self.read()
    }

    /// Sends a command line split on spaces and reads its reply (`|` stays inside an
    /// argument: `ACL SETUSER u +config|get`).
    pub fn cmd(&mut self, line: &str) -> spindle_protocols::resp::Frame {
        self.args(&line.split(' ').collect::<Vec<_>>())
    }

    /// Sends a command line split as [`send_line`](Raw::send_line) does and reads its reply.
    pub fn line(&mut self, line: &str) -> spindle_protocols::resp::Frame {
        self.send_line(line);
        self.read()
    }
}

/// ACL LOG's entries without their times and client lines.
pub fn acl_log_fields(f: spindle_protocols::resp::Frame) -> Vec<Vec<String>> {
    use spindle_protocols::resp::Frame;
    let Frame::Array(entries) = f else {
        panic!("{f:?}")
    };
    entries
        .into_iter()
        .map(|e| {
            let pairs: Vec<(Frame, Frame)> = match e {
                Frame::Map(p) => p,
                Frame::Array(items) => items
                    .chunks(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect(),
                other => panic!("{other:?}"),
            };
            pairs
                .into_iter()
                .filter(|(k, _)| {
                    !matches!(k, Frame::Bulk(b) if &b[..] == b"age-seconds" || &b[..] == b"client-info")
                })
                .map(|(k, v)| format!("{k:?}={v:?}"))
                .collect()
        })
        .collect()
}

/// An AOF file's bytes without the fill spindle kv keeps after its commands (`#\n` lines,
/// possibly after one `#` of padding): the commands alone.
pub fn without_aof_fill(mut bytes: &[u8]) -> &[u8] {
    while let Some(rest) = bytes.strip_suffix(b"#\n") {
        bytes = rest;
    }
    bytes.strip_suffix(b"#").unwrap_or(bytes)
}
