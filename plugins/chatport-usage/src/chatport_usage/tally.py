"""Token totals per backend and model, from this process's calls or a JSONL log.

A log is a chatport-jsonl-log file or a local workspace's usage log (``chatport serve
--usage-log``, one record per model call shaped like a row of Unity AI Gateway's
``system.ai_gateway.usage``); each line's shape says which. Rows of a workspace log
count under the backend ``workspace``. Grouped by a request tag (``by_tag``), rows are
keyed by that tag's value instead of the backend.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MAX_TOKENS",
    "UNTAGGED",
    "WORKSPACE",
    "LogRead",
    "Tally",
    "Totals",
    "read_log",
    "read_log_file",
    "scan_log",
]

_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "cache_write_tokens",
)

#: The largest token count one call may report; a log line holding more is skipped.
MAX_TOKENS = 10**12


def _is_count(value: object) -> bool:
    """Whether ``value`` is a token count: a whole number from 0 to :data:`MAX_TOKENS`."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS


@dataclass(slots=True)
class Totals:
    """The sums for one backend and model. A call that reported no usage is ``unmetered``;
    an ``abandoned`` call (a stream closed early, a cancelled call) counts apart."""

    backend: str
    model: str
    calls: int = 0
    errors: int = 0
    unmetered: int = 0
    abandoned: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_FIELDS, 0))

    def add(self, usage: Mapping[str, object] | None) -> None:
        """Count one successful call with its usage (the ``Usage.to_dict()`` shape)."""
        self.calls += 1
        if not self._add_tokens(usage):
            self.unmetered += 1

    def add_abandoned(self, usage: Mapping[str, object] | None) -> None:
        """Count one abandoned call, with the tokens it reported before it was left."""
        self.abandoned += 1
        self._add_tokens(usage)

    def _add_tokens(self, usage: Mapping[str, object] | None) -> bool:
        """Add the valid counts of ``usage``; whether it reported any token usage."""
        counts = _flat(usage or {})
        for name, value in counts.items():
            if _is_count(value):
                assert isinstance(value, int)
                self.tokens[name] += value
        return counts["prompt_tokens"] is not None or counts["completion_tokens"] is not None


def _flat(usage: Mapping[str, object]) -> dict[str, object]:
    """Token counts from the OpenAI ``usage`` shape (details nested) or a flat mapping."""
    counts = {name: usage.get(name) for name in _FIELDS}
    for holder, name in (
        ("completion_tokens_details", "reasoning_tokens"),
        ("prompt_tokens_details", "cached_tokens"),
        ("prompt_tokens_details", "cache_write_tokens"),
    ):
        details = usage.get(holder)
        if counts[name] is None and isinstance(details, Mapping):
            counts[name] = details.get(name)
    return counts


def _bad_count(usage: object) -> str:
    """What is wrong with a logged ``usage``'s token counts, or ``""``."""
    if usage is None:
        return ""
    if not isinstance(usage, Mapping):
        return '"usage" is not an object'
    for name, value in _flat(usage).items():
        if value is not None and not _is_count(value):
            return f"{name} is not a whole number from 0 to {MAX_TOKENS:,}"
    return ""


