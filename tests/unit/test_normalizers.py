"""The shared normalizers: OpenAI chat JSON, chat stream chunks, Responses objects and events."""

from __future__ import annotations

from typing import Any

import pytest

import chatport
from chatport import Chunk, ReasoningPart, TextPart, ToolCall, Usage
from chatport._wire.openai_shape import (
    ChunkParser,
    completion_from_chat,
    normalize_finish_reason,
)
from chatport._wire.responses_shape import (
    ResponseEventParser,
    completion_from_response,
    responses_body,
)


def chat(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "created": 5,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        **extra,
    }


def test_block_list_content_with_signature() -> None:
    completion = completion_from_chat(
        chat(
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "reasoning",
                        "summary": [
                            {"type": "summary_text", "text": "a", "signature": "s1"},
                            {"type": "summary_text", "text": "b"},
                        ],
                    },
                    {"type": "text", "text": "x"},
                    {"type": "text", "text": "y", "citations": []},
                ],
            }
        )
    )
    assert (completion.text, completion.reasoning) == ("xy", "ab")
    assert completion.message is not None
    assert completion.message.content == (
        ReasoningPart("a", "s1"),
        ReasoningPart("b"),
        TextPart("x"),
        TextPart("y"),
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("stop", "stop"),
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("length", "length"),
        ("tool_use", "tool_calls"),
        ("content_filter", "content_filter"),
        ("weird", None),
        (None, None),
    ],
)
def test_finish_reasons(raw: Any, expected: str | None) -> None:
    assert normalize_finish_reason(raw) == expected


def test_camel_case_finish_reason_null_id_and_missing_usage() -> None:
    data = {
        "id": None,
        "created": None,
        "choices": [{"message": {"role": "assistant", "content": "hi"}, "finishReason": "length"}],
    }
    completion = completion_from_chat(data)
    assert (completion.id, completion.created, completion.finish_reason, completion.usage) == (
        None,
        None,
        "length",
        Usage(),
    )


def test_n_choices_and_tool_calls() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    data = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": "second"},
                "finish_reason": "stop",
            },
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    completion = completion_from_chat(data)
    assert completion.tool_calls == (ToolCall("call_1", "f", '{"a": 1}'),)
    assert [c.finish_reason for c in completion.choices] == ["tool_calls", "stop"]
    assert completion.choices[1].text == "second"
    assert completion.usage == Usage(1, 2, 3)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "text",
        {},
        {"choices": []},
        {"choices": [None]},
        {"choices": [{"message": "x"}]},
        {"choices": [{"message": {"content": 5}}]},
        {"choices": [{"message": {"tool_calls": [{"function": {}}]}}]},
    ],
)
def test_invalid_responses_are_response_format_errors(data: Any) -> None:
    with pytest.raises(chatport.ResponseFormatError):
        completion_from_chat(data, "rest")


def test_error_objects_in_bodies_are_api_errors() -> None:
    with pytest.raises(chatport.APIError, match="overloaded"):
        completion_from_chat({"error": {"message": "overloaded"}})


def test_chunk_parser_assembles_tool_calls_and_keeps_last_usage() -> None:
    parser = ChunkParser("rest")
    chunks = [
        parser.parse(
            {
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
                "usage": {"prompt_tokens": 15, "completion_tokens": None, "total_tokens": None},
            }
        ),
        parser.parse(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "c1",
                                    "function": {"name": "look", "arguments": '{"q"'},
                                }
                            ]
                        },
                    }
                ]
            }
        ),
        parser.parse(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]},
                    }
                ]
            }
        ),
        parser.parse(
            {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
                "usage": {"prompt_tokens": 15, "completion_tokens": 4, "total_tokens": 19},
            }
        ),
    ]
    collected = chatport.collect(c for c in chunks if c is not None)
    assert collected.tool_calls == (ToolCall("c1", "look", '{"q": 1}'),)
    assert collected.usage == Usage(15, 4, 19)
    assert collected.finish_reason == "tool_calls"
    assert parser.finished


