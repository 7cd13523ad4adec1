"""ASGI middleware: bounded request bodies and a data-free access log.

Both are plain ASGI (not ``BaseHTTPMiddleware``) so the body is read once and
replayed, and so that rejected requests are logged too.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.clients import ClientRegistry
from engine.api.problems import PROBLEM_MEDIA_TYPE, problem_body

access_log = logging.getLogger("casework.api.access")
_error_log = logging.getLogger("casework.api")

_SCAN_IN_THREAD_BYTES = 64 * 1024


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """True when the JSON text nests arrays/objects deeper than ``max_depth``.

    A linear scan that skips string contents; run before parsing so a deeply
    nested document never reaches the recursive JSON parser.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False  # fast path: not enough brackets to nest that deep
    depth = 0
    in_string = False
    escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > max_depth:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


async def _send_problem(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    detail: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    body = json.dumps(
        problem_body(status, code, detail, str(scope.get("path", "")), {"error": code})
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for bodies over ``max_body_bytes``; 400 for JSON nested over ``max_json_depth``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_json_depth: int,
        clients: Callable[[], ClientRegistry] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.clients = clients

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if not await self._authorised(scope, send, headers):
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body_bytes
            except ValueError:
                await _send_problem(scope, send, 400, "bad-request", "invalid Content-Length")
                return
            if too_big:
                await _send_problem(
                    scope,
                    send,
                    413,
                    "body-too-large",
                    f"request body exceeds {self.max_body_bytes} bytes",
                )
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _send_problem(
                    scope,
                    send,
                    413,
                    "body-too-large",
                    f"request body exceeds {self.max_body_bytes} bytes",
                )
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if len(body) > _SCAN_IN_THREAD_BYTES:  # keep the event loop free for big bodies
            too_deep = await anyio.to_thread.run_sync(json_depth_exceeds, body, self.max_json_depth)
        else:
            too_deep = json_depth_exceeds(body, self.max_json_depth)
        if too_deep:
            await _send_problem(
                scope,
                send,
                400,
                "json-too-deep",
                f"request body nests deeper than {self.max_json_depth} levels",
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _authorised(self, scope: Scope, send: Send, headers: dict[bytes, bytes]) -> bool:
        """Authenticate a /v1 write before its body is read: 401/403 come before any 400."""
        if self.clients is None or not str(scope.get("path", "")).startswith("/v1/"):
            return True
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        client = self.clients().authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if client is None:
            await _send_problem(
                scope,
                send,
                401,
                "unauthorized",
                "a valid bearer token is required",
                ((b"www-authenticate", b'Bearer realm="casework"'),),
            )
            return False
        scope.setdefault("state", {})["actor"] = client.actor
        # pull workers (/v1/actions/...) need `actions`; every other /v1 write needs `write`
        needed = "actions" if str(scope.get("path", "")).startswith("/v1/actions/") else "write"
        if not client.may(needed):
            await _send_problem(
                scope,
                send,
                403,
                "permission-missing",
                f"client {client.name!r} lacks the {needed!r} permission",
            )
            return False
        return True


class AccessLogMiddleware:
    """One log line per request: method, route template, status, case id, actor, time.

    Never the URL query, headers or bodies: they may carry patient data.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status in (401, 403):  # durable before the client hears of it
                    await _audit_denial(scope, status)
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            _log_line(scope, status or 500, (time.perf_counter() - started) * 1000)


_CASE_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _match_template(app: Any, method: str, path: str) -> tuple[str | None, dict[str, Any]]:
    """The documented route template ``path`` matches, and its path parameters."""
    table = getattr(app.state, "_route_templates", None)
    if table is None:
        table = []
        for template, operations in app.openapi().get("paths", {}).items():
            pattern = "".join(
                f"(?P<{part[1:-1]}>[^/]+)" if _PARAM.fullmatch(part) else re.escape(part)
                for part in re.split(r"(\{[^}]+\})", template)
            )
            methods = {m.upper() for m in operations}
            table.append((re.compile(pattern), template, methods))
        app.state._route_templates = table
    for pattern, template, methods in table:
        found = pattern.fullmatch(path)
        if found is not None and method in methods:
            return template, found.groupdict()
    return None, {}


async def _audit_denial(scope: Scope, status: int) -> None:
    """Write a 401/403 to the persistent access audit (who, which case, which route)."""
    route: Any = scope.get("route")
    params: dict[str, Any] = dict(scope.get("path_params") or {})
    app: Any = scope.get("app")
    template = getattr(route, "path", None)
    if template is None and app is not None:  # refused before routing (body-limit auth)
        template, params = _match_template(app, str(scope.get("method")), str(scope["path"]))
    template = template or "<unmatched>"
    case_id = params.get("case_id")
    if not isinstance(case_id, str) or not _CASE_ID.fullmatch(case_id):
        case_id = None  # never store what cannot be a case id (it may be anything)
    actor = (scope.get("state") or {}).get("actor") or "anonymous"
    engine = getattr(getattr(app, "state", None), "engine", None)
    if engine is None:
        return
    what = f"denied:{status} {scope.get('method', '?')} {template}"[:200]
    try:
        await anyio.to_thread.run_sync(
            lambda: engine.record_access(case_id, actor=actor, what=what)
        )
    except Exception as exc:  # the denial is already answered; never turn it into a 500
        _error_log.warning("denial not audited (%s)", type(exc).__name__)


def _log_line(scope: Scope, status: int, millis: float) -> None:
    """One JSON object: every value escaped by the encoder, so no input forges a line."""
    route: Any = scope.get("route")
    template = getattr(route, "path", None) or "<unmatched>"
    params = scope.get("path_params") or {}
    state = scope.get("state") or {}
    fields = {
        "request_id": state.get("request_id"),
        "method": scope.get("method", "?"),
        "route": template,
        "status": status,
        "case_id": params.get("case_id") or state.get("case_id"),
        "actor": state.get("actor"),
        "duration_ms": round(millis, 1),
    }
    access_log.info("%s", json.dumps(fields, ensure_ascii=True), extra=fields)


SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),  # responses carry PHI: never cached
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeadersMiddleware:
    """Security headers on every response, and unexpected errors contained.

    The outermost of our middlewares: an exception no handler turned into a
    response is answered here with a problem+json 500 and logged as its type
    and frames only. It is not re-raised, so neither Starlette's error
    middleware nor uvicorn logs its message, which may quote SQL parameters
    or record data.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                extra.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, secured)
        except Exception as exc:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            route = scope.get("route")
            path = getattr(route, "path", None) or "?"
            state = scope.get("state") or {}
            _error_log.error(
                "unhandled %s on %s %s request=%s actor=%s\n%s",
                type(exc).__name__,
                scope.get("method"),
                path,
                request_id,
                state.get("actor", "-"),
                frames,
                extra={
                    "request_id": request_id,
                    "exception": type(exc).__name__,
                    "actor": state.get("actor"),
                },
            )
            if started:
                return  # the response is on its way: the connection just ends
            body = json.dumps(
                problem_body(
                    500,
                    "internal-error",
                    "internal server error",
                    str(scope.get("path", "")),
                    {"error": "internal-error"},
                )
            ).encode()
            await secured(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
