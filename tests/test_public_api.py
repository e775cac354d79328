"""The curated public surface, and an import that pulls in no SDK."""

from __future__ import annotations

import subprocess
import sys

import chatport


def test_all_is_sorted_and_complete() -> None:
    assert chatport.__all__ == sorted(chatport.__all__)
    for name in chatport.__all__:
        assert hasattr(chatport, name), name


def test_hookimpl_marks_for_the_chatport_project() -> None:
    assert chatport.hookimpl.project_name == "chatport"


def test_import_chatport_imports_no_sdk() -> None:
    code = (
        "import chatport, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'openai','mlflow','databricks'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_import_chatport_loads_no_plugins() -> None:
    code = "import chatport, chatport._plugins as p, sys; print(p._manager is None, 'pluggy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split()[0] == "True"
