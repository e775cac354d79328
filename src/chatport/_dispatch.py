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

The dispatcher is also the plugin boundary: whatever a backend raises (a
``BaseException`` included, but for a stop: see :func:`~chatport._observe.is_stop`) is a
failed attempt with a chatport error, and a backend that returns something other than a
:class:`Completion` or streams something other than :class:`Chunk` objects fails its
attempt with an :class:`APIError` naming the backend and its plugin. An async call
passes the context's :data:`~chatport._retry.attempt_gate` (a batch's rate limiter)
before every attempt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, NamedTuple

from ._config import Config
from ._deadline import Deadline, asleep, deadline_scope, now, sleep
from ._errors import (
    APIError,
    AuthenticationError,
    ChatportError,
    PermissionDeniedError,
    UnsupportedFeatureError,
)
from ._observe import CallObserver, as_chatport_error, describe_backend, is_stop
from ._request import ChatRequest
from ._retry import (
    AttemptTicket,
    RetryPolicy,
    attempt_gate,
    is_fallback_error,
    retry_listener,
    server_wait,
)
from ._stream import StreamAssembler
from ._types import Chunk, Completion
from .backends.base import Backend

__all__ = ["Attempt", "Attempts", "run_async", "run_sync", "stream_async", "stream_sync"]

Prepare = Callable[[str | None, str | None, Mapping[str, Any] | None], tuple[Backend, ChatRequest]]

#: One DEBUG line per attempt, retry decision, fallback and give-up. Each names the call,
#: the backend and the model, and what failed by its type and status: never a message
#: body, a header or a credential.
_log = logging.getLogger("chatport")


class Attempt(NamedTuple):
    """One try of one entry of the chain."""

    backend: Backend
    request: ChatRequest
    deadline: Deadline  # shared by the entry's attempts; one-time setup moves it
    number: int
    started: float  # restarted by :meth:`Attempts.sending`


class Attempts:
    """Yields attempts; :meth:`failed` says how long to wait, or raises the final error.

    A call shape passes each attempt to :meth:`sending` right before it calls the backend.
    """

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
                # skipped, not failed: the error the call ends with stays the last real one
                self._last = self._last or exc
                self._debug(
                    "fallback to backend %r, model %r skipped: it does not support %s",
                    entry["backend"],
                    entry.get("model") or model,
                    exc.feature,
                )
                continue
            self._debug("falling back to backend %r, model %r", prepared[0].name, prepared[1].model)
            return position, prepared
        return position, None

    def __iter__(self) -> Iterator[Attempt]:
        self.observer.start(self._primary[1], self._primary[0].name)
        entry: tuple[Backend, ChatRequest] | None = self._primary
        position = 0
        while entry is not None:
            backend, request = entry
            deadline = Deadline(now() + self.policy.timeout, limit=self.policy.timeout)
            self._retries = 0
            while True:
                self._number += 1
                self._retry = False
                yield Attempt(backend, request, deadline, self._number, time.perf_counter())
                if not self._retry:
                    break
            position, entry = self._next_entry(position)

    def sending(self, attempt: Attempt) -> Attempt:
        """``attempt`` is about to be sent: tell the observers, and start its clock."""
        self.observer.attempt(attempt.request, attempt.backend.name, attempt.number)
        self._debug(
            "attempt %d: backend %r, model %r",
            attempt.number,
            attempt.backend.name,
            attempt.request.model,
        )
        return attempt._replace(started=time.perf_counter())

    def _debug(self, message: str, *args: object) -> None:
        """Log one decision of this call at DEBUG level, naming the call."""
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("call %s: " + message, self.observer.call_id, *args)

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

    def failed(self, attempt: Attempt, exc: BaseException) -> float:
        """Record a failure; return seconds to wait before the next attempt, or raise."""
        error = self.observer.failed(attempt.request, exc, attempt.backend.name, attempt.started)
        error.attempts = self._number
        failure = (self._number, _what_failed(error))
        if self._refresh_after(error, attempt.backend):
            self._retry = True
            self._debug("attempt %d failed (%s): credential refreshed, trying again", *failure)
            return 0.0
        wait, why = self.policy.decide(error, self._retries, attempt.deadline.at)
        _report_wait(error, wait)
        if wait is not None:
            self._retries += 1
            self._retry = True
            self._debug(
                "attempt %d failed (%s): retry %d of %d in %.3f s (%s)",
                *failure,
                self._retries,
                self.policy.max_retries,
                wait,
                why,
            )
            return wait
        if not is_fallback_error(error) or not self._fallbacks:
            self._debug("attempt %d failed (%s): giving up, %s", *failure, why)
            raise error
        self._debug("attempt %d failed (%s): %s; trying the fallbacks", *failure, why)
        self._last = error
        return 0.0

    def exhausted(self) -> ChatportError:
        """The error to raise when every entry of the chain has failed."""
        assert self._last is not None
        self._debug("every fallback failed: giving up after %d attempts", self._number)
        return self._last

    def checked(self, attempt: Attempt, completion: object) -> Completion:
        """``completion`` with its structured output validated into ``parsed``.

        Raises :class:`APIError` when the backend returned something other than a
        :class:`Completion`, and :class:`ResponseFormatError` (carrying the raw text) when
        the request gave a schema and the answer does not match it. A tool-call answer
        has no output.
        """
        if not isinstance(completion, Completion):
            raise _wrong_type(attempt.backend.name, "returned", completion, "Completion")
        output = attempt.request.output
        if output is not None and completion.finish_reason != "tool_calls":
            parsed = output.parse(completion.text, attempt.backend.name)
            return dataclasses.replace(completion, parsed=parsed)
        return completion

    def structured_chunk(self, attempt: Attempt, assembler: StreamAssembler) -> Chunk | None:
        """A last chunk carrying the validated structured output of a finished stream."""
        if attempt.request.output is None:
            return None
        completion = self.checked(attempt, assembler.completion(attempt.backend.name))
        return None if completion.parsed is None else Chunk(parsed=completion.parsed)

    def succeeded(self, attempt: Attempt, completion: Completion) -> Completion:
        """Finish the call with ``completion`` (stamped as a new object)."""
        return self.observer.succeeded(
            attempt.request, completion, attempt.backend.name, attempt.started, attempt.number
        )

    def failed_midstream(self, attempt: Attempt, exc: BaseException) -> ChatportError:
        """A stream broke after its first chunk: no retry, the error goes to the caller."""
        error = self.observer.failed(attempt.request, exc, attempt.backend.name, attempt.started)
        error.attempts = self._number
        self._debug(
            "attempt %d failed mid-stream (%s): giving up, chunks were delivered",
            self._number,
            _what_failed(error),
        )
        return error


