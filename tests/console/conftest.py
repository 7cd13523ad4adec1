"""A real ``casework serve`` subprocess on loopback, over a seeded database, and Chromium.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or
``$CASEWORK_CHROMIUM``) driven by Playwright; Playwright downloads nothing.
Without the browser the tests are skipped, unless ``CASEWORK_REQUIRE_BROWSER=1``
(set by ``.ci/run``), which makes that a failure. Screenshots go to
``test-artefacts/console/`` (git-ignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.console.seed import ROOT, Seeded, seed, write_clients

CHROMIUM = os.environ.get("CASEWORK_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("CASEWORK_REQUIRE_BROWSER") == "1"
ARTEFACTS = ROOT / "test-artefacts" / "console"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str
    database_url: str
    seeded: Seeded
    proc: subprocess.Popen[str]

    def access_rows(self) -> list[tuple[str, str | None, str]]:
        import sqlalchemy as sa

        db = sa.create_engine(self.database_url)
        try:
            with db.connect() as conn:
                q = sa.text("select actor, case_id, what from access_log order by id")
                return [(r[0], r[1], r[2]) for r in conn.execute(q)]
        finally:
            db.dispose()


def serve(database_url: str, tmp_path: Path, idle_seconds: float) -> Iterator[Served]:
    seeded = seed(database_url)
    clients = write_clients(tmp_path / "clients.json")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    env["CASEWORK_CONSOLE_IDLE_SECONDS"] = str(idle_seconds)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--database-url", database_url,
         "--clients", str(clients), "--port", str(port), "--no-worker", "--log-level", "warning"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # generous: the machine is shared
        while True:
            if proc.poll() is not None:
                log.flush()
                tail = (tmp_path / "serve.log").read_text()[-2000:]
                raise AssertionError(f"serve exited with {proc.returncode}: {tail}")
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not become healthy")
            time.sleep(0.2)
        yield Served(url, database_url, seeded, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"Chromium required (CASEWORK_REQUIRE_BROWSER=1) but {CHROMIUM} is absent")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield chromium
        finally:
            chromium.close()
