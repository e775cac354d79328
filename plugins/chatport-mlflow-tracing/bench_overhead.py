"""Overhead of chatport-mlflow-tracing per call: ``python bench_overhead.py [N]``.

Runs N calls on the offline ``fake`` backend with tracing off, then on (traces go to a
temporary MLflow file store), and prints the time per call of each and the difference.
Spans are built by the plugin's background thread and exported by MLflow's queue; the
flush at the end, which waits for both, is timed apart.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import chatport_mlflow_tracing

import chatport


def per_call(client: chatport.Client, calls: int) -> float:
    for _ in range(20):  # warm up (the first traced call imports mlflow)
        client.complete("warm up", model="m")
    start = time.perf_counter()
    for index in range(calls):
        client.complete(f"question {index}", model="m")
    return (time.perf_counter() - start) / calls


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as folder:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        os.environ["MLFLOW_TRACKING_URI"] = (Path(folder) / "mlruns").as_uri()
        import mlflow

        experiment = mlflow.MlflowClient().create_experiment("chatport-bench")
        options = {"enabled": True, "experiment_id": experiment}
        tracing = {"plugins": {"mlflow-tracing": options}}
        with chatport.Client(backend="fake", config={}) as off:
            untraced = per_call(off, calls)
        with chatport.Client(backend="fake", config=tracing) as on:
            traced = per_call(on, calls)
        start = time.perf_counter()
        chatport_mlflow_tracing.flush()
        mlflow.flush_trace_async_logging()
        flush = time.perf_counter() - start
    print(f"{calls} calls on the fake backend")
    print(f"  tracing off: {untraced * 1e6:8.1f} us per call")
    print(f"  tracing on:  {traced * 1e6:8.1f} us per call")
    print(f"  overhead:    {(traced - untraced) * 1e6:8.1f} us per call")
    print(f"  (background export, flushed at the end: {flush:.2f} s)")


if __name__ == "__main__":
    main()
