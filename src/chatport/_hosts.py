"""Host checks shared by the backends and the local workspace: one parser, one rule.

:func:`is_loopback` decides whether a bare host name or address is this machine;
:func:`parse_workspace_url` parses a workspace URL once, refuses forms that clients
read differently (user info, backslashes, whitespace), and says whether it is loopback.
No message ever repeats the URL's user info.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._errors import ConfigError

__all__ = ["WorkspaceURL", "is_loopback", "parse_workspace_url", "unreachable_reason"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bare name or address, IPv6 with or without brackets) is loopback.

    ``localhost`` by that exact name (any case), and IP literals in ``127.0.0.0/8`` or
    ``::1``. Anything else (``localhost.``, ``localhost.example``, ``0x7f.1``,
    percent-encoded names) is not.
    """
    if not isinstance(host, str) or not host:
        return False
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback


@dataclass(frozen=True, slots=True)
class WorkspaceURL:
    """A parsed workspace URL: ``url`` without a trailing slash, and its parts."""

    url: str
    scheme: str
    hostname: str
    loopback: bool

    @property
    def port(self) -> int:
        """The port connections go to (the scheme's default when none is given)."""
        return urlsplit(self.url).port or (443 if self.scheme == "https" else 80)

    @property
    def origin(self) -> str:
        """``scheme://host:port``, as connection errors name it (never a path)."""
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.scheme}://{host}:{self.port}"


def _refuse(reason: str) -> ConfigError:
    return ConfigError(f"invalid workspace URL: {reason}", key="host")


#: The first path segments of API routes: part of a request path, never of a workspace URL.
_API_ROUTES = ("serving-endpoints", "ai-gateway", "api", "oidc", ".well-known")


def parse_workspace_url(host: str) -> WorkspaceURL:
    """Parse ``host`` or raise ConfigError, with the fix in the message.

    ``https://`` is assumed when a remote host has no scheme, as databricks-sdk does; a
    loopback host without one is refused (a local workspace speaks plain ``http://``,
    and ``https://`` would fail in its TLS handshake). Refused outright, whatever the
    scheme: user info (``user:pass@host``), backslashes, whitespace and control
    characters, a query or fragment, a scheme other than http(s), a missing host, a bad
    port, and a path that belongs to an API route (``/serving-endpoints``,
    ``/ai-gateway/...``, ``/api/2.0/...``).
    """
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in host):
        raise _refuse("it contains whitespace or control characters")
    if "\\" in host:
        raise _refuse("it contains a backslash")
    url = host if "://" in host else "https://" + host
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise _refuse("user info (user:password@) is not allowed; use a token instead")
    if parts.scheme not in ("http", "https"):
        raise _refuse("the scheme must be https:// (or http:// for a local workspace)")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise _refuse("it must not have a query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _refuse("the port is not a number between 0 and 65535") from None
    hostname = parts.hostname
    if not hostname:
        raise _refuse("it has no host name")
    loopback = is_loopback(hostname)
    if "://" not in host and loopback:
        raise _refuse(
            f"it has no scheme; a local workspace speaks plain http: use http://{host.rstrip('/')}"
        )
    first = parts.path.strip("/").split("/", 1)[0]
    if first in _API_ROUTES:
        raise _refuse(
            f"the path {parts.path!r} is part of an API route, not of the workspace URL: "
            f"use {parts.scheme}://{parts.netloc}"
        )
    return WorkspaceURL(url.rstrip("/"), parts.scheme, hostname, loopback)


def unreachable_reason(host: str, timeout: float) -> str | None:
    """Why a TCP connection to ``host`` cannot be opened now, or ``None`` when it opens.

    Asked only after something failed without an answer (an SDK that gave up while
    setting up a credential, or a call that ran out of time before any answer), to tell
    an unreachable workspace (a connection failure naming it) from a slow one.
    """
    import socket

    try:
        parsed = parse_workspace_url(host)
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout):
            return None
    except ConfigError:
        return None
    except socket.gaierror:
        return "the host name could not be resolved"
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return "the connection timed out"
    except OSError as exc:
        return exc.strerror or type(exc).__name__
