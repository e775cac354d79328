"""A local workspace safe to leave running (issue 20): what any local client can make it do.

Each defect is met as a user meets it: a real ``chatport serve`` process, real sockets
and real clients (httpx, databricks-sdk), bounded waits, and the process stopped in a
``finally``. A few checks of the same limits in code use ``LocalWorkspace`` directly.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from databricks.sdk import WorkspaceClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatport.cli import cli
from chatport.local import LocalWorkspace

# Abandoned SDK calls of other tests use the global `random` module, which hypothesis
# would take for a strategy using it (as in tests/unit/test_fuzz.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)

CHATPORT = str(Path(sys.executable).with_name("chatport"))
TOKEN = "dapi-safety-0123456789abcdef"
MB = 1024 * 1024
USER = {"role": "user", "content": "alpha beta"}


#: Runs a command with a lower soft limit on open files (argv: limit, command...).
LIMITED = """
import os, resource, sys
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
os.execv(sys.argv[2], sys.argv[2:])
"""


class Served:
    """A running ``chatport serve``: its URL, start-up banner and standard error.

    With ``open_files`` it starts under that soft limit on open files, as on macOS
    (256 by default, the hard limit left as it is)."""

    def __init__(self, workdir: Path, args: tuple[str, ...], open_files: int | None) -> None:
        self.stderr_path = workdir / f"serve-{time.monotonic_ns()}.stderr"
        command = [CHATPORT, "serve", "--port", "0", *args]
        if open_files is not None:
            command = [sys.executable, "-c", LIMITED, str(open_files), *command]
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        try:
            self.banner = self._read_banner()
        except BaseException:
            self.stop()  # reaped even when it never started
            raise
        self.url = self.banner.split(" on ", 1)[1].split()[0]
        self.port = int(self.url.rsplit(":", 1)[1])

    def _read_banner(self) -> str:
        assert self.process.stdout is not None
        lines = [self.process.stdout.readline()]
        assert lines[0].startswith("chatport local workspace on http://127.0.0.1:"), (
            lines[0] + self.stderr()
        )
        while not lines[-1].startswith("Press Ctrl-C"):
            lines.append(self.process.stdout.readline())
            assert lines[-1], f"serve exited early: {self.stderr()}"
        return "".join(lines)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def memory_kb(self, field: str = "VmRSS") -> int:
        """A ``/proc/PID/status`` memory field of the server, in kB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} for the server")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate(timeout=30)


@contextmanager
def serving(workdir: Path, *args: str, open_files: int | None = None) -> Iterator[Served]:
    served = Served(workdir, args, open_files)
    try:
        yield served
    finally:
        served.stop()


def needs_proc() -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("reads the server's memory from /proc")


# -- no OAuth client anyone could guess ----------------------------------------------------


def _token_answer(url: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{url}/oidc/v1/token",
        data={"grant_type": "client_credentials", "scope": "all-apis"},
        auth=(client_id, secret),
        timeout=10,
    )


def test_serve_accepts_no_oauth_client_unless_one_is_configured(tmp_path: Path) -> None:
    """The once-documented ``local-client``/``local-secret`` mints no token, and the
    banner names no OAuth client when none is configured."""
    with serving(tmp_path) as served:
        answer = _token_answer(served.url, "local-client", "local-secret")
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")
    assert "OAuth" not in served.banner
    assert "local-secret" not in served.banner


def _exported(line: str) -> dict[str, str]:
    """The variables of an ``  OAuth client: export A=x B=y`` banner line."""
    words = shlex.split(line.split(": ", 1)[1])
    return dict(word.split("=", 1) for word in words if "=" in word)


