"""`chatport batch` cannot corrupt its output: refused outputs, a lock, typed ids, progress."""

from __future__ import annotations

import json
import os
import pty
import select
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
MODEL = "files-model"
#: Runs chatport's command line with tqdm made unimportable, as in `pip install .`.
WITHOUT_TQDM = "import sys; sys.modules['tqdm'] = None; from chatport.cli import main; main()"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The testing kit's module workspace, serving the echo endpoint these tests call."""
    return {"endpoints": [Endpoint(MODEL, "echo")]}


@pytest.fixture
def env(module_workspace: LocalWorkspace, workdir: Path) -> LocalWorkspace:
    """The module workspace, in the environment, faults and request log cleared."""
    return module_workspace


@pytest.fixture
def workspace(module_workspace_server: LocalWorkspace) -> LocalWorkspace:
    """The module workspace, out of the environment (subprocesses get it explicitly)."""
    return module_workspace_server


def write_inputs(path: Path, count: int) -> list[str]:
    ids = [f"t{i}" for i in range(count)]
    path.write_text("".join(json.dumps({"id": i, "prompt": f"ticket {i}"}) + "\n" for i in ids))
    return ids


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["batch", *args])


def calls(ws: LocalWorkspace) -> int:
    """The inference calls the workspace received."""
    return sum(1 for r in ws.requests if r.method == "POST" and r.path.endswith("/invocations"))


def subprocess_env(ws: LocalWorkspace) -> dict[str, str]:
    return {**os.environ, **ws.environ(), "CHATPORT_DISABLE_PLUGINS": "1"}


