"""The Client: dispatch, capability checks, observer hooks, reuse, threads, async."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import chatport
from chatport import ChatRequest, Chunk, Completion, ToolCall, Usage
from chatport.testing import FakeBackend, temporary_plugin


class Recorder:
    """An observer plugin that records every hook call."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    @chatport.hookimpl
    def chatport_before_request(self, request: ChatRequest, backend: str, attempt: int) -> None:
        self.events.append(("before", request.model, backend, attempt))

    @chatport.hookimpl
    def chatport_after_completion(self, completion: Completion, backend: str) -> None:
        self.events.append(("after", completion.text, backend, completion.latency_s is not None))

    @chatport.hookimpl
    def chatport_on_error(
        self, error: chatport.ChatportError, backend: str, elapsed_s: float
    ) -> None:
        self.events.append(("error", type(error).__name__, backend, elapsed_s >= 0))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    plugin = Recorder()
    with temporary_plugin(plugin, "recorder"):
        yield plugin


@pytest.fixture
def client() -> Iterator[chatport.Client]:
    with chatport.Client(backend="fake", model="m", max_retries=0, config={}) as client:
        yield client


def fake(client: chatport.Client) -> FakeBackend:
    backend = client.backend()
    assert isinstance(backend, FakeBackend)
    return backend


def test_complete_dispatches_and_sets_backend_and_latency(client: chatport.Client) -> None:
    fake(client).enqueue("the answer")
    completion = client.complete([{"role": "user", "content": "q"}], temperature=0.5)
    assert completion.text == "the answer"
    assert completion.backend == "fake"
    assert completion.latency_s is not None
    assert completion.latency_s >= 0
    (request,) = fake(client).history
    assert request.model == "m"
    assert request.temperature == 0.5


def test_observer_hooks_once_each(client: chatport.Client, recorder: Recorder) -> None:
    fake(client).enqueue("ok", chatport.ServerError("boom", status_code=500))
    client.complete("q")
    with pytest.raises(chatport.ServerError):
        client.complete("q")
    assert recorder.events == [
        ("before", "m", "fake", 1),
        ("after", "ok", "fake", True),
        ("before", "m", "fake", 1),
        ("error", "ServerError", "fake", True),
    ]


def test_observer_hooks_on_streams(client: chatport.Client, recorder: Recorder) -> None:
    fake(client).enqueue(["a", "b", Chunk(finish_reason="stop")])
    assert [c.text for c in client.stream("q")] == ["a", "b", ""]
    fake(client).enqueue(["a", chatport.APIConnectionError("dropped")])
    stream = client.stream("q")
    assert next(stream).text == "a"
    with pytest.raises(chatport.APIConnectionError, match="dropped"):
        next(stream)
    assert recorder.events == [
        ("before", "m", "fake", 1),
        ("after", "ab", "fake", True),
        ("before", "m", "fake", 1),
        ("error", "APIConnectionError", "fake", True),
    ]


def test_a_raising_observer_only_warns(client: chatport.Client, recorder: Recorder) -> None:
    class Broken:
        @chatport.hookimpl
        def chatport_after_completion(self) -> None:
            raise RuntimeError("observer bug")

    with temporary_plugin(Broken(), "broken-observer"):  # noqa: SIM117
        with pytest.warns(
            chatport.ChatportPluginWarning,
            match="'broken-observer' raised in chatport_after_completion",
        ):
            completion = client.complete("still works")
    assert completion.text == "still works"
    assert ("after", "still works", "fake", True) in recorder.events


