"""pika's side of tests/amqp_pika.rs: publishes messages for our client to consume, or consumes
what our client published and prints it for the Rust test to compare.

    python amqp_pika.py publish URI QUEUE          # declares QUEUE, publishes MESSAGES, confirmed
    python amqp_pika.py consume URI QUEUE COUNT    # consumes COUNT messages, prints each

`consume` prints, per message, its routing, its properties and its body in a canonical text form
that tests/amqp_pika.rs renders the same way from what it sent:

    message exchange="" routing_key="q" redelivered=false
    properties content_type="text/plain" headers=F{"k"=S:"v",...} delivery_mode=2 ...
    body "escaped bytes"                (bodies of at most 256 bytes)
    body len=1048576 fnv1a=0123abcd...  (larger ones: length and 64-bit FNV-1a)

Byte strings are quoted, printable ASCII as is and every other byte as \\xHH. Field values
carry their type octet: t:true b:-5 B:250 s:-300 u:65000 I:-70000 i:4000000000 l:-5000000000
L:-5000000000 f:0x3fc00000 d:0xc002000000000000 (the bits, so floats compare exactly)
D:2,12345 (scale, value) S:"..." x:"..." T:1700000000 V A[v,...] F{"name"=v,...}.

The types come from the wire, not from pika's Python values: pika's decoder loses them (every
integer type becomes an int) and gets some wrong, so `consume` wraps pika.data.decode_value to
keep each value's type octet and bytes, renders from those, and checks that pika's own value
agrees, allowing for pika 1.3.2's known quirks (see `check_pika_value`). A disagreement exits
non-zero with a message.
"""

import calendar
import datetime
import decimal
import struct
import sys

import pika
import pika.data

# What `publish` sends; tests/amqp_pika.rs expects exactly these values.
#
# Every type pika 1.3.2 can put in a table (pika/data.py encode_value): str -> S, bytes -> x,
# bool -> t, int -> I if it fits 32 bits signed, else l if positive and L if negative,
# Decimal -> D, datetime -> T, dict -> F, list -> A, None -> V. pika cannot encode floats
# (UnsupportedAMQPFieldException), nor the types b B s u i f d. 'L' is not in RabbitMQ's
# errata table, but RabbitMQ reads it as a signed 64-bit integer, like 'l', and relays it.
HEADERS = {
    "string": "hello, wörld",
    "empty-string": "",
    "bytes": b"\x00\x01\xfe\xff",
    "true": True,
    "false": False,
    "int": 42,
    "negative-int": -7,
    "int32-min": -(2**31),
    "long": 2**40,
    "long-max": 2**63 - 1,
    "negative-long": -(2**40),
    "decimal": decimal.Decimal("3.14"),
    "timestamp": datetime.datetime(2023, 11, 14, 22, 13, 20),
    "void": None,
    "table": {"nested": "yes", "deeper": {"n": 1, "list": [1, 2]}},
    "empty-table": {},
    "array": [1, "two", True, None, b"\xff", [3, "four"], {"k": "v"}, decimal.Decimal("1.5")],
    "empty-array": [],
}

SMALL_BODY = '{"from": "pika"}'.encode()

SMALL_PROPERTIES = pika.BasicProperties(
    content_type="application/json",
    content_encoding="utf-8",
    headers=HEADERS,
    delivery_mode=2,
    priority=7,
    correlation_id="corr-pika",
    reply_to="replies",
    expiration="600000",
    message_id="pika-0001",
    timestamp=1700000000,
    type="pika.small",
    user_id="guest",
    app_id="amqp_pika.py",
    cluster_id="cluster-p",
)

# 1 MiB, more than RabbitMQ's frame_max (128 KiB): pika sends it in several body frames.
LARGE_BODY = bytes(i % 251 for i in range(1 << 20))

LARGE_PROPERTIES = pika.BasicProperties(
    content_type="application/octet-stream",
    message_id="pika-large",
    headers={"size": 1 << 20},
)


def connect(uri):
    return pika.BlockingConnection(pika.URLParameters(uri))


def publish(uri, queue):
    conn = connect(uri)
    ch = conn.channel()
    ch.queue_declare(queue)
    ch.confirm_delivery()  # each publish returns once RabbitMQ has the message
    ch.basic_publish("", queue, SMALL_BODY, SMALL_PROPERTIES)
    ch.basic_publish("", queue, LARGE_BODY, LARGE_PROPERTIES)
    conn.close()
    print("published 2")


class Tagged:
    """A table or array value as it was on the wire: its type octet, its bytes after it, and
    pika's own decoding of it (for an array or table, of Tagged values)."""

    def __init__(self, tag, raw, value):
        self.tag, self.raw, self.value = tag, raw, value


def tagging(decode_value):
    def decode_tagged(encoded, offset):
        tag = encoded[offset : offset + 1].decode("latin-1")
        value, end = decode_value(encoded, offset)
        return Tagged(tag, bytes(encoded[offset + 1 : end]), value), end

    return decode_tagged


