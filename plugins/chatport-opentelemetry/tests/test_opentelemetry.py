"""Tests for chatport-opentelemetry with the SDK's in-memory exporter.

Each test gives the plugin its own ``TracerProvider`` (``use_tracer_provider``): the
global provider can be set once per process, so the global path is tested in a fresh
process (``test_otlp_export.py``). Calls go to the local workspace over real HTTP, or to
the offline ``fake`` backend where the test scripts the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import chatport_opentelemetry
import pytest
from chatport_opentelemetry import _attributes, _tracing
from click.testing import CliRunner
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once

import chatport
from chatport import hookspecs
from chatport.cli import cli
from chatport.local import Fault, LocalWorkspace
from chatport.testing import FakeBackend, temporary_plugin

MODEL = "databricks-gpt-5"
CANARY = "dapi-CANARY-0123456789abcdef"
HAS_FIRST_CHUNK_HOOK = hasattr(hookspecs, "chatport_first_chunk")


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    provider = TracerProvider(shutdown_on_exit=False)
    chatport_opentelemetry.use_tracer_provider(provider)
    try:
        yield provider
    finally:
        chatport_opentelemetry.use_tracer_provider(None)
        provider.shutdown()


@pytest.fixture
def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def _config(**options: Any) -> dict[str, Any]:
    table = {"enabled": True, **options}
    return {"max_retries": 1, "plugins": {"opentelemetry": table}}


def _client(
    backend: str = "openai", *, settings: dict[str, Any] | None = None, **options: Any
) -> chatport.Client:
    config = {**_config(**options), **(settings or {})}
    return chatport.Client(backend=backend, model=MODEL, config=config)


def _fake(client: chatport.Client) -> FakeBackend:
    backend = client.backend()
    assert isinstance(backend, FakeBackend)
    return backend


def _calls(exporter: InMemorySpanExporter) -> list[tuple[ReadableSpan, list[ReadableSpan]]]:
    """Each call span with its attempt spans, in start order; every span is in one."""
    spans = exporter.get_finished_spans()
    roots = sorted((s for s in spans if s.kind is SpanKind.CLIENT), key=lambda s: s.start_time or 0)
    calls = []
    for root in roots:
        assert root.context is not None
        children = [
            s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id
        ]
        for child in children:
            assert child.context is not None
            assert child.context.trace_id == root.context.trace_id
        calls.append((root, sorted(children, key=lambda s: s.start_time or 0)))
    assert sum(1 + len(children) for _, children in calls) == len(spans)
    assert chatport_opentelemetry.open_calls() == 0
    return calls


def _one_call(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, list[ReadableSpan]]:
    (call,) = _calls(exporter)
    return call


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _dump(spans: Sequence[ReadableSpan]) -> str:
    """Everything the spans would export: names, attributes, events, status."""
    return "\n".join(span.to_json() for span in spans)


def test_listed_as_a_plugin() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = [row for row in json.loads(result.output) if row["name"] == "opentelemetry"]
    assert row["package"] == "chatport-opentelemetry"
    expected = {
        "chatport_after_completion",
        "chatport_before_request",
        "chatport_call_end",
        "chatport_call_start",
        "chatport_on_error",
        "chatport_plugin_settings",
    }
    if HAS_FIRST_CHUNK_HOOK:
        expected.add("chatport_first_chunk")
    assert set(row["hooks"]) == expected


def test_a_completion_is_a_client_span_with_genai_attributes(
    exporter: InMemorySpanExporter, local_workspace: LocalWorkspace
) -> None:
    with _client() as client:
        answer = client.complete(
            "hello world", max_tokens=50, temperature=0.5, top_p=0.9, stop=["END"]
        )
    call, attempts = _one_call(exporter)
    assert call.name == f"chat {MODEL}"
    assert call.kind is SpanKind.CLIENT
    assert call.parent is None
    assert call.status.status_code is StatusCode.UNSET
    assert call.instrumentation_scope is not None
    assert call.instrumentation_scope.name == "chatport_opentelemetry"
    attributes = _attrs(call)
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "databricks",
        "gen_ai.system": "databricks",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.stream": False,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.response.model": answer.model,
        "gen_ai.response.id": answer.id,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": answer.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": answer.usage.completion_tokens,
        "chatport.backend": "openai",
        "chatport.call_id": attributes["chatport.call_id"],
        "chatport.status": "ok",
        "chatport.attempts": 1,
    }
    assert answer.id
    assert answer.model == MODEL
    (attempt,) = attempts
    assert attempt.name == "attempt 1"
    assert attempt.kind is SpanKind.INTERNAL
    assert _attrs(attempt) == {
        "chatport.attempt": 1,
        "chatport.backend": "openai",
        "gen_ai.request.model": MODEL,
    }
    assert attempt.status.status_code is StatusCode.UNSET
    assert call.start_time is not None
    assert attempt.start_time is not None
    assert call.end_time is not None
    assert attempt.end_time is not None
    assert call.start_time <= attempt.start_time <= attempt.end_time <= call.end_time


def test_reasoning_and_cached_tokens(
    exporter: InMemorySpanExporter, local_workspace: LocalWorkspace
) -> None:
    with _client() as client, chatport.Client(backend="fake", config=_config()) as fake:
        answer = client.complete(
            "think about it", model="databricks-claude-sonnet-4-5", reasoning="low"
        )
        _fake(fake).enqueue(
            chatport.Completion(
                text="cached",
                model="m",
                finish_reason="stop",
                usage=chatport.Usage(
                    prompt_tokens=10, completion_tokens=3, cached_tokens=7, reasoning_tokens=2
                ),
            )
        )
        fake.complete("x", model="m")
    (reasoning, _), (cached, _) = _calls(exporter)
    assert answer.usage.reasoning_tokens  # the local Claude endpoint reports them
    assert (
        _attrs(reasoning)["gen_ai.usage.reasoning.output_tokens"] == answer.usage.reasoning_tokens
    )
    assert _attrs(reasoning)["chatport.request.reasoning"] == "low"
    assert _attrs(cached)["gen_ai.usage.cache_read.input_tokens"] == 7
    assert _attrs(cached)["gen_ai.usage.reasoning.output_tokens"] == 2
    assert _attrs(cached)["gen_ai.usage.input_tokens"] == 10


def test_a_stream_is_one_call_span(
    exporter: InMemorySpanExporter, local_workspace: LocalWorkspace
) -> None:
    with _client() as client:
        chunks = list(client.stream("one two three four"))
    assert len(chunks) > 1
    call, (attempt,) = _one_call(exporter)
    attributes = _attrs(call)
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["chatport.status"] == "ok"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.output_tokens"] == 4
    assert attempt.status.status_code is StatusCode.UNSET


@pytest.mark.skipif(
    not HAS_FIRST_CHUNK_HOOK, reason="this chatport has no chatport_first_chunk hook"
)
@pytest.mark.parametrize("shape", ["sync", "async"])
def test_a_stream_records_its_time_to_first_chunk(
    exporter: InMemorySpanExporter, local_workspace: LocalWorkspace, shape: str
) -> None:
    local_workspace.set_faults(MODEL, Fault.slow_stream(0.01))
    with _client() as client:
        if shape == "sync":
            chunks = list(client.stream("one two three four"))
        else:

            async def main() -> list[chatport.Chunk]:
                return [chunk async for chunk in client.astream("one two three four")]

            chunks = asyncio.run(main())
    assert len(chunks) > 1
    call, (attempt,) = _one_call(exporter)
    _check_first_chunk(call, attempt)


def _check_first_chunk(call: ReadableSpan, attempt: ReadableSpan) -> None:
    ttft = _attrs(call)["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttft, float)
    assert _attrs(attempt)["gen_ai.response.time_to_first_chunk"] == ttft
    assert attempt.start_time is not None
    assert attempt.end_time is not None
    assert 0 < ttft <= (attempt.end_time - attempt.start_time) / 1e9
    (event,) = [e for e in call.events if e.name == "chatport.first_chunk"]
    assert dict(event.attributes or {}) == {"gen_ai.response.time_to_first_chunk": ttft}
    assert attempt.start_time <= event.timestamp <= attempt.end_time


def test_the_first_chunk_hook_marks_the_spans(exporter: InMemorySpanExporter) -> None:
    """The plugin's side of the hook, called while the call and its attempt are open.

    Runs whether or not this chatport has the hook: the call is not a stream, so only
    this test calls the plugin's implementation.
    """

    class FirstChunk:
        @chatport.hookimpl(tryfirst=True)  # before the plugin ends the attempt's span
        def chatport_after_completion(self, call_id: str) -> None:
            chatport_opentelemetry.chatport_first_chunk(call_id=call_id, elapsed_s=0.25)

    with (
        temporary_plugin(FirstChunk()),
        chatport.Client(backend="fake", config=_config()) as client,
    ):
        client.complete("x", model="m")
    call, (attempt,) = _one_call(exporter)
    assert _attrs(call)["gen_ai.response.time_to_first_chunk"] == 0.25
    (event,) = call.events
    assert event.name == "chatport.first_chunk"
    assert dict(event.attributes or {}) == {"gen_ai.response.time_to_first_chunk": 0.25}
    assert _attrs(attempt)["gen_ai.response.time_to_first_chunk"] == 0.25


def test_a_retried_call_has_a_span_per_attempt(
    exporter: InMemorySpanExporter, local_workspace: LocalWorkspace
) -> None:
    local_workspace.set_faults(MODEL, Fault.error(503, times=1, retry_after=0.01))
    with _client() as client:
        answer = client.complete("try again")
    assert answer.attempts == 2
    call, attempts = _one_call(exporter)
    assert [a.name for a in attempts] == ["attempt 1", "attempt 2"]
    failed, answered = attempts
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ServerError"
    assert _attrs(failed)["error.type"] == "ServerError"
    assert _attrs(failed)["http.response.status_code"] == 503
    assert [(e.name, dict(e.attributes or {})) for e in failed.events] == [
        ("exception", {"exception.type": "ServerError"})
    ]
    assert answered.status.status_code is StatusCode.UNSET
    assert "error.type" not in _attrs(answered)
    assert call.status.status_code is StatusCode.UNSET  # the call succeeded
    assert "error.type" not in _attrs(call)
    assert _attrs(call)["chatport.attempts"] == 2
    assert _attrs(call)["gen_ai.response.id"] == answer.id


def test_a_fallback_attempt_names_its_model(
    exporter: InMemorySpanExporter, local_workspace: LocalWorkspace
) -> None:
    backup = "databricks-meta-llama-3-3-70b-instruct"
    local_workspace.set_faults(MODEL, Fault.error(503))
    settings = {"max_retries": 0, "fallbacks": [{"backend": "rest", "model": backup}]}
    with _client(settings=settings) as client:
        answer = client.complete("anyone there?")
    assert answer.model == backup
    call, (first, second) = _one_call(exporter)
    assert call.name == f"chat {MODEL}"  # what was asked
    assert _attrs(first)["gen_ai.request.model"] == MODEL
    assert _attrs(first)["chatport.backend"] == "openai"
    assert first.status.status_code is StatusCode.ERROR
    assert _attrs(second)["gen_ai.request.model"] == backup
    assert _attrs(second)["chatport.backend"] == "rest"
    assert second.status.status_code is StatusCode.UNSET
    assert _attrs(call)["gen_ai.request.model"] == MODEL
    assert _attrs(call)["gen_ai.response.model"] == backup  # what answered
    assert _attrs(call)["chatport.backend"] == "rest"
    assert _attrs(call)["chatport.attempts"] == 2


def test_a_failed_call_has_status_error(
    exporter: InMemorySpanExporter, local_workspace: LocalWorkspace
) -> None:
    local_workspace.set_faults(MODEL, Fault.error(400, times=1))
    with _client() as client, pytest.raises(chatport.BadRequestError):
        client.complete("bad question")
    call, (attempt,) = _one_call(exporter)
    for span in (call, attempt):
        assert span.status.status_code is StatusCode.ERROR
        assert _attrs(span)["error.type"] == "BadRequestError"
        assert _attrs(span)["http.response.status_code"] == 400
    assert _attrs(call)["chatport.status"] == "error"
    assert "gen_ai.response.id" not in _attrs(call)
    assert [e.name for e in call.events] == ["exception"]


def test_an_abandoned_stream_ends_its_spans(exporter: InMemorySpanExporter) -> None:
    with chatport.Client(backend="fake", config=_config()) as client:
        _fake(client).enqueue(["one ", "two ", "three"])
        stream = client.stream("x", model="m")
        assert next(stream).text == "one "
        assert chatport_opentelemetry.open_calls() == 1
        assert exporter.get_finished_spans() == ()  # nothing ended yet
        stream.close()  # type: ignore[attr-defined]
    call, (attempt,) = _one_call(exporter)
    assert _attrs(call)["chatport.status"] == "abandoned"
    assert _attrs(attempt)["chatport.status"] == "abandoned"
    assert call.status.status_code is StatusCode.UNSET  # closing a stream is no error
    assert attempt.end_time is not None
    assert call.end_time is not None
    assert attempt.end_time <= call.end_time


def test_an_abandoned_async_stream_ends_its_spans(
    exporter: InMemorySpanExporter, local_workspace: LocalWorkspace
) -> None:
    async def main() -> None:
        async with _client() as client:
            stream = client.astream("one two three four five six")
            async for _ in stream:
                break
            await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(main())
    call, (attempt,) = _one_call(exporter)
    assert _attrs(call)["chatport.status"] == "abandoned"
    assert attempt.end_time is not None


def test_content_is_not_captured_by_default(exporter: InMemorySpanExporter) -> None:
    with chatport.Client(backend="fake", config=_config()) as client:
        client.complete(
            [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "secret plans"},
            ],
            model="m",
        )
    call, _ = _one_call(exporter)
    assert "gen_ai.input.messages" not in _attrs(call)
    assert "gen_ai.output.messages" not in _attrs(call)
    dump = _dump(exporter.get_finished_spans())
    assert "secret plans" not in dump
    assert "be brief" not in dump


def test_content_is_captured_when_configured(exporter: InMemorySpanExporter) -> None:
    tool = chatport.ToolCall(id="call-1", name="lookup", arguments='{"q": "delta"}')
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "look it up"},
    ]
    with chatport.Client(backend="fake", config=_config(capture_content=True)) as client:
        _fake(client).enqueue(tool, "found it")
        first = client.complete(messages, model="m")
        follow_up = [
            *messages,
            first.message,
            {"role": "tool", "tool_call_id": "call-1", "content": "42"},
        ]
        client.complete(follow_up, model="m")
    (call, _), (second, _) = _calls(exporter)
    assert json.loads(_attrs(call)["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "look it up"}]},
    ]
    assert json.loads(_attrs(call)["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call-1", "name": "lookup", "arguments": {"q": "delta"}}
            ],
            "finish_reason": "tool_calls",
        }
    ]
    inputs = json.loads(_attrs(second)["gen_ai.input.messages"])
    assert inputs[-1] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call-1", "response": "42"}],
    }
    assert json.loads(_attrs(second)["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "found it"}],
            "finish_reason": "stop",
        }
    ]


def test_captured_content_never_holds_a_credential(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
    pat = "dapi" + "0123456789abcdef" * 2
    prompt = f"my token is {CANARY}, also {pat}; header Authorization: Bearer abcdefghijklmnopqrst"
    with chatport.Client(
        backend="fake", config={**_config(capture_content=True), "max_retries": 0}
    ) as client:
        _fake(client).enqueue(
            f"you said {CANARY}", chatport.RateLimitError(f"slow down {CANARY}", status_code=429)
        )
        client.complete(prompt, model="m")
        with pytest.raises(chatport.RateLimitError):
            client.complete(prompt, model="m")
    (ok, _), (failed, _) = _calls(exporter)
    dump = _dump(exporter.get_finished_spans())
    for secret in (CANARY, pat, "abcdefghijklmnopqrst"):
        assert secret not in dump
    assert json.loads(_attrs(ok)["gen_ai.input.messages"])[0]["parts"][0]["content"] == (
        "my token is ****, also ****; header Authorization: ****"
    )
    assert _attrs(failed)["error.type"] == "RateLimitError"
    assert _attrs(failed)["http.response.status_code"] == 429


@pytest.mark.parametrize(
    "secret",
    [
        "dapi" + "0123456789abcdef" * 2,
        "dapi-local-" + "0123456789abcdef" * 2,
        "dose" + "0123456789abcdef" * 2,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl",
    ],
)
def test_credential_shapes_are_scrubbed(secret: str) -> None:
    text = f"before {secret} after"
    assert _attributes.scrub(text) == "before **** after"
    assert _attributes.scrub(f"Authorization: Bearer {secret}") == "Authorization: ****"


def test_images_are_named_not_copied(exporter: InMemorySpanExporter) -> None:
    signed = "https://bucket.example/cat.png?X-Amz-Signature=abcdef0123456789"
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": signed}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg"}},
    ]
    with chatport.Client(backend="fake", config=_config(capture_content=True)) as client:
        client.complete([{"role": "user", "content": content}], model="m")
    call, _ = _one_call(exporter)
    (message,) = json.loads(_attrs(call)["gen_ai.input.messages"])
    assert message["parts"] == [
        {"type": "text", "content": "what is this?"},
        {"type": "uri", "modality": "image", "uri": "https://bucket.example/cat.png"},
        {"type": "blob", "modality": "image"},
    ]


def test_off_unless_enabled(exporter: InMemorySpanExporter) -> None:
    for config in ({}, {"plugins": {"opentelemetry": {"capture_content": True}}}):
        with chatport.Client(backend="fake", config=config) as client:
            client.complete("hi", model="m")
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"enabled": "yes"}, "plugins.opentelemetry.enabled: expected true or false"),
        ({"enabled": True, "capture_contents": True}, "did you mean 'capture_content'?"),
        ({"enabled": True, "exporter": True}, "plugins.opentelemetry.exporter: expected"),
    ],
)
def test_a_bad_setting_is_refused_when_the_client_is_built(
    table: dict[str, Any], message: str, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(chatport.ConfigError, match=re.escape(message)):
        chatport.Client(backend="fake", config={"plugins": {"opentelemetry": table}})
    assert exporter.get_finished_spans() == ()


def test_a_call_span_nests_under_the_current_span(
    exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("app")

    async def handler() -> None:
        with tracer.start_as_current_span("async request"):
            async with chatport.Client(backend="fake", config=_config()) as client:
                await client.acomplete("async", model="m")

    with (
        tracer.start_as_current_span("request"),
        chatport.Client(backend="fake", config=_config()) as client,
    ):
        client.complete("sync", model="m")
    asyncio.run(handler())
    spans = {span.name: span for span in exporter.get_finished_spans()}
    for parent_name in ("request", "async request"):
        parent = spans[parent_name]
        assert parent.context is not None
        (child,) = [
            s
            for s in exporter.get_finished_spans()
            if s.kind is SpanKind.CLIENT
            and s.parent is not None
            and s.parent.span_id == parent.context.span_id
        ]
        assert child.name == "chat m"


def test_concurrent_calls_from_threads_and_asyncio(exporter: InMemorySpanExporter) -> None:
    with chatport.Client(backend="fake", config=_config()) as client:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(lambda i: client.complete(f"thread {i}", model="m").text, range(40))
            )

        async def main() -> list[str]:
            done = await asyncio.gather(
                *(client.acomplete(f"task {i}", model="m") for i in range(20))
            )
            return [c.text for c in done]

        answers += asyncio.run(main())
        batch = client.map([f"batch {i}" for i in range(20)], model="m", concurrency=8)
        answers += [result.completion.text for result in batch if result.completion is not None]
    assert len(answers) == 80
    calls = _calls(exporter)
    assert len(calls) == 80
    assert len({_attrs(call)["chatport.call_id"] for call, _ in calls}) == 80
    for call, attempts in calls:
        assert [a.name for a in attempts] == ["attempt 1"]
        assert _attrs(call)["chatport.status"] == "ok"


def test_unsampled_calls_keep_no_state() -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    chatport_opentelemetry.use_tracer_provider(provider)
    try:
        with chatport.Client(backend="fake", config=_config()) as client:
            _fake(client).enqueue(["a ", "b ", "c"])
            stream = client.stream("x", model="m")
            next(stream)
            assert chatport_opentelemetry.open_calls() == 0
            assert [chunk.text for chunk in stream] == ["b ", "c"]
    finally:
        chatport_opentelemetry.use_tracer_provider(None)
    assert exporter.get_finished_spans() == ()


class _BrokenTracer(trace.Tracer):
    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        raise RuntimeError("tracer is broken")

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer is broken")


class _BrokenProvider(trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _BrokenTracer()


def test_a_failing_tracer_never_breaks_a_call(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chatport_opentelemetry, "_reported", set())
    chatport_opentelemetry.use_tracer_provider(_BrokenProvider())
    try:
        with (
            caplog.at_level(logging.WARNING, logger="chatport_opentelemetry"),
            chatport.Client(backend="fake", config=_config()) as client,
        ):
            assert client.complete("still answered", model="m").text == "still answered"
            assert (
                "".join(c.text for c in client.stream("streamed too", model="m")) == "streamed too"
            )
    finally:
        chatport_opentelemetry.use_tracer_provider(None)
    (record,) = [r for r in caplog.records if r.name == "chatport_opentelemetry"]  # once
    assert "chatport_call_start failed" in record.getMessage()
    assert "tracer is broken" in record.getMessage()
    assert chatport_opentelemetry.open_calls() == 0


def test_opentelemetry_is_imported_only_when_enabled() -> None:
    code = """
