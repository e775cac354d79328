"""The plugin manager: built-in plugins, guarded entry-point loading, isolated hook calls.

Nothing here runs at import time. The manager is built on first use, once per process:
the built-in plugin modules in :data:`DEFAULT_PLUGINS` are registered first, then every
``chatport`` entry point, each one guarded so that a broken plugin only produces a
:class:`ChatportPluginWarning`. ``CHATPORT_DISABLE_PLUGINS=1`` skips entry points.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import threading
import warnings
from typing import Any

import pluggy

from . import hookspecs
from ._registry import BackendRegistry, ChatportPluginWarning

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "get_plugin_manager",
    "get_registry",
    "hookimpl",
    "notify",
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

hookimpl = pluggy.HookimplMarker("chatport")
"""Marker for hook implementations: decorate a plugin's ``chatport_*`` functions with
``@chatport.hookimpl`` (see the hook specifications in :mod:`chatport.hookspecs`)."""

_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_registry: BackendRegistry | None = None


def _plugins_disabled() -> bool:
    return os.environ.get("CHATPORT_DISABLE_PLUGINS", "").strip().lower() in {"1", "true", "yes"}


def _warn(message: str) -> None:
    warnings.warn(" ".join(message.split()), ChatportPluginWarning, stacklevel=3)


def _load_entry_points(manager: pluggy.PluginManager) -> None:
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
            try:
                plugin = entry_point.load()
                manager.register(plugin, name=entry_point.name)
            except Exception as exc:  # any failure in third-party code is isolated
                _warn(
                    f"chatport: plugin {entry_point.name!r} from package {dist_name!r} "
                    f"failed to load and is skipped: {type(exc).__name__}: {exc}"
                )


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built (and entry points loaded) on first call."""
    global _manager
    if _manager is not None:
        return _manager
    with _lock:
        if _manager is None:
            manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
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
            registry = BackendRegistry()
            hook = get_plugin_manager().hook.chatport_register_backends
            for impl in hook.get_hookimpls():  # registration order: built-ins first
                registry.current_plugin = impl.plugin_name
                try:
                    impl.function(*[registry for _ in impl.argnames])
                except Exception as exc:
                    _warn(
                        f"chatport: plugin {impl.plugin_name!r} failed to register backends: "
                        f"{type(exc).__name__}: {exc}"
                    )
            registry.current_plugin = "<unknown>"
            _registry = registry
        return _registry


def notify(hook_name: str, **kwargs: Any) -> None:
    """Call an observer hook on each plugin in turn; a plugin that raises only warns."""
    manager = _manager or get_plugin_manager()
    hook = getattr(manager.hook, hook_name)
    for impl in hook.get_hookimpls():
        try:
            impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as exc:
            message = (
                f"chatport: plugin {impl.plugin_name!r} raised in {hook_name}: "
                f"{type(exc).__name__}: {exc}"
            )
            try:
                _warn(message)
            except Exception:  # warnings turned into errors must not fail the call
                logging.getLogger("chatport").warning("%s", message)


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


def _reset_for_tests() -> None:
    """Forget the manager and registry so the next use rebuilds them (tests only)."""
    global _manager, _registry
    with _lock:
        _manager = None
        _registry = None
