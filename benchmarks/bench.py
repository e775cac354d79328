"""chatport's benchmark suite: one command, every comparison measured side by side.

    python benchmarks/bench.py                    # the working tree, every section
    python benchmarks/bench.py --before dca2cd9   # the same, and a git ref next to it
    python benchmarks/bench.py --before A --after B   # two refs, neither the tree
    python benchmarks/bench.py --smoke            # a few iterations of everything (CI)
    python benchmarks/bench.py --only overhead,startup
    python benchmarks/bench.py --plugins          # with the installed plugins active

The local workspace runs as ``chatport serve`` in its own process on 127.0.0.1, and every
contender sends the same request to the same endpoint: the bare httpx contenders send the
very body chatport sends (read back from a local workspace's request log). Each side (the
working tree, and with ``--before REF`` a temporary git worktree of that ref) is measured
by its own ``bench_worker.py`` process with its ``src`` first on ``PYTHONPATH``; the sides
take turns round by round, and within a round the contenders take turns call by call (the
order reversed every round), so machine noise falls on all of them alike. Ratios compare
contenders of the same side and round. Figures are medians.

Sections: ``startup``, ``overhead`` (per call over a bare httpx POST, two request
shapes), ``stream`` (a 200-token stream), ``throughput`` (``map``/``amap`` and an
unbounded ``gather`` against hand-written ``gather`` over raw ``AsyncOpenAI``), ``sdk``
(each backend against its SDK called directly), ``peers`` (litellm, aisuite, any-llm from
the optional ``bench`` extra, skipped when missing) and ``memory``. Everything is written
to ``benchmarks/results/bench.json``. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import bench_report as report
from batch_bench import start_server
from bench_report import Figure
from bench_sides import (
    Side,
    Worker,
    base_environment,
    capture_bodies,
    describe_tree,
    tree_state,
    worktree,
)

TOKEN = "dapi-bench-token"
SLOW_MODEL = "bench-slow"
#: the batch endpoint answers after 50 ms, as a served model never answers at once
WORKSPACE_CONFIG = f"""
token = "{TOKEN}"

