"""RFC 9457 problem details: every error response of the API.

The one place where errors meet HTTP. Each error's stable ``code`` gives its
problem ``type`` URI (``https://casework.dev/problems/<code>``);
:data:`ENGINE_ERROR_STATUS` gives the status of every
:class:`~engine.errors.EngineError` code, and the status gives the
``title``. Extension members come from ``EngineError.to_dict()``, which
carries ids, state and event names and JSON paths, never case data. Errors
the API itself detects (auth, limits, preconditions) are :class:`ApiProblem`
with their own status and code.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import ConcurrencyConflict, EngineError, EventRejected, ReopenDenied
from engine.store.records import RejectionReason

PROBLEM_BASE = "https://casework.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("casework.api")

ENGINE_ERROR_STATUS: Mapping[str, int] = MappingProxyType(
    {
        # code of every EngineError subclass -> HTTP status (docs/http-api.md lists them)
        "engine-error": 500,
        "invalid-definition": 422,
        "yaml-invalid": 422,
        "expression-error": 500,
        "expression-too-costly": 422,
        "definition-conflict": 409,
        "unknown-workflow": 404,
        "case-not-found": 404,
        "item-not-found": 404,
        "item-id-taken": 409,
        "event-rejected": 409,
        "open-denied": 403,
        "assign-denied": 403,
        "assignment-rejected": 422,
        "ownership-input-invalid": 422,
        "payload-invalid": 422,
        "concurrency-conflict": 409,
        "idempotency-key-reused": 422,
        "schema-out-of-date": 503,
        "duplicate-key": 409,
        "simulation-error": 422,
        "clients-file-invalid": 500,
        "delivery-config-invalid": 500,
        "action-not-found": 404,
        "action-not-pulled": 422,
        "lease-lost": 409,
        "business-key-conflict": 409,
        "business-key-not-found": 404,
        "business-key-ambiguous": 409,
        "reopen-denied": 409,
        "transfer-invalid": 422,
        "acting-user-config-invalid": 500,
        "config-invalid": 500,
    }
)
"""HTTP status per :attr:`EngineError.code`; an unknown code is a 500."""

_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiProblem(Exception):
    """An error the API layer itself detects (auth, limits, preconditions)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions or {}


_STANDARD = ("type", "title", "status", "detail", "instance")


def problem_type(code: str) -> str:
    """The problem ``type`` URI of an error code."""
    return PROBLEM_BASE + code


def problem_title(status: int) -> str:
    """The problem ``title``: the reason phrase of ``status``."""
    return _TITLES.get(status, "Error")


def engine_error_status(exc: EngineError) -> int:
    """The HTTP status of an engine error (before the request-dependent cases below)."""
    return ENGINE_ERROR_STATUS.get(exc.code, 500)


def problem_body(
    status: int,
    code: str,
    detail: str,
    instance: str,
    extensions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The problem object; extension members named like standard ones get a prefix."""
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": problem_title(status),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    for key, value in (extensions or {}).items():
        if key in _STANDARD:
            key = "reason_detail" if key == "detail" else f"engine_{key}"
        body[key] = value
    return body


def problem_response(
    status: int,
    code: str,
    detail: str,
    instance: str,
    *,
    headers: Mapping[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, instance, extensions),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers) if headers else None,
    )


def _instance(request: Request) -> str:
    return request.url.path


async def _engine_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EngineError)
    status = engine_error_status(exc)
    extensions = {k: v for k, v in exc.to_dict().items() if k != "message"}
    code = exc.code
    # Two errors answer differently by request: a conflict the client asked to
    # detect (If-Match) and an event refused for the caller's roles.
    if isinstance(exc, ConcurrencyConflict) and request.headers.get("if-match") is not None:
        status, code = 412, "precondition-failed"
    elif (
        isinstance(exc, EventRejected | ReopenDenied) and exc.reason == RejectionReason.ROLE_MISSING
    ):
        status, code = 403, "role-missing"
    extensions["error"] = code
    if status >= 500:
        log.error("engine error %s on %s %s", exc.code, request.method, _route(request))
    return problem_response(status, code, exc.message, _instance(request), extensions=extensions)


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(
        exc.status,
        exc.code,
        exc.detail,
        _instance(request),
        headers=exc.headers,
        extensions={"error": exc.code, **exc.extensions},
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    malformed = False
    for err in exc.errors():
        # Only where and what kind: never "input"/"ctx", which echo the submitted values.
        kind = str(err.get("type", ""))
        malformed = malformed or kind == "json_invalid"
        errors.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "type": kind,
                "msg": str(err.get("msg", "")) if kind != "json_invalid" else "invalid JSON",
            }
        )
    if malformed:
        return problem_response(
            400,
            "malformed-json",
            "the request body is not valid JSON",
            _instance(request),
            extensions={"error": "malformed-json"},
        )
    return problem_response(
        422,
        "request-invalid",
        f"{len(errors)} problem(s) in the request",
        _instance(request),
        extensions={"error": "request-invalid", "errors": errors},
    )


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = {404: "not-found", 405: "method-not-allowed"}.get(status, f"http-{status}")
    detail = exc.detail if isinstance(exc.detail, str) else problem_title(status)
    return problem_response(
        status, code, detail, _instance(request), headers=exc.headers, extensions={"error": code}
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The message of an unexpected exception may quote data (driver errors quote
    # SQL parameters): log the type and the frames only.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "unhandled %s on %s %s\n%s", type(exc).__name__, request.method, _route(request), frames
    )
    return problem_response(
        500,
        "internal-error",
        "internal server error",
        _instance(request),
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
        extensions={"error": "internal-error"},
    )


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(Exception, _unexpected)
