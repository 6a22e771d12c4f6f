#!/usr/bin/env python3
"""Write the AMQP seed corpus, protocols/fuzz/corpus/amqp/, with an encoder of its own.

    python3 protocols/gen/amqp_corpus.py

The frames are built here from the spec JSON and the 0-9-1 wire rules, without the Rust codec,
so the corpus doubles as a cross-check: tests/amqp_frames.rs decodes every file and re-encodes it
byte for byte. Python 3 standard library only; the output is deterministic.

Files:
  handshake      the protocol header and a whole RabbitMQ-style connection and channel lifecycle
  publish        publishes with every property, bodies over several frames, deliveries, acks
  tables         declares and binds whose arguments hold every field type, nested
  every_method   each of the spec's methods once, every field set, on channels 1..66
"""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "amqp-rabbitmq-0.9.1.json")
OUT = os.path.join(HERE, "..", "fuzz", "corpus", "amqp")
FRAME_MAX = 4096


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def short(s):
    b = s.encode() if isinstance(s, str) else s
    assert len(b) <= 255
    return u8(len(b)) + b


def long(s):
    b = s.encode() if isinstance(s, str) else s
    return u32(len(b)) + b


def value(v):
    """A tagged field value: (tag, payload)."""
    tag, x = v
    body = {
        "t": lambda: u8(1 if x else 0),
        "b": lambda: struct.pack(">b", x),
        "B": lambda: u8(x),
        "s": lambda: struct.pack(">h", x),
        "u": lambda: u16(x),
        "I": lambda: struct.pack(">i", x),
        "i": lambda: u32(x),
        "l": lambda: struct.pack(">q", x),
        "f": lambda: struct.pack(">f", x),
        "d": lambda: struct.pack(">d", x),
        "D": lambda: u8(x[0]) + u32(x[1]),
        "S": lambda: long(x),
        "x": lambda: long(x),
        "T": lambda: u64(x),
        "V": lambda: b"",
        "A": lambda: long(b"".join(value(e) for e in x)),
        "F": lambda: table(x),
    }[tag]()
    return tag.encode() + body


def table(entries):
    return long(b"".join(short(k) + value(v) for k, v in entries))


def frame(ftype, channel, payload):
    assert len(payload) + 8 <= FRAME_MAX
    return u8(ftype) + u16(channel) + u32(len(payload)) + payload + b"\xce"


def method(channel, class_id, method_id, *fields):
    return frame(1, channel, u16(class_id) + u16(method_id) + b"".join(fields))


def bits(*flags):
    v = 0
    for i, f in enumerate(flags):
        v |= (1 if f else 0) << i
    return u8(v)


PROPS = ["content-type", "content-encoding", "headers", "delivery-mode", "priority",
         "correlation-id", "reply-to", "expiration", "message-id", "timestamp", "type", "user-id",
         "app-id", "cluster-id"]


def header(channel, body_size, **props):
    flags = 0
    out = b""
    for i, name in enumerate(PROPS):
        key = name.replace("-", "_")
        if key not in props:
            continue
        flags |= 1 << (15 - i)
        v = props[key]
        if name == "headers":
            out += table(v)
        elif name in ("delivery-mode", "priority"):
            out += u8(v)
        elif name == "timestamp":
            out += u64(v)
        else:
            out += short(v)
    return frame(2, channel, u16(60) + u16(0) + u64(body_size) + u16(flags) + out)


def content(channel, body):
    out = b""
    for i in range(0, len(body), FRAME_MAX - 8):
        out += frame(3, channel, body[i:i + FRAME_MAX - 8])
    return out


HEARTBEAT = frame(8, 0, b"")

EVERY_TYPE = [
    ("bool", ("t", True)), ("i8", ("b", -3)), ("u8", ("B", 200)), ("i16", ("s", -1000)),
    ("u16", ("u", 60000)), ("i32", ("I", -100000)), ("u32", ("i", 3000000000)),
    ("i64", ("l", -(1 << 40))), ("f32", ("f", 0.5)), ("f64", ("d", 1e100)),
    ("decimal", ("D", (2, 314))), ("longstr", ("S", "text")), ("bytes", ("x", b"\x00\x01\xfe")),
    ("timestamp", ("T", 1700000000)), ("void", ("V", None)),
]


