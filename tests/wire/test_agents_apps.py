"""Agents on Databricks Apps (``model="apps/<app name>"``) through the ``responses`` backend.

Over real HTTP against the local workspace: the app's URL is looked up once with
``GET /api/2.0/apps/{name}``, the Responses call goes to ``{url}/responses`` with an
OAuth (M2M) token from databricks-sdk's unified auth, and the answer is the same
``Completion`` as the same ResponsesAgent served on Model Serving. Personal access
tokens, unknown apps, other backends and hostile names are refused clearly.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

import chatport
from chatport import Completion
from chatport._wire.apps import checked_app_url
from chatport.backends.base import BackendSettings
from chatport.local import Endpoint, Fault, LocalWorkspace

from ..backends import BUILT_IN

MODES = ["sync", "async", "stream", "astream"]
CLIENT_ID, CLIENT_SECRET = "apps-caller", "apps-caller-secret"
APP, ENDPOINT = "support-agent", "support-agent-ep"
QUESTION = "where is my order"
LOOKUP = f"/api/2.0/apps/{APP}"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    return {
        "endpoints": [Endpoint(ENDPOINT, "responses-agent")],
        "oauth_clients": {CLIENT_ID: CLIENT_SECRET},
    }


@pytest.fixture
def workspace(module_workspace: LocalWorkspace) -> LocalWorkspace:
    module_workspace.add_app(APP)  # replaced each test: no faults left over
    return module_workspace


@pytest.fixture
def oauth(workspace: LocalWorkspace, monkeypatch: pytest.MonkeyPatch) -> LocalWorkspace:
    """OAuth M2M in the environment, as a service principal signs in (no PAT)."""
    monkeypatch.delenv("DATABRICKS_TOKEN")
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET)
    return workspace


def run(client: chatport.Client, mode: str, model: str, **params: Any) -> Completion:
    if mode == "sync":
        return client.complete(QUESTION, model=model, **params)
    if mode == "async":
        return asyncio.run(client.acomplete(QUESTION, model=model, **params))
    if mode == "stream":
        return chatport.collect(client.stream(QUESTION, model=model, **params))

    async def collect() -> Completion:
        return chatport.collect([c async for c in client.astream(QUESTION, model=model, **params)])

    return asyncio.run(collect())


def comparable(completion: Completion) -> Completion:
    return dataclasses.replace(completion, backend=None, raw=None, latency_s=None)


def paths(workspace: LocalWorkspace, method: str) -> list[str]:
    return [r.path for r in workspace.requests if r.method == method]


def client() -> chatport.Client:
    return chatport.Client(backend="responses", config={}, max_retries=0, timeout=30)


@pytest.mark.parametrize("mode", MODES)
def test_an_app_answers_like_the_same_agent_on_model_serving(
    oauth: LocalWorkspace, mode: str
) -> None:
    with client() as c:
        served = run(c, mode, ENDPOINT)
        oauth.clear_requests()
        on_app = run(c, mode, f"apps/{APP}")
    assert on_app.text == QUESTION
    assert comparable(on_app) == comparable(served)
    posts = [r for r in oauth.requests if r.method == "POST"]
    assert [(r.path, r.status) for r in posts] == [(f"/apps/{APP}/responses", 200)]
    assert posts[0].body["model"] == f"apps/{APP}"  # as Databricks' client sends it
    assert posts[0].body["input"][-1] == {"role": "user", "content": QUESTION}
    assert posts[0].headers["authorization"].startswith("Bearer ")  # masked in the log
    assert (posts[0].body.get("stream") is True) == mode.endswith("stream")


def test_the_app_url_is_looked_up_once_per_client(oauth: LocalWorkspace) -> None:
    with client() as c:
        for mode in MODES:
            assert run(c, mode, f"apps/{APP}").text == QUESTION
    assert paths(oauth, "GET").count(LOOKUP) == 1
    assert paths(oauth, "POST").count(f"/apps/{APP}/responses") == 4


def test_custom_inputs_reach_the_app_and_custom_outputs_are_in_raw(oauth: LocalWorkspace) -> None:
    with client() as c:
        result = c.complete(QUESTION, model=f"apps/{APP}", extra={"custom_inputs": {"u": "ada"}})
    sent = [r for r in oauth.requests if r.method == "POST"][-1].body
    assert sent["custom_inputs"] == {"u": "ada"}
    raw = dict(result.raw)
    assert raw["custom_outputs"] == {"agent": APP, "custom_inputs": {"u": "ada"}}
    types = [item["type"] for item in raw["output"]]
    assert types == ["function_call", "function_call_output", "message"]
    assert result.tool_calls == ()  # the agent ran its tool itself


def test_a_pat_from_databricks_sdk_is_refused_before_sending(workspace: LocalWorkspace) -> None:
    from databricks.sdk import WorkspaceClient

    token = workspace.token
    assert token is not None
    w = WorkspaceClient(host=workspace.url, token=token)
    with (
        chatport.Client(backend="responses", workspace_client=w, max_retries=0) as c,
        pytest.raises(chatport.AuthenticationError, match="OAuth token") as caught,
    ):
        c.complete(QUESTION, model=f"apps/{APP}")
    assert token not in str(caught.value)
    assert "query-agent" in str(caught.value)  # the documentation's link
    assert LOOKUP not in paths(workspace, "GET")  # (databricks-sdk read host metadata)
    assert paths(workspace, "POST") == []


def test_a_bearer_token_the_app_refuses_gets_the_oauth_hint(workspace: LocalWorkspace) -> None:
    """A token string may be an OAuth token, so it is sent; the app's 401 says why."""
    token = workspace.token
    assert token is not None
    with (
        client() as c,
        pytest.raises(chatport.AuthenticationError, match="take a Databricks OAuth") as caught,
    ):
        c.complete(QUESTION, model=f"apps/{APP}")
    assert caught.value.status_code == 401
    assert token not in str(caught.value)
    assert "personal access token" in str(caught.value)


