"""Tokens stay out of config output, error messages and traceback frame locals."""

from __future__ import annotations

import socket
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import chatport
from chatport import ChatportError, ConfigError
from chatport._auth import resolve_workspace
from chatport._config import load_config
from chatport.cli import cli
from chatport.local import Fault, LocalWorkspace

from ..backends import BUILT_IN

CANARY = "dapi-frames-canary-5f3c2a9e8d7b6a1c"
BACKENDS = BUILT_IN
MODEL = "databricks-claude-sonnet-4-5"


def _frames(exc: BaseException) -> Iterator[types.FrameType]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _leaks(exc: BaseException) -> list[str]:
    found = []
    for frame in _frames(exc):
        for name, value in frame.f_locals.items():
            try:
                text = repr(value)
            except Exception:  # a half-built object: nothing to show
                continue
            if CANARY in text:
                found.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}:{name}")
    return found


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("failure", ["http-500", "refused"])
def test_no_token_in_traceback_locals(
    backend: str, stream: bool, failure: str, monkeypatch: pytest.MonkeyPatch, workdir: object
) -> None:
    with LocalWorkspace(token=CANARY) as ws:
        host = ws.url if failure == "http-500" else f"http://127.0.0.1:{_closed_port()}"
        monkeypatch.setenv("DATABRICKS_HOST", host)
        monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
        ws.set_faults(MODEL, Fault.error(500))
        with chatport.Client(backend, timeout=5, max_retries=0) as client:
            try:
                if stream:
                    list(client.stream("hi", model=MODEL))
                else:
                    client.complete("hi", model=MODEL)
            except ChatportError as exc:
                error: ChatportError = exc
            else:
                pytest.fail("the call should have failed")
    assert list(_frames(error))  # there really were frames to look at
    assert _leaks(error) == []


PASTED = "dapi0123456789abcdef0123456789abcdef"
RANDOM = "Zq8vN3kR7tW1yB5mX2cL9pD4fH6jG0sA"


@pytest.mark.parametrize("value", [PASTED, RANDOM, f"Bearer {PASTED}", "not a name!"])
def test_token_env_holding_a_token_is_refused_without_echo(workdir: Path, value: str) -> None:
    (workdir / "chatport.toml").write_text(f'token_env = "{value}"\n')
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "token_env" in str(info.value)
    assert value not in str(info.value)
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code != 0
    assert value not in result.output
    assert "environment variable" in result.output


def test_token_env_with_a_variable_name_still_works(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "chatport.toml").write_text('token_env = "MY_DATABRICKS_TOKEN"\n')
    monkeypatch.setenv("MY_DATABRICKS_TOKEN", CANARY)
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code == 0, result.output
    assert "MY_DATABRICKS_TOKEN" in result.output
    assert CANARY not in result.output


@pytest.mark.parametrize("args", [["config"], ["config", "--json"]])
def test_config_masks_user_info_in_hosts(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    (workdir / "chatport.toml").write_text(
        f'host = "https://token:{CANARY}@adb-1.azuredatabricks.net"\n'
        f"[backends.rest]\nmax_connections = 4\n"
    )
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert CANARY not in result.output
    assert "adb-1.azuredatabricks.net" in result.output
    monkeypatch.setenv("DATABRICKS_HOST", f"https://{CANARY}@adb-2.azuredatabricks.net")
    result = CliRunner().invoke(cli, args)
    assert CANARY not in result.output
    assert "adb-2.azuredatabricks.net" in result.output
    assert CANARY not in repr(resolve_workspace(load_config()))


@pytest.mark.parametrize("secret", [PASTED, RANDOM, "sk-proj-" + RANDOM])
@pytest.mark.parametrize(
    "key", ["timeout", "max_retries", "allow_insecure_http", "fallbacks", "retry_on_timeout"]
)
def test_secret_looking_values_are_not_echoed(workdir: Path, key: str, secret: str) -> None:
    (workdir / "chatport.toml").write_text(f'{key} = "{secret}"\n')
    with pytest.raises(ConfigError) as info:
        load_config()
    assert key in str(info.value)
    assert secret not in str(info.value)
    with pytest.raises(ConfigError) as info:
        chatport.Client(**{key: secret})
    assert secret not in str(info.value)
    result = CliRunner().invoke(cli, ["config"])
    assert secret not in result.output


def test_unknown_profile_that_looks_like_a_token_is_not_echoed(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATPORT_PROFILE", PASTED)
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "profile" in str(info.value)
    assert PASTED not in str(info.value)


def test_plain_values_are_still_shown(workdir: Path) -> None:
    (workdir / "chatport.toml").write_text('timeout = "soon"\n')
    with pytest.raises(ConfigError, match="'soon'"):
        load_config()