def handshake():
    capabilities = [(k, ("t", True)) for k in (
        "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
        "connection.blocked", "consumer_priorities", "authentication_failure_close",
        "per_consumer_qos", "direct_reply_to")]
    server = [
        ("capabilities", ("F", capabilities)),
        ("cluster_name", ("S", "rabbit@my-rabbit")),
        ("copyright", ("S", "Copyright (c) 2007-2024 Broadcom Inc and/or its subsidiaries")),
        ("information", ("S", "Licensed under the MPL 2.0. Website: https://rabbitmq.com")),
        ("platform", ("S", "Erlang/OTP 26.2.5")),
        ("product", ("S", "RabbitMQ")),
        ("version", ("S", "3.13.7")),
    ]
    client = [
        ("product", ("S", "spindle")),
        ("platform", ("S", "Rust")),
        ("capabilities", ("F", [("authentication_failure_close", ("t", True)),
                                ("basic.nack", ("t", True)),
                                ("connection.blocked", ("t", True)),
                                ("consumer_cancel_notify", ("t", True)),
                                ("publisher_confirms", ("t", True))])),
        ("connection_name", ("S", "fuzz seed")),
    ]
    return b"".join([
        b"AMQP\x00\x00\x09\x01",
        method(0, 10, 10, u8(0), u8(9), table(server), long("AMQPLAIN PLAIN"), long("en_US")),
        method(0, 10, 11, table(client), short("PLAIN"), long(b"\x00guest\x00guest"),
               short("en_US")),
        method(0, 10, 30, u16(2047), u32(131072), u16(60)),
        method(0, 10, 31, u16(2047), u32(131072), u16(60)),
        method(0, 10, 40, short("/"), short(""), bits(False)),
        method(0, 10, 41, short("")),
        method(1, 20, 10, short("")),
        method(1, 20, 11, long("")),
        HEARTBEAT,
        method(1, 20, 20, bits(False)),
        method(1, 20, 21, bits(False)),
        method(0, 10, 60, short("low on memory")),
        method(0, 10, 61),
        method(1, 20, 40, u16(200), short("Goodbye"), u16(0), u16(0)),
        method(1, 20, 41),
        method(0, 10, 50, u16(320), short("CONNECTION_FORCED - broker forced connection closure "
                                          "with reason 'shutdown'"), u16(0), u16(0)),
        method(0, 10, 51),
    ])


def publish():
    every_prop = dict(
        content_type="application/json", content_encoding="gzip",
        headers=[("x-trace", ("S", "abc")), ("x-retries", ("I", 3)),
                 ("x-death", ("A", [("F", [("count", ("l", 1)), ("reason", ("S", "expired")),
                                           ("queue", ("S", "q")),
                                           ("time", ("T", 1700000000)),
                                           ("routing-keys", ("A", [("S", "rk")]))])]))],
        delivery_mode=2, priority=9, correlation_id="c-1", reply_to="amq.rabbitmq.reply-to",
        expiration="60000", message_id="m-1", timestamp=1700000000, type="order.created",
        user_id="guest", app_id="seed", cluster_id="")
    big = bytes(i % 251 for i in range(10000))
    return b"".join([
        method(1, 85, 10, bits(False)),
        method(1, 85, 11),
        method(1, 60, 40, u16(0), short("amq.direct"), short("hello"), bits(True, False)),
        header(1, 11, content_type="text/plain", delivery_mode=2),
        content(1, b"Hello World"),
        method(1, 60, 40, u16(0), short(""), short("jobs"), bits(False, False)),
        header(1, len(big), **every_prop),
        content(1, big),
        method(2, 60, 40, u16(0), short("x"), short(""), bits(False, True)),
        header(2, 0),
        method(1, 60, 80, u64(2), bits(True)),
        method(1, 60, 120, u64(3), bits(False, True)),
        method(3, 60, 60, short("ctag-1"), u64(1), bits(True), short("amq.direct"),
               short("hello")),
        header(3, 5, message_id="m-2"),
        content(3, b"world"),
        method(3, 60, 71, u64(9), bits(False), short(""), short("q"), u32(7)),
        header(3, 3),
        content(3, b"abc"),
        method(3, 60, 72, short("")),
        method(2, 60, 50, u16(312), short("NO_ROUTE"), short("x"), short("")),
        header(2, 2, content_type="text/plain"),
        content(2, b"no"),
        method(3, 60, 90, u64(4), bits(True)),
        HEARTBEAT,
    ])


