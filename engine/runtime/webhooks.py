"""Webhook delivery of actions, signed as the Standard Webhooks specification says.

Each POST carries three headers: ``webhook-id`` (``outbox-<id>``, the same on
every retry of one action, so it is the receiver's idempotency key),
``webhook-timestamp`` (integer Unix seconds when this attempt was signed) and
``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of
``{webhook-id}.{webhook-timestamp}.{body}`` under each configured secret,
space-separated (two during a rotation). The body is the JSON of
:func:`action_payload`. A 2xx answer delivers the action; anything else, or
no answer within the endpoint's timeout, is a failed attempt (retried with
backoff and jitter, then dead-lettered). Only the status code is kept,
never the response body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from engine.runtime.delivery_config import WebhookEndpoint
from engine.runtime.views import ActionContext

USER_AGENT = "casework-webhooks/1"


def sign(msg_id: str, timestamp: int, body: bytes, secrets: tuple[bytes, ...]) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in secrets
    )


def action_payload(action: ActionContext, sent_at: str) -> dict[str, Any]:
    """The body of a webhook (and the fields of a pulled task): ids and declared arguments."""
    return {
        "type": f"action.{action.action}",
        "timestamp": sent_at,
        "data": action_data(action),
    }


def action_data(action: ActionContext) -> dict[str, Any]:
    return {
        "outbox_id": action.outbox_id,
        "idempotency_key": action.idempotency_key,
        "action": action.action,
        "case_id": action.case_id,
        "event": action.event,
        "history_seq": action.history_seq,
        "workflow": action.workflow,
        "workflow_version": action.workflow_version,
        "attempt": action.attempt,
        "arguments": dict(action.arguments),
    }


class WebhookFailed(Exception):
    """The receiver did not accept the delivery (status code only)."""


class WebhookSender:
    """POSTs signed actions; one connection pool for the deliverer's lifetime."""

    def __init__(self, *, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(headers={"user-agent": USER_AGENT})
        return self._client

    def send(self, endpoint: WebhookEndpoint, action: ActionContext) -> int:
        """Deliver once; returns the status. Raises WebhookFailed, httpx.HTTPError."""
        now = self._wall()
        stamp = int(now)
        sent_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        body = json.dumps(
            action_payload(action, sent_at), separators=(",", ":"), sort_keys=True
        ).encode()
        msg_id = action.idempotency_key
        headers: Mapping[str, str] = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(msg_id, stamp, body, endpoint.secrets),
        }
        response = self._http().post(
            endpoint.url,
            content=body,
            headers=headers,
            timeout=endpoint.timeout.total_seconds(),
        )
        if not 200 <= response.status_code < 300:
            raise WebhookFailed(f"HTTP {response.status_code}")
        return response.status_code

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
