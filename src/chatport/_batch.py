"""Batches: many requests through one :class:`~chatport.Client`, results in input order.

:func:`amap` is the engine. It pulls inputs lazily (an iterable or async iterable of any
size), keeps at most ``concurrency`` calls in flight and a bounded window of finished
results waiting for an earlier one, and yields a :class:`BatchResult` per input, in
input order, with failures as values: whatever one input's call raises (the input, a
plugin, a backend) is that input's error, and only Ctrl-C or a cancellation of the
consumer stops the batch.

A shared :class:`RateLimiter` admits every *attempt* (retries and fallbacks included,
through the dispatcher's :data:`~chatport._retry.attempt_gate`): requests are spaced
evenly, tokens are reserved before an attempt is sent and settled with its real usage,
and no window of a minute ever holds more than the limits. It pauses *every* worker when
any call is told to wait (``Retry-After`` on a 429, even one the call itself cannot wait
for), then recovers. The per-call retry policy and deadline stay the core's.
:func:`map_sync` runs the same engine on a private event-loop thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._deadline import asleep, now
from ._errors import ChatportError, InvalidRequestError, RateLimitError
from ._observe import as_chatport_error, is_stop
from ._request import REQUEST_PARAMS, ChatRequest
from ._retry import attempt_gate, retry_listener
from ._types import Completion, Usage

if TYPE_CHECKING:
    from ._client import Client

__all__ = [
    "DEFAULT_RESERVED_COMPLETION",
    "BatchResult",
    "RateLimit",
    "RateLimiter",
    "Reservation",
    "amap",
    "map_sync",
    "reserved_tokens",
]

#: Completion tokens an attempt reserves when its request sets no ``max_tokens``.
DEFAULT_RESERVED_COMPLETION = 1024
_CHARS_PER_TOKEN = 4  # the prompt estimate: four characters a token ...
_TOKENS_PER_MESSAGE = 4  # ... and a few more for each message's role and framing
_MINUTE = 60.0  # the window the limits hold in, in seconds


@dataclass(frozen=True)
class BatchResult:
    """One input's outcome: ``completion`` or ``error`` (a :class:`ChatportError`)."""

    index: int
    input: Any = field(repr=False)
    completion: Completion | None = None
    error: ChatportError | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """Whether the input was answered."""
        return self.completion is not None

    def unwrap(self) -> Completion:
        """The completion, or the error raised."""
        if self.completion is None:
            assert self.error is not None
            raise self.error
        return self.completion


@dataclass(frozen=True)
class RateLimit:
    """Requests and tokens per minute a batch may use (``None``: no limit)."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    @classmethod
    def coerce(cls, value: object) -> RateLimit | None:
        """From ``None``, a number (requests per minute), a dict, or a :class:`RateLimit`."""
        if value is None or isinstance(value, RateLimit):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return cls._checked(cls(requests_per_minute=float(value)))
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"requests_per_minute", "tokens_per_minute"})
            if unknown:
                raise InvalidRequestError(
                    f"unknown key {unknown[0]!r}; use requests_per_minute and tokens_per_minute",
                    field="rate_limit",
                )
            return cls._checked(cls(**value))
        raise InvalidRequestError(
            "must be requests per minute, a dict or a RateLimit", field="rate_limit"
        )

    @classmethod
    def _checked(cls, limit: RateLimit) -> RateLimit:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(limit, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise InvalidRequestError("must be a positive number", field=f"rate_limit.{name}")
        return limit


def reserved_tokens(request: ChatRequest) -> int:
    """The tokens an attempt of ``request`` reserves before it is sent.

    An estimate of the prompt (its characters, tool calls, tools and response format at
    four characters a token, plus four tokens a message) and the most it may generate:
    ``max_tokens`` (:data:`DEFAULT_RESERVED_COMPLETION` when unset) for each of its ``n``
    choices.
    """
    chars = 0
    for message in request.messages:
        chars += len(message.text)
        for call in message.tool_calls:
            chars += len(call.name) + len(call.arguments)
    for extra in (request.tools, request.response_format):
        if extra:
            chars += len(str(extra))
    prompt = -(-chars // _CHARS_PER_TOKEN) + _TOKENS_PER_MESSAGE * len(request.messages)
    most = DEFAULT_RESERVED_COMPLETION if request.max_tokens is None else request.max_tokens
    return prompt + max(0, most) * max(1, request.n or 1)


class Reservation:
    """One admitted request's share of the token budget, settled with its real usage."""

    __slots__ = ("_limiter", "at", "live", "tokens")

    def __init__(self, limiter: RateLimiter | None, at: float, tokens: float) -> None:
        self._limiter = limiter
        self.at = at  # when it was admitted (the limiter's clock)
        self.tokens = tokens
        self.live = limiter is not None  # still counted in the limiter's window

    def settle(self, tokens: float) -> None:
        """Count ``tokens``, the request's real usage, instead of what was reserved."""
        if self._limiter is not None:
            self._limiter._settle(self, tokens)


