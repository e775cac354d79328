"""The workspace host check: one parser, exact loopback names, no user info, every backend."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

import chatport
from chatport import ConfigError
from chatport._hosts import is_loopback, parse_workspace_url
from chatport._wire.transport import check_host
from chatport.backends.base import BackendSettings

from ..backends import BUILT_IN

CANARY = "dapi-hosts-canary-0123456789abcdef"
BACKENDS = BUILT_IN


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "[::1]"],
)
def test_loopback_names(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    [
        "localhost.",
        "localhost.attacker.example",
        "localhost-proxy.corp.example",
        "127.attacker.example",
        "127.0.0.1.nip.io",
        "0x7f.1",
        "0x7f000001",
        "2130706433",
        "%6cocalhost",
        "127%2e0.0.1",
        "::2",
        "::ffff:127.0.0.1",
        "10.0.0.1",
        "",
    ],
)
def test_not_loopback_names(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080",
        "http://LOCALHOST:8080/",
        "http://127.0.0.1:1",
        "http://127.1.2.3",
        "http://[::1]:8080",
        "https://adb-1.azuredatabricks.net",
        "adb-1.azuredatabricks.net",
    ],
)
def test_accepted_hosts(url: str) -> None:
    settings = BackendSettings(name="rest", host=url)
    assert check_host(settings) == (url if "://" in url else "https://" + url).rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost.attacker.example",
        "http://localhost-proxy.corp.example:8080",
        "http://127.attacker.example",
        "http://localhost.",
        "http://0x7f.1",
        "http://%6cocalhost",
        "http://[::2]:80",
        "http://[::ffff:7f00:1]",
        "http://192.0.2.1",
    ],
)
def test_plain_http_to_remote_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="plain http"):
        check_host(BackendSettings(name="rest", host=url))
    # allowed on purpose
    assert check_host(BackendSettings(name="rest", host=url, allow_insecure_http=True))


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.2:9\\@127.0.0.1",
        "https://example.com\\@127.0.0.1",
        f"http://user:{CANARY}@127.0.0.1:9",
        f"https://{CANARY}@adb-1.azuredatabricks.net",
        "http://127.0.0.1:9@192.0.2.2",
        "http://127.0.0.1 .attacker.example",
        "http://127.0.0.1\t@192.0.2.2",
        "http://127.0.0.1?@192.0.2.2",
        "http://127.0.0.1#@192.0.2.2",
        "http://127.0.0.1:99999",
        "ftp://127.0.0.1",
        "http://",
    ],
)
def test_hostile_urls_refused_for_any_scheme(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_workspace_url(url)
    assert CANARY not in str(info.value)
    with pytest.raises(ConfigError):
        check_host(BackendSettings(name="rest", host=url, allow_insecure_http=True))


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback socket that records whatever connects to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    received: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                received.append(conn.recv(65536))
            except OSError:
                received.append(b"")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join(2)
    server.close()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "template",
    [
        "http://localhost.invalid:{port}",
        "http://localhost-proxy.invalid:{port}",
        "http://127.invalid:{port}",
        "http://192.0.2.2:9\\@127.0.0.1:{port}",
        "http://127.0.0.1:{port}\\@192.0.2.2:9",
        "http://u:p@127.0.0.1:{port}",
    ],
)
def test_every_backend_refuses_before_connecting(
    backend: str,
    template: str,
    listener: tuple[int, list[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    workdir: object,
) -> None:
    port, received = listener
    monkeypatch.setenv("DATABRICKS_HOST", template.format(port=port))
    monkeypatch.setenv("DATABRICKS_TOKEN", CANARY)
    with (
        chatport.Client(backend, timeout=3, max_retries=0) as client,
        pytest.raises(ConfigError) as info,
    ):
        client.complete("hi", model="m")
    assert CANARY not in str(info.value)
    time.sleep(0.05)
    assert received == []
