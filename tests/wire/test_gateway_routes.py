"""AI Gateway routes: the OpenAI-native Responses route, and ``route = "auto"``.

``auto`` sends each call to the gateway first and, for an endpoint the gateway answers
it does not serve (``404 ENDPOINT_NOT_FOUND``), again at once to ``/serving-endpoints``,
remembering that per endpoint. The local workspace's ``Endpoint(gateway=False)`` is such
an endpoint: its metadata has no ``ai_gateway`` and the gateway routes answer
``ENDPOINT_NOT_FOUND`` for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import chatport
from chatport import Client
from chatport.local import Endpoint, LocalWorkspace

MODES = ["sync", "async", "stream", "astream"]
OFF = "gpt-off-gateway"  # an OpenAI-family endpoint the gateway does not serve
ON = "databricks-gpt-5"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """This module's endpoints (chatport.testing's shared workspace)."""
    return {
        "endpoints": [
            Endpoint(OFF, family="openai", foundation_model="databricks-gpt-5", gateway=False)
        ]
    }


def ask(client: Client, mode: str, model: str) -> chatport.Completion:
    """One question through ``client`` in ``mode``; the assembled completion."""
    messages = [{"role": "user", "content": "route me"}]
    if mode == "sync":
        return client.complete(messages, model=model)
    if mode == "async":
        return asyncio.run(client.acomplete(messages, model=model))
    if mode == "stream":
        return chatport.collect(client.stream(messages, model=model))

    async def consume() -> chatport.Completion:
        return chatport.collect([chunk async for chunk in client.astream(messages, model=model)])

    return asyncio.run(consume())


def chat_paths(ws: LocalWorkspace) -> list[tuple[str, int | None]]:
    return [(r.path, r.status) for r in ws.requests if not r.path.startswith("/api/")]


@pytest.mark.parametrize("mode", MODES)
def test_auto_sends_gateway_endpoints_to_the_gateway(
    module_workspace: LocalWorkspace, mode: str
) -> None:
    with Client(backend="openai", config={"backends": {"openai": {"route": "auto"}}}) as client:
        completion = ask(client, mode, ON)
        assert completion.text == "route me"
        assert chat_paths(module_workspace) == [("/ai-gateway/mlflow/v1/chat/completions", 200)]


@pytest.mark.parametrize("mode", MODES)
def test_auto_falls_back_once_and_remembers(module_workspace: LocalWorkspace, mode: str) -> None:
    with Client(backend="openai", config={"backends": {"openai": {"route": "auto"}}}) as client:
        first = ask(client, mode, OFF)
        assert first.text == "route me"
        assert first.attempts == 1  # a routing step, not a retry
        assert chat_paths(module_workspace) == [
            ("/ai-gateway/mlflow/v1/chat/completions", 404),
            ("/serving-endpoints/chat/completions", 200),
        ]
        module_workspace.clear_requests()
        assert ask(client, mode, OFF).text == "route me"
        assert chat_paths(module_workspace) == [("/serving-endpoints/chat/completions", 200)]
        module_workspace.clear_requests()
        ask(client, mode, ON)  # remembered per endpoint: the others still go to the gateway
        assert chat_paths(module_workspace) == [("/ai-gateway/mlflow/v1/chat/completions", 200)]


def test_auto_does_not_fall_back_for_other_errors(module_workspace: LocalWorkspace) -> None:
    module_workspace.set_faults(ON, chatport.local.Fault(status=400, times=1))
    config = {"backends": {"openai": {"route": "auto"}}}
    with (
        Client(backend="openai", config=config, max_retries=0) as client,
        pytest.raises(chatport.BadRequestError),
    ):
        client.complete("route me", model=ON)
    assert chat_paths(module_workspace) == [("/ai-gateway/mlflow/v1/chat/completions", 400)]


def test_auto_for_an_unknown_endpoint_ends_in_not_found(module_workspace: LocalWorkspace) -> None:
    config = {"backends": {"openai": {"route": "auto"}}}
    with (
        Client(backend="openai", config=config, max_retries=0) as client,
        pytest.raises(chatport.NotFoundError) as caught,
    ):
        client.complete("route me", model="no-such-endpoint")
    assert "RESOURCE_DOES_NOT_EXIST" in str(caught.value)  # the serving-endpoints answer
    assert [path for path, _ in chat_paths(module_workspace)] == [
        "/ai-gateway/mlflow/v1/chat/completions",
        "/serving-endpoints/chat/completions",
    ]


def test_the_gateway_route_alone_never_falls_back(module_workspace: LocalWorkspace) -> None:
    config = {"backends": {"openai": {"route": "ai-gateway"}}}
    with (
        Client(backend="openai", config=config, max_retries=0) as client,
        pytest.raises(chatport.NotFoundError) as caught,
    ):
        client.complete("route me", model=OFF)
    assert "ENDPOINT_NOT_FOUND" in str(caught.value)
    assert chat_paths(module_workspace) == [("/ai-gateway/mlflow/v1/chat/completions", 404)]


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


@pytest.mark.parametrize("backend", ["openai", "responses"])
def test_a_bad_route_names_every_value(module_workspace: LocalWorkspace, backend: str) -> None:
    config = {"backends": {backend: {"route": "gateway"}}}
    with pytest.raises(chatport.ConfigError) as caught:
        Client(backend=backend, config=config)
    assert "auto" in str(caught.value)
    assert f"backends.{backend}.route" in str(caught.value)
    assert chat_paths(module_workspace) == []
