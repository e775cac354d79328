"""Where chatport finds the workspace, and the credential every backend sends.

One chain, first match wins, resolved without any network call:

1. **code**: ``Client(host=..., token=...)`` (a string, or a zero-argument callable
   called whenever a token is needed), ``Client(workspace_client=w)`` or
   ``Client(sdk_config=cfg)``;
2. **token_env**: the token from the environment variable it names (which must be set);
3. **DATABRICKS_HOST with DATABRICKS_TOKEN**;
4. **databricks-sdk's unified auth**, the way ``WorkspaceClient()`` resolves it:
   ``~/.databrickscfg`` profiles (``[DEFAULT]`` included), the notebook and job runtime,
   OAuth U2M through the Databricks CLI, OAuth M2M, Azure, GCP, OIDC and
   ``DATABRICKS_AUTH_TYPE``.

The host: code, then ``DATABRICKS_HOST``, then ``host`` in chatport's config, then the
profile (read from the file, no network) or, in a notebook, the runtime.

Every backend gets the same :class:`Workspace`: ``rest``, ``openai`` and ``responses``
ask it for the ``Authorization`` header of each request; ``mlflow`` and
``databricks-sdk`` build their ``WorkspaceClient`` on :meth:`Workspace.sdk_config`,
whose credentials strategy asks the same workspace. A token is never stored in the
config, never logged and never shown.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._config import Config
from ._credentials import (
    CodeCredentials,
    Credential,
    MissingCredential,
    NoCredential,
    SdkCredential,
    StaticToken,
    TokenCallable,
)
from ._databrickscfg import profile_file, read_profile
from ._errors import APIConnectionError, AuthenticationError, ChatportError, ConfigError
from ._hosts import is_loopback, parse_workspace_url, unreachable_reason
from ._redact import guard_loggers, redact, redact_url

__all__ = [
    "CREDENTIAL_VARIABLES",
    "CodeCredentials",
    "Workspace",
    "mask",
    "resolve_workspace",
]

#: Environment variables through which databricks-sdk's default chain may find a
#: credential or an auth type (a test holds this list to the SDK's own attributes).
CREDENTIAL_VARIABLES: tuple[str, ...] = (
    "DATABRICKS_TOKEN",
    "DATABRICKS_USERNAME",
    "DATABRICKS_PASSWORD",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_OIDC_TOKEN_ENV",
    "DATABRICKS_OIDC_TOKEN_FILEPATH",
    "DATABRICKS_OIDC_TOKEN_FILE",
    "DATABRICKS_OIDC_TOKEN",
    "DATABRICKS_TOKEN_AUDIENCE",
    "DATABRICKS_GOOGLE_SERVICE_ACCOUNT",
    "GOOGLE_CREDENTIALS",
    "DATABRICKS_AZURE_RESOURCE_ID",
    "ARM_USE_MSI",
    "ARM_CLIENT_SECRET",
    "ARM_CLIENT_ID",
    "ARM_TENANT_ID",
    "DATABRICKS_METADATA_SERVICE_URL",
    "DATABRICKS_AUTH_TYPE",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_RUNTIME_VERSION",
    "IS_IN_DB_MODEL_SERVING_ENV",
    "IS_IN_DATABRICKS_MODEL_SERVING_ENV",
)

#: Command-line tools databricks-sdk asks for a token (U2M logins, Azure CLI).
_CREDENTIAL_TOOLS = ("databricks", "az")


def mask(secret: str | None) -> str:
    """A safe stand-in for a secret: never any of its characters."""
    return "(not set)" if not secret else "****** (masked)"


# -- the workspace ------------------------------------------------------------------------


@dataclass
class Workspace:
    """Where and as whom to call: the host and one credential, shared by every backend.

    ``timeout`` bounds the first resolution of an SDK credential (its host probe and
    token fetch) when no call's deadline is running.
    """

    host: str | None
    host_source: str
    credential: Credential = field(default_factory=NoCredential, repr=False)
    profile: str | None = None
    timeout: float = 60.0
    #: True when nothing at all is configured (the CLI's embedded workspace may answer).
    empty: bool = False

    @property
    def configured(self) -> bool:
        """Whether any workspace is configured at all."""
        return not self.empty

    @property
    def token_source(self) -> str | None:
        """Where the credential comes from (``None`` when there is none)."""
        if isinstance(self.credential, NoCredential | MissingCredential):
            return None
        return self.credential.source

    def _wait(self) -> float:
        from ._deadline import remaining

        return remaining(self.timeout)

    def resolved_host(self) -> str | None:
        """The host, resolving the SDK chain first when only it knows (a notebook).

        A token with no host stays without one (chatport never guesses where to send
        it): a backend that needs the host refuses to send.
        """
        if self.host is None and isinstance(self.credential, SdkCredential):
            config = self.credential.config(self._wait())
            host = getattr(config, "host", None) if config is not None else None
            self.host = str(host) if host else None
            self.credential.host = self.host
        return self.host

    def headers(self) -> dict[str, str]:
        """The headers that authenticate a request now (the libraries that send them
        mask the credential in their log records: :func:`chatport._redact.guard_loggers`)."""
        guard_loggers()
        return self.credential.headers(self._wait())

    def token(self) -> str | None:
        """The current bearer token, or ``None`` (no credential, or not a bearer one)."""
        value = self.headers().get("Authorization", "")
        scheme, _, credential = value.partition(" ")
        return credential if scheme.lower() == "bearer" and credential else None

    def auth_type(self) -> str | None:
        """databricks-sdk's auth type of the credential (``pat``, ``oauth-m2m``, ...) when
        databricks-sdk resolved it; ``None`` for any other credential: a bearer token
        string may be a personal access token or an OAuth access token alike."""
        if not isinstance(self.credential, SdkCredential):
            return None
        config = self.credential.config(self._wait())
        auth_type = getattr(config, "auth_type", None) if config is not None else None
        return auth_type if isinstance(auth_type, str) and auth_type else None

    def refresh(self) -> bool:
        """Make the next request fetch a new credential; whether the credential can."""
        return self.credential.refresh()

    def sdk_config(self, **overrides: Any) -> Any:
        """A databricks-sdk ``Config`` for this workspace, for a ``WorkspaceClient``.

        When databricks-sdk's own chain resolved the credential, a copy of that
        ``Config`` (its host probe already done, nothing sent again); otherwise a new one
        whose credentials strategy asks this workspace, with ``overrides`` (``Config``
        keyword arguments such as ``retry_timeout_seconds``). Either way chatport's
        requests carry :meth:`headers`, so every backend sends the same credential.
        Debug logging of headers stays off: the token never reaches a log record.
        """
        try:
            from databricks.sdk.config import Config as SdkConfig
        except ImportError:
            raise ConfigError("this needs databricks-sdk: pip install databricks-sdk") from None
        if isinstance(self.credential, SdkCredential) and self.credential.owned:
            resolved = self.credential.config(self._wait())
            if resolved is not None:  # overrides are not applied to the chain's own
                return resolved.copy()
        host = self.resolved_host()
        if host is None:  # never the host databricks-sdk would guess from a profile
            raise ConfigError(
                "no workspace host configured: set DATABRICKS_HOST, `host` in chatport's "
                "config, or pass host= to chatport.Client",
                key="host",
            )
        strategy = _strategy(self)
        try:
            return SdkConfig(
                host=host,
                credentials_strategy=strategy,
                auth_type=strategy.auth_type(),
                debug_headers=False,
                **overrides,
            )
        except ChatportError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"databricks-sdk could not configure the workspace: {redact(str(exc))}"
            ) from None

    def __repr__(self) -> str:
        return (
            f"Workspace(host={self.host and redact_url(self.host)!r}, "
            f"host_source={self.host_source!r}, credential={self.token_source!r})"
        )


def _strategy(workspace: Workspace) -> Any:
    """A databricks-sdk ``CredentialsStrategy`` that asks ``workspace`` for each request's
    headers (the SDK is imported here, never by ``import chatport``)."""
    from databricks.sdk.credentials_provider import CredentialsStrategy

    class ChatportCredentials(CredentialsStrategy):
        def auth_type(self) -> str:
            return "chatport"

        def __call__(self, cfg: Any) -> Any:
            return workspace.headers

    return ChatportCredentials()


# -- resolution ---------------------------------------------------------------------------


def _may_have_sdk_credential(
    environ: Mapping[str, str], profile: Mapping[str, str] | None, *, tools: bool = True
) -> bool:
    """Whether databricks-sdk's chain could find a credential (judged without running it).

    ``tools``: count the command-line tools it may ask (a Databricks CLI login, the Azure
    CLI); never for a local workspace, which no CLI logs in to.
    """
    if profile and set(profile) - {"host"}:
        return True
    if any(environ.get(name) for name in CREDENTIAL_VARIABLES if name != "DATABRICKS_TOKEN"):
        return True
    if not tools:
        return False
    if environ.get("DATABRICKS_CLI_PATH"):
        return True
    return any(shutil.which(tool) for tool in _CREDENTIAL_TOOLS)


def _looked_for(token_env: str | None, profile_name: str | None, environ: Mapping[str, str]) -> str:
    places = ["a token passed in code", "DATABRICKS_TOKEN"]
    if token_env:
        places.insert(1, f"{token_env} (token_env)")
    path = profile_file(environ)
    places.append(
        f"the profile {profile_name!r} in {path}" if profile_name else f"a profile in {path}"
    )
    places.append(
        "databricks-sdk's unified auth (pat, basic, oauth-m2m, OIDC, Azure, Google, the "
        "Databricks CLI login, the notebook runtime)"
    )
    return ", ".join(places)


def _sdk_chain(
    host: str | None,
    profile: str | None,
    source: str,
    timeout: float,
    *,
    shown_host: str | None = None,
) -> SdkCredential:
    """A credential resolved by databricks-sdk's default chain, as ``WorkspaceClient()``.

    ``host`` is passed to the SDK (``None``: it reads its own, from the profile or the
    runtime); ``shown_host`` is what messages name.
    """
    shown_host = shown_host or host

    def build() -> Any:
        try:
            from databricks.sdk.config import Config as SdkConfig
        except ImportError:
            raise ConfigError(
                "a Databricks workspace is configured for databricks-sdk's unified auth "
                f"({source}), which needs databricks-sdk: pip install databricks-sdk"
            ) from None
        kwargs: dict[str, Any] = {
            # a one-second budget for its host probe: an unreachable host fails fast
            # (chatport's requests are sent once and bounded by chatport's deadline)
            "retry_timeout_seconds": 1,
            "http_timeout_seconds": max(1, round(timeout)),
            "debug_headers": False,
        }
        if host:
            kwargs["host"] = host
        if profile:
            kwargs["profile"] = profile
        try:
            return SdkConfig(**kwargs)
        except Exception as exc:
            message = redact(str(exc))
        where = redact_url(shown_host) if shown_host else "the workspace"
        if "cannot configure default credentials" in message:
            if shown_host and is_loopback(_hostname(shown_host)):
                return None  # a local workspace: requests go without credentials
            raise AuthenticationError(
                f"no credential found for {where} ({source}): databricks-sdk says: {message}"
            )
        if message.startswith(("resolve:", "validate:")):
            raise ConfigError(f"databricks-sdk could not read the configuration: {message}")
        unreachable = unreachable_reason(shown_host, min(timeout, 3.0)) if shown_host else None
        if shown_host and unreachable:  # an OAuth flow that failed: the host is unreachable
            raise APIConnectionError(
                f"could not connect to {_origin_or(shown_host)}: {unreachable} "
                f"(while resolving credentials: {source})"
            )
        raise AuthenticationError(
            f"databricks-sdk could not get a credential for {where} ({source}): {message}"
        )

    return SdkCredential(build, source, shown_host, timeout=timeout)


def _origin_or(host: str | None) -> str | None:
    """``scheme://host:port`` of ``host``, or ``host`` itself when it is not a valid URL."""
    try:
        return parse_workspace_url(host).origin if host else host
    except ConfigError:
        return host


