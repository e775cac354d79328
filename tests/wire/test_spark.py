"""chatport.spark: chat_udf on a real local Spark session against a real local workspace.

One module-scoped ``local[2]`` session keeps this module fast. The workspace's
``DATABRICKS_HOST`` / ``DATABRICKS_TOKEN`` are in the environment before the session
starts, so the executors' Python workers inherit them, as on a configured cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="chatport.spark needs pyspark: pip install 'chatport[spark]'")
pytest.importorskip("pandas", reason="chatport.spark needs pandas: pip install 'chatport[spark]'")
pytest.importorskip("pyarrow", reason="chatport.spark needs pyarrow: pip install 'chatport[spark]'")

from pyspark import cloudpickle  # the copy Spark pickles UDFs with
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import chatport
from chatport.local import Endpoint, Fault, LocalWorkspace
from chatport.spark import RESULT_SCHEMA, chat_udf

pytestmark = [
    pytest.mark.timeout(300),
    # the JVM and pyspark's own machinery warn about things that are not ours
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

ECHO = "spark-echo"
FLAKY = "spark-flaky"
REASONING = "spark-reasoning"
CANARY = "dapi-canary-" + "5f3c9e1d7a2b4c6e8f0a1b2c3d4e5f60"
ROWS = 240


@pytest.fixture(scope="module")
def module_workspace_options() -> dict[str, Any]:
    """The kit's workspace for this module: three endpoints and a canary token no row,
    error, closure or plan may show."""
    endpoints = [
        Endpoint(ECHO),
        Endpoint(FLAKY),
        Endpoint(REASONING, model="reasoning"),
    ]
    return {"endpoints": endpoints, "token": CANARY}


@pytest.fixture(scope="module")
def spark(
    module_workspace_server: LocalWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SparkSession]:
    home = tmp_path_factory.mktemp("spark-home")
    environ = {
        **module_workspace_server.environ(),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        # the executors see no developer config, only the workspace above
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "DATABRICKS_CONFIG_FILE": str(home / ".databrickscfg"),
        "CHATPORT_DISABLE_PLUGINS": "1",
        "SPARK_LOCAL_IP": "127.0.0.1",  # loopback only
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in ("CHATPORT_BACKEND", "CHATPORT_MODEL", "CHATPORT_PROFILE", "CHATPORT_CONFIG"):
            patch.delenv(name, raising=False)
        for name, value in environ.items():
            patch.setenv(name, value)
        session = (
            SparkSession.builder.master("local[2]")
            .appName("chatport-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
        try:
            yield session
        finally:
            session.stop()


def words(text: str) -> int:
    return len(text.split())


def prompts_frame(spark: SparkSession, count: int, partitions: int = 4) -> Any:
    rows = [
        (i, f"question number {i} about {'spark ' * (i % 5)}rows".strip()) for i in range(count)
    ]
    return spark.createDataFrame(rows, "id long, prompt string").repartition(partitions)


def test_every_row_is_answered_in_place_and_failed_rows_carry_their_error(
    spark: SparkSession, module_workspace: LocalWorkspace
) -> None:
    module_workspace.set_faults(FLAKY, Fault.error(400, probability=0.05))
    frame = prompts_frame(spark, ROWS)
    # a few null prompts: failed rows too, and never sent
    nulls = spark.createDataFrame([(ROWS + i, None) for i in range(3)], "id long, prompt string")
    frame = frame.unionByName(nulls)
    answer = chat_udf("rest", FLAKY, concurrency=4, config={}, max_tokens=64)
    result = frame.withColumn("answer", answer("prompt")).select("id", "prompt", "answer.*")
    assert result.schema.simpleString() == (
        "struct<id:bigint,prompt:string,text:string,finish_reason:string,prompt_tokens:int,"
        "completion_tokens:int,reasoning_tokens:int,error:string>"
    )
    rows = result.collect()

    assert sorted(row.id for row in rows) == list(range(ROWS + 3))
    answered = failed = 0
    for row in rows:
        if row.prompt is None:
            assert row.error == "InvalidRequestError: the input is null"
            assert (row.text, row.finish_reason, row.prompt_tokens) == (None, None, None)
            assert (row.completion_tokens, row.reasoning_tokens) == (None, None)
        elif row.error is None:
            answered += 1
            assert row.text == row.prompt
            assert row.finish_reason == "stop"
            assert row.prompt_tokens == words(row.prompt)
            assert row.completion_tokens == words(row.prompt)
            assert row.reasoning_tokens is None
        else:
            failed += 1
            assert row.error.startswith("BadRequestError: "), row.error
            assert (row.text, row.finish_reason, row.prompt_tokens) == (None, None, None)
            assert (row.completion_tokens, row.reasoning_tokens) == (None, None)
            assert CANARY not in row.error
    fault = module_workspace.endpoint(FLAKY).faults[0]
    assert failed == fault.triggered  # every injected 400 is exactly one failed row
    assert 0 < failed < ROWS // 4
    assert answered + failed == ROWS
    sent = [r for r in module_workspace.requests if r.path.endswith(f"/{FLAKY}/invocations")]
    assert len(sent) == ROWS  # each prompt once (a 400 is not retried), nulls never
    # a first 400 from an endpoint of unknown shape reads its metadata once per worker
    # process, to tell an agent endpoint's refusal from a genuine one (docs/agents.md)
    looked_up = [r for r in module_workspace.requests if r.path.startswith("/api/2.0/")]
    assert all(r.path == f"/api/2.0/serving-endpoints/{FLAKY}" for r in looked_up)


def test_a_column_of_message_arrays(spark: SparkSession) -> None:
    frame = spark.createDataFrame(
        [(i, f"what is row {i}") for i in range(ROWS)], "id long, question string"
    ).repartition(3)
    # built the way docs/spark.md shows: array<struct<role: string, content: string>>
    conversation = F.array(
        F.struct(F.lit("system").alias("role"), F.lit("answer in one line").alias("content")),
        F.struct(F.lit("user").alias("role"), F.col("question").alias("content")),
    )
    frame = frame.withColumn("conversation", conversation)
    assert frame.schema["conversation"].dataType.simpleString() == (
        "array<struct<role:string,content:string>>"
    )
    answer = chat_udf(model=REASONING, messages=True, backend="rest", config={})
    result = frame.select("id", answer(F.col("conversation")).alias("a")).select("id", "a.*")
    checked = 0
    for row in result.collect():
        question = f"what is row {row.id}"
        assert row.error is None, row.error
        assert row.text == question
        assert row.finish_reason == "stop"
        assert row.prompt_tokens == words("answer in one line") + words(question)
        # the reasoning model thinks "The user asked: <question>" before it answers
        assert row.reasoning_tokens == words(f"The user asked: {question}")
        assert row.completion_tokens == words(question) + row.reasoning_tokens
        checked += 1
    assert checked == ROWS


def test_a_bad_message_element_fails_only_its_row(
    spark: SparkSession, module_workspace: LocalWorkspace
) -> None:
    good = [(i, [("system", "answer in one line"), ("user", f"question {i}")]) for i in range(60)]
    bad = {
        60: ([None, ("user", "after a null")], "messages[0]: ", "NoneType"),
        61: ([("user", "fine"), (None, "who said this?")], "messages[1].role: ", "missing"),
        62: ([("user", "fine"), None], "messages[1]: ", "NoneType"),
        63: (None, "", "the input is null"),
    }
    rows = good + [(i, conversation) for i, (conversation, _, _) in bad.items()]
    schema = "id long, conversation array<struct<role: string, content: string>>"
    frame = spark.createDataFrame(rows, schema).repartition(2)
    answer = chat_udf("rest", ECHO, messages=True, config={})
    result = frame.select("id", answer("conversation").alias("a")).select("id", "a.*")
    by_id = {row.id: row for row in result.collect()}

    assert sorted(by_id) == list(range(64))  # every partition answered
    for i in range(60):
        assert by_id[i].error is None, by_id[i].error
        assert by_id[i].text == f"question {i}"
    for i, (_, field, reason) in bad.items():
        row = by_id[i]
        assert row.error.startswith("InvalidRequestError: " + field), row.error
        assert reason in row.error
        assert (row.text, row.finish_reason, row.prompt_tokens) == (None, None, None)
    sent = [r for r in module_workspace.requests if r.method == "POST" and ECHO in r.path]
    assert len(sent) == 60  # the bad rows were never sent


def test_a_column_that_holds_no_message_arrays(
    spark: SparkSession, module_workspace: LocalWorkspace
) -> None:
    frame = spark.createDataFrame(
        [(i, f"question {i}", [f"question {i}"]) for i in range(6)],
        "id long, prompt string, prompts array<string>",
    )
    answer = chat_udf("rest", ECHO, messages=True, config={})
    rows = frame.select(answer("prompt").alias("a"), answer("prompts").alias("b")).collect()
    assert len(rows) == 6
    for row in rows:
        assert row.a.error == (
            "InvalidRequestError: with messages=True each cell must be an array of structs "
            "(role, content), not a str"
        )
        assert row.b.error.startswith("InvalidRequestError: messages[0]: "), row.b.error
        assert "got str" in row.b.error
    assert module_workspace.requests == []


def test_udf_options_never_carry_a_secret(module_workspace: LocalWorkspace) -> None:
    host = module_workspace.url.split("://", 1)[1]
    refused: dict[str, dict[str, Any]] = {
        "host": {"host": f"https://token:{CANARY}@{host}"},
        # as chatport reads a host, the scheme may be left out
        "fallbacks[0].options.host": {
            "fallbacks": [{"backend": "rest", "options": {"host": f"x:{CANARY}@{host}"}}]
        },
        "fallbacks[0].options.token": {
            "fallbacks": [{"backend": "rest", "model": ECHO, "options": {"token": CANARY}}]
        },
        "fallbacks[1].options.default_headers.X-Gateway": {
            "fallbacks": [
                {"backend": "rest", "model": ECHO},
                {"backend": "openai", "options": {"default_headers": {"X-Gateway": CANARY}}},
            ]
        },
        "extra.custom_inputs.keys[1]": {"extra": {"custom_inputs": {"keys": ["a", CANARY]}}},
        "stop[0]": {"stop": ["Bearer " + CANARY[:8]]},
        "extra.custom_inputs.****": {"extra": {"custom_inputs": {CANARY: "a token as a key"}}},
    }
    for key, options in refused.items():
        with pytest.raises(chatport.ConfigError, match="never carries credentials") as caught:
            chat_udf("rest", ECHO, config={}, **options)
        assert caught.value.key == key
        assert str(caught.value).startswith(key + ": ")
        assert CANARY not in str(caught.value)
        assert CANARY not in repr(caught.value)
        assert CANARY[:8] not in str(caught.value)
    with pytest.raises(chatport.ConfigError, match="never carries credentials") as caught:
        chat_udf(
            "rest", ECHO, config={"fallbacks": [{"backend": "rest", "options": {"token": CANARY}}]}
        )
    assert caught.value.key == "config.fallbacks[0].options.token"
    # settings that only look busy are not credentials: they travel
    answer = chat_udf(
        "rest",
        ECHO,
        config={},
        host=module_workspace.url,
        fallbacks=[{"backend": "rest", "model": REASONING, "options": {"timeout": 30}}],
        extra={"custom_inputs": {"source": "/Volumes/main/default/prompts/v2/batch-2024.json"}},
    )
    assert CANARY.encode() not in cloudpickle.dumps(answer.func)
    assert module_workspace.requests == []


def test_fail_fast_fails_the_job_on_the_first_failed_row(
    spark: SparkSession, module_workspace: LocalWorkspace
) -> None:
    module_workspace.set_faults(FLAKY, Fault.error(400, times=1))
    answer = chat_udf("rest", FLAKY, fail_fast=True, max_retries=0, config={})
    frame = prompts_frame(spark, 40, partitions=1)
    with pytest.raises(Exception, match="RowFailed") as caught:
        frame.select(answer("prompt").alias("a")).collect()
    assert "BadRequestError" in str(caught.value)
    assert CANARY not in str(caught.value)
    module_workspace.set_faults(FLAKY)
    # the same UDF without faults answers every row
    assert all(row.a.error is None for row in frame.select(answer("prompt").alias("a")).collect())


def test_no_token_in_the_closure_or_the_plan(
    spark: SparkSession, module_workspace: LocalWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = chat_udf(
        "rest",
        ECHO,
        concurrency=3,
        profile=None,
        host=module_workspace.url,
        timeout=30,
        token_env="DATABRICKS_TOKEN",
        temperature=0,
    )
    closure = cloudpickle.dumps(answer.func)  # what Spark ships to every executor
    assert CANARY.encode() not in closure
    assert module_workspace.url.encode() in closure  # the settings travel; the token does not
    frame = prompts_frame(spark, 8, partitions=1).withColumn("answer", answer("prompt"))
    frame.explain(mode="extended")
    plan = capsys.readouterr().out
    assert "answer" in plan
    assert CANARY not in plan
    assert CANARY not in spark.sparkContext.getConf().toDebugString()
    assert all(row.answer.text == row.prompt for row in frame.collect())


def test_credentials_are_refused_as_udf_settings() -> None:
    for key in ("token", "api_key", "client_secret", "DATABRICKS_TOKEN"):
        with pytest.raises(chatport.ConfigError, match="never carries credentials"):
            chat_udf(model=ECHO, **{key: CANARY})
    with pytest.raises(chatport.ConfigError, match="never carries credentials"):
        chat_udf(model=ECHO, extra={"auth": {"access_token": CANARY}})
    with pytest.raises(chatport.InvalidRequestError, match="concurrency"):
        chat_udf(model=ECHO, concurrency=0)
    with pytest.raises(chatport.ConfigError, match="timeout"):
        chat_udf(model=ECHO, timeout="soon")


def test_each_worker_process_keeps_one_client_per_settings() -> None:
    from chatport import spark as module

    first = module._client_for(module._spec_of(chat_udf("rest", ECHO, config={}, timeout=5)))
    again = module._client_for(module._spec_of(chat_udf("rest", ECHO, config={}, timeout=5)))
    other = module._client_for(module._spec_of(chat_udf("rest", ECHO, config={}, timeout=6)))
    assert first is again
    assert other is not first
    assert (first.config.timeout, other.config.timeout) == (5, 6)


def test_importing_chatport_spark_imports_neither_pyspark_nor_pandas(tmp_path: Path) -> None:
    code = (
        "import sys, chatport, chatport.spark\n"
        "heavy = sorted(m for m in ('pyspark', 'pandas', 'pyarrow') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print(chatport.spark.RESULT_SCHEMA)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "CHATPORT_DISABLE_PLUGINS": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == RESULT_SCHEMA


# -- request tags -------------------------------------------------------------------------
# In this module: Spark's Python workers keep the environment of the first session a
# process starts, so a second module's workspace would not reach them.


def test_every_row_carries_the_request_tags(
    spark: SparkSession, module_workspace: LocalWorkspace
) -> None:
    module_workspace.clear_usage()
    frame = spark.createDataFrame([(i, f"row {i}") for i in range(6)], "id long, prompt string")
    answer = chat_udf("rest", ECHO, config={}, request_tags={"job": "nightly", "team": "ml"})
    rows = frame.withColumn("answer", answer("prompt")).select("prompt", "answer.*").collect()
    assert all(row.error is None and row.text == row.prompt for row in rows)
    records = [r for r in module_workspace.usage if r.endpoint_name == ECHO]
    assert len(records) == 6
    assert all(r.request_tags == {"job": "nightly", "team": "ml"} for r in records)


def test_bad_request_tags_are_refused_on_the_driver() -> None:
    with pytest.raises(chatport.ConfigError) as info:
        chat_udf("rest", ECHO, config={}, request_tags={"job": 1})
    assert info.value.key == "request_tags.job"
