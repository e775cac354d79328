"""Observer notifications for one call: the only place that calls observer hooks.

The dispatcher creates one :class:`CallObserver` per call and tells it when the call
starts, when each attempt starts, fails or succeeds, and when the call ends. It calls
the hooks of :mod:`chatport.hookspecs` in the documented order, and stamps a successful
completion with its backend and latency.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from ._errors import APIError, ChatportError

if TYPE_CHECKING:
    from ._config import Config
    from ._plugins import PluginManager
    from ._request import ChatRequest
    from ._types import Completion

__all__ = ["CallObserver", "as_chatport_error", "describe_backend", "is_stop"]


def is_stop(exc: BaseException) -> bool:
    """Whether ``exc`` stops the caller rather than failing one call.

    A stop is Ctrl-C (``KeyboardInterrupt``), a generator being closed, or a cancellation
    of the running asyncio task. Anything else a backend, a hook or an input raises,
    ``SystemExit``, a custom ``BaseException`` or a ``CancelledError`` raised without a
    cancellation included, is a failure of that call.
    """
    if isinstance(exc, KeyboardInterrupt | GeneratorExit):
        return True
    asyncio = sys.modules.get("asyncio")  # not imported: no CancelledError can exist
    if asyncio is None or not isinstance(exc, asyncio.CancelledError):
        return False
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop in this thread: nothing could cancel it
        return False
    return task is not None and task.cancelling() > 0


def _plugin_of(backend: str) -> str | None:
    """The third-party plugin (and its package) that provides ``backend``, or ``None``
    for a built-in backend or one no longer registered."""
    try:
        from ._plugins import DEFAULT_PLUGINS, get_plugin_manager, get_registry

        plugin = get_registry().get(backend).plugin
        if plugin in DEFAULT_PLUGINS:
            return None
        package = get_plugin_manager().packages.get(plugin)
    except Exception:  # only a better message is lost
        return None
    return f"plugin {plugin!r}" + (f" from package {package[0]!r}" if package else "")


def describe_backend(backend: str) -> str:
    """``backend 'x'``, followed by the plugin that provides it when it is not built in."""
    plugin = _plugin_of(backend)
    return f"backend {backend!r}" + (f" ({plugin})" if plugin else "")


def as_chatport_error(exc: BaseException, backend: str) -> ChatportError:
    """``exc`` as a chatport error naming ``backend`` (and its plugin, when it is not
    built in); never pass a raw exception on."""
    if isinstance(exc, ChatportError):
        error = exc
    else:
        from ._wire.errors import sanitize_exception

        sanitize_exception(exc)  # a plugin's raw error may hold a request and its token
        error = APIError(
            f"{describe_backend(backend)} failed: {type(exc).__name__}: {exc}", backend=backend
        )
        error.__cause__ = exc
    if isinstance(error, APIError) and error.backend is None:
        error.backend = backend
    return error


_call_numbers = itertools.count(1)
_process: tuple[int, str] | None = None


def _call_id() -> str:
    """A call id unique across processes: a random per-process prefix and a counter.

    ``os.urandom`` runs once per process, not once per call (it can be slow where
    entropy is scarce).
    """
    global _process
    if _process is None or _process[0] != os.getpid():  # first call, or a forked child
        _process = (os.getpid(), os.urandom(6).hex())
    return f"{_process[1]}-{next(_call_numbers):x}"


_get_manager: Callable[[], PluginManager] | None = None


def _plugin_manager() -> PluginManager:
    """The plugin manager (pluggy loads on the first call, not at import)."""
    global _get_manager
    if _get_manager is None:
        from ._plugins import get_plugin_manager

        _get_manager = get_plugin_manager
    return _get_manager()


class CallObserver:
    """Notifies the observer hooks about one call and its attempts."""

    __slots__ = (
        "_call_id",
        "_ended",
        "_hook",
        "_hooks",
        "attempts",
        "backend",
        "config",
        "request",
        "started",
    )

    def __init__(self, config: Config) -> None:
        manager = _plugin_manager()
        self._hook: Any = manager.hook
        self._hooks = manager.implemented()
        self.config = config
        self._call_id: str | None = None  # made when a hook first needs it
        self.started = 0.0
        self.attempts = 0
        self.request: ChatRequest | None = None
        self.backend = ""
        self._ended = False

    @property
    def call_id(self) -> str:
        """This call's id, the same in every hook the call notifies."""
        call_id = self._call_id
        if call_id is None:
            call_id = self._call_id = _call_id()
        return call_id

    def start(self, request: ChatRequest, backend: str) -> None:
        """The call starts (before its first attempt)."""
        self.started = time.perf_counter()
        self.request, self.backend = request, backend
        if "chatport_call_start" in self._hooks:
            self._hook.chatport_call_start(
                call_id=self.call_id, request=request, backend=backend, config=self.config
            )

    def attempt(self, request: ChatRequest, backend: str, number: int) -> None:
        """Attempt ``number`` is about to be sent."""
        self.attempts = number
        self.request, self.backend = request, backend
        if "chatport_before_request" in self._hooks:
            self._hook.chatport_before_request(
                request=request,
                backend=backend,
                config=self.config,
                attempt=number,
                call_id=self.call_id,
            )

    def failed(
        self, request: ChatRequest, exc: BaseException, backend: str, started: float
    ) -> ChatportError:
        """An attempt failed with ``exc``; returns it as the chatport error the caller sees."""
        error = as_chatport_error(exc, backend)
        if "chatport_on_error" in self._hooks:
            self._hook.chatport_on_error(
                request=request,
                error=error,
                backend=backend,
                config=self.config,
                elapsed_s=time.perf_counter() - started,
                call_id=self.call_id,
            )
        return error

    def first_chunk(self, request: ChatRequest, backend: str, started: float) -> None:
        """A stream's first chunk arrived; ``started`` is when its attempt started."""
        if "chatport_first_chunk" in self._hooks:
            self._hook.chatport_first_chunk(
                call_id=self.call_id,
                request=request,
                backend=backend,
                config=self.config,
                elapsed_s=time.perf_counter() - started,
            )

    def succeeded(
        self,
        request: ChatRequest,
        completion: Completion,
        backend: str,
        started: float,
        attempts: int = 1,
    ) -> Completion:
        """An attempt answered: notify and end the call with ``completion`` stamped.

        The stamped completion (``backend``, ``latency_s``, ``attempts``) is a new object:
        the backend's own stays as it returned it (it may be cached or shared).
        """
        completion = dataclasses.replace(
            completion,
            backend=backend,
            latency_s=time.perf_counter() - started,
            attempts=attempts,
        )
        if "chatport_after_completion" in self._hooks:
            self._hook.chatport_after_completion(
                request=request,
                completion=completion,
                backend=backend,
                config=self.config,
                call_id=self.call_id,
            )
        self.end("ok", completion=completion)
        return completion

    def end(
        self,
        status: Literal["ok", "error", "abandoned"],
        *,
        completion: Completion | None = None,
        error: ChatportError | None = None,
    ) -> None:
        """The call is over (once; later calls do nothing)."""
        if self._ended or self.request is None:  # never started, or already ended
            return
        self._ended = True
        if "chatport_call_end" in self._hooks:
            self._hook.chatport_call_end(
                call_id=self.call_id,
                request=self.request,
                backend=self.backend,
                config=self.config,
                status=status,
                completion=completion,
                error=error,
                elapsed_s=time.perf_counter() - self.started,
                attempts=self.attempts,
            )
