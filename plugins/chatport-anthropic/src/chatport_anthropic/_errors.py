"""anthropic SDK exceptions mapped into chatport's error tree, written once."""

from __future__ import annotations

import email.utils
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import chatport
from chatport.backends.kit import sanitize_exception

__all__ = ["MappedErrors", "map_error"]

_BY_STATUS: dict[int, type[chatport.APIError]] = {
    400: chatport.BadRequestError,
    401: chatport.AuthenticationError,
    403: chatport.PermissionDeniedError,
    404: chatport.NotFoundError,
    429: chatport.RateLimitError,
}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """The delay a ``Retry-After`` (or ``retry-after-ms``) header asks for, in seconds."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(body: object, fallback: str) -> str:
    """The server's own message: Anthropic's ``error.message`` or Databricks' ``message``."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return fallback


def _status_error(exc: Any, backend: str) -> chatport.APIError:
    status = int(exc.status_code)
    headers = exc.response.headers
    request_id = headers.get("x-request-id") or headers.get("request-id")
    message = _server_message(exc.body, f"HTTP {status}")
    if status >= 500:
        cls: type[chatport.APIError] = chatport.ServerError
    else:
        cls = _BY_STATUS.get(status, chatport.APIError)
    if cls is chatport.RateLimitError:
        return chatport.RateLimitError(
            message,
            retry_after=_retry_after(headers),
            status_code=status,
            backend=backend,
            request_id=request_id,
        )
    return cls(message, status_code=status, backend=backend, request_id=request_id)


def _transport_error(exc: BaseException, backend: str) -> chatport.APIError | None:
    name = type(exc).__name__
    for module_name in ("httpx2", "httpx"):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        if isinstance(exc, module.TimeoutException):
            return chatport.APITimeoutError(f"the request timed out: {name}", backend=backend)
        if isinstance(exc, module.HTTPError | module.StreamError):
            return chatport.APIConnectionError(f"connection failed: {name}", backend=backend)
    if isinstance(exc, TimeoutError):
        return chatport.APITimeoutError(f"the request timed out: {name}", backend=backend)
    if isinstance(exc, ConnectionError):
        return chatport.APIConnectionError(f"connection failed: {name}", backend=backend)
    return None


def map_error(exc: BaseException, backend: str) -> chatport.APIError | None:
    """The chatport error for ``exc``, or ``None`` when it is not the SDK's or the wire's."""
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc, backend)
    if isinstance(exc, anthropic.APITimeoutError):
        return chatport.APITimeoutError("the request timed out", backend=backend)
    if isinstance(exc, anthropic.APIConnectionError):
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
    transport = _transport_error(exc, backend)
    if transport is not None:
        return transport
    if isinstance(exc, ValueError):  # a body that is not JSON, or not the expected shape
        return chatport.ResponseFormatError(
            f"the server answered something that is not a Messages response: {type(exc).__name__}",
            backend=backend,
        )
    return None


class MappedErrors:
    """``with MappedErrors(name):`` (or ``async with``) turns SDK failures into chatport's.

    chatport errors pass through; anything the SDK or the connection raised becomes the
    matching :class:`chatport.APIError` subclass, with the SDK error as ``__cause__``.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def __enter__(self) -> MappedErrors:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, chatport.ChatportError):
            return
        if not isinstance(exc, Exception):
            return  # KeyboardInterrupt, GeneratorExit, cancellation: as they are
        error = map_error(exc, self.backend)
        if error is None:
            return
        sanitize_exception(exc)
        raise error from exc

    async def __aenter__(self) -> MappedErrors:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, exc, tb)
