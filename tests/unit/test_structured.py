"""Structured output: response_format as a schema or a pydantic class, and its validation."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from chatport import ChatRequest, InvalidRequestError, ResponseFormatError
from chatport._structured import normalize_response_format, schema_errors


class Weather(pydantic.BaseModel):
    city: str
    celsius: float
    tags: list[str] = []


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "kind": {"enum": ["a", "b"]},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "maxItems": 2},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
    "$defs": {"item": {"type": "object", "properties": {"n": {"type": "number"}}}},
}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"name": "x", "age": 3}, None),
        ({"name": "x", "age": 3, "kind": "b", "items": [{"n": 1.5}]}, None),
        ({"name": "x"}, "missing required property 'age'"),
        ({"name": "x", "age": "3"}, "$.age: expected integer"),
        ({"name": "x", "age": True}, "$.age: expected integer"),
        ({"name": "", "age": 3}, "$.name: shorter than 1"),
        ({"name": "x", "age": -1}, "$.age: -1 is below 0"),
        ({"name": "x", "age": 1, "kind": "c"}, "is not one of"),
        ({"name": "x", "age": 1, "extra": 1}, "$.extra: property not allowed"),
        ({"name": "x", "age": 1, "items": [{"n": "1"}]}, "$.items[0].n: expected number"),
        ({"name": "x", "age": 1, "items": [{}, {}, {}]}, "more than 2 items"),
        ([1], "expected object"),
    ],
)
def test_schema_errors(value: Any, problem: str | None) -> None:
    errors = schema_errors(value, SCHEMA)
    if problem is None:
        assert errors == []
    else:
        assert any(problem in error for error in errors), errors


def test_any_of_and_one_of() -> None:
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert schema_errors(None, schema) == []
    assert schema_errors(3, schema)
    one = {"oneOf": [{"type": "number"}, {"type": "integer"}]}
    assert schema_errors(1.5, one) == []
    assert schema_errors(1, one)  # both branches match


def test_a_pydantic_class_becomes_a_json_schema_format() -> None:
    request = ChatRequest.build("hi", model="m", response_format=Weather)
    assert request.response_format is not None
    assert request.response_format["type"] == "json_schema"
    spec = request.response_format["json_schema"]
    assert spec["name"] == "Weather"
    assert spec["schema"]["required"] == ["city", "celsius"]
    assert request.output is not None
    parsed = request.output.parse('{"city": "Paris", "celsius": 21}')
    assert parsed == Weather(city="Paris", celsius=21.0)


def test_a_bare_schema_is_wrapped() -> None:
    wire, output = normalize_response_format(SCHEMA)
    assert wire == {"type": "json_schema", "json_schema": {"name": "response", "schema": SCHEMA}}
    assert output is not None
    assert output.parse('{"name": "n", "age": 2}') == {"name": "n", "age": 2}


def test_plain_formats_have_no_output_to_validate() -> None:
    for kind in ("text", "json_object"):
        wire, output = normalize_response_format({"type": kind})
        assert (wire, output) == ({"type": kind}, None)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"type": "yaml"}, "unknown type 'yaml'"),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "needs"),
        ("json", "not str"),
        (dict, "not type"),
    ],
)
def test_bad_response_formats(value: Any, match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match) as info:
        ChatRequest.build("hi", model="m", response_format=value)
    assert info.value.field == "response_format"


@pytest.mark.parametrize(
    ("fmt", "text", "match"),
    [
        (Weather, '{"city": "Paris"}', "celsius"),
        (Weather, "not json", "Weather"),
        (SCHEMA, '{"name": "n"}', "missing required property 'age'"),
        (SCHEMA, "{", "not JSON"),
    ],
)
def test_output_that_does_not_validate_keeps_the_raw_text(fmt: Any, text: str, match: str) -> None:
    request = ChatRequest.build("hi", model="m", response_format=fmt)
    assert request.output is not None
    with pytest.raises(ResponseFormatError, match=match) as info:
        request.output.parse(text, "rest")
    assert info.value.text == text
    assert info.value.backend == "rest"


def test_replace_keeps_the_output_spec() -> None:
    request = ChatRequest.build("hi", model="m", response_format=Weather)
    again = request.replace(max_tokens=5)
    assert again.output is not None
    assert again.output.model is Weather
