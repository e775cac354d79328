"""``route = "auto"`` on the gemini backend: AI Gateway's native Gemini route first,
``/serving-endpoints/gemini`` for an endpoint the gateway does not serve (it answers
``404 ENDPOINT_NOT_FOUND``), remembered per endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import chatport
from chatport import Client
from chatport.local import Endpoint, LocalWorkspace

MODES = ["sync", "async", "stream", "astream"]
OFF = "gemini-off-gateway"


@pytest.fixture
def env(module_workspace: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace, with ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` pointing
    at it, no faults and an empty request log (the repository's conftest isolates the rest)."""
    return module_workspace


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """A Gemini endpoint behind the gateway and one that is not."""
    return {
        "endpoints": [
            Endpoint("gemini-on", "echo", family="google"),
            Endpoint(OFF, "echo", family="google", gateway=False),
        ]
    }


def ask(client: Client, mode: str, model: str) -> chatport.Completion:
    if mode == "sync":
        return client.complete("route me", model=model)
    if mode == "async":
        return asyncio.run(client.acomplete("route me", model=model))
    if mode == "stream":
        return chatport.collect(client.stream("route me", model=model))

    async def consume() -> chatport.Completion:
        return chatport.collect([c async for c in client.astream("route me", model=model)])

    return asyncio.run(consume())


def paths(ws: LocalWorkspace) -> list[tuple[str, int | None]]:
    return [(r.path, r.status) for r in ws.requests if "/gemini/v1beta/models/" in r.path]


@pytest.mark.parametrize("mode", MODES)
def test_auto_tries_the_gateway_then_falls_back_and_remembers(
    env: LocalWorkspace, mode: str
) -> None:
    config = {"backends": {"gemini": {"route": "auto"}}}
    with Client(backend="gemini", config=config, max_retries=0) as client:
        assert ask(client, mode, "gemini-on").text == "route me"
        first = ask(client, mode, OFF)
        assert (first.text, first.attempts) == ("route me", 1)
        assert ask(client, mode, OFF).text == "route me"
    method = ":streamGenerateContent" if "stream" in mode else ":generateContent"
    on, off = "/v1beta/models/gemini-on" + method, f"/v1beta/models/{OFF}" + method
    assert paths(env) == [
        ("/ai-gateway/gemini" + on, 200),
        ("/ai-gateway/gemini" + off, 404),
        ("/serving-endpoints/gemini" + off, 200),
        ("/serving-endpoints/gemini" + off, 200),  # remembered
    ]


def test_the_gateway_route_alone_raises_not_found(env: LocalWorkspace) -> None:
    config = {"backends": {"gemini": {"route": "ai-gateway"}}}
    with (
        Client(backend="gemini", config=config, max_retries=0) as client,
        pytest.raises(chatport.NotFoundError, match="ENDPOINT_NOT_FOUND"),
    ):
        client.complete("route me", model=OFF)
    assert paths(env) == [(f"/ai-gateway/gemini/v1beta/models/{OFF}:generateContent", 404)]
