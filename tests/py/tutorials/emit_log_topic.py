#!/usr/bin/env python
# Tutorial 5, "Topics": publishes a log message to the topic exchange "topic_logs"
# (`emit_log_topic.py ROUTING_KEY MESSAGE...`; "anonymous.info" by default).
import os
import sys

import pika

connection = pika.BlockingConnection(
    pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
)
channel = connection.channel()

channel.exchange_declare(exchange="topic_logs", exchange_type="topic")

routing_key = sys.argv[1] if len(sys.argv) > 2 else "anonymous.info"
message = " ".join(sys.argv[2:]) or "Hello World!"
channel.basic_publish(exchange="topic_logs", routing_key=routing_key, body=message)
print(f" [x] Sent {routing_key}:{message}", flush=True)
connection.close()
