"""Chat models over Spark DataFrames: :func:`chat_udf`, a pandas UDF (extra ``spark``).

::

    from chatport.spark import chat_udf

    answer = chat_udf(model="databricks-gpt-5", max_tokens=200)
    df = df.withColumn("answer", answer("prompt"))

Each Python worker builds one :class:`chatport.Client` on first use (cached per process
and per settings) and answers each Arrow batch with :meth:`chatport.Client.map`, at most
``concurrency`` calls in flight, results in row order. A failed row gets its ``error``
and nulls elsewhere; the task goes on.

Credentials never travel with the UDF. Its pickled closure holds only non-secret
settings (backend, model, call parameters, concurrency, a config path or profile name);
each worker finds the workspace the way every chatport call does: ``DATABRICKS_HOST`` /
``DATABRICKS_TOKEN`` in its environment, a ``~/.databrickscfg`` profile, or OAuth
through databricks-sdk. ``import chatport.spark`` imports neither pyspark nor pandas;
:func:`chat_udf` does.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._batch import BatchResult, RateLimit
from ._client import Client
from ._config import SETTINGS, load_config
from ._errors import ChatportError, ConfigError, InvalidRequestError
from ._redact import looks_secret, redact, remember_secret

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column

__all__ = ["RESULT_FIELDS", "RESULT_SCHEMA", "RowFailed", "chat_udf"]

#: The answer struct's fields, in order, with their Spark SQL types.
RESULT_FIELDS: tuple[tuple[str, str], ...] = (
    ("text", "string"),
    ("finish_reason", "string"),
    ("prompt_tokens", "int"),
    ("completion_tokens", "int"),
    ("reasoning_tokens", "int"),
    ("error", "string"),
)
#: The UDF's return type as a Spark DDL string.
RESULT_SCHEMA = ", ".join(f"{name} {kind}" for name, kind in RESULT_FIELDS)

# Keys that name a secret: refused, so a token can never end up in the UDF's closure.
_SECRET_KEYS = frozenset(
    {"token", "secret", "password", "api_key", "apikey", "authorization", "credentials"}
)
_SECRET_SUFFIXES = ("_token", "_secret", "_password", "_api_key", "_apikey")
_CLIENT_SETTINGS = frozenset(SETTINGS) - {"backend", "model"}


@dataclass(frozen=True)
class _Spec:
    """What a worker needs to answer rows: settings only, never a credential."""

    backend: str | None
    model: str | None
    profile: str | None
    config: str | None  # a path, or the JSON of an in-memory table
    config_is_table: bool
    settings: tuple[tuple[str, Any], ...]
    params: tuple[tuple[str, Any], ...]
    concurrency: int
    rate_limit: RateLimit | None
    fail_fast: bool
    messages: bool

    def client_key(self) -> str:
        """Workers share one client for equal settings."""
        return json.dumps(
            [self.backend, self.model, self.profile, self.config, self.settings],
            sort_keys=True,
            default=repr,
        )

    def make_client(self) -> Client:
        config: Any = self.config
        if self.config_is_table and self.config is not None:
            config = json.loads(self.config)
        return Client(
            self.backend,
            profile=self.profile,
            config=config,
            **({"model": self.model} if self.model else {}),
            **dict(self.settings),
        )


# -- the executor side -----------------------------------------------------------------

_clients: dict[str, Client] = {}
_clients_lock = threading.Lock()


def _client_for(spec: _Spec) -> Client:
    """This process's client for ``spec``'s settings, built on first use."""
    key = spec.client_key()
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = spec.make_client()
        return client


def _remember_worker_secrets(client: Client) -> None:
    """Have chatport mask the credentials this worker can see in every error text (the
    one masking of :mod:`chatport._redact`), even before the client has used them."""
    names = ["DATABRICKS_TOKEN", "DATABRICKS_CLIENT_SECRET"]
    token_env = client.config.get("token_env")
    if token_env:
        names.append(str(token_env))
    for name in names:
        remember_secret(os.environ.get(name))


def _describe(error: BaseException) -> str:
    """``Type: message``, with every credential chatport knows of, and anything shaped
    like one, masked."""
    return redact(f"{type(error).__name__}: {error}")


class _NotMessages:
    """A ``messages=True`` cell that is not an array: its row fails, never sent."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


def _message_list(value: Any) -> Any:
    """A Spark ``array<struct<role, content>>`` cell as OpenAI-style dicts.

    An element that is not a struct (a null, say) is kept as it is: chatport's
    validation then fails that row alone, naming it (``messages[1]: ...``).
    """
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        return _NotMessages(type(value).__name__)
    rows: list[Any] = []
    for item in value:
        if hasattr(item, "asDict"):  # a pyspark Row
            item = item.asDict()
        if isinstance(item, Mapping):
            item = {key: v for key, v in item.items() if v is not None}
        rows.append(item)
    return rows


