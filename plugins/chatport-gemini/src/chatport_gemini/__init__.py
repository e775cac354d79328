"""chatport backend plugin ``gemini``: Gemini through the google-genai SDK's Gemini API.

Databricks serves the Gemini API at ``{host}/serving-endpoints/gemini`` and, through
the AI Gateway, at ``{host}/ai-gateway/gemini`` (option ``route``) or on a separate
gateway host (option ``gateway_url``). Install the package and select the backend::

    chatport.complete("Hello", backend="gemini", model="databricks-gemini-2-5-pro")
"""

from __future__ import annotations

import chatport
from chatport import BackendRegistry

from ._backend import API_VERSION, ROUTES, GeminiBackend, base_url, model_segment
from ._errors import map_error
from ._request import THINKING_BUDGETS

__all__ = [
    "API_VERSION",
    "ROUTES",
    "THINKING_BUDGETS",
    "GeminiBackend",
    "base_url",
    "chatport_plugin_settings",
    "chatport_register_backends",
    "map_error",
    "model_segment",
]


@chatport.hookimpl
def chatport_plugin_settings() -> dict[str, type | tuple[type, ...]]:
    """No settings: the backend's options go in ``[backends.gemini]``."""
    return {}


@chatport.hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``gemini`` backend."""
    registry.add("gemini", GeminiBackend)
