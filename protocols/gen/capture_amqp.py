#!/usr/bin/env python3
"""Capture real AMQP 0-9-1 traffic between pika and RabbitMQ into protocols/tests/fixtures/amqp/.

    scripts/venv                                        # .venv with pika (tests/py/requirements.txt)
    .venv/bin/python protocols/gen/capture_amqp.py      # starts a private broker (scripts/rabbitmq)
    .venv/bin/python protocols/gen/capture_amqp.py --port 5672   # or uses a running one

Run once; the captures are committed and protocols/tests/amqp_captures.rs asserts on them, so
running it again changes the fixtures (the server's stream holds per-run values: its version,
cluster name, consumer tags) and the test's expected values must follow.

Each scenario is one pika BlockingConnection made through a relay in this script, which
forwards the bytes to the broker unchanged and records each direction whole:

    <scenario>.client.bin   pika -> RabbitMQ, from the protocol header "AMQP\\x00\\x00\\x09\\x01"
    <scenario>.server.bin   RabbitMQ -> pika, from connection.start to connection.close-ok

Scenarios:
  publish_get   handshake, channel open, queue.declare with arguments, a publish with every
                basic property and a headers table of every field type pika can send, the same
                message fetched back with basic.get, queue.delete, channel and connection close
  consume       two publishes, basic.get, basic.get-empty, basic.qos, basic.consume, deliver,
                basic.ack, basic.cancel, close
  large_body    frame_max 4096: a 10,000-byte body split into three body frames by pika, then
                fetched back, split by RabbitMQ
  confirms      confirm.select, three publishes each acked, an unroutable mandatory publish
                (basic.return, then its ack), close

What pika 1.3.2 can put in a table (pika/data.py encode_value): str -> S, bytes -> x, bool -> t,
int -> I if it fits 32 bits signed, else l if positive (packed unsigned) and L if negative
(signed; RabbitMQ reads L as a signed 64-bit integer too), decimal.Decimal -> D,
datetime -> T, dict -> F, list -> A, None -> V. It cannot send floats
(UnsupportedAMQPFieldException), nor b B s u i f d.
"""

import argparse
import datetime
import decimal
import os
import socket
import subprocess
import sys
import tempfile
import threading

import pika

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "protocols", "tests", "fixtures", "amqp")


class Relay:
    """Accepts one connection at a time, forwards it to the broker and records both directions."""

    def __init__(self, broker_port):
        self.broker_port = broker_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]

    def record(self, run):
        """Runs `run(port)`, which must make exactly one connection to `port` and close it;
        returns (client bytes, server bytes)."""
        recorded = {}
        accepted = threading.Thread(target=self._serve_one, args=(recorded,))
        accepted.start()
        run(self.port)
        accepted.join(timeout=30)
        if accepted.is_alive():
            raise RuntimeError("the relayed connection did not end")
        return bytes(recorded["client"]), bytes(recorded["server"])

    def _serve_one(self, recorded):
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.broker_port))
        recorded["client"] = bytearray()
        recorded["server"] = bytearray()
        pumps = [
            threading.Thread(target=pump, args=(client, server, recorded["client"])),
            threading.Thread(target=pump, args=(server, client, recorded["server"])),
        ]
        for p in pumps:
            p.start()
        for p in pumps:
            p.join()
        client.close()
        server.close()


def pump(src, dst, log):
    """Copies src to dst until src's end, appending what passes to log."""
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        log.extend(data)
        try:
            dst.sendall(data)
        except OSError:
            break
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def connect(port, **params):
    return pika.BlockingConnection(
        pika.ConnectionParameters(
            host="127.0.0.1",
            port=port,
            credentials=pika.PlainCredentials("guest", "guest"),
            client_properties={"connection_name": "capture_amqp.py"},
            **params,
        )
    )


# The headers table of publish_get: every type pika 1.3.2 can encode, in this wire order.
# protocols/tests/amqp_captures.rs expects exactly these entries.
RICH_HEADERS = {
    "string": "hello, wörld",
    "empty-string": "",
    "bytes": b"\x00\x01\xfe\xff",
    "true": True,
    "false": False,
    "int": 42,
    "negative-int": -7,
    "int32-max": 2**31 - 1,
    "int32-min": -(2**31),
    "long": 2**40,
    "long-max": 2**63 - 1,
    "negative-long": -(2**40),
    "decimal": decimal.Decimal("3.14"),
    "negative-decimal": decimal.Decimal("-0.5"),
    "timestamp": datetime.datetime(2023, 11, 14, 22, 13, 20),
    "void": None,
    "table": {"nested": "yes", "deeper": {"n": 1, "list": [1, 2]}},
    "empty-table": {},
    "array": [1, "two", True, None, b"\xff", [3, "four"], {"k": "v"}, decimal.Decimal("1.5")],
    "empty-array": [],
}

