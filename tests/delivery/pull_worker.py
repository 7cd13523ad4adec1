"""A pull worker written against the OpenAPI document only (httpx, no engine import).

    python tests/delivery/pull_worker.py BASE_URL TOKEN hold|drain ACTION [ACTION...]

``drain`` fetches and completes until a fetch comes back empty, then prints
the completed outbox ids as one JSON list. ``hold`` fetches one batch, prints
its ids and lease tokens as JSON, and sleeps (to be SIGKILLed holding them).
"""

from __future__ import annotations

import json
import os
import sys
import time

import httpx


def main() -> None:
    base, token, mode, *actions = sys.argv[1:]
    worker = f"worker-{os.getpid()}"
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:

        def fetch() -> list[dict]:
            r = http.post(
                "/v1/actions/fetch-and-lock",
                json={"worker": worker, "actions": actions, "max_items": 5, "lease_seconds": 60},
            )
            r.raise_for_status()
            return list(r.json()["items"])

        if mode == "hold":
            items = fetch()
            print(json.dumps([[i["outbox_id"], i["lease_token"]] for i in items]), flush=True)
            time.sleep(3600)
            return
        done: list[int] = []
        while items := fetch():
            for item in items:
                r = http.post(
                    f"/v1/actions/{item['outbox_id']}/complete",
                    json={"lease_token": item["lease_token"]},
                )
                if r.status_code == 200:
                    done.append(item["outbox_id"])
                elif r.status_code != 409:  # 409: lease lost, another worker has it
                    r.raise_for_status()
        print(json.dumps(done), flush=True)


if __name__ == "__main__":
    main()
