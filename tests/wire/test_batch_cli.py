"""`chatport batch`: JSONL in, JSONL out, validated up front, resumable after a kill."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chatport.cli import cli
from chatport.local import Endpoint, Fault, LocalWorkspace

CHATPORT = str(Path(sys.executable).with_name("chatport"))
MODEL = "batch-model"
CANARY = "dapi-canary-0123456789abcdef"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The kit's workspace for this module: MODEL, and a canary token no output may show."""
    return {"endpoints": [Endpoint(MODEL, "echo")], "token": CANARY}


def write_inputs(path: Path, count: int, **extra: Any) -> list[str]:
    ids = [f"t{i}" for i in range(count)]
    with path.open("w") as handle:
        for ident in ids:
            handle.write(json.dumps({"id": ident, "prompt": f"ticket {ident}", **extra}) + "\n")
    return ids


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["batch", *args])


def test_every_line_answered_once(module_workspace: LocalWorkspace, workdir: Path) -> None:
    ids = write_inputs(workdir / "in.jsonl", 30)
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL, "-c", "4")
    assert result.exit_code == 0, result.output
    out = rows(workdir / "out.jsonl")
    assert [row["id"] for row in out] == ids
    first = out[0]
    assert first["text"] == "ticket t0"
    assert first["finish_reason"] == "stop"
    assert first["usage"]["total_tokens"] == 4
    assert (first["backend"], first["model"]) == ("rest", MODEL)
    assert "done 30, failed 0, skipped 0" in result.stderr
    assert "requests/s" in result.stderr


def test_per_line_options_and_messages(module_workspace: LocalWorkspace, workdir: Path) -> None:
    lines = [
        {"id": 1, "messages": [{"role": "user", "content": "a b c d"}], "max_tokens": 2},
        {"id": "two", "prompt": "plain", "model": MODEL},
    ]
    (workdir / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, result.output
    out = {row["id"]: row for row in rows(workdir / "out.jsonl")}
    assert (out[1]["text"], out[1]["finish_reason"]) == ("a b", "length")
    assert out["two"]["text"] == "plain"


def test_bad_lines_are_reported_before_anything_is_sent(
    module_workspace: LocalWorkspace, workdir: Path
) -> None:
    (workdir / "in.jsonl").write_text(
        '{"id": 1, "prompt": "fine"}\n'
        "not json\n"
        '{"prompt": "no id"}\n'
        '{"id": 1, "prompt": "again"}\n'
        '{"id": 5}\n'
        '{"id": 6, "prompt": "x", "temprature": 1}\n'
    )
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 2
    for expected in (
        "line 2: not JSON",
        'line 3: no "id"',
        "line 4: duplicate id '1' (first on line 1)",
        'line 5: needs exactly one of "prompt" or "messages"',
        "line 6: unknown key 'temprature'",
    ):
        assert expected in result.stderr
    assert module_workspace.requests == []
    assert not (workdir / "out.jsonl").exists()


def test_failures_are_lines_and_retry_failed_redoes_them(
    module_workspace: LocalWorkspace, workdir: Path
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 12)
    module_workspace.set_faults(MODEL, Fault.error(400, times=3))
    first = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL, "-c", "1")
    assert first.exit_code == 1
    assert "failed 3 (3 BadRequestError)" in first.stderr
    failed = [row for row in rows(workdir / "out.jsonl") if "error" in row]
    assert [row["error"]["type"] for row in failed] == ["BadRequestError"] * 3
    assert all(CANARY not in json.dumps(row) for row in failed)
    again = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert again.exit_code == 0  # nothing left to do: failed lines count as done
    assert "skipped 12" in again.stderr
    retried = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL, "--retry-failed")
    assert retried.exit_code == 0, retried.output
    assert "done 3, failed 0, skipped 9" in retried.stderr
    out = rows(workdir / "out.jsonl")
    assert sorted(row["id"] for row in out) == sorted(ids)
    assert all("error" not in row for row in out)


def test_a_torn_last_line_is_redone(module_workspace: LocalWorkspace, workdir: Path) -> None:
    ids = write_inputs(workdir / "in.jsonl", 5)
    done = json.dumps({"id": "t0", "text": "ticket t0"}) + "\n"
    (workdir / "out.jsonl").write_text(done + '{"id": "t1", "te')  # a crash mid-write
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, result.output
    out = rows(workdir / "out.jsonl")
    assert sorted(row["id"] for row in out) == ids
    assert "skipped 1" in result.stderr


def test_killed_at_random_points_and_rerun_gives_one_line_per_id(
    module_workspace: LocalWorkspace, workdir: Path
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 150)
    module_workspace.set_faults(MODEL, Fault.slow(0.02))
    environment = {**os.environ, **module_workspace.environ(), "CHATPORT_DISABLE_PLUGINS": "1"}
    command = [CHATPORT, "batch", "in.jsonl", "-o", "out.jsonl", "-m", MODEL, "-c", "4"]
    chance = random.Random(2026)
    kills = 0
    for _ in range(4):
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(chance.uniform(0.6, 1.6))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
    final = subprocess.run(
        command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=120
    )
    assert final.returncode == 0, final.stderr
    assert kills >= 1
    counts = Counter(row["id"] for row in rows(workdir / "out.jsonl"))
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}
