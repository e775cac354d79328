"""chatport does what a real workspace needs on every backend (docs/wire-facts.md#workspace-rules).

Each test drives the real clients against the local workspace, which refuses what a real
workspace refuses: Gemini refuses ``stream_options``, OpenAI-family streams carry usage
only when asked, Claude reasons only with ``thinking``, and the Responses passthrough
serves OpenAI models only.
"""

from __future__ import annotations

import asyncio

import pytest

import chatport
from chatport.local import LocalWorkspace

from ..backends import BUILT_IN, CHAT

BACKENDS = BUILT_IN
CHAT_BACKENDS = CHAT
METADATA = "/api/2.0/serving-endpoints/"


def posts(ws: LocalWorkspace) -> list[chatport.local.LoggedRequest]:
    return [r for r in ws.requests if r.method == "POST"]


def lookups(ws: LocalWorkspace) -> list[str]:
    return [r.path for r in ws.requests if r.method == "GET" and r.path.startswith(METADATA)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_gemini_streams_work_and_carry_usage(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    model = "databricks-gemini-2-5-pro"
    with chatport.Client(backend=backend, model=model, config={}) as client:
        whole = client.complete("gemini answers in parts")
        streamed = chatport.collect(client.stream("gemini answers in parts"))
    assert streamed.text == whole.text == "gemini answers in parts"
    assert streamed.usage == whole.usage
    assert whole.usage.total_tokens is not None
    for request in posts(module_workspace):
        assert "stream_options" not in request.body  # Gemini answers it with a 400


@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_gemini_signatures_are_replayed(module_workspace: LocalWorkspace, backend: str) -> None:
    with chatport.Client(backend=backend, model="databricks-gemini-2-5-pro", config={}) as client:
        first = client.complete("remember this")
        assert first.message is not None
        (part,) = first.message.content  # type: ignore[misc]
        assert isinstance(part, chatport.TextPart)
        assert part.signature
        second = client.complete(
            [
                {"role": "user", "content": "remember this"},
                first.message,
                {"role": "user", "content": "and now?"},
            ]
        )
    assert second.text == "and now?"
    replayed = posts(module_workspace)[-1].body["messages"][1]["content"]
    assert replayed == [
        {"type": "text", "text": "remember this", "thoughtSignature": part.signature}
    ]


@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_metadata_is_read_once_per_endpoint_and_only_when_needed(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    with chatport.Client(backend=backend, model="databricks-gpt-5", config={}) as client:
        client.complete("plain")
        client.complete("plain again")
        assert lookups(module_workspace) == []  # a plain call does not depend on the family
        for _ in range(3):
            assert chatport.collect(client.stream("streamed")).usage.total_tokens == 2
        asyncio.run(client.acomplete("reason", reasoning="low"))
    assert lookups(module_workspace) == [METADATA + "databricks-gpt-5"]
    streamed = [r.body for r in posts(module_workspace)][2:5]
    assert all(body["stream_options"] == {"include_usage": True} for body in streamed)
    assert posts(module_workspace)[-1].body["reasoning_effort"] == "low"


@pytest.mark.parametrize("backend", ["openai", "responses"])
def test_unreadable_metadata_falls_back_to_the_name(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    config = {"backends": {backend: {"route": "ai-gateway"}}}
    with chatport.Client(backend=backend, model="system.ai.gpt-5", config=config) as client:
        streamed = chatport.collect(client.stream("via the gateway", reasoning="medium"))
    assert streamed.usage.total_tokens is not None
    (request,) = posts(module_workspace)
    assert request.path.startswith("/ai-gateway/mlflow/v1/")
    if backend == "openai":
        assert request.body["stream_options"] == {"include_usage": True}
        assert request.body["reasoning_effort"] == "medium"
    else:
        assert request.body["reasoning"] == {"effort": "medium"}
    assert lookups(module_workspace) == [METADATA + "system.ai.gpt-5"]
    assert [r.status for r in module_workspace.requests if r.method == "GET"] == [404]


@pytest.mark.parametrize(
    ("model", "route"),
    [
        ("databricks-gpt-5", "/serving-endpoints/responses"),
        ("databricks-gpt-oss-120b", "/serving-endpoints/responses"),
        ("databricks-claude-sonnet-4-5", "/serving-endpoints/open-responses"),
        ("databricks-meta-llama-3-3-70b-instruct", "/serving-endpoints/open-responses"),
        ("databricks-gemini-2-5-pro", "/serving-endpoints/open-responses"),
        ("local-scripted", "/serving-endpoints/open-responses"),
    ],
)
def test_responses_route_is_chosen_per_model(
    module_workspace: LocalWorkspace, model: str, route: str
) -> None:
    with chatport.Client(backend="responses", model=model, config={}) as client:
        assert client.complete("which route?").finish_reason == "stop"
        assert chatport.collect(client.stream("which route?")).finish_reason == "stop"
    assert [r.path for r in posts(module_workspace)] == [route, route]


def test_an_explicit_route_wins(module_workspace: LocalWorkspace) -> None:
    config = {"backends": {"responses": {"route": "serving-endpoints"}}}
    with (
        chatport.Client(backend="responses", config=config) as client,
        pytest.raises(chatport.BadRequestError, match="OpenAI models"),
    ):
        client.complete("x", model="databricks-claude-sonnet-4-5")
    # the route was not chosen from the metadata: it was read only after the refusal, to
    # tell an agent endpoint's refusal from this one (docs/agents.md)
    assert [r.path for r in posts(module_workspace)] == ["/serving-endpoints/responses"]
    assert len(lookups(module_workspace)) == 1
    config = {"backends": {"responses": {"route": "open-responses"}}}
    with chatport.Client(backend="responses", config=config) as client:
        assert client.complete("y", model="databricks-gpt-5").text == "y"
    assert posts(module_workspace)[-1].path == "/serving-endpoints/open-responses"


def test_open_responses_refuses_state(module_workspace: LocalWorkspace) -> None:
    with (
        chatport.Client(backend="responses", config={}) as client,
        pytest.raises(chatport.UnsupportedFeatureError, match="open-responses") as info,
    ):
        client.complete(
            "next turn", model="databricks-claude-sonnet-4-5", extra={"previous_response_id": "r1"}
        )
    assert info.value.feature == "previous_response_id"
    assert posts(module_workspace) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_claude_reasons_only_when_asked(module_workspace: LocalWorkspace, backend: str) -> None:
    with chatport.Client(backend=backend, model="databricks-claude-sonnet-4-5", config={}) as c:
        plain = c.complete("no thinking")
        thought = c.complete("with thinking", reasoning="low")
    assert plain.reasoning is None
    assert thought.reasoning is not None
    assert thought.usage.reasoning_tokens is not None
    assert thought.usage.reasoning_tokens > 0
    body = posts(module_workspace)[-1].body
    if backend == "responses":
        assert body["reasoning"] == {"effort": "low"}
    else:
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        assert body["max_tokens"] > 1024


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_reasoning_sends_nothing(module_workspace: LocalWorkspace, backend: str) -> None:
    with chatport.Client(backend=backend, config={}) as client:
        with pytest.raises(chatport.UnsupportedFeatureError, match="cannot be asked to reason"):
            client.complete("x", model="databricks-meta-llama-3-3-70b-instruct", reasoning="low")
        # Claude's budget must fit under max_tokens; the Responses routes take no budget
        match = "effort level" if backend == "responses" else "below max_tokens"
        with pytest.raises(chatport.InvalidRequestError, match=match):
            client.complete(
                "x", model="databricks-claude-sonnet-4-5", reasoning=2048, max_tokens=1500
            )
    assert posts(module_workspace) == []


# mlflow's databricks-sdk path rebuilds error responses from the SDK exception, without
# headers or details, so no request id reaches chatport through mlflow's public API.
@pytest.mark.parametrize("backend", ["rest", "openai", "responses", "databricks-sdk"])
def test_request_id_of_errors(module_workspace: LocalWorkspace, backend: str) -> None:
    with (
        chatport.Client(backend=backend, max_retries=0, config={}) as client,
        pytest.raises(chatport.NotFoundError) as info,
    ):
        client.complete("x", model="no-such-endpoint")
    failed = [r for r in module_workspace.requests if r.status == 404 and r.method == "POST"]
    assert failed
    assert info.value.request_id is not None
    assert info.value.request_id == failed[-1].request_id


@pytest.mark.parametrize("backend", BACKENDS)
def test_structured_output_that_does_not_match_keeps_the_text(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    module_workspace.add_endpoint("wordy", "scripted", rules=[(".*", "Sure! Here is some prose.")])
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    with chatport.Client(backend=backend, model="wordy", config={}) as client:
        with pytest.raises(chatport.ResponseFormatError) as info:
            client.complete("give me json", response_format=schema)
        assert info.value.text == "Sure! Here is some prose."
        with pytest.raises(chatport.ResponseFormatError):
            chatport.collect(client.stream("give me json", response_format=schema))
