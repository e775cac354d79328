"""Isolation of each hook implementation: a plugin that raises is reported, never fatal.

:func:`guard_impl` replaces a registered implementation's function with a guarded one,
so pluggy still calls every implementation in its own order (``tryfirst``/``trylast``,
wrappers) while an exception stays inside the plugin that raised it. A report is a
:class:`ChatportPluginWarning`; when warnings are errors (``-W error``,
``filterwarnings = error``) it is logged instead, so a call's answer is never lost.

Whatever a hook raises is contained, ``BaseException`` included: ``SystemExit``, a
custom ``BaseException`` or a ``CancelledError`` raised in a hook (a hook is a plain
function: no cancellation of the caller can be delivered inside it) is the plugin's
failure, not the caller's. Only ``KeyboardInterrupt`` passes: it is the user's Ctrl-C,
which may land in whatever code is running.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Generator
from typing import Any

import pluggy

from ._registry import ChatportPluginWarning, registering_plugin

__all__ = ["guard_impl", "report"]

_log = logging.getLogger("chatport")


def report(message: str) -> None:
    """Warn with ``message`` (a :class:`ChatportPluginWarning`); log it if that raises."""
    message = " ".join(message.split())
    try:
        warnings.warn(message, ChatportPluginWarning, stacklevel=3)
    except Exception:  # warnings turned into errors must not fail the call
        _log.warning("%s", message)


def _failure(plugin: str, hook: str, exc: BaseException) -> None:
    if hook == "chatport_register_backends":
        what = "failed to register backends"
    elif hook == "chatport_register_commands":
        what = "failed to add commands"
    else:
        what = f"raised in {hook}"
    report(f"chatport: plugin {plugin!r} {what}: {type(exc).__name__}: {exc}")


def guard_impl(impl: pluggy.HookImpl, hook: str) -> None:
    """Wrap ``impl`` (a registered hook implementation) so that it cannot raise."""
    function = impl.function
    plugin = impl.plugin_name
    if impl.wrapper or impl.hookwrapper:
        guarded = _guard_wrapper(function, plugin, hook, new_style=impl.wrapper)
    elif hook == "chatport_register_backends":
        guarded = _guard_registration(function, plugin, hook)
    elif hook == "chatport_register_commands":
        position = impl.argnames.index("cli") if "cli" in impl.argnames else None
        guarded = _guard_commands(function, plugin, hook, position)
    else:
        guarded = _guard_call(function, plugin, hook)
    # pluggy calls ``impl.function``; swapping it keeps pluggy's order and wrappers intact
    object.__setattr__(impl, "function", guarded)


def _guard_call(function: Callable[..., Any], plugin: str, hook: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the plugin's failure, whatever it raised
            _failure(plugin, hook, exc)
            return None

    return guarded


def _guard_registration(function: Callable[..., Any], plugin: str, hook: str) -> Callable[..., Any]:
    call = _guard_call(function, plugin, hook)

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        token = registering_plugin.set(plugin)  # the registry attributes backends to it
        try:
            return call(*args, **kwargs)
        finally:
            registering_plugin.reset(token)

    return guarded


def _guard_commands(
    function: Callable[..., Any], plugin: str, hook: str, position: int | None
) -> Callable[..., Any]:
    call = _guard_call(function, plugin, hook)

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        group = args[position] if position is not None else None
        before = dict(getattr(group, "commands", {}))
        result = call(*args, **kwargs)
        commands = getattr(group, "commands", {})
        for name, command in before.items():
            if commands.get(name) is not command:  # a built-in name: keep the original
                commands[name] = command
                report(f"chatport: plugin {plugin!r} adds command {name!r}, already taken; ignored")
        return result

    return guarded


def _guard_wrapper(
    function: Callable[..., Any], plugin: str, hook: str, *, new_style: bool
) -> Callable[..., Any]:
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Generator[None, Any, Any]:
        try:
            teardown = function(*args, **kwargs)
            next(teardown)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # raised (or returned) before its yield: skip this wrapper
            _failure(plugin, hook, exc)
            return (yield)
        try:
            sent = yield
        except BaseException:  # only KeyboardInterrupt and the like reach a guarded hook
            teardown.close()
            raise
        try:
            teardown.send(sent)
        except StopIteration as stop:
            return stop.value if new_style else None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            _failure(plugin, hook, exc)
            return sent if new_style else None
        teardown.close()
        _failure(plugin, hook, RuntimeError("the wrapper yielded more than once"))
        return sent if new_style else None

    return guarded
