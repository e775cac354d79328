"""A local workspace shared by the contract tests of one module; faults reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatport.local import LocalWorkspace

OAUTH_CLIENT = ("contract-client", "contract-secret")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalWorkspace]:
    with LocalWorkspace(oauth_clients=dict([OAUTH_CLIENT]), log_bodies=True) as workspace:
        yield workspace


@pytest.fixture
def ws(server: LocalWorkspace) -> Iterator[LocalWorkspace]:
    """The module's workspace, with no faults and an empty request log."""
    for endpoint in server.endpoints:
        endpoint.faults = []
    server.clear_requests()
    yield server
    for endpoint in server.endpoints:
        endpoint.faults = []