def test_an_unknown_app_is_not_found(oauth: LocalWorkspace) -> None:
    with (
        client() as c,
        pytest.raises(chatport.NotFoundError, match="no Databricks App named 'nope'") as caught,
    ):
        c.complete(QUESTION, model="apps/nope")
    assert caught.value.status_code == 404
    assert "RESOURCE_DOES_NOT_EXIST" in str(caught.value)
    assert not any(path.startswith("/apps/") for path in paths(oauth, "POST"))


def test_an_app_without_a_url_is_not_found(oauth: LocalWorkspace) -> None:
    oauth.add_app("draft-agent", deployed=False)
    with client() as c, pytest.raises(chatport.NotFoundError, match="has no URL"):
        asyncio.run(c.acomplete(QUESTION, model="apps/draft-agent"))


@pytest.mark.parametrize(
    ("status", "error", "hint"),
    [
        (403, chatport.PermissionDeniedError, "CAN_USE permission on Databricks App"),
        (404, chatport.NotFoundError, "may not serve the Responses API"),
        (405, chatport.APIError, "may not serve the Responses API"),
    ],
)
@pytest.mark.parametrize("mode", ["sync", "astream"])
def test_an_apps_refusal_keeps_its_class_and_gets_a_hint(
    oauth: LocalWorkspace, status: int, error: type[Exception], hint: str, mode: str
) -> None:
    oauth.add_app(APP).faults.append(Fault.error(status))
    with client() as c, pytest.raises(error, match=hint) as caught:
        run(c, mode, f"apps/{APP}")
    assert getattr(caught.value, "status_code", None) == status


@pytest.mark.parametrize("backend", [b for b in BUILT_IN if b != "responses"])
@pytest.mark.parametrize("mode", MODES)
def test_other_backends_refuse_apps_before_sending(
    workspace: LocalWorkspace, backend: str, mode: str
) -> None:
    with (
        chatport.Client(backend=backend, config={}, max_retries=0) as c,
        pytest.raises(chatport.UnsupportedFeatureError, match="Databricks Apps") as caught,
    ):
        run(c, mode, f"apps/{APP}")
    assert caught.value.supported_by == ("responses",)
    assert workspace.requests == []


@pytest.mark.parametrize(
    "model",
    ["apps/../x", "apps/a/b", "apps/", "apps/%2e", "apps/.", "apps/..", "apps/a?b", "apps/a b"],
)
def test_hostile_app_names_are_refused_before_sending(
    workspace: LocalWorkspace, model: str
) -> None:
    with (
        client() as c,
        pytest.raises(chatport.InvalidRequestError, match="not a valid app name") as caught,
    ):
        c.complete(QUESTION, model=model)
    assert caught.value.field == "model"
    assert workspace.requests == []


def test_an_endpoint_name_with_a_slash_is_still_refused(workspace: LocalWorkspace) -> None:
    with (
        client() as c,
        pytest.raises(chatport.InvalidRequestError, match="not a valid endpoint name"),
    ):
        c.complete(QUESTION, model="serving/x")
    assert workspace.requests == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://apps.example.com", "plain http"),
        ("ftp://apps.example.com", "scheme"),
        ("https://user:pw@apps.example.com", "user info"),
    ],
)
def test_an_app_url_a_credential_must_not_go_to_is_refused(url: str, reason: str) -> None:
    """The lookup's answer is checked as any URL a credential is sent to."""
    settings = BackendSettings(name="responses", host="https://ws.example.com")
    with pytest.raises(chatport.ResponseFormatError, match=reason):
        checked_app_url({"name": "odd", "url": url}, "odd", settings, "responses")
    assert checked_app_url({"url": "https://a.example.com/"}, "a", settings, "responses") == (
        "https://a.example.com"
    )
