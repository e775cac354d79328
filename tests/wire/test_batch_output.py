"""`chatport batch` writes the whole answer, any text, and fails cleanly on the disk.

Each output line carries the whole normalized answer (tool calls, every choice,
reasoning); a lone surrogate in an answer or an id is written; a missing folder or a
full disk is one line and exit status 2 with no temporary file left behind; outputs are
created private and a rewrite keeps their mode; deeply nested lines are refused by
number; two runs started together on one output never both write.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatport.local import Endpoint, Fault, LocalWorkspace

from ..raw_server import RawServer, http_answer
from .test_batch_files import calls, run, subprocess_env

CHATPORT = str(Path(sys.executable).with_name("chatport"))
MODEL = "output-model"
THINKER = "thinking-model"  # a hybrid reasoning model: it reasons only when asked
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a ticket up.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]
#: Runs `chatport batch` with a file-size limit, as `ulimit -f` gives (SIGXFSZ ignored, so
#: a write past the limit fails with EFBIG as a write to a full disk fails with ENOSPC).
LIMITED = (
    "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "limit = int(sys.argv.pop(1)); resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); "
    "from chatport.cli import main; main()"
)


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The testing kit's module workspace: an echo model and a hybrid reasoning model."""
    return {
        "endpoints": [
            Endpoint(MODEL, "echo"),
            Endpoint(THINKER, "reasoning", family="anthropic"),
        ]
    }


@pytest.fixture
def env(module_workspace: LocalWorkspace, workdir: Path) -> LocalWorkspace:
    """The module workspace, in the environment, faults and request log cleared."""
    return module_workspace


