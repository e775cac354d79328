"""``route = "auto"``'s memory: which errors send a call to the fallback route, and for
how long an endpoint is remembered there."""

from __future__ import annotations

import pytest

from chatport import BadRequestError, NotFoundError, ServerError
from chatport._wire import routing
from chatport._wire.routing import REMEMBER_S, RouteMemory, is_gateway_miss

MISS = NotFoundError("HTTP 404: ENDPOINT_NOT_FOUND: Invalid path", status_code=404)


def test_only_the_gateway_not_knowing_the_endpoint_is_a_miss() -> None:
    assert is_gateway_miss(MISS)
    assert is_gateway_miss(ServerError("HTTP 501: NOT_IMPLEMENTED", status_code=501))
    gone = NotFoundError("HTTP 404: RESOURCE_DOES_NOT_EXIST: no endpoint", status_code=404)
    assert not is_gateway_miss(gone)
    assert not is_gateway_miss(BadRequestError("ENDPOINT_NOT_FOUND", status_code=400))
    assert not is_gateway_miss(ValueError("ENDPOINT_NOT_FOUND"))


def test_a_miss_is_remembered_per_endpoint_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(routing.time, "monotonic", lambda: now[0])
    memory = RouteMemory("ai-gateway", "serving-endpoints")
    assert memory.route_for("a") == "ai-gateway"
    assert memory.fallback_after("a", "ai-gateway", MISS) == "serving-endpoints"
    assert memory.route_for("a") == "serving-endpoints"
    assert memory.route_for("b") == "ai-gateway"
    now[0] += REMEMBER_S - 1
    assert memory.route_for("a") == "serving-endpoints"
    now[0] += 2  # an endpoint may be put behind the gateway later: asked again
    assert memory.route_for("a") == "ai-gateway"


def test_no_fallback_from_the_fallback_route_or_for_other_errors() -> None:
    memory = RouteMemory("ai-gateway", "serving-endpoints")
    assert memory.fallback_after("a", "serving-endpoints", MISS) is None
    other = BadRequestError("HTTP 400: BAD_REQUEST", status_code=400)
    assert memory.fallback_after("a", "ai-gateway", other) is None
    assert memory.route_for("a") == "ai-gateway"