def quote(data):
    if isinstance(data, str):
        data = data.encode()
    return '"' + "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else "\\x%02x" % b for b in data
    ) + '"'


def render(v):
    """The canonical text of a Tagged value, from its type octet and bytes."""
    t, raw = v.tag, v.raw
    ints = {
        "b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I", "l": ">q", "L": ">q",
        "T": ">Q",
    }
    if t in ints:
        return f"{t}:{struct.unpack(ints[t], raw)[0]}"
    if t == "t":
        return "t:" + ("true" if raw[0] else "false")
    if t in "fd":
        return f"{t}:0x{raw.hex()}"
    if t == "D":
        return f"D:{raw[0]},{struct.unpack('>I', raw[1:])[0]}"
    if t in "Sx":
        return f"{t}:{quote(raw[4:])}"
    if t == "V":
        return "V"
    if t == "A":
        return "A[" + ",".join(render(e) for e in v.value) + "]"
    if t == "F":
        return render_table(v.value)
    raise SystemExit(f"unexpected field type {t!r}")


def render_table(table):
    return "F{" + ",".join(f"{quote(k)}={render(v)}" for k, v in table.items()) + "}"


def check_pika_value(v, where):
    """pika's value of v must be what its decoder makes of the bytes, quirks included:
    it reads b unsigned and B signed (swapped), l unsigned, D's value signed, truncates f and
    d to int, and gives T as a naive UTC datetime."""
    t, raw, got = v.tag, v.raw, v.value
    if t == "t":
        want = raw[0] != 0
    elif t == "b":
        want = struct.unpack(">B", raw)[0]  # quirk: signed on the wire, unsigned in pika
    elif t == "B":
        want = struct.unpack(">b", raw)[0]  # quirk: the other way round
    elif t == "l":
        want = struct.unpack(">Q", raw)[0]  # quirk: unsigned ('L' is its signed 64-bit type)
    elif t in "suIiL":
        want = struct.unpack({"s": ">h", "u": ">H", "I": ">i", "i": ">I", "L": ">q"}[t], raw)[0]
    elif t in "fd":
        want = int(struct.unpack(">f" if t == "f" else ">d", raw)[0])  # quirk: truncated
    elif t == "D":
        scale, value = struct.unpack(">Bi", raw)
        want = decimal.Decimal(value) * (decimal.Decimal(10) ** -scale)
    elif t == "T":
        got = calendar.timegm(got.utctimetuple())
        want = struct.unpack(">Q", raw)[0]
    elif t == "S":
        want = raw[4:]
        if isinstance(got, str):
            got = got.encode()
    elif t == "x":
        want = raw[4:]
    elif t == "V":
        want = None
    elif t == "A":
        for i, e in enumerate(got):
            check_pika_value(e, f"{where}[{i}]")
        return
    elif t == "F":
        for k, e in got.items():
            check_pika_value(e, f"{where}.{k}")
        return
    else:
        raise SystemExit(f"{where}: unexpected field type {t!r}")
    if got != want or not isinstance(got, type(want)):
        raise SystemExit(f"{where}: pika decoded {t}:{raw.hex()} as {got!r}, expected {want!r}")


def render_properties(p):
    out = []
    for name in ("content_type", "content_encoding"):
        if getattr(p, name) is not None:
            out.append(f"{name}={quote(getattr(p, name))}")
    if p.headers is not None:
        for k, v in p.headers.items():
            check_pika_value(v, f"headers.{k}")
        out.append("headers=" + render_table(p.headers))
    for name in ("delivery_mode", "priority"):
        if getattr(p, name) is not None:
            out.append(f"{name}={getattr(p, name)}")
    for name in ("correlation_id", "reply_to", "expiration", "message_id"):
        if getattr(p, name) is not None:
            out.append(f"{name}={quote(getattr(p, name))}")
    if p.timestamp is not None:
        out.append(f"timestamp={p.timestamp}")
    for name in ("type", "user_id", "app_id", "cluster_id"):
        if getattr(p, name) is not None:
            out.append(f"{name}={quote(getattr(p, name))}")
    return " ".join(out)


def render_body(body):
    if len(body) <= 256:
        return quote(body)
    h = 0xCBF29CE484222325
    for b in body:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"len={len(body)} fnv1a={h:016x}"


def consume(uri, queue, count):
    conn = connect(uri)
    ch = conn.channel()
    # From here on, tables decode to Tagged values: the handshake's tables (which pika itself
    # reads) are behind us, and only message headers are left.
    pika.data.decode_value = tagging(pika.data.decode_value)
    got = []

    def on_message(ch, method, props, body):
        print(
            f"message exchange={quote(method.exchange)} routing_key={quote(method.routing_key)}"
            f" redelivered={'true' if method.redelivered else 'false'}"
        )
        print("properties " + render_properties(props))
        print("body " + render_body(body))
        ch.basic_ack(method.delivery_tag)
        got.append(method.delivery_tag)
        if len(got) == count:
            ch.stop_consuming()

    ch.basic_consume(queue, on_message)
    ch.start_consuming()
    conn.close()


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "publish":
        publish(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
