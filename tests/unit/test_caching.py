"""Prompt caching without a server: usage shapes, breakpoints, and how messages carry them."""

from __future__ import annotations

from typing import Any

import pytest

import chatport
from chatport import ChatRequest, Message, TextPart, Usage
from chatport._stream import collect
from chatport._wire.caching import breakpoints
from chatport._wire.openai_shape import ChunkParser, completion_from_chat, usage_from
from chatport._wire.responses_shape import completion_from_response


def _chat(usage: dict[str, Any]) -> dict[str, Any]:
    message = {"role": "assistant", "content": "x"}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage}


def test_claude_chat_usage_top_level_cache_counts() -> None:
    usage = {
        "prompt_tokens": 40,
        "completion_tokens": 2,
        "total_tokens": 42,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 0,
    }
    assert completion_from_chat(_chat(usage)).usage == Usage(40, 2, 42, None, 0, 30)


def test_openai_chat_usage_prompt_tokens_details_cache_write_tokens() -> None:
    details = {"cached_tokens": 5, "cache_write_tokens": 9}
    usage = {"prompt_tokens": 20, "completion_tokens": 1, "prompt_tokens_details": details}
    assert usage_from({**usage, "cache_creation_input_tokens": 1}) == Usage(20, 1, 21, None, 5, 9)


def test_streamed_cache_counts_keep_the_last_value() -> None:
    parser = ChunkParser()
    early = {"prompt_tokens": 8, "completion_tokens": None, "cache_creation_input_tokens": 8}
    late = {**early, "completion_tokens": 1, "total_tokens": 9, "cache_read_input_tokens": 0}
    chunks = [
        parser.parse({"choices": [{"index": 0, "delta": {"content": "x"}}], "usage": early}),
        parser.parse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        parser.parse({"choices": [], "usage": late}),
    ]
    assert collect(c for c in chunks if c is not None).usage == Usage(8, 1, 9, None, 0, 8)


def test_responses_usage_input_tokens_details_cache_write_tokens() -> None:
    response = {
        "status": "completed",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "x"}]}],
        "usage": {
            "input_tokens": 50,
            "output_tokens": 2,
            "total_tokens": 52,
            "input_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 40},
        },
    }
    assert completion_from_response(response).usage == Usage(50, 2, 52, None, 10, 40)


def test_usage_to_dict_carries_cache_writes() -> None:
    assert Usage(5, 1, cached_tokens=2, cache_write_tokens=3).to_dict()[
        "prompt_tokens_details"
    ] == {"cached_tokens": 2, "cache_write_tokens": 3}
    assert "prompt_tokens_details" not in Usage(5, 1).to_dict()


def test_breakpoints_from_dicts_and_objects() -> None:
    request = ChatRequest.build(
        [
            {"role": "system", "content": "rules", "cache": True},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "doc", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "q"},
                ],
            },
        ],
        model="databricks-claude-sonnet-4-5",
        cache=True,
    )
    assert request.wants_cache
    assert request.needs_profile
    assert request.messages[1].content[0] == TextPart("doc", cache=True)  # type: ignore[index]
    assert breakpoints(request) == [(0, None), (1, 0), (1, 1)]
    # a plain request asks for nothing, and costs no profile lookup
    plain = ChatRequest.build("hi", model="m")
    assert not plain.wants_cache
    assert not plain.needs_profile


def test_call_cache_marks_the_last_message_that_can_hold_it() -> None:
    call = chatport.ToolCall("c1", "f")
    request = ChatRequest.build(
        [Message("user", "go"), Message("assistant", None, tool_calls=(call,))],
        model="m",
        cache=True,
    )
    assert breakpoints(request) == [(0, None)]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (
            Message("assistant", None, tool_calls=(chatport.ToolCall("c", "f"),), cache=True),
            "messages[0].cache",
        ),
        (Message("user", (TextPart("", cache=True),)), "messages[0].content[0].cache"),
    ],
)
def test_breakpoints_that_cannot_be_placed(message: Message, field: str) -> None:
    request = ChatRequest.build([message], model="m")
    with pytest.raises(chatport.InvalidRequestError) as info:
        breakpoints(request)
    assert info.value.field == field


@pytest.mark.parametrize(
    "part",
    [
        {"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "text", "text": "x", "cache_control": "ephemeral"},
        {"type": "text", "text": "x", "cache": "yes"},
    ],
)
def test_malformed_part_breakpoints_are_refused(part: dict[str, Any]) -> None:
    with pytest.raises(chatport.InvalidRequestError) as info:
        Message.from_dict({"role": "user", "content": [part]})
    assert info.value.field is not None
    assert info.value.field.startswith("content[0].cache")


def test_message_cache_must_be_a_bool() -> None:
    with pytest.raises(chatport.InvalidRequestError) as info:
        Message("user", "x", cache="yes")  # type: ignore[arg-type]
    assert info.value.field == "cache"
    assert Message("user", "x", cache=True).to_dict() == {"role": "user", "content": "x"}
