"""Tests for the jsonl-log observer plugin, loaded through its real entry point."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import chatport_jsonl_log
import pytest
from click.testing import CliRunner

import chatport
from chatport.cli import cli
from chatport.testing import FakeBackend

CANARY = "dapi-CANARY-0123456789abcdef"


def _client(path: Path, **options: object) -> chatport.Client:
    table = {"path": str(path), **options}
    config = {"max_retries": 0, "plugins": {"jsonl-log": table}}
    return chatport.Client(backend="fake", config=config)


def _lines(path: Path) -> list[dict[str, object]]:
    assert chatport_jsonl_log.flush(timeout=30)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_plugin_is_loaded_from_its_entry_point() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = [row for row in json.loads(result.output) if row["name"] == "jsonl-log"]
    assert row["package"] == "chatport-jsonl-log"
    assert row["hooks"] == [
        "chatport_after_completion",
        "chatport_call_end",
        "chatport_on_error",
        "chatport_plugin_settings",
    ]


def test_files_are_written_off_the_calling_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[str] = []
    append = chatport_jsonl_log._Writer._append

    def spy(self: chatport_jsonl_log._Writer, path: Path, lines: list[bytes]) -> None:
        writers.append(threading.current_thread().name)
        append(self, path, lines)

    monkeypatch.setattr(chatport_jsonl_log._Writer, "_append", spy)
    log = tmp_path / "calls.jsonl"

    async def main() -> None:
        async with _client(log) as client:
            await client.acomplete("async question", model="m")

    asyncio.run(main())
    with _client(log) as client:
        client.complete("sync question", model="m")
    assert len(_lines(log)) == 2
    assert writers
    assert threading.current_thread().name not in writers
    assert set(writers) == {"chatport-jsonl-log"}


def test_lines_are_written_at_exit_without_flush(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    code = (
        "import chatport; c = chatport.Client(backend='fake', config={'max_retries': 0, "
        f"'plugins': {{'jsonl-log': {{'path': {str(log)!r}}}}}}}); "
        "[c.complete(f'q{i}', model='m') for i in range(20)]"
    )
    env = {k: v for k, v in os.environ.items() if k != "CHATPORT_DISABLE_PLUGINS"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(log.read_text().splitlines()) == 20


def test_one_line_per_completion_without_text(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with _client(log) as client:
        client.complete("first question", model="m1")
        client.complete("second question", model="m2", max_tokens=1)
    records = _lines(log)
    assert [r["model"] for r in records] == ["m1", "m2"]
    assert [r["finish_reason"] for r in records] == ["stop", "length"]
    first = records[0]
    assert first["event"] == "completion"
    assert first["backend"] == "fake"
    assert first["error"] is None
    assert first["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    assert isinstance(first["latency_s"], float)
    assert isinstance(first["time"], str)
    assert first["time"].endswith("+00:00")
    assert "question" not in log.read_text()


def test_text_is_logged_only_when_enabled(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with _client(log, log_text=True) as client:
        client.complete("what is up", model="m")
    (record,) = _lines(log)
    assert record["text"] == "what is up"
    assert record["messages"] == [{"role": "user", "content": "what is up"}]


def test_errors_record_class_and_status_never_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
    log = tmp_path / "calls.jsonl"
    with _client(log) as client:
        fake = client.backend()
        assert isinstance(fake, FakeBackend)
        fake.enqueue(chatport.RateLimitError(f"slow down {CANARY}", status_code=429))
        with pytest.raises(chatport.RateLimitError):
            client.complete("hi", model="m")
    (record,) = _lines(log)
    assert record["event"] == "error"
    assert record["error"] == "RateLimitError"
    assert record["status_code"] == 429
    assert CANARY not in log.read_text()


def test_streams_are_logged_once_finished(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with _client(log) as client:
        fake = client.backend()
        assert isinstance(fake, FakeBackend)
        fake.enqueue(["a ", "b"])
        assert "".join(c.text for c in client.stream("x", model="m")) == "a b"
    (record,) = _lines(log)
    assert record["event"] == "completion"


def test_without_path_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with chatport.Client(backend="fake", config={}) as client:
        client.complete("hi", model="m")
    assert chatport_jsonl_log.flush(timeout=30)
    assert list(tmp_path.iterdir()) == []


def test_plugin_tests_get_the_main_suite_isolation(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = Path(os.environ["HOME"])
    assert home.is_relative_to(tmp_path_factory.getbasetemp())
    assert "DATABRICKS_HOST" not in os.environ
    assert "CHATPORT_CONFIG" not in os.environ


def test_text_with_a_lone_surrogate_is_logged_and_so_is_every_later_line(
    tmp_path: Path,
) -> None:
    log = tmp_path / "calls.jsonl"
    with _client(log, log_text=True) as client:
        # a model's answer may hold a lone surrogate (chatport refuses one in a prompt)
        client.backend().enqueue("before", "broken \ud83d emoji", "after")  # type: ignore[attr-defined]
        for prompt in ("one", "two", "three"):
            client.complete(prompt, model="m")
    assert chatport_jsonl_log.flush(timeout=30)  # the writer is alive: it returns True
    records = _lines(log)
    assert [r["text"] for r in records] == ["before", "broken \ud83d emoji", "after"]
    assert records[1]["messages"] == [{"role": "user", "content": "two"}]
    log.read_bytes().decode("utf-8")  # the file is UTF-8 throughout


FLUSH_AFTER_A_SURROGATE = """
import sys
import chatport, chatport_jsonl_log
config = {"max_retries": 0, "plugins": {"jsonl-log": {"path": sys.argv[1], "log_text": True}}}
with chatport.Client(backend="fake", config=config) as client:
    client.backend().enqueue("lone \\udc80 surrogate", "next")  # answers, not prompts
    client.complete("first", model="m")
    client.complete("second", model="m")
