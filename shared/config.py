"""One typed settings object read from the environment (and .env), so every process agrees."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The development default is public: production refuses it (and anything this guessable).
DEV_JWT_SECRET = "parley-development-secret-do-not-use-in-production"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev-secret", DEV_JWT_SECRET}
MIN_PRODUCTION_SECRET_LENGTH = 32
PLACEHOLDER_PASSWORDS = {"admin", "password", "pass", "metrics", "prometheus", "12345678"}


class Settings(BaseSettings):
    """Parley's configuration; names and defaults follow docs/api.md section 1."""

    # An empty variable (OPENAI_API_KEY=) means unset, e.g. the offline model.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    database_url: str = Field(
        "sqlite:///./var/parley.db", description="SQLAlchemy URL of the main database."
    )
    redis_url: str | None = Field(
        None, description="Redis: broker and event bus. Unset means embedded mode."
    )
    celery_broker_url: str | None = Field(None, description="Overrides the broker URL only.")
    openai_api_key: SecretStr | None = Field(
        None, description="Key for the OpenAI-compatible endpoint; unset uses the offline model."
    )
    openai_base_url: str | None = Field(None, description="Any OpenAI-compatible endpoint.")
    openai_model: str = Field("gpt-4o-mini", description="Model name sent to the endpoint.")
    jwt_secret: SecretStr = Field(
        SecretStr(DEV_JWT_SECRET),
        validation_alias=AliasChoices("JWT_SECRET", "BETTER_AUTH_SECRET"),
        description="HS256 key for bearer tokens; must be real in production.",
    )
    webhook_allow_private: bool = Field(
        False, description="Allow webhook URLs resolving to private or loopback addresses."
    )
    parley_env: Literal["development", "production"] = Field(
        "development", description="development or production."
    )
    agent_max_steps: int = Field(8, ge=1, le=100, description="Model calls per turn at most.")
    run_timeout_seconds: float = Field(300, gt=0, description="Wall-clock limit of one run.")
    approval_timeout_seconds: float = Field(
        86400,
        gt=0,
        description="How long a run waits in requires_action before it fails (approval_expired).",
    )
    run_max_attempts: int = Field(
        3, ge=1, le=20, description="Worker attempts before a repeatedly lost run fails."
    )
    run_lease_seconds: float = Field(
        30, gt=0, description="How long a worker's claim on a run lasts without a heartbeat."
    )
    run_redispatch_seconds: float = Field(
        60, gt=0, description="Age after which the sweeper re-sends a queued run's message."
    )
    max_active_runs_per_user: int = Field(
        20,
        ge=0,
        description="A user's turns in progress at once; the rest wait, queued in order, and "
        "start as the user's earlier turns end. 0 disables the cap.",
    )
    llm_max_concurrency: int | None = Field(
        None,
        ge=1,
        description="Model calls in flight at once across all worker processes (Redis, or the "
        "database when embedded); unset: no limit.",
    )
    llm_requests_per_minute: float | None = Field(
        None,
        gt=0,
        description="Model calls per minute across all worker processes, spread evenly; "
        "unset: no limit. A 429's Retry-After pauses every process whatever this says.",
    )
    sweep_interval_seconds: float = Field(
        2,
        gt=0,
        description="How often beat runs the sweepers (with WORKER_DEAD_SECONDS, it bounds how "
        "long a dead worker's turns wait).",
    )
    rate_limit_runs_per_minute: int = Field(
        60, ge=0, description="Per-user submit limit; 0 disables it."
    )
    webhook_retry_schedule: str = Field(
        "5,300,1800,7200,18000,36000,36000", description="Seconds before each webhook retry."
    )
    webhook_timeout_seconds: float = Field(10, gt=0, description="Per webhook attempt.")
    event_retention_hours: float = Field(
        24, gt=0, description="How long a finished run's events stay replayable."
    )
    event_prune_interval_seconds: float = Field(
        600, gt=0, description="How often beat deletes events past their retention."
    )
    event_ping_seconds: float = Field(
        15, gt=0, le=300, description="Idle seconds before a `: ping` keeps an event stream open."
    )
    cors_allow_origins: str = Field("", description="Comma-separated browser origins allowed.")
    chatkit_js_url: str | None = Field(
        None,
        pattern=r"^https://[^/?#\s]+/\S*$|^http://(localhost|127\.0\.0\.1)(:\d+)?/\S*$",
        description=(
            "Where GET /chatkit loads ChatKit.js from (OpenAI serves it, e.g. "
            "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js); unset: the page "
            "explains how to configure it. https only (http for localhost)."
        ),
    )
    chatkit_domain_key: str = Field(
        "local-dev",
        max_length=200,
        description=(
            "The domain key ChatKit.js sends to verify the page's domain: register the domain "
            "in OpenAI's domain allowlist and put its key here (`local-dev` works on localhost)."
        ),
    )
    worker_concurrency: int = Field(
        200, ge=1, description="Celery threads per worker process: turns it claims at once."
    )
    worker_max_turns: int = Field(
        1000,
        ge=1,
        description="Turns one worker process runs at once on its loop (each claimed by a thread, "
        "then run without holding it).",
    )
    worker_shutdown_grace_seconds: float = Field(
        30, ge=0, description="Time in-flight turns get to finish after SIGTERM."
    )
    worker_heartbeat_seconds: float = Field(
        1, gt=0, description="How often each worker process writes its heartbeat row."
    )
    worker_dead_seconds: float = Field(
        5,
        gt=0,
        description="A worker process whose heartbeat is this old (and at least three "
        "heartbeats) is presumed dead: the sweeper hands its turns to other workers at once "
        "instead of waiting for their leases to lapse.",
    )
    worker_stale_seconds: float = Field(
        30,
        gt=0,
        description="/readyz reports `checks.workers.ok: false` when no worker heartbeat is "
        "this recent.",
    )
    ready_requires_worker: bool = Field(
        False, description="Whether /readyz also answers 503 while no worker is seen."
    )
    worker_processes: int | None = Field(
        None, ge=1, description="Worker processes `parley worker` runs; unset: one per core."
    )
    worker_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Prometheus port of a worker process; `parley worker` gives process N "
        "this port + N - 1. Unset: no metrics server.",
    )
    worker_metrics_address: str = Field(
        "127.0.0.1", description="Address the worker metrics server listens on."
    )
    db_pool_size: int = Field(
        5, ge=1, le=200, description="Database connections each process keeps open."
    )
    db_max_overflow: int = Field(
        10, ge=0, le=400, description="Extra connections a process may open under load."
    )
    broker_polling_interval: float = Field(
        0.05, gt=0, description="Embedded broker polling interval in seconds."
    )
    parley_dev_login: bool = Field(
        False,
        description="Serve POST /v1/dev/token (a token for any user, no password); "
        "`parley dev` sets it; refused in production.",
    )
    auth_registration: Literal["open", "closed"] | None = Field(
        None,
        description="Whether POST /v1/auth/register accepts new users "
        "(default: open in development, closed in production).",
    )
    access_token_minutes: int = Field(
        15, ge=1, le=1440, description="Lifetime of the password flow's access tokens."
    )
    refresh_token_days: int = Field(
        30, ge=1, le=365, description="Lifetime of the password flow's refresh tokens."
    )
    login_max_failures_per_username: int = Field(
        5, ge=1, description="Failed logins for one username within the window before 429."
    )
    login_max_failures_per_address: int = Field(
        20, ge=1, description="Failed logins from one client address within the window before 429."
    )
    login_failure_window_seconds: int = Field(
        900, ge=1, description="The window over which failed logins are counted."
    )
    jwt_jwks_url: str | None = Field(
        None, description="JWKS URL of an external identity provider (RS256/ES256/EdDSA tokens)."
    )
    jwt_issuer: str | None = Field(None, description="Required `iss` of JWKS-verified tokens.")
    jwt_audience: str | None = Field(None, description="Required `aud` of JWKS-verified tokens.")
    jwt_jwks_refetch_seconds: float = Field(
        60,
        ge=1,
        description="Least time between two JWKS fetches (a token with an unknown `kid` "
        "refetches the keys at most this often).",
    )
    metrics_basic_auth: SecretStr | None = Field(
        None,
        description="`user:password` guarding /metrics with HTTP Basic; "
        "without it /metrics is closed in production.",
    )
    docs_enabled: bool = Field(True, description="Serve /docs, /redoc and /openapi.json.")
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        pattern=r"^https?://\S+$",
        description="OTLP/HTTP collector base URL (traces go to its /v1/traces); set, the API "
        "and workers send OpenTelemetry traces; unset, tracing is off and costs nothing.",
    )
    otel_service_name: str | None = Field(
        None, description="service.name of this process's spans (default parley-api/-worker)."
    )
    mcp_servers_file: str | None = Field(
        None, description="YAML or JSON file of the external MCP servers agents may use."
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_scheme(cls, value: str) -> str:
        if value.startswith("postgres://"):
            return "postgresql://" + value.removeprefix("postgres://")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret_in_production(self) -> Settings:
        secret = self.jwt_secret.get_secret_value()
        if self.parley_env == "production" and (
            secret.lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_PRODUCTION_SECRET_LENGTH
        ):
            raise ValueError(
                f"JWT_SECRET must be set to a real secret ({MIN_PRODUCTION_SECRET_LENGTH}+ "
                "characters) in production"
            )
        if self.parley_env == "production" and self.parley_dev_login:
            raise ValueError("PARLEY_DEV_LOGIN mints tokens for anyone: never in production")
        if self.parley_env == "production" and self.metrics_basic_auth is not None:
            user, _, password = self.metrics_basic_auth.get_secret_value().partition(":")
            if not user or password.lower() in PLACEHOLDER_SECRETS | PLACEHOLDER_PASSWORDS:
                raise ValueError("METRICS_BASIC_AUTH must be user:password with a real password")
        if self.jwt_jwks_url is not None and not self.jwt_jwks_url.startswith(
            ("https://", "http://")
        ):
            raise ValueError("JWT_JWKS_URL must be an http(s) URL")
        return self

    @property
    def registration_open(self) -> bool:
        """AUTH_REGISTRATION, defaulting to open in development and closed in production."""
        if self.auth_registration is not None:
            return self.auth_registration == "open"
        return self.parley_env == "development"

    @property
    def dev_login(self) -> bool:
        """Whether POST /v1/dev/token exists (never in production, whatever the variable)."""
        return self.parley_dev_login and self.parley_env != "production"

    @property
    def embedded(self) -> bool:
        """Embedded mode: no Redis, the broker and events live in local SQL files."""
        return not self.redis_url

    @property
    def broker_url(self) -> str:
        """The Celery broker: explicit, else Redis, else a SQLite file beside the database."""
        if self.celery_broker_url:
            return self.celery_broker_url
        if self.redis_url:
            return self.redis_url
        return "sqla+sqlite:///" + str(_var_dir(self.database_url) / "broker.sqlite")

    @property
    def worker_dead_after(self) -> float:
        """Seconds without a heartbeat before a worker is presumed dead: never fewer than three
        heartbeats, so one late beat on a loaded machine does not hand a live worker's turns
        away."""
        return max(self.worker_dead_seconds, 3 * self.worker_heartbeat_seconds)

    @property
    def worker_process_count(self) -> int:
        """WORKER_PROCESSES, else the number of cores (os.cpu_count())."""
        return self.worker_processes or os.cpu_count() or 1

    @property
    def model_description(self) -> str:
        """The model in use, as operators see it in /readyz and logs."""
        if self.openai_api_key is None:
            return "offline-rules (built-in rule-based model, no LLM)"
        return self.openai_model

    @property
    def retry_schedule(self) -> list[float]:
        """Webhook retry delays in seconds."""
        return [float(part) for part in self.webhook_retry_schedule.split(",") if part.strip()]

    @property
    def cors_origins(self) -> list[str]:
        """Browser origins allowed by CORS."""
        return [o.strip() for o in self.cors_allow_origins.split(",") if o.strip()]

    @property
    def chatkit_js_origin(self) -> str | None:
        """The origin of CHATKIT_JS_URL: the one script source the /chatkit page allows."""
        if self.chatkit_js_url is None:
            return None
        scheme, rest = self.chatkit_js_url.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"


def _var_dir(database_url: str) -> Path:
    """Where embedded-mode files live: beside the SQLite database, else ./var."""
    if database_url.startswith("sqlite:///") and not database_url.endswith(":memory:"):
        return Path(database_url.removeprefix("sqlite:///")).resolve().parent
    return Path("var").resolve()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
