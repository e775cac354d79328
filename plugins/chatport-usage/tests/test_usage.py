"""Tests for chatport-usage, loaded through its real entry point."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chatport_jsonl_log
import chatport_usage
import pytest
from click.testing import CliRunner

import chatport
from chatport.cli import cli
from chatport.local import LocalWorkspace
from chatport.testing import FakeBackend

PACKAGE = Path(chatport_usage.__file__).parent


@pytest.fixture(autouse=True)
def _fresh_tally() -> Iterator[None]:
    chatport_usage.reset()
    yield
    chatport_usage.reset()


def _fake(client: chatport.Client) -> FakeBackend:
    backend = client.backend()
    assert isinstance(backend, FakeBackend)
    return backend


def _answer(model: str, **usage: int) -> chatport.Completion:
    return chatport.Completion(
        text="ok", model=model, finish_reason="stop", usage=chatport.Usage(**usage)
    )


def _rows(summary: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["backend"], row["model"]): row for row in summary["rows"]}


def test_listed_as_a_plugin_with_its_hooks() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = [row for row in json.loads(result.output) if row["name"] == "usage"]
    assert row["package"] == "chatport-usage"
    assert row["hooks"] == [
        "chatport_after_completion",
        "chatport_call_end",
        "chatport_on_error",
        "chatport_plugin_settings",
        "chatport_register_commands",
    ]


def test_every_shipped_price_says_where_and_when() -> None:
    prices = chatport_usage.shipped_prices()
    assert prices
    for model, price in prices.items():
        assert price.source.startswith("https://"), model
        assert price.as_of, model
        assert price.input > 0
        assert price.output > 0


def test_tokens_and_cost_per_backend_and_model() -> None:
    model = "databricks-claude-sonnet-4-5"
    price = chatport_usage.shipped_prices()[model]
    with chatport.Client(backend="fake", config={"max_retries": 1}) as client:
        _fake(client).enqueue(
            _answer(
                model,
                prompt_tokens=1000,
                completion_tokens=300,
                reasoning_tokens=200,
                cached_tokens=400,
            ),
            chatport.RateLimitError("slow", status_code=429),
            _answer(model, prompt_tokens=500, completion_tokens=100),
            _answer("my-endpoint", prompt_tokens=7, completion_tokens=5),
        )
        client.complete("a", model=model)
        client.complete("b", model=model)  # one failed attempt, then an answer
        client.complete("c", model="my-endpoint")
    summary = chatport_usage.report(chatport.load_config({}))
    rows = _rows(summary)
    claude = rows[("fake", model)]
    assert (claude["calls"], claude["errors"]) == (2, 1)
    assert claude["prompt_tokens"] == 1500
    assert claude["cached_tokens"] == 400
    assert claude["completion_tokens"] == 400
    assert claude["reasoning_tokens"] == 200
    assert claude["total_tokens"] == 1900
    assert price.cached_input is not None
    expected = (1100 * price.input + 400 * price.cached_input + 400 * price.output) / 1e6
    assert claude["cost_usd"] == pytest.approx(expected)
    assert claude["price"]["source"] == price.source
    # an unknown model is unpriced, never free, and the total says so
    mine = rows[("fake", "my-endpoint")]
    assert mine["priced"] is False
    assert mine["cost_usd"] is None
    assert summary["total"]["unpriced_models"] == ["my-endpoint"]
    assert summary["total"]["cost_usd"] == pytest.approx(expected)
    assert summary["total"]["calls"] == 3


def test_config_prices_override_and_add(tmp_path: Path) -> None:
    path = tmp_path / "chatport.toml"
    path.write_text(
        '[plugins.usage.prices."databricks-gpt-5"]\ninput = 10\noutput = 20\n'
        '[plugins.usage.prices."my-endpoint"]\ninput = 1.5\noutput = 2.5\ncached_input = 0.5\n'
    )
    config = chatport.load_config(path)
    prices = chatport_usage.load_prices(config)
    assert (prices["databricks-gpt-5"].input, prices["databricks-gpt-5"].output) == (10, 20)
    assert str(path) in prices["my-endpoint"].source
    shipped = chatport_usage.shipped_prices()
    assert prices["databricks-claude-sonnet-4-5"] == shipped["databricks-claude-sonnet-4-5"]
    assert prices["my-endpoint"].cost(prompt=10, cached=4, completion=2) == pytest.approx(
        (6 * 1.5 + 4 * 0.5 + 2 * 2.5) / 1e6
    )


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('input = "3"\noutput = 1', "plugins.usage.prices.m.input"),
        ("input = -1\noutput = 1", "plugins.usage.prices.m.input"),
        ("input = 1", "plugins.usage.prices.m.output"),
        ("input = 1\noutput = 1\ncache = 1", "plugins.usage.prices.m.cache"),
    ],
)
def test_bad_prices_name_the_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str, key: str
) -> None:
    path = tmp_path / "chatport.toml"
    path.write_text(f"[plugins.usage.prices.m]\n{table}\n")
    with pytest.raises(chatport.ConfigError) as caught:
        chatport_usage.load_prices(chatport.load_config(path))
    assert caught.value.key == key
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["usage"])
    assert result.exit_code == 2
    assert key in result.output
    assert str(path) in result.output or "chatport.toml" in result.output
    assert "Traceback" not in result.output


def test_usage_command_reads_a_jsonl_log_of_real_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_workspace: LocalWorkspace
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chatport.toml").write_text('[plugins.jsonl-log]\npath = "calls.jsonl"\n')
    with chatport.Client(backend="openai") as client:
        client.complete("one two three", model="databricks-gpt-5")
        client.complete("four five", model="databricks-claude-sonnet-4-5")
        "".join(c.text for c in client.stream("six", model="databricks-gpt-5"))
    assert chatport_jsonl_log.flush(timeout=30)
    here = chatport_usage.report()
    result = CliRunner().invoke(cli, ["usage", "--json"])  # the configured log by default
    assert result.exit_code == 0, result.output
    logged = json.loads(result.output)
    assert logged["source"] == "calls.jsonl"
    assert logged["rows"] == here["rows"]  # the log and this process agree
    gpt = _rows(logged)[("openai", "databricks-gpt-5")]
    assert gpt["calls"] == 2
    assert gpt["prompt_tokens"] > 0
    assert gpt["priced"] is True
    table = CliRunner().invoke(cli, ["usage", "calls.jsonl"]).output
    assert "databricks-claude-sonnet-4-5" in table
    assert "from calls.jsonl" in table


def test_usage_command_without_log_reports_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with chatport.Client(backend="fake", config={}) as client:
        client.complete("hello there", model="not-in-the-table")
    result = CliRunner().invoke(cli, ["usage"])
    assert result.exit_code == 0, result.output
    assert "this process's calls" in result.output
    line = next(line for line in result.output.splitlines() if "not-in-the-table" in line)
    assert line.split()[-1] == "unpriced"
    assert "unknown, not free): not-in-the-table" in result.output


def test_a_damaged_log_is_read_around(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    good = {"event": "completion", "backend": "rest", "model": "m", "usage": {"prompt_tokens": 2}}
    error = {"event": "error", "backend": "rest", "model": "m", "usage": None}
    log.write_text("\n".join([json.dumps(good), "{torn", "[1]", json.dumps(error), ""]))
    result = CliRunner().invoke(cli, ["usage", str(log), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["skipped_lines"] == 2
    (row,) = summary["rows"]
    assert (row["calls"], row["errors"], row["prompt_tokens"]) == (1, 1, 2)


def test_a_missing_log_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["usage", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_uses_chatport_public_api_only() -> None:
    for source in PACKAGE.glob("*.py"):
        text = source.read_text()
        assert "chatport._" not in text, source
        assert "from chatport import _" not in text, source


def test_abandoned_streams_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_workspace: LocalWorkspace
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chatport.toml").write_text('[plugins.jsonl-log]\npath = "calls.jsonl"\n')
    with chatport.Client(backend="rest") as client:
        for _ in range(5):  # each stream is left after its first chunk
            stream = client.stream("one two three four five six", model="databricks-gpt-5")
            assert next(iter(stream)).text
            stream.close()  # type: ignore[attr-defined]
        client.complete("a whole call", model="databricks-gpt-5")
    assert chatport_jsonl_log.flush(timeout=30)
    here = _rows(chatport_usage.report())[("rest", "databricks-gpt-5")]
    assert (here["calls"], here["abandoned"]) == (1, 5)
    result = CliRunner().invoke(cli, ["usage", "--json"])  # the configured log
    assert result.exit_code == 0, result.output
    logged = json.loads(result.stdout)
    assert logged["rows"] == chatport_usage.report()["rows"]  # the log and this process agree
    assert logged["total"]["abandoned"] == 5
    table = CliRunner().invoke(cli, ["usage", "calls.jsonl"]).stdout
    assert "5 call(s) abandoned before their end" in table


def _record(**usage: object) -> str:
    record = {"event": "completion", "backend": "rest", "model": "databricks-gpt-5"}
    return json.dumps({**record, "usage": usage})


def test_token_counts_that_are_not_whole_numbers_are_skipped_and_named(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    lines = [
        _record(prompt_tokens=1000, completion_tokens=10),
        _record(prompt_tokens=int("9" * 400), completion_tokens=1),  # 400 digits
        _record(prompt_tokens=-5, completion_tokens=1),
        _record(prompt_tokens=1.5, completion_tokens=1),
        _record(prompt_tokens=True, completion_tokens=1),
        _record(prompt_tokens="12", completion_tokens=1),
        '{"event": "completion", "backend": "rest", "model": "databricks-gpt-5", '
        '"usage": {"prompt_tokens": 1e400, "completion_tokens": NaN}}',
    ]
    log.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["usage", str(log), "--json"])
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    summary = json.loads(result.stdout)
    assert summary["skipped_lines"] == 6
    (row,) = summary["rows"]
    assert (row["calls"], row["prompt_tokens"], row["completion_tokens"]) == (1, 1000, 10)
    price = chatport_usage.shipped_prices()["databricks-gpt-5"]
    assert row["cost_usd"] == pytest.approx(price.cost(prompt=1000, cached=0, completion=10))
    note = result.stderr
    assert note.startswith(f"6 line(s) of {log} were skipped (line 2: prompt_tokens is not a ")
    assert "line 6: prompt_tokens" in note
    assert note.rstrip().endswith("; and 1 more)")  # five are named, not all
    table = CliRunner().invoke(cli, ["usage", str(log)])
    assert table.exit_code == 0, f"{table.output}{table.exception!r}"
    assert "Traceback" not in table.output


def test_a_deeply_nested_log_line_is_skipped(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    log.write_text(_record(prompt_tokens=3) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    result = CliRunner().invoke(cli, ["usage", str(log), "--json"])
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    summary = json.loads(result.stdout)
    assert summary["skipped_lines"] == 1
    assert summary["rows"][0]["prompt_tokens"] == 3
    assert "line 2: nested too deeply" in result.stderr


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("evil\x1b]0;pwned\x07-\u202emodel\x9b", "evil]0;pwned-model"),
        ("half\ud800char", "halfchar"),
    ],
    ids=["escape-sequences", "lone-surrogate"],
)
def test_control_characters_in_a_log_are_never_printed(
    tmp_path: Path, model: str, shown: str
) -> None:
    log = tmp_path / "calls\x1b[31m.jsonl"
    record = {
        "event": "completion",
        "backend": "rest",
        "model": model,
        "usage": {"prompt_tokens": 2, "completion_tokens": 1},
    }
    log.write_text(json.dumps(record) + "\nnot json\n")
    result = CliRunner().invoke(cli, ["usage", str(log)])
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    printed = result.stdout + result.stderr
    for control in ("\x1b", "\x07", "\x9b", "\u202e", "\ud800"):
        assert control not in printed
    assert shown in result.stdout
    assert "calls[31m.jsonl" in result.stdout  # the source, named without its escape
    assert "line 2: not JSON" in result.stderr
    as_json = CliRunner().invoke(cli, ["usage", str(log), "--json"])
    assert json.loads(as_json.stdout)["rows"][0]["model"] == model  # JSON escapes instead


# -- a local workspace usage log, grouped by request tag -----------------------------------


def _usage_line(endpoint: str, status: int, tokens: int | None, **tags: str) -> str:
    record = {
        "request_id": "r",
        "event_time": "2026-11-20T09:00:00.000+00:00",
        "endpoint_name": endpoint,
        "route": f"/serving-endpoints/{endpoint}/invocations",
        "status_code": status,
        "input_tokens": tokens,
        "output_tokens": tokens,
        "total_tokens": None if tokens is None else 2 * tokens,
        "latency_ms": 1,
        "request_tags": tags,
    }
    return json.dumps(record) + "\n"


def test_a_workspace_usage_log_is_read_and_grouped_by_tag(tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    log.write_text(
        _usage_line("bot", 200, 10, team="ml")
        + _usage_line("bot", 200, 5, team="ml", project="x")
        + _usage_line("bot", 429, None, team="ops")
        + _usage_line("bot", 200, 1)
    )
    plain = CliRunner().invoke(cli, ["usage", str(log), "--json"])
    assert plain.exit_code == 0, plain.output
    (row,) = json.loads(plain.output)["rows"]
    assert (row["backend"], row["model"], row["calls"], row["errors"]) == ("workspace", "bot", 3, 1)
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (16, 16, 32)

    grouped = CliRunner().invoke(cli, ["usage", str(log), "--by-tag", "team", "--json"])
    assert grouped.exit_code == 0, grouped.output
    summary = json.loads(grouped.output)
    assert summary["by_tag"] == "team"
    rows = {
        (r["tag"], r["model"]): (r["calls"], r["errors"], r["prompt_tokens"])
        for r in summary["rows"]
    }
    assert rows == {
        ("ml", "bot"): (2, 0, 15),
        ("ops", "bot"): (0, 1, 0),
        ("(untagged)", "bot"): (1, 0, 1),
    }
    table = CliRunner().invoke(cli, ["usage", str(log), "--by-tag", "team"])
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[0].startswith("tag team")


def test_by_tag_on_a_log_without_tags_says_so(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    record = {"event": "completion", "backend": "rest", "model": "m", "usage": None}
    log.write_text(json.dumps(record) + "\n")
    result = CliRunner().invoke(cli, ["usage", str(log), "--by-tag", "team"])
    assert result.exit_code == 2
    assert "records no request tags" in result.output
    assert "--usage-log" in result.output


def test_a_workspace_record_with_bad_counts_is_skipped(tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    bad = json.loads(_usage_line("bot", 200, 3))
    bad["input_tokens"] = "many"
    log.write_text(json.dumps(bad) + "\n" + _usage_line("bot", 200, 2, team="ml"))
    result = CliRunner().invoke(cli, ["usage", str(log), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped_lines"] == 1
    assert "line 1: prompt_tokens is not a whole number" in result.stderr
