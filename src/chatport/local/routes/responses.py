"""The OpenAI Responses API: ``/serving-endpoints/responses`` and the AI Gateway's
unified ``/ai-gateway/mlflow/v1/responses`` and OpenAI-native
``/ai-gateway/openai/v1/responses``.

:func:`answer_responses` also serves the open-responses route, which differs only in
which families it accepts.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import governance
from ..agents import is_agent
from ..errors import bad_request
from ..formats import responses_format
from ..generate import answer, prompt_tokens
from ..media import acknowledge, check_responses_media, responses_attachments
from ..responses import check_responses_body, response_events, response_object
from ..rules import check_responses_family, responses_reasons
from ._agents import agent_response
from ._context import RouteContext
from ._stream import sse_event

__all__ = ["answer_responses", "routes"]


def routes(ctx: RouteContext) -> list[Route]:
    """The OpenAI Responses routes."""
    return [
        ctx.post("/serving-endpoints/responses", openai_responses),
        ctx.post("/ai-gateway/mlflow/v1/responses", openai_responses),
        ctx.post("/ai-gateway/openai/v1/responses", openai_responses),
    ]


async def openai_responses(ctx: RouteContext, request: Request) -> Response:
    """A response from the endpoint the body's ``model`` names."""
    return await answer_responses(ctx, request, open_route=False)


async def answer_responses(ctx: RouteContext, request: Request, *, open_route: bool) -> Response:
    """A Responses API answer (a response object, or its events when ``stream`` is set);
    ``open_route`` is whether it came by ``/serving-endpoints/open-responses``."""
    body = await ctx.read_json(request)
    if not isinstance(body.get("model"), str):
        raise bad_request("model: a model (endpoint name) is required")
    endpoint = ctx.model_endpoint(request, body["model"])
    if is_agent(endpoint):
        if open_route:
            raise bad_request(
                f"Endpoint {endpoint.name!r} is an agent endpoint: open-responses does not "
                "serve it; query it at /serving-endpoints/responses or its /invocations."
            )
        return await agent_response(ctx, request, endpoint, body)
    created = ctx.created(request, endpoint)
    faults = ctx.faults(endpoint)
    await faults.before(endpoint)
    governance.check_request(endpoint, body)
    messages, params = check_responses_body(body)
    check_responses_family(endpoint, body, open_route=open_route)
    check_responses_media(endpoint, body)
    stream = bool(body.get("stream"))
    broken = faults.garbage(stream)
    if broken is not None:
        return broken
    choice = answer(
        endpoint,
        messages,
        params,
        reasons=responses_reasons(endpoint, body),
        text_format=responses_format(body.get("text")),
    )[0]
    acknowledge([choice], responses_attachments(body))
    blocked = governance.screen_output(endpoint, [choice], body)
    if blocked is not None and not stream:
        raise blocked
    model = endpoint.served_model_name or endpoint.name
    final = response_object(
        ctx.response_id(endpoint, "resp_"),
        model,
        created,
        choice,
        prompt_tokens(messages),
        not endpoint.omit_usage,
        claude=endpoint.family == "anthropic",
    )
    if not stream:
        return JSONResponse(final)
    events = []
    for sequence, event in enumerate(response_events(final)):
        events.append(sse_event({**event, "sequence_number": sequence}))
    if blocked is not None:  # an output guardrail stops the stream it started
        events = [events[0], sse_event(governance.stream_error(blocked, "responses", 1))]
    return faults.stream(events, {})
