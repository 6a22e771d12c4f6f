//! The `spindle` command line: one `clap` parser for every subcommand, so each prints its own
//! `--help` and every error names the argument at fault.
//!
//! ```text
//! spindle [--trace]                      run every bundled app on its default port
//! spindle echo [--port 8888] [--bind 127.0.0.1] [--threads N]
//! spindle echo-client [--host 127.0.0.1] [--port 8888] [--message "hello boy!"]
//! spindle kv [redis.conf] [--port 6379] [--<directive> VALUE…]
//! spindle amqp publish|consume|get|declare-queue …
//! spindle bench echo|amqp|rpc …
//! spindle rpc [--port 4242] [--bind 127.0.0.1]  (and: spindle rpc call URL METHOD ARGS…)
//! ```
//!
//! `--trace` (or `SPINDLE_TRACE=1`) prints every reactor event as it happens; `SPINDLE_LOG`
//! sets the log level otherwise. The apps' own configuration lives in their crates (kv's
//! redis.conf directives in `spindle_kv::config`): this file only turns words into calls.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use spindle_amqp::AmqpUri;
use spindle_bench::amqp::AmqpBench;
use spindle_bench::echo::EchoBench;
use spindle_reactor::{Pool, Reactor, ReactorConfig};

use crate::logger;

mod amqp;
mod common;
mod rpc;

use amqp::AmqpCommand;
use common::{fail, parse_uri, serve, uri_or_env};

/// `spindle`: the bundled servers, clients and load tools.
#[derive(Debug, Parser)]
#[command(
    name = "spindle",
    version,
    about = "spindle — an event-driven networking framework, and the servers built on it",
    long_about = "spindle — an event-driven networking framework, and the servers built on it.\n\n\
                  Without a command, runs every bundled app on its default port and prints what \
                  listens where.",
    after_help = "Environment: SPINDLE_LOG=error|warn|info|debug|trace sets the log level; \
                  SPINDLE_TRACE=1 is --trace."
)]
pub struct Cli {
    /// Print every reactor event as it happens (accept, read, write, flush, timer, close)
    #[arg(long, global = true)]
    trace: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The echo server of Twisted's tutorial: writes back every byte it receives
    Echo(EchoArgs),
    /// The echo client of Twisted's tutorial: sends one message, prints the reply
    EchoClient(EchoClientArgs),
    /// The Redis-compatible key-value store, configured like redis-server
    #[command(
        disable_help_flag = true,
        override_usage = KV_USAGE,
        after_help = kv_directives_help()
    )]
    Kv(KvArgs),
    /// The AMQP 0-9-1 broker, for RabbitMQ's clients (pika, Celery, amqp-tools)
    Broker(BrokerArgs),
    /// AMQP 0-9-1 client commands, in the spirit of amqp-tools
    #[command(subcommand)]
    Amqp(AmqpCommand),
    /// Load generators that measure a server, optionally against a reference in the same run
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The document's XML-RPC server (getObj, sendObj, fib) on port 4242
    Rpc(rpc::RpcArgs),
}

#[derive(Debug, Args)]
struct EchoArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0: any free port, printed at start)
    #[arg(long, default_value_t = spindle_echo::DEFAULT_PORT)]
    port: u16,
    /// Reactor threads sharing the port through SO_REUSEPORT
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Debug, Args)]
struct BrokerArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0: any free port, printed at start)
    #[arg(long, default_value_t = spindle_broker::DEFAULT_PORT)]
    port: u16,
    /// Where durable state lives: durable exchanges, queues, bindings, users and permissions,
    /// and persistent messages of durable queues
    #[arg(long, default_value = "./spindle-data")]
    data_dir: std::path::PathBuf,
    /// When writes are made durable: always (fsync before a persistent message is confirmed)
    /// or none (the operating system decides; a machine crash loses the last seconds)
    #[arg(long, default_value = "always")]
    sync: spindle_broker::SyncMode,
    /// A definitions file in RabbitMQ's JSON export format (users, vhosts, permissions,
    /// exchanges, queues, bindings), loaded at start
    #[arg(long, value_name = "FILE")]
    definitions: Option<std::path::PathBuf>,
    /// Memory the messages may hold before publishers are blocked (connection.blocked): a
    /// fraction of the machine's memory (0.4, RabbitMQ's default) or a size (512MiB, 2GB)
    #[arg(long, value_name = "MARK", default_value = "0.4",
          value_parser = spindle_broker::parse_memory_mark)]
    memory_high_watermark: usize,
}

