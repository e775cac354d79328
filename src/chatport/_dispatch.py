"""Running one call: attempts, retries, fallbacks, and when observers hear of them.

:class:`Attempts` holds the logic once and tells its :class:`CallObserver` (the only
caller of observer hooks) about the call and each attempt; the four call shapes (sync,
async, streamed, async-streamed) only differ in how they wait and call the backend.

A call walks a chain of entries: the requested backend and model, then each configured
fallback. Each entry gets its own deadline (``timeout``) and retry budget
(``max_retries``). A failure that the policy retries is tried again on the same entry;
a rate limit, 5xx, timeout or connection failure that is out of retries moves to the
next entry; anything else is raised at once. A stream is retried only until its first
chunk has been delivered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, NamedTuple

from ._config import Config
from ._errors import (
    AuthenticationError,
    ChatportError,
    PermissionDeniedError,
    UnsupportedFeatureError,
)
from ._observe import CallObserver, as_chatport_error
from ._request import ChatRequest
from ._retry import Deadline, RetryPolicy, deadline_scope, is_fallback_error, retry_listener
from ._stream import StreamAssembler
from ._types import Chunk, Completion
from .backends.base import Backend

__all__ = ["Attempt", "Attempts", "run_async", "run_sync", "stream_async", "stream_sync"]

Prepare = Callable[[str | None, str | None, Mapping[str, Any] | None], tuple[Backend, ChatRequest]]


class Attempt(NamedTuple):
    """One try of one entry of the chain."""

    backend: Backend
    request: ChatRequest
    deadline: Deadline  # shared by the entry's attempts; one-time setup moves it
    number: int
    started: float


class Attempts:
    """Yields attempts; :meth:`failed` says how long to wait, or raises the final error."""

    def __init__(
        self,
        config: Config,
        policy: RetryPolicy,
        prepare: Prepare,
        backend: str | None,
        model: str | None,
        options: Mapping[str, Any] | None,
    ) -> None:
        self.policy = policy
        self._prepare = prepare
        self._primary = prepare(backend, model, options)
        self._fallbacks = list(config.get("fallbacks") or ())
        self._number = 0
        self._retry = False
        self._retries = 0
        self._refreshed = False
        self._last: ChatportError | None = None
        self.observer = CallObserver(config)
        #: what a stream has delivered so far, reported if it is abandoned
        self.partial: tuple[StreamAssembler, str] | None = None

    def __enter__(self) -> Attempts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End the call for observers when it raised, or was closed or cancelled."""
        if exc is None:
            return
        if isinstance(exc, Exception):
            self.observer.end("error", error=as_chatport_error(exc, self.observer.backend))
            return
        partial = None
        if self.partial is not None:
            assembler, backend = self.partial
            partial = assembler.completion(backend)
        self.observer.end("abandoned", completion=partial)

    def _next_entry(self, position: int) -> tuple[int, tuple[Backend, ChatRequest] | None]:
        """The first fallback from ``position`` on that can take the request, and the
        position after it (``None`` when there is none)."""
        model = self._primary[1].model
        while position < len(self._fallbacks):
            entry = self._fallbacks[position]
            position += 1
            try:
                prepared = self._prepare(
                    entry["backend"], entry.get("model") or model, entry.get("options")
                )
            except UnsupportedFeatureError as exc:  # this fallback cannot take the request
                self._last = exc
                continue
            return position, prepared
        return position, None

    def __iter__(self) -> Iterator[Attempt]:
        self.observer.start(self._primary[1], self._primary[0].name)
        entry: tuple[Backend, ChatRequest] | None = self._primary
        position = 0
        while entry is not None:
            backend, request = entry
            deadline = Deadline(time.monotonic() + self.policy.timeout, limit=self.policy.timeout)
            self._retries = 0
            while True:
                self._number += 1
                self.observer.attempt(request, backend.name, self._number)
                self._retry = False
                yield Attempt(backend, request, deadline, self._number, time.perf_counter())
                if not self._retry:
                    break
            position, entry = self._next_entry(position)

    def _refresh_after(self, error: ChatportError, backend: Backend) -> bool:
        """A refused credential that can be refreshed: get a new one and try again, once.

        Refused means a 401, or the 403 "Invalid access token" Databricks answers for an
        expired token. An error raised before sending (no status) is not retried.
        """
        if self._refreshed:
            return False
        if isinstance(error, AuthenticationError):
            if error.status_code != 401:
                return False
        elif not (
            isinstance(error, PermissionDeniedError)
            and "invalid access token" in str(error).lower()
        ):
            return False
        settings = getattr(backend, "settings", None)
        refresh = getattr(settings, "refresh_credentials", None)
        if refresh is None or not refresh():
            return False
        self._refreshed = True
        return True

    def failed(self, attempt: Attempt, exc: Exception) -> float:
        """Record a failure; return seconds to wait before the next attempt, or raise."""
        error = self.observer.failed(attempt.request, exc, attempt.backend.name, attempt.started)
        error.attempts = self._number
        if self._refresh_after(error, attempt.backend):
            self._retry = True
            return 0.0
        wait = self.policy.delay(error, self._retries, attempt.deadline.at)
        if wait is not None:
            listener = retry_listener.get()
            if listener is not None:
                listener(error, wait)
            self._retries += 1
            self._retry = True
            return wait
        if not is_fallback_error(error) or not self._fallbacks:
            raise error
        self._last = error
        return 0.0

    def exhausted(self) -> ChatportError:
        """The error to raise when every entry of the chain has failed."""
        assert self._last is not None
        return self._last

    def checked(self, attempt: Attempt, completion: Completion) -> Completion:
        """``completion`` with its structured output validated into ``parsed``.

        Raises :class:`ResponseFormatError` (carrying the raw text) when the request gave
        a schema and the answer does not match it. A tool-call answer has no output.
        """
        output = attempt.request.output
        if output is not None and completion.finish_reason != "tool_calls":
            parsed = output.parse(completion.text, attempt.backend.name)
            object.__setattr__(completion, "parsed", parsed)  # built for this call alone
        return completion

    def structured_chunk(self, attempt: Attempt, assembler: StreamAssembler) -> Chunk | None:
        """A last chunk carrying the validated structured output of a finished stream."""
        if attempt.request.output is None:
            return None
        completion = self.checked(attempt, assembler.completion(attempt.backend.name))
        return None if completion.parsed is None else Chunk(parsed=completion.parsed)

    def succeeded(self, attempt: Attempt, completion: Completion) -> Completion:
        """Finish the call with ``completion``."""
        object.__setattr__(completion, "attempts", attempt.number)
        return self.observer.succeeded(
            attempt.request, completion, attempt.backend.name, attempt.started
        )

    def failed_midstream(self, attempt: Attempt, exc: Exception) -> ChatportError:
        """A stream broke after its first chunk: no retry, the error goes to the caller."""
        error = self.observer.failed(attempt.request, exc, attempt.backend.name, attempt.started)
        error.attempts = self._number
        return error


