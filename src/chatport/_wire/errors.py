"""Every failure mapped into the chatport error tree, once.

An HTTP error answer becomes an error through one function, :func:`error_from_response`,
keyed on the real status and body, whichever client received it: the same wire answer
is the same error class, message and retry decision on every backend. Each client
library gets one context manager that finds the real answer under its exceptions (as
httpx's ``map_httpcore_exceptions`` does) and maps what is left, transport failures:

* :func:`httpx_errors` for httpx (``rest``, endpoint listings);
* :func:`openai_errors` for the openai client (``openai``, ``responses``);
* :func:`requests_errors` for databricks-sdk's API client (``databricks-sdk``,
  ``mlflow``), whose exceptions drop the status and headers: a
  :class:`ResponseCapture` passed as the request's ``auth`` records the real answer.

The error bodies read are the shapes real endpoints send: Databricks
(``error_code``/``message``), OpenAI and Google (``{"error": {...}}``), and an external
model's error nested under ``external_model_error``. Unity AI Gateway's governance
answers become their own classes (:mod:`.governance`): a guardrail block a
:class:`GuardrailError` (also when sent inside a stream: :func:`error_from_event`), a
budget block a :class:`BudgetExceededError`, and a 429 says which limit was hit.
"""

from __future__ import annotations

import email.utils
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from .._deadline import timeout_phrase
from .._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BudgetExceededError,
    ChatportError,
    GuardrailError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    error_for_status,
)
from .._redact import CREDENTIAL_HEADERS, mask_secrets, redact
from .governance import budget_name, guardrail_block, is_budget_block, rate_limit_kind

__all__ = [
    "ERROR_CODE_STATUS",
    "ResponseCapture",
    "SDKErrors",
    "connection_failed",
    "decode_json",
    "error_from_event",
    "error_from_response",
    "httpx_errors",
    "map_transport_error",
    "openai_errors",
    "parse_retry_after",
    "raise_for_status",
    "request_id_from",
    "requests_errors",
    "retry_after_from",
    "sanitize_exception",
]

_REQUEST_ID_HEADERS = ("x-request-id", "x-databricks-request-id", "x-databricks-org-request-id")

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


# -- one HTTP error answer -----------------------------------------------------------


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
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def retry_after_from(headers: Mapping[str, str]) -> float | None:
    """Seconds an answer's headers ask the client to wait: ``retry-after-ms`` (sent by
    OpenAI and Anthropic) when it is a number, else ``Retry-After``."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            seconds = float(millis) / 1000
        except ValueError:
            seconds = None
        if seconds is not None and seconds == seconds:  # not NaN
            return max(0.0, seconds)
    return parse_retry_after(headers.get("retry-after"))


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
    """The server's message, whatever the shape of its error body."""
    if not isinstance(body, Mapping):
        return None
    nested = body.get("external_model_error")
    if isinstance(nested, Mapping):  # an external model's error, wrapped by Databricks
        inner = _describe(nested) or json.dumps(nested)[:200]
        provider = body.get("external_model_provider")
        return f"{provider}: {inner}" if isinstance(provider, str) and provider else inner
    error = body.get("error")
    if isinstance(error, Mapping):  # OpenAI and Google
        message = error.get("message")
        code = error.get("status") or error.get("code") or error.get("type")
        if isinstance(message, str) and message:
            return f"{code}: {message}" if isinstance(code, str) and code else message
        return json.dumps(error)[:200]
    message = body.get("message")
    code = body.get("error_code")
    if isinstance(message, str) and message:
        if isinstance(code, str) and not message.startswith(code):
            return f"{code}: {message}"
        return message
    if isinstance(error, str) and error:
        return error
    if isinstance(code, str) and code:
        return code
    return None


def error_from_response(
    status: int, headers: Mapping[str, str], content: bytes, backend: str
) -> APIError:
    """The chatport error for an HTTP answer that is not a success.

    4xx and 5xx map by status (:func:`chatport._errors.error_for_status`); any other
    status a server should never end a call with (1xx, 3xx, 600 and up) is a
    :class:`ResponseFormatError`. The message is the server's, whatever its body shape.
    """
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
    if not 400 <= status < 600:
        return ResponseFormatError(f"unexpected answer status: {message}", **kwargs)
    cls = error_for_status(status)
    server_text = _server_text(body)
    if cls is RateLimitError:
        limit = rate_limit_kind(described)
        return RateLimitError(message, retry_after=retry_after_from(headers), limit=limit, **kwargs)
    if status < 500 and server_text is not None:
        governed = _governance_error(status, server_text, message, kwargs)
        if governed is not None:
            return governed
    return cls(message, **kwargs)


