"""The plugin manager: built-in plugins, guarded entry-point loading, guarded hooks.

Nothing here runs at import time. The manager is built on first use, once per process:
the built-in plugin modules in :data:`DEFAULT_PLUGINS` are registered first, then every
``chatport`` entry point, each one guarded so that a broken plugin only produces a
:class:`ChatportPluginWarning`. ``CHATPORT_DISABLE_PLUGINS=1`` skips entry points.

Hooks are called through pluggy (its ``tryfirst``/``trylast`` order and its wrappers
apply). Isolation is per implementation: when a plugin is registered, each of its hook
implementations is wrapped (:mod:`._guard`) so that one that raises is reported and the
call, the other plugins and chatport carry on. An implementation of a hook that does not
exist (a misspelled name) is reported with the closest hook name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from ._guard import guard_impl, report
from ._registry import BackendRegistry
from ._suggest import did_you_mean
from .hookspecs import hookimpl

if TYPE_CHECKING:
    import click

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "get_plugin_manager",
    "get_registry",
    "hookimpl",
    "load_commands",
    "plugin_infos",
    "plugin_names",
    "plugin_settings",
    "register_plugin",
    "unregister_plugin",
]

ENTRY_POINT_GROUP = "chatport"

#: Built-in plugins, registered through the same hooks as third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "chatport.backends.openai",
    "chatport.backends.responses",
    "chatport.backends.rest",
    "chatport.backends.mlflow",
    "chatport.backends.databricks_sdk",
    "chatport.backends.fake",
)


_lock = threading.RLock()
_manager: PluginManager | None = None
_registry: BackendRegistry | None = None
_commands_loaded: set[int] = set()


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered plugin: its name, the package that installed it and its hooks."""

    name: str
    package: str | None
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, guarding each hook implementation and naming unknown hooks."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        #: plugin name -> (distribution name, version), for entry-point plugins
        self.packages: dict[str, tuple[str, str]] = {}
        self._implemented: frozenset[str] | None = None

    def implemented(self) -> frozenset[str]:
        """The names of the hooks at least one plugin implements (kept until plugins change).

        Calls skip a hook nobody implements: a pluggy call costs microseconds, and a call
        notifies four hooks.
        """
        implemented = self._implemented
        if implemented is None:
            implemented = frozenset(
                name for name in self._hook_names() if getattr(self.hook, name).get_hookimpls()
            )
            self._implemented = implemented
        return implemented

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        """Unregister a plugin (by object or name)."""
        self._implemented = None
        return super().unregister(plugin, name)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin``, guard its implementations and warn about unknown hooks."""
        self._implemented = None
        registered = super().register(plugin, name)
        if registered is None:
            return None
        for caller in self.get_hookcallers(plugin) or ():
            impls = [impl for impl in caller.get_hookimpls() if impl.plugin is plugin]
            if not caller.has_spec():
                self._unknown_hook(registered, caller.name, self._hook_names())
                continue
            for impl in impls:
                guard_impl(impl, caller.name)
        return registered

    def _hook_names(self) -> list[str]:
        """The names of chatport's hooks (the specified ones)."""
        names = [n for n in dir(self.hook) if n.startswith(f"{ENTRY_POINT_GROUP}_")]
        return [n for n in names if getattr(self.hook, n).has_spec()]

    def _unknown_hook(self, plugin: str, hook: str, known: list[str]) -> None:
        # pluggy's check_pending() would raise for the whole manager; one warning each
        package = self.packages.get(plugin)
        where = f" from package {package[0]!r}" if package else ""
        hint = did_you_mean(hook, known) or f"; chatport's hooks are: {', '.join(sorted(known))}"
        report(
            f"chatport: plugin {plugin!r}{where} implements {hook!r}, which is not a "
            f"chatport hook{hint}; it is never called"
        )


def _plugins_disabled() -> bool:
    return os.environ.get("CHATPORT_DISABLE_PLUGINS", "").strip().lower() in {"1", "true", "yes"}


