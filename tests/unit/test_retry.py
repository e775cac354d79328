"""The core retry, deadline and fallback policy, on the fake backend (no network).

Every test runs on a virtual clock (``virtual_clock``, from ``chatport.testing``): a
retry's wait returns at once and moves the clock on, and the call's deadline reads the
same clock, so a test checks each wait exactly and never sleeps it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import chatport
from chatport import Chunk
from chatport._deadline import now
from chatport._retry import MAX_RETRY_AFTER, RetryPolicy
from chatport.backends.kit import Clock
from chatport.testing import FakeBackend, VirtualClock, temporary_plugin

pytestmark = pytest.mark.usefixtures("virtual_clock")


class Attempts:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, ...]] = []  # type: ignore[misc]

    @chatport.hookimpl
    def chatport_before_request(
        self, request: chatport.ChatRequest, backend: str, attempt: int
    ) -> None:
        self.seen.append(("before", backend, request.model, attempt))

    @chatport.hookimpl
    def chatport_on_error(self, error: chatport.ChatportError, backend: str) -> None:
        self.seen.append(("error", backend, type(error).__name__))

    @chatport.hookimpl
    def chatport_after_completion(self, completion: chatport.Completion, backend: str) -> None:
        self.seen.append(("after", backend, completion.model))


@pytest.fixture
def observed() -> Iterator[Attempts]:
    plugin = Attempts()
    with temporary_plugin(plugin, "attempts"):
        yield plugin


def fake_client(**settings: Any) -> tuple[chatport.Client, FakeBackend]:
    client = chatport.Client(backend="fake", model="m", config={}, **settings)
    backend = client.backend()
    assert isinstance(backend, FakeBackend)
    return client, backend


def ask(client: chatport.Client, asynchronous: bool) -> chatport.Completion:
    """One call, blocking or async."""
    return asyncio.run(client.acomplete("q")) if asynchronous else client.complete("q")


def rate_limited(retry_after: float | None = 0.01) -> chatport.RateLimitError:
    return chatport.RateLimitError("slow down", status_code=429, retry_after=retry_after)


def server_error(status: int) -> chatport.ServerError:
    return chatport.ServerError(f"HTTP {status}", status_code=status)


def test_rate_limit_then_success(observed: Attempts) -> None:
    client, fake = fake_client()
    fake.enqueue(rate_limited(), "ok")
    assert client.complete("q").text == "ok"
    assert observed.seen == [
        ("before", "fake", "m", 1),
        ("error", "fake", "RateLimitError"),
        ("before", "fake", "m", 2),
        ("after", "fake", "m"),
    ]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    client, fake = fake_client(max_retries=1)
    fake.enqueue(server_error(status), "recovered")
    assert client.complete("q").text == "recovered"
    assert len(fake.history) == 2


@pytest.mark.parametrize(
    "error",
    [
        server_error(500),
        chatport.BadRequestError("bad", status_code=400),
        chatport.AuthenticationError("who", status_code=401),
        chatport.PermissionDeniedError("no", status_code=403),
        chatport.NotFoundError("gone", status_code=404),
        chatport.ResponseFormatError("garbage"),
        chatport.APITimeoutError("slow"),
    ],
)
def test_not_retried(error: chatport.APIError) -> None:
    client, fake = fake_client(max_retries=3)
    fake.enqueue(error, "never reached")
    with pytest.raises(type(error)):
        client.complete("q")
    assert len(fake.history) == 1


def test_timeouts_retry_only_when_allowed() -> None:
    client, fake = fake_client(max_retries=1, retry_on_timeout=True)
    fake.enqueue(chatport.APITimeoutError("slow"), "second try")
    assert client.complete("q").text == "second try"


def test_connection_errors_back_off_and_give_up(virtual_clock: VirtualClock) -> None:
    client, fake = fake_client(max_retries=2)
    fake.enqueue(*(chatport.APIConnectionError("refused") for _ in range(3)))
    with pytest.raises(chatport.APIConnectionError):
        client.complete("q")
    assert len(fake.history) == 3
    first, second = virtual_clock.waits  # full jitter: up to 0.25 s, then up to 0.5 s
    assert 0 < first <= 0.25
    assert 0 < second <= 0.5


def test_retry_after_is_honoured(virtual_clock: VirtualClock) -> None:
    client, fake = fake_client(max_retries=1)
    fake.enqueue(rate_limited(0.3), "after the wait")
    assert client.complete("q").text == "after the wait"
    assert virtual_clock.waits == [0.3]


@pytest.mark.timeout(10)  # a real 30 s wait would fail here
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_30_s_retry_after_is_waited_on_the_clock_not_in_real_time(
    virtual_clock: VirtualClock, asynchronous: bool
) -> None:
    client, fake = fake_client(max_retries=1)
    fake.enqueue(rate_limited(30), "after the wait")
    completion = ask(client, asynchronous)
    assert (completion.text, completion.attempts) == ("after the wait", 2)
    assert virtual_clock.waits == [30.0]
    assert virtual_clock.advanced >= 30


def test_the_time_waited_counts_against_the_deadline(virtual_clock: VirtualClock) -> None:
    """A 30 s wait leaves 15 s of a 45 s timeout: a second 30 s wait cannot fit."""
    client, fake = fake_client(max_retries=5, timeout=45)
    fake.enqueue(rate_limited(30), rate_limited(30), "too late")
    with pytest.raises(chatport.RateLimitError) as info:
        client.complete("q")
    assert info.value.attempts == 2
    assert virtual_clock.waits == [30.0]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_no_retry_that_cannot_finish_before_the_deadline(
    virtual_clock: VirtualClock, asynchronous: bool
) -> None:
    client, fake = fake_client(max_retries=5, timeout=1)
    fake.enqueue(rate_limited(5.0), "too late")
    started = now()
    with pytest.raises(chatport.RateLimitError) as info:
        ask(client, asynchronous)
    assert len(fake.history) == 1
    assert info.value.retry_after == 5.0
    assert now() - started < 5.0
    assert virtual_clock.waits == []  # it never slept the Retry-After it was given


def test_policy_delays() -> None:
    policy = RetryPolicy(max_retries=2, timeout=100)
    deadline = now() + 100
    assert policy.decide(rate_limited(2.0), 0, deadline) == (2.0, "the server's Retry-After")
    assert policy.decide(rate_limited(MAX_RETRY_AFTER + 1), 0, deadline) == (
        None,
        f"the server's Retry-After is over {MAX_RETRY_AFTER:g} s",
    )
    assert policy.decide(rate_limited(1.0), 2, deadline) == (
        None,
        "no retry left (max_retries = 2)",
    )
    assert policy.decide(rate_limited(5.0), 0, now() + 3) == (
        None,
        "a retry could not finish before the call's deadline",
    )
    assert policy.decide(chatport.BadRequestError("x"), 0, deadline) == (None, "not retryable")
    decisions = [policy.decide(chatport.APIConnectionError("x"), n, deadline) for n in (0, 1)]
    assert all(why == "backoff" for _, why in decisions)
    waits = [wait for wait, _ in decisions]
    assert all(w is not None and 0 <= w <= 0.25 * 2**n for n, w in enumerate(waits))


def test_fallbacks(observed: Attempts) -> None:
    fallbacks = [{"backend": "fake", "model": "backup-1"}, {"backend": "fake", "model": "backup-2"}]
    client, fake = fake_client(max_retries=0, fallbacks=fallbacks)
    fake.enqueue(server_error(503), server_error(500), "served by backup-2")
    completion = client.complete("q")
    assert (completion.text, completion.model, completion.backend) == (
        "served by backup-2",
        "backup-2",
        "fake",
    )
    assert [m.model for m in fake.history] == ["m", "backup-1", "backup-2"]
    assert [e for e in observed.seen if e[0] == "before"] == [
        ("before", "fake", "m", 1),
        ("before", "fake", "backup-1", 2),
        ("before", "fake", "backup-2", 3),
    ]
    assert [e[2] for e in observed.seen if e[0] == "error"] == ["ServerError", "ServerError"]


def test_fallbacks_do_not_hide_client_errors() -> None:
    client, fake = fake_client(max_retries=0, fallbacks=[{"backend": "fake", "model": "backup"}])
    fake.enqueue(chatport.BadRequestError("bad", status_code=400), "unused")
    with pytest.raises(chatport.BadRequestError):
        client.complete("q")
    assert len(fake.history) == 1


def test_all_fallbacks_failing_raises_the_last_error() -> None:
    client, fake = fake_client(max_retries=0, fallbacks=[{"backend": "fake", "model": "b"}])
    fake.enqueue(rate_limited(), chatport.APITimeoutError("slow"))
    with pytest.raises(chatport.APITimeoutError, match="slow"):
        client.complete("q")
    assert [m.model for m in fake.history] == ["m", "b"]


def test_fallbacks_from_the_config_file(workdir: Any) -> None:
    (workdir / "chatport.toml").write_text(
        'backend = "fake"\nmodel = "primary"\nmax_retries = 0\nfallbacks = [{backend = "fake", model = "secondary"}]\n'
    )
    with chatport.Client() as client:
        fake = client.backend()
        assert isinstance(fake, FakeBackend)
        fake.enqueue(rate_limited())
        assert client.complete("hi").model == "secondary"


def test_stream_retried_before_the_first_chunk_only() -> None:
    client, fake = fake_client(max_retries=2)
    fake.enqueue(rate_limited(), ["a", "b", Chunk(finish_reason="stop")])
    assert "".join(c.text for c in client.stream("q")) == "ab"
    fake.enqueue(["a", chatport.APIConnectionError("dropped")], ["never"])
    stream = client.stream("q")
    assert next(stream).text == "a"
    with pytest.raises(chatport.APIConnectionError, match="dropped"):
        next(stream)
    assert fake.pending == 1  # the dropped stream was not retried


def test_async_retries_and_streams() -> None:
    client, fake = fake_client(max_retries=1)

    async def main() -> tuple[str, str]:
        fake.enqueue(rate_limited(), "async ok")
        completion = await client.acomplete("q")
        fake.enqueue(server_error(503), ["x", "y"])
        streamed = "".join([c.text async for c in client.astream("q")])
        return completion.text, streamed

    assert asyncio.run(main()) == ("async ok", "xy")


def test_a_backend_is_told_which_attempt_it_runs(fresh_plugins: None) -> None:
    """Backends read the attempt number (``Backend.attempt``), never guess it from time."""
    seen: list[int] = []

    class Flaky(chatport.Backend):
        def complete(self, request: chatport.ChatRequest) -> chatport.Completion:
            seen.append(self.attempt)
            if len(seen) < 3:
                raise chatport.ServerError("busy", status_code=503, backend=self.name)
            return chatport.Completion(text="ok")

    class Plugin:
        @chatport.hookimpl
        def chatport_register_backends(self, registry: chatport.BackendRegistry) -> None:
            registry.add("flaky", Flaky)

    with temporary_plugin(Plugin(), "flaky-plugin"):
        client = chatport.Client(backend="flaky", model="m", max_retries=2, config={})
        assert client.complete("hi").attempts == 3
    assert seen == [1, 2, 3]
    assert Flaky(chatport.BackendSettings(name="x")).attempt == 1  # outside a call


def test_clocks_closed_out_of_order_from_two_threads_leave_the_system_clock() -> None:
    first, second = VirtualClock(), VirtualClock()
    first.sleep(1000)
    second.sleep(2000)
    first_open, second_open, first_closed = (threading.Event() for _ in range(3))

    def hold_first() -> None:  # opens first, closes first
        with first:
            first_open.set()
            second_open.wait(timeout=5)
        first_closed.set()

    def hold_second() -> None:  # opens second, closes last
        first_open.wait(timeout=5)
        with second:
            second_open.set()
            first_closed.wait(timeout=5)

    threads = [threading.Thread(target=hold_first), threading.Thread(target=hold_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert first_closed.is_set()
    assert abs(now() - time.monotonic()) < 1  # no virtual offset left behind


def test_a_read_deadline_runs_on_real_time(virtual_clock: VirtualClock) -> None:
    """Another call's virtual wait does not cut short a read that is under way."""
    clock = Clock.for_call(5.0, stream=True)
    virtual_clock.sleep(100)  # another call waits out a Retry-After meanwhile
    assert clock.check("rest") > 4
    clock.tick()
    assert clock.left() > 4
