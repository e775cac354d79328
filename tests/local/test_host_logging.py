"""Starting a local workspace leaves the host application's logging alone."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

import chatport
from chatport.local import LocalWorkspace


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.closed = False

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.fixture
def app_logging(tmp_path: Path) -> Iterator[tuple[logging.FileHandler, _Recorder, Path]]:
    root, named = logging.getLogger(), logging.getLogger("myapp.jobs")
    path = tmp_path / "app.log"
    file_handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    recorder = _Recorder()
    root.addHandler(file_handler)
    named.addHandler(recorder)
    named.setLevel(logging.INFO)
    yield file_handler, recorder, path
    root.removeHandler(file_handler)
    named.removeHandler(recorder)
    file_handler.close()


def test_start_and_stop_keep_the_applications_handlers(
    app_logging: tuple[logging.FileHandler, _Recorder, Path],
    monkeypatch: pytest.MonkeyPatch,
    workdir: Path,
) -> None:
    file_handler, recorder, path = app_logging
    logger = logging.getLogger("myapp.jobs")
    logger.info("before")
    with LocalWorkspace() as ws:
        for key, value in ws.environ().items():
            monkeypatch.setenv(key, value)
        with chatport.Client("rest") as client:
            assert client.complete("hi", model="databricks-claude-sonnet-4-5").text
        logger.info("during")
    logger.info("after")
    file_handler.flush()
    assert recorder.messages == ["before", "during", "after"]
    assert not recorder.closed
    assert path.read_text(encoding="utf-8").splitlines() == ["before", "during", "after"]
    assert logging.getLogger("myapp.jobs").disabled is False
