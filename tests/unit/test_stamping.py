"""A completion chatport stamps is a new object: the backend's own is never changed.

A backend may answer from a cache or hand out one shared object; chatport's stamps
(``backend``, ``latency_s``, ``attempts``, ``parsed``) must not leak into it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, ClassVar

import pytest

import chatport
from chatport import Completion
from chatport.backends.base import Backend
from chatport.testing import temporary_plugin

CACHED = Completion(text='{"answer": 42}', finish_reason="stop")
PRISTINE = dataclasses.replace(CACHED)


class Cached(Backend):
    """Answers every call with the one module-level object."""

    capabilities = chatport.Capabilities(native_async=True, response_format=True)
    calls: ClassVar[int] = 0

    def complete(self, request: chatport.ChatRequest) -> Completion:
        type(self).calls += 1
        if type(self).calls == 1:  # the first call fails once, so the call takes 2 attempts
            raise chatport.ServerError("busy", status_code=503)
        return CACHED

    async def acomplete(self, request: chatport.ChatRequest) -> Completion:
        return CACHED


class Plugin:
    @chatport.hookimpl
    def chatport_register_backends(self, registry: Any) -> None:
        registry.add("cached", Cached)


def unchanged() -> None:
    assert CACHED == PRISTINE
    assert (CACHED.backend, CACHED.latency_s, CACHED.attempts, CACHED.parsed) == (
        None,
        None,
        1,
        None,
    )


def test_every_call_shape_stamps_a_copy(fresh_plugins: None) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    with (
        temporary_plugin(Plugin(), name="cache"),
        chatport.Client(backend="cached", model="m", config={}) as client,
    ):
        first = client.complete("hi", response_format=schema)
        unchanged()
        assert first is not CACHED
        assert (first.backend, first.attempts, first.parsed) == ("cached", 2, {"answer": 42})
        assert first.latency_s is not None
        assert first.latency_s >= 0
        assert first.text == CACHED.text
        assert first.message == CACHED.message

        second = asyncio.run(client.acomplete("hi"))
        mapped = [r.unwrap() for r in client.map(["a", "b"])]
        unchanged()
        for stamped in (second, *mapped):
            assert stamped is not CACHED
            assert stamped.backend == "cached"
            assert stamped.parsed is None  # no schema on these calls: nothing carried over


def test_a_completion_stays_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CACHED.backend = "x"  # type: ignore[misc]
