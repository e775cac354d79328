"""One side of ``bench.py``: measurement rounds against the chatport found on ``sys.path``.

``bench.py`` starts this script once per side (the working tree, and with ``--before REF``
that ref's worktree, each put first on ``PYTHONPATH``). It reads one JSON command a line
on standard input and answers each with one JSON line: the raw samples of one round,
which ``bench.py`` gathers over rounds and sides. Everything goes to the local workspace
whose URL and token are in ``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN``.

``python bench_worker.py capture`` prints instead the request bodies this chatport sends
for each request shape, read from an in-process local workspace's request log: the bare
contenders send exactly those bodies, so both sides of a pair ask the server the same.

Only public API that every compared ref has is used here.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

warnings.simplefilter("ignore")

#: the plain endpoint (answers at once) and the one with latency (for batches)
MODEL = "databricks-gpt-5"
SLOW_MODEL = "bench-slow"
#: a 200-word prompt: the echo model streams it back word by word, about 200 chunks
LONG = " ".join(f"word{i}" for i in range(200))
PROMPT = "How fast is the fastest path to a Databricks model?"

#: the request shapes of the per-call overhead, as chatport is called with them
SHAPES: dict[str, dict[str, Any]] = {
    # the Databricks docs' example chat request: a system and a user message
    "docs": {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is a mixture of experts model?"},
        ],
        "params": {"max_tokens": 256, "temperature": 0.1},
    },
    # a request with tools; the echo model answers with a call of the first tool
    "tools": {
        "messages": [{"role": "user", "content": "What is the weather in Paris today?"}],
        "params": {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "The current weather in a city.",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        },
                    },
                }
            ]
        },
    },
    # a 200-token streamed answer
    "stream": {"messages": LONG, "params": {}},
}


def clock() -> tuple[float, float]:
    """Wall and process CPU time, now."""
    return time.perf_counter(), time.process_time()


# -- capture ---------------------------------------------------------------------------


def capture() -> dict[str, Any]:
    """The body this chatport sends for each shape, as the local workspace received it."""
    import chatport
    from chatport.local import LocalWorkspace

    try:
        workspace = LocalWorkspace(log_bodies=True)
    except TypeError:  # older workspaces always keep the bodies
        workspace = LocalWorkspace()
    bodies: dict[str, Any] = {}
    with workspace, workspace.activated():
        client = chatport.Client(backend="rest", model=MODEL, config={})
        for name, shape in SHAPES.items():
            if name == "stream":
                for _ in client.stream(shape["messages"], **shape["params"]):
                    pass
            else:
                client.complete(shape["messages"], **shape["params"])
            posts = [r for r in workspace.requests if r.method == "POST"]
            bodies[name] = posts[-1].body
        client.close()
    return bodies


# -- per call --------------------------------------------------------------------------


def interleave(
    contenders: dict[str, Callable[[], Any]], per_round: int, reverse: bool
) -> dict[str, dict[str, list[float]]]:
    """Call each contender ``per_round`` times, one call of each in turn.

    Returns wall and CPU seconds per call. Calls alternate one by one (the order reversed
    on odd rounds), so a burst of machine noise falls on every contender alike. The
    garbage collector stays on: what it costs is part of what a user waits for.
    """
    names = list(reversed(contenders)) if reverse else list(contenders)
    for name in names:  # warm up: connections, imports, caches
        for _ in range(max(3, per_round // 10)):
            contenders[name]()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(per_round):
        for name in names:
            call = contenders[name]
            started, started_cpu = clock()
            call()
            ended, ended_cpu = clock()
            wall[name].append(ended - started)
            cpu[name].append(ended_cpu - started_cpu)
    return {"wall": wall, "cpu": cpu}


class Bare:
    """The bare contenders: one keep-alive httpx client posting the captured bodies."""

    def __init__(self, url: str, token: str) -> None:
        import httpx

        self.client = httpx.Client()
        self.path = f"{url}/serving-endpoints/{MODEL}/invocations"
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, body: Any) -> Any:
        return self.client.post(self.path, json=body, headers=self.headers).json()

    def stream(self, body: Any) -> Iterator[Any]:
        """The event stream's JSON objects, one per ``data:`` line."""
        with self.client.stream("POST", self.path, json=body, headers=self.headers) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    yield json.loads(line[6:])


