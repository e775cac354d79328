"""pytest fixtures for code that uses chatport (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .._client import Client
from ..backends.fake import FakeBackend

__all__ = ["fake_backend", "fake_client"]


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