def test_serve_prints_the_oauth_clients_it_accepts(tmp_path: Path) -> None:
    """``--oauth-client ID`` generates a secret and prints a pasteable line, as it does
    for the clients of the ``--config`` file; the databricks-sdk signs in with the
    printed one (OAuth M2M) and lists the endpoints."""
    config = tmp_path / "local.toml"
    config.write_text('[oauth_clients]\nfrom-file = "file-secret-0123456789"\n')
    with serving(tmp_path, "--config", str(config), "--oauth-client", "ci-bot") as served:
        lines = [x for x in served.banner.splitlines() if "OAuth client" in x]
        clients = {
            e["DATABRICKS_CLIENT_ID"]: e["DATABRICKS_CLIENT_SECRET"] for e in map(_exported, lines)
        }
        exported = _exported(lines[-1])
        client = WorkspaceClient(
            host=served.url,
            client_id=exported["DATABRICKS_CLIENT_ID"],
            client_secret=exported["DATABRICKS_CLIENT_SECRET"],
            auth_type="oauth-m2m",
        )
        names = {endpoint.name for endpoint in client.serving_endpoints.list()}
        guessed = _token_answer(served.url, "ci-bot", "local-secret")
    assert exported["DATABRICKS_CLIENT_ID"] == "ci-bot"
    assert len(exported["DATABRICKS_CLIENT_SECRET"]) >= 24
    assert clients == {"from-file": "file-secret-0123456789", "ci-bot": clients["ci-bot"]}
    assert "databricks-gpt-5" in names
    assert guessed.status_code == 401


@pytest.mark.parametrize("spec", [":secret", "", " :x"])
def test_serve_oauth_client_without_an_id_is_one_line(spec: str) -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--oauth-client", spec])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: --oauth-client {spec!r}: the client id is empty (ID[:SECRET])\n"
    )


def test_the_oauth_clients_of_a_workspace_in_code() -> None:
    with LocalWorkspace() as ws:
        assert ws.oauth_clients == {}
        refused = _token_answer(ws.url, "local-client", "local-secret")
        secret = ws.add_oauth_client("my-app")
        issued = _token_answer(ws.url, "my-app", secret)
    assert refused.status_code == 401
    assert issued.json()["token_type"] == "Bearer"
    assert ws.oauth_clients == {"my-app": secret}
    assert secret not in repr(ws)


# -- credentials masked in --log and in the request log ------------------------------------

SECRET_HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Proxy-Authorization": "Basic cHJveHktdXNlcjpwcm94eS1wYXNz",
    "Cookie": "session=cookie-secret-1",
    "X-API-Key": "sk-x-api-key-secret-2",
    "api-key": "azure-api-key-secret-3",
    "x-goog-api-key": "goog-api-key-secret-4",
    "X-Databricks-Token": "dapi-header-secret-5",
    "X-Custom-Auth-Token": "custom-token-secret-6",
    "X-Refresh-Token": "refresh-header-secret-7",
}
SECRET_FIELDS = {
    "client_secret": "form-client-secret-8",
    "client_assertion": "form-assertion-secret-9",
    "refresh_token": "form-refresh-secret-10",
    "password": "form-password-secret-11",
    "code_verifier": "form-verifier-secret-12",
}
ALL_SECRETS = [
    TOKEN,
    "cHJveHktdXNlcjpwcm94eS1wYXNz",
    *[value for key, value in SECRET_HEADERS.items() if key != "Authorization"],
    *SECRET_FIELDS.values(),
]


def _send_credentials(url: str) -> None:
    httpx.post(
        f"{url}/serving-endpoints/databricks-gpt-5/invocations",
        json={"messages": [USER]},
        headers=SECRET_HEADERS,
        timeout=10,
    )
    form = {"grant_type": "client_credentials", "client_id": "ci", **SECRET_FIELDS}
    httpx.post(f"{url}/oidc/v1/token", data=form, timeout=10)


def _check_masked(records: list[dict[str, Any]]) -> None:
    chat, token = records
    assert chat["headers"]["authorization"] == "Bearer ****"
    assert chat["headers"]["proxy-authorization"] == "Basic ****"
    for name in ("cookie", "x-api-key", "api-key", "x-goog-api-key", "x-databricks-token"):
        assert chat["headers"][name] == "****", name
    assert chat["headers"]["x-custom-auth-token"] == "****"
    assert chat["body"] == {"messages": [USER]}
    fields = dict(pair.split("=", 1) for pair in token["body"].split("&"))
    assert fields["grant_type"] == "client_credentials"
    assert {key: fields[key] for key in SECRET_FIELDS} == dict.fromkeys(SECRET_FIELDS, "****")


