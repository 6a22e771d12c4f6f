"""The Celery app of tests/broker_celery.rs, as Celery's "First steps" writes one.

The broker is AMQP_URL from the environment (spindle broker, or RabbitMQ to check the test's
expectations); results come back through the rpc:// backend, one reply queue per client.
CELERY_QUEUE names the task queue so tests sharing a broker do not take each other's tasks.
"""

import os
import time

from celery import Celery
from celery.signals import worker_ready

app = Celery('tasks', broker=os.environ['AMQP_URL'], backend='rpc://')
app.conf.task_default_queue = os.environ.get('CELERY_QUEUE', 'celery')
# A connection refused at start is an error to report, not something to wait out.
app.conf.broker_connection_retry_on_startup = False
# print() goes to stdout (where the test reads the ready line), not into the worker's log.
app.conf.worker_redirect_stdouts = False


@app.task
def add(x, y):
    return x + y


@app.task
def fails():
    raise ValueError('fails always fails')


@app.task(bind=True)
def flaky(self, n):
    """Fails (and is retried) until its attempt count reaches n."""
    attempt = self.request.retries + 1
    if attempt < n:
        raise self.retry(countdown=0.1, max_retries=3)
    return f'flaky({n}) succeeded on attempt {attempt}'


@app.task(bind=True, acks_late=True)
def slow(self):
    """Acknowledged only when done: it outlasts a worker killed while running it, and the
    broker hands it to the next worker (redelivered), which finishes it at once."""
    if self.request.delivery_info.get('redelivered'):
        return 'slow() finished after a redelivery'
    time.sleep(60)
    return 'slow() finished without a redelivery'


@worker_ready.connect
def announce_ready(**_):
    # The worker logs to stderr; this line on stdout is what the test waits for.
    print('worker ready', flush=True)
