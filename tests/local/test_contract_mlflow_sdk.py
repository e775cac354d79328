"""Contract: unmodified mlflow deployments and databricks-sdk clients against the local workspace."""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.serving import ChatMessage, ChatMessageRole
from mlflow.deployments import get_deploy_client

from chatport.local import LocalWorkspace

from .conftest import OAUTH_CLIENT

MODEL = "databricks-meta-llama-3-3-70b-instruct"


def test_mlflow_predict(ws: LocalWorkspace) -> None:
    client = get_deploy_client("databricks")
    result = client.predict(
        endpoint=MODEL,
        inputs={
            "messages": [{"role": "user", "content": "hello mlflow"}],
            "max_tokens": 16,
            "top_k": 5,
        },
    )
    assert result["choices"][0]["message"]["content"] == "hello mlflow"
    assert result["usage"]["total_tokens"] == 4
    posted = [r for r in ws.requests if r.method == "POST"]
    assert posted[-1].path == f"/serving-endpoints/{MODEL}/invocations"
    assert posted[-1].headers["x-databricks-endpoints-api-client"] == "Databricks Deployment Client"


def test_mlflow_predict_stream(ws: LocalWorkspace) -> None:
    client = get_deploy_client("databricks")
    chunks = list(
        client.predict_stream(
            endpoint=MODEL, inputs={"messages": [{"role": "user", "content": "a b c"}]}
        )
    )
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )
    assert text == "a b c"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_mlflow_list_and_get(ws: LocalWorkspace) -> None:
    client = get_deploy_client("databricks")
    names = {e["name"] for e in client.list_endpoints()}
    assert {"databricks-claude-sonnet-4-5", "databricks-gpt-5", MODEL} <= names
    endpoint = client.get_endpoint(MODEL)
    assert endpoint["task"] == "llm/v1/chat"
    assert "/api/2.0/serving-endpoints/" in {r.path for r in ws.requests}


def sdk_pat(ws: LocalWorkspace) -> WorkspaceClient:
    return WorkspaceClient(host=ws.url, token=ws.token, auth_type="pat")


def sdk_oauth(ws: LocalWorkspace) -> WorkspaceClient:
    return WorkspaceClient(
        host=ws.url, client_id=OAUTH_CLIENT[0], client_secret=OAUTH_CLIENT[1], auth_type="oauth-m2m"
    )


@pytest.mark.parametrize("make", [sdk_pat, sdk_oauth], ids=["pat", "oauth-m2m"])
def test_sdk_query_list_get(ws: LocalWorkspace, make: object) -> None:
    w = make(ws)  # type: ignore[operator]
    response = w.serving_endpoints.query(
        name=MODEL,
        messages=[ChatMessage(role=ChatMessageRole.USER, content="hello sdk")],
        max_tokens=16,
        extra_params={"top_p": "0.9"},
    )
    assert response.choices[0].message.content == "hello sdk"
    assert response.usage.total_tokens == 4
    assert response.served_model_name == MODEL
    assert MODEL in {e.name for e in w.serving_endpoints.list()}
    assert w.serving_endpoints.get(MODEL).task == "llm/v1/chat"
    query = next(r for r in ws.requests if r.path.endswith("/invocations"))
    assert query.body["extra_params"] == {"top_p": "0.9"}
    if make is sdk_oauth:
        assert "/oidc/v1/token" in {r.path for r in ws.requests}
        assert query.headers["authorization"] == "Bearer ****"


def test_sdk_basic_token_auth(ws: LocalWorkspace) -> None:
    w = WorkspaceClient(host=ws.url, username="token", password=ws.token, auth_type="basic")
    assert MODEL in {e.name for e in w.serving_endpoints.list()}
    assert ws.requests[-1].headers["authorization"] == "Basic ****"
