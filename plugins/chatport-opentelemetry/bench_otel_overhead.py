"""Overhead of chatport-opentelemetry per call: ``python bench_otel_overhead.py [N]``.

Runs N calls on the offline ``fake`` backend with the plugin off, then on (an SDK
``TracerProvider`` with a ``BatchSpanProcessor`` and an exporter that drops the spans),
and prints the time per call of each and the difference, next to what the SDK alone
takes to build the same two spans.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import chatport_opentelemetry
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import chatport


class Drop(SpanExporter):
    """Exports nothing: the cost measured is building the spans, not sending them."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def per_call(client: chatport.Client, calls: int) -> float:
    for _ in range(200):  # warm up (the first traced call imports OpenTelemetry)
        client.complete("warm up", model="m")
    start = time.perf_counter()
    for index in range(calls):
        client.complete(f"question {index}", model="m")
    return (time.perf_counter() - start) / calls


def sdk_alone(provider: TracerProvider, calls: int) -> float:
    """Two spans with about as many attributes as the plugin sets, without chatport."""
    tracer = provider.get_tracer("bench")
    start = time.perf_counter()
    for index in range(calls):
        call = tracer.start_span("chat m", attributes={f"request.{i}": i for i in range(7)})
        attempt = tracer.start_span("attempt 1", attributes={"a": 1, "b": "fake", "c": "m"})
        attempt.end()
        call.set_attributes({f"response.{i}": index for i in range(8)})
        call.end()
    return (time.perf_counter() - start) / calls


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    chatport_opentelemetry.use_tracer_provider(provider)
    tracing = {"plugins": {"opentelemetry": {"enabled": True}}}
    with chatport.Client(backend="fake", config={}) as off:
        untraced = per_call(off, calls)
    with chatport.Client(backend="fake", config=tracing) as on:
        traced = per_call(on, calls)
    bare = sdk_alone(provider, calls)
    provider.shutdown()
    print(f"{calls} calls on the fake backend")
    print(f"  plugin off:  {untraced * 1e6:8.1f} us per call")
    print(f"  plugin on:   {traced * 1e6:8.1f} us per call")
    print(f"  overhead:    {(traced - untraced) * 1e6:8.1f} us per call")
    print(f"  (the SDK alone, the same two spans: {bare * 1e6:.1f} us)")


if __name__ == "__main__":
    main()
