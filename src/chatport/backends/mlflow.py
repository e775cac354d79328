"""The ``mlflow`` backend: what ``mlflow.deployments.get_deploy_client("databricks")`` sends.

On Databricks, ``predict`` and ``predict_stream`` POST the request to
``/serving-endpoints/{name}/invocations`` through a databricks-sdk ``WorkspaceClient``
built from mlflow's target (``databricks`` reads ``DATABRICKS_HOST``/``DATABRICKS_TOKEN``
or the default ``~/.databrickscfg`` profile, ``databricks://PROFILE`` a named profile),
with mlflow's request headers (wire-protocol §6). This backend sends that same request,
with those headers, through that same kind of client.

What it does not take from mlflow are the layers that break chatport's common behaviour
(wire-protocol §6): two stacked retry loops that re-send a 429 for up to ten minutes
and keep re-POSTing after the caller gave up, process-wide timeouts read from
``os.environ``, a rewrite of every error answer into a synthetic 500 without its
``Retry-After`` or request id, a host probe retried for minutes, and a line reader
quadratic in line length. Each request is sent once, read to the call's deadline and
mapped by its real answer (:mod:`chatport._wire.workspace_client`), so the mlflow
backend meets the same fault matrix as the others. Nothing is written to
``os.environ``: the user's own mlflow calls keep their settings. Answers keep mlflow's
type: ``Completion.raw`` is a ``DatabricksEndpoint``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from .._errors import ConfigError
from .._plugins import hookimpl
from .._registry import BackendRegistry
from .._request import ChatRequest
from .._types import Chunk, Completion
from .._wire.deadline import Clock
from .._wire.endpoint_list import endpoints_from_body
from .._wire.openai_shape import chat_body, completion_from_chat
from .._wire.sse import ChatEventStream, read_lines
from .._wire.transport import check_host
from .._wire.workspace_client import WorkspaceCalls
from .base import Backend, BackendSettings, Capabilities
from .databricks_sdk import invocations_path

__all__ = ["MlflowBackend"]

#: The header mlflow's deployment client adds to every predict call.
CLIENT_HEADER = {"X-Databricks-Endpoints-API-Client": "Databricks Deployment Client"}


def _same_host(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        url = url if "://" in url else "https://" + url
        return url.rstrip("/").removesuffix(":443")

    return norm(a) == norm(b)


def _mlflow_headers() -> dict[str, str]:
    """The headers mlflow sends with a predict call: its request-header providers' and
    the deployment client's own."""
    from mlflow.tracking.request_header.registry import resolve_request_headers

    return {**resolve_request_headers(), **CLIENT_HEADER}  # type: ignore[no-untyped-call]


class MlflowBackend(Backend):
    """MLflow's Databricks deployment client."""

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=False, multiple_choices=True
    )
    description = "mlflow.deployments 'databricks' client: predict / predict_stream"
    requires = ("mlflow",)
    extra = "mlflow"

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._calls = WorkspaceCalls(self, self._build, _mlflow_headers)

    def _profile(self) -> str | None:
        """The ``~/.databrickscfg`` profile of mlflow's target, refusing what mlflow cannot read.

        mlflow reads the workspace from the environment or a profile; a host or token
        that only chatport's config knows is refused, never silently ignored.
        """
        profile = self.settings.databricks_profile
        env_host = os.environ.get("DATABRICKS_HOST")
        host = self.settings.host
        if profile:
            return profile
        if host and not (env_host and _same_host(host, env_host)):
            raise ConfigError(
                "the mlflow backend reads the workspace from DATABRICKS_HOST and "
                "DATABRICKS_TOKEN or a ~/.databrickscfg profile (databricks_profile); "
                "set those instead of `host` in chatport's config",
                key="host",
            )
        return None

    def _build(self) -> Any:
        """The ``WorkspaceClient`` mlflow builds for its target, with a bounded host probe."""
        profile = self._profile()
        if self.settings.host:
            check_host(self.settings)
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        timeout = max(1, round(self.settings.timeout))
        kwargs: dict[str, Any] = {"profile": profile} if profile else {}
        try:
            config = Config(**kwargs, http_timeout_seconds=timeout, retry_timeout_seconds=1)
        except Exception as exc:
            raise ConfigError(
                f"mlflow's databricks target could not be configured: {exc}",
                key="databricks_profile",
            ) from None
        return WorkspaceClient(config=config)

    def complete(self, request: ChatRequest) -> Completion:
        """What ``predict`` sends, its answer read before the call's deadline."""
        inputs = chat_body(request, self.request_profile(request), self.name)
        data = self._calls.request_json("POST", invocations_path(request.model), inputs)
        from mlflow.deployments.databricks import DatabricksEndpoint

        raw = DatabricksEndpoint(data) if isinstance(data, dict) else data
        return completion_from_chat(data, self.name, raw=raw)

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """What ``predict_stream`` sends, read by chatport to the stream's deadlines."""
        events = ChatEventStream(self.name)
        inputs = {**chat_body(request, self.request_profile(request), self.name), "stream": True}
        clock = Clock.for_call(self.settings.timeout, stream=True)
        lines = self._calls.stream_lines(invocations_path(request.model), inputs, clock)
        yield from read_lines(events, lines, clock)
        last = events.end()
        if last is not None:
            yield last

    def close(self) -> None:
        """Release the workspace client's HTTP session and the deadline pool."""
        self._calls.close()
        super().close()

    def list_endpoints(self) -> list[Mapping[str, Any]]:
        """``GET /api/2.0/serving-endpoints/``, as the deploy client's ``list_endpoints()``."""
        data = self._calls.request_json("GET", "/api/2.0/serving-endpoints/")
        return endpoints_from_body(data, self.name)


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``mlflow`` backend."""
    registry.add("mlflow", MlflowBackend)