def _what_failed(error: ChatportError) -> str:
    """An error's type and status, for the log (its message may quote the request)."""
    status = getattr(error, "status_code", None)
    name = type(error).__name__
    return name if status is None else f"{name}, status {status}"


def _report_wait(error: ChatportError, wait: float | None) -> None:
    """Tell the context's retry listener how long the server or the policy asks to wait:
    the wait before a retry, or the server's ``Retry-After`` of a call that gives up."""
    listener = retry_listener.get()
    if listener is None:
        return
    if wait is None:
        wait = server_wait(error)
        if wait is None:
            return
    listener(error, wait)


def _wrong_type(backend: str, did: str, value: object, expected: str) -> APIError:
    """The error of a backend that ``did`` (returned, streamed) ``value``, not ``expected``."""
    what = "None" if value is None else f"a {type(value).__name__}"
    return APIError(f"{describe_backend(backend)} {did} {what}, not a {expected}", backend=backend)


def _chunk(attempt: Attempt, item: object) -> Chunk:
    """``item`` when it is a :class:`Chunk`; else the backend's stream is broken."""
    if isinstance(item, Chunk):
        return item
    raise _wrong_type(attempt.backend.name, "streamed", item, "Chunk")


async def _admitted(attempts: Attempts, attempt: Attempt) -> tuple[Attempt, AttemptTicket | None]:
    """Pass the context's attempt gate (a batch's rate limiter), then start ``attempt``.

    The time spent at the gate is given back to the attempt's deadline: a batch's pacing
    is not the call's time.
    """
    gate = attempt_gate.get()
    ticket = None
    if gate is not None:
        waiting = now()
        ticket = await gate.admit(attempt.request)
        attempt.deadline.at += now() - waiting
    return attempts.sending(attempt), ticket


