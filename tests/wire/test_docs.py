"""The docs keep up with the code: hooks, public names, and the example plugin runs."""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import chatport
from chatport import hookspecs
from chatport.testing import temporary_plugin

DOCS = Path(__file__).resolve().parents[2] / "docs"
SHOUT = DOCS / "examples" / "chatport-shout"
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("chatport_"))


def test_hooks_exist() -> None:
    assert HOOKS == [
        "chatport_after_completion",
        "chatport_before_request",
        "chatport_call_end",
        "chatport_call_start",
        "chatport_first_chunk",
        "chatport_on_error",
        "chatport_plugin_settings",
        "chatport_register_backends",
        "chatport_register_commands",
    ]


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_with_its_signature(name: str) -> None:
    text = (DOCS / "plugins.md").read_text()
    parameters = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"### `{name}`" in text
    assert f"{name}({parameters})" in text
    assert f"- {name}" in text  # rendered from its docstring in the specifications section


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    for parameter in inspect.signature(getattr(hookspecs, name)).parameters:
        assert f":param {parameter}:" in doc
    assert ":return:" in doc


def test_every_public_name_is_in_the_api_reference() -> None:
    """Under its public name (``chatport.X``), errors and ``hookimpl`` included."""
    text = (DOCS / "api.md").read_text()
    missing = [
        n for n in chatport.__all__ if n != "__version__" and f"::: chatport.{n}\n" not in text
    ]
    assert missing == []
    assert "::: chatport._" not in text  # no private module paths
    assert "::: chatport.testing\n" in text
    assert "::: chatport.testing.pytest_plugin\n" in text


def test_docs_example_plugin_works(fresh_plugins: None, caplog: pytest.LogCaptureFixture) -> None:
    spec = importlib.util.spec_from_file_location("chatport_shout", SHOUT / "chatport_shout.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    caplog.set_level(logging.INFO, logger="chatport_shout")
    with temporary_plugin(module, "shout-example"):
        with chatport.Client(config={"backends": {"shout": {"suffix": "?!"}}}) as client:
            completion = client.complete("hello there", backend="loud", model="m")
        assert completion.text == "HELLO THERE?!"
        assert completion.usage.total_tokens == 3
        assert "shout answered in" in caplog.text
        with pytest.raises(chatport.UnsupportedFeatureError, match="tools"):
            chatport.Client(config={}).complete(
                "x",
                backend="shout",
                model="m",
                tools=[{"type": "function", "function": {"name": "f"}}],
            )


def _fenced(page: str, language: str) -> list[str]:
    blocks = page.split(f"```{language}\n")[1:]
    return [block.split("\n```")[0] + "\n" for block in blocks]


def test_plugin_guide_shows_the_example_package_as_it_is() -> None:
    page = (DOCS / "plugins.md").read_text()
    assert (SHOUT / "chatport_shout.py").read_text() in _fenced(page, "python")
    assert (SHOUT / "pyproject.toml").read_text() in _fenced(page, "toml")
    assert "--8<--" not in page  # GitHub would show an include as one literal line


def test_plugin_guide_example_package_installs_and_runs(tmp_path: Path) -> None:
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    result = subprocess.run(
        [*pip, "--no-build-isolation", "--target", str(target), str(SHOUT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("CHATPORT_DISABLE_PLUGINS", None)
    code = "import chatport; print(chatport.complete('hi there', backend='loud', model='m').text)"
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "HI THERE!\n"
    listed = subprocess.run(
        [sys.executable, "-m", "chatport", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["shout"]["package"] == "chatport-shout"
    assert rows["shout"]["version"] == "0.1.0"


def test_every_builtin_backend_has_a_page() -> None:
    from chatport import _plugins

    for info in _plugins.get_registry():
        if info.plugin.startswith("chatport.backends.") and info.name != "fake":
            page = DOCS / "backends" / f"{info.name}.md"
            assert page.is_file(), info.name
            assert page.read_text().startswith(f"# `{info.name}`")
            assert f"({info.name}.md)" in (DOCS / "backends" / "index.md").read_text()
