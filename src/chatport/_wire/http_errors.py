"""Mapping HTTP error answers and transport failures into the chatport error tree."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

from .._errors import APIError, RateLimitError, error_for_status

__all__ = ["error_from_response", "parse_retry_after", "request_id_from"]

_REQUEST_ID_HEADERS = ("x-request-id", "x-databricks-request-id", "x-databricks-org-request-id")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds)


def request_id_from(headers: Mapping[str, str], body: Any = None) -> str | None:
    """The server's request id: the ``x-request-id`` header, else the error body's
    ``details`` (a ``google.rpc.RequestInfo`` entry), when the server sent one."""
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    details = body.get("details") if isinstance(body, Mapping) else None
    for entry in details if isinstance(details, list) else ():
        if isinstance(entry, Mapping) and isinstance(entry.get("request_id"), str):
            return str(entry["request_id"]) or None
    return None


def _describe(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping):
        return str(error.get("message") or error)
    message = body.get("message")
    code = body.get("error_code")
    if isinstance(message, str) and message:
        if isinstance(code, str) and not message.startswith(code):
            return f"{code}: {message}"
        return message
    if isinstance(error, str):
        return error
    return None


def error_from_response(
    status: int, headers: Mapping[str, str], content: bytes, backend: str
) -> APIError:
    """The chatport error for an HTTP error answer (Databricks or OpenAI error body)."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    described = _describe(body)
    if described is None:
        text = content.decode("utf-8", "replace").strip()[:200]
        described = text or "no error body"
    message = f"HTTP {status}: {described}"
    kwargs: dict[str, Any] = {
        "status_code": status,
        "backend": backend,
        "request_id": request_id_from(headers, body),
    }
    cls = error_for_status(status)
    if cls is RateLimitError:
        return RateLimitError(
            message, retry_after=parse_retry_after(headers.get("retry-after")), **kwargs
        )
    return cls(message, **kwargs)
