"""Slow clients are cut off: a deadline for a request's headers and one for its body.

uvicorn's h11 server has a keep-alive timeout (idle between requests) but no
bound on how long a client may take to send a request once it has started: a
client that sends one header byte every few seconds (slowloris) holds its
connection, and its slot, for ever; so does one that connects and sends
nothing. :func:`timed_h11_protocol` builds uvicorn's h11 protocol with two
deadlines:

- ``header_timeout``: from the connection (or the first byte of the next
  request on a kept-alive connection) until the request's headers are
  complete;
- ``body_timeout``: from the end of the headers until the whole body has
  arrived (a total, so a trickle does not reset it).

When one passes before the response has started, the server answers ``408
Request Timeout`` (``Connection: close``) and closes the connection; a request
handler still waiting for the body sees a disconnect. Other connections are
not affected: the deadlines are timers on the event loop, nothing blocks.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("casework.api")

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0

_BODY = b"request timeout\n"
_408 = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"cache-control: no-store\r\n"
    b"x-content-type-options: nosniff\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines (see the module docstring)."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: str | None = None  # "headers" | "body" while a deadline runs

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None
        self._phase = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers", self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track(after_response=True)

    def _track(self, *, after_response: bool = False) -> None:
        """Move the deadline along with the request's progress."""
        if self.transport is None or self.transport.is_closing():
            self._disarm()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            # waiting for headers: a started request has a deadline; an idle kept-alive
            # connection is the keep-alive timeout's (uvicorn's own)
            if after_response and not self.conn.trailing_data[0]:
                self._disarm()
            elif self._phase != "headers":
                self._arm("headers", self.header_timeout)
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body", self.body_timeout)
        else:  # DONE, MUST_CLOSE, CLOSED, ERROR: nothing more to wait for from the client
            self._disarm()

    def _expired(self, phase: str) -> None:
        self._deadline = None
        self._phase = None
        if self.transport is None or self.transport.is_closing():
            return
        started = self.cycle is not None and self.cycle.response_started
        log.warning("request %s not received in time: 408, connection closed", phase)
        if not started:
            self.transport.write(_408)
        self.transport.close()


def timed_h11_protocol(
    header_timeout: float = DEFAULT_HEADER_TIMEOUT, body_timeout: float = DEFAULT_BODY_TIMEOUT
) -> type[TimedH11Protocol]:
    """The protocol class to pass as ``uvicorn.Config(http=...)``."""
    if header_timeout <= 0 or body_timeout <= 0:
        raise ValueError("timeouts must be positive")
    return type(
        "TimedH11Protocol",
        (TimedH11Protocol,),
        {"header_timeout": float(header_timeout), "body_timeout": float(body_timeout)},
    )