def test_serve_log_masks_every_credential_header_and_form_field(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    with serving(tmp_path, "--token", TOKEN, "--log", str(log)) as served:
        _send_credentials(served.url)
    text = log.read_text()
    leaked = [secret for secret in ALL_SECRETS if secret in text]
    assert leaked == []
    _check_masked([json.loads(line) for line in text.splitlines()])
    assert log.stat().st_mode & 0o777 == 0o600  # a new log is private: it holds prompts


def test_the_request_log_in_code_masks_the_same(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    with LocalWorkspace(token=TOKEN, log_path=log) as ws:
        _send_credentials(ws.url)
        kept = repr(ws.requests)
    assert [secret for secret in ALL_SECRETS if secret in kept] == []
    assert [secret for secret in ALL_SECRETS if secret in log.read_text()] == []
    _check_masked([json.loads(line) for line in log.read_text().splitlines()])


# -- header and idle timeouts -------------------------------------------------------------

HALF_REQUEST = b"POST /serving-endpoints/databricks-gpt-5/invocations HTTP/1.1\r\nHost: x\r\n"


def test_serve_closes_a_connection_that_never_finishes_its_headers(tmp_path: Path) -> None:
    with serving(tmp_path) as served, socket.create_connection(("127.0.0.1", served.port)) as s:
        s.sendall(HALF_REQUEST)
        s.settimeout(60)  # the default header timeout is 10 seconds
        assert s.recv(1024) == b""  # closed by the server
        answer = httpx.get(f"{served.url}/api/2.0/serving-endpoints", timeout=10)
    assert answer.status_code == 401  # and it still answers


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file-descriptor limits")
def test_serve_answers_while_300_connections_stall_mid_request(tmp_path: Path) -> None:
    """300 half-sent requests against a server started with macOS's default limit of
    256 open files: another client is still answered."""
    with ExitStack() as stack:
        served = stack.enter_context(serving(tmp_path, "--no-auth", open_files=256))
        for _ in range(300):
            stalled = stack.enter_context(socket.create_connection(("127.0.0.1", served.port)))
            stalled.sendall(HALF_REQUEST)
        answer = httpx.get(f"{served.url}/api/2.0/serving-endpoints", timeout=60)
    assert answer.status_code == 200
    assert "databricks-gpt-5" in answer.text


def test_a_body_that_stalls_gets_408_and_headers_that_stall_a_close() -> None:
    with LocalWorkspace(token=None, idle_timeout=0.5, header_timeout=0.5) as ws:
        with socket.create_connection(("127.0.0.1", ws.port)) as s:
            s.sendall(
                b"POST /serving-endpoints/databricks-gpt-5/invocations HTTP/1.1\r\n"
                b"Host: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            s.settimeout(30)
            answer = _read_until_closed(s)
        with socket.create_connection(("127.0.0.1", ws.port)) as s:
            s.sendall(HALF_REQUEST)
            s.settimeout(30)
            assert _read_until_closed(s) == b""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["error_code"] == "BAD_REQUEST"


def _read_until_closed(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


# -- bounded bodies and a bounded request log ---------------------------------------------


def _zeros(size: int, piece: int = MB) -> Iterator[bytes]:
    for start in range(0, size, piece):
        yield b"0" * min(piece, size - start)


def _assert_too_large(answer: httpx.Response, limit: int) -> None:
    assert answer.status_code == 413, answer.text
    assert answer.json()["error_code"] == "BAD_REQUEST"
    assert str(limit) in answer.json()["message"]
    assert answer.json()["details"][0]["request_id"] == answer.headers["x-request-id"]


def test_serve_refuses_a_huge_body_without_reading_it_whole(tmp_path: Path) -> None:
    """A 100 MB body, announced or chunked, is a 413 in the Databricks shape, and the
    server's peak memory grows by far less than the body (it held it whole before)."""
    needs_proc()
    size = 100 * MB
    url = "/serving-endpoints/databricks-gpt-5/invocations"
    with serving(tmp_path, "--no-auth") as served:
        httpx.get(f"{served.url}/api/2.0/serving-endpoints", timeout=10)
        before = served.memory_kb("VmHWM")
        with httpx.Client(base_url=served.url, timeout=60) as client:
            announced = client.post(
                url, content=_zeros(size), headers={"Content-Length": str(size)}
            )
            chunked = client.post(url, content=_zeros(size))
            after = client.get("/api/2.0/serving-endpoints")
        grown_mb = (served.memory_kb("VmHWM") - before) / 1024
    _assert_too_large(announced, 16 * MB)
    _assert_too_large(chunked, 16 * MB)
    assert after.status_code == 200
    assert grown_mb < 64, f"the server's peak memory grew by {grown_mb:.0f} MB"


def test_serve_max_body_option(tmp_path: Path) -> None:
    big = {"messages": [{"role": "user", "content": "x" * 2000}]}
    with serving(tmp_path, "--no-auth", "--max-body", "1024") as served:
        url = f"{served.url}/serving-endpoints/databricks-gpt-5/invocations"
        refused = httpx.post(url, json=big, timeout=10)
        fine = httpx.post(url, json={"messages": [USER]}, timeout=10)
    _assert_too_large(refused, 1024)
    assert fine.status_code == 200


def test_serve_keeps_no_request_bodies_in_memory(tmp_path: Path) -> None:
    """40 requests of 5 MB: the server's memory does not keep them (+213 MB before)."""
    needs_proc()
    body = json.dumps({"messages": [{"role": "user", "content": "a" * (5 * MB)}]}).encode()
    url = "/serving-endpoints/databricks-gpt-5/invocations"
    headers = {"Content-Type": "application/json"}
    with (
        serving(tmp_path, "--no-auth") as served,
        httpx.Client(base_url=served.url, timeout=60) as client,
    ):
        assert client.post(url, content=body, headers=headers).status_code == 200
        before = served.memory_kb()
        statuses = {client.post(url, content=body, headers=headers).status_code for _ in range(40)}
        grown_mb = (served.memory_kb() - before) / 1024
    assert statuses == {200}
    assert grown_mb < 100, f"the server's memory grew by {grown_mb:.0f} MB"


def test_the_request_log_keeps_metadata_and_at_most_max_logged_entries() -> None:
    with LocalWorkspace(token=None, max_logged=3) as ws:
        for index in range(5):
            httpx.post(
                f"{ws.url}/serving-endpoints/databricks-gpt-5/invocations",
                json={"messages": [{"role": "user", "content": f"request {index}"}]},
                timeout=10,
            )
        entries = ws.requests
    assert len(entries) == 3
    assert {(e.method, e.status, e.body) for e in entries} == {("POST", 200, None)}
    assert all(e.size > 0 and e.answer_size > 0 for e in entries)


# -- malformed bodies: a 4xx in the Databricks shape, never a 500 ---------------------------

CHAT = {"messages": [USER]}
ROUTES: dict[str, dict[str, Any]] = {
    "/serving-endpoints/databricks-gpt-5/invocations": CHAT,
    "/serving-endpoints/chat/completions": {"model": "databricks-gpt-5", **CHAT},
    "/ai-gateway/mlflow/v1/chat/completions": {"model": "databricks-gpt-5", **CHAT},
    "/serving-endpoints/responses": {"model": "databricks-gpt-5", "input": "hi"},
    "/ai-gateway/mlflow/v1/responses": {"model": "databricks-gpt-5", "input": "hi"},
    "/serving-endpoints/open-responses": {"model": "databricks-claude-sonnet-4-5", "input": "hi"},
    "/serving-endpoints/anthropic/v1/messages": {
        "model": "databricks-claude-sonnet-4-5",
        "max_tokens": 64,
        **CHAT,
    },
    "/ai-gateway/anthropic/v1/messages": {
        "model": "databricks-claude-sonnet-4-5",
        "max_tokens": 64,
        **CHAT,
    },
}
MESSAGES_ROUTES = {path for path in ROUTES if path.endswith("/v1/messages")}
DEEP = 100_000

#: Bodies no route can parse as a JSON object: the workspace itself refuses them.
UNPARSEABLE: dict[str, bytes] = {
    "invalid JSON": b'{"messages": [',
    "empty": b"",
    "an array": b"[]",
    "a string": b'"messages"',
    "a number": b"3",
    "null": b"null",
    "invalid UTF-8": b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}',
    "a lone surrogate": b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
    "NaN": b'{"messages": [], "temperature": NaN}',
    "too many digits": b'{"max_tokens": 1' + b"0" * 5000 + b"}",
    "deep arrays": b"[" * DEEP + b"]" * DEEP,
    "deep in a field": b'{"messages": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    "deep objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
}

#: Fields of the wrong type, set on each route's valid body.
WRONG_FIELDS: dict[str, dict[str, Any]] = {
    "messages not a list": {"messages": "hi", "input": 5},
    "a message not an object": {"messages": ["hi"], "input": ["hi"]},
    "a null message": {"messages": [None], "input": [None]},
    "content an int": {"messages": [{"role": "user", "content": 5}]},
    "role a list": {"messages": [{"role": ["user"], "content": "hi"}]},
    "max_tokens a string": {"max_tokens": "5", "max_output_tokens": "5"},
    "nested nulls": {"messages": [{"role": None, "content": [None]}], "tools": [None]},
    "tools not a list": {"tools": 5},
}


TOOL = {"type": "function", "function": {"name": "f", "parameters": {}}}
#: Odd values some routes accept (or ignore): never a 500 either.
ODD_FIELDS: dict[str, dict[str, Any]] = {
    "tool_choice odd": {"tools": [TOOL], "tool_choice": {"function": "f"}},
    "tool_choice a list": {"tools": [TOOL], "tool_choice": [{"name": "f"}]},
    "response_format odd": {"response_format": {"type": "json_object", "json_schema": "x"}},
    "model not a string": {"model": ["databricks-gpt-5"]},
    "extra_params deep": {"extra_params": {"stop": "[" * DEEP + "]" * DEEP}},
    "extra_params surrogate": {"extra_params": {"stop": '"\\ud800"'}},
    "schema bounds": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "schema": {
                    "type": "object",
                    "properties": {"n": {"type": "number", "exclusiveMinimum": 10**400}},
                    "required": 5,
                }
            },
        }
    },
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("served"), "--no-auth") as running:
        yield running


