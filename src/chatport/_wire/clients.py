"""The clients a backend holds: one per process, and one per event loop.

Every backend that keeps an HTTP or SDK client needs the same three rules, written once
here in :class:`ClientHolder`:

* **built once, on first use**, under a lock (the build function decides what of it is
  one-time setup not charged to the call's deadline: :func:`chatport._deadline.uncharged`);
* **one async client per event loop**: an async client's connections belong to the loop
  that opened them, so each running loop gets its own, closed when that loop shuts down
  (``asyncio.run`` closes it in its async-generator step, :func:`close_with_loop`);
* **fork-safe**: a forked child drops its parent's clients without closing them (their
  sockets are the parent's) and builds its own.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["ClientHolder", "close_with_loop"]

SyncClient = TypeVar("SyncClient")
AsyncClient = TypeVar("AsyncClient")


class _AsyncClosable(Protocol):
    async def aclose(self) -> None: ...


async def close_with_loop(resource: _AsyncClosable) -> AsyncGenerator[None, None]:
    """Arrange for ``await resource.aclose()`` when the running event loop shuts down.

    ``asyncio.run`` closes every live async generator before it closes the loop; the
    returned (started) generator closes ``resource`` in that step. Keep a reference to
    it for as long as the resource lives; ``await guard.aclose()`` closes it early.
    """

    async def guard() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await resource.aclose()

    generator = guard()
    await generator.__anext__()
    return generator


class _Closer:
    """``aclose()`` for a client whose closing function is passed in."""

    def __init__(self, client: Any, aclose: Callable[[Any], Awaitable[None]]) -> None:
        self.client = client
        self._aclose = aclose

    async def aclose(self) -> None:
        await self._aclose(self.client)


def _no_sync_client() -> Any:
    raise TypeError("this ClientHolder has no sync client (pass build=)")


def _no_async_client() -> Any:
    raise TypeError("this ClientHolder has no async client (pass build_async=)")


def _close_nothing(client: Any) -> None:
    return None


async def _aclose_nothing(client: Any) -> None:
    return None


class ClientHolder(Generic[SyncClient, AsyncClient]):
    """A backend's sync client (one per process) and async clients (one per event loop).

    ``build()`` makes the sync client and ``close(client)`` closes it; ``build_async()``
    makes the running loop's async client (it runs on that loop's thread) and
    ``aclose(client)`` closes it. Either pair may be left out.
    """

    def __init__(
        self,
        *,
        build: Callable[[], SyncClient] = _no_sync_client,
        close: Callable[[SyncClient], object] = _close_nothing,
        build_async: Callable[[], AsyncClient] = _no_async_client,
        aclose: Callable[[AsyncClient], Awaitable[None]] = _aclose_nothing,
    ) -> None:
        self._build = build
        self._close = close
        self._build_async = build_async
        self._aclose = aclose
        self._sync: SyncClient | None = None
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncClient, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _check_fork(self) -> None:
        """In a forked child, drop (never close) the parent's clients and connections."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._sync = None
            self._async = weakref.WeakKeyDictionary()

    @property
    def built(self) -> SyncClient | None:
        """The sync client if it was built in this process, else ``None``."""
        self._check_fork()
        return self._sync

    def sync(self) -> SyncClient:
        """The sync client, built on first use."""
        self._check_fork()
        client = self._sync
        if client is None:
            with self._lock:
                if self._sync is None:
                    self._sync = self._build()
                client = self._sync
        return client

    async def async_(self) -> AsyncClient:
        """The running event loop's async client, built on first use there."""
        self._check_fork()
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            client = self._build_async()
            entry = (client, await close_with_loop(_Closer(client, self._aclose)))
            self._async[loop] = entry
        return entry[0]

    def close(self) -> None:
        """Close the sync client (the next call builds a new one)."""
        self._check_fork()
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            self._close(client)

    async def aclose(self) -> None:
        """Close the sync client and the running event loop's async client."""
        self.close()
        entry = self._async.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()
