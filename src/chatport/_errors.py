"""The chatport error tree.

Every error chatport raises derives from :class:`ChatportError`::

    ChatportError
    ├── ConfigError
    ├── BackendNotFoundError          unknown backend name; lists the installed ones
    ├── UnsupportedFeatureError
    ├── InvalidRequestError           bad messages or params, before anything is sent
    └── APIError                      .status_code, .backend, .request_id; the SDK error is __cause__
        ├── BadRequestError           400
        │   └── GuardrailError        a guardrail blocked it; .stage, .guardrail, .findings
        ├── AuthenticationError       401
        ├── PermissionDeniedError     403
        │   └── BudgetExceededError   a gateway budget reached its limit; .budget
        ├── NotFoundError             404 (endpoint does not exist)
        ├── RateLimitError            429; .retry_after in seconds when the server said,
        │                             .limit: "rpm", "tpm", "itpm", "otpm", "qps" or None
        ├── ServerError               5xx
        ├── APITimeoutError
        ├── APIConnectionError
        └── ResponseFormatError       the server answered something that is not a valid response

Backends raise these with ``raise ... from sdk_error`` so the original exception stays
available as ``__cause__``. No credential chatport sent or holds appears in an error's
message, ``str`` or ``repr``, even when the server repeats it (see
:mod:`chatport._redact`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeAlias

from ._redact import mask_secrets

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BackendNotFoundError",
    "BadRequestError",
    "BudgetExceededError",
    "ChatportError",
    "ConfigError",
    "GuardrailError",
    "GuardrailStage",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitKind",
    "ResponseFormatError",
    "ServerError",
    "UnsupportedFeatureError",
    "error_for_status",
]


class ChatportError(Exception):
    """Base class of every error chatport raises.

    ``attempts`` is how many tries a failed call made (retries and fallbacks included),
    or ``None`` for an error raised before anything was sent.
    """

    attempts: int | None = None

    def __init__(self, *args: object) -> None:
        super().__init__(*(mask_secrets(a) if isinstance(a, str) else a for a in args))

    def __str__(self) -> str:
        return mask_secrets(super().__str__())


class ConfigError(ChatportError):
    """The configuration is invalid: a bad file, an unknown key, a wrong type or profile.

    ``path`` is the file at fault (when there is one) and ``key`` the dotted key.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        prefix = f"{path}: " if path else ""
        super().__init__(prefix + message)


class BackendNotFoundError(ChatportError):
    """No backend is registered under the requested name."""

    def __init__(
        self,
        name: str,
        available: Iterable[str],
        *,
        path: str | None = None,
        key: str | None = None,
        origin: str | None = None,
    ) -> None:
        from ._suggest import did_you_mean

        self.name = name
        self.available = tuple(sorted(available))
        self.path = path
        self.key = key
        listed = ", ".join(self.available) or "none"
        where = (f"{path}: " if path else "") + (f"{key}: " if key else "")
        came = f" (from {origin})" if origin else ""
        hint = did_you_mean(name, self.available) if isinstance(name, str) else ""
        super().__init__(
            f"{where}unknown backend {name!r}{came}{hint}; installed backends: {listed}"
        )


class UnsupportedFeatureError(ChatportError):
    """The request needs a capability the chosen backend does not declare.

    ``feature`` names the capability and ``supported_by`` the backends that have it.
    ``message`` replaces the default text where the limit is the model's or the route's
    rather than the backend's.
    """

    def __init__(
        self,
        backend: str,
        feature: str,
        supported_by: Sequence[str],
        *,
        message: str | None = None,
    ) -> None:
        self.backend = backend
        self.feature = feature
        self.supported_by = tuple(supported_by)
        alternatives = ", ".join(self.supported_by) or "no installed backend"
        super().__init__(
            message
            or f"backend {backend!r} does not support {feature}; supported by: {alternatives}"
        )


