"""Logging in with an API client's token, and out; the session cookie."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from engine.api.console.forms import parse_form
from engine.api.console.web import (
    LOGIN_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    Posted,
    Refused,
    clear_cookie,
    console_of,
    engine_of,
    posted,
    redirect,
    render,
    set_cookie,
)

router = APIRouter(prefix=PREFIX)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, expired: int = 0, out: int = 0) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", login_csrf=token, expired=bool(expired), logged_out=bool(out)
    )
    set_cookie(request, response, LOGIN_COOKIE, token)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise Refused(415, "the console accepts form posts only")
    try:
        form = parse_form(await request.body())
    except ValueError:
        raise Refused(400, "the form could not be read") from None
    presented = (form.get("login_csrf") or [""])[0]
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, presented):
        raise Refused(403, "the login form has expired; reload the page and try again")
    token = (form.get("token") or [""])[0].strip()
    client = request.app.state.clients.authenticate(token) if token else None
    if client is None or not client.may("read"):
        fresh = secrets.token_urlsafe(32)
        message = (
            "That token is not valid."
            if client is None
            else f"Client {client.name!r} lacks the 'read' permission the console needs."
        )
        response = render(
            request,
            "login.html",
            status=401 if client is None else 403,
            login_csrf=fresh,
            expired=False,
            logged_out=False,
            error=message,
        )
        set_cookie(request, response, LOGIN_COOKIE, fresh)
        return response
    console = console_of(request)
    console.sessions.drop(request.cookies.get(SESSION_COOKIE))  # a new id: no fixation
    session_id, _ = console.sessions.create(client.name, client.actor)
    request.state.actor = client.actor
    engine = engine_of(request)
    await anyio.to_thread.run_sync(
        lambda: engine.record_access(None, actor=client.actor, what="console:login")
    )
    done = redirect("/cases")
    set_cookie(request, done, SESSION_COOKIE, session_id)
    clear_cookie(request, done, LOGIN_COOKIE)
    return done


@router.post("/logout")
def logout(request: Request, post: Annotated[Posted, Depends(posted)]) -> Response:
    console_of(request).sessions.drop(request.cookies.get(SESSION_COOKIE))
    engine_of(request).record_access(None, actor=post.op.actor, what="console:logout")
    response = redirect("/login?out=1")
    clear_cookie(request, response, SESSION_COOKIE)
    return response
