"""chatport plugin: OpenTelemetry spans for every chat call, after the GenAI conventions.

With ``[plugins.opentelemetry] enabled = true`` in the chatport config, each call
(``complete``, ``acomplete``, ``stream``, ``astream``, each input of a batch) is one
``CLIENT`` span named ``chat MODEL``, a child of the span current where the call starts,
carrying the GenAI semantic-convention attributes (operation, provider, request
parameters, response model and id, finish reasons, token usage, ``error.type``). Every
attempt (retries and fallbacks) is a child span ``attempt N``; a failed attempt or call
has status ``ERROR``. An abandoned stream ends its spans. Prompt and answer text are
recorded only with ``capture_content = true``, with credentials scrubbed.

Spans go to the global ``TracerProvider`` (``opentelemetry.trace.set_tracer_provider``),
looked up at each call, or to the one given to :func:`use_tracer_provider`. Where the
application configured no provider (the ``chatport`` command, a script), the
``exporter`` setting (``"otlp"`` or ``"console"``) makes the plugin build its own, once,
used for chatport's spans only (never set as the global one) and flushed at exit; a
configured global provider always wins over it. OpenTelemetry is imported on the first
traced call, never by ``import chatport`` nor while the plugin is off.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import chatport
from chatport import hookspecs

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

    from ._tracing import CallSpans

__all__ = [
    "PLUGIN_NAME",
    "chatport_after_completion",
    "chatport_before_request",
    "chatport_call_end",
    "chatport_call_start",
    "chatport_first_chunk",
    "chatport_on_error",
    "chatport_plugin_settings",
    "open_calls",
    "use_tracer_provider",
]

#: The config table this plugin reads: ``[plugins.opentelemetry]``.
PLUGIN_NAME = "opentelemetry"

_FLAGS = ("enabled", "capture_content")
_OPTIONS = (*_FLAGS, "exporter")
#: the values ``exporter`` takes; "none" (the default) builds nothing
_EXPORTERS = ("otlp", "console", "none")
_log = logging.getLogger("chatport_opentelemetry")

#: the spans of the calls being traced, by call id. Each access is one dict operation
#: (atomic), and one call's hooks never run at the same time, so no lock is needed.
_calls: dict[str, CallSpans] = {}


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Send spans to ``provider`` instead of the global one; ``None`` goes back to it.

    For tests and for applications that keep their own provider: the global provider
    can be set only once per process.
    """
    from . import _tracing

    _tracing.use_tracer_provider(provider)


def open_calls() -> int:
    """How many traced calls have started and not ended (0 once every call is over)."""
    return len(_calls)


# -- reporting: once per problem, never raising into the call ---------------------------

_reported: set[str] = set()
_report_lock = threading.Lock()


def _report_once(message: str, key: str | None = None) -> None:
    """Log ``message`` the first time ``key`` (default: the message) comes up."""
    with _report_lock:
        if (key or message) in _reported:
            return
        _reported.add(key or message)
    _log.warning("chatport-opentelemetry: %s", message)


def _failed(hook: str, exc: Exception) -> None:
    message = f"{hook} failed, spans may be incomplete: {type(exc).__name__}: {exc}"
    _report_once(message, key=f"{hook}: {type(exc).__qualname__}")


def _settings(options: Mapping[str, Any]) -> tuple[bool, bool, str | None]:
    """``(enabled, capture_content, exporter)``; anything but ``true`` is off, and an
    unknown exporter is none, with a warning."""
    for key, value in options.items():
        if key not in _OPTIONS:
            _report_once(f"unknown option [plugins.{PLUGIN_NAME}] {key!r} is ignored")
        elif key in _FLAGS and not isinstance(value, bool):
            _report_once(f"[plugins.{PLUGIN_NAME}] {key} must be true or false; taken as false")
    exporter = options.get("exporter", "none")
    if exporter not in _EXPORTERS:
        choices = ", ".join(f'"{name}"' for name in _EXPORTERS)
        _report_once(
            f"[plugins.{PLUGIN_NAME}] exporter must be one of {choices}, not {exporter!r}; "
            'taken as "none"'
        )
        exporter = "none"
    return (
        options.get("enabled") is True,
        options.get("capture_content") is True,
        None if exporter == "none" else exporter,
    )


