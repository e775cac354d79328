"""Hooks are called through pluggy, each implementation isolated on its own.

Ordering (``tryfirst``/``trylast``), wrappers of both styles, call-level hooks, a
misspelled hook name, a raising observer and plugin commands. The same promises are
checked with a real, pip-installed package in ``test_plugins.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import warnings
from collections.abc import Generator, Iterator
from typing import Any

import click
import pluggy
import pytest
from click.testing import CliRunner

import chatport
from chatport import _plugins
from chatport.cli import cli
from chatport.testing import FakeBackend, temporary_plugin


@pytest.fixture
def events(fresh_plugins: None) -> list[Any]:
    return []


def _client() -> chatport.Client:
    return chatport.Client(backend="fake", config={"max_retries": 2})


def _fake(client: chatport.Client) -> FakeBackend:
    backend = client.backend()
    assert isinstance(backend, FakeBackend)
    return backend


class Recorder:
    """Records every observer hook with the arguments that identify it."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    @chatport.hookimpl
    def chatport_call_start(self, call_id: str, backend: str) -> None:
        self.events.append(("call_start", call_id, backend))

    @chatport.hookimpl
    def chatport_before_request(self, call_id: str, attempt: int) -> None:
        self.events.append(("before_request", call_id, attempt))

    @chatport.hookimpl
    def chatport_on_error(self, call_id: str, error: chatport.ChatportError) -> None:
        self.events.append(("on_error", call_id, type(error).__name__))

    @chatport.hookimpl
    def chatport_after_completion(self, call_id: str, completion: chatport.Completion) -> None:
        self.events.append(("after_completion", call_id, completion.text))

    @chatport.hookimpl
    def chatport_call_end(
        self,
        call_id: str,
        status: str,
        completion: chatport.Completion | None,
        error: chatport.ChatportError | None,
        attempts: int,
        elapsed_s: float,
    ) -> None:
        text = completion.text if completion is not None else None
        name = type(error).__name__ if error is not None else None
        assert elapsed_s >= 0
        self.events.append(("call_end", call_id, status, text, name, attempts))


def _shape(events: list[Any]) -> list[tuple[Any, ...]]:
    """The events without their call id, after checking that it is one id throughout."""
    assert len({event[1] for event in events}) == 1, events
    return [(event[0], *event[2:]) for event in events]


def test_call_hooks_frame_the_attempts(events: list[Any]) -> None:
    with temporary_plugin(Recorder(events)), _client() as client:
        _fake(client).enqueue(chatport.RateLimitError("slow", status_code=429), "answer")
        assert client.complete("hi", model="m").text == "answer"
    assert _shape(events) == [
        ("call_start", "fake"),
        ("before_request", 1),
        ("on_error", "RateLimitError"),
        ("before_request", 2),
        ("after_completion", "answer"),
        ("call_end", "ok", "answer", None, 2),
    ]


def test_a_failed_call_ends_with_its_error(events: list[Any]) -> None:
    with temporary_plugin(Recorder(events)), _client() as client:
        _fake(client).enqueue(chatport.BadRequestError("no", status_code=400))
        with pytest.raises(chatport.BadRequestError):
            client.complete("hi", model="m")
    assert _shape(events)[-1] == ("call_end", "error", None, "BadRequestError", 1)


def test_each_call_has_its_own_id(events: list[Any]) -> None:
    with temporary_plugin(Recorder(events)), _client() as client:
        client.complete("one", model="m")
        client.complete("two", model="m")
    starts = [event[1] for event in events if event[0] == "call_start"]
    assert len(set(starts)) == 2


def test_an_abandoned_stream_ends_as_abandoned(events: list[Any]) -> None:
    with temporary_plugin(Recorder(events)), _client() as client:
        _fake(client).enqueue(["a ", "b ", "c"])
        stream = client.stream("hi", model="m")
        assert next(stream).text == "a "
        stream.close()  # type: ignore[attr-defined]
    assert _shape(events)[-1] == ("call_end", "abandoned", "a ", None, 1)


def test_an_abandoned_async_stream_ends_as_abandoned(events: list[Any]) -> None:
    async def main() -> None:
        async with _client() as client:
            _fake(client).enqueue(["a ", "b ", "c"])
            stream = client.astream("hi", model="m")
            async for chunk in stream:
                assert chunk.text == "a "
                break
            await stream.aclose()  # type: ignore[attr-defined]

    with temporary_plugin(Recorder(events)):
        asyncio.run(main())
    assert _shape(events)[-1] == ("call_end", "abandoned", "a ", None, 1)


def test_a_finished_stream_ends_ok(events: list[Any]) -> None:
    with temporary_plugin(Recorder(events)), _client() as client:
        _fake(client).enqueue(["a ", "b"])
        assert "".join(chunk.text for chunk in client.stream("hi", model="m")) == "a b"
    assert _shape(events)[-2:] == [
        ("after_completion", "a b"),
        ("call_end", "ok", "a b", None, 1),
    ]


