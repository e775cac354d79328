"""Every injected fault, as each real client sees it (docs/wire-facts.md#errors-per-client).

Retry loops are bounded: openai ``max_retries=0``, databricks-sdk
``retry_timeout_seconds=4`` and mlflow ``MLFLOW_DEPLOYMENT_PREDICT_TOTAL_TIMEOUT=4`` with
``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0`` (4 s: a one-second Retry-After and its retry fit
in it on a busy machine).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.service.serving import ChatMessage, ChatMessageRole
from mlflow.deployments import get_deploy_client

from chatport.local import Fault, LocalWorkspace

MODEL = "databricks-gpt-5"
MESSAGES = [{"role": "user", "content": "hi there"}]
Outcome = tuple[str, Any]


@pytest.fixture
def env(ws: LocalWorkspace, monkeypatch: pytest.MonkeyPatch) -> LocalWorkspace:
    """``ws`` (the environment points at it), with mlflow's retries and waits bounded."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_DEPLOYMENT_PREDICT_TOTAL_TIMEOUT", "4")
    monkeypatch.setenv("MLFLOW_DEPLOYMENT_PREDICT_TIMEOUT", "2")
    return ws


def request_info(request_id: str) -> dict[str, str]:
    """The ``RequestInfo`` detail of a Databricks error body (docs/wire-facts.md#error-bodies)."""
    assert request_id
    return {
        "@type": "type.googleapis.com/google.rpc.RequestInfo",
        "request_id": request_id,
        "serving_data": "",
    }


def outcome(call: Callable[[], Any]) -> Outcome:
    """("ok", result) or (exception class name, HTTP status if the client kept it)."""
    try:
        return ("ok", call())
    except Exception as exc:
        status = getattr(exc, "status_code", None)
        response = getattr(exc, "response", None)
        if status is None and isinstance(response, requests.Response):
            status = response.status_code
        return (type(exc).__name__, status)


def via_openai(ws: LocalWorkspace, stream: bool = False, token: str | None = None) -> Outcome:
    client = openai.OpenAI(
        api_key=token or ws.token, base_url=ws.url + "/serving-endpoints", max_retries=0, timeout=10
    )
    if stream:
        return outcome(
            lambda: "".join(
                c.choices[0].delta.content or ""
                for c in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
                if c.choices
            )
        )  # type: ignore[arg-type]
    return outcome(
        lambda: (
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
            .choices[0]
            .message.content
        )
    )  # type: ignore[arg-type]


def via_sdk(ws: LocalWorkspace, token: str | None = None) -> Outcome:
    w = WorkspaceClient(
        config=Config(
            host=ws.url, token=token or ws.token, auth_type="pat", retry_timeout_seconds=4
        )
    )
    message = ChatMessage(role=ChatMessageRole.USER, content="hi there")
    return outcome(
        lambda: w.serving_endpoints.query(name=MODEL, messages=[message]).choices[0].message.content
    )


def via_mlflow(ws: LocalWorkspace, stream: bool = False) -> Outcome:
    client = get_deploy_client("databricks")
    if stream:
        return outcome(
            lambda: "".join(
                c["choices"][0]["delta"].get("content") or ""
                for c in client.predict_stream(endpoint=MODEL, inputs={"messages": MESSAGES})
                if c.get("choices")
            )
        )
    return outcome(
        lambda: client.predict(endpoint=MODEL, inputs={"messages": MESSAGES})["choices"][0][
            "message"
        ]["content"]
    )


# fault -> expected outcome per client: openai, sdk, mlflow
MATRIX: dict[str, tuple[Fault, Outcome, Outcome, Outcome]] = {
    "400": (Fault.error(400), ("BadRequestError", 400), ("BadRequest", None), ("HTTPError", 400)),
    "403-permission": (
        Fault.error(403),
        ("PermissionDeniedError", 403),
        ("PermissionDenied", None),
        ("HTTPError", 403),
    ),
    "404": (
        Fault.error(404),
        ("NotFoundError", 404),
        ("ResourceDoesNotExist", None),
        ("HTTPError", 404),
    ),
    "429-once": (
        Fault.rate_limit(times=1),
        ("RateLimitError", 429),
        ("ok", "hi there"),
        ("ok", "hi there"),
    ),
    "429-always": (
        Fault.rate_limit(),
        ("RateLimitError", 429),
        ("TimeoutError", None),
        ("TimeoutError", None),
    ),
    "500": (
        Fault.error(500),
        ("InternalServerError", 500),
        ("InternalError", None),
        ("HTTPError", 500),
    ),
    "503-always": (
        Fault.error(503),
        ("InternalServerError", 503),
        ("TimeoutError", None),
        ("TimeoutError", None),
    ),
    "504": (
        Fault.error(504),
        ("InternalServerError", 504),
        ("DeadlineExceeded", None),
        ("HTTPError", 504),
    ),
    "garbage": (
        Fault.garbage(),
        ("JSONDecodeError", None),
        ("JSONDecodeError", None),
        ("JSONDecodeError", None),
    ),
}