import sys
import chatport
def otel():
    return sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
assert otel() == [], otel()
chatport.Client(backend="fake", config={}).complete("hi", model="m")
assert "chatport_opentelemetry" in sys.modules  # the plugin is loaded, and off
assert otel() == [], otel()
config = {"plugins": {"opentelemetry": {"enabled": True}}}
chatport.Client(backend="fake", config=config).complete("hi", model="m")
assert "opentelemetry.trace" in sys.modules
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


def test_without_opentelemetry_calls_still_answer() -> None:
    code = """
import logging, sys
sys.modules["opentelemetry"] = None  # as if it were not installed
logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
import chatport
config = {"plugins": {"opentelemetry": {"enabled": True}}}
with chatport.Client(backend="fake", config=config) as client:
    for _ in range(3):
        print(client.complete("still answered", model="m").text)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "still answered\n" * 3
    (line,) = [line for line in result.stderr.splitlines() if "chatport_opentelemetry" in line]
    assert "cannot trace" in line
    assert "pip install chatport-opentelemetry" in line


def test_attribute_names_match_the_installed_semantic_conventions() -> None:
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.semconv.attributes import (
        error_attributes,
        exception_attributes,
        http_attributes,
    )

    ours = {
        name: value
        for name, value in vars(_attributes).items()
        if name.isupper() and isinstance(value, str) and value.startswith("gen_ai.")
    }
    assert len(ours) >= 20
    # an older semantic-conventions package lacks the newer names; check those it has
    known = {name: getattr(gen_ai, f"GEN_AI_{name}", None) for name in ours}
    checked = {name: expected for name, expected in known.items() if expected is not None}
    assert checked == {name: ours[name] for name in checked}
    core = {"OPERATION_NAME", "REQUEST_MODEL", "USAGE_INPUT_TOKENS", "USAGE_OUTPUT_TOKENS"}
    assert core <= set(checked)
    assert _attributes.ERROR_TYPE == error_attributes.ERROR_TYPE
    assert _attributes.EXCEPTION_TYPE == exception_attributes.EXCEPTION_TYPE
    assert _attributes.HTTP_RESPONSE_STATUS_CODE == http_attributes.HTTP_RESPONSE_STATUS_CODE
    assert gen_ai.GenAiOperationNameValues.CHAT.value == _attributes.OPERATION


# -- the exporter setting: the plugin's own provider, for applications that set none ----


@pytest.fixture
def no_own_provider(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The plugin's record of the providers it built, empty for this test."""
    built: dict[str, Any] = {}
    monkeypatch.setattr(_tracing, "_own", built)
    return built


