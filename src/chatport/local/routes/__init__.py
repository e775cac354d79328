"""The local workspace's routes, one module per API group, each registering its own.

Every module has ``routes(ctx) -> list[Route]``; :data:`ROUTE_GROUPS` lists them in the
order the app tries them. Their paths never overlap, so that order changes nothing; the
app's catch-all comes after them all.

- :mod:`.chat`: ``/invocations`` and ``/chat/completions``
- :mod:`.responses`: the OpenAI Responses API
- :mod:`.open_responses`: ``/serving-endpoints/open-responses``
- :mod:`.messages`: the Anthropic Messages API
- :mod:`.gemini`: the Gemini API (``generateContent``)
- :mod:`.endpoints`: ``/api/2.0/serving-endpoints`` (endpoint metadata)
- :mod:`.oauth`: host metadata, OIDC discovery and the token route
- :mod:`.apps`: Databricks Apps (``/api/2.0/apps/{name}``, ``/apps/{name}/responses``)
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import Route

from . import apps, chat, endpoints, gemini, messages, oauth, open_responses, responses
from ._context import RouteContext, error_response

__all__ = ["ROUTE_GROUPS", "RouteContext", "error_response"]

#: Each route module's ``routes``, in the order the app tries them.
ROUTE_GROUPS: tuple[Callable[[RouteContext], list[Route]], ...] = (
    chat.routes,
    responses.routes,
    open_responses.routes,
    messages.routes,
    gemini.routes,
    endpoints.routes,
    oauth.routes,
    apps.routes,
)
