"""The neutral core types: construction from dicts, immutability, OpenAI shapes."""

from __future__ import annotations

import dataclasses

import pytest

from chatport import (
    ChatRequest,
    Completion,
    ImagePart,
    InvalidRequestError,
    Message,
    ReasoningPart,
    ResponseFormatError,
    TextPart,
    ToolCall,
    Usage,
)

REASONING_MESSAGE = {
    "role": "assistant",
    "content": [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "think", "signature": "sig-1"}],
        },
        {"type": "text", "text": "answer"},
    ],
}


def test_message_from_dict_with_parts() -> None:
    message = Message.from_dict(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AA", "detail": "low"},
                },
            ],
        }
    )
    assert message.content == (TextPart("look"), ImagePart("data:image/png;base64,AA", "low"))
    assert message.text == "look"
    assert message.reasoning is None


def test_reasoning_message_round_trips_with_signature() -> None:
    message = Message.from_dict(REASONING_MESSAGE)
    assert message.content == (ReasoningPart("think", "sig-1"), TextPart("answer"))
    assert message.text == "answer"
    assert message.reasoning == "think"
    assert message.to_dict() == REASONING_MESSAGE


def test_tool_call_message_round_trip() -> None:
    data = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
        ],
    }
    message = Message.from_dict(data)
    assert message.tool_calls == (ToolCall("call_1", "f", '{"a": 1}'),)
    assert message.to_dict() == data
    assert message.tool_calls[0].parsed() == {"a": 1}


def test_tool_call_arguments_given_as_a_dict_are_written_as_json() -> None:
    arguments = {"city": "Z\u00fcrich", "days": [1, 2]}
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    message = Message.from_dict({"role": "assistant", "content": None, "tool_calls": [call]})
    (parsed,) = message.tool_calls
    assert parsed.arguments == '{"city":"Z\u00fcrich","days":[1,2]}'
    assert parsed.parsed() == arguments


def test_answers_are_not_held_to_the_request_checks() -> None:
    """What a server sends back is kept as it came (a lone surrogate, deep arguments);
    it is checked only when it is sent again."""
    from chatport._wire.openai_shape import completion_from_chat

    deep = "[" * 500 + "]" * 500
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": deep}}
    message = {"role": "assistant", "content": "caf\udce9", "tool_calls": [call]}
    completion = completion_from_chat({"choices": [{"message": message}]})
    assert completion.text == "caf\udce9"
    assert completion.tool_calls[0].arguments == deep
    assert completion.message is not None
    with pytest.raises(InvalidRequestError) as caught:
        ChatRequest.build([{"role": "user", "content": "go"}, completion.message], model="m")
    assert caught.value.field == "messages[1].tool_calls[0].function.arguments"


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_tool_call_parsed_bad_arguments(arguments: str) -> None:
    with pytest.raises(ResponseFormatError, match="tool call 'f'"):
        ToolCall("c", "f", arguments).parsed()


def test_types_are_immutable() -> None:
    message = Message("user", "hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.content = "changed"  # type: ignore[misc]
    completion = Completion(text="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        completion.text = "y"  # type: ignore[misc]
    request = ChatRequest.build([{"role": "user", "content": "hi"}], model="m", stop=["a"])
    assert isinstance(request.messages, tuple)
    assert request.stop == ("a",)
    with pytest.raises(TypeError):
        request.extra["k"] = 1  # type: ignore[index]


def test_request_does_not_alias_caller_data() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    extra = {"top_k": 5}
    request = ChatRequest.build("hi", model="m", tools=tools, extra=extra)
    tools[0]["function"]["name"] = "changed"  # type: ignore[index]
    extra["top_k"] = 1
    assert request.tools is not None
    assert request.tools[0]["function"]["name"] == "f"
    assert request.extra["top_k"] == 5


def test_plugin_style_completion_gets_message_and_choices() -> None:
    completion = Completion(text="hello", model="x-model", finish_reason="stop", usage=Usage(3, 2))
    assert completion.usage.total_tokens == 5
    assert completion.message == Message("assistant", "hello")
    assert len(completion.choices) == 1
    assert completion.choices[0].text == "hello"
    assert completion.to_dict() == {
        "id": None,
        "object": "chat.completion",
        "created": None,
        "model": "x-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def test_completion_with_reasoning_builds_replayable_message() -> None:
    completion = Completion(text="answer", reasoning="think")
    assert completion.message is not None
    assert completion.message.content == (ReasoningPart("think"), TextPart("answer"))


def test_completion_with_tool_calls_has_null_content() -> None:
    call = ToolCall("c1", "lookup", "{}")
    completion = Completion(text="", tool_calls=[call], finish_reason="tool_calls")  # type: ignore[arg-type]
    assert completion.tool_calls == (call,)
    assert completion.to_dict()["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [call.to_dict()],
    }


def test_raw_is_excluded_from_equality() -> None:
    assert Completion(text="a", raw={"x": 1}) == Completion(text="a", raw={"y": 2})
    assert Completion(text="a") != Completion(text="b")


def test_finish_reason_must_be_normalized() -> None:
    with pytest.raises(ValueError, match="finish_reason"):
        Completion(text="a", finish_reason="end_turn")  # type: ignore[arg-type]


def test_request_to_dict_has_only_set_fields() -> None:
    request = ChatRequest.build(
        [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        model="m",
        max_tokens=5,
        stop="END",
        extra={"top_k": 3},
    )
    assert request.to_dict() == {
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "max_tokens": 5,
        "stop": ["END"],
        "top_k": 3,
    }
