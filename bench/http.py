"""HTTP throughput of ``casework serve`` against a bare endpoint on the same uvicorn.

    apt-get install -y wrk        # the load generator (Debian's package)
    python bench/http.py [--cases 2000] [--duration 20] [--connections 16] [--database-url URL]

One run: a fresh database (a temporary SQLite file unless ``--database-url``)
with ``--cases`` cases of ``bench/workflows/chain.yaml``; ``casework serve``
(no worker) with a clients file holding one token; then ``wrk`` drives a mix
of 70 % ``GET /v1/cases/{id}`` (an audited read) and 30 % ``POST
/v1/cases/{id}/events`` (the case's next event; each wrk thread walks its own
cases, so writes do not collide), and the same wrk against a bare FastAPI
endpoint (``GET /bare``, no database) served by the same uvicorn: the ceiling.
Prints requests/s, latency percentiles and the ratio to the ceiling, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file is named http.py: drop its folder from the path so that the standard
# library's http package (urllib, starlette) is the one imported.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.api.clients import hash_token  # noqa: E402
from engine.runtime.engine import Engine  # noqa: E402

CHAIN = ROOT / "bench" / "workflows" / "chain.yaml"
WHO = {"actor": "bench", "roles": ["worker"]}

BARE_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/bare")
def bare() -> dict:
    return {"ok": True}
"""

MIX_LUA = r"""
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local token = "%(token)s"
local threads, counter = %(threads)d, 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end
local n, step, i = 0, {}, 0
function init(args)
  n = #ids
end
function request()
  i = i + 1
  local headers = {["Authorization"] = "Bearer " .. token}
  if i %% 10 < 3 then
    -- this thread's cases only: offset, offset + threads, ...
    local k = ((i * 7919) %% math.floor(n / threads)) * threads + offset + 1
    local s = (step[k] or 0) + 1
    if s <= 7 then
      step[k] = s
      headers["Content-Type"] = "application/json"
      return wrk.format("POST", "/v1/cases/" .. ids[k] .. "/events", headers,
                        '{"event": "e' .. s .. '"}')
    end
  end
  local k = ((i * 104729) %% n) + 1
  return wrk.format("GET", "/v1/cases/" .. ids[k], headers)
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 60) -> None:
    import urllib.request

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


_LAT = re.compile(r"^\s+(50|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)", re.M)


def _wrk(url: str, args: argparse.Namespace, script: Path | None) -> dict[str, float]:
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s"]
    cmd += ["--latency"] + (["-s", str(script)] if script else []) + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    lat = {f"p{p}_ms": round(float(v) * scale[u], 2) for p, v, u in _LAT.findall(out)}
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"req_per_s": rate, **lat, "non_2xx": int(errors.group(1)) if errors else 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url")
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = args.database_url or f"sqlite:///{tmp / 'http.db'}"
        with Engine.open(url, workflows=CHAIN) as eng:
            ids = [
                eng.open_case("chain", {"patient_id": "P-1"}, **WHO).id for _ in range(args.cases)
            ]
        (tmp / "ids.txt").write_text("\n".join(ids) + "\n")
        token = "cw_" + secrets.token_urlsafe(24)
        clients = {
            "clients": [
                {
                    "name": "bench",
                    "actor": "svc:bench",
                    "roles": ["*"],
                    "permissions": ["read", "write"],
                    "token_sha256": hash_token(token),
                }
            ]
        }
        (tmp / "clients.json").write_text(json.dumps(clients))
        os.chmod(tmp / "clients.json", 0o600)
        lua = MIX_LUA % {"ids": tmp / "ids.txt", "token": token, "threads": args.threads}
        (tmp / "mix.lua").write_text(lua)
        (tmp / "bench_bare.py").write_text(BARE_APP)
        results: dict[str, object] = {
            "database": url.split(":", 1)[0],
            "cases": args.cases,
            "connections": args.connections,
        }
        port, bare_port = _free_port(), _free_port()
        serve = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine",
                "serve",
                "--database-url",
                url,
                "--workflows",
                str(CHAIN),
                "--clients",
                str(tmp / "clients.json"),
                "--port",
                str(port),
                "--no-worker",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench_bare:app",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(f"http://127.0.0.1:{port}/health")
            _wait(f"http://127.0.0.1:{bare_port}/bare")
            results["bare"] = _wrk(f"http://127.0.0.1:{bare_port}/bare", args, None)
            results["casework_mix"] = _wrk(f"http://127.0.0.1:{port}", args, tmp / "mix.lua")
        finally:
            for p in (serve, bare):
                p.terminate()
                p.wait(30)
        mix, ceiling = results["casework_mix"], results["bare"]
        assert isinstance(mix, dict)
        assert isinstance(ceiling, dict)
        results["ratio_to_bare"] = round(mix["req_per_s"] / ceiling["req_per_s"], 3)
        print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
