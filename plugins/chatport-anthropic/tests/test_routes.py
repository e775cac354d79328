"""``route = "auto"`` on the anthropic backend: AI Gateway's native Anthropic route first,
``/serving-endpoints/anthropic`` for an endpoint the gateway does not serve (it answers
``404 ENDPOINT_NOT_FOUND``), remembered per endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import chatport
from chatport import Client
from chatport.local import Endpoint, LocalWorkspace

MODES = ["sync", "async", "stream", "astream"]
OFF = "claude-off-gateway"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """A Claude endpoint behind the gateway and one that is not."""
    return {
        "endpoints": [
            Endpoint("claude-on", "echo", family="anthropic"),
            Endpoint(OFF, "echo", family="anthropic", gateway=False),
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
    return [(r.path, r.status) for r in ws.requests if r.path.endswith("/v1/messages")]


@pytest.mark.parametrize("mode", MODES)
def test_auto_tries_the_gateway_then_falls_back_and_remembers(
    env: LocalWorkspace, mode: str
) -> None:
    config = {"backends": {"anthropic": {"route": "auto"}}}
    with Client(backend="anthropic", config=config, max_retries=0) as client:
        assert ask(client, mode, "claude-on").text == "route me"
        first = ask(client, mode, OFF)
        assert (first.text, first.attempts) == ("route me", 1)
        assert ask(client, mode, OFF).text == "route me"
    assert paths(env) == [
        ("/ai-gateway/anthropic/v1/messages", 200),
        ("/ai-gateway/anthropic/v1/messages", 404),
        ("/serving-endpoints/anthropic/v1/messages", 200),
        ("/serving-endpoints/anthropic/v1/messages", 200),  # remembered
    ]


def test_the_gateway_route_alone_raises_not_found(env: LocalWorkspace) -> None:
    config = {"backends": {"anthropic": {"route": "ai-gateway"}}}
    with (
        Client(backend="anthropic", config=config, max_retries=0) as client,
        pytest.raises(chatport.NotFoundError, match="ENDPOINT_NOT_FOUND"),
    ):
        client.complete("route me", model=OFF)
    assert paths(env) == [("/ai-gateway/anthropic/v1/messages", 404)]
