"""Batches: Client.map / amap, in input order, errors as values, a shared rate limiter."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

import chatport
from chatport import BatchResult, ChatRequest, RateLimit
from chatport._batch import RateLimiter
from chatport.local import Endpoint, Fault, LocalWorkspace
from chatport.testing import FakeBackend

MODEL = "batch-echo"


def fake_client(**settings: Any) -> tuple[chatport.Client, FakeBackend]:
    client = chatport.Client(backend="fake", model="m", config={}, **settings)
    backend = client.backend()
    assert isinstance(backend, FakeBackend)
    return client, backend


def test_results_come_back_in_input_order_with_errors_as_values() -> None:
    client, fake = fake_client(max_retries=0)
    prompts = [f"question {i}" for i in range(50)]
    # a fixed reply for some calls; the fake answers the others with their own prompt
    fake.enqueue(chatport.BadRequestError("bad one", status_code=400))
    results = list(client.map(prompts, concurrency=8))
    assert [r.index for r in results] == list(range(50))
    assert [r.input for r in results] == prompts
    failed = [r for r in results if not r.ok]
    assert len(failed) == 1
    assert isinstance(failed[0].error, chatport.BadRequestError)
    assert failed[0].attempts == 1
    with pytest.raises(chatport.BadRequestError):
        failed[0].unwrap()
    answered = [r for r in results if r.ok]
    assert all(r.unwrap().text == r.input for r in answered)
    assert sorted(request.messages[-1].text for request in fake.history) == sorted(prompts)


def test_inputs_are_read_lazily() -> None:
    client, _ = fake_client()
    pulled = 0

    def endless() -> Iterator[str]:
        nonlocal pulled
        while True:
            pulled += 1
            yield f"item {pulled}"

    results = client.map(endless(), concurrency=4)
    first = [next(results) for _ in range(10)]
    results.close()  # type: ignore[attr-defined]
    assert [r.input for r in first] == [f"item {i}" for i in range(1, 11)]
    # what was consumed, the batch's window and the hand-over queue; never the whole input
    assert pulled <= 10 + 4 * 4 + 4 + 2


def test_every_input_shape() -> None:
    class Answer(pydantic.BaseModel):
        answer: str

    client, fake = fake_client()
    fake.enqueue("plain", "from a list", "from a request", '{"answer": "typed"}')
    inputs: list[Any] = [
        "a prompt",
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}],
        ChatRequest.build("a request", model="other-model", max_tokens=7),
        ChatRequest.build("typed", model="m", response_format=Answer),
    ]
    results = list(client.map(inputs, concurrency=1))
    assert [r.unwrap().text for r in results[:3]] == ["plain", "from a list", "from a request"]
    assert results[3].unwrap().parsed == Answer(answer="typed")
    sent = fake.history
    assert sent[1].messages[0].role == "system"
    assert (sent[2].model, sent[2].max_tokens) == ("other-model", 7)


def test_call_parameters_apply_to_every_input() -> None:
    client, fake = fake_client()
    list(client.map(["a", "b"], max_tokens=3, temperature=0.5))
    assert {(r.max_tokens, r.temperature) for r in fake.history} == {(3, 0.5)}


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"rate_limit": "fast"}, "rate_limit"),
        ({"rate_limit": {"rpm": 5}}, "rate_limit"),
        ({"rate_limit": {"tokens_per_minute": -1}}, "rate_limit.tokens_per_minute"),
        ({"rate_limit": float("nan")}, "rate_limit.requests_per_minute"),
    ],
)
def test_bad_batch_options(options: dict[str, Any], field: str) -> None:
    client, fake = fake_client()
    with pytest.raises(chatport.InvalidRequestError) as info:
        list(client.map(["a"], **options))
    assert info.value.field == field
    assert fake.history == []


def test_the_input_iterator_failing_is_raised_after_what_was_done() -> None:
    client, _ = fake_client()

    def broken() -> Iterator[str]:
        yield "one"
        yield "two"
        raise OSError("the file went away")

    results = client.map(broken(), concurrency=1)
    seen: list[BatchResult] = [next(results), next(results)]
    with pytest.raises(OSError, match="went away"):
        next(results)
    assert [r.input for r in seen] == ["one", "two"]


def test_amap_takes_an_async_iterable() -> None:
    client, _ = fake_client()

    async def source() -> Any:
        for i in range(5):
            await asyncio.sleep(0)
            yield f"async {i}"

    async def main() -> list[str]:
        return [r.unwrap().text async for r in client.amap(source(), concurrency=2)]

    assert asyncio.run(main()) == [f"async {i}" for i in range(5)]


def test_progress_bar_counts_failures_and_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    client, fake = fake_client(max_retries=0)
    fake.enqueue(chatport.ServerError("down", status_code=500))
    list(client.map(["one two", "three four five"], concurrency=1, progress=True))
    err = capsys.readouterr().err
    assert "2/" in err or "2req" in err.replace(" ", "")
    assert "failed=1" in err
    assert "tokens=6" in err


# -- the rate limiter ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_spaces_requests() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(requests_per_minute=60), clock)
    assert limiter.delay() == 0  # the first goes at once
    assert limiter.delay() == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.delay() == 0


def test_tokens_per_minute_budget_is_a_window_of_reservations() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(tokens_per_minute=600), clock)
    wait, first = limiter.try_acquire(400)  # reserved before it is sent
    assert wait == 0
    assert first is not None
    # 400 + 300 > 600: the next waits until the first leaves the window, a minute on
    assert limiter.delay(300) == pytest.approx(60.0)
    first.settle(250)  # it used less than it reserved: the rest is free again
    assert limiter.delay(300) == 0
    clock.now += 30.0
    # 250 + 300 + 100 > 600: until the first leaves the window, 30 s on
    assert limiter.delay(100) == pytest.approx(30.0)
    clock.now += 30.0
    assert limiter.delay(100) == 0
    assert limiter.delay(700) == pytest.approx(60.0)  # more than the budget: a whole window


def test_a_pause_holds_every_worker_then_recovers() -> None:
    clock = Clock()
    limiter = RateLimiter(None, clock)
    limiter.pause(2.0)
    assert limiter.delay() == pytest.approx(2.0)
    assert limiter.delay() == pytest.approx(2.0)  # every worker, not just one
    limiter.pause(1.0)  # a shorter pause does not cut the longer one
    assert limiter.delay() == pytest.approx(2.0)
    clock.now += 2.0
    assert limiter.delay() == 0
    assert limiter.pauses == 1


# -- against the local workspace, with faults ---------------------------------------------


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The endpoints this module's shared workspace (chatport.testing) serves."""
    return {"endpoints": [Endpoint(MODEL, "echo"), Endpoint("batch-slow", "echo")], "seed": 3}