def wait_for(condition: Any, what: str, limit: float = 60) -> None:
    """Poll until ``condition()`` holds (a bound against hanging, not a timing check)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


# -- an output that is the input, or that is not an output --------------------------------


@pytest.mark.parametrize("spelling", ["same path", "another path", "symlink", "hard link"])
def test_an_output_that_is_the_input_is_refused_before_anything_is_sent(
    env: LocalWorkspace, workdir: Path, spelling: str
) -> None:
    write_inputs(workdir / "in.jsonl", 40)
    before = (workdir / "in.jsonl").read_bytes()
    (workdir / "sub").mkdir()
    output = {
        "same path": "in.jsonl",
        "another path": str(workdir / "sub" / ".." / "in.jsonl"),
        "symlink": "link.jsonl",
        "hard link": "hard.jsonl",
    }[spelling]
    if spelling == "symlink":
        (workdir / "link.jsonl").symlink_to(workdir / "in.jsonl")
    if spelling == "hard link":
        os.link(workdir / "in.jsonl", workdir / "hard.jsonl")
    result = run("in.jsonl", "-o", output, "-m", MODEL)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {output}: the output file is the input file")
    assert "skipped" not in result.stderr
    assert (workdir / "in.jsonl").read_bytes() == before
    assert env.requests == []


RESULT = json.dumps({"id": "t0", "text": "ticket t0", "finish_reason": "stop"}) + "\n"


@pytest.mark.parametrize(
    ("content", "line", "hint"),
    [
        ('{"id": "t0", "prompt": "ticket t0"}\n', 1, "it looks like an input line"),
        (RESULT + '{"id": "t1", "messages": []}\n', 2, "it looks like an input line"),
        (RESULT + "[1, 2, 3]\n", 2, ""),
        (RESULT + '{"id": "t1", "score": 0.5}\n', 2, ""),
        (RESULT + '{"id": true, "text": "a bool is no id"}\n', 2, ""),
        ("some notes\n" + RESULT, 1, ""),
        (RESULT + "notes with no newline at the end", 2, ""),
    ],
    ids=["input", "input-later", "array", "other-object", "bool-id", "text", "torn-foreign"],
)
def test_an_output_with_lines_of_another_shape_is_refused(
    env: LocalWorkspace, workdir: Path, content: str, line: int, hint: str
) -> None:
    write_inputs(workdir / "in.jsonl", 5)
    (workdir / "out.jsonl").write_text(content)
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 2, result.output
    assert f"error: out.jsonl: line {line} is not a chatport result line" in result.stderr
    assert hint in result.stderr
    assert (workdir / "out.jsonl").read_text() == content
    assert env.requests == []


def test_failed_lines_and_blank_lines_are_results_to_resume(
    env: LocalWorkspace, workdir: Path
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 4)
    failed = {"id": "t1", "error": {"type": "ServerError", "message": "down"}, "backend": "rest"}
    (workdir / "out.jsonl").write_text(RESULT + "\n" + json.dumps(failed) + "\n" + '{"id": "t2", ')
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL, "--retry-failed")
    assert result.exit_code == 0, result.output
    assert "done 3, failed 0, skipped 1" in result.stderr
    out = rows(workdir / "out.jsonl")
    assert sorted(row["id"] for row in out) == ids
    assert all("text" in row for row in out)
    assert calls(env) == 3


# -- one writer at a time ------------------------------------------------------------------


@pytest.mark.parametrize("first_run", ["fresh", "retry-failed rewrite"])
def test_a_second_run_on_the_same_output_is_refused_while_the_first_runs(
    workspace: LocalWorkspace, workdir: Path, first_run: str
) -> None:
    ids = write_inputs(workdir / "in.jsonl", 40)
    (workdir / "link.jsonl").symlink_to("out.jsonl")
    command = [CHATPORT, "batch", "in.jsonl", "-m", MODEL, "-c", "1"]
    if first_run == "retry-failed rewrite":  # the first run replaces the file, then writes
        error = {"type": "ServerError", "message": "down"}
        (workdir / "out.jsonl").write_text(
            "".join(json.dumps({"id": i, "error": error}) + "\n" for i in ids)
        )
    workspace.clear_requests()
    workspace.set_faults(MODEL, Fault.slow(1.0))  # 40 s unless cleared: the first is busy
    environment = subprocess_env(workspace)
    first = subprocess.Popen(
        [*command, "-o", "out.jsonl", *(["--retry-failed"] if "retry" in first_run else [])],
        cwd=workdir,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: calls(workspace) >= 1, "the first run sends")
        seconds = [
            subprocess.run(
                [*command, "-o", output],
                cwd=workdir,
                env=environment,
                capture_output=True,
                text=True,
                timeout=60,
            )
            for output in ("out.jsonl", "link.jsonl")
        ]
        workspace.set_faults(MODEL)  # let the first run finish quickly
        _, first_err = first.communicate(timeout=90)
    finally:
        workspace.set_faults(MODEL)
        if first.poll() is None:
            first.kill()
            first.wait()
    for second, output in zip(seconds, ("out.jsonl", "link.jsonl"), strict=True):
        assert second.returncode == 2, second.stderr
        assert second.stderr.startswith(
            f"error: {output}: another `chatport batch` is writing to this output file"
        )
        assert len(second.stderr.splitlines()) == 1
    assert first.returncode == 0, first_err
    assert "done 40, failed 0" in first_err
    out = rows(workdir / "out.jsonl")
    assert [row["id"] for row in out] == ids  # one line per id, none twice
    assert all("text" in row for row in out)
    assert calls(workspace) == 40  # the refused runs sent nothing


def test_a_killed_run_leaves_no_lock_behind(workspace: LocalWorkspace, workdir: Path) -> None:
    ids = write_inputs(workdir / "in.jsonl", 40)
    workspace.clear_requests()
    workspace.set_faults(MODEL, Fault.slow(1.0))
    environment = subprocess_env(workspace)
    command = [CHATPORT, "batch", "in.jsonl", "-o", "out.jsonl", "-m", MODEL, "-c", "1"]
    first = subprocess.Popen(
        command, cwd=workdir, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: calls(workspace) >= 1, "the first run sends")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        workspace.set_faults(MODEL)
    again = subprocess.run(
        command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=90
    )
    assert again.returncode == 0, again.stderr
    counts = Counter(row["id"] for row in rows(workdir / "out.jsonl"))
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}


# -- ids keep their JSON type --------------------------------------------------------------


def test_ids_keep_their_json_type_and_1_is_not_the_string_1(
    env: LocalWorkspace, workdir: Path
) -> None:
    inputs = [
        {"id": 1, "prompt": "the integer one"},
        {"id": "1", "prompt": "the string one"},
        {"id": 2, "prompt": "the integer two"},
        {"id": "two", "prompt": "a name"},
    ]
    (workdir / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in inputs))
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, result.output
    assert "done 4, failed 0, skipped 0" in result.stderr
    out = rows(workdir / "out.jsonl")
    assert [(type(row["id"]), row["id"], row["text"]) for row in out] == [
        (int, 1, "the integer one"),
        (str, "1", "the string one"),
        (int, 2, "the integer two"),
        (str, "two", "a name"),
    ]
    # resuming tells them apart too: without the line of "1", only "1" is redone
    kept = (workdir / "out.jsonl").read_text().splitlines(keepends=True)
    (workdir / "out.jsonl").write_text("".join(kept[:1] + kept[2:]))
    env.clear_requests()
    again = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert again.exit_code == 0, again.output
    assert "done 1, failed 0, skipped 3" in again.stderr
    (redone,) = [r.body for r in env.requests if r.method == "POST"]
    assert "the string one" in json.dumps(redone)
    shown = Counter(json.dumps(row["id"]) for row in rows(workdir / "out.jsonl"))
    assert shown == Counter(["1", '"1"', "2", '"two"'])


def test_an_integer_id_is_not_done_by_a_string_result(env: LocalWorkspace, workdir: Path) -> None:
    (workdir / "in.jsonl").write_text('{"id": 7, "prompt": "seven"}\n')
    (workdir / "out.jsonl").write_text(json.dumps({"id": "7", "text": "not this one"}) + "\n")
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 0, result.output
    assert "done 1, failed 0, skipped 0" in result.stderr
    assert [row["id"] for row in rows(workdir / "out.jsonl")] == ["7", 7]


def test_1_and_the_string_1_are_not_duplicates_but_1_twice_is(
    env: LocalWorkspace, workdir: Path
) -> None:
    (workdir / "in.jsonl").write_text(
        '{"id": 1, "prompt": "a"}\n{"id": "1", "prompt": "b"}\n{"id": 1, "prompt": "c"}\n'
    )
    result = run("in.jsonl", "-o", "out.jsonl", "-m", MODEL)
    assert result.exit_code == 2
    assert "1 bad input line(s)" in result.stderr
    assert "line 3: duplicate id '1' (first on line 1)" in result.stderr
    assert env.requests == []


# -- progress without tqdm -----------------------------------------------------------------


def run_python(source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=60, check=False
    )


MAP_WITHOUT_TQDM = """
import sys
sys.modules["tqdm"] = None  # as with `pip install .`: the progress extra is missing
import chatport
client = chatport.Client(backend="fake", model="m", config={{}}, max_retries=0)
client.backend().enqueue("one two", chatport.ServerError("down", status_code=500), "three")
results = list(client.map(["a", "b", "c"], concurrency=1, progress={progress}))
print(sum(r.completion.usage.total_tokens for r in results if r.ok))
"""


def test_forced_progress_without_tqdm_prints_a_plain_line() -> None:
    done = run_python(MAP_WITHOUT_TQDM.format(progress=True))
    assert done.returncode == 0, done.stderr
    tokens = int(done.stdout)
    assert tokens > 0
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"chatport: 3 requests (1 failed), {tokens} tokens, ")
    assert last.endswith(" requests/s")


def test_default_progress_off_a_terminal_prints_nothing() -> None:
    done = run_python(MAP_WITHOUT_TQDM.format(progress=None))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_batch_on_a_terminal_without_tqdm_shows_progress(
    workspace: LocalWorkspace, workdir: Path
) -> None:
    write_inputs(workdir / "in.jsonl", 5)
    workspace.set_faults(MODEL)
    leader, follower = pty.openpty()  # standard error is a terminal, as for a user
    try:
        command = ["batch", "in.jsonl", "-o", "out.jsonl", "-m", MODEL]
        process = subprocess.Popen(
            [sys.executable, "-c", WITHOUT_TQDM, *command],
            cwd=workdir,
            env=subprocess_env(workspace),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        follower = -1
        shown = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            readable, _, _ = select.select([leader], [], [], 1)
            if not readable:
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the process ended and closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=30) == 0, shown
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    text = shown.decode()
    assert "\rchatport: 5 requests (0 failed), 20 tokens, " in text
    assert "chatport: done 5, failed 0, skipped 0" in text
    assert len(rows(workdir / "out.jsonl")) == 5
