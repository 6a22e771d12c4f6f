//! Debian's `amqp-tools` (the rabbitmq-c command-line programs `amqp-declare-queue`,
//! `amqp-publish`, `amqp-consume`, `amqp-get`, `amqp-delete-queue`) against `spindle broker`,
//! each a separate process as a shell script would run them, with what they print asserted.
//!
//! They need the programs (`apt-get install amqp-tools`, which scripts/test does), so they are
//! `#[ignore]`d; the exchange test also uses pika (`SPINDLE_PYTHON`):
//!
//! ```text
//! SPINDLE_PYTHON=$PWD/.venv/bin/python cargo test --test broker_amqp_tools -- --include-ignored
//! ```
//!
//! `SPINDLE_BROKER_URI=rabbitmq` runs the same tests against a private RabbitMQ instead (see
//! `common::broker`), which is how their expectations were checked.

mod common;

use std::process::Command;

use common::amqp::queue;
use common::broker::{test_broker, TestBroker};
use common::{python, run_client, Finished, Running, RUN_TIMEOUT};

/// `PROGRAM --url URL ARGS...` for one of the amqp-tools.
fn tool(program: &str, broker: &TestBroker, args: &[&str]) -> Command {
    assert!(
        which(program).is_some(),
        "{program} is not installed: apt-get install amqp-tools (scripts/test does)"
    );
    let mut cmd = Command::new(program);
    cmd.arg("--url").arg(&broker.url).args(args);
    cmd
}

/// Runs one of the amqp-tools to completion.
fn run_tool(program: &str, broker: &TestBroker, args: &[&str]) -> Finished {
    let name = format!("{program} {}", args.join(" "));
    run_client(&name, tool(program, broker, args))
}

/// Runs one of the amqp-tools, which must succeed, and returns its stdout lines.
fn ok(program: &str, broker: &TestBroker, args: &[&str]) -> Vec<String> {
    let finished = run_tool(program, broker, args);
    assert!(
        finished.status.success(),
        "{program} {args:?} failed ({}): stdout {:?}, stderr:\n{}",
        finished.status,
        finished.lines,
        finished.stderr
    );
    finished.lines
}

/// Where `program` is on the PATH.
fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

#[test]
#[ignore = "needs amqp-tools: run by scripts/test"]
fn declare_publish_three_and_consume_them_with_a_command_per_message() {
    let broker = test_broker(&[]);
    let q = queue("tools");
    assert_eq!(ok("amqp-declare-queue", &broker, &["-q", &q]), [q.as_str()]);
    for body in ["one\n", "two\n", "three\n"] {
        assert!(ok("amqp-publish", &broker, &["-r", &q, "-b", body]).is_empty());
    }
    // `cat` runs once per message with its body on stdin; -c 3 stops after the third ack.
    assert_eq!(
        ok("amqp-consume", &broker, &["-q", &q, "-c", "3", "cat"]),
        ["one", "two", "three"]
    );
    // They were acknowledged: the queue is empty, and deleting it says so.
    assert_eq!(ok("amqp-delete-queue", &broker, &["-q", &q]), ["0"]);
}

#[test]
#[ignore = "needs amqp-tools: run by scripts/test"]
fn line_buffered_publish_get_an_empty_queue_and_an_inequivalent_redeclare() {
    let broker = test_broker(&[]);
    let q = queue("tools-get");
    assert_eq!(
        ok("amqp-declare-queue", &broker, &["-q", &q, "--durable"]),
        [q.as_str()]
    );
    // -l: each line of stdin a message of its own (the newline kept in its body).
    let mut publish = tool("amqp-publish", &broker, &["-r", &q, "-l"]);
    publish.stdin(std::process::Stdio::piped());
    let mut child = publish.spawn().expect("start amqp-publish");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(b"first line\nsecond line\nthird line\n")
            .expect("write to amqp-publish");
    }
    let status = child.wait().expect("wait for amqp-publish");
    assert!(status.success(), "amqp-publish -l exited {status}");

    assert_eq!(ok("amqp-get", &broker, &["-q", &q]), ["first line"]);
    assert_eq!(ok("amqp-get", &broker, &["-q", &q]), ["second line"]);
    // What is left is counted when the queue is deleted; then it is gone, and a server-named
    // queue can be had.
    let redeclared = run_tool("amqp-declare-queue", &broker, &["-q", &q]);
    assert_eq!(redeclared.status.code(), Some(1), "{redeclared:?}");
    assert!(
        redeclared.stderr.contains(&format!(
            "queue.declare: server channel error 406, message: PRECONDITION_FAILED - \
             inequivalent arg 'durable' for queue '{q}' in vhost '/': received 'false' but \
             current is 'true'"
        )),
        "{redeclared:?}"
    );
    assert_eq!(ok("amqp-delete-queue", &broker, &["-q", &q]), ["1"]);
    let named = ok("amqp-declare-queue", &broker, &["-q", ""]);
    assert!(
        named.len() == 1 && named[0].starts_with("amq.gen-"),
        "{named:?}"
    );
    // amqp-get on an empty queue prints nothing and exits 2.
    let empty = run_tool("amqp-get", &broker, &["-q", &named[0]]);
    assert_eq!(empty.status.code(), Some(2), "{empty:?}");
    assert!(empty.lines.is_empty(), "{empty:?}");
}

/// Publishes BODY to amq.direct with ROUTING_KEY as mandatory until it is routed (pika raises
/// UnroutableError while no queue is bound), then the rest of the bodies; prints how many.
const PUBLISH_WHEN_BOUND: &str = "\
import os, sys, time, pika
connection = pika.BlockingConnection(pika.URLParameters(os.environ['AMQP_URL']))
channel = connection.channel()
channel.confirm_delivery()
key, first, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
while True:
    try:
        channel.basic_publish('amq.direct', key, first, mandatory=True)
        break
    except pika.exceptions.UnroutableError:
        time.sleep(0.02)  # polling for the consumer's binding
for body in rest:
    channel.basic_publish('amq.direct', key, body, mandatory=True)
print('published', 1 + len(rest), flush=True)
connection.close()
";

#[test]
#[ignore = "needs amqp-tools and pika: run by scripts/test"]
fn consume_binds_an_exclusive_server_named_queue_to_an_exchange() {
    let broker = test_broker(&[]);
    let key = queue("tools-key");
    let (mut consumer, lines) = Running::spawn(
        "amqp-consume -e amq.direct",
        tool(
            "amqp-consume",
            &broker,
            &["-e", "amq.direct", "-r", &key, "-x", "-c", "2", "cat"],
        ),
    );
    let mut publish = python();
    publish
        .args(["-c", PUBLISH_WHEN_BOUND, &key, "routed 1\n", "routed 2\n"])
        .env("AMQP_URL", &broker.url);
    let published = run_client("publish when bound", publish);
    assert!(published.status.success(), "{published:?}");
    assert_eq!(published.lines, ["published 2"]);

    let Some(status) = consumer.wait_for_exit(RUN_TIMEOUT) else {
        panic!(
            "amqp-consume -c 2 did not exit within {RUN_TIMEOUT:?}; stderr:\n{}",
            consumer.stderr()
        );
    };
    let stderr = consumer.full_stderr();
    assert!(status.success(), "amqp-consume exited {status}: {stderr}");
    assert_eq!(lines.iter().collect::<Vec<_>>(), ["routed 1", "routed 2"]);
    assert!(
        stderr.starts_with("Server provided queue name: amq.gen-"),
        "{stderr}"
    );
}