def _load_entry_points(manager: PluginManager) -> None:
    seen: set[tuple[str, str]] = set()
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        for entry_point in dist.entry_points:
            if entry_point.group != ENTRY_POINT_GROUP:
                continue
            key = (dist_name, entry_point.name)
            if key in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(key)
            manager.packages[entry_point.name] = (dist_name, dist.version)
            try:
                plugin = entry_point.load()
                manager.register(plugin, name=entry_point.name)
            except Exception as exc:  # any failure in third-party code is isolated
                manager.packages.pop(entry_point.name, None)
                report(
                    f"chatport: plugin {entry_point.name!r} from package {dist_name!r} "
                    f"failed to load and is skipped: {type(exc).__name__}: {exc}"
                )


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built (and entry points loaded) on first call."""
    global _manager
    if _manager is not None:
        return _manager
    with _lock:
        if _manager is None:
            manager = PluginManager()
            manager.add_hookspecs(hookspecs)
            for module_name in DEFAULT_PLUGINS:
                manager.register(importlib.import_module(module_name), name=module_name)
            if not _plugins_disabled():
                _load_entry_points(manager)
            _manager = manager
    return _manager


def get_registry() -> BackendRegistry:
    """The backend registry, filled by every ``chatport_register_backends`` implementation."""
    global _registry
    registry = _registry
    if registry is not None:
        return registry
    with _lock:
        if _registry is None:
            manager = get_plugin_manager()
            # a name two plugins claim goes to the one registered first (built-ins first)
            ranks = {name: rank for rank, (name, _) in enumerate(manager.list_name_plugin())}
            registry = BackendRegistry(ranks)
            manager.hook.chatport_register_backends(registry=registry)
            _registry = registry
        return _registry


def load_commands(group: click.Group) -> None:
    """Let every ``chatport_register_commands`` implementation add commands to ``group``.

    Runs once per group and process; built-in commands cannot be replaced.
    """
    with _lock:
        if id(group) in _commands_loaded:
            return
        _commands_loaded.add(id(group))
        get_plugin_manager().hook.chatport_register_commands(cli=group)


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object or module at run time; returns its name."""
    with _lock:
        global _registry
        registered = get_plugin_manager().register(plugin, name=name)
        if registered is None:
            raise ValueError(f"plugin {name or plugin!r} is blocked or already registered")
        _registry = None
        return registered


def unregister_plugin(name: str) -> None:
    """Remove a plugin registered with :func:`register_plugin`."""
    with _lock:
        global _registry
        get_plugin_manager().unregister(name=name)
        _registry = None


def plugin_names() -> list[str]:
    """The names of every registered plugin, built-ins included."""
    return sorted(name for name, _ in get_plugin_manager().list_name_plugin())


def plugin_infos() -> list[PluginInfo]:
    """Every registered plugin with its package and the hooks it implements, by name."""
    manager = get_plugin_manager()
    infos = []
    for name, plugin in manager.list_name_plugin():
        if plugin is None:  # a blocked name
            continue
        hooks = sorted({caller.name for caller in manager.get_hookcallers(plugin) or ()})
        builtin = name in DEFAULT_PLUGINS
        package, version = manager.packages.get(name, (None, None))
        if builtin:
            package, version = "chatport", _version()
        infos.append(PluginInfo(name, package, version, tuple(hooks), builtin))
    return sorted(infos, key=lambda info: info.name)


#: The type of a declared setting: a class, or a tuple of classes (as ``isinstance`` takes).
SettingType = type | tuple[type, ...]


def plugin_settings() -> dict[str, Mapping[str, SettingType]]:
    """The settings each plugin declares for its ``[plugins.NAME]`` table, by NAME.

    NAME is the name the plugin is registered under: its entry-point name (or the name
    given to :func:`register_plugin`). Built-in plugins have no table, and a plugin that
    does not implement ``chatport_plugin_settings`` (or returns ``None``) is left out,
    so its table is not checked. A declaration of the wrong shape is reported as a
    :class:`ChatportPluginWarning` and left out too.
    """
    manager = get_plugin_manager()
    declared: dict[str, Mapping[str, SettingType]] = {}
    for impl in manager.hook.chatport_plugin_settings.get_hookimpls():
        name = impl.plugin_name
        if name in DEFAULT_PLUGINS or impl.wrapper or impl.hookwrapper:
            continue
        settings = impl.function()  # guarded: a plugin that raises is reported, gives None
        if settings is None:
            continue
        problem = _settings_problem(settings)
        if problem is None and isinstance(settings, Mapping):
            declared[name] = settings
        else:
            report(
                f"chatport: plugin {name!r} declares its settings wrongly ({problem}); "
                "expected a mapping of setting names to types, so its table is not checked"
            )
    return declared


def _settings_problem(settings: object) -> str | None:
    """What is wrong with a ``chatport_plugin_settings`` result, or ``None``."""
    if not isinstance(settings, Mapping):
        return f"a {type(settings).__name__}"
    for key, kind in settings.items():
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(key, str) or not kinds or not all(isinstance(k, type) for k in kinds):
            return f"{key!r}: {kind!r}"
    return None


def _version() -> str:
    """The version of the chatport that is running (the plugins' host)."""
    from ._version import __version__

    return __version__


def _reset_for_tests() -> None:
    """Forget the manager and registry so the next use rebuilds them (tests only)."""
    global _manager, _registry
    with _lock:
        _manager = None
        _registry = None
        _commands_loaded.clear()
