"""How each action is delivered: a frozen :class:`DeliveryConfig`, loadable from a plain dict.

The configuration is the ``[delivery]`` table of a TOML file (``casework serve
--delivery-config PATH`` and ``casework worker --delivery-config PATH`` read
one today; the general configuration file passes its ``[delivery]`` table to
:meth:`DeliveryConfig.from_mapping`). Every key is optional::

    [delivery]
    default_mode = "python"        # an action with no [delivery.actions.*] entry:
                                   # "python" (a registered handler, else dead-lettered),
                                   # "pull" (left for fetch-and-lock) or "webhook"
    default_webhook = "ehr"        # the endpoint of "webhook" actions that name none

    [delivery.retry]               # the default retry policy
    max_attempts = 8               # dead-lettered after this many failed attempts...
    max_age_seconds = 86400        # ...or once a failure happens this long after queueing
    base_delay_seconds = 10        # backoff: base * 2**(attempt-1), at most max_delay,
    max_delay_seconds = 3600       # shortened by up to `jitter` (a fraction, 0..1) at random
    jitter = 0.2
    lease_seconds = 300            # how long one attempt holds the item (webhook, python)

    [delivery.webhooks.ehr]        # a named endpoint
    url = "https://ehr.example.org/casework/hooks"
    secrets = ["whsec_..."]        # signing secrets, newest first; each one signs,
    secrets_env = ["EHR_HOOK_SECRET", "EHR_HOOK_SECRET_OLD"]  # or read from the environment
    timeout_seconds = 10

    [delivery.actions.notify_supervisor]
    mode = "webhook"               # "python" | "pull" | "webhook"
    webhook = "ehr"                # the endpoint (default: default_webhook)
    retry = { max_attempts = 3 }   # overrides the default policy key by key

    [delivery.actions.create_call_task]
    mode = "pull"

Secrets follow the Standard Webhooks format (``whsec_`` and the base64 of
the key). Rotation: list the new secret first and keep the old one until every
receiver verifies the new one; each delivery carries one ``v1,`` signature per
secret, so either verifies. Errors are :class:`DeliveryConfigInvalid` naming
the key, never a secret.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from engine.errors import EngineError

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks prefix, not a secret)


class DeliveryConfigInvalid(EngineError):
    """The delivery configuration is invalid (the message names the key)."""

    code = "delivery-config-invalid"


class DeliveryMode(StrEnum):
    """How an action reaches the host."""

    PYTHON = "python"  #: a handler registered on the Engine, run by the worker
    PULL = "pull"  #: fetched and locked by a worker in any language over HTTP
    WEBHOOK = "webhook"  #: POSTed by the worker, signed as Standard Webhooks says


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a failed attempt is retried and when it is dead-lettered."""

    max_attempts: int = 8
    max_age: timedelta = timedelta(days=1)
    base_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=1)
    jitter: float = 0.2
    lease: timedelta = timedelta(minutes=5)

    def delay(self, attempts: int, draw: float) -> timedelta:
        """The wait after failed attempt number ``attempts``; ``draw`` in [0, 1)."""
        exponent = max(0, min(attempts - 1, 60))
        seconds = min(self.base_delay.total_seconds() * 2.0**exponent, self.max_delay_seconds)
        return timedelta(seconds=seconds * (1.0 - self.jitter * draw))

    @property
    def max_delay_seconds(self) -> float:
        return self.max_delay.total_seconds()

    def gives_up(self, attempts: int, age: timedelta) -> bool:
        """True when a failure at ``attempts`` attempts, ``age`` after queueing, is final."""
        return attempts >= self.max_attempts or age >= self.max_age

    def merged(self, data: Mapping[str, Any], where: str) -> RetryPolicy:
        """This policy with the keys of ``data`` (the TOML spelling) replaced."""
        known = {
            "max_attempts",
            "max_age_seconds",
            "base_delay_seconds",
            "max_delay_seconds",
            "jitter",
            "lease_seconds",
        }
        _only(data, known, where)
        changes: dict[str, Any] = {}
        if "max_attempts" in data:
            changes["max_attempts"] = _int(data["max_attempts"], f"{where}.max_attempts", 1)
        for key in ("max_age", "base_delay", "max_delay", "lease"):
            if f"{key}_seconds" in data:
                seconds = _number(data[f"{key}_seconds"], f"{where}.{key}_seconds")
                changes[key] = timedelta(seconds=seconds)
        if "jitter" in data:
            jitter = data["jitter"]
            if not isinstance(jitter, int | float) or isinstance(jitter, bool):
                raise DeliveryConfigInvalid(f"{where}.jitter: a number from 0 to 1 is required")
            if not 0 <= jitter <= 1:
                raise DeliveryConfigInvalid(f"{where}.jitter: a number from 0 to 1 is required")
            changes["jitter"] = float(jitter)
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """One receiver: where to POST and the secrets to sign with (newest first)."""

    name: str
    url: str
    secrets: tuple[bytes, ...] = field(repr=False)
    timeout: timedelta = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class ActionDelivery:
    """How one action name is delivered."""

    mode: DeliveryMode
    retry: RetryPolicy
    webhook: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """Every action's delivery (see the module docstring for the keys)."""

    default_mode: DeliveryMode = DeliveryMode.PYTHON
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    webhooks: Mapping[str, WebhookEndpoint] = field(default_factory=dict)
    actions: Mapping[str, ActionDelivery] = field(default_factory=dict)
    default_webhook: str | None = None

    def for_action(self, name: str, *, has_handler: bool = False) -> ActionDelivery:
        """How ``name`` is delivered: its entry, else a Python handler if one is
        registered, else the default mode."""
        entry = self.actions.get(name)
        if entry is not None:
            return entry
        mode = DeliveryMode.PYTHON if has_handler else self.default_mode
        webhook = self.default_webhook if mode is DeliveryMode.WEBHOOK else None
        return ActionDelivery(mode, self.retry, webhook)

    def endpoint(self, name: str) -> WebhookEndpoint:
        """The webhook endpoint of action ``name``. Raises DeliveryConfigInvalid."""
        delivery = self.for_action(name)
        key = delivery.webhook
        if key is None or key not in self.webhooks:
            raise DeliveryConfigInvalid(f"action {name!r} has no webhook endpoint")
        return self.webhooks[key]

    def names_with_mode(self, mode: DeliveryMode) -> tuple[str, ...]:
        """The action names configured explicitly with ``mode``."""
        return tuple(sorted(n for n, a in self.actions.items() if a.mode is mode))

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
    ) -> DeliveryConfig:
        """The configuration of a ``[delivery]`` table. Raises DeliveryConfigInvalid."""
        env = os.environ if environ is None else environ
        where = "delivery"
        if not isinstance(data, Mapping):
            raise DeliveryConfigInvalid(f"{where}: a table is required")
        _only(data, {"default_mode", "default_webhook", "retry", "webhooks", "actions"}, where)
        default_mode = _mode(data.get("default_mode", "python"), f"{where}.default_mode")
        retry = RetryPolicy().merged(_table(data.get("retry", {}), f"{where}.retry"), "retry")
        webhooks: dict[str, WebhookEndpoint] = {}
        for name, entry in _table(data.get("webhooks", {}), f"{where}.webhooks").items():
            webhooks[name] = _endpoint(name, _table(entry, f"{where}.webhooks.{name}"), env)
        default_webhook = data.get("default_webhook")
        if default_webhook is not None and default_webhook not in webhooks:
            raise DeliveryConfigInvalid(f"{where}.default_webhook: no webhook of that name")
        actions: dict[str, ActionDelivery] = {}
        for name, entry in _table(data.get("actions", {}), f"{where}.actions").items():
            at = f"{where}.actions.{name}"
            table = _table(entry, at)
            _only(table, {"mode", "webhook", "retry"}, at)
            mode = _mode(table.get("mode", default_mode.value), f"{at}.mode")
            policy = retry.merged(_table(table.get("retry", {}), f"{at}.retry"), f"{at}.retry")
            hook = table.get("webhook", default_webhook if mode is DeliveryMode.WEBHOOK else None)
            if mode is DeliveryMode.WEBHOOK and (hook is None or hook not in webhooks):
                raise DeliveryConfigInvalid(f"{at}.webhook: a configured webhook name is required")
            actions[name] = ActionDelivery(mode, policy, hook)
        if default_mode is DeliveryMode.WEBHOOK and default_webhook is None:
            raise DeliveryConfigInvalid(
                f"{where}.default_webhook: required when default_mode is webhook"
            )
        return cls(default_mode, retry, webhooks, actions, default_webhook)


