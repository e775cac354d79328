"""The testing kit: a scriptable fake backend, a helper for temporary plugins, and a
virtual clock for retry waits.

``chatport.testing.pytest_plugin`` (loaded automatically by pytest) adds fixtures.
This module does not import pytest.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .. import _plugins
from .._deadline import VirtualClock
from ..backends.fake import FakeBackend, Reply

__all__ = ["FakeBackend", "Reply", "VirtualClock", "temporary_plugin"]


@contextmanager
def temporary_plugin(plugin: object, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module or object with hook implementations) for a block.

    Backends it registers become available at once and disappear afterwards::

        with temporary_plugin(MyPlugin()):
            chatport.complete("hi", backend="mine")
    """
    registered = _plugins.register_plugin(plugin, name)
    try:
        yield registered
    finally:
        _plugins.unregister_plugin(registered)
