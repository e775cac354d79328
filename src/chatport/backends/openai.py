"""The ``openai`` backend: ``openai.OpenAI().chat.completions`` against Databricks.

Base URL ``<host>/serving-endpoints`` (option ``route = "serving-endpoints"``, the
default) or ``<host>/ai-gateway/mlflow/v1`` (``route = "ai-gateway"``). The raw JSON
answer goes through chatport's OpenAI-shape normalizer, so list-shaped content from
reasoning models is handled instead of being left as a raw list. A ResponsesAgent
endpoint, which chat completions cannot query, is sent its ``input`` at
``/serving-endpoints/{name}/invocations`` through the client's generic ``post``
(docs/agents.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._request import ChatRequest
from .._types import Completion
from .._wire.openai_shape import chat_body, completion_from_chat
from .._wire.sse import ChatEventStream
from ..hookspecs import hookimpl
from ._openai_sdk import OpenAISDKBackend, SDKCall
from .base import Capabilities

if TYPE_CHECKING:
    from .._family import ModelProfile
    from .._registry import BackendRegistry

__all__ = ["OpenAIBackend"]

_KNOWN = frozenset(
    {
        "messages",
        "max_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "stream_options",
        "reasoning_effort",
    }
)


class OpenAIBackend(OpenAISDKBackend):
    """Chat completions through the openai SDK."""

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=True, multiple_choices=True
    )
    description = "openai SDK chat.completions (/serving-endpoints or /ai-gateway/mlflow/v1)"
    speaks = "chat"

    def _resource(self, client: Any) -> Any:
        return client.chat.completions

    def _prepare(self, request: ChatRequest, profile: ModelProfile | None) -> SDKCall:
        agent = self._agent_call(request, profile)  # a ResponsesAgent: its /invocations
        if agent is not None:
            return agent
        return SDKCall(self._sdk_arguments(request, chat_body(request, profile, self.name), _KNOWN))

    def _normalize(self, data: Any) -> Completion:
        return completion_from_chat(data, self.name)

    def _events(self) -> ChatEventStream:
        return ChatEventStream(self.name)


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``openai`` backend."""
    registry.add("openai", OpenAIBackend)
