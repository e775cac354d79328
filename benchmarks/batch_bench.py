"""Batch throughput and memory: ``Client.map``/``amap`` against the hand-written pattern.

    python benchmarks/batch_bench.py            # the full run (a few minutes)
    python benchmarks/batch_bench.py --smoke    # seconds; no assertions

The local workspace runs as ``chatport serve`` in its own process, with 50 ms of latency
on every call, so the numbers are about concurrency, not about the server. The
contenders, interleaved in rounds:

* ``gather + Semaphore(C)`` over a raw ``openai.AsyncOpenAI`` (what users write by hand);
* ``chatport amap`` on the ``openai`` and ``rest`` backends, at the same concurrency;
* ``chatport map`` (the blocking form) on ``rest``.

Then peak RSS of ``map`` over 10,000 and 100,000 inputs from a generator (flat means
the inputs are read lazily). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODEL = "bench-slow"
TOKEN = "dapi-batch-bench-token"
LATENCY = 0.05
CONFIG = f"""
token = "{TOKEN}"

[endpoints.{MODEL}]
model = "echo"
faults = [{{latency = {LATENCY}}}]
"""


def start_server(config: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """``chatport serve`` on ``config`` (plus ``options``) in its own process, once it
    answers; the process and its URL."""
    chatport = Path(sys.executable).with_name("chatport")
    process = subprocess.Popen(
        [str(chatport), "serve", "--port", "0", "--config", str(config), *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().split(" on ", 1)[1].strip()
    import httpx

    for _ in range(200):
        try:
            httpx.get(url + "/.well-known/databricks-config", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return process, url


def prompts(total: int) -> list[str]:
    return [f"prompt {i}" for i in range(total)]


async def raw_gather(url: str, total: int, concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(api_key=TOKEN, base_url=url + "/serving-endpoints", max_retries=0)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(prompt: str) -> str | None:
        async with semaphore:
            answer = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": prompt}]
            )
            return answer.choices[0].message.content

    started = time.perf_counter()
    await asyncio.gather(*(one(p) for p in prompts(total)))
    elapsed = time.perf_counter() - started
    await client.close()
    return total / elapsed


async def chatport_amap(url: str, total: int, concurrency: int, backend: str) -> float:
    import chatport

    async with chatport.Client(backend=backend, model=MODEL, config={}) as client:
        started = time.perf_counter()
        count = 0
        async for result in client.amap(prompts(total), concurrency=concurrency):
            count += result.ok
        elapsed = time.perf_counter() - started
    assert count == total, f"{total - count} failed"
    return total / elapsed


def chatport_map(url: str, total: int, concurrency: int) -> float:
    import chatport

    with chatport.Client(backend="rest", model=MODEL, config={}) as client:
        started = time.perf_counter()
        count = sum(result.ok for result in client.map(prompts(total), concurrency=concurrency))
        elapsed = time.perf_counter() - started
    assert count == total, f"{total - count} failed"
    return total / elapsed


def throughput(url: str, total: int, concurrency: int, rounds: int) -> dict[str, float]:
    contenders: dict[str, Callable[[], float]] = {
        "gather + Semaphore, raw AsyncOpenAI": lambda: asyncio.run(
            raw_gather(url, total, concurrency)
        ),
        "chatport amap (openai)": lambda: asyncio.run(
            chatport_amap(url, total, concurrency, "openai")
        ),
        "chatport amap (rest)": lambda: asyncio.run(chatport_amap(url, total, concurrency, "rest")),
        "chatport map (rest)": lambda: chatport_map(url, total, concurrency),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for index in range(rounds):
        for name in names if index % 2 == 0 else list(reversed(names)):
            rates[name].append(contenders[name]())
    medians = {name: statistics.median(values) for name, values in rates.items()}
    base = medians["gather + Semaphore, raw AsyncOpenAI"]
    ideal = concurrency / LATENCY
    print(f"\n### {total} prompts at concurrency {concurrency} ({LATENCY * 1000:.0f} ms latency)\n")
    print("| contender | requests/s | ratio to gather + Semaphore | share of the ideal |")
    print("|---|---|---|---|")
    for name, rate in medians.items():
        print(f"| {name} | {rate:.0f} | {rate / base:.2f} | {rate / ideal:.0%} |")
    return medians


def memory(url: str, counts: list[int]) -> dict[int, float]:
    code = f"""
import json, resource, chatport
marks = {{}}
with chatport.Client(backend="rest", model="databricks-gpt-5", config={{}}) as client:
    inputs = ("memory " + str(i) for i in range({max(counts)}))
    for result in client.map(inputs, concurrency=64):
        if result.index + 1 in {counts!r}:
            marks[result.index + 1] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(marks))
"""
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    marks = {int(k): v for k, v in json.loads(output).items()}
    print("\n### Peak RSS of map over inputs from a generator (rest, concurrency 64)\n")
    print("| inputs done | peak RSS MiB |")
    print("|---|---|")
    for count, mib in sorted(marks.items()):
        print(f"| {count:,} | {mib:.1f} |")
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description="chatport batch benchmarks")
    parser.add_argument("--smoke", action="store_true", help="seconds; for CI")
    parser.add_argument(
        "--memory", default="10000,100000", help="input counts to report peak RSS at ('' skips)"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "workspace.toml"
        config.write_text(CONFIG)
        process, url = start_server(config)
        os.environ["DATABRICKS_HOST"] = url  # every contender, and the memory child process
        os.environ["DATABRICKS_TOKEN"] = TOKEN
        try:
            if args.smoke:
                results["c64"] = throughput(url, 200, 64, 1)
                results["memory"] = memory(url, [500, 1000])
            else:
                results["c64"] = throughput(url, 5000, 64, 3)
                results["c256"] = throughput(url, 5000, 256, 3)
                if args.memory:
                    results["memory"] = memory(url, [int(n) for n in args.memory.split(",")])
        finally:
            process.terminate()
            process.wait(timeout=10)
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    kind = "smoke" if args.smoke else "full"
    (out / f"batch-{kind}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
