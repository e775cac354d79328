"""Databricks-style error answers of the local workspace (docs/wire-facts.md#error-bodies)."""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ERROR_CODES",
    "WireError",
    "anthropic_error",
    "bad_request",
    "extra_inputs",
    "google_error",
    "invalid_parameter",
    "status_error",
    "with_request_info",
]

#: The ``error_code`` the real service sends with each status.
ERROR_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "RESOURCE_CONFLICT",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    502: "BAD_GATEWAY",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_MESSAGES: dict[int, str] = {
    400: "The request is not valid.",
    401: "Credential was not sent or was of an unsupported type for this API.",
    403: "The endpoint is temporarily disabled due to a Databricks-set rate limit of 0.",
    404: "The endpoint does not exist.",
    429: "Exceeded workspace QPS rate limit for {name}. "
    "Please use a provisioned throughput Foundation Model endpoint for a higher rate limit.",
    500: "The server failed to process the request.",
    502: "Bad gateway.",
    503: "The endpoint is scaling up or overloaded.",
    504: "The upstream model timed out.",
}


class WireError(Exception):
    """An error answer: status, JSON body and headers."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def status_error(
    status: int, endpoint: str = "", retry_after: float | None = None, message: str | None = None
) -> WireError:
    """The error the real service sends for ``status`` on ``endpoint``."""
    code = ERROR_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
    text = message or _MESSAGES.get(status, "Request failed.").format(name=endpoint)
    headers: dict[str, str] = {}
    if retry_after is not None and status in (429, 503):
        headers["Retry-After"] = str(max(0, round(retry_after)))
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="DatabricksRealm"'
        headers["x-databricks-reason-phrase"] = _MESSAGES[401]
    return WireError(status, {"error_code": code, "message": f"{code}: {text}"}, headers)


def bad_request(message: str) -> WireError:
    """400 ``BAD_REQUEST`` with ``message``."""
    return WireError(400, {"error_code": "BAD_REQUEST", "message": message})


def anthropic_error(
    message: str, kind: str = "invalid_request_error", status: int = 400
) -> WireError:
    """An error in Anthropic's own shape, as the Messages route passes the provider's on."""
    return WireError(status, {"type": "error", "error": {"type": kind, "message": message}})


def invalid_parameter(message: str) -> WireError:
    """400 ``INVALID_PARAMETER_VALUE`` with ``message``."""
    return WireError(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": message})


def google_error(message: str, field: str) -> WireError:
    """A 400 in Google's own error shape, as Gemini endpoints pass it through."""
    violation = {"field": field, "description": message}
    kind = "type.googleapis.com/google.rpc.BadRequest"
    details = [{"@type": kind, "fieldViolations": [violation]}]
    body = {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": details}
    return WireError(400, {"error": body})


def with_request_info(body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """``body`` with the ``RequestInfo`` detail if it is a Databricks error body."""
    if "error_code" not in body:
        return body
    info = {
        "@type": "type.googleapis.com/google.rpc.RequestInfo",
        "request_id": request_id,
        "serving_data": "",
    }
    return {**body, "details": [*body.get("details", []), info]}


def extra_inputs(location: str) -> WireError:
    """The provider validation error for an unexpected key, JSON-encoded as the real one."""
    inner = json.dumps({"message": f"{location}: Extra inputs are not permitted"})
    return bad_request(inner)


def invalid_token() -> WireError:
    """403 for a wrong or expired token, with the integer ``error_code`` the service sends."""
    return WireError(403, {"error_code": 403, "message": "Invalid access token."})
