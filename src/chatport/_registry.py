"""The backend registry that ``chatport_register_backends`` implementations fill."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ._errors import BackendNotFoundError
from .backends.base import Backend, Capabilities

__all__ = ["BackendInfo", "BackendRegistry", "ChatportPluginWarning"]


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
    """Backends by name. Plugins call :meth:`add` from ``chatport_register_backends``."""

    def __init__(self) -> None:
        self._backends: dict[str, BackendInfo] = {}
        self._aliases: dict[str, str] = {}
        self.current_plugin = "<unknown>"

    def add(self, name: str, backend_class: type[Backend], aliases: Iterable[str] = ()) -> None:
        """Register ``backend_class`` under ``name`` (and any ``aliases``).

        A name that is already taken is ignored with a :class:`ChatportPluginWarning`.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"backend name must be a non-empty string, got {name!r}")
        if not (isinstance(backend_class, type) and issubclass(backend_class, Backend)):
            raise TypeError(f"backend {name!r} must be a subclass of chatport.Backend")
        aliases = tuple(aliases)
        for taken in (name, *aliases):
            if taken in self._backends or taken in self._aliases:
                owner = self.get(taken).plugin
                warnings.warn(
                    f"chatport: plugin {self.current_plugin!r} registers backend {taken!r}, "
                    f"already provided by {owner!r}; ignored",
                    ChatportPluginWarning,
                    stacklevel=2,
                )
                return
        self._backends[name] = BackendInfo(name, backend_class, self.current_plugin, aliases)
        for alias in aliases:
            self._aliases[alias] = name

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
