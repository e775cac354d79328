"""Check a configuration against the installed backends and plugins: names, tables, keys.

Run when a :class:`~chatport.Client` is built (and by ``chatport config``), so a
misspelled backend, table, option or plugin setting fails at once, naming the file and
the key (or the code, for arguments), with a suggestion for a near miss.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._config import Config
from ._errors import BackendNotFoundError, ConfigError
from ._redact import shown
from ._registry import BackendInfo, BackendRegistry
from ._suggest import did_you_mean

__all__ = ["check_backend_name", "check_config", "check_options", "check_plugin_tables"]


def _blame(config: Config, key: str) -> tuple[str | None, str | None, str | None]:
    """Where ``key``'s value came from: ``(file, dotted key, other origin)``."""
    source = config.sources.get(key, "default")
    if source.startswith("profile ") and config.profile:
        return config.path, f"profiles.{config.profile}.{key}", None
    if source.startswith("env "):
        return None, None, source
    if source in ("argument", "default"):
        return None, None, None
    return config.path, key, None


def check_backend_name(
    registry: BackendRegistry,
    name: Any,
    *,
    path: str | None = None,
    key: str | None = None,
    origin: str | None = None,
) -> BackendInfo:
    """The backend registered as ``name``, or :class:`BackendNotFoundError` with a hint."""
    if not isinstance(name, str) or name not in registry:
        raise BackendNotFoundError(name, registry.names(), path=path, key=key, origin=origin)
    return registry.get(name)


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Mapping: "a table",
        dict: "a table",
        list: "an array",
    }
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _check_type(
    dotted: str, value: Any, expected: type | tuple[type, ...], path: str | None
) -> None:
    """``value`` is of the ``expected`` type; ``true``/``false`` only where bool is."""
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in kinds):
        raise ConfigError(
            f"{dotted}: expected {_type_name(expected)}, got {type(value).__name__} {shown(value)}",
            path=path,
            key=dotted,
        )


def _allowed_values(info: BackendInfo, key: str) -> tuple[str, ...] | None:
    """The values an option may take, when the backend declares them."""
    declared = getattr(info.cls, "option_values", None)
    if isinstance(declared, Mapping) and key in declared:
        return tuple(declared[key])
    routes = getattr(info.cls, "routes", None)
    if key == "route" and isinstance(routes, Mapping):
        auto = ("auto",) if getattr(info.cls, "auto_routes", None) else ()
        return (*routes, *auto)
    return None


def check_options(
    info: BackendInfo, options: Mapping[str, Any], *, path: str | None, where: str
) -> None:
    """Every option is one the backend takes, of the declared type and an allowed value.

    ``path`` is the file the options came from (``None`` for options passed in code) and
    ``where`` their dotted location (``backends.NAME`` or ``options``).
    """
    types = info.cls.option_types
    for key, value in options.items():
        dotted = f"{where}.{key}"
        expected = types.get(key)
        if expected is None:
            known = ", ".join(sorted(types)) or "none"
            raise ConfigError(
                f"{dotted}: unknown option {key!r}{did_you_mean(key, types)}; "
                f"backend {info.name!r} takes: {known}",
                path=path,
                key=dotted,
            )
        _check_type(dotted, value, expected, path)
        allowed = _allowed_values(info, key)
        if allowed is not None and value not in allowed:
            hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
            raise ConfigError(
                f"{dotted}: {shown(value)} is not one of {', '.join(allowed)}{hint}",
                path=path,
                key=dotted,
            )


def check_plugin_tables(
    config: Config,
    registry: BackendRegistry,
    declared: Mapping[str, Mapping[str, type | tuple[type, ...]]],
    installed: Iterable[str] = (),
) -> None:
    """Every ``[plugins.NAME]`` table holds only the settings plugin NAME declares.

    ``declared`` maps a plugin name to its settings and their types (what
    ``chatport_plugin_settings`` returned); a plugin missing from it is not checked.
    ``installed`` names the installed plugins: a table named after none of them is
    ignored (the file may be shared with machines that have the plugin), with a
    :class:`~chatport.ChatportPluginWarning` when the name is close to an installed one.
    """
    installed = list(installed)
    for name, table in config.plugins.items():
        where = f"plugins.{name}"
        settings = declared.get(name)
        if settings is None:
            if name not in installed and (hint := did_you_mean(name, installed)):
                from ._guard import report

                report(
                    f"chatport: {config.path or 'config'}: {where}: no installed plugin is "
                    f"named {name!r}{hint}; the table is ignored"
                )
            continue
        for key, value in table.items():
            dotted = f"{where}.{key}"
            expected = settings.get(key)
            if expected is None:
                known = ", ".join(sorted(settings)) or "none"
                raise ConfigError(
                    f"{dotted}: unknown setting {key!r}{did_you_mean(key, settings)}; "
                    f"plugin {name!r} takes: {known}{_backend_hint(registry, name, key)}",
                    path=config.path,
                    key=dotted,
                )
            _check_type(dotted, value, expected, config.path)


def _backend_hint(registry: BackendRegistry, plugin: str, key: str) -> str:
    """`` (options of backend X go in [backends.X])`` when ``key`` is one of them."""
    for info in registry:
        if info.plugin == plugin and key in info.cls.option_types:
            return f" (options of backend {info.name!r} go in [backends.{info.name}])"
    return ""


def check_config(config: Config, registry: BackendRegistry) -> None:
    """The backend names, their option tables, the fallbacks and the plugin tables are valid.

    Run by :class:`~chatport.Client` when it is built and by ``chatport config``.
    """
    path, key, origin = _blame(config, "backend")
    check_backend_name(registry, config.backend, path=path, key=key, origin=origin)
    for name, table in config.backends.items():
        where = f"backends.{name}"
        info = check_backend_name(registry, name, path=config.path, key=where)
        check_options(info, table, path=config.path, where=where)
    path, key, origin = _blame(config, "fallbacks")
    prefix = key or "fallbacks"
    for index, entry in enumerate(config.get("fallbacks") or ()):
        where = f"{prefix}[{index}]"
        info = check_backend_name(
            registry, entry["backend"], path=path, key=f"{where}.backend", origin=origin
        )
        if entry.get("options"):
            check_options(info, entry["options"], path=path, where=f"{where}.options")
    if config.plugins:
        from ._plugins import DEFAULT_PLUGINS, plugin_names, plugin_settings

        installed = [name for name in plugin_names() if name not in DEFAULT_PLUGINS]
        check_plugin_tables(config, registry, plugin_settings(), installed)
