"""chatport plugin: every chat call an MLflow trace, each attempt a child span.

With ``[plugins.mlflow-tracing] enabled = true`` in the chatport config, each call
(``complete``, ``acomplete``, ``stream``, ``astream``, each input of a batch) becomes
one MLflow trace whose root is a ``CHAT_MODEL`` span: the request as inputs, the
normalized completion as outputs, and the backend, model, token usage, finish reason,
latency and attempt count as attributes; a failed call records its error. Every attempt
(retries and fallbacks) is a child span, so a slow call shows where its time went.
A stream is traced when it finishes or is abandoned.

Traces go where MLflow sends them (``MLFLOW_TRACKING_URI``, ``mlflow.set_tracking_uri``)
into ``experiment_id`` if set, else MLflow's active experiment.

The hooks only note what happened and when (a few microseconds); one background thread
builds the MLflow spans with those timestamps, and MLflow exports finished traces from
its own queue. So tracing does no work worth measuring, and no I/O, on the caller's
thread or event loop. :func:`flush` waits for the spans noted so far (it also runs at
exit); mlflow is imported by that thread, never at ``import chatport``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import chatport

if TYPE_CHECKING:
    from mlflow.entities.span import LiveSpan

__all__ = [
    "PLUGIN_NAME",
    "SETTINGS",
    "chatport_after_completion",
    "chatport_before_request",
    "chatport_call_end",
    "chatport_call_start",
    "chatport_on_error",
    "chatport_plugin_settings",
    "flush",
    "open_calls",
]

#: The config table this plugin reads: ``[plugins.mlflow-tracing]``.
PLUGIN_NAME = "mlflow-tracing"

#: The settings of ``[plugins.mlflow-tracing]``, checked by chatport when a client is built.
SETTINGS: dict[str, type | tuple[type, ...]] = {"enabled": bool, "experiment_id": (str, int)}

_PARAMS = ("max_tokens", "temperature", "top_p", "stop", "n", "tool_choice", "reasoning")


@dataclass
class _Call:
    root: LiveSpan
    attempt: LiveSpan | None = None


_Event = tuple[Callable[..., None], str, int, dict[str, Any]]

#: spans of the calls being traced, touched by the worker thread only
_calls: dict[str, _Call] = {}
#: ids of the calls being traced, as the hooks see them
_traced: set[str] = set()


class _Worker:
    """One daemon thread turning noted events into MLflow spans, in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Event | threading.Event] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def post(self, handler: Callable[..., None], call_id: str, **data: Any) -> None:
        if self._pid != os.getpid():  # first use, or a forked child without the thread
            with self._lock:
                if self._pid != os.getpid():
                    if self._pid is None:  # before the thread, which imports MLflow
                        _flush_before_shutdown()
                    self._queue = queue.SimpleQueue()
                    name = "chatport-mlflow-tracing"
                    threading.Thread(target=self._run, name=name, daemon=True).start()
                    self._pid = os.getpid()
        self._queue.put((handler, call_id, time.time_ns(), data))

    def flush(self, timeout: float | None) -> bool:
        if self._pid != os.getpid():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        import logging

        log = logging.getLogger("chatport_mlflow_tracing")
        pending = self._queue
        try:  # import MLflow now, while the interpreter is alive, not at exit
            _check_store()
        except Exception as exc:
            log.warning("chatport-mlflow-tracing: %s: %s", type(exc).__name__, exc)
        while True:
            item = pending.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            handler, call_id, when, data = item
            try:
                handler(call_id, when, **data)
            except Exception as exc:  # MLflow trouble must not stop the thread
                log.warning("chatport-mlflow-tracing: %s: %s", type(exc).__name__, exc)


_worker = _Worker()


def _flush_before_shutdown() -> None:
    """Flush when the interpreter starts shutting down, while MLflow can still export.

    A plain ``atexit`` handler runs too late: by then ``concurrent.futures`` has shut
    its pools and refuses new work ("can't register atexit after shutdown", "cannot
    schedule new futures after interpreter shutdown"), so MLflow's exporter drops the
    trace of a short script or of a CLI command. ``threading``'s exit hooks run first,
    in reverse order of registration: registered after ``concurrent.futures``' own,
    this one runs before it. (``threading._register_atexit`` is what
    ``concurrent.futures`` itself uses; ``atexit`` stays the fallback.)
    """
    import concurrent.futures.thread  # noqa: F401  (registers its own hook first)

    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(_flush_at_exit)
        return
    with contextlib.suppress(RuntimeError):  # already shutting down: too late to register
        register(_flush_at_exit)


#: How long the exit waits for the spans to reach MLflow. Its first import (seconds on
#: a busy machine) happens on the worker thread, so a short script's spans may still be
#: waiting for it when the interpreter exits.
_EXIT_WAIT = 60.0


