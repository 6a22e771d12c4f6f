"""Sends tasks to the worker of tests/kv_celery_redis.rs and prints what comes back."""

from tasks import add, fails, flaky

print(f'add(2, 3) = {add.delay(2, 3).get(timeout=30)}')
try:
    fails.delay().get(timeout=30)
except ValueError as e:
    print(f'fails() raised ValueError: {e}')
print(f'flaky(2) = {flaky.delay(2).get(timeout=30)}')
group = [add.delay(i, i) for i in range(10)]
print(f'sum of 10 adds = {sum(r.get(timeout=30) for r in group)}')
