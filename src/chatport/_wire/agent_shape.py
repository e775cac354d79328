"""Agent endpoints on Model Serving: which request shape an endpoint takes, and its answer.

An agent endpoint's metadata names its interface in ``task``: ``agent/v1/responses``
(a ResponsesAgent: ``input`` items in, ``output`` items out) or ``agent/v2/chat`` and
``agent/v1/chat`` (a ChatAgent or a ChatModel: ``messages`` in). Every backend reaches
both: the openai clients through the API they speak, and an agent of the other API
through ``/invocations`` in its own shape, as the other backends do (docs/agents.md).
Answers in either agent shape become the same :class:`Completion`
(:func:`completion_from_invocation`), ``raw`` keeping the whole answer with its
``custom_outputs`` and ``databricks_output``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Literal, TypeAlias, TypeVar
from urllib.parse import quote

from .._errors import (
    APIError,
    BadRequestError,
    BudgetExceededError,
    GuardrailError,
    RateLimitError,
)
from .._family import ModelProfile
from .._request import ChatRequest
from .._types import Completion
from .openai_shape import chat_body, completion_from_chat
from .responses_shape import completion_from_response, responses_body
from .routing import is_gateway_miss
from .sse import ChatEventStream, ResponsesEventStream

__all__ = [
    "AGENT_TASKS",
    "AgentApi",
    "agent_api",
    "asend_learning",
    "completion_from_invocation",
    "invocation_body",
    "invocation_events",
    "invocation_path",
    "refuses_shape",
    "send_learning",
]

_T = TypeVar("_T")

#: The API an agent endpoint takes: ``responses`` (``input``) or ``chat`` (``messages``).
AgentApi: TypeAlias = Literal["responses", "chat"]
#: Each agent task of the serving-endpoints metadata and the API it takes.
AGENT_TASKS: Mapping[str, AgentApi] = {
    "agent/v1/responses": "responses",
    "agent/v2/chat": "chat",
    "agent/v1/chat": "chat",
}


def agent_api(profile: ModelProfile | None) -> AgentApi | None:
    """The API of an agent endpoint with this profile; ``None`` for any other endpoint
    (or one whose metadata was not read)."""
    if profile is None or profile.task is None:
        return None
    return AGENT_TASKS.get(profile.task)


def invocation_path(endpoint: str) -> str:
    """``/{endpoint}/invocations``, below ``/serving-endpoints``: the endpoint's name
    escaped as one URL path segment."""
    return f"/{quote(endpoint, safe='')}/invocations"


def refuses_shape(error: BaseException, *, gateway: bool = False) -> bool:
    """Whether ``error`` may be an endpoint refusing a request shape it does not take: a
    plain ``400`` (with ``gateway``, also the gateway saying it does not serve the
    endpoint). A governance answer (a guardrail or budget block, a rate limit) never is:
    it is about the call, not its shape, and sending again gets the same answer."""
    if isinstance(error, (GuardrailError, BudgetExceededError, RateLimitError)):
        return False
    return isinstance(error, BadRequestError) or (gateway and is_gateway_miss(error))


def send_learning(
    send: Callable[[AgentApi | None], _T],
    sent: AgentApi | None,
    lookup: Callable[[], ModelProfile] | None,
    *,
    gateway: bool = False,
) -> _T:
    """``send(sent)``; if the endpoint refuses that shape (:func:`refuses_shape`), the
    call once more as ``send(api)``, ``api`` the agent API its metadata names when it is
    not what was sent (``sent``: ``None`` is the chat shape).

    ``lookup`` reads the endpoint's metadata (once; the backend caches it). ``None``
    when the call was sent knowing the endpoint's profile: a refusal was then not about
    the shape and is raised as it is, as is any refusal of an endpoint that is no agent
    of another API.
    """
    try:
        return send(sent)
    except APIError as error:
        if lookup is None or not refuses_shape(error, gateway=gateway):
            raise
        learned = agent_api(lookup())
        if learned is None or learned == (sent or "chat"):
            raise
    return send(learned)


async def asend_learning(
    send: Callable[[AgentApi | None], Awaitable[_T]],
    sent: AgentApi | None,
    lookup: Callable[[], Awaitable[ModelProfile]] | None,
    *,
    gateway: bool = False,
) -> _T:
    """The async twin of :func:`send_learning`."""
    try:
        return await send(sent)
    except APIError as error:
        if lookup is None or not refuses_shape(error, gateway=gateway):
            raise
        learned = agent_api(await lookup())
        if learned is None or learned == (sent or "chat"):
            raise
    return await send(learned)


def invocation_body(
    request: ChatRequest, profile: ModelProfile | None, backend: str, agent: AgentApi | None
) -> dict[str, Any]:
    """The ``/invocations`` body for ``request`` (without ``stream``): a ResponsesAgent's
    ``input`` items, else the chat-completions body (a ChatAgent takes ``messages``)."""
    if agent == "responses":
        return responses_body(request, profile, backend)
    return chat_body(request, profile, backend)


def completion_from_invocation(data: object, backend: str, raw: Any = None) -> Completion:
    """An ``/invocations`` answer: a chat completion, a ChatAgent's ``messages`` or a
    ResponsesAgent's ``output`` items, told apart by the answer itself."""
    if (
        isinstance(data, Mapping)
        and data.get("choices") is None
        and isinstance(data.get("output"), list)
    ):
        completion = completion_from_response(data, backend)
        if raw is not None:
            completion = replace(completion, raw=raw)
        return completion
    return completion_from_chat(data, backend, raw=raw)


def invocation_events(
    backend: str, agent: AgentApi | None
) -> ChatEventStream | ResponsesEventStream:
    """The reader of an ``/invocations`` stream: Responses events for a ResponsesAgent,
    chat chunks (or a ChatAgent's ``delta`` chunks) otherwise."""
    return ResponsesEventStream(backend) if agent == "responses" else ChatEventStream(backend)
