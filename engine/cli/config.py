"""One configuration for ``casework serve`` and ``casework worker``: a TOML file plus
environment variables, under the command-line options.

Every setting is looked up in this order: the command-line option, the
environment variable, the file (``--config FILE`` or ``CASEWORK_CONFIG``), the
default. A setting's variable is ``CASEWORK_`` and its name in capitals, the
table's name first (``[server] port`` is ``CASEWORK_SERVER_PORT``; top-level
``database_url`` is ``CASEWORK_DATABASE_URL``). Relative paths in the file are
relative to the file's folder. Example::

    database_url = "postgresql+psycopg://casework@db/casework"
    workflows = ["workflows"]          # files or folders; absent: the bundled ones
    log_level = "info"                 # debug | info | warning | error
    log_format = "json"                # json | text

    [server]
    host = "0.0.0.0"
    port = 8000
    clients_file = "casework-clients.json"   # re-read when it changes: no restart
    metrics_public = false
    max_body_bytes = 1048576
    header_timeout = 10.0              # seconds for a request's headers (slow clients: 408)
    body_timeout = 30.0                # seconds for its body after the headers
    worker = true                      # run the timer worker inside serve

    [worker]
    batch_size = 100
    sweep_seconds = 5.0
    outbox = true

    [changes]
    max_wait_seconds = 30              # longest long-poll of GET /v1/changes
    stream_seconds = 300               # a GET /v1/changes/stream ends after this

    [acting_user]                      # the issuer of Acting-User JWTs (engine.api.acting_user)
    issuer = "https://idp.example"
    audience = "casework"
    algorithms = ["RS256"]
    public_key_file = "idp-public.pem"

    [delivery]                         # how actions are delivered (webhooks, pull)

The ``[acting_user]`` and ``[delivery]`` tables are kept as read (``delivery``
is for :meth:`DeliveryConfig.from_mapping`, see :func:`delivery_config`); the
tables have no environment variables of their own, only the secrets they name.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.errors import EngineError

ENV_PREFIX = "CASEWORK_"
CONFIG_ENV = "CASEWORK_CONFIG"
DEFAULT_DATABASE_URL = "sqlite:///casework.db"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
RAW_TABLES = ("acting_user", "delivery")


class ConfigInvalid(EngineError):
    """The configuration file or a CASEWORK_ environment variable is invalid."""

    code = "config-invalid"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of ``serve`` and ``worker``, resolved (see the module docstring)."""

    database_url: str = DEFAULT_DATABASE_URL
    workflows: tuple[str, ...] = ()  # empty: the bundled workflows
    log_level: str = "info"
    log_format: str = "json"
    server_host: str = "127.0.0.1"
    server_port: int = 8000
    server_clients_file: str | None = None
    server_metrics_public: bool = False
    server_max_body_bytes: int = 1024 * 1024
    server_header_timeout: float = 10.0  # seconds for a request's headers (else 408)
    server_body_timeout: float = 30.0  # seconds for its body after the headers
    server_worker: bool = True
    worker_batch_size: int = 100
    worker_sweep_seconds: float = 5.0
    worker_outbox: bool = True
    changes_max_wait_seconds: float = 30.0
    changes_stream_seconds: float = 300.0
    acting_user: Mapping[str, Any] = field(default_factory=dict)
    delivery: Mapping[str, Any] = field(default_factory=dict)
    config_file: str | None = None  # the file read, if any


_PATHS = frozenset({"workflows", "server_clients_file"})


def _table_and_key(name: str) -> tuple[str | None, str]:
    for table in ("server", "worker", "changes"):
        if name.startswith(table + "_"):
            return table, name[len(table) + 1 :]
    return None, name


def _checker(name: str) -> Callable[[Any, str], Any]:
    default = getattr(Settings(), name)
    if name == "workflows":
        return _str_list
    if name in ("log_level", "log_format"):
        choices = LOG_LEVELS if name == "log_level" else LOG_FORMATS
        return lambda v, at: _choice(v, at, choices)
    if isinstance(default, bool):
        return _bool
    if isinstance(default, int):
        return _positive(int)
    if isinstance(default, float):
        return _positive(float)
    return _text


def _text(value: Any, at: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigInvalid(f"{at}: a non-empty string is required")
    return value


def _str_list(value: Any, at: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(os.pathsep) if v]
    if not (isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value)):
        raise ConfigInvalid(f"{at}: a list of paths is required")
    return tuple(value)


