"""`Client`: resolve the backend, check capabilities, hand the call to the dispatcher.

A client reads its configuration once. Backend instances (and the SDK clients they
hold) are built on first use and reused; building is guarded by a lock, so one client
can be shared between threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from ._auth import CodeCredentials, Workspace, resolve_workspace
from ._config import Config, load_config
from ._config_check import check_backend_name, check_config, check_options
from ._dispatch import Attempts, run_async, run_sync, stream_async, stream_sync
from ._errors import (
    APIError,
    ChatportError,
    ConfigError,
    InvalidRequestError,
    UnsupportedFeatureError,
)
from ._models import ModelInfo, model_info
from ._observe import as_chatport_error, describe_backend, is_stop
from ._request import ChatRequest, app_name, merge_request_tags
from ._retry import RetryPolicy
from ._types import Chunk, Completion
from .backends.base import Backend, BackendSettings

if TYPE_CHECKING:
    from ._batch import BatchResult
    from ._registry import BackendInfo

__all__ = ["Client"]


_get_registry: Callable[[], Any] | None = None


def _registry() -> Any:
    """The backend registry (pluggy loads on first use, not at import)."""
    global _get_registry
    if _get_registry is None:
        from ._plugins import get_registry

        _get_registry = get_registry
    return _get_registry()


def _read_messages(messages: object) -> object:
    """An iterator of messages (a generator) read into a list once, so every fallback
    entry sees them all; what raises while it is read is an :class:`InvalidRequestError`."""
    if not isinstance(messages, Iterator) or isinstance(messages, str | Mapping):
        return messages
    try:
        return list(messages)
    except ChatportError:
        raise
    except BaseException as exc:  # the caller's generator failed (Ctrl-C and exit stop)
        if is_stop(exc) or isinstance(exc, SystemExit):
            raise
        raise InvalidRequestError(
            f"reading the messages raised {type(exc).__name__}: {exc}", field="messages"
        ) from exc


def _build(info: BackendInfo, settings: BackendSettings) -> Backend:
    """A new instance of ``info``'s backend class.

    A constructor that raises something other than a chatport error is the plugin's
    failure: an :class:`APIError` naming the backend and its plugin, the cause kept.
    """
    try:
        return info.cls(settings)
    except ChatportError:
        raise
    except BaseException as exc:
        if is_stop(exc):
            raise
        raise APIError(
            f"{describe_backend(info.name)} could not be built: {type(exc).__name__}: {exc}",
            backend=info.name,
        ) from exc


_FEATURES: tuple[tuple[str, str, Callable[[ChatRequest], bool]], ...] = (
    ("tools", "tools", lambda r: r.needs_tools),
    ("response_format", "response_format", lambda r: r.response_format is not None),
    ("multiple_choices", "n > 1", lambda r: (r.n or 1) > 1),
    ("stop", "stop", lambda r: bool(r.stop)),
    (
        "apps",
        "agents on Databricks Apps (apps/<app name>)",
        lambda r: app_name(r.model) is not None,
    ),
)


def _options_key(options: Mapping[str, Any]) -> Any:
    """A hashable key for call-time options (values may be lists or dicts)."""
    items = tuple(sorted(options.items()))
    try:
        hash(items)
    except TypeError:
        return repr(items)
    return items


class Client:
    """A configured entry point to every backend.

    ``backend`` picks the default backend; ``profile`` selects a config profile;
    ``config`` is a config file path, an in-memory table or a :class:`Config` (``None``
    discovers the file); ``settings`` are any top-level config keys, for example
    ``Client(backend="rest", timeout=5, max_retries=0)``.

    Credentials in code (never in a config file): ``host=`` with ``token=``, a string or
    a zero-argument callable returning one (called whenever a token is needed, so it may
    refresh it), or a databricks-sdk ``workspace_client=`` or ``sdk_config=`` whose auth
    every backend then uses. Without them chatport finds the workspace the way
    databricks-sdk does (see "Where chatport finds your workspace" in the configuration
    docs).
    """

    def __init__(
        self,
        backend: str | None = None,
        *,
        profile: str | None = None,
        config: str | os.PathLike[str] | Mapping[str, Any] | Config | None = None,
        token: str | Callable[[], str] | None = None,
        workspace_client: Any = None,
        sdk_config: Any = None,
        **settings: Any,
    ) -> None:
        self._credentials = CodeCredentials(token, workspace_client, sdk_config)
        overrides = dict(settings)
        if backend is not None:
            overrides["backend"] = backend
        if isinstance(config, Config):
            if overrides or profile:
                raise ConfigError("pass settings or a profile, or a ready Config, not both")
            self.config = config
        else:
            source: str | Path | Mapping[str, Any] | None
            source = Path(config) if isinstance(config, str | os.PathLike) else config
            self.config = load_config(source, profile=profile, overrides=overrides)
        check_config(self.config, _registry())
        self._instances: dict[tuple[str, Any], Backend] = {}
        #: the instances asked for by name alone (``None``: the configured backend), valid
        #: while the backend registry they were looked up in is the current one
        self._named: dict[str | None, Backend] = {}
        self._named_in: object = None
        self.retry_policy = RetryPolicy(
            max_retries=self.config.max_retries,
            timeout=self.config.timeout,
            retry_on_timeout=bool(self.config.get("retry_on_timeout")),
        )
        self._lock = threading.RLock()
        self._workspace: Workspace | None = None
        self._closed = False

    # -- resolution ---------------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        """The workspace host and credentials, resolved once on first use."""
        if self._workspace is None:
            with self._lock:
                if self._workspace is None:
                    self._workspace = resolve_workspace(self.config, code=self._credentials)
        return self._workspace

    def backend(
        self, name: str | None = None, *, options: Mapping[str, Any] | None = None
    ) -> Backend:
        """The backend instance for ``name`` (default: the configured backend), built once."""
        registry = _registry()
        # the common call: a name seen before (a name of another type gets the full check)
        if options is None and registry is self._named_in and (name is None or type(name) is str):
            instance = self._named.get(name)
            if instance is not None:
                return instance
        if self._closed:
            raise ChatportError("this Client is closed")
        info = check_backend_name(registry, name or self.config.backend)
        if options is not None and not isinstance(options, Mapping):
            raise ConfigError(
                f"options must be a dict of backend options, not {type(options).__name__}",
                key="options",
            )
        if options:  # passed in code: blamed on the code, never on a config file
            check_options(info, options, path=None, where="options")
        key = (info.name, _options_key(options) if options else None)
        instance = self._instances.get(key)
        if instance is None:
            with self._lock:
                instance = self._instances.get(key)
                if instance is None:
                    instance = _build(info, self._settings_for(info, options))
                    self._instances[key] = instance
        if options is None:
            with self._lock:
                if registry is not self._named_in:  # plugins changed: forget the old names
                    self._named, self._named_in = {}, registry
                if not self._closed:
                    self._named[name] = instance
        return instance

    def _settings_for(
        self, info: BackendInfo, call_options: Mapping[str, Any] | None
    ) -> BackendSettings:
        # both checked already: the config's when the Client was built, the call's in backend()
        options = {**self.config.backend_options(info.name), **(call_options or {})}
        missing = info.cls.missing_requirements()
        if missing:
            extra = (
                f" (install chatport's {info.cls.extra!r} extra: pip install "
                f"'.[{info.cls.extra}]' in a chatport checkout)"
                if info.cls.extra
                else ""
            )
            raise ConfigError(
                f"backend {info.name!r} needs {', '.join(missing)}, which is not installed{extra}",
                key="backend",
            )
        workspace = self._resolved_workspace()
        return BackendSettings(
            name=info.name,
            options=MappingProxyType(options),
            host=workspace.resolved_host(),
            timeout=self.config.timeout,
            max_retries=self.config.max_retries,
            allow_insecure_http=bool(self.config.get("allow_insecure_http")),
            databricks_profile=workspace.profile,
            token_provider=workspace.token,
            sdk_config_factory=workspace.sdk_config,
            credential_refresher=workspace.refresh,
            headers_provider=workspace.headers,
            auth_may_block=workspace.credential.may_block,
            auth_type_provider=workspace.auth_type,
        )

    def _resolved_workspace(self) -> Workspace:
        try:
            return self.workspace
        except ChatportError:
            raise
        except Exception as exc:  # an unexpected failure in credential discovery
            from ._redact import redact

            raise ConfigError(f"could not resolve the workspace: {redact(str(exc))}") from None

    def _prepare(
        self,
        messages: object,
        backend: str | None,
        model: str | None,
        options: Mapping[str, Any] | None,
        stream: bool,
        params: dict[str, Any],
    ) -> tuple[Backend, ChatRequest]:
        instance = self.backend(backend, options=options)
        configured = self.config.get("request_tags")
        if configured:
            tags = merge_request_tags(configured, params.get("request_tags"))
            params = {**params, "request_tags": tags}
        try:
            request = ChatRequest.build(
                messages, model=model or self.config.model or "", stream=stream, **params
            )
        except ChatportError:
            raise
        except Exception as exc:  # the caller's objects raised while being read
            raise InvalidRequestError(
                f"the request could not be read: {type(exc).__name__}: {exc}"
            ) from exc
        capabilities = type(instance).capabilities
        for attr, label, needed in _FEATURES:
            if needed(request) and not getattr(capabilities, attr):
                supported = [info.name for info in _registry() if getattr(info.capabilities, attr)]
                raise UnsupportedFeatureError(instance.name, label, supported)
        return instance, request

    # -- calls ----------------------------------------------------------------------

    def _attempts(
        self,
        messages: object,
        backend: str | None,
        model: str | None,
        options: Mapping[str, Any] | None,
        stream: bool,
        params: dict[str, Any],
    ) -> Attempts:
        messages = _read_messages(messages)

        def prepare(
            name: str | None, entry_model: str | None, entry_options: Mapping[str, Any] | None
        ) -> tuple[Backend, ChatRequest]:
            return self._prepare(messages, name, entry_model, entry_options, stream, params)

        return Attempts(self.config, self.retry_policy, prepare, backend, model, options)

    def complete(
        self,
        messages: object,
        *,
        backend: str | None = None,
        model: str | None = None,
        options: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Completion:
        """Send one chat request and return the normalized :class:`Completion`.

        ``messages`` is a string, a :class:`Message`, an OpenAI-style dict or a list of
        them. ``params`` are request parameters: ``max_tokens``, ``temperature``,
        ``top_p``, ``stop``, ``n``, ``tools``, ``tool_choice``, ``response_format``,
        ``extra``, ``request_tags`` (merged key by key over the configured
        ``request_tags``). ``options`` are backend options merged over ``[backends.NAME]``.
        Failures are retried and handed to fallbacks as the configuration says.
        """
        return run_sync(self._attempts(messages, backend, model, options, False, params))

    def stream(
        self,
        messages: object,
        *,
        backend: str | None = None,
        model: str | None = None,
        options: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Iterator[Chunk]:
        """Stream one chat request as :class:`Chunk` objects.

        Validation happens at once; the request is sent when iteration starts. A stream
        is retried only before its first chunk; a stream cut later raises
        :class:`APIConnectionError`.
        """
        return stream_sync(self._attempts(messages, backend, model, options, True, params))

    async def acomplete(
        self,
        messages: object,
        *,
        backend: str | None = None,
        model: str | None = None,
        options: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Completion:
        """The async twin of :meth:`complete`."""
        return await run_async(self._attempts(messages, backend, model, options, False, params))

    def astream(
        self,
        messages: object,
        *,
        backend: str | None = None,
        model: str | None = None,
        options: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> AsyncIterator[Chunk]:
        """The async twin of :meth:`stream`: ``async for chunk in client.astream(...)``.

        Closing the iterator early (``break``, ``aclose()``) closes the connection.
        """
        return stream_async(self._attempts(messages, backend, model, options, True, params))

    # -- batches --------------------------------------------------------------------

    def map(
        self,
        inputs: Iterable[Any],
        *,
        concurrency: int = 16,
        progress: bool | None = None,
        rate_limit: Any = None,
        **params: Any,
    ) -> Iterator[BatchResult]:
        """Answer many inputs; yields a :class:`BatchResult` per input, in input order.

        ``inputs`` (prompts, message lists or :class:`ChatRequest` objects) is read
        lazily, so it may be a generator of any length. At most ``concurrency`` calls
        are in flight; a failed input is a result with its ``error``, never the end of
        the batch. ``rate_limit`` is requests per minute, or
        ``{"requests_per_minute": ..., "tokens_per_minute": ...}``; a server's
        ``Retry-After`` pauses every worker. ``progress`` shows a bar on a terminal
        (``None``: when standard error is one; needs the ``progress`` extra).
        ``params`` are the call parameters of :meth:`complete`. Leaving the loop early
        cancels the calls still in flight.
        """
        from ._batch import map_sync

        return map_sync(
            self,
            inputs,
            concurrency=concurrency,
            progress=progress,
            rate_limit=rate_limit,
            **params,
        )

    def amap(
        self,
        inputs: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 16,
        progress: bool | None = None,
        rate_limit: Any = None,
        **params: Any,
    ) -> AsyncIterator[BatchResult]:
        """The async twin of :meth:`map`: ``async for result in client.amap(...)``.

        ``inputs`` may also be an async iterable. Backends without native async run
        in worker threads, at most ``concurrency`` at a time.
        """
        from ._batch import amap

        return amap(
            self,
            inputs,
            concurrency=concurrency,
            progress=progress,
            rate_limit=rate_limit,
            **params,
        )

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Close every backend this client built. The client cannot be used afterwards."""
        with self._lock:
            instances, self._instances = list(self._instances.values()), {}
            self._named = {}
            self._closed = True
        for instance in instances:
            instance.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every backend from async code, including this event loop's connections."""
        with self._lock:
            instances, self._instances = list(self._instances.values()), {}
            self._named = {}
            self._closed = True
        for instance in instances:
            await instance.aclose()

    def __repr__(self) -> str:
        return f"<chatport.Client backend={self.config.backend!r} model={self.config.model!r}>"

    # -- what the workspace serves ----------------------------------------------------

    def models(self, *, backend: str | None = None, chat_only: bool = True) -> list[ModelInfo]:
        """The workspace's serving endpoints as :class:`ModelInfo`, sorted by name.

        By default only chat endpoints: task ``llm/v1/chat`` (foundation and external
        chat models) and ``agent/v1/chat`` (agents built on MLflow's ``ChatModel``,
        which answer chat completions). ``ChatAgent`` (``agent/v2/chat``) and
        ``ResponsesAgent`` (``agent/v1/responses``) endpoints answer other shapes and,
        like embeddings and custom models, are listed only with ``chat_only=False``.

        The list comes through ``backend``'s own client (default: the configured
        backend), e.g. mlflow's ``list_endpoints()`` for ``backend="mlflow"``. What it
        lists also tells later calls each endpoint's model family. Sent once, without
        retries or observer hooks; failures raise chatport errors.
        """
        instance = self.backend(backend)
        try:
            listed = instance.list_endpoints()
        except ChatportError:
            raise
        except Exception as exc:
            raise as_chatport_error(exc, instance.name) from exc
        profiles = instance._profile_cache()
        result = []
        for metadata in listed:
            described = model_info(metadata)
            if described is None:
                continue
            info, profile = described
            profiles.setdefault(info.name, profile)
            if info.is_chat or not chat_only:
                result.append(info)
        return sorted(result, key=lambda info: info.name)
