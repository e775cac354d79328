"""A batch's rate limit holds at the server: no window sees more than the limits.

Every attempt passes the limiter (retries and fallbacks included), tokens are reserved
before a request is sent and settled with its usage, and a ``Retry-After`` pauses the
whole batch even when the call that got it gives up. Checked on request times recorded
by the server: never wall times, and only "never more than N in a window", which a slow
machine cannot break. ``test_rate_limiter.py`` checks the same on a simulated clock.

The batches here wait on the real clock (the spacing the server sees is the point), for
seconds each: they are marked ``slow``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import chatport
from chatport._retry import retry_listener
from chatport.local import Endpoint, Fault, LocalWorkspace
from chatport.testing import FakeBackend

from ..raw_server import RawServer, Received

MODEL = "limit-echo"
DOWN = "limit-down"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The endpoints this module's shared workspace (chatport.testing) serves."""
    return {"endpoints": [Endpoint(MODEL, "echo"), Endpoint(DOWN, "echo")], "seed": 11}


def most_in_window(times: Sequence[float], width: float) -> int:
    """The most of ``times`` inside any half-open window ``[t, t + width)``."""
    ordered = sorted(times)
    best = end = 0
    for start, at in enumerate(ordered):
        while end < len(ordered) and ordered[end] < at + width:
            end += 1
        best = max(best, end - start)
    return best


def most_tokens_in_window(events: Sequence[tuple[float, float]], width: float) -> float:
    """The most tokens of ``(time, tokens)`` events inside any window ``[t, t + width)``."""
    ordered = sorted(events)
    best = inside = 0.0
    end = 0
    for at, tokens in ordered:
        while end < len(ordered) and ordered[end][0] < at + width:
            inside += ordered[end][1]
            end += 1
        best = max(best, inside)
        inside -= tokens  # the window moves past this event
    return best


def test_window_helpers() -> None:
    assert most_in_window([0.0, 0.5, 0.99, 1.0, 1.2], 1.0) == 4  # [0.5, 1.5)
    assert most_in_window([0.0, 1.0, 2.0], 1.0) == 1
    assert most_in_window([], 1.0) == 0
    assert most_tokens_in_window([(0, 5), (59.9, 5), (60, 7)], 60) == 12


def posts(workspace: LocalWorkspace) -> list[Any]:
    return [r for r in workspace.requests if r.method == "POST"]


def echo_tokens(body: dict[str, Any]) -> int:
    """What the local echo endpoint charges: prompt words, then as many echoed back
    (up to ``max_tokens``)."""
    words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
    answer = len(str(body["messages"][-1]["content"]).split())
    limit = body.get("max_tokens")
    return words + (answer if limit is None else min(answer, limit))


# -- against a server that records when each request arrived ------------------------------


async def _first_results(
    client: chatport.Client, inputs: list[str], seconds: float, **options: Any
) -> list[chatport.BatchResult]:
    """What a batch answers within ``seconds`` (then it is left: its calls are cancelled)."""
    got: list[chatport.BatchResult] = []

    async def consume() -> None:
        async for result in client.amap(inputs, **options):
            got.append(result)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(consume(), seconds)
    return got


@pytest.mark.slow
def test_tokens_per_minute_holds_with_concurrency_far_above_the_budget(
    module_workspace: LocalWorkspace,
) -> None:
    # 400-token calls, 4 000 tokens a minute, 64 workers: ten calls a minute at most
    prompts = [f"p{i} " + "lorem " * 199 for i in range(64)]

    async def main() -> list[chatport.BatchResult]:
        async with chatport.Client(backend="rest", model=MODEL, config={}) as client:
            return await _first_results(
                client,
                prompts,
                3.0,
                concurrency=64,
                max_tokens=200,
                rate_limit={"tokens_per_minute": 4000},
            )

    results = asyncio.run(main())
    assert results, "no call was admitted at all"
    assert all(r.ok for r in results)
    sent = [(r.time, echo_tokens(r.body)) for r in posts(module_workspace)]
    assert {tokens for _, tokens in sent} == {400}
    assert most_tokens_in_window(sent, 60) <= 4000
    # what the server counted is what the calls report
    assert all(r.unwrap().usage.total_tokens == 400 for r in results)


def request_spacing_holds(times: Sequence[float], rpm: float) -> None:
    """No window of ``k`` spacings holds more than ``k`` requests (one more for the
    time a request takes to reach the server), nor any minute more than ``rpm``."""
    spacing = 60 / rpm
    for k in (2, 3, 4):
        assert most_in_window(times, k * spacing) <= k + 1, (k, sorted(times))
    assert most_in_window(times, 60) <= rpm


def warm_batch(
    prompts: list[str],
    settings: dict[str, Any],
    ready: Callable[[], None],
    **options: Any,
) -> list[chatport.BatchResult]:
    """``amap`` on a client that has answered once on the same event loop, so the first
    request is not held up by the backend's one-time setup (which would bunch it with
    the next at the server); ``ready`` runs between the two (to arm the faults)."""

    async def main() -> list[chatport.BatchResult]:
        async with chatport.Client(backend="rest", config={}, **settings) as client:
            await client.acomplete("warm up")
            ready()
            return [result async for result in client.amap(prompts, **options)]

    return asyncio.run(main())


