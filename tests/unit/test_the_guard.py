"""The unit-test guard holds: these would pass anywhere else."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from .conftest import NotAUnitTest


def test_a_unit_test_cannot_connect() -> None:
    with socket.socket() as sock, pytest.raises(NotAUnitTest, match="tests/wire/"):
        sock.connect(("127.0.0.1", 9))


def test_a_unit_test_cannot_listen() -> None:
    with socket.socket() as sock, pytest.raises(NotAUnitTest):
        sock.bind(("127.0.0.1", 0))


def test_a_unit_test_cannot_start_a_process() -> None:
    with pytest.raises(NotAUnitTest):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


def test_a_unix_socket_pair_still_works() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"x")
        assert right.recv(1) == b"x"
