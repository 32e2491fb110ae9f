"""External identity providers (JWKS), HTTP Basic on /metrics, closed registration, no docs:
a stack configured like a production deployment that signs people in elsewhere."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakellm import FakeLLM
from tests.api.jwks_server import JwksServer, SigningKey
from tests.api.signin import bearer
from tests.conftest import running_stack
from tests.stack import Stack, make_token

ISSUER = "https://auth.example.test"
AUDIENCE = "https://auth.example.test"
REFETCH_SECONDS = 3
METRICS_AUTH = ("prometheus-scraper", "a-long-scrape-password-0123456789")


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    server = JwksServer().start()
    server.keys = [
        SigningKey("rsa-1", "RS256"),
        SigningKey("ed-1", "EdDSA"),
        SigningKey("ec-1", "ES256"),
    ]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def operated(
    request: pytest.FixtureRequest,
    stack: Stack,
    llm: FakeLLM,
    jwks: JwksServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp(f"operated-{stack.tier}")
    env = {
        "JWT_JWKS_URL": jwks.url,
        "JWT_ISSUER": ISSUER,
        "JWT_AUDIENCE": AUDIENCE,
        "JWT_JWKS_REFETCH_SECONDS": str(REFETCH_SECONDS),
        "METRICS_BASIC_AUTH": ":".join(METRICS_AUTH),
        "AUTH_REGISTRATION": "closed",
        "DOCS_ENABLED": "false",
        "PARLEY_DEV_LOGIN": "false",
    }
    with running_stack(request, stack.tier, workdir, llm, extra_env=env) as s:
        yield s


def _me(stack: Stack, token: str) -> httpx.Response:
    with bearer(stack, token) as client:
        return client.get("/v1/me")


def test_provider_tokens_of_every_algorithm_are_accepted(operated: Stack, jwks: JwksServer) -> None:
    for key in jwks.keys:
        token = key.token(f"ext-{key.kid}", iss=ISSUER, aud=AUDIENCE)
        response = _me(operated, token)
        assert response.status_code == 200, (key.algorithm, response.text)
        assert response.json() == {
            "id": f"ext-{key.kid}",
            "username": None,
            "auth": "jwt",
            "scopes": None,
        }
    with bearer(operated, jwks.keys[1].token("ext-worker", iss=ISSUER, aud=AUDIENCE)) as client:
        assert client.post("/v1/tasks", json={"title": "from Better Auth"}).status_code == 201
    # HS256 with JWT_SECRET keeps working beside the provider.
    assert _me(operated, make_token("hs-user")).json()["id"] == "hs-user"


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://evil.example", "aud": AUDIENCE},
        {"iss": ISSUER, "aud": "someone-else"},
        {"iss": ISSUER},
        {"iss": ISSUER, "aud": AUDIENCE, "ttl": -30},
    ],
)
def test_provider_tokens_with_the_wrong_claims_are_refused(
    operated: Stack, jwks: JwksServer, claims: dict[str, object]
) -> None:
    token = jwks.keys[0].token("ext-user", **claims)  # type: ignore[arg-type]
    response = _me(operated, token)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(
    operated: Stack, jwks: JwksServer
) -> None:
    impostor = SigningKey("rsa-1", "RS256")
    assert _me(operated, impostor.token("ext-user", iss=ISSUER, aud=AUDIENCE)).status_code == 401


def test_rotated_keys_are_fetched_by_kid_at_most_once_per_interval(
    operated: Stack, jwks: JwksServer
) -> None:
    assert _me(operated, jwks.keys[0].token("warm", iss=ISSUER, aud=AUDIENCE)).status_code == 200
    time.sleep(REFETCH_SECONDS + 0.5)
    fetched = jwks.fetches
    rotated = SigningKey("rsa-2", "RS256")
    jwks.keys.append(rotated)
    assert _me(operated, rotated.token("rotated", iss=ISSUER, aud=AUDIENCE)).status_code == 200
    assert jwks.fetches == fetched + 1
    # Made-up key ids cannot make Parley hammer the provider.
    for n in range(5):
        ghost = jwks.keys[0].token("ghost", kid=f"ghost-{n}", iss=ISSUER, aud=AUDIENCE)
        assert _me(operated, ghost).status_code == 401
    assert jwks.fetches == fetched + 1


def test_metrics_need_http_basic(operated: Stack) -> None:
    url = f"{operated.api_url}/metrics"
    missing = httpx.get(url)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(url, auth=(METRICS_AUTH[0], "wrong")).status_code == 401
    assert httpx.get(url, auth=("someone", METRICS_AUTH[1])).status_code == 401
    ok = httpx.get(url, auth=METRICS_AUTH)
    assert ok.status_code == 200 and "parley_runs" in ok.text


def test_registration_closed_docs_off_and_no_dev_token(operated: Stack) -> None:
    with httpx.Client(base_url=operated.api_url) as anon:
        closed = anon.post("/v1/auth/register", json={"username": "newcomer", "password": "x" * 12})
        assert closed.status_code == 403 and "closed" in closed.json()["detail"]
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert anon.get(path).status_code == 404, path
        assert anon.post("/v1/dev/token").status_code == 404


def test_production_closes_metrics_without_basic_auth_and_refuses_placeholders(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from shared.config import Settings
    from tests.stack import TEST_SECRET

    common = {"parley_env": "production", "jwt_secret": TEST_SECRET, "redis_url": None}
    for placeholder in ("admin:admin", "metrics:password", ":secret-0123456789"):
        with pytest.raises(ValueError, match="METRICS_BASIC_AUTH"):
            Settings(metrics_basic_auth=placeholder, **common)  # type: ignore[arg-type]
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}", **common)  # type: ignore[arg-type]
    assert not settings.registration_open
    with TestClient(create_app(settings)) as client:
        closed = client.get("/metrics")
        assert closed.status_code == 403 and "METRICS_BASIC_AUTH" in closed.json()["detail"]
