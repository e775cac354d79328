"""chatport's benchmark suite: one command, every comparison measured side by side.

    python benchmarks/bench.py            # the full run (several minutes)
    python benchmarks/bench.py --smoke    # a few iterations of everything (CI; no assertions)
    python benchmarks/bench.py --only overhead,startup
    python benchmarks/bench.py --plugins  # with the installed third-party plugins active

The local workspace runs as `chatport serve` in its own process on 127.0.0.1, and every
contender sends the same request to the same endpoint. Pairs are interleaved in rounds
(A, B, B, A, ...) so machine noise falls on both sides. Each section prints a markdown
table; everything is written to ``benchmarks/results/bench.json``.

Peers (litellm, aisuite, any-llm) come from the optional ``bench`` extra and are skipped
when missing. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm: no network at import
warnings.simplefilter("ignore")

MODEL = "databricks-gpt-5"
TOKEN = "dapi-bench-token"
PROMPT = "How fast is the fastest path to a Databricks model?"
MESSAGES = [{"role": "user", "content": PROMPT}]
LONG = " ".join(f"word{i}" for i in range(200))
RESULTS: dict[str, Any] = {}


# -- helpers ---------------------------------------------------------------------------


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p90_ms": ordered[int(len(ordered) * 0.9) - 1 if len(ordered) > 1 else 0] * 1000,
        "n": len(ordered),
    }


def interleave(
    contenders: dict[str, Callable[[], Any]], rounds: int, per_round: int
) -> dict[str, list[float]]:
    """Time each contender ``rounds * per_round`` times, one call of each in turn.

    Calls alternate one by one (the order reversed every round), so a burst of machine
    noise lands on every contender alike instead of on one contender's block.
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for name in names:  # warm up: connections, imports, caches
        for _ in range(max(3, per_round // 4)):
            contenders[name]()
    for index in range(rounds):
        order = names if index % 2 == 0 else list(reversed(names))
        gc.disable()
        for _ in range(per_round):  # one call of each in turn: noise falls on all alike
            for name in order:
                call = contenders[name]
                started = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - started)
        gc.enable()
    return samples


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |")


def start_server() -> tuple[subprocess.Popen[str], str]:
    chatport = Path(sys.executable).with_name("chatport")
    process = subprocess.Popen(
        [str(chatport), "serve", "--port", "0", "--token", TOKEN], stdout=subprocess.PIPE, text=True
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


# -- sections --------------------------------------------------------------------------


def overhead(url: str, rounds: int, per_round: int) -> None:
    """chatport against the same SDK called directly, per backend."""
    import httpx
    import openai
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.serving import ChatMessage, ChatMessageRole
    from mlflow.deployments import get_deploy_client

    import chatport

    bare = httpx.Client()
    raw_openai = openai.OpenAI(api_key=TOKEN, base_url=url + "/serving-endpoints", max_retries=0)
    workspace = WorkspaceClient(host=url, token=TOKEN, auth_type="pat")
    deploy = get_deploy_client("databricks")
    path = f"{url}/serving-endpoints/{MODEL}/invocations"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"messages": MESSAGES}
    clients = {
        b: chatport.Client(backend=b, model=MODEL, config={})
        for b in ("rest", "openai", "responses", "mlflow", "databricks-sdk")
    }
    pairs: dict[str, tuple[str, Callable[[], Any]]] = {
        "rest": (
            "bare httpx POST + json",
            lambda: bare.post(path, json=body, headers=headers).json(),
        ),
        "openai": (
            "openai chat.completions",
            lambda: raw_openai.chat.completions.create(model=MODEL, messages=MESSAGES),
        ),
        "responses": (
            "openai responses",
            lambda: raw_openai.responses.create(model=MODEL, input=PROMPT),
        ),
        "mlflow": (
            "mlflow predict",
            lambda: deploy.predict(endpoint=MODEL, inputs={"messages": MESSAGES}),
        ),
        "databricks-sdk": (
            "databricks-sdk query",
            lambda: workspace.serving_endpoints.query(
                name=MODEL, messages=[ChatMessage(role=ChatMessageRole.USER, content=PROMPT)]
            ),
        ),
    }
    rows = []
    for backend, (raw_name, raw_call) in pairs.items():
        client = clients[backend]
        samples = interleave(
            {"chatport": lambda c=client: c.complete(MESSAGES), "raw": raw_call}, rounds, per_round
        )
        ours, theirs = stats(samples["chatport"]), stats(samples["raw"])
        ratio = ours["median_ms"] / theirs["median_ms"]
        rows.append(
            [
                backend,
                raw_name,
                ours["median_ms"],
                ours["p90_ms"],
                theirs["median_ms"],
                theirs["p90_ms"],
                ratio,
            ]
        )
        RESULTS.setdefault("overhead", {})[backend] = {
            "chatport": ours,
            "raw": theirs,
            "raw_name": raw_name,
            "ratio": ratio,
        }
    table(
        "Per-call time: chatport against the same SDK called directly",
        [
            "backend",
            "direct call",
            "chatport median ms",
            "chatport p90 ms",
            "direct median ms",
            "direct p90 ms",
            "ratio",
        ],
        rows,
    )


def module_level(url: str, rounds: int, per_round: int) -> None:
    """``rest`` the way users call it: ``chatport.complete``, a ``Client``, a bare POST.

    The targets: ``chatport.complete`` at most 1.1x a bare httpx POST.
    """
    import httpx

    import chatport

    bare = httpx.Client()
    client = chatport.Client(backend="rest", model=MODEL, config={})
    path = f"{url}/serving-endpoints/{MODEL}/invocations"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"messages": MESSAGES}
    samples = interleave(
        {
            "chatport.complete": lambda: chatport.complete(MESSAGES, backend="rest", model=MODEL),
            "Client.complete": lambda: client.complete(MESSAGES),
            "bare httpx POST + json": lambda: bare.post(path, json=body, headers=headers).json(),
        },
        rounds,
        per_round,
    )
    base = stats(samples["bare httpx POST + json"])
    rows = []
    for name, values in samples.items():
        measured = stats(values)
        ratio = measured["median_ms"] / base["median_ms"]
        rows.append([name, measured["median_ms"], measured["p90_ms"], ratio])
        RESULTS.setdefault("module_level", {})[name] = {**measured, "ratio": ratio}
    table(
        "Per-call time on rest, as users call it (target: chatport.complete <= 1.1x bare httpx)",
        ["call", "median ms", "p90 ms", "ratio to bare httpx"],
        rows,
    )


