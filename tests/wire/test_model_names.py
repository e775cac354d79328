"""Model (endpoint) names are one URL path segment, checked once before anything is sent."""

from __future__ import annotations

import pytest

import chatport
from chatport import InvalidRequestError
from chatport.local import LocalWorkspace

from ..backends import BUILT_IN

BACKENDS = BUILT_IN
HOSTILE = (
    "../../api/2.0/secrets/scopes/list",
    "../../api/2.0/secrets/scopes/list?",
    "..",
    ".",
    "a/b",
    "echo?x=1",
    "echo#frag",
    "a\\b",
    "%2e%2e",
    "echo ",
    " echo",
    "a b",
    "a\tb",
    "echo\n",
    "a\x00b",
    "a\u2028b",
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_model_names_send_nothing(
    backend: str, local_workspace: LocalWorkspace, workdir: object
) -> None:
    with chatport.Client(backend, max_retries=0, timeout=10) as client:
        for model in HOSTILE:
            with pytest.raises(InvalidRequestError) as info:
                client.complete("hi", model=model)
            assert info.value.field == "model", model
            with pytest.raises(InvalidRequestError) as info:
                list(client.stream("hi", model=model))
            assert info.value.field == "model", model
    assert local_workspace.requests == []


@pytest.mark.parametrize("model", ["system.ai.gpt-5", "databricks-claude-sonnet-4-5", "my_ep.v2"])
def test_valid_names_pass(model: str) -> None:
    request = chatport.ChatRequest.build("hi", model=model)
    assert request.model == model


def test_metadata_lookup_refuses_hostile_names(
    local_workspace: LocalWorkspace, workdir: object
) -> None:
    with chatport.Client("rest") as client:
        backend = client.backend()
        for name in ("..", "../../api/2.0/secrets/scopes/list", "a/../.."):
            assert backend.endpoint_metadata(name) is None
    assert local_workspace.requests == []