def _post_raw(served: Served, path: str, raw: bytes) -> httpx.Response:
    return httpx.post(
        served.url + path, content=raw, headers={"Content-Type": "application/json"}, timeout=30
    )


def _assert_refused(answer: httpx.Response, path: str, *, field_level: bool) -> None:
    assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:300])
    body = answer.json()
    if field_level and path in MESSAGES_ROUTES and "error_code" not in body:
        assert body["type"] == "error"  # the provider's own shape on the Messages routes
        assert isinstance(body["error"]["message"], str)
        return
    assert isinstance(body["error_code"], str | int), body
    assert isinstance(body["message"], str)


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("kind", UNPARSEABLE)
def test_serve_refuses_an_unparseable_body_with_400(served: Served, kind: str, path: str) -> None:
    answer = _post_raw(served, path, UNPARSEABLE[kind])
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["error_code"] == "BAD_REQUEST"


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("kind", WRONG_FIELDS)
def test_serve_refuses_fields_of_the_wrong_type(served: Served, kind: str, path: str) -> None:
    body = {**ROUTES[path], **WRONG_FIELDS[kind]}
    answer = _post_raw(served, path, json.dumps(body).encode())
    _assert_refused(answer, path, field_level=True)


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("kind", ODD_FIELDS)
def test_serve_never_fails_on_odd_fields(served: Served, kind: str, path: str) -> None:
    body = {**ROUTES[path], **ODD_FIELDS[kind]}
    answer = _post_raw(served, path, json.dumps(body).encode())
    assert answer.status_code < 500, answer.text[:300]
    if answer.status_code >= 400:
        _assert_refused(answer, path, field_level=True)


