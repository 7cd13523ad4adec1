"""Business-key filters of a case search: ``key.NAME=VALUE`` query parameters."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from engine.api.problems import ApiProblem

KEY_PREFIX = "key."
MAX_KEYS = 16
MAX_KEY_VALUE = 500


def search_keys_of(query: QueryParams) -> dict[str, str]:
    """The ``key.NAME=VALUE`` parameters of a case search. Raises ApiProblem 400."""
    keys: dict[str, str] = {}
    for name, value in query.multi_items():
        if not name.startswith(KEY_PREFIX):
            continue
        key = name[len(KEY_PREFIX) :]
        if key in keys:
            raise ApiProblem(400, "invalid-key-filter", f"key.{key[:64]} is given twice")
        if not key or len(key) > 64 or len(value) > MAX_KEY_VALUE:
            raise ApiProblem(
                400,
                "invalid-key-filter",
                f"a key filter is key.NAME=VALUE, NAME up to 64 and VALUE up to "
                f"{MAX_KEY_VALUE} characters",
            )
        keys[key] = value
    if len(keys) > MAX_KEYS:
        raise ApiProblem(400, "invalid-key-filter", f"at most {MAX_KEYS} key filters")
    return keys