def test_tryfirst_and_trylast_order(events: list[Any]) -> None:
    def observer(label: str, **opts: bool) -> object:
        class Plugin:
            @chatport.hookimpl(**opts)
            def chatport_after_completion(self) -> None:
                events.append(label)

        return Plugin()

    # registered first-wish first: pluggy's plain order (last registered first) is reversed
    with (
        temporary_plugin(observer("first", tryfirst=True)),
        temporary_plugin(observer("middle")),
        temporary_plugin(observer("last", trylast=True)),
        _client() as client,
    ):
        client.complete("hi", model="m")
    assert events == ["first", "middle", "last"]


def test_wrappers_of_both_styles_surround_the_observers(events: list[Any]) -> None:
    class NewStyle:
        @chatport.hookimpl(wrapper=True)
        def chatport_after_completion(self) -> Generator[None, object, object]:
            events.append("new:before")
            result = yield
            events.append("new:after")
            return result

    class OldStyle:
        @chatport.hookimpl(hookwrapper=True)
        def chatport_after_completion(self) -> Generator[None, pluggy.Result[object], None]:
            events.append("old:before")
            outcome = yield
            events.append(("old:after", outcome.exception is None))

    class Plain:
        @chatport.hookimpl
        def chatport_after_completion(self) -> None:
            events.append("plain")

    with (
        temporary_plugin(Plain()),
        temporary_plugin(OldStyle()),
        temporary_plugin(NewStyle()),
        _client() as client,
    ):
        client.complete("hi", model="m")
    assert events == ["new:before", "old:before", "plain", ("old:after", True), "new:after"]


def test_a_raising_observer_warns_and_the_others_still_run(events: list[Any]) -> None:
    class Raising:
        @chatport.hookimpl
        def chatport_after_completion(self) -> None:
            events.append("raising")
            raise RuntimeError("observer broke")

    class After:
        @chatport.hookimpl(trylast=True)
        def chatport_after_completion(self) -> None:
            events.append("after")

    with temporary_plugin(After()), temporary_plugin(Raising(), "raising-plugin"):  # noqa: SIM117
        with pytest.warns(
            chatport.ChatportPluginWarning,
            match=r"plugin 'raising-plugin' raised in chatport_after_completion: "
            r"RuntimeError: observer broke",
        ):
            completion = _client().complete("hi", model="m")
    assert completion.text == "hi"
    assert events == ["raising", "after"]


