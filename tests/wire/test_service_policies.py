"""A service policy that denies a call answers it (HTTP 200): a completion with
``finish_reason="content_filter"``, its denial as the text, and ``Completion.policy``
naming the policy. The same on every backend, sync, async, streamed and async-streamed,
against the local workspace over real HTTP, and equal across backends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import chatport
from chatport import Completion
from chatport.local import Endpoint, LocalWorkspace
from chatport.local.endpoints import endpoints_from_table
from chatport.local.governance import ServicePolicy

from ..backends import BUILT_IN

MODES = ["sync", "async", "stream", "astream"]
ON_CALL = "policy-on-call"
ON_RESULT = "policy-on-result"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """Two OpenAI-family endpoints (every backend reaches them), each with a policy."""
    fixed = {"family": "openai", "fixed_id": "cmpl-policy", "fixed_created": 1_700_000_000}
    return {
        "endpoints": [
            Endpoint(
                ON_CALL,
                service_policies=[ServicePolicy("no-codenames", "input", "bluebird")],
                **fixed,
            ),
            Endpoint(
                ON_RESULT,
                service_policies=[ServicePolicy("no-links", "output", r"http://")],
                **fixed,
            ),
        ]
    }


def ask(backend: str, mode: str, model: str, prompt: str) -> Completion:
    with chatport.Client(backend=backend, config={}, max_retries=0) as client:
        if mode == "sync":
            return client.complete(prompt, model=model)
        if mode == "async":
            return asyncio.run(client.acomplete(prompt, model=model))
        if mode == "stream":
            return chatport.collect(client.stream(prompt, model=model))

        async def consume() -> Completion:
            return chatport.collect([c async for c in client.astream(prompt, model=model)])

        return asyncio.run(consume())


def comparable(completion: Completion) -> Completion:
    return completion.__class__(
        **{**completion.__dict__, "backend": None, "raw": None, "latency_s": None}
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_a_denied_request_is_a_content_filter_answer_naming_the_policy(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    completion = ask(backend, mode, ON_CALL, "tell me about project bluebird")
    assert completion.finish_reason == "content_filter"
    assert completion.text == "Request blocked by service policy 'no-codenames'."
    assert completion.policy == "no-codenames"
    assert completion.tool_calls == ()
    reference = ask("rest", "sync", ON_CALL, "tell me about project bluebird")
    assert comparable(completion) == comparable(reference)
    # a request the policy lets through is answered as usual
    allowed = ask(backend, mode, ON_CALL, "tell me about lakehouses")
    assert (allowed.text, allowed.finish_reason, allowed.policy) == (
        "tell me about lakehouses",
        "stop",
        None,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("backend", BUILT_IN)
def test_a_denied_answer_is_replaced_by_the_denial(
    module_workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    completion = ask(backend, mode, ON_RESULT, "see http://example.invalid/x")
    assert (completion.finish_reason, completion.policy) == ("content_filter", "no-links")
    assert completion.text == "Response blocked by service policy 'no-links'."
    assert "example.invalid" not in completion.text
    assert completion.attempts == 1  # an answer, not an error: nothing to retry


def test_policy_is_read_only_from_a_content_filter_denial() -> None:
    denial = "Request blocked by service policy 'p1'."
    assert Completion(text=denial, finish_reason="content_filter").policy == "p1"
    assert Completion(text=denial, finish_reason="stop").policy is None  # the model said it
    assert Completion(text="filtered", finish_reason="content_filter").policy is None
    guarded = "Output guardrail 'pii' blocked the response"
    assert Completion(text=guarded, finish_reason="content_filter").policy is None
    named = "Response blocked by output guardrail 'pii'."
    assert Completion(text=named, finish_reason="content_filter").policy == "pii"


def test_service_policies_from_a_workspace_file() -> None:
    (endpoint,) = endpoints_from_table(
        {"m": {"service_policies": [{"name": "p", "stage": "input", "pattern": "x"}]}}, "f.toml"
    )
    assert endpoint.service_policies == [ServicePolicy("p", "input", "x")]
    with pytest.raises(chatport.ConfigError, match=r"endpoints\.m\.service_policies\[0\]\.stage"):
        endpoints_from_table({"m": {"service_policies": [{"stage": "later"}]}}, "f.toml")
    with pytest.raises(chatport.ConfigError, match=r"service_policies\[0\]\.pattern"):
        endpoints_from_table({"m": {"service_policies": [{"pattern": "("}]}}, "f.toml")
