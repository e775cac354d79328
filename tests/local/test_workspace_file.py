"""Every value of a local-workspace file, and of ``LocalWorkspace``/``Fault``/``Endpoint``
in code, is checked before anything is served: one ``ConfigError`` line naming the file
and the dotted key (``chatport serve --config`` exits 2), never a traceback or an HTTP 500.

The tables below hold a wrong-typed value for every key; ``test_*_tables_cover_every_key``
fail when a key is added without a case here.
"""

from __future__ import annotations

import dataclasses
import inspect
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from chatport import ConfigError
from chatport.cli import cli
from chatport.local import Endpoint, Fault, LocalWorkspace
from chatport.local.endpoints import ENDPOINT_KEYS, RULE_KEYS
from chatport.local.faults import FAULT_KEYS
from chatport.local.settings import FILE_KEYS

CHATPORT = str(Path(sys.executable).with_name("chatport"))
EP = "[endpoints.m]\n"
FAULT = "[[endpoints.m.faults]]\n"

# (TOML text, the message after "error: FILE: ") -- a wrong type for every key
WRONG_TYPES: dict[str, tuple[str, str]] = {
    "token": ("token = 5\n", "token: expected a token"),
    "token_lifetime": (
        'token_lifetime = "x"\n',
        "token_lifetime: expected a number > 0, got str 'x'",
    ),
    "token_expires_in": ('token_expires_in = "x"\n', "token_expires_in: expected a whole number"),
    "default_endpoints": (
        'default_endpoints = "yes"\n',
        "default_endpoints: expected true or false",
    ),
    "oauth_clients": ("oauth_clients = 3\n", "oauth_clients: expected a table"),
    "oauth_clients.ID": (
        "[oauth_clients]\nc = 5\n",
        "oauth_clients.c: expected a non-empty string, got int 5",
    ),
    "endpoints": ("endpoints = 3\n", "endpoints: expected tables like [endpoints.NAME], got int 3"),
    "endpoints.NAME": ("[endpoints]\nm = 3\n", "endpoints.m: expected a table like [endpoints.m]"),
    "model": (
        EP + "model = 3\n",
        "endpoints.m.model: expected one of echo, reasoning, scripted, chat-agent, responses-agent, got int 3",
    ),
    "served_model_name": (
        EP + "served_model_name = 3\n",
        "endpoints.m.served_model_name: expected a non-empty string",
    ),
    "omit_usage": (EP + 'omit_usage = "yes"\n', "endpoints.m.omit_usage: expected true or false"),
    "null_id": (EP + "null_id = 1\n", "endpoints.m.null_id: expected true or false, got int 1"),
    "signature": (EP + 'signature = "no"\n', "endpoints.m.signature: expected true or false"),
    "replies": (EP + 'replies = "hi"\n', "endpoints.m.replies: expected an array of strings"),
    "replies[]": (EP + "replies = [1]\n", "endpoints.m.replies[0]: expected a string, got int 1"),
    "rules": (EP + 'rules = "x"\n', "endpoints.m.rules: expected an array of tables"),
    "rules[]": (EP + "rules = [3]\n", "endpoints.m.rules[0]: expected a table"),
    "match": (
        EP + 'rules = [{match = 1, reply = "r"}]\n',
        "endpoints.m.rules[0].match: expected a non-empty string",
    ),
    "reply": (
        EP + 'rules = [{match = "m", reply = 1}]\n',
        "endpoints.m.rules[0].reply: expected a string",
    ),
    "faults": (EP + "faults = 3\n", "endpoints.m.faults: expected an array of fault tables"),
    "faults[]": (EP + "faults = [3]\n", "endpoints.m.faults[0]: expected a table, got int 3"),
    "task": (EP + "task = 3\n", "endpoints.m.task: expected a non-empty string"),
    "fixed_id": (EP + "fixed_id = 3\n", "endpoints.m.fixed_id: expected a non-empty string"),
    "fixed_created": (
        EP + 'fixed_created = "now"\n',
        "endpoints.m.fixed_created: expected a Unix time",
    ),
    "family": (EP + "family = 3\n", "endpoints.m.family: expected one of openai, anthropic"),
    "foundation_model": (
        EP + 'family = "openai"\nfoundation_model = 3\n',
        "endpoints.m.foundation_model: expected a non-empty string",
    ),
    "external": (EP + 'external = "yes"\n', "endpoints.m.external: expected true or false"),
    "gateway": (EP + 'gateway = "yes"\n', "endpoints.m.gateway: expected true or false"),
    "guardrails": (
        EP + "guardrails = 3\n",
        "endpoints.m.guardrails: expected a list of guardrails",
    ),
    "budget": (EP + "budget = 3\n", "endpoints.m.budget: expected a Budget or a table"),
    "rate_limits": (
        EP + "rate_limits = 3\n",
        "endpoints.m.rate_limits: expected a list of rate limits",
    ),
    "service_policies": (
        EP + "service_policies = 3\n",
        "endpoints.m.service_policies: expected a list of service policies",
    ),
    "usage_log": ("usage_log = 3\n", "usage_log: expected a file path, got int 3"),
    "status": (
        FAULT + 'status = "x"\n',
        "endpoints.m.faults[0].status: expected an HTTP error status",
    ),
    "times": (FAULT + 'times = "x"\n', "endpoints.m.faults[0].times: expected a whole number >= 1"),
    "probability": (
        FAULT + 'probability = "x"\n',
        "endpoints.m.faults[0].probability: expected a number from 0 to 1",
    ),
    "retry_after": (
        FAULT + 'retry_after = "x"\n',
        "endpoints.m.faults[0].retry_after: expected a number >= 0",
    ),
    "latency": (FAULT + 'latency = "x"\n', "endpoints.m.faults[0].latency: expected a number >= 0"),
    "drop_after": (
        FAULT + 'drop_after = "x"\n',
        "endpoints.m.faults[0].drop_after: expected a whole number >= 0",
    ),
    "chunk_delay": (
        FAULT + 'chunk_delay = "x"\n',
        "endpoints.m.faults[0].chunk_delay: expected a number >= 0",
    ),
    "body": (
        FAULT + "body = 3\n",
        "endpoints.m.faults[0].body: expected one of garbage, wrong_shape",
    ),
}

