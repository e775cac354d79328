"""What chatport may send as JSON: one walk over a value, refusing what no server reads.

:func:`json_problem` checks every string is valid UTF-8 (no lone surrogate), that there
is no cycle, at most :data:`MAX_JSON_DEPTH` levels of nesting, and only JSON types. It
walks without recursion, so a value of any depth is refused cleanly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, cast

from ._errors import InvalidRequestError

__all__ = [
    "MAX_JSON_DEPTH",
    "arguments_problem",
    "check_json",
    "encodable",
    "json_path",
    "json_problem",
    "not_utf8",
    "type_name",
]


def type_name(value: object) -> str:
    """The name of ``value``'s type, for messages."""
    return type(value).__name__


#: How many levels of lists and objects a value chatport sends may nest (the value
#: itself is level 1). Servers' JSON parsers refuse deep documents (serde_json stops at
#: 128 for the whole body), and Python's own encoder fails near 1,000.
MAX_JSON_DEPTH = 64


# -- what may go on the wire as JSON ---------------------------------------------------

_NOT_UTF8 = (
    "contains a lone surrogate (U+D800-U+DFFF) at character {at}, which is not valid "
    "UTF-8 and cannot be sent; fix the text's source or decode it with errors='replace'"
)
_TOO_DEEP = (
    f"nests lists and objects more than {MAX_JSON_DEPTH} levels deep, deeper than servers accept"
)
_CYCLE = "contains itself (a cycle), which JSON cannot hold"
_CONTAINERS = (dict, list, tuple)


def encodable(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8 (``isascii`` is a flag lookup: no scan)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def not_utf8(text: str) -> str:
    at = next(i for i, char in enumerate(text) if "\ud800" <= char <= "\udfff")
    return _NOT_UTF8.format(at=at)


def _scalar_problem(value: object) -> str | None:
    """Why a non-container value is not JSON chatport can send, or ``None``."""
    if isinstance(value, str):
        return None if encodable(value) else not_utf8(value)
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "NaN and infinity are not JSON"
    return f"a {type_name(value)} is not JSON (use str, number, bool, None, list or dict)"


def json_path(keys: Iterable[object]) -> str:
    """The field suffix for ``keys``: ``("a", 0, "b")`` is ``.a[0].b``."""
    return "".join(
        f"[{key}]"
        if isinstance(key, int)
        else f".{key if isinstance(key, str) and encodable(key) else ascii(key)}"
        for key in keys
    )


# How a container was reached: (the trail of its parent, its key there, the parent), or
# ``None`` for the root. Built only for containers, read only to name a problem.
_Trail = tuple[Any, object, object] | None


def _keys(trail: _Trail, *last: object) -> tuple[object, ...]:
    keys: list[object] = list(last)
    while trail is not None:
        trail, key, _ = trail
        keys.append(key)
    return tuple(reversed(keys))


def _cycle(
    trail: _Trail, container: object, key: object, child: object
) -> tuple[object, ...] | None:
    """The keys down to the first container met twice on the way to ``child``, if any."""
    nodes, keys = [child, container], [key]
    while trail is not None:
        trail, step, parent = trail
        nodes.append(parent)
        keys.append(step)
    nodes.reverse()  # from the root; keys[i] leads from nodes[i] to nodes[i + 1]
    keys.reverse()
    seen: set[int] = set()
    for depth, node in enumerate(nodes):
        if id(node) in seen:
            return tuple(keys[:depth])
        seen.add(id(node))
    return None


def json_problem(value: object) -> tuple[tuple[object, ...], str] | None:
    """Where inside ``value`` and why it cannot be sent as JSON, or ``None`` when it can.

    The place is the keys and indexes from ``value`` down to the culprit (see
    :func:`json_path`): none for the value itself, and none for a value nested too
    deeply. The root may be any mapping; the containers inside it must be dicts, lists
    or tuples, and object keys strings. A cycle is found where it makes the value too
    deep, so the walk keeps no set of what it has seen.
    """
    if not isinstance(value, Mapping | list | tuple):
        problem = _scalar_problem(value)
        return None if problem is None else ((), problem)
    stack: list[tuple[object, _Trail, int]] = [(value, None, 1)]
    while stack:
        container, trail, depth = stack.pop()
        is_object = isinstance(container, Mapping)
        items: Iterable[tuple[object, object]] = (
            cast("Mapping[object, object]", container).items()
            if is_object
            else enumerate(cast("list[object]", container))
        )
        for key, child in items:
            if is_object and (type(key) is not str or not (key.isascii() or encodable(key))):
                return _keys(trail, key), (
                    f"has a key of type {type_name(key)}; JSON object keys are strings"
                    if not isinstance(key, str)
                    else "has a key that " + not_utf8(key)
                )
            if type(child) is str:
                if child.isascii() or encodable(child):
                    continue
            elif child is None or type(child) is int or type(child) is bool:
                continue
            elif isinstance(child, _CONTAINERS):
                if depth >= MAX_JSON_DEPTH:
                    cycle = _cycle(trail, container, key, child)
                    return ((), _TOO_DEEP) if cycle is None else (cycle, _CYCLE)
                stack.append((child, (trail, key, container), depth + 1))
                continue
            problem = _scalar_problem(child)
            if problem is not None:
                return _keys(trail, key), problem
    return None


def check_json(value: object, field: str) -> None:
    """Raise :class:`InvalidRequestError` naming ``field`` (and the place inside it) when
    ``value`` cannot be sent as JSON."""
    problem = json_problem(value)
    if problem is not None:
        raise InvalidRequestError(problem[1], field=field + json_path(problem[0]))


def arguments_problem(arguments: str) -> tuple[tuple[object, ...], str] | None:
    """Why tool-call ``arguments`` (a JSON string) cannot be sent, or ``None``.

    Text that is not JSON is sent as given (the model wrote it); JSON is checked like
    any value, and JSON too deep to decode is refused.
    """
    if not encodable(arguments):
        return (), not_utf8(arguments)
    if "[" not in arguments and "{" not in arguments and "\\u" not in arguments:
        return None  # a scalar at most, with no escape that could hide a surrogate
    try:
        value = json.loads(arguments)
    except RecursionError:
        return (), _TOO_DEEP
    except ValueError:
        return None
    return json_problem(value)
