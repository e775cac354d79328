"""Fixtures for every test in the repository: chatport's own (tests/) and the plugins'.

The environment isolation lives here, at the root, so the plugin packages' tests in
plugins/*/tests get exactly the isolation of the main suite.
"""

from __future__ import annotations

from collections.abc import Iterator

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
