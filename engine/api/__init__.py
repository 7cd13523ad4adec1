"""The HTTP API: a thin FastAPI shell over the engine facade."""

from __future__ import annotations

from engine.api.app import create_app, openapi_document
from engine.api.clients import Client, ClientRegistry, bootstrap_clients_file, hash_token

__all__ = [
    "Client",
    "ClientRegistry",
    "bootstrap_clients_file",
    "create_app",
    "hash_token",
    "openapi_document",
]
