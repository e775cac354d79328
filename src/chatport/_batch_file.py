"""``chatport batch``: a JSONL file of requests answered into a JSONL file, resumably.

Each input line is ``{"id": ..., "prompt": "..."}`` or ``{"id": ..., "messages": [...]}``
with optional call parameters (``model``, ``max_tokens``, ``temperature``, ...). An id is
a string or an integer and keeps its JSON type: ``1`` and ``"1"`` are different ids.
Each output line is one result, written and flushed as soon as it is known, so a crash
or a kill loses at most the line being written.

The output file is checked before anything is sent: it may not be the input file, and
every line already in it must be a result line (a torn last line, from a crash in the
middle of a write, is cut off and redone). It is locked (``flock``) for the whole run, so
a second run on the same output is refused at once; the operating system drops the lock
when the process ends, however it ends. A rerun skips the ids already in the output;
``retry_failed`` redoes the failed ones.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeAlias

from ._errors import ChatportError, ConfigError
from ._request import REQUEST_PARAMS
from ._types import Completion

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock (docs/batch.md says so)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "BatchFile",
    "BatchSummary",
    "Ident",
    "InputLine",
    "check_output_path",
    "pending",
    "read_inputs",
    "result_line",
    "scan_output",
]

#: An input line's id, as JSON gave it: ``1`` and ``"1"`` are different ids.
Ident: TypeAlias = str | int

#: Keys an input line may carry besides ``id`` and ``prompt``/``messages``.
LINE_OPTIONS = frozenset({"model", *REQUEST_PARAMS}) - {"response_format"}

#: How every line :func:`result_line` writes begins (a torn line begins the same way).
_RESULT_PREFIX = b'{"id": '


@dataclass(frozen=True)
class InputLine:
    """One validated input line."""

    number: int
    id: Ident
    messages: Any
    options: Mapping[str, Any]


def _is_ident(value: object) -> bool:
    """Whether ``value`` is an id: a non-empty string or an integer (not a bool)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value != "")


def read_inputs(path: Path) -> list[InputLine]:
    """Every line of ``path``, validated; all problems are reported before any is sent.

    Raises :class:`ConfigError` listing each bad line by number (not JSON, no id, a
    duplicate id, neither ``prompt`` nor ``messages``, an unknown key).
    """
    problems: list[str] = []
    lines: list[InputLine] = []
    seen: dict[Ident, int] = {}
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


def _check_line(raw: str, number: int, seen: dict[Ident, int], lines: list[InputLine]) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    ident = data.get("id")
    if not _is_ident(ident):
        return 'no "id" (a string or an integer)'
    assert isinstance(ident, str | int)
    if ident in seen:  # 1 and "1" are different keys: ids keep their JSON type
        return f"duplicate id {str(ident)!r} (first on line {seen[ident]})"
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


def check_output_path(input_path: Path, output: Path) -> None:
    """Refuse an output that is the input file (the same path, a symlink, a hard link)."""
    same = input_path.resolve() == output.resolve()
    if not same:
        try:
            same = os.path.samefile(input_path, output)
        except OSError:  # one of them does not exist (yet): not the same file
            same = False
    if same:
        named = "" if str(input_path) == str(output) else f" {input_path}"
        raise ConfigError(
            f"the output file is the input file{named}: the results would be written among "
            "the requests. Nothing was sent; give -o another file",
            path=str(output),
        )


def _result_id(row: object) -> Ident | None:
    """The id of a result line (one :func:`result_line` writes), or ``None``."""
    if not isinstance(row, dict):
        return None
    ident = row.get("id")
    if not _is_ident(ident):
        return None
    has_text = isinstance(row.get("text"), str)
    has_error = isinstance(row.get("error"), dict)
    if has_text == has_error:
        return None
    assert isinstance(ident, str | int)
    return ident


def _not_a_result(path: Path, number: int, raw: bytes) -> ConfigError:
    try:
        row = json.loads(raw)
    except ValueError:
        row = None
    what = "not a chatport result line"
    if isinstance(row, dict) and ("prompt" in row or "messages" in row):
        what += " (it looks like an input line)"
    return ConfigError(
        f"line {number} is {what}, so this is not the output of `chatport batch`; nothing "
        "was sent and the file is unchanged. Give -o a new file, or the output of an "
        "earlier run to resume it",
        path=str(path),
    )


