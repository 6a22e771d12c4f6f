#!/usr/bin/env python
# Tutorial 1, "Hello World!": the producer. Publishes one message to the queue "hello" through
# the default exchange.
import os

import pika

connection = pika.BlockingConnection(
    pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
)
channel = connection.channel()

channel.queue_declare(queue="hello")

channel.basic_publish(exchange="", routing_key="hello", body="Hello World!")
print(" [x] Sent 'Hello World!'", flush=True)
connection.close()
