"""The clients file as the server sees it (re-read when it changes) and as ``casework
clients`` edits it (written whole, atomically, mode 0600).

:class:`ReloadingClientRegistry` is what ``casework serve`` authenticates
against: on each request it compares the file's (mtime, size, inode) with the
ones it loaded, a ``stat`` call, and re-reads the file when they differ, so
``casework clients add|rotate|revoke`` take effect on the next request without
a restart. A file that fails to load (a half-edited file, a wrong mode) is
logged by error type and the clients loaded before keep working; a deleted
file keeps them too. The CLI writes a new file beside the old one and renames
it over, so the server never reads a partial file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from engine.api.clients import Client, ClientRegistry, ClientsFileInvalid

log = logging.getLogger("casework.api.clients")

_Stamp = tuple[int, int, int]


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class ReloadingClientRegistry(ClientRegistry):
    """A :class:`ClientRegistry` that follows its file. Raises ClientsFileInvalid on the
    first load only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = _stamp(self.path)
        self._current = ClientRegistry.from_file(self.path)
        self.reloads = 0

    def _registry(self) -> ClientRegistry:
        stamp = _stamp(self.path)
        if stamp is None or stamp == self._stamp:
            return self._current
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._current = ClientRegistry.from_file(self.path)
                    self.reloads += 1
                    log.info("clients file reloaded: %d client(s)", len(self._current))
                except ClientsFileInvalid as exc:
                    log.error("clients file not reloaded (%s); the previous clients stay", exc.code)
                self._stamp = stamp
        return self._current

    @property
    def clients(self) -> tuple[Client, ...]:
        return self._registry().clients

    def __len__(self) -> int:
        return len(self._registry())

    def authenticate(self, token: str) -> Client | None:
        return self._registry().authenticate(token)


def write_clients_file(path: str | Path, clients: Sequence[Client]) -> None:
    """Replace the file with ``clients`` (JSON, or TOML for a ``.toml`` path), atomically."""
    path = Path(path)
    ClientRegistry(clients)  # names unique
    if path.suffix.lower() == ".toml":
        text = "".join(_toml_entry(c) for c in clients)
    else:
        text = json.dumps({"clients": [c.to_dict() for c in clients]}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _toml_entry(client: Client) -> str:
    def s(text: str) -> str:
        return json.dumps(text, ensure_ascii=True)  # a valid TOML basic string

    def a(items: Sequence[str]) -> str:
        return "[" + ", ".join(s(i) for i in items) + "]"

    d = client.to_dict()
    return (
        "[[clients]]\n"
        f"name = {s(client.name)}\n"
        f"actor = {s(client.actor)}\n"
        f"roles = {a(client.roles)}\n"
        f"permissions = {a(sorted(client.permissions))}\n"
        f"token_sha256 = {s(str(d['token_sha256']))}\n\n"
    )