def overhead(command: dict[str, Any]) -> dict[str, Any]:
    """One round of a non-streamed shape: chatport.complete, a Client, a bare POST."""
    import chatport

    shape = SHAPES[command["shape"]]
    messages, params = shape["messages"], shape["params"]
    bare = shared_bare()
    client = shared_client()
    body = command["body"]
    return interleave(
        {
            "bare httpx POST": lambda: bare.post(body),
            "chatport.complete": lambda: chatport.complete(
                messages, backend="rest", model=MODEL, **params
            ),
            "Client.complete": lambda: client.complete(messages, **params),
        },
        command["per_round"],
        command["round"] % 2 == 1,
    )


def stream(command: dict[str, Any]) -> dict[str, Any]:
    """One round of the 200-token stream: first chunk, last chunk and CPU per stream."""
    import chatport

    bare = shared_bare()
    client = shared_client()
    body = command["body"]
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

    samples = interleave(
        {
            "bare httpx stream": timed("bare httpx stream", lambda: bare.stream(body)),
            "chatport.stream": timed(
                "chatport.stream", lambda: chatport.stream(LONG, backend="rest", model=MODEL)
            ),
            "Client.stream": timed("Client.stream", lambda: client.stream(LONG)),
        },
        command["per_round"],
        command["round"] % 2 == 1,
    )
    per_round = command["per_round"]
    samples["first"] = {name: values[-per_round:] for name, values in first.items()}
    return samples


# -- batches ---------------------------------------------------------------------------


def prompts(total: int) -> list[str]:
    return [f"prompt {i}" for i in range(total)]


