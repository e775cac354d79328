"""The "chatport" logger's DEBUG lines: each attempt, retry decision, fallback and give-up.

Every test runs against the local workspace over HTTP, with a token that must never
appear in a log line.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import chatport
from chatport.local import Endpoint, Fault, LocalWorkspace

MODEL = "debug-echo"
SPARE = "debug-spare"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The endpoints this module's shared workspace (chatport.testing) serves."""
    return {"endpoints": [Endpoint(MODEL, "echo"), Endpoint(SPARE, "echo")]}


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="chatport")
    return caplog


def decisions(caplog: pytest.LogCaptureFixture, workspace: LocalWorkspace) -> list[str]:
    """The dispatch lines of the "chatport" logger, call ids cut off; no token anywhere."""
    assert workspace.token not in caplog.text
    lines = []
    for record in caplog.records:
        message = record.getMessage()
        if record.name == "chatport" and message.startswith("call "):
            assert record.levelno == logging.DEBUG
            lines.append(message.split(": ", 1)[1])
    return lines


def client(**config: Any) -> chatport.Client:
    return chatport.Client(backend="rest", model=MODEL, config={"backend": "rest", **config})


def test_a_retry_after_the_servers_retry_after(
    module_workspace: LocalWorkspace, debug_log: pytest.LogCaptureFixture
) -> None:
    module_workspace.set_faults(MODEL, Fault.rate_limit(times=1, retry_after=1))
    with client() as c:
        assert c.complete("hello").text == "hello"
    assert decisions(debug_log, module_workspace) == [
        f"attempt 1: backend 'rest', model '{MODEL}'",
        "attempt 1 failed (RateLimitError, status 429): retry 1 of 2 in 1.000 s"
        " (the server's Retry-After)",
        f"attempt 2: backend 'rest', model '{MODEL}'",
    ]


def test_an_error_that_is_not_retried_gives_up(
    module_workspace: LocalWorkspace, debug_log: pytest.LogCaptureFixture
) -> None:
    module_workspace.set_faults(MODEL, Fault.error(400))
    with client() as c, pytest.raises(chatport.BadRequestError):
        c.complete("hello")
    assert decisions(debug_log, module_workspace)[1:] == [
        "attempt 1 failed (BadRequestError, status 400): giving up, not retryable"
    ]


def test_backoff_then_a_fallback_then_giving_up(
    module_workspace: LocalWorkspace, debug_log: pytest.LogCaptureFixture
) -> None:
    module_workspace.set_faults(MODEL, Fault.error(502))
    module_workspace.set_faults(SPARE, Fault.error(500))
    fallbacks = [{"backend": "rest", "model": SPARE}]
    with client(max_retries=1, fallbacks=fallbacks) as c, pytest.raises(chatport.ServerError):
        c.complete("hello")
    lines = decisions(debug_log, module_workspace)
    assert lines[1].startswith("attempt 1 failed (ServerError, status 502): retry 1 of 1 in ")
    assert lines[1].endswith(" s (backoff)")
    assert lines[2:] == [
        f"attempt 2: backend 'rest', model '{MODEL}'",
        "attempt 2 failed (ServerError, status 502): no retry left (max_retries = 1);"
        " trying the fallbacks",
        f"falling back to backend 'rest', model '{SPARE}'",
        f"attempt 3: backend 'rest', model '{SPARE}'",
        "attempt 3 failed (ServerError, status 500): not retryable; trying the fallbacks",
        "every fallback failed: giving up after 3 attempts",
    ]


def test_nothing_is_logged_below_debug(
    module_workspace: LocalWorkspace, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatport")
    module_workspace.set_faults(MODEL, Fault.error(400))
    with client() as c, pytest.raises(chatport.BadRequestError):
        c.complete("hello")
    assert decisions(caplog, module_workspace) == []


def test_a_skipped_fallback_names_its_backend_and_model_only(
    module_workspace: LocalWorkspace, debug_log: pytest.LogCaptureFixture
) -> None:
    module_workspace.set_faults(MODEL, Fault.error(500))
    options = {"route": "serving-endpoints"}  # options are never logged (they may hold keys)
    fallbacks = [{"backend": "responses", "model": SPARE, "options": options}]
    with client(fallbacks=fallbacks) as c, pytest.raises(chatport.ServerError):
        c.complete("hello", n=2)  # the primary's error, not the skipped fallback's
    lines = decisions(debug_log, module_workspace)
    assert lines[2:] == [
        f"fallback to backend 'responses', model '{SPARE}' skipped: it does not support n > 1",
        "every fallback failed: giving up after 1 attempts",
    ]
    assert "serving-endpoints" not in debug_log.text


def test_a_stream_broken_after_its_first_chunk_is_logged(
    module_workspace: LocalWorkspace, debug_log: pytest.LogCaptureFixture
) -> None:
    module_workspace.set_faults(MODEL, Fault.drop_stream(after_chunks=2))
    with client() as c, pytest.raises(chatport.APIConnectionError):
        list(c.stream("one two three four"))
    assert decisions(debug_log, module_workspace)[1:] == [
        "attempt 1 failed mid-stream (APIConnectionError): giving up, chunks were delivered"
    ]