# -- the hooks -------------------------------------------------------------------------


@chatport.hookimpl
def chatport_call_start(
    call_id: str, request: chatport.ChatRequest, backend: str, config: chatport.Config
) -> None:
    """Start the call's span when the plugin is enabled."""
    options = config.plugin_options(PLUGIN_NAME)
    if not options:
        return
    try:
        enabled, capture, exporter = _settings(options)
        if not enabled:
            return
        from . import _tracing  # OpenTelemetry is imported here, on the first traced call

        spans = _tracing.start(call_id, request, backend, capture, exporter)
        if spans is not None:
            _calls[call_id] = spans
    except ImportError as exc:
        _report_once(
            f"cannot trace: {exc}; install the plugin with its dependencies: "
            "pip install chatport-opentelemetry (opentelemetry-api, opentelemetry-sdk)"
        )
    except Exception as exc:
        _failed("chatport_call_start", exc)


@chatport.hookimpl
def chatport_before_request(
    call_id: str, request: chatport.ChatRequest, backend: str, attempt: int
) -> None:
    """Start an attempt's span."""
    spans = _calls.get(call_id)
    if spans is None:
        return
    try:
        spans.attempt(request, backend, attempt)
    except Exception as exc:
        _failed("chatport_before_request", exc)


@chatport.hookimpl
def chatport_on_error(call_id: str, error: chatport.ChatportError) -> None:
    """End a failed attempt's span with its error."""
    spans = _calls.get(call_id)
    if spans is None:
        return
    try:
        spans.failed(error)
    except Exception as exc:
        _failed("chatport_on_error", exc)


@chatport.hookimpl
def chatport_after_completion(call_id: str) -> None:
    """End the span of the attempt that answered."""
    spans = _calls.get(call_id)
    if spans is None:
        return
    try:
        spans.answered()
    except Exception as exc:
        _failed("chatport_after_completion", exc)


#: The settings of ``[plugins.opentelemetry]`` and their types (checked by chatport).
SETTINGS: dict[str, type | tuple[type, ...]] = {
    "enabled": bool,
    "capture_content": bool,
    "exporter": str,
}


@chatport.hookimpl
def chatport_plugin_settings() -> dict[str, type | tuple[type, ...]]:
    """``enabled``, ``capture_content`` and ``exporter``: a typo in the table is a
    :class:`chatport.ConfigError` when a ``Client`` is built."""
    return SETTINGS


def chatport_first_chunk(call_id: str, elapsed_s: float) -> None:
    """Record a stream's time to first chunk (a hook of chatport versions that have it)."""
    spans = _calls.get(call_id)
    if spans is None:
        return
    try:
        spans.first_chunk(elapsed_s)
    except Exception as exc:
        _failed("chatport_first_chunk", exc)


def _has_first_chunk_hook() -> bool:
    spec = getattr(hookspecs, "chatport_first_chunk", None)
    return spec is not None and {"call_id", "elapsed_s"} <= set(inspect.signature(spec).parameters)


# Implemented only where chatport specifies the hook with these arguments: chatport
# reports an implementation of a hook it does not have, and pluggy refuses a plugin
# whose implementation asks for an argument the spec lacks.
if _has_first_chunk_hook():
    chatport.hookimpl(chatport_first_chunk)


@chatport.hookimpl
def chatport_call_end(
    call_id: str,
    backend: str,
    status: str,
    completion: chatport.Completion | None,
    error: chatport.ChatportError | None,
    attempts: int,
) -> None:
    """End the call's span: its answer, or its error, or that it was abandoned."""
    spans = _calls.pop(call_id, None)
    if spans is None:
        return
    try:
        spans.end(status, backend, completion, error, attempts)
    except Exception as exc:
        _failed("chatport_call_end", exc)
