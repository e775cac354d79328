"""The curated public surface, and an import that pulls in no SDK."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


def _fresh(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def test_import_chatport_loads_names_on_first_use() -> None:
    """``import chatport`` runs only the package file; a name loads the part it needs."""
    loaded = "sorted(m for m in sys.modules if m.startswith('chatport'))"
    out = _fresh(f"import chatport, sys; print({loaded}); chatport.Message; print({loaded})")
    before, after = out.splitlines()
    assert before == "['chatport']"
    assert "'chatport._types'" in after
    assert "'chatport._client'" not in after
    # beyond what the interpreter had already loaded, the import adds chatport alone
    added = _fresh(
        "import sys; bare = set(sys.modules); import chatport; "
        "print(sorted(set(sys.modules) - bare))"
    )
    assert added == "['chatport']"


def test_every_public_name_is_the_object_its_module_defines() -> None:
    for name in chatport.__all__:
        if name == "__version__":
            continue
        module = importlib.import_module(chatport._EXPORTS[name], "chatport")
        assert getattr(chatport, name) is getattr(module, name), name
    assert set(chatport.__all__) <= set(dir(chatport))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'complet'"):
        _ = chatport.complet  # type: ignore[attr-defined]
    assert not hasattr(chatport, "_api_")
    assert not hasattr(chatport, "Messages")


def test_the_version_is_the_one_pyproject_declares() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    assert chatport.__version__ == declared
    builtin = [info for info in chatport._plugins.plugin_infos() if info.builtin]
    assert builtin  # the built-in backends are plugins chatport itself provides
    assert {(info.package, info.version) for info in builtin} == {("chatport", declared)}


def test_the_governance_errors_are_public() -> None:
    """Issue 22's names, fixed in the public contract."""
    assert issubclass(chatport.GuardrailError, chatport.BadRequestError)
    assert issubclass(chatport.BudgetExceededError, chatport.PermissionDeniedError)
    assert chatport.RateLimitError("x").limit is None
    assert {"GuardrailError", "BudgetExceededError"} <= set(chatport.__all__)
