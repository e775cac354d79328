"""Shared fixtures for chatport's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatport import _plugins

from .raw_server import RawServer


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's config, profile or workspace."""
    for name in (
        "CHATPORT_BACKEND",
        "CHATPORT_MODEL",
        "CHATPORT_PROFILE",
        "CHATPORT_CONFIG",
        "CHATPORT_DISABLE_PLUGINS",
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CONFIG_PROFILE",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(home / ".databrickscfg"))


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    """Rebuild the plugin manager (and re-scan entry points) for this test only."""
    _plugins._reset_for_tests()
    yield
    _plugins._reset_for_tests()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, so no chatport.toml or pyproject.toml is found."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def sdks_imported() -> None:
    """Import the SDKs up front: a cold import is not what these deadlines measure (a
    call's deadline leaves out a backend's one-time setup)."""
    import databricks.sdk  # noqa: F401
    import mlflow.deployments.databricks
    import mlflow.tracking.request_header.registry  # noqa: F401
    import openai  # noqa: F401


@pytest.fixture
def server_factory(monkeypatch: pytest.MonkeyPatch, sdks_imported: None) -> Iterator[Any]:
    """Start :class:`RawServer` in a mode; the environment points every backend at it."""
    servers: list[RawServer] = []

    def start(mode: str, line_bytes: int = 1_000_000) -> RawServer:
        server = RawServer(mode=mode, line_bytes=line_bytes).__enter__()
        servers.append(server)
        monkeypatch.setenv("DATABRICKS_HOST", server.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-deadline-test")
        return server

    yield start
    for server in servers:
        server.close()
