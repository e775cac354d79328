"""``gemini`` gives the same Completion as ``rest`` for the same Gemini endpoint.

Both backends run sync, async, streamed and async-streamed against the local workspace,
whose endpoints here send a fixed id and timestamp, so whole completions can be compared.
Only ``backend``, ``raw`` and ``latency_s`` may differ: ``created`` comes from the Gemini
answer's ``Date`` header, ``usage.completion_tokens`` is ``candidatesTokenCount`` plus
``thoughtsTokenCount``, and the thought signatures come back as the same base64 text.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

import chatport
from chatport import Completion
from chatport.local import Endpoint, LocalWorkspace

MODES = ["sync", "async", "stream", "astream"]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

SCENARIOS: dict[str, dict[str, Any]] = {
    "plain-with-system": {
        "model": "gemini-echo",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one two three"},
        ],
    },
    "reasoning-with-signature": {
        "model": "gemini-think",
        "messages": [{"role": "user", "content": "think hard"}],
        "reasoning": "low",
    },
    "tool-call": {
        "model": "gemini-echo",
        "messages": [{"role": "user", "content": "look this up"}],
        "tools": TOOLS,
    },
    "reasoning-and-tool-call": {
        "model": "gemini-think",
        "messages": [{"role": "user", "content": "look it up"}],
        "tools": TOOLS,
        "tool_choice": "required",
        "reasoning": "medium",
    },
    "tool-result": {
        "model": "gemini-echo",
        "messages": [
            {"role": "user", "content": "look this up"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"query": "x"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "forty two"},
        ],
        "tools": TOOLS,
    },
    "max-tokens": {
        "model": "gemini-echo",
        "messages": [{"role": "user", "content": "a b c d e f"}],
        "max_tokens": 2,
    },
    "stop": {
        "model": "gemini-echo",
        "messages": [{"role": "user", "content": "one two three four"}],
        "stop": [" three"],
    },
}

#: What the gemini backend declares unsupported, and the error it gives instead.
UNSUPPORTED: dict[str, tuple[dict[str, Any], type[Exception], str]] = {
    "n-2": (
        {"model": "gemini-echo", "messages": "twice", "n": 2},
        chatport.UnsupportedFeatureError,
        "n > 1",
    ),
    "response-format": (
        {"model": "gemini-echo", "messages": "json", "response_format": {"type": "json_object"}},
        chatport.UnsupportedFeatureError,
        "response_format",
    ),
    "non-gemini-endpoint": (
        {"model": "gpt-echo", "messages": "hello"},
        chatport.BadRequestError,
        "Google models only",
    ),
}


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


@pytest.mark.parametrize("mode", MODES)
def test_gemini_equals_rest_on_gemini(env: LocalWorkspace, mode: str) -> None:
    with (
        chatport.Client(backend="rest", config={}) as rest,
        chatport.Client(backend="gemini", config={}) as gemini,
    ):
        for name, scenario in SCENARIOS.items():
            expected = run(rest, mode, scenario)
            result = run(gemini, mode, scenario)
            if mode in ("sync", "async"):
                assert result.backend == "gemini"
            assert comparable(result) == comparable(expected), f"{mode}/{name}"
    paths = {r.path for r in env.requests if r.method == "POST"}
    suffix = ":streamGenerateContent" if "stream" in mode else ":generateContent"
    assert "/serving-endpoints/gemini/v1beta/models/gemini-echo" + suffix in paths


def test_scenarios_are_what_they_say(env: LocalWorkspace) -> None:
    with chatport.Client(backend="gemini", config={}) as client:
        done = {name: run(client, "sync", s) for name, s in SCENARIOS.items()}
    plain = done["plain-with-system"]
    assert plain.text == "one two three"
    assert plain.usage == chatport.Usage(5, 3, 8)
    assert plain.created == 1_700_000_000  # the workspace's fixed clock, via Date
    signed = done["reasoning-with-signature"]
    assert signed.reasoning == "The user asked: think hard"
    assert signed.usage.reasoning_tokens == len(signed.reasoning.split())
    assert signed.message is not None
    assert isinstance(signed.message.content, tuple)
    thought, text = signed.message.content
    assert isinstance(thought, chatport.ReasoningPart)
    assert isinstance(text, chatport.TextPart)
    assert thought.signature is not None
    assert thought.signature.startswith("sig-")
    assert text.signature is not None
    assert text.signature.startswith("sig-")
    call = done["tool-call"]
    assert (call.finish_reason, call.tool_calls[0].parsed()) == (
        "tool_calls",
        {"query": "look this up"},
    )
    both = done["reasoning-and-tool-call"]
    assert both.reasoning is not None
    assert both.tool_calls[0].name == "lookup"
    assert done["tool-result"].text == "The tool returned: forty two"
    assert (done["max-tokens"].text, done["max-tokens"].finish_reason) == ("a b", "length")
    assert (done["stop"].text, done["stop"].finish_reason) == ("one two", "stop")


def test_what_was_sent(env: LocalWorkspace) -> None:
    with chatport.Client(backend="gemini", config={}) as client:
        run(client, "sync", {**SCENARIOS["reasoning-and-tool-call"], "temperature": 0.5})
        run(client, "sync", SCENARIOS["tool-result"])
    first, second = [r.body for r in env.requests if r.method == "POST"]
    assert first["contents"] == [{"role": "user", "parts": [{"text": "look it up"}]}]
    config = first["generationConfig"]
    # google-genai writes nested config objects with their proto field names (Google's
    # JSON parser takes both spellings); the workspace reads both too
    assert config["thinkingConfig"] == {"include_thoughts": True, "thinking_budget": 8192}
    assert config["temperature"] == 0.5
    assert first["tools"][0]["functionDeclarations"][0]["name"] == "lookup"
    assert first["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    model_turn, result_turn = second["contents"][1:]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0]["functionCall"]["name"] == "lookup"
    response = result_turn["parts"][0]["functionResponse"]
    assert (response["id"], response["name"]) == ("call_1", "lookup")
    assert response["response"] == {"result": "forty two"}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
@pytest.mark.parametrize("mode", ["sync", "stream"])
def test_unsupported_cases_are_declared(env: LocalWorkspace, name: str, mode: str) -> None:
    scenario, error, text = UNSUPPORTED[name]
    with (
        chatport.Client(backend="gemini", config={}) as client,
        pytest.raises(error, match=text),
    ):
        run(client, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_multi_turn_replays_thoughts_with_their_signatures(env: LocalWorkspace, mode: str) -> None:
    tools = {"tools": TOOLS, "reasoning": "low", "model": "gemini-think"}
    with chatport.Client(backend="gemini", config={}) as client:
        first = run(client, mode, {"messages": "look it up", **tools})
        assert first.message is not None
        assert first.tool_calls
        turns = [
            {"role": "user", "content": "look it up"},
            first.message,
            {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "42"},
        ]
        second = run(client, mode, {"messages": turns, **tools})
    assert second.text == "The tool returned: 42"
    sent = [r.body for r in env.requests if r.method == "POST"][-1]
    thought, call = sent["contents"][1]["parts"]
    signature = first.message.content[0].signature  # type: ignore[index,union-attr]
    assert thought == {"text": first.reasoning, "thought": True, "thoughtSignature": signature}
    assert call["functionCall"]["id"] == first.tool_calls[0].id