def _choice(value: Any, at: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigInvalid(f"{at}: one of {', '.join(choices)} is required")
    return str(value)


def _bool(value: Any, at: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
    ):
        return value.lower() in ("1", "true", "yes", "on")
    raise ConfigInvalid(f"{at}: true or false is required")


def _positive(kind: type) -> Callable[[Any, str], Any]:
    def check(value: Any, at: str) -> Any:
        if isinstance(value, str):
            try:
                value = kind(value)
            except ValueError:
                raise ConfigInvalid(f"{at}: a number is required") from None
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigInvalid(f"{at}: a number above 0 is required")
        if kind is int and value != int(value):
            raise ConfigInvalid(f"{at}: a whole number is required")
        return kind(value)

    return check


_NAMES = tuple(f.name for f in fields(Settings) if f.name not in (*RAW_TABLES, "config_file"))


def read_file(path: str | Path) -> tuple[dict[str, Any], Path]:
    """The file's settings by name (paths made absolute). Raises ConfigInvalid."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigInvalid(f"cannot read configuration file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigInvalid(f"configuration file {path} is not valid TOML: {exc}") from None
    base = path.resolve().parent
    out: dict[str, Any] = {}
    tables = {"server", "worker", "changes"}
    for key, value in data.items():
        if key in RAW_TABLES:
            if not isinstance(value, dict):
                raise ConfigInvalid(f"{path}: [{key}] must be a table")
            out[key] = value
        elif key in tables:
            if not isinstance(value, dict):
                raise ConfigInvalid(f"{path}: [{key}] must be a table")
            for sub, inner in value.items():
                name = f"{key}_{sub}"
                if name not in _NAMES:
                    raise ConfigInvalid(f"{path}: [{key}] has no setting {sub!r}")
                out[name] = inner
        elif key in _NAMES and _table_and_key(key)[0] is None:
            out[key] = value
        else:
            raise ConfigInvalid(f"{path}: unknown setting {key!r}")
    for name in _PATHS & set(out):
        at = f"{path}: {_where(name)}"
        value = _checker(name)(out[name], at)
        if isinstance(value, tuple):
            out[name] = tuple(str(base / v) for v in value)
        else:
            out[name] = str(base / value)
    acting = out.get("acting_user")
    if isinstance(acting, dict) and isinstance(acting.get("public_key_file"), str):
        out["acting_user"] = {**acting, "public_key_file": str(base / acting["public_key_file"])}
    return out, path


def _where(name: str) -> str:
    table, key = _table_and_key(name)
    return key if table is None else f"[{table}] {key}"


def resolve(
    cli: Mapping[str, Any], env: Mapping[str, str], config_file: str | None = None
) -> Settings:
    """Settings from command-line values (None: not given), the environment and the file.

    ``config_file`` None reads ``CASEWORK_CONFIG`` when set. Raises ConfigInvalid.
    """
    path = config_file or env.get(CONFIG_ENV) or None
    from_file, file_path = read_file(path) if path else ({}, None)
    values: dict[str, Any] = {}
    for name in _NAMES:
        check = _checker(name)
        env_name = ENV_PREFIX + name.upper()
        if cli.get(name) is not None:
            values[name] = check(cli[name], f"option for {name}")
        elif env.get(env_name, "") != "":
            values[name] = check(env[env_name], env_name)
        elif name in from_file:
            values[name] = check(from_file[name], f"{file_path}: {_where(name)}")
    for table in RAW_TABLES:
        if table in from_file:
            values[table] = dict(from_file[table])
    return Settings(**values, config_file=None if file_path is None else str(file_path))


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help=f"TOML configuration file (env {CONFIG_ENV}); options and CASEWORK_* "
        "environment variables override it",
    )


def delivery_config(settings: Settings) -> Any:
    """``DeliveryConfig.from_mapping(settings.delivery)`` where action delivery is built in;
    None when there is no ``[delivery]`` table or no delivery module (the table is then
    kept as read in ``settings.delivery``). Raises the module's own error when invalid."""
    if not settings.delivery:
        return None
    from engine.runtime.delivery_config import DeliveryConfig

    return DeliveryConfig.from_mapping(settings.delivery)


def acting_user_verifier(settings: Settings, env: Mapping[str, str]) -> Any:
    """The ``Acting-User`` JWT verifier of ``[acting_user]``, or None without the table."""
    if not settings.acting_user:
        return None
    from engine.api.acting_user import UserTokenVerifier

    return UserTokenVerifier.from_mapping(settings.acting_user, env=env)
