"""The ``responses`` backend: the OpenAI Responses API (``client.responses.create``).

Messages become Responses ``input`` items (tool calls as ``function_call`` and
``function_call_output`` items); the answer's ``output`` items are normalized to the same
:class:`Completion` as every other backend. The Responses API has no ``stop`` and no
``n``: such requests are refused before anything is sent.
"""

from __future__ import annotations

from typing import Any

from .._errors import UnsupportedFeatureError
from .._plugins import get_registry, hookimpl
from .._registry import BackendRegistry
from .._request import ChatRequest
from .._types import Completion
from .base import Capabilities
from .openai_client import OpenAISDKBackend
from .responses_shape import completion_from_response, responses_body
from .sse import ResponsesEventStream

__all__ = ["ResponsesBackend"]

_KNOWN = frozenset(
    {"input", "max_output_tokens", "temperature", "top_p", "tools", "tool_choice", "text"}
)


class ResponsesBackend(OpenAISDKBackend):
    """The Responses API through the openai SDK."""

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=True, multiple_choices=False
    )
    description = "openai SDK responses.create (the OpenAI Responses API)"

    def _resource(self, client: Any) -> Any:
        return client.responses

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        if request.stop:
            supported = [
                info.name for info in get_registry() if info.name not in ("responses", self.name)
            ]
            raise UnsupportedFeatureError(self.name, "stop", supported)
        return self._sdk_arguments(request, responses_body(request), _KNOWN)

    def _normalize(self, data: Any) -> Completion:
        return completion_from_response(data, self.name)

    def _events(self) -> ResponsesEventStream:
        return ResponsesEventStream(self.name)


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``responses`` backend."""
    registry.add("responses", ResponsesBackend)
