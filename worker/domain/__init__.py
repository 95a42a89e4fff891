"""The pure core: planning, recurrence, the action state machine, retry and execution decisions.

Nothing here does I/O or imports sqlalchemy, httpx or celery; every function takes `now` when it needs it.
"""
