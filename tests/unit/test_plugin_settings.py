"""Plugins declare their ``[plugins.NAME]`` settings, and a typo in a table is an error.

The check runs when a ``Client`` is built (and in ``chatport config``): an undeclared key
or a value of the wrong type is a :class:`chatport.ConfigError` naming the file and the
dotted key, with the closest declared name. Plugins that declare nothing, and tables of
plugins that are not installed, are left alone.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

import chatport
from chatport.cli import cli
from chatport.testing import temporary_plugin

pytestmark = pytest.mark.usefixtures("fresh_plugins")


class Declares:
    """A plugin whose ``chatport_plugin_settings`` returns ``settings``."""

    def __init__(self, settings: object) -> None:
        self.settings = settings

    @chatport.hookimpl
    def chatport_plugin_settings(self) -> object:
        return self.settings


class Older:
    """A plugin written before the settings hook: it has a table and declares nothing."""

    @chatport.hookimpl
    def chatport_after_completion(self) -> None:
        pass


def build(plugins: Mapping[str, Mapping[str, Any]]) -> chatport.Client:
    return chatport.Client(backend="fake", config={"plugins": plugins})


def config_error(plugins: Mapping[str, Mapping[str, Any]]) -> chatport.ConfigError:
    with pytest.raises(chatport.ConfigError) as info:
        build(plugins)
    return info.value


@contextmanager
def quiet(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No ChatportPluginWarning is raised, shown or logged inside the block."""
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        yield
    plugin_warnings = [w for w in caught if issubclass(w.category, chatport.ChatportPluginWarning)]
    assert [str(w.message) for w in plugin_warnings] == []
    assert [r.getMessage() for r in caplog.records if r.name.startswith("chatport")] == []


# -- the worked example plugins, loaded from their entry points ------------------------


def test_a_typo_in_the_jsonl_log_table_names_the_key_and_the_fix() -> None:
    pytest.importorskip("chatport_jsonl_log")
    error = config_error({"jsonl-log": {"pth": "calls.jsonl"}})
    assert str(error) == (
        "<config dict>: plugins.jsonl-log.pth: unknown setting 'pth' (did you mean 'path'?); "
        "plugin 'jsonl-log' takes: log_text, path"
    )
    assert (error.path, error.key) == ("<config dict>", "plugins.jsonl-log.pth")


def test_a_typo_in_the_jsonl_log_table_of_a_config_file(workdir: Path) -> None:
    pytest.importorskip("chatport_jsonl_log")
    path = workdir / "chatport.toml"
    path.write_text('[plugins.jsonl-log]\npth = "calls.jsonl"\n')
    for source in (None, str(path)):  # discovered in the working directory, or named
        with pytest.raises(chatport.ConfigError) as info:
            chatport.Client(config=source)
        assert str(info.value).startswith(
            f"{path}: plugins.jsonl-log.pth: unknown setting 'pth' (did you mean 'path'?)"
        )
        assert (info.value.path, info.value.key) == (str(path), "plugins.jsonl-log.pth")


def test_chatport_config_reports_the_same_error(workdir: Path) -> None:
    pytest.importorskip("chatport_jsonl_log")
    (workdir / "chatport.toml").write_text("[plugins.jsonl-log]\nlog_txt = true\n")
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code != 0
    assert "plugins.jsonl-log.log_txt: unknown setting 'log_txt'" in result.stderr
    assert "(did you mean 'log_text'?)" in result.stderr


CORRECT = [
    ("chatport_jsonl_log", "jsonl-log", {"path": "calls.jsonl", "log_text": True}),
    ("chatport_mlflow_tracing", "mlflow-tracing", {"enabled": False, "experiment_id": "123"}),
    ("chatport_mlflow_tracing", "mlflow-tracing", {"experiment_id": 123}),
    ("chatport_usage", "usage", {"prices": {"my-model": {"input": 1.0, "output": 2}}}),
    ("chatport_anthropic", "anthropic", {}),
]


