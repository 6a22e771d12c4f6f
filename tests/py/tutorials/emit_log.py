#!/usr/bin/env python
# Tutorial 3, "Publish/Subscribe": publishes a log message (its arguments, or
# "info: Hello World!") to the fanout exchange "logs".
import os
import sys

import pika

connection = pika.BlockingConnection(
    pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
)
channel = connection.channel()

channel.exchange_declare(exchange="logs", exchange_type="fanout")

message = " ".join(sys.argv[1:]) or "info: Hello World!"
channel.basic_publish(exchange="logs", routing_key="", body=message)
print(f" [x] Sent {message}", flush=True)
connection.close()