@dataclass
class OutputScan:
    """What an existing output file holds: the ids done and the lines to keep."""

    done: set[Ident] = field(default_factory=set)
    kept: list[bytes] = field(default_factory=list)
    rewrite: bool = False  # whether lines are dropped (a torn line, failures to redo)


def scan_output(data: bytes, path: Path, retry_failed: bool) -> OutputScan:
    """Read an output file's bytes; refuse (:class:`ConfigError`) lines of another shape.

    A torn last line (no newline; begins as every result line does, a crash mid-write)
    is dropped, to be redone. With ``retry_failed`` the failed lines are dropped too.
    """
    scan = OutputScan()
    complete, _, torn = data.rpartition(b"\n")
    raws = complete.split(b"\n") if complete else []
    for number, raw in enumerate(raws, start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError:
            row = None
        ident = _result_id(row)
        if ident is None:
            raise _not_a_result(path, number, raw)
        assert isinstance(row, dict)
        if retry_failed and "error" in row:
            scan.rewrite = True
            continue
        if ident not in scan.done:
            scan.done.add(ident)
            scan.kept.append(raw)
    if torn:
        if torn.strip() and not (
            torn.startswith(_RESULT_PREFIX) or _RESULT_PREFIX.startswith(torn)
        ):
            raise _not_a_result(path, len(raws) + 1, torn)
        scan.rewrite = True
    return scan


def _lock(handle: IO[bytes], path: Path) -> None:
    """Take the exclusive lock of ``handle`` at once, or refuse: another run holds it."""
    if fcntl is None:  # pragma: no cover - Windows
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(
            "another `chatport batch` is writing to this output file; wait for it to end "
            "(or stop it), then run again to resume",
            path=str(path),
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot lock the output file: {exc.strerror}", path=str(path)) from None


def _open_locked(path: Path) -> IO[bytes]:
    """``path`` opened to append (created if missing) and locked for this process."""
    while True:
        try:
            handle = path.open("a+b")
        except OSError as exc:
            raise ConfigError(
                f"cannot open the output file: {exc.strerror}", path=str(path)
            ) from None
        try:
            _lock(handle, path)
            # a run that held the lock may have replaced the file (a resume rewrite)
            # between our open and our lock: the lock must be on the file at ``path``
            opened, current = os.fstat(handle.fileno()), os.stat(path)
        except FileNotFoundError:
            handle.close()
            continue
        except BaseException:
            handle.close()
            raise
        if (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino):
            return handle
        handle.close()


class BatchFile:
    """The output file of one run, locked until :meth:`close`; appends result lines.

    Opening it takes the lock (a second run on the same file gets a :class:`ConfigError`
    at once); :meth:`resume` reads what an earlier run wrote, under the lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] = _open_locked(path)
        self._held: list[IO[bytes]] = [self._handle]

    def resume(self, retry_failed: bool) -> set[Ident]:
        """The ids already done; the file is made fit to append to.

        Lines of another shape raise :class:`ConfigError` (naming the first by number)
        and leave the file unchanged. A torn last line is cut off, and with
        ``retry_failed`` the failed lines removed: the file is rewritten atomically.
        """
        self._handle.seek(0)
        scan = scan_output(self._handle.read(), self.path, retry_failed)
        if scan.rewrite:
            self._replace(scan.kept)
        return scan.done

    def _replace(self, kept: list[bytes]) -> None:
        # The new file is locked before it takes the name, and the old one stays locked
        # until close: a run that opened either is refused.
        temporary = self.path.with_name(self.path.name + ".tmp")
        handle = temporary.open("w+b")
        self._held.append(handle)
        _lock(handle, temporary)
        handle.write(b"".join(line + b"\n" for line in kept))
        handle.flush()
        os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        self._handle = handle

    def write(self, line: str) -> None:
        """Write one line and hand it to the operating system."""
        self._handle.write(line.encode("utf-8"))
        self._handle.flush()

    def close(self) -> None:
        """Close the file, which releases the lock."""
        for handle in self._held:
            handle.close()
        self._held.clear()


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


def result_line(ident: Ident, completion: Completion | None, error: ChatportError | None) -> str:
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


def pending(lines: list[InputLine], done: set[Ident]) -> Iterator[InputLine]:
    """The input lines still to do."""
    return (line for line in lines if line.id not in done)
