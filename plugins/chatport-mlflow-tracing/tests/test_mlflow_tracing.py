"""Tests for chatport-mlflow-tracing against a local MLflow tracking store.

The store is a temporary folder (MLflow's file store, allowed by
``MLFLOW_ALLOW_FILE_STORE``); traces are read back with MLflow's own client. The
README's SQLite store, with only what the plugin declares, is tested in
``test_fresh_env.py``. Calls go through the
openai backend to the local workspace over real HTTP.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chatport_mlflow_tracing
import mlflow
import pytest
from mlflow import MlflowClient

import chatport
from chatport.local import Fault, LocalWorkspace

MODEL = "databricks-gpt-5"

# MLflow warns about its own type hints when it first imports its pyfunc module (on the
# first span); with filterwarnings=error that warning would make MLflow drop the span.
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One tracking store for the module (MLflow's exporter is set up once per process)."""
    uri = (tmp_path_factory.mktemp("mlflow") / "mlruns").as_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a folder, as the issue allows
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri


@pytest.fixture
def experiment(store: str, request: pytest.FixtureRequest) -> str:
    os.environ["MLFLOW_TRACKING_URI"] = store  # the function-scoped isolation keeps it
    return MlflowClient(store).create_experiment(request.node.name)


def _client(experiment: str, **settings: Any) -> chatport.Client:
    config = {
        "max_retries": 1,
        "plugins": {"mlflow-tracing": {"enabled": True, "experiment_id": experiment}},
        **settings,
    }
    return chatport.Client(backend="openai", model=MODEL, config=config)


def _traces(store: str, experiment: str) -> list[Any]:
    assert chatport_mlflow_tracing.flush(timeout=60)  # spans handed to MLflow
    mlflow.flush_trace_async_logging()  # and exported by MLflow
    traces = MlflowClient(store).search_traces(locations=[experiment], max_results=100)
    return sorted(traces, key=lambda trace: trace.info.request_time)


def _tree(trace: Any) -> tuple[Any, list[Any]]:
    spans = trace.data.spans
    (root,) = [span for span in spans if span.parent_id is None]
    children = sorted(
        (span for span in spans if span.parent_id == root.span_id), key=lambda s: s.start_time_ns
    )
    assert len(spans) == 1 + len(children)
    return root, children


def test_ten_calls_two_failures_and_a_retry(
    store: str, experiment: str, local_workspace: LocalWorkspace
) -> None:
    answers: list[chatport.Completion | None] = []
    with _client(experiment) as client:
        for index in range(10):
            if index == 2:  # one 503, then the retry answers
                local_workspace.set_faults(MODEL, Fault.error(503, times=1, retry_after=0.01))
            if index in (5, 8):  # a 400 is not retried: the call fails
                local_workspace.set_faults(MODEL, Fault.error(400, times=1))
            prompt = f"question {index}"
            try:
                if index == 3:
                    answers.append(asyncio.run(_acomplete(client, prompt)))
                elif index == 4:
                    text = "".join(chunk.text for chunk in client.stream(prompt))
                    answers.append(chatport.Completion(text=text))
                else:
                    answers.append(client.complete(prompt, max_tokens=50))
            except chatport.BadRequestError:
                answers.append(None)
            local_workspace.set_faults(MODEL)
    traces = _traces(store, experiment)
    assert len(traces) == 10
    assert chatport_mlflow_tracing.open_calls() == 0
    for index, (trace, answer) in enumerate(zip(traces, answers, strict=True)):
        root, attempts = _tree(trace)
        assert root.span_type == "CHAT_MODEL"
        assert root.inputs["messages"] == [{"role": "user", "content": f"question {index}"}]
        assert root.attributes["chatport.backend"] == "openai"
        assert root.attributes["chatport.model"] == MODEL
        assert root.attributes["chatport.latency_s"] > 0
        statuses = [span.status.status_code for span in attempts]
        if index in (5, 8):
            assert answer is None
            assert trace.info.state == "ERROR"
            assert root.status.status_code == "ERROR"
            assert root.attributes["chatport.error"] == "BadRequestError"
            assert statuses == ["ERROR"]
            assert attempts[0].attributes["chatport.status_code"] == 400
            continue
        assert answer is not None
        assert trace.info.state == "OK"
        assert root.outputs["choices"][0]["message"]["content"] == answer.text
        assert root.attributes["chatport.status"] == "ok"
        if index == 2:
            assert statuses == ["ERROR", "OK"]
            assert [span.name for span in attempts] == ["attempt 1", "attempt 2"]
            assert attempts[0].attributes["chatport.status_code"] == 503
            assert root.attributes["chatport.attempts"] == 2
        else:
            assert statuses == ["OK"]
            assert root.attributes["chatport.attempts"] == 1
        if index == 4:
            assert root.inputs["params"]["stream"] is True
            continue  # a stream's usage is whatever the endpoint reported, checked below
        assert root.attributes["chatport.usage"] == answer.usage.to_dict()
        assert root.attributes["mlflow.chat.tokenUsage"] == {
            "input_tokens": answer.usage.prompt_tokens,
            "output_tokens": answer.usage.completion_tokens,
            "total_tokens": answer.usage.total_tokens,
        }
        assert root.attributes["chatport.finish_reason"] == answer.finish_reason
        if index != 3:
            assert root.inputs["params"]["max_tokens"] == 50


async def _acomplete(client: chatport.Client, prompt: str) -> chatport.Completion:
    return await client.acomplete(prompt)


def test_an_abandoned_stream_is_traced(
    store: str, experiment: str, local_workspace: LocalWorkspace
) -> None:
    with _client(experiment) as client:
        stream = client.stream("one two three four five six seven eight")
        first = next(stream)
        stream.close()  # type: ignore[attr-defined]
    (trace,) = _traces(store, experiment)
    root, attempts = _tree(trace)
    assert root.attributes["chatport.status"] == "abandoned"
    assert root.outputs["choices"][0]["message"]["content"] == first.text
    assert len(attempts) == 1
    assert attempts[0].attributes["chatport.abandoned"] is True
    assert chatport_mlflow_tracing.open_calls() == 0


def test_an_abandoned_async_stream_is_traced(
    store: str, experiment: str, local_workspace: LocalWorkspace
) -> None:
    async def main() -> None:
        async with _client(experiment) as client:
            stream = client.astream("one two three four five six")
            async for _ in stream:
                break
            await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(main())
    (trace,) = _traces(store, experiment)
    root, _ = _tree(trace)
    assert root.attributes["chatport.status"] == "abandoned"


def test_off_unless_enabled(store: str, experiment: str, tmp_path: Path) -> None:
    config = {"plugins": {"mlflow-tracing": {"experiment_id": experiment}}}
    with chatport.Client(backend="fake", config=config) as client:
        client.complete("hi", model="m")
    assert _traces(store, experiment) == []


def test_listed_as_a_plugin() -> None:
    from click.testing import CliRunner

    from chatport.cli import cli

    result = CliRunner().invoke(cli, ["plugins", "--json"])
    import json

    (row,) = [row for row in json.loads(result.output) if row["name"] == "mlflow-tracing"]
    assert row["package"] == "chatport-mlflow-tracing"
    assert "chatport_call_start" in row["hooks"]
    assert "chatport_call_end" in row["hooks"]
