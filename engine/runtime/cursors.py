"""Opaque page cursors: the last row's sort key, as URL-safe base64 JSON."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """Raises ValueError for a cursor this module did not make."""
    try:
        pad = "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(cursor + pad))
        if not isinstance(values, list):
            raise ValueError("cursor is not a list")
        return values
    except (ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc
