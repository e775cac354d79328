"""The ``openai`` backend: ``openai.OpenAI().chat.completions`` against Databricks.

Base URL ``<host>/serving-endpoints`` (option ``route = "serving-endpoints"``, the
default) or ``<host>/ai-gateway/mlflow/v1`` (``route = "ai-gateway"``). The raw JSON
answer goes through chatport's OpenAI-shape normalizer, so list-shaped content from
reasoning models is handled instead of being left as a raw list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from .._errors import ChatportError
from .._plugins import hookimpl
from .._registry import BackendRegistry
from .._request import ChatRequest
from .._retry import remaining
from .._types import Chunk, Completion
from .base import Backend, BackendSettings, Capabilities
from .openai_client import OpenAIClients, json_of, map_openai_error, split_known
from .openai_shape import completion_from_chat
from .sse import ChatEventStream

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
    }
)


class OpenAIBackend(Backend):
    """Chat completions through the openai SDK."""

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=True, multiple_choices=True
    )
    option_types: ClassVar[Mapping[str, type]] = MappingProxyType({"route": str})
    requires = ("openai",)
    extra = "openai"
    description = "openai SDK chat.completions (/serving-endpoints or /ai-gateway/mlflow/v1)"

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._clients = OpenAIClients(settings)

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        kwargs, extra = split_known(request.to_dict(), _KNOWN)
        kwargs["model"] = request.model
        kwargs["timeout"] = remaining(self.settings.timeout)
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def complete(self, request: ChatRequest) -> Completion:
        """One chat completion."""
        try:
            raw = self._clients.sync().chat.completions.with_raw_response.create(
                **self._arguments(request)
            )
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        return completion_from_chat(json_of(raw, self.name), self.name)

    async def acomplete(self, request: ChatRequest) -> Completion:
        """One chat completion with ``AsyncOpenAI``."""
        client = await self._clients.async_()
        try:
            raw = await client.chat.completions.with_raw_response.create(**self._arguments(request))
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        return completion_from_chat(json_of(raw, self.name), self.name)

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed chat completion."""
        events = ChatEventStream(self.name)
        create = self._clients.sync().chat.completions.with_streaming_response.create
        try:
            with create(stream=True, **self._arguments(request)) as response:
                for line in response.iter_lines():
                    chunk = events.feed(line)
                    if chunk is not None:
                        yield chunk
                    if events.done:
                        break
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        last = events.end()
        if last is not None:
            yield last

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """A streamed chat completion with ``AsyncOpenAI``; closing it closes the connection."""
        events = ChatEventStream(self.name)
        client = await self._clients.async_()
        create = client.chat.completions.with_streaming_response.create
        try:
            async with create(stream=True, **self._arguments(request)) as response:
                async for line in response.iter_lines():
                    chunk = events.feed(line)
                    if chunk is not None:
                        yield chunk
                    if events.done:
                        break
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        last = events.end()
        if last is not None:
            yield last

    def close(self) -> None:
        """Close the openai client."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the openai clients, including this event loop's."""
        await self._clients.aclose()


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``openai`` backend."""
    registry.add("openai", OpenAIBackend)
