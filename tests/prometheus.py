"""Reading Prometheus metrics in tests: scrape a real endpoint, name what it exports, and read
the metric names a PromQL query uses."""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

# The series names each family type exports (prometheus-client's text format).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "gauge": ("",),
    "untyped": ("",),
    "unknown": ("",),
    "stateset": ("",),
}


def scrape(url: str, **kwargs: object) -> tuple[list[Metric], Samples]:
    """The families and samples an endpoint serves right now (fails unless it answers 200)."""
    response = httpx.get(url, timeout=10, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    families = list(text_string_to_metric_families(response.text))
    samples: Samples = {}
    for family in families:
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value, 0 when the series does not exist (yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def series_names(families: Iterable[Metric]) -> set[str]:
    """Every series name the families export, including those with no sample yet (a labelled
    counter nobody incremented is still declared by its `# TYPE` line)."""
    names: set[str] = set()
    for family in families:
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
        names.update(sample.name for sample in family.samples)
    return names


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_VARIABLES = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
_KEYWORDS = {
    *("and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on"),
    *("ignoring", "group_left", "group_right"),
}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, aggregations, labels, grouping
    clauses, ranges and Grafana variables left out)."""
    stripped = _VARIABLES.sub(" ", expr)
    for pattern in (_STRINGS, _MATCHERS, _RANGES, _GROUPING):
        stripped = pattern.sub(" ", stripped)
    names = set()
    for match in _IDENTIFIER.finditer(stripped):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names
