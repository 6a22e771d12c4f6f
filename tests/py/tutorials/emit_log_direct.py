#!/usr/bin/env python
# Tutorial 4, "Routing": publishes a log message to the direct exchange "direct_logs" with its
# severity as the routing key (`emit_log_direct.py SEVERITY MESSAGE...`; "info" by default).
import os
import sys

import pika

connection = pika.BlockingConnection(
    pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
)
channel = connection.channel()

channel.exchange_declare(exchange="direct_logs", exchange_type="direct")

severity = sys.argv[1] if len(sys.argv) > 2 else "info"
message = " ".join(sys.argv[2:]) or "Hello World!"
channel.basic_publish(exchange="direct_logs", routing_key=severity, body=message)
print(f" [x] Sent {severity}:{message}", flush=True)
connection.close()
