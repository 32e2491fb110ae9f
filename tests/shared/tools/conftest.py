"""The tools' tests run on each tier's database (SQLite file, PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.conftest import TIERS


@pytest.fixture(params=TIERS)
def tier(request: pytest.FixtureRequest) -> str:
    return str(request.param)