[endpoints.{SLOW_MODEL}]
model = "echo"
faults = [{{latency = 0.05}}]
"""
SECTIONS = ("startup", "overhead", "stream", "throughput", "sdk", "peers", "memory")
SHAPES = {"docs": "system + user, max_tokens, temperature", "tools": "tools, a tool call back"}


@dataclass(frozen=True)
class Scale:
    """How many rounds of what: the full run, or a smoke run for CI."""

    rounds: int = 12  # per-call sections: rounds per side
    per_round: int = 100  # calls of each contender per round
    stream_per_round: int = 25
    batch_rounds: int = 6
    batch_total: int = 1000  # requests per batch run
    concurrency: tuple[int, ...] = (64, 256)
    startup_runs: int = 21
    sdk_rounds: int = 4
    sdk_per_round: int = 50
    memory_calls: int = 10_000


SMOKE = Scale(
    rounds=1,
    per_round=5,
    stream_per_round=3,
    batch_rounds=1,
    batch_total=100,
    startup_runs=3,
    sdk_rounds=1,
    sdk_per_round=3,
    memory_calls=300,
)


# -- the local workspace ---------------------------------------------------------------


@contextmanager
def local_workspace(folder: Path) -> Iterator[str]:
    """``chatport serve`` (the working tree's) in its own process; yields its URL."""
    config = folder / "workspace.toml"
    config.write_text(WORKSPACE_CONFIG)
    # idle keep-alive connections stay open while the other side takes its turn
    process, url = start_server(config, "--idle-timeout", "600")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- running rounds --------------------------------------------------------------------


def turns(workers: list[Worker], rounds: int) -> Iterator[tuple[int, list[Worker]]]:
    """Each round's index and the order the sides take turns in (reversed every round)."""
    for index in range(rounds):
        yield index, workers if index % 2 == 0 else list(reversed(workers))


def merge(into: dict[str, Any], answer: dict[str, Any]) -> None:
    """Add one round's samples (nested dicts of lists) to the samples so far."""
    for key, value in answer.items():
        if isinstance(value, dict):
            merge(into.setdefault(key, {}), value)
        elif isinstance(value, list):
            into.setdefault(key, []).extend(value)
        else:
            into[key] = value


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_overhead(
    workers: list[Worker], bodies: dict[str, dict[str, Any]], scale: Scale
) -> dict[str, dict[str, Any]]:
    samples: dict[str, dict[str, Any]] = {w.side.name: {} for w in workers}
    for index, order in turns(workers, scale.rounds):
        for worker in order:
            for shape in SHAPES:
                answer = worker.ask(
                    "overhead",
                    shape=shape,
                    body=bodies[worker.side.name][shape],
                    per_round=scale.per_round,
                    round=index,
                )
                merge(samples[worker.side.name].setdefault(shape, {}), answer)
    return {
        side: {shape: report.per_call(s, "bare httpx POST") for shape, s in shapes.items()}
        for side, shapes in samples.items()
    }


def run_stream(
    workers: list[Worker], bodies: dict[str, dict[str, Any]], scale: Scale
) -> dict[str, dict[str, Any]]:
    samples: dict[str, dict[str, Any]] = {w.side.name: {} for w in workers}
    for index, order in turns(workers, scale.rounds):
        for worker in order:
            answer = worker.ask(
                "stream",
                body=bodies[worker.side.name]["stream"],
                per_round=scale.stream_per_round,
                round=index,
            )
            merge(samples[worker.side.name], answer)
    return {side: report.streams(s, "bare httpx stream") for side, s in samples.items()}


def run_throughput(workers: list[Worker], scale: Scale) -> dict[str, dict[str, Any]]:
    rounds: dict[str, list[dict[str, Any]]] = {w.side.name: [] for w in workers}
    for index, order in turns(workers, scale.batch_rounds):
        for worker in order:
            answer = worker.ask(
                "throughput",
                total=scale.batch_total,
                concurrency=list(scale.concurrency),
                round=index,
            )
            rounds[worker.side.name].append(answer)
    return {side: report.batches(r) for side, r in rounds.items()}


def run_startup(sides: list[Side], env: dict[str, str], runs: int, cwd: Path) -> dict[str, Any]:
    """Each command's wall time as a subprocess, against ``python -c pass``, per side."""
    chatport = str(Path(sys.executable).with_name("chatport"))
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import chatport": [sys.executable, "-c", "import chatport"],
        # what first use costs: names load when touched (chatport/__init__.py)
        "import chatport; chatport.Client": [
            sys.executable,
            "-c",
            "import chatport; chatport.Client",
        ],
        "chatport --help": [chatport, "--help"],
    }
    jobs = [(side, name) for side in sides for name in commands]
    environs = {side.name: side.environ(env) for side in sides}

    def run(side: Side, name: str) -> float:
        started = time.perf_counter()
        subprocess.run(
            commands[name], stdout=subprocess.DEVNULL, env=environs[side.name], cwd=cwd, check=True
        )
        return time.perf_counter() - started

    for side, name in jobs:  # the first run writes the bytecode
        run(side, name)
    samples: dict[str, dict[str, list[float]]] = {s.name: {n: [] for n in commands} for s in sides}
    for index in range(runs):
        for side, name in jobs if index % 2 == 0 else list(reversed(jobs)):
            samples[side.name][name].append(run(side, name))
    return {side: report.startup(s, "python -c pass") for side, s in samples.items()}


def run_rounds(
    workers: list[Worker], op: str, rounds: int, per_round: int
) -> dict[str, dict[str, Any]]:
    samples: dict[str, dict[str, Any]] = {w.side.name: {} for w in workers}
    for index, order in turns(workers, rounds):
        for worker in order:
            merge(samples[worker.side.name], worker.ask(op, per_round=per_round, round=index))
    return samples


def run_sdk(workers: list[Worker], scale: Scale) -> dict[str, dict[str, Any]]:
    samples = run_rounds(workers, "sdk", scale.sdk_rounds, scale.sdk_per_round)
    return {
        side: {
            backend: {
                "chatport_ms": report.median(s["chatport"]) * 1e3,
                "direct_ms": report.median(s["direct"]) * 1e3,
                "ratio": report.median(s["chatport"]) / report.median(s["direct"]),
            }
            for backend, s in backends.items()
        }
        for side, backends in samples.items()
    }


