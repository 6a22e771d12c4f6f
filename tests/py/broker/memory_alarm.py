#!/usr/bin/env python
# A publisher meets the broker's memory alarm, as pika users see it: callbacks registered with
# add_on_connection_blocked_callback / add_on_connection_unblocked_callback.
#
#   memory_alarm.py QUEUE
#
# Publishes 1.25 MiB to QUEUE (nobody consumes it), waits for connection.blocked and prints
# its reason; then a second connection purges QUEUE, and the first
# waits for connection.unblocked, publishes once more and gets that message back. The broker
# must have a small high-water mark (spindle broker --memory-high-watermark 1MiB).
import os
import sys
import time

import pika

url = pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
queue = sys.argv[1]
events = []

publisher = pika.BlockingConnection(url)
publisher.add_on_connection_blocked_callback(
    lambda _conn, frame: events.append(("blocked", frame.method.reason)))
publisher.add_on_connection_unblocked_callback(lambda _conn, _frame: events.append(("unblocked",)))
channel = publisher.channel()
channel.queue_declare(queue=queue)

# 20 messages of 64 KiB: the 17th takes the queue over a 1 MiB mark, and the broker reads no
# more after it; the rest wait in the socket and are read once it is unblocked (staying under
# the mark, so it is not blocked again).
body = b"x" * 65536
deadline = time.monotonic() + 25
for _ in range(20):
    channel.basic_publish(exchange="", routing_key=queue, body=body)
while not events:
    if time.monotonic() > deadline:
        sys.exit("no connection.blocked")
    publisher.process_data_events(time_limit=0.1)
print(f"blocked: {events[0][1]}", flush=True)

helper = pika.BlockingConnection(url)
purged = helper.channel().queue_purge(queue=queue).method.message_count
print(f"purged: {'some' if purged > 0 else 'none'}", flush=True)

while len(events) < 2:
    if time.monotonic() > deadline:
        sys.exit("no connection.unblocked")
    publisher.process_data_events(time_limit=0.1)
print(f"then: {events[1][0]}", flush=True)

channel.basic_publish(exchange="", routing_key=queue, body=b"after")
got = None
while got != b"after":
    if time.monotonic() > deadline:
        sys.exit("the message published after unblocking did not arrive")
    _method, _properties, got = channel.basic_get(queue=queue, auto_ack=True)
print("got: after", flush=True)
channel.queue_delete(queue=queue)
publisher.close()
helper.close()
