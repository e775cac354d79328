"""The ``openai`` backend: ``openai.OpenAI().chat.completions`` against Databricks.

Base URL ``<host>/serving-endpoints`` (option ``route = "serving-endpoints"``, the
default) or ``<host>/ai-gateway/mlflow/v1`` (``route = "ai-gateway"``). The raw JSON
answer goes through chatport's OpenAI-shape normalizer, so list-shaped content from
reasoning models is handled instead of being left as a raw list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import BadRequestError
from .._request import ChatRequest
from .._types import Completion
from .._wire.agent_shape import arelearn, refuse_agent, relearn
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

    def _resource(self, client: Any) -> Any:
        return client.chat.completions

    def complete(self, request: ChatRequest) -> Completion:
        """One call. A plain call reads no endpoint metadata; when the endpoint refuses
        it (``400``), its metadata says whether it is a ResponsesAgent endpoint, which
        chat completions cannot query: that is then an :class:`UnsupportedFeatureError`
        (and every later call to it is refused before sending)."""
        known = self.known_profile(request.model)
        try:
            return super().complete(request)
        except BadRequestError:
            if relearn(known, "chat", lambda: self.profile(request.model)) is None:
                raise
            refuse_agent(self.name, self.known_profile(request.model), "chat")
            raise

    async def acomplete(self, request: ChatRequest) -> Completion:
        """The async twin of :meth:`complete`."""
        known = self.known_profile(request.model)
        try:
            return await super().acomplete(request)
        except BadRequestError:
            if await arelearn(known, "chat", lambda: self.aprofile(request.model)) is None:
                raise
            refuse_agent(self.name, self.known_profile(request.model), "chat")
            raise

    def _prepare(self, request: ChatRequest, profile: ModelProfile | None) -> SDKCall:
        refuse_agent(self.name, profile or self.known_profile(request.model), "chat")
        return SDKCall(self._sdk_arguments(request, chat_body(request, profile, self.name), _KNOWN))

    def _normalize(self, data: Any) -> Completion:
        return completion_from_chat(data, self.name)

    def _events(self) -> ChatEventStream:
        return ChatEventStream(self.name)


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``openai`` backend."""
    registry.add("openai", OpenAIBackend)