@pytest.mark.parametrize("backend", ["rest", "openai", "mlflow", "databricks-sdk"])
def test_fault_mix_every_input_once_in_order(
    module_workspace: LocalWorkspace, backend: str, sdks_imported: None
) -> None:
    module_workspace.set_faults(
        MODEL,
        Fault.error(503, probability=0.05, retry_after=0),
        Fault(status=429, probability=0.03, retry_after=1),
        Fault(latency=3.0, probability=0.02),
        Fault.slow(3.0, times=1),  # at least one call outlives its deadline
    )
    prompts = [f"prompt number {i}" for i in range(120)]
    with chatport.Client(
        backend=backend, model=MODEL, timeout=2, max_retries=2, config={}
    ) as client:
        results = list(client.map(prompts, concurrency=16))
    assert [r.input for r in results] == prompts
    errors = Counter(type(r.error).__name__ for r in results if not r.ok)
    assert all(r.unwrap().text == r.input for r in results if r.ok)
    assert set(errors) <= {"APITimeoutError", "ServerError", "RateLimitError"}
    assert errors["APITimeoutError"] >= 1  # the slow calls hit their deadline, as values
    # no request was sent twice except by the retry policy
    sent = Counter(
        r.body["messages"][-1]["content"]
        for r in module_workspace.requests
        if r.method == "POST" and isinstance(r.body, dict)
    )
    # (an attempt may also time out before it reaches a loaded server: never more than one
    # request per attempt)
    assert all(sent[r.input] <= r.attempts for r in results)
    assert all(sent[r.input] >= 1 for r in results if r.ok)
    assert sum(sent.values()) <= sum(r.attempts for r in results)


def test_a_retry_after_pauses_the_whole_batch(module_workspace: LocalWorkspace) -> None:
    module_workspace.set_faults(MODEL, Fault.rate_limit(times=1, retry_after=2))
    with chatport.Client(backend="rest", model=MODEL, config={}) as client:
        results = list(client.map([f"p{i}" for i in range(12)], concurrency=4))
    assert all(r.ok for r in results)
    posts = [r for r in module_workspace.requests if r.method == "POST"]
    limited = next(r for r in posts if r.status == 429)
    # after the 429 reached the client, no worker started a request until the pause ended
    early = [r for r in posts if limited.time + 0.5 < r.time < limited.time + 1.8]
    assert early == []
    assert sum(r.status == 200 for r in posts) == 12


def test_requests_per_minute_against_the_workspace(module_workspace: LocalWorkspace) -> None:
    prompts = ["a", "b", "c", "d", "e", "f"]
    with chatport.Client(backend="rest", model=MODEL, config={}) as client:
        results = list(client.map(prompts, concurrency=6, rate_limit=600))
    assert all(r.ok for r in results)
    times = sorted(r.time for r in module_workspace.requests if r.method == "POST")
    # 600 a minute is one request every 0.1 s: 0.4 s from the second request to the sixth.
    # The log has arrival times at the server, and one request's new connection can delay
    # its arrival by some tens of ms (seen: 0.378 s on a loaded CI run), so allow one
    # interval's worth less; without the limiter all six arrive within a few ms.
    assert times[-1] - times[1] >= 0.3


def test_leaving_early_cancels_what_is_in_flight(module_workspace: LocalWorkspace) -> None:
    module_workspace.set_faults("batch-slow", Fault.slow(1.0))
    with chatport.Client(backend="rest", model="batch-slow", config={}) as client:
        results = client.map((f"slow {i}" for i in range(1000)), concurrency=4)
        next(results)
        results.close()  # type: ignore[attr-defined]
        time.sleep(1.0)  # requests already on the wire when the loop ended may still land
        sent = sum(1 for r in module_workspace.requests if r.method == "POST")
        time.sleep(1.5)
        # nothing new starts once the loop is left: the count stays where it settled
        assert sum(1 for r in module_workspace.requests if r.method == "POST") == sent
    assert sent < 20
    assert not [t for t in threading.enumerate() if t.name == "chatport-map"]


@pytest.mark.parametrize("backend", ["mlflow", "databricks-sdk"])
def test_module_level_map_on_sync_only_backends(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    results = list(chatport.map([f"x{i}" for i in range(20)], backend=backend, model=MODEL))
    assert [r.unwrap().text for r in results] == [f"x{i}" for i in range(20)]
    assert {r.unwrap().backend for r in results} == {backend}
