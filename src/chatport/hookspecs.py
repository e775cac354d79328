"""Hook specifications: the points where plugins extend chatport.

A plugin is a module or object with functions named like these hooks and marked with
:data:`chatport.hookimpl`. An implementation may accept fewer arguments than the spec
lists, so new arguments can be added later without breaking plugins.

Hooks are called through pluggy, with its ordering: ``tryfirst``/``trylast`` and
wrappers (``wrapper=True`` or ``hookwrapper=True``) work as pluggy documents. Every
implementation is guarded on its own: one that raises is reported as a
:class:`chatport.ChatportPluginWarning` and never breaks the call, the other plugins or
chatport itself.

Observer hooks run on the caller's thread, inside the call (and, for ``acomplete`` and
``astream``, on the event loop): they must not block on file or network I/O. Hand
slow work to a background thread or queue.

Per call, the observer hooks run in this order::

    chatport_call_start
        chatport_before_request        (once per attempt: retries and fallbacks)
        chatport_on_error              (after each failed attempt)
        chatport_first_chunk           (streams: once, when the first chunk arrives)
        chatport_after_completion      (once, when an attempt succeeds)
    chatport_call_end                  (once: ok, error or abandoned)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import pluggy

if TYPE_CHECKING:
    from collections.abc import Mapping

    import click

    from ._config import Config
    from ._errors import ChatportError
    from ._registry import BackendRegistry
    from ._request import ChatRequest
    from ._types import Completion

hookspec = pluggy.HookspecMarker("chatport")

hookimpl = pluggy.HookimplMarker("chatport")
"""Marker for hook implementations: decorate a plugin's ``chatport_*`` functions with
``@chatport.hookimpl``."""


@hookspec
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register backends by calling ``registry.add(name, BackendClass, aliases=())``.

    Called once per process, when chatport first needs the list of backends. The
    built-in backends register through this same hook. When two plugins add the same
    name, the plugin registered first keeps it (built-ins first, then entry points).

    :param registry: the backend registry; call its ``add`` method.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_register_commands(cli: click.Group) -> None:
    """Add commands to the ``chatport`` command line: ``cli.add_command(command)``.

    Called once per process, the first time the command line looks up a command that
    is not built in (or lists its commands, as ``chatport --help`` does). A command
    whose name a built-in command already has is ignored with a warning.

    :param cli: the ``chatport`` click group.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_plugin_settings() -> Mapping[str, type | tuple[type, ...]] | None:
    """Declare the settings of this plugin's ``[plugins.NAME]`` config table.

    ``NAME`` is the plugin's entry-point name (``[project.entry-points.chatport] NAME =
    "module"``). Return each setting's name and its type, or a tuple of types, as
    backends declare ``option_types``: ``{"path": str, "log_text": bool}``. A table
    that holds an undeclared key or a value of the wrong type is a
    :class:`chatport.ConfigError` when a :class:`~chatport.Client` is built, naming the
    file and the dotted key, with the closest declared name. Declare ``enabled`` only if
    the plugin reads it: chatport itself gives no key a meaning. ``bool`` accepts
    ``true``/``false``; ``int`` and ``float`` reject them; ``collections.abc.Mapping``
    accepts a sub-table.

    Called for each plugin on its own (the result is that plugin's), whenever a config
    with a ``[plugins.NAME]`` table is checked; keep it cheap and free of side effects.
    A plugin that does not implement it (or returns ``None``) has its table unchecked,
    and built-in plugins have no table.

    :return: setting name -> type (or tuple of types), or ``None`` to leave the table
        unchecked.
    """


@hookspec
def chatport_call_start(call_id: str, request: ChatRequest, backend: str, config: Config) -> None:
    """Observe the start of a call, before its first attempt.

    A call is one ``complete``, ``acomplete``, ``stream`` or ``astream`` (and one input
    of a batch). It may take several attempts (retries, fallbacks); this hook runs once.
    A stream starts when its iteration starts.

    :param call_id: an identifier unique to this call, passed to every hook of the call.
    :param request: the validated request for the first backend, with its model.
    :param backend: the name of the first backend to try.
    :param config: the effective configuration of the client making the call.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_call_end(
    call_id: str,
    request: ChatRequest,
    backend: str,
    config: Config,
    status: Literal["ok", "error", "abandoned"],
    completion: Completion | None,
    error: ChatportError | None,
    elapsed_s: float,
    attempts: int,
) -> None:
    """Observe the end of a call, once, after its last attempt.

    ``status`` is ``"ok"`` (``completion`` is the answer), ``"error"`` (``error`` is the
    error the caller receives) or ``"abandoned"``: a stream closed before its end or a
    call cancelled (``completion`` holds what a stream had delivered, or is ``None``).

    :param call_id: the identifier given to ``chatport_call_start``.
    :param request: the request of the last attempt (a fallback may change the model).
    :param backend: the name of the backend of the last attempt.
    :param config: the effective configuration of the client making the call.
    :param status: ``"ok"``, ``"error"`` or ``"abandoned"``.
    :param completion: the completion, or ``None``.
    :param error: the chatport error, or ``None``.
    :param elapsed_s: seconds from the start of the call to its end.
    :param attempts: how many attempts were started.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_before_request(
    request: ChatRequest, backend: str, config: Config, attempt: int, call_id: str
) -> None:
    """Observe a request just before it is sent to a backend.

    Called once per attempt, so a retried or fallen-back call is seen once per try.

    :param request: the validated request, with its resolved model.
    :param backend: the name of the backend that will serve it.
    :param config: the effective configuration of the client making the call; plugins
        read their own settings with ``config.plugin_options("name")``.
    :param attempt: 1 for the first try, 2 for the first retry, and so on.
    :param call_id: the identifier of the call this attempt belongs to.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_first_chunk(
    call_id: str, request: ChatRequest, backend: str, config: Config, elapsed_s: float
) -> None:
    """Observe the first chunk of a stream as it arrives, before the caller gets it.

    Called at most once per call, for ``stream`` and ``astream`` only, on the attempt
    whose first chunk arrived (a stream is not retried after its first chunk). A stream
    that ends without any chunk does not call it.

    :param call_id: the identifier of the call.
    :param request: the request of the attempt that is streaming.
    :param backend: the name of the backend streaming it.
    :param config: the effective configuration of the client making the call.
    :param elapsed_s: seconds from the start of the attempt (just before its request is
        sent) to the arrival of the first chunk: the time to first chunk.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_after_completion(
    request: ChatRequest, completion: Completion, backend: str, config: Config, call_id: str
) -> None:
    """Observe a successful completion.

    Called once per successful call. For a stream, it is called once the stream has
    finished, with the completion assembled from its chunks.

    :param request: the request that was served.
    :param completion: the normalized result; ``completion.latency_s`` is set.
    :param backend: the name of the backend that served it.
    :param config: the effective configuration of the client making the call.
    :param call_id: the identifier of the call.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_on_error(
    request: ChatRequest,
    error: ChatportError,
    backend: str,
    config: Config,
    elapsed_s: float,
    call_id: str,
) -> None:
    """Observe a failed attempt.

    Called once for each attempt that raised, with the chatport error that the caller
    sees (or would see, when a retry or fallback follows).

    :param request: the request that failed.
    :param error: the chatport error; the backend's own exception is ``error.__cause__``.
    :param backend: the name of the backend that failed.
    :param config: the effective configuration of the client making the call.
    :param elapsed_s: seconds from the start of the attempt to the failure.
    :param call_id: the identifier of the call this attempt belongs to.
    :return: nothing; return values are ignored.
    """