def test_chunk_parser_block_deltas_and_signature() -> None:
    parser = ChunkParser()
    parts = [
        parser.parse(
            {
                "choices": [
                    {
                        "delta": {
                            "content": [
                                {
                                    "type": "reasoning",
                                    "summary": [
                                        {"type": "summary_text", "text": "thi", "signature": ""}
                                    ],
                                }
                            ]
                        }
                    }
                ]
            }
        ),
        parser.parse(
            {
                "choices": [
                    {
                        "delta": {
                            "content": [
                                {
                                    "type": "reasoning",
                                    "summary": [
                                        {"type": "summary_text", "text": "nk", "signature": ""}
                                    ],
                                }
                            ]
                        }
                    }
                ]
            }
        ),
        parser.parse(
            {
                "choices": [
                    {
                        "delta": {
                            "content": [
                                {
                                    "type": "reasoning",
                                    "summary": [
                                        {"type": "summary_text", "text": "", "signature": "SIG"}
                                    ],
                                }
                            ]
                        }
                    }
                ]
            }
        ),
        parser.parse({"choices": [{"delta": {"content": "plain "}}]}),
        parser.parse(
            {
                "choices": [
                    {
                        "delta": {"content": [{"type": "text", "text": "block"}]},
                        "finish_reason": "stop",
                    }
                ]
            }
        ),
    ]
    collected = chatport.collect(c for c in parts if c is not None)
    assert (collected.text, collected.reasoning) == ("plain block", "think")
    assert collected.message is not None
    assert collected.message.content == (ReasoningPart("think", "SIG"), TextPart("plain block"))


@pytest.mark.parametrize(
    "data",
    [
        None,
        "x",
        {"choices": "x"},
        {"choices": [1]},
        {"choices": [{"delta": 3}]},
        {"choices": [{"delta": {"content": 3}}]},
        {"choices": [{"delta": {"tool_calls": "x"}}]},
    ],
)
def test_bad_chunks_are_response_format_errors(data: Any) -> None:
    with pytest.raises(chatport.ResponseFormatError):
        ChunkParser("rest").parse(data)


def test_chunk_parser_ignores_empty_usage_only_chunks() -> None:
    parser = ChunkParser()
    assert parser.parse({"choices": []}) is None
    chunk = parser.parse(
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    )
    assert chunk == Chunk(usage=Usage(1, 1, 2))


RESPONSE = {
    "id": "resp_1",
    "created_at": 9,
    "model": "m",
    "status": "completed",
    "output": [
        {
            "type": "reasoning",
            "id": "rs",
            "summary": [{"type": "summary_text", "text": "why"}],
            "encrypted_content": "SIG",
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "output_text", "text": "Hel"},
                {"type": "output_text", "text": "lo"},
            ],
        },
    ],
    "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
}


def test_response_object() -> None:
    completion = completion_from_response(RESPONSE)
    assert (completion.text, completion.reasoning, completion.finish_reason) == (
        "Hello",
        "why",
        "stop",
    )
    assert completion.usage == Usage(3, 2, 5)
    assert (completion.id, completion.created) == ("resp_1", 9)
    assert completion.message is not None
    assert completion.message.content == (ReasoningPart("why", "SIG"), TextPart("Hello"))


def test_response_incomplete_and_function_call() -> None:
    data = {
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "cut"}]}],
    }
    assert completion_from_response(data).finish_reason == "length"
    data = {
        "status": "completed",
        "output": [{"type": "function_call", "call_id": "c9", "name": "f", "arguments": "{}"}],
    }
    completion = completion_from_response(data)
    assert (completion.finish_reason, completion.tool_calls) == (
        "tool_calls",
        (ToolCall("c9", "f", "{}"),),
    )
    with pytest.raises(chatport.APIError, match="boom"):
        completion_from_response({"status": "failed", "error": {"message": "boom"}, "output": []})
    with pytest.raises(chatport.ResponseFormatError):
        completion_from_response({"output": "nope"})


