//! The `spindle` command line.
//!
//! ```text
//! spindle [--trace]                      run every bundled app on its default port
//! spindle [--trace] echo [--port 8888] [--bind 127.0.0.1] [--threads N]
//! spindle echo-client [--host 127.0.0.1] [--port 8888] [--message "hello boy!"]
//! spindle kv [redis.conf] [--port 6379] [--bind 127.0.0.1] [--requirepass PASS] [--<directive> VALUE…]
//! spindle bench echo --addr HOST:PORT [--conns 50] [--depth 1] [--size 64]
//!                    [--seconds 5] [--rounds 3] [--vs HOST:PORT] [--pid PID] [--vs-pid PID]
//! spindle bench amqp [--uri URI] [--producers 1] [--consumers 1] [--size 16] [--seconds 10]
//!                    [--persistent] [--confirm N] [--prefetch N] [--autoack] [--rate R]
//!                    [--exchange-type direct|fanout|topic] [--json]
//! ```
//!
//! `--trace` (or `SPINDLE_TRACE=1`) prints every reactor event as it happens; `SPINDLE_LOG`
//! sets the log level otherwise.

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use spindle_reactor::{Pool, Reactor, ReactorConfig};

use crate::logger;
use spindle_bench as bench;
use spindle_echo as echo;
use spindle_kv as kv;

const USAGE: &str = "\
spindle — an event-driven networking framework, and the servers built on it

