"""Storage: the store interface (``interface.py``), its records, and the SQLAlchemy store.

:func:`open_store` is the factory the runtime uses. It loads
``engine.store.sqlalchemy_store`` on first call (``importlib``), so importing
``engine.store`` or its interface never imports SQLAlchemy: the runtime
depends on the interface only (the ``runtime-without-sql`` contract).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.store.interface import CaseStore

#: The module that implements :class:`~engine.store.interface.CaseStore` on SQLAlchemy.
SQLALCHEMY_STORE = "engine.store.sqlalchemy_store"


def open_store(url: str) -> CaseStore:
    """The store for a database URL (SQLite or PostgreSQL; SQLAlchemy is loaded now)."""
    module = importlib.import_module(SQLALCHEMY_STORE)
    store: CaseStore = module.open_store(url)
    return store
