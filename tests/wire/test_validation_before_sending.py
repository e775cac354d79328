"""What cannot go on the wire is refused before anything is sent, on every backend.

A lone surrogate (a ``str`` that is not valid UTF-8), a schema that contains itself,
and values nested thousands deep used to be found only after a request was built or
sent: a ``ServerError`` from the server, a bare ``APIError`` from a JSON encoder, a raw
``RecursionError``. Each is now an :class:`InvalidRequestError` naming the field, and the
local workspace (real HTTP on 127.0.0.1, through the real SDKs) logs no request at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import chatport
from chatport import InvalidRequestError, Message, TextPart, ToolCall
from chatport.local import LocalWorkspace

from ..backends import BUILT_IN

BACKENDS = BUILT_IN
MODEL = "databricks-gpt-5"
DEEP = 5_000
LONE = "caf\udce9"  # the tail of "café" decoded with errors="surrogateescape"


def deep_dict(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def deep_schema(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        value = {"type": "array", "items": value}
    return value


def cyclic_schema() -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    schema["properties"]["child"] = schema
    return schema


def tool(parameters: Any, **function: Any) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": "lookup", "parameters": parameters, **function},
    }


def replayed_call(arguments: Any) -> list[Any]:
    """A conversation that sends back a tool call with ``arguments``."""
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": arguments},
    }
    return [
        {"role": "user", "content": "look it up"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
    ]


USER = {"role": "user", "content": "hi"}
FIELDS = "messages[1].tool_calls[0].function.arguments"

# (messages, parameters, the field named) -- each one a request nothing can send
CASES: dict[str, tuple[Callable[[], Any], Callable[[], dict[str, Any]], str]] = {
    "surrogate in a message": (
        lambda: [USER, {"role": "user", "content": LONE}],
        dict,
        "messages[1].content",
    ),
    "surrogate in a Message": (lambda: [Message("user", LONE)], dict, "messages[0].content"),
    "surrogate in a text part": (
        lambda: [{"role": "user", "content": [{"type": "text", "text": LONE}]}],
        dict,
        "messages[0].content[0].text",
    ),
    "surrogate in a part object": (
        lambda: [Message("user", (TextPart("fine"), TextPart(LONE)))],
        dict,
        "messages[0].content[1].text",
    ),
    "surrogate in a name": (
        lambda: [{"role": "user", "content": "hi", "name": LONE}],
        dict,
        "messages[0].name",
    ),
    "surrogate in a stop sequence": (lambda: "hi", lambda: {"stop": ["END", LONE]}, "stop[1]"),
    "surrogate in a tool description": (
        lambda: "hi",
        lambda: {"tools": [tool({"type": "object"}, description=LONE)]},
        "tools[0].function.description",
    ),
    "surrogate in a tool schema": (
        lambda: "hi",
        lambda: {"tools": [tool({"type": "object", "properties": {LONE: {"type": "string"}}})]},
        "tools[0].function.parameters.properties.'caf\\udce9'",  # the key, escaped
    ),
    "surrogate in a schema": (
        lambda: "hi",
        lambda: {"response_format": {"type": "object", "description": LONE}},
        "response_format.description",
    ),
    "surrogate in extra": (
        lambda: "hi",
        lambda: {"extra": {"metadata": {"tags": ["ok", LONE]}}},
        "extra.metadata",
    ),
    "surrogate in tool-call arguments": (
        lambda: replayed_call(json.dumps({"city": LONE}, ensure_ascii=False)),
        dict,
        FIELDS,
    ),
    "escaped surrogate in tool-call arguments": (
        lambda: replayed_call('{"city": "caf\\udce9"}'),
        dict,
        FIELDS + ".city",
    ),
    "cyclic tool schema": (
        lambda: "hi",
        lambda: {"tools": [tool(cyclic_schema())]},
        "tools[0].function.parameters.properties.child",
    ),
    "cyclic response_format": (
        lambda: "hi",
        lambda: {"response_format": cyclic_schema()},
        "response_format.properties.child",
    ),
    "cyclic extra": (
        lambda: "hi",
        lambda: {"extra": {"metadata": cyclic_schema()}},
        "extra.metadata",
    ),
    "deep tool schema": (
        lambda: "hi",
        lambda: {"tools": [tool(deep_schema(DEEP))]},
        "tools[0].function.parameters",
    ),
    "deep response_format": (
        lambda: "hi",
        lambda: {"response_format": deep_schema(DEEP)},
        "response_format",
    ),
    "deep extra": (lambda: "hi", lambda: {"extra": {"x": deep_dict(DEEP)}}, "extra.x"),
    "deep arguments as a JSON string": (
        lambda: replayed_call('{"a":' * DEEP + "1" + "}" * DEEP),
        dict,
        FIELDS,
    ),
    "deep arguments as a dict": (lambda: replayed_call(deep_dict(DEEP)), dict, FIELDS),
    "deep arguments in a ToolCall": (
        lambda: [
            USER,
            Message(
                "assistant", None, tool_calls=(ToolCall("call_1", "f", "[" * DEEP + "]" * DEEP),)
            ),
        ],
        dict,
        FIELDS,
    ),
}


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    return {"token": "dapi-before-sending-" + "0" * 24}


def posts(workspace: LocalWorkspace) -> list[Any]:
    return [r for r in workspace.requests if r.method == "POST"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_sending(module_workspace: LocalWorkspace, backend: str, case: str) -> None:
    messages, params, field = CASES[case]
    with pytest.raises(InvalidRequestError) as caught:
        chatport.complete(messages(), backend=backend, model=MODEL, **params())
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert "\udce9" not in str(caught.value)  # printable: the bad text is never echoed
    with (
        chatport.Client(backend=backend, model=MODEL, config={}) as client,
        pytest.raises(InvalidRequestError) as streamed,
    ):
        chatport.collect(client.stream(messages(), **params()))
    assert streamed.value.field == field
    assert posts(module_workspace) == []
    assert module_workspace.requests == []  # not even an endpoint lookup


@pytest.mark.parametrize("backend", BACKENDS)
def test_what_the_checks_allow_is_sent(module_workspace: LocalWorkspace, backend: str) -> None:
    """Text in any script, schemas and arguments nested up to the limit all go through."""
    text = "caf\u00e9 \u2603 \U0001f600 \u4e2d\u6587"
    arguments = deep_dict(63)  # 64 levels: the documented limit (the outer object is one)
    schema = deep_schema(30)
    with chatport.Client(backend=backend, model=MODEL, config={}) as client:
        client.complete([{"role": "user", "content": text}], tools=[tool(schema, description=text)])
        client.complete(replayed_call(arguments))
    first, second = (r.body for r in posts(module_workspace))
    sent_text = (first.get("messages") or first["input"])[0]["content"]
    assert sent_text == text
    sent_tool = first["tools"][0]
    assert sent_tool.get("function", sent_tool)["parameters"] == schema
    (call,) = [
        m
        for m in second.get("messages") or second["input"]
        if m.get("tool_calls") or m.get("type") == "function_call"
    ]
    wire = (
        call["tool_calls"][0]["function"]["arguments"]
        if "tool_calls" in call
        else call["arguments"]
    )
    assert json.loads(wire) == arguments  # a dict of arguments is sent as its JSON


def test_one_level_too_deep_is_refused(module_workspace: LocalWorkspace) -> None:
    limit = 64
    with pytest.raises(InvalidRequestError, match=f"more than {limit} levels") as caught:
        chatport.complete(replayed_call(deep_dict(limit)), backend="rest", model=MODEL)
    assert caught.value.field == FIELDS
    with pytest.raises(InvalidRequestError, match=f"more than {limit} levels") as caught:
        chatport.complete(
            "hi", backend="rest", model=MODEL, extra={"custom_inputs": deep_dict(limit)}
        )
    assert caught.value.field == "extra.custom_inputs"
    assert posts(module_workspace) == []
    inputs = deep_dict(limit - 1)  # 64 levels with the outer object: sent
    chatport.complete("hi", backend="rest", model=MODEL, extra={"custom_inputs": inputs})
    (sent,) = posts(module_workspace)
    assert sent.body["custom_inputs"] == inputs


def test_a_deep_structured_answer_is_a_response_format_error() -> None:
    """The answer side: JSON too deep to decode or to check is a chatport error too.

    In a fresh interpreter: run near the recursion limit in this one, a finalizer of
    another test's garbage that the collector happens to run there cannot even be
    reported (seen once in CI as an unraisable RecursionError).
    """
    code = f"""
import chatport
from chatport._structured import OutputSpec

nested = OutputSpec("Nested", {{"type": "array", "items": {{"$ref": "#"}}}})
for depth in ({DEEP}, 900):
    try:
        nested.parse("[" * depth + "]" * depth)
    except chatport.ResponseFormatError as exc:
        assert "nested too deeply" in str(exc), exc
    else:
        raise SystemExit(f"no error at depth {{depth}}")
assert nested.parse("[[], [[]]]") == [[], [[]]]
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_plain_string_prompt_with_a_lone_surrogate_is_refused_before_sending(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    """The simplest call, a bare string, takes the same check as every other form."""
    with pytest.raises(InvalidRequestError) as raised:
        chatport.complete("a\ud800b", backend=backend, model=MODEL)
    assert raised.value.field == "messages[0].content"
    assert module_workspace.requests == []