@pytest.fixture
def workspace(module_workspace_server: LocalWorkspace, workdir: Path) -> LocalWorkspace:
    """The module workspace, out of the environment (subprocesses get it explicitly)."""
    module_workspace_server.set_faults(MODEL)
    module_workspace_server.clear_requests()
    return module_workspace_server


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common umask, under which a file created without a mode is 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def write_inputs(path: Path, count: int) -> list[str]:
    ids = [f"t{i}" for i in range(count)]
    write_lines(path, [{"id": i, "prompt": f"ticket {i}"} for i in ids])
    return ids


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def leftovers(folder: Path) -> list[str]:
    """Temporary files a run left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the whole answer ----------------------------------------------------------------------


def test_a_tool_call_answer_keeps_its_calls(env: LocalWorkspace, workdir: Path) -> None:
    write_lines(
        workdir / "in.jsonl",
        [
            {"id": "call", "prompt": "find ticket 42", "tools": TOOLS},
            {"id": "plain", "prompt": "just text"},
        ],
    )
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    out = {row["id"]: row for row in rows(workdir / "out.jsonl")}
    call = out["call"]
    assert call["finish_reason"] == "tool_calls"
    (tool_call,) = call["tool_calls"]
    assert tool_call["type"] == "function"
    assert tool_call["function"]["name"] == "lookup"
    assert "find ticket 42" in json.loads(tool_call["function"]["arguments"]).values()
    assert tool_call["id"]
    assert "tool_calls" not in out["plain"]  # a plain answer's line is as before
    assert out["plain"]["text"] == "just text"


def test_every_choice_is_written(env: LocalWorkspace, workdir: Path) -> None:
    write_lines(workdir / "in.jsonl", [{"id": 1, "prompt": "three ways", "n": 3}])
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    (row,) = rows(workdir / "out.jsonl")
    assert row["text"] == "three ways"
    choices = row["choices"]
    assert [choice["index"] for choice in choices] == [0, 1, 2]
    for choice in choices:
        assert choice["message"] == {"role": "assistant", "content": "three ways"}
        assert choice["finish_reason"] == "stop"


def test_reasoning_is_written_when_asked(env: LocalWorkspace, workdir: Path) -> None:
    write_lines(
        workdir / "in.jsonl",
        [
            {"id": "asked", "prompt": "plan a trip", "model": THINKER, "reasoning": "low"},
            {"id": "not-asked", "prompt": "plan a trip", "model": THINKER},
        ],
    )
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    out = {row["id"]: row for row in rows(workdir / "out.jsonl")}
    asked = out["asked"]
    assert asked["text"] == "plan a trip"
    assert isinstance(asked["reasoning"], str)
    assert "plan a trip" in asked["reasoning"]
    assert asked["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert "reasoning" not in out["not-asked"]


def test_a_tool_call_line_written_without_its_calls_is_redone(
    env: LocalWorkspace, workdir: Path
) -> None:
    write_lines(
        workdir / "in.jsonl",
        [
            {"id": "call", "prompt": "find ticket 42", "tools": TOOLS},
            {"id": "plain", "prompt": "just text"},
        ],
    )
    older = [  # what an older version wrote: the text of a tool-call answer, no calls
        {"id": "call", "text": "", "finish_reason": "tool_calls", "usage": {}, "backend": "rest"},
        {"id": "plain", "text": "just text", "finish_reason": "stop", "usage": {}},
    ]
    write_lines(workdir / "out.jsonl", older)
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    assert "done 1, failed 0, skipped 1" in result.stderr
    out = {row["id"]: row for row in rows(workdir / "out.jsonl")}
    assert len(rows(workdir / "out.jsonl")) == 2
    assert out["call"]["tool_calls"][0]["function"]["name"] == "lookup"
    assert out["plain"] == older[1]
    assert calls(env) == 1


# -- any text ------------------------------------------------------------------------------


@pytest.fixture
def surrogate_server(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> Iterator[RawServer]:
    """A server whose every answer holds a lone surrogate (JSON allows its escape)."""
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "broken \ud83d emoji"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5},
    }
    wire = json.dumps(body).encode()
    assert b"\\ud83d" in wire
    answer = http_answer("200 OK", {"Content-Type": "application/json"}, wire)
    with RawServer(mode="canned", canned=answer) as server:
        monkeypatch.setenv("DATABRICKS_HOST", server.url)
        monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-surrogate-test")
        yield server


def test_an_answer_with_a_lone_surrogate_is_written(
    surrogate_server: RawServer, workdir: Path
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 3)
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL, "-b", "rest", "-c", "1")
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    assert "done 3, failed 0" in result.stderr
    out = rows(workdir / "out.jsonl")
    assert [row["id"] for row in out] == ids
    assert {row["text"] for row in out} == {"broken \ud83d emoji"}
    (workdir / "out.jsonl").read_bytes().decode("utf-8")  # the file is UTF-8
    again = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL, "-b", "rest")
    assert again.exit_code == 0, f"{again.output}{again.exception!r}"
    assert "done 0, failed 0, skipped 3" in again.stderr


def test_an_id_with_a_lone_surrogate_is_written_and_resumed(
    env: LocalWorkspace, workdir: Path
) -> None:
    ids = ["before", "odd \udc80 id", "after"]
    write_lines(workdir / "in.jsonl", [{"id": i, "prompt": f"ticket {i[:3]}"} for i in ids])
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    assert [row["id"] for row in rows(workdir / "out.jsonl")] == ids
    again = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert again.exit_code == 0, f"{again.output}{again.exception!r}"
    assert "done 0, failed 0, skipped 3" in again.stderr
    assert calls(env) == 3


# -- folders and disks ---------------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing folder", "a file for a folder"])
def test_an_output_folder_that_cannot_hold_it_is_one_line(
    env: LocalWorkspace, workdir: Path, where: str
) -> None:
    write_inputs(workdir / "in.jsonl", 3)
    if where == "a file for a folder":
        (workdir / "nowhere").write_text("a file, not a folder\n")
    result = run("in.jsonl", "-o", "nowhere/out.jsonl", "-m", MODEL)
    assert result.exit_code == 2, f"{result.output}{result.exception!r}"
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: nowhere/out.jsonl: cannot open the output file: ")
    assert env.requests == []
    assert leftovers(workdir) == []


def run_limited(
    ws: LocalWorkspace, workdir: Path, limit: int, *args: str
) -> subprocess.CompletedProcess[str]:
    """`chatport batch ARGS` with files limited to ``limit`` bytes."""
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(limit), "batch", *args],
        cwd=workdir,
        env=subprocess_env(ws),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_a_full_disk_mid_run_is_one_line_and_the_rerun_resumes(
    workspace: LocalWorkspace, workdir: Path
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 30)
    command = ("in.jsonl", "-o", "out.jsonl", "-m", MODEL, "-c", "2")
    full = run_limited(workspace, workdir, 1000, *command)
    assert full.returncode == 2, full.stderr
    (line,) = full.stderr.splitlines()
    assert line.startswith("error: out.jsonl: cannot write the output file: File too large")
    written = (workdir / "out.jsonl").read_bytes()
    assert 0 < len(written) <= 1000
    assert written.endswith(b"\n")  # whole lines only: the one that did not fit is cut off
    kept = rows(workdir / "out.jsonl")
    assert 0 < len(kept) < 30
    assert leftovers(workdir) == []
    again = subprocess.run(
        [CHATPORT, "batch", *command],
        cwd=workdir,
        env=subprocess_env(workspace),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert f"skipped {len(kept)} already done" in again.stderr
    counts = Counter(row["id"] for row in rows(workdir / "out.jsonl"))
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}


def test_a_full_disk_during_a_resume_rewrite_leaves_the_output_and_no_temporary_file(
    workspace: LocalWorkspace, workdir: Path
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 30)
    done = [{"id": i, "text": f"ticket {i}", "finish_reason": "stop"} for i in ids[:20]]
    write_lines(workdir / "out.jsonl", done)
    with (workdir / "out.jsonl").open("a") as handle:
        handle.write('{"id": "t20", "te')  # a torn last line: the file is rewritten
    before = (workdir / "out.jsonl").read_bytes()
    assert len(before) > 600
    full = run_limited(workspace, workdir, 600, "in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert full.returncode == 2, full.stderr
    (line,) = full.stderr.splitlines()
    assert line.startswith("error: out.jsonl: cannot rewrite the output file")
    assert "File too large" in line
    assert (workdir / "out.jsonl").read_bytes() == before
    assert leftovers(workdir) == []
    assert calls(workspace) == 0


# -- file modes ----------------------------------------------------------------------------


def test_a_new_output_is_created_private(
    env: LocalWorkspace, workdir: Path, umask_022: None
) -> None:
    write_inputs(workdir / "in.jsonl", 2)
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    assert mode(workdir / "out.jsonl") == 0o600


@pytest.mark.parametrize("kept", [0o600, 0o640])
def test_a_resume_rewrite_keeps_the_mode_of_the_output(
    env: LocalWorkspace, workdir: Path, umask_022: None, kept: int
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 3)
    failed = {"id": "t1", "error": {"type": "ServerError", "message": "down"}}
    write_lines(workdir / "out.jsonl", [{"id": "t0", "text": "ticket t0"}, failed])
    (workdir / "out.jsonl").chmod(kept)
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL, "--retry-failed")
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    assert "done 2, failed 0, skipped 1" in result.stderr
    assert [row["id"] for row in rows(workdir / "out.jsonl")] == ids
    assert mode(workdir / "out.jsonl") == kept
    assert leftovers(workdir) == []


def test_a_resume_rewrite_through_a_symlink_keeps_the_link(
    env: LocalWorkspace, workdir: Path
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 3)
    (workdir / "out.jsonl").write_text(json.dumps({"id": "t0", "text": "x"}) + '\n{"id": "t1"')
    (workdir / "link.jsonl").symlink_to("out.jsonl")
    result = run("in.jsonl", "-o", "link.jsonl", "-m", MODEL)
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    assert (workdir / "link.jsonl").is_symlink()
    assert [row["id"] for row in rows(workdir / "out.jsonl")] == ids


# -- nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [101, 100_000])
def test_a_deeply_nested_input_line_is_refused_by_number(
    env: LocalWorkspace, workdir: Path, depth: int
) -> None:
    deep = '{"id": 2, "messages": ' + "[" * depth + "]" * depth + "}"
    (workdir / "in.jsonl").write_text('{"id": 1, "prompt": "fine"}\n' + deep + "\n")
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 2, f"{result.output}{result.exception!r}"
    assert "line 2: nested more than 100 levels deep" in result.stderr
    assert "Traceback" not in result.output
    assert env.requests == []
    assert not (workdir / "out.jsonl").exists()


def test_a_deeply_nested_output_line_refuses_the_resume(env: LocalWorkspace, workdir: Path) -> None:
    write_inputs(workdir / "in.jsonl", 3)
    content = json.dumps({"id": "t0", "text": "x"}) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n"
    (workdir / "out.jsonl").write_text(content)
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 2, f"{result.output}{result.exception!r}"
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: out.jsonl: line 2 is not a chatport result line (nested")
    assert (workdir / "out.jsonl").read_text() == content
    assert env.requests == []


def test_a_line_the_request_checks_refuse_is_named_before_anything_is_sent(
    env: LocalWorkspace, workdir: Path
) -> None:
    write_lines(
        workdir / "in.jsonl",
        [{"id": 1, "prompt": "fine"}, {"id": 2, "prompt": "hot", "temperature": "very"}],
    )
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 2, f"{result.output}{result.exception!r}"
    assert result.stderr.startswith("error: in.jsonl: 1 bad input line(s):\n  line 2: ")
    assert "temperature" in result.stderr
    assert env.requests == []


# -- two runs at once ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [((), ()), (("--retry-failed",), ("--retry-failed",)), (("--retry-failed",), ())],
    ids=["fresh-fresh", "rewrite-rewrite", "rewrite-fresh"],
)
def test_two_runs_started_together_never_both_write(
    workspace: LocalWorkspace, workdir: Path, flags: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 20)
    if any(flags):  # an earlier run failed half the lines: a retry rewrites the file
        error = {"type": "ServerError", "message": "down"}
        write_lines(workdir / "out.jsonl", [{"id": i, "error": error} for i in ids[:10]])
    workspace.set_faults(MODEL, Fault.slow(0.5))  # whichever run wins, it works for seconds
    command = [CHATPORT, "batch", "in.jsonl", "-o", "out.jsonl", "-m", MODEL, "-c", "2"]
    runs = [
        subprocess.Popen(
            [*command, *extra],
            cwd=workdir,
            env=subprocess_env(workspace),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra in flags
    ]
    try:
        errors = [process.communicate(timeout=90)[1] for process in runs]
    finally:
        workspace.set_faults(MODEL)
        for process in runs:
            if process.poll() is None:
                process.kill()
                process.wait()
    codes = [process.returncode for process in runs]
    assert sorted(codes) == [0, 2], errors
    winner, loser = (errors[0], errors[1]) if codes[0] == 0 else (errors[1], errors[0])
    (refused,) = loser.splitlines()
    assert refused == (
        "error: out.jsonl: another `chatport batch` is writing to this output file; wait "
        "for it to end (or stop it), then run again to resume"
    )
    out = rows(workdir / "out.jsonl")
    assert Counter(row["id"] for row in out) == Counter(ids)  # every id once, none twice
    done = int(winner.split("chatport: done ")[1].split(",")[0])
    assert done == calls(workspace)  # the refused run sent nothing
    assert sum("text" in row for row in out) == done  # what the winner did is all there
