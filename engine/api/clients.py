"""API clients: bearer tokens, each mapped to an actor, roles and permissions.

Tokens are never stored: the clients file holds their SHA-256 hashes, and a
presented token is hashed and compared in constant time with every entry.
The file is JSON or TOML (chosen by extension)::

    {"clients": [{"name": "ward-app", "actor": "svc:ward-app",
                  "roles": ["nurse", "case_manager"],
                  "permissions": ["read", "write"],
                  "token_sha256": "<hex>"}]}

``roles`` may contain ``"*"``: every role the case's workflow declares (the
bootstrap admin client has it). Permissions: ``read`` (GET cases and
definitions), ``write`` (open cases, send events), ``metrics`` (GET /metrics),
``actions`` (pull delivery: fetch-and-lock, extend, complete, fail),
``delegate`` (act for an end user named by an ``Acting-User`` JWT, with roles
the client is granted: :mod:`engine.api.acting_user`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import EngineError

ALL_ROLES = "*"
PERMISSIONS = frozenset({"read", "write", "metrics", "actions", "delegate", "staff"})
DEFAULT_PERMISSIONS = ("read", "write")
TOKEN_PREFIX = "cw_"  # noqa: S105 (a prefix, not a secret)


class ClientsFileInvalid(EngineError):
    """The API clients file is invalid."""

    code = "clients-file-invalid"


# group write, or any access by others: the file grants access to PHI
_NOT_PRIVATE = stat.S_IWGRP | stat.S_IRWXO


def hash_token(token: str) -> str:
    """The SHA-256 hex digest a clients file stores for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> str:
    """A new random bearer token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Client:
    """One caller of the API."""

    name: str
    actor: str
    roles: tuple[str, ...]
    token_sha256: str
    permissions: frozenset[str] = field(default_factory=lambda: frozenset(DEFAULT_PERMISSIONS))
    #: set while the client acts for an end user: the client's own actor (``actor`` is the user)
    via: str | None = None

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def roles_for(self, workflow_roles: Iterable[str]) -> tuple[str, ...]:
        """The roles this client acts with on a workflow that declares ``workflow_roles``."""
        if ALL_ROLES not in self.roles:
            return self.roles
        expanded = [r for r in self.roles if r != ALL_ROLES]
        expanded.extend(r for r in workflow_roles if r not in expanded)
        return tuple(expanded)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "actor": self.actor,
            "roles": list(self.roles),
            "permissions": sorted(self.permissions),
            "token_sha256": self.token_sha256,
        }


class ClientRegistry:
    """Looks up the client a bearer token belongs to."""

    def __init__(self, clients: Sequence[Client] = ()) -> None:
        self._clients = tuple(clients)
        names = [c.name for c in self._clients]
        if len(names) != len(set(names)):
            raise ClientsFileInvalid("client names must be unique")

    @property
    def clients(self) -> tuple[Client, ...]:
        return self._clients

    def __len__(self) -> int:
        return len(self._clients)

    def authenticate(self, token: str) -> Client | None:
        """The client whose token hash matches, compared in constant time; else None."""
        presented = hash_token(token)
        found: Client | None = None
        for client in self._clients:  # no early exit: the time does not depend on the match
            if hmac.compare_digest(presented, client.token_sha256) and found is None:
                found = client
        return found

    @classmethod
    def from_file(cls, path: str | Path) -> ClientRegistry:
        """Load a JSON (``.json``) or TOML (``.toml``) clients file."""
        path = Path(path)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            raw = path.read_bytes()
        except OSError as exc:
            raise ClientsFileInvalid(f"cannot read clients file {path}: {exc.strerror}") from None
        if os.name == "posix" and mode & _NOT_PRIVATE:
            raise ClientsFileInvalid(
                f"clients file {path} has mode {mode:o}: others can read or change the "
                f"token hashes that grant access; run `chmod 600 {path}`"
            )
        try:
            if path.suffix.lower() == ".toml":
                data = tomllib.loads(raw.decode("utf-8"))
            else:
                data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ClientsFileInvalid(f"clients file {path} is not valid: {exc}") from None
        return cls(_parse_clients(data, str(path)))


def _parse_clients(data: object, where: str) -> list[Client]:
    if not isinstance(data, dict) or not isinstance(data.get("clients"), list):
        raise ClientsFileInvalid(f"{where}: expected an object with a 'clients' list")
    out: list[Client] = []
    for i, entry in enumerate(data["clients"]):
        at = f"{where}: clients[{i}]"
        if not isinstance(entry, dict):
            raise ClientsFileInvalid(f"{at}: expected an object")
        name = entry.get("name")
        digest = entry.get("token_sha256")
        roles = entry.get("roles", [])
        perms = entry.get("permissions", list(DEFAULT_PERMISSIONS))
        if not isinstance(name, str) or not name:
            raise ClientsFileInvalid(f"{at}.name: a non-empty string is required")
        if not (isinstance(digest, str) and len(digest) == 64 and _is_hex(digest)):
            raise ClientsFileInvalid(f"{at}.token_sha256: a SHA-256 hex digest is required")
        if not (isinstance(roles, list) and all(isinstance(r, str) for r in roles)):
            raise ClientsFileInvalid(f"{at}.roles: a list of strings is required")
        if not (isinstance(perms, list) and all(p in PERMISSIONS for p in perms)):
            raise ClientsFileInvalid(
                f"{at}.permissions: a list of {', '.join(sorted(PERMISSIONS))} is required"
            )
        actor = entry.get("actor", f"api:{name}")
        if not isinstance(actor, str) or not actor:
            raise ClientsFileInvalid(f"{at}.actor: a non-empty string is required")
        out.append(
            Client(
                name=name,
                actor=actor,
                roles=tuple(roles),
                token_sha256=digest.lower(),
                permissions=frozenset(perms),
            )
        )
    return out


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def bootstrap_clients_file(path: str | Path) -> str | None:
    """Create ``path`` with one admin client if it does not exist.

    Returns the new admin token (to show once), or None when the file existed.
    The file is created with mode 0600 and holds only the token's hash.
    """
    path = Path(path)
    token = generate_token()
    admin = Client(
        name="admin",
        actor="api:admin",
        roles=(ALL_ROLES,),
        token_sha256=hash_token(token),
        permissions=PERMISSIONS,
    )
    text = json.dumps({"clients": [admin.to_dict()]}, indent=2) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return token
