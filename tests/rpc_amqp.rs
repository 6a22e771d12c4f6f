//! RPC over AMQP against the RabbitMQ tutorial's pika programs, both ways, through RabbitMQ
//! (`NAME::rabbitmq`) and through `spindle broker` (`NAME::spindle_broker`, see
//! `common::both`): the tutorial's `rpc_client.py` (FibonacciRpcClient) calls our
//! `AmqpRpcServer` (`spindle rpc --amqp`), and our `AmqpRpcClient` calls the tutorial's
//! `rpc_server.py`; then XML-RPC mode (every value type, faults, hundreds of calls in flight,
//! direct reply-to, timeouts) between our own client and server.
//!
//! ```text
//! SPINDLE_PYTHON=$PWD/.venv/bin/python cargo test --test rpc_amqp -- --include-ignored
//! ```

mod common;

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use common::both::Broker;
use common::{example, py_script, python, run_client, spindle, Running, RUN_TIMEOUT};
use spindle_amqp::{AmqpUri, Config};
use spindle_protocols::value::Value;
use spindle_reactor::{gather, Reactor};
use spindle_rpc::{
    block_on, AmqpClientConfig, AmqpRpcClient, AmqpRpcServer, AmqpServerConfig, DemoObject, Fault,
    Registry, ReplyQueue, RpcError,
};

const WAIT: Duration = Duration::from_secs(30);

/// The broker's URL as pika's `URLParameters` wants it (the default vhost spelled out).
fn pika_url(broker: &Broker) -> String {
    format!("{}%2F", broker.uri())
}

fn amqp_config(broker: &Broker) -> Config {
    Config::new(AmqpUri::parse(&broker.uri()).expect("the broker's URI"))
}

/// A program that runs until stopped, started once it printed a line containing `ready`.
fn start(name: &str, cmd: Command, ready: &str) -> (Running, Receiver<String>) {
    let (running, lines) = Running::spawn(name, cmd);
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains(ready) => return (running, lines),
            Ok(line) => seen.push(line),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                "{name} did not print {ready:?}; printed {seen:?}; stderr:\n{}",
                running.stderr()
            ),
        }
    }
}

/// A tutorial script of `tests/py/tutorials/` with `AMQP_URL` set.
fn tutorial(broker: &Broker, script: &str) -> Command {
    let mut cmd = python();
    cmd.arg(py_script("tutorials").join(script))
        .env("AMQP_URL", pika_url(broker))
        .env("PYTHONUNBUFFERED", "1");
    cmd
}

fn fib(n: i64) -> i64 {
    spindle_rpc::fib(n).unwrap()
}

