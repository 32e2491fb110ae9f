"""Tool-argument mistakes as one plain sentence for the model (never pydantic's report).

The MCP SDK reports arguments that fail the input schema as pydantic's multi-line text with
errors.pydantic.dev links and the rejected values; that text reached the model and, through
the tool call's result, the end user. The model needs what to fix, in a sentence.
"""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from pydantic import ValidationError

MAX_PROBLEMS = 5


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if not str(part).endswith("Arguments")]
    return ".".join(parts) or "the arguments"


def _problem(error: Any) -> str:
    name = f"`{_field(tuple(error.get('loc', ())))}`"
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return f"{name} is required"
    if kind == "extra_forbidden":
        return f"{name} is not a parameter of this tool"
    if kind.startswith("int_"):
        return f"{name} must be an integer"
    if kind.startswith(("string_type", "str_")):
        return f"{name} must be a string"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    if kind == "string_too_long":
        return f"{name} must be at most {ctx.get('max_length', 'the allowed')} characters"
    if kind == "literal_error":
        return f"{name} must be one of {ctx.get('expected', 'the allowed values')}"
    if kind.startswith("bool_"):
        return f"{name} must be true or false"
    return f"{name} has an invalid value"


def plain_sentence(tool: str, exc: ValidationError) -> str:
    """E.g. "Error: add_task was called with invalid arguments: `title` is required."."""
    problems = [_problem(error) for error in exc.errors()[:MAX_PROBLEMS]]
    return (
        f"Error: {tool} was called with invalid arguments: {'; '.join(problems)}. "
        "Call it again with corrected arguments."
    )


class PlainArgumentsServer(MCPServer):
    """An MCPServer whose argument-validation failures read as one plain sentence."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(plain_sentence(name, cause)) from cause
