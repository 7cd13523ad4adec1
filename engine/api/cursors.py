"""Search cursors signed by the server: a cursor the API did not issue is a 400.

The engine's cursors are plain (base64 JSON of the last row's sort key); the
API appends an HMAC-SHA256 tag under a per-server secret (random per process
unless configured, so several servers behind one balancer share one), so a
forged or altered cursor never reaches the engine's decoder.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

TAG_CHARS = 22  # 128 bits of the tag, base64url


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def _tag(secret: bytes, cursor: str) -> str:
    digest = hmac.new(secret, cursor.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:TAG_CHARS]


def sign(secret: bytes, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return f"{cursor}.{_tag(secret, cursor)}"


def verify(secret: bytes, signed: str) -> str | None:
    """The engine's cursor inside ``signed``, or None when the server did not issue it."""
    cursor, dot, tag = signed.rpartition(".")
    if not dot or not cursor or not cursor.isascii() or not tag.isascii():
        return None
    if not hmac.compare_digest(_tag(secret, cursor), tag):
        return None
    return cursor
