"""The rest backend against the local workspace, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import chatport
from chatport.local import Fault, LocalWorkspace
from chatport.testing import VirtualClock

MODEL = "databricks-gpt-5"


@pytest.fixture
def client(local_workspace: LocalWorkspace) -> Iterator[chatport.Client]:
    with chatport.Client(backend="rest", model=MODEL, config={}) as client:
        yield client


def test_complete_sends_a_clean_request(
    client: chatport.Client, local_workspace: LocalWorkspace
) -> None:
    completion = client.complete(
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "three little words"},
        ],
        max_tokens=2,
        temperature=0.1,
        stop=["END"],
        extra={"top_k": 5},
    )
    assert (completion.text, completion.finish_reason) == ("three little", "length")
    assert completion.usage == chatport.Usage(5, 2, 7)
    assert (completion.backend, completion.model) == ("rest", MODEL)
    (logged,) = local_workspace.requests
    assert logged.path == f"/serving-endpoints/{MODEL}/invocations"
    assert logged.body == {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "three little words"},
        ],
        "max_tokens": 2,
        "temperature": 0.1,
        "stop": ["END"],
        "top_k": 5,
    }
    assert logged.headers["authorization"] == "Bearer ****"


#: What a hybrid Claude endpoint needs to reason (docs/wire-facts.md#reasoning).
THINKING: dict[str, Any] = {
    "max_tokens": 2048,
    "extra": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
}


def test_reasoning_and_replay(client: chatport.Client) -> None:
    plain = client.complete("think first", model="databricks-claude-3-7-sonnet")
    assert (plain.text, plain.reasoning) == ("think first", None)
    first = client.complete("think first", model="databricks-claude-3-7-sonnet", **THINKING)
    assert first.text == "think first"
    assert first.reasoning == "The user asked: think first"
    assert first.message is not None
    part = first.message.content[0]  # type: ignore[index]
    assert isinstance(part, chatport.ReasoningPart)
    assert part.signature is not None
    assert part.signature.startswith("sig-")
    second = client.complete(
        [
            {"role": "user", "content": "think first"},
            first.message,
            {"role": "user", "content": "now answer"},
        ],
        model="databricks-claude-3-7-sonnet",
        **THINKING,
    )
    assert second.text == "now answer"


def test_tool_calls_round_trip(client: chatport.Client) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    first = client.complete("find x", tools=tools)
    assert first.finish_reason == "tool_calls"
    (call,) = first.tool_calls
    assert (call.name, call.parsed()) == ("lookup", {"query": "find x"})
    second = client.complete(
        [
            {"role": "user", "content": "find x"},
            first.message,
            {"role": "tool", "tool_call_id": call.id, "content": "found"},
        ],
        tools=tools,
    )
    assert second.text == "The tool returned: found"


def test_n_and_missing_usage(client: chatport.Client) -> None:
    two = client.complete("a b", n=2)
    assert [c.text for c in two.choices] == ["a b", "a b"]
    bare = client.complete("no usage here", model="local-bare")
    assert bare.id is None
    assert bare.usage == chatport.Usage()


def test_stream_collects_to_the_completion(client: chatport.Client) -> None:
    for model, params in ((MODEL, {}), ("databricks-claude-3-7-sonnet", THINKING)):
        chunks = list(client.stream("stream these words", model=model, **params))
        assert len(chunks) > 3
        collected = chatport.collect(chunks)
        direct = client.complete("stream these words", model=model, **params)
        assert collected.message == direct.message
        assert (collected.text, collected.reasoning, collected.usage, collected.finish_reason) == (
            direct.text,
            direct.reasoning,
            direct.usage,
            direct.finish_reason,
        )


def test_stream_tool_call_is_assembled(client: chatport.Client) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    collected = chatport.collect(client.stream("a longer question to fragment", tools=tools))
    direct = client.complete("a longer question to fragment", tools=tools)
    assert collected.tool_calls == direct.tool_calls
    assert collected.finish_reason == "tool_calls"


def test_async(client: chatport.Client) -> None:
    async def main() -> tuple[list[str], str]:
        answers = await asyncio.gather(*(client.acomplete(f"q {i}") for i in range(10)))
        streamed = "".join([chunk.text async for chunk in client.astream("async stream")])
        return [a.text for a in answers], streamed

    texts, streamed = asyncio.run(main())
    assert texts == [f"q {i}" for i in range(10)]
    assert streamed == "async stream"


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.error(400), chatport.BadRequestError, 400),
        (Fault.error(403), chatport.PermissionDeniedError, 403),
        (Fault.error(404), chatport.NotFoundError, 404),
        (Fault.rate_limit(retry_after=3), chatport.RateLimitError, 429),
        (Fault.error(500), chatport.ServerError, 500),
        (Fault.error(503), chatport.ServerError, 503),
        (Fault.garbage(), chatport.ResponseFormatError, 200),
        (Fault.wrong_shape(), chatport.ResponseFormatError, None),
    ],
)
def test_errors_are_mapped(
    client: chatport.Client,
    local_workspace: LocalWorkspace,
    virtual_clock: VirtualClock,
    fault: Fault,
    error: type[chatport.APIError],
    status: int | None,
) -> None:
    local_workspace.set_faults(MODEL, fault)
    with pytest.raises(error) as info:
        client.complete("hi")
    assert info.value.backend == "rest"
    if status is not None and status != 200:
        assert info.value.status_code == status
    if isinstance(info.value, chatport.RateLimitError):
        assert info.value.retry_after == 3.0
        assert virtual_clock.waits == [3.0, 3.0]  # the server's wait, before each retry
    if status == 503:  # backoff with full jitter (a 503's Retry-After is not waited for)
        first, second = virtual_clock.waits
        assert first <= 0.25
        assert second <= 0.5
    assert local_workspace.token not in str(info.value)


def test_dropped_and_garbage_streams(
    client: chatport.Client, local_workspace: LocalWorkspace
) -> None:
    local_workspace.set_faults(MODEL, Fault.drop_stream(after_chunks=2))
    stream = client.stream("one two three four")
    with pytest.raises(chatport.APIConnectionError):
        list(stream)
    local_workspace.set_faults(MODEL, Fault.garbage())
    with pytest.raises(chatport.ResponseFormatError, match="not JSON"):
        list(client.stream("x"))


def test_auth_errors(local_workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-wrong-token")
    with (
        chatport.Client(backend="rest", config={}) as client,
        pytest.raises(chatport.PermissionDeniedError) as info,
    ):
        client.complete("hi", model=MODEL)
    assert "dapi-wrong-token" not in str(info.value)
    monkeypatch.delenv("DATABRICKS_TOKEN")
    with (
        chatport.Client(backend="rest", config={}) as client,
        pytest.raises(chatport.AuthenticationError),
    ):
        client.complete("hi", model=MODEL)


def test_timeout_and_refused_connection(
    local_workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_workspace.set_faults(MODEL, Fault.slow(2.0, times=1))
    with (
        chatport.Client(backend="rest", timeout=0.3, config={}) as client,
        pytest.raises(chatport.APITimeoutError),
    ):
        client.complete("hi", model=MODEL)
    monkeypatch.setenv("DATABRICKS_HOST", "http://127.0.0.1:9")
    with (
        chatport.Client(backend="rest", config={}) as client,
        pytest.raises(chatport.APIConnectionError),
    ):
        client.complete("hi", model=MODEL)


def test_no_workspace_and_insecure_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABRICKS_HOST", raising=False)
    with (
        chatport.Client(backend="rest", config={}) as client,
        pytest.raises(chatport.ConfigError, match="no workspace host configured"),
    ):
        client.complete("hi", model=MODEL)
    monkeypatch.setenv("DATABRICKS_HOST", "http://dbc.example.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-secret-value")
    with (
        chatport.Client(backend="rest", config={}) as client,
        pytest.raises(chatport.ConfigError, match="plain http://") as info,
    ):
        client.complete("hi", model=MODEL)
    assert "dapi-secret-value" not in str(info.value)
