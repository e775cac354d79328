"""Responses routes, acted-on parameters and request ids (docs/wire-facts.md#workspace-rules)."""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field

from chatport.local import DEFAULT_ENDPOINTS, LocalWorkspace

from .wire import CLAUDE, GEMINI, GPT, LLAMA, OSS, TOOL, USER, chat, chunks, post, refused

RESPONSES = ["/serving-endpoints/responses", "/ai-gateway/mlflow/v1/responses"]
OPEN = "/serving-endpoints/open-responses"


# -- Responses routes ---------------------------------------------------------------


@pytest.mark.parametrize("path", RESPONSES)
@pytest.mark.parametrize("name", [CLAUDE, LLAMA, GEMINI, "local-scripted"])
def test_responses_passthrough_refuses_non_openai_models(
    ws: LocalWorkspace, path: str, name: str
) -> None:
    response = post(ws, path, {"model": name, "input": "hi"})
    refused(response, "supports OpenAI models only")
    assert "/serving-endpoints/open-responses" in response.json()["message"]


@pytest.mark.parametrize("path", RESPONSES)
def test_responses_passthrough_serves_openai_models(ws: LocalWorkspace, path: str) -> None:
    ws.add_endpoint("ext-openai", family="openai", external=True)
    for name in (GPT, OSS, "ext-openai"):
        response = post(ws, path, {"model": name, "input": "hi there"})
        assert response.status_code == 200, response.text
        assert response.json()["output"][-1]["content"][0]["text"] == "hi there"
    refused(
        post(ws, path, {"model": GPT, "input": "hi", "previous_response_id": "resp_1"}),
        "Previous response with id 'resp_1' not found",
        "INVALID_PARAMETER_VALUE",
    )


@pytest.mark.parametrize("name", DEFAULT_ENDPOINTS)
def test_open_responses_serves_every_endpoint(ws: LocalWorkspace, name: str) -> None:
    body = {"model": name, "input": "open words", "store": True, "user": "someone"}
    response = post(ws, OPEN, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["object"] == "response"
    message = next(item for item in result["output"] if item["type"] == "message")
    expected = "OK" if name == "local-scripted" else "open words"
    assert message["content"][0]["text"] == expected


def test_open_responses_is_stateless(ws: LocalWorkspace) -> None:
    body = {"model": CLAUDE, "input": "hi", "previous_response_id": "resp_1"}
    refused(post(ws, OPEN, body), "Open Responses is stateless", "INVALID_PARAMETER_VALUE")


def test_open_responses_stream(ws: LocalWorkspace) -> None:
    response = post(ws, OPEN, {"model": LLAMA, "input": "one two", "stream": True})
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line[:6] == "data: "]
    assert [e["type"] for e in events][:2] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] == "response.completed"
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "one two"


def test_reasoning_effort_on_responses(ws: LocalWorkspace) -> None:
    plain = post(ws, OPEN, {"model": CLAUDE, "input": "why"}).json()
    assert [item["type"] for item in plain["output"]] == ["message"]
    thought = post(ws, OPEN, {"model": CLAUDE, "input": "why", "reasoning": {"effort": "low"}})
    output = thought.json()["output"]
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert (
        thought.json()["usage"]["output_tokens_details"]["reasoning_tokens"] == 4
    )  # "The user asked: why"
    passthrough = post(
        ws, RESPONSES[0], {"model": GPT, "input": "x", "reasoning": {"effort": "high"}}
    )
    assert passthrough.status_code == 200
    refused(
        post(ws, OPEN, {"model": GPT, "input": "x", "reasoning": {"effort": "max"}}),
        "reasoning.effort: must be one of low, medium, high",
    )
    refused(
        post(ws, OPEN, {"model": LLAMA, "input": "x", "reasoning": {"effort": "low"}}),
        "reasoning.effort is not supported by Llama",
    )


def test_responses_text_format(ws: LocalWorkspace) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "name": "trip", "schema": schema, "strict": True}
    body = {"model": GPT, "input": "Paris", "text": {"format": fmt}}
    result = post(ws, RESPONSES[0], body).json()
    assert json.loads(result["output"][0]["content"][0]["text"]) == {"city": "Paris", "days": 1}
    nested = {"type": "json_schema", "json_schema": {"name": "trip", "schema": schema}}
    refused(post(ws, OPEN, {**body, "text": {"format": nested}}), "needs a 'schema' object")
    xml = {"format": {"type": "xml"}}
    refused(post(ws, OPEN, {**body, "text": xml}), "text.format.type: must be one of")
    tool = {"type": "function", "name": "lookup"}
    refused(post(ws, OPEN, {**body, "tools": [tool]}), "tools.0.parameters")


# -- stop --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop", "text"),
    [("gamma", "alpha beta "), (["zzz", "beta", "al"], ""), (["eta g", "gamma"], "alpha b")],
)
def test_stop_truncates_and_streams_agree(ws: LocalWorkspace, stop: Any, text: str) -> None:
    body = chat(ws, LLAMA, stop=stop).json()
    choice = body["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == (text, "stop")
    assert body["usage"]["completion_tokens"] == len(text.split())
    streamed = chunks(ws, LLAMA, stop=stop)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in streamed) == text
    assert streamed[-1]["usage"] == body["usage"]


