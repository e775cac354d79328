"""Agents on Databricks Apps: ``model="apps/<app name>"`` through the Responses API.

Databricks documents querying an agent hosted on Databricks Apps with
``DatabricksOpenAI(...).responses.create(model="apps/<app name>", ...)`` and a Databricks
OAuth token (docs/wire-facts.md#agent-endpoints). That client looks the app up
(``GET /api/2.0/apps/{name}``, whose answer has the app's ``url``), then sends the
Responses call to ``{url}/responses`` with the workspace's credential, ``model`` kept as
it was. This module holds those steps: the credential check (:func:`refuse_pat`), the
cached lookup (:class:`AppURLs`) and the hints an app's refusals get (:func:`app_errors`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import quote

from .._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConfigError,
    NotFoundError,
    PermissionDeniedError,
    ResponseFormatError,
)
from .errors import decode_json, httpx_errors, raise_for_status
from .transport import check_host, check_url, workspace_auth

if TYPE_CHECKING:
    from ..backends.base import BackendSettings

__all__ = ["APPS_DOCS", "AppURLs", "app_errors", "checked_app_url", "lookup_app_url", "refuse_pat"]

#: Where Databricks documents querying agents on Databricks Apps.
APPS_DOCS = "https://docs.databricks.com/gcp/en/generative-ai/agent-framework/query-agent"
#: databricks-sdk auth types whose credential is certainly not a Databricks OAuth token.
_NOT_OAUTH = frozenset({"pat", "basic"})
#: How long an app lookup may take at most (it is cached afterwards).
LOOKUP_TIMEOUT = 10.0


def _oauth_only(app: str) -> str:
    return (
        f"agents on Databricks Apps (app {app!r}) take a Databricks OAuth token, not a "
        "personal access token: sign in with OAuth (a service principal's client id and "
        "secret, or `databricks auth login`); see " + APPS_DOCS
    )


def refuse_pat(settings: BackendSettings, app: str, backend: str) -> None:
    """Refuse, before anything is sent, a credential databricks-sdk resolved as a
    personal access token (or user name and password): Databricks Apps take OAuth only.

    A bearer token string is let through: it may be an OAuth access token (``databricks
    auth token`` prints one); an app's refusal of it gets the same advice (:func:`app_errors`).
    """
    if settings.auth_type() in _NOT_OAUTH:
        raise AuthenticationError(_oauth_only(app), backend=backend)


def _lookup_failed(error: APIError, app: str) -> None:
    """Say what a failed lookup means for the app (the error keeps its class)."""
    if isinstance(error, NotFoundError):
        _amend(error, f"no Databricks App named {app!r} in this workspace, or you cannot see it")
    elif isinstance(error, PermissionDeniedError):
        _amend(error, f"you may not read the Databricks App {app!r} (GET /api/2.0/apps/{app})")


def _amend(error: APIError, hint: str) -> None:
    """Put ``hint`` in front of ``error``'s message, in place: its class, status and
    request id stay what they were."""
    error.message = f"{hint}: {error.message}"
    error.args = (error.message,)


def checked_app_url(data: object, app: str, settings: BackendSettings, backend: str) -> str:
    """The app's URL from its lookup answer, checked as any URL a credential goes to."""
    if not isinstance(data, Mapping):
        raise ResponseFormatError(
            f"the lookup of Databricks App {app!r} answered no app object", backend=backend
        )
    url = data.get("url")
    if url is None or url == "":
        raise NotFoundError(
            f"the Databricks App {app!r} has no URL: it is not deployed yet (deploy it, or "
            "wait until it runs)",
            backend=backend,
        )
    if not isinstance(url, str):
        raise ResponseFormatError(
            f"the Databricks App {app!r} has a URL that is not a string", backend=backend
        )
    try:
        return check_url(url, allow_insecure_http=settings.allow_insecure_http, key="app url")
    except ConfigError as exc:
        raise ResponseFormatError(
            f"the Databricks App {app!r} has a URL chatport will not send a credential to: {exc}",
            backend=backend,
        ) from None


def lookup_app_url(settings: BackendSettings, app: str, backend: str) -> str:
    """``GET /api/2.0/apps/{app}`` with the workspace's credential: the app's checked URL.

    HTTP errors map into chatport's errors (a ``404`` is a :class:`NotFoundError` saying
    there is no such app); an app without a URL is a :class:`NotFoundError` too; a URL
    that is not ``https://`` (``http://`` only to a loopback host) is refused.
    """
    import httpx

    from .._deadline import remaining

    url = f"{check_host(settings)}/api/2.0/apps/{quote(app, safe='')}"
    seconds = min(LOOKUP_TIMEOUT, remaining(settings.timeout))  # never past the deadline
    timeout = httpx.Timeout(seconds, connect=min(seconds, 10.0))
    headers = {"Accept": "application/json"}
    try:
        with httpx_errors(backend):
            response = httpx.get(
                url, headers=headers, timeout=timeout, auth=workspace_auth(settings)
            )
        status = response.status_code
        raise_for_status(status, response.headers, lambda: response.content, backend)
    except APIError as error:
        _lookup_failed(error, app)
        raise
    data = decode_json(status, response.headers, response.content, backend)
    return checked_app_url(data, app, settings, backend)


class AppURLs:
    """Each app's URL, looked up once per backend instance (a failed lookup is not kept)."""

    def __init__(self, settings: BackendSettings, backend: str) -> None:
        self.settings = settings
        self.backend = backend
        self._urls: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()  # guards _locks only, never held across a lookup

    def url(self, app: str) -> str:
        """The URL of ``app``: checks the credential, then looks the app up the first time."""
        known = self._urls.get(app)
        if known is not None:
            return known
        refuse_pat(self.settings, app, self.backend)
        with self._lock:
            lock = self._locks.setdefault(app, threading.Lock())
        with lock:  # one lookup per app, however many threads ask; other apps go on
            known = self._urls.get(app)
            if known is None:
                known = self._urls[app] = lookup_app_url(self.settings, app, self.backend)
        return known

    async def aurl(self, app: str) -> str:
        """:meth:`url` for async code: a first lookup runs in a worker thread."""
        known = self._urls.get(app)
        if known is not None:
            return known
        return await asyncio.to_thread(self.url, app)


@contextmanager
def app_errors(app: str) -> Iterator[None]:
    """Add to an app's refusal what it most likely means, keeping the error's class:
    ``401`` a credential that is not OAuth, ``403`` no ``CAN_USE``, ``404``/``405`` an
    app without the Responses API, no connection an app that is stopped."""
    try:
        yield
    except APIError as error:
        hint = _app_hint(error, app)
        if hint is not None:
            _amend(error, hint)
        raise


def _app_hint(error: APIError, app: str) -> str | None:
    if isinstance(error, APIConnectionError):
        return f"Databricks App {app!r} may be stopped or unavailable: check its status"
    status = error.status_code
    if status == 401:
        return _oauth_only(app)
    if status == 403:
        return f"ensure you have CAN_USE permission on Databricks App {app!r}"
    if status in (404, 405):
        return (
            f"Databricks App {app!r} may not serve the Responses API: an agent app answers "
            "POST /responses"
        )
    return None