def test_response_events() -> None:
    parser = ResponseEventParser()
    events = [
        {"type": "response.created", "response": {"id": "resp_1", "model": "m", "created_at": 9}},
        {"type": "response.reasoning_summary_text.delta", "delta": "why"},
        {"type": "response.output_item.done", "item": RESPONSE["output"][0]},
        {"type": "response.output_text.delta", "delta": "Hel"},
        {"type": "response.output_text.delta", "delta": "lo"},
        {"type": "response.completed", "response": RESPONSE},
    ]
    collected = chatport.collect(c for c in (parser.parse(e) for e in events) if c is not None)
    assert collected == completion_from_response(RESPONSE)
    assert parser.finished
    with pytest.raises(chatport.ResponseFormatError):
        ResponseEventParser().parse({"no": "type"})


def test_responses_body_maps_chat_requests() -> None:
    request = chatport.ChatRequest.build(
        [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        model="m",
        max_tokens=7,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
    )
    assert responses_body(request) == {
        "input": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "q"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ],
        "max_output_tokens": 7,
        "tools": [{"type": "function", "name": "f", "parameters": {}}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}},
    }


def test_response_items_with_wrong_typed_fields_are_refused_or_skipped_not_crashed() -> None:
    # found by hypothesis: content and summary that are not lists. A message's content is
    # the answer: refused rather than read as "" (found by review); a reasoning summary
    # is optional: skipped.
    data = {"output": [{"type": "message", "content": True}]}
    with pytest.raises(chatport.ResponseFormatError, match="content is not a list"):
        completion_from_response(data)
    data = {"output": [{"type": "message", "content": []}, {"type": "reasoning", "summary": 3}]}
    completion = completion_from_response(data)
    assert (completion.text, completion.reasoning) == ("", None)


def test_non_finite_numbers_are_ignored() -> None:
    # found by hypothesis: {"created": inf} raised OverflowError
    data = {
        "created": float("inf"),
        "choices": [{"message": {"content": "x"}}],
        "usage": {"prompt_tokens": float("nan")},
    }
    completion = completion_from_chat(data)
    assert (completion.created, completion.usage.prompt_tokens) == (None, None)


# -- what real workspaces send (docs/wire-facts.md#workspace-rules) ----------------------


def _stream(chunks: list[dict[str, Any]]) -> chatport.Completion:
    from chatport._wire.sse import ChatEventStream

    events = ChatEventStream("rest")
    produced = [events.feed_object(chunk) for chunk in chunks]
    events.done = True
    tail = events.end()
    return chatport.collect([c for c in [*produced, tail] if c is not None])


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "c1", "created": 5, "model": "m", "choices": choices, **extra}


FULL = {
    "prompt_tokens": 7,
    "completion_tokens": 3,
    "total_tokens": 10,
    "completion_tokens_details": {"reasoning_tokens": 2},
    "prompt_tokens_details": {"cached_tokens": 4},
}


def test_usage_token_details() -> None:
    completion = completion_from_chat(chat({"role": "assistant", "content": "x"}, usage=FULL))
    assert completion.usage == Usage(7, 3, 10, reasoning_tokens=2, cached_tokens=4)
    assert completion.usage.to_dict() == FULL
    assert Usage(1, 2).to_dict() == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


#: Claude on Databricks chat completions: cache counts at the top of ``usage``.
CLAUDE_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 3,
    "total_tokens": 15,
    "cache_read_input_tokens": 7,
    "cache_creation_input_tokens": 2,
    "completion_tokens_details": {"reasoning_tokens": 0},
}


def test_claude_top_level_cache_reads_are_cached_tokens() -> None:
    completion = completion_from_chat(
        chat({"role": "assistant", "content": "x"}, usage=CLAUDE_USAGE)
    )
    assert completion.usage == Usage(
        12, 3, 15, reasoning_tokens=0, cached_tokens=7, cache_write_tokens=2
    )


