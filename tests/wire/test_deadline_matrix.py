"""The deadline matrix: byte-level misbehaviour, every backend, sync and async.

A call with ``timeout=T`` ends within ``T + 1 s`` whatever the server does: a body
dripped a byte at a time, a stream of ``: ping`` comments only, a ``data:`` line
arriving a byte per second, a huge line still arriving at the deadline. A huge line
that does arrive in time is read in linear time and completes.

The deadlines are real: each call waits out its whole timeout against a real socket, so
the tests that time out are marked ``slow``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import chatport

from ..backends import BUILT_IN

BACKENDS = BUILT_IN
TIMEOUT = 2.0
MODEL = "chat-x"


def client(backend: str, timeout: float = TIMEOUT) -> chatport.Client:
    return chatport.Client(
        backend=backend,
        model=MODEL,
        timeout=timeout,
        max_retries=0,
        config={"backends": {"responses": {"route": "serving-endpoints"}}},
    )


def run(backend: str, *, streamed: bool, asynchronous: bool, timeout: float = TIMEOUT) -> str:
    """One call through chatport; the answer's text."""
    if not asynchronous:
        with client(backend, timeout) as c:
            if streamed:
                return "".join(chunk.text for chunk in c.stream("hello"))
            return c.complete("hello").text

    async def main() -> str:
        async with client(backend, timeout) as c:
            if streamed:
                return "".join([chunk.text async for chunk in c.astream("hello")])
            return (await c.acomplete("hello")).text

    return asyncio.run(main())


def assert_times_out(backend: str, *, streamed: bool, asynchronous: bool) -> float:
    started = time.monotonic()
    with pytest.raises(chatport.APITimeoutError) as info:
        run(backend, streamed=streamed, asynchronous=asynchronous)
    elapsed = time.monotonic() - started
    assert info.value.backend == backend
    assert elapsed < TIMEOUT + 1.0, f"{backend} took {elapsed:.1f} s with timeout={TIMEOUT}"
    return elapsed


@pytest.mark.slow
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dripped_body_ends_at_the_deadline(
    server_factory: Any, backend: str, asynchronous: bool
) -> None:
    server = server_factory("drip")
    assert_times_out(backend, streamed=False, asynchronous=asynchronous)
    assert len(server.inference()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stream_of_keep_alive_comments_ends_at_the_deadline(
    server_factory: Any, backend: str, asynchronous: bool
) -> None:
    server = server_factory("ping")
    assert_times_out(backend, streamed=True, asynchronous=asynchronous)
    assert len(server.inference()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_data_line_a_byte_per_second_ends_at_the_deadline(
    server_factory: Any, backend: str, asynchronous: bool
) -> None:
    server_factory("slow-data")
    assert_times_out(backend, streamed=True, asynchronous=asynchronous)


@pytest.mark.slow
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_huge_line_still_arriving_ends_at_the_deadline(
    server_factory: Any, backend: str, asynchronous: bool
) -> None:
    server_factory("huge-slow")
    assert_times_out(backend, streamed=True, asynchronous=asynchronous)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_1_mb_line_completes(server_factory: Any, backend: str, asynchronous: bool) -> None:
    # a one-byte-per-read or quadratic reader misses this deadline (13 s on databricks-sdk)
    server_factory("huge", line_bytes=1_000_000)
    text = run(backend, streamed=True, asynchronous=asynchronous, timeout=5.0)
    assert text == "x" * 1_000_000


@pytest.mark.parametrize("backend", ["mlflow", "databricks-sdk"])
def test_a_10_mb_line_is_read_in_linear_time(server_factory: Any, backend: str) -> None:
    # quadratic line reading took 74 s here on mlflow
    server_factory("huge", line_bytes=10_000_000)
    text = run(backend, streamed=True, asynchronous=False, timeout=15.0)
    assert len(text) == 10_000_000


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_normal_answer_still_works(server_factory: Any, backend: str) -> None:
    server = server_factory("ok")
    assert run(backend, streamed=False, asynchronous=False) == "hi"
    assert next(r.path for r in server.inference()).startswith("/serving-endpoints/")
