"""The OpenAI Responses API: ``/serving-endpoints/responses`` and the AI Gateway's
``/ai-gateway/mlflow/v1/responses``.

:func:`answer_responses` also serves the open-responses route, which differs only in
which families it accepts.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import bad_request
from ..formats import responses_format
from ..generate import answer, prompt_tokens
from ..responses import check_responses_body, response_events, response_object
from ..rules import check_responses_family, responses_reasons
from ._context import RouteContext
from ._stream import sse_event

__all__ = ["answer_responses", "routes"]


def routes(ctx: RouteContext) -> list[Route]:
    """The OpenAI Responses routes."""
    return [
        ctx.post("/serving-endpoints/responses", openai_responses),
        ctx.post("/ai-gateway/mlflow/v1/responses", openai_responses),
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
    created = ctx.created(request, endpoint)
    faults = ctx.faults(endpoint)
    await faults.before(endpoint)
    messages, params = check_responses_body(body)
    check_responses_family(endpoint, body, open_route=open_route)
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
    return faults.stream(events, {})
