"""chatport observer plugin that appends one JSON line per chat call to a file."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chatport
from chatport import ChatRequest, Completion, Config

__all__ = ["PLUGIN_NAME", "chatport_after_completion", "chatport_on_error"]

#: The config table this plugin reads: ``[plugins.jsonl-log]``.
PLUGIN_NAME = "jsonl-log"
_lock = threading.Lock()


def _settings(config: Config) -> tuple[Path | None, bool]:
    options = config.plugin_options(PLUGIN_NAME)
    path = options.get("path")
    return (Path(path) if isinstance(path, str) and path else None), options.get("log_text") is True


def _write(path: Path, record: dict[str, Any]) -> None:
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line)


def _base(event: str, request: ChatRequest, backend: str) -> dict[str, Any]:
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "event": event,
        "backend": backend,
        "model": request.model,
    }


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
