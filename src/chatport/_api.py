"""Module-level calls: ``chatport.complete`` and friends, on cached default clients."""

from __future__ import annotations

import atexit
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._client import Client
from ._types import Chunk, Completion

if TYPE_CHECKING:
    from ._batch import BatchResult

__all__ = ["acomplete", "amap", "astream", "complete", "default_client", "map", "stream"]

_ENV_KEYS = ("CHATPORT_CONFIG", "CHATPORT_BACKEND", "CHATPORT_MODEL", "CHATPORT_PROFILE")
#: The Databricks variables that choose the workspace: a change means another workspace.
_WORKSPACE_KEYS = (
    "DATABRICKS_HOST",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_CONFIG_FILE",
    "DATABRICKS_CLIENT_ID",
)
_SECRET_KEYS = ("DATABRICKS_TOKEN", "DATABRICKS_CLIENT_SECRET")
_PLAIN_KEYS = _ENV_KEYS + _WORKSPACE_KEYS
#: How many default clients are kept; the oldest one is closed beyond it.
_KEEP = 8
_clients: OrderedDict[tuple[object, ...], Client] = OrderedDict()
_lock = threading.Lock()


def _environment_key() -> tuple[object, ...]:
    """The variables that shape a default client (secrets as their salted hash only)."""
    environ = os.environ
    return (
        *[environ.get(name) for name in _PLAIN_KEYS],
        # secrets enter the key as their (salted, per-process) hash, never as themselves
        *[hash(environ.get(name)) for name in _SECRET_KEYS],
    )


def default_client(profile: str | None = None) -> Client:
    """The shared client for ``profile``, built once per environment and profile.

    A change to the ``CHATPORT_*`` or ``DATABRICKS_*`` variables (another workspace or
    credential) or to the working directory gives a new client; beyond eight, the oldest
    is closed.
    """
    key = (profile, os.getcwd(), _environment_key())
    client = _clients.get(key)
    if client is None:
        evicted: list[Client] = []
        with _lock:
            client = _clients.get(key)
            if client is None:
                if not _clients:
                    atexit.register(_close_default_clients)
                client = _clients[key] = Client(profile=profile)
                while len(_clients) > _KEEP:
                    evicted.append(_clients.popitem(last=False)[1])
        for old in evicted:
            old.close()
    return client


def _close_default_clients() -> None:
    """Close the cached default clients' connections at interpreter exit."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def complete(
    messages: object,
    *,
    backend: str | None = None,
    model: str | None = None,
    profile: str | None = None,
    **params: Any,
) -> Completion:
    """Send one chat request through the default client. See :meth:`Client.complete`."""
    return default_client(profile).complete(messages, backend=backend, model=model, **params)


def stream(
    messages: object,
    *,
    backend: str | None = None,
    model: str | None = None,
    profile: str | None = None,
    **params: Any,
) -> Iterator[Chunk]:
    """Stream one chat request through the default client. See :meth:`Client.stream`."""
    return default_client(profile).stream(messages, backend=backend, model=model, **params)


async def acomplete(
    messages: object,
    *,
    backend: str | None = None,
    model: str | None = None,
    profile: str | None = None,
    **params: Any,
) -> Completion:
    """Async :func:`complete`."""
    client = default_client(profile)
    return await client.acomplete(messages, backend=backend, model=model, **params)


def astream(
    messages: object,
    *,
    backend: str | None = None,
    model: str | None = None,
    profile: str | None = None,
    **params: Any,
) -> AsyncIterator[Chunk]:
    """Async :func:`stream`: ``async for chunk in chatport.astream(...)``."""
    return default_client(profile).astream(messages, backend=backend, model=model, **params)


def map(
    inputs: Iterable[Any],
    *,
    profile: str | None = None,
    **options: Any,
) -> Iterator[BatchResult]:
    """Answer many inputs through the default client. See :meth:`Client.map`."""
    return default_client(profile).map(inputs, **options)


def amap(
    inputs: Iterable[Any] | AsyncIterable[Any],
    *,
    profile: str | None = None,
    **options: Any,
) -> AsyncIterator[BatchResult]:
    """Async :func:`map`: ``async for result in chatport.amap(...)``."""
    return default_client(profile).amap(inputs, **options)
