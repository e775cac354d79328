"""The backend registry that ``chatport_register_backends`` implementations fill."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from ._errors import BackendNotFoundError
from .backends.base import Backend, Capabilities

__all__ = ["BackendInfo", "BackendRegistry", "ChatportPluginWarning"]

#: The plugin whose ``chatport_register_backends`` is running (set by the plugin manager).
registering_plugin: ContextVar[str] = ContextVar("registering_plugin", default="<unknown>")


class ChatportPluginWarning(UserWarning):
    """A plugin failed to load or register, or registered something invalid."""


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """One registered backend: its name, class, aliases and the plugin that provided it."""

    name: str
    cls: type[Backend]
    plugin: str
    aliases: tuple[str, ...] = ()

    @property
    def capabilities(self) -> Capabilities:
        """The capabilities the backend class declares."""
        return self.cls.capabilities


class BackendRegistry:
    """Backends by name. Plugins call :meth:`add` from ``chatport_register_backends``.

    When two plugins claim the same name, the plugin registered first wins (built-ins
    are registered before entry points), whatever order the hook calls them in.
    ``ranks`` maps plugin names to that registration order; chatport passes it.
    """

    def __init__(self, ranks: Mapping[str, int] | None = None) -> None:
        self._backends: dict[str, BackendInfo] = {}
        self._aliases: dict[str, str] = {}
        self._ranks = dict(ranks or {})

    def _rank(self, plugin: str) -> int:
        return self._ranks.get(plugin, len(self._ranks))

    def add(self, name: str, backend_class: type[Backend], aliases: Iterable[str] = ()) -> None:
        """Register ``backend_class`` under ``name`` (and any ``aliases``).

        A name that another plugin already provides is kept by the plugin registered
        first; the other registration is ignored with a :class:`ChatportPluginWarning`.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"backend name must be a non-empty string, got {name!r}")
        if not (isinstance(backend_class, type) and issubclass(backend_class, Backend)):
            raise TypeError(f"backend {name!r} must be a subclass of chatport.Backend")
        plugin = registering_plugin.get()
        info = BackendInfo(name, backend_class, plugin, tuple(aliases))
        for taken in (name, *info.aliases):
            if taken not in self:
                continue
            owner = self.get(taken)
            if self._rank(owner.plugin) <= self._rank(plugin):
                self._ignored(plugin, taken, owner.plugin)
                return
            self._remove(owner)  # an earlier-registered plugin takes the name back
            self._ignored(owner.plugin, taken, plugin)
        self._backends[name] = info
        for alias in info.aliases:
            self._aliases[alias] = name

    def _remove(self, info: BackendInfo) -> None:
        del self._backends[info.name]
        for alias in info.aliases:
            self._aliases.pop(alias, None)

    @staticmethod
    def _ignored(plugin: str, taken: str, owner: str) -> None:
        warnings.warn(
            f"chatport: plugin {plugin!r} registers backend {taken!r}, "
            f"already provided by {owner!r}; ignored",
            ChatportPluginWarning,
            stacklevel=3,
        )

    def get(self, name: str) -> BackendInfo:
        """The backend registered under ``name`` or one of its aliases."""
        info = self._backends.get(self._aliases.get(name, name))
        if info is None:
            raise BackendNotFoundError(name, self._backends)
        return info

    def names(self) -> list[str]:
        """The registered backend names, sorted."""
        return sorted(self._backends)

    def __contains__(self, name: object) -> bool:
        return name in self._backends or name in self._aliases

    def __iter__(self) -> Iterator[BackendInfo]:
        return iter(sorted(self._backends.values(), key=lambda info: info.name))

    def __len__(self) -> int:
        return len(self._backends)
