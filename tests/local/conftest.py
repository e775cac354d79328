"""The contract tests of a module share the testing kit's module workspace (``ws``)."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from chatport.local import LocalWorkspace

OAUTH_CLIENT = ("contract-client", "contract-secret")


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The kit's workspace for each module here: one OAuth client, and request bodies kept."""
    return {"oauth_clients": dict([OAUTH_CLIENT]), "log_bodies": True}


@pytest.fixture
def ws(module_workspace: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace (no faults, an empty request log, ``DATABRICKS_HOST`` and
    ``DATABRICKS_TOKEN`` pointing at it), under the contract tests' short name."""
    return module_workspace


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
