//! The RabbitMQ tutorials 1–6 as written with Spindle's client (examples 11–14), run as the
//! tutorials run them — separate programs in separate processes — with their output asserted,
//! each against a real RabbitMQ (`NAME::rabbitmq`) and against `spindle broker`
//! (`NAME::spindle_broker`, see `common::both`).
//!
//! The example binaries are built by `cargo test` (or `cargo build --examples`); the RabbitMQ
//! is a private one (see `common::amqp`), each spindle broker the test's own.
//!
//! ```text
//! cargo test --test amqp_tutorials -- --include-ignored
//! ```

mod common;

use std::process::Command;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use common::both::Broker;
use common::{run_client, Running, RUN_TIMEOUT};

/// The command running `example` (`amqp_hello`, …) against `broker`.
fn example(broker: &Broker, name: &str, args: &[&str]) -> Command {
    let mut cmd = common::example(name);
    cmd.args(args).env("AMQP_URI", broker.uri());
    cmd
}

/// A long-running tutorial program (a receiver, a worker, a server) and its output lines.
struct Program {
    name: String,
    running: Running,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Program {
    /// Starts it and waits for the line saying it is ready (it consumes from then on).
    fn start(broker: &Broker, example_name: &str, args: &[&str], ready: &str) -> Program {
        let name = format!("{example_name} {}", args.join(" "));
        let (running, lines) = Running::spawn(&name, example(broker, example_name, args));
        let mut program = Program {
            name,
            running,
            lines,
            seen: Vec::new(),
        };
        program.expect(ready);
        program
    }

    /// Waits for the next line equal to `want`; the lines before it are kept in `seen`.
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + RUN_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line == want => {
                    self.seen.push(line);
                    return;
                }
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{} did not print {want:?} within {RUN_TIMEOUT:?}; printed {:?}; stderr:\n{}",
                    self.name,
                    self.seen,
                    self.running.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{} exited before printing {want:?}; printed {:?}; stderr:\n{}",
                    self.name,
                    self.seen,
                    self.running.full_stderr()
                ),
            }
        }
    }

    /// The next line, whatever it is.
    fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(RUN_TIMEOUT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(e) => panic!(
                "{}: no line within {RUN_TIMEOUT:?} ({e:?}); printed {:?}; stderr:\n{}",
                self.name,
                self.seen,
                self.running.stderr()
            ),
        }
    }

    /// Ctrl-C, as the tutorials stop their receivers.
    fn stop(mut self) -> Vec<String> {
        self.running.terminate();
        self.seen
    }
}

/// Runs a program that ends by itself (a sender, a client) and returns its output lines.
fn run_to_end(broker: &Broker, example_name: &str, args: &[&str]) -> Vec<String> {
    let name = format!("{example_name} {}", args.join(" "));
    let finished = run_client(&name, example(broker, example_name, args));
    assert!(
        finished.status.success(),
        "{name} failed ({}): stdout {:?}, stderr:\n{}",
        finished.status,
        finished.lines,
        finished.stderr
    );
    finished.lines
}

fn tutorial_1_hello_world(broker: &Broker) {
    let mut receive = Program::start(
        broker,
        "amqp_hello",
        &["receive"],
        " [*] Waiting for messages. To exit press CTRL+C",
    );
    assert_eq!(
        run_to_end(broker, "amqp_hello", &["send"]),
        [" [x] Sent 'Hello World!'"]
    );
    receive.expect(" [x] Received 'Hello World!'");
    // A second run reaches the same receiver, as in the tutorial.
    run_to_end(broker, "amqp_hello", &["send"]);
    receive.expect(" [x] Received 'Hello World!'");
    receive.stop();
}
both_brokers!(
    tutorial_1_hello_world,
    "needs rabbitmq-server (run by scripts/test)"
);

fn tutorial_2_work_queues_share_tasks_and_ack_when_done(broker: &Broker) {
    let ready = " [*] Waiting for messages. To exit press CTRL+C";
    let mut workers = [
        Program::start(broker, "amqp_work_queues", &["worker"], ready),
        Program::start(broker, "amqp_work_queues", &["worker"], ready),
    ];
    let tasks = [
        "First message.",
        "Second message.",
        "Third message.",
        "Fourth message.",
    ];
    for task in tasks {
        let words: Vec<&str> = task.split(' ').collect();
        let mut args = vec!["new_task"];
        args.extend(words);
        assert_eq!(
            run_to_end(broker, "amqp_work_queues", &args),
            [format!(" [x] Sent '{task}'")]
        );
    }
    // With prefetch 1 the first two tasks go one to each worker (each is busy for a second);
    // every task is received once, and each "Received" is followed by its "Done".
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut output: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    while output.iter().map(Vec::len).sum::<usize>() < 2 * tasks.len() {
        assert!(
            Instant::now() < deadline,
            "the workers printed only {output:?} within {RUN_TIMEOUT:?}"
        );
        for (i, worker) in workers.iter_mut().enumerate() {
            if let Ok(line) = worker.lines.recv_timeout(Duration::from_millis(20)) {
                output[i].push(line);
            }
        }
    }
    let mut received = Vec::new();
    for (i, lines) in output.iter().enumerate() {
        assert!(!lines.is_empty(), "worker {i} got no task: {output:?}");
        for pair in lines.chunks(2) {
            let task = pair[0]
                .strip_prefix(" [x] Received '")
                .and_then(|l| l.strip_suffix('\''))
                .unwrap_or_else(|| panic!("worker {i} printed {lines:?}"));
            assert_eq!(
                pair.get(1).map(String::as_str),
                Some(" [x] Done"),
                "{lines:?}"
            );
            received.push(task.to_string());
        }
    }
    received.sort();
    let mut want: Vec<String> = tasks.iter().map(|t| t.to_string()).collect();
    want.sort();
    assert_eq!(received, want);
    for worker in workers {
        worker.stop();
    }
}
both_brokers!(
    tutorial_2_work_queues_share_tasks_and_ack_when_done,
    "needs rabbitmq-server (run by scripts/test)"
);

