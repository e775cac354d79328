"""The error tree matches the public contract exactly."""

from __future__ import annotations

import pytest

import chatport
from chatport import _errors

from ..backends import CHAT

TREE = {
    "ChatportError": Exception,
    "ConfigError": chatport.ChatportError,
    "BackendNotFoundError": chatport.ChatportError,
    "UnsupportedFeatureError": chatport.ChatportError,
    "InvalidRequestError": chatport.ChatportError,
    "APIError": chatport.ChatportError,
    "BadRequestError": chatport.APIError,
    "AuthenticationError": chatport.APIError,
    "PermissionDeniedError": chatport.APIError,
    "NotFoundError": chatport.APIError,
    "RateLimitError": chatport.APIError,
    "ServerError": chatport.APIError,
    "APITimeoutError": chatport.APIError,
    "APIConnectionError": chatport.APIError,
    "ResponseFormatError": chatport.APIError,
    "GuardrailError": chatport.BadRequestError,
    "BudgetExceededError": chatport.PermissionDeniedError,
}


@pytest.mark.parametrize(("name", "parent"), TREE.items())
def test_tree(name: str, parent: type[Exception]) -> None:
    cls = getattr(chatport, name)
    assert cls.__bases__[0] is parent
    assert name in (_errors.__doc__ or "")


def test_every_error_class_is_in_the_tree() -> None:
    exported = {
        name
        for name in chatport.__all__
        if isinstance(getattr(chatport, name), type)
        and issubclass(getattr(chatport, name), chatport.ChatportError)
    }
    assert exported == set(TREE)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, chatport.BadRequestError),
        (401, chatport.AuthenticationError),
        (403, chatport.PermissionDeniedError),
        (404, chatport.NotFoundError),
        (429, chatport.RateLimitError),
        (500, chatport.ServerError),
        (503, chatport.ServerError),
        (409, chatport.APIError),
    ],
)
def test_error_for_status(status: int, cls: type[chatport.APIError]) -> None:
    assert _errors.error_for_status(status) is cls


def _raise_rate_limit(cause: Exception) -> None:
    try:
        raise cause
    except OSError as exc:
        raise chatport.RateLimitError(
            "slow down", status_code=429, backend="rest", request_id="r-1", retry_after=2.0
        ) from exc


def test_api_error_attributes_and_str() -> None:
    cause = OSError("socket closed")
    with pytest.raises(chatport.RateLimitError) as info:
        _raise_rate_limit(cause)
    error = info.value
    assert error.retry_after == 2.0
    assert error.status_code == 429
    assert error.__cause__ is cause
    assert str(error) == "slow down (backend=rest, status=429, request_id=r-1)"


def test_backend_not_found_lists_installed() -> None:
    error = chatport.BackendNotFoundError("nope", ["b", "a"])
    assert str(error) == "unknown backend 'nope'; installed backends: a, b"


def test_config_error_names_file_and_key() -> None:
    error = chatport.ConfigError("bad", path="/x/chatport.toml", key="timeout")
    assert str(error) == "/x/chatport.toml: bad"
    assert error.key == "timeout"


@pytest.mark.parametrize("backend", CHAT)
@pytest.mark.parametrize("stream", [False, True])
def test_a_timeout_names_the_timeout_the_user_set(
    backend: str, stream: bool, monkeypatch: pytest.MonkeyPatch, sdks_imported: None
) -> None:
    """Not an internal remainder ("0.4 s deadline"): the ``timeout`` the user wrote."""
    from chatport.local import Fault, LocalWorkspace

    with LocalWorkspace() as ws:
        for key, value in ws.environ().items():
            monkeypatch.setenv(key, value)
        ws.set_faults("databricks-gpt-5", Fault.slow(3.0))
        with chatport.Client(backend=backend, timeout=1.5, max_retries=0, config={}) as client:

            def call() -> object:
                if stream:
                    return list(client.stream("hello", model="databricks-gpt-5"))
                return client.complete("hello", model="databricks-gpt-5")

            with pytest.raises(chatport.APITimeoutError) as info:
                call()
    assert "timeout = 1.5 s" in str(info.value)
