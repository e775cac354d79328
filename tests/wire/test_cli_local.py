"""The CLI with the local workspace: the embedded default and `chatport serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from chatport.cli import cli
from chatport.local import LocalWorkspace

CHATPORT = str(Path(sys.executable).with_name("chatport"))


def test_ask_without_workspace_uses_the_embedded_default(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["ask", "What is chatport?"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "What is chatport?\n"
    assert "embedded local workspace (http://127.0.0.1:" in result.stderr
    assert "DATABRICKS_HOST" in result.stderr
    assert "DATABRICKS_HOST" not in os.environ  # restored afterwards


def test_ask_with_a_workspace_uses_it(workdir: Path, local_workspace: LocalWorkspace) -> None:
    result = CliRunner().invoke(
        cli, ["ask", "-m", "databricks-gpt-5", "--stream", "to the real one"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "to the real one\n"
    assert "embedded" not in result.stderr
    (logged,) = [r for r in local_workspace.requests if r.method == "POST"]
    assert logged.path == "/serving-endpoints/databricks-gpt-5/invocations"
    assert logged.body["stream"] is True
    # an OpenAI-family endpoint reports stream usage only when asked
    assert logged.body["stream_options"] == {"include_usage": True}


def test_ask_responses_with_the_default_model_goes_to_open_responses(
    workdir: Path, local_workspace: LocalWorkspace
) -> None:
    result = CliRunner().invoke(cli, ["ask", "-b", "responses", "--json", "a Claude question"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["choices"][0]["message"]["content"] == "a Claude question"
    assert answer["model"] == "databricks-claude-sonnet-4-5"
    posts = [r.path for r in local_workspace.requests if r.method == "POST"]
    assert posts == ["/serving-endpoints/open-responses"]
    lookups = [r.path for r in local_workspace.requests if r.method == "GET"]
    assert lookups == ["/api/2.0/serving-endpoints/databricks-claude-sonnet-4-5"]


@pytest.mark.parametrize(
    ("option", "sent"),
    [
        ("low", {"thinking": {"type": "enabled", "budget_tokens": 1024}}),
        ("2048", {"thinking": {"type": "enabled", "budget_tokens": 2048}}),
        ("off", {}),
    ],
)
def test_ask_reasoning_option(
    workdir: Path, local_workspace: LocalWorkspace, option: str, sent: dict[str, object]
) -> None:
    result = CliRunner().invoke(cli, ["ask", "-r", option, "--json", "think first"])
    assert result.exit_code == 0, result.output
    (logged,) = [r for r in local_workspace.requests if r.method == "POST"]
    assert {k: v for k, v in logged.body.items() if k == "thinking"} == sent
    content = json.loads(result.stdout)["choices"][0]["message"]["content"]
    assert isinstance(content, list) == bool(sent)  # reasoning blocks only when asked


def test_ask_reasoning_on_a_model_that_cannot(
    workdir: Path, local_workspace: LocalWorkspace
) -> None:
    result = CliRunner().invoke(
        cli, ["ask", "-m", "databricks-meta-llama-3-3-70b-instruct", "-r", "high", "hi"]
    )
    assert result.exit_code != 0
    assert "cannot be asked to reason" in result.stderr
    assert [r for r in local_workspace.requests if r.method == "POST"] == []


def test_backend_swap_in_config_changes_the_path(
    workdir: Path, local_workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "chatport.toml").write_text('backend = "fake"\n')
    assert CliRunner().invoke(cli, ["ask", "hi"]).stdout == "hi\n"
    assert local_workspace.requests == []
    monkeypatch.setenv("CHATPORT_BACKEND", "rest")
    assert CliRunner().invoke(cli, ["ask", "hi"]).stdout == "hi\n"
    assert [r.path for r in local_workspace.requests] == [
        "/serving-endpoints/databricks-claude-sonnet-4-5/invocations"
    ]


def _start_serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [CHATPORT, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("chatport local workspace on http://127.0.0.1:"), first
    return process, first.split(" on ", 1)[1].strip()


def _banner(process: subprocess.Popen[str]) -> str:
    """The rest of the start-up banner, read line by line (``communicate`` would miss
    lines already buffered by ``readline``)."""
    assert process.stdout is not None
    lines = []
    while not (line := process.stdout.readline()).startswith("Press Ctrl-C"):
        assert line, "serve exited before its banner was complete"
        lines.append(line)
    return "".join(lines)


def test_serve_answers_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    process, url = _start_serve(
        "--token", "dapi-serve-test", "--log", str(log), "--endpoint", "my-thinker=reasoning"
    )
    banner = _banner(process)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.post(
                    f"{url}/serving-endpoints/databricks-gpt-5/invocations",
                    json={"messages": [{"role": "user", "content": "served"}]},
                    headers={"Authorization": "Bearer dapi-serve-test"},
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.json()["choices"][0]["message"]["content"] == "served"
        thinker = httpx.post(
            f"{url}/serving-endpoints/my-thinker/invocations",
            json={"messages": [{"role": "user", "content": "hm"}]},
            headers={"Authorization": "Bearer dapi-serve-test"},
        )
        assert thinker.json()["choices"][0]["message"]["content"][0]["type"] == "reasoning"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err
    assert "export DATABRICKS_TOKEN=dapi-serve-test\n" in banner  # pasteable: the real token
    assert "dapi-serve-test" not in err
    assert "served" in log.read_text()


def test_serve_port_in_use_is_one_line() -> None:
    with LocalWorkspace() as busy:
        result = subprocess.run(
            [CHATPORT, "serve", "--port", str(busy.port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert (
        result.stderr
        == f"error: LocalWorkspaceError: cannot listen on 127.0.0.1:{busy.port}: Address already in use\n"
    )


def test_serve_rejects_unknown_endpoint_model() -> None:
    result = CliRunner().invoke(cli, ["serve", "--endpoint", "x=gpt"])
    assert result.exit_code == 2
    assert (
        result.stderr
        == "error: endpoint 'x': unknown model 'gpt'; expected one of echo, reasoning, "
        "scripted, chat-agent, responses-agent\n"
    )


def test_serve_refuses_non_loopback() -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "loopback addresses only" in result.stderr


def test_compare_table_and_json(
    workdir: Path,
    local_workspace: LocalWorkspace,
    fresh_plugins: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATPORT_DISABLE_PLUGINS", "1")  # the built-in backends only
    result = CliRunner().invoke(
        cli, ["compare", "-m", "databricks-gpt-5", "same question everywhere"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["backend", "text", "finish", "tokens", "p/c/t", "latency"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"databricks-sdk", "mlflow", "openai", "responses", "rest"}
    for line in rows.values():
        assert "same question everywhere" in line
        assert " stop " in line
        assert "3/3/6" in line
    posted = {r.path for r in local_workspace.requests if r.method == "POST"}
    assert posted == {
        "/serving-endpoints/databricks-gpt-5/invocations",
        "/serving-endpoints/chat/completions",
        "/serving-endpoints/responses",
    }
    result = CliRunner().invoke(cli, ["compare", "--json", "-b", "rest", "-b", "nope", "hi"])
    data = json_loads(result.stdout)
    assert [row["backend"] for row in data] == ["rest", "nope"]
    assert data[0]["text"] == "hi"
    assert data[0]["total_tokens"] == 2
    assert data[1]["error"].startswith("BackendNotFoundError: unknown backend 'nope'")


def json_loads(text: str) -> list[dict[str, object]]:
    import json

    return json.loads(text)  # type: ignore[no-any-return]
