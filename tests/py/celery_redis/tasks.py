"""The Celery app of tests/kv_celery_redis.rs: Celery's "First steps" app with Redis as both
the broker and the result backend (REDIS_URL from the environment: spindle kv, or a
redis-server to check the test's expectations). CELERY_QUEUE names the task queue.
"""

import os

from celery import Celery
from celery.signals import worker_ready

app = Celery('tasks', broker=os.environ['REDIS_URL'], backend=os.environ['REDIS_URL'])
app.conf.task_default_queue = os.environ.get('CELERY_QUEUE', 'celery')
app.conf.broker_connection_retry_on_startup = False
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


@worker_ready.connect
def announce_ready(**_):
    print('worker ready', flush=True)