def peers(url: str, rounds: int, per_round: int) -> None:
    """chatport's rest backend against peer libraries, same server and request."""
    import chatport

    client = chatport.Client(backend="rest", model=MODEL, config={})
    contenders: dict[str, Callable[[], Any]] = {
        "chatport (rest)": lambda: client.complete(MESSAGES)
    }
    skipped = []
    try:
        import litellm

        base = url + "/serving-endpoints"
        contenders["litellm (databricks)"] = lambda: litellm.completion(
            model=f"databricks/{MODEL}",
            api_base=base,
            api_key=TOKEN,
            messages=MESSAGES,
            num_retries=0,
        )
    except ImportError:
        skipped.append("litellm")
    try:
        import aisuite

        suite = aisuite.Client(
            {"openai": {"api_key": TOKEN, "base_url": url + "/serving-endpoints", "max_retries": 0}}
        )
        contenders["aisuite (openai provider)"] = lambda: suite.chat.completions.create(
            model=f"openai:{MODEL}", messages=MESSAGES
        )
    except ImportError:
        skipped.append("aisuite")
    try:
        import any_llm

        contenders["any-llm (databricks)"] = lambda: any_llm.completion(
            model=MODEL,
            provider="databricks",
            api_base=url + "/serving-endpoints",
            api_key=TOKEN,
            messages=MESSAGES,
        )
    except ImportError:
        skipped.append("any-llm")
    samples = interleave(contenders, rounds, per_round)
    ours = stats(samples["chatport (rest)"])
    rows = []
    for name, values in samples.items():
        s = stats(values)
        rows.append([name, s["median_ms"], s["p90_ms"], ours["median_ms"] / s["median_ms"]])
        RESULTS.setdefault("peers", {})[name] = {
            **s,
            "chatport_ratio": ours["median_ms"] / s["median_ms"],
        }
    RESULTS["peers_skipped"] = skipped
    table(
        "Per-call time: chatport against peers",
        ["library", "median ms", "p90 ms", "chatport / this"],
        rows,
    )
    if skipped:
        print(f"\n(not installed, skipped: {', '.join(skipped)}; `pip install -e '.[bench]'`)")


