"""Rows per second of ``chatport.spark.chat_udf`` against the row-by-row pattern.

The baseline is the pandas UDF of Databricks' batch-inference notebooks: the raw
``openai`` client, one blocking call per row. Both run in the same ``local[2]`` Spark
session against a local workspace on 127.0.0.1 whose endpoint adds 50 ms to every
answer (``Fault.slow(0.05)``), standing in for a served model's latency. Every row of
every run is checked. It prints a markdown table and writes JSON next to this file
(``results/spark_bench.json``). Needs ``.[dev,spark]``.

    python benchmarks/spark_bench.py            # 2,000 rows, about a minute and a half
    python benchmarks/spark_bench.py --smoke    # a few rows, for a quick check
"""

# no ``from __future__ import annotations``: pyspark reads the UDF's kind from its hints
import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODEL = "bench-echo"


def openai_row_by_row(model: str) -> Any:
    """The notebook pattern: a pandas UDF calling the raw openai client for each row."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")  # type: ignore[call-overload,misc]
    def answer(prompts: pd.Series) -> pd.Series:
        from openai import OpenAI

        client = OpenAI(
            api_key=os.environ["DATABRICKS_TOKEN"],  # read on the executor, as chat_udf does
            base_url=os.environ["DATABRICKS_HOST"] + "/serving-endpoints",
        )

        def ask(prompt: str) -> str | None:
            response = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}]
            )
            return response.choices[0].message.content

        return prompts.apply(ask)

    return answer


def timed(run: Callable[[], list[Any]], check: Callable[[Any], bool]) -> tuple[float, int]:
    start = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - start
    bad = sum(not check(row) for row in rows)
    if bad:
        raise SystemExit(f"{bad} of {len(rows)} rows were not answered correctly")
    return seconds, len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few rows, a quick check")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added per call")
    args = parser.parse_args()
    rows = args.rows or (40 if args.smoke else 2000)
    latency = 0.01 if args.smoke else args.latency
    concurrencies = (8,) if args.smoke else (8, 32)

    from chatport.local import Endpoint, Fault, LocalWorkspace

    workspace = LocalWorkspace([Endpoint(MODEL)]).start()
    home = tempfile.mkdtemp(prefix="chatport-spark-bench-")
    os.environ.update(workspace.environ())  # before the JVM starts: executors inherit it
    os.environ.update(
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        CHATPORT_CONFIG=str(Path(home) / "none.toml"),
    )
    Path(os.environ["CHATPORT_CONFIG"]).write_text("")

    from pyspark.sql import SparkSession

    from chatport.spark import chat_udf

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("chatport-spark-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        frame = spark.createDataFrame(
            [(i, f"benchmark prompt {i}") for i in range(rows)], "id long, prompt string"
        ).repartition(2)
        frame.cache().count()
        baseline = openai_row_by_row(MODEL)
        # warm both: Python workers started, modules imported, clients built
        warm = frame.limit(4)
        warm.select(baseline("prompt")).collect()
        warm.select(chat_udf("rest", MODEL)("prompt")).collect()
        workspace.set_faults(MODEL, Fault.slow(latency))

        results: list[dict[str, Any]] = []
        seconds, count = timed(
            lambda: frame.select("prompt", baseline("prompt").alias("a")).collect(),
            lambda row: row.a == row.prompt,
        )
        results.append({"udf": "openai, row by row", "rows": count, "seconds": seconds})
        for concurrency in concurrencies:
            answer = chat_udf("rest", MODEL, concurrency=concurrency)
            seconds, count = timed(
                lambda answer=answer: frame.select("prompt", answer("prompt").alias("a")).collect(),
                lambda row: row.a.error is None and row.a.text == row.prompt,
            )
            label = f"chatport chat_udf, concurrency={concurrency}"
            results.append({"udf": label, "rows": count, "seconds": seconds})
    finally:
        spark.stop()
        workspace.stop()

    base_rate = results[0]["rows"] / results[0]["seconds"]
    print(f"\n{rows} rows, local[2] (2 partitions), {latency * 1000:.0f} ms added per call\n")
    print("| UDF | seconds | rows/s | vs row by row |")
    print("|---|---:|---:|---:|")
    for result in results:
        rate = result["rows"] / result["seconds"]
        result["rows_per_second"] = rate
        result["ratio"] = ratio = rate / base_rate
        print(f"| {result['udf']} | {result['seconds']:.1f} | {rate:.0f} | {ratio:.1f}x |")
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "spark_bench.json").write_text(
        json.dumps({"rows": rows, "latency_s": latency, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
