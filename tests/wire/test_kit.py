"""``chatport.backends.kit``: the public wire helpers a plugin backend builds on."""

from __future__ import annotations

import asyncio
import json
import os

import httpx
import pytest

import chatport
from chatport import BackendSettings
from chatport.backends.kit import (
    ChatEventStream,
    ClientHolder,
    Clock,
    check_host,
    check_url,
    error_from_response,
    http_pieces,
    map_transport_error,
    read_events,
    retry_after_from,
)

from ..raw_server import RawServer


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:dapi123@h.example.com", "user info"),
        ("https://h.example.com\\@evil.example.com", "backslash"),
        ("http://h.example.com", "plain http://"),
        ("http://127.0.0.1.evil.example.com", "plain http://"),  # exact, never by prefix
        ("http://localhost.evil.example.com:8080", "plain http://"),
        ("ftp://h.example.com", "scheme"),
        ("https://h.example.com?x=1", "query"),
    ],
)
def test_check_url_refuses_hostile_urls_naming_the_key(url: str, why: str) -> None:
    with pytest.raises(chatport.ConfigError, match=why) as raised:
        check_url(url, key="backends.mine.gateway_url")
    assert raised.value.key in ("backends.mine.gateway_url", "allow_insecure_http")
    assert "dapi123" not in str(raised.value)


def test_a_workspace_url_has_no_api_path_but_a_gateway_url_keeps_its_path() -> None:
    with pytest.raises(chatport.ConfigError, match="API route"):
        check_url("https://h.example.com/serving-endpoints/x")
    gateway = check_url("http://127.0.0.1:8080/ai-gateway/", key="backends.mine.gateway_url")
    assert gateway == "http://127.0.0.1:8080/ai-gateway"
    with pytest.raises(chatport.ConfigError, match="user info"):
        check_url("https://u:p@g.example.com/ai-gateway", key="backends.mine.gateway_url")


def test_check_url_normalizes_and_allows_loopback_http() -> None:
    assert check_url("h.example.com/") == "https://h.example.com"
    assert check_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert check_url("http://h.example.com", allow_insecure_http=True) == "http://h.example.com"


def test_check_host_needs_a_host() -> None:
    with pytest.raises(chatport.ConfigError, match="no workspace host configured"):
        check_host(BackendSettings(name="mine"))
    assert check_host(BackendSettings(name="mine", host="h.example.com")) == "https://h.example.com"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "nan", "retry-after": "2"}, 2.0),
        ({"retry-after": "-3"}, 0.0),
        ({}, None),
    ],
)
def test_retry_after_prefers_milliseconds(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_from(headers) == seconds


def test_error_from_response_reads_every_body_shape() -> None:
    anthropic = json.dumps(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    )
    error = error_from_response(429, {"retry-after-ms": "250"}, anthropic.encode(), "mine")
    assert isinstance(error, chatport.RateLimitError)
    assert (error.retry_after, error.status_code, error.backend) == (0.25, 429, "mine")
    assert error.message.endswith("slow down")
    databricks = b'{"error_code": "BAD_REQUEST", "message": "messages: field required"}'
    error = error_from_response(400, {}, databricks, "mine")
    assert isinstance(error, chatport.BadRequestError)
    assert "messages: field required" in error.message
    error = error_from_response(502, {}, b"<html>bad gateway</html>", "mine")
    assert isinstance(error, chatport.ServerError)
    assert "bad gateway" in error.message


def test_map_transport_error_names_the_host() -> None:
    import httpx

    request = httpx.Request("POST", "http://127.0.0.1:9/x")
    error = map_transport_error(httpx.ConnectError("refused", request=request), "mine")
    assert isinstance(error, chatport.APIConnectionError)
    assert "127.0.0.1:9" in str(error)
    assert isinstance(map_transport_error(TimeoutError(), "mine"), chatport.APITimeoutError)


class Resource:
    made = 0

    def __init__(self) -> None:
        Resource.made += 1
        self.closed = False

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def test_client_holder_builds_one_sync_client_until_closed() -> None:
    holder: ClientHolder[Resource, Resource] = ClientHolder(build=Resource, close=Resource.close)
    first = holder.sync()
    assert holder.sync() is first
    assert holder.built is first
    holder.close()
    assert first.closed
    assert holder.built is None
    assert holder.sync() is not first


def test_client_holder_keeps_one_async_client_per_loop_closed_with_it() -> None:
    holder: ClientHolder[Resource, Resource] = ClientHolder(
        build_async=Resource, aclose=Resource.aclose
    )

    async def twice() -> Resource:
        one = await holder.async_()
        assert await holder.async_() is one
        return one

    first = asyncio.run(twice())
    second = asyncio.run(twice())
    assert first is not second  # a new loop, a new client
    assert first.closed  # closed when its loop shut down
    assert second.closed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_client_holder_drops_a_parents_client_in_a_forked_child() -> None:
    holder: ClientHolder[Resource, Resource] = ClientHolder(build=Resource, close=Resource.close)
    parents = holder.sync()
    pid = os.fork()
    if pid == 0:  # the child: its own client, the parent's left open
        code = 0 if holder.built is None and holder.sync() is not parents else 1
        code |= 2 if parents.closed else 0
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert holder.sync() is parents
    assert not parents.closed


class WordEvents:
    """A backend's own event format: ``word: X`` lines, then ``end``."""

    def __init__(self) -> None:
        self.done = False

    def feed(self, line: str) -> chatport.Chunk | None:
        if line == "end":
            self.done = True
            return None
        return chatport.Chunk(text=line.removeprefix("word: ") + " ")

    def end(self) -> chatport.Chunk | None:
        if not self.done:
            raise chatport.APIConnectionError("the words stopped early", backend="words")
        return chatport.Chunk(finish_reason="stop")


def test_read_events_takes_a_backends_own_event_format() -> None:
    body = b"word: one\nword: two\r\n\nword: thr" + b"ee\nend\nword: after the end\n"
    pieces = [body[i : i + 5] for i in range(0, len(body), 5)]  # lines cut anywhere
    chunks = list(read_events(WordEvents(), pieces))
    assert [c.text for c in chunks] == ["one ", "two ", "three ", ""]
    assert chunks[-1].finish_reason == "stop"  # end() gives the last chunk


def test_read_events_refuses_a_stream_cut_short() -> None:
    with pytest.raises(chatport.APIConnectionError, match="stopped early"):
        list(read_events(WordEvents(), [b"word: one\n"]))


def test_a_stream_of_comments_alone_times_out_on_the_kits_clock() -> None:
    chat = ChatEventStream("kit-test")
    with RawServer(mode="ping") as server, httpx.Client() as client:
        url = f"{server.url}/serving-endpoints/m/invocations"
        with client.stream("POST", url, json={"stream": True}, timeout=10) as answer:
            clock = Clock.for_call(0.5, stream=True)  # outside a call: the timeout given
            with pytest.raises(chatport.APITimeoutError, match=r"timeout = 0\.5 s"):
                list(read_events(chat, http_pieces(answer, clock, "kit-test"), clock))