fn tutorial_rpc_both_ways(broker: &Broker) {
    // The tutorial's client against `spindle rpc --amqp` (the document's object, whose `fib`
    // is the tutorial method).
    let mut cmd = spindle();
    cmd.args(["rpc", "--port", "0", "--amqp", &broker.uri()]);
    let (mut server, _lines) = start("spindle rpc --amqp", cmd, "Awaiting RPC requests");
    let done = run_client("rpc_client.py", tutorial(broker, "rpc_client.py"));
    assert!(done.status.success(), "{done:?}");
    assert_eq!(done.lines, [" [x] Requesting fib(30)", " [.] Got 832040"]);

    let mut reactor = Reactor::new().unwrap();
    let client = AmqpRpcClient::connect(
        &mut reactor,
        amqp_config(broker),
        AmqpClientConfig::default(),
    )
    .unwrap();
    let d = client.call_text(&mut reactor, "10");
    assert_eq!(block_on(&mut reactor, d, WAIT), Ok("55".to_string()));
    // A text request the method refuses: a fault-marked reply, read back as the fault.
    let d = client.call_text(&mut reactor, "x");
    let err = block_on(&mut reactor, d, WAIT).unwrap_err();
    assert_eq!(
        err,
        RpcError::Fault(Fault::new(
            1,
            "<class 'TypeError'>:fib() argument 1 must be int, not str"
        ))
    );
    // XML-RPC mode on the same queue.
    let d = client.call(&mut reactor, "fib", vec![Value::Int(30)]);
    assert_eq!(block_on(&mut reactor, d, WAIT), Ok(Value::Int(832040)));
    assert!(server.terminate().success());

    // Our client against the tutorial's server.
    let (mut pika_server, lines) = start(
        "rpc_server.py",
        tutorial(broker, "rpc_server.py"),
        " [x] Awaiting RPC requests",
    );
    let d = client.call_text(&mut reactor, "30");
    assert_eq!(block_on(&mut reactor, d, WAIT), Ok("832040".to_string()));
    // Many in flight at once, each answer matched by its correlation id.
    let calls: Vec<_> = (0..20)
        .map(|i| client.call_text(&mut reactor, &i.to_string()))
        .collect();
    let answers = block_on(&mut reactor, gather(calls, true), WAIT).unwrap();
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a, Ok(fib(i as i64).to_string()));
    }
    // Direct reply-to.
    let direct = AmqpRpcClient::connect(
        &mut reactor,
        amqp_config(broker),
        AmqpClientConfig {
            reply: ReplyQueue::DirectReplyTo,
            ..AmqpClientConfig::default()
        },
    )
    .unwrap();
    let d = direct.call_text(&mut reactor, "10");
    assert_eq!(block_on(&mut reactor, d, WAIT), Ok("55".to_string()));
    assert_eq!(client.in_flight(), 0);
    let _ = pika_server.terminate();
    let printed: Vec<String> = lines.try_iter().collect();
    assert!(printed.contains(&" [.] fib(30)".to_string()), "{printed:?}");

    // examples/19_fib_rpc_server and 20_fib_rpc_client, with the tutorial's programs.
    let mut cmd = example("fib_rpc_server");
    cmd.env("AMQP_URI", broker.uri());
    let (mut ex_server, _lines) = start("fib_rpc_server", cmd, " [x] Awaiting RPC requests");
    let done = run_client("rpc_client.py", tutorial(broker, "rpc_client.py"));
    assert_eq!(
        done.lines,
        [" [x] Requesting fib(30)", " [.] Got 832040"],
        "{done:?}"
    );
    let mut cmd = example("fib_rpc_client");
    cmd.args(["10", "--xml"]).env("AMQP_URI", broker.uri());
    let done = run_client("fib_rpc_client", cmd);
    assert_eq!(
        done.lines,
        [
            " [x] Requesting fib(10)",
            " [.] Got 55",
            " [.] Got Int(55) (XML-RPC mode)",
            " [.] fib(0..10) = 0, 1, 1, 2, 3, 5, 8, 13, 21, 34"
        ],
        "{done:?}"
    );
    let _ = ex_server.terminate();
}

both_brokers!(
    tutorial_rpc_both_ways,
    "needs rabbitmq-server and pika: run scripts/test"
);

