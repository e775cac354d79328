"""Request rate of the local workspace on non-streaming chat, with keep-alive.

The server runs as `chatport serve` in its own process; load comes from worker
processes, each on one keep-alive connection, all on 127.0.0.1. It prints a markdown
table and writes JSON next to this file (``results/local_server.json``).

    python benchmarks/local_server.py               # 10 s, 2 client processes
    python benchmarks/local_server.py --smoke       # a second, for CI (no assertion)
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

BODY = json.dumps(
    {"messages": [{"role": "user", "content": "how fast is the local workspace"}], "max_tokens": 16}
)
TOKEN = "dapi-bench"


def worker(port: int, seconds: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    errors = 0
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        connection.request("POST", "/serving-endpoints/databricks-gpt-5/invocations", BODY, headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200 or b'"choices"' not in payload:
            errors += 1
        latencies.append(time.perf_counter() - start)
    connection.close()
    queue.put((latencies, errors))


def start_server() -> tuple[subprocess.Popen[str], int]:
    chatport = Path(sys.executable).with_name("chatport")
    command = [str(chatport), "serve", "--port", "0", "--token", TOKEN]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    port = int(first.rsplit(":", 1)[1])
    for _ in range(200):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            break
        except OSError:
            time.sleep(0.05)
    return process, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--clients", type=int, default=2, help="client processes (one connection each)"
    )
    parser.add_argument("--smoke", action="store_true", help="run for one second (CI)")
    args = parser.parse_args()
    seconds = 1.0 if args.smoke else args.seconds
    process, port = start_server()
    try:
        warm = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(50):
            warm.request(
                "POST",
                "/serving-endpoints/databricks-gpt-5/invocations",
                BODY,
                {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
            )
            warm.getresponse().read()
        warm.close()
        queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        workers = [
            multiprocessing.Process(target=worker, args=(port, seconds, queue))
            for _ in range(args.clients)
        ]
        started = time.perf_counter()
        for w in workers:
            w.start()
        results = [queue.get(timeout=seconds + 60) for _ in workers]
        elapsed = time.perf_counter() - started
        for w in workers:
            w.join(timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    latencies = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    rate = len(latencies) / elapsed
    row = {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(rate),
        "median_ms": round(statistics.median(latencies) * 1000, 3),
        "p90_ms": round(latencies[int(len(latencies) * 0.9)] * 1000, 3),
        "clients": args.clients,
        "cpus": os.cpu_count(),
    }
    print("| requests | errors | req/s | median ms | p90 ms | client processes |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {row['requests']} | {row['errors']} | {row['requests_per_s']} | {row['median_ms']} "
        f"| {row['p90_ms']} | {row['clients']} |"
    )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "local_server.json").write_text(json.dumps(row, indent=2) + "\n")
    if errors:
        sys.exit(f"{errors} requests failed")


if __name__ == "__main__":
    main()
