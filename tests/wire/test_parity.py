"""One question through every built-in backend gives the same Completion, field for field.

Each backend runs sync, async, streamed and async-streamed against the strict local
workspace, whose parity endpoints send a fixed id and timestamp so whole completions can
be compared. Only ``backend``, ``raw`` and ``latency_s`` may differ.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pydantic
import pytest

import chatport
from chatport import Completion
from chatport.local import Endpoint, LocalWorkspace
from chatport.local.governance import Guardrail, ServicePolicy

from ..backends import BUILT_IN, CHAT

BACKENDS = BUILT_IN
MODES = ["sync", "async", "stream", "astream"]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
FIXED = {"fixed_id": "cmpl-parity", "fixed_created": 1_700_000_000}
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["answer", "score"],
}


class Verdict(pydantic.BaseModel):
    answer: str
    confident: bool


SCENARIOS: dict[str, dict[str, Any]] = {
    "plain": {
        "model": "parity-echo",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one two three"},
        ],
    },
    "reasoning": {
        "model": "parity-reasoning",
        "messages": [{"role": "user", "content": "think about it"}],
    },
    "tool-call": {
        "model": "parity-echo",
        "messages": [{"role": "user", "content": "look this up"}],
        "tools": TOOLS,
    },
    "max-tokens": {
        "model": "parity-echo",
        "messages": [{"role": "user", "content": "a b c d e f"}],
        "max_tokens": 2,
    },
    "n-2": {
        "model": "parity-echo",
        "messages": [{"role": "user", "content": "twice please"}],
        "n": 2,
    },
    "no-usage-no-id": {
        "model": "parity-bare",
        "messages": [{"role": "user", "content": "bare answer"}],
    },
    # what real endpoint families do (docs/wire-facts.md#workspace-rules)
    "usage-only-on-request": {
        "model": "parity-gpt",
        "messages": [{"role": "user", "content": "openai family usage"}],
    },
    "cumulative-usage-claude": {
        "model": "parity-claude",
        "messages": [{"role": "user", "content": "claude sends usage in every chunk"}],
    },
    "cumulative-usage-llama": {
        "model": "parity-llama",
        "messages": [{"role": "user", "content": "llama does too"}],
    },
    "reasoning-claude": {
        "model": "parity-claude",
        "messages": [{"role": "user", "content": "think hard"}],
        "reasoning": "low",
    },
    "reasoning-gpt-oss": {
        "model": "parity-oss",
        "messages": [{"role": "user", "content": "think as well"}],
        "reasoning": "high",
    },
    "schema": {
        "model": "parity-gpt",
        "messages": [{"role": "user", "content": "rate this"}],
        "response_format": SCHEMA,
    },
    "pydantic": {
        "model": "parity-claude",
        "messages": [{"role": "user", "content": "judge this"}],
        "response_format": Verdict,
    },
    "stop": {
        "model": "parity-echo",
        "messages": [{"role": "user", "content": "one two three four"}],
        "stop": [" three"],
    },
    "reasoning-and-tools": {
        "model": "parity-oss",
        "messages": [{"role": "user", "content": "look it up"}],
        "tools": TOOLS,
        "reasoning": "low",
    },
    # agent endpoints (docs/agents.md): every backend reaches both kinds
    "chat-agent": {
        "model": "parity-chat-agent",
        "messages": [{"role": "user", "content": "ask the chat agent"}],
        "extra": {"custom_inputs": {"user": "parity"}},
    },
    "responses-agent": {
        "model": "parity-responses-agent",
        "messages": [{"role": "user", "content": "ask the responses agent"}],
        "extra": {"custom_inputs": {"user": "parity"}},
    },
    # Unity AI Gateway (docs/gateway.md)
    "service-policy": {
        "model": "parity-policy",
        "messages": [{"role": "user", "content": "what is project bluebird"}],
    },
    "guardrail-mask": {
        "model": "parity-masked",
        "messages": [{"role": "user", "content": "write to jo@example.com"}],
    },
    "request-tags": {
        "model": "parity-gpt",
        "messages": [{"role": "user", "content": "tagged for usage"}],
        "request_tags": {"team": "parity"},
    },
    "pdf": {
        "model": "parity-gpt",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "summarize"},
                    chatport.FilePart(b"%PDF-1.4 parity", media_type="application/pdf"),
                ],
            }
        ],
    },
    "cache": {  # read from the cache: the reference call warms it first (WARM)
        "model": "parity-claude",
        "messages": [
            {"role": "system", "content": "the same long system prompt " * 20},
            {"role": "user", "content": "cached"},
        ],
        "cache": True,
    },
}
#: Scenarios whose reference is the second of two calls (the first warms a cache).
WARM = frozenset({"cache"})
#: Scenarios a backend declares unsupported, and the error's text.
UNSUPPORTED = {
    ("responses", "n-2"): "n > 1",
    ("responses", "stop"): "stop",
    ("responses", "cache"): "cache",  # the Responses API cannot carry Claude's breakpoints
}


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The endpoints this module's shared workspace (chatport.testing) serves."""
    return {
        "endpoints": [
            Endpoint("parity-echo", "echo", **FIXED),
            Endpoint("parity-reasoning", "reasoning", **FIXED),
            Endpoint(
                "parity-bare", "echo", omit_usage=True, null_id=True, fixed_created=1_700_000_000
            ),
            Endpoint("parity-gpt", "echo", family="openai", **FIXED),
            Endpoint("parity-oss", "reasoning", family="openai", signature=False, **FIXED),
            Endpoint("parity-claude", "reasoning", family="anthropic", **FIXED),
            Endpoint("parity-llama", "echo", family="meta", **FIXED),
            Endpoint("parity-chat-agent", "chat-agent"),
            Endpoint("parity-responses-agent", "responses-agent"),
            Endpoint(
                "parity-policy",
                "echo",
                family="openai",
                service_policies=[ServicePolicy("no-codenames", "input", "bluebird")],
                **FIXED,
            ),
            Endpoint(
                "parity-masked",
                "echo",
                family="openai",
                guardrails=[Guardrail("pii", action="mask")],
                **FIXED,
            ),
        ]
    }