def run_peers(workers: list[Worker], scale: Scale) -> dict[str, dict[str, Any]]:
    samples = run_rounds(workers, "peers", scale.sdk_rounds, scale.sdk_per_round)
    figures: dict[str, dict[str, Any]] = {}
    for side, s in samples.items():
        ours = report.median(s["wall"]["chatport (rest)"])
        figures[side] = {
            name: {"median_ms": report.median(v) * 1e3, "chatport_ratio": ours / report.median(v)}
            for name, v in s["wall"].items()
        }
        figures[side]["skipped"] = sorted(set(s.get("skipped", [])))  # the same every round
    return figures


def run_memory(workers: list[Worker], scale: Scale) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    for worker in workers:
        marks = worker.ask("memory", calls=scale.memory_calls)["rss_bytes"]
        mib = {int(n): b / 2**20 for n, b in marks.items()}
        first, last = min(mib), max(mib)
        figures[worker.side.name] = {
            **{f"after {n} calls, MiB": v for n, v in sorted(mib.items())},
            f"growth {first} -> {last} calls, MiB": mib[last] - mib[first],
        }
    return figures


# -- the report ------------------------------------------------------------------------


def at_least(goal: float) -> Callable[[float], bool]:
    return lambda value: value >= goal


def at_most(goal: float) -> Callable[[float], bool]:
    return lambda value: value <= goal


def below(goal: float) -> Callable[[float], bool]:
    return lambda value: value < goal


def pick(figures: dict[str, Any], *keys: str) -> dict[str, float]:
    """One figure per side: ``figures[side][keys[0]][keys[1]]...``."""
    values = {}
    for side, tree in figures.items():
        for key in keys:
            tree = tree[key]
        values[side] = tree
    return values


def targets(results: dict[str, Any], scale: Scale) -> tuple[list[Figure], list[Figure]]:
    """Issue 21's targets, and the bare baselines they are measured against."""
    goals: list[Figure] = []
    bases: list[Figure] = []
    if "throughput" in results:
        tp = results["throughput"]
        for c in scale.concurrency:
            for name in ("chatport.map", "Client.map", "Client.amap", "Client.amap (openai)"):
                goals.append(
                    Figure(
                        f"{name} c={c} / gather + Semaphore({c}) on raw AsyncOpenAI, req/s",
                        pick(tp, f"{name} c={c}", "ratio"),
                        goal="≥ 0.95",
                        check=at_least(0.95),
                    )
                )
        goals.append(
            Figure(
                "unbounded gather over Client.acomplete / unbounded gather on raw AsyncOpenAI",
                pick(tp, "gather over Client.acomplete, unbounded", "ratio"),
                goal="≥ 0.95",
                check=at_least(0.95),
            )
        )
        for c in scale.concurrency:
            name = f"raw gather + Semaphore({c})"
            bases.append(Figure(f"{name} on AsyncOpenAI, req/s", pick(tp, name, "rps"), 0))
        name = "raw gather, unbounded"
        bases.append(Figure(f"{name} on AsyncOpenAI, req/s", pick(tp, name, "rps"), 0))
    if "stream" in results:
        st = results["stream"]
        for name in ("chatport.stream", "Client.stream"):
            for part in ("first", "last"):
                goals.append(
                    Figure(
                        f"{name}: {part} chunk / bare httpx stream",
                        pick(st, name, f"{part}_ratio"),
                        goal="≤ 1.10",
                        check=at_most(1.10),
                    )
                )
        for part in ("first", "last"):
            bases.append(
                Figure(
                    f"bare httpx stream, {part} chunk, ms",
                    pick(st, "bare httpx stream", f"{part}_ms"),
                    3,
                )
            )
    if "startup" in results:
        su = results["startup"]
        for name, goal in (("import chatport", 50.0), ("chatport --help", 150.0)):
            goals.append(
                Figure(
                    f"`{name}` over `python -c pass`, ms",
                    pick(su, name, "over_ms"),
                    1,
                    f"≤ {goal:.0f}",
                    at_most(goal),
                )
            )
        bases.append(Figure("`python -c pass`, ms", pick(su, "python -c pass", "median_ms"), 1))
    if "overhead" in results:
        oh = results["overhead"]
        for shape, what in SHAPES.items():
            for name in ("chatport.complete", "Client.complete"):
                goals.append(
                    Figure(
                        f"{name} over bare httpx POST, {shape} ({what}), µs",
                        pick(oh, shape, name, "over_us"),
                        0,
                        "< 150",
                        below(150),
                    )
                )
            bases.append(
                Figure(
                    f"bare httpx POST, {shape}, ms",
                    pick(oh, shape, "bare httpx POST", "median_ms"),
                    3,
                )
            )
    if "stream" in results:
        for name in ("chatport.stream", "Client.stream"):
            goals.append(
                Figure(
                    f"{name} over bare httpx stream, 200 tokens, µs",
                    pick(results["stream"], name, "over_us"),
                    0,
                    "< 150",
                    below(150),
                )
            )
    return goals, bases


