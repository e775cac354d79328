"""End to end: spans sent by the real OTLP/HTTP exporter to a receiver on 127.0.0.1.

The receiver is a stdlib HTTP server that decodes each body as an OTLP
``ExportTraceServiceRequest``, as a collector (or MLflow's ``/v1/traces``) would. One
test runs the README's own setup in a fresh process, where the global provider is free;
others run the ``chatport ask`` command, which configures no provider: its spans are
exported only with the plugin's ``exporter`` setting.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import chatport_opentelemetry
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import chatport
from chatport.local import Fault, LocalWorkspace

otlp_http = pytest.importorskip(
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    reason="needs the otlp extra: pip install 'chatport-opentelemetry[otlp]'",
)

MODEL = "databricks-gpt-5"
PACKAGE = Path(__file__).resolve().parents[1]
DOCS_PAGE = PACKAGE.parents[1] / "docs" / "plugins" / "opentelemetry.md"


class Received:
    """One export request as the receiver got it."""

    def __init__(self, path: str, headers: dict[str, str], body: ExportTraceServiceRequest) -> None:
        self.path = path
        self.headers = headers
        self.body = body


class Receiver:
    """An OTLP/HTTP trace receiver on a free loopback port, in a daemon thread."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver._changed:
                    receiver.received.append(Received(self.path, headers, request))
                    receiver._changed.notify_all()
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def spans(self) -> list[tuple[dict[str, Any], Span]]:
        """Every span received so far, with its resource's attributes."""
        with self._changed:
            requests = list(self.received)
        return [
            (_attributes(resource_spans.resource.attributes), span)
            for request in requests
            for resource_spans in request.body.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    return getattr(value, kind) if kind is not None else None


def _attributes(pairs: Any) -> dict[str, Any]:
    items: list[KeyValue] = list(pairs)
    return {pair.key: _value(pair.value) for pair in items}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    for name in list(os.environ):
        if name.startswith("OTEL_"):  # nothing from the developer's own setup
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Receiver() as receiver:
        yield receiver


def test_spans_reach_an_otlp_receiver(receiver: Receiver, local_workspace: LocalWorkspace) -> None:
    provider = TracerProvider(
        resource=Resource({"service.name": "otlp-test"}), shutdown_on_exit=False
    )
    exporter = otlp_http.OTLPSpanExporter(
        endpoint=f"{receiver.url}/v1/traces", headers={"x-mlflow-experiment-id": "42"}
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    chatport_opentelemetry.use_tracer_provider(provider)
    local_workspace.set_faults(MODEL, Fault.error(503, times=1, retry_after=0.01))
    config = {"max_retries": 1, "plugins": {"opentelemetry": {"enabled": True}}}
    try:
        with chatport.Client(backend="openai", model=MODEL, config=config) as client:
            answer = client.complete("over the wire", max_tokens=20)
        assert provider.force_flush(timeout_millis=30_000)
    finally:
        chatport_opentelemetry.use_tracer_provider(None)
        provider.shutdown()
    assert {r.path for r in receiver.received} == {"/v1/traces"}
    assert {r.headers["x-mlflow-experiment-id"] for r in receiver.received} == {"42"}
    assert {r.headers["content-type"] for r in receiver.received} == {"application/x-protobuf"}
    spans = receiver.spans()
    assert {resource["service.name"] for resource, _ in spans} == {"otlp-test"}
    by_name = {span.name: span for _, span in spans}
    assert sorted(by_name) == ["attempt 1", "attempt 2", f"chat {MODEL}"]
    call = by_name[f"chat {MODEL}"]
    assert call.kind == Span.SpanKind.SPAN_KIND_CLIENT
    assert call.parent_span_id == b""
    assert call.status.code == Status.StatusCode.STATUS_CODE_UNSET
    attributes = _attributes(call.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "databricks"
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.request.max_tokens"] == 20
    assert attributes["gen_ai.response.id"] == answer.id
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    assert attributes["chatport.attempts"] == 2
    for name in ("attempt 1", "attempt 2"):
        attempt = by_name[name]
        assert attempt.trace_id == call.trace_id
        assert attempt.parent_span_id == call.span_id
        assert attempt.kind == Span.SpanKind.SPAN_KIND_INTERNAL
    failed = by_name["attempt 1"]
    assert failed.status.code == Status.StatusCode.STATUS_CODE_ERROR
    assert _attributes(failed.attributes)["error.type"] == "ServerError"
    assert _attributes(failed.attributes)["http.response.status_code"] == 503
    assert [event.name for event in failed.events] == ["exception"]


def _fenced(text: str, language: str, after: str) -> str:
    """The first fenced ``language`` block of ``text`` after the line ``after``."""
    rest = text[text.index(after) :]
    match = re.search(rf"^```{language}\n(.*?)^```", rest, re.MULTILINE | re.DOTALL)
    assert match is not None, f"no {language} block after {after!r}"
    return match.group(1)


def _readme_setup() -> tuple[str, str]:
    readme = (PACKAGE / "README.md").read_text()
    return _fenced(readme, "toml", "## Turn it on"), _fenced(readme, "python", "## Send the spans")


def test_the_readme_setup_exports_from_a_fresh_process(receiver: Receiver, tmp_path: Path) -> None:
    """The README's config and SDK setup, run as written, with the standard variables."""
    table, setup = _readme_setup()
    config = tmp_path / "chatport.toml"
    config.write_text(table)
    script = tmp_path / "app.py"
    script.write_text(
        setup + '\nimport chatport\nchatport.complete("hello otlp", backend="fake", model="m")\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "CHATPORT_DISABLE_PLUGINS"}
    env.update(
        CHATPORT_CONFIG=str(config),
        OTEL_SERVICE_NAME="chatport-readme",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_EXPORTER_OTLP_HEADERS="x-mlflow-experiment-id=123",
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # the spans were sent at exit, by the provider's own shutdown: no flush in the script
    assert {r.path for r in receiver.received} == {"/v1/traces"}
    assert {r.headers["x-mlflow-experiment-id"] for r in receiver.received} == {"123"}
    spans = receiver.spans()
    assert sorted(span.name for _, span in spans) == ["attempt 1", "chat m"]
    (resource, call) = next((r, s) for r, s in spans if s.name == "chat m")
    assert resource["service.name"] == "chatport-readme"
    assert call.kind == Span.SpanKind.SPAN_KIND_CLIENT
    attributes = _attributes(call.attributes)
    assert attributes["gen_ai.request.model"] == "m"
    assert attributes["chatport.backend"] == "fake"
    assert "gen_ai.input.messages" not in attributes  # content stays off by default


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new environment with chatport and ``chatport-opentelemetry[otlp]``, nothing else."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [*uv, "pip", "install", "--quiet", "--python", str(python)]
    subprocess.run([*install, str(PACKAGE.parents[1]), f"{PACKAGE}[otlp]"], check=True, timeout=600)
    return venv


@pytest.mark.fresh_env
def test_the_readme_path_with_only_the_declared_dependencies(
    fresh_venv: Path, receiver: Receiver, tmp_path: Path
) -> None:
    """Install as the README says, configure as it says, call a workspace: spans arrive."""
    table, setup = _readme_setup()
    (tmp_path / "chatport.toml").write_text(table)  # found in the working directory
    script = tmp_path / "app.py"
    script.write_text(
        setup + f'\nimport chatport\nprint(chatport.complete("fresh", model="{MODEL}").text)\n'
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABRICKS_", "CHATPORT_")) and k != "PYTHONPATH"
    }
    env.update(HOME=str(tmp_path), OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
    with LocalWorkspace() as workspace:
        env.update(workspace.environ())
        result = subprocess.run(
            [str(fresh_venv / "bin" / "python"), str(script)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "fresh\n"
    assert result.stderr == ""
    spans = receiver.spans()
    assert sorted(span.name for _, span in spans) == ["attempt 1", f"chat {MODEL}"]
    (call,) = [span for _, span in spans if span.kind == Span.SpanKind.SPAN_KIND_CLIENT]
    attributes = _attributes(call.attributes)
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.usage.output_tokens"] == 1


def test_the_docs_page_shows_the_readme_setup() -> None:
    table, setup = _readme_setup()
    page = DOCS_PAGE.read_text()
    assert _fenced(page, "toml", "## Turn it on") == table
    assert _fenced(page, "python", "## Send the spans") == setup


# -- the chatport command: no provider of its own, so the plugin's exporter setting ------

QUESTION = "question"
TABLE = "[plugins.opentelemetry]\nenabled = true\n"


def _ask(command: Sequence[str], cwd: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """``chatport ask -m MODEL QUESTION`` in ``cwd`` (where its chatport.toml is), against
    a local workspace, with no DATABRICKS_, CHATPORT_ or OTEL_ variable but ``environ``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABRICKS_", "CHATPORT_", "OTEL_")) and k != "PYTHONPATH"
    }
    env.update(HOME=str(cwd), NO_PROXY="127.0.0.1", **environ)
    with LocalWorkspace() as workspace:
        env.update(workspace.environ())
        return subprocess.run(
            [*command, "ask", "-m", MODEL, QUESTION],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _assert_answered(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{QUESTION}\n"  # the local workspace echoes the question
    assert result.stderr == ""


def _assert_cli_spans(receiver: Receiver, service_name: str) -> None:
    """One call span and its one attempt span, with the GenAI attributes of the call."""
    spans = receiver.spans()
    assert {resource["service.name"] for resource, _ in spans} == {service_name}
    by_name = {span.name: span for _, span in spans}
    assert sorted(by_name) == ["attempt 1", f"chat {MODEL}"]
    assert len(spans) == 2
    call, attempt = by_name[f"chat {MODEL}"], by_name["attempt 1"]
    assert call.kind == Span.SpanKind.SPAN_KIND_CLIENT
    assert call.parent_span_id == b""
    assert call.status.code == Status.StatusCode.STATUS_CODE_UNSET
    attributes = _attributes(call.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "databricks"
    assert attributes["gen_ai.request.model"] == MODEL
    assert attributes["gen_ai.request.stream"] is False
    assert attributes["gen_ai.response.model"] == MODEL
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert attributes["gen_ai.usage.output_tokens"] == 1
    assert attributes["chatport.status"] == "ok"
    assert attributes["chatport.attempts"] == 1
    assert "gen_ai.input.messages" not in attributes  # content stays off by default
    assert attempt.kind == Span.SpanKind.SPAN_KIND_INTERNAL
    assert attempt.trace_id == call.trace_id
    assert attempt.parent_span_id == call.span_id
    assert _attributes(attempt.attributes) == {
        "chatport.attempt": 1,
        "chatport.backend": attributes["chatport.backend"],
        "gen_ai.request.model": MODEL,
    }


@pytest.mark.fresh_env
def test_the_cli_exports_with_only_the_declared_dependencies(
    fresh_venv: Path, receiver: Receiver, tmp_path: Path
) -> None:
    """``chatport ask`` sends its spans over OTLP with ``exporter = "otlp"``, and only then.

    The spans reach the receiver although the command never flushes: the plugin's
    provider is shut down, and so flushed, when the process exits.
    """
    chatport_command = [str(fresh_venv / "bin" / "chatport")]
    config = tmp_path / "chatport.toml"  # found in the working directory

    config.write_text(TABLE)  # no exporter: nothing configures a provider, nothing is sent
    _assert_answered(_ask(chatport_command, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url))
    assert receiver.received == []  # the process is over: nothing more can come

    config.write_text(TABLE + 'exporter = "otlp"\n')
    _assert_answered(_ask(chatport_command, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url))
    assert {r.path for r in receiver.received} == {"/v1/traces"}
    _assert_cli_spans(receiver, service_name="chatport")  # no OTEL_SERVICE_NAME: the default


def test_the_cli_exporter_reads_the_standard_variables(receiver: Receiver, tmp_path: Path) -> None:
    """The traces endpoint, the headers and the service name come from OTEL_* variables."""
    (tmp_path / "chatport.toml").write_text(TABLE + 'exporter = "otlp"\n')
    result = _ask(
        [sys.executable, "-m", "chatport"],
        tmp_path,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{receiver.url}/custom/traces",
        OTEL_EXPORTER_OTLP_HEADERS="x-mlflow-experiment-id=7",
        OTEL_SERVICE_NAME="chatport-cli-test",
    )
    _assert_answered(result)
    assert {r.path for r in receiver.received} == {"/custom/traces"}
    assert {r.headers["x-mlflow-experiment-id"] for r in receiver.received} == {"7"}
    _assert_cli_spans(receiver, service_name="chatport-cli-test")


def _console_spans(text: str) -> list[dict[str, Any]]:
    """The JSON spans the console exporter printed, one object after another."""
    decoder = json.JSONDecoder()
    spans, position = [], 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        span, position = decoder.raw_decode(text, position)
        spans.append(span)
    return spans


def test_the_console_exporter_writes_spans_to_stderr(tmp_path: Path) -> None:
    """``exporter = "console"`` prints the spans on standard error; stdout keeps the answer."""
    (tmp_path / "chatport.toml").write_text(TABLE + 'exporter = "console"\n')
    result = _ask([sys.executable, "-m", "chatport"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{QUESTION}\n"
    spans = {span["name"]: span for span in _console_spans(result.stderr)}
    assert sorted(spans) == ["attempt 1", f"chat {MODEL}"]
    call = spans[f"chat {MODEL}"]
    assert call["kind"] == "SpanKind.CLIENT"
    assert call["attributes"]["gen_ai.request.model"] == MODEL
    assert call["resource"]["attributes"]["service.name"] == "chatport"
    assert spans["attempt 1"]["parent_id"] == call["context"]["span_id"]
