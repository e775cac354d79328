"""Value checks for the local workspace's settings: one rule per setting, one-line errors.

A :data:`Rule` takes a value, the dotted key it sits at (``endpoints.my-bot.faults[0].status``)
and the file it came from (``None`` for values passed in code), and returns the value in
canonical form or raises :class:`~chatport.ConfigError` naming that file and key. The same
rules check a TOML file (``chatport serve --config``) and keyword arguments in code, so a
bad value is refused before the server starts, never answered with an HTTP 500.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from .._errors import ConfigError
from .._redact import shown
from .._suggest import did_you_mean

__all__ = [
    "Rule",
    "boolean",
    "choice",
    "dotted",
    "expected",
    "integer",
    "number",
    "optional",
    "pattern",
    "string",
    "table",
    "token",
    "unknown_key",
]

#: ``rule(value, where, path)``: the value in canonical form, or a ``ConfigError``.
Rule: TypeAlias = Callable[[Any, str, "str | None"], Any]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN = re.compile(r"[!-~]+")  # visible ASCII: what an Authorization header can carry


def dotted(where: str, name: object) -> str:
    """``where.name``, quoting ``name`` as TOML does when it is not a bare key."""
    if isinstance(name, str) and _BARE_KEY.fullmatch(name):
        part = name
    else:
        part = json.dumps(name) if isinstance(name, str) else repr(name)
    return f"{where}.{part}" if where else part


def expected(what: str, value: Any, where: str, path: str | None) -> ConfigError:
    """``where: expected WHAT, got TYPE VALUE`` (a value that may be a secret is not shown)."""
    return ConfigError(
        f"{where}: expected {what}, got {type(value).__name__} {shown(value)}",
        path=path,
        key=where,
    )


def unknown_key(
    name: object, known: Iterable[str], where: str, path: str | None, noun: str = "key"
) -> ConfigError:
    """``where: unknown key 'x' (did you mean 'y'?); known: ...``."""
    choices = sorted(known)
    hint = did_you_mean(name, choices) if isinstance(name, str) else ""
    prefix = f"{where}: " if where else ""
    return ConfigError(
        f"{prefix}unknown {noun} {name!r}{hint}; known: {', '.join(choices)}",
        path=path,
        key=dotted(where, name),
    )


def table(value: Any, where: str, path: str | None, what: str = "a table") -> Mapping[str, Any]:
    """``value`` if it is a table (a mapping)."""
    if not isinstance(value, Mapping):
        raise expected(what, value, where, path)
    return value


def boolean(value: Any, where: str, path: str | None) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise expected("true or false", value, where, path)
    return value


def integer(low: int, high: int | None = None, what: str = "") -> Rule:
    """A whole number from ``low`` to ``high`` (no upper bound when ``None``)."""
    span = f"a whole number >= {low}" if high is None else f"a whole number from {low} to {high}"
    described = f"{what} ({span})" if what else span

    def rule(value: Any, where: str, path: str | None) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value > high)
        ):
            raise expected(described, value, where, path)
        return value

    return rule


def number(low: float, high: float | None = None, *, above: bool = False) -> Rule:
    """A finite number >= ``low`` (> ``low`` with ``above``) and <= ``high``, as a float."""
    if high is not None:
        described = f"a number from {low:g} to {high:g}"
    else:
        described = f"a number {'>' if above else '>='} {low:g}"

    def rule(value: Any, where: str, path: str | None) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < low
            or (above and value == low)
            or (high is not None and value > high)
        ):
            raise expected(described, value, where, path)
        return float(value)

    return rule


def string(value: Any, where: str, path: str | None) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise expected("a non-empty string", value, where, path)
    return value


def token(value: Any, where: str, path: str | None) -> str:
    """A token clients can send in a header: visible ASCII characters, no spaces."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise expected("a token (visible ASCII characters, no spaces)", value, where, path)
    return value


def pattern(value: Any, where: str, path: str | None) -> str:
    """A regular expression (Python's ``re`` syntax)."""
    string(value, where, path)
    try:
        re.compile(value)
    except re.error as exc:
        raise ConfigError(
            f"{where}: not a valid regular expression: {exc}", path=path, key=where
        ) from None
    return str(value)


def choice(options: Iterable[str], noun: str) -> Rule:
    """One of ``options``; a near-miss string gets a "did you mean"."""
    allowed = tuple(options)
    listed = ", ".join(allowed)

    def rule(value: Any, where: str, path: str | None) -> str:
        if value in allowed and isinstance(value, str):
            return value
        if not isinstance(value, str):
            raise expected(f"one of {listed}", value, where, path)
        raise ConfigError(
            f"{where}: unknown {noun} {shown(value)}{did_you_mean(value, allowed)}; "
            f"expected one of {listed}",
            path=path,
            key=where,
        )

    return rule


def optional(rule: Rule) -> Rule:
    """``rule``, or ``None`` (which only code can pass: TOML has no null)."""

    def check(value: Any, where: str, path: str | None) -> Any:
        return None if value is None else rule(value, where, path)

    return check