async def raw_gather(total: int, concurrency: int | None) -> tuple[float, int]:
    """What users write by hand: asyncio.gather over raw AsyncOpenAI, with a Semaphore."""
    import openai

    client = openai.AsyncOpenAI(
        api_key=os.environ["DATABRICKS_TOKEN"],
        base_url=os.environ["DATABRICKS_HOST"] + "/serving-endpoints",
        max_retries=0,
    )
    semaphore = asyncio.Semaphore(concurrency or total)

    async def one(prompt: str) -> str | None:
        async with semaphore:
            answer = await client.chat.completions.create(
                model=SLOW_MODEL, messages=[{"role": "user", "content": prompt}]
            )
            return answer.choices[0].message.content

    started = time.perf_counter()
    answers = await asyncio.gather(*(one(p) for p in prompts(total)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    await client.close()
    return total / elapsed, sum(isinstance(a, BaseException) for a in answers)


async def gather_acomplete(total: int) -> tuple[float, int]:
    """An unbounded asyncio.gather over Client.acomplete, as users write it."""
    import chatport

    async with chatport.Client(backend="rest", model=SLOW_MODEL, config={}) as client:
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(client.acomplete(p) for p in prompts(total)), return_exceptions=True
        )
        elapsed = time.perf_counter() - started
    return total / elapsed, sum(isinstance(a, BaseException) for a in answers)


async def client_amap(total: int, concurrency: int, backend: str) -> tuple[float, int]:
    import chatport

    async with chatport.Client(backend=backend, model=SLOW_MODEL, config={}) as client:
        started = time.perf_counter()
        ok = 0
        async for result in client.amap(prompts(total), concurrency=concurrency):
            ok += result.ok
        elapsed = time.perf_counter() - started
    return total / elapsed, total - ok


def client_map(total: int, concurrency: int) -> tuple[float, int]:
    import chatport

    with chatport.Client(backend="rest", model=SLOW_MODEL, config={}) as client:
        started = time.perf_counter()
        ok = sum(result.ok for result in client.map(prompts(total), concurrency=concurrency))
        elapsed = time.perf_counter() - started
    return total / elapsed, total - ok


def module_map(total: int, concurrency: int) -> tuple[float, int]:
    """chatport.map on the default client (the default backend, rest)."""
    import chatport

    started = time.perf_counter()
    results = chatport.map(prompts(total), concurrency=concurrency, model=SLOW_MODEL)
    ok = sum(result.ok for result in results)
    elapsed = time.perf_counter() - started
    return total / elapsed, total - ok


def throughput(command: dict[str, Any]) -> dict[str, Any]:
    """One round of every batch contender: requests per second and failed inputs.

    Before the first round each contender runs a small batch, so that no timed run pays
    for a first import (the openai SDK behind the ``openai`` backend, the batch engine).
    """
    if command["round"] == 0 and not command.get("warm"):
        throughput({**command, "total": min(50, command["total"]), "warm": True})
    total = command["total"]
    runs: dict[str, Callable[[], tuple[float, int]]] = {}
    for c in command["concurrency"]:
        runs[f"raw gather + Semaphore({c})"] = lambda c=c: asyncio.run(raw_gather(total, c))
        runs[f"chatport.map c={c}"] = lambda c=c: module_map(total, c)
        runs[f"Client.map c={c}"] = lambda c=c: client_map(total, c)
        runs[f"Client.amap c={c}"] = lambda c=c: asyncio.run(client_amap(total, c, "rest"))
        runs[f"Client.amap (openai) c={c}"] = lambda c=c: asyncio.run(
            client_amap(total, c, "openai")
        )
    runs["raw gather, unbounded"] = lambda: asyncio.run(raw_gather(total, None))
    runs["gather over Client.acomplete, unbounded"] = lambda: asyncio.run(gather_acomplete(total))
    names = list(runs)
    if command["round"] % 2 == 1:
        names.reverse()
    rates: dict[str, float] = {}
    errors: dict[str, int] = {}
    for name in names:
        rates[name], errors[name] = runs[name]()
    return {"rates": rates, "errors": errors}


# -- against each SDK, and memory ------------------------------------------------------


def sdk(command: dict[str, Any]) -> dict[str, Any]:
    """One round of each backend against the same SDK called directly.

    Then the ``openai`` backend's stream against the openai SDK's own, both read to
    the end (a fifth as many calls: a stream takes longer).
    """
    import openai
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.serving import ChatMessage, ChatMessageRole
    from mlflow.deployments import get_deploy_client

    url, token = os.environ["DATABRICKS_HOST"], os.environ["DATABRICKS_TOKEN"]
    messages = [{"role": "user", "content": PROMPT}]
    if "sdk" not in SINGLETONS:
        SINGLETONS["sdk"] = (
            openai.OpenAI(api_key=token, base_url=url + "/serving-endpoints", max_retries=0),
            WorkspaceClient(host=url, token=token, auth_type="pat"),
            get_deploy_client("databricks"),
        )
    raw_openai, workspace, deploy = SINGLETONS["sdk"]
    bare = shared_bare()
    direct: dict[str, Callable[[], Any]] = {
        "rest": lambda: bare.post({"messages": messages}),
        "openai": lambda: raw_openai.chat.completions.create(model=MODEL, messages=messages),
        "responses": lambda: raw_openai.responses.create(model=MODEL, input=PROMPT),
        "mlflow": lambda: deploy.predict(endpoint=MODEL, inputs={"messages": messages}),
        "databricks-sdk": lambda: workspace.serving_endpoints.query(
            name=MODEL, messages=[ChatMessage(role=ChatMessageRole.USER, content=PROMPT)]
        ),
    }
    reverse = command["round"] % 2 == 1
    out: dict[str, Any] = {}
    for backend, raw in direct.items():
        client = shared_client(backend)
        out[backend] = interleave(
            {"chatport": lambda c=client: c.complete(messages), "direct": raw},
            command["per_round"],
            reverse,
        )["wall"]
    via_openai = shared_client("openai")
    long = [{"role": "user", "content": LONG}]
    out["openai, 200-token stream"] = interleave(
        {
            "chatport": lambda: collections.deque(via_openai.stream(LONG), maxlen=0),
            "direct": lambda: collections.deque(
                raw_openai.chat.completions.create(model=MODEL, messages=long, stream=True),
                maxlen=0,
            ),
        },
        max(3, command["per_round"] // 5),
        reverse,
    )["wall"]
    return out


def peers(command: dict[str, Any]) -> dict[str, Any]:
    """One round of chatport's rest Client against the peer libraries that are installed."""
    url, token = os.environ["DATABRICKS_HOST"], os.environ["DATABRICKS_TOKEN"]
    base = url + "/serving-endpoints"
    messages = [{"role": "user", "content": PROMPT}]
    client = shared_client()
    contenders: dict[str, Callable[[], Any]] = {"chatport (rest)": lambda: client.complete(PROMPT)}
    skipped = []
    try:
        import litellm

        contenders["litellm (databricks)"] = lambda: litellm.completion(
            model=f"databricks/{MODEL}",
            api_base=base,
            api_key=token,
            messages=messages,
            num_retries=0,
        )
    except ImportError:
        skipped.append("litellm")
    try:
        import aisuite

        suite = aisuite.Client({"openai": {"api_key": token, "base_url": base, "max_retries": 0}})
        contenders["aisuite (openai provider)"] = lambda: suite.chat.completions.create(
            model=f"openai:{MODEL}", messages=messages
        )
    except ImportError:
        skipped.append("aisuite")
    try:
        import any_llm

        contenders["any-llm (databricks)"] = lambda: any_llm.completion(
            model=MODEL, provider="databricks", api_base=base, api_key=token, messages=messages
        )
    except ImportError:
        skipped.append("any-llm")
    wall = interleave(contenders, command["per_round"], command["round"] % 2 == 1)["wall"]
    return {"wall": wall, "skipped": skipped}


def memory(command: dict[str, Any]) -> dict[str, Any]:
    """Resident memory over many sequential completions, in a child process."""
    calls = command["calls"]
    code = f"""
import json, os, chatport
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
    return {"rss_bytes": json.loads(result.stdout)}


# -- the command loop ------------------------------------------------------------------

SINGLETONS: dict[str, Any] = {}


def shared_bare() -> Bare:
    """The shared bare httpx contender (one keep-alive connection for every round)."""
    bare = SINGLETONS.get("bare")
    if bare is None:
        bare = SINGLETONS["bare"] = Bare(
            os.environ["DATABRICKS_HOST"], os.environ["DATABRICKS_TOKEN"]
        )
    return bare


def shared_client(backend: str = "rest") -> Any:
    """The shared chatport Client of a backend (kept over rounds, as users keep one)."""
    import chatport

    key = f"client:{backend}"
    if key not in SINGLETONS:
        SINGLETONS[key] = chatport.Client(backend=backend, model=MODEL, config={})
    return SINGLETONS[key]


def hello(command: dict[str, Any]) -> dict[str, Any]:
    """Which chatport this side runs, so bench.py can check it is the intended one."""
    import chatport

    return {"file": chatport.__file__, "version": chatport.__version__, "pid": os.getpid()}


OPERATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "hello": hello,
    "overhead": overhead,
    "stream": stream,
    "throughput": throughput,
    "sdk": sdk,
    "peers": peers,
    "memory": memory,
}


def serve(answers: Any) -> None:
    """Answer commands from standard input until it closes."""
    for line in sys.stdin:
        command = json.loads(line)
        try:
            answer = OPERATIONS[command["op"]](command)
        except Exception as exc:  # reported to bench.py, which stops the run
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> None:
    answers = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write on the answer channel
    if sys.argv[1:] == ["capture"]:
        answers.write(json.dumps(capture()) + "\n")
        return
    serve(answers)


if __name__ == "__main__":
    main()
