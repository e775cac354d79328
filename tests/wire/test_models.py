"""`Client.models()` and `chatport models`: the workspace's serving endpoints, per backend."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import chatport
from chatport import Client, ModelInfo
from chatport.cli import cli
from chatport.local import Endpoint, LocalWorkspace

from ..backends import BUILT_IN

BACKENDS = BUILT_IN
#: Default endpoints whose names say their family (true now and with richer metadata).
FAMILIES = {
    "databricks-claude-sonnet-4-5": "anthropic",
    "databricks-claude-3-7-sonnet": "anthropic",
    "databricks-gpt-5": "openai",
    "databricks-gpt-oss-120b": "openai",
    "databricks-meta-llama-3-3-70b-instruct": "meta",
}
EXTRA = [
    Endpoint("emb", task="llm/v1/embeddings"),
    Endpoint("agent-chat-model", task="agent/v1/chat"),
    Endpoint("agent-chat-agent", task="agent/v2/chat"),
    Endpoint("agent-responses", task="agent/v1/responses"),
    Endpoint("off-gateway", gateway=False),
]
NOT_CHAT = {"emb", "agent-chat-agent", "agent-responses"}
CANARY = "dapi-CANARY-models-51c2e8"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The endpoints this module's shared workspace (chatport.testing) serves."""
    return {"endpoints": EXTRA}


def listing_requests(ws: LocalWorkspace) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in ws.requests if r.path.startswith("/api/2.0/")]


# -- every backend, against the local workspace ------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_models_through_every_backend(module_workspace: LocalWorkspace, backend: str) -> None:
    with Client(backend=backend, config={}, max_retries=0) as client:
        infos = client.models()
    names = [info.name for info in infos]
    assert names == sorted(names)
    assert set(names) >= set(FAMILIES) | {"agent-chat-model"}
    assert not set(names) & NOT_CHAT
    assert all(isinstance(info, ModelInfo) and info.is_chat for info in infos)
    by_name = {info.name: info for info in infos}
    for name, family in FAMILIES.items():
        assert by_name[name].family == family, name
        assert by_name[name].task == "llm/v1/chat"
        assert by_name[name].state == "READY"
        assert by_name[name].model
    assert by_name["databricks-claude-sonnet-4-5"].reasoning == "thinking"
    assert by_name["databricks-gpt-5"].reasoning == "effort"
    assert by_name["databricks-meta-llama-3-3-70b-instruct"].reasoning is None
    # behind AI Gateway: the metadata's ai_gateway configuration says so
    assert all(by_name[name].gateway for name in FAMILIES)
    assert by_name["off-gateway"].gateway is False
    # one listing call, on the backend's own route (mlflow's client adds a slash), sent
    # by its own client (mlflow's goes through databricks-sdk's auth layer)
    path = "/api/2.0/serving-endpoints/" if backend == "mlflow" else "/api/2.0/serving-endpoints"
    assert listing_requests(module_workspace) == [("GET", path)]
    (listed,) = [r for r in module_workspace.requests if r.path.startswith("/api/2.0/")]
    sdk = backend in ("mlflow", "databricks-sdk")
    assert ("databricks-sdk-py/" in listed.headers["user-agent"]) is sdk
    assert listed.headers["authorization"].startswith("Bearer ")
    assert not [r for r in module_workspace.requests if "/invocations" in r.path]


def test_rest_lists_through_its_pooled_client(module_workspace: LocalWorkspace) -> None:
    with Client(backend="rest", config={}) as client:
        client.models()
        pooled = client.backend()._clients.built  # type: ignore[attr-defined]
        assert pooled is not None
        client.models()
        assert client.backend()._clients.built is pooled  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["rest", "mlflow", "databricks-sdk"])
def test_chat_only_false_lists_every_endpoint(
    module_workspace: LocalWorkspace, backend: str
) -> None:
    with Client(backend=backend, config={}) as client:
        every = {info.name: info for info in client.models(chat_only=False)}
    assert set(every) >= set(FAMILIES) | NOT_CHAT | {"agent-chat-model"}
    assert every["emb"].task == "llm/v1/embeddings"
    assert not every["emb"].is_chat
    assert every["agent-chat-agent"].task == "agent/v2/chat"


