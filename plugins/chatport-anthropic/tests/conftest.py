"""The same isolation as chatport's own suite (no developer config, profile or workspace),
and the testing kit's module workspace with the endpoints these tests use."""

from __future__ import annotations

from typing import Any

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
def module_workspace_options() -> dict[str, Any]:
    """The kit's workspace for each module here: Claude endpoints (hybrid reasoning and
    plain) and a GPT one.

    Every answer carries the same id and timestamp, so whole completions from different
    backends can be compared; the request log keeps bodies (the tests read what was sent).
    """
    fixed_id, fixed_created = "msg-parity", 1_700_000_000
    endpoints = [
        Endpoint("claude-think", "reasoning", family="anthropic", fixed_id=fixed_id),
        Endpoint("claude-echo", "echo", family="anthropic", fixed_id=fixed_id),
        Endpoint("gpt-echo", "echo", family="openai", fixed_id=fixed_id),
    ]
    for endpoint in endpoints:
        endpoint.fixed_created = fixed_created
    return {"endpoints": endpoints, "log_bodies": True}


@pytest.fixture
def workspace(module_workspace_server: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace, with nothing in the environment and no reset."""
    return module_workspace_server


@pytest.fixture
def env(module_workspace: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace, with ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` pointing
    at it, no faults and an empty request log."""
    return module_workspace
