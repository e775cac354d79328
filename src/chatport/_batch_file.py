"""``chatport batch``: a JSONL file of requests answered into a JSONL file, resumably.

Each input line is ``{"id": ..., "prompt": "..."}`` or ``{"id": ..., "messages": [...]}``
with optional call parameters (``model``, ``max_tokens``, ``temperature``, ...). Each
output line is one result, written and flushed as soon as it is known, so a crash or a
kill loses at most the line being written. A rerun skips the ids already in the output
(a torn last line is cut off and redone); ``retry_failed`` redoes the failed ones.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ._errors import ChatportError, ConfigError
from ._request import REQUEST_PARAMS
from ._types import Completion

__all__ = ["BatchFile", "BatchSummary", "InputLine", "read_inputs", "resume"]

#: Keys an input line may carry besides ``id`` and ``prompt``/``messages``.
LINE_OPTIONS = frozenset({"model", *REQUEST_PARAMS}) - {"response_format"}


@dataclass(frozen=True)
class InputLine:
    """One validated input line."""

    number: int
    id: str
    messages: Any
    options: Mapping[str, Any]


def read_inputs(path: Path) -> list[InputLine]:
    """Every line of ``path``, validated; all problems are reported before any is sent.

    Raises :class:`ConfigError` listing each bad line by number (not JSON, no id, a
    duplicate id, neither ``prompt`` nor ``messages``, an unknown key).
    """
    problems: list[str] = []
    lines: list[InputLine] = []
    seen: dict[str, int] = {}
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the input file: {exc.strerror}", path=str(path)) from None
    with handle:
        try:
            raw_lines = list(handle)
        except UnicodeDecodeError:
            raise ConfigError("the input file is not UTF-8", path=str(path)) from None
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        problem = _check_line(raw, number, seen, lines)
        if problem:
            problems.append(f"line {number}: {problem}")
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ConfigError(f"{len(problems)} bad input line(s):\n  {shown}{more}", path=str(path))
    return lines


def _check_line(raw: str, number: int, seen: dict[str, int], lines: list[InputLine]) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    key = data.get("id")
    if isinstance(key, bool) or not isinstance(key, str | int) or key == "":
        return 'no "id" (a string or an integer)'
    ident = str(key)
    if ident in seen:
        return f"duplicate id {ident!r} (first on line {seen[ident]})"
    seen[ident] = number
    has_prompt, has_messages = "prompt" in data, "messages" in data
    if has_prompt == has_messages:
        return 'needs exactly one of "prompt" or "messages"'
    if has_prompt and not isinstance(data["prompt"], str):
        return '"prompt" must be a string'
    if has_messages and not isinstance(data["messages"], list):
        return '"messages" must be a list'
    unknown = sorted(set(data) - {"id", "prompt", "messages"} - LINE_OPTIONS)
    if unknown:
        return f"unknown key {unknown[0]!r}"
    options = {k: v for k, v in data.items() if k in LINE_OPTIONS}
    messages = data["prompt"] if has_prompt else data["messages"]
    lines.append(InputLine(number, ident, messages, options))
    return ""


def resume(path: Path, retry_failed: bool) -> set[str]:
    """The ids already done in the output file, which is made fit to append to.

    A torn last line (a crash mid-write) is cut off. With ``retry_failed`` the failed
    lines are removed (the file is rewritten atomically) so they are done again.
    """
    if not path.exists():
        return set()
    data = path.read_bytes()
    complete, _, torn = data.rpartition(b"\n")
    kept: list[bytes] = []
    done: set[str] = set()
    dropped = bool(torn)
    for raw in complete.split(b"\n") if complete else []:
        try:
            row = json.loads(raw)
            ident = str(row["id"])
        except (ValueError, KeyError, TypeError):
            dropped = True  # not one of ours: a damaged line is redone
            continue
        if retry_failed and "error" in row:
            dropped = True
            continue
        if ident not in done:
            done.add(ident)
            kept.append(raw)
    if dropped:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(b"".join(line + b"\n" for line in kept))
        os.replace(temporary, path)
    return done


@dataclass
class BatchSummary:
    """What a run did."""

    done: int = 0
    skipped: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)

    def text(self) -> str:
        """The summary printed at the end of a run."""
        elapsed = time.monotonic() - self.started
        answered = self.done + sum(self.failed.values())
        rate = answered / elapsed if elapsed > 0 else 0.0
        failures = ", ".join(f"{count} {name}" for name, count in self.failed.most_common())
        return (
            f"done {self.done}, failed {sum(self.failed.values())}"
            + (f" ({failures})" if failures else "")
            + f", skipped {self.skipped} already done; {self.tokens} tokens; "
            + f"{elapsed:.1f} s, {rate:.1f} requests/s"
        )


def result_line(ident: str, completion: Completion | None, error: ChatportError | None) -> str:
    """One output line (no token ever: errors keep their type and message only)."""
    if completion is not None:
        row: dict[str, Any] = {
            "id": ident,
            "text": completion.text,
            "finish_reason": completion.finish_reason,
            "usage": completion.usage.to_dict(),
            "backend": completion.backend,
            "model": completion.model,
        }
        if completion.parsed is not None:
            row["parsed"] = completion.parsed
    else:
        assert error is not None
        row = {
            "id": ident,
            "error": {"type": type(error).__name__, "message": str(error)},
            "backend": getattr(error, "backend", None),
        }
    return json.dumps(row, ensure_ascii=False, default=str) + "\n"


class BatchFile:
    """Appends result lines, each written whole and flushed at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def write(self, line: str) -> None:
        """Write one line and hand it to the operating system."""
        self._handle.write(line)
        self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


def pending(lines: list[InputLine], done: set[str]) -> Iterator[InputLine]:
    """The input lines still to do."""
    return (line for line in lines if line.id not in done)
