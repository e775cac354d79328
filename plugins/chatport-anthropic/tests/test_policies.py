"""A service policy's denial (HTTP 200) through the anthropic backend: a
``content_filter`` completion naming the policy, equal to the ``rest`` backend's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import chatport
from chatport import Completion
from chatport.local import Endpoint, LocalWorkspace
from chatport.local.governance import ServicePolicy

MODES = ["sync", "async", "stream", "astream"]
POLICIES = [
    ServicePolicy("no-codenames", "input", "bluebird"),
    ServicePolicy("no-links", "output", "http://"),
]


@pytest.fixture
def env(module_workspace: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace, with the environment pointing at it."""
    return module_workspace


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """A anthropic endpoint with an ON CALL and an ON RESULT policy."""
    return {
        "endpoints": [Endpoint("guarded", "echo", family="anthropic", service_policies=POLICIES)]
    }


def ask(backend: str, mode: str, prompt: str) -> Completion:
    with chatport.Client(backend=backend, config={}, max_retries=0) as client:
        if mode == "sync":
            return client.complete(prompt, model="guarded")
        if mode == "async":
            return asyncio.run(client.acomplete(prompt, model="guarded"))
        if mode == "stream":
            return chatport.collect(client.stream(prompt, model="guarded"))

        async def consume() -> Completion:
            return chatport.collect([c async for c in client.astream(prompt, model="guarded")])

        return asyncio.run(consume())


@pytest.mark.parametrize("mode", MODES)
def test_denials_are_content_filter_answers_naming_the_policy(
    env: LocalWorkspace, mode: str
) -> None:
    denied = ask("anthropic", mode, "what is bluebird?")
    assert (denied.finish_reason, denied.policy) == ("content_filter", "no-codenames")
    assert denied.text == "Request blocked by service policy 'no-codenames'."
    replaced = ask("anthropic", mode, "open http://example.invalid")
    assert (replaced.finish_reason, replaced.policy) == ("content_filter", "no-links")
    assert "example.invalid" not in replaced.text
    reference = ask("rest", "sync", "what is bluebird?")
    assert (denied.text, denied.finish_reason, denied.policy) == (
        reference.text,
        reference.finish_reason,
        reference.policy,
    )
