"""The OpenTelemetry side: one CLIENT span per call, an INTERNAL child span per attempt.

Imported on the first traced call (or by :func:`use_tracer_provider`), never by
``import chatport``. Spans are built the way OpenTelemetry instrumentations build them,
on the caller's thread: starting and ending a span is a few microseconds, and export
happens where the application's span processor puts it (a ``BatchSpanProcessor`` sends
from its own thread).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import _attributes as attr

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

    import chatport

__all__ = ["CallSpans", "start", "use_tracer_provider"]

_SCOPE = "chatport_opentelemetry"

#: the provider given to use_tracer_provider, else None for the global one
_provider: TracerProvider | None = None
#: the tracer of the provider last used: (provider, tracer), replaced as one object
_cached: tuple[object, Tracer] | None = None


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Trace with ``provider``; ``None`` goes back to the global one."""
    global _provider
    _provider = provider


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chatport-opentelemetry")
    except PackageNotFoundError:
        return "0"


def _tracer() -> Tracer:
    """The tracer of the provider in use, looked up at each call (the global provider
    may be set after chatport starts) and kept while the provider stays the same."""
    global _cached
    provider = _provider if _provider is not None else trace.get_tracer_provider()
    cached = _cached
    if cached is not None and cached[0] is provider:
        return cached[1]
    tracer = provider.get_tracer(_SCOPE, _version())
    _cached = (provider, tracer)
    return tracer


def start(
    call_id: str, request: chatport.ChatRequest, backend: str, capture: bool
) -> CallSpans | None:
    """Start a call's span, a child of the current span; ``None`` when it is not recorded
    (no SDK configured, or sampled out): then the call costs nothing more."""
    tracer = _tracer()
    span = tracer.start_span(
        f"{attr.OPERATION} {request.model}",
        kind=SpanKind.CLIENT,
        attributes=attr.call_attributes(request, backend, call_id),
    )
    if not span.is_recording():
        span.end()
        return None
    if capture:
        span.set_attribute(attr.INPUT_MESSAGES, attr.input_messages(request))
    return CallSpans(tracer, span, capture)


class CallSpans:
    """The spans of one call. One call's hooks run one after another, so no lock."""

    __slots__ = ("_attempt", "_capture", "_context", "_span", "_tracer")

    def __init__(self, tracer: Tracer, span: Span, capture: bool) -> None:
        self._tracer = tracer
        self._span = span
        self._capture = capture
        self._context: Context = trace.set_span_in_context(span)
        self._attempt: Span | None = None

    def attempt(self, request: chatport.ChatRequest, backend: str, number: int) -> None:
        """Attempt ``number`` starts: a child span until it fails or answers."""
        self._close_attempt("superseded")  # never left open by chatport; be safe anyway
        self._attempt = self._tracer.start_span(
            f"attempt {number}",
            context=self._context,
            kind=SpanKind.INTERNAL,
            attributes={
                attr.ATTEMPT: number,
                attr.BACKEND: backend,
                attr.REQUEST_MODEL: request.model,
            },
        )

    def failed(self, error: BaseException) -> None:
        """The current attempt failed with ``error``."""
        span, self._attempt = self._attempt, None
        if span is not None:
            _set_error(span, error)
            span.end()

    def answered(self) -> None:
        """The current attempt answered (its answer goes on the call's span)."""
        span, self._attempt = self._attempt, None
        if span is not None:
            span.end()

    def first_chunk(self, elapsed_s: float) -> None:
        """A stream's first chunk arrived ``elapsed_s`` seconds after its request."""
        ttft = {attr.RESPONSE_TIME_TO_FIRST_CHUNK: elapsed_s}
        self._span.set_attributes(ttft)
        self._span.add_event(attr.FIRST_CHUNK_EVENT, ttft)
        if self._attempt is not None:
            self._attempt.set_attributes(ttft)

    def end(
        self,
        status: str,
        backend: str,
        completion: chatport.Completion | None,
        error: BaseException | None,
        attempts: int,
    ) -> None:
        """The call is over: ``ok``, ``error`` or ``abandoned`` (a stream closed early)."""
        self._close_attempt(status)  # still open when a stream was abandoned mid-way
        span = self._span
        attributes: attr.Attributes = {
            attr.STATUS: status,
            attr.ATTEMPTS: attempts,
            attr.BACKEND: backend,
        }
        if completion is not None:
            attributes.update(attr.response_attributes(completion))
            if self._capture:
                attributes[attr.OUTPUT_MESSAGES] = attr.output_messages(completion)
        span.set_attributes(attributes)  # one call: the SDK checks and locks per call
        if error is not None:
            _set_error(span, error)
        span.end()

    def _close_attempt(self, status: str) -> None:
        span, self._attempt = self._attempt, None
        if span is not None:
            span.set_attribute(attr.STATUS, status)
            span.end()


def _set_error(span: Span, error: BaseException) -> None:
    """Status ERROR, ``error.type`` and an ``exception`` event naming the class only."""
    attributes = attr.error_attributes(error)
    span.set_attributes(attributes)
    span.add_event("exception", {attr.EXCEPTION_TYPE: attributes[attr.ERROR_TYPE]})
    span.set_status(Status(StatusCode.ERROR, attributes[attr.ERROR_TYPE]))
