"""Reliability on real backends: cancelled streams, shared clients, load, secrets."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import traceback
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

import chatport
from chatport.cli import cli
from chatport.local import Fault, LocalWorkspace
from chatport.testing import VirtualClock

from .test_fault_matrix import BACKENDS, CELLS, MODEL, call

CANARY = "dapi-CANARY-7e3f9a1b2c4d"


@pytest.mark.parametrize("backend", ["rest", "openai", "responses"])
def test_cancelling_an_async_stream_closes_the_connection(
    local_workspace: LocalWorkspace, backend: str
) -> None:
    local_workspace.set_faults(MODEL, Fault.slow_stream(0.2))

    async def main() -> str:
        async with chatport.Client(backend=backend, model=MODEL, config={}) as client:
            stream = client.astream("one two three four five six seven eight nine ten")
            first = await stream.__anext__()
            await stream.aclose()  # type: ignore[attr-defined]
            return first.text

    asyncio.run(main())
    deadline = time.monotonic() + 5
    while local_workspace.stream_disconnects < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    # the server saw the client leave mid-stream, not a stream read to its end
    assert local_workspace.stream_disconnects == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_client_shared_by_16_threads(local_workspace: LocalWorkspace, backend: str) -> None:
    barrier = threading.Barrier(16)
    with chatport.Client(backend=backend, model=MODEL, config={}) as client:

        def ask(index: int) -> tuple[int, str, int | None]:
            barrier.wait(timeout=30)
            results = []
            for turn in range(3):
                completion = client.complete(f"thread {index} turn {turn}", max_tokens=10)
                results.append(completion.text)
            return index, " | ".join(results), completion.usage.total_tokens

        with ThreadPoolExecutor(16) as pool:
            outcomes = list(pool.map(ask, range(16)))
    for index, text, total in outcomes:
        assert text == f"thread {index} turn 0 | thread {index} turn 1 | thread {index} turn 2"
        assert total == 8
    assert len([r for r in local_workspace.requests if r.method == "POST"]) == 48


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["rest", "openai"])
def test_load_with_five_percent_503(backend: str, virtual_clock: VirtualClock) -> None:
    """1,000 acomplete calls at concurrency 50; 5% of requests fail with 503 and are retried.

    Memory is traced (slow: tracemalloc hooks every allocation), so the load stays small
    enough for a busy two-core machine; the unbounded-gather load is in test_hardening.
    The retries' backoff waits are virtual: the load is the point, not the waiting.
    """
    total, concurrency = 1000, 50
    with LocalWorkspace(seed=7, max_logged=50) as ws, ws.activated():
        ws.set_faults(MODEL, Fault.error(503, probability=0.05, retry_after=0.01))

        async def main() -> list[str]:
            semaphore = asyncio.Semaphore(concurrency)
            async with chatport.Client(
                backend=backend, model=MODEL, max_retries=5, config={}
            ) as client:

                async def one(index: int) -> str:
                    async with semaphore:
                        return (await client.acomplete(f"request {index}")).text

                warm = await asyncio.gather(*(one(-i - 1) for i in range(200)))
                assert len(warm) == 200
                gc.collect()
                tracemalloc.start()
                first = await asyncio.gather(*(one(i) for i in range(total // 2)))
                gc.collect()
                middle, _ = tracemalloc.get_traced_memory()
                second = await asyncio.gather(*(one(i) for i in range(total // 2, total)))
                gc.collect()
                end, _ = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                assert end - middle < 2_000_000, (
                    f"memory grew by {end - middle} bytes over 500 calls"
                )
                return first + second

        results = asyncio.run(asyncio.wait_for(main(), timeout=100))
        served = ws.endpoint(MODEL).calls
    assert results == [f"request {i}" for i in range(total)]  # none lost, none duplicated
    assert served - (total + 200) > 20  # the fault really fired: ~5% of the calls were retried
    assert len(virtual_clock.waits) == served - (total + 200)  # each retry backed off once


def test_token_never_leaks(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """With a recognizable token: every error path of every backend, DEBUG logs, the CLI."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with LocalWorkspace(token=CANARY) as ws, ws.activated():
        for backend in BACKENDS:
            with chatport.Client(backend=backend, timeout=2, max_retries=0, config={}) as client:
                texts.append(repr(client))
                texts.append(repr(client.backend()))
                texts.append(repr(client.backend().settings))
                texts.append(repr(client.workspace))
                for name, cell in CELLS.items():
                    if cell.setup is not None or name == "too-slow":
                        continue
                    ws.set_faults(MODEL, cell.fault() if cell.fault else Fault())
                    try:
                        call(client, cell)
                    except chatport.ChatportError as exc:
                        texts.append(str(exc))
                        texts.append(repr(exc))
                        texts.append("".join(traceback.format_exception(exc)))
        monkeypatch.setenv("DATABRICKS_HOST", "http://db.example.com")  # insecure: refused
        with pytest.raises(chatport.ConfigError) as info:
            chatport.Client(backend="rest", config={}).complete("x")
        texts.append(str(info.value))
        monkeypatch.setenv("DATABRICKS_HOST", ws.url)
        ws.set_faults(MODEL)
        monkeypatch.chdir(tmp_path)
        runner = CliRunner()
        for args in (
            ["config"],
            ["config", "--json"],
            ["backends"],
            ["ask", "hi"],
            ["ask", "-b", "nope", "hi"],
            ["compare", "-m", MODEL, "hi"],
        ):
            result = runner.invoke(cli, args)
            texts.append(result.output)
        ws.set_faults(MODEL, Fault.error(403))
        texts.append(runner.invoke(cli, ["ask", "-m", MODEL, "hi"]).output)
        texts.append(repr(ws.requests))
    texts.append(caplog.text)
    assert any("PermissionDeniedError" in t for t in texts)  # the error paths really ran
    assert len(caplog.records) > 10  # and DEBUG logging was on
    leaks = [t for t in texts if CANARY in t]
    assert leaks == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_credentials_are_refused_over_plain_http_to_remote_hosts(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", "http://dbc-1234.example.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
    with (
        chatport.Client(backend=backend, model=MODEL, config={}) as client,
        pytest.raises(chatport.ConfigError, match="plain http://") as info,
    ):
        client.complete("hi")
    assert CANARY not in str(info.value)
    config = {"allow_insecure_http": True, "timeout": 1, "max_retries": 0}
    with chatport.Client(backend=backend, model=MODEL, config=config) as client:
        assert client.backend().settings.allow_insecure_http
