"""The fault matrix: every backend against every injected fault, through chatport.

Each cell checks the chatport outcome, how many inference requests reached the server,
the waits before its retries, and that the call ended within ``timeout`` plus a small
margin. Retry budgets are the defaults (``max_retries = 2``) with ``timeout = 3``.

The calls run on a virtual clock: a retry's wait (the server's ``Retry-After``, or
backoff) returns at once and moves the clock on, and the call's deadline and the time
checked here read that clock. Reads from the server keep real time, so a server that is
too slow really takes the whole timeout (those cells are marked ``slow``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import chatport
from chatport._deadline import now
from chatport.local import Fault, LocalWorkspace
from chatport.testing import VirtualClock

from ..backends import BUILT_IN

BACKENDS = BUILT_IN
MODEL = "databricks-gpt-5"
TIMEOUT = 3.0
MARGIN = 2.0
INFERENCE = ("/invocations", "/chat/completions", "/responses", "/open-responses")


@dataclass
class Cell:
    fault: Callable[[], Fault] | None
    outcome: type[BaseException] | None  # None: success
    posts: tuple[int, int]  # inference requests at the server: (minimum, maximum)
    retry_after: float | None = None  # the server's wait before each retry, when it asks
    stream: bool = False
    setup: Callable[[LocalWorkspace, pytest.MonkeyPatch], None] | None = None
    model: str = MODEL


def wrong_token(ws: LocalWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-not-the-right-one")


def refused(ws: LocalWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{port}")


CELLS: dict[str, Cell] = {
    "429-then-success": Cell(lambda: Fault.rate_limit(times=1), None, (2, 2), retry_after=1),
    "429-persistent": Cell(
        lambda: Fault.rate_limit(), chatport.RateLimitError, (3, 3), retry_after=1
    ),
    "500": Cell(lambda: Fault.error(500), chatport.ServerError, (1, 1)),
    "503-then-success": Cell(lambda: Fault.error(503, times=1), None, (2, 2)),
    "401": Cell(lambda: Fault.error(401), chatport.AuthenticationError, (1, 1)),
    "403": Cell(lambda: Fault.error(403), chatport.PermissionDeniedError, (1, 1)),
    "403-invalid-token": Cell(None, chatport.PermissionDeniedError, (1, 1), setup=wrong_token),
    "404": Cell(None, chatport.NotFoundError, (1, 1), model="no-such-endpoint"),
    "400": Cell(lambda: Fault.error(400), chatport.BadRequestError, (1, 1)),
    "non-json": Cell(lambda: Fault.garbage(), chatport.ResponseFormatError, (1, 1)),
    "wrong-shape": Cell(lambda: Fault.wrong_shape(), chatport.ResponseFormatError, (1, 1)),
    "too-slow": Cell(lambda: Fault.slow(TIMEOUT + 3), chatport.APITimeoutError, (1, 1)),
    "refused": Cell(None, chatport.APIConnectionError, (0, 0), setup=refused),
    "stream-dropped": Cell(
        lambda: Fault.drop_stream(after_chunks=8), chatport.APIConnectionError, (1, 1), stream=True
    ),
}


@pytest.fixture(scope="module")
def workspace() -> Iterator[LocalWorkspace]:
    with LocalWorkspace() as ws:
        yield ws


@pytest.fixture
def env(
    workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch, sdks_imported: None
) -> LocalWorkspace:
    for key, value in workspace.environ().items():
        monkeypatch.setenv(key, value)
    workspace.set_faults(MODEL)
    workspace.clear_requests()
    return workspace


def call(client: chatport.Client, cell: Cell) -> Any:
    if cell.stream:
        return "".join(
            chunk.text
            for chunk in client.stream("one two three four five six seven", model=cell.model)
        )
    return client.complete("hello", model=cell.model).text


#: cells whose server really takes the whole timeout, on the real clock
SLOW_CELLS = {"too-slow"}


@pytest.mark.parametrize(
    "cell_name",
    [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_CELLS else name for name in CELLS],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_fault_matrix(
    env: LocalWorkspace,
    monkeypatch: pytest.MonkeyPatch,
    virtual_clock: VirtualClock,
    backend: str,
    cell_name: str,
) -> None:
    cell = CELLS[cell_name]
    if cell.setup is not None:
        cell.setup(env, monkeypatch)
    if cell.fault is not None:
        env.set_faults(MODEL, cell.fault())
    expected, posts = cell.outcome, cell.posts
    started = now()
    with chatport.Client(backend=backend, timeout=TIMEOUT, config={}) as client:
        if expected:
            with pytest.raises(expected) as info:
                call(client, cell)
            assert info.value.backend == backend  # type: ignore[attr-defined]
        else:
            assert call(client, cell) == "hello"
    elapsed = now() - started
    assert elapsed < TIMEOUT + MARGIN, f"{backend}/{cell_name} took {elapsed:.1f}s"
    sent = [r for r in env.requests if r.method == "POST" and r.path.endswith(INFERENCE)]
    assert posts[0] <= len(sent) <= posts[1], f"{backend}/{cell_name}: {len(sent)} requests"
    if cell.retry_after is not None:  # each retry waited what the server asked
        assert virtual_clock.waits == [cell.retry_after] * (len(sent) - 1)