class RowFailed(ChatportError):
    """A row failed under ``fail_fast=True``; its error is the ``__cause__``."""


def _answer(spec: _Spec, batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
    """The UDF body: one Arrow batch in, one DataFrame of answers out, in row order."""
    import pandas as pd

    client = _client_for(spec)
    _remember_worker_secrets(client)
    params = dict(spec.params)
    for batch in batches:
        inputs = batch.tolist()
        if spec.messages:
            inputs = [_message_list(value) for value in inputs]
        rows: dict[str, list[Any]] = {name: [] for name, _ in RESULT_FIELDS}
        results: Iterator[BatchResult] = client.map(
            [_NULL if value is None else value for value in inputs],
            concurrency=spec.concurrency,
            progress=False,
            rate_limit=spec.rate_limit,
            **params,
        )
        for result in results:
            if result.error is not None and spec.fail_fast:
                results.close()  # type: ignore[attr-defined]
                raise RowFailed(
                    f"row {result.index} of a batch failed (fail_fast=True): " + _failure(result)
                ) from None
            _append(rows, result)
        yield pd.DataFrame(
            {
                name: pd.array(values, dtype="Int32" if kind == "int" else "object")
                for (name, kind), values in zip(RESULT_FIELDS, rows.values(), strict=True)
            }
        )


# A null cell: sent to the batch as an empty prompt is not right, so it fails validation
# on its own with a clear message (an empty message list), before anything is sent.
_NULL: list[Any] = []


def _failure(result: BatchResult) -> str:
    """The ``error`` text of a failed row."""
    if result.input is _NULL:
        return "InvalidRequestError: the input is null"
    if isinstance(result.input, _NotMessages):
        return (
            "InvalidRequestError: with messages=True each cell must be an array of "
            f"structs (role, content), not a {result.input.kind}"
        )
    return "unknown error" if result.error is None else _describe(result.error)


def _append(rows: dict[str, list[Any]], result: BatchResult) -> None:
    completion = result.completion
    if completion is None:
        text = _failure(result)
        for name, _ in RESULT_FIELDS:
            rows[name].append(text if name == "error" else None)
        return
    usage = completion.usage
    rows["text"].append(completion.text)
    rows["finish_reason"].append(completion.finish_reason)
    rows["prompt_tokens"].append(usage.prompt_tokens)
    rows["completion_tokens"].append(usage.completion_tokens)
    rows["reasoning_tokens"].append(usage.reasoning_tokens)
    rows["error"].append(None)


def _spec_of(udf: Callable[..., Any]) -> _Spec:
    """The settings a UDF made by :func:`chat_udf` carries (for tests and debugging)."""
    func: Any = getattr(udf, "func", udf)
    closure = func.__closure__ or ()
    return next(cell.cell_contents for cell in closure if isinstance(cell.cell_contents, _Spec))


# -- the driver side ---------------------------------------------------------------------


_NEVER_CARRIED = (
    "chat_udf never carries credentials to the executors; set DATABRICKS_TOKEN (or a "
    "profile) in the cluster's environment instead"
)


_LOOKS_SECRET = "looks like a credential (not shown)"


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _secret_value(where: str, value: str) -> str | None:
    """Why the string ``value`` at ``where`` may not travel with a UDF, or ``None``."""
    if "@" in value and ("://" in value or where.rpartition(".")[2] == "host"):
        try:  # a host may come without its scheme, as everywhere in chatport
            netloc = urlsplit(value.strip() if "://" in value else "https://" + value).netloc
        except ValueError:
            netloc = "@"
        if "@" in netloc:
            return "is a URL with user info (not shown): give the host alone"
    # each path segment on its own: a long path is not a token, a token in it is
    if any(looks_secret(part) for part in value.split("/")):
        return _LOOKS_SECRET
    return None


def _refuse_secrets(values: Mapping[str, Any]) -> None:
    """Refuse any credential among ``values``, however deeply nested in dicts and lists:
    a key that names one, a token-shaped string, a URL with user info. The message
    names where it is and never shows it."""
    stack: list[tuple[str, Any]] = [(str(key), value) for key, value in values.items()]
    seen: set[int] = set()
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            reason = _secret_value(where, value)
            if reason is not None:
                raise ConfigError(f"{where}: {reason}; {_NEVER_CARRIED}", key=where)
            continue
        if not isinstance(value, Mapping | list | tuple) or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Mapping):
            for key, item in value.items():
                name = str(key)
                if looks_secret(name):  # a token as a key: refused, and not shown either
                    at = f"{where}.****"
                    raise ConfigError(f"{at}: a key that {_LOOKS_SECRET}; {_NEVER_CARRIED}", key=at)
                if _secret_key(name):
                    raise ConfigError(f"{where}.{name}: {_NEVER_CARRIED}", key=f"{where}.{name}")
                stack.append((f"{where}.{name}", item))
        else:
            stack.extend((f"{where}[{index}]", item) for index, item in enumerate(value))


