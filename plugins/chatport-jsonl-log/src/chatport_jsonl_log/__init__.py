"""chatport observer plugin that appends one JSON line per chat call to a file.

The hooks only build the line; a background thread writes it, so an observer never
blocks a call (or an event loop) on file I/O. :func:`flush` waits until every line
handed over so far is written, never longer than its timeout; it also runs when the
interpreter exits.

Any text is logged: a lone surrogate, which UTF-8 cannot hold, keeps JSON's ``\\udXXX``
escape. A log file is created readable by its owner only (``0600``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import chatport
from chatport import ChatRequest, Completion, Config

__all__ = [
    "PLUGIN_NAME",
    "SETTINGS",
    "chatport_after_completion",
    "chatport_call_end",
    "chatport_on_error",
    "chatport_plugin_settings",
    "flush",
]

#: The config table this plugin reads: ``[plugins.jsonl-log]``.
PLUGIN_NAME = "jsonl-log"

#: The settings of ``[plugins.jsonl-log]``, checked by chatport when a client is built.
SETTINGS: dict[str, type | tuple[type, ...]] = {"path": str, "log_text": bool}

#: How often :func:`flush` checks that the writer thread is still there.
_POLL_S = 0.1

_log = logging.getLogger("chatport_jsonl_log")

_Item = tuple[Path, bytes] | threading.Event


class _Writer:
    """One daemon thread appending queued lines to their files, in order.

    The thread never dies of what it writes (a failure is logged once per file); if it
    is gone anyway, the next line or :meth:`flush` starts another.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._failed: set[Path] = set()

    def _running(self) -> threading.Thread:
        """This process's writer thread, started if it is missing (first use, a forked
        child without the thread, a thread that ended)."""
        thread = self._thread
        if self._pid == os.getpid() and thread is not None and thread.is_alive():
            return thread
        with self._lock:
            if self._pid != os.getpid():
                if self._pid is None:
                    atexit.register(self.flush, 5.0)
                self._queue = queue.SimpleQueue()  # the parent's lines are the parent's
                self._pid, self._thread = os.getpid(), None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, args=(self._queue,), name="chatport-jsonl-log", daemon=True
                )
                self._thread.start()
            return self._thread

    def put(self, path: Path, line: bytes) -> None:
        self._running()
        self._queue.put((path, line))

    def flush(self, timeout: float | None = None) -> bool:
        if self._pid != os.getpid():
            return True  # nothing was queued in this process
        thread = self._running()
        done = threading.Event()
        self._queue.put(done)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
            if done.wait(max(wait, 0.0)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if not thread.is_alive():  # pragma: no cover - the thread catches everything
                return done.is_set()

    def _run(self, pending: queue.SimpleQueue[_Item]) -> None:
        while True:
            item = pending.get()
            batch: dict[Path, list[bytes]] = {}
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
            try:
                for path, lines in batch.items():
                    self._append(path, lines)
            finally:
                for event in events:
                    event.set()

    def _append(self, path: Path, lines: list[bytes]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
            descriptor = os.open(path, flags, 0o600)
            try:
                view = memoryview(b"".join(lines))
                while view:  # a write may take part of it
                    written = os.write(descriptor, view)
                    if written <= 0:  # pragma: no cover - a file writes something or fails
                        raise OSError(f"nothing written to {path}")
                    view = view[written:]
            finally:
                os.close(descriptor)
        except Exception as exc:  # an I/O error, or anything else: never end the thread
            if path not in self._failed:  # say it once per file, not once per call
                self._failed.add(path)
                _log.warning("chatport-jsonl-log: cannot write %s: %s", path, exc)


_writer = _Writer()


def flush(timeout: float | None = None) -> bool:
    """Wait until every line logged so far is written; ``False`` if ``timeout`` ran out.

    It returns within ``timeout`` seconds whatever happened to the writer thread.
    """
    return _writer.flush(timeout)


def _settings(config: Config) -> tuple[Path | None, bool]:
    options = config.plugin_options(PLUGIN_NAME)
    path = options.get("path")
    return (Path(path) if isinstance(path, str) and path else None), options.get("log_text") is True


def _line(record: dict[str, Any]) -> bytes | None:
    """``record`` as one UTF-8 JSON line (a lone surrogate keeps its JSON escape)."""
    try:
        text = json.dumps(record, ensure_ascii=False, default=str)
        try:
            return (text + "\n").encode("utf-8")
        except UnicodeEncodeError:
            return (json.dumps(record, default=str) + "\n").encode("ascii")
    except (ValueError, RecursionError) as exc:  # a circular or too deeply nested value
        _log.warning("chatport-jsonl-log: a %s record was not logged: %s", record["event"], exc)
        return None


def _write(path: Path, record: dict[str, Any]) -> None:
    line = _line(record)
    if line is not None:
        _writer.put(path.absolute(), line)


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


@chatport.hookimpl
def chatport_call_end(
    request: ChatRequest,
    backend: str,
    config: Config,
    status: Literal["ok", "error", "abandoned"],
    completion: Completion | None,
    elapsed_s: float,
) -> None:
    """Record an abandoned call (a stream closed before its end, a cancelled call), with
    the usage of what it had delivered, if the server had sent any."""
    if status != "abandoned":
        return
    path, log_text = _settings(config)
    if path is None:
        return
    record = _base("abandoned", request, backend)
    record.update(
        latency_s=elapsed_s,
        usage=completion.usage.to_dict() if completion is not None else None,
        finish_reason=None,
        error=None,
    )
    if log_text:
        record["messages"] = [message.to_dict() for message in request.messages]
        record["text"] = completion.text if completion is not None else ""
    _write(path, record)
