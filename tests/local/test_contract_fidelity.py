"""Contract: the unmodified openai, mlflow and databricks-sdk clients meet the real rules.

The rules: docs/wire-facts.md#workspace-rules.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest
from databricks.sdk.service.serving import ChatMessage, ChatMessageRole, ExternalModelProvider
from mlflow.deployments import get_deploy_client
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_usage import OutputTokensDetails
from pydantic import BaseModel, Field

from chatport.local import LocalWorkspace

GPT = "databricks-gpt-5"
CLAUDE = "databricks-claude-sonnet-4-5"
GEMINI = "databricks-gemini-2-5-pro"
MESSAGES: Any = [{"role": "user", "content": "one two three"}]


def client(ws: LocalWorkspace, base: str = "/serving-endpoints") -> openai.OpenAI:
    return openai.OpenAI(api_key=ws.token, base_url=ws.url + base, max_retries=0, timeout=10)


def sdk(ws: LocalWorkspace) -> WorkspaceClient:
    return WorkspaceClient(host=ws.url, token=ws.token, auth_type="pat")


def test_openai_stream_usage_needs_include_usage(ws: LocalWorkspace) -> None:
    plain = list(client(ws).chat.completions.create(model=GPT, messages=MESSAGES, stream=True))
    assert all(chunk.usage is None for chunk in plain)
    assert plain[-1].choices[0].finish_reason == "stop"
    asked = list(
        client(ws).chat.completions.create(
            model=GPT, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert asked[-1].choices == []
    assert asked[-1].usage is not None
    assert (asked[-1].usage.prompt_tokens, asked[-1].usage.completion_tokens) == (3, 3)
    assert all(chunk.usage is None for chunk in asked[:-1])


def test_claude_stream_usage_on_every_chunk(ws: LocalWorkspace) -> None:
    chunks = list(client(ws).chat.completions.create(model=CLAUDE, messages=MESSAGES, stream=True))
    assert all(chunk.usage is not None for chunk in chunks)
    assert [c.usage.completion_tokens for c in chunks[:-1] if c.usage] == [None] * (len(chunks) - 1)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
        3,
        3,
        6,
    )


def test_responses_passthrough_refuses_claude_and_open_responses_serves_it(
    ws: LocalWorkspace,
) -> None:
    with pytest.raises(openai.BadRequestError, match="open-responses"):
        client(ws).responses.create(model=CLAUDE, input="hello claude")
    # Databricks documents Open Responses as POST {host}/serving-endpoints/open-responses, a
    # path the SDK's responses resource cannot produce (it always appends "/responses" to
    # base_url). A user keeps base_url=<host>/serving-endpoints and calls the path with the
    # client's documented custom-request method, parsing into the SDK's own Response types.
    body = {"model": CLAUDE, "input": "hello claude", "reasoning": {"effort": "low"}}
    result = client(ws).post("/open-responses", cast_to=Response, body=body)
    assert result.output_text == "hello claude"
    assert [item.type for item in result.output] == ["reasoning", "message"]
    assert result.usage is not None
    assert result.usage.output_tokens_details.reasoning_tokens == 5
    assert result.usage.input_tokens_details.cached_tokens == 0
    plain = (
        client(ws)
        .post("/open-responses", cast_to=Response, body={"model": CLAUDE, "input": "no thinking"})
        .usage
    )
    assert plain is not None  # Claude reports both breakdowns, as on chat completions
    details = (plain.input_tokens_details.cached_tokens, plain.output_tokens_details)
    assert details == (0, OutputTokensDetails(reasoning_tokens=0))
    events = client(ws).post(
        "/open-responses",
        cast_to=Response,
        body={"model": CLAUDE, "input": "streamed claude", "stream": True},
        stream=True,
        stream_cls=openai.Stream[ResponseStreamEvent],
    )
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "streamed claude"
    assert ws.requests[-1].path == "/serving-endpoints/open-responses"


class Step(BaseModel):
    explanation: str
    output: str


class MathAnswer(BaseModel):
    steps: list[Step] = Field(min_length=1)
    final_answer: str
    confidence: float


@pytest.mark.parametrize("base", ["/serving-endpoints", "/ai-gateway/mlflow/v1"])
def test_openai_parse_structured_output(ws: LocalWorkspace, base: str) -> None:
    completion = client(ws, base).chat.completions.parse(
        model=GPT,
        messages=[{"role": "user", "content": "solve 8x + 7 = -23"}],
        response_format=MathAnswer,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, MathAnswer)
    assert parsed.final_answer == "solve 8x + 7 = -23"
    assert parsed.steps == [Step(explanation="solve 8x + 7 = -23", output="solve 8x + 7 = -23")]
    assert parsed.confidence == 0.0
    sent = ws.requests[-1].body["response_format"]
    assert (sent["type"], sent["json_schema"]["strict"]) == ("json_schema", True)


def test_stop_with_openai_and_sdk(ws: LocalWorkspace) -> None:
    choice = (
        client(ws)
        .chat.completions.create(model=GPT, messages=MESSAGES, stop=[" three", "zzz"])
        .choices[0]
    )
    assert (choice.message.content, choice.finish_reason) == ("one two", "stop")
    response = sdk(ws).serving_endpoints.query(
        name=CLAUDE,
        messages=[ChatMessage(role=ChatMessageRole.USER, content="one two three")],
        stop=["two"],
    )
    assert response.choices[0].message.content == "one "
    assert response.usage.completion_tokens == 1


def test_gemini_refuses_stream_options_for_every_client(ws: LocalWorkspace) -> None:
    fragment = 'Unknown name "stream_options"'
    with pytest.raises(openai.BadRequestError, match=fragment) as caught:
        client(ws).chat.completions.create(
            model=GEMINI, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["status"] == "INVALID_ARGUMENT"
    with pytest.raises(BadRequest, match=fragment) as sdk_error:
        sdk(ws).serving_endpoints.query(
            name=GEMINI,
            messages=[ChatMessage(role=ChatMessageRole.USER, content="hi")],
            extra_params={"stream_options": '{"include_usage": true}'},
        )
    assert sdk_error.value.error_code is None  # Google's shape carries no Databricks code


def test_gemini_answers_signed_text_parts(ws: LocalWorkspace) -> None:
    response = client(ws).chat.completions.create(model=GEMINI, messages=MESSAGES)
    content: Any = response.choices[0].message.content
    assert content[0]["text"] == "one two three"
    assert content[0]["thoughtSignature"].startswith("sig-")


def test_metadata_tells_the_family(ws: LocalWorkspace) -> None:
    ws.add_endpoint("ext-claude", family="anthropic", external=True)
    listed = {e["name"]: e for e in get_deploy_client("databricks").list_endpoints()}
    entity = listed[CLAUDE]["config"]["served_entities"][0]
    assert entity["foundation_model"]["name"] == CLAUDE
    assert listed["ext-claude"]["endpoint_type"] == "EXTERNAL_MODEL"
    w = sdk(ws)
    gemini = w.serving_endpoints.get(GEMINI)
    assert gemini.config is not None
    assert gemini.config.served_entities is not None
    foundation = gemini.config.served_entities[0].foundation_model
    assert foundation is not None
    assert foundation.name == GEMINI
    external = w.serving_endpoints.get("ext-claude").config
    assert external is not None
    assert external.served_entities is not None
    model = external.served_entities[0].external_model
    assert model is not None
    assert (model.provider, model.name) == (ExternalModelProvider.ANTHROPIC, "claude-sonnet-4-5")


def test_request_id_header_on_success_and_error(ws: LocalWorkspace) -> None:
    raw = client(ws).chat.completions.with_raw_response.create(model=GPT, messages=MESSAGES)
    ok_id = raw.headers["x-request-id"]
    assert ok_id
    assert raw.parse().choices[0].message.content == "one two three"
    with pytest.raises(openai.BadRequestError) as caught:
        client(ws).chat.completions.create(model=CLAUDE, messages=MESSAGES, reasoning_effort="low")
    error_id = caught.value.response.headers["x-request-id"]
    assert error_id not in ("", ok_id)
    assert caught.value.request_id == error_id  # the SDK surfaces it as the request id
    assert [r.request_id for r in ws.requests] == [ok_id, error_id]
