"""The ``anthropic`` backend sends Unity AI Gateway request tags as the gateway documents
(the ``Databricks-Ai-Gateway-Request-Tags`` header), on both routes, streamed or not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import chatport
from chatport.local import LocalWorkspace

HEADER = "databricks-ai-gateway-request-tags"
TAGS = {"project": "chatbot", "team": "ml-platform"}


def run(client: chatport.Client, mode: str, **params: Any) -> str:
    if mode == "sync":
        return client.complete("tag me", model="claude-echo", **params).text
    if mode == "stream":
        return "".join(c.text or "" for c in client.stream("tag me", model="claude-echo", **params))

    async def go() -> str:
        if mode == "async":
            return (await client.acomplete("tag me", model="claude-echo", **params)).text
        chunks = client.astream("tag me", model="claude-echo", **params)
        return "".join([c.text or "" async for c in chunks])

    return asyncio.run(go())


@pytest.mark.parametrize("route", ["serving-endpoints", "ai-gateway"])
@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_the_tags_go_in_the_header(env: LocalWorkspace, mode: str, route: str) -> None:
    env.clear_usage()
    config = {"backends": {"anthropic": {"route": route}}, "request_tags": {"team": "ops"}}
    with chatport.Client(backend="anthropic", config=config, max_retries=0) as client:
        assert run(client, mode, request_tags=TAGS) == "tag me"
    (sent,) = [r for r in env.requests if r.path.endswith("/v1/messages")]
    assert json.loads(sent.headers[HEADER]) == TAGS  # the call's team wins over the config's
    assert "request_tags" not in json.dumps(sent.body)
    (record,) = env.usage
    assert record.request_tags == TAGS
    assert record.route == sent.path


def test_no_tags_no_header(env: LocalWorkspace) -> None:
    with chatport.Client(backend="anthropic", max_retries=0) as client:
        client.complete("plain", model="claude-echo")
    assert HEADER not in env.requests[-1].headers


def test_bad_tags_are_refused_before_sending(env: LocalWorkspace) -> None:
    with (
        chatport.Client(backend="anthropic") as client,
        pytest.raises(chatport.InvalidRequestError) as info,
    ):
        client.complete("x", model="claude-echo", request_tags={"team": ["ml"]})
    assert info.value.field == 'request_tags["team"]'
    assert env.requests == []
