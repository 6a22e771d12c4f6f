#!/usr/bin/env python
# Connecting as a named user, as the pika guides show it: pika.PlainCredentials(user, password)
# in ConnectionParameters(host, port, virtual_host, credentials). The host, port and virtual
# host come from AMQP_URL; the user and password from the command line:
#
#   plain_credentials.py USER PASSWORD [QUEUE]
#
# Declares QUEUE (default "credentials_check"), publishes a message to it, gets it back with
# basic_get and prints each step. When the broker refuses the login it prints the name of the
# exception pika raised (ProbableAuthenticationError, AuthenticationError, ...) and exits 1.
import os
import sys

import pika

url = pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"))
user, password = sys.argv[1], sys.argv[2]
queue = sys.argv[3] if len(sys.argv) > 3 else "credentials_check"

credentials = pika.PlainCredentials(user, password)
parameters = pika.ConnectionParameters(url.host, url.port, url.virtual_host, credentials)

try:
    connection = pika.BlockingConnection(parameters)
except pika.exceptions.AMQPConnectionError as error:
    # A refused login surfaces as ProbableAuthenticationError or AuthenticationError, possibly
    # wrapped in the connection workflow's failure: name the innermost cause.
    cause = error
    while True:
        inner = getattr(cause, "exceptions", None) or [
            arg for arg in cause.args if isinstance(arg, BaseException)
        ]
        if not inner:
            break
        cause = inner[-1]
    print(f"refused: {type(cause).__name__}", flush=True)
    sys.exit(1)

print(f"connected as {user}", flush=True)
channel = connection.channel()
channel.queue_declare(queue=queue)
channel.basic_publish(exchange="", routing_key=queue, body=f"Hello from {user}!")
print(f"published to {queue}", flush=True)

body = None
while body is None:
    method, properties, body = channel.basic_get(queue=queue, auto_ack=True)
print(f"got {body.decode()}", flush=True)
connection.close()
