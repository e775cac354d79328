"""Token totals per backend and model, from this process's calls or a JSONL log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Tally", "Totals", "read_log"]

_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "reasoning_tokens",
    "cached_tokens",
)


@dataclass(slots=True)
class Totals:
    """The sums for one backend and model. A call that reported no usage is ``unmetered``."""

    backend: str
    model: str
    calls: int = 0
    errors: int = 0
    unmetered: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_FIELDS, 0))

    def add(self, usage: Mapping[str, object] | None) -> None:
        """Count one successful call with its usage (the ``Usage.to_dict()`` shape)."""
        self.calls += 1
        counts = _flat(usage or {})
        if counts["prompt_tokens"] is None and counts["completion_tokens"] is None:
            self.unmetered += 1
        for name, value in counts.items():
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                self.tokens[name] += value


def _flat(usage: Mapping[str, object]) -> dict[str, object]:
    """Token counts from the OpenAI ``usage`` shape (details nested) or a flat mapping."""
    counts = {name: usage.get(name) for name in _FIELDS}
    for holder, name in (
        ("completion_tokens_details", "reasoning_tokens"),
        ("prompt_tokens_details", "cached_tokens"),
    ):
        details = usage.get(holder)
        if counts[name] is None and isinstance(details, Mapping):
            counts[name] = details.get(name)
    return counts


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

    def rows(self) -> list[Totals]:
        """A snapshot of every row, sorted by backend and model."""
        with self._lock:
            return [
                Totals(r.backend, r.model, r.calls, r.errors, r.unmetered, dict(r.tokens))
                for _, r in sorted(self._rows.items())
            ]

    def clear(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._rows.clear()


def read_log(lines: Iterable[str]) -> tuple[Tally, int]:
    """Totals from chatport-jsonl-log lines, and how many lines were not records."""
    tally = Tally()
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if not isinstance(record, dict):
            skipped += 1
            continue
        backend, model = str(record.get("backend", "?")), str(record.get("model", "?"))
        usage = record.get("usage")
        if record.get("event") == "completion":
            tally.completion(backend, model, usage if isinstance(usage, dict) else None)
        elif record.get("event") == "error":
            tally.error(backend, model)
        else:
            skipped += 1
    return tally, skipped


def read_log_file(path: Path) -> tuple[Tally, int]:
    """:func:`read_log` on a file."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        return read_log(handle)