RICH_PROPERTIES = pika.BasicProperties(
    content_type="application/json",
    content_encoding="utf-8",
    headers=RICH_HEADERS,
    delivery_mode=2,
    priority=5,
    correlation_id="corr-42",
    reply_to="replies",
    expiration="60000",
    message_id="msg-0001",
    timestamp=1700000000,
    type="order.created",
    user_id="guest",
    app_id="capture_amqp.py",
    cluster_id="cluster-a",
)

RICH_BODY = '{"order": 42, "item": "pika"}'.encode()


def publish_get(port):
    conn = connect(port)
    ch = conn.channel()
    queue = "capture.publish_get"
    ch.queue_declare(queue, arguments={"x-max-length": 100, "x-queue-mode": "default"})
    ch.basic_publish("", queue, RICH_BODY, RICH_PROPERTIES)
    method, props, body = ch.basic_get(queue, auto_ack=True)
    assert body == RICH_BODY and method.message_count == 0, (method, body)
    ch.queue_delete(queue)
    conn.close()


def consume(port):
    conn = connect(port)
    ch = conn.channel()
    queue = "capture.consume"
    ch.queue_declare(queue)
    for body in (b"first", b"second"):
        ch.basic_publish("", queue, body, pika.BasicProperties(content_type="text/plain"))
    method, _, body = ch.basic_get(queue)
    assert body == b"first", body
    ch.basic_ack(method.delivery_tag)
    ch.basic_qos(prefetch_count=10)
    got = []

    def on_message(ch, method, props, body):
        got.append(body)
        ch.basic_ack(method.delivery_tag)
        ch.stop_consuming()

    ch.basic_consume(queue, on_message, consumer_tag="capture-consumer")
    ch.start_consuming()
    assert got == [b"second"], got
    method, _, _ = ch.basic_get(queue)
    assert method is None
    ch.queue_delete(queue)
    conn.close()


LARGE_BODY = bytes(i % 251 for i in range(10_000))


def large_body(port):
    conn = connect(port, frame_max=4096)
    ch = conn.channel()
    queue = "capture.large_body"
    ch.queue_declare(queue)
    ch.basic_publish("", queue, LARGE_BODY, pika.BasicProperties(message_id="large"))
    method, _, body = ch.basic_get(queue, auto_ack=True)
    assert body == LARGE_BODY
    ch.queue_delete(queue)
    conn.close()


def confirms(port):
    conn = connect(port)
    ch = conn.channel()
    queue = "capture.confirms"
    ch.queue_declare(queue)
    ch.confirm_delivery()
    for i in range(3):
        ch.basic_publish("", queue, b"confirmed %d" % i)
    try:
        ch.basic_publish("", "capture.nowhere", b"unroutable", mandatory=True)
        raise AssertionError("the mandatory publish was not returned")
    except pika.exceptions.UnroutableError:
        pass
    ch.queue_delete(queue)
    conn.close()


SCENARIOS = {
    "publish_get": publish_get,
    "consume": consume,
    "large_body": large_body,
    "confirms": confirms,
}


def start_broker():
    """Starts a private broker with scripts/rabbitmq; returns (port, its directory)."""
    state = tempfile.mkdtemp(prefix="spindle-capture-rabbitmq-")
    out = subprocess.run(
        [os.path.join(ROOT, "scripts", "rabbitmq"), "start", state, "--watch", str(os.getpid())],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return int(out.stdout.strip()), state


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="use the broker on 127.0.0.1:PORT")
    parser.add_argument("scenario", nargs="*", help=f"some of {', '.join(SCENARIOS)} (default: all)")
    args = parser.parse_args()
    for name in args.scenario:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
    state = None
    port = args.port
    if port is None:
        port, state = start_broker()
        print(f"started RabbitMQ on port {port}", file=sys.stderr)
    try:
        relay = Relay(port)
        os.makedirs(OUT, exist_ok=True)
        for name in args.scenario or SCENARIOS:
            client, server = relay.record(SCENARIOS[name])
            for side, data in (("client", client), ("server", server)):
                path = os.path.join(OUT, f"{name}.{side}.bin")
                with open(path, "wb") as f:
                    f.write(data)
                print(f"{os.path.relpath(path, ROOT)}: {len(data)} bytes", file=sys.stderr)
    finally:
        if state is not None:
            subprocess.run([os.path.join(ROOT, "scripts", "rabbitmq"), "stop", state], check=False)


if __name__ == "__main__":
    main()
