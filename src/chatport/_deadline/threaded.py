"""A blocking chunk generator consumed from async code, on one thread of its own.

``asyncio.to_thread(next, generator)`` per chunk lets a cancelled consumer close the
generator from another thread while ``next`` still runs in the first one ("generator
already executing"), and the HTTP stream keeps being read. :class:`ThreadedStream`
instead gives the generator one thread for its whole life: chunks are handed over one
at a time, on demand, and cancelling the consumer cancels the stream's
:class:`~chatport._deadline.cancel.Cancellation` (shutting down the socket of a
registered read), after which that same thread closes the generator.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .cancel import Cancellation, cancellation_scope

if TYPE_CHECKING:
    import asyncio

__all__ = ["ThreadedStream"]

_T = TypeVar("_T")
#: How long closing waits for the stream's thread to finish its cleanup.
_CLOSE_WAIT = 2.0


class ThreadedStream(Generic[_T]):
    """``async with ThreadedStream(open_) as items: async for item in items: ...``."""

    def __init__(self, open_: Callable[[], Iterable[_T]]) -> None:
        self._open = open_
        self._cancellation = Cancellation()
        self._want = threading.Semaphore(0)
        self._slot: asyncio.Future[tuple[str, Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished: asyncio.Future[None] | None = None

    async def __aenter__(self) -> AsyncIterator[_T]:
        import asyncio

        self._loop = asyncio.get_running_loop()
        self._finished = self._loop.create_future()
        context = contextvars.copy_context()  # the call's deadline goes with it
        thread = threading.Thread(
            target=context.run, args=(self._run,), name="chatport-stream", daemon=True
        )
        thread.start()
        return self._items()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        import asyncio

        self._cancellation.cancel()
        self._want.release()  # wake the thread if it waits for demand
        assert self._finished is not None
        await asyncio.wait([self._finished], timeout=_CLOSE_WAIT)

    async def _items(self) -> AsyncIterator[_T]:
        assert self._loop is not None
        while True:
            slot: asyncio.Future[tuple[str, Any]] = self._loop.create_future()
            self._slot = slot
            self._want.release()
            kind, value = await slot
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value

    # -- the stream's own thread ------------------------------------------------------

    def _run(self) -> None:
        iterator = None
        try:
            with cancellation_scope(self._cancellation):
                while True:
                    self._want.acquire()
                    if self._cancellation.cancelled:
                        return
                    if iterator is None:
                        iterator = iter(self._open())
                    try:
                        item = next(iterator)
                    except StopIteration:
                        self._deliver("done", None)
                        return
                    self._deliver("item", item)
        except BaseException as exc:  # handed to the consumer as it is
            if not self._cancellation.cancelled:
                self._deliver("error", exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # the consumer is gone
                    close()
            self._call(self._set_finished)

    def _deliver(self, kind: str, value: Any) -> None:
        slot = self._slot
        if slot is not None:
            self._call(_settle, slot, (kind, value))

    def _set_finished(self) -> None:
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(None)

    def _call(self, func: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the event loop is closed
            self._loop.call_soon_threadsafe(func, *args)


def _settle(slot: asyncio.Future[tuple[str, Any]], result: tuple[str, Any]) -> None:
    if not slot.done():
        slot.set_result(result)
