"""The chat page and the development sign-in, in process, in development and in production."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from shared.config import Settings
from tests.stack import TEST_SECRET


@pytest.fixture(params=["development", "production"])
def app_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'page.db'}",
        parley_env=request.param,
        parley_dev_login=request.param == "development",
        jwt_secret=TEST_SECRET,
        redis_url=None,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_page_is_served_with_a_strict_csp(app_client: TestClient) -> None:
    development = app_client.app.state.settings.parley_env == "development"  # type: ignore[attr-defined]
    page = app_client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert f'data-demo="{"true" if development else "false"}"' in page.text
    assert "<script>" not in page.text and "style=" not in page.text
    for asset, kind in (("app.js", "javascript"), ("app.css", "text/css"), ("icon.svg", "svg")):
        response = app_client.get(f"/static/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        assert "content-security-policy" in response.headers
    assert app_client.get("/static/../api/main.py").status_code == 404


def test_the_demo_token_exists_only_in_development(app_client: TestClient) -> None:
    development = app_client.app.state.settings.parley_env == "development"  # type: ignore[attr-defined]
    response = app_client.post("/v1/dev/token")
    if not development:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "demo" and body["token_type"] == "bearer"
    claims = jwt.decode(body["token"], TEST_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "demo" and claims["exp"] > claims["iat"]
    named = app_client.post("/v1/dev/token", json={"user_id": "alice"})
    assert named.status_code == 200 and named.json()["user_id"] == "alice"
    for bad in ({"user_id": ""}, {"user_id": "a b"}, {"user_id": "x" * 65}, {"other": 1}):
        assert app_client.post("/v1/dev/token", json=bad).status_code == 422


def test_the_demo_token_needs_parley_dev_login(tmp_path: Path) -> None:
    """Leaving PARLEY_ENV unset (the Procfile does) must not hand out tokens to anyone."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'off.db'}",
        jwt_secret=TEST_SECRET,
        redis_url=None,
    )
    assert settings.parley_env == "development" and not settings.dev_login
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/dev/token").status_code == 404
        assert 'data-demo="false"' in client.get("/").text


def test_dev_login_is_refused_in_production_and_loud_in_development(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="PARLEY_DEV_LOGIN"):
        Settings(
            parley_env="production",
            parley_dev_login=True,
            jwt_secret=TEST_SECRET,
        )
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'on.db'}",
        parley_dev_login=True,
        jwt_secret=TEST_SECRET,
        redis_url=None,
    )
    with caplog.at_level("WARNING"), TestClient(create_app(settings)) as client:
        assert client.post("/v1/dev/token").headers["cache-control"] == "no-store"
    assert any(
        "PARLEY_DEV_LOGIN is on" in r.getMessage() and r.levelname == "WARNING"
        for r in caplog.records
    )
