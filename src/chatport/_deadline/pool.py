"""Blocking SDK calls held to a deadline: a bounded daemon pool and :func:`call_with_deadline`.

For SDKs whose own waits cannot be bounded (a ``Retry-After`` sleep inside a retry
loop, a host probe retried for minutes), the call runs on a worker thread and the
caller stops waiting when the time is up.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from .._errors import APITimeoutError
from .budget import timeout_phrase
from .cancel import Cancellation, cancellation_scope, current_cancellation

__all__ = ["MAX_DEADLINE_WORKERS", "DaemonPool", "call_with_deadline"]

_T = TypeVar("_T")

#: The most worker threads one backend's deadline guard runs; more calls wait in line.
MAX_DEADLINE_WORKERS = 32


class DaemonPool:
    """Bounded, reusable daemon worker threads that never block process exit.

    At most ``max_workers`` threads; tasks beyond wait in a queue. :meth:`shutdown`
    lets every thread end once its current task is done. ``pid`` is the process that
    built it: a forked child has none of its threads.
    """

    def __init__(self, max_workers: int = MAX_DEADLINE_WORKERS) -> None:
        import queue

        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._max = max_workers
        self._workers = 0
        self._idle = 0
        self._pending = 0
        self._closed = False
        self._lock = threading.Lock()
        self.pid = os.getpid()

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` on a worker thread (starting one if none is free and allowed)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the deadline pool is shut down")
            self._pending += 1
            if self._pending > self._idle and self._workers < self._max:
                self._workers += 1
                threading.Thread(target=self._work, name="chatport-deadline", daemon=True).start()
        self._tasks.put(task)

    def shutdown(self) -> None:
        """Stop taking tasks; each thread ends after the task it runs (if any)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = self._workers
        for _ in range(workers):
            self._tasks.put(None)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            task = self._tasks.get()
            with self._lock:
                self._idle -= 1
                if task is None:
                    self._workers -= 1
                    return
                self._pending -= 1
            task()


_shared_pool = DaemonPool()


def _default_pool() -> DaemonPool:
    """The process's shared pool (a forked child builds its own)."""
    global _shared_pool
    if _shared_pool.pid != os.getpid():
        _shared_pool = DaemonPool()
    return _shared_pool


def call_with_deadline(
    func: Callable[[], _T],
    timeout: float,
    backend: str,
    *,
    pool: DaemonPool | None = None,
    discard: Callable[[_T], object] | None = None,
) -> _T:
    """Run a blocking SDK call, giving up after ``timeout`` seconds.

    The call runs on a daemon worker thread of ``pool`` (a backend's own, see
    :meth:`chatport.Backend.deadline_pool`) and :class:`APITimeoutError` is raised when
    the time is up. The call then runs under a cancelled
    :class:`~chatport._deadline.cancel.Cancellation`: reads registered with it have
    their socket shut down, so the worker thread ends at once. A result that arrives
    after the caller gave up is handed to ``discard`` (to close it).
    """
    import concurrent.futures

    future: concurrent.futures.Future[_T] = concurrent.futures.Future()
    context = contextvars.copy_context()
    cancellation = Cancellation()
    outer = current_cancellation()
    if outer is not None:  # a cancelled stream cancels the calls it is waiting on
        outer.add(cancellation.cancel)
    lock = threading.Lock()
    abandoned = False

    def scoped() -> _T:
        with cancellation_scope(cancellation):
            return func()

    def run() -> None:
        try:
            result = context.run(scoped)
        except BaseException as exc:  # handed to the caller as it is
            future.set_exception(exc)
            return
        with lock:
            if abandoned and discard is not None:
                discard(result)
            future.set_result(result)

    (pool or _default_pool()).submit(run)
    try:
        return future.result(timeout=max(0.0, timeout))
    except concurrent.futures.TimeoutError:
        if future.done() and future.exception() is not None:  # the SDK raised TimeoutError
            raise
        cancellation.cancel()
        with lock:
            abandoned = True
            if future.done() and discard is not None:
                discard(future.result())
        raise APITimeoutError(
            f"the call did not finish in time ({timeout_phrase(round(timeout, 1))})",
            backend=backend,
        ) from None