def tables():
    nested = [("level1", ("F", [("level2", ("A", [("F", [("level4", ("A", [
        ("S", "deep")]))])]))]))]
    args = EVERY_TYPE + [
        ("array", ("A", [v for _, v in EVERY_TYPE])),
        ("table", ("F", EVERY_TYPE)),
        ("empty table", ("F", [])),
        ("empty array", ("A", [])),
    ] + nested
    queue_args = [("x-queue-type", ("S", "quorum")), ("x-max-length", ("l", 1000)),
                  ("x-message-ttl", ("I", 60000)), ("x-dead-letter-exchange", ("S", "dlx"))]
    return b"".join([
        method(1, 50, 10, u16(0), short("orders"), bits(False, True, False, False, False),
               table(queue_args)),
        method(1, 50, 11, short("orders"), u32(12), u32(1)),
        method(1, 50, 10, u16(0), short(""), bits(True, True, True, True, True), table(args)),
        method(1, 40, 10, u16(0), short("hdrs"), short("headers"),
               bits(False, True, False, False, False), table(args)),
        method(1, 50, 20, u16(0), short("orders"), short("hdrs"), short(""), bits(False),
               table([("x-match", ("S", "all")), ("format", ("S", "pdf"))])),
        method(1, 60, 20, u16(0), short("orders"), short(""), bits(False, False, True, False),
               table([("x-priority", ("I", 10)), ("x-stream-offset", ("S", "first"))])),
        method(1, 60, 21, short("amq.ctag-1")),
        method(1, 40, 30, u16(0), short("dst"), short("src"), short("rk"), bits(False),
               table(nested)),
    ])


def every_method(spec):
    domains = dict(spec["domains"])

    def resolve(d):
        while d in domains and domains[d] != d:
            d = domains[d]
        return d

    out = b""
    channel = 0
    for c in spec["classes"]:
        for m in c["methods"]:
            channel += 1
            fields = b""
            run = []
            for i, a in enumerate(m["arguments"]):
                t = resolve(a.get("domain", a.get("type")))
                if t == "bit":
                    run.append(i % 2 == 0)
                    if len(run) == 8:
                        fields += bits(*run)
                        run = []
                    continue
                if run:
                    fields += bits(*run)
                    run = []
                fields += {
                    "octet": lambda: u8(i + 1),
                    "short": lambda: u16(0x100 + i),
                    "long": lambda: u32(0x10000 + i),
                    "longlong": lambda: u64(0x100000000 + i),
                    "timestamp": lambda: u64(1700000000 + i),
                    "shortstr": lambda: short(a["name"]),
                    "longstr": lambda: long(a["name"] + "\x00"),
                    "table": lambda: table([(a["name"], ("I", i))]),
                }[t]()
            if run:
                fields += bits(*run)
            out += method(channel, c["id"], m["id"], fields)
    return out


def main():
    with open(SPEC, encoding="utf-8") as f:
        spec = json.load(f)
    os.makedirs(OUT, exist_ok=True)
    for name, data in [("handshake", handshake()), ("publish", publish()), ("tables", tables()),
                       ("every_method", every_method(spec))]:
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
