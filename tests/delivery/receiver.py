"""A webhook receiver on loopback, run as its own process by the delivery tests and the bench.

It verifies every request with the Standard Webhooks reference library
(``standardwebhooks`` from PyPI) against any of the secrets given, answers
401 when none verifies, and honours the idempotency key: the effect (one
line in ``effects``) happens once per ``webhook-id``, however often it is
delivered; every verified request is also one line in ``received``.
``--delay S`` answers each request S seconds late (a slow receiver);
``--die-after N`` makes the process exit abruptly while the N-th request is
in flight (body read, no answer sent): a receiver crashing mid-delivery.

    python tests/delivery/receiver.py PORT STATE_DIR --secret whsec_... [--die-after N]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks import Webhook, WebhookVerificationError


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("state", type=Path)
    p.add_argument("--secret", action="append", required=True)
    p.add_argument("--die-after", type=int, default=0)
    p.add_argument("--status", type=int, default=204, help="the answer to a verified request")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = p.parse_args()
    args.state.mkdir(parents=True, exist_ok=True)
    effects_path = args.state / "effects"
    received_path = args.state / "received"
    exchanges_path = args.state / "exchanges"
    seen = set(effects_path.read_text().split()) if effects_path.exists() else set()
    verifiers = [Webhook(s) for s in args.secret]
    lock = threading.Lock()
    count = [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with lock:
                count[0] += 1
                if args.die_after and count[0] >= args.die_after:
                    os._exit(3)  # mid-delivery: the body is read, no answer is sent
            if args.delay:
                time.sleep(args.delay)
            payload = None
            for verifier in verifiers:
                try:
                    payload = verifier.verify(body, headers)
                    break
                except WebhookVerificationError:
                    continue
            if payload is None:
                self.send_response(401)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            msg_id = headers["webhook-id"]
            with lock:
                with received_path.open("a") as fh:
                    fh.write(msg_id + "\n")
                if msg_id not in seen:
                    seen.add(msg_id)
                    with effects_path.open("a") as fh:
                        fh.write(msg_id + "\n")
                    with exchanges_path.open("a") as fh:
                        keep = {k: headers[k] for k in sorted(headers) if k.startswith("webhook")}
                        exchange = {"headers": keep, "body": body.decode()}
                        fh.write(json.dumps(exchange) + "\n")
            self.send_response(args.status)
            self.send_header("content-length", "0")
            self.end_headers()

    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    (args.state / "ready").write_text(str(os.getpid()))
    server.serve_forever()


if __name__ == "__main__":
    main()
