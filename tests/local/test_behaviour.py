"""The local workspace's own behaviour on the wire: strictness, models, log, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatport import ConfigError
from chatport.local import DEFAULT_ENDPOINTS, Endpoint, Fault, LocalWorkspace, LocalWorkspaceError


def post(ws: LocalWorkspace, name: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{ws.url}/serving-endpoints/{name}/invocations",
        json=body,
        headers={"Authorization": f"Bearer {ws.token}"},
        timeout=10,
    )


USER = {"role": "user", "content": "alpha beta gamma"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"messages": [{**USER, "reasoning_content": "x"}]},
            "messages.0.reasoning_content: Extra inputs are not permitted",
        ),
        (
            {"messages": [{**USER, "thinking_blocks": []}]},
            "messages.0.thinking_blocks: Extra inputs are not permitted",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
            "text content blocks must be non-empty",
        ),
        ({"messages": []}, "at least one message"),
        ({"messages": [USER], "max_tokens": 0}, "max_tokens"),
        ({"messages": [USER], "surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
        (
            {"messages": [{"role": "user", "content": [{"type": "reasoning", "summary": []}]}]},
            "only allowed on assistant",
        ),
    ],
)
def test_strict_input(ws: LocalWorkspace, body: dict[str, Any], fragment: str) -> None:
    response = post(ws, "databricks-gpt-5", body)
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert fragment in response.json()["message"]


def test_malformed_json(ws: LocalWorkspace) -> None:
    response = httpx.post(
        f"{ws.url}/serving-endpoints/databricks-gpt-5/invocations",
        content=b"{not json",
        headers={"Authorization": f"Bearer {ws.token}"},
    )
    assert (response.status_code, response.json()["error_code"]) == (400, "BAD_REQUEST")


def test_extra_params_are_merged_and_coerced(ws: LocalWorkspace) -> None:
    response = post(
        ws,
        "databricks-gpt-5",
        {"messages": [USER], "extra_params": {"max_tokens": "2", "top_k": "5"}},
    )
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "alpha beta"
    assert body["choices"][0]["finish_reason"] == "length"


def test_max_tokens_and_n(ws: LocalWorkspace) -> None:
    body = post(ws, "databricks-gpt-5", {"messages": [USER], "max_tokens": 1, "n": 2}).json()
    assert [c["message"]["content"] for c in body["choices"]] == ["alpha", "alpha"]
    assert [c["finish_reason"] for c in body["choices"]] == ["length", "length"]
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_reasoning_replay_round_trip(ws: LocalWorkspace) -> None:
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2000}
    first = post(ws, "databricks-claude-3-7-sonnet", {"messages": [USER], **thinking}).json()
    assistant = first["choices"][0]["message"]
    assert assistant["content"][0]["summary"][0]["signature"]
    follow = {"messages": [USER, assistant, {"role": "user", "content": "and then"}], **thinking}
    second = post(ws, "databricks-claude-3-7-sonnet", follow)
    assert second.status_code == 200
    assert second.json()["choices"][0]["message"]["content"][1]["text"] == "and then"


def test_tool_result_turn(ws: LocalWorkspace) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    first = post(ws, "databricks-gpt-5", {"messages": [USER], "tools": tools}).json()
    message = first["choices"][0]["message"]
    assert message["content"] is None
    call_id = message["tool_calls"][0]["id"]
    result = {"role": "tool", "tool_call_id": call_id, "content": "42"}
    second = post(
        ws, "databricks-gpt-5", {"messages": [USER, message, result], "tools": tools}
    ).json()
    assert second["choices"][0]["message"]["content"] == "The tool returned: 42"
    assert second["choices"][0]["finish_reason"] == "stop"


def test_bare_endpoint_omits_usage_and_id(ws: LocalWorkspace) -> None:
    body = post(ws, "local-bare", {"messages": [USER]}).json()
    assert body["id"] is None
    assert "usage" not in body
    stream = post(ws, "local-bare", {"messages": [USER], "stream": True}).text
    chunks = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: {")]
    assert all("usage" not in chunk and chunk["id"] is None for chunk in chunks)


def test_scripted_rules_then_queue(ws: LocalWorkspace) -> None:
    endpoint = ws.add_endpoint("script-x", "scripted", rules=[(r"weather", "Sunny.")])
    endpoint.enqueue("first", "second")
    replies = [
        post(ws, "script-x", {"messages": [{"role": "user", "content": q}]}).json()["choices"][0][
            "message"
        ]["content"]
        for q in ("hello", "what weather?", "again", "more")
    ]
    assert replies == ["first", "Sunny.", "second", "OK"]


def test_stream_format(ws: LocalWorkspace) -> None:
    body = {"messages": [USER], "stream": True, "stream_options": {"include_usage": True}}
    text = post(ws, "databricks-gpt-5", body).text
    lines = [line for line in text.split("\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    finish, last = (json.loads(line[6:]) for line in lines[-3:-1])
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert (last["choices"], last["usage"]["total_tokens"]) == ([], 6)


def test_request_log_masks_credentials_and_writes_jsonl(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    with LocalWorkspace(log_path=log, log_bodies=True) as ws:
        post(ws, "databricks-gpt-5", {"messages": [USER]})
        (entry,) = ws.requests
    assert entry.headers["authorization"] == "Bearer ****"
    assert entry.body == {"messages": [USER]}
    assert entry.status == 200
    assert ws.token is not None
    assert ws.token not in log.read_text()
    written = json.loads(log.read_text())
    assert written["path"] == "/serving-endpoints/databricks-gpt-5/invocations"
    assert written["body"] == {"messages": [USER]}


def test_request_log_keeps_no_body_unless_asked(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    raw = json.dumps({"messages": [USER]}).encode()
    with LocalWorkspace(log_path=log) as ws:
        sent = httpx.post(
            f"{ws.url}/serving-endpoints/databricks-gpt-5/invocations",
            content=raw,
            headers={"Authorization": f"Bearer {ws.token}", "Content-Type": "application/json"},
        )
        (entry,) = ws.requests
    assert (entry.body, entry.status) == (None, 200)
    assert (entry.size, entry.answer_size) == (len(raw), len(sent.content))
    assert json.loads(log.read_text())["body"] == {"messages": [USER]}  # the file has it


def test_default_endpoints_listed(ws: LocalWorkspace) -> None:
    response = httpx.get(
        f"{ws.url}/api/2.0/serving-endpoints", headers={"Authorization": f"Bearer {ws.token}"}
    )
    listed = {e["name"]: e for e in response.json()["endpoints"]}
    assert set(DEFAULT_ENDPOINTS) <= set(listed)
    assert {e["task"] for e in listed.values()} == {"llm/v1/chat"}


def test_toml_config(tmp_path: Path) -> None:
    path = tmp_path / "local.toml"
    path.write_text(
        'token = "dapi-from-file"\ndefault_endpoints = false\n\n[endpoints.only]\nmodel = "scripted"\n'
        'replies = ["from the file"]\n\n[[endpoints.only.faults]]\nstatus = 429\ntimes = 1\n'
    )
    with LocalWorkspace(config=path) as ws:
        assert ws.token == "dapi-from-file"
        assert [e.name for e in ws.endpoints] == ["only"]
        assert post(ws, "only", {"messages": [USER]}).status_code == 429
        assert (
            post(ws, "only", {"messages": [USER]}).json()["choices"][0]["message"]["content"]
            == "from the file"
        )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[endpoints.x]\nmodel = "gpt"\n', "unknown model 'gpt'"),
        ('[endpoints.x]\nmodle = "echo"\n', "unknown key 'modle'"),
        ("tokn = 1\n", "unknown key 'tokn'"),
        ("[[endpoints.x.faults]]\nstatuss = 1\n", "unknown fault key 'statuss'"),
    ],
)
def test_bad_toml_config(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "local.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        LocalWorkspace(config=path)


def test_loopback_only_and_port_in_use() -> None:
    with pytest.raises(LocalWorkspaceError, match="loopback addresses only"):
        LocalWorkspace(host="0.0.0.0")
    with (
        LocalWorkspace() as first,
        pytest.raises(LocalWorkspaceError, match=f"cannot listen on 127.0.0.1:{first.port}"),
    ):
        LocalWorkspace(port=first.port).start()


def test_auth_off(tmp_path: Path) -> None:
    with LocalWorkspace([Endpoint("open", "echo")], token=None, oauth_clients={}) as ws:
        assert ws.environ() == {"DATABRICKS_HOST": ws.url}
        response = httpx.post(
            f"{ws.url}/serving-endpoints/open/invocations", json={"messages": [USER]}
        )
        assert response.status_code == 200


def test_oauth_tokens_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalWorkspace(token_lifetime=2.0, oauth_clients={"cid": "secret"}) as ws:
        issued = httpx.post(
            f"{ws.url}/oidc/v1/token",
            data={"grant_type": "client_credentials", "scope": "all-apis"},
            auth=("cid", "secret"),
        ).json()
        assert issued["token_type"] == "Bearer"
        headers = {"Authorization": f"Bearer {issued['access_token']}"}
        assert httpx.get(f"{ws.url}/api/2.0/serving-endpoints", headers=headers).status_code == 200
        import time

        deadline = time.monotonic() + 10
        expired = httpx.get(f"{ws.url}/api/2.0/serving-endpoints", headers=headers)
        while expired.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)  # wait for the expiry itself, however slow the machine
            expired = httpx.get(f"{ws.url}/api/2.0/serving-endpoints", headers=headers)
        assert (expired.status_code, expired.json()["error_code"]) == (403, 403)
        bad = httpx.post(
            f"{ws.url}/oidc/v1/token",
            data={"grant_type": "client_credentials"},
            auth=("cid", "wrong"),
        )
        assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")


def test_faults_apply_per_endpoint(ws: LocalWorkspace) -> None:
    ws.set_faults("databricks-gpt-5", Fault.error(500, times=2))
    assert [post(ws, "databricks-gpt-5", {"messages": [USER]}).status_code for _ in range(3)] == [
        500,
        500,
        200,
    ]
    assert post(ws, "databricks-claude-sonnet-4-5", {"messages": [USER]}).status_code == 200
