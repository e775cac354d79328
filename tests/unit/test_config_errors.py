"""Config errors name the file and the key (or the code), with a suggestion for a near miss.

Every check runs when the Client is built, before any call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import chatport
from chatport.cli import cli


def write_config(workdir: Path, text: str) -> str:
    path = workdir / "chatport.toml"
    path.write_text(text)
    return str(path)


def test_misspelled_backend_in_the_file(workdir: Path) -> None:
    path = write_config(workdir, 'backend = "mlfow"\n')
    with pytest.raises(chatport.BackendNotFoundError) as info:
        chatport.Client()
    assert str(info.value).startswith(f"{path}: backend: unknown backend 'mlfow'")
    assert "(did you mean 'mlflow'?)" in str(info.value)
    assert (info.value.path, info.value.key) == (path, "backend")


def test_misspelled_backend_in_a_profile(workdir: Path) -> None:
    path = write_config(workdir, '[profiles.fast]\nbackend = "reest"\n')
    with pytest.raises(chatport.BackendNotFoundError) as info:
        chatport.Client(profile="fast")
    assert str(info.value).startswith(f"{path}: profiles.fast.backend: unknown backend 'reest'")
    assert "(did you mean 'rest'?)" in str(info.value)


def test_misspelled_backend_in_the_environment(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(workdir, 'backend = "rest"\n')
    monkeypatch.setenv("CHATPORT_BACKEND", "openia")
    with pytest.raises(chatport.BackendNotFoundError) as info:
        chatport.Client()
    message = str(info.value)
    assert (
        "unknown backend 'openia' (from env CHATPORT_BACKEND) (did you mean 'openai'?)" in message
    )
    assert "chatport.toml" not in message  # the file is not at fault


def test_misspelled_backend_on_the_command_line_blames_the_argument(workdir: Path) -> None:
    write_config(workdir, 'backend = "rest"\n')
    result = CliRunner().invoke(cli, ["ask", "-b", "mlfow", "hi"])
    assert result.exit_code == 2  # a usage error (docs/cli.md)
    assert result.stderr.startswith("error: BackendNotFoundError: unknown backend 'mlfow'")
    assert "(did you mean 'mlflow'?)" in result.stderr
    assert "chatport.toml" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_misspelled_backend_in_the_file_through_the_cli(workdir: Path) -> None:
    path = write_config(workdir, 'backend = "mlfow"\n')
    result = CliRunner().invoke(cli, ["ask", "hi"])
    assert result.exit_code == 2  # a config error (docs/cli.md)
    assert result.stderr.startswith(
        f"error: BackendNotFoundError: {path}: backend: unknown backend 'mlfow'"
    )
    assert "(did you mean 'mlflow'?)" in result.stderr


def test_unknown_backends_table(workdir: Path) -> None:
    path = write_config(workdir, '[backends.opneai]\nroute = "ai-gateway"\n')
    with pytest.raises(chatport.BackendNotFoundError) as info:
        chatport.Client(backend="rest")
    assert str(info.value).startswith(f"{path}: backends.opneai: unknown backend 'opneai'")
    assert "(did you mean 'openai'?)" in str(info.value)


def test_unknown_option_in_a_known_table_fails_when_the_client_is_built(workdir: Path) -> None:
    path = write_config(workdir, '[backends.openai]\nrout = "ai-gateway"\n')
    with pytest.raises(chatport.ConfigError) as info:
        chatport.Client(backend="rest")  # another backend: the table is still checked
    assert str(info.value).startswith(f"{path}: backends.openai.rout: unknown option 'rout'")
    assert "(did you mean 'route'?)" in str(info.value)
    assert info.value.key == "backends.openai.rout"


def test_bad_option_value_names_the_file_and_suggests(workdir: Path) -> None:
    path = write_config(workdir, '[backends.responses]\nroute = "ai-gatway"\n')
    with pytest.raises(chatport.ConfigError) as info:
        chatport.Client()
    message = str(info.value)
    assert message.startswith(f"{path}: backends.responses.route: 'ai-gatway' is not one of ")
    assert "open-responses" in message
    assert message.endswith("(did you mean 'ai-gateway'?)")


def test_wrong_option_type_says_the_expected_type(workdir: Path) -> None:
    path = write_config(workdir, '[backends.rest]\nmax_connections = "10"\n')
    with pytest.raises(chatport.ConfigError) as info:
        chatport.Client()
    assert str(info.value) == (
        f"{path}: backends.rest.max_connections: expected an integer, got str '10'"
    )
    write_config(workdir, "[backends.rest]\nmax_connections = true\n")
    with pytest.raises(chatport.ConfigError, match="expected an integer, got bool"):
        chatport.Client()


def test_misspelled_fallback_backend_in_the_file(workdir: Path) -> None:
    path = write_config(workdir, 'fallbacks = [{backend = "rest"}, {backend = "databricks-sdc"}]\n')
    with pytest.raises(chatport.BackendNotFoundError) as info:
        chatport.Client()
    assert str(info.value).startswith(
        f"{path}: fallbacks[1].backend: unknown backend 'databricks-sdc'"
    )
    assert "(did you mean 'databricks-sdk'?)" in str(info.value)


def test_fallback_options_are_checked(workdir: Path) -> None:
    path = write_config(
        workdir, 'fallbacks = [{backend = "openai", options = {route = "gateway"}}]\n'
    )
    with pytest.raises(chatport.ConfigError) as info:
        chatport.Client()
    assert str(info.value).startswith(f"{path}: fallbacks[0].options.route: 'gateway' is not")


def test_options_passed_in_code_are_blamed_on_the_code(workdir: Path) -> None:
    write_config(workdir, 'backend = "fake"\n')
    with chatport.Client() as client, pytest.raises(chatport.ConfigError) as info:
        client.complete("hi", backend="openai", options={"rout": "ai-gateway"})
    assert info.value.path is None
    assert str(info.value).startswith("options.rout: unknown option 'rout' (did you mean 'route'?)")
    with pytest.raises(chatport.BackendNotFoundError) as fallback:
        chatport.Client(fallbacks=[{"backend": "mlfow"}])
    assert fallback.value.path is None
    assert "chatport.toml" not in str(fallback.value)
    assert "(did you mean 'mlflow'?)" in str(fallback.value)
    with pytest.raises(chatport.ConfigError) as typed:
        chatport.Client().backend("rest", options={"max_connections": "many"})
    assert typed.value.path is None
    assert str(typed.value) == "options.max_connections: expected an integer, got str 'many'"


def test_a_valid_file_still_builds(workdir: Path) -> None:
    write_config(
        workdir,
        'backend = "fake"\nfallbacks = [{backend = "openai", options = {route = "ai-gateway"}}]\n'
        '[backends.responses]\nroute = "open-responses"\n[backends.rest]\nmax_connections = 4\n',
    )
    with chatport.Client(model="m") as client:
        assert client.complete("all good").text == "all good"