def startup(runs: int) -> None:
    """`import chatport` and `chatport --help` against `python -c pass`."""
    chatport_cli = str(Path(sys.executable).with_name("chatport"))
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import chatport'": [sys.executable, "-c", "import chatport"],
        # what first use costs: names load when touched (chatport/__init__.py)
        "import chatport; chatport.Message": [
            sys.executable,
            "-c",
            "import chatport; chatport.Message",
        ],
        "import chatport; chatport.Client": [
            sys.executable,
            "-c",
            "import chatport; chatport.Client",
        ],
        "chatport --help": [chatport_cli, "--help"],
    }
    # as installed: with bytecode. A first run writes the .pyc files even where
    # PYTHONDONTWRITEBYTECODE is set (as on CI machines), which would otherwise make
    # every run compile chatport from source.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for command in commands.values():
        subprocess.run(command, stdout=subprocess.DEVNULL, env=env, check=True)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for index in range(runs):
        for name in commands if index % 2 == 0 else reversed(list(commands)):
            started = time.perf_counter()
            subprocess.run(commands[name], stdout=subprocess.DEVNULL, check=True)
            samples[name].append(time.perf_counter() - started)
    base = statistics.median(samples["python -c pass"]) * 1000
    rows = []
    for name, values in samples.items():
        s = stats(values)
        rows.append([name, s["median_ms"], s["p90_ms"], s["median_ms"] - base])
        RESULTS.setdefault("startup", {})[name] = {**s, "over_python_ms": s["median_ms"] - base}
    table("Start-up", ["command", "median ms", "p90 ms", "over python -c pass, ms"], rows)


def throughput(url: str, total: int, concurrency: int) -> None:
    """N requests at concurrency C: chatport acomplete against raw async clients."""
    import httpx
    import openai

    import chatport

    path = f"{url}/serving-endpoints/{MODEL}/invocations"
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def run(name: str) -> float:
        semaphore = asyncio.Semaphore(concurrency)
        if name == "raw httpx.AsyncClient":
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            client = httpx.AsyncClient(limits=limits)  # the same pool as chatport's rest

            async def one() -> None:
                async with semaphore:
                    (await client.post(path, json={"messages": MESSAGES}, headers=headers)).json()

            closer: Callable[[], Any] = client.aclose
        elif name == "raw AsyncOpenAI":
            aio = openai.AsyncOpenAI(
                api_key=TOKEN, base_url=url + "/serving-endpoints", max_retries=0
            )

            async def one() -> None:
                async with semaphore:
                    await aio.chat.completions.create(model=MODEL, messages=MESSAGES)  # type: ignore[arg-type]

            closer = aio.close
        else:
            backend = name.split("(")[1].rstrip(")")
            chat = chatport.Client(backend=backend, model=MODEL, config={})

            async def one() -> None:
                async with semaphore:
                    await chat.acomplete(MESSAGES)

            closer = chat.aclose
        await asyncio.gather(*(one() for _ in range(min(200, total))))  # warm-up
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(total)))
        elapsed = time.perf_counter() - started
        await closer()
        return total / elapsed

    names = [
        "raw httpx.AsyncClient",
        "chatport acomplete (rest)",
        "raw AsyncOpenAI",
        "chatport acomplete (openai)",
    ]
    rates: dict[str, list[float]] = {n: [] for n in names}
    for index in range(3):
        for name in names if index % 2 == 0 else list(reversed(names)):
            rates[name].append(asyncio.run(run(name)))
    base = statistics.median(rates["raw httpx.AsyncClient"])
    openai_base = statistics.median(rates["raw AsyncOpenAI"])
    rows = []
    for name, values in rates.items():
        rate = statistics.median(values)
        against = openai_base if "openai" in name.lower() else base
        rows.append([name, round(rate), rate / against])
        RESULTS.setdefault("throughput", {})[name] = {
            "requests_per_s": rate,
            "ratio_to_raw": rate / against,
        }
    table(
        f"Async throughput: {total} requests at concurrency {concurrency}",
        ["client", "requests/s", "ratio to its raw client"],
        rows,
    )


