"""Configuration: discovery, validation and precedence.

Precedence, highest first: call arguments, environment (``CHATPORT_BACKEND``,
``CHATPORT_MODEL``), the selected profile, the file's top level, built-in defaults.

The file is the first of ``$CHATPORT_CONFIG``, ``./chatport.toml``, ``[tool.chatport]``
in ``./pyproject.toml`` and ``~/.config/chatport/config.toml``. Every problem raises
:class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ._errors import ConfigError
from ._redact import looks_secret, shown
from ._suggest import did_you_mean as _suggest

__all__ = ["DEFAULTS", "SETTINGS", "Config", "find_config_file", "load_config"]


@dataclass(frozen=True, slots=True)
class _Setting:
    kind: str  # "str", "number", "int", "bool", "fallbacks", "tags"
    help: str


#: Every top-level setting a config file, a profile or ``Client(**settings)`` may hold.
SETTINGS: Mapping[str, _Setting] = MappingProxyType(
    {
        "backend": _Setting("str", "default backend name"),
        "model": _Setting("str", "default model (serving endpoint name)"),
        "timeout": _Setting("number", "overall deadline of one call, in seconds"),
        "max_retries": _Setting("int", "retries after the first attempt"),
        "retry_on_timeout": _Setting("bool", "retry after a read timeout (may duplicate work)"),
        "fallbacks": _Setting("fallbacks", "backends/models to try when a call fails"),
        "host": _Setting("str", "workspace URL; DATABRICKS_HOST takes precedence"),
        "token_env": _Setting("str", "name of the environment variable holding the token"),
        "databricks_profile": _Setting("str", "profile in ~/.databrickscfg to use"),
        "allow_insecure_http": _Setting("bool", "allow credentials over http:// to remote hosts"),
        "request_tags": _Setting("tags", "Unity AI Gateway request tags sent with every call"),
    }
)
_TABLES = ("backends", "profiles", "plugins")
_SECRET_KEYS = frozenset({"token", "password", "client_secret", "api_key", "access_token"})

#: Built-in defaults, the lowest layer.
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "backend": "rest",
        "model": "databricks-claude-sonnet-4-5",
        "timeout": 60.0,
        "max_retries": 2,
        "retry_on_timeout": False,
        "fallbacks": (),
        "allow_insecure_http": False,
    }
)
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV = {"backend": "CHATPORT_BACKEND", "model": "CHATPORT_MODEL"}


@dataclass(frozen=True)
class Config:
    """The effective configuration, with the source of every value."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    backends: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    path: str | None = None
    profile: str | None = None

    @property
    def backend(self) -> str:
        """The default backend name."""
        return str(self.values["backend"])

    @property
    def model(self) -> str | None:
        """The default model, if any."""
        model = self.values.get("model")
        return None if model is None else str(model)

    @property
    def timeout(self) -> float:
        """The call deadline in seconds."""
        return float(self.values["timeout"])

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return int(self.values["max_retries"])

    def get(self, key: str, default: Any = None) -> Any:
        """One top-level setting."""
        return self.values.get(key, default)

    def backend_options(self, name: str) -> Mapping[str, Any]:
        """The ``[backends.NAME]`` table (profile tables merged over the top level)."""
        return self.backends.get(name, MappingProxyType({}))

    def plugin_options(self, name: str) -> Mapping[str, Any]:
        """The ``[plugins.NAME]`` table, where plugins keep their own settings."""
        return self.plugins.get(name, MappingProxyType({}))


