"""The ``mlflow`` backend: ``mlflow.deployments.get_deploy_client("databricks")``.

``predict`` for answers and ``predict_stream`` for streams, on
``/serving-endpoints/{name}/invocations``. mlflow reports most error statuses as 500
(wire-protocol §6); this backend recovers the real status from the error body. mlflow
reads the workspace from ``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` or a
``~/.databrickscfg`` profile, so a host or token that only chatport's config knows is
refused with a clear error rather than silently ignored.

The request is sent as ``predict`` and ``predict_stream`` send it, through mlflow's own
``http_request`` (the same credentials, headers, retries and timeouts), but opened as a
stream and read by chatport: mlflow reads a body whole and splits lines in time
quadratic in their length (a 10 MB line took 74 s), and neither read stops at a
deadline. Here each read gets the time left as its socket timeout, and lines are split
in linear time.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from .._errors import ChatportError, ConfigError, ResponseFormatError
from .._plugins import hookimpl
from .._registry import BackendRegistry
from .._request import ChatRequest
from .._retry import remaining
from .._types import Chunk, Completion
from .._wire.databricks_errors import map_mlflow_error
from .._wire.deadline import Clock, requests_pieces, split_lines
from .._wire.endpoint_list import checked_endpoints
from .._wire.openai_shape import chat_body, completion_from_chat
from .._wire.sse import ChatEventStream, read_lines
from .._wire.transport import check_host
from .base import Backend, BackendSettings, Capabilities, call_with_deadline

__all__ = ["MlflowBackend"]


def _same_host(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        url = url if "://" in url else "https://" + url
        return url.rstrip("/").removesuffix(":443")

    return norm(a) == norm(b)


def _bound_mlflow_retries(timeout: float) -> None:
    """Bound mlflow's own retry loops through its documented environment variables.

    mlflow reads them on every call, process-wide; values the user set are kept.
    ``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0`` stops mlflow re-sending 429/500/502/503, and
    the predict timeouts stop its databricks-sdk layer from retrying past chatport's
    deadline (default 10 minutes).
    """
    seconds = str(max(1, math.ceil(timeout)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_DEPLOYMENT_PREDICT_TIMEOUT", seconds)
    os.environ.setdefault("MLFLOW_DEPLOYMENT_PREDICT_TOTAL_TIMEOUT", seconds)


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
        self._client: Any = None
        self._lock = threading.Lock()

    def _target(self) -> str:
        profile = self.settings.databricks_profile
        env_host = os.environ.get("DATABRICKS_HOST")
        host = self.settings.host
        if profile:
            return f"databricks://{profile}"
        if host and not (env_host and _same_host(host, env_host)):
            raise ConfigError(
                "the mlflow backend reads the workspace from DATABRICKS_HOST and "
                "DATABRICKS_TOKEN or a ~/.databrickscfg profile (databricks_profile); "
                "set those instead of `host` in chatport's config",
                key="host",
            )
        return "databricks"

    def _deploy_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if self.settings.host:
                        check_host(self.settings)
                    _bound_mlflow_retries(self.settings.timeout)
                    from mlflow.deployments import get_deploy_client

                    self._client = get_deploy_client(self._target())  # type: ignore[no-untyped-call]
        return self._client

    def _open(self, endpoint: str, inputs: dict[str, Any]) -> Any:
        """POST ``inputs`` as ``predict`` does; the ``requests`` response, body unread."""
        from mlflow import environment_variables
        from mlflow.deployments import constants
        from mlflow.utils import databricks_utils, request_utils, rest_utils

        env: Any = environment_variables  # mlflow is untyped
        creds: Any = databricks_utils.get_databricks_host_creds
        send: Any = rest_utils.http_request
        client = self._deploy_client()
        response = send(
            host_creds=creds(client.target_uri),
            endpoint=f"/serving-endpoints/{endpoint}/invocations",
            method="POST",
            timeout=env.MLFLOW_DEPLOYMENT_PREDICT_TIMEOUT.get(),
            retry_timeout_seconds=env.MLFLOW_DEPLOYMENT_PREDICT_TOTAL_TIMEOUT.get(),
            raise_on_status=False,
            retry_codes=constants.MLFLOW_DEPLOYMENT_CLIENT_REQUEST_RETRY_CODES,
            extra_headers={"X-Databricks-Endpoints-API-Client": "Databricks Deployment Client"},
            stream=True,
            json=inputs,
        )
        check: Any = request_utils.augmented_raise_for_status
        try:
            check(response)
        except BaseException:
            response.close()
            raise
        return response

    def complete(self, request: ChatRequest) -> Completion:
        """One ``predict`` call, its body read before the call's deadline."""
        inputs = chat_body(request, self.request_profile(request), self.name)
        clock = Clock.for_call(self.settings.timeout)

        def call() -> bytes:
            response = self._open(request.model, inputs)
            try:
                return b"".join(requests_pieces(response, clock, self.name))
            finally:
                response.close()

        try:
            content = call_with_deadline(
                call, clock.check(self.name), self.name, pool=self.deadline_pool()
            )
            data = json.loads(content)
        except ChatportError:
            raise
        except Exception as exc:
            raise map_mlflow_error(exc, self.name) from exc
        if not isinstance(data, dict):
            raise ResponseFormatError("the answer is not a JSON object", backend=self.name)
        from mlflow.deployments.databricks import DatabricksEndpoint

        return completion_from_chat(data, self.name, raw=DatabricksEndpoint(data))

    def stream(self, request: ChatRequest) -> Iterator[Chunk]:
        """A ``predict_stream`` call, read by chatport to the stream's deadlines."""
        events = ChatEventStream(self.name)
        inputs = {**chat_body(request, self.request_profile(request), self.name), "stream": True}
        clock = Clock.for_call(self.settings.timeout, stream=True)
        try:
            response = call_with_deadline(
                lambda: self._open(request.model, inputs),
                clock.check(self.name),
                self.name,
                pool=self.deadline_pool(),
                discard=_close,
            )
            try:
                lines = split_lines(requests_pieces(response, clock, self.name))
                yield from read_lines(events, lines, clock)
            finally:
                response.close()
        except ChatportError:
            raise
        except Exception as exc:
            raise map_mlflow_error(exc, self.name) from exc
        last = events.end()
        if last is not None:
            yield last

    def close(self) -> None:
        """Drop the deploy client and shut down the deadline pool.

        mlflow caches its databricks-sdk workspace clients process-wide; those stay.
        """
        self._client = None
        super().close()

    def list_endpoints(self) -> list[Mapping[str, Any]]:
        """The deploy client's ``list_endpoints()`` (``GET /api/2.0/serving-endpoints/``).

        mlflow cannot read an answer without ``"endpoints"`` (wire-protocol §9) and
        cannot tell ``{}`` (no endpoints) from another object without it: both list
        nothing here, where the other backends refuse the second.
        """
        client = self._deploy_client()
        try:
            endpoints = call_with_deadline(
                client.list_endpoints,
                remaining(self.settings.timeout),
                self.name,
                pool=self.deadline_pool(),
            )
        except ChatportError:
            raise
        except (AttributeError, TypeError, ValueError) as exc:  # mlflow could not read it
            if isinstance(exc, AttributeError) and "endpoints" in str(exc):
                return []
            raise ResponseFormatError(
                f"the serving-endpoints answer is not an endpoint list: {exc}", backend=self.name
            ) from exc
        except Exception as exc:
            raise map_mlflow_error(exc, self.name) from exc
        return checked_endpoints(endpoints, self.name)


def _close(response: Any) -> None:
    response.close()


@hookimpl
def chatport_register_backends(registry: BackendRegistry) -> None:
    """Register the ``mlflow`` backend."""
    registry.add("mlflow", MlflowBackend)
