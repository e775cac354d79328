"""Prompt caching on the Messages route: ``cache_control`` blocks out, Anthropic usage in."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

import chatport
from chatport import Completion, Message, TextPart
from chatport.local import LocalWorkspace

MODES = ["sync", "async", "stream", "astream"]
EPHEMERAL = {"type": "ephemeral"}


def run(client: chatport.Client, mode: str, messages: Any, **params: Any) -> Completion:
    if mode == "sync":
        return client.complete(messages, **params)
    if mode == "async":
        return asyncio.run(client.acomplete(messages, **params))
    if mode == "stream":
        return chatport.collect(client.stream(messages, **params))

    async def collect_async() -> Completion:
        return chatport.collect([chunk async for chunk in client.astream(messages, **params)])

    return asyncio.run(collect_async())


def _system() -> str:
    return f"You review contracts for clause {uuid.uuid4().hex} and answer briefly."


def _bodies(env: LocalWorkspace, system: str) -> list[dict[str, Any]]:
    return [
        r.body
        for r in env.requests
        if r.method == "POST" and isinstance(r.body, dict) and system in str(r.body)
    ]


@pytest.mark.parametrize("mode", MODES)
def test_call_cache_writes_then_reads(env: LocalWorkspace, mode: str) -> None:
    system = _system()
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "summarize"}]
    with chatport.Client(backend="anthropic", config={}) as client:
        first = run(client, mode, messages, model="claude-echo", cache=True).usage
        second = run(client, mode, messages, model="claude-echo", cache=True).usage
    assert first.prompt_tokens is not None
    assert first.prompt_tokens > 0
    assert first.cache_write_tokens == first.prompt_tokens
    assert first.cached_tokens == 0
    assert (second.cached_tokens, second.cache_write_tokens) == (first.prompt_tokens, 0)
    assert second.prompt_tokens == first.prompt_tokens  # reads and writes are part of it
    for body in _bodies(env, system):
        assert body["system"] == system  # the call's breakpoint is on the last message
        assert body["messages"] == [
            {
                "role": "user",
                "content": [{"type": "text", "text": "summarize", "cache_control": EPHEMERAL}],
            }
        ]
        assert "cache_control" not in body  # no top-level (automatic) caching


def test_breakpoints_on_system_and_parts(env: LocalWorkspace) -> None:
    system = _system()
    messages = [
        Message("system", system, cache=True),
        Message("user", (TextPart("a document ", cache=True), TextPart("the question"))),
    ]
    with chatport.Client(backend="anthropic", config={}) as client:
        first = client.complete(messages, model="claude-echo").usage
        second = client.complete(messages, model="claude-echo").usage
    (body, _) = _bodies(env, system)
    assert body["system"] == [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "a document ", "cache_control": EPHEMERAL},
        {"type": "text", "text": "the question"},
    ]
    assert first.cache_write_tokens == len(system.split()) + 2
    assert (second.cached_tokens, second.cache_write_tokens) == (first.cache_write_tokens, 0)
    assert second.prompt_tokens == first.prompt_tokens


def test_tool_result_breakpoint(env: LocalWorkspace) -> None:
    system = _system()
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "t1", "content": "tool output", "cache": True},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with chatport.Client(backend="anthropic", config={}) as client:
        usage = client.complete(messages, model="claude-echo", tools=tools).usage
    (body,) = _bodies(env, system)
    result = body["messages"][-1]["content"][-1]
    assert result["type"] == "tool_result"
    assert result["cache_control"] == EPHEMERAL
    assert usage.cache_write_tokens is not None
    assert usage.cache_write_tokens > 0


def test_too_many_breakpoints_are_refused_before_sending(env: LocalWorkspace) -> None:
    system = _system()
    parts = tuple(TextPart(f"part {i} ", cache=True) for i in range(5))
    with (
        chatport.Client(backend="anthropic", config={}) as client,
        pytest.raises(chatport.InvalidRequestError, match="at most 4"),
    ):
        client.complete([Message("system", system), Message("user", parts)], model="claude-echo")
    assert _bodies(env, system) == []
