"""The executable-docs harness (the repository's conftest.py) catches what it promises to."""

from __future__ import annotations

import importlib.util
import unittest
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sybil import Document

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def harness() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("docs_harness", ROOT / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    module.pytest_sessionfinish()


def run_page(harness: ModuleType, tmp_path: Path, text: str) -> list[object]:
    """Evaluate every example of a page; the outcome of each (None, or what it raised)."""
    page = tmp_path / "page.md"
    page.write_text(text)
    document = Document.parse(str(page), *harness.DOCS.parsers)
    harness._setup(document.namespace)
    outcomes: list[object] = []
    try:
        for example in document.examples():
            try:
                outcomes.append(example.evaluate())
            except (Exception, unittest.SkipTest) as exc:
                outcomes.append(exc)
    finally:
        harness._teardown(document.namespace)
    return outcomes


FENCE = "```"


def test_each_block_needs_its_own_imports(harness: ModuleType, tmp_path: Path) -> None:
    first, second = run_page(
        harness,
        tmp_path,
        f"{FENCE}python\nimport chatport\n\nprint(chatport.__name__)\n{FENCE}\n\n"
        f"{FENCE}python\nprint(chatport.__name__)\n{FENCE}\n",
    )
    assert first is None
    assert isinstance(second, NameError)  # an import deleted from a block fails it


def test_an_unused_import_fails(harness: ModuleType, tmp_path: Path) -> None:
    (outcome,) = run_page(harness, tmp_path, f"{FENCE}python\nimport json\n\nx = 1\n{FENCE}\n")
    assert isinstance(outcome, AssertionError)
    assert "imported and not used: ['json']" in str(outcome)


def test_output_is_checked_and_skips_carry_their_reason(
    harness: ModuleType, tmp_path: Path
) -> None:
    outcomes = run_page(
        harness,
        tmp_path,
        f'{FENCE}python\nprint("hello")\n{FENCE}\n\n<!-- output -->\n{FENCE}text\nhello\n{FENCE}\n\n'
        f'{FENCE}python\nprint("hello")\n{FENCE}\n\n<!-- output -->\n{FENCE}text\nbye\n{FENCE}\n\n'
        f'<!-- skip: next "needs a cluster" -->\n{FENCE}bash\nfalse\n{FENCE}\n\n'
        f"{FENCE}bash\nfalse\n{FENCE}\n\n"
        f"<!-- not run: installs a package -->\n{FENCE}bash\npip install nothing-here\n{FENCE}\n",
    )
    assert outcomes[:3] == [None, None, None]
    assert "expected output:\nbye" in str(outcomes[3])
    assert outcomes[4] is None  # the skip directive itself
    assert isinstance(outcomes[5], unittest.SkipTest)
    assert str(outcomes[5]) == "needs a cluster"
    assert isinstance(outcomes[6], AssertionError)  # a failing shell command fails
    assert isinstance(outcomes[7], unittest.SkipTest)
    assert str(outcomes[7]) == "installs a package"


def test_pages_run_against_the_local_workspace(harness: ModuleType, tmp_path: Path) -> None:
    (outcome,) = run_page(
        harness,
        tmp_path,
        f'{FENCE}python\nimport chatport\n\nassert chatport.complete("hi", backend="rest").text == "hi"\n{FENCE}\n',
    )
    assert outcome is None
