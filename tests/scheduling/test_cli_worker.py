"""`casework worker`: fires the backlog, stops cleanly on SIGTERM; argument checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.cli.main import build_parser
from engine.clock import ManualClock
from engine.runtime.engine import Engine

from ._engine import BURST, BURST_TIMERS, firings, open_burst_cases, pending_count


@pytest.mark.parametrize(
    "argv",
    [
        ["worker", "--batch-size", "0"],
        ["worker", "--batch-size", "x"],
        ["worker", "--sweep-seconds", "0"],
        ["worker", "--sweep-seconds", "-1"],
    ],
)
def test_worker_rejects_bad_settings_as_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2


def test_worker_database_url_defaults_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.cli.worker import worker_settings

    monkeypatch.setenv("CASEWORK_DATABASE_URL", "sqlite:////tmp/from-env.db")
    args = build_parser().parse_args(["worker"])
    settings = worker_settings(args, os.environ)
    assert args.database_url == "sqlite:////tmp/from-env.db"
    assert settings.worker_batch_size == 100
    assert settings.worker_sweep_seconds == 5.0


@pytest.mark.slow
def test_worker_command_fires_the_backlog_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    past = ManualClock(datetime.now(UTC) - timedelta(days=1))
    with Engine.open(url, workflows=BURST, clock=past) as seeder:
        cases = open_burst_cases(seeder, 5)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "worker",
            "--database-url",
            url,
            "--workflows",
            str(BURST),
            "--sweep-seconds",
            "0.5",
        ],
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        with Engine.open(url, workflows=BURST) as engine:
            end = time.monotonic() + 60
            while pending_count(engine) and time.monotonic() < end:
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
            counts = firings(engine, cases)
            assert len(counts) == 5 * BURST_TIMERS
            assert set(counts.values()) == {1}
            assert b"stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