fn xmlrpc_mode_through_the_broker(broker: &Broker) {
    let queue = common::amqp::queue("rpc-xml");
    let mut reactor = Reactor::new().unwrap();
    let mut service = Registry::new();
    service.register_instance(DemoObject::new());
    service.register("echo", |v: Value| -> Result<Value, Fault> { Ok(v) });
    let ready = Rc::new(Cell::new(false));
    let set = ready.clone();
    AmqpRpcServer::new(
        service,
        AmqpServerConfig {
            queue: queue.clone(),
            ..AmqpServerConfig::default()
        },
    )
    .on_ready(move || set.set(true))
    .connect(&mut reactor, amqp_config(broker))
    .unwrap();
    let deadline = Instant::now() + WAIT;
    while !ready.get() {
        assert!(Instant::now() < deadline, "the server never consumed");
        reactor.run_once(Some(Duration::from_millis(50))).unwrap();
    }

    for reply in [ReplyQueue::Exclusive, ReplyQueue::DirectReplyTo] {
        let client = AmqpRpcClient::connect(
            &mut reactor,
            amqp_config(broker),
            AmqpClientConfig {
                routing_key: queue.clone(),
                reply,
                ..AmqpClientConfig::default()
            },
        )
        .unwrap();
        let d = client.call(&mut reactor, "getObj", vec![]);
        let obj = block_on(&mut reactor, d, WAIT).unwrap();
        assert_eq!(
            obj,
            Value::from_members((0..100).map(|i| (format!("server:{i}"), i)))
        );
        let values = vec![
            Value::Nil,
            Value::Bool(true),
            Value::Int(-(1 << 40)),
            Value::Double(2.5),
            Value::from("ünïcödé <&>"),
            Value::from(vec![0u8, 255]),
            Value::DateTime("20260102T03:04:05".parse().unwrap()),
            Value::Array(vec![Value::Int(1), Value::Nil]),
            Value::from_members([("b", Value::Int(2)), ("a", Value::Struct(vec![].into()))]),
        ];
        for v in values {
            let d = client.call(&mut reactor, "echo", vec![v.clone()]);
            assert_eq!(block_on(&mut reactor, d, WAIT), Ok(v));
        }
        let d = client.call(&mut reactor, "nope", vec![]);
        assert_eq!(
            block_on(&mut reactor, d, WAIT),
            Err(RpcError::Fault(Fault::new(
                1,
                "<class 'Exception'>:method \"nope\" is not supported"
            )))
        );
        let d = client.call(&mut reactor, "system.listMethods", vec![]);
        let methods = block_on(&mut reactor, d, WAIT).unwrap();
        assert!(methods.as_array().unwrap().contains(&Value::from("echo")));

        let calls: Vec<_> = (0..300)
            .map(|i| client.call(&mut reactor, "fib", vec![Value::Int(i % 90)]))
            .collect();
        let answers = block_on(&mut reactor, gather(calls, true), WAIT).unwrap();
        for (i, a) in answers.into_iter().enumerate() {
            assert_eq!(a, Ok(Value::Int(fib(i as i64 % 90))));
        }
        assert_eq!(client.in_flight(), 0);
    }

    // Nobody consumes this queue: the call times out, and nothing is left waiting.
    let lonely = AmqpRpcClient::connect(
        &mut reactor,
        amqp_config(broker),
        AmqpClientConfig {
            routing_key: common::amqp::queue("rpc-nobody"),
            timeout: Some(Duration::from_millis(300)),
            ..AmqpClientConfig::default()
        },
    )
    .unwrap();
    let started = Instant::now();
    let d = lonely.call(&mut reactor, "fib", vec![Value::Int(3)]);
    assert_eq!(block_on(&mut reactor, d, WAIT), Err(RpcError::TimedOut));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(lonely.in_flight(), 0);

    // Closed: a call made meanwhile and every later one fail.
    lonely.close(&mut reactor);
    let d = lonely.call(&mut reactor, "fib", vec![Value::Int(3)]);
    assert!(matches!(
        block_on(&mut reactor, d, WAIT),
        Err(RpcError::Transport(_))
    ));
    let d = lonely.call_text(&mut reactor, "3");
    assert!(matches!(
        block_on(&mut reactor, d, WAIT),
        Err(RpcError::Transport(_))
    ));
}
both_brokers!(
    xmlrpc_mode_through_the_broker,
    "needs rabbitmq-server: run scripts/test"
);

#[test]
fn a_broker_that_is_not_there_fails_the_calls() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut reactor = Reactor::new().unwrap();
    let uri = AmqpUri::parse(&format!("amqp://guest:guest@127.0.0.1:{port}/")).unwrap();
    let client =
        AmqpRpcClient::connect(&mut reactor, Config::new(uri), AmqpClientConfig::default())
            .unwrap();
    let d = client.call(&mut reactor, "fib", vec![Value::Int(3)]);
    match block_on(&mut reactor, d, WAIT) {
        Err(RpcError::Transport(e)) => assert!(e.contains("connect"), "{e}"),
        other => panic!("{other:?}"),
    }
    // Later calls fail at once.
    let d = client.call_text(&mut reactor, "3");
    assert!(matches!(
        block_on(&mut reactor, d, WAIT),
        Err(RpcError::Transport(_))
    ));
}
