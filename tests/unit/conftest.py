"""Unit tests: chatport's own code in one process, with no network and no subprocess.

Every test here runs with sockets (other than the event loop's own Unix socket pairs)
and subprocesses refused, so a test that starts to need a server or the command line
fails at once and belongs in ``tests/wire/``.
"""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest


class NotAUnitTest(AssertionError):
    """A unit test reached for the network or a process."""


def _refuse(what: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> None:
        raise NotAUnitTest(f"a unit test may not {what}: move it to tests/wire/")

    return refuse


def _refuse_inet(what: str, original: Any) -> Any:
    def guarded(self: socket.socket, *args: object, **kwargs: object) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise NotAUnitTest(f"a unit test may not {what}: move it to tests/wire/")
        return original(self, *args, **kwargs)

    return guarded


@pytest.fixture(autouse=True)
def _no_network_no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("connect", "connect_ex", "bind"):
        original = getattr(socket.socket, name)
        monkeypatch.setattr(socket.socket, name, _refuse_inet(f"open a socket ({name})", original))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process"))
