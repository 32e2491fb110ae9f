"""The built-in todo domain the agent manages through MCP tools."""
