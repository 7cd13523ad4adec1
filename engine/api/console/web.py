"""The console's plumbing: settings, templates, the session dependency, CSRF, responses.

Deny by default: every page but the login page and the static files depends
on :func:`operator`, which answers a request without a live session with a
redirect to the login page, and every POST on :func:`posted`, which also
checks the session's CSRF token (403 otherwise; the API's access log audits
the denial).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from engine.api.console.forms import parse_form
from engine.api.console.sessions import (
    DEFAULT_IDLE_SECONDS,
    DEFAULT_MAX_SECONDS,
    Session,
    SessionStore,
)
from engine.runtime.views import thaw

if TYPE_CHECKING:
    from engine.api.clients import Client, ClientRegistry
    from engine.runtime.engine import Engine

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
SESSION_COOKIE = "casework_console"
LOGIN_COOKIE = "casework_console_login"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """``CASEWORK_CONSOLE_IDLE_SECONDS`` (default 900), ``CASEWORK_CONSOLE_MAX_SECONDS``
    (default 43200), ``CASEWORK_CONSOLE_SECURE_COOKIE=1`` (Secure cookies even when the
    request arrived over plain HTTP, e.g. behind a TLS-terminating proxy)."""

    idle_seconds: float = DEFAULT_IDLE_SECONDS
    max_seconds: float = DEFAULT_MAX_SECONDS
    secure_cookie: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ConsoleSettings:
        def seconds(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            value = float(raw)
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
            return value

        return cls(
            idle_seconds=seconds("CASEWORK_CONSOLE_IDLE_SECONDS", DEFAULT_IDLE_SECONDS),
            max_seconds=seconds("CASEWORK_CONSOLE_MAX_SECONDS", DEFAULT_MAX_SECONDS),
            secure_cookie=env.get("CASEWORK_CONSOLE_SECURE_COOKIE", "") == "1",
        )


@dataclass(frozen=True, slots=True)
class Console:
    settings: ConsoleSettings
    sessions: SessionStore
    templates: jinja2.Environment


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


# -- templates ---------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float | None) -> str:
    """A duration for people: ``3 d 4 h``, ``5 h 12 min``, ``40 s``."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes} min"
    if minutes:
        return f"{sign}{minutes} min"
    return f"{sign}{secs} s"


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["span"] = _span
    env.filters["tojson"] = lambda value: json.dumps(thaw(value), ensure_ascii=False, default=str)
    env.globals["zip"] = zip
    return env


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    op: Operator | None = None,
    **context: Any,
) -> HTMLResponse:
    console = console_of(request)
    html = console.templates.get_template(template).render(
        op=op,
        prefix=PREFIX,
        idle_seconds=int(console.settings.idle_seconds),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": CSP})


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(PREFIX + path, status_code=303)


def secure(request: Request) -> bool:
    return console_of(request).settings.secure_cookie or request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=secure(request),
        path=PREFIX,
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=PREFIX, httponly=True, samesite="strict", secure=secure(request)
    )


# -- who is asking -------------------------------------------------------------------------


class LoginRequired(Exception):
    """No live session: the handler redirects to the login page."""

    def __init__(self, expired: bool) -> None:
        super().__init__("login required")
        self.expired = expired


class Refused(Exception):
    """A request the console refuses (a page with ``status`` and ``message``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Operator:
    session: Session
    client: Client

    @property
    def actor(self) -> str:
        return self.client.actor

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def may(self, permission: str) -> bool:
        return self.client.may(permission)


def _client_named(registry: ClientRegistry, name: str) -> Client | None:
    for client in registry.clients:
        if client.name == name:
            return client
    return None


def operator(request: Request) -> Operator:
    """The logged-in operator; :class:`LoginRequired` otherwise (deny by default)."""
    console = console_of(request)
    session, expired = console.sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None:
        if expired is not None:
            engine_of(request).record_access(None, actor=expired.actor, what="console:idle-logoff")
        raise LoginRequired(expired is not None)
    registry: ClientRegistry = request.app.state.clients
    client = _client_named(registry, session.client)
    if client is None or not client.may("read"):
        console.sessions.drop(request.cookies.get(SESSION_COOKIE))
        raise LoginRequired(False)
    request.state.actor = client.actor
    return Operator(session, client)


@dataclass(frozen=True, slots=True)
class Posted:
    op: Operator
    form: dict[str, list[str]]

    def one(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default


async def _form(request: Request) -> dict[str, list[str]]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise Refused(415, "the console accepts form posts only")
    try:
        return parse_form(await request.body())
    except ValueError:
        raise Refused(400, "the form could not be read") from None


def posted(
    op: Operator = Depends(operator),  # noqa: B008
    form: dict[str, list[str]] = Depends(_form),  # noqa: B008
) -> Posted:
    """A POST from a console form of this session (CSRF token checked)."""
    values = form.get("csrf") or []
    if len(values) != 1 or not op.session.csrf_ok(values[0]):
        raise Refused(403, "the form has expired or did not come from this console; reload it")
    return Posted(op, form)


def require_write(op: Operator) -> None:
    if not op.may("write"):
        raise Refused(403, f"client {op.client.name!r} lacks the 'write' permission")
