"""Console sessions: a random id in an HttpOnly cookie, kept in this process's memory.

A session is made when an API client logs in with its token (the token itself
is never kept). The store holds the SHA-256 of each session id, the client's
name, a per-session CSRF token and two instants: a session idle for longer
than ``idle_seconds`` is gone (automatic log-off, HIPAA 164.312(a)(2)(iii)),
and none lives longer than ``max_seconds`` however busy. Sessions are per
process: behind a balancer with several ``casework serve`` processes, route
each operator to one of them (sticky sessions) or log in again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_IDLE_SECONDS = 15 * 60
DEFAULT_MAX_SECONDS = 12 * 60 * 60


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class Session:
    """One logged-in operator (an API client acting through the console)."""

    client: str  # the API client's name
    actor: str
    csrf: str
    started: float
    last_seen: float

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(self.csrf, presented)


class SessionStore:
    """Thread-safe in-memory sessions with idle and absolute expiry."""

    def __init__(
        self,
        *,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def create(self, client: str, actor: str) -> tuple[str, Session]:
        """A new session; returns (the id for the cookie, the session)."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(client, actor, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._expire(now)
            self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> tuple[Session | None, Session | None]:
        """(the live session, touched now, or None; the session that expired just now, or None)."""
        if not session_id:
            return None, None
        now = self._clock()
        key = _key(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None, None
            if self._expired(session, now):
                del self._sessions[key]
                return None, session
            session.last_seen = now
            return session, None

    def drop(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(_key(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return (
            now - session.last_seen > self.idle_seconds or now - session.started > self.max_seconds
        )

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]
