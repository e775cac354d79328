"""chatport observer plugin that appends one JSON line per chat call to a file.

The hooks only build the line; a background thread writes it, so an observer never
blocks a call (or an event loop) on file I/O. :func:`flush` waits until every line
handed over so far is written; it also runs when the interpreter exits.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chatport
from chatport import ChatRequest, Completion, Config

__all__ = [
    "PLUGIN_NAME",
    "SETTINGS",
    "chatport_after_completion",
    "chatport_on_error",
    "chatport_plugin_settings",
    "flush",
]

#: The config table this plugin reads: ``[plugins.jsonl-log]``.
PLUGIN_NAME = "jsonl-log"

#: The settings of ``[plugins.jsonl-log]``, checked by chatport when a client is built.
SETTINGS: dict[str, type | tuple[type, ...]] = {"path": str, "log_text": bool}

_log = logging.getLogger("chatport_jsonl_log")


class _Writer:
    """One daemon thread appending queued lines to their files, in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Path, str] | threading.Event] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._failed: set[Path] = set()

    def put(self, path: Path, line: str) -> None:
        if self._pid != os.getpid():  # first use, or a forked child without the thread
            with self._lock:
                if self._pid != os.getpid():
                    self._queue = queue.SimpleQueue()
                    threading.Thread(
                        target=self._run, name="chatport-jsonl-log", daemon=True
                    ).start()
                    if self._pid is None:
                        atexit.register(self.flush, 5.0)
                    self._pid = os.getpid()
        self._queue.put((path, line))

    def flush(self, timeout: float | None = None) -> bool:
        if self._pid != os.getpid():
            return True  # nothing was queued in this process
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        pending = self._queue
        while True:
            item = pending.get()
            batch: dict[Path, list[str]] = {}
            events: list[threading.Event] = []
            while True:  # take everything queued so far: one open per file per batch
                if isinstance(item, threading.Event):
                    events.append(item)
                else:
                    batch.setdefault(item[0], []).append(item[1])
                try:
                    item = pending.get_nowait()
                except queue.Empty:
                    break
            for path, lines in batch.items():
                self._append(path, lines)
            for event in events:
                event.set()

    def _append(self, path: Path, lines: list[str]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write("".join(lines))
        except OSError as exc:
            if path not in self._failed:  # say it once per file, not once per call
                self._failed.add(path)
                _log.warning("chatport-jsonl-log: cannot write %s: %s", path, exc)


_writer = _Writer()


def flush(timeout: float | None = None) -> bool:
    """Wait until every line logged so far is written; ``False`` if ``timeout`` ran out."""
    return _writer.flush(timeout)


def _settings(config: Config) -> tuple[Path | None, bool]:
    options = config.plugin_options(PLUGIN_NAME)
    path = options.get("path")
    return (Path(path) if isinstance(path, str) and path else None), options.get("log_text") is True


def _write(path: Path, record: dict[str, Any]) -> None:
    _writer.put(path.absolute(), json.dumps(record, ensure_ascii=False, default=str) + "\n")


def _base(event: str, request: ChatRequest, backend: str) -> dict[str, Any]:
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "event": event,
        "backend": backend,
        "model": request.model,
    }


@chatport.hookimpl
def chatport_plugin_settings() -> dict[str, type | tuple[type, ...]]:
    """``path`` (the file to append to; no path, no logging) and ``log_text``."""
    return SETTINGS


@chatport.hookimpl
def chatport_after_completion(
    request: ChatRequest, completion: Completion, backend: str, config: Config
) -> None:
    """Record a successful call."""
    path, log_text = _settings(config)
    if path is None:
        return
    record = _base("completion", request, backend)
    record.update(
        latency_s=completion.latency_s,
        usage=completion.usage.to_dict(),
        finish_reason=completion.finish_reason,
        error=None,
    )
    if log_text:
        record["messages"] = [message.to_dict() for message in request.messages]
        record["text"] = completion.text
    _write(path, record)


@chatport.hookimpl
def chatport_on_error(
    request: ChatRequest,
    error: chatport.ChatportError,
    backend: str,
    config: Config,
    elapsed_s: float,
) -> None:
    """Record a failed attempt: the error class, never its message."""
    path, log_text = _settings(config)
    if path is None:
        return
    record = _base("error", request, backend)
    record.update(
        latency_s=elapsed_s,
        usage=None,
        finish_reason=None,
        error=type(error).__name__,
        status_code=getattr(error, "status_code", None),
    )
    if log_text:
        record["messages"] = [message.to_dict() for message in request.messages]
    _write(path, record)
