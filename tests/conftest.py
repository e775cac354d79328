"""Shared fixtures for chatport's own tests (environment isolation: ../conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .raw_server import RawServer


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
