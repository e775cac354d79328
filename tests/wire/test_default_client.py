"""The module-level calls follow the effective workspace, not the first one they saw."""

from __future__ import annotations

import pytest

import chatport
from chatport import _api
from chatport.local import LocalWorkspace

from ..backends import BUILT_IN

BACKENDS = BUILT_IN


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_workspaces_one_after_the_other(
    monkeypatch: pytest.MonkeyPatch, workdir: object, backend: str
) -> None:
    for turn in ("first", "second"):
        with LocalWorkspace() as ws:
            for key, value in ws.environ().items():
                monkeypatch.setenv(key, value)
            answer = chatport.complete(
                f"{turn} workspace", backend=backend, model="databricks-gpt-5"
            )
            assert answer.text == f"{turn} workspace"
            assert [r.path for r in ws.requests if r.method == "POST"]  # this server answered


def test_a_new_token_is_a_new_client_and_the_key_holds_no_token(
    monkeypatch: pytest.MonkeyPatch, workdir: object
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", "https://adb-1.azuredatabricks.net")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-first-token-value")
    first = _api.default_client()
    assert _api.default_client() is first
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-second-token-value")
    second = _api.default_client()
    assert second is not first
    assert not any("token-value" in str(part) for key in _api._clients for part in key)


def test_old_default_clients_are_closed(monkeypatch: pytest.MonkeyPatch, workdir: object) -> None:
    made = []
    for index in range(_api._KEEP + 2):
        monkeypatch.setenv("CHATPORT_MODEL", f"model-{index}")
        made.append(_api.default_client())
    assert len(_api._clients) <= _api._KEEP
    with pytest.raises(chatport.ChatportError, match="closed"):
        made[0].backend("rest")
    assert made[-1].backend("rest") is not None


def test_every_variable_that_shapes_the_client_changes_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (*_api._PLAIN_KEYS, *_api._SECRET_KEYS):
        monkeypatch.delenv(name, raising=False)
    unset = _api._environment_key()
    assert _api._environment_key() == unset
    for name in (*_api._PLAIN_KEYS, *_api._SECRET_KEYS):
        monkeypatch.setenv(name, "dapi-some-value")
        changed = _api._environment_key()
        assert changed != unset, name
        assert "dapi-some-value" not in repr(changed) or name in _api._PLAIN_KEYS
        monkeypatch.delenv(name)
        assert _api._environment_key() == unset, name
