"""Unity AI Gateway request tags: sent as the documented header by every backend, sync,
async, streamed and async-streamed; merged over the configured tags; refused before
sending when malformed; passed through batches; recorded in the local usage log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import chatport
from chatport.cli import cli
from chatport.local import Endpoint, LocalWorkspace

from ..backends import BUILT_IN

MODEL = "tags-echo"
CLAUDE = "tags-claude"
HEADER = "databricks-ai-gateway-request-tags"
TOKEN = "dapi-tags-" + "0123456789abcdef0123456789abcdef"
TAGS = {"project": "chatbot", "team": "ml-platform", "note": 'é "quoted" ✓'}


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    return {
        "endpoints": [Endpoint(MODEL, "echo"), Endpoint(CLAUDE, "echo", family="anthropic")],
        "token": TOKEN,
    }


@pytest.fixture
def ws(module_workspace: LocalWorkspace, workdir: Path) -> LocalWorkspace:
    module_workspace.clear_usage()
    return module_workspace


def model_calls(ws: LocalWorkspace) -> list[Any]:
    return [r for r in ws.requests if r.method == "POST" and not r.path.startswith("/api/")]


def run(client: chatport.Client, mode: str, **params: Any) -> str:
    if mode == "sync":
        return client.complete("hello tags", model=MODEL, **params).text
    if mode == "stream":
        return "".join(c.text or "" for c in client.stream("hello tags", model=MODEL, **params))

    async def go() -> str:
        if mode == "async":
            return (await client.acomplete("hello tags", model=MODEL, **params)).text
        stream = client.astream("hello tags", model=MODEL, **params)
        return "".join([c.text or "" async for c in stream])

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
@pytest.mark.parametrize("backend", BUILT_IN)
def test_every_backend_sends_the_header_with_exactly_the_tags(
    ws: LocalWorkspace, backend: str, mode: str
) -> None:
    with chatport.Client(backend=backend, max_retries=0) as client:
        assert run(client, mode, request_tags=TAGS) == "hello tags"
    (sent,) = model_calls(ws)
    assert json.loads(sent.headers[HEADER]) == TAGS
    assert list(json.loads(sent.headers[HEADER])) == list(TAGS)  # the caller's order
    assert sent.headers[HEADER].isascii()
    assert "request_tags" not in json.dumps(sent.body)  # a header, never a body field
    assert "ml-platform" not in json.dumps(sent.body)
    (record,) = ws.usage
    assert record.request_tags == TAGS
    assert (record.status_code, record.endpoint_name, record.route) == (200, MODEL, sent.path)
    assert record.input_tokens == 2
    assert record.output_tokens == 2
    assert record.total_tokens == 4


@pytest.mark.parametrize("backend", BUILT_IN)
def test_no_tags_no_header(ws: LocalWorkspace, backend: str) -> None:
    with chatport.Client(backend=backend, max_retries=0) as client:
        client.complete("hi", model=MODEL)
    (sent,) = model_calls(ws)
    assert HEADER not in sent.headers
    assert [record.request_tags for record in ws.usage] == [{}]


def test_call_tags_merge_over_the_configured_ones_key_by_key(ws: LocalWorkspace) -> None:
    configured = {"team": "ml", "env": "dev"}
    with chatport.Client(backend="rest", request_tags=configured, max_retries=0) as client:
        client.complete("a", model=MODEL)
        client.complete("b", model=MODEL, request_tags={"env": "prod", "project": "x"})
        client.complete("c", model=MODEL, request_tags={})
    sent = [json.loads(r.headers[HEADER]) for r in model_calls(ws)]
    assert sent == [configured, {"team": "ml", "env": "prod", "project": "x"}, configured]
    assert [r.request_tags for r in ws.usage] == sent


def test_tags_from_the_config_file_and_a_profile(ws: LocalWorkspace, workdir: Path) -> None:
    (workdir / "chatport.toml").write_text(
        '[request_tags]\nteam = "ml"\n\n[profiles.prod.request_tags]\nenv = "prod"\n'
    )
    chatport.complete("a", backend="openai", model=MODEL)
    chatport.complete("b", backend="openai", model=MODEL, profile="prod", request_tags={"x": "1"})
    assert [r.request_tags for r in ws.usage] == [{"team": "ml"}, {"env": "prod", "x": "1"}]
    shown = CliRunner().invoke(cli, ["config", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["settings"]["request_tags"] == {
        "value": {"team": "ml"},
        "source": str(workdir / "chatport.toml"),
    }


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('request_tags = "team"\n', "request_tags", "expected a table of strings"),
        ("[request_tags]\nteam = 1\n", "request_tags.team", "expected a string, got int 1"),
        (
            "[profiles.p.request_tags]\nteam = true\n",
            "profiles.p.request_tags.team",
            "expected a string",
        ),
    ],
)
def test_a_bad_configured_tag_names_the_file_and_key(
    workdir: Path, text: str, key: str, words: str
) -> None:
    path = workdir / "chatport.toml"
    path.write_text(text)
    with pytest.raises(chatport.ConfigError) as info:
        chatport.Client()
    assert (info.value.path, info.value.key) == (str(path), key)
    assert words in str(info.value)


def test_a_bad_tag_in_code_is_a_config_error_naming_the_setting(workdir: Path) -> None:
    with pytest.raises(chatport.ConfigError) as info:
        chatport.Client(request_tags={"team": 7})
    assert info.value.key == "request_tags.team"


@pytest.mark.parametrize(
    ("tags", "field"),
    [
        ("team=ml", "request_tags"),
        (["team"], "request_tags"),
        ({1: "x"}, "request_tags"),
        ({"": "x"}, 'request_tags[""]'),
        ({"team": 1}, 'request_tags["team"]'),
        ({"team": None}, 'request_tags["team"]'),
        ({"team": "\ud800"}, 'request_tags["team"]'),
    ],
)
@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
def test_bad_tags_are_refused_before_anything_is_sent(
    ws: LocalWorkspace, tags: Any, field: str, mode: str
) -> None:
    with (
        chatport.Client(backend="rest", request_tags={"team": "ml"}) as client,
        pytest.raises(chatport.InvalidRequestError) as info,
    ):
        run(client, mode, request_tags=tags)
    assert info.value.field == field
    assert model_calls(ws) == []
    assert ws.usage == []


def test_the_module_level_calls_take_tags(ws: LocalWorkspace) -> None:
    chatport.complete("a", backend="rest", model=MODEL, request_tags={"k": "1"})
    with pytest.raises(chatport.InvalidRequestError):
        chatport.complete("a", backend="rest", model=MODEL, request_tags={"k": 1})
    assert [r.request_tags for r in ws.usage] == [{"k": "1"}]


def test_a_request_holds_its_tags_read_only() -> None:
    tags = {"team": "ml"}
    request = chatport.ChatRequest.build("hi", model=MODEL, request_tags=tags)
    tags["team"] = "changed"
    assert dict(request.request_tags) == {"team": "ml"}
    with pytest.raises(TypeError):
        request.request_tags["team"] = "x"  # type: ignore[index]
    assert "request_tags" not in request.to_dict()


def test_map_and_amap_pass_the_tags(ws: LocalWorkspace) -> None:
    own = chatport.ChatRequest.build("own", model=MODEL, request_tags={"row": "own"})
    with chatport.Client(backend="rest", request_tags={"team": "ml"}, max_retries=0) as client:
        results = list(client.map(["a", own], model=MODEL, request_tags={"run": "1"}))
        assert all(result.error is None for result in results)

        async def amap() -> list[Any]:
            inputs = ["b"]
            return [r async for r in client.amap(inputs, model=MODEL, request_tags={"run": "2"})]

        assert all(result.error is None for result in asyncio.run(amap()))
    got = sorted(json.dumps(r.request_tags, sort_keys=True) for r in ws.usage)
    assert got == sorted(
        json.dumps(tags, sort_keys=True)
        for tags in (
            {"team": "ml", "run": "1"},
            {"team": "ml", "row": "own"},  # its own tags replace the map's, not the config's
            {"team": "ml", "run": "2"},
        )
    )


def test_a_batch_file_line_carries_its_tags(ws: LocalWorkspace, workdir: Path) -> None:
    (workdir / "chatport.toml").write_text('[request_tags]\nteam = "ml"\n')
    lines = [
        {"id": 1, "prompt": "one", "request_tags": {"ticket": "T-1"}},
        {"id": 2, "prompt": "two"},
    ]
    (workdir / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = CliRunner().invoke(
        cli, ["batch", "in.jsonl", "-o", "out.jsonl", "-m", MODEL, "-b", "rest"]
    )
    assert result.exit_code == 0, result.output
    tags = sorted(json.dumps(record.request_tags, sort_keys=True) for record in ws.usage)
    assert tags == sorted([json.dumps({"team": "ml"}), json.dumps({"team": "ml", "ticket": "T-1"})])


def test_a_bad_batch_line_tag_is_refused_before_anything_is_sent(
    ws: LocalWorkspace, workdir: Path
) -> None:
    line = {"id": 1, "prompt": "one", "request_tags": {"ticket": 5}}
    (workdir / "in.jsonl").write_text(json.dumps(line) + "\n")
    result = CliRunner().invoke(cli, ["batch", "in.jsonl", "-o", "out.jsonl", "-m", MODEL])
    assert result.exit_code != 0
    assert 'request_tags["ticket"]' in result.output
    assert model_calls(ws) == []


def test_the_anthropic_route_and_the_gateway_routes_record_tags(ws: LocalWorkspace) -> None:
    client = httpx.Client(base_url=ws.url, headers={"Authorization": f"Bearer {TOKEN}"})
    tags = {HEADER: json.dumps({"team": "ml"})}
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    with client:
        assert client.post("/ai-gateway/mlflow/v1/chat/completions", json=chat, headers=tags)
        message = {"model": CLAUDE, "max_tokens": 10, "messages": chat["messages"]}
        assert client.post("/ai-gateway/anthropic/v1/messages", json=message, headers=tags)
        events = client.post(
            "/serving-endpoints/anthropic/v1/messages",
            json={**message, "stream": True},
            headers=tags,
        )
        assert events.status_code == 200
    records = [(r.route, r.endpoint_name, r.request_tags, r.output_tokens) for r in ws.usage]
    assert records == [
        ("/ai-gateway/mlflow/v1/chat/completions", MODEL, {"team": "ml"}, 1),
        ("/ai-gateway/anthropic/v1/messages", CLAUDE, {"team": "ml"}, 1),
        ("/serving-endpoints/anthropic/v1/messages", CLAUDE, {"team": "ml"}, 1),
    ]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("team=ml", "it is not valid JSON"),
        ('["team"]', "it is not a JSON object"),
        ('{"team": 1}', "the value of 'team' is not a string"),
        ('{"": "x"}', "a tag's key is empty"),
    ],
)
def test_a_malformed_header_is_a_400_bad_request(ws: LocalWorkspace, value: str, why: str) -> None:
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=ws.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        answer = client.post(
            f"/serving-endpoints/{MODEL}/invocations", json=chat, headers={HEADER: value}
        )
        claude = client.post(
            "/ai-gateway/anthropic/v1/messages",
            json={"model": CLAUDE, "max_tokens": 5, **chat},
            headers={HEADER: value},
        )
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "BAD_REQUEST"
    assert why in answer.json()["message"]
    assert claude.status_code == 400
    assert claude.json()["type"] == "error"
    assert why in claude.json()["error"]["message"]
    assert [(r.status_code, r.request_tags, r.input_tokens) for r in ws.usage] == [
        (400, {}, None),
        (400, {}, None),
    ]


def test_a_call_with_refused_credentials_is_no_usage(ws: LocalWorkspace) -> None:
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(
        f"{ws.url}/serving-endpoints/{MODEL}/invocations",
        json=chat,
        headers={HEADER: "not json", "Authorization": "Bearer dapi-wrong"},
    )
    assert answer.status_code == 403
    assert ws.usage == []


def test_the_usage_log_file_holds_the_records_and_never_a_token(tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    config = tmp_path / "workspace.toml"
    config.write_text(f'usage_log = "{path}"\n')
    with LocalWorkspace(config=config, token=TOKEN) as ws:
        with chatport.Client(
            backend="rest", host=ws.url, token=TOKEN, allow_insecure_http=True
        ) as client:
            client.complete("hi", model="databricks-gpt-5", request_tags={"team": "ml"})
            list(client.stream("hi", model="databricks-gpt-5"))
        kept = [record.to_dict() for record in ws.usage]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == kept
    assert [line["request_tags"] for line in lines] == [{"team": "ml"}, {}]
    assert set(lines[0]) >= {
        "request_id",
        "event_time",
        "endpoint_name",
        "status_code",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "request_tags",
        "route",
    }
    assert TOKEN not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_usage_groups_the_workspace_log_by_tag(tmp_path: Path, workdir: Path) -> None:
    pytest.importorskip("chatport_usage")
    path = tmp_path / "usage.jsonl"
    with (
        LocalWorkspace(token=TOKEN, usage_log=path) as ws,
        chatport.Client(
            backend="rest", host=ws.url, token=TOKEN, allow_insecure_http=True
        ) as client,
    ):
        for team in ("ml", "ml", "ops"):
            client.complete("two words", model="databricks-gpt-5", request_tags={"team": team})
        client.complete("untagged", model="databricks-gpt-5")
    result = CliRunner().invoke(cli, ["usage", str(path), "--by-tag", "team", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["tag"]: row for row in json.loads(result.output)["rows"]}
    assert sorted(rows) == ["(untagged)", "ml", "ops"]
    assert (rows["ml"]["calls"], rows["ml"]["prompt_tokens"]) == (2, 4)
    assert (rows["ops"]["calls"], rows["ops"]["completion_tokens"]) == (1, 2)
    assert rows["(untagged)"]["calls"] == 1
