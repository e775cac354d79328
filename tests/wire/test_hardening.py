"""Bounded threads, cancellable threaded streams, heavy async load and fork safety."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import chatport
from chatport._deadline import MAX_DEADLINE_WORKERS
from chatport.local import Fault, LocalWorkspace

from .test_deadline_matrix import client

MODEL = "databricks-gpt-5"
TEN_WORDS = "one two three four five six seven eight nine ten"


def deadline_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "chatport-deadline")


@pytest.mark.parametrize("backend", ["mlflow", "databricks-sdk"])
def test_deadline_threads_are_bounded_and_end_with_close(server_factory: Any, backend: str) -> None:
    server_factory("drip")
    before = deadline_threads()
    with client(backend, timeout=1.0) as c, ThreadPoolExecutor(40) as callers:
        futures = [callers.submit(c.complete, "hello") for _ in range(40)]
        outcomes = [future.exception(timeout=60) for future in futures]
        peak = deadline_threads() - before
    assert all(isinstance(o, chatport.APITimeoutError) for o in outcomes), outcomes
    assert peak <= MAX_DEADLINE_WORKERS
    ends = time.monotonic() + 10
    while deadline_threads() > before and time.monotonic() < ends:
        time.sleep(0.05)
    assert deadline_threads() <= before  # close() released every worker


@pytest.mark.parametrize("backend", ["mlflow", "databricks-sdk"])
def test_closing_a_threaded_async_stream_closes_the_connection(
    local_workspace: LocalWorkspace, backend: str
) -> None:
    local_workspace.set_faults(MODEL, Fault.slow_stream(0.2))

    async def main() -> str:
        async with chatport.Client(backend=backend, model=MODEL, config={}) as c:
            stream = c.astream(TEN_WORDS)
            first = await stream.__anext__()
            await stream.aclose()  # type: ignore[attr-defined]
            return first.text

    assert asyncio.run(main())  # no "generator already executing"
    ends = time.monotonic() + 5
    while local_workspace.stream_disconnects < 1 and time.monotonic() < ends:
        time.sleep(0.05)
    assert local_workspace.stream_disconnects == 1


@pytest.mark.parametrize("backend", ["mlflow", "databricks-sdk"])
def test_cancelling_a_threaded_async_stream_raises_cancelled_error(
    local_workspace: LocalWorkspace, backend: str
) -> None:
    local_workspace.set_faults(MODEL, Fault.slow_stream(0.2))

    async def main() -> None:
        async with chatport.Client(backend=backend, model=MODEL, config={}) as c:
            started = asyncio.Event()

            async def consume() -> None:
                async for _ in c.astream(TEN_WORDS):
                    started.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(started.wait(), timeout=20)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    ends = time.monotonic() + 5
    while local_workspace.stream_disconnects < 1 and time.monotonic() < ends:
        time.sleep(0.05)
    assert local_workspace.stream_disconnects == 1


def test_an_unbounded_gather_of_1000_calls_loses_nothing() -> None:
    """What users write: ``gather`` of 1,000 ``acomplete`` calls, 5% of requests 503.

    1,000 rather than 2,000: on the shared 2-core test machine 2,000 do not finish
    within ``timeout=20``.
    """
    total = 1000
    with LocalWorkspace(seed=11, max_logged=total * 2, log_bodies=True) as ws, ws.activated():
        ws.set_faults(MODEL, Fault.error(503, probability=0.05, retry_after=0.01))

        async def main() -> list[str]:
            async with chatport.Client(
                backend="rest", model=MODEL, timeout=20, max_retries=5, config={}
            ) as c:
                calls = (c.acomplete(f"request {i}") for i in range(total))
                return [done.text for done in await asyncio.gather(*calls)]

        results = asyncio.run(asyncio.wait_for(main(), timeout=100))
        posts = [r for r in ws.requests if r.method == "POST"]
    assert results == [f"request {i}" for i in range(total)]  # every one, in order
    sent = collections.Counter(_prompt(r.body) for r in posts)
    assert set(sent) == set(results)
    failed = collections.Counter(_prompt(r.body) for r in posts if r.status == 503)
    for prompt, count in sent.items():
        assert count == failed[prompt] + 1, f"{prompt!r}: sent {count}, failed {failed[prompt]}"


def _prompt(body: Any) -> str:
    data = json.loads(body) if isinstance(body, str | bytes) else body
    return str(data["messages"][-1]["content"])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads running
@pytest.mark.parametrize("backend", ["rest", "openai", "databricks-sdk"])
def test_a_forked_child_gets_fresh_connections(
    local_workspace: LocalWorkspace, backend: str
) -> None:
    with chatport.Client(backend=backend, model=MODEL, timeout=10, config={}) as c:
        assert c.complete("before the fork").text == "before the fork"
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                texts = [c.complete(f"child {i}").text for i in range(20)]
                code = 0 if texts == [f"child {i}" for i in range(20)] else 2
            finally:
                os._exit(code)
        texts = [c.complete(f"parent {i}").text for i in range(20)]
        ends = time.monotonic() + 30
        status = None
        while time.monotonic() < ends:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child did not finish")
    assert texts == [f"parent {i}" for i in range(20)]
    assert os.waitstatus_to_exitcode(status or 0) == 0
    posts = [r for r in local_workspace.requests if r.method == "POST"]
    prompts = sorted(_prompt(r.body) for r in posts)
    expected = ["before the fork"] + [f"child {i}" for i in range(20)]
    expected += [f"parent {i}" for i in range(20)]
    assert prompts == sorted(expected)
    assert all(r.status == 200 for r in posts)
