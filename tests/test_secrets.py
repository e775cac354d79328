"""Tokens stay out of config output, error messages and traceback frame locals."""

from __future__ import annotations

import socket
import types
from collections.abc import Iterator

import pytest

import chatport
from chatport import ChatportError
from chatport.local import Fault, LocalWorkspace

CANARY = "dapi-frames-canary-5f3c2a9e8d7b6a1c"
BACKENDS = ("rest", "openai", "responses", "mlflow", "databricks-sdk")
MODEL = "databricks-claude-sonnet-4-5"


def _frames(exc: BaseException) -> Iterator[types.FrameType]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _leaks(exc: BaseException) -> list[str]:
    found = []
    for frame in _frames(exc):
        for name, value in frame.f_locals.items():
            try:
                text = repr(value)
            except Exception:  # a half-built object: nothing to show
                continue
            if CANARY in text:
                found.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}:{name}")
    return found


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("failure", ["http-500", "refused"])
def test_no_token_in_traceback_locals(
    backend: str, stream: bool, failure: str, monkeypatch: pytest.MonkeyPatch, workdir: object
) -> None:
    if backend == "mlflow" and stream and failure == "refused":
        pytest.skip("mlflow's predict_stream retries a refused connection for minutes")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with LocalWorkspace(token=CANARY) as ws:
        host = ws.url if failure == "http-500" else f"http://127.0.0.1:{_closed_port()}"
        monkeypatch.setenv("DATABRICKS_HOST", host)
        monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
        ws.set_faults(MODEL, Fault.error(500))
        with chatport.Client(backend, timeout=5, max_retries=0) as client:
            try:
                if stream:
                    list(client.stream("hi", model=MODEL))
                else:
                    client.complete("hi", model=MODEL)
            except ChatportError as exc:
                error: ChatportError = exc
            else:
                pytest.fail("the call should have failed")
    assert list(_frames(error))  # there really were frames to look at
    assert _leaks(error) == []
