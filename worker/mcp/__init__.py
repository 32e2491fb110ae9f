"""External MCP servers from the worker's side: one session per server per process."""