def decode_secret(text: str, where: str = "secret") -> bytes:
    """The HMAC key of a ``whsec_`` secret. Raises DeliveryConfigInvalid (never echoing it)."""
    if not isinstance(text, str) or not text.startswith(SECRET_PREFIX):
        raise DeliveryConfigInvalid(f"{where}: a secret starting with {SECRET_PREFIX} is required")
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise DeliveryConfigInvalid(f"{where}: the secret is not valid base64") from None
    if len(key) < 24:
        raise DeliveryConfigInvalid(f"{where}: the secret must hold at least 24 bytes")
    return key


def _endpoint(name: str, table: Mapping[str, Any], env: Mapping[str, str]) -> WebhookEndpoint:
    at = f"delivery.webhooks.{name}"
    _only(table, {"url", "secrets", "secrets_env", "timeout_seconds"}, at)
    url = table.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise DeliveryConfigInvalid(f"{at}.url: an http or https URL is required")
    assert isinstance(url, str)
    texts: list[str] = []
    for i, secret in enumerate(_strings(table.get("secrets", []), f"{at}.secrets")):
        texts.append(secret)
        decode_secret(secret, f"{at}.secrets[{i}]")
    for var in _strings(table.get("secrets_env", []), f"{at}.secrets_env"):
        if var not in env:
            raise DeliveryConfigInvalid(f"{at}.secrets_env: the variable {var} is not set")
        texts.append(env[var])
    if not texts:
        raise DeliveryConfigInvalid(f"{at}: at least one of secrets, secrets_env is required")
    keys = tuple(decode_secret(s, f"{at}.secret") for s in texts)
    timeout = _number(table.get("timeout_seconds", 10), f"{at}.timeout_seconds")
    return WebhookEndpoint(name, url, keys, timedelta(seconds=timeout))


def _only(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise DeliveryConfigInvalid(f"{where}: unknown key {unknown[0]!r}")


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DeliveryConfigInvalid(f"{where}: a table is required")
    return value


def _strings(value: object, where: str) -> list[str]:
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise DeliveryConfigInvalid(f"{where}: a list of strings is required")
    return list(value)


def _mode(value: object, where: str) -> DeliveryMode:
    try:
        return DeliveryMode(str(value))
    except ValueError:
        raise DeliveryConfigInvalid(f"{where}: one of python, pull, webhook is required") from None


def _int(value: object, where: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise DeliveryConfigInvalid(f"{where}: a whole number of at least {minimum} is required")
    return value


def _number(value: object, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise DeliveryConfigInvalid(f"{where}: a number of seconds above 0 is required")
    return float(value)
