"""Priced totals: what ``chatport usage`` prints, as a table or JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .prices import Price
from .tally import Totals

__all__ = ["printable", "render_table", "summarize"]

#: What a terminal would act on rather than show: C0 and C1 controls (ESC starts an escape
#: sequence), DEL, the bidirectional overrides and isolates, and lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` without control characters, fit to print on a terminal."""
    return _UNPRINTABLE.sub("", text)


def _row(totals: Totals, price: Price | None, by_tag: str | None) -> dict[str, Any]:
    tokens = totals.tokens
    cost = None
    if price is not None:
        cost = price.cost(
            tokens["prompt_tokens"], tokens["cached_tokens"], tokens["completion_tokens"]
        )
    group = {"backend": totals.backend} if by_tag is None else {"tag": totals.backend}
    return {
        **group,
        "model": totals.model,
        "calls": totals.calls,
        "errors": totals.errors,
        "unmetered_calls": totals.unmetered,
        "abandoned": totals.abandoned,
        **tokens,
        "priced": price is not None,
        "cost_usd": cost,
        "price": price.to_dict() if price is not None else None,
    }


def summarize(
    rows: list[Totals], prices: Mapping[str, Price], source: str, *, by_tag: str | None = None
) -> dict[str, Any]:
    """Rows with their cost (``None`` when the model has no price) and the totals.

    The total cost covers priced models only; ``unpriced_models`` lists the others,
    whose cost is unknown, not zero. With ``by_tag`` (the rows keyed by that request
    tag's value), each row has ``tag`` instead of ``backend`` and the summary names the
    key in ``by_tag``.
    """
    priced = [_row(totals, prices.get(totals.model), by_tag) for totals in rows]
    keys = ("calls", "errors", "unmetered_calls", "abandoned", *rows[0].tokens) if rows else ()
    total: dict[str, Any] = {key: sum(row[key] for row in priced) for key in keys}
    total["cost_usd"] = sum(row["cost_usd"] for row in priced if row["priced"])
    total["unpriced_models"] = sorted({row["model"] for row in priced if not row["priced"]})
    summary: dict[str, Any] = {"source": source, "rows": priced, "total": total}
    if by_tag is not None:
        summary["by_tag"] = by_tag
    return summary


_COLUMNS = (
    ("backend", "backend"),
    ("model", "model"),
    ("calls", "calls"),
    ("errors", "errors"),
    ("abandoned", "abandoned"),
    ("prompt", "prompt_tokens"),
    ("cached", "cached_tokens"),
    ("completion", "completion_tokens"),
    ("reasoning", "reasoning_tokens"),
    ("total", "total_tokens"),
    ("cost (USD)", "cost_usd"),
)


def _cell(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "cost_usd":
        return "unpriced" if not row.get("priced", True) else f"{value:.6f}"
    return printable(str(value))


def render_table(summary: Mapping[str, Any]) -> str:
    """The summary as an aligned text table with a total line."""
    rows = summary["rows"]
    if not rows:
        return printable(f"no calls recorded ({summary['source']})")
    columns = _COLUMNS
    by_tag = summary.get("by_tag")
    if by_tag is not None:  # the first column is the tag's value
        columns = ((f"tag {by_tag}", "tag"), *_COLUMNS[1:])
    total = {**summary["total"], columns[0][1]: "total", "model": "", "priced": True}
    lines = [[printable(title) for title, _ in columns]]
    lines += [[_cell(row, key) for _, key in columns] for row in [*rows, total]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    text = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    notes = [f"from {summary['source']}"]
    unpriced = summary["total"]["unpriced_models"]
    if unpriced:
        notes.append(
            f"cost excludes unpriced models (unknown, not free): {', '.join(unpriced)}; "
            "add them under [plugins.usage.prices] in your chatport config"
        )
    if summary["total"].get("unmetered_calls"):
        notes.append(f"{summary['total']['unmetered_calls']} call(s) reported no token usage")
    if summary["total"].get("abandoned"):
        notes.append(
            f"{summary['total']['abandoned']} call(s) abandoned before their end (a stream "
            "closed early, a cancelled call): tokens they never reported are not counted"
        )
    return "\n".join([*text, "", *(printable(note) for note in notes)])