def test_prompt_tokens_details_win_over_top_level_cache_reads() -> None:
    both = {**CLAUDE_USAGE, "prompt_tokens_details": {"cached_tokens": 4}}
    completion = completion_from_chat(chat({"role": "assistant", "content": "x"}, usage=both))
    assert completion.usage.cached_tokens == 4


def test_claude_streamed_cache_reads_are_cached_tokens() -> None:
    partial = {"prompt_tokens": 12, "completion_tokens": None, "cache_read_input_tokens": 7}
    completion = _stream(
        [_chunk({"content": "a"}, usage=partial), _chunk({}, "stop", usage=CLAUDE_USAGE)]
    )
    assert completion.usage == Usage(
        12, 3, 15, reasoning_tokens=0, cached_tokens=7, cache_write_tokens=2
    )


@pytest.mark.parametrize(
    "shape",
    [
        # usage on the finish chunk
        [_chunk({"content": "a "}), _chunk({"content": "b"}, "stop", usage=FULL)],
        # OpenAI include_usage: a trailing chunk with no choices
        [_chunk({"content": "a "}), _chunk({"content": "b"}, "stop"), _chunk(None, usage=FULL)],
        # Claude and Llama: partial usage in every chunk, the full numbers last
        [
            _chunk(
                {"content": "a "},
                usage={"prompt_tokens": 7, "completion_tokens": None, "total_tokens": None},
            ),
            _chunk({"content": "b"}, usage={"prompt_tokens": 7, "completion_tokens": 1}),
            _chunk({}, "stop", usage=FULL),
        ],
    ],
    ids=["last-chunk", "trailing-empty-choices", "cumulative"],
)
def test_the_three_real_stream_usage_shapes_assemble_alike(shape: list[dict[str, Any]]) -> None:
    completion = _stream(shape)
    assert completion.text == "a b"
    assert completion.finish_reason == "stop"
    assert completion.usage == Usage(7, 3, 10, reasoning_tokens=2, cached_tokens=4)


def test_gemini_text_parts_keep_their_thought_signature() -> None:
    answer = completion_from_chat(
        chat(
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "hi there", "thoughtSignature": "g1"}],
            }
        )
    )
    assert answer.text == "hi there"
    assert answer.message is not None
    assert answer.message.content == (TextPart("hi there", "g1"),)
    assert answer.message.to_dict()["content"] == [
        {"type": "text", "text": "hi there", "thoughtSignature": "g1"}
    ]
    streamed = _stream(
        [
            _chunk({"content": [{"type": "text", "text": "hi "}]}),
            _chunk({"content": [{"type": "text", "text": "there", "thoughtSignature": "g1"}]}),
            _chunk({}, "stop"),
        ]
    )
    assert streamed.message == answer.message
    replayed = chatport.Message.from_dict(answer.message.to_dict())
    assert replayed.content == (TextPart("hi there", "g1"),)


def test_responses_usage_details() -> None:
    data = {
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "x"}]}],
        "usage": {
            "input_tokens": 5,
            "output_tokens": 4,
            "total_tokens": 9,
            "input_tokens_details": {"cached_tokens": 1},
            "output_tokens_details": {"reasoning_tokens": 3},
        },
    }
    assert completion_from_response(data).usage == Usage(5, 4, 9, 3, 1)


