"""Structured output: ``response_format`` / ``text.format`` checks and the JSON they ask for.

The local models answer a requested JSON schema with a *minimal instance* of it: every
property of an object, the first branch of ``anyOf``/``oneOf``, the first ``enum`` value,
zero (or the minimum) for numbers, the question for strings, the fewest array items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

__all__ = [
    "MAX_INSTANCE_SIZE",
    "TextFormat",
    "chat_format",
    "minimal_instance",
    "render",
    "responses_format",
]

_TYPES = ("text", "json_object", "json_schema")
_FORMATS = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


@dataclass(frozen=True)
class TextFormat:
    """A validated output format: ``json_object``, or ``json_schema`` with its schema."""

    type: str
    schema: dict[str, Any] | None = None


def _checked(kind: Any, schema: Any, where: str) -> TextFormat | None:
    if kind not in _TYPES:
        raise bad_request(f"{where}.type: must be one of {', '.join(_TYPES)}, not {kind!r}")
    if kind == "text":
        return None
    if kind == "json_schema":
        if not isinstance(schema, dict):
            raise bad_request(f"{where}: a json_schema format needs a 'schema' object")
        return TextFormat("json_schema", schema)
    return TextFormat("json_object")


def chat_format(value: Any) -> TextFormat | None:
    """Validate a chat ``response_format``; ``None`` means plain text."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("response_format: must be an object with a type")
    spec = value.get("json_schema")
    if value.get("type") == "json_schema" and not isinstance(spec, dict):
        raise bad_request("response_format.json_schema: required for type json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return _checked(value.get("type"), schema, "response_format")


def responses_format(text: Any) -> TextFormat | None:
    """Validate a Responses ``text`` parameter (flattened ``format``); ``None``: plain text."""
    if text is None:
        return None
    if not isinstance(text, dict):
        raise bad_request("text: must be an object")
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise bad_request("text.format: must be an object with a type")
    return _checked(fmt.get("type"), fmt.get("schema"), "text.format")


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen: set[str] = set()
    while isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if ref in seen or not ref.startswith("#/"):
            return {}
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **rest} if isinstance(target, dict) else rest
    return schema


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    try:
        return _bounded_number(schema, integer)
    except OverflowError:  # a bound no float can hold
        raise bad_request("The output schema has a number bound out of range.") from None


def _bounded_number(schema: dict[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum")
    exclusive = schema.get("exclusiveMinimum")
    value: int | float = 0
    if isinstance(low, int | float) and not isinstance(low, bool):
        value = max(value, low)
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        value = max(value, exclusive + 1 if integer else exclusive + 0.5)
    high = schema.get("maximum")
    if isinstance(high, int | float) and not isinstance(high, bool) and value > high:
        value = high
    return int(value) if integer else float(value)


#: The most values and string characters an instance may have: a schema asking for more
#: (``minItems: 1000000000``) is refused instead of filling the server's memory.
MAX_INSTANCE_SIZE = 100_000


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Builder:
    """Builds one minimal instance, counting what it makes against a budget."""

    def __init__(self, root: dict[str, Any], text: str) -> None:
        self.root = root
        self.text = text
        self.left = MAX_INSTANCE_SIZE

    def spend(self, amount: int) -> None:
        self.left -= max(amount, 1)
        if self.left < 0:
            raise bad_request(
                f"The output schema asks for an instance larger than {MAX_INSTANCE_SIZE} "
                "values and characters."
            )

    def string(self, schema: dict[str, Any]) -> str:
        value = _FORMATS.get(str(schema.get("format")), self.text)
        longest = _whole(schema.get("maxLength"))
        if longest is not None:
            value = value[: max(longest, 0)]
        shortest = _whole(schema.get("minLength"))
        if shortest is not None and len(value) < shortest:
            self.spend(shortest)
            value = value + "x" * (shortest - len(value))
        self.spend(len(value))
        return value

    def build(self, schema: Any, depth: int = 0) -> Any:
        self.spend(1)
        if not isinstance(schema, dict) or depth > 32:
            return self.text
        schema = _resolve(schema, self.root)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.build(schema[key][0], depth + 1)
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged.update(_resolve(part, self.root) if isinstance(part, dict) else {})
            return self.build(merged, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = (
                "object" if "properties" in schema else "array" if "items" in schema else "string"
            )
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth)
        if kind in ("integer", "number"):
            return _number(schema, kind == "integer")
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        return self.string(schema)

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        required = schema.get("required")
        needed = (
            {name for name in required if isinstance(name, str)}
            if isinstance(required, list)
            else set()
        )
        if not isinstance(properties, dict):
            return {}
        return {  # every property near the top; only required ones deeper (recursive models)
            name: self.build(sub, depth + 1)
            for name, sub in properties.items()
            if depth < 4 or name in needed
        }

    def array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        count = max(_whole(schema.get("minItems")) or 0, 0)
        self.spend(count)
        prefix = schema.get("prefixItems")
        items = (
            [self.build(sub, depth + 1) for sub in prefix[:count]]
            if isinstance(prefix, list)
            else []
        )
        while len(items) < count:
            items.append(self.build(schema.get("items", {}), depth + 1))
        return items


def minimal_instance(schema: Any, text: str = "") -> Any:
    """A small JSON value that validates against ``schema`` (strings are ``text``).

    A schema asking for more than :data:`MAX_INSTANCE_SIZE` values and characters is a
    400 ``BAD_REQUEST``."""
    return _Builder(schema if isinstance(schema, dict) else {}, text).build(schema)


def render(fmt: TextFormat | None, text: str) -> str:
    """The answer ``text`` in the requested format (JSON text unless plain)."""
    if fmt is None:
        return text
    if fmt.type == "json_object":
        return json.dumps({"answer": text})
    return json.dumps(minimal_instance(fmt.schema, text))
