"""ASGI middleware: bounded request bodies and a data-free access log.

Both are plain ASGI (not ``BaseHTTPMiddleware``) so the body is read once and
replayed, and so that rejected requests are logged too.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.problems import PROBLEM_MEDIA_TYPE, problem_body

access_log = logging.getLogger("casework.api.access")

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


async def _send_problem(scope: Scope, send: Send, status: int, code: str, detail: str) -> None:
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
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for bodies over ``max_body_bytes``; 400 for JSON nested over ``max_json_depth``."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
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
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            _log_line(scope, status or 500, (time.perf_counter() - started) * 1000)


def _log_line(scope: Scope, status: int, millis: float) -> None:
    route: Any = scope.get("route")
    template = getattr(route, "path", None) or "<unmatched>"
    params = scope.get("path_params") or {}
    state = scope.get("state") or {}
    access_log.info(
        "%s %s %d case=%s actor=%s %.1fms",
        scope.get("method", "?"),
        template,
        status,
        params.get("case_id") or state.get("case_id", "-"),
        state.get("actor", "-"),
        millis,
    )