def test_responses_stream_with_reasoning_and_calls_only_in_completed() -> None:
    final = {
        "id": "r1",
        "created_at": 5,
        "model": "m",
        "status": "completed",
        "output": [
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "think"}],
                "encrypted_content": "sig",
            },
            {"type": "message", "content": [{"type": "output_text", "text": "answer"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        ],
        "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    }
    parser = ResponseEventParser("responses")
    chunks = [
        parser.parse({"type": "response.created", "response": {**final, "output": []}}),
        parser.parse({"type": "response.completed", "response": final}),
    ]
    streamed = chatport.collect([c for c in chunks if c is not None])
    whole = completion_from_response(final)
    assert streamed == whole
    assert streamed.reasoning == "think"
    assert streamed.tool_calls == (ToolCall("c1", "f", "{}"),)
    assert streamed.message is not None
    assert streamed.message.content == (ReasoningPart("think", "sig"), TextPart("answer"))


def test_responses_deltas_are_not_repeated_by_the_completed_event() -> None:
    final = {
        "status": "completed",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "ab"}]}],
    }
    parser = ResponseEventParser("responses")
    chunks = [
        parser.parse({"type": "response.output_text.delta", "delta": "a"}),
        parser.parse({"type": "response.output_text.delta", "delta": "b"}),
        parser.parse({"type": "response.completed", "response": final}),
    ]
    assert chatport.collect([c for c in chunks if c is not None]).text == "ab"


def test_reasoning_with_tool_calls_builds_one_message_shape() -> None:
    data = {
        "status": "completed",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "t"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        ],
    }
    completion = completion_from_response(data)
    assert completion.message is not None
    assert completion.message.content == (ReasoningPart("t"),)


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": "plain"},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "x", "tool_calls": None},
    ],
)
def test_a_plain_text_answer_reads_as_its_content_parts_would(message: dict) -> None:
    """The shortcut for string content gives the completion the part walk gives."""
    data = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    as_parts = {
        "choices": [
            {
                "index": 0,
                "message": {**message, "content": [{"type": "text", "text": message["content"]}]},
                "finish_reason": "stop",
            }
        ]
    }
    fast, general = completion_from_chat(data), completion_from_chat(as_parts)
    assert (fast.text, fast.message, fast.choices) == (
        general.text,
        general.message,
        general.choices,
    )


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "user", "content": 5}], "messages[0].content"),
        ([{"role": "robot", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "text": "x"}], "messages[0].text"),
        ([], "messages"),
    ],
)
def test_a_plain_request_still_checks_its_messages(messages: object, field: str) -> None:
    with pytest.raises(chatport.InvalidRequestError) as caught:
        chatport.ChatRequest.build(messages, model="m")
    assert caught.value.field == field


@pytest.mark.parametrize("model", ["", "..", "a/b", 5, None])
def test_a_plain_request_still_checks_its_model(model: object) -> None:
    with pytest.raises(chatport.InvalidRequestError) as caught:
        chatport.ChatRequest.build("hi", model=model)  # type: ignore[arg-type]
    assert caught.value.field == "model"


@pytest.mark.parametrize("text", [None, 123, b"x"])
def test_a_completion_still_checks_its_message(text: object) -> None:
    """The plain-answer shortcut of ``assistant_message`` takes a str only."""
    with pytest.raises(chatport.InvalidRequestError, match="content"):
        chatport.Completion(text=text)  # type: ignore[arg-type]


def test_the_assistant_message_shortcut_takes_tool_calls_as_a_tuple_only() -> None:
    from chatport._types import assistant_message

    with pytest.raises(chatport.InvalidRequestError, match="tuple of ToolCall"):
        assistant_message("x", None, None, [])  # type: ignore[arg-type]


def test_a_responses_message_whose_content_is_not_a_list_is_refused() -> None:
    """Found by review: an agent stream's end filled from its items answered an empty
    "stop" when an item was malformed, instead of refusing it."""
    from chatport._wire.responses_shape import ResponseEventParser, completion_from_response

    item = {"type": "message", "content": "oops"}
    with pytest.raises(chatport.ResponseFormatError, match=r"output\[0\] is a message"):
        completion_from_response({"status": "completed", "output": [item]})
    parser = ResponseEventParser("rest")
    parser.parse({"type": "response.output_item.done", "item": item})
    with pytest.raises(chatport.ResponseFormatError, match=r"output\[0\] is a message"):
        parser.parse({"type": "response.completed"})
