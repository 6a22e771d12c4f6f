#!/usr/bin/env python
# Tutorial 2, "Work queues": publishes a task (its arguments, or "Hello World!") as a persistent
# message to the durable queue "task_queue". Each dot in the task is a second of work.
import os
import sys

import pika

connection = pika.BlockingConnection(
    pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
)
channel = connection.channel()

channel.queue_declare(queue="task_queue", durable=True)

message = " ".join(sys.argv[1:]) or "Hello World!"
channel.basic_publish(
    exchange="",
    routing_key="task_queue",
    body=message,
    properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
)
print(f" [x] Sent {message}", flush=True)
connection.close()
