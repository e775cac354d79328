"""The Anthropic Messages API: ``/anthropic/v1/messages`` on the serving and AI Gateway
bases, with errors in Anthropic's shape."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import governance
from ..caching import messages_cache_counts
from ..errors import anthropic_error
from ..generate import answer, prompt_tokens
from ..media import acknowledge, check_messages_media, messages_attachments
from ..messages import check_messages_body, check_messages_family, message_events, message_object
from ..rules import chat_reasons
from ._context import RouteContext
from ._stream import sse_event

__all__ = ["routes"]


def routes(ctx: RouteContext) -> list[Route]:
    """The Anthropic Messages routes."""
    return [
        ctx.post("/serving-endpoints/anthropic/v1/messages", messages),
        ctx.post("/ai-gateway/anthropic/v1/messages", messages),
    ]


async def messages(ctx: RouteContext, request: Request) -> Response:
    """A message (or its events when ``stream`` is set) from a Claude endpoint."""
    body = await ctx.read_json(request)
    if not isinstance(body.get("model"), str):
        raise anthropic_error("model: Field required")
    endpoint = ctx.model_endpoint(request, body["model"])
    ctx.created(request, endpoint)  # a message has no timestamp: its Date header is one
    check_messages_family(endpoint)
    faults = ctx.faults(endpoint)
    await faults.before(endpoint)
    governance.check_request(endpoint, body)
    chat_messages, params = check_messages_body(body, endpoint)
    check_messages_media(body)
    stream = bool(body.get("stream"))
    broken = faults.garbage(stream)
    if broken is not None:
        return broken
    prompt = prompt_tokens(chat_messages)
    cache = messages_cache_counts(ctx.state, endpoint.name, body, prompt)
    choice = answer(endpoint, chat_messages, params, reasons=chat_reasons(endpoint, body))[0]
    acknowledge([choice], messages_attachments(body))
    blocked = governance.screen_output(endpoint, [choice], body)
    if blocked is not None and not stream:
        raise blocked
    model = endpoint.served_model_name or endpoint.name
    final = message_object(
        ctx.response_id(endpoint, "msg_"), model, choice, prompt, (cache.written, cache.read)
    )
    if not stream:
        return JSONResponse(final)
    events = [sse_event(event) for event in message_events(final)]
    if blocked is not None:  # an output guardrail stops the stream it started
        events = [events[0], sse_event(governance.stream_error(blocked, "messages"))]
    return faults.stream(events, {})