fn tutorial_3_fanout_reaches_every_receiver(broker: &Broker) {
    let ready = " [*] Waiting for logs. To exit press CTRL+C";
    let mut a = Program::start(broker, "amqp_exchanges", &["receive_logs"], ready);
    let mut b = Program::start(broker, "amqp_exchanges", &["receive_logs"], ready);
    assert_eq!(
        run_to_end(broker, "amqp_exchanges", &["emit_log"]),
        [" [x] Sent info: Hello World!"]
    );
    a.expect(" [x] info: Hello World!");
    b.expect(" [x] info: Hello World!");
    assert_eq!(
        run_to_end(
            broker,
            "amqp_exchanges",
            &["emit_log", "warning:", "disk", "low"]
        ),
        [" [x] Sent warning: disk low"]
    );
    a.expect(" [x] warning: disk low");
    b.expect(" [x] warning: disk low");
    a.stop();
    b.stop();
}
both_brokers!(
    tutorial_3_fanout_reaches_every_receiver,
    "needs rabbitmq-server (run by scripts/test)"
);

fn tutorial_4_direct_routing_by_severity(broker: &Broker) {
    let ready = " [*] Waiting for logs. To exit press CTRL+C";
    let errors_only = Program::start(
        broker,
        "amqp_exchanges",
        &["receive_logs_direct", "error"],
        ready,
    );
    let mut all = Program::start(
        broker,
        "amqp_exchanges",
        &["receive_logs_direct", "info", "warning", "error"],
        ready,
    );
    let mut errors_only = errors_only;
    run_to_end(
        broker,
        "amqp_exchanges",
        &["emit_log_direct", "info", "just", "so"],
    );
    all.expect(" [x] info:just so");
    assert_eq!(
        run_to_end(
            broker,
            "amqp_exchanges",
            &[
                "emit_log_direct",
                "error",
                "Run.",
                "Run.",
                "Or",
                "it",
                "will",
                "explode."
            ]
        ),
        [" [x] Sent error:Run. Run. Or it will explode."]
    );
    all.expect(" [x] error:Run. Run. Or it will explode.");
    // The info message went nowhere near the errors-only queue: its first line is the error.
    assert_eq!(
        errors_only.next_line(),
        " [x] error:Run. Run. Or it will explode."
    );
    errors_only.stop();
    all.stop();

    // Without binding keys the receiver refuses to start, as the tutorial's does.
    let finished = run_client(
        "receive_logs_direct",
        example(broker, "amqp_exchanges", &["receive_logs_direct"]),
    );
    assert!(!finished.status.success());
    assert!(
        finished.stderr.contains("Usage: receive_logs_direct"),
        "{}",
        finished.stderr
    );
}
both_brokers!(
    tutorial_4_direct_routing_by_severity,
    "needs rabbitmq-server (run by scripts/test)"
);

fn tutorial_5_topics_match_patterns(broker: &Broker) {
    let ready = " [*] Waiting for logs. To exit press CTRL+C";
    let mut kern = Program::start(
        broker,
        "amqp_exchanges",
        &["receive_logs_topic", "kern.*", "*.critical"],
        ready,
    );
    let mut everything = Program::start(
        broker,
        "amqp_exchanges",
        &["receive_logs_topic", "#"],
        ready,
    );
    assert_eq!(
        run_to_end(
            broker,
            "amqp_exchanges",
            &["emit_log_topic", "kern.critical", "A critical kernel error"]
        ),
        [" [x] Sent kern.critical:A critical kernel error"]
    );
    kern.expect(" [x] kern.critical:A critical kernel error");
    everything.expect(" [x] kern.critical:A critical kernel error");
    // `user.info` matches neither pattern; `anonymous.critical` matches `*.critical`.
    run_to_end(
        broker,
        "amqp_exchanges",
        &["emit_log_topic", "user.info", "quiet"],
    );
    everything.expect(" [x] user.info:quiet");
    run_to_end(
        broker,
        "amqp_exchanges",
        &["emit_log_topic", "anonymous.critical", "loud"],
    );
    everything.expect(" [x] anonymous.critical:loud");
    assert_eq!(kern.next_line(), " [x] anonymous.critical:loud");
    // The default routing key, `anonymous.info`, reaches only `#`.
    assert_eq!(
        run_to_end(broker, "amqp_exchanges", &["emit_log_topic"]),
        [" [x] Sent anonymous.info:Hello World!"]
    );
    everything.expect(" [x] anonymous.info:Hello World!");
    kern.stop();
    everything.stop();
}
both_brokers!(
    tutorial_5_topics_match_patterns,
    "needs rabbitmq-server (run by scripts/test)"
);

fn tutorial_6_rpc_fibonacci(broker: &Broker) {
    let mut server = Program::start(
        broker,
        "amqp_rpc",
        &["rpc_server"],
        " [x] Awaiting RPC requests",
    );
    assert_eq!(
        run_to_end(broker, "amqp_rpc", &["rpc_client", "30"]),
        [" [x] Requesting fib(30)", " [.] Got 832040"]
    );
    server.expect(" [.] fib(30)");
    assert_eq!(
        run_to_end(broker, "amqp_rpc", &["rpc_client", "10"]),
        [" [x] Requesting fib(10)", " [.] Got 55"]
    );
    server.expect(" [.] fib(10)");
    server.stop();
}
both_brokers!(
    tutorial_6_rpc_fibonacci,
    "needs rabbitmq-server (run by scripts/test)"
);
