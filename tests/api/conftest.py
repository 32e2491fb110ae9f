"""Helpers for the API tests: an unauthenticated client and direct row counts."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.stack import Stack


@pytest.fixture
def anon(stack: Stack) -> Iterator[httpx.Client]:
    """A client that sends no Authorization header."""
    client = httpx.Client(base_url=stack.api_url, timeout=30)
    yield client
    client.close()


def count(stack: Stack, table: str, **where: str) -> int:
    """Rows of `table` matching the equality filters, read straight from the database."""
    clause = " AND ".join(f"{column} = :{column}" for column in where) or "1 = 1"
    rows = stack.sql(f"SELECT COUNT(*) FROM {table} WHERE {clause}", **where)
    return int(rows[0][0])


def create_conversation(client: httpx.Client, **body: object) -> dict[str, object]:
    response = client.post("/v1/conversations", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result
