"""Password sign-in (issue 10): register, OAuth2 password flow, refresh rotation, logout, /v1/me,
throttled failures that look alike whether or not the user exists."""

from __future__ import annotations

import statistics
import time

import httpx

from tests.api.signin import PASSWORD, bearer, login, new_address, new_username, register
from tests.stack import Stack, make_token

FAILED = {"detail": "incorrect username or password"}


def test_register_sign_in_run_refresh_and_sign_out(stack: Stack, anon: httpx.Client) -> None:
    name = new_username()
    user = register(anon, name.upper())
    assert user["username"] == name and user["id"].startswith("usr_")
    assert (
        anon.post("/v1/auth/register", json={"username": name, "password": PASSWORD}).status_code
        == 409
    )

    response = login(anon, name)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 15 * 60
    with bearer(stack, tokens["access_token"]) as me:
        assert me.get("/v1/me").json() == {
            "id": user["id"],
            "username": name,
            "auth": "password",
            "scopes": None,
        }
        # A new user's data starts empty, then works like anyone's.
        assert me.get("/v1/conversations").json()["data"] == []
        assert me.get("/v1/tasks").json()["data"] == []
        run = me.post("/v1/runs", json={"message": "add a task to buy milk"})
        assert run.status_code == 202, run.text
        assert me.get(f"/v1/runs/{run.json()['id']}", params={"wait": 30}).json()["status"] == (
            "completed"
        )

    refreshed = anon.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.headers["cache-control"] == "no-store"
    second = refreshed.json()
    assert second["refresh_token"] != tokens["refresh_token"]
    with bearer(stack, second["access_token"]) as me:
        assert me.get("/v1/me").json()["id"] == user["id"]
        assert len(me.get("/v1/runs").json()["data"]) == 1

    assert (
        anon.post("/v1/auth/logout", json={"refresh_token": second["refresh_token"]}).status_code
        == 204
    )
    for old in (tokens["refresh_token"], second["refresh_token"]):
        refused = anon.post("/v1/auth/refresh", json={"refresh_token": old})
        assert refused.status_code == 401 and "refresh token" in refused.json()["detail"]


def test_a_reused_refresh_token_revokes_its_whole_family(anon: httpx.Client) -> None:
    name = new_username()
    register(anon, name)
    first = login(anon, name).json()["refresh_token"]
    second = anon.post("/v1/auth/refresh", json={"refresh_token": first}).json()["refresh_token"]
    # Someone replays the rotated token: refused, and the live one dies with it.
    assert anon.post("/v1/auth/refresh", json={"refresh_token": first}).status_code == 401
    assert anon.post("/v1/auth/refresh", json={"refresh_token": second}).status_code == 401
    # Another sign-in is a new family and works.
    third = login(anon, name).json()["refresh_token"]
    assert anon.post("/v1/auth/refresh", json={"refresh_token": third}).status_code == 200


def test_registered_and_token_users_are_the_same_kind_of_user(
    stack: Stack, anon: httpx.Client
) -> None:
    user = register(anon, new_username())
    with bearer(stack, make_token(user["id"])) as external:
        created = external.post("/v1/tasks", json={"title": "made with an HS256 token"})
        assert created.status_code == 201
        me = external.get("/v1/me").json()
        assert me["auth"] == "jwt" and me["id"] == user["id"] and me["username"] == user["username"]
    tokens = login(anon, user["username"]).json()
    with bearer(stack, tokens["access_token"]) as password_user:
        titles = [t["title"] for t in password_user.get("/v1/tasks").json()["data"]]
        assert titles == ["made with an HS256 token"]


def test_failed_logins_look_the_same_and_take_as_long(anon: httpx.Client) -> None:
    name = new_username()
    register(anon, name)
    wrong = login(anon, name, "not the password")
    unknown = login(anon, new_username(), "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == FAILED
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"

    def timed(username: str) -> float:
        started = time.perf_counter()
        assert login(anon, username, "still wrong").status_code == 401
        return time.perf_counter() - started

    # Interleaved, so machine load falls on both alike; an unknown user still pays for Argon2.
    wrong_times, unknown_times = [], []
    for _ in range(4):
        wrong_times.append(timed(name))
        unknown_times.append(timed(new_username()))
    assert statistics.median(unknown_times) > 0.5 * statistics.median(wrong_times)


def test_failed_logins_are_throttled_per_username(anon: httpx.Client) -> None:
    name = new_username()
    register(anon, name)
    for _ in range(5):
        assert login(anon, name, "wrong", address=new_address()).status_code == 401
    throttled = login(anon, name, address=new_address())  # even the right password, from anywhere
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 900
    other = new_username()
    register(anon, other)
    assert login(anon, other).status_code == 200


def test_failed_logins_are_throttled_per_client_address(anon: httpx.Client) -> None:
    address = new_address()
    for _ in range(20):
        assert login(anon, new_username(), "wrong", address=address).status_code == 401
    name = new_username()
    register(anon, name)
    assert login(anon, name, address=address).status_code == 429
    assert login(anon, name, address=new_address()).status_code == 200


def test_bad_sign_in_input_is_a_4xx(anon: httpx.Client) -> None:
    for body in (
        {"username": "ab", "password": PASSWORD},
        {"username": "has space", "password": PASSWORD},
        {"username": new_username(), "password": "short"},
        {"username": new_username(), "password": "x" * 257},
        {"username": "nul\u0000name", "password": PASSWORD},
    ):
        assert anon.post("/v1/auth/register", json=body).status_code == 422, body
    for fields in ({"username": "nul\u0000x", "password": "p"}, {"username": "", "password": ""}):
        response = anon.post("/v1/auth/token", data=fields)
        assert response.status_code in (401, 422), response.text
    assert anon.post("/v1/auth/token", json={"username": "a", "password": "b"}).status_code == 422
    assert anon.post("/v1/auth/refresh", json={"refresh_token": "prt_nope"}).status_code == 401
    assert anon.post("/v1/auth/logout", json={"refresh_token": "prt_nope"}).status_code == 204
    assert anon.get("/v1/me").status_code == 401


def test_swagger_authorize_offers_the_password_flow(anon: httpx.Client) -> None:
    spec = anon.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    password = schemes["OAuth2PasswordBearer"]["flows"]["password"]
    assert password["tokenUrl"] == "/v1/auth/token"
    assert schemes["HTTPBearer"] == {"type": "http", "scheme": "bearer"}
    security = spec["paths"]["/v1/runs"]["post"]["security"]
    assert {"OAuth2PasswordBearer": []} in security and {"HTTPBearer": []} in security
    token_form = spec["paths"]["/v1/auth/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in token_form
    # Swagger UI posts exactly this form; the token it gets back works as a bearer token.
    name = new_username()
    register(anon, name)
    swagger = anon.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": name, "password": PASSWORD, "scope": ""},
        headers={"X-Forwarded-For": new_address()},
    )
    assert swagger.status_code == 200
    me = anon.get("/v1/me", headers={"Authorization": f"Bearer {swagger.json()['access_token']}"})
    assert me.json()["username"] == name