@pytest.mark.parametrize("name", MATRIX)
def test_fault_matrix(env: LocalWorkspace, name: str) -> None:
    fault, expect_openai, expect_sdk, expect_mlflow = MATRIX[name]
    started = time.monotonic()
    results = []
    for call, expected in (
        (via_openai, expect_openai),
        (via_sdk, expect_sdk),
        (via_mlflow, expect_mlflow),
    ):
        env.set_faults(MODEL, Fault(**{**fault.__dict__, "triggered": 0}))
        results.append((call(env), expected))
    assert [r for r, _ in results] == [e for _, e in results]
    assert time.monotonic() - started < 20  # the bounded retry budgets held
    posted = [r for r in env.requests if r.method == "POST"]
    assert {r.status for r in posted} >= ({200} if "once" in name else set())


def test_errors_have_databricks_bodies_and_retry_after(env: LocalWorkspace) -> None:
    env.set_faults(MODEL, Fault.rate_limit(retry_after=7))
    response = requests.post(
        f"{env.url}/serving-endpoints/{MODEL}/invocations",
        json={"messages": MESSAGES},
        headers={"Authorization": f"Bearer {env.token}"},
        timeout=10,
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    body = response.json()
    assert body["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert body["message"].startswith(
        "REQUEST_LIMIT_EXCEEDED: Exceeded workspace QPS rate limit for databricks-gpt-5"
    )
    env.set_faults(MODEL, Fault.error(503))
    response = requests.post(
        f"{env.url}/serving-endpoints/{MODEL}/invocations",
        json={"messages": MESSAGES},
        headers={"Authorization": f"Bearer {env.token}"},
        timeout=10,
    )
    assert (
        response.status_code,
        response.json()["error_code"],
        response.headers["Retry-After"],
    ) == (503, "TEMPORARILY_UNAVAILABLE", "1")


def test_auth_failures(env: LocalWorkspace, monkeypatch: pytest.MonkeyPatch) -> None:
    assert via_openai(env, token="dapi-wrong") == ("PermissionDeniedError", 403)
    assert via_sdk(env, token="dapi-wrong") == ("PermissionDenied", None)
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-wrong")
    # mlflow loses the integer error_code (docs/wire-facts.md#mlflow-errors)
    assert via_mlflow(env) == ("HTTPError", 500)
    response = requests.get(f"{env.url}/api/2.0/serving-endpoints", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="DatabricksRealm"'
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    response = requests.get(
        f"{env.url}/api/2.0/serving-endpoints", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert (response.status_code, response.json()) == (
        403,
        {
            "error_code": 403,
            "message": "Invalid access token.",
            "details": [request_info(response.headers["x-request-id"])],
        },
    )


def test_wrong_shape_reaches_clients_as_empty_results(env: LocalWorkspace) -> None:
    env.set_faults(MODEL, Fault.wrong_shape())
    client = openai.OpenAI(
        api_key=env.token, base_url=env.url + "/serving-endpoints", max_retries=0
    )
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).choices is None  # type: ignore[arg-type]
    assert get_deploy_client("databricks").predict(
        endpoint=MODEL, inputs={"messages": MESSAGES}
    ) == {"predictions": [], "result": "unexpected"}


def test_dropped_stream(env: LocalWorkspace) -> None:
    env.set_faults(MODEL, Fault.drop_stream(after_chunks=2))
    assert via_openai(env, stream=True) == ("APIConnectionError", None)
    assert via_mlflow(env, stream=True) == ("ChunkedEncodingError", None)
    assert via_openai(env) == ("ok", "hi there")  # a non-streamed call is not affected


def test_latency(env: LocalWorkspace) -> None:
    slow = Fault.slow(1.0, times=1)
    env.set_faults(MODEL, slow)
    client = openai.OpenAI(
        api_key=env.token, base_url=env.url + "/serving-endpoints", max_retries=0, timeout=0.3
    )
    assert (
        outcome(lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES))[0]
        == "APITimeoutError"
    )  # type: ignore[arg-type]
    assert via_openai(env) == ("ok", "hi there")
    assert slow.triggered == 1  # the second call was not slowed


def test_unknown_endpoint_and_path(env: LocalWorkspace) -> None:
    client = openai.OpenAI(
        api_key=env.token, base_url=env.url + "/serving-endpoints", max_retries=0
    )
    assert outcome(
        lambda: client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    ) == ("NotFoundError", 404)  # type: ignore[arg-type]
    response = requests.get(f"{env.url}/api/2.0/nothing-here", timeout=10)
    assert (response.status_code, response.json()) == (
        404,
        {
            "error_code": "ENDPOINT_NOT_FOUND",
            "message": "Invalid path",
            "details": [request_info(response.headers["x-request-id"])],
        },
    )


def test_probabilistic_faults_are_seeded() -> None:
    def outcomes(seed: int) -> list[str]:
        with LocalWorkspace(seed=seed) as ws:
            ws.set_faults(MODEL, Fault.error(503, probability=0.5))
            client = openai.OpenAI(
                api_key=ws.token, base_url=ws.url + "/serving-endpoints", max_retries=0
            )
            return [
                str(
                    outcome(lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES))[
                        0
                    ]
                )
                for _ in range(40)
            ]

    first = outcomes(7)
    assert set(first) == {"ok", "InternalServerError"}  # the fault fires, but not always
    assert outcomes(7) == first  # the same seed repeats the same run
    assert outcomes(8) != first
