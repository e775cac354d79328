"""The ``mlflow`` backend is bounded like the others (issue: mlflow's own layers).

mlflow's deployment client stacks two retry loops (a 429 re-sent for up to ten
minutes, re-POSTs after the caller gave up), reads its timeouts from process-wide
environment variables and rewrites error answers into a synthetic 500. chatport sends
what ``predict`` sends, once per attempt, under its own policy; these tests hold it to
that against the local workspace.
"""

from __future__ import annotations

import os
import time

import pytest

import chatport
from chatport.local import Fault, LocalWorkspace
from chatport.testing import VirtualClock

MODEL = "databricks-gpt-5"


@pytest.fixture
def env(module_workspace: LocalWorkspace, sdks_imported: None) -> LocalWorkspace:
    """The kit's shared workspace (clean faults and log per test), SDKs imported first."""
    return module_workspace


def posts(ws: LocalWorkspace) -> int:
    return len([r for r in ws.requests if r.method == "POST" and r.path.endswith("/invocations")])


def test_nothing_is_written_to_the_environment(env: LocalWorkspace) -> None:
    before = dict(os.environ)
    with chatport.Client(backend="mlflow", timeout=3, config={}) as client:
        assert client.complete("hello", model=MODEL).text == "hello"
        assert "".join(c.text for c in client.stream("hello", model=MODEL)) == "hello"
    assert dict(os.environ) == before
    from mlflow.environment_variables import MLFLOW_DEPLOYMENT_PREDICT_TIMEOUT

    assert MLFLOW_DEPLOYMENT_PREDICT_TIMEOUT.get() == MLFLOW_DEPLOYMENT_PREDICT_TIMEOUT.default


def test_a_persistent_429_is_a_rate_limit_with_the_servers_retry_after(
    env: LocalWorkspace, virtual_clock: VirtualClock
) -> None:
    env.set_faults(MODEL, Fault.rate_limit(retry_after=1))  # the server sends whole seconds
    with (
        chatport.Client(backend="mlflow", timeout=4, config={}) as client,
        pytest.raises(chatport.RateLimitError) as info,
    ):
        client.complete("hello", model=MODEL)
    assert info.value.status_code == 429
    assert info.value.retry_after == 1.0
    assert info.value.request_id  # the server's x-request-id, which mlflow drops
    assert info.value.attempts == 3
    assert posts(env) == 3
    assert virtual_clock.waits == [1.0, 1.0]  # chatport waited out each Retry-After


def test_an_abandoned_call_sends_nothing_more(env: LocalWorkspace) -> None:
    """mlflow's own loops kept re-POSTing after a call gave up (billed generations)."""
    env.set_faults(MODEL, Fault.rate_limit(retry_after=0.2))
    with (
        chatport.Client(backend="mlflow", timeout=1, max_retries=0, config={}) as client,
        pytest.raises(chatport.RateLimitError),
    ):
        client.complete("hello", model=MODEL)
    assert posts(env) == 1
    time.sleep(2.0)  # an observation window: mlflow's inner retry would have re-sent by now
    assert posts(env) == 1


def test_429_twice_then_an_answer_takes_exactly_three_posts(
    env: LocalWorkspace, virtual_clock: VirtualClock
) -> None:
    env.set_faults(MODEL, Fault.rate_limit(times=2, retry_after=0.1))
    with chatport.Client(backend="mlflow", timeout=5, config={}) as client:
        completion = client.complete("hello", model=MODEL)
    assert (completion.text, completion.attempts, posts(env)) == ("hello", 3, 3)
    assert len(virtual_clock.waits) == 2  # a wait before each retry


def test_the_request_is_the_one_predict_sends(env: LocalWorkspace) -> None:
    with chatport.Client(backend="mlflow", timeout=3, config={}) as client:
        completion = client.complete("hello", model=MODEL)
    from mlflow.deployments.databricks import DatabricksEndpoint

    assert isinstance(completion.raw, DatabricksEndpoint)
    (sent,) = [r for r in env.requests if r.method == "POST"]
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["x-databricks-endpoints-api-client"] == "Databricks Deployment Client"
    assert sent.path == f"/serving-endpoints/{MODEL}/invocations"


@pytest.mark.slow  # a fresh interpreter imports mlflow: seconds of real time
def test_the_first_call_is_not_charged_for_importing_mlflow(env: LocalWorkspace) -> None:
    """A fresh interpreter: importing mlflow and building its client takes seconds, more
    than this call's timeout; the deadline measures the request, not the setup."""
    import subprocess
    import sys

    code = (
        "import chatport, time\n"
        "started = time.monotonic()\n"
        "with chatport.Client(backend='mlflow', timeout=0.5, max_retries=0, config={}) as c:\n"
        "    text = c.complete('hello', model='databricks-gpt-5').text\n"
        "print(text, round(time.monotonic() - started, 1))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text, seconds = result.stdout.split()
    assert text == "hello"
    assert float(seconds) > 0.5  # the setup really took longer than the timeout
