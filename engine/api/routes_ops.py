"""Operational endpoints: liveness, readiness, metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from engine.api.auth import require
from engine.api.clients import Client
from engine.api.models import HealthOut, ReadyOut, problem_responses

if TYPE_CHECKING:
    from engine.api.app import ReadinessCheck

router = APIRouter(tags=["operations"])

_AUTH_ERRORS = problem_responses(401, 403)


@router.get("/health", response_model=HealthOut, summary="Liveness (no token)")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut}},
    summary="Readiness: database reachable and schema current (no token)",
)
def ready(request: Request) -> Any:
    check: ReadinessCheck = request.app.state.readiness
    checks = check()
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    return body if ok else JSONResponse(body, status_code=503)


def _metrics_response(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


_METRICS_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}},
}


def metrics_router(public: bool) -> APIRouter:
    """``/metrics``: public, or behind a token with the ``metrics`` permission."""
    r = APIRouter(tags=["operations"])
    if public:

        @r.get("/metrics", response_class=Response, responses=_METRICS_DOC, summary="Metrics")
        def metrics_public(request: Request) -> Response:
            return _metrics_response(request)

    else:

        @r.get(
            "/metrics",
            response_class=Response,
            responses={**_METRICS_DOC, **_AUTH_ERRORS},
            summary="Prometheus metrics (token with the metrics permission)",
        )
        def metrics(
            request: Request, client: Annotated[Client, Depends(require("metrics"))]
        ) -> Response:
            return _metrics_response(request)

    return r