#[derive(Debug, Args)]
struct EchoClientArgs {
    /// The server's host
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The server's port
    #[arg(long, default_value_t = spindle_echo::DEFAULT_PORT)]
    port: u16,
    /// What to send
    #[arg(long, default_value = "hello boy!")]
    message: String,
}

const KV_USAGE: &str =
    "spindle kv [redis.conf] [--<directive> VALUE]...\n       spindle kv check-aof [--fix] <file.manifest|file.aof>";

#[derive(Debug, Args)]
struct KvArgs {
    /// Print help (the directives the store knows, with their defaults)
    #[arg(short = 'h', long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// A redis.conf file, then directives as flags: `--port 6380 --requirepass secret`
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..
    )]
    args: Vec<String>,
}

/// `spindle kv --help`'s list of directives, from the store's own table.
fn kv_directives_help() -> String {
    let mut text =
        String::from("Directives (redis.conf names; as flags, --name VALUE; defaults shown):\n");
    for (name, default) in spindle_kv::config::known_directives() {
        let default = if default.is_empty() { "\"\"" } else { default };
        text.push_str(&format!("  --{name:<28} {default}\n"));
    }
    text.push_str("\nExample: spindle kv --port 6380 --requirepass secret");
    text
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Round trips per second and latency against an echo server (and another to compare)
    Echo(BenchEchoArgs),
    /// A PerfTest-style AMQP load: producers, consumers, confirms, prefetch, rate
    Amqp(BenchAmqpArgs),
    /// XML-RPC calls per second from concurrent clients, or RPC round trips through an AMQP
    /// broker
    Rpc(BenchRpcArgs),
}