def _server_text(body: Any) -> str | None:
    """The server's own message, before any code is put in front of it."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(body.get("message"), str):
        return str(body["message"])
    return error if isinstance(error, str) else None


class AuthenticationGuardrailError(GuardrailError, AuthenticationError):
    """A guardrail block answered with a 401: caught as either class."""


class PermissionDeniedGuardrailError(GuardrailError, PermissionDeniedError):
    """A guardrail block answered with a 403: caught as either class."""


class NotFoundGuardrailError(GuardrailError, NotFoundError):
    """A guardrail block answered with a 404: caught as either class."""


#: The guardrail error of each status class :class:`GuardrailError` does not derive from,
#: so that ``except NotFoundError`` still catches a 404 whatever it says.
_GUARDRAIL_BY_CLASS: Mapping[type[APIError], type[GuardrailError]] = {
    AuthenticationError: AuthenticationGuardrailError,
    PermissionDeniedError: PermissionDeniedGuardrailError,
    NotFoundError: NotFoundGuardrailError,
}
#: The statuses whose guardrail report or documented block wording is a guardrail block;
#: on any other, only the explicit ``blocked by ... guardrail`` is.
_GUARDRAIL_STATUSES = frozenset({400, 422})


def _governance_error(
    status: int, text: str, message: str, kwargs: dict[str, Any]
) -> APIError | None:
    """A guardrail block or a budget block (a 403), else ``None``. ``text`` is the
    server's message, ``message`` the error's usual one (docs/wire-facts.md#governance-errors).

    A guardrail block is always an instance of the status's own class too: on a 400 or
    a 422 (an :class:`APIError`) a :class:`GuardrailError`, on a 401, 403 or 404 a
    subclass of both :class:`GuardrailError` and that status's class.
    """
    block = guardrail_block(text, explicit=status not in _GUARDRAIL_STATUSES)
    if block is not None:
        plain = error_for_status(status)
        cls = GuardrailError if issubclass(GuardrailError, plain) else None
        cls = cls or _GUARDRAIL_BY_CLASS.get(plain)
        if cls is not None:
            return cls(
                f"HTTP {status}: {block.summary}",
                stage=block.stage,
                guardrail=block.guardrail,
                findings=block.findings,
                **kwargs,
            )
    if status == 403 and is_budget_block(text):
        return BudgetExceededError(message, budget=budget_name(text), **kwargs)
    return None


def error_from_event(data: Any, backend: str | None) -> APIError:
    """The chatport error for an ``error`` a stream (or a 200 answer) carries.

    A guardrail block is a :class:`GuardrailError` (``status_code`` ``None``: the answer
    had started); anything else is an :class:`APIError` with the server's message.
    """
    text = _server_text(data)
    if text is None and isinstance(data, Mapping):
        inner = data.get("error")
        text = _server_text(inner) if isinstance(inner, Mapping) else None
    if text is not None:
        block = guardrail_block(text)
        if block is not None:
            return GuardrailError(
                block.summary,
                stage=block.stage,
                guardrail=block.guardrail,
                findings=block.findings,
                backend=backend,
            )
    shown = text if text is not None else _describe(data) if isinstance(data, Mapping) else data
    return APIError(f"the server reported an error: {shown}", backend=backend)


def raise_for_status(
    status: int, headers: Mapping[str, str], read: Callable[[], bytes], backend: str
) -> None:
    """Raise :func:`error_from_response` unless ``status`` is a 2xx (``read`` gives the body)."""
    if not 200 <= status < 300:
        raise error_from_response(status, headers, read(), backend)


def decode_json(status: int, headers: Mapping[str, str], content: bytes, backend: str) -> Any:
    """The JSON of a success answer's body, or :class:`ResponseFormatError`."""
    try:
        return json.loads(content)
    except ValueError:
        raise ResponseFormatError(
            f"the server answered HTTP {status} with a body that is not JSON",
            status_code=status,
            backend=backend,
            request_id=request_id_from(headers),
        ) from None


# -- transport failures --------------------------------------------------------------


def sanitize_exception(exc: BaseException) -> None:
    """Make ``exc`` (and its causes) safe to hand to the caller.

    SDKs and HTTP libraries keep request headers, the token among them, in their locals
    and in the request objects their errors carry, and a server may repeat the token in
    its error body. So the finished frames ``exc`` went through lose their locals (frames
    still running are kept), every credential header of a request or response an error
    holds is masked, and every remembered credential (:mod:`chatport._redact`) is masked
    in the errors' messages, attributes and recorded bodies.
    """
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        _scrub_error(current)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _scrub_error(exc: BaseException) -> None:
    """Mask credentials in what ``exc`` holds: its arguments and its attributes."""
    if any(isinstance(arg, str) and mask_secrets(arg) != arg for arg in exc.args):
        exc.args = tuple(mask_secrets(a) if isinstance(a, str) else a for a in exc.args)
    try:
        attributes = vars(exc)
    except TypeError:  # an exception type with slots only
        return
    for name, value in list(attributes.items()):
        if isinstance(value, str | dict | list):
            masked = _masked_value(value)
            if masked is not value:
                attributes[name] = masked
        elif hasattr(value, "headers"):  # a request or a response
            _scrub_message(value)


def _masked_value(value: Any) -> Any:
    """``value`` (a string or JSON-like data) with remembered credentials masked; the
    same object when there is none."""
    if isinstance(value, str):
        masked = mask_secrets(value)
        return value if masked == value else masked
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return value
    masked = mask_secrets(text)
    return value if masked == text else json.loads(masked)


def _scrub_message(message: Any) -> None:
    """Mask the credential headers of an HTTP request or response object (httpx,
    requests), its request's, and remembered credentials in a body already read."""
    _mask_headers(getattr(message, "headers", None))
    try:
        request = getattr(message, "request", None)  # httpx raises when there is none
    except RuntimeError:
        request = None
    if request is not None and request is not message:
        _mask_headers(getattr(request, "headers", None))
    # a body already read (httpx and requests keep it in ``_content``): the server may
    # have repeated the token there
    content = vars(message).get("_content") if hasattr(message, "__dict__") else None
    if isinstance(content, bytes) and content:
        text = content.decode("utf-8", "replace")
        masked = mask_secrets(text)
        if masked != text:
            message._content = masked.encode()
            vars(message).pop("_text", None)  # httpx's decoded copy


def _mask_headers(headers: Any) -> None:
    if headers is None or not hasattr(headers, "keys"):
        return
    try:
        for name in list(headers.keys()):
            value = headers[name]
            if isinstance(name, bytes):
                name = name.decode("latin-1")
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if name.lower() in CREDENTIAL_HEADERS:
                headers[name] = "****"
            elif isinstance(value, str) and mask_secrets(value) != value:
                headers[name] = mask_secrets(value)  # a server repeating the token
    except (TypeError, ValueError, AttributeError, KeyError):  # an immutable or odd mapping
        return


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _origin(exc: BaseException) -> str | None:
    """``scheme://host:port`` of the request an HTTP library's exception carries."""
    from urllib.parse import urlsplit

    for error in _chain(exc):
        try:
            request = getattr(error, "request", None)
            url = getattr(request, "url", None)
        except Exception:  # httpx raises when an error has no request
            continue
        if url:
            try:
                parts = urlsplit(str(url))
                port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
                host = parts.hostname or ""
            except ValueError:
                continue
            host = f"[{host}]" if ":" in host else host
            return f"{parts.scheme}://{host}:{port}"
    return None


def _never_connected(exc: BaseException) -> bool:
    """Whether a timeout happened while connecting (nothing was sent)."""
    return any(type(error).__name__ == "ConnectTimeout" for error in _chain(exc))


#: What went wrong, by the class name of an exception in the chain (httpx, httpx2,
#: httpcore, requests and urllib3 name theirs alike), innermost first.
_REASONS = (
    ("ConnectTimeout", "the connection timed out"),
    ("ConnectTimeoutError", "the connection timed out"),
    ("NameResolutionError", "the host name could not be resolved"),
    ("SSLError", "the TLS handshake failed (is it an http:// server?)"),
    ("RemoteProtocolError", "the connection broke during the answer"),
    ("ProtocolError", "the connection broke during the answer"),
    ("ChunkedEncodingError", "the connection broke during the answer"),
    ("IncompleteRead", "the connection broke during the answer"),
)


def _reason(exc: BaseException) -> str:
    """What went wrong under a connection failure, in the same words for every client."""
    import socket
    import ssl

    errors = list(_chain(exc))
    for error in reversed(errors):  # the OS's own error, where the chain kept it
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, socket.gaierror):
            return "the host name could not be resolved"
        if isinstance(error, ssl.SSLError):
            return "the TLS handshake failed (is it an http:// server?)"
        if isinstance(error, ConnectionResetError):
            return "the connection was reset"
    names = [type(error).__name__ for error in reversed(errors)]
    for name, reason in _REASONS:
        if name in names:
            return reason
    # the libraries that keep only the OS's message: its errno text, never a URL
    text = " ".join(str(error) for error in errors).lower()
    if "[errno 111]" in text or "connection refused" in text:
        return "connection refused"
    if "[errno -2]" in text or "[errno -3]" in text or "name or service not known" in text:
        return "the host name could not be resolved"
    if "[errno 104]" in text or "connection reset by peer" in text:
        return "the connection was reset"
    return names[0]


