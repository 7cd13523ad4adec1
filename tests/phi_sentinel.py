"""A suite-wide PHI sentinel: a string put in the records and payloads most tests use
(``RECORD`` in ``tests/engine/engine_support.py``, ``tests/api/test_http_api.py``,
``tests/cli/test_operator_cli.py``, ``tests/scheduling/test_simulator.py``) must never
appear in a log record or an error body anywhere in the suite.

Loaded by ``tests/conftest.py`` (``pytest_plugins``). What it watches, for every test:

- every log record any logger hands to its handlers (``logging.Logger.callHandlers``
  wrapped, so a test or ``casework serve`` replacing the root handlers changes
  nothing): the message with its arguments, and the traceback text;
- every HTTP response with a status of 400 or more that a test reads through httpx
  (the live-server tests, schemathesis);
- every ``EngineError`` message (what the CLI and the API turn into error output).

A hit fails the test it happened in (an error in its teardown, naming where the
sentinel was seen); a hit after the last test fails the session.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

#: fits every free-text field the fixtures fill (enginetest ``note`` is at most 20)
SENTINEL = "PHI-sentinel-7f3a"

_hits: list[str] = []
_reported = 0


def _seen(where: str, text: str | None) -> None:
    if text and SENTINEL in text:
        _hits.append(where)


def _record_text(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:  # a bad format string: check the parts
        text = f"{record.msg!r} {record.args!r}"
    if record.exc_info and record.exc_info[1] is not None:
        text += "".join(traceback.format_exception(*record.exc_info))
    if record.exc_text:
        text += record.exc_text
    return text


def _install() -> None:
    original_call = logging.Logger.callHandlers

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        _seen(f"log record of {record.name} ({record.levelname})", _record_text(record))
        original_call(self, record)

    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]

    original_send = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = original_send(self, request, **kwargs)
        if response.status_code >= 400 and not kwargs.get("stream"):
            where = f"{response.status_code} body of {request.method} {request.url.path}"
            _seen(where, response.text)
        return response

    httpx.Client.send = send  # type: ignore[method-assign]

    from engine.errors import EngineError

    original_init = EngineError.__init__

    def init(self: EngineError, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        _seen(f"{type(self).__name__} message", str(self))

    EngineError.__init__ = init  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    _install()


@pytest.fixture(autouse=True)
def _phi_sentinel_guard() -> Iterator[None]:
    global _reported
    yield
    if len(_hits) > _reported:
        new, _reported = _hits[_reported:], len(_hits)
        pytest.fail(f"PHI sentinel {SENTINEL!r} appeared in: {'; '.join(sorted(set(new)))}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if len(_hits) > _reported:
        print(f"\nPHI sentinel {SENTINEL!r} appeared after the last test: {_hits[_reported:]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
