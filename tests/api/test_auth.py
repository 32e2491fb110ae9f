"""Bearer authentication (docs/api.md section 2): anything short of a valid HS256 token is a 401."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from tests.api.conftest import count
from tests.stack import TEST_SECRET, Api, Stack, make_token


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _exp(seconds: float = 3600) -> int:
    return int((dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).timestamp())


def _unsigned(user: str) -> str:
    """An `alg: none` token: a header and claims with an empty signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': user, 'exp': _exp()})}."


def _signed(claims: dict[str, Any], *, secret: str = TEST_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


NUL_SUB = "a\x00b"  # PostgreSQL cannot compare text with NUL: must be a 401, not a 500

# Each maps a user id to the Authorization header to send (None: no header at all).
BAD_AUTH: dict[str, Callable[[str], str | None]] = {
    "missing": lambda user: None,
    "malformed": lambda user: "Bearer not-a-jwt",
    "three-garbage-parts": lambda user: "Bearer aaa.bbb.ccc",
    "bare-scheme": lambda user: "Bearer",
    "basic-scheme": lambda user: "Basic dXNlcjpwYXNzd29yZA==",
    "token-without-scheme": lambda user: make_token(user),
    "expired": lambda user: f"Bearer {make_token(user, ttl=-60)}",
    "wrong-secret": lambda user: f"Bearer {make_token(user, secret='not-the-secret-' * 3)}",
    "alg-none": lambda user: f"Bearer {_unsigned(user)}",
    "alg-hs512": lambda user: f"Bearer {_signed({'sub': user, 'exp': _exp()}, alg='HS512')}",
    "missing-exp": lambda user: f"Bearer {_signed({'sub': user})}",
    "missing-sub": lambda user: f"Bearer {_signed({'exp': _exp()})}",
    "empty-sub": lambda user: f"Bearer {_signed({'sub': '', 'exp': _exp()})}",
    "numeric-sub": lambda user: f"Bearer {_signed({'sub': 42, 'exp': _exp()})}",
    "nul-in-sub": lambda user: f"Bearer {_signed({'sub': NUL_SUB, 'exp': _exp()})}",
    "sub-too-long": lambda user: f"Bearer {_signed({'sub': 'u' * 256, 'exp': _exp()})}",
}

# One route of every family; the POST bodies are valid, so only the token can be at fault.
ROUTES = [
    ("GET", "/v1/conversations", None),
    ("POST", "/v1/conversations", {"title": "x"}),
    ("GET", "/v1/runs", None),
    ("POST", "/v1/runs", {"message": "Add a task to buy milk"}),
    ("GET", "/v1/runs/run_0000000000000000000000000000", None),
    ("GET", "/v1/tasks", None),
    ("POST", "/v1/tasks", {"title": "x"}),
    ("POST", "/api/{user}/chat", {"message": "hello"}),
]


# Signing HS512 with the (HS256-sized) test secret warns; the token must be refused anyway.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("kind", sorted(BAD_AUTH))
def test_bad_tokens_get_401_with_bearer_challenge_on_every_family(
    stack: Stack, anon: httpx.Client, kind: str
) -> None:
    user = f"user-{uuid.uuid4().hex[:10]}"
    header = BAD_AUTH[kind](user)
    headers = {} if header is None else {"Authorization": header}
    for method, path, body in ROUTES:
        url = path.format(user=user)
        response = anon.request(method, url, json=body, headers=headers)
        assert response.status_code == 401, (kind, method, url, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer", (kind, url)
        assert isinstance(response.json()["detail"], str)
    for table in ("conversations", "runs", "tasks"):
        assert count(stack, table, user_id=user) == 0, (kind, table)


def test_valid_token_is_accepted_whatever_the_scheme_case(stack: Stack, anon: httpx.Client) -> None:
    token = make_token("case-user")
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = anon.get("/v1/conversations", headers={"Authorization": f"{scheme} {token}"})
        assert response.status_code == 200, (scheme, response.text)


def test_token_may_carry_other_claims_and_any_string_sub(api: Api, anon: httpx.Client) -> None:
    user = "ünïcode user/with spaces@example.com"
    token = _signed({"sub": user, "exp": _exp(), "iat": _exp(-5), "role": "admin"})
    response = anon.post(
        "/v1/tasks", json={"title": "mine"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    # A role claim grants nothing: another user still cannot see the task.
    assert api.get(f"/v1/tasks/{response.json()['id']}").status_code == 404


def test_health_probes_and_metrics_need_no_token(anon: httpx.Client) -> None:
    assert anon.get("/healthz").status_code == 200
    assert anon.get("/readyz").status_code == 200
    assert anon.get("/metrics").status_code == 200
