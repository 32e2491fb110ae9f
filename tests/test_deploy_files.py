"""docker-compose.yml and the Dockerfile stay in step with the Procfile and docs/api.md, and the
Grafana dashboard in deploy/ queries only metrics Parley exports.

Docker is not run here: the files are parsed and checked against the Procfile (the source of
truth for process commands), docs/api.md section 1 and shared/config.py (for variables). Only
files of this repository are read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from shared.config import Settings
from tests.prometheus import promql_metric_names, series_names
from tests.stack import ROOT

# The Procfile holds the long-running processes, so `honcho start` runs it as written; the
# one-off release step runs before them (a Procfile entry that exits would stop the others).
PROCESSES = ("web", "worker", "beat", "flower")
RELEASE = "parley release"
APP_SERVICES = ("release", *PROCESSES)
SERVICES = {"postgres", "redis", *APP_SERVICES}
API_REFERENCE = ROOT / "docs" / "api.md"
# `${NAME}`, `${NAME:-default}`, `${NAME:?error}` or `$NAME`, once `$$` escapes are removed.
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def normalise(command: str) -> str:
    return " ".join(command.split())


def reference_section_1() -> str:
    text = API_REFERENCE.read_text()
    return text[text.index("## 1.") : text.index("## 2.")]


def documented_variables() -> set[str]:
    """Variables named in docs/api.md section 1 (both tables) or read by shared/config.py."""
    names = set(re.findall(r"`\$?([A-Z][A-Z0-9_]*)`", reference_section_1()))
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in field.validation_alias.choices)
    return names


def container_script(service: str) -> str:
    """The shell script an app service runs: `bash -c SCRIPT`, with Compose's `$$` unescaped."""
    command = services()[service]["command"]
    assert isinstance(command, list) and command[:2] == ["bash", "-c"] and len(command) == 3, (
        f"{service}: command must be ['bash', '-c', <Procfile command>], got {command!r}"
    )
    script: str = command[2]
    # Every `$` is escaped, so the container's shell (as under honcho) expands the variables.
    assert "$" not in script.replace("$$", ""), f"{service}: unescaped $ in {script!r}"
    return script.replace("$$", "$")


def test_compose_file_has_exactly_the_services() -> None:
    assert set(services()) == SERVICES
    assert set(procfile()) == set(PROCESSES)


def test_backing_services_are_postgres_16_and_redis_7() -> None:
    assert services()["postgres"]["image"].split(":")[1].split(".")[0] == "16"
    assert services()["redis"]["image"].split(":")[1].split(".")[0] == "7"


def test_app_services_share_one_image_built_here() -> None:
    builds = {str(services()[name].get("build")) for name in APP_SERVICES}
    images = {services()[name].get("image") for name in APP_SERVICES}
    assert builds == {"."} and len(images) == 1


@pytest.mark.parametrize("service", PROCESSES)
def test_app_service_runs_the_procfile_command(service: str) -> None:
    assert normalise(container_script(service)) == normalise(procfile()[service])


def test_release_runs_the_documented_release_step() -> None:
    assert normalise(container_script("release")) == RELEASE
    assert f"{RELEASE} && honcho start" in (ROOT / "Procfile").read_text()


def test_processes_start_after_the_release_migrations() -> None:
    release = services()["release"]
    assert release["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert release["restart"] == "no"
    for name in ("web", "worker", "beat"):
        depends = services()[name]["depends_on"]
        assert depends["release"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


@pytest.mark.parametrize("service", sorted(SERVICES - {"release"}))
def test_long_running_services_have_healthchecks(service: str) -> None:
    check = services()[service]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1


def test_app_environment_follows_the_reference() -> None:
    for name in APP_SERVICES:
        env = services()[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        assert env["REDIS_URL"].startswith("redis://"), name
        assert env["PARLEY_ENV"] == "${PARLEY_ENV:-production}", name
        # Production refuses to start without a real secret, so Compose has no default.
        assert env["JWT_SECRET"].startswith("${JWT_SECRET:?"), name
        for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
            # Passed through only when set: an empty key would not mean "offline".
            assert key in env and env[key] is None, (name, key)
    assert "FLOWER_BASIC_AUTH" in services()["flower"]["environment"]


def strings(node: Any) -> list[str]:
    """Every string value in a parsed YAML document (what Compose interpolates)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in strings(key) + strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def test_every_compose_variable_is_documented() -> None:
    documented = documented_variables()
    interpolated = {
        name for value in strings(compose()) for name in VARIABLE.findall(value.replace("$$", ""))
    }
    assert interpolated, "expected ${VAR} interpolations (JWT_SECRET at least)"
    assert interpolated <= documented, interpolated - documented


@pytest.mark.parametrize("service", APP_SERVICES)
def test_container_variables_are_documented_or_set(service: str) -> None:
    """What a process reads is a Parley setting, a documented variable or set by the service."""
    documented = documented_variables()
    env = services()[service]["environment"]
    used_by_command = set(VARIABLE.findall(container_script(service)))
    assert used_by_command <= documented | set(env), used_by_command - documented - set(env)
    assert set(env) <= documented | used_by_command, set(env) - documented - used_by_command


def test_dockerfile_builds_one_image_with_pip_install() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert re.search(r"^RUN pip install \.(\s|$)", dockerfile, re.M)
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.M), "run as a non-root user"
    ignored = set(Path(ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".env", ".git", "var"} <= ignored  # no local state or secrets in the image


def test_flower_is_published_on_loopback_only() -> None:
    """Flower shows task arguments and can revoke tasks (CVE-2022-30034): never on 0.0.0.0."""
    ports = services()["flower"]["ports"]
    assert ports and all(str(p).startswith("127.0.0.1:") for p in ports)


DASHBOARD = ROOT / "deploy" / "grafana" / "parley.json"


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL expr) of every query of the Grafana dashboard, rows included."""
    data = json.loads(DASHBOARD.read_text())
    found: list[tuple[str, str]] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            found.extend((panel["title"], t["expr"]) for t in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(data["panels"])
    return found


def exported_by_parley() -> set[str]:
    """Every series the API's and a worker's registries export, read from the registries the
    processes serve (the API's Metrics, and the worker's default registry of worker.metrics)."""
    from prometheus_client import REGISTRY

    from api.metrics import Metrics
    from worker import metrics as _worker_metrics  # noqa: F401  (registers the worker's)

    return series_names([*Metrics().registry.collect(), *REGISTRY.collect()])


def test_every_dashboard_query_names_an_exported_metric() -> None:
    exported = exported_by_parley()
    queries = dashboard_queries()
    assert len(queries) >= 20
    used: set[str] = set()
    for title, expr in queries:
        names = promql_metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= exported, f"{title}: {sorted(names - exported)} not exported"
        used |= names
    # The operators' figures of issue 13 are all on it.
    for name in (
        "parley_queue_depth",
        "parley_worker_turns_in_flight",
        "parley_worker_turn_duration_seconds_bucket",
        "parley_worker_queue_wait_seconds_bucket",
        "parley_worker_model_calls_total",
        "parley_worker_model_tokens_total",
        "parley_worker_tool_calls_total",
        "parley_worker_webhook_deliveries_total",
        "parley_worker_lease_losses_total",
        "parley_worker_sweeper_runs_total",
    ):
        assert name in used, name


def test_the_query_parser_finds_metric_names_only() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(parley_x_bucket{status=~"5.."}'
        "[$__rate_interval] offset 5m))) / on (instance) group_left up and parley_y"
    )
    assert promql_metric_names(expr) == {"parley_x_bucket", "up", "parley_y"}
