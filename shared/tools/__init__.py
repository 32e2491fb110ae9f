"""Parley's own MCP tool servers: the worker's agent and external MCP clients (/mcp) share them."""
