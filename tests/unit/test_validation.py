"""Validation: every bad input raises InvalidRequestError naming the field and index."""

from __future__ import annotations

from typing import Any

import pytest

from chatport import ChatRequest, InvalidRequestError, Message

USER = {"role": "user", "content": "hi"}


@pytest.mark.parametrize(
    ("messages", "field", "reason"),
    [
        ([], "messages", "at least one message"),
        ([USER, {"role": "robot", "content": "x"}], "messages[1].role", "unknown role 'robot'"),
        ([{"role": "user", "content": 42}], "messages[0].content", "not int"),
        ([USER, USER, {"role": "user", "content": {"a": 1}}], "messages[2].content", "not dict"),
        ([{"role": "tool", "content": "42"}], "messages[0].tool_call_id", "tool_call_id"),
        ([{"content": "x"}], "messages[0].role", "missing"),
        (
            [{"role": "user", "content": "x", "reasoning_content": "y"}],
            "messages[0].reasoning_content",
            "unknown key",
        ),
        (
            [{"role": "user", "content": [{"type": "audio"}]}],
            "messages[0].content[0].type",
            "unknown content part",
        ),
        (
            [{"role": "user", "content": [{"type": "text", "text": 5}]}],
            "messages[0].content[0].text",
            "string",
        ),
        ([{"role": "user", "content": None}], "messages[0].content", "None"),
        ([USER, 7], "messages[1]", "got int"),
        (
            [{"role": "assistant", "content": "x", "tool_calls": [{"id": "c", "function": {}}]}],
            "messages[0].tool_calls[0].function.name",
            "needs a name",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "t"}]}
                    ],
                }
            ],
            "messages[0].content[0]",
            "only on assistant",
        ),
    ],
)
def test_bad_messages(messages: Any, field: str, reason: str) -> None:
    with pytest.raises(InvalidRequestError, match=reason) as info:
        ChatRequest.build(messages, model="m")
    assert info.value.field == field
    assert str(info.value).startswith(field)


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"max_tokens": 0}, "max_tokens", "at least 1"),
        ({"max_tokens": "5"}, "max_tokens", "integer"),
        ({"max_tokens": True}, "max_tokens", "integer"),
        ({"temperature": 2.5}, "temperature", "between 0 and 2"),
        ({"temperature": -0.1}, "temperature", "between 0 and 2"),
        ({"top_p": 1.5}, "top_p", "between 0 and 1"),
        ({"top_p": "high"}, "top_p", "number"),
        ({"n": 0}, "n", "at least 1"),
        ({"stop": 5}, "stop", "string or a list of strings"),
        ({"stop": ["a", 1]}, "stop", "string or a list of strings"),
        ({"tools": [{"type": "function"}]}, "tools[0].function", "function.name"),
        ({"tool_choice": "sometimes"}, "tool_choice", "none"),
        ({"response_format": {"kind": "json"}}, "response_format", "type"),
        ({"extra": {"max_tokens": 3}}, "extra.max_tokens", "request parameter"),
        ({"extra": "x"}, "extra", "dict"),
        ({"max_tokenz": 3}, "max_tokenz", "did you mean 'max_tokens'"),
    ],
)
def test_bad_params(params: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidRequestError, match=reason) as info:
        ChatRequest.build([USER], model="m", **params)
    assert info.value.field == field


def test_missing_model() -> None:
    with pytest.raises(InvalidRequestError, match="no model given") as info:
        ChatRequest.build([USER], model="")
    assert info.value.field == "model"


def test_direct_message_construction_is_checked() -> None:
    with pytest.raises(InvalidRequestError, match="unknown role"):
        Message("robot", "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="tool_call_id"):
        Message("user", "x", tool_call_id="c1")


def test_valid_edge_values_pass() -> None:
    request = ChatRequest.build(
        "hi",
        model="m",
        max_tokens=1,
        temperature=0,
        top_p=1,
        n=1,
        stop=[],
        tool_choice={"type": "function", "function": {"name": "f"}},
        response_format={"type": "json_object"},
    )
    assert request.max_tokens == 1
    assert request.messages == (Message("user", "hi"),)


def test_invalid_request_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ChatRequest.build([USER], model="m", n=0)