def test_stop_without_a_match_keeps_max_tokens(ws: LocalWorkspace) -> None:
    choice = chat(ws, GPT, stop=["nope"], max_tokens=2).json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("alpha beta", "length")


# -- response_format -----------------------------------------------------------------


class Step(BaseModel):
    explanation: str
    output: str


class Answer(BaseModel):
    kind: Literal["math", "other"]
    steps: list[Step] = Field(min_length=2)
    score: int = Field(ge=3)
    ratio: float | None
    done: bool
    nested: Step


def test_json_object_answers_json(ws: LocalWorkspace) -> None:
    content = chat(ws, GPT, response_format={"type": "json_object"}).json()["choices"][0][
        "message"
    ]["content"]
    assert json.loads(content) == {"answer": "alpha beta gamma"}


def test_json_schema_answer_validates(ws: LocalWorkspace) -> None:
    schema = Answer.model_json_schema()
    assert "$defs" in schema  # the $ref resolution is exercised
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    body = chat(ws, CLAUDE, response_format=fmt).json()
    parsed = Answer.model_validate_json(body["choices"][0]["message"]["content"])
    assert parsed.kind == "math"
    assert len(parsed.steps) == 2
    assert parsed.score == 3
    assert parsed.nested.output == "alpha beta gamma"
    streamed = chunks(ws, CLAUDE, response_format=fmt)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in streamed)
    assert text == body["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("fmt", "fragment"),
    [
        ({"type": "xml"}, "response_format.type: must be one of text, json_object, json_schema"),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "needs a 'schema' object"),
        ({"type": "json_schema"}, "json_schema: required"),
        ("json", "must be an object"),
    ],
)
def test_bad_response_format_refused(ws: LocalWorkspace, fmt: Any, fragment: str) -> None:
    refused(chat(ws, GPT, response_format=fmt), fragment)


# -- tools, names, messages ------------------------------------------------------------


def test_tools_need_parameters(ws: LocalWorkspace) -> None:
    bare = {"type": "function", "function": {"name": "lookup"}}
    refused(chat(ws, "local-scripted", tools=[bare]), "tools.0.function.parameters")


@pytest.mark.parametrize("name", [CLAUDE, LLAMA, GEMINI])
def test_strict_tools_refused_outside_openai(ws: LocalWorkspace, name: str) -> None:
    strict = {**TOOL, "function": {**TOOL["function"], "strict": True}}
    refused(chat(ws, name, tools=[strict]), "tools.0.function.strict is not supported")


@pytest.mark.parametrize("name", [GPT, "local-scripted"])
def test_strict_tools_accepted_by_openai_and_custom(ws: LocalWorkspace, name: str) -> None:
    strict = {**TOOL, "function": {**TOOL["function"], "strict": True}}
    response = chat(ws, name, tools=[strict])
    assert response.json()["choices"][0]["finish_reason"] == "tool_calls"


def test_message_name_refused_by_claude(ws: LocalWorkspace) -> None:
    named = {"messages": [{**USER, "name": "ann"}]}
    refused(post(ws, f"/serving-endpoints/{CLAUDE}/invocations", named), "messages.0.name")
    assert post(ws, f"/serving-endpoints/{GPT}/invocations", named).status_code == 200


@pytest.mark.parametrize(
    "path", [f"/serving-endpoints/{GPT}/invocations", "/serving-endpoints/chat/completions"]
)
def test_missing_messages(ws: LocalWorkspace, path: str) -> None:
    response = post(ws, path, {"model": GPT, "max_tokens": 5})
    assert response.status_code == 400
    body = response.json()
    assert (body["error_code"], body["message"]) == (
        "INVALID_PARAMETER_VALUE",
        "Missing required Chat parameter: 'messages'",
    )


# -- request ids -------------------------------------------------------------------


def test_every_answer_has_a_request_id(ws: LocalWorkspace) -> None:
    auth = {"Authorization": f"Bearer {ws.token}"}
    answers = [
        chat(ws, GPT),
        chat(ws, GPT, stream=True),
        chat(ws, GPT, max_tokens=0),
        chat(ws, GEMINI, stream_options={}),
        httpx.get(f"{ws.url}/api/2.0/serving-endpoints", headers=auth),
        httpx.get(f"{ws.url}/api/2.0/serving-endpoints/nope", headers=auth),
        httpx.get(f"{ws.url}/no/such/path"),
        httpx.get(f"{ws.url}/api/2.0/serving-endpoints"),
    ]
    ids = [response.headers["x-request-id"] for response in answers]
    assert len(set(ids)) == len(ids)
    assert [entry.request_id for entry in ws.requests] == ids
    assert [response.status_code for response in answers] == [
        200,
        200,
        400,
        400,
        200,
        404,
        404,
        401,
    ]
    for response in (answers[2], *answers[5:]):
        (info,) = response.json()["details"]
        assert info == {
            "@type": "type.googleapis.com/google.rpc.RequestInfo",
            "request_id": response.headers["x-request-id"],
            "serving_data": "",
        }
    assert "error_code" not in answers[3].json()  # Google's shape gets no Databricks details