# right type, wrong value: ranges, choices, unknown keys, cross-field rules
BAD_VALUES: dict[str, tuple[str, str]] = {
    "empty token": ('token = ""\n', "token: expected a token"),
    "token with a space": ('token = "a b"\n', "token: expected a token"),
    "zero lifetime": ("token_lifetime = 0\n", "token_lifetime: expected a number > 0, got int 0"),
    "infinite lifetime": (
        "token_lifetime = inf\n",
        "token_lifetime: expected a number > 0, got float inf",
    ),
    "negative expires_in": (
        "token_expires_in = -1\n",
        "token_expires_in: expected a whole number >= 0",
    ),
    "empty secret": ('[oauth_clients]\nc = ""\n', "oauth_clients.c: expected a non-empty string"),
    "unknown top key": ('tokn = "x"\n', "unknown key 'tokn' (did you mean 'token'?); known: "),
    "empty endpoint name": (
        '[endpoints.""]\nmodel = "echo"\n',
        'endpoints."": expected a non-empty string',
    ),
    "unknown endpoint key": (
        EP + 'modle = "echo"\n',
        "endpoints.m: unknown key 'modle' (did you mean 'model'?)",
    ),
    "unknown model": (
        EP + 'model = "scriptd"\n',
        "endpoints.m.model: unknown model 'scriptd' (did you mean 'scripted'?)",
    ),
    "unknown family": (EP + 'family = "mistral"\n', "endpoints.m.family: unknown family 'mistral'"),
    "external without family": (
        EP + "external = true\n",
        "endpoints.m.external: external needs a family",
    ),
    "foundation_model without family": (
        EP + 'foundation_model = "x"\n',
        "endpoints.m.foundation_model: foundation_model needs a family",
    ),
    "negative fixed_created": (
        EP + "fixed_created = -1\n",
        "endpoints.m.fixed_created: expected a Unix time",
    ),
    "bad regex": (
        EP + 'rules = [{match = "(", reply = "r"}]\n',
        "endpoints.m.rules[0].match: not a valid regular expression",
    ),
    "rule without reply": (
        EP + 'rules = [{match = "m"}]\n',
        "endpoints.m.rules[0]: missing 'reply'",
    ),
    "unknown rule key": (
        EP + 'rules = [{mach = "m", reply = "r"}]\n',
        "endpoints.m.rules[0]: unknown key 'mach' (did you mean 'match'?)",
    ),
    "status 600": (
        FAULT + "status = 600\n",
        "endpoints.m.faults[0].status: expected an HTTP error status (a whole number from 400 to 599), got int 600",
    ),
    "status 200": (
        FAULT + "status = 200\n",
        "endpoints.m.faults[0].status: expected an HTTP error status",
    ),
    "status true": (
        FAULT + "status = true\n",
        "endpoints.m.faults[0].status: expected an HTTP error status",
    ),
    "times 0": (
        FAULT + "times = 0\n",
        "endpoints.m.faults[0].times: expected a whole number >= 1, got int 0",
    ),
    "probability 1.5": (
        FAULT + "probability = 1.5\n",
        "endpoints.m.faults[0].probability: expected a number from 0 to 1",
    ),
    "negative retry_after": (
        FAULT + "retry_after = -1\n",
        "endpoints.m.faults[0].retry_after: expected a number >= 0",
    ),
    "nan latency": (
        FAULT + "latency = nan\n",
        "endpoints.m.faults[0].latency: expected a number >= 0",
    ),
    "negative drop_after": (
        FAULT + "drop_after = -1\n",
        "endpoints.m.faults[0].drop_after: expected a whole number >= 0",
    ),
    "negative chunk_delay": (
        FAULT + "chunk_delay = -0.5\n",
        "endpoints.m.faults[0].chunk_delay: expected a number >= 0",
    ),
    "unknown body": (
        FAULT + 'body = "garbge"\n',
        "endpoints.m.faults[0].body: unknown fault body 'garbge' (did you mean 'garbage'?)",
    ),
    "unknown fault key": (
        FAULT + "statuss = 429\n",
        "endpoints.m.faults[0]: unknown fault key 'statuss' (did you mean 'status'?)",
    ),
}


