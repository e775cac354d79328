"""The local workspace's Anthropic Messages routes, driven by the unmodified anthropic client.

The anthropic SDK comes with the ``chatport-anthropic`` plugin package (installed by CI
and the README's test command); without it these tests skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatport.local import Endpoint, Fault, LocalWorkspace

anthropic = pytest.importorskip("anthropic")

CLAUDE = "databricks-claude-sonnet-4-5"
TOOLS = [{"name": "lookup", "description": "look up", "input_schema": {"type": "object"}}]
THINK = {"type": "enabled", "budget_tokens": 1024}


_CLIENTS: dict[tuple[str, str], Any] = {}


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The kit's workspace for this module adds one anthropic-family echo endpoint."""
    return {"endpoints": [Endpoint("claude-echo", "echo", family="anthropic")]}


@pytest.fixture(scope="module", autouse=True)
def _close_clients(module_workspace_server: LocalWorkspace) -> Iterator[None]:
    """Close the module's anthropic clients before its workspace stops."""
    yield
    for made in _CLIENTS.values():
        made.close()
    _CLIENTS.clear()


@pytest.fixture
def workspace(module_workspace: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace, with no faults and an empty request log."""
    return module_workspace


def thinking_tokens(usage: Any) -> int | None:
    """``usage.output_tokens_details.thinking_tokens`` as sent, whether or not the installed
    anthropic client models the field (older ones keep it as an extra dict)."""
    details = usage.model_dump().get("output_tokens_details")
    return details.get("thinking_tokens") if isinstance(details, dict) else None


def client(ws: LocalWorkspace, route: str = "serving-endpoints") -> Any:
    """The anthropic client as Databricks documents it, one per route (closed at the end)."""
    key = (ws.url, route)
    if key not in _CLIENTS:
        _CLIENTS[key] = anthropic.Anthropic(
            base_url=f"{ws.url}/{route}/anthropic",
            api_key="unused",
            default_headers={"Authorization": f"Bearer {ws.token}"},
            max_retries=0,
        )
    return _CLIENTS[key]


def raw_events(ws: LocalWorkspace, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (event name, data) pairs of a streamed answer, read off the wire."""
    response = httpx.post(
        f"{ws.url}/serving-endpoints/anthropic/v1/messages",
        json={**body, "stream": True},
        headers={"Authorization": f"Bearer {ws.token}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for frame in response.text.strip().split("\n\n"):
        name_line, data_line = frame.split("\n")
        name, data = name_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        events.append((name, data))
    return events


@pytest.mark.parametrize("route", ["serving-endpoints", "ai-gateway"])
def test_plain_message_on_both_routes(workspace: LocalWorkspace, route: str) -> None:
    message = client(workspace, route).messages.create(
        model=CLAUDE,
        max_tokens=256,
        system="be brief",
        messages=[{"role": "user", "content": "what is a mixture of experts"}],
    )
    assert (message.type, message.role, message.model) == ("message", "assistant", CLAUDE)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "what is a mixture of experts"
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (8, 6)  # system words count too
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    assert thinking_tokens(usage) == 0  # 0 without thinking, as chat reports
    assert workspace.requests[-1].path == f"/{route}/anthropic/v1/messages"
    assert workspace.requests[-1].headers["authorization"] == "Bearer ****"


def test_gateway_name_reaches_the_endpoint(workspace: LocalWorkspace) -> None:
    message = client(workspace, "ai-gateway").messages.create(
        model="system.ai.claude-sonnet-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "via the gateway"}],
    )
    assert message.content[0].text == "via the gateway"


def test_thinking_only_when_requested(workspace: LocalWorkspace) -> None:
    plain = client(workspace).messages.create(
        model=CLAUDE, max_tokens=2048, messages=[{"role": "user", "content": "no thinking"}]
    )
    assert [b.type for b in plain.content] == ["text"]
    thought = client(workspace).messages.create(
        model=CLAUDE,
        max_tokens=2048,
        thinking=THINK,
        messages=[{"role": "user", "content": "think first"}],
    )
    assert [b.type for b in thought.content] == ["thinking", "text"]
    assert thought.content[0].thinking == "The user asked: think first"
    assert thought.content[0].signature.startswith("sig-")
    assert thought.usage.output_tokens == 2 + 5  # the answer and the thinking
    assert thinking_tokens(thought.usage) == 5


def test_tool_use_then_tool_result(workspace: LocalWorkspace) -> None:
    first = client(workspace).messages.create(
        model=CLAUDE,
        max_tokens=2048,
        thinking=THINK,
        tools=TOOLS,
        messages=[{"role": "user", "content": "look it up"}],
    )
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    assert first.stop_reason == "tool_use"
    call = first.content[1]
    assert (call.name, call.input) == ("lookup", {"query": "look it up"})
    second = client(workspace).messages.create(
        model=CLAUDE,
        max_tokens=2048,
        thinking=THINK,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "look it up"},
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "42"}],
            },
        ],
    )
    assert second.content[-1].text == "The tool returned: 42"
    assert second.stop_reason == "end_turn"