#[derive(Debug, Args)]
struct BenchRpcArgs {
    /// The call: a method and its parameters (JSON, as `spindle rpc call` takes them). With
    /// --amqp in the tutorial's text mode, the first parameter is the request's text
    #[arg(value_name = "METHOD [ARG]", default_values = ["fib", "10"], allow_negative_numbers = true)]
    call: Vec<String>,
    /// The XML-RPC server to measure
    #[arg(long, default_value_t = format!("http://127.0.0.1:{}", spindle_rpc::DEFAULT_PORT))]
    url: String,
    /// XML-RPC: concurrent connections, each making calls back to back
    #[arg(long, default_value_t = spindle_bench::rpc::XmlRpcBench::default().conns)]
    conns: usize,
    /// XML-RPC: calls pipelined per connection (a server that closes after each answer gets
    /// one per connection)
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Measure RPC through this AMQP broker instead (the tutorial's pattern) [default URI:
    /// $AMQP_URI, else amqp://guest:guest@localhost:5672/]
    #[arg(long, value_name = "URI", num_args = 0..=1, default_missing_value = "")]
    amqp: Option<String>,
    /// With --amqp: the server's request queue
    #[arg(long, default_value = spindle_rpc::TUTORIAL_QUEUE, requires = "amqp")]
    queue: String,
    /// With --amqp: calls in flight on the client's connection
    #[arg(long, default_value_t = 1, requires = "amqp")]
    in_flight: usize,
    /// With --amqp: XML-RPC bodies (METHOD and ARGs) instead of the tutorial's text
    #[arg(long, requires = "amqp")]
    xml: bool,
    /// Measured seconds per round
    #[arg(long, default_value_t = spindle_bench::rpc::XmlRpcBench::default().seconds)]
    seconds: f64,
    /// Rounds (summed)
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// The server's process, so its CPU time per call is reported
    #[arg(long)]
    pid: Option<u32>,
    /// Print the figures as one JSON object
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BenchEchoArgs {
    /// The echo server to measure
    #[arg(long, default_value_t = format!("127.0.0.1:{}", spindle_echo::DEFAULT_PORT))]
    addr: String,
    /// A second server to measure in the same run, rounds alternating
    #[arg(long)]
    vs: Option<String>,
    /// The measured server's process, so its CPU time per round trip is reported
    #[arg(long)]
    pid: Option<u32>,
    /// The second server's process
    #[arg(long)]
    vs_pid: Option<u32>,
    /// Concurrent connections
    #[arg(long, default_value_t = EchoBench::default().conns)]
    conns: usize,
    /// Messages in flight per connection
    #[arg(long, default_value_t = EchoBench::default().depth)]
    depth: usize,
    /// Message size in bytes
    #[arg(long, default_value_t = EchoBench::default().size)]
    size: usize,
    /// Measured seconds per round
    #[arg(long, default_value_t = EchoBench::default().seconds)]
    seconds: f64,
    /// Rounds per server
    #[arg(long, default_value_t = EchoBench::default().rounds)]
    rounds: usize,
}

/// The AMQP load's defaults, from the load tool itself.
fn amqp_defaults() -> AmqpBench {
    AmqpBench::new(spindle_amqp::Config::new(AmqpUri::default()))
}

#[derive(Debug, Args)]
struct BenchAmqpArgs {
    /// The broker [default: $AMQP_URI, else amqp://guest:guest@localhost:5672/]
    #[arg(long, value_parser = parse_uri)]
    uri: Option<AmqpUri>,
    /// Publishing connections
    #[arg(long, default_value_t = amqp_defaults().producers)]
    producers: usize,
    /// Consuming connections
    #[arg(long, default_value_t = amqp_defaults().consumers)]
    consumers: usize,
    /// Body size in bytes (at least 8: the timestamp)
    #[arg(long, default_value_t = amqp_defaults().size)]
    size: usize,
    /// Measured seconds
    #[arg(long, default_value_t = amqp_defaults().seconds)]
    seconds: f64,
    /// Delivery mode 2 and a durable queue
    #[arg(long)]
    persistent: bool,
    /// Publisher confirms, at most N unconfirmed per producer
    #[arg(long, value_name = "N")]
    confirm: Option<usize>,
    /// basic.qos prefetch per consumer (0: unlimited)
    #[arg(long, default_value_t = amqp_defaults().prefetch)]
    prefetch: u16,
    /// Consume with no_ack
    #[arg(long)]
    autoack: bool,
    /// Messages per second per producer (0: as fast as possible)
    #[arg(long, default_value_t = amqp_defaults().rate)]
    rate: u64,
    /// The exchange the producers publish to
    #[arg(long, default_value_t = amqp_defaults().exchange_type,
          value_parser = ["direct", "fanout", "topic"])]
    exchange_type: String,
    /// Queues bound to the exchange (each with the producers' key, so every exchange type
    /// routes each message to all of them); consumer i consumes queue i mod N
    #[arg(long, default_value_t = amqp_defaults().queues)]
    queues: usize,
    /// Bindings on the exchange in all: one per queue that matches, the rest patterns that never
    /// match (k.I.*, x.#.I, ...), made before the measured time
    #[arg(long, default_value_t = amqp_defaults().bindings)]
    bindings: usize,
    /// Instead of a timed run: publish N messages with confirms (window --confirm, else 1000)
    /// to a queue nobody consumes, report, then delete the queue
    #[arg(long, value_name = "N")]
    fill: Option<u64>,
    /// With --fill: keep the full queue until standard input closes (to look at the broker's
    /// memory meanwhile)
    #[arg(long, requires = "fill")]
    hold: bool,
    /// With --fill or --drain: a named, non-exclusive queue (durable with --persistent)
    #[arg(long, value_name = "NAME")]
    queue: Option<String>,
    /// With --fill --queue: leave the queue full at the end instead of deleting it
    #[arg(long, requires = "queue")]
    keep: bool,
    /// With --fill: stop publishing after this many seconds (the summary says how many were
    /// confirmed)
    #[arg(long, value_name = "SECONDS", requires = "fill")]
    max_seconds: Option<f64>,
    /// Instead of a timed run: consume every message --queue holds (manual acks, prefetch
    /// --prefetch, else 1000), report the time taken and whether the sequence numbers --fill
    /// writes came in order
    #[arg(long, requires = "queue", conflicts_with = "fill")]
    drain: bool,
    /// The broker's process (on this machine), so its CPU time over the measured seconds is
    /// reported
    #[arg(long)]
    pid: Option<u32>,
    /// Print the figures as one JSON object
    #[arg(long)]
    json: bool,
}