usage:
  spindle [--trace]                       run every bundled app on its default port
  spindle [--trace] echo [--port 8888] [--bind 127.0.0.1] [--threads N]
  spindle echo-client [--host 127.0.0.1] [--port 8888] [--message \"hello boy!\"]
  spindle [--trace] kv [redis.conf] [--port 6379] [--bind 127.0.0.1] [--requirepass PASS]
                     [--databases 16] [--<any redis.conf directive> VALUE…]
  spindle amqp publish|consume|get|declare-queue --uri amqp://user:pass@host:5672/vhost …
                     (`spindle amqp` alone lists their options)
  spindle bench echo --addr HOST:PORT [--conns 50] [--depth 1] [--size 64]
                     [--seconds 5] [--rounds 3] [--vs HOST:PORT] [--pid PID] [--vs-pid PID]
  spindle bench amqp [--uri URI] [--producers 1] [--consumers 1] [--size 16] [--seconds 10]
                     [--persistent] [--confirm N] [--prefetch N] [--autoack] [--rate R]
                     [--exchange-type direct|fanout|topic] [--json]

--pid/--vs-pid name the servers' processes so their CPU time per round trip is measured too.
--trace (or SPINDLE_TRACE=1) prints every reactor event; SPINDLE_LOG=debug|info|warn|error
sets the log level.
";

/// The command-line error: a message for standard error, exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

/// A cursor over the arguments of one subcommand: `--name value` options and flags.
#[derive(Debug)]
struct Args {
    items: Vec<String>,
}

impl Args {
    fn flag(&mut self, name: &str) -> bool {
        match self.items.iter().position(|a| a == name) {
            Some(i) => {
                self.items.remove(i);
                true
            }
            None => false,
        }
    }

    fn value(&mut self, name: &str) -> Result<Option<String>, UsageError> {
        let Some(i) = self.items.iter().position(|a| a == name) else {
            let prefix = format!("{name}=");
            if let Some(i) = self.items.iter().position(|a| a.starts_with(&prefix)) {
                let item = self.items.remove(i);
                return Ok(Some(item[prefix.len()..].to_string()));
            }
            return Ok(None);
        };
        if i + 1 >= self.items.len() {
            return Err(UsageError(format!("{name} needs a value")));
        }
        let v = self.items.remove(i + 1);
        self.items.remove(i);
        Ok(Some(v))
    }

    fn parsed<T: std::str::FromStr>(&mut self, name: &str, default: T) -> Result<T, UsageError> {
        match self.value(name)? {
            Some(v) => v
                .parse()
                .map_err(|_| UsageError(format!("{name}: cannot parse {v:?}"))),
            None => Ok(default),
        }
    }

    fn finish(self) -> Result<(), UsageError> {
        match self.items.first() {
            Some(extra) => Err(UsageError(format!("unexpected argument {extra:?}"))),
            None => Ok(()),
        }
    }
}

/// Runs the command line; returns the process exit status.
pub fn main(args: Vec<String>) -> i32 {
    let mut args = Args { items: args };
    if args.flag("--help") || args.flag("-h") {
        print!("{USAGE}");
        return 0;
    }
    if args.flag("--version") || args.flag("-V") {
        println!("spindle {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let trace = args.flag("--trace");
    let command = if args.items.first().is_some_and(|a| !a.starts_with('-')) {
        Some(args.items.remove(0))
    } else {
        None
    };
    let mut level = logger::level_from_env(trace);
    if matches!(command.as_deref(), Some("echo-client" | "bench" | "amqp")) && !trace {
        // A client's output is its stdout; reactor start/stop notes would only clutter it.
        level = level.min(log::LevelFilter::Warn);
    }
    logger::init(level);
    let result = match command.as_deref() {
        None => run_all(args),
        Some("echo") => run_echo(args),
        Some("echo-client") => run_echo_client(args),
        Some("kv") => run_kv(args),
        Some("bench") => run_bench(args),
        Some("amqp") => run_amqp(args),
        Some(other) => Err(UsageError(format!("unknown command {other:?}"))),
    };
    match result {
        Ok(code) => code,
        Err(UsageError(msg)) => {
            eprintln!("spindle: {msg}\n\n{USAGE}");
            2
        }
    }
}

fn bind_addr(args: &mut Args, default_port: u16) -> Result<SocketAddr, UsageError> {
    let ip: IpAddr = args.parsed("--bind", IpAddr::from([127, 0, 0, 1]))?;
    let port: u16 = args.parsed("--port", default_port)?;
    Ok(SocketAddr::new(ip, port))
}

fn fail(what: impl std::fmt::Display) -> i32 {
    eprintln!("spindle: {what}");
    1
}

/// `spindle` alone: every app that exists so far, on its default port.
fn run_all(args: Args) -> Result<i32, UsageError> {
    args.finish()?;
    let mut reactor = match Reactor::new() {
        Ok(r) => r,
        Err(e) => return Ok(fail(e)),
    };
    let echo_addr = SocketAddr::from(([127, 0, 0, 1], echo::DEFAULT_PORT));
    let port = match echo::listen(&mut reactor, echo_addr) {
        Ok(p) => p,
        Err(e) => return Ok(fail(e)),
    };
    println!(
        "spindle {} — press Ctrl-C to stop",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "  echo  tcp {}  (Twisted's echo protocol; try: spindle echo-client)",
        port.address()
    );
    Ok(serve(reactor))
}

fn serve(mut reactor: Reactor) -> i32 {
    if let Err(e) = reactor.install_signal_handlers() {
        return fail(e);
    }
    match reactor.run() {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn run_echo(mut args: Args) -> Result<i32, UsageError> {
    let addr = bind_addr(&mut args, echo::DEFAULT_PORT)?;
    let threads: usize = args.parsed("--threads", 1)?;
    args.finish()?;
    if threads <= 1 {
        let mut reactor = match Reactor::new() {
            Ok(r) => r,
            Err(e) => return Ok(fail(e)),
        };
        let port = match echo::listen(&mut reactor, addr) {
            Ok(p) => p,
            Err(e) => return Ok(fail(e)),
        };
        println!("echo listening on {}", port.address());
        return Ok(serve(reactor));
    }
    let pool = Pool::start(threads, addr, ReactorConfig::default(), true, |_| {
        Box::new(|| echo::Echo)
    });
    match pool {
        Ok(pool) => {
            println!(
                "echo listening on {} ({threads} reactor threads)",
                pool.local_addr()
            );
            Ok(match pool.join() {
                Ok(()) => 0,
                Err(e) => fail(e),
            })
        }
        Err(e) => Ok(fail(e)),
    }
}

/// `spindle kv`: the Redis-compatible store, configured like redis-server.
fn run_kv(args: Args) -> Result<i32, UsageError> {
    let config = kv::config::Config::from_args(&args.items).map_err(UsageError)?;
    let reactor_config = ReactorConfig {
        busy_poll: std::time::Duration::from_micros(config.busy_poll_us),
        ..ReactorConfig::default()
    };
    let mut reactor = match Reactor::with_config(reactor_config) {
        Ok(r) => r,
        Err(e) => return Ok(fail(e)),
    };
    let addr = SocketAddr::new(config.bind, config.port);
    match kv::server::listen(&mut reactor, addr, config) {
        Ok((port, _)) => println!("kv listening on {}", port.address()),
        Err(e) => return Ok(fail(e)),
    }
    Ok(serve(reactor))
}

fn run_echo_client(mut args: Args) -> Result<i32, UsageError> {
    let host: String = args.parsed("--host", "127.0.0.1".to_string())?;
    let port: u16 = args.parsed("--port", echo::DEFAULT_PORT)?;
    let message: String = args.parsed("--message", "hello boy!".to_string())?;
    args.finish()?;
    let mut reactor = match Reactor::new() {
        Ok(r) => r,
        Err(e) => return Ok(fail(e)),
    };
    let outcome = Rc::new(Cell::new(echo::ClientOutcome::Pending));
    let say: echo::Say = Rc::new(|line: &str| println!("{line}"));
    let factory = echo::EchoClientFactory::new(message, say, outcome.clone());
    let connected = reactor.connect_tcp(
        (host.as_str(), port),
        factory,
        Some(Duration::from_secs(30)),
    );
    if let Err(e) = connected {
        println!("Connection failed - goodbye!");
        return Ok(fail(e));
    }
    if let Err(e) = reactor.run() {
        return Ok(fail(e));
    }
    Ok(match outcome.get() {
        echo::ClientOutcome::Done => 0,
        _ => 1,
    })
}

/// `spindle bench amqp …`: see [`bench::amqp`].
fn run_bench_amqp(mut args: Args) -> Result<i32, UsageError> {
    let uri = match args.value("--uri")? {
        Some(u) => spindle_amqp::AmqpUri::parse(&u),
        None => spindle_amqp::AmqpUri::from_env(),
    }
    .map_err(|e| UsageError(format!("--uri: {e}")))?;
    let mut bench = bench::amqp::AmqpBench::new(spindle_amqp::Config::new(uri));
    bench.producers = args.parsed("--producers", bench.producers)?;
    bench.consumers = args.parsed("--consumers", bench.consumers)?;
    bench.size = args.parsed("--size", bench.size)?;
    bench.seconds = args.parsed("--seconds", bench.seconds)?;
    bench.persistent = args.flag("--persistent");
    bench.confirm = args
        .value("--confirm")?
        .map(|n| n.parse())
        .transpose()
        .map_err(|_| {
            UsageError("--confirm: expected the number of unconfirmed messages allowed".into())
        })?;
    bench.prefetch = args.parsed("--prefetch", bench.prefetch)?;
    bench.autoack = args.flag("--autoack");
    bench.rate = args.parsed("--rate", bench.rate)?;
    bench.exchange_type = args.parsed("--exchange-type", bench.exchange_type)?;
    let json = args.flag("--json");
    args.finish()?;
    let shown = bench.clone();
    match bench::amqp::run_bench(bench, |line| eprintln!("{line}")) {
        Ok(result) if json => {
            println!("{}", result.json());
            Ok(0)
        }
        Ok(result) => {
            print!("{}", result.report(&shown));
            Ok(0)
        }
        Err(e) => {
            eprintln!("spindle bench amqp: {e}");
            Ok(1)
        }
    }
}

/// `spindle amqp …`: the AMQP client's subcommands (see [`spindle_amqp::cli`]).
fn run_amqp(args: Args) -> Result<i32, UsageError> {
    crate::amqp_cli::main(args.items)
        .map_err(|e| UsageError(format!("{e}\n\n{}", crate::amqp_cli::USAGE)))
}

fn run_bench(mut args: Args) -> Result<i32, UsageError> {
    match args.items.first().map(String::as_str) {
        Some("echo") => {}
        Some("amqp") => {
            args.items.remove(0);
            return run_bench_amqp(args);
        }
        _ => return Err(UsageError("bench: expected `echo` or `amqp`".into())),
    }
    args.items.remove(0);
    let addr: Option<String> = args.value("--addr")?;
    let vs: Option<String> = args.value("--vs")?;
    let pid: Option<u32> = args.value("--pid")?.and_then(|p| p.parse().ok());
    let vs_pid: Option<u32> = args.value("--vs-pid")?.and_then(|p| p.parse().ok());
    let defaults = bench::echo::EchoBench::default();
    let config = bench::echo::EchoBench {
        conns: args.parsed("--conns", defaults.conns)?,
        depth: args.parsed("--depth", defaults.depth)?,
        size: args.parsed("--size", defaults.size)?,
        seconds: args.parsed("--seconds", defaults.seconds)?,
        rounds: args.parsed("--rounds", defaults.rounds)?,
    };
    args.finish()?;
    let addr = addr.unwrap_or_else(|| format!("127.0.0.1:{}", echo::DEFAULT_PORT));
    let mut targets = Vec::new();
    for (a, p) in std::iter::once((addr, pid)).chain(vs.map(|v| (v, vs_pid))) {
        match spindle_reactor::resolve(a.as_str()) {
            Ok(sa) => targets.push((sa, p)),
            Err(e) => return Ok(fail(e)),
        }
    }
    match bench::echo::run(&targets, &config) {
        Ok(results) => {
            let addrs: Vec<SocketAddr> = targets.iter().map(|(a, _)| *a).collect();
            print!("{}", bench::echo::report(&addrs, &config, &results));
            Ok(0)
        }
        Err(e) => Ok(fail(e)),
    }
}
