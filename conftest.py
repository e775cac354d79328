"""Executable documentation, and the fixtures every test in the repository shares.

The fenced examples of README.md and docs/ run under pytest.

Collected by Sybil (https://sybil.readthedocs.io) when pytest walks README.md and docs/
(``testpaths`` in pyproject.toml), so ``python -m pytest`` runs them. How a page is written:

- A ```python block runs in a fresh namespace, so it imports what it uses; every import
  must be used (deleting one fails the test). A block that defines ``test_*`` functions is
  a user's test file: it is written out and run with pytest in a subprocess.
- A ```bash (or ```sh / ```shell) block runs line by line with ``bash``; each command
  must exit 0. Comment lines are left out.
- A ```toml block must parse.
- ``<!-- write: NAME -->`` before a fenced block writes it to NAME in the page's working
  directory instead of running it (a config file the next block uses).
- ``<!-- output -->`` before a fenced block: it is what the previous block printed on
  standard output (``...`` matches anything, whitespace runs are equal).
- ``<!-- skip: next "why" -->`` (or ``<!-- not run: why -->``) before a block that cannot
  run here; say why (the reason shows in pytest's summary).
- ``<!-- invisible-code-block: python ... -->`` runs hidden setup (a file a command reads).

Each page runs in its own empty working directory and HOME, with ``DATABRICKS_HOST`` and
``DATABRICKS_TOKEN`` pointing at one local workspace (``chatport.local.LocalWorkspace``)
shared by every page, and no ``CHATPORT_*`` variables.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.parsers.markdown import CodeBlockParser, SkipParser

from chatport import _plugins

ROOT = Path(__file__).resolve().parent
_CLEARED = (
    "CHATPORT_BACKEND",
    "CHATPORT_MODEL",
    "CHATPORT_PROFILE",
    "CHATPORT_CONFIG",
    "CHATPORT_DISABLE_PLUGINS",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
)
_STDOUT = "__stdout__"
_CWD = "__cwd__"
_SAVED_ENV = "__saved_env__"
_LOGGING = "__logging__"
_workspace: Any = None

#: Pages not run yet, with the reason. Delete the entry when the page follows the rules.
PENDING: dict[str, str] = {}


def _shared_workspace() -> Any:
    """The one local workspace every page talks to, started on first use."""
    global _workspace
    if _workspace is None:
        from chatport.local import LocalWorkspace

        _workspace = LocalWorkspace().start()
    return _workspace


def pytest_sessionfinish() -> None:
    """Stop the shared workspace when the run ends."""
    global _workspace
    if _workspace is not None:
        _workspace.stop()
        _workspace = None


def _setup(namespace: dict[str, Any]) -> None:
    """A fresh working directory, HOME and environment for one page."""
    namespace[_SAVED_ENV] = dict(os.environ)
    namespace[_CWD] = cwd = tempfile.mkdtemp(prefix="chatport-doc-")
    for name in _CLEARED:
        os.environ.pop(name, None)
    home = Path(cwd) / ".home"
    home.mkdir()
    os.environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        DATABRICKS_CONFIG_FILE=str(home / ".databrickscfg"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        **_shared_workspace().environ(),
    )
    namespace[_STDOUT] = ""
    namespace[_LOGGING] = _logging_state()


def _teardown(namespace: dict[str, Any]) -> None:
    os.environ.clear()
    os.environ.update(namespace[_SAVED_ENV])
    shutil.rmtree(namespace[_CWD], ignore_errors=True)
    _restore_logging(namespace[_LOGGING])


def _logging_state() -> tuple[list[logging.Handler], dict[str, int]]:
    """The root logger's handlers and every logger's level (a page may set them, as a
    user's script does; the tests after it must not inherit that)."""
    levels = {"": logging.getLogger().level}
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            levels[name] = logger.level
    return list(logging.getLogger().handlers), levels


def _restore_logging(state: tuple[list[logging.Handler], dict[str, int]]) -> None:
    handlers, levels = state
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(levels[""])
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))


@contextlib.contextmanager
def _in_page_dir(example: Example) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(example.namespace[_CWD])
    try:
        yield
    finally:
        os.chdir(previous)


def _unused_imports(tree: ast.Module) -> list[str]:
    """Names a block imports and never uses: deleting such an import would go unnoticed."""
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                imported[bound] = alias.name
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return sorted(name for name in imported if name not in used)


def _run_python(example: Example) -> None:
    source = str(example.parsed)
    tree = ast.parse(source, example.path)
    unused = _unused_imports(tree)
    assert not unused, f"{example.path}:{example.line}: imported and not used: {unused}"
    if any(
        isinstance(node, ast.FunctionDef) and node.name.startswith("test_") for node in tree.body
    ):
        _run_as_pytest_file(example, source)
        return
    padded = "\n" * (example.line + example.parsed.line_offset) + source
    code = compile(padded, example.path, "exec", dont_inherit=True)
    out = io.StringIO()
    with _in_page_dir(example), contextlib.redirect_stdout(out):
        exec(code, {"__name__": "doc_example"})
    example.namespace[_STDOUT] = out.getvalue()


