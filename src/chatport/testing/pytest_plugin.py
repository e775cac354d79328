"""pytest fixtures for code that uses chatport (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .._client import Client
from .._deadline import VirtualClock
from ..backends.fake import FakeBackend

if TYPE_CHECKING:
    from ..local import LocalWorkspace

__all__ = [
    "fake_backend",
    "fake_client",
    "local_workspace",
    "module_workspace",
    "module_workspace_options",
    "module_workspace_server",
    "virtual_clock",
]


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
def virtual_clock() -> Iterator[VirtualClock]:
    """chatport's clock for this test, made virtual: retry waits (``Retry-After``,
    backoff) return at once and move the clock on.

    Deadlines read the same clock, so they still see the time waited; reads from the
    network keep real time. ``advanced`` is the total waited, ``waits`` each wait. The
    clock is the process's: it suits one call at a time (see ``VirtualClock``).
    """
    with VirtualClock() as clock:
        yield clock


@pytest.fixture
def local_workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalWorkspace]:
    """A :class:`chatport.local.LocalWorkspace` on a free loopback port for this test.

    ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` point at it for the test's duration, so
    every backend and the openai, mlflow and databricks-sdk clients reach it. Its request
    log keeps bodies (``log_bodies=True``), so a test can check what was sent.
    """
    from ..local import LocalWorkspace

    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    with LocalWorkspace(log_bodies=True) as workspace:
        for key, value in workspace.environ().items():
            monkeypatch.setenv(key, value)
        yield workspace


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """Keyword arguments for :func:`module_workspace_server`'s ``LocalWorkspace``
    (``log_bodies`` is ``True`` unless they say otherwise).

    Override it in a test module to serve your own endpoints or fix the token::

        @pytest.fixture(scope="module")
        def module_workspace_options():
            return {"endpoints": [Endpoint("my-bot", "scripted")], "token": "dapi-test"}
    """
    return {}


@pytest.fixture(scope="module")
def module_workspace_server(module_workspace_options: dict[str, Any]) -> Iterator[LocalWorkspace]:
    """One :class:`chatport.local.LocalWorkspace` for the whole test module (no environment);
    its request log keeps bodies unless ``module_workspace_options`` says otherwise."""
    from ..local import LocalWorkspace

    with LocalWorkspace(**{"log_bodies": True, **module_workspace_options}) as workspace:
        yield workspace


@pytest.fixture
def module_workspace(
    module_workspace_server: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> LocalWorkspace:
    """The module's shared workspace, set up for this test.

    ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` point at it for the test's duration, and
    every endpoint's faults and the request log start empty. Endpoints a test adds stay
    for the rest of the module. Use it instead of ``local_workspace`` when one server per
    test is more than the module needs.
    """
    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    for key, value in module_workspace_server.environ().items():
        monkeypatch.setenv(key, value)
    for endpoint in module_workspace_server.endpoints:
        module_workspace_server.set_faults(endpoint.name)
    module_workspace_server.clear_requests()
    return module_workspace_server
