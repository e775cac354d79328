"""The sides ``bench.py`` compares, each measured by its own ``bench_worker.py`` process.

A side is a chatport source folder put first on ``PYTHONPATH``: the working tree's
``src``, or with ``--before REF`` the ``src`` of a temporary git worktree of that ref. The
virtual environment (and its dependencies) is the same for both, so only chatport's own
code differs. Entry-point plugins installed in the environment belong to the working
tree, so ``bench.py`` disables them on both sides unless asked otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("bench_worker.py")


@dataclass(frozen=True)
class Side:
    """One chatport under measurement: a name, its ``src`` folder and its environment."""

    name: str
    src: Path
    label: str

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with this side's ``src`` first on ``PYTHONPATH``.

        Bytecode is written and read as an installed package has it: a first run writes
        the ``.pyc`` files even where ``PYTHONDONTWRITEBYTECODE`` is set (as on CI).
        """
        env = {k: v for k, v in base.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
        env["PYTHONPATH"] = str(self.src)
        return env


def git(*args: str) -> str:
    """A git command's output in the repository (read-only commands and worktrees only)."""
    result = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def describe_tree() -> str:
    """The working tree: its HEAD commit and how many files under src/ differ from it."""
    try:
        head = git("rev-parse", "--short", "HEAD")
        status = git("status", "--porcelain", "--", "src")
    except (OSError, subprocess.CalledProcessError):  # no git, or not a checkout
        return "working tree"
    changed = [line for line in status.splitlines() if line]
    edits = f" + {len(changed)} changed files in src/" if changed else ""
    return f"working tree at {head}{edits}"


def tree_state() -> str:
    """A fingerprint of the working tree's src/ (HEAD, the diff, untracked files)."""
    import hashlib

    try:
        parts = [
            git("rev-parse", "HEAD"),
            git("diff", "HEAD", "--", "src"),
            git("ls-files", "--others", "--exclude-standard", "--", "src"),
        ]
    except (OSError, subprocess.CalledProcessError):  # no git: no fingerprint to compare
        return ""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@contextmanager
def worktree(ref: str) -> Iterator[tuple[Path, str]]:
    """A detached git worktree of ``ref`` in a temporary folder, removed afterwards."""
    commit = git("rev-parse", "--short", f"{ref}^{{commit}}")
    folder = Path(tempfile.mkdtemp(prefix="chatport-bench-"))
    tree = folder / "tree"
    git("worktree", "add", "--detach", "--quiet", str(tree), commit)
    try:
        yield tree, commit
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


def capture_bodies(side: Side, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """The request bodies this side's chatport sends for each shape (``bench_worker capture``)."""
    result = subprocess.run(
        [sys.executable, str(WORKER), "capture"],
        env=side.environ(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.exit(f"{side.name}: capturing the request bodies failed:\n{result.stderr}")
    bodies: dict[str, Any] = json.loads(result.stdout)
    return bodies


class Worker:
    """A side's ``bench_worker.py`` process, answering one command at a time."""

    def __init__(self, side: Side, env: dict[str, str], cwd: Path) -> None:
        self.side = side
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            env=side.environ(env),
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self.ask("hello")
        where = Path(hello["file"]).resolve()
        if not where.is_relative_to(side.src.resolve()):
            self.close()
            sys.exit(f"{side.name}: chatport was imported from {where}, not from {side.src}")
        self.version: str = hello["version"]

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one command and wait for its answer."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"{self.side.name}: the worker ended (exit code {self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            sys.exit(f"{self.side.name}: {op} failed: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Worker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def base_environment(url: str, token: str, plugins: bool) -> dict[str, str]:
    """The environment every side runs in: the shared local workspace, plugins off."""
    env = dict(os.environ)
    env.update({"DATABRICKS_HOST": url, "DATABRICKS_TOKEN": token})
    for name in ("CHATPORT_CONFIG", "CHATPORT_BACKEND", "CHATPORT_MODEL", "CHATPORT_PROFILE"):
        env.pop(name, None)  # the built-in defaults: backend rest
    env.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # raw mlflow: no retries
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm: no network at import
    if not plugins:  # chatport itself, not whatever plugins this venv happens to hold
        env["CHATPORT_DISABLE_PLUGINS"] = "1"
    return env
