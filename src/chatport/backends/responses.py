"""The ``responses`` backend: the OpenAI Responses API (``client.responses.create``).

Messages become Responses ``input`` items (tool calls as ``function_call`` and
``function_call_output`` items); the answer's ``output`` items are normalized to the same
:class:`Completion` as every other backend. The Responses API has no ``stop`` and no
``n``: such requests are refused before anything is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from .._errors import ChatportError, UnsupportedFeatureError
from .._plugins import get_registry, hookimpl
from .._registry import BackendRegistry
from .._request import ChatRequest
from .._retry import remaining
from .._types import Chunk, Completion
from .base import Backend, BackendSettings, Capabilities
from .openai_client import OpenAIClients, json_of, map_openai_error, split_known
from .responses_shape import completion_from_response, responses_body
from .sse import ResponsesEventStream

__all__ = ["ResponsesBackend"]

_KNOWN = frozenset(
    {"input", "max_output_tokens", "temperature", "top_p", "tools", "tool_choice", "text"}
)


class ResponsesBackend(Backend):
    """The Responses API through the openai SDK."""

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=True, multiple_choices=False
    )
    option_types: ClassVar[Mapping[str, type]] = MappingProxyType({"route": str})
    requires = ("openai",)
    extra = "openai"
    description = "openai SDK responses.create (the OpenAI Responses API)"

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._clients = OpenAIClients(settings)

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        if request.stop:
            supported = [
                info.name for info in get_registry() if info.name not in ("responses", self.name)
            ]
            raise UnsupportedFeatureError(self.name, "stop", supported)
        kwargs, extra = split_known(responses_body(request), _KNOWN)
        kwargs["model"] = request.model
        kwargs["timeout"] = remaining(self.settings.timeout)
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def complete(self, request: ChatRequest) -> Completion:
        """One response."""
        arguments = self._arguments(request)
        try:
            raw = self._clients.sync().responses.with_raw_response.create(**arguments)
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        return completion_from_response(json_of(raw, self.name), self.name)

    async def acomplete(self, request: ChatRequest) -> Completion:
        """One response with ``AsyncOpenAI``."""
        arguments = self._arguments(request)
        client = await self._clients.async_()
        try:
            raw = await client.responses.with_raw_response.create(**arguments)
        except ChatportError:
            raise
        except Exception as exc:
            raise map_openai_error(exc, self.name) from exc
        return completion_from_response(json_of(raw, self.name), self.name)

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed response (text, reasoning and tool calls as chunks)."""
        arguments = self._arguments(request)
        events = ResponsesEventStream(self.name)
        create = self._clients.sync().responses.with_streaming_response.create
        try:
            with create(stream=True, **arguments) as response:
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
        events.end()

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """A streamed response with ``AsyncOpenAI``."""
        arguments = self._arguments(request)
        events = ResponsesEventStream(self.name)
        client = await self._clients.async_()
        create = client.responses.with_streaming_response.create
        try:
            async with create(stream=True, **arguments) as response:
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
        events.end()

    def close(self) -> None:
        """Close the openai client."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the openai clients, including this event loop's."""
        await self._clients.aclose()


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``responses`` backend."""
    registry.add("responses", ResponsesBackend)