@pytest.fixture
def never_served(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail fast, without binding a port, if a bad configuration gets as far as serving."""

    def refuse(self: LocalWorkspace) -> None:
        raise AssertionError("a bad configuration reached bind()")

    monkeypatch.setattr(LocalWorkspace, "bind", refuse)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "local.toml"
    path.write_text(text)
    return path


def assert_one_line(stderr: str, path: Path, message: str) -> None:
    assert stderr.startswith(f"error: {path}: {message}"), stderr
    assert stderr.endswith("\n")
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(("text", "message"), WRONG_TYPES.values(), ids=list(WRONG_TYPES))
def test_serve_wrong_type_is_one_line_and_exit_2(
    tmp_path: Path, never_served: None, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--config", str(path)])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2
    assert result.stdout == ""
    assert_one_line(result.stderr, path, message)


@pytest.mark.parametrize(("text", "message"), BAD_VALUES.values(), ids=list(BAD_VALUES))
def test_serve_bad_value_is_one_line_and_exit_2(
    tmp_path: Path, never_served: None, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--config", str(path)])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2
    assert_one_line(result.stderr, path, message)


def test_wrong_type_table_covers_every_key() -> None:
    keys = {key.split("[")[0] for key in WRONG_TYPES} - {"oauth_clients.ID", "endpoints.NAME"}
    assert keys == {*FILE_KEYS, *ENDPOINT_KEYS, *FAULT_KEYS, *RULE_KEYS}


def test_the_config_error_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, FAULT + "probability = 2\n")
    with pytest.raises(ConfigError) as info:
        LocalWorkspace(config=path)
    assert (info.value.path, info.value.key) == (str(path), "endpoints.m.faults[0].probability")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            WRONG_TYPES["endpoints"][0],
            "endpoints: expected tables like [endpoints.NAME], got int 3",
        ),
        (
            WRONG_TYPES["token"][0],
            "token: expected a token (visible ASCII characters, no spaces), got int 5",
        ),
        (WRONG_TYPES["token_lifetime"][0], "token_lifetime: expected a number > 0, got str 'x'"),
        (WRONG_TYPES["status"][0], "endpoints.m.faults[0].status: expected an HTTP error status"),
    ],
    ids=["endpoints", "token", "token_lifetime", "status"],
)
def test_the_chatport_command_prints_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    result = subprocess.run(
        [CHATPORT, "serve", "--port", "0", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert_one_line(result.stderr, path, message)


def test_non_utf8_file_is_one_line(tmp_path: Path, never_served: None) -> None:
    path = tmp_path / "local.toml"
    path.write_bytes(b'token = "\xff"\n')
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--config", str(path)])
    assert result.exit_code == 2
    assert_one_line(result.stderr, path, "not UTF-8 text")


# -- a valid file, with every key, still serves -------------------------------------------

VALID = """\
token = "dapi-valid-file"
default_endpoints = false
token_lifetime = 60
token_expires_in = 30
usage_log = "usage.jsonl"

[oauth_clients]
file-client = "file-secret"

[endpoints.m]
model = "scripted"
served_model_name = "served-m"
omit_usage = true
null_id = false
signature = false
replies = ["from the file"]
rules = [{ match = "^weather", reply = "Sunny." }]
task = "llm/v1/chat"
fixed_id = "chatcmpl-fixed"
fixed_created = 1700000000
family = "openai"
foundation_model = "databricks-gpt-5"
external = false
gateway = true
guardrails = [{ name = "no-codenames", stage = "input", action = "block", pattern = "^never$" }]
budget = { name = "team", after = 1000 }
rate_limits = [{ kind = "rpm", after = 1000 }]
service_policies = [{ name = "no-codenames", stage = "input", pattern = "^never$" }]

[[endpoints.m.faults]]
status = 503
times = 1
probability = 1
retry_after = 2
latency = 0
drop_after = 0
chunk_delay = 0

[[endpoints.m.faults]]
body = "garbage"
times = 2
"""


def test_valid_file_uses_every_key(tmp_path: Path) -> None:
    data = tomllib.loads(VALID)
    spec = data["endpoints"]["m"]
    faults = {key for fault in spec["faults"] for key in fault}
    assert set(data) == set(FILE_KEYS)
    assert set(spec) == set(ENDPOINT_KEYS)
    assert faults == set(FAULT_KEYS)
    with LocalWorkspace(config=write(tmp_path, VALID)) as ws:
        assert ws.usage == []  # the usage log file is beside the workspace file
        endpoint = ws.endpoint("m")
        assert [e.name for e in ws.endpoints] == ["m"]
        assert endpoint.faults[0] == Fault(503, 1, 1.0, 2.0, 0.0, 0, 0.0)
        assert endpoint.rules == [("^weather", "Sunny.")]
        headers = {"Authorization": "Bearer dapi-valid-file"}
        url = f"{ws.url}/serving-endpoints/m/invocations"
        body = {"messages": [{"role": "user", "content": "weather?"}]}
        first = httpx.post(url, json=body, headers=headers)  # both faults fire: 503 wins
        assert (first.status_code, first.headers["retry-after"]) == (503, "2")
        garbage = httpx.post(url, json=body, headers=headers)  # the second fault's 2nd time
        assert garbage.status_code == 200
        with pytest.raises(ValueError, match="Expecting value"):
            garbage.json()
        answer = httpx.post(url, json=body, headers=headers).json()
        assert answer["choices"][0]["message"]["content"] == "Sunny."
        assert (answer["id"], answer["created"]) == ("chatcmpl-fixed", 1700000000)
    assert (tmp_path / "usage.jsonl").read_text().count("\n") == 3


def test_serve_with_a_valid_file_answers_and_stops(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    process = subprocess.Popen(
        [CHATPORT, "serve", "--port", "0", "--config", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("chatport local workspace on http://127.0.0.1:"), first
        url = first.split(" on ", 1)[1].strip()
        banner = [process.stdout.readline() for _ in range(3)]
        assert banner[2] == "  endpoints: m\n"
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.post(
                    f"{url}/serving-endpoints/m/invocations",
                    json={"messages": [{"role": "user", "content": "hi"}]},
                    headers={"Authorization": "Bearer dapi-valid-file"},
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert answer.status_code == 503  # the file's first fault, once
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


# -- the same checks in code --------------------------------------------------------------

BAD_ARGUMENTS: dict[str, tuple[dict[str, Any], str]] = {
    "endpoints": ({"endpoints": [3]}, "endpoints[0]: expected an Endpoint, got int 3"),
    "endpoints as a string": ({"endpoints": "m"}, "endpoints: expected an iterable"),
    "config": ({"config": 3}, "config: expected a file path, got int 3"),
    "host": ({"host": 3}, "host: expected a non-empty string, got int 3"),
    "port": ({"port": "80"}, "port: expected a whole number from 0 to 65535, got str '80'"),
    "port range": ({"port": 70000}, "port: expected a whole number from 0 to 65535"),
    "token": ({"token": 5}, "token: expected a token"),
    "empty token": ({"token": ""}, "token: expected a token"),
    "oauth_clients": ({"oauth_clients": {"c": 5}}, "oauth_clients.c: expected a non-empty string"),
    "token_lifetime": ({"token_lifetime": "x"}, "token_lifetime: expected a number > 0"),
    "token_expires_in": (
        {"token_expires_in": 1.5},
        "token_expires_in: expected a whole number >= 0",
    ),
    "default_endpoints": ({"default_endpoints": "no"}, "default_endpoints: expected true or false"),
    "log_path": ({"log_path": 3}, "log_path: expected a file path"),
    "usage_log": ({"usage_log": 3}, "usage_log: expected a file path"),
    "seed": ({"seed": "x"}, "seed: expected a whole number"),
    "log_level": ({"log_level": "loud"}, "log_level: unknown log level 'loud'"),
    "max_logged": ({"max_logged": 0}, "max_logged: expected a whole number >= 1"),
    "log_bodies": ({"log_bodies": "yes"}, "log_bodies: expected true or false"),
    "max_body": ({"max_body": 0}, "max_body: expected a whole number >= 1"),
    "header_timeout": ({"header_timeout": 0}, "header_timeout: expected a number > 0"),
    "idle_timeout": ({"idle_timeout": float("nan")}, "idle_timeout: expected a number > 0"),
}


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGUMENTS.values(), ids=list(BAD_ARGUMENTS))
def test_bad_argument_raises_before_binding(
    never_served: None, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        LocalWorkspace(**kwargs).start()
    assert str(info.value).startswith(message), info.value
    assert info.value.key == message.split(":")[0]
    assert "\n" not in str(info.value)


def test_argument_table_covers_every_parameter() -> None:
    covered = {name for kwargs, _ in BAD_ARGUMENTS.values() for name in kwargs}
    assert covered == set(inspect.signature(LocalWorkspace).parameters)


def test_valid_arguments_still_work(tmp_path: Path) -> None:
    with LocalWorkspace(
        [Endpoint("extra", "echo")],
        token=None,
        oauth_clients={},
        token_lifetime=1,
        token_expires_in=0,
        log_path=tmp_path / "log.jsonl",
        seed=-3,
        log_level="error",
        max_logged=1,
        log_bodies=True,
        max_body=1,
        header_timeout=0.5,
        idle_timeout=2,
    ) as ws:
        assert ws.token is None
        assert "extra" in {e.name for e in ws.endpoints}


@pytest.mark.parametrize("field", FAULT_KEYS)
def test_fault_field_of_the_wrong_type_is_refused(field: str) -> None:
    wrong = 3 if field == "body" else "x"
    with pytest.raises(ConfigError) as info:
        Fault(**{field: wrong})
    assert info.value.key == f"Fault.{field}"
    assert str(info.value).startswith(f"Fault.{field}: expected ")


@pytest.mark.parametrize(
    ("build", "key"),
    [
        (lambda: Fault.error(600), "Fault.status"),
        (lambda: Fault.error("500"), "Fault.status"),
        (lambda: Fault.rate_limit(times=0), "Fault.times"),
        (lambda: Fault.rate_limit(retry_after=-1), "Fault.retry_after"),
        (lambda: Fault.error(503, probability=2), "Fault.probability"),
        (lambda: Fault.slow(-1), "Fault.latency"),
        (lambda: Fault.drop_stream(-1), "Fault.drop_after"),
        (lambda: Fault.slow_stream(float("inf")), "Fault.chunk_delay"),
    ],
)
def test_fault_constructors_check_their_values(build: Any, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.key == key


def test_a_fault_stays_valid_after_construction() -> None:
    fault = Fault.rate_limit()
    with pytest.raises(ConfigError, match=r"^Fault\.status: "):
        fault.status = "x"  # type: ignore[assignment]
    assert fault.status == 429
    assert Fault(probability=1).probability == 1.0  # a TOML integer is a number


def test_set_faults_refuses_anything_but_faults(never_served: None) -> None:
    ws = LocalWorkspace()
    before = [Fault.garbage()]
    ws.set_faults("databricks-gpt-5", *before)
    with pytest.raises(ConfigError, match=r"^faults\[1\]: expected a Fault, got dict"):
        ws.set_faults("databricks-gpt-5", Fault.slow(0), {"status": 429})  # type: ignore[arg-type]
    assert ws.endpoint("databricks-gpt-5").faults == before


@pytest.mark.parametrize(
    "field", [f.name for f in dataclasses.fields(Endpoint) if not f.name.startswith("_")]
)
def test_endpoint_field_of_the_wrong_type_is_refused(field: str) -> None:
    if field == "name":
        with pytest.raises(ConfigError, match=r"^Endpoint\.name: expected a non-empty string"):
            Endpoint(3)  # type: ignore[arg-type]
        return
    wrong: Any = object() if field in ("replies", "rules", "faults") else 1.5
    with pytest.raises(ConfigError) as info:
        Endpoint("m", **{field: wrong})
    assert info.value.key == f"endpoints.m.{field}"


def test_endpoint_rules_and_options_are_checked(never_served: None) -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\]\[0\]: not a valid regular expression"):
        Endpoint("m", "scripted", rules=[("(", "reply")])
    with pytest.raises(ConfigError, match=r"faults\[0\]: expected a Fault, got int 429"):
        Endpoint("m", faults=[429])  # type: ignore[list-item]
    ws = LocalWorkspace()
    with pytest.raises(
        ConfigError, match="unknown option 'omit_usge' \\(did you mean 'omit_usage'"
    ):
        ws.add_endpoint("new", omit_usge=True)
    with pytest.raises(ConfigError, match=r"endpoints\.new\.fixed_created: expected a Unix time"):
        ws.add_endpoint("new", fixed_created="now")
    assert "new" not in {e.name for e in ws.endpoints}
