"""The price table: shipped defaults (with source and date) overridden by the config."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import chatport

__all__ = ["Price", "load_prices", "shipped_prices"]

_RATES = ("input", "output", "cached_input")


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """US dollars per million tokens for one model, and where the figures came from."""

    input: float
    output: float
    cached_input: float | None = None
    source: str
    as_of: str | None = None

    def cost(self, prompt: int, cached: int, completion: int) -> float:
        """The cost of ``prompt`` tokens (``cached`` of them from cache) and ``completion``."""
        cached = min(cached, prompt)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        dollars = (prompt - cached) * self.input + cached * cached_rate + completion * self.output
        return dollars / 1_000_000

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the rates, the source and the date."""
        return {
            "input": self.input,
            "output": self.output,
            "cached_input": self.cached_input,
            "source": self.source,
            "as_of": self.as_of,
        }


def shipped_prices() -> dict[str, Price]:
    """The table shipped with the package (``prices.toml``)."""
    text = resources.files(__package__).joinpath("prices.toml").read_text(encoding="utf-8")
    table = tomllib.loads(text)["prices"]
    return {model: Price(**entry) for model, entry in table.items()}


def _rate(value: object, key: str, path: str | None, required: bool) -> float | None:
    if value is None and not required:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) < 0:  # type: ignore[arg-type]
        raise chatport.ConfigError(
            f"{key} must be a number of US dollars per million tokens (>= 0), got {value!r}",
            path=path,
            key=key,
        )
    return float(value)  # type: ignore[arg-type]


def load_prices(config: chatport.Config) -> dict[str, Price]:
    """Shipped prices, with ``[plugins.usage.prices.MODEL]`` tables from ``config`` on top.

    An override names ``input`` and ``output`` (and optionally ``cached_input``) in US
    dollars per million tokens. A bad value raises :class:`chatport.ConfigError` naming
    the file and the key.
    """
    prices = shipped_prices()
    overrides = config.plugin_options("usage").get("prices", {})
    where = "plugins.usage.prices"
    if not isinstance(overrides, Mapping):
        raise chatport.ConfigError(f"{where} must be a table", path=config.path, key=where)
    for model, entry in overrides.items():
        key = f"{where}.{model}"
        if not isinstance(entry, Mapping):
            raise chatport.ConfigError(
                f"{key} must be a table with input and output", path=config.path, key=key
            )
        unknown = sorted(set(entry) - set(_RATES))
        if unknown:
            raise chatport.ConfigError(
                f"{key}.{unknown[0]} is not a price; use {', '.join(_RATES)}",
                path=config.path,
                key=f"{key}.{unknown[0]}",
            )
        rates = {
            name: _rate(entry.get(name), f"{key}.{name}", config.path, name != "cached_input")
            for name in _RATES
        }
        prices[str(model)] = Price(
            input=rates["input"] or 0.0,
            output=rates["output"] or 0.0,
            cached_input=rates["cached_input"],
            source=f"config {config.path}" if config.path else "config",
        )
    return prices
