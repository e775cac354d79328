"""The ``mlflow`` backend: what ``mlflow.deployments.get_deploy_client("databricks")`` sends.

On Databricks, ``predict`` and ``predict_stream`` POST the request to
``/serving-endpoints/{name}/invocations`` through a databricks-sdk ``WorkspaceClient``
with mlflow's headers (docs/wire-facts.md#mlflow-requests). This backend sends that same request,
with those headers, through that same kind of client, authenticated by chatport's one
credential chain (so it reaches the same workspace as every other backend, whether the
credential comes from code, the environment, a profile or the notebook runtime).

What it does not take from mlflow are the layers that break chatport's common behaviour
(docs/wire-facts.md#mlflow): two stacked retry loops that re-send a 429 for up to ten minutes
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

from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from ._workspace_client import WorkspaceClientBackend, build_workspace_client

if TYPE_CHECKING:
    from .._registry import BackendRegistry


__all__ = ["MlflowBackend"]

#: The header mlflow's deployment client adds to every predict call.
CLIENT_HEADER = {"X-Databricks-Endpoints-API-Client": "Databricks Deployment Client"}


class MlflowBackend(WorkspaceClientBackend):
    """MLflow's Databricks deployment client."""

    description = "mlflow.deployments 'databricks' client: predict / predict_stream"
    requires = ("mlflow",)
    extra = "mlflow"
    list_path = "/api/2.0/serving-endpoints/"  # as the deploy client's list_endpoints()

    def _build(self) -> Any:
        """The ``WorkspaceClient`` mlflow builds for its target, on chatport's workspace."""
        return build_workspace_client(self.settings)

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