def chat_udf(
    backend: str | None = None,
    model: str | None = None,
    *,
    concurrency: int = 8,
    fail_fast: bool = False,
    messages: bool = False,
    profile: str | None = None,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    rate_limit: Any = None,
    **params: Any,
) -> Callable[..., Column]:
    """A pandas UDF that answers a column of prompts with a chat model.

    The column holds prompts (``string``), or with ``messages=True`` whole
    conversations (``array<struct<role: string, content: string>>``). The result is a
    struct ``<text, finish_reason, prompt_tokens, completion_tokens, reasoning_tokens,
    error>`` (:data:`RESULT_SCHEMA`): a failed row has ``error`` (the exception's type
    and message) and nulls elsewhere, and the task goes on; ``fail_fast=True`` fails
    the task on the first failed row instead. A null cell is a failed row.

    :param backend: the chatport backend (default: the configured one, e.g. ``rest``).
    :param model: the serving endpoint (default: the configured model).
    :param concurrency: calls in flight per Python worker. Rows in flight across the
        cluster are the tasks running at once times ``concurrency``.
    :param fail_fast: raise :class:`RowFailed` (failing the task) on the first failed row.
    :param messages: the column holds message arrays instead of prompts.
    :param profile: a chatport config profile, resolved on the executors.
    :param config: a chatport config file path readable on the executors, or an
        in-memory table (which, like every chatport config, holds no secrets).
    :param rate_limit: requests per minute, or ``{"requests_per_minute": ...,
        "tokens_per_minute": ...}``, **per Python worker** (see :meth:`Client.map`).
    :param params: top-level client settings (``timeout``, ``max_retries``,
        ``fallbacks``, ``host``, ``token_env``, ``databricks_profile``, ...) and call
        parameters (``max_tokens``, ``temperature``, ``reasoning``, ``extra``, ...).
    :raises ConfigError: for a credential anywhere in the arguments (a key that names
        one, a token-shaped value, a host with user info; never shown), or an invalid
        setting.
    :raises InvalidRequestError: for an invalid ``concurrency`` or ``rate_limit``.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequestError("must be a positive integer", field="concurrency")
    for key in params:
        if _secret_key(key):
            raise ConfigError(f"{key}: {_NEVER_CARRIED}", key=key)
    _refuse_secrets({"backend": backend, "model": model, "profile": profile, **params})
    settings = {key: value for key, value in params.items() if key in _CLIENT_SETTINGS}
    call_params = {key: value for key, value in params.items() if key not in settings}
    table: str | None = None
    path: str | None = None
    if isinstance(config, Mapping):
        _refuse_secrets({"config": config})
        load_config(config, environ={})  # invalid tables fail here, on the driver
        table = json.dumps(config, sort_keys=True)
    elif config is not None:
        path = os.fspath(config)  # read on the executors, where it must exist
    # settings are checked on the driver; the file and the environment are the executors'
    load_config({}, overrides=settings, environ={})
    spec = _Spec(
        backend=backend,
        model=model,
        profile=profile,
        config=table if table is not None else path,
        config_is_table=table is not None,
        settings=tuple(sorted(settings.items())),
        params=tuple(sorted(call_params.items())),
        concurrency=concurrency,
        rate_limit=RateLimit.coerce(rate_limit),
        fail_fast=bool(fail_fast),
        messages=bool(messages),
    )
    return _pandas_udf(spec)


def _pandas_udf(spec: _Spec) -> Callable[..., Column]:
    try:
        import pandas as pd
        from pyspark.sql.pandas.functions import pandas_udf
    except ImportError as exc:
        raise ConfigError(
            f"chatport.spark needs pyspark, pandas and pyarrow ({exc.name} is missing): "
            "install chatport's 'spark' extra (pip install '.[spark]' in a chatport checkout)"
        ) from None

    def answer(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        return _answer(spec, batches)

    # real objects, not strings: pyspark reads the UDF's kind from these hints
    answer.__annotations__ = {"batches": Iterator[pd.Series], "return": Iterator[pd.DataFrame]}
    make: Any = pandas_udf  # its overloads need pandas' stubs, which are optional
    udf: Callable[..., Column] = make(answer, returnType=RESULT_SCHEMA)
    return udf
