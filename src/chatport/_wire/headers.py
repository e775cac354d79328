"""The per-request HTTP headers every backend sends on top of its client's own.

Today that is Unity AI Gateway's request tags: ``Databricks-Ai-Gateway-Request-Tags``,
whose value is a JSON object of string keys and values (docs/wire-facts.md#request-tags).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._request import ChatRequest

__all__ = ["REQUEST_TAGS_HEADER", "request_headers", "request_tags_header"]

#: The header Unity AI Gateway reads request tags from.
REQUEST_TAGS_HEADER = "Databricks-Ai-Gateway-Request-Tags"

_COMPACT = json.JSONEncoder(separators=(",", ":"))


def request_tags_header(tags: Mapping[str, str]) -> str:
    """``tags`` as the header's value: compact JSON, keys in the caller's order, ASCII
    only (other characters as ``\\uXXXX`` escapes, so any header encoding carries it)."""
    return _COMPACT.encode(dict(tags))


def request_headers(request: ChatRequest) -> dict[str, str]:
    """The headers ``request`` adds to its HTTP request: empty when it has no tags."""
    tags = request.request_tags
    if not tags:
        return {}
    return {REQUEST_TAGS_HEADER: request_tags_header(tags)}
