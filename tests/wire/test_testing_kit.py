"""The testing kit's shared workspace: one server per module, a clean slate per test."""

from __future__ import annotations

import os
from typing import Any

import pytest

import chatport
from chatport.local import Endpoint, Fault, LocalWorkspace

SEEN: list[str] = []


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    return {"endpoints": [Endpoint("kit-bot", "scripted", replies=["from the kit"])]}


def test_first_test_sets_a_fault(module_workspace: LocalWorkspace) -> None:
    SEEN.append(module_workspace.url)
    assert os.environ["DATABRICKS_HOST"] == module_workspace.url
    assert os.environ["DATABRICKS_TOKEN"] == module_workspace.token
    module_workspace.set_faults("databricks-gpt-5", Fault.error(500))
    with chatport.Client(backend="rest", config={}) as client:
        assert client.complete("hi", model="kit-bot").text == "from the kit"
        with pytest.raises(chatport.ServerError):
            client.complete("hi", model="databricks-gpt-5")
    assert module_workspace.requests


def test_second_test_shares_the_server_with_a_clean_slate(
    module_workspace: LocalWorkspace,
) -> None:
    assert [module_workspace.url] == SEEN  # the same server: not one per test
    assert module_workspace.requests == []  # the request log starts empty
    with chatport.Client(backend="rest", config={}) as client:  # and the fault is gone
        assert client.complete("hi", model="databricks-gpt-5").text == "hi"
    assert os.environ["DATABRICKS_HOST"] == module_workspace.url
