"""The ``gemini`` backend against the local workspace: settings, errors, deadlines,
model names and clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from chatport_gemini import GeminiBackend, base_url, model_segment
from chatport_gemini._normalize import completion_from_response

import chatport
from chatport import BackendSettings, ChatRequest
from chatport.local import Endpoint, Fault, LocalWorkspace

CANARY = "dapi-CANARY-0123456789abcdef"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The kit's workspace for each module here: Gemini endpoints (reasoning and plain)
    and a GPT one.

    Every answer carries the same id and timestamp, so whole completions from different
    backends can be compared; the request log keeps bodies (the tests read what was sent).
    """
    fixed_id, fixed_created = "gen-parity", 1_700_000_000
    endpoints = [
        Endpoint("gemini-think", "reasoning", family="google", fixed_id=fixed_id),
        Endpoint("gemini-echo", "echo", family="google", fixed_id=fixed_id),
        Endpoint("gpt-echo", "echo", family="openai", fixed_id=fixed_id),
    ]
    for endpoint in endpoints:
        endpoint.fixed_created = fixed_created
    return {"endpoints": endpoints, "log_bodies": True}


@pytest.fixture
def env(module_workspace: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace, with ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` pointing
    at it, no faults and an empty request log (the repository's conftest isolates the rest)."""
    return module_workspace


@pytest.fixture
def workspace(module_workspace_server: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace, with nothing in the environment and no reset."""
    return module_workspace_server


def settings(ws: LocalWorkspace | None = None, **options: Any) -> BackendSettings:
    token = ws.token if ws is not None else None
    return BackendSettings(
        name="gemini",
        options=options,
        host=ws.url if ws is not None else "https://example.cloud.databricks.com",
        timeout=10,
        token_provider=lambda: token,
    )


def client(**settings: Any) -> chatport.Client:
    return chatport.Client(backend="gemini", model="gemini-echo", config={}, **settings)


def call(c: chatport.Client, mode: str, prompt: str = "x") -> str:
    """One call in ``mode``; the text it answered."""
    if mode == "sync":
        return c.complete(prompt).text
    if mode == "async":
        return asyncio.run(c.acomplete(prompt)).text
    if mode == "stream":
        return "".join(chunk.text for chunk in c.stream(prompt))

    async def consume() -> str:
        return "".join([chunk.text async for chunk in c.astream(prompt)])

    return asyncio.run(consume())


def test_registered_through_its_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chatport", "backends", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "streaming" in json.dumps(rows["gemini"])


def test_importing_the_plugin_imports_no_sdk() -> None:
    code = "import chatport_gemini, sys; print('google.genai' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_base_urls() -> None:
    host = "https://example.cloud.databricks.com"
    assert base_url(settings()) == host + "/serving-endpoints/gemini"
    assert base_url(settings(route="ai-gateway")) == host + "/ai-gateway/gemini"
    assert base_url(settings(route="auto")) == host + "/ai-gateway/gemini"
    assert (
        base_url(settings(route="auto"), "serving-endpoints") == host + "/serving-endpoints/gemini"
    )
    gateway = settings(route="ai-gateway", gateway_url="https://1.ai-gateway.cloud.databricks.com")
    assert base_url(gateway) == "https://1.ai-gateway.cloud.databricks.com/gemini"


@pytest.mark.parametrize(
    "options",
    [
        {"route": "sideways"},
        {"gateway_url": "https://g.example.com"},
        {"route": "ai-gateway", "gateway_url": "http://g.example.com"},
    ],
)
def test_bad_settings_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(chatport.ConfigError):
        GeminiBackend(settings(**options))


@pytest.mark.parametrize(
    ("model", "segment"),
    [
        ("databricks-gemini-2-5-pro", "databricks-gemini-2-5-pro"),
        ("system.ai.gemini-2-5-pro", "system.ai.gemini-2-5-pro"),
        ("a/b", "a%2Fb"),
        ("x?alt=json", "x%3Falt%3Djson"),
        ("x#y", "x%23y"),
        ("..", "%2E%2E"),
        ("../../api/2.0/secrets", "%2E%2E%2F%2E%2E%2Fapi%2F2%2E0%2Fsecrets"),
        ("%2e%2e", "%252e%252e"),
    ],
)
def test_a_model_is_one_escaped_path_segment(model: str, segment: str) -> None:
    assert model_segment(model) == segment


HOSTILE = ("../../api/2.0/secrets/scopes/list", "..", "a/b", "echo?x=1", "echo#frag", "%2e%2e")


@pytest.mark.parametrize("mode", ["sync", "stream"])
def test_hostile_model_names_send_nothing(env: LocalWorkspace, mode: str) -> None:
    with client(max_retries=0) as c:
        for model in HOSTILE:
            send = (
                c.complete if mode == "sync" else (lambda p, model: list(c.stream(p, model=model)))
            )
            with pytest.raises(chatport.InvalidRequestError) as info:
                send("hi", model=model)
            assert info.value.field == "model", model
    assert env.requests == []


@pytest.mark.parametrize("route", ["serving-endpoints", "ai-gateway"])
def test_the_route_is_the_documented_path(env: LocalWorkspace, route: str) -> None:
    config = {"backends": {"gemini": {"route": route}}}
    with chatport.Client(backend="gemini", config=config, max_retries=0) as c:
        assert c.complete("hi", model="gemini-echo").text == "hi"
    (sent,) = env.requests
    assert sent.path == f"/{route}/gemini/v1beta/models/gemini-echo:generateContent"
    assert sent.headers["authorization"] == "Bearer ****"  # sent, and masked in the log
    assert "x-goog-api-key" in sent.headers  # the SDK's own key header, unused by Databricks


def test_rate_limit_keeps_retry_after_and_request_id(env: LocalWorkspace) -> None:
    env.set_faults("gemini-echo", Fault.rate_limit(times=1, retry_after=7))
    try:
        with client(max_retries=0) as c, pytest.raises(chatport.RateLimitError) as caught:
            c.complete("x")
    finally:
        env.set_faults("gemini-echo")
    error = caught.value
    assert (error.status_code, error.retry_after, error.backend) == (429, 7.0, "gemini")
    assert error.request_id == env.requests[-1].request_id
    assert "Exceeded workspace QPS rate limit" in error.message
    assert type(error.__cause__).__module__.startswith("google.genai")


def test_the_core_retries_once_and_the_sdk_never(env: LocalWorkspace) -> None:
    env.set_faults("gemini-echo", Fault.rate_limit(times=2, retry_after=0))
    try:
        with client(max_retries=1) as c, pytest.raises(chatport.RateLimitError):
            c.complete("x")
    finally:
        env.set_faults("gemini-echo")
    assert len(env.requests) == 2  # one try and chatport's one retry; none from the SDK


@pytest.mark.parametrize(
    ("model", "fault", "error", "status"),
    [
        ("no-such-endpoint", None, chatport.NotFoundError, 404),
        ("gpt-echo", None, chatport.BadRequestError, 400),
        ("gemini-echo", Fault.error(500), chatport.ServerError, 500),
        ("gemini-echo", Fault.error(403), chatport.PermissionDeniedError, 403),
    ],
)
@pytest.mark.parametrize("mode", ["sync", "astream"])
def test_status_errors_map_into_the_tree(
    env: LocalWorkspace,
    model: str,
    fault: Fault | None,
    error: type[Exception],
    status: int,
    mode: str,
) -> None:
    if fault is not None:
        env.set_faults(model, fault)
    try:
        with (
            chatport.Client(backend="gemini", model=model, config={}, max_retries=0) as c,
            pytest.raises(error) as caught,
        ):
            call(c, mode)
    finally:
        if fault is not None:
            env.set_faults(model)
    assert caught.value.status_code == status  # type: ignore[attr-defined]


def test_a_bad_request_keeps_googles_message(env: LocalWorkspace) -> None:
    with client(max_retries=0) as c, pytest.raises(chatport.BadRequestError) as caught:
        c.complete("x", extra={"candidate_count": 0, "max_output_tokens": -3})
    assert "max_output_tokens: a positive integer is required" in caught.value.message


def test_an_extra_the_sdk_refuses_is_refused_before_sending(env: LocalWorkspace) -> None:
    with client(max_retries=0) as c, pytest.raises(chatport.InvalidRequestError) as caught:
        c.complete("x", extra={"no_such_field": 1})
    assert caught.value.field == "extra"
    assert env.requests == []


def test_wrong_token_is_never_shown(
    workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
    with client(max_retries=0) as c, pytest.raises(chatport.PermissionDeniedError) as caught:
        c.complete("x")
    assert CANARY not in str(caught.value)
    assert CANARY not in repr(caught.value)
    assert CANARY not in str(caught.value.__cause__)


@pytest.mark.parametrize("fault", [Fault.garbage(), Fault.wrong_shape()])
@pytest.mark.parametrize("mode", ["sync", "stream"])
def test_a_broken_answer_is_a_response_format_error(
    env: LocalWorkspace, fault: Fault, mode: str
) -> None:
    env.set_faults("gemini-echo", fault)
    try:
        with client(max_retries=0) as c, pytest.raises(chatport.ResponseFormatError):
            call(c, mode)
    finally:
        env.set_faults("gemini-echo")


def test_a_dropped_stream_is_an_error(env: LocalWorkspace) -> None:
    env.set_faults("gemini-echo", Fault.drop_stream(after_chunks=3))
    try:
        with client(max_retries=0) as c, pytest.raises(chatport.APIError):
            list(c.stream("one two three four five six"))
    finally:
        env.set_faults("gemini-echo")


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_the_deadline_holds(env: LocalWorkspace, mode: str) -> None:
    env.set_faults("gemini-echo", Fault.slow(3))
    try:
        with client(max_retries=0, timeout=0.5) as c, pytest.raises(chatport.APITimeoutError):
            call(c, mode)
    finally:
        env.set_faults("gemini-echo")


def test_one_client_reused_and_rebuilt_after_close(workspace: LocalWorkspace) -> None:
    backend = GeminiBackend(settings(workspace))
    request = ChatRequest.build("hello", model="gemini-echo")
    assert backend.complete(request).text == "hello"
    first = backend._clients("serving-endpoints").built
    assert first is not None
    assert backend.complete(request).text == "hello"
    assert backend._clients("serving-endpoints").built is first
    backend.close()
    assert backend._clients("serving-endpoints").built is None
    assert backend.complete(request).text == "hello"
    backend.close()


def test_the_token_is_read_on_every_request(workspace: LocalWorkspace) -> None:
    tokens = ["expired-token"]
    backend = GeminiBackend(
        BackendSettings(name="gemini", host=workspace.url, token_provider=lambda: tokens[-1])
    )
    request = ChatRequest.build("hello", model="gemini-echo")
    with pytest.raises(chatport.PermissionDeniedError):
        backend.complete(request)
    tokens.append(str(workspace.token))
    assert backend.complete(request).text == "hello"
    backend.close()


def test_async_clients_close_with_aclose(workspace: LocalWorkspace) -> None:
    backend = GeminiBackend(settings(workspace))
    request = ChatRequest.build("hello async", model="gemini-echo")

    async def main() -> tuple[str, str]:
        first = await backend.acomplete(request)
        chunks = [chunk async for chunk in backend.astream(request)]
        await backend.aclose()
        return first.text, "".join(c.text for c in chunks)

    assert asyncio.run(main()) == ("hello async", "hello async")


# -- answers the local workspace does not send --------------------------------------------


def test_a_blocked_prompt_is_a_content_filter_answer() -> None:
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 4},
    }
    from google.genai import types

    response = types.GenerateContentResponse.model_validate(blocked)
    completion = completion_from_response(response, "gemini")
    assert (completion.text, completion.finish_reason) == ("", "content_filter")
    assert completion.usage.prompt_tokens == 4
    assert completion.raw is response


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
    ],
)
def test_finish_reasons_and_full_usage(reason: str, finish: str) -> None:
    from google.genai import types

    answer = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": reason}
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 3,
            "thoughtsTokenCount": 4,
            "cachedContentTokenCount": 6,
            "totalTokenCount": 17,
        },
    }
    completion = completion_from_response(
        types.GenerateContentResponse.model_validate(answer), "gemini"
    )
    assert completion.finish_reason == finish
    assert completion.usage == chatport.Usage(10, 7, 17, reasoning_tokens=4, cached_tokens=6)


def test_no_candidates_and_no_feedback_is_a_format_error() -> None:
    with pytest.raises(chatport.ResponseFormatError):
        completion_from_response({"usage_metadata": None}, "gemini")


def test_the_workspace_refuses_other_families_and_off_gateway_names(env: LocalWorkspace) -> None:
    headers = {"Authorization": f"Bearer {env.token}"}
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    base = env.url + "/serving-endpoints/gemini/v1beta/models/"
    refused = httpx.post(base + "gpt-echo:generateContent", json=body, headers=headers)
    assert (refused.status_code, "Google models only" in refused.text) == (400, True)
    unknown = httpx.post(base + "gemini-echo:countTokens", json=body, headers=headers)
    assert unknown.status_code == 404
    array = httpx.post(base + "gemini-echo:streamGenerateContent", json=body, headers=headers)
    chunks = array.json()  # without alt=sse, a stream is one JSON array
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    bad = httpx.post(
        base + "gemini-echo:generateContent", json={**body, "nope": 1}, headers=headers
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"
