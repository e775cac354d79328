"""A canary token: a server that repeats the credential in every error body.

chatport knows the token it sent; whatever a server echoes back, the token appears in no
text chatport produces: no error message, ``str``, ``repr`` or traceback of the error
and its causes, no request or response object an error keeps, no log record (DEBUG
included), no batch output line, no plugin's log or trace.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import chatport

from ..backends import BUILT_IN
from ..local.test_server_safety import serving
from ..raw_server import RawServer, http_answer

CANARY = "dapi-canary-0123456789abcdef-CANARY"
BACKENDS = ["openai", "responses", "rest", "mlflow", "databricks-sdk", "anthropic"]


@pytest.fixture
def echo(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, sdks_imported: None
) -> Iterator[RawServer]:
    """A server that answers every inference request with a 403 repeating the token."""
    with RawServer(mode="echo-token") as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
        yield server


def _texts_of(error: BaseException) -> Iterator[str]:
    """Every text a user could get from ``error``: its messages, reprs, traceback, and
    what each exception of its chain keeps (attributes, requests, responses)."""
    yield str(error)
    yield repr(error)
    yield "".join(traceback.format_exception(error))
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield repr(current)
        yield repr(current.args)
        for value in vars(current).values():
            yield repr(value)
            for part in ("headers", "content"):
                held = getattr(value, part, None)
                if held is not None:
                    yield repr(dict(held) if part == "headers" else held)
            try:
                request = getattr(value, "request", None)
            except RuntimeError:
                request = None
            if request is not None:
                yield repr(dict(getattr(request, "headers", {})))
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _assert_clean(texts: Iterator[str] | list[str], where: str) -> None:
    for text in texts:
        assert CANARY not in text, f"the token appears in {where}: {text[:300]}"


def _echoed(server: RawServer) -> None:
    """The server did receive the token (and so did repeat it): the test means something."""
    sent = [
        r.headers.get("authorization", "") + r.headers.get("x-api-key", "")
        for r in server.inference()
    ]
    assert sent
    assert all(CANARY in value for value in sent), sent


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_no_backend_repeats_an_echoed_token(
    echo: RawServer, backend: str, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = chatport.Client(backend=backend, model="m", max_retries=0, timeout=10)
    call = (lambda: list(client.stream("hi"))) if stream else (lambda: client.complete("hi"))
    with client, pytest.raises(chatport.PermissionDeniedError) as raised:
        call()
    _echoed(echo)
    assert "may not query this endpoint" in str(raised.value)  # the server's message is kept
    _assert_clean(_texts_of(raised.value), "the error")
    _assert_clean([caplog.text], "a DEBUG log record")
    _assert_clean([r.getMessage() for r in caplog.records], "a DEBUG log record")


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_calls_repeat_no_echoed_token(echo: RawServer, backend: str) -> None:
    async def calls() -> list[BaseException]:
        errors: list[BaseException] = []
        client = chatport.Client(backend=backend, model="m", max_retries=0, timeout=10)
        try:
            await client.acomplete("hi")
        except chatport.PermissionDeniedError as error:
            errors.append(error)
        try:
            async for _ in client.astream("hi"):
                pass
        except chatport.PermissionDeniedError as error:
            errors.append(error)
        client.close()
        return errors

    errors = asyncio.run(calls())
    assert len(errors) == 2
    for error in errors:
        _assert_clean(_texts_of(error), "an async error")
    _echoed(echo)


def test_map_results_repeat_no_echoed_token(echo: RawServer) -> None:
    with chatport.Client(backend="rest", model="m", max_retries=0, timeout=10) as client:
        results = list(client.map(["a", "b", "c"], concurrency=2))
    assert [r.ok for r in results] == [False, False, False]
    for result in results:
        assert result.error is not None
        _assert_clean(_texts_of(result.error), "a map result")
        _assert_clean([repr(result)], "a map result's repr")


@pytest.mark.parametrize("backend", ["openai", "responses", "anthropic"])
def test_no_error_keeps_a_request_holding_the_token(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, sdks_imported: None, backend: str
) -> None:
    """The SDK error chained as ``__cause__`` keeps its request, with the credential
    header masked (the server here repeats nothing)."""
    answer = http_answer("500 Internal Server Error", {"Content-Type": "application/json"}, b"{}")
    with RawServer(mode="canned", canned=answer) as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
        client = chatport.Client(backend=backend, model="m", max_retries=0, timeout=10)
        with client, pytest.raises(chatport.ServerError) as raised:
            client.complete("hi")
    cause = raised.value.__cause__
    assert cause is not None
    request = cause.request  # type: ignore[attr-defined]
    assert request.headers.get("authorization", "****") == "****"
    assert request.headers.get("x-api-key", "****") == "****"
    _assert_clean(_texts_of(raised.value), "the error")


CHATPORT = str(Path(sys.executable).with_name("chatport"))
PLUGINS_ON = """
[plugins.jsonl-log]
path = "calls.jsonl"
log_text = true

[plugins.mlflow-tracing]
enabled = true