/// Runs the command line; returns the process exit status.
pub fn main(args: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(std::iter::once("spindle".to_string()).chain(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let mut level = logger::level_from_env(cli.trace);
    let rpc_client = matches!(&cli.command, Some(Command::Rpc(a)) if a.is_client());
    if (rpc_client
        || matches!(
            cli.command,
            Some(Command::EchoClient(_) | Command::Bench(_) | Command::Amqp(_))
        ))
        && !cli.trace
    {
        // A client's output is its stdout; reactor start/stop notes would only clutter it.
        level = level.min(log::LevelFilter::Warn);
    }
    logger::init(level);
    match cli.command {
        None => run_all(),
        Some(Command::Echo(a)) => run_echo(&a),
        Some(Command::EchoClient(a)) => run_echo_client(a),
        Some(Command::Kv(a)) => run_kv(&a),
        Some(Command::Broker(a)) => run_broker(a),
        Some(Command::Amqp(c)) => amqp::main(c),
        Some(Command::Bench(BenchCommand::Echo(a))) => run_bench_echo(&a),
        Some(Command::Bench(BenchCommand::Amqp(a))) => run_bench_amqp(a),
        Some(Command::Bench(BenchCommand::Rpc(a))) => run_bench_rpc(a),
        Some(Command::Rpc(a)) => rpc::main(a),
    }
}

/// A configuration error of `spindle kv` (a directive's value, from the store's own parser),
/// printed as redis-server prints it (`*** FATAL CONFIG FILE ERROR …`, the directive, the
/// reason); exit status 1, as redis-server's.
fn kv_config_error(message: &str) -> i32 {
    eprintln!("{message}");
    1
}

/// `spindle` alone: every bundled app on its default port, on one reactor. An app whose port is
/// taken is reported by name and the others still start; the exit status is 1 only when none
/// could.
fn run_all() -> i32 {
    let kv_config = match spindle_kv::config::Config::from_args(&[]) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut reactor = match Reactor::with_config(kv_reactor_config(&kv_config)) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    println!(
        "spindle {} — press Ctrl-C to stop",
        env!("CARGO_PKG_VERSION")
    );
    let mut started = 0;
    let echo_addr = SocketAddr::from(([127, 0, 0, 1], spindle_echo::DEFAULT_PORT));
    match spindle_echo::listen(&mut reactor, echo_addr) {
        Ok(port) => {
            started += 1;
            println!(
                "  echo  tcp {}  (Twisted's echo protocol; try: spindle echo-client)",
                port.address()
            );
        }
        Err(e) => println!("  echo  not started: {e}"),
    }
    let kv_addr = SocketAddr::new(kv_config.bind, kv_config.port);
    match spindle_kv::listen(&mut reactor, kv_addr, kv_config) {
        Ok((port, _)) => {
            started += 1;
            let port_number = port.address().socket_addr().map_or(0, |a| a.port());
            println!(
                "  kv    tcp {}  (Redis-compatible; try: redis-cli -p {port_number})",
                port.address()
            );
        }
        Err(e) => println!("  kv    not started: {e}"),
    }
    let broker_addr = SocketAddr::from(([127, 0, 0, 1], spindle_broker::DEFAULT_PORT));
    let broker_config = spindle_broker::BrokerConfig {
        data_dir: Some(std::path::PathBuf::from("./spindle-data")),
        ..spindle_broker::BrokerConfig::default()
    };
    match spindle_broker::start(&mut reactor, broker_addr, broker_config) {
        Ok(port) => {
            started += 1;
            println!(
                "  broker tcp {}  (AMQP 0-9-1, RabbitMQ's clients; try: spindle amqp publish)",
                port.address()
            );
        }
        Err(e) => println!("  broker not started: {e}"),
    }
    let rpc_addr = SocketAddr::from(([127, 0, 0, 1], spindle_rpc::DEFAULT_PORT));
    match rpc::listen_demo(&mut reactor, rpc_addr) {
        Ok(port) => {
            started += 1;
            println!(
                "  rpc   tcp {}  (XML-RPC, the document's getObj/sendObj; try: spindle rpc call)",
                port.address()
            );
        }
        Err(e) => println!("  rpc   not started: {e}"),
    }
    if started == 0 {
        return fail("no app could start");
    }
    serve(reactor)
}

fn run_echo(args: &EchoArgs) -> i32 {
    let addr = SocketAddr::new(args.bind, args.port);
    raise_fd_limit();
    if args.threads <= 1 {
        let mut reactor = match Reactor::new() {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        let port = match spindle_echo::listen(&mut reactor, addr) {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
        println!("echo listening on {}", port.address());
        return serve(reactor);
    }
    let pool = Pool::start(args.threads, addr, ReactorConfig::default(), true, |_| {
        Box::new(|| spindle_echo::Echo)
    });
    match pool {
        Ok(pool) => {
            println!(
                "echo listening on {} ({} reactor threads)",
                pool.local_addr(),
                args.threads
            );
            match pool.join() {
                Ok(()) => 0,
                Err(e) => fail(e),
            }
        }
        Err(e) => fail(e),
    }
}

/// Raises the descriptor limit as far as the system allows, so a server takes as many
/// connections as it may (the store does this itself, and fits `maxclients` to the result).
fn raise_fd_limit() {
    match spindle_reactor::raise_fd_limit() {
        Ok((soft, hard)) => log::debug!("open files limit {soft} (hard {hard})"),
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
}

/// `spindle broker`: the AMQP broker.
fn run_broker(args: BrokerArgs) -> i32 {
    raise_fd_limit();
    let config = spindle_broker::BrokerConfig {
        data_dir: Some(args.data_dir),
        sync: args.sync,
        definitions: args.definitions,
        memory_high_watermark: args.memory_high_watermark,
        ..spindle_broker::BrokerConfig::default()
    };
    let mut reactor = match Reactor::new() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let addr = SocketAddr::new(args.bind, args.port);
    match spindle_broker::start(&mut reactor, addr, config) {
        Ok(port) => println!("broker listening on {}", port.address()),
        Err(e) => return fail(e),
    }
    serve(reactor)
}

/// The reactor settings the store asks for (its busy-poll window).
fn kv_reactor_config(config: &spindle_kv::config::Config) -> ReactorConfig {
    ReactorConfig {
        busy_poll: Duration::from_micros(config.busy_poll_us),
        ..ReactorConfig::default()
    }
}

/// `spindle kv`: the Redis-compatible store, configured like redis-server.
fn run_kv(args: &KvArgs) -> i32 {
    if args.args.first().is_some_and(|a| a == "check-aof") {
        let rest = args.args.get(1..).unwrap_or_default();
        return spindle_kv::check_aof(rest, &mut std::io::stdout());
    }
    let config = match spindle_kv::config::Config::from_args(&args.args) {
        Ok(c) => c,
        Err(e) => return kv_config_error(&e),
    };
    let mut reactor = match Reactor::with_config(kv_reactor_config(&config)) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let addr = SocketAddr::new(config.bind, config.port);
    let server = match spindle_kv::listen(&mut reactor, addr, config) {
        Ok((port, server)) => {
            println!("kv listening on {}", port.address());
            server
        }
        Err(e) => return fail(e),
    };
    let status = serve(reactor);
    // Stopped by SIGINT or SIGTERM: the AOF fsynced and, with save points, the dump file
    // saved before the process ends, as redis-server does on a signal.
    if spindle_kv::session::shutdown(&server) {
        status
    } else {
        1
    }
}

fn run_echo_client(args: EchoClientArgs) -> i32 {
    let mut reactor = match Reactor::new() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let outcome = Rc::new(RefCell::new(spindle_echo::ClientOutcome::Pending));
    let say: spindle_echo::Say = Rc::new(|line: &str| println!("{line}"));
    let factory = spindle_echo::EchoClientFactory::new(args.message, say, outcome.clone());
    let connected = reactor.connect_tcp(
        (args.host.as_str(), args.port),
        factory,
        Some(Duration::from_secs(30)),
    );
    if let Err(e) = connected {
        println!("Connection failed - goodbye!");
        return fail(format!(
            "cannot connect to {}:{}: {e}",
            args.host, args.port
        ));
    }
    if let Err(e) = reactor.run() {
        return fail(e);
    }
    let outcome = outcome.replace(spindle_echo::ClientOutcome::Pending);
    match outcome {
        spindle_echo::ClientOutcome::Done => 0,
        spindle_echo::ClientOutcome::Failed(e) => fail(format!(
            "{e}\n  is the echo server running? start one with: spindle echo"
        )),
        spindle_echo::ClientOutcome::Pending => 1,
    }
}

/// `spindle bench echo …`: see [`spindle_bench::echo`].
fn run_bench_echo(args: &BenchEchoArgs) -> i32 {
    let config = EchoBench {
        conns: args.conns,
        depth: args.depth,
        size: args.size,
        seconds: args.seconds,
        rounds: args.rounds,
    };
    let mut targets = Vec::new();
    let named = std::iter::once((args.addr.as_str(), args.pid))
        .chain(args.vs.as_deref().map(|v| (v, args.vs_pid)));
    for (addr, pid) in named {
        match spindle_reactor::resolve(addr) {
            Ok(sa) => targets.push((sa, pid)),
            Err(e) => return fail(e),
        }
    }
    match spindle_bench::echo::run(&targets, &config) {
        Ok(results) => {
            let addrs: Vec<SocketAddr> = targets.iter().map(|(a, _)| *a).collect();
            print!("{}", spindle_bench::echo::report(&addrs, &config, &results));
            0
        }
        Err(e) => fail(e),
    }
}

/// `spindle bench amqp …`: see [`spindle_bench::amqp`].
fn run_bench_amqp(args: BenchAmqpArgs) -> i32 {
    let uri = match uri_or_env(args.uri) {
        Ok(u) => u,
        Err(e) => return fail(e),
    };
    let bench = AmqpBench {
        producers: args.producers,
        consumers: args.consumers,
        size: args.size,
        seconds: args.seconds,
        persistent: args.persistent,
        confirm: args.confirm,
        prefetch: args.prefetch,
        autoack: args.autoack,
        rate: args.rate,
        exchange_type: args.exchange_type,
        queues: args.queues,
        bindings: args.bindings,
        broker_pid: args.pid,
        queue: args.queue,
        keep: args.keep,
        max_seconds: args.max_seconds,
        ..AmqpBench::new(spindle_amqp::Config::new(uri))
    };
    if args.drain {
        return run_bench_amqp_drain(bench, args.json);
    }
    if let Some(n) = args.fill {
        return run_bench_amqp_fill(AmqpBench { fill: n, ..bench }, args.json, args.hold);
    }
    let shown = bench.clone();
    match spindle_bench::amqp::run_bench(bench, |line| eprintln!("{line}")) {
        Ok(result) if args.json => {
            println!("{}", result.json());
            0
        }
        Ok(result) => {
            print!("{}", result.report(&shown));
            0
        }
        Err(e) => {
            eprintln!("spindle bench amqp: {e}");
            1
        }
    }
}

/// `spindle bench rpc …`: see [`spindle_bench::rpc`].
fn run_bench_rpc(args: BenchRpcArgs) -> i32 {
    use spindle_bench::rpc::{AmqpRequest, AmqpRpcBench, XmlRpcBench};
    let mut call = args.call.into_iter();
    let method = call.next().unwrap_or_else(|| "fib".into());
    let texts: Vec<String> = call.collect();
    let params: Vec<spindle_protocols::value::Value> =
        texts.iter().map(|a| spindle_rpc::parse_arg(a)).collect();
    let result = if let Some(uri) = args.amqp {
        let uri = if uri.is_empty() {
            uri_or_env(None)
        } else {
            parse_uri(&uri).map_err(|e| e.to_string())
        };
        let uri = match uri {
            Ok(u) => u,
            Err(e) => return fail(e),
        };
        let request = if args.xml {
            AmqpRequest::Xml(method.clone(), params)
        } else {
            match texts.first() {
                Some(text) => AmqpRequest::Text(text.clone()),
                None => return fail("the tutorial's text mode sends ARG: give one (fib 10)"),
            }
        };
        let bench = AmqpRpcBench {
            amqp: spindle_amqp::Config::new(uri),
            queue: args.queue,
            request,
            in_flight: args.in_flight,
            seconds: args.seconds,
            rounds: args.rounds,
        };
        let what = format!(
            "{method}({}) through {}, queue {}, {} in flight",
            texts.join(", "),
            bench.amqp.uri.authority().0,
            bench.queue,
            bench.in_flight
        );
        spindle_bench::rpc::run_amqp(&bench, args.pid).map(|r| (r, what))
    } else {
        let bench = XmlRpcBench {
            url: args.url,
            method: method.clone(),
            params,
            conns: args.conns,
            depth: args.depth,
            seconds: args.seconds,
            rounds: args.rounds,
        };
        let what = format!(
            "{method}({}) on {}, {} connections, depth {}",
            texts.join(", "),
            bench.url,
            bench.conns,
            bench.depth
        );
        spindle_bench::rpc::run_xmlrpc(&bench, args.pid).map(|r| (r, what))
    };
    match result {
        Ok((result, _)) if args.json => {
            println!("{}", result.json());
            0
        }
        Ok((result, what)) => {
            print!("{}", result.report(&what));
            0
        }
        Err(e) => {
            eprintln!("spindle bench rpc: {e}");
            1
        }
    }
}

/// `spindle bench amqp --fill N`: the summary is printed while the queue is still full; with
/// `hold`, the queue is kept until standard input closes.
fn run_bench_amqp_fill(bench: AmqpBench, json: bool, hold: bool) -> i32 {
    let filled = |result: &spindle_bench::amqp::FillResult| {
        if json {
            println!("{}", result.json());
        } else {
            print!("{}", result.report());
        }
        if hold {
            let _ = std::io::Write::flush(&mut std::io::stdout());
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        }
    };
    match spindle_bench::amqp::run_fill(bench, |line| eprintln!("{line}"), filled) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("spindle bench amqp: {e}");
            1
        }
    }
}

/// `spindle bench amqp --drain --queue NAME`: consumes the queue's messages, prints the
/// summary.
fn run_bench_amqp_drain(bench: AmqpBench, json: bool) -> i32 {
    match spindle_bench::amqp::run_drain(bench, |line| eprintln!("{line}")) {
        Ok(result) if json => {
            println!("{}", result.json());
            0
        }
        Ok(result) => {
            print!("{}", result.report());
            0
        }
        Err(e) => {
            eprintln!("spindle bench amqp: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("spindle").chain(args.iter().copied()))
            .map_err(|e| e.render().to_string())
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_parses_its_own_flags() {
        assert!(matches!(parse(&[]), Ok(Cli { command: None, .. })));
        let cli = parse(&["--trace", "echo", "--port", "0", "--threads", "2"]).unwrap();
        assert!(cli.trace);
        match cli.command {
            Some(Command::Echo(a)) => {
                assert_eq!(a.bind, IpAddr::from([127, 0, 0, 1]));
                assert_eq!(a.port, 0);
                assert_eq!(a.threads, 2);
            }
            other => panic!("{other:?}"),
        }
        // --trace is global: after the command too.
        assert!(parse(&["echo", "--trace"]).unwrap().trace);
        match parse(&["kv", "redis.conf", "--port", "6380", "--save", ""])
            .unwrap()
            .command
        {
            Some(Command::Kv(a)) => {
                assert_eq!(a.args, ["redis.conf", "--port", "6380", "--save", ""])
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "bench",
            "amqp",
            "--confirm",
            "100",
            "--exchange-type",
            "topic",
        ])
        .unwrap()
        .command
        {
            Some(Command::Bench(BenchCommand::Amqp(a))) => {
                assert_eq!(a.confirm, Some(100));
                assert_eq!(a.exchange_type, "topic");
                assert_eq!(a.producers, 1);
                assert_eq!(a.seconds, 10.0);
            }
            other => panic!("{other:?}"),
        }
        match parse(&["bench", "echo", "--vs", "127.0.0.1:9000"])
            .unwrap()
            .command
        {
            Some(Command::Bench(BenchCommand::Echo(a))) => {
                assert_eq!(a.addr, "127.0.0.1:8888");
                assert_eq!(a.vs.as_deref(), Some("127.0.0.1:9000"));
                assert_eq!((a.conns, a.depth, a.size, a.rounds), (50, 1, 64, 3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bench_amqp_takes_queues_bindings_and_a_fill() {
        match parse(&["bench", "amqp", "--queues", "4", "--bindings", "10000"])
            .unwrap()
            .command
        {
            Some(Command::Bench(BenchCommand::Amqp(a))) => {
                assert_eq!(
                    (a.queues, a.bindings, a.fill, a.hold),
                    (4, 10_000, None, false)
                );
                assert_eq!(a.pid, None);
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "bench", "amqp", "--fill", "1000000", "--hold", "--pid", "42",
        ])
        .unwrap()
        .command
        {
            Some(Command::Bench(BenchCommand::Amqp(a))) => {
                assert_eq!((a.queues, a.bindings), (1, 0));
                assert_eq!((a.fill, a.hold, a.pid), (Some(1_000_000), true, Some(42)));
            }
            other => panic!("{other:?}"),
        }
        let e = parse(&["bench", "amqp", "--hold"]).unwrap_err();
        assert!(e.contains("--fill"), "--hold needs --fill: {e}");
    }

    #[test]
    fn bench_amqp_fills_a_named_queue_and_drains_it() {
        match parse(&[
            "bench",
            "amqp",
            "--fill",
            "10",
            "--queue",
            "q",
            "--keep",
            "--max-seconds",
            "300",
        ])
        .unwrap()
        .command
        {
            Some(Command::Bench(BenchCommand::Amqp(a))) => {
                assert_eq!((a.queue.as_deref(), a.keep), (Some("q"), true));
                assert_eq!((a.max_seconds, a.drain), (Some(300.0), false));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["bench", "amqp", "--drain", "--queue", "q"])
            .unwrap()
            .command
        {
            Some(Command::Bench(BenchCommand::Amqp(a))) => {
                assert!(a.drain);
                assert_eq!((a.fill, a.keep), (None, false));
            }
            other => panic!("{other:?}"),
        }
        let e = parse(&["bench", "amqp", "--drain"]).unwrap_err();
        assert!(e.contains("--queue"), "--drain needs --queue: {e}");
        let e = parse(&["bench", "amqp", "--keep"]).unwrap_err();
        assert!(e.contains("--queue"), "--keep needs --queue: {e}");
        let e = parse(&["bench", "amqp", "--drain", "--queue", "q", "--fill", "1"]).unwrap_err();
        assert!(e.contains("cannot be used with"), "{e}");
    }

    #[test]
    fn bench_rpc_takes_a_call_and_an_amqp_broker() {
        match parse(&["bench", "rpc"]).unwrap().command {
            Some(Command::Bench(BenchCommand::Rpc(a))) => {
                assert_eq!(a.call, ["fib", "10"]);
                assert_eq!(a.url, "http://127.0.0.1:4242");
                assert_eq!((a.conns, a.depth, a.amqp.as_deref()), (16, 1, None));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "bench",
            "rpc",
            "getObj",
            "--url",
            "http://127.0.0.1:9",
            "--pid",
            "7",
        ])
        .unwrap()
        .command
        {
            Some(Command::Bench(BenchCommand::Rpc(a))) => {
                assert_eq!(a.call, ["getObj"]);
                assert_eq!((a.url.as_str(), a.pid), ("http://127.0.0.1:9", Some(7)));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "bench",
            "rpc",
            "--amqp",
            "--in-flight",
            "16",
            "--queue",
            "q",
            "fib",
            "10",
        ])
        .unwrap()
        .command
        {
            Some(Command::Bench(BenchCommand::Rpc(a))) => {
                assert_eq!(a.amqp.as_deref(), Some(""));
                assert_eq!((a.in_flight, a.queue.as_str()), (16, "q"));
                assert_eq!(a.call, ["fib", "10"]);
            }
            other => panic!("{other:?}"),
        }
        let e = parse(&["bench", "rpc", "--in-flight", "4"]).unwrap_err();
        assert!(e.contains("--amqp"), "--in-flight needs --amqp: {e}");
    }

    #[test]
    fn errors_name_the_argument_at_fault() {
        let e = parse(&["echo", "--prot", "1"]).unwrap_err();
        assert!(e.contains("unexpected argument '--prot'"), "{e}");
        assert!(
            e.contains("'--port'"),
            "a similar argument is suggested: {e}"
        );
        let e = parse(&["echo", "--port", "99999"]).unwrap_err();
        assert!(
            e.contains("invalid value '99999' for '--port <PORT>'"),
            "{e}"
        );
        let e = parse(&["bench", "amqp", "--exchange-type", "headers"]).unwrap_err();
        assert!(e.contains("invalid value 'headers'"), "{e}");
        let e = parse(&["frob"]).unwrap_err();
        assert!(e.contains("unrecognized subcommand 'frob'"), "{e}");
    }

    #[test]
    fn each_command_has_its_own_help() {
        let help = |args: &[&str]| match Cli::try_parse_from(
            std::iter::once("spindle").chain(args.iter().copied()),
        ) {
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.render().to_string(),
            other => panic!("{other:?}"),
        };
        let kv = help(&["kv", "--help"]);
        assert!(
            kv.contains("Usage: spindle kv [redis.conf] [--<directive> VALUE]..."),
            "{kv}"
        );
        assert!(kv.contains("--port"), "{kv}");
        assert!(kv.contains("--requirepass"), "{kv}");
        assert!(!kv.contains("echo-client"), "only kv's own help: {kv}");
        let echo = help(&["echo", "--help"]);
        assert!(echo.contains("--threads"), "{echo}");
        assert!(!echo.contains("requirepass"), "{echo}");
        let top = help(&["--help"]);
        for command in ["echo", "echo-client", "kv", "amqp", "bench"] {
            assert!(top.contains(command), "{command} in {top}");
        }
    }
}
