"""Hook specifications: the points where plugins extend chatport.

A plugin is a module or object with functions named like these hooks and marked with
:data:`chatport.hookimpl`. An implementation may accept fewer arguments than the spec
lists, so new arguments can be added later without breaking plugins.

Observer hooks (``chatport_before_request``, ``chatport_after_completion`` and
``chatport_on_error``) are called one plugin at a time: an observer that raises is
reported as a warning and never breaks the call or the other observers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ._config import Config
    from ._errors import ChatportError
    from ._registry import BackendRegistry
    from ._request import ChatRequest
    from ._types import Completion

hookspec = pluggy.HookspecMarker("chatport")


@hookspec
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register backends by calling ``registry.add(name, BackendClass, aliases=())``.

    Called once per process, when chatport first needs the list of backends. The
    built-in backends register through this same hook.

    :param registry: the backend registry; call its ``add`` method.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_before_request(
    request: ChatRequest, backend: str, config: Config, attempt: int
) -> None:
    """Observe a request just before it is sent to a backend.

    Called once per attempt, so a retried or fallen-back call is seen once per try.

    :param request: the validated request, with its resolved model.
    :param backend: the name of the backend that will serve it.
    :param config: the effective configuration of the client making the call; plugins
        read their own settings with ``config.plugin_options("name")``.
    :param attempt: 1 for the first try, 2 for the first retry, and so on.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_after_completion(
    request: ChatRequest, completion: Completion, backend: str, config: Config
) -> None:
    """Observe a successful completion.

    Called once per successful call. For a stream, it is called once the stream has
    finished, with the completion assembled from its chunks.

    :param request: the request that was served.
    :param completion: the normalized result; ``completion.latency_s`` is set.
    :param backend: the name of the backend that served it.
    :param config: the effective configuration of the client making the call.
    :return: nothing; return values are ignored.
    """


@hookspec
def chatport_on_error(
    request: ChatRequest, error: ChatportError, backend: str, config: Config, elapsed_s: float
) -> None:
    """Observe a failed attempt.

    Called once for each attempt that raised, with the chatport error that the caller
    sees (or would see, when a retry or fallback follows).

    :param request: the request that failed.
    :param error: the chatport error; the backend's own exception is ``error.__cause__``.
    :param backend: the name of the backend that failed.
    :param config: the effective configuration of the client making the call.
    :param elapsed_s: seconds from the start of the attempt to the failure.
    :return: nothing; return values are ignored.
    """
