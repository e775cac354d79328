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
from typing import Any

from .._errors import ConfigError
from .._plugins import hookimpl
from .._registry import BackendRegistry
from .._wire.transport import check_host
from .._wire.workspace_client import WorkspaceClientBackend
from .base import Capabilities

__all__ = ["MlflowBackend"]

#: The header mlflow's deployment client adds to every predict call.
CLIENT_HEADER = {"X-Databricks-Endpoints-API-Client": "Databricks Deployment Client"}


def _same_host(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        url = url if "://" in url else "https://" + url
        return url.rstrip("/").removesuffix(":443")

    return norm(a) == norm(b)


class MlflowBackend(WorkspaceClientBackend):
    """MLflow's Databricks deployment client."""

    capabilities = Capabilities(
        streaming=True, tools=True, response_format=True, native_async=False, multiple_choices=True
    )
    description = "mlflow.deployments 'databricks' client: predict / predict_stream"
    requires = ("mlflow",)
    extra = "mlflow"
    list_path = "/api/2.0/serving-endpoints/"  # as the deploy client's list_endpoints()

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

    def _headers(self) -> dict[str, str]:
        """The headers mlflow sends with a predict call: its request-header providers'
        and the deployment client's own."""
        from mlflow.tracking.request_header.registry import resolve_request_headers

        return {**resolve_request_headers(), **CLIENT_HEADER}  # type: ignore[no-untyped-call]

    def _raw(self, data: Any) -> Any:
        """mlflow's answer type, ``DatabricksEndpoint``."""
        from mlflow.deployments.databricks import DatabricksEndpoint

        return DatabricksEndpoint(data) if isinstance(data, dict) else data


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``mlflow`` backend."""
    registry.add("mlflow", MlflowBackend)
