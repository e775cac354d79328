"""Inputs and events that used to escape as raw Python exceptions or lose results."""

from __future__ import annotations

import asyncio
import math
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import chatport
from chatport import (
    Backend,
    Capabilities,
    ChatRequest,
    ConfigError,
    InvalidRequestError,
    ResponseFormatError,
    ServerError,
    ToolCall,
)
from chatport.testing import temporary_plugin


@pytest.mark.parametrize("role", [["user"], {"r": 1}, 3, None])
def test_unhashable_or_wrong_typed_role(role: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        ChatRequest.build([{"role": role, "content": "x"}], model="m")
    assert info.value.field is not None
    assert info.value.field.endswith("role")


@pytest.mark.parametrize(
    ("options", "name"),
    [({"headers": {"a": "b"}}, "headers"), ({"max_connections": [1]}, "max_connections")],
)
def test_call_options_are_validated_naming_the_option(
    workdir: Path, options: dict[str, Any], name: str
) -> None:
    with chatport.Client("rest") as client, pytest.raises(ConfigError, match=name):
        client.complete("hi", model="m", options=options)


@pytest.mark.parametrize("options", [5, "x", ["a"]])
def test_call_options_that_are_not_a_dict(workdir: Path, options: Any) -> None:
    with chatport.Client("fake") as client, pytest.raises(ConfigError, match="options"):
        client.complete("hi", model="m", options=options)


@pytest.mark.parametrize(
    "entry", [{"backend": "fake", "options": 5}, {"backend": "fake", "model": 3}]
)
def test_fallback_entries_are_checked(workdir: Path, entry: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="fallbacks"):
        chatport.Client("fake", fallbacks=[entry])
    (workdir / "chatport.toml").write_text(
        "[[fallbacks]]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in entry.items())
    )
    with pytest.raises(ConfigError, match=r"fallbacks\[0\]"):
        chatport.Client("fake")


def test_latin1_config_file_names_the_file(workdir: Path) -> None:
    (workdir / "chatport.toml").write_bytes('model = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"chatport\.toml") as info:
        chatport.Client()
    assert "UTF-8" in str(info.value)


@pytest.mark.parametrize("text", ["tool = 5\n", "[tool]\nchatport = 5\n"])
def test_pyproject_tool_that_is_not_a_table(workdir: Path, text: str) -> None:
    (workdir / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"pyproject\.toml"):
        chatport.Client()


def test_deeply_nested_tool_arguments() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ResponseFormatError):
        ToolCall("c", "f", deep).parsed()
    nested = '{"a":' * 100_000 + "1" + "}" * 100_000
    with pytest.raises(ResponseFormatError):
        ToolCall("c", "f", nested).parsed()


class _EagerFailure(Backend):
    """A third-party backend whose stream() raises when called, before any chunk."""

    capabilities = Capabilities(streaming=True)
    calls = 0

    def complete(self, request: ChatRequest) -> chatport.Completion:
        raise AssertionError("not used")

    def stream(self, request: ChatRequest) -> Iterator[chatport.Chunk]:  # type: ignore[override]
        type(self).calls += 1
        raise ServerError("temporarily down", status_code=503)

    def astream(self, request: ChatRequest) -> AsyncIterator[chatport.Chunk]:  # type: ignore[override]
        type(self).calls += 1
        raise ServerError("temporarily down", status_code=503)


class _Plugin:
    def __init__(self) -> None:
        self.errors: list[str] = []

    @chatport.hookimpl
    def chatport_register_backends(self, registry: Any) -> None:
        registry.add("eager-failure", _EagerFailure)

    @chatport.hookimpl
    def chatport_on_error(self, error: chatport.ChatportError, backend: str) -> None:
        self.errors.append(f"{backend}: {type(error).__name__}")


@pytest.mark.parametrize("use_async", [False, True])
def test_stream_raising_before_its_first_chunk_is_retried_and_observed(
    workdir: Path, use_async: bool
) -> None:
    plugin = _Plugin()
    _EagerFailure.calls = 0

    async def consume(client: chatport.Client) -> None:
        async for _ in client.astream("hi", model="m"):
            pass

    with (
        temporary_plugin(plugin),
        chatport.Client("eager-failure", max_retries=1) as client,
        pytest.raises(ServerError),
    ):
        asyncio.run(consume(client)) if use_async else list(client.stream("hi", model="m"))
    assert _EagerFailure.calls == 2
    assert plugin.errors == ["eager-failure: ServerError"] * 2


class _RaisingObserver:
    @chatport.hookimpl
    def chatport_after_completion(self) -> None:
        raise RuntimeError("observer bug")

    @chatport.hookimpl
    def chatport_before_request(self) -> None:
        warnings.warn("observer warns", UserWarning, stacklevel=1)


def test_observer_warnings_as_errors_do_not_lose_the_answer(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        temporary_plugin(_RaisingObserver()),
        chatport.Client("fake") as client,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error")
        completion = client.complete("hello", model="m")
        streamed = chatport.collect(client.stream("hello", model="m"))
    assert completion.text == streamed.text == "hello"
    assert "observer bug" in caplog.text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_timeout_is_refused(workdir: Path, value: float) -> None:
    with pytest.raises(ConfigError, match="timeout"):
        chatport.Client("fake", timeout=value)
    (workdir / "chatport.toml").write_text(f"timeout = {value}\n")
    with pytest.raises(ConfigError, match="timeout"):
        chatport.Client("fake")


@pytest.mark.parametrize(
    "extra", [{"x": math.nan}, {"x": object()}, {"x": {"y": [math.inf]}}, {"x": b"bytes"}]
)
def test_extra_must_be_json(workdir: Path, extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError) as info:
        ChatRequest.build("hi", model="m", extra=extra)
    assert info.value.field == "extra.x"
    with chatport.Client("rest") as client, pytest.raises(InvalidRequestError):
        client.complete("hi", model="m", extra=extra)


def test_valid_extra_still_passes() -> None:
    request = ChatRequest.build("hi", model="m", extra={"x": {"y": [1, 2.5, None, "z"]}})
    assert request.to_dict()["x"] == {"y": [1, 2.5, None, "z"]}
