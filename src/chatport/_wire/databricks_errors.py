"""Mapping databricks-sdk and mlflow failures into the chatport error tree."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from .._errors import APIError, RateLimitError, ResponseFormatError, error_for_status
from .http_errors import error_from_response
from .transport import forget_locals, map_transport_error

__all__ = ["ERROR_CODE_STATUS", "map_databricks_error", "map_mlflow_error"]

#: Databricks ``error_code`` strings and the HTTP status each stands for.
ERROR_CODE_STATUS: dict[str, int] = {
    "BAD_REQUEST": 400,
    "INVALID_PARAMETER_VALUE": 400,
    "INVALID_STATE": 400,
    "UNAUTHENTICATED": 401,
    "CUSTOMER_UNAUTHORIZED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "RESOURCE_CONFLICT": 409,
    "ALREADY_EXISTS": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
    "TEMPORARILY_UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_PHRASES = {status.phrase.lower(): status.value for status in HTTPStatus}


def _status_of_sdk_error(exc: BaseException) -> int | None:
    from databricks.sdk.errors.platform import STATUS_CODE_MAPPING

    for status, cls in STATUS_CODE_MAPPING.items():
        if isinstance(exc, cls):
            return status
    code = getattr(exc, "error_code", None)
    if isinstance(code, int):
        return code
    if isinstance(code, str):
        return ERROR_CODE_STATUS.get(code)
    return None


def map_databricks_error(exc: BaseException, backend: str) -> APIError:
    """The chatport error for a databricks-sdk exception (or a transport failure)."""
    forget_locals(exc)
    from databricks.sdk.errors.base import DatabricksError

    if isinstance(exc, TimeoutError) and isinstance(exc.__cause__, DatabricksError):
        # The SDK's retry budget ran out; report what kept failing.
        last = map_databricks_error(exc.__cause__, backend)
        last.message = f"{last.message} (retries exhausted: {exc})"
        return last
    if not isinstance(exc, DatabricksError):
        return map_transport_error(exc, backend)
    status = _status_of_sdk_error(exc)
    message = f"HTTP {status}: {exc}" if status else str(exc)
    request_id = _sdk_request_id(exc)
    if status == 429:
        retry_after = getattr(exc, "retry_after_secs", None)
        return RateLimitError(
            message,
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
            status_code=status,
            backend=backend,
            request_id=request_id,
        )
    cls = error_for_status(status) if status else APIError
    return cls(message, status_code=status, backend=backend, request_id=request_id)


def _sdk_request_id(exc: BaseException) -> str | None:
    """The request id the SDK parsed from the error body's ``RequestInfo`` detail.

    The SDK keeps no response headers on its errors; Databricks repeats the request id
    of the ``x-request-id`` header in the body's details.
    """
    try:
        info = exc.get_error_details().request_info  # type: ignore[attr-defined]
    except Exception:  # an SDK without error details: no id
        return None
    request_id = getattr(info, "request_id", None)
    return request_id if isinstance(request_id, str) and request_id else None


def _mlflow_status(response: Any) -> int:
    """Recover the real status mlflow's synthetic 500 hides (wire-protocol §6)."""
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        body = {}
    code = body.get("error_code") if isinstance(body, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
        return code
    if isinstance(code, str) and code in ERROR_CODE_STATUS:
        return ERROR_CODE_STATUS[code]
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    phrase = message.split(". Config:", 1)[0].strip().lower()
    return _PHRASES.get(phrase, int(response.status_code))


def map_mlflow_error(exc: BaseException, backend: str) -> APIError:
    """The chatport error for an exception raised by mlflow's deployment client."""
    forget_locals(exc)
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        response = exc.response
        status = _mlflow_status(response)
        return error_from_response(status, response.headers, response.content, backend)
    if isinstance(exc, TimeoutError) and exc.__cause__ is not None:
        return map_databricks_error(exc, backend)
    if isinstance(exc, json.JSONDecodeError):
        return ResponseFormatError(
            f"the server answered a body that is not JSON: {exc}", backend=backend
        )
    if type(exc).__name__ == "MlflowException" and "format" in str(exc).lower():
        return ResponseFormatError(f"the server answered an invalid stream: {exc}", backend=backend)
    return map_transport_error(exc, backend)
