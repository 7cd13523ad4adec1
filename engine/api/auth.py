"""Bearer-token authentication and permission checks (deny by default)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.api.acting_user import acting_client
from engine.api.clients import Client, ClientRegistry
from engine.api.problems import ApiProblem

bearer = HTTPBearer(auto_error=False, description="a client token from the clients file")

_CHALLENGE = 'Bearer realm="casework"'


def registry_of(request: Request) -> ClientRegistry:
    registry: ClientRegistry = request.app.state.clients
    return registry


def require(permission: str) -> Callable[..., Client]:
    """A dependency: the authenticated client, which must hold ``permission``."""

    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        acting_user: str | None = Header(
            None,
            alias="Acting-User",
            max_length=8192,
            description="a JWT naming the end user this client acts for (clients with the "
            "'delegate' permission; see docs/integration.md#acting-user)",
        ),
    ) -> Client:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiProblem(
                401,
                "unauthorized",
                "a bearer token is required",
                headers={"WWW-Authenticate": _CHALLENGE},
            )
        client = registry_of(request).authenticate(credentials.credentials)
        if client is None:
            raise ApiProblem(
                401,
                "unauthorized",
                "the bearer token is not valid",
                headers={"WWW-Authenticate": _CHALLENGE + ', error="invalid_token"'},
            )
        request.state.actor = client.actor
        if not client.may(permission):
            raise ApiProblem(
                403,
                "permission-missing",
                f"client {client.name!r} lacks the {permission!r} permission",
                extensions={"permission": permission},
            )
        return acting_client(request, client, acting_user)

    dependency.__name__ = f"require_{permission}"
    return dependency
