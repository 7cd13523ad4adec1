"""The operator web console at ``/console``: server-rendered pages over the engine facade.

:func:`install_console` adds it to the API app (``engine/api/app.py``): the
pages (``auth_pages.py``, ``case_pages.py``, ``ops_pages.py``, ``owner_pages.py``), the vendored
static files (``static/``: Mermaid, the stylesheet, a small script) and the
handlers that turn :class:`~engine.api.console.web.LoginRequired` into a
redirect to the login page and :class:`~engine.api.console.web.Refused` into
an error page. Jinja2 templates in ``templates/``, autoescaped; no build
step, no CDN. See docs/console.md.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from engine.api.console import auth_pages, case_pages, ops_pages, owner_pages
from engine.api.console.sessions import SessionStore
from engine.api.console.web import (
    HERE,
    PREFIX,
    Console,
    ConsoleSettings,
    LoginRequired,
    Operator,
    Refused,
    make_templates,
    operator,
    redirect,
    render,
)

__all__ = ["ConsoleSettings", "install_console"]


class _StaticFiles(StaticFiles):
    """The vendored assets carry no data: cacheable for a day (every other response is
    ``no-store``)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def install_console(app: FastAPI, settings: ConsoleSettings | None = None) -> None:
    """Serve the console on ``app`` (settings from the environment unless given)."""
    settings = settings or ConsoleSettings.from_env()
    app.state.console = Console(
        settings=settings,
        sessions=SessionStore(idle_seconds=settings.idle_seconds, max_seconds=settings.max_seconds),
        templates=make_templates(),
    )
    for router in (auth_pages.router, case_pages.router, ops_pages.router, owner_pages.router):
        app.include_router(router, include_in_schema=False)
    app.mount(PREFIX + "/static", _StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Refused, _refused)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return redirect("/login?expired=1" if exc.expired else "/login")


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    op: Operator | None = None
    try:
        op = operator(request)
    except LoginRequired:
        op = None
    return render(request, "error.html", status=exc.status, op=op, message=exc.message)
