"""``--delivery-config PATH`` of ``casework serve`` and ``casework worker``.

The file is TOML with a ``[delivery]`` table (the keys are in
:mod:`engine.runtime.delivery_config`); the environment variable
``CASEWORK_DELIVERY_CONFIG`` names it when the option is not given. Without
either, actions are delivered to registered Python handlers only (under
``serve`` and ``worker`` there are none: every action is dead-lettered).
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from engine.runtime.delivery_config import DeliveryConfig, DeliveryConfigInvalid

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

ENV_VAR = "CASEWORK_DELIVERY_CONFIG"


def add_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--delivery-config",
        metavar="FILE",
        default=os.environ.get(ENV_VAR),
        help=f"TOML file whose [delivery] table says how each action is delivered "
        f"(webhook, pull, python) and retried (env {ENV_VAR})",
    )


def load(path: str | Path) -> DeliveryConfig:
    """The ``[delivery]`` table of a TOML file. Raises DeliveryConfigInvalid."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeliveryConfigInvalid(f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DeliveryConfigInvalid(f"{path} is not valid TOML: {exc}") from None
    table = data.get("delivery")
    if not isinstance(table, dict):
        raise DeliveryConfigInvalid(f"{path}: a [delivery] table is required")
    return DeliveryConfig.from_mapping(table)


def configure(engine: Engine, args: argparse.Namespace) -> None:
    """Apply ``--delivery-config`` (if given) to ``engine``. Raises DeliveryConfigInvalid."""
    path = getattr(args, "delivery_config", None)
    if path:
        engine.actions.configure(load(path))
