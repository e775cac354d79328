"""chatport backend plugin ``anthropic``: Claude through the anthropic SDK's Messages API.

Databricks serves the Messages API at ``{host}/serving-endpoints/anthropic`` and, through
the AI Gateway, at ``{host}/ai-gateway/anthropic`` (option ``route``) or on a separate
gateway host (option ``gateway_url``). Install the package and select the backend::

    chatport.complete("Hello", backend="anthropic", model="databricks-claude-sonnet-4-5")
"""

from __future__ import annotations

import chatport
from chatport import BackendRegistry

from ._backend import ROUTES, AnthropicBackend, base_url
from ._errors import map_error
from ._request import DEFAULT_MAX_TOKENS

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "ROUTES",
    "AnthropicBackend",
    "base_url",
    "chatport_plugin_settings",
    "chatport_register_backends",
    "map_error",
]


@chatport.hookimpl
def chatport_plugin_settings() -> dict[str, type | tuple[type, ...]]:
    """No settings: the backend's options go in ``[backends.anthropic]``."""
    return {}


@chatport.hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``anthropic`` backend."""
    registry.add("anthropic", AnthropicBackend)
