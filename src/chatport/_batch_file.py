"""``chatport batch``: a JSONL file of requests answered into a JSONL file, resumably.

Each input line is ``{"id": ..., "prompt": "..."}`` or ``{"id": ..., "messages": [...]}``
with optional call parameters (``model``, ``max_tokens``, ``temperature``, ...). An id is
a string or an integer and keeps its JSON type: ``1`` and ``"1"`` are different ids.
Every line is checked before anything is sent, and a bad one (not JSON, nested more
than :data:`MAX_DEPTH` levels, ...) is reported with its number.

Each output line is one whole answer (text, tool calls, reasoning, every choice, usage)
or one error, written as soon as it is known, so a crash or a kill loses at most the
line being written. Any text is written: a lone surrogate, which UTF-8 cannot hold,
keeps JSON's ``\\udXXX`` escape. A file-system failure (a missing folder, a full disk)
is a :class:`ConfigError` of one line; the lines already written stay whole.

The output file is checked before anything is sent: it may not be the input file, and
every line already in it must be a result line (a torn last line, from a crash in the
middle of a write, is cut off and redone). It is locked (``flock``) for the whole run, so
a second run on the same output is refused at once; the operating system drops the lock
when the process ends, however it ends. A rerun skips the ids already in the output;
``retry_failed`` redoes the failed ones. A new output is created private (``0600``) and a
rewrite keeps the file's mode.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

from ._errors import ChatportError, ConfigError
from ._request import REQUEST_PARAMS, ChatRequest
from ._types import Completion

if TYPE_CHECKING:
    from ._batch import BatchResult

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock (docs/batch.md says so)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "MAX_DEPTH",
    "BatchFile",
    "BatchSummary",
    "Ident",
    "InputLine",
    "build_requests",
    "check_output_path",
    "pending",
    "read_inputs",
    "result_line",
    "scan_output",
    "write_results",
]

#: An input line's id, as JSON gave it: ``1`` and ``"1"`` are different ids.
Ident: TypeAlias = str | int

#: Keys an input line may carry besides ``id`` and ``prompt``/``messages``.
LINE_OPTIONS = frozenset({"model", *REQUEST_PARAMS}) - {"response_format"}

#: How deeply an input line may nest arrays and objects.
MAX_DEPTH = 100

#: How every line :func:`result_line` writes begins (a torn line begins the same way).
_RESULT_PREFIX = b'{"id": '

#: How many bad input lines an error lists.
_SHOWN = 20


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


def _too_deep(value: object, limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels deep."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _decode(raw: str | bytes) -> tuple[object, str]:
    """One line's JSON value and ``""``, or ``None`` and what is wrong with the line."""
    deep = f"nested more than {MAX_DEPTH} levels deep"
    try:
        value = json.loads(raw)
    except RecursionError:
        return None, deep
    except ValueError:  # UnicodeDecodeError too: bytes that are not UTF-8
        return None, "not JSON"
    if _too_deep(value, MAX_DEPTH):
        return None, deep
    return value, ""


def _bad_lines(problems: list[str], path: Path) -> ConfigError:
    shown = "\n  ".join(problems[:_SHOWN])
    more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
    return ConfigError(f"{len(problems)} bad input line(s):\n  {shown}{more}", path=str(path))


def read_inputs(path: Path) -> list[InputLine]:
    """Every line of ``path``, validated; all problems are reported before any is sent.

    Raises :class:`ConfigError` listing each bad line by number (not JSON, nested too
    deeply, no id, a duplicate id, neither ``prompt`` nor ``messages``, an unknown key).
    """
    problems: list[str] = []
    lines: list[InputLine] = []
    seen: dict[Ident, int] = {}
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the input file: {_reason(exc)}", path=str(path)) from None
    with handle:
        try:
            raw_lines = list(handle)
        except UnicodeDecodeError:
            raise ConfigError("the input file is not UTF-8", path=str(path)) from None
        except OSError as exc:
            raise ConfigError(
                f"cannot read the input file: {_reason(exc)}", path=str(path)
            ) from None
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        problem = _check_line(raw, number, seen, lines)
        if problem:
            problems.append(f"line {number}: {problem}")
    if problems:
        raise _bad_lines(problems, path)
    return lines


def _check_line(raw: str, number: int, seen: dict[Ident, int], lines: list[InputLine]) -> str:
    data, problem = _decode(raw)
    if problem:
        return problem
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


