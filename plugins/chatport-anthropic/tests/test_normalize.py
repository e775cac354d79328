"""Blocks the local workspace never sends (redacted thinking, cache usage, refusals).

These feed Messages-API JSON, as the wire carries it, straight to the normalizer and the
request builder: pure functions, no server and no mock.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from chatport_anthropic._normalize import (
    StreamState,
    completion_from_message,
    created_from,
    usage_from,
)
from chatport_anthropic._request import convert_messages

import chatport
from chatport import Message, ReasoningPart, TextPart, ToolCall


def message(content: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "databricks-claude-sonnet-4-5",
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
        **fields,
    }


def test_redacted_thinking_is_kept_for_replay() -> None:
    completion = completion_from_message(
        message(
            [
                {"type": "thinking", "thinking": "step one", "signature": "sig-a"},
                {"type": "redacted_thinking", "data": "opaque-b"},
                {"type": "text", "text": "done"},
            ]
        ),
        "anthropic",
    )
    assert completion.reasoning == "step one"
    assert completion.message == Message(
        "assistant",
        (ReasoningPart("step one", "sig-a"), ReasoningPart("", "opaque-b"), TextPart("done")),
    )
    system, turns = convert_messages(
        [Message("user", "q"), completion.message, Message("user", "next")]
    )
    assert system is None
    assert turns[1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "step one", "signature": "sig-a"},
            {"type": "redacted_thinking", "data": "opaque-b"},
            {"type": "text", "text": "done"},
        ],
    }


def test_unsigned_reasoning_from_another_provider_is_not_replayed() -> None:
    other = Message(
        "assistant", (ReasoningPart("thought elsewhere"), TextPart("answer")), tool_calls=()
    )
    _, turns = convert_messages([Message("user", "q"), other])
    assert turns[1] == {"role": "assistant", "content": "answer"}


def test_cache_tokens_are_part_of_the_prompt() -> None:
    usage = {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_creation_input_tokens": 7,
        "cache_read_input_tokens": 30,
    }
    completion = completion_from_message(
        message([{"type": "text", "text": "x"}], usage=usage), "anthropic"
    )
    assert completion.usage == chatport.Usage(47, 5, 52, cached_tokens=30, cache_write_tokens=7)


def test_thinking_tokens_are_reasoning_tokens() -> None:
    usage = {
        "input_tokens": 3,
        "output_tokens": 12,
        "output_tokens_details": {"thinking_tokens": 8},
    }
    completion = completion_from_message(
        message([{"type": "text", "text": "x"}], usage=usage), "anthropic"
    )
    assert completion.usage == chatport.Usage(3, 12, 15, reasoning_tokens=8)
    without = completion_from_message(message([{"type": "text", "text": "x"}]), "anthropic")
    assert without.usage.reasoning_tokens is None  # no breakdown sent: unknown, not 0


def test_message_delta_counts_are_cumulative_and_win() -> None:
    start = {
        "input_tokens": 4,
        "output_tokens": 1,
        "cache_read_input_tokens": 2,
        "output_tokens_details": {"thinking_tokens": 0},
    }
    delta = {
        "input_tokens": 4,
        "output_tokens": 20,
        "cache_read_input_tokens": 3,
        "output_tokens_details": {"thinking_tokens": 11},
    }
    assert usage_from(start, delta) == chatport.Usage(7, 20, 27, 11, 3)
    # a delta with only its output count: the start's breakdown is stale, so unknown
    assert usage_from(start, {"output_tokens": 20}) == chatport.Usage(6, 20, 26, None, 2)


@pytest.mark.parametrize(
    ("date", "created"),
    [
        ("Tue, 14 Nov 2023 22:13:20 GMT", 1_700_000_000),
        ("Tue, 14 Nov 2023 23:13:20 +0100", 1_700_000_000),
        ("Tue, 14 Nov 2023 22:13:20 -0000", 1_700_000_000),
    ],
)
def test_date_header_is_created(date: str, created: int) -> None:
    assert created_from(httpx.Headers({"Date": date})) == created


@pytest.mark.parametrize(
    "headers",
    [
        None,
        httpx.Headers(),
        httpx.Headers({"Date": ""}),
        httpx.Headers({"Date": "yesterday"}),
        httpx.Headers({"Date": "Tue, 14 Nov 2023"}),
        httpx.Headers({"Date": "Tue, 31 Feb 2023 22:13:20 GMT"}),
        httpx.Headers({"Date": "Tue, 14 Nov 99999 22:13:20 GMT"}),
        {"date": 1_700_000_000},
    ],
)
def test_missing_or_malformed_date_is_no_created(headers: Any) -> None:
    assert created_from(headers) is None


def test_a_non_streamed_answer_takes_created() -> None:
    completion = completion_from_message(
        message([{"type": "text", "text": "x"}]), "anthropic", created=1_700_000_000
    )
    assert completion.created == 1_700_000_000


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", None),
    ],
)
def test_stop_reasons(stop_reason: str, finish_reason: str | None) -> None:
    completion = completion_from_message(
        message([{"type": "text", "text": "x"}], stop_reason=stop_reason), "anthropic"
    )
    assert completion.finish_reason == finish_reason


def test_a_message_without_content_is_a_response_format_error() -> None:
    with pytest.raises(chatport.ResponseFormatError, match="content blocks"):
        completion_from_message({"predictions": []}, "anthropic")


def test_tool_input_that_is_not_an_object_is_a_response_format_error() -> None:
    bad = [{"type": "tool_use", "id": "t", "name": "f", "input": [1, 2]}]
    with pytest.raises(chatport.ResponseFormatError, match="not an object"):
        completion_from_message(message(bad), "anthropic")


def test_stream_events_assemble_like_the_message() -> None:
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message([], usage={"input_tokens": 4})},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "hm "},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "ok"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig-z"},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"a":'},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": " 1}"},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 9, "output_tokens_details": {"thinking_tokens": 2}},
        },
        {"type": "message_stop"},
    ]
    state = StreamState("anthropic", created=1_700_000_000)
    chunks = [chunk for event in events if (chunk := state.event(event)) is not None]
    state.check_finished()
    streamed = chatport.collect(chunks)
    assert streamed.reasoning == "hm ok"
    assert streamed.tool_calls == (ToolCall("t1", "f", '{"a": 1}'),)
    assert streamed.finish_reason == "tool_calls"
    assert streamed.usage == chatport.Usage(4, 9, 13, reasoning_tokens=2, cached_tokens=None)
    assert streamed.id == "msg_1"
    assert {chunk.created for chunk in chunks} == {1_700_000_000}  # on every chunk
    assert streamed.message == Message(
        "assistant", (ReasoningPart("hm ok", "sig-z"),), tool_calls=streamed.tool_calls
    )


def test_a_stream_without_message_stop_is_refused() -> None:
    state = StreamState("anthropic")
    state.event({"type": "message_start", "message": message([])})
    with pytest.raises(chatport.ResponseFormatError, match="message_stop"):
        state.check_finished()
