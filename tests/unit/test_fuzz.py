"""Property-based tests: whatever comes in, only valid results or chatport errors come out."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chatport
from chatport import ChatRequest, Chunk, Completion
from chatport._wire.openai_shape import ChunkParser, completion_from_chat
from chatport._wire.responses_shape import ResponseEventParser, completion_from_response
from chatport._wire.sse import ChatEventStream, ResponsesEventStream

# CHATPORT_FUZZ_EXAMPLES=5000 for a longer hunt
EXAMPLES = int(os.environ.get("CHATPORT_FUZZ_EXAMPLES", "300"))
# In CI the examples are derived from the test itself, so a landing never hinges on luck;
# locally each run explores new ones (two real bugs were found that way).
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.too_slow],
)

# Abandoned SDK calls from other tests (mlflow's host probe, held to chatport's deadline
# but left to finish on a daemon thread) keep using the global `random` module, which
# hypothesis would take for a strategy using it.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
roles = st.sampled_from(["system", "user", "assistant", "tool", "robot", "", None])
parts = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "image_url", "reasoning", "audio"]), "text": scalars}
    ),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": json_values}),
    st.fixed_dictionaries({"type": st.just("reasoning"), "summary": json_values}),
    json_values,
)
messages = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"role": roles, "content": st.one_of(scalars, st.lists(parts, max_size=3))},
            optional={
                "tool_call_id": scalars,
                "name": scalars,
                "tool_calls": json_values,
                "extra": scalars,
            },
        ),
        json_values,
    ),
    max_size=4,
)
params = st.fixed_dictionaries(
    {},
    optional={
        "max_tokens": scalars,
        "temperature": scalars,
        "top_p": scalars,
        "n": scalars,
        "stop": json_values,
        "tools": json_values,
        "tool_choice": json_values,
        "response_format": json_values,
        "extra": json_values,
    },
)


@SETTINGS
@given(messages=st.one_of(messages, json_values), params=params)
def test_requests_are_valid_or_invalid_request_errors(
    messages: Any, params: dict[str, Any]
) -> None:
    try:
        request = ChatRequest.build(messages, model="m", **params)
    except chatport.InvalidRequestError as exc:
        assert str(exc)
        return
    body = request.to_dict()
    assert json.loads(json.dumps(body)) == body  # a valid request is plain JSON
    assert request.messages


# text as it comes from anywhere: lone surrogates included (st.text leaves them out, even
# from an alphabet that has them, so the characters are joined here)
wild_text = st.lists(
    st.characters(exclude_categories=()) | st.sampled_from("\ud800\udce9\udfff"), max_size=8
).map("".join)
wild_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | wild_text
    | st.binary(max_size=2)
    | st.tuples(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(wild_text | st.integers(), children, max_size=4)
    ),
    max_leaves=20,
)


def _encodes(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return False
    return True


@SETTINGS
@given(value=wild_values)
def test_the_json_check_agrees_with_the_encoder(value: Any) -> None:
    """What chatport refuses is exactly what cannot be written as UTF-8 JSON (values this
    shallow), keys of other types than strings aside: json.dumps turns those into text."""
    from chatport._jsonvalue import json_problem

    problem = json_problem(value)
    if problem is None:
        assert _encodes(value)
    else:
        assert not _encodes(value) or "key of type" in problem[1], problem


@SETTINGS
@given(text=wild_text, where=st.sampled_from(["content", "stop", "extra", "tool", "arguments"]))
def test_requests_that_build_can_be_sent_as_utf8(text: str, where: str) -> None:
    call = {"id": "c", "function": {"name": "f", "arguments": json.dumps({"q": text})}}
    messages: Any = {
        "content": [{"role": "user", "content": text}],
        "arguments": [{"role": "assistant", "content": None, "tool_calls": [call]}],
    }.get(where, "hi")
    params: dict[str, Any] = {
        "stop": {"stop": [text]},
        "extra": {"extra": {"metadata": {"k": [text]}}},
        "tool": {"tools": [{"type": "function", "function": {"name": "f", "description": text}}]},
    }.get(where, {})
    try:
        request = ChatRequest.build(messages, model="m", **params)
    except chatport.InvalidRequestError as exc:
        assert exc.field
        assert not _encodes(text)  # refused only for what cannot be sent
        return
    assert _encodes(request.to_dict())


chat_like = st.fixed_dictionaries(
    {},
    optional={
        "id": scalars,
        "created": scalars,
        "model": scalars,
        "usage": json_values,
        "choices": st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "index": scalars,
                        "finish_reason": scalars,
                        "message": st.fixed_dictionaries(
                            {},
                            optional={
                                "content": st.one_of(scalars, st.lists(parts, max_size=3)),
                                "tool_calls": json_values,
                            },
                        ),
                        "delta": st.fixed_dictionaries(
                            {},
                            optional={
                                "content": st.one_of(scalars, st.lists(parts, max_size=3)),
                                "tool_calls": json_values,
                            },
                        ),
                    },
                ),
                json_values,
            ),
            max_size=3,
        ),
    },
)


@SETTINGS
@given(data=st.one_of(chat_like, json_values))
def test_chat_normalizers_give_results_or_chatport_errors(data: Any) -> None:
    try:
        assert isinstance(completion_from_chat(data, "rest"), Completion)
    except chatport.ResponseFormatError:
        pass
    except chatport.APIError as exc:  # a body carrying an "error" object
        assert "error" in data
        assert exc.backend == "rest"
    try:
        chunk = ChunkParser("rest").parse(data)
        assert chunk is None or isinstance(chunk, Chunk)
    except chatport.ResponseFormatError:
        pass
    except chatport.APIError:
        assert "error" in data


response_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            [
                "response.created",
                "response.output_text.delta",
                "response.completed",
                "response.output_item.done",
                "error",
                "other",
            ]
        ),
        "status": scalars,
        "output": st.one_of(
            json_values,
            st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["message", "reasoning", "function_call"])},
                    optional={
                        "content": json_values,
                        "summary": json_values,
                        "name": scalars,
                        "arguments": scalars,
                        "encrypted_content": scalars,
                    },
                ),
                max_size=3,
            ),
        ),
        "response": json_values,
        "delta": scalars,
        "item": json_values,
        "usage": json_values,
    },
)


@SETTINGS
@given(data=st.one_of(response_like, json_values))
def test_responses_normalizers_give_results_or_chatport_errors(data: Any) -> None:
    try:
        assert isinstance(completion_from_response(data), Completion)
    except chatport.APIError:  # ResponseFormatError, or a failed response
        pass
    try:
        chunk = ResponseEventParser().parse(data)
        assert chunk is None or isinstance(chunk, Chunk)
    except chatport.APIError:
        pass


sse_lines = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.builds(
            lambda v: "data: " + json.dumps(v), st.one_of(chat_like, response_like, json_values)
        ),
        st.just("data: [DONE]"),
        st.just("event: response.completed"),
    ),
    max_size=8,
)


@SETTINGS
@given(lines=sse_lines)
def test_event_streams_give_chunks_or_chatport_errors(lines: list[str]) -> None:
    for stream in (ChatEventStream("rest"), ResponsesEventStream("responses")):
        try:
            for line in lines:
                chunk = stream.feed(line)
                assert chunk is None or isinstance(chunk, Chunk)
            stream.end()
        except chatport.APIError:  # ResponseFormatError, APIConnectionError or a server error event
            pass
