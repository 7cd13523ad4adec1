"""The HTTP API: a FastAPI app over one :class:`~engine.runtime.engine.Engine`.

FastAPI rather than bare Starlette: the OpenAPI document is generated from the
typed request and response models, and request validation comes for free (and
is turned into problem+json here). The engine core never imports FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from engine.api import cursors
from engine.api.clients import ClientRegistry
from engine.api.console import install_console
from engine.api.health import ReadinessCheck, engine_readiness
from engine.api.metrics import ApiMetrics
from engine.api.middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
)
from engine.api.models import Problem
from engine.api.problems import install_problem_handlers
from engine.api.routes_actions import router as actions_router
from engine.api.routes_cases import router as cases_router
from engine.api.routes_changes import router as changes_router
from engine.api.routes_continuity import router as continuity_router
from engine.api.routes_definitions import router as definitions_router
from engine.api.routes_item_search import router as item_search_router
from engine.api.routes_items import router as items_router
from engine.api.routes_keys import router as keys_router
from engine.api.routes_ops import metrics_router
from engine.api.routes_ops import router as ops_router
from engine.api.routes_ownership import router as ownership_router

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

__all__ = ["API_VERSION", "ReadinessCheck", "create_app", "openapi_document"]

API_VERSION = "1.0.0"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 32


def create_app(
    engine: Engine,
    *,
    clients: ClientRegistry,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    metrics_public: bool = False,
    readiness: ReadinessCheck | None = None,
    metrics: ApiMetrics | None = None,
    cursor_secret: bytes | None = None,
) -> FastAPI:
    """The API app. Deny by default: every route but /health and /ready needs a token.

    ``metrics_public`` serves /metrics without a token (for a scraper on a
    private network); otherwise it needs a client with the ``metrics``
    permission. ``readiness`` defaults to a database round trip through the
    engine; ``casework serve`` also checks the schema revision. Search cursors
    are signed with ``cursor_secret`` (random per app unless given: servers
    behind one balancer must share it).
    """
    app = FastAPI(
        title="Casework API",
        version=API_VERSION,
        description=(
            "Durable case workflows for healthcare case management. "
            "Errors are RFC 9457 application/problem+json."
        ),
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=_operation_id,
    )
    app.state.engine = engine
    app.state.clients = clients
    app.state.cursor_secret = cursor_secret or cursors.new_secret()
    app.state.metrics = metrics or ApiMetrics(
        engine.stats, engine.clock.now, ownership=engine.ownership_stats
    )
    app.state.readiness = readiness or engine_readiness(engine)
    install_problem_handlers(app)
    app.include_router(ops_router)
    app.include_router(metrics_router(metrics_public))
    app.include_router(keys_router)  # before cases_router: /cases/{case_id}/events matches too
    app.include_router(cases_router)
    app.include_router(items_router)
    app.include_router(continuity_router)
    app.include_router(item_search_router)
    app.include_router(changes_router)
    app.include_router(definitions_router)
    app.include_router(ownership_router)
    install_console(app)  # the operator web console at /console (engine/api/console)
    app.include_router(actions_router)
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=max_body_bytes,
        max_json_depth=max_json_depth,
        clients=lambda: app.state.clients,  # authenticate before the body is read
    )
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every response, errors contained
    _install_openapi(app)
    return app


def _operation_id(route: APIRoute) -> str:
    return route.name


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``app`` (what docs/openapi.json holds)."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema()
    return doc


def _install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
