"""HTTP hygiene: response headers and authentication before the body."""

from __future__ import annotations

import pytest

from .test_http_api import RECORD, _open

SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
BOUND = 30.0  # seconds a test waits for the server to close a connection


def _assert_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.request.url, name)


def test_every_response_carries_no_store_nosniff_and_no_referrer(api):
    case_id = _open(api).json()["id"]
    responses = [
        api.http.get("/health"),
        api.http.get("/openapi.json"),
        api.http.get(f"/v1/cases/{case_id}", headers=api.as_("cm")),
        api.http.get("/v1/cases", headers=api.as_("cm")),
        api.http.get(f"/v1/cases/{case_id}"),  # 401
        api.http.get("/v1/nope", headers=api.as_("cm")),  # 404
        api.http.post(  # 413, from the body limit
            "/v1/cases",
            json={"workflow": "brokerage", "record": {**RECORD, "program": "x" * 100_000}},
            headers=api.as_("cm"),
        ),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 401, 404, 413]
    for r in responses:
        _assert_security_headers(r)


def test_unexpected_500_carries_the_security_headers(api, monkeypatch):
    def boom(case_id):
        raise RuntimeError("boom")

    monkeypatch.setattr(api.engine, "get", boom)
    r = api.http.get("/v1/cases/x", headers=api.as_("cm"))
    assert r.status_code == 500
    _assert_security_headers(r)


@pytest.mark.parametrize(
    "body",
    [
        b'{"workflow": "brokerage", "record": {',  # malformed
        b'{"workflow": "brokerage", "record": {"x": ' + b"[" * 100 + b"]" * 100 + b"}}",  # deep
        b'{"workflow": 7}',  # schema-invalid
        b'{"workflow": "brokerage", "record": {"program": "' + b"x" * 100_000 + b'"}}',  # big
    ],
    ids=["malformed", "too-deep", "invalid", "too-big"],
)
def test_unauthenticated_requests_get_401_before_any_body_error(api, body):
    headers = {"Content-Type": "application/json"}
    r = api.http.post("/v1/cases", content=body, headers=headers)
    assert r.status_code == 401, r.text
    r = api.http.post("/v1/cases", content=body, headers={**headers, "Authorization": "Bearer x"})
    assert r.status_code == 401, r.text
    # a client without the permission is refused before its body is looked at, too
    r = api.http.post("/v1/cases", content=body, headers={**headers, **api.as_("reader")})
    assert r.status_code == 403, r.text


def test_authenticated_body_errors_are_unchanged(api):
    headers = {"Content-Type": "application/json", **api.as_("cm")}
    r = api.http.post("/v1/cases", content=b'{"workflow": ', headers=headers)
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[-1]) == (400, "malformed-json")
    deep = b'{"workflow": "brokerage", "record": {"x": ' + b"[" * 100 + b"]" * 100 + b"}}"
    r = api.http.post("/v1/cases", content=deep, headers=headers)
    assert (r.status_code, r.json()["type"].rsplit("/", 1)[-1]) == (400, "json-too-deep")
