"""Contract: the unmodified openai client against the local workspace (no chatport code)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from chatport.local import LocalWorkspace

BASES = ["/serving-endpoints", "/ai-gateway/mlflow/v1"]
MODEL = "databricks-gpt-5"


MakeClient = Callable[[LocalWorkspace, str], openai.OpenAI]


@pytest.fixture
def client() -> Iterator[MakeClient]:
    """Sync clients, each closed at teardown (an unclosed pool leaks its sockets)."""
    made: list[openai.OpenAI] = []

    def make(ws: LocalWorkspace, base: str) -> openai.OpenAI:
        made.append(
            openai.OpenAI(api_key=ws.token, base_url=ws.url + base, max_retries=0, timeout=10)
        )
        return made[-1]

    yield make
    for each in made:
        each.close()


def aclient(ws: LocalWorkspace, base: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=ws.token, base_url=ws.url + base, max_retries=0, timeout=10)


@pytest.mark.parametrize("base", BASES)
def test_chat_sync(client: MakeClient, ws: LocalWorkspace, base: str) -> None:
    response = client(ws, base).chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello local world"},
        ],
        max_tokens=50,
    )
    choice = response.choices[0]
    assert choice.message.content == "hello local world"
    assert choice.finish_reason == "stop"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (5, 3)
    assert response.model == MODEL
    (logged,) = ws.requests
    assert logged.path == base + "/chat/completions"
    assert logged.headers["authorization"] == "Bearer ****"
    assert logged.body["max_tokens"] == 50


@pytest.mark.parametrize("base", BASES)
def test_chat_async(ws: LocalWorkspace, base: str) -> None:
    async def main() -> list[str]:
        async with aclient(ws, base) as ac:
            results = await asyncio.gather(
                *(
                    ac.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": f"q{i}"}]
                    )
                    for i in range(5)
                )
            )
        return [r.choices[0].message.content or "" for r in results]

    assert asyncio.run(main()) == [f"q{i}" for i in range(5)]


@pytest.mark.parametrize("base", BASES)
def test_chat_stream_sync_and_async(client: MakeClient, ws: LocalWorkspace, base: str) -> None:
    stream = client(ws, base).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []  # include_usage: usage comes in one extra chunk
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 6

    async def main() -> tuple[str, list[object]]:
        async with aclient(ws, base) as ac:
            astream = await ac.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "four five"}], stream=True
            )
            chunks = [c async for c in astream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return text, [c.usage for c in chunks]

    text, usages = asyncio.run(main())
    assert text == "four five"
    assert len(usages) > 2
    assert all(u is None for u in usages)  # no stream_options: no usage


def test_gateway_accepts_system_ai_names(client: MakeClient, ws: LocalWorkspace) -> None:
    response = client(ws, "/ai-gateway/mlflow/v1").chat.completions.create(
        model="system.ai.claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]
    )
    assert response.choices[0].message.content == "hi"


def test_reasoning_content_is_a_block_list(client: MakeClient, ws: LocalWorkspace) -> None:
    response = client(ws, BASES[0]).chat.completions.create(
        model="databricks-claude-3-7-sonnet",
        messages=[{"role": "user", "content": "why"}],
        max_tokens=2048,
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    content: Any = response.choices[0].message.content
    assert isinstance(content, list)
    assert content[0]["type"] == "reasoning"
    assert content[0]["summary"][0]["signature"].startswith("sig-")
    assert content[1] == {"type": "text", "text": "why"}


def test_tool_call(client: MakeClient, ws: LocalWorkspace) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    response = client(ws, BASES[0]).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "find it"}],
        tools=tools,  # type: ignore[list-item]
    )
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert call.function.arguments == '{"query": "find it"}'  # type: ignore[union-attr]


@pytest.mark.parametrize("base", BASES)
def test_responses_sync_async_stream(client: MakeClient, ws: LocalWorkspace, base: str) -> None:
    sync = client(ws, base)
    response = sync.responses.create(
        model=MODEL, input="respond please", instructions="be brief", max_output_tokens=64
    )
    assert response.output_text == "respond please"
    assert response.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (4, 2)

    truncated = sync.responses.create(model=MODEL, input="a b c d", max_output_tokens=2)
    assert truncated.status == "incomplete"
    assert truncated.incomplete_details is not None
    assert truncated.incomplete_details.reason == "max_output_tokens"
    assert truncated.output_text == "a b"

    events = list(
        sync.responses.create(
            model=MODEL, input=[{"role": "user", "content": "streamed words"}], stream=True
        )
    )
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert (
        "".join(e.delta for e in events if e.type == "response.output_text.delta")
        == "streamed words"
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))

    async def main() -> tuple[str, str]:
        async with aclient(ws, base) as ac:
            result = await ac.responses.create(model=MODEL, input="async response")
            events = await ac.responses.create(model=MODEL, input="async stream", stream=True)
            deltas = [e.delta async for e in events if e.type == "response.output_text.delta"]
            return result.output_text, "".join(deltas)

    assert asyncio.run(main()) == ("async response", "async stream")
    assert {r.path for r in ws.requests} == {base + "/responses"}