def test_serve_refuses_a_schema_asking_for_a_huge_answer(tmp_path: Path) -> None:
    """``minItems: 10**12`` in an output schema is a 400 (it once filled the server's
    memory, gigabytes a minute: hence a server of its own, stopped after the test)."""
    schema = {"type": "array", "items": {"type": "string"}, "minItems": 10**12}
    body = {
        "messages": [USER],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    }
    with serving(tmp_path, "--no-auth") as served:
        answer = _post_raw(
            served, "/serving-endpoints/databricks-gpt-5/invocations", json.dumps(body).encode()
        )
    assert answer.status_code == 400, answer.text[:300]
    assert "100000" in answer.json()["message"]


def test_serve_refuses_a_malformed_token_request(served: Served) -> None:
    for raw in (b"\xff\xfe=&&=", b"grant_type=password", b"[1, 2]", b"=" * 10_000):
        answer = httpx.post(
            f"{served.url}/oidc/v1/token",
            content=raw,
            headers=[
                (b"Content-Type", b"application/x-www-form-urlencoded"),
                (b"Authorization", b"Basic \xe9\xe9"),  # not base64, not even ASCII
            ],
            timeout=10,
        )
        assert 400 <= answer.status_code < 500, answer.text
        assert "error" in answer.json()


#: Each example is an HTTP request; as tests/unit/test_fuzz.py, fixed examples in CI.
FUZZ = settings(
    max_examples=int(os.environ.get("CHATPORT_FUZZ_EXAMPLES", "120")),
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.too_slow],
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    [
        "messages", "model", "input", "max_tokens", "max_output_tokens", "stream", "tools",
        "tool_choice", "response_format", "text", "reasoning", "thinking", "system", "stop",
        "stop_sequences", "n", "temperature", "extra_params", "stream_options", "instructions",
        "reasoning_effort", "role", "content", "type", "function", "json_schema", "schema",
    ]
)  # fmt: skip