[plugins.opentelemetry]
enabled = true
exporter = "console"
capture_content = true
"""


def _chatport(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run the command line; return everything it printed."""
    done = subprocess.run(
        [CHATPORT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    return f"$ chatport {' '.join(args)} (exit {done.returncode})\n{done.stdout}\n{done.stderr}"


def test_the_command_line_and_every_plugin_repeat_no_echoed_token(
    echo: RawServer, workdir: Path
) -> None:
    """``chatport ask -vv`` on each backend, ``chatport batch`` and ``chatport usage``,
    with the jsonl-log, mlflow-tracing and opentelemetry plugins on: the token appears in
    no output, no log, no trace and no file."""
    (workdir / "chatport.toml").write_text(PLUGINS_ON)
    (workdir / "in.jsonl").write_text(
        "".join(json.dumps({"id": i, "prompt": f"question {i}"}) + "\n" for i in range(3))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        MLFLOW_TRACKING_URI="sqlite:///mlflow.db",
        MLFLOW_MODEL_CATALOG_URI="",
        DATABRICKS_HOST=echo.url,
        DATABRICKS_TOKEN=CANARY,
    )
    printed = [
        _chatport(["-vv", "ask", "--backend", backend, "-m", "m", "hi"], workdir, env)
        for backend in ("rest", "databricks-sdk")  # every backend: the tests above
    ]
    printed.append(
        _chatport(["batch", "in.jsonl", "-o", "out.jsonl", "-b", "openai", "-m", "m"], workdir, env)
    )
    printed.append(_chatport(["usage", "calls.jsonl"], workdir, env))
    _echoed(echo)
    for text in printed[:2]:  # each ask printed the server's message, masked
        assert "may not query this endpoint" in text, text[-2000:]
    outputs = {path.name for path in workdir.iterdir()}
    # each one was written (MLflow's store too, when its exporter ran: it is scanned below)
    assert {"out.jsonl", "calls.jsonl"} <= outputs, outputs
    batch = [json.loads(line) for line in (workdir / "out.jsonl").read_text().splitlines()]
    assert [row["error"]["type"] for row in batch] == ["PermissionDeniedError"] * 3
    _assert_clean(printed, "the command line's output")
    for path in workdir.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), f"the token is written in {path.name}"


def test_a_token_from_a_callable_is_masked_each_time_it_changes(
    monkeypatch: pytest.MonkeyPatch, workdir: Path
) -> None:
    """A token callable (a secret manager) may hand out a new token for each request:
    each one is masked in what the server repeats."""
    rotating = [f"dapi-rotating-{n:04d}-e1e2e3e4" for n in range(3)]
    tokens = iter(rotating)
    with RawServer(mode="echo-token") as server:
        monkeypatch.delenv("DATABRICKS_TOKEN", raising=False)
        with chatport.Client(
            backend="rest", host=server.url, token=lambda: next(tokens), model="m", max_retries=0
        ) as client:
            errors = []
            for _ in range(3):
                with pytest.raises(chatport.PermissionDeniedError) as raised:
                    client.complete("hi")
                errors.append(raised.value)
        sent = [r.headers["authorization"] for r in server.inference()]
    assert sent == [f"Bearer {token}" for token in rotating]  # each went out, and came back
    for error in errors:
        assert "token **** may not query" in str(error)
        for text in _texts_of(error):
            assert not any(token in text for token in rotating), text


def test_chatport_serve_logs_no_credential_a_client_sent(
    monkeypatch: pytest.MonkeyPatch, workdir: Path
) -> None:
    """``chatport serve --log``: every backend calls it with the canary as the workspace
    token and as an OAuth client secret, and with a wrong token; neither the log file nor
    anything serve prints to standard error holds either."""
    secret = CANARY + "-oauth"
    log = workdir / "requests.jsonl"
    with serving(
        workdir, "--token", CANARY, "--log", str(log), "--oauth-client", f"app:{secret}"
    ) as served:
        monkeypatch.setenv("DATABRICKS_HOST", served.url)
        for backend in BUILT_IN:
            monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
            with chatport.Client(
                backend=backend, model="databricks-gpt-5", max_retries=0
            ) as client:
                assert client.complete("logged").text == "logged"
            monkeypatch.setenv("DATABRICKS_TOKEN", CANARY + "-wrong")
            with (
                chatport.Client(backend=backend, model="databricks-gpt-5", max_retries=0) as client,
                pytest.raises(chatport.APIError),
            ):
                client.complete("refused")
        token = httpx.post(
            f"{served.url}/oidc/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "app",
                "client_secret": secret,
                "scope": "all-apis",
            },
        )
        assert token.status_code == 200, token.text
        stderr = served.stderr()
    logged = log.read_text()
    assert logged.count("\n") >= 2 * len(BUILT_IN)  # each call was logged
    assert "logged" in logged  # with its body, which --log keeps
    for text, where in ((logged, "the --log file"), (stderr, "serve's standard error")):
        assert CANARY not in text, f"a credential appears in {where}"


def test_a_plugin_backends_raw_error_keeps_no_credential() -> None:
    """A third-party backend that lets its HTTP library's error out: chatport wraps it,
    and the request that error holds no longer carries the token."""
    from chatport.testing import temporary_plugin

    class Leaky(chatport.Backend):
        def complete(self, request: chatport.ChatRequest) -> chatport.Completion:
            sent = httpx.Request(
                "POST", "https://h.example.com", headers={"Authorization": f"Bearer {CANARY}"}
            )
            raise httpx.ConnectError(f"refused, token {CANARY}", request=sent)

    class Plugin:
        @chatport.hookimpl
        def chatport_register_backends(self, registry: chatport.BackendRegistry) -> None:
            registry.add("leaky", Leaky)

    with (
        temporary_plugin(Plugin()),
        chatport.Client(
            backend="leaky", max_retries=0, token=CANARY, host="https://h.example.com"
        ) as client,
        pytest.raises(chatport.APIError) as raised,
    ):
        client.complete("hi", model="m")
    cause = raised.value.__cause__
    assert isinstance(cause, httpx.ConnectError)
    assert cause.request.headers["Authorization"] == "****"
    _assert_clean(_texts_of(raised.value), "a plugin backend's error")
