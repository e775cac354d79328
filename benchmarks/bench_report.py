"""Figures from ``bench.py``'s raw samples: medians, ratios, overheads, and their tables.

Every figure is computed per side from that side's own samples (a ratio compares two
contenders measured in the same rounds of the same process), then the sides are put next
to each other. Tables are printed as markdown.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.9) - 1)]


# -- per-section figures ---------------------------------------------------------------


def per_call(samples: dict[str, dict[str, list[float]]], bare: str) -> dict[str, dict[str, float]]:
    """Median and p90 per call, and the wall and CPU overhead over ``bare`` in µs."""
    wall, cpu = samples["wall"], samples["cpu"]
    base, base_cpu = median(wall[bare]), median(cpu[bare])
    return {
        name: {
            "median_ms": median(values) * 1e3,
            "p90_ms": p90(values) * 1e3,
            "over_us": (median(values) - base) * 1e6,
            "cpu_us": median(cpu[name]) * 1e6,
            "cpu_over_us": (median(cpu[name]) - base_cpu) * 1e6,
            "n": len(values),
        }
        for name, values in wall.items()
    }


def streams(samples: dict[str, dict[str, list[float]]], bare: str) -> dict[str, dict[str, float]]:
    """First and last chunk, their ratios to ``bare``, and the overhead of a whole stream."""
    figures = per_call(samples, bare)
    first = samples["first"]
    for name, row in figures.items():
        row["first_ms"] = median(first[name]) * 1e3
        row["first_ratio"] = median(first[name]) / median(first[bare])
        row["last_ms"] = row["median_ms"]
        row["last_ratio"] = median(samples["wall"][name]) / median(samples["wall"][bare])
    return figures


def baseline_of(name: str) -> str:
    """The hand-written contender a batch contender is compared with."""
    if name.endswith("unbounded"):
        return "raw gather, unbounded"
    return f"raw gather + Semaphore({name.rsplit('c=', 1)[1]})"


def batches(rounds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Requests per second (median over rounds) and the ratio to the hand-written gather.

    The ratio is the median over rounds of that round's ratio: the two runs of a round
    are next to each other in time, so they share the machine's state.
    """
    names = list(rounds[0]["rates"])
    figures: dict[str, dict[str, Any]] = {}
    for name in names:
        base = name if name.startswith("raw") else baseline_of(name)
        figures[name] = {
            "rps": median([r["rates"][name] for r in rounds]),
            "ratio": median([r["rates"][name] / r["rates"][base] for r in rounds]),
            "errors": sum(r["errors"][name] for r in rounds),
            "baseline": base,
        }
    return figures


def startup(samples: dict[str, list[float]], bare: str) -> dict[str, dict[str, float]]:
    """Median wall time per command, and over the bare interpreter, in ms."""
    base = median(samples[bare])
    return {
        name: {
            "median_ms": median(values) * 1e3,
            "p90_ms": p90(values) * 1e3,
            "over_ms": (median(values) - base) * 1e3,
            "n": len(values),
        }
        for name, values in samples.items()
    }


# -- tables ----------------------------------------------------------------------------


def cell(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(cell(v) for v in row) + " |")


def side_table(
    title: str,
    sides: list[str],
    columns: list[tuple[str, str, int]],
    figures: dict[str, dict[str, dict[str, Any]]],
) -> None:
    """One row per contender, and for each ``(label, key, digits)`` column one per side."""
    header = ["contender"]
    for label, _, _ in columns:
        header += [f"{label} ({side})" if len(sides) > 1 else label for side in sides]
    rows = []
    for name in figures[sides[-1]]:
        row: list[Any] = [name]
        for _, key, digits in columns:
            for side in sides:
                value = figures[side].get(name, {}).get(key)
                row.append("" if value is None else cell(value, digits))
        rows.append(row)
    table(title, header, rows)


@dataclass
class Figure:
    """One summary line: a measure, its goal (if any), and its value on each side."""

    label: str
    values: dict[str, float]
    digits: int = 2
    goal: str = ""
    check: Callable[[float], bool] | None = None

    def verdict(self, side: str) -> str:
        if self.check is None or side not in self.values:
            return ""
        return "met" if self.check(self.values[side]) else "**missed**"


def summary(title: str, sides: list[str], lines: list[Figure]) -> list[list[Any]]:
    """Print each measure per side, the ratio of the last side to the first, the verdict."""
    header = ["measure", "goal", *sides]
    if len(sides) > 1:
        header.append(f"{sides[-1]} / {sides[0]}")
    if any(line.check for line in lines):
        header.append(f"{sides[-1]} meets the goal")
    rows = []
    for line in lines:
        row: list[Any] = [line.label, line.goal]
        row += [cell(line.values[s], line.digits) if s in line.values else "" for s in sides]
        if len(sides) > 1:
            first, last = line.values.get(sides[0]), line.values.get(sides[-1])
            row.append(cell(last / first) if first and last is not None and first > 0 else "n/a")
        if "meets the goal" in header[-1]:
            row.append(line.verdict(sides[-1]))
        rows.append(row)
    table(title, header, rows)
    return rows