@pytest.mark.parametrize(("module", "name", "table"), CORRECT)
def test_correct_tables_pass(
    module: str, name: str, table: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip(module)
    with quiet(caplog):
        build({name: table}).close()


TYPOS = [
    ("chatport_jsonl_log", "jsonl-log", "log-text", "(did you mean 'log_text'?)"),
    ("chatport_mlflow_tracing", "mlflow-tracing", "enable", "(did you mean 'enabled'?)"),
    ("chatport_mlflow_tracing", "mlflow-tracing", "experiment", "(did you mean 'experiment_id'?)"),
    ("chatport_usage", "usage", "price", "(did you mean 'prices'?)"),
    ("chatport_anthropic", "anthropic", "route", "go in [backends.anthropic]"),
]


@pytest.mark.parametrize(("module", "name", "key", "hint"), TYPOS)
def test_each_worked_example_rejects_an_unknown_key(
    module: str, name: str, key: str, hint: str
) -> None:
    pytest.importorskip(module)
    error = config_error({name: {key: "x"}})
    assert f"plugins.{name}.{key}: unknown setting {key!r}" in str(error)
    assert hint in str(error)
    assert error.key == f"plugins.{name}.{key}"


@pytest.mark.parametrize("value", ["yes", 1])
def test_enabled_must_be_true_or_false(value: object) -> None:
    pytest.importorskip("chatport_mlflow_tracing")
    error = config_error({"mlflow-tracing": {"enabled": value}})
    assert str(error) == (
        f"<config dict>: plugins.mlflow-tracing.enabled: expected true or false, "
        f"got {type(value).__name__} {value!r}"
    )
    assert error.key == "plugins.mlflow-tracing.enabled"


def test_the_jsonl_log_path_must_be_a_string() -> None:
    pytest.importorskip("chatport_jsonl_log")
    error = config_error({"jsonl-log": {"path": 5}})
    assert "plugins.jsonl-log.path: expected a string, got int 5" in str(error)


def test_disabled_plugins_leave_their_tables_alone(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CHATPORT_DISABLE_PLUGINS", "1")
    with quiet(caplog):
        build({"jsonl-log": {"pth": "calls.jsonl"}}).close()


# -- the mechanism, with temporary plugins ---------------------------------------------


def test_a_plugin_that_declares_nothing_is_not_checked(caplog: pytest.LogCaptureFixture) -> None:
    older, undecided = temporary_plugin(Older(), "older"), temporary_plugin(Declares(None), "x")
    with older, undecided, quiet(caplog):
        build({"older": {"anything": 1}, "x": {"whatever": "x"}}).close()


def test_declared_types_are_checked() -> None:
    declared = {"level": int, "ratio": (int, float), "on": bool, "extra": Mapping}
    with temporary_plugin(Declares(declared), "typed"):
        build({"typed": {"level": 3, "ratio": 0.5, "on": False, "extra": {"a": 1}}}).close()
        build({"typed": {"ratio": 2}}).close()
        assert "plugins.typed.level: expected an integer, got bool True" in str(
            config_error({"typed": {"level": True}})
        )
        assert "plugins.typed.on: expected true or false, got int 0" in str(
            config_error({"typed": {"on": 0}})
        )
        assert "plugins.typed.extra: expected a table, got str 'x'" in str(
            config_error({"typed": {"extra": "x"}})
        )
        error = config_error({"typed": {"ratoi": 1.0}})
        assert "unknown setting 'ratoi' (did you mean 'ratio'?)" in str(error)
        assert "plugin 'typed' takes: extra, level, on, ratio" in str(error)


def test_an_empty_declaration_allows_no_key_not_even_enabled() -> None:
    with temporary_plugin(Declares({}), "bare"):
        build({"bare": {}}).close()
        error = config_error({"bare": {"enabled": True}})
        assert "plugins.bare.enabled: unknown setting 'enabled'; plugin 'bare' takes: none" in str(
            error
        )


def test_a_backend_option_in_the_plugin_table_points_to_the_backend_table() -> None:
    class Suffixed(chatport.Backend):
        option_types: ClassVar[dict[str, type]] = {"suffix": str}

        def complete(self, request: chatport.ChatRequest) -> chatport.Completion:
            return chatport.Completion(text="ok")

    class Plugin(Declares):
        @chatport.hookimpl
        def chatport_register_backends(self, registry: chatport.BackendRegistry) -> None:
            registry.add("suffixed", Suffixed)

    with temporary_plugin(Plugin({}), "suffixer"):
        error = config_error({"suffixer": {"suffix": "!"}})
    assert "(options of backend 'suffixed' go in [backends.suffixed])" in str(error)


def test_a_table_for_a_plugin_that_is_not_installed_is_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with temporary_plugin(Declares({"path": str}), "my-log"), quiet(caplog):
        build({"somebody-elses-plugin": {"anything": 1}}).close()


def test_a_table_named_close_to_an_installed_plugin_warns() -> None:
    plugin = temporary_plugin(Declares({"path": str}), "my-log")
    with plugin, pytest.warns(chatport.ChatportPluginWarning) as caught:
        build({"my_log": {"pth": "x"}}).close()
    (message,) = [str(w.message) for w in caught]
    assert "plugins.my_log: no installed plugin is named 'my_log' (did you mean 'my-log'?)" in (
        message
    )


@pytest.mark.parametrize("declared", [["path"], {"path": "where to write"}, {"path": ()}])
def test_a_malformed_declaration_only_warns(declared: object) -> None:
    warned = pytest.warns(chatport.ChatportPluginWarning, match="'odd' declares its settings")
    with temporary_plugin(Declares(declared), "odd"), warned:
        build({"odd": {"pth": "x"}}).close()  # left unchecked


def test_a_declaration_that_raises_only_warns() -> None:
    class Broken:
        @chatport.hookimpl
        def chatport_plugin_settings(self) -> dict[str, type]:
            raise RuntimeError("boom")

    warned = pytest.warns(chatport.ChatportPluginWarning, match="raised in chatport_plugin")
    with temporary_plugin(Broken(), "broken"), warned:
        build({"broken": {"pth": "x"}}).close()


def test_the_check_does_not_call_plugins_without_plugin_tables() -> None:
    calls: list[str] = []

    class Counting:
        @chatport.hookimpl
        def chatport_plugin_settings(self) -> dict[str, type]:
            calls.append("called")
            return {"path": str}

    with temporary_plugin(Counting(), "counting"):
        chatport.Client(backend="fake").close()
        assert calls == []
        build({"counting": {"path": "x"}}).close()
        assert calls == ["called"]
