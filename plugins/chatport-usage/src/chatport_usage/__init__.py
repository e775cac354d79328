"""chatport plugin: tokens and cost per backend and model, and ``chatport usage``.

It counts every call this process makes (prompt, completion, reasoning and cached
tokens, failed attempts, and abandoned calls: a stream closed before its end, a
cancelled call) per backend and model, and prices them from a table that
ships with the package (each price with its source and date), overridable in the
chatport config under ``[plugins.usage.prices]``. :func:`report` gives the totals;
the ``chatport usage`` command prints them for a chatport-jsonl-log file or for the
current process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import click

import chatport

from .prices import Price, load_prices, shipped_prices
from .report import render_table, summarize
from .tally import Tally, Totals, read_log

__all__ = [
    "SETTINGS",
    "Price",
    "Tally",
    "Totals",
    "chatport_after_completion",
    "chatport_call_end",
    "chatport_on_error",
    "chatport_plugin_settings",
    "chatport_register_commands",
    "load_prices",
    "process_tally",
    "read_log",
    "render_table",
    "report",
    "reset",
    "shipped_prices",
]

#: The settings of ``[plugins.usage]``, checked by chatport when a client is built; the
#: ``[plugins.usage.prices.MODEL]`` tables inside are checked by :func:`load_prices`.
SETTINGS: dict[str, type | tuple[type, ...]] = {"prices": Mapping}

_tally = Tally()


def process_tally() -> Tally:
    """The totals of this process's calls since it started (or since :func:`reset`)."""
    return _tally


def reset() -> None:
    """Forget the calls counted so far in this process."""
    _tally.clear()


def report(config: chatport.Config | None = None) -> dict[str, Any]:
    """This process's totals, priced with ``config`` (default: the discovered config).

    The same JSON shape as ``chatport usage --json``: ``rows`` (one per backend and
    model, ``cost_usd`` is ``None`` when the model has no price) and ``total``.
    """
    prices = load_prices(config if config is not None else chatport.load_config())
    return summarize(_tally.rows(), prices, "this process's calls")


@chatport.hookimpl
def chatport_plugin_settings() -> dict[str, type | tuple[type, ...]]:
    """``prices``: a table of ``[plugins.usage.prices.MODEL]`` price overrides."""
    return SETTINGS


@chatport.hookimpl
def chatport_after_completion(
    request: chatport.ChatRequest, completion: chatport.Completion, backend: str
) -> None:
    """Count a successful call and its tokens (in memory only: never blocks)."""
    _tally.completion(backend, request.model, completion.usage.to_dict())


@chatport.hookimpl
def chatport_on_error(request: chatport.ChatRequest, backend: str) -> None:
    """Count a failed attempt."""
    _tally.error(backend, request.model)


@chatport.hookimpl
def chatport_call_end(
    request: chatport.ChatRequest,
    backend: str,
    status: Literal["ok", "error", "abandoned"],
    completion: chatport.Completion | None,
) -> None:
    """Count an abandoned call, with the tokens it reported before it was left."""
    if status == "abandoned":
        usage = completion.usage.to_dict() if completion is not None else None
        _tally.abandoned(backend, request.model, usage)


@chatport.hookimpl
def chatport_register_commands(cli: click.Group) -> None:
    """Add ``chatport usage``."""
    from .cli import usage_command

    cli.add_command(usage_command)
