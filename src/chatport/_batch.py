"""Batches: many requests through one :class:`~chatport.Client`, results in input order.

:func:`amap` is the engine. It pulls inputs lazily (an iterable or async iterable of any
size), keeps at most ``concurrency`` calls in flight and a bounded window of finished
results waiting for an earlier one, and yields a :class:`BatchResult` per input, in
input order, with failures as values. A shared :class:`RateLimiter` spaces requests and
tokens per minute, and pauses *every* worker when any call is told to wait
(``Retry-After`` on a 429), then recovers. The per-call retry policy and deadline stay
the core's. :func:`map_sync` runs the same engine on a private event-loop thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import ChatportError, InvalidRequestError, RateLimitError
from ._request import REQUEST_PARAMS, ChatRequest
from ._retry import retry_listener
from ._types import Completion

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["BatchResult", "RateLimit", "RateLimiter", "amap", "map_sync"]


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


class RateLimiter:
    """Paces the workers of one batch: spacing, a token budget, and shared pauses."""

    def __init__(self, limit: RateLimit | None, clock: Callable[[], float] = time.monotonic):
        self.limit = limit or RateLimit()
        self._clock = clock
        self._next_slot = 0.0
        self._tokens = self.limit.tokens_per_minute or 0.0
        self._tokens_at = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.pauses = 0

    def pause(self, seconds: float) -> None:
        """Hold every worker for ``seconds`` (a server asked a call to wait)."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self.pauses += 1

    def _refill(self, now: float) -> None:
        per_minute = self.limit.tokens_per_minute
        if per_minute is not None:
            self._tokens = min(per_minute, self._tokens + (now - self._tokens_at) * per_minute / 60)
            self._tokens_at = now

    def delay(self) -> float:
        """Seconds the next request must wait; reserves its request slot when it is 0."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            waits = [self._paused_until - now]
            if self.limit.tokens_per_minute is not None and self._tokens < 0:
                waits.append(-self._tokens * 60 / self.limit.tokens_per_minute)
            rpm = self.limit.requests_per_minute
            if rpm is not None:
                waits.append(self._next_slot - now)
            wait = max(waits)
            if wait > 0:
                return wait
            if rpm is not None:
                self._next_slot = max(self._next_slot, now) + 60 / rpm
            return 0.0

    def spend(self, tokens: int | None) -> None:
        """Take a finished call's tokens from the per-minute budget."""
        if tokens and self.limit.tokens_per_minute is not None:
            with self._lock:
                self._refill(self._clock())
                self._tokens -= tokens

    async def wait(self) -> None:
        """Wait until a request may start."""
        import asyncio

        while (seconds := self.delay()) > 0:
            await asyncio.sleep(seconds)


def _call_arguments(item: object, params: Mapping[str, Any]) -> tuple[object, dict[str, Any]]:
    """The messages and keyword arguments of one input."""
    if isinstance(item, ChatRequest):
        own: dict[str, Any] = {"model": item.model}
        for name in REQUEST_PARAMS:
            value = getattr(item, name)
            if name == "response_format" and item.output is not None:
                value = item.output.model or value
            if value not in (None, {}) and not (name == "extra" and not value):
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
            await limiter.wait()
            messages, kwargs = _call_arguments(item, params)
            token = retry_listener.set(listener)
            try:
                completion = await client.acomplete(messages, **kwargs)
                result = BatchResult(index, item, completion, attempts=completion.attempts)
                limiter.spend(completion.usage.total_tokens)
            except ChatportError as error:
                result = BatchResult(index, item, error=error, attempts=error.attempts or 1)
            finally:
                retry_listener.reset(token)
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
        except Exception as exc:  # the user's input iterator failed: stop, report it
            feeding_error = exc
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
    """
    import asyncio
    import queue

    # a small hand-over queue: the batch's own window already bounds what is buffered
    results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=int(options.get("concurrency", 16)))
    stop = threading.Event()
    loop = asyncio.new_event_loop()

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
            results.put(("error", exc))
        else:
            results.put(("end", None))

    main: asyncio.Task[None] | None = None

    def run_loop() -> None:
        nonlocal main
        asyncio.set_event_loop(loop)
        main = loop.create_task(drive())
        try:
            loop.run_until_complete(main)
        except BaseException:  # cancelled on close; nothing left to hand over
            pass
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())  # closes this loop's pools
            loop.close()

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
