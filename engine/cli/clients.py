"""``casework clients add|list|rotate|revoke``: manage the API clients file.

The file is the one ``casework serve`` reads: ``--clients FILE``, else
``$CASEWORK_CLIENTS_FILE``, else ``[server] clients_file`` of ``--config``
(or ``$CASEWORK_CONFIG``), else ``casework-clients.json`` next to the SQLite
database. A running server re-reads it on the next request, so no restart is
needed. ``add`` and ``rotate`` print the new token once (stdout, or the
``token`` member with ``--json``); the file keeps only its SHA-256 hash.
``revoke`` removes the client: its token stops working on the next request.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli import _common as out
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.api.clients import Client


def clients_file(args: argparse.Namespace) -> Path:
    """The clients file these arguments name (see the module docstring). Raises ConfigInvalid."""
    from engine.cli.config import resolve
    from engine.cli.serve import clients_path_for

    if args.clients:
        return Path(args.clients)
    settings = resolve(
        {"server_clients_file": os.environ.get("CASEWORK_CLIENTS_FILE") or None},
        os.environ,
        args.config,
    )
    if settings.server_clients_file:
        return Path(settings.server_clients_file)
    return clients_path_for(settings.database_url)


def _load(path: Path) -> list[Client]:
    from engine.api.clients import ClientRegistry

    if not path.exists():
        return []
    return list(ClientRegistry.from_file(path).clients)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def cmd_add(args: argparse.Namespace) -> int:
    from engine.api.clients import (
        DEFAULT_PERMISSIONS,
        PERMISSIONS,
        Client,
        generate_token,
        hash_token,
    )
    from engine.api.clients_file import write_clients_file

    try:
        path = clients_file(args)
        existing = _load(path)
        if any(c.name == args.name for c in existing):
            out.error(f"client {args.name!r} exists; use `casework clients rotate {args.name}`")
            return out.EXIT_FAILED
        permissions = _split(args.permissions) or DEFAULT_PERMISSIONS
        unknown = sorted(set(permissions) - PERMISSIONS)
        if unknown:
            out.error(
                f"unknown permission {unknown[0]!r} (one of {', '.join(sorted(PERMISSIONS))})"
            )
            return out.EXIT_USAGE
        token = generate_token()
        client = Client(
            name=args.name,
            actor=args.actor or f"api:{args.name}",
            roles=_split(args.roles),
            token_sha256=hash_token(token),
            permissions=frozenset(permissions),
        )
        write_clients_file(path, [*existing, client])
    except EngineError as exc:
        return out.fail(args, exc)
    _show(args, client, token, path, "added")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from engine.api.clients import generate_token, hash_token
    from engine.api.clients_file import write_clients_file

    try:
        path = clients_file(args)
        existing = _load(path)
        if not any(c.name == args.name for c in existing):
            out.error(f"no client {args.name!r} in {path}")
            return out.EXIT_FAILED
        token = generate_token()
        updated = [
            replace(c, token_sha256=hash_token(token)) if c.name == args.name else c
            for c in existing
        ]
        write_clients_file(path, updated)
    except EngineError as exc:
        return out.fail(args, exc)
    client = next(c for c in updated if c.name == args.name)
    _show(args, client, token, path, "rotated (the old token no longer works)")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from engine.api.clients_file import write_clients_file

    try:
        path = clients_file(args)
        existing = _load(path)
        kept = [c for c in existing if c.name != args.name]
        if len(kept) == len(existing):
            out.error(f"no client {args.name!r} in {path}")
            return out.EXIT_FAILED
        write_clients_file(path, kept)
    except EngineError as exc:
        return out.fail(args, exc)
    if args.json:
        out.print_json({"revoked": args.name, "file": str(path)})
    else:
        out.progress(f"client {args.name!r} revoked in {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    try:
        path = clients_file(args)
        clients = _load(path)
    except EngineError as exc:
        return out.fail(args, exc)
    rows = [
        {
            "name": c.name,
            "actor": c.actor,
            "roles": list(c.roles),
            "permissions": sorted(c.permissions),
        }
        for c in clients
    ]
    if args.json:
        out.print_json({"file": str(path), "clients": rows})
        return 0
    out.table(
        [(c.name, c.actor, ",".join(c.roles), ",".join(sorted(c.permissions))) for c in clients],
        ["NAME", "ACTOR", "ROLES", "PERMISSIONS"],
    )
    return 0


def _show(args: argparse.Namespace, client: Client, token: str, path: Path, what: str) -> None:
    name = client.name
    if args.json:
        out.print_json({"name": name, "token": token, "file": str(path)})
        return
    out.progress(f"client {name!r} {what} in {path}; its token (shown only now):")
    print(token)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.cli.config import add_config_option

    clients = subparsers.add_parser(
        "clients",
        help="add, list, rotate and revoke API clients (a running server reloads them)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = clients.add_subparsers(dest="clients_command", metavar="COMMAND", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--clients", metavar="FILE", help="the clients file (JSON or TOML)")
        add_config_option(p)
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("add", help="add a client and print its new token once")
    common(p)
    p.add_argument("name")
    p.add_argument("--actor", help="recorded in history and the access audit (default api:NAME)")
    p.add_argument("--roles", default="", help="comma-separated workflow roles, or *")
    p.add_argument(
        "--permissions",
        default="",
        help="comma-separated: read, write, metrics, delegate (default read,write)",
    )
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("list", help="the clients (never their tokens)")
    common(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("rotate", help="give a client a new token (the old one stops working)")
    common(p)
    p.add_argument("name")
    p.set_defaults(func=cmd_rotate)

    p = sub.add_parser("revoke", help="remove a client (its token stops working)")
    common(p)
    p.add_argument("name")
    p.set_defaults(func=cmd_revoke)
