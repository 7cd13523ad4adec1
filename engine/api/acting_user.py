"""The acting user: a client allowed to delegate names the end user it acts for, per request.

The client sends the user as a JWT in the ``Acting-User`` header, issued by the
identity provider the server is configured to trust (``[acting_user]`` in the
configuration file) and verified with PyJWT: signature (the configured
algorithms only; never ``none``), ``iss``, ``aud``, ``exp`` (``nbf``/``iat`` when
present), with a small leeway. ``sub`` is the user's id, the roles claim
(``roles`` unless configured) the user's roles::

    {"iss": "https://idp.example", "aud": "casework", "sub": "nurse:jane",
     "roles": ["nurse"], "exp": 1796000000}

The request then acts as the user: events are checked against the user's
roles, history rows record the user as ``actor`` and the client as
``client``, and audited reads record both. A client may delegate only when it
holds the ``delegate`` permission, and only roles it is granted itself
(a client with ``*`` may delegate any role). Refusals: 401
``acting-user-invalid`` (the token does not verify), 403
``delegation-not-allowed`` (no ``delegate`` permission, or no issuer
configured), 403 ``role-not-delegable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jwt
from fastapi import Request

from engine.api.clients import ALL_ROLES, Client
from engine.api.problems import ApiProblem
from engine.errors import EngineError

HEADER = "Acting-User"
MAX_TOKEN_CHARS = 8192
MAX_ID_CHARS = 200
_ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA")
_SYMMETRIC = ("HS256", "HS384", "HS512")


class ActingUserConfigInvalid(EngineError):
    """The acting-user (JWT issuer) configuration is invalid."""

    code = "acting-user-config-invalid"


@dataclass(frozen=True, slots=True)
class ActingUser:
    """An end user a client acts for: id (``sub``) and roles."""

    id: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserTokenVerifier:
    """Verifies ``Acting-User`` JWTs from one issuer (PyJWT)."""

    issuer: str
    audience: str
    key: Any  # a PEM public key (text) for RS/ES/PS/EdDSA, the shared secret for HS*
    algorithms: tuple[str, ...] = ("RS256",)
    roles_claim: str = "roles"
    leeway_seconds: float = 30.0

    def verify(self, token: str) -> ActingUser:
        """The user the token names. Raises jwt.InvalidTokenError, ValueError."""
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError("the token is too long")
        claims = jwt.decode(
            token,
            self.key,
            algorithms=list(self.algorithms),
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway_seconds,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
        sub = claims.get("sub")
        roles = claims.get(self.roles_claim, [])
        if not isinstance(sub, str) or not 0 < len(sub) <= MAX_ID_CHARS:
            raise ValueError("sub must be a string of 1 to 200 characters")
        if not (isinstance(roles, list) and all(isinstance(r, str) and r for r in roles)):
            raise ValueError(f"{self.roles_claim} must be a list of role names")
        return ActingUser(sub, tuple(dict.fromkeys(roles)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, env: Mapping[str, str]) -> UserTokenVerifier:
        """From the ``[acting_user]`` table: ``issuer``, ``audience``, ``algorithms``,
        ``roles_claim``, ``leeway_seconds`` and one key source: ``public_key_file`` (PEM)
        or ``secret_env`` (the name of an environment variable holding an HS* secret).

        Raises ActingUserConfigInvalid.
        """
        known = {"issuer", "audience", "algorithms", "roles_claim", "leeway_seconds",
                 "public_key_file", "secret_env"}  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise ActingUserConfigInvalid(f"acting_user: unknown setting {unknown[0]!r}")
        issuer, audience = data.get("issuer"), data.get("audience")
        if not (isinstance(issuer, str) and issuer and isinstance(audience, str) and audience):
            raise ActingUserConfigInvalid("acting_user: issuer and audience are required")
        algorithms = data.get("algorithms", ["RS256"])
        if not (isinstance(algorithms, list) and algorithms) or not all(
            a in _ASYMMETRIC + _SYMMETRIC for a in algorithms
        ):
            raise ActingUserConfigInvalid(
                f"acting_user.algorithms: a list of {', '.join(_ASYMMETRIC + _SYMMETRIC)}"
            )
        symmetric = [a in _SYMMETRIC for a in algorithms]
        if any(symmetric) and not all(symmetric):
            raise ActingUserConfigInvalid(
                "acting_user.algorithms: do not mix HS* with public-key algorithms"
            )
        key: Any
        if "public_key_file" in data and "secret_env" not in data and not any(symmetric):
            try:
                key = Path(str(data["public_key_file"])).read_text(encoding="utf-8")
            except OSError as exc:
                raise ActingUserConfigInvalid(
                    f"acting_user.public_key_file: cannot read it ({exc.strerror})"
                ) from None
        elif "secret_env" in data and "public_key_file" not in data and all(symmetric):
            secret = env.get(str(data["secret_env"]), "")
            if len(secret) < 32:
                raise ActingUserConfigInvalid(
                    f"acting_user.secret_env: {data['secret_env']} must hold a secret of at "
                    "least 32 characters"
                )
            key = secret
        else:
            raise ActingUserConfigInvalid(
                "acting_user: give public_key_file (RS/ES/PS/EdDSA) or secret_env (HS*)"
            )
        roles_claim = data.get("roles_claim", "roles")
        leeway = data.get("leeway_seconds", 30)
        if not isinstance(roles_claim, str) or not roles_claim:
            raise ActingUserConfigInvalid("acting_user.roles_claim: a claim name")
        if (
            not isinstance(leeway, int | float)
            or isinstance(leeway, bool)
            or not 0 <= leeway <= 300
        ):
            raise ActingUserConfigInvalid("acting_user.leeway_seconds: 0 to 300")
        return cls(issuer, audience, key, tuple(algorithms), roles_claim, float(leeway))


def acting_client(request: Request, client: Client, token: str | None) -> Client:
    """``client``, or the client acting as the user its ``Acting-User`` header (``token``)
    names."""
    if token is None:
        return client
    verifier: UserTokenVerifier | None = getattr(request.app.state, "acting_user", None)
    if not client.may("delegate") or verifier is None:
        why = "lacks the 'delegate' permission" if verifier else "cannot delegate: no issuer"
        raise ApiProblem(
            403,
            "delegation-not-allowed",
            f"client {client.name!r} {why} (header {HEADER})",
        )
    try:
        user = verifier.verify(token.strip())
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise ApiProblem(
            401,
            "acting-user-invalid",
            f"the {HEADER} token is not valid ({type(exc).__name__})",
            headers={"WWW-Authenticate": 'Bearer realm="casework", error="invalid_token"'},
        ) from None
    if ALL_ROLES in user.roles:
        raise ApiProblem(403, "role-not-delegable", "an end user cannot hold the role '*'")
    if ALL_ROLES not in client.roles:
        missing = [r for r in user.roles if r not in client.roles]
        if missing:
            raise ApiProblem(
                403,
                "role-not-delegable",
                f"client {client.name!r} is not granted the role(s) {', '.join(missing)}",
                extensions={"roles": missing},
            )
    request.state.actor = user.id
    return replace(
        client,
        actor=user.id,
        roles=user.roles,
        permissions=client.permissions - {"delegate"},
        via=client.actor,
    )