def test_unsupported_feature_names_capable_backends(
    fresh_plugins: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATPORT_DISABLE_PLUGINS", "1")  # the built-in backends only

    class Plain(chatport.Backend):
        def complete(self, request: ChatRequest) -> Completion:
            raise AssertionError("must not be called")

    class Plugin:
        @chatport.hookimpl
        def chatport_register_backends(self, registry: chatport.BackendRegistry) -> None:
            registry.add("plain", Plain)

    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    with (
        temporary_plugin(Plugin(), "plain-plugin"),
        chatport.Client(backend="plain", model="m", config={}) as client,
    ):
        with pytest.raises(
            chatport.UnsupportedFeatureError,
            match="'plain' does not support tools; supported by: databricks-sdk, fake, mlflow",
        ) as info:
            client.complete("q", tools=tools)
        assert info.value.supported_by == (
            "databricks-sdk",
            "fake",
            "mlflow",
            "openai",
            "responses",
            "rest",
        )
        with pytest.raises(chatport.UnsupportedFeatureError, match="n > 1") as info:
            client.complete("q", n=2)
        assert "responses" not in info.value.supported_by
        with pytest.raises(chatport.UnsupportedFeatureError, match="response_format"):
            client.complete("q", response_format={"type": "json_object"})
        # the default stream of a backend without streaming is one chunk
        Plain.complete = lambda self, request: Completion(text="one")  # type: ignore[method-assign]
        assert [c.text for c in client.stream("q")] == ["one"]


def test_unexpected_backend_exception_is_wrapped(client: chatport.Client) -> None:
    fake(client).enqueue(KeyError("choices"))
    with pytest.raises(chatport.APIError, match="backend 'fake' failed: KeyError") as info:
        client.complete("q")
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.backend == "fake"


def test_backend_errors_get_the_backend_name(client: chatport.Client) -> None:
    cause = ConnectionRefusedError("refused")
    error = chatport.APIConnectionError("cannot connect")
    error.__cause__ = cause
    fake(client).enqueue(error)
    with pytest.raises(chatport.APIConnectionError) as info:
        client.complete("q")
    assert info.value.backend == "fake"
    assert info.value.__cause__ is cause


def test_backend_instance_is_built_once_and_reused(client: chatport.Client) -> None:
    first = client.backend()
    client.complete("a")
    client.complete("b", backend="fake")
    assert client.backend("fake") is first
    assert len(first.history) == 2  # type: ignore[attr-defined]


def test_unknown_backend(client: chatport.Client) -> None:
    with pytest.raises(
        chatport.BackendNotFoundError, match=r"unknown backend 'nope'.*; installed backends: .*fake"
    ):
        client.complete("q", backend="nope")


@pytest.mark.parametrize("name", [["fake"], 5, ("fake",)])
def test_a_backend_name_that_is_no_string_is_not_found_after_a_call_too(
    client: chatport.Client, name: object
) -> None:
    client.complete("q")  # the client now knows its backends by name
    assert client.backend("fake") is client.backend()
    with pytest.raises(chatport.BackendNotFoundError, match="unknown backend"):
        client.backend(name)  # type: ignore[arg-type]


def test_closed_client_refuses_calls() -> None:
    with chatport.Client(backend="fake", model="m", config={}) as client:
        client.complete("q")
    with pytest.raises(chatport.ChatportError, match="closed"):
        client.complete("q")


def test_shared_between_threads(client: chatport.Client) -> None:
    barrier = threading.Barrier(16)

    def ask(index: int) -> tuple[str, int]:
        barrier.wait(timeout=30)
        completion = client.complete(f"question {index}", max_tokens=5)
        return completion.text, id(client.backend())

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(ask, range(16)))
    assert [text for text, _ in results] == [f"question {i}" for i in range(16)]
    assert len({backend_id for _, backend_id in results}) == 1
    assert len(fake(client).history) == 16


def test_tool_call_reply(client: chatport.Client) -> None:
    call = ToolCall("call_1", "weather", '{"city": "Paris"}')
    fake(client).enqueue(call)
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    completion = client.complete("weather?", tools=tools)
    assert completion.finish_reason == "tool_calls"
    assert completion.tool_calls == (call,)
    follow_up = [
        {"role": "user", "content": "weather?"},
        completion.message,
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    assert client.complete(follow_up).text == "weather?"


def test_stream_collects_to_the_same_completion(client: chatport.Client) -> None:
    fake(client).enqueue(
        [
            Chunk(reasoning="thin", id="r1", model="m"),
            Chunk(reasoning="king", signature="sig"),
            Chunk(text="Hel"),
            Chunk(text="lo", usage=Usage(5, None, None)),
            Chunk(finish_reason="stop", usage=Usage(5, 2, None)),
        ]
    )
    collected = chatport.collect(client.stream("q"))
    assert collected.text == "Hello"
    assert collected.reasoning == "thinking"
    assert collected.usage == Usage(5, 2, 7)
    assert collected.finish_reason == "stop"
    assert collected.message is not None
    assert collected.message.to_dict()["content"][0]["summary"][0]["signature"] == "sig"


def test_async_calls(client: chatport.Client) -> None:
    async def main() -> tuple[list[str], list[str]]:
        fake(client).enqueue("one")
        results = await asyncio.gather(client.acomplete("x"), client.acomplete("y"))
        fake(client).enqueue(["s1", "s2"])
        chunks = [chunk.text async for chunk in client.astream("z")]
        return [r.text for r in results], chunks

    texts, chunks = asyncio.run(main())
    assert sorted(texts) in (["one", "y"], ["one", "x"])  # whichever call ran first got "one"
    assert chunks == ["s1", "s2"]


def test_module_level_calls_use_config_and_env(
    workdir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATPORT_BACKEND", "fake")
    monkeypatch.setenv("CHATPORT_MODEL", "env-model")
    completion = chatport.complete([{"role": "user", "content": "hi"}])
    assert (completion.text, completion.backend, completion.model) == ("hi", "fake", "env-model")
    assert "".join(c.text for c in chatport.stream("streamed")) == "streamed"
    assert asyncio.run(chatport.acomplete("async")).text == "async"

    async def collect_async() -> str:
        return "".join([c.text async for c in chatport.astream("astreamed")])

    assert asyncio.run(collect_async()) == "astreamed"
    with pytest.raises(chatport.InvalidRequestError, match="temperature"):
        chatport.complete("hi", temperature=3)
