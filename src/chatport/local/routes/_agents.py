"""Agent endpoints on the routes that reach them (``/invocations``, ``/chat/completions``,
``/responses``): each answers in its agent's own shape (:mod:`chatport.local.agents`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import governance
from ..agents import agent_answer, agent_events, check_agent_body
from ..endpoints import Endpoint
from ..request_ids import request_id
from ._context import RouteContext
from ._stream import sse_data

__all__ = ["agent_response"]

_DONE = b"data: [DONE]\n\n"


async def agent_response(
    ctx: RouteContext, request: Request, endpoint: Endpoint, body: dict[str, Any]
) -> Response:
    """The agent's answer to ``body``: one JSON object, or its stream when ``stream`` is set."""
    ctx.created(request, endpoint)
    faults = ctx.faults(endpoint)
    await faults.before(endpoint)
    governance.check_request(endpoint, body)  # limits, budget, input guardrails
    check_agent_body(endpoint, body)
    stream = body.get("stream") is True
    broken = faults.garbage(stream)
    if broken is not None:
        return broken
    answer = agent_answer(endpoint, body, request_id(request.scope))
    if not stream:
        return JSONResponse(answer)
    events = [_DONE if e == "[DONE]" else sse_data(e) for e in agent_events(endpoint, answer)]
    return faults.stream(events, {})