def connection_failed(exc: BaseException, backend: str) -> APIConnectionError:
    """``could not connect to URL: reason``, the one wording of every backend.

    The URL is the scheme, host and port the client tried (never a path or user info).
    """
    origin = _origin(exc)
    where = f"could not connect to {origin}" if origin else "the connection failed"
    return APIConnectionError(f"{where}: {_reason(exc)}", backend=backend)


def map_transport_error(exc: BaseException, backend: str) -> APIError:
    """The chatport error for a failure that carries no HTTP answer.

    httpx, httpx2 and requests timeouts and connection failures, Python's own
    ``TimeoutError``/``ConnectionError``, and databricks-sdk errors raised without an
    answer (its host probe). The finished frames of ``exc`` lose their locals.
    """
    sanitize_exception(exc)
    name = type(exc).__name__
    for module_name in ("httpx", "httpx2"):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        if isinstance(exc, module.ConnectTimeout):
            return connection_failed(exc, backend)
        if isinstance(exc, module.TimeoutException):
            return APITimeoutError(
                f"the request timed out: {name} ({timeout_phrase()})", backend=backend
            )
        if isinstance(exc, module.HTTPError | module.StreamError):
            return connection_failed(exc, backend)
    requests_exceptions = sys.modules.get("requests.exceptions")
    if requests_exceptions is not None:
        if isinstance(exc, requests_exceptions.ConnectTimeout):
            return connection_failed(exc, backend)
        if isinstance(exc, requests_exceptions.Timeout):
            return APITimeoutError(
                f"the request timed out: {name} ({timeout_phrase()})", backend=backend
            )
        if isinstance(
            exc, requests_exceptions.ConnectionError | requests_exceptions.ChunkedEncodingError
        ):
            return connection_failed(exc, backend)
    sdk_errors = sys.modules.get("databricks.sdk.errors.base")
    if sdk_errors is not None and isinstance(exc, sdk_errors.DatabricksError):
        return _from_sdk_error(exc, backend)
    if isinstance(exc, TimeoutError):
        cause = exc.__cause__
        if isinstance(cause, Exception) and cause is not exc:  # not asyncio.timeout's cancel
            return map_transport_error(cause, backend)  # the SDK's retries ran out
        return APITimeoutError(
            f"the request timed out: {name} ({timeout_phrase()})", backend=backend
        )
    if isinstance(exc, ConnectionError):
        return connection_failed(exc, backend)
    return APIError(f"unexpected failure: {name}: {exc}", backend=backend)