def _run_as_pytest_file(example: Example, source: str) -> None:
    """A test file from the docs runs as a user would run it: pytest in a subprocess."""
    cwd = Path(example.namespace[_CWD])
    test_file = cwd / f"test_doc_line_{example.line}.py"
    test_file.write_text(source)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", test_file],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{example.path}:{example.line}:\n{result.stdout}{result.stderr}"
    example.namespace[_STDOUT] = result.stdout


def _run_shell(example: Example) -> None:
    printed = []
    for line in str(example.parsed).splitlines():
        command = line.strip()
        if not command or command.startswith("#"):
            continue
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=example.namespace[_CWD],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (
            f"{example.path}:{example.line}: `{command}` exited {result.returncode}\n"
            f"{result.stdout}{result.stderr}"
        )
        printed.append(result.stdout)
    example.namespace[_STDOUT] = "".join(printed)


def _check_toml(example: Example) -> None:
    import tomllib

    tomllib.loads(str(example.parsed))


_FENCED_AFTER = r"[ \t]*\n(?P<fence>`{3,})[^\n]*\n(?P<body>.*?)\n(?P=fence)[ \t]*$"
_OUTPUT = re.compile(r"^<!--\s*output\s*-->" + _FENCED_AFTER, re.MULTILINE | re.DOTALL)
_WRITE = re.compile(
    r"^<!--\s*write:\s*(?P<name>[\w./-]+)\s*-->" + _FENCED_AFTER, re.MULTILINE | re.DOTALL
)
_NOT_RUN = re.compile(
    r"^<!--\s*not run:\s*(?P<reason>.*?)\s*-->" + _FENCED_AFTER, re.MULTILINE | re.DOTALL
)
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _check_output(example: Example) -> str | None:
    want = textwrap.dedent(str(example.parsed)).strip() + "\n"
    got = str(example.namespace[_STDOUT])
    if _CHECKER.check_output(want, got, _FLAGS):
        return None
    return f"expected output:\n{want}\nprinted:\n{got}"


def _write_file(example: Example) -> None:
    name, body = example.parsed
    target = Path(example.namespace[_CWD]) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body + "\n")


def _not_run_parser(document: Document) -> Iterator[Region]:
    for match in _NOT_RUN.finditer(document.text):
        yield Region(match.start(), match.end(), None, _skipper(match.group("reason")))


def _output_parser(document: Document) -> Iterator[Region]:
    for match in _OUTPUT.finditer(document.text):
        yield Region(match.start(), match.end(), match.group("body"), _check_output)


def _write_parser(document: Document) -> Iterator[Region]:
    for match in _WRITE.finditer(document.text):
        yield Region(
            match.start(), match.end(), (match.group("name"), match.group("body")), _write_file
        )


class _Unclaimed:
    """Runs ``evaluator`` on the fenced blocks of ``language`` no directive above claimed."""

    def __init__(self, language: str, evaluator: Any) -> None:
        self.parser = CodeBlockParser(language, evaluator)

    def __call__(self, document: Document) -> Iterator[Region]:
        claimed = [(m.start(), m.end()) for m in _WRITE.finditer(document.text)]
        claimed += [(m.start(), m.end()) for m in _OUTPUT.finditer(document.text)]
        claimed += [(m.start(), m.end()) for m in _NOT_RUN.finditer(document.text)]
        path = Path(document.path)
        pending = (
            PENDING.get(path.relative_to(ROOT).as_posix()) if path.is_relative_to(ROOT) else None
        )
        for region in self.parser(document):
            if not any(start <= region.start < end for start, end in claimed):
                if pending:
                    region.evaluator = _skipper(pending)
                yield region


def _skipper(reason: str) -> Any:
    def skip(example: Example) -> None:
        raise unittest.SkipTest(reason)

    return skip


DOCS = Sybil(
    parsers=[
        SkipParser(),
        _write_parser,
        _not_run_parser,
        _output_parser,
        _Unclaimed("python", _run_python),
        _Unclaimed("bash", _run_shell),
        _Unclaimed("sh", _run_shell),
        _Unclaimed("shell", _run_shell),
        _Unclaimed("toml", _check_toml),
    ],
    patterns=["README.md", "docs/*.md", "docs/*/*.md"],
    excludes=["plugins/*/README.md", "plugins/*/*.md"],
    setup=_setup,
    teardown=_teardown,
)
pytest_collect_file = DOCS.pytest()


# -- fixtures for every test in the repository (tests/ and plugins/*/tests) ----------


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's config, profile or workspace."""
    for name in (
        "CHATPORT_BACKEND",
        "CHATPORT_MODEL",
        "CHATPORT_PROFILE",
        "CHATPORT_CONFIG",
        "CHATPORT_DISABLE_PLUGINS",
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
        "DATABRICKS_CONFIG_PROFILE",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    # MLflow fetches a model price list from the internet for trace costs: never in tests
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "")
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(home / ".databrickscfg"))


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    """Rebuild the plugin manager (and re-scan entry points) for this test only."""
    _plugins._reset_for_tests()
    yield
    _plugins._reset_for_tests()