def run_sync(attempts: Attempts) -> Completion:
    """A blocking call."""
    with attempts:
        for attempt in attempts:
            attempt = attempts.sending(attempt)
            try:
                with deadline_scope(attempt.deadline, attempt.number):
                    completion = attempt.backend.complete(attempt.request)
                completion = attempts.checked(attempt, completion)
            except BaseException as exc:
                if is_stop(exc):
                    raise
                sleep(attempts.failed(attempt, exc))
                continue
            return attempts.succeeded(attempt, completion)
        raise attempts.exhausted()


async def run_async(attempts: Attempts) -> Completion:
    """An async call."""
    with attempts:
        for attempt in attempts:
            attempt, ticket = await _admitted(attempts, attempt)
            try:
                with deadline_scope(attempt.deadline, attempt.number):
                    completion = await attempt.backend.acomplete(attempt.request)
                completion = attempts.checked(attempt, completion)
            except BaseException as exc:
                if is_stop(exc):
                    raise
                if ticket is not None:
                    ticket.failed(exc)
                await asleep(attempts.failed(attempt, exc))
                continue
            if ticket is not None:
                ticket.succeeded(completion)
            return attempts.succeeded(attempt, completion)
        raise attempts.exhausted()


def stream_sync(attempts: Attempts) -> Iterator[Chunk]:
    """A blocking stream; retried or handed over only before its first chunk."""
    with attempts:
        for attempt in attempts:
            attempt = attempts.sending(attempt)
            assembler = StreamAssembler()
            chunks: Iterator[object] | None = None
            try:
                with deadline_scope(attempt.deadline, attempt.number):
                    # inside the try: a stream() that raises before returning is a failed attempt
                    chunks = iter(attempt.backend.stream(attempt.request))
                    item = next(chunks, None)
                first = None if item is None else _chunk(attempt, item)
            except BaseException as exc:
                if is_stop(exc):
                    raise
                _close(chunks)
                sleep(attempts.failed(attempt, exc))
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
                for item in chunks:
                    chunk = _chunk(attempt, item)
                    keep(chunk)
                    yield chunk
                last = attempts.structured_chunk(attempt, assembler)
                if last is not None:
                    assembler.add(last)
                    yield last
            except BaseException as exc:
                if is_stop(exc):  # closed early (GeneratorExit) or Ctrl-C
                    raise
                raise attempts.failed_midstream(attempt, exc)  # noqa: B904 - already its __cause__
            finally:
                _close(chunks)
            attempts.succeeded(attempt, assembler.completion(attempt.backend.name))
            return
        raise attempts.exhausted()


async def stream_async(attempts: Attempts) -> AsyncIterator[Chunk]:
    """An async stream; closing it early closes the connection."""
    with attempts:
        for attempt in attempts:
            attempt, ticket = await _admitted(attempts, attempt)
            assembler = StreamAssembler()
            chunks: AsyncIterator[object] | None = None
            try:
                with deadline_scope(attempt.deadline, attempt.number):
                    # inside the try: an astream() that raises before returning is a failed attempt
                    chunks = attempt.backend.astream(attempt.request).__aiter__()
                    item: object = await chunks.__anext__()
                first: Chunk | None = _chunk(attempt, item)
            except StopAsyncIteration:
                first = None
            except BaseException as exc:
                if is_stop(exc):
                    raise
                await _aclose(chunks)
                if ticket is not None:
                    ticket.failed(exc)
                await asleep(attempts.failed(attempt, exc))
                continue
            assert chunks is not None
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
                async for item in chunks:
                    chunk = _chunk(attempt, item)
                    keep(chunk)
                    yield chunk
                last = attempts.structured_chunk(attempt, assembler)
                if last is not None:
                    assembler.add(last)
                    yield last
            except BaseException as exc:
                if is_stop(exc):  # closed early (GeneratorExit), Ctrl-C or cancelled
                    raise
                raise attempts.failed_midstream(attempt, exc)  # noqa: B904 - already its __cause__
            finally:
                await _aclose(chunks)
            completion = assembler.completion(attempt.backend.name)
            if ticket is not None:
                ticket.succeeded(completion)
            attempts.succeeded(attempt, completion)
            return
        raise attempts.exhausted()


def _close(chunks: object) -> None:
    """Close a backend's stream; a stream that fails to close has nothing more to give."""
    close = getattr(chunks, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):  # the stream is over either way
            close()


async def _aclose(chunks: object) -> None:
    """Close a backend's async stream (see :func:`_close`)."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # the stream is over either way
            await aclose()
