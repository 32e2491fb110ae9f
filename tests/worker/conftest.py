"""Worker fixtures: private stacks for tests that kill processes or need special settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from fakellm import FakeLLM
from tests.conftest import TIERS, build_stack, teardown_stack
from tests.stack import Stack

StackFactory = Callable[..., Stack]


@pytest.fixture(params=TIERS)
def tier(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def private_stack(
    request: pytest.FixtureRequest,
    tier: str,
    llm: FakeLLM,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StackFactory]:
    """Start a stack of its own on a fresh database of `tier` (Stack kwargs pass through)."""
    stacks: list[Stack] = []
    failed_before = request.session.testsfailed

    def start(**kwargs: object) -> Stack:
        workdir = tmp_path_factory.mktemp(f"private-{tier}")
        s = build_stack(tier, workdir, llm, **kwargs)
        stacks.append(s)
        s.start()
        return s

    yield start
    for s in stacks:
        teardown_stack(s, failed=request.session.testsfailed > failed_before)
