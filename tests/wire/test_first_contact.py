"""First contact: chatport finds the workspace where Databricks users already keep it.

Every test runs the five built-in backends, unmodified clients over real HTTP, against a
local workspace on 127.0.0.1 that refuses any other credential. Nothing of chatport or
of an SDK is patched: profiles are real ``~/.databrickscfg`` files, the notebook runtime
is databricks-sdk's own hook (a stand-in ``dbruntime`` package on ``PYTHONPATH``), OAuth
M2M is the SDK's own flow against the local token endpoint.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import chatport
from chatport import (
    APIConnectionError,
    AuthenticationError,
    ConfigError,
)
from chatport.local import Fault, LocalWorkspace

from ..backends import BUILT_IN

BACKENDS = BUILT_IN
MODEL = "databricks-gpt-5"
TOKEN = "dapi-first-contact-0123456789abcdef"
CLIENT_ID, CLIENT_SECRET = "m2m-client", "m2m-secret-0123456789"


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The kit's workspace for this module accepts TOKEN and OAuth M2M tokens of one
    client, nothing else."""
    return {"token": TOKEN, "oauth_clients": {CLIENT_ID: CLIENT_SECRET}}


@pytest.fixture
def server(module_workspace_server: LocalWorkspace) -> LocalWorkspace:
    """The kit's module workspace, with nothing in the environment: each test says itself
    where chatport finds the workspace."""
    return module_workspace_server


@pytest.fixture
def home() -> Path:
    """The test's HOME (set by the repository's conftest), where ~/.databrickscfg lives."""
    return Path(os.environ["HOME"])


def write_profile(home: Path, text: str) -> None:
    (home / ".databrickscfg").write_text(textwrap.dedent(text))


def posts(workspace: LocalWorkspace, since: int = 0) -> list[Any]:
    return [r for r in workspace.requests[since:] if r.method == "POST"]


def token_requests(workspace: LocalWorkspace, since: int = 0) -> int:
    return sum(r.path == "/oidc/v1/token" for r in posts(workspace, since))


def ask_both_ways(client: chatport.Client, prompt: str) -> None:
    """A completion and a stream through ``client``, each answered by the echo model."""
    assert client.complete(prompt, model=MODEL).text == prompt
    assert "".join(chunk.text for chunk in client.stream(prompt, model=MODEL)) == prompt


def answered(workspace: LocalWorkspace, since: int) -> list[int | None]:
    """The statuses of the model calls the workspace answered since ``since``."""
    return [r.status for r in posts(workspace, since) if r.path != "/oidc/v1/token"]


# -- where the workspace comes from ---------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_profile_with_nothing_in_the_environment(
    backend: str, server: LocalWorkspace, home: Path, workdir: Path
) -> None:
    write_profile(home, f"[DEFAULT]\nhost = {server.url}\ntoken = {TOKEN}\n")
    since = len(server.requests)
    with chatport.Client(backend, timeout=30, max_retries=0) as client:
        ask_both_ways(client, f"default profile via {backend}")
        assert client.workspace.host == server.url
        assert client.workspace.host_source.startswith("profile DEFAULT")
    assert answered(server, since) == [200, 200]


