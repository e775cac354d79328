"""Claude's prompt cache, emulated: ``cache_control`` checked, then a write and a read.

A Claude endpoint caches the prompt prefix that ends at each block marked with
``cache_control`` (Anthropic's prompt-caching rules: docs/wire-facts.md#prompt-caching).
The first request with a prefix writes it (``cache_creation_input_tokens``); a later one
with the same prefix reads it (``cache_read_input_tokens``): the longest cached prefix
is read, and what lies between it and the last breakpoint is written. Prefixes are keyed
by their content, per endpoint, for the workspace's lifetime: no minimum length and no
expiry, so a test sees a write, then a read. Other families never see ``cache_control``
(the chat checks refuse it as an extra input).
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import WireError, anthropic_error, bad_request
from .generate import count_words

__all__ = [
    "CacheCounts",
    "PromptCache",
    "chat_cache_counts",
    "messages_cache_counts",
    "prompt_cache",
]

#: Claude takes at most four blocks with ``cache_control`` in one request.
MAX_BREAKPOINTS = 4
_TTLS = frozenset({"5m", "1h"})
#: Prefixes one workspace remembers at most (the oldest are forgotten first).
_MAX_PREFIXES = 10_000


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """The prompt tokens one request wrote to the cache and read from it."""

    written: int = 0
    read: int = 0

    def chat_fields(self) -> dict[str, int]:
        """The top-level ``usage`` fields a Claude chat completion carries."""
        return {"cache_read_input_tokens": self.read, "cache_creation_input_tokens": self.written}


class PromptCache:
    """The prefixes cached so far, per endpoint (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str], None] = {}  # insertion-ordered: oldest first

    def account(self, endpoint: str, prefixes: list[tuple[str, int]]) -> CacheCounts:
        """Read the longest cached prefix, write the rest up to the last breakpoint.

        ``prefixes`` are (content key, tokens) at each breakpoint, in prompt order.
        """
        if not prefixes:
            return CacheCounts()
        with self._lock:
            read = max(
                (tokens for key, tokens in prefixes if (endpoint, key) in self._keys), default=0
            )
            last_key, last_tokens = prefixes[-1]
            written = 0 if (endpoint, last_key) in self._keys else max(0, last_tokens - read)
            for key, _ in prefixes:
                self._keys.pop((endpoint, key), None)
                self._keys[(endpoint, key)] = None
            while len(self._keys) > _MAX_PREFIXES:
                del self._keys[next(iter(self._keys))]
        return CacheCounts(written, read)


_CACHES: weakref.WeakKeyDictionary[Any, PromptCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def prompt_cache(state: Any) -> PromptCache:
    """The prompt cache of one workspace (its state object), made on first use."""
    with _CACHES_LOCK:
        cache = _CACHES.get(state)
        if cache is None:
            cache = _CACHES[state] = PromptCache()
        return cache


#: How a route answers a request problem: Databricks' 400, or Anthropic's on its route.
_Refuse = Callable[[str], WireError]


def _check_control(control: Any, where: str, error: _Refuse) -> None:
    """A ``cache_control`` value as Claude takes it: ``{"type": "ephemeral"}``, ``ttl``."""
    if not isinstance(control, dict):
        raise error(f"{where}: Input should be a valid dictionary")
    extra = sorted(set(control) - {"type", "ttl"})
    if extra:
        raise error(f"{where}.{extra[0]}: Extra inputs are not permitted")
    if control.get("type") != "ephemeral":
        raise error(f"{where}.type: Input should be 'ephemeral'")
    if "ttl" in control and control["ttl"] not in _TTLS:
        raise error(f"{where}.ttl: Input should be '5m' or '1h'")


def _canonical(value: Any) -> str:
    """A block's content without its ``cache_control``, as a stable string (a string
    content is given as its one text block, so both forms share a prefix)."""
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "cache_control"}
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _words(block: Any) -> int:
    """The local token count of one block (its text; a tool result's content)."""
    if isinstance(block, str):
        return count_words(block)
    if not isinstance(block, dict):
        return 0
    if isinstance(block.get("text"), str):
        return count_words(block["text"])
    content = block.get("content")
    if isinstance(content, str):
        return count_words(content)
    if isinstance(content, list):
        return sum(_words(item) for item in content)
    return 0


