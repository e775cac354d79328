"""The settings of a local workspace, from a TOML file or ``LocalWorkspace`` arguments.

Every value is checked before anything is served: its type, its range, and in a file
every key, so a mistake is one :class:`~chatport.ConfigError` line naming the file and
the dotted key (``chatport serve --config`` prints it and exits 2), never a traceback
or an HTTP 500 at request time.
"""

from __future__ import annotations

import os
import tomllib
from typing import Any

from .._errors import ConfigError
from . import checks
from .checks import Rule
from .endpoints import Endpoint, endpoints_from_table

__all__ = ["FILE_KEYS", "LOG_LEVELS", "check_argument", "load_workspace_file"]

#: uvicorn's log levels, for ``LocalWorkspace(log_level=...)``.
LOG_LEVELS: tuple[str, ...] = ("critical", "error", "warning", "info", "debug", "trace")


def _clients(value: Any, where: str, path: str | None) -> dict[str, str]:
    clients = checks.table(value, where, path, 'a table of client id = "secret"')
    for client_id, secret in clients.items():
        checks.string(client_id, checks.dotted(where, client_id), path)
        checks.string(secret, checks.dotted(where, client_id), path)
    return dict(clients)


def _file_endpoints(value: Any, where: str, path: str | None) -> list[Endpoint]:
    return endpoints_from_table(value, path or where)


def _endpoint_objects(value: Any, where: str, path: str | None) -> list[Endpoint]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise checks.expected("an iterable of Endpoint objects", value, where, path)
    endpoints = list(value)
    for index, endpoint in enumerate(endpoints):
        if not isinstance(endpoint, Endpoint):
            raise checks.expected("an Endpoint", endpoint, f"{where}[{index}]", path)
    return endpoints


def _file_path(value: Any, where: str, path: str | None) -> str | os.PathLike[str]:
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise checks.expected("a file path", value, where, path)
    return value


def _path_in_file(value: Any, where: str, path: str | None) -> str | os.PathLike[str]:
    """A file path written in the workspace file: a relative one is relative to the file's
    own folder (as a path in a config file is read), not to where the server starts."""
    given = _file_path(value, where, path)
    if path is None or os.path.isabs(given):
        return given
    return os.path.join(os.path.dirname(os.path.abspath(path)), os.fspath(given))


def _seed(value: Any, where: str, path: str | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise checks.expected("a whole number", value, where, path)
    return value


_SECONDS = checks.number(0, above=True)
_FILE_RULES: dict[str, Rule] = {
    "token": checks.token,
    "token_lifetime": _SECONDS,
    "token_expires_in": checks.integer(0),
    "default_endpoints": checks.boolean,
    "oauth_clients": _clients,
    "endpoints": _file_endpoints,
    "usage_log": _path_in_file,
}
#: The top-level keys of a local-workspace file.
FILE_KEYS: tuple[str, ...] = tuple(_FILE_RULES)

_ARGUMENT_RULES: dict[str, Rule] = {
    "endpoints": _endpoint_objects,
    "config": checks.optional(_file_path),
    "host": checks.string,
    "port": checks.integer(0, 65535),
    "token": checks.optional(checks.token),
    "oauth_clients": checks.optional(_clients),
    "token_lifetime": _SECONDS,
    "token_expires_in": checks.optional(checks.integer(0)),
    "default_endpoints": checks.boolean,
    "log_path": checks.optional(_file_path),
    "usage_log": checks.optional(_file_path),
    "seed": _seed,
    "log_level": checks.choice(LOG_LEVELS, "log level"),
    "max_logged": checks.integer(1),
    "log_bodies": checks.boolean,
    "max_body": checks.integer(1),
    "header_timeout": _SECONDS,
    "idle_timeout": _SECONDS,
}


def check_argument(name: str, value: Any) -> Any:
    """``LocalWorkspace``'s argument ``name``, checked: a ``ConfigError`` naming it if bad."""
    return _ARGUMENT_RULES[name](value, name, None)


def load_workspace_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a local-workspace TOML file into ``LocalWorkspace`` keyword arguments.

    Every key and value is checked; a bad one raises :class:`~chatport.ConfigError` naming
    the file and the dotted key.
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=source) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text; TOML files must be UTF-8", path=source) from None
    settings: dict[str, Any] = {}
    for key, value in data.items():
        rule = _FILE_RULES.get(key)
        if rule is None:
            raise checks.unknown_key(key, FILE_KEYS, "", source)
        settings[key] = rule(value, key, source)
    settings.setdefault("endpoints", [])
    return settings
