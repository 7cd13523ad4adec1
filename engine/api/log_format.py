"""Log formats for `casework serve`: one JSON object per line (default), or escaped text.

Every value goes through the JSON encoder (or, in text, is escaped), so input
such as a percent-encoded newline in a case id cannot forge a line. Records
carry ids and exception types only; never exception text (see the API's
error handling).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

# fields our loggers attach with ``extra=``
FIELDS = (
    "request_id",
    "method",
    "route",
    "status",
    "case_id",
    "actor",
    "duration_ms",
    "exception",
)


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                doc[name] = getattr(record, name)
        return json.dumps(doc, ensure_ascii=True, default=str)


class EscapedTextFormatter(logging.Formatter):
    """``time level logger message``, with control characters escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.encode("unicode_escape").decode("ascii")


def formatter(kind: str) -> logging.Formatter:
    return EscapedTextFormatter() if kind == "text" else JsonLineFormatter()