def test_models_default_backend_comes_from_config(module_workspace: LocalWorkspace) -> None:
    with Client(config={"backend": "mlflow"}) as client:
        assert {info.name for info in client.models()} >= set(FAMILIES)
    assert listing_requests(module_workspace) == [("GET", "/api/2.0/serving-endpoints/")]
    module_workspace.clear_requests()
    with Client(config={"backend": "mlflow"}) as client:
        client.models(backend="rest")
    assert listing_requests(module_workspace) == [("GET", "/api/2.0/serving-endpoints")]


def test_listing_seeds_the_profile_cache(module_workspace: LocalWorkspace) -> None:
    with Client(backend="rest", config={}) as client:
        client.models()
        module_workspace.clear_requests()
        profile = client.backend().profile("databricks-claude-sonnet-4-5")
        assert (profile.family, profile.source) == ("anthropic", "metadata")
        assert module_workspace.requests == []  # no per-endpoint metadata lookup


def test_model_info_to_dict_is_json_ready(module_workspace: LocalWorkspace) -> None:
    with Client(backend="rest", config={}) as client:
        info = next(i for i in client.models() if i.name == "databricks-gpt-5")
    data = json.loads(json.dumps(info.to_dict()))
    assert set(data) == {
        "name",
        "task",
        "state",
        "family",
        "model",
        "reasoning",
        "endpoint_type",
        "external",
        "gateway",
    }
    assert (data["name"], data["family"], data["external"]) == ("databricks-gpt-5", "openai", False)
    assert info.raw["name"] == "databricks-gpt-5"


def test_models_without_a_workspace_is_a_config_error() -> None:
    with Client(backend="rest", config={}) as client, pytest.raises(chatport.ConfigError):
        client.models()


# -- shapes and failures, from a raw loopback server ---------------------------------------


class _Answer:
    def __init__(self) -> None:
        self.status = 200
        self.body: Any = {"endpoints": []}


