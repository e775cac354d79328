"""google-genai exceptions mapped into chatport's error tree, written once."""

from __future__ import annotations

import json
from collections.abc import Mapping

import chatport
from chatport.backends.kit import (
    SDKErrors,
    error_from_event,
    error_from_response,
    map_transport_error,
)

__all__ = ["MappedErrors", "map_error"]


def _is_transport_error(exc: BaseException) -> bool:
    """A failure with no answer: Python's own, or the HTTP library's."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    module = type(exc).__module__.split(".", 1)[0]
    return module in ("httpx", "httpx2", "httpcore", "httpcore2", "aiohttp")


def _headers(exc: BaseException) -> Mapping[str, str]:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return headers if isinstance(headers, Mapping) else {}


def _status(exc: BaseException) -> int | None:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def map_error(exc: BaseException, backend: str) -> chatport.APIError | None:
    """The chatport error for ``exc``, or ``None`` when it is not the SDK's or the wire's."""
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        details = exc.details
        status = _status(exc)
        if status is not None and status < 400:  # an error inside a stream that started
            return error_from_event(details, backend)
        try:
            content = json.dumps(details).encode() if details is not None else b""
        except (TypeError, ValueError):
            content = str(details).encode()
        code = exc.code if isinstance(exc.code, int) else (status or 500)
        return error_from_response(code, _headers(exc), content, backend)
    if _is_transport_error(exc):
        return map_transport_error(exc, backend)
    if isinstance(exc, ValueError):  # a body that is not JSON, or not the expected shape
        return chatport.ResponseFormatError(
            f"the server answered something that is not a Gemini response: {type(exc).__name__}",
            backend=backend,
        )
    return None


class MappedErrors(SDKErrors):
    """``with MappedErrors(name):`` (or ``async with``) turns SDK failures into chatport's
    (the kit's :class:`~chatport.backends.kit.SDKErrors` with :func:`map_error`)."""

    __slots__ = ()

    def __init__(self, backend: str) -> None:
        super().__init__(backend, map_error)
