"""Structured output: ``response_format=`` as a JSON schema or a pydantic model class.

:func:`normalize_response_format` turns what the caller gave into the wire
``response_format`` and an :class:`OutputSpec`; :meth:`OutputSpec.parse` validates the
model's answer into ``Completion.parsed``. pydantic is imported only when a pydantic
class is given. Plain schemas are checked by :func:`schema_errors`, which covers the
keywords structured-output schemas use (``type``, ``properties``, ``required``,
``additionalProperties``, ``items``, ``enum``, ``const``, ``anyOf``/``oneOf``/
``allOf``, ``$ref`` to ``$defs``, string, number and array bounds).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import InvalidRequestError, ResponseFormatError
from ._jsonvalue import check_json

__all__ = ["OutputSpec", "normalize_response_format", "schema_errors"]

#: ``response_format`` types the chat API takes.
FORMAT_TYPES = frozenset({"text", "json_object", "json_schema"})
_SCHEMA_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_SCHEMA_KEYS = frozenset({"properties", "$defs", "definitions", "anyOf", "oneOf", "allOf", "$ref"})


@dataclass(frozen=True)
class OutputSpec:
    """The schema an answer must match, and the pydantic class to build, if any."""

    name: str
    schema: Mapping[str, Any]
    model: Any = None

    def parse(self, text: str, backend: str | None = None) -> Any:
        """The validated value of ``text``; :class:`ResponseFormatError` when it does not match."""
        if self.model is not None:
            from pydantic import ValidationError

            try:
                return self.model.model_validate_json(text)
            except ValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {"msg": str(exc)}
                where = ".".join(str(p) for p in first.get("loc", ())) or "the answer"
                raise ResponseFormatError(
                    f"the answer does not match {self.name}: {where}: {first.get('msg')}",
                    text=text,
                    backend=backend,
                ) from None
        try:
            value = json.loads(text)
            errors = schema_errors(value, self.schema)
        except ValueError:
            raise ResponseFormatError(
                f"the answer is not JSON, so it does not match {self.name}",
                text=text,
                backend=backend,
            ) from None
        except RecursionError:  # an answer (or a schema's $ref chain) too deep to follow
            raise ResponseFormatError(
                f"the answer is nested too deeply to check against {self.name}",
                text=text,
                backend=backend,
            ) from None
        if errors:
            raise ResponseFormatError(
                f"the answer does not match {self.name}: {errors[0]}", text=text, backend=backend
            )
        return value


def _is_pydantic_model(value: object) -> bool:
    return isinstance(value, type) and callable(getattr(value, "model_json_schema", None))


def normalize_response_format(
    value: object,
) -> tuple[Mapping[str, Any] | None, OutputSpec | None]:
    """The wire ``response_format`` and the output spec for what the caller passed.

    Accepts ``None``, an OpenAI ``response_format`` dict, a bare JSON-schema dict, or a
    pydantic model class. Whatever is sent is checked first (valid UTF-8, no cycle, not
    too deep), so a bad schema is an :class:`InvalidRequestError` naming its place.
    """
    if value is None:
        return None, None
    if _is_pydantic_model(value):
        model: Any = value
        name = str(model.__name__)
        schema = model.model_json_schema()
        check_json(schema, "response_format")
        wire = {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
        return wire, OutputSpec(name, schema, model)
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            'must be a dict such as {"type": "json_object"}, a JSON schema, or a pydantic '
            f"model class, not {type(value).__name__}",
            field="response_format",
        )
    check_json(value, "response_format")
    kind = value.get("type")
    if kind in FORMAT_TYPES:
        if kind != "json_schema":
            return value, None
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise InvalidRequestError(
                'json_schema needs {"name": ..., "schema": {...}}', field="response_format"
            )
        return value, OutputSpec(str(spec.get("name") or "the schema"), schema)  # type: ignore[union-attr]
    if kind in _SCHEMA_TYPES or (kind is None and _SCHEMA_KEYS & set(value)):
        name = str(value.get("title") or "response")
        wire = {"type": "json_schema", "json_schema": {"name": name, "schema": dict(value)}}
        return wire, OutputSpec(name, value)
    raise InvalidRequestError(
        f"unknown type {kind!r}: use text, json_object or json_schema, or pass a JSON schema",
        field="response_format",
    )


# -- a small JSON-schema checker --------------------------------------------------------


def _type_ok(value: object, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == "integer":
        return isinstance(value, int) or (math.isfinite(value) and value == int(value))
    return kind == "number"


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    node: Any = root
    if not ref.startswith("#"):
        return {}
    for key in ref.lstrip("#/").split("/"):
        if not key:
            continue
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def schema_errors(
    value: object, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None, path: str = "$"
) -> list[str]:
    """The ways ``value`` fails ``schema`` (empty when it matches), each with its path."""
    root = schema if root is None else root
    if "$ref" in schema and isinstance(schema["$ref"], str):
        return schema_errors(value, _resolve(schema["$ref"], root), root, path)
    errors: list[str] = []
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if kinds and not any(_type_ok(value, k) for k in kinds):
        return [f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}")
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            matching = [b for b in branches if not schema_errors(value, b, root, path)]
            if not matching or (key == "oneOf" and len(matching) > 1):
                errors.append(f"{path}: matches {len(matching)} of the {key} branches")
    for branch in schema.get("allOf") or ():
        if isinstance(branch, Mapping):
            errors.extend(schema_errors(value, branch, root, path))
    if isinstance(value, dict):
        errors.extend(_object_errors(value, schema, root, path))
    elif isinstance(value, list):
        errors.extend(_array_errors(value, schema, root, path))
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        errors.extend(_number_errors(value, schema, path))
    return errors


def _object_errors(
    value: dict[str, Any], schema: Mapping[str, Any], root: Mapping[str, Any], path: str
) -> list[str]:
    errors = []
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    for name in schema.get("required") or ():
        if name not in value:
            errors.append(f"{path}: missing required property {name!r}")
    additional = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}"
        if name in properties and isinstance(properties[name], Mapping):
            errors.extend(schema_errors(item, properties[name], root, where))
        elif additional is False:
            errors.append(f"{where}: property not allowed")
        elif isinstance(additional, Mapping):
            errors.extend(schema_errors(item, additional, root, where))
    return errors


def _array_errors(
    value: list[Any], schema: Mapping[str, Any], root: Mapping[str, Any], path: str
) -> list[str]:
    errors = []
    if len(value) < schema.get("minItems", 0):
        errors.append(f"{path}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: more than {schema['maxItems']} items")
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            errors.extend(schema_errors(item, items, root, f"{path}[{index}]"))
    return errors


def _number_errors(value: float, schema: Mapping[str, Any], path: str) -> list[str]:
    errors = []
    for key, word in _BOUNDS.items():
        bound = schema.get(key)
        if not isinstance(bound, int | float) or isinstance(bound, bool):
            continue
        low = key.endswith("inimum")
        exclusive = key.startswith("exclusive")
        inside = (value > bound if low else value < bound) or (not exclusive and value == bound)
        if not inside:
            errors.append(f"{path}: {value} is {word} {bound}")
    return errors


_BOUNDS = {
    "minimum": "below",
    "maximum": "above",
    "exclusiveMinimum": "not above",
    "exclusiveMaximum": "not below",
}
