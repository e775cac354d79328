"""AI Gateway routes: the OpenAI-native Responses route, and ``route = "auto"``.

The ``openai``, ``rest``, ``mlflow`` and ``databricks-sdk`` backends take the gateway's
unified chat route (``/ai-gateway/mlflow/v1/chat/completions``, the endpoint in the
body's ``model``); the own route of the last three is
``/serving-endpoints/{name}/invocations`` (``mlflow`` and ``databricks-sdk`` send both
through the real databricks-sdk client's API layer).

``auto`` sends each call to the gateway first and, for an endpoint the gateway answers
it does not serve (``404 ENDPOINT_NOT_FOUND``), again at once to ``/serving-endpoints``,
remembering that per endpoint. The local workspace's ``Endpoint(gateway=False)`` is such
an endpoint: its metadata has no ``ai_gateway`` and the gateway routes answer
``ENDPOINT_NOT_FOUND`` for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

import chatport
from chatport import Client
from chatport.local import Endpoint, LocalWorkspace

MODES = ["sync", "async", "stream", "astream"]
OFF = "gpt-off-gateway"  # an OpenAI-family endpoint the gateway does not serve
ON = "databricks-gpt-5"
GATEWAY = "/ai-gateway/mlflow/v1/chat/completions"
INVOCATIONS_BACKENDS = ["rest", "mlflow", "databricks-sdk"]  # their own route: /invocations
CHAT_BACKENDS = ["openai", *INVOCATIONS_BACKENDS]
FIXED = "fixed-gpt"  # fixed id and clock: two calls give equal completions
AGENTS = {"chat": "gw-chat-agent", "responses": "gw-responses-agent"}


def serving_path(backend: str, model: str) -> str:
    """Where ``backend`` sends a chat call for ``model`` outside the gateway."""
    if backend in INVOCATIONS_BACKENDS:
        return f"/serving-endpoints/{model}/invocations"
    return "/serving-endpoints/chat/completions"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """This module's endpoints (chatport.testing's shared workspace)."""
    return {
        "endpoints": [
            Endpoint(OFF, family="openai", foundation_model="databricks-gpt-5", gateway=False),
            Endpoint(
                FIXED,
                family="openai",
                foundation_model="databricks-gpt-5",
                fixed_id="chatcmpl-fixed",
                fixed_created=1_700_000_000,
            ),
            Endpoint(AGENTS["chat"], "chat-agent"),
            Endpoint(AGENTS["responses"], "responses-agent"),
        ]
    }


def ask(client: Client, mode: str, model: str, **params: Any) -> chatport.Completion:
    """One question through ``client`` in ``mode``; the assembled completion."""
    messages = [{"role": "user", "content": "route me"}]
    if mode == "sync":
        return client.complete(messages, model=model, **params)
    if mode == "async":
        return asyncio.run(client.acomplete(messages, model=model, **params))
    if mode == "stream":
        return chatport.collect(client.stream(messages, model=model, **params))

    async def consume() -> chatport.Completion:
        chunks = [chunk async for chunk in client.astream(messages, model=model, **params)]
        return chatport.collect(chunks)

    return asyncio.run(consume())


def chat_paths(ws: LocalWorkspace) -> list[tuple[str, int | None]]:
    """The chat calls sent (not metadata reads, nor databricks-sdk's host probe)."""
    return [
        (r.path, r.status) for r in ws.requests if not r.path.startswith(("/api/", "/.well-known/"))
    ]


def routed(backend: str, route: str, **settings: Any) -> Client:
    """A client of ``backend`` with its ``route`` option set."""
    return Client(backend=backend, config={"backends": {backend: {"route": route}}}, **settings)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_auto_sends_gateway_endpoints_to_the_gateway(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    with routed(backend, "auto") as client:
        completion = ask(client, mode, ON)
        assert completion.text == "route me"
        assert chat_paths(module_workspace) == [(GATEWAY, 200)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_the_gateway_route_names_the_endpoint_in_the_body(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    with routed(backend, "ai-gateway") as client:
        assert ask(client, mode, ON).text == "route me"
        # the gateway also takes the endpoint's Unity Catalog name
        assert ask(client, mode, "system.ai.gpt-5").text == "route me"
    sent = [r for r in module_workspace.requests if r.method == "POST"]
    assert [(r.path, r.status, r.body["model"]) for r in sent] == [
        (GATEWAY, 200, ON),
        (GATEWAY, 200, "system.ai.gpt-5"),
    ]
    assert all(r.body.get("stream", False) == mode.endswith("stream") for r in sent)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_auto_falls_back_once_and_remembers(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    with routed(backend, "auto") as client:
        first = ask(client, mode, OFF)
        assert first.text == "route me"
        assert first.attempts == 1  # a routing step, not a retry
        assert chat_paths(module_workspace) == [(GATEWAY, 404), (serving_path(backend, OFF), 200)]
        module_workspace.clear_requests()
        assert ask(client, mode, OFF).text == "route me"
        assert chat_paths(module_workspace) == [(serving_path(backend, OFF), 200)]
        module_workspace.clear_requests()
        ask(client, mode, ON)  # remembered per endpoint: the others still go to the gateway
        assert chat_paths(module_workspace) == [(GATEWAY, 200)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_auto_does_not_fall_back_for_other_errors(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    module_workspace.set_faults(ON, chatport.local.Fault(status=400, times=1))
    with routed(backend, "auto", max_retries=0) as client, pytest.raises(chatport.BadRequestError):
        ask(client, mode, ON)
    assert chat_paths(module_workspace) == [(GATEWAY, 400)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_auto_for_an_unknown_endpoint_ends_in_not_found(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    model = "no-such-endpoint"
    with (
        routed(backend, "auto", max_retries=0) as client,
        pytest.raises(chatport.NotFoundError) as caught,
    ):
        ask(client, mode, model)
    assert "RESOURCE_DOES_NOT_EXIST" in str(caught.value)  # the serving-endpoints answer
    assert [path for path, _ in chat_paths(module_workspace)] == [
        GATEWAY,
        serving_path(backend, model),
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", CHAT_BACKENDS)
def test_the_gateway_route_alone_never_falls_back(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    with (
        routed(backend, "ai-gateway", max_retries=0) as client,
        pytest.raises(chatport.NotFoundError) as caught,
    ):
        ask(client, mode, OFF)
    assert "ENDPOINT_NOT_FOUND" in str(caught.value)
    assert chat_paths(module_workspace) == [(GATEWAY, 404)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", INVOCATIONS_BACKENDS)
def test_the_gateway_gives_the_invocations_completion(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    """Parity: the same question gives the same ``Completion`` on either route."""
    params = {"max_tokens": 64, "temperature": 0.0}
    answers = {}
    for route in ("serving-endpoints", "ai-gateway"):
        with routed(backend, route) as client:
            answers[route] = ask(client, mode, FIXED, **params)
    assert [path for path, _ in chat_paths(module_workspace)] == [
        serving_path(backend, FIXED),
        GATEWAY,
    ]
    via_invocations, via_gateway = (
        dataclasses.replace(c, latency_s=None) for c in answers.values()
    )
    assert via_gateway.text == "route me"
    assert via_gateway == via_invocations


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("route", ["ai-gateway", "auto"])
@pytest.mark.parametrize("backend", INVOCATIONS_BACKENDS)
def test_request_tags_on_the_gateway(
    module_workspace: LocalWorkspace, backend: str, route: str, mode: str
) -> None:
    tags = {"team": "ml", "project": "routes"}
    before = len(module_workspace.usage)  # the module's workspace keeps earlier rows
    with routed(backend, route) as client:
        assert ask(client, mode, ON, request_tags=tags).text == "route me"
    (record,) = module_workspace.usage[before:]
    assert (record.route, record.endpoint_name, record.request_tags) == (GATEWAY, ON, tags)


@pytest.mark.parametrize("route", ["ai-gateway", "auto"])
@pytest.mark.parametrize("kind", ["chat", "responses"])
@pytest.mark.parametrize("backend", INVOCATIONS_BACKENDS)
def test_agents_go_to_their_invocations_whatever_the_route(
    module_workspace: LocalWorkspace, backend: str, kind: str, route: str
) -> None:
    """An agent is a Model Serving endpoint: known to be one (a ResponsesAgent refuses the
    chat shape on the gateway, then its metadata is read once), it is posted at
    ``/serving-endpoints/{name}/invocations`` on every call."""
    with routed(backend, route) as client:
        if kind == "chat":  # the gateway answers a ChatAgent's chat shape: learn it first
            client.backend().profile(AGENTS[kind])
        for mode in MODES:
            module_workspace.clear_requests()
            assert ask(client, mode, AGENTS[kind]).text, mode
            sent = [r for r in module_workspace.requests if r.method == "POST"]
            assert (sent[-1].path, sent[-1].status) == (serving_path(backend, AGENTS[kind]), 200)
            assert "model" not in sent[-1].body


@pytest.mark.parametrize("mode", MODES)
def test_responses_on_the_openai_native_gateway_route(
    module_workspace: LocalWorkspace, mode: str
) -> None:
    config = {"backends": {"responses": {"route": "ai-gateway-openai"}}}
    with Client(backend="responses", config=config) as client:
        assert ask(client, mode, ON).text == "route me"
    assert chat_paths(module_workspace) == [("/ai-gateway/openai/v1/responses", 200)]


@pytest.mark.parametrize("mode", MODES)
def test_responses_auto(module_workspace: LocalWorkspace, mode: str) -> None:
    config = {"backends": {"responses": {"route": "auto"}}}
    with Client(backend="responses", config=config) as client:
        assert ask(client, mode, ON).text == "route me"
        assert ask(client, mode, OFF).text == "route me"
        assert ask(client, mode, "databricks-claude-sonnet-4-5").text == "route me"
    assert chat_paths(module_workspace) == [
        ("/ai-gateway/mlflow/v1/responses", 200),
        ("/ai-gateway/mlflow/v1/responses", 404),
        ("/serving-endpoints/responses", 200),
        # the gateway's Responses routes pass OpenAI models only: Claude goes to Open Responses
        ("/serving-endpoints/open-responses", 200),
    ]


@pytest.mark.parametrize("backend", ["openai", "responses", *INVOCATIONS_BACKENDS])
def test_a_bad_route_names_every_value(module_workspace: LocalWorkspace, backend: str) -> None:
    config = {"backends": {backend: {"route": "gateway"}}}
    with pytest.raises(chatport.ConfigError) as caught:
        Client(backend=backend, config=config)
    assert "auto" in str(caught.value)
    assert f"backends.{backend}.route" in str(caught.value)
    assert chat_paths(module_workspace) == []