@pytest.mark.parametrize("how", ["DATABRICKS_CONFIG_PROFILE", "databricks_profile", "__settings__"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_named_profile(
    backend: str,
    how: str,
    server: LocalWorkspace,
    home: Path,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = "[__settings__]\ndefault_profile = emu\n" if how == "__settings__" else ""
    write_profile(
        home,
        f"{settings}[DEFAULT]\nhost = http://127.0.0.1:9\ntoken = dapi-wrong-default-0000\n"
        f"[emu]\nhost = {server.url}\ntoken = {TOKEN}\n",
    )
    extra: dict[str, Any] = {}
    if how == "DATABRICKS_CONFIG_PROFILE":
        monkeypatch.setenv("DATABRICKS_CONFIG_PROFILE", "emu")
    elif how == "databricks_profile":
        extra["databricks_profile"] = "emu"
    since = len(server.requests)
    with chatport.Client(backend, timeout=30, max_retries=0, **extra) as client:
        ask_both_ways(client, f"named profile via {backend}")
    assert answered(server, since) == [200, 200]


def test_a_missing_named_profile_is_a_config_error(home: Path, workdir: Path) -> None:
    write_profile(home, "[other]\nhost = https://adb-1.azuredatabricks.net\n")
    with pytest.raises(ConfigError, match=r"profile 'emu' is not in .*profiles: other"):
        chatport.Client("rest", databricks_profile="emu").complete("hi", model=MODEL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_oauth_m2m_token_is_fetched_once_and_shared(
    backend: str, server: LocalWorkspace, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET)
    since = len(server.requests)
    with chatport.Client(backend, timeout=30, max_retries=0) as client:
        ask_both_ways(client, f"m2m via {backend}")
        # a second backend of the same client reuses the credential
        other = "rest" if backend != "rest" else "databricks-sdk"
        assert client.complete("again", backend=other, model=MODEL).text == "again"
    assert token_requests(server, since) == 1
    assert answered(server, since) == [200, 200, 200]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["string", "callable", "workspace_client", "sdk_config"])
def test_credentials_in_code(
    backend: str, kind: str, server: LocalWorkspace, workdir: Path
) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.config import Config

    calls = []

    def from_a_vault() -> str:
        calls.append(1)
        return TOKEN

    credentials: dict[str, Any] = {
        "string": {"host": server.url, "token": TOKEN},
        "callable": {"host": server.url, "token": from_a_vault},
        "workspace_client": {
            "workspace_client": WorkspaceClient(host=server.url, token=TOKEN, auth_type="pat")
        },
        "sdk_config": {"sdk_config": Config(host=server.url, token=TOKEN, auth_type="pat")},
    }[kind]
    since = len(server.requests)
    with chatport.Client(backend, timeout=30, max_retries=0, **credentials) as client:
        ask_both_ways(client, f"{kind} via {backend}")
        assert TOKEN not in repr(client)
        assert TOKEN not in repr(client.workspace)
    assert answered(server, since) == [200, 200]
    if kind == "callable":
        assert len(calls) >= 2  # asked for each request, so it may refresh


@pytest.mark.parametrize(
    ("credentials", "match"),
    [
        ({"token": 123}, "token must be a non-empty string or a zero-argument callable"),
        ({"token": ""}, "token must be a non-empty string"),
        ({"workspace_client": object()}, "workspace_client must be a databricks-sdk"),
        ({"token": "dapi-x", "sdk_config": object()}, "pass one of token"),
    ],
)
def test_bad_credentials_in_code(credentials: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        chatport.Client("rest", **credentials)
    assert "dapi-x" not in str(info.value)


def test_a_token_in_a_config_file_is_still_refused(workdir: Path) -> None:
    (workdir / "chatport.toml").write_text('token = "dapi-in-a-file-0123456789"\n')
    with pytest.raises(ConfigError, match="never stored") as info:
        chatport.Client()
    assert "dapi-in-a-file" not in str(info.value)


def test_token_callable_that_fails_is_an_authentication_error(
    server: LocalWorkspace, workdir: Path
) -> None:
    def broken() -> str:
        raise RuntimeError("vault sealed")

    since = len(server.requests)
    with (
        chatport.Client("rest", host=server.url, token=broken, max_retries=0) as client,
        pytest.raises(AuthenticationError, match=r"token callable .* raised RuntimeError"),
    ):
        client.complete("hi", model=MODEL)
    assert posts(server, since) == []


RUNTIME_PACKAGE = '''
"""A stand-in for the runtime's notebook namespace, which databricks-sdk reads on import."""


class StandInDbutils:
    """The notebook's dbutils, which WorkspaceClient() picks up in a runtime."""


class UserNamespaceInitializer:
    @classmethod
    def getOrCreate(cls):
        return cls()

    def get_namespace_globals(self):
        return {"dbutils": StandInDbutils()}
'''

RUNTIME_STAND_IN = '''
"""A stand-in for the Databricks runtime's credential hook, as databricks-sdk imports it."""
import os


def init_runtime_native_auth():
    host = os.environ["STAND_IN_HOST"]

    def inner():
        return {"Authorization": "Bearer " + os.environ["STAND_IN_TOKEN"]}

    return host, inner
'''

RUNTIME_SCRIPT = """
import json, sys
import chatport
results = {}
for backend in ["rest", "openai", "responses", "mlflow", "databricks-sdk"]:
    with chatport.Client(backend, timeout=60, max_retries=0) as client:
        text = client.complete("notebook " + backend, model="databricks-gpt-5").text
        streamed = "".join(c.text for c in client.stream("streamed", model="databricks-gpt-5"))
        results[backend] = [text, streamed, client.workspace.host_source]
print(json.dumps(results))
"""


def test_notebook_runtime_through_databricks_sdks_own_hook(
    server: LocalWorkspace, tmp_path: Path, home: Path
) -> None:
    package = tmp_path / "runtime" / "dbruntime"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(RUNTIME_PACKAGE)
    (package / "sdk_credential_provider.py").write_text(RUNTIME_STAND_IN)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABRICKS_", "CHATPORT_"))
    }
    env.update(
        PYTHONPATH=str(tmp_path / "runtime"),
        DATABRICKS_RUNTIME_VERSION="16.4",
        DATABRICKS_CONFIG_FILE=str(home / ".databrickscfg"),  # none there
        STAND_IN_HOST=server.url,
        STAND_IN_TOKEN=TOKEN,
    )
    since = len(server.requests)
    done = subprocess.run(
        [sys.executable, "-c", RUNTIME_SCRIPT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for backend in BACKENDS:
        text, streamed, source = results[backend]
        assert text == f"notebook {backend}"
        assert streamed == "streamed"
        assert source == "databricks-sdk (Databricks runtime)"
    assert answered(server, since) == [200] * 10


# -- refreshing credentials -------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_oauth_token_is_refreshed_and_the_call_retried(
    backend: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the server forgets its tokens after half a second although clients are told an hour
    with LocalWorkspace(
        oauth_clients={CLIENT_ID: CLIENT_SECRET}, token_lifetime=0.5, token_expires_in=3600
    ) as workspace:
        monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
        monkeypatch.setenv("DATABRICKS_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET)
        with chatport.Client(backend, timeout=30, max_retries=0) as client:
            assert client.complete("first", model=MODEL).text == "first"
            assert token_requests(workspace) == 1
            time.sleep(0.7)  # the server's token expires: the point of this test
            answer = client.complete("second", model=MODEL)
        assert answer.text == "second"
        assert answer.attempts == 2
        assert token_requests(workspace) == 2
        assert answered(workspace, 0) == [200, 403, 200]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["oauth", "fixed token"])
def test_a_401_is_answered_by_one_refresh_when_the_credential_can_refresh(
    backend: str, kind: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalWorkspace(token=TOKEN, oauth_clients={CLIENT_ID: CLIENT_SECRET}) as workspace:
        workspace.set_faults(MODEL, Fault.error(401, times=1))
        if kind == "oauth":
            monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
            monkeypatch.setenv("DATABRICKS_CLIENT_ID", CLIENT_ID)
            monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET)
            with chatport.Client(backend, timeout=30, max_retries=0) as client:
                answer = client.complete("refreshed", model=MODEL)
            assert answer.text == "refreshed"
            assert token_requests(workspace) == 2  # the first token, then a new one
            assert answered(workspace, 0) == [401, 200]
        else:  # nothing to refresh: the 401 is the answer
            with (
                chatport.Client(
                    backend, host=workspace.url, token=TOKEN, timeout=30, max_retries=0
                ) as client,
                pytest.raises(AuthenticationError),
            ):
                client.complete("refused", model=MODEL)
            assert token_requests(workspace) == 0
            assert answered(workspace, 0) == [401]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_token_from_a_callable_is_asked_again(
    backend: str, server: LocalWorkspace, workdir: Path
) -> None:
    since = len(server.requests)
    asked = []

    def rotating() -> str:
        # the revoked token until the server has refused it, then the new one
        asked.append(1)
        refused = any(r.status == 403 for r in posts(server, since))
        return TOKEN if refused else "dapi-revoked-0123456789abcdef"

    with chatport.Client(backend, host=server.url, token=rotating, max_retries=0) as client:
        assert client.complete("rotated", model=MODEL).text == "rotated"
    assert answered(server, since) == [403, 200]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fixed_token_that_is_refused_is_not_sent_again(
    backend: str, server: LocalWorkspace, workdir: Path
) -> None:
    since = len(server.requests)
    with (
        chatport.Client(
            backend, host=server.url, token="dapi-wrong-0123456789abcdef", max_retries=0
        ) as client,
        pytest.raises(chatport.PermissionDeniedError, match="Invalid access token"),
    ):
        client.complete("hi", model=MODEL)
    assert answered(server, since) == [403]


@pytest.mark.parametrize("backend", BACKENDS)
def test_oauth_tokens_are_renewed_before_they_expire(
    backend: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # clients are told each token lives one second: databricks-sdk fetches the next one
    # before the server would refuse the old one, so no call is ever refused
    with LocalWorkspace(
        oauth_clients={CLIENT_ID: CLIENT_SECRET}, token_lifetime=3600, token_expires_in=1
    ) as workspace:
        monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
        monkeypatch.setenv("DATABRICKS_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET)
        with chatport.Client(backend, timeout=30, max_retries=0) as client:
            assert client.complete("turn 1", model=MODEL).text == "turn 1"
            time.sleep(1.1)  # past the expiry clients were told: the point of this test
            assert client.complete("turn 2", model=MODEL).text == "turn 2"
        assert token_requests(workspace) >= 2
        assert answered(workspace, 0) == [200, 200]


# -- an unreachable host ---------------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[tuple[int, list[socket.socket]]]:
    """A port that accepts connections and never answers; the accepted ones are listed."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["closed", "silent"])
def test_a_profile_whose_host_is_down_fails_within_the_timeout(
    backend: str,
    where: str,
    home: Path,
    workdir: Path,
    silent_port: tuple[int, list[socket.socket]],
    sdks_imported: None,
) -> None:
    port = closed_port() if where == "closed" else silent_port[0]
    write_profile(home, f"[DEFAULT]\nhost = http://127.0.0.1:{port}\ntoken = {TOKEN}\n")
    started = time.monotonic()
    with (
        chatport.Client(backend, timeout=2, max_retries=0) as client,
        pytest.raises((APIConnectionError, chatport.APITimeoutError)) as info,
    ):
        client.complete("hi", model=MODEL)
    assert time.monotonic() - started < 2 + 1.5  # the deadline, plus scheduling slack
    if where == "closed":
        assert isinstance(info.value, APIConnectionError)
        assert f"127.0.0.1:{port}" in str(info.value)


def test_chatport_config_answers_at_once_without_touching_the_host(
    home: Path, workdir: Path, silent_port: tuple[int, list[socket.socket]]
) -> None:
    from click.testing import CliRunner

    from chatport.cli import cli

    port, accepted = silent_port
    write_profile(home, f"[DEFAULT]\nhost = http://127.0.0.1:{port}\ntoken = {TOKEN}\n")
    result = CliRunner().invoke(cli, ["config", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)["workspace"]
    assert shown["host"]["value"] == f"http://127.0.0.1:{port}"
    assert shown["host"]["source"].startswith("profile DEFAULT")
    assert shown["token"]["source"] == "databricks-sdk (profile DEFAULT)"
    assert TOKEN not in result.output
    time.sleep(0.3)  # give a connection, had one been made, time to be accepted
    assert accepted == []


# -- errors at first contact -----------------------------------------------------------------


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record (and refuse) every name lookup: a spy on the standard library, not an SDK."""
    looked_up: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        looked_up.append(args[0])
        raise socket.gaierror(socket.EAI_NONAME, "lookups are refused in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return looked_up


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_remote_host_with_no_credential_is_refused_before_anything_is_sent(
    backend: str,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_dns: list[Any],
    sdks_imported: None,
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", "https://adb-1234.5.azuredatabricks.net")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no databricks/az CLI
    with (
        chatport.Client(backend, max_retries=0) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.complete("hi", model=MODEL)
    message = str(info.value)
    assert "adb-1234.5.azuredatabricks.net" in message
    assert "DATABRICKS_TOKEN" in message
    assert "profile" in message
    assert "nothing was sent" in message
    assert "databricks-sdk's unified auth (pat, basic, oauth-m2m" in message
    assert no_dns == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_token_env_naming_an_unset_variable(
    backend: str, server: LocalWorkspace, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)  # not used instead: the user asked for X
    monkeypatch.delenv("MY_WORKSPACE_TOKEN", raising=False)
    since = len(server.requests)
    with pytest.raises(ConfigError, match="token_env names MY_WORKSPACE_TOKEN, which is not set"):
        chatport.Client(backend, token_env="MY_WORKSPACE_TOKEN").complete("hi", model=MODEL)
    assert server.requests[since:] == []


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("template", "fix"),
    [
        ("127.0.0.1:{port}", "use http://127.0.0.1:{port}"),
        ("http://127.0.0.1:{port}/serving-endpoints", "use http://127.0.0.1:{port}"),
        ("http://127.0.0.1:{port}/ai-gateway/mlflow/v1", "use http://127.0.0.1:{port}"),
        ("http://127.0.0.1:{port}/api/2.0/serving-endpoints", "use http://127.0.0.1:{port}"),
    ],
)
def test_a_host_that_cannot_be_right_names_the_fix(
    backend: str,
    template: str,
    fix: str,
    server: LocalWorkspace,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", template.format(port=server.port))
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    since = len(server.requests)
    with pytest.raises(ConfigError) as info:
        chatport.Client(backend, max_retries=0).complete("hi", model=MODEL)
    assert fix.format(port=server.port) in str(info.value)
    assert server.requests[since:] == []


def test_a_remote_host_without_a_scheme_is_https_as_databricks_sdk_reads_it() -> None:
    from databricks.sdk.config import Config

    from chatport._hosts import parse_workspace_url

    parsed = parse_workspace_url("adb-1234.5.azuredatabricks.net")
    assert parsed.url == "https://adb-1234.5.azuredatabricks.net"
    sdk = Config(
        host="adb-1234.5.azuredatabricks.net",
        token="x",
        auth_type="pat",
        retry_timeout_seconds=1,
        http_timeout_seconds=1,
    )
    assert sdk.host == parsed.url


def test_a_connection_failure_reads_the_same_on_every_backend(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, sdks_imported: None
) -> None:
    port = closed_port()
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    messages = {}
    for backend in BACKENDS:
        with (
            chatport.Client(backend, timeout=10, max_retries=0) as client,
            pytest.raises(APIConnectionError) as info,
        ):
            client.complete("hi", model=MODEL)
        assert info.value.backend == backend
        messages[backend] = str(info.value).removesuffix(f" (backend={backend})")
    assert set(messages.values()) == {
        f"could not connect to http://127.0.0.1:{port}: connection refused"
    }, messages


def test_the_sdk_credential_variables_are_all_known() -> None:
    from databricks.sdk.config import Config

    from chatport._auth import CREDENTIAL_VARIABLES

    sdk = {attribute.env for attribute in Config.attributes() if attribute.auth and attribute.env}
    assert sdk <= set(CREDENTIAL_VARIABLES), sorted(sdk - set(CREDENTIAL_VARIABLES))


# -- any logging setup ---------------------------------------------------------------------

LOGGING_SCRIPT = """
import json, logging, sys
import chatport
from chatport.local import Fault, LocalWorkspace

how = sys.argv[1]
records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage() + " " + repr(record.args) + " " + repr(record.__dict__))

if how == "root":
    logging.basicConfig(level=logging.DEBUG)
    logging.getLogger().addHandler(Keep())
else:  # the SDKs' own loggers at DEBUG, the root left alone
    for name in ("databricks", "mlflow", "openai", "httpx", "httpcore", "urllib3"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(Keep())
token = "dapi-logging-canary-0123456789abcdef"
answers = {}
with LocalWorkspace(token=token) as ws:
    for backend in ["rest", "openai", "responses", "mlflow", "databricks-sdk"]:
        with chatport.Client(backend, host=ws.url, token=token, timeout=60, max_retries=0) as c:
            text = c.complete("logged " + backend, model="databricks-gpt-5").text
            streamed = "".join(k.text for k in c.stream("streamed", model="databricks-gpt-5"))
            answers[backend] = [text, streamed]
print(json.dumps({"answers": answers, "records": len(records),
                  "leaks": [r for r in records if "logging-canary" in r]}))
"""


@pytest.mark.parametrize("how", ["root", "sdk loggers"])
def test_every_backend_works_with_debug_logging_and_logs_no_token(how: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "CHATPORT_"))}
    done = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT, how],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    for backend in BACKENDS:
        assert result["answers"][backend] == [f"logged {backend}", "streamed"]
    assert result["records"] > 50  # the SDKs did log at DEBUG
    assert result["leaks"] == []
    assert "logging-canary" not in done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("where", ["env", "code"])
def test_a_token_without_a_host_is_never_sent_anywhere(
    backend: str, where: str, home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a profile for another workspace must not receive this token
    write_profile(
        home, "[DEFAULT]\nhost = https://adb-1.azuredatabricks.net\ntoken = dapi-other0\n"
    )
    kwargs: dict[str, Any] = {}
    if where == "env":
        monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    else:
        kwargs["token"] = TOKEN
    with pytest.raises(
        ConfigError, match="no workspace host configured: set DATABRICKS_HOST"
    ) as info:
        chatport.Client(backend, **kwargs).complete("hi", model=MODEL)
    assert TOKEN not in str(info.value)


# -- what an independent review found -----------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_workspace_client_keeps_its_own_host(
    backend: str, server: LocalWorkspace, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from databricks.sdk import WorkspaceClient

    # DATABRICKS_HOST names another workspace, which would accept the same token
    with LocalWorkspace(token=TOKEN) as other:
        monkeypatch.setenv("DATABRICKS_HOST", other.url)
        given = WorkspaceClient(host=server.url, token=TOKEN, auth_type="pat")
        since = len(server.requests)
        with chatport.Client(backend, workspace_client=given, max_retries=0) as client:
            assert client.complete("to its own host", model=MODEL).text == "to its own host"
        assert answered(server, since) == [200]
        assert posts(other) == []
        with pytest.raises(ConfigError, match="host= names another workspace"):
            chatport.Client(backend, host=other.url, workspace_client=given).complete("x")


@pytest.mark.parametrize("backend", ["rest", "databricks-sdk"])
def test_a_failed_oauth_resolution_names_the_host_and_is_tried_again(
    backend: str, workdir: Path, monkeypatch: pytest.MonkeyPatch, sdks_imported: None
) -> None:
    port = closed_port()
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET)
    with chatport.Client(backend, timeout=10, max_retries=0) as client:
        for _ in range(2):  # each call gets its own error, not one kept from the first
            with pytest.raises(APIConnectionError) as info:
                client.complete("hi", model=MODEL)
            assert f"could not connect to http://127.0.0.1:{port}: connection refused" in str(
                info.value
            )
            assert len(traceback_of(info.value)) < 60
        with LocalWorkspace(port=port, oauth_clients={CLIENT_ID: CLIENT_SECRET}) as up:
            assert client.complete("now it is up", model=MODEL).text == "now it is up"
            assert token_requests(up) == 1


def traceback_of(error: BaseException) -> list[Any]:
    import traceback

    return traceback.extract_tb(error.__traceback__)


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port whose accept queue is full: new connections are never answered (SYN dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_host_that_never_answers_a_connection_is_named(
    backend: str,
    blackhole: int,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    sdks_imported: None,
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{blackhole}")
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    with (
        chatport.Client(backend, timeout=3, max_retries=0) as client,
        pytest.raises(APIConnectionError) as info,
    ):
        client.complete("hi", model=MODEL)
    # nothing was sent: a connection failure (retried by the policy), naming the host
    assert str(info.value).startswith(f"could not connect to http://127.0.0.1:{blackhole}: ")


def test_env_oidc_is_a_credential_databricks_sdk_would_use(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", "https://adb-1234.5.azuredatabricks.net")
    monkeypatch.setenv("DATABRICKS_OIDC_TOKEN", "an-id-token")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    workspace = chatport.Client("rest").workspace  # resolved without a network call
    assert workspace.token_source == "databricks-sdk (unified auth)"


@pytest.mark.parametrize("backend", ["rest", "databricks-sdk"])
def test_a_local_workspace_without_auth_works_with_a_databricks_cli_on_the_path(
    backend: str, tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    cli = tools / "databricks"
    cli.write_text("#!/bin/sh\necho 'not logged in' >&2\nexit 1\n")
    cli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    with LocalWorkspace(token=None) as open_workspace:
        monkeypatch.setenv("DATABRICKS_HOST", open_workspace.url)
        with chatport.Client(backend, timeout=30, max_retries=0) as client:
            assert client.complete("no auth", model=MODEL).text == "no auth"


def test_a_default_profile_named_by_settings_must_exist(home: Path, workdir: Path) -> None:
    write_profile(home, "[__settings__]\ndefault_profile = prod\n[dev]\nhost = https://x.y\n")
    with pytest.raises(ConfigError, match="profile 'prod' is not in"):
        chatport.Client("rest").complete("hi", model=MODEL)


def test_sdk_config_for_a_plugin_never_guesses_a_host(home: Path, workdir: Path) -> None:
    write_profile(home, "[DEFAULT]\nhost = https://other.cloud.databricks.com\ntoken = dapi-x0\n")
    with chatport.Client("rest", token=TOKEN) as client:
        settings = client.backend("rest").settings
        with pytest.raises(ConfigError, match="no workspace host configured"):
            settings.sdk_config()


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_calls_with_oauth_and_a_refresh(
    backend: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    with LocalWorkspace(oauth_clients={CLIENT_ID: CLIENT_SECRET}) as workspace:
        workspace.set_faults(MODEL, Fault.error(401, times=1))
        monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
        monkeypatch.setenv("DATABRICKS_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", CLIENT_SECRET)

        async def main() -> tuple[str, str]:
            async with chatport.Client(backend, timeout=30, max_retries=0) as client:
                answer = await client.acomplete("async refreshed", model=MODEL)
                chunks = [c.text async for c in client.astream("async", model=MODEL)]
                return answer.text, "".join(chunks)

        assert asyncio.run(main()) == ("async refreshed", "async")
        assert token_requests(workspace) == 2
        assert answered(workspace, 0) == [401, 200, 200]


def test_a_build_in_flight_when_the_process_forks_is_built_again_in_the_child() -> None:
    import multiprocessing

    from chatport._credentials import BuiltOnce

    release = threading.Event()

    def build() -> int:
        release.wait(10)
        return os.getpid()

    built = BuiltOnce(build)
    with pytest.raises(TimeoutError):
        built.get(0.05)  # the parent's build is under way, waiting
    context = multiprocessing.get_context("fork")
    queue = context.SimpleQueue()

    def in_child() -> None:  # the parent's build thread does not exist here
        release.set()
        queue.put(built.get(5))

    child = context.Process(target=in_child)
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert queue.get() == child.pid  # built in the child, by the child
    release.set()
    assert built.get(5) == os.getpid()
