"""Workspace host and credentials, following Databricks' own conventions.

Order for the host: ``DATABRICKS_HOST``, then ``host`` in chatport's config, then
databricks-sdk's unified auth (profiles in ``~/.databrickscfg``, OAuth) when installed.
The token comes from the variable named by ``token_env``, then ``DATABRICKS_TOKEN``,
then databricks-sdk. A token is never stored, logged or shown: :class:`Workspace`
hands it out only through :meth:`Workspace.token`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._config import Config
from ._errors import AuthenticationError, ChatportError, ConfigError
from ._redact import redact, redact_url

__all__ = ["Workspace", "mask", "resolve_workspace"]


def mask(secret: str | None) -> str:
    """A safe stand-in for a secret: never any of its characters."""
    return "(not set)" if not secret else "****** (masked)"


def _sdk_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("databricks.sdk") is not None
    except (ImportError, ValueError):
        return False


def _databrickscfg_has_profile(environ: Mapping[str, str], profile: str | None) -> bool:
    path = Path(environ.get("DATABRICKS_CONFIG_FILE") or Path.home() / ".databrickscfg")
    if not path.is_file():
        return False
    from configparser import ConfigParser

    parser = ConfigParser()
    try:
        parser.read(path)
    except Exception:
        return False
    if profile:
        return parser.has_section(profile)
    return bool(parser.defaults().get("host"))


@dataclass
class Workspace:
    """Where and as whom to call. ``token()`` gives the current token, refreshed if needed."""

    host: str | None
    host_source: str
    token_source: str | None
    profile: str | None = None
    _static_token: str | None = field(default=None, repr=False)
    _sdk_config: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def configured(self) -> bool:
        """Whether any workspace is configured at all."""
        return self.host is not None or self.token_source is not None

    def make_sdk_config(self, **overrides: Any) -> Any:
        """A new databricks-sdk ``Config`` for this workspace, with ``overrides`` applied."""
        try:
            from databricks.sdk.core import Config as SdkConfig
        except ImportError:
            raise ConfigError(
                "this needs databricks-sdk: pip install 'chatport[databricks]'"
            ) from None
        kwargs: dict[str, Any] = {}
        if self.profile:
            kwargs["profile"] = self.profile
        if self.host:
            kwargs["host"] = self.host
        if self._static_token:
            kwargs["token"] = self._static_token
            kwargs["auth_type"] = "pat"
        kwargs.update(overrides)
        try:
            return SdkConfig(**kwargs)
        except Exception as exc:
            raise ConfigError(
                f"databricks-sdk could not configure the workspace: {exc}",
                key="databricks_profile",
            ) from None

    def sdk_config(self) -> Any:
        """The databricks-sdk ``Config`` for this workspace (built once, lazily)."""
        with self._lock:
            if self._sdk_config is None:
                self._sdk_config = self.make_sdk_config()
            return self._sdk_config

    def token(self) -> str | None:
        """The current token, or ``None``."""
        if self._static_token is not None:
            return self._static_token
        if self.token_source != "databricks-sdk":
            return None
        try:
            headers = self.sdk_config().authenticate()
        except ChatportError:
            raise
        except Exception as exc:  # a wrong OAuth secret, an expired profile login...
            raise AuthenticationError(
                f"could not get a workspace token through databricks-sdk: "
                f"{type(exc).__name__}: {redact(str(exc))}"
            ) from None
        value = str(headers.get("Authorization", ""))
        scheme, _, credential = value.partition(" ")
        return credential if scheme.lower() == "bearer" else None

    def __repr__(self) -> str:
        return (
            f"Workspace(host={self.host and redact_url(self.host)!r}, "
            f"host_source={self.host_source!r}, "
            f"token={mask(self._static_token) if self._static_token else self.token_source!r})"
        )


def resolve_workspace(config: Config, environ: Mapping[str, str] | None = None) -> Workspace:
    """Find the workspace host and credential source, without any network call."""
    environ = os.environ if environ is None else environ
    profile = config.get("databricks_profile") or environ.get("DATABRICKS_CONFIG_PROFILE")
    host: str | None = None
    host_source = "none"
    if environ.get("DATABRICKS_HOST"):
        host, host_source = environ["DATABRICKS_HOST"], "env DATABRICKS_HOST"
    elif config.get("host"):
        host, host_source = config.get("host"), config.sources.get("host", "config")

    token: str | None = None
    token_source: str | None = None
    token_env = config.get("token_env")
    if token_env and environ.get(token_env):
        token, token_source = environ[token_env], f"env {token_env}"
    elif environ.get("DATABRICKS_TOKEN"):
        token, token_source = environ["DATABRICKS_TOKEN"], "env DATABRICKS_TOKEN"

    use_sdk = (host is None or token is None) and (
        profile is not None
        or environ.get("DATABRICKS_CLIENT_ID")
        or _databrickscfg_has_profile(environ, None)
    )
    if use_sdk and _sdk_available():
        if host is None:
            host_source = f"databricks-sdk (profile {profile or 'DEFAULT'})"
        if token is None:
            token_source = "databricks-sdk"
        workspace = Workspace(host, host_source, token_source, profile, token)
        if host is None:
            sdk_host = workspace.sdk_config().host
            workspace.host = str(sdk_host) if sdk_host else None
        return workspace
    return Workspace(host, host_source, token_source, profile, token)
