"""Agent endpoints on Model Serving, through every built-in backend over real HTTP.

The local workspace serves a ChatAgent (task ``agent/v2/chat``) and a ResponsesAgent
(task ``agent/v1/responses``); each runs a tool itself, then answers, with
``custom_outputs`` and ``databricks_output``. Every backend reaches both and gives the
same ``Completion`` sync, async, streamed and async-streamed: the openai clients reach
an agent of the API they do not speak at its ``/invocations``, through their generic
``post``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

import chatport
from chatport import Completion, Usage
from chatport._family import ModelProfile
from chatport._wire.agent_shape import AgentApi, asend_learning, invocation_path, send_learning
from chatport._wire.openai_shape import completion_from_chat
from chatport._wire.responses_shape import ResponseEventParser, completion_from_response
from chatport.local import Endpoint, Fault, LocalWorkspace
from chatport.local.governance import Guardrail

from ..backends import BUILT_IN

MODES = ["sync", "async", "stream", "astream"]
AGENTS = {"chat": "chat-agent-ep", "responses": "responses-agent-ep"}
#: The backend whose client does not speak each agent's API (it posts to /invocations).
OTHER_API = {"chat": "responses", "responses": "openai"}
QUESTION = "what does the agent know"
METADATA_PREFIX = "/api/2.0/serving-endpoints/"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    return {
        "endpoints": [
            Endpoint(AGENTS["chat"], "chat-agent"),
            Endpoint(AGENTS["responses"], "responses-agent"),
            Endpoint("plain-echo", "echo"),
            Endpoint("plain-gpt", "echo", family="openai"),
            Endpoint("refusing", "echo"),
            Endpoint("ops:agent", "responses-agent"),
            Endpoint("ops:chat", "chat-agent"),
        ]
    }


def run(client: chatport.Client, mode: str, model: str, **params: Any) -> Completion:
    if mode == "sync":
        return client.complete(QUESTION, model=model, **params)
    if mode == "async":
        return asyncio.run(client.acomplete(QUESTION, model=model, **params))
    if mode == "stream":
        return chatport.collect(client.stream(QUESTION, model=model, **params))

    async def collect() -> Completion:
        chunks = [c async for c in client.astream(QUESTION, model=model, **params)]
        return chatport.collect(chunks)

    return asyncio.run(collect())


def comparable(completion: Completion) -> Completion:
    return dataclasses.replace(completion, backend=None, raw=None, latency_s=None)


def posts(workspace: LocalWorkspace) -> list[Any]:
    return [r for r in workspace.requests if r.method == "POST"]


def metadata_reads(workspace: LocalWorkspace) -> list[Any]:
    return [r for r in workspace.requests if r.path.startswith(METADATA_PREFIX)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
@pytest.mark.parametrize("kind", ["chat", "responses"])
def test_agent_answers_alike_on_every_backend(
    module_workspace: LocalWorkspace, kind: str, backend: str, mode: str
) -> None:
    model = AGENTS[kind]
    with chatport.Client(backend=backend, config={}) as client:
        result = run(client, mode, model)
    usage = Usage(5, 5, 10) if kind == "chat" else Usage()
    expected = Completion(text=QUESTION, finish_reason="stop", usage=usage)
    # the tool the agent ran itself is not a call for the caller
    assert comparable(result) == comparable(expected), f"{backend}/{mode}/{kind}"


@pytest.mark.parametrize("backend", BUILT_IN)
def test_responses_agent_stream_without_a_response_object(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    """The agent's ``response.completed`` carries only ``databricks_output``: the text
    of its ``response.output_text.delta`` events is the answer, not a format error."""
    with chatport.Client(backend=backend, config={}) as client:
        chunks = list(client.stream(QUESTION, model=AGENTS["responses"]))
    assert "".join(c.text for c in chunks) == QUESTION
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize("backend", BUILT_IN)
def test_custom_inputs_reach_a_chat_agent_and_come_back_in_raw(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    module_workspace.clear_requests()
    extra = {"custom_inputs": {"user": "ada"}, "databricks_options": {"return_trace": True}}
    with chatport.Client(backend=backend, config={}) as client:
        result = client.complete(QUESTION, model=AGENTS["chat"], extra=extra)
    sent = posts(module_workspace)[-1].body
    assert sent["custom_inputs"] == {"user": "ada"}
    assert "messages" in sent
    raw = dict(result.raw)
    assert raw["custom_outputs"] == {"agent": AGENTS["chat"], "custom_inputs": {"user": "ada"}}
    assert raw["databricks_output"]["trace"]["info"]["state"] == "OK"
    assert [m["role"] for m in raw["messages"]] == ["assistant", "tool", "assistant"]


@pytest.mark.parametrize("backend", BUILT_IN)
def test_custom_inputs_reach_a_responses_agent_and_come_back_in_raw(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    module_workspace.clear_requests()
    with chatport.Client(backend=backend, config={}) as client:
        result = asyncio.run(
            client.acomplete(
                QUESTION, model=AGENTS["responses"], extra={"custom_inputs": {"user": "bo"}}
            )
        )
    sent = posts(module_workspace)[-1].body
    assert sent["custom_inputs"] == {"user": "bo"}
    assert sent["input"][-1] == {"role": "user", "content": QUESTION}
    raw = dict(result.raw)
    assert raw["custom_outputs"]["custom_inputs"] == {"user": "bo"}
    assert set(raw["databricks_output"]) == {"databricks_request_id"}  # no trace unasked
    assert [item["type"] for item in raw["output"]] == [
        "function_call",
        "function_call_output",
        "message",
    ]


@pytest.mark.parametrize(
    ("backend", "path"),
    [
        ("rest", f"/serving-endpoints/{AGENTS['responses']}/invocations"),
        ("mlflow", f"/serving-endpoints/{AGENTS['responses']}/invocations"),
        ("databricks-sdk", f"/serving-endpoints/{AGENTS['responses']}/invocations"),
        ("responses", "/serving-endpoints/responses"),
    ],
)
def test_a_plain_call_learns_the_agent_shape_once(
    module_workspace: LocalWorkspace, backend: str, path: str
) -> None:
    """A plain call reads no metadata; a ResponsesAgent's refusal of the chat shape makes
    the backend read it once, send ``input`` and remember the shape for the endpoint."""
    module_workspace.clear_requests()
    with chatport.Client(backend=backend, config={}) as client:
        assert client.complete("plain", model="plain-echo").text == "plain"
        if backend != "responses":  # it reads every endpoint's profile to pick its route
            assert metadata_reads(module_workspace) == []
        first = client.complete(QUESTION, model=AGENTS["responses"])
        second = client.complete(QUESTION, model=AGENTS["responses"])
    assert first.text == second.text == QUESTION
    agent_posts = [r for r in posts(module_workspace) if r.path == path]
    agent_reads = [
        r for r in metadata_reads(module_workspace) if r.path.endswith(AGENTS["responses"])
    ]
    assert len(agent_reads) == 1
    bodies = [r.body for r in agent_posts]
    if backend == "responses":
        assert [b["model"] for b in bodies] == [AGENTS["responses"]] * 2
        assert all("input" in b for b in bodies)
    else:
        # refused once in the chat shape, then sent as input (and at once the next time)
        assert ["messages" in b for b in bodies] == [True, False, False]
        assert [r.status for r in agent_posts] == [400, 200, 200]
        assert all("input" in b for b in bodies[1:])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["chat", "responses"])
def test_an_agent_of_the_other_api_is_posted_its_own_shape_at_its_invocations(
    module_workspace: LocalWorkspace, kind: str, mode: str
) -> None:
    """The openai client reaches a ResponsesAgent, the Responses client a ChatAgent: its
    own request shape at ``/serving-endpoints/{name}/invocations``, with no ``model``."""
    with chatport.Client(backend=OTHER_API[kind], config={}) as client:
        client.backend().profile(AGENTS[kind])  # known: the first call goes straight to the agent
        module_workspace.clear_requests()
        result = run(client, mode, AGENTS[kind], extra={"custom_inputs": {"user": "cy"}})
    assert result.text == QUESTION
    sent = posts(module_workspace)
    assert [(r.path, r.status) for r in sent] == [
        (f"/serving-endpoints/{AGENTS[kind]}/invocations", 200)
    ]
    body = sent[0].body
    assert ("input" in body, "messages" in body) == (kind == "responses", kind == "chat")
    assert "model" not in body
    assert body["custom_inputs"] == {"user": "cy"}
    assert body.get("stream", False) is (mode in ("stream", "astream"))
    assert sent[0].headers["authorization"].startswith("Bearer ")


@pytest.mark.parametrize("backend", ["openai", "responses"])
def test_a_stream_reads_the_agent_shape_before_sending(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    """A stream reads the endpoint's metadata first (even under a ``route`` option), so
    an agent of the other API is posted its own shape at once, never refused."""
    kind = "responses" if backend == "openai" else "chat"
    module_workspace.clear_requests()
    config = {"backends": {backend: {"route": "serving-endpoints"}}}
    with chatport.Client(backend=backend, config=config) as client:
        streamed = chatport.collect(client.stream(QUESTION, model=AGENTS[kind]))
    assert streamed.text == QUESTION
    assert [(r.path, r.status) for r in posts(module_workspace)] == [
        (f"/serving-endpoints/{AGENTS[kind]}/invocations", 200)
    ]
    assert len(metadata_reads(module_workspace)) == 1


@pytest.mark.parametrize(
    ("backend", "route", "kind"),
    [
        ("openai", "serving-endpoints", "responses"),
        ("openai", "ai-gateway", "responses"),
        ("responses", "open-responses", "chat"),
        ("responses", "ai-gateway", "chat"),
    ],
)
@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_plain_call_learns_an_agent_of_the_other_api_once(
    module_workspace: LocalWorkspace, backend: str, route: str, kind: str, asynchronous: bool
) -> None:
    """A plain call to an ordinary endpoint reads no metadata (the ``responses`` backend
    with a ``route`` option, which needs no endpoint to pick its route). An agent of the
    other API refuses the first plain call; its metadata, read once, sends the call again
    at its ``/invocations`` (whatever the route), and every next call goes there at once."""
    refused_at = {
        "serving-endpoints": "/serving-endpoints/chat/completions",
        "open-responses": "/serving-endpoints/open-responses",
        "ai-gateway": f"/ai-gateway/mlflow/v1/{'chat/completions' if kind == 'responses' else 'responses'}",
    }[route]
    module_workspace.clear_requests()
    config = {"backends": {backend: {"route": route}}}
    with chatport.Client(backend=backend, config=config) as client:

        def call(model: str, question: str = QUESTION) -> Completion:
            if asynchronous:
                return asyncio.run(client.acomplete(question, model=model))
            return client.complete(question, model=model)

        # the Responses passthrough serves OpenAI models only
        plain = "plain-echo" if route == "open-responses" else "plain-gpt"
        assert call(plain, "plain").text == "plain"
        assert metadata_reads(module_workspace) == []
        first, second = call(AGENTS[kind]), call(AGENTS[kind])
    assert first.text == second.text == QUESTION
    invocations = f"/serving-endpoints/{AGENTS[kind]}/invocations"
    assert [(r.path, r.status) for r in posts(module_workspace)[1:]] == [
        (refused_at, 400),
        (invocations, 200),
        (invocations, 200),
    ]
    assert [r.path for r in metadata_reads(module_workspace)] == [METADATA_PREFIX + AGENTS[kind]]


@pytest.mark.parametrize("route", ["ai-gateway", "auto"])
@pytest.mark.parametrize(("backend", "kind"), [("openai", "responses"), ("responses", "chat")])
def test_agents_reached_at_invocations_ignore_the_gateway_route(
    module_workspace: LocalWorkspace, backend: str, kind: str, route: str
) -> None:
    """An agent is a Model Serving endpoint: whatever the ``route`` option, an agent of
    the other API is posted at ``<host>/serving-endpoints/{name}/invocations``."""
    config = {"backends": {backend: {"route": route}}}
    with chatport.Client(backend=backend, config=config) as client:
        for mode in MODES:
            module_workspace.clear_requests()
            assert run(client, mode, AGENTS[kind]).text == QUESTION, mode
            last = posts(module_workspace)[-1]
            assert (last.path, last.status) == (
                f"/serving-endpoints/{AGENTS[kind]}/invocations",
                200,
            ), mode


@pytest.mark.parametrize(("backend", "name"), [("openai", "ops:agent"), ("responses", "ops:chat")])
def test_an_agent_with_any_valid_name_is_reached(
    module_workspace: LocalWorkspace, backend: str, name: str
) -> None:
    with chatport.Client(backend=backend, config={}) as client:
        client.backend().profile(name)
        module_workspace.clear_requests()
        assert client.complete(QUESTION, model=name).text == QUESTION
    assert [r.path for r in posts(module_workspace)] == [f"/serving-endpoints/{name}/invocations"]


def test_the_invocations_path_is_one_escaped_segment() -> None:
    assert invocation_path("a b/c?d#e%") == "/a%20b%2Fc%3Fd%23e%25/invocations"


@pytest.mark.parametrize(
    ("backend", "looked_up"), [("openai", True), ("responses", True), ("responses", False)]
)
def test_a_known_agent_refusal_is_sent_once(
    module_workspace: LocalWorkspace, backend: str, looked_up: bool
) -> None:
    """A ``400`` from an agent already posted its own shape is the call's answer: the
    endpoint was looked up before (``looked_up``), or is looked up by the call itself
    (the ``responses`` backend without a ``route`` option)."""
    kind = "responses" if backend == "openai" else "chat"
    with chatport.Client(backend=backend, config={}) as client:
        if looked_up:
            client.backend().profile(AGENTS[kind])
        module_workspace.set_faults(AGENTS[kind], Fault(status=400))
        module_workspace.clear_requests()
        try:
            with pytest.raises(chatport.BadRequestError):
                client.complete(QUESTION, model=AGENTS[kind])
        finally:
            module_workspace.set_faults(AGENTS[kind])
    assert [r.path for r in posts(module_workspace)] == [
        f"/serving-endpoints/{AGENTS[kind]}/invocations"
    ]


@pytest.mark.parametrize("backend", BUILT_IN)
def test_a_genuine_refusal_is_not_hidden(module_workspace: LocalWorkspace, backend: str) -> None:
    """An ordinary endpoint's 400 stays a BadRequestError after one metadata check."""
    module_workspace.set_faults("refusing", Fault(status=400))
    module_workspace.clear_requests()
    with chatport.Client(backend=backend, config={}) as client:
        for _ in range(2):
            with pytest.raises(chatport.BadRequestError):
                client.complete("x", model="refusing")
    assert len(posts(module_workspace)) == 2
    assert len(metadata_reads(module_workspace)) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("backend", BUILT_IN)