def print_sections(results: dict[str, Any], sides: list[str]) -> None:
    if "startup" in results:
        report.side_table(
            "Start-up (subprocess wall time)",
            sides,
            [("median ms", "median_ms", 1), ("over python -c pass, ms", "over_ms", 1)],
            results["startup"],
        )
    for shape, what in SHAPES.items() if "overhead" in results else ():
        report.side_table(
            f"Per call on rest, {shape}: {what}",
            sides,
            [
                ("median ms", "median_ms", 3),
                ("p90 ms", "p90_ms", 3),
                ("over bare, µs", "over_us", 0),
                ("CPU over bare, µs", "cpu_over_us", 0),
            ],
            {side: shapes[shape] for side, shapes in results["overhead"].items()},
        )
    if "stream" in results:
        report.side_table(
            "Streaming a 200-token answer on rest",
            sides,
            [
                ("first chunk ms", "first_ms", 3),
                ("last chunk ms", "last_ms", 3),
                ("first / bare", "first_ratio", 2),
                ("last / bare", "last_ratio", 2),
                ("over bare, µs", "over_us", 0),
                ("CPU over bare, µs", "cpu_over_us", 0),
            ],
            results["stream"],
        )
    if "throughput" in results:
        report.side_table(
            "Batches: requests per second against a 50 ms endpoint "
            "(ratio: to the hand-written gather of the same concurrency)",
            sides,
            [("req/s", "rps", 0), ("ratio", "ratio", 2), ("failed", "errors", 0)],
            results["throughput"],
        )
    if "sdk" in results:
        report.side_table(
            "Per call: chatport against the same SDK called directly",
            sides,
            [
                ("chatport ms", "chatport_ms", 3),
                ("direct ms", "direct_ms", 3),
                ("ratio", "ratio", 2),
            ],
            results["sdk"],
        )
    if "peers" in results:
        figures = {
            side: {k: v for k, v in f.items() if k != "skipped"}
            for side, f in results["peers"].items()
        }
        report.side_table(
            "Per call: chatport against peers",
            sides,
            [("median ms", "median_ms", 3), ("chatport / this", "chatport_ratio", 2)],
            figures,
        )
        skipped = results["peers"][sides[-1]]["skipped"]
        if skipped:
            print(f"\n(not installed, skipped: {', '.join(skipped)}; `pip install -e '.[bench]'`)")
    if "memory" in results:
        rows = {
            side: {name: {"MiB": value} for name, value in f.items()}
            for side, f in results["memory"].items()
        }
        title = "Memory over sequential completions (rest)"
        report.side_table(title, sides, [("MiB", "MiB", 2)], rows)


def print_bodies(bodies: dict[str, dict[str, Any]]) -> None:
    """What the bare contenders send (chatport's own bodies), shape by shape."""
    print("\nBodies sent by the bare contenders (what each side's chatport sends):")
    for shape in (*SHAPES, "stream"):
        seen = {json.dumps(b[shape], sort_keys=True) for b in bodies.values()}
        keys = ", ".join(next(iter(bodies.values()))[shape])
        note = "the same on every side" if len(seen) == 1 else "**differs between the sides**"
        print(f"- {shape}: keys {keys} ({note})")