def streaming(url: str, rounds: int, per_round: int) -> None:
    """Time to first chunk and to the last, against the raw SDK streams."""
    import httpx
    import openai

    import chatport

    bare = httpx.Client()
    raw_openai = openai.OpenAI(api_key=TOKEN, base_url=url + "/serving-endpoints", max_retries=0)
    rest = chatport.Client(backend="rest", model=MODEL, config={})
    via_openai = chatport.Client(backend="openai", model=MODEL, config={})
    path = f"{url}/serving-endpoints/{MODEL}/invocations"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"messages": [{"role": "user", "content": LONG}], "stream": True}
    first: dict[str, list[float]] = {}

    def timed(name: str, chunks: Callable[[], Any]) -> Callable[[], None]:
        first[name] = []

        def run() -> None:
            started = time.perf_counter()
            seen = False
            for _ in chunks():
                if not seen:
                    first[name].append(time.perf_counter() - started)
                    seen = True

        return run

    def bare_stream() -> Any:
        with bare.stream("POST", path, json=body, headers=headers) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    yield json.loads(line[6:])

    contenders = {
        "raw httpx stream": timed("raw httpx stream", bare_stream),
        "chatport stream (rest)": timed("chatport stream (rest)", lambda: rest.stream(LONG)),
        "raw openai stream": timed(
            "raw openai stream",
            lambda: raw_openai.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": LONG}], stream=True
            ),
        ),
        "chatport stream (openai)": timed(
            "chatport stream (openai)", lambda: via_openai.stream(LONG)
        ),
    }
    total = interleave(contenders, rounds, per_round)
    rows = []
    measured = {
        name: (stats(first[name][-len(values) :]), stats(values)) for name, values in total.items()
    }
    for name, (ttfc, ttlc) in measured.items():
        raw = "raw openai stream" if "openai" in name else "raw httpx stream"
        first_ratio = ttfc["median_ms"] / measured[raw][0]["median_ms"]
        last_ratio = ttlc["median_ms"] / measured[raw][1]["median_ms"]
        rows.append(
            [name, ttfc["median_ms"], ttlc["median_ms"], ttlc["p90_ms"], first_ratio, last_ratio]
        )
        RESULTS.setdefault("streaming", {})[name] = {
            "first_chunk": ttfc,
            "last_chunk": ttlc,
            "first_ratio": first_ratio,
            "last_ratio": last_ratio,
        }
    table(
        "Streaming a 200-word answer (targets on rest: first chunk <= 1.2x, last <= 1.15x raw)",
        [
            "client",
            "first chunk median ms",
            "last chunk median ms",
            "last chunk p90 ms",
            "first / raw",
            "last / raw",
        ],
        rows,
    )


def memory(calls: int) -> None:
    """Resident memory over many sequential completions (run in a child process)."""
    code = f"""
import json, os, sys, chatport
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
client = chatport.Client(backend="rest", model={MODEL!r}, config={{}})
marks = {{}}
for i in range({calls}):
    client.complete("memory check " + str(i))
    if i + 1 in ({calls // 10}, {calls // 2}, {calls}):
        marks[i + 1] = rss()
print(json.dumps(marks))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    marks = {int(k): v for k, v in json.loads(result.stdout).items()}
    ordered = sorted(marks)
    rows = [[n, round(marks[n] / 2**20, 1)] for n in ordered]
    growth = (marks[ordered[-1]] - marks[ordered[0]]) / 2**20
    rows.append([f"growth {ordered[0]} -> {ordered[-1]} calls (MiB)", round(growth, 2)])
    RESULTS["memory"] = {"rss_bytes": marks, "growth_mib": growth}
    table(f"Memory over {calls} sequential completions (rest)", ["after calls", "RSS MiB"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description="chatport benchmarks")
    parser.add_argument("--smoke", action="store_true", help="a few iterations of everything (CI)")
    parser.add_argument(
        "--only", default="overhead,module,peers,startup,throughput,streaming,memory"
    )
    parser.add_argument(
        "--plugins",
        action="store_true",
        help="keep installed third-party plugins active (their hooks then run on every call)",
    )
    args = parser.parse_args()
    if not args.plugins:  # chatport itself, not whatever plugins this venv happens to hold
        os.environ["CHATPORT_DISABLE_PLUGINS"] = "1"
    sections = set(args.only.split(","))
    smoke = args.smoke
    process, url = start_server()
    os.environ.update({"DATABRICKS_HOST": url, "DATABRICKS_TOKEN": TOKEN})
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # raw mlflow: no retries
    RESULTS["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "smoke": smoke,
    }
    kind = "smoke" if smoke else "full"
    python = platform.python_version()
    print(f"# chatport benchmarks ({kind} run, {os.cpu_count()} CPUs, Python {python})")
    plugins = "active" if args.plugins else "disabled (--plugins to keep them)"
    print(f"third-party plugins: {plugins}")
    RESULTS["machine"]["plugins"] = bool(args.plugins)
    try:
        if "overhead" in sections:
            overhead(url, 2 if smoke else 10, 5 if smoke else 100)
        if "module" in sections:
            module_level(url, 2 if smoke else 10, 5 if smoke else 100)
        if "peers" in sections:
            peers(url, 2 if smoke else 10, 5 if smoke else 100)
        if "startup" in sections:
            startup(3 if smoke else 21)
        if "throughput" in sections:
            throughput(url, 100 if smoke else 2000, 64)
        if "streaming" in sections:
            streaming(url, 2 if smoke else 6, 3 if smoke else 30)
        if "memory" in sections:
            memory(500 if smoke else 10_000)
    finally:
        process.terminate()
        process.wait(timeout=30)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps(RESULTS, indent=2, default=str) + "\n")
    print(f"\nwritten: {out / 'bench.json'}")


if __name__ == "__main__":
    main()
