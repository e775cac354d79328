"""pytest fixtures for code that uses chatport (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .._client import Client
from ..backends.fake import FakeBackend

if TYPE_CHECKING:
    from ..local import LocalWorkspace

__all__ = ["fake_backend", "fake_client", "local_workspace"]


@pytest.fixture
def fake_client() -> Iterator[Client]:
    """A :class:`chatport.Client` on the ``fake`` backend, ignoring any config file."""
    with Client(backend="fake", config={}) as client:
        yield client


@pytest.fixture
def fake_backend(fake_client: Client) -> FakeBackend:
    """The :class:`FakeBackend` behind ``fake_client``: ``enqueue`` replies, read ``history``."""
    backend = fake_client.backend()
    assert isinstance(backend, FakeBackend)
    return backend


@pytest.fixture
def local_workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalWorkspace]:
    """A :class:`chatport.local.LocalWorkspace` on a free loopback port for this test.

    ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` point at it for the test's duration, so
    every backend and the openai, mlflow and databricks-sdk clients reach it.
    """
    from ..local import LocalWorkspace

    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    with LocalWorkspace() as workspace:
        for key, value in workspace.environ().items():
            monkeypatch.setenv(key, value)
        yield workspace
