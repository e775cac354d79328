"""chatport plugin: every chat call an MLflow trace, each attempt a child span.

With ``[plugins.mlflow-tracing] enabled = true`` in the chatport config, each call
(``complete``, ``acomplete``, ``stream``, ``astream``, each input of a batch) becomes
one MLflow trace whose root is a ``CHAT_MODEL`` span: the request as inputs, the
normalized completion as outputs, and the backend, model, token usage, finish reason,
latency and attempt count as attributes; a failed call records its error. Every attempt
(retries and fallbacks) is a child span, so a slow call shows where its time went.
A stream is traced when it finishes or is abandoned.

Traces go where MLflow sends them (``MLFLOW_TRACKING_URI``, ``mlflow.set_tracking_uri``)
into ``experiment_id`` if set, else MLflow's active experiment. Spans are built in
memory and MLflow exports finished traces from its own background queue, so the hooks
do no I/O on the caller's thread or event loop. mlflow is imported on the first traced
call, never at ``import chatport``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import chatport

if TYPE_CHECKING:
    from mlflow.entities.span import LiveSpan

__all__ = [
    "PLUGIN_NAME",
    "chatport_after_completion",
    "chatport_before_request",
    "chatport_call_end",
    "chatport_call_start",
    "chatport_on_error",
    "open_calls",
]

#: The config table this plugin reads: ``[plugins.mlflow-tracing]``.
PLUGIN_NAME = "mlflow-tracing"

_PARAMS = ("max_tokens", "temperature", "top_p", "stop", "n", "tool_choice", "reasoning")


@dataclass
class _Call:
    root: LiveSpan
    attempt: LiveSpan | None = None


_lock = threading.Lock()
_calls: dict[str, _Call] = {}


def open_calls() -> int:
    """How many traced calls have started and not ended (0 once every call is over)."""
    with _lock:
        return len(_calls)


def _settings(config: chatport.Config) -> tuple[bool, str | None]:
    options = config.plugin_options(PLUGIN_NAME)
    experiment = options.get("experiment_id")
    return options.get("enabled") is True, str(experiment) if experiment is not None else None


def _inputs(request: chatport.ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {name: getattr(request, name) for name in _PARAMS}
    params["stream"] = request.stream
    if request.tools:
        params["tools"] = [dict(tool) for tool in request.tools]
    if request.response_format is not None:
        params["response_format"] = dict(request.response_format)
    return {
        "model": request.model,
        "messages": [message.to_dict() for message in request.messages],
        "params": {name: value for name, value in params.items() if value is not None},
    }


def _usage(usage: chatport.Usage) -> dict[str, Any]:
    from mlflow.tracing.constant import SpanAttributeKey, TokenUsageKey

    counts = {
        TokenUsageKey.INPUT_TOKENS: usage.prompt_tokens,
        TokenUsageKey.OUTPUT_TOKENS: usage.completion_tokens,
        TokenUsageKey.TOTAL_TOKENS: usage.total_tokens,
    }
    attributes: dict[str, Any] = {"chatport.usage": usage.to_dict()}
    if all(value is not None for value in counts.values()):  # MLflow's own usage key
        attributes[SpanAttributeKey.CHAT_USAGE] = counts
    return attributes


def _completion_attributes(completion: chatport.Completion) -> dict[str, Any]:
    attributes = {
        "chatport.finish_reason": completion.finish_reason,
        "chatport.latency_s": completion.latency_s,
        "chatport.response_model": completion.model,
        **_usage(completion.usage),
    }
    return {key: value for key, value in attributes.items() if value is not None}


def _error_attributes(error: chatport.ChatportError) -> dict[str, Any]:
    attributes: dict[str, Any] = {"chatport.error": type(error).__name__}
    status_code = getattr(error, "status_code", None)
    if status_code is not None:
        attributes["chatport.status_code"] = status_code
    return attributes


@chatport.hookimpl
def chatport_call_start(
    call_id: str, request: chatport.ChatRequest, backend: str, config: chatport.Config
) -> None:
    """Open the trace: a ``CHAT_MODEL`` root span with the request as inputs."""
    enabled, experiment_id = _settings(config)
    if not enabled:
        return
    import mlflow
    from mlflow.entities import SpanType

    root = mlflow.start_span_no_context(
        name=f"chatport {backend}",
        span_type=SpanType.CHAT_MODEL,
        inputs=_inputs(request),
        attributes={"chatport.backend": backend, "chatport.model": request.model},
        experiment_id=experiment_id,
    )
    with _lock:
        _calls[call_id] = _Call(root)


@chatport.hookimpl
def chatport_before_request(
    call_id: str, request: chatport.ChatRequest, backend: str, attempt: int
) -> None:
    """Open a child span for this attempt."""
    with _lock:
        call = _calls.get(call_id)
    if call is None:
        return
    import mlflow
    from mlflow.entities import SpanType

    call.attempt = mlflow.start_span_no_context(
        name=f"attempt {attempt}",
        span_type=SpanType.CHAT_MODEL,
        parent_span=call.root,
        inputs={"model": request.model, "backend": backend},
        attributes={
            "chatport.backend": backend,
            "chatport.model": request.model,
            "chatport.attempt": attempt,
        },
    )


@chatport.hookimpl
def chatport_on_error(call_id: str, error: chatport.ChatportError, elapsed_s: float) -> None:
    """Close the attempt's span as failed, with its error."""
    with _lock:
        call = _calls.get(call_id)
    if call is None or call.attempt is None:
        return
    span, call.attempt = call.attempt, None
    span.set_attributes({**_error_attributes(error), "chatport.elapsed_s": elapsed_s})
    span.record_exception(error)  # an exception event, and status ERROR
    span.end()


@chatport.hookimpl
def chatport_after_completion(call_id: str, completion: chatport.Completion) -> None:
    """Close the attempt's span with the completion."""
    with _lock:
        call = _calls.get(call_id)
    if call is None or call.attempt is None:
        return
    span, call.attempt = call.attempt, None
    span.end(outputs=completion.to_dict(), attributes=_completion_attributes(completion))


@chatport.hookimpl
def chatport_call_end(
    call_id: str,
    request: chatport.ChatRequest,
    backend: str,
    status: str,
    completion: chatport.Completion | None,
    error: chatport.ChatportError | None,
    elapsed_s: float,
    attempts: int,
) -> None:
    """Close the trace: outputs, attributes and status of the whole call."""
    with _lock:
        call = _calls.pop(call_id, None)
    if call is None:
        return
    root = call.root
    if call.attempt is not None:  # a stream abandoned while this attempt was running
        call.attempt.end(attributes={"chatport.abandoned": True})
    attributes: dict[str, Any] = {
        "chatport.backend": backend,
        "chatport.model": request.model,
        "chatport.status": status,
        "chatport.attempts": attempts,
        "chatport.latency_s": elapsed_s,
    }
    outputs = completion.to_dict() if completion is not None else None
    if completion is not None:
        attributes.update(_completion_attributes(completion))
        attributes["chatport.latency_s"] = elapsed_s  # the whole call, not the last attempt
    if error is not None:
        attributes.update(_error_attributes(error))
        root.record_exception(error)
        root.end(outputs=outputs, attributes=attributes)
        return
    root.end(outputs=outputs, attributes=attributes, status="OK")