@pytest.mark.parametrize(
    "hook",
    [
        "chatport_call_start",
        "chatport_before_request",
        "chatport_on_error",
        "chatport_after_completion",
        "chatport_call_end",
    ],
)
def test_a_raising_observer_never_loses_the_answer_when_warnings_are_errors(
    hook: str, fresh_plugins: None, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(**kwargs: object) -> None:
        raise RuntimeError(f"broken {hook}")

    plugin = type("Broken", (), {hook: staticmethod(chatport.hookimpl(boom))})()
    with temporary_plugin(plugin, "broken"), _client() as client:
        _fake(client).enqueue(chatport.RateLimitError("slow", status_code=429), "answer")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert client.complete("hi", model="m").text == "answer"
    assert f"plugin 'broken' raised in {hook}: RuntimeError: broken {hook}" in caplog.text


def test_a_broken_wrapper_is_skipped(events: list[Any]) -> None:
    class BeforeYield:
        @chatport.hookimpl(wrapper=True)
        def chatport_after_completion(self) -> Generator[None, object, object]:
            raise RuntimeError("before yield")
            yield  # pragma: no cover

    class AfterYield:
        @chatport.hookimpl(wrapper=True)
        def chatport_after_completion(self) -> Generator[None, object, object]:
            result = yield
            events.append("after-yield ran")
            raise RuntimeError(f"after yield {result!r}")

    class Plain:
        @chatport.hookimpl
        def chatport_after_completion(self) -> None:
            events.append("plain")

    with (
        temporary_plugin(Plain()),
        temporary_plugin(AfterYield(), "after-yield"),
        temporary_plugin(BeforeYield(), "before-yield"),
        pytest.warns(chatport.ChatportPluginWarning) as caught,
    ):
        assert _client().complete("hi", model="m").text == "hi"
    messages = " | ".join(str(w.message) for w in caught)
    assert (
        "'before-yield' raised in chatport_after_completion: RuntimeError: before yield" in messages
    )
    assert (
        "'after-yield' raised in chatport_after_completion: RuntimeError: after yield" in messages
    )
    assert events == ["plain", "after-yield ran"]


def test_a_misspelled_hook_warns_with_the_closest_name(fresh_plugins: None) -> None:
    class Typo:
        @chatport.hookimpl
        def chatport_befor_request(self) -> None:
            raise AssertionError("never called")

    with (
        pytest.warns(
            chatport.ChatportPluginWarning,
            match=r"plugin 'typo' implements 'chatport_befor_request', which is not a chatport "
            r"hook \(did you mean 'chatport_before_request'\?\); it is never called",
        ),
        temporary_plugin(Typo(), "typo"),
        _client() as client,
    ):
        assert client.complete("hi", model="m").text == "hi"


def test_registration_names_the_plugin_without_a_public_side_channel(
    fresh_plugins: None,
) -> None:
    class Mine(chatport.Backend):
        def complete(self, request: chatport.ChatRequest) -> chatport.Completion:
            return chatport.Completion(text="mine")

    class Plugin:
        @chatport.hookimpl(tryfirst=True)  # called before the built-ins, still loses "fake"
        def chatport_register_backends(self, registry: chatport.BackendRegistry) -> None:
            assert not hasattr(registry, "current_plugin")
            registry.add("mine", Mine)
            registry.add("fake", Mine)

    with temporary_plugin(Plugin(), "mine-plugin"):
        with pytest.warns(
            chatport.ChatportPluginWarning,
            match="plugin 'mine-plugin' registers backend 'fake', already provided by "
            "'chatport.backends.fake'; ignored",
        ):
            registry = _plugins.get_registry()
        assert registry.get("mine").plugin == "mine-plugin"
        assert registry.get("fake").plugin == "chatport.backends.fake"
        assert registry.get("fake").cls is FakeBackend


def test_settings_and_capabilities_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        chatport.Capabilities(True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        chatport.BackendSettings("name")  # type: ignore[misc]
    assert chatport.Capabilities(streaming=True).streaming
    assert all(f.kw_only for f in dataclasses.fields(chatport.BackendSettings))


@pytest.fixture
def clean_cli() -> Iterator[None]:
    before = dict(cli.commands)  # type: ignore[attr-defined]
    yield
    cli.commands.clear()  # type: ignore[attr-defined]
    cli.commands.update(before)  # type: ignore[attr-defined]


def test_a_plugin_adds_a_command(fresh_plugins: None, clean_cli: None) -> None:
    @click.command()
    @click.argument("name")
    def hello(name: str) -> None:
        """Say hello."""
        click.echo(f"hello {name}")

    @click.command()
    def ask() -> None:
        click.echo("hijacked")

    class Plugin:
        @chatport.hookimpl
        def chatport_register_commands(self, cli: click.Group) -> None:
            cli.add_command(hello)
            cli.add_command(ask)

    runner = CliRunner()
    with temporary_plugin(Plugin(), "hello-plugin"):
        with pytest.warns(
            chatport.ChatportPluginWarning, match="'hello-plugin' adds command 'ask'"
        ):
            result = runner.invoke(cli, ["hello", "world"])
        assert result.exit_code == 0, result.output
        assert result.output == "hello world\n"
        assert "hello" in runner.invoke(cli, ["--help"]).output
    result = runner.invoke(cli, ["ask", "--help"])
    assert "hijacked" not in result.output
    assert "Ask one question" in result.output


def test_a_failing_command_plugin_only_warns(fresh_plugins: None, clean_cli: None) -> None:
    class Plugin:
        @chatport.hookimpl
        def chatport_register_commands(self) -> None:
            raise RuntimeError("no commands today")

    with (
        temporary_plugin(Plugin(), "sad"),
        pytest.warns(chatport.ChatportPluginWarning, match="'sad' failed to add commands"),
    ):
        result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "backends" in result.output


def test_plugins_command_lists_run_time_plugins(fresh_plugins: None, caplog: Any) -> None:
    caplog.set_level(logging.WARNING)

    class Plugin:
        @chatport.hookimpl
        def chatport_on_error(self) -> None:
            pass

    with temporary_plugin(Plugin(), "listed"):
        result = CliRunner().invoke(cli, ["plugins", "--json"])
        text = CliRunner().invoke(cli, ["plugins"]).output
    assert result.exit_code == 0, result.output
    import json

    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["listed"] == {
        "name": "listed",
        "package": None,
        "version": None,
        "hooks": ["chatport_on_error"],
        "builtin": False,
    }
    assert "chatport.backends.fake" not in rows
    assert "listed  (registered at run time)" in text
    everything = json.loads(CliRunner().invoke(cli, ["plugins", "--all", "--json"]).output)
    fake = next(row for row in everything if row["name"] == "chatport.backends.fake")
    assert fake["builtin"] is True
    assert fake["package"] == "chatport"
    assert fake["hooks"] == ["chatport_register_backends"]


def test_each_input_of_a_batch_is_its_own_call(events: list[Any]) -> None:
    with temporary_plugin(Recorder(events)), _client() as client:
        results = list(client.map([f"q{i}" for i in range(6)], model="m", concurrency=3))
    assert all(result.error is None for result in results)
    by_call: dict[str, list[str]] = {}
    for event in events:
        by_call.setdefault(event[1], []).append(event[0])
    assert len(by_call) == 6
    for kinds in by_call.values():
        assert kinds == [
            "call_start",
            "before_request",
            "after_completion",
            "call_end",
        ]