def build_requests(todo: list[InputLine], default_model: str, path: Path) -> list[ChatRequest]:
    """The request of each line; a line the request checks refuse is a :class:`ConfigError`
    naming it by number (all of them, before anything is sent)."""
    requests: list[ChatRequest] = []
    problems: list[str] = []
    for line in todo:
        options = dict(line.options)
        model = options.pop("model", None) or default_model
        try:
            requests.append(ChatRequest.build(line.messages, model=model, **options))
        except ChatportError as exc:
            problems.append(f"line {line.number}: {exc}")
    if problems:
        raise _bad_lines(problems, path)
    return requests


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


def _lost_tool_calls(row: Mapping[str, Any]) -> bool:
    """Whether ``row`` is a tool-call answer written without its calls (by an older
    version, which kept only the text): it is redone rather than counted as done."""
    return row.get("finish_reason") == "tool_calls" and "tool_calls" not in row


def _not_a_result(path: Path, number: int, raw: bytes) -> ConfigError:
    row, problem = _decode(raw)
    what = "not a chatport result line"
    if problem.startswith("nested"):
        what += f" ({problem})"
    elif isinstance(row, dict) and ("prompt" in row or "messages" in row):
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
    is dropped, to be redone, and so is a tool-call answer an older version wrote
    without its calls. With ``retry_failed`` the failed lines are dropped too.
    """
    scan = OutputScan()
    complete, _, torn = data.rpartition(b"\n")
    raws = complete.split(b"\n") if complete else []
    for number, raw in enumerate(raws, start=1):
        if not raw.strip():
            continue
        row, _ = _decode(raw)
        ident = _result_id(row)
        if ident is None:
            raise _not_a_result(path, number, raw)
        assert isinstance(row, dict)
        if (retry_failed and "error" in row) or _lost_tool_calls(row):
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


def _reason(exc: OSError) -> str:
    """What the operating system said, without a traceback."""
    return exc.strerror or type(exc).__name__


def _lock(handle: io.FileIO, path: Path) -> None:
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
        raise ConfigError(f"cannot lock the output file: {_reason(exc)}", path=str(path)) from None


def _private(path: str, flags: int) -> int:
    """Open ``path`` as :func:`open` asks, creating it readable by its owner only."""
    return os.open(path, flags, 0o600)


def _open_locked(path: Path) -> io.FileIO:
    """``path`` opened to append (created private if missing) and locked for this process."""
    while True:
        try:
            handle = open(path, "a+b", buffering=0, opener=_private)  # noqa: SIM115
        except OSError as exc:
            raise ConfigError(
                f"cannot open the output file: {_reason(exc)}", path=str(path)
            ) from None
        try:
            _lock(handle, path)
            # a run that held the lock may have replaced the file (a resume rewrite)
            # between our open and our lock: the lock must be on the file at ``path``
            opened, current = os.fstat(handle.fileno()), os.stat(path)
        except FileNotFoundError:
            handle.close()
            continue
        except OSError as exc:
            handle.close()
            raise ConfigError(
                f"cannot open the output file: {_reason(exc)}", path=str(path)
            ) from None
        except BaseException:
            handle.close()
            raise
        if (opened.st_dev, opened.st_ino) == (current.st_dev, current.st_ino):
            return handle
        handle.close()


def _write_all(descriptor: int, data: bytes) -> None:
    """Write all of ``data`` (a write may take part of it), or raise :class:`OSError`."""
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        if written <= 0:  # pragma: no cover - a regular file writes something or fails
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


class BatchFile:
    """The output file of one run, locked until :meth:`close`; appends result lines.

    Opening it takes the lock (a second run on the same file gets a :class:`ConfigError`
    at once); :meth:`resume` reads what an earlier run wrote, under the lock. A failure
    to write is a :class:`ConfigError` too, and the file is left holding whole lines.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: io.FileIO = _open_locked(path)
        self._held: list[io.FileIO] = [self._handle]
        self._size = os.fstat(self._handle.fileno()).st_size  # where the next line goes

    def __enter__(self) -> BatchFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def resume(self, retry_failed: bool) -> set[Ident]:
        """The ids already done; the file is made fit to append to.

        Lines of another shape raise :class:`ConfigError` (naming the first by number)
        and leave the file unchanged. A torn last line is cut off, a tool-call answer
        written without its calls dropped, and with ``retry_failed`` the failed lines:
        the file is rewritten atomically, keeping its mode.
        """
        self._handle.seek(0)
        try:
            data = self._handle.readall()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the output file: {_reason(exc)}", path=str(self.path)
            ) from None
        scan = scan_output(data, self.path, retry_failed)
        if scan.rewrite:
            self._replace(scan.kept)
        return scan.done

    def _replace(self, kept: list[bytes]) -> None:
        # The new file is locked before it takes the name, and the old one stays locked
        # until close: a run that opened either is refused. Through a symlink, the file
        # it names is rewritten; the link stays a link.
        target = Path(os.path.realpath(self.path))
        mode = stat.S_IMODE(os.fstat(self._handle.fileno()).st_mode)
        try:
            descriptor, name = tempfile.mkstemp(
                prefix=f"{target.name}.", suffix=".tmp", dir=target.parent
            )
        except OSError as exc:
            raise self._rewrite_error(exc) from None
        temporary = Path(name)
        handle = io.FileIO(descriptor, "r+")
        self._held.append(handle)
        try:
            _lock(handle, self.path)
            os.fchmod(descriptor, mode)  # mkstemp made it 0600: keep the file's own mode
            data = b"".join(line + b"\n" for line in kept)
            _write_all(descriptor, data)
            os.fsync(descriptor)
            os.replace(temporary, target)
        except BaseException as exc:
            with suppress(OSError):
                temporary.unlink()
            if isinstance(exc, OSError):
                raise self._rewrite_error(exc) from None
            raise
        self._handle, self._size = handle, len(data)
        _sync_folder(target.parent)

    def _rewrite_error(self, exc: OSError) -> ConfigError:
        return ConfigError(
            f"cannot rewrite the output file (to drop the lines to redo): {_reason(exc)}; "
            "it is unchanged and nothing was sent",
            path=str(self.path),
        )

    def write(self, line: bytes) -> None:
        """Append one whole line and hand it to the operating system.

        A failure (a full disk, a file-size limit) cuts off what part of the line was
        written and raises :class:`ConfigError`.
        """
        descriptor = self._handle.fileno()
        try:
            _write_all(descriptor, line)
        except OSError as exc:
            with suppress(OSError):  # the file is locked: its size is ours to restore
                os.ftruncate(descriptor, self._size)
                os.lseek(descriptor, self._size, os.SEEK_SET)
            raise ConfigError(
                f"cannot write the output file: {_reason(exc)}; the lines written so far "
                "are kept: free some space, then run again to resume",
                path=str(self.path),
            ) from None
        self._size += len(line)

    def close(self) -> None:
        """Close the file, which releases the lock."""
        for handle in self._held:
            handle.close()
        self._held.clear()


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every system allows it)."""
    with suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@dataclass
class BatchSummary:
    """What a run did."""

    done: int = 0
    skipped: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)

    def count(self, result: BatchResult) -> None:
        """Count one result."""
        if result.completion is not None:
            self.done += 1
            self.tokens += result.completion.usage.total_tokens or 0
        else:
            self.failed[type(result.error).__name__] += 1

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


def _answer_row(ident: Ident, completion: Completion) -> dict[str, Any]:
    """The whole normalized answer: the first choice's text, tool calls and reasoning,
    every choice (when there are several, in the ``chat.completion`` shape), usage."""
    row: dict[str, Any] = {
        "id": ident,
        "text": completion.text,
        "finish_reason": completion.finish_reason,
        "usage": completion.usage.to_dict(),
        "backend": completion.backend,
        "model": completion.model,
    }
    if completion.tool_calls or completion.finish_reason == "tool_calls":
        row["tool_calls"] = [call.to_dict() for call in completion.tool_calls]
    if completion.reasoning is not None:
        row["reasoning"] = completion.reasoning
    if len(completion.choices) > 1:
        row["choices"] = completion.to_dict()["choices"]
    if completion.parsed is not None:
        row["parsed"] = completion.parsed
    return row


def result_line(ident: Ident, completion: Completion | None, error: ChatportError | None) -> bytes:
    """One output line, UTF-8 (no token ever: errors keep their type and message only).

    A lone surrogate (in an answer, an id, an error message) keeps JSON's escape, so the
    line is written and reads back to the same text.
    """
    if completion is not None:
        row = _answer_row(ident, completion)
    else:
        assert error is not None
        row = {
            "id": ident,
            "error": {"type": type(error).__name__, "message": str(error)},
            "backend": getattr(error, "backend", None),
        }
    text = json.dumps(row, ensure_ascii=False, default=str) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape what UTF-8 cannot hold
        return (json.dumps(row, default=str) + "\n").encode("ascii")


def pending(lines: list[InputLine], done: set[Ident]) -> Iterator[InputLine]:
    """The input lines still to do."""
    return (line for line in lines if line.id not in done)


def write_results(
    writer: BatchFile, todo: list[InputLine], results: Iterator[BatchResult], summary: BatchSummary
) -> None:
    """Write each result as it comes and count it; on any failure the calls still in
    flight are cancelled."""
    try:
        for result in results:
            writer.write(result_line(todo[result.index].id, result.completion, result.error))
            summary.count(result)
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
