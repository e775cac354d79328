"""Shared fixtures for chatport's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatport import _plugins


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
