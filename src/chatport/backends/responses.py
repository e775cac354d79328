"""The ``responses`` backend: the OpenAI Responses API (``client.responses.create``).

Messages become Responses ``input`` items (tool calls as ``function_call`` and
``function_call_output`` items); the answer's ``output`` items are normalized to the same
:class:`Completion` as every other backend. The Responses API has no ``stop`` and no
``n``: such requests are refused before anything is sent. A ChatAgent or ChatModel
endpoint, which the Responses API cannot query, is sent its ``messages`` at
``/serving-endpoints/{name}/invocations`` through the client's generic ``post``
(docs/agents.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._errors import UnsupportedFeatureError
from .._reasoning import responses_reasoning
from .._request import ChatRequest, app_name
from .._types import Chunk, Completion
from .._wire.agent_shape import agent_api
from .._wire.apps import AppURLs, app_errors
from .._wire.caching import EXPLICIT_CACHE_FAMILIES
from .._wire.media import aprefetch, prefetch
from .._wire.responses_shape import completion_from_response, responses_body
from .._wire.routing import AUTO
from .._wire.sse import ResponsesEventStream
from ..hookspecs import hookimpl
from ._openai_sdk import OpenAISDKBackend, SDKCall
from .base import BackendSettings, Capabilities

if TYPE_CHECKING:
    from .._family import ModelProfile
    from .._registry import BackendRegistry

__all__ = ["RESPONSES_ROUTES", "ResponsesBackend"]

_KNOWN = frozenset(
    {
        "input",
        "max_output_tokens",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "text",
        "reasoning",
    }
)
#: The ``route`` option's values and the base path of each: the serving-endpoints
#: passthrough, AI Gateway's unified (MLflow) route and its OpenAI-native route, and Open
#: Responses, ``POST /serving-endpoints/open-responses``, reached through the client's
#: generic post. ``"auto"`` is also taken (:meth:`ResponsesBackend.route_for`).
RESPONSES_ROUTES = {
    "serving-endpoints": "/serving-endpoints",
    "ai-gateway": "/ai-gateway/mlflow/v1",
    "ai-gateway-openai": "/ai-gateway/openai/v1",
    "open-responses": "/serving-endpoints",
}
_OPEN_RESPONSES_PATH = "/open-responses"
#: Fields that need server-side state, which the stateless Open Responses route lacks.
_STATEFUL = ("previous_response_id", "conversation")


class ResponsesBackend(OpenAISDKBackend):
    """The Responses API through the openai SDK, on the route each model needs.

    Databricks' ``/serving-endpoints/responses`` (and the gateway's ``/responses``) is a
    passthrough for OpenAI models only; every other model takes the Responses format
    at ``/serving-endpoints/open-responses``. Without a ``route`` option the route is
    chosen per endpoint from its metadata (its model family); ``route`` always wins.
    """

    capabilities = Capabilities(
        streaming=True,
        tools=True,
        response_format=True,
        native_async=True,
        multiple_choices=False,
        stop=False,
        apps=True,
    )
    description = "openai SDK responses.create (OpenAI models) or Open Responses (the others)"
    speaks = "responses"

    routes = MappingProxyType(RESPONSES_ROUTES)

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._route: str | None = settings.option("route")
        self._apps = AppURLs(settings, self.name)

    def route_for(self, profile: ModelProfile | None, endpoint: str | None = None) -> str:
        """The route serving an endpoint with this profile (the option, if set, wins).

        Under ``route = "auto"`` an OpenAI model goes to the gateway's Responses route
        first, and to ``/serving-endpoints`` once the gateway said it does not serve it;
        every other model to Open Responses (the gateway's Responses routes are a
        passthrough for OpenAI models only).
        """
        if agent_api(profile) == "responses" and self._route in (None, AUTO):
            return "serving-endpoints"  # documented: responses.create(model=<agent endpoint>)
        if self._route == AUTO:
            if profile is not None and profile.family != "openai":
                return "open-responses"
            return self._clients.route_for(endpoint) if endpoint else "ai-gateway"
        if self._route is not None or profile is None:
            return self._route or "serving-endpoints"
        return "serving-endpoints" if profile.family == "openai" else "open-responses"

    def _reads_profile(self, request: ChatRequest) -> bool:
        """Every call without a ``route`` option (the route is picked per endpoint), and
        the calls whose body or shape depends on the endpoint: streams (an agent's API),
        reasoning, caching and media."""
        return (
            self._route in (None, AUTO)
            or request.stream
            or request.reasoning not in (None, False)
            or request.wants_cache
            or request.has_media
        )

    def _profile_for(self, request: ChatRequest) -> ModelProfile | None:
        profile = self.profile(request.model) if self._reads_profile(request) else None
        if request.has_media:  # remote images some families take only as data
            prefetch(request, profile, self.name)
        return profile

    async def _aprofile_for(self, request: ChatRequest) -> ModelProfile | None:
        profile = await self.aprofile(request.model) if self._reads_profile(request) else None
        if request.has_media:  # remote images some families take only as data
            await aprefetch(request, profile, self.name)
        return profile

    def _resource(self, client: Any) -> Any:
        return client.responses

    def _refuse_stop(self, request: ChatRequest) -> None:
        if request.stop:  # the client refuses it first; a caller of the backend itself too
            raise UnsupportedFeatureError(
                self.name,
                "stop",
                (),
                message=f"backend {self.name!r} does not support stop: the Responses API "
                "has no stop sequences",
            )

    def _prepare(self, request: ChatRequest, profile: ModelProfile | None) -> SDKCall:
        self._refuse_stop(request)
        agent = self._agent_call(request, profile)  # a ChatAgent or ChatModel: /invocations
        if agent is not None:
            return agent
        route = self.route_for(profile, request.model)
        stateful = [name for name in _STATEFUL if name in request.extra]
        if route == "open-responses" and stateful:
            raise UnsupportedFeatureError(
                self.name,
                stateful[0],
                (),
                message=(
                    f"{stateful[0]} is not supported on the open-responses route, which "
                    f"serves {request.model!r}: it is stateless, so send the whole "
                    "conversation in the messages"
                ),
            )
        if profile is not None and profile.family in EXPLICIT_CACHE_FAMILIES:
            _refuse_breakpoints(self.name, request)
        body = responses_body(request, profile, self.name)
        if profile is not None:
            body.update(responses_reasoning(request, profile, self.name))
        kwargs = self._sdk_arguments(request, body, _KNOWN)
        path = _OPEN_RESPONSES_PATH if route == "open-responses" else None
        return SDKCall(kwargs, path, route)

    # -- agents on Databricks Apps: model="apps/<app name>" -----------------------------

    def _app_call(self, request: ChatRequest, url: str) -> SDKCall:
        """The Responses call to the app at ``url`` (``model`` stays ``apps/<name>``,
        as Databricks' client sends it); an app has no endpoint metadata to read."""
        self._refuse_stop(request)
        body = responses_body(request, None, self.name)
        return SDKCall(self._sdk_arguments(request, body, _KNOWN), base_url=url)

    def complete(self, request: ChatRequest) -> Completion:
        """One call; an app's (``apps/<name>``) goes to the app's own ``/responses``."""
        app = app_name(request.model)
        if app is None:
            return super().complete(request)
        call = self._app_call(request, self._apps.url(app))
        with app_errors(app):
            return self._complete_on(call)

    async def acomplete(self, request: ChatRequest) -> Completion:
        """The async twin of :meth:`complete`."""
        app = app_name(request.model)
        if app is None:
            return await super().acomplete(request)
        call = self._app_call(request, await self._apps.aurl(app))
        with app_errors(app):
            return await self._acomplete_on(call)

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A streamed call; an app's goes to the app's own ``/responses``."""
        app = app_name(request.model)
        if app is None:
            yield from super().stream(request)
            return
        call = self._app_call(request, self._apps.url(app))
        with app_errors(app):
            yield from self._stream_on(call)

    async def astream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """The async twin of :meth:`stream`."""
        app = app_name(request.model)
        if app is None:
            async for chunk in super().astream(request):
                yield chunk
            return
        call = self._app_call(request, await self._apps.aurl(app))
        with app_errors(app):
            async for chunk in self._astream_on(call):
                yield chunk

    def _normalize(self, data: Any) -> Completion:
        return completion_from_response(data, self.name)

    def _events(self) -> ResponsesEventStream:
        return ResponsesEventStream(self.name)


def _refuse_breakpoints(backend: str, request: ChatRequest) -> None:
    """Claude caches only at ``cache_control`` breakpoints, which Responses input lacks."""
    if request.wants_cache:
        raise UnsupportedFeatureError(
            backend,
            "cache",
            ("rest", "openai", "mlflow", "databricks-sdk", "anthropic"),
            message=(
                f"prompt caching for {request.model!r} (a Claude model) needs cache_control "
                "breakpoints, which the Responses API cannot carry; use a chat backend "
                "(rest, openai, mlflow, databricks-sdk) or the anthropic plugin, or drop cache="
            ),
        )


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``responses`` backend."""
    registry.add("responses", ResponsesBackend)
