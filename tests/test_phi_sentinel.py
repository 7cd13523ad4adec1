"""The suite-wide PHI sentinel check (``tests/phi_sentinel.py``) sees what it must."""

from __future__ import annotations

import logging

import phi_sentinel
from phi_sentinel import SENTINEL

from engine.errors import EngineError


def _caught(action: object) -> list[str]:
    """Run ``action`` and return the hits it caused, forgetting them (this test only)."""
    before = len(phi_sentinel._hits)
    assert callable(action)
    action()
    new = phi_sentinel._hits[before:]
    del phi_sentinel._hits[before:]
    return new


def test_a_log_record_holding_the_sentinel_is_caught_even_without_handlers() -> None:
    log = logging.getLogger("casework.selfcheck")
    assert _caught(lambda: log.error("value %s", SENTINEL)) == [
        "log record of casework.selfcheck (ERROR)"
    ]


def test_a_traceback_holding_the_sentinel_is_caught() -> None:
    def raise_and_log() -> None:
        try:
            raise ValueError(SENTINEL)
        except ValueError:
            logging.getLogger("casework.selfcheck").exception("failed")

    assert len(_caught(raise_and_log)) == 1


def test_an_engine_error_message_holding_the_sentinel_is_caught() -> None:
    assert _caught(lambda: EngineError(f"bad {SENTINEL}")) == ["EngineError message"]


def test_records_without_the_sentinel_are_not_caught() -> None:
    assert _caught(lambda: logging.getLogger("casework.selfcheck").error("ids only")) == []


def test_an_error_body_holding_the_sentinel_is_caught() -> None:
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        status = 422 if request.url.path == "/bad" else 200
        return httpx.Response(status, text=f"echo {SENTINEL}")

    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://t") as http:
        assert _caught(lambda: http.get("/bad")) == ["422 body of GET /bad"]
        assert _caught(lambda: http.get("/ok")) == []  # a 200 may carry the record