def test_a_guardrail_block_is_neither_looked_up_nor_sent_again(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    """A guardrail's 400 is about the call, not its shape: a plain call to an endpoint
    whose profile is not known is sent once, and no metadata is read after it."""
    name = f"guarded-{backend}-{mode}"
    block = Guardrail(name="no-knowing", pattern=r"\bknow\b")
    module_workspace.add_endpoint(name, "echo", guardrails=[block])
    module_workspace.clear_requests()
    with (
        chatport.Client(backend=backend, config={}, max_retries=2) as client,
        pytest.raises(chatport.GuardrailError) as caught,
    ):
        run(client, mode, name)
    assert (caught.value.guardrail, caught.value.attempts) == ("no-knowing", 1)
    requests = module_workspace.requests
    assert len(posts(module_workspace)) == 1
    assert requests[-1].method == "POST"  # nothing after the blocked call
    # (the ``responses`` backend reads an endpoint's profile before its first call)
    assert len(metadata_reads(module_workspace)) == (1 if backend == "responses" else 0)


@pytest.mark.parametrize("kind", ["responses-agent", "chat-agent"])
@pytest.mark.parametrize("backend", ["rest", "mlflow", "databricks-sdk", "openai"])
def test_a_guarded_agent_endpoint_is_sent_once(
    module_workspace: LocalWorkspace, backend: str, kind: str
) -> None:
    """A guardrail's 400 from an agent endpoint whose shape is not known yet is the
    call's answer: not a refusal of the shape, so the call is not sent again."""
    name = f"guarded-{kind}-{backend}"
    block = Guardrail(name="no-knowing", pattern=r"\bknow\b")
    module_workspace.add_endpoint(name, kind, guardrails=[block])
    module_workspace.clear_requests()
    with (
        chatport.Client(backend=backend, config={}, max_retries=2) as client,
        pytest.raises(chatport.GuardrailError),
    ):
        run(client, "sync", name)
    assert len(posts(module_workspace)) == 1
    assert metadata_reads(module_workspace) == []


def _profile(task: str | None) -> ModelProfile:
    return ModelProfile("e", "openai", None, "e", "metadata", task=task)


@pytest.mark.parametrize(
    "error",
    [
        chatport.GuardrailError("HTTP 400: blocked", stage="input", status_code=400),
        chatport.BudgetExceededError("HTTP 403: Budget 'b' has reached its limit", status_code=403),
        chatport.RateLimitError("HTTP 429: slow down", status_code=429),
    ],
)
@pytest.mark.parametrize("task", ["agent/v1/responses", "agent/v2/chat", None])
def test_a_governance_error_is_never_relearnt(error: chatport.APIError, task: str | None) -> None:
    """The one helper every backend sends through: after a governance error the call is
    not sent again and the endpoint's metadata is not read, agent endpoint or not (for
    ``chat`` as for ``responses``, and for the gateway's refusals too)."""
    sent: list[AgentApi | None] = []
    looked: list[str] = []

    def send(agent: AgentApi | None) -> str:
        sent.append(agent)
        raise error

    def lookup() -> ModelProfile:
        looked.append("GET")
        return _profile(task)

    async def asend(agent: AgentApi | None) -> str:
        return send(agent)

    async def alookup() -> ModelProfile:
        return lookup()

    for api in (None, "responses"):
        for gateway in (False, True):
            with pytest.raises(type(error)):
                send_learning(send, api, lookup, gateway=gateway)
            with pytest.raises(type(error)):
                asyncio.run(asend_learning(asend, api, alookup, gateway=gateway))
    assert len(sent) == 8
    assert looked == []


def test_a_plain_refusal_of_the_shape_is_sent_again_in_the_agents() -> None:
    sent: list[AgentApi | None] = []

    def send(agent: AgentApi | None) -> str:
        sent.append(agent)
        if agent is None:
            raise chatport.BadRequestError("HTTP 400: Extra inputs", status_code=400)
        return "answered"

    assert send_learning(send, None, lambda: _profile("agent/v1/responses")) == "answered"
    assert sent == [None, "responses"]
    with pytest.raises(chatport.BadRequestError):  # the profile was known: no lookup
        send_learning(send, None, None)
    with pytest.raises(chatport.BadRequestError):  # an ordinary endpoint
        send_learning(send, None, lambda: _profile(None))


# -- what the normalizers make of agent answers (no server needed) ------------------------


def test_a_chat_agent_answer_keeps_pending_tool_calls_only() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ran = {"id": "c0", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    data = {
        "messages": [
            {"role": "assistant", "content": None, "tool_calls": [ran], "id": "m1"},
            {"role": "tool", "name": "g", "tool_call_id": "c0", "content": "done", "id": "m2"},
            {"role": "assistant", "content": "Let me ", "id": "m3"},
            {"role": "assistant", "content": "check.", "tool_calls": [call], "id": "m4"},
        ],
        "custom_outputs": {"x": 1},
    }
    completion = completion_from_chat(data, "rest")
    assert completion.text == "Let me check."
    assert [c.id for c in completion.tool_calls] == ["c1"]
    assert completion.finish_reason == "tool_calls"
    assert completion.raw["custom_outputs"] == {"x": 1}


def test_a_chat_agent_answer_without_an_assistant_message_is_a_format_error() -> None:
    with pytest.raises(chatport.ResponseFormatError, match="no assistant message"):
        completion_from_chat({"messages": [{"role": "tool", "content": "x"}]}, "rest")


def test_a_responses_agent_answer_drops_the_calls_it_ran() -> None:
    output = [
        {"type": "function_call", "call_id": "c0", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c0", "output": "done"},
        {"type": "message", "content": [{"type": "output_text", "text": "ok"}]},
    ]
    completion = completion_from_response({"output": output}, "responses")
    assert (completion.text, completion.tool_calls, completion.finish_reason) == ("ok", (), "stop")


def test_a_completed_event_without_a_response_after_nothing_is_still_an_error() -> None:
    parser = ResponseEventParser("responses")
    with pytest.raises(chatport.ResponseFormatError):
        parser.parse({"type": "response.completed", "databricks_output": {}})