@pytest.mark.slow
@pytest.mark.parametrize("status", [502, 503])
def test_retries_pass_the_requests_per_minute_limit(
    module_workspace: LocalWorkspace, status: int
) -> None:
    def ready() -> None:
        module_workspace.clear_requests()
        module_workspace.set_faults(MODEL, Fault.error(status, times=8, retry_after=0))

    prompts = [f"retried {i}" for i in range(4)]
    settings = {"model": MODEL, "max_retries": 4}
    results = warm_batch(prompts, settings, ready, concurrency=16, rate_limit=240)
    assert [r.unwrap().text for r in results] == prompts
    sent = posts(module_workspace)
    assert len(sent) == 12  # every failure was retried: 8 faults and 4 answers
    assert sum(r.attempts for r in results) == 12
    request_spacing_holds([r.time for r in sent], 240)


@pytest.mark.slow
def test_fallbacks_pass_the_requests_per_minute_limit(module_workspace: LocalWorkspace) -> None:
    def ready() -> None:
        module_workspace.clear_requests()
        module_workspace.set_faults(DOWN, Fault.error(500))  # never retried: handed over

    prompts = [f"handed over {i}" for i in range(5)]
    settings = {
        "model": DOWN,
        "max_retries": 0,
        "fallbacks": [{"backend": "rest", "model": MODEL}],
    }
    results = warm_batch(prompts, settings, ready, concurrency=16, rate_limit=240)
    assert [r.unwrap().text for r in results] == prompts
    assert {r.unwrap().model for r in results} == {MODEL}
    sent = posts(module_workspace)
    assert Counter(r.path.split("/")[-2] for r in sent) == {DOWN: 5, MODEL: 5}
    request_spacing_holds([r.time for r in sent], 240)


class DroppingServer(RawServer):
    """A :class:`RawServer` answering ``ok`` that, once armed, closes the connection
    without an answer on its next ``drops`` inference requests, noting when each
    inference request arrived."""

    def __init__(self) -> None:
        super().__init__(mode="ok")
        self.drops = 0
        self.arrivals: list[float] = []

    def arm(self, drops: int) -> None:
        with self._lock:
            self.drops = drops
            self.arrivals.clear()

    def _answer(self, conn: socket.socket, request: Received, started: float) -> bool:
        if request.method == "POST":
            with self._lock:
                self.arrivals.append(time.monotonic())
                if len(self.arrivals) <= self.drops:
                    return False  # the connection closes: no answer at all
        return super()._answer(conn, request, started)


@pytest.mark.slow
def test_retries_of_dropped_connections_pass_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    with DroppingServer() as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-limit-test")
        settings = {"model": "m", "max_retries": 4}
        results = warm_batch(
            ["a", "b", "c"], settings, lambda: server.arm(6), concurrency=16, rate_limit=240
        )
        arrivals = list(server.arrivals)
    assert all(r.ok for r in results)
    assert len(arrivals) == 9  # six dropped, each retried
    assert sum(r.attempts for r in results) == 9
    request_spacing_holds(arrivals, 240)


# -- Retry-After -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_retry_after_beyond_the_deadline_fails_at_once_and_pauses_the_batch(
    module_workspace: LocalWorkspace,
) -> None:
    module_workspace.set_faults(MODEL, Fault.rate_limit(times=1, retry_after=4))
    prompts = [f"paused {i}" for i in range(8)]
    with chatport.Client(
        backend="rest", model=MODEL, timeout=2, max_retries=2, config={}
    ) as client:
        results = list(client.map(prompts, concurrency=2))
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1
    assert isinstance(failed[0].error, chatport.RateLimitError)
    assert failed[0].attempts == 1  # not retried: the wait is longer than its deadline
    assert all(r.unwrap().text == r.input for r in results if r.ok)
    sent = posts(module_workspace)
    limited = next(r for r in sent if r.status == 429)
    # the call gave up, and no worker sent anything while the server asked to wait (but
    # the one other call already on its way when the 429 was answered)
    early = [r for r in sent if limited.time < r.time < limited.time + 3.5]
    assert len(early) <= 1
    # the other calls waited for the pause, not against their own 2 s deadline
    assert sum(r.status == 200 for r in sent) == 7


def test_the_listener_hears_a_wait_the_call_cannot_honour() -> None:
    heard: list[tuple[str, float]] = []
    client = chatport.Client(backend="fake", model="m", timeout=1, max_retries=2, config={})
    fake = client.backend()
    assert isinstance(fake, FakeBackend)
    fake.enqueue(chatport.RateLimitError("slow down", status_code=429, retry_after=30))
    token = retry_listener.set(lambda error, wait: heard.append((type(error).__name__, wait)))
    try:
        with pytest.raises(chatport.RateLimitError):
            client.complete("q")
    finally:
        retry_listener.reset(token)
    assert heard == [("RateLimitError", 30.0)]
    assert len(fake.history) == 1  # failed at once