def _check_value(key: str, value: Any, where: str, path: str | None) -> Any:
    """Validate one setting and return it in canonical form."""
    kind = SETTINGS[key].kind
    bad = None
    if kind == "str":
        if not isinstance(value, str) or not value:
            bad = "a non-empty string"
        elif key == "token_env" and (not _VARIABLE.fullmatch(value) or looks_secret(value)):
            raise ConfigError(
                f"{where}: expected the NAME of an environment variable (letters, digits "
                "and _), not a token (the value is not shown); put the token in that variable",
                path=path,
                key=where,
            )
    elif kind == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            bad = "a positive number"
        else:
            value = float(value)
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            bad = "a whole number >= 0"
    elif kind == "bool":
        if not isinstance(value, bool):
            bad = "true or false"
    elif kind == "fallbacks":
        value = _check_fallbacks(value, where, path)
    elif kind == "tags":
        value = _check_tags(value, where, path)
    if bad:
        raise ConfigError(
            f"{where}: expected {bad}, got {type(value).__name__} {shown(value)}",
            path=path,
            key=where,
        )
    return value


def _check_tags(value: Any, where: str, path: str | None) -> Mapping[str, str]:
    """A table of request tags: non-empty string keys, string values."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            f'{where}: expected a table of strings like {{team = "ml"}}, got '
            f"{type(value).__name__} {shown(value)}",
            path=path,
            key=where,
        )
    for key, tag in value.items():
        item = f"{where}.{key}" if isinstance(key, str) and key else where
        if not isinstance(key, str) or not key:
            raise ConfigError(
                f"{where}: a tag's key must be a non-empty string", path=path, key=where
            )
        if not isinstance(tag, str):
            raise ConfigError(
                f"{item}: expected a string, got {type(tag).__name__} {shown(tag)}",
                path=path,
                key=item,
            )
    return MappingProxyType(dict(value))


def _check_fallbacks(value: Any, where: str, path: str | None) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: expected a list of tables", path=path, key=where)
    result = []
    for index, entry in enumerate(value):
        item = f"{where}[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("backend"), str):
            raise ConfigError(
                f'{item}: expected a table like {{backend = "rest", model = "..."}}',
                path=path,
                key=item,
            )
        unknown = sorted(set(entry) - {"backend", "model", "options"})
        if unknown:
            raise ConfigError(
                f"{item}: unknown key {unknown[0]!r}{_suggest(unknown[0], ('backend', 'model'))}",
                path=path,
                key=f"{item}.{unknown[0]}",
            )
        if "model" in entry and not isinstance(entry["model"], str):
            raise ConfigError(f"{item}.model: expected a string", path=path, key=f"{item}.model")
        if "options" in entry and not isinstance(entry["options"], Mapping):
            raise ConfigError(
                f"{item}.options: expected a table of backend options",
                path=path,
                key=f"{item}.options",
            )
        result.append(MappingProxyType(dict(entry)))
    return tuple(result)


def _check_table(data: Mapping[str, Any], where: str, path: str | None, *, top: bool) -> None:
    allowed = [*SETTINGS, *(_TABLES if top else ("backends",))]
    for key, value in data.items():
        dotted = f"{where}{key}"
        if key in _SECRET_KEYS:
            raise ConfigError(
                f"{dotted}: tokens are never stored in chatport config; set DATABRICKS_TOKEN "
                "or name an environment variable with token_env",
                path=path,
                key=dotted,
            )
        if key in SETTINGS:
            _check_value(key, value, dotted, path)
        elif key in ("backends", "profiles", "plugins") and key in allowed:
            if not isinstance(value, Mapping) or not all(
                isinstance(v, Mapping) for v in value.values()
            ):
                raise ConfigError(
                    f"{dotted}: expected tables like [{key}.NAME]", path=path, key=dotted
                )
            if key == "profiles":
                for name, table in value.items():
                    _check_table(table, f"{dotted}.{name}.", path, top=False)
            else:
                for name, table in value.items():
                    secret = sorted(set(table) & _SECRET_KEYS)
                    if secret:
                        where_secret = f"{dotted}.{name}.{secret[0]}"
                        raise ConfigError(
                            f"{where_secret}: secrets are never stored in chatport config; "
                            "keep them in the environment",
                            path=path,
                            key=where_secret,
                        )
        else:
            raise ConfigError(
                f"unknown key {dotted!r}{_suggest(key, allowed)}", path=path, key=dotted
            )


def _user_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "chatport" / "config.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file to read

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", path=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text; TOML files must be UTF-8", path=str(path)) from None


def find_config_file(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[Path, dict[str, Any], str] | None:
    """Find and read the config file: ``(path, table, key prefix)`` or ``None``."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    explicit = environ.get("CHATPORT_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError("CHATPORT_CONFIG names a file that does not exist", path=str(path))
        return path, _read_toml(path), ""
    local = cwd / "chatport.toml"
    if local.is_file():
        return local, _read_toml(local), ""
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        tool = _read_toml(pyproject).get("tool", {})
        if not isinstance(tool, dict):
            raise ConfigError(
                "tool: expected a table ([tool.NAME])", path=str(pyproject), key="tool"
            )
        table = tool.get("chatport")
        if isinstance(table, dict):
            return pyproject, table, "tool.chatport."
        if table is not None:
            raise ConfigError(
                "tool.chatport: expected a table", path=str(pyproject), key="tool.chatport"
            )
    user = _user_config_path(environ)
    if user.is_file():
        return user, _read_toml(user), ""
    return None


