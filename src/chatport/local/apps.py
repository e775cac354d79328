"""Local agents on Databricks Apps: an :class:`App` serving a ResponsesAgent.

The workspace's Apps API (``GET /api/2.0/apps/{name}``) answers an app's ``url``:
``<workspace URL>/apps/{name}`` for a local app (a real app has a host of its own, such
as ``https://my-app.aws.databricksapps.com``). ``POST {url}/responses`` answers as the
local ResponsesAgent does on Model Serving (:mod:`chatport.local.agents`), streamed when
``stream`` is set. Databricks Apps take Databricks OAuth tokens only, so this route
refuses the workspace's personal access token (``401``); the workspace issues OAuth
tokens to its ``oauth_clients`` (``/oidc/v1/token``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .._errors import ConfigError
from . import checks
from .endpoints import Endpoint, Fault

__all__ = ["App", "app_info"]

#: Databricks app names: lowercase letters, digits and hyphens.
_APP_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass
class App:
    """A local app on Databricks Apps: an agent behind ``POST {url}/responses``.

    ``model`` is the agent it serves (``responses-agent``, the interface Databricks
    documents for agents on Apps). ``deployed=False`` is an app that has no URL yet.
    ``faults`` fire on its ``/responses`` route as on an endpoint (:class:`Fault`).
    """

    name: str
    model: Literal["responses-agent"] = "responses-agent"
    deployed: bool = True
    faults: list[Fault] = field(default_factory=list)
    #: The agent behind it (named after the app), which the agent routes answer with.
    endpoint: Endpoint = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = checks.dotted("apps", str(self.name))
        checks.string(self.name, "App.name", None)
        if not _APP_NAME.fullmatch(self.name):
            raise ConfigError(
                f"{where}: an app name has lowercase letters, digits and hyphens only, "
                f"not {self.name!r}",
                key=where,
            )
        if self.model != "responses-agent":
            raise ConfigError(
                f"{where}.model: a local app serves 'responses-agent', not {self.model!r}",
                key=f"{where}.model",
            )
        if not isinstance(self.deployed, bool):
            raise checks.expected("true or false", self.deployed, f"{where}.deployed", None)
        self.endpoint = Endpoint(self.name, self.model, faults=self.faults)
        self.faults = self.endpoint.faults


def app_info(app: App, base_url: str) -> dict[str, Any]:
    """The app as ``GET /api/2.0/apps/{name}`` answers it (``url`` only once deployed)."""
    info: dict[str, Any] = {"name": app.name}
    if app.deployed:
        info["url"] = f"{base_url}/apps/{app.name}"
        info["app_status"] = {"state": "RUNNING", "message": "App has status: App is running"}
        info["compute_status"] = {"state": "ACTIVE", "message": "App compute is active."}
    else:
        info["app_status"] = {"state": "UNAVAILABLE", "message": "App has not been deployed."}
        info["compute_status"] = {"state": "ACTIVE", "message": "App compute is active."}
    return info