def test_tool_choice_picks_the_tool_or_none(workspace: LocalWorkspace) -> None:
    tools = [*TOOLS, {"name": "other", "input_schema": {"type": "object"}}]
    chosen = client(workspace).messages.create(
        model=CLAUDE,
        max_tokens=64,
        tools=tools,
        tool_choice={"type": "tool", "name": "other"},
        messages=[{"role": "user", "content": "pick other"}],
    )
    assert chosen.content[0].name == "other"
    none = client(workspace).messages.create(
        model=CLAUDE,
        max_tokens=64,
        tools=tools,
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": "no tool"}],
    )
    assert [b.type for b in none.content] == ["text"]


def test_stop_sequence_and_max_tokens(workspace: LocalWorkspace) -> None:
    stopped = client(workspace).messages.create(
        model=CLAUDE,
        max_tokens=64,
        stop_sequences=[" three"],
        messages=[{"role": "user", "content": "one two three four"}],
    )
    assert stopped.content[0].text == "one two"
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", " three")
    cut = client(workspace).messages.create(
        model=CLAUDE, max_tokens=2, messages=[{"role": "user", "content": "a b c d"}]
    )
    assert (cut.content[0].text, cut.stop_reason) == ("a b", "max_tokens")


def test_stream_event_sequence_on_the_wire(workspace: LocalWorkspace) -> None:
    body = {
        "model": CLAUDE,
        "max_tokens": 2048,
        "thinking": THINK,
        "tools": TOOLS,
        "messages": [{"role": "user", "content": "stream it"}],
    }
    events = raw_events(workspace, body)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [
        data["content_block"]["type"] for name, data in events if name == "content_block_start"
    ]
    assert starts == ["thinking", "tool_use"]
    deltas = {data["delta"]["type"] for name, data in events if name == "content_block_delta"}
    assert deltas == {"thinking_delta", "signature_delta", "input_json_delta"}
    assert names.count("content_block_stop") == 2
    start_usage = events[0][1]["message"]["usage"]
    assert start_usage["output_tokens_details"] == {"thinking_tokens": 0}  # none yet
    message_delta = events[-2][1]
    assert message_delta["delta"]["stop_reason"] == "tool_use"
    usage = message_delta["usage"]  # cumulative: input, cache and output again
    assert usage["output_tokens"] > usage["output_tokens_details"]["thinking_tokens"] == 5
    assert usage["input_tokens"] == start_usage["input_tokens"] == 2
    assert (usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]) == (0, 0)
    text_events = raw_events(workspace, {**body, "tools": None, "thinking": None})
    text_deltas = [d["delta"] for n, d in text_events if n == "content_block_delta"]
    assert {d["type"] for d in text_deltas} == {"text_delta"}
    assert "".join(d["text"] for d in text_deltas) == "stream it"


def test_streamed_answer_equals_the_plain_one(workspace: LocalWorkspace) -> None:
    kwargs: dict[str, Any] = {
        "model": CLAUDE,
        "max_tokens": 2048,
        "thinking": THINK,
        "tools": TOOLS,
        "messages": [{"role": "user", "content": "same either way"}],
    }
    plain = client(workspace).messages.create(**kwargs)
    with client(workspace).messages.stream(**kwargs) as stream:
        streamed = stream.get_final_message()
    assert [b.model_dump() for b in streamed.content] == [b.model_dump() for b in plain.content]
    assert (streamed.stop_reason, streamed.usage.output_tokens) == (
        plain.stop_reason,
        plain.usage.output_tokens,
    )
    assert streamed.usage.input_tokens == plain.usage.input_tokens
    thinking = plain.content[0]
    assert thinking.type == "thinking"
    assert thinking_tokens(plain.usage) == len(thinking.thinking.split())
    if "output_tokens_details" in type(streamed.usage).model_fields:
        # an anthropic client that models the field folds message_delta's counts in;
        # older ones keep message_start's (the wire: test_stream_event_sequence_on_the_wire)
        assert thinking_tokens(streamed.usage) == thinking_tokens(plain.usage)