#: One block of the prompt in order: its content string, tokens, and cache_control
#: (``None`` when unmarked) with where it was found.
_Block = tuple[str, int, Any, str]


def _prefixes(endpoint: str, blocks: Iterator[_Block], error: _Refuse) -> list[tuple[str, int]]:
    """Check every breakpoint; the (key, tokens) of the prefix each one ends."""
    digest = hashlib.sha256(endpoint.encode())
    tokens = 0
    found: list[tuple[str, int]] = []
    marked = 0
    for content, words, control, where in blocks:
        digest.update(content.encode())
        digest.update(b"\x00")
        tokens += words
        if control is None:
            continue
        _check_control(control, where, error)
        marked += 1
        found.append((digest.copy().hexdigest(), tokens))
    if marked > MAX_BREAKPOINTS:
        raise error(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {marked}."
        )
    return found


def _chat_blocks(messages: list[dict[str, Any]]) -> Iterator[_Block]:
    for index, message in enumerate(messages):
        head = {k: v for k, v in message.items() if k != "content"}
        yield _canonical(head), 0, None, f"messages.{index}"
        content = message.get("content")
        if isinstance(content, list):
            for position, part in enumerate(content):
                where = f"messages.{index}.content.{position}.cache_control"
                control = part.get("cache_control") if isinstance(part, dict) else None
                yield _canonical(part), _words(part), control, where
        elif content is not None:  # a string is one text block, as Claude reads it
            block = {"type": "text", "text": content}
            yield _canonical(block), _words(content), None, f"messages.{index}.content"


def chat_cache_counts(
    state: Any, endpoint: str, messages: list[dict[str, Any]], prompt: int
) -> CacheCounts:
    """Check a Claude chat request's ``cache_control`` and account its cache use.

    A malformed ``cache_control`` or more than four is a 400 ``BAD_REQUEST``. The counts
    never exceed ``prompt`` (they are part of ``prompt_tokens``).
    """
    found = _prefixes(endpoint, _chat_blocks(messages), bad_request)
    return prompt_cache(state).account(endpoint, [(k, min(t, prompt)) for k, t in found])


def _messages_blocks(body: dict[str, Any]) -> Iterator[_Block]:
    """Tools, then system, then messages: the order Claude's prefix is cached in."""
    tools = body.get("tools")
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        control = tool.get("cache_control") if isinstance(tool, dict) else None
        yield _canonical(tool), 0, control, f"tools.{index}.cache_control"
    system = body.get("system")
    if isinstance(system, list):
        for index, block in enumerate(system):
            control = block.get("cache_control") if isinstance(block, dict) else None
            yield _canonical(block), _words(block), control, f"system.{index}.cache_control"
    elif system is not None:
        yield _canonical({"type": "text", "text": system}), _words(system), None, "system"
    for index, message in enumerate(body.get("messages") or []):
        yield _canonical(message.get("role")), 0, None, f"messages.{index}"
        content = message.get("content")
        if not isinstance(content, list):
            block = {"type": "text", "text": content}
            yield _canonical(block), _words(content), None, f"messages.{index}.content"
            continue
        for position, block in enumerate(content):
            where = f"messages.{index}.content.{position}"
            control = block.get("cache_control") if isinstance(block, dict) else None
            if control is not None and block.get("type") in ("thinking", "redacted_thinking"):
                raise anthropic_error(
                    f"{where}.{block['type']}.cache_control: Extra inputs are not permitted"
                )
            yield _canonical(block), _words(block), control, f"{where}.cache_control"


def messages_cache_counts(
    state: Any, endpoint: str, body: dict[str, Any], prompt: int
) -> CacheCounts:
    """Check a Messages request's ``cache_control`` (Anthropic's error shape) and
    account its cache use; the counts never exceed ``prompt``."""
    found = _prefixes(endpoint, _messages_blocks(body), anthropic_error)
    return prompt_cache(state).account(endpoint, [(k, min(t, prompt)) for k, t in found])