def _merge_backends(*layers: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for name, table in layer.items():
            merged.setdefault(name, {}).update(table)
    return {name: MappingProxyType(table) for name, table in merged.items()}


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Build the effective :class:`Config`.

    ``source`` is a config file path or an in-memory table; ``None`` discovers the file.
    ``overrides`` are call arguments, the highest layer.
    """
    environ = os.environ if environ is None else environ
    path_label: str | None
    prefix = ""
    if source is None:
        found = find_config_file(environ, cwd)
        path_label, data = (None, {}) if found is None else (str(found[0]), found[1])
        if found is not None:
            prefix = found[2]
    elif isinstance(source, Mapping):
        path_label, data = "<config dict>", dict(source)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ConfigError("config file does not exist", path=str(path))
        path_label, data = str(path), _read_toml(path)
    _check_table(data, prefix, path_label, top=True)

    values: dict[str, Any] = dict(DEFAULTS)
    sources: dict[str, str] = dict.fromkeys(DEFAULTS, "default")
    file_label = path_label or "config"
    for key in SETTINGS:
        if key in data:
            values[key] = _check_value(key, data[key], prefix + key, path_label)
            sources[key] = file_label

    profiles = data.get("profiles", {})
    profile_source = "argument"
    if profile is None and environ.get("CHATPORT_PROFILE"):
        profile, profile_source = environ["CHATPORT_PROFILE"], "env CHATPORT_PROFILE"
    profile_table: Mapping[str, Any] = {}
    if profile is not None:
        if profile not in profiles:
            names = sorted(profiles)
            listed = ", ".join(names) or "none defined"
            raise ConfigError(
                f"unknown profile {shown(profile)} (from {profile_source})"
                f"{'' if looks_secret(profile) else _suggest(profile, names)}; "
                f"profiles: {listed}",
                path=path_label,
                key=f"{prefix}profiles" + ("" if looks_secret(profile) else f".{profile}"),
            )
        profile_table = profiles[profile]
        where = f"{prefix}profiles.{profile}."
        for key in SETTINGS:
            if key in profile_table:
                values[key] = _check_value(key, profile_table[key], where + key, path_label)
                sources[key] = f"profile {profile} ({file_label})"

    for key, variable in _ENV.items():
        if environ.get(variable):
            values[key] = environ[variable]
            sources[key] = f"env {variable}"

    for key, value in (overrides or {}).items():
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r}{_suggest(key, list(SETTINGS))}", key=key)
        if value is None:
            continue
        values[key] = _check_value(key, value, key, None)
        sources[key] = "argument"

    return Config(
        values=MappingProxyType(values),
        sources=MappingProxyType(sources),
        backends=_merge_backends(data.get("backends", {}), profile_table.get("backends", {})),
        plugins=MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in data.get("plugins", {}).items()}
        ),
        path=path_label,
        profile=profile,
    )
