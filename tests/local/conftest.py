"""A local workspace shared by the contract tests of one module; faults reset per test."""

from __future__ import annotations

import gc
import warnings
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


@pytest.fixture(autouse=True)
def _collect_clients() -> Iterator[None]:
    """Collect each test's unclosed SDK sessions right after it, not during a later test.

    These tests drive the SDKs directly; databricks-sdk and mlflow offer no way to close a
    client's pooled connections, and a socket collected in the middle of another test
    would fail that test (warnings are errors).
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
