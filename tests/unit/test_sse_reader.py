"""The SSE reader: byte pieces cut anywhere give the same chunks, line endings and the
last unterminated line are handled, and what is not an event is an error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable

import pytest

import chatport
from chatport._stream import StreamAssembler
from chatport._wire.sse import ChatEventStream, aread_events, read_events


def _event(content: str, **extra: object) -> bytes:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": None, **extra}
    body = {"id": "c1", "model": "m", "created": 5, "choices": [choice]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_FINAL = (
    b'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
    b"data: [DONE]\n\n"
)
_BODY = b": ping\n\n" + _event("h\u00e9") + _event("llo \u2603") + _FINAL


def _read(pieces: Iterable[bytes]) -> tuple[list[chatport.Chunk], ChatEventStream]:
    events = ChatEventStream("rest")
    return list(read_events(events, pieces)), events


def test_a_body_cut_at_every_byte_gives_the_same_chunks() -> None:
    whole, _ = _read([_BODY])
    assert [chunk.text for chunk in whole] == ["h\u00e9", "llo \u2603", ""]
    assert whole[-1].finish_reason == "stop"
    assert whole[-1].usage is not None
    for cut in range(1, len(_BODY)):  # a cut may fall inside a UTF-8 character too
        chunks, events = _read([_BODY[:cut], _BODY[cut:]])
        assert chunks == whole, cut
        assert events.done
    one_byte_each, _ = _read([_BODY[i : i + 1] for i in range(len(_BODY))])
    assert one_byte_each == whole


def test_crlf_line_endings_read_like_lf() -> None:
    assert _read([_BODY.replace(b"\n", b"\r\n")])[0] == _read([_BODY])[0]


def test_the_last_line_needs_no_newline() -> None:
    chunks, events = _read([_event("a") + _FINAL.rstrip(b"\n")])
    assert [chunk.text for chunk in chunks] == ["a", ""]
    assert events.done


def test_space_after_the_json_object_is_allowed() -> None:
    line = _event("a").rstrip(b"\n") + b"   \n\n"
    assert [chunk.text for chunk in _read([line + _FINAL])[0]] == ["a", ""]


@pytest.mark.parametrize(
    "line",
    [b'data: {"choices": []} trailing\n\n', b'data: {"choices": [\n\n', b"<html>oops</html>\n"],
)
def test_what_is_not_an_event_is_a_response_format_error(line: bytes) -> None:
    with pytest.raises(chatport.ResponseFormatError):
        _read([_event("a") + line + _FINAL])


def test_nothing_is_read_after_the_terminal_event() -> None:
    chunks, events = _read([_BODY + b"<html>after the end</html>\n"])
    assert events.done
    assert len(chunks) == 3


def test_the_async_reader_gives_the_same_chunks() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for cut in range(0, len(_BODY), 7):
            yield _BODY[cut : cut + 7]

    async def read() -> list[chatport.Chunk]:
        return [chunk async for chunk in aread_events(ChatEventStream("rest"), pieces())]

    assert asyncio.run(read()) == _read([_BODY])[0]


def test_the_assembler_folds_kept_chunks_like_a_completion() -> None:
    assembler = StreamAssembler()
    for chunk in _read([_BODY])[0]:
        assembler.add(chunk)
    completion = assembler.completion("rest")
    assert completion.text == "h\u00e9llo \u2603"
    assert (completion.id, completion.model, completion.created) == ("c1", "m", 5)
    assert completion.usage.total_tokens == 5
    assert completion.finish_reason == "stop"
    assert completion.message.content == "h\u00e9llo \u2603"
    assert completion.backend == "rest"


def test_every_carriage_return_before_a_newline_goes() -> None:
    body = _event("a").replace(b"\n\n", b"\r\r\n\r\n") + _FINAL
    for pieces in ([body], [body[:-3], body[-3:]]):  # whole lines, and a line left pending
        assert [chunk.text for chunk in _read(pieces)[0]] == ["a", ""]
