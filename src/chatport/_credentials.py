"""The credentials chatport sends: where each ``Authorization`` header comes from.

One class per kind of source; :mod:`chatport._auth` picks one for the workspace. None
shows its secret in a repr, and a failure to get one is an :class:`AuthenticationError`
or :class:`APIConnectionError` whose message holds no secret.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._errors import APIConnectionError, AuthenticationError, ChatportError, ConfigError
from ._redact import redact, redact_url, remember_headers, remember_secret

#: The attributes of a databricks-sdk ``Config`` that hold a secret.
_CONFIG_SECRETS = (
    "token",
    "password",
    "client_secret",
    "azure_client_secret",
    "google_credentials",
    "actions_id_token_request_token",
)

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
    #: Whether :meth:`headers` may block (network, a subprocess, user code): async
    #: callers then ask for them on a worker thread, never on the event loop.
    may_block: bool = False

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
        remember_secret(token)
        self._header = {"Authorization": f"Bearer {token}"}
        self.source = source

    def headers(self, wait: float) -> dict[str, str]:
        return self._header

    def __repr__(self) -> str:
        return f"<token from {self.source}>"


class TokenCallable(Credential):
    """A zero-argument callable, called for each request (it may cache and refresh)."""

    may_block = True  # a vault or a secret manager behind it

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
        remember_secret(token)
        return {"Authorization": f"Bearer {token}"}

    def refresh(self) -> bool:
        return True  # it is called again for the next request

    def __repr__(self) -> str:
        return "<token callable>"


class BuiltOnce:
    """A value built on a daemon thread; callers wait for it as long as they may.

    A caller that gives up leaves the build running, and the next caller waits for that
    same build. A failed build is not kept: the next caller builds again (a workspace
    that was down may be up), and each caller gets its own copy of the error. A forked
    child, which has no build thread, builds again too.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._pid = -1
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._built = False

    @property
    def ready(self) -> bool:
        """Whether a value has been built (in this process)."""
        return self._built and self._pid == os.getpid()

    def get(self, wait: float) -> Any:
        """The value, building it if needed; ``TimeoutError`` after ``wait`` seconds."""
        with self._lock:
            if self._pid != os.getpid() or (self._done.is_set() and not self._built):
                self._pid = os.getpid()
                self._done = threading.Event()
                self._error = None
                done = self._done
                threading.Thread(
                    target=self._run, args=(done,), name="chatport-auth", daemon=True
                ).start()
            done = self._done
        if not done.wait(max(0.0, wait)):
            raise TimeoutError
        with self._lock:
            error, value = self._error, self._value
        if error is not None:
            raise _fresh(error)
        return value

    def _run(self, done: threading.Event) -> None:
        try:
            value = self._build()
        except BaseException as exc:  # handed to the callers waiting now, then forgotten
            with self._lock:
                self._error = exc
        else:
            with self._lock:
                self._value, self._built = value, True
        finally:
            done.set()


def _fresh(error: BaseException) -> BaseException:
    """A copy of ``error`` without its traceback, for one caller (one raise each)."""
    try:
        fresh = copy.copy(error)
    except Exception:  # an exception that cannot be copied is raised as it is
        return error
    fresh.__cause__, fresh.__suppress_context__ = error.__cause__, True
    return fresh.with_traceback(None)


class SdkCredential(Credential):
    """databricks-sdk's unified auth: a ``Config`` built once (bounded), asked per request.

    The SDK refreshes OAuth tokens before they expire; :meth:`refresh` builds the
    ``Config`` anew, for a credential the server refused before its expiry.
    """

    may_block = True  # its first resolution, a refresh

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
        self._built = BuiltOnce(self._build)
        #: built by chatport (with its timeouts), so it may be copied and built again
        self.owned = owned
        self._lock = threading.Lock()
        self.source = source
        self.host = host

    def _build(self) -> Any:
        """The ``Config``, its secrets remembered so no message ever repeats them."""
        config = self._build_config()
        for name in _CONFIG_SECRETS:
            remember_secret(getattr(config, name, None))
        return config

    def config(self, wait: float) -> Any:
        """The SDK ``Config``, waiting at most ``wait`` seconds for its first resolution."""
        with self._lock:
            built = self._built
        try:
            return built.get(wait)
        except TimeoutError:
            from ._deadline import timeout_phrase
            from ._hosts import parse_workspace_url, unreachable_reason

            reason = unreachable_reason(self.host, 0.5) if self.host else None
            if self.host and reason:  # the host cannot be reached: say so, naming it
                raise APIConnectionError(
                    f"could not connect to {parse_workspace_url(self.host).origin}: {reason} "
                    f"(while resolving credentials: {self.source})"
                ) from None
            where = redact_url(self.host) if self.host else "the workspace"
            raise APIConnectionError(
                f"could not reach {where} to resolve its credentials ({self.source}) "
                f"within {timeout_phrase(self.timeout)}"
            ) from None

    def headers(self, wait: float) -> dict[str, str]:
        config = self.config(wait)
        if config is None:  # a local workspace that asks for no credential
            return {}
        try:
            headers = dict(config.authenticate())
        except ChatportError:
            raise
        except Exception as exc:  # an expired login, a refused OAuth secret...
            raise AuthenticationError(
                f"databricks-sdk could not get a token ({self.source}): "
                f"{type(exc).__name__}: {redact(str(exc))}"
            ) from None
        remember_headers(headers)
        return headers

    def refresh(self) -> bool:
        """Build the ``Config`` again on the next request (once, however many callers
        saw the credential refused at the same time)."""
        if not self.owned:
            return False
        with self._lock:
            if self._built.ready:  # a rebuild already under way is left alone
                self._built = BuiltOnce(self._build)
        return True

    def __repr__(self) -> str:
        return f"<databricks-sdk credential from {self.source}>"
