"""The local workspace: a Databricks-compatible model-serving API on 127.0.0.1.

The unmodified openai, mlflow and databricks-sdk clients work against it. Use it for
offline development and tests::

    from chatport.local import LocalWorkspace, Fault

    with LocalWorkspace() as ws, ws.activated():
        ws.set_faults("databricks-gpt-5", Fault.rate_limit(times=2))
        ...
"""

from __future__ import annotations

from .apps import App
from .endpoints import DEFAULT_ENDPOINTS, MODELS, Endpoint, Fault
from .server import LocalWorkspace, LocalWorkspaceError, is_loopback
from .state import LoggedRequest
from .usage import UsageRecord

__all__ = [
    "DEFAULT_ENDPOINTS",
    "MODELS",
    "App",
    "Endpoint",
    "Fault",
    "LocalWorkspace",
    "LocalWorkspaceError",
    "LoggedRequest",
    "UsageRecord",
    "is_loopback",
]
