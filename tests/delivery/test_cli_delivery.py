"""`casework worker --delivery-config`: webhooks from the command, a worker SIGKILLed mid-run.

The configuration is a TOML file with a ``[delivery]`` table; the worker is
a real process, the receiver another, the database the test's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.delivery import load
from engine.cli.main import build_parser
from engine.runtime.delivery_config import DeliveryConfigInvalid, DeliveryMode
from engine.runtime.engine import Engine

from .support import CLERK, WORKFLOW, Receiver, new_secret, wait_until


def write_config(path: Path, url: str, secret: str) -> Path:
    path.write_text(
        f"""
[delivery]
default_mode = "pull"

[delivery.retry]
base_delay_seconds = 0.05
max_delay_seconds = 0.2
lease_seconds = 1

[delivery.webhooks.host]
url = "{url}"
secrets_env = ["TEST_HOOK_SECRET"]

[delivery.actions.send_welcome]
mode = "webhook"
webhook = "host"

[delivery.actions.notify_team]
mode = "webhook"
webhook = "host"
retry = {{ max_attempts = 50 }}
""",
        encoding="utf-8",
    )
    return path


def start_worker(url: str, config: Path, secret: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "engine", "worker", "--database-url", url]
    cmd += ["--workflows", str(WORKFLOW), "--delivery-config", str(config)]
    cmd += ["--sweep-seconds", "0.1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TEST_HOOK_SECRET": secret}
    return subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)


def test_the_config_file_is_read_from_its_delivery_table(tmp_path: Path) -> None:
    secret = new_secret()
    os.environ["TEST_HOOK_SECRET"] = secret
    try:
        config = load(write_config(tmp_path / "c.toml", "http://127.0.0.1:9/x", secret))
    finally:
        del os.environ["TEST_HOOK_SECRET"]
    assert config.default_mode is DeliveryMode.PULL
    assert config.for_action("send_welcome").mode is DeliveryMode.WEBHOOK
    assert config.for_action("notify_team").retry.max_attempts == 50
    assert config.for_action("create_call_task").mode is DeliveryMode.PULL
    args = build_parser().parse_args(["worker", "--delivery-config", "c.toml"])
    assert args.delivery_config == "c.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text('[delivery]\ndefault_mode = "carrier-pigeon"\n', encoding="utf-8")
    with pytest.raises(DeliveryConfigInvalid, match=r"delivery\.default_mode"):
        load(bad)


@pytest.mark.slow
def test_a_worker_sigkilled_mid_delivery_loses_no_webhook(
    database_url: str, tmp_path: Path
) -> None:
    secret = new_secret()
    with (
        Receiver(tmp_path / "rx", [secret]) as rx,
        Engine.open(database_url, workflows=WORKFLOW) as engine,
    ):
        rx.start(delay=0.1)
        config = write_config(tmp_path / "delivery.toml", rx.url, secret)
        for i in range(8):
            case = engine.open_case("dispatch", {"patient_id": f"P-{4000 + i}"}, **CLERK)
            engine.send(case.id, "referred", **CLERK)
            engine.send(case.id, "assessed", **CLERK)
            engine.send(case.id, "planned", **CLERK)
        pushed = sorted(
            f"outbox-{i.id}"
            for i in engine.outbox(limit=1000).items
            if i.action in ("send_welcome", "notify_team")
        )
        first = start_worker(database_url, config, secret)
        try:
            wait_until(lambda: len(rx.lines("received")) >= 3, what="some deliveries")
            os.kill(first.pid, signal.SIGKILL)  # holding the rest of its batch's leases
        finally:
            first.wait(timeout=30)
        assert len(rx.lines("effects")) < len(pushed)
        second = start_worker(database_url, config, secret)
        try:

            def delivered() -> bool:
                done = {f"outbox-{i.id}" for i in engine.outbox(status="done", limit=1000).items}
                return len(rx.lines("effects")) == len(pushed) and done == set(pushed)

            wait_until(delivered, timeout=240, what="every webhook")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        assert sorted(rx.lines("effects")) == pushed  # none lost, none doubled
        items = engine.outbox(limit=1000).items
        assert {i.status for i in items if f"outbox-{i.id}" in pushed} == {"done"}
        # the pulled action was left alone for pull workers
        assert {i.status for i in items if i.action == "create_call_task"} == {"pending"}
        assert {i.attempts for i in items if i.action == "create_call_task"} == {0}