class InvalidRequestError(ChatportError, ValueError):
    """The messages or parameters are invalid. Raised before anything is sent.

    ``field`` names the offending field, for example ``messages[2].role``.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


class APIError(ChatportError):
    """The backend or the server failed the call.

    ``status_code`` is the HTTP status where known, ``backend`` the backend name and
    ``request_id`` the server's request id where it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        backend: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message = mask_secrets(message)
        self.status_code = status_code
        self.backend = backend
        self.request_id = request_id
        super().__init__(message)

    def __str__(self) -> str:
        details = []
        if self.backend:
            details.append(f"backend={self.backend}")
        if self.status_code is not None:
            details.append(f"status={self.status_code}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        text = f"{self.message} ({', '.join(details)})" if details else self.message
        return mask_secrets(text)


class BadRequestError(APIError):
    """The server rejected the request (HTTP 400)."""


#: Where a guardrail stopped a call: on the request (``"input"``) or on the answer.
GuardrailStage: TypeAlias = Literal["input", "output"]
#: The limit a 429 says was hit: requests (or queries) per minute, tokens per minute,
#: input or output tokens per minute, queries per second.
RateLimitKind: TypeAlias = Literal["rpm", "tpm", "itpm", "otpm", "qps"]


class GuardrailError(BadRequestError):
    """A Unity AI Gateway guardrail blocked the call. Never retried.

    ``stage`` is ``"input"`` (the request was blocked before the model saw it) or
    ``"output"`` (the answer was blocked, possibly in the middle of a stream).
    ``guardrail`` is the guardrail's name when the answer gives one, else ``None``.
    ``findings`` holds what the guardrail reported, one plain dict per finding (for
    example ``{"flagged": True, "categories": {...}, "pii_detection": True}``), and is
    ``()`` when the answer reports none. ``status_code`` is ``None`` for a block sent
    inside a stream that had already started.
    """

    def __init__(
        self,
        message: str,
        *,
        stage: GuardrailStage = "input",
        guardrail: str | None = None,
        findings: Iterable[dict[str, Any]] = (),
        **kwargs: Any,
    ) -> None:
        self.stage: GuardrailStage = stage
        self.guardrail = guardrail
        self.findings: tuple[dict[str, Any], ...] = tuple(findings)
        super().__init__(message, **kwargs)


class AuthenticationError(APIError):
    """No valid credential was sent (HTTP 401)."""


class PermissionDeniedError(APIError):
    """The credential is invalid, expired, or lacks permission (HTTP 403)."""


class BudgetExceededError(PermissionDeniedError):
    """A Unity AI Gateway budget reached its limit and blocks usage (HTTP 403). Never
    retried: it lasts until the budget resets or an admin raises it.

    ``budget`` is the budget's name when the answer gives one, else ``None``.
    """

    def __init__(self, message: str, *, budget: str | None = None, **kwargs: Any) -> None:
        self.budget = budget
        super().__init__(message, **kwargs)


class NotFoundError(APIError):
    """The serving endpoint or path does not exist (HTTP 404)."""


class RateLimitError(APIError):
    """The server is rate limiting (HTTP 429).

    ``retry_after`` is the delay in seconds the server asked for, or ``None``.
    ``limit`` is the limit the answer says was hit: ``"rpm"`` (requests or queries per
    minute), ``"tpm"`` (tokens per minute), ``"itpm"`` / ``"otpm"`` (input / output
    tokens per minute), ``"qps"`` (queries per second), or ``None`` when it does not say.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        limit: RateLimitKind | None = None,
        **kwargs: object,
    ) -> None:
        self.retry_after = retry_after
        self.limit: RateLimitKind | None = limit
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ServerError(APIError):
    """The server failed (HTTP 5xx)."""


class APITimeoutError(APIError):
    """The call did not finish within its timeout."""


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke (including a dropped stream)."""


class ResponseFormatError(APIError):
    """The server answered something that is not a valid response.

    ``text`` holds the model's raw answer when it was an answer that did not match the
    requested ``response_format`` schema (``None`` otherwise).
    """

    def __init__(self, message: str, *, text: str | None = None, **kwargs: Any) -> None:
        self.text = None if text is None else mask_secrets(text)
        super().__init__(message, **kwargs)


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_for_status(status_code: int) -> type[APIError]:
    """Return the most specific :class:`APIError` subclass for an HTTP status."""
    if status_code >= 500:
        return ServerError
    return _BY_STATUS.get(status_code, APIError)
