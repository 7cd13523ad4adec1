"""DeliveryConfig: the [delivery] table's keys, their checks, the retry policy's arithmetic."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.runtime.delivery_config import (
    DeliveryConfig,
    DeliveryConfigInvalid,
    DeliveryMode,
    RetryPolicy,
    decode_secret,
)

from .support import new_secret


def test_an_empty_table_is_python_handlers_with_the_default_policy() -> None:
    config = DeliveryConfig.from_mapping({})
    assert config.default_mode is DeliveryMode.PYTHON
    assert config.for_action("anything").retry == RetryPolicy()
    assert config.for_action("x", has_handler=True).mode is DeliveryMode.PYTHON


def test_per_action_entries_override_mode_and_retry_key_by_key() -> None:
    secret = new_secret()
    config = DeliveryConfig.from_mapping(
        {
            "default_mode": "pull",
            "retry": {"max_attempts": 4, "jitter": 0},
            "webhooks": {"ehr": {"url": "https://ehr.example/hooks", "secrets": [secret]}},
            "actions": {
                "notify": {"mode": "webhook", "webhook": "ehr", "retry": {"max_attempts": 2}},
                "local": {"mode": "python"},
            },
        }
    )
    notify = config.for_action("notify")
    assert (notify.mode, notify.webhook, notify.retry.max_attempts) == (
        DeliveryMode.WEBHOOK,
        "ehr",
        2,
    )
    assert notify.retry.jitter == 0
    assert config.for_action("other").mode is DeliveryMode.PULL
    assert config.for_action("other").retry.max_attempts == 4
    assert config.endpoint("notify").secrets == (decode_secret(secret),)
    assert config.names_with_mode(DeliveryMode.PYTHON) == ("local",)


def test_secrets_come_from_the_environment_without_being_echoed() -> None:
    secret = new_secret()
    table = {"webhooks": {"h": {"url": "http://127.0.0.1:1/", "secrets_env": ["HOOK"]}}}
    config = DeliveryConfig.from_mapping(table, environ={"HOOK": secret})
    assert config.webhooks["h"].secrets == (decode_secret(secret),)
    assert secret not in repr(config)
    with pytest.raises(DeliveryConfigInvalid, match="HOOK is not set"):
        DeliveryConfig.from_mapping(table, environ={})


@pytest.mark.parametrize(
    ("table", "names"),
    [
        ({"default_mode": "fax"}, "delivery.default_mode"),
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts"),
        ({"retry": {"jitter": 2}}, "retry.jitter"),
        ({"retry": {"lease_seconds": -1}}, "retry.lease_seconds"),
        ({"retry": {"tries": 3}}, "'tries'"),
        ({"webhooks": {"h": {"url": "ftp://x", "secrets": []}}}, "webhooks.h.url"),
        ({"webhooks": {"h": {"url": "http://x/", "secrets": ["plain"]}}}, "secrets[0]"),
        ({"webhooks": {"h": {"url": "http://x/", "secrets": ["whsec_!!"]}}}, "base64"),
        ({"webhooks": {"h": {"url": "http://x/"}}}, "at least one of secrets"),
        ({"actions": {"a": {"mode": "webhook"}}}, "actions.a.webhook"),
        ({"default_mode": "webhook"}, "default_webhook"),
    ],
)
def test_an_invalid_key_is_named(table: dict, names: str) -> None:
    with pytest.raises(DeliveryConfigInvalid) as caught:
        DeliveryConfig.from_mapping(table)
    assert names in caught.value.message


@given(
    attempts=st.integers(min_value=1, max_value=200),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
    base=st.floats(min_value=0.001, max_value=600),
    ceiling=st.floats(min_value=0.001, max_value=86400),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_backoff_grows_never_beyond_the_ceiling_and_jitter_only_shortens(
    attempts: int, draw: float, base: float, ceiling: float, jitter: float
) -> None:
    policy = RetryPolicy(
        base_delay=timedelta(seconds=base), max_delay=timedelta(seconds=ceiling), jitter=jitter
    )
    delay = policy.delay(attempts, draw)
    full = policy.delay(attempts, 0.0)
    assert timedelta(0) <= delay <= full <= timedelta(seconds=ceiling)
    assert delay >= full * (1 - jitter) - timedelta(microseconds=1)


@given(attempts=st.integers(min_value=0, max_value=20), age=st.integers(0, 10**6))
def test_dead_letter_by_attempts_or_age(attempts: int, age: int) -> None:
    policy = RetryPolicy(max_attempts=5, max_age=timedelta(seconds=3600))
    gives_up = policy.gives_up(attempts, timedelta(seconds=age))
    assert gives_up == (attempts >= 5 or age >= 3600)
