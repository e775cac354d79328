"""Request bodies as JSON, strictly: whatever a client sends is a value or a 400, never a 500.

The routes read bodies through :func:`parse_json`, which refuses what ``json.loads``
would let through to fail later: invalid UTF-8, ``NaN``/``Infinity`` (not JSON), lone
surrogates (``"\\ud800"``, which no answer could encode back), and nesting deeper than
:data:`MAX_DEPTH` (100,000 levels would otherwise be a ``RecursionError``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import WireError, bad_request

__all__ = ["MAX_DEPTH", "parse_json"]

#: The deepest nesting of arrays and objects a request body may have.
MAX_DEPTH = 128

_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_value(value: Any, error: WireError) -> None:
    """Raise ``error`` if ``value`` nests deeper than :data:`MAX_DEPTH` or holds a lone
    surrogate. Iterative: no recursion on what a client sent."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise error
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise bad_request(f"The request body nests deeper than {MAX_DEPTH} levels.")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def parse_json(raw: bytes) -> Any:
    """The JSON value of ``raw``, or a 400 ``BAD_REQUEST`` :class:`WireError`."""
    malformed = bad_request("Malformed JSON request body.")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise bad_request(f"The request body nests deeper than {MAX_DEPTH} levels.") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise malformed from None
    _check_value(value, malformed)
    return value