def _flush_at_exit() -> None:
    """Hand every noted span to MLflow; MLflow's own exit handler then exports them.

    A wait that runs out is said on the plugin's logger, never a silent loss.
    """
    if not flush(_EXIT_WAIT):
        _warn_once(
            f"chatport-mlflow-tracing: MLflow did not take this process's spans within "
            f"{_EXIT_WAIT:.0f} s of its exit; their traces are lost"
        )


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """One warning per problem and process on the plugin's logger (standard error when
    logging is not configured)."""
    import logging

    if message not in _warned:
        _warned.add(message)
        logging.getLogger("chatport_mlflow_tracing").warning("%s", message)


def _check_store() -> None:
    """Import MLflow and say once, naming the fix, when its tracking store cannot record.

    The two stores a new user meets: a ``sqlite:`` URI, which needs SQLAlchemy (the
    ``local`` extra of this package), and no URI at all, MLflow's ``./mlruns`` folder,
    which current MLflow refuses without ``MLFLOW_ALLOW_FILE_STORE=true``.
    """
    import importlib.util

    import mlflow

    uri = mlflow.get_tracking_uri()
    scheme = uri.split(":", 1)[0] if ":" in uri else "file"
    if scheme == "sqlite" and importlib.util.find_spec("sqlalchemy") is None:
        _warn_once(
            f"chatport-mlflow-tracing: MLflow cannot record traces in {uri}: a SQLite store "
            "needs SQLAlchemy: install the plugin's 'local' extra (pip install "
            "'./plugins/chatport-mlflow-tracing[local]' in a chatport checkout)"
        )
    elif scheme == "file" and os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in (
        "true",
        "1",
    ):
        _warn_once(
            f"chatport-mlflow-tracing: MLflow will not record traces in the folder {uri}: "
            "set MLFLOW_TRACKING_URI=sqlite:///mlflow.db (with the plugin's 'local' extra), "
            "a tracking server, or databricks"
        )


def flush(timeout: float | None = None) -> bool:
    """Wait until every span noted so far is handed to MLflow; ``False`` on timeout.

    MLflow then exports finished traces from its own queue
    (``mlflow.flush_trace_async_logging()`` waits for that).
    """
    return _worker.flush(timeout)


def open_calls() -> int:
    """How many traced calls have started and not ended (0 once every call is over)."""
    flush()
    return len(_calls)


def _settings(config: chatport.Config) -> tuple[bool, str | None]:
    options = config.plugin_options(PLUGIN_NAME)
    experiment = options.get("experiment_id")
    return options.get("enabled") is True, str(experiment) if experiment is not None else None


