"""The ``anthropic`` backend against the local workspace: routes, auth, errors, lifecycle."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from chatport_anthropic import DEFAULT_MAX_TOKENS, AnthropicBackend, base_url

import chatport
from chatport import BackendSettings, ChatRequest
from chatport.local import Fault, LocalWorkspace

CANARY = "dapi-CANARY-0123456789abcdef"


def settings(ws: LocalWorkspace | None = None, **options: Any) -> BackendSettings:
    token = ws.token if ws is not None else None
    return BackendSettings(
        name="anthropic",
        options=options,
        host=ws.url if ws is not None else "https://example.cloud.databricks.com",
        timeout=10,
        token_provider=lambda: token,
    )


def sent(ws: LocalWorkspace) -> dict[str, Any]:
    """The body of the last Messages request the workspace received."""
    bodies = [r.body for r in ws.requests if r.path.endswith("/v1/messages")]
    return bodies[-1]  # type: ignore[no-any-return]


def test_registered_through_its_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chatport", "backends", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "anthropic" in rows
    assert "streaming" in json.dumps(rows["anthropic"])


def test_importing_the_plugin_imports_no_sdk() -> None:
    code = "import chatport_anthropic, sys; print('anthropic' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


# -- routes and hosts -------------------------------------------------------------------


def test_base_urls() -> None:
    host = "https://example.cloud.databricks.com"
    assert base_url(settings()) == f"{host}/serving-endpoints/anthropic"
    assert base_url(settings(route="ai-gateway")) == f"{host}/ai-gateway/anthropic"
    gateway = "https://1234.ai-gateway.cloud.databricks.com"
    assert base_url(settings(route="ai-gateway", gateway_url=gateway)) == f"{gateway}/anthropic"
    assert (
        base_url(settings(route="ai-gateway", gateway_url=f"{gateway}/anthropic/"))
        == f"{gateway}/anthropic"
    )


@pytest.mark.parametrize(
    ("options", "host", "match"),
    [
        ({"route": "elsewhere"}, "https://h.example.com", "route must be one of"),
        ({"gateway_url": "https://g.example.com"}, "https://h.example.com", "route = "),
        ({}, "http://h.example.com", "plain http://"),
        (
            {"route": "ai-gateway", "gateway_url": "http://g.example.com"},
            "https://h.example.com",
            "plain http://",
        ),
        ({}, None, "no workspace host configured"),
    ],
)
def test_bad_settings_are_config_errors(
    options: dict[str, Any], host: str | None, match: str
) -> None:
    with pytest.raises(chatport.ConfigError, match=match):
        AnthropicBackend(BackendSettings(name="anthropic", options=options, host=host))


def test_plain_http_is_fine_on_loopback() -> None:
    local = BackendSettings(name="anthropic", host="http://127.0.0.1:8080")
    assert base_url(local) == "http://127.0.0.1:8080/serving-endpoints/anthropic"
    local6 = BackendSettings(name="anthropic", host="http://[::1]:8080")
    assert base_url(local6).startswith("http://[::1]:8080/")


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({}, "/serving-endpoints/anthropic/v1/messages"),
        ({"route": "ai-gateway"}, "/ai-gateway/anthropic/v1/messages"),
    ],
)
def test_routes_reach_their_paths(env: LocalWorkspace, config: dict[str, Any], path: str) -> None:
    options = {"backends": {"anthropic": config}}
    with chatport.Client(backend="anthropic", config=options) as client:
        assert client.complete("route me", model="claude-echo").text == "route me"
    request = env.requests[-1]
    assert request.path == path
    assert request.headers["authorization"] == "Bearer ****"


def test_gateway_url_is_a_separate_host(env: LocalWorkspace) -> None:
    # the local workspace stands in for the gateway host: its /ai-gateway prefix is the host
    options = {"route": "ai-gateway", "gateway_url": f"{env.url}/ai-gateway"}
    with chatport.Client(backend="anthropic", config={"backends": {"anthropic": options}}) as c:
        assert c.complete("through the gateway", model="system.ai.claude-sonnet-4-5").text == (
            "through the gateway"
        )
    assert env.requests[-1].path == "/ai-gateway/anthropic/v1/messages"


# -- the request body -------------------------------------------------------------------


def test_system_is_top_level_and_max_tokens_has_a_default(env: LocalWorkspace) -> None:
    chatport.complete(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        backend="anthropic",
        model="claude-echo",
        temperature=0.5,
        stop=["END"],
    )
    body = sent(env)
    assert body["system"] == "be brief"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert (body["temperature"], body["stop_sequences"]) == (0.5, ["END"])
    assert "thinking" not in body
    config = {"backends": {"anthropic": {"default_max_tokens": 99}}}
    with chatport.Client(backend="anthropic", config=config) as client:
        client.complete("hi", model="claude-echo")
    assert sent(env)["max_tokens"] == 99


@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "budget", "sent_max"),
    [
        ("low", None, 1024, 1024 + 4096),
        ("medium", None, 4096, 4096 + 4096),
        ("high", None, 16384, 16384 + 4096),
        (True, None, 4096, 4096 + 4096),
        (2000, 3000, 2000, 3000),
    ],
)
def test_reasoning_maps_to_thinking(
    env: LocalWorkspace, reasoning: Any, max_tokens: int | None, budget: int, sent_max: int
) -> None:
    result = chatport.complete(
        "think",
        backend="anthropic",
        model="claude-think",
        reasoning=reasoning,
        max_tokens=max_tokens,
    )
    assert result.reasoning == "The user asked: think"
    body = sent(env)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == sent_max


@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "match"),
    [(500, None, "at least 1024"), ("low", 1000, "must be below max_tokens")],
)
def test_bad_thinking_budgets_are_refused_before_sending(
    env: LocalWorkspace, reasoning: Any, max_tokens: int | None, match: str
) -> None:
    with pytest.raises(chatport.InvalidRequestError, match=match):
        chatport.complete(
            "x",
            backend="anthropic",
            model="claude-think",
            reasoning=reasoning,
            max_tokens=max_tokens,
        )
    assert not [r for r in env.requests if r.path.endswith("/v1/messages")]


def test_tool_choice_and_tool_definitions(env: LocalWorkspace) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "a", "description": "first", "parameters": {"type": "object"}},
        },
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}},
    ]
    named = {"type": "function", "function": {"name": "b"}}
    result = chatport.complete(
        "call b", backend="anthropic", model="claude-echo", tools=tools, tool_choice=named
    )
    assert result.tool_calls[0].name == "b"
    body = sent(env)
    assert body["tools"][0] == {
        "name": "a",
        "description": "first",
        "input_schema": {"type": "object"},
    }
    assert body["tool_choice"] == {"type": "tool", "name": "b"}
    chatport.complete(
        "no", backend="anthropic", model="claude-echo", tools=tools, tool_choice="none"
    )
    assert sent(env)["tool_choice"] == {"type": "none"}


def test_extra_passes_through(env: LocalWorkspace) -> None:
    chatport.complete("x", backend="anthropic", model="claude-echo", extra={"top_k": 3})
    assert sent(env)["top_k"] == 3


# -- errors -----------------------------------------------------------------------------


def client(**settings: Any) -> chatport.Client:
    return chatport.Client(backend="anthropic", model="claude-echo", config={}, **settings)


def test_rate_limit_keeps_retry_after_and_request_id(env: LocalWorkspace) -> None:
    env.set_faults("claude-echo", Fault.rate_limit(times=1, retry_after=7))
    try:
        with client(max_retries=0) as c, pytest.raises(chatport.RateLimitError) as caught:
            c.complete("x")
    finally:
        env.set_faults("claude-echo")
    error = caught.value
    assert (error.status_code, error.retry_after, error.backend) == (429, 7.0, "anthropic")
    assert error.request_id == env.requests[-1].request_id
    assert "Exceeded workspace QPS rate limit" in error.message
    assert isinstance(error.__cause__, Exception)
    assert type(error.__cause__).__module__.startswith("anthropic")


def test_the_core_retries_once_and_the_sdk_never(env: LocalWorkspace) -> None:
    env.set_faults("claude-echo", Fault.rate_limit(times=1, retry_after=0))
    try:
        with client(max_retries=1) as c:
            result = c.complete("second time lucky")
    finally:
        env.set_faults("claude-echo")
    assert (result.text, result.attempts) == ("second time lucky", 2)
    assert len([r for r in env.requests if r.path.endswith("/v1/messages")]) == 2


@pytest.mark.parametrize(
    ("model", "fault", "error", "status"),
    [
        ("no-such-endpoint", None, chatport.NotFoundError, 404),
        ("gpt-echo", None, chatport.BadRequestError, 400),
        ("claude-echo", Fault.error(500), chatport.ServerError, 500),
        ("claude-echo", Fault.error(403), chatport.PermissionDeniedError, 403),
    ],
)
def test_status_errors_map_into_the_tree(
    env: LocalWorkspace, model: str, fault: Fault | None, error: type[Exception], status: int
) -> None:
    if fault is not None:
        env.set_faults(model, fault)
    try:
        with client(max_retries=0) as c, pytest.raises(error) as caught:
            c.complete("x", model=model)
    finally:
        if fault is not None:
            env.set_faults(model)
    assert caught.value.status_code == status  # type: ignore[attr-defined]


def test_invalid_request_message_is_the_servers(env: LocalWorkspace) -> None:
    with client(max_retries=0) as c, pytest.raises(chatport.BadRequestError) as caught:
        c.complete("x", extra={"unknown_field": 1})
    assert caught.value.message.endswith(": unknown_field: Extra inputs are not permitted")


def test_wrong_token_is_never_shown(
    workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
    with client(max_retries=0) as c, pytest.raises(chatport.PermissionDeniedError) as caught:
        c.complete("x")
    assert CANARY not in str(caught.value)
    assert CANARY not in repr(caught.value)
    cause = caught.value.__cause__
    assert cause is not None
    assert CANARY not in str(cause)


def call(c: chatport.Client, mode: str) -> str:
    """One call in ``mode``; the text it answered."""
    if mode == "sync":
        return c.complete("x").text
    if mode == "async":
        return asyncio.run(c.acomplete("x")).text
    if mode == "stream":
        return "".join(chunk.text for chunk in c.stream("x"))

    async def consume() -> str:
        return "".join([chunk.text async for chunk in c.astream("x")])

    return asyncio.run(consume())


@pytest.mark.parametrize("fault", [Fault.garbage(), Fault.wrong_shape()])
@pytest.mark.parametrize("mode", ["sync", "stream"])
def test_a_broken_answer_is_a_response_format_error(
    env: LocalWorkspace, fault: Fault, mode: str
) -> None:
    env.set_faults("claude-echo", fault)
    try:
        with client(max_retries=0) as c, pytest.raises(chatport.ResponseFormatError):
            call(c, mode)
    finally:
        env.set_faults("claude-echo")


def test_a_dropped_stream_is_a_connection_error(env: LocalWorkspace) -> None:
    env.set_faults("claude-echo", Fault.drop_stream(after_chunks=3))
    try:
        with client(max_retries=0) as c, pytest.raises(chatport.APIConnectionError):
            list(c.stream("one two three four five six"))
    finally:
        env.set_faults("claude-echo")


def test_nothing_listening_is_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DATABRICKS_TOKEN", "t")
    with client(max_retries=0) as c, pytest.raises(chatport.APIConnectionError):
        c.complete("x")


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_the_deadline_holds(env: LocalWorkspace, mode: str) -> None:
    env.set_faults("claude-echo", Fault.slow(3))
    try:
        with client(max_retries=0, timeout=0.5) as c, pytest.raises(chatport.APITimeoutError):
            call(c, mode)
    finally:
        env.set_faults("claude-echo")


# -- lifecycle --------------------------------------------------------------------------


def test_one_client_reused_and_rebuilt_after_close(workspace: LocalWorkspace) -> None:
    backend = AnthropicBackend(settings(workspace))
    request = ChatRequest.build("hello", model="claude-echo")
    assert backend.complete(request).text == "hello"
    first = backend._clients("serving-endpoints").built
    assert first is not None
    assert backend.complete(request).text == "hello"
    assert backend._clients("serving-endpoints").built is first
    backend.close()
    assert backend._clients("serving-endpoints").built is None
    assert backend.complete(request).text == "hello"
    assert backend._clients("serving-endpoints").built is not first
    backend.close()


def test_the_token_is_read_on_every_request(workspace: LocalWorkspace) -> None:
    tokens = ["expired-token"]
    backend = AnthropicBackend(
        BackendSettings(name="anthropic", host=workspace.url, token_provider=lambda: tokens[-1])
    )
    request = ChatRequest.build("hello", model="claude-echo")
    with pytest.raises(chatport.PermissionDeniedError):
        backend.complete(request)
    tokens.append(str(workspace.token))
    assert backend.complete(request).text == "hello"
    backend.close()


def test_async_clients_close_with_aclose(workspace: LocalWorkspace) -> None:
    backend = AnthropicBackend(settings(workspace))
    request = ChatRequest.build("hello async", model="claude-echo")

    async def main() -> tuple[str, str]:
        first = await backend.acomplete(request)
        chunks = [chunk async for chunk in backend.astream(request)]
        await backend.aclose()
        return first.text, "".join(c.text for c in chunks)

    assert asyncio.run(main()) == ("hello async", "hello async")


# -- created ------------------------------------------------------------------------------


def completed(c: chatport.Client, mode: str) -> chatport.Completion:
    """One call in ``mode``, streamed ones collected."""
    if mode == "sync":
        return c.complete("what time is it")
    if mode == "async":
        return asyncio.run(c.acomplete("what time is it"))
    if mode == "stream":
        return chatport.collect(c.stream("what time is it"))

    async def consume() -> chatport.Completion:
        return chatport.collect([chunk async for chunk in c.astream("what time is it")])

    return asyncio.run(consume())


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_created_is_the_answers_date(mode: str) -> None:
    """Without a fixed clock, ``created`` is the server's Date: now, to the second."""
    with LocalWorkspace() as ws, ws.activated():
        before = int(time.time())
        with chatport.Client(
            backend="anthropic", model="databricks-claude-sonnet-4-5", config={}
        ) as client:
            completion = completed(client, mode)
        after = int(time.time())
    assert completion.created is not None
    assert before <= completion.created <= after