def _mutate(value: Any, key: str, new: Any, depth: int) -> Any:
    """``value`` with ``key`` set to ``new`` at nesting level ``depth`` (where possible)."""
    if depth == 0 or not isinstance(value, dict | list) or not value:
        return {**value, key: new} if isinstance(value, dict) else new
    if isinstance(value, list):
        return [_mutate(value[0], key, new, depth - 1), *value[1:]]
    first = next(iter(value))
    return {**value, first: _mutate(value[first], key, new, depth - 1)}


@FUZZ
@given(
    path=st.sampled_from(sorted(ROUTES)),
    key=FIELD_NAMES,
    new=JSON_VALUES,
    depth=st.integers(0, 3),
    stream=st.booleans(),
)
def test_no_mutated_body_gets_a_500(
    served: Served, path: str, key: str, new: Any, depth: int, stream: bool
) -> None:
    body = _mutate({**ROUTES[path], "stream": stream}, key, new, depth)
    answer = _post_raw(served, path, json.dumps(body).encode())
    assert answer.status_code < 500, (body, answer.text[:300])
    if answer.status_code >= 400:
        _assert_refused(answer, path, field_level=True)


@FUZZ
@given(path=st.sampled_from(sorted(ROUTES)), raw=st.binary(max_size=64))
def test_no_raw_bytes_get_a_500(served: Served, path: str, raw: bytes) -> None:
    answer = _post_raw(served, path, raw)
    assert answer.status_code < 500, (raw, answer.text[:300])


# -- a stream stops when its client leaves ------------------------------------------------


def test_serve_stops_a_stream_whose_client_left(tmp_path: Path) -> None:
    """5 streams closed after their first chunk: the server writes no error line (it
    wrote hundreds, one per chunk it kept sending) and still answers."""
    body = {"messages": [{"role": "user", "content": " ".join(["word"] * 500)}], "stream": True}
    url = "/serving-endpoints/databricks-gpt-5/invocations"
    with serving(tmp_path, "--no-auth") as served:
        for _ in range(5):
            with (
                httpx.Client(base_url=served.url, timeout=30) as client,
                client.stream("POST", url, json=body) as answer,
            ):
                first = next(line for line in answer.iter_lines() if line.startswith("data:"))
                assert json.loads(first[6:])["object"] == "chat.completion.chunk"
        time.sleep(0.5)  # what the server would still write, it writes now
        after = httpx.post(f"{served.url}{url}", json={"messages": [USER]}, timeout=10)
        errors = served.stderr()
    assert after.json()["choices"][0]["message"]["content"] == "alpha beta"
    assert len(errors.splitlines()) < 5, errors[:2000]


def test_the_server_never_imports_a_websocket_library() -> None:
    """Found by the lowest-versions CI run: uvicorn loaded the installed ``websockets``
    (pulled in by google-genai) for WebSocket support the workspace does not have, and
    that release's deprecation warning stopped the server under warnings-as-errors."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from chatport.local import LocalWorkspace\n"
        "with LocalWorkspace() as ws:\n"
        "    import httpx; httpx.get(ws.url + '/api/2.0/serving-endpoints')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('websockets', 'wsproto')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
