"""Prompt caching on every built-in backend: what goes on the wire, and the usage back.

Claude takes explicit breakpoints (``cache_control`` on content blocks), and the local
workspace emulates its cache: the first call writes the prefix, the next reads it.
Other families cache on their own and must get nothing extra; the local workspace
refuses ``cache_control`` for them, as an extra input.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

import chatport
from chatport import Completion, Message, TextPart
from chatport.local import LocalWorkspace

from ..backends import BUILT_IN, CHAT

MODES = ["sync", "async", "stream", "astream"]
CLAUDE = "databricks-claude-sonnet-4-5"
OTHERS = ("databricks-gpt-5", "databricks-meta-llama-3-3-70b-instruct", "databricks-gemini-2-5-pro")
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


def fresh_system() -> str:
    """A system prompt no other test sent: its prefix is not cached yet."""
    return f"You review contracts for clause {uuid.uuid4().hex} and answer briefly."


def posted(ws: LocalWorkspace, marker: str) -> list[dict[str, Any]]:
    """The bodies of the POSTs whose JSON holds ``marker``."""
    return [
        r.body
        for r in ws.requests
        if r.method == "POST" and isinstance(r.body, dict) and marker in json.dumps(r.body)
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", CHAT)
def test_claude_call_cache_writes_then_reads(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    system = fresh_system()
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "summarize"}]
    with chatport.Client(backend=backend, config={}, max_retries=0) as client:
        first = run(client, mode, messages, model=CLAUDE, cache=True).usage
        second = run(client, mode, messages, model=CLAUDE, cache=True).usage
    assert first.cache_write_tokens is not None
    assert first.cache_write_tokens > 0
    assert not first.cached_tokens
    assert second.cached_tokens == first.cache_write_tokens
    assert second.cache_write_tokens == 0
    assert second.prompt_tokens == first.prompt_tokens  # cache counts are part of it
    # cache=True marks the end of the last message, as a one-block list
    for body in posted(module_workspace, system):
        assert body["messages"][0]["content"] == system
        last = body["messages"][-1]["content"]
        assert last == [{"type": "text", "text": "summarize", "cache_control": EPHEMERAL}]


@pytest.mark.parametrize("backend", CHAT)
def test_claude_breakpoints_on_messages_and_parts(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    system = fresh_system()
    messages = [
        Message("system", system, cache=True),
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "first document body ", "cache_control": EPHEMERAL},
                {"type": "text", "text": "second document body ", "cache": True},
                TextPart("the question"),
            ],
        },
    ]
    with chatport.Client(backend=backend, config={}, max_retries=0) as client:
        first = client.complete(messages, model=CLAUDE).usage
        # a new last part: the three cached prefixes are read, the rest is not cached
        again = [*messages[:1], {**messages[1], "content": [*messages[1]["content"][:2], "new"]}]
        second = client.complete(again, model=CLAUDE).usage
    (body, _) = posted(module_workspace, system)
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": system, "cache_control": EPHEMERAL}
    ]
    assert [part.get("cache_control") for part in body["messages"][1]["content"]] == [
        EPHEMERAL,
        EPHEMERAL,
        None,
    ]
    assert first.cache_write_tokens == len(system.split()) + 6
    assert (second.cached_tokens, second.cache_write_tokens) == (first.cache_write_tokens, 0)


@pytest.mark.parametrize("model", OTHERS)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_families_that_cache_on_their_own_get_nothing_extra(
    module_workspace: LocalWorkspace, backend: str, model: str
) -> None:
    system = fresh_system()
    messages = [
        Message("system", system, cache=True),
        Message("user", (TextPart("a document", cache=True), TextPart("the question"))),
    ]
    with chatport.Client(backend=backend, config={}, max_retries=0) as client:
        for mode in MODES:
            usage = run(client, mode, messages, model=model, cache=True).usage
            assert usage.cache_write_tokens is None
    bodies = posted(module_workspace, system)
    assert len(bodies) == len(MODES)
    assert not any("cache_control" in json.dumps(body) for body in bodies)


@pytest.mark.parametrize("mode", MODES)
def test_responses_refuses_claude_breakpoints_before_sending(
    module_workspace: LocalWorkspace, mode: str
) -> None:
    system = fresh_system()
    with chatport.Client(backend="responses", config={}, max_retries=0) as client:
        for params in ({"cache": True}, {}):
            messages = [Message("system", system, cache=not params), Message("user", "hi")]
            with pytest.raises(chatport.UnsupportedFeatureError, match="chat backend") as info:
                run(client, mode, messages, model=CLAUDE, **params)
            assert info.value.feature == "cache"
            assert "rest" in info.value.supported_by
    assert posted(module_workspace, system) == []


@pytest.mark.parametrize("backend", BUILT_IN)
def test_cache_must_be_a_bool(module_workspace: LocalWorkspace, backend: str) -> None:
    with chatport.Client(backend=backend, config={}) as client:
        with pytest.raises(chatport.InvalidRequestError, match="bool") as info:
            client.complete("hi", model=CLAUDE, cache="yes")
        assert info.value.field == "cache"
        with pytest.raises(chatport.InvalidRequestError) as info:
            client.complete([{"role": "user", "content": "hi", "cache": 1}], model=CLAUDE)
        assert info.value.field == "messages[0].cache"
        bad = {"type": "text", "text": "hi", "cache_control": {"type": "persistent"}}
        with pytest.raises(chatport.InvalidRequestError) as info:
            client.complete([{"role": "user", "content": [bad]}], model=CLAUDE)
        assert info.value.field == "messages[0].content[0].cache_control"


@pytest.mark.parametrize("backend", CHAT)
def test_more_than_four_claude_breakpoints_are_refused_before_sending(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    system = fresh_system()
    parts = tuple(TextPart(f"part {i}", cache=True) for i in range(5))
    with (
        chatport.Client(backend=backend, config={}) as client,
        pytest.raises(chatport.InvalidRequestError, match="at most 4"),
    ):
        client.complete([Message("system", system), Message("user", parts)], model=CLAUDE)
    assert posted(module_workspace, system) == []


def _post(ws: LocalWorkspace, model: str, content: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        f"{ws.url}/serving-endpoints/{model}/invocations",
        json={"messages": [{"role": "user", "content": content}]},
        headers={"Authorization": f"Bearer {ws.token}"},
        timeout=10,
    )


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ({"type": "persistent"}, "cache_control.type: Input should be 'ephemeral'"),
        ("ephemeral", "cache_control: Input should be a valid dictionary"),
        ({"type": "ephemeral", "ttl": "2h"}, "cache_control.ttl"),
        ({"type": "ephemeral", "scope": "org"}, "cache_control.scope: Extra inputs"),
    ],
)
def test_workspace_refuses_malformed_cache_control(
    module_workspace: LocalWorkspace, control: Any, message: str
) -> None:
    answer = _post(
        module_workspace, CLAUDE, [{"type": "text", "text": "x", "cache_control": control}]
    )
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "BAD_REQUEST"
    assert message in answer.json()["message"]


def test_workspace_refuses_a_fifth_breakpoint_and_other_families_cache_control(
    module_workspace: LocalWorkspace,
) -> None:
    five = [{"type": "text", "text": f"p{i}", "cache_control": EPHEMERAL} for i in range(5)]
    answer = _post(module_workspace, CLAUDE, five)
    assert answer.status_code == 400
    assert "A maximum of 4 blocks with cache_control" in answer.json()["message"]
    for model in OTHERS:
        answer = _post(module_workspace, model, five[:1])
        assert answer.status_code == 400, model
        assert "cache_control" in answer.json()["message"]
    ttl = [{"type": "text", "text": fresh_system(), "cache_control": {**EPHEMERAL, "ttl": "1h"}}]
    usage = _post(module_workspace, CLAUDE, ttl).json()["usage"]
    assert usage["cache_creation_input_tokens"] == usage["prompt_tokens"] > 0
    assert usage["cache_read_input_tokens"] == 0
