"""The credentials chatport sends: where each ``Authorization`` header comes from.

One class per kind of source; :mod:`chatport._auth` picks one for the workspace. None
shows its secret in a repr, and a failure to get one is an :class:`AuthenticationError`
or :class:`APIConnectionError` whose message holds no secret.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._errors import APIConnectionError, AuthenticationError, ChatportError, ConfigError
from ._redact import redact, redact_url

__all__ = [
    "BuiltOnce",
    "CodeCredentials",
    "Credential",
    "MissingCredential",
    "NoCredential",
    "SdkCredential",
    "StaticToken",
    "TokenCallable",
]


@dataclass(frozen=True)
class CodeCredentials:
    """Credentials handed to ``Client`` in code (never read from a file, never shown)."""

    token: str | Callable[[], str] | None = field(default=None, repr=False)
    workspace_client: Any = field(default=None, repr=False)
    sdk_config: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        token = self.token
        if token is not None and not (isinstance(token, str) and token) and not callable(token):
            raise ConfigError(
                f"token must be a non-empty string or a zero-argument callable returning one, "
                f"not {type(token).__name__}",
                key="token",
            )
        given = [n for n in ("token", "workspace_client", "sdk_config") if getattr(self, n)]
        if len(given) > 1:
            raise ConfigError(
                f"pass one of token, workspace_client or sdk_config, not {' and '.join(given)}",
                key=given[1],
            )
        for name in ("workspace_client", "sdk_config"):
            value = getattr(self, name)
            if value is not None and not callable(
                getattr(self._sdk_config_of(value), "authenticate", None)
            ):
                raise ConfigError(
                    f"{name} must be a databricks-sdk "
                    f"{'WorkspaceClient' if name == 'workspace_client' else 'Config'}, "
                    f"not {type(value).__name__}",
                    key=name,
                )

    @staticmethod
    def _sdk_config_of(value: Any) -> Any:
        return getattr(value, "config", value)

    @property
    def given_sdk_config(self) -> Any:
        """The databricks-sdk ``Config`` passed in code (directly or in a client), or None."""
        value = self.workspace_client or self.sdk_config
        return None if value is None else self._sdk_config_of(value)

    def __repr__(self) -> str:
        given = [n for n in ("token", "workspace_client", "sdk_config") if getattr(self, n)]
        return f"CodeCredentials({', '.join(given) or 'none'})"


class Credential:
    """Where the ``Authorization`` header comes from."""

    #: Where it was found, for ``chatport config`` and error messages.
    source: str = "none"

    def headers(self, wait: float) -> dict[str, str]:
        """The headers to send now (``wait``: the most seconds a first resolution may take)."""
        return {}

    def refresh(self) -> bool:
        """Drop what is cached so the next request gets a new credential; whether it can."""
        return False


class NoCredential(Credential):
    """A loopback workspace with nothing configured: requests go without credentials."""

    source = "none"


class MissingCredential(Credential):
    """A remote host with no credential anywhere: every request is refused before sending."""

    def __init__(self, message: str) -> None:
        self._message = message
        self.source = "none found"

    def headers(self, wait: float) -> dict[str, str]:
        raise AuthenticationError(self._message)


class StaticToken(Credential):
    def __init__(self, token: str, source: str) -> None:
        self._header = {"Authorization": f"Bearer {token}"}
        self.source = source

    def headers(self, wait: float) -> dict[str, str]:
        return self._header

    def __repr__(self) -> str:
        return f"<token from {self.source}>"


class TokenCallable(Credential):
    """A zero-argument callable, called for each request (it may cache and refresh)."""

    def __init__(self, provider: Callable[[], str]) -> None:
        self._provider = provider
        self.source = "code (token callable)"

    def headers(self, wait: float) -> dict[str, str]:
        try:
            token = self._provider()
        except ChatportError:
            raise
        except Exception as exc:
            raise AuthenticationError(
                f"the token callable passed to Client raised {type(exc).__name__}: "
                f"{redact(str(exc))}"
            ) from None
        if not isinstance(token, str) or not token or token != token.strip():
            raise AuthenticationError(
                "the token callable passed to Client must return a non-empty string without "
                f"surrounding white space, not {type(token).__name__}"
            )
        return {"Authorization": f"Bearer {token}"}

    def refresh(self) -> bool:
        return True  # it is called again for the next request

    def __repr__(self) -> str:
        return "<token callable>"


class BuiltOnce:
    """A value built once on a daemon thread; callers wait for it as long as they may.

    A caller that gives up leaves the build running; the next caller waits for the same
    build instead of starting another.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._started = False
        self._value: Any = None
        self._error: BaseException | None = None

    def get(self, wait: float) -> Any:
        with self._lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._run, name="chatport-auth", daemon=True).start()
        if not self._done.wait(max(0.0, wait)):
            raise TimeoutError
        if self._error is not None:
            raise self._error
        return self._value

    def _run(self) -> None:
        try:
            self._value = self._build()
        except BaseException as exc:  # handed to every caller
            self._error = exc
        finally:
            self._done.set()


class SdkCredential(Credential):
    """databricks-sdk's unified auth: a ``Config`` built once (bounded), asked per request.

    The SDK refreshes OAuth tokens before they expire; :meth:`refresh` builds the
    ``Config`` anew, for a credential the server refused before its expiry.
    """

    def __init__(
        self,
        build: Callable[[], Any],
        source: str,
        host: str | None,
        *,
        owned: bool = True,
        timeout: float | None = None,
    ) -> None:
        self.timeout = timeout  # the user's, for messages
        self._build_config = build
        self._built = BuiltOnce(build)
        #: built by chatport (with its timeouts), so it may be copied and built again
        self.owned = owned
        self._lock = threading.Lock()
        self.source = source
        self.host = host

    def config(self, wait: float) -> Any:
        """The SDK ``Config``, waiting at most ``wait`` seconds for its first resolution."""
        with self._lock:
            built = self._built
        try:
            return built.get(wait)
        except TimeoutError:
            from ._retry import timeout_phrase

            where = redact_url(self.host) if self.host else "the workspace"
            raise APIConnectionError(
                f"could not reach {where} to resolve its credentials ({self.source}) "
                f"within {timeout_phrase(self.timeout)}"
            ) from None

    def headers(self, wait: float) -> dict[str, str]:
        config = self.config(wait)
        try:
            return dict(config.authenticate())
        except ChatportError:
            raise
        except Exception as exc:  # an expired login, a refused OAuth secret...
            raise AuthenticationError(
                f"databricks-sdk could not get a token ({self.source}): "
                f"{type(exc).__name__}: {redact(str(exc))}"
            ) from None

    def refresh(self) -> bool:
        if not self.owned:
            return False
        with self._lock:
            self._built = BuiltOnce(self._build_config)
        return True

    def __repr__(self) -> str:
        return f"<databricks-sdk credential from {self.source}>"
