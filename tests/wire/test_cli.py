"""The chatport command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import chatport
from chatport.cli import cli
from chatport.testing import temporary_plugin

CANARY = "dapi-CANARY-cli-7f3a9c"


@pytest.fixture
def runner(workdir: Path) -> CliRunner:
    (workdir / "chatport.toml").write_text('backend = "fake"\nmodel = "cli-model"\n')
    return CliRunner()


class Capture:
    def __init__(self) -> None:
        self.requests: list[chatport.ChatRequest] = []

    @chatport.hookimpl
    def chatport_before_request(self, request: chatport.ChatRequest) -> None:
        self.requests.append(request)


@pytest.fixture
def captured() -> Iterator[Capture]:
    capture = Capture()
    with temporary_plugin(capture, "capture"):
        yield capture


def test_ask_prints_the_answer(runner: CliRunner, captured: Capture) -> None:
    result = runner.invoke(cli, ["ask", "-s", "be brief", "--max-tokens", "3", "what is it"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "what is it\n"
    (request,) = captured.requests
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[0].text == "be brief"
    assert (request.model, request.max_tokens) == ("cli-model", 3)


def test_ask_json_and_stdin(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["ask", "--json", "-m", "other", "-"], input="from stdin")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["object"] == "chat.completion"
    assert data["model"] == "other"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "from stdin"}


def test_ask_stream(runner: CliRunner, captured: Capture) -> None:
    result = runner.invoke(cli, ["ask", "--stream", "streamed answer"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "streamed answer\n"
    assert captured.requests[0].stream is True


def test_ask_errors_are_one_line(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["ask", "-b", "nope", "hi"])
    assert result.exit_code == 2  # a usage error, like a config error
    assert result.stderr.startswith("error: BackendNotFoundError: unknown backend 'nope'")
    assert "fake" in result.stderr
    assert result.stderr.count("\n") == 1
    result = runner.invoke(cli, ["ask", "-t", "9", "hi"])
    assert result.exit_code == 1
    assert (
        result.stderr
        == "error: InvalidRequestError: temperature: must be between 0 and 2, got 9.0\n"
    )


def test_bad_config_file_is_one_clear_line(workdir: Path) -> None:
    path = workdir / "chatport.toml"
    path.write_text('backend = "fake"\n[profiles.x]\ntimeout = "soon"\n')
    for args in (["ask", "hi"], ["config"], ["--profile", "x", "ask", "hi"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, args
        assert result.stderr == (
            f"error: {path}: profiles.x.timeout: expected a positive number, got str 'soon'\n"
        )
        assert "Traceback" not in result.output


def test_backends_lists_capabilities(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["backends"])
    assert result.exit_code == 0
    assert "fake" in result.stdout
    assert "capabilities: streaming, tools, response_format, n > 1" in result.stdout
    rows = json.loads(runner.invoke(cli, ["backends", "--json"]).stdout)
    by_name = {row["name"]: row for row in rows}
    assert by_name["fake"]["plugin"] == "chatport.backends.fake"
    assert set(by_name) >= {"openai", "responses", "rest", "mlflow", "databricks-sdk", "fake"}
    assert by_name["databricks-sdk"]["aliases"] == ["databricks"]
    assert by_name["mlflow"]["missing"] == []


def test_config_shows_sources_and_masks_the_token(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", "https://example.cloud.databricks.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
    monkeypatch.setenv("CHATPORT_MODEL", "env-model")
    result = runner.invoke(cli, ["config"])
    assert result.exit_code == 0, result.output
    assert CANARY not in result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if " = " in line}
    assert lines["backend"].endswith("# " + str(Path.cwd() / "chatport.toml"))
    assert '"env-model"' in lines["model"]
    assert lines["model"].endswith("# env CHATPORT_MODEL")
    assert lines["timeout"].endswith("# default")
    assert "masked" in lines["token"]
    assert lines["token"].endswith("# env DATABRICKS_TOKEN")
    data = json.loads(runner.invoke(cli, ["config", "--json"]).stdout)
    assert data["workspace"]["host"] == {
        "value": "https://example.cloud.databricks.com",
        "source": "env DATABRICKS_HOST",
    }
    assert CANARY not in json.dumps(data)


def test_help_explains_each_command() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["ask", "--help"])
    assert result.exit_code == 0
    for text in (
        "Ask one question",
        "--system",
        "--backend",
        "--model",
        "--stream",
        "--json",
        "standard input",
    ):
        assert text in result.stdout
    assert "Show the effective configuration" in runner.invoke(cli, ["config", "--help"]).stdout
    assert "List installed backends" in runner.invoke(cli, ["backends", "--help"]).stdout


def test_console_script_runs(workdir: Path) -> None:
    (workdir / "chatport.toml").write_text('backend = "fake"\n')
    script = Path(sys.executable).with_name("chatport")
    result = subprocess.run(
        [str(script), "ask", "hello from a subprocess"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from a subprocess\n"
