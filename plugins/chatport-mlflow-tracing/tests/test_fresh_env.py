"""The README's path, in a fresh environment with only what the plugin declares.

A new virtual environment gets chatport and ``chatport-mlflow-tracing[local]`` from this
checkout (their dependencies from the package index, through uv's cache), and nothing
of the development set. ``chatport ask`` with the plugin enabled and the README's local
store, ``MLFLOW_TRACKING_URI=sqlite:///mlflow.db``, must leave a trace there that
MLflow reads back, and print no MLflow or plugin error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatport.local import LocalWorkspace

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = ROOT / "plugins" / "chatport-mlflow-tracing"

pytestmark = pytest.mark.fresh_env

#: MLflow fetches a model price list from the internet for trace costs; not here
QUIET_MLFLOW = {"MLFLOW_MODEL_CATALOG_URI": ""}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new environment: chatport and the plugin with its ``local`` extra, nothing else."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [*uv, "pip", "install", "--quiet", "--python", str(python), str(ROOT), f"{PLUGIN}[local]"],
        check=True,
        timeout=600,
    )
    return venv


def _user_environment(home: Path) -> dict[str, str]:
    """A user's shell: a PATH, a HOME and the README's store; nothing the test run set
    (an ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` would send MLflow's traces elsewhere)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "MLFLOW_TRACKING_URI": "sqlite:///mlflow.db",
        **QUIET_MLFLOW,
    }


def test_chatport_ask_leaves_a_trace_in_the_readme_store(fresh: Path, tmp_path: Path) -> None:
    (tmp_path / "chatport.toml").write_text("[plugins.mlflow-tracing]\nenabled = true\n")
    env = _user_environment(tmp_path)
    with LocalWorkspace() as workspace:
        env.update(workspace.environ())
        asked = subprocess.run(
            [str(fresh / "bin" / "chatport"), "ask", "-m", "databricks-gpt-5", "traced question"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout == "traced question\n"
    assert "chatport-mlflow-tracing" not in asked.stderr  # no warning, no error
    assert "Traceback" not in asked.stderr
    read = subprocess.run(
        [
            str(fresh / "bin" / "python"),
            "-c",
            "import json, mlflow\n"
            "traces = mlflow.search_traces(return_type='list')\n"
            "print(json.dumps([[s.name for s in t.data.spans] for t in traces]))",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert read.returncode == 0, read.stderr
    traces = json.loads(read.stdout.strip().splitlines()[-1])
    assert traces == [["chatport rest", "attempt 1"]], asked.stderr


def test_a_store_that_cannot_record_is_named_once_with_its_fix(fresh: Path, tmp_path: Path) -> None:
    """The same environment without SQLAlchemy: the plugin says so, once, naming the extra."""
    (tmp_path / "chatport.toml").write_text("[plugins.mlflow-tracing]\nenabled = true\n")
    env = _user_environment(tmp_path)
    # sqlalchemy hidden from this one process, as in an install without the extra
    script = (
        "import sys; sys.modules['sqlalchemy'] = None\n"
        "from chatport.cli import main\n"
        "sys.argv = ['chatport', 'ask', '-m', 'databricks-gpt-5', 'one', ]\n"
        "main()\n"
    )
    with LocalWorkspace() as workspace:
        env.update(workspace.environ())
        asked = subprocess.run(
            [str(fresh / "bin" / "python"), "-c", script],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert asked.returncode == 0, asked.stderr
    warnings = [line for line in asked.stderr.splitlines() if "chatport-mlflow-tracing" in line]
    assert warnings == [
        "chatport-mlflow-tracing: MLflow cannot record traces in sqlite:///mlflow.db: a SQLite "
        "store needs SQLAlchemy: install the plugin's 'local' extra (pip install "
        "'./plugins/chatport-mlflow-tracing[local]' in a chatport checkout)"
    ]