def _inputs(request: chatport.ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {name: getattr(request, name) for name in _PARAMS}
    params["stream"] = request.stream
    if request.tools:
        params["tools"] = [dict(tool) for tool in request.tools]
    if request.response_format is not None:
        params["response_format"] = dict(request.response_format)
    return {
        "model": request.model,
        "messages": [message.to_dict() for message in request.messages],
        "params": {name: value for name, value in params.items() if value is not None},
    }


def _usage(usage: chatport.Usage) -> dict[str, Any]:
    from mlflow.tracing.constant import SpanAttributeKey, TokenUsageKey

    counts = {
        TokenUsageKey.INPUT_TOKENS: usage.prompt_tokens,
        TokenUsageKey.OUTPUT_TOKENS: usage.completion_tokens,
        TokenUsageKey.TOTAL_TOKENS: usage.total_tokens,
    }
    attributes: dict[str, Any] = {"chatport.usage": usage.to_dict()}
    if all(value is not None for value in counts.values()):  # MLflow's own usage key
        attributes[SpanAttributeKey.CHAT_USAGE] = counts
    return attributes


def _completion_attributes(completion: chatport.Completion) -> dict[str, Any]:
    attributes = {
        "chatport.finish_reason": completion.finish_reason,
        "chatport.latency_s": completion.latency_s,
        "chatport.response_model": completion.model,
        **_usage(completion.usage),
    }
    return {key: value for key, value in attributes.items() if value is not None}


def _error_attributes(error: chatport.ChatportError) -> dict[str, Any]:
    attributes: dict[str, Any] = {"chatport.error": type(error).__name__}
    status_code = getattr(error, "status_code", None)
    if status_code is not None:
        attributes["chatport.status_code"] = status_code
    return attributes


@chatport.hookimpl
def chatport_plugin_settings() -> dict[str, type | tuple[type, ...]]:
    """``enabled`` (tracing is off unless it is ``true``) and ``experiment_id``."""
    return SETTINGS


@chatport.hookimpl
def chatport_call_start(
    call_id: str, request: chatport.ChatRequest, backend: str, config: chatport.Config
) -> None:
    """Note the start of a traced call (the root span is built by the worker)."""
    enabled, experiment_id = _settings(config)
    if enabled:
        _traced.add(call_id)
        _worker.post(_start, call_id, request=request, backend=backend, experiment=experiment_id)


@chatport.hookimpl
def chatport_before_request(
    call_id: str, request: chatport.ChatRequest, backend: str, attempt: int
) -> None:
    """Note the start of an attempt."""
    if call_id in _traced:
        _worker.post(_attempt, call_id, request=request, backend=backend, attempt=attempt)


@chatport.hookimpl
def chatport_on_error(call_id: str, error: chatport.ChatportError, elapsed_s: float) -> None:
    """Note a failed attempt."""
    if call_id in _traced:
        _worker.post(_attempt_failed, call_id, error=error, elapsed_s=elapsed_s)


@chatport.hookimpl
def chatport_after_completion(call_id: str, completion: chatport.Completion) -> None:
    """Note the attempt that answered."""
    if call_id in _traced:
        _worker.post(_attempt_answered, call_id, completion=completion)


@chatport.hookimpl
def chatport_call_end(
    call_id: str,
    request: chatport.ChatRequest,
    backend: str,
    status: str,
    completion: chatport.Completion | None,
    error: chatport.ChatportError | None,
    elapsed_s: float,
    attempts: int,
) -> None:
    """Note the end of the call."""
    if call_id in _traced:
        _traced.discard(call_id)
        _worker.post(
            _end,
            call_id,
            request=request,
            backend=backend,
            status=status,
            completion=completion,
            error=error,
            elapsed_s=elapsed_s,
            attempts=attempts,
        )


# -- the worker's side: MLflow spans, with the times the hooks noted ----------------


def _start(
    call_id: str,
    when: int,
    request: chatport.ChatRequest,
    backend: str,
    experiment: str | None,
) -> None:
    import mlflow
    from mlflow.entities import SpanType

    root = mlflow.start_span_no_context(
        name=f"chatport {backend}",
        span_type=SpanType.CHAT_MODEL,
        inputs=_inputs(request),
        attributes={"chatport.backend": backend, "chatport.model": request.model},
        experiment_id=experiment,
        start_time_ns=when,
    )
    _calls[call_id] = _Call(root)


def _attempt(
    call_id: str, when: int, request: chatport.ChatRequest, backend: str, attempt: int
) -> None:
    call = _calls.get(call_id)
    if call is None:
        return
    import mlflow
    from mlflow.entities import SpanType

    span = mlflow.start_span_no_context(
        name=f"attempt {attempt}",
        span_type=SpanType.CHAT_MODEL,
        parent_span=call.root,
        inputs={"model": request.model, "backend": backend},
        start_time_ns=when,
    )
    span.set_attributes(
        {"chatport.backend": backend, "chatport.model": request.model, "chatport.attempt": attempt}
    )
    call.attempt = span


def _attempt_failed(
    call_id: str, when: int, error: chatport.ChatportError, elapsed_s: float
) -> None:
    call = _calls.get(call_id)
    if call is None or call.attempt is None:
        return
    span, call.attempt = call.attempt, None
    span.set_attributes({**_error_attributes(error), "chatport.elapsed_s": elapsed_s})
    span.record_exception(error)  # an exception event, and status ERROR
    span.end(end_time_ns=when)


def _attempt_answered(call_id: str, when: int, completion: chatport.Completion) -> None:
    call = _calls.get(call_id)
    if call is None or call.attempt is None:
        return
    span, call.attempt = call.attempt, None
    span.end(
        outputs=completion.to_dict(),
        attributes=_completion_attributes(completion),
        end_time_ns=when,
    )


def _end(
    call_id: str,
    when: int,
    request: chatport.ChatRequest,
    backend: str,
    status: str,
    completion: chatport.Completion | None,
    error: chatport.ChatportError | None,
    elapsed_s: float,
    attempts: int,
) -> None:
    call = _calls.pop(call_id, None)
    if call is None:
        return
    root = call.root
    if call.attempt is not None:  # a stream abandoned while this attempt was running
        call.attempt.end(attributes={"chatport.abandoned": True}, end_time_ns=when)
    attributes: dict[str, Any] = {
        "chatport.backend": backend,
        "chatport.model": request.model,
        "chatport.status": status,
        "chatport.attempts": attempts,
    }
    outputs = completion.to_dict() if completion is not None else None
    if completion is not None:
        attributes.update(_completion_attributes(completion))
    attributes["chatport.latency_s"] = elapsed_s  # the whole call, not the last attempt
    if error is not None:
        attributes.update(_error_attributes(error))
        root.record_exception(error)
        root.end(outputs=outputs, attributes=attributes, end_time_ns=when)
        return
    root.end(outputs=outputs, attributes=attributes, status="OK", end_time_ns=when)
