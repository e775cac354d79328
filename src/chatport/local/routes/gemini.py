"""The Gemini API: ``/gemini/v1beta/models/{model}:generateContent`` and
``:streamGenerateContent`` on the serving and AI Gateway bases."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import governance
from ..errors import WireError
from ..gemini import (
    check_gemini_body,
    check_gemini_family,
    gemini_attachments,
    gemini_chunks,
    gemini_response,
)
from ..generate import answer, prompt_tokens
from ..media import acknowledge
from ..rules import chat_reasons
from ._context import RouteContext
from ._stream import sse_data

__all__ = ["routes"]

_METHODS = ("generateContent", "streamGenerateContent")


def routes(ctx: RouteContext) -> list[Route]:
    """The Gemini ``generateContent`` routes (the method follows the model after a ``:``)."""
    return [
        ctx.post("/serving-endpoints/gemini/v1beta/models/{call}", generate),
        ctx.post("/ai-gateway/gemini/v1beta/models/{call}", generate),
    ]


def _not_found() -> WireError:
    return WireError(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "Invalid path"})


async def generate(ctx: RouteContext, request: Request) -> Response:
    """A ``GenerateContentResponse`` (or its chunks, as SSE with ``alt=sse``, else a JSON
    array) from a Gemini endpoint."""
    model, _, method = str(request.path_params["call"]).rpartition(":")
    if not model or method not in _METHODS:
        raise _not_found()
    body = await ctx.read_json(request)
    endpoint = ctx.model_endpoint(request, model)
    ctx.created(request, endpoint)  # a Gemini answer has no timestamp: its Date header is one
    check_gemini_family(endpoint)
    faults = ctx.faults(endpoint)
    await faults.before(endpoint)
    messages, params, thoughts = check_gemini_body(body)
    note = gemini_attachments(body)
    governance.check_request(endpoint, {"messages": messages})
    stream = method == "streamGenerateContent"
    broken = faults.garbage(stream)
    if broken is not None:
        return broken
    prompt = prompt_tokens(messages)
    choices = answer(endpoint, messages, params, reasons=chat_reasons(endpoint, {}))
    acknowledge(choices, note)
    blocked = governance.screen_output(endpoint, choices, {"messages": messages})
    if blocked is not None and not stream:
        raise blocked
    name = endpoint.served_model_name or endpoint.name
    final = gemini_response(
        ctx.response_id(endpoint, "gen-"),
        name,
        choices,
        prompt,
        thoughts=thoughts,
        with_usage=not endpoint.omit_usage,
    )
    if not stream:
        return JSONResponse(final)
    chunks = list(gemini_chunks(final)) if len(choices) == 1 else [final]
    if blocked is not None:  # an output guardrail stops the stream it started
        message = str(blocked.body.get("message", ""))
        error = {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}
        chunks = [chunks[0], error]
    if request.query_params.get("alt") != "sse":
        return JSONResponse(chunks)
    return faults.stream([sse_data(chunk) for chunk in chunks], {})
