"""The ``databricks-sdk`` backend: a ``WorkspaceClient`` and its authenticated API client.

``WorkspaceClient().serving_endpoints.query`` reads ``finishReason`` in camelCase (so it
always reports ``None``), drops ``tool_calls`` and cannot stream (docs/wire-facts.md#sdk-query).
This backend therefore sends the same ``POST /serving-endpoints/{name}/invocations``
through the client's own ``api_client`` (the SDK's unified auth and headers) and
normalizes the raw JSON, so nothing is lost. Endpoint listings read
``GET /api/2.0/serving-endpoints`` the same way, keeping what the typed ``list()`` drops
(``endpoint_type``, newer external-model providers). How each request is sent once,
bounded and mapped: :mod:`chatport._wire.workspace_client`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl
from ._workspace_client import WorkspaceClientBackend, build_workspace_client

if TYPE_CHECKING:
    from .._registry import BackendRegistry


__all__ = ["DatabricksSdkBackend"]


class DatabricksSdkBackend(WorkspaceClientBackend):
    """databricks-sdk's ``WorkspaceClient``, with nothing dropped."""

    description = "databricks-sdk WorkspaceClient (serving endpoints, raw JSON kept)"
    requires = ("databricks.sdk",)
    extra = "databricks"

    def _build(self) -> Any:
        """A ``WorkspaceClient`` for chatport's workspace (its one credential chain)."""
        return build_workspace_client(self.settings)


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``databricks-sdk`` backend."""
    registry.add("databricks-sdk", DatabricksSdkBackend, aliases=("databricks",))