class Tally:
    """Thread-safe totals, keyed by (backend, model)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], Totals] = {}

    def _row(self, backend: str, model: str) -> Totals:
        key = (backend, model)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = Totals(backend, model)
        return row

    def completion(self, backend: str, model: str, usage: Mapping[str, object] | None) -> None:
        """Count a successful call."""
        with self._lock:
            self._row(backend, model).add(usage)

    def error(self, backend: str, model: str) -> None:
        """Count a failed attempt."""
        with self._lock:
            self._row(backend, model).errors += 1

    def abandoned(self, backend: str, model: str, usage: Mapping[str, object] | None) -> None:
        """Count an abandoned call."""
        with self._lock:
            self._row(backend, model).add_abandoned(usage)

    def rows(self) -> list[Totals]:
        """A snapshot of every row, sorted by backend and model."""
        with self._lock:
            return [
                Totals(
                    r.backend, r.model, r.calls, r.errors, r.unmetered, r.abandoned, dict(r.tokens)
                )
                for _, r in sorted(self._rows.items())
            ]

    def clear(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._rows.clear()


@dataclass
class LogRead:
    """What a log gave: the totals, and each line skipped with its number and why.

    ``tagged`` counts the records that carried a ``request_tags`` field (the workspace
    usage log always does; chatport-jsonl-log records do not).
    """

    tally: Tally = field(default_factory=Tally)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    tagged: int = 0


#: The backend name rows of a local workspace usage log are counted under.
WORKSPACE = "workspace"
#: What ``by_tag`` groups a record without that tag under.
UNTAGGED = "(untagged)"
_WORKSPACE_KEYS = frozenset({"request_id", "endpoint_name", "status_code", "request_tags"})


def _workspace_usage(record: dict[str, object]) -> dict[str, object]:
    """A workspace usage record's token counts in the ``Usage.to_dict()`` shape."""
    return {
        "prompt_tokens": record.get("input_tokens"),
        "completion_tokens": record.get("output_tokens"),
        "total_tokens": record.get("total_tokens"),
    }


def _group(record: dict[str, object], by_tag: str | None, backend: str) -> str:
    if by_tag is None:
        return backend
    tags = record.get("request_tags")
    value = tags.get(by_tag) if isinstance(tags, dict) else None
    return value if isinstance(value, str) else UNTAGGED


def _record(line: str) -> tuple[dict[str, object] | None, str]:
    """One log line's record, or ``None`` and why it is not one."""
    try:
        record = json.loads(line)
    except RecursionError:
        return None, "nested too deeply"
    except ValueError:
        return None, "not JSON"
    if isinstance(record, dict) and record.keys() >= _WORKSPACE_KEYS:
        if not isinstance(record["request_tags"], dict):
            return None, '"request_tags" is not an object'
        return record, _bad_count(_workspace_usage(record))
    if not isinstance(record, dict) or record.get("event") not in (
        "completion",
        "error",
        "abandoned",
    ):
        return None, "not a chatport-jsonl-log record or a workspace usage record"
    return record, _bad_count(record.get("usage"))


def scan_log(lines: Iterable[str], by_tag: str | None = None) -> LogRead:
    """Totals from chatport-jsonl-log or workspace usage-log lines; a line that is not a
    record, or whose token counts are not whole numbers from 0 to :data:`MAX_TOKENS`, is
    skipped and listed. ``by_tag`` keys the rows by that request tag's value."""
    read = LogRead()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record, problem = _record(line)
        if record is None or problem:
            read.skipped.append((number, problem))
            continue
        if isinstance(record.get("request_tags"), dict):
            read.tagged += 1
        if "event" not in record:  # a workspace usage record
            group = _group(record, by_tag, WORKSPACE)
            model = str(record.get("endpoint_name") or "?")
            status = record.get("status_code")
            if isinstance(status, int) and 200 <= status < 300:
                read.tally.completion(group, model, _workspace_usage(record))
            else:
                read.tally.error(group, model)
            continue
        backend = _group(record, by_tag, str(record.get("backend", "?")))
        model = str(record.get("model", "?"))
        usage = record.get("usage")
        counts = usage if isinstance(usage, dict) else None
        if record["event"] == "completion":
            read.tally.completion(backend, model, counts)
        elif record["event"] == "abandoned":
            read.tally.abandoned(backend, model, counts)
        else:
            read.tally.error(backend, model)
    return read


def read_log(lines: Iterable[str]) -> tuple[Tally, int]:
    """Totals from chatport-jsonl-log lines, and how many lines were skipped."""
    read = scan_log(lines)
    return read.tally, len(read.skipped)


def read_log_file(path: Path, by_tag: str | None = None) -> LogRead:
    """:func:`scan_log` on a file."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        return scan_log(handle, by_tag)
