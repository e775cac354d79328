"""Configuration discovery, precedence and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import chatport
from chatport import ConfigError, load_config

FULL = """
backend = "openai"
model = "file-model"
timeout = 30
max_retries = 4

[backends.openai]
route = "serving-endpoints"

[profiles.gateway]
backend = "responses"
model = "system.ai.gpt-5"

[profiles.gateway.backends.openai]
route = "ai-gateway"

[plugins.jsonl-log]
path = "calls.jsonl"
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_any_file(workdir: Path) -> None:
    config = load_config()
    assert config.path is None
    assert config.backend == "rest"
    assert config.timeout == 60.0
    assert config.sources["backend"] == "default"


def test_file_then_profile_then_env_then_arguments(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(workdir / "chatport.toml", FULL)
    config = load_config()
    assert (config.backend, config.model, config.timeout, config.max_retries) == (
        "openai",
        "file-model",
        30.0,
        4,
    )
    assert config.sources["model"] == str(path)
    assert config.backend_options("openai") == {"route": "serving-endpoints"}
    assert config.plugin_options("jsonl-log") == {"path": "calls.jsonl"}

    config = load_config(profile="gateway")
    assert (config.backend, config.model, config.timeout) == ("responses", "system.ai.gpt-5", 30.0)
    assert config.sources["backend"] == f"profile gateway ({path})"
    assert config.backend_options("openai") == {"route": "ai-gateway"}

    monkeypatch.setenv("CHATPORT_PROFILE", "gateway")
    monkeypatch.setenv("CHATPORT_MODEL", "env-model")
    config = load_config()
    assert config.profile == "gateway"
    assert (config.backend, config.model) == ("responses", "env-model")
    assert config.sources["model"] == "env CHATPORT_MODEL"

    monkeypatch.setenv("CHATPORT_BACKEND", "mlflow")
    config = load_config(overrides={"model": "arg-model", "timeout": 5})
    assert (config.backend, config.model, config.timeout) == ("mlflow", "arg-model", 5.0)
    assert config.sources["backend"] == "env CHATPORT_BACKEND"
    assert config.sources["model"] == "argument"


def test_discovery_order(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    user = Path(str(tmp_path_factory.getbasetemp())) / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(user))
    (user / "chatport").mkdir(parents=True)
    write(user / "chatport" / "config.toml", 'model = "from-user"\n')
    assert load_config().model == "from-user"

    write(workdir / "pyproject.toml", '[project]\nname = "x"\n')
    assert load_config().model == "from-user"  # no [tool.chatport] table: skipped
    write(workdir / "pyproject.toml", '[tool.chatport]\nmodel = "from-pyproject"\n')
    assert load_config().model == "from-pyproject"

    write(workdir / "chatport.toml", 'model = "from-local"\n')
    assert load_config().model == "from-local"

    explicit = write(workdir / "other.toml", 'model = "from-env-path"\n')
    monkeypatch.setenv("CHATPORT_CONFIG", str(explicit))
    assert load_config().model == "from-env-path"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('modle = "x"\n', "modle", "unknown key 'modle' (did you mean 'model'?)"),
        ('timeout = "fast"\n', "timeout", "timeout: expected a positive number, got str 'fast'"),
        ("max_retries = -1\n", "max_retries", "expected a whole number >= 0"),
        ("backends = 3\n", "backends", "expected tables like [backends.NAME]"),
        ('token = "dapi123"\n', "token", "tokens are never stored"),
        ('[backends.rest]\ntoken = "dapi123"\n', "backends.rest.token", "secrets are never stored"),
        ('[profiles.p]\nbackned = "x"\n', "profiles.p.backned", "did you mean 'backend'"),
        ('fallbacks = [{model = "m"}]\n', "fallbacks[0]", "expected a table like"),
        (
            'fallbacks = [{backend = "rest", modell = "m"}]\n',
            "fallbacks[0].modell",
            "did you mean 'model'",
        ),
    ],
)
def test_errors_name_file_and_key(workdir: Path, text: str, key: str, message: str) -> None:
    path = write(workdir / "chatport.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config()
    assert info.value.path == str(path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "dapi123" not in str(info.value)


def test_pyproject_keys_are_named_with_their_table(workdir: Path) -> None:
    write(workdir / "pyproject.toml", '[tool.chatport]\nmodle = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'tool.chatport.modle'"):
        load_config()


def test_invalid_toml_names_the_file(workdir: Path) -> None:
    path = write(workdir / "chatport.toml", "backend = \n")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        load_config()
    assert info.value.path == str(path)


def test_unknown_profile(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(workdir / "chatport.toml", FULL)
    monkeypatch.setenv("CHATPORT_PROFILE", "gatewya")
    with pytest.raises(
        ConfigError,
        match=r"unknown profile 'gatewya' \(from env CHATPORT_PROFILE\) \(did you mean 'gateway'\?\); profiles: gateway",
    ) as info:
        load_config()
    assert info.value.key == "profiles.gatewya"


def test_missing_config_files(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(workdir / "missing.toml")
    monkeypatch.setenv("CHATPORT_CONFIG", str(workdir / "nope.toml"))
    with pytest.raises(ConfigError, match="CHATPORT_CONFIG names a file that does not exist"):
        load_config()


def test_client_settings_are_validated(workdir: Path) -> None:
    with pytest.raises(
        ConfigError, match="unknown setting 'timout' \\(did you mean 'timeout'\\?\\)"
    ):
        chatport.Client(timout=5)
    with pytest.raises(ConfigError, match="timeout: expected a positive number"):
        chatport.Client(timeout=0)
    client = chatport.Client(backend="fake", timeout=5, max_retries=0)
    assert (client.config.backend, client.config.timeout, client.config.max_retries) == (
        "fake",
        5.0,
        0,
    )


def test_backend_options_are_checked_against_the_backend(workdir: Path) -> None:
    write(workdir / "chatport.toml", "[backends.fake]\nspeed = 3\n")
    with pytest.raises(ConfigError, match=r"backends\.fake\.speed: unknown option 'speed'") as info:
        chatport.Client(backend="fake")  # when the Client is built, not at the first call
    assert info.value.path == str(workdir / "chatport.toml")


def test_swapping_backend_in_the_file_changes_the_backend(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(workdir / "chatport.toml", 'backend = "fake"\nmodel = "file-model"\n')
    completion = chatport.complete("hello")
    assert (completion.backend, completion.model) == ("fake", "file-model")
    monkeypatch.setenv("CHATPORT_BACKEND", "nope")
    with pytest.raises(chatport.BackendNotFoundError, match="'nope'"):
        chatport.complete("hello")