print(chatport_jsonl_log.flush())
"""


def test_flush_without_a_timeout_returns_after_any_text(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "CHATPORT_DISABLE_PLUGINS"}
    result = subprocess.run(  # its own process: a writer that hangs cannot hang the suite
        [sys.executable, "-c", FLUSH_AFTER_A_SURROGATE, str(log)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]
    texts = [json.loads(line)["text"] for line in log.read_text().splitlines()]
    assert texts == ["lone \udc80 surrogate", "next"]


FLUSH_WHILE_STUCK = """
import os, sys
import chatport, chatport_jsonl_log
fifo = sys.argv[1]
os.mkfifo(fifo)  # opening it to write waits for a reader: the writer thread is stuck
config = {"max_retries": 0, "plugins": {"jsonl-log": {"path": fifo}}}
with chatport.Client(backend="fake", config=config) as client:
    client.complete("hello", model="m")
print(chatport_jsonl_log.flush(timeout=0.5))
reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader comes: the writer goes on
print(chatport_jsonl_log.flush(timeout=30))
print(os.read(reader, 65536).decode().count('"event": "completion"'))
"""


def test_flush_returns_within_its_timeout_while_the_writer_is_stuck(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHATPORT_DISABLE_PLUGINS"}
    result = subprocess.run(
        [sys.executable, "-c", FLUSH_WHILE_STUCK, str(tmp_path / "calls.fifo")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "1"]


def test_a_new_log_file_is_private_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the common umask: a file created without a mode is 0644
    try:
        new, shared = tmp_path / "logs" / "new.jsonl", tmp_path / "shared.jsonl"
        shared.write_text("")
        shared.chmod(0o644)
        with _client(new) as client:
            client.complete("hi", model="m")
        with _client(shared) as client:
            client.complete("hi", model="m")
        assert chatport_jsonl_log.flush(timeout=30)
    finally:
        os.umask(previous)
    assert new.stat().st_mode & 0o777 == 0o600
    assert shared.stat().st_mode & 0o777 == 0o644
    assert len(shared.read_text().splitlines()) == 1


def test_an_abandoned_stream_is_logged(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    with _client(log, log_text=True) as client:
        fake = client.backend()
        assert isinstance(fake, FakeBackend)
        fake.enqueue(["first ", "second ", "third"])
        stream = client.stream("x", model="m")
        assert next(iter(stream)).text == "first "
        stream.close()  # type: ignore[attr-defined]
    (record,) = _lines(log)
    assert record["event"] == "abandoned"
    assert record["text"] == "first "
    assert record["error"] is None
    assert isinstance(record["latency_s"], float)
