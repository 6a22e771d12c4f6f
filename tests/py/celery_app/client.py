"""Calls the tasks in tasks.py through the broker and prints what comes back."""

from tasks import add, fails, flaky

print('add(2, 3) =', add.delay(2, 3).get(timeout=30), flush=True)
try:
    fails.delay().get(timeout=30)
    print('fails() returned', flush=True)
except ValueError as error:
    print('fails() raised ValueError:', error, flush=True)
print('flaky(2) =', flaky.delay(2).get(timeout=30), flush=True)