class _Handler(BaseHTTPRequestHandler):
    answer = _Answer()

    def do_GET(self) -> None:
        if not self.path.startswith("/api/2.0/serving-endpoints"):
            status, data = 404, b""  # e.g. the SDK's /.well-known/databricks-config probe
        else:
            body = self.answer.body
            status = self.answer.status
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def raw_server() -> Iterator[tuple[str, _Answer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", _Handler.answer
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def raw(raw_server: tuple[str, _Answer], monkeypatch: pytest.MonkeyPatch) -> _Answer:
    url, answer = raw_server
    monkeypatch.setenv("DATABRICKS_HOST", url)
    monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
    answer.status, answer.body = 200, {"endpoints": []}
    return answer


FAILURES: dict[str, tuple[int, Any, type[chatport.APIError]]] = {
    "garbage": (200, b"<html>not json</html>", chatport.ResponseFormatError),
    "endpoints-not-a-list": (200, {"endpoints": "nope"}, chatport.ResponseFormatError),
    "entry-not-an-object": (200, {"endpoints": [1, 2]}, chatport.ResponseFormatError),
    "500": (500, {"error_code": "INTERNAL_ERROR", "message": "boom"}, chatport.ServerError),
    "403": (
        403,
        {"error_code": "PERMISSION_DENIED", "message": "not allowed"},
        chatport.PermissionDeniedError,
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_failures_are_chatport_errors(raw: _Answer, backend: str, failure: str) -> None:
    raw.status, raw.body, expected = FAILURES[failure]
    client = Client(backend=backend, config={}, max_retries=0, timeout=10)
    with client, pytest.raises(expected) as caught:
        client.models()
    assert caught.value.backend == backend
    if raw.status >= 400:
        assert caught.value.status_code == raw.status
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_answer_means_no_endpoints(raw: _Answer, backend: str) -> None:
    raw.body = {}
    with Client(backend=backend, config={}) as client:
        assert client.models(chat_only=False) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_answer_without_an_endpoint_list_is_refused(raw: _Answer, backend: str) -> None:
    for body in (["not", "an", "object"], [{"name": "x"}], "text", 3):
        raw.body = body
        client = Client(backend=backend, config={})
        with client, pytest.raises(chatport.ResponseFormatError):
            client.models()
    if backend == "mlflow":
        return  # mlflow's client cannot tell this from {} (see MlflowBackend.list_endpoints)
    raw.body = {"something": "else"}
    with Client(backend=backend, config={}) as client, pytest.raises(chatport.ResponseFormatError):
        client.models()


ODD = {
    "endpoints": [
        {
            "name": "odd",
            "task": 5,
            "state": "weird",
            "config": [],
            "endpoint_type": None,
            "ai_gateway": ["usage_tracking_config"],
        },
        {
            "name": "state-odd",
            "state": {"ready": 1},
            "config": {"served_entities": []},
            "ai_gateway": {},
        },
        {"task": "llm/v1/chat"},  # no name: cannot be asked, not listed
        {"name": "", "task": "llm/v1/chat"},
        {
            "name": "my-claude",
            "task": "llm/v1/chat",
            "endpoint_type": "EXTERNAL_MODEL",
            "state": {"ready": "NOT_READY"},
            "ai_gateway": {"rate_limits": [{"calls": 10, "key": "endpoint"}]},
            "config": {
                "served_entities": [
                    {"external_model": {"provider": "anthropic", "name": "claude-sonnet-4-5"}}
                ]
            },
        },
        {
            "name": "custom",
            "config": {
                "served_entities": [{"entity_name": "main.ml.model", "entity_version": "3"}]
            },
        },
    ]
}


@pytest.mark.parametrize("backend", ["rest", "mlflow", "databricks-sdk"])
def test_odd_metadata_becomes_none(raw: _Answer, backend: str) -> None:
    raw.body = ODD
    with Client(backend=backend, config={}) as client:
        every = {info.name: info for info in client.models(chat_only=False)}
        chat = [info.name for info in client.models()]
    assert set(every) == {"odd", "state-odd", "my-claude", "custom"}
    assert chat == ["my-claude"]
    assert every["odd"] == ModelInfo("odd")
    assert every["state-odd"] == ModelInfo("state-odd")
    assert every["my-claude"] == ModelInfo(
        name="my-claude",
        task="llm/v1/chat",
        state="NOT_READY",
        family="anthropic",
        model="claude-sonnet-4-5",
        reasoning="thinking",
        endpoint_type="EXTERNAL_MODEL",
        external=True,
        gateway=True,
    )
    assert every["custom"] == ModelInfo("custom", model="main.ml.model")


def test_shapes_the_sdk_refuses_still_list_over_http(raw: _Answer) -> None:
    raw.body = {
        "endpoints": [
            {"name": "a", "config": {"served_entities": "x"}, "state": ["READY"]},
            {"name": "b", "config": {"served_entities": [None, 1]}, "task": ["llm/v1/chat"]},
            {"name": "c", "config": {"served_entities": [{"foundation_model": "gpt-5"}]}},
            {"name": "d", "config": {"served_entities": [{"external_model": []}]}},
            {"name": 7},
        ]
    }
    with Client(backend="rest", config={}) as client:
        infos = client.models(chat_only=False)
    assert infos == [ModelInfo("a"), ModelInfo("b"), ModelInfo("c"), ModelInfo("d")]


def test_a_transport_failure_is_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
    with Client(backend="rest", config={}) as client, pytest.raises(chatport.APIConnectionError):
        client.models()


# -- the command line ------------------------------------------------------------------------


def table(stdout: str) -> dict[str, list[str]]:
    header, *rows = stdout.splitlines()
    assert header.split() == ["NAME", "TASK", "STATE", "FAMILY", "MODEL", "GATEWAY"]
    return {row.split()[0]: row.split() for row in rows}


def test_cli_models_table_json_and_all(workdir: Path, module_workspace: LocalWorkspace) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    rows = table(result.stdout)
    assert set(rows) >= set(FAMILIES)
    assert not set(rows) & NOT_CHAT
    assert rows["databricks-gpt-5"][1:4] == ["llm/v1/chat", "READY", "openai"]
    assert rows["databricks-meta-llama-3-3-70b-instruct"][3] == "meta"
    assert (rows["databricks-gpt-5"][-1], rows["off-gateway"][-1]) == ("yes", "no")
    assert result.stderr == ""
    assert listing_requests(module_workspace) == [("GET", "/api/2.0/serving-endpoints")]

    every = table(runner.invoke(cli, ["models", "--all"]).stdout)
    assert set(every) >= set(FAMILIES) | NOT_CHAT
    assert every["emb"][1] == "llm/v1/embeddings"

    result = runner.invoke(cli, ["models", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_name = {row["name"]: row for row in data}
    assert set(by_name) >= set(FAMILIES)
    assert by_name["databricks-claude-sonnet-4-5"]["family"] == "anthropic"
    assert by_name["databricks-claude-sonnet-4-5"]["reasoning"] == "thinking"
    assert (by_name["databricks-gpt-5"]["gateway"], by_name["off-gateway"]["gateway"]) == (
        True,
        False,
    )
    assert [row["name"] for row in data] == sorted(by_name)
    for result in (runner.invoke(cli, ["models", "--all", "--json"]),):
        assert "emb" in {row["name"] for row in json.loads(result.stdout)}
        assert module_workspace.token is not None
        assert module_workspace.token not in result.output


def test_cli_models_through_mlflow(workdir: Path, module_workspace: LocalWorkspace) -> None:
    result = CliRunner().invoke(cli, ["models", "-b", "mlflow", "--json"])
    assert result.exit_code == 0, result.output
    assert {row["name"] for row in json.loads(result.stdout)} >= set(FAMILIES)
    assert listing_requests(module_workspace) == [("GET", "/api/2.0/serving-endpoints/")]


def test_cli_models_without_workspace_uses_the_embedded_one(workdir: Path) -> None:
    result = CliRunner().invoke(cli, ["models", "-b", "databricks-sdk"])
    assert result.exit_code == 0, result.output
    assert set(table(result.stdout)) >= set(FAMILIES)
    assert "embedded local workspace (http://127.0.0.1:" in result.stderr
    assert "DATABRICKS_HOST" in result.stderr
    assert "dapi-" not in result.output  # the embedded workspace's token is never shown
    assert "DATABRICKS_HOST" not in os.environ  # restored afterwards


def test_cli_models_errors_are_one_line(workdir: Path, raw: _Answer) -> None:
    raw.status, raw.body = 403, {"error_code": "PERMISSION_DENIED", "message": "not allowed"}
    for backend in ("rest", "mlflow"):
        result = CliRunner().invoke(cli, ["models", "-b", backend])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error: PermissionDeniedError: HTTP 403: PERMISSION_DENIED")
        assert result.stderr.count("\n") == 1
        assert result.stdout == ""
        assert CANARY not in result.output
    result = CliRunner().invoke(cli, ["models", "-b", "nope"])
    assert result.exit_code == 2  # a usage error (docs/cli.md)
    assert result.stderr.startswith("error: BackendNotFoundError: unknown backend 'nope'")


def test_cli_models_says_when_nothing_is_listed(workdir: Path, raw: _Answer) -> None:
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "no chat serving endpoints" in result.stderr
    assert json.loads(CliRunner().invoke(cli, ["models", "--json"]).stdout) == []


def test_cli_models_help() -> None:
    text = CliRunner().invoke(cli, ["models", "--help"]).stdout
    for needle in ("List the workspace's chat models", "--backend", "--all", "--json", "embedded"):
        assert needle in text
    assert "models" in CliRunner().invoke(cli, ["--help"]).stdout


def test_console_script_models(workdir: Path) -> None:
    script = Path(sys.executable).with_name("chatport")
    result = subprocess.run(
        [str(script), "models", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")},
    )
    assert result.returncode == 0, result.stderr
    assert {row["name"] for row in json.loads(result.stdout)} >= set(FAMILIES)
    assert "embedded local workspace" in result.stderr