def _from_sdk_error(exc: Any, backend: str) -> APIError:
    """A databricks-sdk error with no answer recorded: its ``error_code`` decides."""
    code = getattr(exc, "error_code", None)
    status = ERROR_CODE_STATUS.get(code) if isinstance(code, str) else None
    message = str(exc)
    if status is None:
        return APIError(f"the workspace client failed: {message}", backend=backend)
    kwargs: dict[str, Any] = {"status_code": status, "backend": backend}
    if status == 429:
        return RateLimitError(f"HTTP 429: {message}", limit=rate_limit_kind(message), **kwargs)
    governed = _governance_error(status, message, f"HTTP {status}: {message}", kwargs)
    if governed is not None:
        return governed
    return error_for_status(status)(f"HTTP {status}: {message}", **kwargs)


def _timed_out(name: str, backend: str) -> APITimeoutError:
    return APITimeoutError(f"the request timed out: {name} ({timeout_phrase()})", backend=backend)


def _deadline_passed(backend: str) -> APITimeoutError:
    return APITimeoutError(f"the call did not finish in time ({timeout_phrase()})", backend=backend)


def _credentials_error(exc: BaseException, backend: str) -> AuthenticationError:
    return AuthenticationError(
        f"could not get workspace credentials: {type(exc).__name__}: {redact(str(exc))}",
        backend=backend,
    )


