"""The same isolation as chatport's own suite: no developer config, profile or workspace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chatport.local import Endpoint, LocalWorkspace


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
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
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(home / ".databrickscfg"))


@pytest.fixture(scope="module")
def workspace() -> Iterator[LocalWorkspace]:
    """A local workspace with Claude endpoints (hybrid reasoning and plain) and a GPT one.

    Every answer carries the same id and timestamp, so whole completions from different
    backends can be compared.
    """
    fixed_id, fixed_created = "msg-parity", 1_700_000_000
    endpoints = [
        Endpoint("claude-think", "reasoning", family="anthropic", fixed_id=fixed_id),
        Endpoint("claude-echo", "echo", family="anthropic", fixed_id=fixed_id),
        Endpoint("gpt-echo", "echo", family="openai", fixed_id=fixed_id),
    ]
    for endpoint in endpoints:
        endpoint.fixed_created = fixed_created
    with LocalWorkspace(endpoints, log_bodies=True) as ws:  # the tests read what was sent
        yield ws


@pytest.fixture
def env(workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch) -> LocalWorkspace:
    """``workspace``, with ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` pointing at it."""
    for key, value in workspace.environ().items():
        monkeypatch.setenv(key, value)
    workspace.clear_requests()
    return workspace
