"""Unity AI Gateway governance through the anthropic SDK: the same typed errors as every
built-in backend (the kit's error mapping), on both Messages routes, streamed or not."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

import chatport
from chatport.local import LocalWorkspace
from chatport.local.governance import Budget, Guardrail, RateLimit

MODES = ("sync", "async", "stream", "astream")
ROUTES = ("serving-endpoints", "ai-gateway")
_names = itertools.count()


def endpoint(ws: LocalWorkspace, **options: Any) -> str:
    name = f"claude-gov-{next(_names)}"
    ws.add_endpoint(name, "echo", family="anthropic", **options)
    return name


def run(client: chatport.Client, mode: str, prompt: str, model: str) -> str:
    if mode == "sync":
        return client.complete(prompt, model=model).text
    if mode == "stream":
        return "".join(c.text or "" for c in client.stream(prompt, model=model))

    async def go() -> str:
        if mode == "async":
            return (await client.acomplete(prompt, model=model)).text
        return "".join([c.text or "" async for c in client.astream(prompt, model=model)])

    return asyncio.run(go())


def raised(route: str, mode: str, prompt: str, model: str, retries: int) -> chatport.APIError:
    config = {"backends": {"anthropic": {"route": route}}}
    with (
        chatport.Client(backend="anthropic", config=config, max_retries=retries) as client,
        pytest.raises(chatport.APIError) as caught,
    ):
        run(client, mode, prompt, model)
    return caught.value


def posts(ws: LocalWorkspace) -> int:
    return sum(1 for r in ws.requests if r.method == "POST")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("route", ROUTES)
def test_governance_errors_are_typed_and_blocks_are_not_retried(
    module_workspace: LocalWorkspace, route: str, mode: str
) -> None:
    guards = [
        Guardrail(name="in", pattern="secret"),
        Guardrail(name="out", stage="output", pattern="leak"),
    ]
    guarded = endpoint(module_workspace, guardrails=guards)
    error = raised(route, mode, "a secret", guarded, retries=2)
    assert type(error) is chatport.GuardrailError
    assert (error.stage, error.guardrail, error.attempts) == ("input", "in", 1)
    error = raised(route, mode, "a leak", guarded, retries=2)
    assert type(error) is chatport.GuardrailError
    assert (error.stage, error.guardrail) == ("output", "out")
    assert error.status_code == (None if "stream" in mode else 400)
    budget = endpoint(module_workspace, budget=Budget(name="team-a"))
    error = raised(route, mode, "hi", budget, retries=2)
    assert type(error) is chatport.BudgetExceededError
    assert error.budget == "team-a"
    assert posts(module_workspace) == 3  # one attempt each
    limited = endpoint(module_workspace, rate_limits=[RateLimit(kind="otpm", retry_after=None)])
    error = raised(route, mode, "hi", limited, retries=0)
    assert type(error) is chatport.RateLimitError
    assert error.limit == "otpm"
    once = endpoint(module_workspace, rate_limits=[RateLimit(kind="itpm", times=1, retry_after=0)])
    config = {"backends": {"anthropic": {"route": route}}}
    with chatport.Client(backend="anthropic", config=config, max_retries=2) as client:
        assert run(client, mode, "hello", once) == "hello"
    assert posts(module_workspace) == 6  # the 429 was retried