# -- one context manager per client library ---------------------------------------------


class SDKErrors:
    """``with SDKErrors(backend, map_error):`` (or ``async with``): what an SDK raises,
    mapped into chatport's errors by ``map_error`` (``None``: leave it as it is).

    chatport errors pass through; anything else ``map_error`` maps is raised as its
    chatport error, with the SDK error as ``__cause__`` (sanitized first). Cancellation,
    ``KeyboardInterrupt`` and ``GeneratorExit`` pass as they are. For plugin backends
    built on an SDK of their own (the kit exports it).
    """

    __slots__ = ("backend", "map_error")

    def __init__(
        self, backend: str, map_error: Callable[[BaseException, str], APIError | None]
    ) -> None:
        self.backend = backend
        self.map_error = map_error

    def __enter__(self) -> SDKErrors:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, ChatportError) or not isinstance(exc, Exception):
            return
        error = self.map_error(exc, self.backend)
        if error is None:
            return
        sanitize_exception(exc)
        raise error from exc

    async def __aenter__(self) -> SDKErrors:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, exc, tb)


class httpx_errors:  # lower case: it is used like a function, ``with httpx_errors(...)``
    """Map what an httpx call raises (its error answers are read by the caller).

    A plain class rather than a generator context manager: every ``rest`` call enters one.
    """

    __slots__ = ("backend",)

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not isinstance(exc, Exception) or isinstance(exc, ChatportError):
            return  # no error, a chatport error already, or not an error (cancellation)
        if isinstance(exc, TimeoutError):  # asyncio.timeout around the call: the deadline
            raise _deadline_passed(self.backend) from None
        raise map_transport_error(exc, self.backend) from exc


@contextmanager
def openai_errors(backend: str) -> Iterator[None]:
    """Map what the openai client raises: its error answers by their real status and body."""
    try:
        yield
    except ChatportError:
        raise
    except TimeoutError:
        raise _deadline_passed(backend) from None
    except Exception as exc:
        sanitize_exception(exc)
        import openai

        if isinstance(exc, openai.APIStatusError):
            response = exc.response
            raise error_from_response(
                exc.status_code, response.headers, response.content, backend
            ) from exc
        if isinstance(exc, openai.APITimeoutError):
            if _never_connected(exc):
                raise connection_failed(exc, backend) from exc
            raise APITimeoutError(
                f"the request timed out ({timeout_phrase()})", backend=backend
            ) from exc
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            if isinstance(cause, ChatportError):  # raised by chatport's own auth flow
                raise cause from None
            raise connection_failed(exc, backend) from exc
        if isinstance(exc, openai.APIResponseValidationError):
            raise ResponseFormatError(
                f"the server answered an invalid response: {exc}", backend=backend
            ) from exc
        raise map_transport_error(exc, backend) from exc


class ResponseCapture:
    """A ``requests`` auth for databricks-sdk's API client that records the real answer.

    It sets the headers the workspace client's own auth sets (``Config.authenticate()``,
    so PAT, OAuth and profiles work as they do in the SDK) and keeps the last response,
    whose status, headers and body the SDK's exceptions do not carry. One per request.
    """

    def __init__(self, authenticate: Callable[[], Mapping[str, str]]) -> None:
        self._authenticate = authenticate
        self.response: Any = None
        self.failure: BaseException | None = None

    def __call__(self, request: Any) -> Any:
        try:
            request.headers.update(self._authenticate())
        except Exception as exc:
            self.failure = exc
            raise
        request.register_hook("response", self._record)
        return request

    def _record(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self.response = response
        return response

    def __repr__(self) -> str:
        return "<ResponseCapture>"


@contextmanager
def requests_errors(backend: str, capture: ResponseCapture | None = None) -> Iterator[None]:
    """Map what databricks-sdk's API client raises, by the real answer ``capture`` recorded."""
    try:
        yield
    except ChatportError:
        raise
    except Exception as exc:
        sanitize_exception(exc)
        if capture is not None and capture.failure is not None:
            raise _credentials_error(capture.failure, backend) from None
        response: Any = capture.response if capture is not None else None
        status = getattr(response, "status_code", None)
        if isinstance(status, int) and not 200 <= status < 300:
            raise error_from_response(status, response.headers, _read(response), backend) from exc
        raise map_transport_error(exc, backend) from exc


def _read(response: Any) -> bytes:
    """The body of an error answer the SDK already read (never a new, unbounded read)."""
    content = getattr(response, "_content", None)
    return content if isinstance(content, bytes) else b""
