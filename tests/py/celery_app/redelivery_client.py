"""Calls tasks.slow and prints its result, however many workers it takes."""

from tasks import slow

print('slow() sent', flush=True)
print(slow.delay().get(timeout=30), flush=True)