# -- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description="chatport benchmarks")
    parser.add_argument("--smoke", action="store_true", help="a few iterations of everything (CI)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument(
        "--before",
        metavar="REF",
        help="also measure this git ref (a temporary worktree), side by side with the tree",
    )
    parser.add_argument(
        "--after",
        metavar="REF",
        help="with --before: measure this git ref as the after side instead of the tree",
    )
    parser.add_argument(
        "--plugins",
        action="store_true",
        help="keep installed third-party plugins active (their hooks then run on every call)",
    )
    args = parser.parse_args()
    if args.after and not args.before:
        parser.error("--after needs --before")
    sections = [s for s in SECTIONS if s in args.only.split(",")]
    scale = SMOKE if args.smoke else Scale()
    started = time.perf_counter()
    state = tree_state()
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = stack.enter_context(local_workspace(folder))
        env = base_environment(url, TOKEN, args.plugins)
        os.environ["CHATPORT_DISABLE_PLUGINS"] = env.get("CHATPORT_DISABLE_PLUGINS", "")
        sides: list[Side] = []
        if args.before:
            tree, commit = stack.enter_context(worktree(args.before))
            sides.append(Side("before", tree / "src", commit))
        if args.before and args.after:
            tree, commit = stack.enter_context(worktree(args.after))
            sides.append(Side("after", tree / "src", commit))
        else:
            after = "after" if args.before else "tree"
            sides.append(Side(after, Path(__file__).resolve().parents[1] / "src", describe_tree()))
        names = [side.name for side in sides]
        python = platform.python_version()
        kind = "smoke" if args.smoke else "full"
        print(f"# chatport benchmarks ({kind} run, {os.cpu_count()} CPUs, Python {python})\n")
        for side in sides:
            print(f"- {side.name}: {side.label} ({side.src})")
        plugins = "active" if args.plugins else "disabled (--plugins to keep them)"
        print(f"- third-party plugins: {plugins}")
        if args.plugins and args.before:
            print("  (the installed plugins are the working tree's, on both sides)")
        bodies = {side.name: capture_bodies(side, env, folder) for side in sides}
        print_bodies(bodies)
        workers = [stack.enter_context(Worker(side, env, folder)) for side in sides]
        runners: dict[str, Callable[[], dict[str, Any]]] = {
            "startup": lambda: run_startup(sides, env, scale.startup_runs, folder),
            "overhead": lambda: run_overhead(workers, bodies, scale),
            "stream": lambda: run_stream(workers, bodies, scale),
            "throughput": lambda: run_throughput(workers, scale),
            "sdk": lambda: run_sdk(workers, scale),
            "peers": lambda: run_peers(workers, scale),
            "memory": lambda: run_memory(workers, scale),
        }
        for section in sections:
            progress(f"{section}...")
            results[section] = runners[section]()
    goals, bases = targets(results, scale)
    if goals:
        report.summary("Targets", names, goals)
    if bases:
        report.summary("Bare baselines (the same on both sides but for noise)", names, bases)
    print_sections(results, names)
    elapsed = time.perf_counter() - started
    print(f"\n(the whole run took {elapsed:.0f} s)")
    changed = tree_state() != state
    if changed:  # a start-up run imports the tree afresh: it may have measured either
        print("**the working tree's src/ changed during the run: measure again**")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    document = {
        "machine": {"python": python, "cpus": os.cpu_count(), "smoke": args.smoke},
        "plugins": args.plugins,
        "tree_changed_during_run": changed,
        "sides": {s.name: {"label": s.label, "src": str(s.src)} for s in sides},
        "scale": asdict(scale),
        "bodies": bodies,
        "targets": [asdict(g) | {"check": None, "verdict": g.verdict(names[-1])} for g in goals],
        "results": results,
    }
    (out / "bench.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"written: {out / 'bench.json'}")


if __name__ == "__main__":
    main()
