"""MCP tool servers the agent can call."""
