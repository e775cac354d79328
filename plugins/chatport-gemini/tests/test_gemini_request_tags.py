"""The ``gemini`` backend sends Unity AI Gateway request tags as the gateway documents
(the ``Databricks-Ai-Gateway-Request-Tags`` header), on both routes, streamed or not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import chatport
from chatport.local import Endpoint, LocalWorkspace

HEADER = "databricks-ai-gateway-request-tags"
TAGS = {"project": "chatbot", "team": "ml-platform"}


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The kit's workspace for each module here: Gemini endpoints (reasoning and plain)
    and a GPT one.

    Every answer carries the same id and timestamp, so whole completions from different
    backends can be compared; the request log keeps bodies (the tests read what was sent).
    """
    fixed_id, fixed_created = "gen-parity", 1_700_000_000
    endpoints = [
        Endpoint("gemini-think", "reasoning", family="google", fixed_id=fixed_id),
        Endpoint("gemini-echo", "echo", family="google", fixed_id=fixed_id),
        Endpoint("gpt-echo", "echo", family="openai", fixed_id=fixed_id),
    ]
    for endpoint in endpoints:
        endpoint.fixed_created = fixed_created
    return {"endpoints": endpoints, "log_bodies": True}


@pytest.fixture
def env(module_workspace: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace, with ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` pointing
    at it, no faults and an empty request log (the repository's conftest isolates the rest)."""
    return module_workspace


def run(client: chatport.Client, mode: str, **params: Any) -> str:
    if mode == "sync":
        return client.complete("tag me", model="gemini-echo", **params).text
    if mode == "stream":
        return "".join(c.text or "" for c in client.stream("tag me", model="gemini-echo", **params))

    async def go() -> str:
        if mode == "async":
            return (await client.acomplete("tag me", model="gemini-echo", **params)).text
        chunks = client.astream("tag me", model="gemini-echo", **params)
        return "".join([c.text or "" async for c in chunks])

    return asyncio.run(go())


@pytest.mark.parametrize("route", ["serving-endpoints", "ai-gateway"])
@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_the_tags_go_in_the_header(env: LocalWorkspace, mode: str, route: str) -> None:
    env.clear_usage()
    config = {"backends": {"gemini": {"route": route}}, "request_tags": {"team": "ops"}}
    with chatport.Client(backend="gemini", config=config, max_retries=0) as client:
        assert run(client, mode, request_tags=TAGS) == "tag me"
    (sent,) = [r for r in env.requests if "/gemini/v1beta/models/" in r.path]
    assert json.loads(sent.headers[HEADER]) == TAGS  # the call's team wins over the config's
    assert "request_tags" not in json.dumps(sent.body)
    (record,) = env.usage
    assert record.request_tags == TAGS
    assert record.route == sent.path


def test_no_tags_no_header(env: LocalWorkspace) -> None:
    with chatport.Client(backend="gemini", max_retries=0) as client:
        client.complete("plain", model="gemini-echo")
    assert HEADER not in env.requests[-1].headers


def test_bad_tags_are_refused_before_sending(env: LocalWorkspace) -> None:
    with (
        chatport.Client(backend="gemini") as client,
        pytest.raises(chatport.InvalidRequestError) as info,
    ):
        client.complete("x", model="gemini-echo", request_tags={"team": ["ml"]})
    assert info.value.field == 'request_tags["team"]'
    assert env.requests == []
