"""MCP_SERVERS_FILE: the operator's list of external MCP servers, validated once at start-up.

Users name these servers in their agents; they can never point the worker at a URL or a command
of their own. A file that does not parse or validate stops the process with a clear error.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

# Model-facing tool names are `<server>__<tool>` and must match OpenAI's ^[A-Za-z0-9_-]{1,64}$:
# a server name has no `__` (nor ends in `_`), so the first `__` always splits the two.
SERVER_NAME_PATTERN = r"^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$"
SEPARATOR = "__"
TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class _Server(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=SERVER_NAME_PATTERN, max_length=32)
    timeout_seconds: float = Field(30, gt=0, le=600)
    allowed_tools: tuple[str, ...] | None = Field(
        None, description="Only these tools of the server reach any agent; unset: all."
    )


def _expand(values: dict[str, str]) -> dict[str, str]:
    """`${NAME}` in a value is the environment variable NAME: secrets stay in the environment."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]

    return {key: _ENV_REF.sub(one, value) for key, value in values.items()}


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class HttpServer(_Server):
    """A server reached over MCP streamable HTTP."""

    transport: Literal["streamable_http"]
    url: str = Field(pattern=r"^https?://\S+$", max_length=2048)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _expand_headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _expand(value)


class StdioServer(_Server):
    """A server the worker starts as a subprocess and talks to over stdin/stdout."""

    transport: Literal["stdio"]
    command: str = Field(min_length=1)
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _expand_env(cls, value: dict[str, str]) -> dict[str, str]:
        return _expand(value)


ServerConfig = Annotated[HttpServer | StdioServer, Field(discriminator="transport")]


class ServersFile(BaseModel):
    """The file: `{"servers": [...]}` (or a bare list)."""

    model_config = ConfigDict(extra="forbid")

    servers: tuple[ServerConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> ServersFile:
        names = [s.name for s in self.servers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"server names must be unique: {', '.join(duplicates)}")
        return self

    def by_name(self) -> dict[str, HttpServer | StdioServer]:
        return {s.name: s for s in self.servers}


class ServersFileError(RuntimeError):
    """MCP_SERVERS_FILE cannot be read or is invalid; the message says where and why."""


_adapter = TypeAdapter(ServersFile)


def load_servers(path: str | None) -> ServersFile:
    """The servers of MCP_SERVERS_FILE (none when unset); ServersFileError if it is invalid."""
    if not path:
        return ServersFile()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ServersFileError(f"MCP_SERVERS_FILE={path}: cannot read it ({exc})") from None
    try:
        raw = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ServersFileError(f"MCP_SERVERS_FILE={path}: not valid JSON/YAML ({exc})") from None
    if isinstance(raw, list):
        raw = {"servers": raw}
    try:
        return _adapter.validate_python(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise ServersFileError(f"MCP_SERVERS_FILE={path} is invalid: {problems}") from None


@lru_cache(maxsize=4)
def configured_servers(path: str | None) -> ServersFile:
    """`load_servers`, read once per process and path."""
    return load_servers(path)


def tool_name(server: str, tool: str) -> str:
    """The name the model sees for a server's tool."""
    return f"{server}{SEPARATOR}{tool}"
