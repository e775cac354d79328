"""The OpenTelemetry side: one CLIENT span per call, an INTERNAL child span per attempt.

Imported on the first traced call (or by :func:`use_tracer_provider`), never by
``import chatport``. Spans are built the way OpenTelemetry instrumentations build them,
on the caller's thread: starting and ending a span is a few microseconds, and export
happens where the application's span processor puts it (a ``BatchSpanProcessor`` sends
from its own thread).

Which provider records a call's spans, first match wins: the one given to
:func:`use_tracer_provider`; the global one, when the application configured it; the
plugin's own, built once per ``exporter`` setting (``otlp`` or ``console``) for
applications that configure nothing, such as the ``chatport`` command; else the global
default, which records nothing. The plugin's own provider is never made the global one.
"""

from __future__ import annotations

import sys
import threading
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
#: ``service.name`` of the plugin's own provider when the environment names none
DEFAULT_SERVICE_NAME = "chatport"
#: the fix named when ``exporter = "otlp"`` finds no OTLP exporter
OTLP_FIX = 'pip install "./plugins/chatport-opentelemetry[otlp]"'

#: the provider given to use_tracer_provider, else None for the global one
_provider: TracerProvider | None = None
#: the tracer of the provider last used: (provider, tracer), replaced as one object
_cached: tuple[object, Tracer] | None = None
#: the providers built for the ``exporter`` setting, by exporter; None: could not build
_own: dict[str, TracerProvider | None] = {}
_own_lock = threading.Lock()


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


def _tracer(exporter: str | None) -> Tracer:
    """The tracer of the provider in use, looked up at each call (the global provider
    may be set after chatport starts) and kept while the provider stays the same."""
    global _cached
    provider = _provider
    if provider is None:
        provider = trace.get_tracer_provider()
        # the API's default proxy: the application configured no provider
        if exporter is not None and isinstance(provider, trace.ProxyTracerProvider):
            provider = _own_provider(exporter) or provider
    cached = _cached
    if cached is not None and cached[0] is provider:
        return cached[1]
    tracer = provider.get_tracer(_SCOPE, _version())
    _cached = (provider, tracer)
    return tracer


def _own_provider(exporter: str) -> TracerProvider | None:
    """The plugin's provider for ``exporter``, built on first use, once per process."""
    try:
        return _own[exporter]  # one dict read: no lock once built
    except KeyError:
        pass
    with _own_lock:
        if exporter not in _own:
            _own[exporter] = _build_provider(exporter)
        return _own[exporter]


def _build_provider(exporter: str) -> TracerProvider | None:
    """An SDK provider exporting with ``exporter`` through a ``BatchSpanProcessor``;
    ``None``, said once, when it cannot be built. The SDK's ``shutdown_on_exit`` flushes
    it when the process exits (an ``atexit`` handler: the processor's thread is a daemon,
    alive until then, and the OTLP/HTTP exporter sends on that thread)."""
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    from . import _report_once

    span_exporter: SpanExporter
    try:
        if exporter == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
            except ImportError as exc:
                _report_once(
                    f'exporter = "otlp" needs opentelemetry-exporter-otlp-proto-http ({exc}); '
                    "spans are not exported. Install the plugin's otlp extra from the "
                    f"chatport checkout: {OTLP_FIX}"
                )
                return None
            span_exporter = OTLPSpanExporter()  # reads the OTEL_EXPORTER_OTLP_* variables
        else:  # console: standard error, where it cannot mix with an answer on stdout
            span_exporter = ConsoleSpanExporter(out=sys.stderr)
        named = SERVICE_NAME in OTELResourceDetector().detect().attributes
        resource = Resource.create({} if named else {SERVICE_NAME: DEFAULT_SERVICE_NAME})
        provider = SdkTracerProvider(resource=resource, shutdown_on_exit=True)
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    except Exception as exc:
        _report_once(
            f'cannot set up exporter = "{exporter}": {type(exc).__name__}: {exc}; '
            "spans are not exported"
        )
        return None
    return provider


def start(
    call_id: str,
    request: chatport.ChatRequest,
    backend: str,
    capture: bool,
    exporter: str | None = None,
) -> CallSpans | None:
    """Start a call's span, a child of the current span; ``None`` when it is not recorded
    (no SDK configured, or sampled out): then the call costs nothing more.

    ``exporter`` (``"otlp"`` or ``"console"``) traces with the plugin's own provider
    when the application configured no global one."""
    tracer = _tracer(exporter)
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
