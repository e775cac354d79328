"""``anthropic`` gives the same Completion as ``openai`` for the same Claude endpoint.

Both backends run sync, async, streamed and async-streamed against the local workspace,
whose endpoints here send a fixed id and timestamp, so whole completions can be compared.
Only ``backend``, ``raw`` and ``latency_s`` may differ: ``created`` comes from the Messages
answer's ``Date`` header, ``usage.reasoning_tokens`` from its
``output_tokens_details.thinking_tokens``, and ``usage.cached_tokens`` from its
``cache_read_input_tokens``, which a Claude endpoint's chat completions report too.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

import chatport
from chatport import Completion
from chatport.local import LocalWorkspace

MODES = ["sync", "async", "stream", "astream"]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]

SCENARIOS: dict[str, dict[str, Any]] = {
    "plain-with-system": {
        "model": "claude-echo",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one two three"},
        ],
    },
    "claude-sends-usage": {
        "model": "claude-think",
        "messages": [{"role": "user", "content": "no thinking unless asked"}],
    },
    "reasoning-with-signature": {
        "model": "claude-think",
        "messages": [{"role": "user", "content": "think hard"}],
        "reasoning": "low",
    },
    "reasoning-budget": {
        "model": "claude-think",
        "messages": [{"role": "user", "content": "think a while"}],
        "reasoning": 2048,
        "max_tokens": 4000,
    },
    "tool-call": {
        "model": "claude-echo",
        "messages": [{"role": "user", "content": "look this up"}],
        "tools": TOOLS,
    },
    "reasoning-and-tool-call": {
        "model": "claude-think",
        "messages": [{"role": "user", "content": "look it up"}],
        "tools": TOOLS,
        "tool_choice": "required",
        "reasoning": "medium",
    },
    "tool-result": {
        "model": "claude-echo",
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
        "model": "claude-echo",
        "messages": [{"role": "user", "content": "a b c d e f"}],
        "max_tokens": 2,
    },
    "stop": {
        "model": "claude-echo",
        "messages": [{"role": "user", "content": "one two three four"}],
        "stop": [" three"],
    },
}

#: What the anthropic backend declares unsupported, and the error it gives instead.
UNSUPPORTED: dict[str, tuple[dict[str, Any], type[Exception], str]] = {
    "n-2": (
        {"model": "claude-echo", "messages": "twice", "n": 2},
        chatport.UnsupportedFeatureError,
        "n > 1",
    ),
    "response-format": (
        {"model": "claude-echo", "messages": "json", "response_format": {"type": "json_object"}},
        chatport.UnsupportedFeatureError,
        "response_format",
    ),
    "non-claude-endpoint": (
        {"model": "gpt-echo", "messages": "hello"},
        chatport.BadRequestError,
        "Anthropic models only",
    ),
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


@pytest.mark.parametrize("mode", MODES)
def test_anthropic_equals_openai_on_claude(env: LocalWorkspace, mode: str) -> None:
    with (
        chatport.Client(backend="openai", config={}) as openai,
        chatport.Client(backend="anthropic", config={}) as anthropic,
    ):
        for name, scenario in SCENARIOS.items():
            expected = run(openai, mode, scenario)
            result = run(anthropic, mode, scenario)
            if mode in ("sync", "async"):
                assert result.backend == "anthropic"
            assert comparable(result) == comparable(expected), f"{mode}/{name}"
    paths = {r.path for r in env.requests if r.method == "POST"}
    assert "/serving-endpoints/anthropic/v1/messages" in paths


def test_scenarios_are_what_they_say(env: LocalWorkspace) -> None:
    with chatport.Client(backend="anthropic", config={}) as client:
        done = {name: run(client, "sync", s) for name, s in SCENARIOS.items()}
    assert done["plain-with-system"].text == "one two three"
    plain = done["plain-with-system"]
    assert plain.usage == chatport.Usage(
        5, 3, 8, reasoning_tokens=0, cached_tokens=0, cache_write_tokens=0
    )
    assert plain.created == 1_700_000_000  # the workspace's fixed clock, via Date
    assert done["claude-sends-usage"].reasoning is None
    signed = done["reasoning-with-signature"]
    assert signed.reasoning == "The user asked: think hard"
    assert signed.usage.reasoning_tokens == len(signed.reasoning.split())
    assert signed.message is not None
    assert isinstance(signed.message.content, tuple)
    part = signed.message.content[0]
    assert isinstance(part, chatport.ReasoningPart)
    assert part.signature is not None
    assert part.signature.startswith("sig-")
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


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
@pytest.mark.parametrize("mode", ["sync", "stream"])
def test_unsupported_cases_are_declared(env: LocalWorkspace, name: str, mode: str) -> None:
    scenario, error, text = UNSUPPORTED[name]
    with (
        chatport.Client(backend="anthropic", config={}) as client,
        pytest.raises(error, match=text),
    ):
        run(client, mode, scenario)


@pytest.mark.parametrize("mode", MODES)
def test_multi_turn_replays_thinking_with_its_signature(env: LocalWorkspace, mode: str) -> None:
    tools = {"tools": TOOLS, "reasoning": "low", "model": "claude-think"}
    with chatport.Client(backend="anthropic", config={}) as client:
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
    sent = [r.body for r in env.requests if r.method == "POST" and "messages" in r.path][-1]
    assistant = sent["messages"][1]
    assert assistant["role"] == "assistant"
    thinking, tool_use = assistant["content"]
    assert thinking == {
        "type": "thinking",
        "thinking": first.reasoning,
        "signature": first.message.content[0].signature,  # type: ignore[index,union-attr]
    }
    assert (tool_use["type"], tool_use["id"]) == ("tool_use", first.tool_calls[0].id)
    assert sent["messages"][2]["content"][0]["type"] == "tool_result"
