"""anthropic SDK exceptions mapped into chatport's error tree, written once."""

from __future__ import annotations

from collections.abc import Mapping

import chatport
from chatport.backends.kit import (
    SDKErrors,
    error_from_event,
    error_from_response,
    map_transport_error,
)

__all__ = ["MappedErrors", "map_error"]


def _server_message(body: object, fallback: str) -> str:
    """The server's own message: Anthropic's ``error.message`` or Databricks' ``message``."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return fallback


def _is_transport_error(exc: BaseException) -> bool:
    """A failure with no answer: Python's own, or the HTTP library's."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return type(exc).__module__.split(".", 1)[0] in ("httpx", "httpx2", "httpcore", "httpcore2")


def map_error(exc: BaseException, backend: str) -> chatport.APIError | None:
    """The chatport error for ``exc``, or ``None`` when it is not the SDK's or the wire's."""
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        response = exc.response
        if response.status_code < 400:  # an ``error`` event inside a stream that started
            return error_from_event(exc.body, backend)
        return error_from_response(exc.status_code, response.headers, response.content, backend)
    if isinstance(exc, anthropic.APIConnectionError):  # its timeouts too: the cause says
        cause = exc.__cause__
        if cause is not None and _is_transport_error(cause):
            return map_transport_error(cause, backend)
        if isinstance(exc, anthropic.APITimeoutError):
            return chatport.APITimeoutError("the request timed out", backend=backend)
        return chatport.APIConnectionError(f"connection failed: {exc.message}", backend=backend)
    if isinstance(exc, anthropic.APIResponseValidationError):
        return chatport.ResponseFormatError(
            f"the server answered an invalid response: {exc.message}",
            status_code=exc.status_code,
            backend=backend,
        )
    if isinstance(exc, anthropic.APIError):  # e.g. an ``error`` event inside a stream
        body = getattr(exc, "body", None)
        return chatport.APIError(
            f"the server reported an error: {_server_message(body, exc.message)}", backend=backend
        )
    if _is_transport_error(exc):
        return map_transport_error(exc, backend)
    if isinstance(exc, ValueError):  # a body that is not JSON, or not the expected shape
        return chatport.ResponseFormatError(
            f"the server answered something that is not a Messages response: {type(exc).__name__}",
            backend=backend,
        )
    return None


class MappedErrors(SDKErrors):
    """``with MappedErrors(name):`` (or ``async with``) turns SDK failures into chatport's
    (the kit's :class:`~chatport.backends.kit.SDKErrors` with :func:`map_error`)."""

    __slots__ = ()

    def __init__(self, backend: str) -> None:
        super().__init__(backend, map_error)