def run_sync(attempts: Attempts) -> Completion:
    """A blocking call."""
    with attempts:
        for attempt in attempts:
            try:
                with deadline_scope(attempt.deadline, attempt.number):
                    completion = attempt.backend.complete(attempt.request)
                completion = attempts.checked(attempt, completion)
            except Exception as exc:
                time.sleep(attempts.failed(attempt, exc))
                continue
            return attempts.succeeded(attempt, completion)
        raise attempts.exhausted()


async def run_async(attempts: Attempts) -> Completion:
    """An async call."""
    import asyncio

    with attempts:
        for attempt in attempts:
            try:
                with deadline_scope(attempt.deadline, attempt.number):
                    completion = await attempt.backend.acomplete(attempt.request)
                completion = attempts.checked(attempt, completion)
            except Exception as exc:
                await asyncio.sleep(attempts.failed(attempt, exc))
                continue
            return attempts.succeeded(attempt, completion)
        raise attempts.exhausted()


def stream_sync(attempts: Attempts) -> Iterator[Chunk]:
    """A blocking stream; retried or handed over only before its first chunk."""
    with attempts:
        for attempt in attempts:
            assembler = StreamAssembler()
            try:
                with deadline_scope(attempt.deadline, attempt.number):
                    # inside the try: a stream() that raises before returning is a failed attempt
                    chunks = iter(attempt.backend.stream(attempt.request))
                    first = next(chunks, None)
            except Exception as exc:
                time.sleep(attempts.failed(attempt, exc))
                continue
            attempts.partial = (assembler, attempt.backend.name)
            if first is not None:
                attempts.observer.first_chunk(
                    attempt.request, attempt.backend.name, attempt.started
                )
            keep = assembler.chunks.append
            try:
                if first is not None:
                    keep(first)
                    yield first
                for chunk in chunks:
                    keep(chunk)
                    yield chunk
                last = attempts.structured_chunk(attempt, assembler)
                if last is not None:
                    assembler.add(last)
                    yield last
            except GeneratorExit:
                _close(chunks)
                raise
            except Exception as exc:
                raise attempts.failed_midstream(attempt, exc)  # noqa: B904 - already its __cause__
            attempts.succeeded(attempt, assembler.completion(attempt.backend.name))
            return
        raise attempts.exhausted()


async def stream_async(attempts: Attempts) -> AsyncIterator[Chunk]:
    """An async stream; closing it early closes the connection."""
    import asyncio

    with attempts:
        for attempt in attempts:
            assembler = StreamAssembler()
            try:
                with deadline_scope(attempt.deadline, attempt.number):
                    # inside the try: an astream() that raises before returning is a failed attempt
                    chunks = attempt.backend.astream(attempt.request).__aiter__()
                    first: Chunk | None = await chunks.__anext__()
            except StopAsyncIteration:
                first = None
            except Exception as exc:
                await asyncio.sleep(attempts.failed(attempt, exc))
                continue
            attempts.partial = (assembler, attempt.backend.name)
            if first is not None:
                attempts.observer.first_chunk(
                    attempt.request, attempt.backend.name, attempt.started
                )
            keep = assembler.chunks.append
            try:
                if first is not None:
                    keep(first)
                    yield first
                async for chunk in chunks:
                    keep(chunk)
                    yield chunk
                last = attempts.structured_chunk(attempt, assembler)
                if last is not None:
                    assembler.add(last)
                    yield last
            except GeneratorExit:
                await _aclose(chunks)
                raise
            except Exception as exc:
                raise attempts.failed_midstream(attempt, exc)  # noqa: B904 - already its __cause__
            finally:
                await _aclose(chunks)
            attempts.succeeded(attempt, assembler.completion(attempt.backend.name))
            return
        raise attempts.exhausted()


def _close(chunks: object) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


async def _aclose(chunks: object) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