def run(client: chatport.Client, mode: str, scenario: dict[str, Any]) -> Completion:
    params = {k: v for k, v in scenario.items() if k != "messages"}
    messages = scenario["messages"]
    if mode == "sync":
        return client.complete(messages, **params)
    if mode == "async":
        return asyncio.run(client.acomplete(messages, **params))
    if mode == "stream":
        return chatport.collect(client.stream(messages, **params))

    async def collect_async() -> Completion:
        return chatport.collect([chunk async for chunk in client.astream(messages, **params)])

    return asyncio.run(collect_async())


def comparable(completion: Completion) -> Completion:
    return dataclasses.replace(completion, backend=None, raw=None, latency_s=None)


@pytest.fixture(scope="module")
def reference(module_workspace_server: LocalWorkspace) -> dict[str, Completion]:
    with module_workspace_server.activated(), chatport.Client(backend="rest", config={}) as client:
        references = {}
        for name, s in SCENARIOS.items():
            params = {k: v for k, v in s.items() if k != "messages"}
            for _ in range(2 if name in WARM else 1):
                references[name] = client.complete(s["messages"], **params)
        return references


def test_reference_is_what_the_scenarios_describe(reference: dict[str, Completion]) -> None:
    assert reference["plain"].text == "one two three"
    assert reference["plain"].usage == chatport.Usage(5, 3, 8)
    assert (reference["plain"].id, reference["plain"].created) == ("cmpl-parity", 1_700_000_000)
    assert reference["reasoning"].reasoning == "The user asked: think about it"
    assert reference["reasoning"].message is not None
    part = reference["reasoning"].message.content[0]  # type: ignore[index]
    assert isinstance(part, chatport.ReasoningPart)
    assert part.signature is not None
    assert reference["tool-call"].tool_calls[0].parsed() == {"query": "look this up"}
    assert reference["tool-call"].finish_reason == "tool_calls"
    assert (reference["max-tokens"].text, reference["max-tokens"].finish_reason) == (
        "a b",
        "length",
    )
    assert len(reference["n-2"].choices) == 2
    assert (reference["no-usage-no-id"].id, reference["no-usage-no-id"].usage) == (
        None,
        chatport.Usage(),
    )
    for name in ("usage-only-on-request", "cumulative-usage-claude", "cumulative-usage-llama"):
        usage = reference[name].usage
        words = len(SCENARIOS[name]["messages"][-1]["content"].split())
        # Claude endpoints report cache reads, writes and a reasoning count without thinking
        claude_only = (0, 0, 0) if name == "cumulative-usage-claude" else (None, None, None)
        assert usage == chatport.Usage(words, words, 2 * words, *claude_only), name
        assert reference[name].reasoning is None
    claude = reference["reasoning-claude"]
    assert claude.reasoning == "The user asked: think hard"
    assert (claude.usage.reasoning_tokens, claude.usage.cached_tokens) == (5, 0)
    oss = reference["reasoning-gpt-oss"]
    assert (oss.reasoning, oss.usage.reasoning_tokens) == ("The user asked: think as well", 6)
    schema = reference["schema"].parsed
    assert isinstance(schema, dict)
    assert set(schema) == {"answer", "score"}
    assert isinstance(reference["pydantic"].parsed, Verdict)
    assert (reference["stop"].text, reference["stop"].finish_reason) == ("one two", "stop")
    both = reference["reasoning-and-tools"]
    assert both.reasoning is not None
    assert both.tool_calls[0].name == "lookup"
    denied = reference["service-policy"]
    assert (denied.finish_reason, denied.policy) == ("content_filter", "no-codenames")
    assert reference["guardrail-mask"].text == "write to <EMAIL_ADDRESS>"
    assert reference["request-tags"].text == "tagged for usage"
    assert reference["pdf"].text.startswith("summarize [attachments: application/pdf 15 bytes")
    cached = reference["cache"].usage
    assert cached.cached_tokens is not None
    assert cached.cached_tokens > 0
    assert cached.cache_write_tokens == 0
    for name in ("chat-agent", "responses-agent"):  # the agent's own tool call stays in raw
        agent = reference[name]
        question = SCENARIOS[name]["messages"][0]["content"]
        assert (agent.text, agent.tool_calls, agent.finish_reason) == (question, (), "stop")
        assert agent.raw["custom_outputs"]["custom_inputs"] == {"user": "parity"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_parity(
    module_workspace: LocalWorkspace, reference: dict[str, Completion], backend: str, mode: str
) -> None:
    with chatport.Client(backend=backend, config={}) as client:
        for name, scenario in SCENARIOS.items():
            unsupported = UNSUPPORTED.get((backend, name))
            if unsupported is not None:
                with pytest.raises(chatport.UnsupportedFeatureError, match=unsupported):
                    run(client, mode, scenario)
                continue
            if name == "n-2" and mode in ("stream", "astream"):
                continue  # only the first choice is streamed
            result = run(client, mode, scenario)
            if mode in ("sync", "async"):
                assert result.backend == backend
            assert comparable(result) == comparable(reference[name]), f"{backend}/{mode}/{name}"


@pytest.mark.parametrize("mode", MODES)
def test_chat_backends_read_claude_cache_and_reasoning_counts_alike(
    module_workspace: LocalWorkspace, mode: str
) -> None:
    """Claude's top-level ``cache_read_input_tokens`` and its reasoning count, read alike."""
    seen = {}
    for backend in CHAT:
        with chatport.Client(backend=backend, config={}) as client:
            plain = run(client, mode, SCENARIOS["cumulative-usage-claude"]).usage
            thought = run(client, mode, SCENARIOS["reasoning-claude"]).usage
        seen[backend] = (
            (plain.cached_tokens, plain.reasoning_tokens),
            (
                thought.cached_tokens,
                thought.reasoning_tokens,
            ),
        )
    assert set(seen.values()) == {((0, 0), (0, 5))}, seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_reasoning_replay_on_every_backend(module_workspace: LocalWorkspace, backend: str) -> None:
    module_workspace.clear_requests()
    with chatport.Client(backend=backend, model="parity-reasoning", config={}) as client:
        first = client.complete("first turn")
        assert first.message is not None
        second = client.complete(
            [
                {"role": "user", "content": "first turn"},
                first.message,
                {"role": "user", "content": "second turn"},
            ]
        )
    assert second.text == "second turn"
    replayed = [r.body for r in module_workspace.requests if r.method == "POST"][-1]
    if backend == "responses":
        assert replayed["input"][1] == {"role": "assistant", "content": "first turn"}
    else:
        assistant = replayed["messages"][1]
        assert set(assistant) == {"role", "content"}
        assert assistant["content"][0]["summary"][0]["signature"].startswith("sig-")


@pytest.mark.parametrize("backend", ["mlflow", "databricks-sdk"])
def test_module_level_call_through_the_environment(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    completion = chatport.complete(
        [{"role": "user", "content": "hello from the environment"}],
        backend=backend,
        model="databricks-gpt-5",
    )
    assert completion.text == "hello from the environment"
    assert completion.finish_reason == "stop"
    assert completion.usage.total_tokens == 8


@pytest.mark.parametrize(
    ("backend", "path"),
    [
        ("rest", "/serving-endpoints/databricks-gpt-5/invocations"),
        ("openai", "/serving-endpoints/chat/completions"),
        ("responses", "/serving-endpoints/responses"),
        ("mlflow", "/serving-endpoints/databricks-gpt-5/invocations"),
        ("databricks-sdk", "/serving-endpoints/databricks-gpt-5/invocations"),
    ],
)
def test_swapping_the_backend_in_config_changes_the_path(
    module_workspace: LocalWorkspace,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    path: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chatport.toml").write_text(f'backend = "{backend}"\nmodel = "databricks-gpt-5"\n')
    module_workspace.clear_requests()
    assert chatport.complete("which path?").backend == backend
    assert [r.path for r in module_workspace.requests if r.method == "POST"] == [path]
    monkeypatch.setenv("CHATPORT_BACKEND", "openai")
    module_workspace.clear_requests()
    assert chatport.complete("which path?").backend == "openai"
    assert [r.path for r in module_workspace.requests if r.method == "POST"] == [
        "/serving-endpoints/chat/completions"
    ]


@pytest.mark.parametrize("backend", ["openai", "responses"])
def test_ai_gateway_route(module_workspace: LocalWorkspace, backend: str) -> None:
    module_workspace.clear_requests()
    config = {"backends": {backend: {"route": "ai-gateway"}}}
    with chatport.Client(backend=backend, config=config) as client:
        assert client.complete("via the gateway", model="system.ai.gpt-5").text == "via the gateway"
    suffix = "chat/completions" if backend == "openai" else "responses"
    assert module_workspace.requests[-1].path == f"/ai-gateway/mlflow/v1/{suffix}"
    with pytest.raises(chatport.ConfigError, match="route: 'elsewhere' is not one of"):
        chatport.Client(
            backend=backend, config={"backends": {backend: {"route": "elsewhere"}}}
        ).complete("x")


def test_oauth_tokens_are_refreshed_on_every_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tokens live 2.5 s on the server; clients are told 42 s, so databricks-sdk (which
    # refreshes 40 s before expiry) treats them as stale after 2 s.
    with LocalWorkspace(
        oauth_clients={"refresh-client": "refresh-secret"}, token_lifetime=2.5, token_expires_in=42
    ) as ws:
        monkeypatch.setenv("DATABRICKS_HOST", ws.url)
        monkeypatch.delenv("DATABRICKS_TOKEN", raising=False)
        monkeypatch.setenv("DATABRICKS_CLIENT_ID", "refresh-client")
        monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", "refresh-secret")
        clients = {
            b: chatport.Client(backend=b, model="databricks-gpt-5", config={}) for b in BACKENDS
        }
        for backend, client in clients.items():
            assert client.complete(f"before expiry {backend}").text == f"before expiry {backend}"
        issued_before = sum(1 for r in ws.requests if r.path == "/oidc/v1/token")
        time.sleep(3.0)
        for backend, client in clients.items():
            assert client.complete(f"after expiry {backend}").text == f"after expiry {backend}"
            client.close()
        issued_after = sum(1 for r in ws.requests if r.path == "/oidc/v1/token")
    assert issued_before >= 1
    assert issued_after > issued_before
    rejected = [r for r in ws.requests if r.status == 403]
    assert rejected == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_tools_and_response_format_pass_through(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    module_workspace.clear_requests()
    with chatport.Client(backend=backend, model="databricks-gpt-5", config={}) as client:
        extra = {"metadata": {"run": "1"}} if backend == "responses" else {"top_k": 3}
        client.complete("json please", response_format={"type": "json_object"}, extra=extra)
        client.complete("tool please", tools=TOOLS, tool_choice="required")
    first, second = [r.body for r in module_workspace.requests if r.method == "POST"]
    if backend == "responses":
        assert first["text"] == {"format": {"type": "json_object"}}
        assert second["tools"] == [
            {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
        ]
    else:
        assert first["response_format"] == {"type": "json_object"}
        assert second["tools"] == TOOLS
    assert all(first[key] == value for key, value in extra.items())
    assert second["tool_choice"] == "required"


#: How the ``anthropic`` plugin backend (package ``chatport-anthropic``) meets each scenario:
#: the Messages API serves Claude endpoints only, so the workspace refuses every other
#: endpoint, and the backend itself declares n > 1 and response_format unsupported.
ANTHROPIC_SUPPORTED = ("cumulative-usage-claude", "reasoning-claude", "cache")
ANTHROPIC_UNSUPPORTED: dict[str, tuple[type[chatport.ChatportError], str]] = {
    "n-2": (chatport.UnsupportedFeatureError, "n > 1"),
    "schema": (chatport.UnsupportedFeatureError, "response_format"),
    "pydantic": (chatport.UnsupportedFeatureError, "response_format"),
}


@pytest.mark.parametrize("mode", MODES)
def test_parity_anthropic_plugin(
    module_workspace: LocalWorkspace, reference: dict[str, Completion], mode: str
) -> None:
    pytest.importorskip("chatport_anthropic")
    with chatport.Client(backend="anthropic", config={}) as client:
        for name, scenario in SCENARIOS.items():
            if name in ANTHROPIC_UNSUPPORTED:
                error, text = ANTHROPIC_UNSUPPORTED[name]
            elif name not in ANTHROPIC_SUPPORTED:
                error, text = chatport.BadRequestError, "Anthropic models only"
            else:
                if name in WARM:  # the Messages route keeps its own cache: warm it too
                    run(client, mode, scenario)
                result = run(client, mode, scenario)
                expected = reference[name]
                assert comparable(result) == comparable(expected), name
                continue
            with pytest.raises(error, match=text):
                run(client, mode, scenario)


def test_the_responses_backend_itself_refuses_stop(module_workspace: LocalWorkspace) -> None:
    """Called directly (not through a Client, which refuses first), nothing is sent."""
    with chatport.Client(backend="responses", config={}) as client:
        backend = client.backend("responses")
        request = chatport.ChatRequest.build("hi", model="parity-gpt", stop=["x"])
        module_workspace.clear_requests()
        with pytest.raises(chatport.UnsupportedFeatureError, match="no stop sequences"):
            backend.complete(request)
    assert [r for r in module_workspace.requests if r.method == "POST"] == []