class RateLimiter:
    """Paces the requests of one batch so that no window of a minute exceeds its limits.

    * Requests: at most ``requests_per_minute`` in any minute, spaced evenly (one every
      ``60 / requests_per_minute`` seconds), never in a burst.
    * Tokens: a request reserves its tokens before it starts (:func:`reserved_tokens`)
      and is admitted only when the tokens of the requests started in the last minute,
      reserved or (once settled) used, leave room for it: a sliding window, which starts
      empty, never full. A reservation above the whole budget is cut to the budget.
    * Pauses: :meth:`pause` holds every request for a while (a server's ``Retry-After``).

    ``clock`` (seconds, by default the deadlines' :func:`~chatport._deadline.now`) is for
    tests; waits go through :func:`~chatport._deadline.asleep`.
    """

    def __init__(self, limit: RateLimit | None, clock: Callable[[], float] = now):
        self.limit = limit or RateLimit()
        self._clock = clock
        self._next_slot = -math.inf
        self._paused_until = -math.inf
        #: the reservations admitted within the last window, oldest first, and their sum
        self._log: deque[Reservation] = deque()
        self._used = 0.0
        self._lock = threading.Lock()
        self.pauses = 0

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` (a server asked a call to wait)."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self.pauses += 1

    def _expire(self, now: float) -> None:
        horizon = now - _MINUTE
        while self._log and self._log[0].at <= horizon:
            gone = self._log.popleft()
            gone.live = False
            self._used -= gone.tokens

    def _token_wait(self, now: float, tokens: float) -> float:
        """Seconds until the window has room for ``tokens`` (0: it has now)."""
        budget = self.limit.tokens_per_minute
        if budget is None:
            return 0.0
        excess = self._used + tokens - budget
        if excess <= 0:
            return 0.0
        for reservation in self._log:  # oldest first: each frees its tokens as it leaves
            excess -= reservation.tokens
            if excess <= 0:
                return reservation.at + _MINUTE - now
        return _MINUTE

    def try_acquire(self, tokens: float = 0) -> tuple[float, Reservation | None]:
        """Admit a request reserving ``tokens`` now if the limits allow it.

        Returns ``(0, reservation)`` when it may start (its request slot and tokens are
        taken), else ``(seconds to wait before asking again, None)``.
        """
        with self._lock:
            now = self._clock()
            self._expire(now)
            budget = self.limit.tokens_per_minute
            tokens = 0.0 if budget is None else min(max(0.0, float(tokens)), budget)
            rpm = self.limit.requests_per_minute
            wait = max(
                self._paused_until - now,
                self._token_wait(now, tokens),
                -math.inf if rpm is None else self._next_slot - now,
            )
            if wait > 0:
                return wait, None
            if rpm is not None:
                self._next_slot = max(self._next_slot, now) + _MINUTE / rpm
            if budget is None:
                return 0.0, Reservation(None, now, 0.0)
            reservation = Reservation(self, now, tokens)
            self._log.append(reservation)
            self._used += tokens
            return 0.0, reservation

    def delay(self, tokens: float = 0) -> float:
        """Seconds a request reserving ``tokens`` must wait; 0 means it was admitted."""
        return self.try_acquire(tokens)[0]

    async def acquire(self, tokens: float = 0) -> Reservation:
        """Wait until a request reserving ``tokens`` may start, and admit it."""
        while True:
            wait, reservation = self.try_acquire(tokens)
            if reservation is not None:
                return reservation
            await asleep(wait)

    def _settle(self, reservation: Reservation, tokens: float) -> None:
        with self._lock:
            tokens = max(0.0, float(tokens))
            if reservation.live:  # a request that left the window no longer counts
                self._used += tokens - reservation.tokens
            reservation.tokens = tokens


def _used_tokens(usage: Usage) -> int | None:
    """The tokens an answer used, where the server said."""
    if usage.total_tokens is not None:
        return usage.total_tokens
    if usage.prompt_tokens is not None and usage.completion_tokens is not None:
        return usage.prompt_tokens + usage.completion_tokens
    return None


class _Ticket:
    """An admitted attempt's reservation, settled by how the attempt ended."""

    __slots__ = ("_reservation",)

    def __init__(self, reservation: Reservation) -> None:
        self._reservation = reservation

    def succeeded(self, completion: Completion) -> None:
        """Answered: count the usage the server reported (the reservation when none)."""
        used = _used_tokens(completion.usage)
        if used is not None:
            self._reservation.settle(used)

    def failed(self, error: BaseException) -> None:
        """Refused with a 4xx: nothing was generated. Any other failure (a 5xx, a
        timeout, a dropped connection) may have been, and keeps its reservation."""
        status = getattr(error, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            self._reservation.settle(0)


class _Gate:
    """A batch's :class:`RateLimiter` as the gate every attempt of its calls passes."""

    __slots__ = ("_limiter",)

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def admit(self, request: ChatRequest) -> _Ticket:
        counted = self._limiter.limit.tokens_per_minute is not None
        tokens = reserved_tokens(request) if counted else 0
        return _Ticket(await self._limiter.acquire(tokens))


def _call_arguments(item: object, params: Mapping[str, Any]) -> tuple[object, dict[str, Any]]:
    """The messages and keyword arguments of one input."""
    if isinstance(item, ChatRequest):
        own: dict[str, Any] = {"model": item.model}
        for name in REQUEST_PARAMS:
            value = getattr(item, name)
            if name == "response_format" and item.output is not None:
                value = item.output.model or value
            if value not in (None, {}) and not (name in ("extra", "cache") and not value):
                own[name] = dict(value) if name == "extra" else value
        return item.messages, {**params, **own}
    return item, dict(params)


async def _inputs(inputs: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(inputs, AsyncIterable):
        async for item in inputs:
            yield item
    else:
        for item in inputs:
            yield item


class _Progress:
    """Progress on standard error: a tqdm bar (the optional ``progress`` extra), else a
    plain-text line; or nothing (``enabled`` false, or ``None`` off a terminal).

    The plain line is redrawn in place on a terminal (at most ten times a second) and
    printed as a new line every ``_LOG_EVERY`` seconds elsewhere; the last count is
    always shown when the batch ends.
    """

    _REDRAW_EVERY = 0.1
    _LOG_EVERY = 10.0

    def __init__(self, enabled: bool | None) -> None:
        self.bar: Any = None
        self.stream: Any = None  # the plain line's stream (a text file), when there is no bar
        self.count = 0
        self.failed = 0
        self.tokens = 0
        self._started = time.monotonic()
        self._shown_at: float | None = None
        self._terminal = False
        if enabled is False:
            return
        import sys

        if enabled is None and not sys.stderr.isatty():
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # no extra installed: a plain line says as much as a bar
            self.stream = sys.stderr
            self._terminal = sys.stderr.isatty()
            return
        self.bar = tqdm(unit="req", desc="chatport", dynamic_ncols=True)

    def update(self, result: BatchResult) -> None:
        self.count += 1
        if result.error is not None:
            self.failed += 1
        elif result.completion is not None:
            self.tokens += result.completion.usage.total_tokens or 0
        if self.bar is not None:
            self.bar.set_postfix(failed=self.failed, tokens=self.tokens, refresh=False)
            self.bar.update(1)
        elif self.stream is not None:
            now = time.monotonic()
            every = self._REDRAW_EVERY if self._terminal else self._LOG_EVERY
            if self._shown_at is None or now - self._shown_at >= every:
                self._show(now, final=False)

    def line(self, now: float | None = None) -> str:
        """The plain-text progress line: requests finished, failures, tokens, rate."""
        elapsed = (time.monotonic() if now is None else now) - self._started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        return (
            f"chatport: {self.count} requests ({self.failed} failed), "
            f"{self.tokens} tokens, {rate:.1f} requests/s"
        )

    def _show(self, now: float, final: bool) -> None:
        if self.stream is None:
            return
        self._shown_at = now
        text = self.line(now)
        if self._terminal:  # redrawn in place; ESC[K clears what a longer line left
            self.stream.write(f"\r{text}\033[K" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.stream is not None:
            self._show(time.monotonic(), final=True)
            self.stream = None


async def amap(
    client: Client,
    inputs: Iterable[Any] | AsyncIterable[Any],
    *,
    concurrency: int = 16,
    progress: bool | None = None,
    rate_limit: object = None,
    **params: Any,
) -> AsyncIterator[BatchResult]:
    """Answer every input, yielding :class:`BatchResult` items in input order."""
    import asyncio

    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequestError("must be a positive integer", field="concurrency")
    limiter = RateLimiter(RateLimit.coerce(rate_limit))
    gate = _Gate(limiter)
    bar = _Progress(progress)
    window = asyncio.Semaphore(concurrency * 4)  # in flight plus waiting to be yielded
    running = asyncio.Semaphore(concurrency)
    done: dict[int, BatchResult] = {}
    ready = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    total: int | None = None
    feeding_error: BaseException | None = None

    def listener(error: ChatportError, wait: float) -> None:
        if isinstance(error, RateLimitError) and wait > 0:
            limiter.pause(wait)

    async def run(index: int, item: object) -> None:
        async with running:
            listening = retry_listener.set(listener)
            gating = attempt_gate.set(gate)
            try:
                messages, kwargs = _call_arguments(item, params)
                completion = await client.acomplete(messages, **kwargs)
                result = BatchResult(index, item, completion, attempts=completion.attempts)
            except BaseException as exc:
                if is_stop(exc) or isinstance(exc, SystemExit):  # the caller's stop
                    raise
                error = as_chatport_error(exc, str(params.get("backend") or client.config.backend))
                result = BatchResult(index, item, error=error, attempts=error.attempts or 1)
            finally:
                attempt_gate.reset(gating)
                retry_listener.reset(listening)
        done[index] = result
        ready.set()

    async def feed() -> None:
        nonlocal total, feeding_error
        count = 0
        try:
            async for item in _inputs(inputs):
                await window.acquire()
                task = asyncio.create_task(run(count, item))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                count += 1
        except BaseException as exc:  # the user's input iterator failed: stop, report it
            feeding_error = exc
            if is_stop(exc) or isinstance(exc, SystemExit):
                raise
        finally:
            total = count
            ready.set()

    feeder = asyncio.create_task(feed())
    next_index = 0
    try:
        while True:
            while next_index in done:
                result = done.pop(next_index)
                next_index += 1
                window.release()
                bar.update(result)
                yield result
            if total is not None and next_index >= total:
                break
            ready.clear()
            if next_index in done or (total is not None and next_index >= total):
                continue
            await ready.wait()
        if feeding_error is not None:
            raise feeding_error
    finally:
        feeder.cancel()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(feeder, *tasks, return_exceptions=True)
        bar.close()


def map_sync(client: Client, inputs: Iterable[Any], **options: Any) -> Iterator[BatchResult]:
    """:func:`amap` for blocking code: the engine runs on a private event-loop thread.

    Closing the iterator early (``break``, Ctrl-C) cancels the calls still in flight.
    Whatever ends the engine's loop is handed to the consuming thread, which never
    waits for a loop that is gone.
    """
    import asyncio
    import queue

    # a small hand-over queue: the batch's own window already bounds what is buffered
    results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=int(options.get("concurrency", 16)))
    stop = threading.Event()  # the consumer has left
    ended = threading.Event()  # the batch's end (or its error) was handed over
    loop = asyncio.new_event_loop()

    def finish(kind: str, value: Any) -> None:
        """Hand the batch's end over once; give up when the consumer has left."""
        if ended.is_set():
            return
        ended.set()
        while not stop.is_set():
            try:
                results.put((kind, value), timeout=0.05)
                return
            except queue.Full:
                continue

    async def drive() -> None:
        try:
            async for result in amap(client, inputs, **options):
                while not stop.is_set():  # the consumer sets the pace; the loop never blocks
                    try:
                        results.put_nowait(("result", result))
                        break
                    except queue.Full:
                        await asyncio.sleep(0.01)
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consuming thread
            finish("error", exc)
        else:
            finish("end", None)

    main: asyncio.Task[None] | None = None

    def run_loop() -> None:
        nonlocal main
        asyncio.set_event_loop(loop)
        main = loop.create_task(drive())
        try:
            loop.run_until_complete(main)
        except BaseException as exc:  # a task stopped the loop (SystemExit, Ctrl-C)
            finish("error", exc)
        finally:
            _cancel_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())  # closes this loop's pools
            loop.close()
            finish("error", ChatportError("the batch stopped unexpectedly"))  # if nothing was

    thread = threading.Thread(target=run_loop, name="chatport-map", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = results.get()
            if kind == "result":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        if main is not None:
            import contextlib

            with contextlib.suppress(RuntimeError):  # the loop may have finished already
                loop.call_soon_threadsafe(main.cancel)
        thread.join()


def _cancel_tasks(loop: Any) -> None:
    """Cancel and wait for the tasks left on ``loop`` (after something stopped it)."""
    import asyncio
    import contextlib

    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        with contextlib.suppress(BaseException):  # stopping already: nothing to hand over
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