def resolve_workspace(
    config: Config,
    environ: Mapping[str, str] | None = None,
    code: CodeCredentials | None = None,
) -> Workspace:
    """Find the workspace host and credential (see the module doc), without any network call."""
    environ = os.environ if environ is None else environ
    code = code or CodeCredentials()
    timeout = config.timeout
    requested_profile = config.get("databricks_profile") or environ.get("DATABRICKS_CONFIG_PROFILE")

    # the host: code, then DATABRICKS_HOST, then the config file
    host: str | None = None
    host_source = "none"
    if config.get("host") and config.sources.get("host") == "argument":
        host, host_source = config.get("host"), "argument"
    elif environ.get("DATABRICKS_HOST"):
        host, host_source = environ["DATABRICKS_HOST"], "env DATABRICKS_HOST"
    elif config.get("host"):
        host, host_source = config.get("host"), config.sources.get("host", "config")

    # 1. in code
    given = code.given_sdk_config
    if given is not None:  # its own host, never another workspace's
        kind = "workspace_client" if code.workspace_client is not None else "sdk_config"
        given_host = str(given.host) if getattr(given, "host", None) else None
        if host_source == "argument" and given_host and _origin_or(host) != _origin_or(given_host):
            raise ConfigError(
                f"host= names another workspace than the {kind} passed with it; pass one",
                key="host",
            )
        credential: Credential = SdkCredential(
            lambda: given, f"code ({kind})", given_host, owned=False, timeout=timeout
        )
        return Workspace(given_host, f"code ({kind})", credential, None, timeout)
    if code.token is not None:
        token_credential: Credential = (
            StaticToken(code.token, "code (token)")
            if isinstance(code.token, str)
            else TokenCallable(code.token)
        )
        return Workspace(host, host_source, token_credential, None, timeout)

    # 2. token_env, 3. DATABRICKS_TOKEN
    token_env = config.get("token_env")
    if token_env:
        if not environ.get(token_env):
            raise ConfigError(
                f"token_env names {token_env}, which is not set (or empty) in the environment: "
                f"export {token_env}=... or remove token_env",
                path=None if config.sources.get("token_env") == "argument" else config.path,
                key="token_env",
            )
        credential = StaticToken(environ[token_env], f"env {token_env}")
        return Workspace(host, host_source, credential, None, timeout)
    if environ.get("DATABRICKS_TOKEN") and (host is not None or not requested_profile):
        credential = StaticToken(environ["DATABRICKS_TOKEN"], "env DATABRICKS_TOKEN")
        return Workspace(host, host_source, credential, None, timeout)

    # 4. databricks-sdk's unified auth
    profile = None
    if host is None or requested_profile:
        profile = read_profile(environ, requested_profile)
    in_runtime = bool(environ.get("DATABRICKS_RUNTIME_VERSION"))
    if host is None and profile is not None and profile[1].get("host"):
        host, host_source = profile[1]["host"], f"profile {profile[0]} ({profile_file(environ)})"
    if host is None and not in_runtime and not environ.get("DATABRICKS_AZURE_RESOURCE_ID"):
        if profile is not None:
            raise ConfigError(
                f"the databricks profile {profile[0]!r} in {profile_file(environ)} has no host",
                key="databricks_profile",
            )
        return Workspace(None, "none", NoCredential(), None, timeout, empty=True)
    loopback = host is not None and is_loopback(_hostname(host))
    if host is not None and not _may_have_sdk_credential(
        environ, profile[1] if profile else None, tools=not loopback
    ):
        if loopback:  # a local workspace may ask for no credential
            return Workspace(host, host_source, NoCredential(), None, timeout)
        missing = MissingCredential(
            f"no credential for {redact_url(host)}: looked for "
            f"{_looked_for(token_env, requested_profile, environ)}; nothing was sent. Set "
            "DATABRICKS_TOKEN, add a profile to ~/.databrickscfg (`databricks auth login`), "
            "or pass token= to chatport.Client"
        )
        return Workspace(host, host_source, missing, None, timeout)
    if profile is not None:
        source = f"databricks-sdk (profile {profile[0]})"
    elif in_runtime:
        source = "databricks-sdk (Databricks runtime)"
    else:
        source = "databricks-sdk (unified auth)"
    if host is None:
        host_source = source
    profile_name = (
        profile[0] if profile is not None and profile[0] != "DEFAULT" else requested_profile
    )
    # a host read from the profile is left to databricks-sdk to read with the rest of it
    sdk_host = None if host_source.startswith("profile ") else host
    credential = _sdk_chain(sdk_host, profile_name, source, timeout, shown_host=host)
    return Workspace(host, host_source, credential, profile_name, timeout)


def _hostname(host: str) -> str:
    try:
        return parse_workspace_url(host).hostname
    except ConfigError:
        return ""