def invalid(ws: LocalWorkspace, **kwargs: Any) -> str:
    """The message of the Anthropic-shaped 400 the request gets."""
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(ws).messages.create(**{"model": CLAUDE, **kwargs})
    body = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    return str(body["error"]["message"])


def test_strict_request_checks(workspace: LocalWorkspace) -> None:
    user = [{"role": "user", "content": "hi"}]
    missing = invalid(workspace, max_tokens=1, messages=user, extra_body={"max_tokens": None})
    assert missing == "max_tokens: Field required"
    system = [{"role": "system", "content": "be brief"}, *user]
    assert "top-level `system`" in invalid(workspace, max_tokens=64, messages=system)
    low = {"type": "enabled", "budget_tokens": 512}
    assert "at least 1024" in invalid(workspace, max_tokens=4096, thinking=low, messages=user)
    assert "greater than thinking.budget_tokens" in invalid(
        workspace, max_tokens=1024, thinking=THINK, messages=user
    )
    assert "Extra inputs" in invalid(workspace, max_tokens=64, messages=user, extra_body={"n": 2})
    no_schema = [{"name": "lookup"}]
    assert "input_schema" in invalid(workspace, max_tokens=64, messages=user, tools=no_schema)


def test_replayed_thinking_must_keep_its_signature(workspace: LocalWorkspace) -> None:
    first = client(workspace).messages.create(
        model=CLAUDE, max_tokens=2048, thinking=THINK, messages=[{"role": "user", "content": "a"}]
    )
    blocks = [b.model_dump() for b in first.content]
    blocks[0]["signature"] = "sig-forged"
    turns = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": blocks},
        {"role": "user", "content": "b"},
    ]
    assert "Invalid `signature`" in invalid(
        workspace, max_tokens=2048, thinking=THINK, messages=turns
    )


def test_thinking_tool_turn_must_start_with_thinking(workspace: LocalWorkspace) -> None:
    turns = [
        {"role": "user", "content": "a"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]},
    ]
    message = invalid(workspace, max_tokens=2048, thinking=THINK, tools=TOOLS, messages=turns)
    assert "Expected `thinking`" in message
    orphan = [turns[0], {"role": "user", "content": turns[2]["content"]}]
    assert "tool_use_id" in invalid(workspace, max_tokens=64, tools=TOOLS, messages=orphan)


def test_thinking_on_a_claude_that_cannot_think(workspace: LocalWorkspace) -> None:
    message = invalid(
        workspace,
        model="claude-echo",
        max_tokens=4096,
        thinking=THINK,
        messages=[{"role": "user", "content": "x"}],
    )
    assert "hybrid" in message


def test_workspace_refusals_keep_databricks_shape(workspace: LocalWorkspace) -> None:
    user = [{"role": "user", "content": "hi"}]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(workspace).messages.create(model="databricks-gpt-5", max_tokens=64, messages=user)
    assert caught.value.body["error_code"] == "BAD_REQUEST"
    assert "Anthropic models only" in caught.value.body["message"]
    with pytest.raises(anthropic.NotFoundError):
        client(workspace).messages.create(model="no-such-endpoint", max_tokens=64, messages=user)
    with (
        anthropic.Anthropic(
            base_url=f"{workspace.url}/serving-endpoints/anthropic",
            auth_token="wrong",
            max_retries=0,
        ) as stranger,
        pytest.raises(anthropic.PermissionDeniedError),
    ):
        stranger.messages.create(model=CLAUDE, max_tokens=64, messages=user)


def test_injected_rate_limit(workspace: LocalWorkspace) -> None:
    workspace.set_faults("claude-echo", Fault.rate_limit(times=1, retry_after=3))
    try:
        with pytest.raises(anthropic.RateLimitError) as caught:
            client(workspace).messages.create(
                model="claude-echo", max_tokens=64, messages=[{"role": "user", "content": "x"}]
            )
        assert caught.value.response.headers["retry-after"] == "3"
        answer = client(workspace).messages.create(
            model="claude-echo", max_tokens=64, messages=[{"role": "user", "content": "again"}]
        )
        assert answer.content[0].text == "again"
    finally:
        workspace.set_faults("claude-echo")
