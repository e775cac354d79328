"""Span attributes for a chat call, after the OpenTelemetry GenAI semantic conventions.

Plain functions from chatport's neutral types to attribute mappings; nothing here imports
OpenTelemetry. The names are written out (they match
``opentelemetry.semconv._incubating.attributes.gen_ai_attributes``, which the tests
check) so the plugin needs no semantic-conventions package at run time.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

import chatport

__all__ = [
    "call_attributes",
    "error_attributes",
    "input_messages",
    "output_messages",
    "response_attributes",
    "scrub",
]

# -- the GenAI semantic conventions ---------------------------------------------------
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the older name of gen_ai.provider.name, still read by many tools
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
REQUEST_STREAM = "gen_ai.request.stream"
OUTPUT_TYPE = "gen_ai.output.type"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
EXCEPTION_TYPE = "exception.type"

# -- chatport's own --------------------------------------------------------------------
BACKEND = "chatport.backend"
CALL_ID = "chatport.call_id"
ATTEMPT = "chatport.attempt"
ATTEMPTS = "chatport.attempts"
STATUS = "chatport.status"
REASONING = "chatport.request.reasoning"
FIRST_CHUNK_EVENT = "chatport.first_chunk"

OPERATION = "chat"
PROVIDER = "databricks"

Attributes = dict[str, Any]


def call_attributes(request: chatport.ChatRequest, backend: str, call_id: str) -> Attributes:
    """The attributes known when a call starts: what is asked, of which model."""
    attributes: Attributes = {
        OPERATION_NAME: OPERATION,
        PROVIDER_NAME: PROVIDER,
        SYSTEM: PROVIDER,
        REQUEST_MODEL: request.model,
        REQUEST_STREAM: request.stream,
        BACKEND: backend,
        CALL_ID: call_id,
    }
    if request.max_tokens is not None:
        attributes[REQUEST_MAX_TOKENS] = request.max_tokens
    if request.temperature is not None:
        attributes[REQUEST_TEMPERATURE] = float(request.temperature)
    if request.top_p is not None:
        attributes[REQUEST_TOP_P] = float(request.top_p)
    if request.stop:
        attributes[REQUEST_STOP_SEQUENCES] = list(request.stop)
    if request.n is not None and request.n != 1:
        attributes[REQUEST_CHOICE_COUNT] = request.n
    if request.response_format is not None:
        attributes[OUTPUT_TYPE] = "json"
    reasoning = request.reasoning
    if reasoning is not None and reasoning is not False:
        attributes[REASONING] = reasoning if isinstance(reasoning, str | int) else str(reasoning)
    return attributes


def response_attributes(completion: chatport.Completion) -> Attributes:
    """What the answer says about itself: model, id, finish reasons and token usage."""
    attributes: Attributes = {}
    if completion.model:
        attributes[RESPONSE_MODEL] = completion.model
    if completion.id:
        attributes[RESPONSE_ID] = completion.id
    reasons = [c.finish_reason for c in completion.choices if c.finish_reason is not None]
    if not reasons and completion.finish_reason is not None:
        reasons = [completion.finish_reason]
    if reasons:
        attributes[RESPONSE_FINISH_REASONS] = reasons
    usage = completion.usage
    for name, value in (
        (USAGE_INPUT_TOKENS, usage.prompt_tokens),
        (USAGE_OUTPUT_TOKENS, usage.completion_tokens),
        (USAGE_CACHE_READ_INPUT_TOKENS, usage.cached_tokens),
        (USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_tokens),
        (USAGE_CACHE_CREATION_INPUT_TOKENS, usage.cache_write_tokens),
    ):
        if isinstance(value, int) and not isinstance(value, bool):
            attributes[name] = value
    return attributes


def error_attributes(error: BaseException) -> Attributes:
    """The error's class and HTTP status; never its message (it may quote a secret)."""
    attributes: Attributes = {ERROR_TYPE: type(error).__qualname__}
    status_code = getattr(error, "status_code", None)
    if isinstance(status_code, int) and not isinstance(status_code, bool):
        attributes[HTTP_RESPONSE_STATUS_CODE] = status_code
    return attributes


# -- content, captured only with capture_content = true ----------------------------------

#: the shapes of credentials: Databricks and OAuth tokens, authorization headers
_CREDENTIAL = re.compile(
    r"\b(?:dapi|dkea|dsapi)[\w-]{16,}|\bdose[0-9a-f]{16,}"
    r"|\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*"
    r"|(?i:\b(?:bearer|basic)\s+)[\w.~+/=-]{8,}"
)
#: environment variables whose values are never shown, whatever their shape
_SECRET_VARIABLES = ("DATABRICKS_TOKEN", "DATABRICKS_CLIENT_SECRET", "DATABRICKS_PASSWORD")
REDACTED = "****"


def scrub(text: str) -> str:
    """``text`` with credentials replaced by ``****``.

    Replaced: the values of the workspace's secret environment variables, and anything
    shaped like a Databricks token, a JWT or an authorization header.
    """
    for name in _SECRET_VARIABLES:
        secret = os.environ.get(name)
        if secret and len(secret) >= 8 and secret in text:
            text = text.replace(secret, REDACTED)
    return _CREDENTIAL.sub(REDACTED, text)


def _arguments(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def _part(part: object) -> dict[str, Any]:
    if isinstance(part, chatport.TextPart):
        return {"type": "text", "content": part.text}
    if isinstance(part, chatport.ReasoningPart):
        return {"type": "reasoning", "content": part.text}
    if isinstance(part, chatport.ImagePart):
        if part.url.startswith("data:"):  # inline bytes: named, not copied into the span
            return {"type": "blob", "modality": "image"}
        # without the query string, where a signed URL keeps its signature
        return {"type": "uri", "modality": "image", "uri": part.url.split("?", 1)[0]}
    kind = type(part).__name__.removesuffix("Part").lower() or "part"
    return {"type": kind}


def _message(message: chatport.Message) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    content = message.content
    if message.role == "tool":
        parts.append(
            {"type": "tool_call_response", "id": message.tool_call_id, "response": message.text}
        )
    elif isinstance(content, str):
        parts.append({"type": "text", "content": content})
    elif content is not None:
        parts.extend(_part(part) for part in content)
    parts.extend(
        {
            "type": "tool_call",
            "id": call.id,
            "name": call.name,
            "arguments": _arguments(call.arguments),
        }
        for call in message.tool_calls
    )
    out: dict[str, Any] = {"role": message.role, "parts": parts}
    if message.name is not None:
        out["name"] = message.name
    return out


def _dumps(value: object) -> str:
    return scrub(json.dumps(value, ensure_ascii=False, default=str))


def input_messages(request: chatport.ChatRequest) -> str:
    """The request's messages as the ``gen_ai.input.messages`` JSON, credentials scrubbed."""
    return _dumps([_message(message) for message in request.messages])


def output_messages(completion: chatport.Completion) -> str:
    """The answer's choices as the ``gen_ai.output.messages`` JSON, credentials scrubbed."""
    choices: list[Mapping[str, Any]] = []
    for choice in completion.choices:
        out = _message(choice.message)
        if choice.finish_reason is not None:
            out["finish_reason"] = choice.finish_reason
        choices.append(out)
    return _dumps(choices)
