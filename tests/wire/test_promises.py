"""Promises the docs and the CLI make, held by tests (each failed before its fix)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import chatport
from chatport.cli import cli
from chatport.local import Fault, LocalWorkspace

ROOT = Path(__file__).resolve().parents[2]
CHATPORT = str(Path(sys.executable).with_name("chatport"))
MODEL = "databricks-gpt-5"


def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path) -> None:
    with LocalWorkspace() as workspace:
        workspace.set_faults(MODEL, Fault.slow(30))
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
        env.update(workspace.environ())
        process = subprocess.Popen(
            [CHATPORT, "ask", "-m", MODEL, "a slow question"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not any(r.method == "POST" for r in workspace.requests):  # the call is under way
            assert time.monotonic() < deadline, "the request never arrived"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "chatport: interrupted" in err
    assert "Aborted!" not in err
    assert "Traceback" not in err


def test_an_unknown_backend_in_the_config_file_exits_2(workdir: Path) -> None:
    (workdir / "chatport.toml").write_text('backend = "opneai"\n')
    result = CliRunner().invoke(cli, ["ask", "hi"])
    assert result.exit_code == 2, result.output
    assert "BackendNotFoundError" in result.stderr
    assert "openai" in result.stderr  # the installed backends are listed


def test_chatport_config_runs_the_checks_a_client_runs(workdir: Path) -> None:
    (workdir / "chatport.toml").write_text('[backends.opneai]\nroute = "ai-gateway"\n')
    with pytest.raises(chatport.BackendNotFoundError) as refused:
        chatport.Client()
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: BackendNotFoundError: {refused.value}"
    assert "did you mean 'openai'" in result.stderr


def test_an_unknown_model_gets_a_suggestion_and_a_pointer(
    workdir: Path, local_workspace: LocalWorkspace
) -> None:
    result = CliRunner().invoke(cli, ["ask", "-m", "databricks-gpt5", "hi"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: NotFoundError:")
    assert "(did you mean 'databricks-gpt-5'?)" in lines[1]
    assert "`chatport models`" in lines[1]


def test_gateway_names_are_served_on_gateway_routes_only(
    local_workspace: LocalWorkspace,
) -> None:
    headers = {"Authorization": f"Bearer {local_workspace.token}"}
    body = {"model": "system.ai.gpt-5", "input": "hi"}
    base = local_workspace.url
    refused = httpx.post(f"{base}/serving-endpoints/responses", json=body, headers=headers)
    unknown = httpx.post(
        f"{base}/serving-endpoints/responses", json={**body, "model": "nope"}, headers=headers
    )
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["error_code"] == unknown.json()["error_code"]  # as if it did not exist
    chat = {"model": "system.ai.gpt-5", "messages": [{"role": "user", "content": "hi"}]}
    assert (
        httpx.post(f"{base}/serving-endpoints/chat/completions", json=chat, headers=headers)
    ).status_code == 404
    served = httpx.post(f"{base}/ai-gateway/mlflow/v1/responses", json=body, headers=headers)
    assert served.status_code == 200, served.text
    assert (
        httpx.post(f"{base}/ai-gateway/mlflow/v1/chat/completions", json=chat, headers=headers)
    ).status_code == 200


def _toml_blocks(path: Path) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", path.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("page", ["README.md", "docs/configuration.md"])
def test_the_gateway_profile_of_the_docs_reaches_the_gateway(
    page: str, workdir: Path, local_workspace: LocalWorkspace
) -> None:
    (block,) = [b for b in _toml_blocks(ROOT / page) if "[profiles.gateway]" in b]
    (workdir / "chatport.toml").write_text(block)
    with chatport.Client(profile="gateway", max_retries=0) as client:
        assert client.complete("through the gateway").text == "through the gateway"
    posts = [r.path for r in local_workspace.requests if r.method == "POST"]
    assert posts == ["/ai-gateway/mlflow/v1/responses"]


def test_the_readme_lists_every_plugin_package() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Plugins in this repository", 1)[1]
    packages = sorted(
        p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file()
    )
    assert len(packages) >= 5
    for package in packages:
        assert f"(plugins/{package}/README.md)" in section, package


INDEX_INSTALLS = re.compile(
    r"""(%pip|pip) install\s+(-U\s+)?["']?chatport(-[a-z-]+)?(\[[a-z,]+\])?["']?(\s|`|$)"""
)


def test_no_page_installs_chatport_from_a_package_index() -> None:
    """chatport and its plugins are installed from a checkout or a wheel, never by name."""
    pages = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    pages += [p / "README.md" for p in (ROOT / "plugins").iterdir() if (p / "README.md").is_file()]
    found = [
        f"{page.relative_to(ROOT)}: {match.group(0).strip()}"
        for page in pages
        for match in INDEX_INSTALLS.finditer(page.read_text())
    ]
    assert found == []
