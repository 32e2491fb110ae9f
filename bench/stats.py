"""Percentiles and summaries of measured durations, so every figure is computed one way."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linearly interpolated between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """p50 and p99 of a sample (seconds), with its size."""

    n: int
    p50: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(len(values), percentile(values, 50), percentile(values, 99))


def ratio(value: float, baseline: float) -> float:
    """value / baseline; NaN when the baseline is missing or zero."""
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return math.nan
    return value / baseline