def test_a_configured_global_provider_wins_over_the_exporter_setting(
    monkeypatch: pytest.MonkeyPatch, no_own_provider: dict[str, Any]
) -> None:
    # a process sets its global provider once: reset the API's globals for this test only,
    # as OpenTelemetry's own test utilities do, then set it the public way
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    try:
        with chatport.Client(backend="fake", config=_config(exporter="otlp")) as client:
            client.complete("to the global provider", model="m")
    finally:
        provider.shutdown()
    call, attempts = _one_call(exporter)
    assert call.name == "chat m"
    assert [span.name for span in attempts] == ["attempt 1"]
    assert no_own_provider == {}  # the plugin built no provider of its own


def test_a_given_provider_wins_over_the_exporter_setting(
    exporter: InMemorySpanExporter, no_own_provider: dict[str, Any]
) -> None:
    with chatport.Client(backend="fake", config=_config(exporter="console")) as client:
        client.complete("to the given provider", model="m")
    assert _one_call(exporter)[0].name == "chat m"
    assert no_own_provider == {}


@pytest.mark.parametrize("value", ["jaeger", "OTLP "])
def test_a_bad_exporter_is_reported_once_and_taken_as_none(
    value: object,
    exporter: InMemorySpanExporter,
    no_own_provider: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chatport_opentelemetry, "_reported", set())
    with (
        caplog.at_level(logging.WARNING, logger="chatport_opentelemetry"),
        chatport.Client(backend="fake", config=_config(exporter=value)) as client,
    ):
        client.complete("hi", model="m")
        client.complete("hi again", model="m")
    assert len(_calls(exporter)) == 2  # still traced, to the provider in use
    (message,) = [r.getMessage() for r in caplog.records if r.name == "chatport_opentelemetry"]
    assert 'exporter must be one of "otlp", "console", "none"' in message
    assert no_own_provider == {}


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_without_the_otlp_exporter_calls_answer_and_say_how_to_fix_it_once() -> None:
    code = """
import logging, sys
sys.modules["opentelemetry.exporter.otlp"] = None  # as if the otlp extra were missing
logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
import chatport
config = {"plugins": {"opentelemetry": {"enabled": True, "exporter": "otlp"}}}
with chatport.Client(backend="fake", config=config) as client:
    for _ in range(3):
        print(client.complete("still answered", model="m").text)
    print("".join(chunk.text for chunk in client.stream("streamed too", model="m")))
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "still answered\n" * 3 + "streamed too\n"
    (line,) = result.stderr.splitlines()  # one warning, and nothing else
    assert line.startswith("chatport_opentelemetry: ")
    assert "opentelemetry-exporter-otlp-proto-http" in line
    assert 'pip install "./plugins/chatport-opentelemetry[otlp]"' in line


def test_the_own_provider_is_built_once_for_concurrent_first_calls() -> None:
    code = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
import chatport
config = {"plugins": {"opentelemetry": {"enabled": True, "exporter": "console"}}}
with chatport.Client(backend="fake", config=config) as client:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: client.complete(f"q{i}", model="m").text, range(16)))
print(json.dumps(answers))
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [f"q{i}" for i in range(16)]
    decoder, spans, position = json.JSONDecoder(), [], 0
    text = result.stderr.strip()
    while position < len(text):
        span, end = decoder.raw_decode(text, position)
        spans.append(span)
        position = end + len(text[end:]) - len(text[end:].lstrip())
    assert sum(span["kind"] == "SpanKind.CLIENT" for span in spans) == 16
    assert len(spans) == 32
    # one provider, so one resource (its service.instance.id is drawn when it is built)
    assert len({json.dumps(span["resource"], sort_keys=True) for span in spans}) == 1
