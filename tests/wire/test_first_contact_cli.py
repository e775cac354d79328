"""First contact on the command line: the profile users have, quiet SDKs, honest batches."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chatport.cli import cli
from chatport.local import LocalWorkspace

CHATPORT = str(Path(sys.executable).with_name("chatport"))
TOKEN = "dapi-cli-first-contact-0123456789"


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment with no workspace in it and ``home`` as HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "CHATPORT_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    return env


def test_readme_main_job_answers_from_the_default_profile(tmp_path: Path) -> None:
    """`chatport ask "What is chatport?"` with only a [DEFAULT] profile pointing at a
    running `chatport serve`: that server answers, and no embedded-workspace notice."""
    serve = subprocess.Popen(
        [CHATPORT, "serve", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        first = serve.stdout.readline()
        assert first.startswith("chatport local workspace on http://127.0.0.1:"), first
        url = first.split(" on ", 1)[1].strip()
        home = tmp_path / "home"
        home.mkdir()
        (home / ".databrickscfg").write_text(f"[DEFAULT]\nhost = {url}\ntoken = {TOKEN}\n")
        done = subprocess.run(
            [CHATPORT, "ask", "What is chatport?"],
            env=clean_env(home),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "What is chatport?\n"  # the echo model of *that* server
    assert "embedded" not in done.stderr
    assert TOKEN not in done.stderr + done.stdout


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("verbose", [False, True])
def test_sdk_log_lines_reach_stderr_only_with_verbose(tmp_path: Path, verbose: bool) -> None:
    home = tmp_path / "home"
    home.mkdir()
    port = closed_port()
    (home / ".databrickscfg").write_text(
        f"[DEFAULT]\nhost = http://127.0.0.1:{port}\ntoken = {TOKEN}\n"
    )
    args = [CHATPORT, *(["-v"] if verbose else []), "ask", "-b", "databricks-sdk", "hi"]
    done = subprocess.run(
        args,
        env=clean_env(home),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"could not connect to http://127.0.0.1:{port}: connection refused" in done.stderr
    # databricks-sdk's own log line (INFO) as it reads the profile
    assert ("loading DEFAULT profile from" in done.stderr) == verbose
    if not verbose:  # nor, on versions that probe the host, the probe's warning
        assert "Failed to automatically resolve config" not in done.stderr
    assert TOKEN not in done.stderr


def test_batch_without_a_workspace_is_refused(workdir: Path) -> None:
    (workdir / "in.jsonl").write_text('{"id": 1, "prompt": "hello"}\n')
    result = CliRunner().invoke(cli, ["batch", "in.jsonl", "-o", "out.jsonl"])
    assert result.exit_code == 2, result.output
    assert "no Databricks workspace is configured" in result.stderr
    assert "--local" in result.stderr
    assert "DATABRICKS_HOST" in result.stderr
    assert not (workdir / "out.jsonl").exists()


def test_batch_local_answers_from_the_embedded_workspace_and_says_so(workdir: Path) -> None:
    (workdir / "in.jsonl").write_text('{"id": 1, "prompt": "hello"}\n')
    result = CliRunner().invoke(cli, ["batch", "in.jsonl", "-o", "out.jsonl", "--local"])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in (workdir / "out.jsonl").read_text().splitlines()]
    assert line["text"] == "hello"
    assert "embedded local workspace" in result.stderr
    assert "only repeat the question" in result.stderr


def test_batch_with_a_profile_uses_it_without_local(workdir: Path) -> None:
    with LocalWorkspace(token=TOKEN) as workspace:
        home = Path(os.environ["HOME"])
        (home / ".databrickscfg").write_text(
            f"[DEFAULT]\nhost = {workspace.url}\ntoken = {TOKEN}\n"
        )
        (workdir / "in.jsonl").write_text('{"id": 1, "prompt": "from my profile"}\n')
        result = CliRunner().invoke(
            cli, ["batch", "in.jsonl", "-o", "out.jsonl", "-m", "databricks-gpt-5"]
        )
        assert result.exit_code == 0, result.output
        assert "embedded" not in result.stderr
        assert [r.path for r in workspace.requests if r.method == "POST"] == [
            "/serving-endpoints/databricks-gpt-5/invocations"
        ]


def test_ask_notice_says_the_embedded_model_only_echoes(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["ask", "hello"])
    assert result.exit_code == 0, result.output
    assert "a stand-in that only repeats the question" in result.stderr


def test_ask_with_token_env_unset_is_a_config_error(workdir: Path) -> None:
    (workdir / "chatport.toml").write_text('token_env = "MY_UNSET_TOKEN_VARIABLE"\n')
    result = CliRunner().invoke(cli, ["ask", "hello"])
    assert result.exit_code == 2
    assert "token_env names MY_UNSET_TOKEN_VARIABLE, which is not set" in result.stderr
    assert "embedded" not in result.stderr
